"""Tests for analysis.symbols: counts, entropy, MI estimators, power-law / Zipf fits."""

import contextlib
import io
import warnings

import numpy as np
import pytest

from analysis.symbols import (
    PowerLawFit,
    ZipfFit,
    check_labels,
    check_messages,
    check_symbol_counts,
    entropy,
    mutual_information,
    perplexity,
    power_law_fit,
    rank_frequency,
    symbol_counts,
    zipf_fit,
)

# ----------------------------------------------------------------------- counts


def test_symbol_counts_by_symbol_id_with_unused_symbols():
    counts = symbol_counts(np.array([[0, 2], [2, 2]]), vocab_size=4)
    assert counts.tolist() == [1, 0, 3, 0]


def test_symbol_counts_default_vocab_is_max_plus_one():
    assert symbol_counts([[1, 1]]).tolist() == [0, 2]


def test_symbol_counts_messages_sorted_descending_ties_lexicographic():
    msgs = [[1, 0], [0, 1], [1, 0], [0, 1], [2, 2], [1, 0]]
    assert symbol_counts(msgs, unit="message").tolist() == [3, 2, 1]


def test_symbol_counts_accepts_torch_tensor():
    torch = pytest.importorskip("torch")
    counts = symbol_counts(torch.tensor([[0, 1], [1, 1]]), vocab_size=2)
    assert counts.tolist() == [1, 3]


def test_symbol_counts_unknown_unit():
    with pytest.raises(ValueError, match="unit must be"):
        symbol_counts([[0]], unit="token")


# ---------------------------------------------------------------- check helpers


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        (np.zeros(3, dtype=int), r"2-D .* got shape \(3,\)"),
        (np.zeros((0, 2), dtype=int), r"empty: shape \(0, 2\)"),
        (np.zeros((2, 0), dtype=int), r"empty: shape \(2, 0\)"),
        (np.array([[0.0, np.nan]]), "NaN"),
        (np.array([[0.5, 1.0]]), "non-integer"),
        (np.array([["a", "b"]]), "integer dtype, got dtype <U1"),
        (np.array([[0, -1]]), "negative symbol id -1"),
    ],
)
def test_check_messages_errors(messages, match):
    with pytest.raises(ValueError, match=match):
        check_messages(messages)


def test_check_messages_vocab_bound_and_integral_floats():
    with pytest.raises(ValueError, match="symbol id 3 >= vocab_size=3"):
        check_messages([[0, 3]], vocab_size=3)
    out = check_messages(np.array([[1.0, 2.0]]))
    assert out.dtype == np.int64 and out.tolist() == [[1, 2]]


def test_check_messages_vocab_size_type():
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        check_messages([[0]], vocab_size=2.0)
    with pytest.raises(ValueError, match="vocab_size must be >= 1, got 0"):
        check_messages([[0]], vocab_size=0)


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        ([[1, 2]], r"1-D, got shape \(1, 2\)"),
        ([], "empty"),
        ([1.0, np.nan], "NaN"),
        ([1, -2], "negative value -2"),
        ([0, 0], "sum to zero"),
        (["a"], "real numbers"),
        ([1 + 2j], "real numbers, got dtype complex128"),
    ],
)
def test_check_symbol_counts_errors(counts, match):
    with pytest.raises(ValueError, match=match):
        check_symbol_counts(counts)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((2, 2, 2)), r"1-D or 2-D, got shape \(2, 2, 2\)"),
        ([], "empty"),
        ([0.0, np.nan], "NaN"),
        (np.array([{}, {}], dtype=object), "dtype object"),
    ],
)
def test_check_labels_errors(x, match):
    with pytest.raises(ValueError, match=match):
        check_labels(x)


def test_check_labels_rows_and_strings():
    assert check_labels([[1, 2], [3, 4], [1, 2]]).tolist() == [0, 1, 0]
    assert check_labels(["b", "a", "b"]).tolist() == [1, 0, 1]
    rows = np.array([[0.5, 1.0], [0.5, 1.0], [0.0, 1.0]])
    assert check_labels(rows).tolist() == [1, 1, 0]


def test_row_ids_large_radix_falls_back_to_row_unique():
    big = np.array([[0, 2**40], [2**40, 0], [0, 2**40]] * 2)
    wide = np.concatenate([big] * 2, axis=1)  # radix product > 2**62
    ids = check_labels(wide)
    assert ids.tolist() == [0, 1, 0, 0, 1, 0]


# ----------------------------------------------------------- entropy/perplexity


