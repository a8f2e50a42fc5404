"""Gaussian numerics shared by every model with Gaussian components (mixtures, HMM emissions).

Shapes follow scikit-learn: ``X`` is ``(n, d)``, ``means`` ``(k, d)``, responsibilities ``(n, k)``;
covariances are ``(k, d, d)`` (full), ``(d, d)`` (tied, one shared by all components),
``(k, d)`` (diag) or ``(k,)`` (spherical, ``σ_k² I``). Precision Cholesky factors ``P_k`` satisfy
``Σ_k⁻¹ = P_k P_kᵀ`` (upper triangular for full/tied, ``1/σ`` for diag/spherical).

Conventions:

* Log-space throughout; Cholesky factors and triangular solves, never an explicit inverse of a
  covariance; log-determinants from the factor's diagonal.
* Sufficient statistics are sums over rows of ``r_ik`` (responsibilities times any sample
  weights) times ``1``, ``x − c`` and the second moments of ``x − c``, about a fixed shift ``c``
  (e.g. the data mean): the statistics of two row blocks add up to those of the whole provided
  the same shift is used, and second moments do not lose digits to cancellation for data far
  from the origin. :func:`gaussian_m_step` adds the shift back.
* Rows are processed in blocks, so the temporaries are ``O(block·d)``, not ``O(n·d)``.
* Missing values are ``NaN``. The ``*_missing`` functions give the marginal density of the
  observed coordinates and the exact E-step for incomplete data: ``E[x_m | x_o]`` and
  ``Cov[x_m | x_o]`` under each component (rows grouped by missingness pattern for full/tied;
  coordinates are conditionally independent for diag/spherical).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
from numba import njit
from scipy.linalg import solve_triangular

from .covariance_regularization import CovariancePrior
from .covariance_structures import (
    ILL_DEFINED_COVARIANCE,
    CovarianceStructure,
    CovarianceType,
    cholesky_factor as _cholesky,
    covariance_structure,
)
from .covariance_types import COVARIANCE_TYPES  # noqa: F401  (re-exported: callers import it from here)


LOG_2PI = float(np.log(2.0 * np.pi))

#: Rows per block are chosen so that a block holds about this many numbers.
BLOCK_ELEMENTS = 1 << 18


# --------------------------------------------------------------------------------- helpers
def check_covariance_type(covariance_type: CovarianceType) -> CovarianceType:
    """Return ``covariance_type`` if it is one of :data:`COVARIANCE_TYPES` (or a
    :class:`~emkit.kernels.covariance_structures.CovarianceStructure`), else raise ValueError."""
    covariance_structure(covariance_type)
    return covariance_type


def covariance_shape(covariance_type: CovarianceType, n_components: int, n_features: int) -> tuple[int, ...]:
    """Shape of the covariance array: ``(k, d, d)``, ``(d, d)``, ``(k, d)`` or ``(k,)``."""
    return covariance_structure(covariance_type).shape(n_components, n_features)


def row_blocks(n_rows: int, n_columns: int) -> Iterator[slice]:
    """Consecutive row slices of about :data:`BLOCK_ELEMENTS` numbers each."""
    step = max(1, BLOCK_ELEMENTS // max(n_columns, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _as_matrix(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), got shape {X.shape}")
    return X


def _shift(shift, n_features: int) -> np.ndarray:
    if shift is None:
        return np.zeros(n_features)
    shift = np.asarray(shift, dtype=float)
    if shift.shape != (n_features,):
        raise ValueError(f"shift: expected shape ({n_features},), got {shift.shape}")
    return shift


def _check_resp(resp, n_rows: int) -> np.ndarray:
    resp = np.asarray(resp, dtype=float)
    if resp.ndim != 2 or resp.shape[0] != n_rows:
        raise ValueError(f"resp: expected shape ({n_rows}, n_components), got {resp.shape}")
    if np.any(resp < 0):
        raise ValueError("resp: responsibilities (times sample weights) must be non-negative")
    return resp


def _diagonal_variances(covariances, structure: CovarianceStructure, n_components: int,
                        n_features: int) -> np.ndarray:
    """Per-coordinate variances ``(k, d)`` of a diagonal structure's covariance array (checked > 0)."""
    cov = np.asarray(covariances, dtype=float)
    if cov.shape != structure.shape(n_components, n_features):
        raise ValueError(f"covariances: expected shape {structure.shape(n_components, n_features)} "
                         f"for covariance_type={structure.name!r}, got {cov.shape}")
    if not np.all(np.isfinite(cov)) or np.any(cov <= 0):
        raise ValueError(f"covariances: variances must be positive and finite. {ILL_DEFINED_COVARIANCE}")
    return structure.diagonal_variances(cov, n_components, n_features)


