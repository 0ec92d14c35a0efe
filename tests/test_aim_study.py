"""experiments.aim_study: the quick study end to end (the report traced to the run
files, the smoke-test stamp), controls that change one thing, the held-out split at
the study level, and every claim's decide function on hand-built aggregates."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import envs
from experiments import aim_study as st
from experiments._cli import to_dict

VERDICT_RE = re.compile(
    r"^- Verdict \[(?P<row>[^\]]+)\]: \*\*(?P<verdict>[^*]+)\*\* — .+$"
)
CELL_RE = re.compile(
    r"^(?P<mean>-?\d+(?:\.\d+)?)"
    r"(?: \[(?P<lo>-?\d+(?:\.\d+)?), (?P<hi>-?\d+(?:\.\d+)?)\]| \(n=1\))$"
)
LABELS = {*st.VERDICTS, "inconclusive (too few seeds)"}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aim_study") / "study"
    st.main(["--quick", "--out", str(out), "--no-progress"])
    return out


def _sections(report: str) -> dict[str, str]:
    parts = re.split(r"^## ", report, flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


def _tables(section: str) -> list[dict[str, str]]:
    """The first table of a section, as one dict per row."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))
        for row in rows[2:]
    ]


def _clipped_t(values, lo, hi):
    """Independent reference: scipy's t-interval of the mean, clipped."""
    vals = np.asarray(values, dtype=float)
    mean = float(vals.mean())
    if len(vals) < 2:
        return mean, None, None
    a, b = stats.t.interval(0.95, len(vals) - 1, loc=mean, scale=stats.sem(vals))
    return mean, max(lo, a), min(hi, b)


