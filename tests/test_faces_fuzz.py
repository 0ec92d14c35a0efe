"""Fuzz the four faces of every env (batched core, PettingZoo parallel and AEC,
Gymnasium) with Hypothesis: random interleavings of ``reset`` and ``step`` with
random action dicts, valid and invalid (dtypes, shapes, ranges, NaN, bools, complex,
huge ints, missing and extra agents, bad seeds).

The property, for every call: a valid call succeeds; an invalid one raises
``ValueError``/``TypeError`` naming the agent (or the seed), or
:class:`envs.ResetNeeded` when the env is not ready; after any error the env's state
is exactly what it was, and the env keeps working.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs

NAMES = envs.names()
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
N = 3  # envs in the fuzzed batched cores
ERRORS = (ValueError, TypeError, envs.ResetNeeded)


@pytest.fixture(scope="module")
def prototypes():
    """One fresh env per (face, name), deep-copied per example (construction of the
    digit envs loads images; a copy is cheap)."""
    made: dict[tuple[str, str], Any] = {}

    def get(face: str, name: str, **kw: Any):
        key = (face, name, tuple(sorted(kw.items())))
        if key not in made:
            if face == "core":
                made[key] = envs.make_vec(name, N, **kw)
            elif face == "parallel":
                made[key] = envs.make(name)
            elif face == "aec":
                made[key] = envs.make_aec(name)
            else:
                made[key] = gymnasium.make(name)
        return copy.deepcopy(made[key])

    return get


# ---------------------------------------------------------------------- state
def same(a: Any, b: Any) -> bool:
    """Deep equality of nested dicts / sequences of tensors, arrays and scalars."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        floats = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        return np.array_equal(a, b, equal_nan=floats)
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b))
        )
    return a == b


def core_state(core: envs.BatchedEnv) -> dict[str, Any]:
    return copy.deepcopy(core.state_dict())


def face_state(face: str, env: Any) -> dict[str, Any]:
    if face == "core":
        return core_state(env)
    if face == "parallel":
        return {
            "core": core_state(env.core),
            "agents": list(env.agents),
            "needs_reset": env._needs_reset,
        }
    if face == "aec":
        inner = env.env  # PettingZoo's converter (with per-turn validation)
        keys = (
            "agents",
            "agent_selection",
            "_actions",
            "terminations",
            "truncations",
            "rewards",
            "_cumulative_rewards",
            "infos",
            "_observations",
        )
        return {
            "core": core_state(env.unwrapped.core),
            "parallel_agents": list(env.unwrapped.agents),
            "flags": (env._has_reset, env._has_updated),
            **{k: copy.deepcopy(getattr(inner, k, None)) for k in keys},
        }
    gym = env.unwrapped
    rng = gym._np_random  # not .np_random: reading that would seed it
    return {
        "core": core_state(gym.core),
        "np_random": None if rng is None else copy.deepcopy(rng.bit_generator.state),
        "seeded": gym._seeded,
    }


# ---------------------------------------------------------------------- actions
INT_TORCH = (
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.uint16,
    torch.int32,
    torch.uint32,
    torch.int64,
    torch.uint64,
)
FLOAT_TORCH = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INT_NUMPY = (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64)
FLOAT_NUMPY = (np.float16, np.float32, np.float64)


def _valid_sample(space: spaces.Space, rows: int | None, seed: int) -> np.ndarray:
    space = copy.deepcopy(space)
    space.seed(seed)
    if rows is None:
        return np.asarray(space.sample())
    return np.stack([np.asarray(space.sample()) for _ in range(rows)])


def _high_value(space: spaces.Space) -> int:
    if isinstance(space, spaces.Discrete):
        return int(space.start + space.n)
    return int(np.max(space.nvec))


