"""``emkit.Mixture`` beyond fit: save/load (JSON and npz, the family recorded and rebuilt, bad
files named by file and field), ``partial_fit`` (the API's online EM, one step per batch),
frozen parameters (``learn``, ``weights_init``, ``params_init``) against a direct maximisation
with those parameters fixed (scipy), and standard errors of a fitted Mixture (Louis's method
against the numerical Hessian)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.special import gammaln, logsumexp

import emkit
from emkit import families
from emkit.latent.mixture import MixtureModel


# ------------------------------------------------------------------------- data
def poisson_counts(n: int, seed: int) -> np.ndarray:
    """Two Poisson columns from two components (weights 0.4, 0.6)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(2, size=n, p=[0.4, 0.6])
    return rng.poisson(np.array([[1.5, 6.0], [7.0, 2.0]])[labels]).astype(float)


def survey(n: int, seed: int) -> pd.DataFrame:
    """Mixed rows: a count, two yes/no items, a 3-category and a 2-category item."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n)
    return pd.DataFrame({
        "visits": rng.poisson(np.where(z == 1, 6.0, 1.5)).astype(float),
        "smoker": (rng.random(n) < np.where(z == 1, 0.7, 0.2)).astype(float),
        "married": (rng.random(n) < np.where(z == 1, 0.4, 0.6)).astype(float),
        "region": np.where(z == 1, rng.choice(3, n, p=[0.6, 0.3, 0.1]), rng.choice(3, n, p=[0.1, 0.3, 0.6])),
        "sex": rng.integers(0, 2, n)})


def log_joint_poisson(X: np.ndarray, weights: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """``log π_k + Σ_j (x_ij log λ_kj − λ_kj − log x_ij!)``, (n, K), independent of emkit."""
    return np.log(weights) + X @ np.log(rates).T - rates.sum(axis=1) - gammaln(X + 1.0).sum(axis=1)[:, None]


FITTED = {
    "poisson": lambda: (emkit.Mixture(2, family=families.Poisson(2), n_jobs=1), poisson_counts(200, 1)),
    "bernoulli": lambda: (emkit.Mixture(2, family=families.Bernoulli, n_jobs=1, random_state=3,
                                        init_params="random"),
                          survey(200, 2)[["smoker", "married"]].to_numpy(float)),
    "categorical": lambda: (emkit.Mixture(2, family=families.Categorical([3, 2]), n_jobs=1),
                            survey(200, 3)[["region", "sex"]].to_numpy()),
    "product": lambda: (emkit.Mixture(2, family={"visits": families.Poisson, ("smoker", "married"): families.Bernoulli,
                                                 ("region", "sex"): lambda d: families.Categorical([3, 2])},
                                      n_jobs=1, weights_init=[0.5, 0.5], learn=("weights", "visits:lambdas",
                                                                                "smoker,married:probs",
                                                                                "region,sex:probs")),
                        survey(300, 4)),
}


# --------------------------------------------------------------------- save / load
@pytest.mark.parametrize("suffix", ["json", "npz"])
@pytest.mark.parametrize("case", sorted(FITTED))
def test_save_and_load_give_identical_predictions(tmp_path, case, suffix):
    estimator, X = FITTED[case]()
    estimator.fit(X)
    path = estimator.save(tmp_path / f"mixture.{suffix}")
    loaded = emkit.Mixture.load(path)
    assert repr(loaded.model_.family) == repr(estimator.model_.family)
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    np.testing.assert_array_equal(loaded.score_samples(X), estimator.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    for name, value in estimator.params_.items():
        np.testing.assert_array_equal(loaded.params_[name], value)
    assert (loaded.lower_bound_, loaded.lower_bounds_, loaded.n_iter_, loaded.converged_, loaded.n_features_in_) == \
        (estimator.lower_bound_, estimator.lower_bounds_, estimator.n_iter_, estimator.converged_,
         estimator.n_features_in_)
    assert loaded.bic(X) == estimator.bic(X)
    assert list(getattr(loaded, "feature_names_in_", [])) == list(getattr(estimator, "feature_names_in_", []))
    assert loaded.learn == estimator.learn and loaded.result_ is None
    refitted = loaded.fit(X)   # a loaded estimator fits again, from its stored arguments
    np.testing.assert_allclose(refitted.lower_bound_, estimator.lower_bound_, rtol=1e-12)


def saved_poisson(tmp_path) -> tuple[emkit.Mixture, dict]:
    estimator = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1).fit(poisson_counts(100, 5))
    return estimator, json.loads(estimator.save(tmp_path / "good.json").read_text())


def negative_rate(state):
    state["arrays"]["lambdas_"][0][1] = -1.0


def wrong_shape(state):
    state["arrays"]["lambdas_"] = [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]


def unknown_family(state):
    state["config"]["family"]["name"] = "Zeta"


def bad_family_argument(state):
    state["config"]["family"]["arguments"]["n_features"] = 0


def weights_off_the_simplex(state):
    state["arrays"]["weights_"] = [0.7, 0.7]


def bad_params_init(state):
    state["config"]["params_init"] = {"lambdas": [[1.0, -2.0], [3.0, 4.0]]}


def missing_family(state):
    del state["config"]["family"]


def family_not_a_record(state):
    state["config"]["family"] = "Poisson(n_features=2)"


def family_name_not_a_string(state):
    state["config"]["family"]["name"] = ["Poisson"]


def product_part_of_no_family(state):
    state["config"]["family"] = {"name": "Product", "arguments": {"parts": [[[0, 1], {"name": "Poisson"}]]}}


@pytest.mark.parametrize("damage, field", [
    (negative_rate, "arrays.lambdas_"),
    (wrong_shape, "arrays.lambdas_"),
    (unknown_family, "config.family.name"),
    (bad_family_argument, "config.family"),
    (weights_off_the_simplex, "arrays.weights_"),
    (bad_params_init, "config.params_init"),
    (missing_family, "config.family"),
    (family_not_a_record, "config.family: expected an object"),
    (family_name_not_a_string, "config.family.name"),
    (product_part_of_no_family, "config.family.parts[0]"),
], ids=lambda value: getattr(value, "__name__", None))
def test_a_bad_file_is_a_value_error_naming_the_file_and_the_field(tmp_path, damage, field):
    _, state = saved_poisson(tmp_path)
    damage(state)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {re.escape(field)}"):
        emkit.Mixture.load(path)


def test_a_file_of_another_estimator_or_a_family_of_ones_own_is_refused(tmp_path):
    gmm = emkit.GaussianMixture(2, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 2)))
    path = gmm.save(tmp_path / "gmm.npz")
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: holds a GaussianMixture, not a Mixture"):
        emkit.Mixture.load(path)

    class MyPoisson(families.Poisson):
        pass

    own = emkit.Mixture(2, family=MyPoisson(2), n_jobs=1).fit(poisson_counts(100, 6))
    with pytest.raises(ValueError, match="^family: MyPoisson is not one of emkit's families"):
        own.save(tmp_path / "own.json")
    assert not (tmp_path / "own.json").exists()


# ----------------------------------------------------------------------- partial_fit
def test_partial_fit_is_the_apis_online_em_and_approaches_the_batch_fit():
    X = poisson_counts(12_000, 7)
    batches = np.array_split(X, 30)
    online = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1)
    for batch in batches:
        online.partial_fit(batch)
    model = MixtureModel(families.Poisson(2), 2, n_jobs=1)
    start = model.initial_params(model.prepare(batches[0]))
    seen = []
    reference = emkit.fit_online(model, batches, init=start, averaging=False,
                                 callback=lambda t, params, loglik: seen.append(loglik))
    for name, value in reference.params.items():
        np.testing.assert_allclose(online.params_[name], value, rtol=1e-12)
    np.testing.assert_allclose(online.lower_bounds_, seen, rtol=1e-12)
    assert online.n_iter_ == 30 and not online.converged_ and online.result_ is None
    batch = emkit.Mixture(2, family=families.Poisson(2), tol=1e-8, max_iter=1000, n_jobs=1).fit(X)
    assert online.score(X) == pytest.approx(batch.score(X), abs=2e-3)
    order = np.argsort(online.lambdas_[:, 0])
    np.testing.assert_allclose(online.lambdas_[order], batch.lambdas_[np.argsort(batch.lambdas_[:, 0])], rtol=0.05)


def test_partial_fit_with_sample_weights_continues_a_fit_and_leaves_nothing_changed_on_error():
    X = poisson_counts(400, 8)
    weights = np.random.default_rng(9).integers(1, 4, size=400).astype(float)
    start = dict(weights_init=[0.5, 0.5], params_init={"lambdas": [[2.0, 4.0], [5.0, 3.0]]})   # the same start
    weighted = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1, **start).partial_fit(X, sample_weight=weights)
    repeated = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1, **start).partial_fit(
        np.repeat(X, weights.astype(int), axis=0))
    np.testing.assert_allclose(weighted.lambdas_, repeated.lambdas_, rtol=1e-12)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-12)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-12)
    fitted = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1).fit(X)
    before = fitted.lambdas_.copy()
    fitted.partial_fit(X[:1])   # a later batch of one row; the stream starts at the fit
    assert fitted.n_iter_ == 1 and not np.array_equal(fitted.lambdas_, before)
    state = fitted.lambdas_.copy()
    with pytest.raises(ValueError, match="^X"):
        fitted.partial_fit(-X[:3])
    np.testing.assert_array_equal(fitted.lambdas_, state)
    with pytest.raises(ValueError, match="^n_components"):
        emkit.Mixture(3, family=families.Poisson(2)).partial_fit(X[:2])


# ------------------------------------------------------------------- frozen parameters
def direct_rates_with_fixed_weights(X: np.ndarray, weights: np.ndarray, start: np.ndarray) -> tuple[float, np.ndarray]:
    """Maximise ``Σ_i log Σ_k π_k Π_j Poisson(x_ij; λ_kj)`` over ``log λ`` with ``π`` fixed (BFGS,
    analytic gradient ``Σ_i γ_ik (x_ij − λ_kj)``)."""
    shape = start.shape

    def negative(u):
        rates = np.exp(u.reshape(shape))
        log_j = log_joint_poisson(X, weights, rates)
        log_p = logsumexp(log_j, axis=1)
        gamma = np.exp(log_j - log_p[:, None])
        return -log_p.sum(), -(gamma.T @ X - rates * gamma.sum(axis=0)[:, None]).ravel()

    found = optimize.minimize(negative, np.log(start).ravel(), jac=True, method="BFGS", options={"gtol": 1e-10})
    return -found.fun, np.exp(found.x.reshape(shape))


def test_frozen_weights_stay_fixed_and_the_rates_are_the_direct_maximum_with_them_fixed():
    X = poisson_counts(400, 10)
    weights = np.array([0.25, 0.75])
    frozen = emkit.Mixture(2, family=families.Poisson(2), weights_init=weights, learn=("lambdas",), n_init=3,
                           init_params="random", random_state=0, tol=1e-13, max_iter=5000, n_jobs=1).fit(X)
    np.testing.assert_array_equal(frozen.weights_, weights)
    loglik, rates = direct_rates_with_fixed_weights(X, weights, frozen.lambdas_ * 1.1)
    assert frozen.lower_bound_ * len(X) == pytest.approx(loglik, abs=1e-6)
    np.testing.assert_allclose(frozen.lambdas_, rates, rtol=1e-5)
    free = emkit.Mixture(2, family=families.Poisson(2), tol=1e-13, max_iter=5000, n_jobs=1).fit(X)
    assert free.lower_bound_ > frozen.lower_bound_ and frozen.model_.n_free_parameters() == 4


def test_given_rates_stay_fixed_in_every_start_and_the_weights_are_their_closed_form():
    X = poisson_counts(300, 11)
    rates = np.array([[1.0, 5.0], [6.0, 2.5]])
    frozen = emkit.Mixture(2, family=families.Poisson(2), params_init={"lambdas": rates}, learn=("weights",),
                           n_init=4, init_params="random", random_state=1, tol=1e-13, max_iter=5000,
                           n_jobs=1).fit(X)
    np.testing.assert_array_equal(frozen.lambdas_, rates)
    assert len(frozen.result_.restarts) == 4
    for params in frozen.result_.trace.params:   # from the start on
        np.testing.assert_array_equal(params["lambdas"], rates)
    # with the rates fixed, the weights maximise Σ_i log Σ_k π_k f_ik: a one-dimensional maximisation
    def negative(w):
        return -logsumexp(log_joint_poisson(X, np.array([w, 1.0 - w]), rates), axis=1).sum()

    found = optimize.minimize_scalar(negative, bounds=(1e-6, 1 - 1e-6), method="bounded", options={"xatol": 1e-12})
    assert frozen.weights_[0] == pytest.approx(found.x, abs=1e-6)
    assert frozen.lower_bound_ * len(X) == pytest.approx(-found.fun, abs=1e-8)


def test_starting_values_go_to_the_engines_starts_and_the_model_is_a_plain_mixture_model(tmp_path):
    """``weights_init``/``params_init`` reach every start through the engine's ``init(rng)``: the
    fitted (and the loaded) model is the plain :class:`MixtureModel`, with no starting values in it."""
    X = poisson_counts(120, 13)
    given = emkit.Mixture(2, family=families.Poisson(2), weights_init=[0.4, 0.6],
                          params_init={"lambdas": np.ones((2, 2))}, learn=("lambdas",), n_init=2, random_state=0,
                          n_jobs=1).fit(X)
    loaded = emkit.Mixture.load(given.save(tmp_path / "given.json"))
    assert type(given.model_) is MixtureModel and type(loaded.model_) is MixtureModel
    np.testing.assert_array_equal(given.weights_, [0.4, 0.6])


@pytest.mark.parametrize("arguments, name", [
    (dict(weights_init=[0.7, 0.7]), "weights_init"),
    (dict(weights_init=[1.0]), "weights_init"),
    (dict(weights_init="half"), "weights_init"),
    (dict(params_init={"rates": np.ones((2, 2))}), "params_init"),
    (dict(params_init={"lambdas": -np.ones((2, 2))}), "params_init"),
    (dict(params_init={"lambdas": np.ones((3, 2))}), "params_init"),
    (dict(params_init=[1.0, 2.0]), "params_init"),
    (dict(learn="weights"), "learn"),
    (dict(learn=("weights", "rates")), "learn"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_bad_starting_values_and_learn_are_named_and_change_nothing(arguments, name):
    X = poisson_counts(50, 12)
    fitted = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1).fit(X)
    before = fitted.lambdas_.copy()
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        fitted.set_params(**arguments).fit(X)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        emkit.Mixture(2, family=families.Poisson(2), n_jobs=1, **arguments).partial_fit(X)
    np.testing.assert_array_equal(fitted.lambdas_, before)


# -------------------------------------------------------------------- standard errors
@pytest.mark.parametrize("frozen", [False, True], ids=["all-learned", "weights-frozen"])
def test_standard_errors_of_a_fitted_mixture_louis_equals_the_hessian(frozen):
    X = poisson_counts(500, 13)
    options = dict(weights_init=[0.4, 0.6], learn=("lambdas",)) if frozen else {}
    estimator = emkit.Mixture(2, family=families.Poisson(2), tol=1e-12, max_iter=5000, n_jobs=1, **options).fit(X)
    louis = emkit.standard_errors(estimator.result_, X, method="louis")
    hessian = emkit.standard_errors(estimator.result_, X, method="hessian")
    assert len(louis.labels) == estimator.model_.n_free_parameters() == (4 if frozen else 5)
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-4, atol=1e-10)
    assert all(np.all(np.asarray(value) > 0) for value in louis.se["lambdas"])
