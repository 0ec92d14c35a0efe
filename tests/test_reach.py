"""reach_v0: reaching, the hidden goal, the speaker's channel, task_spec and config."""

from __future__ import annotations

import pickle
import warnings

import gymnasium
import numpy as np
import pytest
import torch

import envs
from envs.reach import BONUS, Reach, parallel_env


def _greedy(core: Reach) -> torch.Tensor:
    """The mover's action straight at the goal (reads the state, not the obs)."""
    step = (core.goal - core.position) / core.config.max_speed
    return step.clamp(-1.0, 1.0)


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_reaching_terminates_with_the_bonus(dim):
    core = Reach(8, seed=0, dim=dim, autoreset=False, max_steps=200)
    core.reset()
    done = torch.zeros(8, dtype=torch.bool)
    for _ in range(200):
        before = core.goal.clone()
        _, rew, term, trunc, infos = core.step({"mover": _greedy(core)})
        dist = torch.linalg.vector_norm(core.position - before, dim=1)
        torch.testing.assert_close(infos["mover"]["distance"], dist)
        reached = dist <= core.config.delta
        assert torch.equal(term["mover"], reached)
        expected = -dist + BONUS * reached.float()
        torch.testing.assert_close(rew["mover"], expected)
        assert not bool(trunc["mover"].any())
        done |= term["mover"]
        if bool(done.all()):
            break
        # Keep finished envs where they are (no auto-reset): freeze them.
        core.goal = torch.where(done[:, None], core.position, core.goal)
    assert bool(done.all())


def test_not_reaching_pays_minus_distance_and_truncates():
    core = Reach(3, seed=1, max_steps=5, delta=1e-3, autoreset=False)
    core.reset()
    still = torch.zeros(3, 2)
    for t in range(1, 6):
        _, rew, term, trunc, _ = core.step({"mover": still})
        dist = torch.linalg.vector_norm(core.position - core.goal, dim=1)
        torch.testing.assert_close(rew["mover"], -dist)
        assert not bool(term["mover"].any())
        assert bool(trunc["mover"].all()) == (t == 5)


def test_moves_are_scaled_and_clipped_to_the_box():
    core = Reach(2, seed=0, dim=3, max_speed=0.25, delta=1e-3)
    core.reset()
    start = core.position.clone()
    a = torch.tensor([[1.0, -1.0, 0.5], [0.0, 0.2, -0.4]])
    core.step({"mover": a})
    torch.testing.assert_close(core.position, (start + 0.25 * a).clamp(-1, 1))
    for _ in range(10):
        core.step({"mover": torch.ones(2, 3)})
    assert bool((core.position <= 1.0).all())


def test_hidden_goal_is_absent_from_the_observation():
    core = Reach(4, seed=0, dim=3, goal_visible=False)
    obs, _ = core.reset()
    assert core.observation_space("mover").shape == (3,)
    torch.testing.assert_close(obs["mover"], core.position)
    # Moving the goal changes nothing the mover sees.
    core.goal = -core.goal
    torch.testing.assert_close(core._observe()["mover"], obs["mover"])
    visible = Reach(4, seed=0, dim=3)
    obs_v, _ = visible.reset()
    torch.testing.assert_close(obs_v["mover"][:, 3:], visible.goal)


def test_speaker_message_appears_in_the_next_mover_observation():
    V, L = 5, 3
    core = Reach(
        2,
        seed=0,
        dim=2,
        goal_visible=False,
        speaker=True,
        vocab_size=V,
        message_length=L,
        delta=1e-3,
    )
    obs, _ = core.reset()
    assert core.possible_agents == ("mover", "speaker")
    assert core.message_agents == ("speaker",)
    assert Reach(1).message_agents == ()
    assert obs["mover"].shape == (2, 2 + L * V)
    torch.testing.assert_close(obs["speaker"], core.goal)
    assert not bool(obs["mover"][:, 2:].any())  # nothing said yet
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        msg = torch.randint(0, V, (2, L), generator=g)
        obs, *_, infos = core.step({"mover": torch.zeros(2, 2), "speaker": msg})
        heard = obs["mover"][:, 2:].reshape(2, L, V)
        assert torch.equal(heard.argmax(-1), msg)
        assert bool((heard.sum(-1) == 1).all())
        assert torch.equal(infos["mover"]["message"], msg)


def test_speaker_message_is_cleared_on_reset():
    core = Reach(1, seed=0, speaker=True, goal_visible=False, max_steps=2)
    core.reset()
    msg = torch.ones(1, 2, dtype=torch.int64)
    core.step({"mover": torch.zeros(1, 2), "speaker": msg})
    obs, *_ = core.step({"mover": torch.zeros(1, 2), "speaker": msg})  # auto-reset
    assert not bool(obs["mover"][:, 2:].any())


