"""The AIM claims under controls that change one thing: one study, one report.

The AIM paper (arXiv 2507.10566) claims that agents with an endogenous VQ-VAE symbol
system (1) develop effective communication, (2) use symbols with power-law
frequencies, (3) compress meanings, (4) converge semantically to a (Nash)
equilibrium, and (5) beat explicit-communication baselines. This study trains every
condition through ``experiments.aim`` (``aim.Args`` + ``aim.run_seed``, native
backend) and decides each claim, plus the field's next question (6: do more
compositional languages generalize better to held-out attribute combinations?), with
an explicit rule.

Controls
--------
Every talking condition runs next to its **controls**, which differ from it in one
option only, the env's ``message_control`` (a test compares the two ``aim.Args``):

``mute`` (*the* comm-off control)
    The listener hears a constant message; the speaker keeps its channel, its action
    head and its training (in the contextual PD each agent's C/D is still read off
    its own first symbol).
``shuffle`` (breaks the information, keeps the channel's statistics)
    The listener hears the message sent in another env of the batch.

The ``none`` channel (a speaker that always sends symbol 0) stays available as a
condition of its own; it is not a control, because in the PD it also fixes the
actions. The end-to-end Gumbel-softmax baseline (``gumbel_e2e``) has no ``shuffle``
control (the trainer cannot wire a message whose sender it does not know).

Claims
------
Each claim is one :class:`Claim` record: its title, the rule in words, the function
that applies the rule and the report's columns; the report prints the rule from the
same record the code applies. With fewer than 3 finished seeds a verdict is always
"inconclusive (too few seeds)"; ``--quick`` stamps the report "smoke test: verdicts
are not evidence". Intervals are 95% t-intervals over seeds clipped to each
metric's feasible range (named in the report).

How to run
----------
``python -m experiments.aim_study``
    The default grid: envs ``referential`` (with 20% of the attribute combinations
    held out), ``pd_faithful``, ``pd_hidden``; channels ``vq``, ``categorical``,
    ``categorical_ps`` and ``gumbel_e2e`` (referential only), every one with its
    ``mute`` and ``shuffle`` controls; seeds 0-4; 65,536 env steps per run (145
    runs; 15-30 s each on a shared 2-core CPU, about an hour). Add ``--channels ...
    none`` for the constant-speaker rows.
``python -m experiments.aim_study --full``
    Every channel (adds ``rvq`` and the PPO-trained ``gumbel``), the
    faithful-optimizer condition, 262,144 steps per run (hours on 2 cores).
``python -m experiments.aim_study --quick``
    A smoke run (about a minute): ``referential`` (``vq``, ``gumbel_e2e``) and
    ``pd_hidden`` (``vq``) with their controls, 2 seeds, 8,192 steps. Its verdicts
    are all inconclusive by construction.
``python -m experiments.aim_study --channels vq categorical --controls mute``
    A subset (``none``-channel rows only when asked for).

Envs: ``referential`` is ``referential_v0`` with ``holdout_fraction=0.2``
(``holdout_seed=0``); ``pd_faithful`` is ``contextual_pd_v0`` with ``payoff="aim"``
(both agents see the label: the reference game); ``pd_hidden`` is
``contextual_pd_v0`` with ``payoff="parity_coordination"``,
``label_visibility="sender_only"`` (the responder must read the message).

Results to expect
-----------------
``<out>/report.md`` (the rules, then a section per claim: a table over conditions
with the controls next to each row and verdict lines), ``learning_curves.png``,
``rank_frequency.png``, ``mi_over_training.png``,
``compositional_generalization.png``, ``results.csv`` / ``results.json`` (every
per-run number as a :class:`RunRecord`, with the absolute path of the run directory
it came from) and ``runs/<condition>/seed_<s>/`` (the ``experiments.aim`` run files).
Communication is expected to be effective in ``referential`` and ``pd_hidden``, and
not in ``pd_faithful``, where the muted control already reaches the optimum.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agents.results import RunSummary, TrainingDiverged
from agents.spec import PPOConfig, TrainSpec
from analysis.language import MessageReport
from experiments import aim
from experiments._cli import check_fields, describe, from_dict, parse_args, to_dict
from experiments._io import atomic_write_bytes, atomic_write_json, read_json
from experiments._progress import JobProgress

__all__ = [
    "CLAIMS",
    "Aggregates",
    "Args",
    "Claim",
    "Column",
    "Condition",
    "ConditionSummary",
    "Correlation",
    "Grid",
    "Interval",
    "RunRecord",
    "Verdict",
    "aggregate",
    "build_grid",
    "main",
    "mean_interval",
    "rank_correlation",
]

PROG = "python -m experiments.aim_study"


# ---------------------------------------------------------------- the grid's parts
@dataclass(frozen=True)
class EnvSetup:
    """One env of the study."""

    name: str
    config: Mapping[str, Any]
    description: str


@dataclass(frozen=True)
class ChannelSetup:
    """One channel condition: the aim channel, its options and the training path."""

    channel: str
    options: Mapping[str, Any]
    description: str
    differentiable: bool = False
    """The end-to-end Gumbel-softmax path (``TrainSpec.differentiable``)."""


HOLDOUT = {"holdout_fraction": 0.2, "holdout_seed": 0}
"""The referential game's held-out split of attribute combinations."""
ENVS: dict[str, EnvSetup] = {
    "referential": EnvSetup(
        "referential_v0",
        HOLDOUT,
        "Lewis referential game, 4 attributes x 4 values, 20% of the 256 "
        "combinations held out of training",
    ),
    "pd_faithful": EnvSetup(
        "contextual_pd_v0",
        {"payoff": "aim"},
        "AIM contextual PD, both see the label (the reference game)",
    ),
    "pd_hidden": EnvSetup(
        "contextual_pd_v0",
        {"payoff": "parity_coordination", "label_visibility": "sender_only"},
        "hidden-context PD: only the sender sees the label",
    ),
}
CHANNELS: dict[str, ChannelSetup] = {
    "vq": ChannelSetup("vq", {}, "AIM's VQ-VAE symbols, trained by PPO + VQ-VAE loss"),
    "rvq": ChannelSetup("rvq", {}, "residual VQ, one level per position"),
    "categorical": ChannelSetup("categorical", {}, "softmax policy, PPO"),
    "categorical_ps": ChannelSetup(
        "categorical",
        {"positive_signalling": 0.5},
        "softmax policy + Eccles et al. positive signalling",
    ),
    "gumbel": ChannelSetup("gumbel", {}, "Gumbel-softmax head trained by PPO"),
    "gumbel_e2e": ChannelSetup(
        "gumbel",
        {},
        "EGG-style end-to-end straight-through Gumbel-softmax (tau 1): the "
        "listener's loss trains the speaker through the relaxed message",
        differentiable=True,
    ),
    "none": ChannelSetup("none", {}, "a speaker that always sends symbol 0"),
}
AIM_CHANNEL = "vq"
BASELINES = ("categorical", "categorical_ps", "gumbel", "gumbel_e2e")
"""The explicit-communication baselines the AIM channel is compared with."""
CONTROLS = ("mute", "shuffle")
FAITHFUL_OPT = {"accumulate_grads": True, "lr_decay": 0.9995, "ent_decay": 0.9999}
COMPOSITIONALITY = ("topsim", "posdis", "bosdis")

MIN_SEEDS = 3
MI_MIN_BITS = 0.1
LEVEL = 0.05
POWER_LAW_LEVEL = 0.1
CONV_FRAC = 0.95
OPT_FRAC = 0.95
EFFICIENCY_MIN = 0.5
RHO_MODERATE = 0.3
N_PERMUTATIONS = 9999
N_BOOTSTRAP = 2000
Outcome = Literal["supported", "not supported", "inconclusive"]
VERDICTS: tuple[str, ...] = ("supported", "not supported", "inconclusive")


@dataclass(frozen=True)
class Preset:
    """The grid and run sizes of one study mode."""

    envs: tuple[str, ...]
    channels: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    num_envs: int
    eval_episodes: int
    views: int
    gof_bootstrap: int
    faithful_optimizer: bool = False


PRESETS = {
    "quick": Preset(("referential", "pd_hidden"), ("vq", "gumbel_e2e"), (0, 1),
                    8192, 256, 500, 3, 20),
    "default": Preset(
        tuple(ENVS), ("vq", "categorical", "categorical_ps", "gumbel_e2e"),
        (0, 1, 2, 3, 4), 65_536, 1024, 2000, 6, 100,
    ),
    "full": Preset(tuple(ENVS), tuple(CHANNELS), (0, 1, 2, 3, 4), 262_144, 1024,
                   2000, 8, 100, True),
}  # fmt: skip


