"""Multivariate Student-t numerics shared by the t mixture model and the t family.

``log t_ν(x | μ, Σ) = log Γ((ν+d)/2) − log Γ(ν/2) − (d/2) log(νπ) − ½ log|Σ| − ((ν+d)/2) log(1 + δ/ν)``,
``δ = (x−μ)ᵀΣ⁻¹(x−μ)``; the t is the Gaussian scale mixture ``x | u ~ N(μ, Σ/u)``,
``u ~ Gamma(ν/2, rate ν/2)``, so ``u | x ~ Gamma((ν+d)/2, rate (ν+δ)/2)``. With missing
coordinates every formula holds for the observed ones (``d → d_o``, ``δ`` and ``Σ`` restricted to
them), and given ``u`` and ``x_o`` the missing ones are ``N(x̂_m, C/u)`` with the Gaussian
conditional mean ``x̂_m`` and covariance ``C = Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om``.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import digamma, gammaln

from .covariance_structures import covariance_structure
from .gaussian import m_step_statistics

#: Degrees of freedom are kept in this interval (the upper end is practically Gaussian).
DOF_BOUNDS = (1e-2, 1e3)

#: Starting degrees of freedom of the default start.
DOF_START = 10.0


def log_t_density(log_delta: np.ndarray, log_det_precision: np.ndarray, dofs: np.ndarray,
                  n_features: int | np.ndarray) -> np.ndarray:
    """``log t_ν(x | μ, Σ)`` from the logs of the squared Mahalanobis distances ``log δ`` (n, k),
    ``log|Σ|^{-1/2}`` per component (or per row and component) and ``ν`` (k,): ``log(1 + δ/ν)`` is
    taken as ``logaddexp(0, log δ − log ν)``, finite for rows far beyond the float range.
    ``n_features`` may be per row, shape (n, 1) (the observed coordinates; 0 gives density 1)."""
    d = n_features
    constant = gammaln(0.5 * (dofs + d)) - gammaln(0.5 * dofs) - 0.5 * d * np.log(np.pi * dofs)
    return constant + log_det_precision - 0.5 * (dofs + d) * np.logaddexp(0.0, log_delta - np.log(dofs))


def latent_weight_moments(delta: np.ndarray, dofs: np.ndarray,
                          n_features: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``E[u | x]`` and ``E[log u | x]`` under ``u | x ~ Gamma((ν+d)/2, rate (ν+δ)/2)``."""
    shape = 0.5 * (dofs + n_features)
    rate = 0.5 * (dofs + delta)
    return shape / rate, digamma(shape) - np.log(rate)


