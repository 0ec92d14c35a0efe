"""TensorBoard views of emergent symbols: a thin reporting layer over the metrics.

Every writer takes a ``writer`` with the ``torch.utils.tensorboard.SummaryWriter``
methods it needs (``add_histogram``, ``add_embedding``, ``add_figure``,
``add_scalar``), computes with :mod:`analysis.symbols` / :mod:`analysis.language`,
and logs. Nothing here computes a metric of its own.

Figures are built on matplotlib's Agg canvas (``matplotlib.figure.Figure``), imported
lazily inside the functions, so importing this module does not import matplotlib and
never changes the global pyplot backend.

Tags
----
``symbols/usage`` (histogram), ``symbols/codebook`` (embedding projector),
``symbols/rank_frequency`` and ``symbols/symbol_meaning`` (images),
``symbols/<field>`` (scalars, one per field of
:class:`analysis.language.MessageReport`; tuple fields as ``<field>/<index>``).
"""

from __future__ import annotations

import numpy as np

from analysis.language import MessageReport, message_report
from analysis.symbols import rank_frequency, symbol_counts, zipf_fit
from analysis.validation import (
    check_counts,
    check_meanings,
    check_messages,
    row_ids,
    to_array,
)

__all__ = [
    "log_codebook_projector",
    "log_rank_frequency",
    "log_symbol_histogram",
    "log_symbol_meaning_heatmap",
    "log_symbol_views",
]


