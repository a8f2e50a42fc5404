"""Three-step latent class analysis with covariates (emkit.three_step): the classification-error
matrix by its definition, step 3's ML and BCH estimates against direct maximisations with scipy
(modal and proportional assignment), their Hessian standard errors, and a simulation where the
naive estimate is attenuated while the corrected ones recover the one-step coefficient."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, logsumexp

import emkit
from emkit.families import Bernoulli
from emkit.latent.concomitant_mixture import ConcomitantMixtureModel


def lca_data(n, seed, items, slope):
    """Binary items of two classes, ``P(class 1 | z) = expit(slope·z)``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    labels = (rng.random(n) < expit(slope * z)).astype(int)
    X = (rng.random((n, items.shape[1])) < items[labels]).astype(float)
    return X, z


WEAK = np.array([[0.75, 0.7, 0.3, 0.7, 0.7], [0.25, 0.3, 0.7, 0.3, 0.3]])


@pytest.fixture(scope="module")
def small():
    """Three classes, 300 rows, one covariate; the fitted measurement model."""
    rng = np.random.default_rng(7)
    n = 300
    z = rng.normal(size=n)
    eta = np.column_stack([np.zeros(n), 0.4 + 1.0 * z, -0.3 - 0.8 * z])
    labels = (rng.random(n)[:, None] > np.cumsum(np.exp(eta - logsumexp(eta, axis=1, keepdims=True)),
                                                  axis=1)[:, :-1]).sum(axis=1)
    items = np.array([[0.85, 0.8, 0.8, 0.2, 0.8, 0.2], [0.2, 0.8, 0.25, 0.8, 0.2, 0.8], [0.2, 0.15, 0.8, 0.75, 0.2, 0.2]])
    X = (rng.random((n, 6)) < items[labels]).astype(float)
    measurement = emkit.Mixture(3, family=Bernoulli, tol=1e-10, max_iter=2000, n_init=3, random_state=0,
                                accelerate="squarem").fit(X)
    return X, z, measurement


def assigned(posterior, assignment):
    return np.eye(posterior.shape[1])[posterior.argmax(axis=1)] if assignment == "modal" else posterior


def logit_log_proba(theta, Z, K):
    eta = np.column_stack([np.zeros(len(Z)), Z @ theta.reshape(Z.shape[1], K - 1)])
    return eta - logsumexp(eta, axis=1, keepdims=True)


def numeric_errors(f, theta, h=1e-4):
    size = theta.size
    hessian = np.empty((size, size))
    for i in range(size):
        for j in range(size):
            ei, ej = np.eye(size)[i] * h, np.eye(size)[j] * h
            hessian[i, j] = (f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)) / (4 * h * h)
    return np.sqrt(np.diag(np.linalg.inv(-hessian)))


@pytest.mark.parametrize("assignment", ["modal", "proportional"])
def test_ml_correction_equals_direct_maximisation(small, assignment):
    X, z, measurement = small
    result = emkit.three_step(measurement, X, z, correction="ML", assignment=assignment)
    posterior = measurement.predict_proba(X)
    a = assigned(posterior, assignment)
    D = (posterior.T @ a) / posterior.sum(axis=0)[:, None]
    np.testing.assert_allclose(result.D, D, rtol=1e-12)
    Z = np.column_stack([np.ones(len(z)), z])

    def loglik(theta):   # Σ_i Σ_s a_is log Σ_k P(k | z_i) D[k, s]
        return float(np.sum(a * logsumexp(logit_log_proba(theta, Z, 3)[:, :, None] + np.log(D)[None], axis=1)))

    direct = minimize(lambda t: -loglik(t), np.zeros(4), method="BFGS", options={"gtol": 1e-9})
    assert result.loglik == pytest.approx(-direct.fun, abs=1e-6)
    np.testing.assert_allclose(result.coef.ravel(), direct.x, atol=1e-4)
    np.testing.assert_allclose(result.se.ravel(), numeric_errors(loglik, direct.x), rtol=2e-3)
    assert result.labels == ["intercept", "z0"] and result.converged


@pytest.mark.parametrize("assignment", ["modal", "proportional"])
def test_bch_and_naive_equal_direct_maximisation(small, assignment):
    X, z, measurement = small
    posterior = measurement.predict_proba(X)
    a = assigned(posterior, assignment)
    D = (posterior.T @ a) / posterior.sum(axis=0)[:, None]
    Z = np.column_stack([np.ones(len(z)), z])
    for correction, targets in (("BCH", a @ np.linalg.inv(D)), ("none", a)):
        result = emkit.three_step(measurement, X, z, correction=correction, assignment=assignment)

        def objective(theta):
            return float(np.sum(targets * logit_log_proba(theta, Z, 3)))

        direct = minimize(lambda t: -objective(t), np.zeros(4), method="BFGS", options={"gtol": 1e-9})
        assert result.loglik == pytest.approx(-direct.fun, abs=1e-6)
        np.testing.assert_allclose(result.coef.ravel(), direct.x, atol=1e-4)
        np.testing.assert_allclose(result.se.ravel(), numeric_errors(objective, direct.x), rtol=2e-3)


