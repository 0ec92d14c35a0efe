"""experiments.aim_study: the quick study end to end, and the report traced to runs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from experiments import aim_study

VERDICT_RE = re.compile(
    r"^- Verdict \[(?P<cond>[^\]]+)\]: \*\*(?P<verdict>[a-z ]+)\*\* — .+$"
)
CELL_RE = re.compile(
    r"^(?P<mean>-?\d+(?:\.\d+)?)"
    r"(?: \[(?P<lo>-?\d+(?:\.\d+)?), (?P<hi>-?\d+(?:\.\d+)?)\]| \(n=1\))$"
)
# claim-1 columns recomputed here straight from the run files (summary.json)
SUMMARY_COLUMNS = {
    "success": "success",
    "MI bits": "message_meaning_mi_bits",
    "topsim": "topsim",
    "posdis": "posdis",
    "bosdis": "bosdis",
    "codebook perplexity": "codebook_perplexity",
}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aim_study")
    aim_study.main(["--quick", "--out", str(out), "--no-progress"])
    return out


def _sections(report: str) -> dict[str, str]:
    parts = re.split(r"^## ", report, flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


def _tables(section: str) -> list[dict[str, str]]:
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))
        for row in rows[2:]
    ]


def _interval(values):
    vals = [float(v) for v in values]
    mean = float(np.mean(vals))
    if len(vals) < 2:
        return mean, None, None
    half = stats.t.ppf(0.975, len(vals) - 1) * np.std(vals, ddof=1)
    half /= math.sqrt(len(vals))
    return mean, mean - half, mean + half


def _close(text: str | None, value: float | None, digits: int) -> bool:
    if text is None or value is None:
        return text is None and value is None
    return abs(float(text) - value) <= 0.6 * 10**-digits + 1e-12


def test_report_structure(study):
    report = (study / "report.md").read_text()
    sections = _sections(report)
    for title in aim_study.CLAIMS.values():
        assert title in sections, f"no section {title!r}"
        body = sections[title]
        verdicts = [m for m in map(VERDICT_RE.match, body.splitlines()) if m]
        assert verdicts, f"no verdict line in {title!r}"
        assert {m["verdict"] for m in verdicts} <= set(aim_study.VERDICTS)
        rows = _tables(body)
        assert rows and any(k.startswith("comm-off") for k in rows[0])
        assert all(r["verdict"] in aim_study.VERDICTS for r in rows)
    assert "Verdict rules" in sections
    for name in ("learning_curves.png", "rank_frequency.png", "mi_over_training.png"):
        data = (study / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and f"]({name})" in report
    assert (study / "results.csv").read_text().startswith("condition,")


def test_results_match_run_files(study):
    results = json.loads((study / "results.json").read_text())
    assert len(results["runs"]) == 8  # 2 envs x (vq, none) x 2 seeds
    for run in results["runs"]:
        summary = json.loads((study / run["run_dir"] / "summary.json").read_text())
        assert run["seed"] == summary["seed"]
        assert run["success"] == summary["success"]
        assert run["mi_bits"] == summary["message_meaning_mi_bits"]
        assert run["topsim"] == summary["topsim"]
        assert run["codebook_perplexity"] == summary["codebook_perplexity"]
        assert (study / run["run_dir"] / "messages.npz").is_file()
        assert (study / run["run_dir"] / "checkpoints" / "latest.pt").is_file()
    # the comm-off control sends one constant message
    for run in results["runs"]:
        if run["channel"] == "none":
            assert run["distinct_messages"] == 1 and run["mi_bits"] == 0.0


def test_report_numbers_come_from_run_files(study):
    report = (study / "report.md").read_text()
    results = json.loads((study / "results.json").read_text())
    runs_by_cond: dict[str, list[dict]] = {}
    for run in results["runs"]:
        summary = json.loads((study / run["run_dir"] / "summary.json").read_text())
        runs_by_cond.setdefault(run["condition"], []).append(summary)
    # every aggregate number in results.json, as printed (3 decimals or integer)
    printed = set()
    for agg in results["conditions"].values():
        for value in agg.values():
            if isinstance(value, dict):
                for v in (value["mean"], value["lo"], value["hi"]):
                    if v is not None:
                        printed |= {f"{v:.3f}", f"{v:.0f}"}
    checked = 0
    sections = _sections(report)
    for title in aim_study.CLAIMS.values():
        for row in _tables(sections[title]):
            cond = row["condition"].strip("`")
            control = cond.split("/")[0] + "/none"
            for column, cell in row.items():
                m = CELL_RE.match(cell)
                if column in ("condition", "verdict", "seeds passing") or not m:
                    continue
                for part in (m["mean"], m["lo"], m["hi"]):
                    if part is not None:
                        assert part.replace("-0.000", "0.000") in printed | {
                            p.replace("-0.000", "0.000") for p in printed
                        }, (title, cond, column, cell)
                # claim-1 numbers recomputed from the per-run summary.json files
                name = column.removeprefix("comm-off ")
                if title.startswith("Claim 1") and name in SUMMARY_COLUMNS:
                    src = control if column.startswith("comm-off") else cond
                    vals = [s[SUMMARY_COLUMNS[name]] for s in runs_by_cond[src]]
                    mean, lo, hi = _interval(vals)
                    assert _close(m["mean"], mean, 3), (cond, column, cell)
                    assert _close(m["lo"], lo, 3) and _close(m["hi"], hi, 3)
                checked += 1
    assert checked >= 20


def test_verdicts_follow_rules(study):
    results = json.loads((study / "results.json").read_text())
    report = (study / "report.md").read_text()
    for v in results["verdicts"]:
        assert v["verdict"] in aim_study.VERDICTS
        line = f"- Verdict [{v['condition']}]: **{v['verdict']}** — {v['reason']}"
        assert line in report
    # claim 2: passes counted from the per-run power-law comparisons
    for cond, agg in results["conditions"].items():
        runs = [r for r in results["runs"] if r["condition"] == cond]
        passes = 0
        for r in runs:
            if r["powerlaw_alpha"] is None:
                continue
            r_ln, p_ln = r["powerlaw_R_lognormal"], r["powerlaw_p_lognormal"]
            r_ex, p_ex = r["powerlaw_R_exponential"], r["powerlaw_p_exponential"]
            passes += (not (r_ln < 0 and p_ln < 0.1)) and r_ex > 0 and p_ex < 0.1
        assert agg["powerlaw_passes"] == passes


def test_helpers():
    assert aim_study.convergence_step([1, 2, 3, 4], [0.0, 1.0, 1.0, 1.0]) == 4
    assert aim_study.convergence_step([1, 2], [0.0, 0.0]) is None
    assert aim_study.t_interval([0.5]) == {"mean": 0.5, "lo": None, "hi": None, "n": 1}
    agg = aim_study.t_interval([1.0, 2.0, 3.0])
    assert agg["lo"] < 2.0 < agg["hi"] and agg["n"] == 3
    assert aim_study.fmt({"mean": 0.5, "lo": None, "hi": None, "n": 1}) == (
        "0.500 (n=1)"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--quick", "--full"],
        ["--envs", "nowhere"],
        ["--channels", "smoke_signals"],
        ["--steps", "0"],
    ],
)
def test_bad_flags_exit_2(argv, tmp_path):
    with pytest.raises(SystemExit) as exc:
        aim_study.main([*argv, "--out", str(tmp_path / "x"), "--no-progress"])
    assert exc.value.code == 2
    assert not (tmp_path / "x").exists()
