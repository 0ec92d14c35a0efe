"""The run contract, input side: what a trainer is asked to do.

Both trainers take one :class:`TrainSpec` and nothing else (the RLlib adapter adds
its cluster options, :class:`RLlibOptions`)::

    TrainSpec ──► agents.native.NativeTrainer ─┐
      env + env_config, channel + options,     ├──► agents.results.RunResult
      NetworkConfig, PPOConfig, steps, seed,   │
      device                 ──► agents.rllib.RLlibTrainer ─┘

Every field carries its help text in ``metadata["help"]``; ``experiments``' command
lines turn each field into a flag from that metadata (nested records are flattened:
``--lr`` sets ``TrainSpec.ppo.lr``), so the CLI, the config files and the saved
``config.json`` all speak these names. Records are frozen and validate themselves in
``__post_init__``: a bad value raises ``ValueError``/``TypeError`` naming the field,
what was expected and what came, before anything runs or is written.

>>> spec = TrainSpec(ppo=PPOConfig(num_envs=8, num_steps=2, num_minibatches=2))
>>> spec.ppo.batch_size, spec.network.hidden, spec.channel
(16, 64, 'vq')
>>> PPOConfig(lr=0.0)
Traceback (most recent call last):
...
ValueError: lr must be > 0, got 0.0
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import torch

__all__ = [
    "CHANNEL_KINDS",
    "ChannelKind",
    "EnvRunnerKind",
    "NetworkConfig",
    "PPOConfig",
    "RLlibOptions",
    "TrainSpec",
]

ChannelKind = Literal["vq", "rvq", "categorical", "gumbel", "none"]
CHANNEL_KINDS: tuple[str, ...] = get_args(ChannelKind)
"""The message channels a speaker can use (see :mod:`agents.channels`)."""
EnvRunnerKind = Literal["batched", "pettingzoo"]


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


# ---------------------------------------------------------------- field checks
def _int(owner: Any, name: str, *, low: int = 1) -> None:
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")


def _real(owner: Any, name: str) -> float:
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _positive(owner: Any, name: str) -> None:
    if _real(owner, name) <= 0:
        raise ValueError(f"{name} must be > 0, got {getattr(owner, name)!r}")


def _nonnegative(owner: Any, name: str) -> None:
    if _real(owner, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(owner, name)!r}")


def _unit(owner: Any, name: str, *, open_low: bool = False) -> None:
    value = _real(owner, name)
    if not ((value > 0) if open_low else (value >= 0)) or value > 1:
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {getattr(owner, name)!r}")


def _bool(owner: Any, name: str) -> None:
    value = getattr(owner, name)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")


def _choice(owner: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(owner, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _mapping(owner: Any, name: str) -> None:
    value = getattr(owner, name)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name} must be a mapping with string keys, got {value!r}")


def _record(owner: Any, name: str, cls: type) -> None:
    value = getattr(owner, name)
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {value!r}")


def check_device(device: object) -> torch.device:
    """``device`` as a ``torch.device`` that exists here, or ``ValueError``.

    >>> check_device("cpu")
    device(type='cpu')
    """
    if not isinstance(device, str | torch.device):
        raise TypeError(
            f"device must be a string like 'cpu' or 'cuda:0', got {device!r}"
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is unavailable")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class PPOConfig:
    """Every knob of the PPO update, the same on both backends."""

    num_envs: int = field(
        default=1024, metadata=_help("Parallel envs (one tensor batch natively).")
    )
    num_steps: int = field(
        default=8,
        metadata=_help(
            "Rollout steps per env and iteration (batch = num_envs * num_steps)."
        ),
    )
    lr: float = field(default=3e-3, metadata=_help("Adam learning rate."))
    anneal_lr: bool = field(
        default=False,
        metadata=_help("Decay the learning rate linearly to 0 over the run's steps."),
    )
    lr_decay: float = field(
        default=1.0,
        metadata=_help(
            "Multiply the learning rate by this every iteration (AIM reference: "
            "0.9995)."
        ),
    )
    adam_eps: float = field(default=1e-5, metadata=_help("Adam epsilon."))
    gamma: float = field(default=0.99, metadata=_help("Discount factor."))
    gae_lambda: float = field(default=0.95, metadata=_help("GAE lambda."))
    update_epochs: int = field(
        default=4, metadata=_help("PPO passes over each rollout.")
    )
    num_minibatches: int = field(
        default=4, metadata=_help("Minibatches per pass (must divide the batch).")
    )
    clip_coef: float = field(default=0.2, metadata=_help("PPO clip range."))
    clip_vloss: bool = field(
        default=True, metadata=_help("Clip the value loss around the old values.")
    )
    ent_coef: float = field(default=0.01, metadata=_help("Entropy bonus weight."))
    ent_decay: float = field(
        default=1.0,
        metadata=_help(
            "Multiply the entropy weight by this every iteration (AIM reference: "
            "0.9999)."
        ),
    )
    vf_coef: float = field(default=0.5, metadata=_help("Value loss weight."))
    aux_coef: float = field(
        default=1.0,
        metadata=_help(
            "Weight of the channel's auxiliary loss (VQ-VAE reconstruction + "
            "commitment)."
        ),
    )
    max_grad_norm: float = field(
        default=0.5, metadata=_help("Global gradient-norm clip.")
    )
    accumulate_grads: bool = field(
        default=False,
        metadata=_help(
            "Never zero gradients between updates: reproduces a defect of the AIM "
            "reference code, for the study that shows what it does; keep it off."
        ),
    )

    def __post_init__(self) -> None:
        for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches"):
            _int(self, name)
        for name in ("lr", "adam_eps", "clip_coef", "max_grad_norm"):
            _positive(self, name)
        for name in ("ent_coef", "vf_coef", "aux_coef"):
            _nonnegative(self, name)
        for name in ("gamma", "gae_lambda"):
            _unit(self, name)
        for name in ("lr_decay", "ent_decay"):
            _unit(self, name, open_low=True)
        for name in ("anneal_lr", "clip_vloss", "accumulate_grads"):
            _bool(self, name)
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches ({self.num_minibatches}) must divide the batch "
                f"num_envs * num_steps = {self.batch_size}"
            )

    @property
    def batch_size(self) -> int:
        """Env steps per iteration: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        """Samples per gradient step: ``batch_size // num_minibatches``."""
        return self.batch_size // self.num_minibatches


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes and sharing of the agents' networks."""

    hidden: int = field(default=64, metadata=_help("Hidden width of every network."))
    layers: int = field(default=2, metadata=_help("Hidden layers of every MLP."))
    share_parameters: bool = field(
        default=False,
        metadata=_help("One network for all agents with the same spaces and role."),
    )
    centralized_value: bool = field(
        default=False,
        metadata=_help("Critics see every agent's observation (concatenated)."),
    )

    def __post_init__(self) -> None:
        _int(self, "hidden")
        _int(self, "layers")
        _bool(self, "share_parameters")
        _bool(self, "centralized_value")


