"""Numeric kernels shared by the mixture models (no model imports here)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def log_normalize(log_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``log p(x_i, z_i = k)`` into log-responsibilities and ``log p(x_i)``.

    ``log r_ik = log p(x_i, k) − log Σ_j p(x_i, j)``, computed with logsumexp along the last axis.
    Returns ``(log_resp, log_marginal)``.
    """
    log_marginal = logsumexp(log_joint, axis=-1)
    return log_joint - log_marginal[..., None], log_marginal


def safe_log(x: np.ndarray) -> np.ndarray:
    """``log x`` with ``log 0 = −inf`` and no divide-by-zero warning."""
    with np.errstate(divide="ignore"):
        return np.log(x)


def all_finite(X: np.ndarray) -> bool:
    """Whether the float array ``X`` holds no NaN and no infinity.

    One pass and no temporary in the usual case: a sum of finite numbers is finite unless it
    overflows, and a NaN or infinity makes it NaN or infinite; only a sum that is not finite
    is followed by the element-wise check (which tells overflow from a non-finite entry)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(X)):
            return True
    return bool(np.isfinite(X).all())
