"""Train AIM agents: speakers with an endogenous symbol system (a VQ codebook) and
listeners, on any env of the suite.

How to run
----------
``python -m experiments.aim``
    The defaults: native batched PPO on ``referential_v0`` (4 attributes x 4 values,
    4 candidates, messages of 2 symbols over 16), ``vq`` channel, CPU.
``python -m experiments.aim --channel categorical --seeds 0 1 2 --steps 2000000``
``python -m experiments.aim --env contextual_pd_v0 --env-config '{"payoff": "aim"}'``
``python -m experiments.aim --config run.yaml --device cuda``
``python -m experiments.aim --resume runs/referential_v0__vq__20261128-120000``
``tensorboard --logdir runs``
    Scalars (``charts/``, ``losses/``, ``symbols/``), the symbol-usage histogram, the
    codebook in the embedding projector, the rank-frequency plot and the
    symbol x meaning heatmap.

Every option is a flag (``--help``) and can come from ``--config FILE`` (YAML/JSON).

Results to expect
-----------------
The default run finishes in about a minute on 2 CPU cores and reaches >= 0.95
listener success on held-out evaluation episodes (fresh env seed, greedy policies).

The run directory holds ``config.json``; one folder per seed with ``config.json``,
TensorBoard events, ``checkpoints/latest.pt``, ``summary.json`` and
``messages.npz`` (evaluation messages and their meanings); and a ``summary.json``
over seeds. Writes are atomic (temp file + rename); ``--resume RUN_DIR`` continues
unfinished seeds from their last checkpoint and ends at the same total steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from experiments._cli import check_fields, parse_args
from experiments._io import (
    atomic_savez,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
)

__all__ = [
    "Args",
    "atomic_savez",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "load_trainer",
    "main",
    "make_trainer",
    "run_seed",
    "write_results",
]

CHANNELS = ("vq", "rvq", "categorical", "gumbel", "none")


@dataclass(frozen=True)
class Args:
    """Options of ``python -m experiments.aim``."""

    env: str = "referential_v0"
    """Environment name (see envs.names())."""
    env_config: dict = field(default_factory=dict)
    """Env options as a JSON object, e.g. '{"n_attributes": 3}'."""
    channel: Literal["vq", "rvq", "categorical", "gumbel", "none"] = "vq"
    """Message channel of every speaker."""
    channel_options: dict = field(default_factory=dict)
    """Channel options as a JSON object, e.g. '{"temperature": 0.5}'."""
    backend: Literal["native", "rllib"] = "native"
    """Trainer: the native batched PPO, or RLlib (Ray)."""
    seeds: tuple[int, ...] = (0,)
    """One run per seed."""
    steps: int = 250_000
    """Env steps per seed (one step of one env counts 1)."""
    device: str = "cpu"
    """Torch device of the native trainer (cpu, cuda, cuda:1, ...)."""
    logdir: str = "runs"
    """Parent folder of run directories."""
    name: str | None = None
    """Run directory name (default: env__channel__timestamp)."""
    resume: str | None = None
    """Continue the run in this directory from its last checkpoints."""
    eval_episodes: int = 2000
    """Held-out evaluation episodes at the end (greedy policies, fresh env seed)."""
    checkpoint_every: int = 25
    """Save a checkpoint every this many iterations."""
    views_every: int = 100
    """Write the TensorBoard symbol views every this many iterations."""
    progress: bool = True
    """Show a progress bar."""
    num_envs: int = 1024
    """Parallel envs (native backend)."""
    num_steps: int = 8
    """Rollout steps per env and iteration."""
    lr: float = 3e-3
    """Adam learning rate."""
    ent_coef: float = 0.01
    """Entropy bonus weight."""
    aux_coef: float = 1.0
    """Weight of the channel's auxiliary (VQ-VAE) loss."""
    hidden: int = 64
    """Hidden width of the networks."""
    update_epochs: int = 4
    """PPO passes per rollout."""
    num_minibatches: int = 4
    """Minibatches per pass."""
    share_parameters: bool = False
    """Share one network among agents with the same spaces and role."""
    centralized_value: bool = False
    """Critics see all agents' observations."""
    lr_decay: float = 1.0
    """Multiply the learning rate by this every iteration (AIM reference: 0.9995)."""
    ent_decay: float = 1.0
    """Multiply the entropy weight by this every iteration (AIM reference: 0.9999)."""
    accumulate_grads: bool = False
    """Never zero gradients (reproduces the AIM reference's defect; for studies)."""
    address: str | None = None
    """Ray cluster address (rllib backend): auto, ray://host:10001; default local."""
    num_env_runners: int = 0
    """RLlib env runners (0 samples in the driver)."""
    num_envs_per_env_runner: int = 16
    """Envs per RLlib env runner."""
    num_learners: int = 0
    """RLlib learner workers (0: learn in the driver)."""
    num_gpus_per_learner: float = 0.0
    """GPUs per RLlib learner."""
    ray_storage: str | None = None
    """Shared storage path for multi-node Ray runs."""
    shared_vocabulary: bool = False
    """All speakers share one codebook (rllib backend)."""
    env_runner: Literal["batched", "pettingzoo"] = "batched"
    """RLlib env runners (rllib backend): one batched core each, or PettingZoo envs."""

    def __post_init__(self) -> None:
        check_fields(self)
        import envs

        if self.env not in envs.names():
            raise ValueError(f"env must be one of {envs.names()}, got {self.env!r}")
        # Fails here, before any directory exists, on a bad env option.
        envs.core_class(self.env).make_config(**self.env_config)
        for key in ("steps", "eval_episodes", "checkpoint_every", "views_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if self.backend == "rllib" and self.centralized_value:
            raise ValueError("centralized_value is not available with backend rllib")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"device {self.device!r} requested but CUDA is unavailable"
            )

    def ppo(self):
        from agents.native import PPOConfig

        return PPOConfig(
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            lr=self.lr,
            ent_coef=self.ent_coef,
            aux_coef=self.aux_coef,
            hidden=self.hidden,
            update_epochs=self.update_epochs,
            num_minibatches=self.num_minibatches,
            share_parameters=self.share_parameters,
            centralized_value=self.centralized_value,
            lr_decay=self.lr_decay,
            ent_decay=self.ent_decay,
            accumulate_grads=self.accumulate_grads,
        )


