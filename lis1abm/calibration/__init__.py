"""Calibration of the model to a round's report: a config of free parameters and targets, an
objective on common random numbers, a CMA-ES search in a resumable Optuna study, Laplace
and conditional likelihood intervals, checks on held-out figures, and the calibrated parameter
file."""

from lis1abm.calibration.calibrate import CalibrationResult, calibrate

__all__ = ["CalibrationResult", "calibrate"]
