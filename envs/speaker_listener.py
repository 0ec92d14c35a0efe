"""# Speaker-listener navigation (mpe2 `simple_speaker_listener_v4`, batched)

| | |
|---|---|
| Import | `envs.make("speaker_listener_v0")`, `from envs.speaker_listener import parallel_env` |
| Agents | `speaker_0`, `listener_0` |
| Action spaces | speaker: `Discrete(3)`; listener: `Discrete(5)` (`continuous_actions=True`: speaker `Box(0, 1, (3,))`, listener `Box(0, 1, (5,))`) |
| Observation spaces | speaker: `Box(-inf, inf, (3,))`; listener: `Box(-inf, inf, (11,))` |
| State | `(14,)`: the two observations concatenated |
| Episode | 25 steps (`max_steps`), never terminates early |

## Description
The dynamics, observations, rewards, agents, spaces and episode length of mpe2's
`simple_speaker_listener_v4` (MPE2 1.1.1), written once as a batched torch core and
checked step by step against mpe2 (`tests/test_speaker_listener.py`).

Three landmarks (red, green, blue) lie in the plane. One of them is the goal. The
speaker (grey, immobile) sees the goal's colour and says one of 3 words every step; the
listener moves but is mute and blind to the goal: it sees its velocity, where the
landmarks are, and what the speaker said. Both are rewarded by how close the listener
is to the goal, so the speaker must name the goal and the listener must learn the names.

## Physics (units: mpe2's world units, one step `dt = 0.1`)
The listener is a point of mass 1 with damping 0.25 and no speed limit. Each step,
with the action force `u`:

    pos <- pos + vel * dt
    vel <- vel * (1 - damping) + u / mass * dt

(position first, with the old velocity: mpe2's order). Nothing collides (every entity
has `collide=False` in mpe2), nothing else moves, there is no action or message noise.

## Action spaces
* speaker: `Discrete(3)`, the word said this step (a one-hot message of 3 entries).
  With `continuous_actions=True`: `Box(0, 1, (3,))`, the message vector itself.
* listener: `Discrete(5)`: `0` no-op, `1` left (`u = (-5, 0)`), `2` right
  (`u = (+5, 0)`), `3` down (`u = (0, -5)`), `4` up (`u = (0, +5)`): mpe2's
  sensitivity is 5. With `continuous_actions=True`: `Box(0, 1, (5,))` `a`, the force
  `u = 5 * (a[2] - a[1], a[4] - a[3])` (`a[0]` is ignored, as in mpe2).

Both agents act every step, simultaneously. The message said at step `t` is in the
listener's observation after step `t` (and in the one the step returns).

**mpe2's prose disagrees with its code:** its docstring lists the speaker's actions as
`say_0 ... say_9`, but its table, its code (`dim_c = 3`) and its action space give 3
words: `Discrete(3)` / `Box(0, 1, (3,))`, which is what this env has.

## Observation spaces
* speaker `(3,)`: the goal landmark's RGB colour, `(0.65, 0.15, 0.15)`,
  `(0.15, 0.65, 0.15)` or `(0.15, 0.15, 0.65)` for landmark 0, 1, 2.
* listener `(11,)`: its velocity `(2,)`, the position of landmarks 0, 1, 2 relative to
  it `(3 x 2,)`, the speaker's last message as heard `(3,)` (zeros after reset).

## Message controls
`message_control="mute"` makes the listener hear word 0 (`(1, 0, 0)`, also with
continuous actions) every step and `"shuffle"` the message said in the same step in
another env of the batch, a fresh random pairing each step (with `num_envs == 1` a
uniformly random word, or a uniform vector in `[0, 1]^3` with continuous actions; see
`envs.controls`). The speaker, both action spaces and everything else are unchanged;
the pairing is redrawn every step, so a heard stream does not keep one speaker's
repetition within an episode.

## Rewards
Both agents: `-|listener_pos - goal_pos|^2`, the negative squared distance from the
listener to the goal landmark after the step (mpe2's shared, collaborative reward).

## Initial state
The goal is uniform over the 3 landmarks; the speaker, the listener and the
landmarks are uniform in `[-1, 1]^2` (the speaker's position only shows in renders);
velocity and the message are zero. The random draws come from the core's torch generator, so the same
seed gives a different episode than in mpe2 (the parity test copies mpe2's state).

## Infos
Every agent's infos carry `active` (always true), `goal` (the goal landmark, 0..2),
`meaning` (the goal as `[1]`, what analysis pairs with the speaker's word) and
`heard_message` (the message vector the listener observes, `[3]`). With
discrete actions the speaker is a message agent (`message_agents`): trainers give it
a message channel of one symbol over 3.

## Episode end
Truncated after `max_steps` steps (default 25, mpe2's `max_cycles`); never terminates.

## Probe features
`probe_features(agent)`: `goal` (the goal landmark, categorical over 3) and
`goal_offset` (the goal's position relative to the listener, `[2]`, world units).

## Arguments
`continuous_actions` (bool, default False), `message_control` (`"none"`, `"mute"`,
`"shuffle"`), `max_steps` (positive int or None: 25).
mpe2's `dynamic_rescaling` and `benchmark_data` only affect its pygame render and its
infos and are not offered.

## Rendering
`render_mode="ansi"`: positions, goal and message as text. `"rgb_array"`: a 200x200
uint8 picture drawn with numpy: landmarks and agents as discs in mpe2's colours (the
listener takes the goal's colour lightened by 0.45, as in mpe2), framed to fit.

## Version History
* v0: initial version (parity with mpe2 1.1.1 `simple_speaker_listener_v4`).
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

__all__ = ["SpeakerListener", "SpeakerListenerConfig", "env", "parallel_env"]

SPEAKER, LISTENER = "speaker_0", "listener_0"
N_LANDMARKS = 3
DIM_C = 3  # words / message entries (mpe2 dim_c)
DIM_P = 2  # plane
DT = 0.1  # seconds per step
DAMPING = 0.25  # fraction of velocity lost per step
MASS = 1.0  # listener mass
SENSITIVITY = 5.0  # force per unit action
N_MOVES = 2 * DIM_P + 1  # no-op, left, right, down, up
LANDMARK_COLOURS = ((0.65, 0.15, 0.15), (0.15, 0.65, 0.15), (0.15, 0.15, 0.65))
AGENT_COLOUR = (0.25, 0.25, 0.25)
GOAL_HIGHLIGHT = 0.45  # mpe2 paints the listener in the goal's colour + 0.45
AGENT_SIZE, LANDMARK_SIZE = 0.075, 0.04  # radii, world units (render only)
RENDER_PIXELS = 200


@dataclass(frozen=True)
class SpeakerListenerConfig(EnvConfig):
    """Options of ``speaker_listener_v0``."""

    continuous_actions: bool = False
    """Box actions (message vector, force components) instead of discrete ones."""
    message_control: MessageControl = "none"
    """What the listener hears: the message (``"none"``), word 0 (``"mute"``) or
    another env's message (``"shuffle"``); see :mod:`envs.controls`."""

    def __post_init__(self) -> None:
        check_message_control("speaker_listener_v0", self.message_control)
        if not isinstance(self.continuous_actions, bool | np.bool_):
            raise ValueError(
                "speaker_listener_v0: continuous_actions must be a bool, "
                f"got {self.continuous_actions!r}"
            )


