"""emkit.PoissonHMM: hmmlearn's PoissonHMM (run here) from the same start, and the estimator's own
contract (sampling, missing cells, save/load, clone, bad input, standard errors)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn
from scipy.special import logsumexp
from scipy.stats import poisson

import emkit
from hmm_fixtures import assert_inference_agrees
from emkit import PoissonHMM
from emkit.exceptions import ConvergenceWarning

TRUTH = {"startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.85, 0.15], [0.25, 0.75]]),
         "lambdas": np.array([[1.0, 4.0], [6.0, 1.5]])}


def set_params(estimator, params):
    for name, value in params.items():
        setattr(estimator, f"{name}_", value)
    return estimator


def simulate(lengths, seed, truth=TRUTH):
    """Sequences of counts from ``truth``, drawn by hmmlearn (an independent sampler)."""
    source = set_params(hmmlearn.PoissonHMM(len(truth["startprob"])), truth)
    rng = np.random.RandomState(seed)
    return np.concatenate([source.sample(n, random_state=rng)[0] for n in lengths]).astype(float)


def test_matches_hmmlearn_from_the_same_start():
    """Same start, neutral priors: score, every iteration's log-likelihood, the estimates,
    decoding, posteriors and per-step scores equal hmmlearn's."""
    rng = np.random.default_rng(0)
    truth = {"startprob": np.array([0.5, 0.3, 0.2]),
             "transmat": 0.4 * rng.dirichlet(np.ones(3) * 3, size=3) + 0.6 * np.eye(3),
             "lambdas": np.array([[1.0, 4.0], [5.0, 1.5], [9.0, 7.0]])}
    lengths = [120, 80, 100]
    X = simulate(lengths, 1, truth)
    start = {"startprob": rng.dirichlet(np.ones(3)), "transmat": rng.dirichlet(np.ones(3), size=3),
             "lambdas": rng.uniform(1.0, 8.0, size=(3, 2))}
    n_iter = 15
    ours = set_params(PoissonHMM(3, n_iter=n_iter, tol=0.0, init_params=""), start)
    theirs = set_params(hmmlearn.PoissonHMM(3, n_iter=n_iter, tol=-np.inf, init_params="", implementation="log"),
                        start)
    counts = X.astype(int)
    assert ours.score(X, lengths) == pytest.approx(theirs.score(counts, lengths), rel=1e-12)
    with pytest.warns(ConvergenceWarning, match="n_iter=15"):
        ours.fit(X, lengths)
    theirs.fit(counts, lengths)
    assert ours.n_iter_ == n_iter and len(ours.lower_bounds_) == n_iter
    np.testing.assert_allclose(ours.lower_bounds_, theirs.monitor_.history, rtol=1e-10)
    np.testing.assert_allclose(ours.result_.trace.loglik[:n_iter], theirs.monitor_.history, rtol=1e-10)
    np.testing.assert_allclose(ours.lambdas_, theirs.lambdas_, rtol=1e-10)
    np.testing.assert_allclose(ours.transmat_, theirs.transmat_, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ours.startprob_, theirs.startprob_, rtol=1e-10, atol=1e-14)

    assert_inference_agrees(ours, theirs, X, counts, lengths)


def test_fit_from_its_own_start_recovers_the_truth():
    X = simulate([400, 400], 2)
    model = PoissonHMM(2, random_state=0, n_init=2).fit(X, [400, 400])
    order = np.argsort(model.lambdas_[:, 0])
    np.testing.assert_allclose(model.lambdas_[order], TRUTH["lambdas"], rtol=0.15)
    np.testing.assert_allclose(model.transmat_[np.ix_(order, order)], TRUTH["transmat"], atol=0.08)
    assert model.converged_ and model.n_features_ == 2


def test_sample_shapes_and_reproducibility():
    model = set_params(PoissonHMM(2, random_state=3), TRUTH)
    X, states = model.sample(300)
    assert X.shape == (300, 2) and states.shape == (300,)
    assert np.all(X >= 0) and np.all(X == np.round(X))
    again, again_states = model.sample(300)
    np.testing.assert_array_equal(X, again)
    np.testing.assert_array_equal(states, again_states)
    other, _ = model.sample(300, random_state=4)
    assert not np.array_equal(X, other)
    _, continued = model.sample(5, random_state=1, currstate=1)
    assert continued[0] == 1
    np.testing.assert_allclose(X[states == 1].mean(axis=0), TRUTH["lambdas"][1], rtol=0.25)


def forward_loglik(X, lengths, params):
    """``log p(X)`` by the forward algorithm in log space, each step's emission the sum of
    ``scipy.stats.poisson.logpmf`` over its observed cells (a NaN cell adds nothing)."""
    cells = poisson.logpmf(np.nan_to_num(X)[:, None, :], params["lambdas"][None])
    log_emission = np.where(np.isnan(X)[:, None, :], 0.0, cells).sum(axis=2)
    log_transmat, total, start = np.log(params["transmat"]), 0.0, 0
    for length in lengths:
        alpha = np.log(params["startprob"]) + log_emission[start]
        for t in range(start + 1, start + length):
            alpha = logsumexp(alpha[:, None] + log_transmat, axis=0) + log_emission[t]
        total, start = total + logsumexp(alpha), start + length
    return total


