"""The whole E-step of a small Gaussian mixture in one compiled pass over the rows.

For a few thousand rows the product form of :mod:`emkit.kernels.gaussian_mixture_estep` spends
most of an E-step on its fixed costs (the terms ``θ``, the error bounds, the features, two BLAS
calls and a dozen NumPy passes, each a few microseconds), not on arithmetic. Here one compiled
call does everything for complete rows (in float64, float32 rows too): the Cholesky factor ``Σ_k = L_k L_kᵀ`` of every
component (no inverse), the direct log-density

    log N(x | μ_k, Σ_k) = −½ d log 2π − Σ_j log L_k,jj − ½ ‖L_k⁻¹ (x − μ_k)‖²

(a forward substitution per row and component; diagonal structures divide by ``σ_kj``), the
log-sum-exp of ``log π_k + log N`` into the responsibilities and ``log p(x_i)``, and the weighted
sums of the mixture statistics about each component's own mean (the ``anchored_*`` statistics,
which the M-step then uses: no digits lost to a component far from the centre, see
:func:`~emkit.kernels.gaussian.m_step_statistics`), and from them, at the end, those about the
data set's centre ``c`` (``n``, ``sum_x``, ``sum_xx``). Every log-density is the direct formula's,
whose rounding error is a few ``ε`` times ``(x − μ_k)ᵀ Σ_k⁻¹ (x − μ_k)`` whatever the centre, so no
error bound or fallback is needed; all sums are in log space or of responsibilities in ``[0, 1]``.

:func:`small_mixture_pass` returns None when a covariance is not positive definite (or not
finite), and the caller takes the general path, which raises the ValueError naming the
component and the remedy.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .covariance_structures import CovarianceStructure
from .gaussian import anchored_zeros
from .gaussian_direct import LOST
from .gaussian_mixture_estep import ERROR_FACTOR, FAR_TOLERANCE

# The kernels use NumPy's error model (no zero-division checks: every divisor is a positive
# variance, Cholesky diagonal, count or sum of responsibilities, checked first), and the per-row
# helpers are inlined into the row loops: ~20% less time per row, the same arithmetic.

#: The dispatch: a block takes the compiled pass when its estimated time, rows × components ×
#: the cost of one row under one component, is at most :data:`COMPILED_BUDGET_NS`, about the
#: fixed cost of one product-form E-step of a block (its terms, error bounds, features, two BLAS
#: calls and a dozen NumPy passes: 170–250 µs); beyond it the product form's BLAS products win.
#: The costs, in nanoseconds, are those measured on an AMD EPYC (Zen 4) with
#: ``benchmarks/small_problems.py --threshold``: 20 per row and component for diagonal
#: structures, ``15 + 0.55 d²`` for matrices. So d = 2, k = 3 takes the compiled pass up to
#: ~3,900 rows, d = 8, k = 8 up to ~500, d = 16, k = 16 never.
COMPILED_BUDGET_NS = 200_000.0
DIAGONAL_ROW_NS = 20.0
MATRIX_ROW_NS = 15.0
MATRIX_ROW_NS_PER_SQUARE = 0.55

LOG_2PI = math.log(2.0 * math.pi)

#: A row whose largest log-joint is at or below this has ``log p(x) = −∞``, as in the general
#: path (:data:`~emkit.kernels.gaussian_direct.LOST`).
HALF_LOST = 0.5 * LOST

#: ``ERROR_FACTOR · ε/2``: the rounding error of statistics about the centre per unit of
#: :func:`~emkit.kernels.gaussian_mixture_estep.rounding_factors`.
FAR_SCALE = ERROR_FACTOR * float(np.finfo(np.float64).eps) / 2


def small_pass_applies(X: np.ndarray, complete: bool, n_components: int, structure: CovarianceStructure) -> bool:
    """Whether a block of rows takes :func:`small_mixture_pass`: complete rows (float32 rows too,
    computed in float64) whose estimated time is within :data:`COMPILED_BUDGET_NS`."""
    if not complete or X.dtype not in (np.float64, np.float32):
        return False
    rows, d = X.shape
    per_row = DIAGONAL_ROW_NS if structure.diagonal else MATRIX_ROW_NS + MATRIX_ROW_NS_PER_SQUARE * d * d
    return rows * n_components * per_row <= COMPILED_BUDGET_NS


def small_mixture_pass(X: np.ndarray, sample_weight: np.ndarray | None, centre: np.ndarray, weights: np.ndarray,
                       means: np.ndarray, covariances: np.ndarray,
                       structure: CovarianceStructure) -> tuple[dict[str, np.ndarray], float] | None:
    """The mixture statistics and ``Σ_i w_i log p(x_i)`` of complete rows ``X`` (n, d; float64
    arithmetic, float32 rows converted).

    Returns ``({n, sum_x, sum_xx, anchored_n, anchored_x, anchored_xx, anchored_at}, loglik)``
    shaped as the product form's (``sum_xx`` by ``structure``), or None when a covariance is not
    positive definite. Rows of weight 0 add nothing (``0 · (−inf)`` is 0).
    """
    k, d = means.shape
    X = np.ascontiguousarray(X, dtype=np.float64)
    with np.errstate(divide="ignore"):  # log 0 = −inf: an empty component gets no responsibility
        log_weights = np.log(weights)
    has_weights = sample_weight is not None
    row_weights = sample_weight if has_weights else np.empty(0)
    n, sum_x, anchored_x = np.zeros(k), np.zeros((k, d)), np.zeros((k, d))
    if structure.diagonal:
        variances = np.ascontiguousarray(structure.diagonal_variances(covariances, k, d), dtype=np.float64)
        second, anchored_second = np.zeros((k, d)), np.zeros((k, d))
        loglik, ok, far = _diagonal_pass(X, row_weights, has_weights, centre, log_weights, means, variances,
                                         n, sum_x, second, anchored_x, anchored_second)
        reduce = structure.reduce_diagonal_second
    else:
        matrices = np.ascontiguousarray(structure.full_matrices(covariances, k, d), dtype=np.float64)
        second, anchored_second = np.zeros((k, d, d)), np.zeros((k, d, d))
        loglik, ok, far = _matrix_pass(X, row_weights, has_weights, centre, log_weights, means, matrices,
                                       n, sum_x, second, anchored_x, anchored_second)
        reduce = structure.second_of_matrices
    if not ok:
        return None
    stats = {"n": n, "sum_x": sum_x, "sum_xx": reduce(second)}
    if far:   # as the product form: every component's statistics about its own mean too
        stats.update(anchored_n=n.copy(), anchored_x=anchored_x, anchored_xx=reduce(anchored_second),
                     anchored_at=n[:, None] * means)
    else:
        stats.update(anchored_zeros(structure, k, d))
    return stats, loglik


def small_log_joint(X: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                    structure: CovarianceStructure) -> np.ndarray | None:
    """``log π_k + log N(x_i | μ_k, Σ_k)`` of complete rows ``X`` (n, k; float64) by the direct
    formula of :func:`small_mixture_pass` (for scoring: criteria, labels), or None when a
    covariance is not positive definite (the general path then raises)."""
    k, d = means.shape
    X = np.ascontiguousarray(X, dtype=np.float64)
    means = np.ascontiguousarray(means, dtype=np.float64)
    with np.errstate(divide="ignore"):  # log 0 = −inf: an empty component
        log_weights = np.log(weights)
    out = np.empty((X.shape[0], k))
    if structure.diagonal:
        variances = np.ascontiguousarray(structure.diagonal_variances(covariances, k, d), dtype=np.float64)
        ok = _diagonal_log_joint(X, log_weights, means, variances, out)
    else:
        matrices = np.ascontiguousarray(structure.full_matrices(covariances, k, d), dtype=np.float64)
        ok = _matrix_log_joint(X, log_weights, means, matrices, out)
    return out if ok else None


@njit(cache=True, nogil=True, error_model="numpy")
def _matrix_log_joint(X, log_weights, means, covariances, out):  # pragma: no cover - compiled
    k, d = means.shape
    lower, inverse_diagonal, constant = np.zeros((k, d, d)), np.empty((k, d)), np.empty(k)
    if not _matrix_factors(covariances, log_weights, lower, inverse_diagonal, constant):
        return False
    z = np.empty(d)
    for i in range(X.shape[0]):
        _matrix_joint(X, i, means, lower, inverse_diagonal, constant, z, out[i])
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _diagonal_log_joint(X, log_weights, means, variances, out):  # pragma: no cover - compiled
    k, d = means.shape
    inverse_scale, constant = np.empty((k, d)), np.empty(k)
    if not _diagonal_factors(variances, log_weights, inverse_scale, constant):
        return False
    for i in range(X.shape[0]):
        _diagonal_joint(X, i, means, inverse_scale, constant, out[i])
    return True


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _accumulate(log_joint, w, n, loglik):  # pragma: no cover - compiled
    """Turn one row's ``log π_k + log N`` into its weighted responsibilities (added to ``n``) in
    place; returns ``loglik + w log p(x)`` (nothing added for a row of weight 0; −∞ for a row no
    component can produce, whose responsibilities are then 0)."""
    k = log_joint.size
    top = -np.inf
    for c in range(k):
        if log_joint[c] > top:
            top = log_joint[c]
    total = 0.0
    for c in range(k):
        log_joint[c] = 1.0 if log_joint[c] == top else math.exp(log_joint[c] - top)
        total += log_joint[c]
    if w == 0.0 or not top > HALF_LOST:   # weight 0, or every density below the float range
        for c in range(k):
            log_joint[c] = 0.0
        return loglik if w == 0.0 else -np.inf
    scale = w / total
    for c in range(k):
        log_joint[c] *= scale
        n[c] += log_joint[c]
    return loglik + w * (top + math.log(total))


#: :func:`clearly_positive_definite`'s margin: every Cholesky pivot at least this fraction of its
#: diagonal entry, far beyond the rounding (a few ``d ε`` of it) by which LAPACK's factorisation
#: of the same matrix can differ.
PIVOT_MARGIN = 1e-8
#: The largest ``d`` :func:`clearly_positive_definite` factorises (beyond, LAPACK's speed wins).
CLEAR_CHECK_FEATURES = 16


def clearly_positive_definite(matrices: np.ndarray) -> bool:
    """Whether every finite float64 matrix of the stack ``matrices`` (k, d, d) (its lower
    triangle, as LAPACK reads it) is positive definite with every Cholesky pivot above
    :data:`PIVOT_MARGIN` of its diagonal entry, so that ``np.linalg.cholesky`` certainly succeeds.
    False says nothing (the caller asks LAPACK): also for other dtypes and ``d`` beyond
    :data:`CLEAR_CHECK_FEATURES`. One compiled call instead of a batched factorisation and its
    triangular inverses."""
    if matrices.dtype != np.float64 or matrices.ndim != 3 or matrices.shape[2] > CLEAR_CHECK_FEATURES:
        return False
    return _clear_pivots(matrices)


@njit(cache=True, nogil=True, error_model="numpy")
def _clear_pivots(matrices):  # pragma: no cover - compiled
    k, d = matrices.shape[0], matrices.shape[2]
    lower = np.empty((d, d))
    for c in range(k):
        for a in range(d):
            for b in range(a + 1):
                s = matrices[c, a, b]
                for j in range(b):
                    s -= lower[a, j] * lower[b, j]
                if a == b:
                    if not (s > PIVOT_MARGIN * matrices[c, a, a] and math.isfinite(s)):
                        return False
                    lower[a, a] = math.sqrt(s)
                else:
                    lower[a, b] = s / lower[b, b]
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _matrix_factors(covariances, log_weights, lower, inverse_diagonal, constant):  # pragma: no cover - compiled
    """Cholesky factors ``Σ_k = L_k L_kᵀ`` (into ``lower``), ``1 / L_k,jj`` and the constants
    ``log π_k − ½ d log 2π − Σ_j log L_k,jj``; False when a covariance is not positive definite."""
    k, d = inverse_diagonal.shape
    for c in range(k):
        log_det = 0.0
        for a in range(d):
            for b in range(a + 1):
                s = covariances[c, a, b]
                for j in range(b):
                    s -= lower[c, a, j] * lower[c, b, j]
                if a == b:
                    if not (s > 0.0 and math.isfinite(s)):
                        return False
                    lower[c, a, a] = math.sqrt(s)
                    inverse_diagonal[c, a] = 1.0 / lower[c, a, a]
                    log_det += math.log(lower[c, a, a])
                else:
                    lower[c, a, b] = s / lower[c, b, b]
        constant[c] = log_weights[c] - 0.5 * d * LOG_2PI - log_det
    return True


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _matrix_joint(X, i, means, lower, inverse_diagonal, constant, z, joint):  # pragma: no cover - compiled
    """Row ``i``'s ``log π_k + log N(x_i | μ_k, L_k L_kᵀ)`` into ``joint`` (``z``: scratch of d)."""
    k, d = means.shape
    for c in range(k):
        q = 0.0
        for a in range(d):
            s = X[i, a] - means[c, a]
            for b in range(a):
                s -= lower[c, a, b] * z[b]
            z[a] = s * inverse_diagonal[c, a]
            q += z[a] * z[a]
        joint[c] = constant[c] - 0.5 * q


