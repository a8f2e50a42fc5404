"""The E-step of a Gaussian mixture as two matrix products per block of rows.

For a Gaussian component the log-density is linear in sufficient-statistic features of the
shifted row ``y = x − c`` (``c`` a fixed centre, e.g. the data mean, so that no digits are lost
for data far from the origin):

    log π_k + log N(x | μ_k, Σ_k) = φ(y)ᵀ θ_k,
    φ(y) = [1, y, (y_i y_j)_{i≤j}]                   (full, tied; p = 1 + d + d(d+1)/2)
    φ(y) = [1, y, y², 1 − o]                         (diag, spherical; p = 1 + 3d)

with ``θ_k = [log π_k − ½ d log 2π + log det P_k − ½ m_kᵀ Λ_k m_k, Λ_k m_k, −½ Λ_k,ii or −Λ_k,ij]``
(``m_k = μ_k − c``, ``Λ_k = P_k P_kᵀ = Σ_k⁻¹``). So the log-joint of a block of rows and all
components is one product ``L = Φ Θ`` and, after ``r_ik = exp(L_ik − log Σ_j exp L_ij)`` (one
pass, in place), the expected sufficient statistics of the block are one product ``Rᵀ Φ``. No
loop over components, no ``n × d`` temporary per component; the temporaries are a block of
features and a block of responsibilities, so memory does not grow with ``n``.

Missing values (NaN): ``y`` is taken as 0 at the missing coordinates (``y⁰``) and ``o`` is the
indicator of the observed ones.

* diag/spherical: the coordinates are conditionally independent, so the marginal density of
  the observed ones drops the missing terms, ``h_kj = ½ λ_kj m_kj² + ½ log(2π σ²_kj)`` per missing
  coordinate, linear in the feature ``1 − o``; the conditional expectations are ``m_kj`` and
  ``m_kj² + σ²_kj``, so the statistics come from the same product ``Rᵀ Φ``.
* full/tied: with ``M`` the missing coordinates, ``A = Λ_k,MM = G Gᵀ`` and the gradient
  ``w = (Λ_k (y⁰ − m_k))_M``, the marginal log-density of the observed coordinates is the
  product's value plus ``½ |M| log 2π − Σ log G_jj + ½ ‖G⁻¹ w‖²`` (the quadratic form minimised
  over the missing coordinates), and ``E[y_M | x_o] = −A⁻¹ w``, ``Cov[y_M | x_o] = A⁻¹``. These
  corrections are small (``|M|`` coordinates) and computed row by row in compiled code for the
  incomplete rows only; the product handles everything else.

Accuracy: the product form subtracts terms of size ``|y|ᵀ|Λ_k||y|`` about the centre, so its
rounding error in a log-density is about ``ε·|y|ᵀ|Λ_k||y|`` (``ε`` the unit round-off) where the
direct formula has ``ε·(y − m_k)ᵀΛ_k(y − m_k)``; with the centre at the data mean this is a few
``ε`` times the squared spread of the data in units of the narrowest component.
:func:`rounding_factor` estimates that factor, and :func:`compute_dtype` uses float32
arithmetic for float32 data only when the estimated error stays below :data:`FLOAT32_TOLERANCE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .gaussian import LOG_2PI, check_covariance_type, precisions_cholesky

#: A block of features holds about this many numbers (fits in the cache next to its products).
BLOCK_ELEMENTS = 1 << 17

#: Largest estimated absolute rounding error of a float32 log-density accepted by
#: :func:`compute_dtype` (beyond it, float32 data are computed in float64).
FLOAT32_TOLERANCE = 1e-3


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
    variances : ndarray (k, d) or None
        ``σ²_kj`` (diag/spherical, spherical repeated over ``j``).
    """

    covariance_type: str
    shift: np.ndarray
    theta: np.ndarray
    means: np.ndarray
    precision: np.ndarray | None
    precision_mean: np.ndarray | None
    variances: np.ndarray | None

    @property
    def n_features(self) -> int:
        return int(self.shift.size)

    @property
    def n_components(self) -> int:
        return int(self.theta.shape[1])


