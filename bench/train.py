"""Native trainer throughput next to plain-torch references of the same size.

Three trainers of a speaker and a listener with PPO on the referential game (4
attributes x 4 values, 4 candidates, 2 symbols over 16), with the same number of
parallel games, rollout length, epochs, minibatches and network widths, in one
process, interleaved over rounds (best round reported):

* a one-shot game with flat MLPs: the game inlined as one tensor computation, each
  agent trained only on its own decision (the anchor of REFERENCES.md, ~50k/s);
* the same algorithm as the native trainer, written flat with no abstractions: the
  two-phase game, both agents acting every step, GAE, a candidate-scoring listener;
* the native trainer (``agents.native``) on ``referential_v0``.

The ratio to the second is the cost of the suite's abstractions (target >= 0.9); the
ratio to the first is the cost of playing the game as a two-phase env. Throughput
counts env steps as the env does (2 per game), so every row plays the same games.

    OMP_NUM_THREADS=1 python -m bench.train          # CPU, 1024 games
    python -m bench.train --device cuda --num-envs 262144

Prints a Markdown table with env-steps/s, memory (peak GPU memory on CUDA, else the
process's max RSS) and the ratios.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch
from torch import nn
from torch.distributions import Categorical

N_ATTR, N_VAL, N_CAND, LENGTH, VOCAB = 4, 4, 4, 2, 16
OBJ = N_ATTR * N_VAL


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(i, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, o)
    )


class Reference:
    """The plain-torch PPO loop (no env object, no channel object)."""

    def __init__(self, num_games: int, hidden: int, device: str, lr: float = 3e-3):
        torch.manual_seed(0)
        self.n, self.dev = num_games, torch.device(device)
        self.speaker = mlp(OBJ, hidden, LENGTH * VOCAB).to(self.dev)
        self.s_value = mlp(OBJ, hidden, 1).to(self.dev)
        listener_in = LENGTH * VOCAB + N_CAND * OBJ
        self.listener = mlp(listener_in, hidden, N_CAND).to(self.dev)
        self.l_value = mlp(listener_in, hidden, 1).to(self.dev)
        params = [
            p
            for m in (self.speaker, self.s_value, self.listener, self.l_value)
            for p in m.parameters()
        ]
        self.params = params
        self.opt = torch.optim.Adam(params, lr=lr, eps=1e-5)
        self.powers = N_VAL ** torch.arange(N_ATTR - 1, -1, -1, device=self.dev)

    def encode(self, ids):
        attrs = (ids.unsqueeze(-1) // self.powers) % N_VAL
        return nn.functional.one_hot(attrs, N_VAL).flatten(-2).float()

    def play(self, games: int):
        cand = torch.rand(games, N_VAL**N_ATTR, device=self.dev).argsort(1)[:, :N_CAND]
        target = torch.randint(0, N_CAND, (games,), device=self.dev)
        s_obs = self.encode(cand.gather(1, target[:, None]).squeeze(1))
        logits = self.speaker(s_obs).view(games, LENGTH, VOCAB)
        msg = Categorical(logits=logits).sample()
        l_obs = torch.cat(
            [
                nn.functional.one_hot(msg, VOCAB).flatten(1).float(),
                self.encode(cand).flatten(1),
            ],
            1,
        )
        choice = Categorical(logits=self.listener(l_obs)).sample()
        reward = (choice == target).float()
        with torch.no_grad():
            s_lp = Categorical(logits=logits).log_prob(msg).sum(-1)
            l_lp = Categorical(logits=self.listener(l_obs)).log_prob(choice)
        return s_obs, msg, s_lp, l_obs, choice, l_lp, reward

    def iteration(self, steps: int, epochs: int, minibatches: int) -> None:
        games = self.n * steps // 2
        with torch.no_grad():
            s_obs, msg, s_lp, l_obs, choice, l_lp, reward = self.play(games)
            s_adv = reward - self.s_value(s_obs).squeeze(-1)
            l_adv = reward - self.l_value(l_obs).squeeze(-1)
        mb = games // minibatches
        for _ in range(epochs):
            perm = torch.randperm(games, device=self.dev)
            for k in range(minibatches):
                i = perm[k * mb : (k + 1) * mb]
                loss = 0.0
                for net, val, obs, act, old, adv, multi in (
                    (self.speaker, self.s_value, s_obs, msg, s_lp, s_adv, True),
                    (self.listener, self.l_value, l_obs, choice, l_lp, l_adv, False),
                ):
                    logits = net(obs[i])
                    if multi:
                        dist = Categorical(logits=logits.view(-1, LENGTH, VOCAB))
                        lp, ent = dist.log_prob(act[i]).sum(-1), dist.entropy().sum(-1)
                    else:
                        dist = Categorical(logits=logits)
                        lp, ent = dist.log_prob(act[i]), dist.entropy()
                    a = (adv[i] - adv[i].mean()) / (adv[i].std() + 1e-8)
                    ratio = (lp - old[i]).exp()
                    pg = torch.maximum(-a * ratio, -a * ratio.clamp(0.8, 1.2)).mean()
                    v = 0.5 * ((val(obs[i]).squeeze(-1) - reward[i]) ** 2).mean()
                    loss = loss + pg + 0.5 * v - 0.01 * ent.mean()
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.params, 0.5)
                self.opt.step()


class TwoPhaseReference(Reference):
    """The same algorithm as the native trainer, written flat: the two-phase game
    (talk, then choose), both agents acting every step, GAE, PPO on every sample
    with the inactive agent's policy term masked, a candidate-scoring listener.
    The native trainer's ratio to this one is the cost of its abstractions."""

    def __init__(self, num_games: int, hidden: int, device: str, lr: float = 3e-3):
        super().__init__(num_games, hidden, device, lr)
        torch.manual_seed(0)
        ctx = LENGTH * VOCAB + 2
        self.cand_net = mlp(OBJ, hidden, hidden).to(self.dev)
        self.ctx_net = mlp(ctx, hidden, hidden).to(self.dev)
        self.s_value = mlp(OBJ + 2, hidden, 1).to(self.dev)
        self.speaker = mlp(OBJ + 2, hidden, LENGTH * VOCAB).to(self.dev)
        self.l_value = mlp(ctx + N_CAND * OBJ, hidden, 1).to(self.dev)
        mods = (self.speaker, self.s_value, self.cand_net, self.ctx_net, self.l_value)
        self.params = [p for m in mods for p in m.parameters()]
        self.opt = torch.optim.Adam(self.params, lr=lr, eps=1e-5)
        self.phase = torch.zeros(num_games, dtype=torch.long, device=self.dev)
        self.new_games(torch.ones(num_games, dtype=torch.bool, device=self.dev))

    def new_games(self, mask):
        n = self.n
        cand = torch.rand(n, N_VAL**N_ATTR, device=self.dev).argsort(1)[:, :N_CAND]
        target = torch.randint(0, N_CAND, (n,), device=self.dev)
        if not hasattr(self, "cand"):
            self.cand, self.target = cand, target
            self.msg = torch.zeros(n, LENGTH, dtype=torch.long, device=self.dev)
        self.cand = torch.where(mask[:, None], cand, self.cand)
        self.target = torch.where(mask, target, self.target)
        self.msg = torch.where(mask[:, None], 0, self.msg)
        self.phase = torch.where(mask, 0, self.phase)

    def observe(self):
        phase = nn.functional.one_hot(self.phase, 2).float()
        s_obs = torch.cat(
            [self.encode(self.cand.gather(1, self.target[:, None]).squeeze(1)), phase],
            1,
        )
        said = nn.functional.one_hot(self.msg, VOCAB).flatten(1).float()
        said = said * (self.phase > 0)[:, None].float()
        l_obs = torch.cat([said, phase, self.encode(self.cand).flatten(1)], 1)
        return s_obs, l_obs

    def listener_dist(self, l_obs):
        ctx = self.ctx_net(l_obs[:, : LENGTH * VOCAB + 2])
        items = self.cand_net(l_obs[:, LENGTH * VOCAB + 2 :].view(-1, N_CAND, OBJ))
        return Categorical(logits=torch.einsum("nkh,nh->nk", items, ctx))

    def iteration(self, steps: int, epochs: int, minibatches: int) -> None:
        buf = []
        with torch.no_grad():
            for _ in range(steps):
                s_obs, l_obs = self.observe()
                s_dist = Categorical(logits=self.speaker(s_obs).view(-1, LENGTH, VOCAB))
                msg = s_dist.sample()
                l_dist = self.listener_dist(l_obs)
                choice = l_dist.sample()
                talking = self.phase == 0
                self.msg = torch.where(talking[:, None], msg, self.msg)
                reward = ((~talking) & (choice == self.target)).float()
                buf.append(
                    (
                        s_obs,
                        l_obs,
                        msg,
                        choice,
                        s_dist.log_prob(msg).sum(-1),
                        l_dist.log_prob(choice),
                        self.s_value(s_obs).squeeze(-1),
                        self.l_value(l_obs).squeeze(-1),
                        reward,
                        ~talking,
                        talking,
                    )
                )
                self.phase = torch.ones_like(self.phase)
                self.new_games(~talking)
            s_last, l_last = self.observe()
            cols = [torch.stack(c) for c in zip(*buf)]
            s_obs, l_obs, msg, choice, s_lp, l_lp, s_v, l_v, rew, done, s_act = cols
            advs = []
            for v, last in ((s_v, self.s_value(s_last)), (l_v, self.l_value(l_last))):
                adv, gae, nxt = torch.zeros_like(v), torch.zeros_like(v[0]), last[:, 0]
                for t in reversed(range(steps)):
                    nd = (~done[t]).float()
                    delta = rew[t] + 0.99 * nxt * nd - v[t]
                    gae = delta + 0.99 * 0.95 * nd * gae
                    adv[t], nxt = gae, v[t]
                advs.append(adv)
        flat = [
            c.flatten(0, 1)
            for c in (s_obs, l_obs, msg, choice, s_lp, l_lp, s_v, l_v, s_act)
        ]
        s_obs, l_obs, msg, choice, s_lp, l_lp, s_v, l_v, s_act = flat
        s_adv, l_adv = (a.flatten() for a in advs)
        s_ret, l_ret = s_adv + s_v, l_adv + l_v
        total = len(s_obs)
        mb = total // minibatches
        for _ in range(epochs):
            perm = torch.randperm(total, device=self.dev)
            for k in range(minibatches):
                i = perm[k * mb : (k + 1) * mb]
                sd = Categorical(logits=self.speaker(s_obs[i]).view(-1, LENGTH, VOCAB))
                ld = self.listener_dist(l_obs[i])
                loss = 0.0
                for lp, ent, old, adv, ret, val, mask in (
                    (
                        sd.log_prob(msg[i]).sum(-1),
                        sd.entropy().sum(-1),
                        s_lp[i],
                        s_adv[i],
                        s_ret[i],
                        self.s_value(s_obs[i]).squeeze(-1),
                        s_act[i],
                    ),
                    (
                        ld.log_prob(choice[i]),
                        ld.entropy(),
                        l_lp[i],
                        l_adv[i],
                        l_ret[i],
                        self.l_value(l_obs[i]).squeeze(-1),
                        ~s_act[i],
                    ),
                ):
                    w = mask.float()
                    cnt = w.sum().clamp_min(1)
                    a = adv[mask]
                    a = (adv - a.mean()) / (a.std() + 1e-8)
                    ratio = (lp - old).exp()
                    pg = torch.maximum(-a * ratio, -a * ratio.clamp(0.8, 1.2))
                    v = 0.5 * ((val - ret) ** 2).mean()
                    loss = loss + (pg * w).sum() / cnt + 0.5 * v
                    loss = loss - 0.01 * (ent * w).sum() / cnt
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.params, 0.5)
                self.opt.step()


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_native(args):
    from agents.native import NativeTrainer
    from agents.spec import NetworkConfig, PPOConfig, TrainSpec

    ppo = PPOConfig(
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        update_epochs=args.epochs,
        num_minibatches=args.minibatches,
    )
    spec = TrainSpec(
        channel=args.channel,
        ppo=ppo,
        network=NetworkConfig(hidden=args.hidden),
        device=args.device,
    )
    return NativeTrainer(spec).train_iteration