# -------------------------------------------------------------------- complete-data kernels
def precisions_cholesky(covariances, covariance_type: CovarianceType) -> np.ndarray:
    """Cholesky factors of the precisions, ``P`` with ``Σ⁻¹ = P Pᵀ``, shaped like ``covariances``.

    For full/tied, ``Σ = L Lᵀ`` (Cholesky) and ``P = L⁻ᵀ`` by a triangular solve; for
    diag/spherical, ``P = 1/√σ²``.

    Raises
    ------
    ValueError
        When a covariance is not positive definite (or not finite); the message names the
        component and the remedy (increase ``reg_covar``).
    """
    structure = covariance_structure(covariance_type)
    return structure.precisions_cholesky(np.asarray(covariances, dtype=float))


def log_det_precision_cholesky(prec_chol: np.ndarray, covariance_type: CovarianceType, n_features: int) -> np.ndarray:
    """``log det P_k = −½ log det Σ_k`` for each component (a scalar for tied)."""
    return covariance_structure(covariance_type).log_det_precision_cholesky(prec_chol, n_features)


def log_gaussian_density(X, means, precisions_cholesky: np.ndarray, covariance_type: CovarianceType) -> np.ndarray:
    """``log N(x_i | μ_k, Σ_k)`` for every row and component, shape ``(n, k)``.

    ``log N = −½ d log 2π + log det P_k − ½ ‖(x_i − μ_k)ᵀ P_k‖²`` (the difference is formed
    before the product, so data far from the origin keep their digits).
    """
    X = _as_matrix(X)
    means = np.asarray(means, dtype=float)
    n, d = X.shape
    if means.ndim != 2 or means.shape[1] != d:
        raise ValueError(f"means: expected shape (k, {d}), got {means.shape}")
    k = means.shape[0]
    structure = covariance_structure(covariance_type)
    pc = np.asarray(precisions_cholesky, dtype=float)
    if pc.shape != structure.shape(k, d):
        raise ValueError(f"precisions_cholesky: expected shape {structure.shape(k, d)}, got {pc.shape}")
    out = np.empty((n, k))
    X, means = np.ascontiguousarray(X), np.ascontiguousarray(means)
    constant = -0.5 * d * LOG_2PI + np.broadcast_to(structure.log_det_precision_cholesky(pc, d), (k,))
    kernel = _log_density_diagonal if structure.diagonal else _log_density_factors
    kernel(X, means, structure.density_factors(pc, k, d), constant, out)
    return out


# Compiled by Numba (added by the HMM work for speed: 10-20x faster than a row-block NumPy loop
# for few features, no n×k temporaries, and the GIL is released so blocks can run in threads).
@njit(cache=True, nogil=True)
def _log_density_factors(X, means, factors, constant, out):  # pragma: no cover - compiled
    """``out[i, k] = constant_k − ½ ‖(x_i − μ_k)ᵀ P_k‖²`` for factors ``P`` (k, d, d), the
    difference formed first."""
    n, d = X.shape
    diff = np.empty(d)
    for i in range(n):
        for k in range(means.shape[0]):
            for j in range(d):
                diff[j] = X[i, j] - means[k, j]
            total = 0.0
            for j in range(d):
                acc = 0.0
                for m in range(d):
                    acc += diff[m] * factors[k, m, j]
                total += acc * acc
            out[i, k] = constant[k] - 0.5 * total


