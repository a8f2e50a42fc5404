"""Mixtures of any family with concomitant (multinomial-logit) weights: latent class analysis with
covariates. Checked against a direct maximisation of the observed-data log-likelihood with scipy
(Bernoulli and Gaussian components), the ascent property with a one-step inner Newton loop, a
central-difference Hessian of that log-likelihood (standard errors), and the face's API."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp
from scipy.stats import norm

import emkit
from emkit.exceptions import AscentWarning, ConvergenceWarning
from emkit.families import Bernoulli, Categorical, Gaussian
from emkit.kernels.multinomial_logit import multinomial_logit_derivatives
from emkit.latent.concomitant_mixture import ConcomitantMixtureModel

ITEMS = np.array([[0.85, 0.8, 0.2, 0.75], [0.2, 0.3, 0.85, 0.25]])


def lca_data(n=300, seed=0, slope=1.5):
    """Four binary items of two classes; ``P(class 1 | z) = expit(0.3 + slope·z)``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    labels = (rng.random(n) < expit(0.3 + slope * z)).astype(int)
    X = (rng.random((n, ITEMS.shape[1])) < ITEMS[labels]).astype(float)
    return X, z


def design(z):
    return np.column_stack([np.ones(len(z)), z])


def bernoulli_loglik(theta, X, Z):
    """Observed-data log-likelihood of a 2-class LCA with logit weights; ``theta`` = (A (2),
    logit of the item probabilities (2 × d))."""
    A, logits = theta[:2], theta[2:].reshape(2, -1)
    log_w1 = log_expit(Z @ A)
    log_w = np.column_stack([log_expit(-(Z @ A)), log_w1])
    log_items = X @ log_expit(logits).T + (1 - X) @ log_expit(-logits).T
    return logsumexp(log_w + log_items, axis=1).sum()


def logit(p):
    return np.log(p / (1 - p))


def test_bernoulli_lca_with_a_covariate_equals_direct_maximisation():
    X, z = lca_data()
    Z = design(z)
    result = emkit.fit(ConcomitantMixtureModel(Bernoulli(4), 2, 2), (X, Z), tol=1e-12, param_tol=None)
    truth = np.concatenate([[0.3, 1.5], logit(ITEMS[0]), logit(ITEMS[1])])
    direct = minimize(lambda t: -bernoulli_loglik(t, X, Z), truth, method="BFGS", options={"gtol": 1e-8})
    A, probs = result.params["concomitant_coef"].ravel(), result.params["probs"]
    if probs[0, 0] > 0.5:   # emkit's class 0 is the truth's
        found = np.concatenate([A, logit(probs[0]), logit(probs[1])])
    else:
        found = np.concatenate([-A, logit(probs[1]), logit(probs[0])])
    assert result.loglik == pytest.approx(-direct.fun, abs=1e-6)
    np.testing.assert_allclose(found, direct.x, atol=1e-4)


