"""Missing coordinates of full or tied Gaussian components in the product-form E-step.

The product ``Θᵀ Φᵀ`` of :mod:`emkit.kernels.gaussian_mixture_estep` is computed with ``y⁰``, the
row with 0 at its missing coordinates ``M``. For a component with precision ``Λ`` and centred
mean ``m``, let ``A = Λ_MM = G Gᵀ`` and the gradient ``w = (Λ (y⁰ − m))_M``: the quadratic form at
``y⁰`` minimised over the missing coordinates drops by ``‖z‖²`` with ``z = G⁻¹ w``, so the
marginal log-density of the observed coordinates is the product's value plus
``½ |M| log 2π − Σ log G_jj + ½ ‖z‖²``; and ``E[y_M | x_o] = f = −G⁻ᵀ z``, ``Cov[y_M | x_o] = A⁻¹``.
The statistics ``Φᵀ R`` miss ``r f`` (first moments), ``r (f y⁰ᵀ + y⁰ fᵀ)`` and ``r (f fᵀ + A⁻¹)``
(second moments).

With ``det Σ = det Σ_oo / det A``, the log-determinant of the observed block is ``log det Σ_oo =
log det Σ + 2 Σ log G_jj`` (:func:`pattern_log_dets`: the t family's Mahalanobis distances of the
observed coordinates come from it and the marginal log-density). The statistics may weigh the
conditional covariances ``A⁻¹`` apart from the first moments (the t family: ``γ`` beside ``γu``).

Rows are grouped by missingness pattern once (:func:`missing_layout`), so ``G``, ``A⁻¹`` and the
rows of ``Λ`` that ``w`` needs are computed once per run of rows with one pattern. A long run
(at least :data:`LONG_RUN` rows) takes matrix products for ``w`` and for the cross moments
``Σ r f y⁰ᵀ``; the many short runs of rare patterns are computed row by row. All of it is
compiled code that holds no lock, so the threads of the E-step do not wait on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..numerics import all_finite
from .gaussian import LOG_2PI

#: Runs of at least this many rows with one pattern are computed with matrix products.
LONG_RUN = 32


@dataclass(frozen=True)
class MissingLayout:
    """The rows of a data set grouped by which coordinates are missing (computed once).

    Attributes
    ----------
    order : ndarray of int or None
        The complete rows (in their order), then the incomplete rows grouped by pattern; None
        when no value is missing (the rows are taken in order).
    row_pattern : ndarray of int or None
        For each position of ``order``, the index of the row's pattern (−1: complete).
    missing : ndarray of int, shape (n_patterns, d)
        The missing coordinates of each pattern, first ``n_missing[p]`` entries of its row.
    n_missing : ndarray of int, shape (n_patterns,)
    """

    order: np.ndarray | None
    row_pattern: np.ndarray | None
    missing: np.ndarray
    n_missing: np.ndarray

    @property
    def complete(self) -> bool:
        """Whether no value is missing."""
        return self.order is None


def missing_layout(X, *, complete: bool | None = None) -> MissingLayout:
    """Group the rows of ``X`` (NaN = missing) by missingness pattern (:class:`MissingLayout`);
    ``complete=True`` says that no value is missing (known from a check of the caller)."""
    X = np.asarray(X)
    d = X.shape[1]
    if complete is None:
        complete = all_finite(X)
    if complete:
        return MissingLayout(None, None, np.empty((0, d), dtype=np.int64), np.empty(0, dtype=np.int64))
    mask = np.isnan(X)
    incomplete = mask.any(axis=1)
    if not incomplete.any():
        return MissingLayout(None, None, np.empty((0, d), dtype=np.int64), np.empty(0, dtype=np.int64))
    rows = np.flatnonzero(incomplete)
    patterns, inverse = np.unique(np.packbits(mask[rows], axis=1), axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    grouped = np.argsort(inverse, kind="stable")
    masks = np.unpackbits(patterns, axis=1, count=d).astype(bool)
    complete_rows = np.flatnonzero(~incomplete)
    return MissingLayout(
        order=np.concatenate([complete_rows, rows[grouped]]),
        row_pattern=np.concatenate([np.full(complete_rows.size, -1, dtype=np.int64), inverse[grouped].astype(np.int64)]),
        missing=np.argsort(~masks, axis=1, kind="stable").astype(np.int64),
        n_missing=masks.sum(axis=1).astype(np.int64),
    )


class MissingSums:
    """What the missing coordinates add to the statistics, indexed by component on the last axis:
    ``x[j, c]`` (first moments), ``cross[j, l, c]`` (``Σ r f y⁰ᵀ``, rows ``j`` missing; the second
    moments get it and its transpose) and ``block[j, l, c]`` (``Σ r (f fᵀ + A⁻¹)``, both missing)."""

    def __init__(self, d: int, k: int) -> None:
        self.x = np.zeros((d, k))
        self.cross = np.zeros((d, d, k))
        self.block = np.zeros((d, d, k))

    def second_moments(self) -> np.ndarray:
        """The addition to ``Σ r E[y yᵀ]``, shape ``(k, d, d)``."""
        cross = np.moveaxis(self.cross, 2, 0)
        return cross + np.swapaxes(cross, 1, 2) + np.moveaxis(self.block, 2, 0)


class PatternRuns:
    """The incomplete rows of a block (given in layout order, so that rows with one pattern form
    runs) and the per-pattern factors they need; ``whitened`` keeps ``z`` of the rows between the
    two passes. Both passes are compiled (:func:`_runs_log_density`, :func:`_runs_statistics`)
    and hold no lock, so threads run them side by side."""

    def __init__(self, pattern: np.ndarray, layout: MissingLayout, precision: np.ndarray,
                 precision_mean: np.ndarray, whitened: np.ndarray) -> None:
        """``precision[i, j, c] = Λ_c,ij`` and ``precision_mean[i, c] = (Λ_c m_c)_i``: component last."""
        self.pattern, self.layout = pattern, layout
        self.precision, self.precision_mean, self.whitened = precision, precision_mean, whitened

    def log_density(self, features: np.ndarray, out: np.ndarray) -> None:
        """Turn the product's values ``out[c, i]`` of the incomplete rows into marginal
        log-densities of their observed coordinates."""
        layout = self.layout
        _runs_log_density(features, self.pattern, layout.missing, layout.n_missing, self.precision,
                          self.precision_mean, out, self.whitened, LONG_RUN)

    def statistics(self, features: np.ndarray, resp: np.ndarray, sums: MissingSums,
                   conditional: np.ndarray | None = None) -> None:
        """Add to ``sums`` what the missing coordinates of the incomplete rows add, given the
        (weighted) responsibilities ``resp[c, i]`` (after :meth:`log_density`); the conditional
        covariances ``A⁻¹`` are weighted by ``conditional[c, i]`` when given (else by ``resp``)."""
        layout = self.layout
        _runs_statistics(features, self.pattern, layout.missing, layout.n_missing, self.precision, resp,
                         resp if conditional is None else conditional, self.whitened, sums.x, sums.cross,
                         sums.block, LONG_RUN)


def pattern_log_dets(layout: MissingLayout, precision: np.ndarray) -> np.ndarray:
    """``−Σ_a log G_c,aa = −½ log det Λ_c,MM`` for each pattern and component, shape
    ``(n_patterns, k)`` (``precision[i, j, c] = Λ_c,ij``): with ``det Σ = det Σ_oo / det Λ_MM``,
    ``log det Σ_c,oo^{-1/2}`` of a row is ``log det P_c`` plus its pattern's value."""
    return _pattern_log_dets(layout.missing, layout.n_missing, precision)


