"""The run contract's input records: every bad value is one clear error."""

from __future__ import annotations

import dataclasses
import math

import pytest

from agents.spec import NetworkConfig, PPOConfig, RLlibOptions, TrainSpec


def test_defaults_are_valid_and_derived_sizes():
    spec = TrainSpec()
    assert spec.ppo.batch_size == 1024 * 8
    assert spec.ppo.minibatch_size == 1024 * 8 // 4
    assert spec.iterations == math.ceil(250_000 / 8192)
    assert spec.total_env_steps == spec.iterations * 8192 >= spec.steps


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_envs": 0}, ValueError, "num_envs must be >= 1"),
        ({"num_envs": -1}, ValueError, "num_envs must be >= 1"),
        ({"num_envs": 1024.0}, TypeError, "num_envs must be an int"),
        ({"num_envs": True}, TypeError, "num_envs must be an int"),
        ({"num_steps": 0}, ValueError, "num_steps"),
        ({"update_epochs": 0}, ValueError, "update_epochs"),
        ({"num_envs": 3, "num_steps": 1, "num_minibatches": 2}, ValueError, "divide"),
        ({"lr": 0.0}, ValueError, "lr must be > 0"),
        ({"lr": float("nan")}, ValueError, "lr must be finite"),
        ({"lr": "fast"}, TypeError, "lr must be a number"),
        ({"lr_decay": 0.0}, ValueError, r"lr_decay must be in \(0, 1\]"),
        ({"ent_decay": 1.5}, ValueError, "ent_decay"),
        ({"gamma": 1.5}, ValueError, "gamma"),
        ({"ent_coef": float("nan")}, ValueError, "ent_coef must be finite"),
        ({"ent_coef": -0.1}, ValueError, "ent_coef must be >= 0"),
        ({"max_grad_norm": 0}, ValueError, "max_grad_norm"),
        ({"anneal_lr": 1}, TypeError, "anneal_lr must be true or false"),
    ],
)
def test_ppo_config_rejects_bad_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        PPOConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden": 0}, "hidden must be >= 1"),
        ({"hidden": -3}, "hidden must be >= 1"),
        ({"layers": 0}, "layers must be >= 1"),
    ],
)
def test_network_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NetworkConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"env": "nope_v0"}, ValueError, "env must be one of"),
        ({"env_config": {"n_atributes": 3}}, TypeError, "unknown config key"),
        ({"channel": "morse"}, ValueError, "channel must be one of"),
        ({"channel_options": {"temp": 1}}, ValueError, "unknown option"),
        ({"channel": "none", "channel_options": {"tau": 1}}, ValueError, "(none)"),
        ({"steps": 0}, ValueError, "steps must be >= 1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"seed": 2**64}, ValueError, "seed must be < 2"),
        ({"device": "bogus"}, ValueError, "device must be"),
        ({"device": "cuda:7"}, ValueError, "cuda"),
        ({"ppo": {"lr": 1}}, TypeError, "ppo must be a PPOConfig"),
    ],
)
def test_train_spec_rejects_bad_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrainSpec(**kwargs)


def test_replace_validates_again():
    spec = TrainSpec()
    assert spec.replace(seed=3).seed == 3
    with pytest.raises(ValueError, match="steps"):
        spec.replace(steps=0)


def test_rllib_options_reject_bad_values():
    with pytest.raises(ValueError, match="num_env_runners"):
        RLlibOptions(num_env_runners=-1)
    with pytest.raises(ValueError, match="env_runner must be one of"):
        RLlibOptions(env_runner="threads")


def test_every_field_has_help_text():
    for cls in (TrainSpec, PPOConfig, NetworkConfig, RLlibOptions):
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type) or f.name in ("network", "ppo"):
                continue
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help"
