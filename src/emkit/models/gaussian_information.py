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
Cholesky factor of ``Σ`` (no explicit inverse). A row with missing cells has as scores their
conditional means given its observed cells, and their conditional covariance is Louis's missing
information inside a component (:func:`conditional_scores`, :func:`conditional_score_covariance`,
from the blocks of the precision per missingness pattern).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ..kernels.covariance_structures import CovarianceType, covariance_structure
from ..kernels.gaussian_mixture_missing import MissingLayout


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


@dataclass(frozen=True)
class ConditionalResiduals:
    """Rows with missing cells under each component ``k``, as the scores of the complete data
    (the rows with their missing coordinates) need them: ``y = x − μ_k`` is normal given the
    observed coordinates, with mean ``ŷ`` (the missing cells at their conditional means) and
    covariance ``Ĉ`` (``Cov[x_m | x_o, k]`` on the missing block, 0 elsewhere).

    Attributes
    ----------
    whitened : ndarray, shape (n, k, d)
        ``w_ik = Σ_k⁻¹ ŷ_ik``.
    spread : ndarray, shape (n_patterns + 1, k, d, d)
        ``G_pk = Σ_k⁻¹ Ĉ_pk Σ_k⁻¹`` of each missingness pattern, the last one 0 (complete rows).
    pattern : ndarray of int, shape (n,)
        Each row's pattern (−1: complete).
    """

    whitened: np.ndarray
    spread: np.ndarray
    pattern: np.ndarray


def conditional_residuals(X: np.ndarray, layout: MissingLayout, means: np.ndarray, covariances: np.ndarray,
                          covariance_type: CovarianceType) -> ConditionalResiduals:
    """:class:`ConditionalResiduals` of the rows ``X`` (NaN missing) grouped by pattern in
    ``layout`` (:func:`~emkit.kernels.gaussian_mixture_missing.missing_layout`).

    With the precision ``Λ = Σ⁻¹`` and the missing coordinates ``M`` of a pattern,
    ``Cov[y_M | x_o] = Λ_MM⁻¹``, so ``G = Λ_·M Λ_MM⁻¹ Λ_M·`` (one Cholesky factor of ``Λ_MM`` per
    pattern and component), and ``w = Λ ŷ = (Λ − G) y⁰`` with ``y⁰`` the residual with 0 at the
    missing coordinates (``w`` is 0 there: the conditional mean minimises the quadratic form).
    """
    X, means = np.asarray(X, dtype=float), np.asarray(means, dtype=float)
    k, d = means.shape
    structure = covariance_structure(covariance_type)
    precisions = structure.full_matrices(structure.precisions(structure.precisions_cholesky(
        np.asarray(covariances, dtype=float))), k, d)
    n_patterns = layout.n_missing.size
    spread = np.zeros((n_patterns + 1, k, d, d))
    whitened = np.empty((X.shape[0], k, d))
    row_pattern = np.full(X.shape[0], -1, dtype=np.int64)
    if layout.complete:
        groups = [np.arange(X.shape[0])]
    else:
        row_pattern[layout.order] = layout.row_pattern
        bounds = np.searchsorted(layout.row_pattern, np.arange(-1, n_patterns + 1))
        groups = [layout.order[bounds[p]:bounds[p + 1]] for p in range(n_patterns + 1)]
    for p, rows in enumerate(groups, start=-1):
        if p >= 0:
            missing = layout.missing[p, :layout.n_missing[p]]
            for j, precision in enumerate(precisions):
                factor = cho_factor(precision[np.ix_(missing, missing)], lower=True)
                spread[p, j] = precision[:, missing] @ cho_solve(factor, precision[missing])
        residuals = np.nan_to_num(X[rows][:, None, :] - means, nan=0.0)
        whitened[rows] = np.einsum("nki,kij->nkj", residuals, precisions - spread[p])
    return ConditionalResiduals(whitened, 0.5 * (spread + np.swapaxes(spread, 2, 3)), row_pattern)