# ---------------------------------------------------------------------- views
def _vocab_size(trainer, agent: str) -> int:
    space = trainer.env.action_space(agent)
    return int(space.n) if hasattr(space, "n") else int(space.nvec.max())


def write_symbol_views(writer, trainer, result, step: int) -> None:
    """The four symbol views of the first speaker, through analysis.tensorboard."""
    from analysis.tensorboard import log_symbol_views

    if not trainer.speakers:
        return
    agent = trainer.speakers[0]
    messages = result.messages.get(agent)
    meanings = result.meanings.get(agent)
    if messages is None or meanings is None or len(messages) < 2:
        return
    codebook = trainer.channels()[agent].codebook()
    log_symbol_views(
        writer,
        step=step,
        messages=messages,
        meanings=meanings,
        vocab_size=_vocab_size(trainer, agent),
        codebook=None if codebook is None else codebook[0].detach().cpu().numpy(),
    )


def summarize(args: Args, trainer, result, seed: int, wall_s: float) -> dict:
    """The per-seed ``summary.json`` (same keys for both backends)."""
    from analysis.language import message_report

    usage = trainer.channel_usage()
    summary: dict[str, Any] = {
        "env": args.env,
        "channel": args.channel,
        "backend": args.backend,
        "seed": seed,
        "env_steps": int(trainer.env_steps),
        "wall_s": wall_s,
        "steps_per_s": trainer.env_steps / max(wall_s, 1e-9),
        "success": result.success,
        "mean_return": result.mean_return,
        "eval_episodes": result.episodes,
        "codebook_perplexity": usage["perplexity"],
        "live_codes": usage["live_codes"],
        "message_meaning_mi_bits": None,
        "mi_correction": "shuffle",
    }
    if trainer.speakers:
        agent = trainer.speakers[0]
        msgs, means = result.messages.get(agent), result.meanings.get(agent)
        if msgs is not None and means is not None and len(msgs) >= 2:
            report = message_report(msgs, means, vocab_size=_vocab_size(trainer, agent))
            summary.update(report)
    return summary