def test_entropy_uniform_and_base():
    assert entropy([1, 1, 1, 1]) == 2.0
    assert entropy([1, 1], base=np.e) == pytest.approx(np.log(2))


def test_entropy_degenerate_single_type_is_zero_not_negative_zero():
    h = entropy([0, 7, 0])
    assert h == 0.0 and np.copysign(1.0, h) == 1.0


def test_entropy_bad_base():
    with pytest.raises(ValueError, match="base must be positive and != 1, got 1"):
        entropy([1, 2], base=1)
    with pytest.raises(TypeError, match="base must be a number"):
        entropy([1, 2], base="2")


def test_perplexity_degenerate_and_uniform():
    assert perplexity([9]) == 1.0
    assert perplexity([3, 3, 3]) == pytest.approx(3.0)


def test_rank_frequency_drops_zeros_and_normalises():
    ranks, freqs = rank_frequency([0, 2, 6, 2])
    assert ranks.tolist() == [1, 2, 3]
    assert freqs.tolist() == [0.6, 0.2, 0.2]


# ------------------------------------------------------------------------- MI


@pytest.fixture
def biased_independent_pair():
    """1,000 samples, 600 distinct x values, 8 y values, independent."""
    rng = np.random.default_rng(0)
    x = rng.permutation(np.concatenate([np.arange(600), rng.integers(0, 600, 400)]))
    y = rng.integers(0, 8, 1000)
    return x, y


def test_mi_plugin_bias_is_large(biased_independent_pair):
    x, y = biased_independent_pair
    assert np.unique(x).size == 600
    assert 1.9 < mutual_information(x, y) < 2.5  # ≈2.2 bits of pure bias


def test_mi_shuffle_removes_bias(biased_independent_pair):
    x, y = biased_independent_pair
    assert abs(mutual_information(x, y, correction="shuffle")) < 0.05


def test_mi_miller_madow_lowers_but_under_corrects(biased_independent_pair):
    x, y = biased_independent_pair
    plugin = mutual_information(x, y)
    mm = mutual_information(x, y, correction="miller_madow")
    assert mm < plugin
    assert mm > 1.0  # still most of the bias


def test_mi_bijection_equals_entropy():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 10, 2000)
    y = (x * 7 + 3) % 10  # bijective relabelling
    assert mutual_information(x, y) == pytest.approx(entropy(np.bincount(x)))


def test_mi_rows_are_whole_values():
    x = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])
    assert mutual_information(x, [5, 6, 5, 6]) == pytest.approx(1.0)


def test_mi_base_nats():
    x = [0, 1, 0, 1]
    assert mutual_information(x, x, base=np.e) == pytest.approx(np.log(2))


def test_mi_degenerate_constant_is_zero_for_every_correction():
    for correction in ("none", "miller_madow", "shuffle"):
        assert mutual_information([3, 3, 3], [0, 1, 2], correction=correction) == 0.0


def test_mi_shuffle_is_seeded():
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 50, 300), rng.integers(0, 5, 300)
    a = mutual_information(x, y, correction="shuffle", seed=3)
    b = mutual_information(x, y, correction="shuffle", seed=3)
    assert a == b


