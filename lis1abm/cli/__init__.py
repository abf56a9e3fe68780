"""The command line (``lis1abm``)."""

from lis1abm.cli.app import app, main

__all__ = ["app", "main"]
