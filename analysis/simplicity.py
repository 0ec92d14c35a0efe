"""Simplicity bias: LMS / MS datasets and randomized AUC (Shah et al. 2020).

Conventions
-----------
- Labels are ``y ∈ {0, 1}``, balanced in expectation.
- Every coordinate lives in ``[-width, width]``. A *linear* coordinate is
  ``x = (2y − 1)(margin + (width − margin) U)``, ``U ~ Uniform[0, 1]``. A *k-slab*
  coordinate (k odd) splits ``[-width, width]`` into k equal slabs separated by
  gaps of ``2·margin``; slab labels alternate outwards from a negative centre slab.
  A sample picks one slab of its class, then a uniform point inside it. Negatives
  pick the centre slab with probability 3/4 when their class has other slabs,
  else one of those uniformly; positives pick uniformly among theirs. For the
  5-slab coordinate: negatives in the centre (3/4) or the two outer slabs,
  positives in the two inner side slabs.
- ``rotate=True`` applies one random orthogonal matrix ``R`` (QR of a Gaussian
  matrix, signs fixed): the returned data are ``X = Z @ R`` with ``Z`` in the
  unrotated basis, so ``Z = X @ R.T``. The record returned with the data holds
  ``R`` (or None) and which unrotated coordinates are linear or slab.
- AUCs are ``sklearn.metrics.roc_auc_score`` of the model's score for class 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from analysis.validation import check_matrix, check_positive_int, to_array

__all__ = [
    "LMSInfo",
    "RandomizedAUC",
    "check_coords",
    "check_dataset",
    "lms_dataset",
    "ms_dataset",
    "randomized_auc",
    "slab_coordinate",
]


@dataclass(frozen=True, eq=False)
class LMSInfo:
    """How an LMS / MS dataset was built.

    Attributes
    ----------
    rotation : numpy.ndarray or None, shape (dim, dim)
        Orthogonal ``R`` with ``X = Z @ R``; None when not rotated.
    linear_coords : tuple of int
        Unrotated coordinates that are linear.
    slab_coords : tuple of int
        Unrotated coordinates that are slabs.
    slabs : tuple of int
        Number of slabs of each coordinate (1 marks a linear coordinate).
    linear_noise : float
        Fraction of samples whose linear coordinates have a flipped sign.
    """

    rotation: np.ndarray | None
    linear_coords: tuple[int, ...]
    slab_coords: tuple[int, ...]
    slabs: tuple[int, ...]
    linear_noise: float


@dataclass(frozen=True)
class RandomizedAUC:
    """AUC on intact data and with S or its complement S^c randomized.

    Attributes
    ----------
    standard : float
        AUC on the test data as given.
    s_randomized : float
        AUC after permuting the coordinates in S jointly across samples.
    sc_randomized : float
        AUC after permuting the coordinates not in S.
    """

    standard: float
    s_randomized: float
    sc_randomized: float

    def as_dict(self) -> dict[str, float]:
        """The three AUCs keyed by field name."""
        return {
            "standard": self.standard,
            "s_randomized": self.s_randomized,
            "sc_randomized": self.sc_randomized,
        }


def _check_common(n: int, dim: int, margin: float, width: float) -> None:
    check_positive_int(n, "n")
    check_positive_int(dim, "dim")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    if not 0 <= margin < width:
        raise ValueError(f"margin must be in [0, width={width}), got {margin}")


def _check_slabs(k: int, margin: float, width: float) -> None:
    if (
        isinstance(k, bool)
        or not isinstance(k, int | np.integer)
        or k < 3
        or k % 2 == 0
    ):
        raise ValueError(f"slabs must be an odd int >= 3, got {k!r}")
    if 2.0 * margin * (k - 1) >= 2.0 * width:
        raise ValueError(
            f"{k} slabs with margin {margin} do not fit in [-{width}, {width}]"
        )


def slab_coordinate(
    y: np.ndarray, k: int, *, margin: float, width: float, rng: np.random.Generator
) -> np.ndarray:
    """One k-slab coordinate for labels ``y ∈ {0, 1}`` (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 0, 1])
    >>> x = slab_coordinate(y, 3, margin=0.1, width=1.0, rng=np.random.default_rng(0))
    >>> bool(np.all(np.abs(x[y == 0]) < 0.25)), bool(np.all(np.abs(x[y == 1]) > 0.35))
    (True, True)
    """
    _check_slabs(k, margin, width)
    slab_width = (2.0 * width - 2.0 * margin * (k - 1)) / k
    lefts = -width + np.arange(k) * (slab_width + 2.0 * margin)
    centre = (k - 1) // 2
    labels = np.abs(np.arange(k) - centre) % 2  # 0 at the centre, alternating
    slab = np.empty(y.shape[0], dtype=np.int64)
    for cls in (0, 1):
        members = np.flatnonzero(labels == cls)
        if cls == 0 and members.size > 1:
            probs = np.where(members == centre, 0.75, 0.25 / (members.size - 1))
        else:
            probs = np.full(members.size, 1.0 / members.size)
        rows = np.flatnonzero(y == cls)
        slab[rows] = rng.choice(members, size=rows.size, p=probs)
    return lefts[slab] + slab_width * rng.random(y.shape[0])


def _random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def _build(
    n: int,
    kinds: list[int],
    *,
    margin: float,
    width: float,
    linear_noise: float,
    rotate: bool,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, LMSInfo]:
    if not 0.0 <= linear_noise <= 0.5:
        raise ValueError(f"linear_noise must be in [0, 0.5], got {linear_noise}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    Z = np.empty((n, len(kinds)))
    sign = 2.0 * y - 1.0
    if linear_noise > 0:
        sign = np.where(rng.random(n) < linear_noise, -sign, sign)
    for j, k in enumerate(kinds):
        if k == 1:
            Z[:, j] = sign * (margin + (width - margin) * rng.random(n))
        else:
            Z[:, j] = slab_coordinate(y, k, margin=margin, width=width, rng=rng)
    rotation = _random_rotation(len(kinds), rng) if rotate else None
    X = Z @ rotation if rotate else Z
    info = LMSInfo(
        rotation=rotation,
        linear_coords=tuple(j for j, k in enumerate(kinds) if k == 1),
        slab_coords=tuple(j for j, k in enumerate(kinds) if k != 1),
        slabs=tuple(kinds),
        linear_noise=float(linear_noise),
    )
    return X, y, info


def lms_dataset(
    n: int,
    *,
    dim: int = 50,
    n_linear: int = 1,
    slabs: int = 5,
    margin: float = 0.1,
    width: float = 1.0,
    linear_noise: float = 0.0,
    rotate: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, LMSInfo]:
    """LMS-k data: ``n_linear`` linear coordinates and ``dim − n_linear`` k-slabs.

    Every coordinate alone predicts the label perfectly (with ``linear_noise=0``);
    the linear ones are the simple ones. Coordinates ``0 .. n_linear−1`` of the
    unrotated basis are linear.

    Parameters
    ----------
    n : int
        Number of samples.
    dim : int, default 50
        Total number of coordinates.
    n_linear : int, default 1
        Number of linear coordinates (0 gives pure k-slab data).
    slabs : int, default 5
        Slabs per slab coordinate (odd, ≥ 3).
    margin : float, default 0.1
        Half-gap between slabs, and the margin of the linear coordinates.
    width : float, default 1.0
        Coordinates lie in ``[-width, width]``.
    linear_noise : float, default 0.0
        Noisy-linear variant: this fraction of samples (chosen independently) get
        the sign of all their linear coordinates flipped, so the linear coordinates
        predict the label with accuracy ``1 − linear_noise`` while the slabs stay
        fully predictive. Must be in [0, 0.5].
    rotate : bool, default True
        Apply a random orthogonal rotation.
    seed : int, default 0
        Seed of everything random (labels, coordinates, rotation).

    Returns
    -------
    X : numpy.ndarray, shape (n, dim)
    y : numpy.ndarray of int, shape (n,)
    info : LMSInfo

    Examples
    --------
    >>> X, y, info = lms_dataset(100, dim=10, rotate=False)
    >>> X.shape, info.linear_coords, bool(np.all((X[:, 0] > 0) == (y == 1)))
    ((100, 10), (0,), True)
    """
    _check_common(n, dim, margin, width)
    _check_slabs(slabs, margin, width)
    if not 0 <= n_linear <= dim:
        raise ValueError(f"n_linear must be in [0, dim={dim}], got {n_linear}")
    kinds = [1] * n_linear + [int(slabs)] * (dim - n_linear)
    return _build(
        n,
        kinds,
        margin=margin,
        width=width,
        linear_noise=linear_noise,
        rotate=rotate,
        seed=seed,
    )


def ms_dataset(
    n: int,
    *,
    dim: int = 50,
    slabs: tuple[int, int] = (5, 7),
    n_first: int = 1,
    margin: float = 0.1,
    width: float = 1.0,
    rotate: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, LMSInfo]:
    """MS-(k1, k2) data: ``n_first`` k1-slab coordinates, the rest k2-slab.

    With k1 < k2 the k1-slab coordinates are the simpler ones. Coordinates
    ``0 .. n_first−1`` of the unrotated basis are the k1-slab ones.

    Parameters
    ----------
    n : int
        Number of samples.
    dim : int, default 50
        Total number of coordinates.
    slabs : tuple of two odd ints, default (5, 7)
        (k1, k2).
    n_first : int, default 1
        Number of k1-slab coordinates.
    margin, width, rotate, seed
        As in :func:`lms_dataset`.

    Returns
    -------
    X : numpy.ndarray, shape (n, dim)
    y : numpy.ndarray of int, shape (n,)
    info : LMSInfo
        ``linear_coords`` is empty; ``slabs`` gives k per coordinate.

    Examples
    --------
    >>> X, y, info = ms_dataset(50, dim=4, slabs=(3, 5), rotate=False)
    >>> info.slabs
    (3, 5, 5, 5)
    """
    _check_common(n, dim, margin, width)
    if len(slabs) != 2:
        raise ValueError(f"slabs must be a pair (k1, k2), got {slabs!r}")
    for k in slabs:
        _check_slabs(k, margin, width)
    if not 0 <= n_first <= dim:
        raise ValueError(f"n_first must be in [0, dim={dim}], got {n_first}")
    kinds = [int(slabs[0])] * n_first + [int(slabs[1])] * (dim - n_first)
    return _build(
        n,
        kinds,
        margin=margin,
        width=width,
        linear_noise=0.0,
        rotate=rotate,
        seed=seed,
    )


def check_dataset(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate test data: X 2-D finite non-empty, y binary {0, 1} with both classes.

    Examples
    --------
    >>> check_dataset([[0.0], [1.0]], [0, 1])[1]
    array([0, 1])
    """
    X = check_matrix(X, name="X")
    y = to_array(y, "y")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    values = set(np.unique(y).tolist())
    if values != {0, 1}:
        raise ValueError(f"y must hold both labels 0 and 1 only, got {sorted(values)}")
    return X, y.astype(np.int64)


