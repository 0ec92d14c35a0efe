"""Tests for analysis.symbols: counts, entropy, MI estimators, power-law / Zipf fits."""

import contextlib
import dataclasses
import io
import warnings

import numpy as np
import pytest

from analysis.symbols import (
    DEFAULT_MI_ESTIMATOR,
    MITest,
    PowerLawFit,
    ZipfFit,
    _power_law_sampler,
    _power_law_scan,
    attribute_mutual_information,
    check_labels,
    check_messages,
    check_symbol_counts,
    entropy,
    mi_test,
    mutual_information,
    perplexity,
    power_law_fit,
    power_law_verdict,
    rank_frequency,
    symbol_counts,
    zipf_fit,
)
from analysis.validation import check_value_ids

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
def test_check_value_ids_errors(x, match):
    with pytest.raises(ValueError, match=match):
        check_value_ids(x)


def test_check_value_ids_rows_and_strings():
    assert check_value_ids([[1, 2], [3, 4], [1, 2]]).tolist() == [0, 1, 0]
    assert check_value_ids(["b", "a", "b"]).tolist() == [1, 0, 1]
    rows = np.array([[0.5, 1.0], [0.5, 1.0], [0.0, 1.0]])
    assert check_value_ids(rows).tolist() == [1, 1, 0]


def test_check_labels_is_a_deprecated_alias():
    with pytest.warns(DeprecationWarning, match="check_value_ids"):
        assert check_labels([[1, 2], [1, 2]]).tolist() == [0, 0]


def test_row_ids_large_radix_falls_back_to_row_unique():
    big = np.array([[0, 2**40], [2**40, 0], [0, 2**40]] * 2)
    wide = np.concatenate([big] * 2, axis=1)  # radix product > 2**62
    ids = check_value_ids(wide)
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
# Truths are closed forms: a code f over uniform meanings has MI = H(f(meaning)).


def _code(k, n_meanings=256, seed=0):
    """A fixed map of n_meanings onto all k messages, and its true MI (bits)."""
    rng = np.random.default_rng(seed)
    f = rng.permutation(
        np.concatenate([np.arange(k), rng.integers(0, k, n_meanings - k)])
    )
    p = np.bincount(f, minlength=k) / n_meanings
    return f, float(-(p * np.log2(p)).sum())


@pytest.fixture
def biased_independent_pair():
    """1,000 samples, 600 distinct x values, 8 y values, independent."""
    rng = np.random.default_rng(0)
    x = rng.permutation(np.concatenate([np.arange(600), rng.integers(0, 600, 400)]))
    y = rng.integers(0, 8, 1000)
    return x, y


def test_mi_default_is_the_jackknife():
    assert DEFAULT_MI_ESTIMATOR == "jackknife"
    x, y = np.arange(10) % 3, np.arange(10) % 2
    assert mutual_information(x, y) == mutual_information(x, y, correction="jackknife")


def test_mi_plugin_bias_is_large(biased_independent_pair):
    x, y = biased_independent_pair
    assert np.unique(x).size == 600
    assert 1.9 < mutual_information(x, y, correction="plugin") < 2.5  # pure bias


def test_mi_shuffle_baseline_is_zero_for_independent_data(biased_independent_pair):
    x, y = biased_independent_pair
    assert abs(mutual_information(x, y, correction="shuffle")) < 0.05


def test_mi_shuffle_removes_real_information_from_a_code():
    """The permutation mean is the bias under independence, not a correction."""
    f, truth = _code(131)
    meanings = np.random.default_rng(1).integers(0, 256, 2000)
    shuffled = mutual_information(f[meanings], meanings, correction="shuffle")
    assert shuffled < 0.5 * truth  # more than half of 6.9 bits removed
    assert abs(mutual_information(f[meanings], meanings) - truth) < 0.1


def test_mi_miller_madow_lowers_but_under_corrects(biased_independent_pair):
    x, y = biased_independent_pair
    plugin = mutual_information(x, y, correction="plugin")
    mm = mutual_information(x, y, correction="miller_madow")
    assert mm < plugin
    assert mm > 1.0  # still most of the bias


