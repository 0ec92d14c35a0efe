"""One command-line convention for every ``python -m experiments.*`` module.

A study's options are one frozen dataclass (records may nest: ``experiments.aim.Args``
holds an ``agents.spec.TrainSpec``, which holds a ``PPOConfig``). Every leaf field is
a flag named after the field (``num_envs`` → ``--num-envs``; nested records are
flattened, so names must be unique), with its help text from the field's
``metadata["help"]`` (never read from source code) and its default. ``Literal`` fields
get ``choices``; ``bool`` fields ``--x/--no-x``; tuples take several values; dict
fields take a JSON object. A field with ``metadata["flag"] = False`` is no flag.

``--config FILE`` (YAML or JSON) sets the same names, flat or nested as in a saved
``config.json``; flags on the command line override it. Unknown keys, bad values and
unknown choices are errors (exit code 2, one line naming the option, the expected and
the received value), never fallbacks. :func:`to_dict` and :func:`from_dict` turn a
record into JSON-able nested dicts and back, with the same checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

__all__ = [
    "build_parser",
    "check_fields",
    "describe",
    "differences",
    "flat_fields",
    "from_dict",
    "load_config",
    "name_flags",
    "parse_args",
    "to_dict",
]

T = TypeVar("T")


def describe(text: str, **extra: Any) -> dict[str, Any]:
    """Field metadata with the help text of a flag: ``field(..., metadata=describe(
    "What it does."))``; ``flag=False`` keeps a field off the command line."""
    return {"help": text, **extra}


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One flag: the path of a leaf field inside the nested record."""

    path: tuple[str, ...]
    field: dataclasses.Field
    type: Any

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def flat_fields(cls: type) -> dict[str, Leaf]:
    """Every leaf field of the (nested) dataclass ``cls``, keyed by its name.

    Raises ``TypeError`` when two leaves share a name (flags must be unique).
    """
    out: dict[str, Leaf] = {}

    def walk(klass: type, prefix: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(klass)
        for f in dataclasses.fields(klass):
            if not f.init:
                continue
            tp = hints[f.name]
            if _is_record(tp):
                walk(tp, (*prefix, f.name))
                continue
            if f.name in out:
                raise TypeError(f"{cls.__name__}: two fields are named {f.name!r}")
            out[f.name] = Leaf((*prefix, f.name), f, tp)

    walk(cls, ())
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _json_dict(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f"expected a JSON object, got {text!r}"
        ) from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _scalar(kind: type, optional: bool):
    """An argparse ``type`` converter for int/float/str (``none`` → None if
    optional)."""

    def parse(text: str):
        if optional and text.lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(
                f"expected {kind.__name__}, got {text!r}"
            ) from err

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _add_leaf(parser: argparse.ArgumentParser, leaf: Leaf) -> None:
    f = leaf.field
    if not f.metadata.get("flag", True):
        return
    tp, optional = _unwrap_optional(leaf.type)
    doc = f.metadata.get("help", "")
    kwargs: dict[str, Any] = {"dest": leaf.name, "default": argparse.SUPPRESS}
    origin = get_origin(tp)
    if tp is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is Literal:
        choices = list(get_args(tp))
        kwargs["choices"] = choices
        kwargs["type"] = _scalar(type(choices[0]), optional)
    elif origin is tuple:
        kwargs["nargs"] = "+"
        kwargs["type"] = _scalar(get_args(tp)[0], False)
    elif tp is dict or origin is dict:
        kwargs["type"] = _json_dict
        kwargs["metavar"] = "JSON"
    elif tp in (int, float, str):
        kwargs["type"] = _scalar(tp, optional)
    else:
        raise TypeError(f"unsupported field type {tp!r} for {leaf.name}")
    kwargs["help"] = f"{doc} (default: {_default(f)!r})".strip()
    parser.add_argument(leaf.flag, **kwargs)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prog: error: <what> (see --help)``, exit 2
    (argparse's default prints the whole usage block first)."""

    def error(self, message: str) -> typing.NoReturn:
        one_line = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {one_line} (see --help)\n")


def build_parser(cls: type, *, prog: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser with one flag per leaf field of ``cls`` plus ``--config``."""
    parser = _Parser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML or JSON file of options (the flag names, with _ or -, flat or "
        "nested as in a saved config.json); flags on the command line override it",
    )
    for leaf in flat_fields(cls).values():
        _add_leaf(parser, leaf)
    return parser


def load_config(path: str) -> dict[str, Any]:
    """The mapping of options in a ``--config`` file (YAML or JSON); ``ValueError``
    naming the file when it is missing, unparsable or not a mapping."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--config: no such file {path!r}")
    text = file.read_text()
    try:
        if file.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:  # noqa: BLE001 - any parse error is a usage error
        one_line = " ".join(str(err).split())
        raise ValueError(f"--config {path}: cannot parse: {one_line}") from err
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a mapping of options")
    return data


# ------------------------------------------------------------------ dict <-> record
def _key(name: Any) -> str:
    return str(name).replace("-", "_")


def _flatten(cls: type, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Flat ``{leaf name: value}`` from flat or nested ``data`` (strict keys)."""
    leaves = flat_fields(cls)
    out: dict[str, Any] = {}

    def walk(klass: type, mapping: Mapping[str, Any], label: str) -> None:
        hints = typing.get_type_hints(klass)
        fields = {f.name: f for f in dataclasses.fields(klass) if f.init}
        for raw, value in mapping.items():
            name = _key(raw)
            if name in fields and _is_record(hints[name]):
                if not isinstance(value, Mapping):
                    raise ValueError(
                        f"{label}: {name!r} must be a mapping of options, got {value!r}"
                    )
                walk(hints[name], value, label)
            elif name in leaves:
                out[name] = value
            else:
                raise ValueError(
                    f"{label}: unknown key {name!r}; expected one of {sorted(leaves)}"
                )

    walk(cls, data, where)
    return out


def _coerce(tp: Any, value: Any) -> Any:
    tp, _ = _unwrap_optional(tp)
    if get_origin(tp) is tuple and isinstance(value, list | int):
        return tuple(value) if isinstance(value, list) else (value,)
    return value


def _check_leaf(leaf: Leaf, value: Any) -> None:
    """Type checks for values that did not come through argparse (config files).

    ``Literal`` fields must hold one of their choices, numbers must be numbers (an
    int field takes no float), tuples their element type, dicts mappings.
    """
    tp, optional = _unwrap_optional(leaf.type)
    name = leaf.name
    if value is None:
        if optional:
            return
        raise ValueError(f"{name} must not be None")
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp):
            raise ValueError(
                f"{name} must be one of {list(get_args(tp))}, got {value!r}"
            )
    elif tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, got {value!r}")
    elif tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
    elif origin is tuple:
        inner = get_args(tp)[0]
        if not isinstance(value, tuple) or not all(
            isinstance(v, inner) and not isinstance(v, bool) for v in value
        ):
            raise ValueError(
                f"{name} must be a list of {inner.__name__}, got {list(value)!r}"
            )
    elif (tp is dict or origin is dict) and not isinstance(value, dict):
        raise ValueError(f"{name} must be a mapping, got {value!r}")


def _build(cls: type[T], flat: Mapping[str, Any]) -> T:
    """The nested record ``cls`` from flat leaf values (defaults elsewhere)."""
    leaves = flat_fields(cls)
    for name, value in flat.items():
        _check_leaf(leaves[name], value)

    def make(klass: type, prefix: tuple[str, ...]) -> Any:
        hints = typing.get_type_hints(klass)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(klass):
            if not f.init:
                continue
            tp = hints[f.name]
            if _is_record(tp):
                kwargs[f.name] = make(tp, (*prefix, f.name))
            elif f.name in flat:
                kwargs[f.name] = _coerce(tp, flat[f.name])
        return klass(**kwargs)

    return make(cls, ())


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "config") -> T:
    """Build ``cls`` from a (flat or nested) mapping, e.g. a saved ``config.json``.

    Raises ``ValueError``/``TypeError`` naming the key on an unknown key or a bad
    value; ``where`` names the source in the message.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of options, got {data!r}")
    leaves = flat_fields(cls)
    flat = {
        k: _coerce(leaves[k].type, v) for k, v in _flatten(cls, data, where).items()
    }
    return _build(cls, flat)


def to_dict(obj: Any) -> dict[str, Any]:
    """A record as nested JSON-able dicts (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def differences(a: Any, b: Any) -> list[str]:
    """Leaf names whose values differ between two records of the same class."""
    left, right = _flat_values(a), _flat_values(b)
    return [k for k in left if left[k] != right.get(k)]


def _flat_values(obj: Any) -> dict[str, Any]:
    out = {}
    for name, leaf in flat_fields(type(obj)).items():
        value = obj
        for part in leaf.path:
            value = getattr(value, part)
        out[name] = value
    return out


def parse_args(
    cls: type[T],
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
    with_given: bool = False,
) -> Any:
    """Parse ``argv`` into a frozen ``cls`` (exit code 2 on any bad input).

    With ``with_given`` returns ``(record, names)``, ``names`` the options set on the
    command line or in its ``--config`` file (the rest are defaults).
    """
    parser = build_parser(cls, prog=prog, description=description)
    ns = vars(parser.parse_args(argv))
    config_path = ns.pop("config", None)
    try:
        values: dict[str, Any] = {}
        if config_path:
            where = f"--config {config_path}"
            from_file = _flatten(cls, load_config(config_path), where)
            _only_flags(cls, from_file, where)
            values.update(from_file)
        values.update(ns)
        leaves = flat_fields(cls)
        values = {k: _coerce(leaves[k].type, v) for k, v in values.items()}
        record = _build(cls, values)
    except (TypeError, ValueError) as err:
        parser.error(name_flags(cls, str(err)))
        raise  # unreachable: parser.error exits
    return (record, set(values)) if with_given else record


def _only_flags(cls: type, values: Mapping[str, Any], where: str) -> None:
    """A ``--config`` file sets options only: a field that is no flag (e.g. the
    per-run ``seed``, set by ``--seeds``) is an error, never recorded and ignored."""
    leaves = flat_fields(cls)
    for name in values:
        if not leaves[name].field.metadata.get("flag", True):
            plural = leaves.get(name + "s")
            hint = f"; use {plural.name!r} ({plural.flag})" if plural else ""
            raise ValueError(
                f"{where}: {name!r} is not an option of this command{hint}"
            )


def name_flags(cls: type, message: str) -> str:
    """``message`` with a leading field name written as its flag
    (``num_envs must be >= 1`` → ``--num-envs must be >= 1``)."""
    leaves = flat_fields(cls)
    head, sep, rest = message.partition(" ")
    name = head.rstrip(":")
    if sep and name in leaves and leaves[name].field.metadata.get("flag", True):
        return leaves[name].flag + head[len(name) :] + sep + rest
    return message


def check_fields(obj: Any) -> None:
    """Check a record's own (non-record) field values against their annotations.

    For records built in Python rather than parsed: ``Literal`` choices, int/float/
    str/bool types, tuples of their element type, mappings. Raises ``ValueError``
    naming the field, the expected and the received value.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if f.init and not _is_record(hints[f.name]):
            _check_leaf(Leaf((f.name,), f, hints[f.name]), getattr(obj, f.name))
