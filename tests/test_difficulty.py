"""Tests for analysis.difficulty: published numbers, monotonicity, estimators."""

from __future__ import annotations

import dataclasses
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_ndtr

from analysis import difficulty as dif
from analysis.difficulty import (
    Difficulty,
    TaskSpecLike,
    classification_difficulty,
    few_shot_difficulty,
    gp_posterior_losses,
    inductive_bias_complexity,
    intrinsic_dimension,
    log_norm_cdf,
    max_norm,
    min_interclass_distance,
    ncx2_logcdf,
    pomdp_difficulty,
    product_difficulty,
    rl_difficulty,
    sampled_inductive_bias,
    task_difficulty,
    trained_network_losses,
)

# ------------------------------------------------------------ published numbers
# (n, m, R, classes, delta, eps, published bits) from Boopathy et al. 2023
CLASSIFICATION = {
    "MNIST": (60_000, 14, 17.17905, 10, 2.398708, 1e-3, 1.485e16),
    "CIFAR-10": (50_000, 27, 54.91568, 10, 2.750641, 1e-2, 3.438e32),
}
# computed here with the released formula (no published number to pin)
COMPUTED = {
    "SVHN": (73_257, 19, 53.86932, 10, 1.576700, 1e-2, 1.213e31),
    "ImageNet": (1_280_901, 48, 943.5923, 1000, 65.0, 0.1, 3.583e41),
}


@pytest.mark.parametrize("name", sorted(CLASSIFICATION))
def test_published_classification(name):
    n, m, R, C, delta, eps, want = CLASSIFICATION[name]
    d = inductive_bias_complexity(
        n=n, m=m, R=R, delta=delta, eps=eps, out_dim=C - 1, n_discrete=C
    )
    assert d.bits == pytest.approx(want, rel=1e-3)
    assert d.log10_bits == pytest.approx(math.log10(want), abs=1e-3)


@pytest.mark.parametrize("name", sorted(COMPUTED))
def test_computed_classification_matches_docstring(name):
    n, m, R, C, delta, eps, want = COMPUTED[name]
    d = inductive_bias_complexity(
        n=n, m=m, R=R, delta=delta, eps=eps, out_dim=C - 1, n_discrete=C
    )
    assert d.bits == pytest.approx(want, rel=1e-3)
    assert f"{want:.3e}".replace("+", "") in dif.__doc__


def test_published_reacher():
    d = rl_difficulty(obs_dim=6, act_dim=2, n_steps=1e6, delta=1e-3, eps=1e-3)
    assert d.bits == pytest.approx(2.914e25, rel=1e-3)


@pytest.mark.parametrize("T,want", [(1, 4.415e9), (2, 3.326e17)])
def test_published_cartpole(T, want):
    d = pomdp_difficulty(
        history=T, obs_dim_per_step=2, act_dim=1, n_steps=10_000, delta=1e-3, eps=1e-3
    )
    assert d.bits == pytest.approx(want, rel=1e-3)


def test_rl_torus_matches_released_rl_formula():
    # the released RL formula written out, for several (m, D)
    for m, D in [(2, 1), (3, 2), (5, 4), (8, 1)]:
        n, delta, eps = 5e4, 1e-2, 1e-2
        basis = 2 * (2 * math.pi / delta) ** m * math.pi ** (m / 2)
        basis /= math.gamma(m / 2 + 1)
        log_term = (
            math.log2(4 * math.pi**2 / math.sqrt(6))
            + math.log2(D)
            + 0.5 * math.log2(m)
            - math.log2(delta)
            - math.log2(n) / m
            - math.log2(eps)
        )
        want = D * (basis - n) * log_term
        got = rl_difficulty(obs_dim=m, act_dim=D, n_steps=n, delta=delta, eps=eps)
        assert got.bits == pytest.approx(want, rel=1e-9)


