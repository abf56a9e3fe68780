"""A strict reader for the TOML config files.

The reader knows the file it reads, so every error names the file and the dotted key. It
rejects unknown keys (a typo must not silently fall back to a default), missing keys and
values of the wrong type.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lis1abm.errors import ConfigError

_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dt.date: "a date (YYYY-MM-DD)",
    dict: "a table",
    list: "a list",
}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error becomes a ConfigError."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, "", f"not valid TOML ({error})") from None


class Section:
    """A view of one table of a config file that tracks which keys were read.

    Call :meth:`get` for each known key, then :meth:`done`, which rejects any key left over.
    """

    def __init__(self, file: str | Path, data: Any, key: str = ""):
        self.file = str(file)
        self.key = key
        if not isinstance(data, Mapping):
            raise ConfigError(self.file, key, "expected a table")
        self.data = data
        self._seen: set[str] = set()

    def _path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, problem: str) -> ConfigError:
        """A ConfigError located at key ``name`` of this section."""
        return ConfigError(self.file, self._path(name), problem)

    def has(self, name: str) -> bool:
        return name in self.data

    def get(
        self,
        name: str,
        kind: type,
        default: Any = ...,
        *,
        signed: bool = False,
        positive: bool = False,
        unit_interval: bool = False,
        choices: Iterable[str] | None = None,
    ) -> Any:
        """Read key ``name`` as type ``kind``.

        ``default`` (when given) is used for a missing key; otherwise a missing key is an error.
        Floats must be finite; numbers must be >= 0 unless ``signed``; ``positive`` requires > 0,
        ``unit_interval`` requires a probability in [0, 1], ``choices`` a string from the set.
        """
        self._seen.add(name)
        if name not in self.data:
            if default is ...:
                raise self.error(name, "missing")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is dt.date and isinstance(value, dt.datetime):
            raise self.error(name, f"expected {_TYPE_NAMES[dt.date]}, got a date-time")
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise self.error(
                name, f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {value!r}"
            )
        if kind is float and not math.isfinite(value):
            # TOML allows nan and inf; no figure of a round is either, and they would pass
            # every range check below (comparisons with nan are all false).
            raise self.error(name, f"expected a finite number, got {value}")
        if kind in (int, float):
            if value < 0 and not signed:
                raise self.error(name, f"must not be negative, got {value}")
            if positive and value <= 0:
                raise self.error(name, f"must be positive, got {value}")
            if unit_interval and value > 1:
                raise self.error(name, f"must be a probability in [0, 1], got {value}")
        if choices is not None and value not in choices:
            raise self.error(name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value

    def section(self, name: str, default: Any = ...) -> Section:
        """The sub-table ``name`` as a Section."""
        value = self.get(name, dict, default)
        return Section(self.file, value, self._path(name))

    def sections(self, name: str, default: Any = ...) -> list[Section]:
        """An array of tables (``[[name]]``) as Sections, located as ``name[i]``."""
        value = self.get(name, list, default)
        return [
            Section(self.file, item, f"{self._path(name)}[{i}]") for i, item in enumerate(value)
        ]

    def done(self) -> None:
        """Reject every key that no :meth:`get` asked for."""
        unknown = [k for k in self.data if k not in self._seen]
        if unknown:
            raise self.error(unknown[0], "unknown key")
