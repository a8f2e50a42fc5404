"""Gaussian log-densities of single rows by the direct formula, safe from overflow.

The product form (:mod:`emkit.kernels.gaussian_mixture_estep`) is fast but loses the digits of
a row far from its centre in units of a narrow component, and overflows for a row whose square
does not fit in a float. The few rows it cannot be trusted with get the direct formula here:

    log N(x_o | μ_k,o, Σ_k,oo) = −½ |o| log 2π − ½ log det Σ_k,oo − ½ q_ik,
    q_ik = ‖z_ik‖²,  z_ik = L_k,o⁻¹ (x_o − μ_k,o)   (L_k,o the Cholesky factor of Σ_k,oo),

the difference formed before the product (so no digits are lost), and ``q`` carried as
``log q`` computed from ``(x − μ)/c`` with ``c`` a power of two about the row's largest
magnitude (an exact division), so that a row at 10¹⁵⁵ still has a finite ``log q`` (where ``q``
itself is beyond float64).

With ``log q`` the posterior of a row whose log-densities are all −∞ by overflow is its limit:
``−½ q_k`` differences are then infinite, so the components with the smallest ``q`` take all
the mass (:func:`log_posterior`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .covariance_structures import CovarianceType, covariance_structure
from .gaussian import LOG_2PI, _ObservedFactor, precisions_cholesky

#: The log-density given to the nearest components of a row whose log-densities are all below
#: the float range, where a finite stand-in is needed (an HMM's emissions: the recursions then
#: give proper posteriors, and a sequence log-likelihood at or below :data:`LOST` means −∞).
LOST = -1e300

#: Rows (or means) larger than this in magnitude are scaled by a power of two before the
#: difference is whitened, so that ``q`` cannot overflow on the way.
SCALE_ABOVE = 1e150


def log_distances(X: np.ndarray, means: np.ndarray, covariances,
                  covariance_type: CovarianceType) -> tuple[np.ndarray, np.ndarray]:
    """``(log q, constant)``, both ``(n, k)``: ``log q_ik = log ‖L_k,o⁻¹ (x_i,o − μ_k,o)‖²`` over the
    observed (non-NaN) coordinates of each row (−∞ where ``x = μ``) and
    ``constant_ik = −½ |o_i| log 2π − ½ log det Σ_k,o_i o_i``.

    ``X`` (n, d) float64 with NaN for missing values (every row with an observed value),
    ``means`` (k, d), ``covariances`` shaped by ``covariance_type``.
    """
    X = np.asarray(X, dtype=float)
    means = np.asarray(means, dtype=float)
    n, d = X.shape
    k = means.shape[0]
    log_q = np.empty((n, k))
    constant = np.empty((n, k))
    if n == 0:
        return log_q, constant
    # fmax skips NaN quietly: a row with nothing observed (density 1, set by the callers) gets the means' size
    largest = np.fmax(np.fmax.reduce(np.abs(X), axis=1), np.abs(means).max())
    # a power of two (division by it is exact), only for rows whose squares may overflow
    scale = np.where(largest > SCALE_ABOVE, np.ldexp(1.0, np.frexp(largest)[1] - 1), 1.0)   # ≤ largest < 2·scale
    scaled_means = means[None, :, :] / scale[:, None, None]                          # (n, k, d)
    diff = X[:, None, :] / scale[:, None, None] - scaled_means                       # |diff| < 4
    holes = np.isnan(X)
    structure = covariance_structure(covariance_type)
    if structure.diagonal:
        variances = structure.diagonal_variances(np.asarray(covariances, dtype=float), k, d)
        scales = precisions_cholesky(variances, "diag")                           # 1/σ (k, d)
        z = np.where(holes[:, None, :], 0.0, diff) * scales[None]
        observed = (~holes).astype(float)
        constant[:] = -0.5 * (observed.sum(axis=1)[:, None] * LOG_2PI + observed @ np.log(variances).T)
        squares = np.einsum("nkd,nkd->nk", z, z)
    else:
        covariances = structure.full_matrices(covariances, k, d)
        squares = np.empty((n, k))
        for pattern, rows in _patterns(holes):
            observed, missing = np.flatnonzero(~pattern), np.flatnonzero(pattern)
            for j in range(k):
                factor = _ObservedFactor(covariances[j], observed, missing, f"component {j}")
                z = solve_triangular(factor.lower, diff[np.ix_(rows, [j], observed)][:, 0, :].T, lower=True,
                                     check_finite=False)
                squares[rows, j] = np.einsum("ij,ij->j", z, z)
                constant[rows, j] = -0.5 * (observed.size * LOG_2PI + factor.log_det)
    with np.errstate(divide="ignore"):
        log_q[:] = np.log(squares) + 2.0 * np.log(scale)[:, None]
    return log_q, constant


def log_posterior(base: np.ndarray, log_q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log joint, log r, log p)`` of rows from ``base_ik = log π_k + constant_ik`` and ``log q``
    (:func:`log_distances`): the log-joint ``base − ½ q`` (n, k), log-posteriors (n, k) and
    log-densities (n,).

    A row whose log-joint is −∞ for every component (its distances overflow) has log-density
    −∞ and the limit posterior: the components of positive weight with the smallest ``q`` share
    the mass in proportion to ``exp(base)``.
    """
    with np.errstate(over="ignore"):
        log_joint = base - 0.5 * np.exp(log_q)
    largest = log_joint.max(axis=1)
    lost = np.isneginf(largest)
    with np.errstate(divide="ignore", invalid="ignore"):
        # normalised as probabilities (not as log_joint − log p, which rounds to 0 for every
        # component when |log p| is beyond 1/ε)
        shares = np.exp(log_joint - np.where(lost, 0.0, largest)[:, None])
        total = shares.sum(axis=1)
        log_marginal = largest + np.log(total)
        log_resp = np.log(shares / total[:, None])
    if np.any(lost):
        nearest = np.where(np.isneginf(base[lost]), np.inf, log_q[lost])
        tie = np.where(nearest == nearest.min(axis=1, keepdims=True), base[lost], -np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = np.exp(tie - tie.max(axis=1, keepdims=True))
            log_resp[lost] = np.log(shares / shares.sum(axis=1, keepdims=True))
        log_marginal[lost] = -np.inf
    return log_joint, log_resp, log_marginal


def with_limits(log_densities: np.ndarray, X: np.ndarray, means: np.ndarray, covariances,
                covariance_type: CovarianceType) -> np.ndarray:
    """``log_densities`` (n, k) of the rows ``X`` (log N of each component, as the direct
    formula gives them), with each row that is −∞ for every component replaced by its limit:
    :data:`LOST` for the components of smallest ``q`` (:func:`log_distances`), −∞ for the others."""
    lost = np.flatnonzero(np.isneginf(log_densities).all(axis=1))
    if lost.size:
        log_q, constant = log_distances(X[lost], means, covariances, covariance_type)
        log_densities[lost] = finite_stand_in(*log_posterior(constant, log_q)[:2])
    return log_densities


def finite_stand_in(log_joint: np.ndarray, log_resp: np.ndarray) -> np.ndarray:
    """``log_joint`` (n, k), with each row that is −∞ for every component replaced by its limit
    ``LOST + log r`` (the posterior of :func:`log_posterior`): a finite stand-in for recursions
    that need one."""
    lost = np.isneginf(log_joint).all(axis=1)
    return np.where(lost[:, None], LOST + log_resp, log_joint)


def _patterns(holes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(pattern, rows)`` for each distinct row of the missing-value mask ``holes`` (one group,
    without sorting, for complete rows)."""
    if not holes.any():
        return [(holes[0], np.arange(holes.shape[0]))]
    patterns, inverse = np.unique(holes, axis=0, return_inverse=True)
    return [(pattern, np.flatnonzero(np.ravel(inverse) == index)) for index, pattern in enumerate(patterns)]
