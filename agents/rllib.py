"""The distributed trainer: our agents on RLlib's new API stack (Ray).

:class:`RLlibTrainer` takes the same :class:`agents.spec.TrainSpec` as the native
trainer (plus :class:`agents.spec.RLlibOptions`) and reports the same records
(:class:`agents.results.IterationStats`, :class:`agents.results.EvalResult`), so
``python -m experiments.aim --backend rllib`` runs the same loop and writes the same
run directory. RLlib stays at arm's length: this module only plugs our pieces into
RLlib's builder chain (no ``Algorithm`` subclass).

* :class:`AimRLModule` (``TorchRLModule`` + ``ValueFunctionAPI``) wraps the network
  of :func:`agents.networks.build_agent_of`, one module per
  :func:`agents.networks.agent_groups` group (the native trainer's sharing rule).
  One forward pass of our network gives RLlib everything: the distribution inputs
  (:attr:`agents.networks.AgentOutput.dist_inputs`, read by RLlib's own
  ``TorchCategorical`` / ``TorchMultiCategorical`` / ``TorchDiagGaussian``, whose
  log-probabilities equal our networks'), the value, and in the train pass the
  log-probability, entropy and auxiliary losses of the batch's actions.
* :class:`AimPPOLearner` (a ``PPOTorchLearner``) computes the loss with
  :func:`agents.ppo.ppo_loss` (no second copy of the loss) plus ``aux_coef`` times the
  channel's auxiliary loss, with Adam's ``eps`` from the spec. Steps where an agent's
  action did not count are masked out of the policy and entropy terms
  (:class:`AddActiveMask`), as natively. With several learners the float buffers of
  every module (VQ's EMA codebook, usage counters) are averaged after each update:
  DDP all-reduces gradients, not buffers.
* :class:`AimCallbacks` counts, per iteration, the training episodes that ended with
  their success and team return, and each speaker's emitted symbols (active steps
  only), the quantities of the native trainer's :class:`~agents.results.IterationStats`.
* Envs reach RLlib in one of two ways (:attr:`agents.spec.RLlibOptions.env_runner`):
  ``"batched"`` (the default), :class:`agents.rllib_batched.BatchedEnvRunner`, steps
  one batched core per env runner in one call per step, computes GAE on the runner
  with :func:`agents.ppo.compute_gae` and hands the learner its train batch directly;
  ``"pettingzoo"`` is RLlib's own runner over ``ParallelPettingZooEnv(envs.make(...))``
  sub-envs (registered with ``tune.register_env``), whose time-limit cuts
  :class:`AimCallbacks` marks truncated, not terminated (RLlib 2.60 marks both).
* Several learners run their modules in one sorted order (DDP's collectives must
  meet in the same order on every rank); a local Ray (:func:`init_ray`) is a new
  instance listening on 127.0.0.1 only; checkpoints are swapped in crash-safely
  (:func:`save_checkpoint`, :func:`latest_checkpoint`).
* Every field of the spec is mapped (:data:`SPEC_MAP`) or refused with an error
  naming it (:func:`check_spec`): nothing is silently ignored. The learning-rate
  and entropy schedules (``lr_decay``, ``anneal_lr``, ``ent_decay``) become RLlib
  piecewise schedules with one point per iteration, so each update uses the value the
  native trainer uses at the same iteration.
* Evaluation, symbol views and analysis use a native copy of the learned weights
  (:meth:`RLlibTrainer.native_copy`): one evaluation definition for both backends.

``import agents`` never imports Ray. ``import agents.rllib`` imports it when it is
installed; without it the module still imports (placeholder base classes), and
:func:`require_ray` / building a module raise ``ImportError`` with the install hint
``pip install "aim-suite[rllib]"``.

Remaining differences from the native trainer: the advantages (same ``gamma`` /
``lambda``; the PettingZoo path uses RLlib's GAE connector) are standardized per
batch before ``ppo_loss`` standardizes them per minibatch; ``num_steps`` is the
rollout fragment per env; an ``algo.train()`` that sampled nothing (every env runner
down) is retried, not counted as an iteration.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from agents.networks import Speaker, agent_groups, build_agent_of
from agents.ppo import ppo_loss
from agents.results import (
    EvalResult,
    IterationStats,
    SymbolUsage,
    TrainingDiverged,
    symbol_usage,
)
from agents.spec import PPOConfig, RLlibOptions, TrainSpec
from envs.core import ACTIVE as INFO_ACTIVE
from envs.core import SUCCESS as INFO_SUCCESS

__all__ = [
    "ENV_NAME",
    "INSTALL_HINT",
    "REFUSED",
    "SPEC_MAP",
    "AddActiveMask",
    "AimCallbacks",
    "AimMultiRLModule",
    "AimPPOLearner",
    "AimRLModule",
    "RLlibTrainer",
    "build_config",
    "check_spec",
    "env_creator",
    "init_ray",
    "latest_checkpoint",
    "loopback_only",
    "module_specs",
    "module_states",
    "require_ray",
    "save_checkpoint",
    "schedule",
    "start_ray",
]

INSTALL_HINT = 'the rllib backend needs Ray: pip install "aim-suite[rllib]"'
ENV_NAME = "aim_env"
"""The name our envs are registered under with ``tune.register_env``."""
ACTIVE = "aim_active"
"""Train-batch column: whether the agent's action counted at that step."""

