"""Shortcut bias: Hermann et al. (2024) two-latent generator and bias measure.

Conventions
-----------
- Labels are ``y ∈ {−1, +1}`` (balanced in expectation). Two latents, the
  shortcut ``z_s`` and the core ``z_c``, are drawn as ``z_i | y ~ N(y·μ_i, 1)``,
  independent given y, with ``μ_i = √2·erf⁻¹(2ρ_i − 1)`` so that ``sign z_i``
  predicts y with probability ρ_i (the predictivity).
- Availability: each latent is embedded along its own random unit vector ``w_i``
  in ``dim`` dimensions, optionally passed through ``nesting_i`` random tanh
  layers ``h ← tanh(A h)`` (``A`` Gaussian with variance 1/dim; the nested output
  is rescaled once, on a fixed reference sample, to the mean squared norm of its
  input), then amplified by α_i: ``e_i = α_i·g_i(z_i w_i)``; ``x = e_s + e_c``.
  The exact nesting of the paper could not be retrieved; this is our version.
- Reliance on a model's labels ŷ ∈ {−1, +1} over the 30×30 probe grid of
  ``(z_s, z_c) ∈ [−3μ_s, 3μ_s] × [−3μ_c, 3μ_c]`` (see :func:`probe_grid`):
  ``R = mean ŷ·(sign z_s − sign z_c)``, in [−1, 1] (the bracket is ±2 on the half
  of the grid where the signs disagree, 0 elsewhere): +1 for a model that follows
  only the shortcut, −1 for one that follows only the core.
- Shortcut bias = R_model − R_LDA, with ``sklearn`` ``LinearDiscriminantAnalysis``
  fitted on samples from the same generator as the Bayes-optimal reference.
  Positive: the model leans on the shortcut more than the optimal classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import erfinv
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from analysis.validation import (
    check_binary_labels,
    check_int,
    check_positive_int,
    deprecated_alias,
)

__all__ = [
    "GRID_SIZE",
    "ShortcutGenerator",
    "check_latents",
    "lda_reliance",
    "make_generator",
    "probe_grid",
    "reliance",
    "shortcut_bias",
    "shortcut_dataset",
]

#: Points per axis of the probe grid.
GRID_SIZE = 30
#: Samples drawn to fit the LDA reference.
LDA_SAMPLES = 20_000


def predictivity_to_mu(rho: float) -> float:
    """Class-mean offset ``μ = √2·erf⁻¹(2ρ − 1)`` for predictivity ρ in (0.5, 1).

    Examples
    --------
    >>> round(predictivity_to_mu(0.8413447), 4)
    1.0
    """
    if not 0.5 < rho < 1.0:
        raise ValueError(f"predictivity must be in (0.5, 1), got {rho}")
    return float(np.sqrt(2.0) * erfinv(2.0 * rho - 1.0))


def check_latents(z_s, z_c) -> tuple[np.ndarray, np.ndarray]:
    """Validate two latent vectors: 1-D, same length, non-empty, finite."""
    z_s = np.asarray(z_s, dtype=np.float64)
    z_c = np.asarray(z_c, dtype=np.float64)
    if z_s.ndim != 1 or z_c.ndim != 1 or z_s.shape != z_c.shape:
        raise ValueError(
            f"z_s and z_c must be 1-D of the same length, got shapes {z_s.shape} "
            f"and {z_c.shape}"
        )
    if z_s.size == 0:
        raise ValueError("z_s and z_c are empty: shape (0,)")
    if not (np.isfinite(z_s).all() and np.isfinite(z_c).all()):
        raise ValueError("z_s or z_c contains NaN or inf")
    return z_s, z_c


@dataclass(frozen=True, eq=False)
class ShortcutGenerator:
    """Embeds latent pairs ``(z_s, z_c)`` into inputs; samples labelled data.

    Build it with :func:`make_generator` (or get it from
    :func:`shortcut_dataset`); the fields fix every random choice.

    Attributes
    ----------
    mu : tuple of float
        (μ_s, μ_c).
    alpha : tuple of float
        (α_s, α_c), the amplifications.
    directions : numpy.ndarray, shape (2, dim)
        Unit vectors w_s, w_c.
    nesting : tuple of tuple of numpy.ndarray
        The tanh-layer matrices of each latent (shortcut first).
    scales : tuple of float
        Rescaling of each nested embedding (1.0 without nesting).
    """

    mu: tuple[float, float]
    alpha: tuple[float, float]
    directions: np.ndarray
    nesting: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]
    scales: tuple[float, float]

    @property
    def dim(self) -> int:
        """Input dimension."""
        return int(self.directions.shape[1])

    def _embed_one(self, i: int, z: np.ndarray, scale: float) -> np.ndarray:
        h = z[:, None] * self.directions[i][None, :]
        for A in self.nesting[i]:
            h = np.tanh(h @ A.T)
        return self.alpha[i] * scale * h

    def embed(self, z_s, z_c) -> np.ndarray:
        """Inputs ``x = e_s + e_c`` of shape (n, dim) for latent vectors of length n.

        Examples
        --------
        >>> gen = make_generator(rho_core=0.8, rho_shortcut=0.8, dim=5)
        >>> gen.embed([0.0, 1.0], [0.0, 0.0]).shape
        (2, 5)
        """
        z_s, z_c = check_latents(z_s, z_c)
        return self._embed_one(0, z_s, self.scales[0]) + self._embed_one(
            1, z_c, self.scales[1]
        )

    def sample(
        self, n: int, *, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``(X [n, dim], y [n] in {−1, +1}, latents [n, 2] = (z_s, z_c))``."""
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(seed)
        y = rng.choice(np.array([-1, 1]), size=n)
        latents = y[:, None] * np.asarray(self.mu)[None, :] + rng.normal(size=(n, 2))
        return self.embed(latents[:, 0], latents[:, 1]), y, latents