@dataclass(frozen=True)
class Args:
    """Options of ``python -m experiments.aim_study``."""

    out: str | None = field(
        default=None,
        metadata=describe("Study directory (default: studies/aim_<timestamp>)."),
    )
    overwrite: bool = field(
        default=False,
        metadata=describe("Replace an existing, non-empty study directory."),
    )
    seeds: tuple[int, ...] | None = field(
        default=None,
        metadata=describe(
            "Seeds of every condition (default: the mode's: 0-4, quick 0-1)."
        ),
    )
    steps: int | None = field(
        default=None,
        metadata=describe(
            "Env steps per run (default: the mode's: 65,536; quick 8,192; full "
            "262,144)."
        ),
    )
    quick: bool = field(
        default=False,
        metadata=describe(
            "Smoke mode: referential (vq, gumbel_e2e) + pd_hidden (vq) with their "
            "controls, 2 seeds, tiny runs; verdicts are not evidence."
        ),
    )
    full: bool = field(
        default=False,
        metadata=describe(
            "The whole grid: every channel, the faithful optimizer, 262,144 steps."
        ),
    )
    faithful_optimizer: bool = field(
        default=False,
        metadata=describe(
            "Add vq+faithful_opt: never-zeroed gradients, lr x0.9995 and entropy "
            "x0.9999 per iteration (the AIM reference's optimizer)."
        ),
    )
    envs: tuple[str, ...] | None = field(
        default=None,
        metadata=describe(
            "Envs to run: referential, pd_faithful, pd_hidden (default: the mode's)."
        ),
    )
    channels: tuple[str, ...] | None = field(
        default=None,
        metadata=describe(
            "Channels: vq, rvq, categorical, categorical_ps (Eccles positive "
            "signalling), gumbel (PPO), gumbel_e2e (end-to-end, referential only), "
            "none (default: the mode's)."
        ),
    )
    controls: tuple[str, ...] = field(
        default=CONTROLS,
        metadata=describe(
            "Controls run next to every talking condition: mute (the comm-off "
            "control) and/or shuffle."
        ),
    )
    report_only: bool = field(
        default=False,
        metadata=describe(
            "Rebuild the report, figures and results of the study in --out from its "
            "run files (after a change of the analysis; trains nothing)."
        ),
    )
    progress: bool = field(default=True, metadata=describe("Print one line per run."))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.quick and self.full:
            raise ValueError("--quick and --full exclude each other")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.seeds is not None:
            if not self.seeds:
                raise ValueError("seeds must name at least one seed")
            if any(s < 0 for s in self.seeds) or len(set(self.seeds)) < len(self.seeds):
                raise ValueError(f"seeds must be distinct ints >= 0, got {self.seeds}")
        for name, allowed in (
            ("envs", ENVS),
            ("channels", CHANNELS),
            ("controls", CONTROLS),
        ):
            for key in getattr(self, name) or ():
                if key not in allowed:
                    raise ValueError(
                        f"{name}: unknown {key!r}; allowed: {', '.join(allowed)}"
                    )
        if "mute" not in self.controls:
            raise ValueError(
                "controls must include mute: every claim is judged against it"
            )

    @property
    def preset(self) -> Preset:
        return PRESETS["quick" if self.quick else "full" if self.full else "default"]


@dataclass(frozen=True)
class Condition:
    """One cell of the grid: an env, a channel, a message control, an optimizer."""

    env_key: str
    channel_key: str
    control: str = "none"
    """The env's ``message_control``: ``"none"`` (a condition) or a control."""
    faithful_opt: bool = False

    @property
    def base_key(self) -> str:
        """The key of the condition this one controls (itself if not a control)."""
        suffix = "+faithful_opt" if self.faithful_opt else ""
        return f"{self.env_key}/{self.channel_key}{suffix}"

    @property
    def key(self) -> str:
        """``env/channel[+faithful_opt][:control]``, e.g. ``referential/vq:mute``."""
        return self.base_key + ("" if self.control == "none" else f":{self.control}")

    @property
    def dirname(self) -> str:
        return self.key.replace("/", "__").replace(":", "__")

    @property
    def is_control(self) -> bool:
        return self.control != "none"

    @property
    def talks(self) -> bool:
        return self.channel_key != "none"

    @property
    def label(self) -> str:
        """The key without the env (figure legends)."""
        return self.key.split("/", 1)[1]

    @classmethod
    def parse(cls, key: str) -> Condition:
        """The condition of :attr:`key`.

        >>> c = Condition.parse("referential/vq+faithful_opt:mute")
        >>> c.env_key, c.channel_key, c.control, c.faithful_opt
        ('referential', 'vq', 'mute', True)
        """
        env_key, _, rest = key.partition("/")
        rest, _, control = rest.partition(":")
        channel_key, _, opt = rest.partition("+")
        cond = cls(env_key, channel_key, control or "none", opt == "faithful_opt")
        if (
            cond.key != key
            or env_key not in ENVS
            or channel_key not in CHANNELS
            or cond.control not in ("none", *CONTROLS)
        ):
            raise ValueError(f"not a condition key: {key!r}")
        return cond

    def with_control(self, control: str) -> Condition:
        return dataclasses.replace(self, control=control)

    def aim_args(self, grid: Grid) -> aim.Args:
        """The ``experiments.aim`` options of one run of this condition."""
        env = ENVS[self.env_key]
        setup = CHANNELS[self.channel_key]
        ppo = PPOConfig(
            num_envs=grid.num_envs, **(FAITHFUL_OPT if self.faithful_opt else {})
        )
        train = TrainSpec(
            env=env.name,
            env_config={**env.config, "message_control": self.control},
            channel=setup.channel,  # type: ignore[arg-type]
            channel_options=dict(setup.options),
            differentiable=setup.differentiable,
            ppo=ppo,
            steps=grid.steps,
        )
        return aim.Args(
            train=train,
            seeds=grid.seeds,
            eval_episodes=grid.eval_episodes,
            eval_batch=grid.eval_batch,
            eval_points=grid.eval_points,
            checkpoint_every=10_000,
            views=grid.views,
            progress=False,
        )


@dataclass(frozen=True)
class Grid:
    """What is run: conditions x seeds, and the run sizes."""

    conditions: tuple[Condition, ...]
    seeds: tuple[int, ...]
    steps: int
    num_envs: int
    eval_episodes: int
    views: int
    gof_bootstrap: int
    quick: bool = False
    notes: tuple[str, ...] = ()
    """What the grid left out and why."""
    eval_batch: int = aim.Args.eval_batch
    """Episodes of each periodic greedy evaluation (the curves)."""
    eval_points: int = aim.Args.eval_points
    """Periodic greedy evaluations over training."""

    @property
    def env_keys(self) -> list[str]:
        return list(dict.fromkeys(c.env_key for c in self.conditions))


def _wires(env_key: str, channel_key: str) -> str | None:
    """Why ``channel_key`` cannot run on ``env_key`` (None: it can)."""
    if not CHANNELS[channel_key].differentiable:
        return None
    import envs
    from agents.networks import message_wiring

    env = ENVS[env_key]
    spec = TrainSpec(env=env.name, env_config=dict(env.config), channel="gumbel")
    core = envs.make_vec(env.name, 1, seed=0, **env.config)
    try:
        message_wiring(core, spec)
    except ValueError as err:
        return str(err)
    return None


