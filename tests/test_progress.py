"""experiments._progress: the job lines of the studies (fake clock, no timing)."""

from __future__ import annotations

import io

import pytest

from experiments._progress import JobProgress, duration


def _run(kinds, times, **kw):
    out = io.StringIO()
    jobs = JobProgress("p", kinds, stream=out, clock=iter(times).__next__, **kw)
    for kind in kinds:
        jobs.start(f"job {kind}")
    jobs.finish()
    return out.getvalue().splitlines()


def test_eta_uses_the_mean_of_the_same_kind():
    # a: 10 s each, b: 100 s; a kind not seen yet counts the mean of all jobs.
    lines = _run(["a", "b", "a", "b"], [0, 10, 110, 120, 220])
    assert lines[0] == "p: [1/4] job a ..."
    assert lines[1] == "p: [2/4] job b (10 s so far; ETA 30 s)"  # unseen b: mean 10
    assert lines[2] == "p: [3/4] job a (1 min 50 s so far; ETA 1 min 50 s)"
    assert lines[3] == "p: [4/4] job b (2 min 00 s so far; ETA 1 min 40 s)"
    assert lines[4] == "p: 4 jobs done in 3 min 40 s"


def test_without_eta_and_disabled():
    lines = _run(["x", "y"], [0, 5, 9], eta=False)
    assert lines[1] == "p: [2/2] job y (5 s so far)"
    assert _run(["x"], [0, 1], enabled=False) == []
    out = io.StringIO()
    jobs = JobProgress("p", ["x"], stream=out, clock=iter([0, 1]).__next__)
    jobs.start("x")
    with pytest.raises(ValueError, match="job 2 started, but only 1 planned"):
        jobs.start("y")


def test_duration():
    assert [duration(s) for s in (0, 59.4, 60, 3599, 3600, -1)] == [
        "0 s",
        "59 s",
        "1 min 00 s",
        "59 min 59 s",
        "1 h 00 min",
        "?",
    ]