def make_reference(cls, args):
    ref = cls(args.num_envs, args.hidden, args.device)
    return lambda: ref.iteration(args.num_steps, args.epochs, args.minibatches)


def rate(step, args) -> float:
    """Env-steps/s of ``args.iterations`` calls of ``step`` (after a warm-up)."""
    sync(args.device)
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        step()
    sync(args.device)
    return args.iterations * args.num_envs * args.num_steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--num-steps", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatches", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds; the best round of each trainer is reported",
    )
    parser.add_argument(
        "--channel",
        default="categorical",
        help="channel of the native speaker (categorical matches the reference)",
    )
    args = parser.parse_args(argv)
    names = [
        "plain-torch one-shot game (flat MLPs)",
        "plain-torch same algorithm (two-phase, GAE)",
        f"aim-suite native ({args.channel})",
    ]
    makers = [
        lambda: make_reference(Reference, args),
        lambda: make_reference(TwoPhaseReference, args),
        lambda: make_native(args),
    ]
    best = [0.0, 0.0, 0.0]
    memory = [0.0, 0.0, 0.0]
    steps = []
    for make in makers:
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        step = make()
        step()  # warm-up
        steps.append(step)
    # Rounds interleave the trainers so that load on a shared machine hits all alike.
    for _ in range(args.rounds):
        for k, step in enumerate(steps):
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            best[k] = max(best[k], rate(step, args))
            memory[k] = max(memory[k], peak_memory_mb(args.device))
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "-"
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"device {args.device} ({gpu}), date {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"games in parallel {args.num_envs}, rollout {args.num_steps}, "
        f"epochs {args.epochs}, minibatches {args.minibatches}, hidden {args.hidden}\n"
    )
    mem_kind = "peak GPU MB" if args.device.startswith("cuda") else "max RSS MB"
    print(f"| trainer | env-steps/s (training) | {mem_kind} | native / this |")
    print("|---|---:|---:|---:|")
    for name, sps, mem in zip(names, best, memory):
        print(f"| {name} | {sps:,.0f} | {mem:,.0f} | {best[2] / sps:.2f} |")


if __name__ == "__main__":
    main()
