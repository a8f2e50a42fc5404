"""emkit.HMM (any emission family) and emkit.MultinomialHMM: the faces against the latent model
fitted by the engine, against PoissonHMM, against hmmlearn's MultinomialHMM (run here), against a
brute-force sum over all paths, and their contract (save/load, bad input, every public method)."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hmmlearn import hmm as hmmlearn
from scipy.stats import binom, poisson

import emkit
from hmm_fixtures import assert_inference_agrees
from emkit import families
from emkit.exceptions import ConvergenceWarning, NotFittedError
from emkit.latent import HiddenMarkovModel
from hmm_brute import brute_force

LENGTHS = [70, 50, 80]


def set_params(estimator, params):
    for name, value in params.items():
        setattr(estimator, f"{name}_", value)
    return estimator


def attributes(estimator):
    return {name: getattr(estimator, f"{name}_") for name in estimator._param_names}


def mixed_frame(rng, n):
    """A DataFrame of a Gaussian, a Bernoulli and a Poisson column (and an unused one)."""
    return pd.DataFrame({"size": rng.normal(size=n) + rng.integers(0, 2, n) * 3.0,
                         "smoker": rng.integers(0, 2, n).astype(float),
                         "visits": rng.poisson(rng.choice([1.0, 6.0], n)).astype(float),
                         "id": np.arange(n, dtype=float)})


MIXED = {"size": families.Gaussian, "smoker": families.Bernoulli, "visits": families.Poisson}

#: name -> (family argument, the family it builds for the data, data)
CASES = {
    "poisson": (families.Poisson, lambda: families.Poisson(2),
                lambda rng, n: rng.poisson(rng.choice([1.0, 7.0], (n, 1)), (n, 2)).astype(float)),
    "bernoulli": (families.Bernoulli(3), lambda: families.Bernoulli(3),
                  lambda rng, n: (rng.random((n, 3)) < rng.choice([0.2, 0.8], (n, 1))).astype(float)),
    "categorical": (families.Categorical([3, 4]), lambda: families.Categorical([3, 4]),
                    lambda rng, n: np.column_stack([rng.integers(0, 3, n), rng.integers(0, 4, n)]).astype(float)),
    "student_t": (families.StudentT, lambda: families.StudentT(2),
                  lambda rng, n: rng.standard_t(5.0, (n, 2)) + rng.choice([0.0, 4.0], (n, 1))),
    "mixed": (MIXED, lambda: families.Product([(("size",), families.Gaussian(1)), (("smoker",), families.Bernoulli(1)),
                                              (("visits",), families.Poisson(1))]),
              mixed_frame),
}


def start_of(model, X, lengths, seed):
    """A random start of ``model`` for the data (the model's own random start)."""
    return model.initial_params(model.prepare((X, lengths)), np.random.default_rng(seed))


# ----------------------------------------------------------------------- the face and the model
@pytest.mark.parametrize("name", list(CASES))
def test_hmm_equals_the_latent_model_fitted_by_the_engine(name):
    """From the same start, ``HMM(family=...)`` runs the engine's iterates of
    ``HiddenMarkovModel(family, k)``: every log-likelihood and the estimates agree to 1e-10."""
    argument, family, data = CASES[name]
    X = data(np.random.default_rng(1), sum(LENGTHS))
    model = HiddenMarkovModel(family(), 2)
    start = start_of(model, X, LENGTHS, 2)
    n_iter = 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = emkit.fit(model, (X, LENGTHS), init=start, tol=0.0, param_tol=None, max_iter=n_iter)
        ours = set_params(emkit.HMM(2, family=argument, n_iter=n_iter, tol=0.0, init_params=()), start).fit(X, LENGTHS)
    assert ours.n_iter_ == theirs.n_iter == n_iter
    # hmmlearn's order of steps: the monitor reports each iterate before its M-step
    np.testing.assert_allclose(ours.lower_bounds_, theirs.trace.loglik[:-1], rtol=1e-10)
    assert set(ours._param_names) == set(theirs.params)
    for key, value in theirs.params.items():
        np.testing.assert_allclose(getattr(ours, f"{key}_"), value, rtol=1e-10, atol=1e-12, err_msg=key)
    assert repr(ours.family_) == repr(family())
    assert ours.score(X, LENGTHS) == pytest.approx(model.score_samples((X, LENGTHS), theirs.params)[0], rel=1e-12)


def test_hmm_of_the_poisson_family_is_poisson_hmm():
    """``HMM(family=families.Poisson)`` is ``PoissonHMM``: the same starts (``n_init``, a seed),
    fit, posteriors, decoding, criteria, standard errors and online steps."""
    X = CASES["poisson"][2](np.random.default_rng(3), sum(LENGTHS))
    X[[5, 77], [0, 1]] = np.nan
    learn = ("transmat", "lambdas")  # (π of three sequences is on the boundary: no Hessian there)
    ours = emkit.HMM(2, family=families.Poisson, n_init=2, random_state=4, params=learn).fit(X, LENGTHS)
    theirs = emkit.PoissonHMM(2, n_init=2, random_state=4, params="tl", n_iter=100).fit(X, LENGTHS)
    for name in ("startprob", "transmat", "lambdas"):
        np.testing.assert_array_equal(getattr(ours, f"{name}_"), getattr(theirs, f"{name}_"))
    assert ours.lower_bounds_ == theirs.lower_bounds_ and ours.n_features_ == theirs.n_features_ == 2
    assert ours.score(X, LENGTHS) == theirs.score(X, LENGTHS)
    # PoissonHMM counts hmmlearn's parameters, the held startprob's K - 1 = 1 included; HMM the learned ones.
    assert theirs.aic(X, LENGTHS) - ours.aic(X, LENGTHS) == pytest.approx(2.0, rel=1e-12)
    assert theirs.bic(X, LENGTHS) - ours.bic(X, LENGTHS) == pytest.approx(np.log(len(X)), rel=1e-12)
    np.testing.assert_array_equal(ours.predict_proba(X, LENGTHS), theirs.predict_proba(X, LENGTHS))
    for algorithm in ("viterbi", "map"):
        np.testing.assert_array_equal(ours.decode(X, LENGTHS, algorithm)[1], theirs.decode(X, LENGTHS, algorithm)[1])
    ours_se = emkit.standard_errors(ours.result_, (X, LENGTHS), method="hessian")
    theirs_se = emkit.standard_errors(theirs.result_, (X, LENGTHS), method="hessian")
    np.testing.assert_allclose(np.sqrt(np.diag(ours_se.cov)), np.sqrt(np.diag(theirs_se.cov)), rtol=1e-12)
    for batch in (slice(0, 70), slice(70, 200)):
        ours.partial_fit(X[batch])
        theirs.partial_fit(X[batch])
    np.testing.assert_array_equal(ours.lambdas_, theirs.lambdas_)
    assert ours.lower_bounds_ == theirs.lower_bounds_ and ours.n_iter_ == theirs.n_iter_ == 2


# ------------------------------------------------------------------- every public method
def test_inference_equals_a_sum_over_every_path():
    """score, score_samples, predict_proba, decode and predict of a mixed-type HMM (a DataFrame
    mapping, a missing cell) equal the enumeration of all ``K^T`` paths with the log-densities
    from scipy."""
    rng = np.random.default_rng(5)
    frame = mixed_frame(rng, 7)
    frame.loc[3, "visits"] = np.nan
    estimator = set_params(emkit.HMM(2, family={"smoker": families.Bernoulli, "visits": families.Poisson}), {
        "startprob": np.array([0.3, 0.7]), "transmat": np.array([[0.8, 0.2], [0.4, 0.6]]),
        "smoker:probs": np.array([[0.2], [0.9]]), "visits:lambdas": np.array([[1.5], [5.0]])})
    visits = frame["visits"].to_numpy()
    log_frame = (binom.logpmf(frame["smoker"].to_numpy()[:, None], 1, [0.2, 0.9])
                 + np.where(np.isnan(visits)[:, None], 0.0, poisson.logpmf(np.nan_to_num(visits)[:, None], [1.5, 5.0])))
    reference = brute_force(log_frame, estimator.startprob_, estimator.transmat_)
    assert estimator.score(frame) == pytest.approx(reference["loglik"], rel=1e-12)
    logprob, posteriors = estimator.score_samples(frame)
    assert logprob == pytest.approx(reference["loglik"], rel=1e-12)
    np.testing.assert_allclose(posteriors, reference["posteriors"], atol=1e-12)
    np.testing.assert_allclose(estimator.predict_proba(frame), reference["posteriors"], atol=1e-12)
    logprob, path = estimator.decode(frame)
    np.testing.assert_array_equal(path, reference["viterbi"])
    assert logprob == pytest.approx(reference["viterbi_logprob"], rel=1e-12)
    np.testing.assert_array_equal(estimator.predict(frame), reference["viterbi"])
    logprob, path = estimator.decode(frame, algorithm="map")
    np.testing.assert_array_equal(path, reference["posteriors"].argmax(axis=1))
    assert logprob == pytest.approx(reference["posteriors"].max(axis=1).sum(), rel=1e-12)   # hmmlearn's score


def test_criteria_count_the_learned_parameters():
    """bic and aic: ``−2 log L + p log n`` and ``+ 2p`` with ``p`` counted by hand (Bernoulli, 3
    items: ``K − 1 + K(K − 1) + 3K``; without ``transmat`` learned, ``K(K − 1)`` fewer)."""
    X = CASES["bernoulli"][2](np.random.default_rng(6), 120)
    estimator = emkit.HMM(2, family=families.Bernoulli, random_state=0).fit(X)
    loglik = estimator.score(X)
    assert estimator.bic(X) == pytest.approx(-2 * loglik + (1 + 2 + 6) * np.log(120), rel=1e-12)
    assert estimator.aic(X) == pytest.approx(-2 * loglik + 2 * (1 + 2 + 6), rel=1e-12)
    held = emkit.HMM(2, family=families.Bernoulli, params=("startprob", "probs"), random_state=0).fit(X)
    assert held.aic(X) == pytest.approx(-2 * held.score(X) + 2 * (1 + 6), rel=1e-12)


def test_sample_draws_from_the_model():
    """sample(n, random_state, currstate) is the latent model's draw with the same generator."""
    X = CASES["bernoulli"][2](np.random.default_rng(7), 100)
    estimator = emkit.HMM(2, family=families.Bernoulli(3), random_state=0).fit(X)
    drawn, states = estimator.sample(50, random_state=8, currstate=1)
    model = HiddenMarkovModel(families.Bernoulli(3), 2)
    expected, expected_states = model.sample(attributes(estimator), 50, np.random.default_rng(8), start_state=1)
    np.testing.assert_array_equal(drawn, expected)
    np.testing.assert_array_equal(states, expected_states)
    assert states[0] == 1 and set(np.unique(drawn)) <= {0.0, 1.0}


def test_student_t_hmm_fits_and_gives_standard_errors():
    """A t-emission HMM on two well separated regimes finds them; ``result_`` gives finite
    standard errors for every learned scalar."""
    rng = np.random.default_rng(9)
    states = np.repeat([0, 1, 0, 1], 60)
    X = rng.standard_t(4.0, (240, 1)) + 8.0 * states[:, None]
    estimator = emkit.HMM(2, family=families.StudentT, random_state=1, n_iter=500, tol=1e-6,
                          params=("transmat", "means", "covars", "dofs")).fit(X)
    assert estimator.converged_
    agreement = np.mean(estimator.predict(X) == states)
    assert max(agreement, 1 - agreement) > 0.98
    assert set(estimator._param_names) == {"startprob", "transmat", "means", "covars", "dofs"}
    assert np.all(estimator.dofs_ > 2.0) and np.all(estimator.dofs_ < 20.0)
    errors = emkit.standard_errors(estimator.result_, X, method="hessian")
    assert np.all(np.isfinite(errors.cov)) and len(errors.labels) == len(estimator.result_.model.free_labels(
        estimator.result_.params))


def test_refitting_with_another_family_replaces_the_attributes():
    X = CASES["poisson"][2](np.random.default_rng(10), 100)
    estimator = emkit.HMM(2, family=families.Poisson, random_state=0).fit(X)
    assert hasattr(estimator, "lambdas_")
    estimator.set_params(family=families.Gamma).fit(X + 1.0)
    assert not hasattr(estimator, "lambdas_") and set(estimator._emission_params) == set(families.Gamma(2).param_names)
    assert all(hasattr(estimator, f"{name}_") for name in estimator._emission_params)


def test_partial_fit_steps_online_em():
    """A stream of batches: the first starts as fit does, each step is OnlineEM's on the batch."""
    X = CASES["bernoulli"][2](np.random.default_rng(11), 300)
    estimator = emkit.HMM(2, family=families.Bernoulli, random_state=0)
    for batch in np.array_split(X, 3):
        estimator.partial_fit(batch)
    assert estimator.n_iter_ == 3 and len(estimator.lower_bounds_) == 3 and not estimator.converged_
    reference = emkit.HMM(2, family=families.Bernoulli(3), random_state=0)
    from emkit.variants.online import OnlineEM

    model = HiddenMarkovModel(families.Bernoulli(3), 2)
    first = model.prepare(np.array_split(X, 3)[0])
    state = OnlineEM(model, model.check_params(model.initial_params(first, np.random.default_rng(0))),
                     context=first.context)
    for batch in np.array_split(X, 3):
        data = state.prepare(batch)
        state.step(data, data.n_samples)
    np.testing.assert_allclose(estimator.probs_, state.params["probs"], rtol=1e-12)
    assert reference.partial_fit(X[:10]).n_iter_ == 1


# ------------------------------------------------------------------------- MultinomialHMM
@pytest.mark.parametrize("n_trials", [None, "array", 15], ids=["trials-per-row", "trials-array", "fixed-trials"])
def test_multinomial_hmm_equals_hmmlearn_from_the_same_start(n_trials):
    """Same start: every iteration's log-likelihood (1e-10), the estimates, score, decoding,
    posteriors, bic and aic equal hmmlearn's MultinomialHMM."""
    rng = np.random.default_rng(12)
    truth = {"startprob": np.array([0.5, 0.3, 0.2]), "transmat": 0.7 * np.eye(3) + 0.1,
             "emissionprob": np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.5, 0.2, 0.2], [0.1, 0.1, 0.2, 0.6]])}
    X = np.concatenate([HiddenMarkovModel(families.Multinomial(4, n_trials=15), 3).sample(truth, n, rng)[0]
                        for n in LENGTHS])
    if n_trials != 15:  # rows with their own numbers of trials (given as hmmlearn's array, or not)
        X = X + rng.multinomial(3, [0.25] * 4, size=len(X)) * (rng.random((len(X), 1)) < 0.5)
    if n_trials == "array":
        n_trials = X.sum(axis=1).astype(int)
    start = {"startprob": rng.dirichlet(np.ones(3)), "transmat": rng.dirichlet(np.ones(3), size=3),
             "emissionprob": rng.dirichlet(np.ones(4), size=3)}
    n_iter = 12
    ours = set_params(emkit.MultinomialHMM(3, n_trials=n_trials, n_iter=n_iter, tol=0.0, init_params=""), start)
    theirs = set_params(hmmlearn.MultinomialHMM(3, n_trials=n_trials, n_iter=n_iter, tol=-np.inf, init_params="",
                                                implementation="log"), start)
    counts = X.astype(int)
    with pytest.warns(ConvergenceWarning, match="n_iter=12"):
        ours.fit(X, LENGTHS)
    theirs.fit(counts, LENGTHS)
    assert ours.n_iter_ == n_iter and ours.n_trials is n_trials
    np.testing.assert_allclose(ours.lower_bounds_, theirs.monitor_.history, rtol=1e-10)
    for name in ("emissionprob", "transmat", "startprob"):
        np.testing.assert_allclose(getattr(ours, f"{name}_"), getattr(theirs, f"{name}_"), rtol=1e-10, atol=1e-14)
    assert_inference_agrees(ours, theirs, X, counts, LENGTHS)


