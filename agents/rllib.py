"""The distributed trainer: our agents on RLlib's new API stack (Ray).

``python -m experiments.aim --backend rllib`` drives it (the run loop is
:mod:`experiments.aim_rllib`). RLlib stays at arm's length: this module only plugs
our pieces into RLlib's builder chain (no ``Algorithm`` subclass).

* :class:`AimRLModule` (``TorchRLModule`` + ``ValueFunctionAPI``) wraps the network of
  :func:`agents.networks.build_agent`, one module per agent (``MultiRLModuleSpec``) or
  one per role with ``share_parameters``. Its forward passes return
  ``action_dist_inputs`` (the speaker channel's symbol-policy logits, the actor's
  logits, or a Gaussian's mean and log-std), so RLlib's own distribution classes
  (``TorchMultiCategorical``, ``TorchCategorical``, ``TorchDiagGaussian``) sample the
  actions and compute their log-probabilities; these equal our networks'
  ``log_prob`` for the same action (``tests/test_rllib.py`` checks it). The
  exploration pass also returns ``vf_preds`` so the learner has the old values.
* :class:`AimPPOLearner` (a ``PPOTorchLearner``) computes the loss with
  :func:`agents.ppo.ppo_loss` (no second copy of the loss) plus ``aux_coef`` times the
  channel's auxiliary loss, and logs every part under the module id in the learner
  results (``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``, ``clipfrac``,
  ``aux_total``, ``aux_reconstruction``, ...). Steps where the agent's action did not
  count (``infos[agent]["active"]`` false, brought into the batch by
  :class:`AddActiveMask`) are masked out of the policy and entropy terms, as in the
  native trainer. With several learners, the float buffers of every module (VQ's EMA
  codebook, cluster sizes, usage counters) are averaged over the learners after each
  update: DDP all-reduces gradients, not buffers.
* :class:`AimCallbacks` records each episode's symbols, success and team return on
  the env runners and turns every training result into the native trainer's
  scalars (``charts/...``, ``losses/<agent>/...``, ``symbols/...``, in
  ``result["aim"]``), which the run loop writes with a ``SummaryWriter``
  (RLlib writes no events without Tune).
* Envs reach RLlib in one of two ways (``build_config(..., env_runner=...)``):
  ``"batched"`` (default), :class:`agents.rllib_batched.BatchedEnvRunner`, steps one
  batched core per env runner in one call; ``"pettingzoo"`` is RLlib's own runner
  over ``ParallelPettingZooEnv(envs.make(name, **config))`` sub-envs, registered with
  ``tune.register_env``. Every agent acts at every step (the two-phase envs ignore an
  inactive agent's action).
* A shared vocabulary (``build_config(..., shared_vocabulary=True)``): all speakers
  talk through one codebook (:class:`AimMultiRLModule`, RLlib's shared-encoder
  pattern); its parameters are stepped by the first speaker's optimizer only.
  ``share_parameters`` instead shares whole networks between agents with the same
  spaces and role.

``import agents`` never imports Ray. ``import agents.rllib`` imports it when it is
installed; without it the module still imports (placeholder base classes), and
:func:`require_ray` / building a module raise ``ImportError`` with the install hint
``pip install "aim-suite[rllib]"``.

Differences from the native trainer: the advantages (same ``gamma``/``lambda``; the
batched runner computes them with :func:`agents.ppo.compute_gae`, the PettingZoo path
with RLlib's GAE connector) are standardized per batch before ``ppo_loss``
standardizes them per minibatch; Adam has RLlib's ``eps=1e-8`` (native: ``1e-5``);
``--num-steps`` is the rollout fragment per env. Not done here: a centralized critic
(``--centralized-value`` raises ``ValueError``); ``--device`` is ignored (use
``--num-gpus-per-learner``); the symbol views are written once, after evaluation.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from gymnasium import spaces

from agents.networks import ActorCritic, CandidateListener, Speaker, build_agent
from agents.ppo import ppo_loss

if TYPE_CHECKING:  # pragma: no cover
    from experiments.aim import Args

__all__ = [
    "ENV_NAME",
    "INSTALL_HINT",
    "AddActiveMask",
    "AimCallbacks",
    "AimMultiRLModule",
    "AimPPOLearner",
    "AimRLModule",
    "build_config",
    "env_creator",
    "init_ray",
    "latest_checkpoint",
    "loopback_only",
    "module_specs",
    "module_states",
    "native_trainer",
    "require_ray",
    "save_checkpoint",
    "symbol_usage",
]

INSTALL_HINT = 'the rllib backend needs Ray: pip install "aim-suite[rllib]"'
ENV_NAME = "aim_env"
"""The name our envs are registered under with ``tune.register_env``."""
ACTIVE = "aim_active"
"""Train-batch column: whether the agent's action counted at that step."""
_LAYERS = 2


