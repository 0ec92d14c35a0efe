"""The RLlib backend on a real multi-node Ray cluster, simulated on this machine.

``ray.cluster_utils.Cluster`` starts nodes as separate sets of Ray processes with
their own logical CPUs, all on 127.0.0.1, in a private Ray temp dir (so no other
Ray user of the machine sees or joins them). Runs go through the CLI
(``experiments.aim.main`` or ``python -m experiments.aim``) with ``--address``:

* the node hosting the env runners is removed mid-run (a replacement joins): RLlib
  restarts the runners on the new node and the run finishes, its run directory
  complete and consistent;
* the driver is SIGKILLed mid-run and ``--resume`` continues from the checkpoint
  in ``--ray-storage`` (not from scratch).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.rllib", reason="the rllib backend needs ray[rllib]")

from agents.rllib import STATE_FILE, loopback_only  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BATCH = ["--num-envs", "32", "--num-steps", "8", "--num-minibatches", "2"]


@pytest.fixture
def cluster(monkeypatch):
    """A head node without CPUs (driver and learner only) in a private temp dir."""
    import ray
    from ray.cluster_utils import Cluster

    temp = Path(f"/tmp/aimrl-{uuid.uuid4().hex[:8]}")  # short: socket paths
    temp.mkdir()
    monkeypatch.setenv("RAY_TMPDIR", str(temp))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    loopback_only()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_state(path: Path, iteration: int, timeout: float, driver) -> dict:
    """The checkpoint state at ``path`` once it reaches ``iteration``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.poll() is not None:
            raise RuntimeError(f"the driver exited ({driver.returncode}) early")
        try:
            state = json.loads((path / STATE_FILE).read_text())
        except (OSError, ValueError):
            state = None
        if state is not None and state["iteration"] >= iteration:
            return state
        time.sleep(0.5)
    raise TimeoutError(f"no checkpoint at iteration {iteration} in {path}")


def _steps_logged(seed_dir: Path, events: Path | None = None) -> list[int]:
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator,
    )

    files = [events] if events else sorted(seed_dir.glob("events.out.tfevents.*"))
    steps = []
    for path in files:
        acc = EventAccumulator(str(path))
        acc.Reload()
        if "perf/steps_per_s" in acc.PluginTagToContent("scalars"):
            steps += [e.step for e in acc.Tensors("perf/steps_per_s")]
    return steps


def _check_run_dir(run: Path, steps: int, ckpt: Path) -> dict:
    """The files of a finished one-seed run, and that they agree."""
    seed_dir = run / "seed_0"
    for name in ("config.json", "summary.json"):
        assert (run / name).is_file(), name
    for name in ("config.json", "summary.json", "messages.npz"):
        assert (seed_dir / name).is_file(), name
    summary = json.loads((seed_dir / "summary.json").read_text())
    assert summary["env_steps"] >= steps
    state = json.loads((ckpt / "latest" / STATE_FILE).read_text())
    assert state["env_steps"] == summary["env_steps"]
    assert sorted(p.name for p in ckpt.iterdir()) == ["latest"]  # no debris
    total = json.loads((run / "summary.json").read_text())
    assert total["seeds"] == [0] and total["runs"][0] == summary
    return summary


def _driver(argv: list[str]) -> subprocess.Popen:
    """``python -m experiments.aim ARGV`` in its own process (a Ray driver)."""
    command = [sys.executable, "-m", "experiments.aim", *argv, "--no-progress"]
    return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ))


def _finish(driver: subprocess.Popen, timeout: float) -> int:
    try:
        return driver.wait(timeout=timeout)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def _free_cpus(cluster, node) -> float:
    free = cluster.global_state.available_resources_per_node()
    return float(free.get(node.node_id, {}).get("CPU", 0.0))


def test_env_runners_survive_the_loss_of_their_node(cluster, tmp_path):
    first = cluster.add_node(num_cpus=2)  # the only CPUs: both runners land here
    run, steps = tmp_path / "node", 256 * 14
    argv = ["--backend", "rllib", "--address", cluster.address, *BATCH]
    argv += ["--num-env-runners", "2", "--num-envs-per-env-runner", "16"]
    argv += ["--steps", str(steps), "--checkpoint-every", "1"]
    argv += ["--eval-episodes", "50", "--logdir", str(tmp_path), "--name", "node"]
    driver = _driver(argv)
    try:
        before = _wait_for_state(
            run / "seed_0" / "checkpoints" / "latest", 2, 300, driver
        )
        assert _free_cpus(cluster, first) == 0.0  # it holds both runners
        cluster.remove_node(first)
        second = cluster.add_node(num_cpus=2)
        deadline = time.monotonic() + 240
        while _free_cpus(cluster, second) == 2.0 and driver.poll() is None:
            assert time.monotonic() < deadline, "the runners never came back"
            time.sleep(0.5)
    finally:
        code = _finish(driver, timeout=600)
    assert code == 0
    summary = _check_run_dir(run, steps, run / "seed_0" / "checkpoints")
    logged = _steps_logged(run / "seed_0")
    assert logged == sorted(logged) and logged[-1] == summary["env_steps"]
    assert before["env_steps"] < summary["env_steps"]


def test_a_killed_driver_resumes_from_ray_storage(cluster, tmp_path):
    cluster.add_node(num_cpus=2)
    storage, run, steps = tmp_path / "storage", tmp_path / "kill", 256 * 10
    argv = ["--backend", "rllib", "--address", cluster.address, *BATCH]
    argv += ["--num-env-runners", "1"]
    argv += ["--num-envs-per-env-runner", "32", "--steps", str(steps)]
    argv += ["--checkpoint-every", "1", "--ray-storage", str(storage)]
    argv += ["--eval-episodes", "50", "--logdir", str(tmp_path), "--name", "kill"]
    ckpt = storage / "kill" / "seed_0" / "checkpoints"
    driver = _driver(argv)
    try:
        killed_at = _wait_for_state(ckpt / "latest", 3, 300, driver)
        driver.send_signal(signal.SIGKILL)
    finally:
        code = _finish(driver, timeout=60)
    assert code == -signal.SIGKILL
    assert not (run / "summary.json").exists()
    before = set((run / "seed_0").glob("events.out.tfevents.*"))
    assert _finish(_driver(["--resume", str(run)]), timeout=600) == 0
    latest_state = json.loads((ckpt / "latest" / STATE_FILE).read_text())
    summary = _check_run_dir(run, steps, ckpt)
    assert latest_state["iteration"] > killed_at["iteration"]
    (events,) = set((run / "seed_0").glob("events.out.tfevents.*")) - before
    resumed = _steps_logged(run / "seed_0", events)
    # Continued from the checkpoint: the first step it logs is past the kill.
    assert resumed and min(resumed) > killed_at["env_steps"]
    assert np.all(np.diff(resumed) > 0) and resumed[-1] == summary["env_steps"]
