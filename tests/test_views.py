"""analysis.views against planted codes with a known answer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from analysis.views import (
    attribute_given_symbol,
    message_table,
    position_attribute_information,
)

V = 4


def _grid(repeats: int) -> np.ndarray:
    """Every meaning of 2 attributes x V values, each ``repeats`` times."""
    return np.array(list(itertools.product(range(V), repeat=2)) * repeats)


def _noisy_channel(values: np.ndarray, eps: float, rng) -> np.ndarray:
    """Send the value with probability 1 - eps, else one of the other V - 1."""
    flip = rng.random(values.size) < eps
    other = (values + rng.integers(1, V, size=values.size)) % V
    return np.where(flip, other, values)


# ---------------------------------------------------------- attribute | symbol
def test_positional_code_gives_identity_and_uniform_rows():
    meanings = _grid(5)
    messages = np.stack([meanings[:, 0], meanings[:, 1] + V], axis=1)
    table = attribute_given_symbol(messages, meanings, position=0)
    assert sorted(table.symbols.tolist()) == list(range(V))
    assert (table.counts == 5 * V).all()
    order = np.argsort(table.symbols)
    np.testing.assert_array_equal(table.probabilities[0][order], np.eye(V))
    # the full grid: attribute 1 is exactly uniform given a position-0 symbol
    np.testing.assert_array_equal(table.probabilities[1], np.full((V, V), 1 / V))
    values, probs = table.most_likely()
    assert (values[:, 0] == table.symbols).all() and (probs[:, 0] == 1).all()


def test_pooled_positions_sum_the_position_counts():
    rng = np.random.default_rng(3)
    meanings = rng.integers(0, V, size=(500, 2))
    messages = rng.integers(0, 6, size=(500, 3))
    pooled = attribute_given_symbol(messages, meanings)
    per_position = [
        attribute_given_symbol(messages, meanings, position=p) for p in range(3)
    ]
    total = np.zeros(6, dtype=np.int64)
    joint = np.zeros((6, V))
    for t in per_position:
        total[t.symbols] += t.counts
        joint[t.symbols] += t.probabilities[1] * t.counts[:, None]
    assert pooled.counts.sum() == messages.size
    np.testing.assert_array_equal(total[pooled.symbols], pooled.counts)
    np.testing.assert_allclose(
        joint[pooled.symbols] / pooled.counts[:, None], pooled.probabilities[1]
    )
    assert (np.diff(pooled.counts) <= 0).all()  # by decreasing count


@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_noisy_channel_matches_bayes(eps):
    # Uniform attribute, symmetric noise: P(a = v | s = v) = 1 - eps exactly.
    rng = np.random.default_rng(0)
    n = 40_000
    a = rng.integers(0, V, size=n)
    messages = _noisy_channel(a, eps, rng)[:, None]
    table = attribute_given_symbol(messages, a)
    diag = table.probabilities[0][np.arange(V), table.symbols]
    se = math.sqrt(eps * (1 - eps) / (n / V))
    assert np.all(np.abs(diag - (1 - eps)) < 5 * se)
    off = table.probabilities[0].copy()
    off[np.arange(V), table.symbols] = np.nan
    assert np.nanmax(np.abs(off - eps / (V - 1))) < 5 * se


def test_attribute_given_symbol_errors():
    with pytest.raises(ValueError, match=r"position must be in \[0, 2\)"):
        attribute_given_symbol([[0, 1]], [[0]], position=2)
    with pytest.raises(TypeError, match="position must be an int"):
        attribute_given_symbol([[0, 1]], [[0]], position=1.0)
    with pytest.raises(ValueError, match="meanings has 1 rows but there are 2"):
        attribute_given_symbol([[0], [1]], [[0]])


# ------------------------------------------------------ position x attribute
def _symmetric_channel_bits(eps: float) -> float:
    """I(s; a) of a uniform V-ary attribute through a symmetric channel."""
    h_noise = -(1 - eps) * math.log2(1 - eps) - eps * math.log2(eps / (V - 1))
    return math.log2(V) - h_noise


def test_position_attribute_information_planted():
    rng = np.random.default_rng(1)
    n = 20_000
    meanings = rng.integers(0, V, size=(n, 3))
    meanings[:, 2] = 1  # a constant attribute
    messages = np.stack(
        [
            meanings[:, 0],  # position 0 is attribute 0
            _noisy_channel(meanings[:, 1], 0.2, rng),  # position 1: attribute 1, noisy
            rng.integers(0, V, size=n),  # position 2 is noise
        ],
        axis=1,
    )
    info = position_attribute_information(messages, meanings)
    assert info.bits.shape == (3, 3) and info.n_messages == n
    np.testing.assert_allclose(info.attribute_entropy_bits[:2], 2.0, atol=1e-3)
    assert info.attribute_entropy_bits[2] == 0.0
    assert info.normalized[0, 0] == pytest.approx(1.0, abs=1e-3)
    truth = _symmetric_channel_bits(0.2)
    assert info.bits[1, 1] == pytest.approx(truth, abs=0.02)
    assert info.normalized[1, 1] == pytest.approx(truth / 2.0, abs=0.01)
    off = [info.normalized[0, 1], info.normalized[1, 0], info.normalized[2, 0]]
    assert max(abs(v) for v in off) < 0.01
    assert (info.normalized[:, 2] == 0.0).all()  # degenerate: constant attribute


# ------------------------------------------------------------- message table
def test_message_table_of_a_synonym_and_a_homonym():
    # meaning (0, 0): message (5, 5) three times, (6, 6) once (a synonym);
    # message (7, 7) is sent for (1, 0) and (1, 1) (a homonym).
    messages = [[5, 5]] * 3 + [[6, 6]] + [[7, 7]] * 4
    meanings = [[0, 0]] * 4 + [[1, 0]] * 3 + [[1, 1]]
    table = message_table(messages, meanings, n_frequent=2, n_examples=10)
    assert (table.n_messages, table.distinct_messages, table.distinct_meanings) == (
        8,
        3,
        3,
    )
    first, second = table.frequent
    assert first.message == (7, 7) and first.count == 4 and first.share == 0.5
    assert first.top_meaning == (1, 0) and first.top_meaning_share == 0.75
    assert first.n_meanings == 2
    assert second.message == (5, 5) and second.n_meanings == 1
    by_meaning = {e.meaning: e for e in table.examples}
    assert set(by_meaning) == {(0, 0), (1, 0), (1, 1)}
    zero = by_meaning[(0, 0)]
    assert zero.message == (5, 5) and zero.share == 0.75 and zero.n_messages == 2
    assert zero.count == 4


def test_message_table_examples_spread_over_the_meanings():
    meanings = _grid(2)
    messages = meanings * 10 + 1
    table = message_table(messages, meanings, n_examples=4)
    chosen = [e.meaning for e in table.examples]
    assert chosen[0] == (0, 0) and chosen[-1] == (V - 1, V - 1) and len(chosen) == 4
    assert all(e.share == 1.0 and e.n_messages == 1 for e in table.examples)
    assert all(
        tuple(v * 10 + 1 for v in e.meaning) == e.message for e in table.examples
    )


def test_message_table_float_meanings_print_as_ints():
    table = message_table([[0]], np.array([[2.0, 3.5]]))
    assert table.frequent[0].top_meaning == (2, 3.5)
    with pytest.raises(ValueError, match="n_frequent must be"):
        message_table([[0]], [[0]], n_frequent=0)
