"""# Contextual Prisoner's Dilemma (the AIM paper's game, on digit images)

| | |
|---|---|
| Import | `envs.make("contextual_pd_v0")`, `from envs.contextual_pd import parallel_env` |
| Agents | `sender` (agent A), `responder` (agent B) |
| Action spaces | both: `MultiDiscrete([vocab_size] * message_length)`; with `action_from_first_symbol=False`: `MultiDiscrete([vocab_size] * message_length + [2])` |
| Observation spaces | sender: `Box(0, 1, (obj_dim + 10 + 2,))`; responder: `Box(0, 1, (obj_dim + 10 + message_length * vocab_size + 2,))` |
| Episode | two steps: the sender talks, then the responder talks; payoffs at the end |

With the defaults (scikit-learn 8x8 digits, `message_length=2`, `vocab_size=32`):
`obj_dim = 64`, sender obs `(76,)`, responder obs `(140,)`. With MNIST
(`mnist_path=...`) `obj_dim = 784`.

## Description
The one-step two-agent "contextual Prisoner's Dilemma" of *AI Mother Tongue* (AIM,
arXiv 2507.10566). Each episode draws a digit label uniformly from the 10 classes and
a uniformly random image of that class (the *context*). Agent A (`sender`) sees the
image and its label and emits `message_length` symbols over `vocab_size`; agent B
(`responder`) sees A's symbols, the image and the label and emits its own
`message_length` symbols. Each agent's game action, Cooperate (C) or Defect (D), is
read off **its own first symbol**: index `< vocab_size / 2` is C, otherwise D.

The game has **two phases in one episode**, because B must act after A's message
exists:

* step 1 (phase 0): the sender's action is its message (and its C/D). The
  responder's action is **ignored** (it must still be a valid action;
  `infos[agent]["active"]` says whose action counts). The responder's observation
  has an all-zero message part.
* step 2 (phase 1): the responder's action is its message (and its C/D); the
  sender's action is **ignored**. Payoffs are paid and the episode terminates.

## Modes
* **Faithful** (the defaults: `payoff="aim"`, `label_visibility="both"`,
  `message_length=2`, `vocab_size=32`, `action_from_first_symbol=True`,
  `joint_reward=True`): the reference game. C,C is optimal for every label, so this
  game needs no communication (REFERENCES.md).
* **Hidden context** (`label_visibility="sender_only"`, `payoff="parity_coordination"`):
  the responder's observation has no label (zeros) and, unless
  `responder_sees_image=True`, no image (zeros); B's best action depends on the
  label's parity, so B can only do better than chance by reading A's message.

## Message controls
`message_control="mute"` makes the responder hear symbol 0 in every position of the
sender's message and `"shuffle"` the message a sender sent in another env of the
batch (uniform random symbols with `num_envs == 1`; see `envs.controls`). Only what
the responder **sees** changes: both action spaces stay, and each agent's C/D is
still read off its own action (its first symbol), so the sender's game action is the
one it chose. This is the control that changes one thing; a `none` channel on the
sender would also fix its C/D (symbol 0 is always C).

`action_from_first_symbol=False` gives each agent an explicit C/D action instead: the
action is `MultiDiscrete([vocab_size] * message_length + [2])`, the message is the
first `message_length` components and the last component is the game action
(0 = C, 1 = D); the symbols then carry no payoff by themselves. `message_agents`
is then empty (the action is not a pure message, so trainers give both agents
plain MultiDiscrete actor-critic heads); otherwise it is both agents.

## Observations
Each agent's observation is its blocks concatenated, in this order:
* sender: image pixels in `[0, 1]` (`obj_dim`), label one-hot (10), phase one-hot (2).
* responder: image pixels (zeros when `responder_sees_image` is false), label one-hot
  (zeros with `label_visibility="sender_only"`), the sender's message as heard (see
  Message controls) as `message_length` one-hot blocks of `vocab_size` (zeros in
  phase 0), phase one-hot.

## Rewards
Actions are coded 0 = C, 1 = D, parity 0 = even label, 1 = odd label. The payoff
`(r_A, r_B)` is looked up in `PAYOFF_TABLES[payoff][a_A, a_B, parity]`:

| `payoff` | C,C | A=C, B=D | A=D, B=C | D,D | joint optimum even / odd / mean |
|---|---|---|---|---|---|
| `aim` | (4+1[even], 4+1[even]) | (-1-1[odd], 5) | (5, -1-1[odd]) | (0, 0) | 10 / 8 / 9.0 |
| `baseline` | (3+2[even], 3+2[even]) | (-2, 5) | (5, -2) | (0, 0) | 10 / 6 / 8.0 |

`parity_coordination` (a hidden-context coordination game): both agents get 1 when A
cooperates and B's action equals the label's parity (B plays C on an even label, D
on an odd one), otherwise both get 0:

| `parity_coordination` | even label | odd label |
|---|---|---|
| A=C, B=C | (1, 1) | (0, 0) |
| A=C, B=D | (0, 0) | (1, 1) |
| A=D, any B | (0, 0) | (0, 0) |

Its joint optimum is 2 for every label (mean 2.0). Without communication (B's action
independent of the label, as with `label_visibility="sender_only"` and the message
ignored) the best expected joint return is 1.0, half the optimum: the chance level.
See :func:`joint_optimum`.

Payoffs are paid at the end of phase 1 (0 in phase 0). With `joint_reward=True` (the
reference trains both agents on the joint reward) each agent receives
`r_A + r_B`; with `joint_reward=False` each receives its own payoff.

## Infos
Every agent's infos carry `active` (its action counts in the next step), `meaning`
(the label, `[1]`), `message` (the sender's message, `[message_length]`; zeros
before it spoke), `heard_message` (what the responder heard of it, the same shape),
`responder_message` (`[message_length]`; zeros before it spoke),
`actions` (A's and B's C/D, `[2]`, -1 until that agent has acted: both valid after
phase 1), `payoffs` (`(r_A, r_B)`, 0 until paid), `joint_return` (`r_A + r_B`, 0
until paid) and `success` (the episode reached the label's optimal joint return;
false until paid). Analysis pairs `message` with `meaning`.

## Probe features
`probe_features(agent)`: `label` (the digit class, categorical over 10) and `parity`
(the label's parity, categorical over 2: what the payoff depends on).

## Episode end
Terminates after the responder's step (2 steps); never truncates.

## Arguments
`payoff` (`"aim"`, `"baseline"`, `"parity_coordination"`), `label_visibility`
(`"both"`, `"sender_only"`), `responder_sees_image` (`None`: true under `"both"`,
false under `"sender_only"`), `message_length` (>= 1), `vocab_size` (>= 2; even
when `action_from_first_symbol`), `action_from_first_symbol`, `joint_reward`,
`mnist_path` (a local MNIST folder or .npz; default: scikit-learn's 8x8 digits),
`message_control` (`"none"`, `"mute"`, `"shuffle"`), `max_steps` (must stay 2 or
None).

## Version History
* v0: initial version.
* v0 (2026-11-30, defaults unchanged): `message_control`; infos `heard_message`;
  `probe_features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

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
from envs.data import load_images, sample_of_class

__all__ = [
    "PAYOFFS",
    "PAYOFF_TABLES",
    "ContextualPD",
    "ContextualPDConfig",
    "JointOptimum",
    "env",
    "joint_optimum",
    "optimal_joint_return",
    "parallel_env",
]

SENDER, RESPONDER = "sender", "responder"
N_PHASES = 2
N_LABELS = 10
"""Digit classes; labels are drawn uniformly from them."""
COOPERATE, DEFECT = 0, 1
"""Game-action codes (the index of the action axis of the payoff tables)."""

PAYOFFS: tuple[str, ...] = ("aim", "baseline", "parity_coordination")
"""Names of the payoff tables, in the order of ``PAYOFF_TABLES``' first axis."""