def test_parts_are_consistent():
    n, m, R, C, delta, eps, _ = CLASSIFICATION["MNIST"]
    p = inductive_bias_complexity(
        n=n, m=m, R=R, delta=delta, eps=eps, out_dim=C - 1, n_discrete=C
    ).parts
    assert pytest.approx(2 * math.pi * R / delta) == p.M
    assert p.K * (p.K + m - 1) == pytest.approx(p.M**2)  # K real, not rounded
    assert round(p.K) != p.K
    assert p.L_f == pytest.approx(p.K * math.sqrt(C - 1) / R)
    assert p.dim_theta == pytest.approx(2 * (C - 1) * C * p.E)
    assert p.dim_theta_q == pytest.approx(p.dim_theta - n * (C - 1))
    assert (p.D, p.P, p.B) == (9, 10, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.K = 1.0


def test_overflow_stays_finite_in_log_space():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # must not warn: the bound is not vacuous
        d = inductive_bias_complexity(
            n=1e6, m=400, R=100.0, delta=0.1, eps=1e-3, out_dim=9, n_discrete=10
        )
    assert d.bits == math.inf
    assert math.isfinite(d.log10_bits) and d.log10_bits > 308
    assert math.isfinite(d.parts.log10_E) and math.inf == d.parts.E


def test_vacuous_bound_warns_and_returns_zero():
    with pytest.warns(UserWarning, match="dim_theta_q"):
        d = rl_difficulty(obs_dim=1, act_dim=1, n_steps=1e9, delta=1.0, eps=1e-3)
    assert d.bits == 0.0 and math.isfinite(d.log10_bits) and d.log10_bits < -300
    with pytest.warns(UserWarning, match="eps is above"):
        d = rl_difficulty(obs_dim=2, act_dim=1, n_steps=10, delta=1.0, eps=1e6)
    assert d.bits == 0.0


# ------------------------------------------------------------------ monotonicity
def _bits(**kw):
    base = dict(history=1, obs_dim_per_step=2, act_dim=1, n_steps=1e4)
    base.update(delta=1e-3, eps=1e-3)
    base.update(kw)
    return pomdp_difficulty(**base).log10_bits


def test_monotone_rl():
    assert _bits(history=1) < _bits(history=2) < _bits(history=3) < _bits(history=5)
    assert _bits(delta=1e-2) < _bits(delta=1e-3) < _bits(delta=1e-4)
    assert _bits(eps=1e-1) < _bits(eps=1e-3) < _bits(eps=1e-6)
    assert _bits(n_steps=1e6) < _bits(n_steps=1e4) < _bits(n_steps=1e2)


def test_monotone_classification():
    def f(**kw):
        base = dict(n=60_000, m=14, R=17.0, delta=2.4, eps=1e-3, out_dim=9)
        base.update(n_discrete=10)
        base.update(kw)
        return inductive_bias_complexity(**base).log10_bits

    assert f(m=10) < f(m=14) < f(m=20)
    assert f(delta=4.0) < f(delta=2.4) < f(delta=1.0)
    assert f(eps=1e-1) < f(eps=1e-3) < f(eps=1e-5)
    assert f(n=1e6) < f(n=6e4) < f(n=1e3)


def test_few_shot_and_product():
    d1 = few_shot_difficulty(n_way=20, k_shot=1, m=10, R=10.0, delta=1.0, eps=0.01)
    d5 = few_shot_difficulty(n_way=20, k_shot=5, m=10, R=10.0, delta=1.0, eps=0.01)
    assert d5.bits < d1.bits
    assert (d1.parts.P, d1.parts.D, d1.parts.n) == (20, 19, 20.0)
    a = rl_difficulty(obs_dim=2, act_dim=1, n_steps=1e4, delta=1e-3, eps=1e-3)
    b = rl_difficulty(obs_dim=4, act_dim=1, n_steps=1e4, delta=1e-3, eps=1e-3)
    ab = product_difficulty(a, b)
    assert ab.bits == pytest.approx(a.bits + b.bits)
    assert ab.log10_bits == pytest.approx(math.log10(a.bits + b.bits))
    assert ab.factors == (a, b) and ab.parts is None
    huge = inductive_bias_complexity(
        n=1e6, m=400, R=100.0, delta=0.1, eps=1e-3, out_dim=9, n_discrete=10
    )
    assert product_difficulty(huge, huge).log10_bits == pytest.approx(
        huge.log10_bits + math.log10(2)
    )


# ------------------------------------------------------------------ task_difficulty
def _fake_env(**spec):
    fields = dict(obs_dim=2, act_dim=1, history=1, delta=1e-3, eps=1e-3)
    fields.update(spec)
    return SimpleNamespace(task_spec=lambda: SimpleNamespace(**fields), name="fake")


def test_task_difficulty_fake_env():
    d1 = task_difficulty(_fake_env(history=1), n_steps=10_000)
    d2 = task_difficulty(_fake_env(history=2), n_steps=10_000)
    assert d1.bits == pytest.approx(4.415e9, rel=1e-3)
    assert d2.bits == pytest.approx(3.326e17, rel=1e-3)
    assert d1.label == "fake"
    # eps override
    assert task_difficulty(_fake_env(), n_steps=1e4, eps=1e-1).bits < d1.bits


def test_task_difficulty_per_agent_spec():
    env = _fake_env(obs_dim={"listener": 2, "speaker": 5})
    with pytest.raises(ValueError, match="per agent"):
        task_difficulty(env, n_steps=1e4)
    d = task_difficulty(env, n_steps=1e4, agent="listener")
    assert d.bits == pytest.approx(4.415e9, rel=1e-3)
    with pytest.raises(ValueError, match="'nobody' not in"):
        task_difficulty(env, n_steps=1e4, agent="nobody")


def test_task_difficulty_takes_a_spec_record():
    spec = SimpleNamespace(obs_dim=2, act_dim=1, history=2, delta=1e-3, eps=1e-3)
    assert isinstance(spec, TaskSpecLike)
    d = task_difficulty(spec, n_steps=10_000)
    assert d.bits == pytest.approx(3.326e17, rel=1e-3)
    assert task_difficulty(spec, n_steps=1e4, label="toy").label == "toy"
    with pytest.raises(ValueError, match="spec_options apply to an env"):
        task_difficulty(spec, n_steps=1e4, spec_options={"channel": False})


def test_task_difficulty_errors():
    with pytest.raises(ValueError, match="task_spec"):
        task_difficulty(object(), n_steps=1e4)
    with pytest.raises(TypeError, match="look the env up first"):
        task_difficulty("cartpole_v0", n_steps=1e4)
    with pytest.raises(TypeError, match="unexpected keyword"):
        task_difficulty(_fake_env(), n_steps=1e4, history=2)
    with pytest.raises(ValueError, match="has no field 'delta'"):
        env = SimpleNamespace(
            task_spec=lambda: SimpleNamespace(obs_dim=1, act_dim=1, history=1)
        )
        task_difficulty(env, n_steps=1e4, eps=0.1)


def test_analysis_does_not_import_envs():
    import subprocess
    import sys

    code = (
        "import sys, analysis.difficulty, analysis.language, analysis.symbols;"
        "print('envs' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_task_difficulty_real_cartpole():
    import envs

    def task_by_name(name, *, n_steps, input_history=None, **config):
        env = envs.make_vec(name, 1, **config)
        return task_difficulty(env, n_steps=n_steps, input_history=input_history)

    full = task_by_name("cartpole_v0", n_steps=1e4, observe="full")
    pos = task_by_name("cartpole_v0", n_steps=1e4, observe="position")
    # full state (4-D, history 1) and positions (2-D, history 2): both 4-D inputs
    assert full.parts.m == pos.parts.m == 4
    assert pos.bits == pytest.approx(3.326e17, rel=1e-3)
    # the policy given T stacked observations
    stacked = task_by_name(
        "cartpole_v0", n_steps=1e4, input_history=3, observe="position", history=3
    )
    assert stacked.parts.m == 6 and stacked.bits > pos.bits


def test_task_difficulty_real_reach_and_referential():
    import envs

    def vec(name, **config):
        return envs.make_vec(name, 1, **config)

    if "reach_v0" in envs.names():
        vis = task_difficulty(vec("reach_v0", dim=2, goal_visible=True), n_steps=1e4)
        hid = task_difficulty(vec("reach_v0", dim=2, goal_visible=False), n_steps=1e4)
        told = task_difficulty(
            vec("reach_v0", dim=2, goal_visible=False, speaker=True), n_steps=1e4
        )
        assert vis.log10_bits < hid.log10_bits
        assert told.log10_bits < hid.log10_bits
    if "referential_v0" in envs.names():
        on, off = (
            task_difficulty(
                vec("referential_v0"),
                n_steps=1e4,
                agent="listener",
                spec_options={"channel": channel},
            )
            for channel in (True, False)
        )
        assert off.parts.m < on.parts.m and off.bits < on.bits
        assert on.label.endswith(":listener")


# --------------------------------------------------------------- input validation
@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(n=0), "n must be"),
        (dict(n=0.5), "n must be >= 1"),
        (dict(m=-1), "m must be"),
        (dict(R=0), "R must be"),
        (dict(delta=math.nan), "delta must be"),
        (dict(eps="x"), "eps must be"),
        (dict(out_dim=1.5), "out_dim must be a positive integer"),
        (dict(n_discrete=0), "n_discrete"),
        (dict(bound=-1.0), "bound"),
        (dict(manifold="cube"), "manifold must be"),
    ],
)
def test_closed_form_errors(kw, match):
    args = dict(n=100, m=2, R=1.0, delta=0.1, eps=0.1, out_dim=1)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        inductive_bias_complexity(**args)