try:  # The base classes come from RLlib; without Ray, placeholders raise the hint.
    from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.rllib.connectors.connector_v2 import ConnectorV2
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.distribution.torch.torch_distribution import (
        TorchCategorical,
        TorchDiagGaussian,
        TorchMultiCategorical,
    )
    from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
    from ray.rllib.core.rl_module.torch import TorchRLModule

    _RAY_ERROR: ImportError | None = None
except ImportError as _err:  # pragma: no cover - exercised without ray
    _RAY_ERROR = _err

    class _NeedsRay:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError(INSTALL_HINT) from _RAY_ERROR

    class PPOTorchLearner(_NeedsRay): ...

    class RLlibCallback(_NeedsRay): ...

    class ConnectorV2(_NeedsRay): ...

    class TorchRLModule(_NeedsRay): ...

    class MultiRLModule(_NeedsRay): ...

    class ValueFunctionAPI: ...


def require_ray():
    """``ray``, or ``ImportError`` with the install hint."""
    if _RAY_ERROR is not None:
        raise ImportError(INSTALL_HINT) from _RAY_ERROR
    import ray

    return ray


ADVANTAGES, VALUE_TARGETS = "advantages", "value_targets"


# ---------------------------------------------------------------------- env
def env_creator(config: dict):
    """RLlib's view of one of our envs: ``ParallelPettingZooEnv(envs.make(...))``.

    ``config`` is the env config plus ``"aim_env"``, the env's name.
    """
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    import envs

    options = dict(config)
    name = options.pop("aim_env")
    return ParallelPettingZooEnv(envs.make(name, **options))


