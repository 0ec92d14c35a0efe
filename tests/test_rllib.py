"""The RLlib backend: runs through the CLI, RLlib's log-probabilities against our
networks', the learner's aux loss, checkpoint round trips and env-runner failures.

One small local Ray (2 CPUs, no dashboard) serves the whole module.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ray.rllib", reason="the rllib backend needs ray[rllib]")

import envs  # noqa: E402
from agents import rllib as ar  # noqa: E402
from agents.spec import NetworkConfig, PPOConfig, RLlibOptions, TrainSpec  # noqa: E402
from experiments._cli import flat_fields  # noqa: E402
from experiments.aim import main  # noqa: E402

TINY = ["--num-envs", "64", "--num-steps", "2", "--num-minibatches", "2"]
SUMMARY_KEYS = {
    "iterations",
    "env",
    "channel",
    "backend",
    "seed",
    "env_steps",
    "wall_s",
    "steps_per_s",
    "success",
    "mean_return",
    "eval_episodes",
    "codebook_perplexity",
    "live_codes",
    "message_meaning_mi_bits",
    "topsim",
}


@pytest.fixture(scope="module")
def ray_session():
    import ray

    os.environ["OMP_NUM_THREADS"] = "1"
    ar.init_ray(num_cpus=3)  # the two-learner test needs a CPU per learner + driver
    yield ray
    ray.shutdown()


def _scalar_tags(seed_dir: Path) -> set[str]:
    (events,) = seed_dir.glob("events.out.tfevents.*")
    return _scalar_tags_of(events)


def _scalar_tags_of(events: Path) -> set[str]:
    """Scalar tags of one event file (tensor summaries with the scalars plugin)."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator,
    )

    acc = EventAccumulator(str(events))
    acc.Reload()
    return set(acc.PluginTagToContent("scalars"))


def _probe_run_and_checkpoint(tmp_path: Path, run: Path) -> None:
    """experiments.probe reads an RLlib run directory (through its native copy)
    and its RLlib checkpoint (as RLModules): the same weights, the same rows, with
    the speaker's encoder and the listener's layers (issue: same report rows as a
    native run)."""
    import csv

    from experiments import probe

    out = tmp_path / "probe"
    latest = run / "seed_0" / "checkpoints" / "latest"
    fast = ["--samples", "400", "--num-envs", "32", "--burn-in", "5"]
    probe.main([str(run), str(latest), "--out", str(out), *fast, "--no-figures"])
    with open(out / "probe.csv") as f:
        rows = list(csv.DictReader(f))
    of_run = [r for r in rows if r["model"] == "run/seed_0"]
    of_ckpt = [r for r in rows if r["model"] == "run/seed_0/checkpoints/latest"]
    assert of_run and len(of_run) == len(of_ckpt)
    for a, b in zip(of_run, of_ckpt):
        assert (a["agent"], a["layer"], a["feature"]) == (
            b["agent"],
            b["layer"],
            b["feature"],
        )
        assert a["decodability"] == b["decodability"]
    assert {r["agent"] for r in of_run} == {"speaker", "listener"}
    assert any(r["layer"].startswith("encoder") for r in of_run)


