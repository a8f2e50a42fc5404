"""Finite mixtures of generalised linear regressions, with concomitant-variable weights.

    p(y_i | x_i, f_i, z_i) = Σ_k π_k(z_i) f(y_i | η_ik, φ_k),   η_ik = x_iᵀβ_k + f_iᵀγ

with a GLM family ``f`` (:mod:`emkit.kernels.glm`: gaussian, poisson, binomial, gamma),
component-specific coefficients ``β_k``, coefficients ``γ`` shared by all components ("fixed"),
a per-component dispersion ``φ_k`` (gaussian variance, gamma shape) and weights that are
constant, or a multinomial logit ``π(z) = softmax(0, zᵀA)`` of concomitant variables (a mixture
of experts). flexmix's ``FLXMRglm``/``FLXMRglmfix`` with ``FLXPmultinom``.

Why a latent model rather than a :class:`~emkit.families.base.Family`: the concomitant weights
change the latent layer (a mixture's weights are constant), the shared coefficients couple the
components (a family's components are independent given their statistics), and the M-step has
no finite statistics. The model takes the engine's data-taking M-step
(:mod:`emkit.engine.data_pass`): damped Newton (:mod:`emkit.kernels.newton`) on

    Q(θ | θ_t) = Σ_i w_i Σ_k r_ik [log π_k(z_i) + log f(y_i | η_ik, φ_k)],

whose weights part and component part separate. The coefficients (β, γ) are maximised by Newton
with the dispersion held at ``φ_t``; then ``φ`` in closed form (gaussian) or by a 1-D Newton
(gamma) given the new coefficients. Without shared coefficients this is the exact M-step (the
coefficients' maximiser does not depend on ``φ``); with them it is a conditional (ECM) step.
Either way, and with an inner loop stopped early, ``Q`` never decreases: a generalised EM step.

The data are one float matrix with columns ``[y, trials, weight, x (p), f (q), z (r)]`` (the face,
:class:`~emkit.estimators.regression_mixture.RegressionMixture`, builds it, intercept columns
included), so that Dask arrays of rows, resampling and simulation need nothing special.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ..engine.data_pass import DataPass
from ..engine.model import EMModel, Params, Stats
from ..kernels.glm import (WITH_DISPERSION, check_family, gamma_shape, gamma_shape_terms, gaussian_variance,
                           glm_eta_derivatives, glm_mean, glm_sample, glm_working_response)
from ..kernels.multinomial_logit import multinomial_logit_derivatives, multinomial_logit_log_proba
from ..kernels.newton import maximize_concave

#: Columns before the designs: the response, the binomial trials, the row weight.
LEADING_COLUMNS = 3


@dataclass(frozen=True)
class RegressionData:
    """Prepared rows: the response ``y``, ``trials``, row ``weight`` and the designs ``X`` (varying
    coefficients), ``F`` (shared coefficients) and ``Z`` (concomitant logit), with the ``matrix``
    they came from."""

    matrix: np.ndarray
    y: np.ndarray
    trials: np.ndarray
    weight: np.ndarray
    X: np.ndarray
    F: np.ndarray
    Z: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


class RegressionMixtureModel(EMModel):
    """A mixture of ``n_components`` GLM regressions (see the module docstring).

    Parameters
    ----------
    n_components : int
    family : {"gaussian", "poisson", "binomial", "gamma"}
    n_varying : int
        Columns of ``x`` (component-specific coefficients; include a column of ones for intercepts).
    n_fixed : int
        Columns of ``f`` (coefficients shared by every component).
    n_concomitant : int
        Columns of ``z`` (0: constant weights; else include a column of ones).
    inner_tol, inner_max_iter : float, int
        The inner Newton loops' tolerance and step limit (:func:`~emkit.kernels.newton.maximize_concave`).

    Parameters (the dictionary): ``coef`` (K, p); ``fixed_coef`` (q,) when ``q > 0``; ``dispersion``
    (K,) for gaussian (variances) and gamma (shapes); ``weights`` (K,) or, with concomitant
    variables, ``concomitant_coef`` (r, K−1) (component 0 the reference).
    """

    m_step_uses_data = True

    def __init__(self, n_components: int, family: str, n_varying: int, n_fixed: int = 0, n_concomitant: int = 0, *,
                 inner_tol: float = 1e-10, inner_max_iter: int = 100) -> None:
        self.n_components = int(n_components)
        self.family = check_family(family)
        self.n_varying, self.n_fixed, self.n_concomitant = int(n_varying), int(n_fixed), int(n_concomitant)
        self.inner_tol, self.inner_max_iter = float(inner_tol), int(inner_max_iter)
        names = ["coef"]
        if self.n_fixed:
            names.append("fixed_coef")
        if self.has_dispersion:
            names.append("dispersion")
        names.append("concomitant_coef" if self.n_concomitant else "weights")
        self.param_names = tuple(names)

    @property
    def has_dispersion(self) -> bool:
        return self.family in WITH_DISPERSION

    @property
    def n_columns(self) -> int:
        return LEADING_COLUMNS + self.n_varying + self.n_fixed + self.n_concomitant

    # ------------------------------------------------------------------------- data
    def prepare(self, data: Any) -> RegressionData:
        """Split the matrix ``[y, trials, weight, x, f, z]``; ``ValueError`` naming the column
        group on a missing or impossible value."""
        if isinstance(data, RegressionData):
            return data
        matrix = np.asarray(data, dtype=float)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_columns:
            raise ValueError(f"X: expected a matrix of {self.n_columns} columns [y, trials, weight, x, f, z], got "
                             f"shape {matrix.shape}")
        p, q = LEADING_COLUMNS + self.n_varying, LEADING_COLUMNS + self.n_varying + self.n_fixed
        y, trials, weight = matrix[:, 0], matrix[:, 1], matrix[:, 2]
        if np.isnan(y).any():
            raise ValueError(f"y: {int(np.isnan(y).sum())} missing value(s); a mixture of regressions needs every "
                             "response (drop those rows)")
        if not np.all(np.isfinite(matrix[:, 1:])):
            raise ValueError("X: covariates, trials and weights must be finite (no NaN or inf)")
        if np.any(weight < 0):
            raise ValueError("sample_weight: must be >= 0")
        check_response(self.family, y, trials)
        return RegressionData(matrix, y, trials, weight, matrix[:, LEADING_COLUMNS:p], matrix[:, p:q], matrix[:, q:])

    # ----------------------------------------------------------------- the mathematics
    def eta(self, data: RegressionData, params: Params) -> np.ndarray:
        """The linear predictors ``η_ik = x_iᵀβ_k + f_iᵀγ`` (n, K)."""
        eta = data.X @ np.asarray(params["coef"], dtype=float).T
        if self.n_fixed:
            eta = eta + (data.F @ np.asarray(params["fixed_coef"], dtype=float))[:, None]
        return eta

    def log_weights(self, data: RegressionData, params: Params) -> np.ndarray:
        """``log π_k(z_i)`` (n, K), or (1, K) for constant weights."""
        if self.n_concomitant:
            return multinomial_logit_log_proba(data.Z, params["concomitant_coef"])
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(params["weights"], dtype=float))[None, :]

    def joint(self, data: RegressionData, params: Params) -> np.ndarray:
        """``log π_k(z_i) + log f(y_i | η_ik, φ_k)`` (n, K)."""
        log_f = glm_eta_derivatives(self.family, data.y[:, None], self.eta(data, params), params.get("dispersion"),
                                    data.trials)[0]
        return self.log_weights(data, params) + log_f

    def row_loglik(self, data: RegressionData, params: Params) -> np.ndarray:
        """``log p(y_i | x_i, f_i, z_i)`` per row (unweighted)."""
        return logsumexp(self.joint(data, params), axis=1)

    def responsibilities(self, data: RegressionData, params: Params) -> np.ndarray:
        """``P(component k | y_i, x_i, ...)`` (n, K)."""
        joint = self.joint(data, params)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def e_step(self, data: RegressionData, params: Params) -> tuple[Stats, float]:
        joint = self.joint(data, params)
        row = logsumexp(joint, axis=1)
        posterior = np.exp(joint - row[:, None])
        return {"n": data.weight @ posterior}, float(data.weight @ row)

    def m_step(self, stats: Stats, params: Params) -> Params:
        raise NotImplementedError("RegressionMixtureModel's M-step takes the data: the engine calls m_step_with_data")

    def m_step_with_data(self, stats: Stats, params: Params, data_pass: DataPass) -> Params:
        """Newton for the coefficients, then the dispersion, then the weights (see the module)."""
        return self._maximise(data_pass, params, params, stats["n"])

    def _maximise(self, data_pass: DataPass, posterior_source: Params | np.ndarray, start: Params,
                  counts: np.ndarray | None) -> Params:
        """Maximise ``Q`` given the posteriors (at parameters ``posterior_source``, or an array of
        them for in-memory data), from ``start``: one Newton loop over the coefficients and the
        concomitant logit together (their parts of ``Q`` separate, so the Hessian is block
        diagonal and each pass over the data serves both), then the dispersion."""
        out = dict(start)

        def derivatives(theta: np.ndarray):
            total = data_pass.sum(partial(_newton_pass, self, source=posterior_source, theta=theta,
                                          dispersion=start.get("dispersion")))
            return total["value"], total["gradient"], total["hessian"]

        theta = maximize_concave(derivatives, self._pack(start), tol=self.inner_tol,
                                 max_iter=self.inner_max_iter).theta
        out.update(self._unpack(theta))
        if self.has_dispersion:
            sums = data_pass.sum(partial(_dispersion_pass, self, source=posterior_source, params=out))
            out["dispersion"] = self._dispersion(sums, start["dispersion"])
        if not self.n_concomitant:
            if counts is None:
                counts = data_pass.sum(partial(_count_pass, self, source=posterior_source))["n"]
            out["weights"] = np.asarray(counts, dtype=float) / float(np.sum(counts))
        return out

    def _dispersion(self, sums: dict[str, np.ndarray], previous: np.ndarray) -> np.ndarray:
        """Closed-form variances or 1-D Newton shapes; a component without weight keeps ``previous``."""
        weight = sums["weight"]
        out = np.array(previous, dtype=float)
        for k in np.flatnonzero(weight > 0):
            if self.family == "gaussian":
                out[k] = gaussian_variance(weight[k], sums["squares"][k])
                if not out[k] > 0:
                    raise FloatingPointError(
                        f"component {k} of the gaussian regression mixture fits its rows exactly (variance 0): the "
                        "likelihood is unbounded there; fit fewer components or start elsewhere (random_state)")
            else:
                out[k] = gamma_shape(weight[k], sums["terms"][k])
        return out

    def _pack(self, params: Params) -> np.ndarray:
        """The Newton variables: ``[β (K·p), γ (q), A (r·(K−1))]``."""
        parts = [np.ravel(params["coef"])]
        if self.n_fixed:
            parts.append(np.ravel(params["fixed_coef"]))
        if self.n_concomitant:
            parts.append(np.ravel(params["concomitant_coef"]))
        return np.concatenate(parts).astype(float)

    def _unpack(self, theta: np.ndarray) -> Params:
        """Inverse of :meth:`_pack`."""
        theta = np.asarray(theta, dtype=float)
        split = self.n_components * self.n_varying
        out = {"coef": theta[:split].reshape(self.n_components, self.n_varying)}
        if self.n_fixed:
            out["fixed_coef"] = theta[split:split + self.n_fixed].copy()
        if self.n_concomitant:
            out["concomitant_coef"] = theta[split + self.n_fixed:].reshape(self.n_concomitant, self.n_components - 1)
        return out

    def posteriors(self, data: RegressionData, source: Params | np.ndarray) -> np.ndarray:
        """The posteriors an M-step weights by: at parameters ``source``, or ``source`` itself."""
        if isinstance(source, np.ndarray):
            return source
        return self.responsibilities(data, source)

    # ---------------------------------------------------------------- starting values
    def initial_params(self, data: RegressionData, rng: np.random.Generator | None = None) -> Params:
        """The M-step from a hard partition of the rows: deterministic, bands of the residuals of
        one least-squares fit of the working response ``g(y)`` (lines stacked by offset); random,
        a uniformly random partition (flexmix's start)."""
        data = self.prepare(data)
        n, K = len(data), self.n_components
        if n < K:
            raise ValueError(f"n_components: {K} components need at least as many rows, got {n}")
        z = glm_working_response(self.family, data.y, data.trials)
        if rng is None:
            design = np.column_stack([data.X, data.F])
            residual = z - design @ np.linalg.lstsq(design, z, rcond=None)[0]
            labels = np.minimum((np.argsort(np.argsort(residual, kind="stable")) * K) // n, K - 1)
        else:
            labels = rng.permutation(np.arange(n) % K)
        start = self._least_squares_start(data, z, labels)
        return self._maximise(DataPass(self, data), np.eye(K)[labels], start, None)

    def _least_squares_start(self, data: RegressionData, z: np.ndarray, labels: np.ndarray) -> Params:
        """Weighted least squares of the working response within the partition ``labels`` (β of
        each part, γ shared: one system of n rows), unit dispersion, weights 1/K (zero concomitant
        coefficients)."""
        K, p, n = self.n_components, self.n_varying, len(data)
        design = np.zeros((n, K, p))
        design[np.arange(n), labels] = data.X
        root = np.sqrt(data.weight)[:, None]
        solution = np.linalg.lstsq(np.column_stack([design.reshape(n, K * p), data.F]) * root, z * root[:, 0],
                                   rcond=None)[0]
        start: Params = {"coef": solution[:K * p].reshape(K, p)}
        if self.n_fixed:
            start["fixed_coef"] = solution[K * p:]
        if self.has_dispersion:
            start["dispersion"] = np.ones(K)
        if self.n_concomitant:
            start["concomitant_coef"] = np.zeros((self.n_concomitant, K - 1))
        else:
            start["weights"] = np.full(K, 1.0 / K)
        return start

    # ---------------------------------------------------------------- parameter space
    def is_feasible(self, params: Params) -> bool:
        if not all(np.all(np.isfinite(params[name])) for name in self.param_names):
            return False
        if self.has_dispersion and np.any(np.asarray(params["dispersion"]) <= 0):
            return False
        if not self.n_concomitant:
            weights = np.asarray(params["weights"])
            return bool(np.all(weights >= 0) and abs(weights.sum() - 1.0) < 1e-8)
        return True

    def check_params(self, params: Params) -> Params:
        out = super().check_params(params)
        shapes = {"coef": (self.n_components, self.n_varying), "fixed_coef": (self.n_fixed,),
                  "dispersion": (self.n_components,), "weights": (self.n_components,),
                  "concomitant_coef": (self.n_concomitant, self.n_components - 1)}
        for name in self.param_names:
            if out[name].shape != shapes[name]:
                raise ValueError(f"init: {name} must have shape {shapes[name]}, got {out[name].shape}")
        return out

    def n_free_parameters(self) -> int:
        K = self.n_components
        weights = self.n_concomitant * (K - 1) if self.n_concomitant else K - 1
        return K * self.n_varying + self.n_fixed + (K if self.has_dispersion else 0) + weights

    def to_free(self, params: Params) -> np.ndarray:
        """All parameters but the last weight (the weights sum to one)."""
        vector = self.to_vector(params)
        return vector if self.n_concomitant else vector[:-1]

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        free = np.asarray(free, dtype=float)
        if self.n_concomitant:
            return self.from_vector(free, like)
        return self.from_vector(np.append(free, 1.0 - free[-(self.n_components - 1):].sum()
                                          if self.n_components > 1 else 1.0), like)

    def free_labels(self, params: Params) -> tuple[str, ...]:
        labels = super().free_labels(params)
        return labels if self.n_concomitant else labels[:-1]

    def describe(self) -> str:
        extras = (", shared coefficients" if self.n_fixed else "") + (", concomitant" if self.n_concomitant else "")
        return f"{self.family} regression mixture (k={self.n_components}{extras})"

    # ------------------------------------------------------------- bootstrap and sampling
    def n_observations(self, data: Any) -> int:
        return len(self.prepare(data))

    def resample(self, data: Any, rng: np.random.Generator) -> np.ndarray:
        matrix = self.prepare(data).matrix
        return matrix[rng.integers(0, len(matrix), size=len(matrix))]

    def reweight(self, data: Any, factors: np.ndarray) -> np.ndarray:
        matrix = self.prepare(data).matrix.copy()
        matrix[:, 2] *= np.asarray(factors, dtype=float)
        return matrix

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator) -> np.ndarray:
        """The rows of ``like_data`` with responses drawn from the model at ``params``."""
        data = self.prepare(like_data)
        matrix = data.matrix.copy()
        matrix[:, 0] = self.sample_response(data, params, rng)[0]
        return matrix

    def sample_response(self, data: RegressionData, params: Params,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One response per row drawn from the mixture given the covariates, and the components."""
        weights = np.exp(np.broadcast_to(self.log_weights(data, params), (len(data), self.n_components)))
        labels = (rng.random(len(data))[:, None] > np.cumsum(weights, axis=1)[:, :-1]).sum(axis=1)
        eta = self.eta(data, params)[np.arange(len(data)), labels]
        dispersion = None if not self.has_dispersion else np.asarray(params["dispersion"])[labels]
        return glm_sample(self.family, eta, dispersion, data.trials, rng), labels

    def expected_response(self, data: RegressionData, params: Params) -> np.ndarray:
        """``E[y_i | x_i, f_i, z_i] = Σ_k π_k(z_i) μ_ik``."""
        weights = np.exp(self.log_weights(data, params))
        return np.sum(weights * glm_mean(self.family, self.eta(data, params), data.trials), axis=1)


def check_response(family: str, y: np.ndarray, trials: np.ndarray) -> None:
    """``ValueError`` naming ``y`` (or ``trials``) when a response lies outside the family's support."""
    if family == "gaussian":
        return
    if family == "gamma":
        if np.any(y <= 0):
            raise ValueError("y: the gamma family needs positive responses")
        return
    if np.any(y < 0) or np.any(y != np.round(y)):
        raise ValueError(f"y: the {family} family needs non-negative integer counts")
    if family == "binomial":
        if np.any(trials < 1) or np.any(trials != np.round(trials)):
            raise ValueError("trials: must be positive integers")
        if np.any(y > trials):
            raise ValueError("y: binomial successes cannot exceed the trials")


# ------------------------------------------------------ data passes (run on each chunk)
def _newton_pass(model: RegressionMixtureModel, chunk: Any, source, theta: np.ndarray,
                 dispersion: np.ndarray | None) -> dict[str, np.ndarray]:
    """The part of ``Q`` that the Newton loop maximises, of one chunk, with its derivatives in
    ``[β, γ, A]``: the regressions' ``Σ_i w_i Σ_k r_ik log f(y_i | η_ik, φ_k)`` and (with concomitant
    variables) the logit's ``Σ_i w_i Σ_k r_ik log π_k(z_i)``; the Hessian is block diagonal."""
    data = model.prepare(chunk)
    posterior = model.posteriors(data, source)
    parameters = model._unpack(theta)
    regression = _regression_part(model, data, posterior, parameters, dispersion)
    if not model.n_concomitant:
        return regression
    value, gradient, hessian = multinomial_logit_derivatives(data.Z, posterior, data.weight,
                                                             parameters["concomitant_coef"])
    size = len(regression["gradient"]) + len(gradient)
    full = np.zeros((size, size))
    full[:len(regression["gradient"]), :len(regression["gradient"])] = regression["hessian"]
    full[len(regression["gradient"]):, len(regression["gradient"]):] = hessian
    return {"value": regression["value"] + value, "gradient": np.concatenate([regression["gradient"], gradient]),
            "hessian": full}


def _regression_part(model: RegressionMixtureModel, data: RegressionData, posterior: np.ndarray,
                     coefficients: Params, dispersion: np.ndarray | None) -> dict[str, np.ndarray]:
    """``Σ_i w_i Σ_k r_ik log f(y_i | η_ik, φ_k)`` and its derivatives in (β, γ)."""
    K, p, q = model.n_components, model.n_varying, model.n_fixed
    weights = posterior * data.weight[:, None]
    log_f, first, second = glm_eta_derivatives(model.family, data.y[:, None], model.eta(data, coefficients),
                                               dispersion, data.trials)
    size = K * p + q
    used = weights > 0
    if not np.all(np.isfinite(log_f[used])):
        return {"value": -np.inf, "gradient": np.full(size, np.nan), "hessian": np.full((size, size), np.nan)}
    w_first = np.where(used, weights * first, 0.0)
    w_second = np.where(used, weights * second, 0.0)
    gradient = np.empty(size)
    hessian = np.zeros((size, size))
    for k in range(K):
        rows = slice(k * p, (k + 1) * p)
        gradient[rows] = data.X.T @ w_first[:, k]
        scaled = data.X * w_second[:, k:k + 1]
        hessian[rows, rows] = scaled.T @ data.X
        if q:
            hessian[rows, K * p:] = scaled.T @ data.F
            hessian[K * p:, rows] = hessian[rows, K * p:].T
    if q:
        gradient[K * p:] = data.F.T @ w_first.sum(axis=1)
        hessian[K * p:, K * p:] = (data.F * w_second.sum(axis=1)[:, None]).T @ data.F
    return {"value": float(np.sum(np.where(used, weights * log_f, 0.0))), "gradient": gradient, "hessian": hessian}


def _dispersion_pass(model: RegressionMixtureModel, chunk: Any, source, params: Params) -> dict[str, np.ndarray]:
    """Per component ``Σ w r`` and ``Σ w r (y − μ)²`` (gaussian) or ``Σ w r (log y − η − y e^{−η})`` (gamma)."""
    data = model.prepare(chunk)
    weights = model.posteriors(data, source) * data.weight[:, None]
    eta = model.eta(data, params)
    out = {"weight": weights.sum(axis=0)}
    if model.family == "gaussian":
        out["squares"] = np.sum(weights * (data.y[:, None] - eta) ** 2, axis=0)
    else:
        out["terms"] = np.sum(np.where(weights > 0, weights * gamma_shape_terms(data.y[:, None], eta), 0.0), axis=0)
    return out


def _count_pass(model: RegressionMixtureModel, chunk: Any, source) -> dict[str, np.ndarray]:
    data = model.prepare(chunk)
    return {"n": data.weight @ model.posteriors(data, source)}
