"""Conformance of every registered env: PettingZoo's and Gymnasium's own suites, the
batched core's contract, bad input, pickling and docs. Parametrized over
``envs.names()``, so a new env is tested by registering it."""

from __future__ import annotations

import doctest
import inspect
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
def test_step_info_fields_come_from_the_env_hooks(name):
    """StepInfo's success/meaning are the env's _success()/_meaning() (read before
    the auto-reset), and every agent's info dict carries the same tensors."""
    core = envs.make_vec(name, 16, seed=3)
    _, info = core.reset()
    g = torch.Generator().manual_seed(1)
    for _ in range(2 * core.max_steps):
        hooks = None
        original = core._reset_where

        def spy(mask, original=original):  # the hooks' values just before reset
            nonlocal hooks
            hooks = (core._success(), core._meaning())
            original(mask)

        core._reset_where = spy
        _, _, _, _, info = core.step(random_actions(core, g))
        core._reset_where = original
        success, meaning = hooks
        for got, want in ((info.success, success), (info.meaning, meaning)):
            assert (got is None) == (want is None)
            if want is not None:
                assert torch.equal(got, want)
        for agent in core.possible_agents:
            d = info[agent]
            assert torch.equal(d["active"], info.active[agent])
            if info.success is not None:
                assert d["success"] is info.success
            else:
                assert "success" not in d
            if info.meaning is not None:
                assert d["meaning"] is info.meaning
    expected = {
        "referential_v0": (True, True),
        "contextual_pd_v0": (True, True),
        "speaker_listener_v0": (False, True),
    }.get(name, (False, False))
    assert (info.success is not None, info.meaning is not None) == expected


def test_referential_success_is_the_listeners_choice_of_the_target():
    core = envs.make_vec("referential_v0", 64, seed=0)
    _, info = core.reset()
    assert not bool(info.success.any())
    speak = {"speaker": torch.zeros(64, 2, dtype=torch.int64)}
    _, _, _, _, info = core.step(
        {**speak, "listener": torch.zeros(64, dtype=torch.int64)}
    )
    assert not bool(info.success.any())  # the speaker's step ends nothing
    target = core.target.clone()
    choice = torch.where(torch.arange(64) % 2 == 0, target, (target + 1) % 4)
    _, rew, _, _, info = core.step({**speak, "listener": choice})
    assert torch.equal(info.success, torch.arange(64) % 2 == 0)
    assert torch.equal(rew["listener"], info.success.float())


def test_an_env_that_writes_a_reserved_info_key_is_refused():
    core = envs.make_vec("referential_v0", 2, seed=0)
    infos = core._infos
    core._infos = lambda: {a: {**d, "success": d["active"]} for a, d in infos().items()}
    with pytest.raises(RuntimeError, match=r"reserved info key.*_success\(\)"):
        core.reset()


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


@pytest.mark.parametrize("name", NAMES)
def test_task_spec_on_every_face(name):
    """make, make_aec (and the Gymnasium ids below) forward task_spec to the core,
    with the core's signature (task_difficulty reads it to pass ``agent``)."""
    core = envs.make_vec(name, 1)
    par, aec = envs.make(name), envs.make_aec(name)
    for face in (par, aec, aec.unwrapped):
        assert face.task_spec() == core.task_spec()
        assert inspect.signature(face.task_spec) == inspect.signature(core.task_spec)
    if "agent" in inspect.signature(core.task_spec).parameters:
        for agent in core.possible_agents:
            assert par.task_spec(agent=agent) == core.task_spec(agent=agent)
            assert aec.task_spec(agent) == core.task_spec(agent)


@pytest.mark.parametrize("env_id", envs.gym_ids())
def test_task_spec_on_gymnasium_ids(env_id):
    env = gymnasium.make(env_id)
    name, fixed = envs._GYM_IDS[env_id]
    assert env.unwrapped.task_spec() == envs.make_vec(name, 1, **fixed).task_spec()
    assert env.get_wrapper_attr("task_spec")() == env.unwrapped.task_spec()


def test_task_difficulty_takes_a_pettingzoo_env():
    from analysis.difficulty import task_difficulty

    for name in ("reach_v0", "cartpole_v0"):
        d_face = task_difficulty(envs.make(name), n_steps=1000)
        d_core = task_difficulty(envs.make_vec(name, 1), n_steps=1000)
        assert d_face.bits == d_core.bits


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
    with pytest.raises(envs.ResetNeeded, match="before reset"):
        core.step(random_actions(core, g))
    with pytest.raises(TypeError, match="unknown config key 'no_such_option'"):
        envs.make_vec(name, 2, no_such_option=1)
    with pytest.raises(TypeError, match="no_such_option"):
        envs.make(name, no_such_option=1)
    par = envs.make(name)
    with pytest.raises(envs.ResetNeeded, match="before reset"):
        par.step({a: par.action_space(a).sample() for a in par.possible_agents})
    with pytest.raises(ValueError, match="num_envs"):
        envs.make_vec(name, 0)
    with pytest.raises(ValueError, match="render_mode"):
        envs.make(name, render_mode="hologram")


