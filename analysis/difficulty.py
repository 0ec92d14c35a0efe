"""Generalization difficulty: inductive-bias complexity of a task.

Two measures from Boopathy et al.:

* the **closed form** (ICML 2023, arXiv 2305.01034): an upper-bound style estimate
  of the information a learner must bring, beyond its training data, to reach test
  error ``eps``, for band-limited hypotheses on a data manifold
  (:func:`inductive_bias_complexity` and its wrappers);
* the **sampled** measure (IJCAI 2024, arXiv 2406.15941): ``-log P(L_test(h) <= eps)``
  over hypotheses ``h`` that fit the training data, from a non-central chi-squared
  fit of sampled test losses (:func:`sampled_inductive_bias`, with the hypothesis
  samplers :func:`trained_network_losses` and :func:`gp_posterior_losses`).

Conventions
-----------
* Units are **bits** unless said otherwise (``sampled_inductive_bias`` can return
  nats, the reference code's unit, with ``units="nats"``).
* Everything that can overflow float64 is computed in log space: ``log10_bits`` is
  always finite, ``bits`` becomes ``inf`` only when the value truly exceeds float64.
* Symbols of the closed form, and how the arguments map onto them:

  ====================  ======  ==================================================
  argument              symbol  meaning
  ====================  ======  ==================================================
  ``n``                 n       training points (timesteps in RL)
  ``m``                 m       intrinsic dimension of the input manifold
  ``R``                 R       manifold radius (sphere); torus period / 2π
  ``delta``             δ       resolution: smallest input distance to resolve
  ``eps``               ε       target error
  ``out_dim``           D       output dimension (classes − 1; action dimension)
  ``n_discrete``        P       disjoint manifold components (one per class)
  ``bound``             B       bound on the output range (1 for probabilities)
  ====================  ======  ==================================================

  Classification with ``C`` classes is ``out_dim = C - 1``, ``n_discrete = C``,
  ``bound = 1`` on a sphere. RL is a torus ``[0, 2π)^m`` with ``R = 1``,
  ``n_discrete = 1``, ``bound = 1``, ``out_dim`` = action dimension. With these
  the released formulas are reproduced exactly (see the table below).

* The closed form, sphere (``S^m`` of radius ``R``)::

      M = 2πR/δ;  K = (sqrt((m-1)² + 4M²) - (m-1)) / 2      (real, not rounded)
      E = C(m+K, m) + C(m+K-1, m)                           (via log-gamma)
      L_f = K·sqrt(D)/R
      W = R·sqrt(m/6)·(P·area(S^m)/n)^(1/m),  area(S^m) = 2π^((m+1)/2)/Γ((m+1)/2)
      dim_theta = 2·D·P·E;  dim_theta_q = dim_theta - n·D
      bits = dim_theta_q · log2(B·sqrt(D·P)·L_f·W/ε)

  Torus: the Laplacian eigenfunctions are Fourier modes, so ``K = M`` and the number
  of modes with frequency at most ``K`` is the volume of an ``m``-ball,
  ``E = π^(m/2) K^m / Γ(m/2+1)``; the volume is ``P·(2πR)^m`` in ``W``. With
  ``R = P = B = 1`` this is the released RL formula.

* When ``dim_theta_q <= 0`` (the data pin down every band-limited hypothesis) or the
  log-ratio is ``<= 0`` (the target error is above the scale of the hypotheses) the
  bound is vacuous: a warning says which, ``bits`` is 0 and ``log10_bits`` is the
  log10 of the smallest positive float (≈ −307.7), finite and below every real value.

Reference values (``tests/test_difficulty.py`` pins the published ones to 1e-3)
------------------------------------------------------------------------------

=================  =========  ===  ========  =======  ========  =====  ===========
task               n          m    R         classes  δ         ε      Ĩ (bits)
=================  =========  ===  ========  =======  ========  =====  ===========
MNIST              60,000     14   17.17905  10       2.398708  1e-3   1.485e16
CIFAR-10           50,000     27   54.91568  10       2.750641  1e-2   3.438e32
SVHN               73,257     19   53.86932  10       1.576700  1e-2   1.213e31 (c)
ImageNet           1,280,901  48   943.5923  1000     65        0.1    3.583e41 (c)
Reacher (RL)       1e6        6    1         D=2      1e-3      1e-3   2.914e25
cart-pole T=1      1e4        2    1         D=1      1e-3      1e-3   4.415e9
cart-pole T=2      1e4        4    1         D=1      1e-3      1e-3   3.326e17
=================  =========  ===  ========  =======  ========  =====  ===========

(c) = computed here with the released formula (not published numbers).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from scipy import linalg, special, stats
from scipy.spatial.distance import cdist
from scipy.special import gammaln, log_ndtr

from analysis.validation import (
    check_matrix,
    check_positive_int,
    check_positive_number,
)

__all__ = [
    "ClassificationDifficulty",
    "Difficulty",
    "DifficultyParts",
    "IntrinsicDimension",
    "SampledBias",
    "TaskSpecLike",
    "classification_difficulty",
    "few_shot_difficulty",
    "gp_posterior_losses",
    "inductive_bias_complexity",
    "intrinsic_dimension",
    "log_norm_cdf",
    "max_norm",
    "min_interclass_distance",
    "ncx2_logcdf",
    "pomdp_difficulty",
    "product_difficulty",
    "rl_difficulty",
    "sampled_inductive_bias",
    "task_difficulty",
    "trained_network_losses",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_LOG10_TINY = math.log10(np.finfo(float).tiny)  # ≈ -307.65: "vacuous", still finite
_LOG10_MAX = math.log10(np.finfo(float).max)
# Below this log-probability scipy's gammainc has left the normal float range.
_LOG_TINY_P = math.log(np.finfo(float).tiny) + 5.0


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class DifficultyParts:
    """The intermediate quantities of the closed form (see the module docstring).

    Quantities that can overflow float64 are stored as ``log10_*`` next to their
    plain value (which is then ``inf``).
    """

    manifold: str
    """``"sphere"`` or ``"torus"``."""
    n: float
    m: float
    R: float
    delta: float
    eps: float
    D: int
    """Output dimension (``out_dim``)."""
    P: int
    """Disjoint manifold components (``n_discrete``)."""
    B: float
    """Output bound (``bound``)."""
    M: float
    """``2πR/δ``."""
    K: float
    """Frequency cutoff (real)."""
    log10_E: float
    """log10 of the number of basis functions per output and component."""
    E: float
    """The number itself (``inf`` if it overflows)."""
    W: float
    """Typical spacing term ``R·sqrt(m/6)·(volume/n)^(1/m)``."""
    L_f: float
    """Lipschitz constant of the band-limited hypotheses, ``K·sqrt(D)/R``."""
    log10_dim_theta: float
    """log10 of ``dim_theta = 2·D·P·E``."""
    dim_theta: float
    log10_dim_theta_q: float
    """log10 of ``dim_theta_q = dim_theta - n·D`` (``nan`` when it is <= 0)."""
    dim_theta_q: float
    """May be negative (vacuous bound) or ``inf``."""
    log2_ratio: float
    """``log2(B·sqrt(D·P)·L_f·W/ε)``."""


@dataclass(frozen=True)
class Difficulty:
    """Inductive-bias complexity of a task, in bits."""

    bits: float
    """The value (``inf`` only where it truly overflows float64; 0 when vacuous)."""
    log10_bits: float
    """log10 of ``bits``, always finite (≈ −307.7 when the bound is vacuous)."""
    parts: DifficultyParts | None = None
    """The closed form's parts; ``None`` for a product of tasks."""
    factors: tuple[Difficulty, ...] = ()
    """For :func:`product_difficulty`: the factors whose bits were added."""
    label: str = ""
    """Free text naming the task."""