def test_wrapper_errors():
    with pytest.raises(ValueError, match="history must be a positive integer"):
        pomdp_difficulty(
            history=1.5, obs_dim_per_step=2, act_dim=1, n_steps=1, delta=1, eps=1
        )
    with pytest.raises(ValueError, match="n_way must be >= 2"):
        few_shot_difficulty(n_way=1, k_shot=1, m=2, R=1, delta=1, eps=1)
    with pytest.raises(ValueError, match="b must be a Difficulty"):
        product_difficulty(
            rl_difficulty(obs_dim=2, act_dim=1, n_steps=1e4, delta=1e-3, eps=1e-3), 3
        )


# ----------------------------------------------------------------------- estimators
def test_intrinsic_dimension_subspace():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 3)) @ rng.normal(size=(3, 10))
    r = intrinsic_dimension(X, k=5)
    assert r.m == pytest.approx(3.0, abs=0.3)
    assert set(r.per_k) == {3, 5, 10, 20}
    assert all(abs(v - 3) < 0.5 for v in r.per_k.values())
    r2 = intrinsic_dimension(X, k=7, n_samples=500)
    assert r2.n_points == 500 and 7 in r2.per_k


def test_intrinsic_dimension_errors():
    with pytest.raises(ValueError, match=r"2-D \[n_samples, n_features\]"):
        intrinsic_dimension(np.zeros(5))
    with pytest.raises(ValueError, match="k must be < number of distinct points"):
        intrinsic_dimension(np.random.default_rng(0).normal(size=(5, 3)), k=5)
    with pytest.raises(ValueError, match="NaN"):
        intrinsic_dimension([[np.nan, 1.0], [1.0, 2.0]])


