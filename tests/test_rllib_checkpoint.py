"""The RLlib checkpoint swap survives a crash at every point of its sequence: the
next start finds the newest complete checkpoint and leaves no debris.

Failures are injected (the k-th filesystem operation of a save raises, after a
partial effect where the operation has one), not timed. No Ray needed: the
algorithm is a stand-in that writes files the way ``save_to_path`` does.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from agents.rllib import STATE_FILE, latest_checkpoint, save_checkpoint


class Crash(Exception):
    """The process 'dies' here."""


class FakeAlgo:
    """Writes a two-file checkpoint tagged with its iteration."""

    def __init__(self, iteration: int, ops) -> None:
        self.iteration, self.ops = iteration, ops

    def save_to_path(self, path: str) -> None:
        root = Path(path)
        root.mkdir(parents=True)
        (root / "learner").mkdir()
        self.ops.step("save_to_path", partial=lambda: (root / "a.json").write_text("{"))
        (root / "a.json").write_text(json.dumps({"iteration": self.iteration}))
        (root / "learner" / "b.bin").write_bytes(bytes([self.iteration]) * 64)


class Ops:
    """Counts filesystem operations; raises :class:`Crash` at operation ``fail_at``
    (after its partial effect, if any)."""

    def __init__(self, fail_at: int | None) -> None:
        self.fail_at, self.count, self.names = fail_at, 0, []

    def step(self, name: str, partial=None) -> None:
        self.names.append(name)
        self.count += 1
        if self.count - 1 == self.fail_at:
            if partial is not None:
                partial()
            raise Crash(name)


@pytest.fixture
def ops(monkeypatch):
    holder = {"ops": Ops(None)}
    real_replace, real_rmtree = os.replace, shutil.rmtree
    real_write, real_unlink = Path.write_text, Path.unlink

    def replace(src, dst, *a, **k):
        holder["ops"].step("replace")
        return real_replace(src, dst, *a, **k)

    def rmtree(path, *a, **k):
        def half():  # a delete cut short: some files are gone
            files = sorted(p for p in Path(path).rglob("*") if p.is_file())
            for f in files[: max(1, len(files) // 2)]:
                f.unlink()

        holder["ops"].step("rmtree", partial=half)
        return real_rmtree(path, *a, **k)

    def write_text(self, data, *a, **k):
        holder["ops"].step(
            "write_text", partial=lambda: real_write(self, data[: len(data) // 2])
        )
        return real_write(self, data, *a, **k)

    def unlink(self, *a, **k):
        holder["ops"].step("unlink")
        return real_unlink(self, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(Path, "unlink", unlink)
    return holder


def _save(ckpt: Path, iteration: int, holder, fail_at: int | None = None) -> None:
    holder["ops"] = Ops(fail_at)
    state = {"iteration": iteration, "env_steps": 100 * iteration}
    save_checkpoint(FakeAlgo(iteration, holder["ops"]), ckpt, state)


def _check_consistent(latest: Path) -> int:
    """The checkpoint's iteration; its files agree with its state."""
    state = json.loads((latest / STATE_FILE).read_text())
    payload = json.loads((latest / "a.json").read_text())
    assert payload["iteration"] == state["iteration"]
    assert (latest / "learner" / "b.bin").read_bytes() == bytes(
        [state["iteration"]]
    ) * 64
    return state["iteration"]


def test_a_crash_at_every_step_of_a_save_leaves_the_newest_complete_checkpoint(
    tmp_path, ops
):
    probe = tmp_path / "probe"
    _save(probe, 1, ops)
    _save(probe, 2, ops)
    sequence = list(ops["ops"].names)  # the operations of one save over another
    assert "rmtree" in sequence and sequence.count("replace") == 3
    complete_after = sequence.index("replace")  # the state file's rename
    for k in range(len(sequence)):
        ckpt = tmp_path / f"crash_{k}"
        _save(ckpt, 1, ops)
        with pytest.raises(Crash):
            _save(ckpt, 2, ops, fail_at=k)
        ops["ops"] = Ops(None)
        latest = latest_checkpoint(ckpt)
        assert latest == ckpt / "latest", sequence[k]
        expected = 2 if k > complete_after else 1
        assert _check_consistent(latest) == expected, (k, sequence[k])
        assert sorted(p.name for p in ckpt.iterdir()) == ["latest"], (k, sequence[k])
        _save(ckpt, 3, ops)  # and the next save works
        assert _check_consistent(ckpt / "latest") == 3


def test_an_intact_old_checkpoint_is_found_without_latest(tmp_path, ops):
    ckpt = tmp_path / "ckpt"
    _save(ckpt, 4, ops)
    ops["ops"] = Ops(None)
    os.replace(ckpt / "latest", ckpt / ".latest.old777")  # died between renames
    partial = ckpt / ".latest.tmp778"  # another process died mid-write
    partial.mkdir()
    (partial / "a.json").write_text("{")
    assert latest_checkpoint(ckpt) == ckpt / "latest"
    assert _check_consistent(ckpt / "latest") == 4
    assert sorted(p.name for p in ckpt.iterdir()) == ["latest"]


def test_no_complete_checkpoint_is_none(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    ckpt = tmp_path / "ckpt"
    (ckpt / ".latest.tmp1").mkdir(parents=True)
    (ckpt / ".latest.tmp1" / STATE_FILE).write_text('{"iteration": ')  # truncated
    assert latest_checkpoint(ckpt) is None
    assert not (ckpt / ".latest.tmp1").exists()