# ---------------------------------------------------------------------- module
class AimRLModule(TorchRLModule, ValueFunctionAPI):
    """An RLModule around one of our agents (``self.net``, from ``build_agent``).

    ``model_config`` keys: ``speaker`` (bool), ``channel``, ``channel_options``,
    ``hidden``, ``layers``. Exploration and inference run the network in eval mode
    (VQ's EMA codebook moves only in the learner's update, as in the native trainer)
    and return ``action_dist_inputs`` and ``vf_preds``; the train pass returns our
    network's ``aim_logp``, ``aim_entropy``, ``aim_value`` and ``aim_aux`` for the
    batch's actions (one forward pass, what the loss reads).
    """

    def setup(self) -> None:
        mc = dict(self.model_config or {})
        self.net = build_agent(
            self.observation_space,
            self.action_space,
            speaker=bool(mc.get("speaker", False)),
            channel=mc.get("channel", "vq"),
            hidden=int(mc.get("hidden", 64)),
            layers=int(mc.get("layers", _LAYERS)),
            channel_options=mc.get("channel_options") or None,
            obs_parts=mc.get("obs_parts") or None,
        )
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            self.action_dist_cls = TorchCategorical
        elif isinstance(space, spaces.MultiDiscrete):
            self.action_dist_cls = TorchMultiCategorical.get_partial_dist_cls(
                input_lens=[int(n) for n in space.nvec]
            )
        elif isinstance(space, spaces.Box):
            self.action_dist_cls = TorchDiagGaussian
        else:
            raise TypeError(f"unsupported action space {space}")

    # -- our network, evaluated once per pass -----------------------------------
    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]:
        """``(action_dist_inputs, log_prob, entropy, aux)`` of ``obs``.

        ``log_prob`` is that of ``actions`` (a sample of our network when None).
        """
        net = self.net
        obs = obs.float()
        if isinstance(net, Speaker):
            tokens = None
            if actions is not None:
                tokens = actions.long()
                if isinstance(self.action_space, spaces.Discrete):
                    tokens = tokens[:, None]
            out = net.channel(net.encoder(obs), tokens=tokens, target=obs)
            return out.logits.flatten(1), out.log_prob, out.entropy, out.aux
        if actions is not None and not isinstance(self.action_space, spaces.Box):
            actions = actions.long()
        out = net(obs, action=actions)
        with torch.no_grad():  # the loss reads log_prob; these are for RLlib's dists
            dist_inputs = self._dist_inputs(obs)
        return dist_inputs, out.log_prob, out.entropy, out.aux

    def _dist_inputs(self, obs: torch.Tensor) -> torch.Tensor:
        """``action_dist_inputs`` of a non-speaker network."""
        net, space = self.net, self.action_space
        if isinstance(net, ActorCritic):
            h = net.actor(obs)
            if net.head.nvec:
                return net.head.logits(h)
            mean = net.head.mean(h)
            return torch.cat([mean, net.head.log_std.expand_as(mean)], dim=-1)
        if isinstance(net, CandidateListener):  # its forward's scores, one pass
            items = obs[:, net.start : net.stop].reshape(len(obs), net.n, net.item)
            return torch.einsum("nkh,nh->nk", net.candidate_net(items), net.encode(obs))
        if not isinstance(space, spaces.Discrete):
            raise TypeError(f"{type(net).__name__}: unsupported action space {space}")
        # Any other network over Discrete(n): the log-probability of every action is
        # a valid logit vector (a log-softmax), equal to the network's own by
        # construction.
        n = int(space.n)
        every = torch.arange(n, device=obs.device).repeat_interleave(len(obs))
        logp = net(obs.repeat(n, 1), action=every).log_prob
        return logp.reshape(n, len(obs)).t()

    def _act(self, batch: dict[str, Any]) -> dict[str, Any]:
        # Env runners' copies only act: eval mode (frozen codebook) from the first
        # call on; the learner's copy switches back in ``_forward_train``.
        if self.net.training:
            self.net.eval()
        with torch.no_grad():
            obs = batch[Columns.OBS].float()
            if isinstance(self.net, Speaker):  # logits only: no sample, no decoder
                net = self.net
                out = net.channel(net.encoder(obs), deterministic=True)
                dist_inputs = out.logits.flatten(1)
            else:
                dist_inputs = self._dist_inputs(obs)
            values = self.compute_values(batch)
        return {Columns.ACTION_DIST_INPUTS: dist_inputs, Columns.VF_PREDS: values}

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch)

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        # One pass of our network: the loss reads only these (no distribution
        # inputs, which would cost a second pass, n passes for a candidate listener).
        if not self.net.training:
            self.net.train()
        actions = batch[Columns.ACTIONS]
        if not isinstance(self.action_space, spaces.Box):
            actions = actions.long()
        out = self.net(batch[Columns.OBS].float(), action=actions)
        return {
            "aim_logp": out.log_prob,
            "aim_entropy": out.entropy,
            "aim_value": out.value,
            "aim_aux": out.aux,
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None):
        return self.net.value(batch[Columns.OBS].float())


class AimMultiRLModule(MultiRLModule):
    """A ``MultiRLModule`` whose speakers can share one vocabulary.

    ``model_config["shared_channel"]``: module ids of speakers. Every part of the
    first one's channel that fits the others (same type and tensor shapes: the VQ
    codebook and the encoder projection, or a categorical head) becomes one object
    shared by all: RLlib's shared-encoder pattern, the shared part living in the
    first module. Parts that cannot fit (a VQ decoder reconstructing observations of
    other sizes) and the usage counters stay per speaker. :class:`AimPPOLearner`
    gives the shared parameters to the first module's optimizer only.
    """

    def setup(self) -> None:
        super().setup()
        ids = list((self.model_config or {}).get("shared_channel") or ())
        if len(ids) < 2:
            return
        owner = self._rl_modules[ids[0]].net.channel
        for module_id in ids[1:]:
            channel = self._rl_modules[module_id].net.channel
            shared = [
                name
                for name, part in owner.named_children()
                if _fits(part, getattr(channel, name, None))
            ]
            if type(channel) is not type(owner) or not shared:
                raise ValueError(
                    f"shared vocabulary: the channels of {ids[0]!r} and "
                    f"{module_id!r} have no part in common"
                )
            for name in shared:
                setattr(channel, name, getattr(owner, name))


def _fits(a: torch.nn.Module, b: torch.nn.Module | None) -> bool:
    if b is None or type(a) is not type(b):
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