def test_multinomial_hmm_is_the_hmm_of_the_multinomial_family():
    """MultinomialHMM is HMM(family=Multinomial(m, n_trials)): fit and online steps."""
    X = np.random.default_rng(19).multinomial(6, [0.2, 0.3, 0.5], size=90).astype(float)
    ours = emkit.MultinomialHMM(2, n_trials=6, random_state=3, n_iter=100).fit(X[:60])
    theirs = emkit.HMM(2, family=families.Multinomial(3, n_trials=6), random_state=3).fit(X[:60])
    np.testing.assert_array_equal(ours.emissionprob_, theirs.emissionprob_)
    assert ours.lower_bounds_ == theirs.lower_bounds_
    ours.partial_fit(X[60:])
    theirs.partial_fit(X[60:])
    np.testing.assert_array_equal(ours.emissionprob_, theirs.emissionprob_)
    np.testing.assert_array_equal(ours.transmat_, theirs.transmat_)


def test_multinomial_hmm_samples_n_trials_per_row_and_needs_it():
    rng = np.random.default_rng(13)
    X = rng.multinomial(6, [0.2, 0.3, 0.5], size=80).astype(float)
    estimator = emkit.MultinomialHMM(2, n_trials=6, random_state=0).fit(X)
    drawn, states = estimator.sample(40)
    assert drawn.shape == (40, 3) and np.all(drawn.sum(axis=1) == 6) and states.shape == (40,)
    with pytest.raises(ValueError, match="n_trials"):
        emkit.MultinomialHMM(2, random_state=0).fit(X).sample(5)
    with pytest.raises(ValueError, match="X: row 0 sums to 6 counts, not n_trials=5"):
        emkit.MultinomialHMM(2, n_trials=5).fit(X)


