"""The batched core every env is written on, and its PettingZoo and Gymnasium faces.

An environment is written **once**, as a subclass of :class:`BatchedEnv` whose whole
state is torch tensors of shape ``[num_envs, ...]`` on one device. The subclass
supplies four pure-tensor hooks and a frozen config dataclass; this module supplies
everything else, in one place:

* seeded reset (all randomness comes from one ``torch.Generator`` on the env's device),
* validation of actions at the boundary (agent names, dtype, shape, range, NaN), with
  the state unchanged when an action is rejected,
* the time limit and **auto-reset** (done envs are reset inside ``step``; the last
  observation of the finished episode is kept in ``infos[agent]["final_obs"]``),
* per-agent Gymnasium spaces (the spaces of *one* env; batched tensors add a leading
  ``num_envs`` axis).

Subclass hooks (all operate on the whole batch, no Python loop over envs or agents):

``_setup()``
    Load data and allocate the state tensors (``self.config`` and ``self.device`` are
    set; called once from ``__init__``).
``_build_spaces()``
    Return ``(observation_spaces, action_spaces)``, dicts keyed by agent.
``_reset_where(mask)``
    Resample the state of the envs where the bool tensor ``mask`` [N] is true.
``_step(actions)``
    Advance every env; return ``(rewards, terminated, infos)`` where ``rewards`` maps
    agent -> float tensor [N], ``terminated`` is a bool tensor [N] and ``infos`` maps
    agent -> dict of tensors [N, ...].
``_observe()``
    Return the observations, agent -> float tensor [N, *obs_shape].

Optional: ``_active()`` (which agents' actions count in the next step; default all),
``_success()`` (bool [N]: did the episode that ended at the last step succeed) and
``_meaning()`` ([N, k]: what the message agents talk about), both lifted by the core
into the typed :class:`StepInfo`; ``_infos()`` (the env's own per-agent info tensors,
added after reset and every step), ``render_text(index)`` and ``render_rgb(index)``.

Faces
-----
:class:`ParallelFace` is the PettingZoo ``ParallelEnv`` view of a core with
``num_envs=1`` (numpy in, numpy out). :class:`AECFace` is its AEC form: PettingZoo's
own ``parallel_to_aec`` converter and order checks, except that each agent's action is
validated when it is given (not on the last agent's turn). :class:`GymFace` is the
Gymnasium ``Env`` view of a single-agent core. Every face forwards ``task_spec()`` to
its core (same signature).

Errors (the same in every face: batched, parallel, AEC, Gymnasium)
------------------------------------------------------------------
* A bad action (unknown or missing agent, wrong type, dtype, shape or range, NaN/inf,
  complex) raises ``TypeError`` (type/dtype) or ``ValueError`` (everything else)
  naming the agent, the expected and the received value, **before any state
  changes**: the env stays usable. Valid integer actions may have any signed or
  unsigned integer dtype; float actions any real float dtype.
* ``step`` before ``reset()``, or after the episode ended where a face does not
  auto-reset (the PettingZoo and Gymnasium faces, a core with ``autoreset=False``),
  raises :class:`ResetNeeded` (a ``RuntimeError``, and a subclass of Gymnasium's
  ``gymnasium.error.ResetNeeded``), state unchanged. In the AEC face an agent whose
  episode ended is still stepped with ``None`` (PettingZoo's protocol for removing
  finished agents); any other action for it, or any step once ``agents`` is empty,
  raises :class:`ResetNeeded`.
* A bad config key or value, ``num_envs`` or seed raises ``TypeError``/``ValueError``
  naming the key at construction (or at ``reset(seed=...)``), never later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import EzPickle
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec_wrapper
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

__all__ = [
    "AECFace",
    "BatchedEnv",
    "GymFace",
    "ParallelFace",
    "ProbeFeature",
    "ResetNeeded",
    "StepInfo",
    "TaskSpec",
    "aec_face",
    "to_numpy",
]

# Reserved info keys: the core writes them into the per-agent info dicts of the
# PettingZoo faces from the typed hooks (``_active``, ``_success``, ``_meaning``) and
# the auto-reset; env modules never set them.
SUCCESS, MEANING, ACTIVE, FINAL_OBS = "success", "meaning", "active", "final_obs"

MAX_SEED = 2**64 - 1
"""Largest seed (torch generators take 64-bit seeds)."""


class ResetNeeded(gymnasium.error.ResetNeeded, RuntimeError):
    """``step`` was called before ``reset()`` or after the episode ended.

    Raised identically by every face (batched core, PettingZoo parallel and AEC,
    Gymnasium); the env's state is unchanged, and ``reset()`` makes it usable again.
    A ``RuntimeError`` and a ``gymnasium.error.ResetNeeded``, so code catching either
    catches it.
    """


@dataclass(frozen=True)
class TaskSpec:
    """What the generalization-difficulty measure needs to know about a task.

    Read by :func:`analysis.difficulty.task_difficulty`.
    """

    obs_dim: int
    """Observation size of the acting agent, per step (flattened)."""
    act_dim: int
    """Action dimension (1 for a single discrete choice)."""
    history: int = 1
    """How many consecutive observations the optimal policy needs (1 = an MDP)."""
    delta: float = 1e-3
    """Resolution: the smallest input difference the policy must resolve."""
    eps: float = 1e-3
    """Default target error."""
    n_actions: int | None = None
    """Discrete choices of the acting agent; ``None`` for continuous actions."""
    description: str = ""
    """One line on what the numbers describe."""


@dataclass(frozen=True, eq=False)
class StepInfo(Mapping):
    """What a batched step (or reset) tells a trainer, beyond observations and rewards.

    The typed env→trainer contract: trainers read these fields, never info keys.
    For PettingZoo-style code it is also a read-only mapping ``agent -> dict`` of
    tensors (``info["listener"]["active"]``), holding the same tensors plus the env's
    own extra entries (e.g. ``target``, ``message``).

    Attributes
    ----------
    active : dict of str to Tensor
        Per agent, bool ``[N]``: whether its action counts in the *next* step (the
        listener waits while the speaker talks).
    done : Tensor
        Bool ``[N]``: the episode ended at this step (terminated or truncated); all
        false after a reset. Every agent's episode ends together.
    truncated : Tensor
        Bool ``[N]``: ended by the time limit (bootstrap from ``final_obs``).
    success : Tensor or None
        Bool ``[N]``: whether the episode that ended here succeeded (read it where
        ``done``); ``None`` for envs without a notion of success.
    meaning : Tensor or None
        ``[N, k]`` what the message agents talk about in the episode of this step
        (attribute values, a label); ``None`` for envs that declare none.
    final_obs : dict of str to Tensor or None
        With auto-reset, each agent's observation at the end of the step, before the
        finished envs were reset (the one to bootstrap a truncation from).
    """

    active: dict[str, torch.Tensor]
    done: torch.Tensor
    truncated: torch.Tensor
    success: torch.Tensor | None
    meaning: torch.Tensor | None
    final_obs: dict[str, torch.Tensor] | None
    by_agent: dict[str, dict[str, torch.Tensor]]

    def __getitem__(self, agent: str) -> dict[str, torch.Tensor]:
        return self.by_agent[agent]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_agent)

    def __len__(self) -> int:
        return len(self.by_agent)


@dataclass(frozen=True)
class ProbeFeature:
    """One ground-truth feature an env declares for probing representations.

    Returned by :meth:`BatchedEnv.probe_feature_specs`; the values come from
    :meth:`BatchedEnv.probe_features` under the same ``name``.
    """

    name: str
    """Key in ``probe_features(agent)``."""
    kind: Literal["continuous", "categorical"]
    """``"continuous"``: float values; ``"categorical"``: int64 class ids."""
    shape: tuple[int, ...] = ()
    """Shape per env: ``()`` for a ``[N]`` tensor, ``(k,)`` for ``[N, k]``."""
    n_classes: int | None = None
    """Number of classes (ids ``0 .. n_classes - 1``) of a categorical feature."""
    description: str = ""
    """What the feature is, with units."""


@dataclass(frozen=True)
class EnvConfig:
    """Base of every env's config. Subclasses add fields and validate them."""

    max_steps: int | None = None
    """Truncate an episode after this many steps (``None``: the env's own default)."""


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """Copy a tensor to a numpy array on the host."""
    return x.detach().cpu().numpy()


