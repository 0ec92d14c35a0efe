"""Generalization difficulty of tasks: closed-form tables and an empirical check.

Computes the inductive-bias complexity (Boopathy et al. 2023, bits; see
:mod:`analysis.difficulty`) of

* the classic reference tasks, from their published constants (MNIST, CIFAR-10,
  SVHN, ImageNet, Reacher, the simplified cart-pole at T = 1, 2);
* our own tasks, from each env's ``task_spec()``: ``cartpole_v0`` with the full
  state vs position-only observations at T = 1..5 stacked observations,
  ``reach_v0`` in dim 2..8 with the goal visible (MDP) vs hidden (POMDP), and
  ``referential_v0``'s listener with and without the message channel;
* scikit-learn's 8×8 digits (pixels scaled to [0, 1]) with m, δ, R estimated from
  the data.

With ``--empirical`` it also trains stable-baselines3 PPO on ``aim/CartPole-v0`` and
``aim/CartPole-POMDP-v0`` (several ``history=T``), measures steps-to-threshold and
the generalization gap over seeds, samples hypotheses (networks trained from fresh
starts to imitate the full-state policy from each task's input) for the sampled
measure, and reports the Spearman correlation between the closed-form ordering and
the empirical ones.

How to run
----------
::

    python -m experiments.gendiff                       # closed form, < 1 min on CPU
    python -m experiments.gendiff --out runs/gd --n-steps 1e5
    python -m experiments.gendiff --empirical --timesteps 20000 --seeds 3 \\
        --histories 2 3 4
    python -m experiments.gendiff --native-reach --native-dims 2 3 4
    python -m experiments.gendiff --help

Writes into ``--out`` (default ``runs/gendiff``), atomically:

* ``difficulty.csv`` and ``difficulty.md``: the same columns (:data:`COLUMNS`) and
  values; bits are written as ``log10_bits`` (4 decimals in both files), so a value
  beyond float64 is never ``inf``; ``invalid`` names why the closed form does not
  measure a row; the Markdown ends with a caption defining every column;
* ``difficulty.png``: one bar of log10(bits) per row, labelled with the number of
  bits, coloured by group (legend), rows the closed form does not measure hatched
  with their reason;
* with ``--empirical`` / ``--native-reach``: ``empirical.csv`` / ``.md`` and
  ``native_reach.csv`` / ``.md`` (columns :data:`EMPIRICAL_COLUMNS`,
  :data:`NATIVE_COLUMNS`).

Progress lines on stderr say what runs (``--quiet`` silences them and the tables).

With ``--save-agents`` (the default) every agent ``--empirical`` or
``--native-reach`` trains is saved under ``agents/`` (SB3 ``.zip`` files; the native
movers as state dicts of :func:`agents.networks.build_agent_of`), each with a model
card, and probed by ``python -m experiments.probe``: ``probe_empirical/`` and
``probe_native_reach/`` hold the probe reports, ``probe_velocity.csv`` the
cart-pole velocity table that ``empirical.md`` shows (how much of each hidden
velocity each layer holds, next to the closed-form difficulty). For this table
``--empirical`` also trains position-only cart-pole without history (T=1), which is
kept out of the orderings.

Results to expect
-----------------
Default run: 7 + 10 + 21 + 2 + 1 = 41 rows in about 10-20 s on a 2-core CPU.

* The reference rows reproduce the published values (MNIST 1.485e16, CIFAR-10
  3.438e32, Reacher 2.914e25, cart-pole 4.415e9 / 3.326e17 bits); SVHN 1.213e31 and
  ImageNet 3.583e41 are computed from the published constants.
* ``cartpole_v0``: the closed form depends on the input dimension only. The full
  state (4-D, needs history 1) and positions (2-D, need history 2) both give a 4-D
  minimal input, 3.326e17 bits each: by this measure the POMDP is *not* harder at
  its minimal sufficient history. Given T stacked observations, full costs
  4T dims (T=5: 1.2e76 bits) and position 2T (T=5: 1.2e40); position at T=1
  (4.4e9) is below every sufficient input and is flagged "input insufficient".
* ``reach_v0`` (n = 1e4, δ = goal tolerance 0.1): goal visible grows from 4.9e9
  (dim 2) to 4.8e30 (dim 8); goal hidden is modelled by the env as history =
  max_steps, so m = 100..400 and the bits run from 1.3e142 to beyond float64
  (the table prints them from ``log10_bits``); a speaker telling the goal puts
  the hidden-goal task in between (1.5e33..9.8e42: history 1, but the message
  one-hot adds input dimensions, m = 18..24).
* ``referential_v0`` listener: with the message 1.9e26 bits (m = 96), without 1.8e23
  (m = 64). The smaller number for the unsolvable task is a caveat of the
  measure: it sizes the hypothesis space the input allows, not whether the input
  carries the answer.
* Digits: m ≈ 8 (k = 3..20 spread 8.8..6.8), δ ≈ 1.18, R ≈ 4.8, about 3.2e10 bits.
* ``--empirical`` with the small defaults (10k PPO steps, 2 seeds; 3-5 min on 2
  cores): the full-state task reaches the threshold, the position-only ones
  mostly do not; Spearman rho over 3 tasks is coarse (values in {0, ±0.5,
  ±0.87, ±1}) and noisy at this budget. Raise ``--timesteps`` / ``--seeds`` for a
  real comparison.
* ``--empirical --timesteps 50000 --seeds 3 --histories 2 3`` (23 min on a loaded
  2-core machine, 2026-11-30): final return 500 (full), 271 (positions T=2), 390
  (T=3); the probe's held-out R² of cart velocity / pole angular velocity is
  1.00 / 1.00 from input and hidden layers with the full state, 0.02 / 0.02 from
  every layer with positions only and no history, 0.83 / 0.78 from the input and
  0.86 / 0.80 from the first hidden layer at T=2, 0.90 / 0.90 and 0.92 / 0.90 at T=3.

``--native-reach`` runs the same kind of check on ``reach_v0`` (goal visible vs
hidden, ``--native-dims``) with ``agents.native``'s batched PPO trainer
(:func:`empirical_native_reach`); files ``native_reach.csv`` / ``native_reach.md``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from analysis.difficulty import (
    Difficulty,
    classification_difficulty,
    inductive_bias_complexity,
    pomdp_difficulty,
    rl_difficulty,
    task_difficulty,
)
from experiments import _cli
from experiments._io import atomic_write_bytes
from experiments._progress import JobProgress

DeltaMethod = Literal["sample", "evt"]


def env_task_difficulty(env_name: str, *, n_steps: float, **options: Any) -> Difficulty:
    """:func:`analysis.difficulty.task_difficulty` of a registered env, by name.

    ``options`` are split: ``eps``, ``agent``, ``spec_options`` and
    ``input_history`` go to ``task_difficulty``; the rest is the env config of
    ``envs.make_vec(env_name, 1, **config)``. The result is labelled with the name.
    """
    import envs

    keys = ("eps", "agent", "spec_options", "input_history")
    kw = {k: options.pop(k) for k in keys if k in options}
    env = envs.make_vec(env_name, 1, **options)
    agent = kw.get("agent")
    label = env_name if agent is None else f"{env_name}:{agent}"
    return task_difficulty(env, n_steps=n_steps, label=label, **kw)


_PROG = "python -m experiments.gendiff"
_LOG10_FLOOR = -300.0  # log10_bits below this marks a vacuous bound (0 bits)
_DESCRIPTION = __doc__.split("\n\n")[0]


# ---------------------------------------------------------------------------- Args
@dataclass(frozen=True)
class Args:
    """Options of ``python -m experiments.gendiff``."""

    out: str = field(
        default="runs/gendiff",
        metadata=_cli.describe("Output directory for the CSV, Markdown and PNG files."),
    )
    n_steps: float = field(
        default=10_000.0,
        metadata=_cli.describe(
            "Training timesteps n used for our own env rows (the reference "
            "cart-pole's)."
        ),
    )
    max_history: int = field(
        default=5,
        metadata=_cli.describe(
            "Cart-pole rows for stacked histories T = 1..max_history."
        ),
    )
    reach_dims: tuple[int, ...] = field(
        default=(2, 3, 4, 5, 6, 7, 8),
        metadata=_cli.describe(
            "Dimensions of the reach_v0 rows (several values: --reach-dims 2 3 4)."
        ),
    )
    digits_eps: float = field(
        default=0.01, metadata=_cli.describe("Target error ε of the digits row.")
    )
    digits_samples: int = field(
        default=1797,
        metadata=_cli.describe(
            "Points used for the digits estimators (m, δ); 1797 is the whole set."
        ),
    )
    delta_method: DeltaMethod = field(
        default="sample",
        metadata=_cli.describe(
            "How δ is estimated for digits: sample minimum or EVT extrapolation."
        ),
    )
    envs: bool = field(
        default=True,
        metadata=_cli.describe(
            "Include the rows of our own envs (--no-envs: reference tasks and digits)."
        ),
    )
    plot: bool = field(
        default=True, metadata=_cli.describe("Draw the bar chart (--no-plot skips it).")
    )
    empirical: bool = field(
        default=False,
        metadata=_cli.describe(
            "Also train PPO on the cart-pole tasks and compare orderings."
        ),
    )
    histories: tuple[int, ...] = field(
        default=(2, 3),
        metadata=_cli.describe(
            "POMDP histories T trained with --empirical (T=1 full-state is always run)."
        ),
    )
    timesteps: int = field(
        default=10_000,
        metadata=_cli.describe("PPO timesteps per run with --empirical."),
    )
    seeds: int = field(
        default=2, metadata=_cli.describe("PPO seeds per task with --empirical.")
    )
    eval_every: int = field(
        default=2_048,
        metadata=_cli.describe(
            "Evaluate the policy every this many timesteps (for steps-to-threshold)."
        ),
    )
    eval_episodes: int = field(
        default=5, metadata=_cli.describe("Episodes per evaluation.")
    )
    threshold: float = field(
        default=150.0,
        metadata=_cli.describe(
            "Mean evaluation return that counts as solved (CartPole max 500)."
        ),
    )
    n_hypotheses: int = field(
        default=16,
        metadata=_cli.describe("Networks sampled per task for the sampled measure."),
    )
    hypothesis_epochs: int = field(
        default=200, metadata=_cli.describe("Training epochs of each sampled network.")
    )
    sampled_eps: float = field(
        default=0.02,
        metadata=_cli.describe("Target per-element test MSE ε of the sampled measure."),
    )
    native_reach: bool = field(
        default=False,
        metadata=_cli.describe(
            "Also train agents.native's batched PPO on reach_v0 (visible vs hidden "
            "goal)."
        ),
    )
    native_dims: tuple[int, ...] = field(
        default=(2, 3),
        metadata=_cli.describe("reach_v0 dimensions trained with --native-reach."),
    )
    native_steps: int = field(
        default=100_000,
        metadata=_cli.describe("Env steps per native-trainer run with --native-reach."),
    )
    save_agents: bool = field(
        default=True,
        metadata=_cli.describe(
            "With --empirical / --native-reach: save every trained agent under "
            "OUT/agents (SB3 .zip or a state dict, each with a model card) and probe "
            "it with experiments.probe (OUT/probe_empirical, OUT/probe_native_reach); "
            "--empirical then also trains position-only T=1 (no history) for the "
            "probe table."
        ),
    )
    probe_samples: int = field(
        default=2000,
        metadata=_cli.describe("Inputs per agent of the probe of the saved agents."),
    )
    threads: int = field(
        default=1,
        metadata=_cli.describe(
            "torch intra-op threads for --empirical (1 avoids oversubscribing small "
            "CPUs)."
        ),
    )
    seed: int = field(default=0, metadata=_cli.describe("Base random seed."))
    quiet: bool = field(
        default=False, metadata=_cli.describe("Do not print the tables.")
    )

    def __post_init__(self) -> None:
        _cli.check_fields(self)
        if not self.n_steps >= 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps}")
        for name in (
            "max_history",
            "timesteps",
            "seeds",
            "eval_every",
            "threads",
            "native_steps",
            "probe_samples",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_episodes < 1 or self.n_hypotheses < 5:
            raise ValueError(
                "eval_episodes must be >= 1 and n_hypotheses >= 5, got "
                f"{self.eval_episodes}, {self.n_hypotheses}"
            )
        dims = (*self.reach_dims, *self.native_dims)
        if any(d < 1 for d in dims) or any(t < 2 for t in self.histories):
            raise ValueError(
                f"reach_dims and native_dims must be >= 1 and histories >= 2, got "
                f"{self.reach_dims}, {self.native_dims}, {self.histories}"
            )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of :class:`Args` (every flag has --help text)."""
    return _cli.build_parser(Args, prog=_PROG, description=_DESCRIPTION)