def test_max_norm():
    assert max_norm([[3.0, 4.0], [0.0, 1.0]]) == 5.0


def _two_blobs(gap, n=300, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, size=(n, 2))
    b = rng.uniform(0, 1, size=(n, 2)) + [1.0 + gap, 0.0]
    return np.vstack([a, b]), np.repeat([0, 1], n)


def test_min_interclass_distance_sample():
    X, y = _two_blobs(0.5)
    d = min_interclass_distance(X, y, min_dist=0.0)
    assert 0.5 <= d < 0.6
    # min_dist ignores closer pairs
    assert min_interclass_distance(X, y, min_dist=0.8) >= 0.8
    # subset: a subset minimum is never below the full minimum
    assert min_interclass_distance(X, y, min_dist=0.0, n_samples=50) >= d


def test_min_interclass_distance_evt():
    X, y = _two_blobs(0.5, n=1000)
    full = min_interclass_distance(X, y, min_dist=0.0, n_samples=2000)
    sub = min_interclass_distance(X, y, min_dist=0.0, n_samples=300, seed=3)
    evt = min_interclass_distance(
        X, y, method="evt", min_dist=0.0, n_samples=300, seed=3
    )
    assert evt <= sub  # capped at the sample minimum
    assert evt > 0.45  # true gap is 0.5: the extrapolation does not run away
    assert full < sub  # more points, closer pairs: what EVT extrapolates toward


