"""Tests for analysis.language: topsim, posdis, bosdis, context independence, report."""

import dataclasses
import itertools
import json

import numpy as np
import pytest

from analysis.language import (
    MessageReport,
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
    assert abs(topographic_similarity(shuffled, grid)) < 0.1


def test_topsim_invariant_to_symbol_relabelling(grid):
    rng = np.random.default_rng(1)
    messages = rng.integers(0, 5, (len(grid), 4))
    relabel = rng.permutation(5)
    assert topographic_similarity(messages, grid) == pytest.approx(
        topographic_similarity(relabel[messages], grid)
    )


def test_topsim_sampled_pairs_close_to_all_pairs(grid):
    rng = np.random.default_rng(2)
    messages = np.where(
        rng.random(grid.shape) < 0.3, rng.integers(0, 4, grid.shape), grid
    )
    full = topographic_similarity(messages, grid)
    sampled = topographic_similarity(messages, grid, max_pairs=1500, seed=3)
    assert sampled == pytest.approx(full, abs=0.08)
    again = topographic_similarity(messages, grid, max_pairs=1500, seed=3)
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
        messages, meanings, meaning_distance=metric
    ) == pytest.approx(expected)


def test_topsim_callable_distance_matches_named(grid):
    def hamming(a, b):
        return float(np.mean(a != b))

    assert topographic_similarity(
        grid, grid, meaning_distance=hamming, message_distance=hamming
    ) == pytest.approx(topographic_similarity(grid, grid, message_distance="hamming"))


def test_topsim_degenerate_constant_messages_and_meanings_are_zero(grid):
    constant = np.zeros((len(grid), 3), dtype=int)
    assert topographic_similarity(constant, grid) == 0.0
    assert topographic_similarity(grid, constant) == 0.0


def test_topsim_errors(grid):
    with pytest.raises(ValueError, match="at least 2 messages, got 1"):
        topographic_similarity([[1]], [[0]])
    with pytest.raises(
        ValueError, match="meaning_distance must be one of .* 'manhattan'"
    ):
        topographic_similarity(grid, grid, meaning_distance="manhattan")
    with pytest.raises(ValueError, match="zero row"):
        topographic_similarity(
            [[0], [1], [2]], np.zeros((3, 2)), meaning_distance="cosine"
        )
    with pytest.raises(ValueError, match="max_pairs must be >= 1, got 0"):
        topographic_similarity(grid, grid, max_pairs=0)
    with pytest.raises(ValueError, match="meanings has 3 rows but there are 2"):
        topographic_similarity([[0], [1]], [0, 1, 2])


def test_topsim_10k_messages_sampled_is_fast():
    import time

    rng = np.random.default_rng(0)
    meanings, messages = (
        rng.integers(0, 10, (10000, 4)),
        rng.integers(0, 16, (10000, 8)),
    )
    start = time.perf_counter()
    value = topographic_similarity(messages, meanings, max_pairs=20000)
    assert time.perf_counter() - start < 5.0
    assert abs(value) < 0.05


# ----------------------------------------------------------- posdis / bosdis


def test_posdis_compositional_is_one(grid):
    assert positional_disentanglement(grid, grid) == pytest.approx(1.0)


def test_posdis_position_permutation_of_attributes_is_still_one(grid):
    assert positional_disentanglement(grid[:, [2, 0, 1]], grid) == pytest.approx(1.0)


def test_bosdis_compositional_is_one(grid):
    assert bag_of_symbols_disentanglement(_disjoint_symbols(grid), grid) == (
        pytest.approx(1.0)
    )


def test_posdis_bosdis_random_messages_near_zero():
    rng = np.random.default_rng(0)
    meanings, messages = rng.integers(0, 4, (5000, 3)), rng.integers(0, 4, (5000, 3))
    assert positional_disentanglement(messages, meanings) < 0.02
    assert bag_of_symbols_disentanglement(messages, meanings) < 0.02


def test_posdis_degenerate_no_varying_position_is_zero(grid):
    constant = np.full((len(grid), 2), 3)
    assert positional_disentanglement(constant, grid) == 0.0
    assert bag_of_symbols_disentanglement(constant, grid) == 0.0


