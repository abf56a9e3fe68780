"""Dotted paths into the parameters: ``ranking.proficiency_weight``,
``ranking.education_weight.Norway``, ``ranking.<table>.St. Olavs hospital``.

A path names one number of a parameter file: a table, then keys down to a number. Keys may
themselves hold dots (trust names such as "St. Olavs hospital"), so a path is matched against
the keys that exist, the longest key first (:func:`lis1abm.params.model.path_keys`), rather
than split on every dot.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pydantic import TypeAdapter, ValidationError

from lis1abm.params.model import ParamFile, Params, path_keys

_READER = TypeAdapter(ParamFile)


class PathError(ValueError):
    """A path that names no number of the parameters (the message says what exists)."""


def resolve(tree: dict, path: str) -> list[str]:
    """The keys of ``path`` in ``tree`` (nested dicts), down to a number.

    Raises
    ------
    PathError : no such key at some level, or the path ends at a table or a list.
    """
    keys, rest = path_keys(tree, path)
    node: Any = tree
    for key in keys:
        node = node[key]
    if rest:
        where = ".".join(keys) or "the parameters"
        if not isinstance(node, dict):
            raise PathError(f"{where} is not a table (it holds {type(node).__name__})")
        known = ", ".join(map(repr, node))
        raise PathError(f"unknown parameter {path!r} ({where} has: {known})")
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise PathError(f"{path!r} is not a number (a {type(node).__name__}; name one entry)")
    return keys


def tree_of(params: Params) -> dict:
    """The parameter file's tables as nested dicts (without the ``file`` entry)."""
    tree = params.to_dict()
    tree.pop("file", None)
    return tree


def value_at(params: Params, path: str) -> float:
    """The number at ``path`` in ``params``."""
    node: Any = tree_of(params)
    for key in resolve(node, path):
        node = node[key]
    return float(node)


def with_values(params: Params, values: dict[str, float], file: str = "") -> Params:
    """``params`` with the numbers at the given paths replaced, validated as a parameter file
    is (ranges, keys).

    Raises
    ------
    PathError : an unknown path.
    pydantic.ValidationError : a value outside its parameter's range.
    """
    tree = copy.deepcopy(tree_of(params))
    for path, value in values.items():
        keys = resolve(tree, path)
        node = tree
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = float(value)
    tables = _READER.validate_python(tree)
    fields = {f.name: getattr(tables, f.name) for f in dataclasses.fields(ParamFile)}
    return Params(**fields, file=file or params.file)


def range_problem(params: Params, path: str, value: float) -> str | None:
    """Why ``value`` cannot stand at ``path`` (pydantic's message), or None if it can."""
    try:
        with_values(params, {path: value})
    except ValidationError as error:
        return error.errors(include_url=False)[0]["msg"]
    return None
