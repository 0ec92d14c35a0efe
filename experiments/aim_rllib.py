"""The RLlib run loop of ``python -m experiments.aim --backend rllib``.

The adapter (modules, learner, callbacks, config) is :mod:`agents.rllib`; this module
drives it for one seed: trains until ``--steps`` env steps, checkpoints with
``save_to_path`` (crash-safe, to ``seed_<s>/checkpoints/latest``: see
:func:`agents.rllib.save_checkpoint`), resumes from the newest complete checkpoint,
evaluates greedily through a native trainer that holds the learned weights, and
writes the same files and TensorBoard tags as the native backend
(:func:`experiments.aim.write_results`). Ray is imported only when a run starts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from experiments.aim import Args

__all__ = ["run_seed_rllib", "start_ray"]


def start_ray(args: Args) -> None:
    """Connect to ``--address`` or start a local Ray; ``ImportError`` with the install
    hint when Ray is missing."""
    from agents.rllib import init_ray, require_ray

    require_ray()
    # Locally, enough logical CPUs for every actor (the OS shares the real ones).
    init_ray(
        args.address, num_cpus=max(2, args.num_env_runners + args.num_learners + 1)
    )


def _checkpoint_root(args: Args, run_dir: Path, seed: int) -> Path:
    if args.ray_storage:
        return Path(args.ray_storage) / run_dir.name / f"seed_{seed}" / "checkpoints"
    return run_dir / f"seed_{seed}" / "checkpoints"


def _write_scalars(writer, metrics: dict[str, float], step: int) -> None:
    for key, value in metrics.items():
        if np.isfinite(value):
            writer.add_scalar(key, value, step)


def run_seed_rllib(args: Args, run_dir: Path, seed: int) -> dict:
    """Train, checkpoint and evaluate one seed; write its run-directory files."""
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED
    from torch.utils.tensorboard import SummaryWriter

    from agents.rllib import (
        STATE_FILE,
        build_config,
        finite,
        latest_checkpoint,
        native_trainer,
        save_checkpoint,
        symbol_usage,
    )
    from experiments.aim import _jsonable, atomic_write_json, write_results

    seed_dir = run_dir / f"seed_{seed}"
    ckpt_dir = _checkpoint_root(args, run_dir, seed)
    atomic_write_json(seed_dir / "config.json", {**_jsonable(args), "seed": seed})
    config = build_config(args, seed, seed_dir)
    state = {"env_steps": 0, "wall_s": 0.0, "iteration": 0, "counts": {}}
    # The newest complete checkpoint, also when a save was cut short mid-swap.
    latest = latest_checkpoint(ckpt_dir)
    if latest is not None:
        algo = Algorithm.from_checkpoint(str(latest.resolve()))
        state = json.loads((latest / STATE_FILE).read_text())
    else:
        algo = config.build_algo()
    counts = {k: np.asarray(v, dtype=float) for k, v in state["counts"].items()}
    env_steps, wall_before = int(state["env_steps"]), float(state["wall_s"])
    iteration = int(state["iteration"])
    writer = SummaryWriter(str(seed_dir))
    t0 = time.perf_counter()
    steps0 = env_steps

    def snapshot() -> dict:
        return {
            "env_steps": env_steps,
            "wall_s": wall_before + time.perf_counter() - t0,
            "iteration": iteration,
            "counts": {k: v.tolist() for k, v in counts.items()},
        }

    try:
        while env_steps < args.steps:
            t_iter = time.perf_counter()
            result = algo.train()
            iteration += 1
            # NaN while every env runner is down (RLlib restarts them).
            sampled = result[ENV_RUNNER_RESULTS].get(NUM_ENV_STEPS_SAMPLED, 0)
            env_steps += int(finite(sampled))
            aim = result.get("aim", {"metrics": {}, "symbol_counts": {}})
            for speaker, c in aim["symbol_counts"].items():
                counts[speaker] = counts.get(speaker, 0.0) + c
            metrics = dict(aim["metrics"])
            usage = [symbol_usage(c) for c in counts.values()]
            if usage:  # cumulative, like the channel's counters
                for key in ("perplexity", "live_codes"):
                    metrics[f"symbols/{key}"] = float(np.mean([u[key] for u in usage]))
            metrics["charts/iteration_s"] = time.perf_counter() - t_iter
            elapsed = time.perf_counter() - t0
            metrics["charts/steps_per_s"] = (env_steps - steps0) / max(elapsed, 1e-9)
            _write_scalars(writer, metrics, env_steps)
            if args.progress:
                print(
                    f"seed {seed} iter {iteration}: {env_steps:,}/{args.steps:,} steps "
                    f"success={metrics.get('charts/success', float('nan')):.3f} "
                    f"{metrics['charts/steps_per_s']:,.0f} steps/s",
                    flush=True,
                )
            if iteration % args.checkpoint_every == 0:
                save_checkpoint(algo, ckpt_dir, snapshot())
        final = snapshot()
        save_checkpoint(algo, ckpt_dir, final)
        trainer = native_trainer(args, algo, seed, env_steps, counts)
        result = trainer.evaluate(args.eval_episodes)
        return write_results(
            args, trainer, result, seed, seed_dir, writer, final["wall_s"]
        )
    finally:
        writer.close()
        algo.stop()
