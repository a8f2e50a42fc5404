"""Mixtures of GLM regressions (emkit.RegressionMixture) against a direct maximisation of the observed
log-likelihood with scipy (tests/regression_reference.py), for each family, with shared coefficients
and concomitant weights; the ascent property with the inner Newton loop; the face's API."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

import emkit
from emkit.exceptions import AscentWarning, ConvergenceWarning
from emkit.latent.regression_mixture import RegressionMixtureModel
from regression_reference import direct_maximum, loglik, vector_of

TRUE_COEF = {"gaussian": [[-1.0, -2.0], [1.0, 2.0]], "poisson": [[0.3, 1.2], [1.5, -0.8]],
             "binomial": [[-1.5, 2.0], [1.5, -1.5]], "gamma": [[0.0, 1.0], [1.5, -1.0]]}


def simulate(family, n=200, seed=0, fixed=False, concomitant=False):
    """Columns of X: x (varying), then w (shared, coefficient 0.5) and z (concomitant) when asked."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, n)
    columns = [x]
    shared = np.zeros(n)
    if fixed:
        w = rng.normal(size=n)
        shared = 0.5 * w
        columns.append(w)
    if concomitant:
        z = rng.normal(size=n)
        second = rng.random(n) < expit(0.2 + 2.0 * z)
        columns.append(z)
    else:
        second = rng.random(n) < 0.45
    coef = np.asarray(TRUE_COEF[family])[second.astype(int)]
    eta = coef[:, 0] + coef[:, 1] * x + shared
    trials = np.full(n, 6.0) if family == "binomial" else None
    if family == "gaussian":
        y = eta + rng.normal(scale=0.6, size=n)
    elif family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif family == "binomial":
        y = rng.binomial(6, expit(eta)).astype(float)
    else:
        y = rng.gamma(5.0, np.exp(eta) / 5.0)
    return np.column_stack(columns), y, trials


def reference(family, X, y, trials, fixed, concomitant, seeds=4):
    n = len(y)
    trials = np.ones(n) if trials is None else trials
    varying = np.column_stack([np.ones(n), X[:, :1]])
    F = X[:, 1:2] if fixed else np.zeros((n, 0))
    Z = np.column_stack([np.ones(n), X[:, -1]]) if concomitant else None
    truth = [np.ravel(TRUE_COEF[family]), [0.5] if fixed else [],
             np.log([0.36, 0.36] if family == "gaussian" else [5.0, 5.0]) if family in ("gaussian", "gamma") else [],
             [0.2, 2.0] if concomitant else [np.log(0.45 / 0.55)]]
    start = np.concatenate([np.asarray(part, dtype=float) for part in truth])
    rng = np.random.default_rng(1)
    starts = [start] + [start + rng.normal(scale=0.3, size=start.size) for _ in range(seeds - 1)]
    vector, value = direct_maximum(family, y, varying, F, Z, 2, trials, starts)
    return vector, value, (varying, F, Z, trials)


CASES = [("gaussian", False, False), ("poisson", False, False), ("binomial", False, False), ("gamma", False, False),
         ("gaussian", True, False), ("poisson", False, True), ("binomial", True, True), ("gamma", True, True)]


@pytest.mark.parametrize("family,fixed,concomitant", CASES)
def test_fit_reaches_the_direct_maximum_of_the_observed_likelihood(family, fixed, concomitant):
    X, y, trials = simulate(family, seed=7, fixed=fixed, concomitant=concomitant)
    estimator = emkit.RegressionMixture(2, family=family, fixed=[1] if fixed else None,
                                        concomitant=[X.shape[1] - 1] if concomitant else None, n_init=3,
                                        random_state=0).fit(X, y, trials=trials)
    vector, value, design = reference(family, X, y, trials, fixed, concomitant)
    ours = loglik(vector_of(estimator, family), family, y, *design[:3], 2, design[3])
    assert estimator.converged_
    # Our estimate, evaluated by the independent likelihood, is the fit's own and the direct maximum.
    assert ours == pytest.approx(estimator.lower_bound_ * len(y), abs=1e-8)
    assert ours == pytest.approx(value, abs=2e-6)
    assert ours >= value - 1e-8
    # The same estimate: components matched by intercept (labels are arbitrary).
    direct_coef = vector[:4].reshape(2, 2)
    our_coef = np.column_stack([estimator.intercept_, estimator.coef_])
    np.testing.assert_allclose(our_coef[np.argsort(our_coef[:, 0])], direct_coef[np.argsort(direct_coef[:, 0])],
                               atol=2e-3)
    if fixed:
        assert estimator.fixed_coef_ == pytest.approx(vector[4:5], abs=2e-3)