@pytest.mark.parametrize(
    "env,success",
    [("referential_v0", True), ("speaker_listener_v0", False)],
)
def test_cli_two_iterations_writes_the_native_run_layout(
    ray_session, tmp_path, env, success
):
    argv = ["--backend", "rllib", "--env", env, "--steps", "256", *TINY]
    argv += ["--num-envs-per-env-runner", "4"]  # episodes end within 256 steps
    argv += ["--eval-episodes", "50", "--logdir", str(tmp_path), "--name", "run"]
    summary = main([*argv, "--no-progress"])
    run = tmp_path / "run"
    seed_dir = run / "seed_0"
    for name in ("config.json", "summary.json", "messages.npz"):
        assert (seed_dir / name).is_file(), name
    assert (run / "config.json").is_file() and (run / "summary.json").is_file()
    assert (seed_dir / "checkpoints" / "latest" / "aim_state.json").is_file()
    seed_summary = json.loads((seed_dir / "summary.json").read_text())
    assert seed_summary["backend"] == "rllib"
    assert seed_summary["env_steps"] >= 256
    assert seed_summary["eval_episodes"] == 50
    keys = SUMMARY_KEYS if env == "referential_v0" else SUMMARY_KEYS - {"topsim"}
    assert keys <= set(seed_summary)
    assert (seed_summary["success"] is not None) == success
    assert summary["seeds"] == [0]
    tags = _scalar_tags(seed_dir)
    core = envs.make_vec(env, 1)
    speaker, listener = core.possible_agents  # the one who talks comes first
    expected = [
        "train/return",
        "perf/steps_per_s",
        f"losses/{speaker}/policy_loss",
        f"losses/{listener}/value_loss",
        "eval/return",
    ]
    if core.message_agents:  # speaker_listener_v0's speaker is a plain actor (MPE)
        expected += [f"losses/{speaker}/aux_total", "train/symbol_perplexity"]
    for tag in expected:
        assert tag in tags, tag
    if success:
        assert "train/success" in tags
        _probe_run_and_checkpoint(tmp_path, run)
        # --resume from the last checkpoint: no more training, same totals. The
        # process "died" between the two renames of a checkpoint swap: only
        # `.latest.old<pid>` is complete, next to a half-written `.latest.tmp<pid>`.
        (seed_dir / "summary.json").unlink()
        ckpt = seed_dir / "checkpoints"
        os.replace(ckpt / "latest", ckpt / ".latest.old4242")
        (ckpt / ".latest.tmp4243").mkdir()
        (ckpt / ".latest.tmp4243" / "partial").write_text("{")
        events_before = set(seed_dir.glob("events.out.tfevents.*"))
        resumed = main(["--resume", str(run), "--no-progress"])
        assert resumed["runs"][0]["env_steps"] == seed_summary["env_steps"]
        assert resumed["runs"][0]["wall_s"] >= seed_summary["wall_s"]
        assert sorted(p.name for p in ckpt.iterdir()) == ["latest"]
        (new_events,) = set(seed_dir.glob("events.out.tfevents.*")) - events_before
        assert "perf/steps_per_s" not in _scalar_tags_of(new_events)  # no training
        messages = np.load(seed_dir / "messages.npz")
        assert messages["messages"].shape == (50, 2)


def test_cli_pettingzoo_env_runner(ray_session, tmp_path):
    """RLlib's own runner over PettingZoo envs stays selectable from the CLI."""
    argv = ["--backend", "rllib", "--env-runner", "pettingzoo", "--steps", "128"]
    argv += [*TINY, "--num-envs-per-env-runner", "4", "--eval-episodes", "20"]
    summary = main([*argv, "--logdir", str(tmp_path), "--name", "pz", "--no-progress"])
    saved = json.loads((tmp_path / "pz" / "config.json").read_text())
    assert saved["rllib"]["env_runner"] == "pettingzoo"
    assert summary["runs"][0]["env_steps"] >= 128
    assert summary["runs"][0]["eval_episodes"] == 20


@pytest.mark.parametrize(
    "env,config",
    [
        ("referential_v0", {}),
        ("referential_v0", {"message_length": 1}),  # Discrete speaker
        ("reach_v0", {"speaker": True}),  # Box mover
    ],
)
def test_rllib_logp_equals_our_log_prob(env, config):
    specs, _, _ = ar.module_specs(TrainSpec(env=env, env_config=config))
    obs, _ = envs.make(env, **config).reset(seed=3)
    torch.manual_seed(0)
    for agent, spec in specs.items():
        module = spec.build()
        module.eval()
        batch = {"obs": torch.as_tensor(np.stack([obs[agent]] * 64))}
        out = module.forward_exploration(batch)
        dist = module.get_exploration_action_dist_cls().from_logits(
            out["action_dist_inputs"]
        )
        actions = dist.sample()
        ours = module.net(batch["obs"], action=actions)
        torch.testing.assert_close(dist.logp(actions), ours.log_prob)
        torch.testing.assert_close(dist.entropy(), ours.entropy)
        torch.testing.assert_close(out["vf_preds"], ours.value)


TINY_PPO = PPOConfig(num_envs=64, num_steps=2, num_minibatches=2, update_epochs=2)


def _tiny_spec(env: str = "referential_v0", **ppo) -> TrainSpec:
    return TrainSpec(env=env, steps=256, ppo=PPOConfig(**{**vars(TINY_PPO), **ppo}))


