"""agents.results: the summary records round-trip through summary.json's keys."""

from __future__ import annotations

import json
import math

import pytest

from agents.results import EvalResult, RunResult, RunSummary, symbol_usage
from agents.spec import TrainSpec
from analysis.language import MessageReport, message_report


def _result(success=0.75, mean_return=1.5) -> RunResult:
    spec = TrainSpec(env="referential_v0", seed=3)
    return RunResult(
        spec=spec,
        backend="native",
        env_steps=4096,
        iterations=2,
        wall_s=2.0,
        evaluation=EvalResult(episodes=100, mean_return=mean_return, success=success),
        usage={"speaker": symbol_usage([[2, 2, 0, 0]])},
        extra_evaluations={
            "seen": EvalResult(episodes=50, mean_return=1.0, success=0.8),
            "heldout": EvalResult(episodes=50, mean_return=1.0, success=0.7),
        },
    )


def test_summary_keys_and_values():
    out = _result().summary_fields()
    assert out["seed"] == 3 and out["backend"] == "native"
    assert out["steps_per_s"] == 2048.0
    assert (out["success_seen"], out["success_heldout"]) == (0.8, 0.7)
    assert out["live_codes"] == 2.0 and out["codebook_perplexity"] == pytest.approx(2.0)


def test_run_summary_round_trips_through_json():
    summary = _result().run_summary()
    text = json.dumps(summary.to_dict())
    back = RunSummary.from_dict(json.loads(text))
    assert back == summary
    assert back.extra_success == {"heldout": 0.7, "seen": 0.8}


def test_non_finite_numbers_become_none():
    out = _result(success=math.nan, mean_return=math.inf).summary_fields()
    assert out["success"] is None and out["mean_return"] is None


def test_readers_fail_loudly_on_a_missing_field():
    data = _result().summary_fields()
    del data["mean_return"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['mean_return'\]"):
        RunSummary.from_dict(data)
    report = message_report([[0, 1], [1, 0]] * 20, [[0, 1], [1, 0]] * 20).to_dict()
    del report["topsim"]
    with pytest.raises(ValueError, match="topsim"):
        MessageReport.from_dict(report)


def test_message_report_round_trips_through_json():
    pairs = [[0, 1], [1, 0], [1, 1]] * 30
    report = message_report(pairs, pairs)
    back = MessageReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert back == report
