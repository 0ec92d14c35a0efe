"""analysis.representation: variance explained, decodability, CKA, RSA."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from analysis.representation import cka, decodability, rsa, variance_explained


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    f = rng.choice([-1.0, 1.0], size=(400, 2))
    # Feature 0 drives 3 strong units, feature 1 one weak unit, plus noise.
    phi = np.concatenate(
        [np.outer(f[:, 0], [3.0, 2.0, 1.0]), 0.3 * f[:, 1:2]], axis=1
    ) + 0.1 * rng.normal(size=(400, 4))
    return phi, f


def test_variance_explained_orders_features(data):
    phi, f = data
    ve = variance_explained(phi, f)
    assert ve.shape == (2,)
    assert ve[0] > 0.9 and 0.0 < ve[1] < 0.05
    # The two features together explain (almost) everything: R² add up.
    assert ve.sum() == pytest.approx(1.0, abs=0.02)


def test_variance_explained_matches_formula(data):
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import train_test_split

    phi, f = data
    train, test = train_test_split(np.arange(400), test_size=0.5, random_state=3)
    mean = phi[train].mean(0)
    fit = LinearRegression().fit(f[train, :1], phi[train] - mean)
    resid = np.sum((fit.predict(f[test, :1]) - (phi[test] - mean)) ** 2)
    expected = 1 - resid / np.sum((phi[test] - mean) ** 2)
    assert variance_explained(phi, f[:, 0], seed=3)[0] == pytest.approx(expected)


def test_variance_explained_categorical_one_hot():
    rng = np.random.default_rng(1)
    attribute = rng.integers(0, 3, size=300)
    codes = np.array([[0.0, 1.0], [5.0, 0.0], [0.0, -4.0]])  # not ordinal
    phi = codes[attribute] + 0.01 * rng.normal(size=(300, 2))
    assert variance_explained(phi, attribute, categorical=True)[0] > 0.99
    assert variance_explained(phi, attribute)[0] < 0.5


def test_variance_explained_constant_representation_is_zero():
    f = np.repeat([0.0, 1.0], 10)
    np.testing.assert_array_equal(variance_explained(np.ones((20, 3)), f), [0.0])


def test_decodability_vs_variance_disagree_on_weak_feature(data):
    phi, f = data
    dec = decodability(phi, f)
    assert np.all(dec > 0.95)  # both perfectly decodable ...
    ve = variance_explained(phi, f)
    assert ve[1] < 0.05  # ... though feature 1 explains little variance


def test_decodability_regression_and_constant_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    target = x @ np.array([1.0, -2.0, 0.5]) + 0.5  # continuous -> Ridge R²
    assert decodability(x, target)[0] > 0.95
    assert decodability(x, np.zeros(200), kind="classification")[0] == 1.0
    assert decodability(x, np.full(200, 0.5), kind="regression")[0] == 0.0


def test_cka_identity_orthogonal_and_scaling():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8))
    Q = ortho_group.rvs(8, random_state=1)
    for kernel in ("linear", "rbf"):
        assert cka(X, X, kernel=kernel) == pytest.approx(1.0)
        assert cka(X, X @ Q, kernel=kernel) == pytest.approx(1.0)
        assert cka(X, 7.5 * X @ Q, kernel=kernel) == pytest.approx(1.0)
    assert cka(X, X, debiased=True) == pytest.approx(1.0)
    assert cka(X, 2.0 * X @ Q, debiased=True) == pytest.approx(1.0)


def test_cka_symmetric_bounded_and_low_for_independent():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 5)), rng.normal(size=(200, 7))
    assert cka(X, Y) == pytest.approx(cka(Y, X))
    assert 0.0 <= cka(X, Y) < 0.2
    assert abs(cka(X, Y, debiased=True)) < 0.05
    assert cka(X, np.ones((200, 3))) == 0.0  # degenerate: constant


def test_linear_cka_gram_and_feature_forms_agree():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 6))
    Kx, Ky = X @ X.T, Y @ Y.T
    H = np.eye(30) - 1 / 30
    hsic = lambda K, L: np.sum((H @ K @ H) * L)  # noqa: E731
    expected = hsic(Kx, Ky) / np.sqrt(hsic(Kx, Kx) * hsic(Ky, Ky))
    assert cka(X, Y) == pytest.approx(expected)


def test_rsa_invariances_and_degenerate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5))
    Q = ortho_group.rvs(5, random_state=0)
    assert rsa(X, X @ Q, metric="euclidean") == pytest.approx(1.0)
    assert rsa(X, X, compare="pearson") == pytest.approx(1.0)
    assert abs(rsa(X, rng.normal(size=(30, 5)))) < 0.2
    assert rsa(X, np.ones((30, 2)), metric="euclidean") == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: variance_explained(np.ones(5), np.ones(5)), r"2-D.*\(5,\)"),
        (lambda: variance_explained(np.ones((0, 2)), np.ones(0)), "empty"),
        (lambda: variance_explained(np.full((4, 2), np.nan), np.ones(4)), "NaN"),
        (lambda: variance_explained(np.ones((4, 2)), np.ones(5)), "5 rows"),
        (lambda: variance_explained(np.ones((4, 2)), [1, 2, np.nan, 0]), "NaN"),
        (
            lambda: variance_explained(np.ones((4, 2)), np.ones(4), test_fraction=1.0),
            "test_fraction",
        ),
        (lambda: decodability(np.ones((4, 2)), np.ones(4), kind="probe"), "kind"),
        (lambda: cka(np.ones((4, 2)), np.ones((5, 2))), r"\(4, 2\).*\(5, 2\)"),
        (lambda: cka(np.ones((4, 2)), np.ones((4, 2)), kernel="poly"), "kernel"),
        (lambda: cka(np.ones((3, 2)), np.ones((3, 2)), debiased=True), "at least 4"),
        (lambda: rsa(np.ones((4, 2)), np.ones((4, 2)), compare="x"), "compare"),
        (lambda: rsa(np.ones((2, 2)), np.ones((2, 2))), "at least 3"),
        (lambda: rsa(np.ones((4, 2)), np.full((4, 2), np.inf)), "NaN or inf"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
