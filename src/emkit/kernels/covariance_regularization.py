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
* **Mean prior and improper forms** (hmmlearn's, :mod:`emkit.estimators._hmmlearn_priors`): the
  same :class:`CovariancePrior` may add ``μ_k | Σ_k ~ N(m_k, Σ_k/κ_k)`` without its normaliser,
  ``−½ κ_k (μ_k − m_k)ᵀ Σ_k⁻¹ (μ_k − m_k)`` (diag and spherical: ``−½ Σ_j κ_kj (μ_kj − m_kj)²/σ²``),
  per-component scales ``Ψ_k``, and (``proper=False``) a positive semi-definite ``Ψ`` with any
  exponent ``c = ν + d + 1`` (diag and spherical: ``c = ν + 2``) of
  ``log p = −(c/2) log|Σ| − ½ tr(Ψ Σ⁻¹)``. The M-step is then the joint mode, ``μ_k = (κ_k m_k +
  Σ_i γ_ik x_i)/(κ_k + n_k)`` and the covariance mode above with ``Ψ_k + κ_k (μ_k − m_k)(μ_k −
  m_k)ᵀ`` in place of ``Ψ_k`` (the mean prior is scaled by ``Σ``, so the two updates decouple);
  :meth:`CovariancePrior.log_density` is the log density this step maximises.
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
    """Conjugate prior on the covariances (and optionally the means) of a Gaussian family (see
    the module notes).

    Parameters
    ----------
    scale : float or array
        ``Ψ``: a positive number (``Ψ = scale·I``, or ``ψ = scale`` per variance), or an array
        shaped like one covariance of the structure: ``(d, d)`` positive definite for full and
        tied, ``(d,)`` positive for diag, a number for spherical; or one such per component
        (``(k, d, d)``, ``(k, d)``, ``(k,)``; not for tied).
    dof : float, optional
        ``ν``; default ``d + 2`` (mclust's ``defaultPrior``). Must exceed ``d − 1`` for full and
        tied (a proper inverse-Wishart) and 0 for diag and spherical. The exponent of ``|Σ|`` is
        ``c/2`` with ``c = ν + d + 1`` (full, tied) or ``c = ν + 2`` (diag, spherical).
    mean, mean_weight : float or array, optional
        ``m`` and ``κ ≥ 0`` of the prior ``−½ κ_k (μ_k − m_k)ᵀ Σ_k⁻¹ (μ_k − m_k)`` on the means,
        each broadcast to ``(k, d)`` (``κ`` per feature for diag and spherical; one per
        component for full and tied). Default: no prior on the means (``κ = 0``).
    proper : bool, default=True
        False allows an improper prior, hmmlearn's: ``Ψ`` positive semi-definite (non-negative
        variances) and any finite ``ν`` (the M-step needs ``n_k + c > 0``, spherical
        ``n_k d + c > 0``, and a positive definite numerator).
    """

    scale: float | np.ndarray
    dof: float | None = None
    mean: float | np.ndarray = 0.0
    mean_weight: float | np.ndarray = 0.0
    proper: bool = True

    def resolved(self, covariance_type: CovarianceType, n_features: int,
                 name: str = "covariance_prior", n_components: int | None = None) -> tuple[np.ndarray, float]:
        """``(Ψ, ν)`` for this structure and ``d`` (``Ψ`` of one covariance, or one per
        component); ``ValueError`` naming ``name`` (or ``degrees_of_freedom_prior``) when out of
        range, or when ``n_components`` is given and per-component scales are not that many."""
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
        per_component = not structure.shared and scale.ndim == len(expected) + 1 and scale.shape[1:] == expected
        if scale.shape != expected and not per_component:
            raise ValueError(f"{name}: expected a number or shape {expected} for covariance_type="
                             f"{structure.name!r}, got shape {scale.shape}")
        if per_component and n_components is not None and scale.shape[0] != n_components:
            raise ValueError(f"{name}: expected {n_components} per-component scales, got {scale.shape[0]}")
        structure.check_prior_scale(scale, self.scale, name, self.proper)
        dof = float(d + 2) if self.dof is None else self.dof
        lowest = structure.prior_lowest_dof(d) if self.proper else -np.inf
        if not (isinstance(dof, (int, float, np.integer, np.floating)) and not isinstance(dof, bool)
                and np.isfinite(dof) and dof > lowest):
            raise ValueError(f"degrees_of_freedom_prior: must be a {'number > ' if self.proper else 'finite number'}"
                             f"{f'{lowest:g}' if self.proper else ''} for covariance_type={structure.name!r} (d = {d}), "
                             f"got {self.dof!r}")
        return scale, float(dof)

    def mean_prior(self, covariance_type: CovarianceType, n_components: int,
                   n_features: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(m, κ)`` broadcast to ``(k, d)``, None without a prior on the means; ValueError
        naming ``covariance_prior.mean`` or ``.mean_weight`` when out of range."""
        shape = (n_components, n_features)
        arrays = []
        for value, what in ((self.mean, "covariance_prior.mean"), (self.mean_weight, "covariance_prior.mean_weight")):
            try:
                arrays.append(np.array(np.broadcast_to(np.asarray(value, dtype=float), shape)))
            except (TypeError, ValueError):
                raise ValueError(f"{what}: expected a number or an array broadcasting to {shape}, "
                                 f"got {value!r}") from None
        mean, weight = arrays
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(weight)) and np.all(weight >= 0)):
            raise ValueError("covariance_prior.mean, covariance_prior.mean_weight: must be finite, and mean_weight "
                             "non-negative")
        if not np.any(weight > 0):
            return None
        if not covariance_structure(covariance_type).diagonal and np.any(weight != weight[:, :1]):
            raise ValueError("covariance_prior.mean_weight: one weight per component for full and tied "
                             "covariances (the prior is N(m, Σ/κ))")
        return mean, weight

    def mean_mode(self, n: np.ndarray, sum_x: np.ndarray, shift: np.ndarray,
                  covariance_type: CovarianceType) -> np.ndarray | None:
        """The means' mode ``c + (κ (m − c) + sum_x)/(κ + n)`` from the counts ``n`` (k,) and
        the first moments ``sum_x`` (k, d) about the shift ``c`` (an empty component without a
        prior on its mean: ``c``); None without a prior on the means."""
        prior = self.mean_prior(covariance_type, n.size, sum_x.shape[1])
        if prior is None:
            return None
        mean, weight = prior
        total = weight + n[:, None]
        return shift + (weight * (mean - shift) + sum_x) / np.where(total > 0, total, 1.0)

    def _scale_with_means(self, structure, scale: np.ndarray, means: np.ndarray | None, n_components: int,
                          n_features: int) -> np.ndarray:
        """``Ψ_k`` plus the mean prior's ``κ_k (μ_k − m_k)(μ_k − m_k)ᵀ`` (shaped by the structure)."""
        prior = None if means is None else self.mean_prior(structure, n_components, n_features)
        if prior is None:
            return scale
        mean, weight = prior
        return scale + structure.mean_prior_scale(weight, np.asarray(means, dtype=float) - mean)

    def posterior_mode(self, scatter: np.ndarray, counts: np.ndarray, covariance_type: CovarianceType,
                       n_features: int, means: np.ndarray | None = None,
                       previous: np.ndarray | None = None) -> np.ndarray:
        """Covariances maximizing ``Σ_k Q_k(Σ_k) + log p(μ, Σ)`` from the exact M-step's ``C``
        about ``means`` (``scatter``, shaped as the covariances; spherical: ``c_k = tr C_k/d``),
        the counts ``n_k`` of shape ``(k,)`` and the means (needed with a prior on them);
        ``previous``, the current covariances, starts an iterative M-step (VEI, VEE, VEV, EVE, VVE)."""
        structure = covariance_structure(covariance_type)
        counts = np.asarray(counts, dtype=float)
        scale, dof = self.resolved(structure, n_features, n_components=counts.size)
        scale = self._scale_with_means(structure, scale, means, counts.size, n_features)
        if self.proper:
            return structure.warm_posterior_mode(scatter, counts, scale, dof, n_features, previous)
        with np.errstate(divide="ignore", invalid="ignore"):   # an empty component's n_k + c may be 0: callers keep it
            return structure.warm_posterior_mode(scatter, counts, scale, dof, n_features, previous)

    def log_density(self, covariances: np.ndarray, covariance_type: CovarianceType, n_features: int,
                    means: np.ndarray | None = None) -> float:
        """``log p(Σ)`` (with ``means``, ``log p(μ, Σ)``) summed over the components, up to a
        constant."""
        structure = covariance_structure(covariance_type)
        n_components = None if means is None else int(np.shape(means)[0])
        scale, dof = self.resolved(structure, n_features, n_components=n_components)
        if means is not None:
            scale = self._scale_with_means(structure, scale, means, n_components, n_features)
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