# ---------------------------------------------------------------------- runs
def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
        TextColumn("{task.fields[sps]:,.0f} steps/s"),
        TextColumn("success {task.fields[success]}"),
        TextColumn("ppl {task.fields[ppl]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


def make_trainer(args: Args, seed: int):
    """The native trainer of one seed of a run."""
    from agents.native import NativeTrainer

    return NativeTrainer(
        args.env,
        args.env_config,
        channel=args.channel,
        channel_options=args.channel_options,
        ppo=args.ppo(),
        seed=seed,
        device=args.device,
        total_steps=args.steps,
    )


def load_trainer(seed_dir: str | os.PathLike, *, device: str | None = None):
    """Rebuild the native trainer of ``RUN_DIR/seed_<s>`` from its ``config.json``
    and ``checkpoints/latest.pt`` (for analysis of a trained run).

    Raises ``ValueError`` when the folder is not a native run's seed folder.
    """
    seed_dir = Path(seed_dir)
    config, ckpt = seed_dir / "config.json", seed_dir / "checkpoints" / "latest.pt"
    if not config.is_file() or not ckpt.is_file():
        raise ValueError(
            f"{seed_dir} is not a seed folder of a native run (expected config.json "
            "and checkpoints/latest.pt)"
        )
    saved = json.loads(config.read_text())
    seed = int(saved.pop("seed"))
    saved["seeds"] = tuple(saved["seeds"])
    if device is not None:
        saved["device"] = device
    args = Args(**saved)
    trainer = make_trainer(args, seed)
    state = torch.load(ckpt, map_location=args.device, weights_only=False)
    trainer.load_state_dict(state["trainer"])
    return trainer


def run_seed(args: Args, seed_dir: Path, seed: int, progress) -> dict:
    """Train one seed in ``seed_dir`` (resuming from its checkpoint if present)."""
    from torch.utils.tensorboard import SummaryWriter

    trainer = make_trainer(args, seed)
    ckpt = seed_dir / "checkpoints" / "latest.pt"
    wall_before = 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=args.device, weights_only=False)
        trainer.load_state_dict(state["trainer"])
        wall_before = float(state.get("wall_s", 0.0))
    atomic_write_json(seed_dir / "config.json", {**_jsonable(args), "seed": seed})
    writer = SummaryWriter(str(seed_dir))
    task = progress.add_task(
        f"seed {seed}",
        total=args.steps,
        completed=trainer.env_steps,
        sps=0.0,
        success="-",
        ppl="-",
    )
    t0 = time.perf_counter()
    steps0 = trainer.env_steps
    try:
        while trainer.env_steps < args.steps:
            try:
                metrics = trainer.train_iteration()
            except FloatingPointError as err:
                raise SystemExit(
                    f"stopping: {err}; the last good checkpoint is {ckpt}"
                ) from err
            step = trainer.env_steps
            elapsed = time.perf_counter() - t0
            sps = (step - steps0) / max(elapsed, 1e-9)
            metrics["charts/steps_per_s"] = sps
            for key, value in metrics.items():
                writer.add_scalar(key, value, step)
            progress.update(
                task,
                completed=step,
                sps=sps,
                success=f"{metrics.get('charts/success', float('nan')):.3f}",
                ppl=f"{metrics.get('symbols/perplexity', 0.0):.1f}",
            )
            if trainer.iteration % args.views_every == 0:
                sample = trainer.evaluate(256, seed=seed + 7)
                write_symbol_views(writer, trainer, sample, step)
            if trainer.iteration % args.checkpoint_every == 0:
                wall = wall_before + time.perf_counter() - t0
                atomic_torch_save(
                    ckpt, {"trainer": trainer.state_dict(), "wall_s": wall}
                )
        wall = wall_before + time.perf_counter() - t0
        atomic_torch_save(ckpt, {"trainer": trainer.state_dict(), "wall_s": wall})
        result = trainer.evaluate(args.eval_episodes)
        return write_results(args, trainer, result, seed, seed_dir, writer, wall)
    finally:
        writer.close()


