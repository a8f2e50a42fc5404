"""The uniform noise component (mclust's ``noise``/``Vinv``/``hypvol``): ``p(x) = π_0 V⁻¹ + Σ_k π_k N(x | μ_k, Σ_k)``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from direct_mle import maximize
from emkit import GaussianMixture
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.latent.noise import UniformNoise, hypervolume


def _clusters_with_noise(seed: int = 0, n: int = 300, noise_fraction: float = 0.1):
    """Two Gaussian clusters and uniform noise over [−10, 16]², with the true labels (−1: noise)."""
    rng = np.random.default_rng(seed)
    n_noise = int(noise_fraction * n)
    n_each = (n - n_noise) // 2
    a = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]], n_each)
    b = rng.multivariate_normal([6.0, 5.0], [[0.6, -0.2], [-0.2, 1.2]], n_each)
    noise = rng.uniform(-10.0, 16.0, size=(n_noise, 2))
    return np.vstack([a, b, noise]), np.repeat([0, 1, -1], [n_each, n_each, n_noise])


# ------------------------------------------------------------------------------ hypvol
def test_hypervolume_one_column_is_the_range():
    volume, (centre, rotation, lower, upper) = hypervolume(np.array([[2.0], [-1.0], [5.5], [0.0]]))
    assert volume == pytest.approx(6.5)
    assert (lower[0], upper[0]) == (-1.0, 5.5)


def test_hypervolume_rotated_rectangle_uses_the_principal_box():
    """Corners of a 4 × 1 rectangle (and its centre) turned by 45°: the coordinate box is
    (2.5·√2)² = 12.5, the principal box 4 × 1 = 4; hypvol is the smaller."""
    u = np.array([[-2.0, -0.5], [2.0, -0.5], [-2.0, 0.5], [2.0, 0.5], [0.0, 0.0]])
    c = s = math.sqrt(0.5)
    X = u @ np.array([[c, -s], [s, c]]).T + [3.0, -1.0]
    volume, box = hypervolume(X)
    assert np.prod(X.max(axis=0) - X.min(axis=0)) == pytest.approx(12.5)
    assert volume == pytest.approx(4.0)
    # the box kept for sampling has that volume and holds the data
    noise = UniformNoise(1.0 / volume, *box)
    assert np.prod(noise.upper - noise.lower) == pytest.approx(4.0)
    draws = noise.sample(2000, np.random.default_rng(0))
    coordinates = (draws - noise.centre) @ noise.rotation
    assert np.all(coordinates >= noise.lower - 1e-12) and np.all(coordinates <= noise.upper + 1e-12)


def test_hypervolume_axis_box_when_smaller_and_against_svd():
    """An L-shaped cloud whose axis box is smaller than its principal box; the principal box by
    an SVD of the centred data (another route than the eigenvectors of the covariance)."""
    X = np.array([[0, 0], [0, 3], [0, 1], [0, 2], [1, 0], [2, 0], [3, 0], [0.5, 0.2]], dtype=float)
    box = np.prod(X.max(axis=0) - X.min(axis=0))
    centred = X - X.mean(axis=0)
    scores = centred @ np.linalg.svd(centred, full_matrices=False)[2].T
    principal = np.prod(scores.max(axis=0) - scores.min(axis=0))
    assert box < principal
    assert hypervolume(X)[0] == pytest.approx(min(box, principal), rel=1e-12)


def test_fitted_vinv_is_the_reciprocal_hypervolume_or_the_given_number():
    X, _ = _clusters_with_noise()
    fitted = GaussianMixture(2, noise=True, random_state=0).fit(X)
    assert fitted.Vinv_ == pytest.approx(1.0 / hypervolume(X)[0], rel=1e-12)
    given = GaussianMixture(2, noise=1e-3, random_state=0).fit(X)
    assert given.Vinv_ == 1e-3


# --------------------------------------------------------- EM against direct maximisation
def _noise_mixture_loglik_1d(X, vinv):
    x = X[:, 0]

    def loglik(theta):
        logits = np.array([theta[0], theta[1], 0.0 * theta[0]])
        log_pi = logits - np.log(np.sum(np.exp(logits)))
        means, log_sd = theta[2:4], theta[4:6]
        terms = [log_pi[k] - 0.5 * ((x - means[k]) / np.exp(log_sd[k])) ** 2 - log_sd[k] - 0.5 * np.log(2 * np.pi)
                 for k in range(2)]
        terms.append(log_pi[2] + np.log(vinv) + 0.0 * x)
        return np.sum(np.log(np.exp(terms[0]) + np.exp(terms[1]) + np.exp(terms[2])))

    return loglik


def test_em_with_noise_matches_direct_maximisation_1d():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(-2.0, 0.7, 18), rng.normal(3.0, 1.0, 16), rng.uniform(-12, 14, 6)])[:, None]
    fitted = GaussianMixture(2, noise=True, tol=1e-13, max_iter=20000, random_state=0).fit(X)
    vinv = fitted.Vinv_
    assert vinv == pytest.approx(1.0 / np.ptp(X))
    order = np.argsort(fitted.means_[:, 0])
    weights, means = fitted.weights_[order], fitted.means_[order, 0]
    sds = np.sqrt(fitted.covariances_[order, 0, 0])
    start = np.concatenate([np.log(weights / fitted.noise_proportion_), means, np.log(sds)])
    theta = maximize(_noise_mixture_loglik_1d(X, vinv), start + 0.05)
    logits = np.array([theta[0], theta[1], 0.0])
    pi = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(weights, pi[:2], atol=1e-6)
    assert float(fitted.noise_proportion_) == pytest.approx(pi[2], abs=1e-6)
    np.testing.assert_allclose(means, theta[2:4], atol=1e-5)
    np.testing.assert_allclose(sds, np.exp(theta[4:6]), atol=1e-5)
    direct = float(np.real(_noise_mixture_loglik_1d(X, vinv)(theta.astype(complex))))
    assert fitted.score(X) * X.shape[0] == pytest.approx(direct, abs=1e-7)


def test_em_with_noise_matches_direct_maximisation_2d():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.multivariate_normal([1.0, -1.0], [[1.0, 0.6], [0.6, 0.9]], 26),
                   rng.uniform(-8.0, 9.0, size=(6, 2))])
    vinv = 2e-3
    fitted = GaussianMixture(1, noise=vinv, tol=1e-13, max_iter=20000, random_state=0).fit(X)

    def loglik(theta):
        log_pi = theta[0] - np.log(1.0 + np.exp(theta[0]))
        log_pi0 = -np.log(1.0 + np.exp(theta[0]))
        mean = theta[1:3]
        l11, l21, l22 = np.exp(theta[3]), theta[4], np.exp(theta[5])
        z1 = (X[:, 0] - mean[0]) / l11
        z2 = (X[:, 1] - mean[1] - l21 * z1) / l22
        log_normal = -0.5 * (z1 ** 2 + z2 ** 2) - theta[3] - theta[5] - np.log(2 * np.pi)
        return np.sum(np.log(np.exp(log_pi + log_normal) + np.exp(log_pi0) * vinv))

    cov = fitted.covariances_[0]
    l = np.linalg.cholesky(cov)
    start = np.array([np.log(fitted.weights_[0] / fitted.noise_proportion_), *fitted.means_[0],
                      np.log(l[0, 0]), l[1, 0], np.log(l[1, 1])])
    theta = maximize(loglik, start + 0.05)
    assert fitted.weights_[0] == pytest.approx(1.0 / (1.0 + np.exp(-theta[0])), abs=1e-6)
    np.testing.assert_allclose(fitted.means_[0], theta[1:3], atol=1e-5)
    direct_l = np.array([[np.exp(theta[3]), 0.0], [theta[4], np.exp(theta[5])]])
    np.testing.assert_allclose(cov, direct_l @ direct_l.T, atol=1e-5)
    assert fitted.weights_.sum() + fitted.noise_proportion_ == pytest.approx(1.0, abs=1e-12)
    assert fitted.score(X) * X.shape[0] == pytest.approx(float(np.real(loglik(theta.astype(complex)))), abs=1e-7)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), k=st.integers(1, 3), covariance_type=st.sampled_from(["full", "diag"]))
@example(seed=111, k=3, covariance_type="diag")   # a component empties (its warning once indexed K + 1 counts)
def test_ascent_with_noise(seed, k, covariance_type):
    """EM with a noise component never lowers its objective (here the log-posterior)."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(25, 2)) * rng.uniform(0.5, 2.0, 2) + rng.normal(0, 4, 2) for _ in range(2)]
                  + [rng.uniform(-10, 10, size=(5, 2))])
    # a conjugate covariance prior keeps the M-step exact (MAP-EM: the log-posterior never falls),
    # where reg_covar's floor may lower the objective of a collapsing component
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)   # an emptied component is fine here
        fitted = GaussianMixture(k, covariance_type=covariance_type, noise=True, max_iter=60, tol=0.0,
                                 covariance_prior=0.05, random_state=seed % 1000).fit(X)
    bounds = np.asarray(fitted.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.maximum(1.0, np.abs(bounds[1:])))
    assert 0.0 <= float(fitted.noise_proportion_) <= 1.0
    assert fitted.weights_.sum() + fitted.noise_proportion_ == pytest.approx(1.0, abs=1e-10)


