"""Missing coordinates of full or tied Gaussian components in the product-form E-step.

The product ``Θᵀ Φᵀ`` of :mod:`emkit.kernels.gaussian_mixture_estep` is computed with ``y⁰``, the
row with 0 at its missing coordinates ``M``. For a component with precision ``Λ`` and centred
mean ``m``, let ``A = Λ_MM = G Gᵀ`` and the gradient ``w = (Λ (y⁰ − m))_M``: the quadratic form at
``y⁰`` minimised over the missing coordinates drops by ``‖z‖²`` with ``z = G⁻¹ w``, so the
marginal log-density of the observed coordinates is the product's value plus
``½ |M| log 2π − Σ log G_jj + ½ ‖z‖²``; and ``E[y_M | x_o] = f = −G⁻ᵀ z``, ``Cov[y_M | x_o] = A⁻¹``.
The statistics ``Φᵀ R`` miss ``r f`` (first moments), ``r (f y⁰ᵀ + y⁰ fᵀ)`` and ``r (f fᵀ + A⁻¹)``
(second moments).

Rows are grouped by missingness pattern once (:func:`missing_layout`), so ``G``, ``A⁻¹`` and the
rows of ``Λ`` that ``w`` needs are computed once per run of rows with one pattern. A long run
(at least :data:`LONG_RUN` rows) takes matrix products for ``w`` and for the cross moments
``Σ r f y⁰ᵀ``; the many short runs of rare patterns are computed row by row in compiled code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..numerics import all_finite
from .gaussian import LOG_2PI

#: Runs of at least this many rows with one pattern are computed with matrix products (the
#: work in Python per run is then small next to the rows').
LONG_RUN = 128


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

    def add(self, other: MissingSums) -> None:
        """Add ``other``'s sums."""
        self.x += other.x
        self.cross += other.cross
        self.block += other.block

    def second_moments(self) -> np.ndarray:
        """The addition to ``Σ r E[y yᵀ]``, shape ``(k, d, d)``."""
        cross = np.moveaxis(self.cross, 2, 0)
        return cross + np.swapaxes(cross, 1, 2) + np.moveaxis(self.block, 2, 0)


class PatternRuns:
    """The runs of one pattern in a block of rows (given in layout order) and the per-pattern
    factors they need; ``whitened`` keeps ``z`` of the short runs' rows between the two passes,
    ``long_factors`` the factors and ``z`` of each long run (:meth:`log_density` first)."""

    def __init__(self, pattern: np.ndarray, layout: MissingLayout, precision: np.ndarray,
                 precision_mean: np.ndarray, whitened: np.ndarray) -> None:
        """``precision[i, j, c] = Λ_c,ij`` and ``precision_mean[i, c] = (Λ_c m_c)_i``: component last."""
        self.pattern, self.layout = pattern, layout
        self.precision, self.precision_mean, self.whitened = precision, precision_mean, whitened
        edges = np.flatnonzero(pattern[1:] != pattern[:-1]) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [pattern.size]])
        incomplete = pattern[starts] >= 0
        self.long = [(int(start), int(end)) for start, end in zip(starts[incomplete], ends[incomplete])
                     if end - start >= LONG_RUN]
        self.long_factors: list[tuple[_RunFactors, np.ndarray]] = []

    def log_density(self, features: np.ndarray, out: np.ndarray) -> None:
        """Turn the product's values ``out[c, i]`` of the incomplete rows into marginal
        log-densities of their observed coordinates."""
        layout = self.layout
        _short_runs_log_density(features, self.pattern, layout.missing, layout.n_missing, self.precision,
                                self.precision_mean, out, self.whitened, LONG_RUN)
        self.long_factors = []
        for start, end in self.long:
            factors = _RunFactors(self, start)
            z = factors.whitened(features[1:1 + factors.d, start:end])
            out[:, start:end] += factors.correction[:, None] + 0.5 * np.einsum("akl,akl->kl", z, z)
            self.long_factors.append((factors, z))

    def statistics(self, features: np.ndarray, resp: np.ndarray, sums: MissingSums) -> None:
        """Add to ``sums`` what the missing coordinates of the incomplete rows add, given the
        (weighted) responsibilities ``resp[c, i]``."""
        layout = self.layout
        _short_runs_statistics(features, self.pattern, layout.missing, layout.n_missing, self.precision, resp,
                               self.whitened, sums.x, sums.cross, sums.block, LONG_RUN)
        for (start, end), (factors, z) in zip(self.long, self.long_factors):
            y = features[1:1 + factors.d, start:end]
            f = factors.conditional_means(z)                             # (q, k, L)
            r = resp[:, start:end].astype(float)                         # (k, L)
            weighted = f * r                                             # (q, k, L)
            m, q, k = factors.m, factors.q, r.shape[0]
            sums.x[m] += weighted.sum(axis=2)
            sums.cross[m] += np.moveaxis((weighted.reshape(q * k, -1) @ y.T).reshape(q, k, -1), 2, 1)
            inverse = np.empty((q, q, k))
            _pattern_inverse(q, factors.lower, factors.reciprocal, inverse)
            sums.block[np.ix_(m, m)] += np.einsum("akl,ekl->aek", weighted, f) + inverse * r.sum(axis=1)


