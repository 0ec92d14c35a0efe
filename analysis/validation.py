"""Input validation shared by every public function of :mod:`analysis`.

One ``check_*`` helper per input kind (as ``sklearn.utils.validation``): each takes
the raw input, returns it converted (a numpy array, an ``int``, a ``float``) and
raises one clear error at the boundary, naming what was expected and what came:

- ``ValueError`` for a bad shape, value, dtype, an empty input, NaN or inf;
- ``TypeError`` for an option of the wrong type (a float where an ``int`` belongs).

Modules of :mod:`analysis` import these (and nothing private from each other); the
names they used to export (``analysis.symbols.check_messages``,
``analysis.language.check_meanings``, ...) are re-exported from their old modules.

Examples
--------
>>> check_messages([[0, 1], [1, 1]]).shape
(2, 2)
>>> check_positive_int(3, name="n")
3
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

__all__ = [
    "MAX_DENSE_SYMBOLS",
    "check_base",
    "check_binary_labels",
    "check_counts",
    "check_int",
    "check_matrix",
    "check_meanings",
    "check_messages",
    "check_nonnegative_vector",
    "check_positive_int",
    "check_positive_number",
    "check_probability",
    "check_same_length",
    "check_value_ids",
    "check_vector",
    "dense_symbol_ids",
    "row_ids",
    "to_array",
]

#: Largest symbol alphabet a function may allocate a dense table for when no
#: ``vocab_size`` bounds it (2**24 entries, 128 MiB of int64): larger ids are
#: re-indexed densely where the metric allows, or rejected with a clear error.
MAX_DENSE_SYMBOLS = 1 << 24


# ---------------------------------------------------------------------- conversion


def to_array(x: Any, name: str) -> np.ndarray:
    """Convert array-likes (lists, numpy arrays, CPU/GPU torch tensors) to numpy.

    Examples
    --------
    >>> to_array([1, 2], "x").tolist()
    [1, 2]
    """
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:  # ragged lists
        raise ValueError(f"{name} could not be converted to an array: {err}") from err


def _integer_values(arr: np.ndarray, name: str) -> np.ndarray:
    """Cast a bool/int/integral-float array to int64 or raise ``ValueError``."""
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name} holds ids above the int64 range")
        return arr.astype(np.int64, copy=False)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer ids; got non-integer floats")
        if arr.size and np.abs(arr).max() >= 2.0**63:
            raise ValueError(f"{name} holds ids above the int64 range")
        return arr.astype(np.int64)
    raise ValueError(f"{name} must have an integer dtype, got dtype {arr.dtype}")


# ---------------------------------------------------------------------- scalars


def check_positive_int(value: Any, name: str, *, integral_floats: bool = False) -> int:
    """Validate a count-like option (``>= 1``) and return it as ``int``.

    Parameters
    ----------
    value : int
    name : str
        Name used in the error message.
    integral_floats : bool, default False
        Also accept floats with an integer value (``1e4``); a non-integral float
        then raises ``ValueError`` instead of ``TypeError``.

    Raises
    ------
    TypeError
        Not an integer (bools are rejected too).
    ValueError
        Below 1 (or a non-integral float with ``integral_floats=True``).

    Examples
    --------
    >>> check_positive_int(5, name="n_permutations")
    5
    >>> check_positive_int(1e4, name="n_steps", integral_floats=True)
    10000
    """
    if integral_floats and isinstance(value, float | np.floating):
        if not math.isfinite(value) or value != int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        return int(value)
    return check_int(value, name, low=1)


def check_int(value: Any, name: str, *, low: int = 0) -> int:
    """Validate an integer option with a lower bound and return it as ``int``.

    Raises
    ------
    TypeError
        Not an integer (bools are rejected too).
    ValueError
        Below ``low``.

    Examples
    --------
    >>> check_int(2, "dim", low=2)
    2
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def check_positive_number(value: Any, name: str) -> float:
    """Validate a positive, finite real number and return it as ``float``.

    Examples
    --------
    >>> check_positive_number(0.5, "eps")
    0.5
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_probability(value: Any, name: str, *, open_interval: bool = True) -> float:
    """Validate a level/probability in ``(0, 1)`` (or ``[0, 1]``).

    Examples
    --------
    >>> check_probability(0.1, "level")
    0.1
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    ok = 0.0 < v < 1.0 if open_interval else 0.0 <= v <= 1.0
    if not ok:
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_base(base: Any) -> float:
    """Validate a logarithm base (positive, finite, not 1).

    Examples
    --------
    >>> check_base(2)
    2.0
    """
    if isinstance(base, bool) or not isinstance(base, int | float | np.number):
        raise TypeError(f"base must be a number, got {type(base).__name__}")
    if not np.isfinite(base) or base <= 0 or base == 1:
        raise ValueError(f"base must be positive and != 1, got {base}")
    return float(base)


# ---------------------------------------------------------------------- arrays


def check_messages(messages: Any, *, vocab_size: int | None = None) -> np.ndarray:
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
    arr = to_array(messages, "messages")
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
        vocab_size = check_positive_int(vocab_size, "vocab_size")
        if arr.max() >= vocab_size:
            raise ValueError(
                f"messages contains symbol id {arr.max()} >= vocab_size={vocab_size}"
            )
    return arr


def check_meanings(meanings: Any, *, n_samples: int | None = None) -> np.ndarray:
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
    arr = to_array(meanings, "meanings")
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


def check_nonnegative_vector(x: Any, name: str) -> np.ndarray:
    """1-D, non-empty, real, finite, non-negative → float64 (else ``ValueError``).

    Examples
    --------
    >>> check_nonnegative_vector([0, 2], "values").tolist()
    [0.0, 2.0]
    """
    arr = to_array(x, name)
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


