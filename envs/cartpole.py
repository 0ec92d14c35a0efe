"""# Cart-pole (Gymnasium CartPole-v1 dynamics, batched)

| | |
|---|---|
| Import | `envs.make("cartpole_v0")`, `from envs.cartpole import parallel_env`, `gymnasium.make("aim/CartPole-v0")`, `gymnasium.make("aim/CartPole-POMDP-v0")` |
| Agents | `cart_0` (`cart_0 .. cart_{n_agents-1}` with `n_agents > 1`) |
| Action spaces | every cart: `Discrete(2)` (0 push left, 1 push right) |
| Observation spaces | every cart: `Box(-high, high, (history * k,), float32)`, `k = 4` (`observe="full"`) or `k = 2` (`observe="position"`) |
| Episode | terminates when a cart leaves `abs(x) <= 2.4` or its pole `abs(theta) <= 12 deg`; truncates after 500 steps |

## Description
A pole is hinged to a cart that moves on a frictionless track; the agent pushes the
cart left or right with a force of 10 N. The dynamics, constants, thresholds, reward
and initial state are those of Gymnasium's `CartPole-v1` (Euler integrator,
`tau = 0.02` s), so a rollout here equals Gymnasium's step by step (checked in
`tests/test_cartpole.py`).

**Precision.** The state is integrated in **float64**, as Gymnasium does, and
observations are returned as float32 (Gymnasium casts its float64 state the same way).
This makes observations bit-equal in practice and termination identical, at the cost
of float64 arithmetic on GPUs (a handful of ops per step; negligible next to a policy).

## Observations
The per-step observation of a cart is
* `observe="full"`: `[x, x_dot, theta, theta_dot]` (Gymnasium's observation), or
* `observe="position"`: `[x, theta]`: the velocities are hidden, a POMDP.

With `history=T` a cart observes the last `T` per-step observations concatenated
into one flat vector of `T * k` values, **oldest first, newest last** (the last `k`
entries are the current step). At reset the older slots are zeros, so in the first
`T - 1` steps of an episode the missing past is zero-padded. `high` is Gymnasium's
bound `[4.8, float32 max, 0.418879, float32 max]` (position mode: `[4.8, 0.418879]`)
tiled `T` times.

## Rewards
Every cart gets 1 for every step, including the step on which the episode ends (as
Gymnasium's `CartPole-v1`).

## Several carts
With `n_agents > 1` there are `n_agents` **independent** carts (own state, own
action, own reward), one per agent. The batched core ends episodes per env, not per
agent, so **the episode ends for all carts as soon as any cart's episode ends**
(`terminated` then holds for every agent; `infos[agent]["failed"]` says which carts
actually left the bounds). With one cart this is exactly `CartPole-v1`.

## Episode end
Terminated when `x < -2.4`, `x > 2.4`, `theta < -12 deg` or `theta > 12 deg` for any
cart (checked on the float64 state after the step). Truncated after `max_steps`
(default 500) steps if not terminated.

## Probe features
`probe_features(agent)`: the cart's physical state now, each `[N]` float32,
continuous: `cart_position` (m), `cart_velocity` (m/s), `pole_angle` (rad),
`pole_angular_velocity` (rad/s). With `observe="position"` the two velocities are
exactly the hidden part of the state.

## Arguments
`observe` (`"full"` | `"position"`), `history` (int >= 1, default 1), `n_agents`
(int >= 1, default 1), `max_steps` (int >= 1 or None for 500).

## Version History
* v0: initial version.
* v0 (2026-11-30): `probe_features`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from gymnasium import spaces

from envs.core import (
    BatchedEnv,
    EnvConfig,
    ParallelFace,
    ProbeFeature,
    TaskSpec,
    aec_face,
)

__all__ = ["CartPole", "CartPoleConfig", "env", "parallel_env"]

# ---------------------------------------------------------------- constants (SI)
GRAVITY = 9.8
"""m/s^2."""
MASS_CART = 1.0
"""kg."""
MASS_POLE = 0.1
"""kg."""
TOTAL_MASS = MASS_POLE + MASS_CART
HALF_LENGTH = 0.5
"""m: half the pole's length (Gymnasium's ``length``)."""
POLEMASS_LENGTH = MASS_POLE * HALF_LENGTH
FORCE_MAG = 10.0
"""N: the push of either action."""
TAU = 0.02
"""s between state updates."""
THETA_THRESHOLD = 12 * 2 * math.pi / 360
"""rad: the pole falls beyond this angle."""
X_THRESHOLD = 2.4
"""m: the cart leaves the track beyond this position."""
INIT_RANGE = 0.05
"""Initial state components are uniform in ``[-INIT_RANGE, INIT_RANGE]``."""
MAX_STEPS = 500
"""CartPole-v1's time limit."""

