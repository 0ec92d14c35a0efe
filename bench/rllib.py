"""RLlib backend speed: the batched env runner, RLlib's PettingZoo runner and the
native trainer, side by side in one run.

For each env (``speaker_listener_v0``, ``referential_v0``) three trainers with the
same batch (``--envs`` envs x ``--fragment`` steps), the same networks and PPO
settings are built once:

* ``batched``: ``python -m experiments.aim --backend rllib`` (the default
  ``--env-runner batched``, :mod:`agents.rllib_batched`);
* ``pettingzoo``: the same with ``--env-runner pettingzoo`` (RLlib's
  ``MultiAgentEnvRunner`` over ``ParallelPettingZooEnv`` sub-envs);
* ``native``: :class:`agents.native.NativeTrainer`.

Both RLlib paths use one env runner (the local one, in the driver, holding all
``--envs`` envs) and a learner in the driver, so every part is timed in this
process. Measured, interleaved so that the machine's load hits every path alike:

* sampling: env steps/s of the runner's ``sample()`` (``--sample-calls`` calls);
* training: env steps/s of whole ``algo.train()`` calls (``train_iteration`` for
  native), ``--iterations`` each after one warm-up;
* the breakdown of a training iteration (ms): env ``step`` calls, RLModule acting
  passes, the runner's bookkeeping (the rest of ``sample()``: episodes, connectors,
  metrics, and GAE on the batched path), the learner connector (episodes to train
  batch, and GAE on the PettingZoo path), the learner's SGD, and the rest of
  ``train()`` (weight sync, result assembly).

    python -m bench.rllib                       # ~2 minutes on 2 busy cores
    python -m bench.rllib --envs 1024 --iterations 5
    python -m bench.rllib --mpe2                # + mpe2 through RLlib's default PPO

Prints the load average next to the tables: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import defaultdict
from contextlib import contextmanager

os.environ.setdefault("OMP_NUM_THREADS", "1")

ENVS = ("speaker_listener_v0", "referential_v0")
PATHS = ("native", "batched", "pettingzoo")


class _Clock:
    """Seconds spent in wrapped callables, per name (instance attributes only)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, obj, attr: str, name: str) -> None:
        inner = getattr(obj, attr)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - t0

        setattr(obj, attr, timed)

    @contextmanager
    def measure(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] += time.perf_counter() - t0


def _spec(env: str, args):
    """The one spec both trainers get (same batch, minibatches, epochs, networks)."""
    from agents.spec import PPOConfig, TrainSpec

    ppo = PPOConfig(
        num_envs=args.envs, num_steps=args.fragment, num_minibatches=4, update_epochs=4
    )
    return TrainSpec(env=env, ppo=ppo, seed=0)


def _rllib(env: str, runner: str, args, clock: _Clock):
    from agents.rllib import build_config
    from agents.spec import RLlibOptions

    options = RLlibOptions(
        num_env_runners=0, num_envs_per_env_runner=args.envs, env_runner=runner
    )
    algo = build_config(_spec(env, args), options).build_algo()
    er = algo.env_runner
    clock.wrap(er, "sample", "sample")
    clock.wrap(er.env, "step", "env_step")
    for module in er.module._rl_modules.values():
        for attr in ("_forward_exploration", "_forward_inference"):
            clock.wrap(module, attr, "acting")
    learner = algo.learner_group._learner
    clock.wrap(learner, "update", "update")
    clock.wrap(learner, "_make_batch_if_necessary", "connector")
    return algo


def _native(env: str, args, clock: _Clock):
    from agents.native import NativeTrainer

    trainer = NativeTrainer(_spec(env, args))
    clock.wrap(trainer, "collect", "sample")
    clock.wrap(trainer.env, "step", "env_step")
    clock.wrap(trainer, "update", "update")
    return trainer


def _mpe2(args, clock: _Clock):
    """mpe2's ``simple_speaker_listener_v4`` through RLlib's ``ParallelPettingZooEnv``
    with RLlib's default PPO module and learner (a peer for the PettingZoo path)."""
    from mpe2 import simple_speaker_listener_v4
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    register_env(
        "mpe2_speaker_listener",
        lambda cfg: ParallelPettingZooEnv(simple_speaker_listener_v4.parallel_env()),
    )
    batch = args.envs * args.fragment
    algo = (
        PPOConfig()
        .environment("mpe2_speaker_listener")
        .env_runners(
            num_env_runners=0,
            num_envs_per_env_runner=args.envs,
            rollout_fragment_length=args.fragment,
        )
        .multi_agent(
            policies={"speaker_0", "listener_0"},
            policy_mapping_fn=lambda agent_id, *a, **k: agent_id,
        )
        .training(
            lr=3e-3,
            train_batch_size_per_learner=batch,
            minibatch_size=batch // 4,
            num_epochs=4,
            use_kl_loss=False,
        )
        .debugging(seed=0)
        .build_algo()
    )
    clock.wrap(algo.env_runner, "sample", "sample")
    return algo


def _train(trainer) -> int:
    """One training iteration; returns the env steps it sampled."""
    import math

    if hasattr(trainer, "train_iteration"):
        before = trainer.env_steps
        trainer.train_iteration()
        return trainer.env_steps - before
    result = trainer.train()
    steps = result["env_runners"].get("num_env_steps_sampled", 0.0)
    return int(steps) if math.isfinite(steps) else 0


