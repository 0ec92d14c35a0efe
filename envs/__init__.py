"""The worlds: batched tensor cores with PettingZoo and Gymnasium faces.

>>> import envs
>>> "referential_v0" in envs.names()
True
>>> par = envs.make("referential_v0")          # pettingzoo.ParallelEnv
>>> vec = envs.make_vec("referential_v0", 1024, seed=0)   # batched core
>>> obs, infos = vec.reset()
>>> tuple(obs["listener"].shape)
(1024, 98)

Gymnasium ids (single-agent tasks) are registered on import under ``aim/``.

Every face (``make``, ``make_aec``, ``make_vec``, the Gymnasium ids) has
``task_spec()`` and raises the same errors: ``TypeError``/``ValueError`` naming the
agent for a bad action (state unchanged) and :class:`ResetNeeded` for a step before
``reset()`` or after the episode ended (see :mod:`envs.core`).
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Any

import gymnasium

from envs.core import (
    AECFace,
    BatchedEnv,
    GymFace,
    ParallelFace,
    ProbeFeature,
    ResetNeeded,
    StepInfo,
    TaskSpec,
    aec_face,
)

__all__ = [
    "AECFace",
    "BatchedEnv",
    "GymFace",
    "ParallelFace",
    "ProbeFeature",
    "ResetNeeded",
    "StepInfo",
    "TaskSpec",
    "core_class",
    "gym_ids",
    "make",
    "make_aec",
    "make_vec",
    "names",
]

# name -> "module:CoreClass". Read-only; a new env is one line here.
_REGISTRY = MappingProxyType(
    {
        "referential_v0": "envs.referential:ReferentialGame",
        "contextual_pd_v0": "envs.contextual_pd:ContextualPD",
        "speaker_listener_v0": "envs.speaker_listener:SpeakerListener",
        "cartpole_v0": "envs.cartpole:CartPole",
        "reach_v0": "envs.reach:Reach",
    }
)

# Gymnasium id -> (env name, fixed config).
_GYM_IDS = MappingProxyType(
    {
        "aim/CartPole-v0": ("cartpole_v0", {"observe": "full"}),
        "aim/CartPole-POMDP-v0": ("cartpole_v0", {"observe": "position"}),
        "aim/Reach-v0": ("reach_v0", {"goal_visible": True}),
        "aim/Reach-POMDP-v0": ("reach_v0", {"goal_visible": False}),
    }
)


def _available() -> dict[str, str]:
    out = {}
    for name, target in _REGISTRY.items():
        module = target.split(":")[0]
        if importlib.util.find_spec(module) is not None:
            out[name] = target
    return out


def names() -> list[str]:
    """Names of the registered environments, sorted."""
    return sorted(_available())


def core_class(name: str) -> type[BatchedEnv]:
    """The batched core class of env ``name``."""
    available = _available()
    if not isinstance(name, str) or name not in available:
        raise ValueError(f"unknown env {name!r}; expected one of {sorted(available)}")
    module, cls = available[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make(name: str, *, render_mode: str | None = None, **config: Any) -> ParallelFace:
    """The PettingZoo ``ParallelEnv`` of env ``name`` (one env, numpy in and out)."""
    return ParallelFace(core_class(name), render_mode=render_mode, **config)


def make_aec(name: str, *, render_mode: str | None = None, **config: Any) -> AECFace:
    """The PettingZoo ``AECEnv`` of env ``name`` (PettingZoo's converter, with each
    action validated on its own turn; see :class:`envs.core.AECFace`)."""
    return aec_face(make(name, render_mode=render_mode, **config))


def make_vec(
    name: str,
    num_envs: int,
    *,
    device: str = "cpu",
    seed: int | None = None,
    **config: Any,
) -> BatchedEnv:
    """The batched core of env ``name``: ``num_envs`` envs as one tensor batch."""
    return core_class(name)(num_envs, device=device, seed=seed, **config)


def make_gym(name: str, *, render_mode: str | None = None, **config: Any) -> GymFace:
    """Entry point of the Gymnasium ids: the single-agent face of env ``name``."""
    return GymFace(core_class(name), render_mode=render_mode, **config)


def gym_ids() -> list[str]:
    """The Gymnasium ids this package registers (those whose env is available)."""
    available = _available()
    return sorted(i for i, (name, _) in _GYM_IDS.items() if name in available)


def _register_gym_ids() -> None:
    for env_id in gym_ids():
        if env_id in gymnasium.registry:
            continue
        name, fixed = _GYM_IDS[env_id]
        gymnasium.register(
            env_id,
            entry_point="envs:make_gym",
            kwargs={"name": name, **fixed},
            disable_env_checker=False,
            # GymFace enforces the order itself, raising envs.ResetNeeded (a
            # subclass of Gymnasium's ResetNeeded) like every other face.
            order_enforce=False,
        )


_register_gym_ids()
