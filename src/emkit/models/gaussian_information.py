"""Free parameters, complete-data information and scores of Gaussian-mixture components.

The covariances are parametrized by their free entries ``θ`` (the lower triangle of each ``Σ_k``
for full, of the shared ``Σ`` for tied, the variances for diag, one variance per component for
spherical): ``Σ = Σ_t θ_t E_t`` with fixed symmetric basis matrices ``E_t`` (``e_i e_iᵀ``, or
``e_i e_jᵀ + e_j e_iᵀ`` off the diagonal; ``I`` for spherical). With ``A_t = Σ⁻¹ E_t``, the
complete-data log-likelihood of the rows with responsibilities ``r_i`` under one component,
``Q = Σ_i r_i log N(x_i | μ, Σ)``, has

    −∂²Q/∂μ∂μᵀ = n Σ⁻¹,   −∂²Q/∂μ∂θ_t = A_t Σ⁻¹ g,
    −∂²Q/∂θ_s∂θ_t = sym tr(A_s A_t Σ⁻¹ W) − ½ n tr(A_s A_t),

with ``n = Σ r_i``, ``g = Σ r_i (x_i − μ)`` and ``W = Σ r_i (x_i − μ)(x_i − μ)ᵀ`` (so ``½ n
tr(A_s A_t)`` at the M-step's fixed point ``W = nΣ``, ``g = 0``); and the score of one row is
``Σ⁻¹(x − μ)`` and ``½ (vᵀ E_t v − tr A_t)`` with ``v = Σ⁻¹(x − μ)``. Solves go through the
Cholesky factor of ``Σ`` (no explicit inverse).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve


def covariance_basis(covariance_type: str, n_features: int) -> np.ndarray:
    """The basis ``E_t`` of one covariance matrix's free entries, shape ``(T, d, d)``."""
    d = n_features
    if covariance_type in ("full", "tied"):
        rows, columns = np.tril_indices(d)
        basis = np.zeros((rows.size, d, d))
        basis[np.arange(rows.size), rows, columns] = 1.0
        basis[np.arange(rows.size), columns, rows] = 1.0
        return basis
    if covariance_type == "diag":
        basis = np.zeros((d, d, d))
        basis[np.arange(d), np.arange(d), np.arange(d)] = 1.0
        return basis
    return np.eye(d)[None]


def n_free_covariances(covariance_type: str, n_components: int, n_features: int) -> int:
    """Number of free covariance entries: ``k·d(d+1)/2`` (full), ``d(d+1)/2`` (tied), ``k·d``
    (diag) or ``k`` (spherical)."""
    k, d = n_components, n_features
    return {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d, "spherical": k}[covariance_type]