# ---------------------------------------------------------------- the quick study
def test_report_is_stamped_and_prints_the_rules_it_applies(study):
    report = (study / "report.md").read_text()
    assert report.count(st.SMOKE) >= 1 + len(st.CLAIMS)  # top and every claim
    sections = _sections(report)
    for claim in st.CLAIMS:
        body = sections[claim.title]
        assert f"Rule: {claim.rule}" in body  # the record's own text
        rows = [m for m in map(VERDICT_RE.match, body.splitlines()) if m]
        assert rows, claim.title
        # two seeds: every verdict is the too-few-seeds one
        assert {m["verdict"] for m in rows} == {"inconclusive (too few seeds)"}
        table = _tables(body)
        assert [c.title for c in claim.columns] == list(table[0])[1:-1]
    assert "Verdict rules" in sections
    for name in (
        "learning_curves.png",
        "rank_frequency.png",
        "mi_over_training.png",
        "compositional_generalization.png",
    ):
        assert (study / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in report


def test_run_dirs_resolve_from_anywhere(study, tmp_path, monkeypatch):
    results = json.loads((study / "results.json").read_text())
    monkeypatch.chdir(tmp_path)  # not where the study was launched
    assert results["meta"]["paths"] == "run_dir values are absolute"
    assert len(results["runs"]) == 16  # 8 conditions x 2 seeds
    for run in results["runs"]:
        seed_dir = Path(run["run_dir"])
        assert seed_dir.is_absolute()
        summary = json.loads((seed_dir / "summary.json").read_text())
        assert run["seed"] == summary["seed"]
        assert run["success"] == summary["success"]
        assert run["success_heldout"] == summary.get("success_heldout")
        assert run["mi_bits"] == summary["message_meaning_mi_bits"]
        assert run["topsim"] == summary["topsim"]
        assert (seed_dir / "messages.npz").is_file()
    with open(study / "results.csv") as f:
        header = f.readline().strip().split(",")
    assert header == [f.name for f in st.dataclasses.fields(st.RunRecord)]


def test_report_numbers_come_from_run_files(study):
    """Claim-1 cells recomputed from summary.json with scipy's t-interval."""
    report = (study / "report.md").read_text()
    results = json.loads((study / "results.json").read_text())
    summaries: dict[str, list[dict]] = {}
    for run in results["runs"]:
        summary = json.loads((Path(run["run_dir"]) / "summary.json").read_text())
        summaries.setdefault(run["condition"], []).append(summary)
    columns = {
        "success": ("success", None, (0, 1)),
        "mute success": ("success", "mute", (0, 1)),
        "shuffle success": ("success", "shuffle", (0, 1)),
        "MI bits": ("message_meaning_mi_bits", None, (0, math.inf)),
    }
    checked = 0
    body = _sections(report)["Claim 1: effective communication"]
    for row in _tables(body):
        cond = row["row"].strip("`")
        for column, (key, control, (lo, hi)) in columns.items():
            src = cond if control is None else f"{cond}:{control}"
            m = CELL_RE.match(row[column])
            if src not in summaries:
                assert row[column] == "-"
                continue
            mean, a, b = _clipped_t([s[key] for s in summaries[src]], lo, hi)
            assert abs(float(m["mean"]) - mean) < 6e-4, (cond, column)
            assert abs(float(m["lo"]) - a) < 6e-4 and abs(float(m["hi"]) - b) < 6e-4
            checked += 1
    assert checked >= 10


def test_report_only_rebuilds_the_same_verdicts(study):
    before = json.loads((study / "results.json").read_text())
    again = st.main(["--out", str(study), "--report-only", "--no-progress"])
    assert again["verdicts"] == before["verdicts"]
    assert again["runs"] == before["runs"]
    assert again["meta"]["wall_s"] == before["meta"]["wall_s"]


def test_quick_results_keep_controls_and_holdout(study):
    results = json.loads((study / "results.json").read_text())
    runs = results["runs"]
    ref = [r for r in runs if r["env"] == "referential"]
    assert all(r["success_heldout"] is not None for r in ref)
    assert all(r["success_heldout"] is None for r in runs if r["env"] != "referential")
    # the muted speaker still talks: its messages vary with the meaning
    for r in runs:
        if r["control"] == "mute":
            assert r["distinct_messages"] > 1
    assert "`referential/gumbel_e2e:shuffle` not run" in " ".join(
        results["grid"]["notes"]
    )


# ---------------------------------------------------------------- controls
def _grids():
    return [st.build_grid(st.Args(full=True)), st.build_grid(st.Args())]


def test_each_control_changes_one_option():
    for grid in _grids():
        conds = {c.key: c for c in grid.conditions}
        controls = [c for c in grid.conditions if c.is_control]
        assert controls
        for control in controls:
            base = conds[control.base_key]
            a = to_dict(base.aim_args(grid))
            b = to_dict(control.aim_args(grid))
            ca, cb = a["train"].pop("env_config"), b["train"].pop("env_config")
            assert a == b, control.key
            assert {k for k in ca.keys() | cb.keys() if ca.get(k) != cb.get(k)} == {
                "message_control"
            }
            assert (ca["message_control"], cb["message_control"]) == (
                "none",
                control.control,
            )


def test_every_talking_condition_has_its_mute_control():
    for grid in _grids():
        keys = {c.key for c in grid.conditions}
        for c in grid.conditions:
            if c.talks and not c.is_control:
                assert c.with_control("mute").key in keys
                if not st.CHANNELS[c.channel_key].differentiable:
                    assert c.with_control("shuffle").key in keys
        # the none channel is a condition, never a control, and has none itself
        assert not any(c.is_control and not c.talks for c in grid.conditions)


@pytest.mark.parametrize("env_key", ["referential", "pd_hidden", "pd_faithful"])
def test_muted_listener_hears_a_constant_and_keeps_its_spaces(env_key):
    grid = st.build_grid(st.Args(envs=(env_key,), channels=("vq",)))
    base, mute = grid.conditions[:2]
    specs = [c.aim_args(grid).train for c in (base, mute)]
    cores = [envs.make_vec(s.env, 64, seed=3, **s.env_config) for s in specs]
    for agent in cores[0].possible_agents:
        assert cores[0].action_space(agent) == cores[1].action_space(agent)
        assert cores[0].observation_space(agent) == cores[1].observation_space(agent)
    listener = [a for a in cores[0].possible_agents if a not in ("speaker", "sender")][
        0
    ]
    heard = []
    for core in cores:
        core.reset(seed=5)
        gen = np.random.default_rng(0)
        actions = {}
        for a in core.possible_agents:
            space = core.action_space(a)
            high = space.nvec if hasattr(space, "nvec") else np.array(space.n)
            actions[a] = torch.as_tensor(gen.integers(0, high, size=(64, *high.shape)))
        obs, *_ = core.step(actions)
        heard.append(obs[listener])
    msg_base, msg_mute = heard
    # the message part: where the two runs differ (same world, same actions)
    differs = (msg_base != msg_mute).any(0)
    assert bool(differs.any())
    assert bool((msg_mute[:, differs] == msg_mute[:1, differs]).all())  # constant
    assert not bool((msg_base[:, differs] == msg_base[:1, differs]).all())


def test_training_batches_never_show_a_heldout_combination():
    """The study's referential condition, rolled out as it trains: no held-out
    combination is ever a candidate (target or distractor)."""
    from agents.native import NativeTrainer
    from agents.spec import PPOConfig

    grid = st.build_grid(st.Args(envs=("referential",), channels=("vq",)))
    spec = grid.conditions[0].aim_args(grid).train
    spec = spec.replace(ppo=PPOConfig(num_envs=256, num_steps=8))
    trainer = NativeTrainer(spec)
    heldout = {tuple(c) for c in trainer.env.holdout.combinations("heldout").tolist()}
    assert len(heldout) == round(0.2 * 256)
    seen = set()
    for _ in range(10):
        cand = trainer.env.attributes_of(trainer.env.candidates).reshape(-1, 4)
        seen |= {tuple(c) for c in cand.tolist()}
        with trainer._own_rng():
            trainer.collect()
    assert not seen & heldout
    assert len(seen) == 256 - len(heldout)  # every training combination occurs


# ---------------------------------------------------------------- statistics
def test_mean_interval_is_the_clipped_t_interval():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 8):
        vals = rng.uniform(0.7, 1.0, n)
        got = st.mean_interval(vals, bounds=(0.0, 1.0))
        mean, lo, hi = _clipped_t(vals, 0.0, 1.0)
        assert got.n == n and got.mean == pytest.approx(mean)
        assert (got.lo, got.hi) == (pytest.approx(lo), pytest.approx(hi))
        assert 0.0 <= got.lo <= got.mean <= got.hi <= 1.0
    assert st.mean_interval([]).mean is None
    assert st.mean_interval([None, float("nan"), 0.4]) == st.Interval(
        0.4, None, None, 1
    )