@dataclass(frozen=True)
class IntrinsicDimension:
    """Levina–Bickel maximum-likelihood intrinsic dimension."""

    m: float
    """The estimate at the requested ``k``."""
    k: int
    per_k: Mapping[int, float] = field(default_factory=dict)
    """Estimates at k in {3, 5, 10, 20} (and ``k``), to show the spread."""
    n_points: int = 0


@dataclass(frozen=True)
class ClassificationDifficulty:
    """Closed-form difficulty of a classification data set with its estimates."""

    difficulty: Difficulty
    m: float
    """Intrinsic dimension used (rounded to an integer, at least 1)."""
    m_raw: float
    """The raw MLE estimate."""
    delta: float
    R: float
    n: int
    n_classes: int
    dimension: IntrinsicDimension


@dataclass(frozen=True)
class SampledBias:
    """Sampled inductive bias ``-log P(L_test <= eps)`` from a fitted loss law."""

    value: float
    units: str
    eps: float
    extrapolated: bool
    """True when ``eps`` lies below every sampled loss (a tail extrapolation)."""
    ks_statistic: float
    ks_pvalue: float
    """KS test of the fit (optimistic: the parameters were fitted on the same data)."""
    ci_low: float
    ci_high: float
    """Bootstrap percentile interval (2.5 %, 97.5 %) of ``value``."""
    empirical: float | None
    """``-log(k/S)`` with ``k`` losses <= eps out of ``S``; ``None`` when k = 0."""
    df: float
    nc: float
    scale: float
    n_samples: int
    approximated: bool
    """Always False: the log-cdf is evaluated exactly (:func:`ncx2_logcdf`); the
    field stays for records written when a normal approximation was used."""


# ------------------------------------------------------------------------ validation
def _check_X(X: Any, name: str = "X") -> np.ndarray:
    return check_matrix(X, name=name, min_rows=2)


def _check_Xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = _check_X(X)
    lab = np.asarray(y)
    if lab.shape != (arr.shape[0],):
        raise ValueError(
            f"y must have shape ({arr.shape[0]},) to match X, got {lab.shape}"
        )
    if np.unique(lab).size < 2:
        raise ValueError("y must contain at least 2 classes")
    return arr, lab


# ---------------------------------------------------------------------- closed form
def _log_binom(a: float, b: float) -> float:
    """Natural log of the generalized binomial C(a, b) for real a >= b >= 0."""
    return float(gammaln(a + 1.0) - gammaln(b + 1.0) - gammaln(a - b + 1.0))


def _from_log10(log10_value: float) -> float:
    return math.inf if log10_value > _LOG10_MAX else 10.0**log10_value


