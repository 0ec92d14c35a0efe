"""Train AIM agents: speakers with an endogenous symbol system (a VQ codebook) and
listeners, on any env of the suite, with the native trainer or RLlib.

How to run
----------
``python -m experiments.aim``
    The defaults: native batched PPO on ``referential_v0`` (4 attributes x 4 values,
    4 candidates, messages of 2 symbols over 16), ``vq`` channel, CPU.
``python -m experiments.aim --channel categorical --seeds 0 1 2 --steps 2000000``
``python -m experiments.aim --env contextual_pd_v0 --env-config '{"payoff": "aim"}'``
``python -m experiments.aim --config run.yaml --device cuda``
``python -m experiments.aim --resume runs/referential_v0__vq__20261128-120000``
``python -m experiments.aim --resume RUN --steps 500000``
    Continues a run and extends it to 500,000 steps per seed.
``python -m experiments.aim --backend rllib``
    The same spec on RLlib (see the README's cluster section for ``--address``).
``tensorboard --logdir runs``

Every option is a flag (``--help``; the help text is each field's metadata) and can
come from ``--config FILE`` (YAML/JSON, flat or nested like a saved ``config.json``).
The options are :class:`Args`: the run's own (seeds, run directory, evaluation,
checkpoints, views), the :class:`agents.spec.TrainSpec` both trainers take (env,
channel, network, every PPO knob) and the :class:`agents.spec.RLlibOptions`.

Results to expect
-----------------
The default run finishes in about a minute on 2 CPU cores and reaches >= 0.95
listener success on held-out evaluation episodes (fresh env seed, greedy policies).

The run directory
-----------------
``config.json`` (the whole :class:`Args`); one folder per seed with ``config.json``
(its :class:`~agents.spec.TrainSpec`), TensorBoard events, ``checkpoints/``,
``curves.json`` (training and greedy-evaluation curves), ``summary.json`` and
``messages.npz`` (evaluation messages and their meanings); and a ``summary.json``
over seeds. Writes are atomic (temp file + rename).

TensorBoard
-----------
Every tag is in the one table :data:`analysis.tensorboard.TAGS`, whose description
each chart shows (the README lists it): ``train/`` (training episodes of every
iteration, sampled actions), ``eval/`` (greedy evaluations at ``--eval-points``
steps; the last point is the final held-out evaluation, summary.json's
``success``), ``losses/`` (the PPO parts and only the auxiliary losses the channel
has), ``perf/``, and ``symbols/``: about ``--views`` views spread over the run, each
step once, of the greedy evaluation sample (``--eval-batch`` episodes): language
metrics with their chance floors, per-position maps of what each symbol means,
position × attribute information, rank–frequency of symbols and of messages,
example messages (Text), the codebook (Projector). Constants are not charted: the
configuration is the ``config`` text and the HParams tab.

Progress
--------
A live bar on a terminal; otherwise a plain line on stderr every 10 s (steps,
steps/s, training success, ETA), so a log file shows the run while it goes; one
final line per seed that says how ``--steps`` rounds up to whole iterations.

Guarantees
----------
- The whole configuration is validated before anything is written: a bad flag or
  config value exits with code 2 and one line naming it, and leaves no directory.
- A fresh run never continues an old one: an existing run directory is an error
  unless ``--resume`` (continue it) or ``--overwrite`` (replace it) is given.
- ``--resume RUN`` continues every unfinished seed from its last checkpoint with the
  stored configuration; it ends at the same total steps and, on CPU, bit-identical to
  an uninterrupted run. Only ``--steps`` (extend or keep; never below what was
  trained), ``--eval-episodes``, ``--checkpoint-every`` and ``--progress`` may be
  given with it; any other differing option is an error that names it.
- Checkpoints hold tensors and plain data only and are loaded with
  ``torch.load(weights_only=True)``: nothing loaded from disk can run code. RLlib
  checkpoints are RLlib's own (they unpickle): resume them only from storage you
  trust.
- A non-finite loss, gradient, parameter or policy input ends the run with one line
  naming the last good checkpoint that exists (exit code 1).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agents.results import (
    EvalResult,
    IterationStats,
    RunResult,
    TrainingDiverged,
    mean_usage,
)
from agents.spec import RLlibOptions, TrainSpec
from analysis.language import MessageReport
from analysis.symbols import DEFAULT_MI_ESTIMATOR
from experiments._cli import describe, differences, from_dict, parse_args, to_dict
from experiments._io import (
    atomic_savez,
    atomic_torch_save,
    atomic_write_json,
    clean_orphans,
    load_torch_checkpoint,
    read_json,
)
from experiments._progress import duration

__all__ = [
    "Args",
    "Curves",
    "SeedOutcome",
    "load_trainer",
    "main",
    "make_trainer",
    "run_seed",
]

PROG = "python -m experiments.aim"
RESUMABLE = ("steps", "eval_episodes", "checkpoint_every", "progress")
"""Options a ``--resume`` may set; every other option comes from the stored run."""
EVAL_SEED_OFFSET = 1_000_003
"""The final evaluation's env seed is the training seed plus this."""
CURVE_SEED_OFFSET = 7
"""The periodic evaluations' env seed is the training seed plus this (fixed, so the
curve compares like with like)."""


