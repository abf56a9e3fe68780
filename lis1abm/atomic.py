"""Files written all or nothing: a temporary file beside the target, renamed onto it.

``tempfile`` makes its files and folders private (0600, 0700) whatever the user's umask; the
results, figures and parameter files are for reading by others (a shared project folder on a
cluster), so what is put in place gets the permissions of any new file (0666 or 0777 less
the umask).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cannot_write_in(folder: str | Path) -> str | None:
    """Why no file can be made in ``folder`` (an existing folder), or None if one can: a file
    is made there and removed, since permission bits say nothing of a read-only file system,
    of ``/proc``, or to a process running as root."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def as_new(path: str | Path) -> Path:
    """Give ``path`` the permissions a new file (or folder) would get from the umask."""
    path = Path(path)
    path.chmod((0o777 if path.is_dir() else 0o666) & ~_umask())
    return path


@contextmanager
def replacing(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; renamed onto ``target`` when the block
    ends without an error, removed when it raises. ``suffix`` keeps a file type's extension
    for writers that look at it."""
    target = Path(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(as_new(tmp), target)
    finally:
        tmp.unlink(missing_ok=True)