# ----------------------------------------------------------------------- compiled kernels
# Arrays indexed by component keep it on the last axis, so the loops over components are
# contiguous; each row's numbers are computed for all components at once.
@njit(cache=True, nogil=True)
def _run_end(row_pattern, start):  # pragma: no cover - compiled
    """End of the run of equal patterns that begins at ``start``."""
    end = start + 1
    while end < row_pattern.size and row_pattern[end] == row_pattern[start]:
        end += 1
    return end


@njit(cache=True, nogil=True)
def _pattern_cholesky(m, q, precision, lower, reciprocal):  # pragma: no cover - compiled
    """For the pattern ``m[:q]`` and every component ``c``: the lower Cholesky factor ``G_c`` of
    ``A_c = Λ_c,MM`` in ``lower[:, :, c]``, ``1 / G_c,aa`` in ``reciprocal[a, c]``."""
    k = precision.shape[2]
    for a in range(q):
        for b in range(a + 1):
            for c in range(k):
                lower[a, b, c] = precision[m[a], m[b], c]
            for j in range(b):
                for c in range(k):
                    lower[a, b, c] -= lower[a, j, c] * lower[b, j, c]
            if a == b:
                for c in range(k):
                    lower[a, a, c] = np.sqrt(lower[a, a, c])
                    reciprocal[a, c] = 1.0 / lower[a, a, c]
            else:
                for c in range(k):
                    lower[a, b, c] *= reciprocal[b, c]