# ------------------------------------------------------------------------------ recovery
def test_recovers_two_clusters_and_ten_percent_noise():
    X, truth = _clusters_with_noise(n=600)
    fitted = GaussianMixture(2, noise=True, random_state=0).fit(X)
    labels = fitted.predict(X)
    noise_rows = truth == -1
    assert np.mean(labels[noise_rows] == -1) >= 0.75
    assert np.mean(labels[~noise_rows] == -1) <= 0.03
    assert float(fitted.noise_proportion_) == pytest.approx(0.1, abs=0.03)
    order = np.argsort(fitted.means_[:, 0])
    np.testing.assert_allclose(fitted.means_[order], [[0.0, 0.0], [6.0, 5.0]], atol=0.2)
    np.testing.assert_allclose(fitted.covariances_[order[0]], [[1.0, 0.3], [0.3, 0.5]], atol=0.25)
    np.testing.assert_allclose(fitted.covariances_[order[1]], [[0.6, -0.2], [-0.2, 1.2]], atol=0.25)
    proba = fitted.predict_proba(X)
    assert proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.where(proba.argmax(axis=1) == 2, -1, proba.argmax(axis=1)), labels)
    # score_samples includes the noise density: log(π_0 V⁻¹ + Σ π_k N)
    far = np.array([[15.0, -9.0]])
    assert fitted.score_samples(far)[0] == pytest.approx(np.log(fitted.noise_proportion_ * fitted.Vinv_), rel=1e-9)