def parse_args(argv: Sequence[str] | None = None) -> Args:
    """Parse the command line into :class:`Args` (bad values exit with code 2)."""
    return _cli.parse_args(
        Args,
        None if argv is None else list(argv),
        prog=_PROG,
        description=_DESCRIPTION,
    )


# ---------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Row:
    """One line of the difficulty table (the columns are defined in
    :data:`COLUMNS`)."""

    group: str
    task: str
    source: str
    """published | computed (from published constants) | task_spec | estimated."""
    n: float
    m: float
    D: int
    P: int
    delta: float
    eps: float
    bits: float
    """The value itself; ``inf`` beyond float64 (the files write ``log10_bits``)."""
    log10_bits: float
    published: float | None = None
    """The paper's number, in bits."""
    invalid: str = ""
    """Why the closed form does not measure this task ("" when it does)."""
    note: str = ""

    @property
    def published_log10_bits(self) -> float | None:
        return None if self.published is None else math.log10(self.published)


def _row(group: str, task: str, source: str, d: Difficulty, **kw: Any) -> Row:
    p = d.parts
    if d.log10_bits < _LOG10_FLOOR and not kw.get("invalid"):
        kw["invalid"] = "vacuous bound: the data pin down every hypothesis (0 bits)"
    return Row(
        group=group,
        task=task,
        source=source,
        n=p.n,
        m=p.m,
        D=p.D,
        P=p.P,
        delta=p.delta,
        eps=p.eps,
        bits=d.bits,
        log10_bits=d.log10_bits,
        **kw,
    )


