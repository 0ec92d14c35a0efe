"""Message channels: how a speaker's hidden vector becomes a message of symbols.

One interface for every kind: :func:`make_channel` builds a :class:`Channel`; calling it
on the speaker's hidden vectors ``h [N, dim]`` returns a :class:`ChannelOutput` with the
tokens ``[N, L]`` (``L = message_length`` symbols over ``V = vocab_size``), their summed
log-probability and entropy under the symbol policy (for PPO / REINFORCE), a one-hot
view for the listener, the policy logits, and an :class:`AuxLosses` breakdown that a
trainer adds to its loss as ``aux.total``.

The AIM idea
------------
AI Mother Tongue (arXiv 2507.10566) gives agents an *endogenous* symbol system: the
speaker's encoder output ``z_e`` is quantized by a VQ-VAE codebook, and the index of
the chosen code is the symbol. Symbols are therefore shaped by two forces at once: the
VQ-VAE objective (the chosen codes must reconstruct what the speaker saw, and the
encoder commits to its codes) and the reinforcement signal of the game. To let RL
explore and assign credit, the code is not always the nearest one: the symbol policy
is a softmax over negative squared distances to the codebook,

    pi(k | h) = softmax_k( -||z_e(h) - e_k||^2 / temperature ),

so the nearest code is the most likely symbol, a small temperature makes the policy
close to plain nearest-neighbour quantization, and a large one makes it uniform.

Kinds
-----
``"vq"``
    AIM's channel. ``z_e [N, L, code_dim]`` is a linear projection of ``h`` (one vector
    per message position); ``vector_quantize_pytorch.VectorQuantize`` holds the
    codebook (EMA updates, dead-code restarts, k-means init; one codebook shared by
    all positions by default). Tokens are sampled from the distance softmax above.
    ``aux``: reconstruction of the speaker's observation (``target``) by a small MLP
    decoder from the concatenated straight-through *nearest* code vectors, plus the
    commitment loss (and the codebook loss when EMA is off).
``"rvq"``
    Residual VQ (``vector_quantize_pytorch.ResidualVQ``, one residual level per message
    position): coarse-to-fine symbols, the HQ-VAE direction of the AIM paper.
    ``z_e [N, code_dim]``; level ``l``'s policy is the distance softmax between the
    current residual and level ``l``'s codebook, and the residual then subtracts the
    *chosen* (sampled or given) code, so the first symbol depends only on ``z_e`` and
    each later symbol refines what the earlier ones left over. ``aux`` as ``"vq"``, the
    decoder reading the sum of the levels' straight-through nearest codes.
``"categorical"``
    The "explicit communication" baseline: a linear head ``dim -> L * V`` and a plain
    softmax policy per position. Optional Eccles et al. (2019) positive signalling in
    ``aux.signalling`` (see :func:`positive_signalling_loss`); the matching listener
    loss is the pure function :func:`positive_listening_loss`.
``"gumbel"``
    Gumbel-softmax over the same kind of head: ``onehot`` is the relaxed sample
    ``softmax((logits + g) / tau)`` (Gumbel noise ``g``), made a hard one-hot in the
    forward pass with the relaxed sample's gradient when ``straight_through`` (the
    default), for trainers that wire speaker to listener directly (EGG / DIAL style:
    the native trainer's ``TrainSpec.differentiable``). ``log_prob`` / ``entropy``
    are those of the underlying categorical, so PPO can use the channel too.
``"none"``
    The ablation: a constant message (all symbols 0), ``log_prob`` and ``entropy`` 0,
    aux losses 0.

Conventions
-----------
- ``log_prob`` and ``entropy`` are summed over message positions (``0 <= entropy <=
  L * log V``, in nats).
- Loss terms are means over elements (``F.mse_loss``), so their scale does not grow
  with ``N``, ``L`` or ``code_dim``.
- Codebook EMA updates and dead-code restarts happen in every *training-mode* forward
  (rollouts and updates alike); call ``channel.eval()`` to freeze the codebook.
- Usage counters (:meth:`Channel.usage`) count the tokens the channel *emitted* in
  training mode (not tokens passed in for evaluation), cumulatively since
  construction or the last :meth:`Channel.reset_usage`.
"""

from __future__ import annotations

import inspect
import math
from types import MappingProxyType
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from vector_quantize_pytorch import ResidualVQ, VectorQuantize

from agents._utils import (
    check_bool,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
)
from agents.results import SymbolUsage, symbol_usage

__all__ = [
    "CHANNEL_KINDS",
    "AuxLosses",
    "CategoricalChannel",
    "Channel",
    "ChannelOutput",
    "GumbelChannel",
    "NoneChannel",
    "RVQChannel",
    "VQChannel",
    "channel_options",
    "make_channel",
    "positive_listening_loss",
    "positive_signalling_loss",
]


class AuxLosses(NamedTuple):
    """Auxiliary losses of a channel; every channel fills every field (0 if unused).

    Attributes
    ----------
    total : Tensor
        Scalar weighted sum of the terms below: what a trainer adds to its loss.
    reconstruction : Tensor
        MSE of the VQ-VAE decoder's reconstruction of ``target`` (vq / rvq).
    commitment : Tensor
        ``mean ||z_e - sg(e)||^2`` between the encoder output and its nearest codes.
    codebook : Tensor
        ``mean ||sg(z_e) - e||^2`` when the codebook is learned by gradient
        (``ema_update=False``); 0 with EMA updates.
    signalling : Tensor
        Eccles et al. positive-signalling loss (categorical only).
    """

    total: Tensor
    reconstruction: Tensor
    commitment: Tensor
    codebook: Tensor
    signalling: Tensor