@njit(cache=True, nogil=True, error_model="numpy")
def _matrix_pass(X, weights, has_weights, centre, log_weights, means, covariances,
                 n, sum_x, second, anchored_x, anchored_second):  # pragma: no cover - compiled
    """Full matrices: Cholesky factors, then one pass over the rows (see the module)."""
    rows, d = X.shape
    k = means.shape[0]
    lower, inverse_diagonal, constant = np.zeros((k, d, d)), np.empty((k, d)), np.empty(k)
    if not _matrix_factors(covariances, log_weights, lower, inverse_diagonal, constant):
        return 0.0, False, False
    far = _any_far_matrix(lower, inverse_diagonal, covariances, means, centre)
    joint = np.empty(k)
    z = np.empty(d)
    loglik = 0.0
    for i in range(rows):
        _matrix_joint(X, i, means, lower, inverse_diagonal, constant, z, joint)
        loglik = _accumulate(joint, weights[i] if has_weights else 1.0, n, loglik)
        for c in range(k):
            r = joint[c]
            if r == 0.0:
                continue
            for a in range(d):
                rz = r * (X[i, a] - means[c, a])
                anchored_x[c, a] += rz
                for b in range(a + 1):
                    anchored_second[c, a, b] += rz * (X[i, b] - means[c, b])
    _about_centre(n, anchored_x, anchored_second, means, centre, sum_x, second)
    return loglik, True, far