@dataclass(frozen=True)
class TrainSpec:
    """One training run of one seed: the env, the agents and the optimisation.

    Validation builds the env's config (unknown or bad env options fail here) and
    checks the channel options against the channel kind, so a spec that exists can be
    trained.
    """

    env: str = field(
        default="referential_v0", metadata=_help("Environment (see envs.names()).")
    )
    env_config: dict = field(
        default_factory=dict,
        metadata=_help("Env options as a JSON object, e.g. '{\"n_attributes\": 3}'."),
    )
    channel: ChannelKind = field(
        default="vq", metadata=_help("Message channel of every speaker.")
    )
    channel_options: dict = field(
        default_factory=dict,
        metadata=_help(
            "Channel options as a JSON object, e.g. '{\"temperature\": 0.5}' "
            "(see agents.channels.channel_options)."
        ),
    )
    differentiable: bool = field(
        default=False,
        metadata=_help(
            "End-to-end Gumbel-softmax (EGG style; native backend, channel gumbel, "
            "single-message games such as referential_v0): the listener reads the "
            "speaker's relaxed message (channel options tau, straight_through) and "
            "its loss trains the speaker through it; the speaker's own "
            "policy-gradient and entropy terms are off."
        ),
    )
    network: NetworkConfig = field(default_factory=NetworkConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    steps: int = field(
        default=250_000,
        metadata=_help(
            "Env steps to train (one step of one env counts 1); training runs whole "
            "iterations, so it ends at the first multiple of the batch >= steps."
        ),
    )
    seed: int = field(
        default=0, metadata=_help("Seed of the env and the networks.", flag=False)
    )
    device: str = field(
        default="cpu",
        metadata=_help("Torch device of the native trainer (cpu, cuda, cuda:1)."),
    )

    def __post_init__(self) -> None:
        import envs
        from agents.channels import channel_options

        if not isinstance(self.env, str) or self.env not in envs.names():
            raise ValueError(f"env must be one of {envs.names()}, got {self.env!r}")
        _mapping(self, "env_config")
        _choice(self, "channel", CHANNEL_KINDS)
        _mapping(self, "channel_options")
        _bool(self, "differentiable")
        if self.differentiable and self.channel != "gumbel":
            raise ValueError(
                "differentiable: the end-to-end path needs channel 'gumbel', got "
                f"{self.channel!r}"
            )
        _record(self, "network", NetworkConfig)
        _record(self, "ppo", PPOConfig)
        _int(self, "steps")
        _int(self, "seed", low=0)
        if self.seed >= 2**63:
            raise ValueError(f"seed must be < 2**63, got {self.seed}")
        check_device(self.device)
        envs.core_class(self.env).make_config(**self.env_config)
        allowed = channel_options(self.channel)
        unknown = sorted(set(self.channel_options) - set(allowed))
        if unknown:
            raise ValueError(
                f"channel_options: unknown option(s) {unknown} for channel "
                f"{self.channel!r}; allowed: {list(allowed) or '(none)'}"
            )

    @property
    def iterations(self) -> int:
        """Training iterations: ``ceil(steps / batch_size)``."""
        return -(-self.steps // self.ppo.batch_size)

    @property
    def total_env_steps(self) -> int:
        """Env steps actually trained: whole iterations, ``>= steps``."""
        return self.iterations * self.ppo.batch_size

    def replace(self, **changes: Any) -> TrainSpec:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RLlibOptions:
    """How the RLlib backend uses Ray (the native backend ignores none of
    :class:`TrainSpec`, and has no use for these)."""

    address: str | None = field(
        default=None,
        metadata=_help(
            "Ray cluster address (auto, ray://host:10001); default: an embedded "
            "local Ray bound to 127.0.0.1."
        ),
    )
    num_env_runners: int = field(
        default=0, metadata=_help("RLlib env runners (0 samples in the driver).")
    )
    num_envs_per_env_runner: int | None = field(
        default=None,
        metadata=_help(
            "Envs per RLlib env runner (default: --num-envs split over the runners, "
            "rounded up, so one sample() per runner fills an iteration's batch)."
        ),
    )
    num_gpus_per_env_runner: float = field(
        default=0.0,
        metadata=_help(
            "GPUs per RLlib env runner: its batched core and its module run there "
            "(remote runners only; the driver's runner stays on the CPU)."
        ),
    )
    num_learners: int = field(
        default=0, metadata=_help("RLlib learner workers (0: learn in the driver).")
    )
    num_gpus_per_learner: float = field(
        default=0.0, metadata=_help("GPUs per RLlib learner.")
    )
    ray_storage: str | None = field(
        default=None,
        metadata=_help("Shared storage path for checkpoints of multi-node runs."),
    )
    shared_vocabulary: bool = field(
        default=False, metadata=_help("All speakers share one codebook.")
    )
    env_runner: EnvRunnerKind = field(
        default="batched",
        metadata=_help(
            "How env runners step envs: one batched core per runner (all its envs "
            "in one call), or RLlib's runner over one PettingZoo env per sub-env."
        ),
    )

    def envs_per_runner(self, num_envs: int) -> int:
        """``num_envs_per_env_runner``, or ``ceil(num_envs / runners)`` when unset
        (the driver samples when there are no runners)."""
        if self.num_envs_per_env_runner is not None:
            return self.num_envs_per_env_runner
        return -(-num_envs // max(1, self.num_env_runners))

    def __post_init__(self) -> None:
        if self.address is not None and not isinstance(self.address, str):
            raise TypeError(f"address must be a string, got {self.address!r}")
        _int(self, "num_env_runners", low=0)
        if self.num_envs_per_env_runner is not None:
            _int(self, "num_envs_per_env_runner")
        _nonnegative(self, "num_gpus_per_env_runner")
        _int(self, "num_learners", low=0)
        _nonnegative(self, "num_gpus_per_learner")
        if self.ray_storage is not None and not isinstance(self.ray_storage, str):
            raise TypeError(f"ray_storage must be a path, got {self.ray_storage!r}")
        _bool(self, "shared_vocabulary")
        _choice(self, "env_runner", get_args(EnvRunnerKind))
