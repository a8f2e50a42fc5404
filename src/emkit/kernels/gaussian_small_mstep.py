"""The M-step of a small Gaussian mixture in one compiled call.

For a few components in a few dimensions the M-step's arithmetic is a few dozen flops, but the
NumPy path (:func:`~emkit.kernels.gaussian.m_step_statistics`, then
:func:`~emkit.kernels.gaussian.gaussian_m_step` and the structure's ``m_step``) spends 40–60 µs
on a dozen small array operations. :func:`small_gaussian_m_step` does the same steps in one
compiled call for scikit-learn's four structures without a prior and with learned means:

* the statistics' centre ``c = centre_weight / Σ_k n_k`` and the choice between the statistics
  about ``c`` and those about the anchors (``anchored_*``), as
  :func:`~emkit.kernels.gaussian.m_step_statistics` makes it (the rare case of anchors that moved
  goes back to it);
* ``m_k = sum_x_k / (n_k + 10 ε min(1, Σ n))``, ``μ_k = m_k + shift`` and

      full:       Σ_k = ½ (C_k + C_kᵀ) + r I,   C_k = S_k / den_k − m_k m_kᵀ
      tied:       Σ = ½ (C + Cᵀ) + r I,         C = (S − Σ_k n_k m_k m_kᵀ) / Σ_k n_k
      diag:       σ²_kj = S_kj / den_k − m_kj² + r
      spherical:  σ²_k = (S_k / den_k − ‖m_k‖²) / d + r

The operations are NumPy's, in its order (sums of ``k`` counts as NumPy's pairwise sum, the
einsum reductions as its loops: sequential from 0), so the results are the NumPy path's bit for
bit, except the spherical ``‖m_k‖²`` beyond ``d = 2``, which NumPy's einsum adds in SIMD lanes
(its last bit may move). Returns None where it does not apply, and the caller takes the NumPy
path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .covariance_structures import DIAG, FULL, SPHERICAL, TIED, CovarianceStructure
from .small_sums import MAX_TERMS, numpy_sum

#: The largest ``k · d`` taken: beyond it the NumPy path's fixed costs no longer dominate.
MAX_CELLS = 256
#: The most components taken (NumPy's pairwise sum of the counts is emulated up to its block of 128).
MAX_COMPONENTS = MAX_TERMS

_EPS10 = 10.0 * float(np.finfo(np.float64).eps)


def small_gaussian_m_step(stats, anchors: np.ndarray, structure: CovarianceStructure,
                          reg_covar: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``(means, covariances)`` of the M-step with learned means and no covariance prior, from
    the E-step's ``stats`` (``n``, ``sum_x``, ``sum_xx``, ``centre_weight`` and the
    ``anchored_*`` statistics about ``anchors``, the E-step's means), or None where the compiled
    step does not apply (another structure, other dtypes or shapes, more than :data:`MAX_CELLS`
    cells or :data:`MAX_COMPONENTS` components, a zero total weight, anchors that moved)."""
    kernel = _KERNELS.get(structure)
    if kernel is None:
        return None
    try:
        n, sum_x, sum_xx = stats["n"], stats["sum_x"], stats["sum_xx"]
        centre_weight, anchored_n = stats["centre_weight"], stats["anchored_n"]
        anchored_x, anchored_xx, anchored_at = stats["anchored_x"], stats["anchored_xx"], stats["anchored_at"]
    except KeyError:
        return None
    arrays = (n, sum_x, sum_xx, centre_weight, anchored_n, anchored_x, anchored_xx, anchored_at, anchors)
    if not all(type(a) is np.ndarray and a.dtype == np.float64 for a in arrays):
        return None
    if sum_x.ndim != 2:
        return None
    k, d = sum_x.shape
    shape = structure.shape(k, d)
    if (k * d > MAX_CELLS or k > MAX_COMPONENTS or n.shape != (k,) or centre_weight.shape != (d,)
            or anchored_n.shape != (k,) or anchored_x.shape != (k, d) or anchored_at.shape != (k, d)
            or anchors.shape != (k, d) or sum_xx.shape != shape or anchored_xx.shape != shape):
        return None
    means = np.empty((k, d))
    covariances = np.empty(shape)
    ok = kernel(n, sum_x, sum_xx, centre_weight, anchored_n, anchored_x, anchored_xx, anchored_at, anchors, reg_covar,
                means, covariances)
    return (means, covariances) if ok else None


@njit(cache=True, nogil=True, error_model="numpy")
def _choose(n, centre_weight, anchored_n, anchored_at, anchors, shift):  # pragma: no cover - compiled
    """:func:`~emkit.kernels.gaussian.m_step_statistics`' choice: 0 for the statistics about the
    centre (``shift[0]`` set to it), 1 for those about the anchors (every row of ``shift`` set
    to them), 2 for anchors that moved (the NumPy path decides). Also returns ``Σ_k n_k``."""
    k, d = shift.shape
    total = numpy_sum(n)
    divisor = total if total > 0 else 1.0
    any_anchored = False
    close = True
    for j in range(k):
        if anchored_n[j] > 0:
            any_anchored = True
        if not abs(anchored_n[j] - n[j]) <= 1e-300 + 1e-9 * abs(n[j]):
            close = False
    if not (any_anchored and close):
        for i in range(d):
            shift[0, i] = centre_weight[i] / divisor
        return 0, total
    for j in range(k):
        for i in range(d):
            at = anchored_at[j, i] / anchored_n[j] if anchored_n[j] > 0 else anchors[j, i]
            if not abs(at - anchors[j, i]) <= 1e-12 * (1.0 + abs(anchors[j, i])):
                return 2, total
            shift[j, i] = at
    return 1, total