def inductive_bias_complexity(
    *,
    n: float,
    m: float,
    R: float,
    delta: float,
    eps: float,
    out_dim: int,
    n_discrete: int = 1,
    bound: float = 1.0,
    manifold: Literal["sphere", "torus"] = "sphere",
    label: str = "",
) -> Difficulty:
    """Closed-form inductive-bias complexity (Boopathy et al. 2023), in bits.

    Parameters
    ----------
    n : float
        Number of training points (timesteps for RL), >= 1.
    m : float
        Intrinsic dimension of the input manifold (> 0; real values allowed).
    R : float
        Radius of the sphere, or torus period / 2π (1 for ``[0, 2π)^m``).
    delta : float
        Input resolution δ.
    eps : float
        Target error ε.
    out_dim : int
        Output dimension D (``classes - 1``; the action dimension for RL).
    n_discrete : int, default=1
        P, the number of disjoint components of the input manifold (one per class
        in classification).
    bound : float, default=1.0
        B, bound on the outputs (1 for probabilities and normalized actions).
    manifold : {"sphere", "torus"}, default="sphere"
        Geometry of the input manifold (torus for RL observations).
    label : str, default=""
        Stored on the result.

    Returns
    -------
    Difficulty
        ``bits``, ``log10_bits`` (always finite) and the ``parts``.

    Warns
    -----
    UserWarning
        When the bound is vacuous: ``dim_theta_q <= 0`` or the log-ratio ``<= 0``.

    Examples
    --------
    >>> d = inductive_bias_complexity(n=60_000, m=14, R=17.17905, delta=2.398708,
    ...                               eps=1e-3, out_dim=9, n_discrete=10)
    >>> f"{d.bits:.4g}"
    '1.485e+16'
    """
    n = check_positive_number(n, "n")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    m = check_positive_number(m, "m")
    R = check_positive_number(R, "R")
    delta = check_positive_number(delta, "delta")
    eps = check_positive_number(eps, "eps")
    D = check_positive_int(out_dim, "out_dim", integral_floats=True)
    P = check_positive_int(n_discrete, "n_discrete", integral_floats=True)
    B = check_positive_number(bound, "bound")
    if manifold not in ("sphere", "torus"):
        raise ValueError(f"manifold must be 'sphere' or 'torus', got {manifold!r}")

    M = 2.0 * math.pi * R / delta
    if manifold == "sphere":
        K = (math.sqrt((m - 1.0) ** 2 + 4.0 * M**2) - (m - 1.0)) / 2.0
        ln_E = float(np.logaddexp(_log_binom(m + K, m), _log_binom(m + K - 1.0, m)))
        # log of the area of the unit m-sphere S^m (in R^{m+1})
        ln_vol_unit = (
            math.log(2.0) + (m + 1) / 2 * math.log(math.pi) - gammaln((m + 1) / 2)
        )
        ln_vol = ln_vol_unit + m * math.log(R)
    else:
        K = M
        ln_E = m / 2 * math.log(math.pi) + m * math.log(K) - float(gammaln(m / 2 + 1))
        ln_vol = m * math.log(2.0 * math.pi * R)
    L_f = K * math.sqrt(D) / R
    # W = sqrt(m/6) * (P * volume / n)^(1/m); the volume carries the R^m.
    ln_W = 0.5 * math.log(m / 6.0) + (math.log(P) + ln_vol - math.log(n)) / m
    W = math.exp(ln_W)

    ln_dim_theta = math.log(2.0 * D * P) + ln_E
    ln_nD = math.log(n * D)
    if ln_dim_theta > ln_nD:
        ln_q = ln_dim_theta + math.log1p(-math.exp(ln_nD - ln_dim_theta))
        log10_q = ln_q / _LN10
        dim_theta_q = _from_log10(log10_q)
    else:
        log10_q = math.nan
        dim_theta_q = math.exp(ln_dim_theta) - n * D
    log2_ratio = (
        math.log(B) + 0.5 * math.log(D * P) + math.log(L_f) + ln_W - math.log(eps)
    ) / _LN2

    reasons = []
    if not dim_theta_q > 0:
        reasons.append(
            f"dim_theta_q = 2·D·P·E - n·D <= 0 (log10 2DPE = "
            f"{ln_dim_theta / _LN10:.3g}, log10 nD = {ln_nD / _LN10:.3g}): the "
            "training data pin down every band-limited hypothesis"
        )
    if not log2_ratio > 0:
        reasons.append(
            f"log2(B·sqrt(DP)·L_f·W/eps) = {log2_ratio:.3g} <= 0: eps is above the "
            "scale of the hypotheses' outputs"
        )
    if reasons:
        warnings.warn(
            "inductive_bias_complexity: vacuous bound, returning 0 bits because "
            + "; and ".join(reasons),
            UserWarning,
            stacklevel=2,
        )
        bits, log10_bits = 0.0, _LOG10_TINY
    else:
        log10_bits = log10_q + math.log10(log2_ratio)
        bits = _from_log10(log10_bits)

    parts = DifficultyParts(
        manifold=manifold,
        n=n,
        m=m,
        R=R,
        delta=delta,
        eps=eps,
        D=D,
        P=P,
        B=B,
        M=M,
        K=K,
        log10_E=ln_E / _LN10,
        E=_from_log10(ln_E / _LN10),
        W=W,
        L_f=L_f,
        log10_dim_theta=ln_dim_theta / _LN10,
        dim_theta=_from_log10(ln_dim_theta / _LN10),
        log10_dim_theta_q=log10_q,
        dim_theta_q=dim_theta_q,
        log2_ratio=log2_ratio,
    )
    return Difficulty(bits=bits, log10_bits=log10_bits, parts=parts, label=label)


def rl_difficulty(
    *, obs_dim: int, act_dim: int, n_steps: float, delta: float, eps: float
) -> Difficulty:
    """Closed-form difficulty of a fully observed RL task (torus form).

    Observations live on ``[0, 2π)^obs_dim`` (``R = 1``), the policy outputs
    ``act_dim`` numbers (``D``), and ``n_steps`` training timesteps are the data.

    Examples
    --------
    >>> d = rl_difficulty(obs_dim=6, act_dim=2, n_steps=1e6, delta=1e-3, eps=1e-3)
    >>> f"{d.bits:.4g}"
    '2.914e+25'
    """
    return inductive_bias_complexity(
        n=n_steps,
        m=obs_dim,
        R=1.0,
        delta=delta,
        eps=eps,
        out_dim=act_dim,
        n_discrete=1,
        bound=1.0,
        manifold="torus",
    )


def pomdp_difficulty(
    *,
    history: int,
    obs_dim_per_step: int,
    act_dim: int,
    n_steps: float,
    delta: float,
    eps: float,
) -> Difficulty:
    """Difficulty of a POMDP whose optimal policy needs ``history`` observations.

    The policy input is the ``history`` stacked observations, so
    ``m = history * obs_dim_per_step``; ``history = 1`` is the MDP.

    Examples
    --------
    >>> d = pomdp_difficulty(history=2, obs_dim_per_step=2, act_dim=1,
    ...                      n_steps=10_000, delta=1e-3, eps=1e-3)
    >>> f"{d.bits:.4g}"
    '3.326e+17'
    """
    h = check_positive_int(history, "history", integral_floats=True)
    k = check_positive_int(obs_dim_per_step, "obs_dim_per_step", integral_floats=True)
    return rl_difficulty(
        obs_dim=h * k, act_dim=act_dim, n_steps=n_steps, delta=delta, eps=eps
    )


def few_shot_difficulty(
    *, n_way: int, k_shot: int, m: float, R: float, delta: float, eps: float
) -> Difficulty:
    """Difficulty of one N-way k-shot episode (e.g. Omniglot 20-way 1-shot).

    Mapping used: an episode is a classification task on its own, with
    ``n = n_way * k_shot`` training points, ``P = n_way`` classes (one manifold
    component each), ``D = n_way - 1`` and ``B = 1``; ``m``, ``R``, ``delta`` are
    those of the image manifold. Meta-training data do not enter: whatever a
    meta-learner extracted from them is part of the inductive bias being measured.

    Examples
    --------
    >>> d = few_shot_difficulty(n_way=20, k_shot=1, m=10, R=10.0, delta=1.0,
    ...                         eps=0.01)
    >>> d.bits > 0
    True
    """
    N = check_positive_int(n_way, "n_way", integral_floats=True)
    if N < 2:
        raise ValueError(f"n_way must be >= 2, got {n_way!r}")
    k = check_positive_int(k_shot, "k_shot", integral_floats=True)
    return inductive_bias_complexity(
        n=N * k,
        m=m,
        R=R,
        delta=delta,
        eps=eps,
        out_dim=N - 1,
        n_discrete=N,
        label=f"{N}-way {k}-shot",
    )