class ChannelOutput(NamedTuple):
    """What a channel emits for a batch of ``N`` speakers.

    Attributes
    ----------
    tokens : LongTensor
        ``[N, L]`` symbols in ``[0, V)``.
    log_prob : Tensor
        ``[N]`` log-probability of ``tokens`` under the symbol policy, summed over
        positions.
    entropy : Tensor
        ``[N]`` entropy of the symbol policy, summed over positions (nats).
    onehot : Tensor
        ``[N, L, V]`` float one-hot of ``tokens``; for ``"gumbel"`` a straight-through
        relaxed sample, differentiable with respect to ``h``.
    logits : Tensor
        ``[N, L, V]`` logits of the symbol policy.
    aux : AuxLosses
        Auxiliary loss breakdown.
    """

    tokens: Tensor
    log_prob: Tensor
    entropy: Tensor
    onehot: Tensor
    logits: Tensor
    aux: AuxLosses


# ------------------------------------------------------------------ pure helpers


def _zero_aux(ref: Tensor) -> AuxLosses:
    zero = ref.new_zeros(())
    return AuxLosses(zero, zero, zero, zero, zero)


def _choose(logits: Tensor, deterministic: bool) -> Tensor:
    """Argmax or a sample from ``softmax(logits)`` along the last axis."""
    if deterministic:
        return logits.argmax(dim=-1)
    with torch.no_grad():
        probs = logits.softmax(dim=-1).reshape(-1, logits.shape[-1])
        return torch.multinomial(probs, 1).reshape(logits.shape[:-1])


