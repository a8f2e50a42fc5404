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

mclust's constrained models (a volume, shape or orientation shared, or logs and rotations as
free parameters ``φ``) have no such basis; they keep the shape of a linear structure (their
``linear_parent``: spherical, diag or full) whose free entries ``σ(φ)`` they are a smooth function
of, and everything above is chained through it (:class:`CovarianceChain`): scores ``s_φ = s_σ J``
with ``J = ∂σ/∂φ``, information ``Jᵀ I_σσ J − Σ_t g_t ∂²σ_t/∂φ∂φᵀ`` with ``g = ∂Q/∂σ`` (not zero
at a constrained maximum; the term vanishes for EII and EEI, linear in ``φ``), the means' blocks
``I_μσ J``. ``J`` and the second derivatives are central differences Richardson-extrapolated over
steps ``h`` and ``h/2`` (:data:`CHAIN_STEP`), of a map that costs a few small matrix functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ..kernels.covariance_structures import CovarianceStructure, CovarianceType, covariance_structure
from ..kernels.gaussian_mixture_missing import MissingLayout

#: First difference step of a constrained model's free parameters, times ``max(1, |φ_i|)``
#: (halved until the covariances stay positive definite: EII's and EEI's are variances).
CHAIN_STEP = 1e-3


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
    parameters ``means``, ``covariances``; a constrained model's through its chain (module
    docstring)."""
    means = np.asarray(means, dtype=float)
    k, d = means.shape
    structure = covariance_structure(covariance_type)
    if structure.linear_parent is not None:
        chain = covariance_chain(structure, covariances, k, d)
        information = chain.lift_matrix(gaussian_information(stats, means, covariances, chain.parent, centre), k * d)
        if structure.curved:
            gradient = _covariance_gradient(stats, means, covariances, chain.parent, centre)
            information[k * d:, k * d:] -= chain.curvature(gradient)
        return information
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
    covariance entries)``, shape ``(n, k, k·d + T)`` (zero outside component ``j``'s entries; a
    constrained model's through its chain)."""
    X, means = np.asarray(X, dtype=float), np.asarray(means, dtype=float)
    k, d = means.shape
    structure = covariance_structure(covariance_type)
    if structure.linear_parent is not None:
        chain = covariance_chain(structure, covariances, k, d)
        return chain.lift(gaussian_scores(X, means, covariances, chain.parent), k * d)
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
    covariances : ndarray
        The covariances they are taken under (a constrained model's chain needs them).
    """

    whitened: np.ndarray
    spread: np.ndarray
    pattern: np.ndarray
    covariances: np.ndarray


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
    return ConditionalResiduals(whitened, 0.5 * (spread + np.swapaxes(spread, 2, 3)), row_pattern,
                                np.asarray(covariances, dtype=float))


def conditional_scores(residuals: ConditionalResiduals, covariances: np.ndarray,
                       covariance_type: CovarianceType) -> tuple[np.ndarray, np.ndarray]:
    """``E[S_c | x_o, k]`` of ``log N(x | μ_k, Σ_k)`` in :func:`gaussian_free`'s entries, split in
    two, each shaped ``(n, k, k·d + T)``: the score at ``ŷ`` (``w``, ``½ (wᵀE_t w − tr Σ⁻¹E_t)``)
    and what the missing coordinates' spread adds, ``½ tr(E_t G)`` (``E[yᵀ B y] = ŷᵀ B ŷ + tr(B Ĉ)``); a constrained
    model's through its chain."""
    whitened = residuals.whitened
    n, k, d = whitened.shape
    structure = covariance_structure(covariance_type)
    if structure.linear_parent is not None:
        chain = covariance_chain(structure, covariances, k, d)
        at_mean, spread = conditional_scores(residuals, covariances, chain.parent)
        return chain.lift(at_mean, k * d), chain.lift(spread, k * d)
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
    of each pattern first (``Σ r``, ``Σ r w``, ``Σ r w wᵀ``); a constrained model's through its chain."""
    whitened = residuals.whitened
    n, k, d = whitened.shape
    structure = covariance_structure(covariance_type)
    if structure.linear_parent is not None:
        chain = covariance_chain(structure, residuals.covariances, k, d)
        return chain.lift_matrix(conditional_score_covariance(residuals, chain.parent, linear, quadratic), k * d)
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


# ----------------------------------------------------------------------------- constrained models
@dataclass(frozen=True)
class CovarianceChain:
    """A constrained structure's free parameters ``φ`` at the estimate, seen through its linear
    parent's free entries ``σ(φ) = parent.to_free(structure.from_free(φ))``: ``jacobian`` ``∂σ/∂φ``
    (``(T, P)``) and the ``steps`` it was differenced with."""

    structure: CovarianceStructure
    parent: CovarianceStructure
    free: np.ndarray
    steps: np.ndarray
    jacobian: np.ndarray
    n_components: int
    n_features: int

    def parent_free(self, free: np.ndarray) -> np.ndarray:
        """``σ(φ)``."""
        return self.parent.to_free(self.structure.from_free(free, self.n_components, self.n_features))

    def lift(self, values: np.ndarray, first: int) -> np.ndarray:
        """Values whose last axis is ``(first entries, σ)`` carried to ``(first entries, φ)``: ``σ``'s
        part times ``J``."""
        return np.concatenate([values[..., :first], values[..., first:] @ self.jacobian], axis=-1)

    def lift_matrix(self, matrix: np.ndarray, first: int) -> np.ndarray:
        """``Tᵀ M T`` with ``T = diag(I_first, J)``."""
        return self.lift(self.lift(matrix, first).T, first)

    def curvature(self, gradient: np.ndarray) -> np.ndarray:
        """``Σ_t g_t ∂²σ_t/∂φ∂φᵀ``, the Hessian of ``gᵀσ(φ)``."""
        from ..inference.hessian import central_hessian

        return central_hessian(lambda free: float(gradient @ self.parent_free(free)), self.free, self.steps)


#: The last chain made (a pass over the rows asks for it block by block): ``[(key, chain)]``.
_last_chain: list[tuple[bytes, CovarianceChain]] = []


def covariance_chain(structure: CovarianceStructure, covariances: np.ndarray, n_components: int,
                     n_features: int) -> CovarianceChain:
    """The :class:`CovarianceChain` of a constrained structure at ``covariances``: ``J`` column by
    column, ``(4 D(h/2) − D(h))/3`` with ``D(h)`` the central difference of ``σ`` along ``φ_i``."""
    covariances = np.asarray(covariances, dtype=float)
    key = f"{structure.name}:{n_components}:{n_features}:".encode() + covariances.tobytes()
    if _last_chain and _last_chain[0][0] == key:
        return _last_chain[0][1]
    parent = covariance_structure(structure.linear_parent)
    free = np.asarray(structure.to_free(covariances), dtype=float)
    steps = CHAIN_STEP * np.maximum(1.0, np.abs(free))
    chain = CovarianceChain(structure, parent, free, steps, np.zeros((0, 0)), n_components, n_features)
    columns = []
    for i, unit in enumerate(np.eye(free.size)):
        for _ in range(60):
            if all(_positive_definite(structure.full_matrices(structure.from_free(free + sign * steps[i] * unit,
                                                                                  n_components, n_features),
                                                              n_components, n_features)) for sign in (1.0, -1.0)):
                break
            steps[i] /= 2.0
        else:
            raise ValueError(f"covariances: no feasible difference step for {structure.name!r}'s free parameter {i}")
        h = steps[i]
        wide = (chain.parent_free(free + h * unit) - chain.parent_free(free - h * unit)) / (2.0 * h)
        narrow = (chain.parent_free(free + 0.5 * h * unit) - chain.parent_free(free - 0.5 * h * unit)) / h
        columns.append((4.0 * narrow - wide) / 3.0)
    jacobian = np.column_stack(columns) if columns else np.zeros((parent.n_free(n_components, n_features), 0))
    chain = CovarianceChain(structure, parent, free, steps, jacobian, n_components, n_features)
    _last_chain[:] = [(key, chain)]
    return chain


def _positive_definite(matrices: np.ndarray) -> bool:
    """Whether every matrix is finite and positive definite."""
    if not np.all(np.isfinite(matrices)):
        return False
    try:
        np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        return False
    return True


def _covariance_gradient(stats, means: np.ndarray, covariances: np.ndarray, parent: CovarianceStructure,
                         centre: np.ndarray) -> np.ndarray:
    """``g = ∂Q/∂σ`` in a linear structure's free entries: ``g_t = ½ Σ_k [tr(E_t Σ_k⁻¹ W_k Σ_k⁻¹) −
    n_k tr(Σ_k⁻¹ E_t)]`` over the components that entry belongs to (``W_k`` about ``μ_k``)."""
    k, d = means.shape
    basis = parent.basis(d)
    width = basis.shape[0]
    matrices = parent.full_matrices(covariances, k, d)
    n = np.asarray(stats["n"], dtype=float)
    scatters = _scatters(stats, means - centre, parent)
    gradient = np.zeros(parent.n_free(k, d))
    for j in range(k):
        factor = cho_factor(matrices[j], lower=True)
        precision = cho_solve(factor, np.eye(d))
        sandwich = cho_solve(factor, cho_solve(factor, scatters[j]).T)
        offset = parent.free_offset(j, width)
        gradient[offset:offset + width] += 0.5 * (np.einsum("tij,ji->t", basis, sandwich)
                                                  - n[j] * np.einsum("tij,ji->t", basis, precision))
    return gradient