def product_difficulty(a: Difficulty, b: Difficulty) -> Difficulty:
    """Difficulty of solving two tasks jointly (the task product).

    The product's hypothesis space is the product of the two, and a hypothesis
    generalizes on the product iff both factors do; with independent factors the
    probabilities multiply, so the **bits add**: ``bits = a.bits + b.bits``
    (``log10_bits`` combined with logaddexp, so it stays finite).

    Examples
    --------
    >>> a = rl_difficulty(obs_dim=2, act_dim=1, n_steps=1e4, delta=1e-3, eps=1e-3)
    >>> product_difficulty(a, a).bits == 2 * a.bits
    True
    """
    for name, d in (("a", a), ("b", b)):
        if not isinstance(d, Difficulty):
            raise ValueError(f"{name} must be a Difficulty, got {type(d).__name__}")
    log10_bits = float(np.logaddexp(a.log10_bits * _LN10, b.log10_bits * _LN10))
    log10_bits /= _LN10
    bits = a.bits + b.bits
    return Difficulty(
        bits=bits,
        log10_bits=log10_bits,
        parts=None,
        factors=(a, b),
        label=" × ".join(x for x in (a.label, b.label) if x),
    )


def _spec_value(spec: Any, name: str, agent: str | None) -> Any:
    if not hasattr(spec, name):
        raise ValueError(f"the task spec ({type(spec).__name__}) has no field {name!r}")
    value = getattr(spec, name)
    if isinstance(value, Mapping):
        if agent is None:
            if len(value) != 1:
                raise ValueError(
                    f"task_spec().{name} is per agent ({sorted(value)}): pass agent="
                )
            return next(iter(value.values()))
        if agent not in value:
            raise ValueError(
                f"agent {agent!r} not in task_spec().{name}: {sorted(value)}"
            )
        return value[agent]
    return value


@runtime_checkable
class TaskSpecLike(Protocol):
    """What :func:`task_difficulty` reads from a task: the fields of an env's
    ``task_spec()`` record. Any object with these attributes fits (a field may be
    a mapping from agent name to value); :mod:`analysis` never imports the envs.
    """

    obs_dim: Any
    """Observation size per agent and step."""
    act_dim: Any
    """Action dimension."""
    history: Any
    """Consecutive observations the optimal policy needs."""
    delta: Any
    """Resolution: smallest input distance to resolve."""
    eps: Any
    """Default target error."""


_SPEC_FIELDS = ("obs_dim", "act_dim", "history", "delta", "eps")


def task_difficulty(
    task: Any,
    *,
    n_steps: float,
    eps: float | None = None,
    agent: str | None = None,
    spec_options: Mapping[str, Any] | None = None,
    input_history: int | None = None,
    label: str | None = None,
) -> Difficulty:
    """Closed-form difficulty of a task from its spec record.

    Parameters
    ----------
    task : TaskSpecLike or object with ``task_spec()``
        A spec record (any object with ``obs_dim, act_dim, history, delta, eps``,
        see :class:`TaskSpecLike`), or an env (batched core, PettingZoo or
        Gymnasium face) whose ``task_spec()`` returns one. Not a name: look the
        env up first (``experiments.gendiff.env_task_difficulty`` does it by
        name).
    n_steps : float
        Training timesteps (the data size ``n``).
    eps : float, optional
        Target error; default the spec's ``eps``.
    agent : str, optional
        Which agent: passed to ``task_spec(agent=...)`` when it takes an ``agent``
        argument, otherwise used to pick from per-agent mappings in the spec.
    spec_options : mapping, optional
        Extra keyword arguments of ``task_spec`` (e.g. ``{"channel": False}`` for
        ``referential_v0``'s listener without the message); only with an env.
    input_history : int, optional
        Stacked observations the policy is actually given, when it differs from
        the spec's ``history`` (what the *optimal* policy needs, the default).
        Below the spec's history the input cannot determine the optimal action;
        the number then measures the smaller hypothesis space only.
    label : str, optional
        Name of the result (default: the env's ``name`` attribute or type name,
        with ``:agent`` appended when an agent is given).

    Notes
    -----
    ``m = obs_dim * history`` (``obs_dim`` is per step, ``history`` is the number of
    consecutive observations the optimal policy needs), ``D = act_dim``, torus form
    with ``R = 1``: this is :func:`pomdp_difficulty`.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> spec = SimpleNamespace(obs_dim=2, act_dim=1, history=2, delta=1e-3, eps=1e-3)
    >>> f"{task_difficulty(spec, n_steps=10_000).bits:.4g}"
    '3.326e+17'
    >>> env = SimpleNamespace(task_spec=lambda: spec, name="toy")
    >>> task_difficulty(env, n_steps=10_000).label
    'toy'
    """
    if isinstance(task, str):
        raise TypeError(
            f"task_difficulty takes a task spec or an env with task_spec(), got the "
            f"name {task!r}: look the env up first, e.g. "
            f"experiments.gendiff.env_task_difficulty({task!r}, n_steps=...) or "
            f"task_difficulty(envs.make_vec({task!r}, 1), n_steps=...)"
        )
    kwargs = dict(spec_options or {})
    pick = agent
    if callable(getattr(task, "task_spec", None)):
        if agent is not None:
            try:
                params = inspect.signature(task.task_spec).parameters
            except (TypeError, ValueError):  # builtins without a signature
                params = {}
            if "agent" in params:
                kwargs["agent"] = agent
                pick = None
        spec = task.task_spec(**kwargs)
        name = getattr(task, "name", None)
        name = name if isinstance(name, str) else type(task).__name__
    elif any(hasattr(task, f) for f in _SPEC_FIELDS):
        if kwargs:
            raise ValueError("spec_options apply to an env's task_spec(), not a spec")
        spec, name = task, type(task).__name__
    else:
        raise ValueError(
            "task must be a task spec (obs_dim, act_dim, history, delta, eps) or an "
            f"object with task_spec(), got {type(task).__name__}"
        )
    obs_dim = _spec_value(spec, "obs_dim", pick)
    act_dim = _spec_value(spec, "act_dim", pick)
    history = _spec_value(spec, "history", pick)
    if input_history is not None:
        history = check_positive_int(
            input_history, "input_history", integral_floats=True
        )
    delta = _spec_value(spec, "delta", pick)
    eps = _spec_value(spec, "eps", pick) if eps is None else eps
    d = pomdp_difficulty(
        history=history,
        obs_dim_per_step=obs_dim,
        act_dim=act_dim,
        n_steps=n_steps,
        delta=delta,
        eps=eps,
    )
    if label is None:
        label = name if agent is None else f"{name}:{agent}"
    return Difficulty(bits=d.bits, log10_bits=d.log10_bits, parts=d.parts, label=label)


# ------------------------------------------------------------------------ estimators
_SPREAD_KS = (3, 5, 10, 20)