# [payoff][a_A, a_B, parity] -> (r_A, r_B); action 0 = C, 1 = D; parity 0 = even.
PAYOFF_TABLES = np.array(
    [
        # aim: C,C = 4 + 1[even]; the lone cooperator gets -1 - 1[odd], the defector 5.
        [
            [[(5, 5), (4, 4)], [(-1, 5), (-2, 5)]],  # A=C: B=C, B=D
            [[(5, -1), (5, -2)], [(0, 0), (0, 0)]],  # A=D: B=C, B=D
        ],
        # baseline: C,C = 3 + 2[even]; the lone cooperator gets -2, the defector 5.
        [
            [[(5, 5), (3, 3)], [(-2, 5), (-2, 5)]],
            [[(5, -2), (5, -2)], [(0, 0), (0, 0)]],
        ],
        # parity_coordination: 1 each when A=C and B's action equals the parity.
        [
            [[(1, 1), (0, 0)], [(0, 0), (1, 1)]],
            [[(0, 0), (0, 0)], [(0, 0), (0, 0)]],
        ],
    ],
    dtype=np.float32,
)
PAYOFF_TABLES.setflags(write=False)


@dataclass(frozen=True)
class JointOptimum:
    """Best joint returns ``r_A + r_B`` of a payoff table, labels drawn uniformly."""

    payoff: str
    """Name of the payoff table."""
    per_label: tuple[float, ...]
    """Best joint return for each label 0..9 (full information)."""
    mean: float
    """Mean of ``per_label``: the optimum an experiment reports a fraction of."""
    without_message: float
    """Best expected joint return when B's action cannot depend on the label (B sees
    no label and reads no message; A still knows the label): the no-communication
    (chance) level. Equals ``mean`` when the game needs no communication."""


