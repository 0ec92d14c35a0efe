"""analysis.tensorboard: write with a real SummaryWriter, read the events back with
TensorBoard's own reader (tags, kinds, descriptions, steps, image sizes)."""

import dataclasses
import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

import analysis.tensorboard as tb  # noqa: E402
from analysis.language import MessageReport  # noqa: E402
from analysis.tensorboard import (  # noqa: E402
    NOT_CHARTED,
    TAGS,
    TagWriter,
    describe,
    log_codebook_projector,
    log_config,
    log_rank_frequency,
    log_symbol_histogram,
    log_symbol_views,
)

VOCAB = 6
PLUGIN = {
    "scalar": "scalars",
    "image": "images",
    "text": "text",
    "histogram": "histograms",
}


@pytest.fixture
def batch():
    meanings = np.array(list(itertools.product(range(3), repeat=2)) * 4)
    messages = np.stack([meanings[:, 0], meanings[:, 1] + 3], axis=1)
    return messages, meanings


def _metadata_files(logdir):
    return sorted(Path(logdir).rglob("metadata.tsv"))


def test_every_view_is_written_with_its_description(tmp_path, batch, read_events):
    messages, meanings = batch
    codebook = np.random.default_rng(0).normal(size=(VOCAB, 4))
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        out = TagWriter(writer)
        for step in (3, 7):
            report = log_symbol_views(
                out,
                step=step,
                messages=messages,
                meanings=meanings,
                vocab_size=VOCAB,
                codebook=codebook,
            )
    events = read_events(tmp_path)
    expected = {
        "symbols/usage",
        "symbols/rank_frequency_symbols",
        "symbols/rank_frequency_messages",
        "symbols/attribute_given_symbol/position_0",
        "symbols/attribute_given_symbol/position_1",
        "symbols/position_information",
        "symbols/messages",
        "symbols/symbol_meanings",
    }
    skipped = {name for name, _ in NOT_CHARTED}
    expected |= {
        f"symbols/{k}" for k in report.scalars() if k.split("/")[0] not in skipped
    }
    assert set(events) == expected
    for tag, (plugin, description, steps) in events.items():
        entry = describe(tag)
        assert plugin == PLUGIN[entry.kind], tag
        assert description and description == entry.description, tag
        assert steps == [3, 7], tag  # each view once per step
    assert not any(f"symbols/{name}" in events for name in skipped)
    assert "symbols/attribute_mi_bits/1" in events


def test_scalar_values_and_the_position_code(tmp_path, batch):
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator,
    )
    from tensorboard.util import tensor_util

    messages, meanings = batch
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        report = log_symbol_views(
            writer, step=5, messages=messages, meanings=meanings, vocab_size=VOCAB
        )
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    (posdis,) = acc.Tensors("symbols/posdis")
    assert posdis.step == 5
    assert tensor_util.make_ndarray(posdis.tensor_proto) == pytest.approx(
        report.posdis, rel=1e-6
    )
    (hist,) = acc.Tensors("symbols/usage")
    buckets = tensor_util.make_ndarray(hist.tensor_proto)
    # one bucket per symbol id: the position code uses every symbol 12 times
    np.testing.assert_array_equal(buckets[:, 0] + 0.5, np.arange(VOCAB))
    np.testing.assert_array_equal(buckets[:, 2], np.full(VOCAB, 12))
    (image,) = acc.Tensors("symbols/attribute_given_symbol/position_0")
    width, height = (int(v) for v in image.tensor_proto.string_val[:2])
    assert 300 <= width <= 400 and height > 100  # fits an image card unscaled
    (text,) = acc.Tensors("symbols/messages")
    body = text.tensor_proto.string_val[0].decode()
    assert "| # | message |" in body and "36 messages" in body


def test_symbol_meanings_text_names_the_planted_code(tmp_path, batch):
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator,
    )

    messages, meanings = batch
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        tb.log_message_tables(writer, messages, meanings, step=0)
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    body = acc.Tensors("symbols/symbol_meanings")[0].tensor_proto.string_val[0]
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in body.decode().splitlines()
        if re.match(r"\| \d+ \|", line)
    }
    # symbol 4 is attribute 1 = 1 exactly; attribute 0 is uniform given it
    uses, where, attr0, attr1 = rows["4"]
    assert uses == "12" and where == "0% / 100%"
    assert attr1 == "**1 (1.00)**" and attr0 == "0 (0.33)"