@njit(cache=True, nogil=True, error_model="numpy")
def _any_far_matrix(lower, inverse_diagonal, covariances, means, centre):  # pragma: no cover - compiled
    """Whether a component is far from the centre by :func:`~emkit.kernels.gaussian_mixture_estep.far_components`'s
    rule: ``ERROR_FACTOR · ε/2 · aᵀ|Λ_k|a`` beyond ``FAR_TOLERANCE``, ``a = |μ_k − c| + 3σ_k``,
    ``Λ_k = L_k⁻ᵀ L_k⁻¹``."""
    k, d = means.shape
    inverse = np.zeros((d, d))
    a = np.empty(d)
    for c in range(k):
        for j in range(d):   # column j of L⁻¹ by forward substitution
            for r in range(d):
                inverse[r, j] = 0.0
            for r in range(j, d):
                s = 1.0 if r == j else 0.0
                for b in range(j, r):
                    s -= lower[c, r, b] * inverse[b, j]
                inverse[r, j] = s * inverse_diagonal[c, r]
        for r in range(d):
            a[r] = abs(means[c, r] - centre[r]) + 3.0 * math.sqrt(covariances[c, r, r])
        factor = 0.0
        for r in range(d):
            for t in range(d):
                precision = 0.0
                for j in range(max(r, t), d):
                    precision += inverse[j, r] * inverse[j, t]
                factor += a[r] * abs(precision) * a[t]
        if not FAR_SCALE * factor <= FAR_TOLERANCE:
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def _about_centre(n, anchored_x, anchored_second, means, centre, sum_x, second):  # pragma: no cover - compiled
    """The statistics about ``c`` from those about the means (lower triangles of the second
    moments given; both completed): with ``u_k = μ_k − c``, ``Σ r (x − c) = a_k + n_k u_k`` and
    ``Σ r (x − c)(x − c)ᵀ = A_k + a_k u_kᵀ + u_k a_kᵀ + n_k u_k u_kᵀ``."""
    k, d = means.shape
    for c in range(k):
        for a in range(d):
            ua = means[c, a] - centre[a]
            sum_x[c, a] = anchored_x[c, a] + n[c] * ua
            for b in range(a + 1):
                ub = means[c, b] - centre[b]
                value = anchored_second[c, a, b] + anchored_x[c, a] * ub + ua * anchored_x[c, b] + n[c] * ua * ub
                second[c, a, b] = second[c, b, a] = value
                anchored_second[c, b, a] = anchored_second[c, a, b]


