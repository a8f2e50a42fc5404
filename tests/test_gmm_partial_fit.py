"""GaussianMixture.partial_fit: online EM one batch per call, against fit_online and the batch fit."""

import numpy as np
import pytest

import emkit
from emkit.datasets import synthetic_gmm
from emkit.models.gaussian_mixture import GaussianMixtureModel, prepare_data
from emkit.variants.online import OnlineEM, fit_online


def batches(X, size):
    return [X[i:i + size] for i in range(0, len(X), size)]


@pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")
def test_first_step_is_one_em_step_from_the_same_start():
    X, _, truth = synthetic_gmm(400, random_state=0)
    start = dict(weights_init=truth["weights"], means_init=truth["means"] + 0.3,
                 precisions_init=np.linalg.inv(truth["covariances"]))
    online = emkit.GaussianMixture(4, **start).partial_fit(X)
    one_step = emkit.GaussianMixture(4, max_iter=1, **start).fit(X)
    np.testing.assert_allclose(online.means_, one_step.means_, rtol=1e-10)
    np.testing.assert_allclose(online.covariances_, one_step.covariances_, rtol=1e-10)
    assert online.n_iter_ == 1 and online.lower_bound_ == pytest.approx(one_step.lower_bound_, rel=1e-12)


def test_partial_fit_equals_fit_online_without_averaging():
    X, _, truth = synthetic_gmm(2000, random_state=1)
    X = X[np.random.default_rng(0).permutation(len(X))] + 1e4   # far from the origin: the fixed centre matters
    init = {"weights": truth["weights"], "means": truth["means"] + 1e4 + 0.2, "covariances": truth["covariances"]}
    estimator = emkit.GaussianMixture(4, weights_init=init["weights"], means_init=init["means"],
                                      precisions_init=np.linalg.inv(init["covariances"]))
    for batch in batches(X, 200):
        estimator.partial_fit(batch)
    model = GaussianMixtureModel(4, "full")
    model.prepare(prepare_data(X[:200], None))  # the same centre as the estimator's (its first batch)
    reference = fit_online(model, [prepare_data(b, None) for b in batches(X, 200)], init=init, averaging=False,
                           batch_size=lambda data: len(data.X))
    np.testing.assert_allclose(estimator.means_, reference.params["means"], rtol=1e-9)
    assert estimator.n_iter_ == 10 and len(estimator.lower_bounds_) == 10


def test_stream_approaches_the_batch_fit():
    X, _, _ = synthetic_gmm(40_000, random_state=2)
    X = X[np.random.default_rng(1).permutation(len(X))]
    batch = emkit.GaussianMixture(4, random_state=0).fit(X)
    online = emkit.GaussianMixture(4, random_state=0)
    for part in batches(X, 1000):
        online.partial_fit(part)
    order = [int(np.argmin(np.linalg.norm(online.means_ - m, axis=1))) for m in batch.means_]
    assert sorted(order) == [0, 1, 2, 3]
    assert np.max(np.abs(online.means_[order] - batch.means_)) < 0.1
    assert online.score(X) == pytest.approx(batch.score(X), abs=0.01)


def test_bad_batches_leave_the_estimator_unchanged():
    X, _, _ = synthetic_gmm(400, random_state=0)
    estimator = emkit.GaussianMixture(4, random_state=0).partial_fit(X[:200])
    means = estimator.means_.copy()
    with pytest.raises(ValueError, match="features"):
        estimator.partial_fit(X[:10, :1])
    with pytest.raises(ValueError, match="n_components"):
        emkit.GaussianMixture(4).partial_fit(X[:3])
    np.testing.assert_array_equal(estimator.means_, means)
    estimator.fit(X)
    assert estimator._online_ is None


def test_batches_smaller_than_n_components_after_the_first():
    """One-row streaming and short last chunks (on main: "4 components need at least as many
    samples"): the same online-EM recursion as over the same batches stepped by hand (OnlineEM,
    checked against fit_online above, whose own batches go through the whole-data checks)."""
    X, _, truth = synthetic_gmm(260, random_state=3)
    X[201, 0] = np.nan  # a one-row batch that does not observe feature 0
    init = {"weights": truth["weights"], "means": truth["means"] + 0.2, "covariances": truth["covariances"]}
    stream = [X[:200]] + [X[i:i + 1] for i in range(200, 250)] + [X[250:253], X[253:]]
    estimator = emkit.GaussianMixture(4, weights_init=init["weights"], means_init=init["means"],
                                      precisions_init=np.linalg.inv(init["covariances"]))
    for batch in stream:
        estimator.partial_fit(batch)
    reference = by_hand(stream, init, centre_from=X[:200])
    np.testing.assert_allclose(estimator.means_, reference.params["means"], rtol=1e-9)
    np.testing.assert_allclose(estimator.covariances_, reference.params["covariances"], rtol=1e-9)
    assert estimator.n_iter_ == len(stream) == len(estimator.lower_bounds_)

    fitted = emkit.GaussianMixture(4, random_state=0).fit(X[:200]).partial_fit(X[200:210])
    means = fitted.means_.copy()
    fitted.partial_fit(X[210:211])  # after fit too, once the stream has started
    assert fitted.n_iter_ == 2 and not np.array_equal(fitted.means_, means)

def by_hand(stream, init, centre_from) -> OnlineEM:
    model = GaussianMixtureModel(4, "full")
    first = model.prepare(prepare_data(centre_from, None))   # the stream's centre of statistics
    state = OnlineEM(model, model.check_params(init), context=first.context)
    for batch in stream:
        state.step(state.prepare(prepare_data(batch, None)), len(batch))
    return state
