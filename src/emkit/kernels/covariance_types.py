"""The names of the covariance structures of Gaussian components (scikit-learn's four), the
public spellings of ``covariance_type`` (:mod:`emkit.kernels.covariance_structures` owns them)."""

from .covariance_structures import STRUCTURES

COVARIANCE_TYPES = tuple(STRUCTURES)