def test_posdis_one_attribute_uses_zero_as_second_best():
    meanings = np.array([0, 1, 2, 3] * 10)
    # position 0 copies the attribute (score 1), position 1 is its parity (I/H = 1)
    messages = np.stack([meanings, meanings % 2], axis=1)
    assert positional_disentanglement(messages, meanings) == pytest.approx(1.0)
    # a position independent of the single attribute scores 0
    noise = np.stack([meanings, np.tile([0, 0, 1, 1, 1, 1, 0, 0], 5)], axis=1)
    assert positional_disentanglement(noise, meanings) == pytest.approx(0.5)


def test_posdis_constant_position_is_left_out(grid):
    messages = np.concatenate([grid, np.zeros((len(grid), 1), dtype=int)], axis=1)
    assert positional_disentanglement(messages, grid) == pytest.approx(1.0)


def test_bosdis_ignores_symbol_order(grid):
    messages = _disjoint_symbols(grid)
    rng = np.random.default_rng(3)
    scrambled = np.array([rng.permutation(row) for row in messages])
    assert bag_of_symbols_disentanglement(scrambled, grid) == pytest.approx(1.0)
    assert positional_disentanglement(scrambled, grid) < 0.5


def test_bosdis_vocab_size_validated(grid):
    with pytest.raises(ValueError, match="symbol id 11 >= vocab_size=5"):
        bag_of_symbols_disentanglement(_disjoint_symbols(grid), grid, vocab_size=5)
    padded = bag_of_symbols_disentanglement(
        _disjoint_symbols(grid), grid, vocab_size=20
    )
    assert padded == pytest.approx(1.0)


# ------------------------------------------------------- context independence


def _ci_published_port(messages, meanings, epsilon=1e-7):
    """Context independence as the public implementation later papers report
    computes it (Korbak et al. 2020's ContextIndependence), written from its
    description with plain loops: the input is a meaning -> message table (each
    distinct meaning once); concepts are (attribute, value) pairs; a concept-by-
    symbol matrix starts at epsilon in every cell and gains one count per token
    of the message of every meaning that has the concept; v_c is the symbol with
    the largest count in c's row (first on ties); the score is the mean over
    concepts of (M[c, v_c] / row sum) * (M[c, v_c] / column sum)."""
    table = {}
    for meaning, message in zip(np.atleast_2d(np.asarray(meanings).T).T, messages):
        table[tuple(meaning.tolist())] = [int(s) for s in message]
    concepts = sorted({(a, v) for meaning in table for a, v in enumerate(meaning)})
    symbols = sorted({s for message in table.values() for s in message})
    m = {(c, v): epsilon for c in concepts for v in symbols}
    for meaning, message in table.items():
        for a, value in enumerate(meaning):
            for v in message:
                m[(a, value), v] += 1
    column = {v: sum(m[c, v] for c in concepts) for v in symbols}
    scores = []
    for c in concepts:
        best = symbols[0]
        for v in symbols:
            if m[c, v] > m[c, best]:
                best = v
        row = sum(m[c, v] for v in symbols)
        scores.append((m[c, best] / row) * (m[c, best] / column[best]))
    return sum(scores) / len(scores)


def test_context_independence_published_perfect_code_is_one_over_a_times_l(grid):
    # 3 attributes, length 3, one symbol per (attribute, value): 1 / 9
    assert context_independence(_disjoint_symbols(grid), grid) == pytest.approx(1 / 9)
    two = grid[:, :2]
    assert context_independence(_disjoint_symbols(two), two) == pytest.approx(1 / 4)


@pytest.mark.parametrize("seed", range(12))
def test_context_independence_published_matches_port(seed):
    # Deterministic codes (each meaning once, as the public code's table) over
    # random attribute grids; half partly compositional. The port's 1e-7 cell
    # smoothing bounds the difference.
    rng = np.random.default_rng(seed)
    length, n_attr = rng.integers(1, 5), rng.integers(1, 4)
    values = rng.integers(1, 5, n_attr)
    grid = np.stack(np.meshgrid(*[np.arange(v) for v in values]), -1)
    meanings = grid.reshape(-1, n_attr)
    messages = rng.integers(0, rng.integers(1, 7), (len(meanings), length))
    if seed % 2:  # partly compositional
        messages[:, 0] = meanings[:, 0]
    assert context_independence(messages, meanings) == pytest.approx(
        _ci_published_port(messages, meanings), abs=1e-6
    )