def draw_action(
    data: st.DataObject, space: spaces.Space, rows: int | None
) -> tuple[Any, bool]:
    """An action for one agent: (value, valid). ``rows`` is the batch size for a
    core (torch tensors) and ``None`` for a single-env face (numpy / Python / torch).
    """
    discrete = isinstance(space, spaces.Discrete | spaces.MultiDiscrete)
    seed = data.draw(st.integers(0, 2**31 - 1), label="sample seed")
    good = _valid_sample(space, rows, seed)
    kind = data.draw(
        st.sampled_from(
            [
                "valid",
                "valid",
                "valid",
                "wrong_dtype",
                "bool",
                "complex",
                "shape",
                "range",
                "huge",
                "nan",
                "not_array",
            ]
        ),
        label="action kind",
    )
    if kind == "valid":
        if rows is not None:
            dtype = data.draw(st.sampled_from(INT_TORCH if discrete else FLOAT_TORCH))
            return torch.as_tensor(good).to(dtype), True
        form = data.draw(st.sampled_from(["numpy", "torch", "python"]))
        if form == "torch":
            dtype = data.draw(
                st.sampled_from(
                    (torch.int64, torch.uint16, torch.int32)
                    if discrete
                    else (torch.float32, torch.float64)
                )
            )
            return torch.as_tensor(good).to(dtype), True
        if form == "python" and good.ndim == 0:
            return good.item(), True
        dtype = data.draw(st.sampled_from(INT_NUMPY if discrete else FLOAT_NUMPY))
        return good.astype(dtype), True
    if kind == "wrong_dtype":
        bad = good.astype(np.float32) if discrete else good.astype(np.int64)
        return (torch.as_tensor(bad) if rows is not None else bad), False
    if kind == "bool":
        bad = np.ones_like(good, dtype=bool)
        return (torch.as_tensor(bad) if rows is not None else bad), False
    if kind == "complex":
        bad = good.astype(np.complex64)
        return (torch.as_tensor(bad) if rows is not None else bad), False
    if kind == "shape":
        extra = data.draw(st.sampled_from(["more", "less"]))
        bad = good[..., None] if extra == "more" or good.ndim == 0 else good[..., :0]
        if rows is not None and extra == "less":
            bad = good[: max(rows - 1, 0)]
        return (torch.as_tensor(bad) if rows is not None else bad), False
    if kind in ("range", "huge"):
        bad = good.copy()
        flat = bad.reshape(-1)
        if flat.size == 0:
            return (torch.as_tensor(bad) if rows is not None else bad), True
        if discrete:
            if kind == "range":
                flat[0] = data.draw(
                    st.sampled_from([-1, _high_value(space), _high_value(space) + 7])
                )
            else:
                if rows is None and bad.ndim == 0:
                    return data.draw(st.sampled_from([10**30, -(10**30)])), False
                big = data.draw(st.sampled_from(["int64", "uint64"]))
                if big == "uint64":
                    bad = bad.astype(np.uint64)
                    bad.reshape(-1)[0] = np.uint64(2**64 - 1)
                else:
                    flat[0] = 2**63 - 1
        else:
            flat[0] = data.draw(st.sampled_from([1e6, -1e6, 3.0, np.inf, -np.inf]))
        return (torch.as_tensor(bad) if rows is not None else bad), False
    if kind == "nan":
        bad = good.astype(np.float64) if discrete else good.copy()
        bad.reshape(-1)[:1] = np.nan
        if bad.size == 0:
            bad = np.float64(np.nan)
        return (torch.as_tensor(bad) if rows is not None else bad), False
    # not_array
    return data.draw(st.sampled_from([None, "left", [[1], [1, 2]], {"a": 1}])), False


def draw_actions(
    data: st.DataObject, env: Any, agents: list[str], rows: int | None
) -> tuple[Any, bool, set[str]]:
    """An action dict: (value, valid, agents the error may name)."""
    acts, valid, culprits = {}, True, set()
    for agent in agents:
        value, ok = draw_action(data, env.action_space(agent), rows)
        acts[agent] = value
        if not ok:
            valid = False
            culprits.add(agent)
    shape = data.draw(st.sampled_from(["ok"] * 6 + ["missing", "extra", "list"]))
    if shape == "missing":
        gone = data.draw(st.sampled_from(agents))
        del acts[gone]
        return acts, False, culprits | {gone}
    if shape == "extra":
        acts["intruder"] = next(iter(acts.values()))
        return acts, False, culprits | {"intruder"}
    if shape == "list":
        return list(acts.values()), False, {"dict"}
    return acts, valid, culprits


SEEDS = st.one_of(
    st.none(),
    st.integers(0, 2**64 - 1).map(lambda s: (s, True)),
    st.sampled_from([-1, 2**64, 2**70, True, 1.5, "3"]).map(lambda s: (s, False)),
)


def _split_seed(drawn: Any) -> tuple[Any, bool]:
    return (None, True) if drawn is None else drawn


def check_error(err: Exception, culprits: set[str], env_name: str) -> None:
    """The error is one of ours and names what was wrong."""
    assert isinstance(err, ERRORS), f"unexpected {type(err).__name__}: {err}"
    text = str(err)
    if isinstance(err, envs.ResetNeeded):
        assert env_name in text
        return
    if culprits and "dict" not in culprits:
        assert any(agent in text for agent in culprits), (culprits, text)


# ---------------------------------------------------------------------- cores
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("autoreset", [True, False])
@SETTINGS
@given(data=st.data())
def test_fuzz_batched_core(prototypes, name, autoreset, data):
    core = prototypes("core", name, autoreset=autoreset)
    ready = False
    for _ in range(data.draw(st.integers(1, 8), label="calls")):
        before = core_state(core)
        if data.draw(st.booleans(), label="reset?"):
            seed, seed_ok = _split_seed(data.draw(SEEDS, label="seed"))
            try:
                core.reset(seed=seed)
            except ERRORS as err:
                assert not seed_ok and "seed" in str(err)
                assert same(core_state(core), before)
                continue
            assert seed_ok
            ready = True
            continue
        acts, valid, culprits = draw_actions(data, core, list(core.possible_agents), N)
        try:
            core.step(acts)
        except ERRORS as err:
            if not ready:
                assert isinstance(err, envs.ResetNeeded)
            else:
                assert not valid, f"valid actions raised {err!r}"
            check_error(err, culprits, name)
            assert same(core_state(core), before)
            continue
        assert ready and valid
        if not autoreset:
            ready = core._ready
    core.reset(seed=0)
    core.step(
        {
            a: torch.as_tensor(_valid_sample(core.action_space(a), N, 0))
            for a in core.possible_agents
        }
    )  # still works