def _tiny_config(seed: int = 0, options: RLlibOptions | None = None, **ppo):
    spec = _tiny_spec(**ppo).replace(seed=seed)
    return spec, ar.build_config(spec, options)


def test_learner_adds_the_channel_aux_loss(ray_session):
    spec, config = _tiny_config(aux_coef=0.5)
    algo = config.build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    speaker = result["learners"]["speaker"]
    assert speaker["aux_total"] > 0.0
    ppo = speaker["policy_loss"] + 0.5 * speaker["value_loss"]
    ppo -= spec.ppo.ent_coef * speaker["entropy"]
    expected = ppo + 0.5 * speaker["aux_total"]
    assert speaker["total"] == pytest.approx(expected, abs=1e-5)
    listener = result["learners"]["listener"]
    assert "aux_total" not in listener
    # The symbols the speaker sent were counted per sample() call.
    counts = ar._sum_tables(result["env_runners"]["aim_symbols"]["speaker"], (2, 16))
    assert counts.shape == (2, 16) and counts.sum() > 0


def test_every_spec_field_is_mapped_or_refused():
    """Nothing the user sets is silently ignored by the rllib backend."""
    names = set(flat_fields(TrainSpec))
    assert names == set(ar.SPEC_MAP) | set(ar.REFUSED)
    assert not set(ar.SPEC_MAP) & set(ar.REFUSED)
    spec = _tiny_spec()
    for name, message in [
        ("centralized_value", "centralized_value"),
        ("accumulate_grads", "accumulate_grads"),
    ]:
        bad = (
            spec.replace(network=NetworkConfig(centralized_value=True))
            if name == "centralized_value"
            else spec.replace(ppo=PPOConfig(**{**vars(TINY_PPO), name: True}))
        )
        with pytest.raises(ValueError, match=message):
            ar.check_spec(bad)
    # The mapped PPO knobs reach RLlib's config.
    knobs = dict(
        gamma=0.9,
        gae_lambda=0.8,
        clip_coef=0.3,
        vf_coef=0.7,
        max_grad_norm=0.9,
        update_epochs=3,
        lr=1e-3,
        ent_coef=0.02,
    )
    config = ar.build_config(_tiny_spec(**knobs))
    assert (config.gamma, config.lambda_, config.clip_param) == (0.9, 0.8, 0.3)
    assert (config.vf_loss_coeff, config.grad_clip, config.num_epochs) == (
        0.7,
        0.9,
        3,
    )
    assert (config.lr, config.entropy_coeff) == (1e-3, 0.02)
    assert config.train_batch_size_per_learner == 128
    assert config.minibatch_size == 64
    assert config.rollout_fragment_length == 2
    assert config.learner_config_dict["aim_spec"].ppo.adam_eps == 1e-5


def test_every_rllib_option_reaches_the_config():
    """The sampling and learner resources of RLlibOptions reach RLlib's config,
    and the envs per runner default to the batch split over the runners."""
    spec = _tiny_spec()  # num_envs 64
    config = ar.build_config(spec)
    assert (config.num_env_runners, config.num_envs_per_env_runner) == (0, 64)
    assert config.num_gpus_per_env_runner == 0
    options = RLlibOptions(
        num_env_runners=3,
        num_learners=2,
        num_gpus_per_learner=0.5,
        num_gpus_per_env_runner=0.25,
    )
    config = ar.build_config(spec, options)
    assert (config.num_env_runners, config.num_envs_per_env_runner) == (3, 22)
    assert (config.num_learners, config.num_gpus_per_learner) == (2, 0.5)
    assert config.num_gpus_per_env_runner == 0.25
    config = ar.build_config(spec, RLlibOptions(num_envs_per_env_runner=8))
    assert config.num_envs_per_env_runner == 8
    with pytest.raises(ValueError, match="num_gpus_per_env_runner must be >= 0"):
        RLlibOptions(num_gpus_per_env_runner=-1)
    with pytest.raises(ValueError, match="num_envs_per_env_runner must be >= 1"):
        RLlibOptions(num_envs_per_env_runner=0)


