"""Gaussian log-densities and statistics from features of the data computed once.

The product form of :mod:`emkit.kernels.gaussian_mixture_estep` writes the log-density of a row
under every component as ``φ(y)ᵀ θ_k`` with ``y = x − c`` about a fixed centre ``c`` and
``φ(y) = [1, y, (y_i y_j)_{i≤j}]`` (full, tied) or ``[1, y, y²]`` (diag, spherical), and the
expected sufficient statistics of rows with weights ``R`` as ``Φᵀ R``. The features ``Φ`` depend on
the data alone, so a model that visits the same rows at every iteration (an HMM's emissions)
computes them once (:func:`statistic_features`) and then needs, per E-step, one matrix product
for all log-densities (:func:`feature_log_densities`) and one for all statistics
(:func:`feature_stats`). Complete rows only (no NaN): rows with missing values take the direct
formulas of :mod:`emkit.kernels.gaussian`.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .gaussian import check_covariance_type
from .gaussian_direct import finite_stand_in
from .gaussian_mixture_estep import (
    ERROR_FACTOR,
    FLOAT64_TOLERANCE,
    MixtureTerms,
    diagonal_features,
    exact_rows,
    full_features,
    may_be_untrusted,
    mixture_terms,
)

FULL_TYPES = ("full", "tied")


def n_complete_features(covariance_type: str, n_features: int) -> int:
    """Length ``p`` of ``φ(y)`` for complete rows: ``1 + d + d(d+1)/2`` (full, tied) or ``1 + 2d``."""
    d = n_features
    return 1 + d + d * (d + 1) // 2 if check_covariance_type(covariance_type) in FULL_TYPES else 1 + 2 * d


def statistic_features(X: np.ndarray, covariance_type: str, shift: np.ndarray) -> np.ndarray:
    """``Φᵀ``, shape ``(p, n)``: the features ``φ(x_i − c)`` of the complete rows ``X`` (n, d), as columns.

    Raises
    ------
    ValueError
        When ``X`` holds NaN (missing values need the direct formulas).
    """
    X = np.ascontiguousarray(X, dtype=float)
    if np.isnan(X).any():
        raise ValueError("X: statistic_features takes complete rows only (no NaN)")
    shift = np.ascontiguousarray(shift, dtype=float)
    rows = np.arange(X.shape[0])
    out = np.empty((n_complete_features(covariance_type, X.shape[1]), X.shape[0]))
    squares = np.empty(X.shape[0])
    if covariance_type in FULL_TYPES:
        full_features(X, rows, shift, out, squares)
    else:
        diagonal_features(X, rows, shift, out, False, squares)
    return out


def component_terms(means: np.ndarray, covariances: np.ndarray, covariance_type: str,
                    shift: np.ndarray) -> MixtureTerms:
    """The product form ``θ`` of the components ``N(μ_k, Σ_k)`` alone (every weight 1), about ``shift``."""
    return mixture_terms(np.ones(np.shape(means)[0]), means, covariances, covariance_type, shift)


def feature_squares(features: np.ndarray, n_features: int) -> np.ndarray:
    """``‖x_i − c‖²`` of every row from its features (the rows ``1..d`` of ``Φᵀ`` are ``x − c``)."""
    rows = features[1:n_features + 1]
    return np.einsum("ij,ij->j", rows, rows)


def feature_log_densities(features: np.ndarray, X: np.ndarray, terms: MixtureTerms,
                          out: np.ndarray | None = None, squares: np.ndarray | None = None) -> np.ndarray:
    """``log N(x_i | μ_k, Σ_k) = φ(x_i − c)ᵀ θ_k`` of every row ``X[i]`` and component, shape
    ``(n, k)`` (written into ``out`` when given); rows the product cannot be trusted with (far
    from the centre in units of a component, beyond the float range: see
    :func:`~emkit.kernels.gaussian_mixture_estep.untrusted_rows`) by the direct formula
    (:mod:`emkit.kernels.gaussian_direct`), a row below the float range for every component as
    :data:`~emkit.kernels.gaussian_direct.LOST` for its nearest. ``squares``:
    :func:`feature_squares` of the features (computed here when None; they do not change
    between E-steps)."""
    squares = feature_squares(features, terms.n_features) if squares is None else squares
    error_scale = ERROR_FACTOR * np.finfo(float).eps / 2
    suspect = may_be_untrusted(float(squares.max(initial=0.0)), error_scale, terms.error_terms, FLOAT64_TOLERANCE)
    with np.errstate(invalid="ignore", over="ignore") if suspect else contextlib.nullcontext():
        out = np.matmul(features.T, terms.theta[:features.shape[0]], out=out)
    if not suspect:
        return out
    # every state counts (the chain, not the emission alone, decides which states a row may be in)
    exact = exact_rows(out.T, squares, X, None, terms, error_scale, FLOAT64_TOLERANCE, np.inf,
                       np.empty(out.shape[0], dtype=np.int64))
    if exact is not None:
        out[exact.positions] = finite_stand_in(exact.log_joint, exact.log_resp)
    return out


def feature_stats(features: np.ndarray, resp: np.ndarray, covariance_type: str) -> dict[str, np.ndarray]:
    """``Φᵀ R`` unpacked as :func:`emkit.kernels.gaussian.gaussian_stats` returns it: ``n``,
    ``sum_x = Σ_i r_ik y_i`` and ``sum_xx`` (``Σ_i r_ik y_i y_iᵀ`` full, summed over ``k`` tied,
    its diagonal diag, its trace spherical), about the centre of ``features``."""
    totals = (features @ resp).T                                 # (k, p)
    d = (features.shape[0] - 1) // 2 if covariance_type not in FULL_TYPES else _dimension(features.shape[0])
    stats = {"n": totals[:, 0].copy(), "sum_x": totals[:, 1:d + 1].copy()}
    if covariance_type in FULL_TYPES:
        rows, columns = np.triu_indices(d)
        second = np.empty((totals.shape[0], d, d))
        second[:, rows, columns] = totals[:, d + 1:]
        second[:, columns, rows] = totals[:, d + 1:]
        stats["sum_xx"] = second.sum(axis=0) if covariance_type == "tied" else second
    else:
        second = totals[:, d + 1:]
        stats["sum_xx"] = second.sum(axis=1) if covariance_type == "spherical" else second.copy()
    return stats


def _dimension(p: int) -> int:
    """``d`` from ``p = 1 + d + d(d+1)/2``."""
    return (math.isqrt(1 + 8 * p) - 3) // 2
