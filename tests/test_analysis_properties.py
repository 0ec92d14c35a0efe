"""Property tests over registries of the public metrics (sklearn test_common pattern).

Each registry maps a public function name of ``analysis.symbols`` /
``analysis.language`` to an adapter that calls it on a generated sample. A function
may sit in several registries; ``test_registries_cover_every_public_metric`` fails
when a new public function is added without a property.
"""

import dataclasses
import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis import language, symbols
from analysis.language import (
    bag_of_symbols_disentanglement,
    context_independence,
    message_report,
    positional_disentanglement,
    topographic_similarity,
)
from analysis.symbols import (
    attribute_mutual_information,
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

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def samples(draw, min_n=2, max_n=24):
    """(messages [n, L], meanings [n, A]) small discrete batches."""
    n = draw(st.integers(min_n, max_n))
    length = draw(st.integers(1, 4))
    vocab = draw(st.integers(1, 4))
    n_attr = draw(st.integers(1, 3))
    n_values = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return rng.integers(0, vocab, (n, length)), rng.integers(0, n_values, (n, n_attr))


def _fit_or_reject(fn, *args):
    try:
        return fn(*args)
    except ValueError:  # documented degenerate input: not a property counterexample
        assume(False)


# Adapters take (messages, meanings) and return the value the property is about.
BOUNDED_0_1 = {
    "positional_disentanglement": lambda m, y: positional_disentanglement(m, y),
    "bag_of_symbols_disentanglement": lambda m, y: bag_of_symbols_disentanglement(m, y),
    "context_independence": lambda m, y: context_independence(m, y),
    "mi_test": lambda m, y: mi_test(m, y, n_permutations=19).p_value,
}

BOUNDED_MINUS1_1 = {
    "topographic_similarity": lambda m, y: topographic_similarity(m, y),
}

# Values that must be >= 0 (perplexity is shifted by 1: it must be >= 1).
NONNEGATIVE = {
    "entropy": lambda m, y: entropy(symbol_counts(m)),
    "perplexity": lambda m, y: perplexity(symbol_counts(m)) - 1.0,
    # The plug-in estimate is >= 0; the jackknife default may dip below 0.
    "mutual_information": lambda m, y: mutual_information(m, y, correction="plugin"),
    "attribute_mutual_information": lambda m, y: min(
        attribute_mutual_information(m, y, correction="plugin")
    ),
    "symbol_counts": lambda m, y: float(symbol_counts(m, unit="message").min()),
    "rank_frequency": lambda m, y: float(rank_frequency(symbol_counts(m))[1].min()),
    "zipf_fit": lambda m, y: _fit_or_reject(zipf_fit, symbol_counts(m)).s,
}

_RANDOM_REPORT_FIELDS = {"mi_null_mean_bits", "mi_null_p95_bits", "mi_p_value"}

# f(a, b) == f(b, a)
# A decision over a fit: one of three outcomes.
THREE_OUTCOMES = {
    "power_law_verdict": lambda m, y: power_law_verdict(
        power_law_fit(
            m.ravel() + 1, alternatives=("lognormal", "exponential"), gof_bootstrap=5
        )
    ),
}

SYMMETRIC = {
    "mutual_information": lambda a, b: mutual_information(a, b),
    "topographic_similarity": lambda a, b: topographic_similarity(
        a, b, meaning_distance="hamming", message_distance="hamming"
    ),
}

# Unchanged when the samples (rows of messages and meanings together) are permuted.
PERMUTATION_INVARIANT = {
    "entropy": lambda m, y: entropy(symbol_counts(m, unit="message")),
    "perplexity": lambda m, y: perplexity(symbol_counts(m)),
    "symbol_counts": lambda m, y: symbol_counts(m, unit="message"),
    "rank_frequency": lambda m, y: rank_frequency(symbol_counts(m, unit="message")),
    "mutual_information": lambda m, y: (
        mutual_information(m, y),
        mutual_information(m, y, correction="plugin"),
        mutual_information(m, y, correction="miller_madow"),
    ),
    "attribute_mutual_information": lambda m, y: attribute_mutual_information(m, y),
    # The permutation null is random: only the data's own numbers are invariant.
    "mi_test": lambda m, y: {
        k: v
        for k, v in dataclasses.asdict(mi_test(m, y, n_permutations=5)).items()
        if not k.startswith(("null_", "p_value"))
    },
    "topographic_similarity": lambda m, y: topographic_similarity(m, y),
    "positional_disentanglement": lambda m, y: positional_disentanglement(m, y),
    "bag_of_symbols_disentanglement": lambda m, y: bag_of_symbols_disentanglement(m, y),
    "context_independence": lambda m, y: (
        context_independence(m, y),
        context_independence(m, y, variant="presence"),
    ),
    "zipf_fit": lambda m, y: _fit_or_reject(zipf_fit, symbol_counts(m, unit="message")),
    # Slow (the truncated-power-law comparison takes ~1 s): one fixed example below.
    "power_law_fit": lambda m, y: power_law_fit(m.ravel() + 1, gof_bootstrap=20),
    # The permutation null and the chance floors are random (not invariant).
    "message_report": lambda m, y: {
        k: v
        for k, v in message_report(m, y, max_pairs=None, n_chance=2).to_dict().items()
        if not k.endswith("_chance") and k not in _RANDOM_REPORT_FIELDS
    },
}

REGISTRIES = {
    "BOUNDED_0_1": BOUNDED_0_1,
    "BOUNDED_MINUS1_1": BOUNDED_MINUS1_1,
    "NONNEGATIVE": NONNEGATIVE,
    "SYMMETRIC": SYMMETRIC,
    "PERMUTATION_INVARIANT": PERMUTATION_INVARIANT,
    "THREE_OUTCOMES": THREE_OUTCOMES,
}


def _public_metrics():
    names = set()
    for module in (symbols, language):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and not name.startswith("check_"):
                names.add(name)
    return names


def _close(a, b):
    if dataclasses.is_dataclass(a):
        return _close(dataclasses.asdict(a), dataclasses.asdict(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_close(x, z) for x, z in zip(a, b))
    if a is None or b is None or isinstance(a, str):
        return a == b
    return np.allclose(a, b, rtol=1e-9, atol=1e-9)


def test_registries_cover_every_public_metric():
    covered = set().union(*REGISTRIES.values())
    missing = _public_metrics() - covered
    assert not missing, f"public metrics without a property registry: {missing}"
    unknown = covered - _public_metrics()
    assert not unknown, f"registry entries that are not public metrics: {unknown}"


def test_check_helpers_are_not_metrics():
    assert "check_messages" not in _public_metrics()
    assert {"entropy", "topographic_similarity"} <= _public_metrics()


@pytest.mark.parametrize("name", sorted(BOUNDED_0_1))
@SETTINGS
@given(sample=samples())
def test_bounded_0_1(name, sample):
    value = BOUNDED_0_1[name](*sample)
    assert isinstance(value, float)
    assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("name", sorted(BOUNDED_MINUS1_1))
@SETTINGS
@given(sample=samples())
def test_bounded_minus1_1(name, sample):
    value = BOUNDED_MINUS1_1[name](*sample)
    assert isinstance(value, float)
    assert -1.0 <= value <= 1.0


@pytest.mark.parametrize("name", sorted(NONNEGATIVE))
@SETTINGS
@given(sample=samples())
def test_nonnegative(name, sample):
    value = NONNEGATIVE[name](*sample)
    assert value >= -1e-12
    assert np.isfinite(value)


@pytest.mark.parametrize("name", sorted(THREE_OUTCOMES))
def test_three_outcomes_fixed_example(name):
    rng = np.random.default_rng(0)
    messages = rng.zipf(2.0, (300, 2)) - 1
    meanings = rng.integers(0, 3, (300, 2))
    value = THREE_OUTCOMES[name](messages, meanings)
    assert value in ("power_law", "heavy_tailed", "not_power_law")


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
@SETTINGS
@given(sample=samples())
def test_symmetric(name, sample):
    a, b = sample
    assert SYMMETRIC[name](a, b) == pytest.approx(SYMMETRIC[name](b, a), abs=1e-9)


SLOW = {"power_law_fit"}


@pytest.mark.parametrize("name", sorted(set(PERMUTATION_INVARIANT) - SLOW))
@SETTINGS
@given(sample=samples(), seed=st.integers(0, 1000))
def test_permutation_invariant(name, sample, seed):
    messages, meanings = sample
    perm = np.random.default_rng(seed).permutation(len(messages))
    before = PERMUTATION_INVARIANT[name](messages, meanings)
    after = PERMUTATION_INVARIANT[name](messages[perm], meanings[perm])
    assert _close(before, after)


@pytest.mark.parametrize("name", sorted(SLOW))
def test_permutation_invariant_slow_fixed_example(name):
    rng = np.random.default_rng(0)
    messages = rng.zipf(2.0, (150, 2)) - 1
    meanings = rng.integers(0, 3, (150, 2))
    perm = rng.permutation(150)
    before = PERMUTATION_INVARIANT[name](messages, meanings)
    after = PERMUTATION_INVARIANT[name](messages[perm], meanings[perm])
    assert _close(before, after)


@SETTINGS
@given(sample=samples())
def test_mi_bounded_by_entropies(sample):
    messages, meanings = sample
    mi = mutual_information(messages, meanings, correction="plugin")
    h_msg = entropy(symbol_counts(messages, unit="message"))
    h_mean = entropy(np.unique(meanings, axis=0, return_counts=True)[1])
    assert mi <= min(h_msg, h_mean) + 1e-9


@SETTINGS
@given(sample=samples(), seed=st.integers(0, 1000))
def test_topsim_invariant_to_symbol_relabelling(sample, seed):
    messages, meanings = sample
    relabel = np.random.default_rng(seed).permutation(int(messages.max()) + 1)
    assert topographic_similarity(messages, meanings) == pytest.approx(
        topographic_similarity(relabel[messages], meanings), abs=1e-9
    )
