"""The market of a round: its inputs, the synthetic population, the applications and the hospitals'
ranking."""
