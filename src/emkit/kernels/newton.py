"""Damped Newton ascent for concave objectives (the inner loop of data-taking M-steps).

From ``θ`` with value ``f``, gradient ``g`` and Hessian ``H`` (negative definite for a concave
objective), the Newton direction solves ``(−H) d = g`` (by Cholesky; a Levenberg shift
``−H + μI`` when ``−H`` is not positive definite). The step ``θ + 2^{−j} d`` is the first of
``j = 0, 1, …`` whose value is finite and not below ``f``, so the value never decreases: an inner
loop stopped after any number of steps is still a generalised EM step. The loop stops when the
Newton decrement ``λ² = gᵀ(−H)⁻¹g`` (twice the predicted gain) is at most ``tol·max(1, |f|)``,
after taking that last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

Derivatives = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]

#: Step halvings tried before a direction is given up (the value did not increase along it).
MAX_HALVINGS = 40


@dataclass(frozen=True)
class NewtonResult:
    """The outcome of :func:`maximize_concave`.

    Attributes
    ----------
    theta : ndarray
        The final iterate (same shape as the start).
    value : float
        The objective at ``theta`` (never below its value at the start).
    n_iter : int
        Newton steps taken.
    converged : bool
        Whether the Newton decrement fell below the tolerance (or no direction could increase
        the value any more, i.e. ``theta`` is a maximum to working precision).
    """

    theta: np.ndarray
    value: float
    n_iter: int
    converged: bool


def maximize_concave(derivatives: Derivatives, theta0: np.ndarray, *, tol: float = 1e-10,
                     max_iter: int = 100) -> NewtonResult:
    """Maximise a concave, twice differentiable function by damped Newton steps.

    Parameters
    ----------
    derivatives : callable
        ``derivatives(θ) -> (value, gradient, hessian)`` with ``θ`` flat of length ``p``,
        ``gradient`` of length ``p`` and ``hessian`` ``p × p``; the value may be ``-inf`` (or NaN)
        outside the domain, which halves the step.
    theta0 : array_like
        The start (any shape; it is flattened for ``derivatives`` and the result has its shape).
    tol : float
        Stop when the Newton decrement ``gᵀ(−H)⁻¹g ≤ tol·max(1, |f|)`` (after that step).
    max_iter : int
        Maximum number of Newton steps (0 evaluates the start only).

    Returns
    -------
    NewtonResult

    Raises
    ------
    ValueError
        When the value at ``theta0`` is not finite, or the options are out of range.
    """
    if not tol > 0:
        raise ValueError(f"tol: must be positive, got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter: must be an integer >= 0, got {max_iter!r}")
    start = np.asarray(theta0, dtype=float)
    theta = start.ravel().copy()
    value, gradient, hessian = _evaluate(derivatives, theta)
    if not np.isfinite(value):
        raise ValueError(f"theta0: the objective is {value} at the start; start inside its domain")
    for iteration in range(1, int(max_iter) + 1):
        direction, decrement = newton_direction(gradient, hessian)
        last = decrement <= tol * max(1.0, abs(value))
        # At the last step the predicted gain is below round-off: no halving would show more.
        step = _halve_until_ascent(derivatives, theta, value, direction, 1 if last else MAX_HALVINGS)
        if step is None:   # no increase along the direction: a maximum to working precision
            return NewtonResult(theta.reshape(start.shape), value, iteration - 1, True)
        theta, value, gradient, hessian = step
        if last:
            return NewtonResult(theta.reshape(start.shape), value, iteration, True)
    return NewtonResult(theta.reshape(start.shape), value, int(max_iter), False)


def newton_direction(gradient: np.ndarray, hessian: np.ndarray) -> tuple[np.ndarray, float]:
    """The ascent direction ``d = (−H + μI)⁻¹ g`` (``μ = 0`` when ``−H`` is positive definite,
    else the smallest of ``μ = 10^k · scale`` that makes it so) and the decrement ``gᵀd``."""
    negative = -np.asarray(hessian, dtype=float)
    scale = max(float(np.max(np.abs(np.diag(negative)), initial=0.0)), 1e-300)
    shift = 0.0
    for exponent in range(-12, 20):
        try:
            factor = cho_factor(negative + shift * np.eye(len(gradient)), lower=True, check_finite=True)
        except (LinAlgError, ValueError):
            shift = scale * 10.0 ** exponent
            continue
        direction = cho_solve(factor, gradient)
        return direction, float(gradient @ direction)
    raise FloatingPointError("the Hessian is not finite; the objective left its domain")


def _evaluate(derivatives: Derivatives, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    value, gradient, hessian = derivatives(theta)
    p = theta.size
    return float(value), np.asarray(gradient, dtype=float).reshape(p), np.asarray(hessian, dtype=float).reshape(p, p)


def _halve_until_ascent(derivatives: Derivatives, theta: np.ndarray, value: float, direction: np.ndarray,
                        tries: int):
    """The first of ``θ + 2^{−j} d`` (``j < tries``) whose value is finite and at least ``value``
    (with its derivatives), or None when there is none, or the step vanished."""
    length = 1.0
    for _ in range(tries):
        candidate = theta + length * direction
        if np.array_equal(candidate, theta):
            return None
        new_value, gradient, hessian = _evaluate(derivatives, candidate)
        if np.isfinite(new_value) and new_value >= value and np.all(np.isfinite(gradient)):
            return candidate, new_value, gradient, hessian
        length *= 0.5
    return None