def n_statistic_features(covariance_type: str, n_features: int) -> int:
    """Length ``p`` of ``φ(y)``: ``1 + d + d(d+1)/2`` (full, tied) or ``1 + 3d`` (diag, spherical)."""
    d = n_features
    return 1 + d + d * (d + 1) // 2 if check_covariance_type(covariance_type) in ("full", "tied") else 1 + 3 * d


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
    m = means - shift
    factors = precisions_cholesky(covariances, covariance_type)
    theta = np.empty((n_statistic_features(covariance_type, d), k))
    if covariance_type in ("full", "tied"):
        factors = np.broadcast_to(factors, (k, d, d))
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
        return MixtureTerms(covariance_type, shift, theta, m, np.ascontiguousarray(precision),
                            np.ascontiguousarray(precision_mean), None)
    variances = 1.0 / factors ** 2
    variances = np.ascontiguousarray(np.broadcast_to(variances[:, None] if covariance_type == "spherical"
                                                     else variances, (k, d)))
    precision = 1.0 / variances
    theta[0] = (log_weights - 0.5 * d * LOG_2PI - 0.5 * np.log(variances).sum(axis=1)
                - 0.5 * np.einsum("kj,kj->k", precision * m, m))
    theta[1:d + 1] = (precision * m).T
    theta[d + 1:2 * d + 1] = -0.5 * precision.T
    theta[2 * d + 1:] = (0.5 * precision * m * m + 0.5 * (LOG_2PI + np.log(variances))).T
    return MixtureTerms(covariance_type, shift, theta, m, None, None, variances)


def rounding_factor(terms: MixtureTerms) -> float:
    """``max_k aᵀ|Λ_k|a`` with ``a = |m_k| + 3σ_k``: the size of the terms the product form
    adds up for rows within three standard deviations of a component (about the centre); the
    rounding error of a log-density is about the unit round-off times this factor."""
    if terms.precision is not None:
        spread = np.sqrt(np.maximum(np.diagonal(np.linalg.inv(terms.precision), axis1=1, axis2=2), 0.0))
        a = np.abs(terms.means) + 3.0 * spread
        return float(np.max(np.einsum("ki,kij,kj->k", a, np.abs(terms.precision), a)))
    a = np.abs(terms.means) + 3.0 * np.sqrt(terms.variances)
    return float(np.max(np.sum(a * a / terms.variances, axis=1)))


