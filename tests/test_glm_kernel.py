"""kernels/glm.py: densities against scipy.stats, derivatives against difference quotients, additivity
over rows, a weighted GLM fit by Newton against scipy.optimize, and the gamma shape's M-step."""

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import expit

from emkit.kernels.glm import (gamma_shape, gamma_shape_terms, glm_derivatives, glm_log_density, glm_mean)
from emkit.kernels.newton import maximize_concave

N = 80


def _data(family, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, 2))])
    beta = np.array([0.3, 0.5, -0.4])
    eta = X @ beta
    trials = rng.integers(1, 8, size=N).astype(float) if family == "binomial" else None
    y = {"gaussian": eta + rng.normal(size=N), "poisson": rng.poisson(np.exp(eta)).astype(float),
         "binomial": None if trials is None else rng.binomial(trials.astype(int), expit(eta)).astype(float),
         "gamma": rng.gamma(3.0, np.exp(eta) / 3.0)}[family]
    dispersion = {"gaussian": 1.7, "gamma": 3.0}.get(family)
    return X, y, trials, dispersion, rng.uniform(0.1, 2.0, N)


def _scipy_log_density(family, y, eta, dispersion, trials):
    if family == "gaussian":
        return stats.norm.logpdf(y, eta, np.sqrt(dispersion))
    if family == "poisson":
        return stats.poisson.logpmf(y, np.exp(eta))
    if family == "binomial":
        return stats.binom.logpmf(y, trials, expit(eta))
    return stats.gamma.logpdf(y, dispersion, scale=np.exp(eta) / dispersion)


FAMILIES = ["gaussian", "poisson", "binomial", "gamma"]


@pytest.mark.parametrize("family", FAMILIES)
def test_density_and_mean_match_scipy(family):
    X, y, trials, dispersion, _ = _data(family)
    eta = X @ np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(glm_log_density(family, y, eta, dispersion, trials),
                               _scipy_log_density(family, y, eta, dispersion, trials), rtol=1e-10, atol=1e-12)
    expected = {"gaussian": eta, "poisson": np.exp(eta), "gamma": np.exp(eta),
                "binomial": None if trials is None else trials * expit(eta)}[family]
    np.testing.assert_allclose(glm_mean(family, eta, trials), expected, rtol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_derivatives_are_exact_and_add_over_rows(family):
    X, y, trials, dispersion, w = _data(family, seed=1)
    coef = np.array([0.2, 0.1, -0.3])
    value, gradient, hessian = glm_derivatives(family, X, y, w, coef, dispersion=dispersion, trials=trials)
    h = 1e-6
    for j in range(3):
        e = np.eye(3)[j] * h
        plus = glm_derivatives(family, X, y, w, coef + e, dispersion=dispersion, trials=trials)
        minus = glm_derivatives(family, X, y, w, coef - e, dispersion=dispersion, trials=trials)
        assert gradient[j] == pytest.approx((plus[0] - minus[0]) / (2 * h), rel=1e-6, abs=1e-6)
        np.testing.assert_allclose(hessian[:, j], (plus[1] - minus[1]) / (2 * h), rtol=1e-5, atol=1e-5)
    half = N // 2
    parts = [glm_derivatives(family, X[s], y[s], w[s], coef, dispersion=dispersion,
                             trials=None if trials is None else trials[s])
             for s in (slice(0, half), slice(half, N))]
    assert parts[0][0] + parts[1][0] == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(parts[0][1] + parts[1][1], gradient, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(parts[0][2] + parts[1][2], hessian, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("family", FAMILIES)
def test_weighted_newton_fit_matches_scipy(family):
    X, y, trials, dispersion, w = _data(family, seed=2)

    def objective(coef):
        return float(w @ _scipy_log_density(family, y, X @ coef, dispersion, trials))

    ours = maximize_concave(lambda c: glm_derivatives(family, X, y, w, c, dispersion=dispersion, trials=trials),
                            np.zeros(3)).theta
    reference = optimize.minimize(lambda c: -objective(c), np.zeros(3), method="BFGS", options={"gtol": 1e-9}).x
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert objective(ours) >= objective(reference) - 1e-9


def test_gamma_shape_maximises_the_weighted_gamma_likelihood():
    X, y, _, _, w = _data("gamma", seed=3)
    eta = X @ np.array([0.3, 0.5, -0.4])
    shape = gamma_shape(w.sum(), float(w @ gamma_shape_terms(y, eta)))
    reference = optimize.minimize_scalar(
        lambda log_nu: -float(w @ stats.gamma.logpdf(y, np.exp(log_nu), scale=np.exp(eta) / np.exp(log_nu))),
        bounds=(-5, 8), method="bounded", options={"xatol": 1e-12})
    assert shape == pytest.approx(np.exp(reference.x), rel=1e-6)
