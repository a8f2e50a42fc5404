"""The one-pass diagonal Gaussian frame of rows seen once (decoding, scoring) against the plain
formula (scipy), its fallback to the product form, and Gaussian HMM inference against hmmlearn."""

from __future__ import annotations

import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn
from scipy.stats import norm

import emkit
import emkit.kernels.gaussian_mixture_estep as estep
from emkit.families.gaussian import Gaussian
from emkit.kernels.gaussian_frame import TILE_ROWS, diagonal_log_densities, diagonal_terms


def plain(X: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """``Σ_j log N(x_j | μ_kj, σ²_kj)`` by scipy, (n, K)."""
    return norm.logpdf(X[:, None, :], means[None], np.sqrt(variances)[None]).sum(axis=2)


@pytest.mark.parametrize("n, k, d", [(1, 1, 1), (TILE_ROWS - 1, 3, 2), (TILE_ROWS, 8, 4), (2 * TILE_ROWS + 5, 16, 3),
                                     (200, 5, 7)])
def test_kernel_matches_the_plain_formula(n, k, d):
    rng = np.random.default_rng(n + k + d)
    X = rng.normal(scale=3.0, size=(n, d))
    X[0] = 1e150   # far from every state: large, finite, no cancellation
    means = rng.normal(size=(k, d))
    variances = rng.uniform(1e-6, 1e6, size=(k, d))
    out = np.empty((n, k))
    assert diagonal_log_densities(X, *diagonal_terms(means, variances), out)
    np.testing.assert_allclose(out, plain(X, means, variances), rtol=1e-13)


@pytest.mark.parametrize("bad", [np.nan, 1e200])
def test_kernel_reports_a_missing_value_or_an_overflow(bad):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(TILE_ROWS + 3, 2))
    X[TILE_ROWS + 1, 1] = bad   # in the last, partial tile
    out = np.empty((X.shape[0], 3))
    assert not diagonal_log_densities(X, *diagonal_terms(rng.normal(size=(3, 2)), np.full((3, 2), 1e-200)), out)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_frame_of_rows_seen_once_equals_the_product_form(covariance_type):
    rng = np.random.default_rng(1)
    k, d = 4, 3
    family = Gaussian(d, covariance_type)
    X = rng.normal(size=(500, d))
    covars = rng.uniform(0.5, 2.0, size=(k, d) if covariance_type == "diag" else (k,))
    cache = family.precompute({"means": rng.normal(size=(k, d)), "covars": covars})
    variances = np.broadcast_to(covars.reshape(k, -1), (k, d))
    ours = family.frame_log_likelihood(family.block_data(X), cache)
    np.testing.assert_allclose(ours, plain(X, cache.means, variances), rtol=1e-13)
    np.testing.assert_allclose(ours, family.log_likelihood(family.block_data(X), cache), rtol=1e-12)
    X[[3, 7], [0, 2]] = np.nan   # missing values: the general route, the marginal of the observed ones
    np.testing.assert_array_equal(family.frame_log_likelihood(family.block_data(X), cache),
                                  family.log_likelihood(family.block_data(X), cache))


def test_hmm_decode_and_posteriors_skip_the_product_form_and_agree_with_hmmlearn(monkeypatch):
    """Viterbi and posteriors of a diagonal Gaussian HMM on complete data make no features (no
    product form), and equal hmmlearn's: log-probabilities to 1e-12, the same path."""
    rng = np.random.default_rng(2)
    k, d, lengths = 8, 4, [300, 200]
    theirs = hmmlearn.GaussianHMM(k, "diag", implementation="scaling")
    theirs.startprob_ = rng.dirichlet(np.ones(k))
    theirs.transmat_ = 0.8 * np.eye(k) + 0.2 * rng.dirichlet(np.ones(k), size=k)
    theirs.means_ = rng.normal(scale=2.0, size=(k, d))
    covars = rng.uniform(0.5, 1.5, size=(k, d))
    theirs.covars_ = covars
    X = theirs.sample(sum(lengths), random_state=3)[0]
    ours = emkit.GaussianHMM(k, "diag", n_jobs=1)
    ours.startprob_, ours.transmat_, ours.means_ = theirs.startprob_, theirs.transmat_, theirs.means_
    ours.covars_ = covars

    def no_features(*args, **kwargs):
        raise AssertionError("the product form's features were made for rows seen once")

    monkeypatch.setattr(estep, "diagonal_features", no_features)
    logprob, path = ours.decode(X, lengths)
    their_logprob, their_path = theirs.decode(X, lengths)
    assert logprob == pytest.approx(their_logprob, rel=1e-12)
    np.testing.assert_array_equal(path, their_path)
    loglik, posteriors = ours.score_samples(X, lengths)
    their_loglik, their_posteriors = theirs.score_samples(X, lengths)
    assert loglik == pytest.approx(their_loglik, rel=1e-12)
    np.testing.assert_allclose(posteriors, their_posteriors, atol=1e-10)
