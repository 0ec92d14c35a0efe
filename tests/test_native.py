"""The native batched PPO trainer: every channel, every env, reproducibility, resume."""

from __future__ import annotations

import math

import pytest
import torch

import envs
from agents.native import NativeTrainer, PPOConfig
from agents.ppo import LossInfo

TINY = PPOConfig(
    num_envs=16, num_steps=4, update_epochs=1, num_minibatches=2, hidden=16
)
CHANNELS = ["vq", "rvq", "categorical", "gumbel", "none"]


def params(trainer: NativeTrainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.modules.parameters()]


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_trains_on_referential(channel):
    trainer = NativeTrainer("referential_v0", channel=channel, ppo=TINY, seed=0)
    before = params(trainer)
    for _ in range(2):
        metrics = trainer.train_iteration()
    assert all(math.isfinite(v) for v in metrics.values())
    assert "charts/success" in metrics and 0.0 <= metrics["charts/success"] <= 1.0
    assert "losses/speaker/policy_loss" in metrics
    assert "losses/listener/value_loss" in metrics
    assert any(not torch.equal(a, b) for a, b in zip(before, params(trainer)))
    usage = trainer.channel_usage()
    assert set(usage) == {"perplexity", "live_codes"}
    if channel in ("vq", "rvq"):
        assert metrics["losses/speaker/aux_reconstruction"] > 0.0


@pytest.mark.parametrize("name", envs.names())
def test_every_env_trains(name):
    trainer = NativeTrainer(name, ppo=TINY, seed=1)
    metrics = trainer.train_iteration()
    assert all(math.isfinite(v) for v in metrics.values())
    assert trainer.env_steps == TINY.num_envs * TINY.num_steps
    result = trainer.evaluate(8)
    assert result.episodes == 8
    assert math.isfinite(result.mean_return)


def test_speaker_agents_get_a_channel():
    trainer = NativeTrainer("referential_v0", ppo=TINY)
    assert trainer.speakers == ["speaker"]
    assert set(trainer.channels()) == {"speaker"}
    cart = NativeTrainer("cartpole_v0", ppo=TINY)
    assert cart.speakers == [] and cart.channel_usage()["perplexity"] == 0.0


def test_cpu_runs_are_bitwise_reproducible():
    a = NativeTrainer("referential_v0", ppo=TINY, seed=3)
    b = NativeTrainer("referential_v0", ppo=TINY, seed=3)
    c = NativeTrainer("referential_v0", ppo=TINY, seed=4)
    for t in (a, b, c):
        for _ in range(2):
            t.train_iteration()
    assert all(torch.equal(x, y) for x, y in zip(params(a), params(b)))
    assert not all(torch.equal(x, y) for x, y in zip(params(a), params(c)))


def test_state_dict_resumes_bitwise():
    a = NativeTrainer("referential_v0", channel="vq", ppo=TINY, seed=5)
    a.train_iteration()
    state = a.state_dict()
    a.train_iteration()
    a.train_iteration()
    b = NativeTrainer("referential_v0", channel="vq", ppo=TINY, seed=99)
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
        "cartpole_v0",
        {"n_agents": 3},
        ppo=PPOConfig(
            num_envs=8, num_steps=4, num_minibatches=2, share_parameters=True, hidden=16
        ),
    )
    assert len(shared.modules) == 1
    assert shared.nets["cart_0"] is shared.nets["cart_2"]
    shared.train_iteration()
    central = NativeTrainer(
        "referential_v0",
        ppo=PPOConfig(
            num_envs=8,
            num_steps=2,
            num_minibatches=2,
            centralized_value=True,
            hidden=16,
        ),
    )
    central.train_iteration()
    listener_dim = central.env.observation_space("listener").shape[0]
    speaker_dim = central.env.observation_space("speaker").shape[0]
    first = central.nets["listener"].critic[0]
    assert first.in_features == listener_dim + speaker_dim


def test_evaluation_pairs_messages_with_meanings():
    trainer = NativeTrainer("referential_v0", ppo=TINY, seed=0)
    result = trainer.evaluate(50)
    msgs, means = result.messages["speaker"], result.meanings["speaker"]
    assert msgs.shape == (50, 2) and means.shape == (50, 4)
    assert result.success is not None and 0.0 <= result.success <= 1.0


def test_ppo_config_rejects_bad_values():
    with pytest.raises(ValueError, match="num_envs"):
        PPOConfig(num_envs=0)
    with pytest.raises(ValueError, match="divisible"):
        PPOConfig(num_envs=3, num_steps=1, num_minibatches=2)
    with pytest.raises(ValueError, match="lr"):
        PPOConfig(lr=0.0)


def test_non_finite_loss_raises_floating_point_error(monkeypatch):
    trainer = NativeTrainer("referential_v0", ppo=TINY, seed=0)
    import agents.native as native

    def nan_loss(*args, **kwargs):
        z = torch.tensor(float("nan"))
        return z.clone().requires_grad_(), LossInfo(z, z, z, z, z)

    monkeypatch.setattr(native, "ppo_loss", nan_loss)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        trainer.train_iteration()


@pytest.mark.slow
def test_vq_default_solves_referential():
    """The toy learning test: the default vq setup reaches >= 0.95 held-out success."""
    trainer = NativeTrainer("referential_v0", channel="vq", seed=0)
    while trainer.env_steps < 250_000:
        trainer.train_iteration()
    assert trainer.evaluate(2000).success >= 0.95
