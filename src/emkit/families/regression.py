"""A generalised linear regression as the distribution of a row given its state or component.

    y_t | x_t, z_t = k  ~  f(y_t | η_tk, φ_k),   η_tk = x_tᵀβ_k   (a leading 1 when ``fit_intercept``)

with a GLM family ``f`` (:mod:`emkit.kernels.glm`: gaussian, poisson, binomial with one trial,
gamma), coefficients ``β_k`` per state and a dispersion ``φ`` (gaussian variance, gamma shape)
per state or shared by all (statsmodels' ``switching_variance``). As an HMM's emission this is
a Markov-switching regression (statsmodels' ``MarkovRegression``).

Rows are ``[y, x_1, …, x_q]``: the response, then the covariates (the column roles). A missing
response (NaN) contributes nothing to the emission (log-likelihood 0, weight 0 in the M-step);
covariates must be finite.

The M-step has no finite statistics: it takes the data (:attr:`Family.m_step_uses_data`). It is
the M-step of :class:`~emkit.latent.regression_mixture.RegressionMixtureModel` with the
posteriors ``γ_t(k)`` for responsibilities (the same passes over the rows, the same damped
Newton for ``β`` and closed-form / 1-D Newton dispersion): exact, as the coefficients'
maximiser does not depend on ``φ``, shared or not.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from ..engine.model import Params, Stats
from ..kernels.glm import WITH_DISPERSION, check_family, glm_log_density
from ..kernels.newton import maximize_concave
from ..latent.regression_mixture import (RegressionData, RegressionMixtureModel, _dispersion_pass, _regression_part,
                                         check_response)
from .base import Family, written

#: A placeholder response for the rows whose response is missing (in every family's support).
_PLACEHOLDER = 1.0


class Regression(Family):
    """Per-state GLM regression of the first column on the others.

    Parameters
    ----------
    n_features : int
        Number of covariates ``q`` (the columns after the response).
    family : {"gaussian", "poisson", "binomial", "gamma"}, default="gaussian"
        The response's distribution and its canonical (log for gamma) link; binomial is one trial.
    switching_dispersion : bool, default=True
        A dispersion (variance, gamma shape) per state; False: one shared by all states.
    fit_intercept : bool, default=True
        Add a column of ones to the covariates.
    inner_tol, inner_max_iter : float, int
        The M-step's Newton loop (:func:`~emkit.kernels.newton.maximize_concave`).

    Parameters (the dictionary): ``coef`` (K, p) with ``p = q + fit_intercept`` (intercept first),
    and ``dispersion`` (K,), or (1,) when shared, for gaussian and gamma.
    """

    m_step_uses_data = True

    def __init__(self, n_features: int, family: str = "gaussian", *, switching_dispersion: bool = True,
                 fit_intercept: bool = True, inner_tol: float = 1e-10, inner_max_iter: int = 100) -> None:
        if not (isinstance(n_features, (int, np.integer)) and n_features >= 0):
            raise ValueError(f"n_features: expected a non-negative integer, got {n_features!r}")
        self.n_features = int(n_features)
        self.family = check_family(family)
        self.switching_dispersion = bool(switching_dispersion)
        self.fit_intercept = bool(fit_intercept)
        if self.n_coefficients == 0:
            raise ValueError("n_features: a regression needs a covariate or the intercept (fit_intercept=True)")
        self.inner_tol, self.inner_max_iter = float(inner_tol), int(inner_max_iter)
        self.param_names = ("coef", "dispersion") if self.has_dispersion else ("coef",)

    @property
    def has_dispersion(self) -> bool:
        return self.family in WITH_DISPERSION

    @property
    def n_coefficients(self) -> int:
        """``p``: the intercept (when fitted) and the covariates."""
        return self.n_features + self.fit_intercept

    def describe(self) -> str:
        shared = "" if self.switching_dispersion or not self.has_dispersion else ", shared dispersion"
        return f"{self.family} regression ({self.n_features} covariate(s){shared})"

    def shared_params(self) -> frozenset[str]:
        return frozenset() if self.switching_dispersion or not self.has_dispersion else frozenset({"dispersion"})

    # ------------------------------------------------------------------------- data
    def prepare(self, X: Any) -> np.ndarray:
        """Float rows ``[y, x]``; ``ValueError`` naming ``X`` (shape, covariates) or ``y`` (support)."""
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"X: expected numbers [y, x_1..x_{self.n_features}], got {type(X).__name__}") from None
        if X.ndim != 2 or X.shape[1] != 1 + self.n_features:
            raise ValueError(f"X: expected {1 + self.n_features} columns (the response, then {self.n_features} "
                             f"covariate(s)), got shape {X.shape}")
        if not np.all(np.isfinite(X[:, 1:])):
            raise ValueError("X: the covariates (columns after the response) must be finite; only the response "
                             "may be missing (NaN)")
        if np.isinf(X[:, 0]).any():
            raise ValueError("y: the response must be finite or NaN (missing)")
        observed = ~np.isnan(X[:, 0])
        check_response(self.family, X[observed, 0], np.ones(int(observed.sum())))
        return X

    def block_data(self, X: np.ndarray) -> RegressionData:
        """The rows as the regression mixture's prepared data: a missing response gets weight 0."""
        observed = ~np.isnan(X[:, 0])
        design = np.column_stack([np.ones(len(X))] * self.fit_intercept + [X[:, 1:]])
        empty = np.empty((len(X), 0))
        return RegressionData(X, np.where(observed, X[:, 0], _PLACEHOLDER), np.ones(len(X)),
                              observed.astype(float), design, empty, empty)

    def _glm(self, n_components: int) -> RegressionMixtureModel:
        """The regression-mixture machinery for ``n_components`` states (one shared M-step path)."""
        return RegressionMixtureModel(n_components, self.family, self.n_coefficients, inner_tol=self.inner_tol,
                                      inner_max_iter=self.inner_max_iter)

    # ----------------------------------------------------------------- the EM pieces
    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None) -> Params:
        """The regression mixture's start (bands of the residuals of one fit, or a random
        partition) from the rows with a response."""
        block = self.block_data(X)
        rows = block.weight > 0
        matrix = np.column_stack([block.y[rows], np.ones((rows.sum(), 2)), block.X[rows]])
        start = self._glm(n_components).initial_params(matrix, rng)
        out = {"coef": start["coef"]}
        if self.has_dispersion:
            out["dispersion"] = (start["dispersion"] if self.switching_dispersion
                                 else np.array([np.average(start["dispersion"], weights=start["weights"])]))
        return out

    def log_likelihood(self, block: RegressionData, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``log f(y_t | x_tᵀβ_k, φ_k)`` (n, K); 0 for a missing response."""
        eta = block.X @ np.asarray(cache["coef"], dtype=float).T
        log_f = glm_log_density(self.family, block.y[:, None], eta, cache.get("dispersion"))
        return written(np.where(block.weight[:, None] > 0, log_f, 0.0), out)

    def stats(self, block: RegressionData, posteriors: np.ndarray, cache: Params) -> Stats:
        """``Σ_t γ_t(k)`` over the rows with a response (the M-step itself takes the data)."""
        return {"regression_n": block.weight @ posteriors}

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        raise ValueError("model: a regression emission's M-step takes the data (m_step_with_data); fit it with "
                         "emkit.fit")

    def m_step_with_data(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray,
                         data_pass) -> Params:
        """Newton for the coefficients (dispersion held), then the dispersion in closed form
        (gaussian) or by 1-D Newton (gamma), from sums over the rows and their posteriors."""
        K = len(params["coef"])
        glm = self._glm(K)
        out = {name: np.array(params[name], dtype=float) for name in self.param_names}
        dispersion = params.get("dispersion")
        if "coef" in learn:
            def derivatives(theta: np.ndarray):
                total = data_pass.sum(partial(_newton_terms, glm, theta=theta, dispersion=dispersion))
                return total["value"], total["gradient"], total["hessian"]

            theta = maximize_concave(derivatives, np.ravel(params["coef"]), tol=self.inner_tol,
                                     max_iter=self.inner_max_iter).theta
            out["coef"] = np.where(keep[:, None], out["coef"], theta.reshape(K, -1))
        if self.has_dispersion and "dispersion" in learn:
            sums = data_pass.sum(partial(_dispersion_terms, glm, params={"coef": out["coef"]}))
            if self.switching_dispersion:
                out["dispersion"] = np.where(keep, out["dispersion"], glm._dispersion(sums, out["dispersion"]))
            else:
                pooled = {name: np.sum(value, keepdims=True) for name, value in sums.items()}
                out["dispersion"] = glm._dispersion(pooled, out["dispersion"])
        return out

    # ---------------------------------------------------------------- parameter space
    def _shapes(self, n_components: int) -> dict[str, tuple[int, ...]]:
        return {"coef": (n_components, self.n_coefficients),
                "dispersion": (n_components if self.switching_dispersion else 1,)}

    def check_params(self, params: Params, n_components: int) -> Params:
        out = {}
        for name in self.param_names:
            value = np.asarray(params[name], dtype=float)
            shape = self._shapes(n_components)[name]
            if value.shape != shape:
                raise ValueError(f"init: {name} must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)) or (name == "dispersion" and np.any(value <= 0)):
                raise ValueError(f"init: {name} must be finite" + (" and positive" if name == "dispersion" else ""))
            out[name] = value
        return out

    def is_feasible(self, params: Params) -> bool:
        finite = all(np.all(np.isfinite(params[name])) for name in self.param_names)
        return bool(finite and (not self.has_dispersion or np.all(np.asarray(params["dispersion"]) > 0)))

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return sum(int(np.prod(self._shapes(n_components)[name])) for name in self.param_names if name in learn)

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        return np.concatenate([np.ravel(params[name]) for name in self.param_names if name in learn] + [np.empty(0)])

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        out, start = {}, 0
        for name in self.param_names:
            value = np.asarray(like[name], dtype=float)
            if name in learn:
                value = np.asarray(free[start:start + value.size], dtype=float).reshape(value.shape)
                start += value.size
            out[name] = value
        return out

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        return [f"{name}[{', '.join(map(str, index))}]" for name in self.param_names if name in learn
                for index in np.ndindex(np.shape(params[name]))]

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        raise ValueError("a regression emission draws a response given its covariates, which sampling a chain does "
                         "not have; use the covariates of data you hold")


# ------------------------------------------------------ data passes (each block with its posteriors)
def _newton_terms(glm: RegressionMixtureModel, block: RegressionData, posteriors: np.ndarray, theta: np.ndarray,
                  dispersion: np.ndarray | None) -> dict[str, np.ndarray]:
    return _regression_part(glm, block, posteriors, glm._unpack(theta), dispersion)


def _dispersion_terms(glm: RegressionMixtureModel, block: RegressionData, posteriors: np.ndarray,
                      params: Params) -> dict[str, np.ndarray]:
    return _dispersion_pass(glm, block, posteriors, params)