def test_schedules_match_the_native_trainer(ray_session):
    """lr_decay / anneal / ent_decay: every RLlib update uses the native value."""
    from agents.native import NativeTrainer

    spec = _tiny_spec(lr_decay=0.5, ent_decay=0.5, anneal_lr=True).replace(
        steps=128 * 4
    )
    trainer = ar.RLlibTrainer(spec)
    native = NativeTrainer(spec)
    try:
        for _ in range(3):
            ours, ref = trainer.train_iteration(), native.train_iteration()
            assert ours.learning_rate == pytest.approx(ref.learning_rate, rel=1e-6)
            assert ours.entropy_coef == pytest.approx(ref.entropy_coef, rel=1e-6)
    finally:
        trainer.close()


def test_checkpoint_restore_gives_the_same_module_outputs(ray_session, tmp_path):
    from ray.rllib.algorithms.algorithm import Algorithm

    _, config = _tiny_config()
    algo = config.build_algo()
    try:
        algo.train()
        path = ar.save_checkpoint(algo, tmp_path / "ckpt", {"env_steps": 1})
        before = ar.module_states(algo)
    finally:
        algo.stop()
    assert path.name == "latest" and not list(path.parent.glob(".latest*"))
    restored = Algorithm.from_checkpoint(str(path.resolve()))
    try:
        after = ar.module_states(restored)
        obs, _ = envs.make("referential_v0").reset(seed=5)
        for module_id in ("speaker", "listener"):
            for key, value in before[module_id].items():
                np.testing.assert_array_equal(
                    np.asarray(value), np.asarray(after[module_id][key])
                )
            module = restored.get_module(module_id)
            batch = {"obs": torch.as_tensor(obs[module_id])[None]}
            fresh = config.rl_module_spec.rl_module_specs[module_id].build()
            fresh.set_state(before[module_id])
            torch.testing.assert_close(
                module.forward_inference(batch)["action_dist_inputs"],
                fresh.forward_inference(batch)["action_dist_inputs"],
            )
    finally:
        restored.stop()


def test_run_survives_a_killed_env_runner(ray_session):
    """SIGKILL the only env runner's process mid-run: RLlib restarts it
    (``restart_failed_env_runners``) and sampling resumes."""
    import signal

    _, config = _tiny_config()
    config.env_runners(num_env_runners=1, num_envs_per_env_runner=4)
    config.fault_tolerance(
        restart_failed_env_runners=True, delay_between_env_runner_restarts_s=0.0
    )
    algo = config.build_algo()
    try:
        algo.train()
        (pid,) = algo.env_runner_group.foreach_env_runner(
            lambda runner: os.getpid(), local_env_runner=False
        )
        os.kill(pid, signal.SIGKILL)
        sampled_after, deadline = 0.0, time.monotonic() + 120.0
        while time.monotonic() < deadline:  # the restart takes seconds on busy CPUs
            result = algo.train()
            sampled = result["env_runners"].get("num_env_steps_sampled", 0.0)
            sampled_after += sampled if np.isfinite(sampled) else 0.0
            if sampled_after > 0:
                break
        assert sampled_after > 0
        assert algo.env_runner_group.num_healthy_remote_workers() == 1
        (new_pid,) = algo.env_runner_group.foreach_env_runner(
            lambda runner: os.getpid(), local_env_runner=False
        )
        assert new_pid != pid
    finally:
        algo.stop()


@pytest.mark.slow
def test_rllib_solves_referential(ray_session, tmp_path):
    # ~0.94 sampled success after 50k steps; ~40 s on 2 busy cores (batched
    # env runner; about 7 minutes through the PettingZoo runner).
    argv = ["--backend", "rllib", "--steps", "150000", "--num-envs", "512"]
    argv += ["--num-steps", "8", "--num-envs-per-env-runner", "32"]
    argv += ["--eval-episodes", "1000", "--no-progress"]
    summary = main([*argv, "--logdir", str(tmp_path), "--name", "solve"])
    assert summary["success_mean"] >= 0.9


def test_learner_runs_modules_in_one_order(ray_session, monkeypatch):
    """Whatever order a train batch lists its modules in, the learner's forward and
    backward passes meet them in one (sorted) order, the same on every learner."""
    from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

    _, config = _tiny_config()
    algo = config.build_algo()
    seen = []
    monkeypatch.setattr(
        PPOTorchLearner, "_update", lambda self, batch, **kw: seen.append(list(batch))
    )
    try:
        learner = algo.learner_group._learner
        learner._update({"speaker": None, "listener": None})
        learner._update({"listener": None, "speaker": None})
    finally:
        algo.stop()
    assert seen == [["listener", "speaker"]] * 2