# ------------------------------------------------------------------------------ save / load
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_and_load_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(14)
    frame = mixed_frame(rng, 150)
    mixed = emkit.HMM(2, family=MIXED, random_state=0, params=("transmat", "size:means", "smoker:probs",
                                                               "visits:lambdas", "size:covars")).fit(frame, [90, 60])
    loaded = emkit.HMM.load(mixed.save(tmp_path / f"mixed{suffix}"))
    np.testing.assert_array_equal(loaded.predict(frame, [90, 60]), mixed.predict(frame, [90, 60]))
    assert loaded.score(frame, [90, 60]) == mixed.score(frame, [90, 60])
    assert isinstance(loaded.family, families.Product) and loaded.params == mixed.params
    assert (loaded.n_features_, loaded.n_iter_, loaded.lower_bounds_) == (4, mixed.n_iter_, mixed.lower_bounds_)
    counts = rng.multinomial(4, [0.5, 0.25, 0.25], size=60).astype(float)
    multinomial = emkit.MultinomialHMM(2, n_trials=4, random_state=0).fit(counts)
    again = emkit.MultinomialHMM.load(multinomial.save(tmp_path / f"multinomial{suffix}"))
    np.testing.assert_array_equal(again.predict(counts), multinomial.predict(counts))
    np.testing.assert_array_equal(again.emissionprob_, multinomial.emissionprob_)
    assert again.n_trials == 4


