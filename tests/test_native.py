"""The native batched PPO trainer: every channel, every env, reproducibility, resume."""

from __future__ import annotations

import math

import pytest
import torch

import envs
from agents.native import NativeTrainer
from agents.ppo import LossInfo
from agents.results import IterationStats, TrainingDiverged
from agents.spec import NetworkConfig, PPOConfig, TrainSpec

TINY = PPOConfig(num_envs=16, num_steps=4, update_epochs=1, num_minibatches=2)
SMALL = NetworkConfig(hidden=16)
CHANNELS = ["vq", "rvq", "categorical", "gumbel", "none"]


def spec(env: str = "referential_v0", **kw) -> TrainSpec:
    return TrainSpec(env=env, **{"ppo": TINY, "network": SMALL, **kw})


def params(trainer: NativeTrainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.modules.parameters()]


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_trains_on_referential(channel):
    trainer = NativeTrainer(spec(channel=channel, seed=0))
    before = params(trainer)
    for _ in range(2):
        stats = trainer.train_iteration()
    assert isinstance(stats, IterationStats)
    assert all(math.isfinite(v) for v in stats.losses.values())
    assert stats.success is not None and 0.0 <= stats.success <= 1.0
    assert "speaker/policy_loss" in stats.losses
    assert "listener/value_loss" in stats.losses
    assert any(not torch.equal(a, b) for a, b in zip(before, params(trainer)))
    usage = trainer.channel_usage()["speaker"]
    assert usage.counts.shape == (2, 16)
    assert usage.counts.sum() == TINY.num_envs * TINY.num_steps / 2 * 2  # active half
    if channel in ("vq", "rvq"):
        assert stats.losses["speaker/aux_reconstruction"] > 0.0


@pytest.mark.parametrize("name", envs.names())
def test_every_env_trains(name):
    trainer = NativeTrainer(spec(name, seed=1))
    stats = trainer.train_iteration()
    assert all(math.isfinite(v) for v in stats.losses.values())
    assert trainer.env_steps == TINY.num_envs * TINY.num_steps == stats.env_steps
    result = trainer.evaluate(8)
    assert result.episodes == 8
    assert math.isfinite(result.mean_return)


def test_speaker_agents_get_a_channel():
    trainer = NativeTrainer(spec())
    assert trainer.speakers == ["speaker"]
    assert set(trainer.channels()) == {"speaker"}
    cart = NativeTrainer(spec("cartpole_v0"))
    assert cart.speakers == [] and cart.channel_usage() == {}
    assert cart.train_iteration().success is None  # cart-pole reports no success


def test_cpu_runs_are_bitwise_reproducible():
    a = NativeTrainer(spec(seed=3))
    b = NativeTrainer(spec(seed=3))
    c = NativeTrainer(spec(seed=4))
    for t in (a, b, c):
        for _ in range(2):
            t.train_iteration()
    assert all(torch.equal(x, y) for x, y in zip(params(a), params(b)))
    assert not all(torch.equal(x, y) for x, y in zip(params(a), params(c)))


def test_state_dict_resumes_bitwise():
    a = NativeTrainer(spec(channel="vq", seed=5))
    a.train_iteration()
    state = a.state_dict()
    a.train_iteration()
    a.train_iteration()
    b = NativeTrainer(spec(channel="vq", seed=99))
    b.load_state_dict(state)
    b.train_iteration()
    b.train_iteration()
    assert b.env_steps == a.env_steps
    assert all(torch.equal(x, y) for x, y in zip(params(a), params(b)))
    # EMA codebook buffers too.
    for (ka, va), (kb, vb) in zip(
        a.modules.state_dict().items(), b.modules.state_dict().items()
    ):
        assert ka == kb and torch.equal(va, vb), ka


def test_parameter_sharing_and_centralized_value():
    shared = NativeTrainer(
        TrainSpec(
            env="cartpole_v0",
            env_config={"n_agents": 3},
            ppo=PPOConfig(num_envs=8, num_steps=4, num_minibatches=2),
            network=NetworkConfig(share_parameters=True, hidden=16),
        )
    )
    assert len(shared.modules) == 1
    assert shared.nets["cart_0"] is shared.nets["cart_2"]
    shared.train_iteration()
    central = NativeTrainer(
        TrainSpec(
            ppo=PPOConfig(num_envs=8, num_steps=2, num_minibatches=2),
            network=NetworkConfig(centralized_value=True, hidden=16),
        )
    )
    central.train_iteration()
    listener_dim = central.env.observation_space("listener").shape[0]
    speaker_dim = central.env.observation_space("speaker").shape[0]
    first = central.nets["listener"].critic[0]
    assert first.in_features == listener_dim + speaker_dim


def test_evaluation_pairs_messages_with_meanings():
    trainer = NativeTrainer(spec(seed=0))
    result = trainer.evaluate(50)
    msgs, means = result.messages["speaker"], result.meanings["speaker"]
    assert msgs.shape == (50, 2) and means.shape == (50, 4)
    assert result.success is not None and 0.0 <= result.success <= 1.0


def test_learning_rate_and_entropy_schedules():
    trainer = NativeTrainer(
        spec(ppo=PPOConfig(**{**vars(TINY), "lr_decay": 0.5, "ent_decay": 0.25}))
    )
    first = trainer.train_iteration()
    second = trainer.train_iteration()
    assert first.learning_rate == TINY.lr and second.learning_rate == TINY.lr * 0.5
    assert second.entropy_coef == TINY.ent_coef * 0.25
    annealed = NativeTrainer(
        spec(ppo=PPOConfig(**{**vars(TINY), "anneal_lr": True}), steps=128)
    )
    # Each update anneals by the env steps trained so far, its rollout included.
    assert annealed.train_iteration().learning_rate == pytest.approx(TINY.lr * 0.5)
    assert annealed.train_iteration().learning_rate == 0.0


def test_trainer_takes_a_train_spec_only():
    with pytest.raises(TypeError, match="TrainSpec"):
        NativeTrainer("referential_v0")  # type: ignore[arg-type]


def test_non_finite_loss_raises_training_diverged(monkeypatch):
    trainer = NativeTrainer(spec(seed=0))
    before = params(trainer)
    import agents.native as native

    def nan_loss(*args, **kwargs):
        z = torch.tensor(float("nan"))
        return z.clone().requires_grad_(), LossInfo(z, z, z, z, z)

    monkeypatch.setattr(native, "ppo_loss", nan_loss)
    with pytest.raises(TrainingDiverged, match="non-finite values at iteration 1"):
        trainer.train_iteration()
    # Nothing was stepped: the bad gradient never reached the weights.
    assert all(torch.equal(x, y) for x, y in zip(before, params(trainer)))


def test_exploding_learning_rate_is_caught_as_divergence():
    """lr 1e6 used to reach torch.distributions with NaN logits (a traceback)."""
    trainer = NativeTrainer(
        spec(ppo=PPOConfig(**{**vars(TINY), "lr": 1e6, "max_grad_norm": 1e6}))
    )
    with pytest.raises(TrainingDiverged):
        for _ in range(20):
            trainer.train_iteration()


@pytest.mark.slow
def test_vq_default_solves_referential():
    """The toy learning test: the default vq setup reaches >= 0.95 held-out success."""
    trainer = NativeTrainer(TrainSpec(channel="vq", seed=0))
    while trainer.env_steps < 250_000:
        trainer.train_iteration()
    assert trainer.evaluate(2000).success >= 0.95