def test_context_independence_published_picks_the_most_frequent_symbol():
    # Concept a0=0 appears with symbol 0 twice and symbol 1 once; symbol 1 is
    # only ever seen with a0=0. The public code takes v_c = 0 (row argmax:
    # p(v|c) = 2/3, p(c|v) = 2/3) where argmax p(c|v) would take v_c = 1.
    meanings = np.array([[0], [0], [0], [1]])
    messages = np.array([[0], [0], [1], [0]])
    # a0=0: (2/3)(2/3); a0=1: v=0, p(v|c) = 1, p(c|v) = 1/3
    expected = (4 / 9 + 1 / 3) / 2
    assert context_independence(messages, meanings) == pytest.approx(expected)


def test_context_independence_presence_variant_disjoint_symbols_is_one(grid):
    assert context_independence(
        _disjoint_symbols(grid), grid, variant="presence"
    ) == pytest.approx(1.0)


def test_context_independence_shared_symbols_is_lower(grid):
    assert context_independence(grid, grid, variant="presence") < 0.5
    assert context_independence(grid, grid) < 1 / 9


def test_context_independence_hand_computed():
    meanings = np.array([[0], [0], [1], [1]])
    messages = np.array([[0], [0], [0], [1]])
    # concept a0=0: v=0 in both (p(c|v)=2/3, p(v|c)=1) → 2/3;
    # concept a0=1: "presence" takes argmax p(c|v) → v=1 (p(c|v)=1, p(v|c)=1/2)
    # → 1/2; "bogin" takes the row argmax, a tie of v=0 and v=1 → lowest id 0
    # (p(v|c)=1/2, p(c|v)=1/3) → 1/6.
    assert context_independence(
        messages, meanings, variant="presence"
    ) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert context_independence(messages, meanings) == pytest.approx(
        (2 / 3 + 1 / 6) / 2
    )


def test_context_independence_degenerate_constant_meaning():
    meanings = np.zeros((6, 1))
    presence = {"variant": "presence"}
    assert (
        context_independence([[0, 1]] * 3 + [[0, 2]] * 3, meanings, **presence) == 1.0
    )
    assert context_independence([[0]] * 3 + [[1]] * 3, meanings, **presence) == 0.5
    # published: v_c = symbol 0 (p(c|v) = 1 for every symbol, first id), p(v|c) = 1/2
    assert context_independence([[0, 1]] * 3 + [[0, 2]] * 3, meanings) == 0.5


def test_context_independence_errors():
    with pytest.raises(ValueError, match="meanings has 2 rows but there are 1"):
        context_independence([[0]], [[0], [1]])
    with pytest.raises(ValueError, match="negative symbol id"):
        context_independence([[-1]], [[0]])
    with pytest.raises(ValueError, match="variant must be one of"):
        context_independence([[0]], [[0]], variant="egg")


# ------------------------------------------------------------- huge symbol ids


def _peak_mib(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        value = fn()
        return value, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_symbol_ids_near_1e9_are_reindexed_not_allocated(grid):
    """Ids near 1e9 without vocab_size: same values as small ids, small memory."""
    messages = _disjoint_symbols(grid)
    huge = messages * 7 + 999_999_000
    for fn in (context_independence, bag_of_symbols_disentanglement):
        (value, peak) = _peak_mib(lambda fn=fn: fn(huge, grid))
        assert value == pytest.approx(fn(messages, grid))
        assert peak < 64
    (report, peak) = _peak_mib(lambda: message_report(huge, grid, n_chance=2))
    assert peak < 64
    small = message_report(messages, grid, n_chance=2)
    assert report.scalars() == pytest.approx(small.scalars())
    assert context_independence(huge, grid, variant="presence") == pytest.approx(1.0)


# --------------------------------------------------------------------- eos_id


def test_bosdis_eos_id_drops_that_symbol(grid):
    rng = np.random.default_rng(0)
    messages = _disjoint_symbols(grid)
    eos = 99
    padded = np.concatenate(
        [messages, np.where(rng.random((len(grid), 2)) < 0.5, eos, 98)], axis=1
    )
    # the eos count varies independently of the meaning: it drags bosdis down
    assert bag_of_symbols_disentanglement(padded, grid) < 0.9
    # dropping it leaves symbol 98, whose count mirrors eos's: drop both to get 1
    ones = np.where(padded == 98, eos, padded)
    assert bag_of_symbols_disentanglement(ones, grid, eos_id=eos) == pytest.approx(1.0)
    assert bag_of_symbols_disentanglement(messages, grid, eos_id=12345) == (
        pytest.approx(1.0)
    )
    with pytest.raises(ValueError, match="eos_id must be >= 0"):
        bag_of_symbols_disentanglement(messages, grid, eos_id=-1)
    with pytest.raises(TypeError, match="eos_id must be an int"):
        bag_of_symbols_disentanglement(messages, grid, eos_id=1.0)


# --------------------------------------------------------------------- report


def test_message_report_is_a_frozen_record_with_json_dict(grid):
    report = message_report(grid, grid, vocab_size=4)
    assert isinstance(report, MessageReport)
    with pytest.raises(AttributeError):
        report.topsim = 0.0
    d = report.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(MessageReport)}
    assert json.loads(json.dumps(d)) == d
    assert isinstance(d["attribute_mi_bits"], list) and len(d["attribute_mi_bits"]) == 3
    assert report.distinct_messages == 64
    assert report.posdis == pytest.approx(1.0)
    assert report.mi_plugin_bits == pytest.approx(6.0)
    assert report.symbol_perplexity == pytest.approx(4.0)
    assert report.context_independence == pytest.approx(_ci_published_port(grid, grid))
    assert not report.degenerate
    scalars = report.scalars()
    assert scalars["attribute_mi_bits/2"] == d["attribute_mi_bits"][2]
    assert all(isinstance(v, float) for v in scalars.values())