@njit(cache=True, nogil=True, error_model="numpy")
def _offsets(n, total, sum_x, shift, anchored, means, m, denominator):  # pragma: no cover - compiled
    """``den_k = n_k + 10 ε min(1, Σ n)``, ``m_k = sum_x_k / den_k`` and ``μ_k = m_k + shift``."""
    k, d = m.shape
    small = _EPS10 * min(1.0, total)
    for j in range(k):
        denominator[j] = n[j] + small
        row = j if anchored else 0
        for i in range(d):
            m[j, i] = sum_x[j, i] / denominator[j]
            means[j, i] = m[j, i] + shift[row, i]


@njit(cache=True, nogil=True, error_model="numpy")
def _prepare(n, sum_x, centre_weight, anchored_n, anchored_x, anchored_at, anchors, means):  # pragma: no cover
    """The choice of statistics and the means; returns ``(choice, Σ n, m, den)``."""
    k, d = sum_x.shape
    shift = np.empty((k, d))
    choice, total = _choose(n, centre_weight, anchored_n, anchored_at, anchors, shift)
    m = np.empty((k, d))
    denominator = np.empty(k)
    if choice != 2:
        _offsets(n, total, anchored_x if choice == 1 else sum_x, shift, choice == 1, means, m, denominator)
    return choice, total, m, denominator


@njit(cache=True, nogil=True, error_model="numpy")
def _full(n, sum_x, sum_xx, centre_weight, anchored_n, anchored_x, anchored_xx, anchored_at, anchors, reg_covar,
          means, out):  # pragma: no cover - compiled
    choice, total, m, denominator = _prepare(n, sum_x, centre_weight, anchored_n, anchored_x, anchored_at, anchors,
                                             means)
    if choice == 2:
        return False
    second = anchored_xx if choice == 1 else sum_xx
    k, d = m.shape
    for j in range(k):
        for a in range(d):
            delta_a = m[j, a] - m[j, a]
            for b in range(d):
                delta_b = m[j, b] - m[j, b]
                out[j, a, b] = second[j, a, b] / denominator[j] - m[j, a] * m[j, b] + delta_a * delta_b
        for a in range(d):
            for b in range(a + 1):
                value = 0.5 * (out[j, a, b] + out[j, b, a])
                out[j, a, b] = value
                out[j, b, a] = value
            out[j, a, a] += reg_covar
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _tied(n, sum_x, sum_xx, centre_weight, anchored_n, anchored_x, anchored_xx, anchored_at, anchors, reg_covar,
          means, out):  # pragma: no cover - compiled
    choice, total, m, denominator = _prepare(n, sum_x, centre_weight, anchored_n, anchored_x, anchored_at, anchors,
                                             means)
    if choice == 2 or not total > 0:   # a zero total: the NumPy path raises
        return False
    second = anchored_xx if choice == 1 else sum_xx
    k, d = m.shape
    for a in range(d):
        for b in range(d):
            product = 0.0
            scatter = 0.0
            for j in range(k):
                product += n[j] * m[j, a] * m[j, b]
                scatter += n[j] * (m[j, a] - m[j, a]) * (m[j, b] - m[j, b])
            out[a, b] = (second[a, b] - product + scatter) / total
    for a in range(d):
        for b in range(a + 1):
            value = 0.5 * (out[a, b] + out[b, a])
            out[a, b] = value
            out[b, a] = value
        out[a, a] += reg_covar
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _diag(n, sum_x, sum_xx, centre_weight, anchored_n, anchored_x, anchored_xx, anchored_at, anchors, reg_covar,
          means, out):  # pragma: no cover - compiled
    choice, total, m, denominator = _prepare(n, sum_x, centre_weight, anchored_n, anchored_x, anchored_at, anchors,
                                             means)
    if choice == 2:
        return False
    second = anchored_xx if choice == 1 else sum_xx
    k, d = m.shape
    for j in range(k):
        for i in range(d):
            delta = m[j, i] - m[j, i]
            out[j, i] = second[j, i] / denominator[j] - m[j, i] * m[j, i] + delta * delta + reg_covar
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _spherical(n, sum_x, sum_xx, centre_weight, anchored_n, anchored_x, anchored_xx, anchored_at, anchors, reg_covar,
               means, out):  # pragma: no cover - compiled
    choice, total, m, denominator = _prepare(n, sum_x, centre_weight, anchored_n, anchored_x, anchored_at, anchors,
                                             means)
    if choice == 2:
        return False
    second = anchored_xx if choice == 1 else sum_xx
    k, d = m.shape
    for j in range(k):
        squares = 0.0
        deltas = 0.0
        for i in range(d):
            delta = m[j, i] - m[j, i]
            squares += m[j, i] * m[j, i]
            deltas += delta * delta
        out[j] = (second[j] / denominator[j] - squares + deltas) / d + reg_covar
    return True


#: The kernel of each structure taken.
_KERNELS = {FULL: _full, TIED: _tied, DIAG: _diag, SPHERICAL: _spherical}