def test_moment_estimator_endpoint_of_uniform():
    x = np.random.default_rng(0).uniform(0.0, 1.0, 4000)
    gamma, endpoint = dif._moment_endpoint(x, 63)
    assert gamma < 0  # bounded support
    assert endpoint == pytest.approx(1.0, abs=0.01)


def test_evt_without_finite_endpoint_warns_and_falls_back():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(600, 2))
    y = rng.integers(0, 2, 600)  # interleaved classes: distances reach down to 0
    with pytest.warns(UserWarning, match="no finite endpoint"):
        evt = min_interclass_distance(X, y, method="evt", min_dist=0.0)
    assert evt == min_interclass_distance(X, y, min_dist=0.0)


def test_min_interclass_distance_errors():
    X, y = _two_blobs(0.5, n=20)
    with pytest.raises(ValueError, match="method must be"):
        min_interclass_distance(X, y, method="max")
    with pytest.raises(ValueError, match="at least 2 classes"):
        min_interclass_distance(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="y must have shape"):
        min_interclass_distance(X, y[:-1])
    with pytest.raises(ValueError, match="no different-class pair"):
        min_interclass_distance(X, y, min_dist=100.0)
    with pytest.raises(ValueError, match="min_dist must be"):
        min_interclass_distance(X, y, min_dist=-1.0)


def test_classification_difficulty_digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data / 16.0
    r = classification_difficulty(X, data.target, eps=0.01, n_samples=800)
    assert r.n_classes == 10 and r.n == len(X)
    assert r.m == round(r.m_raw) and 4 <= r.m <= 12
    assert r.delta >= 1.0 and pytest.approx(max_norm(X)) == r.R
    assert r.difficulty.parts.P == 10 and r.difficulty.parts.D == 9
    assert r.difficulty.bits > 0


def test_intrinsic_dimension_duplicate_points_are_dropped_not_nan():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 6))
    doubled = np.concatenate([X, X[:100]])
    est = intrinsic_dimension(doubled)
    assert np.isfinite(est.m) and est.n_points == 300
    assert est.m == pytest.approx(intrinsic_dimension(X).m)
    with pytest.raises(ValueError, match="fewer than 2 distinct points"):
        intrinsic_dimension(np.ones((10, 3)))
    with pytest.raises(ValueError, match="k must be < number of distinct points 3"):
        intrinsic_dimension(np.repeat(np.eye(3), 5, axis=0))


# ------------------------------------------------------------------- sampled measure
def test_log_norm_cdf_mills_matches_scipy():
    z = np.linspace(-37.0, -10.01, 200)  # where scipy's norm.logcdf is finite too
    ref = stats.norm.logcdf(z)
    assert np.all(np.isfinite(ref))
    np.testing.assert_allclose(log_norm_cdf(z), ref, rtol=1e-8)
    np.testing.assert_allclose(log_norm_cdf(z), log_ndtr(z), rtol=1e-8)
    # far beyond: finite, and the leading Mills term dominates
    far = float(log_norm_cdf(-1e5))
    assert math.isfinite(far)
    assert far == pytest.approx(-0.5e10 - math.log(1e5) - 0.5 * math.log(2 * math.pi))
    z_mid = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(log_norm_cdf(z_mid), stats.norm.logcdf(z_mid))


def test_sampled_recovers_known_ncx2():
    df, nc, scale = 6.0, 3.0, 0.05
    losses = stats.ncx2.rvs(df, nc, scale=scale, size=300, random_state=3)
    eps = 0.02
    truth = -stats.ncx2.logcdf(eps, df, nc, scale=scale) / math.log(2)
    r = sampled_inductive_bias(losses, eps, n_bootstrap=30, seed=0)
    assert r.units == "bits" and not r.approximated
    assert r.ci_low <= truth <= r.ci_high
    assert r.ks_pvalue > 0.01
    nats = sampled_inductive_bias(losses, eps, units="nats", n_bootstrap=0)
    assert nats.value == pytest.approx(r.value * math.log(2))
    assert math.isnan(nats.ci_low)