def corrupted(tmp_path, estimator, change):
    path = estimator.save(tmp_path / "model.json")
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))
    return path


def test_a_corrupted_file_is_refused_naming_file_and_field(tmp_path):
    X = CASES["bernoulli"][2](np.random.default_rng(15), 60)
    estimator = emkit.HMM(2, family=families.Bernoulli, random_state=0).fit(X)

    def unknown_family(state):
        state["config"]["family"]["name"] = "Pickle"

    def no_family(state):
        del state["config"]["family"]

    def bad_probs(state):
        state["arrays"]["probs_"][0][0] = 1.5

    def bad_n_features(state):
        state["config"]["fitted"]["n_features_"] = -2

    for change, field in [(unknown_family, "config.family.name"), (no_family, "config.family: missing"),
                          (bad_probs, "arrays: probs"), (bad_n_features, "config.fitted.n_features_")]:
        path = corrupted(tmp_path, estimator, change)
        with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*{re.escape(field)}"):
            emkit.HMM.load(path)
    counts = np.random.default_rng(16).multinomial(4, [0.5, 0.5], size=30).astype(float)
    multinomial = emkit.MultinomialHMM(2, random_state=0).fit(counts)
    path = corrupted(tmp_path, multinomial, lambda state: state["config"].update(n_trials=-1))
    with pytest.raises(ValueError, match=r"config\.n_trials"):
        emkit.MultinomialHMM.load(path)