def free_covariances(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """The free entries of the covariances, flat: lower triangles (full: per component; tied:
    once), variances (diag) or one variance per component (spherical)."""
    covariances = np.asarray(covariances, dtype=float)
    if covariance_type in ("full", "tied"):
        rows, columns = np.tril_indices(covariances.shape[-1])
        return covariances[..., rows, columns].ravel()
    return covariances.ravel()


def covariances_from_free(free: np.ndarray, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """Inverse of :func:`free_covariances` (symmetric matrices for full and tied)."""
    free = np.asarray(free, dtype=float)
    k, d = n_components, n_features
    if covariance_type in ("full", "tied"):
        rows, columns = np.tril_indices(d)
        count = 1 if covariance_type == "tied" else k
        out = np.zeros((count, d, d))
        out[:, rows, columns] = free.reshape(count, rows.size)
        out[:, columns, rows] = free.reshape(count, rows.size)
        return out[0] if covariance_type == "tied" else out
    return free.reshape((k, d) if covariance_type == "diag" else (k,)).copy()


def full_matrices(covariances: np.ndarray, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """Every component's covariance as a ``(k, d, d)`` matrix."""
    covariances = np.asarray(covariances, dtype=float)
    k, d = n_components, n_features
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (k, d, d))
    variances = covariances if covariance_type == "diag" else np.repeat(covariances[:, None], d, axis=1)
    return np.stack([np.diag(v) for v in variances])


def component_draws(weights: np.ndarray, covariances: np.ndarray, covariance_type: str, n_features: int,
                    n_rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_rows`` components drawn by ``weights`` and, for each, ``L z`` with ``Σ = L Lᵀ`` its
    covariance and ``z`` standard normal: ``(labels, noise)``, shapes ``(n,)`` and ``(n, d)``."""
    k = np.size(weights)
    labels = rng.choice(k, size=n_rows, p=weights)
    factors = np.linalg.cholesky(full_matrices(covariances, covariance_type, k, n_features))
    return labels, np.einsum("nij,nj->ni", factors[labels], rng.standard_normal((n_rows, n_features)))


def component_information(count: float, centred_sum: np.ndarray, scatter: np.ndarray, covariance: np.ndarray,
                          basis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The blocks ``(I_μμ, I_μθ, I_θθ)`` of one component's complete-data information (module
    docstring) from ``n``, ``g`` and ``W``; shapes ``(d, d)``, ``(d, T)``, ``(T, T)``."""
    factor = cho_factor(covariance, lower=True)
    precision_basis = np.stack([cho_solve(factor, e) for e in basis])             # A_t = Σ⁻¹ E_t
    precision_scatter = cho_solve(factor, scatter)                                 # Σ⁻¹ W
    means = count * cho_solve(factor, np.eye(covariance.shape[0]))
    mixed = np.einsum("tij,j->it", precision_basis, cho_solve(factor, centred_sum))
    products = np.einsum("sij,tjk->stik", precision_basis, precision_basis)
    with_scatter = np.einsum("stik,ki->st", products, precision_scatter)
    covariances = 0.5 * (with_scatter + with_scatter.T) - 0.5 * count * np.einsum("stii->st", products)
    return means, mixed, covariances


def component_scores(X: np.ndarray, mean: np.ndarray, covariance: np.ndarray,
                     basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of ``log N(x_i | μ, Σ)`` for every row: in ``μ`` (shape ``(n, d)``) and in the free
    covariance entries (shape ``(n, T)``)."""
    factor = cho_factor(covariance, lower=True)
    v = cho_solve(factor, (X - mean).T).T                                          # Σ⁻¹(x − μ)
    traces = np.einsum("tii->t", np.stack([cho_solve(factor, e) for e in basis]))
    return v, 0.5 * (np.einsum("ni,tij,nj->nt", v, basis, v) - traces)


def gaussian_free(means: np.ndarray, covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """The free parameters of Gaussian components: the means, then :func:`free_covariances`."""
    return np.concatenate([np.ravel(means), free_covariances(covariances, covariance_type)])


def gaussian_from_free(free: np.ndarray, covariance_type: str, n_components: int,
                       n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(means, covariances)`` from :func:`gaussian_free`'s vector."""
    k, d = n_components, n_features
    free = np.asarray(free, dtype=float)
    return free[:k * d].reshape(k, d).copy(), covariances_from_free(free[k * d:], covariance_type, k, d)


def gaussian_free_labels(means_name: str, covariances_name: str, covariance_type: str, n_components: int,
                         n_features: int) -> list[str]:
    """Labels of :func:`gaussian_free`'s entries: ``means[j,i]``, then e.g. ``covariances[j,a,b]``
    (a ≥ b)."""
    k, d = n_components, n_features
    rows, columns = np.tril_indices(d)
    name = covariances_name
    covariances = {"full": [f"{name}[{j},{a},{b}]" for j in range(k) for a, b in zip(rows, columns)],
                   "tied": [f"{name}[{a},{b}]" for a, b in zip(rows, columns)],
                   "diag": [f"{name}[{j},{i}]" for j in range(k) for i in range(d)],
                   "spherical": [f"{name}[{j}]" for j in range(k)]}[covariance_type]
    return [f"{means_name}[{j},{i}]" for j in range(k) for i in range(d)] + covariances


def gaussian_information(stats, means: np.ndarray, covariances: np.ndarray, covariance_type: str,
                         centre: np.ndarray) -> np.ndarray:
    """Expected complete-data information of Gaussian components in ``(means, free covariance
    entries)`` (that order, component by component), from the statistics ``n``, ``sum_x``,
    ``sum_xx`` about ``centre`` (those of :func:`emkit.kernels.gaussian.gaussian_stats`) at the
    parameters ``means``, ``covariances``."""
    means = np.asarray(means, dtype=float)
    k, d = means.shape
    basis = covariance_basis(covariance_type, d)
    width = basis.shape[0]
    matrices = full_matrices(covariances, covariance_type, k, d)
    m = means - centre
    n = np.asarray(stats["n"], dtype=float)
    centred = np.asarray(stats["sum_x"], dtype=float) - n[:, None] * m
    scatters = _scatters(stats, m, covariance_type)
    first = k * d
    size = first + n_free_covariances(covariance_type, k, d)
    information = np.zeros((size, size))
    for j in range(k):
        mean = slice(j * d, (j + 1) * d)
        offset = first + (0 if covariance_type == "tied" else j * width)
        covariance = slice(offset, offset + width)
        block_mm, block_mc, block_cc = component_information(n[j], centred[j], scatters[j], matrices[j], basis)
        information[mean, mean] = block_mm
        information[mean, covariance] = block_mc
        information[covariance, mean] = block_mc.T
        information[covariance, covariance] += block_cc
    return information


def gaussian_scores(X: np.ndarray, means: np.ndarray, covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Score of ``log N(x_i | μ_j, Σ_j)`` of every row under every component in ``(means, free
    covariance entries)``, shape ``(n, k, k·d + T)`` (zero outside component ``j``'s entries)."""
    X, means = np.asarray(X, dtype=float), np.asarray(means, dtype=float)
    k, d = means.shape
    basis = covariance_basis(covariance_type, d)
    width = basis.shape[0]
    matrices = full_matrices(covariances, covariance_type, k, d)
    first = k * d
    scores = np.zeros((X.shape[0], k, first + n_free_covariances(covariance_type, k, d)))
    for j in range(k):
        mean_scores, covariance_scores = component_scores(X, means[j], matrices[j], basis)
        scores[:, j, j * d:(j + 1) * d] = mean_scores
        offset = first + (0 if covariance_type == "tied" else j * width)
        scores[:, j, offset:offset + width] = covariance_scores
    return scores


def _scatters(stats, m: np.ndarray, covariance_type: str) -> np.ndarray:
    """``W_k = Σ_i r_ik (y_i − m_k)(y_i − m_k)ᵀ`` of each component from the statistics about the
    centre. Where the statistics hold less, what the information needs: diag, the diagonal;
    spherical, the trace spread over the diagonal; tied, the sum over the components shared
    equally among them (the shared covariance's block is linear in ``W`` and adds up over them)."""
    n = np.asarray(stats["n"], dtype=float)
    sum_x, sum_xx = np.asarray(stats["sum_x"], dtype=float), np.asarray(stats["sum_xx"], dtype=float)
    k, d = m.shape
    if covariance_type in ("full", "tied"):
        cross = np.einsum("ki,kj->kij", sum_x, m)
        correction = -cross - cross.transpose(0, 2, 1) + n[:, None, None] * np.einsum("ki,kj->kij", m, m)
        if covariance_type == "full":
            return sum_xx + correction
        return np.broadcast_to((sum_xx + correction.sum(axis=0)) / k, (k, d, d))
    if covariance_type == "diag":
        diagonal = sum_xx - 2.0 * m * sum_x + n[:, None] * m * m
    else:
        trace = sum_xx - 2.0 * np.einsum("ki,ki->k", m, sum_x) + n * np.einsum("ki,ki->k", m, m)
        diagonal = np.repeat((trace / d)[:, None], d, axis=1)
    return np.stack([np.diag(w) for w in diagonal])
