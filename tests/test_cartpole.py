"""cartpole_v0: step-by-step parity with Gymnasium's CartPole-v1, observation modes,
history stacking, the Gymnasium ids and several carts."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
import torch

import envs
from envs.cartpole import MAX_STEPS, CartPole, parallel_env

N_EPISODES = 20


def _policy(obs: np.ndarray, rng: np.random.Generator, explore: float) -> int:
    """A balancing policy with random actions mixed in (long and short episodes)."""
    if rng.random() < explore:
        return int(rng.integers(2))
    return int(obs[2] + 0.5 * obs[3] > 0)


def _gym_rollout_vs_core(seed: int, explore: float) -> tuple[float, int]:
    """One episode side by side; returns (max abs obs diff, episode length)."""
    ref = gymnasium.make("CartPole-v1").unwrapped
    obs_ref, _ = ref.reset(seed=seed)
    core = CartPole(1, seed=seed, autoreset=False)
    core.reset()
    obs = core.set_state(torch.as_tensor(ref.state)[None])["cart_0"][0].numpy()
    np.testing.assert_array_equal(obs, obs_ref)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for t in range(1, MAX_STEPS + 1):
        action = _policy(obs_ref, rng, explore)
        obs_ref, rew_ref, term_ref, _, _ = ref.step(action)
        trunc_ref = t >= MAX_STEPS and not term_ref  # CartPole-v1's TimeLimit
        out, rew, term, trunc, _ = core.step({"cart_0": torch.tensor([action])})
        obs = out["cart_0"][0].numpy()
        assert obs.dtype == np.float32
        worst = max(worst, float(np.abs(obs - obs_ref).max()))
        np.testing.assert_allclose(obs, obs_ref, rtol=0, atol=1e-5)
        assert float(rew["cart_0"][0]) == rew_ref
        assert bool(term["cart_0"][0]) == term_ref, f"terminated differs at step {t}"
        assert bool(trunc["cart_0"][0]) == trunc_ref, f"truncated differs at step {t}"
        if term_ref or trunc_ref:
            return worst, t
    raise AssertionError("episode did not end within the time limit")


def test_parity_with_gymnasium_random_actions():
    lengths = []
    for seed in range(N_EPISODES):
        worst, length = _gym_rollout_vs_core(seed, explore=1.0)
        assert worst <= 1e-5
        lengths.append(length)
    assert max(lengths) < MAX_STEPS  # random play falls over: terminations tested


def test_parity_with_gymnasium_long_episodes():
    """A balancing policy reaches the 500-step truncation (and some fall first)."""
    ends = []
    for seed in range(8):
        worst, length = _gym_rollout_vs_core(100 + seed, explore=0.3)
        assert worst <= 1e-5
        ends.append(length)
    assert MAX_STEPS in ends


def test_batched_envs_are_independent_and_match_single():
    """Env i of a batch follows the same dynamics as a batch of one from its state."""
    batch = CartPole(6, seed=0, autoreset=False)
    batch.reset()
    start = batch.state.clone()
    g = torch.Generator().manual_seed(0)
    acts = [torch.randint(0, 2, (6,), generator=g) for _ in range(8)]
    for a in acts:
        batch.step({"cart_0": a})
    for i in range(6):
        one = CartPole(1, autoreset=False)
        one.reset(seed=1)
        one.set_state(start[i : i + 1])
        for a in acts:
            one.step({"cart_0": a[i : i + 1]})
        torch.testing.assert_close(one.state[0], batch.state[i], rtol=0, atol=0)


def test_position_mode_is_full_columns_x_theta():
    full = CartPole(4, seed=3, observe="full")
    pos = CartPole(4, seed=3, observe="position")
    of, op = full.reset()[0], pos.reset()[0]
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for _ in range(60):  # crosses auto-resets
        assert op["cart_0"].shape == (4, 2)
        torch.testing.assert_close(op["cart_0"], of["cart_0"][:, [0, 2]])
        of = full.step({"cart_0": torch.randint(0, 2, (4,), generator=g1)})[0]
        op = pos.step({"cart_0": torch.randint(0, 2, (4,), generator=g2)})[0]
    assert pos.observation_space("cart_0").shape == (2,)


@pytest.mark.parametrize("observe", ["full", "position"])
def test_history_stacks_oldest_first_zero_padded(observe):
    T = 3
    plain = CartPole(2, seed=5, observe=observe, autoreset=False)
    stacked = CartPole(2, seed=5, observe=observe, history=T, autoreset=False)
    k = 4 if observe == "full" else 2
    assert stacked.observation_space("cart_0").shape == (T * k,)
    frames = [plain.reset()[0]["cart_0"]]
    obs = stacked.reset()[0]["cart_0"]
    zeros = torch.zeros(2, k)
    torch.testing.assert_close(obs, torch.cat([zeros, zeros, frames[0]], 1))
    g = torch.Generator().manual_seed(0)
    for step in range(1, 6):
        a = torch.randint(0, 2, (2,), generator=g)
        frames.append(plain.step({"cart_0": a})[0]["cart_0"])
        obs = stacked.step({"cart_0": a})[0]["cart_0"]
        past = [zeros] * max(0, T - len(frames)) + frames[-T:]
        torch.testing.assert_close(obs, torch.cat(past, 1), msg=f"step {step}")
        assert stacked.observation_space("cart_0").contains(obs[0].numpy())


def test_history_is_cleared_on_auto_reset():
    core = CartPole(3, seed=0, history=4)
    core.reset()
    ones = torch.ones(3, dtype=torch.int64)
    for _ in range(40):  # always pushing right falls over within ~10 steps
        obs, _, term, _, infos = core.step({"cart_0": ones})
        if bool(term["cart_0"].any()):
            break
    else:
        raise AssertionError("no episode ended")
    done = term["cart_0"]
    # A fresh episode: three zero frames, then the initial state (|.| <= 0.05).
    fresh = obs["cart_0"][done]
    assert bool((fresh[:, :12] == 0).all())
    assert bool((fresh[:, 12:].abs() <= 0.05).all())
    # The finished episode's last observation kept its history.
    assert bool((infos["cart_0"]["final_obs"][done][:, :12] != 0).any())


@pytest.mark.parametrize(
    ("env_id", "k"), [("aim/CartPole-v0", 4), ("aim/CartPole-POMDP-v0", 2)]
)
def test_gymnasium_ids_with_history(env_id, k):
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make(env_id, history=3)
    assert env.observation_space.shape == (3 * k,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3 * k,) and not obs[: 2 * k].any()
    total, done = 0.0, False
    while not done:
        obs, rew, term, trunc, _ = env.step(env.action_space.sample())
        total += rew
        done = term or trunc
        assert env.observation_space.contains(obs)
    assert total >= 1
    env.close()


def test_gymnasium_id_rgb_render():
    env = gymnasium.make("aim/CartPole-v0", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (200, 600, 3)
    assert (frame != 255).any()


def test_several_carts_in_the_pettingzoo_face():
    from pettingzoo.test import parallel_api_test

    par = parallel_env(n_agents=3)
    assert par.possible_agents == ["cart_0", "cart_1", "cart_2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(parallel_env(n_agents=3), num_cycles=100)
    obs, _ = par.reset(seed=0)
    assert set(obs) == {"cart_0", "cart_1", "cart_2"}
    # Different initial states: the carts are independent.
    assert not np.array_equal(obs["cart_0"], obs["cart_1"])
    # cart_1 always pushes right and falls; the episode ends for every cart then.
    steps = 0
    while par.agents:
        acts = {a: (1 if a == "cart_1" else steps % 2) for a in par.agents}
        _, rew, term, trunc, infos = par.step(acts)
        steps += 1
        assert rew == {"cart_0": 1.0, "cart_1": 1.0, "cart_2": 1.0}
    assert all(term.values()) and not any(trunc.values())
    assert infos["cart_1"]["failed"] and not infos["cart_0"]["failed"]
    assert steps < 50


def test_several_carts_batched_and_rendered():
    core = envs.make_vec("cartpole_v0", 4, seed=0, n_agents=2, observe="position")
    obs, _ = core.reset()
    assert obs["cart_1"].shape == (4, 2)
    frame = core.render_rgb(0)
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    text = core.render_text(0)
    assert "cart_0" in text and "cart_1" in text


def test_envs_make_follows_n_agents():
    par = envs.make("cartpole_v0", n_agents=2)
    assert par.possible_agents == ["cart_0", "cart_1"]


def test_task_spec():
    full = CartPole(1).task_spec()
    pos = CartPole(1, observe="position", history=5).task_spec()
    assert (full.obs_dim, full.act_dim, full.n_actions, full.history) == (4, 1, 2, 1)
    assert (pos.obs_dim, pos.act_dim, pos.n_actions, pos.history) == (2, 1, 2, 2)
    assert full.delta == pos.delta == 1e-3 and full.eps == pos.eps == 1e-3


@pytest.mark.parametrize(
    ("config", "error", "key"),
    [
        ({"observe": "velocity"}, ValueError, "observe"),
        ({"history": 0}, ValueError, "history"),
        ({"history": 1.5}, TypeError, "history"),
        ({"n_agents": 0}, ValueError, "n_agents"),
        ({"gravity": 3.0}, TypeError, "gravity"),
    ],
)
def test_bad_config(config, error, key):
    with pytest.raises(error, match=key):
        CartPole(1, **config)


def test_set_state_checks_shape():
    core = CartPole(2)
    with pytest.raises(ValueError, match="shape"):
        core.set_state(torch.zeros(3, 4))


def test_probe_features_are_the_physical_state():
    """Full observation = Gymnasium's [x, x_dot, theta, theta_dot]: the features
    equal it; with positions only, the features still carry the hidden velocities
    (equal to the full-observation twin's, same seed and actions)."""
    full = CartPole(16, seed=3)
    pos = CartPole(16, seed=3, observe="position", history=2)
    obs_f, _ = full.reset()
    obs_p, _ = pos.reset()
    g = torch.Generator().manual_seed(0)
    names = ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]
    for _ in range(30):
        f_full = full.probe_features("cart_0")
        f_pos = pos.probe_features("cart_0")
        assert list(f_full) == names
        for j, key in enumerate(names):
            assert torch.equal(f_full[key], obs_f["cart_0"][:, j])
            assert torch.equal(f_pos[key], f_full[key])
        assert torch.equal(f_pos["cart_position"], obs_p["cart_0"][:, -2])
        assert torch.equal(f_pos["pole_angle"], obs_p["cart_0"][:, -1])
        act = {"cart_0": torch.randint(0, 2, (16,), generator=g)}
        obs_f = full.step(act)[0]
        obs_p = pos.step(act)[0]
    two = CartPole(4, seed=0, n_agents=2)
    two.reset()
    assert torch.equal(
        two.probe_features("cart_1")["pole_angle"], two.state[:, 1, 2].float()
    )