def intrinsic_dimension(
    X: Any, *, k: int = 5, n_samples: int | None = None, seed: int = 0
) -> IntrinsicDimension:
    """Levina–Bickel MLE of the intrinsic dimension (``skdim.id.MLE``).

    The pointwise estimates are combined by the harmonic mean (MacKay–Ghahramani),
    skdim's ``comb="mle"``. Duplicate rows are dropped first (a zero
    neighbour distance makes the estimate NaN, and a repeated point says nothing
    about the dimension); ``n_points`` counts the distinct points used.
    ``per_k`` holds the estimate for k in {3, 5, 10, 20} (those below the number
    of points) and ``k``, to show the spread.

    Parameters
    ----------
    X : array of shape (n_points, n_features)
    k : int, default=5
        Neighbours.
    n_samples : int, optional
        Estimate on a random subset of this many points.
    seed : int, default=0

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 10))
    >>> round(intrinsic_dimension(X).m)
    3
    """
    import skdim

    arr = _check_X(X)
    k = check_positive_int(k, "k", integral_floats=True)
    # Duplicate points are at distance 0: their log-distance ratios are infinite
    # and the MLE would be NaN. They carry no information on the dimension, so
    # only distinct points are used (documented above).
    arr = np.unique(arr, axis=0)
    if arr.shape[0] < 2:
        raise ValueError("X has fewer than 2 distinct points")
    if n_samples is not None:
        n_samples = check_positive_int(n_samples, "n_samples", integral_floats=True)
        if n_samples < arr.shape[0]:
            idx = np.random.default_rng(seed).choice(arr.shape[0], n_samples, False)
            arr = arr[idx]
    if k >= arr.shape[0]:
        raise ValueError(
            f"k must be < number of distinct points {arr.shape[0]}, got {k}"
        )
    if arr.shape[1] < 2:  # skdim needs 2 features; a line is 1-dimensional
        return IntrinsicDimension(m=1.0, k=k, per_k={k: 1.0}, n_points=arr.shape[0])
    per_k = {}
    for kk in sorted({*_SPREAD_KS, k}):
        if kk < arr.shape[0]:
            est = skdim.id.MLE(K=kk).fit(arr, n_neighbors=kk)
            per_k[kk] = float(est.dimension_)
    if not np.isfinite(per_k[k]):
        raise ValueError(
            f"intrinsic dimension is not finite (got {per_k[k]}) for {arr.shape[0]} "
            "distinct points"
        )
    return IntrinsicDimension(m=per_k[k], k=k, per_k=per_k, n_points=arr.shape[0])


def max_norm(X: Any) -> float:
    """Largest Euclidean row norm of ``X`` (the radius R of the closed form).

    Examples
    --------
    >>> max_norm([[3.0, 4.0], [1.0, 0.0]])
    5.0
    """
    arr = _check_X(X)
    return float(np.linalg.norm(arr, axis=1).max())


def _nearest_interclass(
    X: np.ndarray, y: np.ndarray, min_dist: float, chunk: int = 512
) -> np.ndarray:
    """Per point: distance to the nearest point of another class that is >= min_dist."""
    out = np.full(X.shape[0], np.inf)
    for start in range(0, X.shape[0], chunk):
        d = cdist(X[start : start + chunk], X)
        d[y[start : start + chunk, None] == y[None, :]] = np.inf
        d[d < min_dist] = np.inf
        out[start : start + chunk] = d.min(axis=1)
    return out


def _moment_endpoint(x: np.ndarray, n_tail: int) -> tuple[float, float]:
    """Dekkers–Einmahl–de Haan moment estimator: (gamma, upper endpoint) of x > 0."""
    xs = np.sort(x)
    thr = xs[-n_tail - 1]
    logs = np.log(xs[-n_tail:]) - np.log(thr)
    M1 = float(np.mean(logs))
    M2 = float(np.mean(logs**2))
    gamma_minus = 1.0 - 0.5 / (1.0 - M1**2 / M2)
    gamma = M1 + gamma_minus
    if gamma_minus >= 0 or gamma >= 0:
        return gamma, math.inf
    scale = thr * M1 * (1.0 - gamma_minus)
    return gamma, thr - scale / gamma_minus


def min_interclass_distance(
    X: Any,
    y: Any,
    *,
    method: Literal["sample", "evt"] = "sample",
    min_dist: float = 1.0,
    n_samples: int = 2000,
    n_tail: int | None = None,
    seed: int = 0,
) -> float:
    """Resolution δ: smallest distance between points of different classes.

    ``"sample"``: the minimum over all different-class pairs of a random subset of
    ``n_samples`` points, ignoring distances below ``min_dist`` (as the reference
    does, to skip near-duplicates across classes). ``"evt"``: take each subset
    point's nearest different-class distance ``d_i`` (>= ``min_dist``) and
    extrapolate the lower endpoint of their law with the Dekkers–Einmahl–de Haan
    moment estimator applied to ``1/d_i`` (upper endpoint ``x*`` gives
    ``δ = 1/x*``) using the ``n_tail`` (default ``sqrt(n)``) largest values; the
    result is capped at the sample minimum, and falls back to it (with a warning)
    when the fitted tail has no finite endpoint.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 3.0], [4.0, 0.0]])
    >>> min_interclass_distance(X, [0, 0, 1])
    4.0
    """
    arr, lab = _check_Xy(X, y)
    if method not in ("sample", "evt"):
        raise ValueError(f"method must be 'sample' or 'evt', got {method!r}")
    if not (math.isfinite(float(min_dist)) and float(min_dist) >= 0):
        raise ValueError(f"min_dist must be >= 0, got {min_dist!r}")
    n_samples = check_positive_int(n_samples, "n_samples", integral_floats=True)
    if n_samples < arr.shape[0]:
        idx = np.random.default_rng(seed).choice(arr.shape[0], n_samples, False)
        arr, lab = arr[idx], lab[idx]
    d = _nearest_interclass(arr, lab, float(min_dist))
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ValueError(
            f"no different-class pair at distance >= min_dist={min_dist} in the subset"
        )
    d_min = float(d.min())
    if method == "sample":
        return d_min
    k = int(n_tail) if n_tail is not None else max(int(math.sqrt(d.size)), 5)
    if not 2 <= k < d.size:
        raise ValueError(f"n_tail must be in [2, {d.size - 1}], got {k}")
    gamma, endpoint = _moment_endpoint(1.0 / d, k)
    if not math.isfinite(endpoint):
        warnings.warn(
            f"min_interclass_distance: moment estimator gamma={gamma:.3g} >= 0, the "
            "lower tail has no finite endpoint; returning the sample minimum",
            UserWarning,
            stacklevel=2,
        )
        return d_min
    return float(min(d_min, 1.0 / endpoint))