# ---------------------------------------------------------------------- learner
class AddActiveMask(ConnectorV2):
    """Learner connector: adds the ``aim_active`` column (``infos[agent]["active"]``
    of the observation each action was taken at; True when the env has no such
    key)."""

    def __call__(self, *, rl_module, batch, episodes, explore=None, **kwargs):
        for sa_episode in self.single_agent_episode_iterator(
            episodes, agents_that_stepped_only=False
        ):
            n = len(sa_episode)
            infos = sa_episode.get_infos(slice(0, n))
            active = [bool(np.all(i.get("active", True))) for i in infos]
            self.add_n_batch_items(
                batch,
                ACTIVE,
                items_to_add=np.asarray(active, dtype=bool),
                num_items=n,
                single_agent_episode=sa_episode,
            )
        return batch


class AimPPOLearner(PPOTorchLearner):
    """PPO with :func:`agents.ppo.ppo_loss` plus the channel's auxiliary loss.

    ``learner_config_dict["aux_coef"]`` weights ``aux.total``.
    """

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        n = fwd_out["aim_logp"].shape[0]
        keep = batch.get(Columns.LOSS_MASK)
        if keep is None:
            keep = torch.ones(n, dtype=torch.bool, device=fwd_out["aim_logp"].device)
        keep = keep.bool()
        active = batch.get(ACTIVE)
        mask = None if active is None else active.bool()[keep]
        new_value = fwd_out["aim_value"][keep]
        old_value = batch.get(Columns.VF_PREDS)
        ent_coef = self.entropy_coeff_schedulers_per_module[
            module_id
        ].get_current_value()
        loss, info = ppo_loss(
            fwd_out["aim_logp"][keep],
            batch[Columns.ACTION_LOGP][keep],
            batch[ADVANTAGES][keep],
            new_value,
            new_value.detach() if old_value is None else old_value[keep],
            batch[VALUE_TARGETS][keep],
            fwd_out["aim_entropy"][keep],
            clip_coef=config.clip_param,
            vf_coef=config.vf_loss_coeff,
            ent_coef=float(ent_coef),
            clip_vloss=old_value is not None,
            mask=mask,
        )
        aux = fwd_out["aim_aux"]
        aux_coef = float(config.learner_config_dict.get("aux_coef", 1.0))
        total = loss + aux_coef * aux.total
        logged = dict(info._asdict())
        if isinstance(self.module[module_id].unwrapped().net, Speaker):
            logged.update({f"aux_{k}": v.detach() for k, v in aux._asdict().items()})
            logged["aux_weighted"] = (aux_coef * aux.total).detach()
        logged["total"] = total.detach()
        # Logged once per update (window 1 keeps only the last minibatch's anyway).
        self.__dict__.setdefault("_aim_logged", {})[module_id] = logged
        return total

    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        """Adam over the module's parameters, except a shared channel's in every
        module but its owner (each parameter is stepped once)."""
        shared = list(self.config.learner_config_dict.get("aim_shared_channel", ()))
        params = self.get_parameters(self._module[module_id])
        if module_id in shared[1:]:
            owner = self._module[shared[0]].unwrapped()
            skip = {id(p) for p in owner.parameters()}
            params = [p for p in params if id(p) not in skip]
        optimizer = torch.optim.Adam(params)
        self.register_optimizer(
            module_id=module_id,
            optimizer=optimizer,
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    def _update(self, batch, **kwargs):
        # Every learner must run its modules in one fixed order. Each module's DDP
        # wrapper all-reduces its gradients on the one process group, in the order
        # the backward pass reaches them; the train batch lists modules in the order
        # its episodes met them, which differs between learners' shards, and then
        # one learner's speaker gradients met the other's listener gradients
        # (gloo: "Received data size doesn't match expected size").
        batch = {module_id: batch[module_id] for module_id in sorted(batch)}
        return super()._update(batch, **kwargs)

    def after_gradient_based_update(self, *, timesteps) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        for module_id, logged in self.__dict__.pop("_aim_logged", {}).items():
            self.metrics.log_dict(logged, key=module_id, window=1)
        self._sync_buffers()

    def _sync_buffers(self) -> None:
        """Average the float buffers over the learners (DDP syncs only gradients)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        world = dist.get_world_size()
        if world < 2:
            return
        with torch.no_grad():
            for module in self.module.values():
                for buf in module.unwrapped().net.buffers():
                    if buf.is_floating_point():
                        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                        buf.div_(world)


# ---------------------------------------------------------------------- callbacks
class AimCallbacks(RLlibCallback):
    """Symbols, success and return per episode (env runners); TensorBoard scalars
    with the native trainer's tags (driver).

    Reads from ``config.learner_config_dict``: ``aim_speakers`` (agent ids whose action
    is a message) and ``aim_logdir`` (where the driver writes events; none if
    missing). Adds ``result["aim"]`` (this iteration's ``metrics`` and per-speaker
    ``symbol_counts [L, V]``) to every training result.
    """

    def on_episode_end(
        self,
        *,
        episode,
        metrics_logger=None,
        env_runner=None,
        prev_episode_chunks=None,
        **kw,
    ):
        _truncation_is_not_termination(episode)
        if metrics_logger is None:
            return
        cfg = env_runner.config.learner_config_dict if env_runner is not None else {}
        # An episode cut by sample() arrives as its last chunk plus the earlier ones.
        chunks = [*(prev_episode_chunks or ()), episode]
        agents = list(episode.agent_episodes)
        returns = [
            sum(
                float(c.agent_episodes[a].get_return())
                for c in chunks
                if a in c.agent_episodes
            )
            for a in agents
        ]
        metrics_logger.log_value(("aim", "episodes"), 1, reduce="sum")
        metrics_logger.log_value(
            ("aim", "return_sum"), float(np.mean(returns)), reduce="sum"
        )
        last = episode.agent_episodes[agents[-1]].get_infos(-1)
        if isinstance(last, dict) and "success" in last:
            metrics_logger.log_value(
                ("aim", "success_sum"), float(np.all(last["success"])), reduce="sum"
            )
        for speaker in cfg.get("aim_speakers", ()):
            sent = [
                _active_tokens(c.agent_episodes[speaker])
                for c in chunks
                if speaker in c.agent_episodes and len(c.agent_episodes[speaker])
            ]
            if not sent:
                continue
            tokens = np.concatenate(sent)
            for pos in range(tokens.shape[1]):
                vals, counts = np.unique(tokens[:, pos], return_counts=True)
                for v, c in zip(vals.tolist(), counts.tolist()):
                    metrics_logger.log_value(
                        ("aim_symbols", speaker, f"{pos}_{v}"), c, reduce="sum"
                    )

    def on_train_result(self, *, algorithm, metrics_logger=None, result, **kw):
        from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, LEARNER_RESULTS

        cfg = algorithm.config.learner_config_dict
        env_res = result.get(ENV_RUNNER_RESULTS, {})
        aim = env_res.get("aim", {})
        metrics: dict[str, float] = {}
        episodes = finite(aim.get("episodes", 0.0))
        if episodes:
            metrics["charts/episodic_return"] = finite(aim["return_sum"]) / episodes
            if "success_sum" in aim:
                metrics["charts/success"] = finite(aim["success_sum"]) / episodes
            metrics["charts/episodes"] = episodes
        for module_id, values in result.get(LEARNER_RESULTS, {}).items():
            if not isinstance(values, dict) or "policy_loss" not in values:
                continue
            for key, value in values.items():
                if key in _LOSS_KEYS or key.startswith("aux_"):
                    metrics[f"losses/{module_id}/{key}"] = float(value)
        totals = [v for k, v in metrics.items() if k.endswith("/total")]
        if totals:
            metrics["losses/total"] = float(sum(totals))
        counts = _symbol_counts(env_res.get("aim_symbols", {}), cfg)
        usage = [symbol_usage(c) for c in counts.values()]
        if usage:
            for key in ("perplexity", "live_codes"):
                metrics[f"symbols/{key}"] = float(np.mean([u[key] for u in usage]))
        metrics["charts/learning_rate"] = float(algorithm.config.lr)
        result["aim"] = {"metrics": metrics, "symbol_counts": counts}


def _truncation_is_not_termination(episode) -> None:
    """Undo RLlib 2.60's marking of a time-limit cut as a termination.

    ``MultiAgentEpisode.add_env_step`` sets ``is_terminated`` whenever every agent
    is done, truncated ones included, so PPO would not bootstrap a time-limit cut.
    Our envs never report both flags (``truncated = time limit and not
    terminated``), so both set means truncated: clear ``is_terminated``.
    """
    if not (episode.is_terminated and episode.is_truncated):
        return
    episode.is_terminated = False
    for sa_episode in episode.agent_episodes.values():
        if sa_episode.is_truncated:
            sa_episode.is_terminated = False


def _active_tokens(sa_episode) -> np.ndarray:
    """``[n, L]`` tokens a speaker sent at the steps where its action counted."""
    acts = np.asarray(sa_episode.get_actions())
    infos = sa_episode.get_infos(slice(0, len(sa_episode)))
    active = np.array([bool(np.all(i.get("active", True))) for i in infos])
    return acts.reshape(len(acts), -1)[active]


def finite(value: Any) -> float:
    """A logged sum as a float; RLlib reports NaN for a key without new values."""
    value = float(value if value is not None else 0.0)
    return value if np.isfinite(value) else 0.0


_LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "total")


def _symbol_counts(logged: dict, cfg: dict) -> dict[str, np.ndarray]:
    """``{speaker: counts [L, V]}`` from the ``aim_symbols`` env-runner results."""
    shapes = cfg.get("aim_symbol_shapes", {})
    out = {}
    for speaker, (length, vocab) in shapes.items():
        counts = np.zeros((length, vocab))
        for key, value in logged.get(speaker, {}).items():
            pos, tok = (int(x) for x in key.split("_"))
            counts[pos, tok] += finite(value)
        out[speaker] = counts
    return out


def symbol_usage(counts: np.ndarray) -> dict[str, float]:
    """Perplexity and live codes of ``counts [L, V]`` pooled over positions (the
    definition of :meth:`agents.channels.Channel.usage`)."""
    pooled = counts.sum(0)
    total = pooled.sum()
    if total == 0:
        return {"perplexity": 0.0, "live_codes": 0.0}
    p = pooled[pooled > 0] / total
    return {
        "perplexity": float(np.exp(-(p * np.log(p)).sum())),
        "live_codes": float((pooled > 0).sum()),
    }


# ---------------------------------------------------------------------- config
def _symbol_shape(space: spaces.Space) -> tuple[int, int]:
    if isinstance(space, spaces.Discrete):
        return 1, int(space.n)
    return len(space.nvec), int(space.nvec.max())


def module_specs(args: Args) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """``(specs, agent -> module id, speakers)`` for the env of ``args``.

    One ``RLModuleSpec`` per agent, or per (spaces, role) with ``share_parameters``.
    """
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    import envs

    core = envs.make_vec(args.env, 1, **args.env_config)
    speakers = [a for a in core.possible_agents if a in core.message_agents]
    specs: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for agent in core.possible_agents:
        obs_sp, act_sp = core.observation_space(agent), core.action_space(agent)
        key = (str(obs_sp), str(act_sp), agent in speakers)
        if args.share_parameters and key in seen:
            mapping[agent] = seen[key]
            continue
        seen[key] = mapping[agent] = agent
        specs[agent] = RLModuleSpec(
            module_class=AimRLModule,
            observation_space=obs_sp,
            action_space=act_sp,
            model_config={
                "speaker": agent in speakers,
                "channel": args.channel,
                "channel_options": dict(args.channel_options),
                "hidden": args.hidden,
                "layers": _LAYERS,
                "obs_parts": core.obs_parts(agent),
            },
        )
    return specs, mapping, speakers


def batch_size(args: Args) -> int:
    """Env steps per training iteration: ``num_envs * num_steps`` (as native)."""
    return args.num_envs * args.num_steps


def build_config(
    args: Args,
    seed: int,
    logdir: Path | None = None,
    *,
    shared_vocabulary: bool | None = None,
    env_runner: str | None = None,
):
    """The ``PPOConfig`` of one seed of ``args``.

    ``shared_vocabulary`` (default: ``args.shared_vocabulary`` if ``Args`` has it,
    else False): all speakers talk through one channel (:class:`AimMultiRLModule`).
    ``env_runner`` (default: ``args.env_runner`` if ``Args`` has it, else
    ``"batched"``): ``"batched"`` steps one batched core per env runner
    (:mod:`agents.rllib_batched`); ``"pettingzoo"`` is RLlib's own runner over
    ``ParallelPettingZooEnv`` sub-envs.
    """
    if env_runner is None:
        env_runner = getattr(args, "env_runner", "batched")
    if env_runner not in ("batched", "pettingzoo"):
        raise ValueError(
            f"env_runner must be 'batched' or 'pettingzoo', got {env_runner!r}"
        )
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.tune.registry import register_env

    if args.centralized_value:
        raise ValueError("--centralized-value is not supported by the rllib backend")
    register_env(ENV_NAME, env_creator)
    specs, mapping, speakers = module_specs(args)
    import envs

    core = envs.make_vec(args.env, 1, **args.env_config)
    shapes = {s: _symbol_shape(core.action_space(s)) for s in speakers}
    if shared_vocabulary is None:
        shared_vocabulary = bool(args.shared_vocabulary)
    shared = sorted({mapping[a] for a in speakers}) if shared_vocabulary else []
    batch = batch_size(args)
    per_learner = max(1, batch // max(1, args.num_learners))
    minibatch = max(1, per_learner // args.num_minibatches)
    config = (
        PPOConfig()
        .environment(
            ENV_NAME,
            env_config={"aim_env": args.env, **args.env_config},
            # Box actions: sampled unclipped (log-prob), clipped when sent to the
            # env, like ``to_env`` of the native trainer.
            clip_actions=True,
            normalize_actions=False,
        )
        .env_runners(
            num_env_runners=args.num_env_runners,
            num_envs_per_env_runner=args.num_envs_per_env_runner,
            # Short fragments: RLlib 2.60 numpy-izes every finished episode of a
            # sample() call at every step (quadratic in episodes per call), which
            # dominates with two-step episodes and long fragments.
            rollout_fragment_length=args.num_steps,
        )
        .learners(
            num_learners=args.num_learners,
            num_gpus_per_learner=args.num_gpus_per_learner,
            learner_class=AimPPOLearner,
            learner_connector=lambda obs_space, act_space: [AddActiveMask()],
            learner_config_dict={
                "aux_coef": args.aux_coef,
                "aim_speakers": speakers,
                "aim_symbol_shapes": shapes,
                "aim_logdir": None if logdir is None else str(logdir),
                "aim_shared_channel": shared,
            },
        )
        .multi_agent(
            policies=set(specs),
            policy_mapping_fn=_Mapping(mapping),
            policies_to_train=list(specs),
        )
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(
                multi_rl_module_class=AimMultiRLModule,
                rl_module_specs=specs,
                model_config={"shared_channel": shared},
            )
        )
        .training(
            lr=args.lr,
            entropy_coeff=args.ent_coef,
            train_batch_size_per_learner=per_learner,
            minibatch_size=minibatch,
            num_epochs=args.update_epochs,
            gamma=0.99,
            lambda_=0.95,
            clip_param=0.2,
            vf_loss_coeff=0.5,
            grad_clip=0.5,
            grad_clip_by="global_norm",
            use_kl_loss=False,
            kl_coeff=0.0,
        )
        .callbacks(AimCallbacks)
        .fault_tolerance(restart_failed_env_runners=True)
        .debugging(seed=seed)
    )
    if env_runner == "batched":
        from agents.rllib_batched import configure_batched

        configure_batched(config)
    return config


class _Mapping:
    """Picklable ``policy_mapping_fn``: agent id -> module id."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = dict(mapping)

    def __call__(self, agent_id, episode=None, **kwargs) -> str:
        return self.mapping[agent_id]


# ---------------------------------------------------------------------- ray
def init_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    dashboard: bool = False,
) -> None:
    """Start (or, with ``address``, join) Ray once in this process.

    Locally (``address`` None) a new embedded Ray with ``num_cpus`` logical CPUs
    (default 2) whose processes (GCS, raylet, object manager, workers, agents) all
    listen on 127.0.0.1 only, without a dashboard unless ``dashboard`` (then on
    127.0.0.1 too).
    """
    ray = require_ray()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": dashboard, "log_to_driver": False}
    if address is None:
        # "local": a new instance, never a cluster found through RAY_ADDRESS-less
        # discovery (Ray's ray_current_cluster file of the last `ray start`).
        address = "local"
        loopback_only()
        kwargs.update(num_cpus=num_cpus or 2, _node_ip_address=LOOPBACK)
        if dashboard:
            kwargs["dashboard_host"] = LOOPBACK
    ray.init(address=address, **kwargs)


