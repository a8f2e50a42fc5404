"""Damped Newton (kernels/newton.py) and the weighted multinomial logit (kernels/multinomial_logit.py),
checked against closed forms, scipy.optimize and scikit-learn."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from emkit.kernels.multinomial_logit import (fit_multinomial_logit, multinomial_logit_derivatives,
                                             multinomial_logit_log_proba)
from emkit.kernels.newton import maximize_concave


def test_quadratic_is_solved_in_one_step():
    rng = np.random.default_rng(0)
    root = rng.normal(size=(4, 4))
    A = root @ root.T + np.eye(4)
    centre = rng.normal(size=4)

    def quadratic(theta):
        d = theta - centre
        return -0.5 * d @ A @ d, -A @ d, -A

    result = maximize_concave(quadratic, np.zeros(4))
    np.testing.assert_allclose(result.theta, centre, rtol=1e-12, atol=1e-12)
    assert result.converged and result.n_iter <= 2


def _logistic_data(seed=1, n=200):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.random(n) < expit(X @ np.array([-0.5, 1.5, -2.0]))
    return X, y.astype(float)


def _logistic_loglik(beta, X, y):
    eta = X @ beta
    return float(np.sum(y * log_expit(eta) + (1 - y) * log_expit(-eta)))


def test_logistic_regression_matches_scipy_and_value_never_decreases():
    X, y = _logistic_data()
    values = []

    def derivatives(beta):
        eta = X @ beta
        p = expit(eta)
        value = _logistic_loglik(beta, X, y)
        values.append(value)
        return value, X.T @ (y - p), -(X * (p * (1 - p))[:, None]).T @ X

    result = maximize_concave(derivatives, np.array([3.0, -3.0, 3.0]))
    reference = minimize(lambda b: -_logistic_loglik(b, X, y), np.zeros(3), method="BFGS",
                         jac=lambda b: -X.T @ (y - expit(X @ b)), options={"gtol": 1e-10})
    np.testing.assert_allclose(result.theta, reference.x, rtol=1e-6, atol=1e-7)
    assert result.value >= -reference.fun - 1e-9
    accepted = np.maximum.accumulate(values)
    assert result.value == accepted[-1]
    # Stopped after one step it is still no worse than the start (a generalised M-step).
    start = np.array([3.0, -3.0, 3.0])
    one = maximize_concave(derivatives, start, max_iter=1)
    assert one.value >= _logistic_loglik(start, X, y) and one.n_iter == 1 and not one.converged


def test_newton_halves_a_step_that_leaves_the_domain():
    # f(t) = log t − t on t > 0 (maximum at 1); from t = 0.05 the first full step would be fine,
    # from t = 3 the Newton step lands at t = 3 + (1/3 − 1)/(1/9) = −3, outside the domain.
    def derivatives(theta):
        t = theta[0]
        if t <= 0:
            return -np.inf, np.full(1, np.nan), np.full((1, 1), np.nan)
        return np.log(t) - t, np.array([1 / t - 1]), np.array([[-1 / t**2]])

    result = maximize_concave(derivatives, np.array([3.0]))
    np.testing.assert_allclose(result.theta, [1.0], rtol=1e-10)


def test_newton_refuses_a_start_outside_the_domain():
    with pytest.raises(ValueError, match="theta0"):
        maximize_concave(lambda t: (-np.inf, np.zeros(1), -np.eye(1)), np.zeros(1))


def _soft_data(seed=2, n=150, p=3, K=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    targets = rng.dirichlet(np.ones(K), size=n) * rng.uniform(0.5, 2.0, size=(n, 1))
    weights = rng.uniform(0.2, 3.0, size=n)
    return X, targets, weights


def _objective(flat, X, targets, weights, ridge=0.0):
    log_proba = multinomial_logit_log_proba(X, flat.reshape(X.shape[1], -1))
    return float(np.sum(weights[:, None] * targets * log_proba)) - 0.5 * ridge * flat @ flat


@pytest.mark.parametrize("ridge", [0.0, 0.7])
def test_soft_weighted_multinomial_logit_matches_scipy(ridge):
    X, targets, weights = _soft_data()
    coef = fit_multinomial_logit(X, targets, weights, ridge=ridge)
    start = np.zeros(X.shape[1] * (targets.shape[1] - 1))
    reference = minimize(lambda b: -_objective(b, X, targets, weights, ridge), start, method="BFGS",
                         options={"gtol": 1e-9})
    np.testing.assert_allclose(coef.ravel(), reference.x, atol=2e-5)
    assert _objective(coef.ravel(), X, targets, weights, ridge) >= -reference.fun - 1e-8


def test_derivatives_are_those_of_the_value_and_add_over_rows():
    X, targets, weights = _soft_data(seed=3)
    coef = np.random.default_rng(4).normal(size=(X.shape[1], targets.shape[1] - 1))
    value, gradient, hessian = multinomial_logit_derivatives(X, targets, weights, coef)
    assert value == pytest.approx(_objective(coef.ravel(), X, targets, weights), rel=1e-12)
    h = 1e-6
    for j in range(coef.size):
        e = np.zeros(coef.size)
        e[j] = h
        plus = multinomial_logit_derivatives(X, targets, weights, coef.ravel() + e)
        minus = multinomial_logit_derivatives(X, targets, weights, coef.ravel() - e)
        assert gradient[j] == pytest.approx((plus[0] - minus[0]) / (2 * h), rel=1e-6, abs=1e-6)
        np.testing.assert_allclose(hessian[:, j], (plus[1] - minus[1]) / (2 * h), rtol=1e-5, atol=1e-5)
    half = len(X) // 2
    first = multinomial_logit_derivatives(X[:half], targets[:half], weights[:half], coef)
    second = multinomial_logit_derivatives(X[half:], targets[half:], weights[half:], coef)
    assert first[0] + second[0] == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(first[1] + second[1], gradient, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(first[2] + second[2], hessian, rtol=1e-12, atol=1e-12)


def test_hard_targets_match_scikit_learn_unpenalised_multinomial():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    n = 300
    Z = rng.normal(size=(n, 2))
    logits = np.column_stack([np.zeros(n), 0.5 + Z @ [1.0, -1.0], -0.5 + Z @ [-1.5, 0.5]])
    labels = np.array([rng.choice(3, p=np.exp(row - np.logaddexp.reduce(row))) for row in logits])
    X = np.column_stack([np.ones(n), Z])
    coef = fit_multinomial_logit(X, np.eye(3)[labels])
    ours = np.exp(multinomial_logit_log_proba(X, coef))
    peer = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(Z, labels)
    np.testing.assert_allclose(ours, peer.predict_proba(Z), atol=1e-5)


def test_targets_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="targets"):
        fit_multinomial_logit(np.ones((5, 1)), np.ones((4, 2)))
