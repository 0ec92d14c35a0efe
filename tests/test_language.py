"""Tests for analysis.language: topsim, posdis, bosdis, context independence, report."""

import itertools
import json

import numpy as np
import pytest

from analysis.language import (
    _edit_distance_rows,
    _pair_indices,
    bag_of_symbols_disentanglement,
    check_meanings,
    context_independence,
    message_report,
    positional_disentanglement,
    topographic_similarity,
)


@pytest.fixture
def grid():
    """All 4**3 meanings with 3 attributes of 4 values."""
    return np.array(list(itertools.product(range(4), repeat=3)))


def _disjoint_symbols(meanings, n_values=4):
    """One symbol per attribute value, attribute j using ids j*n_values + value."""
    return meanings + n_values * np.arange(meanings.shape[1])


def _levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, row[0] = row[:], i
        for j in range(1, len(b) + 1):
            row[j] = min(
                prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])
            )
    return row[-1]


# --------------------------------------------------------------------- helpers


def test_pair_indices_sample_is_distinct_upper_triangle():
    n = 40
    i, j = _pair_indices(n, 300, seed=1)
    pairs = set(zip(i.tolist(), j.tolist()))
    assert len(pairs) == 300
    assert all(0 <= a < b < n for a, b in pairs)


def test_pair_indices_all_pairs_when_budget_exceeds_total():
    i, j = _pair_indices(5, 1000, seed=0)
    assert len(i) == 10


def test_edit_distance_batched_matches_reference_loop():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, (300, 5)), rng.integers(0, 3, (300, 4))
    expected = [_levenshtein(list(a[p]), list(b[p])) for p in range(300)]
    assert _edit_distance_rows(a, b).tolist() == expected


def test_check_meanings_errors():
    with pytest.raises(ValueError, match=r"1-D or 2-D .* got shape \(2, 2, 1\)"):
        check_meanings(np.zeros((2, 2, 1)))
    with pytest.raises(ValueError, match="NaN or inf"):
        check_meanings([[0.0], [np.inf]])
    with pytest.raises(ValueError, match="numeric, got dtype <U1"):
        check_meanings(["a", "b"])
    with pytest.raises(
        ValueError, match="meanings has 2 rows but there are 3 messages"
    ):
        check_meanings([1, 2], n_samples=3)
    with pytest.raises(ValueError, match="empty"):
        check_meanings(np.zeros((0, 2)))


# -------------------------------------------------------------------- topsim


def test_topsim_compositional_is_one(grid):
    assert topographic_similarity(
        grid, grid, message_distance="hamming"
    ) == pytest.approx(1.0)


def test_topsim_random_permutation_is_near_zero(grid):
    rng = np.random.default_rng(0)
    shuffled = grid[rng.permutation(len(grid))]
    assert abs(topographic_similarity(grid, shuffled)) < 0.1


def test_topsim_invariant_to_symbol_relabelling(grid):
    rng = np.random.default_rng(1)
    messages = rng.integers(0, 5, (len(grid), 4))
    relabel = rng.permutation(5)
    assert topographic_similarity(grid, messages) == pytest.approx(
        topographic_similarity(grid, relabel[messages])
    )


def test_topsim_sampled_pairs_close_to_all_pairs(grid):
    rng = np.random.default_rng(2)
    messages = np.where(
        rng.random(grid.shape) < 0.3, rng.integers(0, 4, grid.shape), grid
    )
    full = topographic_similarity(grid, messages)
    sampled = topographic_similarity(grid, messages, max_pairs=1500, seed=3)
    assert sampled == pytest.approx(full, abs=0.08)
    again = topographic_similarity(grid, messages, max_pairs=1500, seed=3)
    assert sampled == again  # seeded


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "hamming"])
def test_topsim_named_distances_match_scipy_reference(metric):
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr

    rng = np.random.default_rng(5)
    meanings = (
        rng.normal(size=(30, 3)) if metric != "hamming" else rng.integers(0, 3, (30, 3))
    )
    messages = rng.integers(0, 3, (30, 4))
    i, j = np.triu_indices(30, k=1)
    d_msg = [_levenshtein(list(messages[a]), list(messages[b])) for a, b in zip(i, j)]
    expected = spearmanr(pdist(meanings, metric), d_msg)[0]
    assert topographic_similarity(
        meanings, messages, meaning_distance=metric
    ) == pytest.approx(expected)


