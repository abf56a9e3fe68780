"""Dotted paths into the parameters: ``ranking.proficiency_weight``,
``ranking.education_weight.Norway``, ``ranking.<table>.St. Olavs hospital``.

A path names one number of a parameter file: a table, then keys down to a number. Keys may
themselves hold dots (trust names such as "St. Olavs hospital"), so a path is matched against
the keys that exist, the longest key first (:func:`lis1abm.data.config.path_keys`), rather
than split on every dot. Values are set by the parameters' one override mechanism,
:func:`lis1abm.params.with_overrides`.
"""

from __future__ import annotations

from typing import Any

from lis1abm.data.config import path_keys
from lis1abm.errors import ConfigError
from lis1abm.params import Params, with_overrides


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


def range_problem(params: Params, path: str, value: float) -> str | None:
    """Why ``value`` cannot stand at ``path`` (what the parameter allows), or None if it can."""
    try:
        with_overrides(params, {path: value})
    except ConfigError as error:
        return error.problem
    return None
