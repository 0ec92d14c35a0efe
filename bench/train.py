"""Native trainer throughput next to a plain-torch reference of the same size.

Both train a speaker and a listener with PPO on the referential game (4 attributes x
4 values, 4 candidates, 2 symbols over 16), with the same number of parallel games,
rollout length, epochs, minibatches and network widths, in one process, one after
the other. The reference has no abstractions: the game is inlined as a one-shot
tensor computation, a categorical speaker, a listener, GAE-free one-step advantages.
Throughput counts env steps the way the suite's env does (2 per game: the speaker's
step and the listener's step), so the ratio compares equal amounts of play.

    python bench/train.py                 # CPU, 1024 games, ~1 minute
    python bench/train.py --device cuda --num-envs 262144 --iterations 30

Prints a Markdown table: env-steps/s of each and the ratio (target >= 0.9), plus the
peak memory (GPU when on CUDA, else the process's max RSS).
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


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_native(args) -> tuple[float, float]:
    from agents.native import NativeTrainer, PPOConfig

    ppo = PPOConfig(
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        hidden=args.hidden,
        update_epochs=args.epochs,
        num_minibatches=args.minibatches,
    )
    trainer = NativeTrainer(
        "referential_v0", channel=args.channel, ppo=ppo, seed=0, device=args.device
    )
    trainer.train_iteration()  # warm-up
    sync(args.device)
    steps0, t0 = trainer.env_steps, time.perf_counter()
    for _ in range(args.iterations):
        trainer.train_iteration()
    sync(args.device)
    return (trainer.env_steps - steps0) / (time.perf_counter() - t0), peak_memory_mb(
        args.device
    )


def time_reference(args) -> tuple[float, float]:
    ref = Reference(args.num_envs, args.hidden, args.device)
    ref.iteration(args.num_steps, args.epochs, args.minibatches)  # warm-up
    sync(args.device)
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        ref.iteration(args.num_steps, args.epochs, args.minibatches)
    sync(args.device)
    steps = args.iterations * args.num_envs * args.num_steps
    return steps / (time.perf_counter() - t0), peak_memory_mb(args.device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--num-steps", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatches", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument(
        "--channel",
        default="categorical",
        help="channel of the native speaker (categorical matches the reference)",
    )
    args = parser.parse_args(argv)
    # Reference first, so the peak-memory column of the native run includes it;
    # on CUDA the peak counter is reset between the two.
    ref_sps, ref_mem = time_reference(args)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    nat_sps, nat_mem = time_native(args)
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
    print("| trainer | env-steps/s (training) | peak memory MB | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| plain-torch reference | {ref_sps:,.0f} | {ref_mem:,.0f} | 1.00 |")
    print(
        f"| aim-suite native ({args.channel}) | {nat_sps:,.0f} | {nat_mem:,.0f} | "
        f"{nat_sps / ref_sps:.2f} |"
    )


if __name__ == "__main__":
    main()
