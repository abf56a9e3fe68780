"""The parts folder of a run split into tasks, task keys and the code's digest.

A task's result is one Parquet file, ``<folder>/<task key>.parquet``, written to a temporary
file in the same folder and renamed into place (:func:`lis1abm.atomic.replacing`), so a
part is either complete or absent, whenever the process is killed. A run started again reads
the parts there and computes only the missing ones. Every part written is logged, one line
``<key> <pid> <time>`` in ``parts.log``, so that a run's history shows that no part was
computed twice.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lis1abm.atomic import replacing
from lis1abm.compiled import source_digest

if TYPE_CHECKING:
    import pandas as pd

LOG = "parts.log"
"""The folder's log of parts written."""
SUFFIX = ".parquet"


def code_digest() -> str:
    """A digest of the code (16 hex digits): the path and bytes of every source file of the
    package, the numba version and the bounds-checking setting, as keys the compiled
    engine's cache (:func:`lis1abm.compiled.source_digest`). A task key holds it, so that
    parts made by other code (a changed engine, a changed tally) are never reused, whether or
    not the code is committed."""
    return source_digest()


def task_key(*fields: object) -> str:
    """A task key from its fields (experiment, scenario, replication range, digests...): in
    each field, runs of characters other than letters, digits, ``.``, ``_`` and ``-`` become
    ``_`` and runs of ``-`` one ``-``; the fields are joined by ``--``. A file name and a Dask
    key both."""
    return "--".join(
        re.sub("-+", "-", re.sub(r"[^A-Za-z0-9._-]+", "_", str(f))).strip("_-") for f in fields
    )


class PartStore:
    """The parts of one run, in ``folder`` (made when the first part is written)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def write(self, key: str, table: pd.DataFrame) -> Path:
        """Write a part atomically (a temporary file beside it, then a rename) and log it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(key)
        with replacing(target) as temporary:
            table.to_parquet(temporary, index=False)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        with open(self.folder / LOG, "a", encoding="utf-8") as log:
            log.write(f"{key} {os.getpid()} {stamp}\n")
        return target

    def read(self, key: str) -> pd.DataFrame:
        import pandas as pd  # the command line's --help need not load it

        return pd.read_parquet(self.path(key))

    def logged(self) -> list[str]:
        """The keys of the parts written, in order, over every run that wrote here."""
        log = self.folder / LOG
        if not log.is_file():
            return []
        return [line.split(" ", 1)[0] for line in log.read_text().splitlines() if line]
