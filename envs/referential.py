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

## Held-out combinations (compositional generalization)
With `objects="attributes"`, `holdout_fraction=f` (or an explicit list `holdout=[...]`
of attribute combinations) sets aside a seeded subset of the `n_values ** n_attributes`
combinations, and `split` chooses where the candidates come from:

* `split="train"` (the default): the target **and every distractor** are drawn from
  the training combinations only, so no held-out combination ever appears in a
  training episode, in any role (the strict reading: not even as a distractor).
* `split="heldout"`: the target and every distractor are held-out combinations. All
  candidates are new, so "pick the unfamiliar object" is no shortcut; chance is
  `1 / n_candidates` as in training.
* `split="all"`: candidates from every combination (`infos["target_heldout"]` says
  which targets are held out).

The split depends only on the config (`n_attributes`, `n_values`, `holdout_fraction`
or `holdout`, `holdout_seed`), never on the env's seed, so a training env and an
evaluation env built from the same config with another `split` share it exactly
(:func:`holdout_split` computes it). Every value of every attribute still occurs in
training: with `holdout_fraction`, a random "cover" of `n_values` combinations
(combination `j` takes value `perm_a[j]` in attribute `a`, one random permutation per
attribute) is never held out, and the `round(f * n_values ** n_attributes)` held-out
combinations are drawn uniformly from the rest; an explicit list that would remove a
value from training is an error. Both splits need at least `n_candidates`
combinations; the split is enumerated, so it needs `n_values ** n_attributes <= 2**20`.

## Message controls
`message_control="mute"` makes the listener hear symbol 0 in every position and
`"shuffle"` the message sent in another env of the batch (uniform random symbols with
`num_envs == 1`); the speaker, its action space and everything else are unchanged.
See `envs.controls`.

## Observations
Each agent's observation ends with a one-hot of the phase (2 entries).
* speaker: the target object, then the phase.
* listener: the heard message (the sent one unless `message_control` says otherwise)
  as `message_length` one-hot blocks of `vocab_size` (zeros in phase 0), the
  candidates one after the other, then the phase.

## Rewards
Both agents: 1 in phase 1 if the listener picked the target slot, else 0 (0 in phase 0).

## Infos
Every agent's infos carry `active` (its action counts in the next step), `target`
(the target's slot), `meaning` (the target's attributes `[n_attributes]`, or its
label `[1]`), `message` (the message the speaker sent, `[message_length]`; zeros
before the speaker spoke), `heard_message` (what the listener heard of it, the same
shape) and `target_heldout` (whether the target is a held-out combination). Analysis
pairs `message` with `meaning`.

## Probe features
`probe_features(agent)`: `attribute_0 .. attribute_{n_attributes-1}` (the target's
value of each attribute, categorical over `n_values`; with digits `label`,
categorical over the classes) and `target_slot` (categorical over `n_candidates`).

## Episode end
Terminates after the listener's step (2 steps); never truncates.

## Arguments
`objects`, `n_attributes` (>= 1), `n_values` (>= 2; `n_values ** n_attributes`
object ids must fit int64, `< 2**63`), `n_candidates` (2 .. distinct objects),
`message_length` (>= 1), `vocab_size` (>= 2), `mnist_path` (digits only),
`message_control` (`"none"`, `"mute"`, `"shuffle"`), `holdout_fraction` (in
`[0, 1)`), `holdout` (attribute combinations, exclusive with `holdout_fraction`),
`holdout_seed` (int >= 0), `split` (`"train"`, `"heldout"`, `"all"`), `max_steps`
(must stay 2 or None).

## Version History
* v0: initial version.
* v0 (2026-11-30, defaults unchanged): `message_control`; held-out combinations
  (`holdout_fraction`, `holdout`, `holdout_seed`, `split`); infos `heard_message`,
  `target_heldout`; `probe_features`.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from envs.data import load_images, sample_distinct, sample_of_class

__all__ = [
    "SPLITS",
    "HoldoutSplit",
    "ReferentialConfig",
    "ReferentialGame",
    "env",
    "holdout_split",
    "parallel_env",
]

