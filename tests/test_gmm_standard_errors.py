"""Standard errors of Gaussian-mixture estimates (emkit.standard_errors with the GMM's inference
hooks): Louis, SEM and the numerical Hessian agree; one component against the closed form of a
Gaussian's MLE; the complete-data information against a numerical Hessian of the expected
complete-data log-likelihood computed here with scipy; missing values; the bootstrap; the
free-parameter mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

import emkit
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.models.gaussian_information import full_matrices
from emkit.latent import mixture as latent_mixture
from emkit.models.gaussian_mixture import GaussianMixtureModel


def two_clusters(seed=0, n=150):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal([0.0, 0.0], [1.0, 0.5], size=(n, 2)),
                      rng.normal([3.0, 2.0], [0.7, 1.2], size=(n, 2))]) + 10.0


def fitted(X, covariance_type, k=2, **options):
    model = GaussianMixtureModel(k, covariance_type, reg_covar=0.0, **options)
    return emkit.fit(model, X, tol=1e-13, max_iter=5000, random_state=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_louis_sem_and_hessian_agree(covariance_type):
    X = two_clusters()
    result = fitted(X, covariance_type)
    errors = {method: emkit.standard_errors(result, X, method=method) for method in ("louis", "sem", "hessian")}
    reference = errors["hessian"].cov
    for method in ("louis", "sem"):
        np.testing.assert_allclose(errors[method].cov, reference, rtol=1e-5, atol=1e-6 * np.abs(reference).max())
    louis = errors["louis"]
    assert 0.0 < louis.rate < 1.0
    assert np.shape(louis.se["means"]) == (2, 2)
    assert louis.se["weights"][0] == pytest.approx(louis.se["weights"][1], rel=1e-9)   # π_2 = 1 − π_1


def test_louis_sums_its_scores_over_row_slices(monkeypatch):
    """Slices of the rows (a few numbers each) give the same missing information as one slice."""
    X = two_clusters(seed=11, n=100)
    weights = np.random.default_rng(12).uniform(0.5, 2.0, size=len(X))
    result = emkit.fit(GaussianMixtureModel(2, "full", reg_covar=0.0), (X, weights), tol=1e-13, max_iter=5000,
                       random_state=0)
    model, params = result.model, result.params
    whole = model.score_covariance((X, weights), params)
    monkeypatch.setattr(latent_mixture, "SCORE_BLOCK_NUMBERS", 7 * 2 * model.to_free(params).size)
    np.testing.assert_allclose(model.score_covariance((X, weights), params), whole, rtol=1e-12, atol=1e-12)


def test_one_component_matches_the_closed_form_of_a_gaussian_mle():
    """k = 1: nothing is missing, the observed information is the complete-data one, and the
    MLE's covariance is Σ/n for the mean and (σ_ii σ_jj + σ_ij²)/n for the covariance entries."""
    rng = np.random.default_rng(1)
    X = rng.multivariate_normal([1.0, -2.0, 5.0], [[2.0, 0.6, 0.3], [0.6, 1.0, -0.2], [0.3, -0.2, 0.5]], size=400)
    result = fitted(X, "full", k=1)
    errors = emkit.standard_errors(result, X, method="louis")
    n = X.shape[0]
    sigma = np.cov(X, rowvar=False, bias=True)
    np.testing.assert_allclose(errors.se["means"][0], np.sqrt(np.diag(sigma) / n), rtol=1e-8)
    expected = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma ** 2) / n)
    np.testing.assert_allclose(errors.se["covariances"][0], expected, rtol=1e-8)
    assert errors.rate == pytest.approx(0.0, abs=1e-12)


