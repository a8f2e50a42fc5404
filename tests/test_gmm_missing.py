"""Missing values: the EM for incomplete data against a direct maximization of the observed likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from emkit import GaussianMixture, fit
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.models.gaussian_mixture import GaussianMixtureModel


def incomplete_data(seed=0, n=50, fraction=0.25):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.multivariate_normal([0.0, 0.0], [[1.0, 0.6], [0.6, 1.5]], n // 2),
                   rng.multivariate_normal([3.0, 2.0], [[0.5, -0.2], [-0.2, 0.8]], n - n // 2)])
    drop = rng.random(X.shape) < fraction
    drop[drop.all(axis=1), 0] = False
    X[drop] = np.nan
    return X


def observed_loglik(X, weights, means, covariances):
    """Σ_i log Σ_k π_k N(x_i,o | μ_k,o, Σ_k,oo) for 2-D data, with explicit 2×2 / 1×1 formulas."""
    observed = ~np.isnan(X)
    both = observed.all(axis=1)
    x = np.nan_to_num(X)
    columns = []
    for w, mu, S in zip(weights, means, covariances):
        diff = x - mu
        det = S[0, 0] * S[1, 1] - S[0, 1] ** 2
        quad = (S[1, 1] * diff[:, 0] ** 2 - 2 * S[0, 1] * diff[:, 0] * diff[:, 1] + S[0, 0] * diff[:, 1] ** 2) / det
        joint = -np.log(2 * np.pi) - 0.5 * np.log(det) - 0.5 * quad
        j = np.where(observed[:, 0], 0, 1)
        variance = S[j, j]
        single = -0.5 * np.log(2 * np.pi * variance) - 0.5 * diff[np.arange(len(x)), j] ** 2 / variance
        columns.append(np.log(w) + np.where(both, joint, single))
    return float(logsumexp(np.stack(columns, axis=1), axis=1).sum())


def unpack(theta, covariance_type):
    """Unconstrained vector -> (weights, means, full covariances) for k = 2, d = 2."""
    w = 1.0 / (1.0 + np.exp(-theta[0]))
    weights = np.array([w, 1.0 - w])
    means = theta[1:5].reshape(2, 2)
    rest = theta[5:]

    def chol(a, b, c):
        L = np.array([[np.exp(a), 0.0], [b, np.exp(c)]])
        return L @ L.T

    if covariance_type == "full":
        covs = np.stack([chol(*rest[0:3]), chol(*rest[3:6])])
    elif covariance_type == "tied":
        covs = np.stack([chol(*rest[0:3])] * 2)
    elif covariance_type == "diag":
        covs = np.stack([np.diag(np.exp(rest[0:2])), np.diag(np.exp(rest[2:4]))])
    else:
        covs = np.stack([np.exp(rest[0]) * np.eye(2), np.exp(rest[1]) * np.eye(2)])
    return weights, means, covs


def pack(params, covariance_type):
    w = params["weights"][0]
    theta = [np.log(w / (1 - w)), *params["means"].ravel()]
    cov = params["covariances"]

    def chol_entries(S):
        L = np.linalg.cholesky(S)
        return [np.log(L[0, 0]), L[1, 0], np.log(L[1, 1])]

    if covariance_type == "full":
        theta += chol_entries(cov[0]) + chol_entries(cov[1])
    elif covariance_type == "tied":
        theta += chol_entries(cov)
    else:
        theta += list(np.log(np.ravel(cov)))
    return np.array(theta)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_missing_value_em_equals_direct_maximization(covariance_type):
    X = incomplete_data()
    model = GaussianMixtureModel(2, covariance_type, reg_covar=0.0)
    result = fit(model, X, tol=1e-13, param_tol=1e-11)
    assert result.converged
    em = result.params
    # the log-likelihood EM reports is the observed-data one
    full = em["covariances"] if covariance_type != "tied" else np.stack([em["covariances"]] * 2)
    if covariance_type == "diag":
        full = np.stack([np.diag(v) for v in em["covariances"]])
    if covariance_type == "spherical":
        full = np.stack([v * np.eye(2) for v in em["covariances"]])
    assert result.loglik == pytest.approx(observed_loglik(X, em["weights"], em["means"], full), rel=1e-12)
    # an optimizer started elsewhere finds the same maximum
    start = pack(em, covariance_type) + np.random.default_rng(1).normal(scale=0.15, size=pack(em, covariance_type).size)
    direct = minimize(lambda t: -observed_loglik(X, *unpack(t, covariance_type)), start, method="BFGS",
                      options={"gtol": 1e-9, "maxiter": 5000})
    weights, means, covs = unpack(direct.x, covariance_type)
    assert -direct.fun == pytest.approx(result.loglik, rel=1e-9)
    assert result.loglik >= -direct.fun - 1e-8
    np.testing.assert_allclose(weights, em["weights"], atol=2e-5)
    np.testing.assert_allclose(means, em["means"], atol=2e-5)
    np.testing.assert_allclose(covs, full, atol=5e-5)


def test_estimator_methods_use_the_observed_coordinates():
    X = incomplete_data(seed=2)
    estimator = GaussianMixture(2, tol=1e-10, random_state=0).fit(X)
    model_loglik = observed_loglik(X, estimator.weights_, estimator.means_, estimator.covariances_)
    assert estimator.score_samples(X).sum() == pytest.approx(model_loglik, rel=1e-12)
    assert estimator.score(X) * len(X) == pytest.approx(model_loglik, rel=1e-12)
    # posterior of a row with x2 missing, by hand: π_k N(x1 | μ_k1, Σ_k11)
    row = np.flatnonzero(np.isnan(X[:, 1]) & ~np.isnan(X[:, 0]))[0]
    x1 = X[row, 0]
    dens = [w * np.exp(-0.5 * (x1 - m[0]) ** 2 / S[0, 0]) / np.sqrt(S[0, 0])
            for w, m, S in zip(estimator.weights_, estimator.means_, estimator.covariances_)]
    np.testing.assert_allclose(estimator.predict_proba(X[[row]])[0], np.array(dens) / sum(dens), rtol=1e-12)
    # impute: posterior-weighted conditional means E[x2 | x1]
    expected = sum(p * (m[1] + S[1, 0] / S[0, 0] * (x1 - m[0]))
                   for p, m, S in zip(np.array(dens) / sum(dens), estimator.means_, estimator.covariances_))
    filled = estimator.impute(X)
    assert filled[row, 1] == pytest.approx(expected, rel=1e-12)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~np.isnan(X)], X[~np.isnan(X)])
    assert estimator.lower_bound_ * len(X) == pytest.approx(estimator.result_.loglik, rel=1e-14)


def test_all_missing_row_is_an_error_naming_the_row():
    X = incomplete_data()
    X[11] = np.nan
    with pytest.raises(ValueError, match="row 11"):
        GaussianMixture(2).fit(X)
    fitted = GaussianMixture(2, random_state=0).fit(incomplete_data())
    with pytest.raises(ValueError, match="row 11"):
        fitted.predict(X)


def test_missing_values_differ_from_dropping_or_filling_rows():
    """The incomplete rows carry information: the exact EM is not complete-case analysis."""
    X = incomplete_data(seed=3, fraction=0.3)
    complete_rows = ~np.isnan(X).any(axis=1)
    exact = GaussianMixture(2, tol=1e-10, max_iter=5000, random_state=0).fit(X)
    dropped = GaussianMixture(2, tol=1e-10, max_iter=5000, random_state=0).fit(X[complete_rows])
    assert not np.allclose(exact.means_, dropped.means_, atol=1e-3)
    # and the exact fit's observed-data likelihood beats the complete-case fit's on the full data
    assert exact.score(X) >= dropped.score(X)