COLUMNS: tuple[tuple[str, str], ...] = (
    ("group", "where the row comes from: the reference tasks, one of our envs, data"),
    (
        "task",
        "the task; T = stacked observations the policy gets, dim = space dimension",
    ),
    (
        "source",
        "published = reproduces the paper's number; computed = the released formula "
        "on published constants; task_spec = our env's own numbers; estimated = m, "
        "δ, R estimated from the data",
    ),
    ("n", "training samples (timesteps for RL tasks)"),
    ("m", "intrinsic dimension of the input manifold"),
    ("D", "output dimension (classes − 1; action dimension)"),
    ("P", "disjoint manifold components (one per class; 1 for RL)"),
    ("delta", "δ, the resolution: smallest input distance the task must resolve"),
    ("eps", "ε, the target error"),
    (
        "log10_bits",
        "log10 of the inductive-bias complexity in bits (Boopathy et al. 2023): the "
        "information a learner must bring beyond its n samples to reach error ε. "
        "Written as log10 because values pass float64 (1e308)",
    ),
    ("published_log10_bits", "log10 of the paper's number, where there is one"),
    (
        "invalid",
        "why the closed form does not measure the task (empty when it does); such "
        "rows are hatched in the figure",
    ),
    ("note", "what the row models"),
)
"""The columns of ``difficulty.csv`` / ``difficulty.md`` with their meaning."""


# (task, n, m, R, classes, delta, eps, published bits or None)
_REFERENCE_CLASSIFICATION = (
    ("MNIST", 60_000, 14, 17.17905, 10, 2.398708, 1e-3, 1.485e16),
    ("CIFAR-10", 50_000, 27, 54.91568, 10, 2.750641, 1e-2, 3.438e32),
    ("SVHN", 73_257, 19, 53.86932, 10, 1.576700, 1e-2, None),
    ("ImageNet", 1_280_901, 48, 943.5923, 1000, 65.0, 0.1, None),
)


def reference_rows() -> list[Row]:
    """The classic tasks from their published constants."""
    rows = []
    for task, n, m, R, C, delta, eps, pub in _REFERENCE_CLASSIFICATION:
        d = inductive_bias_complexity(
            n=n, m=m, R=R, delta=delta, eps=eps, out_dim=C - 1, n_discrete=C
        )
        src = "published" if pub is not None else "computed"
        rows.append(_row("reference", task, src, d, published=pub))
    d = rl_difficulty(obs_dim=6, act_dim=2, n_steps=1e6, delta=1e-3, eps=1e-3)
    rows.append(_row("reference", "Reacher", "published", d, published=2.914e25))
    for T, pub in ((1, 4.415e9), (2, 3.326e17)):
        d = pomdp_difficulty(
            history=T, obs_dim_per_step=2, act_dim=1, n_steps=1e4, delta=1e-3, eps=1e-3
        )
        rows.append(
            _row("reference", f"cart-pole T={T}", "published", d, published=pub)
        )
    return rows


def _env_rows(args: Args) -> tuple[list[Row], list[str]]:
    """Rows of our envs from task_spec(); notes name what could not be built."""
    rows: list[Row] = []
    notes: list[str] = []
    skipped: dict[str, str] = {}

    def add(
        group: str,
        task: str,
        env_name: str,
        note: str = "",
        invalid: str = "",
        **kw: Any,
    ) -> None:
        if env_name in skipped:
            return
        try:
            d = env_task_difficulty(env_name, n_steps=args.n_steps, **kw)
        except (ImportError, ValueError, TypeError) as err:
            skipped[env_name] = f"{type(err).__name__}: {err}"
            return
        rows.append(_row(group, task, "task_spec", d, note=note, invalid=invalid))

    # cart-pole: the policy gets T stacked per-step observations (the env's
    # ``history`` option); task_spec().history is what the optimal policy needs.
    for observe in ("full", "position"):
        needed = _needed_history("cartpole_v0", observe=observe)
        for T in range(1, args.max_history + 1):
            note = invalid = ""
            if needed is not None and needed > T:
                invalid = f"input insufficient: the optimal policy needs T={needed}"
            elif needed == T:
                note = "minimal sufficient input"
            add(
                "cartpole_v0",
                f"cartpole {observe} T={T}",
                "cartpole_v0",
                note=note,
                invalid=invalid,
                input_history=T,
                observe=observe,
                history=T,
            )
    # reach: the goal visible (MDP), hidden (not identifiable: the spec models it
    # as history = max_steps), or hidden but told by a speaker (history 1).
    reach = (
        ("goal visible", {"goal_visible": True}, "MDP"),
        ("goal hidden", {"goal_visible": False}, "history = max_steps (search)"),
        (
            "goal hidden + speaker",
            {"goal_visible": False, "speaker": True},
            "mover told the goal by a message",
        ),
    )
    for dim in args.reach_dims:
        for label, config, note in reach:
            add(
                "reach_v0",
                f"reach dim={dim} {label}",
                "reach_v0",
                note=note,
                dim=dim,
                **config,
            )
    for channel in (True, False):
        add(
            "referential_v0",
            "listener " + ("with message" if channel else "no message"),
            "referential_v0",
            invalid="" if channel else "target not identifiable from the input",
            agent="listener",
            spec_options={"channel": channel},
        )
    notes += [f"{name} rows skipped ({why})" for name, why in skipped.items()]
    return rows, notes


def _needed_history(name: str, **config: Any) -> int | None:
    """task_spec().history of an env config (None when the env is unavailable)."""
    try:
        import envs

        return int(envs.make_vec(name, 1, **config).task_spec().history)
    except (ImportError, ValueError, TypeError):
        return None


