"""An independent observed-data log-likelihood of mixtures of GLM regressions (scipy.stats densities)
and its direct maximisation with scipy.optimize from several starts (no EM, no emkit kernels)."""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats
from scipy.special import expit, logsumexp


def unpack(vector, K, p, q, r, family):
    """coef (K, p incl. intercept), fixed (q,), dispersion (K,), log weights (n or 1, K) maker."""
    at = 0
    coef = vector[at:at + K * p].reshape(K, p)
    at += K * p
    fixed = vector[at:at + q]
    at += q
    dispersion = None
    if family in ("gaussian", "gamma"):
        dispersion = np.exp(vector[at:at + K])
        at += K
    if r:
        concomitant = vector[at:at + r * (K - 1)].reshape(r, K - 1)
        weights = None
    else:
        concomitant = None
        logits = np.concatenate([[0.0], vector[at:at + K - 1]])
        weights = np.exp(logits - logsumexp(logits))
    return coef, fixed, dispersion, weights, concomitant


def log_component_densities(family, y, mean_eta, dispersion, trials):
    if family == "gaussian":
        return stats.norm.logpdf(y[:, None], mean_eta, np.sqrt(dispersion))
    if family == "poisson":
        return stats.poisson.logpmf(y[:, None], np.exp(mean_eta))
    if family == "binomial":
        return stats.binom.logpmf(y[:, None], trials[:, None], expit(mean_eta))
    return stats.gamma.logpdf(y[:, None], dispersion, scale=np.exp(mean_eta) / dispersion)


def loglik(vector, family, y, X, F, Z, K, trials):
    """``Σ_i log Σ_k π_k(z_i) f(y_i | x_i β_k + f_i γ, φ_k)``; X and Z include their columns of ones."""
    p, q, r = X.shape[1], F.shape[1], 0 if Z is None else Z.shape[1]
    coef, fixed, dispersion, weights, concomitant = unpack(vector, K, p, q, r, family)
    eta = X @ coef.T + (F @ fixed)[:, None]
    if concomitant is not None:
        logits = np.column_stack([np.zeros(len(y)), Z @ concomitant])
        log_w = logits - logsumexp(logits, axis=1, keepdims=True)
    else:
        log_w = np.log(weights)[None, :]
    with np.errstate(all="ignore"):
        value = np.sum(logsumexp(log_w + log_component_densities(family, y, eta, dispersion, trials), axis=1))
    return float(value) if np.isfinite(value) else -1e300


def direct_maximum(family, y, X, F, Z, K, trials, starts):
    """The best of BFGS maximisations from ``starts`` (flat vectors as :func:`unpack` reads them)."""
    best = None
    for start in starts:
        result = optimize.minimize(lambda v: -loglik(v, family, y, X, F, Z, K, trials), start, method="BFGS",
                                   options={"gtol": 1e-7, "maxiter": 5000})
        if best is None or result.fun < best.fun:
            best = result
    return best.x, -best.fun


def vector_of(estimator, family):
    """The flat vector of a fitted RegressionMixture, in :func:`unpack`'s parameterisation."""
    coef = np.column_stack([estimator.intercept_, estimator.coef_])
    parts = [coef.ravel(), estimator.fixed_coef_]
    if family in ("gaussian", "gamma"):
        parts.append(np.log(estimator.dispersion_))
    if hasattr(estimator, "concomitant_coef_"):
        parts.append(estimator.concomitant_coef_.ravel())
    else:
        parts.append(np.log(estimator.weights_[1:] / estimator.weights_[0]))
    return np.concatenate(parts)
