"""RLlib backend throughput next to RLlib's own PettingZoo path, in one run.

Rows: 0, 1 and 2 env runners. Columns: env-steps/s *with learning* (sampling and PPO
updates, the whole ``algo.train()``) of

* ``ours``: ``speaker_listener_v0`` through :mod:`agents.rllib` (our RLModules, the
  learner with ``agents.ppo.ppo_loss``, our callbacks);
* ``mpe2``: mpe2's ``simple_speaker_listener_v4`` through RLlib's
  ``ParallelPettingZooEnv`` with RLlib's default PPO module and learner;
* ``ours ref.``: ``referential_v0`` (two-step episodes) through :mod:`agents.rllib`;

and the ratio ours / mpe2. Same batch, minibatches, epochs and envs per runner for
all, and the same rollout fragment length (8: RLlib 2.60 slows down quadratically
in the episodes finished within one ``sample()`` call). One warm-up iteration per
config is not timed.

    python -m bench.rllib                    # ~3 minutes on 2 busy cores
    python -m bench.rllib --iterations 5 --batch 4000

Prints the load average next to the table: the machine is shared.
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _mpe2_config(args, num_env_runners: int):
    from mpe2 import simple_speaker_listener_v4
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    register_env(
        "mpe2_speaker_listener",
        lambda cfg: ParallelPettingZooEnv(simple_speaker_listener_v4.parallel_env()),
    )
    agents = ["speaker_0", "listener_0"]
    return (
        PPOConfig()
        .environment("mpe2_speaker_listener")
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=args.envs_per_runner,
            rollout_fragment_length=args.fragment,
        )
        .multi_agent(
            policies=set(agents), policy_mapping_fn=lambda agent_id, *a, **k: agent_id
        )
        .training(
            lr=3e-3,
            train_batch_size_per_learner=args.batch,
            minibatch_size=args.batch // 4,
            num_epochs=4,
            use_kl_loss=False,
        )
        .debugging(seed=0)
    )


def _ours_config(args, num_env_runners: int, env: str):
    from agents.rllib import build_config
    from agents.spec import PPOConfig, RLlibOptions, TrainSpec

    spec = TrainSpec(
        env=env,
        ppo=PPOConfig(
            num_envs=args.batch // args.fragment,
            num_steps=args.fragment,  # the rollout fragment length
            num_minibatches=4,
            update_epochs=4,
        ),
    )
    options = RLlibOptions(
        num_env_runners=num_env_runners,
        num_envs_per_env_runner=args.envs_per_runner,
    )
    return build_config(spec, options)


def measure(config, iterations: int) -> float:
    """Env steps per second over ``iterations`` timed ``algo.train()`` calls."""
    algo = config.build_algo()
    try:
        algo.train()  # warm-up: actor start, first weights sync
        steps, t0 = 0.0, time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
            sampled = result["env_runners"].get("num_env_steps_sampled", 0.0)
            steps += sampled if math.isfinite(sampled) else 0.0
        return steps / (time.perf_counter() - t0)
    finally:
        algo.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rllib")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--envs-per-runner", type=int, default=8)
    parser.add_argument("--fragment", type=int, default=8, help="rollout fragment")
    parser.add_argument("--runners", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)

    import ray

    from agents.rllib import init_ray

    init_ray(num_cpus=max(2, max(args.runners)))
    rows = []
    load_before = os.getloadavg()
    for n in args.runners:
        ours = measure(_ours_config(args, n, "speaker_listener_v0"), args.iterations)
        mpe2 = measure(_mpe2_config(args, n), args.iterations)
        ref = measure(_ours_config(args, n, "referential_v0"), args.iterations)
        rows.append((n, ours, mpe2, ref))
        print(f"runners={n}: ours {ours:,.0f}  mpe2 {mpe2:,.0f}  ref {ref:,.0f}")
    ray.shutdown()
    load_after = os.getloadavg()
    print()
    print(
        f"batch {args.batch}, {args.envs_per_runner} envs per runner, fragment "
        f"{args.fragment}, "
        f"{args.iterations} timed iterations, {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.1f} before / {load_after[0]:.1f} after"
    )
    print()
    print(
        "| env runners | ours speaker_listener_v0 (steps/s) | mpe2 "
        "simple_speaker_listener_v4 + RLlib default (steps/s) | ratio ours/mpe2 | "
        "ours referential_v0 (steps/s) | per runner (ours s_l) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n, ours, mpe2, ref in rows:
        per = ours / max(n, 1)
        print(
            f"| {n} | {ours:,.0f} | {mpe2:,.0f} | {ours / mpe2:.2f} | {ref:,.0f} "
            f"| {per:,.0f} |"
        )


if __name__ == "__main__":
    main()