SPEC_MAP: MappingProxyType[str, str] = MappingProxyType(
    {
        "env": "environment(env_config['aim_env'])",
        "env_config": "environment(env_config)",
        "channel": "rl_module(model_config['spec'])",
        "channel_options": "rl_module(model_config['spec'])",
        "hidden": "rl_module(model_config['spec'])",
        "layers": "rl_module(model_config['spec'])",
        "share_parameters": "multi_agent(policy_mapping_fn) via agent_groups",
        "num_envs": "training(train_batch_size_per_learner = num_envs * num_steps)",
        "num_steps": "env_runners(rollout_fragment_length) and the batch size",
        "lr": "training(lr) schedule",
        "anneal_lr": "training(lr) schedule",
        "lr_decay": "training(lr) schedule",
        "adam_eps": "AimPPOLearner's Adam eps",
        "gamma": "training(gamma)",
        "gae_lambda": "training(lambda_)",
        "update_epochs": "training(num_epochs)",
        "num_minibatches": "training(minibatch_size)",
        "clip_coef": "training(clip_param)",
        "clip_vloss": "AimPPOLearner's ppo_loss(clip_vloss)",
        "ent_coef": "training(entropy_coeff) schedule",
        "ent_decay": "training(entropy_coeff) schedule",
        "vf_coef": "training(vf_loss_coeff)",
        "aux_coef": "AimPPOLearner's aux weight",
        "max_grad_norm": "training(grad_clip)",
        "steps": "the run loop's iterations; the lr anneal",
        "seed": "debugging(seed)",
        "device": "cpu only here (GPUs through --num-gpus-per-learner)",
    }
)
"""Where each :class:`~agents.spec.TrainSpec` field goes in RLlib's config."""

REFUSED: MappingProxyType[str, str] = MappingProxyType(
    {
        "centralized_value": "a centralized critic is not available with RLlib "
        "(use the native backend)",
        "accumulate_grads": "RLlib's learner zeroes gradients every update (the AIM "
        "reference's defect is reproduced by the native backend only)",
        "differentiable": "the end-to-end Gumbel-softmax path feeds the speaker's "
        "relaxed message into the listener inside one update, which RLlib's "
        "per-module learner cannot do (use the native backend)",
    }
)
"""Spec fields the RLlib backend refuses when set (with the reason)."""


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


