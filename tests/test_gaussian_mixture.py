"""The Gaussian-mixture model under the engine: additivity, ascent, weights, frozen parameters, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import norm

import emkit
from emkit import DegenerateComponentWarning, GaussianMixture, fit
from emkit.engine import add_stats
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.latent import sequences
from emkit.models.gaussian_mixture import GaussianMixtureModel


def blobs(seed=0, n=(40, 30, 30), offset=0.0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, 0.0], [0.0, 4.0, 3.0]])
    scales = np.array([[1.0, 1.0, 1.0], [0.5, 2.0, 1.0], [1.0, 0.7, 0.4]])
    return offset + np.vstack([c + s * rng.normal(size=(m, 3)) for c, s, m in zip(centers, scales, n)])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("with_missing", [False, True])
def test_stats_of_halves_add_up_to_the_whole(covariance_type, with_missing):
    X = blobs(offset=1e3)
    if with_missing:
        X[np.random.default_rng(1).random(X.shape) < 0.2] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 1e3
    weights = np.random.default_rng(2).integers(1, 4, size=len(X)).astype(float)
    model = GaussianMixtureModel(3, covariance_type)
    whole = model.prepare((X, weights))
    params = model.initial_params(whole)
    stats, loglik = model.e_step(whole, params)
    first = model.prepare_chunk((X[:37], weights[:37]), whole.context)   # the whole data's centre
    second = model.prepare_chunk((X[37:], weights[37:]), whole.context)
    s1, l1 = model.e_step(first, params)
    s2, l2 = model.e_step(second, params)
    for key, value in add_stats(s1, s2).items():
        np.testing.assert_allclose(value, stats[key], rtol=1e-12, atol=1e-9)
    assert l1 + l2 == pytest.approx(loglik, rel=1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_row_blocks_give_the_same_e_step(monkeypatch, covariance_type):
    """The E-step's statistics do not depend on how the rows are cut into blocks (the mixture's
    blocks, :mod:`emkit.latent.sequences`): one block, then blocks of 16 rows."""
    X = blobs()
    X[::7, 1] = np.nan
    model = GaussianMixtureModel(3, covariance_type)
    data = model.prepare(X)
    params = model.initial_params(data)
    stats, loglik = model.e_step(data, params)
    monkeypatch.setattr(sequences, "BLOCK_ROWS", 16)
    monkeypatch.setattr(sequences, "MIN_BLOCK_ROWS", 16)
    cut = model.prepare(X)
    stats_b, loglik_b = model.e_step(cut, params)
    assert (len(data.blocks), len(cut.blocks)) == (1, -(-X.shape[0] // 16))
    assert loglik_b == pytest.approx(loglik, rel=1e-13)
    for key in stats:
        np.testing.assert_allclose(stats_b[key], stats[key], rtol=1e-12, atol=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), covariance_type=st.sampled_from(COVARIANCE_TYPES),
       k=st.integers(1, 3), missing=st.sampled_from([0.0, 0.2]),
       frozen=st.sampled_from([(), ("weights",), ("means",), ("covariances",)]))
def test_ascent_property(seed, covariance_type, k, missing, frozen):
    """EM (and the conditional maximizations with frozen parameters) never lowers ℓ."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 2)) * rng.uniform(0.5, 3.0, size=2) + rng.normal(size=2) * 10
    X[: 30 // 2] += rng.normal(size=2) * 3
    X[rng.random(X.shape) < missing] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    weights = rng.integers(1, 3, size=30).astype(float)
    probe = GaussianMixtureModel(k, covariance_type, reg_covar=0.0, init_method="random")
    start = probe.initial_params(probe.prepare((X, weights)), rng)
    model = GaussianMixtureModel(k, covariance_type, reg_covar=0.0, init_method="random",
                                 fixed={name: start[name] for name in frozen})
    data = model.prepare((X, weights))
    trace = [model.e_step(data, start)[1]]
    params = start
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateComponentWarning)
            for _ in range(15):
                stats, loglik = model.e_step(data, params)
                params = model.m_step(stats, params)
                trace.append(model.e_step(data, params)[1])
    except ValueError as error:  # a component collapsed onto a point (reg_covar=0): not an ascent failure
        assume("reg_covar" not in str(error))
        raise
    steps = np.diff(trace)
    assert np.all(steps >= -1e-9 * np.abs(np.array(trace[1:]))), trace