def _log_prob_entropy(logits: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """Summed log-probability of ``tokens`` and entropy; logits ``[N, L, V]``."""
    logp = logits.log_softmax(dim=-1)
    log_prob = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
    entropy = -(logp.exp() * logp).sum(dim=-1).sum(dim=-1)
    return log_prob, entropy


def _neg_sq_dist(z: Tensor, codebook: Tensor) -> Tensor:
    """Minus squared distances ``[N, L, V]`` of ``z [N, L, D]`` to ``[L|1, V, D]``."""
    codebook = codebook.expand(z.shape[1], -1, -1)
    cross = torch.einsum("nld,lvd->nlv", z, codebook)
    sq = z.pow(2).sum(-1, keepdim=True) - 2.0 * cross + codebook.pow(2).sum(-1)
    return -sq.clamp(min=0.0)


def _entropy(probs: Tensor) -> Tensor:
    return -(probs * probs.clamp(min=1e-12).log()).sum(dim=-1)


def positive_signalling_loss(
    logits: Tensor, *, target_entropy: float, average_entropy_weight: float = 1.0
) -> Tensor:
    """Eccles et al. (2019) positive-signalling loss of a batch of message policies.

    The speaker should say *different* things across inputs (high entropy of the
    batch-average policy ``pi_bar``) while being *consistent* for each input (the
    per-input entropy pulled toward ``target_entropy``)::

        loss = mean_l [ mean_n (H(pi(. | x_n)_l) - target_entropy)^2
                        - average_entropy_weight * H(pi_bar_l) ]

    with ``pi_bar_l = mean_n pi(. | x_n)_l`` the batch-average policy at position
    ``l``. Lower is better; a constant policy scores worse than an input-dependent,
    diverse one.

    Parameters
    ----------
    logits : Tensor
        ``[N, L, V]`` (or ``[N, V]``) message-policy logits.
    target_entropy : float
        Target per-input entropy in nats, in ``[0, log V]``.
    average_entropy_weight : float
        Weight of the batch-average entropy bonus.

    Returns
    -------
    Tensor
        Scalar loss.

    Examples
    --------
    >>> import torch
    >>> diverse = torch.eye(4).mul(20.0).unsqueeze(1)   # 4 inputs, 4 distinct symbols
    >>> constant = torch.zeros(4, 1, 4)                 # the same uniform policy
    >>> bool(positive_signalling_loss(diverse, target_entropy=0.0)
    ...      < positive_signalling_loss(constant, target_entropy=0.0))
    True
    """
    if logits.ndim == 2:
        logits = logits.unsqueeze(1)
    if logits.ndim != 3:
        raise ValueError(
            f"logits must be [N, L, V] or [N, V], got {tuple(logits.shape)}"
        )
    probs = logits.softmax(dim=-1)
    per_input = (_entropy(probs) - target_entropy).pow(2).mean(dim=0)
    average = _entropy(probs.mean(dim=0))
    return (per_input - average_entropy_weight * average).mean()


def positive_listening_loss(
    logits_with_message: Tensor, logits_without_message: Tensor
) -> Tensor:
    """Eccles et al. (2019) positive-listening loss: the message should matter.

    The negative L1 distance between the listener's action distribution with the
    message and without it (the no-message branch detached, so only the
    message-conditioned policy is pushed away from it), averaged over the batch::

        loss = -mean_n sum_a | pi(a | x_n, m_n) - sg(pi(a | x_n)) |

    Lower when the two distributions differ (minimum ``-2``). Eccles et al. also fit
    the no-message branch to the message-conditioned policy by cross-entropy; that
    loss belongs to the trainer.

    Parameters
    ----------
    logits_with_message, logits_without_message : Tensor
        ``[..., A]`` action logits of the same shape.

    Returns
    -------
    Tensor
        Scalar loss in ``[-2, 0]``.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[5.0, -5.0]])
    >>> float(positive_listening_loss(a, a))
    -0.0
    >>> round(float(positive_listening_loss(a, -a)), 3)
    -2.0
    """
    if logits_with_message.shape != logits_without_message.shape:
        raise ValueError(
            "logits_with_message and logits_without_message must have the same shape, "
            f"got {tuple(logits_with_message.shape)} and "
            f"{tuple(logits_without_message.shape)}"
        )
    if logits_with_message.ndim < 1:
        raise ValueError("logits must have an action axis, got a scalar")
    p = logits_with_message.softmax(dim=-1)
    q = logits_without_message.detach().softmax(dim=-1)
    return -(p - q).abs().sum(dim=-1).mean()


# ------------------------------------------------------------------ base class


class Channel(nn.Module):
    """Base class: input checks, usage counters and the common ``forward`` contract.

    Subclasses implement ``_message`` (and ``codebook`` where they have one).

    Parameters
    ----------
    vocab_size : int
        ``V``, number of symbols.
    message_length : int
        ``L``, symbols per message.
    dim : int
        Size of the speaker's hidden vector ``h``.

    Attributes
    ----------
    code_counts : Tensor
        Buffer ``[L, V]``: how often each symbol was emitted at each position in
        training mode, cumulative since construction or :meth:`reset_usage`.
    """

    kind: str = ""
    takes_noise: bool = False
    """Whether ``forward`` accepts Gumbel ``noise=`` (the gumbel channel)."""

    def __init__(self, *, vocab_size: int, message_length: int, dim: int) -> None:
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.message_length = check_positive_int("message_length", message_length)
        self.dim = check_positive_int("dim", dim)
        self.register_buffer("code_counts", torch.zeros(message_length, vocab_size))

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind!r}, vocab_size={self.vocab_size}, "
            f"message_length={self.message_length}, dim={self.dim}"
        )

    def forward(
        self,
        h: Tensor,
        *,
        tokens: Tensor | None = None,
        target: Tensor | None = None,
        deterministic: bool = False,
        noise: Tensor | None = None,
    ) -> ChannelOutput:
        """Emit (or evaluate) a message for each row of ``h``.

        Parameters
        ----------
        h : Tensor
            ``[N, dim]`` float, the speaker's hidden vectors.
        tokens : LongTensor, optional
            ``[N, L]`` tokens to evaluate instead of sampling (the PPO update): the
            output's ``log_prob`` / ``entropy`` are those of these tokens.
        target : Tensor, optional
            ``[N, recon_dim]`` what the VQ-VAE decoder reconstructs (vq / rvq built
            with ``recon_dim``); without it the reconstruction loss is 0. Other kinds
            have no decoder and ignore it.
        deterministic : bool
            Take the most likely symbols instead of sampling (evaluation). Not
            allowed together with ``tokens``.
        noise : Tensor, optional
            ``[N, L, V]`` Gumbel noise (``"gumbel"`` only): sample with this noise
            instead of fresh noise, or, with ``tokens``, rebuild the relaxed sample
            of ``tokens`` drawn with it (see :meth:`GumbelChannel.relaxed`). Not
            allowed with ``deterministic=True``.

        Returns
        -------
        ChannelOutput
        """
        tokens = self._check_inputs(h, tokens, target, deterministic)
        extra = {}
        if noise is not None:
            extra["noise"] = self._check_noise(h, noise, deterministic)
        out = self._message(
            h, tokens=tokens, target=target, deterministic=deterministic, **extra
        )
        if self.training and tokens is None:
            self.record_usage(out.tokens)
        return out

    def _message(
        self,
        h: Tensor,
        *,
        tokens: Tensor | None,
        target: Tensor | None,
        deterministic: bool,
    ) -> ChannelOutput:
        raise NotImplementedError

    def _check_inputs(
        self,
        h: Tensor,
        tokens: Tensor | None,
        target: Tensor | None,
        deterministic: bool,
    ) -> Tensor | None:
        if not isinstance(h, Tensor) or h.ndim != 2 or h.shape[1] != self.dim:
            shape = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
            raise ValueError(f"h must be a tensor [N, {self.dim}], got {shape}")
        if not h.is_floating_point():
            raise TypeError(f"h must be a float tensor, got dtype {h.dtype}")
        if target is not None:
            self._check_target(h, target)
        if tokens is None:
            return None
        if deterministic:
            raise ValueError("deterministic=True cannot be combined with tokens=")
        expected = (h.shape[0], self.message_length)
        if not isinstance(tokens, Tensor) or tuple(tokens.shape) != expected:
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens)
            raise ValueError(f"tokens must be a tensor {list(expected)}, got {shape}")
        if (
            tokens.is_floating_point()
            or tokens.is_complex()
            or tokens.dtype == torch.bool
        ):
            raise TypeError(
                f"tokens must be an integer tensor, got dtype {tokens.dtype}"
            )
        if bool(((tokens < 0) | (tokens >= self.vocab_size)).any()):
            raise ValueError(
                f"tokens must lie in [0, {self.vocab_size}), got values in "
                f"[{int(tokens.min())}, {int(tokens.max())}]"
            )
        return tokens.long()

    def _check_target(self, h: Tensor, target: Tensor) -> None:
        """Kinds without a decoder ignore ``target``."""

    def _check_noise(self, h: Tensor, noise: Tensor, deterministic: bool) -> Tensor:
        if not self.takes_noise:
            raise ValueError(
                f"noise= is only for the gumbel channel, not {self.kind!r}"
            )
        if deterministic:
            raise ValueError("deterministic=True cannot be combined with noise=")
        expected = (h.shape[0], self.message_length, self.vocab_size)
        if not isinstance(noise, Tensor) or tuple(noise.shape) != expected:
            shape = tuple(noise.shape) if isinstance(noise, Tensor) else type(noise)
            raise ValueError(f"noise must be a tensor {list(expected)}, got {shape}")
        if not noise.is_floating_point():
            raise TypeError(f"noise must be a float tensor, got dtype {noise.dtype}")
        return noise

    @torch.no_grad()
    def record_usage(self, tokens: Tensor, weights: Tensor | None = None) -> None:
        """Add emitted ``tokens`` ``[N, L]`` to the usage counters.

        Training-mode sampling counts its own tokens; a trainer that acts in eval
        mode (so the codebook stays still while it acts) records them with this.
        ``weights`` ``[N]`` (e.g. whether the speaker was active) scale each row.
        """
        ones = torch.ones_like(tokens, dtype=self.code_counts.dtype)
        if weights is not None:
            ones = ones * weights.to(ones.dtype)[:, None]
        self.code_counts.scatter_add_(1, tokens.t(), ones.t())

    def reset_usage(self) -> None:
        """Zero the usage counters (e.g. at the start of each logging interval)."""
        self.code_counts.zero_()

    def usage(self) -> SymbolUsage:
        """Symbol usage over the counters (:func:`agents.results.symbol_usage`).

        ``perplexity`` is ``exp`` of the entropy (nats) of the symbol frequencies
        pooled over positions, in ``[1, V]``; ``live_codes`` the number of symbols
        emitted at least once; both 0 before anything was counted. ``counts`` keeps
        the per-position table (channels with one codebook per position read it per
        row).
        """
        return symbol_usage(self.code_counts)

    def codebook(self) -> Tensor | None:
        """Code vectors ``[L or 1, V, code_dim]`` (vq / rvq), else ``None``."""
        return None


