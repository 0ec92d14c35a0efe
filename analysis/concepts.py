"""Concept vectors and concept bias (BiasLens, arXiv 2505.15524).

Conventions
-----------
- Activations are 2-D arrays ``[n_samples, n_units]`` of one layer; the per-layer
  helpers take ``dict[str, array]`` as returned by :func:`analysis.models.activations`.
- A concept vector is the unit-norm weight vector of an ``sklearn``
  ``LogisticRegression`` separating the activations of concept inputs (class 1)
  from those of random inputs (class 0), in the layer's own (unstandardized) units.
- Concept bias of a target t between references r1 and r2 is
  ``cos(C_t, C_r1) − cos(C_t, C_r2)`` in [−2, 2]; positive: t sits closer to r1.
- Degenerate case: a zero concept vector (the probe found no direction) has cosine
  0 with everything.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.linear_model import LogisticRegression

from analysis.validation import check_matrix, check_vector

__all__ = [
    "check_activations",
    "check_vector",
    "concept_bias",
    "concept_vector",
    "layer_concept_bias",
]


def check_activations(activations, *, name: str = "activations") -> np.ndarray:
    """Validate activations of one layer: 2-D, non-empty, finite; float64.

    :func:`analysis.validation.check_matrix` under this module's name.

    Examples
    --------
    >>> check_activations([[0.0, 1.0]]).shape
    (1, 2)
    """
    return check_matrix(activations, name=name)


def concept_vector(acts_concept, acts_random, *, seed: int = 0) -> np.ndarray:
    """Unit direction separating a concept's activations from random ones.

    Parameters
    ----------
    acts_concept : array-like, shape (n_concept, n_units)
        Activations of inputs showing the concept.
    acts_random : array-like, shape (n_random, n_units)
        Activations of random (counterfactual) inputs.
    seed : int, default 0
        ``random_state`` of the logistic regression.

    Returns
    -------
    numpy.ndarray, shape (n_units,)
        Unit-norm weight vector (zeros if the probe found no direction).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> c = rng.normal(size=(100, 3)) + [3.0, 0.0, 0.0]
    >>> r = rng.normal(size=(100, 3))
    >>> np.round(concept_vector(c, r), 1)[0]
    np.float64(1.0)
    """
    concept = check_activations(acts_concept, name="acts_concept")
    random = check_activations(acts_random, name="acts_random")
    if concept.shape[1] != random.shape[1]:
        raise ValueError(
            f"acts_concept and acts_random need the same number of units, got "
            f"shapes {concept.shape} and {random.shape}"
        )
    X = np.concatenate([concept, random])
    y = np.concatenate([np.ones(len(concept)), np.zeros(len(random))])
    probe = LogisticRegression(max_iter=2000, random_state=seed).fit(X, y)
    weights = probe.coef_[0]
    norm = np.linalg.norm(weights)
    return weights / norm if norm > 0 else np.zeros_like(weights)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denominator) if denominator > 0 else 0.0


def concept_bias(target, ref1, ref2) -> float:
    """``cos(C_t, C_r1) − cos(C_t, C_r2)`` for three concept vectors.

    Parameters
    ----------
    target, ref1, ref2 : array-like, shape (n_units,)
        Concept vectors of one layer.

    Returns
    -------
    float
        In [−2, 2]; positive when the target is closer to ``ref1``.

    Examples
    --------
    >>> concept_bias([1.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    1.0
    """
    t = check_vector(target, name="target")
    r1 = check_vector(ref1, name="ref1")
    r2 = check_vector(ref2, name="ref2")
    if not t.shape == r1.shape == r2.shape:
        raise ValueError(
            f"concept vectors must have one shape, got {t.shape}, {r1.shape}, "
            f"{r2.shape}"
        )
    return _cosine(t, r1) - _cosine(t, r2)


def layer_concept_bias(
    target: Mapping[str, np.ndarray],
    ref1: Mapping[str, np.ndarray],
    ref2: Mapping[str, np.ndarray],
    random: Mapping[str, np.ndarray],
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Concept bias per layer from activations of concept and random inputs.

    Parameters
    ----------
    target, ref1, ref2 : dict of str to array-like
        Per layer, activations of inputs showing the target / reference concepts.
    random : dict of str to array-like
        Per layer, activations of random inputs (the contrast set).
    seed : int, default 0
        Seed of the probes.

    Returns
    -------
    dict of str to float
        ``{layer: concept_bias}`` for every layer present in all four dicts.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> def acts(shift):
    ...     return {"fc": rng.normal(size=(80, 2)) + shift}
    >>> target, ref1, ref2 = acts([2, 0]), acts([2, 0.2]), acts([0, 2])
    >>> out = layer_concept_bias(target, ref1, ref2, acts([0, 0]))
    >>> out["fc"] > 0.5
    True
    """
    layers = [
        name for name in target if name in ref1 and name in ref2 and name in random
    ]
    if not layers:
        raise ValueError(
            f"no layer is shared by all four activation dicts (target has "
            f"{sorted(target)})"
        )
    result = {}
    for name in layers:
        vectors = [
            concept_vector(acts[name], random[name], seed=seed)
            for acts in (target, ref1, ref2)
        ]
        result[name] = concept_bias(*vectors)
    return result
