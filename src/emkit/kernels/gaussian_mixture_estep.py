"""The E-step of a Gaussian mixture as two matrix products per block of rows.

For a Gaussian component the log-density is linear in sufficient-statistic features of the
shifted row ``y = x − c`` (``c`` a fixed centre, e.g. the data mean, so that no digits are lost
for data far from the origin):

    log π_k + log N(x | μ_k, Σ_k) = φ(y)ᵀ θ_k,
    φ(y) = [1, y, (y_i y_j)_{i≤j}]                   (full, tied; p = 1 + d + d(d+1)/2)
    φ(y) = [1, y, y², 1 − o]                         (diag, spherical; p = 1 + 3d)

with ``θ_k = [log π_k − ½ d log 2π + log det P_k − ½ m_kᵀ Λ_k m_k, Λ_k m_k, −½ Λ_k,ii or −Λ_k,ij]``
(``m_k = μ_k − c``, ``Λ_k = P_k P_kᵀ = Σ_k⁻¹``). So the log-joint of a block of rows and all
components is one product ``L = Φ Θ`` and, after ``r_ik = exp(L_ik − log Σ_j exp L_ij)`` (in
place), the expected sufficient statistics of the block are one product ``Rᵀ Φ``. No loop over
components, no ``n × d`` temporary per component; the temporaries are a block of features and a
block of responsibilities per thread (:class:`BlockPass`), so memory does not grow with ``n``.
The latent layer cuts the rows into blocks and shares them out to threads
(:mod:`emkit.latent.sequences`: one blocking policy for mixtures and HMMs), adding their sums in
block order, so the result does not depend on the number of threads. An HMM's emissions, whose
posteriors come from the chain, take the two products apart (:func:`component_log_densities`,
:func:`component_statistics`).

Missing values (NaN): ``y`` is taken as 0 at the missing coordinates (``y⁰``) and ``o`` is the
indicator of the observed ones.

* diag/spherical: the coordinates are conditionally independent, so the marginal density of
  the observed ones drops the missing terms, ``h_kj = ½ λ_kj m_kj² + ½ log(2π σ²_kj)`` per missing
  coordinate, linear in the feature ``1 − o``; the conditional expectations are ``m_kj`` and
  ``m_kj² + σ²_kj``, so the statistics come from the same product ``Rᵀ Φ``.
* full/tied: the product's value at ``y⁰`` is corrected for the missing coordinates of each
  incomplete row, and the statistics completed with the conditional moments; rows are grouped
  by missingness pattern once (:mod:`emkit.kernels.gaussian_mixture_missing`).

:func:`observed_log_det_precisions` gives ``log det Σ_k,oo`` of each row beside its marginal
log-density, so the t family reads its Mahalanobis distances off the kernel, and
:func:`component_statistics` weighs the conditional covariances apart when asked (the t family's
u-weighted statistics). Which features and corrections apply is the covariance structure's to say
(:attr:`~emkit.kernels.covariance_structures.CovarianceStructure.diagonal`, its factors and its
reductions), not a switch on ``covariance_type``.

Accuracy: the product form adds up terms of size ``|y|ᵀ|Λ_k||y|`` about the centre, so its
rounding error in a log-density is about ``ε·|y|ᵀ|Λ_k||y|`` (``ε`` the unit round-off) where the
direct formula has ``ε·(y − m_k)ᵀΛ_k(y − m_k)``; with the centre at the data mean this is ``ε``
times the squared spread of the data in units of the narrowest component.
:func:`rounding_factor` estimates that size (the tests find errors within ``64 ε`` times it,
also for data at 10⁶ with scales 10⁻³..10³ and a component 10³ times narrower than the data).
:func:`compute_dtype` uses float32 arithmetic for float32 data only when ``2⁻²⁴`` times the
factor stays below :data:`FLOAT32_TOLERANCE`; then log-densities are within about 10⁻³,
responsibilities within 10⁻³ and the log-likelihood of a fit within 10⁻⁵ relative of float64
(the accuracy check in ``tests/test_gmm_fast_path.py``; on the benchmark, 2·10⁻⁴, 4·10⁻⁵ and
6·10⁻⁸). Otherwise float32 data are computed in float64.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np
from numba import njit

from .covariance_structures import CovarianceStructure, covariance_structure
from .fast_exp import exp_of as fast_exp
from .gaussian import LOG_2PI, anchored_stats, anchored_zeros, check_covariance_type, precisions_cholesky
from .gaussian_direct import finite_stand_in, log_distances, log_posterior
from .gaussian_mixture_missing import (
    MissingLayout,
    MissingSums,
    PatternRuns,
    missing_layout,
    pattern_log_dets,
)

#: With few features (at most :data:`PANEL_FEATURES`: diag and spherical covariances up to
#: d = 21, full and tied up to d = 9), the two products of a block go in panels of this many
#: rows, as one stacked ``matmul`` each: OpenBLAS multiplies a (p × b) by a (b × k) matrix, or a
#: (k × p) by a (p × b) one, up to 1.9x faster in panels of ~1000 columns than in one call for
#: b ≈ 10⁴ (measured on float32 and float64; with full covariances, p = 153 at d = 16, panels
#: bring nothing).
PANEL_COLUMNS = 1024
PANEL_FEATURES = 64

#: :class:`BlockPass` takes a block of rows in passes whose features take at most about this
#: many bytes (at least :data:`MIN_PASS_ROWS` rows), and the direct formula takes its rows in
#: slices whose ``(rows, k, d)`` temporaries take at most about as many: a thread's buffers then
#: stay bounded whatever the size of the blocks it is given. 4 MiB leaves the usual row blocks
#: whole (2,500 rows of d = 16 full-covariance features take 3 MiB): smaller passes cost a full
#: GMM E-step 10% (2 MiB) to 1.5x (1 MiB) on 20,000 × 16 rows (smaller products).
PASS_BYTES = 4 << 20
MIN_PASS_ROWS = 256

#: Largest estimated absolute rounding error of a float32 log-density accepted by
#: :func:`compute_dtype` (beyond it, float32 data are computed in float64).
FLOAT32_TOLERANCE = 1e-3

#: A row's product-form log-density under a component is trusted when its rounding-error bound
#: (:func:`untrusted_rows`) is at most this times ``max(1, |value|)`` (float64 arithmetic) or
#: :data:`FLOAT32_TOLERANCE` times it (float32); else the row takes the direct formula.
FLOAT64_TOLERANCE = 1e-10

#: The rounding error of the product is bounded by ``ERROR_FACTOR · ε`` times the sum of the
#: magnitudes of its terms (``ε`` the unit round-off of the arithmetic): the features, ``θ`` and
#: the sum of ``p`` products each add a few ``ε``; the tests find errors within 4 ε of it.
ERROR_FACTOR = 32.0

#: Largest relative rounding error of a covariance from statistics about the centre accepted
#: before the components' statistics are also summed about their own means (:func:`far_components`).
FAR_TOLERANCE = 1e-9

#: A row whose largest log-joint is below −HUGE_LOG_JOINT takes the direct formula whatever its
#: bound: normalising such values in log space rounds every log-posterior to 0.
HUGE_LOG_JOINT = 1e8

#: Components whose log-joint is this far below a row's largest do not change its log-density
#: (``e⁻⁴⁰ ≈ 4·10⁻¹⁸``), so their errors do not make the row untrusted.
IRRELEVANT_LOG_RATIO = 40.0


@dataclass(frozen=True)
class MixtureTerms:
    """Everything one E-step needs from the parameters, in the product form.

    Attributes
    ----------
    covariance_type : str
    shift : ndarray (d,)
        The centre ``c`` of the features and of the statistics.
    theta : ndarray (p, k)
        ``θ`` (float64), so that the log-joint is ``φ(x − c)ᵀ θ_k``.
    means : ndarray (k, d)
        ``m_k = μ_k − c``.
    precision : ndarray (k, d, d) or None
        ``Λ_k`` (full/tied, a tied one repeated), for the rows with missing values.
    precision_mean : ndarray (k, d) or None
        ``Λ_k m_k`` (full/tied).
    variances : ndarray (k, d)
        ``σ²_kj = Σ_k,jj``, the variance of each coordinate under each component.
    log_weights : ndarray (k,)
        ``log π_k``.
    log_det_precision : ndarray (k,)
        ``log det P_k = −½ log det Σ_k``.
    locations : ndarray (k, d)
        ``μ_k`` as given, and
    covariances : ndarray
        ``Σ_k`` as given (shaped by ``covariance_type``), for the direct formula.
    """

    covariance_type: str
    shift: np.ndarray
    theta: np.ndarray
    means: np.ndarray
    precision: np.ndarray | None
    precision_mean: np.ndarray | None
    variances: np.ndarray
    log_weights: np.ndarray
    log_det_precision: np.ndarray
    locations: np.ndarray
    covariances: np.ndarray

    @property
    def structure(self) -> CovarianceStructure:
        """The covariance structure named by :attr:`covariance_type`."""
        return covariance_structure(self.covariance_type)

    @property
    def n_features(self) -> int:
        """``d``."""
        return int(self.shift.size)

    @cached_property
    def precision_by_row(self) -> np.ndarray:
        """``Λ_c,ij`` at ``[i, j, c]`` (component last, for the missing-value kernels)."""
        return np.ascontiguousarray(np.moveaxis(self.precision, 0, 2))

    @cached_property
    def precision_mean_by_row(self) -> np.ndarray:
        """``(Λ_c m_c)_i`` at ``[i, c]``."""
        return np.ascontiguousarray(self.precision_mean.T)

    @property
    def n_components(self) -> int:
        """``k``."""
        return int(self.theta.shape[1])

    @cached_property
    def float32_accurate(self) -> bool:
        """Whether float32 arithmetic is accurate enough: ``2⁻²⁴ ·`` :func:`rounding_factor` ``≤``
        :data:`FLOAT32_TOLERANCE` (computed once: :func:`compute_dtype` asks for every block)."""
        return float(np.finfo(np.float32).eps) / 2 * rounding_factor(self) <= FLOAT32_TOLERANCE

    @cached_property
    def far(self) -> np.ndarray:
        """:func:`far_components` (computed once)."""
        return far_components(self)

    @cached_property
    def any_far(self) -> bool:
        """Whether any component is far (:attr:`far`; asked once per pass)."""
        return bool(self.far.any())

    @cached_property
    def error_maxima(self) -> tuple[float, float, float]:
        """The largest of each of :attr:`error_terms` (``max a_k, max b_k, max c_k``), for
        :func:`may_be_untrusted`'s test of every pass."""
        return tuple(float(terms.max()) for terms in self.error_terms)

    @cached_property
    def error_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(a_k, b_k, c_k)`` bounding the sum of the magnitudes of the terms the product adds up
        for a row ``y`` (about the centre) under component ``k``: ``a_k + b_k ‖y‖ + c_k ‖y‖²``
        (see :func:`untrusted_rows`). ``a_k`` is the constant's size (``|log π_k|`` apart from
        the rest of ``θ_k[0]``, so that an empty component's −∞ does not count, plus the
        missing-coordinate terms ``|h_kj|``), ``b_k = ‖Λ_k m_k‖`` and ``c_k = ½ ‖|Λ_k|‖_∞``."""
        empty = np.isneginf(self.log_weights)
        with np.errstate(invalid="ignore"):
            constant = (np.abs(np.where(empty, 0.0, self.theta[0] - self.log_weights))
                        + np.abs(np.where(empty, 0.0, self.log_weights)))
        d = self.n_features
        if self.precision is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                linear = np.sqrt(np.einsum("ki,ki->k", self.precision_mean, self.precision_mean))
            quadratic = 0.5 * np.abs(self.precision).sum(axis=2).max(axis=1)
        else:
            constant = constant + np.abs(self.theta[2 * d + 1:]).sum(axis=0)
            precision = 1.0 / self.variances
            with np.errstate(over="ignore", invalid="ignore"):
                linear = np.sqrt(np.einsum("kj,kj->k", precision * self.means, precision * self.means))
            quadratic = 0.5 * precision.max(axis=1)
        return (np.ascontiguousarray(constant), np.ascontiguousarray(linear), np.ascontiguousarray(quadratic))


def n_statistic_features(covariance_type: str, n_features: int) -> int:
    """Length ``p`` of ``φ(y)``: ``1 + 3d`` (diagonal structures: diag, spherical) or
    ``1 + d + d(d+1)/2`` (matrix structures: full, tied)."""
    d = n_features
    return 1 + 3 * d if covariance_structure(covariance_type).diagonal else 1 + d + d * (d + 1) // 2


def mixture_terms(weights, means, covariances, covariance_type: str, shift) -> MixtureTerms:
    """The product form ``θ`` (and the terms the missing-value corrections need) of a mixture.

    ``θ_k[0] = log π_k − ½ d log 2π + log det P_k − ½ ‖P_kᵀ m_k‖²``, ``θ_k[y] = Λ_k m_k`` and the
    quadratic entries ``−½ Λ_k,ii`` / ``−Λ_k,ij`` (full, tied) or ``−½ λ_kj`` and
    ``h_kj = ½ λ_kj m_kj² + ½ log(2π σ²_kj)`` (diag, spherical), with ``m_k = μ_k − c``.

    Raises
    ------
    ValueError
        When a covariance is not positive definite (naming the component and the remedy,
        increase ``reg_covar``), or shapes disagree.
    """
    check_covariance_type(covariance_type)
    means = np.asarray(means, dtype=float)
    shift = np.asarray(shift, dtype=float)
    k, d = means.shape
    if shift.shape != (d,):
        raise ValueError(f"shift: expected shape ({d},), got {shift.shape}")
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (k,):
        raise ValueError(f"weights: expected shape ({k},), got {weights.shape}")
    with np.errstate(divide="ignore"):  # log 0 = −inf: an empty component gets no responsibility
        log_weights = np.log(weights)
    factors = precisions_cholesky(covariances, covariance_type)
    # A centre far from a component (beyond the float range) overflows θ; the rows are then
    # untrusted and computed directly, so the overflow must not warn.
    with np.errstate(over="ignore", invalid="ignore"):
        return _product_terms(means - shift, factors, log_weights, means, covariances, covariance_type, shift)


def _product_terms(m, factors, log_weights, means, covariances, covariance_type, shift) -> MixtureTerms:
    """:func:`mixture_terms` from ``m = μ − c`` and the precision factors."""
    k, d = m.shape
    structure = covariance_structure(covariance_type)
    theta = np.empty((n_statistic_features(covariance_type, d), k))
    log_det_precision = np.ascontiguousarray(np.broadcast_to(structure.log_det_precision_cholesky(factors, d), (k,)))
    factors = structure.density_factors(factors, k, d)
    if not structure.diagonal:
        whitened = np.einsum("kd,kde->ke", m, factors)                 # P_kᵀ m_k
        precision = np.einsum("kij,klj->kil", factors, factors)        # Λ_k = P_k P_kᵀ
        precision_mean = np.einsum("kij,kj->ki", factors, whitened)    # Λ_k m_k
        log_det = np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
        rows, columns = np.triu_indices(d)
        quadratic = -precision[:, rows, columns]
        quadratic[:, rows == columns] *= 0.5
        theta[0] = log_weights - 0.5 * d * LOG_2PI + log_det - 0.5 * np.einsum("ki,ki->k", whitened, whitened)
        theta[1:d + 1] = precision_mean.T
        theta[d + 1:] = quadratic.T
        variances = np.broadcast_to(np.diagonal(np.asarray(covariances, dtype=float), axis1=-2, axis2=-1), (k, d))
        return MixtureTerms(covariance_type, shift, theta, m, np.ascontiguousarray(precision),
                            np.ascontiguousarray(precision_mean), variances, log_weights, log_det_precision, means,
                            np.asarray(covariances, dtype=float))
    variances = 1.0 / factors ** 2
    precision = 1.0 / variances
    theta[0] = (log_weights - 0.5 * d * LOG_2PI - 0.5 * np.log(variances).sum(axis=1)
                - 0.5 * np.einsum("kj,kj->k", precision * m, m))
    theta[1:d + 1] = (precision * m).T
    theta[d + 1:2 * d + 1] = -0.5 * precision.T
    theta[2 * d + 1:] = (0.5 * precision * m * m + 0.5 * (LOG_2PI + np.log(variances))).T
    return MixtureTerms(covariance_type, shift, theta, m, None, None, variances, log_weights, log_det_precision,
                        means, np.asarray(covariances, dtype=float))


def rounding_factors(terms: MixtureTerms) -> np.ndarray:
    """``a_kᵀ|Λ_k|a_k`` with ``a_k = |m_k| + 3σ_k`` (coordinate-wise) for each component: the size
    of the terms the product form adds up for rows within three standard deviations of the
    component, about the centre; the rounding error of a log-density, and the relative rounding
    error of the covariance that the statistics about the centre give, are about the unit
    round-off times this factor (against about ``d`` for the direct formula)."""
    a = np.abs(terms.means) + 3.0 * np.sqrt(terms.variances)
    with np.errstate(over="ignore", invalid="ignore"):
        if terms.precision is not None:
            return np.einsum("ki,kij,kj->k", a, np.abs(terms.precision), a)
        return np.sum(a * a / terms.variances, axis=1)


def rounding_factor(terms: MixtureTerms) -> float:
    """The largest of :func:`rounding_factors`."""
    return float(np.max(rounding_factors(terms)))


def far_components(terms: MixtureTerms) -> np.ndarray:
    """Which components are so far from the centre, in units of their own spread, that the
    statistics about the centre would lose more than :data:`FAR_TOLERANCE` of their covariance
    (``ERROR_FACTOR · ε ·`` :func:`rounding_factors` beyond it): their statistics are then also
    summed about their own means (:func:`~emkit.kernels.gaussian.anchored_stats`)."""
    return ~(ERROR_FACTOR * np.finfo(float).eps / 2 * rounding_factors(terms) <= FAR_TOLERANCE)


def compute_dtype(data_dtype, terms: MixtureTerms) -> np.dtype:
    """float32 for float32 data when ``2⁻²⁴ ·`` :func:`rounding_factor` ``≤`` :data:`FLOAT32_TOLERANCE`,
    else float64."""
    if np.dtype(data_dtype) == np.float32 and terms.float32_accurate:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


# ------------------------------------------------------------------------------ the passes
#: Ratios ``exp(L_ik − max_j L_ij)`` whose exponent is below this, by type, are taken as exactly 0
#: (:func:`_responsibilities`).
_EXP_FLOOR = {np.float64: np.float64(-690.0), np.float32: np.float32(-78.0)}

#: :func:`_responsibilities` takes a block's columns in tiles of this many rows, whose ``k × tile``
#: ratios stay in the core's first-level cache (32 KiB at k = 16, float64) between its loops.
_TILE_ROWS = 256


def _block(X: np.ndarray, layout: MissingLayout, start: int, size: int,
           diagonal: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The row indices of the block of ``size`` rows at ``start`` and their patterns: in layout
    order for full and tied covariances with missing values, else in the data's order (the
    features of ``diagonal`` structures, diag and spherical, take missing values row by row) with
    patterns None."""
    stop = min(start + size, X.shape[0])
    if layout.complete or diagonal:
        return np.arange(start, stop), None
    return layout.order[start:stop], layout.row_pattern[start:stop]


