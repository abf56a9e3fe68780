"""The built-in round and parameter files, shipped inside the package as ``lis1abm.configs``.

This folder is mapped to that package in ``pyproject.toml``; the module exists so that editable
installs can import it too. Read the files through :mod:`lis1abm.data.files`.
"""