def joint_optimum(payoff: str = "aim") -> JointOptimum:
    """The optimal joint returns of payoff table ``payoff``.

    >>> joint_optimum("aim").mean, joint_optimum("baseline").mean
    (9.0, 8.0)
    >>> joint_optimum("parity_coordination").without_message
    1.0
    """
    table = PAYOFF_TABLES[_payoff_index(payoff)].sum(-1)  # [a_A, a_B, parity] joint
    parity = np.arange(N_LABELS) % 2
    best = table.max(axis=(0, 1))  # [parity]
    per_label = tuple(float(best[p]) for p in parity)
    # B fixes an action not knowing the parity; A best-responds knowing it. A mixed
    # B is a mixture of these, so a pure B suffices.
    blind = table.max(axis=0)[:, parity].mean(axis=1).max()
    return JointOptimum(
        payoff=payoff,
        per_label=per_label,
        mean=float(np.mean(per_label)),
        without_message=float(blind),
    )


def optimal_joint_return(payoff: str = "aim") -> float:
    """Mean over labels of the best joint return: 9.0 for ``aim``, 8.0 ``baseline``."""
    return joint_optimum(payoff).mean


def _payoff_index(payoff: str) -> int:
    if payoff not in PAYOFFS:
        raise ValueError(
            f"contextual_pd_v0: payoff must be one of {list(PAYOFFS)}, got {payoff!r}"
        )
    return PAYOFFS.index(payoff)


@dataclass(frozen=True)
class ContextualPDConfig(EnvConfig):
    """Options of ``contextual_pd_v0``."""

    payoff: Literal["aim", "baseline", "parity_coordination"] = "aim"
    """Payoff table (see the module docstring)."""
    label_visibility: Literal["both", "sender_only"] = "both"
    """Who sees the label: both agents (faithful) or only the sender."""
    responder_sees_image: bool | None = None
    """Whether the responder sees the image; ``None``: only when it sees the label
    (set by ``__post_init__``), so that with ``"sender_only"`` the context reaches
    the responder only through the message."""
    message_length: int = 2
    """Symbols per message (both agents)."""
    vocab_size: int = 32
    """Symbols in the vocabulary."""
    action_from_first_symbol: bool = True
    """Read C/D off each agent's first symbol (< vocab_size/2 is C); if false, an
    extra Discrete(2) action component is the C/D."""
    joint_reward: bool = True
    """Pay both agents ``r_A + r_B`` (the reference) instead of their own payoffs."""
    mnist_path: str | None = None
    """Local MNIST (IDX folder or .npz); default: scikit-learn's 8x8 digits."""
    message_control: MessageControl = "none"
    """What the responder hears of the sender's message: the message (``"none"``),
    symbol 0 (``"mute"``) or another env's message (``"shuffle"``); see
    :mod:`envs.controls`. The agents' actions are unaffected."""

    def __post_init__(self) -> None:
        _payoff_index(self.payoff)
        check_message_control("contextual_pd_v0", self.message_control)
        if self.label_visibility not in ("both", "sender_only"):
            raise ValueError(
                "contextual_pd_v0: label_visibility must be 'both' or 'sender_only', "
                f"got {self.label_visibility!r}"
            )
        for key in ("action_from_first_symbol", "joint_reward"):
            value = getattr(self, key)
            if not isinstance(value, bool):
                raise ValueError(
                    f"contextual_pd_v0: {key} must be a bool, got {value!r}"
                )
        if self.responder_sees_image is None:
            sees = self.label_visibility == "both"
            object.__setattr__(self, "responder_sees_image", sees)
        elif not isinstance(self.responder_sees_image, bool):
            raise ValueError(
                "contextual_pd_v0: responder_sees_image must be a bool or None, "
                f"got {self.responder_sees_image!r}"
            )
        for key, low in (("message_length", 1), ("vocab_size", 2)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"contextual_pd_v0: {key} must be an int >= {low}, got {value!r}"
                )
        if self.action_from_first_symbol and self.vocab_size % 2:
            raise ValueError(
                "contextual_pd_v0: vocab_size must be even when "
                "action_from_first_symbol=True (half the symbols mean C, half D), "
                f"got vocab_size={self.vocab_size}"
            )
        if self.mnist_path is not None and not isinstance(self.mnist_path, str):
            raise ValueError(
                f"contextual_pd_v0: mnist_path must be a str or None, "
                f"got {self.mnist_path!r}"
            )
        if self.max_steps not in (None, 2) or isinstance(self.max_steps, bool):
            raise ValueError(
                "contextual_pd_v0: an episode is always 2 steps; max_steps must be 2 "
                f"or None, got {self.max_steps!r}"
            )


