"""One microscope for every model: probe what a trained network's layers encode.

``python -m experiments.probe MODEL [MODEL ...]`` loads each model, draws inputs from
the model's own env (the env recorded in the run or its model card, or ``--env`` for
foreign models), collects the activations of every layer and reports, per layer and
per ground-truth feature the env declares (``BatchedEnv.probe_feature_specs``, e.g.
cart velocity, a target's attribute values):

* **variance explained** by the feature (:func:`analysis.representation.
  variance_explained`: how much of the layer the feature accounts for; one-hot
  regression for categorical features),
* **linear decodability** (:func:`analysis.representation.decodability`: held-out
  accuracy of a logistic probe for categorical features, held-out R² of a ridge probe
  for continuous ones) with its baselines: the majority class (categorical) and the
  same probe trained on shuffled features (every kind; a significance baseline,
  never subtracted),
* for agents that emit symbols (the env's ``message_agents``), the symbol report of
  the messages they sent during the rollout: symbol and message counts,
  :func:`analysis.language.message_report` (entropy, message-meaning information,
  compositionality with chance floors) and :func:`analysis.symbols.power_law_fit` of
  the message frequencies with its goodness of fit.

The raw observation is probed too (layer ``input``): a layer can only tell more than
its input through what the network computes from earlier inputs it does not have.
Several models in one call are reported side by side.

Model kinds
-----------
``RUN_DIR`` or ``RUN_DIR/seed_<s>``
    An ``experiments.aim`` run (native or RLlib backend, every seed): the trained
    weights come from :func:`experiments.aim.load_trainer` (for RLlib runs a native
    copy of the RLModule weights), every agent's network is probed, and the inputs
    come from the run's env played by the run's own greedy agents.
RLlib checkpoint directory
    An algorithm checkpoint (``rllib_checkpoint.json``; its learner's RLModules are
    read), a ``MultiRLModule`` or a single ``RLModule`` checkpoint. Our own modules
    (:class:`agents.rllib.AimRLModule`) carry their spec, so their env is known and
    their networks are probed exactly as a native run's; any other RLModule needs
    ``--env`` and is probed through :func:`analysis.models.rllib_activations`.
A stable-baselines3 ``.zip``
    A PPO/A2C ``MlpPolicy`` (an ``ActorCriticPolicy``), probed through
    :func:`analysis.models.sb3_activations`.
A torch state dict ``.pt`` / ``.pth``
    With a model card ``<same stem>.json`` naming a constructor of :data:`CONSTRUCTORS`
    and its keyword arguments (see :class:`ModelCard`). Never an arbitrary pickle.

A ``.zip`` or ``.pt`` may have a model card (``<stem>.json``) recording its env, env
config and agent; ``experiments.gendiff --empirical`` writes one next to every agent
it saves. Without one, ``--env`` (an env name or an ``aim/`` Gymnasium id) and
``--env-config`` say which env the model acts in.

Trust
-----
Native run directories and torch state dicts are loaded with
``torch.load(weights_only=True)``: tensors and plain data only. A stable-baselines3
``.zip`` is read **without unpickling**: its ``data`` file holds cloudpickled objects
(spaces, schedules, the policy class), which are never deserialized; the policy is
rebuilt from the env's spaces and the JSON ``policy_kwargs``, and its weights are
read by SB3's ``load_from_zip_file`` (``torch.load(weights_only=True)``).
**RLlib checkpoints unpickle by design** (RLlib's own format, and an RLlib run
directory is restored from one): only probe RLlib checkpoints and runs you trust.

How to run
----------
::

    python -m experiments.probe runs/referential_v0__vq__20261130-120000
    python -m experiments.probe runs/native_run runs/rllib_run \\
        runs/gendiff/agents/cartpole_position_T2_seed0.zip --out runs/probe
    python -m experiments.probe policy.zip --env aim/CartPole-POMDP-v0 \\
        --env-config '{"history": 2}'
    python -m experiments.probe RUN --layers 'encoder.*' 'context_net.*'

Outputs in ``--out`` (default ``runs/probe``), written only once every model has
been probed (a bad model leaves nothing behind): ``probe.md`` (the report),
``probe.csv`` (one row per model, agent, layer and feature), ``symbols.csv`` (one
row per symbol-emitting agent), ``probe_decodability.png`` and
``probe_variance.png`` (layer × feature heatmaps, models side by side).
Bad input (a path that is no supported model, a model of another env, a model whose
layers produce no tensors, an env without declared features) exits with code 2 and
one line naming it.

Results to expect
-----------------
Measured 2026-11-30 on 2 CPU cores: a default ``experiments.aim`` run (0.952
held-out success), a 256-step RLlib run and an SB3 cart-pole policy probed together
with the defaults take 42 s. In the default run the speaker's encoder holds every
attribute at accuracy 1.00 (its input is a one-hot of them), the quantized code at
0.81-0.89, the listener's message embedding at 0.81-0.88 (chance 0.25); the target's
slot, which the speaker never sees, stays at chance everywhere. The speaker's 2,000
greedy messages: 127 distinct, message-meaning information 6.7 bits (p = 0.005),
topographic similarity 0.41, message frequencies not a power law (``gof_p`` 0.08).
For cart-pole see ``experiments.gendiff --empirical``'s probe table (README,
"Probing models").
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import io
import json
import math
import shlex
import sys
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from experiments import _cli
from experiments._io import atomic_write_bytes, load_torch_checkpoint, read_json

__all__ = [
    "CONSTRUCTORS",
    "AgentView",
    "Args",
    "Column",
    "Inputs",
    "LoadedModel",
    "ModelCard",
    "ModelProbe",
    "ProbeRow",
    "SymbolResult",
    "agent_net_view",
    "card_path",
    "collect_inputs",
    "load_models",
    "main",
    "model_kind",
    "probe_model",
    "read_model_card",
    "resolve_env",
    "run",
    "write_model_card",
    "write_outputs",
]

PROG = "python -m experiments.probe"
INPUT_LAYER = "input"
"""Name of the pseudo-layer holding the raw observation."""
TRUST_NOTE = (
    "RLlib checkpoints unpickle by design: only probe RLlib checkpoints and runs you "
    "trust"
)


# ---------------------------------------------------------------------------- Args
@dataclass(frozen=True)
class Args:
    """Options of ``python -m experiments.probe``."""

    models: tuple[str, ...] = field(
        default=(),
        metadata=_cli.describe(
            "Models to probe: experiments.aim run directories (or seed folders), "
            "RLlib checkpoint directories, stable-baselines3 .zip files, torch state "
            "dicts (.pt/.pth) with a <stem>.json model card. RLlib checkpoints "
            "unpickle: only probe ones you trust.",
            flag=False,
        ),
    )
    out: str = field(
        default="runs/probe",
        metadata=_cli.describe("Output folder (probe.md, probe.csv, figures)."),
    )
    env: str | None = field(
        default=None,
        metadata=_cli.describe(
            "Env of models that record none (an env name such as cartpole_v0, or an "
            "aim/ Gymnasium id); must match the env a run or model card records."
        ),
    )
    env_config: dict = field(
        default_factory=dict,
        metadata=_cli.describe("Config of --env as a JSON object."),
    )
    agent: str | None = field(
        default=None,
        metadata=_cli.describe(
            "Agent of the env that a single-network foreign model plays (default: "
            "the env's only agent)."
        ),
    )
    samples: int = field(
        default=2000, metadata=_cli.describe("Inputs recorded per agent.")
    )
    num_envs: int = field(
        default=64, metadata=_cli.describe("Envs stepped together in the rollout.")
    )
    burn_in: int = field(
        default=50,
        metadata=_cli.describe(
            "Rollout steps before recording (so long episodes are past their start)."
        ),
    )
    record_prob: float = field(
        default=0.25,
        metadata=_cli.describe(
            "Chance that an active agent's step is recorded (thins out consecutive, "
            "nearly equal states)."
        ),
    )
    layers: tuple[str, ...] = field(
        default=("*",),
        metadata=_cli.describe(
            "Glob patterns of the layer names to probe (e.g. 'encoder.*'); the input "
            "is always probed."
        ),
    )
    shuffles: int = field(
        default=2,
        metadata=_cli.describe(
            "Shuffled-feature probes averaged for the shuffle baseline."
        ),
    )
    test_fraction: float = field(
        default=0.5, metadata=_cli.describe("Held-out fraction of every probe.")
    )
    power_law_bootstrap: int = field(
        default=100,
        metadata=_cli.describe(
            "Synthetic sets of the power-law goodness-of-fit test of message "
            "frequencies."
        ),
    )
    seed: int = field(
        default=0,
        metadata=_cli.describe("Seed of the rollout, probe splits, shuffles."),
    )
    threads: int = field(
        default=1, metadata=_cli.describe("Torch CPU threads while probing.")
    )
    figures: bool = field(default=True, metadata=_cli.describe("Write PNG figures."))

    def __post_init__(self) -> None:
        _cli.check_fields(self)
        for name in ("samples", "num_envs", "shuffles", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.samples < 10:
            raise ValueError(f"samples must be >= 10, got {self.samples}")
        if self.burn_in < 0 or self.seed < 0 or self.power_law_bootstrap < 1:
            raise ValueError(
                "burn_in and seed must be >= 0 and power_law_bootstrap >= 1, got "
                f"{self.burn_in}, {self.seed}, {self.power_law_bootstrap}"
            )
        if not 0.0 < self.record_prob <= 1.0:
            raise ValueError(f"record_prob must be in (0, 1], got {self.record_prob}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(
                f"test_fraction must be in (0, 1), got {self.test_fraction}"
            )
        if not self.layers:
            raise ValueError("layers must hold at least one pattern")


def parse_args(argv: Sequence[str] | None = None) -> Args:
    """Parse ``MODEL [MODEL ...]`` and the flags (bad input exits with code 2)."""
    parser = _cli.build_parser(Args, prog=PROG, description=__doc__.split("\n")[0])
    models_help = next(f for f in dataclasses.fields(Args) if f.name == "models")
    parser.add_argument(
        "models", nargs="+", metavar="MODEL", help=models_help.metadata["help"]
    )
    ns = vars(parser.parse_intermixed_args(None if argv is None else list(argv)))
    config_path = ns.pop("config", None)
    try:
        values: dict[str, Any] = {}
        if config_path:
            data = _cli.load_config(config_path)
            values.update({str(k).replace("-", "_"): v for k, v in data.items()})
        values.update(ns)
        return _cli.from_dict(Args, values, where="options")
    except (TypeError, ValueError) as err:
        parser.error(_cli.name_flags(Args, str(err)))
        raise  # unreachable: parser.error exits


# ---------------------------------------------------------------------- model cards
@dataclass(frozen=True)
class ModelCard:
    """The JSON sidecar ``<stem>.json`` of a saved ``.zip`` or ``.pt`` model.

    Example (a state dict of :func:`agents.networks.mlp`)::

        {"env": "cartpole_v0", "env_config": {"observe": "position", "history": 2},
         "agent": "cart_0", "constructor": "agents.networks.mlp",
         "kwargs": {"in_dim": 4, "hidden": 64, "out_dim": 2, "layers": 2}}
    """

    env: str | None = None
    """Env name (or ``aim/`` Gymnasium id) the model acts in."""
    env_config: dict = field(default_factory=dict)
    """Config of that env."""
    agent: str | None = None
    """The env's agent the model plays (default: the env's only agent)."""
    constructor: str | None = None
    """For state dicts: a key of :data:`CONSTRUCTORS`."""
    kwargs: dict = field(default_factory=dict)
    """Keyword arguments of the constructor (JSON values)."""
    final_return: float | None = None
    """Greedy return on held-out episodes measured when the model was saved (by
    the tool that trained it), if it was; reported next to the probe."""

    def __post_init__(self) -> None:
        _cli.check_fields(self)
        if self.constructor is not None and self.constructor not in CONSTRUCTORS:
            raise ValueError(
                f"constructor must be one of {sorted(CONSTRUCTORS)}, got "
                f"{self.constructor!r}"
            )


def card_path(model_path: str | Path) -> Path:
    """Where the model card of ``model_path`` lives: the same stem, ``.json``."""
    return Path(model_path).with_suffix(".json")


def write_model_card(model_path: str | Path, card: ModelCard) -> Path:
    """Write ``card`` next to ``model_path`` (atomically); returns its path."""
    path = card_path(model_path)
    text = json.dumps(_cli.to_dict(card), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode())
    return path


def read_model_card(model_path: str | Path) -> ModelCard | None:
    """The model card of ``model_path``, or None when it has none."""
    path = card_path(model_path)
    if not path.is_file():
        return None
    try:
        return _cli.from_dict(ModelCard, read_json(path), where=str(path))
    except (TypeError, ValueError) as err:
        raise ValueError(f"model card {path}: {err}") from err


# ---------------------------------------------------------------------- model views
@dataclass(frozen=True, eq=False)
class AgentView:
    """How the probe reads one agent's network.

    ``layers(obs, value_obs)`` returns the activations of the network's layers for a
    batch of the agent's observations (``value_obs``: the joint observation a
    centralized critic reads, else None); ``act(obs, value_obs)`` returns the greedy
    action of a batch in the env's format, or is None when the model cannot act (the
    rollout then takes uniform random actions for this agent).
    """

    module: nn.Module
    layers: Callable[[np.ndarray, np.ndarray | None], dict[str, np.ndarray]]
    act: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None
    needs_value_obs: bool = False


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model ready to probe: its networks and the env they act in."""

    label: str
    kind: str
    source: str
    env: str
    env_config: dict
    agents: dict[str, AgentView]


