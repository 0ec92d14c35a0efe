"""analysis.shortcut: Hermann et al. generator, reliance and shortcut bias."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from analysis.shortcut import (
    lda_reliance,
    make_generator,
    probe_grid,
    reliance,
    shortcut_bias,
    shortcut_dataset,
)
from analysis.validation import check_binary_labels


def test_latents_have_the_stated_predictivity():
    X, y, z, gen = shortcut_dataset(40000, rho_core=0.7, rho_shortcut=0.9, dim=20)
    assert set(np.unique(y)) == {-1, 1}
    assert np.mean(np.sign(z[:, 0]) == y) == pytest.approx(0.9, abs=0.01)
    assert np.mean(np.sign(z[:, 1]) == y) == pytest.approx(0.7, abs=0.01)
    assert gen.mu[0] == pytest.approx(norm.ppf(0.9))


def test_generator_embeds_grid_points_like_the_data():
    X, y, z, gen = shortcut_dataset(
        50, rho_core=0.8, rho_shortcut=0.8, alpha_shortcut=3.0, nesting_core=2, dim=16
    )
    np.testing.assert_allclose(gen.embed(z[:, 0], z[:, 1]), X)
    assert gen.dim == 16 and len(gen.nesting[1]) == 2 and len(gen.nesting[0]) == 0
    # Amplification scales the shortcut embedding only.
    e_s = gen.embed([1.0], [0.0])
    assert np.linalg.norm(e_s) == pytest.approx(3.0)


def test_probe_grid_spans_three_mu():
    gen = make_generator(rho_core=0.8, rho_shortcut=0.9, dim=4)
    z_s, z_c = probe_grid(gen)
    assert z_s.shape == z_c.shape == (900,)
    assert z_s.max() == pytest.approx(3 * gen.mu[0])
    assert z_c.max() == pytest.approx(3 * gen.mu[1] * 29 / 30)
    assert np.sum(z_s > 0) == np.sum(z_c > 0) == 450


def test_reliance_extremes():
    gen = make_generator(rho_core=0.8, rho_shortcut=0.8, dim=6)
    to_latents = np.linalg.pinv(gen.directions)
    assert reliance(lambda x: np.sign((x @ to_latents)[:, 0]), gen) == 1.0
    assert reliance(lambda x: np.sign((x @ to_latents)[:, 1]), gen) == -1.0
    assert reliance(lambda x: np.ones(len(x), dtype=int), gen) == 0.0


def test_linear_model_is_unbiased():
    from sklearn.linear_model import LogisticRegression

    X, y, _, gen = shortcut_dataset(
        20000, rho_core=0.9, rho_shortcut=0.9, alpha_shortcut=10.0, dim=20, seed=0
    )
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    bias = shortcut_bias(clf.predict, gen)
    print("linear shortcut bias:", bias)
    assert abs(bias) < 0.05


def test_relu_mlp_leans_on_the_amplified_shortcut(one_thread):
    import torch
    from torch import nn

    X, y, _, gen = shortcut_dataset(
        1000, rho_core=0.9, rho_shortcut=0.9, alpha_shortcut=10.0, seed=0
    )
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor((y + 1) / 2, dtype=torch.float32)
    gen_t = torch.Generator().manual_seed(0)
    for _ in range(5):
        order = torch.randperm(len(Xt), generator=gen_t)
        for start in range(0, len(Xt), 100):
            rows = order[start : start + 100]
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(Xt[rows])[:, 0], yt[rows]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()

    def predict(data):
        with torch.no_grad():
            return (net(torch.as_tensor(data, dtype=torch.float32))[:, 0] > 0).int()

    bias = shortcut_bias(lambda d: predict(d).numpy(), gen)
    print("1-hidden-layer ReLU shortcut bias:", bias)
    assert bias > 0.3


def test_precomputed_reference_gives_the_same_bias():
    gen = make_generator(rho_core=0.8, rho_shortcut=0.8, dim=6)
    to_latents = np.linalg.pinv(gen.directions)

    def shortcut_only(x):
        return np.sign((x @ to_latents)[:, 0])

    ref = lda_reliance(gen, n_reference=4000, seed=3)
    assert shortcut_bias(shortcut_only, gen, reference=ref) == pytest.approx(
        shortcut_bias(shortcut_only, gen, n_reference=4000, seed=3)
    )
    assert shortcut_bias(shortcut_only, gen, reference=0.0) == 1.0
    with pytest.raises(ValueError, match="reference"):
        shortcut_bias(shortcut_only, gen, reference=float("nan"))
    with pytest.raises(ValueError, match="n_reference"):
        lda_reliance(gen, n_reference=2)


def test_check_labels_maps_to_plus_minus_one():
    np.testing.assert_array_equal(check_binary_labels([-1, 1], 2), [-1, 1])
    np.testing.assert_array_equal(check_binary_labels([[0], [1]], 2), [-1, 1])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_generator(rho_core=0.4, rho_shortcut=0.8), "predictivity"),
        (lambda: make_generator(rho_core=0.8, rho_shortcut=1.0), "predictivity"),
        (
            lambda: make_generator(rho_core=0.8, rho_shortcut=0.8, alpha_core=0),
            "alpha_core",
        ),
        (
            lambda: make_generator(rho_core=0.8, rho_shortcut=0.8, nesting_core=-1),
            "nesting_core",
        ),
        (lambda: make_generator(rho_core=0.8, rho_shortcut=0.8, dim=1), "dim"),
        (lambda: shortcut_dataset(0, rho_core=0.8, rho_shortcut=0.8), "n must"),
        (lambda: make_generator(rho_core=0.8, rho_shortcut=0.8).embed([], []), "empty"),
        (
            lambda: make_generator(rho_core=0.8, rho_shortcut=0.8).embed([1.0], [1, 2]),
            r"\(1,\).*\(2,\)",
        ),
        (
            lambda: make_generator(rho_core=0.8, rho_shortcut=0.8).embed([np.nan], [1]),
            "NaN",
        ),
        (lambda: check_binary_labels([0.5, 1.0], 2), "labels"),
        (lambda: check_binary_labels([-1, 0], 2), "labels"),
        (lambda: check_binary_labels([1, 0, 1], 2), r"shape \(2,\)"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