@njit(cache=True, nogil=True)
def _pattern_setup(m, q, precision, precision_mean, lower, reciprocal, gathered, gathered_mean,
                   correction):  # pragma: no cover - compiled
    """What the log-densities of a run of pattern ``m[:q]`` need, for every component: ``G_c``
    (:func:`_pattern_cholesky`), ``gathered[j, a, c] = Λ_c[m_a, j]``, ``gathered_mean[a, c] =
    (Λ_c m_c)[m_a]`` and ``correction[c] = ½ q log 2π − Σ_a log G_c,aa`` (one logarithm of the
    product of the ``1 / G_c,aa``)."""
    d, _, k = precision.shape
    _pattern_cholesky(m, q, precision, lower, reciprocal)
    for j in range(d):
        for a in range(q):
            for c in range(k):
                gathered[j, a, c] = precision[m[a], j, c]
    for a in range(q):
        for c in range(k):
            gathered_mean[a, c] = precision_mean[m[a], c]
    for c in range(k):
        correction[c] = 1.0
    for a in range(q):
        for c in range(k):
            correction[c] *= reciprocal[a, c]
    for c in range(k):
        correction[c] = 0.5 * q * LOG_2PI + np.log(correction[c])


@njit(cache=True, nogil=True)
def _pattern_log_dets(missing, n_missing, precision):  # pragma: no cover - compiled
    """:func:`pattern_log_dets`."""
    d, _, k = precision.shape
    lower = np.empty((d, d, k))
    reciprocal = np.empty((d, k))
    out = np.zeros((n_missing.size, k))
    for p in range(n_missing.size):
        q = n_missing[p]
        _pattern_cholesky(missing[p], q, precision, lower, reciprocal)
        for a in range(q):
            for c in range(k):
                out[p, c] -= np.log(lower[a, a, c])
    return out


@njit(cache=True, nogil=True)
def _pattern_inverse(q, lower, reciprocal, inverse):  # pragma: no cover - compiled
    """``inverse[:, :, c] = A_c⁻¹ = G_c⁻ᵀ G_c⁻¹ = Cov[y_M | x_o]``, column by column."""
    k = reciprocal.shape[1]
    for column in range(q):
        for a in range(q):
            for c in range(k):
                inverse[a, column, c] = 1.0 if a == column else 0.0
            for j in range(a):
                for c in range(k):
                    inverse[a, column, c] -= lower[a, j, c] * inverse[j, column, c]
            for c in range(k):
                inverse[a, column, c] *= reciprocal[a, c]
        for a in range(q - 1, -1, -1):
            for j in range(a + 1, q):
                for c in range(k):
                    inverse[a, column, c] -= lower[j, a, c] * inverse[j, column, c]
            for c in range(k):
                inverse[a, column, c] *= reciprocal[a, c]


@njit(cache=True, nogil=True)
def _row_whitened(features, i, q, gathered, gathered_mean, lower, reciprocal, z):  # pragma: no cover
    """``z[a, c] = (G_c⁻¹ w_c)_a`` of row ``i`` (``y⁰`` read from the feature rows ``1..d``)."""
    d = gathered.shape[0]
    k = gathered.shape[2]
    for a in range(q):
        for c in range(k):
            z[a, c] = -gathered_mean[a, c]
    for j in range(d):
        value = features[1 + j, i]
        if value != 0.0:  # 0 at the missing coordinates
            for a in range(q):
                for c in range(k):
                    z[a, c] += value * gathered[j, a, c]
    for a in range(q):
        for e in range(a):
            for c in range(k):
                z[a, c] -= lower[a, e, c] * z[e, c]
        for c in range(k):
            z[a, c] *= reciprocal[a, c]


