"""Emergent-language structure: compositionality and disentanglement metrics.

Conventions
-----------
- ``messages``: 2-D integer array ``[n, message_length]`` of symbol ids (see
  :func:`analysis.symbols.check_messages`). Messages are compared as whole
  fixed-length rows; no end-of-sequence symbol is stripped.
- ``meanings``: 2-D array ``[n, n_attributes]`` (one row per message; a 1-D array is
  read as one attribute). For the discrete metrics (posdis, bosdis, context
  independence) each distinct value of a column is one attribute value.
- Information quantities are plug-in estimates in bits; the disentanglement scores
  are ratios and do not depend on the base.
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

from collections.abc import Callable

import numpy as np
from scipy import stats

from analysis.symbols import (
    _as_array,
    _check_positive_int,
    _row_ids,
    check_messages,
    entropy,
    mutual_information,
    symbol_counts,
)

__all__ = [
    "bag_of_symbols_disentanglement",
    "check_meanings",
    "context_independence",
    "message_report",
    "positional_disentanglement",
    "topographic_similarity",
]

_DISTANCES = ("hamming", "euclidean", "cosine", "edit")


def check_meanings(meanings, *, n_samples: int | None = None) -> np.ndarray:
    """Validate meanings and return them as a 2-D array ``[n, n_attributes]``.

    Parameters
    ----------
    meanings : array-like, shape (n,) or (n, n_attributes)
        Numeric (int, bool or float) and finite. A 1-D array is one attribute.
    n_samples : int, optional
        Required number of rows (the number of messages).

    Returns
    -------
    numpy.ndarray, shape (n, n_attributes)

    Examples
    --------
    >>> check_meanings([1, 2, 3]).shape
    (3, 1)
    """
    arr = _as_array(meanings, "meanings")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"meanings must be 1-D or 2-D [n, n_attributes], got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"meanings is empty: shape {arr.shape}")
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"meanings must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"meanings must be real, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("meanings contains NaN or inf")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(
            f"meanings has {arr.shape[0]} rows but there are {n_samples} messages"
        )
    return arr


def _check_pair(meanings, messages, vocab_size=None):
    msgs = check_messages(messages, vocab_size=vocab_size)
    return check_meanings(meanings, n_samples=msgs.shape[0]), msgs


# ------------------------------------------------------------ topographic similarity


def _pair_indices(n: int, max_pairs: int | None, seed) -> tuple[np.ndarray, ...]:
    """All pairs ``i < j``, or ``max_pairs`` of them drawn without replacement."""
    total = n * (n - 1) // 2
    if max_pairs is not None:
        max_pairs = _check_positive_int(max_pairs, "max_pairs")
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
    meanings,
    messages,
    *,
    meaning_distance: str | Callable = "hamming",
    message_distance: str | Callable = "edit",
    max_pairs: int | None = None,
    seed: int | None = 0,
) -> float:
    """Spearman correlation between pairwise meaning and message distances.

    Parameters
    ----------
    meanings : array-like, shape (n,) or (n, n_attributes)
    messages : array-like of int, shape (n, message_length)
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
    meanings, msgs = _check_pair(meanings, messages)
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


def _gap_score(factors: np.ndarray, attributes: np.ndarray) -> float:
    """Mean over varying factors of (best MI - second MI) / H(factor).

    ``factors``: [n, F] discrete variables (positions or symbol counts);
    ``attributes``: [n, A] discrete meaning attributes.
    """
    attr_ids = [_row_ids(attributes[:, a]) for a in range(attributes.shape[1])]
    scores = []
    for f in range(factors.shape[1]):
        ids = _row_ids(factors[:, f])
        h = entropy(np.bincount(ids))
        if h == 0:
            continue  # a constant factor carries nothing and is left out
        mis = sorted((mutual_information(ids, a) for a in attr_ids), reverse=True)
        # With one attribute the second-best MI is taken to be 0.
        second = mis[1] if len(mis) > 1 else 0.0
        scores.append((mis[0] - second) / h)
    if not scores:
        # Degenerate: no factor varies (constant messages) → 0.0 (EGG gives NaN).
        return 0.0
    return float(np.clip(np.mean(scores), 0.0, 1.0))