def test_message_report_headline_mi_on_a_deterministic_code():
    """Closed form: MI = H(f(meaning)); meanings are 2 attributes of 16 values."""
    rng = np.random.default_rng(0)
    f = rng.permutation(256)  # bijective code over 256 meanings: MI = 8 bits
    m = rng.integers(0, 256, 2000)
    messages = np.stack([f[m] // 16, f[m] % 16], axis=1)
    meanings = np.stack([m // 16, m % 16], axis=1)
    report = message_report(messages, meanings)
    assert report.message_meaning_mi_bits == pytest.approx(8.0, abs=0.1)
    assert report.mi_p_value < 0.01 and not report.mi_undersampled
    assert report.mi_null_mean_bits < report.mi_null_p95_bits < report.mi_plugin_bits
    # each attribute is a function of the message: 4 bits each
    assert report.attribute_mi_bits == pytest.approx((4.0, 4.0), abs=0.05)
    assert report.attribute_mi_sum_bits == pytest.approx(8.0, abs=0.1)


def test_message_report_chance_floors(grid):
    rng = np.random.default_rng(1)
    random_code = rng.integers(0, 4, (len(grid) * 8, 3))
    meanings = np.tile(grid, (8, 1))
    r = message_report(random_code, meanings)
    for name in ("topsim", "posdis", "bosdis", "context_independence"):
        value, floor = getattr(r, name), getattr(r, f"{name}_chance")
        assert abs(value - floor) < 0.05, name
    perfect = message_report(_disjoint_symbols(meanings), meanings)
    for name in ("topsim", "posdis", "bosdis"):
        assert getattr(perfect, name) > getattr(perfect, f"{name}_chance") + 0.5
    assert perfect.context_independence > 2 * perfect.context_independence_chance


def test_message_report_degenerate_channel_is_flagged(grid):
    collapsed = message_report(np.zeros((len(grid), 2), dtype=int), grid)
    assert collapsed.degenerate and collapsed.distinct_messages == 1
    assert collapsed.message_meaning_mi_bits == 0.0 and collapsed.topsim == 0.0
    constant = message_report(grid, np.zeros(len(grid)))
    assert constant.degenerate
    assert not message_report(grid, grid).degenerate


def test_message_report_single_message_degenerate():
    report = message_report([[1, 2]], [[0, 0]])
    assert report.topsim == 0.0 and report.topsim_chance == 0.0
    assert report.posdis == 0.0
    assert report.symbol_entropy_bits == 1.0
    assert report.message_perplexity == 1.0
    assert report.degenerate


def test_message_report_errors():
    with pytest.raises(ValueError, match="2-D"):
        message_report([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="meanings contains NaN"):
        message_report([[1], [2]], [0.0, np.nan])
    with pytest.raises(ValueError, match="meanings has 1 rows but there are 2"):
        message_report([[1], [2]], [0])
    with pytest.raises(ValueError, match="n_chance must be >= 1"):
        message_report([[1], [2]], [0, 1], n_chance=0)