def classification_difficulty(
    X: Any,
    y: Any,
    *,
    eps: float,
    k: int = 5,
    delta_method: Literal["sample", "evt"] = "sample",
    n_samples: int = 2000,
    min_dist: float = 1.0,
    n: int | None = None,
    seed: int = 0,
) -> ClassificationDifficulty:
    """Closed-form difficulty of a classification data set, estimating m, δ, R.

    ``m`` is :func:`intrinsic_dimension` (at ``k``, rounded to an integer >= 1: a
    manifold's dimension), ``δ`` is :func:`min_interclass_distance`, ``R`` is
    :func:`max_norm`, ``n`` defaults to ``len(X)``; then ``P = C``, ``D = C - 1``,
    ``B = 1`` on a sphere. Scale pixels to [0, 1] first (the reference does).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 5)) * 3
    >>> r = classification_difficulty(X, (X[:, 0] > 0).astype(int), eps=0.01,
    ...                               min_dist=0.0)
    >>> r.m, r.n_classes
    (2.0, 2)
    """
    arr, lab = _check_Xy(X, y)
    eps = check_positive_number(eps, "eps")
    dim = intrinsic_dimension(arr, k=k, n_samples=n_samples, seed=seed)
    m = float(max(1, round(dim.m)))
    delta = min_interclass_distance(
        arr, lab, method=delta_method, min_dist=min_dist, n_samples=n_samples, seed=seed
    )
    R = max_norm(arr)
    n_train = (
        arr.shape[0] if n is None else check_positive_int(n, "n", integral_floats=True)
    )
    C = int(np.unique(lab).size)
    d = inductive_bias_complexity(
        n=n_train, m=m, R=R, delta=delta, eps=eps, out_dim=C - 1, n_discrete=C
    )
    return ClassificationDifficulty(
        difficulty=d,
        m=m,
        m_raw=dim.m,
        delta=delta,
        R=R,
        n=n_train,
        n_classes=C,
        dimension=dim,
    )


# ------------------------------------------------------------------ sampled measure
def log_norm_cdf(z: Any) -> np.ndarray:
    """log Φ(z) keeping the Mills-ratio term in the far lower tail.

    For ``z < -10`` it uses the asymptotic (Mills-ratio) series::

        log Φ(z) = -z²/2 - log(-z) - ½log(2π)
                   + log(1 - 1/z² + 3/z⁴ - 15/z⁶ + 105/z⁸ - 945/z¹⁰)

    (truncation error below 1e-8 there),
    finite for any finite ``z``; elsewhere ``scipy.special.log_ndtr``.

    Examples
    --------
    >>> float(np.round(log_norm_cdf(-40.0), 3))
    -804.608
    """
    z = np.asarray(z, dtype=float)
    out = np.asarray(log_ndtr(z), dtype=float)
    tail = z < -10.0
    if np.any(tail):
        zt = z[tail]
        u = 1.0 / zt**2
        series = 1.0 - u + 3.0 * u**2 - 15.0 * u**3 + 105.0 * u**4 - 945.0 * u**5
        out[tail] = (
            -0.5 * zt**2 - np.log(-zt) - 0.5 * math.log(2 * math.pi) + np.log(series)
        )
    return out


def _log_lower_gamma_regularized(a: np.ndarray, z: float) -> np.ndarray:
    """``log P(a, z)`` (regularized lower incomplete gamma) for an array of ``a``.

    ``scipy.special.gammainc`` where its value is a normal float; below that
    (``z`` far left of ``a``, where it underflows) the convergent series
    ``P(a, z) = z^a e^-z / Γ(a+1) · Σ_n z^n / ((a+1)…(a+n))``, summed in log
    space: its terms fall at least as fast as ``z / (a + 1) < 1`` there.
    """
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.log(special.gammainc(a, z))
    small = ~(out > _LOG_TINY_P)
    if np.any(small):
        aa = a[small]
        total = np.ones_like(aa)
        term = np.ones_like(aa)
        for n in range(1, 100_000):
            term = term * z / (aa + n)
            total = total + term
            if np.all(term <= 1e-17 * total):
                break
        out[small] = aa * math.log(z) - z - gammaln(aa + 1.0) + np.log(total)
    return out


def ncx2_logcdf(x: Any, df: float, nc: float) -> np.ndarray | float:
    """Natural log of the non-central chi-squared CDF, exact in the deep lower tail.

    The CDF is the Poisson mixture of central chi-squared CDFs::

        F(x; k, λ) = Σ_j Pois(j; λ/2) · P(k/2 + j, x/2)

    (``P`` the regularized lower incomplete gamma). Each term is taken in log
    space and the mixture is summed with ``logsumexp``, so the value stays exact
    where ``scipy.stats.ncx2.logcdf`` returns ``-inf``; where ``P`` itself
    underflows, its convergent small-``x`` series is used. Above the median the
    result is ``log1p(-SF)`` with ``SF`` the same mixture of upper tails, so
    values near 0 keep their relative precision. The Poisson sum runs over every
    ``j`` whose weight can matter (``λ/2 ± 40·sqrt(λ/2 + 1)``, widened towards
    ``x/2``).

    Parameters
    ----------
    x : float or array-like
        Points, ``>= 0`` (``log F(0) = -inf``).
    df : float
        Degrees of freedom ``k > 0``.
    nc : float
        Non-centrality ``λ >= 0`` (0 is the central law).

    Returns
    -------
    float or numpy.ndarray
        Same shape as ``x``; ``<= 0``, non-decreasing in ``x``. Checked against
        mpmath (50 digits) to 1e-6 relative for ``df <= 1000``, ``nc <= 500`` and
        ``x`` from ``1e-300`` times the mean to the upper tail
        (``tests/test_difficulty.py``).

    Examples
    --------
    >>> round(float(ncx2_logcdf(1e-200 * 6.0, 4.0, 2.0)), 2)  # scipy: -inf
    -920.53
    >>> from scipy import stats
    >>> bool(np.isclose(ncx2_logcdf(3.0, 4.0, 2.0), stats.ncx2.logcdf(3.0, 4, 2)))
    True
    """
    df = check_positive_number(df, "df")
    if isinstance(nc, bool) or not np.isfinite(nc) or nc < 0:
        raise ValueError(f"nc must be a finite number >= 0, got {nc!r}")
    nc = float(nc)
    arr = np.asarray(x, dtype=np.float64)
    if np.any(~np.isfinite(arr) & ~np.isposinf(arr)) or np.any(arr < 0):
        raise ValueError("x must be >= 0 (and not NaN)")
    flat = arr.ravel()
    out = np.empty_like(flat)
    half = nc / 2.0
    for i, xi in enumerate(flat):
        if xi == 0.0:
            out[i] = -math.inf
            continue
        if math.isinf(xi):
            out[i] = 0.0
            continue
        z = xi / 2.0
        spread = 40.0 * math.sqrt(half + 1.0) + 50.0
        j_hi = half + spread + max(0.0, min(z, 1e6) - df / 2.0 - half)
        j = np.arange(0, int(j_hi) + 1, dtype=np.float64)
        log_w = (
            -half + j * math.log(half) - gammaln(j + 1.0)
            if nc > 0
            else np.where(j == 0, 0.0, -math.inf)
        )
        a = df / 2.0 + j
        log_f = float(special.logsumexp(log_w + _log_lower_gamma_regularized(a, z)))
        if log_f > math.log(0.5):
            # Upper half: the survival mixture keeps log F's relative precision.
            sf = float(np.sum(np.exp(log_w) * special.gammaincc(a, z)))
            log_f = math.log1p(-min(sf, 1.0))
        out[i] = min(log_f, 0.0)
    out = out.reshape(arr.shape)
    return float(out) if out.ndim == 0 else out


