"""The fast trainer: batched independent PPO (IPPO) on a batched env core.

All envs step as one tensor batch on one device (CPU or CUDA); every agent has its
own network (or shares one with the agents of the same kind,
``NetworkConfig.share_parameters``), optionally with a centralized critic that sees
every agent's observation. The loss is :func:`agents.ppo.ppo_loss` plus the channel's
auxiliary loss; nothing here redefines it. The trainer takes one
:class:`agents.spec.TrainSpec` and reports :class:`agents.results.IterationStats` and
:class:`agents.results.EvalResult` records (the run contract both backends share).

Agents whose action is a message (``env.message_agents``) are :class:`Speaker`
networks around a channel; the others are :class:`ActorCritic` networks. An agent
whose action does not count at a step (``StepInfo.active`` false, e.g. the listener
while the speaker talks) still gets value targets there, so its credit flows through
the episode, but its policy loss is masked out.

The ``gumbel`` channel is trained with PPO like the other channels (its
log-probability is that of the underlying categorical), unless
``TrainSpec.differentiable`` asks for the end-to-end path of EGG's Gumbel-softmax
games, for single-message games (:func:`agents.networks.message_wiring`):

* Rollout: the speaker draws its message with explicit Gumbel noise ``g``; the env
  carries the tokens to the listener as usual. The trainer keeps, for every listener
  step, the speaker's observation, tokens and ``g`` of the step that sent the
  message it hears (same env, previous step, same episode; carried across rollouts).
  With ``straight_through=False`` the listener's observation holds the relaxed
  sample ``softmax((logits + g) / tau)`` in its message part instead of the one-hot.
* Update: the listener's message part is rebuilt from the speaker's current
  parameters (:meth:`agents.networks.Speaker.relaxed_message`: the hard one-hot with
  the relaxed sample's gradient, or the relaxed sample itself), exactly where the env
  put the message (``obs_parts(listener)["message"]``), so the listener's PPO loss
  back-propagates into the speaker. The speaker's own policy-gradient and entropy
  terms are masked out (its critic still fits values, for the logs): the speaker
  learns only through the listener, as in EGG.
* With ``message_control="mute"`` the listener hears a constant, nothing is wired,
  and the speaker gets no gradient: the control changes only what is heard.
* Evaluation is greedy: the listener reads the hard one-hot the env gives it.

Seeds make CPU runs bitwise reproducible: the env has its own generator, and the
trainer its own random state for network init, action sampling and minibatch order
(swapped into torch's global generator only while the trainer works, so two trainers
in one process do not disturb each other); :meth:`NativeTrainer.state_dict` captures
both for an exact resume.

A non-finite loss, gradient, parameter or buffer raises
:class:`agents.results.TrainingDiverged` before the optimizer applies it (or, for a
parameter that became non-finite inside an update, at the end of that update).

>>> from agents.spec import PPOConfig, TrainSpec
>>> spec = TrainSpec(ppo=PPOConfig(num_envs=8, num_steps=2, num_minibatches=2))
>>> trainer = NativeTrainer(spec)
>>> stats = trainer.train_iteration()
>>> trainer.env_steps, stats.iteration
(16, 1)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

import envs
from agents.networks import AgentOutput, MessageWiring, build_agents, message_wiring
from agents.ppo import Rollout, compute_gae, ppo_loss
from agents.results import (
    EvalResult,
    IterationStats,
    SymbolUsage,
    TrainingDiverged,
)
from agents.spec import PPOConfig, TrainSpec

__all__ = ["EvalResult", "NativeTrainer", "PPOConfig", "TrainSpec"]

EVAL_BATCH = 4096
"""Most envs an evaluation steps at once."""


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
    spec : TrainSpec
        The env and its config, the channel and its options, network sizes, PPO
        knobs, total steps (for ``anneal_lr``), seed and device.
    """

    backend = "native"

    def __init__(self, spec: TrainSpec) -> None:
        if not isinstance(spec, TrainSpec):
            raise TypeError(f"spec must be an agents.spec.TrainSpec, got {spec!r}")
        self.spec = spec
        self.ppo = spec.ppo
        self.device = torch.device(spec.device)
        self.env = envs.make_vec(
            spec.env,
            self.ppo.num_envs,
            device=self.device,
            seed=spec.seed,
            **spec.env_config,
        )
        self.agents = list(self.env.possible_agents)
        self.speakers = [a for a in self.agents if a in self.env.message_agents]
        # Each trainer owns its random stream (network init, sampling, minibatch
        # order): it is swapped into torch's global generator while the trainer works.
        self._rng_state = torch.Generator().manual_seed(spec.seed).get_state()
        self._cuda_rng_state = None
        if self.device.type == "cuda":
            gen = torch.Generator(device=self.device).manual_seed(spec.seed)
            self._cuda_rng_state = gen.get_state()
        with self._own_rng():
            self.nets: dict[str, nn.Module] = {
                a: net.to(self.device)
                for a, net in build_agents(self.env, spec).items()
            }
        self.wiring: MessageWiring | None = (
            message_wiring(self.env, spec) if spec.differentiable else None
        )
        self._heard_from = self._no_source() if self.wiring else None
        self._wires: dict[str, torch.Tensor] | None = None  # the last rollout's
        self.modules = nn.ModuleList(dict.fromkeys(self.nets.values()))
        self.optimizer = torch.optim.Adam(
            self.modules.parameters(), lr=self.ppo.lr, eps=self.ppo.adam_eps
        )
        self.obs, _ = self.env.reset()
        self.env_steps = 0
        self.iteration = 0
        self._stats = self._new_stats()
        self._reports_success = False  # set once a step reports success

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
    def _value_obs(self, obs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if not self.spec.network.centralized_value:
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

    # ------------------------------------------------------------------ wiring
    def _no_source(self) -> dict[str, torch.Tensor]:
        """The speaker data of "no message sent yet" for every env."""
        w, n = self.wiring, self.ppo.num_envs
        speaker_dim = int(np.prod(self.env.observation_space(w.speaker).shape))
        return {
            "obs": torch.zeros(n, speaker_dim, device=self.device),
            "tokens": torch.zeros(
                n, w.message_length, dtype=torch.long, device=self.device
            ),
            "noise": torch.zeros(n, w.message_length, w.vocab_size, device=self.device),
            "sent": torch.zeros(n, dtype=torch.bool, device=self.device),
        }

    def _speak(self, obs, vobs, active) -> tuple[AgentOutput, dict[str, torch.Tensor]]:
        """The speaker's step with explicit Gumbel noise, and its source record."""
        w = self.wiring
        noise = (
            -torch.empty(
                self.ppo.num_envs, w.message_length, w.vocab_size, device=self.device
            )
            .exponential_()
            .log()
        )
        out = self.nets[w.speaker](obs[w.speaker], vobs, noise=noise)
        tokens = out.action[:, None] if out.action.ndim == 1 else out.action
        source = {
            "obs": obs[w.speaker],
            "tokens": tokens,
            "noise": noise,
            "sent": active[w.speaker].clone(),
        }
        return out, source

    def _hear(self, obs: torch.Tensor, source: dict[str, torch.Tensor], wired):
        """A listener's observation with the relaxed message where it is wired
        (``straight_through=False`` only: otherwise the env's one-hot is already the
        forward value). Checks that the env gave the listener the message sent."""
        w = self.wiring
        speaker = self.nets[w.speaker]
        sent = torch.nn.functional.one_hot(source["tokens"], w.vocab_size).flatten(1)
        heard = obs[:, w.start : w.stop]
        if not bool((heard[wired] == sent[wired].to(heard.dtype)).all()):
            raise RuntimeError(
                f"differentiable: {self.spec.env}'s listener did not hear the message "
                "its speaker sent in the previous step (not a single-message game)"
            )
        if speaker.channel.straight_through:
            return obs
        msg = speaker.relaxed_message(source["obs"], source["tokens"], source["noise"])
        obs = obs.clone()
        obs[:, w.start : w.stop] = torch.where(wired[:, None], msg, heard)
        return obs

    def _wired_obs(
        self, listener: str, f: dict[str, torch.Tensor], idx: torch.Tensor
    ) -> torch.Tensor:
        """The listener's minibatch observations with the speaker's relaxed message,
        rebuilt from the speaker's current parameters, in the message part."""
        w = self.wiring
        obs = f["obs"][idx]
        if w.control != "none":  # muted: the listener heard a constant
            return obs
        wired = f["wired"][idx] & f["active"][idx]
        msg = self.nets[w.speaker].relaxed_message(
            f["src_obs"][idx], f["src_tokens"][idx], f["src_noise"][idx]
        )
        part = torch.where(wired[:, None], msg, obs[:, w.start : w.stop])
        return torch.cat([obs[:, : w.start], part, obs[:, w.stop :]], dim=1)

    def channels(self) -> dict[str, nn.Module]:
        """The channel of each speaker."""
        return {a: self.nets[a].channel for a in self.speakers}

    def codebook(self, agent: str) -> np.ndarray | None:
        """The code vectors ``[L or 1, V, code_dim]`` of ``agent``'s channel (vq /
        rvq), else None."""
        book = self.nets[agent].channel.codebook()
        return None if book is None else book.detach().cpu().numpy()

    def close(self) -> None:
        """Nothing to release (the RLlib trainer stops its algorithm here)."""

    def channel_usage(self) -> dict[str, SymbolUsage]:
        """Per speaker, the symbols emitted in the last rollout."""
        return {a: ch.usage() for a, ch in self.channels().items()}

    def learning_rate(self) -> float:
        """The learning rate of an update now (after the rollout's env steps)."""
        lr = self.ppo.lr * self.ppo.lr_decay**self.iteration
        if not self.ppo.anneal_lr:
            return lr
        return lr * max(0.0, 1.0 - self.env_steps / self.spec.steps)

    def entropy_coef(self) -> float:
        """The entropy weight of an update now."""
        return self.ppo.ent_coef * self.ppo.ent_decay**self.iteration

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
        w = self.wiring
        wire_buf: dict[str, list] = {
            k: [] for k in ("src_obs", "src_tokens", "src_noise", "wired")
        }
        for _ in range(T):
            vobs = self._value_obs(obs)
            if w is not None:
                src = self._heard_from
                wired = src["sent"] & (w.control == "none")
                for a in w.listeners:
                    obs = {**obs, a: self._hear(obs[a], src, wired & active[a])}
                for k in ("obs", "tokens", "noise"):
                    wire_buf[f"src_{k}"].append(src[k])
                wire_buf["wired"].append(wired)
                speaker_out, sent = self._speak(obs, vobs, active)
            outs: dict[str, AgentOutput] = {
                a: (
                    speaker_out
                    if w is not None and a == w.speaker
                    else self.nets[a](obs[a], vobs)
                )
                for a in agents
            }
            actions = {a: self.nets[a].to_env(outs[a].action) for a in agents}
            next_obs, rew, _, trunc, info = self.env.step(actions)
            if bool(info.truncated.any()):
                # Bootstrap a time-limit cut from the value of the state it cut off.
                final = info.final_obs
                fvobs = self._value_obs(final)
                for a in agents:
                    v = self.nets[a].value(final[a], fvobs)
                    rew[a] = rew[a] + self.ppo.gamma * v * info.truncated.float()
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
                b["dones"].append(info.done)
                b["active"].append(active[a])
                stats.returns[a] += rew[a]
            team = torch.stack([stats.returns[a] for a in agents]).mean(0)
            stats.sum_return += (team * info.done).sum()
            stats.episodes += info.done.sum()
            if info.success is not None:
                self._reports_success = True
                stats.sum_success += (info.success & info.done).sum()
            for a in agents:
                stats.returns[a] = torch.where(info.done, 0.0, stats.returns[a])
            if w is not None:
                # The next step's listeners hear what was sent now, within an episode.
                sent["sent"] = sent["sent"] & ~info.done
                self._heard_from = sent
            active = info.active
            obs = next_obs
        self.obs = obs
        self.env_steps += T * self.ppo.num_envs
        rollouts = {
            a: Rollout(**{k: torch.stack(v) for k, v in buf[a].items()}) for a in agents
        }
        self._wires = (
            {k: torch.stack(v).flatten(0, 1) for k, v in wire_buf.items()}
            if w is not None
            else None
        )
        vobs = self._value_obs(obs)
        last = {a: self.nets[a].value(obs[a], vobs) for a in agents}
        return rollouts, last

    # ------------------------------------------------------------------ update
    def update(
        self, rollouts: dict[str, Rollout], last_values: dict[str, torch.Tensor]
    ) -> dict[str, float]:
        """PPO epochs over one rollout; returns the mean loss parts.

        Raises :class:`~agents.results.TrainingDiverged` on a non-finite loss or
        gradient (before the optimizer step) or parameter/buffer (after the update).
        """
        p = self.ppo
        flat = self.flatten(rollouts, last_values)
        self.last_lr, self.last_ent_coef = self.learning_rate(), self.entropy_coef()
        for group in self.optimizer.param_groups:
            group["lr"] = self.last_lr
        ent_coef = self.last_ent_coef
        self.modules.train()
        sums: dict[str, torch.Tensor] = {}
        n_updates = 0
        mb = p.minibatch_size
        params = list(self.modules.parameters())
        for _ in range(p.update_epochs):
            perm = torch.randperm(p.batch_size, device=self.device)
            for start in range(0, p.batch_size, mb):
                idx = perm[start : start + mb]
                loss, parts = self._minibatch_loss(flat, idx, ent_coef)
                if not p.accumulate_grads:
                    self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = nn.utils.clip_grad_norm_(params, p.max_grad_norm)
                if not bool(torch.isfinite(norm) & torch.isfinite(loss)):
                    raise TrainingDiverged(
                        self.iteration + 1, self._nonfinite(parts, norm, loss)
                    )
                self.optimizer.step()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                n_updates += 1
        bad = [
            name
            for name, t in (
                *self.modules.named_parameters(),
                *self.modules.named_buffers(),
            )
            if t.is_floating_point() and not bool(torch.isfinite(t).all())
        ]
        if bad:
            raise TrainingDiverged(self.iteration + 1, bad)
        self.iteration += 1
        stacked = torch.stack(list(sums.values())) / n_updates
        return dict(zip(sums, stacked.tolist()))  # one host sync

    @staticmethod
    def _nonfinite(
        parts: dict[str, torch.Tensor], norm: torch.Tensor, loss: torch.Tensor
    ) -> list[str]:
        """Names of the non-finite quantities of one minibatch."""
        names = [k for k, v in parts.items() if not bool(torch.isfinite(v))]
        if not bool(torch.isfinite(loss)) and "total" not in names:
            names.append("total")
        if not bool(torch.isfinite(norm)):
            names.append("gradient norm")
        return names

    def flatten(
        self, rollouts: dict[str, Rollout], last_values: dict[str, torch.Tensor]
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Per agent, the rollout flattened to ``[T * N]`` samples with GAE
        advantages and returns (and, on the end-to-end path, the message sources of
        the last :meth:`collect`)."""
        p = self.ppo
        flat: dict[str, dict[str, torch.Tensor]] = {}
        for a in self.agents:
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
            if self.wiring is not None and a in self.wiring.listeners:
                flat[a].update(self._wires)
        return flat

    def _minibatch_loss(
        self,
        flat: dict[str, dict[str, torch.Tensor]],
        idx: torch.Tensor,
        ent_coef: float,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        vobs = (
            torch.cat([flat[a]["obs"][idx].flatten(1) for a in self.agents], dim=1)
            if self.spec.network.centralized_value
            else None
        )
        total = torch.zeros((), device=self.device)
        parts: dict[str, torch.Tensor] = {}
        for a in self.agents:
            agent_total, agent_parts = self.agent_loss(a, flat[a], idx, vobs, ent_coef)
            total = total + agent_total
            parts.update(agent_parts)
        parts["total"] = total.detach()
        return total, parts

    def agent_loss(
        self,
        agent: str,
        f: dict[str, torch.Tensor],
        idx: torch.Tensor,
        vobs: torch.Tensor | None,
        ent_coef: float,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One agent's PPO + aux loss on the samples ``idx`` of its flattened rollout
        ``f`` (:meth:`flatten`), and its named parts (detached)."""
        p, w = self.ppo, self.wiring
        obs, value_obs = f["obs"][idx], vobs
        mask = f["active"][idx]
        if w is not None and agent in w.listeners:
            # The policy reads the wired message; the critic the stored one, so only
            # the listener's policy loss reaches the speaker.
            value_obs = obs if vobs is None else vobs
            obs = self._wired_obs(agent, f, idx)
        elif w is not None and agent == w.speaker:
            mask = torch.zeros_like(mask)  # trained through the listener only
        out = self.nets[agent](obs, value_obs, action=f["actions"][idx])
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
            ent_coef=ent_coef,
            clip_vloss=p.clip_vloss,
            mask=mask,
        )
        agent_total = loss + p.aux_coef * out.aux.total
        parts = {f"{agent}/{name}": value for name, value in info._asdict().items()}
        parts[f"{agent}/total"] = agent_total.detach()
        if agent in self.speakers:
            for name, value in out.aux._asdict().items():
                parts[f"{agent}/aux_{name}"] = value.detach()
        return agent_total, parts

    def train_iteration(self) -> IterationStats:
        """One rollout and one update."""
        t0 = time.perf_counter()
        with self._own_rng():
            rollouts, last_values = self.collect()
            losses = self.update(rollouts, last_values)
        s = self._stats
        episodes, ret, succ = torch.stack(
            [s.episodes, s.sum_return, s.sum_success]
        ).tolist()
        self._stats = self._new_stats() if episodes else s
        has_success = self._reports_success
        return IterationStats(
            iteration=self.iteration,
            env_steps=self.env_steps,
            episodes=int(episodes),
            success=succ / episodes if episodes and has_success else None,
            mean_return=ret / episodes if episodes else None,
            losses=losses,
            usage=self.channel_usage(),
            learning_rate=self.last_lr,
            entropy_coef=self.last_ent_coef,
            iteration_s=time.perf_counter() - t0,
        )

    # ------------------------------------------------------------------ eval
    def evaluate(
        self,
        episodes: int = 1000,
        *,
        seed: int | None = None,
        env_config: dict[str, Any] | None = None,
    ) -> EvalResult:
        """Greedy policies on ``episodes`` fresh episodes from another env seed.

        ``env_config`` overrides options of the training env's config (e.g. a
        held-out split); default: the training config.
        """
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"episodes must be a positive int, got {episodes!r}")
        with self._own_rng():
            return self._evaluate(episodes, seed, env_config or {})

    @torch.no_grad()
    def _evaluate(
        self, episodes: int, seed: int | None, overrides: dict[str, Any]
    ) -> EvalResult:
        seed = self.spec.seed + 1_000_003 if seed is None else seed
        n = min(episodes, EVAL_BATCH)
        config = {**self.spec.env_config, **overrides}
        env = envs.make_vec(self.spec.env, n, device=self.device, seed=seed, **config)
        was_training = self.modules.training
        self.modules.eval()
        obs, info = env.reset()
        active = info.active
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
            obs, rew, _, _, info = env.step(actions)
            for a in self.speakers:
                sel = active[a]
                tokens = outs[a].action
                msgs[a].append((tokens[:, None] if tokens.ndim == 1 else tokens)[sel])
                if info.meaning is not None:
                    means[a].append(info.meaning[sel])
            for a in self.agents:
                returns[a] += rew[a]
            done = info.done
            team = torch.stack([returns[a] for a in self.agents]).mean(0)
            finished.append(team[done])
            if info.success is not None:
                successes.append(info.success[done])
            done_count += int(done.sum())
            for a in self.agents:
                returns[a] = torch.where(done, 0.0, returns[a])
            active = info.active
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
            split=overrides.get("split"),
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
            "heard_from": self._heard_from,
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
        if self.wiring is not None and state.get("heard_from") is not None:
            self._heard_from = {
                k: v.to(self.device) for k, v in state["heard_from"].items()
            }
