"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """Torch on one thread: faster than 2 contended threads at these sizes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def read_events():
    """``read(logdir) -> {tag: (plugin, description, steps)}`` of a TensorBoard run
    folder, through TensorBoard's own event reader (every tag is a tensor there)."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator,
    )

    def read(logdir) -> dict[str, tuple[str, str, list[int]]]:
        acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
        acc.Reload()
        out = {}
        for tag in acc.Tags()["tensors"]:
            meta = acc.SummaryMetadata(tag)
            steps = [e.step for e in acc.Tensors(tag)]
            out[tag] = (meta.plugin_data.plugin_name, meta.summary_description, steps)
        return out

    return read