def test_sampled_extrapolation_flag_and_empirical():
    losses = stats.ncx2.rvs(4, 1, scale=0.1, size=200, random_state=2)
    below = sampled_inductive_bias(losses, losses.min() / 2, n_bootstrap=0)
    assert below.extrapolated and below.empirical is None
    eps = float(np.quantile(losses, 0.25))
    inside = sampled_inductive_bias(losses, eps, n_bootstrap=0)
    assert not inside.extrapolated
    k = int(np.sum(losses <= eps))
    assert inside.empirical == pytest.approx(-math.log2(k / losses.size))
    assert inside.value == pytest.approx(inside.empirical, abs=0.5)


def test_sampled_deep_tail_is_exact_and_monotone():
    # concentrated losses (large df): scipy's logcdf at a tiny eps is -inf
    losses = stats.ncx2.rvs(2000, 50, scale=1e-3, size=100, random_state=0)
    r = sampled_inductive_bias(losses, 1e-4, n_bootstrap=0)
    assert not r.approximated and math.isfinite(r.value) and r.value > 1000
    assert r.extrapolated
    assert math.isinf(stats.ncx2.logcdf(1e-4, r.df, r.nc, scale=r.scale))
    exact = -ncx2_logcdf(1e-4 / r.scale, r.df, r.nc) / math.log(2)
    assert r.value == pytest.approx(exact)
    deeper = sampled_inductive_bias(losses, 1e-6, n_bootstrap=0)
    assert deeper.value > r.value  # never levels off as eps -> 0


# ---------------------------------------------------------------- ncx2 log-cdf
def _mp_ncx2_logcdf(x, df, nc):
    """Arbitrary-precision reference (mpmath, 50 digits): the Poisson mixture of
    regularized incomplete gammas, summed until the terms are negligible; the
    upper tail through log1p(-SF) where F > 1/2."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(50):
        half, z = mp.mpf(nc) / 2, mp.mpf(x) / 2

        def mixture(lower):
            total, j = mp.mpf(0), 0
            while True:
                w = (
                    mp.exp(-half + j * mp.log(half) - mp.loggamma(j + 1))
                    if nc > 0
                    else mp.mpf(1)
                )
                a = mp.mpf(df) / 2 + j
                p = (
                    mp.gammainc(a, 0, z, regularized=True)
                    if lower
                    else (mp.gammainc(a, z, mp.inf, regularized=True))
                )
                total += w * p
                far = j > half + 10 and (lower or j > z)
                if nc == 0 or (far and w * p < total * 1e-40):
                    return total
                j += 1

        f = mixture(True)
        return float(mp.log(f)) if f <= 0.5 else float(mp.log1p(-mixture(False)))


@pytest.mark.parametrize("df", [0.5, 4.0, 1000.0])
@pytest.mark.parametrize("nc", [0.0, 2.0, 500.0])
def test_ncx2_logcdf_matches_mpmath_to_1e6_relative(df, nc):
    mean = df + nc
    for ratio in (1e-300, 1e-100, 1e-5, 0.3, 1.0, 3.0):
        x = ratio * mean
        ref = _mp_ncx2_logcdf(x, df, nc)
        assert ncx2_logcdf(x, df, nc) == pytest.approx(ref, rel=1e-6), (x, ref)


def test_ncx2_logcdf_issue_example_and_scipy_where_finite():
    # df 4, nc 2, x = 1e-200 of the mean: about 920 nats, where Sankaran gave 9.35
    assert -ncx2_logcdf(1e-200 * 6.0, 4.0, 2.0) == pytest.approx(920.53, abs=0.01)
    x = np.array([0.1, 1.0, 5.0, 20.0])
    np.testing.assert_allclose(
        ncx2_logcdf(x, 4.0, 2.0), stats.ncx2.logcdf(x, 4.0, 2.0), rtol=1e-9
    )


@pytest.mark.parametrize(("df", "nc"), [(4.0, 2.0), (1000.0, 500.0), (1.0, 0.0)])
def test_ncx2_logcdf_monotone_in_x(df, nc):
    x = (df + nc) * np.logspace(-300, 1, 400)
    values = ncx2_logcdf(x, df, nc)
    assert np.all(np.isfinite(values)) and np.all(values <= 0)
    assert np.all(np.diff(values) >= 0)


def test_ncx2_logcdf_edges_and_errors():
    assert ncx2_logcdf(0.0, 3.0, 1.0) == -math.inf
    assert ncx2_logcdf(math.inf, 3.0, 1.0) == 0.0
    assert ncx2_logcdf([[1.0, 2.0]], 3.0, 1.0).shape == (1, 2)
    with pytest.raises(ValueError, match="x must be >= 0"):
        ncx2_logcdf(-1.0, 3.0, 1.0)
    with pytest.raises(ValueError, match="x must be >= 0"):
        ncx2_logcdf(math.nan, 3.0, 1.0)
    with pytest.raises(ValueError, match="df must be"):
        ncx2_logcdf(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="nc must be"):
        ncx2_logcdf(1.0, 3.0, -1.0)


@pytest.mark.parametrize(
    "losses,eps,kw,match",
    [
        ([0.1, 0.2], 0.1, {}, "at least 5"),
        ([0.1, 0.2, -0.3, 0.4, 0.5], 0.1, {}, "non-negative"),
        ([0.2] * 6, 0.1, {}, "all equal"),
        ([0.1, 0.2, 0.3, 0.4, 0.5], 0.0, {}, "eps must be"),
        ([0.1, 0.2, 0.3, 0.4, 0.5], 0.1, {"family": "gamma"}, "family must be"),
        ([0.1, 0.2, 0.3, 0.4, 0.5], 0.1, {"units": "dits"}, "units must be"),
        ([0.1, 0.2, 0.3, 0.4, 0.5], 0.1, {"n_bootstrap": -1}, "n_bootstrap"),
    ],
)
def test_sampled_errors(losses, eps, kw, match):
    with pytest.raises(ValueError, match=match):
        sampled_inductive_bias(losses, eps, **kw)


# ---------------------------------------------------------------- hypothesis samplers
def _toy_classification(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X[:40], y[:40], X[40:], y[40:]


@pytest.fixture
def one_torch_thread():
    """Tiny networks run faster on one thread (and do not fight other tests)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_trained_network_losses_fit_and_vary(one_torch_thread):
    Xtr, ytr, Xte, yte = _toy_classification()
    losses = trained_network_losses(
        Xtr, ytr, Xte, yte, width=32, depth=2, n_samples=8, epochs=150, seed=0
    )
    assert losses.shape == (8,) and np.all(losses >= 0)
    assert np.std(losses) > 0  # different random starts, different functions
    assert np.mean(losses) < 0.25  # better than predicting 0.5 everywhere
    again = trained_network_losses(
        Xtr, ytr, Xte, yte, width=32, depth=2, n_samples=8, epochs=150, seed=0
    )
    np.testing.assert_allclose(losses, again)


