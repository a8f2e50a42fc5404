"""Supplemented EM (Meng & Rubin 1991): the observed-data covariance from the EM map's Jacobian.

At the MLE the EM map ``M`` has Jacobian ``DM = I_m I_c⁻¹`` (row ``i`` is ``∂M/∂θ_i``), the
fraction of missing information, and ``V = I_obs⁻¹ = I_c⁻¹ + I_c⁻¹ DM (I − DM)⁻¹``.

``DM`` is estimated element by element from difference quotients of ``M`` around ``θ̂``.
Meng & Rubin take the perturbation sizes from the EM sequence and use forward quotients
``(M(θ̂ + h e_i) − θ̂)/h``; here the sizes shrink geometrically from one complete-data standard
error and the quotients are central, ``r_ij(h) = (M_j(θ̂ + h e_i) − M_j(θ̂ − h e_i)) / 2h``,
whose error is ``O(h²)`` and which do not divide the fixed-point residual of ``θ̂`` by ``h``.
The stabilisation rule is theirs: element ``(i, j)`` is the first ``r_ij`` that differs from the
previous one by at most ``stab_tol`` (in units of the complete-data standard errors).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .free import FreeProblem
from .information import covariance_from_information

#: Geometric sequence of perturbation sizes, in complete-data standard errors.
FIRST_STEP = 1.0
STEP_RATIO = np.sqrt(10.0)
N_STEPS = 18
#: Relative asymmetry of the SEM covariance increment above which the DM matrix is suspect.
ASYMMETRY_WARNING = 1e-3


@dataclass
class SemResult:
    """The DM matrix and what SEM derived from it."""

    dm: np.ndarray
    cov: np.ndarray
    asymmetry: float
    n_evaluations: int


def dm_matrix(problem: FreeProblem, scale: np.ndarray, stab_tol: float = 1e-8) -> tuple[np.ndarray, int]:
    """The Jacobian ``DM[i, j] = ∂M_j/∂θ_i`` at the estimate by stabilised central quotients.

    Parameters
    ----------
    problem : FreeProblem
    scale : ndarray
        A standard-error scale of each free parameter (the first perturbation size).
    stab_tol : float
        Stabilisation tolerance on successive quotients, in units of ``scale_j / scale_i``.

    Returns
    -------
    dm, n_evaluations
        ``n_evaluations`` counts EM-map evaluations.
    """
    theta = problem.estimate
    d = theta.size
    dm = np.zeros((d, d))
    evaluations = 0
    unsettled: list[str] = []
    for i in range(d):
        settled = np.zeros(d, dtype=bool)
        previous = None
        best_change = np.full(d, np.inf)
        for t in range(N_STEPS):
            h = FIRST_STEP * scale[i] / STEP_RATIO ** t
            offset = np.zeros(d)
            offset[i] = h
            if not (problem.feasible(theta + offset) and problem.feasible(theta - offset)):
                continue
            row = (problem.em_map(theta + offset) - problem.em_map(theta - offset)) / (2.0 * h)
            evaluations += 2
            if previous is not None:
                change = np.abs(row - previous) * scale[i] / scale
                take = ~settled & (change <= stab_tol)
                dm[i, take] = row[take]
                settled |= take
                # Until an element settles, keep the quotient that changed least.
                improve = ~settled & (change < best_change)
                dm[i, improve], best_change[improve] = row[improve], change[improve]
                if settled.all():
                    break
            previous = row
        unsettled += [f"{problem.labels[i]}→{problem.labels[j]}" for j in np.flatnonzero(~settled)]
    if unsettled:
        warnings.warn(f"method='sem': DM elements {unsettled} did not stabilise to stab_tol={stab_tol}; the "
                      "most stable quotient is used (loosen stab_tol, or check the fit converged tightly)",
                      UserWarning, stacklevel=3)
    return dm, evaluations


def sem_covariance(problem: FreeProblem, stab_tol: float = 1e-8) -> SemResult:
    """SEM covariance ``V = I_c⁻¹ + I_c⁻¹ DM (I − DM)⁻¹`` with ``DM`` from :func:`dm_matrix`.

    ``ΔV = I_c⁻¹ DM (I − DM)⁻¹`` is symmetric in exact arithmetic; its relative asymmetry is
    reported (and warned about above ``ASYMMETRY_WARNING``) as Meng & Rubin's check of ``DM``.
    """
    complete = problem.complete_information()
    complete_cov = covariance_from_information(complete, problem.labels, "method='sem' (complete-data information)")
    dm, evaluations = dm_matrix(problem, np.sqrt(np.diag(complete_cov)), stab_tol)
    identity = np.eye(dm.shape[0])
    if np.max(np.abs(np.linalg.eigvals(dm)), initial=0.0) >= 1.0:
        raise ValueError("method='sem': the EM map's Jacobian has an eigenvalue ≥ 1 at the estimate, so it is not "
                         "an isolated maximum (the observed information is singular)")
    # ΔV = I_c⁻¹ DM (I − DM)⁻¹, i.e. ΔVᵀ solves (I − DM)ᵀ X = (I_c⁻¹ DM)ᵀ.
    increment = linalg.solve((identity - dm).T, (complete_cov @ dm).T).T
    asymmetry = float(np.max(np.abs(increment - increment.T), initial=0.0)
                      / max(np.max(np.abs(increment), initial=0.0), np.finfo(float).tiny))
    if asymmetry > ASYMMETRY_WARNING:
        warnings.warn(f"method='sem': the covariance increment is asymmetric ({asymmetry:.2g} relative); DM is "
                      "inaccurate (refit with a smaller tol, or use method='louis' or 'hessian')",
                      UserWarning, stacklevel=3)
    cov = complete_cov + 0.5 * (increment + increment.T)
    return SemResult(dm=dm, cov=cov, asymmetry=asymmetry, n_evaluations=evaluations)
