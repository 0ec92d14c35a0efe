"""Conformance of every registered env: PettingZoo's and Gymnasium's own suites, the
batched core's contract, bad input, pickling and docs. Parametrized over
``envs.names()``, so a new env is tested by registering it."""

from __future__ import annotations

import pickle
import re
import sys
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import envs

NAMES = envs.names()


def random_actions(core: envs.BatchedEnv, generator: torch.Generator):
    """Valid random batched actions for every agent of ``core``."""
    out = {}
    n = core.num_envs
    for agent in core.possible_agents:
        space = core.action_space(agent)
        if isinstance(space, spaces.Discrete):
            out[agent] = torch.randint(0, int(space.n), (n,), generator=generator)
        elif isinstance(space, spaces.MultiDiscrete):
            nvec = torch.as_tensor(space.nvec)
            u = torch.rand((n, *space.shape), generator=generator)
            out[agent] = (u * nvec).long()
        else:
            low = torch.as_tensor(space.low)
            high = torch.as_tensor(space.high)
            u = torch.rand((n, *space.shape), generator=generator)
            out[agent] = low + u * (high - low)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_parallel_api(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(envs.make(name), num_cycles=200)


@pytest.mark.parametrize("name", NAMES)
def test_parallel_seed(name):
    parallel_seed_test(lambda: envs.make(name), num_cycles=50)


@pytest.mark.parametrize("name", NAMES)
def test_aec_api_and_seed(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api_test(envs.make_aec(name), num_cycles=100)
        seed_test(lambda: envs.make_aec(name), num_cycles=50)


@pytest.mark.parametrize("env_id", envs.gym_ids())
def test_gymnasium_check_env(env_id):
    env = gymnasium.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("name", NAMES)
def test_batched_core_contract(name):
    core = envs.make_vec(name, 7, seed=0)
    obs, infos = core.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(3 * core.max_steps):
        for agent in core.possible_agents:
            space = core.observation_space(agent)
            assert obs[agent].shape == (7, *space.shape)
            assert obs[agent].dtype == torch.float32
            assert bool(torch.isfinite(obs[agent]).all())
            assert infos[agent]["active"].shape == (7,)
            low = torch.as_tensor(space.low)
            high = torch.as_tensor(space.high)
            assert bool(((obs[agent] >= low) & (obs[agent] <= high)).all())
        obs, rew, term, trunc, infos = core.step(random_actions(core, g))
        for agent in core.possible_agents:
            assert rew[agent].shape == (7,) and rew[agent].dtype == torch.float32
            assert term[agent].dtype == torch.bool and trunc[agent].dtype == torch.bool
            assert not bool((term[agent] & trunc[agent]).any())
            assert infos[agent]["final_obs"].shape == obs[agent].shape
    # Auto-reset keeps episode lengths within the limit.
    assert bool((core.elapsed < core.max_steps).all())


@pytest.mark.parametrize("name", NAMES)
def test_batched_core_is_seeded(name):
    def rollout(seed):
        core = envs.make_vec(name, 5, seed=seed)
        obs, _ = core.reset()
        g = torch.Generator().manual_seed(1)
        trace = [torch.cat([o.flatten(1) for o in obs.values()], 1)]
        for _ in range(2 * core.max_steps):
            obs, rew, *_ = core.step(random_actions(core, g))
            trace.append(torch.cat([o.flatten(1) for o in obs.values()], 1))
            trace.append(torch.stack(list(rew.values()), 1))
        return trace

    a, b, c = rollout(3), rollout(3), rollout(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("name", NAMES)
def test_batched_matches_pettingzoo_face(name):
    """Env 0 of a batched core of one equals the PettingZoo face step by step."""
    core = envs.make_vec(name, 1, seed=11)
    face = envs.make(name)
    obs_c, _ = core.reset(seed=11)
    obs_f, _ = face.reset(seed=11)
    g = torch.Generator().manual_seed(2)
    for _ in range(core.max_steps):
        for agent in face.agents:
            np.testing.assert_allclose(obs_c[agent][0].numpy(), obs_f[agent])
        acts = random_actions(core, g)
        obs_c, rew_c, term_c, trunc_c, _ = core.step(acts)
        obs_f, rew_f, term_f, trunc_f, _ = face.step(
            {a: x[0].numpy() for a, x in acts.items()}
        )
        for agent in rew_f:
            assert rew_f[agent] == pytest.approx(float(rew_c[agent][0]))
        if not face.agents:
            break


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip(name):
    par = envs.make(name)
    par.reset(seed=5)
    clone = pickle.loads(pickle.dumps(par))
    obs_a, _ = par.reset(seed=9)
    obs_b, _ = clone.reset(seed=9)
    for agent in obs_a:
        np.testing.assert_array_equal(obs_a[agent], obs_b[agent])
    core = envs.make_vec(name, 3, seed=1)
    core.reset()
    twin = pickle.loads(pickle.dumps(core))
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    o1 = core.step(random_actions(core, g1))[0]
    o2 = twin.step(random_actions(twin, g2))[0]
    for agent in o1:
        assert torch.equal(o1[agent], o2[agent])


@pytest.mark.parametrize("name", NAMES)
def test_render_and_close(name):
    par = envs.make(name, render_mode="ansi")
    par.reset(seed=0)
    text = par.render()
    assert isinstance(text, str) and text
    if "rgb_array" in envs.core_class(name).render_modes:
        rgb = envs.make(name, render_mode="rgb_array")
        rgb.reset(seed=0)
        frame = rgb.render()
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    par.close()


@pytest.mark.parametrize("name", NAMES)
def test_task_spec(name):
    spec = envs.make_vec(name, 1).task_spec()
    assert spec.obs_dim >= 1 and spec.act_dim >= 1 and spec.history >= 1
    assert spec.delta > 0 and 0 < spec.eps < 1
    with pytest.raises(dataclasses_frozen_error()):
        spec.obs_dim = 3


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


# ---------------------------------------------------------------------- bad input
def _snapshot(core):
    return {k: v.clone() for k, v in vars(core).items() if isinstance(v, torch.Tensor)}


def _unchanged(core, snap):
    now = _snapshot(core)
    return all(torch.equal(now[k], v) for k, v in snap.items())


@pytest.mark.parametrize("name", NAMES)
def test_bad_actions_raise_and_leave_state(name):
    core = envs.make_vec(name, 4, seed=0)
    core.reset()
    good = random_actions(core, torch.Generator().manual_seed(0))
    agent = core.possible_agents[-1]
    space = core.action_space(agent)
    snap = _snapshot(core)
    gen_state = core.generator.get_state()

    bad_shape = dict(good, **{agent: good[agent][:2]})
    with pytest.raises(ValueError, match=rf"{agent}.*shape"):
        core.step(bad_shape)
    with pytest.raises(ValueError, match="missing"):
        core.step({a: x for a, x in good.items() if a != agent})
    with pytest.raises(ValueError, match="unknown agent|unexpected"):
        core.step(dict(good, intruder=good[agent]))
    with pytest.raises(TypeError, match=agent):
        core.step(dict(good, **{agent: good[agent].numpy()}))
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete):
        with pytest.raises(TypeError, match=rf"{agent}.*integer"):
            core.step(dict(good, **{agent: good[agent].float()}))
        too_big = good[agent].clone()
        too_big.view(-1)[0] = 10**6
        with pytest.raises(ValueError, match=rf"{agent}.*out of range"):
            core.step(dict(good, **{agent: too_big}))
        negative = good[agent].clone()
        negative.view(-1)[0] = -1
        with pytest.raises(ValueError, match=rf"{agent}.*out of range"):
            core.step(dict(good, **{agent: negative}))
    else:
        nan = good[agent].clone()
        nan.view(-1)[0] = float("nan")
        with pytest.raises(ValueError, match=rf"{agent}.*finite"):
            core.step(dict(good, **{agent: nan}))
        with pytest.raises(TypeError, match=rf"{agent}.*float"):
            core.step(dict(good, **{agent: good[agent].long()}))
        big = good[agent].clone()
        big.view(-1)[0] = 1e6
        with pytest.raises(ValueError, match=rf"{agent}.*out of range"):
            core.step(dict(good, **{agent: big}))
    assert _unchanged(core, snap)
    assert torch.equal(core.generator.get_state(), gen_state)
    core.step(good)  # still usable


@pytest.mark.parametrize("name", NAMES)
def test_step_before_reset_and_unknown_config(name):
    core = envs.make_vec(name, 2)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(RuntimeError, match="before reset"):
        core.step(random_actions(core, g))
    with pytest.raises(TypeError, match="unknown config key 'no_such_option'"):
        envs.make_vec(name, 2, no_such_option=1)
    with pytest.raises(TypeError, match="no_such_option"):
        envs.make(name, no_such_option=1)
    par = envs.make(name)
    with pytest.raises(RuntimeError, match="before reset"):
        par.step({a: par.action_space(a).sample() for a in par.possible_agents})
    with pytest.raises(ValueError, match="num_envs"):
        envs.make_vec(name, 0)
    with pytest.raises(ValueError, match="render_mode"):
        envs.make(name, render_mode="hologram")


def test_unknown_env_name():
    with pytest.raises(ValueError, match="unknown env 'nope_v0'"):
        envs.make("nope_v0")


# ---------------------------------------------------------------------- docs
def _doc_table(module) -> dict[str, str]:
    rows = {}
    for line in (module.__doc__ or "").splitlines():
        m = re.match(r"^\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


@pytest.mark.parametrize("name", NAMES)
def test_doc_table_names_the_agents_and_spaces(name):
    cls = envs.core_class(name)
    module = sys.modules[cls.__module__]
    table = _doc_table(module)
    assert "Agents" in table, f"{module.__name__} docstring has no Agents row"
    for agent in cls.possible_agents:
        assert agent.split("_")[0] in table["Agents"]
    core = cls(1)
    spaces_row = table.get("Action spaces", "") + table.get("Action space", "")
    for agent in cls.possible_agents:
        kind = type(core.action_space(agent)).__name__
        assert kind in spaces_row, f"{kind} of {agent} missing from the doc table"
    assert "Version History" in module.__doc__


@pytest.mark.parametrize("name", NAMES)
def test_pettingzoo_face_rejects_bad_actions(name):
    par = envs.make(name)
    par.reset(seed=0)
    good = {a: par.action_space(a).sample() for a in par.agents}
    agent = par.agents[-1]
    space = par.action_space(agent)
    snap = _snapshot(par.core)
    with pytest.raises(ValueError, match=rf"{agent}.*shape"):
        par.step(dict(good, **{agent: np.zeros((7, 7))}))
    with pytest.raises(ValueError, match="missing"):
        par.step({a: x for a, x in good.items() if a != agent})
    with pytest.raises(TypeError, match=agent):
        par.step(dict(good, **{agent: "left"}))
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete):
        big = np.full(space.shape, 10**6, dtype=np.int64)
        with pytest.raises(ValueError, match=rf"{agent}.*out of range"):
            par.step(dict(good, **{agent: big}))
        with pytest.raises(TypeError, match=rf"{agent}.*integer"):
            par.step(dict(good, **{agent: np.asarray(good[agent], dtype=np.float64)}))
    else:
        nan = np.full(space.shape, np.nan, dtype=np.float32)
        with pytest.raises(ValueError, match=rf"{agent}.*finite"):
            par.step(dict(good, **{agent: nan}))
    assert _unchanged(par.core, snap)
    par.step(good)
