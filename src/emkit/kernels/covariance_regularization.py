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

from .covariance_structures import CovarianceType, covariance_structure


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

    def resolved(self, covariance_type: CovarianceType, n_features: int,
                 name: str = "covariance_prior") -> tuple[np.ndarray, float]:
        """``(Ψ, ν)`` for this structure and ``d``; ``ValueError`` naming ``name`` (or
        ``degrees_of_freedom_prior``) when out of range."""
        structure = covariance_structure(covariance_type)
        d = n_features
        try:
            scale = np.array(self.scale, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a positive number or an array, got {self.scale!r}") from None
        if not np.all(np.isfinite(scale)):
            raise ValueError(f"{name}: must be finite, got {self.scale!r}")
        expected = structure.prior_shape(d)
        if scale.ndim == 0:
            scale = structure.prior_scale(scale, d)
        if scale.shape != expected:
            raise ValueError(f"{name}: expected a number or shape {expected} for covariance_type="
                             f"{structure.name!r}, got shape {scale.shape}")
        structure.check_prior_scale(scale, self.scale, name)
        dof = float(d + 2) if self.dof is None else self.dof
        lowest = structure.prior_lowest_dof(d)
        if not (isinstance(dof, (int, float, np.integer, np.floating)) and not isinstance(dof, bool)
                and np.isfinite(dof) and dof > lowest):
            raise ValueError(f"degrees_of_freedom_prior: must be a number > {lowest:g} for covariance_type="
                             f"{structure.name!r} (d = {d}), got {self.dof!r}")
        return scale, float(dof)

    def posterior_mode(self, scatter: np.ndarray, counts: np.ndarray, covariance_type: CovarianceType,
                       n_features: int) -> np.ndarray:
        """Covariances maximizing ``Σ_k Q_k(Σ_k) + log p(Σ)`` from the exact M-step's ``C``
        (``scatter``, shaped as the covariances; spherical: ``c_k = tr C_k/d``) and the counts
        ``n_k`` of shape ``(k,)``."""
        structure = covariance_structure(covariance_type)
        scale, dof = self.resolved(structure, n_features)
        return structure.posterior_mode(scatter, np.asarray(counts, dtype=float), scale, dof, n_features)

    def log_density(self, covariances: np.ndarray, covariance_type: CovarianceType, n_features: int) -> float:
        """``log p(Σ)`` summed over the components, up to a constant."""
        structure = covariance_structure(covariance_type)
        scale, dof = self.resolved(structure, n_features)
        return structure.prior_log_density(covariances, scale, dof, n_features)


def floor_shortfall(scatter: np.ndarray, counts: np.ndarray, reg_covar: float,
                    covariance_type: CovarianceType) -> tuple[np.ndarray, np.ndarray]:
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
    values, counts = covariance_structure(covariance_type).floor_values(scatter, counts)
    positive = values > 0
    ratio = reg_covar / np.where(positive, values, 1.0)
    terms = np.where(positive, np.log1p(ratio) - ratio / (1.0 + ratio), np.inf if reg_covar > 0 else 0.0)
    totals = terms.sum(axis=1)
    shortfall = np.zeros_like(totals)
    live = counts > 0
    shortfall[live] = 0.5 * counts[live] * totals[live]
    return shortfall, values.min(axis=1)