def test_mi_jackknife_equals_leave_one_out_by_definition():
    """Closed form over cells == n·I - (n-1)·mean of the n leave-one-out values."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 7, 60)
    y = (x + rng.integers(0, 3, 60)) % 9
    n = x.size
    full = mutual_information(x, y, correction="plugin")
    loo = [
        mutual_information(np.delete(x, i), np.delete(y, i), correction="plugin")
        for i in range(n)
    ]
    expected = n * full - (n - 1) * np.mean(loo)
    assert mutual_information(x, y, correction="jackknife") == pytest.approx(
        expected, abs=1e-10
    )


@pytest.mark.parametrize("k", [16, 131, 256])
@pytest.mark.parametrize("n", [200, 500, 2000])
def test_mi_default_within_a_quarter_bit_on_deterministic_codes(k, n):
    f, truth = _code(k)
    rng = np.random.default_rng([k, n])
    values = [mutual_information(f[m], m) for m in rng.integers(0, 256, (20, n))]
    assert abs(np.mean(values) - truth) < 0.25
    # and no worse than plug-in, whose bias is downward here
    plugin = [
        mutual_information(f[m], m, correction="plugin")
        for m in np.random.default_rng([k, n]).integers(0, 256, (20, n))
    ]
    assert abs(np.mean(values) - truth) <= abs(np.mean(plugin) - truth) + 1e-9


def test_mi_headline_stable_across_sample_sizes_on_a_deterministic_code():
    """A code over 255 meanings read at 500 and 2,000 samples: < 0.25 bits apart."""
    rng = np.random.default_rng(7)
    f = rng.integers(0, 2**16, 255)  # 255 meanings, (almost surely) 255 messages
    for seed in range(5):
        m = np.random.default_rng(seed).integers(0, 255, 2000)
        small, large = (
            mutual_information(f[m[:500]], m[:500]),
            mutual_information(f[m], m),
        )
        assert abs(small - large) < 0.25


def test_mi_noisy_code_against_closed_form():
    """message = meaning (8 values) w.p. 0.75, else uniform: well sampled."""
    k, p = 8, 0.75
    joint = np.full((k, k), (1 - p) / k) + p * np.eye(k)
    joint /= k
    truth = float((joint * np.log2(joint * k * k)).sum())
    rng = np.random.default_rng(3)
    m = rng.integers(0, k, 5000)
    msg = np.where(rng.random(5000) < p, m, rng.integers(0, k, 5000))
    assert mutual_information(msg, m) == pytest.approx(truth, abs=0.03)


def test_mi_bijection_equals_entropy():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 10, 2000)
    y = (x * 7 + 3) % 10  # bijective relabelling
    assert mutual_information(x, y, correction="plugin") == pytest.approx(
        entropy(np.bincount(x))
    )


def test_mi_rows_are_whole_values():
    x = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])
    assert mutual_information(x, [5, 6, 5, 6], correction="plugin") == pytest.approx(
        1.0
    )


def test_mi_base_nats():
    x = [0, 1, 0, 1]
    assert mutual_information(x, x, base=np.e, correction="plugin") == pytest.approx(
        np.log(2)
    )


def test_mi_degenerate_constant_is_zero_for_every_correction():
    for correction in ("jackknife", "plugin", "miller_madow", "shuffle"):
        assert mutual_information([3, 3, 3], [0, 1, 2], correction=correction) == 0.0


def test_mi_none_is_a_deprecated_spelling_of_plugin():
    with pytest.warns(DeprecationWarning, match="plugin"):
        assert mutual_information([0, 1], [0, 1], correction="none") == 1.0


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
    with pytest.raises(ValueError, match="messages has 3 and meanings has 2"):
        mutual_information([0, 1, 0], [0, 1])
    with pytest.raises(ValueError, match="correction must be one of"):
        mutual_information([0, 1], [0, 1], correction="nsb")
    with pytest.raises(TypeError, match="n_shuffles must be an int"):
        mutual_information([0, 1], [0, 1], correction="shuffle", n_shuffles=1.5)
    with pytest.raises(ValueError, match="n_shuffles must be >= 1"):
        mutual_information([0, 1], [0, 1], n_shuffles=0)
    with pytest.raises(ValueError, match="meanings contains NaN"):
        mutual_information([0, 1], [0.0, np.nan])
    with pytest.raises(ValueError, match="messages is empty"):
        mutual_information([], [])


# ---------------------------------------------------------------- permutation test


def test_mi_test_p_values_uniform_under_independence():
    rng = np.random.default_rng(11)
    p = np.array(
        [
            mi_test(
                rng.integers(0, 6, 200),
                rng.integers(0, 6, 200),
                n_permutations=99,
                seed=int(s),
            ).p_value
            for s in range(300)
        ]
    )
    assert 0.02 <= np.mean(p <= 0.05) <= 0.09  # about 5%
    assert 0.05 <= np.mean(p <= 0.1) <= 0.16
    assert 0.4 <= np.mean(p <= 0.5) <= 0.6


def test_mi_test_deterministic_code_is_significant_at_n_200():
    f, truth = _code(131)
    meanings = np.random.default_rng(5).integers(0, 256, 200)
    t = mi_test(f[meanings], meanings)
    assert isinstance(t, MITest)
    assert t.p_value < 0.01
    assert t.p_value == pytest.approx(1 / 201)  # no re-pairing reaches the data
    assert t.n == 200 and t.undersampled  # 200 samples over ~140 cells
    assert abs(t.estimate_bits - truth) < 0.5
    assert t.plugin_bits == pytest.approx(
        mutual_information(f[meanings], meanings, correction="plugin")
    )
    assert t.null_mean_bits < t.null_p95_bits < t.plugin_bits


def test_mi_test_null_is_the_shuffle_baseline_and_fields():
    rng = np.random.default_rng(6)
    x, y = rng.integers(0, 20, 3000), rng.integers(0, 4, 3000)
    t = mi_test(x, y, n_permutations=100, seed=3)
    shuffled = mutual_information(x, y, correction="shuffle", n_shuffles=100, seed=3)
    assert t.plugin_bits - t.null_mean_bits == pytest.approx(shuffled)
    assert t.n_joint_types == np.unique(x * 4 + y).size == 80
    assert not t.undersampled  # 3,000 samples over 80 cells
    assert t.p_value > 0.01
    with pytest.raises(AttributeError):
        t.p_value = 0.0


def test_mi_test_undersampled_rule_counts_singleton_cells():
    # 100 samples in 100 distinct cells: every sample is alone in its cell.
    t = mi_test(np.arange(100), np.arange(100) % 7, n_permutations=10)
    assert t.undersampled and t.n_joint_types == 100
    # 95 samples in one repeated cell pair and 5 singletons: exactly 5% → not flagged
    x = np.concatenate([np.repeat([0, 1], [50, 45]), np.arange(2, 7)])
    assert not mi_test(x, x % 2, n_permutations=10).undersampled


def test_mi_test_degenerate_and_errors():
    t = mi_test([1, 1, 1], [0, 1, 2], n_permutations=5)
    assert (t.estimate_bits, t.plugin_bits, t.p_value) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="n_permutations must be >= 1"):
        mi_test([0, 1], [0, 1], n_permutations=0)
    with pytest.raises(TypeError, match="n_permutations must be an int"):
        mi_test([0, 1], [0, 1], n_permutations=2.5)
    with pytest.raises(ValueError, match="same number of samples"):
        mi_test([0, 1], [0, 1, 1])


# ------------------------------------------------------------- per attribute


def test_attribute_mi_matches_closed_form():
    """message = attribute 0 (4 values); attribute 1 independent: 2 and 0 bits."""
    rng = np.random.default_rng(8)
    meanings = rng.integers(0, 4, (4000, 2))
    messages = np.stack([meanings[:, 0], rng.integers(0, 3, 4000)], axis=1)
    # messages: 12 values; attribute 0 is a function of the message
    a0, a1 = attribute_mutual_information(messages, meanings)
    assert a0 == pytest.approx(2.0, abs=0.02)
    assert abs(a1) < 0.02
    assert attribute_mutual_information(messages, meanings[:, 0]) == pytest.approx(
        (a0,)
    )


def test_attribute_mi_errors():
    with pytest.raises(ValueError, match="meanings has 2 rows but there are 3"):
        attribute_mutual_information([[0], [1], [0]], [[0], [1]])


# ------------------------------------------------------------------ power law


def _silent_powerlaw_fit(values):
    import powerlaw

    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(values, discrete=True, estimate_discrete=False)
        comps = {
            name: fit.distribution_compare("power_law", name, normalized_ratio=True)
            for name in ("lognormal", "exponential", "truncated_power_law")
        }
    return fit, comps


@pytest.mark.parametrize("a", [1.8, 2.0, 2.5])
def test_power_law_alpha_recovered(a):
    values = np.random.default_rng(0).zipf(a, 5000)
    fit = power_law_fit(values, gof_bootstrap=None)
    assert isinstance(fit, PowerLawFit)
    assert abs(fit.alpha - a) < 0.1
    assert fit.n == 5000 and 0 < fit.n_tail <= 5000
    assert 0 <= fit.ks_distance < 1 and fit.sigma > 0


def test_power_law_comparisons_match_powerlaw_package():
    values = np.random.default_rng(0).zipf(2.0, 5000)
    ours = power_law_fit(values, gof_bootstrap=None)
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
    fit = power_law_fit(values, xmin=2, alternatives=("exponential",), gof_bootstrap=20)
    assert 0.0 <= fit.gof_p <= 1.0 and fit.verdict is None  # no lognormal test
    assert fit.xmin == 2.0
    assert fit.n == 3000
    assert fit.n_tail == int((values >= 2).sum())


def test_power_law_alternatives_subset():
    values = np.random.default_rng(0).zipf(2.0, 2000)
    fit = power_law_fit(values, alternatives=("exponential",), gof_bootstrap=None)
    assert set(fit.comparisons) == {"exponential"}
    assert fit.comparisons["exponential"][0] > 0  # power law preferred
    with pytest.raises(ValueError, match="alternatives must be a tuple drawn from"):
        power_law_fit(values, alternatives=("weibull",))
    with pytest.raises(ValueError, match="alternatives must be a tuple drawn from"):
        power_law_fit(values, alternatives="lognormal")


def test_power_law_result_is_frozen():
    fit = power_law_fit(np.random.default_rng(3).zipf(2.0, 500), gof_bootstrap=None)
    assert fit.gof_p is None and fit.gof_bootstrap == 0 and fit.verdict is None
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
        ([1, 2, 3], {"gof_bootstrap": 0}, "gof_bootstrap must be >= 1, got 0"),
    ],
)
def test_power_law_errors(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        power_law_fit(values, **kwargs)


def test_power_law_gof_type_errors():
    with pytest.raises(TypeError, match="gof_bootstrap must be an int"):
        power_law_fit([1, 2, 3], gof_bootstrap=1.5)


# Validation of our xmin / alpha / KS machinery (used by the bootstrap) against the
# powerlaw package on the same data: same candidates, same KS definition.
def _package_fit(values):
    import powerlaw

    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        return powerlaw.Fit(values, discrete=True, estimate_discrete=False)


def _laws(seed, n=2000):
    rng = np.random.default_rng(seed)
    return {
        "zipf 2.0": rng.zipf(2.0, n),
        "zipf 2.5": rng.zipf(2.5, n),
        "zipf 1.7": rng.zipf(1.7, n),
        "geometric": rng.geometric(0.1, n),
        "lognormal": np.floor(np.exp(rng.normal(1.5, 1.2, n))) + 1,
    }


@pytest.mark.parametrize("law", sorted(_laws(0)))
def test_power_law_scan_matches_powerlaw_package(law):
    values = _laws(0)[law].astype(np.float64)
    ref = _package_fit(values)
    xmin, alpha, ks, n_tail = _power_law_scan(values, True)
    assert xmin == ref.xmin
    assert alpha == pytest.approx(ref.power_law.alpha, abs=2e-4)
    assert ks == pytest.approx(ref.power_law.D, abs=1e-4)
    assert n_tail == int((values >= xmin).sum())
    # every valid candidate: same exponent (the package's Nelder-Mead: tol 1e-4)
    res = ref.xmin_fitting_results
    for x0, a, d, ok in zip(
        res["xmins"][:25], res["alphas"], res["distances"], res["valid_fits"]
    ):
        if ok:
            _, a_ours, d_ours, _ = _power_law_scan(values, True, x0)
            assert a_ours == pytest.approx(a, abs=2e-4)
            assert d_ours == pytest.approx(d, abs=1e-4)


def test_power_law_sampler_matches_closed_form_pmf():
    from scipy import special

    rng = np.random.default_rng(0)
    alpha, xmin = 2.5, 3.0
    draws = _power_law_sampler(alpha, xmin, True)(rng, 200_000)
    assert draws.min() == xmin and np.all(draws == np.round(draws))
    for x in (3, 4, 5, 8, 20):
        pmf = x**-alpha / special.zeta(alpha, xmin)
        assert np.mean(draws == x) == pytest.approx(pmf, abs=4 * np.sqrt(pmf / 2e5))
    tail = special.zeta(alpha, 1000.0) / special.zeta(alpha, xmin)
    assert np.mean(draws >= 1000) == pytest.approx(tail, rel=0.15)
    cont = _power_law_sampler(2.0, 1.0, False)(rng, 100_000)
    assert np.mean(cont >= 10) == pytest.approx(0.1, abs=0.005)  # (x/xmin)^(1-a)


@pytest.mark.parametrize("seed", range(3))
def test_power_law_gof_keeps_a_power_law_and_rejects_a_geometric(seed):
    laws = _laws(seed + 10)
    kept = power_law_fit(laws["zipf 2.0"], alternatives=("lognormal", "exponential"))
    assert kept.gof_bootstrap == 100 and kept.gof_p >= 0.1
    assert kept.verdict in ("power_law", "heavy_tailed")
    geo = power_law_fit(laws["geometric"], alternatives=("lognormal", "exponential"))
    assert geo.gof_p < 0.1 and geo.verdict == "not_power_law"


def test_power_law_gof_is_seeded():
    values = np.random.default_rng(4).zipf(2.0, 800)
    a = power_law_fit(values, alternatives=(), gof_bootstrap=30, seed=5)
    b = power_law_fit(values, alternatives=(), gof_bootstrap=30, seed=5)
    assert a.gof_p == b.gof_p and a.gof_bootstrap == 30


def _record(gof_p, r_ln, p_ln, r_ex, p_ex):
    return PowerLawFit(
        alpha=2.0,
        xmin=1.0,
        sigma=0.1,
        ks_distance=0.01,
        n_tail=100,
        n=100,
        comparisons={"lognormal": (r_ln, p_ln), "exponential": (r_ex, p_ex)},
        gof_p=gof_p,
        gof_bootstrap=100,
    )


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_record(0.5, 2.0, 0.01, 5.0, 0.001), "power_law"),
        (_record(0.05, 2.0, 0.01, 5.0, 0.001), "not_power_law"),  # fit rejected
        (_record(0.5, -2.0, 0.01, 5.0, 0.001), "not_power_law"),  # lognormal wins
        (_record(0.5, 2.0, 0.01, -3.0, 0.02), "not_power_law"),  # exponential wins
        (_record(0.5, 0.3, 0.7, 5.0, 0.001), "heavy_tailed"),  # ratio inconclusive
        (_record(0.5, -0.3, 0.7, 5.0, 0.001), "heavy_tailed"),
        (_record(0.1, 2.0, 0.01, 5.0, 0.001), "power_law"),  # gof_p >= level
    ],
)
def test_power_law_verdict_outcomes(record, expected):
    assert power_law_verdict(record) == expected


def test_power_law_verdict_level_and_errors():
    rec = _record(0.3, 2.0, 0.04, 5.0, 0.001)
    assert power_law_verdict(rec, level=0.1) == "power_law"
    assert power_law_verdict(rec, level=0.01) == "heavy_tailed"
    assert power_law_verdict(rec, level=0.5) == "not_power_law"
    with pytest.raises(ValueError, match="no gof_p"):
        power_law_verdict(dataclasses.replace(rec, gof_p=None))
    with pytest.raises(ValueError, match="lacks the comparisons"):
        power_law_verdict(dataclasses.replace(rec, comparisons={}))
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\)"):
        power_law_verdict(rec, level=1.0)
    with pytest.raises(TypeError, match="PowerLawFit"):
        power_law_verdict({"gof_p": 0.5})


@pytest.mark.slow
def test_power_law_verdict_rates_on_synthetic_laws():
    """The rates stated in power_law_verdict's docstring, on fresh data."""
    from bench.analysis import power_law_rates

    rates = {law: r for law, *r in power_law_rates(n_sets=20, seed=123)}
    assert rates["power law alpha=2.0"][0] >= 0.75
    assert rates["power law alpha=2.5"][0] >= 0.75
    assert rates["geometric p=0.1"][3] >= 0.85  # not a power law
    assert rates["lognormal mu=0.5 sigma=1.5"][1] <= 0.1  # called a power law


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


def test_zipf_flags_a_mostly_unobserved_alphabet():
    counts = [50, 20, 10, 5, 2]
    with pytest.warns(UserWarning, match="5 of 4096 types observed"):
        fit = zipf_fit(counts, alphabet_size=4096)
    assert fit.mostly_unobserved
    assert fit.unobserved_fraction == pytest.approx(1 - 5 / 4096)
    assert fit.s == zipf_fit(counts).s  # the fit itself is over observed types
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = zipf_fit(counts, alphabet_size=8)
    assert not full.mostly_unobserved and full.alphabet_size == 8
    plain = zipf_fit(counts)
    assert plain.alphabet_size is None and plain.unobserved_fraction is None
    with pytest.raises(ValueError, match="below the 5 observed types"):
        zipf_fit(counts, alphabet_size=4)


def test_zipf_errors():
    with pytest.raises(ValueError, match="at least 2 types with non-zero count, got 1"):
        zipf_fit([0, 5, 0])
    with pytest.raises(ValueError, match="sum to zero"):
        zipf_fit([0, 0])
