"""``python -m lis1abm.cli``: the command line."""

from lis1abm.cli.app import main

main()