@njit(cache=True, nogil=True)
def _log_density_diagonal(X, means, scales, constant, out):  # pragma: no cover - compiled
    """``out[i, k] = constant_k − ½ Σ_j ((x_ij − μ_kj) s_kj)²`` for diagonal precision factors
    ``s`` (k, d)."""
    n, d = X.shape
    for i in range(n):
        for k in range(means.shape[0]):
            total = 0.0
            for j in range(d):
                z = (X[i, j] - means[k, j]) * scales[k, j]
                total += z * z
            out[i, k] = constant[k] - 0.5 * total


def gaussian_stats(X, resp, covariance_type: CovarianceType, shift=None) -> dict[str, np.ndarray]:
    """Weighted sufficient statistics of complete data about ``shift``.

    With ``y_i = x_i − c``: ``n_k = Σ_i r_ik``, ``sum_x_k = Σ_i r_ik y_i`` and ``sum_xx``:
    ``Σ_i r_ik y_i y_iᵀ`` (full, ``(k, d, d)``), ``Σ_i (Σ_k r_ik) y_i y_iᵀ`` (tied, ``(d, d)``),
    ``Σ_i r_ik y_i²`` (diag, ``(k, d)``), ``Σ_i r_ik ‖y_i‖²`` (spherical, ``(k,)``).

    Parameters
    ----------
    X : array of shape (n, d)
        Complete data (no NaN).
    resp : array of shape (n, k)
        Responsibilities already multiplied by any sample weights (non-negative).
    covariance_type : {"full", "tied", "diag", "spherical"}
    shift : array of shape (d,), optional
        The fixed origin ``c`` of the statistics (zero by default).
    """
    structure = covariance_structure(covariance_type)
    X = _as_matrix(X)
    n, d = X.shape
    resp = _check_resp(resp, n)
    shift = _shift(shift, d)
    stats = _empty_stats(structure, resp.shape[1], d)
    for rows in row_blocks(n, d):
        block = X[rows] - shift
        _accumulate_complete(stats, block, resp[rows], structure)
    return stats


def _empty_stats(structure: CovarianceStructure, k: int, d: int) -> dict[str, np.ndarray]:
    return {"n": np.zeros(k), "sum_x": np.zeros((k, d)), "sum_xx": np.zeros(structure.shape(k, d))}


def _accumulate_complete(stats: dict, block: np.ndarray, resp: np.ndarray, structure: CovarianceStructure) -> None:
    """Add the statistics of one block of shifted complete rows to ``stats`` (in place)."""
    stats["n"] += resp.sum(axis=0)
    stats["sum_x"] += resp.T @ block
    structure.accumulate_second(stats["sum_xx"], block, resp)


def gaussian_stats_about(X, resp, anchors, covariances, covariance_type: CovarianceType,
                         conditional=None) -> dict[str, np.ndarray]:
    """The statistics of each component about its own anchor ``a_k`` (its mean at the E-step).

    ``n_k = Σ_i r_ik``, ``sum_x_k = Σ_i r_ik E[x_i − a_k]`` and ``sum_xx`` of
    ``E[(x_i − a_k)(x_i − a_k)ᵀ]`` as :func:`gaussian_stats` shapes it (tied: summed over the
    components), the conditional expectations of NaN coordinates under ``N(a_k, Σ_k)``. About
    one shift for all, a narrow component far from it loses the digits of its covariance
    (``sum_xx/n − m mᵀ`` cancels); about its own mean it does not. ``covariances`` (by
    ``covariance_type``) are needed only when ``X`` has NaN; ``conditional``: as
    :func:`gaussian_stats_missing`'s.
    """
    structure = covariance_structure(covariance_type)
    X = _as_matrix(X)
    n, d = X.shape
    anchors = np.asarray(anchors, dtype=float)
    k = anchors.shape[0]
    resp = _check_resp(resp, n)
    missing = bool(np.isnan(X).any())
    single = structure.component_structure
    patterns = missing_patterns(X) if missing and not single.diagonal else None
    out = _empty_stats(structure, k, d)
    for j in range(k):
        if missing:
            cov = np.asarray(covariances, dtype=float)
            cov = cov[None] if structure.shared else cov[j:j + 1]
            one = gaussian_stats_missing(X, resp[:, j:j + 1], anchors[j:j + 1], cov, single, shift=anchors[j],
                                         patterns=patterns,
                                         conditional=None if conditional is None else conditional[:, j:j + 1])
        else:
            one = gaussian_stats(X, resp[:, j:j + 1], single, shift=anchors[j])
        out["n"][j] = one["n"][0]
        out["sum_x"][j] = one["sum_x"][0]
        if structure.shared:
            out["sum_xx"] += one["sum_xx"][0]
        else:
            out["sum_xx"][j] = one["sum_xx"][0]
    return out