class _Totals:
    """The sums of a block (of one or more passes): ``Φᵀ R`` (shape ``(p, k)``), the
    log-likelihood and, for full/tied, what the missing-value corrections add (arrays indexed by
    component on their last axis; None until a pass has incomplete rows); for diag/spherical,
    ``conditional_missing`` (``(k, d)``, None: the ``1 − o`` part of ``Φᵀ R``) weighs the
    conditional variances of the missing coordinates, and ``incomplete`` says whether a pass
    had those ``1 − o`` features (else their part of ``Φᵀ R`` is zero and adds nothing)."""

    def __init__(self, terms: MixtureTerms) -> None:
        self.terms = terms
        d, k = terms.n_features, terms.n_components
        self.products = np.zeros((terms.theta.shape[0], k))
        self.loglik = 0.0
        self.missing: MissingSums | None = None
        self.conditional_missing: np.ndarray | None = None
        self.incomplete = False
        self.anchored = anchored_zeros(terms.covariance_type, k, d)

    def missing_sums(self) -> MissingSums:
        """:attr:`missing`, made (zero) on first use."""
        if self.missing is None:
            self.missing = MissingSums(self.terms.n_features, self.terms.n_components)
        return self.missing

    def statistics(self) -> dict[str, np.ndarray]:
        """The sums unpacked into ``n``, ``sum_x`` and ``sum_xx`` (float64), with the statistics
        of the far components about their own means (``anchored_*``, zero for the others)."""
        terms, products = self.terms, self.products.T
        d, k = terms.n_features, terms.n_components
        n = products[:, 0].copy()
        sum_x = products[:, 1:d + 1].copy()
        structure = terms.structure
        if not structure.diagonal:
            second = products[:, _symmetric_positions(d)]   # the (i, j) and (j, i) entries from one feature
            if self.missing is not None:
                sum_x += self.missing.x.T
                second += self.missing.second_moments()
            return {"n": n, "sum_x": sum_x, "sum_xx": structure.second_of_matrices(second), **self.anchored}
        if not self.incomplete:
            second = products[:, d + 1:2 * d + 1].copy()
            return {"n": n, "sum_x": sum_x, "sum_xx": structure.reduce_diagonal_second(second), **self.anchored}
        missing_weight = products[:, 2 * d + 1:]
        sum_x += terms.means * missing_weight
        if self.conditional_missing is None:
            second = products[:, d + 1:2 * d + 1] + (terms.means ** 2 + terms.variances) * missing_weight
        else:
            second = (products[:, d + 1:2 * d + 1] + terms.means ** 2 * missing_weight
                      + terms.variances * self.conditional_missing)
        return {"n": n, "sum_x": sum_x, "sum_xx": structure.reduce_diagonal_second(second), **self.anchored}


