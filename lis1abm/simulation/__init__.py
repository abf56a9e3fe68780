"""Replications of a round: one way to prepare a run, the engines' replications summarised as they
come, the result files, the allocation rules."""