def anchored_zeros(covariance_type: CovarianceType, n_components: int, n_features: int) -> dict[str, np.ndarray]:
    """``anchored_n``, ``anchored_x`` and ``anchored_xx`` of :func:`anchored_stats`, all zero (the
    statistics of an E-step that had no component far from its centre)."""
    stats = _empty_stats(covariance_structure(covariance_type), n_components, n_features)
    return {"anchored_n": stats["n"], "anchored_x": stats["sum_x"], "anchored_xx": stats["sum_xx"],
            "anchored_at": np.zeros((n_components, n_features))}


def anchored_stats(X, resp, anchors, covariances, covariance_type: CovarianceType,
                   conditional=None) -> dict[str, np.ndarray]:
    """:func:`gaussian_stats_about` as ``anchored_n``, ``anchored_x`` and ``anchored_xx``, with
    ``anchored_at = n_k a_k`` (which says about which anchors they are, additively): the keys an
    E-step adds to its statistics about the centre when a component is far from it."""
    stats = gaussian_stats_about(X, resp, anchors, covariances, covariance_type, conditional)
    return {"anchored_n": stats["n"], "anchored_x": stats["sum_x"], "anchored_xx": stats["sum_xx"],
            "anchored_at": stats["n"][:, None] * np.asarray(anchors, dtype=float)}


def responsibility_statistics(X, weighted, centre, covariance_type: CovarianceType) -> tuple[dict[str, np.ndarray],
                                                                                           np.ndarray]:
    """The statistics of complete rows ``X`` with weighted responsibilities ``weighted`` (a start
    from responsibilities) in two passes: about ``centre``, then about each component's weighted
    mean (exact for narrow components far from the centre; an empty component about the centre).
    Returns the statistics (with the ``anchored_*`` keys) and the means, the anchors, for
    :func:`m_step_statistics`."""
    stats = gaussian_stats(X, weighted, covariance_type, shift=centre)
    n = stats["n"][:, None]
    anchors = centre + np.divide(stats["sum_x"], n, out=np.zeros_like(stats["sum_x"]), where=n > 0)
    return {**stats, **anchored_stats(X, weighted, anchors, None, covariance_type)}, anchors


