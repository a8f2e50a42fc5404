"""HMM partial_fit: online EM one batch per call, equal to emkit.fit_online, approaching the batch fit."""

import numpy as np
import pytest

from emkit import CategoricalHMM, GaussianHMM
from emkit.estimators._hmmlearn_priors import gaussian_hmm_prior
from emkit.exceptions import ConvergenceWarning
from emkit.families.gaussian import Gaussian
from emkit.families.categorical import CategoricalEmission
from emkit.latent.hmm import HiddenMarkovModel
from emkit.variants.online import fit_online

START = {"startprob": np.full(3, 1 / 3), "transmat": np.full((3, 3), 0.1) + 0.7 * np.eye(3)}


def gaussian_truth() -> GaussianHMM:
    truth = GaussianHMM(3, "diag")
    truth.startprob_ = np.array([0.5, 0.3, 0.2])
    truth.transmat_ = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    truth.means_ = np.array([[0.0, 0.0], [3.0, 3.0], [-3.0, 3.0]]) + 100.0  # far from 0: the centre matters
    truth.covars_ = np.array([[1.0, 1.0], [0.5, 2.0], [1.5, 0.5]])
    return truth


def gaussian_start(estimator: GaussianHMM, truth: GaussianHMM) -> GaussianHMM:
    estimator.startprob_, estimator.transmat_ = START["startprob"], START["transmat"]
    estimator.means_ = truth.means_ + 0.7
    estimator.covars_ = np.tile(np.eye(2), (3, 1, 1)) if estimator.covariance_type == "full" else np.ones((3, 2))
    return estimator


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_partial_fit_is_fit_online_one_batch_at_a_time(covariance_type):
    """Same iterates as ``fit_online`` (no averaging) over the same batches from the same start."""
    truth = gaussian_truth()
    batches = [(truth.sample(60, random_state=i)[0], [25, 35]) for i in range(8)]
    estimator = GaussianHMM(3, covariance_type, init_params="")
    gaussian_start(estimator, truth)
    start = {"startprob": estimator.startprob_, "transmat": estimator.transmat_, "means": estimator.means_,
             "covars": estimator._covars_}
    path = []
    for X, lengths in batches:
        estimator.partial_fit(X, lengths)
        path.append(estimator.means_.copy())
    prior = gaussian_hmm_prior(covariance_type, 3, 2)   # GaussianHMM's default priors
    model = HiddenMarkovModel(Gaussian(2, covariance_type, 0.0, covariance_prior=prior), 3)
    online = fit_online(model, batches, init=start, averaging=False, batch_size=lambda batch: len(batch[0]))
    assert estimator.n_iter_ == online.n_iter == 8
    for name in ("startprob", "transmat", "means", "covars"):
        np.testing.assert_allclose(estimator._attribute_params()[name], online.params[name], rtol=1e-12,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(np.array(estimator.lower_bounds_) / 60, online.trace.loglik[1:], rtol=1e-12)
    assert not np.allclose(path[0], path[-1])


def test_categorical_partial_fit_is_fit_online_one_batch_at_a_time():
    rng = np.random.default_rng(2)
    batches = [rng.integers(0, 4, size=(50, 1)) for _ in range(6)]
    start = {**START, "emissionprob": rng.dirichlet(np.ones(4), size=3)}
    estimator = CategoricalHMM(3, n_features=4, init_params="")
    estimator.startprob_, estimator.transmat_, estimator.emissionprob_ = (start[name] for name in
                                                                          ("startprob", "transmat", "emissionprob"))
    for X in batches:
        estimator.partial_fit(X)
    online = fit_online(HiddenMarkovModel(CategoricalEmission(4), 3), batches, init=start, averaging=False)
    for name in ("startprob", "transmat", "emissionprob"):
        np.testing.assert_allclose(estimator._attribute_params()[name], online.params[name], rtol=1e-12,
                                   err_msg=name)


def test_stream_from_a_known_hmm_approaches_the_batch_fit():
    """100 batches of 400 steps, one partial_fit each, against Baum–Welch on their union from
    the same start: the error shrinks from the start's 0.7 to the stream's noise level."""
    truth = gaussian_truth()
    batches = [truth.sample(400, random_state=i)[0] for i in range(100)]
    online = gaussian_start(GaussianHMM(3, "diag", init_params=""), truth)
    for X in batches:
        online.partial_fit(X)
    whole = gaussian_start(GaussianHMM(3, "diag", init_params="", tol=1e-8, n_iter=1000), truth)
    whole.fit(np.vstack(batches), [400] * len(batches))
    assert np.max(np.abs(truth.means_ + 0.7 - whole.means_)) > 0.6
    assert np.max(np.abs(online.means_ - whole.means_)) < 0.06
    assert np.max(np.abs(online.transmat_ - whole.transmat_)) < 0.015
    assert np.max(np.abs(online._covars_ - whole._covars_)) < 0.15
    assert online.n_iter_ == 100 and len(online.lower_bounds_) == 100


def test_partial_fit_starts_like_fit_and_a_failed_call_changes_nothing():
    truth = gaussian_truth()
    X = truth.sample(300, random_state=0)[0]
    first = GaussianHMM(3, "diag", random_state=0).partial_fit(X)
    with pytest.warns(ConvergenceWarning):
        fitted = GaussianHMM(3, "diag", random_state=0, n_iter=1).fit(X)
    # the first step from the k-means start is one Baum–Welch iteration on the batch
    np.testing.assert_allclose(first.means_, fitted.means_, rtol=1e-10)
    before = {name: np.copy(value) for name, value in first._attribute_params().items()}
    with pytest.raises(ValueError, match="X: expected 2 features"):
        first.partial_fit(np.ones((10, 3)))
    with pytest.raises(ValueError, match="lengths"):
        first.partial_fit(X, [100])
    for name, value in first._attribute_params().items():
        np.testing.assert_array_equal(value, before[name])
    assert first.n_iter_ == 1
    first.partial_fit(X)
    assert first.n_iter_ == 2
    first.fit(X)  # fit ends the stream; the next partial_fit starts a new one from the fitted values
    assert first._online_ is None
