"""Covariance structures of Gaussian components as strategy objects.

A structure says how the ``k`` covariances of a Gaussian family are parametrized and owns every
computation that depends on it, so the kernels and models call one object instead of switching on
``covariance_type``; a new structure (e.g. one of mclust's fourteen) is a new class here that the
callers take without change. scikit-learn's four, the public spellings of ``covariance_type``:

* ``full``: one ``(d, d)`` matrix per component, covariances ``(k, d, d)``;
* ``tied``: one ``(d, d)`` matrix shared by all components;
* ``diag``: ``d`` variances per component, ``(k, d)``;
* ``spherical``: ``Σ_k = σ_k² I``, ``(k,)``.

Each structure gives: the shape of its parameters; precision Cholesky factors ``P`` (``Σ⁻¹ = P
Pᵀ``, upper triangular for matrices, ``1/σ`` for variances) and ``log det P``; the weighted second
moments an E-step adds up and the M-step from them (with ``reg_covar``, and the posterior mode of
the conjugate prior :class:`~emkit.kernels.covariance_regularization.CovariancePrior`), the
reduction of per-component second-moment matrices to them and the rescaling of a scatter; what the
floor ``reg_covar`` gives up; the free entries (flat vector, labels, basis ``E_t`` with ``Σ = Σ_t
θ_t E_t``) with the scatter that the complete-data information needs; full ``(k, d, d)``
matrices, sampling factors and per-coordinate variances. :func:`covariance_structure` maps a name
(or a structure) to its singleton.
"""

from __future__ import annotations

from typing import Union

import numpy as np

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
    "number of components, increase reg_covar, or scale the input data."
)


def cholesky_factor(matrix: np.ndarray, what: str) -> np.ndarray:
    """Lower Cholesky factor, or a ValueError naming ``what`` and the ``reg_covar`` remedy."""
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"covariances: {what} has non-finite entries. {ILL_DEFINED_COVARIANCE}")
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise ValueError(f"covariances: the covariance of {what} is not positive definite. "
                         f"{ILL_DEFINED_COVARIANCE}") from None


def precision_cholesky_matrices(cov: np.ndarray, names: list[str]) -> np.ndarray:
    """``P_k = L_k⁻ᵀ`` for a stack of covariances ``Σ_k = L_k L_kᵀ`` (one batched Cholesky, then
    the triangular solves in one compiled call, :func:`~emkit.kernels.triangular.inverse_transposed`);
    a failure names its matrix (``names``) and the remedy."""
    try:
        if not np.all(np.isfinite(cov)):
            raise np.linalg.LinAlgError
        lower = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        for matrix, name in zip(cov, names):
            cholesky_factor(matrix, name)  # raises the ValueError naming the matrix
        raise ValueError(f"covariances: not positive definite. {ILL_DEFINED_COVARIANCE}") from None
    from .triangular import inverse_transposed   # compiled: not imported with the structures (the CLI parser)

    out = np.empty_like(lower)
    inverse_transposed(np.ascontiguousarray(lower), out)
    return out


