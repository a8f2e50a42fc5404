"""GaussianHMM and CategoricalHMM against hmmlearn (run here) and on their own contract."""

import warnings

import numpy as np
import pytest
from hmm_fixtures import COVARIANCE_TYPES
from hmm_fixtures import random_gaussian_params as gaussian_start
from hmmlearn import hmm as hmmlearn

from emkit import CategoricalHMM, GaussianHMM
from emkit.exceptions import NotFittedError
from emkit.exceptions import ConvergenceWarning


def set_params(estimator, params):
    for name, value in params.items():
        setattr(estimator, f"{name}_", value)
    return estimator


def gaussian_data(rng, n=240, d=2):
    states = np.repeat(rng.integers(0, 3, size=n // 20), 20)
    return rng.normal(size=(n, d)) + 2.5 * states[:, None], [n // 2, n // 4, n - n // 2 - n // 4]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_matches_hmmlearn(covariance_type):
    """Same start: score, every iteration's log-likelihood, the estimates, Viterbi, posteriors,
    BIC and AIC equal hmmlearn's (covars_prior set to 0 in both: the exact M-step)."""
    rng = np.random.default_rng(0)
    X, lengths = gaussian_data(rng)
    start = gaussian_start(rng, 3, 2, covariance_type)
    ours = set_params(GaussianHMM(3, covariance_type, covars_prior=0.0, n_iter=12, tol=0.0, init_params=""), start)
    theirs = set_params(hmmlearn.GaussianHMM(3, covariance_type, n_iter=12, tol=-np.inf, init_params="",
                                             covars_prior=0.0, implementation="scaling"), start)
    assert ours.score(X, lengths) == pytest.approx(theirs.score(X, lengths), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, lengths)
    theirs.fit(X, lengths)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.monitor_.history, rtol=1e-12)
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, rtol=1e-12)
    assert ours.n_iter_ == 12 and len(ours.lower_bounds_) == 12
    np.testing.assert_allclose(ours.transmat_, theirs.transmat_, atol=1e-10)
    np.testing.assert_allclose(ours.means_, theirs.means_, atol=1e-10)
    their_covars = theirs._covars_[:, 0] if covariance_type == "spherical" else theirs.covars_
    np.testing.assert_allclose(ours._covars_ if covariance_type == "spherical" else ours.covars_, their_covars,
                               atol=1e-10)
    logprob, states = ours.decode(X, lengths)
    their_logprob, their_states = theirs.decode(X, lengths)
    assert logprob == pytest.approx(their_logprob, rel=1e-12)
    np.testing.assert_array_equal(states, their_states)
    np.testing.assert_allclose(ours.predict_proba(X, lengths), theirs.predict_proba(X, lengths), atol=1e-10)
    assert ours.bic(X, lengths) == pytest.approx(theirs.bic(X, lengths), rel=1e-12)
    assert ours.aic(X, lengths) == pytest.approx(theirs.aic(X, lengths), rel=1e-12)


def test_categorical_matches_hmmlearn():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, size=(150, 1))
    lengths = [50, 70, 30]
    start = {"startprob": rng.dirichlet(np.ones(3)), "transmat": rng.dirichlet(np.ones(3), size=3),
             "emissionprob": rng.dirichlet(np.ones(4), size=3)}
    ours = set_params(CategoricalHMM(3, n_iter=15, tol=0.0, init_params=""), start)
    theirs = set_params(hmmlearn.CategoricalHMM(3, n_iter=15, tol=-np.inf, init_params="",
                                                implementation="log"), start)
    assert ours.score(X, lengths) == pytest.approx(theirs.score(X, lengths), rel=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, lengths)
    theirs.fit(X, lengths)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.monitor_.history, rtol=1e-12)
    np.testing.assert_allclose(ours.emissionprob_, theirs.emissionprob_, atol=1e-12)
    np.testing.assert_allclose(ours.startprob_, theirs.startprob_, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X, lengths), theirs.predict(X, lengths))
    assert ours.bic(X, lengths) == pytest.approx(theirs.bic(X, lengths), rel=1e-12)


