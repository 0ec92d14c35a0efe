"""RLlib env runners that step one batched env core per runner, in one call per step.

RLlib's own multi-agent runner steps ``num_envs_per_env_runner`` PettingZoo envs one
by one and keeps a ``MultiAgentEpisode`` per env, in Python, at every step; its
learner connectors then walk those episodes one by one again. With our envs' short
episodes (two steps in ``referential_v0``) that bookkeeping, not the env, is the
bound (``python -m bench.rllib`` prints the breakdown). This module is the thin
adapter that replaces it, selected with ``--env-runner batched`` (the default):

* :class:`BatchedEnvRunner` (an RLlib ``EnvRunner``, set with
  ``config.env_runners(env_runner_cls=...)``) owns one core
  ``envs.make_vec(name, num_envs_per_env_runner, seed=...)`` on the runner's device
  and, per step, runs each agent's RLModule once on the whole ``[N, obs]`` batch,
  samples with RLlib's own distribution classes, and steps every env in one call.
  Per ``sample()`` it returns one :class:`BatchedSample`: ``N x T`` env steps with
  GAE advantages and value targets already computed (with
  :func:`agents.ppo.compute_gae`, the native trainer's estimator, from the values
  the runner predicted while acting; a time-limit cut is bootstrapped from the
  value of the observation it cut off, a fragment end from the value of the next
  observation).
* :class:`BatchedSampleToBatch`, the learner connector of this path, concatenates
  the samples into the module-major train batch (one row per agent step; RLlib's
  PPO adds no artificial bootstrap rows here) and standardizes the advantages per
  module, as RLlib's GAE connector does.
* :meth:`BatchedSample.to_episodes` builds RLlib ``MultiAgentEpisode`` objects from
  a sample (what RLlib's default learner connectors expect), for checks and for
  pipelines that want episodes; the training path does not need them.

The same :class:`agents.rllib.AimRLModule`, :class:`agents.rllib.AimPPOLearner` and
:class:`agents.rllib.AimCallbacks` serve both paths. RLlib's per-episode callbacks
(``on_episode_start/step/end``) are not called here: the runner logs the quantities
of :class:`agents.rllib.AimCallbacks` (episodes, team return, success, and each
speaker's emitted symbols as one count table per ``sample()``) under the same keys,
and RLlib's own episode and step counters. ``on_sample_end`` is called. The env
reports each step through its typed :class:`envs.core.StepInfo` (whose actions count
next, the episode end, success, the final observations), never through info keys.

Not supported (each raises ``ValueError``): ``sample(num_episodes=...)`` (evaluation
runs through the native trainer), ``normalize_actions=True``, stateful modules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from agents.ppo import compute_gae
from agents.rllib import (
    ACTIVE,
    ADVANTAGES,
    VALUE_TARGETS,
    ConnectorV2,
    require_ray,
)

__all__ = [
    "BatchedEnvRunner",
    "BatchedSample",
    "BatchedSampleToBatch",
    "configure_batched",
]

try:
    from ray.rllib.core import COMPONENT_RL_MODULE
    from ray.rllib.core.columns import Columns
    from ray.rllib.env import INPUT_ENV_SINGLE_SPACES, INPUT_ENV_SPACES
    from ray.rllib.env.env_runner import ENV_STEP_FAILURE, EnvRunner
    from ray.rllib.utils.checkpoints import Checkpointable
except ImportError:  # pragma: no cover - the hint comes from require_ray()

    class EnvRunner:  # type: ignore[no-redef]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            require_ray()

    class Checkpointable:  # type: ignore[no-redef]
        pass


# ---------------------------------------------------------------------- sample
@dataclass(frozen=True)
class BatchedSample:
    """One ``sample()`` of a :class:`BatchedEnvRunner`: rows are env steps, env-major
    (row ``env * num_steps + t``), the same rows for every agent.

    ``columns[agent]`` holds, per row: ``obs``, ``actions``, ``action_logp``,
    ``vf_preds``, ``advantages``, ``value_targets`` (GAE, computed on the runner),
    ``active`` (the agent's action counted), ``rewards`` (raw, without the
    time-limit bootstrap). ``terminated``/``truncated`` say how a row's step ended its
    episode, ``episode_id``/``episode_t`` which episode and step a row is, and
    ``end_rows``/``end_obs`` hold the observation after every row that closes a
    chunk (an episode end or the last row of an env's fragment). ``agent_to_module``
    maps agents to RLlib module ids. Slicing (``sample[a:b]``) keeps all of this
    consistent, so RLlib can shard a sample over learners.
    """

    columns: dict[str, dict[str, np.ndarray]]
    terminated: np.ndarray
    truncated: np.ndarray
    episode_id: np.ndarray
    episode_t: np.ndarray
    end_rows: np.ndarray
    end_obs: dict[str, np.ndarray]
    agent_to_module: dict[str, str]
    agent_spaces: dict[str, tuple[spaces.Space, spaces.Space]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.terminated)

    def env_steps(self) -> int:
        """Env steps in this sample (one per row)."""
        return len(self)

    def agent_steps(self) -> int:
        """Agent steps: every agent acts at every env step."""
        return len(self) * len(self.columns)

    def __getitem__(self, index: slice) -> BatchedSample:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError(f"a BatchedSample slices by rows only, got {index!r}")
        start, stop, _ = index.indices(len(self))
        stop = max(start, stop)
        keep = (self.end_rows >= start) & (self.end_rows < stop)
        end_rows = self.end_rows[keep] - start
        end_obs = {a: o[keep] for a, o in self.end_obs.items()}
        last = stop - 1
        if start < stop < len(self) and not np.any(self.end_rows == last):
            # The slice cuts a chunk: its next observation is the next row's.
            end_rows = np.append(end_rows, last - start)
            end_obs = {
                a: np.concatenate([o, self.columns[a]["obs"][stop : stop + 1]])
                for a, o in end_obs.items()
            }
        return replace(
            self,
            columns={
                a: {k: v[start:stop] for k, v in cols.items()}
                for a, cols in self.columns.items()
            },
            terminated=self.terminated[start:stop],
            truncated=self.truncated[start:stop],
            episode_id=self.episode_id[start:stop],
            episode_t=self.episode_t[start:stop],
            end_rows=end_rows,
            end_obs=end_obs,
        )

    def slice(self, index: slice, len_lookback_buffer: int | None = None, **kw):
        """RLlib's episode slicing API (used when sharding over learners)."""
        return self[index]

    def to_episodes(self, agent_to_module_fn=None) -> list:
        """RLlib ``MultiAgentEpisode`` objects, one per episode chunk, in row order.

        A chunk whose episode started in an earlier sample continues it (same id,
        ``env_t_started`` > 0). Each agent's ``extra_model_outputs`` carry
        ``action_logp`` and ``vf_preds``; infos carry ``active``.
        """
        from ray.rllib.env.multi_agent_episode import MultiAgentEpisode

        agents = list(self.columns)
        mapping = dict(self.agent_to_module)
        fn = agent_to_module_fn or (lambda agent, episode=None, **kw: mapping[agent])
        end_at = {int(r): i for i, r in enumerate(self.end_rows)}
        episodes, start = [], 0
        for row in range(len(self)):
            if row not in end_at:
                continue
            rows = range(start, row + 1)
            obs = [{a: self.columns[a]["obs"][r] for a in agents} for r in rows] + [
                {a: self.end_obs[a][end_at[row]] for a in agents}
            ]
            infos = [
                {a: {"active": bool(self.columns[a]["active"][r])} for a in agents}
                for r in rows
            ] + [{a: {} for a in agents}]
            actions = [{a: self.columns[a]["actions"][r] for a in agents} for r in rows]
            rewards = [
                {a: float(self.columns[a]["rewards"][r]) for a in agents} for r in rows
            ]
            extra = [
                {
                    a: {
                        Columns.ACTION_LOGP: self.columns[a]["action_logp"][r],
                        Columns.VF_PREDS: self.columns[a]["vf_preds"][r],
                    }
                    for a in agents
                }
                for r in rows
            ]
            term, trunc = bool(self.terminated[row]), bool(self.truncated[row])
            episode = MultiAgentEpisode(
                id_=f"aim{int(self.episode_id[start])}",
                observations=obs,
                infos=infos,
                actions=actions,
                rewards=rewards,
                extra_model_outputs=extra,
                terminateds={"__all__": term, **dict.fromkeys(agents, term)},
                truncateds={"__all__": trunc, **dict.fromkeys(agents, trunc)},
                observation_space={a: self.agent_spaces[a][0] for a in agents},
                action_space={a: self.agent_spaces[a][1] for a in agents},
                env_t_started=int(self.episode_t[start]),
                len_lookback_buffer=0,
                agent_episode_ids={
                    a: f"aim{int(self.episode_id[start])}_{a}" for a in agents
                },
                agent_to_module_mapping_fn=fn,
            )
            episodes.append(episode.to_numpy())
            start = row + 1
        return episodes


# ---------------------------------------------------------------------- runner
@dataclass
class _Buffers:
    """Time-major ``[T, N, ...]`` buffers of one agent for one ``sample()``."""

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    bootstrap: torch.Tensor
    active: torch.Tensor
    final_obs: torch.Tensor


def _new_buffers(T: int, N: int, obs_sp, act_sp, device) -> _Buffers:
    f32 = {"dtype": torch.float32, "device": device}
    act_dtype = torch.float32 if isinstance(act_sp, spaces.Box) else torch.int64
    return _Buffers(
        obs=torch.zeros((T, N, *obs_sp.shape), **f32),
        actions=torch.zeros((T, N, *act_sp.shape), dtype=act_dtype, device=device),
        logp=torch.zeros((T, N), **f32),
        values=torch.zeros((T, N), **f32),
        rewards=torch.zeros((T, N), **f32),
        bootstrap=torch.zeros((T, N), **f32),
        active=torch.zeros((T, N), dtype=torch.bool, device=device),
        final_obs=torch.zeros((T, N, *obs_sp.shape), **f32),
    )


def _env_major(x: torch.Tensor) -> np.ndarray:
    """``[T, N, ...]`` -> ``[N * T, ...]`` numpy, row ``env * T + t``."""
    return x.transpose(0, 1).reshape(-1, *x.shape[2:]).cpu().numpy()


def _count_symbols(counts: torch.Tensor, tokens: torch.Tensor, active) -> None:
    """Add the tokens of the envs where the speaker's action counted to ``counts``
    ``[L, V]`` (the window of :func:`agents.results.symbol_usage`)."""
    tokens = tokens.reshape(len(tokens), -1)[active]
    pos = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
    counts.index_put_(
        (pos.reshape(-1), tokens.reshape(-1)),
        torch.ones((), device=tokens.device),
        accumulate=True,
    )


def _symbol_shape(space: spaces.Space) -> tuple[int, int]:
    if isinstance(space, spaces.Discrete):
        return 1, int(space.n)
    return len(space.nvec), int(space.nvec.max())


class BatchedEnvRunner(EnvRunner, Checkpointable):
    """An RLlib env runner over one batched core of ``num_envs_per_env_runner`` envs.

    Reads from the config: ``env_config`` (``"aim_env"``: the env name; the rest:
    its options), ``num_envs_per_env_runner``, ``rollout_fragment_length`` (steps
    per ``sample()``), ``explore``, ``clip_actions``, ``gamma`` and ``lambda_`` (the
    GAE of PPO), ``policy_mapping_fn`` (called as ``fn(agent_id, None)``) and
    ``learner_config_dict["aim_speakers"]`` (whose symbols to count).
    """

    def __init__(self, config, **kwargs: Any) -> None:
        require_ray()
        super().__init__(config=config, **kwargs)
        if self.config.normalize_actions:
            raise ValueError(
                "BatchedEnvRunner: normalize_actions=True is not supported (actions "
                "are sampled in the env's units and clipped); set it to False"
            )
        from ray.rllib.callbacks.utils import make_callback
        from ray.rllib.utils import force_list
        from ray.rllib.utils.framework import get_device

        import envs

        self._make_callback = make_callback
        self._callbacks = [cls() for cls in force_list(self.config.callbacks_class)]
        self._device = get_device(
            self.config,
            0 if not self.worker_index else self.config.num_gpus_per_env_runner,
        )
        options = dict(self.config.env_config)
        self._env_name = options.pop("aim_env")
        self._env_options = options
        probe = envs.make_vec(self._env_name, 1, **options)
        self._agents = list(probe.possible_agents)
        self._spaces = {
            a: (probe.observation_space(a), probe.action_space(a)) for a in self._agents
        }
        self._agent_to_module = {
            a: self.config.policy_mapping_fn(a, None) for a in self._agents
        }
        speakers = self.config.learner_config_dict.get("aim_speakers", ())
        self._speakers = [a for a in self._agents if a in speakers]
        self.env = None
        self.num_envs = 0
        if (
            self.worker_index is None
            or self.worker_index > 0
            or self.config.num_env_runners == 0
        ):
            self.make_env()
        self.module = None
        self.make_module()
        self._weights_seq_no = 0
        self._time_after_sampling: float | None = None
        self._success_seen = False
        self._seeded = False

    # ------------------------------------------------------------------ setup
    def make_env(self) -> None:
        """(Re)build the core; the next ``sample()`` resets every env."""
        import envs

        self.num_envs = int(self.config.num_envs_per_env_runner)
        self.env = envs.make_vec(
            self._env_name,
            self.num_envs,
            device=self._device,
            seed=self._seed,
            **self._env_options,
        )
        self._needs_reset = True

    def make_module(self) -> None:
        spec = self.config.get_multi_rl_module_spec(
            spaces=self.get_spaces(), inference_only=True
        )
        self.module = spec.build()
        self.module.foreach_module(
            lambda mid, mod: (
                mod.to(self._device) if isinstance(mod, torch.nn.Module) else mod
            )
        )
        for mod in self.module._rl_modules.values():
            if isinstance(mod, torch.nn.Module):
                mod.eval()  # acting only (RLlib's forward passes toggle otherwise)
        for mid, mod in self.module._rl_modules.items():
            if mod.is_stateful():
                raise ValueError(
                    f"BatchedEnvRunner: module {mid!r} is stateful; not supported"
                )

    def get_spaces(self) -> dict:
        obs = spaces.Dict({a: s[0] for a, s in self._spaces.items()})
        act = spaces.Dict({a: s[1] for a, s in self._spaces.items()})
        out = {INPUT_ENV_SPACES: (obs, act), INPUT_ENV_SINGLE_SPACES: (obs, act)}
        for agent, module_id in self._agent_to_module.items():
            out.setdefault(module_id, self._spaces[agent])
        return out

    def assert_healthy(self) -> None:
        # A runner without a core is the driver's when remote runners sample.
        assert self.module is not None
        assert self.env is not None or (
            self.worker_index == 0 and self.config.num_env_runners > 0
        )

    def _reset(self) -> None:
        from ray.rllib.utils.metrics import ENV_RESET_TIMER

        with self.metrics.log_time(ENV_RESET_TIMER):
            # Seeded once, like RLlib's runners; later resets continue the stream.
            obs, info = self.env.reset(seed=None if self._seeded else self._seed)
        self._seeded = True
        N = self.num_envs
        self._obs = obs
        self._active = info.active
        self._returns = {a: torch.zeros(N, device=self._device) for a in self._agents}
        self._ep_t = torch.zeros(N, dtype=torch.int64, device=self._device)
        self._ep_id = torch.arange(N, dtype=torch.int64, device=self._device)
        self._next_id = N
        self._needs_reset = False

    # ------------------------------------------------------------------ acting
    def _act(self, agent: str, obs: torch.Tensor, explore: bool, random: bool):
        """``(actions, logp, values)`` of one agent on the whole batch."""
        module = self.module[self._agent_to_module[agent]]
        batch = {Columns.OBS: obs}
        out = (
            module.forward_exploration(batch)
            if explore
            else module.forward_inference(batch)
        )
        values = out.get(Columns.VF_PREDS)
        if values is None:
            values = module.compute_values(batch)
        cls = (
            module.get_exploration_action_dist_cls()
            if explore
            else module.get_inference_action_dist_cls()
        )
        dist = cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
        if not explore:
            dist = dist.to_deterministic()
        actions = self._random_actions(agent, len(obs)) if random else dist.sample()
        logp = dist.logp(actions)
        # RLlib's deterministic distribution gives per-component log-probs (zeros).
        return actions, logp.reshape(len(obs), -1).sum(-1), values

    def _random_actions(self, agent: str, n: int) -> torch.Tensor:
        space, dev = self._spaces[agent][1], self._device
        if isinstance(space, spaces.Discrete):
            return torch.randint(space.start, space.start + space.n, (n,), device=dev)
        if isinstance(space, spaces.MultiDiscrete):
            high = torch.as_tensor(space.nvec, device=dev)
            return (torch.rand((n, *space.shape), device=dev) * high).long()
        low = torch.as_tensor(space.low, device=dev)
        high = torch.as_tensor(space.high, device=dev)
        return low + torch.rand((n, *space.shape), device=dev) * (high - low)

    def _to_env(self, agent: str, actions: torch.Tensor) -> torch.Tensor:
        space = self._spaces[agent][1]
        if isinstance(space, spaces.Box) and self.config.clip_actions:
            low = torch.as_tensor(space.low, device=actions.device)
            high = torch.as_tensor(space.high, device=actions.device)
            return torch.maximum(torch.minimum(actions, high), low)
        return actions

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool | None = None,
        random_actions: bool = False,
        force_reset: bool = False,
        **kwargs: Any,
    ) -> list[BatchedSample]:
        """``[BatchedSample]`` of ``T`` steps of every env: ``T`` is
        ``rollout_fragment_length``, or ``ceil(num_timesteps / num_envs)``."""
        from ray.rllib.utils.metrics import SAMPLE_TIMER, TIME_BETWEEN_SAMPLING

        if self.env is None:
            raise ValueError(f"{self} has no env; it cannot sample")
        if num_episodes is not None:
            raise ValueError(
                "BatchedEnvRunner samples whole batches of steps; num_episodes is "
                "not supported (evaluate through agents.native.NativeTrainer)"
            )
        if self._time_after_sampling is not None:
            self.metrics.log_value(
                TIME_BETWEEN_SAMPLING, time.perf_counter() - self._time_after_sampling
            )
        explore = self.config.explore if explore is None else bool(explore)
        if num_timesteps is None:
            steps = int(self.config.get_rollout_fragment_length(self.worker_index))
        else:
            steps = max(1, -(-int(num_timesteps) // self.num_envs))
        with self.metrics.log_time(SAMPLE_TIMER):
            if force_reset or self._needs_reset:
                self._reset()
            with torch.no_grad():
                sample = self._sample(steps, explore, random_actions)
            self._make_callback(
                "on_sample_end",
                callbacks_objects=self._callbacks,
                callbacks_functions=self.config.callbacks_on_sample_end,
                kwargs={
                    "env_runner": self,
                    "metrics_logger": self.metrics,
                    "samples": [sample],
                },
            )
        self._time_after_sampling = time.perf_counter()
        return [sample]

    def _sample(self, T: int, explore: bool, random_actions: bool) -> BatchedSample:
        N, dev, agents = self.num_envs, self._device, self._agents
        while True:  # repeated only if an env step fails and the core is rebuilt
            bufs = {a: _new_buffers(T, N, *self._spaces[a], dev) for a in agents}
            term = torch.zeros((T, N), dtype=torch.bool, device=dev)
            trunc = torch.zeros((T, N), dtype=torch.bool, device=dev)
            ep_id = torch.zeros((T, N), dtype=torch.int64, device=dev)
            ep_t = torch.zeros((T, N), dtype=torch.int64, device=dev)
            success = torch.zeros((T, N), dtype=torch.bool, device=dev)
            team = torch.zeros((T, N), device=dev)  # mean over agents, at ends
            total = torch.zeros((T, N), device=dev)  # sum over agents, at ends
            per_agent = {a: torch.zeros((T, N), device=dev) for a in agents}
            length = torch.zeros((T, N), dtype=torch.int64, device=dev)
            symbols = {
                s: torch.zeros(_symbol_shape(self._spaces[s][1]), device=dev)
                for s in self._speakers
            }
            failed = False
            for t in range(T):
                obs, env_actions = self._obs, {}
                for a in agents:
                    b = bufs[a]
                    act, logp, values = self._act(a, obs[a], explore, random_actions)
                    b.obs[t], b.actions[t], b.logp[t], b.values[t] = (
                        obs[a],
                        act,
                        logp,
                        values,
                    )
                    b.active[t] = self._active[a]
                    env_actions[a] = self._to_env(a, act)
                result = self._try_env_step(env_actions)
                if result == ENV_STEP_FAILURE:  # the core was rebuilt: start over
                    self._reset()
                    failed = True
                    break
                next_obs, rew, _, _, info = result
                term[t], trunc[t] = info.done & ~info.truncated, info.truncated
                done = info.done
                ep_id[t], ep_t[t] = self._ep_id, self._ep_t
                self._ep_t += 1
                for s in self._speakers:
                    _count_symbols(symbols[s], bufs[s].actions[t], bufs[s].active[t])
                for a in agents:
                    b = bufs[a]
                    b.rewards[t] = rew[a]
                    self._returns[a] += rew[a]
                    if info.final_obs is not None:
                        b.final_obs[t] = info.final_obs[a]
                cut = trunc[t]
                if bool(cut.any()):
                    # A time-limit cut: bootstrap from the state it cut off.
                    for a in agents:
                        module = self.module[self._agent_to_module[a]]
                        final = info.final_obs[a][cut]
                        v = module.compute_values({Columns.OBS: final})
                        bufs[a].bootstrap[t, cut] = self.config.gamma * v
                if info.success is not None:
                    self._success_seen = True
                    success[t] = info.success & done
                rets = torch.stack([self._returns[a] for a in agents])
                team[t] = torch.where(done, rets.mean(0), 0.0)
                total[t] = torch.where(done, rets.sum(0), 0.0)
                for a in agents:
                    per_agent[a][t] = torch.where(done, self._returns[a], 0.0)
                    self._returns[a] = torch.where(done, 0.0, self._returns[a])
                length[t] = torch.where(done, self._ep_t, 0)
                k = int(done.sum())
                if k:
                    self._ep_id[done] = torch.arange(
                        self._next_id, self._next_id + k, device=dev
                    )
                    self._next_id += k
                self._ep_t = torch.where(done, 0, self._ep_t)
                self._active, self._obs = info.active, next_obs
            if not failed:
                break
        return self._finish(
            bufs,
            term,
            trunc,
            ep_id,
            ep_t,
            success,
            team,
            total,
            per_agent,
            length,
            symbols,
        )

    def _finish(
        self,
        bufs,
        term,
        trunc,
        ep_id,
        ep_t,
        success,
        team,
        total,
        per_agent,
        length,
        symbols,
    ) -> BatchedSample:
        T, N = term.shape
        done = term | trunc
        gamma, lam = float(self.config.gamma), float(self.config.lambda_)
        columns, end_obs = {}, {}
        last = torch.zeros((T, N), dtype=torch.bool, device=done.device)
        last[-1] = True
        ends = (done | last).transpose(0, 1).reshape(-1)
        end_rows = torch.nonzero(ends).flatten()
        for a, b in bufs.items():
            module = self.module[self._agent_to_module[a]]
            last_value = module.compute_values({Columns.OBS: self._obs[a]})
            adv, ret = compute_gae(
                b.rewards + b.bootstrap,
                b.values,
                done,
                last_value,
                gamma=gamma,
                gae_lambda=lam,
            )
            # The observation after each chunk's last row: the final one where the
            # episode ended, else the next observation (the fragment's end).
            after = b.final_obs.clone()
            after[-1] = torch.where(
                done[-1].reshape(N, *[1] * (after.dim() - 2)),
                b.final_obs[-1],
                self._obs[a],
            )
            end_obs[a] = _env_major(after)[end_rows.cpu().numpy()]
            columns[a] = {
                "obs": _env_major(b.obs),
                "actions": _env_major(b.actions),
                "action_logp": _env_major(b.logp),
                "vf_preds": _env_major(b.values),
                "advantages": _env_major(adv),
                "value_targets": _env_major(ret),
                "active": _env_major(b.active),
                "rewards": _env_major(b.rewards),
            }
        self._log_metrics(T * N, done, success, team, total, per_agent, length, symbols)
        return BatchedSample(
            columns=columns,
            terminated=_env_major(term),
            truncated=_env_major(trunc),
            episode_id=_env_major(ep_id),
            episode_t=_env_major(ep_t),
            end_rows=end_rows.cpu().numpy(),
            end_obs=end_obs,
            agent_to_module=dict(self._agent_to_module),
            agent_spaces=dict(self._spaces),
        )

    # ------------------------------------------------------------------ metrics
    def _log_metrics(
        self, steps, done, success, team, total, per_agent, length, symbols
    ) -> None:
        import math

        from ray.rllib.utils.metrics import (
            EPISODE_AGENT_RETURN_MEAN,
            EPISODE_LEN_MAX,
            EPISODE_LEN_MEAN,
            EPISODE_LEN_MIN,
            EPISODE_MODULE_RETURN_MEAN,
            EPISODE_RETURN_MAX,
            EPISODE_RETURN_MEAN,
            EPISODE_RETURN_MIN,
            NUM_AGENT_STEPS_SAMPLED,
            NUM_AGENT_STEPS_SAMPLED_LIFETIME,
            NUM_ENV_STEPS_SAMPLED,
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
            NUM_EPISODES,
            NUM_EPISODES_LIFETIME,
            NUM_MODULE_STEPS_SAMPLED,
            NUM_MODULE_STEPS_SAMPLED_LIFETIME,
        )

        m = self.metrics
        m.log_value(NUM_ENV_STEPS_SAMPLED, steps, reduce="sum")
        m.log_value(
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
            steps,
            reduce="lifetime_sum",
            with_throughput=True,
        )
        self.num_env_steps_sampled_lifetime += steps
        for a in self._agents:
            mid = self._agent_to_module[a]
            m.log_value((NUM_AGENT_STEPS_SAMPLED, a), steps, reduce="sum")
            m.log_value(
                (NUM_AGENT_STEPS_SAMPLED_LIFETIME, a), steps, reduce="lifetime_sum"
            )
            m.log_value((NUM_MODULE_STEPS_SAMPLED, mid), steps, reduce="sum")
            m.log_value(
                (NUM_MODULE_STEPS_SAMPLED_LIFETIME, mid), steps, reduce="lifetime_sum"
            )
        ends = done.transpose(0, 1).reshape(-1)  # env-major, like RLlib's order
        n_done = int(ends.sum())
        m.log_value(NUM_EPISODES, n_done, reduce="sum")
        m.log_value(NUM_EPISODES_LIFETIME, n_done, reduce="lifetime_sum")
        # The quantities of AimCallbacks.on_episode_end, summed over this sample.
        m.log_value(("aim", "episodes"), n_done, reduce="sum")
        m.log_value(("aim", "return_sum"), float(team.sum()), reduce="sum")
        if self._success_seen:
            m.log_value(("aim", "success_sum"), float(success.sum()), reduce="sum")
        for s, counts in symbols.items():
            m.log_value(("aim_symbols", s), counts.cpu().numpy(), reduce="item_series")
        if not n_done:
            return
        win = max(
            1,
            math.ceil(
                self.config.metrics_num_episodes_for_smoothing
                / (self.config.num_env_runners or 1)
            ),
        )

        def ended(x: torch.Tensor) -> np.ndarray:
            return x.transpose(0, 1).reshape(-1)[ends][-win:].cpu().numpy()

        returns, lengths = ended(total), ended(length)
        agent_returns = {a: ended(per_agent[a]) for a in self._agents}
        mids = {a: self._agent_to_module[a] for a in self._agents}
        log = self.metrics.log_value
        for i in range(len(returns)):
            ret, n = float(returns[i]), int(lengths[i])
            log(EPISODE_RETURN_MEAN, ret, window=win)
            log(EPISODE_LEN_MEAN, n, window=win)
            log(EPISODE_RETURN_MIN, ret, reduce="min", window=win)
            log(EPISODE_RETURN_MAX, ret, reduce="max", window=win)
            log(EPISODE_LEN_MIN, n, reduce="min", window=win)
            log(EPISODE_LEN_MAX, n, reduce="max", window=win)
            modules: dict[str, float] = {}
            for a in self._agents:
                value = float(agent_returns[a][i])
                log((EPISODE_AGENT_RETURN_MEAN, a), value, window=win)
                modules[mids[a]] = modules.get(mids[a], 0.0) + value
            for mid, value in modules.items():
                log((EPISODE_MODULE_RETURN_MEAN, mid), value, window=win)

    def get_metrics(self) -> dict:
        return self.metrics.reduce()

    # ------------------------------------------------------------------ state
    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict:
        from ray.rllib.utils.metrics import (
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
            WEIGHTS_SEQ_NO,
        )

        state = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.num_env_steps_sampled_lifetime}
        if self._check_component(COMPONENT_RL_MODULE, components, not_components):
            state[COMPONENT_RL_MODULE] = self.module.get_state(
                components=self._get_subcomponents(COMPONENT_RL_MODULE, components),
                not_components=self._get_subcomponents(
                    COMPONENT_RL_MODULE, not_components
                ),
                **kwargs,
            )
            state[WEIGHTS_SEQ_NO] = self._weights_seq_no
        return state

    def set_state(self, state: dict) -> None:
        import ray
        from ray.rllib.utils.metrics import (
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
            WEIGHTS_SEQ_NO,
        )

        if COMPONENT_RL_MODULE in state:
            seq = state.get(WEIGHTS_SEQ_NO, 0)
            if seq == 0 or self._weights_seq_no < seq:
                module_state = state[COMPONENT_RL_MODULE]
                if isinstance(module_state, ray.ObjectRef):
                    module_state = ray.get(module_state)
                self.module.set_state(module_state)
            if seq > 0:
                self._weights_seq_no = seq
        if NUM_ENV_STEPS_SAMPLED_LIFETIME in state:
            self.num_env_steps_sampled_lifetime = state[NUM_ENV_STEPS_SAMPLED_LIFETIME]

    def get_ctor_args_and_kwargs(self):
        return (), {"config": self.config}

    def get_checkpointable_components(self):
        return [(COMPONENT_RL_MODULE, self.module)]

    def stop(self) -> None:
        """Nothing to release: the core holds only tensors."""


# ---------------------------------------------------------------------- learner
class BatchedSampleToBatch(ConnectorV2):
    """Learner connector: :class:`BatchedSample` list -> module-major train batch.

    Columns per module (agents mapped to one module are concatenated): ``obs``,
    ``actions``, ``action_logp``, ``vf_preds``, ``advantages`` (standardized over the
    module's rows, as RLlib's GAE connector does), ``value_targets`` and
    ``aim_active``, as tensors on the module's device.
    """

    def __call__(self, *, rl_module, batch, episodes, **kwargs):
        if not episodes:
            return batch
        bad = [type(e).__name__ for e in episodes if not isinstance(e, BatchedSample)]
        if bad:
            raise TypeError(
                "BatchedSampleToBatch needs the samples of BatchedEnvRunner, got "
                f"{bad[0]} (use the batched env runner with this connector)"
            )
        parts: dict[str, dict[str, list[np.ndarray]]] = {}
        for sample in episodes:
            for agent, cols in sample.columns.items():
                module_parts = parts.setdefault(sample.agent_to_module[agent], {})
                for key in _TRAIN_COLUMNS:
                    module_parts.setdefault(key, []).append(cols[key])
        for module_id, cols in parts.items():
            if module_id not in rl_module:
                continue
            device = next(rl_module[module_id].parameters()).device
            data = {k: np.concatenate(v) for k, v in cols.items()}
            adv = data["advantages"]
            data["advantages"] = (adv - adv.mean()) / max(1e-4, float(adv.std()))
            batch[module_id] = {
                _TRAIN_COLUMNS[k]: torch.from_numpy(np.ascontiguousarray(v)).to(device)
                for k, v in data.items()
            }
        return batch


_TRAIN_COLUMNS = {
    "obs": "obs",
    "actions": "actions",
    "action_logp": "action_logp",
    "vf_preds": "vf_preds",
    "advantages": ADVANTAGES,
    "value_targets": VALUE_TARGETS,
    "active": ACTIVE,
}
"""Sample column -> train-batch column (RLlib's ``Columns`` names and ours)."""


def configure_batched(config):
    """Switch a ``PPOConfig`` built by :func:`agents.rllib.build_config` to the batched
    env runner and its learner connector (RLlib's default learner connectors, which
    walk episodes, are left out). Returns ``config``."""
    require_ray()
    return config.env_runners(env_runner_cls=BatchedEnvRunner).learners(
        learner_connector=_batched_connectors,
        add_default_connectors_to_learner_pipeline=False,
    )


def _batched_connectors(input_observation_space=None, input_action_space=None):
    return [BatchedSampleToBatch()]