def test_topsim_callable_distance_matches_named(grid):
    def hamming(a, b):
        return float(np.mean(a != b))

    assert topographic_similarity(
        grid, grid, meaning_distance=hamming, message_distance=hamming
    ) == pytest.approx(topographic_similarity(grid, grid, message_distance="hamming"))


def test_topsim_degenerate_constant_messages_and_meanings_are_zero(grid):
    constant = np.zeros((len(grid), 3), dtype=int)
    assert topographic_similarity(grid, constant) == 0.0
    assert topographic_similarity(constant, grid) == 0.0


def test_topsim_errors(grid):
    with pytest.raises(ValueError, match="at least 2 messages, got 1"):
        topographic_similarity([[0]], [[1]])
    with pytest.raises(
        ValueError, match="meaning_distance must be one of .* 'manhattan'"
    ):
        topographic_similarity(grid, grid, meaning_distance="manhattan")
    with pytest.raises(ValueError, match="zero row"):
        topographic_similarity(
            np.zeros((3, 2)), [[0], [1], [2]], meaning_distance="cosine"
        )
    with pytest.raises(ValueError, match="max_pairs must be >= 1, got 0"):
        topographic_similarity(grid, grid, max_pairs=0)
    with pytest.raises(ValueError, match="meanings has 3 rows but there are 2"):
        topographic_similarity([0, 1, 2], [[0], [1]])


def test_topsim_10k_messages_sampled_is_fast():
    import time

    rng = np.random.default_rng(0)
    meanings, messages = (
        rng.integers(0, 10, (10000, 4)),
        rng.integers(0, 16, (10000, 8)),
    )
    start = time.perf_counter()
    value = topographic_similarity(meanings, messages, max_pairs=20000)
    assert time.perf_counter() - start < 5.0
    assert abs(value) < 0.05


# ----------------------------------------------------------- posdis / bosdis


def test_posdis_compositional_is_one(grid):
    assert positional_disentanglement(grid, grid) == pytest.approx(1.0)


def test_posdis_position_permutation_of_attributes_is_still_one(grid):
    assert positional_disentanglement(grid, grid[:, [2, 0, 1]]) == pytest.approx(1.0)


def test_bosdis_compositional_is_one(grid):
    assert bag_of_symbols_disentanglement(grid, _disjoint_symbols(grid)) == (
        pytest.approx(1.0)
    )


def test_posdis_bosdis_random_messages_near_zero():
    rng = np.random.default_rng(0)
    meanings, messages = rng.integers(0, 4, (5000, 3)), rng.integers(0, 4, (5000, 3))
    assert positional_disentanglement(meanings, messages) < 0.02
    assert bag_of_symbols_disentanglement(meanings, messages) < 0.02


def test_posdis_degenerate_no_varying_position_is_zero(grid):
    constant = np.full((len(grid), 2), 3)
    assert positional_disentanglement(grid, constant) == 0.0
    assert bag_of_symbols_disentanglement(grid, constant) == 0.0


def test_posdis_one_attribute_uses_zero_as_second_best():
    meanings = np.array([0, 1, 2, 3] * 10)
    # position 0 copies the attribute (score 1), position 1 is its parity (I/H = 1)
    messages = np.stack([meanings, meanings % 2], axis=1)
    assert positional_disentanglement(meanings, messages) == pytest.approx(1.0)
    # a position independent of the single attribute scores 0
    noise = np.stack([meanings, np.tile([0, 0, 1, 1, 1, 1, 0, 0], 5)], axis=1)
    assert positional_disentanglement(meanings, noise) == pytest.approx(0.5)


def test_posdis_constant_position_is_left_out(grid):
    messages = np.concatenate([grid, np.zeros((len(grid), 1), dtype=int)], axis=1)
    assert positional_disentanglement(grid, messages) == pytest.approx(1.0)