def test_speaker_config_passes_pettingzoo_suites():
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    par = parallel_env(speaker=True, goal_visible=False)
    assert par.possible_agents == ["mover", "speaker"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(par, num_cycles=100)
    parallel_seed_test(lambda: parallel_env(speaker=True), num_cycles=30)
    par.reset(seed=3)
    clone = pickle.loads(pickle.dumps(par))
    assert clone.possible_agents == ["mover", "speaker"]
    a, _ = par.reset(seed=4)
    b, _ = clone.reset(seed=4)
    np.testing.assert_array_equal(a["mover"], b["mover"])


@pytest.mark.parametrize(
    ("env_id", "size"), [("aim/Reach-v0", 6), ("aim/Reach-POMDP-v0", 3)]
)
def test_gymnasium_ids(env_id, size):
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make(env_id, dim=3)
    assert env.observation_space.shape == (size,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.close()


def test_task_spec_monotone_in_dim():
    specs = [Reach(1, dim=d).task_spec() for d in range(1, 6)]
    assert all(s.history == 1 and s.n_actions is None for s in specs)
    for lo, hi in zip(specs, specs[1:]):
        assert hi.obs_dim > lo.obs_dim and hi.act_dim > lo.act_dim
    assert [s.act_dim for s in specs] == [1, 2, 3, 4, 5]
    assert [s.obs_dim for s in specs] == [2, 4, 6, 8, 10]
    difficulty = pytest.importorskip("analysis.difficulty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dim=1 is vacuous (0 bits) at n=1e6
        bits = [
            difficulty.task_difficulty(Reach(1, dim=d), n_steps=1e6).log10_bits
            for d in range(1, 6)
        ]
    assert all(b > a for a, b in zip(bits, bits[1:]))


def test_task_spec_history_and_agents():
    hidden = Reach(1, goal_visible=False, max_steps=30).task_spec()
    assert hidden.history == 30 and "not identifiable" in hidden.description
    told = Reach(1, goal_visible=False, speaker=True, vocab_size=4, message_length=3)
    mover = told.task_spec()
    assert mover.history == 1 and mover.obs_dim == 2 + 12
    speaker = told.task_spec("speaker")
    assert (speaker.obs_dim, speaker.act_dim, speaker.n_actions) == (2, 3, 4)
    assert Reach(1, delta=0.05).task_spec().delta == 0.05
    with pytest.raises(ValueError, match="speaker"):
        Reach(1).task_spec("speaker")


def test_render():
    core = envs.make_vec("reach_v0", 2, seed=0, dim=1, speaker=True)
    core.reset()
    text = core.render_text(1)
    assert "M" in text and "G" in text and "message" in text
    frame = core.render_rgb(0)
    assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
    assert (frame == (200, 30, 30)).all(-1).any()  # the mover is drawn


@pytest.mark.parametrize(
    ("config", "error", "key"),
    [
        ({"dim": 0}, ValueError, "dim"),
        ({"dim": 1.5}, TypeError, "dim"),
        ({"delta": 0.0}, ValueError, "delta"),
        ({"delta": -0.1}, ValueError, "delta"),
        ({"delta": "small"}, TypeError, "delta"),
        ({"max_speed": 0}, ValueError, "max_speed"),
        ({"vocab_size": 1}, ValueError, "vocab_size"),
        ({"message_length": 0}, ValueError, "message_length"),
        ({"goal_visible": "no"}, TypeError, "goal_visible"),
        ({"max_steps": 0}, ValueError, "max_steps"),
        ({"goal_radius": 0.1}, TypeError, "unknown config key 'goal_radius'"),
    ],
)
def test_bad_config(config, error, key):
    with pytest.raises(error, match=key):
        Reach(1, **config)
    with pytest.raises(error, match=key):
        envs.make("reach_v0", **config)


def test_probe_features_are_the_goal_and_its_offset():
    core = envs.make_vec("reach_v0", 32, seed=0, dim=3)
    obs, _ = core.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(60):  # past some auto-resets
        position, goal = obs["mover"][:, :3], obs["mover"][:, 3:6]
        feats = core.probe_features("mover")
        assert torch.equal(feats["goal"], goal)
        torch.testing.assert_close(feats["goal_offset"], goal - position)
        obs, *_ = core.step({"mover": torch.rand(32, 3, generator=g) * 2 - 1})
    talk = envs.make_vec("reach_v0", 4, seed=0, speaker=True, goal_visible=False)
    talk.reset()
    assert torch.equal(talk.probe_features("speaker")["goal"], talk.goal)