def test_mi_shuffle_table_and_permutation_paths_agree_in_law():
    """Few-value (hypergeometric table) and many-value (permutation) shuffle nulls."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, 20000)
    y = rng.integers(0, 3, 20000)
    # 3x3 values: table sampling; both estimates of an independent pair are ≈0.
    assert abs(mutual_information(x, y, correction="shuffle")) < 2e-3
    x2 = rng.integers(0, 5000, 4000)
    y2 = rng.integers(0, 5000, 4000)
    assert abs(mutual_information(x2, y2, correction="shuffle", n_shuffles=20)) < 0.05


def test_mi_errors():
    with pytest.raises(ValueError, match="same number of samples, got 3 and 2"):
        mutual_information([0, 1, 0], [0, 1])
    with pytest.raises(ValueError, match="correction must be"):
        mutual_information([0, 1], [0, 1], correction="jackknife")
    with pytest.raises(TypeError, match="n_shuffles must be an int"):
        mutual_information([0, 1], [0, 1], correction="shuffle", n_shuffles=1.5)
    with pytest.raises(ValueError, match="y contains NaN"):
        mutual_information([0, 1], [0.0, np.nan])


# ------------------------------------------------------------------ power law


def _silent_powerlaw_fit(values):
    import powerlaw

    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(values, discrete=True)
        comps = {
            name: fit.distribution_compare("power_law", name, normalized_ratio=True)
            for name in ("lognormal", "exponential", "truncated_power_law")
        }
    return fit, comps


@pytest.mark.parametrize("a", [1.8, 2.0, 2.5])
def test_power_law_alpha_recovered(a):
    values = np.random.default_rng(0).zipf(a, 5000)
    fit = power_law_fit(values)
    assert isinstance(fit, PowerLawFit)
    assert abs(fit.alpha - a) < 0.1
    assert fit.n == 5000 and 0 < fit.n_tail <= 5000
    assert 0 <= fit.ks_distance < 1 and fit.sigma > 0


def test_power_law_comparisons_match_powerlaw_package():
    values = np.random.default_rng(0).zipf(2.0, 5000)
    ours = power_law_fit(values)
    ref, comps = _silent_powerlaw_fit(values)
    assert ours.alpha == pytest.approx(ref.power_law.alpha)
    assert ours.xmin == ref.xmin
    for name, (r, p) in comps.items():
        assert ours.comparisons[name] == pytest.approx((r, p))


def test_power_law_is_silent(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any leaked warning fails the test
        power_law_fit(np.random.default_rng(1).zipf(2.2, 500))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_power_law_fixed_xmin_and_zeros_dropped():
    values = np.concatenate([[0, 0], np.random.default_rng(2).zipf(2.0, 3000)])
    fit = power_law_fit(values, xmin=2, alternatives=("exponential",))
    assert fit.xmin == 2.0
    assert fit.n == 3000
    assert fit.n_tail == int((values >= 2).sum())


def test_power_law_alternatives_subset():
    values = np.random.default_rng(0).zipf(2.0, 2000)
    fit = power_law_fit(values, alternatives=("exponential",))
    assert set(fit.comparisons) == {"exponential"}
    assert fit.comparisons["exponential"][0] > 0  # power law preferred
    with pytest.raises(ValueError, match="alternatives must be a tuple drawn from"):
        power_law_fit(values, alternatives=("weibull",))
    with pytest.raises(ValueError, match="alternatives must be a tuple drawn from"):
        power_law_fit(values, alternatives="lognormal")


def test_power_law_result_is_frozen():
    fit = power_law_fit(np.random.default_rng(3).zipf(2.0, 500))
    with pytest.raises(AttributeError):
        fit.alpha = 3.0


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        ([5, 5, 5], {}, "at least 2 distinct positive values, got 1"),
        ([0, 0, 3], {}, "at least 2 distinct positive values, got 1"),
        ([], {}, "empty"),
        ([[1, 2]], {}, r"1-D, got shape \(1, 2\)"),
        ([1, np.nan], {}, "NaN"),
        ([1, -3], {}, "negative value -3"),
        ([1.5, 2.0], {}, "integers when discrete=True"),
        ([1, 2, 3], {"xmin": 0}, "xmin must be positive"),
        ([1, 2, 3], {"xmin": 3}, "fewer than 2 distinct tail values"),
    ],
)
def test_power_law_errors(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        power_law_fit(values, **kwargs)


# ------------------------------------------------------------------------ Zipf


def test_zipf_exact_law_recovered_by_mle_and_ols():
    counts = 1e6 * np.arange(1, 101, dtype=float) ** -1.3
    fit = zipf_fit(counts)
    assert isinstance(fit, ZipfFit)
    assert fit.s == pytest.approx(1.3, abs=1e-6)
    assert fit.ols_slope_naive == pytest.approx(1.3, abs=1e-6)
    assert fit.n_types == 100


def test_zipf_mle_recovers_sampled_exponent_with_stderr():
    rng = np.random.default_rng(5)
    n_types, s = 200, 1.1
    p = np.arange(1, n_types + 1, dtype=float) ** -s
    tokens = rng.choice(n_types, size=50000, p=p / p.sum())
    fit = zipf_fit(np.bincount(tokens, minlength=n_types))
    assert abs(fit.s - s) < 4 * fit.stderr + 0.02
    assert 0 < fit.stderr < 0.05


def test_zipf_degenerate_equal_counts_is_zero():
    fit = zipf_fit([4, 4, 4, 4])
    assert fit.s == 0.0 and fit.ols_slope_naive == pytest.approx(0.0, abs=1e-12)


def test_zipf_order_invariant():
    assert zipf_fit([1, 10, 3]).s == zipf_fit([10, 3, 1]).s


def test_zipf_errors():
    with pytest.raises(ValueError, match="at least 2 types with non-zero count, got 1"):
        zipf_fit([0, 5, 0])
    with pytest.raises(ValueError, match="sum to zero"):
        zipf_fit([0, 0])