# ------------------------------------------------------------------ VQ channels


class _QuantizedChannel(Channel):
    """Shared parts of ``vq`` and ``rvq``: options, encoder, decoder, aux losses."""

    def __init__(
        self,
        *,
        vocab_size: int,
        message_length: int,
        dim: int,
        code_dim: int | None,
        temperature: float,
        shared_codebook: bool,
        decay: float,
        threshold_ema_dead_code: float,
        kmeans_init: bool,
        ema_update: bool,
        commitment_weight: float,
        codebook_weight: float | None,
        recon_dim: int | None,
        recon_hidden: int | None,
        recon_weight: float | None,
    ) -> None:
        super().__init__(vocab_size=vocab_size, message_length=message_length, dim=dim)
        self.code_dim = check_positive_int(
            "code_dim", dim if code_dim is None else code_dim
        )
        self.temperature = check_positive_float("temperature", temperature)
        self.shared_codebook = check_bool("shared_codebook", shared_codebook)
        self.decay = check_positive_float("decay", decay)
        if self.decay > 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay!r}")
        self.threshold_ema_dead_code = check_nonnegative_float(
            "threshold_ema_dead_code", threshold_ema_dead_code
        )
        self.kmeans_init = check_bool("kmeans_init", kmeans_init)
        self.ema_update = check_bool("ema_update", ema_update)
        self.commitment_weight = check_nonnegative_float(
            "commitment_weight", commitment_weight
        )
        if self.ema_update and codebook_weight is not None:
            raise ValueError(
                "codebook_weight applies only with ema_update=False (with EMA updates "
                "the codebook has no loss)"
            )
        self.codebook_weight = 0.0 if self.ema_update else 1.0
        if codebook_weight is not None:
            self.codebook_weight = check_nonnegative_float(
                "codebook_weight", codebook_weight
            )
        self._init_decoder(recon_dim, recon_hidden, recon_weight)

    def _init_decoder(
        self,
        recon_dim: int | None,
        recon_hidden: int | None,
        recon_weight: float | None,
    ) -> None:
        if recon_dim is None:
            given = [
                n
                for n, v in (
                    ("recon_hidden", recon_hidden),
                    ("recon_weight", recon_weight),
                )
                if v is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} needs recon_dim (the decoder's output size)"
                )
            self.recon_dim, self.recon_weight, self.decoder = None, 0.0, None
            return
        self.recon_dim = check_positive_int("recon_dim", recon_dim)
        hidden = check_positive_int(
            "recon_hidden", 64 if recon_hidden is None else recon_hidden
        )
        weight = 1.0 if recon_weight is None else recon_weight
        self.recon_weight = check_nonnegative_float("recon_weight", weight)
        self.decoder = nn.Sequential(
            nn.Linear(self._decoder_in_dim(), hidden),
            nn.ReLU(),
            nn.Linear(hidden, self.recon_dim),
        )

    def _decoder_in_dim(self) -> int:
        raise NotImplementedError

    def _vq_kwargs(self) -> dict:
        # Plain straight-through estimator (no rotation trick); the commitment loss is
        # computed here so that it is reported in eval mode too.
        return {
            "codebook_size": self.vocab_size,
            "decay": self.decay,
            "threshold_ema_dead_code": self.threshold_ema_dead_code,
            "kmeans_init": self.kmeans_init,
            "ema_update": self.ema_update,
            "learnable_codebook": not self.ema_update,
            "commitment_weight": 0.0,
            "rotation_trick": False,
        }

    def _check_target(self, h: Tensor, target: Tensor) -> None:
        if self.decoder is None:
            raise ValueError(
                f"target was given but this {self.kind!r} channel has no decoder: "
                "build it with recon_dim=<size of target>"
            )
        if not isinstance(target, Tensor) or tuple(target.shape) != (
            h.shape[0],
            self.recon_dim,
        ):
            shape = tuple(target.shape) if isinstance(target, Tensor) else type(target)
            raise ValueError(
                f"target must be a tensor [{h.shape[0]}, {self.recon_dim}], got {shape}"
            )

    def _aux(
        self,
        z_e: Tensor,
        quantized: Tensor,
        code_vectors: Tensor,
        decoder_in: Tensor,
        target: Tensor | None,
    ) -> AuxLosses:
        """VQ-VAE losses.

        ``quantized`` holds the straight-through nearest codes (value ``e``, gradient
        to ``z_e`` in training mode), ``code_vectors`` the same codes as a function of
        the codebook (for the codebook loss).
        """
        zero = z_e.new_zeros(())
        commitment = F.mse_loss(z_e, quantized.detach())
        codebook = zero if self.ema_update else F.mse_loss(code_vectors, z_e.detach())
        reconstruction = zero
        if target is not None:
            reconstruction = F.mse_loss(
                self.decoder(decoder_in), target.to(decoder_in.dtype)
            )
        total = (
            self.recon_weight * reconstruction
            + self.commitment_weight * commitment
            + self.codebook_weight * codebook
        )
        return AuxLosses(total, reconstruction, commitment, codebook, zero)