def _sample_rate(runner, calls: int) -> float:
    runner.sample()  # warm-up
    steps, t0 = 0, time.perf_counter()
    for _ in range(calls):
        steps += sum(len(s) for s in runner.sample())
    return steps / (time.perf_counter() - t0)


def bench_env(env: str, args) -> dict:
    clocks = {p: _Clock() for p in PATHS}
    trainers = {
        "native": _native(env, args, clocks["native"]),
        "batched": _rllib(env, "batched", args, clocks["batched"]),
        "pettingzoo": _rllib(env, "pettingzoo", args, clocks["pettingzoo"]),
    }
    if args.mpe2 and env == "speaker_listener_v0":
        clocks["mpe2"] = _Clock()
        trainers["mpe2"] = _mpe2(args, clocks["mpe2"])
    try:
        rates = {}
        for path in ("batched", "pettingzoo"):  # one runner's sample(), no learning
            rates[path] = _sample_rate(trainers[path].env_runner, args.sample_calls)
        for path, trainer in trainers.items():  # warm-up: actors, first sync
            _train(trainer)
            clocks[path].spent.clear()
        steps = dict.fromkeys(trainers, 0)
        for _ in range(args.iterations):
            for path, trainer in trainers.items():
                with clocks[path].measure("total"):
                    steps[path] += _train(trainer)
        out = {"sample_rate": rates, "paths": {}}
        for path in trainers:
            spent = {k: v / args.iterations for k, v in clocks[path].spent.items()}
            out["paths"][path] = {
                "train_rate": steps[path] / clocks[path].spent["total"],
                **spent,
            }
        return out
    finally:
        for path, trainer in trainers.items():
            if path != "native":
                trainer.stop()


def _ms(parts: dict, key: str) -> str:
    return f"{1e3 * parts[key]:,.0f}" if key in parts else "-"


def report(results: dict, args, load: tuple) -> None:
    print()
    print(
        f"{args.envs} envs in one runner x fragment {args.fragment} = batch "
        f"{args.envs * args.fragment}; PPO 4 epochs x 4 minibatches; "
        f"{args.iterations} timed iterations, {args.sample_calls} timed sample() "
        f"calls; {os.cpu_count()} CPUs, load average {load[0]:.1f} before / "
        f"{load[1]:.1f} after; peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
    )
    print()
    print(
        "| env | one runner's sample(), batched (env-steps/s) | PettingZoo "
        "(env-steps/s) | batched / PettingZoo |"
    )
    print("|---|---:|---:|---:|")
    for env, res in results.items():
        b, p = res["sample_rate"]["batched"], res["sample_rate"]["pettingzoo"]
        print(f"| `{env}` | {b:,.0f} | {p:,.0f} | {b / p:.1f}x |")
    print()
    print(
        "| env | trainer | train (env-steps/s) | / native | iteration (ms) | "
        "env step | acting | runner bookkeeping | learner connector | learner SGD "
        "| rest of train() |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for env, res in results.items():
        native = res["paths"]["native"]["train_rate"]
        for path, parts in res["paths"].items():
            total = parts["total"]
            sample, update = parts.get("sample", 0.0), parts.get("update", 0.0)
            rest = f"{1e3 * (total - sample - update):,.0f}"
            if path == "native":  # acting and bookkeeping are both in collect()
                cells = [
                    _ms(parts, "env_step"),
                    "-",
                    f"{1e3 * (sample - parts['env_step']):,.0f} (incl. acting)",
                    "-",
                    _ms(parts, "update"),
                    rest,
                ]
            else:
                book = sample - parts.get("env_step", 0.0) - parts.get("acting", 0.0)
                sgd = update - parts.get("connector", 0.0)
                cells = [
                    _ms(parts, "env_step"),
                    _ms(parts, "acting"),
                    f"{1e3 * book:,.0f}" if "env_step" in parts else "-",
                    _ms(parts, "connector"),
                    f"{1e3 * sgd:,.0f}" if "update" in parts else "-",
                    rest,
                ]
            print(
                f"| `{env}` | {path} | {parts['train_rate']:,.0f} | "
                f"{parts['train_rate'] / native:.2f} | {1e3 * total:,.0f} | "
                + " | ".join(cells)
                + " |"
            )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.rllib")
    parser.add_argument("--envs", type=int, default=256, help="envs in the runner")
    parser.add_argument("--fragment", type=int, default=8, help="steps per sample()")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--sample-calls", type=int, default=5)
    parser.add_argument("--env", nargs="+", default=list(ENVS), choices=ENVS)
    parser.add_argument("--mpe2", action="store_true", help="add the mpe2 peer row")
    args = parser.parse_args(argv)

    import ray
    import torch

    from agents.rllib import init_ray

    torch.set_num_threads(1)
    init_ray(num_cpus=2)
    load_before = os.getloadavg()[0]
    results = {}
    try:
        for env in args.env:
            results[env] = bench_env(env, args)
            print(f"{env}: done", flush=True)
    finally:
        ray.shutdown()
    report(results, args, (load_before, os.getloadavg()[0]))
    return results


if __name__ == "__main__":
    main()