def test_shared_vocabulary_is_one_codebook(ray_session):
    """contextual_pd_v0 has two speakers; with a shared vocabulary they use one
    quantizer object, stepped once per update, identical in both modules' state."""
    spec = _tiny_spec("contextual_pd_v0")
    config = ar.build_config(spec, RLlibOptions(shared_vocabulary=True))
    algo = config.build_algo()
    try:
        module = algo.get_module("sender")
        other = algo.get_module("responder")
        assert module.net.channel.quantizer is other.net.channel.quantizer
        before = {
            k: np.asarray(v).copy()
            for k, v in ar.module_states(algo)["sender"].items()
            if "quantizer" in k
        }
        algo.train()
        states = ar.module_states(algo)
    finally:
        algo.stop()
    changed = False
    for key, value in before.items():
        np.testing.assert_array_equal(
            np.asarray(states["sender"][key]), np.asarray(states["responder"][key])
        )
        changed |= not np.array_equal(value, np.asarray(states["sender"][key]))
    assert changed


@pytest.mark.slow
@pytest.mark.parametrize("env_runner", ["batched", "pettingzoo"])
def test_two_learners_keep_one_codebook(ray_session, env_runner):
    """DDP all-reduces gradients, not buffers: the learner averages the VQ EMA
    buffers after each update, so both learners hold the same codebook. Several
    iterations: the PettingZoo path's shards list modules in varying orders (the
    learners must still run them in one order, else their collectives mismatch)."""
    options = RLlibOptions(num_learners=2, env_runner=env_runner)
    _, config = _tiny_config(options=options)
    algo = config.build_algo()
    try:
        for _ in range(4):
            algo.train()
        buffers = algo.learner_group.foreach_learner(
            lambda learner: {
                k: v.detach().cpu().numpy().copy()
                for k, v in learner.module["speaker"].unwrapped().net.named_buffers()
                if v.is_floating_point()
            }
        )
    finally:
        algo.stop()
    first, second = [b.get() if hasattr(b, "get") else b for b in buffers]
    assert any("embed" in k for k in first)
    for key, value in first.items():
        np.testing.assert_array_equal(value, second[key])


def test_both_backends_report_the_same_summary(ray_session, tmp_path):
    """The same short training on both backends: the same summary keys, and the
    symbol usage is the same window (the last iteration's active speaker steps)."""
    argv = ["--steps", "256", *TINY, "--eval-episodes", "64", "--no-progress"]
    argv += ["--num-envs-per-env-runner", "64", "--logdir", str(tmp_path)]
    native = main([*argv, "--name", "native"])["runs"][0]
    rllib = main([*argv, "--name", "rllib", "--backend", "rllib"])["runs"][0]
    assert set(native) == set(rllib)
    for key, value in native.items():
        assert type(value) is type(rllib[key]) or None in (value, rllib[key]), key
    assert native["iterations"] == rllib["iterations"] == 2
    assert native["eval_episodes"] == rllib["eval_episodes"] == 64
    for summary in (native, rllib):
        assert 1.0 <= summary["codebook_perplexity"] <= 16.0
        assert 1 <= summary["live_codes"] <= 16
    # Same window and definition: one iteration's rollout of 128 env steps, in which
    # 64 two-step episodes end and the speaker talks on half of the steps.
    from agents.native import NativeTrainer

    spec = _tiny_spec()
    ref = NativeTrainer(spec).train_iteration()
    trainer = ar.RLlibTrainer(spec, RLlibOptions(num_envs_per_env_runner=64))
    try:
        ours = trainer.train_iteration()
    finally:
        trainer.close()
    assert ours.env_steps == ref.env_steps == 128
    assert ours.episodes == ref.episodes == 64
    # 64 messages of 2 symbols.
    tokens = [r.usage["speaker"].counts.sum() for r in (ours, ref)]
    assert tokens == [128, 128]
    assert set(ours.losses) == set(ref.losses)