def digits_row(args: Args) -> Row:
    """sklearn digits with m, δ, R estimated from the data."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data / 16.0
    r = classification_difficulty(
        X,
        data.target,
        eps=args.digits_eps,
        delta_method=args.delta_method,
        n_samples=args.digits_samples,
        seed=args.seed,
    )
    spread = ", ".join(f"k={k}: {v:.2f}" for k, v in r.dimension.per_k.items())
    note = f"m_raw={r.m_raw:.2f} ({spread}); R={r.R:.3f}"
    return _row("data", "digits 8x8", "estimated", r.difficulty, note=note)


# -------------------------------------------------------------------------- output
def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e7:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def _columns(records: Sequence[Any]) -> list[str]:
    if isinstance(records[0], Row):
        return [name for name, _ in COLUMNS]
    return [f.name for f in dataclasses.fields(records[0])]


def _log10(value: Any) -> str:
    """A ``*log10_bits`` value: 4 decimals, identical in the CSV and the Markdown."""
    return "" if value is None else f"{value:.4f}"


def _csv_value(record: Any, name: str) -> Any:
    value = getattr(record, name)
    if name.endswith("log10_bits"):
        return _log10(value)
    return "" if value is None else value


def to_csv(records: Sequence[Any]) -> str:
    """Records as CSV text: full precision, except ``*log10_bits`` (4 decimals, as in
    the Markdown). The difficulty table has the columns of :data:`COLUMNS`: bits
    appear as ``log10_bits`` only, so no value is ever ``inf``."""
    buf = io.StringIO()
    names = _columns(records)
    writer = csv.writer(buf)
    writer.writerow(names)
    for r in records:
        writer.writerow([_csv_value(r, n) for n in names])
    return buf.getvalue()


def _cell(record: Any, name: str) -> str:
    """A table cell (4 significant digits; ``*log10_bits`` as in the CSV)."""
    value = getattr(record, name)
    if name.endswith("log10_bits"):
        return _log10(value)
    return _fmt(value).replace("|", "/")


def to_markdown(
    records: Sequence[Any],
    title: str,
    notes: Sequence[str] = (),
    columns: Sequence[tuple[str, str]] = (),
) -> str:
    """Records as a Markdown table, its notes, and a caption defining each column
    (``columns``: (name, meaning) pairs)."""
    names = _columns(records)
    lines = [f"# {title}", "", "| " + " | ".join(names) + " |"]
    lines.append("|" + "---|" * len(names))
    for r in records:
        cells = [_cell(r, n) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    if columns:
        lines += ["", "**Columns**", ""]
        lines += [f"- `{name}`: {meaning}." for name, meaning in columns]
    return "\n".join(lines) + "\n"


def _print_table(
    records: Sequence[Any], title: str, columns: Sequence[str], width: int = 200
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        left = c in ("group", "task", "source", "invalid", "note")
        table.add_column(c, justify="left" if left else "right", no_wrap=c != "note")
    for r in records:
        table.add_row(*[_cell(r, c) for c in columns])
    Console(width=width).print(table)


_GROUP_COLOURS = (
    ("reference", "tab:gray", "reference tasks (published constants)"),
    ("cartpole_v0", "tab:blue", "cartpole_v0 (task_spec)"),
    ("reach_v0", "tab:green", "reach_v0 (task_spec)"),
    ("referential_v0", "tab:orange", "referential_v0 listener (task_spec)"),
    ("data", "tab:purple", "digits, estimated from data"),
)


def bar_chart(rows: Sequence[Row], path: Path) -> None:
    """Horizontal bars of log10(bits), one per row, grouped and coloured by source.

    Each bar is labelled with its value (``1.5e33``: the number of bits). Rows the
    closed form does not measure (``Row.invalid``) are hatched and carry their
    reason instead. A caption under the axes says how to read it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colours = {g: c for g, c, _ in _GROUP_COLOURS}
    values = np.array([max(r.log10_bits, 0.0) for r in rows])  # vacuous -> 1 bit
    top = float(values.max())
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(rows) + 2.2))
    y = np.arange(len(rows))[::-1]
    for yi, r, v in zip(y, rows, values):
        colour = colours.get(r.group, "tab:red")
        if r.invalid:
            ax.barh(yi, v, color="white", edgecolor=colour, hatch="///", lw=1)
            text = f"{_bits_text(r)}  ✗ {r.invalid}"
        else:
            ax.barh(yi, v, color=colour)
            text = _bits_text(r)
        ax.text(v + top * 0.01, yi, text, va="center", fontsize=8)
    ax.set_yticks(y, [r.task for r in rows], fontsize=8.5)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(0, top * 1.45)
    for edge in np.flatnonzero([a.group != b.group for a, b in zip(rows, rows[1:])]):
        ax.axhline(y[edge] - 0.5, color="0.8", lw=0.8)
    ax.set_xlabel(
        "log10(bits) of the inductive-bias complexity (bar labels: the bits)",
        fontsize=10,
    )
    ax.set_title("Generalization difficulty of each task (Boopathy et al. 2023)")
    handles = [
        Patch(color=c, label=label)
        for g, c, label in _GROUP_COLOURS
        if any(r.group == g for r in rows)
    ]
    if any(r.invalid for r in rows):
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="0.3",
                hatch="///",
                label="not measured by the closed form (reason at the bar)",
            )
        )
    ax.legend(handles=handles, loc="upper right", fontsize=8.5, framealpha=0.95)
    caption = (
        "Bits a learner must bring beyond its n training samples to reach error ε "
        "(x axis: log10 of it; label: the value). T = stacked observations given "
        "to the policy; dim = space dimension. Columns defined in difficulty.md."
    )
    fig.text(0.01, 0.005, caption, fontsize=8, wrap=True, va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _bits_text(row: Row) -> str:
    """``1.5e33`` from ``log10_bits`` (never overflows); ``0`` for a vacuous bound."""
    if row.log10_bits < _LOG10_FLOOR:
        return "0"
    exp = math.floor(row.log10_bits)
    return f"{10 ** (row.log10_bits - exp):.1f}e{exp}"


# ----------------------------------------------------------------------- empirical
@dataclass(frozen=True)
class EmpiricalRow:
    """One cart-pole task of the empirical check."""

    task: str
    history: int
    m: float
    closed_form_log10_bits: float
    steps_to_threshold: float
    """Mean over seeds; a run that never reaches the threshold counts as
    timesteps + eval_every (censored)."""
    solved_fraction: float
    final_return: float
    generalization_gap: float
    """Mean return on training-time env seeds minus on held-out seeds."""
    sampled_bits: float
    sampled_ci_low: float
    sampled_ci_high: float
    sampled_extrapolated: bool


def _gym_id(T: int, observe: str | None = None) -> tuple[str, dict[str, Any]]:
    """The task's Gymnasium id and options: full state at T=1, else positions with
    T stacked observations (``observe="position"`` also at T=1: no history)."""
    observe = observe or ("full" if T == 1 else "position")
    if observe == "full":
        return ("aim/CartPole-v0", {} if T == 1 else {"history": T})
    return ("aim/CartPole-POMDP-v0", {} if T == 1 else {"history": T})


def _evaluate(model: Any, env_id: str, kwargs: dict, seeds: Sequence[int]) -> float:
    import gymnasium

    env = gymnasium.make(env_id, **kwargs)
    total = []
    for s in seeds:
        obs, _ = env.reset(seed=int(s))
        done, ret = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(action)
            ret += float(r)
            done = term or trunc
        total.append(ret)
    env.close()
    return float(np.mean(total))


def _train_ppo(
    args: Args, T: int, seed: int, observe: str | None = None
) -> tuple[Any, float, float, float]:
    """PPO on one task; (model, steps_to_threshold, final return, gap)."""
    import gymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger

    import envs  # noqa: F401  (registers the aim/ ids)

    env_id, kwargs = _gym_id(T, observe)
    env = gymnasium.make(env_id, **kwargs)
    env.reset(seed=seed)
    n_steps = min(512, args.eval_every)
    model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=64, seed=seed, verbose=0)
    # A logger with no outputs: SB3's default makes a /tmp/SB3-* folder per learn().
    model.set_logger(Logger(folder=None, output_formats=[]))
    train_seeds = [seed * 1000 + i for i in range(args.eval_episodes)]
    held_out = [10**6 + seed * 1000 + i for i in range(args.eval_episodes)]
    steps_to = math.inf
    done_steps = 0
    while done_steps < args.timesteps:
        chunk = min(args.eval_every, args.timesteps - done_steps)
        model.learn(total_timesteps=chunk, reset_num_timesteps=False)
        done_steps += chunk
        if math.isinf(steps_to):
            ret = _evaluate(model, env_id, kwargs, train_seeds)
            if ret >= args.threshold:
                steps_to = float(done_steps)
    final_train = _evaluate(model, env_id, kwargs, train_seeds)
    final_test = _evaluate(model, env_id, kwargs, held_out)
    env.close()
    return model, steps_to, final_test, final_train - final_test


