"""User-facing errors.

Every mistake a user can make in a config file or on the command line becomes a
:class:`UserError`; the command line prints its one-line message and exits with code 2,
without a traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A mistake in the user's input, reported as one line."""


class ConfigError(UserError):
    """A problem in a config file, located by file and dotted key.

    Parameters
    ----------
    file : path of the config file.
    key : dotted key inside the file (``"ads[3].positions"``), or ``""`` for the whole file.
    problem : what is wrong, in a few words.
    """

    def __init__(self, file: str | Path, key: str, problem: str):
        self.file = str(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {problem}")