def agent_net_view(net: nn.Module, *, centralized_value: bool = False) -> AgentView:
    """The view of one of our agent networks (:mod:`agents.networks`).

    The hooked forward pass is the network's own greedy call (actor, channel and
    critic); with ``centralized_value`` the critic reads the joint observation.
    """
    from analysis.models import activations

    net.eval()
    obs_dim = int(getattr(net, "obs_dim", 0))

    def split(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not centralized_value:
            return batch, None
        return batch[:, :obs_dim], batch[:, obs_dim:]

    def forward(module: nn.Module, batch: torch.Tensor) -> Any:
        obs, value_obs = split(batch)
        return module(obs, value_obs=value_obs, deterministic=True)

    def layers(obs: np.ndarray, value_obs: np.ndarray | None) -> dict[str, np.ndarray]:
        batch = obs if not centralized_value else np.concatenate([obs, value_obs], 1)
        return activations(net, batch, forward=forward)

    def act(obs: torch.Tensor, value_obs: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():
            out = net(obs, value_obs=value_obs, deterministic=True)
        return net.to_env(out.action)

    return AgentView(net, layers, act, needs_value_obs=centralized_value)


def _module_view(path: Path, module: nn.Module, core: Any, agent: str) -> AgentView:
    """A plain ``nn.Module``: all leaves hooked; greedy actions by argmax when its
    output has one score per action of a ``Discrete`` space, else none.

    Raises ``ValueError`` when the module does not accept the env's observations.
    """
    from gymnasium import spaces

    from analysis.models import activations

    module.eval()
    obs, _ = core.reset()
    try:
        with torch.no_grad():
            output = module(obs[agent])
    except (RuntimeError, ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(
            f"{path} is a model of another env: it does not accept {core.name}'s "
            f"{agent} observations (shape {tuple(obs[agent].shape[1:])}): {first}"
        ) from err

    def layers(obs: np.ndarray, value_obs: np.ndarray | None) -> dict[str, np.ndarray]:
        return activations(module, obs)

    space = core.action_space(agent)
    act = None
    if (
        isinstance(space, spaces.Discrete)
        and isinstance(output, torch.Tensor)
        and output.ndim == 2
        and output.shape[-1] == int(space.n)
    ):

        def act(obs: torch.Tensor, value_obs: torch.Tensor | None) -> torch.Tensor:
            with torch.no_grad():
                return module(obs).argmax(-1) + int(space.start)

    return AgentView(module, layers, act)


# ---------------------------------------------------------------------- constructors
def _build_mlp(core: Any, agent: str, kwargs: dict) -> tuple[nn.Module, str]:
    from agents.networks import mlp

    return mlp(**kwargs), "module"


def _build_agent_net(core: Any, agent: str, kwargs: dict) -> tuple[nn.Module, str]:
    from agents.networks import build_agent_of
    from agents.spec import NetworkConfig, TrainSpec

    allowed = {"channel", "channel_options", "hidden", "layers"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(
            f"unexpected keyword(s) {sorted(unknown)}; expected some of "
            f"{sorted(allowed)}"
        )
    defaults = NetworkConfig()
    network = NetworkConfig(
        hidden=kwargs.get("hidden", defaults.hidden),
        layers=kwargs.get("layers", defaults.layers),
    )
    # build_agent_of reads the channel and network sizes; the env is ``core``.
    spec = TrainSpec(
        env=core.name,
        channel=kwargs.get("channel", TrainSpec().channel),
        channel_options=dict(kwargs.get("channel_options", {})),
        network=network,
    )
    return build_agent_of(core, agent, spec), "agent_net"


CONSTRUCTORS: Mapping[str, Callable[[Any, str, dict], tuple[nn.Module, str]]] = (
    MappingProxyType(
        {
            "agents.networks.mlp": _build_mlp,
            "agents.networks.build_agent_of": _build_agent_net,
        }
    )
)
"""The constructors a state dict's model card may name, with its ``kwargs``:

- ``"agents.networks.mlp"``: :func:`agents.networks.mlp` (``in_dim``, ``hidden``,
  ``out_dim``, ``layers``): a tanh MLP; acts greedily by argmax when ``out_dim``
  equals the agent's number of discrete actions, else the rollout acts at random.
- ``"agents.networks.build_agent_of"``: the network of the card's ``agent`` in its
  env (:func:`agents.networks.build_agent_of`; ``channel``, ``channel_options``,
  ``hidden``, ``layers``), i.e. the state dict of one of our agents' networks.
"""


# ---------------------------------------------------------------------- env
def resolve_env(env: str, env_config: Mapping[str, Any] | None = None):
    """``(env name, config)`` of an env name or an ``aim/`` Gymnasium id.

    A Gymnasium id brings its fixed config (``aim/CartPole-POMDP-v0`` is
    ``cartpole_v0`` with ``observe="position"``); ``env_config`` adds to it.
    """
    import envs

    config = dict(env_config or {})
    if isinstance(env, str) and env in envs.gym_ids():
        import gymnasium

        fixed = dict(gymnasium.spec(env).kwargs)
        name = fixed.pop("name")
        return name, {**fixed, **config}
    if not isinstance(env, str) or env not in envs.names():
        raise ValueError(
            f"unknown env {env!r}; expected one of {envs.names()} or a Gymnasium id "
            f"of {envs.gym_ids()}"
        )
    return env, config


def _make_core(name: str, config: Mapping[str, Any], num_envs: int = 1, seed=0):
    import envs

    try:
        return envs.make_vec(name, num_envs, seed=seed, **config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"env {name} with config {dict(config)}: {err}") from err


def _same_env(a: tuple[str, dict], b: tuple[str, dict]) -> bool:
    """Whether two (name, config) pairs make the same env (defaults filled in)."""
    if a[0] != b[0]:
        return False
    import envs

    cls = envs.core_class(a[0])
    try:
        return cls.make_config(**a[1]) == cls.make_config(**b[1])
    except (TypeError, ValueError):
        return a[1] == b[1]


def _foreign_env(path: Path, card: ModelCard | None, args: Args) -> tuple[str, dict]:
    """The env of a model without a recorded run: its card's, or ``--env``."""
    given = resolve_env(args.env, args.env_config) if args.env is not None else None
    if card is not None and card.env is not None:
        recorded = resolve_env(card.env, card.env_config)
        if given is not None and not _same_env(given, recorded):
            raise ValueError(
                f"{path} is a model of {_env_text(*recorded)} (its model card); "
                f"--env asks for {_env_text(*given)}"
            )
        return recorded
    if given is None:
        raise ValueError(
            f"{path} records no env: pass --env (and --env-config) or write a model "
            f"card {card_path(path).name}"
        )
    return given


def _env_text(name: str, config: Mapping[str, Any]) -> str:
    return f"{name} {json.dumps(dict(config), sort_keys=True)}"


def _pick_agent(core: Any, wanted: str | None, path: Path) -> str:
    agents = list(core.possible_agents)
    if wanted is not None:
        if wanted not in agents:
            raise ValueError(f"{path}: agent {wanted!r} is not one of {agents}")
        return wanted
    if len(agents) != 1:
        raise ValueError(
            f"{path}: {core.name} has agents {agents}; name the one the model plays "
            "with --agent (or in its model card)"
        )
    return agents[0]


# ---------------------------------------------------------------------- model kinds
def model_kind(path: str | Path) -> str:
    """``"run"``, ``"rllib"``, ``"sb3"`` or ``"torch"``, from what is at ``path``.

    Raises ``ValueError`` naming the path when it is none of the supported kinds.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory")
    if path.is_dir():
        if _is_seed_dir(path) or (
            (path / "config.json").is_file() and any(path.glob("seed_*"))
        ):
            return "run"
        if (path / "rllib_checkpoint.json").is_file() or (
            path / "class_and_ctor_args.pkl"
        ).is_file():
            return "rllib"
    elif path.suffix == ".zip":
        if _is_sb3_zip(path):
            return "sb3"
    elif path.suffix in (".pt", ".pth"):
        return "torch"
    raise ValueError(
        f"{path} is not a model this probe reads: expected an experiments.aim run "
        "directory (config.json + seed_*/) or seed folder, an RLlib checkpoint "
        "directory, a stable-baselines3 .zip, or a torch state dict (.pt/.pth) with "
        "a .json model card"
    )


def _is_seed_dir(path: Path) -> bool:
    return path.name.startswith("seed_") and (path.parent / "config.json").is_file()


def _is_sb3_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return {"data", "policy.pth"} <= names


def load_models(path: str | Path, args: Args) -> list[LoadedModel]:
    """The model(s) at ``path`` (a run directory gives one per seed)."""
    path = Path(path)
    kind = model_kind(path)
    loaders = {
        "run": _load_run,
        "rllib": _load_rllib,
        "sb3": _load_sb3,
        "torch": _load_torch,
    }
    return loaders[kind](path, args)


# .......................................................................... runs
def _load_run(path: Path, args: Args) -> list[LoadedModel]:
    from experiments.aim import Args as AimArgs
    from experiments.aim import load_trainer

    run_dir = path.parent if _is_seed_dir(path) else path
    try:
        stored = _cli.from_dict(
            AimArgs, read_json(run_dir / "config.json"), where=str(run_dir)
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"{run_dir} is not an experiments.aim run: {err}") from err
    spec = stored.train
    if args.env is not None:
        given = resolve_env(args.env, args.env_config)
        if not _same_env(given, (spec.env, dict(spec.env_config))):
            raise ValueError(
                f"{run_dir} was trained on {_env_text(spec.env, spec.env_config)}; "
                f"--env asks for {_env_text(*given)} (a run is probed on its own env)"
            )
    seed_dirs = (
        [path] if _is_seed_dir(path) else [run_dir / f"seed_{s}" for s in stored.seeds]
    )
    started = stored.backend == "rllib" and _start_ray(stored.rllib)
    try:
        trainers = [
            _restore(
                lambda d=seed_dir: load_trainer(d, device="cpu"),
                seed_dir,
                stored.backend,
            )
            for seed_dir in seed_dirs
        ]
    finally:
        if started:  # the native copies need no Ray: stop what was started here
            import ray

            ray.shutdown()
    models = []
    for seed_dir, trainer in zip(seed_dirs, trainers):
        central = trainer.spec.network.centralized_value
        views = {
            agent: agent_net_view(trainer.nets[agent], centralized_value=central)
            for agent in trainer.agents
        }
        models.append(
            LoadedModel(
                label=f"{run_dir.name}/{seed_dir.name}",
                kind=f"aim run ({stored.backend})",
                source=str(seed_dir),
                env=trainer.spec.env,
                env_config=dict(trainer.spec.env_config),
                agents=views,
            )
        )
    return models


def _start_ray(options: Any) -> bool:
    """Start the local Ray an RLlib run's restore needs (unless one is running),
    with our envs registered under RLlib's env name (a restore builds env
    runners); whether it was started here."""
    from agents.rllib import ENV_NAME, env_creator, start_ray

    running = _ray_running()
    try:
        start_ray(options, num_workers=0)
    except ImportError as err:
        raise ValueError(str(err)) from err
    from ray.tune.registry import register_env

    register_env(ENV_NAME, env_creator)
    return not running


def _restore(load: Callable[[], Any], seed_dir: Path, backend: str) -> Any:
    """``load()``; an RLlib restore failing in any way becomes one ``ValueError``."""
    if backend != "rllib":
        return load()
    try:
        return load()
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - RLlib's restore raises many kinds
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"{seed_dir}: RLlib cannot restore this run's checkpoint "
            f"({type(err).__name__}: {first})"
        ) from err


# .......................................................................... rllib
def _rllib_module_dir(path: Path) -> Path:
    learner = path / "learner_group" / "learner" / "rl_module"
    if (path / "rllib_checkpoint.json").is_file():
        if not learner.is_dir():
            raise ValueError(
                f"{path}: an RLlib checkpoint without learner_group/learner/rl_module "
                "(not a new-API-stack algorithm checkpoint)"
            )
        return learner
    return path


def _load_rllib(path: Path, args: Args) -> list[LoadedModel]:
    try:
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
        from ray.rllib.core.rl_module.rl_module import RLModule
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ValueError(
            f"{path}: reading an RLlib checkpoint needs ray[rllib]: pip install "
            f'"aim-suite[rllib]" ({err})'
        ) from err
    module_dir = _rllib_module_dir(path)
    try:
        loaded = RLModule.from_checkpoint(str(module_dir.resolve()))
    except Exception as err:  # noqa: BLE001 - any failure of RLlib's loader
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"{path}: RLlib cannot load this checkpoint ({type(err).__name__}: {first})"
        ) from err
    if isinstance(loaded, MultiRLModule):
        module_ids = list(loaded.keys())
        modules = {mid: loaded[mid] for mid in module_ids}
    else:
        modules = {None: loaded}
    label = _rllib_label(path)
    ours = {mid: m for mid, m in modules.items() if _is_aim_module(m)}
    if ours and len(ours) == len(modules):
        return [_aim_rllib_model(path, label, ours, args)]
    if ours:
        raise ValueError(
            f"{path}: a MultiRLModule mixing aim-suite modules {sorted(map(str, ours))}"
            " with others; probe the module folders one by one"
        )
    return [_foreign_rllib_model(path, label, modules, args)]


def _rllib_label(path: Path) -> str:
    parts = path.resolve().parts
    return "/".join(parts[-4:]) if path.name == "latest" else path.name


def _is_aim_module(module: Any) -> bool:
    config = getattr(module, "model_config", None) or {}
    return hasattr(module, "net") and "spec" in config and "agent" in config


def _aim_rllib_model(path: Path, label: str, modules: dict, args: Args) -> LoadedModel:
    from agents.networks import agent_groups

    specs = [m.model_config["spec"] for m in modules.values()]
    spec = specs[0]
    if any(other != spec for other in specs[1:]):
        raise ValueError(f"{path}: its modules were built from different specs")
    if args.env is not None:
        given = resolve_env(args.env, args.env_config)
        if not _same_env(given, (spec.env, dict(spec.env_config))):
            raise ValueError(
                f"{path} holds agents of {_env_text(spec.env, spec.env_config)}; "
                f"--env asks for {_env_text(*given)}"
            )
    core = _make_core(spec.env, spec.env_config)
    groups = agent_groups(core, share_parameters=spec.network.share_parameters)
    by_group = {m.model_config["agent"]: m for m in modules.values()}
    central = spec.network.centralized_value
    views = {
        agent: agent_net_view(by_group[group].net, centralized_value=central)
        for agent, group in groups.items()
        if group in by_group
    }
    return LoadedModel(
        label=label,
        kind="RLlib checkpoint (aim-suite modules)",
        source=str(path),
        env=spec.env,
        env_config=dict(spec.env_config),
        agents=views,
    )


def _foreign_rllib_model(
    path: Path, label: str, modules: dict, args: Args
) -> LoadedModel:
    name, config = _foreign_env(path, None, args)
    core = _make_core(name, config)
    views = {}
    for module_id, module in modules.items():
        agent = _pick_agent(core, args.agent if module_id is None else module_id, path)
        _check_space(path, "observation", module.observation_space, core, agent)
        _check_space(path, "action", module.action_space, core, agent)
        views[agent] = _rllib_view(module)
    return LoadedModel(
        label=label,
        kind="RLlib checkpoint",
        source=str(path),
        env=name,
        env_config=config,
        agents=views,
    )


def _rllib_view(module: Any) -> AgentView:
    from analysis.models import rllib_activations

    def layers(obs: np.ndarray, value_obs: np.ndarray | None) -> dict[str, np.ndarray]:
        return rllib_activations(module, obs)

    def act(obs: torch.Tensor, value_obs: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():
            out = module.forward_inference({"obs": obs})
        dist_cls = module.get_inference_action_dist_cls()
        dist = dist_cls.from_logits(out["action_dist_inputs"]).to_deterministic()
        return dist.sample()

    module.eval()
    return AgentView(module, layers, act)


def _check_space(path: Path, what: str, space: Any, core: Any, agent: str) -> None:
    """``ValueError`` when a model's space differs from the env agent's."""
    expected = (
        core.observation_space(agent)
        if what == "observation"
        else core.action_space(agent)
    )
    if not _spaces_equal(space, expected):
        raise ValueError(
            f"{path} is a model of another env: its {what} space is {space}, "
            f"{core.name}'s {agent} has {expected}"
        )


def _spaces_equal(a: Any, b: Any) -> bool:
    from gymnasium import spaces

    if type(a) is not type(b):
        return False
    if isinstance(a, spaces.Box):
        return (
            a.shape == b.shape
            and np.allclose(a.low, b.low, rtol=1e-6)
            and np.allclose(a.high, b.high, rtol=1e-6)
        )
    return a == b


# .......................................................................... SB3
def _load_sb3(path: Path, args: Args) -> list[LoadedModel]:
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.save_util import load_from_zip_file

    card = read_model_card(path)
    name, config = _foreign_env(path, card, args)
    core = _make_core(name, config)
    agent = _pick_agent(core, args.agent or (card.agent if card else None), path)
    with zipfile.ZipFile(path) as archive:
        try:
            data = json.loads(archive.read("data"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: its data file is not JSON: {err}") from err
    obs_space, act_space = core.observation_space(agent), core.action_space(agent)
    _check_sb3_space(path, data.get("observation_space"), obs_space, core, agent)
    _check_sb3_space(path, data.get("action_space"), act_space, core, agent)
    kwargs = data.get("policy_kwargs", {})
    if not isinstance(kwargs, dict) or ":serialized:" in kwargs:
        raise ValueError(
            f"{path}: its policy_kwargs hold pickled objects (e.g. a custom "
            "activation class); the pickle-free loader rebuilds policies from JSON "
            "policy_kwargs only"
        )
    _, params, _ = load_from_zip_file(path, load_data=False, device="cpu")
    if "policy" not in params:
        raise ValueError(f"{path}: no policy.pth weights in the archive")
    try:
        policy = ActorCriticPolicy(obs_space, act_space, lambda _: 0.0, **kwargs)
        policy.load_state_dict(params["policy"], strict=True)
    except (TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(
            f"{path}: not a PPO/A2C MlpPolicy (ActorCriticPolicy) of this env's "
            f"spaces: {first}"
        ) from err
    return [
        LoadedModel(
            label=path.stem,
            kind="stable-baselines3 policy",
            source=str(path),
            env=name,
            env_config=config,
            agents={agent: _sb3_view(policy)},
        )
    ]


def _check_sb3_space(
    path: Path, stored: Any, expected: Any, core: Any, agent: str
) -> None:
    """Compare the readable fields SB3 stores next to a pickled space (shape,
    bounds, number of actions) with the env's space, without unpickling it."""
    from gymnasium import spaces

    if not isinstance(stored, dict):
        return
    kind = str(stored.get(":type:", ""))
    problem = None
    if isinstance(expected, spaces.Box):
        shape = tuple(stored.get("_shape", ()))
        if "Box" not in kind or shape != expected.shape:
            problem = f"{kind or 'an unknown space'} of shape {shape}"
        else:
            for bound in ("low", "high"):
                values = _parse_array(stored.get(bound))
                want = getattr(expected, bound).ravel()
                if values is not None and (
                    values.shape != want.shape
                    or not np.allclose(values, want, rtol=1e-5)
                ):
                    problem = f"a Box with {bound} {stored.get(bound)}"
                    break
    elif isinstance(expected, spaces.Discrete):
        n = stored.get("n")
        if "Discrete" not in kind or str(n) != str(int(expected.n)):
            problem = f"{kind or 'an unknown space'} with n={n}"
    if problem is not None:
        raise ValueError(
            f"{path} is a model of another env: it was trained on {problem}, "
            f"{core.name}'s {agent} has {expected}"
        )


def _parse_array(text: Any) -> np.ndarray | None:
    if not isinstance(text, str):
        return None
    try:
        return np.array(text.replace("[", " ").replace("]", " ").split(), dtype=float)
    except ValueError:
        return None


def _sb3_view(policy: nn.Module) -> AgentView:
    from analysis.models import sb3_activations

    policy.eval()

    def layers(obs: np.ndarray, value_obs: np.ndarray | None) -> dict[str, np.ndarray]:
        return sb3_activations(policy, obs)

    def act(obs: torch.Tensor, value_obs: torch.Tensor | None) -> torch.Tensor:
        action, _ = policy.predict(obs.numpy(), deterministic=True)
        return torch.as_tensor(np.asarray(action))

    return AgentView(policy, layers, act)


# .......................................................................... torch
def _load_torch(path: Path, args: Args) -> list[LoadedModel]:
    card = read_model_card(path)
    if card is None or card.constructor is None:
        raise ValueError(
            f"{path}: a state dict needs a model card {card_path(path).name} naming "
            f"its constructor (one of {sorted(CONSTRUCTORS)}) and kwargs"
        )
    name, config = _foreign_env(path, card, args)
    core = _make_core(name, config)
    agent = _pick_agent(core, args.agent or card.agent, path)
    state = load_torch_checkpoint(path)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path}: not a state dict (non-tensor entries {bad[:3]})")
    try:
        module, flavour = CONSTRUCTORS[card.constructor](core, agent, dict(card.kwargs))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{path}: {card.constructor}(**{card.kwargs}) failed: {err}"
        ) from err
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(
            f"{path}: the state dict does not fit {card.constructor}"
            f"(**{card.kwargs}): {first}"
        ) from err
    if flavour == "agent_net":
        view = agent_net_view(module)
    else:
        view = _module_view(path, module, core, agent)
    return [
        LoadedModel(
            label=path.stem,
            kind=f"torch state dict ({card.constructor})",
            source=str(path),
            env=name,
            env_config=config,
            agents={agent: view},
        )
    ]


# ---------------------------------------------------------------------- rollout
@dataclass(frozen=True)
class Column:
    """One ground-truth feature column the probes target."""

    name: str
    kind: str
    """``"continuous"`` or ``"categorical"``."""
    values: np.ndarray
    description: str = ""


@dataclass(frozen=True, eq=False)
class Inputs:
    """What the rollout recorded for one agent (rows aligned)."""

    obs: np.ndarray
    """``[n, obs_dim]`` float32: the agent's observations."""
    value_obs: np.ndarray | None
    """``[n, joint_dim]``: every agent's observation (centralized critics), or None."""
    columns: tuple[Column, ...]
    """The env's declared probe features at those steps, one column each."""
    actions: np.ndarray
    """``[n, ...]``: the actions the agent took there (messages for speakers)."""
    meanings: np.ndarray | None
    """``[n, k]``: what messages talk about (``StepInfo.meaning``), or None."""
    policy: str
    """How the agent acted: the model's greedy policy, or uniform random."""


def _random_actions(space: Any, n: int, gen: torch.Generator) -> torch.Tensor:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        start = int(space.start)
        return torch.randint(start, start + int(space.n), (n,), generator=gen)
    if isinstance(space, spaces.MultiDiscrete):
        cols = [
            torch.randint(0, int(k), (n,), generator=gen) for k in space.nvec.ravel()
        ]
        return torch.stack(cols, 1).reshape(n, *space.shape)
    if isinstance(space, spaces.Box):
        low = torch.as_tensor(np.maximum(space.low, -1.0), dtype=torch.float32)
        high = torch.as_tensor(np.minimum(space.high, 1.0), dtype=torch.float32)
        u = torch.rand((n, *space.shape), generator=gen)
        return low + u * (high - low)
    raise ValueError(f"cannot sample random actions of {space}")


def _columns(specs: Sequence[Any], values: dict[str, np.ndarray]) -> list[Column]:
    out = []
    for spec in specs:
        array = values[spec.name].reshape(len(values[spec.name]), -1)
        for j in range(array.shape[1]):
            name = spec.name if array.shape[1] == 1 else f"{spec.name}[{j}]"
            out.append(Column(name, spec.kind, array[:, j], spec.description))
    return out


def collect_inputs(
    model: LoadedModel,
    *,
    samples: int,
    num_envs: int = 64,
    burn_in: int = 50,
    record_prob: float = 0.25,
    seed: int = 0,
) -> dict[str, Inputs]:
    """Play ``model``'s env and record, for each of its agents, ``samples``
    observations where that agent acts, with the env's probe features there.

    Agents of the env that the model has no network for (or that cannot act) take
    uniform random actions. Raises ``ValueError`` when the env declares no probe
    features for an agent, or when an agent is active too rarely to collect
    ``samples`` inputs.
    """
    core = _make_core(model.env, model.env_config, num_envs, seed)
    targets = list(model.agents)
    specs = {}
    for agent in targets:
        specs[agent] = tuple(core.probe_feature_specs(agent))
        if not specs[agent]:
            raise ValueError(
                f"{model.label}: env {model.env} declares no probe features for "
                f"{agent} (probe_feature_specs is empty): nothing to probe against"
            )
    gen = torch.Generator().manual_seed(seed)
    need_value_obs = any(v.needs_value_obs for v in model.agents.values())
    buffers: dict[str, dict[str, list]] = {a: {} for a in targets}
    counts = dict.fromkeys(targets, 0)
    per_step = max(num_envs * record_prob * 0.5, 1e-3)
    max_steps = burn_in + max(200, int(math.ceil(20 * samples / per_step)))
    obs, info = core.reset(seed=seed)
    for step in range(max_steps):
        joint = None
        if need_value_obs:
            joint = torch.cat([obs[a].flatten(1) for a in core.possible_agents], 1)
        actions = {}
        for agent in core.possible_agents:
            view = model.agents.get(agent)
            if view is not None and view.act is not None:
                actions[agent] = view.act(obs[agent], joint)
            else:
                space = core.action_space(agent)
                actions[agent] = _random_actions(space, num_envs, gen)
        masks = {}
        if step >= burn_in:
            draw = torch.rand(num_envs, generator=gen) < record_prob
            for agent in targets:
                mask = info.active[agent] & draw
                if not bool(mask.any()):
                    continue
                masks[agent] = mask
                record = {
                    "obs": obs[agent][mask],
                    "actions": actions[agent][mask],
                    **{
                        f"f:{k}": v[mask] for k, v in core.probe_features(agent).items()
                    },
                }
                if joint is not None:
                    record["value_obs"] = joint[mask]
                for key, value in record.items():
                    buffers[agent].setdefault(key, []).append(value.detach().cpu())
                counts[agent] += int(mask.sum())
        obs, _, _, _, info = core.step(actions)
        # What a message talks about is the meaning of the episode the step
        # belonged to: the step's own info (before any auto-reset), as the
        # trainers' evaluation pairs them.
        if info.meaning is not None:
            for agent, mask in masks.items():
                meaning = info.meaning[mask].detach().cpu()
                buffers[agent].setdefault("meanings", []).append(meaning)
        if step >= burn_in and min(counts.values()) >= samples:
            break
    short = {a: c for a, c in counts.items() if c < samples}
    if short:
        raise ValueError(
            f"{model.label}: after {max_steps} steps of {model.env} only {short} "
            f"inputs were recorded (wanted {samples}); the agent is rarely active"
        )
    return {
        agent: _inputs(buffers[agent], specs[agent], samples, model.agents[agent])
        for agent in targets
    }


def _inputs(buffer: dict, specs: Sequence[Any], n: int, view: AgentView) -> Inputs:
    def take(key: str) -> np.ndarray | None:
        if key not in buffer:
            return None
        return torch.cat(buffer[key])[:n].numpy()

    obs = take("obs").reshape(n, -1).astype(np.float32)
    values = {s.name: take(f"f:{s.name}") for s in specs}
    policy = "the model's greedy policy" if view.act is not None else "uniform random"
    meanings = take("meanings")
    return Inputs(
        obs=obs,
        value_obs=take("value_obs"),
        columns=tuple(_columns(specs, values)),
        actions=take("actions"),
        meanings=None if meanings is None else meanings.reshape(n, -1),
        policy=policy,
    )


# ---------------------------------------------------------------------- probes
@dataclass(frozen=True)
class ProbeRow:
    """One (model, agent, layer, feature) result; a row of ``probe.csv``."""

    model: str
    agent: str
    layer: str
    depth: int
    """Position of the layer in the network's module order (0 = the input)."""
    units: int
    feature: str
    kind: str
    metric: str
    """``"accuracy"`` (categorical) or ``"r2"`` (continuous) of ``decodability``."""
    decodability: float
    decodability_shuffle: float
    """The same probe on shuffled features (mean over ``shuffles``)."""
    majority_baseline: float
    """Accuracy of the training split's majority class on the held-out split
    (categorical; NaN for continuous features, whose constant baseline has R² 0)."""
    variance_explained: float
    variance_explained_shuffle: float
    n_samples: int


def _probe_columns(
    rep: np.ndarray,
    columns: Sequence[Column],
    *,
    seed: int,
    shuffles: int,
    test_fraction: float,
) -> list[tuple[float, float, float, float, float]]:
    """(dec, dec_shuffle, majority, ve, ve_shuffle) for each column."""
    from sklearn.model_selection import train_test_split

    from analysis.representation import decodability, variance_explained

    n = rep.shape[0]
    train, test = train_test_split(
        np.arange(n), test_size=test_fraction, random_state=seed
    )
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(n) for _ in range(shuffles)]
    results: list[tuple[float, float, float, float, float] | None] = [None] * len(
        columns
    )
    for kind in ("continuous", "categorical"):
        idx = [i for i, c in enumerate(columns) if c.kind == kind]
        if not idx:
            continue
        feats = np.stack([columns[i].values for i in idx], 1).astype(np.float64)
        categorical = kind == "categorical"
        probe_kind = "classification" if categorical else "regression"
        options = {"seed": seed, "test_fraction": test_fraction}
        dec = decodability(rep, feats, kind=probe_kind, **options)
        ve = variance_explained(rep, feats, categorical=categorical, **options)
        dec_s = np.mean(
            [decodability(rep, feats[p], kind=probe_kind, **options) for p in perms], 0
        )
        ve_s = np.mean(
            [
                variance_explained(rep, feats[p], categorical=categorical, **options)
                for p in perms
            ],
            0,
        )
        for j, i in enumerate(idx):
            majority = math.nan
            if categorical:
                values, counts = np.unique(feats[train, j], return_counts=True)
                majority = float(np.mean(feats[test, j] == values[counts.argmax()]))
            results[i] = (
                float(dec[j]),
                float(dec_s[j]),
                majority,
                float(ve[j]),
                float(ve_s[j]),
            )
    return results  # type: ignore[return-value]