def test_gaussian_components_with_a_covariate_equal_direct_maximisation():
    rng = np.random.default_rng(4)
    n = 250
    z = rng.normal(size=n)
    labels = (rng.random(n) < expit(-0.2 + 1.2 * z)).astype(int)
    x = np.where(labels == 1, 2.5, -1.0) + rng.normal(size=n) * np.where(labels == 1, 0.7, 1.0)
    Z = design(z)
    model = ConcomitantMixtureModel(Gaussian(1, reg_covar=0.0), 2, 2)
    result = emkit.fit(model, (x[:, None], Z), tol=1e-12, param_tol=None)

    def negative(theta):
        A, means, log_sd = theta[:2], theta[2:4], theta[4:6]
        log_w = np.column_stack([log_expit(-(Z @ A)), log_expit(Z @ A)])
        return -logsumexp(log_w + norm.logpdf(x[:, None], means, np.exp(log_sd)), axis=1).sum()

    means = result.params["means"].ravel()
    start = np.array([0.0, 1.0, -1.0, 2.5, 0.0, 0.0]) if means[0] < means[1] else np.array([0.0, -1.0, 2.5, -1.0,
                                                                                              0.0, 0.0])
    direct = minimize(negative, start, method="BFGS", options={"gtol": 1e-8})
    assert result.loglik == pytest.approx(-direct.fun, abs=1e-6)
    np.testing.assert_allclose(result.params["concomitant_coef"].ravel(), direct.x[:2], atol=1e-4)
    np.testing.assert_allclose(means, direct.x[2:4], atol=1e-4)
    np.testing.assert_allclose(np.sqrt(result.params["covars"].ravel()), np.exp(direct.x[4:6]), atol=1e-4)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_ascent_with_one_inner_newton_step(seed):
    """A generalised EM step (one Newton step for the logit) never lowers ℓ, from a random start,
    for three categorical classes."""
    rng = np.random.default_rng(seed)
    n = 150
    z = rng.normal(size=(n, 2))
    X = rng.integers(0, 3, size=(n, 3)).astype(float)
    X[:, 0] = np.where(z[:, 0] > 0, 2, X[:, 0])
    model = ConcomitantMixtureModel(Categorical([3, 3, 3]), 3, 3, inner_max_iter=1)
    Z = np.column_stack([np.ones(n), z])
    start = model.initial_params((X, Z), rng)
    start["concomitant_coef"] = rng.normal(size=(3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", AscentWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = emkit.fit(model, (X, Z), init=start, max_iter=20, tol=1e-15, param_tol=None)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))


def test_hessian_standard_errors_match_a_direct_hessian_and_the_bootstrap():
    X, z = lca_data(n=250, seed=2)
    Z = design(z)
    model = ConcomitantMixtureModel(Bernoulli(4), 2, 2)
    result = emkit.fit(model, (X, Z), tol=1e-12, param_tol=None)
    se = emkit.standard_errors(result, (X, Z), "hessian")
    # Independent: the inverse of a central-difference Hessian of the direct log-likelihood in
    # (A, logits) coordinates, the probabilities' errors by the delta method.
    probs = result.params["probs"]
    theta = np.concatenate([result.params["concomitant_coef"].ravel(), logit(probs[0]), logit(probs[1])])

    def f(t):
        return bernoulli_loglik(t, X, Z)

    h = 1e-4
    size = theta.size
    hessian = np.empty((size, size))
    for i in range(size):
        for j in range(size):
            ei, ej = np.eye(size)[i] * h, np.eye(size)[j] * h
            hessian[i, j] = (f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)) / (4 * h * h)
    cov = np.linalg.inv(-hessian)
    np.testing.assert_allclose(np.ravel(se.se["concomitant_coef"]), np.sqrt(np.diag(cov))[:2], rtol=2e-3)
    delta = (probs * (1 - probs)).ravel() * np.sqrt(np.diag(cov))[2:]
    np.testing.assert_allclose(np.ravel(se.se["probs"]), delta, rtol=2e-3)
    boot = emkit.standard_errors(result, (X, Z), "bootstrap", n_boot=30, random_state=0,
                                 fit_options={"tol": 1e-8, "param_tol": None, "accelerate": "squarem"})
    ratio = np.ravel(boot.se["concomitant_coef"]) / np.ravel(se.se["concomitant_coef"])
    assert np.all((ratio > 0.5) & (ratio < 2.0))


def test_face_takes_concomitant_columns_by_position_or_name():
    X, z = lca_data(n=300, seed=5)
    A = np.column_stack([X[:, :2], z, X[:, 2:]])
    est = emkit.Mixture(2, family=Bernoulli, concomitant=[2], tol=1e-10, max_iter=1000).fit(A)
    frame = pd.DataFrame(A, columns=["a", "b", "z", "c", "d"])
    named = emkit.Mixture(2, family=Bernoulli, concomitant="z", tol=1e-10, max_iter=1000).fit(frame)
    np.testing.assert_allclose(named.concomitant_coef_, est.concomitant_coef_, rtol=1e-10)
    assert est.concomitant_coef_.shape == (2, 1) and est.probs_.shape == (2, 4)
    # the same fit through the model on (X, (1, z))
    direct = emkit.fit(ConcomitantMixtureModel(Bernoulli(4), 2, 2), (X, design(z)), tol=1e-10, param_tol=None)
    assert est.lower_bound_ * len(z) == pytest.approx(direct.loglik, abs=1e-6)
    # predict_proba and score given Z, against the direct formula
    log_w = np.column_stack([log_expit(-(design(z) @ est.concomitant_coef_[:, 0])),
                             log_expit(design(z) @ est.concomitant_coef_[:, 0])])
    p = est.probs_
    joint = log_w + X @ np.log(p).T + (1 - X) @ np.log1p(-p).T
    np.testing.assert_allclose(est.predict_proba(A), np.exp(joint - logsumexp(joint, axis=1, keepdims=True)),
                               rtol=1e-10)
    np.testing.assert_array_equal(est.predict(A), joint.argmax(axis=1))
    assert est.score(A) == pytest.approx(logsumexp(joint, axis=1).mean(), rel=1e-12)
    assert est.bic(A) == pytest.approx(-2 * logsumexp(joint, axis=1).sum() + (2 + 8) * np.log(len(z)), rel=1e-12)
    np.testing.assert_allclose(est.weights_, np.exp(log_w).mean(axis=0), rtol=1e-12)
    assert set(est.params_) == {"concomitant_coef", "probs"}


def test_face_errors_name_the_argument():
    X, z = lca_data(n=60, seed=1)
    A = np.column_stack([X, z])
    with pytest.raises(ValueError, match="^concomitant: no column named"):
        emkit.Mixture(2, family=Bernoulli, concomitant="age").fit(pd.DataFrame(A, columns=list("abcdz")))
    with pytest.raises(ValueError, match="^weights_init:"):
        emkit.Mixture(2, family=Bernoulli, concomitant=[4], weights_init=[0.5, 0.5]).fit(A)
    with pytest.raises(ValueError, match="^concomitant: partial_fit"):
        emkit.Mixture(2, family=Bernoulli, concomitant=[4]).partial_fit(A)
    bad = A.copy()
    bad[3, 4] = np.nan
    est = emkit.Mixture(2, family=Bernoulli, concomitant=[4])
    with pytest.raises(ValueError, match="^Z: "):
        est.fit(bad)
    assert not hasattr(est, "model_")


def test_signed_targets_value_agrees_with_its_gradient():
    """BCH's weights can be negative: the logit's value counts them (its gradient always did)."""
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(20), rng.normal(size=20)])
    targets = rng.normal(size=(20, 3))
    coef = rng.normal(size=(2, 2))
    value, gradient, _ = multinomial_logit_derivatives(X, targets, None, coef)
    step = 1e-6
    numeric = [(multinomial_logit_derivatives(X, targets, None, coef.ravel() + step * e)[0]
                - multinomial_logit_derivatives(X, targets, None, coef.ravel() - step * e)[0]) / (2 * step)
               for e in np.eye(4)]
    np.testing.assert_allclose(numeric, gradient, rtol=1e-6, atol=1e-6)


def test_face_integer_sample_weights_equal_repeated_rows():
    X, z = lca_data(n=120, seed=8)
    A = np.column_stack([X, z])
    counts = np.random.default_rng(0).integers(0, 3, size=len(z))
    options = dict(family=Bernoulli, concomitant=[4], tol=1e-12, max_iter=5000)
    weighted = emkit.Mixture(2, **options).fit(A, sample_weight=counts)
    repeated = emkit.Mixture(2, **options).fit(np.repeat(A, counts, axis=0))
    np.testing.assert_allclose(weighted.concomitant_coef_, repeated.concomitant_coef_, atol=1e-6)
    np.testing.assert_allclose(weighted.probs_, repeated.probs_, atol=1e-6)
