"""Every row's log-density right whatever the geometry: tight components far from the centre,
components at different scales, single far outliers, query points beyond the float range.

The product-form E-step (emkit.kernels.gaussian_mixture_estep) must give the direct formula's
log-densities (scipy here) to 1e-10 relative for all four covariance types, with float64 data,
and within the float32 tolerance for float32 data; rows it cannot be trusted with are found by
their rounding-error bound and computed directly. Posteriors of rows beyond the float range are
proper (they sum to one), their log-density −inf."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import emkit
from gaussian_reference import full_covariances
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.kernels.gaussian_mixture_estep import FLOAT32_TOLERANCE
from emkit.models.gaussian_mixture import GaussianMixtureModel

RTOL = 1e-10


def scipy_log_joint(X, params, covariance_type):
    """``log π_k + log N(x_i | μ_k, Σ_k)`` by scipy (the difference formed first)."""
    k, d = params["means"].shape
    cov = full_covariances(params["covariances"], covariance_type, k, d)
    with np.errstate(divide="ignore"):
        log_weights = np.log(params["weights"])
    return np.stack([log_weights[j] + np.atleast_1d(multivariate_normal(params["means"][j], cov[j]).logpdf(X))
                     for j in range(k)],
                    axis=1).reshape(X.shape[0], k)


def random_params(rng, covariance_type, k, d, offsets, scales):
    """Components at ``offsets`` (k,) along random directions, with standard deviations ``scales`` (k,)."""
    directions = rng.normal(size=(k, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    means = directions * np.asarray(offsets)[:, None]
    weights = rng.dirichlet(np.ones(k))
    if covariance_type == "full":
        a = rng.normal(size=(k, d, d))
        covariances = (np.einsum("kij,klj->kil", a, a) / d + np.eye(d)) * np.asarray(scales)[:, None, None] ** 2
    elif covariance_type == "tied":
        a = rng.normal(size=(d, d))
        covariances = (a @ a.T / d + np.eye(d)) * scales[0] ** 2
    elif covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(k, d)) * np.asarray(scales)[:, None] ** 2
    else:
        covariances = rng.uniform(0.5, 2.0, size=k) * np.asarray(scales) ** 2
    return {"weights": weights, "means": means, "covariances": covariances}


def rows_around(rng, params, covariance_type, n_per, outliers):
    """Rows drawn from every component, plus the given outlier rows."""
    k, d = params["means"].shape
    cov = full_covariances(params["covariances"], covariance_type, k, d)
    rows = [rng.multivariate_normal(params["means"][j], cov[j], size=n_per) for j in range(k)]
    return np.vstack(rows + [np.atleast_2d(outliers)])


def assert_close(actual, expected, rtol, what):
    error = np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))
    assert np.all(np.isfinite(actual)), what
    assert error.max() <= rtol, f"{what}: relative error {error.max():.3g} at row {int(np.argmax(error))}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(covariance_type=st.sampled_from(COVARIANCE_TYPES), k=st.integers(1, 3), d=st.integers(1, 3),
       log_offsets=st.lists(st.floats(-1, 7), min_size=3, max_size=3),
       log_scales=st.lists(st.floats(-3, 2), min_size=3, max_size=3),
       log_outlier=st.floats(0, 9), seed=st.integers(0, 2 ** 16))
def test_log_densities_equal_the_direct_formula(covariance_type, k, d, log_offsets, log_scales, log_outlier, seed):
    """Components at offsets up to 10⁷ and scales 10⁻³..10², an outlier up to 10⁹ away:
    log-densities, log-posteriors and the E-step's log-likelihood as scipy's to 1e-10."""
    rng = np.random.default_rng(seed)
    offsets, scales = 10.0 ** np.array(log_offsets[:k]), 10.0 ** np.array(log_scales[:k])
    params = random_params(rng, covariance_type, k, d, offsets, scales)
    X = rows_around(rng, params, covariance_type, 20, rng.normal(size=d) * 10.0 ** log_outlier)
    model = GaussianMixtureModel(k, covariance_type)
    data = model.prepare(X)
    reference = scipy_log_joint(X, params, covariance_type)
    expected = logsumexp(reference, axis=1)
    log_resp, log_density = model.responsibilities(data, params)
    assert_close(log_density, expected, RTOL, "log-density")
    assert_close(model.log_joint(data, params), reference, RTOL, "log-joint")
    # posteriors are differences of log-joints, each known to a few ε of its size at best
    conditioning = 1e-9 + 1e-14 * np.abs(expected)[:, None]
    assert np.all(np.abs(np.exp(log_resp) - np.exp(reference - expected[:, None])) <= conditioning)
    _, loglik = model.e_step(data, params)
    assert loglik == pytest.approx(expected.sum(), rel=RTOL)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_rows_far_from_the_centre_are_computed_in_float64(covariance_type):
    """float32 data with a tight component far away and an outlier: within the float32
    tolerance of scipy (the far rows exactly)."""
    rng = np.random.default_rng(3)
    params = random_params(rng, covariance_type, 3, 2, [0.0, 5.0, 1e5], [1.0, 1.0, 1e-2])
    X = rows_around(rng, params, covariance_type, 200, [[3e6, -1e6]]).astype(np.float32)
    model = GaussianMixtureModel(3, covariance_type)
    data = model.prepare(X)
    expected = logsumexp(scipy_log_joint(X.astype(float), params, covariance_type), axis=1)
    _, log_density = model.responsibilities(data, params)
    assert_close(log_density, expected, 2 * FLOAT32_TOLERANCE, "float32 log-density")
    assert_close(log_density[-1:], expected[-1:], RTOL, "the outlier")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_issue_example_far_outlier(covariance_type):
    """The issue's example: three clusters and one row at (10⁶, −10⁶); the fitted mixture's
    log-density of that row is scipy's at the fitted parameters, and the full fit reaches
    scikit-learn's lower bound."""
    r = np.random.default_rng(1)
    c = r.normal(0, 6, (3, 2))
    X = np.vstack([c[r.integers(0, 3, 300)] + r.normal(size=(300, 2)), [[1e6, -1e6]]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = emkit.GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=500, tol=1e-8).fit(X)
    params = {"weights": m.weights_, "means": m.means_, "covariances": m.covariances_}
    expected = logsumexp(scipy_log_joint(X, params, covariance_type), axis=1)
    assert_close(m.score_samples(X), expected, RTOL, "score_samples")
    if covariance_type == "full":
        from sklearn.mixture import GaussianMixture
        reference = GaussianMixture(3, random_state=0, max_iter=500, tol=1e-8).fit(X)
        assert m.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_query_points_beyond_the_float_range(covariance_type):
    """Rows at 10¹⁵⁵ and beyond: log-density −inf (its value is below −10³⁰⁸), posteriors that
    sum to one, no warning; a row at 10³⁰ gets the direct formula's finite value."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) * 3 + 5])
    model = emkit.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    far = np.array([[1e155, 0.0], [1e200, 1e200], [-1e300, 1e300], [1e308, -1.7e308], [1e30, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores, proba = model.score_samples(far), model.predict_proba(far)
    assert np.all(scores[:4] == -np.inf)
    params = {"weights": model.weights_, "means": model.means_, "covariances": model.covariances_}
    assert scores[4] == pytest.approx(logsumexp(scipy_log_joint(far[4:], params, covariance_type)), rel=RTOL)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(proba))
    if covariance_type in ("full", "diag", "spherical"):
        # far along x, the component of larger variance along x takes the row
        variances = np.array([np.atleast_1d(c)[0] if np.ndim(c) < 2 else c[0, 0] for c in model.covariances_]) \
            if covariance_type != "diag" else model.covariances_[:, 0]
        assert model.predict(far[:1])[0] == int(np.argmax(variances))


def test_fitting_data_beyond_the_float_range_is_a_clear_error():
    X = np.vstack([np.random.default_rng(0).normal(size=(50, 2)), [[1e160, 0.0]]])
    with pytest.raises(ValueError, match="X: feature 0 has values up to 1e\\+160.*rescale"):
        emkit.GaussianMixture(2, random_state=0).fit(X)


# ------------------------------------------------------------------------ HMM emissions
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(covariance_type=st.sampled_from(COVARIANCE_TYPES), d=st.integers(1, 3),
       log_offsets=st.lists(st.floats(-1, 7), min_size=3, max_size=3),
       log_scales=st.lists(st.floats(-3, 2), min_size=3, max_size=3),
       log_outlier=st.floats(0, 9), seed=st.integers(0, 2 ** 16))
def test_hmm_emission_log_densities_equal_the_direct_formula(covariance_type, d, log_offsets, log_scales,
                                                              log_outlier, seed):
    """The Gaussian HMM's emission log-densities (product form over features computed once)
    as scipy's, for every state (the chain decides which states matter), whatever the geometry."""
    from emkit.families.gaussian import Gaussian

    rng = np.random.default_rng(seed)
    params = random_params(rng, covariance_type, 3, d, 10.0 ** np.array(log_offsets), 10.0 ** np.array(log_scales))
    X = rows_around(rng, params, covariance_type, 20, rng.normal(size=d) * 10.0 ** log_outlier)
    emission = Gaussian(d, covariance_type)
    block = emission.block_data(emission.prepare(X))
    got = emission.log_likelihood(block, emission.precompute({"means": params["means"],
                                                              "covars": params["covariances"]}))
    reference = scipy_log_joint(X, {**params, "weights": np.ones(3)}, covariance_type)
    assert_close(got, reference, RTOL, "emission log-density")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hmm_query_points_beyond_the_float_range(covariance_type):
    """A sequence with a row at 10¹⁵⁵: log-likelihood −inf, proper posteriors, a Viterbi path,
    no warning; the rows' neighbours keep their posteriors' sense."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) * 3 + 5])
    model = emkit.GaussianHMM(2, covariance_type=covariance_type, random_state=0).fit(X)
    query = np.array([[0.0, 0.0], [1e155, 0.0], [1.0, 1.0], [-1e300, 1e300], [1e308, 1e308], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score, proba = model.score(query), model.predict_proba(query)
        logprob, path = model.decode(query)
    assert score == -np.inf and logprob == -np.inf
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert path.shape == (6,)


@pytest.mark.parametrize("far", [1e8, 1e12, 1e20, 1e155, 1e308])
def test_viterbi_path_after_a_far_row(far):
    """A row far from every state must not absorb the later rows' differences: the Viterbi path
    is the posterior one (states clearly separated) whatever the first row's magnitude."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 2)), 50 + 0.01 * rng.normal(size=(200, 2))])
    model = emkit.GaussianHMM(2, random_state=0).fit(X, lengths=[200, 200])
    model.transmat_ = np.array([[0.9, 0.1], [0.1, 0.9]])
    query = np.array([[far, 0.0]] + [[0.0, 0.0]] * 3 + [[50.0, 50.0]] * 3 + [[0.0, 0.0]] * 3)
    near = int(np.argmin(np.abs(model.means_[:, 0])))
    expected = np.array([near] * 4 + [1 - near] * 3 + [near] * 3)
    np.testing.assert_array_equal(model.predict(query), expected)
    np.testing.assert_array_equal(model.predict_proba(query).argmax(axis=1), expected)


# ------------------------------------------------------------------------ Student t
def reference_log_t(x, location, scatter, dof):
    """log t_ν(x | μ, Σ) with the distance scaled by hand: ``log δ = 2 log s + log ‖L⁻¹(x − μ)/s‖²``."""
    d = location.size
    s = np.max(np.abs(x - location))
    z = np.linalg.solve(np.linalg.cholesky(scatter), (x - location) / s)
    log_delta = 2 * np.log(s) + np.log(z @ z)
    from scipy.special import gammaln
    return (gammaln((dof + d) / 2) - gammaln(dof / 2) - d / 2 * np.log(np.pi * dof)
            - 0.5 * np.linalg.slogdet(scatter)[1] - (dof + d) / 2 * np.logaddexp(0.0, log_delta - np.log(dof)))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_student_query_points_far_away_have_finite_log_densities(covariance_type):
    """A t density has polynomial tails: rows at 10³⁰ and 10¹⁵⁵ have finite log-densities (the
    hand-scaled formula's) and proper posteriors, with no warning."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) * 3 + 5])
    model = emkit.StudentMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    query = np.array([[1e30, 0.0], [1e155, 0.0], [-1e300, 1e300], [1e308, 1e308]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores, proba = model.score_samples(query), model.predict_proba(query)
    k, d = model.means_.shape
    scatters = full_covariances(model.covariances_, covariance_type, k, d)
    expected = logsumexp([[np.log(model.weights_[j]) + reference_log_t(x, model.means_[j], scatters[j],
                                                                         model.dofs_[j]) for j in range(k)]
                          for x in query], axis=1)
    assert_close(scores, expected, RTOL, "t log-density")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_student_fit_on_data_beyond_the_float_range_is_a_clear_error():
    X = np.vstack([np.random.default_rng(0).normal(size=(50, 2)), [[1e160, 0.0]]])
    with pytest.raises(ValueError, match="X: feature 0 has values up to 1e\\+160.*rescale"):
        emkit.StudentMixture(2, random_state=0).fit(X)


# ------------------------------------------------------------------ M-steps of far, narrow components
def two_clusters(shift):
    """A unit cluster at the origin and a cluster of sd 0.01 at 50 + ``shift``: dyadic numbers, so
    that ``shift = 2²⁰`` moves the narrow cluster exactly."""
    rng = np.random.default_rng(0)
    wide = np.round(rng.normal(size=(300, 2)) * 2.0 ** 30) / 2.0 ** 30
    narrow = 50.0 + np.round(0.01 * rng.normal(size=(200, 2)) * 2.0 ** 30) / 2.0 ** 30
    return np.vstack([wide, narrow + shift])


def sorted_fit(estimator, X):
    """``(means, covariances)`` of a fit, components in the order of their first mean coordinate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X)
    order = np.argsort(estimator.means_[:, 0])
    covariances = getattr(estimator, "covariances_", None)
    covariances = estimator.covars_ if covariances is None else covariances
    return estimator.means_[order], (covariances if np.ndim(covariances) == 2 and covariances.shape[0] ==
                                     covariances.shape[1] and estimator.covariance_type == "tied"
                                     else covariances[order])