def positional_disentanglement(meanings, messages) -> float:
    """Positional disentanglement (posdis, Chaabouni et al. 2020).

    For each message position ``j`` with symbol ``s_j``: ``(I(s_j; a_1) - I(s_j;
    a_2)) / H(s_j)``, where ``a_1`` and ``a_2`` are the attributes with the highest
    and second-highest mutual information with ``s_j``; averaged over positions with
    non-zero entropy.

    Parameters
    ----------
    meanings : array-like, shape (n,) or (n, n_attributes)
        Discrete attributes.
    messages : array-like of int, shape (n, message_length)

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
    meanings, msgs = _check_pair(meanings, messages)
    return _gap_score(msgs, meanings)


def bag_of_symbols_disentanglement(
    meanings, messages, *, vocab_size: int | None = None
) -> float:
    """Bag-of-symbols disentanglement (bosdis, Chaabouni et al. 2020).

    As :func:`positional_disentanglement`, with the per-message count of each symbol
    in place of the symbol at each position (order-free compositionality).

    Parameters
    ----------
    meanings : array-like, shape (n,) or (n, n_attributes)
    messages : array-like of int, shape (n, message_length)
    vocab_size : int, optional
        Number of symbols (default ``max(messages) + 1``); unused symbols have zero
        entropy and are left out.

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
    >>> bag_of_symbols_disentanglement(meanings, messages)
    1.0
    """
    meanings, msgs = _check_pair(meanings, messages, vocab_size)
    v = int(msgs.max()) + 1 if vocab_size is None else int(vocab_size)
    n = msgs.shape[0]
    counts = np.zeros((n, v), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n), msgs.shape[1]), msgs.ravel()), 1)
    return _gap_score(counts, meanings)


def context_independence(meanings, messages) -> float:
    """Context independence (Bogin et al. 2018).

    Concepts are ``(attribute, value)`` pairs. With ``p(v | c)`` the fraction of
    messages for concept ``c`` that contain symbol ``v`` and ``p(c | v)`` the
    fraction of messages containing ``v`` whose meaning has ``c``, each concept's
    symbol is ``v_c = argmax_v p(c | v)`` (ties broken by the larger ``p(v | c)``,
    then the lower symbol id) and the score is ``mean_c p(v_c | c) p(c | v_c)``.

    Parameters
    ----------
    meanings : array-like, shape (n,) or (n, n_attributes)
        Discrete attributes.
    messages : array-like of int, shape (n, message_length)

    Returns
    -------
    float
        In ``[0, 1]``; 1 when each concept has its own symbol, used in every message
        for that concept and nowhere else. Degenerate: a constant meaning (one
        concept per attribute) scores the presence rate of its most frequent symbol
        — 1.0 if some symbol is in every message.

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> context_independence(meanings, [[0, 2], [0, 3], [1, 2], [1, 3]])
    1.0
    """
    meanings, msgs = _check_pair(meanings, messages)
    n, n_symbols = msgs.shape[0], int(msgs.max()) + 1
    # Distinct (message, symbol) presence pairs.
    key = np.unique(np.repeat(np.arange(n), msgs.shape[1]) * n_symbols + msgs.ravel())
    sample, symbol = key // n_symbols, key % n_symbols
    n_v = np.bincount(symbol, minlength=n_symbols).astype(np.float64)
    scores = []
    for a in range(meanings.shape[1]):
        ids = _row_ids(meanings[:, a])
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


# ------------------------------------------------------------------------- report


def message_report(
    messages,
    meanings,
    *,
    vocab_size: int | None = None,
    max_pairs: int | None = 20000,
    seed: int | None = 0,
) -> dict[str, float | int]:
    """Summary numbers of a batch of messages and their meanings (for trainers).

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
        Discrete attributes; a meaning is a whole row for the MI keys.
    vocab_size : int, optional
        Number of symbols (default ``max(messages) + 1``).
    max_pairs : int or None, default 20000
        Pair sample for the topographic similarity (``None``: all pairs).
    seed : int or None, default 0
        Seed of the pair sample and the MI shuffles.

    Returns
    -------
    dict
        JSON-serializable Python ``float``/``int`` values:

        - ``n_messages``, ``distinct_messages`` (int)
        - ``symbol_entropy_bits``, ``symbol_perplexity``: over all symbol tokens
        - ``message_entropy_bits``, ``message_perplexity``: over whole messages
        - ``message_meaning_mi_bits``: **headline**, shuffle-corrected MI between
          whole messages and whole meanings (100 shuffles)
        - ``message_meaning_mi_plugin_bits``, ``message_meaning_mi_miller_madow_bits``
        - ``topsim`` (Hamming meanings, edit-distance messages), ``posdis``,
          ``bosdis``, ``context_independence``

        With fewer than 2 messages ``topsim`` is ``0.0``.

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> report = message_report(meanings, meanings)
    >>> report["distinct_messages"], report["posdis"], report["symbol_perplexity"]
    (4, 1.0, 2.0)
    """
    msgs = check_messages(messages, vocab_size=vocab_size)
    meanings = check_meanings(meanings, n_samples=msgs.shape[0])
    sym = symbol_counts(msgs, vocab_size=vocab_size)
    whole = symbol_counts(msgs, unit="message")
    n = msgs.shape[0]
    report: dict[str, float | int] = {
        "n_messages": int(n),
        "distinct_messages": int(whole.size),
        "symbol_entropy_bits": entropy(sym),
        "symbol_perplexity": float(2.0 ** entropy(sym)),
        "message_entropy_bits": entropy(whole),
        "message_perplexity": float(2.0 ** entropy(whole)),
        "message_meaning_mi_bits": mutual_information(
            msgs, meanings, correction="shuffle", seed=seed
        ),
        "message_meaning_mi_plugin_bits": mutual_information(msgs, meanings),
        "message_meaning_mi_miller_madow_bits": mutual_information(
            msgs, meanings, correction="miller_madow"
        ),
        # Degenerate: a single message has no pairs → 0.0.
        "topsim": 0.0
        if n < 2
        else topographic_similarity(meanings, msgs, max_pairs=max_pairs, seed=seed),
        "posdis": positional_disentanglement(meanings, msgs),
        "bosdis": bag_of_symbols_disentanglement(meanings, msgs, vocab_size=vocab_size),
        "context_independence": context_independence(meanings, msgs),
    }
    return report
