"""Atomic file writes for the run directories: a temp file in the same folder, then
``os.replace``, so a reader (or a resumed run after ``kill -9``) never sees half a
file."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_savez",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "clean_orphans",
    "load_torch_checkpoint",
    "read_json",
]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` as indented, key-sorted JSON."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save(obj)``, atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def atomic_savez(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``numpy.savez_compressed``, atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; ``ValueError`` naming the file when it is missing,
    truncated or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ValueError(f"{path} does not exist") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON (truncated?): {err}") from err


def load_torch_checkpoint(path: str | os.PathLike, *, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain data only, so a
    crafted file cannot run code. ``ValueError`` naming the file when it is empty,
    truncated, or holds anything else."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (
        EOFError,
        RuntimeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        AttributeError,
    ) as err:
        first = (
            str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        )
        raise ValueError(
            f"checkpoint {path} cannot be loaded as tensors and plain data "
            f"(truncated, not a checkpoint, or holding code): {first}"
        ) from err
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds {type(state).__name__}, not a dict")
    return state


def clean_orphans(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files a killed atomic write left in ``folder``
    (``.<name>.<random>``); returns what was removed.

    Folders are left alone: an RLlib checkpoint swap's ``.latest.tmp*`` /
    ``.latest.old*`` may be the newest complete checkpoint, which
    :func:`agents.rllib.latest_checkpoint` recovers.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if (
            entry.name.startswith(".")
            and entry.name.count(".") >= 2
            and entry.is_file()
        ):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
