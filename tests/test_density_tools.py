"""GaussianMixture.cdf and hdr_levels (mclust's densityMclust tools) against scipy and closed forms."""

import numpy as np
import pytest
from scipy.stats import chi2, multivariate_normal, norm

from emkit import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def one_dimensional(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-2.0, 0.7, 150), rng.normal(1.5, 1.3, 250)])[:, None]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_cdf_is_the_mixture_of_normal_cdfs(covariance_type):
    gmm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(one_dimensional())
    points = np.linspace(-5, 6, 23)
    sd = np.sqrt(np.broadcast_to(np.ravel(gmm.covariances_), (2,)))
    expected = sum(w * norm.cdf(points, m, s) for w, m, s in zip(gmm.weights_, gmm.means_[:, 0], sd))
    np.testing.assert_allclose(gmm.cdf(points), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gmm.cdf(points[:, None]), expected, rtol=1e-12, atol=1e-15)


def test_cdf_is_the_integral_of_the_density():
    gmm = GaussianMixture(2, random_state=0).fit(one_dimensional())
    grid = np.linspace(-12, 3, 20001)
    density = np.exp(gmm.score_samples(grid[:, None]))
    integral = np.sum((density[1:] + density[:-1]) / 2 * np.diff(grid))
    assert gmm.cdf([3.0])[0] == pytest.approx(integral, abs=1e-7)


def test_cdf_of_more_than_one_feature_is_an_error_naming_x():
    gmm = GaussianMixture(1).fit(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(ValueError, match="^X: .*one-dimensional"):
        gmm.cdf(np.zeros((3, 2)))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_hdr_level_of_one_gaussian_is_the_chi_square_closed_form(d):
    X = np.random.default_rng(1).normal(size=(4000, d))
    gmm = GaussianMixture(1).fit(X)
    gmm.means_[:] = 0.0   # the fit's estimates, replaced by N(0, I) for a closed form
    gmm.covariances_[:] = np.eye(d)
    gmm.precisions_cholesky_[:] = np.eye(d)
    gmm.precisions_[:] = np.eye(d)
    probs = np.array([0.25, 0.5, 0.95])
    exact = np.exp(-chi2.ppf(probs, d) / 2) / (2 * np.pi) ** (d / 2)
    levels = gmm.hdr_levels(probs, n_samples=200_000, random_state=0)
    np.testing.assert_allclose(levels, exact, rtol=0.02)


def test_hdr_levels_hold_their_probability_by_monte_carlo():
    X = np.random.default_rng(2).normal(size=(300, 2)) + np.repeat([[0, 0], [4, 1]], 150, axis=0)
    gmm = GaussianMixture(2, random_state=0).fit(X)
    levels = gmm.hdr_levels([0.5, 0.9], random_state=3)
    rng = np.random.default_rng(11)
    counts = rng.multinomial(100_000, gmm.weights_)
    draws = np.vstack([rng.multivariate_normal(m, c, size=n) for m, c, n in zip(gmm.means_, gmm.covariances_, counts)])
    density = sum(w * multivariate_normal(m, c).pdf(draws) for w, m, c in zip(gmm.weights_, gmm.means_,
                                                                              gmm.covariances_))
    np.testing.assert_allclose([np.mean(density >= level) for level in levels], [0.5, 0.9], atol=0.01)


def test_hdr_levels_at_the_data_are_quantiles_of_the_density_there():
    X = one_dimensional()
    gmm = GaussianMixture(2, random_state=0).fit(X)
    density = np.exp(gmm.score_samples(X))
    np.testing.assert_allclose(gmm.hdr_levels([0.1, 0.8], X), np.quantile(density, [0.9, 0.2]))
    assert gmm.random_state == 0   # the simulation leaves the estimator as it was
    with pytest.raises(ValueError, match="^probs: "):
        gmm.hdr_levels([1.5])