def check_coords(coords, dim: int) -> np.ndarray:
    """Validate a set S of coordinate indices in ``[0, dim)``; non-empty, proper.

    Examples
    --------
    >>> check_coords([0], 3)
    array([0])
    """
    coords = np.unique(np.asarray(coords, dtype=np.int64).ravel())
    if coords.size == 0:
        raise ValueError("coords is empty: name at least one coordinate")
    if coords.min() < 0 or coords.max() >= dim:
        raise ValueError(f"coords must lie in [0, {dim}), got {coords.tolist()}")
    if coords.size == dim:
        raise ValueError(f"coords must leave a complement; got all {dim} coordinates")
    return coords


def _scores(score_fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
    scores = np.asarray(score_fn(X), dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 2:
        scores = scores[:, 1]
    scores = scores.reshape(-1) if scores.ndim == 2 and scores.shape[1] == 1 else scores
    if scores.shape != (X.shape[0],):
        raise ValueError(
            f"score_fn must return shape ({X.shape[0]},) or ({X.shape[0]}, 2), got "
            f"{scores.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError("score_fn returned NaN or inf")
    return scores


def randomized_auc(
    score_fn: Callable[[np.ndarray], np.ndarray],
    X,
    y,
    coords,
    *,
    rotation: np.ndarray | None = None,
    seed: int = 0,
) -> RandomizedAUC:
    """AUC of a model with the coordinates in S, or in S^c, randomized.

    In the unrotated basis ``Z = X @ rotation.T``, the columns in S are permuted
    jointly across the test samples (one permutation for all of them), which keeps
    their marginal distribution and destroys their relation to the label; the data
    are rotated back and scored. S^c-randomization permutes the other columns.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(X) -> scores`` of shape (n,) (score of class 1) or (n, 2)
        (probabilities; column 1 is used).
    X : array-like, shape (n, dim)
        Test data in the model's (rotated) basis.
    y : array-like, shape (n,)
        Labels in {0, 1}.
    coords : array-like of int
        S, indices in the unrotated basis (e.g. ``info.linear_coords``).
    rotation : numpy.ndarray, optional, shape (dim, dim)
        The ``info.rotation`` of the dataset, or None for unrotated data.
    seed : int, default 0
        Seed of the permutation.

    Returns
    -------
    RandomizedAUC

    Examples
    --------
    >>> X, y, info = lms_dataset(400, dim=4, seed=1)
    >>> uses_linear = lambda data: (data @ info.rotation.T)[:, 0]
    >>> S, R = info.linear_coords, info.rotation
    >>> r = randomized_auc(uses_linear, X, y, S, rotation=R)
    >>> r.standard, r.sc_randomized, abs(r.s_randomized - 0.5) < 0.1
    (1.0, 1.0, True)
    """
    X, y = check_dataset(X, y)
    dim = X.shape[1]
    S = check_coords(coords, dim)
    if rotation is not None:
        rotation = np.asarray(rotation, dtype=np.float64)
        if rotation.shape != (dim, dim):
            raise ValueError(
                f"rotation must have shape ({dim}, {dim}), got {rotation.shape}"
            )
        if not np.allclose(rotation @ rotation.T, np.eye(dim), atol=1e-6):
            raise ValueError("rotation must be orthogonal (R @ R.T == I)")
    Z = X @ rotation.T if rotation is not None else X
    complement = np.setdiff1d(np.arange(dim), S)
    rng = np.random.default_rng(seed)

    def auc_with(columns: np.ndarray | None) -> float:
        data = Z.copy()
        if columns is not None:
            permutation = rng.permutation(data.shape[0])
            data[:, columns] = Z[permutation][:, columns]
        data = data @ rotation if rotation is not None else data
        return float(roc_auc_score(y, _scores(score_fn, data)))

    return RandomizedAUC(
        standard=auc_with(None),
        s_randomized=auc_with(S),
        sc_randomized=auc_with(complement),
    )