_F32_MAX = float(np.finfo(np.float32).max)
_HIGH_FULL = np.array(
    [X_THRESHOLD * 2, _F32_MAX, THETA_THRESHOLD * 2, _F32_MAX], dtype=np.float32
)
PROBE_FEATURES = (
    ("cart_position", "cart position x (m)"),
    ("cart_velocity", "cart velocity x_dot (m/s)"),
    ("pole_angle", "pole angle theta (rad)"),
    ("pole_angular_velocity", "pole angular velocity theta_dot (rad/s)"),
)
"""Names and descriptions of the state columns ``x, x_dot, theta, theta_dot``."""
_POSITION_COLS = (0, 2)
"""Columns of the full state that ``observe="position"`` keeps: x and theta."""


@dataclass(frozen=True)
class CartPoleConfig(EnvConfig):
    """Options of ``cartpole_v0``."""

    observe: Literal["full", "position"] = "full"
    """``"full"``: ``[x, x_dot, theta, theta_dot]``; ``"position"``: ``[x, theta]``."""
    history: int = 1
    """Per-step observations stacked into one (oldest first, zero-padded at reset)."""
    n_agents: int = 1
    """Independent carts, agents ``cart_0 .. cart_{n-1}``; the episode ends for all."""

    def __post_init__(self) -> None:
        if self.observe not in ("full", "position"):
            raise ValueError(
                f"cartpole_v0: observe must be 'full' or 'position', "
                f"got {self.observe!r}"
            )
        for key in ("history", "n_agents"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"cartpole_v0: {key} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"cartpole_v0: {key} must be >= 1, got {value!r}")


def cartpole_dynamics(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """One Euler step of CartPole-v1. ``state`` ``[..., 4]``, ``action`` ``[...]``.

    Returns the next state ``[..., 4]`` (``x, x_dot, theta, theta_dot``) in the dtype of
    ``state``; the operation order follows Gymnasium's so float64 results agree.
    """
    x, x_dot, theta, theta_dot = state.unbind(-1)
    force = torch.where(action == 1, FORCE_MAG, -FORCE_MAG).to(state.dtype)
    costheta = torch.cos(theta)
    sintheta = torch.sin(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot.square() * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (
        HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * costheta.square() / TOTAL_MASS)
    )
    xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    return torch.stack(
        [
            x + TAU * x_dot,
            x_dot + TAU * xacc,
            theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc,
        ],
        dim=-1,
    )


def cartpole_failed(state: torch.Tensor) -> torch.Tensor:
    """Whether each state ``[..., 4]`` is out of bounds (Gymnasium's termination)."""
    x, theta = state[..., 0], state[..., 2]
    return (
        (x < -X_THRESHOLD)
        | (x > X_THRESHOLD)
        | (theta < -THETA_THRESHOLD)
        | (theta > THETA_THRESHOLD)
    )


class CartPole(BatchedEnv):
    """Batched CartPole-v1 with partial observability and history; see the module
    docstring."""

    name: ClassVar[str] = "cartpole_v0"
    Config = CartPoleConfig
    possible_agents: ClassVar[tuple[str, ...]] = ("cart_0",)
    default_max_steps: ClassVar[int] = MAX_STEPS
    render_modes: ClassVar[tuple[str, ...]] = ("ansi", "rgb_array")
    config: CartPoleConfig

    def _setup(self) -> None:
        c, n, dev = self.config, self.num_envs, self.device
        # Instance attribute: the agents depend on the config (n_agents).
        self.possible_agents = tuple(f"cart_{i}" for i in range(c.n_agents))
        self.state = torch.zeros(n, c.n_agents, 4, dtype=torch.float64, device=dev)
        self.frames = torch.zeros(
            n, c.n_agents, c.history, self.step_dim, dtype=torch.float32, device=dev
        )
        self.failed = torch.zeros(n, c.n_agents, dtype=torch.bool, device=dev)
        self._cols = torch.as_tensor(
            _POSITION_COLS if c.observe == "position" else (0, 1, 2, 3), device=dev
        )

    @property
    def step_dim(self) -> int:
        """Size of one per-step observation (4 full, 2 position)."""
        return 2 if self.config.observe == "position" else 4

    def _build_spaces(self):
        c = self.config
        high = (
            _HIGH_FULL[list(_POSITION_COLS)] if c.observe == "position" else _HIGH_FULL
        )
        high = np.tile(high, c.history)
        obs = spaces.Box(-high, high, dtype=np.float32)
        act = spaces.Discrete(2)
        return (
            {a: obs for a in self.possible_agents},
            {a: act for a in self.possible_agents},
        )

    # ------------------------------------------------------------------ hooks
    def _current(self) -> torch.Tensor:
        """This step's per-step observations ``[N, n_agents, k]`` (float32)."""
        return self.state.index_select(-1, self._cols).float()

    def _reset_where(self, mask: torch.Tensor) -> None:
        c = self.config
        u = torch.rand(
            self.num_envs,
            c.n_agents,
            4,
            generator=self.generator,
            dtype=torch.float64,
            device=self.device,
        )
        fresh = (2 * u - 1) * INIT_RANGE
        m = mask[:, None, None]
        self.state = torch.where(m, fresh, self.state)
        self.failed = torch.where(mask[:, None], False, self.failed)
        frames = torch.zeros_like(self.frames)
        frames[:, :, -1] = self._current()
        self.frames = torch.where(mask[:, None, None, None], frames, self.frames)

    def _step(self, actions):
        act = torch.stack([actions[a] for a in self.possible_agents], dim=1)
        self.state = cartpole_dynamics(self.state, act)
        self.failed = cartpole_failed(self.state)
        self.frames = torch.cat(
            [self.frames[:, :, 1:], self._current()[:, :, None]], dim=2
        )
        terminated = self.failed.any(dim=1)
        reward = torch.ones(self.num_envs, dtype=torch.float32, device=self.device)
        rewards = dict.fromkeys(self.possible_agents, reward)
        infos = {
            a: {"failed": self.failed[:, i]} for i, a in enumerate(self.possible_agents)
        }
        return rewards, terminated, infos

    def _observe(self):
        flat = self.frames.flatten(2)
        return {a: flat[:, i] for i, a in enumerate(self.possible_agents)}

    def set_state(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        """Put every env in the physical ``state`` and start a fresh episode there.

        ``state`` is ``[num_envs, n_agents, 4]`` (or ``[num_envs, 4]`` with one cart)
        of ``x, x_dot, theta, theta_dot``; it is stored in float64. The history is
        zero-padded and the step counter zeroed, as after ``reset``. Returns the
        observations. Used to replay a state from elsewhere (e.g. Gymnasium's).
        """
        c = self.config
        state = torch.as_tensor(state, dtype=torch.float64, device=self.device)
        if state.ndim == 2 and c.n_agents == 1:
            state = state[:, None]
        want = (self.num_envs, c.n_agents, 4)
        if tuple(state.shape) != want:
            raise ValueError(
                f"{self.name}: state must have shape {want}, got {tuple(state.shape)}"
            )
        self.state = state.clone()
        self.failed = cartpole_failed(self.state)
        self.frames = torch.zeros_like(self.frames)
        self.frames[:, :, -1] = self._current()
        self.elapsed.zero_()
        self._ready = True
        return self._observe()

    def probe_feature_specs(self, agent: str) -> tuple[ProbeFeature, ...]:
        """The cart's state ``x, x_dot, theta, theta_dot`` (continuous)."""
        self._check_agent(agent)
        return tuple(
            ProbeFeature(name, "continuous", description=what)
            for name, what in PROBE_FEATURES
        )

    def probe_features(self, agent: str) -> dict[str, torch.Tensor]:
        """Values of :meth:`probe_feature_specs` for ``agent``'s cart, ``[N]``
        float32 each."""
        self._check_agent(agent)
        state = self.state[:, self.possible_agents.index(agent)].float()
        return {name: state[:, j].clone() for j, (name, _) in enumerate(PROBE_FEATURES)}

    # ------------------------------------------------------------------ misc
    def task_spec(self) -> TaskSpec:
        """Difficulty numbers of one cart's policy.

        ``obs_dim`` is the per-step observation size (4 full, 2 position).
        ``history`` is what the *optimal* policy needs, not the ``history`` option:
        1 with the full state (an MDP), 2 with positions only, because the hidden
        velocities are finite differences of two consecutive positions
        (``x_dot_t = (x_{t+1} - x_t) / tau`` under the Euler integrator). ``delta``
        and ``eps`` are the cart-pole values of REFERENCES.md (1e-3).
        """
        position = self.config.observe == "position"
        return TaskSpec(
            obs_dim=self.step_dim,
            act_dim=1,
            history=2 if position else 1,
            delta=1e-3,
            eps=1e-3,
            n_actions=2,
            description=(
                "cart-pole, positions only (velocities from two frames)"
                if position
                else "cart-pole, full state (MDP)"
            ),
        )

    def render_text(self, index: int = 0) -> str:
        width = 41
        lines = [f"cartpole_v0 step {int(self.elapsed[index])}"]
        for i, agent in enumerate(self.possible_agents):
            x, x_dot, theta, theta_dot = self.state[index, i].tolist()
            col = round((x + X_THRESHOLD) / (2 * X_THRESHOLD) * (width - 1))
            col = min(max(col, 0), width - 1)
            lean = "/" if theta < -0.02 else "\\" if theta > 0.02 else "|"
            track = ["-"] * width
            track[col] = lean
            mark = " FAILED" if bool(self.failed[index, i]) else ""
            lines.append(
                f"{agent}: [{''.join(track)}] x={x:+.3f} x_dot={x_dot:+.3f} "
                f"theta={theta:+.3f} theta_dot={theta_dot:+.3f}{mark}"
            )
        return "\n".join(lines)

    def render_rgb(self, index: int = 0) -> np.ndarray:
        """A ``[200 * n_agents, 600, 3]`` uint8 frame: one lane per cart."""
        w, lane = 600, 200
        scale = w / (2 * X_THRESHOLD)
        pole_len = scale * 2 * HALF_LENGTH
        frame = np.full((lane * self.config.n_agents, w, 3), 255, dtype=np.uint8)
        ys, xs = np.mgrid[0:lane, 0:w]
        for i in range(self.config.n_agents):
            x, _, theta, _ = self.state[index, i].tolist()
            view = frame[i * lane : (i + 1) * lane]
            track_y = int(lane * 0.75)
            view[track_y, :] = 0
            cx, cy = x * scale + w / 2, track_y - 15
            cart = (np.abs(xs - cx) <= 25) & (np.abs(ys - cy) <= 15)
            view[cart] = (0, 0, 0)
            # The pole: pixels within 5 px of the segment from the axle upwards.
            tip_x = cx + pole_len * math.sin(theta)
            tip_y = cy - pole_len * math.cos(theta)
            dx, dy = tip_x - cx, tip_y - cy
            t = ((xs - cx) * dx + (ys - cy) * dy) / (dx * dx + dy * dy)
            t = np.clip(t, 0.0, 1.0)
            dist2 = (xs - cx - t * dx) ** 2 + (ys - cy - t * dy) ** 2
            view[dist2 <= 25] = (202, 152, 101)
            axle = (xs - cx) ** 2 + (ys - cy) ** 2 <= 16
            view[axle] = (129, 132, 203)
        return frame


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFace:
    """The PettingZoo ``ParallelEnv`` of cart-pole (any ``n_agents``)."""
    return ParallelFace(CartPole, render_mode=render_mode, **config)


def env(render_mode: str | None = None, **config: Any):
    """The PettingZoo AEC form (:class:`envs.core.AECFace`)."""
    return aec_face(parallel_env(render_mode=render_mode, **config))
