"""A regularised M-step is not a wrong M-step (issue 13, item 4).

* the ascent check watches the objective the fit ascends: a fall that the ``reg_covar`` floor
  explains is no ``AscentWarning`` (a ``RegularizationWarning`` when a component collapsed), a
  larger one still is;
* the conjugate prior (inverse-Wishart / inverse-gamma on covariances, Dirichlet on weights)
  makes EM MAP-EM: the log-posterior never falls, and EM's answer is the maximizer found by
  direct numerical maximization;
* a component collapsed onto one point is no error where scikit-learn fits.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import emkit
from emkit import AscentWarning, RegularizationWarning
from emkit.kernels.covariance_regularization import CovariancePrior, floor_shortfall
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.models.gaussian_mixture import GaussianMixtureModel

from direct_mle import maximize
from gaussian_reference import full_covariances


# ------------------------------------------------------------------ (a) the ascent check
def test_scikit_learn_reg_covar_example_fits_without_warnings():
    """scikit-learn's test_gaussian_mixture_attributes (reg_covar=0.1 on 10 uniform rows):
    the floor lowers the likelihood; on main that was an AscentWarning at every seed."""
    for seed in range(5):
        X = np.random.RandomState(seed).rand(10, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            emkit.GaussianMixture(2, tol=1e-4, n_init=3, max_iter=30, reg_covar=0.1, init_params="random",
                                  random_state=seed).fit(X)


def _daily_returns(seed: int, n: int = 2500) -> np.ndarray:
    """Two volatility regimes of daily returns (sd 0.7% and 2%: variances ~1e-4)."""
    rng = np.random.default_rng(seed)
    switches = rng.random(n) >= 0.98
    states = np.cumsum(switches) % 2
    return (0.0004 + np.where(states == 0, 0.007, 0.02) * rng.standard_normal(n))[:, None]


@pytest.mark.parametrize("seed", [1, 4])
def test_gaussian_hmm_on_daily_returns_no_false_alarm(seed):
    """reg_covar=1e-6 is 1% of these variances, so the likelihood may fall near the optimum;
    on main that was "the E- or M-step of HiddenMarkovModel is wrong"."""
    X = _daily_returns(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        model = emkit.GaussianHMM(2, "diag", random_state=seed, n_iter=500, tol=1e-6).fit(X)
    assert np.isfinite(model.score(X))


def test_collapsed_component_is_named_with_the_remedy():
    """8 rows, 3 diagonal components, reg_covar=1e-6: component 2 collapses onto one row; the
    fall of ℓ is reported as the regularisation's, naming the component and the remedy."""
    rng = np.random.default_rng(30)
    n, d, k = int(rng.integers(6, 30)), int(rng.integers(1, 3)), int(rng.integers(2, 4))
    X = rng.normal(size=(n, d)) * rng.uniform(0.01, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emkit.fit(GaussianMixtureModel(k, "diag", reg_covar=1e-6), X, random_state=30, n_init=3, max_iter=300,
                  tol=1e-9, param_tol=None)
    categories = {w.category for w in caught}
    assert AscentWarning not in categories
    message = next(str(w.message) for w in caught if w.category is RegularizationWarning)
    assert "Gaussian component 2 collapsed" in message and "covariance_prior" in message


class _WrongMeans(GaussianMixtureModel):
    """A wrong M-step: the means are pushed away from the weighted means."""

    def m_step(self, stats, params):
        new = super().m_step(stats, params)
        return {**new, "means": new["means"] + 0.5}


@pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_a_wrong_m_step_is_still_an_ascent_warning(reg_covar):
    X = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.warns(AscentWarning, match="wrong"):
        emkit.fit(_WrongMeans(2, "full", reg_covar=reg_covar), X, max_iter=5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_floor_shortfall_is_the_loss_in_q(covariance_type):
    """Against Q_k(Σ) = −(n_k/2)(log|Σ| + tr(Σ⁻¹ C_k)) evaluated directly (tied: one Σ, N rows;
    spherical: σ² I)."""
    rng = np.random.default_rng(1)
    d, k, eps = 3, 2, 0.05
    counts = np.array([4.0, 7.5])
    A = rng.normal(size=(k, d, d))
    full = A @ np.swapaxes(A, 1, 2) / d + 0.01 * np.eye(d)

    def q(n, cov_full, scatter_full):
        sign, log_det = np.linalg.slogdet(cov_full)
        return -0.5 * n * (log_det + np.trace(np.linalg.solve(cov_full, scatter_full)))

    if covariance_type == "full":
        scatter, expected = full, sum(q(counts[j], full[j], full[j]) - q(counts[j], full[j] + eps * np.eye(d), full[j])
                                      for j in range(k))
        weights = counts
    elif covariance_type == "tied":
        scatter = full[0]
        expected = q(counts.sum(), full[0], full[0]) - q(counts.sum(), full[0] + eps * np.eye(d), full[0])
        weights = counts
    elif covariance_type == "diag":
        scatter = np.diagonal(full, axis1=1, axis2=2).copy()
        expected = sum(q(counts[j], np.diag(scatter[j]), np.diag(scatter[j]))
                       - q(counts[j], np.diag(scatter[j] + eps), np.diag(scatter[j])) for j in range(k))
        weights = counts
    else:
        scatter = np.array([0.3, 0.02])
        expected = sum(q(counts[j], scatter[j] * np.eye(d), scatter[j] * np.eye(d))
                       - q(counts[j], (scatter[j] + eps) * np.eye(d), scatter[j] * np.eye(d)) for j in range(k))
        weights = counts * d
    shortfall, _ = floor_shortfall(scatter, weights, eps, covariance_type)
    assert shortfall.sum() == pytest.approx(expected, rel=1e-10)


# ------------------------------------------------------------------ (b) the conjugate prior
def _fit_map(X, k, covariance_type, scale, dof, alpha, seed):
    model = GaussianMixtureModel(k, covariance_type, weight_concentration=alpha,
                                 covariance_prior=CovariancePrior(scale, dof))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        warnings.simplefilter("ignore", emkit.DegenerateComponentWarning)
        return model, emkit.fit(model, X, random_state=seed, n_init=2, max_iter=60, tol=0.0, param_tol=None)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), covariance_type=st.sampled_from(COVARIANCE_TYPES),
       k=st.integers(2, 4), scale=st.floats(1e-3, 1.0), alpha=st.floats(1.0, 5.0), shape=st.sampled_from(
           ["cluster", "one point apart", "duplicated points"]))
