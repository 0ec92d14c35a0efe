"""# Reach: a point moves to a goal in `dim` dimensions

| | |
|---|---|
| Import | `envs.make("reach_v0")`, `from envs.reach import parallel_env`, `gymnasium.make("aim/Reach-v0")`, `gymnasium.make("aim/Reach-POMDP-v0")` |
| Agents | `mover` (and `speaker` with `speaker=True`) |
| Action spaces | mover: `Box(-1, 1, (dim,))`; speaker: `MultiDiscrete([vocab_size] * message_length)` |
| Observation spaces | mover: `Box(-1, 1, (dim + dim * goal_visible + message_length * vocab_size * speaker,))`; speaker: `Box(-1, 1, (dim,))` |
| Episode | terminates when the mover is within `delta` of the goal; truncates after `max_steps` (50) |

With the defaults (`dim=2`, `goal_visible=True`, `speaker=False`) the mover observes
`[position, goal]`, shape `(4,)`.

## Description
The mover is a point in the box `[-1, 1]^dim`; a goal is another point of the box.
Both are drawn uniformly at reset (independently: an episode may start within
tolerance, and then ends on its first step unless the mover moves away). Each step
the mover's position becomes `clip(position + max_speed * action, -1, 1)`.

* `goal_visible=True`: the mover sees the goal: an MDP.
* `goal_visible=False`: the mover sees only its own position: a POMDP in which the goal
  cannot be inferred from observations at all (rewards are not observed).
* `speaker=True` adds an agent `speaker` who sees the goal (not the mover) and each
  step sends a message of `message_length` symbols over `vocab_size`. The mover sees
  the message in its **next** observation, as `message_length` one-hot blocks of
  `vocab_size` (all zeros at reset, before anything was said). With a hidden goal,
  communication can turn the POMDP into an MDP: a speaker that encodes the goal
  finely enough gives the mover everything it needs in one observation.

Both agents act every step (`infos[agent]["active"]` is always true).

## Message controls
With a speaker, `message_control="mute"` makes the mover hear symbol 0 in every
position and `"shuffle"` the message said in the same step in another env of the
batch, a fresh random pairing each step (uniform random symbols with
`num_envs == 1`; see `envs.controls`). The speaker, both action spaces and everything
else are unchanged.

## Observations
* mover: `position` (`dim`), then `goal` (`dim`, only if `goal_visible`), then the
  heard message one-hot (`message_length * vocab_size`, only with a speaker).
* speaker: `goal` (`dim`).

## Rewards
Shared by all agents, after the move: `-distance(position, goal)` (Euclidean), plus a
bonus of `+1` on the step that reaches the goal (`distance <= delta`). Dense,
unshaped by potentials: the return favours short paths.

## Infos
Every agent's infos carry `active`, `goal` (`[dim]`, the "meaning"), `message`
(`[message_length]`, the last message; zeros before the speaker spoke and without a
speaker) and `heard_message` (what the mover heard of it, the same shape); after a
step also `distance` and `reached`.

## Probe features
`probe_features(agent)`: `goal` (the goal's coordinates, `[dim]`) and `goal_offset`
(goal minus the mover's position, `[dim]`), continuous, box units.

## Episode end
Terminated when `distance <= delta` (the bonus step). Truncated after `max_steps`
(default 50) steps if not terminated.

## Arguments
`dim` (int >= 1, default 2), `delta` (goal tolerance, float > 0, default 0.1),
`goal_visible` (bool, default True), `speaker` (bool, default False), `vocab_size`
(int >= 2, default 8), `message_length` (int >= 1, default 2), `max_steps` (int >= 1
or None for 50), `max_speed` (float > 0, default 0.1: the largest move per axis and
step), `message_control` (`"none"`, `"mute"`, `"shuffle"`; the last two need
`speaker=True`).

## Version History
* v0: initial version.
* v0 (2026-11-30, defaults unchanged): `message_control`; infos `heard_message`;
  `probe_features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from envs.controls import (
    MessageControl,
    MessageControlMixin,
    check_message_control,
    heard_message,
)
from envs.core import (
    BatchedEnv,
    EnvConfig,
    ParallelFace,
    ProbeFeature,
    TaskSpec,
    aec_face,
)

__all__ = ["Reach", "ReachConfig", "env", "parallel_env"]

MOVER, SPEAKER = "mover", "speaker"
BONUS = 1.0
"""Reward added on the step the goal is reached."""
MAX_STEPS = 50
"""Default time limit (steps)."""


@dataclass(frozen=True)
class ReachConfig(EnvConfig):
    """Options of ``reach_v0``."""

    dim: int = 2
    """Dimensions of the box ``[-1, 1]^dim``."""
    delta: float = 0.1
    """Goal tolerance: reached when the distance is at most ``delta``."""
    goal_visible: bool = True
    """Whether the mover observes the goal (False: a POMDP)."""
    speaker: bool = False
    """Add an agent ``speaker`` who sees the goal and sends messages to the mover."""
    vocab_size: int = 8
    """Symbols in the speaker's vocabulary."""
    message_length: int = 2
    """Symbols per message."""
    max_speed: float = 0.1
    """Largest move per axis and step (the action is scaled by it)."""
    message_control: MessageControl = "none"
    """What the mover hears of the speaker: the message (``"none"``), symbol 0
    (``"mute"``) or another env's message (``"shuffle"``); see :mod:`envs.controls`."""

    def __post_init__(self) -> None:
        for key, low in (("dim", 1), ("vocab_size", 2), ("message_length", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"reach_v0: {key} must be an int, got {value!r}")
            if value < low:
                raise ValueError(f"reach_v0: {key} must be >= {low}, got {value!r}")
        for key in ("delta", "max_speed"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(
                value, int | float | np.integer | np.floating
            ):
                raise TypeError(f"reach_v0: {key} must be a float, got {value!r}")
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"reach_v0: {key} must be > 0, got {value!r}")
        for key in ("goal_visible", "speaker"):
            value = getattr(self, key)
            if not isinstance(value, bool | np.bool_):
                raise TypeError(f"reach_v0: {key} must be a bool, got {value!r}")
        check_message_control("reach_v0", self.message_control)
        if self.message_control != "none" and not self.speaker:
            raise ValueError(
                f"reach_v0: message_control={self.message_control!r} needs "
                "speaker=True (without a speaker nothing is said)"
            )


class Reach(MessageControlMixin, BatchedEnv):
    """Batched point reaching with an optional speaker; see the module docstring."""

    name: ClassVar[str] = "reach_v0"
    Config = ReachConfig
    possible_agents: ClassVar[tuple[str, ...]] = (MOVER,)
    message_agents: ClassVar[tuple[str, ...]] = (SPEAKER,)
    default_max_steps: ClassVar[int] = MAX_STEPS
    render_modes: ClassVar[tuple[str, ...]] = ("ansi", "rgb_array")
    config: ReachConfig

    def _setup(self) -> None:
        c, n, dev = self.config, self.num_envs, self.device
        # Instance attribute: the agents depend on the config (speaker).
        self.possible_agents = (MOVER, SPEAKER) if c.speaker else (MOVER,)
        self.message_agents = (SPEAKER,) if c.speaker else ()
        self.position = torch.zeros(n, c.dim, device=dev)
        self.goal = torch.zeros(n, c.dim, device=dev)
        self.message = torch.zeros(n, c.message_length, dtype=torch.int64, device=dev)
        self.heard = torch.zeros_like(self.message)
        self.spoke = torch.zeros(n, dtype=torch.bool, device=dev)

    @property
    def mover_obs_dim(self) -> int:
        """Size of the mover's observation."""
        c = self.config
        return (
            c.dim
            + (c.dim if c.goal_visible else 0)
            + (c.message_length * c.vocab_size if c.speaker else 0)
        )

    def _build_spaces(self):
        c = self.config
        obs = {MOVER: spaces.Box(-1.0, 1.0, (self.mover_obs_dim,), np.float32)}
        act = {MOVER: spaces.Box(-1.0, 1.0, (c.dim,), np.float32)}
        if c.speaker:
            obs[SPEAKER] = spaces.Box(-1.0, 1.0, (c.dim,), np.float32)
            act[SPEAKER] = spaces.MultiDiscrete([c.vocab_size] * c.message_length)
        return obs, act

    # ------------------------------------------------------------------ hooks
    def _uniform_box(self) -> torch.Tensor:
        u = torch.rand(
            self.num_envs, self.config.dim, generator=self.generator, device=self.device
        )
        return 2 * u - 1

    def _reset_where(self, mask: torch.Tensor) -> None:
        position, goal = self._uniform_box(), self._uniform_box()
        m = mask[:, None]
        self.position = torch.where(m, position, self.position)
        self.goal = torch.where(m, goal, self.goal)
        self.message = torch.where(m, 0, self.message)
        self.heard = torch.where(m, 0, self.heard)
        self.spoke = torch.where(mask, False, self.spoke)

    def _step(self, actions):
        c = self.config
        move = c.max_speed * actions[MOVER]
        self.position = (self.position + move).clamp(-1.0, 1.0)
        if c.speaker:
            self.message = actions[SPEAKER].clone()
            self.heard = heard_message(
                self.message,
                c.message_control,
                generator=self._control_generator,
                constant=torch.zeros((), dtype=torch.int64, device=self.device),
                random_message=self._random_message,
            )
            self.spoke = torch.ones_like(self.spoke)
        distance = torch.linalg.vector_norm(self.position - self.goal, dim=1)
        reached = distance <= c.delta
        reward = -distance + BONUS * reached.float()
        rewards = dict.fromkeys(self.possible_agents, reward)
        extra = {"distance": distance, "reached": reached}
        infos = {a: dict(extra) for a in self.possible_agents}
        return rewards, reached, infos

    def _observe(self):
        c = self.config
        parts = [self.position]
        if c.goal_visible:
            parts.append(self.goal)
        if c.speaker:
            onehot = torch.nn.functional.one_hot(self.heard, c.vocab_size).flatten(1)
            parts.append(onehot.float() * self.spoke[:, None].float())
        obs = {MOVER: torch.cat(parts, dim=1)}
        if c.speaker:
            obs[SPEAKER] = self.goal.clone()
        return obs

    def _random_message(self) -> torch.Tensor:
        c = self.config
        return torch.randint(
            0,
            c.vocab_size,
            (self.num_envs, c.message_length),
            generator=self._control_generator,
            device=self.device,
        )

    def _infos(self):
        return {
            agent: {
                "active": active,
                "goal": self.goal,
                "message": self.message,
                "heard_message": self.heard,
            }
            for agent, active in self._active().items()
        }

    def probe_feature_specs(self, agent: str) -> tuple[ProbeFeature, ...]:
        """The goal's coordinates and its offset from the mover."""
        self._check_agent(agent)
        dim = self.config.dim
        return (
            ProbeFeature(
                "goal",
                "continuous",
                shape=(dim,),
                description="goal coordinates in [-1, 1]^dim",
            ),
            ProbeFeature(
                "goal_offset",
                "continuous",
                shape=(dim,),
                description="goal minus the mover's position",
            ),
        )

    def probe_features(self, agent: str) -> dict[str, torch.Tensor]:
        """Values of :meth:`probe_feature_specs`, each ``[N, dim]`` float32."""
        self._check_agent(agent)
        return {"goal": self.goal.clone(), "goal_offset": self.goal - self.position}

    # ------------------------------------------------------------------ misc
    def task_spec(self, agent: str = MOVER) -> TaskSpec:
        """Difficulty numbers of the mover's (default) or the speaker's policy.

        mover: ``obs_dim`` is its observation size, ``act_dim = dim`` (continuous),
        ``delta`` the goal tolerance, ``eps = 1e-3``. ``history`` is 1 when the goal
        is visible or a speaker can tell it. With a hidden goal and no speaker the
        goal is **not identifiable** from any number of observations; we model this
        as ``history = max_steps`` (the policy can only search, using its whole
        episode), the largest history an episode offers, and say so in
        ``description``. speaker: goal -> message (``obs_dim = dim``,
        ``act_dim = message_length``, ``n_actions = vocab_size``).
        """
        self._check_agent(agent)
        c = self.config
        if agent == SPEAKER:
            return TaskSpec(
                obs_dim=c.dim,
                act_dim=c.message_length,
                history=1,
                delta=float(c.delta),
                eps=1e-3,
                n_actions=c.vocab_size,
                description="speaker: goal -> message",
            )
        if c.goal_visible:
            history, what = 1, "goal visible (MDP)"
        elif c.speaker:
            history, what = 1, "goal hidden, told by the speaker's message"
        else:
            history = self.max_steps
            what = (
                "goal hidden and not identifiable: history = max_steps "
                "(search over the whole episode)"
            )
        return TaskSpec(
            obs_dim=self.mover_obs_dim,
            act_dim=c.dim,
            history=history,
            delta=float(c.delta),
            eps=1e-3,
            n_actions=None,
            description=f"mover in {c.dim}-D, {what}",
        )

    def _plane(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Position and goal of env ``index`` projected on the first two axes."""
        pos = np.zeros(2)
        goal = np.zeros(2)
        k = min(2, self.config.dim)
        pos[:k] = self.position[index, :k].cpu().numpy()
        goal[:k] = self.goal[index, :k].cpu().numpy()
        return pos, goal

    def render_text(self, index: int = 0) -> str:
        size = 21
        pos, goal = self._plane(index)
        cells = [["."] * size for _ in range(size)]

        def cell(p: np.ndarray) -> tuple[int, int]:
            col, row = np.rint((p + 1) / 2 * (size - 1)).astype(int)
            return size - 1 - int(row), int(col)

        r, c_ = cell(goal)
        cells[r][c_] = "G"
        r, c_ = cell(pos)
        cells[r][c_] = "@" if cells[r][c_] == "G" else "M"
        distance = float(
            torch.linalg.vector_norm(self.position[index] - self.goal[index])
        )
        lines = [
            f"reach_v0 step {int(self.elapsed[index])} distance {distance:.3f} "
            f"(delta {self.config.delta})"
        ]
        if self.config.speaker:
            lines.append(f"message: {self.message[index].tolist()}")
        lines += ["".join(row) for row in cells]
        lines.append("(axes 0, 1; M mover, G goal, @ both)")
        return "\n".join(lines)

    def render_rgb(self, index: int = 0) -> np.ndarray:
        """A ``[200, 200, 3]`` uint8 frame of the first two axes (y up)."""
        size = 200
        frame = np.full((size, size, 3), 255, dtype=np.uint8)
        pos, goal = self._plane(index)
        ys, xs = np.mgrid[0:size, 0:size]
        px = (xs + 0.5) / size * 2 - 1
        py = 1 - (ys + 0.5) / size * 2
        tol = max(self.config.delta, 2.0 / size)
        near_goal = (px - goal[0]) ** 2 + (py - goal[1]) ** 2 <= tol**2
        frame[near_goal] = (150, 220, 150)
        goal_dot = (px - goal[0]) ** 2 + (py - goal[1]) ** 2 <= 0.03**2
        frame[goal_dot] = (0, 140, 0)
        mover = (px - pos[0]) ** 2 + (py - pos[1]) ** 2 <= 0.04**2
        frame[mover] = (200, 30, 30)
        frame[[0, -1], :] = 0
        frame[:, [0, -1]] = 0
        return frame


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFace:
    """The PettingZoo ``ParallelEnv`` of reach (with or without the speaker)."""
    return ParallelFace(Reach, render_mode=render_mode, **config)


def env(render_mode: str | None = None, **config: Any):
    """The PettingZoo AEC form (:class:`envs.core.AECFace`)."""
    return aec_face(parallel_env(render_mode=render_mode, **config))
