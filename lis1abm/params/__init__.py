"""The model's parameters: one frozen, validated object read from a TOML file."""

from lis1abm.params.model import DEFAULT_PARAMS, Params, load_params, with_overrides

__all__ = ["DEFAULT_PARAMS", "Params", "load_params", "with_overrides"]