def check_spec(spec: TrainSpec, options: RLlibOptions | None = None) -> None:
    """Raise ``ValueError`` naming the first field RLlib cannot honour.

    Every field of the spec is either mapped (:data:`SPEC_MAP`) or refused here
    (:data:`REFUSED`, and a device other than ``cpu``).
    """
    if spec.network.centralized_value:
        raise ValueError(f"centralized_value: {REFUSED['centralized_value']}")
    if spec.ppo.accumulate_grads:
        raise ValueError(f"accumulate_grads: {REFUSED['accumulate_grads']}")
    if spec.differentiable:
        raise ValueError(f"differentiable: {REFUSED['differentiable']}")
    if torch.device(spec.device).type != "cpu":
        raise ValueError(
            f"device {spec.device!r}: the rllib backend places learners itself; use "
            "--num-gpus-per-learner for GPUs"
        )
    if options is not None and options.shared_vocabulary:
        core = _core(spec)
        if len([a for a in core.possible_agents if a in core.message_agents]) < 2:
            raise ValueError(
                f"shared_vocabulary: {spec.env} has fewer than two speakers"
            )


def schedule(
    spec: TrainSpec, base: float, decay: float, *, anneal: bool = False
) -> float | list[list[float]]:
    """``base`` (a float) or an RLlib piecewise schedule ``[[timestep, value], ...]``.

    The native trainer's update ``k`` (0-based) uses ``base * decay**k``, times
    ``1 - (k + 1) * batch / steps`` when annealed. RLlib updates a scheduled value
    *after* each update from the env steps sampled so far, so update ``k`` reads the
    point at ``k * batch``: one point per iteration reproduces the native values.

    >>> spec = TrainSpec(ppo=PPOConfig(num_envs=4, num_steps=1, num_minibatches=1),
    ...                  steps=8)
    >>> schedule(spec, 1.0, 0.5)[:3]
    [[0, 1.0], [4, 0.5], [8, 0.25]]
    """
    if decay == 1.0 and not anneal:
        return float(base)
    batch = spec.ppo.batch_size
    points = []
    for k in range(spec.iterations + 1):
        value = base * decay**k
        if anneal:
            value *= max(0.0, 1.0 - (k + 1) * batch / spec.steps)
        points.append([k * batch, float(value)])
    return points


def _start(value: float | list[list[float]]) -> float:
    """The value of a :func:`schedule` at timestep 0."""
    return float(value[0][1]) if isinstance(value, list) else float(value)


