"""One command-line convention for every ``experiments.*`` module."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field

import pytest

from experiments import _cli

MODULES = ["aim", "aim_study", "gendiff", "bias"]


@pytest.mark.parametrize("name", MODULES)
def test_every_flag_has_help_from_field_metadata(name):
    module = importlib.import_module(f"experiments.{name}")
    leaves = _cli.flat_fields(module.Args)
    parser = _cli.build_parser(module.Args, prog=name, description="")
    text = parser.format_help()
    for leaf in leaves.values():
        if not leaf.field.metadata.get("flag", True):
            continue
        assert leaf.field.metadata.get("help"), f"{name}: {leaf.name} has no help"
        assert leaf.flag in text


@pytest.mark.parametrize("name", MODULES)
def test_every_module_parses_with_the_shared_helper(name, capsys):
    module = importlib.import_module(f"experiments.{name}")
    with pytest.raises(SystemExit) as exc:
        _cli.parse_args(module.Args, ["--no-such-flag"], prog=name, description="")
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@dataclass(frozen=True)
class Inner:
    lr: float = field(default=0.1, metadata=_cli.describe("Learning rate."))
    mode: str = field(default="a", metadata=_cli.describe("Mode."))


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    seeds: tuple[int, ...] = field(default=(0,), metadata=_cli.describe("Seeds."))
    name: str | None = field(default=None, metadata=_cli.describe("Name."))


def test_records_round_trip_through_dicts_flat_or_nested():
    outer = Outer(inner=Inner(lr=0.5), seeds=(1, 2))
    data = _cli.to_dict(outer)
    assert data == {"inner": {"lr": 0.5, "mode": "a"}, "seeds": [1, 2], "name": None}
    assert _cli.from_dict(Outer, data) == outer
    assert _cli.from_dict(Outer, {"lr": 0.5, "seeds": [1, 2]}) == outer
    assert _cli.differences(outer, Outer()) == ["lr", "seeds"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"lrr": 1}, "unknown key 'lrr'"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"seeds": [1.5]}, "seeds must be a list of int"),
        ({"inner": 3}, "'inner' must be a mapping"),
        ({"seeds": None}, "seeds must not be None"),
    ],
)
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ValueError, match=message):
        _cli.from_dict(Outer, data)


def test_flags_must_be_unique_across_nested_records():
    @dataclass(frozen=True)
    class Clash:
        inner: Inner = field(default_factory=Inner)
        lr: float = 1.0

    with pytest.raises(TypeError, match="two fields are named 'lr'"):
        _cli.flat_fields(Clash)


def test_flag_false_keeps_a_field_off_the_command_line():
    from agents.spec import TrainSpec

    assert not _cli.flat_fields(TrainSpec)["seed"].field.metadata.get("flag", True)
    parser = _cli.build_parser(TrainSpec, prog="x", description="")
    assert "--seed " not in parser.format_help()
    assert dataclasses.is_dataclass(TrainSpec)
