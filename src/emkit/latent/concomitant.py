"""Concomitant-variable mixing weights: a multinomial logit of covariates (shared by latent models).

    π_k(z_i) = softmax(0, z_iᵀA)_k,   A of shape (r, K−1), component 0 the reference

(flexmix's ``FLXPmultinom``; the structural model of latent class analysis with covariates). Its
part of the EM objective,

    Q_π(A) = Σ_i w_i Σ_k r_ik log π_k(z_i),

is concave and separates from the components' part, so a latent model maximises it by damped
Newton (:mod:`emkit.kernels.newton`) over passes of the engine's
:class:`~emkit.engine.data_pass.DataPass` (value, gradient and Hessian add over rows:
:func:`~emkit.kernels.multinomial_logit.multinomial_logit_derivatives`). Used by
:class:`~emkit.latent.regression_mixture.RegressionMixtureModel` (jointly with its regression
coefficients) and :class:`~emkit.latent.concomitant_mixture.ConcomitantMixtureModel`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from ..engine.data_pass import DataPass
from ..kernels.multinomial_logit import multinomial_logit_derivatives, multinomial_logit_log_proba
from ..kernels.newton import maximize_concave

#: The parameter's name in every model that has concomitant weights.
PARAM = "concomitant_coef"

#: ``chunk -> (Z, posterior, row weights)`` of one prepared chunk (picklable for Dask).
PosteriorPass = Callable[[Any], tuple[np.ndarray, np.ndarray, np.ndarray | None]]


class ConcomitantWeights:
    """Mixing weights ``π(z) = softmax(0, zᵀA)`` of ``n_components`` over ``n_columns`` covariates.

    Parameters
    ----------
    n_components : int
        ``K``.
    n_columns : int
        ``r``, the columns of ``z`` (include a column of ones for intercepts).
    """

    def __init__(self, n_components: int, n_columns: int) -> None:
        self.n_components, self.n_columns = int(n_components), int(n_columns)

    @property
    def shape(self) -> tuple[int, int]:
        """Of the coefficients ``A``: ``(r, K−1)``."""
        return self.n_columns, self.n_components - 1

    @property
    def n_free(self) -> int:
        """``r·(K−1)``."""
        return self.n_columns * (self.n_components - 1)

    def start(self) -> np.ndarray:
        """Zeros: equal weights for every row."""
        return np.zeros(self.shape)

    def log_weights(self, Z: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """``log π_k(z_i)``, shape (n, K)."""
        return multinomial_logit_log_proba(Z, np.asarray(coef, dtype=float).reshape(self.shape))

    def derivatives(self, Z: np.ndarray, posterior: np.ndarray, weight: np.ndarray | None,
                    coef: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """``Q_π`` of these rows, its gradient and Hessian in ``A.ravel()``."""
        return multinomial_logit_derivatives(Z, posterior, weight, np.asarray(coef, dtype=float).reshape(self.shape))

    def maximize(self, data_pass: DataPass, posterior_pass: PosteriorPass, coef: np.ndarray, *,
                 tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
        """``argmax_A Q_π(A)`` by damped Newton from ``coef`` (never below ``Q_π(coef)``), each
        step one pass over the data whose chunks give their ``(Z, posterior, weight)`` by
        ``posterior_pass``."""
        def derivatives(theta: np.ndarray):
            total = data_pass.sum(partial(_logit_pass, self, posterior_pass, theta))
            return total["value"], total["gradient"], total["hessian"]

        start = np.asarray(coef, dtype=float).reshape(self.shape)
        return maximize_concave(derivatives, start, tol=tol, max_iter=max_iter).theta

    def check(self, coef: Any) -> np.ndarray:
        """``coef`` as a float array of shape ``(r, K−1)``; ``ValueError`` naming it otherwise."""
        array = np.asarray(coef, dtype=float)
        if array.shape != self.shape:
            raise ValueError(f"{PARAM}: expected shape {self.shape} (covariates × components but the first), got "
                             f"{array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{PARAM}: must be finite")
        return array

    def labels(self) -> list[str]:
        """Names of the free parameters, ``concomitant_coef[j,k]`` (``k`` from 1: the compared component)."""
        return [f"{PARAM}[{j},{k}]" for j in range(self.n_columns) for k in range(1, self.n_components)]

    def draw(self, Z: np.ndarray, coef: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One component per row, ``k_i ~ π(z_i)``."""
        cumulative = np.cumsum(np.exp(self.log_weights(Z, coef)), axis=1)
        return (rng.random(len(cumulative))[:, None] > cumulative[:, :-1]).sum(axis=1)


def _logit_pass(weights: ConcomitantWeights, posterior_pass: PosteriorPass, theta: np.ndarray,
                chunk: Any) -> dict[str, Any]:
    Z, posterior, weight = posterior_pass(chunk)
    value, gradient, hessian = weights.derivatives(Z, posterior, weight, theta)
    return {"value": value, "gradient": gradient, "hessian": hessian}