def _finish_episode(par):
    while par.agents:
        par.step({a: par.action_space(a).sample() for a in par.agents})


@pytest.mark.parametrize("name", NAMES)
def test_out_of_order_steps_raise_one_error_in_every_face(name):
    """Before reset and after the episode ended: envs.ResetNeeded (a RuntimeError
    and a gymnasium.error.ResetNeeded) in every face, never an assert."""
    assert issubclass(envs.ResetNeeded, RuntimeError)
    assert issubclass(envs.ResetNeeded, gymnasium.error.ResetNeeded)
    core = envs.make_vec(name, 2, autoreset=False, max_steps=None)
    g = torch.Generator().manual_seed(0)
    core.reset(seed=0)
    while core._ready:
        core.step(random_actions(core, g))
    with pytest.raises(envs.ResetNeeded, match=name):
        core.step(random_actions(core, g))
    par = envs.make(name)
    par.reset(seed=0)
    _finish_episode(par)
    with pytest.raises(envs.ResetNeeded, match="episode ended"):
        par.step({a: par.action_space(a).sample() for a in par.possible_agents})
    aec = envs.make_aec(name)
    for call in (lambda: aec.step(0), lambda: aec.observe(aec.possible_agents[0])):
        with pytest.raises(envs.ResetNeeded, match=name):
            call()
    with pytest.raises(envs.ResetNeeded):
        aec.agent_iter()
    aec.reset(seed=0)
    while not any(aec.terminations.values()) and not any(aec.truncations.values()):
        aec.step(aec.action_space(aec.agent_selection).sample())
    done_agent = aec.agent_selection
    with pytest.raises(envs.ResetNeeded, match=done_agent):
        aec.step(aec.action_space(done_agent).sample())
    while aec.agents:
        aec.step(None)  # PettingZoo's protocol for finished agents still works
    with pytest.raises(envs.ResetNeeded, match="episode ended"):
        aec.step(None)
    aec.reset(seed=1)
    aec.step(aec.action_space(aec.agent_selection).sample())


@pytest.mark.parametrize("env_id", envs.gym_ids())
def test_gymnasium_out_of_order_step(env_id):
    env = gymnasium.make(env_id, max_steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(envs.ResetNeeded, match="before reset"):
            env.step(env.action_space.sample())
        env.reset(seed=0)
        done = False
        while not done:
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            done = term or trunc
        with pytest.raises(envs.ResetNeeded):
            env.step(env.action_space.sample())
        env.reset(seed=1)
        env.step(env.action_space.sample())


@pytest.mark.parametrize("name", NAMES)
def test_aec_validates_each_action_on_its_turn(name):
    """A bad action raises on its own agent's turn, naming it; nothing is stored,
    the turn does not pass, and the env goes on (it used to raise on the next
    agent's step and stay stuck until reset)."""
    aec = envs.make_aec(name)
    aec.reset(seed=1)
    first = aec.agent_selection
    space = aec.action_space(first)
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete):
        bad = np.full(space.shape, 99, dtype=np.int64)
    else:
        bad = np.full(space.shape, np.nan, dtype=np.float32)
    snap = _snapshot(aec.unwrapped.core)
    with pytest.raises(ValueError, match=first):
        aec.step(bad)
    with pytest.raises(TypeError, match=first):
        aec.step(np.ones(space.shape, dtype=np.complex64))
    assert aec.agent_selection == first
    assert all(v is None for v in aec.env._actions.values())
    assert _unchanged(aec.unwrapped.core, snap)
    for agent in aec.agent_iter(3 * len(aec.possible_agents)):
        _, _, term, trunc, _ = aec.last()
        aec.step(None if term or trunc else aec.action_space(agent).sample())


@pytest.mark.parametrize("name", NAMES)
def test_bool_max_steps_and_bad_seeds_fail_at_the_boundary(name):
    for steps in (True, np.True_, 2.0):
        with pytest.raises(ValueError, match="max_steps"):
            envs.make_vec(name, 1, max_steps=steps)
    core = envs.make_vec(name, 2, seed=2**64 - 1)  # the largest seed is fine
    core.reset(seed=0)
    snap = _snapshot(core)
    for seed, err in ((2**64, ValueError), (-1, ValueError), (True, TypeError)):
        with pytest.raises(err, match="seed"):
            core.reset(seed=seed)
        with pytest.raises(err, match="seed"):
            envs.make_vec(name, 1, seed=seed)
        with pytest.raises(err, match="seed"):
            envs.make(name).reset(seed=seed)
    assert _unchanged(core, snap)