def _layer_reps(
    model: LoadedModel, agent: str, inputs: Inputs, patterns: Sequence[str]
) -> dict[str, np.ndarray]:
    view = model.agents[agent]
    try:
        layers = view.layers(inputs.obs, inputs.value_obs)
    except (RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(
            f"{model.label} ({agent}): its forward pass fails on {model.env} "
            f"observations: {first}"
        ) from err
    if not layers:
        raise ValueError(
            f"{model.label} ({agent}): none of its layers produced a tensor for "
            f"{model.env} observations (nothing to probe)"
        )
    kept = {
        name: rep
        for name, rep in layers.items()
        if any(fnmatch.fnmatchcase(name, p) for p in patterns)
    }
    return {INPUT_LAYER: inputs.obs.astype(np.float64), **kept}


@dataclass(frozen=True)
class SymbolResult:
    """The symbol report of one agent that emits messages."""

    model: str
    agent: str
    vocab_size: int
    message_length: int
    symbol_counts: tuple[int, ...]
    """Occurrences of each symbol id over all positions."""
    message_counts: tuple[int, ...]
    """Occurrences of each distinct message, in descending order."""
    report: Any
    """:func:`analysis.language.message_report` of (messages, meanings), or None
    when the env reports no meanings."""
    power_law: Any
    """:func:`analysis.symbols.power_law_fit` of ``message_counts``, or None."""
    power_law_note: str = ""
    """Why there is no fit (e.g. fewer than 2 distinct frequencies)."""

    def fields(self) -> dict[str, Any]:
        """Flat name → scalar mapping (for the CSV and the side-by-side table)."""
        out: dict[str, Any] = {
            "model": self.model,
            "agent": self.agent,
            "vocab_size": self.vocab_size,
            "message_length": self.message_length,
            "symbols_used": int(np.count_nonzero(self.symbol_counts)),
            "symbol_counts": " ".join(map(str, self.symbol_counts)),
            "top_message_counts": " ".join(map(str, self.message_counts[:10])),
        }
        if self.report is not None:
            out.update(_flat_record(self.report))
        if self.power_law is not None:
            out.update(_flat_record(self.power_law, prefix="power_law_"))
        else:
            out["power_law_note"] = self.power_law_note
        return out


def _flat_record(record: Any, prefix: str = "") -> dict[str, Any]:
    """A frozen result record as flat scalars: tuples and dicts get indexed names."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        key = prefix + f.name
        if isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(v, tuple | list):
                    for i, item in enumerate(v):
                        out[f"{key}/{k}/{i}"] = item
                else:
                    out[f"{key}/{k}"] = v
        elif isinstance(value, tuple | list):
            for i, item in enumerate(value):
                out[f"{key}/{i}"] = item
        else:
            out[key] = value
    return out


def _symbol_result(
    model: LoadedModel, agent: str, inputs: Inputs, args: Args
) -> SymbolResult:
    from gymnasium import spaces

    from analysis.language import message_report
    from analysis.symbols import power_law_fit, symbol_counts

    core = _make_core(model.env, model.env_config)
    space = core.action_space(agent)
    vocab = (
        int(space.n) if isinstance(space, spaces.Discrete) else int(space.nvec.max())
    )
    messages = inputs.actions.reshape(len(inputs.actions), -1).astype(np.int64)
    by_symbol = symbol_counts(messages, vocab_size=vocab)
    by_message = symbol_counts(messages, unit="message")
    report = None
    if inputs.meanings is not None:
        report = message_report(
            messages, inputs.meanings, vocab_size=vocab, seed=args.seed
        )
    fit, note = None, ""
    try:
        # The verdict needs the lognormal and exponential comparisons; the
        # truncated power law (a slow numerical fit) adds nothing to it.
        fit = power_law_fit(
            by_message,
            alternatives=("lognormal", "exponential"),
            gof_bootstrap=args.power_law_bootstrap,
            seed=args.seed,
        )
    except ValueError as err:
        note = f"not fitted: {err}"
    return SymbolResult(
        model=model.label,
        agent=agent,
        vocab_size=vocab,
        message_length=messages.shape[1],
        symbol_counts=tuple(int(c) for c in by_symbol),
        message_counts=tuple(int(c) for c in by_message),
        report=report,
        power_law=fit,
        power_law_note=note,
    )


@dataclass(frozen=True, eq=False)
class ModelProbe:
    """Everything the probe measured on one model."""

    model: LoadedModel
    rows: tuple[ProbeRow, ...]
    symbols: tuple[SymbolResult, ...]
    policies: dict[str, str]
    """Per probed agent, how the rollout's agents acted."""


def probe_model(model: LoadedModel, args: Args) -> ModelProbe:
    """Roll out ``model``'s env, probe every layer of every agent, report symbols."""
    inputs = collect_inputs(
        model,
        samples=args.samples,
        num_envs=args.num_envs,
        burn_in=args.burn_in,
        record_prob=args.record_prob,
        seed=args.seed,
    )
    core = _make_core(model.env, model.env_config)
    message_agents = set(core.message_agents)
    rows: list[ProbeRow] = []
    symbols: list[SymbolResult] = []
    reps_of = {
        a: _layer_reps(model, a, data, args.layers) for a, data in inputs.items()
    }
    if all(len(reps) == 1 for reps in reps_of.values()):
        raise ValueError(
            f"{model.label}: --layers {list(args.layers)} match none of its layers"
        )
    for agent, data in inputs.items():
        reps = reps_of[agent]
        for depth, (layer, rep) in enumerate(reps.items()):
            scores = _probe_columns(
                rep,
                data.columns,
                seed=args.seed,
                shuffles=args.shuffles,
                test_fraction=args.test_fraction,
            )
            for column, (dec, dec_s, major, ve, ve_s) in zip(data.columns, scores):
                rows.append(
                    ProbeRow(
                        model=model.label,
                        agent=agent,
                        layer=layer,
                        depth=depth,
                        units=int(rep.shape[1]),
                        feature=column.name,
                        kind=column.kind,
                        metric="accuracy" if column.kind == "categorical" else "r2",
                        decodability=dec,
                        decodability_shuffle=dec_s,
                        majority_baseline=major,
                        variance_explained=ve,
                        variance_explained_shuffle=ve_s,
                        n_samples=int(rep.shape[0]),
                    )
                )
        if agent in message_agents:
            symbols.append(_symbol_result(model, agent, data, args))
    policies = {}
    for agent in inputs:
        others = [a for a in core.possible_agents if a != agent]
        text = inputs[agent].policy
        random_others = [
            a for a in others if a not in model.agents or model.agents[a].act is None
        ]
        if random_others:
            text += f"; {', '.join(random_others)} uniform random"
        policies[agent] = text
    return ModelProbe(model, tuple(rows), tuple(symbols), policies)


# ---------------------------------------------------------------------- outputs
def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "–"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def _units(probes: Sequence[ModelProbe]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.model, r.agent) for p in probes for r in p.rows))


