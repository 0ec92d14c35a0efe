"""The shared PPO pieces against plain loops and hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from agents.ppo import compute_gae, ppo_loss


def naive_gae(rewards, values, dones, last_value, gamma, lam):
    """Textbook GAE, one env and one step at a time."""
    T, N = rewards.shape
    adv = torch.zeros(T, N, dtype=torch.float64)
    for n in range(N):
        gae = 0.0
        for t in reversed(range(T)):
            next_v = last_value[n] if t == T - 1 else values[t + 1, n]
            nonterminal = 0.0 if dones[t, n] else 1.0
            delta = rewards[t, n] + gamma * next_v * nonterminal - values[t, n]
            gae = delta + gamma * lam * nonterminal * gae
            adv[t, n] = gae
    return adv


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (1.0, 1.0), (0.5, 0.0)])
def test_compute_gae_matches_naive_loop(gamma, lam):
    g = torch.Generator().manual_seed(0)
    T, N = 13, 5
    rewards = torch.randn(T, N, generator=g, dtype=torch.float64)
    values = torch.randn(T, N, generator=g, dtype=torch.float64)
    dones = torch.rand(T, N, generator=g) < 0.2
    last = torch.randn(N, generator=g, dtype=torch.float64)
    adv, ret = compute_gae(rewards, values, dones, last, gamma=gamma, gae_lambda=lam)
    expected = naive_gae(rewards, values, dones, last, gamma, lam)
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)


def test_compute_gae_does_not_bootstrap_across_episodes():
    rewards = torch.tensor([[0.0], [1.0], [0.0]])
    values = torch.tensor([[0.0], [0.0], [100.0]])
    dones = torch.tensor([[False], [True], [False]])
    adv, _ = compute_gae(rewards, values, dones, torch.zeros(1), gamma=1, gae_lambda=1)
    # The 100 of the next episode never leaks into the first one.
    assert adv[:2, 0].tolist() == [1.0, 1.0]


def test_compute_gae_shape_errors():
    with pytest.raises(ValueError, match="same"):
        compute_gae(
            torch.zeros(3, 2), torch.zeros(3, 1), torch.zeros(3, 2), torch.zeros(2)
        )
    with pytest.raises(ValueError, match="last_value"):
        compute_gae(
            torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3)
        )


def test_ppo_loss_by_hand():
    new_lp = torch.tensor([math.log(0.5), math.log(0.9)])
    old_lp = torch.tensor([math.log(0.25), math.log(0.9)])
    adv = torch.tensor([1.0, -1.0])
    new_v = torch.tensor([0.5, 0.0])
    old_v = torch.tensor([0.0, 0.0])
    ret = torch.tensor([1.0, 1.0])
    ent = torch.tensor([0.7, 0.3])
    loss, info = ppo_loss(
        new_lp,
        old_lp,
        adv,
        new_v,
        old_v,
        ret,
        ent,
        clip_coef=0.2,
        vf_coef=0.5,
        ent_coef=0.01,
        clip_vloss=False,
        normalize_advantages=False,
    )
    # ratios 2.0 (clipped to 1.2 for a positive advantage) and 1.0
    policy = (-1.0 * 1.2 + 1.0 * 1.0) / 2
    value = 0.5 * ((0.5 - 1.0) ** 2 + (0.0 - 1.0) ** 2) / 2
    expected = policy + 0.5 * value - 0.01 * 0.5
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    assert float(info.policy_loss) == pytest.approx(policy, abs=1e-6)
    assert float(info.clipfrac) == pytest.approx(0.5)
    assert float(info.approx_kl) == pytest.approx((1.0 - math.log(2.0)) / 2, abs=1e-6)


def test_ppo_loss_mask_excludes_inactive_samples():
    lp = torch.zeros(4)
    adv = torch.tensor([1.0, 1.0, 50.0, -50.0])
    ent = torch.tensor([1.0, 1.0, 9.0, 9.0])
    mask = torch.tensor([True, True, False, False])
    new_lp = torch.tensor([0.1, 0.1, 0.1, 0.1])
    _, info = ppo_loss(
        new_lp, lp, adv, lp, lp, lp, ent, mask=mask, normalize_advantages=False
    )
    assert float(info.entropy) == pytest.approx(1.0)
    assert float(info.policy_loss) == pytest.approx(-math.exp(0.1), rel=1e-5)


def test_ppo_loss_value_clipping():
    z = torch.zeros(1)
    _, clipped = ppo_loss(z, z, z, torch.tensor([1.0]), z, torch.tensor([1.0]), z)
    _, plain = ppo_loss(
        z, z, z, torch.tensor([1.0]), z, torch.tensor([1.0]), z, clip_vloss=False
    )
    # The clipped prediction (0.2) is far from the return, so the max picks it.
    assert float(clipped.value_loss) == pytest.approx(0.5 * 0.8**2)
    assert float(plain.value_loss) == 0.0