def test_integer_weights_equal_repeated_rows():
    X = blobs(seed=3)
    counts = np.random.default_rng(4).integers(0, 4, size=len(X))
    for covariance_type in COVARIANCE_TYPES:
        weighted = GaussianMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=500, random_state=1)
        weighted.fit(X, sample_weight=counts)
        repeated = GaussianMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=500, random_state=1)
        repeated.fit(np.repeat(X, counts, axis=0))
        assert weighted.n_iter_ == repeated.n_iter_
        np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-9)
        np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-8, atol=1e-10)
        assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-11)


def test_frozen_means_maximize_the_likelihood_over_the_rest():
    """1-D, two components with means held at 0 and 3: EM equals direct maximization over
    the weight and the two variances (scipy.optimize on the observed-data likelihood)."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0.2, 1.0, 60), rng.normal(2.7, 0.5, 40)])
    means = np.array([[0.0], [3.0]])
    estimator = GaussianMixture(2, covariance_type="diag", means_init=means, weights_init=[0.5, 0.5],
                                precisions_init=[[1.0], [1.0]], frozen=("means",), tol=1e-13, max_iter=10_000,
                                reg_covar=0.0).fit(x[:, None])
    np.testing.assert_array_equal(estimator.means_, means)

    def negative_loglik(theta):
        w = 1.0 / (1.0 + np.exp(-theta[0]))
        sd = np.exp(theta[1:])
        return -logsumexp(np.stack([np.log(w) + norm.logpdf(x, 0.0, sd[0]),
                                    np.log(1 - w) + norm.logpdf(x, 3.0, sd[1])]), axis=0).sum()

    best = minimize(negative_loglik, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    w = 1.0 / (1.0 + np.exp(-best.x[0]))
    assert estimator.weights_[0] == pytest.approx(w, abs=1e-5)
    np.testing.assert_allclose(np.sqrt(estimator.covariances_[:, 0]), np.exp(best.x[1:]), rtol=1e-5)
    assert estimator.score(x[:, None]) * len(x) == pytest.approx(-best.fun, rel=1e-10)


@pytest.mark.parametrize("frozen", [("weights",), ("covariances",), ("weights", "means", "covariances")])
def test_frozen_parameters_stay_at_their_values(frozen):
    X = blobs()
    init = dict(weights_init=[0.2, 0.3, 0.5], means_init=X[[0, 45, 80]], precisions_init=np.stack([np.eye(3)] * 3))
    estimator = GaussianMixture(3, frozen=frozen, **init).fit(X)
    if "weights" in frozen:
        np.testing.assert_array_equal(estimator.weights_, [0.2, 0.3, 0.5])
    if "covariances" in frozen:
        np.testing.assert_allclose(estimator.covariances_, np.stack([np.eye(3)] * 3), atol=1e-15)
    free = GaussianMixture(3, **init).fit(X)
    assert free.lower_bound_ >= estimator.lower_bound_ - 1e-12
    assert estimator._n_parameters() == free._n_parameters() - sum(
        {"weights": 2, "means": 9, "covariances": 18}[name] for name in frozen)


def test_frozen_needs_its_value():
    with pytest.raises(ValueError, match="means_init"):
        GaussianMixture(2, frozen=("means",)).fit(blobs())
    with pytest.raises(ValueError, match="frozen"):
        GaussianMixture(2, frozen=("banana",)).fit(blobs())


def test_squarem_reaches_the_same_estimate_in_fewer_passes():
    X = blobs(seed=6, n=(60, 60, 60))
    common = dict(tol=1e-12, max_iter=5000, random_state=0)
    plain = GaussianMixture(3, **common).fit(X)
    fast = GaussianMixture(3, accelerate="squarem", **common).fit(X)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-9)
    np.testing.assert_allclose(np.sort(fast.means_, axis=0), np.sort(plain.means_, axis=0), atol=1e-5)
    assert fast.result_.n_evaluations < plain.result_.n_evaluations


def test_empty_component_warns_and_collapsed_component_names_reg_covar():
    X = blobs()
    far = np.array([[1e3, 1e3, 1e3], [0.0, 0.0, 0.0]])
    model = GaussianMixtureModel(2, "diag", reg_covar=1e-6)
    data = model.prepare(X)
    start = {"weights": np.array([0.5, 0.5]), "means": far, "covariances": np.ones((2, 3)) * 1e-3}
    with pytest.warns(DegenerateComponentWarning, match=r"component\(s\) \[0\]"):
        params = model.m_step(model.e_step(data, start)[0], start)
    assert params["weights"][0] == 0.0
    np.testing.assert_array_equal(params["means"][0], far[0])
    duplicated = np.vstack([np.ones((5, 2)), np.random.default_rng(0).normal(size=(20, 2)) + 10])
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(2, reg_covar=0.0, means_init=[[1.0, 1.0], [10.0, 10.0]]).fit(duplicated)


def test_bad_input_is_named():
    X = blobs()
    Xn = X.copy()
    Xn[7] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        GaussianMixture(2).fit(Xn)
    with pytest.raises(ValueError, match="n_components = 5, n_samples = 4"):
        GaussianMixture(5).fit(X[:4])
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixtureModel(5).prepare(X[:4])
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2).fit(np.where(X > 3, np.inf, X))
    with pytest.raises(ValueError, match="2-D"):
        GaussianMixture(2).fit(X[:, 0])
    with pytest.raises(ValueError, match="means_init"):
        GaussianMixture(2, means_init=np.zeros((2, 4))).fit(X)
    with pytest.raises(ValueError, match="weights_init"):
        GaussianMixture(2, weights_init=[0.7, 0.7]).fit(X)
    with pytest.raises(ValueError, match="precisions_init"):
        GaussianMixture(2, covariance_type="diag", precisions_init=-np.ones((2, 3))).fit(X)
    with pytest.raises(ValueError, match="sample_weight"):
        GaussianMixture(2).fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        GaussianMixture(2).fit(X, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(2, covariance_type="banana").fit(X)
    model = GaussianMixtureModel(2)
    model.prepare(X)
    with pytest.raises(ValueError, match=r"init\['covariances'\]"):
        model.check_params({"weights": [0.5, 0.5], "means": np.zeros((2, 3)), "covariances": np.zeros((2, 3, 3))})
    with pytest.raises(ValueError, match=r"init\['weights'\]"):
        model.check_params({"weights": [0.9, 0.5], "means": np.zeros((2, 3)), "covariances": np.stack([np.eye(3)] * 2)})


def test_failed_fit_leaves_the_estimator_and_inputs_unchanged():
    X = blobs()
    estimator = GaussianMixture(2, random_state=0).fit(X)
    before = {key: np.copy(value) for key, value in vars(estimator).items() if key.endswith("_")
              and isinstance(value, np.ndarray)}
    bad = X.copy()
    bad[3] = np.nan
    copy = bad.copy()
    with pytest.raises(ValueError):
        estimator.fit(bad)
    np.testing.assert_array_equal(bad, copy)
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(estimator, key), value)


def test_engine_fit_of_the_model_and_named_parameters():
    X = blobs(seed=8)
    model = GaussianMixtureModel(3, "diag")
    result = fit(model, X, n_init=2, random_state=0)
    assert result.converged
    named = result.named_params()
    assert set(named) == {"weights", "means", "covariances"}
    assert np.shape(named["means"]) == (3, 3)
    assert model.n_free_parameters(3) == 2 + 9 + 9
    assert isinstance(emkit.GaussianMixture(), GaussianMixture)


def test_the_kmeans_start_of_integer_weights_is_that_of_repeated_rows():
    """The k-means start scales the columns by their weighted spread (it used the unweighted rows),
    so integer weights start exactly where the repeated rows do."""
    from emkit.models.gaussian_mixture import initial_responsibilities

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(40, 2)) * [1.0, 30.0], rng.normal(size=(40, 2)) * [5.0, 1.0] + 8.0])
    counts = np.where(np.arange(80) < 40, 6, 1)
    weighted = initial_responsibilities(X, 3, "kmeans", np.random.default_rng(0), counts.astype(float))
    repeated = initial_responsibilities(np.repeat(X, counts, axis=0), 3, "kmeans", np.random.default_rng(0))
    np.testing.assert_array_equal(np.repeat(weighted, counts, axis=0), repeated)