@njit(cache=True, nogil=True, error_model="numpy")
def _diagonal_factors(variances, log_weights, inverse_scale, constant):  # pragma: no cover - compiled
    """``1 / σ_kj`` and the constants ``log π_k − ½ d log 2π − Σ_j log σ_kj``; False when a
    variance is not positive and finite."""
    k, d = variances.shape
    for c in range(k):
        log_det = 0.0
        for a in range(d):
            v = variances[c, a]
            if not (v > 0.0 and math.isfinite(v)):
                return False
            scale = math.sqrt(v)
            inverse_scale[c, a] = 1.0 / scale
            log_det += math.log(scale)
        constant[c] = log_weights[c] - 0.5 * d * LOG_2PI - log_det
    return True


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _diagonal_joint(X, i, means, inverse_scale, constant, joint):  # pragma: no cover - compiled
    """Row ``i``'s ``log π_k + log N(x_i | μ_k, diag σ_k²)`` into ``joint``."""
    k, d = means.shape
    for c in range(k):
        q = 0.0
        for a in range(d):
            t = (X[i, a] - means[c, a]) * inverse_scale[c, a]
            q += t * t
        joint[c] = constant[c] - 0.5 * q


@njit(cache=True, nogil=True, error_model="numpy")
def _diagonal_pass(X, weights, has_weights, centre, log_weights, means, variances,
                   n, sum_x, second, anchored_x, anchored_second):  # pragma: no cover - compiled
    """Per-coordinate variances ``(k, d)``: one pass over the rows (see the module)."""
    rows, d = X.shape
    k = means.shape[0]
    inverse_scale, constant = np.empty((k, d)), np.empty(k)
    if not _diagonal_factors(variances, log_weights, inverse_scale, constant):
        return 0.0, False, False
    far = False
    for c in range(k):   # far_components' rule, as _any_far_matrix: a = |μ_k − c| + 3σ_k, Σ_j a_j² / σ²_kj
        factor = 0.0
        for a in range(d):
            t = abs(means[c, a] - centre[a]) + 3.0 * math.sqrt(variances[c, a])
            factor += t * t / variances[c, a]
        far = far or not FAR_SCALE * factor <= FAR_TOLERANCE
    joint = np.empty(k)
    loglik = 0.0
    for i in range(rows):
        _diagonal_joint(X, i, means, inverse_scale, constant, joint)
        loglik = _accumulate(joint, weights[i] if has_weights else 1.0, n, loglik)
        for c in range(k):
            r = joint[c]
            if r == 0.0:
                continue
            for a in range(d):
                rt = r * (X[i, a] - means[c, a])
                anchored_x[c, a] += rt
                anchored_second[c, a] += rt * (X[i, a] - means[c, a])
    for c in range(k):   # about the centre, as _about_centre (per coordinate)
        for a in range(d):
            u = means[c, a] - centre[a]
            sum_x[c, a] = anchored_x[c, a] + n[c] * u
            second[c, a] = anchored_second[c, a] + 2.0 * anchored_x[c, a] * u + n[c] * u * u
    return loglik, True, far