@njit(cache=True, nogil=True)
def _runs_log_density(features, row_pattern, missing, n_missing, precision, precision_mean, out, whitened,
                      long_run):  # pragma: no cover - compiled
    """The log-density correction ``½ q log 2π − Σ log G_jj + ½ ‖z‖²`` added to ``out[c, i]`` for the
    incomplete rows; ``z`` kept in ``whitened[i, :q, c]``. Runs of at least ``long_run`` rows
    take one matrix product for ``w`` (:func:`_long_run_log_density`), the others row by row."""
    d, _, k = precision.shape
    lower = np.empty((d, d, k))
    reciprocal = np.empty((d, k))
    gathered = np.empty((d, d, k))
    gathered_mean = np.empty((d, k))
    correction = np.empty(k)
    start = 0
    while start < row_pattern.size:
        p = row_pattern[start]
        end = _run_end(row_pattern, start)
        if p >= 0:
            q = n_missing[p]
            _pattern_setup(missing[p], q, precision, precision_mean, lower, reciprocal, gathered, gathered_mean,
                           correction)
            if end - start >= long_run:
                _long_run_log_density(features, start, end, q, gathered, gathered_mean, lower, reciprocal, correction,
                                      out, whitened)
            else:
                for i in range(start, end):
                    z = whitened[i]
                    _row_whitened(features, i, q, gathered, gathered_mean, lower, reciprocal, z)
                    for c in range(k):
                        norm = 0.0
                        for a in range(q):
                            norm += z[a, c] * z[a, c]
                        out[c, i] += correction[c] + 0.5 * norm
        start = end


@njit(cache=True, nogil=True)
def _run_rows(features, start, end, d):  # pragma: no cover - compiled
    """``y⁰`` of the rows ``start..end`` (feature rows ``1..d``) as a contiguous float64 ``(d, L)`` array."""
    y = np.empty((d, end - start))
    for j in range(d):
        for i in range(start, end):
            y[j, i - start] = features[1 + j, i]
    return y


@njit(cache=True, nogil=True)
def _long_run_log_density(features, start, end, q, gathered, gathered_mean, lower, reciprocal, correction, out,
                          whitened):  # pragma: no cover - compiled
    """:func:`_runs_log_density` for a long run: ``w`` of all its rows and components as one
    product ``Λ_c,M· y⁰`` (rows ``(a, c)``), then the triangular solves along the rows."""
    d = gathered.shape[0]
    k = gathered.shape[2]
    length = end - start
    precision_rows = np.empty((q * k, d))
    for a in range(q):
        for c in range(k):
            for j in range(d):
                precision_rows[a * k + c, j] = gathered[j, a, c]
    z = np.dot(precision_rows, _run_rows(features, start, end, d))
    for a in range(q):
        for c in range(k):
            za = z[a * k + c]
            mean = gathered_mean[a, c]
            for i in range(length):
                za[i] -= mean
            for e in range(a):
                ze = z[e * k + c]
                factor = lower[a, e, c]
                for i in range(length):
                    za[i] -= factor * ze[i]
            scale = reciprocal[a, c]
            for i in range(length):
                za[i] *= scale
    norm = np.empty(length)
    for c in range(k):
        for i in range(length):
            norm[i] = 0.0
        for a in range(q):
            za = z[a * k + c]
            for i in range(length):
                norm[i] += za[i] * za[i]
                whitened[start + i, a, c] = za[i]
        for i in range(length):
            out[c, start + i] += correction[c] + 0.5 * norm[i]