def _figure(width: float, height: float, ncols: int = 1):
    """An Agg-backed figure and its axes, without touching pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _meaning_label(row: np.ndarray) -> str:
    return ",".join(str(v.item()) for v in np.atleast_1d(row))


def log_symbol_histogram(
    writer, messages, *, step: int, vocab_size: int, tag: str = "symbols/usage"
) -> None:
    """Log the distribution of symbol ids (all positions) as a histogram.

    Parameters
    ----------
    writer : SummaryWriter-like
    messages : array-like of int, shape (n, message_length)
    step : int
    vocab_size : int
        One bin per symbol id ``0..vocab_size-1``.
    tag : str

    Examples
    --------
    >>> class Rec:
    ...     def add_histogram(self, tag, values, global_step=None, bins=None):
    ...         self.tag, self.n = tag, len(values)
    >>> w = Rec()
    >>> log_symbol_histogram(w, [[0, 1], [1, 2]], step=0, vocab_size=3)
    >>> w.tag, w.n
    ('symbols/usage', 4)
    """
    msgs = check_messages(messages, vocab_size=vocab_size)
    bins = np.arange(vocab_size + 1, dtype=np.float64) - 0.5
    writer.add_histogram(tag, msgs.ravel(), global_step=step, bins=bins)


def _top_meanings(msgs: np.ndarray, meanings: np.ndarray, n_symbols: int) -> list[str]:
    """Most frequent meaning among the occurrences of each symbol ("-" if unused)."""
    ids = row_ids(meanings) if meanings.shape[1] > 1 else row_ids(meanings[:, 0])
    n_meanings = int(ids.max()) + 1
    first = np.zeros(n_meanings, dtype=np.int64)
    first[ids[::-1]] = np.arange(ids.size)[::-1]  # a representative row per id
    occ_meaning = np.repeat(ids, msgs.shape[1])
    joint = np.bincount(
        msgs.ravel() * n_meanings + occ_meaning, minlength=n_symbols * n_meanings
    ).reshape(n_symbols, n_meanings)
    best = joint.argmax(axis=1)
    return [
        _meaning_label(meanings[first[best[k]]]) if joint[k].any() else "-"
        for k in range(n_symbols)
    ]


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

    Metadata columns: ``symbol`` (id), ``usage`` (count), ``top_meaning`` (the most
    frequent meaning among the symbol's occurrences, attribute values joined by
    commas; ``"-"`` when the symbol is unused or ``messages``/``meanings`` are not
    given).

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
    ...     def add_embedding(self, mat, metadata=None, **kwargs):
    ...         self.rows = metadata
    >>> w = Rec()
    >>> log_codebook_projector(w, [[0.0, 1.0], [1.0, 0.0]], step=0,
    ...                        usage_counts=[2, 0], messages=[[0], [0]],
    ...                        meanings=[[3], [3]])
    >>> w.rows
    [['0', '2', '3'], ['1', '0', '-']]
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
    if messages is None:
        top = ["-"] * k
    else:
        msgs = check_messages(messages, vocab_size=k)
        top = _top_meanings(msgs, check_meanings(meanings, n_samples=len(msgs)), k)
    rows = [[str(i), f"{usage[i]:g}", top[i]] for i in range(k)]
    writer.add_embedding(
        book.astype(np.float32),
        metadata=rows,
        metadata_header=["symbol", "usage", "top_meaning"],
        global_step=step,
        tag=tag,
    )


def log_rank_frequency(
    writer, counts, *, step: int, tag: str = "symbols/rank_frequency"
) -> None:
    """Log a log–log rank–frequency plot with the fitted (truncated) Zipf law.

    With fewer than 2 used types only the data are drawn (no fit exists).

    Parameters
    ----------
    writer : SummaryWriter-like
    counts : array-like, shape (n_types,)
    step : int
    tag : str

    Examples
    --------
    >>> class Rec:
    ...     def add_figure(self, tag, figure, global_step=None, close=True):
    ...         self.tag = tag
    >>> w = Rec()
    >>> log_rank_frequency(w, [50, 20, 10, 5], step=1)
    >>> w.tag
    'symbols/rank_frequency'
    """
    ranks, freqs = rank_frequency(counts)
    fig, (ax,) = _figure(4.5, 3.5)
    ax.loglog(ranks, freqs, "o", ms=3, label="observed")
    if ranks.size >= 2:
        fit = zipf_fit(counts)
        law = ranks.astype(np.float64) ** -fit.s
        ax.loglog(
            ranks, law / law.sum(), "-", label=f"Zipf s={fit.s:.2f}±{fit.stderr:.2f}"
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("relative frequency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    writer.add_figure(tag, fig, global_step=step)


def log_symbol_meaning_heatmap(
    writer,
    messages,
    meanings,
    *,
    step: int,
    vocab_size: int,
    tag: str = "symbols/symbol_meaning",
) -> None:
    """Log a symbol × (attribute, value) co-occurrence heatmap.

    Rows are symbols ``0..vocab_size-1``; columns are ``a<j>=<value>`` concepts,
    attribute by attribute; a cell counts the symbol's occurrences (any position) in
    messages whose meaning has that concept.

    Parameters
    ----------
    writer : SummaryWriter-like
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
    step : int
    vocab_size : int
    tag : str

    Examples
    --------
    >>> class Rec:
    ...     def add_figure(self, tag, figure, global_step=None, close=True):
    ...         self.tag = tag
    >>> w = Rec()
    >>> log_symbol_meaning_heatmap(w, [[0], [1]], [[0], [1]], step=0, vocab_size=2)
    >>> w.tag
    'symbols/symbol_meaning'
    """
    msgs = check_messages(messages, vocab_size=vocab_size)
    mean = check_meanings(meanings, n_samples=msgs.shape[0])
    blocks, labels = [], []
    symbols = msgs.ravel()
    for a in range(mean.shape[1]):
        values, ids = np.unique(mean[:, a], return_inverse=True)
        occ = np.repeat(ids.reshape(-1), msgs.shape[1])
        joint = np.bincount(
            symbols * values.size + occ, minlength=vocab_size * values.size
        ).reshape(vocab_size, values.size)
        blocks.append(joint)
        labels += [f"a{a}={v.item():g}" for v in values]
    table = np.concatenate(blocks, axis=1)
    fig, (ax,) = _figure(
        min(2.0 + 0.3 * len(labels), 16), min(2.0 + 0.25 * vocab_size, 16)
    )
    image = ax.imshow(table, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xticks(np.arange(len(labels)), labels, rotation=90, fontsize=6)
    ax.set_ylabel("symbol")
    ax.set_xlabel("attribute=value")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    writer.add_figure(tag, fig, global_step=step)


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
    """Log all symbol views at once and return the :func:`message_report` numbers.

    Logs the usage histogram, the rank–frequency figure, the symbol–meaning heatmap,
    the codebook projector (only when ``codebook`` is given; ``usage_counts``
    defaults to the symbol counts of ``messages``), and one scalar
    ``symbols/<name>`` per :meth:`MessageReport.scalars` entry.

    Parameters
    ----------
    writer : SummaryWriter-like
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
    counts = symbol_counts(msgs, vocab_size=vocab_size)
    log_symbol_histogram(writer, msgs, step=step, vocab_size=vocab_size)
    log_rank_frequency(writer, counts, step=step)
    log_symbol_meaning_heatmap(writer, msgs, meanings, step=step, vocab_size=vocab_size)
    if codebook is not None:
        log_codebook_projector(
            writer,
            codebook,
            step=step,
            usage_counts=counts if usage_counts is None else usage_counts,
            meanings=meanings,
            messages=msgs,
        )
    report = message_report(msgs, meanings, vocab_size=vocab_size)
    for key, value in report.scalars().items():
        writer.add_scalar(f"symbols/{key}", value, global_step=step)
    return report
