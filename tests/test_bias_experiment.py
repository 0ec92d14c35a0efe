"""Smoke and contract tests of ``python -m experiments.bias``."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from experiments import bias


def test_quick_main_writes_every_output(tmp_path):
    results = bias.main(["--quick", "--out", str(tmp_path)])
    assert set(results) == {"lampinen", "shah", "hermann"}
    for name in ("lampinen", "shah", "hermann"):
        with open(tmp_path / f"{name}.csv") as f:
            rows = list(csv.DictReader(f))
        assert rows, name
    for name in ("lampinen", "shah", "hermann"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    summary = (tmp_path / "summary.md").read_text()
    assert "## Shah" in summary and "## Hermann" in summary
    assert not list(tmp_path.glob(".*"))  # no temp files left behind
    # every study's quantities are defined where they are reported
    assert summary.count("Definitions:") == 3
    assert "**shortcut bias = R_model − R_LDA**" in summary
    assert "**R_LDA**: the reliance of linear discriminant analysis" in summary
    assert "logistic regression (converged)" in summary  # not the code name


def test_figures_have_error_bars_chance_lines_and_readable_labels(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {
        "shah": [
            {"seed": s, "standard": 1.0, "s_randomized": 0.5 + d, "sc_randomized": 1.0}
            for s, d in enumerate((0.0, 0.02))
        ],
        "hermann": [
            {"seed": s, "model": m, "depth": d, "epochs": e, "bias": b + 0.1 * s}
            for s in (0, 1)
            for m, d, e, b in (("linear", 0, 0, 0.0), ("mlp1", 1, 5, 0.8))
        ],
    }
    fig = bias._shah_figure(plt, rows["shah"])
    (ax,) = fig.axes
    chance = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    assert chance and chance[0].get_ydata()[0] == 0.5
    caps = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert caps, "Shah bars carry error bars"
    np.testing.assert_allclose(caps[0].lines[2][0].get_segments()[1][:, 1], [0.5, 0.52])
    plt.close(fig)
    fig = bias._hermann_figure(plt, rows["hermann"])
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "logistic regression (converged)",
        "MLP, 1 hidden layer, 5 epochs",
    ]
    assert "R_model − R_LDA" in ax.get_xlabel()
    plt.close(fig)


def test_run_dir_probe(tmp_path):
    rng = np.random.default_rng(0)
    meanings = rng.integers(0, 4, size=(300, 2))
    # Position 0 encodes attribute 1 exactly; position 1 is noise.
    messages = np.stack([meanings[:, 1], rng.integers(0, 4, size=300)], axis=1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    np.savez(run_dir / "messages.npz", messages=messages, meanings=meanings)
    out = tmp_path / "out"
    results = bias.main(["--study", "none", "--run", str(run_dir), "--out", str(out)])
    assert (out / "run.png").stat().st_size > 0
    rows = {r["attribute"]: r for r in results["run"]}
    assert rows[1]["decodability"] == 1.0
    assert rows[0]["decodability"] < 0.5
    assert rows[1]["variance_explained"] > rows[0]["variance_explained"]
    assert "Most decodable attribute (run): 1" in (out / "summary.md").read_text()


def test_run_dir_with_seed_folders_as_experiments_aim_writes_them(tmp_path):
    rng = np.random.default_rng(1)
    for seed in (0, 1):
        (tmp_path / f"seed_{seed}").mkdir()
        meanings = rng.integers(0, 3, size=(60, 2))
        np.savez(
            tmp_path / f"seed_{seed}" / "messages.npz",
            messages=meanings[:, :1],
            meanings=meanings,
        )
    rows = bias.run_study(tmp_path)
    assert [r["source"] for r in rows] == ["seed_0"] * 2 + ["seed_1"] * 2
    assert all(r["decodability"] == 1.0 for r in rows if r["attribute"] == 0)


def test_run_dir_errors(tmp_path):
    with pytest.raises(ValueError, match="no messages.npz"):
        bias.run_study(tmp_path)
    np.savez(tmp_path / "messages.npz", messages=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="meanings"):
        bias.run_study(tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        ["--study", "nope"],
        ["--seeds", "x"],
        ["--bogus"],
        ["--seeds", "0"],
        ["--study", "none"],
    ],
)
def test_bad_flags_exit_with_code_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        bias.main(argv)
    assert info.value.code == 2


def test_args_defaults_are_the_documented_ones():
    args = bias.parse_args([])
    assert args == bias.Args()
    assert args.out == "runs/bias" and args.study == "all" and not args.quick


def test_lampinen_pattern_easy_explains_more_variance_at_every_layer():
    """Both features learned; the easy one explains more variance at each layer."""
    config = bias.LampinenConfig(n_train=2048, n_test=1024)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than 2 contended threads for these sizes
    try:
        rows = bias.lampinen_study(0, config)
    finally:
        torch.set_num_threads(threads)
    assert all(r["model_accuracy"] >= 0.99 for r in rows)
    assert all(r["decodability"] >= 0.99 for r in rows if r["layer"] != "hidden1")
    ratios = bias.lampinen_ratios(rows)
    print("Lampinen easy/hard variance-explained ratio per layer:", ratios)
    assert list(ratios) == ["hidden1", "hidden2", "hidden3", "hidden4"]
    assert all(ratio > 1.0 for ratio in ratios.values())


def test_run_dir_of_a_real_aim_run_probes_messages_and_encoder(tmp_path):
    from experiments import aim

    aim.main(
        [
            "--num-envs", "32", "--num-steps", "2", "--num-minibatches", "2",
            "--hidden", "16", "--eval-episodes", "64", "--steps", "128",
            "--no-progress", "--logdir", str(tmp_path), "--name", "run",
        ]
    )  # fmt: skip
    rows = bias.run_study(tmp_path / "run")
    sources = {r["source"] for r in rows}
    assert sources == {"seed_0", "seed_0/encoder"}
    encoder = [r for r in rows if r["source"] == "seed_0/encoder"]
    assert [r["attribute"] for r in encoder] == [0, 1, 2, 3]
    # The encoder sees the target's one-hot attributes: every one is decodable.
    assert all(r["decodability"] > r["majority_baseline"] for r in encoder)


def test_unknown_optimizer_is_an_error_not_adam():
    model = bias.make_mlp(4, 8, 1, 1)
    X, Y = np.zeros((8, 4)), np.zeros(8)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        bias.train_binary(model, X, Y, epochs=1, lr=0.1, optimizer="adamw")
