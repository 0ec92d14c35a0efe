"""Emergent-language structure: compositionality and disentanglement metrics.

Conventions
-----------
- ``messages``: 2-D integer array ``[n, message_length]`` of symbol ids (see
  :func:`analysis.validation.check_messages`). Messages are compared as whole
  fixed-length rows; no end-of-sequence symbol is stripped (except by
  ``bag_of_symbols_disentanglement(..., eos_id=...)``).
- ``meanings``: 2-D array ``[n, n_attributes]`` (one row per message; a 1-D array is
  read as one attribute). For the discrete metrics (posdis, bosdis, context
  independence) each distinct value of a column is one attribute value.
- Argument order everywhere: ``(messages, meanings)``.
- The disentanglement scores use plug-in MI (the published definitions); they are
  ratios and do not depend on the base. :func:`message_report` reports MI with the
  bias-corrected default of :func:`analysis.symbols.mutual_information`.
- Symbol ids are re-indexed densely wherever the metric allows (every metric
  here), so ids near 1e9 cost memory in the number of symbols used.
- Every score here is higher-is-better; ``topographic_similarity`` lies in
  ``[-1, 1]``, the others in ``[0, 1]``. Scores are Python ``float``.
- Degenerate cases have fixed values named in each docstring (never NaN):
  constant meanings or messages give a topographic similarity of ``0.0``; a message
  with no varying position gives a positional disentanglement of ``0.0``.

References: topographic similarity (Brighton & Kirby 2006), positional and
bag-of-symbols disentanglement (Chaabouni et al. 2020), context independence (Bogin
et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import stats

from analysis.symbols import (
    attribute_mutual_information,
    entropy,
    mi_test,
    mutual_information,
)
from analysis.validation import (
    check_int,
    check_meanings,
    check_messages,
    check_positive_int,
    dense_symbol_ids,
    row_ids,
)

__all__ = [
    "MessageReport",
    "bag_of_symbols_disentanglement",
    "check_meanings",
    "context_independence",
    "message_report",
    "positional_disentanglement",
    "topographic_similarity",
]

_DISTANCES = ("hamming", "euclidean", "cosine", "edit")


def _check_pair(messages, meanings, vocab_size=None):
    msgs = check_messages(messages, vocab_size=vocab_size)
    return msgs, check_meanings(meanings, n_samples=msgs.shape[0])


# ------------------------------------------------------------ topographic similarity


def _pair_indices(n: int, max_pairs: int | None, seed) -> tuple[np.ndarray, ...]:
    """All pairs ``i < j``, or ``max_pairs`` of them drawn without replacement."""
    total = n * (n - 1) // 2
    if max_pairs is not None:
        max_pairs = check_positive_int(max_pairs, "max_pairs")
    if max_pairs is None or max_pairs >= total:
        return np.triu_indices(n, k=1)
    rng = np.random.default_rng(seed)
    k = np.sort(rng.choice(total, size=max_pairs, replace=False))
    # Invert the row-major linear index of the strict upper triangle.
    root = np.sqrt(-8.0 * k + 4.0 * n * (n - 1) - 7.0)
    i = (n - 2 - np.floor(root / 2.0 - 0.5)).astype(np.int64)
    j = k + i + 1 - n * (n - 1) // 2 + (n - i) * ((n - i) - 1) // 2
    return i, j.astype(np.int64)


def _edit_distance_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Levenshtein distance between rows ``a[p]`` and ``b[p]``, batched over ``p``."""
    n_pairs, la = a.shape
    lb = b.shape[1]
    prev = np.broadcast_to(np.arange(lb + 1), (n_pairs, lb + 1)).copy()
    for i in range(1, la + 1):
        cur = np.empty_like(prev)
        cur[:, 0] = i
        sub = prev[:, :-1] + (a[:, i - 1 : i] != b)  # substitution costs, all j
        best = np.minimum(prev[:, 1:] + 1, sub)  # deletion or substitution
        for j in range(1, lb + 1):  # insertion depends on cur[:, j - 1]
            cur[:, j] = np.minimum(best[:, j - 1], cur[:, j - 1] + 1)
        prev = cur
    return prev[:, -1].astype(np.float64)