def build_grid(args: Args) -> Grid:
    """The conditions of ``args``: every env x channel (where the channel applies),
    each talking one followed by its controls."""
    p = args.preset
    channels = list(dict.fromkeys(args.channels or p.channels))
    conditions: list[Condition] = []
    notes: list[str] = []
    for env_key in args.envs or p.envs:
        bases = []
        for channel_key in channels:
            why = _wires(env_key, channel_key)
            if why is not None:
                notes.append(f"`{env_key}/{channel_key}` not run: {why}")
                continue
            bases.append(Condition(env_key, channel_key))
        if args.faithful_optimizer or p.faithful_optimizer:
            bases.append(Condition(env_key, AIM_CHANNEL, faithful_opt=True))
        for base in bases:
            conditions.append(base)
            if not base.talks:
                continue
            for control in args.controls:
                if control == "shuffle" and CHANNELS[base.channel_key].differentiable:
                    notes.append(
                        f"`{base.key}:shuffle` not run: the end-to-end path cannot "
                        "wire a message whose sender the env does not report"
                    )
                    continue
                conditions.append(base.with_control(control))
    return Grid(
        conditions=tuple(conditions),
        seeds=args.seeds or p.seeds,
        steps=args.steps or p.steps,
        num_envs=p.num_envs,
        eval_episodes=p.eval_episodes,
        views=p.views,
        gof_bootstrap=p.gof_bootstrap,
        quick=args.quick,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------- env facts
def optimum(env_key: str) -> float:
    """The best mean episode return (joint return in the PD, 1 in the referential
    game)."""
    env = ENVS[env_key]
    if env.name == "contextual_pd_v0":
        from envs.contextual_pd import joint_optimum

        return joint_optimum(env.config["payoff"]).mean
    return 1.0


def success_without_message(env_key: str) -> float:
    """The best success rate of a listener that cannot read the message: the
    chance line of the figures.

    >>> success_without_message("referential"), success_without_message("pd_hidden")
    (0.25, 0.5)
    >>> success_without_message("pd_faithful")
    1.0
    """
    env = ENVS[env_key]
    if env.name == "referential_v0":
        return 1.0 / env.config.get("n_candidates", 4)
    if env.config.get("label_visibility", "both") == "both":
        return 1.0  # the responder sees the label: the optimum needs no message
    from envs.contextual_pd import N_LABELS, PAYOFF_TABLES, PAYOFFS

    table = PAYOFF_TABLES[PAYOFFS.index(env.config["payoff"])].sum(-1)
    parity = np.arange(N_LABELS) % 2
    best = table.max(axis=(0, 1))
    # B fixes an action b; A (knowing the label) best-responds.
    rates = [
        float(np.mean(table[:, b, parity].max(axis=0) >= best[parity]))
        for b in range(table.shape[1])
    ]
    return max(rates)


# ---------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Interval:
    """Mean over seeds and its 95% t-interval clipped to the feasible range
    (``lo``/``hi`` None with fewer than 2 values; ``mean`` None with none)."""

    mean: float | None
    lo: float | None
    hi: float | None
    n: int


INTERVAL_METHOD = (
    "95% t-interval of the mean over seeds (Student t, n - 1 degrees of freedom), "
    "clipped to the metric's feasible range"
)


def mean_interval(
    values, *, bounds: tuple[float, float] = (-math.inf, math.inf)
) -> Interval:
    """Mean of ``values`` (None and non-finite dropped) with its 95% t-interval
    clipped to ``bounds``.

    Clipping keeps the interval's coverage of a mean that cannot leave ``bounds``
    and removes impossible ends (a success rate above 1).

    >>> a = mean_interval([0.9, 1.0, 1.0], bounds=(0.0, 1.0))
    >>> round(a.mean, 4), round(a.lo, 4), a.hi, a.n
    (0.9667, 0.8232, 1.0, 3)
    >>> mean_interval([0.5]).lo is None
    True
    """
    from scipy import stats

    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = float(np.mean(vals))
    if n == 1:
        return Interval(mean, None, None, 1)
    half = float(stats.t.ppf(0.975, n - 1) * np.std(vals, ddof=1) / math.sqrt(n))
    lo, hi = bounds
    return Interval(mean, max(lo, mean - half), min(hi, mean + half), n)


@dataclass(frozen=True)
class Correlation:
    """Spearman rank correlation of a compositionality metric with held-out
    success across runs."""

    env_key: str
    metric: str
    n: int
    """Runs in the correlation."""
    n_seeds: int
    """Distinct seeds among them."""
    n_degenerate: int
    rho: float | None
    p_value: float | None
    """Two-sided permutation p-value (``N_PERMUTATIONS`` re-pairings)."""
    ci_lo: float | None
    ci_hi: float | None
    """95% percentile bootstrap interval of ``rho`` (runs resampled)."""

    @property
    def row(self) -> str:
        return f"{self.env_key}: {self.metric}"


def rank_correlation(
    x,
    y,
    *,
    n_permutations: int = N_PERMUTATIONS,
    n_bootstrap: int = N_BOOTSTRAP,
    seed=0,
) -> tuple[float | None, float | None, float | None, float | None]:
    """``(rho, p, ci_lo, ci_hi)``: Spearman's rho, its two-sided permutation p-value
    and a 95% percentile bootstrap interval.

    ``scipy.stats.permutation_test`` re-pairs ``y`` with ``x`` (every one of the
    ``n!`` re-pairings when ``n! <= n_permutations``, else a random sample; the
    two-sided p is twice the smaller one-sided p); ``scipy.stats.bootstrap``
    resamples the pairs. All None when fewer than 4 pairs or when either variable is
    constant (rho undefined).

    >>> rho, p, lo, hi = rank_correlation([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    >>> round(rho, 3), p < 0.1
    (0.829, True)
    """
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape}, {y.shape}")
    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, None, None, None

    def rho_of(a, b, axis=-1):
        ra = stats.rankdata(a, axis=axis)
        rb = stats.rankdata(b, axis=axis)
        ra = ra - ra.mean(axis=axis, keepdims=True)
        rb = rb - rb.mean(axis=axis, keepdims=True)
        den = np.sqrt((ra**2).sum(axis=axis) * (rb**2).sum(axis=axis))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, (ra * rb).sum(axis=axis) / den, 0.0)

    rho = float(stats.spearmanr(x, y).statistic)
    perm = stats.permutation_test(  # re-pair y with x: exact when n! <= resamples
        (y,),
        lambda b, axis=-1: rho_of(x, b, axis=axis),
        permutation_type="pairings",
        vectorized=True,
        n_resamples=n_permutations,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    boot = stats.bootstrap(
        (x, y),
        rho_of,
        paired=True,
        vectorized=True,
        n_resamples=n_bootstrap,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = boot.confidence_interval
    return rho, float(perm.pvalue), float(ci.low), float(ci.high)


def convergence_step(steps, values, *, frac: float = CONV_FRAC, window: int = 3):
    """First step at which the trailing mean of ``values`` reaches ``frac`` x final.

    None when the curve is empty or its final (trailing-mean) value is <= 0.

    >>> convergence_step([1, 2, 3, 4], [0.0, 1.0, 1.0, 1.0])
    4
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None
    running = np.array(
        [v[max(0, i - window + 1) : i + 1].mean() for i in range(v.size)]
    )
    final = running[-1]
    if not final > 0:
        return None
    return int(steps[int(np.argmax(running >= frac * final))])


# ---------------------------------------------------------------- one run
@dataclass(frozen=True)
class RunRecord:
    """The study's numbers of one seed of one condition (a row of
    ``results.csv``). A diverged run keeps only its identity and ``error``."""

    condition: str
    env: str
    channel: str
    control: str
    faithful_optimizer: bool
    seed: int
    run_dir: str
    """Absolute path of the seed's ``experiments.aim`` folder."""
    diverged: bool = False
    error: str | None = None
    success: float | None = None
    """Greedy evaluation success (training combinations when held out)."""
    success_seen: float | None = None
    success_heldout: float | None = None
    mean_return: float | None = None
    optimum: float | None = None
    optimum_fraction: float | None = None
    mi_bits: float | None = None
    """Whole-message / whole-meaning MI (jackknife, bits)."""
    mi_plugin_bits: float | None = None
    mi_p_value: float | None = None
    mi_null_p95_bits: float | None = None
    attribute_mi_bits: tuple[float, ...] = ()
    attribute_mi_min_bits: float | None = None
    attribute_mi_fraction: float | None = None
    """Sum over attributes of I(message; attribute) / sum of H(attribute)."""
    topsim: float | None = None
    topsim_chance: float | None = None
    posdis: float | None = None
    posdis_chance: float | None = None
    bosdis: float | None = None
    bosdis_chance: float | None = None
    context_independence: float | None = None
    codebook_perplexity: float | None = None
    distinct_messages: int | None = None
    degenerate: bool | None = None
    message_entropy_bits: float | None = None
    meaning_entropy_bits: float | None = None
    compression_ratio: float | None = None
    mi_efficiency: float | None = None
    powerlaw_alpha: float | None = None
    powerlaw_xmin: float | None = None
    powerlaw_gof_p: float | None = None
    powerlaw_R_lognormal: float | None = None
    powerlaw_p_lognormal: float | None = None
    powerlaw_R_exponential: float | None = None
    powerlaw_p_exponential: float | None = None
    powerlaw_verdict: str | None = None
    """``power_law``, ``heavy_tailed``, ``not_power_law`` or ``unfittable``."""
    zipf_s: float | None = None
    """Zipf exponent of the whole-message rank-frequency table, truncated at the
    observed messages (:func:`analysis.symbols.zipf_fit`)."""
    zipf_observed_fraction: float | None = None
    """Distinct messages observed / messages possible (``vocab ** length``): the
    share of the alphabet that ``zipf_s`` describes."""
    conv_step_success: int | None = None
    conv_step_mi: int | None = None
    mi_stable: bool | None = None
    convergence_pass: bool | None = None
    env_steps: int | None = None
    wall_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @property
    def finished(self) -> bool:
        return not self.diverged


def _message_alphabet(cond: Condition, data: Mapping[str, np.ndarray]) -> int:
    """How many whole messages the speaker could send: ``vocab ** length`` of the
    agent whose messages ``messages.npz`` reports (its message action space)."""
    import envs

    setup = ENVS[cond.env_key]
    env = envs.make(setup.name, **{**setup.config, "message_control": cond.control})
    messages = data["messages"]
    for key in data.files if hasattr(data, "files") else data:
        agent = key.removeprefix("messages_")
        if key.startswith("messages_") and np.array_equal(data[key], messages):
            space = env.action_space(agent)
            nvec = np.atleast_1d(space.nvec if hasattr(space, "nvec") else space.n)
            # The message part of the action: its length is the messages' length.
            vocab = int(nvec[: messages.shape[1]].max())
            return vocab ** messages.shape[1]
    raise ValueError(f"messages.npz holds no agent's messages for {cond.key!r}")


def _power_law(
    messages: np.ndarray, grid: Grid, seed: int, alphabet_size: int | None = None
) -> dict[str, Any]:
    import warnings

    from analysis.symbols import power_law_fit, symbol_counts, zipf_fit

    counts = symbol_counts(messages, unit="message")
    out: dict[str, Any] = {"powerlaw_verdict": "unfittable"}
    if counts.size >= 2:
        with warnings.catch_warnings():  # recorded as zipf_observed_fraction
            warnings.simplefilter("ignore", UserWarning)
            fit = zipf_fit(counts, alphabet_size=alphabet_size)
        out["zipf_s"] = fit.s
    if alphabet_size:
        out["zipf_observed_fraction"] = counts.size / alphabet_size
    try:
        fit = power_law_fit(
            counts,
            alternatives=("lognormal", "exponential"),
            gof_bootstrap=grid.gof_bootstrap,
            seed=seed,
        )
    except ValueError:  # < 2 distinct counts: nothing to fit
        return out
    out.update(
        powerlaw_alpha=fit.alpha,
        powerlaw_xmin=fit.xmin,
        powerlaw_gof_p=fit.gof_p,
        powerlaw_verdict=fit.verdict,
    )
    for alt, (r, p) in fit.comparisons.items():
        out[f"powerlaw_R_{alt}"], out[f"powerlaw_p_{alt}"] = r, p
    return out


def _meaning_entropies(meanings: np.ndarray) -> tuple[float, list[float]]:
    """H(whole meaning) and H(each attribute), bits (plug-in)."""
    from analysis.symbols import entropy, symbol_counts

    rows = meanings.reshape(len(meanings), -1)
    whole = entropy(symbol_counts(rows, unit="message"))
    per = [
        entropy(symbol_counts(rows[:, [a]], unit="message"))
        for a in range(rows.shape[1])
    ]
    return whole, per


def _curve_mi(seed_dir: Path) -> tuple[list[int], list[float]]:
    """The MI-over-training points of a run (the views), without the final
    evaluation's point, which is on another sample size."""
    curves = _curves(seed_dir)
    return list(curves.mi_step[:-1]), list(curves.mi_bits[:-1])


def _curves(seed_dir: Path) -> aim.Curves:
    return aim.Curves.from_dict(read_json(seed_dir / "curves.json"))


def _message_report(summary: Mapping[str, Any]) -> MessageReport | None:
    """The run's :class:`~analysis.language.MessageReport` from its summary, or
    None for a run without one (no speaker with meanings)."""
    try:
        return MessageReport.from_dict(summary)
    except ValueError:
        if any(f.name in summary for f in dataclasses.fields(MessageReport)):
            raise  # a partial report: the files disagree with the contract
        return None


def measure(
    cond: Condition, grid: Grid, seed: int, seed_dir: Path, summary: Mapping[str, Any]
) -> RunRecord:
    """The :class:`RunRecord` of one finished run from its ``experiments.aim``
    files (``summary.json``'s content, ``messages.npz``, ``curves.json``)."""
    run = RunSummary.from_dict(summary)
    report = _message_report(summary)
    opt = optimum(cond.env_key)
    data = np.load(seed_dir / "messages.npz")
    messages, meanings = data["messages"], data["meanings"]
    h_meaning, h_attrs = _meaning_entropies(meanings)
    mi = report and report.message_meaning_mi_bits
    h_msg = report and report.message_entropy_bits
    attr_mi = tuple(float(v) for v in (report.attribute_mi_bits if report else ()))
    curves = _curves(seed_dir)
    s_steps = [
        s for s, v in zip(curves.eval_step, curves.eval_success) if v is not None
    ]
    s_vals = [v for v in curves.eval_success if v is not None]
    m_steps, m_vals = _curve_mi(seed_dir)
    stable = (
        len(m_vals) >= 2
        and abs(m_vals[-1] - m_vals[-2]) <= 0.1 * abs(m_vals[-1]) + 0.05
    )
    fraction = run.mean_return / opt
    return RunRecord(
        condition=cond.key,
        env=cond.env_key,
        channel=cond.channel_key,
        control=cond.control,
        faithful_optimizer=cond.faithful_opt,
        seed=seed,
        run_dir=str(seed_dir.resolve()),
        success=run.success,
        success_seen=run.extra_success.get("seen"),
        success_heldout=run.extra_success.get("heldout"),
        mean_return=run.mean_return,
        optimum=opt,
        optimum_fraction=fraction,
        mi_bits=mi,
        mi_plugin_bits=report and report.mi_plugin_bits,
        mi_p_value=report and report.mi_p_value,
        mi_null_p95_bits=report and report.mi_null_p95_bits,
        attribute_mi_bits=attr_mi,
        attribute_mi_min_bits=min(attr_mi) if attr_mi else None,
        attribute_mi_fraction=(
            sum(attr_mi) / sum(h_attrs) if attr_mi and sum(h_attrs) > 0 else None
        ),
        topsim=report and report.topsim,
        topsim_chance=report and report.topsim_chance,
        posdis=report and report.posdis,
        posdis_chance=report and report.posdis_chance,
        bosdis=report and report.bosdis,
        bosdis_chance=report and report.bosdis_chance,
        context_independence=report and report.context_independence,
        codebook_perplexity=run.codebook_perplexity,
        distinct_messages=report and report.distinct_messages,
        degenerate=report and report.degenerate,
        message_entropy_bits=h_msg,
        meaning_entropy_bits=h_meaning,
        compression_ratio=h_msg / h_meaning
        if h_msg is not None and h_meaning
        else None,
        mi_efficiency=(mi / h_msg if h_msg else 0.0) if mi is not None else None,
        conv_step_success=convergence_step(s_steps, s_vals),
        conv_step_mi=(
            convergence_step(m_steps, m_vals)
            if mi is not None and mi > MI_MIN_BITS
            else None
        ),
        mi_stable=bool(stable),
        convergence_pass=bool(
            fraction >= OPT_FRAC and mi is not None and mi > MI_MIN_BITS and stable
        ),
        env_steps=run.env_steps,
        wall_s=run.wall_s,
        **_power_law(messages, grid, seed, _message_alphabet(cond, data)),
    )


def run_one(cond: Condition, grid: Grid, seed: int, out: Path) -> RunRecord:
    """Train one seed of ``cond`` with ``aim.run_seed`` and measure it."""
    args = cond.aim_args(grid)
    run_dir = out / "runs" / cond.dirname
    seed_dir = run_dir / f"seed_{seed}"
    atomic_write_json(run_dir / "config.json", to_dict(args))
    try:
        summary = aim.run_seed(args, run_dir, seed).summary()
    except TrainingDiverged as err:
        return RunRecord(
            condition=cond.key,
            env=cond.env_key,
            channel=cond.channel_key,
            control=cond.control,
            faithful_optimizer=cond.faithful_opt,
            seed=seed,
            run_dir=str(seed_dir.resolve()),
            diverged=True,
            error=str(err),
        )
    return measure(cond, grid, seed, seed_dir, summary)


# ---------------------------------------------------------------- aggregation
@dataclass(frozen=True)
class Metric:
    """A per-run number summarized over seeds."""

    title: str
    bounds: tuple[float, float] = (-math.inf, math.inf)
    digits: int = 3


METRICS: dict[str, Metric] = {
    "success": Metric("success", (0.0, 1.0)),
    "success_seen": Metric("success on training combinations", (0.0, 1.0)),
    "success_heldout": Metric("success on held-out combinations", (0.0, 1.0)),
    "mean_return": Metric("mean return"),
    "optimum_fraction": Metric("return / optimum", (0.0, 1.0)),
    "mi_bits": Metric("MI bits", (0.0, math.inf)),
    "attribute_mi_min_bits": Metric("min attribute MI bits", (0.0, math.inf)),
    "attribute_mi_fraction": Metric("attribute information carried", (0.0, 1.0)),
    "topsim": Metric("topsim", (-1.0, 1.0)),
    "posdis": Metric("posdis", (0.0, 1.0)),
    "bosdis": Metric("bosdis", (0.0, 1.0)),
    "codebook_perplexity": Metric("codebook perplexity", (1.0, math.inf)),
    "distinct_messages": Metric("distinct messages", (1.0, math.inf), 0),
    "message_entropy_bits": Metric("H(message) bits", (0.0, math.inf)),
    "meaning_entropy_bits": Metric("H(meaning) bits", (0.0, math.inf)),
    "compression_ratio": Metric("H(msg)/H(meaning)", (0.0, math.inf)),
    "mi_efficiency": Metric("MI/H(msg)", (0.0, math.inf)),
    "powerlaw_alpha": Metric("power-law alpha", (1.0, math.inf)),
    "powerlaw_gof_p": Metric("GOF p", (0.0, 1.0)),
    "zipf_s": Metric("Zipf s", (0.0, math.inf)),
    "zipf_observed_fraction": Metric("share of messages seen", (0.0, 1.0)),
    "conv_step_success": Metric("success conv. step", (0.0, math.inf), 0),
    "conv_step_mi": Metric("MI conv. step", (0.0, math.inf), 0),
    "wall_s": Metric("wall s", (0.0, math.inf), 0),
}
POWER_LAW_OUTCOMES = ("power_law", "heavy_tailed", "not_power_law", "unfittable")


@dataclass(frozen=True)
class ConditionSummary:
    """One condition over its seeds."""

    condition: Condition
    n_runs: int
    n_finished: int
    n_diverged: int = 0
    n_degenerate: int = 0
    """Finished seeds whose channel collapsed (one distinct message); their
    metrics keep the documented degenerate values and are averaged in."""
    metrics: Mapping[str, Interval] = field(default_factory=dict)
    power_law: Mapping[str, int] = field(default_factory=dict)
    """Seeds per :data:`POWER_LAW_OUTCOMES`."""
    convergence_passes: int = 0

    def metric(self, name: str) -> Interval:
        return self.metrics.get(name, Interval(None, None, None, 0))


@dataclass(frozen=True)
class Aggregates:
    """What the verdicts read: every condition's summary and the correlations."""

    conditions: Mapping[str, ConditionSummary]
    correlations: Mapping[str, Correlation] = field(default_factory=dict)

    def get(self, key: str) -> ConditionSummary | None:
        return self.conditions.get(key)


def summarize(cond: Condition, runs: list[RunRecord]) -> ConditionSummary:
    ok = [r for r in runs if r.finished]
    metrics = {
        name: mean_interval([getattr(r, name) for r in ok], bounds=m.bounds)
        for name, m in METRICS.items()
    }
    outcomes = {k: sum(r.powerlaw_verdict == k for r in ok) for k in POWER_LAW_OUTCOMES}
    return ConditionSummary(
        condition=cond,
        n_runs=len(runs),
        n_finished=len(ok),
        n_diverged=len(runs) - len(ok),
        n_degenerate=sum(bool(r.degenerate) for r in ok),
        metrics=metrics,
        power_law=outcomes,
        convergence_passes=sum(bool(r.convergence_pass) for r in ok),
    )


def correlations(grid: Grid, runs: list[RunRecord]) -> dict[str, Correlation]:
    """Per env with a held-out split and per compositionality metric, the rank
    correlation with held-out success over every finished run of the talking
    conditions (channels x seeds; controls and the ``none`` channel left out)."""
    out: dict[str, Correlation] = {}
    talking = {c.key for c in grid.conditions if c.talks and not c.is_control}
    for env_key in grid.env_keys:
        if "holdout_fraction" not in ENVS[env_key].config:
            continue
        pool = [
            r
            for r in runs
            if r.env == env_key
            and r.condition in talking
            and r.finished
            and r.success_heldout is not None
        ]
        for metric in COMPOSITIONALITY:
            pts = [r for r in pool if getattr(r, metric) is not None]
            x = [getattr(r, metric) for r in pts]
            y = [r.success_heldout for r in pts]
            rho, p, lo, hi = rank_correlation(x, y)
            corr = Correlation(
                env_key,
                metric,
                n=len(pts),
                n_seeds=len({r.seed for r in pts}),
                n_degenerate=sum(bool(r.degenerate) for r in pts),
                rho=rho,
                p_value=p,
                ci_lo=lo,
                ci_hi=hi,
            )
            out[corr.row] = corr
    return out


def aggregate(grid: Grid, runs: list[RunRecord]) -> Aggregates:
    conditions = {
        c.key: summarize(c, [r for r in runs if r.condition == c.key])
        for c in grid.conditions
    }
    return Aggregates(conditions, correlations(grid, runs))


# ---------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Verdict:
    """The outcome of a claim on one row, and why."""

    outcome: Outcome
    reason: str
    too_few_seeds: bool = False

    @property
    def label(self) -> str:
        """``outcome``, or ``inconclusive (too few seeds)``."""
        return "inconclusive (too few seeds)" if self.too_few_seeds else self.outcome


def _mean(a: Interval) -> float:
    return math.nan if a.mean is None else a.mean


def _above(a: Interval, b: Interval) -> bool:
    """Interval ``a`` lies entirely above interval ``b``."""
    return a.lo is not None and b.hi is not None and a.lo > b.hi


def _too_few(*summaries: ConditionSummary | None) -> Verdict | None:
    """The "too few seeds" verdict when a summary the rule reads is missing or has
    fewer than :data:`MIN_SEEDS` finished seeds."""
    for s in summaries:
        if s is None:
            return Verdict(
                "inconclusive", "a condition the rule reads did not run", True
            )
        if s.n_finished < MIN_SEEDS:
            return Verdict(
                "inconclusive",
                f"`{s.condition.key}` has {s.n_finished} finished seed(s) < "
                f"{MIN_SEEDS}",
                True,
            )
    return None


def _with_controls(
    row: str, aggs: Aggregates
) -> tuple[ConditionSummary | None, ConditionSummary | None, ConditionSummary | None]:
    a = aggs.get(row)
    if a is None:
        return None, None, None
    cond = a.condition
    return (
        a,
        aggs.get(cond.with_control("mute").key),
        aggs.get(cond.with_control("shuffle").key),
    )


def decide_communication(row: str, aggs: Aggregates) -> Verdict:
    a, mute, shuffle = _with_controls(row, aggs)
    short = _too_few(a, mute, *([shuffle] if shuffle is not None else []))
    if short:
        return short
    s, mi = a.metric("success"), a.metric("mi_bits")
    controls = [("mute", mute)] + ([("shuffle", shuffle)] if shuffle else [])
    for name, c in controls:
        cs = c.metric("success")
        if _mean(s) <= _mean(cs):
            return Verdict(
                "not supported",
                f"success {_mean(s):.3f} <= {name} control {_mean(cs):.3f}",
            )
    if mi.hi is not None and mi.hi <= MI_MIN_BITS:
        return Verdict(
            "not supported", f"MI interval [.., {mi.hi:.3f}] <= {MI_MIN_BITS} bits"
        )
    vs = ", ".join(f"{n} {_mean(c.metric('success')):.3f}" for n, c in controls)
    if all(_above(s, c.metric("success")) for _, c in controls) and (
        mi.lo is not None and mi.lo > MI_MIN_BITS
    ):
        return Verdict(
            "supported",
            f"success {_mean(s):.3f} above the controls ({vs}; intervals apart), "
            f"MI {_mean(mi):.3f} bits",
        )
    return Verdict(
        "inconclusive",
        f"success {_mean(s):.3f} vs controls ({vs}): intervals overlap, or the MI "
        f"interval reaches {MI_MIN_BITS} bits",
    )


def decide_power_law(row: str, aggs: Aggregates) -> Verdict:
    a = aggs.get(row)
    short = _too_few(a)
    if short:
        return short
    n = a.n_finished
    counts = {k: a.power_law.get(k, 0) for k in POWER_LAW_OUTCOMES}
    why = ", ".join(f"{v} {k}" for k, v in counts.items() if v) + f" of {n} seeds"
    if counts["power_law"] > n / 2:
        return Verdict("supported", why)
    if counts["not_power_law"] + counts["unfittable"] > n / 2:
        return Verdict("not supported", why)
    return Verdict("inconclusive", why)


def decide_compression(row: str, aggs: Aggregates) -> Verdict:
    a, mute, _ = _with_controls(row, aggs)
    short = _too_few(a, mute)
    if short:
        return short
    mi, cmi = a.metric("mi_bits"), mute.metric("mi_bits")
    ratio, eff = a.metric("compression_ratio"), a.metric("mi_efficiency")
    carried = a.metric("attribute_mi_fraction")
    why = (
        f"MI {_mean(mi):.3f} bits (mute control {_mean(cmi):.3f}), "
        f"H(msg)/H(meaning) {_mean(ratio):.3f}, MI/H(msg) {_mean(eff):.3f}"
    )
    if carried.mean is not None:
        why += f", attribute information carried {carried.mean:.3f}"
    if (
        _mean(mi) <= MI_MIN_BITS
        or _mean(mi) <= _mean(cmi)
        or _mean(ratio) >= 1
        or _mean(eff) < EFFICIENCY_MIN
        or (carried.mean is not None and carried.mean < EFFICIENCY_MIN)
    ):
        return Verdict("not supported", why)
    if _above(mi, cmi):
        return Verdict("supported", why)
    return Verdict("inconclusive", why + "; MI interval overlaps the mute control's")


def decide_convergence(row: str, aggs: Aggregates) -> Verdict:
    a, mute, _ = _with_controls(row, aggs)
    short = _too_few(a, mute)
    if short:
        return short
    n, passes = a.n_finished, a.convergence_passes
    ctrl = _mean(mute.metric("optimum_fraction"))
    why = f"{passes}/{n} seeds pass; the mute control reaches {ctrl:.3f} of the optimum"
    if passes > n / 2 and ctrl < OPT_FRAC:
        return Verdict("supported", why)
    return Verdict("not supported", why)


def decide_beats_baselines(row: str, aggs: Aggregates) -> Verdict:
    a = aggs.get(row)
    if a is None:
        return _too_few(None)  # type: ignore[return-value]
    env_key = a.condition.env_key
    base = [
        (k, aggs.get(Condition(env_key, k).key))
        for k in BASELINES
        if aggs.get(Condition(env_key, k).key) is not None
    ]
    short = _too_few(a, *[b for _, b in base])
    if short:
        return short
    if not base:
        return Verdict("inconclusive", "no explicit baseline ran")
    s = a.metric("success")
    best_k, best = max(base, key=lambda kb: _mean(kb[1].metric("success")))
    why = (
        f"{a.condition.label} {_mean(s):.3f} vs best baseline {best_k} "
        f"{_mean(best.metric('success')):.3f}"
    )
    if _mean(s) <= _mean(best.metric("success")):
        return Verdict("not supported", why)
    if all(_above(s, b.metric("success")) for _, b in base):
        return Verdict("supported", why + " (intervals apart from every baseline's)")
    return Verdict("inconclusive", why + " (intervals overlap)")


def decide_generalization(row: str, aggs: Aggregates) -> Verdict:
    c = aggs.correlations.get(row)
    if c is None:
        return Verdict("inconclusive", "no held-out runs")
    if c.n_seeds < MIN_SEEDS:
        return Verdict(
            "inconclusive", f"{c.n_seeds} seed(s) < {MIN_SEEDS} among the runs", True
        )
    if c.rho is None:
        return Verdict(
            "inconclusive", f"rank correlation undefined ({c.n} runs, or constant)"
        )
    level = LEVEL / len(COMPOSITIONALITY)
    why = (
        f"rho {c.rho:.3f} over {c.n} runs, permutation p {c.p_value:.4f}, "
        f"bootstrap 95% [{c.ci_lo:.3f}, {c.ci_hi:.3f}]"
    )
    if c.rho > 0 and c.p_value < level:
        return Verdict("supported", why)
    if c.ci_hi < RHO_MODERATE or (c.rho < 0 and c.p_value < level):
        return Verdict("not supported", why)
    return Verdict("inconclusive", why)


# ---------------------------------------------------------------- claims
@dataclass(frozen=True)
class Column:
    """A report column: its title and how a row's cell is written."""

    title: str
    cell: Callable[[str, Aggregates], str]


@dataclass(frozen=True)
class Claim:
    """One claim: the rule in words, the function that applies it, the columns of
    its table, and which rows it is judged on."""

    key: str
    title: str
    rule: str
    decide: Callable[[str, Aggregates], Verdict]
    columns: tuple[Column, ...]
    rows: Callable[[Grid], tuple[str, ...]]


def fmt(a: Interval, digits: int = 3) -> str:
    """``mean [lo, hi]``, ``mean (n=1)``, or ``n/a``.

    >>> fmt(Interval(0.5, 0.25, 0.75, 3)), fmt(Interval(0.5, None, None, 1))
    ('0.500 [0.250, 0.750]', '0.500 (n=1)')
    """
    if a.mean is None:
        return "n/a"
    if a.n == 1:
        return f"{a.mean:.{digits}f} (n=1)"
    return f"{a.mean:.{digits}f} [{a.lo:.{digits}f}, {a.hi:.{digits}f}]"


def _summary_of(row: str, aggs: Aggregates, of: str | None) -> ConditionSummary | None:
    a = aggs.get(row)
    if a is None or of is None:
        return a
    if of in CONTROLS:
        return aggs.get(a.condition.with_control(of).key)
    return aggs.get(Condition(a.condition.env_key, of).key)


def metric_col(title: str, metric: str, of: str | None = None) -> Column:
    """A column of ``metric`` of the row's condition, of its control ``of``
    (``mute``/``shuffle``) or of channel ``of`` in the same env."""

    def cell(row: str, aggs: Aggregates) -> str:
        s = _summary_of(row, aggs, of)
        return "-" if s is None else fmt(s.metric(metric), METRICS[metric].digits)

    return Column(title, cell)


def _seeds_cell(row: str, aggs: Aggregates) -> str:
    a = aggs.get(row)
    text = f"{a.n_finished} ({a.n_degenerate} degenerate"
    return text + (f", {a.n_diverged} diverged)" if a.n_diverged else ")")


SEEDS = Column("seeds (degenerate)", _seeds_cell)


def _conditions(*, channel: str | None = None) -> Callable[[Grid], tuple[str, ...]]:
    def rows(grid: Grid) -> tuple[str, ...]:
        return tuple(
            c.key
            for c in grid.conditions
            if c.talks
            and not c.is_control
            and (channel is None or c.channel_key == channel)
        )

    return rows


def _correlation_rows(grid: Grid) -> tuple[str, ...]:
    return tuple(
        f"{e}: {m}"
        for e in grid.env_keys
        if "holdout_fraction" in ENVS[e].config
        for m in COMPOSITIONALITY
    )


def _corr_col(title: str, value: Callable[[Correlation], str]) -> Column:
    def cell(row: str, aggs: Aggregates) -> str:
        c = aggs.correlations.get(row)
        return "-" if c is None or c.rho is None else value(c)

    return Column(title, cell)


def _power_law_cell(row: str, aggs: Aggregates) -> str:
    pl = aggs.get(row).power_law
    return " / ".join(str(pl.get(k, 0)) for k in POWER_LAW_OUTCOMES)


TOO_FEW = (
    f"With fewer than {MIN_SEEDS} finished seeds in any condition the rule reads: "
    "inconclusive (too few seeds). "
)
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "communication",
        "Claim 1: effective communication",
        TOO_FEW + "Supported if the success interval lies entirely above the mute "
        "control's and the shuffle control's (where it ran) AND the MI interval's "
        f"lower end is above {MI_MIN_BITS} bits. Not supported if the mean success "
        "is at most a control's mean OR the MI interval's upper end is at most "
        f"{MI_MIN_BITS} bits. Otherwise inconclusive.",
        decide_communication,
        (
            SEEDS,
            metric_col("success", "success"),
            metric_col("mute success", "success", "mute"),
            metric_col("shuffle success", "success", "shuffle"),
            metric_col("MI bits", "mi_bits"),
            metric_col("return / optimum", "optimum_fraction"),
            metric_col("mute return / optimum", "optimum_fraction", "mute"),
        ),
        _conditions(),
    ),
    Claim(
        "power_law",
        "Claim 2: symbol usage follows a power law",
        TOO_FEW + "Per seed, the three-outcome verdict of "
        "`analysis.symbols.power_law_fit` on the whole-message usage counts of the "
        "final evaluation (Clauset-Shalizi-Newman goodness-of-fit p with the "
        "bootstrap, likelihood ratios against a lognormal and an exponential, "
        f"level {POWER_LAW_LEVEL}): power_law / heavy_tailed / not_power_law, or "
        "unfittable (< 2 distinct counts). Supported if more than half of the seeds "
        "are power_law. Not supported if more than half are not_power_law or "
        "unfittable. Otherwise inconclusive (mostly heavy_tailed: consistent with a "
        "power law, not distinguishable from a lognormal).",
        decide_power_law,
        (
            SEEDS,
            Column("power_law / heavy / not / unfittable", _power_law_cell),
            metric_col("distinct messages", "distinct_messages"),
            metric_col("alpha", "powerlaw_alpha"),
            metric_col("GOF p", "powerlaw_gof_p"),
            metric_col("Zipf s", "zipf_s"),
            metric_col("share of messages seen", "zipf_observed_fraction"),
        ),
        _conditions(),
    ),
    Claim(
        "compression",
        "Claim 3: semantic compression",
        TOO_FEW + "MI is the jackknife estimate between whole messages and whole "
        "meanings (bits). Supported if the MI interval lies entirely above the mute "
        "control's AND mean H(message)/H(meaning) < 1 (fewer effective messages "
        f"than meanings) AND mean MI/H(message) >= {EFFICIENCY_MIN} (most message "
        f"entropy is about the meaning) AND mean attribute information carried >= "
        f"{EFFICIENCY_MIN} (sum over attributes of I(message; attribute), "
        "jackknife, over the sum of their entropies: most of the attributes' "
        "information survives the compression; far better sampled than the "
        "whole-meaning MI). "
        f"Not supported if mean MI <= {MI_MIN_BITS} bits OR mean MI <= the mute "
        f"control's mean OR the ratio >= 1 OR the efficiency < {EFFICIENCY_MIN} OR "
        f"the attribute information carried < {EFFICIENCY_MIN}. Otherwise "
        "inconclusive.",
        decide_compression,
        (
            SEEDS,
            metric_col("MI bits", "mi_bits"),
            metric_col("mute MI bits", "mi_bits", "mute"),
            metric_col("H(msg)/H(meaning)", "compression_ratio"),
            metric_col("MI/H(msg)", "mi_efficiency"),
            metric_col("attribute info carried", "attribute_mi_fraction"),
            metric_col("min attribute MI bits", "attribute_mi_min_bits"),
        ),
        _conditions(),
    ),
    Claim(
        "convergence",
        "Claim 4: Nash-equilibrium-driven semantic convergence",
        TOO_FEW + f"Per seed, a pass = return >= {OPT_FRAC} of the optimum AND final "
        f"MI > {MI_MIN_BITS} bits AND the MI curve is stable (its last two points "
        "differ by <= 10% + 0.05 bits). Supported if more than half of the seeds "
        f"pass AND the mute control's mean return stays < {OPT_FRAC} of the optimum "
        "(the equilibrium needs the messages); not supported otherwise. "
        "Convergence step: the first env step at which the trailing 3-point mean of "
        f"the greedy evaluation success reaches {CONV_FRAC} of its final value.",
        decide_convergence,
        (
            SEEDS,
            Column(
                "seeds passing",
                lambda row, aggs: (
                    f"{aggs.get(row).convergence_passes}/{aggs.get(row).n_finished}"
                ),
            ),
            metric_col("success conv. step", "conv_step_success"),
            metric_col("MI conv. step", "conv_step_mi"),
            metric_col("return / optimum", "optimum_fraction"),
            metric_col("mute return / optimum", "optimum_fraction", "mute"),
        ),
        _conditions(),
    ),
    Claim(
        "beats_baselines",
        "Claim 5: AIM beats explicit-communication baselines",
        TOO_FEW + "Baselines: " + ", ".join(BASELINES) + " (those that ran in the "
        "env). Supported if the vq success interval lies entirely above every "
        "baseline's; not supported if vq's mean success is at most the best "
        "baseline's mean; otherwise inconclusive (also when no baseline ran).",
        decide_beats_baselines,
        (
            SEEDS,
            metric_col("vq success", "success"),
            *[metric_col(f"{k} success", "success", k) for k in BASELINES],
        ),
        _conditions(channel=AIM_CHANNEL),
    ),
    Claim(
        "generalization",
        "Claim 6: more compositional languages generalize better",
        f"Across every finished run of the talking conditions (channels x seeds; "
        "controls and the none channel left out) of an env with held-out attribute "
        "combinations: Spearman's rho between the metric (topsim, posdis, bosdis of "
        "the training-combination messages) and held-out success, a two-sided "
        f"permutation p-value ({N_PERMUTATIONS} re-pairings) and a 95% percentile "
        f"bootstrap interval of rho ({N_BOOTSTRAP} resamples of runs). With fewer "
        f"than {MIN_SEEDS} seeds: inconclusive (too few seeds). Supported if rho > "
        f"0 with p < {LEVEL}/{len(COMPOSITIONALITY)} (Bonferroni over the three "
        "metrics). Not supported if the bootstrap interval lies below "
        f"{RHO_MODERATE} (a moderate positive link is excluded) or rho < 0 with p "
        f"< {LEVEL}/{len(COMPOSITIONALITY)}. Otherwise inconclusive.",
        decide_generalization,
        (
            _corr_col("runs", lambda c: f"{c.n} ({c.n_degenerate} degenerate)"),
            _corr_col("rho", lambda c: f"{c.rho:.3f}"),
            _corr_col("permutation p", lambda c: f"{c.p_value:.4f}"),
            _corr_col("bootstrap 95%", lambda c: f"[{c.ci_lo:.3f}, {c.ci_hi:.3f}]"),
        ),
        _correlation_rows,
    ),
)


