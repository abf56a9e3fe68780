"""Config files read one way: TOML parsed by :mod:`tomllib`, validated by pydantic, and every
mistake reported as one line naming the file, the dotted key and what is wrong.

The four kinds of config (rounds, parameters, experiments, calibration) share these pieces:

- :func:`read_toml` parses a file once into a :class:`Document`, which every loader accepts
  in place of a path, so that a command reads each file once;
- :func:`validate` checks tables against a pydantic model (or dataclass), and
  :func:`config_error` is the one translator from a pydantic error to a
  :class:`~lis1abm.errors.ConfigError`: ``"<file>: <dotted.key>: got <value>; allowed: <what
  the field's declaration allows> (<unit>)"``, ``"missing"``, ``"unknown key"``, or a
  validator's own words (:func:`invalid`);
- :func:`override` sets values by dotted path (``"ranking.education_weight.Norway"``) in a
  config's tables, which the caller validates again.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
import io
import math
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    NamedTuple,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from typing_extensions import is_typeddict

from lis1abm.errors import ConfigError

T = TypeVar("T")


class Document(NamedTuple):
    """A TOML file read once: its path, its tables and its bytes (for provenance hashes)."""

    file: Path
    data: dict[str, Any]
    raw: bytes

    @property
    def text(self) -> str:
        """The file's text with universal newlines, as :meth:`Path.read_text` gives it."""
        return io.StringIO(self.raw.decode("utf-8"), newline=None).read()


def read_toml(source: str | Path | Document) -> Document:
    """Parse a TOML file (a :class:`Document` is returned as it is).

    Raises
    ------
    ConfigError : the file is missing, a directory, or not valid UTF-8 TOML.
    """
    if isinstance(source, Document):
        return source
    path = Path(source)
    try:
        raw = path.read_bytes()
        return Document(path, tomllib.loads(raw.decode("utf-8")), raw)
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, expected a TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(path, "", f"not valid TOML ({error})") from None


@functools.cache
def _adapter(schema: Any) -> TypeAdapter:
    return TypeAdapter(schema)


def validate(schema: type[T], data: Any, file: str | Path, where: str = "") -> T:
    """``data`` validated as ``schema`` (a pydantic model or dataclass, or a stdlib dataclass).

    Parameters
    ----------
    schema : the type to validate into.
    data : the tables, as :func:`read_toml` gives them.
    file : the file named in an error.
    where : a key prefixed to every error's key (``"scenarios[name]"``).

    Raises
    ------
    ConfigError : the first problem, on one line (:func:`config_error`).
    """
    try:
        return _adapter(schema).validate_python(data)
    except ValidationError as error:
        raise config_error(file, error, schema, where) from None


def invalid(problem: str, *loc: str | int) -> PydanticCustomError:
    """A validator's error: ``problem`` in the project's words, located at ``loc`` below the
    value the validator checks (``invalid("expected 2, got 7", "calendar", 1, "round")``)."""
    return PydanticCustomError("invalid", "{problem}", {"problem": problem, "loc": loc})


_MISSING = ("missing", "missing_keyword_argument", "missing_argument")
_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_TABLE = ("dict_type", "model_type", "dataclass_type", "dataclass_args_type")


def config_error(
    file: str | Path,
    error: ValidationError | PydanticCustomError,
    schema: Any = None,
    where: str = "",
) -> ConfigError:
    """The first problem of ``error`` as a one-line ConfigError.

    Parameters
    ----------
    file : the file named in the message.
    error : pydantic's error, or a validator's :func:`invalid` raised outside validation.
    schema : the validated type, whose field declarations say what a wrong value's field
        allows (its range, its choices, and the unit that ends its description).
    where : a key prefixed to the error's key.
    """
    if isinstance(error, PydanticCustomError):
        first = {"type": error.type, "loc": (), "msg": error.message(), "ctx": error.context}
    else:
        first = error.errors(include_url=False)[0]
    ctx = first.get("ctx") or {}
    loc = (*first["loc"], *ctx.get("loc", ()))
    key = ".".join(k for k in (where, dotted(loc)) if k)
    kind, value = first["type"], first.get("input")
    got = "" if "input" not in first or _is_table(value) else f"got {show(value)}; "
    if kind in _MISSING:
        return ConfigError(file, key, "missing")
    if kind in _UNKNOWN:
        return ConfigError(file, key, "unknown key")
    if kind in _TABLE:
        return ConfigError(file, key, f"expected a table, got {show(value)}")
    if kind == "invalid":
        return ConfigError(file, key, f"{got}{first['msg']}")
    allowed = _allowed(schema, first["loc"])
    if allowed:
        return ConfigError(file, key, f"{got}allowed: {allowed}")
    return ConfigError(file, key, f"{got}{first['msg'][:1].lower()}{first['msg'][1:]}")


def dotted(loc: tuple | list) -> str:
    """A location as a dotted key: ``ads[3].positions``; keys holding a dot are quoted as in
    TOML (``parameters."behaviour.withdrawal_probability".upper``)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = f'"{part}"' if "." in part else part
            out += f".{part}" if out else part
    return out


def show(value: Any) -> str:
    """A value as the user wrote it in TOML (``nan``, ``inf``, ``"text"``, ``true``, ``1.5``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dt.date):
        return value.isoformat()
    if _is_table(value):
        return "a table"
    return repr(value)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping | BaseModel) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )


def _allowed(schema: Any, loc: tuple) -> str | None:
    """What the field at ``loc`` of ``schema`` allows, from its declaration (``a finite number
    in [0, 1] (probability)``, ``one of "positions", "report_hires"``); None for a table, a
    union or a location the declarations do not reach."""
    kind, metadata, unit = schema, [], ""
    for part in loc:
        kind, metadata = _unwrap(kind, metadata)
        fields = _fields(kind)
        if fields is not None:
            if part not in fields:
                return None
            field = fields[part]
            kind, metadata = field.annotation, list(field.metadata)
            described = (field.description or "").rstrip()
            unit = described.rpartition("(")[2][:-1] if described.endswith(")") else ""
        elif get_origin(kind) is dict:
            kind, metadata = get_args(kind)[1], []
        elif get_origin(kind) in (list, tuple) and isinstance(part, int):
            kind, metadata = get_args(kind)[0], []
        else:
            return None
    return _describe(kind, metadata, unit)


def _fields(kind: Any) -> dict[str, FieldInfo] | None:
    """The fields of a model, a dataclass or a TypedDict by the key a file uses (the alias,
    if any)."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        fields = kind.model_fields
    elif hasattr(kind, "__pydantic_fields__"):
        fields = kind.__pydantic_fields__
    elif dataclasses.is_dataclass(kind) or is_typeddict(kind):
        hints = get_type_hints(kind, include_extras=True)
        fields = {name: FieldInfo.from_annotation(hint) for name, hint in hints.items()}
    else:
        return None
    return {(f.alias or name): f for name, f in fields.items()}


def _describe(kind: Any, metadata: list, unit: str) -> str | None:
    """What a declared type allows, in words; None for a table."""
    kind, metadata = _unwrap(kind, metadata)
    unit_text = f" ({unit})" if unit else ""
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(show(v) for v in get_args(kind))
    if get_origin(kind) is list:
        size = [m.min_length for m in metadata if getattr(m, "min_length", None)]
        each = _describe(get_args(kind)[0], [], "")
        if not size or each is None:
            return None
        each = each.removeprefix("a finite number ")
        return f"a list of {size[0]} finite numbers, each {each}{unit_text}"
    names = {float: "a finite number", int: "an integer", str: "a string", bool: "true or false"}
    if kind is dt.date:
        return "a date (YYYY-MM-DD)"
    if kind not in names:
        return None
    bound = {  # floats as 1500 rather than 1500.0; integers in full
        k: f"{v:g}" if isinstance(v, float) else str(v)
        for m in metadata
        for k in ("ge", "gt", "le", "lt")
        if (v := getattr(m, k, None)) is not None
    }
    lo = f"[{bound['ge']}" if "ge" in bound else (f"({bound['gt']}" if "gt" in bound else "")
    hi = f"{bound['le']}]" if "le" in bound else (f"{bound['lt']})" if "lt" in bound else "")
    if lo and hi:
        where = f" in {lo}, {hi}"
    elif lo:
        where = f" {'>=' if lo[0] == '[' else '>'} {lo[1:]}"
    elif hi:
        where = f" {'<=' if hi[-1] == ']' else '<'} {hi[:-1]}"
    else:
        where = ""
    return f"{names[kind]}{where}{unit_text}"


def _unwrap(kind: Any, metadata: list) -> tuple[Any, list]:
    """``Annotated[T, m...]`` and ``T | None`` as (T, its constraints), flattening pydantic's
    FieldInfo."""
    while True:
        if get_origin(kind) is Annotated:
            base, *extra = get_args(kind)
            for m in extra:
                metadata.extend(getattr(m, "metadata", [m]))
            kind = base
        elif get_origin(kind) in (Union, types.UnionType):
            options = [a for a in get_args(kind) if a is not type(None)]
            if len(options) != 1:
                return kind, metadata
            kind = options[0]
        else:
            return kind, metadata


def path_keys(tree: Mapping[str, Any], path: str) -> tuple[list[str], str]:
    """The keys of the dotted ``path`` in ``tree`` (nested dicts), and the rest of the path
    that names no key ("" when it all matched).

    Keys may hold dots themselves (trust names such as "St. Olavs hospital", graduation
    periods such as "2024-03..2024-08"), so at each level the longest key that the path
    starts with, followed by a dot or the end, is taken, rather than splitting on every dot.
    """
    keys: list[str] = []
    node: Any = tree
    rest = path
    while rest and isinstance(node, Mapping):
        match = max(
            (k for k in node if rest == k or rest.startswith(k + ".")), key=len, default=None
        )
        if match is None:
            break
        keys.append(match)
        node = node[match]
        rest = rest[len(match) + 1 :]
    return keys, rest


def override(tree: Mapping[str, Any], values: Mapping[str, Any], file: str | Path) -> dict:
    """A copy of ``tree`` (a config's tables as nested dicts) with each value of ``values`` set
    at its dotted path (:func:`path_keys`); the caller validates the result again.

    Raises
    ------
    ConfigError : a path that names no key of ``tree`` ("unknown key", naming ``file``).
    """
    tree = copy.deepcopy(dict(tree))
    for path, value in values.items():
        keys, rest = path_keys(tree, path)
        if rest or not keys:
            raise ConfigError(file, dotted([*keys, rest.split(".")[0]]), "unknown key")
        node = tree
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return tree