def _pair_distances(x: np.ndarray, i, j, metric, name: str) -> np.ndarray:
    if callable(metric):
        return np.array([float(metric(x[a], x[b])) for a, b in zip(i, j)])
    if metric == "hamming":
        return (x[i] != x[j]).mean(axis=1)
    if metric == "edit":
        return _edit_distance_rows(x[i], x[j])
    xf = x.astype(np.float64)
    if metric == "euclidean":
        return np.linalg.norm(xf[i] - xf[j], axis=1)
    if metric == "cosine":
        norms = np.linalg.norm(xf, axis=1)
        if np.any(norms == 0):
            raise ValueError(f"cosine distance is undefined: {name} has a zero row")
        return 1.0 - np.einsum("pd,pd->p", xf[i], xf[j]) / (norms[i] * norms[j])
    raise ValueError(
        f"{name}_distance must be one of {_DISTANCES} or a callable, got {metric!r}"
    )


def topographic_similarity(
    messages,
    meanings,
    *,
    meaning_distance: str | Callable = "hamming",
    message_distance: str | Callable = "edit",
    max_pairs: int | None = None,
    seed: int | None = 0,
) -> float:
    """Spearman correlation between pairwise meaning and message distances.

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
    meaning_distance, message_distance : {"hamming", "euclidean", "cosine", "edit"}
        or callable
        Named distances are vectorised over pairs (``"edit"`` is Levenshtein, a
        dynamic programme batched over pairs); a callable ``f(a, b) -> float`` is
        called once per pair (slow for many pairs). ``"hamming"`` is the fraction of
        differing positions.
    max_pairs : int, optional
        Use all ``n (n - 1) / 2`` pairs (default) or a seeded sample of this many
        distinct pairs. All pairs of 10k messages is 5e7 pairs: sample instead.
    seed : int or None, default 0
        Seed of the pair sample.

    Returns
    -------
    float
        In ``[-1, 1]``; higher means more compositional. Degenerate: if all meaning
        distances or all message distances are equal (constant meanings, constant
        messages), the correlation is undefined and ``0.0`` is returned.

    Raises
    ------
    ValueError
        Fewer than 2 messages, mismatched lengths, unknown distance name.

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> topographic_similarity(meanings, meanings, message_distance="hamming")
    1.0
    """
    msgs, meanings = _check_pair(messages, meanings)
    n = msgs.shape[0]
    if n < 2:
        raise ValueError(f"topographic_similarity needs at least 2 messages, got {n}")
    for metric, name in ((meaning_distance, "meaning"), (message_distance, "message")):
        if not callable(metric) and metric not in _DISTANCES:
            raise ValueError(
                f"{name}_distance must be one of {_DISTANCES} or a callable, "
                f"got {metric!r}"
            )
    i, j = _pair_indices(n, max_pairs, seed)
    d_meaning = _pair_distances(meanings, i, j, meaning_distance, "meaning")
    d_message = _pair_distances(msgs, i, j, message_distance, "message")
    if np.ptp(d_meaning) == 0 or np.ptp(d_message) == 0:
        # Degenerate: a constant distance vector has no ranking to correlate.
        return 0.0
    rho = float(stats.spearmanr(d_meaning, d_message)[0])
    return float(np.clip(rho, -1.0, 1.0))


# ------------------------------------------------------------------ disentanglement


def _gap_score(factors, attributes: np.ndarray) -> float:
    """Mean over varying factors of (best MI - second MI) / H(factor).

    ``factors``: an iterable of [n] discrete variables (positions or symbol
    counts); ``attributes``: [n, A] discrete meaning attributes. MI is the plug-in
    estimate, as in the published definition.
    """
    attr_ids = [row_ids(attributes[:, a]) for a in range(attributes.shape[1])]
    scores = []
    for factor in factors:
        ids = row_ids(factor)
        h = entropy(np.bincount(ids))
        if h == 0:
            continue  # a constant factor carries nothing and is left out
        mis = sorted(
            (mutual_information(ids, a, correction="plugin") for a in attr_ids),
            reverse=True,
        )
        # With one attribute the second-best MI is taken to be 0.
        second = mis[1] if len(mis) > 1 else 0.0
        scores.append((mis[0] - second) / h)
    if not scores:
        # Degenerate: no factor varies (constant messages) → 0.0 (EGG gives NaN).
        return 0.0
    return float(np.clip(np.mean(scores), 0.0, 1.0))