# ------------------------------------------------------------------ a start from one-hot labels
#: The largest start (rows × d²) whose statistics :func:`one_hot_statistics` sums in its compiled
#: passes; beyond it the product form's BLAS products (:func:`~emkit.kernels.gaussian.responsibility_statistics`).
ONE_HOT_CELLS = 1 << 22


def one_hot_statistics(X: np.ndarray, resp: np.ndarray, sample_weight: np.ndarray | None, centre: np.ndarray,
                       structure: CovarianceStructure) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """:func:`~emkit.kernels.gaussian.responsibility_statistics` of a start whose responsibilities
    are one-hot (each row 1 at its component, or all 0: k-means labels, seeds, classes), in two
    compiled passes over the rows with no ``(n, k)`` products: ``n_k = Σ_{i∈k} w_i``,
    ``sum_x_k = Σ_{i∈k} w_i (x_i − c)``, ``S_k = Σ_{i∈k} w_i (x_i − c)(x_i − c)ᵀ``, the means
    ``a_k = c + sum_x_k / n_k`` (``c`` for an empty component), then the same sums about
    ``a_k`` (the ``anchored_*`` statistics the M-step uses). Sums run over the rows in order.
    None when ``resp`` is not one-hot or the data are too large (:data:`ONE_HOT_CELLS`)."""
    X = np.asarray(X, dtype=np.float64)
    n_rows, d = X.shape
    if n_rows * d * d > ONE_HOT_CELLS or resp.dtype != np.float64 or resp.shape[0] != n_rows:
        return None
    labels = np.empty(n_rows, dtype=np.int64)
    if not _one_hot_labels(resp, labels):
        return None
    k = resp.shape[1]
    weights = np.ones(n_rows) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    centre = np.asarray(centre, dtype=np.float64)
    n, sums, seconds = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
    _one_hot_moments(X, labels, weights, np.broadcast_to(centre, (k, d)), n, sums, seconds)
    anchors = centre + np.divide(sums, n[:, None], out=np.zeros_like(sums), where=n[:, None] > 0)
    anchored_n, anchored_x, anchored_xx = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
    _one_hot_moments(X, labels, weights, anchors, anchored_n, anchored_x, anchored_xx)
    stats = {"n": n, "sum_x": sums, "sum_xx": structure.second_of_matrices(seconds),
             "anchored_n": anchored_n, "anchored_x": anchored_x,
             "anchored_xx": structure.second_of_matrices(anchored_xx), "anchored_at": anchored_n[:, None] * anchors}
    return stats, anchors


