"""speaker_listener_v0: step-by-step parity with mpe2's simple_speaker_listener_v4
(from mpe2's own initial states), and what is specific to this env."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from gymnasium import spaces

import envs
from envs.speaker_listener import (
    LANDMARK_COLOURS,
    LISTENER,
    SPEAKER,
    SpeakerListener,
    parallel_env,
)

mpe2_sl = pytest.importorskip("mpe2.simple_speaker_listener_v4")

TOL = 1e-4
N_EPISODES = 8


def _mpe_state(par) -> dict[str, np.ndarray]:
    """The state of a reset mpe2 parallel env, in ``SpeakerListener.set_state`` keys."""
    world = par.aec_env.unwrapped.world
    speaker, listener = world.agents
    return {
        "goal": np.int64(world.landmarks.index(speaker.goal_b)),
        "landmarks": np.stack([lm.state.p_pos for lm in world.landmarks]),
        "pos": listener.state.p_pos.copy(),
        "speaker_pos": speaker.state.p_pos.copy(),
        "vel": listener.state.p_vel.copy(),
        "message": speaker.state.c.copy(),
    }


def _random_actions(rng: np.random.Generator, n: int, continuous: bool):
    if continuous:
        return {
            SPEAKER: rng.random((n, 3), dtype=np.float32),
            LISTENER: rng.random((n, 5), dtype=np.float32),
        }
    return {SPEAKER: rng.integers(0, 3, n), LISTENER: rng.integers(0, 5, n)}


def run_parity(continuous: bool, n_episodes: int = N_EPISODES, seed: int = 0):
    """Step ``n_episodes`` mpe2 envs and one batched core of as many envs from the
    same states with the same actions; return the largest observation and reward
    differences seen over the whole episodes."""
    peers = [
        mpe2_sl.parallel_env(continuous_actions=continuous) for _ in range(n_episodes)
    ]
    firsts = [p.reset(seed=seed + i)[0] for i, p in enumerate(peers)]
    states = [_mpe_state(p) for p in peers]
    core = SpeakerListener(
        n_episodes, seed=seed, autoreset=False, continuous_actions=continuous
    )
    core.reset()
    core.set_state(
        **{k: torch.as_tensor(np.stack([s[k] for s in states])) for k in states[0]}
    )
    obs = core._observe()
    worst_obs = max(
        float(np.abs(obs[a].numpy() - np.stack([f[a] for f in firsts])).max())
        for a in (SPEAKER, LISTENER)
    )
    worst_rew = 0.0
    rng = np.random.default_rng(seed)
    for t in range(core.max_steps):
        acts = _random_actions(rng, n_episodes, continuous)
        obs, rew, term, trunc, _ = core.step(
            {a: torch.as_tensor(x) for a, x in acts.items()}
        )
        for i, peer in enumerate(peers):
            o, r, te, tr, _ = peer.step({a: x[i] for a, x in acts.items()})
            for a in (SPEAKER, LISTENER):
                worst_obs = max(
                    worst_obs, float(np.abs(obs[a][i].numpy() - o[a]).max())
                )
                worst_rew = max(worst_rew, abs(float(rew[a][i]) - r[a]))
                assert bool(term[a][i]) == te[a]
                assert bool(trunc[a][i]) == tr[a], (t, a)
        last = t == core.max_steps - 1
        assert all(bool(trunc[a].all()) == last for a in trunc)
        assert all((not p.agents) == last for p in peers)
    return worst_obs, worst_rew


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_parity_with_mpe2_from_the_same_state(continuous):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worst_obs, worst_rew = run_parity(continuous)
    assert worst_obs < TOL, worst_obs
    assert worst_rew < TOL, worst_rew


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_spaces_match_mpe2(continuous):
    peer = mpe2_sl.parallel_env(continuous_actions=continuous)
    ours = parallel_env(continuous_actions=continuous)
    assert ours.possible_agents == peer.possible_agents == [SPEAKER, LISTENER]
    for a in ours.possible_agents:
        for mine, theirs in (
            (ours.action_space(a), peer.action_space(a)),
            (ours.observation_space(a), peer.observation_space(a)),
        ):
            assert type(mine) is type(theirs)
            assert mine.shape == theirs.shape
            if isinstance(mine, spaces.Discrete):
                assert mine.n == theirs.n
            else:
                np.testing.assert_array_equal(mine.low, theirs.low)
                np.testing.assert_array_equal(mine.high, theirs.high)
    peer.reset(seed=0)
    ours.reset(seed=0)
    assert ours.state().shape == peer.state().shape == (14,)


def test_goal_encoding_and_initial_state():
    core = envs.make_vec("speaker_listener_v0", 3000, seed=0)
    obs, infos = core.reset()
    colours = torch.tensor(LANDMARK_COLOURS)
    assert torch.equal(obs[SPEAKER], colours[core.goal])
    assert torch.equal(infos[SPEAKER]["goal"], core.goal)
    counts = torch.bincount(core.goal, minlength=3).float() / 3000
    assert bool(((counts - 1 / 3).abs() < 0.05).all()), counts
    for x in (core.pos, core.speaker_pos, core.landmarks):
        assert bool((x.abs() <= 1).all()) and float(x.abs().max()) > 0.9
    listener = obs[LISTENER]
    assert bool((listener[:, :2] == 0).all()) and bool((listener[:, 8:] == 0).all())
    rel = listener[:, 2:8].view(-1, 3, 2)
    torch.testing.assert_close(rel, core.landmarks - core.pos[:, None])


def test_speaker_obs_is_constant_within_an_episode():
    core = envs.make_vec("speaker_listener_v0", 16, seed=1, autoreset=False)
    first, _ = core.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(core.max_steps):
        acts = {
            SPEAKER: torch.randint(0, 3, (16,), generator=g),
            LISTENER: torch.randint(0, 5, (16,), generator=g),
        }
        obs, *_ = core.step(acts)
        assert torch.equal(obs[SPEAKER], first[SPEAKER])


def test_message_reaches_the_listener_the_same_step():
    core = envs.make_vec("speaker_listener_v0", 3, seed=0)
    core.reset()
    obs, *_ = core.step(
        {SPEAKER: torch.tensor([0, 1, 2]), LISTENER: torch.zeros(3).long()}
    )
    assert torch.equal(obs[LISTENER][:, 8:], torch.eye(3))
    obs, *_ = core.step(
        {SPEAKER: torch.tensor([2, 2, 0]), LISTENER: torch.zeros(3).long()}
    )
    assert torch.equal(obs[LISTENER][:, 8:], torch.eye(3)[[2, 2, 0]])
    cont = envs.make_vec("speaker_listener_v0", 2, seed=0, continuous_actions=True)
    cont.reset()
    said = torch.tensor([[0.1, 0.7, 0.3], [1.0, 0.0, 0.5]])
    obs, *_ = cont.step({SPEAKER: said, LISTENER: torch.zeros(2, 5)})
    torch.testing.assert_close(obs[LISTENER][:, 8:], said)
    said[:] = 0  # the env keeps its own copy of the message
    torch.testing.assert_close(
        cont.message, torch.tensor([[0.1, 0.7, 0.3], [1, 0, 0.5]])
    )


def test_discrete_moves_and_physics():
    """From rest: a move changes velocity by 5 * dt = 0.5 and, one step later, the
    position by 0.5 * dt = 0.05; velocity then decays by 0.75 a step."""
    core = envs.make_vec("speaker_listener_v0", 5, seed=0)
    core.reset()
    start = core.pos.clone()
    obs, *_ = core.step({SPEAKER: torch.zeros(5).long(), LISTENER: torch.arange(5)})
    want = torch.tensor([[0, 0], [-0.5, 0], [0.5, 0], [0, -0.5], [0, 0.5]])
    torch.testing.assert_close(obs[LISTENER][:, :2], want)
    torch.testing.assert_close(core.pos, start)
    obs, *_ = core.step(
        {SPEAKER: torch.zeros(5).long(), LISTENER: torch.zeros(5).long()}
    )
    torch.testing.assert_close(core.pos, start + 0.1 * want)
    torch.testing.assert_close(obs[LISTENER][:, :2], 0.75 * want)


def test_reward_is_minus_squared_distance_to_goal_for_both():
    core = envs.make_vec("speaker_listener_v0", 64, seed=3)
    core.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        acts = {
            SPEAKER: torch.randint(0, 3, (64,), generator=g),
            LISTENER: torch.randint(0, 5, (64,), generator=g),
        }
        obs, rew, *_ = core.step(acts)
        rel = obs[LISTENER][:, 2:8].view(64, 3, 2)[torch.arange(64), core.goal]
        torch.testing.assert_close(rew[LISTENER], -(rel**2).sum(1))
        assert torch.equal(rew[SPEAKER], rew[LISTENER])
        assert bool((rew[LISTENER] <= 0).all())


@pytest.mark.parametrize("max_steps", [None, 5])
def test_time_limit_truncates(max_steps):
    config = {} if max_steps is None else {"max_steps": max_steps}
    limit = max_steps or 25
    par = parallel_env(**config)
    par.reset(seed=0)
    for t in range(1, limit + 1):
        _, _, term, trunc, _ = par.step(
            {a: par.action_space(a).sample() for a in par.agents}
        )
        assert not any(term.values())
        assert all(trunc.values()) == (t == limit)
        assert bool(par.agents) == (t < limit)
    core = envs.make_vec("speaker_listener_v0", 4, seed=0, **config)
    core.reset()
    acts = {SPEAKER: torch.zeros(4).long(), LISTENER: torch.zeros(4).long()}
    for t in range(1, limit + 1):
        _, _, _, trunc, _ = core.step(acts)
        assert bool(trunc[LISTENER].all()) == (t == limit)
    assert bool((core.elapsed == 0).all())  # auto-reset


def test_bad_config_raises():
    with pytest.raises(ValueError, match="continuous_actions must be a bool"):
        envs.make_vec("speaker_listener_v0", 1, continuous_actions="yes")
    with pytest.raises(ValueError, match="max_steps"):
        envs.make_vec("speaker_listener_v0", 1, max_steps=0)
    core = envs.make_vec("speaker_listener_v0", 1)
    with pytest.raises(ValueError, match="goal"):
        core.set_state(goal=[3], landmarks=torch.zeros(1, 3, 2), pos=torch.zeros(1, 2))


def test_render_rgb_and_text():
    par = parallel_env(render_mode="rgb_array")
    par.reset(seed=0)
    frame = par.render()
    assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 5  # background + 4 colours
    text = parallel_env(render_mode="ansi")
    text.reset(seed=0)
    assert "landmark 2" in text.render() and "listener" in text.render()


def test_task_spec():
    spec = SpeakerListener(1).task_spec()
    assert (spec.obs_dim, spec.act_dim, spec.n_actions, spec.history) == (11, 1, 5, 1)
    assert spec.delta == pytest.approx(0.05)
    cont = SpeakerListener(1, continuous_actions=True).task_spec()
    assert (cont.act_dim, cont.n_actions) == (5, None)
    assert SpeakerListener(1).task_spec(SPEAKER).n_actions == 3


def test_probe_features_are_the_goal_and_its_offset():
    """``goal`` is the landmark whose colour the speaker sees; ``goal_offset`` is
    that landmark's entry of the listener's relative positions."""
    core = envs.make_vec("speaker_listener_v0", 32, seed=0)
    obs, _ = core.reset()
    colours = torch.tensor(LANDMARK_COLOURS)
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        goal = (obs[SPEAKER][:, None, :] == colours[None]).all(-1).float().argmax(1)
        rel = obs[LISTENER][:, 2:8].reshape(32, 3, 2)
        for agent in (SPEAKER, LISTENER):
            feats = core.probe_features(agent)
            assert torch.equal(feats["goal"], goal)
            torch.testing.assert_close(
                feats["goal_offset"], rel[torch.arange(32), goal], rtol=0, atol=1e-6
            )
        acts = {
            SPEAKER: torch.randint(0, 3, (32,), generator=g),
            LISTENER: torch.randint(0, 5, (32,), generator=g),
        }
        obs, *_ = core.step(acts)
