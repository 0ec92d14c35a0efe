"""The PPO pieces both trainers share: advantage estimation and the clipped loss.

Pure functions over tensors; no trainer state. The native trainer
(:mod:`agents.native`) and the RLlib learner (:mod:`agents.rllib`) both call
:func:`ppo_loss` and add the channel's auxiliary loss; there is no second copy of
the loss anywhere.

Conventions: time-major tensors ``[T, N]``; ``dones[t]`` is true when the episode
ended *at* step ``t`` (after the action at ``t``), so ``values[t + 1]`` belongs to a
new episode and is not bootstrapped through.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["LossInfo", "Rollout", "compute_gae", "ppo_loss"]


class Rollout(NamedTuple):
    """One agent's time-major rollout: every field is ``[T, N, ...]``."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    active: torch.Tensor
    """Whether the agent's action counted at that step (policy loss mask)."""


class LossInfo(NamedTuple):
    """What :func:`ppo_loss` measured (detached scalars)."""

    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    clipfrac: torch.Tensor


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    *,
    gamma: float = 0.99,
    gae_lambda: float = 0.95,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016).

    Parameters
    ----------
    rewards, values, dones : Tensor ``[T, N]``
        Reward after the action at ``t``, value of the state at ``t``, and whether the
        episode ended at ``t``.
    last_value : Tensor ``[N]``
        Value of the state after the last step (bootstrapped unless ``dones[-1]``).
    gamma, gae_lambda : float
        Discount and GAE mixing.

    Returns
    -------
    advantages, returns : Tensor ``[T, N]``
        ``returns = advantages + values``.

    Examples
    --------
    >>> r = torch.tensor([[1.0], [1.0]]); v = torch.zeros(2, 1)
    >>> d = torch.tensor([[False], [True]])
    >>> adv, ret = compute_gae(r, v, d, torch.zeros(1), gamma=0.5, gae_lambda=1.0)
    >>> adv.squeeze(1).tolist()
    [1.5, 1.0]
    """
    if rewards.shape != values.shape or rewards.shape != dones.shape:
        raise ValueError(
            "rewards, values and dones must have the same [T, N] shape, got "
            f"{tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(dones.shape)}"
        )
    if last_value.shape != rewards.shape[1:]:
        raise ValueError(
            f"last_value must have shape {tuple(rewards.shape[1:])}, "
            f"got {tuple(last_value.shape)}"
        )
    not_done = 1.0 - dones.to(rewards.dtype)
    next_values = torch.cat([values[1:], last_value[None]], dim=0)
    deltas = rewards + gamma * next_values * not_done - values
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(last_value)
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * gae_lambda * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


def ppo_loss(
    new_log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    new_value: torch.Tensor,
    old_value: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    *,
    clip_coef: float = 0.2,
    vf_coef: float = 0.5,
    ent_coef: float = 0.01,
    clip_vloss: bool = True,
    normalize_advantages: bool = True,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, LossInfo]:
    """The clipped PPO objective (policy + value + entropy), as a loss to minimize.

    Parameters
    ----------
    new_log_prob, old_log_prob : Tensor ``[B]``
        Log-probabilities of the taken actions now and at collection time.
    advantages, returns : Tensor ``[B]``
    new_value, old_value : Tensor ``[B]``
        Value predictions now and at collection time (for value clipping).
    entropy : Tensor ``[B]``
        Policy entropy at each sample.
    clip_coef, vf_coef, ent_coef : float
        PPO clip range and the value / entropy weights.
    clip_vloss : bool
        Clip the value update like the policy (as in the PPO reference code).
    normalize_advantages : bool
        Standardize the advantages over the (masked) batch.
    mask : Tensor ``[B]`` of bool, optional
        Which samples count for the policy and entropy terms (an inactive agent's
        samples are excluded); the value term uses every sample.

    Returns
    -------
    loss : Tensor (scalar)
    info : LossInfo

    Examples
    --------
    >>> z = torch.zeros(4)
    >>> loss, info = ppo_loss(z, z, torch.ones(4), z, z, z, z)
    >>> float(info.approx_kl), float(info.clipfrac)
    (0.0, 0.0)
    """
    if mask is None:
        mask = torch.ones_like(advantages, dtype=torch.bool)
    w = mask.float()
    count = w.sum().clamp_min(1.0)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return (x * w).sum() / count

    if normalize_advantages:
        mu = mean(advantages)
        std = (mean((advantages - mu) ** 2) * count / (count - 1).clamp_min(1)).sqrt()
        advantages = (advantages - mu) / (std + 1e-8)
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    pg1 = -advantages * ratio
    pg2 = -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)
    policy_loss = mean(torch.maximum(pg1, pg2))
    if clip_vloss:
        v_clipped = old_value + (new_value - old_value).clamp(-clip_coef, clip_coef)
        v_loss = torch.maximum((new_value - returns) ** 2, (v_clipped - returns) ** 2)
        value_loss = 0.5 * v_loss.mean()
    else:
        value_loss = 0.5 * ((new_value - returns) ** 2).mean()
    entropy_mean = mean(entropy)
    loss = policy_loss + vf_coef * value_loss - ent_coef * entropy_mean
    with torch.no_grad():
        approx_kl = mean((ratio - 1) - log_ratio)
        clipfrac = mean(((ratio - 1.0).abs() > clip_coef).float())
    info = LossInfo(
        policy_loss.detach(),
        value_loss.detach(),
        entropy_mean.detach(),
        approx_kl,
        clipfrac,
    )
    return loss, info