def test_linear_and_poisson_mixtures_reach_the_maximum_of_many_independent_em_starts():
    # An independent EM (hand-written weighted least squares / IRLS, no emkit code) from 12 random
    # starts: the best maximum it finds is the one emkit's fit reaches.
    for family in ("gaussian", "poisson"):
        X, y, _ = simulate(family, n=300, seed=11)
        best = max(_independent_em(family, X[:, 0], y, seed) for seed in range(12))
        fitted = emkit.RegressionMixture(2, family=family, n_init=5, random_state=1).fit(X, y)
        assert fitted.lower_bound_ * len(y) == pytest.approx(best, abs=1e-6)


def _independent_em(family, x, y, seed, iterations=2000):
    rng = np.random.default_rng(seed)
    n = len(y)
    D = np.column_stack([np.ones(n), x])
    R = rng.dirichlet(np.ones(2), size=n)
    beta = np.zeros((2, 2))
    sigma2 = np.ones(2)
    previous = -np.inf
    for _ in range(iterations):
        pi = R.mean(axis=0)
        for k in range(2):
            w = R[:, k]
            if family == "gaussian":
                beta[k] = np.linalg.solve(D.T @ (D * w[:, None]), D.T @ (w * y))
                sigma2[k] = w @ (y - D @ beta[k]) ** 2 / w.sum()
            else:
                for _ in range(6):   # IRLS, warm-started at the previous iterate
                    mu = np.exp(D @ beta[k])
                    beta[k] += np.linalg.solve(D.T @ (D * (w * mu)[:, None]), D.T @ (w * (y - mu)))
        eta = D @ beta.T
        if family == "gaussian":
            log_f = -0.5 * np.log(2 * np.pi * sigma2) - 0.5 * (y[:, None] - eta) ** 2 / sigma2
        else:
            from scipy.special import gammaln

            log_f = y[:, None] * eta - np.exp(eta) - gammaln(y + 1)[:, None]
        joint = np.log(pi) + log_f
        top = joint.max(axis=1, keepdims=True)
        row = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
        R = np.exp(joint - row[:, None])
        if row.sum() - previous < 1e-12 * abs(row.sum()):
            break
        previous = row.sum()
    return float(row.sum())


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 1000), family=st.sampled_from(["gaussian", "poisson", "binomial", "gamma"]))
def test_ascent_with_one_inner_newton_step(seed, family):
    """A generalised EM step (the inner Newton loops cut to one step) never lowers ℓ, from a random
    start, with shared coefficients and concomitant weights."""
    X, y, trials = simulate(family, n=120, seed=seed, fixed=True, concomitant=True)
    n = len(y)
    matrix = np.column_stack([y, np.ones(n) if trials is None else trials, np.ones(n), np.ones(n), X[:, 0], X[:, 1],
                              np.ones(n), X[:, 2]])
    model = RegressionMixtureModel(2, family, 2, 1, 2, inner_max_iter=1)
    rng = np.random.default_rng(seed)
    start = model.initial_params(matrix, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AscentWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)   # 25 iterations on purpose
        result = emkit.fit(model, matrix, init=start, max_iter=25, tol=1e-15, param_tol=None)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))


def test_api_predict_score_sample_and_information_criteria():
    X, y, _ = simulate("poisson", seed=3)
    est = emkit.RegressionMixture(2, family="poisson", random_state=0).fit(X, y)
    proba = est.predict_proba(X, y)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1.0)
    expected = est.weights_ @ np.exp(est.intercept_[:, None] + est.coef_ @ X.T)
    np.testing.assert_allclose(est.predict(X), expected, rtol=1e-12)
    assert est.score(X, y) == pytest.approx(est.score_samples(X, y).mean(), rel=1e-12)
    assert est.score(X, y) == pytest.approx(est.lower_bound_, rel=1e-10)
    d = 2 * 2 + 1
    assert est.bic(X, y) == pytest.approx(-2 * est.score_samples(X, y).sum() + d * np.log(len(y)), rel=1e-12)
    assert est.aic(X, y) == pytest.approx(-2 * est.score_samples(X, y).sum() + 2 * d, rel=1e-12)
    draws, labels = est.sample(X, random_state=0)
    assert draws.shape == (len(y),) and set(np.unique(labels)) <= {0, 1}
    assert np.all(draws == np.round(draws)) and np.all(draws >= 0)