def test_bosdis_ignores_symbol_order(grid):
    messages = _disjoint_symbols(grid)
    rng = np.random.default_rng(3)
    scrambled = np.array([rng.permutation(row) for row in messages])
    assert bag_of_symbols_disentanglement(grid, scrambled) == pytest.approx(1.0)
    assert positional_disentanglement(grid, scrambled) < 0.5


def test_bosdis_vocab_size_validated(grid):
    with pytest.raises(ValueError, match="symbol id 11 >= vocab_size=5"):
        bag_of_symbols_disentanglement(grid, _disjoint_symbols(grid), vocab_size=5)
    padded = bag_of_symbols_disentanglement(
        grid, _disjoint_symbols(grid), vocab_size=20
    )
    assert padded == pytest.approx(1.0)


# ------------------------------------------------------- context independence


def test_context_independence_disjoint_symbols_is_one(grid):
    assert context_independence(grid, _disjoint_symbols(grid)) == pytest.approx(1.0)


def test_context_independence_shared_symbols_is_lower(grid):
    assert context_independence(grid, grid) < 0.5


def test_context_independence_hand_computed():
    meanings = np.array([[0], [0], [1], [1]])
    messages = np.array([[0], [0], [0], [1]])
    # concept a0=0: v=0 (p(c|v)=2/3, p(v|c)=1) → 2/3;
    # concept a0=1: v=1 (p(c|v)=1, p(v|c)=1/2) → 1/2
    assert context_independence(meanings, messages) == pytest.approx(
        (2 / 3 + 1 / 2) / 2
    )


def test_context_independence_degenerate_constant_meaning():
    meanings = np.zeros((6, 1))
    assert context_independence(meanings, [[0, 1]] * 3 + [[0, 2]] * 3) == 1.0
    assert context_independence(meanings, [[0]] * 3 + [[1]] * 3) == 0.5


def test_context_independence_errors():
    with pytest.raises(ValueError, match="meanings has 2 rows but there are 1"):
        context_independence([[0], [1]], [[0]])
    with pytest.raises(ValueError, match="negative symbol id"):
        context_independence([[0]], [[-1]])


# --------------------------------------------------------------------- report

REPORT_KEYS = {
    "n_messages",
    "distinct_messages",
    "symbol_entropy_bits",
    "symbol_perplexity",
    "message_entropy_bits",
    "message_perplexity",
    "message_meaning_mi_bits",
    "message_meaning_mi_plugin_bits",
    "message_meaning_mi_miller_madow_bits",
    "topsim",
    "posdis",
    "bosdis",
    "context_independence",
}


def test_message_report_keys_types_and_json(grid):
    report = message_report(grid, grid, vocab_size=4)
    assert set(report) == REPORT_KEYS
    assert all(type(v) in (int, float) for v in report.values())
    assert json.loads(json.dumps(report)) == report
    assert report["distinct_messages"] == 64
    assert report["posdis"] == pytest.approx(1.0)
    assert report["message_meaning_mi_plugin_bits"] == pytest.approx(6.0)
    assert report["symbol_perplexity"] == pytest.approx(4.0)


def test_message_report_headline_mi_is_shuffle_corrected():
    rng = np.random.default_rng(0)
    messages, meanings = rng.integers(0, 4, (1000, 2)), rng.integers(0, 3, (1000, 2))
    report = message_report(messages, meanings)
    assert report["message_meaning_mi_plugin_bits"] > 0.05
    assert abs(report["message_meaning_mi_bits"]) < 0.02


def test_message_report_single_message_degenerate():
    report = message_report([[1, 2]], [[0, 0]])
    assert report["topsim"] == 0.0
    assert report["posdis"] == 0.0
    assert report["symbol_entropy_bits"] == 1.0
    assert report["message_perplexity"] == 1.0


def test_message_report_errors():
    with pytest.raises(ValueError, match="2-D"):
        message_report([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="meanings contains NaN"):
        message_report([[1], [2]], [0.0, np.nan])