def test_a_family_of_ones_own_cannot_be_saved(tmp_path):
    class Mine(families.Poisson):
        pass

    X = CASES["poisson"][2](np.random.default_rng(17), 50)
    estimator = emkit.HMM(2, family=Mine(2), random_state=0).fit(X)
    with pytest.raises(ValueError, match="family: Mine is not one of emkit's families"):
        estimator.save(tmp_path / "mine.json")


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("arguments, name", [
    ({"family": 5}, "family"),
    ({"family": lambda: families.Poisson(2)}, "family"),
    ({"family": families.Poisson, "params": ("rates",)}, "params"),
    ({"family": families.Poisson(2), "init_params": ("lambda",)}, "init_params"),
    ({"family": families.Poisson, "init_params": "lambdas"}, "init_params"),
    ({"family": families.Poisson, "n_components": 0}, "n_components"),
    ({"family": families.Poisson, "n_iter": 1.5}, "n_iter"),
    ({"family": families.Poisson, "algorithm": "best"}, "algorithm"),
    ({"family": families.Poisson, "transmat_prior": 0.5}, "transmat_prior"),
    ({"family": {"a": families.Poisson}}, "X"),
])
def test_bad_arguments_are_refused_naming_them_and_leave_the_estimator(arguments, name):
    X = CASES["poisson"][2](np.random.default_rng(18), 40)
    estimator = emkit.HMM(**{"n_components": 2, **arguments})
    with pytest.raises(ValueError, match=f"^{name}"):
        estimator.fit(X)
    assert not hasattr(estimator, "startprob_") and not hasattr(estimator, "family_")