def _core(spec: TrainSpec):
    """A one-env core of the spec's env (spaces, agents, roles)."""
    import envs

    return envs.make_vec(spec.env, 1, seed=0, **spec.env_config)


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
    """An RLModule around one of our agents (``self.net``).

    ``model_config``: ``spec`` (the :class:`TrainSpec`) and ``agent`` (the agent whose
    network this module is). Exploration and inference run the network in eval mode
    (VQ's EMA codebook moves only in the learner's update, as natively) and return
    ``action_dist_inputs`` and ``vf_preds`` from one forward pass; the train pass
    also returns our network's ``aim_logp``, ``aim_entropy``, ``aim_value`` and
    ``aim_aux`` for the batch's actions.
    """

    def setup(self) -> None:
        mc = dict(self.model_config or {})
        spec, agent = mc["spec"], mc["agent"]
        self.net = build_agent_of(_core(spec), agent, spec)
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

    def _actions(self, actions: torch.Tensor) -> torch.Tensor:
        """RLlib's action batch in the form our network evaluates."""
        if isinstance(self.action_space, spaces.Box):
            return actions.float()
        return actions.long()

    def _act(self, batch: dict[str, Any]) -> dict[str, Any]:
        # Env runners' copies only act: eval mode (frozen codebook) from the first
        # call on; the learner's copy switches back in ``_forward_train``.
        if self.net.training:
            self.net.eval()
        with torch.no_grad():
            dist_inputs, values = self.net.act_inputs(batch[Columns.OBS].float())
        return {Columns.ACTION_DIST_INPUTS: dist_inputs, Columns.VF_PREDS: values}

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch)

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        if not self.net.training:
            self.net.train()
        out = self.net(
            batch[Columns.OBS].float(), action=self._actions(batch[Columns.ACTIONS])
        )
        return {
            Columns.ACTION_DIST_INPUTS: out.dist_inputs,
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
            active = [bool(np.all(i.get(INFO_ACTIVE, True))) for i in infos]
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

    ``learner_config_dict["aim_spec"]`` (the :class:`TrainSpec`) gives ``aux_coef``,
    ``clip_vloss`` and Adam's ``eps``.
    """

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        spec: TrainSpec = config.learner_config_dict["aim_spec"]
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
            clip_vloss=spec.ppo.clip_vloss and old_value is not None,
            mask=mask,
        )
        aux = fwd_out["aim_aux"]
        total = loss + spec.ppo.aux_coef * aux.total
        logged = dict(info._asdict())
        if isinstance(self.module[module_id].unwrapped().net, Speaker):
            logged.update({f"aux_{k}": v.detach() for k, v in aux._asdict().items()})
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
        spec: TrainSpec = self.config.learner_config_dict["aim_spec"]
        optimizer = torch.optim.Adam(params, eps=spec.ppo.adam_eps)
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
def _success_of(infos: dict) -> float | None:
    """The env-level success flag in one agent's last infos (None if absent)."""
    if isinstance(infos, dict) and INFO_SUCCESS in infos:
        return float(np.all(infos[INFO_SUCCESS]))
    return None


class AimCallbacks(RLlibCallback):
    """Per-iteration training statistics with the native trainer's definitions.

    On the env runners: every finished episode adds 1 to ``("aim", "episodes")``, its
    team return (the mean of the agents' returns) to ``("aim", "return_sum")`` and,
    for envs that report success, its success to ``("aim", "success_sum")``; at the
    end of every ``sample()`` call, each speaker's emitted symbols (steps where its
    action counted) are logged as one ``[message_length, vocab_size]`` count table
    under ``("aim_symbols", speaker)``. ``learner_config_dict["aim_speakers"]`` lists
    the speakers.
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
        for agent in agents:
            success = _success_of(episode.agent_episodes[agent].get_infos(-1))
            if success is not None:
                metrics_logger.log_value(("aim", "success_sum"), success, reduce="sum")
                break

    def on_sample_end(self, *, env_runner=None, metrics_logger=None, samples=(), **kw):
        if metrics_logger is None or env_runner is None:
            return
        if not all(hasattr(episode, "agent_episodes") for episode in samples):
            return  # the batched runner logs its own count tables
        shapes = env_runner.config.learner_config_dict.get("aim_symbol_shapes", {})
        for speaker, (length, vocab) in shapes.items():
            counts = np.zeros((length, vocab))
            for episode in samples:
                agent_episodes = getattr(episode, "agent_episodes", {})
                if speaker not in agent_episodes:
                    continue
                sa = agent_episodes[speaker]
                n = len(sa)
                if n == 0:
                    continue
                acts = np.asarray(sa.get_actions(slice(0, n))).reshape(n, -1)
                infos = sa.get_infos(slice(0, n))
                active = np.array(
                    [bool(np.all(i.get(INFO_ACTIVE, True))) for i in infos]
                )
                tokens = acts[active]
                for pos in range(length):
                    counts[pos] += np.bincount(tokens[:, pos], minlength=vocab)
            metrics_logger.log_value(
                ("aim_symbols", speaker), counts, reduce="item_series"
            )


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


def _sum_tables(tables: Any, shape: tuple[int, int]) -> np.ndarray:
    """The sum of the count tables logged in one iteration (zeros when none).

    RLlib hands back a list of the logged tables, the table itself when only one
    was logged, or NaN when none was (an env runner's own, unreduced logger holds
    the series object itself).
    """
    if hasattr(tables, "peek"):
        tables = tables.peek()
    total = np.zeros(shape)
    if isinstance(tables, np.ndarray) and tables.shape == shape:
        tables = [tables]
    if isinstance(tables, list | tuple | np.ndarray):
        for table in tables:
            total += np.asarray(table, dtype=float).reshape(shape)
    return total


def finite(value: Any) -> float:
    """A logged sum as a float; RLlib reports NaN for a key without new values."""
    value = float(value if value is not None else 0.0)
    return value if np.isfinite(value) else 0.0


_LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "total")


# ---------------------------------------------------------------------- config
def _symbol_shape(space: spaces.Space) -> tuple[int, int]:
    if isinstance(space, spaces.Discrete):
        return 1, int(space.n)
    return len(space.nvec), int(space.nvec.max())


def module_specs(spec: TrainSpec) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """``(module specs, agent -> module id, speakers)`` for the spec's env.

    One ``RLModuleSpec`` per :func:`agents.networks.agent_groups` group, named after
    its first agent.
    """
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    core = _core(spec)
    speakers = [a for a in core.possible_agents if a in core.message_agents]
    mapping = agent_groups(core, share_parameters=spec.network.share_parameters)
    specs = {
        group: RLModuleSpec(
            module_class=AimRLModule,
            observation_space=core.observation_space(group),
            action_space=core.action_space(group),
            model_config={"spec": spec, "agent": group},
        )
        for group in dict.fromkeys(mapping.values())
    }
    return specs, mapping, speakers


def build_config(
    spec: TrainSpec, options: RLlibOptions | None = None, *, logdir: Path | None = None
):
    """RLlib's ``PPOConfig`` for one seed's spec (every field mapped or refused)."""
    from ray.rllib.algorithms.ppo import PPOConfig as RLlibPPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.tune.registry import register_env

    options = options or RLlibOptions()
    check_spec(spec, options)
    register_env(ENV_NAME, env_creator)
    specs, mapping, speakers = module_specs(spec)
    core = _core(spec)
    shapes = {s: _symbol_shape(core.action_space(s)) for s in speakers}
    shared = sorted({mapping[a] for a in speakers}) if options.shared_vocabulary else []
    ppo = spec.ppo
    per_learner = max(1, ppo.batch_size // max(1, options.num_learners))
    minibatch = max(1, per_learner // ppo.num_minibatches)
    config = (
        RLlibPPOConfig()
        .environment(
            ENV_NAME,
            env_config={"aim_env": spec.env, **spec.env_config},
            # Box actions: sampled unclipped (log-prob), clipped when sent to the
            # env, like ``to_env`` of the native trainer.
            clip_actions=True,
            normalize_actions=False,
        )
        .env_runners(
            num_env_runners=options.num_env_runners,
            num_envs_per_env_runner=options.envs_per_runner(ppo.num_envs),
            num_gpus_per_env_runner=options.num_gpus_per_env_runner,
            # Short fragments: RLlib 2.60 numpy-izes every finished episode of a
            # sample() call at every step (quadratic in episodes per call), which
            # dominates with two-step episodes and long fragments.
            rollout_fragment_length=ppo.num_steps,
        )
        .learners(
            num_learners=options.num_learners,
            num_gpus_per_learner=options.num_gpus_per_learner,
            learner_class=AimPPOLearner,
            learner_connector=lambda obs_space, act_space: [AddActiveMask()],
            learner_config_dict={
                "aim_spec": spec,
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
            lr=schedule(spec, ppo.lr, ppo.lr_decay, anneal=ppo.anneal_lr),
            entropy_coeff=schedule(spec, ppo.ent_coef, ppo.ent_decay),
            train_batch_size_per_learner=per_learner,
            minibatch_size=minibatch,
            num_epochs=ppo.update_epochs,
            gamma=ppo.gamma,
            lambda_=ppo.gae_lambda,
            clip_param=ppo.clip_coef,
            vf_loss_coeff=ppo.vf_coef,
            grad_clip=ppo.max_grad_norm,
            grad_clip_by="global_norm",
            use_kl_loss=False,
            kl_coeff=0.0,
        )
        .callbacks(AimCallbacks)
        .fault_tolerance(restart_failed_env_runners=True)
        .debugging(seed=spec.seed)
    )
    if options.env_runner == "batched":
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
LOOPBACK = "127.0.0.1"


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


def start_ray(options: RLlibOptions, *, num_workers: int | None = None) -> None:
    """Connect to ``options.address`` or start a local Ray with enough logical CPUs
    for every actor (the OS shares the real ones); ``ImportError`` with the install
    hint when Ray is missing."""
    require_ray()
    runners = options.num_env_runners if num_workers is None else num_workers
    init_ray(options.address, num_cpus=max(2, runners + options.num_learners + 1))


# ---------------------------------------------------------------------- checkpoints
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
    ckpt_dir = Path(ckpt_dir)
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


# ---------------------------------------------------------------------- trainer
class RLlibTrainer:
    """One seed's training on RLlib, with the native trainer's interface.

    Parameters
    ----------
    spec : TrainSpec
    options : RLlibOptions
    algo : ray.rllib.algorithms.Algorithm, optional
        A restored algorithm (see :meth:`restore`); default: built from the spec.
    """

    backend = "rllib"
    RECOVERY_S = 600.0
    """How long :meth:`train_iteration` waits for restarted env runners to sample."""

    def __init__(
        self,
        spec: TrainSpec,
        options: RLlibOptions | None = None,
        *,
        algo: Any = None,
        counters: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(spec, TrainSpec):
            raise TypeError(f"spec must be an agents.spec.TrainSpec, got {spec!r}")
        self.spec = spec
        self.options = options or RLlibOptions()
        check_spec(spec, self.options)
        self.env = _core(spec)
        self.speakers = [
            a for a in self.env.possible_agents if a in self.env.message_agents
        ]
        self.algo = (
            algo if algo is not None else build_config(spec, self.options).build_algo()
        )
        counters = counters or {}
        self.env_steps = int(counters.get("env_steps", 0))
        self.iteration = int(counters.get("iteration", 0))
        # RLlib logs a scheduled value after the update it follows, i.e. the value
        # of the next update: keep it for the next iteration's stats.
        ppo = spec.ppo
        self._next_lr = float(
            counters.get(
                "next_lr",
                _start(schedule(spec, ppo.lr, ppo.lr_decay, anneal=ppo.anneal_lr)),
            )
        )
        self._next_ent = float(
            counters.get(
                "next_ent", _start(schedule(spec, ppo.ent_coef, ppo.ent_decay))
            )
        )
        self._usage = {
            a: symbol_usage(np.asarray(c)) for a, c in counters.get("usage", {}).items()
        }

    # ------------------------------------------------------------------ training
    def train_iteration(self) -> IterationStats:
        """One ``algo.train()`` call, as :class:`~agents.results.IterationStats`."""
        from ray.rllib.utils.metrics import (
            ENV_RUNNER_RESULTS,
            LEARNER_RESULTS,
            NUM_ENV_STEPS_SAMPLED,
        )

        t0 = time.perf_counter()
        while True:
            result = self.algo.train()
            env_res = result.get(ENV_RUNNER_RESULTS, {})
            # NaN while every env runner is down: RLlib restarts them, and such an
            # iteration trains nothing (its learner results are NaN, not a
            # divergence). It is not one of the run's iterations: train again.
            sampled = int(finite(env_res.get(NUM_ENV_STEPS_SAMPLED, 0)))
            if sampled:
                break
            if time.perf_counter() - t0 > self.RECOVERY_S:
                raise RuntimeError(
                    f"no env runner sampled for {self.RECOVERY_S:.0f} s (iteration "
                    f"{self.iteration + 1}); the cluster lost its runners"
                )
        self.env_steps += sampled
        self.iteration += 1
        aim = env_res.get("aim", {})
        episodes = int(finite(aim.get("episodes", 0.0)))
        losses: dict[str, float] = {}
        lr, ent = self._next_lr, self._next_ent
        for module_id, values in result.get(LEARNER_RESULTS, {}).items():
            if not isinstance(values, dict) or "policy_loss" not in values:
                continue
            for key, value in values.items():
                if key in _LOSS_KEYS or key.startswith("aux_"):
                    losses[f"{module_id}/{key}"] = float(value)
                elif key.endswith("_learning_rate"):
                    self._next_lr = float(value)
                elif key == "curr_entropy_coeff":
                    self._next_ent = float(value)
        totals = [v for k, v in losses.items() if k.endswith("/total")]
        losses["total"] = float(sum(totals))
        bad = [k for k, v in losses.items() if not np.isfinite(v)]
        if bad:
            raise TrainingDiverged(self.iteration, bad)
        tables = env_res.get("aim_symbols", {})
        self._usage = {
            speaker: symbol_usage(_sum_tables(tables.get(speaker), shape))
            for speaker, shape in self._shapes().items()
        }
        success = None
        if "success_sum" in aim and episodes:
            success = finite(aim["success_sum"]) / episodes
        return IterationStats(
            iteration=self.iteration,
            env_steps=self.env_steps,
            episodes=episodes,
            success=success,
            mean_return=finite(aim.get("return_sum", 0.0)) / episodes
            if episodes
            else None,
            losses=losses,
            usage=dict(self._usage),
            learning_rate=lr,
            entropy_coef=ent,
            iteration_s=time.perf_counter() - t0,
        )

    def _shapes(self) -> dict[str, tuple[int, int]]:
        return {s: _symbol_shape(self.env.action_space(s)) for s in self.speakers}

    def channel_usage(self) -> dict[str, SymbolUsage]:
        """Per speaker, the symbols emitted in the last iteration's rollout."""
        return dict(self._usage)

    # ------------------------------------------------------------------ weights
    def native_copy(self):
        """A :class:`agents.native.NativeTrainer` holding the learned weights, for the
        native evaluation, the symbol views and analysis."""
        from agents.native import NativeTrainer

        one = PPOConfig(num_envs=1, num_steps=1, num_minibatches=1)
        trainer = NativeTrainer(self.spec.replace(ppo=one))
        _, mapping, _ = module_specs(self.spec)
        states = module_states(self.algo)
        for agent, module_id in mapping.items():
            state = {
                k.removeprefix("net."): torch.as_tensor(np.asarray(v))
                for k, v in states[module_id].items()
            }
            trainer.nets[agent].load_state_dict(state)
        for speaker, usage in self._usage.items():
            trainer.nets[speaker].channel.code_counts.copy_(
                torch.as_tensor(usage.counts, dtype=torch.float32)
            )
        trainer.env_steps, trainer.iteration = self.env_steps, self.iteration
        return trainer

    def evaluate(
        self,
        episodes: int = 1000,
        *,
        seed: int | None = None,
        env_config: dict[str, Any] | None = None,
    ) -> EvalResult:
        """Greedy evaluation of the learned weights (the native evaluator)."""
        return self.native_copy().evaluate(episodes, seed=seed, env_config=env_config)

    def codebook(self, agent: str) -> np.ndarray | None:
        """The code vectors of ``agent``'s channel (vq / rvq), else None."""
        return self.native_copy().codebook(agent)

    # ------------------------------------------------------------------ state
    def _counters(self) -> dict[str, Any]:
        return {
            "env_steps": self.env_steps,
            "iteration": self.iteration,
            "usage": {a: u.counts.tolist() for a, u in self._usage.items()},
            "next_lr": self._next_lr,
            "next_ent": self._next_ent,
        }

    def save(self, folder: Path, state: dict[str, Any]) -> Path:
        """Checkpoint the algorithm and ``state`` (plain data) into ``folder``."""
        counters = self._counters()
        return save_checkpoint(
            self.algo,
            Path(folder),
            {
                **state,
                "iteration": counters["iteration"],
                "env_steps": counters["env_steps"],
                "trainer": counters,
            },
        )

    @classmethod
    def restore(
        cls, folder: Path, spec: TrainSpec, options: RLlibOptions | None = None
    ) -> tuple[RLlibTrainer, dict[str, Any]]:
        """The trainer saved in ``folder`` and the state saved with it."""
        from ray.rllib.algorithms.algorithm import Algorithm

        path = latest_checkpoint(Path(folder))
        if path is None:
            raise ValueError(f"no complete RLlib checkpoint in {folder}")
        try:
            state = json.loads((path / STATE_FILE).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(
                f"checkpoint {path}: unreadable {STATE_FILE}: {err}"
            ) from err
        from ray.tune.registry import register_env

        register_env(ENV_NAME, env_creator)  # a fresh process knows no env yet
        algo = Algorithm.from_checkpoint(str(path.resolve()))
        trainer = cls(spec, options, algo=algo, counters=state.get("trainer", {}))
        return trainer, state

    def close(self) -> None:
        """Stop the algorithm (its env runners and learners)."""
        self.algo.stop()
