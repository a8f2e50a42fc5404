"""How a Gaussian covariance M-step is regularised: a conjugate prior, or a floor.

The exact M-step of a covariance maximizes ``Q_k(Σ) = −(n_k/2)(log|Σ| + tr(Σ⁻¹ C_k))`` at the
weighted scatter ``C_k``, which is singular when a component collapses onto a point or subspace.

* **Conjugate prior** (:class:`CovariancePrior`): inverse-Wishart ``IW(Ψ, ν)`` on a full (or
  the tied) covariance, ``log p(Σ) = −((ν+d+1)/2) log|Σ| − ½ tr(Ψ Σ⁻¹)``, and inverse-gamma
  ``IG(ν/2, ψ/2)`` on each variance (diag) or on ``σ²`` (spherical), ``log p(σ²) = −(ν/2+1) log σ²
  − ψ/(2σ²)``. The M-step is then the posterior mode, ``Σ_k = (n_k C_k + Ψ)/(n_k + ν + d + 1)``
  (diag: ``(n_k C_kjj + ψ_j)/(n_k + ν + 2)``, spherical: ``(n_k d c_k + ψ)/(n_k d + ν + 2)`` with
  ``c_k = tr C_k/d``; tied pools the scatter over ``N = Σ n_k``): an exact MAP step, so EM never
  decreases the log-posterior, and every covariance stays positive definite.
* **Floor** ``reg_covar`` (scikit-learn's): ``Σ_k = C_k + εI``. Not the maximizer of any fixed
  objective; it gives up ``Q_k(C_k) − Q_k(C_k + εI) = (n_k/2) Σ_i [log(1 + ε/λ_i) − ε/(λ_i + ε)]``
  over the eigenvalues ``λ_i`` of ``C_k`` (:func:`floor_shortfall`), the most the log-likelihood
  can fall in one step because of it: large when ``C_k`` is nearly singular (a collapse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CovariancePrior:
    """Conjugate prior on the covariances of a Gaussian family (see the module notes).

    Parameters
    ----------
    scale : float or array
        ``Ψ``: a positive number (``Ψ = scale·I``, or ``ψ = scale`` per variance), or an array
        shaped like one covariance of the structure: ``(d, d)`` positive definite for full and
        tied, ``(d,)`` positive for diag, a number for spherical.
    dof : float, optional
        ``ν``; default ``d + 2`` (mclust's ``defaultPrior``). Must exceed ``d − 1`` for full and
        tied (a proper inverse-Wishart) and 0 for diag and spherical.
    """

    scale: float | np.ndarray
    dof: float | None = None

    def resolved(self, covariance_type: str, n_features: int, name: str = "covariance_prior") -> tuple[np.ndarray, float]:
        """``(Ψ, ν)`` for this structure and ``d``; ``ValueError`` naming ``name`` (or
        ``degrees_of_freedom_prior``) when out of range."""
        d = n_features
        try:
            scale = np.array(self.scale, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a positive number or an array, got {self.scale!r}") from None
        if not np.all(np.isfinite(scale)):
            raise ValueError(f"{name}: must be finite, got {self.scale!r}")
        expected = {"full": (d, d), "tied": (d, d), "diag": (d,), "spherical": ()}[covariance_type]
        if scale.ndim == 0 and covariance_type in ("full", "tied"):
            scale = scale * np.eye(d)
        elif scale.ndim == 0 and covariance_type == "diag":
            scale = np.full(d, float(scale))
        if scale.shape != expected:
            raise ValueError(f"{name}: expected a number or shape {expected} for covariance_type="
                             f"{covariance_type!r}, got shape {scale.shape}")
        if covariance_type in ("full", "tied"):
            if not np.allclose(scale, scale.T) or np.any(np.linalg.eigvalsh(0.5 * (scale + scale.T)) <= 0):
                raise ValueError(f"{name}: the scale matrix must be symmetric positive definite")
        elif np.any(scale <= 0):
            raise ValueError(f"{name}: must be positive, got {self.scale!r}")
        dof = float(d + 2) if self.dof is None else self.dof
        lowest = d - 1.0 if covariance_type in ("full", "tied") else 0.0
        if not (isinstance(dof, (int, float, np.integer, np.floating)) and not isinstance(dof, bool)
                and np.isfinite(dof) and dof > lowest):
            raise ValueError(f"degrees_of_freedom_prior: must be a number > {lowest:g} for covariance_type="
                             f"{covariance_type!r} (d = {d}), got {self.dof!r}")
        return scale, float(dof)

    def posterior_mode(self, scatter: np.ndarray, counts: np.ndarray, covariance_type: str,
                       n_features: int) -> np.ndarray:
        """Covariances maximizing ``Σ_k Q_k(Σ_k) + log p(Σ)`` from the exact M-step's ``C``
        (``scatter``, shaped as the covariances; spherical: ``c_k = tr C_k/d``) and the counts
        ``n_k`` of shape ``(k,)``."""
        scale, dof = self.resolved(covariance_type, n_features)
        counts = np.asarray(counts, dtype=float)
        d = n_features
        if covariance_type == "full":
            return (counts[:, None, None] * scatter + scale) / (counts + dof + d + 1.0)[:, None, None]
        if covariance_type == "tied":
            total = counts.sum()
            return (total * scatter + scale) / (total + dof + d + 1.0)
        if covariance_type == "diag":
            return (counts[:, None] * scatter + scale) / (counts + dof + 2.0)[:, None]
        return (counts * d * scatter + scale) / (counts * d + dof + 2.0)

    def log_density(self, covariances: np.ndarray, covariance_type: str, n_features: int) -> float:
        """``log p(Σ)`` summed over the components, up to a constant."""
        scale, dof = self.resolved(covariance_type, n_features)
        covariances = np.asarray(covariances, dtype=float)
        if covariance_type in ("full", "tied"):
            matrices = covariances.reshape((-1, n_features, n_features))
            factors = np.linalg.cholesky(matrices)
            log_det = 2.0 * np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
            # tr(Ψ Σ⁻¹) = ‖L⁻¹ Ψ^{1/2}‖²_F with Σ = L Lᵀ, Ψ = R Rᵀ.
            root = np.linalg.cholesky(scale)
            solved = np.linalg.solve(factors, np.broadcast_to(root, matrices.shape))
            trace = np.einsum("kij,kij->k", solved, solved)
            return float(np.sum(-0.5 * (dof + n_features + 1.0) * log_det - 0.5 * trace))
        return float(np.sum(-(0.5 * dof + 1.0) * np.log(covariances) - 0.5 * scale / covariances))


def floor_shortfall(scatter: np.ndarray, counts: np.ndarray, reg_covar: float,
                    covariance_type: str) -> tuple[np.ndarray, np.ndarray]:
    """What the floor ``reg_covar`` gives up in ``Q``, per component, and the smallest variance.

    Parameters
    ----------
    scatter : array
        The exact M-step's covariances ``C`` (shaped by ``covariance_type``).
    counts : array of shape (k,)
        ``n_k`` (components with ``n_k = 0`` give up nothing).
    reg_covar, covariance_type
        The floor ``ε`` and the structure (spherical ``C`` are ``(k,)``, standing for ``d`` equal
        variances: pass ``counts`` multiplied by ``d``).

    Returns
    -------
    shortfall : array
        ``(n_k/2) Σ_i [log(1 + ε/λ_i) − ε/(λ_i + ε)]`` over the eigenvalues (diag: the variances)
        of ``C_k``; inf for a singular ``C_k`` when ``ε > 0``. Shape ``(k,)``, or ``(1,)`` for
        tied (pooled over ``N = Σ n_k``).
    smallest : array
        The smallest eigenvalue (variance) of each ``C_k`` before the floor, same shape.
    """
    counts = np.asarray(counts, dtype=float)
    scatter = np.asarray(scatter, dtype=float)
    if covariance_type == "full":
        values = np.linalg.eigvalsh(scatter)
    elif covariance_type == "tied":
        values, counts = np.linalg.eigvalsh(scatter)[None, :], np.array([counts.sum()])
    elif covariance_type == "diag":
        values = scatter
    else:
        values = scatter[:, None]
    positive = values > 0
    ratio = reg_covar / np.where(positive, values, 1.0)
    terms = np.where(positive, np.log1p(ratio) - ratio / (1.0 + ratio), np.inf if reg_covar > 0 else 0.0)
    totals = terms.sum(axis=1)
    shortfall = np.zeros_like(totals)
    live = counts > 0
    shortfall[live] = 0.5 * counts[live] * totals[live]
    return shortfall, values.min(axis=1)
