"""Smoke and contract tests of ``python -m experiments.gendiff`` (run in-process)."""

from __future__ import annotations

import csv
import math
import re
import tempfile

import numpy as np
import pytest

from experiments import gendiff

TINY = ["--max-history", "3", "--reach-dims", "2", "3", "--digits-samples", "400"]


def _read(path):
    with open(path, newline="") as fh:
        return {row["task"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gendiff")
    rows = gendiff.main([*TINY, "--out", str(out), "--quiet"])
    return out, rows


def test_files_written(run):
    out, rows = run
    for name in ("difficulty.csv", "difficulty.md", "difficulty.png"):
        assert (out / name).stat().st_size > 0
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files
    table = _read(out / "difficulty.csv")
    assert len(table) == len(rows)
    md = (out / "difficulty.md").read_text()
    assert "| MNIST |" in md and "digits 8x8" in md


def test_reference_rows_reproduce_published(run):
    out, _ = run
    table = _read(out / "difficulty.csv")
    for task in ("MNIST", "CIFAR-10", "Reacher", "cart-pole T=1", "cart-pole T=2"):
        row = table[task]
        assert row["source"] == "published"
        # rel. 1e-3 in bits is 4.3e-4 in log10
        got, paper = float(row["log10_bits"]), float(row["published_log10_bits"])
        assert got == pytest.approx(paper, abs=5e-4)
    assert table["SVHN"]["source"] == table["ImageNet"]["source"] == "computed"
    assert table["digits 8x8"]["source"] == "estimated"
    assert float(table["digits 8x8"]["log10_bits"]) > 0


def test_csv_and_markdown_write_the_same_log10_bits_never_inf(run):
    out, rows = run
    csv_text = (out / "difficulty.csv").read_text()
    md = (out / "difficulty.md").read_text()
    for text in (csv_text, md):
        assert not re.search(r"\binf\b", text, flags=re.IGNORECASE)
    table = _read(out / "difficulty.csv")
    assert "bits" not in next(iter(table.values()))  # only log10_bits
    md_rows = {
        cells[1]: cells
        for line in md.splitlines()
        if line.startswith("| ") and not line.startswith("| group")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    header = [c.strip() for c in md.splitlines()[2].strip("|").split("|")]
    at = header.index("log10_bits")
    for row in rows:
        assert table[row.task]["log10_bits"] == md_rows[row.task][at], row.task
        assert math.isfinite(float(table[row.task]["log10_bits"]))
    overflow = [r for r in rows if math.isinf(r.bits)]  # beyond float64 ...
    if overflow:  # ... still written as a finite log10
        assert float(table[overflow[0].task]["log10_bits"]) > 308


def test_markdown_caption_defines_every_column(run):
    out, _ = run
    md = (out / "difficulty.md").read_text()
    header = [c.strip() for c in md.splitlines()[2].strip("|").split("|")]
    caption = md.split("**Columns**")[1]
    for name in header:
        assert f"- `{name}`: " in caption, name
    assert "δ" in caption and "ε" in caption


def test_invalid_rows_name_their_reason(run):
    out, rows = run
    table = _read(out / "difficulty.csv")
    reasons = {r.task: r.invalid for r in rows if r.invalid}
    assert reasons["cartpole position T=1"].startswith("input insufficient")
    assert reasons["listener no message"] == "target not identifiable from the input"
    assert table["cartpole position T=2"]["invalid"] == ""
    assert not any(r.invalid for r in rows if r.group == "reference")


def test_closed_form_mdp_below_pomdp(run):
    out, _ = run
    table = _read(out / "difficulty.csv")
    bits = {k: float(v["log10_bits"]) for k, v in table.items()}
    # the published simplified cart-pole: MDP (T=1) < POMDP (T=2)
    assert bits["cart-pole T=1"] < bits["cart-pole T=2"]
    # position-only: the MDP-sized input (T=1, insufficient) is below the POMDP's
    # minimal sufficient input (T=2); more history always costs bits
    assert bits["cartpole position T=1"] < bits["cartpole position T=2"]
    assert bits["cartpole position T=2"] < bits["cartpole position T=3"]
    assert bits["cartpole full T=1"] < bits["cartpole full T=2"]
    # full state at T=1 (MDP) and positions at T=2 (POMDP) are both 4-D inputs:
    # the closed form depends on input dimension only, so they tie
    assert bits["cartpole full T=1"] <= bits["cartpole position T=2"]
    assert "input insufficient" in table["cartpole position T=1"]["invalid"]
    assert table["cartpole position T=2"]["note"] == "minimal sufficient input"


def test_env_rows_reach_and_referential(run):
    out, _ = run
    table = _read(out / "difficulty.csv")
    if "reach dim=2 goal visible" in table:
        for dim in (2, 3):
            visible = float(table[f"reach dim={dim} goal visible"]["log10_bits"])
            hidden = float(table[f"reach dim={dim} goal hidden"]["log10_bits"])
            told = float(table[f"reach dim={dim} goal hidden + speaker"]["log10_bits"])
            assert visible < hidden and told < hidden
        assert float(table["reach dim=2 goal visible"]["log10_bits"]) < float(
            table["reach dim=3 goal visible"]["log10_bits"]
        )
    if "listener with message" in table:
        assert float(table["listener no message"]["m"]) < float(
            table["listener with message"]["m"]
        )


def test_no_envs_flag(tmp_path):
    rows = gendiff.main(["--no-envs", "--no-plot", "--quiet", "--out", str(tmp_path)])
    assert {r.group for r in rows} == {"reference", "data"}
    assert not (tmp_path / "difficulty.png").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--delta-method", "bogus"],
        ["--no-such-flag"],
        ["--max-history", "0"],
        ["--reach-dims", "two"],
        ["--histories", "1"],
        ["--histories", "2", "x"],
        ["--timesteps", "ten"],
    ],
)
def test_bad_flags_exit_2(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        gendiff.main([*argv, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_every_flag_has_help(capsys):
    parser = gendiff.build_parser()
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no help text"
        if action.dest not in ("help", "config"):
            assert "(default:" in action.help
    with pytest.raises(SystemExit) as exc:
        gendiff.main(["--help"])
    assert exc.value.code == 0
    assert "--delta-method {sample,evt}" in capsys.readouterr().out


def test_args_defaults_and_frozen():
    args = gendiff.parse_args([])
    assert args == gendiff.Args()
    assert args.out == "runs/gendiff" and not args.empirical
    with pytest.raises(AttributeError):
        args.out = "elsewhere"


def test_task_inputs_stack_positions_within_episodes():
    obs = np.arange(5 * 4, dtype=float).reshape(5, 4)
    episodes = np.array([0, 0, 0, 1, 1])
    assert gendiff._task_inputs(obs, episodes, 1) is obs
    X = gendiff._task_inputs(obs, episodes, 2)
    assert X.shape == (5, 4)
    pos = obs[:, [0, 2]]
    np.testing.assert_array_equal(X[1], np.r_[pos[0], pos[1]])
    np.testing.assert_array_equal(X[3], np.r_[pos[3], pos[3]])  # padded at start


def test_native_reach_tiny(tmp_path):
    argv = ["--no-envs", "--no-plot", "--quiet", "--native-reach"]
    argv += ["--native-dims", "2", "--native-steps", "4096", "--seeds", "1"]
    argv += ["--eval-episodes", "1"]
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    gendiff.main([*argv, "--out", str(tmp_path)])
    assert torch.get_num_threads() == threads  # main restores the global setting
    rows = _read(tmp_path / "native_reach.csv")
    assert set(rows) == {"reach dim=2 goal visible", "reach dim=2 goal hidden"}
    vis, hid = rows["reach dim=2 goal visible"], rows["reach dim=2 goal hidden"]
    assert float(vis["closed_form_log10_bits"]) < float(hid["closed_form_log10_bits"])
    assert math.isfinite(float(vis["final_return"]))
    assert "agrees with the closed form" in (tmp_path / "native_reach.md").read_text()


@pytest.mark.slow
def test_empirical_tiny(tmp_path, monkeypatch):
    pytest.importorskip("stable_baselines3")
    # SB3's default logger would make a tempdir folder per learn() call
    scratch = tmp_path / "tempdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    argv = [
        "--no-envs",
        "--no-plot",
        "--quiet",
        "--empirical",
        "--timesteps",
        "512",
        "--eval-every",
        "512",
        "--eval-episodes",
        "1",
        "--seeds",
        "1",
        "--histories",
        "2",
        "3",
        "--n-hypotheses",
        "6",
        "--hypothesis-epochs",
        "20",
        "--out",
        str(tmp_path),
    ]
    gendiff.main(argv)
    rows = _read(tmp_path / "empirical.csv")
    assert set(rows) == {
        "CartPole full",
        "CartPole position T=2",
        "CartPole position T=3",
    }
    for row in rows.values():
        assert math.isfinite(float(row["closed_form_log10_bits"]))
        assert float(row["steps_to_threshold"]) > 0
    assert "Spearman" in (tmp_path / "empirical.md").read_text()
    assert not list(scratch.glob("SB3-*"))


def test_a_value_beyond_float64_is_written_as_its_log10():
    # reach dim=6 with the goal hidden: 5.3e353 bits, inf in float64
    row = gendiff.Row(
        group="reach_v0",
        task="beyond float64",
        source="task_spec",
        n=1e4,
        m=300.0,
        D=6,
        P=1,
        delta=0.1,
        eps=1e-3,
        bits=math.inf,
        log10_bits=353.72814,
    )
    csv_text, md = gendiff.to_csv([row]), gendiff.to_markdown([row], "t")
    assert "353.7281" in csv_text and "| 353.7281 |" in md
    assert not re.search(r"\binf\b", csv_text + md)