#: StepMix 3.0.0's step-3 coefficients (class 1 against class 0: intercept, slope) on
#: ``lca_data(2000, 1, WEAK, 1.5)``: ``StepMix(n_components=2, n_steps=3, measurement="binary",
#: structural="covariate", correction=..., assignment=..., abs_tol=1e-12, max_iter=5000, n_init=3,
#: random_state=0, structural_params={"method": "newton-raphson", "max_iter": 200, "tol": 1e-12})``,
#: class 0 the one whose first item has probability about 0.25. StepMix's soft ML multiplies D over
#: the assignment (geometric) instead of Vermunt's expanded rows, so it is not compared.
STEPMIX = {("none", "modal"): [-0.1222948, -0.7639966], ("none", "proportional"): [-0.1283457, -0.5879508],
           ("BCH", "modal"): [-0.1683094, -1.2954990], ("BCH", "proportional"): [-0.1686535, -1.3007411],
           ("ML", "modal"): [-0.1251361, -1.2479674]}


def test_naive_is_attenuated_the_corrections_recover_the_one_step_slope_and_stepmix_agrees():
    """Weakly separated classes (D's diagonal about 0.8): the naive slope is biased toward zero by
    far more than the tolerance; BCH and ML land on the one-step estimate within it; each estimate
    is StepMix's on the same data."""
    X, z = lca_data(2000, 1, WEAK, 1.5)
    one_step = emkit.fit(ConcomitantMixtureModel(Bernoulli(5), 2, 2), (X, np.column_stack([np.ones(len(z)), z])),
                         tol=1e-10, param_tol=None, accelerate="squarem")
    measurement = emkit.Mixture(2, family=Bernoulli, tol=1e-12, max_iter=5000, accelerate="squarem").fit(X)
    # class 0 of the three-step fits: the one whose first item is rare (as in STEPMIX)
    flip = -1.0 if measurement.probs_[0, 0] > 0.5 else 1.0
    same = (one_step.params["probs"][0, 0] > 0.5) == (measurement.probs_[0, 0] > 0.5)
    target = flip * (1.0 if same else -1.0) * one_step.params["concomitant_coef"][1, 0]
    coefs = {key: flip * emkit.three_step(measurement, X, z, correction=key[0], assignment=key[1]).coef[:, 0]
             for key in STEPMIX}
    for key, reference in STEPMIX.items():
        np.testing.assert_allclose(coefs[key], reference, atol=2e-4, err_msg=str(key))
    tolerance = 0.15
    for assignment in ("modal", "proportional"):
        assert abs(coefs["none", assignment][1]) < abs(target) - 2 * tolerance   # attenuated toward zero
    for key in [("BCH", "modal"), ("BCH", "proportional"), ("ML", "modal")]:
        assert coefs[key][1] == pytest.approx(target, abs=tolerance), key


def test_unfitted_measurement_is_fitted_on_a_copy_and_errors_name_the_argument(small):
    X, z, _ = small
    measurement = emkit.Mixture(3, family=Bernoulli, tol=1e-8, max_iter=1000, random_state=0, accelerate="squarem")
    result = emkit.three_step(measurement, X, z, correction="none")
    assert not hasattr(measurement, "model_") and hasattr(result.measurement, "model_")
    with pytest.raises(ValueError, match="^correction:"):
        emkit.three_step(result.measurement, X, z, correction="bias")
    with pytest.raises(ValueError, match="^assignment:"):
        emkit.three_step(result.measurement, X, z, assignment="hard")
    with pytest.raises(ValueError, match="^Z:"):
        emkit.three_step(result.measurement, X, z[:-1])
    with pytest.raises(ValueError, match="^measurement:"):
        emkit.three_step(emkit.Mixture(2, family=Bernoulli, concomitant=[0]), X, z)


@pytest.mark.parametrize("correction", ["ML", "BCH", "none"])
def test_integer_sample_weights_equal_repeated_rows(small, correction):
    X, z, measurement = small
    counts = np.random.default_rng(3).integers(0, 3, size=len(z))
    rows = np.repeat(np.arange(len(z)), counts)
    weighted = emkit.three_step(measurement, X, z, correction=correction, assignment="proportional",
                                sample_weight=counts)
    repeated = emkit.three_step(measurement, X[rows], z[rows], correction=correction, assignment="proportional")
    np.testing.assert_allclose(weighted.D, repeated.D, rtol=1e-10)
    np.testing.assert_allclose(weighted.coef, repeated.coef, atol=1e-6)
    np.testing.assert_allclose(weighted.se, repeated.se, rtol=1e-3)