def positional_disentanglement(messages, meanings) -> float:
    """Positional disentanglement (posdis, Chaabouni et al. 2020).

    For each message position ``j`` with symbol ``s_j``: ``(I(s_j; a_1) - I(s_j;
    a_2)) / H(s_j)``, where ``a_1`` and ``a_2`` are the attributes with the highest
    and second-highest (plug-in) mutual information with ``s_j``; averaged over
    positions with non-zero entropy.

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
        Discrete attributes.

    Returns
    -------
    float
        In ``[0, 1]``; 1 when every position encodes exactly one attribute.
        Degenerate: no position varies → ``0.0``. One attribute: the second-best
        MI is taken as 0, so the score is ``mean_j I(s_j; a) / H(s_j)`` (the
        positions' redundancy with the single attribute).

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> positional_disentanglement(meanings, meanings)
    1.0
    """
    msgs, meanings = _check_pair(messages, meanings)
    return _gap_score(msgs.T, meanings)


def _symbol_count_columns(msgs: np.ndarray, drop: int | None):
    """Per-message count of each used symbol (one column at a time, O(n) memory).

    ``msgs`` holds dense ids ``0..k-1``; ``drop`` is a dense id left out.
    """
    n, length = msgs.shape
    rows = np.repeat(np.arange(n), length)
    flat = msgs.ravel()
    order = np.argsort(flat, kind="stable")
    symbols, starts = np.unique(flat[order], return_index=True)
    ends = np.append(starts[1:], flat.size)
    for s, a, b in zip(symbols, starts, ends):
        if s != drop:
            yield np.bincount(rows[order[a:b]], minlength=n)


def bag_of_symbols_disentanglement(
    messages, meanings, *, vocab_size: int | None = None, eos_id: int | None = None
) -> float:
    """Bag-of-symbols disentanglement (bosdis, Chaabouni et al. 2020).

    As :func:`positional_disentanglement`, with the per-message count of each symbol
    in place of the symbol at each position (order-free compositionality).

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
    vocab_size : int, optional
        Number of symbols; only validates the ids (unused symbols have zero
        entropy and are left out either way, so symbol ids of any size cost
        memory in the number of symbols used, not in the largest id).
    eos_id : int, optional
        A symbol left out of the bags, e.g. an end-of-sequence or padding symbol.
        Default ``None``: every symbol counts. EGG drops its end-of-sequence
        symbol 0: pass ``eos_id=0`` to match its numbers.

    Returns
    -------
    float
        In ``[0, 1]``. Degenerate: no symbol count varies (e.g. constant messages,
        or all messages permutations of one another) → ``0.0``. One attribute: the
        second-best MI is 0, as in posdis.

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> messages = [[0, 2], [0, 3], [1, 2], [1, 3]]  # attribute 2 uses symbols 2, 3
    >>> bag_of_symbols_disentanglement(messages, meanings)
    1.0
    """
    msgs, meanings = _check_pair(messages, meanings, vocab_size)
    if eos_id is not None:
        eos_id = check_int(eos_id, "eos_id", low=0)
    used, dense = np.unique(msgs, return_inverse=True)
    dense = dense.reshape(msgs.shape)
    drop = None
    if eos_id is not None and eos_id in used:
        drop = int(np.searchsorted(used, eos_id))
    return _gap_score(_symbol_count_columns(dense, drop), meanings)


_CI_VARIANTS = ("bogin", "presence")


def _ci_bogin(msgs: np.ndarray, meanings: np.ndarray) -> float:
    """Published context independence: token counts over all concepts."""
    dense, n_symbols = dense_symbol_ids(msgs, None)
    concept_ids, offset = [], 0
    for a in range(meanings.shape[1]):
        ids = row_ids(meanings[:, a])
        concept_ids.append(ids + offset)
        offset += int(ids.max()) + 1
    concepts = np.stack(concept_ids, axis=1)  # [n, A] global concept ids
    # M[c, v]: tokens v in messages whose meaning has concept c; one bincount over
    # every (attribute, position) pair, memory in concepts x used symbols.
    pairs = concepts[:, :, None] * n_symbols + dense[:, None, :]  # [n, A, L]
    m = np.bincount(pairs.ravel(), minlength=offset * n_symbols)
    m = m.reshape(offset, n_symbols).astype(np.float64)
    rows = np.arange(offset)
    # v_c: the symbol seen most often with c (row argmax, ties: lowest id).
    v_c = np.argmax(m, axis=1)
    best = m[rows, v_c]
    p_v_given_c = best / m.sum(axis=1)
    p_c_given_v = best / m.sum(axis=0)[v_c]
    return float(np.mean(p_v_given_c * p_c_given_v))