def test_fit_recovers_a_simulated_model():
    truth = set_params(GaussianHMM(2, "full"), {
        "startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.95, 0.05], [0.1, 0.9]]),
        "means": np.array([[0.0, 0.0], [3.0, 1.0]]), "covars": np.array([np.eye(2), [[1.0, 0.5], [0.5, 1.0]]])})
    X, states = truth.sample(3000, random_state=2)
    fitted = GaussianHMM(2, "full", random_state=0, n_iter=200, tol=1e-6).fit(X)
    order = np.argsort(fitted.means_[:, 0])
    np.testing.assert_allclose(fitted.means_[order], truth.means_, atol=0.15)
    np.testing.assert_allclose(fitted.transmat_[np.ix_(order, order)], truth.transmat_, atol=0.03)
    assert fitted.converged_
    assert np.mean(order[fitted.predict(X)] == states) > 0.97
    assert np.all(np.diff(fitted.lower_bounds_) >= -1e-9)


def test_squarem_reaches_the_same_maximum_with_fewer_passes():
    """Two heavily overlapping, short-lived states: plain Baum–Welch crawls (hundreds of passes)."""
    rng = np.random.default_rng(3)
    states = np.repeat(rng.integers(0, 2, size=100), 3)
    X = rng.normal(size=(300, 1)) + 0.8 * states[:, None]
    plain = GaussianHMM(2, random_state=1, n_iter=5000, tol=1e-9).fit(X)
    fast = GaussianHMM(2, random_state=1, n_iter=5000, tol=1e-9, accelerate="squarem").fit(X)
    assert plain.converged_ and fast.converged_
    assert fast.score(X) == pytest.approx(plain.score(X), rel=1e-9)
    assert fast.result_.n_evaluations < plain.result_.n_evaluations / 2


def test_missing_observations_are_allowed_everywhere():
    rng = np.random.default_rng(4)
    X, lengths = gaussian_data(rng)
    X[5] = np.nan
    X[[10, 30, 31], 1] = np.nan
    model = GaussianHMM(3, "full", random_state=0, n_iter=50).fit(X, lengths)
    logprob, posteriors = model.score_samples(X, lengths)
    assert np.isfinite(logprob)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0)
    symbols = rng.integers(0, 3, size=(60, 1)).astype(float)
    symbols[[3, 40]] = np.nan
    categorical = CategoricalHMM(2, random_state=0).fit(symbols)
    assert categorical.predict(symbols).shape == (60,)


def test_init_and_learn_keywords():
    rng = np.random.default_rng(5)
    X, lengths = gaussian_data(rng)
    means = np.array([[0.0, 0.0], [2.5, 2.5], [5.0, 5.0]])
    model = GaussianHMM(3, init_params="stc", params="stc", random_state=0)
    model.fit(X, lengths)      # means_ not set: started anyway (hmmlearn's rule)
    assert model.means_.shape == (3, 2)
    model.means_ = means
    model.fit(X, lengths)
    np.testing.assert_array_equal(model.means_, means)
    assert model._n_parameters() == 2 + 6 + 6 + 6   # hmmlearn's count: the held means too
    with pytest.raises(ValueError, match="params: expected a string of letters"):
        GaussianHMM(2, params=("means",)).fit(X)
    with pytest.raises(ValueError, match="init_params: expected a string of letters"):
        GaussianHMM(2, init_params=None).fit(X)


def test_failed_fit_leaves_the_estimator_unchanged():
    rng = np.random.default_rng(6)
    X, lengths = gaussian_data(rng)
    model = GaussianHMM(2, random_state=0).fit(X, lengths)
    before = {name: np.copy(getattr(model, name)) for name in ("startprob_", "transmat_", "means_", "covars_")}
    with pytest.raises(ValueError, match="lengths"):
        model.fit(X, [10, 10])
    with pytest.raises(ValueError, match="X: expected 2 features"):
        model.score(X[:, :1])
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)