def _space_dtype(space: spaces.Space) -> torch.dtype:
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete):
        return torch.int64
    if isinstance(space, spaces.Box):
        return torch.float32
    raise TypeError(f"unsupported space {space!r}")


class BatchedEnv:
    """Base class of the batched environment cores.

    Parameters
    ----------
    num_envs : int
        Number of environments stepped together as one tensor batch.
    device : str or torch.device
        Where the state lives (``"cpu"``, ``"cuda"``, ...).
    seed : int, optional
        Seed of the env's generator. ``reset(seed=...)`` re-seeds it.
    autoreset : bool
        Reset finished envs inside ``step`` (the default; the PettingZoo face turns it
        off so an episode ends as PettingZoo expects).
    **config
        The env's options: fields of its ``Config`` dataclass. An unknown key raises
        ``TypeError`` naming it and the allowed keys.
    """

    name: ClassVar[str] = "batched_env"
    Config: ClassVar[type[EnvConfig]] = EnvConfig
    possible_agents: ClassVar[tuple[str, ...]] = ()
    default_max_steps: ClassVar[int] = 1
    render_modes: ClassVar[tuple[str, ...]] = ("ansi",)
    message_agents: ClassVar[tuple[str, ...]] = ()
    """Agents whose action is a message (trainers give them a message channel)."""

    def __init__(
        self,
        num_envs: int = 1,
        *,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        autoreset: bool = True,
        **config: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer):
            raise TypeError(f"{self.name}: num_envs must be an int, got {num_envs!r}")
        if num_envs < 1:
            raise ValueError(f"{self.name}: num_envs must be >= 1, got {num_envs}")
        self.config = self.make_config(**config)
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.autoreset = bool(autoreset)
        self.max_steps = int(
            self.config.max_steps
            if self.config.max_steps is not None
            else self.default_max_steps
        )
        self.generator = torch.Generator(device=self.device)
        self._seed(seed)
        self._setup()
        self._observation_spaces, self._action_spaces = self._build_spaces()
        self._action_dtypes = {
            a: _space_dtype(s) for a, s in self._action_spaces.items()
        }
        self.elapsed = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._ready = False

    # ------------------------------------------------------------------ config
    @classmethod
    def make_config(cls, **config: Any) -> EnvConfig:
        """Build and validate the env's frozen config from keyword options."""
        allowed = [f.name for f in dataclasses.fields(cls.Config)]
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            raise TypeError(
                f"{cls.name}: unknown config key {unknown[0]!r}; "
                f"expected one of {allowed}"
            )
        cfg = cls.Config(**config)
        steps = cfg.max_steps
        if steps is not None and (
            isinstance(steps, bool | np.bool_)  # a bool is not a size
            or not isinstance(steps, int | np.integer)
            or steps < 1
        ):
            raise ValueError(
                f"{cls.name}: max_steps must be a positive int or None, "
                f"got {cfg.max_steps!r}"
            )
        return cfg

    # ------------------------------------------------------------------ spaces
    @property
    def agents(self) -> list[str]:
        """All agents (a batched core never removes agents)."""
        return list(self.possible_agents)

    def observation_space(self, agent: str) -> spaces.Space:
        """Observation space of ``agent`` in one env (the same object every call)."""
        self._check_agent(agent)
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """Action space of ``agent`` in one env (the same object every call)."""
        self._check_agent(agent)
        return self._action_spaces[agent]

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise ValueError(
                f"{self.name}: unknown agent {agent!r}; "
                f"expected one of {list(self.possible_agents)}"
            )

    # ------------------------------------------------------------------ api
    def check_seed(self, seed: Any) -> int | None:
        """``seed`` as a Python int (or ``None``); ``TypeError``/``ValueError`` if it
        is not an int in ``[0, 2**64 - 1]``."""
        if seed is None:
            return None
        if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
            raise TypeError(f"{self.name}: seed must be an int or None, got {seed!r}")
        if not 0 <= int(seed) <= MAX_SEED:
            raise ValueError(
                f"{self.name}: seed must be in [0, 2**64 - 1], got {int(seed)}"
            )
        return int(seed)

    def _seed(self, seed: int | None) -> None:
        seed = self.check_seed(seed)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
            seed &= (1 << 63) - 1
        self.generator.manual_seed(seed)

    def reset(
        self, *, seed: int | None = None
    ) -> tuple[dict[str, torch.Tensor], StepInfo]:
        """Reset every env. Returns ``(observations, info)``, batched per agent.

        ``seed`` (an int in ``[0, 2**64 - 1]``) re-seeds the env; a bad seed raises
        before anything changes.
        """
        if seed is not None:
            self._seed(seed)
        everything = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._reset_where(everything)
        self.elapsed.zero_()
        self._ready = True
        never = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        info = self._step_info(
            self._infos(), never, never, None, self._success(), self._meaning()
        )
        return self._observe(), info

    def step(
        self, actions: Mapping[str, torch.Tensor]
    ) -> tuple[
        dict[str, torch.Tensor],
        dict[str, torch.Tensor],
        dict[str, torch.Tensor],
        dict[str, torch.Tensor],
        StepInfo,
    ]:
        """Step every env with one batched action tensor per agent.

        Returns ``(observations, rewards, terminations, truncations, info)``: the
        first four are dicts keyed by agent of tensors with leading dimension
        ``num_envs``; ``info`` is a :class:`StepInfo`. With ``autoreset`` the envs
        that finished are reset before the observations are returned, and
        ``info.final_obs`` holds the observations their episode ended on. ``info``
        describes the step just taken (before any reset), except ``info.active``,
        which says whose action counts in the *next* step.

        Raises :class:`ResetNeeded` before ``reset()`` (and, with
        ``autoreset=False``, once every env's episode ended), ``TypeError`` /
        ``ValueError`` for bad actions; the state is then unchanged.
        """
        self.require_ready()
        return self._advance(self.check_actions(actions))

    def require_ready(self) -> None:
        """Raise :class:`ResetNeeded` unless ``step`` may be called now."""
        if not self._ready:
            raise ResetNeeded(
                f"{self.name}: step() needs reset() first (it was called before "
                "reset() or after the episode ended)"
            )

    def _advance(self, actions: dict[str, torch.Tensor], *, typed: bool = True):
        """``step`` after validation: ``actions`` are known to be valid tensors.

        ``typed=False`` (the one-env faces, which hand PettingZoo per-agent dicts)
        returns the per-agent info dicts instead of a :class:`StepInfo`.
        """
        rewards, terminated, step_infos = self._step(actions)
        self.elapsed += 1
        truncated = (self.elapsed >= self.max_steps) & ~terminated
        done = terminated | truncated
        obs = self._observe()
        # The step's outcome, read before any reset changes the state.
        success, meaning = self._success(), self._meaning()
        infos = self._infos()
        for agent, extra in step_infos.items():
            infos[agent].update(extra)
        final_obs = None
        if self.autoreset:
            final_obs = obs
            # Reset under the mask every step, so the generator's stream does not
            # depend on whether an env finished.
            self._reset_where(done)
            self.elapsed = torch.where(done, 0, self.elapsed)
            if bool(done.any()):  # else the reset changed nothing: reuse ``obs``
                obs = self._observe()
                # Infos describe the step just taken; only ``active`` looks ahead.
                for agent, active in self._active().items():
                    infos[agent][ACTIVE] = active
            for agent in self.possible_agents:
                infos[agent][FINAL_OBS] = final_obs[agent]
        else:
            self._ready = not bool(done.all())
        terms = dict.fromkeys(self.possible_agents, terminated)
        truncs = dict.fromkeys(self.possible_agents, truncated)
        info = self._step_info(infos, done, truncated, final_obs, success, meaning)
        return obs, rewards, terms, truncs, (info if typed else info.by_agent)

    def _step_info(
        self,
        infos: dict[str, dict[str, torch.Tensor]],
        done: torch.Tensor,
        truncated: torch.Tensor,
        final_obs: dict[str, torch.Tensor] | None,
        success: torch.Tensor | None,
        meaning: torch.Tensor | None,
    ) -> StepInfo:
        """The :class:`StepInfo` of a step (or reset) from the env's typed hooks.

        ``success`` and ``meaning`` are one value per env, from :meth:`_success` and
        :meth:`_meaning`; the core also writes them (and ``active``, from
        :meth:`_active` unless the step set it for the next step) into every
        agent's info dict under the reserved keys, for the PettingZoo faces. Env
        modules never write those keys themselves.
        """
        for agent, d in infos.items():
            if SUCCESS in d or MEANING in d:
                raise RuntimeError(
                    f"{self.name}: _infos()/_step() set a reserved info key "
                    f"({SUCCESS!r}/{MEANING!r}) for {agent!r}; implement "
                    "_success() / _meaning() instead"
                )
            if success is not None:
                d[SUCCESS] = success
            if meaning is not None:
                d[MEANING] = meaning
        return StepInfo(
            active={a: infos[a][ACTIVE] for a in self.possible_agents},
            done=done,
            truncated=truncated,
            success=success,
            meaning=meaning,
            final_obs=final_obs,
            by_agent=infos,
        )

    def check_actions(self, actions: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Validate a dict of batched actions; raise before any state changes.

        Every agent needs an action each step (an inactive agent's action is ignored,
        but must still be valid). Raises ``TypeError`` for a wrong type or dtype and
        ``ValueError`` for a wrong agent, shape, range or a NaN, naming the agent, the
        expected and the received value.
        """
        if not isinstance(actions, Mapping):
            raise TypeError(
                f"{self.name}: actions must be a dict agent -> tensor, "
                f"got {type(actions).__name__}"
            )
        missing = [a for a in self.possible_agents if a not in actions]
        extra = [a for a in actions if a not in self.possible_agents]
        if missing or extra:
            raise ValueError(
                f"{self.name}: actions must have exactly the agents "
                f"{list(self.possible_agents)}; missing {missing}, unexpected {extra}"
            )
        return {a: self._check_action(a, actions[a]) for a in self.possible_agents}

    def _check_action(self, agent: str, action: Any) -> torch.Tensor:
        space = self._action_spaces[agent]
        shape = (self.num_envs, *space.shape)
        if not isinstance(action, torch.Tensor):
            raise TypeError(
                f"{self.name}: action for agent {agent!r} must be a torch.Tensor of "
                f"shape {shape}, got {type(action).__name__}"
            )
        if tuple(action.shape) != shape:
            raise ValueError(
                f"{self.name}: action for agent {agent!r} must have shape {shape}, "
                f"got {tuple(action.shape)}"
            )
        if action.is_complex():
            raise TypeError(
                f"{self.name}: action for agent {agent!r} must be real, got dtype "
                f"{action.dtype}"
            )
        if action.device != self.device:
            action = action.to(self.device)
        want = self._action_dtypes[agent]
        if want is torch.int64:
            if action.is_floating_point() or action.dtype == torch.bool:
                raise TypeError(
                    f"{self.name}: action for agent {agent!r} must be an integer "
                    f"tensor, got dtype {action.dtype}"
                )
            # Any integer dtype, compared as int64 (torch has no comparisons for
            # uint16/32/64); uint64 values >= 2**63 wrap negative and are flagged.
            ints = action.long()
            high = (
                space.n + space.start
                if isinstance(space, spaces.Discrete)
                else torch.as_tensor(space.nvec, device=self.device)
            )
            low = space.start if isinstance(space, spaces.Discrete) else 0
            bad = (ints < low) | (ints >= high)
            if action.dtype == torch.uint64:
                bad |= ints < 0
            if bool(bad.any()):
                first = int(bad.flatten().nonzero()[0, 0])
                got = ints.flatten()[first].item()
                if action.dtype == torch.uint64 and got < 0:
                    got += 2**64
                raise ValueError(
                    f"{self.name}: action for agent {agent!r} out of range: expected "
                    f"values in {space}, got {got}"
                )
            return ints
        if not action.is_floating_point():
            raise TypeError(
                f"{self.name}: action for agent {agent!r} must be a float tensor, "
                f"got dtype {action.dtype}"
            )
        if not bool(torch.isfinite(action).all()):
            raise ValueError(
                f"{self.name}: action for agent {agent!r} must be finite, got NaN/inf"
            )
        low = torch.as_tensor(space.low, device=self.device)
        high = torch.as_tensor(space.high, device=self.device)
        if bool(((action < low) | (action > high)).any()):
            raise ValueError(
                f"{self.name}: action for agent {agent!r} out of range: expected "
                f"values in [{space.low.min()}, {space.high.max()}], got "
                f"[{action.min().item():.4g}, {action.max().item():.4g}]"
            )
        return action.float()

    # ------------------------------------------------------------------ hooks
    def _setup(self) -> None:
        """Load data and allocate state; ``self.config`` and ``self.device`` are set."""

    def _build_spaces(
        self,
    ) -> tuple[dict[str, spaces.Space], dict[str, spaces.Space]]:
        raise NotImplementedError

    def _reset_where(self, mask: torch.Tensor) -> None:
        raise NotImplementedError

    def _step(
        self, actions: dict[str, torch.Tensor]
    ) -> tuple[
        dict[str, torch.Tensor], torch.Tensor, dict[str, dict[str, torch.Tensor]]
    ]:
        raise NotImplementedError

    def _observe(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _active(self) -> dict[str, torch.Tensor]:
        """Which agents' actions count in the next step (default: all of them)."""
        on = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        return dict.fromkeys(self.possible_agents, on)

    def _infos(self) -> dict[str, dict[str, torch.Tensor]]:
        """Per-agent infos after reset and after every step: ``active`` (from
        :meth:`_active`) plus the env's own entries. Subclasses extend the dicts
        of ``super()._infos()``; the reserved ``success``/``meaning`` keys come from
        :meth:`_success`/:meth:`_meaning`, never from here."""
        return {a: {ACTIVE: act} for a, act in self._active().items()}

    def _success(self) -> torch.Tensor | None:
        """Bool ``[N]``: whether the episode that ended at the last step succeeded
        (read where it ended); ``None`` (default) for envs without a notion of
        success. Called after the step, before any reset."""
        return None

    def _meaning(self) -> torch.Tensor | None:
        """``[N, k]``: what the message agents talk about in the current episode
        (attribute values, a label); ``None`` (default) for envs without one."""
        return None

    def obs_parts(self, agent: str) -> dict[str, tuple[int, ...]]:
        """Named parts of ``agent``'s flat observation, for networks that use them.

        Maps a part name to ``(start, stop)`` or, for a part made of equal items,
        ``(start, stop, n_items)``. Known names: ``"candidates"`` (objects a choice
        is made among, one per action), ``"message"``. Default: no parts.
        """
        self._check_agent(agent)
        return {}

    def task_spec(self) -> TaskSpec:
        """The task's numbers for :func:`analysis.difficulty.task_difficulty`."""
        raise NotImplementedError

    def probe_feature_specs(self, agent: str) -> tuple[ProbeFeature, ...]:
        """The ground-truth features this env declares for probing ``agent``.

        Default: none (an env that declares nothing cannot be probed).
        """
        self._check_agent(agent)
        return ()

    def probe_features(self, agent: str) -> dict[str, torch.Tensor]:
        """Ground-truth features aligned with the current observations of ``agent``.

        Maps each name of :meth:`probe_feature_specs` to a tensor ``[N, *shape]``
        (float32 for continuous features, int64 class ids for categorical ones)
        describing the state the latest observations (of ``reset`` or ``step``) show.
        """
        self._check_agent(agent)
        return {}

    def render_text(self, index: int = 0) -> str:
        """A text picture of env ``index``."""
        return f"{self.name}[{index}] step {int(self.elapsed[index])}"

    def render_rgb(self, index: int = 0) -> np.ndarray:
        """An RGB picture of env ``index`` (only envs listing ``rgb_array``)."""
        raise NotImplementedError(f"{self.name} has no rgb_array render")

    # ------------------------------------------------------------------ state
    def active(self) -> dict[str, torch.Tensor]:
        """Which agents' actions count in the next step, ``agent -> bool [N]``."""
        return self._active()

    def state_dict(self) -> dict[str, Any]:
        """The full batched state: the public tensor attributes plus the generator.

        Convention: state tensors are public attributes; fixed data an env loads in
        ``_setup`` (image tables, payoff tables) is kept under ``_``-names and is not
        part of the state.
        """
        tensors = {
            k: v.clone()
            for k, v in vars(self).items()
            if isinstance(v, torch.Tensor) and not k.startswith("_")
        }
        return {
            "tensors": tensors,
            "generator": self.generator.get_state(),
            "ready": self._ready,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` taken from an env of the same config."""
        for key, value in state["tensors"].items():
            current = getattr(self, key, None)
            if not isinstance(current, torch.Tensor) or current.shape != value.shape:
                raise ValueError(
                    f"{self.name}: state tensor {key!r} does not match this env "
                    f"(expected {getattr(current, 'shape', None)}, got {value.shape})"
                )
            setattr(self, key, value.to(self.device))
        self.generator.set_state(state["generator"])
        self._ready = bool(state["ready"])

    # ------------------------------------------------------------------ misc
    def to(self, device: str | torch.device) -> BatchedEnv:
        """A copy of this env's config on another device (state is not moved)."""
        return type(self)(
            self.num_envs,
            device=device,
            autoreset=self.autoreset,
            **dataclasses.asdict(self.config),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_envs={self.num_envs}, device={self.device})"


def _action_to_tensor(core: BatchedEnv, agent: str, action: Any) -> torch.Tensor:
    """One env's action (numpy / Python scalar), validated with numpy, as a batch of
    one. Raises like :meth:`BatchedEnv.check_actions` (cheaper for a single env)."""
    space = core.action_space(agent)
    try:
        arr = np.asarray(action)
    except (TypeError, ValueError, RuntimeError) as exc:  # ragged, exotic dtypes
        where = f"{core.name}: action for agent {agent!r}"
        raise TypeError(f"{where} is not a numeric array: {exc}") from None
    if isinstance(space, spaces.Discrete) and arr.ndim == 0 and arr.dtype.kind in "iu":
        value = int(arr)  # the common case, checked without numpy reductions
        if space.start <= value < space.start + space.n:
            # One tensor per valid choice, made once: torch.tensor costs a few
            # microseconds, a step of one env about a hundred. Cores only read
            # their actions, never write them.
            cache = core.__dict__.setdefault("_scalar_actions", {})
            key = (agent, value)
            if key not in cache:
                cache[key] = torch.tensor([value])
            return cache[key]
    where = f"{core.name}: action for agent {agent!r}"
    if arr.dtype.kind == "c":
        raise TypeError(f"{where} must be real, got dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where} must be numeric, got {action!r}")
    if arr.shape != space.shape:
        raise ValueError(f"{where} must have shape {space.shape}, got {arr.shape}")
    if isinstance(space, spaces.Box):
        if arr.dtype.kind != "f":
            raise TypeError(f"{where} must be a float, got dtype {arr.dtype}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{where} must be finite, got NaN/inf")
        if (arr < space.low).any() or (arr > space.high).any():
            raise ValueError(
                f"{where} out of range: expected values in [{space.low.min()}, "
                f"{space.high.max()}], got {arr}"
            )
        return torch.from_numpy(np.array(arr, dtype=np.float32)).unsqueeze(0)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{where} must be an integer, got dtype {arr.dtype}")
    if isinstance(space, spaces.Discrete):
        low, high = int(space.start), int(space.start + space.n)
    else:
        low, high = 0, space.nvec
    if (arr < low).any() or (arr >= high).any():
        raise ValueError(f"{where} out of range: expected values in {space}, got {arr}")
    return torch.from_numpy(np.array(arr, dtype=np.int64)).unsqueeze(0)


def _first(value: torch.Tensor, memo: dict[int, Any] | None = None) -> Any:
    """Env 0 of a batched value: a numpy array (a copy), or a Python scalar.

    ``memo`` shares the conversion between the agents' dicts, which often hold the
    same tensor (one reward, one termination flag, one info tensor for all agents).
    """
    key = id(value)
    if memo is not None and key in memo:
        row = memo[key]
        return row.copy() if isinstance(row, np.ndarray) else row
    row = value.numpy()[0]
    row = row.copy() if row.ndim else row.item()
    if memo is not None:
        memo[key] = row
    return row


def _first_infos(
    infos: dict[str, dict[str, torch.Tensor]], memo: dict[int, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Infos of env 0 as numpy arrays / Python scalars."""
    by_agent = infos.by_agent if isinstance(infos, StepInfo) else infos
    return {a: {k: _first(v, memo) for k, v in d.items()} for a, d in by_agent.items()}


def _render(core: BatchedEnv, render_mode: str | None) -> str | np.ndarray | None:
    if render_mode is None:
        gymnasium.logger.warn("render() called without a render_mode")
        return None
    if render_mode == "rgb_array":
        return core.render_rgb(0)
    text = core.render_text(0)
    if render_mode == "human":
        print(text)
        return None
    return text


def _check_render_mode(core_cls: type[BatchedEnv], render_mode: str | None) -> None:
    modes = core_cls.render_modes
    if render_mode is not None and render_mode not in modes:
        raise ValueError(
            f"{core_cls.name}: render_mode must be one of {list(modes)} or None, "
            f"got {render_mode!r}"
        )


class ParallelFace(ParallelEnv, EzPickle):
    """PettingZoo ``ParallelEnv`` view of a batched core with ``num_envs=1``.

    Observations, rewards and infos are numpy / Python values; actions may be numpy
    arrays or Python ints. An episode ends for every agent at once (the envs of this
    suite end episodes for all agents together); ``agents`` is then empty until
    ``reset``, and ``step`` raises :class:`ResetNeeded`.
    """

    def __init__(
        self, core_cls: type[BatchedEnv], render_mode: str | None = None, **config: Any
    ) -> None:
        EzPickle.__init__(self, core_cls, render_mode=render_mode, **config)
        _check_render_mode(core_cls, render_mode)
        modes = core_cls.render_modes
        self.core = core_cls(1, device="cpu", autoreset=False, **config)
        self.metadata = {
            "name": core_cls.name,
            "render_modes": list(modes),
            "is_parallelizable": True,
        }
        self.render_mode = render_mode
        # The core's own list: it may depend on the config (e.g. n_agents).
        self.possible_agents = list(self.core.possible_agents)
        self.agents: list[str] = []
        self._needs_reset = True

    def observation_space(self, agent: str) -> spaces.Space:
        return self.core.observation_space(agent)

    def action_space(self, agent: str) -> spaces.Space:
        return self.core.action_space(agent)

    @property
    def max_steps(self) -> int:
        return self.core.max_steps

    @property
    def task_spec(self):
        """The core's ``task_spec`` (same signature): the task's difficulty numbers."""
        return self.core.task_spec

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.core.reset(seed=seed)
        self.agents = list(self.possible_agents)
        self._needs_reset = False
        return self._obs(obs), _first_infos(infos)

    def step(self, actions: Mapping[str, Any]):
        if self._needs_reset:
            raise ResetNeeded(
                f"{self.core.name}: step() needs reset() first (it was called before "
                "reset() or after the episode ended)"
            )
        if not isinstance(actions, Mapping):
            raise TypeError(
                f"{self.core.name}: actions must be a dict agent -> action, "
                f"got {type(actions).__name__}"
            )
        missing = [a for a in self.possible_agents if a not in actions]
        if missing:
            raise ValueError(
                f"{self.core.name}: actions must have every agent "
                f"{self.possible_agents}; missing {missing}"
            )
        batched = {}
        for agent, action in actions.items():
            self.core._check_agent(agent)
            batched[agent] = _action_to_tensor(self.core, agent, action)
        # Validated above with numpy: skip the core's tensor checks.
        obs, rew, term, trunc, infos = self.core._advance(batched, typed=False)
        # A batch of one: read values through numpy, each tensor once.
        memo: dict[int, Any] = {}
        terms = {a: bool(_first(t, memo)) for a, t in term.items()}
        truncs = {a: bool(_first(t, memo)) for a, t in trunc.items()}
        first = self.possible_agents[0]
        done = terms[first] or truncs[first]
        out = (
            {a: o.numpy()[0].copy() for a, o in obs.items()},
            {a: float(_first(r, memo)) for a, r in rew.items()},
            terms,
            truncs,
            _first_infos(infos, memo),
        )
        if done:
            self.agents = []
            self._needs_reset = True
        return out

    @staticmethod
    def _obs(obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {a: o.numpy()[0].copy() for a, o in obs.items()}

    def render(self) -> str | np.ndarray | None:
        return _render(self.core, self.render_mode)

    def close(self) -> None:
        """Nothing to release: the core holds only tensors."""

    def state(self) -> np.ndarray:
        return np.concatenate(
            [o[0].numpy().ravel() for o in self.core._observe().values()]
        )


class _ParallelToAEC(parallel_to_aec_wrapper):
    """PettingZoo's parallel-to-AEC converter, validating each action when given.

    The stock converter stores an action and validates it only on the last agent's
    turn (so a bad action of the first agent raises on another agent's step and
    sticks until ``reset``), and asserts on a finished agent's action. Here an
    action is checked on its own turn and raises before anything is stored.
    """

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        core = self.env.core
        if self.terminations[agent] or self.truncations[agent]:
            if action is not None:
                raise ResetNeeded(
                    f"{core.name}: the episode ended for agent {agent!r}: step it "
                    "with None (PettingZoo removes finished agents that way) or call "
                    "reset()"
                )
        else:
            _action_to_tensor(core, agent, action)  # raises naming the agent
        super().step(action)


class AECFace(OrderEnforcingWrapper):
    """PettingZoo ``AECEnv`` view of a :class:`ParallelFace` (agents take turns).

    PettingZoo's own ``parallel_to_aec`` converter and order checks, with two
    changes: each agent's action is validated on its own turn (``TypeError`` /
    ``ValueError`` naming the agent, nothing stored, the turn does not pass), and
    calls out of order raise :class:`ResetNeeded` instead of asserting or warning:
    ``step``, ``observe``, ``state``, ``render`` or ``agent_iter`` before ``reset()``,
    and ``step`` once ``agents`` is empty. ``unwrapped`` is the parallel face.
    """

    def __init__(self, parallel: ParallelFace) -> None:
        super().__init__(_ParallelToAEC(parallel))

    def _require_reset(self, what: str) -> None:
        if not self._has_reset:
            raise ResetNeeded(
                f"{self.unwrapped.core.name}: {what}() needs reset() first"
            )

    @property
    def task_spec(self):
        """The core's ``task_spec`` (same signature): the task's difficulty numbers."""
        return self.unwrapped.core.task_spec

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self.env.reset(seed=seed, options=options)  # a bad seed raises first
        self._has_reset = True
        self._has_updated = True

    def step(self, action: Any) -> None:
        self._require_reset("step")
        if not self.env.agents:
            raise ResetNeeded(
                f"{self.unwrapped.core.name}: step() called after the episode ended "
                "(no agents left); call reset()"
            )
        self.env.step(action)
        self._has_updated = True

    def observe(self, agent: str):
        self._require_reset("observe")
        return self.env.observe(agent)

    def state(self) -> np.ndarray:
        self._require_reset("state")
        return self.env.state()

    def render(self):
        self._require_reset("render")
        return self.env.render()

    def agent_iter(self, max_iter: int = 2**63):
        self._require_reset("agent_iter")
        return super().agent_iter(max_iter)


def aec_face(parallel: ParallelFace) -> AECFace:
    """The AEC form of a parallel face (what ``envs.make_aec`` returns)."""
    return AECFace(parallel)


class GymFace(gymnasium.Env, EzPickle):
    """Gymnasium ``Env`` view of one agent of a batched core with ``num_envs=1``.

    For single-agent tasks (``agent`` defaults to the core's only agent). Episode end
    follows Gymnasium: ``terminated`` for the task's own end, ``truncated`` for the
    time limit.
    """

    def __init__(
        self,
        core_cls: type[BatchedEnv],
        agent: str | None = None,
        render_mode: str | None = None,
        **config: Any,
    ) -> None:
        EzPickle.__init__(
            self, core_cls, agent=agent, render_mode=render_mode, **config
        )
        _check_render_mode(core_cls, render_mode)
        modes = core_cls.render_modes
        self.core = core_cls(1, device="cpu", autoreset=False, **config)
        agents = self.core.possible_agents
        if agent is None:
            if len(agents) != 1:
                raise ValueError(
                    f"{core_cls.name} has agents {list(agents)}: name the one to "
                    "control with agent=..."
                )
            agent = agents[0]
        if len(agents) != 1:
            raise ValueError(
                f"{core_cls.name}: a Gymnasium face needs a single-agent config, "
                f"got agents {list(agents)}"
            )
        self.agent = agent
        self.observation_space = self.core.observation_space(agent)
        self.action_space = self.core.action_space(agent)
        self.metadata = {"render_modes": list(modes), "render_fps": 50}
        self.render_mode = render_mode
        self._seeded = False

    @property
    def task_spec(self):
        """The core's ``task_spec`` (same signature): the task's difficulty numbers.

        Through ``gymnasium.make`` reach it as ``env.unwrapped.task_spec()`` (Gymnasium
        wrappers do not forward attributes).
        """
        return self.core.task_spec

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        seed = self.core.check_seed(seed)  # a bad seed raises before any change
        super().reset(seed=seed)
        if seed is None and not self._seeded:
            seed = int(self.np_random.integers(2**62))
        self._seeded = True
        obs, infos = self.core.reset(seed=seed)
        return _first(obs[self.agent]), _first_infos(infos)[self.agent]

    def step(self, action: Any):
        self.core.require_ready()
        tensor = _action_to_tensor(self.core, self.agent, action)
        obs, rew, term, trunc, infos = self.core._advance(
            {self.agent: tensor}, typed=False
        )
        a = self.agent
        return (
            _first(obs[a]),
            float(_first(rew[a])),
            bool(_first(term[a])),
            bool(_first(trunc[a])),
            _first_infos(infos)[a],
        )

    def render(self):
        return _render(self.core, self.render_mode)

    def close(self) -> None:
        """Nothing to release."""
