"""analysis.simplicity: LMS / MS data and randomized AUC (Shah et al. 2020)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.simplicity import lms_dataset, ms_dataset, randomized_auc


def test_lms_coordinates_each_predict_the_label():
    X, y, info = lms_dataset(2000, dim=6, slabs=5, rotate=False, seed=0)
    assert info.rotation is None and info.linear_coords == (0,)
    assert info.slab_coords == (1, 2, 3, 4, 5) and info.slabs == (1, 5, 5, 5, 5, 5)
    assert np.all(np.abs(X) <= 1.0)
    assert np.all((X[:, 0] > 0) == (y == 1))
    assert np.all(np.abs(X[:, 0]) >= 0.1)
    # 5 slabs of width 0.28 separated by gaps 0.2; negatives centre + outer.
    slab_width = (2.0 - 0.2 * 4) / 5
    edges = -1 + np.arange(5) * (slab_width + 0.2)
    index = np.clip(np.searchsorted(edges, X[:, 1:], side="right") - 1, 0, 4)
    inside = X[:, 1:] <= edges[index] + slab_width + 1e-12
    assert inside.all()
    label_of_slab = np.array([0, 1, 0, 1, 0])
    assert np.all(label_of_slab[index] == y[:, None])
    centre_share = np.mean(index[y == 0] == 2)
    assert centre_share == pytest.approx(0.75, abs=0.03)


def test_lms_rotation_is_orthogonal_and_recoverable():
    X, y, info = lms_dataset(100, dim=8, seed=3)
    R = info.rotation
    np.testing.assert_allclose(R @ R.T, np.eye(8), atol=1e-10)
    Z = X @ R.T
    assert np.all((Z[:, 0] > 0) == (y == 1))
    again = lms_dataset(100, dim=8, seed=3)
    np.testing.assert_array_equal(again[0], X)


def test_noisy_linear_flips_the_stated_fraction():
    X, y, info = lms_dataset(20000, dim=4, linear_noise=0.1, rotate=False, seed=0)
    agree = np.mean((X[:, 0] > 0) == (y == 1))
    assert agree == pytest.approx(0.9, abs=0.01)
    assert info.linear_noise == 0.1


def test_ms_dataset_layout():
    X, y, info = ms_dataset(500, dim=5, slabs=(3, 7), n_first=2, rotate=False)
    assert info.slabs == (3, 3, 7, 7, 7) and info.linear_coords == ()
    assert np.all((np.abs(X[:, 0]) < 0.3) == (y == 0))  # 3-slab: centre negative


def _train_mlp(X, y, *, epochs, seed=0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(X.shape[1], 100),
        nn.ReLU(),
        nn.Linear(100, 100),
        nn.ReLU(),
        nn.Linear(100, 1),
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=gen)
        for start in range(0, len(Xt), 64):
            rows = order[start : start + 64]
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(Xt[rows])[:, 0], yt[rows]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()

    def score(data):
        with torch.no_grad():
            return net(torch.as_tensor(data, dtype=torch.float32))[:, 0].numpy()

    return score


def test_shah_reference_pattern_on_lms5(one_thread):
    """An MLP 2×100 trained with SGD on LMS-5 uses only the linear coordinate."""
    X, y, info = lms_dataset(6000, dim=50, slabs=5, seed=0)
    score = _train_mlp(X[:5000], y[:5000], epochs=3)
    result = randomized_auc(
        score, X[5000:], y[5000:], info.linear_coords, rotation=info.rotation
    )
    print("Shah LMS-5 triple:", result)
    assert result.standard > 0.99
    assert abs(result.s_randomized - 0.5) < 0.05
    assert result.sc_randomized >= 0.95


def test_randomized_auc_accepts_probabilities_and_unrotated():
    X, y, info = lms_dataset(300, dim=3, rotate=False, seed=0)

    def proba(data):
        p = 1 / (1 + np.exp(-10 * data[:, 1] ** 2))
        return np.stack([1 - p, p], axis=1)

    result = randomized_auc(proba, X, y, [0])
    assert result.as_dict()["standard"] == result.standard
    assert result.sc_randomized == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: lms_dataset(0), "n must be"),
        (lambda: lms_dataset(10, slabs=4), "odd"),
        (lambda: lms_dataset(10, margin=1.5), "margin"),
        (lambda: lms_dataset(10, linear_noise=0.7), "linear_noise"),
        (lambda: lms_dataset(10, dim=3, n_linear=4), "n_linear"),
        (lambda: ms_dataset(10, slabs=(3,)), "pair"),
    ],
)
def test_dataset_bad_options(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    ("X", "y", "coords", "match"),
    [
        (np.zeros((0, 2)), np.zeros(0), [0], r"shape \(0, 2\)"),
        (np.full((2, 2), np.nan), [0, 1], [0], "NaN"),
        (np.zeros((2, 2)), [0, 1, 1], [0], r"y must have shape \(2,\)"),
        (np.zeros((2, 2)), [0, 0], [0], "both labels"),
        (np.zeros((2, 2)), [0, 1], [], "empty"),
        (np.zeros((2, 2)), [0, 1], [5], r"\[0, 2\)"),
        (np.zeros((2, 2)), [0, 1], [0, 1], "complement"),
    ],
)
def test_randomized_auc_bad_input(X, y, coords, match):
    with pytest.raises(ValueError, match=match):
        randomized_auc(lambda d: d[:, 0], X, y, coords)


def test_randomized_auc_bad_rotation_and_scores():
    X, y, _ = lms_dataset(20, dim=3, rotate=False)
    with pytest.raises(ValueError, match=r"rotation must have shape \(3, 3\)"):
        randomized_auc(lambda d: d[:, 0], X, y, [0], rotation=np.eye(2))
    with pytest.raises(ValueError, match="orthogonal"):
        randomized_auc(lambda d: d[:, 0], X, y, [0], rotation=2 * np.eye(3))
    with pytest.raises(ValueError, match="score_fn must return"):
        randomized_auc(lambda d: d, X, y, [0])