def _markdown(probes: Sequence[ModelProbe], args: Args, command: str) -> str:
    lines = [
        "# Probe report",
        "",
        f"{time.strftime('%Y-%m-%d')}, `{command}`. {args.samples} inputs per agent "
        f"from {args.num_envs} envs (burn-in {args.burn_in} steps, each active step "
        f"recorded with probability {args.record_prob}); probes held out "
        f"{args.test_fraction:.0%} (seed {args.seed}); shuffle baseline over "
        f"{args.shuffles} shuffles.",
        "",
        "Decodability is held-out accuracy (categorical features, logistic probe) or "
        "held-out R² (continuous features, ridge probe); variance explained (VE) is "
        "the held-out share of the layer's variance a linear map from the feature "
        "accounts for (Lampinen et al. 2024). Layer `input` is the raw observation. "
        "The shuffle baseline is the same probe trained on shuffled features (a "
        "significance baseline, not subtracted).",
        "",
        "## Models",
        "",
        "| model | kind | env | env config | agents (inputs from) |",
        "|---|---|---|---|---|",
    ]
    for p in probes:
        m = p.model
        who = "; ".join(f"{a}: {t}" for a, t in p.policies.items())
        lines.append(
            f"| {m.label} | {m.kind} | {m.env} | "
            f"`{json.dumps(m.env_config, sort_keys=True)}` | {who} |"
        )
    if any("rllib" in p.model.kind.lower() for p in probes):
        lines += ["", f"Note: {TRUST_NOTE}."]
    lines += ["", *_comparison(probes), ""]
    for p in probes:
        for agent in p.policies:
            lines += _unit_table(p, agent)
    symbols = [s for p in probes for s in p.symbols]
    if symbols:
        lines += _symbol_tables(symbols)
    if args.figures:
        lines += [
            "## Figures",
            "",
            "![decodability](probe_decodability.png)",
            "",
            "![variance explained](probe_variance.png)",
            "",
        ]
    return "\n".join(lines)


