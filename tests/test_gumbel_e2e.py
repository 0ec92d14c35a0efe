"""The end-to-end Gumbel-softmax path (``TrainSpec.differentiable``): the listener's
loss trains the speaker through the relaxed message, checked against the closed-form
softmax Jacobian; the message sources follow the episodes; the controls and the RLlib
backend refuse or disconnect it as documented."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from agents import rllib as ar
from agents.channels import GumbelChannel
from agents.native import NativeTrainer
from agents.spec import NetworkConfig, PPOConfig, TrainSpec

TINY = PPOConfig(num_envs=32, num_steps=4, update_epochs=1, num_minibatches=2)


def spec(**kw) -> TrainSpec:
    base = dict(
        channel="gumbel",
        differentiable=True,
        ppo=TINY,
        network=NetworkConfig(hidden=16),
        seed=0,
    )
    return TrainSpec(**{**base, **kw})


def rollout(trainer: NativeTrainer):
    """One rollout, flattened, as the update sees it."""
    with trainer._own_rng():
        rollouts, last = trainer.collect()
    return rollouts, trainer.flatten(rollouts, last)


def listener_loss_grads(trainer: NativeTrainer, flat) -> dict[str, torch.Tensor]:
    """Gradients of the listener's loss alone on every speaker parameter."""
    idx = torch.arange(len(flat["listener"]["obs"]))
    trainer.optimizer.zero_grad(set_to_none=True)
    loss, _ = trainer.agent_loss("listener", flat["listener"], idx, None, 0.01)
    loss.backward()
    return {
        name: p.grad
        for name, p in trainer.nets["speaker"].named_parameters()
        if not name.startswith("critic")
    }


def test_speaker_receives_the_listener_gradient():
    trainer = NativeTrainer(spec())
    _, flat = rollout(trainer)
    grads = listener_loss_grads(trainer, flat)
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads.values())
    # PPO-trained gumbel: the listener's loss does not reach the speaker.
    plain = NativeTrainer(spec(differentiable=False))
    _, flat = rollout(plain)
    assert all(g is None for g in listener_loss_grads(plain, flat).values())
    # Muted: the listener hears a constant, nothing is wired.
    muted = NativeTrainer(spec(env_config={"message_control": "mute"}))
    _, flat = rollout(muted)
    assert not bool(flat["listener"]["wired"].any())
    assert all(g is None for g in listener_loss_grads(muted, flat).values())


@pytest.mark.parametrize("straight_through", [True, False])
def test_head_bias_gradient_matches_the_softmax_jacobian(straight_through):
    """d loss / d bias = sum over samples of J^T dL/dmsg, with the closed-form
    Jacobian of y = softmax((logits + g) / tau): dy_k/dlogit_j = y_k (d_kj - y_j) / tau
    (the straight-through value adds no gradient)."""
    tau = 0.7
    trainer = NativeTrainer(
        spec(channel_options={"tau": tau, "straight_through": straight_through})
    )
    _, flat = rollout(trainer)
    f = flat["listener"]
    speaker = trainer.nets["speaker"]
    wiring = trainer.wiring
    L, V = wiring.message_length, wiring.vocab_size
    idx = torch.arange(len(f["obs"]))
    # dL/dmsg with the message as a leaf
    wired = (f["wired"] & f["active"])[:, None]
    with torch.no_grad():
        msg = speaker.relaxed_message(f["src_obs"], f["src_tokens"], f["src_noise"])
    leaf = msg.clone().requires_grad_(True)
    obs = f["obs"].clone()
    part = torch.where(wired, leaf, obs[:, wiring.start : wiring.stop])
    obs = torch.cat([obs[:, : wiring.start], part, obs[:, wiring.stop :]], dim=1)
    listener = trainer.nets["listener"]
    out = listener(obs, f["obs"], action=f["actions"])
    from agents.ppo import ppo_loss

    loss, _ = ppo_loss(
        out.log_prob,
        f["log_probs"],
        f["advantages"],
        out.value,
        f["values"],
        f["returns"],
        out.entropy,
        clip_coef=TINY.clip_coef,
        vf_coef=TINY.vf_coef,
        ent_coef=0.01,
        clip_vloss=TINY.clip_vloss,
        mask=f["active"],
    )
    (g_msg,) = torch.autograd.grad(loss, leaf)
    g_msg = g_msg.reshape(-1, L, V)
    with torch.no_grad():
        logits = speaker.channel.logits(speaker.encoder(f["src_obs"]))
        y = ((logits + f["src_noise"]) / tau).softmax(-1)
        # J^T g for each position: y * (g - <g, y>) / tau
        expected = (y * (g_msg - (g_msg * y).sum(-1, keepdim=True)) / tau).sum(0)
    # autograd through the trainer's own wiring
    trainer.optimizer.zero_grad(set_to_none=True)
    total, _ = trainer.agent_loss("listener", f, idx, None, 0.01)
    total.backward()
    got = speaker.channel.head.bias.grad.reshape(L, V)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)