@njit(cache=True, nogil=True, error_model="numpy")
def _one_hot_labels(resp, labels):  # pragma: no cover - compiled
    """Each row's component (−1 for a row of zeros) into ``labels``; False unless every row is
    one-hot or zero."""
    for i in range(resp.shape[0]):
        labels[i] = -1
        for j in range(resp.shape[1]):
            value = resp[i, j]
            if value == 1.0 and labels[i] < 0:
                labels[i] = j
            elif value != 0.0:
                return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _one_hot_moments(X, labels, weights, anchors, n, sums, seconds):  # pragma: no cover - compiled
    """``n_k``, ``Σ w_i y_i`` and ``Σ w_i y_i y_iᵀ`` with ``y_i = x_i − a_k`` over the rows of each
    component ``k`` (the lower triangle summed, the upper mirrored)."""
    d = X.shape[1]
    for i in range(X.shape[0]):
        k = labels[i]
        if k < 0:
            continue
        w = weights[i]
        n[k] += w
        for a in range(d):
            weighted = w * (X[i, a] - anchors[k, a])
            sums[k, a] += weighted
            for b in range(a + 1):
                seconds[k, a, b] += weighted * (X[i, b] - anchors[k, b])
    for k in range(seconds.shape[0]):
        for a in range(d):
            for b in range(a):
                seconds[k, b, a] = seconds[k, a, b]


# ------------------------------------------------------------------------ the data's summary
def column_sums_and_largest(X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(Σ_i x_ij, max_i |x_ij|)`` per column of complete rows (float64), in one compiled pass:
    NumPy's own ``X.sum(axis=0, dtype=float)`` bit for bit (a C-ordered array of several columns
    is summed over the rows in order; one column NumPy sums pairwise, so then None), without
    its per-call costs on small data."""
    if X.ndim != 2 or X.shape[1] < 2 or not X.flags.c_contiguous or X.dtype not in (np.float64, np.float32):
        return None
    sums, largest = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    _column_sums_and_largest(X, sums, largest)
    return sums, largest


@njit(cache=True, nogil=True, error_model="numpy")
def _column_sums_and_largest(X, sums, largest):  # pragma: no cover - compiled
    for i in range(X.shape[0]):
        for a in range(X.shape[1]):
            value = X[i, a]
            sums[a] += value
            if abs(value) > largest[a]:
                largest[a] = abs(value)
