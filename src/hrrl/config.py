"""Experiment configuration: frozen dataclasses, YAML in and out, ``--set key=value`` overrides.

A config is a tree of frozen dataclasses, one per component, gathered in
:class:`hrrl.experiment.ExperimentConfig`. This module holds the generic machinery, which works
on any such tree:

* :func:`to_dict` / :func:`from_dict` turn a tree into plain data and back (tuples become lists
  in YAML and are restored from the field's annotation; unknown keys are refused by name);
* :func:`apply_overrides` applies ``section.field=value`` strings, the value parsed as YAML
  (``agent.lr=3e-4``, ``exploration.kind=decay``, ``puzzle.actions=[1,3,5]``); an unknown key is
  refused with the nearest known one suggested;
* :func:`field_docs` reads each field's docstring from the source (Python keeps none at run
  time) and :func:`commented_yaml` prints a config with them as comments;
* each dataclass validates itself in ``__post_init__``, so a bad value is refused with the
  field, the value and the allowed range wherever the config comes from.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import functools
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hrrl.errors import ConfigError, field_error

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a dataclass tree (tuples as lists), ready for YAML or JSON."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        out[f.name] = _plain(getattr(config, f.name))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, path: str = "") -> T:
    """Build ``cls`` from plain data, recursing into nested dataclass fields.

    Missing keys take the field's default; unknown keys raise :class:`ConfigError` naming the
    key and the known ones.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or cls.__name__} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {_join(path, unknown[0])!r}{did_you_mean(unknown[0], fields)}: "
            f"known keys here are {sorted(fields)}"
        )
    kwargs = {name: _coerce(hints[name], data[name], _join(path, name)) for name in data}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # wrong constructor usage is a config error, not a crash
        raise ConfigError(f"{path or cls.__name__}: {exc}") from exc


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'lr'?)"`` for the known name nearest ``name``, or ``""`` for none near."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(annotation: Any, value: Any, path: str) -> Any:
    """Turn plain YAML data into the annotated type, refusing values of the wrong type by path.

    ``int`` takes integers only (not booleans), ``bool`` only booleans, ``str`` only strings;
    ``float`` takes any real number, and a string that ``float()`` reads, because YAML 1.1 (PyYAML)
    reads ``3e-4`` (no dot) as a string. Fixed-length tuples need exactly that many items.
    """
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise field_error(ConfigError, path, value, "it is a section: give a mapping of fields")
        return from_dict(annotation, value, path=path)  # type: ignore[arg-type]
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return _coerce(args[0], value, path)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise field_error(ConfigError, path, value, "give a list, e.g. [1, 3, 5]")
        items = typing.get_args(annotation)
        if len(items) == 2 and items[1] is Ellipsis:
            return tuple(_coerce(items[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(items):
            raise field_error(ConfigError, path, value, f"give a list of {len(items)} items")
        return tuple(
            _coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(items, value, strict=True))
        )
    return _scalar(annotation, value, path)


def _scalar(annotation: Any, value: Any, path: str) -> Any:
    if annotation is bool and not isinstance(value, bool):
        raise field_error(ConfigError, path, value, "use true or false")
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise field_error(ConfigError, path, value, "it must be an integer")
    if annotation is float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise field_error(ConfigError, path, value, "it must be a number, e.g. 3.0e-4")
        return float(value)
    if annotation is str and not isinstance(value, str):
        raise field_error(ConfigError, path, value, "it must be a string")
    return value


def apply_overrides(config: T, overrides: Iterable[str]) -> T:
    """Return ``config`` with each ``section.field=value`` applied (value parsed as YAML)."""
    data = to_dict(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"--set {item!r}: write it as section.field=value, e.g. agent.lr=3e-4"
            )
        try:
            value = safe_yaml(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc})") from exc
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                sections = sorted(k for k, v in node.items() if isinstance(v, dict))
                raise ConfigError(
                    f"--set {key}: {part!r} is not a config section"
                    f"{did_you_mean(part, sections)}; sections here are {sections}"
                )
            node = child
        if parts[-1] not in node:
            raise ConfigError(
                f"--set {key}: unknown key {parts[-1]!r}{did_you_mean(parts[-1], node)}; "
                f"known keys here are {sorted(node)}"
            )
        old = node[parts[-1]]
        # A mapping for a whole section changes the fields it names and keeps the others.
        node[parts[-1]] = merge(old, value) if isinstance(old, dict) else value
    return from_dict(type(config), data)


def merge(base: dict[str, Any], update: Any) -> Any:
    """``update`` laid over ``base``: a mapping changes the keys it names (recursively into
    sections) and keeps the others; anything else replaces ``base`` outright."""
    if not isinstance(update, Mapping):
        return update
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(out.get(k), dict) else v
    return out


def save_yaml(config: Any, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")


def utf8_problem(raw: bytes) -> str | None:
    """Why ``raw`` (one line of a text file) is not plain UTF-8, or None when it is.

    A byte-order mark is reported too: JSON Lines are UTF-8 without one.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return "it starts with a UTF-8 byte-order mark (BOM): save the file as UTF-8 without BOM"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not UTF-8: save the "
            "file as UTF-8"
        )
    return None


def read_utf8(path: Path) -> str:
    """The text of a UTF-8 file (a leading BOM, which YAML allows, is dropped); a
    :class:`ConfigError` naming the file, the line and the byte otherwise."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path} line {line}, column {column}: byte 0x{raw[exc.start]:02x} is not UTF-8: "
            "save the file as UTF-8"
        ) from None


#: How deep a config's YAML may nest (hrrl's own configs nest four levels).
YAML_MAX_DEPTH = 64


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded: no aliases (one ``*name`` may stand for exponentially much
    data, a "billion laughs"), and no nesting past :data:`YAML_MAX_DEPTH` (deeper input would
    exhaust the composer's recursion)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in an hrrl config: write it out", mark
            )
        if self._depth >= YAML_MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {YAML_MAX_DEPTH} levels", mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` of config text, bounded (:class:`_ConfigLoader`)."""
    return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader: builds plain data only


def read_yaml(path: Path) -> Any:
    """The data of a YAML file (empty: ``{}``); bad bytes, malformed YAML, an alias or nesting
    past :data:`YAML_MAX_DEPTH` are a :class:`ConfigError` naming the file and line."""
    try:
        return safe_yaml(read_utf8(path)) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{path}{line} is not valid YAML: {detail}") from exc


def load_yaml(cls: type[T], path: Path) -> T:
    """A config from a YAML file; bad bytes or malformed YAML are a :class:`ConfigError` naming
    the file."""
    return from_dict(cls, read_yaml(path))


# --- field documentation ------------------------------------------------------------------------
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """reST markup dropped for a terminal: ``:class:`~a.b.C``` -> ``C``, double backquotes off,
    ``::`` -> ``:``."""

    def role(match: re.Match[str]) -> str:
        target = match.group(1)
        return target.rsplit(".", 1)[-1] if "~" in match.group(0) else target

    text = _ROLE.sub(role, text)
    text = _LITERAL.sub(r"\1", text)
    return text.replace("::", ":")


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls`` (the string literal after the
    annotated assignment), read from the source with :mod:`ast`; a field with none is absent."""
    return dict(_field_docs(cls))


@functools.cache
def _field_docs(cls: Any) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    if not isinstance(body, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    for node, after in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs


def commented_yaml(config: Any, *, width: int = 96) -> str:
    """``config`` as YAML (what ``save_yaml`` writes), each field preceded by its docstring as a
    ``#`` comment and each section by its class docstring's first line."""
    lines: list[str] = []
    _commented(config, 0, lines, width)
    return "\n".join(lines) + "\n"


def _commented(config: Any, indent: int, lines: list[str], width: int) -> None:
    pad = " " * indent
    docs = field_docs(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        doc = docs.get(f.name)
        if doc is None and dataclasses.is_dataclass(value):
            doc = (inspect.getdoc(type(value)) or "").split("\n\n")[0]
        if doc:
            for text in textwrap.wrap(plain_text(" ".join(doc.split())), width - indent - 2):
                lines.append(f"{pad}# {text}")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            lines.append(f"{pad}{f.name}:")
            _commented(value, indent + 2, lines, width)
        else:
            # Lists of scalars in flow style ([1, 3, 5]), everything else in block style.
            flow = None if isinstance(value, tuple | list) else False
            dumped = yaml.safe_dump(
                {f.name: _plain(value)}, sort_keys=False, default_flow_style=flow, width=10**6
            )
            lines.extend(textwrap.indent(dumped.rstrip("\n"), pad).split("\n"))


def diff(old: Any, new: Any) -> list[str]:
    """Human-readable list of ``key: old -> new`` for every leaf that differs."""
    out: list[str] = []
    _diff(to_dict(old), to_dict(new), "", out)
    return out


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _diff(a.get(key), b.get(key), _join(path, key), out)
    elif a != b:
        out.append(f"{path}: {a!r} -> {b!r}")


# --- validation helpers the component configs share ---------------------------------------------
def check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ConfigError unless ``low <(=) value <(=) high``; the message names the range."""
    bad = (
        (low is not None and (value <= low if low_open else value < low))
        or (high is not None and (value >= high if high_open else value > high))
        or value != value  # NaN
    )
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ConfigError(f"{name}={value!r} is out of range: it must be in {rng}")


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> None:
    """Raise ConfigError unless ``value`` is an integer (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(ConfigError, name, value, "it must be an integer")
    check_range(name, value, low=low, high=high)


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    options = list(choices)
    if value not in options:
        raise ConfigError(f"{name}={value!r} is not allowed: choose one of {options}")