def test_wired_message_is_what_the_listener_heard():
    """Straight-through: the rebuilt message has the forward value of the env's
    one-hot; every listener step is wired to the previous step's speaker, also across
    rollouts (odd rollout length), and nothing else is."""
    trainer = NativeTrainer(spec(ppo=PPOConfig(num_envs=16, num_steps=3)))
    for _ in range(3):
        rollouts, flat = rollout(trainer)
        f = flat["listener"]
        wired = f["wired"] & f["active"]
        assert torch.equal(wired, f["active"])  # every listener step, no other
        w = trainer.wiring
        rebuilt = trainer._wired_obs("listener", f, torch.arange(len(f["obs"])))
        torch.testing.assert_close(rebuilt, f["obs"], rtol=0, atol=1e-6)
        sent = F.one_hot(f["src_tokens"], w.vocab_size).flatten(1).float()
        heard = f["obs"][:, w.start : w.stop]
        assert torch.equal(heard[wired], sent[wired])


def test_soft_messages_are_heard_in_the_rollout():
    trainer = NativeTrainer(spec(channel_options={"straight_through": False}))
    _, flat = rollout(trainer)
    f = flat["listener"]
    w = trainer.wiring
    heard = f["obs"][f["active"]][:, w.start : w.stop].reshape(-1, 2, 16)
    torch.testing.assert_close(heard.sum(-1), torch.ones(heard.shape[:2]))
    assert bool(((heard > 0) & (heard < 1)).any())  # relaxed, not one-hot
    assert bool((heard.argmax(-1) == f["src_tokens"][f["active"]]).all())


def test_relaxed_sample_matches_torch_gumbel_softmax():
    """Same generator state, same draw: the channel's sample is F.gumbel_softmax's."""
    channel = GumbelChannel(vocab_size=5, message_length=3, dim=4, tau=0.5)
    h = torch.randn(7, 4)
    torch.manual_seed(11)
    out = channel(h)
    torch.manual_seed(11)
    ref = F.gumbel_softmax(channel.logits(h), tau=0.5, hard=True, dim=-1)
    assert torch.equal(out.tokens, ref.argmax(-1))
    torch.testing.assert_close(out.onehot, ref)
    with pytest.raises(ValueError, match="noise must be a tensor"):
        channel(h, noise=torch.zeros(7, 3, 4))
    with pytest.raises(ValueError, match="only for the gumbel channel"):
        from agents.channels import make_channel

        make_channel("categorical", vocab_size=5, message_length=3, dim=4)(
            h, noise=torch.zeros(7, 3, 5)
        )


def test_resume_is_bitwise_with_a_message_in_flight():
    """Odd rollout length: a message sent at a rollout's end is heard in the next
    one; the state dict carries it."""
    s = spec(ppo=PPOConfig(num_envs=8, num_steps=3, num_minibatches=1))
    a = NativeTrainer(s)
    a.train_iteration()
    b = NativeTrainer(s)
    b.load_state_dict(a.state_dict())
    a.train_iteration()
    b.train_iteration()
    for x, y in zip(a.modules.parameters(), b.modules.parameters()):
        assert torch.equal(x, y)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(channel="vq"), "needs channel 'gumbel'"),
        (dict(env="contextual_pd_v0"), "exactly one speaker"),
        (dict(env_config={"message_control": "shuffle"}), "shuffle"),
        (dict(env="cartpole_v0"), "exactly one speaker"),
    ],
)
def test_bad_combinations_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        NativeTrainer(spec(**kw))


def test_rllib_refuses_the_end_to_end_path():
    assert "differentiable" in ar.REFUSED
    with pytest.raises(ValueError, match="differentiable"):
        ar.check_spec(spec())


@pytest.mark.slow
def test_end_to_end_gumbel_learns_the_referential_game():
    trainer = NativeTrainer(
        spec(ppo=PPOConfig(), steps=98_304, network=NetworkConfig())
    )
    for _ in range(trainer.spec.iterations):
        trainer.train_iteration()
    assert trainer.evaluate(1000, seed=123).success > 0.8
