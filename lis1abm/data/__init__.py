"""The round files and the package's built-in data: read once, validated, one-line errors."""
