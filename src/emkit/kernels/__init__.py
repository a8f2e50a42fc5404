"""Numeric kernels shared by the models (no model or engine imports here).

``gaussian``: Gaussian log-densities, weighted sufficient statistics and their M-step for the
four covariance structures, with exact handling of missing coordinates. ``kmeans``: weighted
k-means and k-means++ used to start mixtures.
"""

from .gaussian import (
    COVARIANCE_TYPES,
    MissingPattern,
    check_covariance_type,
    covariance_shape,
    gaussian_m_step,
    gaussian_stats,
    gaussian_stats_missing,
    impute_conditional_mean,
    log_gaussian_density,
    log_gaussian_density_missing,
    missing_patterns,
    precisions_cholesky,
)

__all__ = [
    "COVARIANCE_TYPES",
    "MissingPattern",
    "check_covariance_type",
    "covariance_shape",
    "gaussian_m_step",
    "gaussian_stats",
    "gaussian_stats_missing",
    "impute_conditional_mean",
    "log_gaussian_density",
    "log_gaussian_density_missing",
    "missing_patterns",
    "precisions_cholesky",
]