SPEAKER, LISTENER = "speaker", "listener"
N_PHASES = 2
SPLITS: tuple[str, ...] = ("train", "heldout", "all")
"""Values of ``split``: where the candidates are drawn from."""
MAX_ID = 2**63
"""Object ids are int64: ``n_values ** n_attributes`` must be below this."""
MAX_SPLIT_OBJECTS = 2**20
"""A held-out split is enumerated: at most this many attribute combinations."""


@dataclass(frozen=True, eq=False)
class HoldoutSplit:
    """Object ids (attribute combinations) seen in training and held out.

    Ids encode attributes base ``n_values``, the first attribute most significant.
    """

    train: np.ndarray
    """Sorted ids of the training combinations (int64)."""
    heldout: np.ndarray
    """Sorted ids of the held-out combinations (int64)."""
    n_attributes: int
    n_values: int

    def combinations(
        self, which: Literal["train", "heldout"] = "heldout"
    ) -> np.ndarray:
        """The combinations of one side as attribute values ``[k, n_attributes]``."""
        if which not in ("train", "heldout"):
            raise ValueError(f"which must be 'train' or 'heldout', got {which!r}")
        ids = self.train if which == "train" else self.heldout
        return _attributes(ids, self.n_attributes, self.n_values)


def _powers(n_attributes: int, n_values: int) -> np.ndarray:
    return n_values ** np.arange(n_attributes - 1, -1, -1, dtype=np.int64)