def m_step_statistics(stats: Mapping[str, np.ndarray], anchors, centre,
                      covariance_type: CovarianceType) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The statistics ``n``, ``sum_x``, ``sum_xx`` and their shift for :func:`gaussian_m_step`.

    When the E-step summed them about each component's mean too (``anchored_*``, for every row):
    about those anchors, ``anchored_at / anchored_n`` (the E-step's means ``anchors``, or for
    statistics averaged over E-steps at several means, as online EM keeps them, their weighted
    average; the first moments are then exact about it and the second off by the anchors'
    spread, so they are taken only where the statistics about the centre would lose more than
    :data:`CENTRE_ROUNDING_LIMIT` of a variance to rounding). Else about ``centre``.
    """
    n = np.asarray(stats["n"], dtype=float)
    centre = np.asarray(centre, dtype=float)
    about_centre = {"n": n, "sum_x": stats["sum_x"], "sum_xx": stats["sum_xx"]}, centre
    anchored = np.asarray(stats.get("anchored_n", 0.0), dtype=float)
    # np.allclose's test, |a − n| ≤ 1e-300 + 1e-9 |n|, without its overhead (an M-step of a small mixture)
    if not (np.any(anchored > 0) and np.all(np.abs(anchored - n) <= 1e-300 + 1e-9 * np.abs(n))):
        return about_centre
    occupied = anchored > 0
    at = np.array(anchors, dtype=float)
    at[occupied] = stats["anchored_at"][occupied] / anchored[occupied, None]
    anchored_stats = {"n": n, "sum_x": stats["anchored_x"], "sum_xx": stats["anchored_xx"]}
    if np.all(np.abs(at - anchors) <= 1e-12 * (1.0 + np.abs(anchors))):
        return anchored_stats, at
    variances = _anchored_variances(stats["anchored_xx"], n, covariance_type, at.shape[1])
    rounding = np.finfo(float).eps * (at - centre) ** 2 / variances
    return (anchored_stats, at) if not np.all(rounding[occupied] <= CENTRE_ROUNDING_LIMIT) else about_centre


#: Relative rounding error of a variance from statistics about the centre beyond which averaged
#: statistics about moving anchors are preferred (:func:`m_step_statistics`).
CENTRE_ROUNDING_LIMIT = 1e-6


def _anchored_variances(second: np.ndarray, n: np.ndarray, covariance_type: CovarianceType, d: int) -> np.ndarray:
    """Second moments per row about the anchors, per component and coordinate ``(k, d)`` (at
    least the smallest positive float), from ``anchored_xx`` shaped by ``covariance_type``."""
    second = np.asarray(second, dtype=float)
    diagonal = covariance_structure(covariance_type).anchored_variances(second, n, d)
    return np.maximum(diagonal, np.finfo(float).tiny)


def gaussian_m_step(stats: Mapping[str, np.ndarray], covariance_type: CovarianceType, reg_covar: float,
                    shift=None, means=None, prior: CovariancePrior | None = None,
                    previous=None) -> tuple[np.ndarray, np.ndarray]:
    """Means and covariances maximizing the expected complete-data log-likelihood.

    ``μ_k = c + sum_x_k / n_k`` and ``Σ_k = sum_xx_k / n_k − m_k m_kᵀ + reg_covar·I`` with
    ``m_k = sum_x_k / n_k`` (about the shift ``c`` of the statistics); tied pools the scatter,
    ``Σ = (Σ_k [S_k − n_k m_k m_kᵀ]) / Σ_k n_k``; diag keeps the diagonal; spherical averages it.
    The divisions are by ``n_k + 10·eps`` (scikit-learn's; ``10·eps·Σn`` for weights that sum
    to less than one), which keeps the variance of a component on a single row of weight one
    positive (about ``10·eps·‖x − c‖²``) rather than zero.
    With a conjugate ``prior`` the covariances are the posterior mode instead
    (:class:`~emkit.kernels.covariance_regularization.CovariancePrior`) and ``reg_covar`` must be 0.

    Parameters
    ----------
    stats : dict
        Output of :func:`gaussian_stats` or :func:`gaussian_stats_missing` (summed over blocks).
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Non-negative number added to the diagonal of every covariance.
    shift : array of shape (d,) or (k, d), optional
        The shift the statistics were computed about (one per component: those of
        :func:`gaussian_stats_about`).
    means : array of shape (k, d), optional
        Fixed means: the covariances are then the scatter about them,
        ``Σ_k = sum_xx_k/n_k − m_k m_kᵀ + (m_k − a_k)(m_k − a_k)ᵀ`` with ``a_k = μ_k − c``,
        the exact conditional maximization when the means are held fixed.

    prior : CovariancePrior, optional
        Inverse-Wishart (full, tied) or inverse-gamma (diag, spherical) prior on the covariances,
        with its prior on the means if any (the means are then the joint mode, unless fixed).
    previous : array, optional
        The current covariances: the start of an iterative M-step (mclust's VEI, VEE, VEV, EVE,
        VVE), which then never decreases the expected complete-data log-likelihood (plus the log
        prior, with a ``prior``) from them.

    Returns
    -------
    means, covariances
        A component with ``n_k = 0`` gets ``μ_k = c`` (or its fixed mean) and covariance
        ``reg_covar·I`` (the prior's mode with a prior); callers decide what an empty component
        means for them.
    """
    structure = covariance_structure(covariance_type)
    if not (np.isfinite(reg_covar) and reg_covar >= 0):
        raise ValueError(f"reg_covar: must be a non-negative number, got {reg_covar!r}")
    if prior is not None and reg_covar != 0:
        raise ValueError(f"reg_covar: must be 0 with a covariance prior (the prior regularises), got {reg_covar!r}")
    n = np.asarray(stats["n"], dtype=float)
    sum_x = np.asarray(stats["sum_x"], dtype=float)
    sum_xx = np.asarray(stats["sum_xx"], dtype=float)
    k, d = sum_x.shape
    shift = np.asarray(shift, dtype=float) if np.ndim(shift) == 2 else _shift(shift, d)
    if shift.shape not in ((d,), (k, d)):
        raise ValueError(f"shift: expected shape ({d},) or ({k}, {d}), got {shift.shape}")
    denominator = n + 10.0 * np.finfo(float).eps * min(1.0, float(n.sum()))
    m = sum_x / denominator[:, None]
    if means is None:
        centre = m
    else:
        centre = np.asarray(means, dtype=float) - shift
        if centre.shape != (k, d):
            raise ValueError(f"means: expected shape ({k}, {d}), got {centre.shape}")
    if means is None and prior is not None:   # the means' mode under a prior on them (None: none)
        mode = prior.mean_mode(n, sum_x, shift, structure)
        centre = m if mode is None else mode - shift
    delta = m - centre
    if prior is None:
        cov = structure.warm_m_step(n, sum_xx, m, delta, denominator, reg_covar, previous)
    else:
        cov = structure.scatter_step(n, sum_xx, m, delta, denominator, reg_covar)
    if prior is not None:
        cov = prior.posterior_mode(cov, n, structure, d, means=centre + shift, previous=previous)
    return centre + shift, cov


# -------------------------------------------------------------------------- missing values
@dataclass(frozen=True)
class MissingPattern:
    """Rows sharing one pattern of missing coordinates.

    Attributes
    ----------
    observed, missing : arrays of int
        Column indices observed / missing in these rows.
    rows : array of int
        The row indices (in increasing order).
    """

    observed: np.ndarray
    missing: np.ndarray
    rows: np.ndarray


def missing_patterns(X) -> tuple[MissingPattern, ...]:
    """Group the rows of ``X`` by which coordinates are NaN (computed once per data set)."""
    mask = np.isnan(_as_matrix(X))
    if mask.shape[0] == 0:
        return ()
    unique, inverse = np.unique(mask, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(unique)))[:-1])
    return tuple(MissingPattern(np.flatnonzero(~u), np.flatnonzero(u), rows) for u, rows in zip(unique, groups))


class _ObservedFactor:
    """One covariance restricted to a missingness pattern: ``Σ_oo = L Lᵀ``, ``A = L⁻¹ Σ_om``.

    The marginal of ``x_o`` is ``N(μ_o, Σ_oo)``; given ``x_o``, ``x_m`` is normal with mean
    ``μ_m + Aᵀ z`` (``z = L⁻¹(x_o − μ_o)``) and covariance ``Σ_mm − AᵀA`` (no inverse formed).
    """

    def __init__(self, cov: np.ndarray, observed: np.ndarray, missing: np.ndarray, what: str) -> None:
        self.observed, self.missing = observed, missing
        self.lower = _cholesky(cov[np.ix_(observed, observed)], what) if observed.size else np.empty((0, 0))
        self.log_det = 2.0 * np.log(np.diagonal(self.lower)).sum()
        if observed.size:
            self.cross = solve_triangular(self.lower, cov[np.ix_(observed, missing)], lower=True, check_finite=False)
        else:
            self.cross = np.empty((0, missing.size))
        self.conditional_cov = cov[np.ix_(missing, missing)] - self.cross.T @ self.cross

    def whiten(self, diff_observed: np.ndarray) -> np.ndarray:
        """``z = L⁻¹ (x_o − μ_o)`` for each row, shape ``(|o|, b)``."""
        if not self.observed.size:
            return np.zeros((0, diff_observed.shape[0]))
        return solve_triangular(self.lower, diff_observed.T, lower=True, check_finite=False)

    def log_density(self, z: np.ndarray) -> np.ndarray:
        """``log N(x_o | μ_o, Σ_oo)`` from the whitened residuals."""
        return -0.5 * (self.observed.size * LOG_2PI + self.log_det + np.einsum("ij,ij->j", z, z))

    def conditional_offset(self, z: np.ndarray) -> np.ndarray:
        """``E[x_m | x_o] − μ_m = Aᵀ z``, shape ``(b, |m|)``."""
        return (self.cross.T @ z).T


def _factors(covariances, structure: CovarianceStructure, pattern: MissingPattern, k: int) -> list[_ObservedFactor]:
    """One factor per component (full) or one shared (tied), for this pattern."""
    cov = np.asarray(covariances, dtype=float)
    if structure.shared:
        shared = _ObservedFactor(cov, pattern.observed, pattern.missing, "the tied covariance")
        return [shared] * k
    return [_ObservedFactor(cov[j], pattern.observed, pattern.missing, f"component {j}") for j in range(k)]


def _check_missing_inputs(X, means, covariances, covariance_type, patterns):
    structure = covariance_structure(covariance_type)
    X = _as_matrix(X)
    means = np.asarray(means, dtype=float)
    d = X.shape[1]
    if means.ndim != 2 or means.shape[1] != d:
        raise ValueError(f"means: expected shape (k, {d}), got {means.shape}")
    expected = structure.shape(means.shape[0], d)
    if np.shape(covariances) != expected:
        raise ValueError(f"covariances: expected shape {expected}, got {np.shape(covariances)}")
    if not structure.diagonal and patterns is None:
        patterns = missing_patterns(X)
    return X, means, patterns, structure


def _pattern_row_blocks(pattern: MissingPattern, d: int) -> Iterator[np.ndarray]:
    for part in row_blocks(pattern.rows.size, d):
        yield pattern.rows[part]


def log_gaussian_density_missing(X, means, covariances, covariance_type: CovarianceType,
                                 patterns: tuple[MissingPattern, ...] | None = None) -> np.ndarray:
    """``log N(x_i,o | μ_k,o, Σ_k,oo)``: the marginal log-density of each row's observed coordinates.

    ``X`` may contain NaN (missing). A row with nothing observed has log-density 0. Rows without
    NaN give exactly :func:`log_gaussian_density`. ``patterns`` (from :func:`missing_patterns`)
    saves regrouping the rows on every call (full/tied only).
    """
    X, means, patterns, structure = _check_missing_inputs(X, means, covariances, covariance_type, patterns)
    n, d = X.shape
    k = means.shape[0]
    out = np.empty((n, k))
    if structure.diagonal:
        var = _diagonal_variances(covariances, structure, k, d)
        log_var = np.log(var)
        for rows in row_blocks(n, d):
            observed = ~np.isnan(X[rows])
            filled = np.where(observed, X[rows], 0.0)
            n_observed = observed.sum(axis=1)
            for j in range(k):
                diff = (filled - means[j]) * observed
                out[rows, j] = -0.5 * (n_observed * LOG_2PI + observed @ log_var[j] + (diff * diff) @ (1.0 / var[j]))
        return out
    for pattern in patterns:
        factors = _factors(covariances, structure, pattern, k)
        for rows in _pattern_row_blocks(pattern, d):
            observed_values = X[np.ix_(rows, pattern.observed)]
            for j in range(k):
                z = factors[j].whiten(observed_values - means[j, pattern.observed])
                out[rows, j] = factors[j].log_density(z)
    return out


def gaussian_stats_missing(X, resp, means, covariances, covariance_type: CovarianceType, shift=None,
                           patterns: tuple[MissingPattern, ...] | None = None,
                           conditional=None) -> dict[str, np.ndarray]:
    """Expected sufficient statistics of incomplete data (the exact E-step), about ``shift``.

    As :func:`gaussian_stats` with each row's complete-data statistics replaced by their
    conditional expectation under component ``k`` at the current parameters:
    ``E[x | x_o] = (x_o, μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o))`` and
    ``E[x xᵀ | x_o] = E[x|x_o] E[x|x_o]ᵀ + (Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om on the missing block)``.
    ``means``/``covariances`` are the parameters of the E-step (the ones that gave ``resp``).
    ``conditional`` (n, k): the weights of the conditional covariances in place of ``resp``
    (the t family's ``γ`` beside ``resp = γu``).
    """
    X, means, patterns, structure = _check_missing_inputs(X, means, covariances, covariance_type, patterns)
    n, d = X.shape
    k = means.shape[0]
    resp = _check_resp(resp, n)
    if resp.shape[1] != k:
        raise ValueError(f"resp: expected {k} columns (one per component), got {resp.shape[1]}")
    conditional = resp if conditional is None else np.asarray(conditional, dtype=float)
    shift = _shift(shift, d)
    stats = _empty_stats(structure, k, d)
    if structure.diagonal:
        var = _diagonal_variances(covariances, structure, k, d)
        for rows in row_blocks(n, d):
            missing = np.isnan(X[rows])
            shifted = np.where(missing, 0.0, X[rows]) - shift
            for j in range(k):
                expected = np.where(missing, means[j] - shift, shifted)
                r = resp[rows, j]
                stats["n"][j] += r.sum()
                stats["sum_x"][j] += r @ expected
                if conditional is resp:
                    stats["sum_xx"][j] += r @ structure.reduce_diagonal_second(expected * expected + missing * var[j])
                else:
                    stats["sum_xx"][j] += (r @ structure.reduce_diagonal_second(expected * expected)
                                           + conditional[rows, j] @ structure.reduce_diagonal_second(missing * var[j]))
        return stats
    for pattern in patterns:
        factors = _factors(covariances, structure, pattern, k)
        o, m = pattern.observed, pattern.missing
        for rows in _pattern_row_blocks(pattern, d):
            observed_values = X[np.ix_(rows, o)]
            expected = np.empty((rows.size, d))
            expected[:, o] = observed_values - shift[o]
            for j in range(k):
                z = factors[j].whiten(observed_values - means[j, o])
                expected[:, m] = means[j, m] - shift[m] + factors[j].conditional_offset(z)
                r = resp[rows, j]
                weighted = expected * np.sqrt(r)[:, None]
                second = weighted.T @ weighted
                second[np.ix_(m, m)] += conditional[rows, j].sum() * factors[j].conditional_cov
                stats["n"][j] += r.sum()
                stats["sum_x"][j] += r @ expected
                structure.add_component_second(stats["sum_xx"], j, second)
    return stats


def impute_conditional_mean(X, resp, means, covariances, covariance_type: CovarianceType,
                            patterns: tuple[MissingPattern, ...] | None = None) -> np.ndarray:
    """``X`` with each NaN replaced by its conditional mean under the mixture.

    ``x̂_m = Σ_k r_ik (μ_k,m + Σ_k,mo Σ_k,oo⁻¹ (x_o − μ_k,o))`` where ``resp`` are the posterior
    component probabilities given the observed coordinates (rows summing to one).
    """
    X, means, patterns, structure = _check_missing_inputs(X, means, covariances, covariance_type, patterns)
    n, d = X.shape
    k = means.shape[0]
    resp = _check_resp(resp, n)
    filled = X.copy()
    if structure.diagonal:
        missing = np.isnan(X)
        rows = np.flatnonzero(missing.any(axis=1))
        conditional = resp[rows] @ means
        filled[rows] = np.where(missing[rows], conditional, X[rows])
        return filled
    for pattern in patterns:
        if not pattern.missing.size:
            continue
        factors = _factors(covariances, structure, pattern, k)
        o, m = pattern.observed, pattern.missing
        for rows in _pattern_row_blocks(pattern, d):
            observed_values = X[np.ix_(rows, o)]
            total = np.zeros((rows.size, m.size))
            for j in range(k):
                z = factors[j].whiten(observed_values - means[j, o])
                total += resp[rows, j][:, None] * (means[j, m] + factors[j].conditional_offset(z))
            filled[np.ix_(rows, m)] = total
    return filled