def write_results(
    args: Args, trainer, result, seed: int, seed_dir: Path, writer, wall_s: float
) -> dict:
    """The end of a seed, for both backends: symbol views and eval scalars in
    TensorBoard, ``messages.npz`` and ``summary.json``. Returns the summary."""
    step = trainer.env_steps
    write_symbol_views(writer, trainer, result, step)
    summary = summarize(args, trainer, result, seed, wall_s)
    writer.add_scalar("eval/success", summary["success"] or 0.0, step)
    writer.add_scalar("eval/mean_return", summary["mean_return"], step)
    arrays = {}
    for agent, msgs in result.messages.items():
        arrays[f"messages_{agent}"] = msgs
        if agent in result.meanings:
            arrays[f"meanings_{agent}"] = result.meanings[agent]
    if trainer.speakers and trainer.speakers[0] in result.meanings:
        arrays["messages"] = result.messages[trainer.speakers[0]]
        arrays["meanings"] = result.meanings[trainer.speakers[0]]
    atomic_savez(seed_dir / "messages.npz", **arrays)
    atomic_write_json(seed_dir / "summary.json", summary)
    return summary


def _jsonable(args: Args) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(args)))


def _aggregate(summaries: list[dict]) -> dict:
    out: dict[str, Any] = {"seeds": [s["seed"] for s in summaries], "runs": summaries}
    for key, value in summaries[0].items():
        vals = [s.get(key) for s in summaries]
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and all(isinstance(v, int | float) for v in vals):
            out[f"{key}_mean"] = float(np.mean(vals))
            out[f"{key}_std"] = float(np.std(vals))
    return out


def _resolve(argv: list[str] | None) -> tuple[Args, Path]:
    args = parse_args(
        Args, argv, prog="python -m experiments.aim", description=__doc__.split("\n")[0]
    )
    if args.resume is not None:
        run_dir = Path(args.resume)
        config = run_dir / "config.json"
        if not config.is_file():
            print(
                f"python -m experiments.aim: error: --resume {run_dir}: no config.json "
                "there (not a run directory)",
                file=sys.stderr,
            )
            raise SystemExit(2)
        saved = json.loads(config.read_text())
        saved["seeds"] = tuple(saved["seeds"])
        saved.update(resume=str(run_dir), progress=args.progress)
        return Args(**saved), run_dir
    name = args.name or f"{args.env}__{args.channel}__{time.strftime('%Y%m%d-%H%M%S')}"
    return args, Path(args.logdir) / name


def main(argv: list[str] | None = None) -> dict:
    """Run the experiment; returns the summary over seeds."""
    args, run_dir = _resolve(argv)
    if args.backend == "rllib":
        from experiments.aim_rllib import run_seed_rllib, start_ray

        try:
            start_ray(args)
        except ImportError as err:
            print(f"python -m experiments.aim: error: {err}", file=sys.stderr)
            raise SystemExit(2) from err
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", _jsonable(args))
    summaries = []
    with _progress(args.progress and args.backend == "native") as progress:
        for seed in args.seeds:
            seed_dir = run_dir / f"seed_{seed}"
            done = seed_dir / "summary.json"
            if done.exists() and args.resume is not None:
                summaries.append(json.loads(done.read_text()))
            elif args.backend == "rllib":
                summaries.append(run_seed_rllib(args, run_dir, seed))
            else:
                summaries.append(run_seed(args, seed_dir, seed, progress))
    summary = _aggregate(summaries)
    atomic_write_json(run_dir / "summary.json", summary)
    if args.progress:
        keys = ("success", "mean_return", "message_meaning_mi_bits", "topsim")
        parts = [f"{k}={summary.get(k + '_mean', float('nan')):.3f}" for k in keys]
        print(f"{run_dir}: " + " ".join(parts))
    return summary


if __name__ == "__main__":
    main()
