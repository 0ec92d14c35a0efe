"""``python -m experiments.aim``: flags, run directory, TensorBoard views, resume."""

from __future__ import annotations

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

from experiments import aim

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
    "--no-progress",
]
SUMMARY_KEYS = {
    "env",
    "channel",
    "seed",
    "env_steps",
    "wall_s",
    "steps_per_s",
    "success",
    "mean_return",
    "codebook_perplexity",
    "live_codes",
    "message_meaning_mi_bits",
}


def run(tmp_path: Path, *extra: str) -> dict:
    return aim.main([*TINY, "--logdir", str(tmp_path), "--name", "run", *extra])


def test_tiny_run_writes_the_run_directory(tmp_path):
    summary = run(tmp_path, "--steps", "256", "--views-every", "2", "--seeds", "0", "1")
    root = tmp_path / "run"
    assert json.loads((root / "config.json").read_text())["seeds"] == [0, 1]
    assert summary["seeds"] == [0, 1]
    for seed in (0, 1):
        seed_dir = root / f"seed_{seed}"
        per_seed = json.loads((seed_dir / "summary.json").read_text())
        assert set(per_seed) >= SUMMARY_KEYS
        assert per_seed["env_steps"] == 256 and per_seed["seed"] == seed
        assert per_seed["mi_correction"] == "shuffle"
        with np.load(seed_dir / "messages.npz") as npz:
            assert npz["messages"].shape == (64, 2)
            assert npz["meanings"].shape == (64, 4)
        state = torch.load(seed_dir / "checkpoints" / "latest.pt", weights_only=False)
        assert state["trainer"]["env_steps"] == 256
        assert list(seed_dir.glob("events.out.tfevents.*"))
    assert "success_mean" in summary and "mean_return_std" in summary
    # No temp files left behind by the atomic writers.
    assert not list(root.rglob(".*.json.*")) and not list(root.rglob(".*.pt.*"))


def test_tensorboard_shows_the_four_symbol_views(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    run(tmp_path, "--steps", "128", "--views-every", "1")
    seed_dir = tmp_path / "run" / "seed_0"
    acc = EventAccumulator(str(seed_dir), size_guidance={"histograms": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert any(t.startswith("charts/") for t in tags["scalars"])
    assert any(t.startswith("losses/") for t in tags["scalars"])
    assert any(t.startswith("symbols/") for t in tags["scalars"])
    assert any("usage" in t for t in tags["histograms"])
    images = " ".join(tags["images"])
    assert "rank_frequency" in images and "symbol_meaning" in images
    projector = list(seed_dir.rglob("projector_config.pbtxt"))
    assert projector, "codebook projector config missing"
    metadata = list(seed_dir.rglob("metadata.tsv"))
    assert metadata and "usage" in metadata[0].read_text().splitlines()[0].lower()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--channel", "morse"], "invalid choice: 'morse'"),
        (["--env", "nope_v0"], "env must be one of"),
        (["--env-config", '{"n_atributes": 3}'], "unknown config key 'n_atributes'"),
        (["--env-config", "not json"], "expected a JSON object"),
        (["--steps", "0"], "steps must be >= 1"),
        (["--backend", "tensorflow"], "invalid choice"),
    ],
)
def test_bad_flags_exit_2_without_a_run_directory(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        aim.main([*argv, "--logdir", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_config_file_with_overrides_and_unknown_keys(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("channel: categorical\nsteps: 64\nseeds: [3]\n")
    summary = aim.main(
        [
            *TINY,
            "--config",
            str(config),
            "--logdir",
            str(tmp_path / "runs"),
            "--name",
            "r",
        ]
    )
    assert summary["runs"][0]["channel"] == "categorical"
    assert summary["seeds"] == [3]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"chanel": "vq"}))
    with pytest.raises(SystemExit) as exc:
        aim.main(["--config", str(bad), "--logdir", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "unknown key 'chanel'" in capsys.readouterr().err
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"channel": "morse"}))
    with pytest.raises(SystemExit):
        aim.main(["--config", str(wrong), "--logdir", str(tmp_path / "y")])
    assert "channel must be one of" in capsys.readouterr().err


def test_nan_loss_stops_with_message_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    from agents.native import NativeTrainer

    original = NativeTrainer.update

    def flaky(self, rollouts, last_values):
        if self.iteration >= 2:
            raise FloatingPointError("non-finite loss at iteration 3: ['total']")
        return original(self, rollouts, last_values)

    monkeypatch.setattr(NativeTrainer, "update", flaky)
    with pytest.raises(SystemExit, match="last good checkpoint"):
        run(tmp_path, "--steps", "100000", "--checkpoint-every", "1")
    ckpt = tmp_path / "run" / "seed_0" / "checkpoints" / "latest.pt"
    state = torch.load(ckpt, weights_only=False)
    assert state["trainer"]["iteration"] == 2


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
    killed_at = torch.load(ckpt, weights_only=False)["trainer"]["env_steps"]
    assert 0 < killed_at < steps, "the run finished before it could be killed"
    summary = aim.main(["--resume", str(tmp_path / "run"), "--no-progress"])
    assert summary["runs"][0]["env_steps"] == steps
    # The resumed run equals an uninterrupted one, bit for bit (CPU).
    whole = aim.main([*argv[:-2], "--name", "whole", "--checkpoint-every", "1000"])
    resumed = torch.load(ckpt, weights_only=False)["trainer"]["modules"]
    ref_ckpt = tmp_path / "whole" / "seed_0" / "checkpoints" / "latest.pt"
    reference = torch.load(ref_ckpt, weights_only=False)["trainer"]["modules"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    assert whole["runs"][0]["success"] == summary["runs"][0]["success"]


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        aim.main(["--resume", str(tmp_path)])
    assert exc.value.code == 2
    assert "not a run directory" in capsys.readouterr().err


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        aim.main(["--help"])
    out = capsys.readouterr().out
    import dataclasses

    for f in dataclasses.fields(aim.Args):
        flag = "--" + f.name.replace("_", "-")
        assert flag in out
    assert "Parallel envs" in out  # field docstrings become the help text