def expected_complete_loglik(X, resp, params, covariance_type):
    """``Q(θ) = Σ_i Σ_k r_ik (log π_k + log N(x_i | μ_k, Σ_k))`` by scipy."""
    k, d = params["means"].shape
    covariances = full_matrices(params["covariances"], covariance_type, k, d)
    return sum(float(resp[:, j] @ (np.log(params["weights"][j])
                                   + multivariate_normal(params["means"][j], covariances[j]).logpdf(X)))
               for j in range(k))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_complete_information_is_minus_the_hessian_of_q_away_from_the_estimate(covariance_type):
    """At parameters that are not a fixed point (so that the terms in Σ r (x − μ) and in
    W − nΣ count), ``complete_information`` equals −∂²Q/∂θ² by central differences of Q."""
    X = two_clusters(seed=2, n=60)
    model = GaussianMixtureModel(2, covariance_type, reg_covar=0.0)
    data = model.prepare(X)
    params = model.initial_params(data, np.random.default_rng(3))
    params = model.m_step(model.e_step(data, params)[0], params)
    params["means"] = params["means"] + 0.3                           # away from the M-step's point
    stats, _ = model.e_step(data, params)
    resp = np.exp(model.responsibilities(data, params)[0])
    theta = model.to_free(params)

    def q(free):
        return expected_complete_loglik(X, resp, model.from_free(free, params), covariance_type)

    h = 1e-4 * np.maximum(1.0, np.abs(theta))
    p = theta.size
    hessian = np.empty((p, p))
    for a in range(p):
        for b in range(a, p):
            shifts = [(1, 1), (1, -1), (-1, 1), (-1, -1)]
            values = []
            for sa, sb in shifts:
                point = theta.copy()
                point[a] += sa * h[a]
                point[b] += sb * h[b]
                values.append(q(point))
            hessian[a, b] = hessian[b, a] = (values[0] - values[1] - values[2] + values[3]) / (4 * h[a] * h[b])
    information = model.complete_information(stats, params)
    np.testing.assert_allclose(information, -hessian, rtol=1e-5, atol=1e-5 * np.abs(hessian).max())


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_missing_values_sem_and_louis_agree_with_the_hessian(covariance_type):
    """Louis's missing information holds the spread of the missing cells' scores too."""
    X = two_clusters(seed=4)
    X[np.random.default_rng(5).random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 10.0
    result = fitted(X, covariance_type)
    sem = emkit.standard_errors(result, X, method="sem")
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    np.testing.assert_allclose(sem.cov, hessian.cov, rtol=1e-4, atol=1e-5 * np.abs(hessian.cov).max())
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-9 * np.abs(hessian.cov).max())
    complete = emkit.standard_errors(fitted(two_clusters(seed=4), covariance_type), two_clusters(seed=4), "louis")
    assert np.all(np.asarray(louis.se["means"]) > np.asarray(complete.se["means"]))   # less data, larger errors


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["nonparametric", "parametric"])
def test_bootstrap_is_close_to_louis(kind):
    X = two_clusters(seed=6)
    result = fitted(X, "diag")
    louis = emkit.standard_errors(result, X, method="louis")
    boot = emkit.standard_errors(result, X, method="bootstrap", n_boot=200, bootstrap_kind=kind, random_state=7,
                                 fit_options={"tol": 1e-10, "max_iter": 2000})
    np.testing.assert_allclose(boot.se["means"], louis.se["means"], rtol=0.2)
    np.testing.assert_allclose(boot.se["covariances"], louis.se["covariances"], rtol=0.25)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_free_parameters_round_trip_and_leave_out_fixed_ones(covariance_type):
    X = two_clusters(seed=8, n=40)
    result = fitted(X, covariance_type, k=3)
    model, params = result.model, result.params
    free = model.to_free(params)
    assert free.size == model.n_free_parameters(X.shape[1]) == len(model.free_labels(params))
    back = model.from_free(free, params)
    for name in model.param_names:
        np.testing.assert_allclose(back[name], params[name], rtol=0, atol=1e-15)
    fixed = GaussianMixtureModel(3, covariance_type, reg_covar=0.0, fixed={"weights": params["weights"]})
    assert fixed.to_free(params).size == fixed.n_free_parameters(X.shape[1]) == free.size - 2
    assert not any(label.startswith("weights") for label in fixed.free_labels(params))
    np.testing.assert_allclose(fixed.from_free(fixed.to_free(params), params)["weights"], params["weights"])


def test_float32_data_give_the_errors_of_their_values_in_float64():
    """A GMM computes float32 data in float32, but the variance methods differentiate
    numerically: they take the same values in float64."""
    X32 = two_clusters(seed=10, n=2000).astype(np.float32)
    result = fitted(X32.astype(float), "full")
    for method in ("sem", "hessian"):
        single = emkit.standard_errors(result, X32, method=method)
        double = emkit.standard_errors(result, X32.astype(float), method=method)
        np.testing.assert_allclose(single.cov, double.cov, rtol=1e-12)


def test_the_estimators_result_gives_standard_errors():
    X = two_clusters(seed=9)
    estimator = emkit.GaussianMixture(2, tol=1e-10, max_iter=1000, random_state=0).fit(X)
    errors = emkit.standard_errors(estimator.result_, X, method="louis")
    intervals = errors.confidence_intervals()
    for j in range(2):
        low, high = np.asarray(intervals["means"][j]).T
        mean = estimator.result_.params["means"][j]
        assert np.all(low < mean) and np.all(mean < high)
        np.testing.assert_allclose(high - low, 2 * 1.959963984540054 * np.asarray(errors.se["means"][j]), rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 4), d=st.integers(1, 4), covariance_type=st.sampled_from(COVARIANCE_TYPES),
       seed=st.integers(0, 2**16))
def test_free_parameters_and_information_for_any_shape(k, d, covariance_type, seed):
    """For random shapes and parameters: the free-parameter round trip, the count of free
    parameters, and a symmetric complete-data information of that size, positive definite
    with the statistics of the parameters' own expected data (n_j = N π_j, W_j = n_j Σ_j)."""
    rng = np.random.default_rng(seed)
    model = GaussianMixtureModel(k, covariance_type, reg_covar=0.0, center=np.zeros(d))
    model.prepare(rng.normal(size=(max(k, 2), d)))
    A = rng.normal(size=(k, d, d))
    full = A @ A.transpose(0, 2, 1) + np.eye(d)
    covariances = {"full": full, "tied": full[0], "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
                   "spherical": full[:, 0, 0].copy()}[covariance_type]
    params = {"weights": rng.dirichlet(np.ones(k)), "means": rng.normal(size=(k, d)), "covariances": covariances}
    free = model.to_free(params)
    assert free.size == model.n_free_parameters() == len(model.free_labels(params))
    back = model.from_free(free, params)
    for name in model.param_names:
        np.testing.assert_allclose(back[name], params[name], rtol=0, atol=1e-14)
    n = 100.0 * params["weights"]
    matrices = full_matrices(covariances, covariance_type, k, d)
    second = n[:, None, None] * (matrices + np.einsum("ki,kj->kij", params["means"], params["means"]))
    stats = {"counts": n, "centre_weight": np.zeros(d), "n": n, "sum_x": n[:, None] * params["means"],
             "sum_xx": {"full": second, "tied": second.sum(axis=0),
                        "diag": np.diagonal(second, axis1=1, axis2=2),
                        "spherical": np.trace(second, axis1=1, axis2=2)}[covariance_type]}
    information = model.complete_information(stats, params)
    assert information.shape == (free.size, free.size)
    np.testing.assert_allclose(information, information.T, rtol=1e-10, atol=1e-10)
    assert np.all(np.linalg.eigvalsh(information) > 0)