def _ci_presence(msgs: np.ndarray, meanings: np.ndarray) -> float:
    """Our variant: message presence, normalised within each attribute."""
    n = msgs.shape[0]
    dense, n_symbols = dense_symbol_ids(msgs, None)
    # Distinct (message, symbol) presence pairs.
    key = np.unique(np.repeat(np.arange(n), msgs.shape[1]) * n_symbols + dense.ravel())
    sample, symbol = key // n_symbols, key % n_symbols
    n_v = np.bincount(symbol, minlength=n_symbols).astype(np.float64)
    scores = []
    for a in range(meanings.shape[1]):
        ids = row_ids(meanings[:, a])
        k = int(ids.max()) + 1
        joint = np.bincount(
            ids[sample] * n_symbols + symbol, minlength=k * n_symbols
        ).reshape(k, n_symbols)  # messages with concept c that contain symbol v
        p_v_given_c = joint / np.bincount(ids, minlength=k)[:, None]
        p_c_given_v = joint / np.maximum(n_v, 1.0)  # unused symbols: 0
        # v_c = argmax_v p(c|v); ties → larger p(v|c) → lowest id (argmax is first).
        tied = p_c_given_v == p_c_given_v.max(axis=1, keepdims=True)
        v_c = np.argmax(np.where(tied, p_v_given_c, -1.0), axis=1)
        rows = np.arange(k)
        scores.append(p_v_given_c[rows, v_c] * p_c_given_v[rows, v_c])
    return float(np.clip(np.mean(np.concatenate(scores)), 0.0, 1.0))


def context_independence(messages, meanings, *, variant: str = "bogin") -> float:
    """Context independence (Bogin et al. 2018).

    Concepts are ``(attribute, value)`` pairs. Each concept ``c`` gets its most
    associated symbol ``v_c`` and the score is ``mean_c p(v_c | c) · p(c | v_c)``.
    The two variants differ in how ``v_c`` is chosen and how the probabilities
    are counted:

    - ``"bogin"`` (default): the definition as the public implementation that
      later papers report computes it (Korbak et al. 2020's
      ``ContextIndependence``). ``M[c, v]`` counts the **tokens** ``v`` in the
      messages whose meaning has concept ``c``; ``v_c = argmax_v M[c, v]`` (the
      symbol seen most often with ``c``; ties go to the lowest symbol id);
      ``p(v | c)`` normalises ``M`` over symbols and ``p(c | v)`` over **all**
      concepts (of every attribute). A perfectly compositional code with ``A``
      attributes and messages of length ``L`` scores ``1 / (A · L)``. Two
      differences from that code, both documented choices: it counts each
      distinct meaning once (its input is a meaning → message table), where this
      function counts every sample (the same on a uniform sample of a
      deterministic code); and it adds ``1e-7`` to every cell, which moves the
      score by less than ``1e-6``.
    - ``"presence"`` (this suite's earlier variant): ``v_c = argmax_v p(c | v)``;
      ``p(v | c)`` is the fraction of messages for ``c`` that **contain** ``v``,
      ``p(c | v)`` the fraction of messages containing ``v`` whose meaning has
      ``c`` (normalised within each attribute); ties go to the larger
      ``p(v | c)``, then the lower id. A perfectly compositional code scores 1.
      The two rank codes differently; say which one a number is.

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
        Discrete attributes.
    variant : {"bogin", "presence"}, default "bogin"

    Returns
    -------
    float
        In ``[0, 1]``. Symbol ids of any size are re-indexed densely (memory in
        the number of symbols used). Degenerate: a constant meaning (one concept
        per attribute) scores, under ``"presence"``, the presence rate of its most
        frequent symbol (1.0 if some symbol is in every message) and, under
        ``"bogin"``, ``p(v_c | c)`` of that symbol divided by ``A``.

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> messages = [[0, 2], [0, 3], [1, 2], [1, 3]]
    >>> context_independence(messages, meanings)  # 1 / (2 attributes * length 2)
    0.25
    >>> context_independence(messages, meanings, variant="presence")
    1.0
    """
    msgs, meanings = _check_pair(messages, meanings)
    if variant == "bogin":
        return _ci_bogin(msgs, meanings)
    if variant == "presence":
        return _ci_presence(msgs, meanings)
    raise ValueError(f"variant must be one of {_CI_VARIANTS}, got {variant!r}")