class _RunFactors:
    """The factors of the pattern of the run at ``start`` for every component (last axis)."""

    def __init__(self, runs: PatternRuns, start: int) -> None:
        pattern = runs.pattern[start]
        d, _, k = runs.precision.shape
        self.q = q = int(runs.layout.n_missing[pattern])
        self.m = runs.layout.missing[pattern, :q]
        self.d = d
        self.lower = np.empty((q, q, k))
        self.reciprocal = np.empty((q, k))
        self.gathered = np.empty((d, q, k))
        self.gathered_mean = np.empty((q, k))
        self.correction = np.empty(k)
        _pattern_setup(self.m, q, runs.precision, runs.precision_mean, self.lower, self.reciprocal, self.gathered,
                       self.gathered_mean, self.correction)

    def whitened(self, y: np.ndarray) -> np.ndarray:
        """``z[a, c, i] = (G_c⁻¹ w_c,i)_a`` for the rows ``y`` (shape ``(d, L)``, 0 where missing)."""
        q, k = self.q, self.reciprocal.shape[1]
        z = (self.gathered.reshape(self.d, q * k).T @ y).reshape(q, k, -1) - self.gathered_mean[:, :, None]
        for a in range(q):
            for e in range(a):
                z[a] -= self.lower[a, e, :, None] * z[e]
            z[a] *= self.reciprocal[a, :, None]
        return z

    def conditional_means(self, z: np.ndarray) -> np.ndarray:
        """``f = −G⁻ᵀ z = E[y_M | x_o]`` for each component and row."""
        f = np.empty_like(z)
        for a in range(self.q - 1, -1, -1):
            f[a] = -z[a]
            for e in range(a + 1, self.q):
                f[a] -= self.lower[e, a, :, None] * f[e]
            f[a] *= self.reciprocal[a, :, None]
        return f


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
def _short_runs_log_density(features, row_pattern, missing, n_missing, precision, precision_mean, out, whitened,
                            long_run):  # pragma: no cover - compiled
    """The log-density correction ``½ q log 2π − Σ log G_jj + ½ ‖z‖²`` added to ``out[c, i]`` for the
    incomplete rows in runs shorter than ``long_run``; ``z`` kept in ``whitened[i, :q, c]``."""
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
        if p >= 0 and end - start < long_run:
            q = n_missing[p]
            _pattern_setup(missing[p], q, precision, precision_mean, lower, reciprocal, gathered, gathered_mean,
                           correction)
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
def _short_runs_statistics(features, row_pattern, missing, n_missing, precision, resp, whitened, sum_x, cross,
                           block, long_run):  # pragma: no cover - compiled
    """For the incomplete rows in runs shorter than ``long_run``, with ``r = resp[c, i]`` and
    ``f = −G⁻ᵀ z`` (``z`` from :func:`_short_runs_log_density`): ``r f`` into ``sum_x[M]``,
    ``r f y⁰ᵀ`` into ``cross[M]``, ``r f fᵀ`` and (once per run, times its ``Σ r``) ``A⁻¹`` into
    ``block[M, M]``."""
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
        if p < 0 or end - start >= long_run:
            start = end
            continue
        q = n_missing[p]
        m = missing[p]
        _pattern_cholesky(m, q, precision, lower, reciprocal)
        _pattern_inverse(q, lower, reciprocal, inverse)
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
                total[c] += r[c]
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