@dataclass(frozen=True)
class Args:
    """Options of ``python -m experiments.aim``."""

    train: TrainSpec = field(default_factory=TrainSpec)
    rllib: RLlibOptions = field(default_factory=RLlibOptions)
    backend: Literal["native", "rllib"] = field(
        default="native",
        metadata=describe("Trainer: the native batched PPO, or RLlib (Ray)."),
    )
    seeds: tuple[int, ...] = field(
        default=(0,), metadata=describe("One run per seed (e.g. --seeds 0 1 2).")
    )
    logdir: str = field(default="runs", metadata=describe("Parent folder of runs."))
    name: str | None = field(
        default=None,
        metadata=describe("Run directory name (default: env__channel__timestamp)."),
    )
    resume: str | None = field(
        default=None,
        metadata=describe("Continue the run in this directory from its checkpoints."),
    )
    overwrite: bool = field(
        default=False,
        metadata=describe("Replace an existing run directory of the same name."),
    )
    eval_episodes: int = field(
        default=2000,
        metadata=describe(
            "Held-out evaluation episodes at the end (greedy, fresh env seed)."
        ),
    )
    eval_points: int = field(
        default=20,
        metadata=describe(
            "Greedy evaluations of eval_batch episodes spread evenly over the run "
            "(the success curve of TensorBoard and curves.json)."
        ),
    )
    eval_batch: int = field(
        default=2048,
        metadata=describe(
            "Episodes of each periodic greedy evaluation; also the sample of the "
            "symbol views (2048: about 128 uses per symbol and position with 16 "
            "symbols, so P(value | symbol) is within ±0.05)."
        ),
    )
    views: int = field(
        default=10,
        metadata=describe(
            "TensorBoard symbol views spread evenly over the run (each once; the "
            "last at the end, on the final evaluation)."
        ),
    )
    checkpoint_every: int = field(
        default=25, metadata=describe("Save a checkpoint every this many iterations.")
    )
    progress: bool = field(
        default=True,
        metadata=describe(
            "Show progress: a live bar on a terminal, periodic lines otherwise."
        ),
    )

    def __post_init__(self) -> None:
        if not isinstance(self.train, TrainSpec):
            raise TypeError(f"train must be a TrainSpec, got {self.train!r}")
        if not isinstance(self.rllib, RLlibOptions):
            raise TypeError(f"rllib must be RLlibOptions, got {self.rllib!r}")
        if self.backend not in ("native", "rllib"):
            raise ValueError(
                f"backend must be one of ['native', 'rllib'], got {self.backend!r}"
            )
        for key in ("eval_episodes", "eval_points", "eval_batch", "views"):
            _positive_int(key, getattr(self, key))
        _positive_int("checkpoint_every", self.checkpoint_every)
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seeds must be ints >= 0, got {seed!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        if self.name is not None and (
            not self.name or "/" in self.name or self.name in (".", "..")
        ):
            raise ValueError(f"name must be a plain folder name, got {self.name!r}")
        if self.backend == "rllib":
            from agents.rllib import check_spec

            check_spec(self.train, self.rllib)

    def spec(self, seed: int) -> TrainSpec:
        """The :class:`TrainSpec` of one seed."""
        return self.train.replace(seed=seed)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


# ---------------------------------------------------------------------- trainers
def make_trainer(args: Args, seed: int):
    """The trainer of one seed (native or RLlib) for ``args``."""
    if args.backend == "rllib":
        from agents.rllib import RLlibTrainer

        return RLlibTrainer(args.spec(seed), args.rllib)
    from agents.native import NativeTrainer

    return NativeTrainer(args.spec(seed))


def load_trainer(seed_dir: str | os.PathLike, *, device: str | None = None):
    """A native trainer holding the trained weights of ``RUN_DIR/seed_<s>`` (either
    backend), for analysis of a finished or interrupted run.

    Raises ``ValueError`` naming the folder when it is not a seed folder of a run.
    """
    seed_dir = Path(seed_dir)
    run_dir = seed_dir.parent
    config = run_dir / "config.json"
    if not config.is_file() or not seed_dir.name.startswith("seed_"):
        raise ValueError(
            f"{seed_dir} is not a seed folder of a run (expected RUN_DIR/seed_<s> "
            "with RUN_DIR/config.json)"
        )
    args = _stored_args(run_dir)
    seed = int(seed_dir.name.removeprefix("seed_"))
    if device is not None:
        args = dataclasses.replace(args, train=args.train.replace(device=device))
    checkpoints = _checkpoints(args, run_dir, seed)
    if not checkpoints.exists():
        raise ValueError(f"{seed_dir}: no checkpoint at {checkpoints.path}")
    trainer, _ = checkpoints.load(args.spec(seed))
    if args.backend == "rllib":
        native = trainer.native_copy()
        trainer.close()
        return native
    return trainer


# ---------------------------------------------------------------------- checkpoints
class _NativeCheckpoints:
    """``seed_<s>/checkpoints/latest.pt``: the trainer's state dict and run state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "latest.pt"

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, trainer, run_state: dict[str, Any]) -> None:
        atomic_torch_save(
            self.path,
            {
                "spec": to_dict(trainer.spec),
                "trainer": trainer.state_dict(),
                "run": run_state,
            },
        )

    def load(self, spec: TrainSpec):
        from agents.native import NativeTrainer

        state = load_torch_checkpoint(self.path, map_location=spec.device)
        _check_stored_spec(self.path, state.get("spec"), spec)
        trainer = NativeTrainer(spec)
        try:
            trainer.load_state_dict(state["trainer"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise ValueError(
                f"checkpoint {self.path} does not fit this run's networks: {err}"
            ) from err
        return trainer, dict(state.get("run", {}))


class _RLlibCheckpoints:
    """An RLlib checkpoint folder ``.../checkpoints/latest`` (+ our run state)."""

    def __init__(self, folder: Path, options: RLlibOptions) -> None:
        self.folder = folder
        self.options = options
        self.path = folder / "latest"

    def exists(self) -> bool:
        from agents.rllib import latest_checkpoint

        return latest_checkpoint(self.folder) is not None

    def save(self, trainer, run_state: dict[str, Any]) -> None:
        trainer.save(self.folder, {"spec": to_dict(trainer.spec), "run": run_state})

    def load(self, spec: TrainSpec):
        from agents.rllib import RLlibTrainer, init_ray

        init_ray()  # a no-op when the run loop already started (or joined) Ray
        trainer, state = RLlibTrainer.restore(self.folder, spec, self.options)
        try:
            _check_stored_spec(self.path, state.get("spec"), spec)
        except ValueError:
            trainer.close()
            raise
        return trainer, dict(state.get("run", {}))


def _checkpoints(args: Args, run_dir: Path, seed: int):
    if args.backend == "rllib":
        root = run_dir
        if args.rllib.ray_storage:
            root = Path(args.rllib.ray_storage) / run_dir.name
        return _RLlibCheckpoints(root / f"seed_{seed}" / "checkpoints", args.rllib)
    return _NativeCheckpoints(run_dir / f"seed_{seed}" / "checkpoints")


def _check_stored_spec(path: Path, stored: Any, spec: TrainSpec) -> None:
    """A checkpoint must belong to this spec (env, channel, sizes, ...)."""
    if stored is None:
        raise ValueError(f"checkpoint {path} records no training spec")
    try:
        saved = from_dict(TrainSpec, stored, where=f"checkpoint {path}")
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path} holds an unusable spec: {err}") from err
    changed = [k for k in differences(saved, spec) if k not in ("device", "steps")]
    if changed:
        raise ValueError(
            f"checkpoint {path} was trained with other options: "
            + ", ".join(f"{k}" for k in changed)
        )


# ---------------------------------------------------------------------- curves
@dataclass
class Curves:
    """What a run records over training (``curves.json``): the training episodes of
    every iteration, the periodic greedy evaluations on a fixed env seed
    (``--eval-batch`` episodes) whose last point is the final held-out evaluation
    (``--eval-episodes``: summary.json's ``success``), and the message–meaning MI
    of each symbol view (the last on the final evaluation)."""

    step: list[int] = field(default_factory=list)
    train_success: list[float | None] = field(default_factory=list)
    train_return: list[float | None] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_success: list[float | None] = field(default_factory=list)
    eval_return: list[float] = field(default_factory=list)
    mi_step: list[int] = field(default_factory=list)
    mi_bits: list[float] = field(default_factory=list)

    def add_iteration(self, stats: IterationStats) -> None:
        self.step.append(stats.env_steps)
        self.train_success.append(stats.success)
        self.train_return.append(stats.mean_return)

    def add_evaluation(self, step: int, result: EvalResult) -> None:
        self.eval_step.append(step)
        self.eval_success.append(result.success)
        self.eval_return.append(result.mean_return)

    def to_dict(self) -> dict[str, list]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Curves:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: list(v) for k, v in data.items() if k in names})


# ---------------------------------------------------------------------- views
def _spread(count: int, total: int) -> set[int]:
    """``count`` iterations in ``1..total`` spread evenly, the last one ``total``."""
    count = min(count, total)
    return {max(1, round(total * (i + 1) / count)) for i in range(count)}


def _scalars(
    stats: IterationStats,
    steps_per_s: float,
    *,
    spec: TrainSpec,
    live_losses: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """The TensorBoard scalars of one training iteration (one place for tags; their
    descriptions are :data:`analysis.tensorboard.TAGS`).

    A channel's auxiliary-loss part (``<agent>/aux_*``) is charted once it has been
    non-zero: a part the channel does not compute is exactly 0 and gets no chart.
    ``live_losses`` names the parts already charted (they stay). The learning rate
    and entropy weight are charted only when a schedule changes them.
    """
    out: dict[str, float] = {}
    for key, value in stats.losses.items():
        if "/aux_" not in key or value != 0.0 or key in live_losses:
            out[f"losses/{key}"] = value
    if stats.success is not None:
        out["train/success"] = stats.success
    if stats.mean_return is not None:
        out["train/return"] = stats.mean_return
    ppo = spec.ppo
    if ppo.anneal_lr or ppo.lr_decay != 1.0:
        out["train/learning_rate"] = stats.learning_rate
    if ppo.ent_decay != 1.0:
        out["train/entropy_coef"] = stats.entropy_coef
    if stats.usage:
        perplexity, live = mean_usage(stats.usage)
        out["train/symbol_perplexity"] = perplexity
        out["train/live_symbols"] = live
    out["perf/iteration_s"] = stats.iteration_s
    out["perf/steps_per_s"] = steps_per_s
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _vocab_size(trainer, agent: str) -> int:
    space = trainer.env.action_space(agent)
    return int(space.n) if hasattr(space, "n") else int(space.nvec.max())


def write_symbol_views(writer, trainer, result: EvalResult, step: int):
    """The symbol views of the first speaker with meanings, through
    :func:`analysis.tensorboard.log_symbol_views` (``writer``: the run's
    :class:`~analysis.tensorboard.TagWriter`); returns its
    :class:`~analysis.language.MessageReport` (None without speaker data)."""
    from analysis.tensorboard import log_symbol_views

    data = result.speaker_data()
    if data is None:
        return None
    agent, messages, meanings = data
    codebook = trainer.codebook(agent)
    return log_symbol_views(
        writer,
        step=step,
        messages=messages,
        meanings=meanings,
        vocab_size=_vocab_size(trainer, agent),
        codebook=None if codebook is None else codebook[0],
    )


# ---------------------------------------------------------------------- progress
def _count(n: float) -> str:
    """A step count short enough for a bar: ``12,288``, ``253.9k``, ``10.0M``."""
    if n < 100_000:
        return f"{n:,.0f}"
    if n < 10_000_000:
        return f"{n / 1e3:,.1f}k"
    return f"{n / 1e6:,.1f}M"


class _Progress:
    """Progress of training: a live bar on a terminal (stderr), plain periodic lines
    (steps, steps/s, training success, ETA) when stderr is not a terminal, and one
    final line per seed that explains the step count (never cut: it wraps).

    ``console`` (a ``rich.console.Console``) forces the live bar on it (tests).
    """

    def __init__(
        self, enabled: bool, *, interval_s: float = 10.0, console: Any = None
    ) -> None:
        self.enabled = enabled
        self.live = enabled and (console is not None or sys.stderr.isatty())
        self.interval_s = interval_s
        self._console = console
        self._rich = None
        self._last_line = -math.inf

    def __enter__(self) -> _Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._rich = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=None),
                TextColumn("{task.fields[steps]} steps"),
                TextColumn("{task.fields[sps]} steps/s"),
                TextColumn("success {task.fields[success]}"),
                TextColumn("ETA {task.fields[eta]}"),
                console=self._console or Console(stderr=True),
                transient=False,
            )
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)

    def start(self, label: str, total: int, completed: int) -> Any:
        if self._rich is not None:
            return self._rich.add_task(
                label,
                total=total,
                completed=completed,
                steps=f"{_count(completed)}/{_count(total)}",
                sps="-",
                success="-",
                eta="?",
            )
        return label

    def update(self, task: Any, *, done: int, total: int, sps: float, success) -> None:
        if not self.enabled:
            return
        text = "-" if success is None else f"{success:.3f}"
        eta = duration((total - done) / sps if sps > 0 else math.nan)
        if self._rich is not None:
            self._rich.update(
                task,
                completed=done,
                steps=f"{_count(done)}/{_count(total)}",
                sps=_count(sps),
                success=text,
                eta=eta,
            )
            return
        now = time.monotonic()
        if now - self._last_line < self.interval_s and done < total:
            return
        self._last_line = now
        print(
            f"{task}: {done:,}/{total:,} steps ({100 * done / total:.0f}%) "
            f"{sps:,.0f} steps/s, train success {text}, ETA {eta}",
            file=sys.stderr,
            flush=True,
        )

    def finish(self, task: Any, text: str) -> None:
        """End a task with one line (the bar, if any, stays complete above it)."""
        if self._rich is not None:
            self._rich.update(task, eta="0 s")
        self.note(text)

    def note(self, text: str) -> None:
        if self.enabled:
            if self._rich is not None:
                self._rich.console.print(text, soft_wrap=False, overflow="fold")
            else:
                print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- one seed
@dataclass(frozen=True)
class SeedOutcome:
    """What one seed of a run produced."""

    seed_dir: Path
    result: RunResult
    report: MessageReport | None
    """The message report of the final evaluation, or None for runs without
    speakers or meanings."""

    def summary(self) -> dict[str, Any]:
        """The seed's ``summary.json``: the run's numbers, then the message report
        (its fields, and which MI estimator the headline uses)."""
        out = self.result.summary_fields()
        if self.report is not None:
            out.update(self.report.to_dict())
            out["mi_estimator"] = DEFAULT_MI_ESTIMATOR
        return out


def run_seed(
    args: Args, run_dir: Path, seed: int, progress: _Progress | None = None
) -> SeedOutcome:
    """Train one seed (resuming from its checkpoint if one exists), evaluate it and
    write its files.

    Raises :class:`~agents.results.TrainingDiverged` when the run diverges, with
    ``last_checkpoint`` set to the checkpoint that holds the last good weights (None
    if none was written yet).
    """
    progress = progress or _Progress(False)
    spec = args.spec(seed)
    seed_dir = run_dir / f"seed_{seed}"
    checkpoints = _checkpoints(args, run_dir, seed)
    clean_orphans(seed_dir)
    clean_orphans(checkpoints.folder)
    if checkpoints.exists():
        trainer, run_state = checkpoints.load(spec)
    else:
        trainer, run_state = make_trainer(args, seed), {}
    try:
        return _train(args, spec, trainer, run_state, seed_dir, checkpoints, progress)
    finally:
        trainer.close()


def _train(args, spec, trainer, run_state, seed_dir, checkpoints, progress):
    from torch.utils.tensorboard import SummaryWriter

    from analysis.tensorboard import TagWriter, log_chance_layout, log_config

    atomic_write_json(seed_dir / "config.json", to_dict(spec))
    curves = Curves.from_dict(run_state.get("curves", {}))
    wall_before = float(run_state.get("wall_s", 0.0))
    total_iters = spec.iterations
    # Views and periodic evaluations each happen once per step; the last of both is
    # the final held-out evaluation, written after training.
    view_at = _spread(args.views, total_iters) - {total_iters}
    eval_at = _spread(args.eval_points, total_iters) - {total_iters}
    # Every session starts with a session-start event (purge_step): a resumed run
    # rewrites what came after its checkpoint, and TensorBoard drops the killed
    # session's events from that step on (the first start is not a restart).
    writer = SummaryWriter(
        str(seed_dir), purge_step=trainer.env_steps + 1 if trainer.iteration else 0
    )
    tags = TagWriter(writer)
    if trainer.iteration == 0:
        log_config(tags, to_dict(args) | {"train": to_dict(spec)}, metrics=_METRICS)
        log_chance_layout(tags)
    task = progress.start(f"seed {spec.seed}", spec.total_env_steps, trainer.env_steps)
    t0, steps0 = time.perf_counter(), trainer.env_steps
    usage = trainer.channel_usage()
    live_losses: frozenset[str] = frozenset()

    def run_state_now() -> dict[str, Any]:
        return {
            "wall_s": wall_before + time.perf_counter() - t0,
            "curves": curves.to_dict(),
        }

    try:
        while trainer.iteration < total_iters:
            try:
                stats = trainer.train_iteration()
            except TrainingDiverged as err:
                err.last_checkpoint = (
                    str(checkpoints.path) if checkpoints.exists() else None
                )
                raise
            usage = stats.usage
            sps = (stats.env_steps - steps0) / max(time.perf_counter() - t0, 1e-9)
            values = _scalars(stats, sps, spec=spec, live_losses=live_losses)
            live_losses |= {k.removeprefix("losses/") for k in values if "/aux_" in k}
            tags.scalars(values, stats.env_steps)
            curves.add_iteration(stats)
            it = stats.iteration
            if it in eval_at or it in view_at:
                sample = trainer.evaluate(
                    args.eval_batch, seed=spec.seed + CURVE_SEED_OFFSET
                )
                if it in eval_at:
                    curves.add_evaluation(stats.env_steps, sample)
                    _write_eval(tags, sample, stats.env_steps)
                if it in view_at:
                    report = write_symbol_views(tags, trainer, sample, stats.env_steps)
                    if report is not None:
                        curves.mi_step.append(stats.env_steps)
                        curves.mi_bits.append(report.message_meaning_mi_bits)
            progress.update(
                task,
                done=stats.env_steps,
                total=spec.total_env_steps,
                sps=sps,
                success=stats.success,
            )
            if it % args.checkpoint_every == 0 and it < total_iters:
                checkpoints.save(trainer, run_state_now())
                atomic_write_json(seed_dir / "curves.json", curves.to_dict())
        final_state = run_state_now()
        checkpoints.save(trainer, final_state)
        result = trainer.evaluate(args.eval_episodes, seed=spec.seed + EVAL_SEED_OFFSET)
        extra = _split_evaluations(trainer, spec, args.eval_episodes)
        run = RunResult(
            spec=spec,
            backend=args.backend,
            env_steps=trainer.env_steps,
            iterations=trainer.iteration,
            wall_s=final_state["wall_s"],
            evaluation=result,
            usage=usage,
            extra_evaluations=extra,
        )
        step = trainer.env_steps
        if not curves.eval_step or curves.eval_step[-1] != step:
            curves.add_evaluation(step, result)
            _write_eval(tags, result, step)
        report = write_symbol_views(tags, trainer, result, step)
        if report is not None and (not curves.mi_step or curves.mi_step[-1] != step):
            curves.mi_step.append(step)
            curves.mi_bits.append(report.message_meaning_mi_bits)
        outcome = SeedOutcome(seed_dir=seed_dir, result=run, report=report)
        _write_results(outcome, curves)
        progress.finish(
            task,
            f"seed {spec.seed}: {step:,} env steps in {final_state['wall_s']:,.0f} s "
            f"({spec.iterations} iterations of {spec.ppo.batch_size:,}; --steps "
            f"{spec.steps:,} rounded up to whole iterations), held-out success "
            + ("-" if result.success is None else f"{result.success:.3f}"),
        )
        return outcome
    finally:
        writer.close()


_METRICS = (
    "eval/success",
    "eval/return",
    "symbols/message_meaning_mi_bits",
    "symbols/topsim",
    "symbols/posdis",
)
"""Scalar tags shown as metric columns of the HParams tab."""


def _write_eval(tags, result: EvalResult, step: int) -> None:
    if result.success is not None:
        tags.scalar("eval/success", result.success, step)
    tags.scalar("eval/return", result.mean_return, step)


def _split_evaluations(
    trainer, spec: TrainSpec, episodes: int
) -> dict[str, EvalResult]:
    """Seen / held-out evaluations for envs configured with a held-out split."""
    if "holdout_fraction" not in spec.env_config and "holdout" not in spec.env_config:
        return {}
    out = {}
    for name, split in (("seen", "train"), ("heldout", "heldout")):
        out[name] = trainer.evaluate(
            episodes,
            seed=spec.seed + EVAL_SEED_OFFSET,
            env_config={"split": split},
        )
    return out


def _write_results(outcome: SeedOutcome, curves: Curves) -> None:
    """The end of a seed: ``messages.npz``, ``curves.json`` and ``summary.json``."""
    ev = outcome.result.evaluation
    arrays = {}
    for agent, msgs in ev.messages.items():
        arrays[f"messages_{agent}"] = msgs
        if agent in ev.meanings:
            arrays[f"meanings_{agent}"] = ev.meanings[agent]
    data = ev.speaker_data()
    if data is not None:
        arrays["messages"], arrays["meanings"] = data[1], data[2]
    atomic_savez(outcome.seed_dir / "messages.npz", **arrays)
    atomic_write_json(outcome.seed_dir / "curves.json", curves.to_dict())
    atomic_write_json(outcome.seed_dir / "summary.json", outcome.summary())


# ---------------------------------------------------------------------- the run
def aggregate(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's ``summary.json``: every seed's summary, ``<key>_mean``/``_std`` of
    the numeric keys over seeds, and how many seeds were degenerate (a collapsed
    channel: one distinct message), so means over seeds never hide them."""
    out: dict[str, Any] = {"seeds": [s["seed"] for s in summaries], "runs": summaries}
    for key in summaries[0]:
        vals = [s.get(key) for s in summaries]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
            out[f"{key}_mean"] = float(np.mean(vals))
            out[f"{key}_std"] = float(np.std(vals))
    out["degenerate_seeds"] = sum(
        1 for s in summaries if s.get("distinct_messages") == 1 or s.get("degenerate")
    )
    return out


@dataclass(frozen=True)
class _Plan:
    args: Args
    run_dir: Path
    fresh: bool


def _error(message: str) -> SystemExit:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return SystemExit(2)


def _stored_args(run_dir: Path) -> Args:
    config = run_dir / "config.json"
    try:
        data = read_json(config)
    except ValueError as err:
        raise ValueError(f"{config} is unreadable: {err}") from err
    return from_dict(Args, data, where=str(config))


def _resolve(argv: list[str] | None) -> _Plan:
    """Parse and validate everything; decide the run directory. Writes nothing."""
    args, given = parse_args(
        Args, argv, prog=PROG, description=__doc__.split("\n")[0], with_given=True
    )
    if args.resume is None:
        name = args.name or (
            f"{args.train.env}__{args.train.channel}__{time.strftime('%Y%m%d-%H%M%S')}"
        )
        run_dir = Path(args.logdir) / name
        if run_dir.exists() and any(run_dir.iterdir()) and not args.overwrite:
            raise _error(
                f"run directory {run_dir} exists: pass --resume {run_dir} to continue "
                "it, --overwrite to replace it, or choose another --name"
            )
        _check_buildable(args)
        return _Plan(args, run_dir, fresh=True)
    run_dir = Path(args.resume)
    if not (run_dir / "config.json").is_file():
        raise _error(f"--resume {run_dir}: no config.json there (not a run directory)")
    try:
        stored = _stored_args(run_dir)
    except (TypeError, ValueError) as err:
        raise _error(f"--resume {run_dir}: {err}") from err
    changed = [
        k
        for k in differences(stored, args)
        if k in given and k not in (*RESUMABLE, "resume", "overwrite")
    ]
    if changed:
        allowed = ", ".join("--" + k.replace("_", "-") for k in RESUMABLE)
        raise _error(
            f"--resume {run_dir}: the stored run differs in {', '.join(changed)}; a "
            f"resumed run keeps its configuration (only {allowed} may be given)"
        )
    keep = {
        k: getattr(args, k)
        for k in ("eval_episodes", "checkpoint_every", "progress")
        if k in given
    }
    train = stored.train
    if "steps" in given:
        train = train.replace(steps=args.train.steps)
        trained = _trained_steps(run_dir, stored.seeds)
        if trained > train.total_env_steps:
            raise _error(
                f"--resume {run_dir}: --steps {train.steps:,} is below the "
                f"{trained:,} env steps already trained (a run can only be extended)"
            )
    resumed = dataclasses.replace(
        stored, train=train, resume=str(run_dir), overwrite=False, **keep
    )
    return _Plan(resumed, run_dir, fresh=False)


def _trained_steps(run_dir: Path, seeds: tuple[int, ...]) -> int:
    """The most env steps any seed of a run has trained (from its ``curves.json``,
    written with every checkpoint)."""
    trained = 0
    for seed in seeds:
        path = run_dir / f"seed_{seed}" / "curves.json"
        try:
            steps = read_json(path).get("step") or [0]
        except (ValueError, AttributeError):
            continue
        trained = max(trained, int(max(steps)))
    return trained


def _check_buildable(args: Args) -> None:
    """Build the agents once on a one-env core, so channel options with bad values
    fail before anything is written. The networks are built on PyTorch's ``meta``
    device (shapes, no memory): a huge ``--hidden`` is checked without allocating
    it."""
    import torch

    import envs
    from agents.networks import build_agents

    spec = args.train
    with torch.random.fork_rng(devices=[]):
        core = envs.make_vec(spec.env, 1, seed=0, **spec.env_config)
        try:
            with torch.device("meta"):
                build_agents(core, spec)
        except (TypeError, ValueError) as err:
            raise _error(f"channel_options: {err}") from err
        except RuntimeError as err:  # e.g. a size torch cannot represent
            one_line = " ".join(str(err).split())
            raise _error(f"the networks cannot be built: {one_line}") from err


def main(argv: list[str] | None = None) -> dict:
    """Run the experiment; returns the summary over seeds."""
    plan = _resolve(argv)
    args, run_dir = plan.args, plan.run_dir
    if args.backend == "rllib":
        from agents.rllib import start_ray

        try:
            start_ray(args.rllib, num_workers=args.rllib.num_env_runners)
        except ImportError as err:
            raise _error(str(err)) from err
    if plan.fresh and args.overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    clean_orphans(run_dir)
    atomic_write_json(run_dir / "config.json", to_dict(args))
    summaries = []
    with _Progress(args.progress) as progress:
        for index, seed in enumerate(args.seeds):
            done = run_dir / f"seed_{seed}" / "summary.json"
            if not plan.fresh and done.is_file():
                try:
                    finished = read_json(done)
                except ValueError:
                    progress.note(f"{done} is unreadable; evaluating seed {seed} again")
                else:
                    # A finished seed is reused unless --steps extended the run.
                    if finished.get("env_steps", 0) >= args.train.total_env_steps:
                        summaries.append(finished)
                        continue
            progress.note(f"[{index + 1}/{len(args.seeds)}] seed {seed} in {run_dir}")
            try:
                summaries.append(run_seed(args, run_dir, seed, progress).summary())
            except TrainingDiverged as err:
                where = (
                    f"the last good checkpoint is {err.last_checkpoint}"
                    if err.last_checkpoint
                    else "no checkpoint was written yet"
                )
                print(f"{PROG}: stopping: {err}; {where}", file=sys.stderr)
                raise SystemExit(1) from err
            except ValueError as err:  # an unusable checkpoint
                raise _error(str(err)) from err
    summary = aggregate(summaries)
    atomic_write_json(run_dir / "summary.json", summary)
    if args.progress:
        keys = ("success", "mean_return", "message_meaning_mi_bits", "topsim")
        parts = [f"{k}={summary.get(k + '_mean', float('nan')):.3f}" for k in keys]
        print(f"{run_dir}: " + " ".join(parts))
    return summary


if __name__ == "__main__":
    main()
