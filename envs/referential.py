"""# Referential game (Lewis signalling game)

| | |
|---|---|
| Import | `envs.make("referential_v0")`, `from envs.referential import parallel_env` |
| Agents | `speaker`, `listener` |
| Action spaces | speaker: `MultiDiscrete([vocab_size] * message_length)`; listener: `Discrete(n_candidates)` |
| Observation spaces | speaker: `Box(0, 1, (obj_dim + 2,))`; listener: `Box(0, 1, (message_length * vocab_size + n_candidates * obj_dim + 2,))` |
| Episode | two steps: the speaker talks, then the listener picks |

With the defaults (`objects="attributes"`, 4 attributes x 4 values, 4 candidates,
`message_length=2`, `vocab_size=16`): `obj_dim = 16`, speaker obs `(18,)`, listener
obs `(98,)`.

## Description
A speaker sees a target object and sends a message of `message_length` symbols over a
vocabulary of `vocab_size`. The listener sees the message and `n_candidates` distinct
objects (the target at a uniformly random slot) and picks one. Both get reward 1 when
the listener picks the target, else 0. Nothing in the game ties symbols to meanings:
any convention the agents share is theirs.

The game has **two phases in one episode**, because the listener must act after the
message exists:

* step 1 (phase 0): the speaker's action is the message. The listener's action is
  **ignored** (it must still be a valid action; `infos[agent]["active"]` says whose
  action counts). The listener's observation has an all-zero message part.
* step 2 (phase 1): the listener's action is its choice; the speaker's action is
  **ignored**. Rewards are paid and the episode terminates.

## Objects
* `objects="attributes"`: an object is `n_attributes` values in `[0, n_values)`,
  encoded as concatenated one-hot vectors (`obj_dim = n_attributes * n_values`). The
  candidates are distinct objects.
* `objects="digits"`: an object is an image (scikit-learn's bundled 8x8 digits, or
  MNIST read from `mnist_path`), pixels in `[0, 1]` (`obj_dim = 64` or `784`). The
  candidates are images of distinct classes, so `n_candidates <= 10`.

## Observations
Each agent's observation ends with a one-hot of the phase (2 entries).
* speaker: the target object, then the phase.
* listener: the message as `message_length` one-hot blocks of `vocab_size` (zeros in
  phase 0), the candidates one after the other, then the phase.

## Rewards
Both agents: 1 in phase 1 if the listener picked the target slot, else 0 (0 in phase 0).

## Infos
Every agent's infos carry `active` (its action counts in the next step), `target`
(the target's slot), `meaning` (the target's attributes `[n_attributes]`, or its
label `[1]`) and `message` (the current message, `[message_length]`; zeros before
the speaker spoke). Analysis pairs `message` with `meaning`.

## Episode end
Terminates after the listener's step (2 steps); never truncates.

## Arguments
`objects`, `n_attributes` (>= 1), `n_values` (>= 2), `n_candidates` (2 ..
distinct objects), `message_length` (>= 1), `vocab_size` (>= 2), `mnist_path`
(digits only), `max_steps` (must stay 2 or None).

## Version History
* v0: initial version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from gymnasium import spaces

from envs.core import BatchedEnv, EnvConfig, ParallelFace, TaskSpec, aec_face
from envs.data import load_images, sample_distinct, sample_of_class

__all__ = ["ReferentialConfig", "ReferentialGame", "env", "parallel_env"]

SPEAKER, LISTENER = "speaker", "listener"
N_PHASES = 2


@dataclass(frozen=True)
class ReferentialConfig(EnvConfig):
    """Options of ``referential_v0``."""

    objects: Literal["attributes", "digits"] = "attributes"
    """What the objects are: attribute vectors or digit images."""
    n_attributes: int = 4
    """Attributes per object (``objects="attributes"``)."""
    n_values: int = 4
    """Values per attribute (``objects="attributes"``)."""
    n_candidates: int = 4
    """Objects the listener chooses among (target included)."""
    message_length: int = 2
    """Symbols per message."""
    vocab_size: int = 16
    """Symbols in the vocabulary."""
    mnist_path: str | None = None
    """Local MNIST (IDX folder or .npz) for ``objects="digits"``; default: 8x8 digits."""

    def __post_init__(self) -> None:
        if self.objects not in ("attributes", "digits"):
            raise ValueError(
                f"referential_v0: objects must be 'attributes' or 'digits', "
                f"got {self.objects!r}"
            )
        for key, low in (
            ("n_attributes", 1),
            ("n_values", 2),
            ("n_candidates", 2),
            ("message_length", 1),
            ("vocab_size", 2),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"referential_v0: {key} must be an int >= {low}, got {value!r}"
                )
        if self.objects == "attributes":
            n_objects = self.n_values**self.n_attributes
            if self.n_candidates > n_objects:
                raise ValueError(
                    f"referential_v0: n_candidates must be <= the {n_objects} distinct "
                    f"objects ({self.n_values}^{self.n_attributes}), "
                    f"got {self.n_candidates}"
                )
        elif self.n_candidates > 10:
            raise ValueError(
                "referential_v0: with objects='digits' the candidates are of distinct "
                f"classes, so n_candidates must be <= 10, got {self.n_candidates}"
            )
        if self.mnist_path is not None and self.objects != "digits":
            raise ValueError("referential_v0: mnist_path needs objects='digits'")
        if self.max_steps not in (None, 2):
            raise ValueError(
                f"referential_v0: an episode is always 2 steps; max_steps must be 2 "
                f"or None, got {self.max_steps!r}"
            )


class ReferentialGame(BatchedEnv):
    """Batched Lewis referential game; see the module docstring."""

    name: ClassVar[str] = "referential_v0"
    Config = ReferentialConfig
    possible_agents: ClassVar[tuple[str, ...]] = (SPEAKER, LISTENER)
    default_max_steps: ClassVar[int] = 2
    message_agents: ClassVar[tuple[str, ...]] = (SPEAKER,)
    config: ReferentialConfig

    def _setup(self) -> None:
        dev, c = self.device, self.config
        if c.objects == "digits":
            images = load_images(c.mnist_path)
            if images.n_classes < c.n_candidates:
                raise ValueError(
                    f"referential_v0: the image set has {images.n_classes} classes, "
                    f"fewer than n_candidates={c.n_candidates}"
                )
            order = np.argsort(images.labels, kind="stable")
            counts = np.bincount(images.labels, minlength=images.n_classes)
            self._image_set = images
            self._images = torch.as_tensor(images.images[order], device=dev)
            self._labels = torch.as_tensor(images.labels[order], device=dev)
            self._class_counts = torch.as_tensor(counts, device=dev)
            self._class_offsets = torch.as_tensor(
                np.concatenate([[0], np.cumsum(counts)[:-1]]), device=dev
            )
        self._powers = c.n_values ** torch.arange(
            c.n_attributes - 1, -1, -1, device=dev
        )
        n, k = self.num_envs, c.n_candidates
        self.candidates = torch.zeros(n, k, dtype=torch.int64, device=dev)
        self.target = torch.zeros(n, dtype=torch.int64, device=dev)
        self.message = torch.zeros(n, c.message_length, dtype=torch.int64, device=dev)
        self.phase = torch.zeros(n, dtype=torch.int64, device=dev)
        self.choice = torch.full((n,), -1, dtype=torch.int64, device=dev)

    # ------------------------------------------------------------------ sizes
    @property
    def obj_dim(self) -> int:
        c = self.config
        if c.objects == "attributes":
            return c.n_attributes * c.n_values
        return int(self._image_set.images.shape[1])

    @property
    def n_objects(self) -> int:
        """Distinct objects (attribute combinations, or classes for digits)."""
        c = self.config
        if c.objects == "attributes":
            return c.n_values**c.n_attributes
        return self._image_set.n_classes

    def _build_spaces(self):
        c = self.config
        obs = {
            SPEAKER: spaces.Box(0.0, 1.0, (self.obj_dim + N_PHASES,), np.float32),
            LISTENER: spaces.Box(
                0.0,
                1.0,
                (
                    c.message_length * c.vocab_size
                    + c.n_candidates * self.obj_dim
                    + N_PHASES,
                ),
                np.float32,
            ),
        }
        act = {
            SPEAKER: spaces.MultiDiscrete([c.vocab_size] * c.message_length),
            LISTENER: spaces.Discrete(c.n_candidates),
        }
        return obs, act

    # ------------------------------------------------------------------ objects
    def attributes_of(self, ids: torch.Tensor) -> torch.Tensor:
        """Attribute values ``[..., n_attributes]`` of attribute-object ids."""
        return (ids.unsqueeze(-1) // self._powers) % self.config.n_values

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Object ids ``[...]`` as observation vectors ``[..., obj_dim]``."""
        c = self.config
        if c.objects == "digits":
            return self._images[ids]
        onehot = torch.nn.functional.one_hot(self.attributes_of(ids), c.n_values)
        return onehot.flatten(-2).float()

    def meaning(self) -> torch.Tensor:
        """The target's meaning: attributes ``[N, n_attributes]`` or label ``[N, 1]``."""
        tid = self.candidates.gather(1, self.target[:, None]).squeeze(1)
        if self.config.objects == "digits":
            return self._labels[tid][:, None]
        return self.attributes_of(tid)

    # ------------------------------------------------------------------ hooks
    def _reset_where(self, mask: torch.Tensor) -> None:
        c, n, g = self.config, self.num_envs, self.generator
        if c.objects == "attributes":
            cand = sample_distinct(
                self.n_objects, c.n_candidates, n, generator=g, device=self.device
            )
        else:
            classes = sample_distinct(
                self._image_set.n_classes,
                c.n_candidates,
                n,
                generator=g,
                device=self.device,
            )
            cand = sample_of_class(
                self._class_offsets, self._class_counts, classes, generator=g
            )
        target = torch.randint(0, c.n_candidates, (n,), generator=g, device=self.device)
        m = mask[:, None]
        self.candidates = torch.where(m, cand, self.candidates)
        self.target = torch.where(mask, target, self.target)
        self.message = torch.where(m, 0, self.message)
        self.phase = torch.where(mask, 0, self.phase)
        self.choice = torch.where(mask, -1, self.choice)

    def _step(self, actions):
        talking = self.phase == 0
        self.message = torch.where(talking[:, None], actions[SPEAKER], self.message)
        choice = actions[LISTENER]
        success = (~talking) & (choice == self.target)
        self.choice = torch.where(talking, self.choice, choice)
        reward = success.float()
        terminated = ~talking
        self.phase = torch.ones_like(self.phase)
        infos = {a: {"success": success} for a in self.possible_agents}
        return {SPEAKER: reward, LISTENER: reward}, terminated, infos

    def _observe(self):
        c = self.config
        phase = torch.nn.functional.one_hot(self.phase, N_PHASES).float()
        target_id = self.candidates.gather(1, self.target[:, None]).squeeze(1)
        speaker = torch.cat([self.encode(target_id), phase], dim=1)
        spoke = (self.phase > 0)[:, None].float()
        msg = torch.nn.functional.one_hot(self.message, c.vocab_size).flatten(1)
        listener = torch.cat(
            [msg.float() * spoke, self.encode(self.candidates).flatten(1), phase], dim=1
        )
        return {SPEAKER: speaker, LISTENER: listener}

    def _active(self):
        talking = self.phase == 0
        return {SPEAKER: talking, LISTENER: ~talking}

    def _infos(self):
        meaning, message = self.meaning(), self.message
        return {
            agent: {
                "active": active,
                "target": self.target,
                "meaning": meaning,
                "message": message,
            }
            for agent, active in self._active().items()
        }

    # ------------------------------------------------------------------ misc
    def obs_parts(self, agent: str) -> dict[str, tuple[int, ...]]:
        """The listener's observation: message, candidates (one per action), phase."""
        self._check_agent(agent)
        if agent == SPEAKER:
            return {"object": (0, self.obj_dim)}
        c = self.config
        msg = c.message_length * c.vocab_size
        cand = msg + c.n_candidates * self.obj_dim
        return {"message": (0, msg), "candidates": (msg, cand, c.n_candidates)}

    def task_spec(self, agent: str = LISTENER, *, channel: bool = True) -> TaskSpec:
        """Difficulty numbers of the listener's choice (``channel=False``: no message).

        Without the channel the listener's observation carries no message part and the
        target is not identifiable from it; ``history`` stays 1.
        """
        self._check_agent(agent)
        c = self.config
        if agent == SPEAKER:
            return TaskSpec(
                obs_dim=self.obj_dim,
                act_dim=c.message_length,
                n_actions=c.vocab_size,
                delta=float(np.sqrt(2.0)) if c.objects == "attributes" else 1.0,
                eps=0.05,
                description="speaker: target object -> message",
            )
        msg_dim = c.message_length * c.vocab_size if channel else 0
        return TaskSpec(
            obs_dim=msg_dim + c.n_candidates * self.obj_dim,
            act_dim=1,
            n_actions=c.n_candidates,
            delta=float(np.sqrt(2.0)) if c.objects == "attributes" else 1.0,
            eps=0.05,
            description="listener: message + candidates -> choice"
            + ("" if channel else " (no message)"),
        )

    def render_text(self, index: int = 0) -> str:
        c = self.config
        i = index
        cand = self.candidates[i]
        if c.objects == "attributes":
            objs = [tuple(self.attributes_of(x).tolist()) for x in cand]
        else:
            objs = [int(self._labels[x]) for x in cand]
        marks = [
            ("*" if j == int(self.target[i]) else " ")
            + ("<" if j == int(self.choice[i]) else " ")
            for j in range(c.n_candidates)
        ]
        lines = [
            f"referential_v0 phase {int(self.phase[i])}",
            f"message: {self.message[i].tolist() if int(self.phase[i]) else '-'}",
        ]
        lines += [f"  {m} {j}: {o}" for j, (m, o) in enumerate(zip(marks, objs))]
        lines.append("  (* target, < listener's choice)")
        return "\n".join(lines)


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFace:
    """The PettingZoo ``ParallelEnv`` of the referential game."""
    return ParallelFace(ReferentialGame, render_mode=render_mode, **config)


def env(render_mode: str | None = None, **config: Any):
    """The PettingZoo AEC form (:class:`envs.core.AECFace`)."""
    return aec_face(parallel_env(render_mode=render_mode, **config))
