"""Shared helpers for ``agents``: boundary checks that raise clear errors.

One module for these, so no file in ``agents`` keeps its own copy. Each check returns
the value (converted to the plain Python type) so it can be used inline::

    self.temperature = check_positive_float("temperature", temperature)
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "check_bool",
    "check_nonnegative_float",
    "check_positive_float",
    "check_positive_int",
]


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= 1``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (``bool`` is refused too).
    ValueError
        If ``value < 1``.

    Examples
    --------
    >>> check_positive_int("vocab_size", 8)
    8
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def _check_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def check_positive_float(name: str, value: object) -> float:
    """Return ``value`` as a ``float`` if it is finite and ``> 0``.

    Examples
    --------
    >>> check_positive_float("temperature", 2)
    2.0
    """
    value = _check_real(name, value)
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def check_nonnegative_float(name: str, value: object) -> float:
    """Return ``value`` as a ``float`` if it is finite and ``>= 0``.

    Examples
    --------
    >>> check_nonnegative_float("commitment_weight", 0)
    0.0
    """
    value = _check_real(name, value)
    if value < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``; raise ``TypeError`` otherwise.

    Examples
    --------
    >>> check_bool("kmeans_init", True)
    True
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value