def test_trained_network_losses_errors():
    Xtr, ytr, Xte, yte = _toy_classification()
    with pytest.raises(ValueError, match="do not match"):
        trained_network_losses(Xtr, ytr, Xte[:, :2], yte)
    with pytest.raises(ValueError, match="width must be"):
        trained_network_losses(Xtr, ytr, Xte, yte, width=0)


def test_gp_posterior_interpolates_training_data():
    Xtr, ytr, Xte, yte = _toy_classification()
    Ytr = np.eye(2)[ytr]
    Yte = np.eye(2)[yte]
    on_train = gp_posterior_losses(
        Xtr, Ytr, Xtr, Ytr, lengthscale=1.0, n_samples=20, jitter=1e-8
    )
    assert np.all(on_train < 1e-3)  # posterior samples pass through the data
    test = gp_posterior_losses(Xtr, Ytr, Xte, Yte, lengthscale=1.0, n_samples=50)
    assert test.shape == (50,) and np.all(test > on_train.max())
    with pytest.raises(ValueError, match="target shapes"):
        gp_posterior_losses(Xtr, Ytr[:-1], Xte, Yte)
    with pytest.raises(ValueError, match="lengthscale"):
        gp_posterior_losses(Xtr, Ytr, Xte, Yte, lengthscale=0)


def test_results_are_frozen():
    d = rl_difficulty(obs_dim=2, act_dim=1, n_steps=1e4, delta=1e-3, eps=1e-3)
    assert isinstance(d, Difficulty)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.bits = 0.0