class VQChannel(_QuantizedChannel):
    """AIM's endogenous symbols: a VQ codebook and a distance-softmax symbol policy.

    ``z_e = W h + b`` reshaped to ``[N, L, code_dim]``; the codebook is a
    ``vector_quantize_pytorch.VectorQuantize`` (shared by all positions, or one per
    position). The policy at each position is
    ``softmax(-||z_e - e_k||^2 / temperature)`` over the codebook as it stands after
    this forward's EMA step, treated as a constant (codes move only by EMA, or by the
    codebook loss when ``ema_update=False``).

    Parameters
    ----------
    vocab_size, message_length, dim : int
        See :class:`Channel`.
    code_dim : int, optional
        Size of a code vector; default ``dim``.
    temperature : float
        Divides the negative squared distances: ``-> 0`` nearest-code quantization,
        ``-> inf`` uniform symbols.
    shared_codebook : bool
        One codebook for all message positions (default), else one per position.
    decay : float
        EMA decay of the codebook updates, in ``(0, 1]``.
    threshold_ema_dead_code : float
        Codes whose EMA cluster size falls below this are restarted from encoder
        outputs of the batch; 0 turns restarts off. The EMA cluster size is about
        ``N * L / V`` per batch for a used code, so choose it below that.
    kmeans_init : bool
        Initialise the codebook by k-means on the first batch seen.
    ema_update : bool
        EMA codebook updates (default); ``False`` learns the codebook by gradient
        through the codebook loss.
    commitment_weight : float
        Weight of the commitment loss.
    codebook_weight : float, optional
        Weight of the codebook loss; only with ``ema_update=False`` (default 1.0).
    recon_dim : int, optional
        Size of the reconstruction target; builds the decoder. Without it the
        reconstruction loss is 0 and ``target`` must not be passed.
    recon_hidden : int, optional
        Hidden width of the decoder MLP (default 64); needs ``recon_dim``.
    recon_weight : float, optional
        Weight of the reconstruction loss (default 1.0); needs ``recon_dim``.
    """

    kind = "vq"

    def __init__(
        self,
        *,
        vocab_size: int,
        message_length: int,
        dim: int,
        code_dim: int | None = None,
        temperature: float = 1.0,
        shared_codebook: bool = True,
        decay: float = 0.99,
        threshold_ema_dead_code: float = 0.0,
        kmeans_init: bool = False,
        ema_update: bool = True,
        commitment_weight: float = 0.25,
        codebook_weight: float | None = None,
        recon_dim: int | None = None,
        recon_hidden: int | None = None,
        recon_weight: float | None = None,
    ) -> None:
        super().__init__(
            vocab_size=vocab_size,
            message_length=message_length,
            dim=dim,
            code_dim=code_dim,
            temperature=temperature,
            shared_codebook=shared_codebook,
            decay=decay,
            threshold_ema_dead_code=threshold_ema_dead_code,
            kmeans_init=kmeans_init,
            ema_update=ema_update,
            commitment_weight=commitment_weight,
            codebook_weight=codebook_weight,
            recon_dim=recon_dim,
            recon_hidden=recon_hidden,
            recon_weight=recon_weight,
        )
        L, D = self.message_length, self.code_dim
        self.encoder = nn.Linear(self.dim, L * D)
        if self.shared_codebook:
            self.quantizer = VectorQuantize(dim=D, **self._vq_kwargs())
        else:
            self.quantizer = VectorQuantize(
                dim=L * D,
                codebook_dim=D,
                heads=L,
                separate_codebook_per_head=True,
                **self._vq_kwargs(),
            )

    def _decoder_in_dim(self) -> int:
        return self.message_length * self.code_dim

    def _codes(self) -> Tensor:
        """The codebook(s) ``[L or 1, V, D]`` (a view: carries gradient if learned)."""
        return self.quantizer.codebook.reshape(-1, self.vocab_size, self.code_dim)

    def codebook(self) -> Tensor:
        return self._codes().detach().clone()

    def _quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest codes of ``z_e [N, L, D]`` (straight-through) and their indices."""
        N, L, D = z_e.shape
        if self.shared_codebook:
            quantized, nearest, _ = self.quantizer(z_e)
        else:
            quantized, nearest, _ = self.quantizer(z_e.reshape(N, 1, L * D))
        return quantized.reshape(N, L, D), nearest.reshape(N, L)

    def _message(self, h, *, tokens, target, deterministic):
        N, L, D = h.shape[0], self.message_length, self.code_dim
        z_e = self.encoder(h).reshape(N, L, D)
        quantized, nearest = self._quantize(z_e)  # EMA / restarts happen here
        codes = self._codes()
        logits = _neg_sq_dist(z_e, codes.detach().clone()) / self.temperature
        if tokens is None:
            tokens = _choose(logits, deterministic)
        log_prob, entropy = _log_prob_entropy(logits, tokens)
        code_vectors = codes.expand(L, -1, -1)[
            torch.arange(L, device=h.device), nearest
        ]
        aux = self._aux(
            z_e, quantized, code_vectors, quantized.reshape(N, L * D), target
        )
        onehot = F.one_hot(tokens, self.vocab_size).to(logits.dtype)
        return ChannelOutput(tokens, log_prob, entropy, onehot, logits, aux)


class RVQChannel(_QuantizedChannel):
    """Residual VQ: one residual level per message position, coarse-to-fine symbols.

    ``z_e = W h + b`` (``[N, code_dim]``); the codebooks are a
    ``vector_quantize_pytorch.ResidualVQ`` with ``num_quantizers = message_length``.
    The policy is sequential: with ``r_0 = z_e``, level ``l`` draws (or evaluates)
    ``t_l ~ softmax(-||r_l - C_l[k]||^2 / temperature)`` and sets
    ``r_{l+1} = r_l - C_l[t_l]``. The codebook itself learns (EMA) from the standard
    nearest-code residual chain run by ``ResidualVQ``; the decoder reads the sum of
    the levels' straight-through nearest codes (the RVQ approximation of ``z_e``).

    Parameters are those of :class:`VQChannel`, except that ``shared_codebook``
    defaults to ``False`` (one codebook per level).
    """

    kind = "rvq"

    def __init__(
        self,
        *,
        vocab_size: int,
        message_length: int,
        dim: int,
        code_dim: int | None = None,
        temperature: float = 1.0,
        shared_codebook: bool = False,
        decay: float = 0.99,
        threshold_ema_dead_code: float = 0.0,
        kmeans_init: bool = False,
        ema_update: bool = True,
        commitment_weight: float = 0.25,
        codebook_weight: float | None = None,
        recon_dim: int | None = None,
        recon_hidden: int | None = None,
        recon_weight: float | None = None,
    ) -> None:
        super().__init__(
            vocab_size=vocab_size,
            message_length=message_length,
            dim=dim,
            code_dim=code_dim,
            temperature=temperature,
            shared_codebook=shared_codebook,
            decay=decay,
            threshold_ema_dead_code=threshold_ema_dead_code,
            kmeans_init=kmeans_init,
            ema_update=ema_update,
            commitment_weight=commitment_weight,
            codebook_weight=codebook_weight,
            recon_dim=recon_dim,
            recon_hidden=recon_hidden,
            recon_weight=recon_weight,
        )
        self.encoder = nn.Linear(self.dim, self.code_dim)
        self.quantizer = ResidualVQ(
            dim=self.code_dim,
            num_quantizers=self.message_length,
            shared_codebook=self.shared_codebook,
            **self._vq_kwargs(),
        )

    def _decoder_in_dim(self) -> int:
        return self.code_dim

    def _codes(self) -> Tensor:
        """Per-level codebooks ``[L, V, D]`` (carries gradient if learned)."""
        return self.quantizer.codebooks

    def codebook(self) -> Tensor:
        codes = self._codes().detach().clone()
        return codes[:1] if self.shared_codebook else codes

    def _message(self, h, *, tokens, target, deterministic):
        L = self.message_length
        z_e = self.encoder(h)
        quantized, nearest, _ = self.quantizer(z_e)  # EMA / restarts happen here
        codes = self._codes()
        frozen = codes.detach().clone()
        residual, logits, chosen = z_e, [], []
        for level in range(L):
            level_logits = _neg_sq_dist(
                residual.unsqueeze(1), frozen[level : level + 1]
            )
            level_logits = level_logits.squeeze(1) / self.temperature
            t = (
                _choose(level_logits, deterministic)
                if tokens is None
                else tokens[:, level]
            )
            residual = residual - frozen[level][t]
            logits.append(level_logits)
            chosen.append(t)
        logits, tokens = torch.stack(logits, dim=1), torch.stack(chosen, dim=1)
        log_prob, entropy = _log_prob_entropy(logits, tokens)
        code_vectors = codes[torch.arange(L, device=h.device), nearest].sum(dim=1)
        aux = self._aux(z_e, quantized, code_vectors, quantized, target)
        onehot = F.one_hot(tokens, self.vocab_size).to(logits.dtype)
        return ChannelOutput(tokens, log_prob, entropy, onehot, logits, aux)


# ------------------------------------------------------------------ head channels


class _HeadChannel(Channel):
    """A linear head ``dim -> L * V`` giving per-position symbol logits."""

    def __init__(self, *, vocab_size: int, message_length: int, dim: int) -> None:
        super().__init__(vocab_size=vocab_size, message_length=message_length, dim=dim)
        self.head = nn.Linear(self.dim, self.message_length * self.vocab_size)

    def _logits(self, h: Tensor) -> Tensor:
        return self.head(h).reshape(h.shape[0], self.message_length, self.vocab_size)


class CategoricalChannel(_HeadChannel):
    """Plain softmax policy over the vocabulary per position ("explicit" baseline).

    Parameters
    ----------
    vocab_size, message_length, dim : int
        See :class:`Channel`.
    positive_signalling : float
        Weight of :func:`positive_signalling_loss` in ``aux.total`` (0: reported in
        ``aux.signalling`` but not trained on).
    signalling_target_entropy : float, optional
        Target per-input entropy (nats) of positive signalling, in ``[0, log V]``;
        default ``0.5 * log V``.
    """

    kind = "categorical"

    def __init__(
        self,
        *,
        vocab_size: int,
        message_length: int,
        dim: int,
        positive_signalling: float = 0.0,
        signalling_target_entropy: float | None = None,
    ) -> None:
        super().__init__(vocab_size=vocab_size, message_length=message_length, dim=dim)
        self.positive_signalling = check_nonnegative_float(
            "positive_signalling", positive_signalling
        )
        max_entropy = math.log(self.vocab_size)
        if signalling_target_entropy is None:
            signalling_target_entropy = 0.5 * max_entropy
        target = check_nonnegative_float(
            "signalling_target_entropy", signalling_target_entropy
        )
        if target > max_entropy + 1e-9:
            raise ValueError(
                f"signalling_target_entropy must be in [0, log V = {max_entropy:.4f}], "
                f"got {target!r}"
            )
        self.signalling_target_entropy = target

    def _message(self, h, *, tokens, target, deterministic):
        logits = self._logits(h)
        if tokens is None:
            tokens = _choose(logits, deterministic)
        log_prob, entropy = _log_prob_entropy(logits, tokens)
        signalling = positive_signalling_loss(
            logits, target_entropy=self.signalling_target_entropy
        )
        zero = h.new_zeros(())
        aux = AuxLosses(
            self.positive_signalling * signalling, zero, zero, zero, signalling
        )
        onehot = F.one_hot(tokens, self.vocab_size).to(logits.dtype)
        return ChannelOutput(tokens, log_prob, entropy, onehot, logits, aux)


class GumbelChannel(_HeadChannel):
    """Gumbel-softmax: a differentiable channel (Jang et al. 2017; Maddison et al.
    2017), as EGG trains it end to end.

    A sample draws Gumbel noise ``g`` (as ``F.gumbel_softmax`` does, from torch's
    generator) and forms the relaxed sample ``y = softmax((logits + g) / tau)``; the
    tokens are ``argmax(logits + g)``, distributed as ``Categorical(logits)``
    whatever ``tau`` (the Gumbel-max trick), so ``log_prob`` / ``entropy`` are those
    of that categorical. ``onehot`` is what a listener wired to the speaker reads:
    with ``straight_through`` the hard one-hot of the tokens in the forward pass with
    the gradient of ``y`` (``one_hot + y - sg(y)``), else ``y`` itself. With
    ``deterministic=True``, or ``tokens=`` without ``noise=``, ``y`` is
    ``softmax(logits / tau)`` (no noise).

    Parameters
    ----------
    vocab_size, message_length, dim : int
        See :class:`Channel`.
    tau : float
        Gumbel-softmax temperature (> 0).
    straight_through : bool
        Hard one-hot forward, relaxed gradient (default); ``False``: the listener
        reads the relaxed sample itself.
    """

    kind = "gumbel"
    takes_noise = True

    def __init__(
        self,
        *,
        vocab_size: int,
        message_length: int,
        dim: int,
        tau: float = 1.0,
        straight_through: bool = True,
    ) -> None:
        super().__init__(vocab_size=vocab_size, message_length=message_length, dim=dim)
        self.tau = check_positive_float("tau", tau)
        self.straight_through = check_bool("straight_through", straight_through)

    def logits(self, h: Tensor) -> Tensor:
        """``[N, L, V]`` symbol logits of the hidden vectors ``h [N, dim]``."""
        return self._logits(h)

    def relaxed(self, logits: Tensor, tokens: Tensor, noise: Tensor | None) -> Tensor:
        """``[N, L, V]`` what a wired listener reads for ``tokens`` drawn with
        ``noise`` (``None``: no noise, the deterministic relaxation).

        ``y = softmax((logits + noise) / tau)``; with ``straight_through`` the value
        is ``one_hot(tokens)`` and the gradient that of ``y``.

        Examples
        --------
        >>> ch = GumbelChannel(vocab_size=3, message_length=1, dim=2)
        >>> logits = torch.tensor([[[0.0, 1.0, 2.0]]], requires_grad=True)
        >>> msg = ch.relaxed(logits, torch.tensor([[2]]), torch.zeros(1, 1, 3))
        >>> msg.detach().tolist()
        [[[0.0, 0.0, 1.0]]]
        """
        shifted = logits if noise is None else logits + noise
        soft = (shifted / self.tau).softmax(dim=-1)
        if not self.straight_through:
            return soft
        hard = F.one_hot(tokens, self.vocab_size).to(soft.dtype)
        return hard - soft.detach() + soft

    def _message(self, h, *, tokens, target, deterministic, noise=None):
        logits = self._logits(h)
        if tokens is None and not deterministic:
            if noise is None:  # the draw F.gumbel_softmax makes
                noise = -torch.empty_like(logits).exponential_().log()
            tokens = (logits.detach() + noise).argmax(dim=-1)
        elif tokens is None:
            tokens = logits.argmax(dim=-1)
        onehot = self.relaxed(logits, tokens, noise)
        log_prob, entropy = _log_prob_entropy(logits, tokens)
        return ChannelOutput(tokens, log_prob, entropy, onehot, logits, _zero_aux(h))


class NoneChannel(Channel):
    """The no-communication ablation: every message is all zeros.

    ``log_prob`` and ``entropy`` are 0, ``onehot`` is the constant one-hot of symbol 0,
    ``logits`` put all mass on symbol 0 (0 there, the most negative float elsewhere).
    Given ``tokens`` must be all zeros (anything else has probability 0).
    """

    kind = "none"

    def _message(self, h, *, tokens, target, deterministic):
        N, L, V = h.shape[0], self.message_length, self.vocab_size
        if tokens is not None and bool(tokens.any()):
            raise ValueError(
                "the 'none' channel only emits symbol 0; got nonzero tokens"
            )
        tokens = torch.zeros(N, L, dtype=torch.long, device=h.device)
        onehot = F.one_hot(tokens, V).to(h.dtype)
        logits = torch.full_like(onehot, torch.finfo(h.dtype).min)
        logits[..., 0] = 0.0
        zeros = h.new_zeros(N)
        return ChannelOutput(tokens, zeros, zeros, onehot, logits, _zero_aux(h))


# ------------------------------------------------------------------ factory

_REGISTRY = MappingProxyType(
    {
        "vq": VQChannel,
        "rvq": RVQChannel,
        "categorical": CategoricalChannel,
        "gumbel": GumbelChannel,
        "none": NoneChannel,
    }
)

CHANNEL_KINDS: tuple[str, ...] = tuple(_REGISTRY)
"""The channel kinds :func:`make_channel` accepts."""

_COMMON = ("vocab_size", "message_length", "dim")


def _check_kind(kind: object) -> type[Channel]:
    if kind not in _REGISTRY:
        raise ValueError(
            f"unknown channel kind {kind!r}; allowed: {', '.join(CHANNEL_KINDS)}"
        )
    return _REGISTRY[kind]


def channel_options(kind: str) -> tuple[str, ...]:
    """Names of the options ``make_channel(kind, ...)`` accepts beyond the common three.

    Examples
    --------
    >>> channel_options("gumbel")
    ('tau', 'straight_through')
    >>> channel_options("none")
    ()
    """
    params = inspect.signature(_check_kind(kind).__init__).parameters
    return tuple(name for name in params if name not in ("self", *_COMMON))


def make_channel(
    kind: str, *, vocab_size: int, message_length: int, dim: int, **options: object
) -> Channel:
    """Build a message channel.

    Parameters
    ----------
    kind : {"vq", "rvq", "categorical", "gumbel", "none"}
        See the module docstring.
    vocab_size : int
        ``V``, number of symbols.
    message_length : int
        ``L``, symbols per message.
    dim : int
        Size of the speaker's hidden vector.
    **options
        Kind-specific options (:func:`channel_options` lists them; the classes
        document them).

    Returns
    -------
    Channel

    Raises
    ------
    ValueError
        Unknown kind, unknown option for the kind, an option out of range, or
        incompatible options.
    TypeError
        An option of the wrong type.

    Examples
    --------
    >>> import torch
    >>> channel = make_channel("vq", vocab_size=8, message_length=2, dim=16,
    ...                        recon_dim=4)
    >>> out = channel(torch.randn(5, 16), target=torch.randn(5, 4))
    >>> out.tokens.shape, out.logits.shape, out.aux.total.ndim
    (torch.Size([5, 2]), torch.Size([5, 2, 8]), 0)
    >>> make_channel("vq", vocab_size=8, message_length=2, dim=16, temp=0.5)
    Traceback (most recent call last):
    ...
    ValueError: unknown option(s) ['temp'] for channel kind 'vq'; allowed: ...
    """
    cls = _check_kind(kind)
    allowed = channel_options(kind)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for channel kind {kind!r}; allowed: "
            f"{', '.join(allowed) if allowed else '(none)'}"
        )
    return cls(vocab_size=vocab_size, message_length=message_length, dim=dim, **options)
