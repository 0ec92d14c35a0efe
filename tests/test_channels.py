"""Tests for agents.channels: the message-channel contract for every kind."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from agents.channels import (
    CHANNEL_KINDS,
    AuxLosses,
    Channel,
    ChannelOutput,
    channel_options,
    make_channel,
    positive_listening_loss,
    positive_signalling_loss,
)

V, L, DIM, N = 6, 3, 8, 32
RECON = 5
QUANTIZED = ("vq", "rvq")


def build(kind: str, **options) -> Channel:
    if kind in QUANTIZED:
        options.setdefault("recon_dim", RECON)
    return make_channel(kind, vocab_size=V, message_length=L, dim=DIM, **options)


def inputs(kind: str, n: int = N, *, grad: bool = False, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(n, DIM, generator=gen).requires_grad_(grad)
    kwargs = (
        {"target": torch.randn(n, RECON, generator=gen)} if kind in QUANTIZED else {}
    )
    return h, kwargs


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


# ------------------------------------------------------------------ contract


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_output_shapes_dtypes_and_ranges(kind):
    channel = build(kind)
    h, kwargs = inputs(kind)
    out = channel(h, **kwargs)
    assert isinstance(out, ChannelOutput) and isinstance(out.aux, AuxLosses)
    assert channel.kind == kind
    assert (channel.vocab_size, channel.message_length, channel.dim) == (V, L, DIM)
    assert out.tokens.shape == (N, L) and out.tokens.dtype == torch.long
    assert out.log_prob.shape == (N,) and out.entropy.shape == (N,)
    assert out.onehot.shape == (N, L, V) and out.onehot.is_floating_point()
    assert out.logits.shape == (N, L, V)
    assert all(t.ndim == 0 for t in out.aux)
    assert int(out.tokens.min()) >= 0 and int(out.tokens.max()) < V
    assert torch.equal(out.onehot.detach().argmax(-1), out.tokens)
    assert torch.allclose(out.onehot.detach().sum(-1), torch.ones(N, L))
    assert torch.all(out.entropy >= -1e-5)
    assert torch.all(out.entropy <= L * math.log(V) + 1e-4)
    assert torch.all(out.log_prob <= 1e-5)


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_evaluating_given_tokens_reproduces_sampled_log_prob(kind):
    channel = build(kind).eval()  # eval: the VQ codebooks do not move between calls
    h, kwargs = inputs(kind)
    sampled = channel(h, **kwargs)
    evaluated = channel(h, tokens=sampled.tokens, **kwargs)
    assert torch.equal(evaluated.tokens, sampled.tokens)
    assert torch.allclose(evaluated.log_prob, sampled.log_prob, atol=1e-5)
    assert torch.allclose(evaluated.entropy, sampled.entropy, atol=1e-5)
    # and log_prob agrees with the logits: per-position log-softmax of the tokens
    logp = sampled.logits.log_softmax(-1).gather(-1, sampled.tokens[..., None])
    assert torch.allclose(logp.squeeze(-1).sum(-1), sampled.log_prob, atol=1e-4)


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_deterministic_is_argmax(kind):
    channel = build(kind).eval()
    h, kwargs = inputs(kind)
    out = channel(h, deterministic=True, **kwargs)
    assert torch.equal(out.tokens, out.logits.argmax(-1))
    again = channel(h, deterministic=True, **kwargs)
    assert torch.equal(again.tokens, out.tokens)


@pytest.mark.parametrize("kind", ["vq", "rvq", "categorical", "gumbel"])
def test_log_prob_gradient_reaches_h(kind):
    channel = build(kind)
    h, kwargs = inputs(kind, grad=True)
    out = channel(h, **kwargs)
    (grad,) = torch.autograd.grad(out.log_prob.sum(), h)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("kind", QUANTIZED)
def test_aux_total_gradient_reaches_h_and_decoder(kind):
    channel = build(kind)
    h, kwargs = inputs(kind, grad=True)
    out = channel(h, **kwargs)
    assert out.aux.reconstruction > 0 and out.aux.commitment > 0
    assert float(out.aux.codebook) == 0.0 and float(out.aux.signalling) == 0.0
    expected = out.aux.reconstruction + 0.25 * out.aux.commitment
    assert torch.allclose(out.aux.total, expected)
    out.aux.total.backward()
    assert h.grad is not None and h.grad.abs().sum() > 0
    assert all(p.grad is not None for p in channel.decoder.parameters())


@pytest.mark.parametrize("kind", QUANTIZED)
def test_learned_codebook_gets_codebook_loss_gradient(kind):
    channel = build(kind, ema_update=False, codebook_weight=0.5)
    h, kwargs = inputs(kind)
    out = channel(h, **kwargs)
    assert out.aux.codebook > 0
    out.aux.total.backward()
    params = [p for p in channel.quantizer.parameters() if p.requires_grad]
    assert params and all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_gumbel_onehot_is_differentiable():
    channel = build("gumbel", tau=0.5)
    h, _ = inputs("gumbel", grad=True)
    weights = torch.randn(N, L, V)
    for kwargs in ({}, {"deterministic": True}):
        out = channel(h, **kwargs)
        assert torch.allclose(out.onehot.detach(), F.one_hot(out.tokens, V).float())
        (grad,) = torch.autograd.grad((out.onehot * weights).sum(), h)
        assert grad.abs().sum() > 0


def test_none_channel_is_constant():
    channel = build("none")
    h, _ = inputs("none", grad=True)
    out = channel(h)
    assert torch.equal(out.tokens, torch.zeros(N, L, dtype=torch.long))
    assert torch.equal(out.log_prob, torch.zeros(N))
    assert torch.equal(out.entropy, torch.zeros(N))
    assert torch.equal(
        out.onehot, F.one_hot(torch.zeros(N, L, dtype=torch.long), V).float()
    )
    assert all(float(t) == 0.0 for t in out.aux)
    assert channel.codebook() is None
    with pytest.raises(ValueError, match="only emits symbol 0"):
        channel(h, tokens=torch.ones(N, L, dtype=torch.long))


# ------------------------------------------------------------------ VQ specifics


def test_vq_codebook_moves_by_ema_in_train_mode_only():
    channel = build("vq")
    h, kwargs = inputs("vq")
    before = channel.codebook()
    assert before.shape == (1, V, DIM)
    channel.eval()
    channel(h, **kwargs)
    assert torch.equal(channel.codebook(), before)
    channel.train()
    channel(h, **kwargs)
    assert not torch.allclose(channel.codebook(), before)


def test_vq_codebook_per_position():
    channel = build("vq", shared_codebook=False, code_dim=4)
    h, kwargs = inputs("vq")
    out = channel(h, **kwargs)
    assert channel.codebook().shape == (L, V, 4)
    assert out.logits.shape == (N, L, V)


def test_vq_low_temperature_is_nearest_code():
    channel = build("vq", temperature=1e-4).eval()
    h, kwargs = inputs("vq")
    z = channel.encoder(h).reshape(N, L, DIM)
    nearest = torch.cdist(z, channel.codebook()[0].expand(N, V, DIM)).argmin(-1)
    out = channel(h, **kwargs)
    assert torch.equal(out.tokens, nearest)


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_usage_counters(kind):
    channel = build(kind)
    usage = channel.usage()
    assert (usage.perplexity, usage.live_codes) == (0.0, 0)
    h, kwargs = inputs(kind, n=256)
    channel.eval()
    channel(h, **kwargs)
    assert float(channel.code_counts.sum()) == 0.0  # eval mode does not count
    channel.train()
    out = channel(h, **kwargs)
    channel(h, tokens=out.tokens, **kwargs)  # evaluation of given tokens does not count
    expected = torch.stack(
        [torch.bincount(out.tokens[:, i], minlength=V) for i in range(L)]
    )
    assert torch.equal(channel.code_counts, expected.float())
    usage = channel.usage()
    assert 1.0 <= usage.perplexity <= V + 1e-6
    assert usage.live_codes == torch.unique(out.tokens).numel()
    channel.reset_usage()
    assert channel.usage().live_codes == 0


def test_rvq_residual_arithmetic_by_hand():
    channel = make_channel(
        "rvq", vocab_size=3, message_length=2, dim=2, temperature=1.0
    ).eval()
    with torch.no_grad():
        channel.encoder.weight.copy_(torch.eye(2))
        channel.encoder.bias.zero_()
        coarse = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
        fine = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        channel.quantizer.layers[0].codebook = coarse
        channel.quantizer.layers[1].codebook = fine
    h = torch.tensor([[3.9, 1.2]])
    out = channel(h, deterministic=True)
    # level 0: squared distances from z = (3.9, 1.2) to the coarse codes
    assert torch.allclose(
        out.logits[0, 0], -torch.tensor([16.65, 1.45, 23.05]), atol=1e-4
    )
    # the residual subtracts the chosen code (4, 0): r = (-0.1, 1.2)
    assert torch.allclose(
        out.logits[0, 1], -torch.tensor([1.45, 2.65, 0.05]), atol=1e-4
    )
    assert out.tokens.tolist() == [[1, 2]]
    # given tokens: the residual subtracts the *given* level-0 code (0, 0)
    given = channel(h, tokens=torch.tensor([[0, 1]]))
    assert torch.allclose(given.logits[0, 0], out.logits[0, 0])
    assert torch.allclose(
        given.logits[0, 1], -torch.tensor([16.65, 9.85, 15.25]), atol=1e-4
    )
    expected = given.logits[0].log_softmax(-1)[[0, 1], [0, 1]].sum()
    assert torch.allclose(given.log_prob[0], expected)
    # level 0 depends only on the coarse codebook
    with torch.no_grad():
        channel.quantizer.layers[1].codebook = fine * 7.0
    assert torch.allclose(channel(h, deterministic=True).logits[0, 0], out.logits[0, 0])
    assert channel.codebook().shape == (2, 3, 2)


# ------------------------------------------------------------------ Eccles losses


def _peaked_policy(n: int, entropy: float) -> torch.Tensor:
    """Logits ``[n, 1, V]``: input i favours symbol i % V, with the given entropy."""
    low, high = 0.0, 50.0
    for _ in range(60):  # bisection on the logit scale: entropy falls as it grows
        scale = 0.5 * (low + high)
        probs = (torch.eye(V) * scale).softmax(-1)[0]
        if -(probs * probs.log()).sum() > entropy:
            low = scale
        else:
            high = scale
    return (torch.eye(V)[torch.arange(n) % V] * scale).unsqueeze(1)


def test_positive_signalling_prefers_diverse_input_dependent_policy():
    n = 2 * V
    for target in (0.0, 0.5 * math.log(V)):
        diverse = _peaked_policy(n, target)
        constant = diverse[:1].expand(n, 1, V)  # same entropy, but one policy for all
        uniform = torch.zeros(n, 1, V)
        best = positive_signalling_loss(diverse, target_entropy=target)
        assert best < positive_signalling_loss(constant, target_entropy=target)
        assert best < positive_signalling_loss(uniform, target_entropy=target)
        assert torch.allclose(best, torch.tensor(-math.log(V)), atol=1e-3)


def test_categorical_positive_signalling_enters_total():
    off = build("categorical")
    on = build("categorical", positive_signalling=0.3, signalling_target_entropy=0.0)
    h, _ = inputs("categorical", grad=True)
    out_off, out_on = off(h), on(h)
    assert float(out_off.aux.total.detach()) == 0.0
    assert float(out_off.aux.signalling.detach()) != 0.0
    assert torch.allclose(out_on.aux.total, 0.3 * out_on.aux.signalling)
    expected = positive_signalling_loss(out_on.logits, target_entropy=0.0)
    assert torch.allclose(out_on.aux.signalling, expected)
    out_on.aux.total.backward()
    assert h.grad.abs().sum() > 0


def test_positive_listening_lower_when_message_matters():
    base = torch.randn(16, 4)
    same = positive_listening_loss(base, base)
    different = positive_listening_loss(base + 3.0 * torch.randn(16, 4), base)
    assert different < same <= 0.0
    assert different >= -2.0
    with_message = base.clone().requires_grad_()
    without = (base + torch.randn(16, 4)).requires_grad_()
    positive_listening_loss(with_message, without).backward()
    assert with_message.grad.abs().sum() > 0 and without.grad is None
    with pytest.raises(ValueError, match="same shape"):
        positive_listening_loss(base, base[:, :3])


# ------------------------------------------------------------------ errors


def test_unknown_kind_names_the_allowed_kinds():
    with pytest.raises(ValueError, match=r"unknown channel kind 'vqvae'.*vq, rvq"):
        make_channel("vqvae", vocab_size=V, message_length=L, dim=DIM)


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("vq", {"temp": 2.0}, r"unknown option\(s\) \['temp'\].*temperature"),
        ("gumbel", {"temperature": 2.0}, r"\['temperature'\].*allowed: tau"),
        ("none", {"tau": 1.0}, r"allowed: \(none\)"),
        ("vq", {"temperature": 0.0}, "temperature must be > 0"),
        ("vq", {"decay": 1.5}, r"decay must be in \(0, 1\]"),
        (
            "rvq",
            {"codebook_weight": 1.0},
            "codebook_weight applies only with ema_update=False",
        ),
        ("vq", {"recon_weight": 2.0}, "recon_weight needs recon_dim"),
        (
            "categorical",
            {"signalling_target_entropy": 5.0},
            "signalling_target_entropy",
        ),
        (
            "categorical",
            {"positive_signalling": -1.0},
            "positive_signalling must be >= 0",
        ),
        ("gumbel", {"tau": -1.0}, "tau must be > 0"),
    ],
)
def test_bad_options_raise(kind, options, match):
    with pytest.raises(ValueError, match=match):
        make_channel(kind, vocab_size=V, message_length=L, dim=DIM, **options)


def test_bad_sizes_and_types_raise():
    with pytest.raises(ValueError, match="vocab_size must be >= 1"):
        make_channel("categorical", vocab_size=0, message_length=L, dim=DIM)
    with pytest.raises(TypeError, match="shared_codebook must be True or False"):
        make_channel("vq", vocab_size=V, message_length=L, dim=DIM, shared_codebook=1)


@pytest.mark.parametrize("kind", CHANNEL_KINDS)
def test_bad_forward_inputs_raise(kind):
    channel = build(kind)
    h, _ = inputs(kind)
    with pytest.raises(ValueError, match=rf"h must be a tensor \[N, {DIM}\]"):
        channel(h[:, :3])
    with pytest.raises(ValueError, match="tokens must be a tensor"):
        channel(h, tokens=torch.zeros(N, L + 1, dtype=torch.long))
    with pytest.raises(TypeError, match="integer tensor"):
        channel(h, tokens=torch.zeros(N, L))
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 6\)"):
        channel(h, tokens=torch.full((N, L), V))
    with pytest.raises(ValueError, match="cannot be combined"):
        channel(h, tokens=torch.zeros(N, L, dtype=torch.long), deterministic=True)


def test_target_without_decoder_raises():
    channel = make_channel("vq", vocab_size=V, message_length=L, dim=DIM)
    h, _ = inputs("vq")
    with pytest.raises(ValueError, match="recon_dim"):
        channel(h, target=torch.zeros(N, RECON))
    with pytest.raises(ValueError, match=rf"target must be a tensor \[{N}, {RECON}\]"):
        build("vq")(h, target=torch.zeros(N, RECON + 1))


def test_channel_options_lists_constructor_options():
    assert channel_options("gumbel") == ("tau", "straight_through")
    assert "temperature" in channel_options(
        "vq"
    ) and "shared_codebook" in channel_options("rvq")
    assert channel_options("categorical") == (
        "positive_signalling",
        "signalling_target_entropy",
    )


# ------------------------------------------------------------------ learning


@pytest.mark.slow
def test_vq_channel_learns_a_signalling_game_with_reinforce():
    """4 objects, one-symbol messages, a linear listener; REINFORCE on both agents.

    About 250 small steps: a few seconds on an idle CPU, hence slow on a busy one.
    """
    torch.manual_seed(0)
    n_obj, vocab = 4, 8
    speaker = make_channel(
        "vq", vocab_size=vocab, message_length=1, dim=n_obj, recon_dim=n_obj
    )
    listener = torch.nn.Linear(vocab, n_obj)
    params = [*speaker.parameters(), *listener.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.05)
    for _ in range(250):
        objects = torch.randint(n_obj, (64,))
        seen = F.one_hot(objects, n_obj).float()
        msg = speaker(seen, target=seen)
        guess_dist = torch.distributions.Categorical(logits=listener(msg.onehot[:, 0]))
        guess = guess_dist.sample()
        reward = (guess == objects).float()
        advantage = reward - reward.mean()
        loss = -(advantage * (msg.log_prob + guess_dist.log_prob(guess))).mean()
        loss = loss + msg.aux.total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    speaker.eval()
    with torch.no_grad():
        msg = speaker(torch.eye(n_obj), deterministic=True)
        guesses = listener(msg.onehot[:, 0]).argmax(-1)
    accuracy = (guesses == torch.arange(n_obj)).float().mean()
    assert float(accuracy) > 0.9
    assert speaker.usage().live_codes >= n_obj