def test_sample_draws_noise_rows_over_the_box():
    X, _ = _clusters_with_noise(n=600)
    fitted = GaussianMixture(2, noise=True, random_state=0).fit(X)
    draws, labels = fitted.sample(4000)
    noisy = labels == -1
    assert noisy.mean() == pytest.approx(float(fitted.noise_proportion_), abs=0.02)
    box = fitted._noise_
    coordinates = (draws[noisy] - box.centre) @ box.rotation
    assert np.all(coordinates >= box.lower - 1e-9) and np.all(coordinates <= box.upper + 1e-9)


# ------------------------------------------------------------------------------ the noise mask
@pytest.mark.parametrize("init_params", ["kmeans", "hc"])
def test_noise_mask_start(init_params):
    """The masked rows start as noise (π_0 their fraction); the others get the usual start (with
    "hc", mclust's: the tree of the rows not masked)."""
    X, truth = _clusters_with_noise(n=300)
    mask = truth == -1
    start = GaussianMixture(2, noise=True, noise_init=mask, max_iter=0, init_params=init_params,
                            random_state=4).fit(X)
    usual = GaussianMixture(2, max_iter=0, init_params=init_params, random_state=4).fit(X[~mask])
    assert float(start.noise_proportion_) == pytest.approx(mask.mean(), rel=1e-12)
    np.testing.assert_allclose(start.means_, usual.means_, rtol=1e-10)
    np.testing.assert_allclose(start.covariances_, usual.covariances_, rtol=1e-8)
    np.testing.assert_allclose(start.weights_, usual.weights_ * (1.0 - mask.mean()), rtol=1e-10)
    fitted = GaussianMixture(2, noise=True, noise_init=mask, random_state=4).fit(X)
    assert np.mean(fitted.predict(X)[mask] == -1) >= 0.75


# ------------------------------------------------------------------------------ criteria
def test_bic_counts_the_noise_as_mclust_does():
    """mclust's nMclustParams("VVV", d = 2, G = 2, noise = TRUE): 6 + 4 + 1 + 2 = 13."""
    X, _ = _clusters_with_noise()
    fitted = GaussianMixture(2, noise=True, random_state=0).fit(X)
    n = X.shape[0]
    loglik = fitted.score(X) * n
    assert fitted.bic(X) == pytest.approx(-2.0 * loglik + 13 * np.log(n), rel=1e-12)
    assert fitted.aic(X) == pytest.approx(-2.0 * loglik + 2 * 13, rel=1e-12)
    plain = GaussianMixture(2, random_state=0).fit(X)
    assert plain.bic(X) == pytest.approx(-2.0 * plain.score(X) * n + 11 * np.log(n), rel=1e-12)


# ------------------------------------------------------------------------------ persistence
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_load_round_trip(tmp_path, suffix):
    X, _ = _clusters_with_noise()
    fitted = GaussianMixture(2, noise=True, random_state=0).fit(X)
    path = fitted.save(tmp_path / f"noise{suffix}")
    loaded = GaussianMixture.load(path)
    assert loaded.Vinv_ == fitted.Vinv_
    assert float(loaded.noise_proportion_) == float(fitted.noise_proportion_)
    np.testing.assert_array_equal(loaded.score_samples(X), fitted.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded.sample(50)[0], fitted.sample(50)[0])
    assert loaded.bic(X) == fitted.bic(X)


