"""The AIM agents' networks: a speaker built around a message channel, and a plain
actor-critic for every other agent.

Every agent is an ``nn.Module`` with one interface::

    out = agent(obs, value_obs=None, action=None, deterministic=False)

returning an :class:`AgentOutput`: the action to send to the env, its log-probability
and entropy, the value estimate, and the channel's auxiliary losses (zeros for a
non-speaker). With ``action`` given, the agent evaluates that action instead of
sampling (the PPO update). ``value_obs`` feeds the value head when it differs from the
policy's input (a centralized critic).

Observations are flat vectors (attribute one-hots, 8x8 or 28x28 images flattened,
continuous states); the envs of :mod:`envs` all produce them.

>>> import torch
>>> from gymnasium import spaces
>>> speaker = Speaker(18, spaces.MultiDiscrete([16, 16]), channel="vq")
>>> out = speaker(torch.rand(5, 18))
>>> tuple(out.action.shape), tuple(out.log_prob.shape)
((5, 2), (5,))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Normal

from agents.channels import AuxLosses, make_channel

__all__ = [
    "ActorCritic",
    "AgentNet",
    "AgentOutput",
    "CandidateListener",
    "MessageWiring",
    "PolicyHead",
    "Speaker",
    "agent_groups",
    "build_agent",
    "build_agent_of",
    "build_agents",
    "layer_init",
    "message_wiring",
    "mlp",
    "zero_aux",
]


class AgentOutput(NamedTuple):
    """What an agent produced for one batch of observations."""

    action: torch.Tensor
    """The action in the env's format (tokens for a speaker)."""
    log_prob: torch.Tensor
    """``[N]`` log-probability of ``action``."""
    entropy: torch.Tensor
    """``[N]`` policy entropy."""
    value: torch.Tensor
    """``[N]`` value estimate."""
    aux: AuxLosses
    """Channel auxiliary losses (zeros for non-speakers)."""
    dist_inputs: torch.Tensor
    """``[N, k]`` the inputs of the action distribution, in the layout RLlib's
    distribution classes read: concatenated logits for ``Discrete`` /
    ``MultiDiscrete`` actions and messages (``[N, L * V]``), candidate scores for a
    candidate listener, ``[mean, log_std]`` for ``Box`` actions."""


def zero_aux(device: torch.device | str = "cpu") -> AuxLosses:
    """An :class:`AuxLosses` of zeros."""
    z = torch.zeros((), device=device)
    return AuxLosses(z, z, z, z, z)


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0):
    """Orthogonal weights and constant bias (the PPO implementation detail)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(
    in_dim: int,
    hidden: int,
    out_dim: int | None = None,
    *,
    layers: int = 2,
    out_std: float = 1.0,
) -> nn.Sequential:
    """``layers`` tanh hidden layers of width ``hidden``, then an optional output."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods += [layer_init(nn.Linear(d, hidden)), nn.Tanh()]
        d = hidden
    if out_dim is not None:
        mods.append(layer_init(nn.Linear(d, out_dim), std=out_std))
    return nn.Sequential(*mods)


def _flat_dim(space: spaces.Space) -> int:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"observations must be a Box space, got {space}")
    return int(np.prod(space.shape))