def conditional_scores(residuals: ConditionalResiduals, covariances: np.ndarray,
                       covariance_type: CovarianceType) -> tuple[np.ndarray, np.ndarray]:
    """``E[S_c | x_o, k]`` of ``log N(x | μ_k, Σ_k)`` in :func:`gaussian_free`'s entries, split in
    two, each shaped ``(n, k, k·d + T)``: the score at ``ŷ`` (``w``, ``½ (wᵀE_t w − tr Σ⁻¹E_t)``)
    and what the missing coordinates' spread adds, ``½ tr(E_t G)`` (``E[yᵀ B y] = ŷᵀ B ŷ + tr(B Ĉ)``)."""
    whitened = residuals.whitened
    n, k, d = whitened.shape
    structure = covariance_structure(covariance_type)
    basis = structure.basis(d)
    width = basis.shape[0]
    matrices = structure.full_matrices(covariances, k, d)
    first = k * d
    at_mean = np.zeros((n, k, first + structure.n_free(k, d)))
    spread = np.zeros_like(at_mean)
    traces = 0.5 * np.einsum("tij,pkji->pkt", basis, residuals.spread)[residuals.pattern]
    for j in range(k):
        factor = cho_factor(matrices[j], lower=True)
        own = np.einsum("tii->t", np.stack([cho_solve(factor, e) for e in basis]))
        at_mean[:, j, j * d:(j + 1) * d] = whitened[:, j]
        offset = first + structure.free_offset(j, width)
        at_mean[:, j, offset:offset + width] = 0.5 * (np.einsum("ni,tij,nj->nt", whitened[:, j], basis,
                                                                whitened[:, j]) - own)
        spread[:, j, offset:offset + width] = traces[:, j]
    return at_mean, spread


def conditional_score_covariance(residuals: ConditionalResiduals, covariance_type: CovarianceType,
                                 linear: np.ndarray, quadratic: np.ndarray) -> np.ndarray:
    """``Σ_i Σ_k Cov[S_c | x_i,o, k]`` weighted, in :func:`gaussian_free`'s entries: with ``y = ŷ + e``,
    ``e ~ N(0, Ĉ)``, the score ``(Σ⁻¹y, ½ yᵀ B_t y − …)``, ``B_t = Σ⁻¹E_tΣ⁻¹``, has the linear part
    ``(Σ⁻¹e, ŷᵀB_t e)`` and the quadratic part ``½ eᵀB_t e``, uncorrelated (odd Gaussian moments
    vanish), of covariances (Isserlis)

        [[G, G E_t w], [·, wᵀE_s G E_t w]]   and   ½ tr(E_s G E_t G),

    weighted by ``linear`` (n, k) and ``quadratic`` (n, k) respectively: both ``γ_ik`` for a
    Gaussian; a t component's latent scale scales the linear part by ``E[u]``. Sums over the rows
    of each pattern first (``Σ r``, ``Σ r w``, ``Σ r w wᵀ``)."""
    whitened = residuals.whitened
    n, k, d = whitened.shape
    structure = covariance_structure(covariance_type)
    basis = structure.basis(d)
    width = basis.shape[0]
    first = k * d
    size = first + structure.n_free(k, d)
    out = np.zeros((size, size))
    incomplete = np.flatnonzero(residuals.pattern >= 0)   # complete rows add nothing (G = 0)
    pattern, patterns = residuals.pattern[incomplete], residuals.spread.shape[0] - 1
    for j in range(k):
        mean = slice(j * d, (j + 1) * d)
        offset = first + structure.free_offset(j, width)
        covariance = slice(offset, offset + width)
        w, r = whitened[incomplete, j], linear[incomplete, j]
        counts = np.bincount(pattern, weights=r, minlength=patterns)
        sums, seconds = np.zeros((patterns, d)), np.zeros((patterns, d, d))
        np.add.at(sums, pattern, r[:, None] * w)
        np.add.at(seconds, pattern, np.einsum("n,ni,nl->nil", r, w, w))
        squares = np.bincount(pattern, weights=quadratic[incomplete, j], minlength=patterns)
        spread = residuals.spread[:patterns, j]
        spread_basis = np.einsum("tij,pjl->ptil", basis, spread)                      # E_t G
        out[mean, mean] += np.einsum("p,pij->ij", counts, spread)
        mixed = np.einsum("pij,ptj->it", spread, np.einsum("tjl,pl->ptj", basis, sums))   # G E_t Σ r w
        out[mean, covariance] += mixed
        out[covariance, mean] += mixed.T
        second_basis = np.einsum("tij,pjl->ptil", basis, seconds)                     # E_t Σ r w wᵀ
        out[covariance, covariance] += (np.einsum("psij,ptji->st", spread_basis, second_basis)
                                        + 0.5 * np.einsum("psij,ptji->st", spread_basis * squares[:, None, None, None],
                                                          spread_basis))
    return out


def _scatters(stats, m: np.ndarray, structure) -> np.ndarray:
    """``W_k = Σ_i r_ik (y_i − m_k)(y_i − m_k)ᵀ`` of each component from the statistics about the
    centre. Where the statistics hold less, what the information needs: diag, the diagonal;
    spherical, the trace spread over the diagonal; tied, the sum over the components shared
    equally among them (the shared covariance's block is linear in ``W`` and adds up over them)."""
    n = np.asarray(stats["n"], dtype=float)
    sum_x, sum_xx = np.asarray(stats["sum_x"], dtype=float), np.asarray(stats["sum_xx"], dtype=float)
    return structure.information_scatters(n, sum_x, sum_xx, m)