def check_counts(counts: Any, *, name: str = "counts") -> np.ndarray:
    """Validate a 1-D vector of non-negative counts (or weights) with positive sum.

    Parameters
    ----------
    counts : array-like, shape (n_types,)
        Non-negative, finite. Zeros are allowed (unused symbols).
    name : str, default "counts"

    Returns
    -------
    numpy.ndarray of float64, shape (n_types,)

    Examples
    --------
    >>> check_counts([3, 0, 1]).tolist()
    [3.0, 0.0, 1.0]
    """
    arr = check_nonnegative_vector(counts, name)
    if arr.sum() <= 0:
        raise ValueError(f"{name} sum to zero")
    return arr


def row_ids(arr: np.ndarray) -> np.ndarray:
    """Dense ids ``0..k-1`` of the rows of a 2-D array (or entries of a 1-D one).

    Ids follow the sorted order of the distinct rows. No validation: use
    :func:`check_value_ids` on user input.

    Examples
    --------
    >>> row_ids(np.array([[1, 2], [0, 5], [1, 2]])).tolist()
    [1, 0, 1]
    """
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
            return row_ids(cols @ mult)
    return np.unique(arr, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def check_value_ids(x: Any, *, name: str = "x") -> np.ndarray:
    """Map a discrete variable's observations to dense integer ids ``0..k-1``.

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
    >>> check_value_ids([[1, 2], [3, 4], [1, 2]]).tolist()
    [0, 1, 0]
    """
    arr = to_array(x, name)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    if arr.shape[0] == 0 or (arr.ndim == 2 and arr.shape[1] == 0):
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if arr.dtype == object:
        raise ValueError(f"{name} must be numeric, bool or str, got dtype object")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return row_ids(arr)


def check_same_length(*named: tuple[str, int]) -> int:
    """Check that paired inputs have the same number of samples; return it.

    Examples
    --------
    >>> check_same_length(("messages", 3), ("meanings", 3))
    3
    """
    lengths = {n for _, n in named}
    if len(lengths) != 1:
        listed = " and ".join(f"{name} has {n}" for name, n in named)
        raise ValueError(f"inputs must have the same number of samples: {listed}")
    return lengths.pop()


def dense_symbol_ids(
    messages: np.ndarray, vocab_size: int | None
) -> tuple[np.ndarray, int]:
    """Messages with symbol ids re-indexed densely when no ``vocab_size`` is given.

    Metrics that never look at an unused symbol (entropies over used symbols,
    bag-of-symbols counts, context independence) call this so that ids near 1e9 do
    not allocate a table of that size. With ``vocab_size`` the ids are kept.

    Returns
    -------
    (messages, n_symbols)
        ``n_symbols`` is ``vocab_size``, or the number of distinct symbols seen.

    Examples
    --------
    >>> m, k = dense_symbol_ids(np.array([[10**9, 3]]), None)
    >>> m.tolist(), k
    ([[1, 0]], 2)
    """
    if vocab_size is not None:
        if vocab_size > MAX_DENSE_SYMBOLS:
            used, inverse = np.unique(messages, return_inverse=True)
            return inverse.reshape(messages.shape).astype(np.int64), int(used.size)
        return messages, int(vocab_size)
    used, inverse = np.unique(messages, return_inverse=True)
    return inverse.reshape(messages.shape).astype(np.int64), int(used.size)


def check_matrix(x: Any, *, name: str = "X", min_rows: int = 1) -> np.ndarray:
    """Validate a real 2-D array ``[n_samples, n_features]``: finite, float64.

    Examples
    --------
    >>> check_matrix([[0.0, 1.0]]).shape
    (1, 2)
    """
    arr = to_array(x, name)
    if arr.dtype == object or not (
        arr.dtype == bool or np.issubdtype(arr.dtype, np.number)
    ):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D [n_samples, n_features], got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} rows, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf (shape {arr.shape})")
    return arr


def check_vector(x: Any, *, name: str = "vector") -> np.ndarray:
    """Validate a real, finite, non-empty 1-D array; float64.

    Examples
    --------
    >>> check_vector([1, 2]).tolist()
    [1.0, 2.0]
    """
    arr = to_array(x, name)
    if arr.dtype == object or not (
        arr.dtype == bool or np.issubdtype(arr.dtype, np.number)
    ):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf (shape {arr.shape})")
    return arr


def check_binary_labels(labels: Any, n: int) -> np.ndarray:
    """Map binary predictions in {0, 1} or {−1, +1} to {−1, +1}; ValueError otherwise.

    Parameters
    ----------
    labels : array-like, shape (n,) or (n, 1)
    n : int
        Expected number of predictions.

    Examples
    --------
    >>> check_binary_labels([0, 1, 1], 3)
    array([-1,  1,  1])
    """
    labels = to_array(labels, "predictions")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (n,):
        raise ValueError(f"predictions must have shape ({n},), got {labels.shape}")
    values = set(np.unique(labels).tolist())
    if not values <= {-1, 0, 1} or {-1, 0} <= values:
        raise ValueError(
            f"predictions must be labels in {{0, 1}} or {{-1, 1}}, got values "
            f"{sorted(values)[:5]}"
        )
    return np.where(labels > 0, 1, -1)


def deprecated_alias(new, old_name: str):
    """A wrapper of ``new`` that warns ``DeprecationWarning`` under ``old_name``."""

    def alias(*args, **kwargs):
        warnings.warn(
            f"{old_name} is deprecated; use analysis.validation.{new.__name__}",
            DeprecationWarning,
            stacklevel=2,
        )
        return new(*args, **kwargs)

    alias.__name__ = old_name.rsplit(".", 1)[-1]
    alias.__doc__ = f"Deprecated alias of :func:`{new.__name__}`."
    return alias