@pytest.mark.parametrize("make", [
    lambda ct: emkit.GaussianMixture(2, covariance_type=ct, random_state=0, tol=1e-10, max_iter=300),
    lambda ct: emkit.StudentMixture(2, covariance_type=ct, random_state=0, tol=1e-8, max_iter=500),
    lambda ct: emkit.GaussianHMM(2, covariance_type=ct, random_state=0, tol=1e-8, n_iter=300),
], ids=["gmm", "student", "hmm"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_narrow_cluster_far_away_is_fitted_as_near(make, covariance_type):
    """The narrow cluster 2²⁰ away (10⁸ of its standard deviations) gets the covariance and mean
    it gets at 50: statistics about one centre would cancel all of its covariance's digits."""
    near_means, near_cov = sorted_fit(make(covariance_type), two_clusters(0.0))
    far_means, far_cov = sorted_fit(make(covariance_type), two_clusters(2.0 ** 20))
    np.testing.assert_allclose(far_means - [[0.0, 0.0], [2.0 ** 20, 2.0 ** 20]], near_means, rtol=0, atol=1e-6)
    np.testing.assert_allclose(far_cov, near_cov, rtol=1e-6)


def test_far_narrow_cluster_matches_scikit_learn():
    """Two clusters 10⁶ apart, the far one of sd 0.01: scikit-learn's two-pass M-step fits it;
    emkit's covariances agree to 1e-9."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(1000, 2)), 1e6 + 0.01 * rng.normal(size=(1000, 2))])
    ours = emkit.GaussianMixture(2, random_state=0).fit(X)
    theirs = GaussianMixture(2, random_state=0).fit(X)
    order, their_order = np.argsort(ours.means_[:, 0]), np.argsort(theirs.means_[:, 0])
    np.testing.assert_allclose(ours.covariances_[order], theirs.covariances_[their_order], rtol=1e-9)
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-9)


def test_online_em_with_a_far_narrow_cluster_uses_the_statistics_about_the_centre(monkeypatch):
    """partial_fit averages statistics of E-steps at different means: those about each
    component's own (moving) mean cannot be averaged, so online EM takes the statistics about
    the centre, as when no component is far (the same numbers to the last bit)."""
    from emkit.kernels import gaussian_mixture_estep

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(600, 2)), 50 + 0.01 * rng.normal(size=(600, 2))])
    X = X[rng.permutation(len(X))]

    def stream():
        model = emkit.GaussianMixture(2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for part in np.array_split(X, 30):
                model.partial_fit(part)
        return model.means_, model.covariances_

    anchored = stream()
    monkeypatch.setattr(gaussian_mixture_estep, "FAR_TOLERANCE", np.inf)   # never far: centre only
    about_centre = stream()
    np.testing.assert_array_equal(anchored[0], about_centre[0])
    np.testing.assert_array_equal(anchored[1], about_centre[1])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_online_em_with_a_narrow_component_far_beyond_rounding(covariance_type):
    """A component of sd 10⁻³ at 10⁷ (statistics about the centre lose all its variance): online
    EM averages its statistics about the E-steps' means and finds the batch fit's variance."""
    rng = np.random.default_rng(0)

    def batch(n):
        far = rng.integers(0, 2, n).astype(bool)[:, None]
        return np.where(far, 1e7 + rng.normal(0, 1e-3, (n, 1)), rng.normal(0, 1, (n, 1)))

    data = [batch(500) for _ in range(30)]
    online = emkit.GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        for part in data:
            online.partial_fit(part)
    whole = emkit.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(np.vstack(data))
    far = int(np.argmax(online.means_[:, 0]))
    if covariance_type != "tied":
        variance = np.ravel(online.covariances_[far])[0]
        assert variance == pytest.approx(np.ravel(whole.covariances_[int(np.argmax(whole.means_[:, 0]))])[0], rel=0.05)
    assert online.means_[far, 0] == pytest.approx(1e7, abs=1e-3)


def test_hmm_long_runs_of_far_rows():
    """Four hundred rows at 10¹⁵³ (log-densities near −10³⁰⁶, whose sum leaves the float range):
    no warning, log-likelihood −∞, proper posteriors and the same path by Viterbi and MAP."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (300, 1)), rng.normal(5, 1, (300, 1))])
    model = emkit.GaussianHMM(2, "diag", random_state=0, n_iter=20).fit(X)
    query = np.vstack([X[:5], [[1e153]] * 400, X[:5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        viterbi_logprob, viterbi = model.decode(query)
        _, posterior_path = model.decode(query, algorithm="map")
        proba = model.predict_proba(query)
    assert viterbi_logprob == -np.inf and model.score(query) == -np.inf
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(viterbi[5:405], posterior_path[5:405])


def test_float32_data_with_an_outlier_beyond_the_float32_range():
    """float32 data and a query whose square is beyond float32: no overflow warning."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 5]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = emkit.GaussianMixture(2, random_state=0).fit(np.vstack([X, [[1e20, 1e20]]]).astype(np.float32))
        scores = model.score_samples(np.array([[1e20, 1e20], [0, 0]], dtype=np.float32))
        model.predict(np.array([[1e20, 1e20]], dtype=np.float32))
    assert np.isfinite(scores[1])