def test_missing_responses_and_bad_arguments_are_refused_by_name():
    X, y, _ = simulate("gaussian", n=50)
    y = y.copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match="^y: 1 missing"):
        emkit.RegressionMixture(2).fit(X, y)
    with pytest.raises(ValueError, match="^family"):
        emkit.RegressionMixture(2, family="weibull").fit(X, np.ones(50))
    with pytest.raises(ValueError, match="^fixed"):
        emkit.RegressionMixture(2, fixed=[5]).fit(X, np.ones(50))
    with pytest.raises(ValueError, match="^y: the poisson family"):
        emkit.RegressionMixture(2, family="poisson").fit(X, -np.ones(50))
    with pytest.raises(ValueError, match="^trials"):
        emkit.RegressionMixture(2, family="gaussian").fit(X, np.ones(50), trials=np.ones(50))
    # Three lines through eight points: a component with two rows fits them exactly (unbounded likelihood).
    x = np.arange(8.0)[:, None]
    with pytest.raises(FloatingPointError, match="component 2 .* fits its rows exactly"):
        emkit.RegressionMixture(3).fit(x, np.array([0, 1, 2, 10, 3, 7, 5, 20.0]))


def test_standard_errors_by_hessian_and_bootstrap_run_and_agree():
    X, y, _ = simulate("gaussian", n=150, seed=5)
    est = emkit.RegressionMixture(2).fit(X, y)
    hessian = est.standard_errors(X, y, "hessian")
    boot = est.standard_errors(X, y, "bootstrap", n_boot=40, random_state=0)
    se_h = np.asarray(hessian.se["coef"])
    se_b = np.asarray(boot.se["coef"])
    assert np.all(np.isfinite(se_h)) and np.all(se_h > 0)
    # 40 replicates: agreement within a factor of two is all the bootstrap's noise allows.
    assert np.all(se_b / se_h > 0.5) and np.all(se_b / se_h < 2.0)


def test_dask_fit_equals_the_in_memory_fit():
    import dask
    import dask.array as da

    X, y, _ = simulate("poisson", n=240, seed=9, concomitant=True)
    # SQUAREM keeps the number of passes (one Dask computation each) small.
    face = dict(n_components=2, family="poisson", concomitant=[1], accelerate="squarem")
    memory = emkit.RegressionMixture(**face).fit(X, y)
    with dask.config.set(scheduler="threads"):
        chunked = emkit.RegressionMixture(**face).fit(
            da.from_array(X, chunks=(120, 2)), da.from_array(y, chunks=120))
    assert chunked.lower_bound_ == pytest.approx(memory.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(chunked.coef_, memory.coef_, rtol=1e-6)
    np.testing.assert_allclose(chunked.concomitant_coef_, memory.concomitant_coef_, rtol=1e-6)


def test_fabric_faults_reach_flexmix_published_fit():
    """flexmix's vignette (Grün & Leisch, "Applications of finite mixtures of regression models",
    flexmix 2.3-20): Faults ~ 1 with log(Length) shared, Poisson, k = 2 gives log-likelihood
    −86.33119, intercepts −3.12797 and −2.36202, slope 0.79913. flexmix stops EM early, so our
    maximum may exceed its value, by little."""
    path = Path(emkit.__file__).parent / "data" / "fabric_faults.csv"
    table = np.loadtxt(path, delimiter=",", comments="#", skiprows=4)
    X, y = np.log(table[:, :1]), table[:, 1]
    fitted = emkit.RegressionMixture(2, family="poisson", fixed=[0], n_init=5, random_state=0).fit(X, y)
    loglik = fitted.lower_bound_ * len(y)
    assert -86.33119 - 1e-6 <= loglik <= -86.33119 + 5e-4
    assert np.sort(fitted.intercept_) == pytest.approx([-3.12797, -2.36202], abs=3e-4)
    assert fitted.fixed_coef_ == pytest.approx([0.79913], abs=1e-4)
    assert np.sort(fitted.weights_) == pytest.approx([0.204, 0.796], abs=2e-3)
