"""Adapters that pull activations and symbols out of any model.

This is the one place in ``analysis`` that knows about model kinds. Everything it
returns is plain numpy, so the rest of ``analysis`` stays framework free.

Conventions
-----------
- Inputs are batches: the first axis of every input is the sample axis ``n``.
- Activations come back as ``dict[str, np.ndarray]`` keyed by the module's name in
  ``model.named_modules()`` (see :func:`layer_names`), each flattened to
  ``[n, features]`` float64 (a layer with a tuple output reports its first tensor).
- Inputs are fed in batches of ``batch_size`` under ``torch.no_grad()``; the model
  is put in eval mode for the pass and its train/eval mode is restored afterwards.
- Frameworks (stable-baselines3, RLlib) are imported lazily, only by the adapter
  that needs them.

Adapters
--------
- :func:`activations` : any ``torch.nn.Module`` (forward hooks).
- :func:`sb3_activations` : a stable-baselines3 model or its policy.
- :func:`rllib_activations` : an RLlib new-API-stack ``TorchRLModule`` (or the path
  of a checkpoint that ``RLModule.from_checkpoint`` loads).
- :func:`agent_representations` : our AIM agents, through a duck-typed protocol
  (``encode(obs)`` and a call returning a record with ``.tokens``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.validation import check_positive_int

__all__ = [
    "AgentRepresentations",
    "activations",
    "agent_representations",
    "check_inputs",
    "check_module",
    "layer_names",
    "rllib_activations",
    "sb3_activations",
]


def check_module(model: Any) -> nn.Module:
    """Return ``model`` if it is a ``torch.nn.Module``, else raise ``ValueError``."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_inputs(inputs: Any, *, name: str = "inputs") -> torch.Tensor:
    """Convert a batch to a float tensor, raising ``ValueError`` on bad input.

    The batch must have at least one axis, at least one sample and no NaN.
    Integer and boolean inputs become float32, as do float64 ones.
    """
    if isinstance(inputs, torch.Tensor):
        tensor = inputs.detach()
    else:
        try:
            tensor = torch.as_tensor(np.asarray(inputs))
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{name} must be array-like, got {type(inputs)}"
            ) from error
    if tensor.ndim == 0:
        raise ValueError(f"{name} must have a sample axis, got shape ()")
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(tensor.shape)}")
    if not torch.is_floating_point(tensor) or tensor.dtype == torch.float64:
        tensor = tensor.to(torch.float32)
    if torch.isnan(tensor).any():
        raise ValueError(f"{name} contains NaN (shape {tuple(tensor.shape)})")
    return tensor


def _check_batch_size(batch_size: int) -> int:
    return check_positive_int(batch_size, "batch_size")


def layer_names(model: nn.Module, *, leaves_only: bool = True) -> list[str]:
    """Names of the modules of ``model`` that :func:`activations` can hook.

    Parameters
    ----------
    model : torch.nn.Module
        Any module.
    leaves_only : bool, default True
        Only modules without children (``Linear``, ``ReLU``, ...). With False, every
        named submodule except the root.

    Returns
    -------
    list of str
        Names in ``model.named_modules()`` order.

    Examples
    --------
    >>> from torch import nn
    >>> layer_names(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)))
    ['0', '1', '2']
    """
    check_module(model)
    names = []
    for name, module in model.named_modules():
        if name == "":
            continue
        if leaves_only and next(iter(module.children()), None) is not None:
            continue
        names.append(name)
    return names


