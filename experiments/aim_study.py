"""The AIM claims under controls: one study, one report.

The AIM paper (arXiv 2507.10566) claims that agents with an endogenous VQ-VAE symbol
system (1) develop effective communication, (2) use symbols with power-law
frequencies, (3) compress meanings, (4) converge semantically to a (Nash)
equilibrium, and (5) beat explicit-communication baselines. Its reference code cannot
separate these from artifacts (gradients never zeroed; a game that needs no
communication). This study trains every condition through ``experiments.aim``
(``aim.Args`` + ``aim.run_seed``, native backend), always next to the comm-off
control (channel ``none``) of the same env, and decides each claim with the explicit
rules in :data:`RULES` (printed in the report).

How to run
----------
``python -m experiments.aim_study``
    The default, reduced grid (about 20 minutes on 2 loaded CPU cores): envs
    ``referential``, ``pd_faithful``, ``pd_hidden``; channels ``vq``, ``categorical``,
    ``categorical_ps``, ``none``; seeds 0-4; 98,304 env steps per run.
``python -m experiments.aim_study --full``
    The whole grid: every channel (``vq``, ``rvq``, ``categorical``,
    ``categorical_ps``, ``gumbel``, ``none``), the faithful-optimizer condition,
    5 seeds, 262,144 steps per run (hours on 2 cores).
``python -m experiments.aim_study --quick``
    A smoke run (seconds): ``referential`` and ``pd_hidden`` x ``vq``/``none``,
    2 seeds, 8,192 steps.
``python -m experiments.aim_study --faithful-optimizer --channels vq none``
    Adds ``vq+faithful_opt``: the reference's never-zeroed gradients and decays
    (``accumulate_grads=True, lr_decay=0.9995, ent_decay=0.9999``).

Envs: ``referential`` is ``referential_v0`` (defaults); ``pd_faithful`` is
``contextual_pd_v0`` with ``payoff="aim"`` (both agents see the label: the reference
game); ``pd_hidden`` is ``contextual_pd_v0`` with ``payoff="parity_coordination"``,
``label_visibility="sender_only"`` (the responder must read the message).

Results to expect
-----------------
``<out>/report.md`` (a section per claim: a table over conditions with means and 95%
t-intervals across seeds, the comm-off control next to each row, and verdict lines),
``learning_curves.png``, ``rank_frequency.png``, ``mi_over_training.png``,
``results.csv`` / ``results.json`` (every per-run number, with the run directory it
came from) and ``runs/<condition>/seed_<s>/`` (the ``experiments.aim`` run files:
``summary.json``, ``messages.npz``, TensorBoard events, ``checkpoints/latest.pt``).
Communication is expected to be effective in ``referential`` and ``pd_hidden`` and
not in ``pd_faithful``, where the comm-off control already reaches the optimum.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.results import TrainingDiverged
from agents.spec import PPOConfig, TrainSpec
from experiments import aim
from experiments._cli import check_fields, describe, parse_args, to_dict
from experiments._io import atomic_write_bytes, atomic_write_json, read_json
from experiments._progress import JobProgress

__all__ = ["Args", "Condition", "RULES", "main"]

PROG = "python -m experiments.aim_study"

# key -> (env name, env config, what it is)
ENVS: dict[str, tuple[str, dict, str]] = {
    "referential": ("referential_v0", {}, "Lewis referential game (defaults)"),
    "pd_faithful": (
        "contextual_pd_v0",
        {"payoff": "aim"},
        "AIM contextual PD, both see the label (the reference game)",
    ),
    "pd_hidden": (
        "contextual_pd_v0",
        {"payoff": "parity_coordination", "label_visibility": "sender_only"},
        "hidden-context PD: only the sender sees the label",
    ),
}
# key -> (aim channel, channel options)
CHANNELS: dict[str, tuple[str, dict]] = {
    "vq": ("vq", {}),
    "rvq": ("rvq", {}),
    "categorical": ("categorical", {}),
    "categorical_ps": ("categorical", {"positive_signalling": 0.5}),
    "gumbel": ("gumbel", {}),
    "none": ("none", {}),
}
CONTROL = "none"
AIM_CHANNEL = "vq"
EXPLICIT = ("categorical", "categorical_ps", "gumbel")
FAITHFUL_OPT = {"accumulate_grads": True, "lr_decay": 0.9995, "ent_decay": 0.9999}
VERDICTS = ("supported", "not supported", "inconclusive")

MI_MIN_BITS = 0.1
P_MAX = 0.1
CONV_FRAC = 0.95
OPT_FRAC = 0.95
RULES: dict[str, str] = {
    "communication": (
        "supported if the channel's success 95% interval lies entirely above the "
        f"comm-off control's AND mean MI > {MI_MIN_BITS} bits; not supported if mean "
        f"success <= the control's mean OR the MI interval's upper end <= "
        f"{MI_MIN_BITS} bits; otherwise (overlap, or n=1) inconclusive."
    ),
    "power_law": (
        "per seed, a pass = the power-law fit of whole-message usage counts is not "
        f"significantly worse than a lognormal (not R<0 with p<{P_MAX}) AND "
        f"significantly better than an exponential (R>0, p<{P_MAX}); a seed whose "
        "messages have < 2 distinct counts cannot be fitted and fails. Supported if "
        "more than half of the seeds pass; not supported otherwise; inconclusive "
        "if fewer than 2 seeds could be fitted."
    ),
    "compression": (
        "supported if the MI interval lies above the control's AND mean "
        "H(message)/H(meaning) < 1 (fewer effective messages than meanings) AND "
        "mean MI/H(message) >= 0.5 (most message entropy is about the meaning); not "
        f"supported if mean MI <= {MI_MIN_BITS} bits OR the ratio >= 1 OR the "
        "efficiency < 0.5; otherwise inconclusive."
    ),
    "convergence": (
        f"per seed, a pass = return >= {OPT_FRAC} of the optimum AND final MI > "
        f"{MI_MIN_BITS} bits AND the MI curve is stable (last two points differ by "
        "<= 10% + 0.05 bits). Supported if more than half of the seeds pass AND the "
        f"comm-off control's mean return stays < {OPT_FRAC} of the optimum (the "
        "equilibrium needs the messages); not supported otherwise; inconclusive with "
        "fewer than 2 seeds. Convergence step: the first env step at which the "
        f"trailing 3-point mean of a curve reaches {CONV_FRAC} of its final value."
    ),
    "beats_baselines": (
        "supported if the vq success interval lies entirely above that of every "
        "explicit baseline run (categorical, categorical_ps, gumbel); not "
        "supported if vq's mean success <= any baseline's mean; otherwise "
        "inconclusive (including when no baseline ran)."
    ),
}
CLAIMS = {
    "communication": "Claim 1: effective communication",
    "power_law": "Claim 2: symbol usage follows a power law",
    "compression": "Claim 3: semantic compression",
    "convergence": "Claim 4: Nash-equilibrium-driven semantic convergence",
    "beats_baselines": "Claim 5: AIM beats explicit-communication baselines",
}


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
    faithful_optimizer: bool = False


PRESETS = {
    "quick": Preset(("referential", "pd_hidden"), ("vq", "none"), (0, 1), 8192, 256,
                    500, 4),
    "default": Preset(
        tuple(ENVS), ("vq", "categorical", "categorical_ps", "none"), (0, 1, 2, 3, 4),
        98_304, 1024, 2000, 6,
    ),
    "full": Preset(tuple(ENVS), tuple(CHANNELS), (0, 1, 2, 3, 4), 262_144, 1024,
                   2000, 8, True),
}  # fmt: skip


@dataclass(frozen=True)
class Args:
    """Options of ``python -m experiments.aim_study``."""

    out: str | None = field(
        default=None,
        metadata=describe("Study directory (default: studies/aim_<timestamp>)."),
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
            "Env steps per run (default: the mode's: 98,304; quick 8,192; full "
            "262,144)."
        ),
    )
    quick: bool = field(
        default=False,
        metadata=describe(
            "Smoke mode: referential + pd_hidden x vq/none, 2 seeds, tiny runs."
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
            "signalling), gumbel, none (default: the mode's; none, the comm-off "
            "control, is always added)."
        ),
    )
    truncated_power_law: bool = field(
        default=False,
        metadata=describe(
            "Also compare the power law against a truncated power law (slow: ~1-3 s "
            "per fit)."
        ),
    )
    progress: bool = field(default=True, metadata=describe("Show progress bars."))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.quick and self.full:
            raise ValueError("--quick and --full exclude each other")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.seeds is not None and not self.seeds:
            raise ValueError("seeds must name at least one seed")
        for name, allowed in (("envs", ENVS), ("channels", CHANNELS)):
            for key in getattr(self, name) or ():
                if key not in allowed:
                    raise ValueError(
                        f"{name}: unknown {key!r}; allowed: {', '.join(allowed)}"
                    )

    @property
    def preset(self) -> Preset:
        return PRESETS["quick" if self.quick else "full" if self.full else "default"]


@dataclass(frozen=True)
class Condition:
    """One cell of the grid: an env, a channel and an optimizer."""

    env_key: str
    channel_key: str
    faithful_opt: bool = False

    @property
    def key(self) -> str:
        suffix = "+faithful_opt" if self.faithful_opt else ""
        return f"{self.env_key}/{self.channel_key}{suffix}"

    @property
    def dirname(self) -> str:
        return self.key.replace("/", "__")

    @property
    def is_control(self) -> bool:
        return self.channel_key == CONTROL and not self.faithful_opt

    @property
    def control(self) -> str:
        return Condition(self.env_key, CONTROL).key

    def aim_args(self, grid: Grid) -> aim.Args:
        env, env_config, _ = ENVS[self.env_key]
        channel, options = CHANNELS[self.channel_key]
        ppo = PPOConfig(
            num_envs=grid.num_envs, **(FAITHFUL_OPT if self.faithful_opt else {})
        )
        train = TrainSpec(
            env=env,
            env_config=dict(env_config),
            channel=channel,  # type: ignore[arg-type]
            channel_options=dict(options),
            ppo=ppo,
            steps=grid.steps,
        )
        return aim.Args(
            train=train,
            seeds=grid.seeds,
            eval_episodes=grid.eval_episodes,
            checkpoint_every=10_000,
            views=grid.views,
            progress=grid.progress,
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
    progress: bool
    power_law_alternatives: tuple[str, ...] = field(
        default=("lognormal", "exponential")
    )


def build_grid(args: Args) -> Grid:
    p = args.preset
    envs_ = args.envs or p.envs
    channels = list(dict.fromkeys(args.channels or p.channels))
    if CONTROL not in channels:
        channels.append(CONTROL)  # the comm-off control of every env
    conditions = [Condition(e, c) for e in envs_ for c in channels]
    if args.faithful_optimizer or p.faithful_optimizer:
        conditions += [Condition(e, AIM_CHANNEL, True) for e in envs_]
    alternatives = ("lognormal", "exponential")
    if args.truncated_power_law:
        alternatives += ("truncated_power_law",)
    return Grid(
        conditions=tuple(conditions),
        seeds=args.seeds or p.seeds,
        steps=args.steps or p.steps,
        num_envs=p.num_envs,
        eval_episodes=p.eval_episodes,
        views=p.views,
        progress=args.progress,
        power_law_alternatives=alternatives,
    )


# ---------------------------------------------------------------- statistics
def t_interval(values: list[float]) -> dict[str, Any]:
    """Mean and 95% t-interval of ``values`` (None entries dropped)."""
    from scipy import stats

    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(vals)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = float(np.mean(vals))
    if n == 1:
        return {"mean": mean, "lo": None, "hi": None, "n": 1}
    half = float(stats.t.ppf(0.975, n - 1) * np.std(vals, ddof=1) / math.sqrt(n))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n}


def convergence_step(steps, values, *, frac: float = CONV_FRAC, window: int = 3):
    """First step at which the trailing mean of ``values`` reaches ``frac`` x final.

    None when the curve is empty or its final (trailing-mean) value is <= 0.
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
def _read_curves(seed_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """The run's training-success and MI curves, from its ``curves.json``."""
    curves = read_json(seed_dir / "curves.json")
    pairs = [
        (s, v) for s, v in zip(curves["step"], curves["train_success"]) if v is not None
    ]
    # The last MI point is the final evaluation (eval_episodes messages, not the
    # views' eval_batch): the run's final MI, but on another sample size, so it is
    # left out of the curve, whose points must be comparable.
    mi_steps, mi_bits = curves["mi_step"][:-1], curves["mi_bits"][:-1]
    return {
        "success": ([s for s, _ in pairs], [v for _, v in pairs]),
        "mi": (list(mi_steps), list(mi_bits)),
    }


def _power_law(messages: np.ndarray, alternatives) -> dict[str, Any]:
    from analysis.symbols import power_law_fit, symbol_counts, zipf_fit

    counts = symbol_counts(messages, unit="message")
    out: dict[str, Any] = {
        "powerlaw_alpha": None,
        "powerlaw_xmin": None,
        "zipf_s": None,
        "powerlaw_pass": False,
    }
    for alt in ("lognormal", "exponential", "truncated_power_law"):
        out[f"powerlaw_R_{alt}"] = out[f"powerlaw_p_{alt}"] = None
    if counts.size >= 2:
        out["zipf_s"] = zipf_fit(counts).s
    try:
        fit = power_law_fit(counts, alternatives=alternatives)
    except ValueError:  # < 2 distinct counts: nothing to fit
        return out
    out.update(powerlaw_alpha=fit.alpha, powerlaw_xmin=fit.xmin)
    for alt, (r, p) in fit.comparisons.items():
        out[f"powerlaw_R_{alt}"], out[f"powerlaw_p_{alt}"] = r, p
    r_ln, p_ln = fit.comparisons["lognormal"]
    r_ex, p_ex = fit.comparisons["exponential"]
    worse_than_lognormal = r_ln < 0 and p_ln < P_MAX
    out["powerlaw_pass"] = bool(not worse_than_lognormal and r_ex > 0 and p_ex < P_MAX)
    return out


def _optimum(env_key: str) -> float:
    env, config, _ = ENVS[env_key]
    if env == "contextual_pd_v0":
        from envs.contextual_pd import joint_optimum

        return joint_optimum(config["payoff"]).mean
    return 1.0  # referential: both agents get 1 for the target


def run_one(cond: Condition, grid: Grid, seed: int, out: Path, progress) -> dict:
    """Train one seed of ``cond`` with ``aim.run_seed`` and measure it."""
    args = cond.aim_args(grid)
    run_dir = out / "runs" / cond.dirname
    seed_dir = run_dir / f"seed_{seed}"
    atomic_write_json(run_dir / "config.json", to_dict(args))
    record: dict[str, Any] = {
        "condition": cond.key,
        "env": cond.env_key,
        "channel": cond.channel_key,
        "faithful_optimizer": cond.faithful_opt,
        "seed": seed,
        "run_dir": str(seed_dir.relative_to(out)),
        "diverged": False,
    }
    try:
        summary = aim.run_seed(args, run_dir, seed, progress).summary()
    except TrainingDiverged as err:
        record.update(diverged=True, error=str(err))
        return record
    return measure(record, cond, grid, summary, seed_dir)


def measure(
    record: dict, cond: Condition, grid: Grid, summary: dict, seed_dir: Path
) -> dict:
    """Add the study's numbers of one finished run (its ``aim`` files) to ``record``."""
    from analysis.symbols import entropy, symbol_counts

    optimum = _optimum(cond.env_key)
    record.update(
        success=summary["success"],
        mean_return=summary["mean_return"],
        optimum=optimum,
        optimum_fraction=summary["mean_return"] / optimum,
        mi_bits=summary.get("message_meaning_mi_bits"),
        topsim=summary.get("topsim"),
        posdis=summary.get("posdis"),
        bosdis=summary.get("bosdis"),
        codebook_perplexity=summary["codebook_perplexity"],
        symbol_perplexity=summary.get("symbol_perplexity"),
        distinct_messages=summary.get("distinct_messages"),
        message_entropy_bits=summary.get("message_entropy_bits"),
        env_steps=summary["env_steps"],
        wall_s=summary["wall_s"],
    )
    data = np.load(seed_dir / "messages.npz")
    messages, meanings = data["messages"], data["meanings"]
    h_meaning = entropy(
        symbol_counts(meanings.reshape(len(meanings), -1), unit="message")
    )
    h_msg, mi = record["message_entropy_bits"], record["mi_bits"]
    record["meaning_entropy_bits"] = h_meaning
    record["compression_ratio"] = h_msg / h_meaning if h_meaning > 0 else None
    record["mi_efficiency"] = mi / h_msg if h_msg else 0.0
    record.update(_power_law(messages, grid.power_law_alternatives))
    curves = _read_curves(seed_dir)
    (s_steps, s_vals), (m_steps, m_vals) = curves["success"], curves["mi"]
    record["curve_success"] = {"steps": s_steps, "values": s_vals}
    record["curve_mi"] = {"steps": m_steps, "values": m_vals}
    record["conv_step_success"] = convergence_step(s_steps, s_vals)
    record["conv_step_mi"] = (
        convergence_step(m_steps, m_vals)
        if mi is not None and mi > MI_MIN_BITS
        else None
    )
    stable = (
        len(m_vals) >= 2
        and abs(m_vals[-1] - m_vals[-2]) <= 0.1 * abs(m_vals[-1]) + 0.05
    )
    record["mi_stable"] = bool(stable)
    record["convergence_pass"] = bool(
        record["optimum_fraction"] >= OPT_FRAC
        and mi is not None
        and mi > MI_MIN_BITS
        and stable
    )
    return record


# ---------------------------------------------------------------- aggregation
METRICS = (
    "success",
    "mean_return",
    "optimum_fraction",
    "mi_bits",
    "topsim",
    "posdis",
    "bosdis",
    "codebook_perplexity",
    "distinct_messages",
    "message_entropy_bits",
    "meaning_entropy_bits",
    "compression_ratio",
    "mi_efficiency",
    "powerlaw_alpha",
    "powerlaw_R_lognormal",
    "powerlaw_R_exponential",
    "zipf_s",
    "conv_step_success",
    "conv_step_mi",
    "wall_s",
)


def aggregate(runs: list[dict], conditions) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for cond in conditions:
        rs = [r for r in runs if r["condition"] == cond.key]
        ok = [r for r in rs if not r["diverged"]]
        agg: dict[str, Any] = {m: t_interval([r.get(m) for r in ok]) for m in METRICS}
        agg["n_runs"] = len(rs)
        agg["n_diverged"] = len(rs) - len(ok)
        agg["powerlaw_fitted"] = sum(r.get("powerlaw_alpha") is not None for r in ok)
        agg["powerlaw_passes"] = sum(bool(r.get("powerlaw_pass")) for r in ok)
        agg["convergence_passes"] = sum(bool(r.get("convergence_pass")) for r in ok)
        out[cond.key] = agg
    return out


def _above(a: dict, b: dict) -> bool:
    """Interval ``a`` entirely above interval ``b`` (needs n >= 2 for both)."""
    return a["lo"] is not None and b["hi"] is not None and a["lo"] > b["hi"]


def _mean(a: dict) -> float:
    return float("nan") if a["mean"] is None else a["mean"]


def decide(claim: str, cond: Condition, aggs: dict, grid: Grid) -> tuple[str, str]:
    """(verdict, reason) for ``claim`` on ``cond`` by the rule in :data:`RULES`."""
    a, c = aggs[cond.key], aggs.get(cond.control)
    n = a["success"]["n"]
    if n == 0:
        return "inconclusive", "no finished run"
    if claim == "communication":
        s, cs, mi = a["success"], c["success"], a["mi_bits"]
        if _mean(s) <= _mean(cs):
            return "not supported", (
                f"success {_mean(s):.3f} <= comm-off {_mean(cs):.3f}"
            )
        if (
            mi["hi"] is not None
            and mi["hi"] <= MI_MIN_BITS
            or (mi["n"] == 1 and _mean(mi) <= MI_MIN_BITS)
        ):
            return "not supported", f"MI {_mean(mi):.3f} bits <= {MI_MIN_BITS}"
        if _above(s, cs) and _mean(mi) > MI_MIN_BITS:
            return "supported", (
                f"success {_mean(s):.3f} above comm-off {_mean(cs):.3f} "
                f"(non-overlapping 95% CIs), MI {_mean(mi):.3f} bits"
            )
        return "inconclusive", "success intervals overlap the control's (or n=1)"
    if claim == "power_law":
        fitted, passes = a["powerlaw_fitted"], a["powerlaw_passes"]
        if fitted < 2:
            return "inconclusive", f"only {fitted} seed(s) could be fitted"
        verdict = "supported" if passes > n / 2 else "not supported"
        return verdict, f"{passes}/{n} seeds pass the lognormal/exponential tests"
    if claim == "compression":
        mi, cmi = a["mi_bits"], c["mi_bits"]
        ratio, eff = a["compression_ratio"], a["mi_efficiency"]
        why = (
            f"MI {_mean(mi):.3f} bits, H(msg)/H(meaning) {_mean(ratio):.3f}, "
            f"MI/H(msg) {_mean(eff):.3f}"
        )
        if _mean(mi) <= MI_MIN_BITS or _mean(ratio) >= 1 or _mean(eff) < 0.5:
            return "not supported", why
        if _above(mi, cmi):
            return "supported", why
        return "inconclusive", why + "; MI interval overlaps the control's (or n=1)"
    if claim == "convergence":
        passes, ctrl = a["convergence_passes"], c["optimum_fraction"]
        why = (
            f"{passes}/{n} seeds pass; comm-off reaches "
            f"{_mean(ctrl):.3f} of the optimum"
        )
        if n < 2:
            return "inconclusive", why + " (n=1)"
        if passes > n / 2 and _mean(ctrl) < OPT_FRAC:
            return "supported", why
        return "not supported", why
    if claim == "beats_baselines":
        s = a["success"]
        base = [
            (k, aggs[Condition(cond.env_key, k).key]["success"])
            for k in EXPLICIT
            if Condition(cond.env_key, k).key in aggs
        ]
        base = [(k, b) for k, b in base if b["n"]]
        if not base:
            return "inconclusive", "no explicit baseline ran"
        best_k, best = max(base, key=lambda kb: _mean(kb[1]))
        why = f"vq {_mean(s):.3f} vs best baseline {best_k} {_mean(best):.3f}"
        if _mean(s) <= _mean(best):
            return "not supported", why
        if all(_above(s, b) for _, b in base):
            return "supported", why + " (non-overlapping 95% CIs)"
        return "inconclusive", why + " (intervals overlap, or n=1)"
    raise ValueError(f"unknown claim {claim!r}")


def claim_rows(claim: str, grid: Grid) -> list[Condition]:
    """The conditions a claim is judged on."""
    if claim == "beats_baselines":
        return [c for c in grid.conditions if c.channel_key == AIM_CHANNEL]
    return [c for c in grid.conditions if not c.is_control]


# ---------------------------------------------------------------- report
def fmt(a: dict, digits: int = 3) -> str:
    """``mean [lo, hi]`` (95% t-interval), ``mean (n=1)``, or ``n/a``."""
    if a["mean"] is None:
        return "n/a"
    if a["n"] == 1:
        return f"{a['mean']:.{digits}f} (n=1)"
    return f"{a['mean']:.{digits}f} [{a['lo']:.{digits}f}, {a['hi']:.{digits}f}]"


TABLES: dict[str, list[tuple[str, str, bool]]] = {
    # (column title, metric, from the control?)
    "communication": [
        ("success", "success", False),
        ("comm-off success", "success", True),
        ("MI bits", "mi_bits", False),
        ("comm-off MI bits", "mi_bits", True),
        ("return / optimum", "optimum_fraction", False),
        ("topsim", "topsim", False),
        ("posdis", "posdis", False),
        ("bosdis", "bosdis", False),
        ("codebook perplexity", "codebook_perplexity", False),
    ],
    "power_law": [
        ("distinct messages", "distinct_messages", False),
        ("comm-off distinct messages", "distinct_messages", True),
        ("alpha", "powerlaw_alpha", False),
        ("R vs lognormal", "powerlaw_R_lognormal", False),
        ("R vs exponential", "powerlaw_R_exponential", False),
        ("Zipf s", "zipf_s", False),
    ],
    "compression": [
        ("MI bits", "mi_bits", False),
        ("comm-off MI bits", "mi_bits", True),
        ("H(message) bits", "message_entropy_bits", False),
        ("H(meaning) bits", "meaning_entropy_bits", False),
        ("H(msg)/H(meaning)", "compression_ratio", False),
        ("MI/H(msg)", "mi_efficiency", False),
    ],
    "convergence": [
        ("success conv. step", "conv_step_success", False),
        ("comm-off success conv. step", "conv_step_success", True),
        ("MI conv. step", "conv_step_mi", False),
        ("return / optimum", "optimum_fraction", False),
        ("comm-off return / optimum", "optimum_fraction", True),
    ],
    "beats_baselines": [
        ("vq success", "success", False),
        *[(f"{k} success", f"{k}:success", False) for k in EXPLICIT],
        ("comm-off success", "success", True),
    ],
}
INT_METRICS = {"conv_step_success", "conv_step_mi", "distinct_messages"}


def _cell(metric: str, cond: Condition, aggs: dict, control: bool) -> str:
    key = cond.control if control else cond.key
    if ":" in metric:
        channel, metric = metric.split(":")
        key = Condition(cond.env_key, channel).key
    if key not in aggs:
        return "-"
    return fmt(aggs[key][metric], 0 if metric in INT_METRICS else 3)


def _pass_column(claim: str, cond: Condition, aggs: dict) -> str | None:
    a = aggs[cond.key]
    if claim == "power_law":
        return f"{a['powerlaw_passes']}/{a['success']['n']}"
    if claim == "convergence":
        return f"{a['convergence_passes']}/{a['success']['n']}"
    return None


def render_report(grid: Grid, aggs: dict, verdicts: list[dict], meta: dict) -> str:
    lines = [
        "# The AIM claims under controls",
        "",
        f"Study: `{meta['out']}`; wall time {meta['wall_s']:.0f} s; "
        f"{meta['n_runs']} runs ({meta['n_diverged']} diverged). "
        "Every number below is a mean over seeds with its 95% t-interval "
        "`mean [lo, hi]` (`(n=1)`: one seed, no interval); each per-run value is in "
        "`results.csv` / `results.json`, with the run directory it came from.",
        "",
        "## Grid",
        "",
        f"- seeds {list(grid.seeds)}; {grid.steps:,} env steps per run; "
        f"{grid.num_envs} parallel envs; {grid.eval_episodes} held-out greedy "
        f"evaluation episodes; MI over training from {aim.Args.eval_batch} greedy "
        f"evaluation episodes at {grid.views} points spread over the run "
        "(`experiments.aim` symbol views; the tables' MI is from the final "
        "evaluation).",
        "- envs: "
        + "; ".join(
            f"`{k}` = `{ENVS[k][0]}` {json.dumps(ENVS[k][1])} ({ENVS[k][2]})"
            for k in dict.fromkeys(c.env_key for c in grid.conditions)
        ),
        "- conditions: " + ", ".join(f"`{c.key}`" for c in grid.conditions),
        "- channels: "
        + "; ".join(
            f"`{k}` = `{CHANNELS[k][0]}` {json.dumps(CHANNELS[k][1])}"
            for k in dict.fromkeys(c.channel_key for c in grid.conditions)
        ),
        f"- `+faithful_opt`: the AIM reference's optimizer {json.dumps(FAITHFUL_OPT)}; "
        "the decays apply per PPO iteration (the reference decays per single-sample "
        "round, so over this few iterations they barely move).",
        "",
        "Notes: the comm-off control is channel `none` of the same env. In the "
        "contextual PD each agent's C/D is read off its own first symbol, so `none` "
        "(always symbol 0) also fixes both actions to Cooperate: in `pd_faithful` "
        "that is already the joint optimum (the game needs no communication); in "
        "`pd_hidden` it is the best play without a message (half the optimum). "
        "Power-law fits are of whole-message usage counts (the reference tallies "
        "symbol pairs), compared against "
        + " and ".join(grid.power_law_alternatives)
        + (
            " (the truncated power law is left out for speed; `--truncated-power-law` "
            "adds it)"
            if "truncated_power_law" not in grid.power_law_alternatives
            else ""
        )
        + "; with at most a few hundred distinct messages these tests have little "
        "power. MI is shuffle-corrected (bits), between whole messages and whole "
        "meanings, from the first speaker. It depends strongly on the sample size "
        "when meanings are many (`referential`: 256): the 256-episode points of the "
        "MI-over-training curve read far lower than the final evaluation, and even "
        "the final value is below H(message) although greedy messages are a "
        "function of the input, so the MI/H(msg) criterion of claim 3 is "
        "conservative there.",
        "",
        "## Verdict rules",
        "",
        *[f"- **{CLAIMS[k]}**: {RULES[k]}" for k in CLAIMS],
        "",
    ]
    for claim, title in CLAIMS.items():
        cols = TABLES[claim]
        rows = claim_rows(claim, grid)
        extra = "seeds passing" if claim in ("power_law", "convergence") else None
        header = ["condition", *[t for t, _, _ in cols]] + ([extra] if extra else [])
        header.append("verdict")
        lines += [f"## {title}", "", f"Rule: {RULES[claim]}", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for cond in rows:
            v = next(
                x
                for x in verdicts
                if x["claim"] == claim and x["condition"] == cond.key
            )
            cells = [f"`{cond.key}`"]
            cells += [_cell(m, cond, aggs, ctl) for _, m, ctl in cols]
            if extra:
                cells.append(_pass_column(claim, cond, aggs))
            cells.append(v["verdict"])
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for v in verdicts:
            if v["claim"] == claim:
                lines.append(
                    f"- Verdict [{v['condition']}]: **{v['verdict']}** — {v['reason']}"
                )
        lines.append("")
    lines += [
        "## Figures",
        "",
        "- Learning curves (training success vs env steps, mean over seeds): "
        "![](learning_curves.png)",
        "- Rank-frequency of whole messages (first seed) with the Zipf MLE line: "
        "![](rank_frequency.png)",
        "- MI over training (shuffle-corrected, mean over seeds): "
        "![](mi_over_training.png)",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- figures
def _savefig(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _mean_curve(runs: list[dict], key: str):
    curves = [r[key] for r in runs if key in r and r[key]["steps"]]
    if not curves:
        return None, None
    steps = sorted(set().union(*(c["steps"] for c in curves)))
    vals = np.array(
        [np.interp(steps, c["steps"], c["values"]) for c in curves], dtype=float
    )
    return np.array(steps), vals.mean(axis=0)


def write_figures(out: Path, grid: Grid, runs: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.symbols import rank_frequency, symbol_counts, zipf_fit

    env_keys = list(dict.fromkeys(c.env_key for c in grid.conditions))
    names = []
    for fname, key, ylabel in (
        ("learning_curves.png", "curve_success", "training success"),
        ("mi_over_training.png", "curve_mi", "MI (bits, shuffle-corrected)"),
    ):
        fig, axes = plt.subplots(1, len(env_keys), figsize=(5 * len(env_keys), 3.6))
        for ax, env_key in zip(np.atleast_1d(axes), env_keys):
            for cond in (c for c in grid.conditions if c.env_key == env_key):
                steps, mean = _mean_curve(
                    [r for r in runs if r["condition"] == cond.key], key
                )
                if steps is not None:
                    style = "--" if cond.is_control else "-"
                    label = cond.key.split("/", 1)[1]
                    ax.plot(steps, mean, style, marker=".", label=label)
            ax.set(title=env_key, xlabel="env steps", ylabel=ylabel)
            ax.legend(fontsize=7)
        _savefig(fig, out / fname)
        plt.close(fig)
        names.append(fname)
    fig, axes = plt.subplots(1, len(env_keys), figsize=(5 * len(env_keys), 3.6))
    for ax, env_key in zip(np.atleast_1d(axes), env_keys):
        for cond in (c for c in grid.conditions if c.env_key == env_key):
            run = next(
                (r for r in runs if r["condition"] == cond.key and not r["diverged"]),
                None,
            )
            if run is None:
                continue
            msgs = np.load(out / run["run_dir"] / "messages.npz")["messages"]
            counts = symbol_counts(msgs, unit="message")
            ranks, freqs = rank_frequency(counts)
            (line,) = ax.loglog(ranks, freqs, ".", label=cond.key.split("/")[1])
            if ranks.size >= 2:
                s = zipf_fit(counts).s
                z = ranks.astype(float) ** -s
                ax.loglog(ranks, z / z.sum(), "-", color=line.get_color(), lw=0.8)
        ax.set(title=env_key, xlabel="rank", ylabel="frequency")
        ax.legend(fontsize=7)
    _savefig(fig, out / "rank_frequency.png")
    plt.close(fig)
    names.append("rank_frequency.png")
    return names


# ---------------------------------------------------------------- main
CSV_SKIP = ("curve_success", "curve_mi")


def _csv_bytes(runs: list[dict]) -> bytes:
    keys = list(dict.fromkeys(k for r in runs for k in r if k not in CSV_SKIP))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    for r in runs:
        writer.writerow({k: r.get(k) for k in keys})
    return buf.getvalue().encode()


def main(argv: list[str] | None = None) -> dict:
    """Run the study; returns the content of ``results.json``."""
    args = parse_args(Args, argv, prog=PROG, description=__doc__.split("\n")[0])
    grid = build_grid(args)
    out = Path(args.out or f"studies/aim_{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs: list[dict] = []
    jobs = JobProgress(
        "aim_study",
        [cond.key for cond in grid.conditions for _ in grid.seeds],
        enabled=args.progress,
    )
    with aim._Progress(args.progress) as progress:
        for cond in grid.conditions:
            for seed in grid.seeds:
                jobs.start(f"{cond.key} seed {seed}")
                runs.append(run_one(cond, grid, seed, out, progress))
    jobs.finish()
    aggs = aggregate(runs, grid.conditions)
    verdicts = [
        dict(claim=claim, condition=cond.key, verdict=v, reason=why)
        for claim in CLAIMS
        for cond in claim_rows(claim, grid)
        for v, why in [decide(claim, cond, aggs, grid)]
    ]
    meta = {
        "out": str(out),
        "wall_s": time.perf_counter() - t0,
        "n_runs": len(runs),
        "n_diverged": sum(r["diverged"] for r in runs),
        "argv": list(sys.argv[1:] if argv is None else argv),
    }
    figures = write_figures(out, grid, runs)
    results = {
        "meta": meta,
        "grid": {
            "conditions": [c.key for c in grid.conditions],
            "seeds": list(grid.seeds),
            "steps": grid.steps,
            "num_envs": grid.num_envs,
            "eval_episodes": grid.eval_episodes,
            "views": grid.views,
            "power_law_alternatives": list(grid.power_law_alternatives),
        },
        "rules": RULES,
        "runs": runs,
        "conditions": aggs,
        "verdicts": verdicts,
        "figures": figures,
    }
    atomic_write_json(out / "results.json", results)
    atomic_write_bytes(out / "results.csv", _csv_bytes(runs))
    report = render_report(grid, aggs, verdicts, meta)
    atomic_write_bytes(out / "report.md", report.encode())
    if args.progress:
        for v in verdicts:
            print(f"{CLAIMS[v['claim']]} [{v['condition']}]: {v['verdict']}")
        print(f"report: {out / 'report.md'} ({meta['wall_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