def _comparison(probes: Sequence[ModelProbe]) -> list[str]:
    rows = [r for p in probes for r in p.rows]
    lines = [
        "## Side by side: each feature's best layer",
        "",
        "| feature | model | agent | input | best layer | decodability | shuffle "
        "| majority | VE there |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for feature in dict.fromkeys(r.feature for r in rows):
        for model, agent in _units(probes):
            sel = [
                r
                for r in rows
                if r.feature == feature and r.model == model and r.agent == agent
            ]
            if not sel:
                continue
            layers = [r for r in sel if r.layer != INPUT_LAYER]
            inp = next(r for r in sel if r.layer == INPUT_LAYER)
            best = max(layers or sel, key=lambda r: r.decodability)
            lines.append(
                f"| {feature} | {model} | {agent} | {_fmt(inp.decodability)} | "
                f"{best.layer} | {_fmt(best.decodability)} | "
                f"{_fmt(best.decodability_shuffle)} | {_fmt(best.majority_baseline)} "
                f"| {_fmt(best.variance_explained)} |"
            )
    return lines


def _unit_table(probe: ModelProbe, agent: str) -> list[str]:
    rows = [r for r in probe.rows if r.agent == agent]
    features = list(dict.fromkeys(r.feature for r in rows))
    layers = list(dict.fromkeys(r.layer for r in rows))
    cell = {(r.layer, r.feature): r for r in rows}
    lines = [
        f"## {probe.model.label} · {agent}",
        "",
        "Decodability / variance explained per layer (shuffle baselines in probe.csv).",
        "",
        "| layer | units | " + " | ".join(features) + " |",
        "|---|---|" + "---|" * len(features),
    ]
    for layer in layers:
        first = cell[(layer, features[0])]
        values = [
            f"{_fmt(cell[(layer, f)].decodability, 2)} / "
            f"{_fmt(cell[(layer, f)].variance_explained, 2)}"
            for f in features
        ]
        lines.append(f"| {layer} | {first.units} | " + " | ".join(values) + " |")
    return [*lines, ""]


def _symbol_tables(symbols: Sequence[SymbolResult]) -> list[str]:
    flats = [s.fields() for s in symbols]
    keys = list(
        dict.fromkeys(k for f in flats for k in f if k not in ("model", "agent"))
    )
    header = [f"{s.model} · {s.agent}" for s in symbols]
    lines = [
        "## Symbols",
        "",
        "Messages the agents sent in the rollout: counts, "
        "`analysis.language.message_report` (information in bits, compositionality "
        "with chance floors) and `analysis.symbols.power_law_fit` of the message "
        "frequencies (with the Clauset–Shalizi–Newman goodness of fit `gof_p`).",
        "",
        "| | " + " | ".join(header) + " |",
        "|---|" + "---|" * len(header),
    ]
    for key in keys:
        values = [_fmt(f.get(key, "")) for f in flats]
        lines.append(f"| {key} | " + " | ".join(values) + " |")
    return [*lines, ""]


def _csv(records: Sequence[Mapping[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in records for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def _figures(probes: Sequence[ModelProbe]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = _units(probes)
    rows = [r for p in probes for r in p.rows]
    out = {}
    for metric, name in (
        ("decodability", "probe_decodability.png"),
        ("variance_explained", "probe_variance.png"),
    ):
        grids = []
        for model, agent in units:
            sel = [r for r in rows if r.model == model and r.agent == agent]
            layers = list(dict.fromkeys(r.layer for r in sel))
            feats = list(dict.fromkeys(r.feature for r in sel))
            grid = np.full((len(layers), len(feats)), np.nan)
            for r in sel:
                grid[layers.index(r.layer), feats.index(r.feature)] = getattr(r, metric)
            grids.append((f"{model}\n{agent}", layers, feats, grid))
        height = max(len(g[1]) for g in grids) * 0.3 + 2.0
        width = sum(max(1.6, 0.45 * len(g[2]) + 1.4) for g in grids) + 1.0
        fig, axes = plt.subplots(
            1, len(grids), figsize=(width, height), squeeze=False, layout="constrained"
        )
        image = None
        for ax, (title, layers, feats, grid) in zip(axes[0], grids):
            image = ax.imshow(
                np.clip(grid, 0.0, 1.0),
                vmin=0.0,
                vmax=1.0,
                cmap="viridis",
                aspect="auto",
            )
            ax.set_title(title, fontsize=8)
            ax.set_yticks(range(len(layers)), layers, fontsize=6)
            ax.set_xticks(range(len(feats)), feats, fontsize=6, rotation=60, ha="right")
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label=metric)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        out[name] = buffer.getvalue()
    return out


def write_outputs(
    probes: Sequence[ModelProbe], args: Args, *, command: str | None = None
) -> list[Path]:
    """Write the report, CSVs and figures into ``args.out``; returns the paths."""
    out = Path(args.out)
    command = command or " ".join([PROG, *map(shlex.quote, args.models)])
    files: dict[str, bytes] = {
        "probe.md": _markdown(probes, args, command).encode(),
        "probe.csv": _csv(
            [dataclasses.asdict(r) for p in probes for r in p.rows]
        ).encode(),
    }
    symbols = [s.fields() for p in probes for s in p.symbols]
    if symbols:
        files["symbols.csv"] = _csv(symbols).encode()
    if args.figures:
        files.update(_figures(probes))
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    return [out / name for name in files]


# ---------------------------------------------------------------------- main
def run(args: Args) -> list[ModelProbe]:
    """Load and probe every model of ``args`` (nothing is written).

    Raises ``ValueError`` with one line naming the model on bad input.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    if not args.models:
        raise ValueError("name at least one MODEL to probe")
    ray_before = _ray_running()
    try:
        models = [m for path in args.models for m in load_models(path, args)]
        _unique_labels(models)
        return [probe_model(m, args) for m in models]
    finally:
        torch.set_num_threads(previous)
        if not ray_before and _ray_running():
            import ray

            ray.shutdown()


def _ray_running() -> bool:
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def _unique_labels(models: list[LoadedModel]) -> None:
    seen: dict[str, int] = {}
    for i, m in enumerate(models):
        count = seen.get(m.label, 0)
        seen[m.label] = count + 1
        if count:
            models[i] = dataclasses.replace(m, label=f"{m.label}#{count + 1}")


def main(argv: list[str] | None = None) -> list[ModelProbe]:
    """Probe the models named on the command line; write the report."""
    args = parse_args(argv)
    try:
        probes = run(args)
    except (TypeError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    command = " ".join(
        [PROG, *map(shlex.quote, sys.argv[1:] if argv is None else argv)]
    )
    paths = write_outputs(probes, args, command=command)
    print(f"{PROG}: wrote {', '.join(str(p) for p in paths)}")
    return probes


if __name__ == "__main__":
    main()
