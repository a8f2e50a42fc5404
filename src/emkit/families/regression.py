"""A generalised linear regression as the distribution of a row given its state or component.

    y_t | x_t, z_t = k  ~  f(y_t | η_tk, φ_k),   η_tk = x_tᵀβ_k   (a leading 1 when ``fit_intercept``)

with a GLM family ``f`` (:mod:`emkit.kernels.glm`: gaussian, poisson, binomial with a fixed
number of trials per row, gamma), coefficients ``β_k`` per state and a dispersion ``φ``
(gaussian variance, gamma shape) per state or shared by all (statsmodels' ``switching_variance``).
As an HMM's emission this is a Markov-switching regression (statsmodels' ``MarkovRegression``);
as a mixture's component (:class:`~emkit.latent.MixtureModel`, :class:`emkit.Mixture`) a
mixture of regressions, fitted by the same steps as :class:`emkit.RegressionMixture`.

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

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ..engine.model import Params, Stats
from ..kernels.gaussian import MissingPattern, _ObservedFactor, log_gaussian_density_missing, missing_patterns
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
        The response's distribution and its canonical (log for gamma) link.
    trials : int, default=1
        Binomial only: the number of trials of every row (the response counts the successes).
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

    def __init__(self, n_features: int, family: str = "gaussian", *, trials: int = 1,
                 switching_dispersion: bool = True, fit_intercept: bool = True, inner_tol: float = 1e-10,
                 inner_max_iter: int = 100) -> None:
        if not (isinstance(n_features, (int, np.integer)) and n_features >= 0):
            raise ValueError(f"n_features: expected a non-negative integer, got {n_features!r}")
        self.n_features = int(n_features)
        self.family = check_family(family)
        if not (isinstance(trials, (int, np.integer)) and not isinstance(trials, bool) and trials >= 1):
            raise ValueError(f"trials: expected a positive integer, got {trials!r}")
        if trials != 1 and self.family != "binomial":
            raise ValueError(f"trials: only the binomial family has trials, not {self.family!r}")
        self.trials = int(trials)
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
        trials = f", {self.trials} trials" if self.trials != 1 else ""
        return f"{self.family} regression ({self.n_features} covariate(s){trials}{shared})"

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
        check_response(self.family, X[observed, 0], np.full(int(observed.sum()), float(self.trials)))
        return X

    def block_data(self, X: np.ndarray) -> RegressionData:
        """The rows as the regression mixture's prepared data: a missing response gets weight 0."""
        observed = ~np.isnan(X[:, 0])
        design = np.column_stack([np.ones(len(X))] * self.fit_intercept + [X[:, 1:]])
        empty = np.empty((len(X), 0))
        return RegressionData(X, np.where(observed, X[:, 0], _PLACEHOLDER), np.full(len(X), float(self.trials)),
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
        matrix = np.column_stack([block.y[rows], block.trials[rows], np.ones(rows.sum()), block.X[rows]])
        start = self._glm(n_components).initial_params(matrix, rng)
        out = {"coef": start["coef"]}
        if self.has_dispersion:
            out["dispersion"] = (start["dispersion"] if self.switching_dispersion
                                 else np.array([np.average(start["dispersion"], weights=start["weights"])]))
        return out

    def log_likelihood(self, block: RegressionData, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``log f(y_t | x_tᵀβ_k, φ_k)`` (n, K); 0 for a missing response."""
        eta = block.X @ np.asarray(cache["coef"], dtype=float).T
        log_f = glm_log_density(self.family, block.y[:, None], eta, cache.get("dispersion"), block.trials)
        return written(np.where(block.weight[:, None] > 0, log_f, 0.0), out)

    def stats(self, block: RegressionData, posteriors: np.ndarray, cache: Params) -> Stats:
        """``Σ_t γ_t(k)`` over the rows with a response (the M-step itself takes the data)."""
        return {"regression_n": block.weight @ posteriors}

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        raise ValueError("family: a GLM regression's M-step takes the data, which the latent model (a mixture or an "
                         "HMM) gives it through m_step_with_data; fit it with emkit.fit")

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


@dataclass(frozen=True)
class ResponseBlock:
    """Rows of a multivariate regression: responses ``Y`` (NaN: missing), the design ``X`` and
    the rows grouped by which responses are missing."""

    Y: np.ndarray
    X: np.ndarray
    patterns: tuple[MissingPattern, ...]


class GaussianRegression(Family):
    """Per-state multivariate Gaussian regression of the first ``n_targets`` columns on the others.

        y_t | x_t, z_t = k  ~  N(B_kᵀ x_t, Σ_k)   (x_t with a leading 1 when ``fit_intercept``)

    Missing responses (NaN cells) are marginalised exactly: a row's density is that of its
    observed responses, and the M-step's statistics are the conditional expectations of the
    complete rows given the observed cells under each state (``E[y_m | y_o]``, ``Cov[y_m | y_o]``
    by :mod:`emkit.kernels.gaussian`'s observed-block factors). The statistics are finite
    (``Σγ xxᵀ``, ``Σγ x ŷᵀ``, ``Σγ (ŷŷᵀ + C)``, ``Σγ``), so the M-step is closed-form
    least squares: ``B_k = (Σγ xxᵀ)⁻¹ Σγ x ŷᵀ`` (the maximiser for any ``Σ_k``: every response
    has the same design), then ``Σ_k = (Σγ (ŷŷᵀ + C) − (Σγ x ŷᵀ)ᵀ B_k) / Σγ``, pooled over the
    states when shared.

    Parameters
    ----------
    n_targets : int
        Number of responses ``d`` (the first columns).
    n_features : int
        Number of covariates ``q`` (the columns after the responses).
    switching_covariance : bool, default=True
        A covariance per state; False: one shared by every state.
    fit_intercept : bool, default=True

    Parameters (the dictionary): ``coef`` (K, p, d), ``p = q + fit_intercept``; ``covariance``
    (K, d, d), or (d, d) when shared.
    """

    param_names = ("coef", "covariance")

    def __init__(self, n_targets: int, n_features: int, *, switching_covariance: bool = True,
                 fit_intercept: bool = True) -> None:
        for name, value, least in (("n_targets", n_targets, 1), ("n_features", n_features, 0)):
            if not (isinstance(value, (int, np.integer)) and value >= least):
                raise ValueError(f"{name}: expected an integer >= {least}, got {value!r}")
        self.n_targets, self.n_features = int(n_targets), int(n_features)
        self.switching_covariance, self.fit_intercept = bool(switching_covariance), bool(fit_intercept)
        if self.n_coefficients == 0:
            raise ValueError("n_features: a regression needs a covariate or the intercept (fit_intercept=True)")

    @property
    def n_coefficients(self) -> int:
        return self.n_features + self.fit_intercept

    def describe(self) -> str:
        shared = "" if self.switching_covariance else ", shared covariance"
        return f"gaussian regression ({self.n_targets} response(s), {self.n_features} covariate(s){shared})"

    def shared_params(self) -> frozenset[str]:
        return frozenset() if self.switching_covariance else frozenset({"covariance"})

    # ------------------------------------------------------------------------- data
    def prepare(self, X: Any) -> np.ndarray:
        """Float rows ``[y (d), x (q)]``; ``ValueError`` naming ``X``."""
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"X: expected numbers, got {type(X).__name__}") from None
        d = self.n_targets
        if X.ndim != 2 or X.shape[1] != d + self.n_features:
            raise ValueError(f"X: expected {d + self.n_features} columns ({d} response(s), then {self.n_features} "
                             f"covariate(s)), got shape {X.shape}")
        if not np.all(np.isfinite(X[:, d:])):
            raise ValueError("X: the covariates must be finite; only responses may be missing (NaN)")
        if np.isinf(X[:, :d]).any():
            raise ValueError("y: the responses must be finite or NaN (missing)")
        return X

    def block_data(self, X: np.ndarray) -> ResponseBlock:
        Y = X[:, :self.n_targets]
        design = np.column_stack([np.ones(len(X))] * self.fit_intercept + [X[:, self.n_targets:]])
        return ResponseBlock(Y, design, missing_patterns(Y))

    # ----------------------------------------------------------------- the EM pieces
    def _covariances(self, params: Params, n_components: int) -> np.ndarray:
        covariance = np.asarray(params["covariance"], dtype=float)
        if self.switching_covariance:
            return covariance
        return np.broadcast_to(covariance, (n_components,) + covariance.shape)

    def log_likelihood(self, block: ResponseBlock, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``log N(y_t,o | (B_kᵀ x_t)_o, Σ_k,oo)`` of the observed responses (0 when none)."""
        coef = np.asarray(cache["coef"], dtype=float)
        covariances = self._covariances(cache, len(coef))
        centre = np.zeros((1, self.n_targets))
        values = np.column_stack([
            log_gaussian_density_missing(block.Y - block.X @ coef[k], centre, covariances[k][None], "full",
                                         block.patterns)[:, 0] for k in range(len(coef))])
        return written(values, out)

    def stats(self, block: ResponseBlock, posteriors: np.ndarray, cache: Params) -> Stats:
        """Per state ``n = Σγ``, ``xx = Σγ xxᵀ``, ``xy = Σγ x ŷᵀ``, ``yy = Σγ (ŷŷᵀ + C)``, with ``ŷ``
        and ``C`` the conditional mean and covariance of the responses given the observed ones."""
        coef = np.asarray(cache["coef"], dtype=float)
        K, d = len(coef), self.n_targets
        covariances = self._covariances(cache, K)
        out = {"n": posteriors.sum(axis=0), "xx": np.einsum("nk,ni,nj->kij", posteriors, block.X, block.X),
               "xy": np.empty((K, block.X.shape[1], d)), "yy": np.empty((K, d, d))}
        for k in range(K):
            mean = block.X @ coef[k]
            filled = block.Y.copy()
            conditional = np.zeros((d, d))
            for pattern in block.patterns:
                if not pattern.missing.size:
                    continue
                factor = _ObservedFactor(covariances[k], pattern.observed, pattern.missing, f"state {k}")
                rows, o, m = pattern.rows, pattern.observed, pattern.missing
                z = factor.whiten(block.Y[np.ix_(rows, o)] - mean[np.ix_(rows, o)])
                filled[np.ix_(rows, m)] = mean[np.ix_(rows, m)] + factor.conditional_offset(z)
                conditional[np.ix_(m, m)] += posteriors[rows, k].sum() * factor.conditional_cov
            weighted = filled * posteriors[:, k:k + 1]
            out["xy"][k] = block.X.T @ weighted
            out["yy"][k] = filled.T @ weighted + conditional
        return out

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """Weighted least squares per state, then the residual covariance (see the class)."""
        K = len(stats["n"])
        coef = np.array(params["coef"], dtype=float)
        residual = np.zeros_like(stats["yy"])
        for k in np.flatnonzero(~keep):
            solution = _solve_symmetric(stats["xx"][k], stats["xy"][k], f"state {k}'s covariates")
            if "coef" in learn:
                coef[k] = solution
            residual[k] = stats["yy"][k] - stats["xy"][k].T @ coef[k]
        out = {"coef": coef, "covariance": np.array(params["covariance"], dtype=float)}
        if "covariance" in learn:
            if self.switching_covariance:
                for k in np.flatnonzero(~keep):
                    out["covariance"][k] = _checked_covariance(residual[k] / stats["n"][k], f"state {k}")
            else:
                out["covariance"] = _checked_covariance(residual.sum(axis=0) / stats["n"][~keep].sum(), "shared")
        return out

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None) -> Params:
        """The M-step from a hard partition of the rows with every response: bands of the first
        principal residual of one least-squares fit (deterministic), or a random partition."""
        block = self.block_data(X[~np.isnan(X[:, :self.n_targets]).any(axis=1)])
        n, K = len(block.Y), n_components
        if n < K * (self.n_coefficients + self.n_targets):
            raise ValueError(f"X: {K} states need at least {K * (self.n_coefficients + self.n_targets)} rows with "
                             f"every response, got {n}")
        if rng is None:
            residual = block.Y - block.X @ np.linalg.lstsq(block.X, block.Y, rcond=None)[0]
            score = residual @ np.linalg.svd(residual, full_matrices=False)[2][0]
            labels = np.minimum((np.argsort(np.argsort(score, kind="stable")) * K) // n, K - 1)
        else:
            labels = rng.permutation(np.arange(n) % K)
        d = self.n_targets
        start = {"coef": np.zeros((K, self.n_coefficients, d)),
                 "covariance": np.broadcast_to(np.eye(d), (K, d, d)).copy() if self.switching_covariance else np.eye(d)}
        stats = self.stats(block, np.eye(K)[labels], start)
        return self.m_step(stats, start, frozenset(self.param_names), np.zeros(K, dtype=bool))

    # ---------------------------------------------------------------- parameter space
    def _shapes(self, n_components: int) -> dict[str, tuple[int, ...]]:
        d = self.n_targets
        return {"coef": (n_components, self.n_coefficients, d),
                "covariance": (n_components, d, d) if self.switching_covariance else (d, d)}

    def check_params(self, params: Params, n_components: int) -> Params:
        out = {}
        for name, shape in self._shapes(n_components).items():
            value = np.asarray(params[name], dtype=float)
            if value.shape != shape:
                raise ValueError(f"init: {name} must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"init: {name} must be finite")
            out[name] = value
        if not self.is_feasible(out):
            raise ValueError("init: covariance must be symmetric positive definite")
        return out

    def is_feasible(self, params: Params) -> bool:
        covariance = np.asarray(params["covariance"], dtype=float)
        if not (np.all(np.isfinite(params["coef"])) and np.all(np.isfinite(covariance))):
            return False
        if not np.allclose(covariance, np.swapaxes(covariance, -1, -2)):
            return False
        return bool(np.all(np.linalg.eigvalsh(covariance) > 0))

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        d = self.n_targets
        covariances = (n_components if self.switching_covariance else 1) * d * (d + 1) // 2
        return n_components * self.n_coefficients * d * ("coef" in learn) + covariances * ("covariance" in learn)

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """The coefficients, then each covariance's lower triangle (row by row)."""
        lower = np.tril_indices(self.n_targets)
        parts = [np.ravel(params["coef"])] * ("coef" in learn)
        if "covariance" in learn:
            parts.append(np.ravel(np.asarray(params["covariance"], dtype=float)[..., lower[0], lower[1]]))
        return np.concatenate(parts + [np.empty(0)])

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        free = np.asarray(free, dtype=float)
        out = {name: np.array(like[name], dtype=float) for name in self.param_names}
        start = 0
        if "coef" in learn:
            start = out["coef"].size
            out["coef"] = free[:start].reshape(out["coef"].shape)
        if "covariance" in learn:
            lower = np.tril_indices(self.n_targets)
            covariance = np.zeros_like(out["covariance"])
            covariance[..., lower[0], lower[1]] = free[start:].reshape(covariance.shape[:-2] + (len(lower[0]),))
            out["covariance"] = covariance + np.tril(covariance, -1).swapaxes(-1, -2)
        return out

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        labels = ([f"coef[{', '.join(map(str, index))}]" for index in np.ndindex(np.shape(params["coef"]))]
                  if "coef" in learn else [])
        if "covariance" in learn:
            states = [f"{k}, " for k in range(len(params["covariance"]))] if self.switching_covariance else [""]
            pairs = list(zip(*np.tril_indices(self.n_targets)))
            labels += [f"covariance[{state}{i}, {j}]" for state in states for i, j in pairs]
        return labels

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        raise ValueError("a regression emission draws responses given their covariates, which sampling a chain does "
                         "not have; use the covariates of data you hold")


def _solve_symmetric(matrix: np.ndarray, rhs: np.ndarray, what: str) -> np.ndarray:
    """``matrix⁻¹ rhs`` by Cholesky; ``FloatingPointError`` naming ``what`` when singular."""
    try:
        return cho_solve(cho_factor(matrix, lower=True), rhs)
    except LinAlgError:
        raise FloatingPointError(f"{what} are collinear in the rows it explains (singular Σγ xxᵀ); drop a "
                                 "covariate or start elsewhere (random_state)") from None


def _checked_covariance(covariance: np.ndarray, what: str) -> np.ndarray:
    covariance = 0.5 * (covariance + covariance.T)
    if not np.all(np.linalg.eigvalsh(covariance) > 0):
        raise FloatingPointError(f"{what}: the residual covariance is singular (a state fits its rows exactly); fit "
                                 "fewer states or start elsewhere (random_state)")
    return covariance