class SpeakerListener(MessageControlMixin, BatchedEnv):
    """Batched mpe2 speaker-listener navigation; see the module docstring."""

    name: ClassVar[str] = "speaker_listener_v0"
    Config = SpeakerListenerConfig
    possible_agents: ClassVar[tuple[str, ...]] = (SPEAKER, LISTENER)
    message_agents: ClassVar[tuple[str, ...]] = (SPEAKER,)
    default_max_steps: ClassVar[int] = 25
    render_modes: ClassVar[tuple[str, ...]] = ("ansi", "rgb_array")
    config: SpeakerListenerConfig

    def _setup(self) -> None:
        if self.config.continuous_actions:
            self.message_agents = ()  # a continuous "say" vector is not a symbol
        dev, n = self.device, self.num_envs
        f32 = torch.float32
        moves = torch.zeros(N_MOVES, DIM_P, dtype=f32, device=dev)
        moves[1, 0], moves[2, 0], moves[3, 1], moves[4, 1] = -1.0, 1.0, -1.0, 1.0
        # Discrete listener action -> velocity change; word -> one-hot message.
        self._dv = moves * (SENSITIVITY * DT / MASS)
        self._words = torch.eye(DIM_C, dtype=f32, device=dev)
        self._tile = torch.eye(DIM_P, dtype=f32, device=dev).repeat(1, N_LANDMARKS)
        self._colours = torch.tensor(LANDMARK_COLOURS, dtype=f32, device=dev)
        self.goal = torch.zeros(n, dtype=torch.int64, device=dev)
        self.landmarks = torch.zeros(n, N_LANDMARKS, DIM_P, dtype=f32, device=dev)
        self.speaker_pos = torch.zeros(n, DIM_P, dtype=f32, device=dev)
        self.pos = torch.zeros(n, DIM_P, dtype=f32, device=dev)
        self.vel = torch.zeros(n, DIM_P, dtype=f32, device=dev)
        self.message = torch.zeros(n, DIM_C, dtype=f32, device=dev)
        self.heard = torch.zeros(n, DIM_C, dtype=f32, device=dev)
        # Derived from goal and landmarks at reset (both fixed within an episode).
        self.goal_pos = torch.zeros(n, DIM_P, dtype=f32, device=dev)
        self.goal_colour = torch.zeros(n, 3, dtype=f32, device=dev)
        self._all_active = torch.ones(n, dtype=torch.bool, device=dev)

    def _build_spaces(self):
        inf = np.float32(np.inf)
        obs = {
            SPEAKER: spaces.Box(-inf, inf, (3,), np.float32),
            LISTENER: spaces.Box(
                -inf, inf, (DIM_P + N_LANDMARKS * DIM_P + DIM_C,), np.float32
            ),
        }
        if self.config.continuous_actions:
            act = {
                SPEAKER: spaces.Box(0.0, 1.0, (DIM_C,), np.float32),
                LISTENER: spaces.Box(0.0, 1.0, (N_MOVES,), np.float32),
            }
        else:
            act = {SPEAKER: spaces.Discrete(DIM_C), LISTENER: spaces.Discrete(N_MOVES)}
        return obs, act

    # ------------------------------------------------------------------ hooks
    def _reset_where(self, mask: torch.Tensor) -> None:
        # The core calls this every step with the envs that finished. On the CPU a
        # host check is free, so skip the sampling when none did (every step but
        # the last of an episode); on an accelerator sample unconditionally (no sync).
        if self.device.type == "cpu" and not bool(mask.any()):
            return
        n, g, dev = self.num_envs, self.generator, self.device
        goal = torch.randint(0, N_LANDMARKS, (n,), generator=g, device=dev)
        # Speaker, listener, then the landmarks: mpe2's order of draws.
        points = torch.rand(n, 2 + N_LANDMARKS, DIM_P, generator=g, device=dev)
        points = points * 2.0 - 1.0
        self._put(
            mask,
            goal=goal,
            speaker_pos=points[:, 0],
            pos=points[:, 1],
            landmarks=points[:, 2:],
        )

    def set_state(
        self,
        mask: torch.Tensor | None = None,
        *,
        goal: Any,
        landmarks: Any,
        pos: Any,
        speaker_pos: Any = None,
        vel: Any = None,
        message: Any = None,
    ) -> None:
        """Put envs (where ``mask``, default all) in a given state.

        ``goal`` [N] (0..2), ``landmarks`` [N, 3, 2], ``pos`` / ``speaker_pos`` /
        ``vel`` [N, 2], ``message`` [N, 3] (tensors or arrays); velocity and message
        default to zero, the speaker's position to unchanged. The listener hears the
        given message as it is (a message control applies from the next step). Used
        by the parity test to start from mpe2's state. Does not touch the step
        counter.
        """
        n, dev = self.num_envs, self.device
        mask = (
            torch.ones(n, dtype=torch.bool, device=dev)
            if mask is None
            else torch.as_tensor(mask, dtype=torch.bool, device=dev)
        )
        goal = torch.as_tensor(goal, dtype=torch.int64, device=dev)
        if bool(((goal < 0) | (goal >= N_LANDMARKS)).any()):
            raise ValueError(
                f"{self.name}: goal must be in 0..{N_LANDMARKS - 1}, "
                f"got {goal.tolist()}"
            )
        self._put(
            mask,
            goal=goal,
            landmarks=landmarks,
            pos=pos,
            speaker_pos=speaker_pos,
            vel=vel,
            message=message,
        )

    def _put(
        self,
        mask: torch.Tensor,
        *,
        goal: torch.Tensor,
        landmarks: Any,
        pos: Any,
        speaker_pos: Any = None,
        vel: Any = None,
        message: Any = None,
    ) -> None:
        def put(old: torch.Tensor, new: Any, m: torch.Tensor) -> torch.Tensor:
            new = torch.as_tensor(new, dtype=old.dtype, device=self.device)
            return torch.where(m, new.expand_as(old), old)

        m1, m2 = mask[:, None], mask[:, None, None]
        self.goal = torch.where(mask, goal, self.goal)
        self.landmarks = put(self.landmarks, landmarks, m2)
        self.pos = put(self.pos, pos, m1)
        if speaker_pos is not None:
            self.speaker_pos = put(self.speaker_pos, speaker_pos, m1)
        self.vel = put(self.vel, 0.0 if vel is None else vel, m1)
        self.message = put(self.message, 0.0 if message is None else message, m1)
        self.heard = put(self.heard, 0.0 if message is None else message, m1)
        rows = torch.arange(self.num_envs, device=self.device)
        self.goal_pos = self.landmarks[rows, self.goal]
        self.goal_colour = self._colours[self.goal]

    def _step(self, actions):
        said, move = actions[SPEAKER], actions[LISTENER]
        # Velocity change of the action, u / mass * dt.
        if self.config.continuous_actions:
            dv = (move[:, 2::2] - move[:, 1::2]) * (SENSITIVITY * DT / MASS)
            self.message = said.clone()
        else:
            # index_select: several times faster than advanced indexing here.
            dv = self._dv.index_select(0, move)
            self.message = self._words.index_select(0, said)
        control = self.config.message_control
        self.heard = (
            self.message
            if control == "none"
            else heard_message(
                self.message,
                control,
                generator=self._control_generator,
                constant=self._words[0],
                random_message=self._random_message,
            )
        )
        # mpe2 World.integrate_state: position with the old velocity, then velocity.
        self.pos = torch.add(self.pos, self.vel, alpha=DT)
        self.vel = torch.add(dv, self.vel, alpha=1.0 - DAMPING)
        diff = self.pos - self.goal_pos
        reward = (diff * diff).sum(1).neg_()
        terminated = torch.zeros_like(self._all_active)
        infos = {SPEAKER: {}, LISTENER: {}}
        return {SPEAKER: reward, LISTENER: reward}, terminated, infos

    def _observe(self):
        # landmarks - pos for each landmark, as [N, 6]: one matmul with a 0/1 tiling
        # matrix (exact) is several times faster than the broadcast subtraction.
        rel = torch.addmm(self.landmarks.flatten(1), self.pos, self._tile, alpha=-1.0)
        listener = torch.cat([self.vel, rel, self.heard], 1)
        return {SPEAKER: self.goal_colour.clone(), LISTENER: listener}

    def _active(self):
        return {SPEAKER: self._all_active, LISTENER: self._all_active}

    def _random_message(self) -> torch.Tensor:
        g, n = self._control_generator, self.num_envs
        if self.config.continuous_actions:
            return torch.rand(n, DIM_C, generator=g, device=self.device)
        words = torch.randint(0, DIM_C, (n,), generator=g, device=self.device)
        return self._words.index_select(0, words)

    def _meaning(self):
        return self.goal[:, None]

    def _infos(self):
        active, goal = self._all_active, self.goal
        return {
            a: {"active": active, "goal": goal, "heard_message": self.heard}
            for a in self.possible_agents
        }

    def probe_feature_specs(self, agent: str) -> tuple[ProbeFeature, ...]:
        """The goal landmark and where it is relative to the listener."""
        self._check_agent(agent)
        return (
            ProbeFeature(
                "goal",
                "categorical",
                n_classes=N_LANDMARKS,
                description="the goal landmark (0 red, 1 green, 2 blue)",
            ),
            ProbeFeature(
                "goal_offset",
                "continuous",
                shape=(DIM_P,),
                description="goal position minus listener position (world units)",
            ),
        )

    def probe_features(self, agent: str) -> dict[str, torch.Tensor]:
        """Values of :meth:`probe_feature_specs`: ``goal`` [N], ``goal_offset``
        [N, 2]."""
        self._check_agent(agent)
        return {"goal": self.goal.clone(), "goal_offset": self.goal_pos - self.pos}

    # ------------------------------------------------------------------ misc
    def task_spec(self, agent: str = LISTENER) -> TaskSpec:
        """Difficulty numbers of the listener's navigation (or the speaker's naming).

        Listener: its 11 observation entries per step; ``history=1`` because the
        message of the current step names the goal once the speaker's convention is
        fixed (the speaker's observation never changes within an episode, so the
        optimal speaker repeats one word) and velocity is observed, so the optimal
        policy is Markov. ``delta=0.05``: the displacement one discrete action makes
        from rest by the next step (``SENSITIVITY * DT * DT``), the finest position
        difference that changes which action is best. ``eps=0.05``: a squared-distance
        tolerance, the listener ending within about 0.22 of the goal (the landmark's
        radius is 0.04, the listener's 0.075).

        Speaker: 3 colour entries, one word of 3; ``delta=0.5``, the smallest
        distance between two goal colours (0.5 sqrt(2) ~ 0.71, rounded down);
        ``eps=0.05`` as a misnaming rate.
        """
        self._check_agent(agent)
        continuous = self.config.continuous_actions
        if agent == SPEAKER:
            return TaskSpec(
                obs_dim=3,
                act_dim=DIM_C if continuous else 1,
                n_actions=None if continuous else DIM_C,
                history=1,
                delta=0.5,
                eps=0.05,
                description="speaker: goal colour -> word",
            )
        return TaskSpec(
            obs_dim=DIM_P + N_LANDMARKS * DIM_P + DIM_C,
            act_dim=N_MOVES if continuous else 1,
            n_actions=None if continuous else N_MOVES,
            history=1,
            delta=SENSITIVITY * DT * DT,
            eps=0.05,
            description="listener: velocity, landmarks, message -> move",
        )

    def render_text(self, index: int = 0) -> str:
        i = index

        def xy(t: torch.Tensor) -> str:
            return f"({float(t[0]):+.2f}, {float(t[1]):+.2f})"

        goal = int(self.goal[i])
        msg = self.message[i]
        said = (
            "-"
            if not bool(msg.any())
            else (
                f"word {int(msg.argmax())}"
                if not self.config.continuous_actions
                else "[" + ", ".join(f"{float(v):.2f}" for v in msg) + "]"
            )
        )
        lines = [
            f"speaker_listener_v0 step {int(self.elapsed[i])}/{self.max_steps}",
            f"speaker  at {xy(self.speaker_pos[i])} says {said}",
            f"listener at {xy(self.pos[i])} vel {xy(self.vel[i])}",
        ]
        names = ("red", "green", "blue")
        for j in range(N_LANDMARKS):
            mark = "*" if j == goal else " "
            lines.append(
                f" {mark} landmark {j} ({names[j]}) at {xy(self.landmarks[i, j])}"
            )
        dist2 = float(((self.pos[i] - self.goal_pos[i]) ** 2).sum())
        lines.append(f"  (* goal) squared distance to goal {dist2:.3f}")
        return "\n".join(lines)

    def render_rgb(self, index: int = 0) -> np.ndarray:
        """A ``RENDER_PIXELS`` square uint8 RGB picture of env ``index``."""
        i, size = index, RENDER_PIXELS
        goal = int(self.goal[i])
        landmarks = self.landmarks[i].cpu().numpy()
        points = [(landmarks[j], LANDMARK_SIZE, LANDMARK_COLOURS[j]) for j in range(3)]
        listener_colour = tuple(c + GOAL_HIGHLIGHT for c in LANDMARK_COLOURS[goal])
        points.append((self.speaker_pos[i].cpu().numpy(), AGENT_SIZE, AGENT_COLOUR))
        points.append((self.pos[i].cpu().numpy(), AGENT_SIZE, listener_colour))
        extent = max(1.0, max(float(np.abs(p).max()) + r for p, r, _ in points))
        scale = 0.9 * (size / 2) / extent  # pixels per world unit
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        img = np.full((size, size, 3), 255, dtype=np.uint8)
        for p, r, colour in points:
            cx, cy = size / 2 + p[0] * scale, size / 2 - p[1] * scale  # y up
            d2 = (xs - cx) ** 2 + (ys - cy) ** 2
            rad = max(r * scale, 2.0)
            img[d2 <= rad**2] = 0  # outline
            img[d2 <= (rad - 1.0) ** 2] = np.clip(np.array(colour) * 200, 0, 255)
        return img


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFace:
    """The PettingZoo ``ParallelEnv`` of speaker-listener navigation."""
    return ParallelFace(SpeakerListener, render_mode=render_mode, **config)


def env(render_mode: str | None = None, **config: Any):
    """The PettingZoo AEC form (:class:`envs.core.AECFace`)."""
    return aec_face(parallel_env(render_mode=render_mode, **config))