# ------------------------------------------------------------------------------ bad input
def test_bad_noise_arguments_name_the_argument():
    X, _ = _clusters_with_noise()
    with pytest.raises(ValueError, match="noise"):
        GaussianMixture(2, noise=-1.0).fit(X)
    with pytest.raises(ValueError, match="noise_init"):
        GaussianMixture(2, noise_init=np.zeros(len(X), bool)).fit(X)
    with pytest.raises(ValueError, match="noise_init"):
        GaussianMixture(2, noise=True, noise_init=np.zeros(3, bool)).fit(X)
    holes = X.copy()
    holes[0, 0] = np.nan
    estimator = GaussianMixture(2, noise=True)
    with pytest.raises(ValueError, match="X: missing values"):
        estimator.fit(holes)
    assert not hasattr(estimator, "weights_")
    with pytest.raises(ValueError, match="noise: partial_fit"):
        GaussianMixture(2, noise=True).partial_fit(X)


def test_dask_input_is_refused_with_noise():
    da = pytest.importorskip("dask.array")
    X, _ = _clusters_with_noise()
    with pytest.raises(ValueError, match="noise: Dask"):
        GaussianMixture(2, noise=True).fit(da.from_array(X, chunks=100))


def test_louis_standard_errors_with_noise_match_the_hessian():
    """Louis's method (the noise column's complete-data scores: only the weights') against the
    numerical Hessian of the observed-data log-likelihood, with the noise weight among the
    free parameters."""
    from emkit.inference.api import standard_errors

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(-2.0, 0.7, 60), rng.normal(3.0, 1.0, 50), rng.uniform(-12, 14, 15)])[:, None]
    fitted = GaussianMixture(2, noise=True, tol=1e-12, max_iter=5000, random_state=0).fit(X)
    louis = standard_errors(fitted.result_, X, "louis")
    hessian = standard_errors(fitted.result_, X, "hessian")
    assert "noise" in louis.se
    np.testing.assert_allclose(louis.reported_cov, hessian.reported_cov, rtol=1e-6, atol=1e-10)


def test_gmm_select_with_noise_counts_and_labels_like_mclust():
    """``gmm_select(..., noise=True)``: every candidate shares the data's V; the table counts
    mclust's parameters (spherical, G = 3, d = 2: 3 + 6 + 2 + 2 = 13) and its labels are predict's."""
    from emkit.selection import criteria_and_labels, gmm_select

    X, _ = _clusters_with_noise()
    result = gmm_select(X, n_components=[2, 3], covariance_types=["spherical"], noise=True)
    row = next(row for row in result.table if row["n_components"] == 3)
    assert row["n_parameters"] == 13
    model = result.models[(3, "spherical")]
    assert model.Vinv_ == pytest.approx(1.0 / hypervolume(X)[0])
    np.testing.assert_array_equal(criteria_and_labels(model, X)[1], model.predict(X))
    assert np.any(model.predict(X) == -1)


def test_the_latent_layer_carries_the_noise_for_any_family():
    """MixtureModel(family, K, noise=UniformNoise): the same E-step log-likelihood as the face,
    and its fitted parameters are a fixed point of the latent layer's EM map."""
    from emkit.families import Gaussian
    from emkit.latent import MixtureModel

    X, _ = _clusters_with_noise()
    fitted = GaussianMixture(2, noise=True, tol=1e-12, max_iter=3000, random_state=0).fit(X)
    model = MixtureModel(Gaussian(2, "full", covariance_name="covariances"), 2,
                         noise=UniformNoise.of_data(X))
    assert model.param_names[:2] == ("weights", "noise")
    params = model.check_params({"weights": fitted.weights_, "noise": fitted.noise_proportion_,
                                 "means": fitted.means_, "covariances": fitted.covariances_})
    data = model.prepare(X)
    stats, loglik = model.e_step(data, params)
    assert loglik == pytest.approx(fitted.score(X) * X.shape[0], rel=1e-12)
    assert stats["counts"].shape == (3,)
    step = model.m_step(stats, params)
    assert float(step["noise"]) == pytest.approx(float(fitted.noise_proportion_), abs=1e-7)
    np.testing.assert_allclose(step["means"], fitted.means_, atol=1e-5)
    labels = model.predict(data, params)
    np.testing.assert_array_equal(labels, fitted.predict(X))
    assert model.n_free_parameters() == 12   # K = 2 free weights (with π_0) + 4 means + 6 covariances
