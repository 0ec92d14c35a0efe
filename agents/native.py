"""The fast trainer: batched independent PPO (IPPO) on a batched env core.

All envs step as one tensor batch on one device (CPU or CUDA); every agent has its
own network (or shares one with the agents of the same kind, ``share_parameters``),
optionally with a centralized critic that sees every agent's observation. The loss is
:func:`agents.ppo.ppo_loss` plus the channel's auxiliary loss; nothing here redefines
it.

Agents whose action is a message (``env.message_agents``) are :class:`Speaker`
networks around a channel; the others are :class:`ActorCritic` networks. An agent
whose action does not count at a step (``infos[agent]["active"]`` false, e.g. the
listener while the speaker talks) still gets value targets there, so its credit flows
through the episode, but its policy loss is masked out.

The ``gumbel`` channel is trained with PPO like the other channels (its
log-probability is that of the underlying categorical); this trainer does not wire
the speaker's relaxed sample into the listener (no DIAL path).

Seeds make CPU runs bitwise reproducible: the env has its own generator, and the
trainer its own random state for network init, action sampling and minibatch order
(swapped into torch's global generator only while the trainer works, so two trainers
in one process do not disturb each other); :meth:`NativeTrainer.state_dict` captures
both for an exact resume.

>>> trainer = NativeTrainer("referential_v0", ppo=PPOConfig(num_envs=8, num_steps=2))
>>> metrics = trainer.train_iteration()
>>> trainer.env_steps
16
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

import envs
from agents.networks import AgentOutput, build_agent
from agents.ppo import Rollout, compute_gae, ppo_loss

__all__ = ["EvalResult", "NativeTrainer", "PPOConfig"]


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of the native trainer."""

    num_envs: int = 1024
    """Envs stepped together as one tensor batch."""
    num_steps: int = 8
    """Steps per env in each rollout (the batch is ``num_envs * num_steps``)."""
    lr: float = 3e-3
    """Adam learning rate."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over ``total_steps``."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE mixing."""
    update_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass."""
    clip_coef: float = 0.2
    """PPO clip range."""
    ent_coef: float = 0.01
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    aux_coef: float = 1.0
    """Weight of the channel's auxiliary loss (VQ-VAE reconstruction + commitment)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    hidden: int = 64
    """Hidden width of every network."""
    layers: int = 2
    """Hidden layers of every MLP."""
    share_parameters: bool = False
    """One network for all agents with the same spaces and role."""
    centralized_value: bool = False
    """Critics see every agent's observation (concatenated)."""
    lr_decay: float = 1.0
    """Multiply the learning rate by this after every iteration (AIM: 0.9995)."""
    ent_decay: float = 1.0
    """Multiply the entropy weight by this after every iteration (AIM: 0.9999)."""
    accumulate_grads: bool = False
    """Never zero the gradients between updates. This reproduces a defect of the
    AIM reference code, for the study that shows what it does; keep it off."""

    def __post_init__(self) -> None:
        for key in ("num_envs", "num_steps", "update_epochs", "num_minibatches"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive int, got {value!r}")
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(
                f"num_envs * num_steps ({self.num_envs * self.num_steps}) must be "
                f"divisible by num_minibatches ({self.num_minibatches})"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        for key in ("lr_decay", "ent_decay"):
            value = getattr(self, key)
            if not 0 < value <= 1:
                raise ValueError(f"{key} must be in (0, 1], got {value!r}")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


class EvalResult(NamedTuple):
    """Deterministic evaluation on held-out episodes (a fresh env seed)."""

    episodes: int
    mean_return: float
    """Mean episode return, averaged over agents."""
    success: float | None
    """Fraction of successful episodes (envs that report ``success``), else None."""
    messages: dict[str, np.ndarray]
    """Per speaker: the messages it sent, ``[n, L]``."""
    meanings: dict[str, np.ndarray]
    """Per speaker: the meaning paired with each message (``infos["meaning"]``)."""


@dataclass
class _Stats:
    """Running episode statistics, kept as tensors (one host sync per iteration)."""

    returns: dict[str, torch.Tensor] = field(default_factory=dict)
    sum_return: torch.Tensor | None = None
    sum_success: torch.Tensor | None = None
    episodes: torch.Tensor | None = None


class NativeTrainer:
    """Batched IPPO over one env core.

    Parameters
    ----------
    env : str
        A name of :func:`envs.names`.
    env_config : dict, optional
        The env's options.
    channel : str
        Channel kind of every speaker (``vq``, ``rvq``, ``categorical``, ``gumbel``,
        ``none``).
    channel_options : dict, optional
        Options of :func:`agents.channels.make_channel`.
    ppo : PPOConfig
    seed : int
    device : str
    total_steps : int, optional
        Used only to anneal the learning rate.
    """

    def __init__(
        self,
        env: str,
        env_config: dict[str, Any] | None = None,
        *,
        channel: str = "vq",
        channel_options: dict[str, Any] | None = None,
        ppo: PPOConfig | None = None,
        seed: int = 0,
        device: str = "cpu",
        total_steps: int | None = None,
    ) -> None:
        self.ppo = ppo or PPOConfig()
        self.env_name = env
        self.env_config = dict(env_config or {})
        self.seed = int(seed)
        self.device = torch.device(device)
        self.total_steps = total_steps
        self.env = envs.make_vec(
            env, self.ppo.num_envs, device=device, seed=self.seed, **self.env_config
        )
        self.agents = list(self.env.possible_agents)
        self.speakers = [a for a in self.agents if a in self.env.message_agents]
        # Each trainer owns its random stream (network init, sampling, minibatch
        # order): it is swapped into torch's global generator while the trainer works.
        self._rng_state = torch.Generator().manual_seed(self.seed).get_state()
        self._cuda_rng_state = None
        if self.device.type == "cuda":
            gen = torch.Generator(device=self.device).manual_seed(self.seed)
            self._cuda_rng_state = gen.get_state()
        with self._own_rng():
            self._build_networks(channel, channel_options)
        self.obs, _ = self.env.reset()
        self.env_steps = 0
        self.iteration = 0
        self._stats = self._new_stats()

    def _build_networks(
        self, channel: str, channel_options: dict[str, Any] | None
    ) -> None:
        value_dim = (
            sum(self._obs_dim(a) for a in self.agents)
            if self.ppo.centralized_value
            else None
        )
        self.nets: dict[str, nn.Module] = {}
        built: dict[tuple, nn.Module] = {}
        for agent in self.agents:
            key = (
                str(self.env.observation_space(agent)),
                str(self.env.action_space(agent)),
                agent in self.speakers,
            )
            if self.ppo.share_parameters and key in built:
                self.nets[agent] = built[key]
                continue
            net = build_agent(
                self.env.observation_space(agent),
                self.env.action_space(agent),
                speaker=agent in self.speakers,
                channel=channel,
                hidden=self.ppo.hidden,
                layers=self.ppo.layers,
                channel_options=channel_options,
                value_dim=value_dim,
                obs_parts=self.env.obs_parts(agent),
            ).to(self.device)
            self.nets[agent] = built[key] = net
        self.modules = nn.ModuleList(dict.fromkeys(self.nets.values()))
        self.optimizer = torch.optim.Adam(
            self.modules.parameters(), lr=self.ppo.lr, eps=1e-5
        )

    @contextlib.contextmanager
    def _own_rng(self):
        """Run with this trainer's random state in torch's global generator."""
        outer = torch.get_rng_state()
        torch.set_rng_state(self._rng_state)
        outer_cuda = None
        if self._cuda_rng_state is not None:
            outer_cuda = torch.cuda.get_rng_state(self.device)
            torch.cuda.set_rng_state(self._cuda_rng_state, self.device)
        try:
            yield
        finally:
            self._rng_state = torch.get_rng_state()
            torch.set_rng_state(outer)
            if outer_cuda is not None:
                self._cuda_rng_state = torch.cuda.get_rng_state(self.device)
                torch.cuda.set_rng_state(outer_cuda, self.device)

    # ------------------------------------------------------------------ helpers
    def _obs_dim(self, agent: str) -> int:
        return int(np.prod(self.env.observation_space(agent).shape))

    def _value_obs(self, obs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if not self.ppo.centralized_value:
            return None
        return torch.cat([obs[a].flatten(1) for a in self.agents], dim=1)

    def _new_stats(self) -> _Stats:
        zeros = torch.zeros(self.ppo.num_envs, device=self.device)
        return _Stats(
            returns={a: zeros.clone() for a in self.agents},
            sum_return=torch.zeros((), device=self.device),
            sum_success=torch.zeros((), device=self.device),
            episodes=torch.zeros((), device=self.device),
        )

    def channels(self) -> dict[str, nn.Module]:
        """The channel of each speaker."""
        return {a: self.nets[a].channel for a in self.speakers}

    def channel_usage(self) -> dict[str, float]:
        """Codebook perplexity and live codes, averaged over speakers."""
        usages = [ch.usage() for ch in self.channels().values()]
        if not usages:
            return {"perplexity": 0.0, "live_codes": 0.0}
        return {
            k: float(np.mean([u[k] for u in usages]))
            for k in ("perplexity", "live_codes")
        }

    def _lr_now(self) -> float:
        lr = self.ppo.lr * self.ppo.lr_decay**self.iteration
        if not self.ppo.anneal_lr or not self.total_steps:
            return lr
        return lr * max(0.0, 1.0 - self.env_steps / self.total_steps)

    # ------------------------------------------------------------------ rollout
    @torch.no_grad()
    def collect(self) -> tuple[dict[str, Rollout], dict[str, torch.Tensor]]:
        """Step every env ``num_steps`` times.

        Returns each agent's time-major :class:`~agents.ppo.Rollout` and the value of
        the state after the last step (the GAE bootstrap).
        """
        T, agents = self.ppo.num_steps, self.agents
        buf: dict[str, dict[str, list]] = {
            a: {k: [] for k in Rollout._fields} for a in agents
        }
        self.modules.eval()  # EMA codebooks move in the update, not while acting
        obs, stats = self.obs, self._stats
        active = self.env.active()
        for channel in self.channels().values():
            channel.reset_usage()  # usage of this rollout's messages
        for _ in range(T):
            vobs = self._value_obs(obs)
            outs: dict[str, AgentOutput] = {
                a: self.nets[a](obs[a], vobs) for a in agents
            }
            actions = {a: self.nets[a].to_env(outs[a].action) for a in agents}
            next_obs, rew, term, trunc, infos = self.env.step(actions)
            done = term[agents[0]] | trunc[agents[0]]
            if bool(trunc[agents[0]].any()):
                # Bootstrap a time-limit cut from the value of the state it cut off.
                final = {a: infos[a]["final_obs"] for a in agents}
                fvobs = self._value_obs(final)
                for a in agents:
                    v = self.nets[a].value(final[a], fvobs)
                    rew[a] = rew[a] + self.ppo.gamma * v * trunc[a].float()
            for a in self.speakers:
                tokens = outs[a].action
                tokens = tokens[:, None] if tokens.ndim == 1 else tokens
                self.nets[a].channel.record_usage(tokens, active[a])
            for a in agents:
                b = buf[a]
                b["obs"].append(obs[a])
                b["actions"].append(outs[a].action)
                b["log_probs"].append(outs[a].log_prob)
                b["values"].append(outs[a].value)
                b["rewards"].append(rew[a])
                b["dones"].append(done)
                b["active"].append(active[a])
                stats.returns[a] += rew[a]
            team = torch.stack([stats.returns[a] for a in agents]).mean(0)
            stats.sum_return += (team * done).sum()
            stats.episodes += done.sum()
            success = infos[agents[-1]].get("success")
            if success is not None:
                stats.sum_success += (success & done).sum()
            for a in agents:
                stats.returns[a] = torch.where(done, 0.0, stats.returns[a])
            active = {a: infos[a]["active"] for a in agents}
            obs = next_obs
        self.obs = obs
        self.env_steps += T * self.ppo.num_envs
        rollouts = {
            a: Rollout(**{k: torch.stack(v) for k, v in buf[a].items()}) for a in agents
        }
        vobs = self._value_obs(obs)
        last = {a: self.nets[a].value(obs[a], vobs) for a in agents}
        return rollouts, last

    # ------------------------------------------------------------------ update
    def update(
        self, rollouts: dict[str, Rollout], last_values: dict[str, torch.Tensor]
    ) -> dict[str, float]:
        """PPO epochs over one rollout; returns the mean losses."""
        p, agents = self.ppo, self.agents
        flat: dict[str, dict[str, torch.Tensor]] = {}
        for a in agents:
            r = rollouts[a]
            adv, ret = compute_gae(
                r.rewards,
                r.values,
                r.dones,
                last_values[a],
                gamma=p.gamma,
                gae_lambda=p.gae_lambda,
            )
            flat[a] = {k: v.flatten(0, 1) for k, v in r._asdict().items()}
            flat[a]["advantages"] = adv.flatten(0, 1)
            flat[a]["returns"] = ret.flatten(0, 1)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr_now()
        self.modules.train()
        sums: dict[str, torch.Tensor] = {}
        n_updates = 0
        mb = p.batch_size // p.num_minibatches
        for _ in range(p.update_epochs):
            perm = torch.randperm(p.batch_size, device=self.device)
            for start in range(0, p.batch_size, mb):
                idx = perm[start : start + mb]
                loss, parts = self._minibatch_loss(flat, idx)
                if not p.accumulate_grads:
                    self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.modules.parameters(), p.max_grad_norm)
                self.optimizer.step()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                n_updates += 1
        self.iteration += 1
        stacked = torch.stack(list(sums.values())) / n_updates
        values = stacked.tolist()  # one host sync
        result = dict(zip(sums, values))
        if not all(np.isfinite(values)):
            bad = [k for k, v in result.items() if not np.isfinite(v)]
            raise FloatingPointError(
                f"non-finite loss at iteration {self.iteration}: {bad}"
            )
        return result

    def _minibatch_loss(
        self, flat: dict[str, dict[str, torch.Tensor]], idx: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        p = self.ppo
        vobs = (
            torch.cat([flat[a]["obs"][idx].flatten(1) for a in self.agents], dim=1)
            if p.centralized_value
            else None
        )
        total = torch.zeros((), device=self.device)
        parts: dict[str, torch.Tensor] = {}
        for a in self.agents:
            f = flat[a]
            out = self.nets[a](f["obs"][idx], vobs, action=f["actions"][idx])
            loss, info = ppo_loss(
                out.log_prob,
                f["log_probs"][idx],
                f["advantages"][idx],
                out.value,
                f["values"][idx],
                f["returns"][idx],
                out.entropy,
                clip_coef=p.clip_coef,
                vf_coef=p.vf_coef,
                ent_coef=p.ent_coef * p.ent_decay**self.iteration,
                mask=f["active"][idx],
            )
            total = total + loss + p.aux_coef * out.aux.total
            for name, value in info._asdict().items():
                parts[f"{a}/{name}"] = value
            if a in self.speakers:
                for name, value in out.aux._asdict().items():
                    parts[f"{a}/aux_{name}"] = value.detach()
        parts["total"] = total.detach()
        return total, parts

    def train_iteration(self) -> dict[str, float]:
        """One rollout and one update. Returns scalar metrics."""
        t0 = time.perf_counter()
        with self._own_rng():
            rollouts, last_values = self.collect()
            losses = self.update(rollouts, last_values)
        s = self._stats
        episodes, ret, succ = torch.stack(
            [s.episodes, s.sum_return, s.sum_success]
        ).tolist()
        self._stats = self._new_stats() if episodes else s
        metrics = {f"losses/{k}": v for k, v in losses.items()}
        if episodes:
            metrics["charts/episodic_return"] = ret / episodes
            metrics["charts/success"] = succ / episodes
            metrics["charts/episodes"] = episodes
        metrics["charts/iteration_s"] = time.perf_counter() - t0
        metrics["charts/learning_rate"] = self.optimizer.param_groups[0]["lr"]
        for k, v in self.channel_usage().items():
            metrics[f"symbols/{k}"] = v
        return metrics

    # ------------------------------------------------------------------ eval
    def evaluate(self, episodes: int = 1000, *, seed: int | None = None) -> EvalResult:
        """Greedy policies on ``episodes`` fresh episodes from another seed."""
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"episodes must be a positive int, got {episodes!r}")
        with self._own_rng():
            return self._evaluate(episodes, seed)

    @torch.no_grad()
    def _evaluate(self, episodes: int, seed: int | None) -> EvalResult:
        seed = self.seed + 1_000_003 if seed is None else seed
        n = min(episodes, 4096)
        env = envs.make_vec(
            self.env_name, n, device=self.device, seed=seed, **self.env_config
        )
        was_training = self.modules.training
        self.modules.eval()
        obs, infos = env.reset()
        active = {a: infos[a]["active"] for a in self.agents}
        returns = {a: torch.zeros(n, device=self.device) for a in self.agents}
        finished: list[torch.Tensor] = []
        successes: list[torch.Tensor] = []
        msgs: dict[str, list] = {a: [] for a in self.speakers}
        means: dict[str, list] = {a: [] for a in self.speakers}
        done_count = 0
        while done_count < episodes:
            vobs = self._value_obs(obs)
            outs = {
                a: self.nets[a](obs[a], vobs, deterministic=True) for a in self.agents
            }
            actions = {a: self.nets[a].to_env(outs[a].action) for a in self.agents}
            obs, rew, term, trunc, infos = env.step(actions)
            for a in self.speakers:
                sel = active[a]
                tokens = outs[a].action
                msgs[a].append((tokens[:, None] if tokens.ndim == 1 else tokens)[sel])
                if "meaning" in infos[a]:
                    means[a].append(infos[a]["meaning"][sel])
            for a in self.agents:
                returns[a] += rew[a]
            done = term[self.agents[0]] | trunc[self.agents[0]]
            team = torch.stack([returns[a] for a in self.agents]).mean(0)
            finished.append(team[done])
            if "success" in infos[self.agents[-1]]:
                successes.append(infos[self.agents[-1]]["success"][done])
            done_count += int(done.sum())
            for a in self.agents:
                returns[a] = torch.where(done, 0.0, returns[a])
            active = {a: infos[a]["active"] for a in self.agents}
        self.modules.train(was_training)
        rets = torch.cat(finished)[:episodes]
        success = (
            float(torch.cat(successes)[:episodes].float().mean()) if successes else None
        )
        return EvalResult(
            episodes=len(rets),
            mean_return=float(rets.mean()),
            success=success,
            messages={a: torch.cat(v).cpu().numpy() for a, v in msgs.items()},
            meanings={a: torch.cat(v).cpu().numpy() for a, v in means.items() if v},
        )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bitwise-identically (on CPU).

        A deep copy: later training does not change it, and loading it into another
        trainer shares no tensors with this one.
        """
        state = {
            "modules": self.modules.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "env": self.env.state_dict(),
            "obs": self.obs,
            "env_steps": self.env_steps,
            "iteration": self.iteration,
            "torch_rng": self._rng_state.clone(),
            "cuda_rng": self._cuda_rng_state,
            "stats": dataclasses.asdict(self._stats),
        }
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.modules.load_state_dict(state["modules"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.env.load_state_dict(state["env"])
        self.obs = {a: o.to(self.device) for a, o in state["obs"].items()}
        self.env_steps = int(state["env_steps"])
        self.iteration = int(state["iteration"])
        self._rng_state = state["torch_rng"].cpu()
        if state.get("cuda_rng") is not None and self._cuda_rng_state is not None:
            self._cuda_rng_state = state["cuda_rng"].cpu()
        self._stats = _Stats(**state["stats"])
