"""Adapters of analysis.models: any nn.Module, SB3, RLlib RLModule, our agents."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from analysis.models import (
    AgentRepresentations,
    activations,
    agent_representations,
    layer_names,
    rllib_activations,
    sb3_activations,
)


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))


def test_layer_names_leaves_and_all():
    net = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 1))
    assert layer_names(net) == ["0.0", "0.1", "1"]
    assert layer_names(net, leaves_only=False) == ["0", "0.0", "0.1", "1"]


def test_activations_default_all_leaves_and_values():
    net = small_net()
    x = torch.randn(7, 3)
    acts = activations(net, x)
    assert set(acts) == {"0", "1", "2"}
    assert acts["1"].shape == (7, 5)
    with torch.no_grad():
        expected = torch.relu(net[0](x)).numpy()
    np.testing.assert_allclose(acts["1"], expected, rtol=1e-6)


def test_activations_batches_and_flattens():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 1))
    x = np.random.default_rng(0).normal(size=(10, 1, 6, 6))
    whole = activations(conv, x, layers=["0"], batch_size=100)
    batched = activations(conv, x, layers=["0"], batch_size=3)
    assert whole["0"].shape == (10, 2 * 4 * 4)
    np.testing.assert_allclose(whole["0"], batched["0"], rtol=1e-5)


def test_activations_restore_mode_and_no_grad():
    net = small_net()
    net.train()
    activations(net, torch.zeros(2, 3))
    assert net.training
    net.eval()
    activations(net, torch.zeros(2, 3))
    assert not net.training


def test_activations_dropout_is_deterministic_in_pass():
    net = nn.Sequential(nn.Linear(3, 50), nn.Dropout(0.5))
    net.train()
    a = activations(net, torch.ones(4, 3), layers=["1"])["1"]
    b = activations(net, torch.ones(4, 3), layers=["1"])["1"]
    np.testing.assert_array_equal(a, b)  # eval mode during the pass


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (np.zeros((0, 3)), "empty"),
        (np.array([[np.nan, 0.0, 0.0]]), "NaN"),
        (np.float32(1.0), "sample axis"),
    ],
)
def test_activations_bad_inputs(inputs, match):
    with pytest.raises(ValueError, match=match):
        activations(small_net(), inputs)


def test_activations_bad_options():
    with pytest.raises(ValueError, match="unknown layer"):
        activations(small_net(), np.zeros((2, 3)), layers=["nope"])
    with pytest.raises(ValueError, match="batch_size"):
        activations(small_net(), np.zeros((2, 3)), batch_size=0)
    with pytest.raises(ValueError, match="torch.nn.Module"):
        activations(lambda x: x, np.zeros((2, 3)))


def test_sb3_policy_activations():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu")
    obs = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)
    acts = sb3_activations(model, obs, batch_size=4)
    assert "mlp_extractor.policy_net.1" in acts
    assert "mlp_extractor.value_net.1" in acts
    assert "action_net" in acts and acts["action_net"].shape == (9, 2)
    assert all(a.shape[0] == 9 for a in acts.values())
    only = sb3_activations(model.policy, obs, layers=["mlp_extractor.policy_net.0"])
    assert list(only) == ["mlp_extractor.policy_net.0"]
    with pytest.raises(ValueError, match="NaN"):
        sb3_activations(model, np.full((2, 4), np.nan))


@pytest.fixture(scope="module")
def rl_module():
    pytest.importorskip("ray.rllib")
    import gymnasium as gym
    from ray.rllib.algorithms.ppo.ppo_catalog import PPOCatalog
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    spec = RLModuleSpec(
        module_class=DefaultPPOTorchRLModule,
        observation_space=gym.spaces.Box(-1.0, 1.0, (4,)),
        action_space=gym.spaces.Discrete(2),
        catalog_class=PPOCatalog,
        model_config={"fcnet_hiddens": [8, 8]},
    )
    return spec.build()


def test_rllib_module_activations(rl_module):
    obs = np.random.default_rng(0).uniform(-1, 1, size=(6, 4)).astype(np.float32)
    acts = rllib_activations(rl_module, obs)
    hidden = [name for name in acts if name.startswith("encoder")]
    assert hidden, acts.keys()
    assert acts[hidden[0]].shape == (6, 8)
    assert not any(name.startswith("vf") for name in acts)  # not in inference


def test_rllib_checkpoint_path(rl_module, tmp_path):
    rl_module.save_to_path(str(tmp_path / "module"))
    obs = np.zeros((3, 4), dtype=np.float32)
    from_path = rllib_activations(tmp_path / "module", obs)
    direct = rllib_activations(rl_module, obs)
    assert set(from_path) == set(direct)
    for name in direct:
        np.testing.assert_allclose(from_path[name], direct[name], rtol=1e-6)
    with pytest.raises(ValueError, match="does not exist"):
        rllib_activations(tmp_path / "missing", obs)


class FakeSpeaker(nn.Module):
    """The duck-typed agent protocol: encode(obs) and a call returning .tokens."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
        self.codebook = nn.Parameter(torch.randn(5, 3))

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.encoder(obs)

    def forward(self, obs: torch.Tensor) -> SimpleNamespace:
        z_e = self.encode(obs)
        tokens = torch.cdist(z_e, self.codebook).argmin(-1)
        return SimpleNamespace(tokens=torch.stack([tokens, tokens], dim=1))


def test_agent_representations_protocol():
    agent = FakeSpeaker()
    agent.train()
    obs = np.random.default_rng(0).normal(size=(11, 4))
    rep = agent_representations(agent, obs, layers=["encoder.1"], batch_size=4)
    assert isinstance(rep, AgentRepresentations)
    assert rep.encoding.shape == (11, 3)
    assert rep.tokens.shape == (11, 2) and rep.tokens.dtype == np.int64
    assert rep.layers["encoder.1"].shape == (11, 6)
    assert agent.training
    silent = agent_representations(agent, obs, speak=False)
    assert silent.tokens is None
    # Different batch sizes change the summation order of the matmuls: float32 noise.
    np.testing.assert_allclose(silent.encoding, rep.encoding, rtol=1e-5, atol=1e-6)


def test_agent_representations_rejects_non_agents():
    with pytest.raises(ValueError, match="encode"):
        agent_representations(nn.Linear(4, 2), np.zeros((2, 4)))

    class NoTokens(FakeSpeaker):
        def forward(self, obs):
            return self.encode(obs)

    with pytest.raises(ValueError, match="tokens"):
        agent_representations(NoTokens(), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="empty"):
        agent_representations(FakeSpeaker(), np.zeros((0, 4)))


@pytest.mark.parametrize("channel", ["categorical", "vq"])
def test_agent_representations_on_our_speaker(channel):
    """The adapter against agents.networks.Speaker (encode + AgentOutput.action)."""
    networks = pytest.importorskip("agents.networks")
    from gymnasium import spaces

    torch.manual_seed(0)
    speaker = networks.Speaker(
        6, spaces.MultiDiscrete([5, 5]), channel=channel, hidden=16
    )
    obs = np.random.default_rng(0).normal(size=(9, 6)).astype(np.float32)
    rep = agent_representations(speaker, obs, layers=["encoder.1"])
    assert rep.encoding.shape == (9, 16)
    assert rep.layers["encoder.1"].shape == (9, 16)
    assert rep.tokens.shape == (9, 2)
    assert rep.tokens.min() >= 0 and rep.tokens.max() < 5
    again = agent_representations(speaker, obs)
    np.testing.assert_array_equal(rep.tokens, again.tokens)  # greedy: deterministic
