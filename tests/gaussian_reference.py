"""Gaussian covariances of any covariance type as full matrices, for reference computations
(scipy's densities take full matrices)."""

from __future__ import annotations

import numpy as np


def full_covariances(covariances, covariance_type: str, k: int, d: int) -> np.ndarray:
    """``(k, d, d)`` covariance matrices from scikit-learn-shaped ``covariances``."""
    cov = np.asarray(covariances, dtype=float)
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.broadcast_to(cov, (k, d, d))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([c * np.eye(d) for c in cov])