def test_sample_decode_and_attributes():
    model = set_params(CategoricalHMM(2, random_state=7), {
        "startprob": np.array([1.0, 0.0]), "transmat": np.array([[0.9, 0.1], [0.2, 0.8]]),
        "emissionprob": np.array([[0.5, 0.5, 0.0], [0.0, 0.1, 0.9]])})
    X, states = model.sample(500)
    assert X.shape == (500, 1) and states.shape == (500,) and states[0] == 0
    X2, _ = model.sample(500)
    np.testing.assert_array_equal(X, X2)  # random_state fixes the draws
    _, continued = model.sample(5, random_state=1, currstate=1)
    assert continued[0] == 1
    assert set(np.unique(X[states == 0, 0])) <= {0, 1}
    logprob, path = model.decode(X, algorithm="map")
    assert np.isfinite(logprob) and path.shape == (500,)
    assert np.mean(model.predict(X) == states) > 0.9


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(8)
    X, lengths = gaussian_data(rng)
    model = GaussianHMM(3, "tied", random_state=0, transmat_prior=2.0, params="tmc",
                        n_iter=300).fit(X, lengths)
    for name in ("model.json", "model.npz"):
        loaded = GaussianHMM.load(model.save(tmp_path / name))
        assert loaded.score(X, lengths) == model.score(X, lengths)
        assert loaded.params == "tmc" and loaded.implementation == "log"
        assert loaded.lower_bounds_ == model.lower_bounds_
    categorical = CategoricalHMM(2, random_state=0).fit(rng.integers(0, 3, size=(40, 1)))
    loaded = CategoricalHMM.load(categorical.save(tmp_path / "c.json"))
    np.testing.assert_array_equal(loaded.emissionprob_, categorical.emissionprob_)


def test_not_fitted_and_bad_hyperparameters():
    X = np.zeros((10, 1))
    with pytest.raises(NotFittedError):
        GaussianHMM(2).score(X)
    for kwargs, name in [({"n_components": 0}, "n_components"), ({"n_iter": -1}, "n_iter"), ({"tol": -1}, "tol"),
                         ({"algorithm": "best"}, "algorithm"), ({"accelerate": "aitken"}, "accelerate"),
                         ({"covariance_type": "banded"}, "covariance_type"), ({"transmat_prior": 0.5}, "transmat_prior"),
                         ({"n_jobs": 0}, "n_jobs"),
                         ({"implementation": "fast"}, "implementation")]:
        with pytest.raises(ValueError, match=name):
            GaussianHMM(**{"n_components": 2, **kwargs}).fit(np.arange(20.0)[:, None])
    with pytest.raises(ValueError, match="emissionprob_prior"):
        CategoricalHMM(2, emissionprob_prior=0.0).fit(np.array([[0], [1]]))
    with pytest.raises(ValueError, match="X: categorical symbols must be non-negative"):
        CategoricalHMM(2).fit(np.array([[0], [-1]]))
    with pytest.raises(ValueError, match="X: symbol 3 is out of range"):
        CategoricalHMM(2, n_features=3).fit(np.array([[0], [3]]))


def test_convergence_warning_and_clone():
    rng = np.random.default_rng(9)
    X, lengths = gaussian_data(rng)
    with pytest.warns(ConvergenceWarning, match="n_iter=2"):
        GaussianHMM(3, n_iter=2, tol=0.0).fit(X, lengths)
    from sklearn.base import clone

    model = GaussianHMM(3, "full", params="m", n_jobs=1)
    copy = clone(model)
    assert copy.get_params() == model.get_params()


