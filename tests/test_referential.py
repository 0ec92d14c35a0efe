"""referential_v0: the held-out split of attribute combinations, object-id limits and
the probe features, checked against ground truth (the objects the observations
show, enumerated combinations)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import envs
from envs.referential import MAX_SPLIT_OBJECTS, holdout_split

SPLIT = {"holdout_fraction": 0.25, "holdout_seed": 7}


def _decode(
    obs_objects: torch.Tensor, n_attributes: int, n_values: int
) -> torch.Tensor:
    """Object ids from concatenated one-hot blocks ``[..., n_attributes * n_values]``
    (read back from observations, independently of the env's own ids)."""
    values = obs_objects.reshape(*obs_objects.shape[:-1], n_attributes, n_values)
    values = values.argmax(-1)
    powers = n_values ** torch.arange(n_attributes - 1, -1, -1)
    return (values * powers).sum(-1)


def _candidate_ids(core, obs) -> torch.Tensor:
    c = core.config
    start, stop, k = core.obs_parts("listener")["candidates"]
    objs = obs["listener"][:, start:stop].reshape(core.num_envs, k, -1)
    return _decode(objs, c.n_attributes, c.n_values)


def test_training_never_shows_a_heldout_combination():
    """Many resets and auto-resets: no held-out combination appears in any training
    batch, as target or distractor; every value of every attribute does appear."""
    core = envs.make_vec("referential_v0", 512, seed=0, **SPLIT)
    heldout = set(core.holdout.heldout.tolist())
    assert len(heldout) == round(0.25 * 256)
    seen = set()
    obs, infos = core.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(40):  # 20 episodes per env, reset by the core's auto-reset
        ids = _candidate_ids(core, obs)
        seen.update(ids.flatten().tolist())
        assert not bool(infos["listener"]["target_heldout"].any())
        acts = {
            "speaker": torch.randint(0, 16, (512, 2), generator=g),
            "listener": torch.randint(0, 4, (512,), generator=g),
        }
        obs, _, _, _, infos = core.step(acts)
    for seed in range(20):  # and explicit resets with other seeds
        obs, _ = core.reset(seed=seed)
        seen.update(_candidate_ids(core, obs).flatten().tolist())
    assert not seen & heldout
    values = np.array([[(i // 4**p) % 4 for p in (3, 2, 1, 0)] for i in seen])
    for a in range(4):
        assert set(values[:, a]) == {0, 1, 2, 3}, f"attribute {a} lost a value"
    assert seen == set(range(256)) - heldout  # every training combination occurs


def test_heldout_split_draws_every_candidate_from_the_heldout_set():
    train = envs.make_vec("referential_v0", 256, seed=0, **SPLIT)
    evals = envs.make_vec("referential_v0", 256, seed=99, split="heldout", **SPLIT)
    every = envs.make_vec("referential_v0", 256, seed=3, split="all", **SPLIT)
    # The split depends on the config only: identical across env seeds.
    np.testing.assert_array_equal(train.holdout.heldout, evals.holdout.heldout)
    np.testing.assert_array_equal(train.holdout.train, every.holdout.train)
    heldout = set(evals.holdout.heldout.tolist())
    obs, infos = evals.reset()
    assert set(_candidate_ids(evals, obs).flatten().tolist()) <= heldout
    assert bool(infos["speaker"]["target_heldout"].all())
    # The speaker sees the target: its observation decodes to the held-out id.
    target = _decode(obs["speaker"][:, :16], 4, 4)
    assert set(target.tolist()) <= heldout
    obs, infos = every.reset()
    ids = _candidate_ids(every, obs)
    target = ids.gather(1, every.target[:, None]).squeeze(1)
    expected = torch.tensor([t in heldout for t in target.tolist()])
    assert torch.equal(infos["listener"]["target_heldout"], expected)
    assert 0 < int(expected.sum()) < 256  # "all" mixes both


def test_split_is_deterministic_and_seeded():
    a = holdout_split(3, 5, fraction=0.3, seed=1, n_candidates=4)
    b = holdout_split(3, 5, fraction=0.3, seed=1, n_candidates=4)
    c = holdout_split(3, 5, fraction=0.3, seed=2, n_candidates=4)
    np.testing.assert_array_equal(a.heldout, b.heldout)
    assert not np.array_equal(a.heldout, c.heldout)
    assert len(a.heldout) == round(0.3 * 125) and len(a.train) == 125 - len(a.heldout)
    assert not set(a.heldout.tolist()) & set(a.train.tolist())
    core = envs.make_vec(
        "referential_v0",
        1,
        n_attributes=3,
        n_values=5,
        holdout_fraction=0.3,
        holdout_seed=1,
    )
    np.testing.assert_array_equal(core.holdout.heldout, a.heldout)


@pytest.mark.parametrize(
    ("n_attributes", "n_values", "fraction"),
    [(2, 3, 0.6), (2, 10, 0.85), (3, 4, 0.9), (4, 2, 0.5), (5, 3, 0.95)],
)
def test_every_value_stays_in_training_for_any_seed(n_attributes, n_values, fraction):
    """The cover keeps every value of every attribute in training, even when almost
    everything is held out (checked by enumerating the training combinations)."""
    for seed in range(25):
        split = holdout_split(
            n_attributes, n_values, fraction=fraction, seed=seed, n_candidates=2
        )
        train = split.combinations("train")
        for a in range(n_attributes):
            assert set(train[:, a].tolist()) == set(range(n_values))
        held = {tuple(x) for x in split.combinations("heldout").tolist()}
        every = set(itertools.product(range(n_values), repeat=n_attributes))
        assert held | {tuple(x) for x in train.tolist()} == every


def test_explicit_holdout_list():
    combos = [(0, 0, 0, 0), (1, 2, 3, 0), (3, 3, 3, 3), (2, 1, 0, 1)]
    core = envs.make_vec("referential_v0", 64, seed=0, holdout=combos, split="heldout")
    assert {tuple(x) for x in core.holdout.combinations().tolist()} == set(combos)
    obs, _ = core.reset()
    ids = _candidate_ids(core, obs)
    assert set(ids.flatten().tolist()) <= set(core.holdout.heldout.tolist())
    # Lists from JSON work the same.
    twin = envs.make_vec("referential_v0", 1, holdout=[list(x) for x in combos])
    assert twin.config.holdout == tuple(combos)
    # A list that removes value 0 of attribute 0 from training is refused.
    everything_with_0 = [(0, *rest) for rest in itertools.product(range(2), repeat=2)]
    with pytest.raises(ValueError, match="value 0 of attribute 0"):
        envs.make_vec(
            "referential_v0",
            1,
            n_attributes=3,
            n_values=2,
            n_candidates=2,
            holdout=everything_with_0,
        )


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"holdout_fraction": 0.2, "holdout": [(0, 0, 0, 0)]}, "not both"),
        ({"holdout_fraction": 1.0}, r"holdout_fraction must be in \[0, 1\)"),
        ({"holdout_fraction": -0.1}, "holdout_fraction"),
        ({"holdout_fraction": True}, "holdout_fraction"),
        ({"holdout_fraction": 0.001}, "holds out none"),
        ({"holdout_fraction": 0.99}, "too few for training"),
        ({"holdout": [(0, 0, 0, 0)]}, "at least n_candidates"),
        ({"holdout": [(0, 0, 0)]}, "each holdout combination"),
        ({"holdout": [(0, 0, 0, 9)]}, "each holdout combination"),
        ({"holdout": [(0, 0, 0, 0)] * 5}, "twice"),
        ({"holdout": "0000"}, "list of attribute combinations"),
        ({"split": "heldout"}, "needs held-out combinations"),
        ({"split": "test"}, "split must be one of"),
        ({"holdout_seed": -1, "holdout_fraction": 0.2}, "holdout_seed"),
        ({"objects": "digits", "holdout_fraction": 0.2}, "objects='attributes'"),
        ({"n_attributes": 1, "n_values": 8, "holdout_fraction": 0.5}, "one per value"),
        (
            {"n_attributes": 5, "n_values": 20, "holdout_fraction": 0.1},
            r"2\*\*20",
        ),
    ],
)
def test_bad_holdout_configs_fail_at_construction(config, match):
    with pytest.raises(ValueError, match=match):
        envs.make_vec("referential_v0", 1, **config)
    with pytest.raises(ValueError, match=match):
        envs.make("referential_v0", **config)


def test_the_largest_enumerable_space_splits():
    core = envs.make_vec(
        "referential_v0", 2, n_attributes=4, n_values=32, holdout_fraction=0.01
    )
    assert core.n_objects == MAX_SPLIT_OBJECTS
    assert len(core.holdout.heldout) == round(0.01 * 2**20)


@pytest.mark.parametrize(
    ("n_attributes", "n_values"), [(32, 4), (63, 2), (64, 2), (20, 10)]
)
def test_object_ids_that_overflow_int64_fail_at_construction(n_attributes, n_values):
    with pytest.raises(ValueError, match=r"n_values \*\* n_attributes.*int64"):
        envs.make_vec("referential_v0", 1, n_attributes=n_attributes, n_values=n_values)


def test_largest_object_space_works():
    core = envs.make_vec("referential_v0", 4, seed=0, n_attributes=31, n_values=4)
    obs, infos = core.reset()
    ids = _decode(obs["speaker"][:, :-2], 31, 4)
    tid = core.candidates.gather(1, core.target[:, None]).squeeze(1)
    assert torch.equal(ids, tid)


def test_probe_features_are_the_targets_attributes_and_slot():
    core = envs.make_vec("referential_v0", 64, seed=2, n_attributes=3, n_values=5)
    obs, _ = core.reset()
    for _ in range(2):
        feats = core.probe_features("listener")
        # Ground truth read from the speaker's observation (the target's one-hots).
        values = obs["speaker"][:, :15].reshape(64, 3, 5).argmax(-1)
        for a in range(3):
            assert torch.equal(feats[f"attribute_{a}"], values[:, a])
        # The slot: the listener's candidate equal to the speaker's target.
        start, stop, k = core.obs_parts("listener")["candidates"]
        cand = obs["listener"][:, start:stop].reshape(64, k, 15)
        match = (cand == obs["speaker"][:, None, :15]).all(-1)
        assert bool((match.sum(1) == 1).all())  # candidates are distinct
        assert torch.equal(feats["target_slot"], match.float().argmax(1))
        for key, value in core.probe_features("speaker").items():
            assert torch.equal(value, feats[key])
        obs, *_ = core.step(
            {"speaker": torch.zeros(64, 2).long(), "listener": torch.zeros(64).long()}
        )
    digits = envs.make_vec("referential_v0", 8, seed=0, objects="digits")
    digits.reset()
    specs = digits.probe_feature_specs("speaker")
    assert [f.name for f in specs] == ["label", "target_slot"]
    tid = digits.candidates.gather(1, digits.target[:, None]).squeeze(1)
    assert torch.equal(digits.probe_features("speaker")["label"], digits._labels[tid])