LOOPBACK = "127.0.0.1"


def loopback_only() -> None:
    """Let Ray nodes started from this process use 127.0.0.1 as their address.

    On Linux Ray 2.60 replaces a node address of 127.0.0.1 by the machine's own
    (and its servers then listen on every interface) unless its multi-machine
    switch, ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``, is off: this turns it off for
    this process (read when Ray resolves an address) and its children (the
    environment variable). Joining a cluster with ``address`` is unaffected.
    """
    require_ray()
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


# ---------------------------------------------------------------------- run
STATE_FILE = "aim_state.json"
"""Written last into a checkpoint folder: its presence marks the checkpoint complete."""


def save_checkpoint(algo, ckpt_dir: Path, state: dict) -> Path:
    """Save ``algo`` and ``state`` (JSON) as ``ckpt_dir/latest``, crash-safe.

    The sequence, each step leaving a complete checkpoint that
    :func:`latest_checkpoint` finds (the newest by ``state["iteration"]``):

    1. finish an earlier interrupted swap (:func:`latest_checkpoint`);
    2. ``algo.save_to_path`` into ``.latest.tmp<pid>``, then :data:`STATE_FILE`
       (written to a side file and renamed: it appears whole, and last);
    3. rename ``latest`` to ``.latest.old<pid>``;
    4. rename ``.latest.tmp<pid>`` to ``latest``;
    5. drop ``.latest.old<pid>``, its :data:`STATE_FILE` first (a half-deleted
       folder is never taken for a checkpoint).
    """
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    latest_checkpoint(ckpt_dir)
    tmp = ckpt_dir / f".latest.tmp{os.getpid()}"
    old = ckpt_dir / f".latest.old{os.getpid()}"
    _discard(tmp)
    algo.save_to_path(str(tmp.resolve()))
    part = tmp / f"{STATE_FILE}.part"
    part.write_text(json.dumps(state))
    os.replace(part, tmp / STATE_FILE)
    latest = ckpt_dir / "latest"
    if latest.exists():
        os.replace(latest, old)
    os.replace(tmp, latest)
    _discard(old)
    return latest


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """``ckpt_dir/latest`` after finishing an interrupted :func:`save_checkpoint`, or
    None when ``ckpt_dir`` holds no complete checkpoint.

    Among ``latest``, ``.latest.old*`` and ``.latest.tmp*`` (left by a process that
    died mid-save) the complete ones (with a readable :data:`STATE_FILE`) compete;
    the newest (highest ``iteration``, then ``env_steps``; ``latest`` on a tie)
    becomes ``latest`` and everything else is removed.
    """
    latest = ckpt_dir / "latest"
    if not ckpt_dir.is_dir():
        return None
    found = [latest, *sorted(ckpt_dir.glob(".latest.old*"))]
    found += sorted(ckpt_dir.glob(".latest.tmp*"))
    ranked = []
    for order, path in enumerate(found):
        state = _read_state(path)
        if state is not None:
            key = (int(state.get("iteration", 0)), int(state.get("env_steps", 0)))
            ranked.append((key, -order, path))
    best = max(ranked)[2] if ranked else None
    for path in found:
        if path != best and path != latest:
            _discard(path)
    if best is None:
        return None
    if best != latest:
        _discard(latest)
        os.replace(best, latest)
    return latest