# ------------------------------------------------------------------ hmmlearn's interface (issue 16)
def test_hmmlearn_constructor_defaults_and_order():
    """Every hmmlearn 0.3.3 keyword with its default, in its order, then emkit's extras."""
    import inspect

    import emkit

    for name in ("GaussianHMM", "CategoricalHMM", "PoissonHMM", "MultinomialHMM", "GMMHMM"):
        ours, theirs = getattr(emkit, name), getattr(hmmlearn, name)
        mine = inspect.signature(ours.__init__).parameters
        their = inspect.signature(theirs.__init__).parameters
        assert list(mine)[:len(their)] == list(their)
        assert all(mine[key].default == their[key].default for key in their)
        assert list(mine)[len(their):] == ["n_init", "accelerate", "n_jobs", "initial", "topology", "bandwidth",
                                             "fixed_transmat"]


def test_start_only_log_messages_and_monitor(caplog):
    """``n_iter=0`` only starts; hmmlearn's log messages; a replaced monitor_ decides the stop."""
    rng = np.random.default_rng(11)
    X, lengths = gaussian_data(rng)
    start_only = GaussianHMM(3, n_iter=0, random_state=0).fit(X, lengths)
    started = GaussianHMM(3, n_iter=1, random_state=0)
    started.n_iter = 0
    assert list(start_only.monitor_.history) == [] and start_only.lower_bounds_ == []
    np.testing.assert_array_equal(start_only.means_, started.fit(X, lengths).means_)
    model = GaussianHMM(3, random_state=0)
    model.startprob_ = np.full(3, 1 / 3)
    with caplog.at_level("WARNING"):
        model.fit(X, lengths)
        GaussianHMM(3, "full", n_iter=1, random_state=0).fit(X[:4])
    messages = [record.getMessage() for record in caplog.records]
    assert any("'startprob_' attribute is set, it will be overwritten" in text for text in messages)
    assert any("degenerate solution" in text for text in messages)

    class StopAtThree(type(model.monitor_)):
        @property
        def converged(self):
            return self.iter == 3

    model = GaussianHMM(3, random_state=0, n_iter=50)
    model.monitor_ = StopAtThree(model.tol, model.n_iter, False)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, lengths)
    reference = GaussianHMM(3, random_state=0, n_iter=3, tol=0.0)
    with pytest.warns(ConvergenceWarning):
        reference.fit(X, lengths)
    assert model.monitor_.iter == 3 and list(model.monitor_.history) == list(reference.monitor_.history)
    np.testing.assert_array_equal(model.means_, reference.means_)


def test_global_random_state_covars_shapes_and_stationary_distribution():
    rng = np.random.default_rng(12)
    X, lengths = gaussian_data(rng)
    fits = []
    for _ in range(2):
        np.random.seed(3)
        fitted = GaussianHMM(3, "spherical").fit(X, lengths)
        fits.append((fitted.means_, fitted.sample(20)[0]))
    for first, second in zip(*fits):
        np.testing.assert_array_equal(first, second)
    for value in ([1.0, 2.0, 3.0], [[1.0], [2.0], [3.0]], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]):
        fitted.covars_ = value
        np.testing.assert_array_equal(fitted._covars_, [1.0, 2.0, 3.0])
    for value, what in [([1.0, 2.0], "length n_components"), ([[1.0, 2.0], [2.0, 2.0], [3.0, 3.0]], "one variance"),
                        ([1.0, -2.0, 3.0], "positive")]:
        with pytest.raises(ValueError, match=f"covars_: .*{what}"):
            fitted.covars_ = value
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianHMM(2, covariance_type="box").covars_ = []
    transmat = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    fitted.transmat_ = transmat
    stationary = fitted.get_stationary_distribution()
    np.testing.assert_allclose(stationary @ transmat, stationary, atol=1e-14)
    np.testing.assert_allclose(stationary, np.linalg.matrix_power(transmat, 200)[0], atol=1e-12)