def _rollout_states(model: Any, n_states: int, seed: int) -> tuple[np.ndarray, ...]:
    """Rollouts of the full-state expert: states [N, 4], actions, episode ids."""
    import gymnasium

    env = gymnasium.make("aim/CartPole-v0")
    obs_l, act_l, ep_l = [], [], []
    ep = 0
    obs, _ = env.reset(seed=seed)
    while len(obs_l) < n_states:
        action, _ = model.predict(obs, deterministic=True)
        obs_l.append(np.asarray(obs, dtype=float).ravel())
        act_l.append(int(action))
        ep_l.append(ep)
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            ep += 1
            obs, _ = env.reset(seed=seed + ep)
    env.close()
    return np.array(obs_l), np.array(act_l), np.array(ep_l)


def _task_inputs(obs: np.ndarray, episodes: np.ndarray, T: int) -> np.ndarray:
    """T=1: the full state; T>=2: the last T (x, θ) positions, padded at episode start.

    CartPole state order is (x, ẋ, θ, θ̇), so positions are columns 0 and 2.
    """
    if T == 1:
        return obs
    pos = obs[:, [0, 2]]
    cols = []
    for lag in range(T - 1, -1, -1):
        idx = np.arange(len(obs)) - lag
        start = np.searchsorted(episodes, episodes, side="left")  # episode's first row
        idx = np.maximum(idx, start)
        cols.append(pos[idx])
    return np.concatenate(cols, axis=1)