def verdicts(grid: Grid, aggs: Aggregates) -> list[dict[str, Any]]:
    """Every claim's verdict on every row it is judged on."""
    out = []
    for claim in CLAIMS:
        for row in claim.rows(grid):
            v = claim.decide(row, aggs)
            out.append(
                dict(
                    claim=claim.key,
                    row=row,
                    verdict=v.label,
                    outcome=v.outcome,
                    reason=v.reason,
                )
            )
    return out


# ---------------------------------------------------------------- report
SMOKE = "**Smoke test: verdicts are not evidence.**"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _generalization_table(grid: Grid, aggs: Aggregates) -> list[str]:
    rows = []
    for cond in grid.conditions:
        if cond.is_control or "holdout_fraction" not in ENVS[cond.env_key].config:
            continue
        cells = [f"`{cond.key}`", SEEDS.cell(cond.key, aggs)]
        for metric, of in (
            ("success_seen", None),
            ("success_heldout", None),
            ("success_heldout", "mute"),
            ("topsim", None),
            ("posdis", None),
            ("bosdis", None),
        ):
            cells.append(metric_col("", metric, of).cell(cond.key, aggs))
        rows.append(cells)
    header = [
        "condition",
        "seeds (degenerate)",
        "seen success",
        "held-out success",
        "mute held-out success",
        "topsim",
        "posdis",
        "bosdis",
    ]
    return _table(header, rows) if rows else []