def _read_state(path: Path) -> dict | None:
    try:
        state = json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _discard(path: Path) -> None:
    """Delete a checkpoint folder, its completeness mark first."""
    if path.is_dir():
        (path / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def module_states(algo) -> dict[str, dict]:
    """The learner's module weights, ``{module_id: state_dict}`` (numpy)."""
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    state = algo.learner_group.get_state(
        components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}"
    )
    return state[COMPONENT_LEARNER][COMPONENT_RL_MODULE]


def native_trainer(args: Args, algo, seed: int, env_steps: int, counts: dict):
    """A :class:`agents.native.NativeTrainer` holding the learned weights: the
    native evaluation, symbol views and summary then apply unchanged."""
    from agents.native import NativeTrainer, PPOConfig

    trainer = NativeTrainer(
        args.env,
        args.env_config,
        channel=args.channel,
        channel_options=args.channel_options,
        ppo=PPOConfig(
            num_envs=1,
            num_steps=1,
            num_minibatches=1,
            hidden=args.hidden,
            layers=_LAYERS,
            share_parameters=args.share_parameters,
        ),
        seed=seed,
    )
    specs, mapping, _ = module_specs(args)
    states = module_states(algo)
    for agent, module_id in mapping.items():
        state = {
            k.removeprefix("net."): torch.as_tensor(np.asarray(v))
            for k, v in states[module_id].items()
        }
        trainer.nets[agent].load_state_dict(state)
    for speaker, c in counts.items():
        trainer.nets[speaker].channel.code_counts.copy_(torch.as_tensor(c))
    trainer.env_steps = env_steps
    return trainer