def compute_dtype(data_dtype, terms: MixtureTerms) -> np.dtype:
    """float32 for float32 data when ``2⁻²⁴ ·`` :func:`rounding_factor` ``≤`` :data:`FLOAT32_TOLERANCE`,
    else float64."""
    if np.dtype(data_dtype) == np.float32 and np.finfo(np.float32).eps / 2 * rounding_factor(terms) <= FLOAT32_TOLERANCE:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def block_rows(covariance_type: str, n_features: int) -> int:
    """Rows per block so that a block of features holds about :data:`BLOCK_ELEMENTS` numbers."""
    return max(16, BLOCK_ELEMENTS // n_statistic_features(covariance_type, n_features))


# ------------------------------------------------------------------------------ the passes
def mixture_log_joint(X: np.ndarray, terms: MixtureTerms, dtype=None, out: np.ndarray | None = None) -> np.ndarray:
    """``log π_k + log N(x_i,o | μ_k,o, Σ_k,oo)`` of every row (NaN = missing), shape ``(n, k)``.

    ``dtype`` of the arithmetic: float64 by default (see :func:`compute_dtype`).
    """
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    n = X.shape[0]
    out = np.empty((n, terms.n_components), dtype=dtype) if out is None else out
    work = _Workspace(terms, dtype, min(n, block_rows(terms.covariance_type, terms.n_features)))
    for start in range(0, n, work.rows):
        block = slice(start, min(start + work.rows, n))
        work.log_joint(X[block], out[block])
    return out


def mixture_e_step(X: np.ndarray, terms: MixtureTerms, sample_weight: np.ndarray | None = None,
                   dtype=None, rows_per_block: int | None = None) -> tuple[dict[str, np.ndarray], float]:
    """Expected sufficient statistics about ``terms.shift`` and the observed-data log-likelihood.

    Returns ``(stats, loglik)`` with ``stats = {"n": Σ_i w_i r_ik, "sum_x": Σ_i w_i r_ik E[y_i],
    "sum_xx": Σ_i w_i r_ik E[y_i y_iᵀ] (full), its sum over k (tied), diagonal (diag) or trace
    (spherical)}`` (float64; ``y = x − c`` and the expectations given the observed coordinates
    under component ``k``) and ``loglik = Σ_i w_i log Σ_k π_k N(x_i,o | μ_k,o, Σ_k,oo)``, the same as
    :func:`emkit.kernels.gaussian.gaussian_stats` / :func:`~emkit.kernels.gaussian.gaussian_stats_missing`
    of the responsibilities, computed block by block (``rows_per_block``, default
    :func:`block_rows`; the result does not depend on it beyond round-off).
    """
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    n = X.shape[0]
    rows = rows_per_block or block_rows(terms.covariance_type, terms.n_features)
    work = _Workspace(terms, dtype, max(1, min(n, rows)))
    for start in range(0, n, work.rows):
        block = slice(start, min(start + work.rows, n))
        work.accumulate(X[block], None if sample_weight is None else sample_weight[block])
    return work.statistics(), work.loglik


class _Workspace:
    """Buffers of one block (features, log-joint, incomplete rows) and the running totals."""

    def __init__(self, terms: MixtureTerms, dtype: np.dtype, rows: int) -> None:
        self.terms, self.dtype, self.rows = terms, dtype, rows
        d, k = terms.n_features, terms.n_components
        self.full = terms.covariance_type in ("full", "tied")
        self.p = terms.theta.shape[0]
        self.theta = np.ascontiguousarray(terms.theta, dtype=dtype)
        self.features = np.empty((rows, self.p), dtype=dtype)
        self.joint = np.empty((rows, k), dtype=dtype)
        self.incomplete = np.empty(rows, dtype=np.int64)
        self.fill = np.empty((0, k, d)) if not self.full else np.zeros((rows, k, d))
        self.totals = np.zeros((k, self.p))
        self.extra_x = np.zeros((k, d))
        self.extra_xx = np.zeros((k, d, d)) if self.full else None
        self.loglik = 0.0

    def _features(self, X: np.ndarray) -> tuple[np.ndarray, int]:
        """``Φ`` of the block and the number of its incomplete rows (listed in ``incomplete``);
        diag/spherical blocks without missing values leave out the ``1 − o`` columns."""
        b = X.shape[0]
        features = self.features[:b]
        if self.full:
            count = _full_features(X, self.terms.shift, features, self.incomplete)
            return features, count
        count = _diagonal_features(X, self.terms.shift, features, self.incomplete)
        return (features if count else features[:, :1 + 2 * self.terms.n_features]), count

    def log_joint(self, X: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, int]:
        """``out = log π_k + log N(x_o | ...)`` of the block; returns the features used and the
        number of incomplete rows."""
        features, count = self._features(X)
        np.matmul(features, self.theta[:features.shape[1]], out=out)
        if count and self.full:
            _missing_log_density(X, self.terms.shift, self.incomplete[:count], self.terms.precision,
                                 self.terms.precision_mean, out, self.fill)
        return features, count

    def accumulate(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        """Add the statistics and log-likelihood of one block to the totals."""
        joint = self.joint[:X.shape[0]]
        features, count = self.log_joint(X, joint)
        largest = joint.max(axis=1)
        joint -= largest[:, None]
        np.exp(joint, out=joint)
        total = joint.sum(axis=1)
        log_marginal = largest.astype(np.float64) + np.log(total.astype(np.float64))
        if weights is None:
            self.loglik += float(log_marginal.sum())
            joint /= total[:, None]
        else:
            self.loglik += float(weights @ log_marginal)
            joint *= (weights / total)[:, None].astype(self.dtype)
        self.totals[:, :features.shape[1]] += joint.T @ features
        if count and self.full:
            _missing_statistics(X, self.terms.shift, self.incomplete[:count], self.terms.precision, joint,
                                self.fill, self.extra_x, self.extra_xx)

    def statistics(self) -> dict[str, np.ndarray]:
        """The totals unpacked into ``n``, ``sum_x`` and ``sum_xx`` (float64)."""
        terms, totals = self.terms, self.totals
        d, k = terms.n_features, terms.n_components
        n = totals[:, 0].copy()
        sum_x = totals[:, 1:d + 1] + self.extra_x
        if self.full:
            rows, columns = np.triu_indices(d)
            second = np.zeros((k, d, d))
            second[:, rows, columns] = totals[:, d + 1:]
            second[:, columns, rows] = totals[:, d + 1:]
            second += self.extra_xx
            return {"n": n, "sum_x": sum_x, "sum_xx": second.sum(axis=0) if terms.covariance_type == "tied" else second}
        missing_weight = totals[:, 2 * d + 1:]
        sum_x = sum_x + terms.means * missing_weight
        second = totals[:, d + 1:2 * d + 1] + (terms.means ** 2 + terms.variances) * missing_weight
        return {"n": n, "sum_x": sum_x, "sum_xx": second.sum(axis=1) if terms.covariance_type == "spherical" else second}


# ----------------------------------------------------------------------- compiled kernels
# Numba: one pass over the rows where BLAS has nothing to offer (building the features; the
# corrections for missing coordinates, a few numbers per incomplete row and component).
@njit(cache=True, nogil=True)
def _full_features(X, shift, out, incomplete):  # pragma: no cover - compiled
    """``out[r] = [1, y⁰, (y⁰_i y⁰_j)_{i≤j}]``, ``y⁰ = x − c`` with 0 for NaN; the rows with a NaN
    are listed in ``incomplete``, their number returned."""
    b, d = X.shape
    count = 0
    for r in range(b):
        out[r, 0] = 1.0
        has_nan = False
        for i in range(d):
            value = X[r, i]
            if np.isnan(value):
                out[r, 1 + i] = 0.0
                has_nan = True
            else:
                out[r, 1 + i] = value - shift[i]
        position = 1 + d
        for i in range(d):
            yi = out[r, 1 + i]
            for j in range(i, d):
                out[r, position] = yi * out[r, 1 + j]
                position += 1
        if has_nan:
            incomplete[count] = r
            count += 1
    return count


@njit(cache=True, nogil=True)
def _diagonal_features(X, shift, out, incomplete):  # pragma: no cover - compiled
    """``out[r] = [1, y⁰, (y⁰)², 1 − o]`` (``o`` the observed indicator); incomplete rows listed."""
    b, d = X.shape
    count = 0
    for r in range(b):
        out[r, 0] = 1.0
        has_nan = False
        for i in range(d):
            value = X[r, i]
            if np.isnan(value):
                out[r, 1 + i] = 0.0
                out[r, 1 + d + i] = 0.0
                out[r, 1 + 2 * d + i] = 1.0
                has_nan = True
            else:
                y = value - shift[i]
                out[r, 1 + i] = y
                out[r, 1 + d + i] = y * y
                out[r, 1 + 2 * d + i] = 0.0
        if has_nan:
            incomplete[count] = r
            count += 1
    return count


@njit(cache=True, nogil=True)
def _conditional_factor(precision, missing, q, y0, precision_mean, lower, gradient):  # pragma: no cover
    """For one row and component: ``gradient = w = (Λ y⁰ − Λ m)_M`` and the lower Cholesky
    factor ``G`` of ``A = Λ_MM`` in ``lower``; returns ``Σ log G_jj``."""
    d = y0.size
    for a in range(q):
        ja = missing[a]
        acc = -precision_mean[ja]
        for j in range(d):
            acc += precision[ja, j] * y0[j]
        gradient[a] = acc
    log_det = 0.0
    for a in range(q):
        for b in range(a + 1):
            s = precision[missing[a], missing[b]]
            for j in range(b):
                s -= lower[a, j] * lower[b, j]
            if a == b:
                lower[a, a] = np.sqrt(s)
                log_det += np.log(lower[a, a])
            else:
                lower[a, b] = s / lower[b, b]
    return log_det


@njit(cache=True, nogil=True)
def _row_state(X, r, shift, y0, missing):  # pragma: no cover - compiled
    """``y⁰`` of row ``r`` and its missing coordinates; returns their number."""
    q = 0
    for j in range(X.shape[1]):
        value = X[r, j]
        if np.isnan(value):
            y0[j] = 0.0
            missing[q] = j
            q += 1
        else:
            y0[j] = value - shift[j]
    return q


@njit(cache=True, nogil=True)
def _missing_log_density(X, shift, rows, precision, precision_mean, out, fill):  # pragma: no cover
    """Add ``½ q log 2π − Σ log G_jj + ½ ‖G⁻¹ w‖²`` to ``out[r, k]`` of each incomplete row ``r``
    (``q`` missing coordinates), turning the product's value into the marginal log-density of
    the observed coordinates; ``fill[t, k, M] = −A⁻¹ w = E[y_M | x_o, k]``."""
    d = X.shape[1]
    k = precision.shape[0]
    y0 = np.empty(d)
    missing = np.empty(d, dtype=np.int64)
    lower = np.empty((d, d))
    gradient = np.empty(d)
    z = np.empty(d)
    for t in range(rows.size):
        r = rows[t]
        q = _row_state(X, r, shift, y0, missing)
        for c in range(k):
            log_det = _conditional_factor(precision[c], missing, q, y0, precision_mean[c], lower, gradient)
            norm = 0.0
            for a in range(q):
                s = gradient[a]
                for j in range(a):
                    s -= lower[a, j] * z[j]
                z[a] = s / lower[a, a]
                norm += z[a] * z[a]
            for a in range(q - 1, -1, -1):
                s = z[a]
                for j in range(a + 1, q):
                    s -= lower[j, a] * fill[t, c, missing[j]]
                fill[t, c, missing[a]] = s / lower[a, a]
            for a in range(q):
                fill[t, c, missing[a]] = -fill[t, c, missing[a]]
            out[r, c] += 0.5 * q * LOG_2PI - log_det + 0.5 * norm


@njit(cache=True, nogil=True)
def _missing_statistics(X, shift, rows, precision, resp, fill, sum_x, sum_xx):  # pragma: no cover
    """Add what the product ``Rᵀ Φ`` (with 0 at missing coordinates) leaves out for each incomplete
    row: ``r f_M`` to ``sum_x`` and ``r (y⁰ f_Mᵀ + f_M y⁰ᵀ + f_M f_Mᵀ + A⁻¹)`` to ``sum_xx``, where
    ``f = E[y_M | x_o, k]`` (``fill``) and ``A⁻¹ = Cov[y_M | x_o, k]``."""
    d = X.shape[1]
    k = precision.shape[0]
    y0 = np.empty(d)
    missing = np.empty(d, dtype=np.int64)
    lower = np.empty((d, d))
    inverse = np.empty((d, d))
    for t in range(rows.size):
        r = rows[t]
        q = _row_state(X, r, shift, y0, missing)
        for c in range(k):
            weight = resp[r, c]
            if weight == 0.0:
                continue
            # G of A = Λ_MM, then A⁻¹ = G⁻ᵀ G⁻¹ column by column
            for a in range(q):
                for b in range(a + 1):
                    s = precision[c, missing[a], missing[b]]
                    for j in range(b):
                        s -= lower[a, j] * lower[b, j]
                    lower[a, b] = np.sqrt(s) if a == b else s / lower[b, b]
            for column in range(q):
                for a in range(q):  # forward: G v = e_column
                    s = 1.0 if a == column else 0.0
                    for j in range(a):
                        s -= lower[a, j] * inverse[j, column]
                    inverse[a, column] = s / lower[a, a]
                for a in range(q - 1, -1, -1):  # backward: Gᵀ u = v
                    s = inverse[a, column]
                    for j in range(a + 1, q):
                        s -= lower[j, a] * inverse[j, column]
                    inverse[a, column] = s / lower[a, a]
            for a in range(q):
                ma = missing[a]
                fa = fill[t, c, ma]
                sum_x[c, ma] += weight * fa
                for j in range(d):
                    cross = weight * y0[j] * fa  # y⁰ is 0 on the missing coordinates
                    sum_xx[c, j, ma] += cross
                    sum_xx[c, ma, j] += cross
                for b in range(q):
                    mb = missing[b]
                    sum_xx[c, ma, mb] += weight * (fa * fill[t, c, mb] + inverse[a, b])