def test_condition_summary_counts_degenerate_seeds():
    # 4 seeds: 2 collapsed channels, 1 diverged (not counted as finished).
    cond = st.Condition("referential", "vq")

    def record(seed, **kw):
        return st.RunRecord(
            condition=cond.key,
            env=cond.env_key,
            channel=cond.channel_key,
            control=cond.control,
            faithful_optimizer=False,
            seed=seed,
            run_dir="/nowhere",
            **kw,
        )

    runs = [
        record(0, degenerate=True, success=0.25, distinct_messages=1),
        record(1, degenerate=False, success=0.95, distinct_messages=90),
        record(2, degenerate=True, success=0.25, distinct_messages=1),
        record(3, diverged=True, error="non-finite loss"),
    ]
    summary = st.summarize(cond, runs)
    assert (summary.n_runs, summary.n_finished, summary.n_diverged) == (4, 3, 1)
    assert summary.n_degenerate == 2
    assert summary.metric("success").mean == pytest.approx((0.25 + 0.95 + 0.25) / 3)


def test_clipped_interval_keeps_its_coverage():
    """Bernoulli(0.9) success rates of 5 seeds x 200 episodes: the clipped interval
    covers 0.9 as often as the unclipped one (clipping only removes the impossible)."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        vals = rng.binomial(200, 0.9, 5) / 200
        a = st.mean_interval(vals, bounds=(0.0, 1.0))
        hits += a.lo <= 0.9 <= a.hi
    assert 0.91 <= hits / 400 <= 0.99


def _exact_spearman_p(x, y):
    """Reference: two-sided p over every re-pairing (brute force)."""

    def rho(a, b):
        ra, rb = stats.rankdata(a), stats.rankdata(b)
        return np.corrcoef(ra, rb)[0, 1]

    obs = abs(rho(x, y))
    perms = list(itertools.permutations(y))
    return np.mean([abs(rho(x, p)) >= obs - 1e-12 for p in perms])


def test_rank_correlation_against_exact_permutations_and_planted_truth():
    x = [0.1, 0.5, 0.3, 0.9, 0.7, 0.2]
    y = [0.2, 0.4, 0.1, 0.8, 0.9, 0.3]
    rho, p, lo, hi = st.rank_correlation(x, y)
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic)
    assert p == pytest.approx(_exact_spearman_p(x, y), abs=1e-9)  # 720 < resamples
    assert lo <= rho <= hi
    rng = np.random.default_rng(2)
    # independent pairs: p-values roughly uniform
    ps = [
        st.rank_correlation(
            rng.normal(size=25), rng.normal(size=25), n_permutations=999
        )[1]
        for _ in range(150)
    ]
    assert 0.01 <= np.mean(np.array(ps) < 0.05) <= 0.11
    # planted correlation r = 0.6: Spearman's population value 6/pi asin(r/2)
    truth = 6 / math.pi * math.asin(0.3)
    cover = 0
    for _ in range(60):
        a = rng.normal(size=40)
        b = 0.6 * a + 0.8 * rng.normal(size=40)
        _, p, lo, hi = st.rank_correlation(a, b, n_permutations=999, n_bootstrap=500)
        cover += lo <= truth <= hi
    assert cover / 60 >= 0.85
    assert st.rank_correlation([1, 2, 3], [1, 2, 3]) == (None, None, None, None)
    assert st.rank_correlation([1, 1, 1, 1], [1, 2, 3, 4])[0] is None


def test_success_without_message_from_the_payoff_tables():
    from envs.contextual_pd import joint_optimum

    assert st.success_without_message("referential") == 0.25
    assert st.success_without_message("pd_faithful") == 1.0
    # parity game: success = optimum, so the blind rate = blind return / optimum
    j = joint_optimum("parity_coordination")
    assert st.success_without_message("pd_hidden") == j.without_message / j.mean


# ---------------------------------------------------------------- decide
def iv(mean, half=0.01, n=5):
    return st.Interval(mean, mean - half, mean + half, n)


def summary(key: str, n: int = 5, **metrics) -> st.ConditionSummary:
    pl = metrics.pop("power_law", {})
    passes = metrics.pop("convergence_passes", 0)
    return st.ConditionSummary(
        condition=st.Condition.parse(key),
        n_runs=n,
        n_finished=n,
        metrics={
            k: (v if isinstance(v, st.Interval) else iv(v, n=n))
            for k, v in metrics.items()
        },
        power_law=pl,
        convergence_passes=passes,
    )


def aggs(*summaries, correlations=()):
    return st.Aggregates(
        {s.condition.key: s for s in summaries},
        {c.row: c for c in correlations},
    )


CLAIM = {c.key: c for c in st.CLAIMS}


def decide(claim: str, row: str, *summaries, correlations=()):
    return CLAIM[claim].decide(row, aggs(*summaries, correlations=correlations))


R = "referential/vq"


def comm(s, mi=5.0, mute=0.25, shuffle=0.25, n=5, mi_half=0.1):
    return (
        summary(R, n=n, success=s, mi_bits=iv(mi, mi_half, n)),
        summary(R + ":mute", success=mute),
        summary(R + ":shuffle", success=shuffle),
    )


@pytest.mark.parametrize(
    ("args", "outcome"),
    [
        (dict(s=0.9), "supported"),
        (dict(s=0.2), "not supported"),
        (dict(s=0.9, shuffle=0.95), "not supported"),
        (dict(s=0.9, mi=0.05, mi_half=0.02), "not supported"),
        (dict(s=0.26), "inconclusive"),  # intervals overlap
        (dict(s=0.9, mi=0.12, mi_half=0.05), "inconclusive"),  # MI reaches 0.1
    ],
)
def test_decide_communication(args, outcome):
    v = decide("communication", R, *comm(**args))
    assert v.outcome == outcome and not v.too_few_seeds


def test_every_claim_is_inconclusive_with_too_few_seeds():
    two = [
        summary(R, n=2, success=0.9, mi_bits=5.0, compression_ratio=0.5,
                mi_efficiency=1.0, power_law={"power_law": 2}, convergence_passes=2),
        summary(R + ":mute", n=5, success=0.25, mi_bits=1.0, optimum_fraction=0.25),
        summary(R + ":shuffle", n=5, success=0.25),
        summary("referential/categorical", n=5, success=0.5),
    ]  # fmt: skip
    for claim in ("communication", "power_law", "compression", "convergence"):
        v = decide(claim, R, *two)
        assert v.label == "inconclusive (too few seeds)", claim
    # a control with too few seeds also blocks
    ok = summary(R, success=0.9, mi_bits=5.0)
    v = decide("communication", R, ok, summary(R + ":mute", n=2, success=0.25))
    assert v.too_few_seeds
    # a baseline with too few seeds blocks claim 5
    v = decide(
        "beats_baselines",
        R,
        ok,
        summary("referential/categorical", n=1, success=0.2),
    )
    assert v.too_few_seeds
    corr = st.Correlation("referential", "topsim", 8, 2, 0, 0.9, 0.001, 0.5, 1.0)
    v = decide("generalization", "referential: topsim", correlations=[corr])
    assert v.label == "inconclusive (too few seeds)"
    # a row whose condition did not run
    assert decide("communication", R).too_few_seeds


@pytest.mark.parametrize(
    ("counts", "outcome"),
    [
        ({"power_law": 3, "heavy_tailed": 2}, "supported"),
        ({"not_power_law": 2, "unfittable": 1, "heavy_tailed": 2}, "not supported"),
        ({"heavy_tailed": 4, "power_law": 1}, "inconclusive"),
        ({"power_law": 2, "not_power_law": 2, "heavy_tailed": 1}, "inconclusive"),
    ],
)
def test_decide_power_law(counts, outcome):
    v = decide("power_law", R, summary(R, power_law=counts))
    assert v.outcome == outcome


def comp(mi=5.0, mute_mi=2.0, ratio=0.8, eff=0.9, mi_half=0.1, carried=0.9):
    metrics = dict(compression_ratio=ratio, mi_efficiency=eff)
    if carried is not None:
        metrics["attribute_mi_fraction"] = carried
    return (
        summary(R, mi_bits=iv(mi, mi_half), **metrics),
        summary(R + ":mute", mi_bits=mute_mi),
    )


@pytest.mark.parametrize(
    ("args", "outcome"),
    [
        (dict(), "supported"),
        (dict(ratio=1.2), "not supported"),
        (dict(eff=0.3), "not supported"),
        (dict(carried=0.3), "not supported"),  # most attribute information lost
        (dict(carried=None), "supported"),  # no attribute data: not required
        (dict(mi=0.05, mute_mi=0.0, mi_half=0.01), "not supported"),
        (dict(mi=2.0, mute_mi=2.5), "not supported"),  # below the mute control
        (dict(mi=2.05, mute_mi=2.0, mi_half=0.5), "inconclusive"),  # overlap
    ],
)
def test_decide_compression(args, outcome):
    assert decide("compression", R, *comp(**args)).outcome == outcome


@pytest.mark.parametrize(
    ("passes", "mute_fraction", "outcome"),
    [(4, 0.25, "supported"), (2, 0.25, "not supported"), (5, 0.99, "not supported")],
)
def test_decide_convergence(passes, mute_fraction, outcome):
    v = decide(
        "convergence",
        R,
        summary(R, convergence_passes=passes),
        summary(R + ":mute", optimum_fraction=mute_fraction),
    )
    assert v.outcome == outcome


def test_decide_convergence_has_no_inconclusive_beyond_too_few_seeds():
    """Its rule has two outcomes once the seeds suffice (the record says so)."""
    assert "not supported otherwise" in CLAIM["convergence"].rule


@pytest.mark.parametrize(
    ("vq", "others", "outcome"),
    [
        (0.95, {"categorical": 0.80, "gumbel_e2e": 0.85}, "supported"),
        (0.90, {"categorical": 0.80, "gumbel_e2e": 0.95}, "not supported"),
        (0.95, {"categorical": 0.945}, "inconclusive"),
        (0.95, {}, "inconclusive"),
    ],
)
def test_decide_beats_baselines(vq, others, outcome):
    rows = [summary(R, success=vq)] + [
        summary(f"referential/{k}", success=v) for k, v in others.items()
    ]
    assert decide("beats_baselines", R, *rows).outcome == outcome


@pytest.mark.parametrize(
    ("rho", "p", "ci", "outcome"),
    [
        (0.7, 0.001, (0.4, 0.9), "supported"),
        (0.7, 0.03, (0.1, 0.9), "inconclusive"),  # above 0.05/3
        (-0.1, 0.6, (-0.5, 0.25), "not supported"),  # a moderate link excluded
        (-0.6, 0.004, (-0.8, 0.35), "not supported"),  # significantly negative
        (0.2, 0.4, (-0.3, 0.6), "inconclusive"),
        (None, None, (None, None), "inconclusive"),
    ],
)
def test_decide_generalization(rho, p, ci, outcome):
    corr = st.Correlation("referential", "posdis", 20, 5, 0, rho, p, *ci)
    v = decide("generalization", "referential: posdis", correlations=[corr])
    assert v.outcome == outcome and not v.too_few_seeds


def test_every_claim_has_every_outcome_tested():
    """The parametrizations above cover each claim's outcomes (a new claim must add
    its own)."""
    assert [c.key for c in st.CLAIMS] == [
        "communication",
        "power_law",
        "compression",
        "convergence",
        "beats_baselines",
        "generalization",
    ]


def test_report_stamp_only_in_quick_mode():
    grid = st.build_grid(st.Args(envs=("pd_hidden",), channels=("vq",)))
    meta = dict(out="x", cwd="y", date="d", command="c", wall_s=1.0, n_runs=0,
                n_diverged=0)  # fmt: skip
    a = st.Aggregates({})
    text = st.render_report(grid, a, [], meta)
    assert st.SMOKE not in text
    quick = st.dataclasses.replace(grid, quick=True)
    assert st.render_report(quick, a, [], meta).startswith(
        "# The AIM claims under controls\n\n> " + st.SMOKE
    )


def test_condition_keys_round_trip():
    for grid in _grids():
        for c in grid.conditions:
            assert st.Condition.parse(c.key) == c
    with pytest.raises(ValueError, match="not a condition key"):
        st.Condition.parse("referential/smoke:mute")


def test_end_to_end_gumbel_is_left_out_where_it_cannot_wire():
    grid = st.build_grid(st.Args(channels=("gumbel_e2e",)))
    keys = [c.key for c in grid.conditions]
    assert keys == ["referential/gumbel_e2e", "referential/gumbel_e2e:mute"]
    assert any("pd_hidden/gumbel_e2e" in n for n in grid.notes)


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--quick", "--full"],
        ["--envs", "nowhere"],
        ["--channels", "smoke_signals"],
        ["--controls", "shuffle"],
        ["--steps", "0"],
        ["--envs", "pd_hidden", "--channels", "gumbel_e2e"],
    ],
)
def test_bad_flags_exit_2(argv, tmp_path):
    with pytest.raises(SystemExit) as exc:
        st.main([*argv, "--out", str(tmp_path / "x"), "--no-progress"])
    assert exc.value.code == 2
    assert not (tmp_path / "x").exists()


def test_existing_study_is_not_overwritten(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(SystemExit) as exc:
        st.main(["--quick", "--out", str(out), "--no-progress"])
    assert exc.value.code == 2 and (out / "keep").exists()
    assert os.listdir(out) == ["keep"]