class PolicyHead(nn.Module):
    """An action distribution for a Gymnasium ``Discrete``, ``MultiDiscrete`` or
    ``Box`` space, read off a hidden vector.

    Box actions are Gaussian with a state-independent log-std; the sampled value is
    stored for the log-probability and clipped to the bounds only when sent to the env
    (see :meth:`to_env`).
    """

    def __init__(self, hidden: int, space: spaces.Space) -> None:
        super().__init__()
        self.space = space
        if isinstance(space, spaces.Discrete):
            self.nvec = [int(space.n)]
        elif isinstance(space, spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise ValueError(f"MultiDiscrete must be 1-D, got {space.nvec.shape}")
            self.nvec = [int(n) for n in space.nvec]
        elif isinstance(space, spaces.Box):
            self.nvec = []
            dim = int(np.prod(space.shape))
            self.mean = layer_init(nn.Linear(hidden, dim), std=0.01)
            self.log_std = nn.Parameter(torch.zeros(dim))
            self.register_buffer("low", torch.as_tensor(space.low).flatten().float())
            self.register_buffer("high", torch.as_tensor(space.high).flatten().float())
            return
        else:
            raise TypeError(f"unsupported action space {space}")
        self.logits = layer_init(nn.Linear(hidden, sum(self.nvec)), std=0.01)

    def forward(
        self,
        h: torch.Tensor,
        action: torch.Tensor | None = None,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(action, log_prob [N], entropy [N], dist_inputs [N, k])``.

        Distributions skip torch's argument validation: a non-finite input becomes a
        non-finite loss, which the trainers turn into one clear error.
        """
        if not self.nvec:
            mean = self.mean(h)
            log_std = self.log_std.expand_as(mean)
            dist = Normal(mean, log_std.exp(), validate_args=False)
            if action is None:
                action = mean if deterministic else dist.sample()
            flat = action.reshape(len(h), -1)
            return (
                action,
                dist.log_prob(flat).sum(-1),
                dist.entropy().sum(-1),
                torch.cat([mean, log_std], dim=-1),
            )
        logits = self.logits(h)
        parts = logits.split(self.nvec, dim=-1)
        dists = [Categorical(logits=p, validate_args=False) for p in parts]
        if action is None:
            cols = [
                p.argmax(-1) if deterministic else d.sample()
                for p, d in zip(parts, dists)
            ]
            action = (
                cols[0]
                if isinstance(self.space, spaces.Discrete)
                else torch.stack(cols, -1)
            )
        cols_a = action[:, None] if action.ndim == 1 else action
        log_prob = sum(d.log_prob(cols_a[:, i]) for i, d in enumerate(dists))
        entropy = sum(d.entropy() for d in dists)
        return action, log_prob, entropy, logits

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """The action as the env accepts it (Box: clipped to the bounds)."""
        if self.nvec:
            return action
        flat = action.reshape(len(action), -1)
        return torch.maximum(torch.minimum(flat, self.high), self.low).reshape(
            action.shape
        )


class AgentNet(nn.Module):
    """Base of the agent networks: the shared interface and the critic's input rule.

    Subclasses set ``self.critic`` and implement ``forward(obs, value_obs=None,
    action=None, deterministic=False) -> AgentOutput``.
    """

    critic: nn.Module

    def value(
        self, obs: torch.Tensor, value_obs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[N]`` value estimate from ``value_obs`` (a centralized critic's input),
        else from ``obs``."""
        return self.critic(obs if value_obs is None else value_obs).squeeze(-1)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """The action as the env accepts it (default: unchanged)."""
        return action

    def act_inputs(
        self, obs: torch.Tensor, value_obs: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dist_inputs, value)`` for acting elsewhere (an RLlib env runner samples
        from the distribution inputs itself): one pass, without the sample."""
        out = self(obs, value_obs, deterministic=True)
        return out.dist_inputs, out.value


class ActorCritic(AgentNet):
    """Separate MLP actor and critic (tanh, orthogonal init), for any action space."""

    def __init__(
        self,
        obs_dim: int,
        action_space: spaces.Space,
        *,
        hidden: int = 64,
        layers: int = 2,
        value_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.actor = mlp(obs_dim, hidden, layers=layers)
        self.head = PolicyHead(hidden, action_space)
        self.critic = mlp(value_dim or obs_dim, hidden, 1, layers=layers)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """The actor's hidden representation of ``obs``."""
        return self.actor(obs)

    def forward(
        self,
        obs: torch.Tensor,
        value_obs: torch.Tensor | None = None,
        action: torch.Tensor | None = None,
        deterministic: bool = False,
    ) -> AgentOutput:
        act, log_prob, entropy, inputs = self.head(
            self.actor(obs), action, deterministic
        )
        value = self.value(obs, value_obs)
        return AgentOutput(act, log_prob, entropy, value, zero_aux(obs.device), inputs)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        return self.head.to_env(action)


class CandidateListener(AgentNet):
    """A listener that scores candidates against what it heard (a Lewis receiver).

    For observations with a ``"candidates"`` part (one object per action, see
    :meth:`envs.core.BatchedEnv.obs_parts`): every candidate is embedded by one
    shared MLP, the rest of the observation (the message, the phase) by another, and
    the logit of choosing candidate ``i`` is the dot product of the two embeddings.
    The choice is thus equivariant to the order of the candidates, which a flat MLP
    must learn. The critic reads the whole observation.
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: spaces.Space,
        candidates: tuple[int, int, int],
        *,
        hidden: int = 64,
        layers: int = 2,
        value_dim: int | None = None,
    ) -> None:
        super().__init__()
        start, stop, n = candidates
        if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != n:
            raise ValueError(
                f"a candidate listener needs Discrete({n}) actions, got {action_space}"
            )
        if (stop - start) % n:
            raise ValueError(f"candidates part {candidates} is not {n} equal items")
        self.obs_dim, self.n = obs_dim, n
        self.start, self.stop, self.item = start, stop, (stop - start) // n
        context = obs_dim - (stop - start)
        self.candidate_net = mlp(self.item, hidden, hidden, layers=layers)
        self.context_net = mlp(context, hidden, hidden, layers=layers)
        self.critic = mlp(value_dim or obs_dim, hidden, 1, layers=layers)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """The embedding of the context (message and phase)."""
        context = torch.cat([obs[:, : self.start], obs[:, self.stop :]], dim=1)
        return self.context_net(context)

    def forward(
        self,
        obs: torch.Tensor,
        value_obs: torch.Tensor | None = None,
        action: torch.Tensor | None = None,
        deterministic: bool = False,
    ) -> AgentOutput:
        items = obs[:, self.start : self.stop].reshape(len(obs), self.n, self.item)
        scores = torch.einsum("nkh,nh->nk", self.candidate_net(items), self.encode(obs))
        dist = Categorical(logits=scores, validate_args=False)
        if action is None:
            action = scores.argmax(-1) if deterministic else dist.sample()
        value = self.value(obs, value_obs)
        return AgentOutput(
            action,
            dist.log_prob(action),
            dist.entropy(),
            value,
            zero_aux(obs.device),
            scores,
        )


class Speaker(AgentNet):
    """A speaker: an encoder of its observation, a message channel, and a critic.

    The action is the message. Its space must be ``Discrete(V)`` (one symbol) or
    ``MultiDiscrete([V] * L)``. The channel's auxiliary losses (for ``vq``/``rvq``,
    reconstruction of this observation from the chosen codes, plus commitment) are
    returned with every output.

    Parameters
    ----------
    obs_dim : int
    action_space : Discrete or MultiDiscrete
    channel : str
        A kind of :func:`agents.channels.make_channel`.
    hidden : int
        Encoder width; the channel reads the encoder's ``hidden``-dim output.
    channel_options : dict, optional
        Passed to :func:`agents.channels.make_channel`.
    value_dim : int, optional
        Input size of the critic when it differs from ``obs_dim``.
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: spaces.Space,
        *,
        channel: str = "vq",
        hidden: int = 64,
        layers: int = 2,
        channel_options: dict[str, Any] | None = None,
        value_dim: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(action_space, spaces.Discrete):
            vocab, length, self._flat = int(action_space.n), 1, True
        elif isinstance(action_space, spaces.MultiDiscrete) and (
            len(set(action_space.nvec.tolist())) == 1 and action_space.nvec.ndim == 1
        ):
            vocab, length = int(action_space.nvec[0]), len(action_space.nvec)
            self._flat = False
        else:
            raise TypeError(
                "a speaker's action space must be Discrete(V) or MultiDiscrete([V]*L), "
                f"got {action_space}"
            )
        self.obs_dim = obs_dim
        self.encoder = mlp(obs_dim, hidden, layers=layers)
        options = dict(channel_options or {})
        if channel in ("vq", "rvq"):
            options.setdefault("recon_dim", obs_dim)
        self.channel = make_channel(
            channel, vocab_size=vocab, message_length=length, dim=hidden, **options
        )
        self.critic = mlp(value_dim or obs_dim, hidden, 1, layers=layers)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """The encoder's output (the channel's input ``h``)."""
        return self.encoder(obs)

    def forward(
        self,
        obs: torch.Tensor,
        value_obs: torch.Tensor | None = None,
        action: torch.Tensor | None = None,
        deterministic: bool = False,
        noise: torch.Tensor | None = None,
    ) -> AgentOutput:
        """See :class:`AgentNet`; ``noise`` ``[N, L, V]`` is the Gumbel noise of a
        ``gumbel`` channel's sample (see :meth:`agents.channels.Channel.forward`)."""
        tokens = None
        if action is not None:
            tokens = action[:, None] if self._flat else action
        out = self.channel(
            self.encoder(obs),
            tokens=tokens,
            target=obs,
            deterministic=deterministic,
            noise=noise,
        )
        act = out.tokens[:, 0] if self._flat else out.tokens
        value = self.value(obs, value_obs)
        return AgentOutput(
            act, out.log_prob, out.entropy, value, out.aux, out.logits.flatten(1)
        )

    def act_inputs(
        self, obs: torch.Tensor, value_obs: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The symbol policy's logits and the value; no reconstruction (acting needs
        no auxiliary loss)."""
        out = self.channel(self.encoder(obs), deterministic=True)
        return out.logits.flatten(1), self.value(obs, value_obs)

    def relaxed_message(
        self, obs: torch.Tensor, action: torch.Tensor, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """``[N, L * V]`` the message a listener wired to this speaker reads when
        the speaker, seeing ``obs``, sent ``action`` drawn with Gumbel ``noise``
        (``gumbel`` channel only): :meth:`agents.channels.GumbelChannel.relaxed` of
        the current logits, differentiable with respect to the speaker's
        parameters, in the layout of the env's message one-hots (position-major)."""
        if self.channel.kind != "gumbel":
            raise TypeError(
                f"relaxed_message needs the gumbel channel, got {self.channel.kind!r}"
            )
        tokens = action[:, None] if self._flat else action
        logits = self.channel.logits(self.encoder(obs))
        return self.channel.relaxed(logits, tokens, noise).flatten(1)


def build_agent(
    obs_space: spaces.Space,
    action_space: spaces.Space,
    *,
    speaker: bool,
    channel: str = "vq",
    hidden: int = 64,
    layers: int = 2,
    channel_options: dict[str, Any] | None = None,
    value_dim: int | None = None,
    obs_parts: dict[str, tuple[int, ...]] | None = None,
) -> nn.Module:
    """The network of one agent: a :class:`Speaker` when its action is a message, a
    :class:`CandidateListener` when its observation has a ``"candidates"`` part
    (``obs_parts``), else an :class:`ActorCritic`."""
    obs_dim = _flat_dim(obs_space)
    if not speaker and obs_parts and "candidates" in obs_parts:
        return CandidateListener(
            obs_dim,
            action_space,
            obs_parts["candidates"],  # type: ignore[arg-type]
            hidden=hidden,
            layers=layers,
            value_dim=value_dim,
        )
    if speaker:
        return Speaker(
            obs_dim,
            action_space,
            channel=channel,
            hidden=hidden,
            layers=layers,
            channel_options=channel_options,
            value_dim=value_dim,
        )
    return ActorCritic(
        obs_dim, action_space, hidden=hidden, layers=layers, value_dim=value_dim
    )


def agent_groups(env: Any, *, share_parameters: bool) -> dict[str, str]:
    """Which network each agent uses: ``agent -> group id``.

    Without sharing every agent is its own group. With ``share_parameters`` agents
    with the same observation space, action space and role (speaker or not) share
    the network of the first of them, whose name is the group id. ``env`` is a
    batched core (anything with ``possible_agents``, ``message_agents`` and the space
    methods). Both trainers group agents with this one rule.
    """
    groups: dict[str, str] = {}
    first: dict[tuple[str, str, bool], str] = {}
    for agent in env.possible_agents:
        key = (
            str(env.observation_space(agent)),
            str(env.action_space(agent)),
            agent in env.message_agents,
        )
        if share_parameters:
            groups[agent] = first.setdefault(key, agent)
        else:
            groups[agent] = agent
    return groups


def _value_dim(env: Any, spec: Any) -> int | None:
    if not spec.network.centralized_value:
        return None
    return sum(_flat_dim(env.observation_space(a)) for a in env.possible_agents)


def build_agent_of(env: Any, agent: str, spec: Any) -> AgentNet:
    """The network of ``agent`` of batched core ``env`` for a
    :class:`agents.spec.TrainSpec` (its channel, options and network sizes)."""
    return build_agent(
        env.observation_space(agent),
        env.action_space(agent),
        speaker=agent in env.message_agents,
        channel=spec.channel,
        hidden=spec.network.hidden,
        layers=spec.network.layers,
        channel_options=spec.channel_options,
        value_dim=_value_dim(env, spec),
        obs_parts=env.obs_parts(agent),
    )


@dataclass(frozen=True)
class MessageWiring:
    """Where a listener reads the speaker's message, for the end-to-end
    (``TrainSpec.differentiable``) path: see :func:`message_wiring`."""

    speaker: str
    listeners: tuple[str, ...]
    """Agents that read the speaker's message (``obs_parts(agent)["message"]``)."""
    start: int
    stop: int
    """The message's slice ``[start, stop)`` of each listener's observation."""
    message_length: int
    vocab_size: int
    control: str
    """The env's ``message_control``: ``"none"`` (wired) or ``"mute"`` (the
    listener hears a constant, so nothing is wired)."""


def message_wiring(env: Any, spec: Any) -> MessageWiring:
    """How the speaker of a single-message game feeds its listener, or
    ``ValueError`` naming why ``spec.differentiable`` cannot apply to ``env``.

    The end-to-end path needs a ``gumbel`` channel, exactly one message agent whose
    action is ``MultiDiscrete([V] * L)`` (or ``Discrete(V)``), and at least one other
    agent whose observation declares a ``"message"`` part of ``L * V`` one-hot
    entries (``referential_v0``'s listener). ``message_control`` must be ``"none"``
    or ``"mute"``: with ``"shuffle"`` the listener hears another env's message and
    the env does not say whose.
    """
    where = f"differentiable: {spec.env}"
    if spec.channel != "gumbel":
        raise ValueError(f"{where}: needs channel 'gumbel', got {spec.channel!r}")
    speakers = [a for a in env.possible_agents if a in env.message_agents]
    if len(speakers) != 1:
        raise ValueError(
            f"{where}: needs exactly one speaker (a single-message game), got "
            f"{speakers}"
        )
    speaker = speakers[0]
    space = env.action_space(speaker)
    if isinstance(space, spaces.Discrete):
        length, vocab = 1, int(space.n)
    else:
        length, vocab = len(space.nvec), int(space.nvec[0])
    listeners, part = [], None
    for agent in env.possible_agents:
        if agent == speaker or "message" not in env.obs_parts(agent):
            continue
        start, stop = env.obs_parts(agent)["message"][:2]
        if stop - start != length * vocab:
            raise ValueError(
                f"{where}: {agent}'s message part has {stop - start} entries, not "
                f"message_length * vocab_size = {length * vocab} one-hots"
            )
        listeners.append(agent)
        part = (start, stop)
    if part is None:
        raise ValueError(
            f"{where}: no agent's observation declares a 'message' part "
            "(obs_parts), so there is nowhere to feed the relaxed message"
        )
    control = getattr(getattr(env, "config", None), "message_control", "none")
    if control not in ("none", "mute"):
        raise ValueError(
            f"{where}: message_control {control!r} is not supported (the listener "
            "hears another env's message and the env does not say whose); use "
            "'none' or 'mute'"
        )
    return MessageWiring(
        speaker, tuple(listeners), part[0], part[1], length, vocab, control
    )


def build_agents(env: Any, spec: Any) -> dict[str, AgentNet]:
    """Every agent's network for a :class:`agents.spec.TrainSpec`; agents of one
    :func:`agent_groups` group get the same module object. A spec with
    ``differentiable`` is checked against the env first (:func:`message_wiring`)."""
    if getattr(spec, "differentiable", False):
        message_wiring(env, spec)
    groups = agent_groups(env, share_parameters=spec.network.share_parameters)
    built: dict[str, AgentNet] = {}
    for group in dict.fromkeys(groups.values()):
        built[group] = build_agent_of(env, group, spec)
    return {agent: built[group] for agent, group in groups.items()}