def make_generator(
    *,
    rho_core: float,
    rho_shortcut: float,
    alpha_core: float = 1.0,
    alpha_shortcut: float = 1.0,
    nesting_core: int = 0,
    nesting_shortcut: int = 0,
    dim: int = 100,
    seed: int = 0,
) -> ShortcutGenerator:
    """Fix the random directions and nesting layers of a Hermann generator.

    Parameters are those of :func:`shortcut_dataset`.

    Examples
    --------
    >>> make_generator(rho_core=0.8, rho_shortcut=0.9, dim=10).directions.shape
    (2, 10)
    """
    mu = (predictivity_to_mu(rho_shortcut), predictivity_to_mu(rho_core))
    for name, value in (("alpha_core", alpha_core), ("alpha_shortcut", alpha_shortcut)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    for name, value in (
        ("nesting_core", nesting_core),
        ("nesting_shortcut", nesting_shortcut),
    ):
        check_int(value, name, low=0)
    check_int(dim, "dim", low=2)
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(2, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    nesting = tuple(
        tuple(rng.normal(size=(dim, dim)) / np.sqrt(dim) for _ in range(depth))
        for depth in (nesting_shortcut, nesting_core)
    )
    unscaled = ShortcutGenerator(
        mu=mu,
        alpha=(1.0, 1.0),
        directions=directions,
        nesting=nesting,  # type: ignore[arg-type]
        scales=(1.0, 1.0),
    )
    reference = rng.normal(size=1000)
    scales = []
    for i in range(2):
        if not nesting[i]:
            scales.append(1.0)
            continue
        z = reference + mu[i] * np.sign(rng.normal(size=reference.size))
        out = unscaled._embed_one(i, z, 1.0)
        target = np.mean(z**2)
        scales.append(float(np.sqrt(target / max(np.mean(np.sum(out**2, 1)), 1e-12))))
    return ShortcutGenerator(
        mu=mu,
        alpha=(float(alpha_shortcut), float(alpha_core)),
        directions=directions,
        nesting=nesting,  # type: ignore[arg-type]
        scales=(scales[0], scales[1]),
    )


def shortcut_dataset(
    n: int,
    *,
    rho_core: float,
    rho_shortcut: float,
    alpha_core: float = 1.0,
    alpha_shortcut: float = 1.0,
    nesting_core: int = 0,
    nesting_shortcut: int = 0,
    dim: int = 100,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, ShortcutGenerator]:
    """Labelled data from a Hermann et al. generator, and the generator itself.

    Parameters
    ----------
    n : int
        Number of samples.
    rho_core, rho_shortcut : float
        Predictivities in (0.5, 1).
    alpha_core, alpha_shortcut : float, default 1.0
        Amplifications (availability).
    nesting_core, nesting_shortcut : int, default 0
        Random tanh layers applied to each embedding (lower availability).
    dim : int, default 100
        Input dimension.
    seed : int, default 0
        Seeds the generator (directions, nesting) and the samples.

    Returns
    -------
    X : numpy.ndarray, shape (n, dim)
    y : numpy.ndarray, shape (n,), values in {−1, +1}
    latents : numpy.ndarray, shape (n, 2)
        Columns (z_s, z_c).
    generator : ShortcutGenerator
        Embeds any ``(z_s, z_c)`` with the same directions and nesting.

    Examples
    --------
    >>> X, y, z, gen = shortcut_dataset(100, rho_core=0.8, rho_shortcut=0.8, dim=10)
    >>> X.shape, z.shape, np.allclose(gen.embed(z[:, 0], z[:, 1]), X)
    ((100, 10), (100, 2), True)
    """
    generator = make_generator(
        rho_core=rho_core,
        rho_shortcut=rho_shortcut,
        alpha_core=alpha_core,
        alpha_shortcut=alpha_shortcut,
        nesting_core=nesting_core,
        nesting_shortcut=nesting_shortcut,
        dim=dim,
        seed=seed,
    )
    X, y, latents = generator.sample(n, seed=seed + 1)
    return X, y, latents, generator


def probe_grid(
    generator: ShortcutGenerator, *, size: int = GRID_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """The ``size × size`` latent grid over ±3μ, flattened: ``(z_s, z_c)``.

    The shortcut axis is ``linspace(−3μ_s, 3μ_s, size)``; the core axis holds the
    centres of ``size`` equal cells of ``[−3μ_c, 3μ_c]`` (half a step in from the
    ends), so that no grid point sits on the diagonal ``z_s/μ_s = −z_c/μ_c``.

    Examples
    --------
    >>> z_s, z_c = probe_grid(make_generator(rho_core=0.8, rho_shortcut=0.8, dim=4))
    >>> z_s.shape
    (900,)
    """
    if size < 2:
        raise ValueError(f"size must be >= 2, got {size}")
    axis_s = generator.mu[0] * np.linspace(-3.0, 3.0, size)
    # Cell centres on the core axis: with μ_s = μ_c a symmetric pair of axes puts a
    # whole row of points exactly on the anti-diagonal (the Bayes boundary), so a
    # 1% sampling error in a classifier's weights would flip the row at once.
    axis_c = generator.mu[1] * (-3.0 + 6.0 * (np.arange(size) + 0.5) / size)
    grid_s, grid_c = np.meshgrid(axis_s, axis_c, indexing="ij")
    return grid_s.ravel(), grid_c.ravel()


check_labels = deprecated_alias(check_binary_labels, "analysis.shortcut.check_labels")


def reliance(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    generator: ShortcutGenerator,
    *,
    size: int = GRID_SIZE,
) -> float:
    """Reliance ``R = mean ŷ·(sign z_s − sign z_c)`` over the probe grid.

    Examples
    --------
    >>> gen = make_generator(rho_core=0.8, rho_shortcut=0.8, dim=4)
    >>> to_latents = np.linalg.pinv(gen.directions)  # x = z @ directions here
    >>> follow_shortcut = lambda x: np.sign((x @ to_latents)[:, 0])
    >>> reliance(follow_shortcut, gen)
    1.0
    """
    z_s, z_c = probe_grid(generator, size=size)
    y_hat = check_binary_labels(predict_fn(generator.embed(z_s, z_c)), z_s.size)
    return float(np.mean(y_hat * (np.sign(z_s) - np.sign(z_c))))


def lda_reliance(
    generator: ShortcutGenerator, *, n_reference: int = LDA_SAMPLES, seed: int = 0
) -> float:
    """Reliance of ``LinearDiscriminantAnalysis`` fitted on generator samples.

    The reference of :func:`shortcut_bias`; compute it once and pass it as
    ``reference`` when scoring several models on one generator.

    Examples
    --------
    >>> gen = make_generator(rho_core=0.8, rho_shortcut=0.8, dim=4)
    >>> abs(lda_reliance(gen, n_reference=5000)) < 0.1
    True
    """
    n_reference = check_int(n_reference, "n_reference", low=4)
    X, y, _ = generator.sample(n_reference, seed=seed + 12345)
    lda = LinearDiscriminantAnalysis().fit(X, y)
    return reliance(lda.predict, generator)


def shortcut_bias(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    generator: ShortcutGenerator,
    *,
    n_reference: int = LDA_SAMPLES,
    seed: int = 0,
    reference: float | None = None,
) -> float:
    """Shortcut bias of a trained model: its reliance minus that of LDA.

    Parameters
    ----------
    predict_fn : callable
        ``predict_fn(X [n, dim]) -> labels [n]`` in {0, 1} or {−1, +1} (class 1 /
        +1 is y = +1).
    generator : ShortcutGenerator
        The generator the model was trained on.
    n_reference : int, default 20000
        Samples for the ``LinearDiscriminantAnalysis`` reference.
    seed : int, default 0
        Seed of the reference samples.
    reference : float, optional
        A precomputed :func:`lda_reliance` (then ``n_reference`` and ``seed`` are
        unused).

    Returns
    -------
    float
        ``R_model − R_LDA`` in [−2, 2]; ≈ 0 for an unbiased model, positive when
        the model leans on the shortcut.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y, z, gen = shortcut_dataset(
    ...     20000, rho_core=0.9, rho_shortcut=0.9, alpha_shortcut=4.0, dim=10)
    >>> clf = LogisticRegression().fit(X, y)
    >>> abs(shortcut_bias(clf.predict, gen)) < 0.1
    True
    """
    if reference is None:
        reference = lda_reliance(generator, n_reference=n_reference, seed=seed)
    elif not np.isfinite(reference):
        raise ValueError(f"reference must be a finite reliance, got {reference}")
    return reliance(predict_fn, generator) - float(reference)