def test_log_posterior_never_decreases(seed, covariance_type, k, scale, alpha, shape):
    """MAP-EM's monitored objective, ℓ + log p(θ), is monotone, with collapsing components
    too (a row far from the others, rows repeated): no AscentWarning, no fall in the trace, and
    the log-posterior computed independently (scipy's densities) never falls either."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(int(rng.integers(k, 25)), 2)) * rng.uniform(0.01, 3.0)
    if shape == "one point apart":
        X[0] = [40.0, -40.0]
    elif shape == "duplicated points":
        X = np.vstack([X, np.repeat(X[:1], 5, axis=0)])
    model, result = _fit_map(X, k, covariance_type, scale, None, alpha, seed)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-10 * np.maximum(1.0, np.abs(trace[:-1])))
    direct = np.array([_log_likelihood_direct(X, model, p) + model.log_prior(p) for p in result.trace.params])
    assert np.all(np.diff(direct) >= -1e-10 * np.maximum(1.0, np.abs(direct[:-1])))


def _log_likelihood_direct(X, model, params):
    """``Σ_i log Σ_k π_k N(x_i | μ_k, Σ_k)`` by scipy (covariances expanded to full matrices)."""
    full = full_covariances(params["covariances"], model.covariance_type, model.n_components, X.shape[1])
    log_joint = np.column_stack([np.log(np.maximum(w, 1e-300)) + stats.multivariate_normal(m, c).logpdf(X)
                                 for w, m, c in zip(params["weights"], params["means"], full)])
    return float(np.sum(np.logaddexp.reduce(log_joint, axis=1)))


def _log_posterior_direct(X, weights, means, covariances, scale, dof, alpha):
    """ℓ by scipy's densities, plus scipy's Dirichlet and inverse-Wishart log densities."""
    density = sum(w * stats.multivariate_normal(m, c).pdf(X) for w, m, c in zip(weights, means, covariances))
    prior = stats.dirichlet(np.full(len(weights), alpha)).logpdf(weights)
    prior += sum(stats.invwishart(df=dof, scale=scale).logpdf(c) for c in covariances)
    return float(np.log(density).sum() + prior)


def test_map_is_the_direct_maximizer_of_the_log_posterior():
    """Two full-covariance components in 2-D, IW(Ψ, ν) and Dirichlet(α): EM's fixed point
    equals the maximizer of ℓ + log p(θ) found by BFGS and a root finder on the score (complex-
    step gradients), and EM's objective equals scipy's log-posterior up to one constant."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(15, 2)), rng.normal(size=(10, 2)) * 0.5 + [2.5, 1.0], [[2.5, 1.0]] * 2])
    scale, dof, alpha = 0.3 * np.eye(2), 4.0, 3.0
    model = GaussianMixtureModel(2, "full", weight_concentration=alpha, covariance_prior=CovariancePrior(scale, dof))
    result = emkit.fit(model, X, tol=1e-14, param_tol=1e-12)

    def unpack(theta):
        logit, means = theta[0], theta[1:5].reshape(2, 2)
        weights = [1.0 / (1.0 + np.exp(-logit)), 1.0 / (1.0 + np.exp(logit))]
        factors = [(np.exp(theta[5 + 3 * j]), theta[6 + 3 * j], np.exp(theta[7 + 3 * j])) for j in range(2)]
        return weights, means, factors

    def log_posterior(theta):
        weights, means, factors = unpack(theta)
        total_density, prior = 0.0, (alpha - 1.0) * (np.log(weights[0]) + np.log(weights[1]))
        for w, m, (a, b, c) in zip(weights, means, factors):
            s11, s12, s22 = a * a, a * b, b * b + c * c          # Σ = L Lᵀ, L = [[a, 0], [b, c]]
            det = s11 * s22 - s12 * s12
            dx, dy = X[:, 0] - m[0], X[:, 1] - m[1]
            maha = (s22 * dx * dx - 2 * s12 * dx * dy + s11 * dy * dy) / det
            total_density = total_density + w * np.exp(-0.5 * maha) / (2 * np.pi * np.sqrt(det))
            trace = (scale[0, 0] * s22 + scale[1, 1] * s11 - 2 * scale[0, 1] * s12) / det
            prior = prior - 0.5 * (dof + 3.0) * np.log(det) - 0.5 * trace
        return np.sum(np.log(total_density)) + prior

    fitted = result.params
    chol = np.linalg.cholesky(fitted["covariances"])
    start = np.concatenate([[np.log(fitted["weights"][0] / fitted["weights"][1])], fitted["means"].ravel()]
                           + [[np.log(L[0, 0]), L[1, 0], np.log(L[1, 1])] for L in chol])
    direct = maximize(log_posterior, start + np.random.default_rng(0).normal(scale=0.05, size=start.size))
    weights, means, factors = unpack(direct)
    assert np.allclose(fitted["weights"], weights, atol=1e-7)
    assert np.allclose(fitted["means"], means, atol=1e-7)
    covariances = np.array([[[a * a, a * b], [a * b, b * b + c * c]] for a, b, c in factors])
    assert np.allclose(fitted["covariances"], covariances, atol=1e-7)
    # The monitored objective is ℓ + log p(θ): its difference from scipy's is one constant.
    first = result.trace.params[0]
    offsets = [loglik - _log_posterior_direct(X, p["weights"], p["means"], p["covariances"], scale, dof, alpha)
               for loglik, p in ((result.trace.loglik[0], first), (result.loglik, fitted))]
    assert offsets[0] == pytest.approx(offsets[1], abs=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_estimator_prior_keywords(covariance_type):
    """GaussianMixture(covariance_prior=..., weight_concentration_prior=...) fits MAP-EM: the
    lower bounds never fall, a component on a single row keeps a positive-definite covariance
    no smaller than the prior's pull, and bad values are ValueErrors naming the keyword."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 2)), [[6.0, 6.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        gm = emkit.GaussianMixture(3, covariance_type=covariance_type, covariance_prior=0.5,
                                   weight_concentration_prior=2.0, random_state=0, tol=1e-10, max_iter=300).fit(X)
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-12)
    assert np.all(gm.weights_ > 0) and np.isfinite(gm.score(X))
    with pytest.raises(ValueError, match="covariance_prior"):
        emkit.GaussianMixture(2, covariance_type=covariance_type, covariance_prior=-1.0).fit(X)
    with pytest.raises(ValueError, match="degrees_of_freedom_prior"):
        emkit.GaussianMixture(2, covariance_type=covariance_type, covariance_prior=1.0,
                              degrees_of_freedom_prior=-5.0).fit(X)
    with pytest.raises(ValueError, match="weight_concentration_prior"):
        emkit.GaussianMixture(2, covariance_type=covariance_type, weight_concentration_prior=0.5).fit(X)


# -------------------------------------------------- (c) a collapsed component is no error
def test_scikit_learn_setting_best_params_passes(monkeypatch):
    """scikit-learn's own test (reg_covar=0, a spherical component on one row), run with
    emkit.GaussianMixture in place; on main it raised "the variance of component 0 is not
    positive"."""
    sklearn_tests = pytest.importorskip("sklearn.mixture.tests.test_gaussian_mixture")
    monkeypatch.setattr(sklearn_tests, "GaussianMixture", emkit.GaussianMixture)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        sklearn_tests.test_gaussian_mixture_setting_best_params()