@pytest.mark.parametrize("n_trials", [-1, 2.5, True])
def test_multinomial_hmm_refuses_a_bad_n_trials(n_trials):
    with pytest.raises(ValueError, match="^n_trials"):
        emkit.MultinomialHMM(2, n_trials=n_trials).fit(np.ones((5, 2)))


def test_a_callable_family_is_not_fitted_before_fit():
    estimator = emkit.HMM(2, family=families.Poisson)
    estimator.startprob_, estimator.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    assert not estimator.__sklearn_is_fitted__()
    with pytest.raises(NotFittedError, match="not fitted"):
        estimator.predict(np.ones((3, 2)))


def test_a_failed_refit_changes_nothing_and_clone_keeps_the_family():
    from sklearn.base import clone

    X = CASES["poisson"][2](np.random.default_rng(20), 60)
    estimator = emkit.HMM(2, family=families.Poisson, random_state=0).fit(X)
    before = {name: value.copy() for name, value in attributes(estimator).items()}
    family, lower_bounds = estimator.family_, estimator.lower_bounds_
    with pytest.raises(ValueError, match="^X"):
        estimator.set_params(family=families.Bernoulli).fit(X)   # counts are not 0/1
    assert estimator.family_ is family and estimator.lower_bounds_ == lower_bounds
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(estimator, f"{name}_"), value)
    copy = clone(emkit.HMM(3, family=MIXED, n_init=2))
    assert copy.get_params()["family"] == MIXED and not hasattr(copy, "family_")
