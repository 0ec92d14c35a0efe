"""The run contract, output side: what a trainer reports.

Both trainers return the same records, so a number means the same thing whichever
backend produced it:

* :class:`IterationStats` after every training iteration (training episodes that
  ended in it, the loss parts, the symbol usage of its rollout, timings);
* :class:`EvalResult` from a greedy evaluation on fresh episodes (the native
  evaluator, also for RLlib-trained weights);
* :class:`RunResult` at the end of a run, whose :meth:`RunResult.summary_fields` are
  the backend-independent keys of ``summary.json``.

Symbol usage has one definition, :func:`symbol_usage`, used by the channels' own
counters and by the RLlib callbacks alike.

>>> usage = symbol_usage([[3, 1, 0], [0, 0, 4]])
>>> usage.live_codes, round(usage.perplexity, 3)
(3, 2.649)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.spec import TrainSpec

__all__ = [
    "EvalResult",
    "IterationStats",
    "RunResult",
    "RunSummary",
    "SymbolUsage",
    "TrainingDiverged",
    "mean_usage",
    "symbol_usage",
]


class TrainingDiverged(RuntimeError):
    """A non-finite value (loss, gradient, parameter or policy input) appeared.

    Attributes
    ----------
    iteration : int
        The iteration that produced it (the weights are those before it).
    what : tuple of str
        Which quantities were non-finite.
    last_checkpoint : str or None
        Set by a run loop: the checkpoint holding the last good weights.
    """

    def __init__(self, iteration: int, what: tuple[str, ...] | list[str]) -> None:
        self.iteration = int(iteration)
        self.what = tuple(what)
        self.last_checkpoint: str | None = None
        shown = ", ".join(self.what[:5]) + (" ..." if len(self.what) > 5 else "")
        super().__init__(f"non-finite values at iteration {self.iteration}: {shown}")


@dataclass(frozen=True)
class SymbolUsage:
    """How a speaker used its symbols over a window of emitted tokens.

    Attributes
    ----------
    counts : numpy.ndarray of float, shape (message_length, vocab_size)
        Tokens emitted at each position (only steps where the speaker's action
        counted).
    perplexity : float
        ``exp`` of the entropy (nats) of the symbol frequencies pooled over
        positions, in ``[1, vocab_size]``; ``0.0`` when nothing was counted.
    live_codes : int
        Symbols emitted at least once (pooled over positions).
    """

    counts: np.ndarray
    perplexity: float
    live_codes: int


def symbol_usage(counts: Any) -> SymbolUsage:
    """The :class:`SymbolUsage` of a count table ``[message_length, vocab_size]``.

    Parameters
    ----------
    counts : array-like of float, shape (L, V)
        Non-negative token counts per position (a torch tensor is accepted).

    Returns
    -------
    SymbolUsage
        Degenerate: no tokens gives ``perplexity = 0.0`` and ``live_codes = 0``.

    Examples
    --------
    >>> symbol_usage([[2, 2]]).perplexity
    2.0
    """
    if hasattr(counts, "detach"):
        counts = counts.detach().cpu().numpy()
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(
            f"counts must be [message_length, vocab_size], got {table.shape}"
        )
    if not np.all(np.isfinite(table)) or (table < 0).any():
        raise ValueError("counts must be finite and non-negative")
    pooled = table.sum(0)
    total = pooled.sum()
    if total == 0:
        return SymbolUsage(table, 0.0, 0)
    p = pooled[pooled > 0] / total
    return SymbolUsage(
        table, float(np.exp(-(p * np.log(p)).sum())), int((pooled > 0).sum())
    )


def mean_usage(usages: Mapping[str, SymbolUsage]) -> tuple[float, float]:
    """``(perplexity, live_codes)`` averaged over speakers; ``(0.0, 0.0)`` for none."""
    if not usages:
        return 0.0, 0.0
    values = list(usages.values())
    return (
        float(np.mean([u.perplexity for u in values])),
        float(np.mean([u.live_codes for u in values])),
    )


@dataclass(frozen=True)
class IterationStats:
    """What one training iteration did (the same fields on both backends).

    Attributes
    ----------
    iteration, env_steps : int
        Counters after the iteration.
    episodes : int
        Training episodes that ended during the iteration's rollout.
    success, mean_return : float or None
        Over those episodes (sampled actions); ``None`` when none ended (or, for
        ``success``, when the env reports none). ``mean_return`` averages the
        agents' returns.
    losses : dict of str to float
        Loss parts, ``"<agent or module>/<part>"`` (``policy_loss``, ``value_loss``,
        ``entropy``, ``approx_kl``, ``clipfrac``, ``aux_*``) and ``"total"``.
    usage : dict of str to SymbolUsage
        Per speaker, the symbols emitted in this iteration's rollout.
    learning_rate, entropy_coef : float
        The values the update used.
    iteration_s : float
        Wall time of the iteration.
    """

    iteration: int
    env_steps: int
    episodes: int
    success: float | None
    mean_return: float | None
    losses: dict[str, float]
    usage: dict[str, SymbolUsage]
    learning_rate: float
    entropy_coef: float
    iteration_s: float


@dataclass(frozen=True)
class EvalResult:
    """A greedy evaluation on fresh episodes (another env seed).

    Attributes
    ----------
    episodes : int
    mean_return : float
        Mean episode return, averaged over agents.
    success : float or None
        Fraction of successful episodes (envs that report success), else None.
    messages : dict of str to numpy.ndarray
        Per speaker, the messages it sent, ``[n, message_length]``.
    meanings : dict of str to numpy.ndarray
        Per speaker, the meaning paired with each message ``[n, k]`` (envs that
        declare meanings).
    split : str or None
        Which objects the evaluation drew from, for envs with a held-out split.
    """

    episodes: int
    mean_return: float
    success: float | None
    messages: dict[str, np.ndarray] = field(default_factory=dict)
    meanings: dict[str, np.ndarray] = field(default_factory=dict)
    split: str | None = None

    def speaker_data(self) -> tuple[str, np.ndarray, np.ndarray] | None:
        """``(speaker, messages, meanings)`` of the first speaker with meanings."""
        for agent, msgs in self.messages.items():
            if agent in self.meanings and len(msgs) >= 2:
                return agent, msgs, self.meanings[agent]
        return None


@dataclass(frozen=True)
class RunResult:
    """The end of one seed's training, for both backends.

    Attributes
    ----------
    spec : TrainSpec
    backend : str
        ``"native"`` or ``"rllib"``.
    env_steps, iterations : int
        Trained (whole iterations, so ``env_steps >= spec.steps``).
    wall_s : float
        Training wall time (over every resume).
    evaluation : EvalResult
        Held-out greedy evaluation at the end.
    usage : dict of str to SymbolUsage
        Per speaker, the symbols of the **last training iteration's rollout** (the
        same window on both backends).
    extra_evaluations : dict of str to EvalResult
        Further evaluations by name (e.g. ``"seen"``/``"heldout"`` splits).
    """

    spec: TrainSpec
    backend: str
    env_steps: int
    iterations: int
    wall_s: float
    evaluation: EvalResult
    usage: dict[str, SymbolUsage] = field(default_factory=dict)
    extra_evaluations: dict[str, EvalResult] = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.wall_s if self.wall_s > 0 else 0.0

    def run_summary(self) -> RunSummary:
        """The backend-independent numbers of ``summary.json`` as a record."""
        perplexity, live = mean_usage(self.usage)
        ev = self.evaluation

        def finite(value: float | None) -> float | None:
            return None if value is None or not math.isfinite(value) else value

        return RunSummary(
            env=self.spec.env,
            channel=self.spec.channel,
            backend=self.backend,
            seed=self.spec.seed,
            env_steps=int(self.env_steps),
            iterations=int(self.iterations),
            wall_s=float(self.wall_s),
            steps_per_s=float(self.steps_per_s),
            success=finite(ev.success),
            mean_return=finite(float(ev.mean_return)),
            eval_episodes=int(ev.episodes),
            codebook_perplexity=finite(perplexity),
            live_codes=finite(live),
            extra_success={
                name: finite(extra.success)
                for name, extra in sorted(self.extra_evaluations.items())
            },
        )

    def summary_fields(self) -> dict[str, Any]:
        """The backend-independent scalar keys of ``summary.json``
        (:meth:`RunSummary.to_dict` of :meth:`run_summary`)."""
        return self.run_summary().to_dict()


@dataclass(frozen=True)
class RunSummary:
    """The backend-independent numbers of a seed's ``summary.json``; written with
    :meth:`to_dict` and read back with :meth:`from_dict` (by ``experiments.aim``
    and the study), so writer and readers share the field names.

    Attributes
    ----------
    env, channel, backend : str
    seed, env_steps, iterations, eval_episodes : int
    wall_s, steps_per_s : float
    success, mean_return : float or None
        The greedy evaluation (None when not finite or not reported).
    codebook_perplexity, live_codes : float or None
        The last iteration's symbol usage, averaged over speakers.
    extra_success : dict of str to float or None
        Success of each extra evaluation by name (e.g. ``seen``/``heldout``),
        written as ``success_<name>``.
    """

    env: str
    channel: str
    backend: str
    seed: int
    env_steps: int
    iterations: int
    wall_s: float
    steps_per_s: float
    success: float | None
    mean_return: float | None
    eval_episodes: int
    codebook_perplexity: float | None
    live_codes: float | None
    extra_success: Mapping[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` keys: the fields, ``extra_success`` flattened to
        ``success_<name>``."""
        out: dict[str, Any] = {
            f: getattr(self, f)
            for f in self.__dataclass_fields__
            if f != "extra_success"
        }
        for name, value in self.extra_success.items():
            out[f"success_{name}"] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        """Read the run's numbers back from a ``summary.json`` mapping (other keys,
        such as the message report's, are left alone).

        Raises
        ------
        ValueError
            A field is missing.
        """
        names = [f for f in cls.__dataclass_fields__ if f != "extra_success"]
        missing = [f for f in names if f not in data]
        if missing:
            raise ValueError(f"summary: missing key(s) {missing}")
        extra = {
            k.removeprefix("success_"): data[k]
            for k in sorted(data)
            if k.startswith("success_")
        }
        return cls(**{f: data[f] for f in names}, extra_success=extra)
