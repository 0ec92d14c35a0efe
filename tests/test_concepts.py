"""analysis.concepts (concept vectors and bias) and analysis.useful (USEFUL)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.concepts import concept_bias, concept_vector, layer_concept_bias
from analysis.useful import slow_learnable_split, upsample


def test_concept_vector_is_unit_and_points_at_the_concept():
    rng = np.random.default_rng(0)
    direction = np.array([0.6, 0.8, 0.0, 0.0])
    concept = rng.normal(size=(300, 4)) + 3 * direction
    random = rng.normal(size=(300, 4))
    v = concept_vector(concept, random)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    assert v @ direction > 0.95


def test_concept_bias_values():
    assert concept_bias([1, 0], [1, 0], [0, 1]) == 1.0
    assert concept_bias([1, 0], [0, 1], [1, 0]) == -1.0
    assert concept_bias([1, 0], [-1, 0], [1, 0]) == -2.0
    assert concept_bias([0, 0], [1, 0], [0, 1]) == 0.0  # degenerate: zero vector


def test_layer_concept_bias_per_layer():
    rng = np.random.default_rng(1)

    def acts(shift):
        return {
            "a": rng.normal(size=(100, 3)) + shift,
            "b": rng.normal(size=(100, 3)) + shift[::-1],
        }

    target, ref1 = acts(np.array([2.0, 0.0, 0.0])), acts(np.array([2.0, 0.5, 0.0]))
    ref2, random = acts(np.array([0.0, 0.0, 2.0])), acts(np.zeros(3))
    out = layer_concept_bias(target, ref1, ref2, random)
    assert set(out) == {"a", "b"}
    assert all(value > 0.5 for value in out.values())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: concept_vector(np.ones(3), np.ones((3, 3))), r"2-D.*\(3,\)"),
        (lambda: concept_vector(np.ones((0, 3)), np.ones((3, 3))), "empty"),
        (lambda: concept_vector(np.ones((2, 3)), np.ones((2, 4))), "same number"),
        (lambda: concept_vector(np.full((2, 3), np.nan), np.ones((2, 3))), "NaN"),
        (lambda: concept_bias([1, 0], [1, 0, 0], [0, 1]), "one shape"),
        (lambda: concept_bias([np.nan, 0], [1, 0], [0, 1]), "NaN"),
        (
            lambda: layer_concept_bias({"a": 1}, {"b": 1}, {"a": 1}, {"a": 1}),
            "no layer",
        ),
    ],
)
def test_concepts_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_slow_learnable_split_picks_the_high_loss_cluster_per_class():
    rng = np.random.default_rng(0)
    easy = rng.normal(size=(40, 2)) * 0.1 + [5.0, -5.0]
    hard = rng.normal(size=(20, 2)) * 0.1
    outputs = np.concatenate([easy, hard, -easy, hard])
    losses = np.concatenate([np.full(40, 0.01), np.full(20, 1.0)] * 2)
    labels = np.repeat([0, 1], 60)
    mask = slow_learnable_split(outputs, losses, labels)
    expected = np.concatenate([np.zeros(40), np.ones(20)] * 2).astype(bool)
    np.testing.assert_array_equal(mask, expected)


def test_slow_learnable_split_degenerate_classes():
    mask = slow_learnable_split(np.ones((4, 2)), [1.0, 2.0, 3.0, 4.0], [0, 0, 0, 1])
    assert not mask.any()  # identical outputs and a singleton class


def test_upsample():
    out = upsample(np.array([3, 4, 5]), np.array([True, False, True]), factor=3)
    assert sorted(out.tolist()) == [3, 3, 3, 4, 5, 5, 5]
    np.testing.assert_array_equal(upsample([1, 2], np.array([False, False])), [1, 2])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: slow_learnable_split(np.ones((0, 2)), [], []), "non-empty"),
        (
            lambda: slow_learnable_split(np.ones((3, 2)), [1, 2], [0, 0, 0]),
            r"losses must have shape \(3,\)",
        ),
        (
            lambda: slow_learnable_split(np.ones((3, 2)), [1, 2, 3], [0, 0]),
            r"labels must have shape \(3,\)",
        ),
        (lambda: slow_learnable_split(np.ones((2, 2)), [1, np.nan], [0, 0]), "NaN"),
        (lambda: upsample([1, 2], [True]), "mask"),
        (lambda: upsample([1, 2], [1, 0]), "boolean"),
        (lambda: upsample([1, 2], np.array([True, False]), factor=0), "factor"),
        (lambda: upsample([], np.array([], dtype=bool)), "non-empty"),
    ],
)
def test_useful_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