def latent_weight_posterior(log_delta: np.ndarray, dofs: np.ndarray,
                            n_features: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shape ``α = (ν+d)/2`` and log rate ``log β = log((ν+δ)/2)`` of ``u | x ~ Gamma(α, rate β)``
    from ``log δ`` (finite for rows far beyond the float range), broadcast to ``log δ``'s shape."""
    shape = np.broadcast_to(0.5 * (dofs + n_features), np.shape(log_delta))
    return shape, np.logaddexp(np.log(dofs), log_delta) - np.log(2.0)


def dof_from_expected(mean_log_u_minus_u: np.ndarray) -> np.ndarray:
    """ECM's ν-step: the root of ``log(ν/2) − ψ(ν/2) + 1 + c = 0`` for each ``c = E(log u − u)``
    per observation (Q is concave in ν; the root is clipped to :data:`DOF_BOUNDS`)."""
    low, high = np.log(DOF_BOUNDS[0]), np.log(DOF_BOUNDS[1])

    def equation(log_dof: float, c: float) -> float:
        half = 0.5 * np.exp(log_dof)
        return np.log(half) - digamma(half) + 1.0 + c

    out = np.empty(np.shape(mean_log_u_minus_u))
    for k, c in enumerate(np.ravel(mean_log_u_minus_u)):
        if equation(high, c) >= 0:
            out.flat[k] = DOF_BOUNDS[1]
        elif equation(low, c) <= 0:
            out.flat[k] = DOF_BOUNDS[0]
        else:
            out.flat[k] = np.exp(brentq(equation, low, high, args=(c,), xtol=1e-14, rtol=1e-14))
    return out


#: ECME's ν-step first looks at this many values of ``log ν`` evenly spread over
#: :data:`DOF_BOUNDS` (ℓ(ν) can have more than one maximum), then refines the best.
DOF_GRID = 17


def maximize_dof(objective: Callable[[float], float], current: float) -> float:
    """ECME's ν-step: argmax of ``objective(ν)`` over :data:`DOF_BOUNDS`, or ``current`` when
    nothing better is found (so the step never descends); a gain within rounding (16 ulps of the
    objective) is not better: near the maximum ℓ(ν) is flat to rounding over a range of width
    ~√eps, and taking such gains would make ν jitter and the parameters never settle.

    ``objective`` is evaluated at :data:`DOF_GRID` values of ``log ν`` across the bounds (a
    bounded search alone can stop at a local maximum: ℓ(ν) of a mixture is not always
    unimodal), then a bounded Brent search in ``log ν`` refines the best between its neighbours."""
    grid = np.linspace(np.log(DOF_BOUNDS[0]), np.log(DOF_BOUNDS[1]), DOF_GRID)
    values = np.array([objective(float(np.exp(log_dof))) for log_dof in grid])
    best = int(np.argmax(np.where(np.isnan(values), -np.inf, values)))
    found = minimize_scalar(lambda log_dof: -objective(float(np.exp(log_dof))), method="bounded",
                            bounds=(grid[max(best - 1, 0)], grid[min(best + 1, DOF_GRID - 1)]),
                            options={"xatol": 1e-10})
    candidate = float(np.exp(found.x)) if -found.fun >= values[best] else float(np.exp(grid[best]))
    at_current = objective(current)
    return candidate if objective(candidate) > at_current + 16 * np.finfo(float).eps * abs(at_current) else current


def t_locations_scatters(stats: Mapping[str, np.ndarray], locations: np.ndarray, centre: np.ndarray,
                         covariance_type: str, reg_covar: float = 0.0, fixed_locations: np.ndarray | None = None,
                         previous: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ECM's CM-step for the locations and scatters given ν and the weights ``u``.

    ``μ_k = c + Σγu(x − c) / Σγu`` (or ``fixed_locations``), then the scatters maximising
    ``Σ_i γ_ik [−½ log|Σ_k| − ½ u_ik (x_i − μ_k)ᵀΣ_k⁻¹(x_i − μ_k)]`` under the structure's constraint:
    its Gaussian M-step (:meth:`~emkit.kernels.covariance_structures.CovarianceStructure.warm_m_step`,
    ``reg_covar`` included, started from ``previous``) of the scatter ``W_k = Σ γu (x − μ_k)(x − μ_k)ᵀ``
    with the counts ``n_k = Σ γ`` (not ``Σ γu``). The statistics are ``sum_u``, ``sum_ux``,
    ``sum_uxx`` about ``centre``, or about each location when the E-step summed them so
    (:func:`~emkit.kernels.gaussian.m_step_statistics`)."""
    structure = covariance_structure(covariance_type)
    n, sum_u = np.asarray(stats["n"], dtype=float), np.asarray(stats["sum_u"], dtype=float)
    weighted = {"n": sum_u, "sum_x": stats["sum_ux"], "sum_xx": stats["sum_uxx"],
                **{key: value for key, value in stats.items() if key.startswith("anchored_")}}
    weighted, shift = m_step_statistics(weighted, locations, centre, covariance_type)
    offsets = np.asarray(weighted["sum_x"], dtype=float) / _divisors(sum_u)[:, None]
    about = offsets if fixed_locations is None else np.asarray(fixed_locations, dtype=float) - shift
    apart = offsets - about   # W_k = Σγu xxᵀ − Σγu (m mᵀ − (m − a)(m − a)ᵀ) about a = μ_k − c, m = Σγu x / Σγu
    spread = np.einsum("k,ki,kj->kij", sum_u, offsets, offsets) - np.einsum("k,ki,kj->kij", sum_u, apart, apart)
    scatters = np.asarray(weighted["sum_xx"], dtype=float) - structure.second_of_matrices(spread)
    at_zero = np.zeros_like(offsets)
    covariances = structure.warm_m_step(n, scatters, at_zero, at_zero, _divisors(n), reg_covar, previous)
    return about + shift, covariances


def _divisors(weights: np.ndarray) -> np.ndarray:
    """``w_k + 10·eps·min(1, Σw)``: the Gaussian M-step's divisors (nonzero for empty components)."""
    return weights + 10.0 * np.finfo(float).eps * min(1.0, float(weights.sum()))
