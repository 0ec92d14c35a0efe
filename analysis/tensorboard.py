"""TensorBoard views of emergent symbols, and the one table of TensorBoard tags.

A thin reporting layer: the numbers come from :mod:`analysis.symbols`,
:mod:`analysis.language` and :mod:`analysis.views`; this module only draws and
logs them. Every writer takes a ``torch.utils.tensorboard.SummaryWriter`` (or an
object with the methods it uses).

Figures are built on matplotlib's Agg canvas (``matplotlib.figure.Figure``),
imported lazily inside the functions, so importing this module does not import
matplotlib and never changes the global pyplot backend. They are sized for
TensorBoard's image cards (about 360 px wide) with 9-point text.

Tags
----
:data:`TAGS` is the table of every tag a run writes, with the description
TensorBoard shows (the ⓘ of a chart in the Scalars tab; the summary metadata of
the tag). :class:`TagWriter` refuses a tag that is not in it, so no view goes
undescribed. ``<agent>`` is an agent (RLlib: a module) name, ``<attribute>``
an attribute index, ``<position>`` a message position.

======================================  =========  ================================
tag                                     kind       what
======================================  =========  ================================
``train/success``, ``train/return``     scalar     training episodes (sampled
                                                   actions), every iteration
``train/symbol_perplexity``,            scalar     symbols sampled in the
``train/live_symbols``                             iteration's rollout
``train/learning_rate``,                scalar     only when a schedule changes
``train/entropy_coef``                             them
``eval/success``, ``eval/return``       scalar     greedy evaluations over the run
``losses/total``,                       scalar     PPO parts and the channel's
``losses/<agent>/<part>``                          auxiliary losses it has
``perf/iteration_s``,                   scalar     timings
``perf/steps_per_s``
``symbols/<metric>``                    scalar     language metrics of the greedy
                                                   view sample (and chance floors)
``symbols/usage``                       histogram  symbol ids of the view sample
``symbols/rank_frequency_symbols``,     image      rank–frequency with the fitted
``symbols/rank_frequency_messages``                Zipf law
``symbols/attribute_given_symbol/       image      P(attribute value | symbol) at
position_<position>``                              one position
``symbols/position_information``        image      I(position; attribute) / H
``symbols/messages``,                   text       frequent messages, example
``symbols/symbol_meanings``                        meanings, what each symbol means
``symbols/codebook``                    projector  codebook with per-symbol meaning
``config``                              text       the run's configuration (also in
                                                   the HParams tab)
======================================  =========  ================================

``python -c "import analysis.tensorboard as t; print(t.tag_table_markdown())"``
prints the full table with every description (it is in the README).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from analysis.language import MessageReport, message_report
from analysis.symbols import symbol_counts, zipf_fit
from analysis.validation import (
    check_counts,
    check_meanings,
    check_messages,
    check_positive_int,
    to_array,
)
from analysis.views import (
    AttributeGivenSymbol,
    MessageTable,
    PositionAttributeInformation,
    attribute_given_symbol,
    message_table,
    position_attribute_information,
)

__all__ = [
    "NOT_CHARTED",
    "TAGS",
    "TagWriter",
    "Tag",
    "describe",
    "attribute_heatmap_figure",
    "log_attribute_heatmaps",
    "log_chance_layout",
    "log_codebook_projector",
    "log_config",
    "log_message_tables",
    "log_position_information",
    "log_rank_frequency",
    "log_symbol_histogram",
    "log_symbol_views",
    "position_information_figure",
    "rank_frequency_figure",
    "tag_table_markdown",
]

Kind = Literal["scalar", "histogram", "image", "text", "projector"]


@dataclass(frozen=True)
class Tag:
    """One TensorBoard tag (or family of tags) a run writes.

    Attributes
    ----------
    pattern : str
        The tag; ``<name>`` stands for one path component (an agent, an
        attribute index, a position).
    kind : {"scalar", "histogram", "image", "text", "projector"}
    description : str
        What it shows, in Markdown (TensorBoard renders it).
    summary_key : str or None
        The ``summary.json`` key that holds the same quantity at the end of the
        run, if any.
    """

    pattern: str
    kind: Kind
    description: str
    summary_key: str | None = None

    def matches(self, tag: str) -> bool:
        """Whether ``tag`` is this pattern with its placeholders filled in."""
        parts = re.split(r"<[a-z_]+>", self.pattern)
        regex = "[^/]+".join(re.escape(p) for p in parts)
        return re.fullmatch(regex, tag) is not None


_VIEW = (
    "Measured on the greedy view sample: the messages of the periodic greedy "
    "evaluation (`--eval-batch` episodes, a fixed env seed) at `--views` steps spread "
    "over the run; the last view is the final held-out evaluation "
    "(`--eval-episodes`, another seed)."
)
_CHANCE = (
    "Chance floor of `{name}`: its mean over 10 random re-pairings of the same "
    "messages with the same meanings. The metric means something only above it."
)

TAGS: tuple[Tag, ...] = (
    # ---------------------------------------------------------------- train/
    Tag(
        "train/success",
        "scalar",
        "Training success: the fraction of training episodes that ended during "
        "this iteration whose task succeeded. Actions are *sampled* (exploring), "
        "so it is below `eval/success`.",
    ),
    Tag(
        "train/return",
        "scalar",
        "Mean return of the training episodes that ended during this iteration, "
        "averaged over agents (sampled actions).",
    ),
    Tag(
        "train/symbol_perplexity",
        "scalar",
        "Symbols the speakers *sampled* in this iteration's rollout: the "
        "perplexity 2^H of their frequencies, pooled over message positions and "
        "averaged over speakers (the effective number of symbols in use; at most "
        "the vocabulary size). `symbols/symbol_perplexity` is the same quantity on "
        "the greedy view sample.",
        "codebook_perplexity",
    ),
    Tag(
        "train/live_symbols",
        "scalar",
        "Symbols sampled at least once in this iteration's rollout (pooled over "
        "positions, averaged over speakers). A drop means the codebook collapses.",
        "live_codes",
    ),
    Tag(
        "train/learning_rate",
        "scalar",
        "Adam learning rate of this update. Written only when a schedule changes "
        "it (`--anneal-lr`, `--lr-decay` < 1); a constant one is in the `config` "
        "text and the HParams tab.",
    ),
    Tag(
        "train/entropy_coef",
        "scalar",
        "Entropy-bonus weight of this update. Written only when `--ent-decay` < 1 "
        "changes it.",
    ),
    # ----------------------------------------------------------------- eval/
    Tag(
        "eval/success",
        "scalar",
        "Greedy success: the fraction of evaluation episodes (greedy policies) "
        "that succeeded, at `--eval-points` steps spread over the run, each on "
        "`--eval-batch` episodes of one fixed env seed. The last point is the "
        "final held-out evaluation (`--eval-episodes`, another seed): the "
        "`success` of summary.json.",
        "success",
    ),
    Tag(
        "eval/return",
        "scalar",
        "Mean return of the greedy evaluation episodes, averaged over agents "
        "(same points as `eval/success`; the last is summary.json's "
        "`mean_return`).",
        "mean_return",
    ),
    # --------------------------------------------------------------- losses/
    Tag(
        "losses/total",
        "scalar",
        "The loss minimised in this iteration's update: the sum over agents of "
        "`losses/<agent>/total`.",
    ),
    Tag(
        "losses/<agent>/total",
        "scalar",
        "The agent's loss: `policy_loss + vf_coef·value_loss − ent_coef·entropy + "
        "aux_coef·aux_total`.",
    ),
    Tag(
        "losses/<agent>/policy_loss",
        "scalar",
        "PPO clipped-surrogate policy loss (minus the clipped advantage-weighted "
        "probability ratio).",
    ),
    Tag(
        "losses/<agent>/value_loss",
        "scalar",
        "Value-function regression loss (clipped around the old values with "
        "`--clip-vloss`).",
    ),
    Tag(
        "losses/<agent>/entropy",
        "scalar",
        "Mean entropy (nats) of the agent's action distribution: how much it "
        "still explores.",
    ),
    Tag(
        "losses/<agent>/approx_kl",
        "scalar",
        "Approximate KL divergence between the policy before and after the "
        "update; large values mean too large steps.",
    ),
    Tag(
        "losses/<agent>/clipfrac",
        "scalar",
        "Fraction of samples whose probability ratio was clipped by PPO.",
    ),
    Tag(
        "losses/<agent>/aux_total",
        "scalar",
        "The channel's auxiliary loss (weighted sum of its `aux_*` parts), added "
        "with weight `aux_coef`. Charted only for channels that have one.",
    ),
    Tag(
        "losses/<agent>/aux_reconstruction",
        "scalar",
        "VQ-VAE reconstruction: MSE of the decoder that rebuilds the speaker's "
        "observation from its codes (vq/rvq channels with a decoder).",
    ),
    Tag(
        "losses/<agent>/aux_commitment",
        "scalar",
        "VQ commitment loss `mean ||z_e − sg(e)||²`: distance of the encoder "
        "output to its nearest codes (vq/rvq).",
    ),
    Tag(
        "losses/<agent>/aux_codebook",
        "scalar",
        "VQ codebook loss `mean ||sg(z_e) − e||²`, only when the codebook is "
        "learned by gradient (`ema_update=False`).",
    ),
    Tag(
        "losses/<agent>/aux_signalling",
        "scalar",
        "Positive-signalling loss of Eccles et al. 2019 (categorical channel; in "
        "the objective with weight `positive_signalling`).",
    ),
    # ----------------------------------------------------------------- perf/
    Tag(
        "perf/iteration_s",
        "scalar",
        "Wall time of this training iteration (rollout and update), seconds.",
    ),
    Tag(
        "perf/steps_per_s",
        "scalar",
        "Environment steps per second since this session started (a resumed run "
        "counts from the resume).",
        "steps_per_s",
    ),
    # -------------------------------------------------------------- symbols/
    Tag(
        "symbols/distinct_messages",
        "scalar",
        "Distinct whole messages in the greedy view sample. " + _VIEW,
        "distinct_messages",
    ),
    Tag(
        "symbols/symbol_perplexity",
        "scalar",
        "Perplexity 2^H of the symbol tokens (all positions pooled) in the greedy "
        "view sample: the effective number of symbols used. " + _VIEW,
        "symbol_perplexity",
    ),
    Tag(
        "symbols/message_perplexity",
        "scalar",
        "Perplexity 2^H of the whole messages in the greedy view sample: the "
        "effective number of messages used. " + _VIEW,
        "message_perplexity",
    ),
    Tag(
        "symbols/message_meaning_mi_bits",
        "scalar",
        "The headline: mutual information between whole messages and whole "
        "meanings, in bits (leave-one-out jackknife estimate of a quantity that is "
        "at most the message and the meaning entropy; the estimate corrects the "
        "downward bias of the plug-in, so it can exceed the plug-in entropies, "
        "which are biased low too). " + _VIEW,
        "message_meaning_mi_bits",
    ),
    Tag(
        "symbols/mi_null_p95_bits",
        "scalar",
        "Significance threshold of `message_meaning_mi_bits`: the 95th "
        "percentile of the plug-in MI over 200 random re-pairings of messages "
        "with meanings. An estimate below it is not distinguishable from no "
        "information (never subtracted as a correction).",
        "mi_null_p95_bits",
    ),
    Tag(
        "symbols/mi_p_value",
        "scalar",
        "Permutation p-value of `message_meaning_mi_bits` > 0 (200 re-pairings; "
        "its smallest value is 1/201).",
        "mi_p_value",
    ),
    Tag(
        "symbols/attribute_mi_bits/<attribute>",
        "scalar",
        "Mutual information (bits) between whole messages and one meaning "
        "attribute (index in the tag): how much the messages say about it. At "
        "most that attribute's entropy. " + _VIEW,
        "attribute_mi_bits",
    ),
    Tag(
        "symbols/topsim",
        "scalar",
        "Topographic similarity: Spearman correlation between meaning distances "
        "(Hamming) and message distances (edit) over pairs, in [-1, 1]. " + _VIEW,
        "topsim",
    ),
    Tag(
        "symbols/topsim_chance",
        "scalar",
        _CHANCE.format(name="topsim"),
        "topsim_chance",
    ),
    Tag(
        "symbols/posdis",
        "scalar",
        "Positional disentanglement (Chaabouni et al. 2020), in [0, 1]: 1 when "
        "each message position encodes exactly one attribute. " + _VIEW,
        "posdis",
    ),
    Tag(
        "symbols/posdis_chance",
        "scalar",
        _CHANCE.format(name="posdis"),
        "posdis_chance",
    ),
    Tag(
        "symbols/bosdis",
        "scalar",
        "Bag-of-symbols disentanglement (Chaabouni et al. 2020), in [0, 1]: 1 "
        "when each symbol's count encodes exactly one attribute, wherever it "
        "stands. " + _VIEW,
        "bosdis",
    ),
    Tag(
        "symbols/bosdis_chance",
        "scalar",
        _CHANCE.format(name="bosdis"),
        "bosdis_chance",
    ),
    Tag(
        "symbols/context_independence",
        "scalar",
        "Context independence (Bogin et al. 2018), in [0, 1]: whether a concept "
        "maps to the same symbol in every context; 1/(attributes × positions) "
        "for a perfect positional code. " + _VIEW,
        "context_independence",
    ),
    Tag(
        "symbols/context_independence_chance",
        "scalar",
        _CHANCE.format(name="context_independence"),
        "context_independence_chance",
    ),
    Tag(
        "symbols/usage",
        "histogram",
        "Symbol ids in the greedy view sample, all positions pooled (Histograms "
        "and Distributions tabs: how usage spreads over the vocabulary as "
        "training goes on).",
    ),
    Tag(
        "symbols/rank_frequency_symbols",
        "image",
        "Rank–frequency of single symbols (tokens at every position) in the view "
        "sample, log–log, with the fitted truncated Zipf law (exponent ± "
        "standard error in the legend).",
    ),
    Tag(
        "symbols/rank_frequency_messages",
        "image",
        "Rank–frequency of whole messages in the view sample, log–log, with the "
        "fitted truncated Zipf law over the observed messages.",
    ),
    Tag(
        "symbols/attribute_given_symbol/position_<position>",
        "image",
        "What the symbols at one message position mean. Columns: the symbols "
        "used there (id over its % of uses, most used first); rows: the "
        "attributes. A cell names the attribute's most likely value given the "
        "symbol; its colour is that value's probability P(value | symbol): "
        "bright = the symbol determines the attribute, dark = it says little "
        "about it. The same numbers, pooled over positions, are in the "
        "`symbols/symbol_meanings` text and the projector.",
    ),
    Tag(
        "symbols/position_information",
        "image",
        "Which position encodes which attribute: I(position; attribute) / "
        "H(attribute), from 0 (independent) to 1 (the position determines the "
        "attribute).",
    ),
    Tag(
        "symbols/messages",
        "text",
        "The most frequent messages with the meanings they were sent for, and "
        "example meanings with the messages that express them.",
    ),
    Tag(
        "symbols/symbol_meanings",
        "text",
        "Per symbol: how often it is used, where, and the most likely value of "
        "each attribute given it, with its probability.",
    ),
    Tag(
        "symbols/codebook",
        "projector",
        "The speaker's codebook (one point per symbol) with metadata: usage in "
        "the view sample and, per attribute, the most likely value given the "
        "symbol and its probability (color or label by them).",
    ),
    Tag(
        "config",
        "text",
        "The run's whole configuration (fresh runs, step 0); the same values are "
        "the hyperparameters of the HParams tab.",
    ),
)
"""Every tag a run writes, with its description (the one table)."""

NOT_CHARTED: tuple[tuple[str, str], ...] = (
    ("n_messages", "the view sample size; stated in the symbols/messages text"),
    ("symbol_entropy_bits", "= log2 symbol_perplexity (one chart per quantity)"),
    ("message_entropy_bits", "= log2 message_perplexity (one chart per quantity)"),
    ("mi_plugin_bits", "another estimator of message_meaning_mi_bits"),
    ("mi_null_mean_bits", "mi_null_p95_bits is the threshold to read"),
    ("mi_undersampled", "a flag; stated in the symbols/messages text"),
    ("mi_n_joint_types", "a diagnostic of the MI estimate (summary.json)"),
    ("attribute_mi_sum_bits", "the sum of the attribute_mi_bits charts"),
    ("degenerate", "a flag; stated in the symbols/messages text"),
)
"""Fields of :class:`~analysis.language.MessageReport` that get no chart (they
stay in ``summary.json``), with the reason."""


def describe(tag: str) -> Tag:
    """The :class:`Tag` of ``tag`` in :data:`TAGS`.

    Raises
    ------
    ValueError
        When no entry matches.

    Examples
    --------
    >>> describe("losses/speaker/approx_kl").pattern
    'losses/<agent>/approx_kl'
    """
    for entry in TAGS:
        if entry.matches(tag):
            return entry
    raise ValueError(
        f"TensorBoard tag {tag!r} is not in analysis.tensorboard.TAGS; add it there "
        "with its description"
    )


def tag_table_markdown() -> str:
    """:data:`TAGS` as a Markdown table (tag, kind, summary.json key, description).

    Examples
    --------
    >>> tag_table_markdown().splitlines()[0]
    '| tag | kind | summary.json | description |'
    """
    lines = ["| tag | kind | summary.json | description |", "|---|---|---|---|"]
    for t in TAGS:
        key = f"`{t.summary_key}`" if t.summary_key else ""
        text = t.description.replace("|", "\\|")
        lines.append(f"| `{t.pattern}` | {t.kind} | {key} | {text} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ writing
def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


class TagWriter:
    """Writes the tags of :data:`TAGS`, each with its description.

    Scalars, text, images and histograms are written as TensorBoard summaries
    whose metadata carries the tag's description (TensorBoard keeps the metadata
    of a tag's first event, so only the first event through this writer carries
    it). A tag that is not in :data:`TAGS`, or of another kind, is a
    ``ValueError``: no view goes undescribed.

    Parameters
    ----------
    writer : torch.utils.tensorboard.SummaryWriter
        The run's writer (its event file; the projector also uses it).
    """

    def __init__(self, writer) -> None:
        self.writer = writer
        self._described: set[str] = set()

    def _write(self, tag: str, kind: Kind, tensor, step: int) -> None:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.histogram import metadata as histogram_metadata
        from tensorboard.plugins.image import metadata as image_metadata
        from tensorboard.plugins.scalar import metadata as scalar_metadata
        from tensorboard.plugins.text import metadata as text_metadata

        entry = describe(tag)
        if entry.kind != kind:
            raise ValueError(f"tag {tag!r} is a {entry.kind} tag, not a {kind}")
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        if tag not in self._described:
            make = {
                "scalar": scalar_metadata,
                "text": text_metadata,
                "image": image_metadata,
                "histogram": histogram_metadata,
            }[kind].create_summary_metadata
            value.metadata.CopyFrom(
                make(display_name=None, description=entry.description)
            )
            self._described.add(tag)
        summary = summary_pb2.Summary(value=[value])
        self.writer._get_file_writer().add_summary(summary, int(step))

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Log one scalar (stored as float32, as TensorBoard's own writers do)."""
        from tensorboard.util import tensor_util

        tensor = tensor_util.make_tensor_proto(np.float32(value))
        self._write(tag, "scalar", tensor, step)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Log several scalars at one step."""
        for tag, value in values.items():
            self.scalar(tag, value, step)

    def text(self, tag: str, markdown: str, step: int) -> None:
        """Log a Markdown text (the Text tab renders tables)."""
        from tensorboard.util import tensor_util

        if not isinstance(markdown, str):
            raise TypeError(f"text must be a str, got {type(markdown).__name__}")
        tensor = tensor_util.make_tensor_proto(markdown.encode(), dtype=np.object_)
        self._write(tag, "text", tensor, step)

    def figure(self, tag: str, figure, step: int) -> None:
        """Log a matplotlib figure as a PNG image (at the figure's size and dpi)."""
        import io

        from tensorboard.util import tensor_util

        buf = io.BytesIO()
        figure.savefig(buf, format="png", dpi=figure.dpi)
        png = buf.getvalue()
        width, height = _png_size(png)
        content = np.array([str(width).encode(), str(height).encode(), png], object)
        tensor = tensor_util.make_tensor_proto(content, dtype=np.object_)
        self._write(tag, "image", tensor, step)

    def histogram(self, tag: str, edges, counts, step: int) -> None:
        """Log a histogram with the given bucket ``edges`` (``len(counts) + 1``)."""
        from tensorboard.util import tensor_util

        edges = np.asarray(edges, dtype=np.float64)
        counts = np.asarray(counts, dtype=np.float64)
        if edges.shape != (counts.size + 1,) or counts.ndim != 1:
            raise ValueError(
                f"histogram needs len(counts) + 1 edges, got {edges.shape} edges "
                f"for {counts.shape} counts"
            )
        buckets = np.stack([edges[:-1], edges[1:], counts], axis=1)
        tensor = tensor_util.make_tensor_proto(buckets, dtype=np.float64)
        self._write(tag, "histogram", tensor, step)


def _tag_writer(writer) -> TagWriter:
    return writer if isinstance(writer, TagWriter) else TagWriter(writer)


# ------------------------------------------------------------------ figures
# TensorBoard's Time Series tab (its default) fits an image into a card of about
# 350 x 210 px, its Images tab into about 345 px of width: figures are 352 x 208 px
# (4.4 x 2.6 in at 80 dpi) where they can be, with text of 9-12 px.
_DPI = 80
_TITLE, _LABEL, _TICK = 10, 9, 9  # points (at 80 dpi: 11, 10, 10 px)


def _figure(width: float, height: float, ncols: int = 1):
    """An Agg-backed figure and its axes, without touching pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _value(v: Any) -> str:
    """An attribute value as text (integral floats without the ``.0``)."""
    item = v.item() if hasattr(v, "item") else v
    if isinstance(item, float):
        return str(int(item)) if item.is_integer() else f"{item:g}"
    return str(item)


def log_symbol_histogram(
    writer, messages, *, step: int, vocab_size: int, tag: str = "symbols/usage"
) -> None:
    """Log the distribution of symbol ids (all positions) as a histogram.

    One bucket per symbol id ``0..vocab_size-1`` (edges at half-integers).

    Parameters
    ----------
    writer : TagWriter or SummaryWriter
    messages : array-like of int, shape (n, message_length)
    step : int
    vocab_size : int
    tag : str
    """
    msgs = check_messages(messages, vocab_size=vocab_size)
    counts = np.bincount(msgs.ravel(), minlength=vocab_size)
    edges = np.arange(vocab_size + 1, dtype=np.float64) - 0.5
    _tag_writer(writer).histogram(tag, edges, counts, step)


def rank_frequency_figure(
    counts,
    *,
    unit: Literal["symbol", "message"] = "symbol",
    alphabet_size: int | None = None,
):
    """A log–log rank–frequency figure with the fitted truncated Zipf law.

    The title says what was counted (single symbols or whole messages); the
    legend gives the number of observed types, the exponent ``s`` ± its standard
    error and, with ``alphabet_size``, how many of the possible types were seen
    (the law is fitted over those only: :func:`analysis.symbols.zipf_fit`). With
    fewer than 2 observed types only the data are drawn (no fit exists).

    Parameters
    ----------
    counts : array-like, shape (n_types,)
        Occurrences of each type (symbol or message).
    unit : {"symbol", "message"}
        What a type is.
    alphabet_size : int, optional
        Possible types (``vocab_size``, or ``vocab_size ** message_length``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = rank_frequency_figure([50, 20, 10, 5], unit="message")
    >>> fig.axes[0].get_title()
    'Whole messages: rank–frequency'
    >>> fig.axes[0].get_legend().get_texts()[1].get_text()
    'Zipf fit: s = 1.51 ± 0.22'
    """
    if unit not in ("symbol", "message"):
        raise ValueError(f"unit must be 'symbol' or 'message', got {unit!r}")
    c = check_counts(counts)
    c = np.sort(c[c > 0])[::-1]
    ranks, freqs = np.arange(1, c.size + 1), c / c.sum()
    from matplotlib.ticker import NullFormatter

    noun = "symbols" if unit == "symbol" else "messages"
    fig, (ax,) = _figure(4.4, 2.6)
    ax.loglog(ranks, freqs, "o", ms=4, label=f"observed: {c.size:,} {noun}")
    if c.size >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # said in the legend
            fit = zipf_fit(c, alphabet_size=alphabet_size)
        law = ranks.astype(np.float64) ** -fit.s
        label = f"Zipf fit: s = {fit.s:.2f} ± {fit.stderr:.2f}"
        if alphabet_size is not None and fit.n_types < alphabet_size:
            label += f"\n(fitted on the {fit.n_types:,} seen of {alphabet_size:,})"
        ax.loglog(ranks, law / law.sum(), "-", lw=2, label=label)
    title = "Single symbols" if unit == "symbol" else "Whole messages"
    ax.set_title(f"{title}: rank–frequency", fontsize=_TITLE)
    ax.set_xlabel(
        "rank of the symbol (all positions)"
        if unit == "symbol"
        else "rank of the message",
        fontsize=_LABEL,
    )
    ax.set_ylabel("relative frequency", fontsize=_LABEL)
    ax.tick_params(labelsize=_TICK)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=_TICK, loc="lower left")
    fig.tight_layout()
    return fig


def log_rank_frequency(
    writer,
    counts,
    *,
    step: int,
    unit: Literal["symbol", "message"] = "symbol",
    alphabet_size: int | None = None,
    tag: str | None = None,
) -> None:
    """Log :func:`rank_frequency_figure` as ``symbols/rank_frequency_symbols`` or
    ``symbols/rank_frequency_messages`` (or ``tag``)."""
    fig = rank_frequency_figure(counts, unit=unit, alphabet_size=alphabet_size)
    noun = "symbols" if unit == "symbol" else "messages"
    _tag_writer(writer).figure(tag or f"symbols/rank_frequency_{noun}", fig, step)


def attribute_heatmap_figure(table: AttributeGivenSymbol, *, max_symbols: int = 16):
    """What each symbol of one :class:`~analysis.views.AttributeGivenSymbol` table
    means, compact enough for a TensorBoard card (about 350 × 210 px).

    Columns: the symbols (most used first, at most ``max_symbols``), labelled
    with their id over their percentage of the uses; rows: the attributes. Each
    cell names the attribute's most likely value given the symbol; its colour is that
    value's probability ``P(value | symbol)`` on a fixed 0..1 scale (bright: the
    symbol determines the attribute; dark: it says little about it).

    Examples
    --------
    >>> from analysis.views import attribute_given_symbol
    >>> table = attribute_given_symbol([[0], [1]], [[0, 5], [1, 5]], position=0)
    >>> fig = attribute_heatmap_figure(table)
    >>> [t.get_text() for t in fig.axes[0].texts]  # symbol 0: attr0 = 0, attr1 = 5
    ['0', '1', '5', '5']
    """
    max_symbols = check_positive_int(max_symbols, "max_symbols")
    cols = min(max_symbols, table.symbols.size)
    values, probs = table.most_likely()
    values, probs = values[:cols].T, probs[:cols].T  # [n_attributes, cols]
    n_attr = probs.shape[0]
    fig, (ax,) = _figure(
        min(max(4.4, 1.2 + 0.2 * cols), 12.0), min(max(2.6, 1.5 + 0.25 * n_attr), 12.0)
    )
    image = ax.imshow(probs, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
    for (i, j), v in np.ndenumerate(values):
        colour = "black" if probs[i, j] > 0.6 else "white"
        ax.text(j, i, _value(v), ha="center", va="center", fontsize=_TICK, color=colour)
    share = table.counts[:cols] / max(1, int(table.counts.sum()))
    ax.set_xticks(
        np.arange(cols),
        [f"{s}\n{100 * f:.0f}" for s, f in zip(table.symbols[:cols], share)],
    )
    ax.set_yticks(np.arange(n_attr), [f"attr {a}" for a in range(n_attr)])
    ax.tick_params(labelsize=_TICK, length=0)
    ax.set_xlabel(
        f"symbol id / % of uses, most used first ({table.n_messages:,} messages)",
        fontsize=_LABEL,
    )
    where = "any position" if table.position is None else f"position {table.position}"
    shown = f", top {cols} of {table.symbols.size}" if cols < table.symbols.size else ""
    ax.set_title(
        f"{where}: likeliest value given the symbol{shown}", fontsize=_TITLE - 1
    )
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.ax.tick_params(labelsize=_TICK - 1)
    bar.set_label("P(value | symbol)", fontsize=_TICK - 1)
    fig.tight_layout(pad=0.4)
    return fig


def log_attribute_heatmaps(
    writer,
    messages,
    meanings,
    *,
    step: int,
    max_symbols: int = 16,
    tag: str = "symbols/attribute_given_symbol",
) -> None:
    """Log one heatmap per message position of P(attribute value | symbol).

    The images are ``<tag>/position_<l>`` (:func:`attribute_heatmap_figure` of
    :func:`analysis.views.attribute_given_symbol` at each position).

    Parameters
    ----------
    writer : TagWriter or SummaryWriter
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
    step : int
    max_symbols : int, default 16
        Most-used symbols shown per position.
    tag : str
    """
    msgs = check_messages(messages)
    mean = check_meanings(meanings, n_samples=msgs.shape[0])
    out = _tag_writer(writer)
    for position in range(msgs.shape[1]):
        table = attribute_given_symbol(msgs, mean, position=position)
        fig = attribute_heatmap_figure(table, max_symbols=max_symbols)
        out.figure(f"{tag}/position_{position}", fig, step)


def position_information_figure(info: PositionAttributeInformation):
    """The position × attribute map of ``I(position; attribute) / H(attribute)``,
    each cell with its value.

    Examples
    --------
    >>> from analysis.views import position_attribute_information
    >>> info = position_attribute_information([[0, 1], [1, 0]] * 20,
    ...                                       [[0, 1], [1, 0]] * 20)
    >>> position_information_figure(info).axes[0].get_title().splitlines()[0]
    'I(position; attribute) / H(attribute)'
    """
    grid = info.normalized
    n_pos, n_attr = grid.shape
    fig, (ax,) = _figure(
        min(max(4.4, 1.9 + 0.6 * n_attr), 12.0), min(max(2.6, 1.5 + 0.4 * n_pos), 12.0)
    )
    image = ax.imshow(
        np.clip(grid, 0, 1), cmap="viridis", vmin=0, vmax=1, aspect="auto"
    )
    for (i, j), v in np.ndenumerate(grid):
        colour = "black" if v > 0.6 else "white"
        ax.text(
            j, i, f"{v:.2f}", ha="center", va="center", fontsize=_LABEL, color=colour
        )
    ax.set_xticks(np.arange(n_attr), [f"attr {j}" for j in range(n_attr)])
    ax.set_yticks(np.arange(n_pos), [f"position {i}" for i in range(n_pos)])
    ax.tick_params(labelsize=_TICK)
    ax.set_title(
        f"I(position; attribute) / H(attribute)\n{info.n_messages:,} messages; "
        "1 = position determines it",
        fontsize=_TITLE,
    )
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
    bar.ax.tick_params(labelsize=_TICK)
    fig.tight_layout()
    return fig


def log_position_information(
    writer, messages, meanings, *, step: int, tag: str = "symbols/position_information"
) -> PositionAttributeInformation:
    """Log :func:`position_information_figure` of
    :func:`analysis.views.position_attribute_information`; returns the numbers."""
    info = position_attribute_information(messages, meanings)
    _tag_writer(writer).figure(tag, position_information_figure(info), step)
    return info


# --------------------------------------------------------------------- text
def _msg(message: tuple[int, ...]) -> str:
    return "`" + " ".join(str(s) for s in message) + "`"


def _meaning(meaning: tuple) -> str:
    return "(" + ", ".join(_value(v) for v in meaning) + ")"


def _messages_markdown(table: MessageTable, report: MessageReport, step: int) -> str:
    flags = []
    if report.degenerate:
        flags.append("**degenerate**: one distinct message or constant meanings")
    if report.mi_undersampled:
        flags.append("the MI estimate is undersampled (few samples per cell)")
    head = (
        f"**Greedy view sample at step {step:,}**: {table.n_messages:,} messages, "
        f"{table.distinct_messages:,} distinct, for {table.distinct_meanings:,} "
        f"distinct meanings. MI(message; meaning) = "
        f"{report.message_meaning_mi_bits:.2f} bits (p = {report.mi_p_value:.3g}; "
        f"95% of random re-pairings give < {report.mi_null_p95_bits:.2f} bits)."
    )
    lines = [head + ("  \nNote: " + "; ".join(flags) + "." if flags else ""), ""]
    lines += [
        "**Most frequent messages** (share of all messages; the meaning each was "
        "most often sent for, and the share of its uses for that meaning)",
        "",
        "| # | message | sent | share | most often for | of its uses | meanings |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, m in enumerate(table.frequent, 1):
        lines.append(
            f"| {i} | {_msg(m.message)} | {m.count:,} | {m.share:.1%} | "
            f"{_meaning(m.top_meaning)} | {m.top_meaning_share:.0%} | "
            f"{m.n_meanings} |"
        )
    lines += [
        "",
        "**Example meanings → messages** (spread over the sorted meanings; the "
        "message most often sent for each, and its share)",
        "",
        "| meaning | message | of its uses | seen | messages used |",
        "|---|---|---|---|---|",
    ]
    for e in table.examples:
        lines.append(
            f"| {_meaning(e.meaning)} | {_msg(e.message)} | {e.share:.0%} | "
            f"{e.count} | {e.n_messages} |"
        )
    return "\n".join(lines)


def _symbols_markdown(msgs: np.ndarray, meanings: np.ndarray) -> str:
    pooled = attribute_given_symbol(msgs, meanings)
    values, probs = pooled.most_likely()
    per_position = np.zeros((pooled.symbols.size, msgs.shape[1]), dtype=np.int64)
    index = {s: i for i, s in enumerate(pooled.symbols.tolist())}
    for pos in range(msgs.shape[1]):
        ids, counts = np.unique(msgs[:, pos], return_counts=True)
        per_position[[index[s] for s in ids.tolist()], pos] = counts
    n_attr = meanings.shape[1]
    lines = [
        f"**What each symbol means** ({pooled.counts.sum():,} occurrences in "
        f"{pooled.n_messages:,} messages): its uses, the share of them at each "
        "message position, and for each attribute the most likely value given "
        "the symbol with P(value | symbol); **bold** when above 0.5.",
        "",
        "| symbol | uses | by position | "
        + " | ".join(f"attr {a}" for a in range(n_attr))
        + " |",
        "|---" * (3 + n_attr) + "|",
    ]
    for i, sym in enumerate(pooled.symbols.tolist()):
        where = " / ".join(f"{c / pooled.counts[i]:.0%}" for c in per_position[i])
        cells = []
        for a in range(n_attr):
            text = f"{_value(values[i, a])} ({probs[i, a]:.2f})"
            cells.append(f"**{text}**" if probs[i, a] > 0.5 else text)
        lines.append(
            f"| {sym} | {pooled.counts[i]:,} | {where} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def log_message_tables(
    writer,
    messages,
    meanings,
    *,
    step: int,
    report: MessageReport | None = None,
    n_rows: int = 10,
) -> MessageTable:
    """Log the text views ``symbols/messages`` and ``symbols/symbol_meanings``.

    ``symbols/messages``: the ``n_rows`` most frequent messages with the meaning
    each was most often sent for, and ``n_rows`` example meanings with their most
    frequent message (:func:`analysis.views.message_table`), under a line with the
    sample size and the message–meaning MI of ``report`` (computed when not
    given). ``symbols/symbol_meanings``: every used symbol with its uses, their
    share per position and the most likely value of each attribute.

    Returns
    -------
    MessageTable
    """
    msgs = check_messages(messages)
    mean = check_meanings(meanings, n_samples=msgs.shape[0])
    if report is None:
        report = message_report(msgs, mean)
    table = message_table(msgs, mean, n_frequent=n_rows, n_examples=n_rows)
    out = _tag_writer(writer)
    out.text("symbols/messages", _messages_markdown(table, report, step), step)
    out.text("symbols/symbol_meanings", _symbols_markdown(msgs, mean), step)
    return table


# ---------------------------------------------------------------- projector
def log_codebook_projector(
    writer,
    codebook,
    *,
    step: int,
    usage_counts,
    meanings=None,
    messages=None,
    tag: str = "symbols/codebook",
) -> None:
    """Log a codebook ``[K, D]`` to the embedding projector with symbol metadata.

    Metadata columns: ``label`` (``s<id>`` followed by the attribute values whose
    probability given the symbol is above 0.5), ``symbol``, ``uses`` (its count),
    and per attribute ``attr<j>`` (the most likely value given the symbol, over
    its occurrences at every position) and ``P(attr<j>)`` (that value's
    probability). Unused symbols, or no ``messages``/``meanings``, give ``-``.

    Parameters
    ----------
    writer : SummaryWriter-like
    codebook : array-like of float, shape (K, D)
    step : int
    usage_counts : array-like, shape (K,)
    meanings : array-like, shape (n,) or (n, n_attributes), optional
    messages : array-like of int, shape (n, message_length), optional
    tag : str

    Examples
    --------
    >>> class Rec:
    ...     def add_embedding(self, mat, metadata=None, metadata_header=None, **kw):
    ...         self.header, self.rows = metadata_header, metadata
    >>> w = Rec()
    >>> log_codebook_projector(w, [[0.0, 1.0], [1.0, 0.0]], step=0,
    ...                        usage_counts=[2, 0], messages=[[0], [0]],
    ...                        meanings=[[3], [3]])
    >>> w.header
    ['label', 'symbol', 'uses', 'attr0', 'P(attr0)']
    >>> w.rows
    [['s0 a0=3', '0', '2', '3', '1.00'], ['s1', '1', '0', '-', '-']]
    """
    book = to_array(codebook, "codebook")
    if book.ndim != 2 or book.shape[0] == 0 or book.shape[1] == 0:
        raise ValueError(f"codebook must be 2-D [K, D] and non-empty, got {book.shape}")
    if not np.issubdtype(book.dtype, np.number) or not np.all(np.isfinite(book)):
        raise ValueError("codebook must be numeric and finite")
    k = book.shape[0]
    usage = to_array(usage_counts, "usage_counts")
    if usage.shape != (k,):
        raise ValueError(
            f"usage_counts must have one entry per code ({k}), got shape {usage.shape}"
        )
    if not np.issubdtype(usage.dtype, np.number):
        raise ValueError(f"usage_counts must be numeric, got dtype {usage.dtype}")
    if usage.any():  # all-zero usage (nothing emitted yet) is allowed
        usage = check_counts(usage)  # finite, non-negative
    if (meanings is None) != (messages is None):
        raise ValueError("give both messages and meanings, or neither")
    n_attr = 0
    best: dict[int, list[tuple[str, float]]] = {}
    if messages is not None:
        msgs = check_messages(messages, vocab_size=k)
        mean = check_meanings(meanings, n_samples=len(msgs))
        n_attr = mean.shape[1]
        table = attribute_given_symbol(msgs, mean)
        values, probs = table.most_likely()
        for i, s in enumerate(table.symbols.tolist()):
            best[s] = [(_value(values[i, a]), probs[i, a]) for a in range(n_attr)]
    header = ["label", "symbol", "uses"]
    for a in range(n_attr):
        header += [f"attr{a}", f"P(attr{a})"]
    rows = []
    for s in range(k):
        cells = best.get(s)
        label = f"s{s}"
        if cells is not None:
            sure = [f"a{a}={v}" for a, (v, p) in enumerate(cells) if p > 0.5]
            label = " ".join([label, *sure])
        row = [label, str(s), f"{usage[s]:g}"]
        for a in range(n_attr):
            row += ["-", "-"] if cells is None else [cells[a][0], f"{cells[a][1]:.2f}"]
        rows.append(row)
    if isinstance(writer, TagWriter):
        writer = writer.writer
    writer.add_embedding(
        book.astype(np.float32),
        metadata=rows,
        metadata_header=header,
        global_step=step,
        tag=tag,
    )


# -------------------------------------------------------------------- config
def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def log_config(
    writer, config: Mapping[str, Any], *, metrics: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Log a run's configuration as the ``config`` text and as HParams.

    Nested mappings are flattened to dotted keys. The text is a Markdown table
    of every key; the HParams tab gets every key whose value is a bool, number
    or string (others as their ``repr``), with ``metrics`` (scalar tags) as its
    metric columns. Written at step 0: call it once, on a fresh run.

    Returns
    -------
    dict
        The flattened configuration.
    """
    from torch.utils.tensorboard.summary import hparams

    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    for tag in metrics:
        describe(tag)  # a metric is a documented tag
    flat = _flat(config)
    lines = ["| option | value |", "|---|---|"]
    lines += [
        "| `{}` | `{}` |".format(
            k,
            (v if isinstance(v, str) else json.dumps(v, default=repr)).replace(
                "|", "\\|"
            ),
        )
        for k, v in flat.items()
    ]
    out = _tag_writer(writer)
    out.text("config", "\n".join(lines), 0)
    hp = {
        k: v if isinstance(v, bool | int | float | str) else repr(v)
        for k, v in flat.items()
    }
    file_writer = out.writer._get_file_writer()
    for summary in hparams(hp, dict.fromkeys(metrics, 0.0)):
        file_writer.add_summary(summary)
    return flat


def log_chance_layout(writer) -> None:
    """Lay out the Custom Scalars tab: each language metric with its chance floor,
    the headline MI with its significance threshold, and training against greedy
    success, each pair in one chart. Call it once, on a fresh run.
    """
    pairs = {
        "symbols: metric and its chance floor": {
            name: ["Multiline", [f"^symbols/{name}(_chance)?$"]]
            for name in ("topsim", "posdis", "bosdis", "context_independence")
        },
        "symbols: MI and its significance threshold": {
            "message_meaning_mi_bits": [
                "Multiline",
                ["^symbols/message_meaning_mi_bits$", "^symbols/mi_null_p95_bits$"],
            ]
        },
        "success: training (sampled) and greedy": {
            "success": ["Multiline", ["^train/success$", "^eval/success$"]]
        },
    }
    _tag_writer(writer).writer.add_custom_scalars(pairs)


# ----------------------------------------------------------------- all views
def log_symbol_views(
    writer,
    *,
    step: int,
    messages,
    meanings,
    vocab_size: int,
    codebook=None,
    usage_counts=None,
) -> MessageReport:
    """Log every symbol view of one sample at one step; return its report.

    Logs the usage histogram, the rank–frequency figures of single symbols and
    of whole messages, one P(value | symbol) heatmap per message position, the
    position × attribute information map, the two text tables, the codebook
    projector (only when ``codebook`` is given; ``usage_counts`` defaults to the
    symbol counts of ``messages``), and the ``symbols/`` scalars of :data:`TAGS`
    from :func:`analysis.language.message_report` (the fields in
    :data:`NOT_CHARTED` stay in the report only).

    Parameters
    ----------
    writer : TagWriter or SummaryWriter
        Pass the run's :class:`TagWriter` so descriptions are written once.
    step : int
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
    vocab_size : int
    codebook : array-like, shape (vocab_size, D), optional
    usage_counts : array-like, shape (vocab_size,), optional

    Returns
    -------
    MessageReport
        The report of :func:`analysis.language.message_report`.
    """
    msgs = check_messages(messages, vocab_size=vocab_size)
    mean = check_meanings(meanings, n_samples=msgs.shape[0])
    out = _tag_writer(writer)
    counts = symbol_counts(msgs, vocab_size=vocab_size)
    log_symbol_histogram(out, msgs, step=step, vocab_size=vocab_size)
    log_rank_frequency(out, counts, step=step, unit="symbol", alphabet_size=vocab_size)
    log_rank_frequency(
        out,
        symbol_counts(msgs, unit="message"),
        step=step,
        unit="message",
        alphabet_size=vocab_size ** msgs.shape[1],
    )
    log_attribute_heatmaps(out, msgs, mean, step=step)
    log_position_information(out, msgs, mean, step=step)
    report = message_report(msgs, mean, vocab_size=vocab_size)
    log_message_tables(out, msgs, mean, step=step, report=report)
    if codebook is not None:
        log_codebook_projector(
            out.writer,
            codebook,
            step=step,
            usage_counts=counts if usage_counts is None else usage_counts,
            meanings=mean,
            messages=msgs,
        )
    skip = {name for name, _ in NOT_CHARTED}
    for key, value in report.scalars().items():
        if key.split("/")[0] not in skip:
            out.scalar(f"symbols/{key}", value, step)
    return report
