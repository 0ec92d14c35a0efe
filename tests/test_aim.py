"""``python -m experiments.aim``: flags, run directory, TensorBoard views, resume,
and the guarantees the README states (validation before writing, no accidental
continuation, safe checkpoint loading, one-line divergence)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.results import TrainingDiverged
from experiments import aim
from experiments._cli import flat_fields

TINY = [
    "--num-envs",
    "32",
    "--num-steps",
    "2",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--hidden",
    "16",
    "--eval-episodes",
    "64",
    "--eval-batch",
    "64",
    "--no-progress",
]
SUMMARY_KEYS = {
    "env",
    "channel",
    "backend",
    "seed",
    "env_steps",
    "iterations",
    "wall_s",
    "steps_per_s",
    "success",
    "mean_return",
    "eval_episodes",
    "codebook_perplexity",
    "live_codes",
    "message_meaning_mi_bits",
}


def run(tmp_path: Path, *extra: str) -> dict:
    return aim.main([*TINY, "--logdir", str(tmp_path), "--name", "run", *extra])


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_tiny_run_writes_the_run_directory(tmp_path):
    summary = run(tmp_path, "--steps", "256", "--seeds", "0", "1")
    root = tmp_path / "run"
    config = json.loads((root / "config.json").read_text())
    assert config["seeds"] == [0, 1] and config["train"]["ppo"]["num_envs"] == 32
    assert summary["seeds"] == [0, 1]
    for seed in (0, 1):
        seed_dir = root / f"seed_{seed}"
        per_seed = json.loads((seed_dir / "summary.json").read_text())
        assert set(per_seed) >= SUMMARY_KEYS
        assert per_seed["env_steps"] == 256 and per_seed["seed"] == seed
        assert per_seed["mi_estimator"] == "jackknife"
        for key in ("mi_plugin_bits", "mi_null_mean_bits", "mi_p_value"):
            assert key in per_seed
        assert len(per_seed["attribute_mi_bits"]) == 4
        assert json.loads((seed_dir / "config.json").read_text())["seed"] == seed
        with np.load(seed_dir / "messages.npz") as npz:
            assert npz["messages"].shape == (64, 2)
            assert npz["meanings"].shape == (64, 4)
        state = load(seed_dir / "checkpoints" / "latest.pt")
        assert state["trainer"]["env_steps"] == 256
        curves = json.loads((seed_dir / "curves.json").read_text())
        assert curves["step"] == [64, 128, 192, 256]
        assert curves["eval_step"] == [64, 128, 192, 256]  # 20 points, 4 iterations
        assert list(seed_dir.glob("events.out.tfevents.*"))
    assert "success_mean" in summary and "mean_return_std" in summary
    assert summary["degenerate_seeds"] in (0, 1, 2)
    # No temp files left behind by the atomic writers.
    assert not list(root.rglob(".*.json.*")) and not list(root.rglob(".*.pt.*"))


def test_aggregate_counts_degenerate_seeds_instead_of_hiding_them():
    # Three seeds: one collapsed to one distinct message, one flagged degenerate
    # by its report, one healthy; the means still average all three.
    seeds = [
        {"seed": 0, "distinct_messages": 1, "topsim": 0.0, "degenerate": True},
        {"seed": 1, "distinct_messages": 40, "topsim": 0.6, "degenerate": False},
        {"seed": 2, "distinct_messages": 1, "topsim": 0.0, "degenerate": False},
    ]
    summary = aim.aggregate(seeds)
    assert summary["degenerate_seeds"] == 2
    assert summary["topsim_mean"] == pytest.approx(0.2)
    assert summary["seeds"] == [0, 1, 2]
    healthy = aim.aggregate(seeds[1:2])
    assert healthy["degenerate_seeds"] == 0


def test_steps_round_up_to_whole_iterations(tmp_path):
    summary = run(tmp_path, "--steps", "100")
    assert summary["runs"][0]["env_steps"] == 128  # 2 iterations of 64


def test_tensorboard_shows_the_symbol_views_over_the_run(tmp_path, read_events):
    from analysis.tensorboard import describe

    # 10 iterations; an lr schedule, no entropy schedule
    run(tmp_path, "--steps", "640", "--views", "4", "--lr-decay", "0.99")
    seed_dir = tmp_path / "run" / "seed_0"
    events = read_events(seed_dir)
    for tag, (_plugin, description, steps) in events.items():
        if tag.startswith("_hparams_/") or tag == "custom_scalars__config__":
            continue
        assert description == describe(tag).description, tag  # every tag described
        assert len(steps) == len(set(steps)), f"{tag} has a step twice"
    scalars = {t for t, (plugin, _, _) in events.items() if plugin == "scalars"}
    for prefix in ("train/", "losses/", "symbols/", "eval/", "perf/"):
        assert any(t.startswith(prefix) for t in scalars), prefix
    assert "train/learning_rate" in scalars  # --lr-decay changes it
    assert "train/entropy_coef" not in scalars  # a constant: in the config only
    # vq with EMA updates has no codebook loss and no signalling loss
    assert "losses/speaker/aux_commitment" in scalars
    assert "losses/speaker/aux_codebook" not in scalars
    assert "losses/speaker/aux_signalling" not in scalars
    assert not any(t.startswith("losses/listener/aux_") for t in scalars)
    # 3 spread views + the final one; 9 periodic evaluations + the final one
    views = [640 * k // 10 for k in (2, 5, 8, 10)]
    for tag in (
        "symbols/usage",
        "symbols/message_meaning_mi_bits",
        "symbols/rank_frequency_messages",
        "symbols/attribute_given_symbol/position_1",
        "symbols/messages",
    ):
        assert events[tag][2] == views, tag
    assert events["eval/success"][2] == [64 * k for k in range(1, 11)]
    assert events["config"][2] == [0]
    curves = json.loads((seed_dir / "curves.json").read_text())
    summary = json.loads((seed_dir / "summary.json").read_text())
    assert curves["eval_step"][-1] == 640 and curves["mi_step"] == views
    assert curves["eval_success"][-1] == summary["success"]  # the curve ends there
    projector = (seed_dir / "projector_config.pbtxt").read_text()
    assert projector.count("tensor_name") == 4
    metadata = sorted(seed_dir.rglob("metadata.tsv"))
    header = metadata[-1].read_text().splitlines()[0].split("\t")
    assert header[:3] == ["label", "symbol", "uses"] and "P(attr3)" in header


def test_training_scalars_follow_the_channel_and_the_schedules():
    from agents.results import IterationStats, symbol_usage
    from agents.spec import PPOConfig, TrainSpec

    stats = IterationStats(
        iteration=1,
        env_steps=64,
        episodes=3,
        success=None,
        mean_return=0.5,
        losses={
            "speaker/aux_codebook": 0.0,
            "speaker/aux_commitment": 0.2,
            "speaker/policy_loss": 0.0,
            "total": float("nan"),
        },
        usage={"speaker": symbol_usage([[2, 2, 0]])},
        learning_rate=1e-3,
        entropy_coef=0.01,
        iteration_s=0.5,
    )
    spec = TrainSpec()
    out = aim._scalars(stats, 100.0, spec=spec)
    assert set(out) == {
        "losses/speaker/aux_commitment",
        "losses/speaker/policy_loss",  # 0.0 is a value: only aux parts are skipped
        "train/return",
        "train/symbol_perplexity",
        "train/live_symbols",
        "perf/iteration_s",
        "perf/steps_per_s",
    }
    assert out["train/symbol_perplexity"] == 2.0 and out["train/live_symbols"] == 2
    # a part once charted stays charted when it is 0
    live = frozenset({"speaker/aux_codebook"})
    assert "losses/speaker/aux_codebook" in aim._scalars(
        stats, 1.0, spec=spec, live_losses=live
    )
    scheduled = TrainSpec(ppo=PPOConfig(anneal_lr=True, ent_decay=0.999))
    out = aim._scalars(stats, 1.0, spec=scheduled)
    assert out["train/learning_rate"] == 1e-3 and out["train/entropy_coef"] == 0.01


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--channel", "morse"], "invalid choice: 'morse'"),
        (["--env", "nope_v0"], "--env must be one of"),
        (["--env-config", '{"n_atributes": 3}'], "unknown config key 'n_atributes'"),
        (["--env-config", "not json"], "expected a JSON object"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--backend", "tensorflow"], "invalid choice"),
        (["--num-envs", "0"], "--num-envs must be >= 1"),
        (["--num-envs", "-1"], "--num-envs must be >= 1"),
        (["--num-steps", "0"], "--num-steps must be >= 1"),
        (["--lr", "0"], "--lr must be > 0"),
        (["--lr", "nan"], "--lr must be finite"),
        (["--hidden", "0"], "--hidden must be >= 1"),
        (["--hidden", "-3"], "--hidden must be >= 1"),
        (["--update-epochs", "0"], "--update-epochs must be >= 1"),
        (["--lr-decay", "0"], "--lr-decay must be in (0, 1]"),
        (["--num-envs", "10", "--num-minibatches", "3"], "must divide the batch"),
        (["--channel-options", '{"temp": 1}'], "unknown option(s) ['temp']"),
        (["--channel-options", '{"temperature": -1}'], "temperature"),
        (["--device", "bogus"], "--device must be"),
        (["--seeds", "1", "1"], "--seeds must be distinct"),
        (["--num-envs", "x"], "expected int"),
    ],
)
def test_bad_flags_exit_2_without_a_run_directory(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        aim.main([*argv, "--logdir", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_config_file_with_overrides_and_unknown_keys(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("channel: categorical\nsteps: 64\nseeds: [3]\n")
    summary = aim.main(
        [*TINY, "--config", str(config), "--logdir", str(tmp_path / "runs")]
        + ["--name", "r"]
    )
    assert summary["runs"][0]["channel"] == "categorical"
    assert summary["seeds"] == [3]
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"train": {"ppo": {"lr": 0.001}, "steps": 64}}))
    args = aim._resolve(["--config", str(nested), "--logdir", str(tmp_path / "n")]).args
    assert args.train.ppo.lr == 0.001 and args.train.steps == 64
    for bad, message in [
        ({"chanel": "vq"}, "unknown key 'chanel'"),
        ({"channel": "morse"}, "channel must be one of"),
        ({"num_envs": 1024.0}, "--num-envs must be an int, got 1024.0"),
        ({"train": {"ppo": 3}}, "'ppo' must be a mapping"),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(SystemExit) as exc:
            aim.main(["--config", str(path), "--logdir", str(tmp_path / "x")])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_a_fresh_run_never_continues_an_old_one(tmp_path, capsys):
    run(tmp_path, "--steps", "128")
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, "--steps", "128", "--lr", "0.01")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--resume" in err and "--overwrite" in err
    summary = run(tmp_path, "--steps", "64", "--overwrite")
    assert summary["runs"][0]["env_steps"] == 64
    assert not (tmp_path / "run" / "seed_0" / "checkpoints" / ".old").exists()


def test_resume_extends_steps_and_refuses_other_changes(tmp_path, capsys):
    run(tmp_path, "--steps", "128")
    root = str(tmp_path / "run")
    with pytest.raises(SystemExit) as exc:
        aim.main(["--resume", root, "--lr", "0.5", "--num-envs", "64", "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "num_envs" in err and "lr" in err
    # --steps extends the run, finished seeds included (their summary is rewritten).
    summary = aim.main(["--resume", root, "--steps", "256", "--no-progress"])
    assert summary["runs"][0]["env_steps"] == 256
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["train"]["steps"] == 256
    # ... but never shrunk below what was trained.
    with pytest.raises(SystemExit) as exc:
        aim.main(["--resume", root, "--steps", "64", "--no-progress"])
    assert exc.value.code == 2
    assert "below the 256 env steps already trained" in capsys.readouterr().err
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["train"]["steps"] == 256


def test_checkpoints_load_tensors_only_and_bad_ones_get_one_line(tmp_path, capsys):
    run(tmp_path, "--steps", "128")
    seed_dir = tmp_path / "run" / "seed_0"
    ckpt = seed_dir / "checkpoints" / "latest.pt"
    (seed_dir / "summary.json").unlink()

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"trainer": Boom()}, ckpt)
    with pytest.raises(SystemExit) as exc:
        aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
    assert exc.value.code == 2
    assert "cannot be loaded as tensors and plain data" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()
    for content in (b"", b"PK\x03\x04truncated"):
        ckpt.write_bytes(content)
        with pytest.raises(SystemExit) as exc:
            aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
        assert exc.value.code == 2
        assert str(ckpt) in capsys.readouterr().err
    # A truncated config.json is one line too.
    (tmp_path / "run" / "config.json").write_text('{"train": ')
    with pytest.raises(SystemExit) as exc:
        aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
    assert exc.value.code == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_checkpoint_of_another_run_is_refused(tmp_path, capsys):
    run(tmp_path, "--steps", "128")
    aim.main([*TINY, "--logdir", str(tmp_path), "--name", "other", "--steps", "64"])
    aim.main(
        [*TINY, "--logdir", str(tmp_path), "--name", "pd", "--steps", "64"]
        + ["--env", "contextual_pd_v0"]
    )
    target = tmp_path / "run" / "seed_0"
    (target / "summary.json").unlink()
    pd = tmp_path / "pd" / "seed_0" / "checkpoints" / "latest.pt"
    (target / "checkpoints" / "latest.pt").write_bytes(pd.read_bytes())
    with pytest.raises(SystemExit) as exc:
        aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
    assert exc.value.code == 2
    assert "trained with other options: env" in capsys.readouterr().err


def test_orphaned_temp_files_are_cleaned_on_the_next_start(tmp_path):
    run(tmp_path, "--steps", "128")
    ckpts = tmp_path / "run" / "seed_0" / "checkpoints"
    orphan = ckpts / ".latest.pt.abc123"
    orphan.write_bytes(b"half a checkpoint")
    (tmp_path / "run" / ".summary.json.xyz").write_text("{")
    (tmp_path / "run" / "seed_0" / "summary.json").unlink()
    aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
    assert not orphan.exists()
    assert not (tmp_path / "run" / ".summary.json.xyz").exists()


def test_divergence_stops_with_one_line_naming_a_real_checkpoint(
    tmp_path, monkeypatch, capsys
):
    from agents.native import NativeTrainer

    original = NativeTrainer.update

    def flaky(self, rollouts, last_values):
        if self.iteration >= 2:
            raise TrainingDiverged(self.iteration + 1, ["total"])
        return original(self, rollouts, last_values)

    monkeypatch.setattr(NativeTrainer, "update", flaky)
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, "--steps", "100000", "--checkpoint-every", "1")
    assert exc.value.code == 1
    err = capsys.readouterr().err
    ckpt = tmp_path / "run" / "seed_0" / "checkpoints" / "latest.pt"
    assert f"the last good checkpoint is {ckpt}" in err
    assert load(ckpt)["trainer"]["iteration"] == 2
    # Before any checkpoint: the message says so instead of naming a missing file.
    with pytest.raises(SystemExit):
        aim.main([*TINY, "--logdir", str(tmp_path), "--name", "early"])
    assert "no checkpoint was written yet" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--lr", "1e6"], ["--ent-coef", "1e30"]])
def test_exploding_settings_end_with_one_line(tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as exc:
        run(tmp_path, "--steps", "20000", "--max-grad-norm", "1e9", *flags)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "stopping: non-finite values" in err and "Traceback" not in err


def test_resume_after_sigkill_ends_at_the_same_steps(tmp_path):
    steps = 32 * 2 * 400
    argv = [*TINY, "--logdir", str(tmp_path), "--name", "run", "--steps", str(steps)]
    argv += ["--checkpoint-every", "5"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.aim", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = tmp_path / "run" / "seed_0" / "checkpoints" / "latest.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), "the run never wrote a checkpoint"
    killed_at = load(ckpt)["trainer"]["env_steps"]
    assert 0 < killed_at < steps, "the run finished before it could be killed"
    summary = aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
    assert summary["runs"][0]["env_steps"] == steps
    # The resumed run equals an uninterrupted one, bit for bit (CPU).
    whole = aim.main([*argv[:-2], "--name", "whole", "--checkpoint-every", "1000"])
    resumed = load(ckpt)["trainer"]["modules"]
    whole_ckpt = tmp_path / "whole" / "seed_0" / "checkpoints" / "latest.pt"
    reference = load(whole_ckpt)["trainer"]["modules"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    assert whole["runs"][0]["success"] == summary["runs"][0]["success"]


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        aim.main(["--resume", str(tmp_path)])
    assert exc.value.code == 2
    assert "not a run directory" in capsys.readouterr().err


def test_progress_lines_when_output_is_not_a_terminal(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.getcwd())
    argv = [a for a in TINY if a != "--no-progress"]
    out = subprocess.run(
        [sys.executable, "-m", "experiments.aim", *argv, "--steps", "256"]
        + ["--logdir", str(tmp_path), "--name", "p"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "256/256 steps (100%)" in out.stderr
    assert "rounded up to whole iterations" in out.stderr


@pytest.mark.parametrize("total", [253_952, 12_000_000])
def test_live_bar_fits_an_80_column_terminal_and_the_last_line_is_whole(total):
    import io
    import re

    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    with aim._Progress(True, console=console) as progress:
        task = progress.start("seed 0", total, 0)
        progress.update(task, done=total // 2, total=total, sps=5048.3, success=0.9)
        progress.update(task, done=total, total=total, sps=5048.3, success=0.974)
        last = (
            f"seed 0: {total:,} env steps in 50 s (31 iterations of 8,192; --steps "
            "250,000 rounded up to whole iterations), held-out success 0.952"
        )
        progress.finish(task, last)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    lines = [line for line in re.split(r"[\r\n]", text) if line.strip()]
    bars = [line for line in lines if line.startswith("seed 0 ")]
    assert "…" not in bars[-1]  # nothing cut
    assert all(len(line) <= 80 for line in lines)
    shown = aim._count(total)
    assert f"{shown}/{shown} steps" in bars[-1] and "success 0.974" in bars[-1]
    assert "ETA 0 s" in bars[-1]
    assert "rounded up to whole iterations" in " ".join(lines)  # wrapped, not cut
    assert "held-out success 0.952" in " ".join(lines)


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        aim.main(["--help"])
    out = capsys.readouterr().out
    for name, leaf in flat_fields(aim.Args).items():
        if leaf.field.metadata.get("flag", True):
            assert leaf.flag in out, name
    assert "Parallel envs" in out  # field metadata becomes the help text
    assert "--seed " not in out  # the per-seed spec field is set from --seeds


def test_args_nest_the_train_spec():
    from agents.spec import TrainSpec

    args = aim.Args()
    assert isinstance(args.train, TrainSpec)
    assert args.spec(5).seed == 5 and args.spec(5).ppo == args.train.ppo
    assert dataclasses.replace(args, seeds=(1, 2)).seeds == (1, 2)


def test_headline_mi_of_a_frozen_policy_does_not_depend_on_the_eval_size():
    """The run summary's MI used to read 0.69 / 2.98 bits on 500 / 2,000 episodes of
    the same deterministic code (shuffle-subtracted); it must be stable."""
    from agents.native import NativeTrainer
    from agents.spec import TrainSpec
    from analysis.language import message_report

    trainer = NativeTrainer(TrainSpec(steps=98_304, seed=0))
    while trainer.iteration < trainer.spec.iterations:
        trainer.train_iteration()
    reports = []
    for episodes in (500, 2000):
        result = trainer.evaluate(episodes, seed=123)
        msgs, means = result.messages["speaker"], result.meanings["speaker"]
        reports.append(message_report(msgs, means, vocab_size=16))
    small, large = reports
    assert large.distinct_messages > 50  # an informative code, not a collapsed one
    assert abs(small.message_meaning_mi_bits - large.message_meaning_mi_bits) < 0.25
    # The greedy code is deterministic: the MI is the message entropy.
    assert large.message_meaning_mi_bits > 0.9 * large.message_entropy_bits


def test_a_resumed_run_has_each_step_once_in_tensorboard(
    tmp_path, monkeypatch, read_events
):
    """Scalars written after the last checkpoint of a killed session are purged, so
    the resumed run's charts have every step once."""
    from agents.native import NativeTrainer

    original = NativeTrainer.train_iteration

    def killed_after_three(self):
        if self.iteration >= 3:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(NativeTrainer, "train_iteration", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "--steps", "384", "--checkpoint-every", "2")
    monkeypatch.setattr(NativeTrainer, "train_iteration", original)
    seed_dir = tmp_path / "run" / "seed_0"
    assert load(seed_dir / "checkpoints" / "latest.pt")["trainer"]["iteration"] == 2
    aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
    _, _, steps = read_events(seed_dir)["train/success"]
    assert steps == [64, 128, 192, 256, 320, 384]