def _first_tensor(output: Any) -> torch.Tensor | None:
    """The activation a hook records: the output tensor, or the first one inside."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(output, Mapping):
        for item in output.values():
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _resolve_layers(model: nn.Module, layers: Iterable[str] | None) -> list[str]:
    if layers is None:
        return layer_names(model)
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    known = dict(model.named_modules())
    unknown = [name for name in layers if name not in known or name == ""]
    if unknown:
        raise ValueError(
            f"unknown layer name(s) {unknown}; valid names are "
            f"{layer_names(model, leaves_only=False)}"
        )
    if not layers:
        raise ValueError("layers is empty: name at least one layer")
    return layers


def _run_hooked(
    model: nn.Module,
    inputs: Any,
    forward: Callable[[nn.Module, Any], Any],
    layers: list[str],
    batch_size: int,
    *,
    slice_batch: Callable[[Any, slice], Any],
    n: int,
    required: bool,
) -> dict[str, np.ndarray]:
    """Forward ``inputs`` in batches with hooks on ``layers``; restore the mode."""
    modules = dict(model.named_modules())
    store: dict[str, list[np.ndarray]] = {name: [] for name in layers}

    def make_hook(name: str):
        def hook(_module, _args, output):
            tensor = _first_tensor(output)
            if tensor is not None:
                flat = tensor.detach().reshape(tensor.shape[0], -1)
                store[name].append(flat.to(torch.float64).cpu().numpy())

        return hook

    handles = [modules[name].register_forward_hook(make_hook(name)) for name in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                forward(model, slice_batch(inputs, slice(start, start + batch_size)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    result = {}
    for name in layers:
        chunks = store[name]
        rows = sum(chunk.shape[0] for chunk in chunks)
        if not chunks or rows != n:
            # A layer the forward pass never reached (e.g. a value head during
            # inference) or one called more than once per batch.
            if required:
                raise ValueError(
                    f"layer {name!r} produced {rows} rows for {n} inputs; it is not "
                    "called exactly once per sample by this forward pass"
                )
            continue
        result[name] = np.concatenate(chunks, axis=0)
    return result


def _default_forward(model: nn.Module, batch: Any) -> Any:
    return model(batch)


def activations(
    model: nn.Module,
    inputs: Any,
    *,
    layers: Iterable[str] | None = None,
    batch_size: int = 4096,
    forward: Callable[[nn.Module, torch.Tensor], Any] | None = None,
) -> dict[str, np.ndarray]:
    """Activations of the named layers of any ``nn.Module`` for a batch of inputs.

    Parameters
    ----------
    model : torch.nn.Module
        The model; its train/eval mode is restored afterwards.
    inputs : array-like or torch.Tensor, shape (n, ...)
        The batch (numpy arrays become float32 tensors on the model's device).
    layers : iterable of str, optional
        Names from :func:`layer_names` (any name in ``model.named_modules()`` is
        accepted). Default: every leaf module that the forward pass calls once per
        sample (leaves it never reaches are left out; named layers must be reached).
    batch_size : int, default 4096
        Samples per forward pass.
    forward : callable, optional
        ``forward(model, batch)`` runs one batch; default ``model(batch)``.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{name: array of shape (n, features)}``, float64.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    >>> acts = activations(net, torch.zeros(10, 3), layers=["1"])
    >>> acts["1"].shape
    (10, 4)
    """
    check_module(model)
    batch_size = _check_batch_size(batch_size)
    tensor = check_inputs(inputs)
    required = layers is not None
    names = _resolve_layers(model, layers)
    device = _device_of(model)
    return _run_hooked(
        model,
        tensor,
        forward or _default_forward,
        names,
        batch_size,
        slice_batch=lambda t, s: t[s].to(device),
        n=tensor.shape[0],
        required=required,
    )


def _device_of(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def sb3_activations(
    model_or_policy: Any,
    obs: Any,
    *,
    layers: Iterable[str] | None = None,
    batch_size: int = 4096,
) -> dict[str, np.ndarray]:
    """Activations of a stable-baselines3 policy (features extractor, MLP extractor).

    Parameters
    ----------
    model_or_policy : stable_baselines3 model or ``BasePolicy``
        An SB3 algorithm object (its ``.policy`` is used) or a policy module.
    obs : array-like, shape (n, *observation_shape)
        Observations as the environment returns them.
    layers : iterable of str, optional
        Names from ``layer_names(policy)``, e.g. ``"mlp_extractor.policy_net.1"``.
        Default: every leaf of ``features_extractor``, ``mlp_extractor``,
        ``action_net`` and ``value_net`` that the policy's forward pass reaches.
    batch_size : int, default 4096
        Samples per forward pass.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{name: (n, features)}``.

    Examples
    --------
    >>> import numpy as np
    >>> from stable_baselines3 import PPO
    >>> model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu")
    >>> acts = sb3_activations(model, np.zeros((5, 4), dtype=np.float32))
    >>> acts["mlp_extractor.policy_net.1"].shape
    (5, 64)
    """
    policy = getattr(model_or_policy, "policy", model_or_policy)
    check_module(policy)
    if not hasattr(policy, "obs_to_tensor"):
        raise ValueError(
            f"expected a stable-baselines3 model or policy, got {type(policy).__name__}"
        )
    batch_size = _check_batch_size(batch_size)
    obs_array = np.asarray(obs)
    if obs_array.ndim == 0 or obs_array.shape[0] == 0:
        raise ValueError(f"obs is empty or has no sample axis: shape {obs_array.shape}")
    if np.issubdtype(obs_array.dtype, np.floating) and np.isnan(obs_array).any():
        raise ValueError(f"obs contains NaN (shape {obs_array.shape})")
    required = layers is not None
    if layers is None:
        prefixes = ("features_extractor", "mlp_extractor", "action_net", "value_net")
        layers = [name for name in layer_names(policy) if name.startswith(prefixes)]
    names = _resolve_layers(policy, layers)

    def forward(module: nn.Module, batch: np.ndarray) -> Any:
        tensor, _ = module.obs_to_tensor(batch)
        return module(tensor, deterministic=True)

    return _run_hooked(
        policy,
        obs_array,
        forward,
        names,
        batch_size,
        slice_batch=lambda a, s: a[s],
        n=obs_array.shape[0],
        required=required,
    )


def _load_rllib_module(module_or_path: Any) -> nn.Module:
    if isinstance(module_or_path, str | Path):
        try:
            from ray.rllib.core.rl_module.rl_module import RLModule
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError(
                "loading an RLlib checkpoint needs ray[rllib]: "
                'pip install "aim-suite[rllib]"'
            ) from error
        path = Path(module_or_path)
        if not path.exists():
            raise ValueError(f"RLModule checkpoint path does not exist: {path}")
        return RLModule.from_checkpoint(str(path))
    return module_or_path


def rllib_activations(
    module_or_path: Any,
    obs: Any,
    *,
    layers: Iterable[str] | None = None,
    batch_size: int = 4096,
    obs_key: str = "obs",
) -> dict[str, np.ndarray]:
    """Activations of an RLlib new-API-stack ``TorchRLModule``.

    The batch ``{obs_key: tensor}`` goes through ``forward_inference``, so heads
    used only in training (a value function) are not reached and are left out of
    the default layer set.

    Parameters
    ----------
    module_or_path : TorchRLModule or str or pathlib.Path
        A built module (it is an ``nn.Module``) or a checkpoint directory that
        ``RLModule.from_checkpoint`` loads.
    obs : array-like, shape (n, *observation_shape)
        Observations.
    layers : iterable of str, optional
        Names from ``layer_names(module)``, e.g. ``"encoder.encoder.net.mlp.1"``.
        Default: every leaf module reached by ``forward_inference``.
    batch_size : int, default 4096
        Samples per forward pass.
    obs_key : str, default "obs"
        Key of the observations in the input batch.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{name: (n, features)}``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> class Tiny(nn.Module):  # stands in for a TorchRLModule
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.pi = nn.Linear(4, 2)
    ...     def forward_inference(self, batch):
    ...         return {"action_dist_inputs": self.pi(batch["obs"])}
    >>> rllib_activations(Tiny(), torch.zeros(3, 4))["pi"].shape
    (3, 2)
    """
    module = check_module(_load_rllib_module(module_or_path))
    if not hasattr(module, "forward_inference"):
        raise ValueError(
            f"expected an RLlib RLModule with forward_inference, got "
            f"{type(module).__name__}"
        )

    def forward(model: nn.Module, batch: torch.Tensor) -> Any:
        return model.forward_inference({obs_key: batch})

    return activations(
        module, obs, layers=layers, batch_size=batch_size, forward=forward
    )


@dataclass(frozen=True, eq=False)
class AgentRepresentations:
    """What :func:`agent_representations` pulls out of an agent.

    Attributes
    ----------
    encoding : numpy.ndarray, shape (n, d)
        The encoder output ``z_e`` (flattened), float64.
    tokens : numpy.ndarray or None, shape (n, L)
        The message tokens (int64), or None when ``speak=False``.
    layers : dict of str to numpy.ndarray
        Hooked activations of the named layers during ``encode`` (empty unless
        ``layers`` was given).
    """

    encoding: np.ndarray
    tokens: np.ndarray | None
    layers: dict[str, np.ndarray]


def agent_representations(
    agent: Any,
    obs: Any,
    *,
    layers: Iterable[str] | None = None,
    speak: bool | Callable[[Any, torch.Tensor], Any] = True,
    batch_size: int = 4096,
) -> AgentRepresentations:
    """Encoder output, message tokens and layer activations of an AIM agent.

    The agent is duck typed; the protocol (to be re-checked against
    ``agents/networks.py``) is:

    - ``agent.encode(obs: Tensor[n, ...]) -> Tensor[n, ...]``: the encoder output
      ``z_e`` before the channel;
    - ``agent(obs)`` (called with ``deterministic=True`` when its ``forward``
      takes that argument), or the ``speak`` callable ``speak(agent, obs)``,
      returns a record with a ``.tokens`` tensor ``[n, L]`` (a channel record) or,
      failing that, an ``.action`` tensor ``[n]`` / ``[n, L]`` (the
      ``AgentOutput`` of ``agents.networks.Speaker``).

    Parameters
    ----------
    agent : torch.nn.Module
        The speaker (any module following the protocol).
    obs : array-like, shape (n, ...)
        Observations.
    layers : iterable of str, optional
        Submodule names whose activations to record during ``encode``.
    speak : bool or callable, default True
        True calls ``agent(obs)`` for the tokens; False skips the tokens; a callable
        ``speak(agent, obs)`` replaces the call.
    batch_size : int, default 4096
        Samples per forward pass.

    Returns
    -------
    AgentRepresentations

    Examples
    --------
    >>> import torch
    >>> from types import SimpleNamespace
    >>> from torch import nn
    >>> class Speaker(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.encoder = nn.Linear(4, 3)
    ...     def encode(self, obs):
    ...         return self.encoder(obs)
    ...     def forward(self, obs):
    ...         z = self.encode(obs)
    ...         return SimpleNamespace(tokens=z.argmax(-1, keepdim=True))
    >>> rep = agent_representations(Speaker(), torch.zeros(6, 4))
    >>> rep.encoding.shape, rep.tokens.shape
    ((6, 3), (6, 1))
    """
    check_module(agent)
    if not callable(getattr(agent, "encode", None)):
        raise ValueError(
            f"agent {type(agent).__name__} has no encode(obs) method; see the "
            "protocol in agent_representations' docstring"
        )
    batch_size = _check_batch_size(batch_size)
    tensor = check_inputs(obs, name="obs")
    device = _device_of(agent)
    n = tensor.shape[0]
    hooked: dict[str, np.ndarray] = {}
    if layers is not None:
        hooked = activations(
            agent,
            tensor,
            layers=layers,
            batch_size=batch_size,
            forward=lambda module, batch: module.encode(batch),
        )
    encodings, tokens = [], []
    was_training = agent.training
    agent.eval()
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                batch = tensor[start : start + batch_size].to(device)
                z_e = agent.encode(batch)
                encodings.append(_as_rows(z_e, "encode(obs)", batch.shape[0]))
                if speak is False:
                    continue
                record = (
                    speak(agent, batch) if callable(speak) else _speak(agent, batch)
                )
                found = getattr(record, "tokens", getattr(record, "action", None))
                if found is None:
                    raise ValueError(
                        f"the agent's call returned {type(record).__name__} without "
                        "a .tokens (or .action) attribute"
                    )
                rows = _as_rows(found, ".tokens", batch.shape[0])
                tokens.append(rows.astype(np.int64))
    finally:
        agent.train(was_training)
    return AgentRepresentations(
        encoding=np.concatenate(encodings, axis=0),
        tokens=np.concatenate(tokens, axis=0) if tokens else None,
        layers=hooked,
    )


def _speak(agent: nn.Module, batch: torch.Tensor) -> Any:
    """``agent(batch)``, greedy (``deterministic=True``) when the call accepts it."""
    try:
        parameters = inspect.signature(agent.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signature
        parameters = {}
    if "deterministic" in parameters:
        return agent(batch, deterministic=True)
    return agent(batch)


def _as_rows(value: Any, what: str, n: int) -> np.ndarray:
    tensor = _first_tensor(value)
    if tensor is None or tensor.ndim == 0 or tensor.shape[0] != n:
        shape = None if tensor is None else tuple(tensor.shape)
        raise ValueError(f"{what} must return a tensor with {n} rows, got {shape}")
    return tensor.detach().reshape(n, -1).to(torch.float64).cpu().numpy()