def test_missing_cells_are_marginalised():
    """With NaN cells the score equals the forward algorithm over the observed cells alone;
    fitting and decoding accept them."""
    lengths = [100, 80]
    X = simulate(lengths, 5)
    X[::3, 1] = np.nan
    X[[7, 120], 0] = np.nan
    model = set_params(PoissonHMM(2), TRUTH)
    logprob, posteriors = model.score_samples(X, lengths)
    assert logprob == pytest.approx(forward_loglik(X, lengths, TRUTH), rel=1e-12)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0)
    fitted = PoissonHMM(2, random_state=0).fit(X, lengths)
    assert np.all(np.isfinite(fitted.lambdas_)) and fitted.predict(X, lengths).shape == (180,)
    params = {"startprob": fitted.startprob_, "transmat": fitted.transmat_, "lambdas": fitted.lambdas_}
    assert fitted.score(X, lengths) == pytest.approx(forward_loglik(X, lengths, params), rel=1e-12)
    # hmmlearn's order of steps: the fitted parameters are one M-step past the last reported value
    assert fitted.lower_bounds_[-1] <= fitted.score(X, lengths) + 1e-9


def test_save_and_load_round_trip(tmp_path):
    lengths = [150, 150]
    X = simulate(lengths, 6)
    model = PoissonHMM(2, random_state=0, transmat_prior=2.0, params="tl",
                       n_iter=300).fit(X, lengths)
    for name in ("model.json", "model.npz"):
        loaded = PoissonHMM.load(model.save(tmp_path / name))
        assert type(loaded) is PoissonHMM
        assert loaded.get_params() == model.get_params()
        for attribute in ("startprob_", "transmat_", "lambdas_"):
            np.testing.assert_array_equal(getattr(loaded, attribute), getattr(model, attribute))
        assert loaded.score(X, lengths) == model.score(X, lengths)
        assert loaded.lower_bounds_ == model.lower_bounds_ and loaded.n_iter_ == model.n_iter_
    with pytest.raises(ValueError, match="holds a PoissonHMM, not a CategoricalHMM"):
        emkit.CategoricalHMM.load(tmp_path / "model.json")
    negative = model.save(tmp_path / "bad.json")
    state = json.loads(negative.read_text())
    state["arrays"]["lambdas_"][0][0] = -1.0
    negative.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="bad.json: arrays: lambdas"):
        PoissonHMM.load(negative)


def test_sklearn_clone_and_parameters():
    from sklearn.base import clone

    model = PoissonHMM(3, params="l", n_jobs=1, random_state=2, tol=1e-4)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert set(model.get_params()) == {"n_components", "startprob_prior", "transmat_prior", "lambdas_prior",
                                       "lambdas_weight", "algorithm", "random_state", "n_iter", "tol", "verbose",
                                       "params", "init_params", "implementation", "n_init",
                                       "accelerate", "n_jobs", "initial", "topology", "bandwidth",
                                       "fixed_transmat"}
    assert emkit.estimators.PoissonHMM is PoissonHMM


@pytest.mark.parametrize("X, message", [
    (np.array([[1.0, 2.0], [-1.0, 3.0]]), r"X: expected non-negative integer counts .* row 1, column 0"),
    (np.array([[1.0, 2.0], [1.5, 3.0]]), r"X: expected non-negative integer counts .* row 1, column 0"),
    (np.array([[1.0, np.inf], [1.0, 3.0]]), r"X: contains infinity"),
    (np.array([[1.0, np.nan], [2.0, np.nan]]), r"X: feature 1 has no observed value"),
    (np.zeros((2, 2, 2)), r"X: expected a 2-D array"),
    (np.array([["a", "b"]]), r"X: expected numbers"),
])
def test_bad_input_is_refused_naming_x(X, message):
    with pytest.raises(ValueError, match=message):
        PoissonHMM(2, random_state=0).fit(X)


def test_a_failed_call_leaves_the_estimator_unchanged():
    X = simulate([60], 7)
    model = PoissonHMM(2, random_state=0).fit(X)
    before = {name: np.copy(getattr(model, name)) for name in ("startprob_", "transmat_", "lambdas_")}
    with pytest.raises(ValueError, match=r"X: expected a 2-D array \(n_samples, 2\)"):
        model.score(X[:, :1])
    with pytest.raises(ValueError, match="X: expected non-negative integer counts"):
        model.fit(-X)
    with pytest.raises(ValueError, match="lengths"):
        model.fit(X, [10, 10])
    with pytest.raises(ValueError, match="init_params: expected a string of letters"):
        PoissonHMM(2, init_params=("startprob", "transmat")).fit(X)
    with pytest.raises(ValueError, match="lambdas"):
        set_params(PoissonHMM(2), {**TRUTH, "lambdas": -TRUTH["lambdas"]}).score(X)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)


def test_standard_errors_sem_agree_with_the_hessian():
    """Start probabilities held (a few sequences put them on the boundary); SEM's covariance
    equals the numerical Hessian's of the observed-data log-likelihood."""
    lengths = [150] * 4
    X = simulate(lengths, 10)
    model = set_params(PoissonHMM(2, init_params="", params="tl", tol=1e-12, n_iter=5000), TRUTH)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, lengths)
    sem = emkit.standard_errors(model.result_, (X, lengths), "sem")
    hessian = emkit.standard_errors(model.result_, (X, lengths), "hessian")
    assert np.all(np.isfinite(sem.cov))
    np.testing.assert_allclose(sem.cov, hessian.cov, rtol=1e-4, atol=1e-6 * np.abs(hessian.cov).max())
    se = np.asarray(sem.se["lambdas"])
    assert se.shape == (2, 2) and np.all(se > 0)
    assert sem.se["startprob"] == [0.0, 0.0]