@njit(cache=True, nogil=True)
def _runs_statistics(features, row_pattern, missing, n_missing, precision, resp, conditional, whitened, sum_x, cross,
                     block, long_run):  # pragma: no cover - compiled
    """For the incomplete rows, with ``r = resp[c, i]`` and ``f = −G⁻ᵀ z`` (``z`` from
    :func:`_runs_log_density`): ``r f`` into ``sum_x[M]``, ``r f y⁰ᵀ`` into ``cross[M]``,
    ``r f fᵀ`` and (once per run, times its ``Σ conditional[c, i]``) ``A⁻¹`` into ``block[M, M]``; runs of at
    least ``long_run`` rows by :func:`_long_run_statistics`, the others row by row."""
    d, _, k = precision.shape
    lower = np.empty((d, d, k))
    reciprocal = np.empty((d, k))
    inverse = np.empty((d, d, k))
    f = np.empty((d, k))
    weighted = np.empty((d, k))
    r = np.empty(k)
    total = np.empty(k)
    start = 0
    while start < row_pattern.size:
        p = row_pattern[start]
        end = _run_end(row_pattern, start)
        if p < 0:
            start = end
            continue
        q = n_missing[p]
        m = missing[p]
        _pattern_cholesky(m, q, precision, lower, reciprocal)
        _pattern_inverse(q, lower, reciprocal, inverse)
        if end - start >= long_run:
            _long_run_statistics(features, start, end, q, m, lower, reciprocal, inverse, resp, conditional, whitened,
                                 sum_x, cross, block)
            start = end
            continue
        for c in range(k):
            total[c] = 0.0
        for i in range(start, end):
            z = whitened[i]
            for a in range(q - 1, -1, -1):  # f = −G⁻ᵀ z
                for c in range(k):
                    f[a, c] = -z[a, c]
                for e in range(a + 1, q):
                    for c in range(k):
                        f[a, c] -= lower[e, a, c] * f[e, c]
                for c in range(k):
                    f[a, c] *= reciprocal[a, c]
            for c in range(k):
                r[c] = resp[c, i]
                total[c] += conditional[c, i]
            for a in range(q):
                ma = m[a]
                for c in range(k):
                    weighted[a, c] = r[c] * f[a, c]
                    sum_x[ma, c] += weighted[a, c]
                for j in range(d):
                    value = features[1 + j, i]
                    if value != 0.0:
                        for c in range(k):
                            cross[ma, j, c] += weighted[a, c] * value
                for e in range(q):
                    for c in range(k):
                        block[ma, m[e], c] += weighted[a, c] * f[e, c]
        for a in range(q):
            for e in range(q):
                for c in range(k):
                    block[m[a], m[e], c] += total[c] * inverse[a, e, c]
        start = end


@njit(cache=True, nogil=True)
def _long_run_statistics(features, start, end, q, m, lower, reciprocal, inverse, resp, conditional, whitened, sum_x,
                         cross, block):  # pragma: no cover - compiled
    """:func:`_runs_statistics` for a long run: ``f`` and ``r f`` of all its rows with rows
    ``(a, c)``, and the cross moments as one product ``(r f) y⁰ᵀ``."""
    d = cross.shape[1]
    k = resp.shape[0]
    length = end - start
    f = np.empty((q * k, length))
    for a in range(q - 1, -1, -1):  # f = −G⁻ᵀ z
        for c in range(k):
            fa = f[a * k + c]
            for i in range(length):
                fa[i] = -whitened[start + i, a, c]
            for e in range(a + 1, q):
                fe = f[e * k + c]
                factor = lower[e, a, c]
                for i in range(length):
                    fa[i] -= factor * fe[i]
            scale = reciprocal[a, c]
            for i in range(length):
                fa[i] *= scale
    weighted = np.empty((q * k, length))
    for a in range(q):
        for c in range(k):
            wa = weighted[a * k + c]
            fa = f[a * k + c]
            total = 0.0
            for i in range(length):
                wa[i] = resp[c, start + i] * fa[i]
                total += wa[i]
            sum_x[m[a], c] += total
    products = np.dot(weighted, _run_rows(features, start, end, d).T)
    for a in range(q):
        for j in range(d):
            for c in range(k):
                cross[m[a], j, c] += products[a * k + c, j]
    for c in range(k):
        total = 0.0
        for i in range(length):
            total += conditional[c, start + i]
        for a in range(q):
            wa = weighted[a * k + c]
            for e in range(q):
                fe = f[e * k + c]
                moment = 0.0
                for i in range(length):
                    moment += wa[i] * fe[i]
                block[m[a], m[e], c] += moment + total * inverse[a, e, c]