# ---------------------------------------------------------------------- parallel
@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_fuzz_parallel_face(prototypes, name, data):
    par = prototypes("parallel", name)
    ready = False
    for _ in range(data.draw(st.integers(1, 10), label="calls")):
        before = face_state("parallel", par)
        if data.draw(st.integers(0, 4), label="reset?") == 0:
            seed, seed_ok = _split_seed(data.draw(SEEDS, label="seed"))
            try:
                par.reset(seed=seed)
            except ERRORS as err:
                assert not seed_ok and "seed" in str(err)
                assert same(face_state("parallel", par), before)
                continue
            assert seed_ok
            ready = True
            continue
        acts, valid, culprits = draw_actions(data, par, list(par.possible_agents), None)
        try:
            par.step(acts)
        except ERRORS as err:
            if not ready:
                assert isinstance(err, envs.ResetNeeded)
            else:
                assert not valid, f"valid actions raised {err!r}"
            check_error(err, culprits, name)
            assert same(face_state("parallel", par), before)
            continue
        assert ready and valid
        ready = bool(par.agents)
    par.reset(seed=1)
    par.step({a: par.action_space(a).sample() for a in par.agents})


# ---------------------------------------------------------------------- AEC
@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_fuzz_aec_face(prototypes, name, data):
    aec = prototypes("aec", name)
    has_reset = False
    for _ in range(data.draw(st.integers(1, 14), label="calls")):
        before = face_state("aec", aec)
        if data.draw(st.integers(0, 5), label="reset?") == 0:
            seed, seed_ok = _split_seed(data.draw(SEEDS, label="seed"))
            try:
                aec.reset(seed=seed)
            except ERRORS as err:
                assert not seed_ok and "seed" in str(err)
                assert same(face_state("aec", aec), before)
                continue
            assert seed_ok
            has_reset = True
            continue
        if not has_reset:
            with pytest.raises(envs.ResetNeeded, match=name):
                aec.step(0)
            assert same(face_state("aec", aec), before)
            continue
        if not aec.agents:
            with pytest.raises(envs.ResetNeeded, match="episode ended"):
                aec.step(None)
            assert same(face_state("aec", aec), before)
            continue
        agent = aec.agent_selection
        done = aec.terminations[agent] or aec.truncations[agent]
        if done:
            give_none = data.draw(st.booleans(), label="None for a done agent")
            if give_none:
                aec.step(None)
                continue
            with pytest.raises(envs.ResetNeeded, match=agent):
                aec.step(aec.action_space(agent).sample())
            assert same(face_state("aec", aec), before)
            continue
        value, valid = draw_action(data, aec.action_space(agent), None)
        try:
            aec.step(value)
        except ERRORS as err:
            assert not valid, f"a valid action raised {err!r}"
            check_error(err, {agent}, name)
            assert same(face_state("aec", aec), before)
            continue
        assert valid, f"an invalid action {value!r} of {agent} was accepted"
    aec.reset(seed=2)
    for agent in aec.agent_iter(2 * len(aec.possible_agents)):
        obs, rew, term, trunc, info = aec.last()
        aec.step(None if term or trunc else aec.action_space(agent).sample())


# ---------------------------------------------------------------------- Gymnasium
@pytest.mark.parametrize("env_id", envs.gym_ids())
@SETTINGS
@given(data=st.data())
def test_fuzz_gymnasium_face(prototypes, env_id, data):
    gym = prototypes("gym", env_id)
    name = gym.unwrapped.core.name
    agent = gym.unwrapped.agent
    ready = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Gymnasium's passive checker
        for _ in range(data.draw(st.integers(1, 10), label="calls")):
            before = face_state("gym", gym)
            if data.draw(st.integers(0, 4), label="reset?") == 0:
                seed, seed_ok = _split_seed(data.draw(SEEDS, label="seed"))
                try:
                    gym.reset(seed=seed)
                except ERRORS as err:
                    assert not seed_ok and "seed" in str(err)
                    assert same(face_state("gym", gym), before)
                    continue
                assert seed_ok
                ready = True
                continue
            value, valid = draw_action(data, gym.action_space, None)
            try:
                _, _, term, trunc, _ = gym.step(value)
            except ERRORS as err:
                if not ready:
                    assert isinstance(err, envs.ResetNeeded)
                else:
                    assert not valid, f"a valid action raised {err!r}"
                check_error(err, {agent}, name)
                assert same(face_state("gym", gym), before)
                continue
            assert ready and valid
            ready = not (term or trunc)
        gym.reset(seed=3)
        gym.step(gym.action_space.sample())