def render_report(
    grid: Grid, aggs: Aggregates, verdict_rows: list[dict], meta: Mapping[str, Any]
) -> str:
    n_deg = sum(s.n_degenerate for s in aggs.conditions.values())
    lines = ["# The AIM claims under controls", ""]
    if grid.quick:
        lines += [f"> {SMOKE}", ""]
    lines += [
        f"Study: `{meta['out']}` (launched from `{meta['cwd']}`); "
        f"{meta['date']}; command `{meta['command']}`; wall time "
        f"{meta['wall_s']:.0f} s; {meta['n_runs']} runs ({meta['n_diverged']} "
        f"diverged, {n_deg} degenerate: one distinct message). Every number below "
        f"is a mean over seeds with its interval `mean [lo, hi]`: {INTERVAL_METHOD} "
        "(`(n=1)`: one seed). Each per-run value is in `results.csv` / "
        "`results.json` (`run_dir`: the absolute path of its run files).",
        "",
        "## Grid",
        "",
        f"- seeds {list(grid.seeds)}; {grid.steps:,} env steps per run; "
        f"{grid.num_envs} parallel envs; {grid.eval_episodes} greedy evaluation "
        "episodes on a fresh env seed (and as many on the held-out combinations); "
        f"greedy evaluations of {grid.eval_batch} episodes at "
        f"{grid.eval_points} points over training (the curves); MI over "
        f"training at {grid.views} points.",
        "- envs: "
        + "; ".join(
            f"`{k}` = `{ENVS[k].name}` {json.dumps(dict(ENVS[k].config))} "
            f"({ENVS[k].description})"
            for k in grid.env_keys
        ),
        "- channels: "
        + "; ".join(
            f"`{k}` = `{CHANNELS[k].channel}` {json.dumps(dict(CHANNELS[k].options))}"
            + (" differentiable" if CHANNELS[k].differentiable else "")
            + f" ({CHANNELS[k].description})"
            for k in dict.fromkeys(c.channel_key for c in grid.conditions)
        ),
        "- conditions: " + ", ".join(f"`{c.key}`" for c in grid.conditions),
        *[f"- {note}" for note in grid.notes],
        "",
        'Controls: `:mute` is the same run with the env\'s `message_control="mute"` '
        "(the listener hears symbol 0 in every position; the speaker keeps its "
        "channel, its action head and its training; in the PD each agent's C/D is "
        "still its own first symbol): the comm-off control every claim is judged "
        'against. `:shuffle` is `message_control="shuffle"` (the listener hears '
        "the message sent in another env of the batch: the information is gone, "
        "the channel's statistics are kept). Each differs from its condition in "
        "that one option only. The `none` channel (always symbol 0) is a condition "
        "of its own, not a control: in the PD it also fixes both actions to C.",
        "",
        "Measures: MI is the jackknife estimate between whole messages and whole "
        "meanings of the final evaluation (the speaker's messages as sent, also in "
        "the controls); `attribute info carried` is the sum over attributes of "
        "I(message; attribute) over the sum of H(attribute). Power-law fits are of "
        "whole-message usage counts. Success on a held-out split is the listener "
        "choosing among held-out combinations only (chance 1/4).",
        "",
        "## Verdict rules",
        "",
        *[f"- **{c.title}**: {c.rule}" for c in CLAIMS],
        "",
    ]
    for claim in CLAIMS:
        lines += [f"## {claim.title}", "", f"Rule: {claim.rule}", ""]
        if grid.quick:
            lines += [f"> {SMOKE}", ""]
        mine = [v for v in verdict_rows if v["claim"] == claim.key]
        header = ["row", *[c.title for c in claim.columns], "verdict"]
        body = []
        for v in mine:
            body.append(
                [f"`{v['row']}`", *[c.cell(v["row"], aggs) for c in claim.columns]]
                + [v["verdict"]]
            )
        lines += _table(header, body) if body else ["(no rows ran)"]
        lines.append("")
        if claim.key == "generalization":
            table = _generalization_table(grid, aggs)
            if table:
                lines += ["Seen and held-out success by condition:", "", *table, ""]
        for v in mine:
            lines.append(f"- Verdict [{v['row']}]: **{v['verdict']}** — {v['reason']}")
        lines.append("")
    lines += [
        "## Figures",
        "",
        "- Greedy evaluation success over training (solid, band: min-max over "
        "seeds) next to training success (dashed, sampled actions), conditions "
        "left and controls right, with chance and optimum lines: "
        "![](learning_curves.png)",
        "- Rank-frequency of whole messages (first finished seed) with the fitted "
        "Zipf line; the legend gives s and the power-law fit: "
        "![](rank_frequency.png)",
        "- MI over training (jackknife, band: min-max over seeds): "
        "![](mi_over_training.png)",
        "- Compositionality vs held-out success, one point per run: "
        "![](compositional_generalization.png)",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- figures
def _savefig(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _seed_curves(runs: list[RunRecord], xkey: str, ykey: str):
    """Per finished run, the curve ``(steps, values)`` of ``curves.json``."""
    out = []
    for r in runs:
        if not r.finished:
            continue
        c = _curves(Path(r.run_dir))
        xs, ys = getattr(c, xkey), getattr(c, ykey)
        if ykey == "mi_bits":  # the views, not the final evaluation's point
            xs, ys = xs[:-1], ys[:-1]
        pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
        if pts:
            out.append((np.array([p[0] for p in pts]), np.array([p[1] for p in pts])))
    return out


def _band(ax, curves, color, style="-", label=None, band=True) -> None:
    if not curves:
        return
    steps = np.array(sorted(set().union(*(c[0].tolist() for c in curves))))
    vals = np.array([np.interp(steps, x, y) for x, y in curves])
    ax.plot(steps, vals.mean(0), style, color=color, label=label, lw=1.4)
    if band and len(curves) > 1:
        ax.fill_between(steps, vals.min(0), vals.max(0), color=color, alpha=0.15)


def write_figures(out: Path, grid: Grid, runs: list[RunRecord]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    env_keys = grid.env_keys
    palette = plt.get_cmap("tab10")
    # one color per channel (and optimizer), the same in every env
    colors = {
        k: palette(i % 10)
        for i, k in enumerate(
            dict.fromkeys(c.base_key.split("/", 1)[1] for c in grid.conditions)
        )
    }
    by_cond = {
        c.key: [r for r in runs if r.condition == c.key] for c in grid.conditions
    }
    names = []

    # learning curves: conditions | controls
    fig, axes = plt.subplots(
        len(env_keys),
        2,
        figsize=(12, 3.8 * len(env_keys)),
        squeeze=False,
        layout="constrained",
    )
    for row, env_key in enumerate(env_keys):
        for col, controls in enumerate((False, True)):
            ax = axes[row, col]
            for cond in grid.conditions:
                if cond.env_key != env_key or cond.is_control != controls:
                    continue
                rs = by_cond[cond.key]
                color = colors[cond.base_key.split("/", 1)[1]]
                style = {"none": "-", "mute": "-", "shuffle": ":"}[cond.control]
                _band(
                    ax,
                    _seed_curves(rs, "eval_step", "eval_success"),
                    color,
                    style,
                    label=cond.label,
                )
                _band(
                    ax,
                    _seed_curves(rs, "step", "train_success"),
                    color,
                    "--",
                    band=False,
                )
            chance = success_without_message(env_key)
            ax.axhline(1.0, color="black", lw=0.8, ls="-.")
            ax.axhline(chance, color="gray", lw=0.8, ls=":")
            what = "controls (mute solid, shuffle dotted)" if controls else "conditions"
            ax.set(
                title=f"{env_key}: {what}",
                xlabel="env steps",
                ylabel="success (fraction of episodes)",
                ylim=(-0.02, 1.05),
            )
            handles, _ = ax.get_legend_handles_labels()
            handles += [
                Line2D([], [], color="black", ls="-.", lw=0.8, label="optimum 1.0"),
                Line2D(
                    [],
                    [],
                    color="gray",
                    ls=":",
                    lw=0.8,
                    label=f"best without a message {chance:.2f}",
                ),
                Line2D([], [], color="k", ls="--", lw=1, label="training (sampled)"),
            ]
            ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.suptitle(
        f"Greedy evaluation success ({grid.eval_batch} episodes; mean over "
        "seeds, band min-max) and training success (dashed, mean)",
        fontsize=10,
    )
    _savefig(fig, out / "learning_curves.png")
    plt.close(fig)
    names.append("learning_curves.png")

    # rank-frequency with the fitted Zipf line
    from analysis.symbols import rank_frequency, symbol_counts

    fig, axes = plt.subplots(
        1,
        len(env_keys),
        figsize=(5.5 * len(env_keys), 5.2),
        squeeze=False,
        layout="constrained",
    )
    for ax, env_key in zip(axes[0], env_keys):
        for cond in grid.conditions:
            if cond.env_key != env_key or cond.is_control or not cond.talks:
                continue
            run = next((r for r in by_cond[cond.key] if r.finished), None)
            if run is None:
                continue
            msgs = np.load(Path(run.run_dir) / "messages.npz")["messages"]
            counts = symbol_counts(msgs, unit="message")
            ranks, freqs = rank_frequency(counts)
            color = colors[cond.base_key.split("/", 1)[1]]
            ax.loglog(ranks, freqs, ".", color=color, ms=3)
            fitted = f"{cond.label} (seed {run.seed}): {counts.size} distinct"
            if run.zipf_observed_fraction:
                possible = round(counts.size / run.zipf_observed_fraction)
                fitted += f" of {possible:,} possible"
            if run.zipf_s is not None and ranks.size >= 2:
                z = ranks.astype(float) ** -run.zipf_s
                fitted += f", Zipf s={run.zipf_s:.2f}"
                if run.powerlaw_alpha is not None:
                    fitted += (
                        f"\n    PL α={run.powerlaw_alpha:.2f}, GOF p="
                        f"{run.powerlaw_gof_p:.2f} → {run.powerlaw_verdict}"
                    )
                ax.loglog(ranks, z / z.sum(), "-", color=color, lw=1, label=fitted)
        ax.set(
            title=f"{env_key}: whole-message rank-frequency",
            xlabel="rank",
            ylabel="frequency (fraction of messages)",
        )
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    _savefig(fig, out / "rank_frequency.png")
    plt.close(fig)
    names.append("rank_frequency.png")

    # MI over training
    fig, axes = plt.subplots(
        1,
        len(env_keys),
        figsize=(5.5 * len(env_keys), 3.8),
        squeeze=False,
        layout="constrained",
    )
    for ax, env_key in zip(axes[0], env_keys):
        for cond in grid.conditions:
            if cond.env_key != env_key or cond.control == "shuffle":
                continue
            _band(
                ax,
                _seed_curves(by_cond[cond.key], "mi_step", "mi_bits"),
                colors[cond.base_key.split("/", 1)[1]],
                "--" if cond.is_control else "-",
                label=cond.label,
            )
        ax.set(
            title=f"{env_key}: MI(message; meaning), mute dashed",
            xlabel="env steps",
            ylabel=f"MI (bits, jackknife, {grid.eval_batch} episodes)",
        )
        ax.legend(fontsize=7)
    _savefig(fig, out / "mi_over_training.png")
    plt.close(fig)
    names.append("mi_over_training.png")

    # compositionality vs held-out success
    held = [e for e in env_keys if "holdout_fraction" in ENVS[e].config]
    fig, axes = plt.subplots(
        max(1, len(held)),
        3,
        figsize=(14, 4 * max(1, len(held))),
        squeeze=False,
        layout="constrained",
    )
    corrs = correlations(grid, runs)
    for i, env_key in enumerate(held):
        talking = [c for c in grid.conditions if c.env_key == env_key and c.talks]
        for j, metric in enumerate(COMPOSITIONALITY):
            ax = axes[i, j]
            for cond in talking:
                if cond.is_control:
                    continue
                pts = [
                    (getattr(r, metric), r.success_heldout)
                    for r in by_cond[cond.key]
                    if r.finished and r.success_heldout is not None
                ]
                if pts:
                    x, y = zip(*pts)
                    ax.plot(
                        x,
                        y,
                        "o",
                        color=colors[cond.base_key.split("/", 1)[1]],
                        label=cond.label,
                    )
            chance = success_without_message(env_key)
            ax.axhline(
                chance, color="gray", ls=":", lw=0.8, label=f"chance {chance:.2f}"
            )
            c = corrs.get(f"{env_key}: {metric}")
            stat = (
                "rho undefined"
                if c is None or c.rho is None
                else f"Spearman rho={c.rho:.2f}, permutation p={c.p_value:.3f}"
            )
            ax.set(
                title=f"{env_key}: {metric}\n{stat}",
                xlabel=f"{metric} (training-combination messages)",
                ylabel="held-out success (fraction)",
            )
            ax.legend(fontsize=7)
    _savefig(fig, out / "compositional_generalization.png")
    plt.close(fig)
    names.append("compositional_generalization.png")
    return names


# ---------------------------------------------------------------- main
def _csv_bytes(runs: list[RunRecord]) -> bytes:
    names = [f.name for f in dataclasses.fields(RunRecord)]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(names)
    for r in runs:
        row = []
        for name in names:
            v = getattr(r, name)
            row.append(json.dumps(list(v)) if isinstance(v, tuple) else v)
        writer.writerow(row)
    return buf.getvalue().encode()


def _error(message: str) -> SystemExit:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return SystemExit(2)


def _check_grid(grid: Grid) -> None:
    """Build every condition's options and agents once, before anything is
    written (a bad combination exits with code 2)."""
    import torch

    import envs
    from agents.networks import build_agents

    for cond in grid.conditions:
        try:
            spec = cond.aim_args(grid).train
            with torch.random.fork_rng(devices=[]):
                core = envs.make_vec(spec.env, 1, seed=0, **spec.env_config)
                with torch.device("meta"):  # shapes only, no memory
                    build_agents(core, spec)
        except (TypeError, ValueError) as err:
            raise _error(f"{cond.key}: {err}") from err


def grid_to_dict(grid: Grid) -> dict[str, Any]:
    """The grid as JSON (``study.json``, ``results.json``)."""
    return {
        "conditions": [c.key for c in grid.conditions],
        "seeds": list(grid.seeds),
        "steps": grid.steps,
        "num_envs": grid.num_envs,
        "eval_episodes": grid.eval_episodes,
        "views": grid.views,
        "gof_bootstrap": grid.gof_bootstrap,
        "quick": grid.quick,
        "notes": list(grid.notes),
        "eval_batch": grid.eval_batch,
        "eval_points": grid.eval_points,
    }


def grid_from_dict(data: Mapping[str, Any], out: Path | None = None) -> Grid:
    """The :class:`Grid` of :func:`grid_to_dict`. A study written before the grid
    recorded ``eval_batch``/``eval_points`` takes them from a run's ``config.json``
    in ``out`` (what the runs used), else from ``experiments.aim``'s defaults."""
    sizes = {k: data[k] for k in ("eval_batch", "eval_points") if k in data}
    if len(sizes) < 2 and out is not None:
        for config in sorted((out / "runs").glob("*/config.json")):
            stored = from_dict(aim.Args, read_json(config), where=str(config))
            sizes = {"eval_batch": stored.eval_batch, "eval_points": stored.eval_points}
            break
    return Grid(
        conditions=tuple(Condition.parse(k) for k in data["conditions"]),
        seeds=tuple(data["seeds"]),
        steps=int(data["steps"]),
        num_envs=int(data["num_envs"]),
        eval_episodes=int(data["eval_episodes"]),
        views=int(data["views"]),
        gof_bootstrap=int(data["gof_bootstrap"]),
        quick=bool(data.get("quick", False)),
        notes=tuple(data.get("notes", ())),
        **{k: int(v) for k, v in sizes.items()},
    )


def _remeasure(out: Path, grid: Grid) -> list[RunRecord]:
    """Every run's record again from its files (``--report-only``)."""
    runs = []
    for cond in grid.conditions:
        for seed in grid.seeds:
            seed_dir = out / "runs" / cond.dirname / f"seed_{seed}"
            if (seed_dir / "summary.json").is_file():
                summary = read_json(seed_dir / "summary.json")
                runs.append(measure(cond, grid, seed, seed_dir, summary))
            else:
                runs.append(
                    RunRecord(
                        condition=cond.key,
                        env=cond.env_key,
                        channel=cond.channel_key,
                        control=cond.control,
                        faithful_optimizer=cond.faithful_opt,
                        seed=seed,
                        run_dir=str(seed_dir.resolve()),
                        diverged=True,
                        error="no summary.json: the run did not finish",
                    )
                )
    return runs


def publish(
    out: Path, grid: Grid, runs: list[RunRecord], meta: dict[str, Any]
) -> dict[str, Any]:
    """Aggregate, decide, draw and write ``results.json``, ``results.csv`` and
    ``report.md``; returns the content of ``results.json``."""
    aggs = aggregate(grid, runs)
    verdict_rows = verdicts(grid, aggs)
    meta = {
        **meta,
        "n_runs": len(runs),
        "n_diverged": sum(r.diverged for r in runs),
        "paths": "run_dir values are absolute",
        "interval_method": INTERVAL_METHOD,
    }
    figures = write_figures(out, grid, runs)
    results = {
        "meta": meta,
        "grid": grid_to_dict(grid),
        "claims": [{"key": c.key, "title": c.title, "rule": c.rule} for c in CLAIMS],
        "runs": [r.to_dict() for r in runs],
        "conditions": {
            k: {
                "n_runs": s.n_runs,
                "n_finished": s.n_finished,
                "n_diverged": s.n_diverged,
                "n_degenerate": s.n_degenerate,
                "power_law": dict(s.power_law),
                "convergence_passes": s.convergence_passes,
                "metrics": {m: dataclasses.asdict(i) for m, i in s.metrics.items()},
            }
            for k, s in aggs.conditions.items()
        },
        "correlations": {
            k: dataclasses.asdict(c) for k, c in aggs.correlations.items()
        },
        "verdicts": verdict_rows,
        "figures": figures,
    }
    atomic_write_json(out / "results.json", results)
    atomic_write_bytes(out / "results.csv", _csv_bytes(runs))
    report = render_report(grid, aggs, verdict_rows, meta)
    atomic_write_bytes(out / "report.md", report.encode())
    return results


def _report_only(args: Args) -> dict[str, Any]:
    out = Path(args.out or "")
    stored = [p for p in (out / "study.json", out / "results.json") if p.is_file()]
    if not args.out or not stored:
        raise _error(
            f"--report-only needs --out STUDY holding a study.json or results.json, "
            f"got {out}"
        )
    try:
        study = read_json(stored[0])
        grid = grid_from_dict(study["grid"], out)
    except (KeyError, TypeError, ValueError) as err:
        raise _error(f"{stored[0]} is unreadable: {err}") from err
    runs = _remeasure(out, grid)
    previous = out / "results.json"
    meta = dict(study.get("meta", {}))
    if previous.is_file():
        meta = {**meta, **read_json(previous).get("meta", {})}
    meta["report_rebuilt"] = time.strftime("%Y-%m-%d %H:%M")
    return publish(out, grid, runs, meta)


def main(argv: list[str] | None = None) -> dict:
    """Run the study; returns the content of ``results.json``."""
    args = parse_args(Args, argv, prog=PROG, description=__doc__.split("\n")[0])
    if args.report_only:
        results = _report_only(args)
        if args.progress:
            print(f"report: {Path(args.out) / 'report.md'} (rebuilt from run files)")
        return results
    grid = build_grid(args)
    if not grid.conditions:
        raise _error("nothing to run: " + "; ".join(grid.notes))
    _check_grid(grid)
    out = Path(args.out or f"studies/aim_{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise _error(
                f"study directory {out} exists and is not empty: pass --overwrite "
                "to replace it, or choose another --out"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    argv_used = list(sys.argv[1:] if argv is None else argv)
    meta = {
        "out": str(out),
        "out_absolute": str(out.resolve()),
        "cwd": os.getcwd(),
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join([PROG, *argv_used]),
        "quick": grid.quick,
    }
    atomic_write_json(out / "study.json", {"meta": meta, "grid": grid_to_dict(grid)})
    t0 = time.perf_counter()
    runs: list[RunRecord] = []
    # One line per run with the overall ETA (from the mean time of each condition).
    jobs = JobProgress(
        "aim_study",
        [cond.key for cond in grid.conditions for _ in grid.seeds],
        enabled=args.progress,
    )
    for cond in grid.conditions:
        for seed in grid.seeds:
            jobs.start(f"{cond.key} seed {seed}")
            record = run_one(cond, grid, seed, out)
            runs.append(record)
            if args.progress and record.diverged:
                print(f"{PROG}: {cond.key} seed {seed} diverged", file=sys.stderr)
    jobs.finish()
    meta["wall_s"] = time.perf_counter() - t0
    results = publish(out, grid, runs, meta)
    if args.progress:
        if grid.quick:
            print(SMOKE.strip("*"))
        titles = {c.key: c.title for c in CLAIMS}
        for v in results["verdicts"]:
            print(f"{titles[v['claim']]} [{v['row']}]: {v['verdict']}")
        print(f"report: {out / 'report.md'} ({meta['wall_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
