"""Weighted generalised linear models: log-densities, derivatives in the linear predictor, dispersion.

Four families, each with its usual link ``η = g(μ)``:

    gaussian  identity  log f = −½ log(2πσ²) − (y − η)²/(2σ²)           (dispersion σ², the variance)
    poisson   log       log f = yη − e^η − log y!
    binomial  logit     log f = log C(m, y) + yη − m log(1 + e^η)     (m trials, y successes)
    gamma     log       log f = ν log ν − log Γ(ν) + (ν − 1) log y − νη − ν y e^{−η}   (dispersion: shape ν)

The derivatives ``∂ log f/∂η`` and ``∂² log f/∂η²`` are exact; for the canonical links (the
first three) the second equals minus the Fisher weight, so Newton is Fisher scoring (IRLS); for
the gamma family with log link it is ``−ν y e^{−η} < 0``, so the log-likelihood is concave in the
coefficients there too. :func:`glm_derivatives` gives the weighted sums over rows (additive:
halves of the rows add to the whole) for a design ``X``: ``∇ = Xᵀ(w·∂ℓ)``, ``∇² = Xᵀ diag(w·∂²ℓ) X``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, log_expit, polygamma, psi

from .glm_families import GLM_FAMILIES
from .newton import maximize_concave

#: Families with a dispersion parameter (gaussian: the variance; gamma: the shape).
WITH_DISPERSION = ("gaussian", "gamma")


def check_family(family: str) -> str:
    """The family name, or ``ValueError`` naming ``family``."""
    if family not in GLM_FAMILIES:
        raise ValueError(f"family: expected one of {GLM_FAMILIES}, got {family!r}")
    return family


def glm_mean(family: str, eta: np.ndarray, trials: np.ndarray | None = None) -> np.ndarray:
    """``E[y | η]``: η (gaussian), e^η (poisson, gamma), ``m·expit(η)`` (binomial)."""
    eta = np.asarray(eta, dtype=float)
    if family == "gaussian":
        return eta
    if family == "binomial":
        return _trials(trials, eta) * expit(eta)
    with np.errstate(over="ignore"):
        return np.exp(eta)


def glm_eta_derivatives(family: str, y: np.ndarray, eta: np.ndarray, dispersion: np.ndarray | None = None,
                        trials: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log f, ∂ log f/∂η, ∂² log f/∂η²)`` elementwise, broadcast over ``y`` (n, 1 or n) and
    ``eta`` (n, K); ``dispersion`` (K,) for gaussian and gamma. Values outside the domain
    (overflow) are ``-inf`` with NaN derivatives, never a warning."""
    y = np.asarray(y, dtype=float)
    eta = np.asarray(eta, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        if family == "gaussian":
            variance = np.asarray(dispersion, dtype=float)
            residual = y - eta
            log_f = -0.5 * np.log(2.0 * np.pi * variance) - 0.5 * residual ** 2 / variance
            first = residual / variance
            second = np.broadcast_to(-1.0 / variance, np.broadcast(y, eta).shape)
        elif family == "poisson":
            rate = np.exp(eta)
            log_f = y * eta - rate - gammaln(y + 1.0)
            first, second = y - rate, -rate
        elif family == "binomial":
            m = _trials(trials, eta)
            p = expit(eta)
            log_f = (gammaln(m + 1.0) - gammaln(y + 1.0) - gammaln(m - y + 1.0)
                     + y * log_expit(eta) + (m - y) * log_expit(-eta))
            first, second = y - m * p, -m * p * (1.0 - p)
        elif family == "gamma":
            shape = np.asarray(dispersion, dtype=float)
            scaled = y * np.exp(-eta)
            log_f = (shape * np.log(shape) - gammaln(shape) + (shape - 1.0) * np.log(y) - shape * eta
                     - shape * scaled)
            first, second = shape * (scaled - 1.0), -shape * scaled
        else:
            check_family(family)
        bad = ~np.isfinite(log_f)
        if np.any(bad):
            log_f = np.where(bad, -np.inf, log_f)
            first = np.where(bad, np.nan, first)
            second = np.where(bad, np.nan, second)
    return log_f, first, np.asarray(second)


def glm_log_density(family: str, y: np.ndarray, eta: np.ndarray, dispersion: np.ndarray | None = None,
                    trials: np.ndarray | None = None) -> np.ndarray:
    """``log f(y | η)`` elementwise (see :func:`glm_eta_derivatives` for shapes)."""
    return glm_eta_derivatives(family, y, eta, dispersion, trials)[0]


def glm_derivatives(family: str, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None, coef: np.ndarray, *,
                    dispersion: float | None = None, trials: np.ndarray | None = None,
                    offset: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Value, gradient and Hessian in ``coef`` of ``Σ_i w_i log f(y_i | η_i)``, ``η = offset + X coef``.

    Parameters
    ----------
    family : str
        One of :data:`GLM_FAMILIES`.
    X : ndarray, shape (n, p)
    y : ndarray, shape (n,)
    weights : ndarray, shape (n,), or None
        Row weights (e.g. responsibilities times sample weights; None: ones).
    coef : ndarray, shape (p,)
    dispersion : float, optional
        The variance (gaussian) or shape (gamma), held fixed.
    trials : ndarray, shape (n,), optional
        Binomial trials (default 1).
    offset : ndarray, shape (n,), optional

    Returns
    -------
    value : float
    gradient : ndarray, shape (p,)
    hessian : ndarray, shape (p, p)
    """
    X = np.asarray(X, dtype=float)
    eta = X @ np.asarray(coef, dtype=float)
    if offset is not None:
        eta = eta + offset
    log_f, first, second = glm_eta_derivatives(family, y, eta, dispersion, trials)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)
    if not np.all(np.isfinite(log_f[w > 0])):
        return -np.inf, np.full(X.shape[1], np.nan), np.full((X.shape[1], X.shape[1]), np.nan)
    w_first = np.where(w > 0, w * first, 0.0)
    w_second = np.where(w > 0, w * second, 0.0)
    value = float(np.sum(np.where(w > 0, w * log_f, 0.0)))
    return value, X.T @ w_first, (X * w_second[:, None]).T @ X


def gaussian_variance(sum_weights: np.ndarray, sum_squares: np.ndarray) -> np.ndarray:
    """The closed-form M-step of the gaussian variance: ``σ² = Σ w (y − μ)² / Σ w`` per component."""
    return np.asarray(sum_squares, dtype=float) / np.asarray(sum_weights, dtype=float)


def gamma_shape_terms(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """``log y − η − y e^{−η}`` elementwise: the shape's weighted sufficient statistic (summed with
    the weights, it and ``Σw`` give the shape's M-step, :func:`gamma_shape`)."""
    with np.errstate(over="ignore"):
        return np.log(y) - eta - y * np.exp(-eta)


def gamma_shape(sum_weights: float, sum_terms: float, *, tol: float = 1e-12) -> float:
    """The gamma shape ``ν`` maximising ``Σw [ν log ν − log Γ(ν)] + ν Σw (log y − η − y e^{−η})``.

    The score equation is ``log ν − ψ(ν) = s`` with ``s = −1 − Σw(log y − η − y e^{−η})/Σw > 0``;
    Minka's closed-form approximation ``ν₀ = (3 − s + √((s − 3)² + 24s)) / (12s)`` starts a 1-D
    Newton iteration on the (concave) objective, which makes it exact.
    """
    s = -1.0 - sum_terms / sum_weights
    if not s > 0:
        raise FloatingPointError("the gamma shape is unbounded: the weighted rows fit their means exactly")
    start = (3.0 - s + np.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)

    def derivatives(theta: np.ndarray):
        nu = theta[0]
        if not nu > 0:
            return -np.inf, np.full(1, np.nan), np.full((1, 1), np.nan)
        value = sum_weights * (nu * np.log(nu) - gammaln(nu)) + nu * sum_terms
        gradient = sum_weights * (np.log(nu) + 1.0 - psi(nu)) + sum_terms
        hessian = sum_weights * (1.0 / nu - polygamma(1, nu))
        return value, np.array([gradient]), np.array([[hessian]])

    return float(maximize_concave(derivatives, np.array([start]), tol=tol).theta[0])


def glm_sample(family: str, eta: np.ndarray, dispersion: np.ndarray | None, trials: np.ndarray | None,
               rng: np.random.Generator) -> np.ndarray:
    """One draw of ``y`` per entry of ``eta`` (with the matching ``dispersion`` and ``trials``)."""
    mean = glm_mean(family, eta, trials)
    if family == "gaussian":
        return rng.normal(mean, np.sqrt(dispersion))
    if family == "poisson":
        return rng.poisson(mean).astype(float)
    if family == "binomial":
        return rng.binomial(_trials(trials, eta).astype(np.int64), expit(eta)).astype(float)
    shape = np.asarray(dispersion, dtype=float)
    return rng.gamma(shape, mean / shape)


def glm_working_response(family: str, y: np.ndarray, trials: np.ndarray | None = None) -> np.ndarray:
    """``g(y)`` nudged into the link's domain (glm's ``mustart``): a least-squares fit of it gives
    starting coefficients."""
    y = np.asarray(y, dtype=float)
    if family == "gaussian":
        return y
    if family == "poisson":
        return np.log(y + 0.5)
    if family == "binomial":
        m = _trials(trials, y)
        return np.log((y + 0.5) / (m - y + 0.5))
    return np.log(y)


def _trials(trials: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    return np.ones(1) if trials is None else np.asarray(trials, dtype=float).reshape(-1, *([1] * (np.ndim(like) - 1)))