def test_max_steps_accepts_numpy_ints():
    core = envs.make_vec("cartpole_v0", 1, max_steps=np.int64(7))
    assert core.max_steps == 7 and type(core.max_steps) is int


@pytest.mark.parametrize("name", NAMES)
def test_unsigned_actions_accepted_and_complex_rejected(name):
    """Valid values of any integer dtype (uint16/32/64 included) step like int64;
    complex actions raise TypeError naming the agent (core and faces)."""
    a = envs.make_vec(name, 3, seed=4)
    a.reset()
    acts = random_actions(a, torch.Generator().manual_seed(0))
    discrete = [
        x
        for x in a.possible_agents
        if isinstance(a.action_space(x), spaces.Discrete | spaces.MultiDiscrete)
    ]
    for dtype in (torch.uint8, torch.uint16, torch.uint32, torch.uint64, torch.int8):
        b = pickle.loads(pickle.dumps(a))
        ref = pickle.loads(pickle.dumps(a)).step(acts)[0]
        got = b.step({k: v.to(dtype) if k in discrete else v for k, v in acts.items()})
        for agent in ref:
            assert torch.equal(ref[agent], got[0][agent])
    for agent in a.possible_agents:
        snap = _snapshot(a)
        with pytest.raises(TypeError, match=rf"{agent}.*(real|integer|float)"):
            a.step(dict(acts, **{agent: acts[agent].to(torch.complex64)}))
        assert _unchanged(a, snap)
    if discrete:
        agent = discrete[0]
        flat = acts[agent].numpy().astype(np.uint64)
        flat.reshape(-1)[0] = np.uint64(2**64 - 1)
        huge = torch.from_numpy(flat)
        with pytest.raises(ValueError, match=rf"{agent}.*18446744073709551615"):
            a.step(dict(acts, **{agent: huge}))
    par = envs.make(name)
    par.reset(seed=0)
    good = {x: np.asarray(par.action_space(x).sample()) for x in par.agents}
    for agent in discrete:
        for dtype in (np.uint16, np.uint32, np.uint64):
            fresh = envs.make(name)
            fresh.reset(seed=0)
            fresh.step(dict(good, **{agent: good[agent].astype(dtype)}))
        with pytest.raises(TypeError, match=rf"{agent}.*real"):
            par.step(dict(good, **{agent: good[agent].astype(np.complex128)}))
        as_tensor = torch.as_tensor(good[agent]).to(torch.uint16)
        par.step(dict(good, **{agent: as_tensor}))
        break


@pytest.mark.parametrize("name", NAMES)
def test_probe_features_match_their_specs(name):
    """Every env declares probe features; values match the declared kind, shape and
    number of classes, for every agent, after reset and after steps."""
    core = envs.make_vec(name, 6, seed=0)
    core.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        for agent in core.possible_agents:
            specs = core.probe_feature_specs(agent)
            assert specs, f"{name} declares no probe features for {agent}"
            feats = core.probe_features(agent)
            assert list(feats) == [f.name for f in specs]
            for f in specs:
                value = feats[f.name]
                assert tuple(value.shape) == (6, *f.shape), f.name
                if f.kind == "categorical":
                    assert value.dtype == torch.int64 and f.n_classes >= 2
                    assert bool(((value >= 0) & (value < f.n_classes)).all())
                else:
                    assert f.kind == "continuous" and f.n_classes is None
                    assert value.dtype == torch.float32
                    assert bool(torch.isfinite(value).all())
        core.step(random_actions(core, g))
    with pytest.raises(ValueError, match="unknown agent"):
        core.probe_features("nobody")


def test_env_doctests():
    import envs.controls
    import envs.referential

    for module in (envs, envs.controls, envs.referential):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


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


@pytest.mark.parametrize("name", envs.names())
def test_cached_scalar_actions_are_never_written(name):
    """The one-env faces reuse one tensor per discrete choice: stepping must leave
    each cached tensor holding its own value."""
    env = envs.make(name)
    env.reset(seed=0)
    for _ in range(60):
        if not env.agents:
            env.reset()
        env.step({a: env.action_space(a).sample() for a in env.possible_agents})
    cache = env.core.__dict__.get("_scalar_actions", {})
    for (_, value), tensor in cache.items():
        assert tensor.tolist() == [value]