class ContextualPD(MessageControlMixin, BatchedEnv):
    """Batched contextual Prisoner's Dilemma; see the module docstring."""

    name: ClassVar[str] = "contextual_pd_v0"
    Config = ContextualPDConfig
    possible_agents: ClassVar[tuple[str, ...]] = (SENDER, RESPONDER)
    default_max_steps: ClassVar[int] = 2
    message_agents: ClassVar[tuple[str, ...]] = (SENDER, RESPONDER)
    config: ContextualPDConfig

    def _setup(self) -> None:
        dev, c = self.device, self.config
        if not c.action_from_first_symbol:
            # Message + C/D is not a pure message (mixed nvec): trainers give these
            # agents plain MultiDiscrete actor-critic heads, not a message channel.
            self.message_agents = ()
        images = load_images(c.mnist_path)
        counts = np.bincount(images.labels, minlength=N_LABELS)
        if len(counts) > N_LABELS or not bool((counts > 0).all()):
            raise ValueError(
                f"contextual_pd_v0: the image set must have images of each label "
                f"0..{N_LABELS - 1} and no others, got label counts {counts.tolist()}"
            )
        order = np.argsort(images.labels, kind="stable")
        self._image_set = images
        self._images = torch.as_tensor(images.images[order], device=dev)
        self._class_counts = torch.as_tensor(counts, device=dev)
        self._class_offsets = torch.as_tensor(
            np.concatenate([[0], np.cumsum(counts)[:-1]]), device=dev
        )
        table = PAYOFF_TABLES[_payoff_index(c.payoff)]
        self._table = torch.tensor(table, device=dev)  # a copy of the read-only table
        best = joint_optimum(c.payoff).per_label
        self._best = torch.tensor(best, dtype=torch.float32, device=dev)
        n, length = self.num_envs, c.message_length
        self.label = torch.zeros(n, dtype=torch.int64, device=dev)
        self.image = torch.zeros(n, dtype=torch.int64, device=dev)
        self.message = torch.zeros(n, length, dtype=torch.int64, device=dev)
        self.heard = torch.zeros_like(self.message)
        self.responder_message = torch.zeros(n, length, dtype=torch.int64, device=dev)
        self.phase = torch.zeros(n, dtype=torch.int64, device=dev)
        self.game_actions = torch.full((n, 2), -1, dtype=torch.int64, device=dev)
        self.payoffs = torch.zeros(n, 2, dtype=torch.float32, device=dev)

    # ------------------------------------------------------------------ sizes
    @property
    def obj_dim(self) -> int:
        """Pixels per image (64 for the 8x8 digits, 784 for MNIST)."""
        return int(self._image_set.images.shape[1])

    def _build_spaces(self):
        c = self.config
        msg_dim = c.message_length * c.vocab_size
        obs = {
            SENDER: spaces.Box(
                0.0, 1.0, (self.obj_dim + N_LABELS + N_PHASES,), np.float32
            ),
            RESPONDER: spaces.Box(
                0.0, 1.0, (self.obj_dim + N_LABELS + msg_dim + N_PHASES,), np.float32
            ),
        }
        nvec = [c.vocab_size] * c.message_length
        if not c.action_from_first_symbol:
            nvec.append(2)
        act = {agent: spaces.MultiDiscrete(nvec) for agent in self.possible_agents}
        return obs, act

    # ------------------------------------------------------------------ game
    def game_action(self, action: torch.Tensor) -> torch.Tensor:
        """C/D (0/1) ``[N]`` of batched agent actions ``[N, *action_shape]``."""
        c = self.config
        if c.action_from_first_symbol:
            return (action[:, 0] >= c.vocab_size // 2).long()
        return action[:, c.message_length]

    def joint_optimum(self) -> JointOptimum:
        """Best joint returns of this env's payoff table (see :func:`joint_optimum`)."""
        return joint_optimum(self.config.payoff)

    def optimal_joint_return(self) -> float:
        """Mean over labels of the best joint return (``aim`` 9.0, ``baseline`` 8.0)."""
        return self.joint_optimum().mean

    # ------------------------------------------------------------------ hooks
    def _reset_where(self, mask: torch.Tensor) -> None:
        n, g, dev = self.num_envs, self.generator, self.device
        label = torch.randint(0, N_LABELS, (n,), generator=g, device=dev)
        image = sample_of_class(
            self._class_offsets, self._class_counts, label, generator=g
        )
        m = mask[:, None]
        self.label = torch.where(mask, label, self.label)
        self.image = torch.where(mask, image, self.image)
        self.message = torch.where(m, 0, self.message)
        self.heard = torch.where(m, 0, self.heard)
        self.responder_message = torch.where(m, 0, self.responder_message)
        self.phase = torch.where(mask, 0, self.phase)
        self.game_actions = torch.where(m, -1, self.game_actions)
        self.payoffs = torch.where(m, 0.0, self.payoffs)

    def _random_message(self) -> torch.Tensor:
        c = self.config
        return torch.randint(
            0,
            c.vocab_size,
            (self.num_envs, c.message_length),
            generator=self._control_generator,
            device=self.device,
        )

    def _step(self, actions):
        length = self.config.message_length
        talking = self.phase == 0  # the sender's turn
        t = talking[:, None]
        # Game actions come from each agent's own action, whatever the control.
        a_sender = self.game_action(actions[SENDER])
        a_responder = self.game_action(actions[RESPONDER])
        sent = actions[SENDER][:, :length]
        self.message = torch.where(t, sent, self.message)
        heard = heard_message(
            sent,
            self.config.message_control,
            generator=self._control_generator,
            constant=torch.zeros((), dtype=torch.int64, device=self.device),
            random_message=self._random_message,
        )
        # Every episode is 2 steps, so all envs of a batch talk in the same step.
        self.heard = torch.where(t, heard, self.heard)
        self.responder_message = torch.where(
            t, self.responder_message, actions[RESPONDER][:, :length]
        )
        acts = self.game_actions
        acts = torch.stack(
            [
                torch.where(talking, a_sender, acts[:, 0]),
                torch.where(talking, acts[:, 1], a_responder),
            ],
            dim=1,
        )
        self.game_actions = acts
        # Indices are clamped only so that phase-0 rows (-1 for B) index validly;
        # their payoff is masked to 0 below.
        paid = self._table[
            acts[:, 0].clamp_min(0), acts[:, 1].clamp_min(0), self.label % 2
        ]
        paid = torch.where(t, 0.0, paid)
        self.payoffs = torch.where(t, self.payoffs, paid)
        if self.config.joint_reward:
            joint = paid.sum(1)
            rewards = {SENDER: joint, RESPONDER: joint}
        else:
            rewards = {SENDER: paid[:, 0], RESPONDER: paid[:, 1]}
        self.phase = torch.ones_like(self.phase)
        return rewards, ~talking, {}

    def _observe(self):
        c = self.config
        phase = torch.nn.functional.one_hot(self.phase, N_PHASES).float()
        image = self._images[self.image]
        label = torch.nn.functional.one_hot(self.label, N_LABELS).float()
        sender = torch.cat([image, label, phase], dim=1)
        spoke = (self.phase > 0)[:, None].float()
        msg = torch.nn.functional.one_hot(self.heard, c.vocab_size).flatten(1)
        responder = torch.cat(
            [
                image if c.responder_sees_image else torch.zeros_like(image),
                label if c.label_visibility == "both" else torch.zeros_like(label),
                msg.float() * spoke,
                phase,
            ],
            dim=1,
        )
        return {SENDER: sender, RESPONDER: responder}

    def _active(self):
        talking = self.phase == 0
        return {SENDER: talking, RESPONDER: ~talking}

    def _success(self):
        # The joint payoff is the best one for the context (once both acted).
        done = self.game_actions[:, 1] >= 0
        return done & (self.payoffs.sum(1) == self._best[self.label])

    def _meaning(self):
        return self.label[:, None]

    def _infos(self):
        infos = super()._infos()
        for d in infos.values():
            d.update(
                message=self.message,
                heard_message=self.heard,
                responder_message=self.responder_message,
                actions=self.game_actions,
                payoffs=self.payoffs,
                joint_return=self.payoffs.sum(1),
            )
        return infos

    def probe_feature_specs(self, agent: str) -> tuple[ProbeFeature, ...]:
        """The digit label and its parity (the context of the game)."""
        self._check_agent(agent)
        return (
            ProbeFeature(
                "label",
                "categorical",
                n_classes=N_LABELS,
                description="the context image's digit class",
            ),
            ProbeFeature(
                "parity",
                "categorical",
                n_classes=2,
                description="the label's parity (0 even, 1 odd): what payoffs use",
            ),
        )

    def probe_features(self, agent: str) -> dict[str, torch.Tensor]:
        """Values of :meth:`probe_feature_specs`, each ``[N]`` int64."""
        self._check_agent(agent)
        return {"label": self.label.clone(), "parity": self.label % 2}

    # ------------------------------------------------------------------ misc
    def task_spec(self, agent: str = RESPONDER) -> TaskSpec:
        """Difficulty numbers of one agent's C/D decision (default: the responder).

        * ``obs_dim``: the entries of the agent's observation that can carry
          information (image and label where visible, the sender's message for the
          responder; the phase one-hot and always-zero hidden blocks excluded).
        * ``act_dim = 1``, ``n_actions = 2``: the payoff depends on one C/D choice
          (the rest of the symbols only carry messages).
        * ``history = 1``: one step; the responder's phase-1 observation holds all it
          can know.
        * ``delta = sqrt(2)``: the decisive inputs (label, message symbol) are one-hot
          codes, two of which differ by sqrt(2) in L2.
        * ``eps = 0.05``: the tolerated fraction of wrong C/D decisions.
        """
        self._check_agent(agent)
        c = self.config
        if agent == SENDER:
            obs_dim = self.obj_dim + N_LABELS
            what = "sender: image + label -> message and C/D"
        else:
            obs_dim = c.message_length * c.vocab_size
            obs_dim += self.obj_dim if c.responder_sees_image else 0
            obs_dim += N_LABELS if c.label_visibility == "both" else 0
            what = "responder: sender's message + visible context -> C/D"
        return TaskSpec(
            obs_dim=obs_dim,
            act_dim=1,
            n_actions=2,
            history=1,
            delta=float(np.sqrt(2.0)),
            eps=0.05,
            description=f"{what} ({c.payoff} payoff, {c.label_visibility})",
        )

    def render_text(self, index: int = 0) -> str:
        i = index
        spoke = int(self.phase[i]) > 0
        label = int(self.label[i])
        acts = ["-" if a < 0 else "CD"[a] for a in self.game_actions[i].tolist()]
        paid = bool((self.game_actions[i] >= 0).all())
        r_a, r_b = self.payoffs[i].tolist()
        lines = [
            f"contextual_pd_v0 phase {int(self.phase[i])} "
            f"({self.config.payoff} payoff, label seen by "
            f"{self.config.label_visibility.replace('_', ' ')})",
            f"label: {label} ({'odd' if label % 2 else 'even'})",
            f"sender:    message {self.message[i].tolist() if spoke else '-'} "
            f"action {acts[0]}",
            f"responder: message "
            f"{self.responder_message[i].tolist() if acts[1] != '-' else '-'} "
            f"action {acts[1]}",
            f"payoffs: {f'A {r_a:g}, B {r_b:g}, joint {r_a + r_b:g}' if paid else '-'}",
        ]
        control = self.config.message_control
        if control != "none":
            heard = self.heard[i].tolist() if spoke else "-"
            lines.insert(3, f"responder heard ({control}): {heard}")
        return "\n".join(lines)


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFace:
    """The PettingZoo ``ParallelEnv`` of the contextual Prisoner's Dilemma."""
    return ParallelFace(ContextualPD, render_mode=render_mode, **config)


def env(render_mode: str | None = None, **config: Any):
    """The PettingZoo AEC form (:class:`envs.core.AECFace`)."""
    return aec_face(parallel_env(render_mode=render_mode, **config))
