"""Symbol statistics: counts, entropy, mutual information, power-law and Zipf fits.

Conventions
-----------
- ``messages`` is a 2-D integer array ``[n_messages, message_length]`` of symbol ids
  ``0 <= s < vocab_size`` (numpy arrays, lists and CPU torch tensors are accepted).
- Entropies and mutual information are in **bits** by default (``base=2``); pass
  ``base=np.e`` for nats. Perplexity is base-free (``2 ** H_bits``).
- Every function validates its inputs at the boundary with one ``check_*`` helper per
  input kind and raises ``ValueError`` (bad shape, value, dtype, empty input, NaN) or
  ``TypeError`` (an option of the wrong type), naming the offending value.
- Values are returned as Python ``float``; fits as frozen dataclasses. These are
  descriptive statistics, not ``*_score`` functions (the suite's ``*_score`` names
  mean higher is better).
- Degenerate cases have fixed, documented values (see each function): a single symbol
  has entropy ``0.0`` and perplexity ``1.0``; a constant variable has mutual
  information ``0.0`` with anything. Inputs too small to fit (fewer than two distinct
  values) raise ``ValueError`` instead of returning NaN.

Mutual information is biased upward when there are few samples per distinct value
(the plug-in estimator reads ≈2.2 bits between *independent* variables with 1,000
samples, 600 distinct ``x`` values and 8 ``y`` values). ``correction="shuffle"``
(the mean plug-in MI of shuffled pairings subtracted) is the headline estimate used
by :func:`analysis.language.message_report`; Miller–Madow is offered for comparison
and under-corrects in that regime.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import optimize, special

__all__ = [
    "PowerLawFit",
    "ZipfFit",
    "check_labels",
    "check_messages",
    "check_symbol_counts",
    "entropy",
    "mutual_information",
    "perplexity",
    "power_law_fit",
    "rank_frequency",
    "symbol_counts",
    "zipf_fit",
]

# Largest number of bins for a dense ``bincount`` of joint ids; beyond it counts are
# taken by sorting (a constant, not state).
_MAX_DENSE_BINS = 1 << 22
# Largest number of elements materialised at once when shuffling.
_SHUFFLE_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------- checks


def _as_array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:  # ragged lists
        raise ValueError(f"{name} could not be converted to an array: {err}") from err


def _integer_values(arr: np.ndarray, name: str) -> np.ndarray:
    """Cast a bool/int/integral-float array to int64 or raise ``ValueError``."""
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer ids; got non-integer floats")
        return arr.astype(np.int64)
    raise ValueError(f"{name} must have an integer dtype, got dtype {arr.dtype}")


def check_messages(messages, *, vocab_size: int | None = None) -> np.ndarray:
    """Validate a batch of messages and return it as an ``int64`` array ``[n, L]``.

    Parameters
    ----------
    messages : array-like of int, shape (n_messages, message_length)
        Symbol ids. Integral floats are accepted; NaN, non-integers, negative ids and
        ids ``>= vocab_size`` are rejected.
    vocab_size : int, optional
        Number of symbols. If given, every id must be below it.

    Returns
    -------
    numpy.ndarray of int64, shape (n_messages, message_length)

    Examples
    --------
    >>> check_messages([[0, 1], [1, 1]]).shape
    (2, 2)
    """
    arr = _as_array(messages, "messages")
    if arr.ndim != 2:
        raise ValueError(
            f"messages must be 2-D [n_messages, message_length], got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"messages is empty: shape {arr.shape}")
    arr = _integer_values(arr, "messages")
    if arr.min() < 0:
        raise ValueError(f"messages contains a negative symbol id {arr.min()}")
    if vocab_size is not None:
        vocab_size = _check_positive_int(vocab_size, "vocab_size")
        if arr.max() >= vocab_size:
            raise ValueError(
                f"messages contains symbol id {arr.max()} >= vocab_size={vocab_size}"
            )
    return arr


def _nonnegative_vector(x, name: str) -> np.ndarray:
    """1-D, non-empty, real, finite, non-negative → float64 (else ``ValueError``)."""
    arr = _as_array(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    real = arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)
    if not (real or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    if arr.min() < 0:
        raise ValueError(f"{name} contains a negative value {arr.min():g}")
    return arr


def check_symbol_counts(counts) -> np.ndarray:
    """Validate a 1-D vector of non-negative counts (or weights) with positive sum.

    Parameters
    ----------
    counts : array-like, shape (n_types,)
        Non-negative, finite. Zeros are allowed (unused symbols).

    Returns
    -------
    numpy.ndarray of float64, shape (n_types,)

    Examples
    --------
    >>> check_symbol_counts([3, 0, 1]).tolist()
    [3.0, 0.0, 1.0]
    """
    arr = _nonnegative_vector(counts, "counts")
    if arr.sum() <= 0:
        raise ValueError("counts sum to zero")
    return arr


def check_labels(x, *, name: str = "x") -> np.ndarray:
    """Map a variable's observations to dense integer ids ``0..k-1``.

    Parameters
    ----------
    x : array-like, shape (n,) or (n, d)
        One observation per entry (1-D) or per row (2-D; each row, e.g. a whole
        message or meaning vector, is one value). Numbers, bools or strings;
        NaN is rejected.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        ``ids[i] == ids[j]`` iff observations ``i`` and ``j`` are equal.

    Examples
    --------
    >>> check_labels([[1, 2], [3, 4], [1, 2]]).tolist()
    [0, 1, 0]
    """
    arr = _as_array(x, name)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[0] == 0 or (arr.ndim == 2 and arr.shape[1] == 0):
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if arr.dtype == object:
        raise ValueError(f"{name} must be numeric, bool or str, got dtype object")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return _row_ids(arr)


def _row_ids(arr: np.ndarray) -> np.ndarray:
    """Dense ids of the rows of a 2-D array (or the entries of a 1-D one)."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        return np.unique(arr, return_inverse=True)[1].reshape(-1).astype(np.int64)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        # Mixed-radix key per row: one 1-D unique instead of a row-wise sort.
        cols = arr.astype(np.int64) - arr.min(axis=0)
        radix = cols.max(axis=0) + 1
        if np.sum(np.log2(radix.astype(np.float64))) < 62:
            mult = np.concatenate([[1], np.cumprod(radix[::-1])[:-1]])[::-1]
            return _row_ids(cols @ mult)
    return np.unique(arr, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _check_base(base) -> float:
    if isinstance(base, bool) or not isinstance(base, int | float | np.number):
        raise TypeError(f"base must be a number, got {type(base).__name__}")
    if not np.isfinite(base) or base <= 0 or base == 1:
        raise ValueError(f"base must be positive and != 1, got {base}")
    return float(base)


# --------------------------------------------------------------------------- counts


def symbol_counts(
    messages,
    *,
    vocab_size: int | None = None,
    unit: Literal["symbol", "message"] = "symbol",
) -> np.ndarray:
    """Count symbol tokens, or distinct whole messages.

    Parameters
    ----------
    messages : array-like of int, shape (n_messages, message_length)
    vocab_size : int, optional
        With ``unit="symbol"`` the output has this length (unused symbols count 0);
        default ``max(messages) + 1``. With either unit, ids must be below it.
    unit : {"symbol", "message"}
        ``"symbol"``: ``counts[s]`` is the number of occurrences of symbol ``s`` over
        all positions, indexed by symbol id. ``"message"``: the number of occurrences
        of each distinct message, sorted in descending order (ties in lexicographic
        message order).

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> symbol_counts([[0, 1], [1, 1]], vocab_size=3).tolist()
    [1, 3, 0]
    >>> symbol_counts([[0, 1], [1, 1], [0, 1]], unit="message").tolist()
    [2, 1]
    """
    arr = check_messages(messages, vocab_size=vocab_size)
    if unit == "symbol":
        minlength = 0 if vocab_size is None else int(vocab_size)
        return np.bincount(arr.ravel(), minlength=minlength).astype(np.int64)
    if unit == "message":
        counts = np.bincount(_row_ids(arr)).astype(np.int64)
        return counts[np.argsort(-counts, kind="stable")]
    raise ValueError(f"unit must be 'symbol' or 'message', got {unit!r}")


def entropy(counts, *, base: float = 2) -> float:
    """Plug-in (maximum-likelihood) Shannon entropy of a count vector.

    Parameters
    ----------
    counts : array-like, shape (n_types,)
        Non-negative counts or weights (normalised internally).
    base : float, default 2
        Logarithm base (2: bits, ``np.e``: nats).

    Returns
    -------
    float
        ``-sum p log p`` with ``0 log 0 = 0``. Degenerate: a single non-zero count
        gives ``0.0``.

    Examples
    --------
    >>> entropy([1, 1, 1, 1])
    2.0
    >>> entropy([5, 0])
    0.0
    """
    c = check_symbol_counts(counts)
    base = _check_base(base)
    p = c[c > 0] / c.sum()
    h = float(-(p * np.log(p)).sum() / np.log(base))
    # One type: -0.0 (or rounding just below 0) is reported as 0.0.
    return h if h > 0 else 0.0


def perplexity(counts) -> float:
    """Perplexity ``2 ** H_bits``: the effective number of equiprobable types.

    Parameters
    ----------
    counts : array-like, shape (n_types,)

    Returns
    -------
    float
        In ``[1, n_nonzero_types]``; ``1.0`` for a single type.

    Examples
    --------
    >>> perplexity([2, 2, 2, 2])
    4.0
    """
    return float(2.0 ** entropy(counts, base=2))


def rank_frequency(counts) -> tuple[np.ndarray, np.ndarray]:
    """Rank–frequency table: ranks ``1..N`` and relative frequencies, descending.

    Zero counts are dropped, so ``N`` is the number of types that occur.

    Parameters
    ----------
    counts : array-like, shape (n_types,)

    Returns
    -------
    ranks : numpy.ndarray of int64, shape (N,)
    freqs : numpy.ndarray of float64, shape (N,)
        Relative frequencies (sum to 1), non-increasing.

    Examples
    --------
    >>> r, f = rank_frequency([1, 0, 3])
    >>> r.tolist(), f.tolist()
    ([1, 2], [0.75, 0.25])
    """
    c = check_symbol_counts(counts)
    c = np.sort(c[c > 0])[::-1]
    return np.arange(1, c.size + 1, dtype=np.int64), c / c.sum()


# ------------------------------------------------------------- mutual information


def _sum_clogc(counts: np.ndarray) -> float:
    c = counts[counts > 0].astype(np.float64)
    return float((c * np.log(c)).sum())


def _joint_counts(xi: np.ndarray, yi: np.ndarray, ny: int, nbins: int) -> np.ndarray:
    key = xi * ny + yi
    if nbins <= _MAX_DENSE_BINS:
        return np.bincount(key, minlength=nbins)
    key = np.sort(key)
    edges = np.flatnonzero(np.diff(key)) + 1
    return np.diff(np.concatenate([[0], edges, [key.size]]))


def _plugin_mi_nats(xi: np.ndarray, yi: np.ndarray, nx: int, ny: int) -> float:
    n = xi.size
    s_x = _sum_clogc(np.bincount(xi, minlength=nx))
    s_y = _sum_clogc(np.bincount(yi, minlength=ny))
    s_xy = _sum_clogc(_joint_counts(xi, yi, ny, nx * ny))
    return np.log(n) + (s_xy - s_x - s_y) / n


def _shuffled_mi_nats(
    xi: np.ndarray, yi: np.ndarray, nx: int, ny: int, n_shuffles: int, seed
) -> np.ndarray:
    """Plug-in MI of ``x`` against ``n_shuffles`` random re-pairings with ``y``.

    A uniformly random permutation of ``y`` gives a joint table with the observed
    marginals whose law is the multivariate hypergeometric one. Where it is cheaper,
    tables are drawn directly from that law (row by row, cost independent of ``n``);
    otherwise ``y`` is permuted and counted.
    """
    n = xi.size
    rng = np.random.default_rng(seed)
    col_x = np.bincount(xi, minlength=nx)
    col_y = np.bincount(yi, minlength=ny)
    s_x, s_y = _sum_clogc(col_x), _sum_clogc(col_y)
    rows, pool = (col_x, col_y) if nx <= ny else (col_y, col_x)
    # Rough per-shuffle costs in seconds (measured on one core).
    table_cost = rows.size * (8e-6 + pool.size * 1.5e-7)
    permute_cost = n * 1.5e-7
    if table_cost <= permute_cost:
        s_xy = np.empty(n_shuffles)
        for j in range(n_shuffles):
            remaining, total = pool.copy(), 0.0
            for a in rows[:-1]:
                draw = rng.multivariate_hypergeometric(remaining, int(a))
                remaining -= draw
                total += _sum_clogc(draw)
            s_xy[j] = total + _sum_clogc(remaining)
        return np.log(n) + (s_xy - s_x - s_y) / n
    nbins = nx * ny
    dense = nbins <= _MAX_DENSE_BINS
    chunk = max(1, _SHUFFLE_CHUNK_ELEMENTS // max(n, nbins if dense else 1))
    s_xy = np.empty(n_shuffles)
    for start in range(0, n_shuffles, chunk):
        k = min(chunk, n_shuffles - start)
        perm_y = rng.permuted(np.broadcast_to(yi, (k, n)), axis=1)
        if dense:
            # One bincount for the whole chunk: shuffle j owns bins [j*nbins, ...).
            key = (xi * ny + perm_y) + (np.arange(k) * nbins)[:, None]
            joint = np.bincount(key.ravel(), minlength=k * nbins).reshape(k, nbins)
            s_xy[start : start + k] = (joint * np.log(np.maximum(joint, 1))).sum(1)
        else:
            s_xy[start : start + k] = [
                _sum_clogc(_joint_counts(xi, r, ny, nbins)) for r in perm_y
            ]
    return np.log(n) + (s_xy - s_x - s_y) / n


def mutual_information(
    x,
    y,
    *,
    correction: Literal["none", "miller_madow", "shuffle"] = "none",
    base: float = 2,
    n_shuffles: int = 100,
    seed: int | None = 0,
) -> float:
    """Mutual information between two discrete variables from paired samples.

    Parameters
    ----------
    x, y : array-like, shape (n,) or (n, d)
        Paired observations. A 2-D input is read row-wise: each row (a whole message,
        a meaning vector) is one value.
    correction : {"none", "miller_madow", "shuffle"}, default "none"
        ``"none"``: plug-in estimate, ``>= 0`` and biased upward by roughly
        ``(k_xy - k_x - k_y + 1) / (2n)`` nats when values are rarely repeated.
        ``"miller_madow"``: each entropy gets ``+(k - 1) / (2n)`` nats (``k`` the
        number of observed values); this lowers the bias but **under-corrects** when
        most joint values are seen once (e.g. 1,000 samples, 600 distinct ``x``),
        and can go negative. ``"shuffle"``: plug-in minus the mean plug-in MI of
        ``n_shuffles`` random re-pairings of ``y`` with ``x`` (the permutation null);
        ≈0 for independent variables, can be slightly negative. This is the headline
        estimate in :func:`analysis.language.message_report`.
    base : float, default 2
        Logarithm base (bits by default).
    n_shuffles : int, default 100
        Permutations for ``correction="shuffle"``.
    seed : int or None, default 0
        Seed of the shuffles (results are deterministic for an int seed).

    Returns
    -------
    float
        Degenerate: if either variable is constant the plug-in MI is ``0.0`` (and so
        are the corrected values).

    Examples
    --------
    >>> x = [0, 0, 1, 1]
    >>> mutual_information(x, [1, 1, 0, 0])
    1.0
    >>> mutual_information(x, [0, 1, 0, 1])
    0.0
    """
    xi = check_labels(x, name="x")
    yi = check_labels(y, name="y")
    if xi.size != yi.size:
        raise ValueError(
            f"x and y must have the same number of samples, got {xi.size} and {yi.size}"
        )
    base = _check_base(base)
    n = xi.size
    nx, ny = int(xi.max()) + 1, int(yi.max()) + 1
    if nx == 1 or ny == 1:
        # Degenerate: a constant variable carries no information.
        return 0.0
    mi = max(_plugin_mi_nats(xi, yi, nx, ny), 0.0)  # clip float rounding below 0
    if correction == "none":
        pass
    elif correction == "miller_madow":
        k_xy = np.unique(xi * ny + yi).size
        mi += (nx + ny - k_xy - 1) / (2.0 * n)
    elif correction == "shuffle":
        n_shuffles = _check_positive_int(n_shuffles, "n_shuffles")
        mi -= float(_shuffled_mi_nats(xi, yi, nx, ny, n_shuffles, seed).mean())
    else:
        raise ValueError(
            "correction must be 'none', 'miller_madow' or 'shuffle', "
            f"got {correction!r}"
        )
    return float(mi / np.log(base))


# -------------------------------------------------------------------- power laws


@dataclass(frozen=True)
class PowerLawFit:
    """Clauset–Shalizi–Newman power-law fit ``p(x) ∝ x^-alpha`` for ``x >= xmin``.

    Attributes
    ----------
    alpha : float
        Maximum-likelihood exponent.
    xmin : float
        Lower cut-off (chosen by minimising the KS distance unless given).
    sigma : float
        Standard error of ``alpha``: ``(alpha - 1) / sqrt(n_tail)``.
    ks_distance : float
        Kolmogorov–Smirnov distance between the tail data and the fit.
    n_tail : int
        Number of values ``>= xmin``.
    n : int
        Number of positive values given.
    comparisons : dict
        ``{"lognormal" | "exponential" | "truncated_power_law": (R, p)}`` (the
        ``alternatives`` asked for):
        normalised log-likelihood ratio (``R > 0`` favours the power law) and its
        p-value, as from ``powerlaw.Fit.distribution_compare(...,
        normalized_ratio=True)``.
    """

    alpha: float
    xmin: float
    sigma: float
    ks_distance: float
    n_tail: int
    n: int
    comparisons: dict[str, tuple[float, float]] = field(default_factory=dict)


_ALTERNATIVES = ("lognormal", "exponential", "truncated_power_law")


def power_law_fit(
    values,
    *,
    discrete: bool = True,
    xmin: float | None = None,
    alternatives: tuple[str, ...] = _ALTERNATIVES,
) -> PowerLawFit:
    """Fit a power law to the tail of ``values`` with the ``powerlaw`` package.

    Maximum-likelihood ``alpha``, ``xmin`` by minimum KS distance (unless given), and
    log-likelihood ratio tests against a lognormal, an exponential and a truncated
    power law. The package's progress prints and warnings are captured, not shown.

    Parameters
    ----------
    values : array-like, shape (n,)
        Observations (e.g. symbol frequencies, or sizes). Zeros are dropped (a power
        law lives on ``x > 0``); negative values, NaN and inf are rejected.
    discrete : bool, default True
        Treat values as integers (discrete power law). Non-integer values with
        ``discrete=True`` are rejected.
    xmin : float, optional
        Fix the lower cut-off instead of fitting it.
    alternatives : tuple of str, default ("lognormal", "exponential",
        "truncated_power_law")
        Distributions to compare against (a subset of the default). The truncated
        power law is the slow one (about 1–3 s: a numerical fit); drop it for speed.

    Returns
    -------
    PowerLawFit

    Raises
    ------
    ValueError
        Degenerate input: fewer than 2 distinct positive values (no tail to fit), or
        ``xmin`` leaving fewer than 2 distinct values in the tail.

    Examples
    --------
    >>> import numpy as np
    >>> fit = power_law_fit(np.random.default_rng(0).zipf(2.0, 2000))
    >>> round(fit.alpha, 1), fit.xmin
    (2.0, 1.0)
    """
    arr = _nonnegative_vector(values, "values")
    if discrete and not np.all(arr == np.round(arr)):
        raise ValueError("values must be integers when discrete=True")
    arr = arr[arr > 0]
    # Degenerate: a single distinct value has no tail shape and no KS minimum.
    if np.unique(arr).size < 2:
        raise ValueError(
            f"power_law_fit needs at least 2 distinct positive values, got "
            f"{np.unique(arr).size}"
        )
    if xmin is not None:
        if not np.isfinite(xmin) or xmin <= 0:
            raise ValueError(f"xmin must be positive and finite, got {xmin}")
        if np.unique(arr[arr >= xmin]).size < 2:
            raise ValueError(f"xmin={xmin} leaves fewer than 2 distinct tail values")
    unknown = set(alternatives) - set(_ALTERNATIVES)
    if isinstance(alternatives, str) or unknown:
        raise ValueError(
            f"alternatives must be a tuple drawn from {_ALTERNATIVES}, "
            f"got {alternatives!r}"
        )

    import powerlaw  # heavy import kept local

    sink = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(arr, discrete=discrete, xmin=xmin)
        dist = fit.power_law
        alpha, fitted_xmin = float(dist.alpha), float(fit.xmin)
        sigma, ks = float(dist.standard_err), float(dist.D)
        comparisons = {
            name: tuple(
                float(v)
                for v in fit.distribution_compare(
                    "power_law", name, normalized_ratio=True
                )
            )
            for name in alternatives
        }
    if not (np.isfinite(alpha) and np.isfinite(fitted_xmin)):
        raise ValueError("power_law_fit failed: the powerlaw package returned NaN")
    return PowerLawFit(
        alpha=alpha,
        xmin=fitted_xmin,
        sigma=sigma,
        ks_distance=ks,
        n_tail=int(fit.n_tail),
        n=int(arr.size),
        comparisons=comparisons,
    )


@dataclass(frozen=True)
class ZipfFit:
    """Rank–frequency (Zipf) law ``p(r) ∝ r^-s`` over ranks ``r = 1..n_types``.

    Attributes
    ----------
    s : float
        Maximum-likelihood exponent of the truncated Zipf law.
    stderr : float
        Standard error of ``s`` from the observed Fisher information,
        ``1 / sqrt(n_tokens * Var_s[log r])``.
    ols_slope_naive : float
        Naive estimate for comparison only: minus the slope of an ordinary
        least-squares line through ``(log r, log f_r)``. Biased; do not report it as
        the exponent.
    n_types : int
        Number of ranks (types with non-zero count).
    n_tokens : float
        Total count.
    """

    s: float
    stderr: float
    ols_slope_naive: float
    n_types: int
    n_tokens: float


def zipf_fit(counts) -> ZipfFit:
    """Fit a truncated Zipf law to the rank–frequency table of ``counts``.

    The log-likelihood of the tokens is
    ``LL(s) = -s * sum_r f_r log r - T log Z(s)``, ``Z(s) = sum_{r=1}^{N} r^-s``; its
    stationary point (``E_s[log r]`` equal to the mean log rank of the tokens) is
    found with ``scipy.optimize.brentq``. The MLE is ``>= 0`` because ranks sort the
    counts in descending order.

    Parameters
    ----------
    counts : array-like, shape (n_types,)
        Counts per type, in any order (zeros are dropped).

    Returns
    -------
    ZipfFit
        Degenerate: equal counts give ``s = 0.0``.

    Raises
    ------
    ValueError
        Fewer than 2 types with a non-zero count (no rank axis).

    Examples
    --------
    >>> fit = zipf_fit([1000 / r for r in range(1, 51)])
    >>> round(fit.s, 3), round(fit.ols_slope_naive, 3)
    (1.0, 1.0)
    """
    ranks, freqs = rank_frequency(counts)
    c = check_symbol_counts(counts)
    total = float(c.sum())
    if ranks.size < 2:
        raise ValueError(
            f"zipf_fit needs at least 2 types with non-zero count, got {ranks.size}"
        )
    log_r = np.log(ranks.astype(np.float64))
    target = float(freqs @ log_r)  # mean log rank of the tokens

    def mean_log_rank(s: float) -> float:
        w = special.softmax(-s * log_r)
        return float(w @ log_r)

    def score(s: float) -> float:  # d LL / d s divided by T
        return mean_log_rank(s) - target

    if score(0.0) <= 0:
        # Degenerate: equal counts (or rounding at the uniform law) → s = 0.
        s_hat = 0.0
    else:
        hi = 1.0
        while score(hi) > 0 and hi < 1e4:
            hi *= 2.0
        s_hat = float(optimize.brentq(score, 0.0, hi, xtol=1e-12))
    w = special.softmax(-s_hat * log_r)
    var = float(w @ log_r**2 - (w @ log_r) ** 2)
    stderr = float(1.0 / np.sqrt(total * var)) if var > 0 else float("inf")
    slope = float(np.polyfit(log_r, np.log(freqs), 1)[0])
    return ZipfFit(
        s=s_hat,
        stderr=stderr,
        ols_slope_naive=-slope,
        n_types=int(ranks.size),
        n_tokens=total,
    )
