"""Fuzzing the run configuration: any flag or config-file value either gives a valid
plan or one line on stderr with exit code 2, and nothing is written."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import aim
from experiments._cli import flat_fields

LEAVES = {
    name: leaf
    for name, leaf in flat_fields(aim.Args).items()
    if leaf.field.metadata.get("flag", True) and name not in ("resume", "logdir")
}

values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-2, 2), max_size=2),
)


def _flag_text(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _check(tmp_path, capsys, argv) -> None:
    logdir = tmp_path / "runs"
    try:
        plan = aim._resolve([*argv, "--logdir", str(logdir)])
    except SystemExit as exc:
        assert exc.code == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert "Traceback" not in "\n".join(err)
        assert len(err) == 1, err  # one line, no usage block
        assert err[0].startswith("python -m experiments.aim: error:"), err
    else:
        assert isinstance(plan.args, aim.Args)
    assert not logdir.exists(), "validation wrote something"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.dictionaries(st.sampled_from(sorted(LEAVES)), values, min_size=1, max_size=3))
def test_flags_validate_before_anything_is_written(tmp_path, capsys, options):
    argv = []
    for name, value in options.items():
        argv += [LEAVES[name].flag, _flag_text(value)]
    _check(tmp_path, capsys, argv)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.dictionaries(st.sampled_from(sorted(LEAVES)), values, min_size=1, max_size=3))
def test_config_files_validate_before_anything_is_written(tmp_path, capsys, options):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(options, default=str))
    _check(tmp_path, capsys, ["--config", str(config)])


@pytest.mark.parametrize("text", ["", "[1, 2]", "{", "num_envs: [", "- a\n- b"])
def test_unparsable_config_files(tmp_path, capsys, text):
    config = tmp_path / "run.yaml"
    config.write_text(text)
    _check(tmp_path, capsys, ["--config", str(config)])


def test_a_config_file_cannot_set_a_per_run_field(tmp_path, capsys):
    """``seed`` is set per run by ``--seeds``; a config file that sets it is an
    error, never recorded in config.json and ignored by training."""
    config = tmp_path / "config.yaml"
    config.write_text("seed: 5\n")
    with pytest.raises(SystemExit) as exc:
        aim._resolve(["--config", str(config), "--logdir", str(tmp_path / "runs")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "'seed' is not an option" in err and "--seeds" in err
    assert not (tmp_path / "runs").exists()


def test_errors_name_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        aim._resolve(["--num-envs", "0", "--logdir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "python -m experiments.aim: error: --num-envs must be >= 1, got 0 (see --help)"
    ]


@pytest.mark.parametrize("hidden", [10**6, 2**60])
def test_huge_networks_are_checked_without_allocating_them(tmp_path, capsys, hidden):
    """The option check builds the networks on the meta device: 10**6 hidden units
    (4 TB of weights) resolve without allocating; a size torch cannot represent
    is one line with exit 2, not a traceback."""
    argv = ["--hidden", str(hidden), "--logdir", str(tmp_path / "runs")]
    if hidden == 10**6:
        assert aim._resolve(argv).args.train.network.hidden == hidden
    else:
        with pytest.raises(SystemExit) as exc:
            aim._resolve(argv)
        assert exc.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "the networks cannot be built" in line
    assert not (tmp_path / "runs").exists()
