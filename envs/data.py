"""Image data for the envs: scikit-learn's bundled digits, or MNIST from a local path.

Nothing is downloaded. ``load_images()`` returns scikit-learn's 8x8 digits (1,797
images, bundled with the package); ``load_images(mnist_path)`` reads MNIST from a file
or folder the user gives: an ``.npz`` with arrays ``x``/``y`` (or ``x_train``/
``y_train``), or the IDX files ``train-images-idx3-ubyte[.gz]`` and
``train-labels-idx1-ubyte[.gz]``.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["ImageSet", "load_images", "sample_distinct", "sample_of_class"]


@dataclass(frozen=True)
class ImageSet:
    """Images flattened to ``[n, side*side]`` in ``[0, 1]``, labels ``[n]``."""

    images: np.ndarray
    labels: np.ndarray
    side: int
    source: str

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).exists():
            return folder / name
    raise ValueError(f"MNIST folder {folder} has no {stem}[.gz]")


def load_images(mnist_path: str | os.PathLike | None = None) -> ImageSet:
    """Load the image set: bundled 8x8 digits, or MNIST from ``mnist_path``.

    Raises ``ValueError`` when the path does not exist or holds no MNIST arrays.
    """
    if mnist_path is None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.data / 16.0).astype(np.float32)
        return ImageSet(images, digits.target.astype(np.int64), 8, "sklearn-digits")
    path = Path(mnist_path)
    if not path.exists():
        raise ValueError(f"mnist_path {str(path)!r} does not exist")
    if path.is_dir():
        x = _read_idx(_find(path, "train-images-idx3-ubyte"))
        y = _read_idx(_find(path, "train-labels-idx1-ubyte"))
    elif path.suffix == ".npz":
        with np.load(path) as npz:
            keys = ("x", "y") if "x" in npz else ("x_train", "y_train")
            if keys[0] not in npz or keys[1] not in npz:
                raise ValueError(
                    f"{path}: expected arrays 'x'/'y' or 'x_train'/'y_train', "
                    f"got {sorted(npz.files)}"
                )
            x, y = npz[keys[0]], npz[keys[1]]
    else:
        raise ValueError(f"mnist_path must be a folder of IDX files or an .npz: {path}")
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    if x.max() > 1.0:
        x = x / 255.0
    side = int(round(np.sqrt(x.shape[1])))
    return ImageSet(x, np.asarray(y, dtype=np.int64).ravel(), side, str(path))


def sample_distinct(
    n: int, k: int, size: int, *, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """``size`` uniformly random ordered samples of ``k`` distinct ints in ``[0, n)``.

    Sequential draws without replacement, vectorized over the batch: draw ``r`` in
    ``[0, n - j)`` and shift it past the values already taken. Returns ``[size, k]``.
    """
    out = torch.empty(size, k, dtype=torch.int64, device=device)
    for j in range(k):
        r = torch.randint(0, n - j, (size,), generator=generator, device=device)
        taken, _ = out[:, :j].sort(dim=1)
        for i in range(j):
            r = r + (r >= taken[:, i]).long()
        out[:, j] = r
    return out


def sample_of_class(
    labels_sorted_offsets: torch.Tensor,
    class_counts: torch.Tensor,
    classes: torch.Tensor,
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """A random image index of each class in ``classes`` (images sorted by class)."""
    u = torch.rand(classes.shape, generator=generator, device=classes.device)
    within = (u * class_counts[classes]).long().clamp_max(class_counts[classes] - 1)
    return labels_sorted_offsets[classes] + within
