"""Env stepping speed: our batched cores and PettingZoo faces next to mpe2.

How to run::

    .venv/bin/python -m bench.envs                  # defaults: 4096 envs, 2 s a case
    .venv/bin/python -m bench.envs --num-envs 1024 --seconds 5

Prints one Markdown table, every row measured in the same run. An env-step is one
step of one env (a batched call counts ``num_envs``). Actions are random and sampled
before timing; resets (auto-resets for the batched cores) are included. The cases
take turns in short rounds so that a load change on a shared machine hits them all
alike. Torch keeps its default thread count unless ``--threads`` is given.

Results to expect: the batched core at 4,096 envs runs about a thousand times more
env-steps/s than mpe2's ``simple_speaker_listener_v4`` (CPU, one idle core per torch
thread; on a machine whose cores are busy, ``--threads 1`` avoids OpenMP threads
waiting on each other); a PettingZoo face (one env through the torch core) runs at
0.75-0.9x mpe2's speed, bound by per-op torch overhead (about 65 tiny torch ops a
step, most of them in the core's action checks and the face's conversions).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces

import envs

ACTION_POOL = 64  # pre-sampled action sets, cycled


@dataclass
class Case:
    """One row: a named stepping loop that returns env-steps done per call."""

    env: str
    face: str
    num_envs: int
    run: Callable[[int], int]
    state_mib: float | None = None
    steps: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def _sample(space: spaces.Space, rng: np.random.Generator, n: int) -> np.ndarray:
    if isinstance(space, spaces.Discrete):
        return rng.integers(0, int(space.n), n)
    if isinstance(space, spaces.MultiDiscrete):
        return (rng.random((n, *space.shape)) * space.nvec).astype(np.int64)
    low, high = space.low, space.high
    return (low + rng.random((n, *space.shape)) * (high - low)).astype(np.float32)


def parallel_case(name: str, env, label: str, seed: int = 0) -> Case:
    """A PettingZoo ``ParallelEnv`` of one env, random actions from a pool."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    pool = [
        {a: _sample(env.action_space(a), rng, 1)[0] for a in env.possible_agents}
        for _ in range(ACTION_POOL)
    ]

    def run(n_calls: int) -> int:
        for i in range(n_calls):
            if not env.agents:
                env.reset()
            env.step(pool[i % ACTION_POOL])
        return n_calls

    return Case(name, label, 1, run)


def batched_case(name: str, num_envs: int, seed: int = 0) -> Case:
    """A batched core of ``num_envs`` (auto-reset on), random actions from a pool."""
    core = envs.make_vec(name, num_envs, seed=seed)
    core.reset()
    rng = np.random.default_rng(seed)
    pool = [
        {
            a: torch.as_tensor(_sample(core.action_space(a), rng, num_envs))
            for a in core.possible_agents
        }
        for _ in range(ACTION_POOL)
    ]

    def run(n_calls: int) -> int:
        for i in range(n_calls):
            core.step(pool[i % ACTION_POOL])
        return n_calls * num_envs

    state = sum(
        v.numel() * v.element_size()
        for v in vars(core).values()
        if isinstance(v, torch.Tensor)
    )
    return Case(name, f"batched ({core.device})", num_envs, run, state / 2**20)


def measure(cases: list[Case], seconds: float, rounds: int = 8) -> None:
    """Give every case about ``seconds`` of stepping, in ``rounds`` turns each."""
    for case in cases:  # warm up, and size a call batch of about 10 ms
        case.run(5)
        t0 = time.perf_counter()
        case.run(20)
        per_call = (time.perf_counter() - t0) / 20
        case.calls = max(1, int(0.01 / max(per_call, 1e-9)))
    for _ in range(rounds):
        for case in cases:
            end = time.perf_counter() + seconds / rounds
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                case.steps += case.run(case.calls)
                case.seconds += time.perf_counter() - t0


def table(cases: list[Case], peer: Case) -> str:
    head = (
        "| env | interface | envs | env-steps/s | vs mpe2 | state MiB |\n"
        "|---|---|--:|--:|--:|--:|"
    )
    rows = [head]
    for c in cases:
        mib = "-" if c.state_mib is None else f"{c.state_mib:.2f}"
        rows.append(
            f"| {c.env} | {c.face} | {c.num_envs:,} | {c.rate:,.0f} | "
            f"{c.rate / peer.rate:,.2f}x | {mib} |"
        )
    return "\n".join(rows)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{datetime.datetime.now().isoformat(timespec='seconds')}; "
        f"{platform.platform()}; CPUs: {os.cpu_count()}; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"numpy {np.__version__}; Python {platform.python_version()}; "
        f"load average (1 min) {load:.1f}"
    )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--num-envs", type=int, default=4096, help="envs in a batched core"
    )
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="stepping time per case"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own default)",
    )
    args = parser.parse_args(argv)
    if args.num_envs < 1 or args.seconds <= 0:
        parser.error("--num-envs must be >= 1 and --seconds > 0")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)

    from mpe2 import simple_speaker_listener_v4

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = parallel_case(
            "mpe2 simple_speaker_listener_v4",
            simple_speaker_listener_v4.parallel_env(),
            "PettingZoo parallel",
        )
        cases = [
            peer,
            parallel_case(
                "speaker_listener_v0",
                envs.make("speaker_listener_v0"),
                "PettingZoo parallel",
            ),
            batched_case("speaker_listener_v0", args.num_envs),
            parallel_case(
                "referential_v0", envs.make("referential_v0"), "PettingZoo parallel"
            ),
            batched_case("referential_v0", args.num_envs),
        ]
        measure(cases, args.seconds)
    out = (
        f"Machine: {machine()}\n\n"
        f"{table(cases, peer)}\n\n"
        "env-step = one step of one env; 'vs mpe2' = env-steps/s over mpe2's "
        "simple_speaker_listener_v4 PettingZoo parallel env, same run "
        "(referential_v0 has no peer; its ratio is for scale only)."
    )
    print(out)
    return out


if __name__ == "__main__":
    main()