# ------------------------------------------------------------------------- report


@dataclass(frozen=True)
class MessageReport:
    """Summary numbers of a batch of messages and their meanings.

    The field names are the contract: they become ``summary.json`` keys and
    ``symbols/<field>`` TensorBoard tags (see :meth:`to_dict` and
    :meth:`scalars`). Information in bits.

    Attributes
    ----------
    n_messages, distinct_messages : int
    symbol_entropy_bits, symbol_perplexity : float
        Over all symbol tokens (plug-in).
    message_entropy_bits, message_perplexity : float
        Over whole messages (plug-in).
    message_meaning_mi_bits : float
        Headline: MI between whole messages and whole meanings with the default
        estimator of :func:`analysis.symbols.mutual_information` (jackknife).
    mi_plugin_bits : float
        The plug-in estimate.
    mi_null_mean_bits, mi_null_p95_bits : float
        Mean and 95th percentile of the plug-in MI over random re-pairings (the
        significance baseline; never subtracted).
    mi_p_value : float
        Permutation test of MI > 0 (:func:`analysis.symbols.mi_test`).
    mi_undersampled : bool
        :attr:`analysis.symbols.MITest.undersampled`.
    mi_n_joint_types : int
        Occupied (message, meaning) cells.
    attribute_mi_bits : tuple of float
        MI between whole messages and each meaning attribute (same estimator).
    attribute_mi_sum_bits : float
        Their sum.
    topsim, posdis, bosdis : float
        Topographic similarity (Hamming meanings, edit-distance messages),
        positional and bag-of-symbols disentanglement.
    context_independence : float
        The published variant (``variant="bogin"`` of
        :func:`context_independence`): ``1 / (A · L)`` for a perfect code.
    topsim_chance, posdis_chance, bosdis_chance, context_independence_chance
        Chance floors: the mean of the metric over random re-pairings of
        messages with meanings (``n_chance`` of them).
    degenerate : bool
        A collapsed channel: one distinct message, or constant meanings. The
        metrics then keep their documented degenerate values; count such seeds
        instead of averaging them in.
    """

    n_messages: int
    distinct_messages: int
    symbol_entropy_bits: float
    symbol_perplexity: float
    message_entropy_bits: float
    message_perplexity: float
    message_meaning_mi_bits: float
    mi_plugin_bits: float
    mi_null_mean_bits: float
    mi_null_p95_bits: float
    mi_p_value: float
    mi_undersampled: bool
    mi_n_joint_types: int
    attribute_mi_bits: tuple[float, ...]
    attribute_mi_sum_bits: float
    topsim: float
    topsim_chance: float
    posdis: float
    posdis_chance: float
    bosdis: float
    bosdis_chance: float
    context_independence: float
    context_independence_chance: float
    degenerate: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values by field name (tuples become lists).

        Examples
        --------
        >>> r = message_report([[0], [1]] * 50, [0, 1] * 50)
        >>> r.to_dict()["attribute_mi_bits"] == [r.attribute_mi_bits[0]]
        True
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MessageReport:
        """The report back from :meth:`to_dict`'s keys (e.g. a ``summary.json``;
        other keys are left alone).

        Raises
        ------
        ValueError
            A field is missing.

        Examples
        --------
        >>> r = message_report([[0], [1]] * 50, [0, 1] * 50)
        >>> MessageReport.from_dict({**r.to_dict(), "seed": 0}) == r
        True
        """
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"message report: missing key(s) {missing}")
        return cls(
            **{
                n: tuple(data[n]) if isinstance(data[n], list) else data[n]
                for n in names
            }
        )

    def scalars(self) -> dict[str, float]:
        """Every number as a float scalar, for loggers.

        Tuple fields become ``<name>/<index>``; booleans become 0.0 / 1.0.

        Examples
        --------
        >>> r = message_report([[0], [1]] * 50, [0, 1] * 50)
        >>> round(r.scalars()["attribute_mi_bits/0"], 1), r.scalars()["degenerate"]
        (1.0, 0.0)
        """
        out: dict[str, float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                for i, v in enumerate(value):
                    out[f"{f.name}/{i}"] = float(v)
            else:
                out[f.name] = float(value)
        return out


def _chance(metric: Callable[[np.ndarray], float], n: int, n_chance: int, seed):
    """Mean of ``metric(permutation)`` over random permutations of the pairing."""
    rng = np.random.default_rng(seed)
    return float(np.mean([metric(rng.permutation(n)) for _ in range(n_chance)]))


def message_report(
    messages,
    meanings,
    *,
    vocab_size: int | None = None,
    max_pairs: int | None = 20000,
    n_permutations: int = 200,
    n_chance: int = 10,
    seed: int | None = 0,
) -> MessageReport:
    """Summary numbers of a batch of messages and their meanings (for trainers).

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
        Discrete attributes; a meaning is a whole row for the whole-meaning MI.
    vocab_size : int, optional
        Number of symbols (validates the ids). Symbol ids are re-indexed densely,
        so ids near 1e9 cost no more memory than small ones.
    max_pairs : int or None, default 20000
        Pair sample for the topographic similarity (``None``: all pairs).
    n_permutations : int, default 200
        Re-pairings for the MI permutation test.
    n_chance : int, default 10
        Re-pairings averaged for each chance floor.
    seed : int or None, default 0
        Seed of the pair sample, the permutations and the chance floors.

    Returns
    -------
    MessageReport
        With fewer than 2 messages ``topsim`` and its floor are ``0.0``.

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> report = message_report(meanings, meanings)
    >>> report.distinct_messages, report.posdis, report.symbol_perplexity
    (4, 1.0, 2.0)
    """
    msgs = check_messages(messages, vocab_size=vocab_size)
    meanings = check_meanings(meanings, n_samples=msgs.shape[0])
    n_permutations = check_positive_int(n_permutations, "n_permutations")
    n_chance = check_positive_int(n_chance, "n_chance")
    dense, n_symbols = dense_symbol_ids(msgs, None)
    sym = np.bincount(dense.ravel(), minlength=n_symbols)
    whole = np.bincount(row_ids(dense))
    n = msgs.shape[0]
    test = mi_test(msgs, meanings, n_permutations=n_permutations, seed=seed)
    attr_mi = attribute_mutual_information(msgs, meanings, seed=seed)
    degenerate = bool(whole.size == 1 or np.all(meanings == meanings[0]))

    def topsim(perm=None) -> float:
        if n < 2:
            return 0.0  # Degenerate: a single message has no pairs.
        y = meanings if perm is None else meanings[perm]
        return topographic_similarity(dense, y, max_pairs=max_pairs, seed=seed)

    def posdis(perm=None) -> float:
        return positional_disentanglement(
            dense, meanings if perm is None else meanings[perm]
        )

    def bosdis(perm=None) -> float:
        return bag_of_symbols_disentanglement(
            dense, meanings if perm is None else meanings[perm]
        )

    def ci(perm=None) -> float:
        return context_independence(dense, meanings if perm is None else meanings[perm])

    chance_seed = None if seed is None else seed + 1
    return MessageReport(
        n_messages=int(n),
        distinct_messages=int(whole.size),
        symbol_entropy_bits=entropy(sym),
        symbol_perplexity=float(2.0 ** entropy(sym)),
        message_entropy_bits=entropy(whole),
        message_perplexity=float(2.0 ** entropy(whole)),
        message_meaning_mi_bits=test.estimate_bits,
        mi_plugin_bits=test.plugin_bits,
        mi_null_mean_bits=test.null_mean_bits,
        mi_null_p95_bits=test.null_p95_bits,
        mi_p_value=test.p_value,
        mi_undersampled=test.undersampled,
        mi_n_joint_types=test.n_joint_types,
        attribute_mi_bits=tuple(float(v) for v in attr_mi),
        attribute_mi_sum_bits=float(sum(attr_mi)),
        topsim=topsim(),
        topsim_chance=_chance(topsim, n, n_chance, chance_seed),
        posdis=posdis(),
        posdis_chance=_chance(posdis, n, n_chance, chance_seed),
        bosdis=bosdis(),
        bosdis_chance=_chance(bosdis, n, n_chance, chance_seed),
        context_independence=ci(),
        context_independence_chance=_chance(ci, n, n_chance, chance_seed),
        degenerate=degenerate,
    )
