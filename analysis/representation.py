"""Representation analysis: variance explained, probes, CKA and RSA.

Conventions
-----------
- A *representation* is a 2-D array ``[n_samples, n_units]`` (flatten anything
  else first, e.g. with :func:`analysis.models.activations`).
- *Features* are a 2-D array ``[n_samples, n_features]`` (a 1-D array is one
  feature); one score is returned per feature column, in column order.
- All scores are "higher is more": R² and accuracy in [.., 1], CKA in [0, 1] (the
  debiased estimator can dip slightly below 0), RSA a rank correlation in [-1, 1].
- Held-out scores use one seeded split (``test_fraction`` of the samples held out,
  ``sklearn.model_selection.train_test_split``).
- Degenerate cases get fixed values: a constant representation explains 0 of any
  feature and has CKA/RSA 0 with anything; a feature constant on the training split
  is decoded with accuracy 1 (classification) or R² 0 (regression).

The point of Lampinen, Chan & Hermann (2024) is that :func:`variance_explained`
(how much of the representation a feature accounts for) and :func:`decodability`
(whether a probe can read the feature out) disagree: report them side by side.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import kendalltau, pearsonr, spearmanr
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from analysis.validation import check_matrix, to_array

__all__ = [
    "check_features",
    "check_representation",
    "cka",
    "decodability",
    "rsa",
    "variance_explained",
]

#: Features with at most this many distinct integer values count as discrete
#: for ``kind="auto"``.
MAX_AUTO_CLASSES = 20


def check_representation(representation, *, name: str = "representation") -> np.ndarray:
    """Validate a representation: 2-D, non-empty, finite; returned as float64.

    :func:`analysis.validation.check_matrix` under this module's name.

    Examples
    --------
    >>> check_representation([[1, 2], [3, 4]]).shape
    (2, 2)
    """
    return check_matrix(representation, name=name)


def check_features(features, n_samples: int, *, name: str = "features") -> np.ndarray:
    """Validate features against ``n_samples``: 1-D or 2-D, finite; 2-D float64.

    Examples
    --------
    >>> check_features([0, 1, 1], 3).shape
    (3, 1)
    """
    array = to_array(features, name).astype(np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D [n_samples, n_features], got shape "
            f"{array.shape}"
        )
    if array.shape[1] == 0:
        raise ValueError(f"{name} has no columns: shape {array.shape}")
    if array.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {array.shape[0]} rows but the representation has "
            f"{n_samples}: shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf (shape {array.shape})")
    return array


def _check_fraction(test_fraction: float, n: int) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(np.ceil(test_fraction * n))
    if n_test < 1 or n - n_test < 2:
        raise ValueError(
            f"{n} samples are too few to split with test_fraction={test_fraction}"
        )


def variance_explained(
    representation,
    features,
    *,
    test_fraction: float = 0.5,
    seed: int = 0,
    categorical: bool = False,
) -> np.ndarray:
    """Fraction of a representation's variance explained by each feature.

    For each feature f, a linear regression (``sklearn`` ``LinearRegression``)
    from f alone to the representation φ, centred by the training mean, is fitted
    on the training split; on the held-out split

    ``R²_f = 1 − Σ‖W f + b − φ‖² / Σ‖φ‖²``

    (Lampinen, Chan & Hermann 2024). Values can be slightly negative on held-out
    data when f explains nothing.

    Parameters
    ----------
    representation : array-like, shape (n_samples, n_units)
        Activations.
    features : array-like, shape (n_samples,) or (n_samples, n_features)
        Feature values (e.g. ±1 bits).
    test_fraction : float, default 0.5
        Fraction of samples held out for scoring.
    seed : int, default 0
        Seed of the split.
    categorical : bool, default False
        Regress from the one-hot encoding of each feature instead of its value
        (for attributes with more than two unordered values).

    Returns
    -------
    numpy.ndarray, shape (n_features,)
        One R² per feature column. A representation constant on the held-out split
        gives 0 for every feature.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> f = rng.choice([-1.0, 1.0], size=(200, 2))
    >>> phi = np.outer(f[:, 0], [1.0, 2.0]) + 0.01 * rng.normal(size=(200, 2))
    >>> ve = variance_explained(phi, f)
    >>> bool(ve[0] > 0.99), bool(abs(ve[1]) < 0.1)
    (True, True)
    """
    phi = check_representation(representation)
    feats = check_features(features, phi.shape[0])
    _check_fraction(test_fraction, phi.shape[0])
    train, test = train_test_split(
        np.arange(phi.shape[0]), test_size=test_fraction, random_state=seed
    )
    mean = phi[train].mean(axis=0)
    phi_train, phi_test = phi[train] - mean, phi[test] - mean
    total = float(np.sum(phi_test**2))
    scores = np.zeros(feats.shape[1])
    if total <= 0.0:
        return scores  # degenerate: nothing to explain
    for j in range(feats.shape[1]):
        column = feats[:, j : j + 1]
        if categorical:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            x_train = encoder.fit_transform(column[train])
            x_test = encoder.transform(column[test])
        else:
            x_train, x_test = column[train], column[test]
        fit = LinearRegression().fit(x_train, phi_train)
        residual = float(np.sum((fit.predict(x_test) - phi_test) ** 2))
        scores[j] = 1.0 - residual / total
    return scores


def _is_discrete(column: np.ndarray) -> bool:
    return bool(
        np.all(column == np.round(column))
        and np.unique(column).size <= MAX_AUTO_CLASSES
    )


def decodability(
    representation,
    features,
    *,
    kind: Literal["auto", "classification", "regression"] = "auto",
    test_fraction: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """How well a linear probe reads each feature out of a representation.

    Classification features: held-out accuracy of a standardized
    ``LogisticRegression``. Regression features: held-out R² of a standardized
    ``Ridge``. With ``kind="auto"`` a feature is discrete when its values are
    integers with at most ``MAX_AUTO_CLASSES`` (20) distinct values.

    Parameters
    ----------
    representation : array-like, shape (n_samples, n_units)
        Activations.
    features : array-like, shape (n_samples,) or (n_samples, n_features)
        Targets of the probes.
    kind : {"auto", "classification", "regression"}, default "auto"
        Probe type for every column (auto decides per column).
    test_fraction : float, default 0.5
        Fraction held out.
    seed : int, default 0
        Seed of the split and the probe.

    Returns
    -------
    numpy.ndarray, shape (n_features,)
        Accuracy or R² per feature. A feature constant on the training split
        scores 1.0 (classification) or 0.0 (regression).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3))
    >>> labels = (x[:, 0] > 0).astype(int)
    >>> float(decodability(x, labels)[0]) > 0.95
    True
    """
    phi = check_representation(representation)
    feats = check_features(features, phi.shape[0])
    if kind not in ("auto", "classification", "regression"):
        raise ValueError(
            f"kind must be 'auto', 'classification' or 'regression', got {kind!r}"
        )
    _check_fraction(test_fraction, phi.shape[0])
    train, test = train_test_split(
        np.arange(phi.shape[0]), test_size=test_fraction, random_state=seed
    )
    scores = np.zeros(feats.shape[1])
    for j in range(feats.shape[1]):
        column = feats[:, j]
        discrete = kind == "classification" or (kind == "auto" and _is_discrete(column))
        if discrete:
            if np.unique(column[train]).size < 2:
                scores[j] = float(np.mean(column[test] == column[train][0]))
                continue
            probe = make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)
            )
            probe.fit(phi[train], column[train])
            scores[j] = float(probe.score(phi[test], column[test]))
        else:
            if np.ptp(column[train]) == 0.0 or np.ptp(column[test]) == 0.0:
                scores[j] = 0.0
                continue
            probe = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
            probe.fit(phi[train], column[train])
            scores[j] = float(r2_score(column[test], probe.predict(phi[test])))
    return scores


def _check_pair(X, Y, *, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    X = check_representation(X, name="X")
    Y = check_representation(Y, name="Y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must have the same number of samples, got shapes {X.shape} "
            f"and {Y.shape}"
        )
    if X.shape[0] < min_samples:
        raise ValueError(f"need at least {min_samples} samples, got shape {X.shape}")
    return X, Y


def _rbf_gram(X: np.ndarray, sigma: float | None) -> np.ndarray:
    sq = np.sum(X**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * X @ X.T, 0.0)
    if sigma is None:
        upper = d2[np.triu_indices_from(d2, k=1)]
        median = float(np.median(np.sqrt(upper))) if upper.size else 0.0
        sigma = median if median > 0.0 else 1.0
    return np.exp(-d2 / (2.0 * sigma**2))


def _hsic(K: np.ndarray, L: np.ndarray, debiased: bool) -> float:
    n = K.shape[0]
    if not debiased:
        H = np.eye(n) - 1.0 / n
        return float(np.sum((H @ K @ H) * L))
    K = K.copy()
    L = L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    ones_k, ones_l = K.sum(axis=0), L.sum(axis=0)
    value = (
        np.sum(K * L)
        + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * float(ones_k @ ones_l)
    )
    return float(value / (n * (n - 3)))


def cka(
    X,
    Y,
    *,
    kernel: Literal["linear", "rbf"] = "linear",
    debiased: bool = False,
    sigma: float | None = None,
) -> float:
    """Centred kernel alignment between two representations of the same samples.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with Gram matrices K of X
    and L of Y (Kornblith et al. 2019). Linear CKA is invariant to orthogonal
    transforms and isotropic scaling of either representation.

    Parameters
    ----------
    X, Y : array-like, shape (n_samples, n_units_x), (n_samples, n_units_y)
        Representations (rows are the same samples).
    kernel : {"linear", "rbf"}, default "linear"
        Gram matrix kernel.
    debiased : bool, default False
        Use the unbiased HSIC estimator (Song et al. 2012; needs n ≥ 4).
    sigma : float, optional
        RBF bandwidth; default the median pairwise distance (per representation).

    Returns
    -------
    float
        CKA; 0.0 when either representation is constant.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 5))
    >>> round(cka(X, 3.0 * X), 6)
    1.0
    """
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be 'linear' or 'rbf', got {kernel!r}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    X, Y = _check_pair(X, Y, min_samples=4 if debiased else 2)
    if kernel == "linear" and not debiased:
        # Feature-space form: no n×n matrices.
        Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
        cross = np.linalg.norm(Yc.T @ Xc) ** 2
        denominator = np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
        return float(cross / denominator) if denominator > 0 else 0.0
    if kernel == "linear":
        K, L = X @ X.T, Y @ Y.T
    else:
        K, L = _rbf_gram(X, sigma), _rbf_gram(Y, sigma)
    kk, ll = _hsic(K, K, debiased), _hsic(L, L, debiased)
    if kk <= 0.0 or ll <= 0.0:
        return 0.0
    return float(_hsic(K, L, debiased) / np.sqrt(kk * ll))


def rsa(
    X,
    Y,
    *,
    metric: str = "correlation",
    compare: Literal["spearman", "pearson", "kendall"] = "spearman",
) -> float:
    """Representational similarity analysis between two representations.

    The representational dissimilarity matrices (``scipy`` ``pdist`` with
    ``metric``) of X and Y are compared by a correlation over all sample pairs.

    Parameters
    ----------
    X, Y : array-like, shape (n_samples, n_units_x), (n_samples, n_units_y)
        Representations of the same samples (n ≥ 3).
    metric : str, default "correlation"
        Any ``scipy.spatial.distance.pdist`` metric.
    compare : {"spearman", "pearson", "kendall"}, default "spearman"
        Correlation between the two dissimilarity vectors.

    Returns
    -------
    float
        Correlation; 0.0 when either dissimilarity vector is constant or undefined.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(20, 4))
    >>> round(rsa(X, 2.0 * X + 1.0), 6)
    1.0
    """
    compare_fns = {"spearman": spearmanr, "pearson": pearsonr, "kendall": kendalltau}
    if compare not in compare_fns:
        raise ValueError(
            f"compare must be one of {sorted(compare_fns)}, got {compare!r}"
        )
    X, Y = _check_pair(X, Y, min_samples=3)
    try:
        dx, dy = pdist(X, metric=metric), pdist(Y, metric=metric)
    except ValueError as error:
        raise ValueError(f"unknown or unusable metric {metric!r}: {error}") from error
    # Degenerate: a constant row under "correlation" gives NaN distances; a
    # constant dissimilarity vector has no defined correlation.
    if not (np.isfinite(dx).all() and np.isfinite(dy).all()):
        return 0.0
    if np.ptp(dx) == 0.0 or np.ptp(dy) == 0.0:
        return 0.0
    value = compare_fns[compare](dx, dy)[0]
    return float(value) if np.isfinite(value) else 0.0
