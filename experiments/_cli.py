"""Command lines from frozen ``Args`` dataclasses, shared by the experiment scripts.

Each field of an ``Args`` dataclass becomes a flag (``env_config`` -> ``--env-config``)
whose help text is the docstring written under the field, whose type comes from the
annotation (``Literal`` -> choices, ``bool`` -> ``--x/--no-x``, ``tuple[int, ...]`` ->
several values, ``dict`` -> JSON), and whose default is the field's. ``--config FILE``
(YAML or JSON) supplies values under the same names; flags given on the command line
override it. Unknown keys, bad values and a failing ``__post_init__`` all end with a
one-line error and exit code 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

__all__ = ["build_parser", "field_docs", "parse_args"]

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under each field of dataclass ``cls``."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


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


def _add_field(
    parser: argparse.ArgumentParser, f: dataclasses.Field, tp: Any, doc: str
):
    tp, optional = _unwrap_optional(tp)
    kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
    default = (
        f.default
        if f.default is not dataclasses.MISSING
        else f.default_factory()  # type: ignore[misc]
        if f.default_factory is not dataclasses.MISSING
        else None
    )
    help_text = f"{doc} (default: {default!r})" if doc else f"(default: {default!r})"
    origin = get_origin(tp)
    if tp is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is Literal:
        choices = list(get_args(tp))
        kwargs["choices"] = choices
        kwargs["type"] = type(choices[0])
    elif origin is tuple:
        inner = get_args(tp)[0]
        kwargs["nargs"] = "+"
        kwargs["type"] = inner
    elif tp is dict or origin is dict:
        kwargs["type"] = _json_dict
        kwargs["metavar"] = "JSON"
    elif tp in (int, float, str):
        kwargs["type"] = tp
    else:
        raise TypeError(f"unsupported field type {tp!r} for {f.name}")
    if optional and kwargs.get("type") in (int, float, str):
        base = kwargs["type"]

        def parse(text: str, base=base):
            return None if text.lower() == "none" else base(text)

        kwargs["type"] = parse
    parser.add_argument(_flag(f.name), help=help_text, **kwargs)


def build_parser(cls: type, *, prog: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser with one flag per field of ``cls`` plus ``--config``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML or JSON file of options (same names as the flags, with _ or -); "
        "flags on the command line override it",
    )
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.init:
            _add_field(parser, f, hints[f.name], docs.get(f.name, ""))
    return parser


def _load_config(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        parser.error(f"--config: no such file {path!r}")
    text = file.read_text()
    try:
        if file.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:  # noqa: BLE001 - any parse error is a usage error
        parser.error(f"--config {path}: cannot parse: {err}")
    if not isinstance(data, dict):
        parser.error(f"--config {path}: expected a mapping of options")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _coerce(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out = dict(values)
    for name, value in values.items():
        tp, _ = _unwrap_optional(hints[name])
        if get_origin(tp) is tuple and isinstance(value, list | int):
            out[name] = tuple(value) if isinstance(value, list) else (value,)
    return out


def parse_args(
    cls: type[T],
    argv: list[str] | None,
    *,
    prog: str,
    description: str,
) -> T:
    """Parse ``argv`` into a frozen ``cls`` (exit code 2 on any bad input)."""
    parser = build_parser(cls, prog=prog, description=description)
    ns = vars(parser.parse_args(argv))
    config_path = ns.pop("config", None)
    values: dict[str, Any] = {}
    allowed = {f.name for f in dataclasses.fields(cls) if f.init}
    if config_path:
        loaded = _load_config(config_path, parser)
        unknown = sorted(set(loaded) - allowed)
        if unknown:
            parser.error(
                f"--config {config_path}: unknown key {unknown[0]!r}; "
                f"expected one of {sorted(allowed)}"
            )
        values.update(loaded)
    values.update(ns)
    try:
        return cls(**_coerce(cls, values))
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    raise AssertionError("unreachable")  # parser.error exits


def check_fields(obj: Any) -> None:
    """Check a dataclass instance's values against its annotations.

    ``Literal`` fields must hold one of their choices, numbers must be numbers, tuples
    hold their element type. Raises ``ValueError`` naming the field, the allowed values
    and the value received (for values that came from a config file, where argparse's
    own checks did not run).
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        tp, optional = _unwrap_optional(hints[f.name])
        if value is None:
            if optional:
                continue
            raise ValueError(f"{f.name} must not be None")
        origin = get_origin(tp)
        if origin is Literal:
            if value not in get_args(tp):
                raise ValueError(
                    f"{f.name} must be one of {list(get_args(tp))}, got {value!r}"
                )
        elif tp is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{f.name} must be true or false, got {value!r}")
        elif tp in (int, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or (tp is int and not float(value).is_integer()):
                raise ValueError(f"{f.name} must be {tp.__name__}, got {value!r}")
        elif origin is tuple:
            inner = get_args(tp)[0]
            if not isinstance(value, tuple) or not all(
                isinstance(v, inner) for v in value
            ):
                raise ValueError(
                    f"{f.name} must be a list of {inner.__name__}, got {value!r}"
                )
        elif (tp is dict or origin is dict) and not isinstance(value, dict):
            raise ValueError(f"{f.name} must be a mapping, got {value!r}")