@lru_cache(maxsize=16)
def _symmetric_positions(d: int) -> np.ndarray:
    """``(d, d)`` positions in ``φ`` of ``y_i y_j`` (``i, j`` in any order): the second moments
    of a statistics row in one gather."""
    positions = np.empty((d, d), dtype=np.intp)
    rows, columns = np.triu_indices(d)
    positions[rows, columns] = positions[columns, rows] = 1 + d + np.arange(rows.size)
    return positions


def padded_columns(rows: int, itemsize: int) -> int:
    """Columns of a thread's features buffer ``Φᵀ`` for passes of at most ``rows`` rows:
    ``rows`` rounded up to whole 64-byte cache lines, plus one line when that makes an even
    number of them, so that its lines lie an odd multiple of 64 bytes apart. The features of a
    row are written down a column; with a line stride that is a multiple of 4 KiB (passes of
    512, 1024, ..., 8192 float64 rows: 8 blocks of 8192 rows at n = 65,536) those stores all
    fall on one cache set and alias, and building the features takes 2.5x as long (a diag
    E-step 1.6x; measured on Zen 4). The log-joint buffer is left unpadded: its rows are written
    by BLAS, which was slower into a padded one."""
    per_line = max(1, 64 // itemsize)
    lines = -(-rows // per_line)
    return (lines + 1 - lines % 2) * per_line


def _panels(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first ``m·w`` columns of ``a`` (shape ``(q, b)``, unit column stride) as a view of
    shape ``(m, q, w)`` (``w`` = :data:`PANEL_COLUMNS`), and the remaining columns."""
    q, b = a.shape
    m = b // PANEL_COLUMNS
    row_stride, column_stride = a.strides
    panels = np.lib.stride_tricks.as_strided(a, shape=(m, q, PANEL_COLUMNS),
                                             strides=(PANEL_COLUMNS * column_stride, row_stride, column_stride))
    return panels, a[:, m * PANEL_COLUMNS:]


class _Buffers:
    """One thread's buffers for a block. Features are stored transposed, ``Φᵀ`` of shape
    ``(p, b)``, and the log-joint as ``(k, b)``: every pass then runs along contiguous rows of
    length ``b`` (the reductions over components too), and both products are the BLAS-friendly
    ``Θᵀ Φᵀ`` and ``Φᵀ R``."""

    def __init__(self, terms: MixtureTerms, dtype: np.dtype, rows: int,
                 irrelevant: float = IRRELEVANT_LOG_RATIO) -> None:
        self.terms, self.dtype = terms, dtype
        d, k = terms.n_features, terms.n_components
        self.full = not terms.structure.diagonal
        self.complete_p = terms.theta.shape[0] if self.full else 1 + 2 * d
        self.theta_t = np.ascontiguousarray(terms.theta.T, dtype=dtype)
        # float64: a bound on the error; float32: the size compute_dtype's estimate gives it (the
        # rows within the data's bulk are within FLOAT32_TOLERANCE by that estimate, outliers not)
        self.error_scale = (ERROR_FACTOR if dtype == np.float64 else 1.0) * np.finfo(dtype).eps / 2
        self.tolerance = FLOAT32_TOLERANCE if dtype == np.float32 else FLOAT64_TOLERANCE
        self.rows = rows
        self.untrusted = np.empty(rows, dtype=np.int64)
        self.squares: np.ndarray | None = None   # ‖y⁰‖² and the features, allocated on first use
        self.any_far = terms.any_far
        self.has_empty = bool(np.isneginf(terms.log_weights).any())
        self.irrelevant = irrelevant   # components this far below a row's largest log-joint may be imprecise
        self.exact: ExactRows | None = None
        self.features: np.ndarray | None = None
        self.joint = np.empty((k, rows), dtype=dtype)
        self.log_marginal = np.empty(rows)   # of the rows of a block, with their sum of ratios and its inverse
        self.largest = np.empty(rows)
        self.total = np.empty(rows, dtype=dtype)
        self.scale = np.empty(rows, dtype=dtype)
        self.whitened: np.ndarray | None = None  # z (row, ≤ q, k) of incomplete rows (full/tied), made when needed
        self.runs: PatternRuns | None = None
        self.panel_views: dict[tuple[bool, tuple[int, int]], tuple[np.ndarray, np.ndarray]] = {}

    def joint_product(self, theta_t: np.ndarray, features: np.ndarray, out: np.ndarray) -> None:
        """``out = Θᵀ Φᵀ``, in panels of :data:`PANEL_COLUMNS` rows when there are at most
        :data:`PANEL_FEATURES` features."""
        if features.shape[0] > PANEL_FEATURES:
            np.matmul(theta_t, features, out=out)
            return
        panels, rest = self.panels(features)
        out_panels, out_rest = self.panels(out)
        np.matmul(theta_t, panels, out=out_panels)
        np.matmul(theta_t, rest, out=out_rest)

    def panels(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`_panels` of ``a``, kept when ``a`` is the start of this thread's features or
        log-joint (``[:q, :b]``; a block's passes have one size): NumPy's ``as_strided`` takes
        ~20 µs, four times a pass, holding the GIL."""
        base = a.base
        if base is None or (base is not self.features and base is not self.joint):
            return _panels(a)
        key = (base is self.features, a.shape)
        found = self.panel_views.get(key)
        if found is None:
            found = self.panel_views[key] = _panels(a)
        return found

    def statistics_product(self, features: np.ndarray, resp: np.ndarray) -> np.ndarray:
        """``Φᵀ R`` (``resp`` is ``Rᵀ``), in panels when there are few features."""
        if features.shape[0] > PANEL_FEATURES:
            return features @ resp.T
        panels, rest = self.panels(features)
        resp_panels, resp_rest = self.panels(resp)
        return np.matmul(panels, resp_panels.transpose(0, 2, 1)).sum(axis=0) + rest @ resp_rest.T

    def fill(self, X: np.ndarray, rows: np.ndarray, pattern: np.ndarray | None, layout: MissingLayout) -> RowFeatures:
        """The features of the block's rows, in this thread's buffer (:func:`row_features`)."""
        if self.features is None:
            self.features = np.empty((self.terms.theta.shape[0], padded_columns(self.rows, self.dtype.itemsize)),
                                     dtype=self.dtype)
            self.squares = np.empty(self.rows)
        return _fill(X, rows, pattern, layout, not self.full, self.terms.shift,
                     self.features[:, :rows.size], self.squares[:rows.size])

    def log_joint(self, X: np.ndarray, block: RowFeatures) -> np.ndarray:
        """``log π_k + log N(x_i,o | ...)`` of the rows of ``block``, shape ``(k, b)`` (a view of
        the buffer); the features used are left in ``self.used``, and the rows the product form
        cannot be trusted with (:func:`untrusted_rows`), computed by the direct formula in
        float64, in ``self.exact`` (their values in the buffer are rounded to its type)."""
        out = self.joint[:, :block.rows.size]
        self.used = block.features
        # A component of weight 0 has θ_k[0] = log 0 = −inf (its responsibilities are exact
        # zeros), and a row beyond the float range has infinite features: the product's −inf · 0
        # and inf − inf must not warn (such rows are recomputed below).
        suspect = may_be_untrusted(block.largest, self.error_scale, self.terms.error_maxima, self.tolerance)
        with np.errstate(invalid="ignore", over="ignore") if self.has_empty or suspect else contextlib.nullcontext():
            self.joint_product(self.theta_t[:, :self.used.shape[0]], self.used, out)
        self.runs = self.pattern_runs(block)
        if self.runs is not None:
            self.runs.log_density(self.used, out)
        self.exact = exact_rows(out, block.squares, X, block.rows, self.terms, self.error_scale, self.tolerance,
                                self.irrelevant, self.untrusted) if suspect else None
        if self.exact is not None:
            with np.errstate(over="ignore"):   # into a float32 buffer; callers use the float64 values
                out[:, self.exact.positions] = self.exact.log_joint.T
        return out

    def pattern_runs(self, block: RowFeatures) -> PatternRuns | None:
        """The runs of incomplete rows of a block with full or tied components (None: none)."""
        if not (self.full and block.incomplete):
            return None
        most = int(block.layout.n_missing.max())
        if self.whitened is None or self.whitened.shape[0] < block.rows.size or self.whitened.shape[1] < most:
            self.whitened = np.empty((max(self.rows, block.rows.size), most, self.terms.n_components))
        return PatternRuns(block.pattern, block.layout, self.terms.precision_by_row,
                           self.terms.precision_mean_by_row, self.whitened)

    def statistics(self, X: np.ndarray, block: RowFeatures, weights: np.ndarray | None, sums: _Totals) -> None:
        """Add to ``sums`` those of one block: responsibilities ``R`` (in place of the log-joint,
        with negligible ones set to 0, see :func:`_responsibilities`), ``Φᵀ R``, the log-likelihood,
        the missing-value corrections (``weights``: those of the block's rows, in its order)."""
        joint = self.log_joint(X, block)
        exact = self.exact
        if exact is not None:
            _check_representable(self.used, exact.positions, block.rows)
            joint[:, exact.positions] = exact.log_resp.T
        b = joint.shape[1]
        log_marginal, largest, total = self.log_marginal[:b], self.largest[:b], self.total[:b]
        _responsibilities(joint, _EXP_FLOOR[joint.dtype.type], weights, largest, total, self.scale[:b])
        np.log(total, out=log_marginal, dtype=np.float64)   # in float64, whatever the type of `total`
        log_marginal += largest
        if exact is not None:
            log_marginal[exact.positions] = exact.log_marginal
        sums.loglik += float(log_marginal.sum() if weights is None else weights @ log_marginal)
        self.add_products(X, block, joint, sums)

    def given_statistics(self, X: np.ndarray, block: RowFeatures, resp: np.ndarray,
                         conditional: np.ndarray | None = None) -> _Totals:
        """The sums ``Φᵀ R`` (and the missing-value corrections) of one block for given
        posteriors ``resp`` (k, b), in the block's order (``conditional``: as
        :func:`component_statistics`'s, (k, b))."""
        self.used = block.features
        self.runs = self.pattern_runs(block)
        if self.runs is not None:   # the whitened rows the corrections need
            self.runs.log_density(self.used, np.zeros((self.terms.n_components, block.rows.size)))
        sums = _Totals(self.terms)
        self.add_products(X, block, resp, sums, conditional)
        return sums

    def add_products(self, X: np.ndarray, block: RowFeatures, resp: np.ndarray, sums: _Totals,
                     conditional: np.ndarray | None = None) -> None:
        """Add ``Φᵀ R``, the missing-value corrections and the far components' statistics about
        their means, of responsibilities ``resp`` (k, b), to ``sums``."""
        sums.products[:self.used.shape[0]] += self.statistics_product(self.used, resp)
        sums.incomplete |= block.incomplete
        if self.runs is not None:
            self.runs.statistics(self.used, resp, sums.missing_sums(), conditional)
        if self.any_far:
            anchored = anchored_stats(X[block.rows], resp.T.astype(np.float64), self.terms.locations,
                                      self.terms.covariances, self.terms.covariance_type,
                                      conditional=None if conditional is None else conditional.T)
            sums.anchored = {key: sums.anchored[key] + value for key, value in anchored.items()}


@dataclass(frozen=True)
class RowFeatures:
    """The features ``Φᵀ`` of rows of ``X`` about a centre (data alone: rows visited at every
    E-step, an HMM's, compute them once).

    Attributes
    ----------
    rows : ndarray of int
        The rows' positions in ``X``, in the order of the columns of ``features`` (layout order:
        complete rows, then incomplete rows grouped by pattern, for full/tied with missing values).
    pattern : ndarray of int or None
        The pattern of each column (−1 complete; None when not needed).
    layout : MissingLayout
    features : ndarray (p, b)
        ``φ(y⁰)`` of each row (the ``1 − o`` rows only when a value is missing, diag/spherical).
    squares : ndarray (b,)
        ``‖y⁰‖²`` of each row (float64), and ``largest`` their maximum.
    incomplete : bool
        Whether a row has a missing value.
    unobserved : ndarray of int or None
        The positions in ``X`` of the rows with nothing observed (their density is 1).
    """

    rows: np.ndarray
    pattern: np.ndarray | None
    layout: MissingLayout
    features: np.ndarray
    squares: np.ndarray
    largest: float
    incomplete: bool
    unobserved: np.ndarray | None = None


def row_features(X: np.ndarray, covariance_type: str, shift: np.ndarray,
                 layout: MissingLayout | None = None) -> RowFeatures:
    """:class:`RowFeatures` of all rows of ``X`` (NaN = missing) about ``shift``, float64
    (``layout``: :func:`missing_layout` of ``X``, computed here when None)."""
    layout = missing_layout(X) if layout is None else layout
    diagonal = covariance_structure(covariance_type).diagonal
    rows, pattern = _block(X, layout, 0, X.shape[0], diagonal)
    features = np.empty((n_statistic_features(covariance_type, X.shape[1]), X.shape[0]))
    block = _fill(X, rows, pattern, layout, diagonal, np.ascontiguousarray(shift, dtype=float), features,
                  np.empty(X.shape[0]))
    empty_patterns = np.flatnonzero(layout.n_missing == X.shape[1])
    if not empty_patterns.size:
        return block
    return replace(block, unobserved=layout.order[np.isin(layout.row_pattern, empty_patterns)])


def _fill(X, rows, pattern, layout, diagonal: bool, shift, features, squares) -> RowFeatures:
    """:class:`RowFeatures` of ``X[rows]`` written into ``features`` and ``squares`` (the
    features of a ``diagonal`` structure, else of a matrix one)."""
    if not diagonal:
        largest = full_features(X, rows, shift, features, squares)
        return RowFeatures(rows, pattern, layout, features, squares, largest,
                           pattern is not None and pattern[-1] >= 0)
    missing, largest = diagonal_features(X, rows, shift, features, not layout.complete, squares)
    d = X.shape[1]
    return RowFeatures(rows, pattern, layout, features if missing > 0 else features[:1 + 2 * d], squares, largest,
                       missing > 0)


def component_log_densities(X: np.ndarray, block: RowFeatures, terms: MixtureTerms,
                            out: np.ndarray | None = None) -> np.ndarray:
    """``log N(x_i,o | μ_k,o, Σ_k,oo)`` (terms with every weight 1) of the rows of ``block``, shape
    ``(n, k)`` in the order of ``X``, written into ``out`` when given. Every component's value is
    right (no component is irrelevant: an HMM's chain, not the emission, decides which states a
    row may be in); a row below the float range for every component gets the finite stand-in
    :data:`~emkit.kernels.gaussian_direct.LOST` for its nearest. Rows in their own order (no
    pattern groups) take one product straight into ``out``."""
    out = np.empty((X.shape[0], terms.n_components)) if out is None else out
    if block.pattern is None:
        error_scale = ERROR_FACTOR * np.finfo(float).eps / 2
        suspect = may_be_untrusted(block.largest, error_scale, terms.error_maxima, FLOAT64_TOLERANCE)
        with np.errstate(invalid="ignore", over="ignore") if suspect else contextlib.nullcontext():
            np.matmul(block.features.T, terms.theta[:block.features.shape[0]], out=out)
        exact = exact_rows(out.T, block.squares, X, None, terms, error_scale, FLOAT64_TOLERANCE, np.inf,
                           np.empty(X.shape[0], dtype=np.int64)) if suspect else None
        rows = None if exact is None else exact.positions
    else:
        buffers = _Buffers(terms, np.dtype(np.float64), block.rows.size, np.inf)
        out[block.rows] = buffers.log_joint(X, block).T
        exact = buffers.exact
        rows = None if exact is None else block.rows[exact.positions]
    if exact is not None:
        out[rows] = finite_stand_in(exact.log_joint, exact.log_resp)
    if block.unobserved is not None:
        out[block.unobserved] = 0.0
    return out


def component_statistics(X: np.ndarray, block: RowFeatures, terms: MixtureTerms, resp: np.ndarray,
                         conditional: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The statistics of :class:`BlockPass` (about ``terms.shift``) of the rows of ``block``
    for given posteriors ``resp`` (n, k) in the order of ``X`` (rows in their own order: one
    product ``Φᵀ R``).

    ``conditional`` (n, k): the weights of the conditional covariance ``C`` of the missing
    coordinates in ``sum_xx`` (default ``resp``): ``Σ_i [r_i E[x|x_o] E[x|x_o]ᵀ + c_i C]``. The t
    family's u-weighted statistics take ``r = γu``, ``c = γ``, as ``x_m | u, x_o ~ N(x̂_m, C/u)``
    gives ``E[u x_m x_mᵀ | x_o] = E[u] x̂_m x̂_mᵀ + C``."""
    if block.pattern is None:
        sums = _Totals(terms)
        sums.products[:block.features.shape[0]] = block.features @ resp
        sums.incomplete = block.incomplete
        if conditional is not None and block.incomplete:   # diag/spherical: features 1 − o
            sums.conditional_missing = (block.features[-terms.n_features:] @ conditional).T
        if terms.any_far:
            sums.anchored = anchored_stats(X, resp, terms.locations, terms.covariances, terms.covariance_type,
                                           conditional=conditional)
        return sums.statistics()
    buffers = _Buffers(terms, np.dtype(np.float64), block.rows.size)
    ordered = None if conditional is None else np.ascontiguousarray(conditional[block.rows].T)
    return buffers.given_statistics(X, block, np.ascontiguousarray(resp[block.rows].T), ordered).statistics()


def observed_log_det_precisions(X: np.ndarray, block: RowFeatures, terms: MixtureTerms) -> np.ndarray:
    """``log det Σ_k,oo^{-1/2}`` over each row's observed coordinates, shape ``(n, k)`` in the order
    of ``X`` (0 for a row with nothing observed), from the missing-value algorithm's factors:
    ``log det P_k`` plus, for diag/spherical, ``½ Σ_{j missing} log σ²_kj`` (the features ``1 − o``
    times the terms), for full/tied, the pattern's ``−½ log det Λ_k,MM``
    (:func:`~emkit.kernels.gaussian_mixture_missing.pattern_log_dets`). With
    ``log N(x_o) = −½ (d_o log 2π + log det Σ_oo + δ_o)`` it gives the Mahalanobis distance ``δ_o``."""
    out = np.empty((X.shape[0], terms.n_components))
    out[:] = terms.log_det_precision
    if not block.incomplete:
        return out
    if terms.structure.diagonal:
        out += block.features[-terms.n_features:].T @ (0.5 * np.log(terms.variances)).T
    else:
        by_pattern = pattern_log_dets(block.layout, terms.precision_by_row)
        incomplete = block.pattern >= 0
        out[block.rows[incomplete]] += by_pattern[block.pattern[incomplete]]
    if block.unobserved is not None:
        out[block.unobserved] = 0.0
    return out


class BlockPass:
    """One thread's buffers for the fused E-step of a mixture over blocks of rows (made once per
    E-step and thread, reused for its blocks: the features are written into memory the cache
    keeps).

    Parameters
    ----------
    terms : MixtureTerms
        The mixture's product form (with its weights).
    dtype : numpy dtype
        Of the arithmetic (:func:`compute_dtype`).
    """

    def __init__(self, terms: MixtureTerms, dtype) -> None:
        self.terms, self.dtype = terms, np.dtype(dtype)
        self.buffers: _Buffers | None = None

    def __call__(self, X: np.ndarray, layout: MissingLayout,
                 weights: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], float]:
        """The statistics about ``terms.shift`` (``n``, ``sum_x``, ``sum_xx`` by structure, with the
        far components' ``anchored_*``) and the log-likelihood of the block of rows ``X`` (its
        :func:`missing_layout`), with their sample ``weights``."""
        size = pass_rows(X.shape[0], self.terms.theta.shape[0] * self.dtype.itemsize)
        if self.buffers is None or self.buffers.rows < size:
            self.buffers = _Buffers(self.terms, self.dtype, size)
        sums = _Totals(self.terms)
        for start in range(0, X.shape[0], size):   # in passes of `size` rows, in layout order
            rows, pattern = _block(X, layout, start, size, not self.buffers.full)
            block = self.buffers.fill(X, rows, pattern, layout)
            self.buffers.statistics(X, block, None if weights is None else weights[rows], sums)
        return sums.statistics(), sums.loglik


def pass_rows(n_rows: int, row_bytes: int) -> int:
    """Rows per pass of :class:`BlockPass` over a block of ``n_rows`` rows whose features take
    ``row_bytes`` each: the block in the fewest passes of at most :data:`PASS_BYTES` (or
    :data:`MIN_PASS_ROWS` rows, if more), all of about one size (8,000 rows of 3,426 at most make
    three passes of 2,667, not 3,426 + 3,426 + 1,148: a short last pass costs its fixed work for
    few rows)."""
    most = min(n_rows, max(MIN_PASS_ROWS, PASS_BYTES // row_bytes))
    passes = -(-n_rows // most)
    return -(-n_rows // passes)


def may_be_untrusted(largest_square: float, error_scale: float, error_maxima: tuple[float, float, float],
                     tolerance: float) -> bool:
    """Whether a block whose rows have ``‖y‖² ≤ largest_square`` may hold a row that
    :func:`untrusted_rows` would pick (its largest bound above ``tolerance``, or not finite);
    ``error_maxima``: :attr:`MixtureTerms.error_maxima`."""
    constant, linear, quadratic = error_maxima
    bound = error_scale * (constant + linear * math.sqrt(largest_square)
                           + quadratic * largest_square) if largest_square < math.inf else math.inf
    return not bound <= tolerance


class ExactRows(NamedTuple):
    """Rows of a block computed by the direct formula: their ``positions`` in the block, and
    their log-joint ``(b', k)``, log-posteriors ``(b', k)`` and log-densities ``(b',)`` (float64)."""

    positions: np.ndarray
    log_joint: np.ndarray
    log_resp: np.ndarray
    log_marginal: np.ndarray


def exact_rows(joint: np.ndarray, squares: np.ndarray, X: np.ndarray, rows: np.ndarray | None, terms: MixtureTerms,
               error_scale: float, tolerance: float, irrelevant: float, buffer: np.ndarray) -> ExactRows | None:
    """The rows of a block whose product-form log-joint ``joint`` (k, b) cannot be trusted
    (:func:`untrusted_rows`, with ``squares[r] = ‖y_r‖²``), computed by the direct formula from
    ``X[rows]`` (``rows`` None: all of ``X``); None when there are none. ``buffer``: at least
    ``b`` int64."""
    count = untrusted_rows(joint, squares, error_scale, *terms.error_terms, tolerance, irrelevant, HUGE_LOG_JOINT,
                           buffer)
    if not count:
        return None
    positions = buffer[:count].copy()
    found = ([], [], [])
    step = max(1, PASS_BYTES // (32 * terms.n_components * terms.n_features))   # four (rows, k, d) temporaries
    for start in range(0, count, step):
        some = positions[start:start + step]
        block = X[some] if rows is None else X[rows[some]]
        log_q, constant = log_distances(np.asarray(block, dtype=float), terms.locations, terms.covariances,
                                        terms.covariance_type)
        for values, part in zip(found, log_posterior(terms.log_weights[None, :] + constant, log_q)):
            values.append(part)
    return ExactRows(positions, *(np.concatenate(values) for values in found))


def _check_representable(features: np.ndarray, positions: np.ndarray, rows: np.ndarray) -> None:
    """Raise when a row's statistics (its features about the centre) overflow the float range."""
    bad = ~np.isfinite(features[:, positions]).all(axis=0)
    if np.any(bad):
        row = int(rows[positions[np.argmax(bad)]])
        raise ValueError(f"X: row {row} is so far from the other rows that its square about their mean overflows "
                         f"the {features.dtype} range; rescale X (or remove the row) to fit")


# ----------------------------------------------------------------------- compiled kernels
# Numba where BLAS has nothing to offer: building the features (one pass over the rows), the
# responsibilities from the log-joint (maxima, shift, exponential, sums and scaling in one pass
# over a block, in tiles that stay in cache), and the corrections for
# missing coordinates (a few numbers per incomplete row and component). Arrays indexed by
# component keep it on the last axis, so the loops over components are contiguous.
@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def _responsibilities(joint, floor, weights, largest, total, scale):  # pragma: no cover - compiled
    """Responsibilities in place of the log-joint ``joint`` (k, b), with what makes the rows'
    log-densities ``m_i + log s_i``.

    ``m_i = max_c L_ci`` (into ``largest``, float64), ``e_ci = exp(L_ci − m_i)`` (in the type of
    ``joint``; 0 when the exponent is below ``floor``: a ratio below ``e⁻⁶⁹⁰ ≈ 10⁻³⁰⁰``,
    ``e⁻⁷⁸ ≈ 10⁻³⁴`` in float32, changes no statistic, and the passes and products then meet no
    subnormal number), ``s_i = Σ_c e_ci`` (into ``total``, in its type, that of ``joint``: a float64
    sum would halve the float32 loops' vector width; over ``c`` in order) and
    ``joint[c, i] = e_ci · (w_i / s_i)`` (``w_i = 1`` when ``weights`` is None; the factor rounded
    to the type of ``joint`` in ``scale``). One pass over the block in
    tiles of :data:`_TILE_ROWS` rows, each loop along the contiguous rows of ``joint`` and
    vectorised: the exponential is :func:`~emkit.kernels.fast_exp.exp_of` (within 1 ulp), where
    ``np.exp`` in Numba calls the C library value by value, and the division takes NumPy's
    error model (no Python check for 0 in the loop). The logarithm is left to NumPy's
    vectorised one."""
    k, b = joint.shape
    zero = floor - floor   # 0 in the type of `joint` (a float64 literal would convert every ratio)
    for start in range(0, b, _TILE_ROWS):
        stop = min(start + _TILE_ROWS, b)
        # one-dimensional slices of the tile: loops over `range(start, stop)` do not vectorise
        top, sums, factors = largest[start:stop], total[start:stop], scale[start:stop]
        factors[:] = joint[0, start:stop]   # the maxima, in the type of `joint` for the shift
        for c in range(1, k):
            row = joint[c, start:stop]
            for r in range(row.size):
                factors[r] = max(factors[r], row[r])
        sums[:] = 0.0
        for c in range(k):
            row = joint[c, start:stop]
            for r in range(row.size):
                shifted = row[r] - factors[r]
                ratio = fast_exp(shifted)   # for every value, then chosen: the loop stays branch-free
                row[r] = ratio if shifted >= floor else zero
                sums[r] += row[r]
        for r in range(sums.size):
            top[r] = factors[r]
            factors[r] = (1.0 if weights is None else weights[start + r]) / sums[r]
        for c in range(k):
            row = joint[c, start:stop]
            for r in range(row.size):
                row[r] *= factors[r]


@njit(cache=True, nogil=True)
def _shifted_columns(X, rows, shift, out, squares):  # pragma: no cover - compiled
    """``out[0] = 1`` and ``out[1 + j, r] = y⁰_j = x_j − c_j`` (0 for NaN) of row ``rows[r]``, and
    ``squares[r] = ‖y⁰‖²`` (float64); returns the largest of ``squares``."""
    d = X.shape[1]
    largest = 0.0
    for r in range(rows.size):
        out[0, r] = 1.0
    for r in range(rows.size):
        row = rows[r]
        total = 0.0
        for j in range(d):
            value = X[row, j]
            y = 0.0 if np.isnan(value) else value - shift[j]
            out[1 + j, r] = y
            total += np.float64(y) * np.float64(y)
        squares[r] = total
        largest = max(largest, total)
    return largest


@njit(cache=True, nogil=True)
def full_features(X, rows, shift, out, squares):  # pragma: no cover - compiled
    """``Φᵀ``: ``out[:, r] = [1, y⁰, (y⁰_i y⁰_j)_{i≤j}]`` (row-major upper triangle) of ``rows[r]``;
    ``squares`` and the return value as :func:`_shifted_columns`."""
    d = X.shape[1]
    b = rows.size
    largest = _shifted_columns(X, rows, shift, out, squares)
    position = 1 + d
    for i in range(d):
        for j in range(i, d):
            for r in range(b):
                out[position, r] = out[1 + i, r] * out[1 + j, r]
            position += 1
    return largest


@njit(cache=True, nogil=True)
def diagonal_features(X, rows, shift, out, incomplete, squares):  # pragma: no cover - compiled
    """``Φᵀ``: ``out[:, r] = [1, y⁰, (y⁰)², 1 − o]`` (``o`` the observed indicator) of ``rows[r]``;
    the ``1 − o`` rows only when ``incomplete`` (the data may have missing values). Returns the
    number of missing values in the rows (0 when not ``incomplete``) and, as
    :func:`_shifted_columns`, the largest of ``squares``."""
    d = X.shape[1]
    b = rows.size
    largest = _shifted_columns(X, rows, shift, out, squares)
    for j in range(d):
        for r in range(b):
            out[1 + d + j, r] = out[1 + j, r] * out[1 + j, r]
    missing = 0
    if incomplete:
        for r in range(b):
            row = rows[r]
            for j in range(d):
                hole = np.isnan(X[row, j])
                out[1 + 2 * d + j, r] = 1.0 if hole else 0.0
                missing += hole
    return missing, largest


@njit(cache=True, nogil=True)
def untrusted_rows(joint, squares, error_scale, constant, linear, quadratic, tolerance, irrelevant, huge,
                   out):  # pragma: no cover - compiled
    """Rows whose product-form log-joint ``joint`` (k, b) may be wrong, written to ``out``; returns
    their count.

    The product adds up, for row ``y`` (``squares[r] = ‖y‖²``) and component ``k``, terms whose
    magnitudes sum to at most ``S_k = a_k + b_k ‖y‖ + c_k ‖y‖²`` (:attr:`MixtureTerms.error_terms`),
    so its rounding error is at most ``e·S_k`` (``e = error_scale``). A row is untrusted when,
    for a component within ``irrelevant`` of the row's largest log-joint, ``e·S_k`` exceeds
    ``tolerance · max(1, |log-joint|)``, when its features or log-joint are not finite, or when
    its largest log-joint is below ``−huge``. One pass over the rows; the components are looked
    at only for rows whose largest bound is above the tolerance (see :func:`may_be_untrusted`
    for a block's test that saves the pass)."""
    k, b = joint.shape
    a_max = constant.max()
    b_max = linear.max()
    c_max = quadratic.max()
    count = 0
    for r in range(b):
        norm = np.sqrt(squares[r])
        if error_scale * (a_max + b_max * norm + c_max * squares[r]) <= tolerance:
            continue
        flag = not squares[r] < np.inf
        if not flag:
            top = -np.inf
            for c in range(k):
                value = np.float64(joint[c, r])
                if value != value:
                    flag = True
                top = max(top, value)
            flag = flag or top < -huge
            if not flag:
                for c in range(k):
                    value = np.float64(joint[c, r])
                    bound = error_scale * (constant[c] + linear[c] * norm + quadratic[c] * squares[r])
                    if value + bound >= top - irrelevant and bound > tolerance * max(1.0, abs(value)):
                        flag = True
                        break
        if flag:
            out[count] = r
            count += 1
    return count
