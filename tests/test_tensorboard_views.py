"""Tests for analysis.tensorboard: write with a real SummaryWriter, read events back."""

import itertools
import sys

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from analysis.language import message_report  # noqa: E402
from analysis.tensorboard import (  # noqa: E402
    log_codebook_projector,
    log_rank_frequency,
    log_symbol_histogram,
    log_symbol_meaning_heatmap,
    log_symbol_views,
)

VOCAB = 6


@pytest.fixture
def batch():
    meanings = np.array(list(itertools.product(range(3), repeat=2)) * 4)
    messages = np.stack([meanings[:, 0], meanings[:, 1] + 3], axis=1)
    return messages, meanings


def _read(logdir):
    acc = EventAccumulator(
        str(logdir), size_guidance={"histograms": 0, "images": 0, "scalars": 0}
    )
    acc.Reload()
    return acc


def _metadata_files(logdir):
    return sorted(logdir.rglob("metadata.tsv"))


def test_log_symbol_views_writes_every_view(tmp_path, batch):
    messages, meanings = batch
    codebook = np.random.default_rng(0).normal(size=(VOCAB, 4))
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        report = log_symbol_views(
            writer,
            step=3,
            messages=messages,
            meanings=meanings,
            vocab_size=VOCAB,
            codebook=codebook,
        )
    acc = _read(tmp_path)
    tags = acc.Tags()
    assert "symbols/usage" in tags["histograms"]
    assert {"symbols/rank_frequency", "symbols/symbol_meaning"} <= set(tags["images"])
    expected_scalars = {
        f"symbols/{k}" for k in message_report(messages, meanings).scalars()
    }
    assert expected_scalars <= set(tags["scalars"])
    posdis = acc.Scalars("symbols/posdis")[0]
    assert posdis.step == 3 and posdis.value == pytest.approx(report.posdis)
    histogram = acc.Histograms("symbols/usage")[0].histogram_value
    assert histogram.num == messages.size
    image = acc.Images("symbols/rank_frequency")[0]
    assert image.width > 0 and image.height > 0

    assert (tmp_path / "projector_config.pbtxt").exists()
    (metadata,) = _metadata_files(tmp_path)
    lines = metadata.read_text().splitlines()
    assert lines[0].split("\t") == ["symbol", "usage", "top_meaning"]
    assert len(lines) == 1 + VOCAB
    # symbol 0 is attribute 0 == 0: its most frequent meaning starts with 0
    assert lines[1].split("\t")[:2] == ["0", "12"]
    assert lines[1].split("\t")[2].startswith("0,")


def test_log_symbol_views_without_codebook_skips_projector(tmp_path, batch):
    messages, meanings = batch
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        log_symbol_views(
            writer, step=0, messages=messages, meanings=meanings, vocab_size=VOCAB
        )
    assert not (tmp_path / "projector_config.pbtxt").exists()
    assert "symbols/usage" in _read(tmp_path).Tags()["histograms"]


def test_codebook_projector_unused_symbols_and_no_meanings(tmp_path):
    codebook = np.eye(3, dtype=np.float32)
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        log_codebook_projector(writer, codebook, step=1, usage_counts=[0, 0, 0])
    (metadata,) = _metadata_files(tmp_path)
    rows = [line.split("\t") for line in metadata.read_text().splitlines()[1:]]
    assert rows == [["0", "0", "-"], ["1", "0", "-"], ["2", "0", "-"]]


def test_codebook_projector_errors():
    class Nothing:
        pass

    with pytest.raises(ValueError, match=r"one entry per code \(2\), got shape \(3,\)"):
        log_codebook_projector(Nothing(), np.eye(2), step=0, usage_counts=[1, 2, 3])
    with pytest.raises(ValueError, match=r"2-D \[K, D\]"):
        log_codebook_projector(Nothing(), np.ones(3), step=0, usage_counts=[1, 2, 3])
    with pytest.raises(ValueError, match="both messages and meanings"):
        log_codebook_projector(
            Nothing(), np.eye(2), step=0, usage_counts=[1, 1], messages=[[0]]
        )
    with pytest.raises(ValueError, match="negative value"):
        log_codebook_projector(Nothing(), np.eye(2), step=0, usage_counts=[1, -1])


def test_single_writers_tags(tmp_path, batch):
    messages, meanings = batch
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        log_symbol_histogram(writer, messages, step=0, vocab_size=VOCAB, tag="h")
        log_rank_frequency(writer, [5], step=0, tag="rf_one_type")  # no fit drawn
        log_symbol_meaning_heatmap(
            writer, messages, meanings[:, 0], step=0, vocab_size=VOCAB, tag="hm"
        )
    tags = _read(tmp_path).Tags()
    assert tags["histograms"] == ["h"]
    assert set(tags["images"]) == {"rf_one_type", "hm"}


def test_writers_validate_messages(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        with pytest.raises(ValueError, match="symbol id 7 >= vocab_size=3"):
            log_symbol_histogram(writer, [[7]], step=0, vocab_size=3)
        with pytest.raises(ValueError, match="meanings has 1 rows but there are 2"):
            log_symbol_meaning_heatmap(writer, [[0], [1]], [0], step=0, vocab_size=2)


def test_module_import_does_not_import_pyplot():
    import subprocess

    code = "import sys, analysis.tensorboard; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