class CovarianceStructure:
    """How the covariances of ``k`` Gaussian components in ``d`` dimensions are parametrized.

    Attributes
    ----------
    name : str
        The ``covariance_type`` spelling.
    diagonal : bool
        Precision factors are per-coordinate scales (``(k, d)`` by :meth:`density_factors`), and
        the coordinates are conditionally independent given the component.
    shared : bool
        One covariance serves every component (its statistics and free entries are pooled).
    linear_parent : str or None
        None when the covariances are linear in the free entries (:meth:`basis`); else the
        linear structure whose shape they keep (mclust's constrained models), through which the
        information and scores are chained (:mod:`emkit.models.gaussian_information`).
    curved : bool
        With a ``linear_parent``: the covariances are not linear in the free parameters (logs of
        volumes and shapes, rotations), so the information has a second-derivative term.
    """

    name: str = ""
    diagonal: bool = False
    shared: bool = False
    linear_parent: str | None = None
    curved: bool = False

    def __repr__(self) -> str:
        return f"covariance_structure({self.name!r})"

    # ------------------------------------------------------------------ shapes and factors
    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of the covariance array (and of the second-moment statistics)."""
        raise NotImplementedError

    def n_features_of(self, covariances: np.ndarray) -> int | None:
        """The number of features ``d`` that a covariance array of :meth:`shape` shows (its last
        axis), None when the shape does not hold it (spherical: ``(k,)``)."""
        return int(np.shape(covariances)[-1])

    @property
    def component_structure(self) -> "CovarianceStructure":
        """The structure of one component's own covariance (tied: full)."""
        return self

    def precisions_cholesky(self, cov: np.ndarray) -> np.ndarray:
        """``P`` with ``Σ⁻¹ = P Pᵀ``, shaped like ``cov`` (ValueError naming the component)."""
        raise NotImplementedError

    def log_det_precision_cholesky(self, prec_chol: np.ndarray, n_features: int) -> np.ndarray:
        """``log det P_k = −½ log det Σ_k`` for each component (a scalar for a shared one)."""
        raise NotImplementedError

    def density_factors(self, prec_chol: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """Contiguous factors for the density kernels: ``(k, d, d)``, or ``(k, d)`` scales when
        :attr:`diagonal`."""
        raise NotImplementedError

    def full_matrices(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """Every component's covariance as a ``(k, d, d)`` matrix."""
        raise NotImplementedError

    def from_matrix(self, matrix: np.ndarray, n_components: int) -> np.ndarray:
        """Every component's covariance in this structure's shape from one ``(d, d)`` matrix (a
        start): the matrix itself, its diagonal, or its mean variance."""
        raise NotImplementedError

    def sampling_factors(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """``L_k`` with ``Σ_k = L_k L_kᵀ``, shape ``(k, d, d)``: a draw is ``μ_k + L_k z``."""
        return np.linalg.cholesky(self.full_matrices(covariances, n_components, n_features))

    def diagonal_variances(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """Per-coordinate variances ``(k, d)``."""
        return np.diagonal(self.full_matrices(covariances, n_components, n_features), axis1=1, axis2=2)

    def precisions(self, prec_chol: np.ndarray) -> np.ndarray:
        """Precisions ``Λ = P Pᵀ`` from their Cholesky factors."""
        raise NotImplementedError

    def covariances_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """``Σ = Λ⁻¹`` (ValueError naming ``precisions_init`` when ``Λ`` is not valid)."""
        raise NotImplementedError

    # ------------------------------------------------------------ statistics and M-step
    def accumulate_second(self, sum_xx: np.ndarray, block: np.ndarray, resp: np.ndarray) -> None:
        """Add the weighted second moments of one block of shifted rows to ``sum_xx`` in place."""
        raise NotImplementedError

    def add_component_second(self, sum_xx: np.ndarray, component: int, second: np.ndarray) -> None:
        """Add one component's ``(d, d)`` second-moment matrix to ``sum_xx`` (matrix structures)."""
        raise NotImplementedError

    def reduce_diagonal_second(self, second: np.ndarray) -> np.ndarray:
        """Second moments ``(b, d)`` of the coordinates per row (or per component) as ``sum_xx``
        keeps them (diagonal structures)."""
        raise NotImplementedError

    def second_of_matrices(self, matrices: np.ndarray) -> np.ndarray:
        """Per-component ``(k, d, d)`` second-moment matrices as ``sum_xx`` keeps them (tied: their
        sum; diag: their diagonals; spherical: their traces)."""
        raise NotImplementedError

    def m_step(self, n: np.ndarray, sum_xx: np.ndarray, m: np.ndarray, delta: np.ndarray,
               denominator: np.ndarray, reg_covar: float) -> np.ndarray:
        """Covariances maximizing the expected complete-data log-likelihood, plus ``reg_covar·I``.

        From ``sum_xx`` about the shift, the mean offsets ``m_k = sum_x_k / n_k`` about it, the
        offsets ``delta_k`` of ``m_k`` from the (possibly fixed) means and the divisors
        ``denominator`` (``n_k`` plus a few eps): the scatter ``S_k/n_k − m_k m_kᵀ + δ_k δ_kᵀ``
        shaped by the structure.
        """
        raise NotImplementedError

    def warm_m_step(self, n: np.ndarray, sum_xx: np.ndarray, m: np.ndarray, delta: np.ndarray,
                    denominator: np.ndarray, reg_covar: float, previous: np.ndarray | None) -> np.ndarray:
        """:meth:`m_step` started from the ``previous`` covariances (None: unknown); only the
        structures whose M-step iterates (mclust's VEI, VEE, VEV, EVE, VVE) use them."""
        return self.m_step(n, sum_xx, m, delta, denominator, reg_covar)

    def scatter_step(self, n: np.ndarray, sum_xx: np.ndarray, m: np.ndarray, delta: np.ndarray,
                     denominator: np.ndarray, reg_covar: float) -> np.ndarray:
        """The scatter a conjugate prior's :meth:`posterior_mode` starts from: :meth:`m_step`
        before any constraint across components (a constrained model: its parent's)."""
        return self.m_step(n, sum_xx, m, delta, denominator, reg_covar)

    def anchored_variances(self, second: np.ndarray, n: np.ndarray, n_features: int) -> np.ndarray:
        """Second moments per row about the anchors per component and coordinate ``(k, d)``."""
        raise NotImplementedError

    def keep_components(self, previous: np.ndarray, new: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``new`` with the components in ``keep`` (e.g. empty ones) back at ``previous`` (a shared
        covariance: ``new``)."""
        if self.shared or not keep.any():
            return new
        return np.where(keep.reshape((-1,) + (1,) * (np.ndim(new) - 1)), previous, new)

    # ---------------------------------------------------------------- conjugate prior
    def prior_shape(self, n_features: int) -> tuple[int, ...]:
        """Shape of the prior scale ``Ψ`` (one covariance of the structure)."""
        raise NotImplementedError

    def prior_scale(self, scale: np.ndarray, n_features: int) -> np.ndarray:
        """``Ψ`` from a number (``scale·I``, or ``scale`` per variance)."""
        raise NotImplementedError

    def check_prior_scale(self, scale: np.ndarray, given, name: str, proper: bool = True) -> None:
        """ValueError naming ``name`` when ``Ψ`` (one, or a stack of per-component ones) is not
        positive (definite); not negative (positive semi-definite) when not ``proper``."""
        raise NotImplementedError

    def prior_lowest_dof(self, n_features: int) -> float:
        """The degrees of freedom ``ν`` must exceed this."""
        raise NotImplementedError

    def prior_exponent_offset(self, n_features: int) -> float:
        """``c − ν``, where ``c/2`` is the exponent of ``|Σ|`` (of ``σ²`` for variances) in
        ``log p(Σ) = −(c/2) log|Σ| − ½ tr(Ψ Σ⁻¹)``."""
        raise NotImplementedError

    def mean_prior_scale(self, weight: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """What the prior ``μ_k | Σ_k ~ N(m_k, Σ_k/κ_k)`` adds to ``Ψ``: ``κ_k δ_k δ_kᵀ`` with
        ``δ_k = μ_k − m_k`` (``weight`` and ``offsets`` of shape ``(k, d)``), shaped like the
        scales (per component; tied: summed)."""
        raise NotImplementedError

    def posterior_mode(self, scatter: np.ndarray, counts: np.ndarray, scale: np.ndarray, dof: float,
                       n_features: int) -> np.ndarray:
        """Covariances maximizing ``Σ_k Q_k(Σ_k) + log p(Σ)`` from the exact M-step's ``C``."""
        raise NotImplementedError

    def warm_posterior_mode(self, scatter: np.ndarray, counts: np.ndarray, scale: np.ndarray, dof: float,
                            n_features: int, previous: np.ndarray | None) -> np.ndarray:
        """:meth:`posterior_mode` started from the ``previous`` covariances (None: unknown); only
        the structures whose M-step iterates (mclust's VEI, VEE, VEV, EVE, VVE) use them."""
        return self.posterior_mode(scatter, counts, scale, dof, n_features)

    def prior_log_density(self, covariances: np.ndarray, scale: np.ndarray, dof: float, n_features: int) -> float:
        """``log p(Σ)`` summed over the components, up to a constant."""
        raise NotImplementedError

    # ------------------------------------------------------------------------- floor
    def floor_values(self, scatter: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (variances) of each ``C_k``, shape ``(k', d')``, and their counts ``(k',)``
        (a shared covariance: one row, pooled)."""
        raise NotImplementedError

    def floor_weights(self, counts: np.ndarray, n_features: int) -> np.ndarray:
        """The counts behind each eigenvalue (a spherical variance stands for ``d`` of them)."""
        return counts

    # ------------------------------------------------------------------ free parameters
    def n_free(self, n_components: int, n_features: int) -> int:
        """Number of free covariance entries."""
        raise NotImplementedError

    def basis(self, n_features: int) -> np.ndarray:
        """The basis ``E_t`` of one covariance matrix's free entries, shape ``(T, d, d)``."""
        raise NotImplementedError

    def free_offset(self, component: int, width: int) -> int:
        """Where component ``component``'s free entries start among the covariances' entries."""
        return 0 if self.shared else component * width

    def to_free(self, covariances: np.ndarray) -> np.ndarray:
        """The free entries of the covariances, flat."""
        raise NotImplementedError

    def from_free(self, free: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """Inverse of :meth:`to_free`."""
        raise NotImplementedError

    def free_labels(self, name: str, n_components: int, n_features: int) -> list[str]:
        """Labels of :meth:`to_free`'s entries, e.g. ``covariances[j,a,b]`` (a ≥ b)."""
        raise NotImplementedError

    def information_scatters(self, n: np.ndarray, sum_x: np.ndarray, sum_xx: np.ndarray,
                             m: np.ndarray) -> np.ndarray:
        """``W_k = Σ_i r_ik (y_i − m_k)(y_i − m_k)ᵀ`` as the complete-data information needs it,
        ``(k, d, d)``, from the statistics about the centre (see
        :mod:`emkit.models.gaussian_information`)."""
        raise NotImplementedError


class _MatrixStructure(CovarianceStructure):
    """Shared by full and tied: ``(d, d)`` matrices, inverse-Wishart prior, lower-triangle entries."""

    def basis(self, n_features: int) -> np.ndarray:
        d = n_features
        rows, columns = np.tril_indices(d)
        basis = np.zeros((rows.size, d, d))
        basis[np.arange(rows.size), rows, columns] = 1.0
        basis[np.arange(rows.size), columns, rows] = 1.0
        return basis

    def to_free(self, covariances: np.ndarray) -> np.ndarray:
        covariances = np.asarray(covariances, dtype=float)
        rows, columns = np.tril_indices(covariances.shape[-1])
        return covariances[..., rows, columns].ravel()

    def _from_free(self, free: np.ndarray, count: int, d: int) -> np.ndarray:
        rows, columns = np.tril_indices(d)
        out = np.zeros((count, d, d))
        out[:, rows, columns] = free.reshape(count, rows.size)
        out[:, columns, rows] = free.reshape(count, rows.size)
        return out

    def _matrix_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """The covariances ``Σ = L⁻ᵀ L⁻¹`` of a stack of precisions ``Λ = L Lᵀ`` (one batched
        Cholesky and one compiled triangular solve); ValueError when one is not symmetric
        (``np.allclose``'s tolerances) or not positive definite."""
        message = f"precisions_init: '{self.name} precision' should be symmetric, positive-definite"
        transposed = np.swapaxes(precisions, -1, -2)
        if not np.all(np.abs(precisions - transposed) <= 1e-8 + 1e-5 * np.abs(transposed)):
            raise ValueError(message)
        try:
            lower = np.linalg.cholesky(precisions)
        except np.linalg.LinAlgError:
            raise ValueError(message) from None
        from .triangular import inverse_transposed

        factors = np.empty_like(lower)
        inverse_transposed(np.ascontiguousarray(lower), factors)   # L⁻ᵀ
        return factors @ np.swapaxes(factors, -1, -2)

    def information_scatters(self, n, sum_x, sum_xx, m):
        cross = np.einsum("ki,kj->kij", sum_x, m)
        return -cross - cross.transpose(0, 2, 1) + n[:, None, None] * np.einsum("ki,kj->kij", m, m)

    def prior_shape(self, n_features):
        return (n_features, n_features)

    def prior_scale(self, scale, n_features):
        return scale * np.eye(n_features)

    def check_prior_scale(self, scale, given, name, proper=True):
        transposed = np.swapaxes(scale, -1, -2)
        if not np.allclose(scale, transposed):
            raise ValueError(f"{name}: the scale matrix must be symmetric")
        values = np.linalg.eigvalsh(0.5 * (scale + transposed))
        if proper and np.any(values <= 0):
            raise ValueError(f"{name}: the scale matrix must be symmetric positive definite")
        if np.any(values < -1e-12 * max(1.0, float(np.abs(values).max()))):
            raise ValueError(f"{name}: the scale matrix must be symmetric positive semi-definite")

    def prior_lowest_dof(self, n_features):
        return n_features - 1.0

    def prior_exponent_offset(self, n_features):
        return n_features + 1.0

    def prior_log_density(self, covariances, scale, dof, n_features):
        matrices = np.asarray(covariances, dtype=float).reshape((-1, n_features, n_features))
        factors = np.linalg.cholesky(matrices)
        log_det = 2.0 * np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
        # tr(Ψ Σ⁻¹) = tr(L⁻¹ Ψ L⁻ᵀ) with Σ = L Lᵀ (Ψ positive semi-definite, one or one per matrix).
        left = np.linalg.solve(factors, np.broadcast_to(scale, matrices.shape))
        trace = np.einsum("kij,kij->k", np.linalg.solve(factors, np.swapaxes(left, 1, 2)),
                          np.broadcast_to(np.eye(n_features), matrices.shape))
        return float(np.sum(-0.5 * (dof + n_features + 1.0) * log_det - 0.5 * trace))


class _VarianceStructure(CovarianceStructure):
    """Shared by diag and spherical: variances, inverse-gamma prior, free entries the variances."""

    diagonal = True

    def precisions_cholesky(self, cov):
        expected_ndim = len(self.shape(1, 1))
        if cov.ndim != expected_ndim:
            raise ValueError(f"covariances: expected a {expected_ndim}-D array for {self.name!r}, "
                             f"got shape {cov.shape}")
        bad = ~np.isfinite(cov) | (cov <= 0)
        if np.any(bad):
            component = int(np.argwhere(bad)[0][0])
            raise ValueError(f"covariances: the variance of component {component} is not positive. "
                             f"{ILL_DEFINED_COVARIANCE}")
        return 1.0 / np.sqrt(cov)

    def full_matrices(self, covariances, n_components, n_features):
        covariances = np.asarray(covariances, dtype=float)
        return np.stack([np.diag(v) for v in self._variances(covariances, n_features)])

    def _variances(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        """The ``(k, d)`` variances, a new array."""
        raise NotImplementedError

    def precisions(self, prec_chol):
        return prec_chol ** 2

    def covariances_from_precisions(self, precisions):
        if np.any(precisions <= 0):
            raise ValueError(f"precisions_init: '{self.name} precision' should be positive")
        return 1.0 / precisions

    def to_free(self, covariances):
        return np.asarray(covariances, dtype=float).ravel()

    def from_free(self, free, n_components, n_features):
        return np.asarray(free, dtype=float).reshape(self.shape(n_components, n_features)).copy()

    def check_prior_scale(self, scale, given, name, proper=True):
        if np.any(scale <= 0) if proper else np.any(scale < 0):
            raise ValueError(f"{name}: must be {'positive' if proper else 'non-negative'}, got {given!r}")

    def prior_lowest_dof(self, n_features):
        return 0.0

    def prior_exponent_offset(self, n_features):
        return 2.0

    def prior_log_density(self, covariances, scale, dof, n_features):
        covariances = np.asarray(covariances, dtype=float)
        return float(np.sum(-(0.5 * dof + 1.0) * np.log(covariances) - 0.5 * scale / covariances))

    def information_scatters(self, n, sum_x, sum_xx, m):
        return np.stack([np.diag(w) for w in self._information_diagonal(n, sum_x, sum_xx, m)])

    def _information_diagonal(self, n, sum_x, sum_xx, m) -> np.ndarray:
        raise NotImplementedError


class Full(_MatrixStructure):
    """One ``(d, d)`` covariance per component: ``(k, d, d)``."""

    name = "full"

    def shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def precisions_cholesky(self, cov):
        if cov.ndim != 3 or cov.shape[1] != cov.shape[2]:
            raise ValueError(f"covariances: expected shape (k, d, d) for 'full', got {cov.shape}")
        return precision_cholesky_matrices(cov, [f"component {k}" for k in range(len(cov))])

    def log_det_precision_cholesky(self, prec_chol, n_features):
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)

    def density_factors(self, prec_chol, n_components, n_features):
        return np.ascontiguousarray(prec_chol)

    def full_matrices(self, covariances, n_components, n_features):
        return np.asarray(covariances, dtype=float)

    def from_matrix(self, matrix, n_components):
        return np.tile(matrix, (n_components, 1, 1))

    def precisions(self, prec_chol):
        return np.einsum("kij,klj->kil", prec_chol, prec_chol)

    def covariances_from_precisions(self, precisions):
        return self._matrix_precisions(precisions)

    def accumulate_second(self, sum_xx, block, resp):
        for j in range(resp.shape[1]):
            weighted = block * np.sqrt(resp[:, j])[:, None]
            sum_xx[j] += weighted.T @ weighted

    def add_component_second(self, sum_xx, component, second):
        sum_xx[component] += second

    def second_of_matrices(self, matrices):
        return matrices

    def m_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        d = m.shape[1]
        cov = sum_xx / denominator[:, None, None] - m[:, :, None] * m[:, None, :] + delta[:, :, None] * delta[:, None, :]
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        cov.reshape(len(cov), d * d)[:, ::d + 1] += reg_covar   # the diagonals, through a view
        return cov

    def anchored_variances(self, second, n, n_features):
        return np.diagonal(second, axis1=1, axis2=2) / np.maximum(n, 1e-300)[:, None]

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        return (counts[:, None, None] * scatter + scale) / (counts + dof + n_features + 1.0)[:, None, None]

    def mean_prior_scale(self, weight, offsets):
        return weight[:, :1, None] * np.einsum("ki,kj->kij", offsets, offsets)

    def floor_values(self, scatter, counts):
        return np.linalg.eigvalsh(scatter), counts

    def n_free(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) // 2

    def from_free(self, free, n_components, n_features):
        return self._from_free(np.asarray(free, dtype=float), n_components, n_features)

    def free_labels(self, name, n_components, n_features):
        rows, columns = np.tril_indices(n_features)
        return [f"{name}[{j},{a},{b}]" for j in range(n_components) for a, b in zip(rows, columns)]

    def information_scatters(self, n, sum_x, sum_xx, m):
        return sum_xx + super().information_scatters(n, sum_x, sum_xx, m)


class Tied(_MatrixStructure):
    """One ``(d, d)`` covariance shared by all components."""

    name = "tied"
    shared = True

    def shape(self, n_components, n_features):
        return (n_features, n_features)

    @property
    def component_structure(self):
        return FULL

    def precisions_cholesky(self, cov):
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
            raise ValueError(f"covariances: expected shape (d, d) for 'tied', got {cov.shape}")
        return precision_cholesky_matrices(cov[None], ["the tied covariance"])[0]

    def log_det_precision_cholesky(self, prec_chol, n_features):
        return np.log(np.diagonal(prec_chol)).sum()

    def density_factors(self, prec_chol, n_components, n_features):
        return np.ascontiguousarray(np.broadcast_to(prec_chol, (n_components, n_features, n_features)))

    def full_matrices(self, covariances, n_components, n_features):
        return np.broadcast_to(np.asarray(covariances, dtype=float), (n_components, n_features, n_features))

    def from_matrix(self, matrix, n_components):
        return np.array(matrix, dtype=float)

    def precisions(self, prec_chol):
        return prec_chol @ prec_chol.T

    def covariances_from_precisions(self, precisions):
        return self._matrix_precisions(precisions[None])[0]

    def accumulate_second(self, sum_xx, block, resp):
        weighted = block * np.sqrt(resp.sum(axis=1))[:, None]
        sum_xx += weighted.T @ weighted

    def add_component_second(self, sum_xx, component, second):
        sum_xx += second

    def second_of_matrices(self, matrices):
        return matrices.sum(axis=0)

    def m_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        d = m.shape[1]
        total = n.sum()
        if not total > 0:
            raise ValueError("stats: the total weight n is zero; nothing to estimate a covariance from")
        cov = (sum_xx - np.einsum("k,ki,kj->ij", n, m, m) + np.einsum("k,ki,kj->ij", n, delta, delta)) / total
        cov = 0.5 * (cov + cov.T)
        cov[np.arange(d), np.arange(d)] += reg_covar
        return cov

    def anchored_variances(self, second, n, n_features):
        return np.broadcast_to(np.diagonal(second) / max(float(n.sum()), 1e-300), (n.size, n_features))

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        total = counts.sum()
        return (total * scatter + scale) / (total + dof + n_features + 1.0)

    def mean_prior_scale(self, weight, offsets):
        return np.einsum("k,ki,kj->ij", weight[:, 0], offsets, offsets)

    def floor_values(self, scatter, counts):
        return np.linalg.eigvalsh(scatter)[None, :], np.array([counts.sum()])

    def n_free(self, n_components, n_features):
        return n_features * (n_features + 1) // 2

    def from_free(self, free, n_components, n_features):
        return self._from_free(np.asarray(free, dtype=float), 1, n_features)[0]

    def free_labels(self, name, n_components, n_features):
        rows, columns = np.tril_indices(n_features)
        return [f"{name}[{a},{b}]" for a, b in zip(rows, columns)]

    def information_scatters(self, n, sum_x, sum_xx, m):
        k, d = m.shape
        correction = super().information_scatters(n, sum_x, sum_xx, m)
        return np.broadcast_to((sum_xx + correction.sum(axis=0)) / k, (k, d, d))


class Diag(_VarianceStructure):
    """``d`` variances per component: ``(k, d)``."""

    name = "diag"

    def shape(self, n_components, n_features):
        return (n_components, n_features)

    def from_matrix(self, matrix, n_components):
        return np.tile(np.diag(matrix), (n_components, 1))

    def log_det_precision_cholesky(self, prec_chol, n_features):
        return np.log(prec_chol).sum(axis=1)

    def density_factors(self, prec_chol, n_components, n_features):
        return np.ascontiguousarray(prec_chol)

    def _variances(self, covariances, n_features):
        return covariances

    def diagonal_variances(self, covariances, n_components, n_features):
        return covariances

    def accumulate_second(self, sum_xx, block, resp):
        sum_xx += resp.T @ (block * block)

    def reduce_diagonal_second(self, second):
        return second

    def second_of_matrices(self, matrices):
        return np.diagonal(matrices, axis1=1, axis2=2).copy()

    def m_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        return sum_xx / denominator[:, None] - m * m + delta * delta + reg_covar

    def anchored_variances(self, second, n, n_features):
        return second / np.maximum(n, 1e-300)[:, None]

    def prior_shape(self, n_features):
        return (n_features,)

    def prior_scale(self, scale, n_features):
        return np.full(n_features, float(scale))

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        return (counts[:, None] * scatter + scale) / (counts + dof + 2.0)[:, None]

    def mean_prior_scale(self, weight, offsets):
        return weight * offsets * offsets

    def floor_values(self, scatter, counts):
        return scatter, counts

    def n_free(self, n_components, n_features):
        return n_components * n_features

    def basis(self, n_features):
        d = n_features
        basis = np.zeros((d, d, d))
        basis[np.arange(d), np.arange(d), np.arange(d)] = 1.0
        return basis

    def free_labels(self, name, n_components, n_features):
        return [f"{name}[{j},{i}]" for j in range(n_components) for i in range(n_features)]

    def _information_diagonal(self, n, sum_x, sum_xx, m):
        return sum_xx - 2.0 * m * sum_x + n[:, None] * m * m


class Spherical(_VarianceStructure):
    """One variance per component, ``Σ_k = σ_k² I``: ``(k,)``."""

    name = "spherical"

    def shape(self, n_components, n_features):
        return (n_components,)

    def from_matrix(self, matrix, n_components):
        return np.full(n_components, np.diag(matrix).mean())

    def n_features_of(self, covariances):
        return None

    def log_det_precision_cholesky(self, prec_chol, n_features):
        return n_features * np.log(prec_chol)

    def density_factors(self, prec_chol, n_components, n_features):
        return np.ascontiguousarray(np.repeat(prec_chol[:, None], n_features, axis=1))

    def _variances(self, covariances, n_features):
        return np.repeat(covariances[:, None], n_features, axis=1)

    def diagonal_variances(self, covariances, n_components, n_features):
        return np.broadcast_to(covariances[:, None], (n_components, n_features))

    def accumulate_second(self, sum_xx, block, resp):
        sum_xx += resp.T @ np.einsum("ij,ij->i", block, block)

    def reduce_diagonal_second(self, second):
        return second.sum(axis=1)

    def second_of_matrices(self, matrices):
        return np.trace(matrices, axis1=1, axis2=2)

    def m_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        d = m.shape[1]
        return (sum_xx / denominator - np.einsum("ki,ki->k", m, m) + np.einsum("ki,ki->k", delta, delta)) / d \
            + reg_covar

    def anchored_variances(self, second, n, n_features):
        return np.broadcast_to((second / np.maximum(n, 1e-300) / n_features)[:, None], (n.size, n_features))

    def prior_shape(self, n_features):
        return ()

    def prior_scale(self, scale, n_features):
        return scale

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        return (counts * n_features * scatter + scale) / (counts * n_features + dof + 2.0)

    def mean_prior_scale(self, weight, offsets):
        return np.einsum("ki,ki,ki->k", weight, offsets, offsets)

    def floor_values(self, scatter, counts):
        return scatter[:, None], counts

    def floor_weights(self, counts, n_features):
        return counts * n_features

    def n_free(self, n_components, n_features):
        return n_components

    def basis(self, n_features):
        return np.eye(n_features)[None]

    def free_labels(self, name, n_components, n_features):
        return [f"{name}[{j}]" for j in range(n_components)]

    def _information_diagonal(self, n, sum_x, sum_xx, m):
        d = m.shape[1]
        trace = sum_xx - 2.0 * np.einsum("ki,ki->k", m, sum_x) + n * np.einsum("ki,ki->k", m, m)
        return np.repeat((trace / d)[:, None], d, axis=1)


FULL, TIED, DIAG, SPHERICAL = Full(), Tied(), Diag(), Spherical()

#: The structures by their ``covariance_type`` spelling: scikit-learn's four, mclust's names for
#: them (the same objects), and mclust's other models, one line per module that adds some.
STRUCTURES: dict[str, CovarianceStructure] = {s.name: s for s in (FULL, TIED, DIAG, SPHERICAL)}

#: mclust's names for scikit-learn's four.
SKLEARN_ALIASES = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}
STRUCTURES.update({alias: STRUCTURES[name] for alias, name in SKLEARN_ALIASES.items()})

# Modules of mclust's models subclass the structures above and add theirs to STRUCTURES when imported.
from . import covariance_models  # noqa: E402,F401  (EII, EEI, EVI, EEV, EVV, E, V)

CovarianceType = Union[str, CovarianceStructure]


def covariance_structure(covariance_type: CovarianceType) -> CovarianceStructure:
    """The structure named ``covariance_type`` (a structure is returned as it is).

    Raises
    ------
    ValueError
        Naming ``covariance_type`` when it is neither a known name nor a structure.
    """
    if isinstance(covariance_type, CovarianceStructure):
        return covariance_type
    if isinstance(covariance_type, str) and covariance_type in STRUCTURES:
        return STRUCTURES[covariance_type]
    raise ValueError(f"covariance_type: expected one of {tuple(STRUCTURES)}, got {covariance_type!r}")


# mclust's models whose M-step iterates subclass Full and add themselves to STRUCTURES when imported.
from . import covariance_iterative  # noqa: E402,F401  (VEI, VEE, VEV, EVE, VVE)