def test_projector_metadata_per_symbol(tmp_path, batch):
    messages, meanings = batch
    codebook = np.random.default_rng(0).normal(size=(VOCAB + 1, 4))
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        log_codebook_projector(
            writer,
            codebook,
            step=1,
            usage_counts=np.r_[np.bincount(messages.ravel()), 0],
            messages=messages,
            meanings=meanings,
        )
    (metadata,) = _metadata_files(tmp_path)
    lines = [row.split("\t") for row in metadata.read_text().splitlines()]
    assert lines[0] == [
        "label",
        "symbol",
        "uses",
        "attr0",
        "P(attr0)",
        "attr1",
        "P(attr1)",
    ]
    by_symbol = {row[1]: row for row in lines[1:]}
    assert by_symbol["1"] == ["s1 a0=1", "1", "12", "1", "1.00", "0", "0.33"]
    assert by_symbol["6"] == ["s6", "6", "0", "-", "-", "-", "-"]  # never used
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert config.count("tensor_name") == 1


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


def test_tag_writer_refuses_undescribed_tags(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        out = TagWriter(writer)
        with pytest.raises(ValueError, match="not in analysis.tensorboard.TAGS"):
            out.scalar("charts/learning_rate", 0.1, 0)
        with pytest.raises(ValueError, match="is a image tag, not a scalar"):
            out.scalar("symbols/position_information", 0.1, 0)
        with pytest.raises(ValueError, match="len\\(counts\\) \\+ 1 edges"):
            out.histogram("symbols/usage", [0, 1], [1, 2], 0)
        with pytest.raises(ValueError, match="symbol id 7 >= vocab_size=3"):
            log_symbol_histogram(out, [[7]], step=0, vocab_size=3)


def test_rank_frequency_single_type_draws_no_fit(tmp_path, read_events):
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        log_rank_frequency(writer, [5], step=0)
        with pytest.raises(ValueError, match="unit must be"):
            log_rank_frequency(writer, [5, 1], step=0, unit="word")
    assert read_events(tmp_path)["symbols/rank_frequency_symbols"][2] == [0]


def test_rank_frequency_legend_reports_the_fitted_law():
    from analysis.symbols import zipf_fit

    counts = np.round(1000 / np.arange(1, 30) ** 1.3)
    fig = tb.rank_frequency_figure(counts, unit="symbol", alphabet_size=64)
    with pytest.warns(UserWarning, match="29 of 64 types observed"):
        fit = zipf_fit(counts, alphabet_size=64)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "observed: 29 symbols"
    assert legend[1].startswith(f"Zipf fit: s = {fit.s:.2f} ± {fit.stderr:.2f}")
    assert "fitted on the 29 seen of 64" in legend[1]
    assert fig.axes[0].get_title() == "Single symbols: rank–frequency"


def test_config_text_and_hparams(tmp_path, read_events):
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        flat = log_config(
            writer,
            {"seeds": [0, 1], "train": {"ppo": {"lr": 0.003}, "env": "x|y"}},
            metrics=("eval/success",),
        )
        with pytest.raises(ValueError, match="not in analysis.tensorboard.TAGS"):
            log_config(writer, {}, metrics=("charts/episodes",))
    assert flat == {"seeds": [0, 1], "train.ppo.lr": 0.003, "train.env": "x|y"}
    events = read_events(tmp_path)
    plugin, description, steps = events["config"]
    assert plugin == "text" and steps == [0] and description
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(events)


def test_every_tag_has_a_description_and_every_report_field_a_decision():
    patterns = [t.pattern for t in TAGS]
    assert len(patterns) == len(set(patterns))
    for tag in TAGS:
        assert len(tag.description) > 40, tag.pattern
        assert tag.kind in ("scalar", "histogram", "image", "text", "projector")
    charted = {
        t.pattern.removeprefix("symbols/").split("/")[0]
        for t in TAGS
        if t.pattern.startswith("symbols/") and t.kind == "scalar"
    }
    skipped = {name for name, _ in NOT_CHARTED}
    fields = {f.name for f in dataclasses.fields(MessageReport)}
    assert charted | skipped == fields and not charted & skipped


def test_readme_lists_every_tag():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert tb.tag_table_markdown() in readme


def test_module_import_does_not_import_pyplot():
    code = "import sys, analysis.tensorboard; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