def _ncx2_neg_logcdf(eps: float, df: float, nc: float, scale: float) -> float:
    """-log F(eps) in nats for a ncx2 scaled by ``scale`` (exact, log space)."""
    return -float(ncx2_logcdf(eps / scale, df, nc))


def _ncx2_starts(x: np.ndarray) -> list[tuple[float, float, float]]:
    """Starting points (df, nc, scale) matching the sample mean and variance."""
    mu, var = float(np.mean(x)), float(np.var(x))
    starts = []
    for r in (0.0, 0.5, 2.0, 10.0):  # nc = r * df
        scale = var * (1 + r) / (2 * mu * (1 + 2 * r))
        df = mu / (scale * (1 + r))
        starts.append((df, max(r * df, 1e-3), scale))
    return starts


def _fit_ncx2(
    x: np.ndarray, starts: list[tuple[float, float, float]] | None = None
) -> tuple[float, float, float]:
    """Maximum-likelihood (df, nc, scale) of a ncx2 with loc 0, multi-start.

    The likelihood has a long flat ridge along df vs nc, so one local search from
    one start is not reliable; Nelder-Mead in log-parameters from several
    moment-matched starts, keeping the best.
    """
    from scipy.optimize import minimize

    def nll(theta: np.ndarray) -> float:
        df, nc, scale = np.exp(np.clip(theta, -30.0, 30.0))
        v = -np.sum(stats.ncx2.logpdf(x, df, nc, loc=0.0, scale=scale))
        return float(v) if np.isfinite(v) else 1e300

    best, best_val = None, math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for start in starts or _ncx2_starts(x):
            res = minimize(
                nll,
                np.log(start),
                method="Nelder-Mead",
                options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000},
            )
            if res.fun < best_val:
                best, best_val = res.x, res.fun
    df, nc, scale = np.exp(best)
    return float(df), float(nc), float(scale)