def _attributes(ids: np.ndarray, n_attributes: int, n_values: int) -> np.ndarray:
    return (ids[:, None] // _powers(n_attributes, n_values)) % n_values


def _holdout_combinations(
    holdout: Any, n_attributes: int, n_values: int
) -> tuple[tuple[int, ...], ...]:
    """``holdout`` as a tuple of distinct combinations, or ``ValueError``."""
    if isinstance(holdout, str | bytes) or not isinstance(holdout, Sequence):
        raise ValueError(
            "referential_v0: holdout must be a list of attribute combinations, "
            f"got {holdout!r}"
        )
    out = []
    for combo in holdout:
        ok = (
            isinstance(combo, Sequence)
            and not isinstance(combo, str | bytes)
            and len(combo) == n_attributes
            and all(
                isinstance(v, int | np.integer)
                and not isinstance(v, bool | np.bool_)
                and 0 <= v < n_values
                for v in combo
            )
        )
        if not ok:
            raise ValueError(
                f"referential_v0: each holdout combination must be {n_attributes} "
                f"ints in [0, {n_values}), got {combo!r}"
            )
        out.append(tuple(int(v) for v in combo))
    if len(set(out)) != len(out):
        raise ValueError("referential_v0: holdout lists a combination twice")
    return tuple(out)


def _check_split_sizes(
    n_objects: int, n_heldout: int, n_candidates: int, n_values: int, explicit: bool
) -> None:
    if n_objects > MAX_SPLIT_OBJECTS:
        raise ValueError(
            f"referential_v0: a held-out split is enumerated and needs n_values ** "
            f"n_attributes <= 2**20, got {n_objects}"
        )
    if n_heldout < n_candidates:
        raise ValueError(
            f"referential_v0: the held-out split must have at least n_candidates="
            f"{n_candidates} combinations (an evaluation episode draws all its "
            f"candidates from it), got {n_heldout}"
        )
    reserved = n_candidates if explicit else max(n_candidates, n_values)
    if n_objects - n_heldout < reserved:
        raise ValueError(
            f"referential_v0: holding out {n_heldout} of {n_objects} combinations "
            f"leaves too few for training (need at least {reserved}: n_candidates"
            + ("" if explicit else " and one per value")
            + ")"
        )


def holdout_split(
    n_attributes: int,
    n_values: int,
    *,
    fraction: float = 0.0,
    combinations: Sequence[Sequence[int]] = (),
    seed: int = 0,
    n_candidates: int = 2,
) -> HoldoutSplit:
    """The seeded split of attribute combinations into training and held out.

    Parameters
    ----------
    n_attributes, n_values : int
        The object space, ``n_values ** n_attributes`` combinations (at most 2**20).
    fraction : float
        Hold out ``round(fraction * n_values ** n_attributes)`` combinations, drawn
        uniformly (with ``seed``) from all but a random cover of ``n_values``
        combinations that keeps every value of every attribute in training.
    combinations : sequence of sequences of int
        Or hold out exactly these (exclusive with ``fraction``); an error if that
        would remove a value of an attribute from training.
    seed : int
        Seed of the draw (``fraction`` only). The split depends on nothing else.
    n_candidates : int
        Both sides must hold at least this many combinations.

    Returns
    -------
    HoldoutSplit

    Examples
    --------
    >>> split = holdout_split(2, 3, fraction=0.3, seed=0)
    >>> len(split.train), len(split.heldout)
    (6, 3)
    >>> sorted(set(split.combinations("train")[:, 0].tolist()))
    [0, 1, 2]
    """
    n_objects = n_values**n_attributes
    if fraction and len(combinations):
        raise ValueError("referential_v0: give holdout_fraction or holdout, not both")
    explicit = bool(len(combinations))
    if explicit:
        combos = np.asarray(
            _holdout_combinations(combinations, n_attributes, n_values), dtype=np.int64
        )
        n_heldout = len(combos)
    else:
        n_heldout = int(round(fraction * n_objects))
        if n_heldout < 1:
            raise ValueError(
                f"referential_v0: holdout_fraction={fraction} of {n_objects} "
                "combinations holds out none"
            )
    _check_split_sizes(n_objects, n_heldout, n_candidates, n_values, explicit)
    powers = _powers(n_attributes, n_values)
    everything = np.arange(n_objects, dtype=np.int64)
    if explicit:
        heldout = np.sort(combos @ powers)
        per_value = n_values ** (n_attributes - 1)
        for a in range(n_attributes):
            counts = np.bincount(combos[:, a], minlength=n_values)
            if (counts >= per_value).any():
                v = int(np.argmax(counts >= per_value))
                raise ValueError(
                    f"referential_v0: holdout removes value {v} of attribute {a} "
                    "from training (every combination with it is held out)"
                )
    else:
        rng = np.random.default_rng(seed)
        cover = np.zeros(n_values, dtype=np.int64)
        for a in range(n_attributes):
            cover += rng.permutation(n_values) * powers[a]
        rest = np.setdiff1d(everything, cover, assume_unique=True)
        heldout = np.sort(rng.choice(rest, size=n_heldout, replace=False))
    train = np.setdiff1d(everything, heldout, assume_unique=True)
    train.setflags(write=False)
    heldout.setflags(write=False)
    return HoldoutSplit(train, heldout, n_attributes, n_values)


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
    message_control: MessageControl = "none"
    """What the listener hears: the message (``"none"``), symbol 0 (``"mute"``) or
    another env's message (``"shuffle"``); see :mod:`envs.controls`."""
    holdout_fraction: float = 0.0
    """Fraction of attribute combinations held out of training (seeded)."""
    holdout: tuple[tuple[int, ...], ...] = ()
    """Attribute combinations held out of training (exclusive with the fraction)."""
    holdout_seed: int = 0
    """Seed of the held-out draw (the split depends on nothing else)."""
    split: Literal["train", "heldout", "all"] = "train"
    """Where candidates come from: training, held-out or all combinations."""

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
            if n_objects >= MAX_ID:
                raise ValueError(
                    f"referential_v0: n_values ** n_attributes = {self.n_values}**"
                    f"{self.n_attributes} objects do not fit int64 object ids (must "
                    "be < 2**63); lower n_attributes or n_values"
                )
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
        if self.max_steps not in (None, 2) or isinstance(self.max_steps, bool):
            raise ValueError(
                f"referential_v0: an episode is always 2 steps; max_steps must be 2 "
                f"or None, got {self.max_steps!r}"
            )
        check_message_control("referential_v0", self.message_control)
        self._check_holdout()

    @property
    def has_holdout(self) -> bool:
        """Whether some attribute combinations are held out."""
        return bool(self.holdout_fraction) or bool(self.holdout)

    def _check_holdout(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(
                f"referential_v0: split must be one of {list(SPLITS)}, "
                f"got {self.split!r}"
            )
        frac = self.holdout_fraction
        if isinstance(frac, bool) or not isinstance(
            frac, int | float | np.integer | np.floating
        ):
            raise ValueError(
                f"referential_v0: holdout_fraction must be a float, got {frac!r}"
            )
        if not 0.0 <= float(frac) < 1.0:
            raise ValueError(
                f"referential_v0: holdout_fraction must be in [0, 1), got {frac!r}"
            )
        seed = self.holdout_seed
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(
                f"referential_v0: holdout_seed must be an int >= 0, got {seed!r}"
            )
        if self.objects == "digits" and self.has_holdout:
            raise ValueError(
                "referential_v0: held-out combinations need objects='attributes'"
            )
        if self.objects == "attributes":
            combos = _holdout_combinations(
                self.holdout, self.n_attributes, self.n_values
            )
            object.__setattr__(self, "holdout", combos)  # lists from JSON -> tuples
        if self.has_holdout:
            if frac and self.holdout:
                raise ValueError(
                    "referential_v0: give holdout_fraction or holdout, not both"
                )
            n_objects = self.n_values**self.n_attributes
            n_heldout = len(self.holdout) or int(round(frac * n_objects))
            if n_heldout < 1:
                raise ValueError(
                    f"referential_v0: holdout_fraction={frac} of {n_objects} "
                    "combinations holds out none"
                )
            _check_split_sizes(
                n_objects,
                n_heldout,
                self.n_candidates,
                self.n_values,
                explicit=bool(self.holdout),
            )
        elif self.split == "heldout":
            raise ValueError(
                "referential_v0: split='heldout' needs held-out combinations "
                "(holdout_fraction > 0 or holdout=[...])"
            )


class ReferentialGame(MessageControlMixin, BatchedEnv):
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
        # Held-out split: the ids candidates are drawn from (None: all objects).
        self._split: HoldoutSplit | None = None
        self._table: torch.Tensor | None = None
        self._heldout_ids: torch.Tensor | None = None
        if c.has_holdout:
            self._split = holdout_split(
                c.n_attributes,
                c.n_values,
                fraction=float(c.holdout_fraction),
                combinations=c.holdout,
                seed=int(c.holdout_seed),
                n_candidates=c.n_candidates,
            )
            self._heldout_ids = torch.tensor(self._split.heldout, device=dev)
            if c.split != "all":
                ids = self._split.train if c.split == "train" else self._split.heldout
                self._table = torch.tensor(ids, device=dev)
        n, k = self.num_envs, c.n_candidates
        self.candidates = torch.zeros(n, k, dtype=torch.int64, device=dev)
        self.target = torch.zeros(n, dtype=torch.int64, device=dev)
        self.target_heldout = torch.zeros(n, dtype=torch.bool, device=dev)
        self.message = torch.zeros(n, c.message_length, dtype=torch.int64, device=dev)
        self.heard = torch.zeros_like(self.message)
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

    @property
    def holdout(self) -> HoldoutSplit | None:
        """The held-out split of attribute combinations (``None`` without one)."""
        return self._split

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
        if c.objects == "attributes" and self._table is not None:
            slots = sample_distinct(
                len(self._table), c.n_candidates, n, generator=g, device=self.device
            )
            cand = self._table[slots]
        elif c.objects == "attributes":
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
        if self._heldout_ids is not None:
            tid = self.candidates.gather(1, self.target[:, None]).squeeze(1)
            self.target_heldout = torch.isin(tid, self._heldout_ids)
        self.message = torch.where(m, 0, self.message)
        self.heard = torch.where(m, 0, self.heard)
        self.phase = torch.where(mask, 0, self.phase)
        self.choice = torch.where(mask, -1, self.choice)

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
        talking = self.phase == 0
        sent = actions[SPEAKER]
        self.message = torch.where(talking[:, None], sent, self.message)
        heard = heard_message(
            sent,
            self.config.message_control,
            generator=self._control_generator,
            constant=torch.zeros((), dtype=torch.int64, device=self.device),
            random_message=self._random_message,
        )
        # Every episode is 2 steps, so all envs of a batch talk in the same step.
        self.heard = torch.where(talking[:, None], heard, self.heard)
        choice = actions[LISTENER]
        success = (~talking) & (choice == self.target)
        self.choice = torch.where(talking, self.choice, choice)
        reward = success.float()
        terminated = ~talking
        self.phase = torch.ones_like(self.phase)
        return {SPEAKER: reward, LISTENER: reward}, terminated, {}

    def _observe(self):
        c = self.config
        phase = torch.nn.functional.one_hot(self.phase, N_PHASES).float()
        target_id = self.candidates.gather(1, self.target[:, None]).squeeze(1)
        speaker = torch.cat([self.encode(target_id), phase], dim=1)
        spoke = (self.phase > 0)[:, None].float()
        msg = torch.nn.functional.one_hot(self.heard, c.vocab_size).flatten(1)
        listener = torch.cat(
            [msg.float() * spoke, self.encode(self.candidates).flatten(1), phase], dim=1
        )
        return {SPEAKER: speaker, LISTENER: listener}

    def _active(self):
        talking = self.phase == 0
        return {SPEAKER: talking, LISTENER: ~talking}

    def _success(self):
        # ``choice`` is -1 until the listener chooses, so this is the outcome of the
        # episode that ended at the listener's step (and False at any other step).
        return self.choice == self.target

    def _meaning(self):
        return self.meaning()

    def _infos(self):
        infos = super()._infos()
        for d in infos.values():
            d.update(
                target=self.target,
                message=self.message,
                heard_message=self.heard,
                target_heldout=self.target_heldout,
            )
        return infos

    def probe_feature_specs(self, agent: str) -> tuple[ProbeFeature, ...]:
        """The target's attribute values (or digit label) and its slot."""
        self._check_agent(agent)
        c = self.config
        if c.objects == "attributes":
            meaning = tuple(
                ProbeFeature(
                    f"attribute_{a}",
                    "categorical",
                    n_classes=c.n_values,
                    description=f"the target's value of attribute {a}",
                )
                for a in range(c.n_attributes)
            )
        else:
            meaning = (
                ProbeFeature(
                    "label",
                    "categorical",
                    n_classes=self._image_set.n_classes,
                    description="the target image's digit class",
                ),
            )
        slot = ProbeFeature(
            "target_slot",
            "categorical",
            n_classes=c.n_candidates,
            description="the slot of the target among the listener's candidates",
        )
        return (*meaning, slot)

    def probe_features(self, agent: str) -> dict[str, torch.Tensor]:
        """Values of :meth:`probe_feature_specs`, each ``[N]`` int64."""
        self._check_agent(agent)
        meaning = self.meaning()
        if self.config.objects == "attributes":
            out = {
                f"attribute_{a}": meaning[:, a].clone() for a in range(meaning.shape[1])
            }
        else:
            out = {"label": meaning[:, 0].clone()}
        out["target_slot"] = self.target.clone()
        return out

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
        spoke = bool(int(self.phase[i]))
        lines = [
            f"referential_v0 phase {int(self.phase[i])}",
            f"message: {self.message[i].tolist() if spoke else '-'}",
        ]
        if c.message_control != "none":
            heard = self.heard[i].tolist() if spoke else "-"
            lines.append(f"heard ({c.message_control}): {heard}")
        lines += [f"  {m} {j}: {o}" for j, (m, o) in enumerate(zip(marks, objs))]
        lines.append("  (* target, < listener's choice)")
        return "\n".join(lines)


def parallel_env(render_mode: str | None = None, **config: Any) -> ParallelFace:
    """The PettingZoo ``ParallelEnv`` of the referential game."""
    return ParallelFace(ReferentialGame, render_mode=render_mode, **config)


def env(render_mode: str | None = None, **config: Any):
    """The PettingZoo AEC form (:class:`envs.core.AECFace`)."""
    return aec_face(parallel_env(render_mode=render_mode, **config))
