"""``emkit.Mixture.impute`` (and ``MixtureModel.impute``): each missing cell replaced by its
conditional mean given the row's observed cells.

Checked against direct computations: for a Gaussian mixture, ``GaussianMixture.impute`` (its own
implementation) and, for one row, the posterior-weighted regression on the observed coordinates
computed by hand; for independent columns (Poisson, Exponential, Gamma), the posterior-weighted
component means with posteriors from scipy's densities.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import softmax

import emkit
from emkit import families


def gaussian_rows(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    X = np.concatenate([rng.multivariate_normal([0, 0], cov, 150), rng.multivariate_normal([4, 1], cov * 0.5, 100)])
    X[rng.random(X.shape) < 0.15] = np.nan
    X[np.isnan(X).all(axis=1), 1] = 0.0
    return X


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gaussian_imputation_equals_the_gaussian_mixtures_and_a_hand_computation(covariance_type):
    X = gaussian_rows()
    mixture = emkit.Mixture(2, family=families.Gaussian(2, covariance_type, covariance_name="covariances"),
                            random_state=0).fit(X)
    filled = mixture.impute(X)
    assert not np.isnan(filled).any()
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(filled[observed], X[observed])
    covariances = mixture.params_["covariances"]
    precisions = np.linalg.inv(covariances) if covariance_type == "full" else 1.0 / covariances
    reference = emkit.GaussianMixture(2, covariance_type=covariance_type, max_iter=0, weights_init=mixture.params_[
        "weights"], means_init=mixture.params_["means"], precisions_init=precisions)
    reference.fit(X)   # max_iter=0: the given parameters, as they are
    np.testing.assert_allclose(filled, reference.impute(X), rtol=1e-10, atol=1e-12)
    row = int(np.flatnonzero(np.isnan(X[:, 1]) & ~np.isnan(X[:, 0]))[0])
    weights, means = mixture.params_["weights"], mixture.params_["means"]
    covs = families.Gaussian(2, covariance_type).full_covariances(mixture.params_["covariances"], 2)
    x0 = X[row, 0]
    log_joint = [np.log(weights[k]) + stats.norm.logpdf(x0, means[k, 0], np.sqrt(covs[k, 0, 0])) for k in range(2)]
    expected = softmax(log_joint) @ [means[k, 1] + covs[k, 1, 0] / covs[k, 0, 0] * (x0 - means[k, 0]) for k in range(2)]
    assert filled[row, 1] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("family, draw, mean", [
    (families.Poisson(2), lambda rng, m: rng.poisson(m, (200, 2)).astype(float), lambda p: p["lambdas"]),
    (families.Exponential(2), lambda rng, m: rng.exponential(m, (200, 2)), lambda p: 1.0 / p["rates"]),
    (families.Gamma(2), lambda rng, m: rng.gamma(2.0, m, (200, 2)), lambda p: p["shapes"] / p["rates"]),
], ids=["poisson", "exponential", "gamma"])
def test_independent_columns_are_imputed_by_the_posterior_weighted_component_means(family, draw, mean):
    rng = np.random.default_rng(1)
    X = draw(rng, np.where(rng.random(200) < 0.5, 1.0, 6.0)[:, None])
    X[rng.random(X.shape) < 0.2] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    mixture = emkit.Mixture(2, family=family, random_state=0).fit(X)
    filled = mixture.impute(X)
    resp = mixture.predict_proba(X)
    expected = np.where(np.isnan(X), resp @ mean(mixture.params_), X)
    np.testing.assert_allclose(filled, expected, rtol=1e-12)


def test_families_that_cannot_impute_say_so():
    X = np.array([[0, 1], [1, np.nan], [2, 0], [1, 1]])
    mixture = emkit.Mixture(2, family=families.Categorical((3, 2)), random_state=0).fit(X)
    with pytest.raises(NotImplementedError, match="Categorical does not give its components' means"):
        mixture.impute(X)
