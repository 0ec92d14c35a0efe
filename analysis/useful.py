"""USEFUL (arXiv 2404.17768): find slow-learnable examples and upsample them.

Conventions
-----------
- The caller trains a model for ≈5–10% of its schedule and collects, per training
  example, the model's outputs (logits or probabilities, ``[n, k]``), its loss
  (``[n]``) and its label (``[n]``).
- Per class, ``sklearn`` ``KMeans(n_clusters=2)`` splits the examples by their
  outputs; the cluster with the higher mean loss is *slow-learnable* (True in the
  mask). Degenerate cases: a class with fewer than 2 examples, or whose outputs are
  all identical, has no slow-learnable examples; on a tie of mean losses neither
  cluster is marked.
- :func:`upsample` repeats the slow-learnable examples so that each appears
  ``factor`` times in total; the caller then retrains from scratch.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from analysis.validation import check_int, to_array

__all__ = ["check_outputs", "slow_learnable_split", "upsample"]


def check_outputs(outputs, losses, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate outputs ``[n, k]`` (or ``[n]``), losses ``[n]`` and labels ``[n]``.

    Examples
    --------
    >>> [a.shape for a in check_outputs([1.0, 2.0], [0.1, 0.2], [0, 1])]
    [(2, 1), (2,), (2,)]
    """
    outputs = to_array(outputs, "outputs").astype(np.float64)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] == 0 or outputs.shape[1] == 0:
        raise ValueError(f"outputs must be non-empty [n, k], got shape {outputs.shape}")
    n = outputs.shape[0]
    losses = to_array(losses, "losses").astype(np.float64)
    labels = to_array(labels, "labels")
    if losses.shape != (n,):
        raise ValueError(f"losses must have shape ({n},), got {losses.shape}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if not (np.isfinite(outputs).all() and np.isfinite(losses).all()):
        raise ValueError("outputs or losses contain NaN or inf")
    return outputs, losses, labels


def slow_learnable_split(outputs, losses, labels, *, seed: int = 0) -> np.ndarray:
    """Boolean mask of the slow-learnable examples (see the module docstring).

    Parameters
    ----------
    outputs : array-like, shape (n, k) or (n,)
        Model outputs per example after the short training run.
    losses : array-like, shape (n,)
        Per-example loss.
    labels : array-like, shape (n,)
        Class of each example.
    seed : int, default 0
        ``random_state`` of k-means.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> outputs = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> losses = np.array([1.0, 1.1, 0.1, 0.0])
    >>> slow_learnable_split(outputs, losses, [0, 0, 0, 0]).tolist()
    [True, True, False, False]
    """
    outputs, losses, labels = check_outputs(outputs, losses, labels)
    mask = np.zeros(outputs.shape[0], dtype=bool)
    for cls in np.unique(labels):
        rows = np.flatnonzero(labels == cls)
        points = outputs[rows]
        if rows.size < 2 or np.unique(points, axis=0).shape[0] < 2:
            continue  # degenerate: nothing to split
        assignment = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(
            points
        )
        mean_loss = [losses[rows][assignment == c].mean() for c in (0, 1)]
        if mean_loss[0] == mean_loss[1]:
            continue
        slow = int(np.argmax(mean_loss))
        mask[rows[assignment == slow]] = True
    return mask


def upsample(indices, mask, factor: int = 2) -> np.ndarray:
    """Indices with the masked ones repeated to appear ``factor`` times in total.

    Parameters
    ----------
    indices : array-like of int, shape (n,)
        Dataset indices of the examples the mask refers to.
    mask : array-like of bool, shape (n,)
        Slow-learnable examples (from :func:`slow_learnable_split`).
    factor : int, default 2
        Total copies of each masked example (≥ 1; 1 returns ``indices``).

    Returns
    -------
    numpy.ndarray of int
        ``indices`` followed by ``factor − 1`` extra copies of the masked ones.

    Examples
    --------
    >>> upsample([10, 11, 12], [False, True, False]).tolist()
    [10, 11, 12, 11]
    """
    indices = np.asarray(indices)
    mask = np.asarray(mask)
    if indices.ndim != 1 or indices.size == 0:
        raise ValueError(f"indices must be a non-empty 1-D array, got {indices.shape}")
    if mask.shape != indices.shape or mask.dtype != np.bool_:
        raise ValueError(
            f"mask must be boolean with shape {indices.shape}, got {mask.dtype} "
            f"{mask.shape}"
        )
    factor = check_int(factor, "factor", low=1)
    extra = np.tile(indices[mask], factor - 1)
    return np.concatenate([indices, extra])
