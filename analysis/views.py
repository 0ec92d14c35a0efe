"""What the symbols mean: the tables behind the TensorBoard symbol views.

Pure functions over a sample of ``(messages, meanings)`` pairs (the greedy view
sample of a run). They answer "what does this symbol mean?" three ways:

- :func:`attribute_given_symbol`: for each symbol (at one message position, or at
  any position), the distribution of each meaning attribute over the messages
  holding it, ``P(attribute = value | symbol)``;
- :func:`position_attribute_information`: how much each message position says
  about each attribute, ``I(s_l; a_j)`` in bits and normalised by ``H(a_j)``;
- :func:`message_table`: the most frequent messages with the meanings they carry,
  and example meanings with the messages that express them.

Conventions
-----------
- Argument order ``(messages, meanings)``; ``messages`` is ``[n, message_length]``
  of symbol ids, ``meanings`` is ``[n, n_attributes]`` (1-D: one attribute), each
  distinct value of a column is one attribute value. Inputs are checked with
  :mod:`analysis.validation`.
- Probabilities are plug-in frequencies of the sample. Their standard error is at
  most ``0.5 / sqrt(count)`` for a symbol seen ``count`` times, so a view sample
  of 2,048 messages of 2 symbols over 16 gives about 128 occurrences per used
  symbol and position (standard error <= 0.044).
- Information is in bits with the default (bias-corrected) estimator of
  :func:`analysis.symbols.mutual_information`.
- Degenerate cases: an attribute with one value has ``H = 0`` and a normalised
  information of ``0.0``; symbols never observed do not appear in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.symbols import entropy, mutual_information
from analysis.validation import (
    check_meanings,
    check_messages,
    check_positive_int,
    row_ids,
)

__all__ = [
    "AttributeGivenSymbol",
    "FrequentMessage",
    "MeaningExample",
    "MessageTable",
    "PositionAttributeInformation",
    "attribute_given_symbol",
    "message_table",
    "position_attribute_information",
]


def _check_pair(messages, meanings) -> tuple[np.ndarray, np.ndarray]:
    msgs = check_messages(messages)
    return msgs, check_meanings(meanings, n_samples=msgs.shape[0])


def _python(value) -> int | float | bool:
    """A numpy scalar as the Python number it holds (integral floats as int)."""
    item = value.item() if hasattr(value, "item") else value
    if isinstance(item, float) and item.is_integer():
        return int(item)
    return item


# ------------------------------------------------------------ attribute | symbol
@dataclass(frozen=True)
class AttributeGivenSymbol:
    """``P(attribute = value | symbol)`` over a sample of messages and meanings.

    Attributes
    ----------
    position : int or None
        The message position the symbol occurrences come from; ``None``: every
        position (each occurrence is paired with its message's meaning).
    symbols : numpy.ndarray of int64, shape (k,)
        The symbols observed, by decreasing count (ties: smaller id first).
    counts : numpy.ndarray of int64, shape (k,)
        Occurrences of each symbol.
    values : tuple of numpy.ndarray
        Per attribute, its distinct values in the sample (sorted).
    probabilities : tuple of numpy.ndarray of float64
        Per attribute, ``[k, n_values]``: row ``i`` is the distribution of the
        attribute over the occurrences of ``symbols[i]`` (each row sums to 1).
    n_messages : int
        Messages in the sample.
    """

    position: int | None
    symbols: np.ndarray
    counts: np.ndarray
    values: tuple[np.ndarray, ...]
    probabilities: tuple[np.ndarray, ...]
    n_messages: int

    def most_likely(self) -> tuple[np.ndarray, np.ndarray]:
        """Per symbol and attribute, the most likely value and its probability.

        Returns
        -------
        (values, probabilities)
            Two arrays ``[k, n_attributes]`` (ties: the smaller value).

        Examples
        --------
        >>> table = attribute_given_symbol([[0], [0], [1]], [[5], [5], [7]])
        >>> values, probs = table.most_likely()
        >>> values.tolist(), probs.tolist()
        ([[5], [7]], [[1.0], [1.0]])
        """
        best = [p.argmax(axis=1) for p in self.probabilities]
        values = np.stack([v[b] for v, b in zip(self.values, best)], axis=1)
        probs = np.stack(
            [p[np.arange(len(b)), b] for p, b in zip(self.probabilities, best)], axis=1
        )
        return values, probs


def attribute_given_symbol(
    messages, meanings, *, position: int | None = None
) -> AttributeGivenSymbol:
    """The distribution of each meaning attribute given each symbol.

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
        Discrete attributes.
    position : int, optional
        Use the symbols at this message position only (``0 <= position <
        message_length``); default: every position, each occurrence paired with
        its message's meaning.

    Returns
    -------
    AttributeGivenSymbol

    Examples
    --------
    >>> messages = [[0, 2], [0, 3], [1, 2], [1, 3]]
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> table = attribute_given_symbol(messages, meanings, position=0)
    >>> table.symbols.tolist(), table.probabilities[0].tolist()
    ([0, 1], [[1.0, 0.0], [0.0, 1.0]])
    >>> table.probabilities[1].tolist()  # position 0 says nothing of attribute 1
    [[0.5, 0.5], [0.5, 0.5]]
    """
    msgs, attrs = _check_pair(messages, meanings)
    length = msgs.shape[1]
    if position is None:
        symbols = msgs.ravel()
        rows = np.repeat(np.arange(msgs.shape[0]), length)
    else:
        if isinstance(position, bool) or not isinstance(position, int | np.integer):
            raise TypeError(f"position must be an int or None, got {position!r}")
        if not 0 <= position < length:
            raise ValueError(
                f"position must be in [0, {length}) for messages of length {length}, "
                f"got {position}"
            )
        symbols = msgs[:, int(position)]
        rows = np.arange(msgs.shape[0])
    used, sym_ids = np.unique(symbols, return_inverse=True)
    sym_ids = sym_ids.reshape(-1)
    counts = np.bincount(sym_ids, minlength=used.size)
    order = np.lexsort((used, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    values, probabilities = [], []
    for a in range(attrs.shape[1]):
        vals, val_ids = np.unique(attrs[:, a], return_inverse=True)
        occ = val_ids.reshape(-1)[rows]
        joint = np.bincount(
            rank[sym_ids] * vals.size + occ, minlength=used.size * vals.size
        ).reshape(used.size, vals.size)
        values.append(vals)
        probabilities.append(joint / joint.sum(axis=1, keepdims=True))
    return AttributeGivenSymbol(
        position=None if position is None else int(position),
        symbols=used[order].astype(np.int64),
        counts=counts[order].astype(np.int64),
        values=tuple(values),
        probabilities=tuple(probabilities),
        n_messages=int(msgs.shape[0]),
    )


# ------------------------------------------------------- position x attribute
@dataclass(frozen=True)
class PositionAttributeInformation:
    """How much each message position tells about each meaning attribute.

    Attributes
    ----------
    bits : numpy.ndarray of float64, shape (message_length, n_attributes)
        ``I(s_l; a_j)`` in bits (default estimator of
        :func:`analysis.symbols.mutual_information`; it can fall slightly below 0
        or above ``H(a_j)`` on small samples).
    attribute_entropy_bits : numpy.ndarray of float64, shape (n_attributes,)
        ``H(a_j)`` (plug-in) of the sample.
    normalized : numpy.ndarray of float64, shape (message_length, n_attributes)
        ``bits / attribute_entropy_bits``: 1 when the position determines the
        attribute, 0 when independent; ``0.0`` for a constant attribute.
    n_messages : int
    """

    bits: np.ndarray
    attribute_entropy_bits: np.ndarray
    normalized: np.ndarray
    n_messages: int


def position_attribute_information(
    messages, meanings, *, seed: int | None = 0
) -> PositionAttributeInformation:
    """Mutual information between each message position and each attribute.

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
    seed : int or None, default 0
        Passed to :func:`analysis.symbols.mutual_information`.

    Returns
    -------
    PositionAttributeInformation

    Examples
    --------
    >>> meanings = [[0, 0], [0, 1], [1, 0], [1, 1]] * 100
    >>> info = position_attribute_information(meanings, meanings)
    >>> info.normalized.diagonal().round(2).tolist()
    [1.0, 1.0]
    >>> bool(abs(info.normalized[0, 1]) < 0.01)  # position 0 is not attribute 1
    True
    """
    msgs, attrs = _check_pair(messages, meanings)
    attr_ids = [row_ids(attrs[:, a]) for a in range(attrs.shape[1])]
    h = np.array([entropy(np.bincount(ids)) for ids in attr_ids])
    bits = np.array(
        [
            [mutual_information(msgs[:, pos], ids, seed=seed) for ids in attr_ids]
            for pos in range(msgs.shape[1])
        ]
    ).reshape(msgs.shape[1], len(attr_ids))
    safe = np.where(h > 0, h, 1.0)
    normalized = np.where(h > 0, bits / safe, 0.0)  # degenerate: constant attribute
    return PositionAttributeInformation(
        bits=bits,
        attribute_entropy_bits=h,
        normalized=normalized,
        n_messages=int(msgs.shape[0]),
    )


# -------------------------------------------------------------- message table
@dataclass(frozen=True)
class FrequentMessage:
    """A message of the sample and the meanings it was sent for.

    Attributes
    ----------
    message : tuple of int
    count : int
        Times it was sent.
    share : float
        ``count / n_messages``.
    top_meaning : tuple
        The meaning it was most often sent for (attribute values).
    top_meaning_share : float
        Fraction of its ``count`` sent for ``top_meaning``.
    n_meanings : int
        Distinct meanings it was sent for (1: unambiguous).
    """

    message: tuple[int, ...]
    count: int
    share: float
    top_meaning: tuple
    top_meaning_share: float
    n_meanings: int


@dataclass(frozen=True)
class MeaningExample:
    """A meaning of the sample and the message most often sent for it.

    Attributes
    ----------
    meaning : tuple
    message : tuple of int
        Its most frequent message.
    share : float
        Fraction of the meaning's occurrences sent as ``message``.
    count : int
        Occurrences of the meaning.
    n_messages : int
        Distinct messages sent for it (1: no synonyms).
    """

    meaning: tuple
    message: tuple[int, ...]
    share: float
    count: int
    n_messages: int


@dataclass(frozen=True)
class MessageTable:
    """The most frequent messages and example meaning → message pairs.

    Attributes
    ----------
    frequent : tuple of FrequentMessage
        By decreasing count (ties: lexicographic message order).
    examples : tuple of MeaningExample
        Meanings spread evenly over the sorted distinct meanings of the sample.
    n_messages, distinct_messages, distinct_meanings : int
    """

    frequent: tuple[FrequentMessage, ...]
    examples: tuple[MeaningExample, ...]
    n_messages: int
    distinct_messages: int
    distinct_meanings: int


def _first_rows(ids: np.ndarray, k: int) -> np.ndarray:
    """Index of the first row of each id ``0..k-1``."""
    first = np.full(k, ids.size, dtype=np.int64)
    np.minimum.at(first, ids, np.arange(ids.size))
    return first


def message_table(
    messages, meanings, *, n_frequent: int = 10, n_examples: int = 10
) -> MessageTable:
    """The most frequent messages with their meanings, and example meanings.

    Parameters
    ----------
    messages : array-like of int, shape (n, message_length)
    meanings : array-like, shape (n,) or (n, n_attributes)
    n_frequent : int, default 10
        Most frequent messages listed (fewer if fewer are distinct).
    n_examples : int, default 10
        Example meanings listed, chosen evenly over the sorted distinct meanings
        (fewer if fewer are distinct).

    Returns
    -------
    MessageTable

    Examples
    --------
    >>> table = message_table([[1, 2], [1, 2], [3, 0]], [[0, 1], [0, 1], [1, 1]])
    >>> m = table.frequent[0]
    >>> m.message, m.count, m.top_meaning, m.n_meanings
    ((1, 2), 2, (0, 1), 1)
    >>> [(e.meaning, e.message) for e in table.examples]
    [((0, 1), (1, 2)), ((1, 1), (3, 0))]
    """
    msgs, attrs = _check_pair(messages, meanings)
    n_frequent = check_positive_int(n_frequent, "n_frequent")
    n_examples = check_positive_int(n_examples, "n_examples")
    n = msgs.shape[0]
    msg_ids = row_ids(msgs)  # sorted lexicographic order of the distinct messages
    mean_ids = row_ids(attrs)
    n_msg, n_mean = int(msg_ids.max()) + 1, int(mean_ids.max()) + 1
    msg_rows, mean_rows = _first_rows(msg_ids, n_msg), _first_rows(mean_ids, n_mean)
    joint_ids, joint_counts = np.unique(msg_ids * n_mean + mean_ids, return_counts=True)
    j_msg, j_mean = joint_ids // n_mean, joint_ids % n_mean
    msg_counts = np.bincount(msg_ids, minlength=n_msg)
    mean_counts = np.bincount(mean_ids, minlength=n_mean)

    def message(i: int) -> tuple[int, ...]:
        return tuple(int(s) for s in msgs[msg_rows[i]])

    def meaning(i: int) -> tuple:
        return tuple(_python(v) for v in attrs[mean_rows[i]])

    def top_of(owner: np.ndarray, other: np.ndarray, i: int) -> tuple[int, int, int]:
        """(best partner, its joint count, number of partners) of owner id i."""
        sel = np.flatnonzero(owner == i)
        best = sel[np.argmax(joint_counts[sel])]  # first max: smallest partner id
        return int(other[best]), int(joint_counts[best]), int(sel.size)

    frequent = []
    for i in np.lexsort((np.arange(n_msg), -msg_counts))[:n_frequent]:
        partner, joint, partners = top_of(j_msg, j_mean, int(i))
        frequent.append(
            FrequentMessage(
                message=message(int(i)),
                count=int(msg_counts[i]),
                share=float(msg_counts[i] / n),
                top_meaning=meaning(partner),
                top_meaning_share=float(joint / msg_counts[i]),
                n_meanings=partners,
            )
        )
    picks = np.unique(np.linspace(0, n_mean - 1, min(n_examples, n_mean)).round())
    examples = []
    for i in picks.astype(np.int64):
        partner, joint, partners = top_of(j_mean, j_msg, int(i))
        examples.append(
            MeaningExample(
                meaning=meaning(int(i)),
                message=message(partner),
                share=float(joint / mean_counts[i]),
                count=int(mean_counts[i]),
                n_messages=partners,
            )
        )
    return MessageTable(
        frequent=tuple(frequent),
        examples=tuple(examples),
        n_messages=int(n),
        distinct_messages=n_msg,
        distinct_meanings=n_mean,
    )
