"""The observed information as the numerical Hessian of the observed-data log-likelihood."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .free import FreeProblem

#: Pilot step (times ``1 + |θ_i|``) that measures the curvature scale of each parameter.
PILOT_STEP = 1e-4
#: Final step as a fraction of each parameter's curvature scale ``1/√(−H_ii)``.
STEP_FRACTION = 0.02
#: A pilot curvature below ``ROUNDOFF_FACTOR·ε·max(1, |ℓ|)/h_i²`` is round-off, i.e. zero: the
#: Richardson-extrapolated second difference multiplies the error ``ε|ℓ|`` of each log-likelihood
#: value by about 23/h², so this keeps a safety factor of about three.
ROUNDOFF_FACTOR = 64.0


def central_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Hessian by central differences, Richardson-extrapolated over steps ``h`` and ``h/2``.

    ``H_ii ≈ [f(x+h_i) − 2f(x) + f(x−h_i)] / h_i²``, ``H_ij ≈ [f(++) − f(+−) − f(−+) + f(−−)] /
    (4 h_i h_j)``, each with error ``O(h²)``; ``(4 H(h/2) − H(h)) / 3`` has error ``O(h⁴)``.
    """
    def at(h: np.ndarray) -> np.ndarray:
        d = x.size
        hessian = np.empty((d, d))
        centre = f(x)
        shift = np.diag(h)
        for i in range(d):
            hessian[i, i] = (f(x + shift[i]) - 2.0 * centre + f(x - shift[i])) / h[i] ** 2
            for j in range(i):
                corners = (f(x + shift[i] + shift[j]) - f(x + shift[i] - shift[j])
                           - f(x - shift[i] + shift[j]) + f(x - shift[i] - shift[j]))
                hessian[i, j] = hessian[j, i] = corners / (4.0 * h[i] * h[j])
        return hessian

    return (4.0 * at(steps / 2.0) - at(steps)) / 3.0


def hessian_information(problem: FreeProblem) -> np.ndarray:
    """``I_obs = −∂²ℓ/∂θ∂θᵀ`` at the estimate by :func:`central_hessian`.

    A pilot pass with steps ``PILOT_STEP·(1 + |θ_i|)`` gives each parameter's curvature scale
    ``σ_i = 1/√(−H_ii)``; the final steps are ``STEP_FRACTION·σ_i``, so the differences are
    taken where the log-likelihood is nearly quadratic whatever the units. Steps are halved
    until every point of the stencil lies in the parameter space.

    Raises
    ------
    ValueError
        When a pilot curvature is zero within round-off (:data:`ROUNDOFF_FACTOR`: the parameter
        is not identified, whatever sign the round-off gives it) or clearly not negative (the
        estimate is not a strict maximum).
    """
    theta = problem.estimate
    pilot_steps, pilot = _feasible_hessian(problem, PILOT_STEP * (1.0 + np.abs(theta)))
    diagonal = -np.diag(pilot)
    noise = ROUNDOFF_FACTOR * np.finfo(float).eps * max(1.0, abs(problem.loglik(theta))) / pilot_steps ** 2
    flat = [label for label, value, level in zip(problem.labels, diagonal, noise) if abs(value) <= level]
    if flat:
        raise ValueError(f"method='hessian': the data carry almost no information along {flat} (the log-likelihood "
                         f"is not curved downwards along {flat} beyond round-off): the parameters are not identified "
                         "there (e.g. two mixture components coincide: fit fewer components)")
    if np.any(diagonal <= 0):
        bad = [label for label, value in zip(problem.labels, diagonal) if value <= 0]
        raise ValueError(f"method='hessian': the log-likelihood is not curved downwards along {bad}; "
                         "the estimate is not a strict maximum (check that the fit converged)")
    return -_feasible_hessian(problem, STEP_FRACTION / np.sqrt(diagonal))[1]


def _feasible_hessian(problem: FreeProblem, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The steps (halved until the stencil is feasible) and :func:`central_hessian` with them."""
    theta = problem.estimate
    for _ in range(40):
        if all(problem.feasible(point) for point in _stencil(theta, steps)):
            return steps, central_hessian(problem.loglik, theta, steps)
        steps = steps / 2.0
    raise ValueError("method='hessian': no finite-difference stencil around the estimate stays in the parameter space")


def _stencil(theta: np.ndarray, steps: np.ndarray) -> list[np.ndarray]:
    """The outermost points :func:`central_hessian` evaluates (the ``h`` corners and axes)."""
    shift = np.diag(steps)
    points = [theta + s * shift[i] for i in range(theta.size) for s in (1.0, -1.0)]
    points += [theta + a * shift[i] + b * shift[j] for i in range(theta.size) for j in range(i)
               for a in (1.0, -1.0) for b in (1.0, -1.0)]
    return points
