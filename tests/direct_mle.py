"""Independent maximum-likelihood by direct numerical maximization (not by EM).

The gradient comes from complex-step differentiation (exact to round-off), so the score
equations can be solved to ~1e-12 with a root finder after a quasi-Newton start.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import optimize


def complex_step_gradient(f: Callable[[np.ndarray], complex], x: np.ndarray, h: float = 1e-30) -> np.ndarray:
    """∂f/∂x_i = Im f(x + i h e_i) / h, exact to round-off for analytic f."""
    x = np.asarray(x, dtype=complex)
    grad = np.empty(x.size)
    for i in range(x.size):
        step = x.copy()
        step[i] += 1j * h
        grad[i] = f(step).imag / h
    return grad


def maximize(loglik: Callable[[np.ndarray], complex], x0: np.ndarray) -> np.ndarray:
    """Maximizer of ``loglik`` (written with numpy functions that accept complex input)."""
    def negative(x):
        return -float(np.real(loglik(np.asarray(x, dtype=complex))))

    def negative_gradient(x):
        return -complex_step_gradient(loglik, x)

    start = optimize.minimize(negative, x0, jac=negative_gradient, method="BFGS", options={"gtol": 1e-9}).x
    solution = optimize.root(lambda x: complex_step_gradient(loglik, x), start, method="hybr", options={"xtol": 1e-13})
    residual = np.max(np.abs(complex_step_gradient(loglik, solution.x)))
    assert residual < 1e-7, f"score not zero at the direct solution: {residual} ({solution.message})"
    return solution.x
