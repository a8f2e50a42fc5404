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

from ..kernels.covariance_structures import CovarianceType, covariance_structure


def covariance_basis(covariance_type: CovarianceType, n_features: int) -> np.ndarray:
    """The basis ``E_t`` of one covariance matrix's free entries, shape ``(T, d, d)``."""
    return covariance_structure(covariance_type).basis(n_features)


def n_free_covariances(covariance_type: CovarianceType, n_components: int, n_features: int) -> int:
    """Number of free covariance entries: ``k·d(d+1)/2`` (full), ``d(d+1)/2`` (tied), ``k·d``
    (diag) or ``k`` (spherical)."""
    return covariance_structure(covariance_type).n_free(n_components, n_features)


def free_covariances(covariances: np.ndarray, covariance_type: CovarianceType) -> np.ndarray:
    """The free entries of the covariances, flat: lower triangles (full: per component; tied:
    once), variances (diag) or one variance per component (spherical)."""
    return covariance_structure(covariance_type).to_free(covariances)


def covariances_from_free(free: np.ndarray, covariance_type: CovarianceType, n_components: int,
                          n_features: int) -> np.ndarray:
    """Inverse of :func:`free_covariances` (symmetric matrices for full and tied)."""
    return covariance_structure(covariance_type).from_free(free, n_components, n_features)


def full_matrices(covariances: np.ndarray, covariance_type: CovarianceType, n_components: int,
                  n_features: int) -> np.ndarray:
    """Every component's covariance as a ``(k, d, d)`` matrix."""
    return covariance_structure(covariance_type).full_matrices(covariances, n_components, n_features)


def component_draws(weights: np.ndarray, covariances: np.ndarray, covariance_type: CovarianceType, n_features: int,
                    n_rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_rows`` components drawn by ``weights`` and, for each, ``L z`` with ``Σ = L Lᵀ`` its
    covariance and ``z`` standard normal: ``(labels, noise)``, shapes ``(n,)`` and ``(n, d)``."""
    k = np.size(weights)
    labels = rng.choice(k, size=n_rows, p=weights)
    factors = covariance_structure(covariance_type).sampling_factors(covariances, k, n_features)
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


def gaussian_free(means: np.ndarray, covariances: np.ndarray, covariance_type: CovarianceType) -> np.ndarray:
    """The free parameters of Gaussian components: the means, then :func:`free_covariances`."""
    return np.concatenate([np.ravel(means), free_covariances(covariances, covariance_type)])


def gaussian_from_free(free: np.ndarray, covariance_type: CovarianceType, n_components: int,
                       n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(means, covariances)`` from :func:`gaussian_free`'s vector."""
    k, d = n_components, n_features
    free = np.asarray(free, dtype=float)
    return free[:k * d].reshape(k, d).copy(), covariances_from_free(free[k * d:], covariance_type, k, d)


def gaussian_free_labels(means_name: str, covariances_name: str, covariance_type: CovarianceType,
                         n_components: int, n_features: int) -> list[str]:
    """Labels of :func:`gaussian_free`'s entries: ``means[j,i]``, then e.g. ``covariances[j,a,b]``
    (a ≥ b)."""
    k, d = n_components, n_features
    covariances = covariance_structure(covariance_type).free_labels(covariances_name, k, d)
    return [f"{means_name}[{j},{i}]" for j in range(k) for i in range(d)] + covariances


def gaussian_information(stats, means: np.ndarray, covariances: np.ndarray, covariance_type: CovarianceType,
                         centre: np.ndarray) -> np.ndarray:
    """Expected complete-data information of Gaussian components in ``(means, free covariance
    entries)`` (that order, component by component), from the statistics ``n``, ``sum_x``,
    ``sum_xx`` about ``centre`` (those of :func:`emkit.kernels.gaussian.gaussian_stats`) at the
    parameters ``means``, ``covariances``."""
    means = np.asarray(means, dtype=float)
    k, d = means.shape
    structure = covariance_structure(covariance_type)
    basis = structure.basis(d)
    width = basis.shape[0]
    matrices = structure.full_matrices(covariances, k, d)
    m = means - centre
    n = np.asarray(stats["n"], dtype=float)
    centred = np.asarray(stats["sum_x"], dtype=float) - n[:, None] * m
    scatters = _scatters(stats, m, structure)
    first = k * d
    size = first + structure.n_free(k, d)
    information = np.zeros((size, size))
    for j in range(k):
        mean = slice(j * d, (j + 1) * d)
        offset = first + structure.free_offset(j, width)
        covariance = slice(offset, offset + width)
        block_mm, block_mc, block_cc = component_information(n[j], centred[j], scatters[j], matrices[j], basis)
        information[mean, mean] = block_mm
        information[mean, covariance] = block_mc
        information[covariance, mean] = block_mc.T
        information[covariance, covariance] += block_cc
    return information


def gaussian_scores(X: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                    covariance_type: CovarianceType) -> np.ndarray:
    """Score of ``log N(x_i | μ_j, Σ_j)`` of every row under every component in ``(means, free
    covariance entries)``, shape ``(n, k, k·d + T)`` (zero outside component ``j``'s entries)."""
    X, means = np.asarray(X, dtype=float), np.asarray(means, dtype=float)
    k, d = means.shape
    structure = covariance_structure(covariance_type)
    basis = structure.basis(d)
    width = basis.shape[0]
    matrices = structure.full_matrices(covariances, k, d)
    first = k * d
    scores = np.zeros((X.shape[0], k, first + structure.n_free(k, d)))
    for j in range(k):
        mean_scores, covariance_scores = component_scores(X, means[j], matrices[j], basis)
        scores[:, j, j * d:(j + 1) * d] = mean_scores
        offset = first + structure.free_offset(j, width)
        scores[:, j, offset:offset + width] = covariance_scores
    return scores


def _scatters(stats, m: np.ndarray, structure) -> np.ndarray:
    """``W_k = Σ_i r_ik (y_i − m_k)(y_i − m_k)ᵀ`` of each component from the statistics about the
    centre. Where the statistics hold less, what the information needs: diag, the diagonal;
    spherical, the trace spread over the diagonal; tied, the sum over the components shared
    equally among them (the shared covariance's block is linear in ``W`` and adds up over them)."""
    n = np.asarray(stats["n"], dtype=float)
    sum_x, sum_xx = np.asarray(stats["sum_x"], dtype=float), np.asarray(stats["sum_xx"], dtype=float)
    return structure.information_scatters(n, sum_x, sum_xx, m)