def run_empirical(
    args: Args, *, progress: JobProgress | None = None
) -> tuple[list[EmpiricalRow], list[str]]:
    """PPO on the cart-pole tasks, sampled bias, and the Spearman comparisons.

    ``progress`` (optional) gets one job per PPO run and per task's sampled
    hypotheses: ``(len(histories) + 1) * (seeds + 1)`` jobs.
    """
    from scipy.stats import spearmanr

    from analysis.difficulty import sampled_inductive_bias, trained_network_losses

    tasks = [1, *args.histories]
    progress = progress or JobProgress(_PROG, [], enabled=False)
    results: dict[int, list[tuple[Any, float, float, float]]] = {}
    for T in tasks:
        results[T] = []
        for s in range(args.seeds):
            progress.start(
                f"PPO on cart-pole T={T}, {args.timesteps:,} steps, seed {s}"
            )
            results[T].append(_train_ppo(args, T, args.seed + s))
    if args.save_agents:
        for agent in cartpole_agents(args):
            if agent.observe == "position" and agent.history == 1:
                progress.start(
                    f"PPO on position-only cart-pole T=1 (for the probe), seed "
                    f"{agent.seed - args.seed}"
                )
                trained = _train_ppo(args, 1, agent.seed, "position")
            else:
                trained = results[agent.history][agent.seed - args.seed]
            _save_sb3(trained[0], agent, final_return=trained[2])
    # the expert for the imitation hypotheses: the best full-state policy
    expert = max(results[1], key=lambda r: r[2])[0]
    obs, actions, episodes = _rollout_states(expert, 600, args.seed + 7)
    rng = np.random.default_rng(args.seed)
    n_ep = episodes.max() + 1
    train_eps = rng.random(n_ep) < 0.5
    is_train = train_eps[episodes]
    if is_train.all() or not is_train.any():  # one long episode: split by time
        is_train = np.arange(len(obs)) < len(obs) // 2

    rows = []
    budget = args.timesteps + args.eval_every
    for T in tasks:
        runs = results[T]
        steps = [r[1] if math.isfinite(r[1]) else budget for r in runs]
        progress.start(
            f"sampled measure of T={T}: training {args.n_hypotheses} networks"
        )
        X = _task_inputs(obs, episodes, T)
        losses = trained_network_losses(
            X[is_train],
            actions[is_train],
            X[~is_train],
            actions[~is_train],
            width=64,
            depth=2,
            n_samples=args.n_hypotheses,
            epochs=args.hypothesis_epochs,
            seed=args.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sb = sampled_inductive_bias(
                losses + 1e-12, args.sampled_eps, n_bootstrap=50, seed=args.seed
            )
        observe = "full" if T == 1 else "position"
        d = env_task_difficulty(
            "cartpole_v0",
            n_steps=args.timesteps,
            input_history=T,
            observe=observe,
            history=T,
        )
        rows.append(
            EmpiricalRow(
                task="CartPole full" if T == 1 else f"CartPole position T={T}",
                history=T,
                m=float(d.parts.m),
                closed_form_log10_bits=d.log10_bits,
                steps_to_threshold=float(np.mean(steps)),
                solved_fraction=float(np.mean([math.isfinite(r[1]) for r in runs])),
                final_return=float(np.mean([r[2] for r in runs])),
                generalization_gap=float(np.mean([r[3] for r in runs])),
                sampled_bits=sb.value,
                sampled_ci_low=sb.ci_low,
                sampled_ci_high=sb.ci_high,
                sampled_extrapolated=sb.extrapolated,
            )
        )
    closed = [r.closed_form_log10_bits for r in rows]
    notes = []
    for name, values in (
        ("steps_to_threshold", [r.steps_to_threshold for r in rows]),
        ("-final_return", [-r.final_return for r in rows]),
        ("sampled_bits", [r.sampled_bits for r in rows]),
    ):
        if len(rows) >= 3 and np.ptp(values) > 0 and np.ptp(closed) > 0:
            rho = float(spearmanr(closed, values).statistic)
            notes.append(f"Spearman(closed form, {name}) = {rho:+.2f} over {len(rows)}")
        else:
            notes.append(
                f"Spearman(closed form, {name}): undefined (ties or < 3 tasks)"
            )
    return rows, notes


@dataclass(frozen=True)
class NativeRow:
    """One reach_v0 task of the native-trainer check."""

    task: str
    dim: int
    goal_visible: bool
    m: float
    closed_form_log10_bits: float
    mean_train_return: float
    """Training episodic return averaged over all iterations (area under the
    learning curve: higher = learned faster)."""
    final_return: float
    """Greedy return on held-out episodes (fresh env seed), mean over seeds."""
    generalization_gap: float
    """Greedy return on the training env seed minus on the held-out seed."""


def empirical_native_reach(
    args: Args, *, progress: JobProgress | None = None
) -> tuple[list[NativeRow], list[str]]:
    """The empirical check on ``reach_v0`` with the native batched trainer.

    For each ``--native-dims`` dim, goal visible vs hidden, ``--seeds`` runs of
    :class:`agents.native.NativeTrainer` for ``--native-steps`` env steps; records
    the learning-curve mean, the held-out greedy return and the train-vs-held-out
    gap, and the Spearman correlation of the closed form with the difficulty seen
    (``-mean_train_return`` and ``-final_return``). Reach returns are comparable
    within one dim only, so the correlation is reported over all tasks and within
    each dim (visible vs hidden).
    """
    from scipy.stats import spearmanr

    from agents.native import NativeTrainer
    from agents.spec import PPOConfig, TrainSpec

    ppo = PPOConfig(num_envs=256, num_steps=16)
    progress = progress or JobProgress(_PROG, [], enabled=False)
    rows = []
    for dim in args.native_dims:
        for visible in (True, False):
            config = {"dim": dim, "goal_visible": visible}
            curves, finals, gaps = [], [], []
            for s in range(args.seeds):
                seed = args.seed + s
                progress.start(
                    f"native PPO on reach_v0 dim={dim} goal "
                    f"{'visible' if visible else 'hidden'}, seed {s}"
                )
                spec = TrainSpec(
                    env="reach_v0",
                    env_config=config,
                    ppo=ppo,
                    steps=args.native_steps,
                    seed=seed,
                )
                trainer = NativeTrainer(spec)
                curve = []
                while trainer.iteration < spec.iterations:
                    stats = trainer.train_iteration()
                    if stats.mean_return is not None:
                        curve.append(stats.mean_return)
                if args.save_agents:
                    _save_native(trainer, Path(args.out), dim, visible, seed)
                on_train = trainer.evaluate(args.eval_episodes * 50, seed=seed)
                held = trainer.evaluate(args.eval_episodes * 50, seed=10**6 + seed)
                curves.append(float(np.mean(curve)) if curve else math.nan)
                finals.append(held.mean_return)
                gaps.append(on_train.mean_return - held.mean_return)
            d = env_task_difficulty("reach_v0", n_steps=args.native_steps, **config)
            rows.append(
                NativeRow(
                    task=f"reach dim={dim} goal {'visible' if visible else 'hidden'}",
                    dim=dim,
                    goal_visible=visible,
                    m=float(d.parts.m),
                    closed_form_log10_bits=d.log10_bits,
                    mean_train_return=float(np.mean(curves)),
                    final_return=float(np.mean(finals)),
                    generalization_gap=float(np.mean(gaps)),
                )
            )
    closed = [r.closed_form_log10_bits for r in rows]
    notes = []
    for name in ("mean_train_return", "final_return"):
        values = [-getattr(r, name) for r in rows]
        if len(rows) >= 3 and np.ptp(values) > 0:
            rho = float(spearmanr(closed, values).statistic)
            notes.append(
                f"Spearman(closed form, -{name}) = {rho:+.2f} over {len(rows)}"
            )
        agree = sum(
            (a.closed_form_log10_bits < b.closed_form_log10_bits)
            == (-getattr(a, name) < -getattr(b, name))
            for a, b in zip(rows[::2], rows[1::2])
        )
        notes.append(
            f"visible-vs-hidden ordering by -{name} agrees with the closed form in "
            f"{agree} of {len(rows) // 2} dims"
        )
    return rows, notes


# ------------------------------------------------------------------ saved agents
@dataclass(frozen=True)
class SavedAgent:
    """One trained agent saved under ``OUT/agents`` (with its model card)."""

    task: str
    observe: str
    history: int
    seed: int
    path: Path

    @property
    def label(self) -> str:
        """The probe's name for it (the file's stem)."""
        return self.path.stem


def cartpole_agents(args: Args) -> list[SavedAgent]:
    """The SB3 agents ``--empirical`` saves: full state (T=1), position-only
    without history (T=1) and with each ``--histories`` T, every seed."""
    folder = Path(args.out) / "agents"
    tasks = [("full", 1), ("position", 1), *(("position", T) for T in args.histories)]
    return [
        SavedAgent(
            task=f"CartPole {observe} T={T}",
            observe=observe,
            history=T,
            seed=args.seed + s,
            path=folder / f"cartpole_{observe}_T{T}_seed{args.seed + s}.zip",
        )
        for observe, T in tasks
        for s in range(args.seeds)
    ]


def _save_sb3(model: Any, agent: SavedAgent, final_return: float) -> None:
    from experiments.probe import ModelCard, write_model_card

    buf = io.BytesIO()
    model.save(buf)
    atomic_write_bytes(agent.path, buf.getvalue())
    env_id, kwargs = _gym_id(agent.history, agent.observe)
    card = ModelCard(env=env_id, env_config=kwargs, final_return=final_return)
    write_model_card(agent.path, card)


def _native_path(out: Path, dim: int, visible: bool, seed: int) -> Path:
    goal = "visible" if visible else "hidden"
    return out / "agents" / f"reach_dim{dim}_goal_{goal}_seed{seed}.pt"


def _save_native(trainer: Any, out: Path, dim: int, visible: bool, seed: int) -> None:
    """The mover's network as a state dict with a model card (``build_agent_of``)."""
    from experiments._io import atomic_torch_save
    from experiments.probe import ModelCard, write_model_card

    spec = trainer.spec
    for agent, net in trainer.nets.items():
        path = _native_path(out, dim, visible, seed)
        if len(trainer.nets) > 1:
            path = path.with_name(f"{path.stem}_{agent}.pt")
        atomic_torch_save(path, net.state_dict())
        card = ModelCard(
            env=spec.env,
            env_config=dict(spec.env_config),
            agent=agent,
            constructor="agents.networks.build_agent_of",
            kwargs={
                "channel": spec.channel,
                "channel_options": dict(spec.channel_options),
                "hidden": spec.network.hidden,
                "layers": spec.network.layers,
            },
        )
        write_model_card(path, card)


@dataclass(frozen=True)
class VelocityRow:
    """How much of each hidden velocity one layer of the cart-pole agents holds."""

    task: str
    history: int
    closed_form_log10_bits: float
    note: str
    final_return: float | None
    """Greedy held-out return of the probed agents (mean over seeds; from their
    model cards)."""
    layer: str
    cart_velocity_r2: float
    """Held-out R² of a linear probe (mean over seeds)."""
    pole_angular_velocity_r2: float
    shuffle_r2: float
    """The largest of the two probes' shuffle baselines (mean over seeds)."""
    variance_explained_cart_velocity: float
    variance_explained_pole_angular_velocity: float


VELOCITY_LAYERS = (
    "input",
    "mlp_extractor.policy_net.1",
    "mlp_extractor.policy_net.3",
    "action_net",
    "mlp_extractor.value_net.1",
    "mlp_extractor.value_net.3",
    "value_net",
)
"""Layers of SB3's ``MlpPolicy`` in the velocity table (the hidden layers after
their tanh, and the heads); every layer is in the probe's own report."""


def _probe_saved(args: Args, paths: Sequence[Path], folder: Path):
    """Run ``experiments.probe`` on saved agents; write its report in ``folder``."""
    from experiments import probe

    probe_args = probe.Args(
        models=tuple(str(p) for p in paths),
        out=str(folder),
        samples=args.probe_samples,
        seed=args.seed,
        threads=args.threads,
        figures=args.plot,
    )
    probes = probe.run(probe_args)
    command = "experiments.gendiff (probe of the saved agents)"
    probe.write_outputs(probes, probe_args, command=command)
    return probes


def probe_cartpole(args: Args) -> tuple[list[VelocityRow], str]:
    """Probe the saved cart-pole agents; the velocity table and its Markdown."""
    out = Path(args.out)
    agents = cartpole_agents(args)
    probes = _probe_saved(args, [a.path for a in agents], out / "probe_empirical")
    from experiments.probe import read_model_card

    rows_of = {p.model.label: p.rows for p in probes}
    table = []
    for task in dict.fromkeys(a.task for a in agents):
        group = [a for a in agents if a.task == task]
        first = group[0]
        d = env_task_difficulty(
            "cartpole_v0",
            n_steps=args.timesteps,
            input_history=first.history,
            observe=first.observe,
            history=first.history,
        )
        needed = _needed_history("cartpole_v0", observe=first.observe) or 1
        note = (
            f"input insufficient: optimal policy needs T={needed}"
            if needed > first.history
            else ""
        )
        returns = [
            getattr(read_model_card(a.path), "final_return", None) for a in group
        ]
        final = float(np.mean(returns)) if returns and None not in returns else None
        for layer in VELOCITY_LAYERS:
            cells = [r for a in group for r in rows_of[a.label] if r.layer == layer]
            if not cells:
                continue

            def mean(feature: str, name: str, cells=cells) -> float:
                values = [getattr(r, name) for r in cells if r.feature == feature]
                return float(np.mean(values))

            table.append(
                VelocityRow(
                    task=task,
                    history=first.history,
                    closed_form_log10_bits=d.log10_bits,
                    note=note,
                    final_return=final,
                    layer=layer,
                    cart_velocity_r2=mean("cart_velocity", "decodability"),
                    pole_angular_velocity_r2=mean(
                        "pole_angular_velocity", "decodability"
                    ),
                    shuffle_r2=max(
                        mean("cart_velocity", "decodability_shuffle"),
                        mean("pole_angular_velocity", "decodability_shuffle"),
                    ),
                    variance_explained_cart_velocity=mean(
                        "cart_velocity", "variance_explained"
                    ),
                    variance_explained_pole_angular_velocity=mean(
                        "pole_angular_velocity", "variance_explained"
                    ),
                )
            )
    lines = [
        "",
        "## Probe: the hidden velocities in each layer",
        "",
        f"Every trained agent is saved in `agents/` (SB3 `.zip` + model card) and "
        f"probed by `python -m experiments.probe` on {args.probe_samples} states "
        "its own greedy policy visits: [probe_empirical/probe.md]"
        "(probe_empirical/probe.md). Held-out R² of a linear (ridge) probe of the "
        "cart velocity and the pole's angular velocity, mean over seeds, next to "
        "the closed-form difficulty of the task's input. Position-only T=1 has no "
        "history (trained for this table only; not in the orderings above).",
        "",
        to_markdown(table, "Velocities per layer").split("\n", 2)[2].rstrip(),
        "",
        "Saved agents: "
        + ", ".join(f"[{a.label}](agents/{a.path.name})" for a in agents)
        + ".",
    ]
    return table, "\n".join(lines) + "\n"


def probe_native_reach(args: Args) -> str:
    """Probe the saved reach_v0 movers; Markdown that links the report."""
    out = Path(args.out)
    paths = [
        _native_path(out, dim, visible, args.seed + s)
        for dim in args.native_dims
        for visible in (True, False)
        for s in range(args.seeds)
    ]
    probes = _probe_saved(args, paths, out / "probe_native_reach")
    lines = [
        "",
        "## Probe of the saved movers",
        "",
        "Every mover is saved in `agents/` (a state dict of "
        "`agents.networks.build_agent_of` + model card) and probed by "
        "`python -m experiments.probe`: [probe_native_reach/probe.md]"
        "(probe_native_reach/probe.md). Best layer's held-out R² of the goal "
        "coordinates (mean over coordinates), input vs hidden:",
        "",
        "| agent | input | best layer | R² there |",
        "|---|---|---|---|",
    ]
    for p in probes:
        goal = [r for r in p.rows if r.feature.startswith("goal[")]
        by_layer: dict[str, list[float]] = {}
        for r in goal:
            by_layer.setdefault(r.layer, []).append(r.decodability)
        means = {k: float(np.mean(v)) for k, v in by_layer.items()}
        hidden = {k: v for k, v in means.items() if k != "input"}
        best = max(hidden, key=hidden.get) if hidden else "input"
        lines.append(
            f"| {p.model.label} | {means['input']:.3f} | {best} | {means[best]:.3f} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main
_COLUMNS = ("group", "task", "source", "n", "m", "D", "P", "log10_bits", "invalid")
"""The columns printed on the terminal (the files have all of :data:`COLUMNS`)."""


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the study; returns the closed-form rows (also written under --out)."""
    args = parse_args(argv)
    out = Path(args.out)
    stages = ["reference", *(["envs"] if args.envs else []), "digits", "write"]
    progress = JobProgress(_PROG, stages, enabled=not args.quiet, eta=False)
    progress.start("reference tasks from their published constants")
    rows = reference_rows()
    notes: list[str] = []
    if args.envs:
        progress.start(
            "our envs (cartpole_v0, reach_v0, referential_v0) from task_spec()"
        )
        env_rows, env_notes = _env_rows(args)
        rows += env_rows
        notes += env_notes
    progress.start(
        f"digits 8x8: estimating m, δ, R from {args.digits_samples:,} points"
    )
    rows.append(digits_row(args))
    progress.start("writing difficulty.csv, difficulty.md, difficulty.png")
    atomic_write_bytes(out / "difficulty.csv", to_csv(rows).encode())
    title = "Generalization difficulty (closed form, log10 bits)"
    md = to_markdown(rows, title, notes, COLUMNS)
    atomic_write_bytes(out / "difficulty.md", md.encode())
    if args.plot:
        bar_chart(rows, out / "difficulty.png")
    progress.finish()
    if not args.quiet:
        _print_table(rows, "Generalization difficulty (log10 bits)", _COLUMNS)
        for n in notes:
            print(f"- {n}")

    if args.empirical or args.native_reach:
        import torch

        threads_before = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        try:
            _run_trainings(args, out)
        finally:  # main() is also called in-process (tests): restore the setting
            torch.set_num_threads(threads_before)
    return rows


EMPIRICAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("task", "the cart-pole task: full state, or positions only over T steps"),
    ("history", "T, stacked observations the policy gets"),
    ("m", "intrinsic dimension of the policy's input (closed form)"),
    ("closed_form_log10_bits", "log10 of the closed-form bits (difficulty.md)"),
    (
        "steps_to_threshold",
        "PPO timesteps until the mean evaluation return reaches --threshold, mean "
        "over seeds (a run that never does counts as timesteps + eval_every)",
    ),
    ("solved_fraction", "seeds that reached the threshold"),
    ("final_return", "greedy return on held-out episode seeds at the end"),
    ("generalization_gap", "return on training episode seeds minus on held-out ones"),
    (
        "sampled_bits",
        "the sampled measure (Boopathy et al. 2024): −log2 P(test error ≤ ε) over "
        "networks that fit the training data",
    ),
    ("sampled_ci_low", "lower end of its bootstrap interval"),
    ("sampled_ci_high", "upper end of its bootstrap interval"),
    ("sampled_extrapolated", "True when ε lies below every sampled error"),
)
"""The columns of ``empirical.csv`` / ``empirical.md``."""

NATIVE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("task", "reach_v0 in dim dimensions, goal visible (MDP) or hidden (POMDP)"),
    ("dim", "space dimension"),
    ("goal_visible", "whether the mover sees the goal"),
    ("m", "intrinsic dimension of the policy's input (closed form)"),
    ("closed_form_log10_bits", "log10 of the closed-form bits (difficulty.md)"),
    (
        "mean_train_return",
        "training return averaged over every iteration (area under the learning "
        "curve: higher = learned faster)",
    ),
    ("final_return", "greedy return on held-out episodes, mean over seeds"),
    ("generalization_gap", "greedy return on the training seed minus the held-out"),
)
"""The columns of ``native_reach.csv`` / ``native_reach.md``."""


def _write_rows(
    args: Args,
    out: Path,
    stem: str,
    title: str,
    found: tuple,
    columns: tuple[tuple[str, str], ...],
    width: int,
) -> None:
    """One empirical table: CSV and Markdown in ``out``, printed unless quiet."""
    rows, notes = found
    atomic_write_bytes(out / f"{stem}.csv", to_csv(rows).encode())
    md = to_markdown(rows, title, notes, columns)
    atomic_write_bytes(out / f"{stem}.md", md.encode())
    if not args.quiet:
        _print_table(rows, title, [name for name, _ in columns], width=width)
        for n in notes:
            print(f"- {n}")


def _run_trainings(args: Args, out: Path) -> None:
    """The --empirical and --native-reach parts of :func:`main`."""
    tasks = 1 + len(args.histories)
    kinds = []
    if args.empirical:
        kinds += [f"ppo{T}" for T in range(tasks) for _ in range(args.seeds)]
        if args.save_agents:  # position-only T=1, trained for the probe only
            kinds += ["ppo0"] * args.seeds
        kinds += ["sampled"] * tasks
        kinds += ["probe"] if args.save_agents else []
    if args.native_reach:
        kinds += ["native"] * (2 * len(args.native_dims) * args.seeds)
        kinds += ["probe"] if args.save_agents else []
    progress = JobProgress(_PROG, kinds, enabled=not args.quiet)
    if args.empirical:
        title = "Empirical check (cart-pole, PPO)"
        found = run_empirical(args, progress=progress)
        _write_rows(args, out, "empirical", title, found, EMPIRICAL_COLUMNS, 260)
        if args.save_agents:
            progress.start("probing the saved cart-pole agents' hidden velocities")
            table, text = probe_cartpole(args)
            atomic_write_bytes(out / "probe_velocity.csv", to_csv(table).encode())
            _append(out / "empirical.md", text)
            if not args.quiet:
                cols = [f.name for f in dataclasses.fields(VelocityRow)]
                _print_table(table, "Hidden velocities per layer", cols, width=260)
    if args.native_reach:
        title = "Empirical check (reach_v0, native PPO)"
        found = empirical_native_reach(args, progress=progress)
        _write_rows(args, out, "native_reach", title, found, NATIVE_COLUMNS, 200)
        if args.save_agents:
            progress.start("probing the saved reach movers")
            _append(out / "native_reach.md", probe_native_reach(args))
    progress.finish()


def _append(path: Path, text: str) -> None:
    atomic_write_bytes(path, (path.read_text() + text).encode())


if __name__ == "__main__":
    main()