def sampled_inductive_bias(
    losses: Any,
    eps: float,
    *,
    family: Literal["ncx2"] = "ncx2",
    units: Literal["bits", "nats"] = "bits",
    n_bootstrap: int = 100,
    seed: int = 0,
) -> SampledBias:
    """Sampled inductive bias ``-log P(L_test(h) <= eps)`` (Boopathy et al. 2024).

    Fits a scaled non-central chi-squared law (``scipy.stats.ncx2``, loc fixed at
    0; maximum likelihood from several moment-matched starts, because the
    likelihood is nearly flat along a df-vs-nc ridge) to the test losses of sampled
    hypotheses that fit the training data and evaluates ``-logcdf(eps)`` with
    :func:`ncx2_logcdf`, exact in log space however deep the tail (scipy's
    ``ncx2.logcdf`` returns ``-inf`` there), so the value grows monotonically as
    ``eps -> 0``. The bootstrap refits start at the full-sample fit.

    Parameters
    ----------
    losses : array of shape (S,)
        Test losses of S sampled hypotheses (non-negative).
    eps : float
        Target test loss.
    family : {"ncx2"}
    units : {"bits", "nats"}, default="bits"
        The reference code reports nats.
    n_bootstrap : int, default=100
        Bootstrap refits for the percentile interval (0 disables it: nan bounds).
    seed : int, default=0

    Examples
    --------
    >>> from scipy import stats
    >>> losses = stats.ncx2.rvs(4, 2, scale=0.1, size=100, random_state=0)
    >>> r = sampled_inductive_bias(losses, 0.02, n_bootstrap=0)
    >>> r.extrapolated, r.value > 0
    (True, True)
    """
    arr = np.asarray(losses, dtype=float).ravel()
    if arr.size < 5:
        raise ValueError(f"losses needs at least 5 values, got {arr.size}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("losses must be finite and non-negative")
    if np.all(arr == arr[0]):
        raise ValueError("losses are all equal: no spread to fit a law to")
    eps = check_positive_number(eps, "eps")
    if family != "ncx2":
        raise ValueError(f"family must be 'ncx2', got {family!r}")
    if units not in ("bits", "nats"):
        raise ValueError(f"units must be 'bits' or 'nats', got {units!r}")
    n_bootstrap = int(n_bootstrap)
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    conv = 1.0 / _LN2 if units == "bits" else 1.0
    pos = np.maximum(arr, np.finfo(float).tiny)  # ncx2 support excludes exact zeros

    df, nc, scale = _fit_ncx2(pos)
    value = _ncx2_neg_logcdf(eps, df, nc, scale)
    ks = stats.kstest(pos, stats.ncx2(df, nc, loc=0.0, scale=scale).cdf)

    boots = []
    rng = np.random.default_rng(seed)
    for _ in range(n_bootstrap):
        sample = rng.choice(pos, size=pos.size, replace=True)
        if np.all(sample == sample[0]):
            continue
        b = _fit_ncx2(sample, [(df, nc, scale)])  # warm start at the full fit
        boots.append(_ncx2_neg_logcdf(eps, *b))
    if boots:
        lo, hi = np.percentile(boots, [2.5, 97.5])
    else:
        lo = hi = math.nan
    k = int(np.sum(arr <= eps))
    empirical = -math.log(k / arr.size) * conv if k > 0 else None
    return SampledBias(
        value=value * conv,
        units=units,
        eps=eps,
        extrapolated=bool(eps < arr.min()),
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        ci_low=float(lo) * conv,
        ci_high=float(hi) * conv,
        empirical=empirical,
        df=df,
        nc=nc,
        scale=scale,
        n_samples=int(arr.size),
        approximated=False,
    )


# ---------------------------------------------------------------- hypothesis samplers
def _one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((y.shape[0], n_classes))
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def trained_network_losses(
    X_tr: Any,
    y_tr: Any,
    X_te: Any,
    y_te: Any,
    *,
    width: int = 64,
    depth: int = 2,
    n_samples: int = 32,
    epochs: int = 300,
    lr: float = 1e-2,
    seed: int = 0,
) -> np.ndarray:
    """Test losses of MLPs trained from fresh random starts to fit the training set.

    All ``n_samples`` networks (``depth`` hidden ReLU layers of ``width``) are one
    batched tensor computation (``torch.bmm`` over a leading network axis), trained
    full-batch with Adam for ``epochs`` steps on the MSE to one-hot targets. Returns
    each network's per-element test MSE against one-hot targets, shape
    ``(n_samples,)``. Labels must be integers ``0..C-1``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
    >>> trained_network_losses(X[:30], y[:30], X[30:], y[30:], width=8, depth=1,
    ...                        n_samples=4, epochs=20).shape
    (4,)
    """
    import torch

    Xtr, ytr = _check_Xy(X_tr, y_tr)
    Xte = _check_X(X_te, "X_te")
    yte = np.asarray(y_te)
    if Xte.shape[1] != Xtr.shape[1] or yte.shape != (Xte.shape[0],):
        raise ValueError(
            f"X_te/y_te shapes {Xte.shape}/{yte.shape} do not match X_tr {Xtr.shape}"
        )
    for name, v in (("width", width), ("depth", depth), ("n_samples", n_samples)):
        check_positive_int(v, name, integral_floats=True)
    check_positive_int(epochs, "epochs", integral_floats=True)
    lr = check_positive_number(lr, "lr")
    ytr = ytr.astype(int)
    yte = yte.astype(int)
    C = int(max(ytr.max(), yte.max())) + 1
    if min(ytr.min(), yte.min()) < 0:
        raise ValueError("labels must be integers in 0..C-1")

    g = torch.Generator().manual_seed(int(seed))
    S = int(n_samples)
    sizes = [Xtr.shape[1], *([int(width)] * int(depth)), C]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default init range
        W = (torch.rand(S, fan_in, fan_out, generator=g) * 2 - 1) * bound
        b = (torch.rand(S, 1, fan_out, generator=g) * 2 - 1) * bound
        params += [W.requires_grad_(), b.requires_grad_()]

    def forward(x: torch.Tensor) -> torch.Tensor:
        h = x.expand(S, *x.shape)
        for i in range(0, len(params), 2):
            h = torch.baddbmm(params[i + 1], h, params[i])
            if i + 2 < len(params):
                h = torch.relu(h)
        return h

    xtr = torch.as_tensor(Xtr, dtype=torch.float32)
    ttr = torch.as_tensor(_one_hot(ytr, C), dtype=torch.float32)
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(int(epochs)):
        opt.zero_grad()
        # sum over networks of each network's mean loss: independent gradients
        loss = ((forward(xtr) - ttr) ** 2).mean(dim=(1, 2)).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        xte = torch.as_tensor(Xte, dtype=torch.float32)
        tte = torch.as_tensor(_one_hot(yte, C), dtype=torch.float32)
        out = ((forward(xte) - tte) ** 2).mean(dim=(1, 2))
    return out.numpy().astype(float)


def _rbf(A: np.ndarray, B: np.ndarray, lengthscale: float) -> np.ndarray:
    return np.exp(-cdist(A, B, "sqeuclidean") / (2.0 * lengthscale**2))


def gp_posterior_losses(
    X_tr: Any,
    Y_tr: Any,
    X_te: Any,
    Y_te: Any,
    *,
    lengthscale: float = 1.0,
    n_samples: int = 100,
    jitter: float = 1e-6,
    seed: int = 0,
) -> np.ndarray:
    """Test losses of Gaussian-process posterior samples that interpolate the data.

    Zero-mean GP prior with RBF kernel ``exp(-|x-x'|²/(2ℓ²))`` per output column,
    conditioned on noise-free training targets (``jitter`` on the diagonal for
    numerical stability) with exact Cholesky solves (``scipy.linalg.cho_factor`` /
    ``cho_solve``). Returns each sample's per-element test MSE against ``Y_te``,
    shape ``(n_samples,)``. ``Y_*`` are 2-D targets (e.g. one-hot), or 1-D.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 2)); Y = np.sin(X[:, :1])
    >>> gp_posterior_losses(X[:20], Y[:20], X[20:], Y[20:], n_samples=5).shape
    (5,)
    """
    Xtr = _check_X(X_tr, "X_tr")
    Xte = _check_X(X_te, "X_te")
    Ytr = np.asarray(Y_tr, dtype=float)
    Yte = np.asarray(Y_te, dtype=float)
    Ytr = Ytr[:, None] if Ytr.ndim == 1 else Ytr
    Yte = Yte[:, None] if Yte.ndim == 1 else Yte
    if Xte.shape[1] != Xtr.shape[1]:
        raise ValueError(f"X_te has {Xte.shape[1]} features, X_tr {Xtr.shape[1]}")
    if Ytr.shape[0] != Xtr.shape[0] or Yte.shape != (Xte.shape[0], Ytr.shape[1]):
        raise ValueError(
            f"target shapes Y_tr {Ytr.shape}, Y_te {Yte.shape} do not match "
            f"X_tr {Xtr.shape}, X_te {Xte.shape}"
        )
    ell = check_positive_number(lengthscale, "lengthscale")
    S = check_positive_int(n_samples, "n_samples", integral_floats=True)
    jitter = check_positive_number(jitter, "jitter")

    K = _rbf(Xtr, Xtr, ell) + jitter * np.eye(Xtr.shape[0])
    Ks = _rbf(Xte, Xtr, ell)
    cf = linalg.cho_factor(K, lower=True)
    mean = Ks @ linalg.cho_solve(cf, Ytr)  # [n_te, out]
    cov = _rbf(Xte, Xte, ell) - Ks @ linalg.cho_solve(cf, Ks.T)
    cov = 0.5 * (cov + cov.T) + jitter * np.eye(Xte.shape[0])
    L = linalg.cholesky(cov, lower=True)
    z = np.random.default_rng(seed).standard_normal((S, Xte.shape[0], Ytr.shape[1]))
    samples = mean[None] + np.einsum("ij,sjk->sik", L, z)
    return ((samples - Yte[None]) ** 2).mean(axis=(1, 2))
