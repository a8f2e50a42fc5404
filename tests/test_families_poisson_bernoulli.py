"""The Poisson and Bernoulli families as HMM emissions, through the engine: hmmlearn's PoissonHMM
from the same start; a direct numerical maximisation of the observed-data likelihood (forward
algorithm, unconstrained parameters); statistics of halves add to the whole; EM ascends from
random starts (also where estimates reach 0 or 1); SEM's standard errors against the Hessian;
Zucchini & MacDonald's earthquake counts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from direct_mle import maximize
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

import emkit
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.families import Bernoulli, Poisson
from emkit.latent.hmm import HiddenMarkovModel

CHAIN = {"startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.85, 0.15], [0.25, 0.75]])}


def simulate(family, params, length, seed, n_sequences=1):
    model = HiddenMarkovModel(family, 2)
    rng = np.random.default_rng(seed)
    return np.concatenate([model.sample(params, length, rng)[0] for _ in range(n_sequences)])


# ------------------------------------------------------------------ against hmmlearn
def test_poisson_hmm_matches_hmmlearn_from_the_same_start():
    from hmmlearn import hmm as hmmlearn

    rng = np.random.default_rng(0)
    truth = {"startprob": np.array([0.5, 0.3, 0.2]), "transmat": rng.dirichlet(np.ones(3) * 3, size=3) * 0.4
             + 0.6 * np.eye(3), "lambdas": np.array([[1.0, 4.0], [5.0, 1.5], [9.0, 7.0]])}
    model = HiddenMarkovModel(Poisson(2), 3)
    X = np.concatenate([model.sample(truth, n, rng)[0] for n in (120, 80, 100)])
    lengths = [120, 80, 100]
    start = {"startprob": rng.dirichlet(np.ones(3)), "transmat": rng.dirichlet(np.ones(3), size=3),
             "lambdas": rng.uniform(1.0, 8.0, size=(3, 2))}
    n_iter = 15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = emkit.fit(model, (X, lengths), init=start, tol=0.0, param_tol=None, max_iter=n_iter)
    theirs = hmmlearn.PoissonHMM(3, n_iter=n_iter, tol=-np.inf, init_params="", lambdas_prior=0.0,
                                 lambdas_weight=0.0, implementation="log")
    theirs.startprob_, theirs.transmat_, theirs.lambdas_ = start["startprob"], start["transmat"], start["lambdas"]
    theirs.fit(X.astype(int), lengths)
    assert ours.n_iter == n_iter
    np.testing.assert_allclose(ours.trace.loglik[:n_iter], theirs.monitor_.history, rtol=1e-10)
    np.testing.assert_allclose(ours.params["lambdas"], theirs.lambdas_, rtol=1e-10)
    np.testing.assert_allclose(ours.params["transmat"], theirs.transmat_, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ours.params["startprob"], theirs.startprob_, rtol=1e-10, atol=1e-14)
    assert ours.loglik == pytest.approx(theirs.score(X.astype(int), lengths), rel=1e-10)


# ------------------------------------------------------------------ against a direct maximisation
def forward_loglik(log_emission, startprob, transmat):
    """``log p(x)`` of one sequence by the scaled forward algorithm (complex-step friendly)."""
    alpha = startprob * np.exp(log_emission[0])
    total = np.log(alpha.sum())
    alpha = alpha / alpha.sum()
    for row in log_emission[1:]:
        alpha = (alpha @ transmat) * np.exp(row)
        total = total + np.log(alpha.sum())
        alpha = alpha / alpha.sum()
    return total


def softmax_rows(eta):
    e = np.exp(eta - eta.real.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def direct_fit(X, emission_loglik, n_emission, startprob, x0):
    """MLE of the transition rows (logits against the last state) and the emission parameters
    (unconstrained) with the start probabilities fixed, by direct maximisation."""
    def loglik(theta):
        logits = np.concatenate([theta[:2].reshape(2, 1), np.zeros((2, 1))], axis=1)
        return forward_loglik(emission_loglik(X, theta[2:].reshape(2, n_emission)), startprob, softmax_rows(logits))

    return maximize(loglik, x0), loglik


def poisson_rows(X, log_rates):
    """``log p(x_i | k)`` with NaN cells left out (complex-step friendly)."""
    observed = ~np.isnan(X)
    values = np.where(observed, X, 0.0)
    constant = -(gammaln(values + 1.0) * observed).sum(axis=1)
    return (values @ log_rates.T - observed.astype(float) @ np.exp(log_rates).T + constant[:, None])


def bernoulli_rows(X, logits):
    observed = ~np.isnan(X)
    ones = np.where(observed, X, 0.0)
    zeros = observed - ones
    return ones @ -np.log1p(np.exp(-logits)).T + zeros @ -np.log1p(np.exp(logits)).T


def check_against_direct(family, X, emission_loglik, to_unconstrained, from_unconstrained):
    model = HiddenMarkovModel(family, 2, learn=("transmat",) + family.param_names)
    start = {**CHAIN, **family.initial_params(X, 2, None)}
    result = emkit.fit(model, X, init=start, tol=1e-14, max_iter=20_000)
    name = family.param_names[0]
    x0 = np.concatenate([np.log(start["transmat"][:, 0] / start["transmat"][:, 1]),
                         to_unconstrained(start[name]).ravel()])
    theta, loglik = direct_fit(X, emission_loglik, family.n_features, CHAIN["startprob"], x0)
    direct = from_unconstrained(theta[2:].reshape(2, -1))
    order = np.argsort(result.params[name][:, 0])
    np.testing.assert_allclose(result.params[name][order], direct[np.argsort(direct[:, 0])], rtol=1e-6, atol=1e-8)
    assert result.loglik == pytest.approx(float(np.real(loglik(theta.astype(complex)))), rel=1e-10)


def test_bernoulli_hmm_reaches_the_direct_maximum():
    truth = {**CHAIN, "probs": np.array([[0.2, 0.7, 0.4], [0.8, 0.3, 0.6]])}
    X = simulate(Bernoulli(3), truth, 250, seed=3)
    check_against_direct(Bernoulli(3), X, bernoulli_rows, lambda p: np.log(p / (1 - p)),
                         lambda eta: 1.0 / (1.0 + np.exp(-eta)))


def test_poisson_hmm_with_missing_cells_reaches_the_direct_maximum():
    truth = {**CHAIN, "lambdas": np.array([[1.0, 4.0], [5.0, 1.5]])}
    X = simulate(Poisson(2), truth, 250, seed=4)
    rng = np.random.default_rng(5)
    X[rng.random(X.shape) < 0.15] = np.nan
    X[[10, 11, 50]] = np.nan                                    # whole rows missing: likelihood 1
    check_against_direct(Poisson(2), X, poisson_rows, np.log, np.exp)


# ------------------------------------------------------------------ the family's contract
@pytest.mark.parametrize("family, truth", [
    (Poisson(3), np.array([[0.5, 2.0, 6.0], [3.0, 0.2, 1.0]])),
    (Bernoulli(3), np.array([[0.1, 0.9, 0.5], [0.6, 0.0, 1.0]])),
])
def test_statistics_of_two_halves_add_to_those_of_the_whole(family, truth):
    X = simulate(family, {**CHAIN, family.param_names[0]: truth}, 90, seed=6)
    X[np.random.default_rng(7).random(X.shape) < 0.2] = np.nan
    posteriors = np.random.default_rng(8).dirichlet(np.ones(2), size=len(X))
    cache = family.precompute({family.param_names[0]: truth})
    whole = family.stats(family.block_data(X), posteriors, cache)
    halves = [family.stats(family.block_data(X[s]), posteriors[s], cache) for s in (slice(None, 37), slice(37, None))]
    for key in whole:
        np.testing.assert_allclose(halves[0][key] + halves[1][key], whole[key], rtol=1e-13)
    complete = simulate(family, {**CHAIN, family.param_names[0]: truth}, 40, seed=9)
    np.testing.assert_allclose(family.stats(family.block_data(complete), posteriors[:40], cache)["column_weights"],
                               np.repeat(posteriors[:40].sum(axis=0)[:, None], 3, axis=1), rtol=1e-13)


def test_log_likelihood_is_exact_at_zero_probabilities_and_rates():
    """``0 · log 0 = 0`` and an impossible cell gives ``−inf`` for its component only."""
    bernoulli = Bernoulli(2)
    X = np.array([[1.0, 0.0], [0.0, np.nan], [np.nan, np.nan]])
    probs = np.array([[0.0, 0.5], [1.0, 0.0], [0.3, 1.0]])
    values = bernoulli.log_likelihood(bernoulli.block_data(bernoulli.prepare(X)), {"probs": probs})
    expected = np.array([[-np.inf, 0.0, -np.inf], [0.0, -np.inf, np.log(0.7)], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(values, expected)
    poisson = Poisson(2)
    counts = np.array([[0.0, 2.0], [3.0, np.nan]])
    rates = np.array([[0.0, 1.0], [2.0, 0.0]])
    values = poisson.log_likelihood(poisson.block_data(poisson.prepare(counts)), {"lambdas": rates})
    np.testing.assert_allclose(values, [[2 * 0.0 - 1.0 - np.log(2.0), -np.inf],
                                        [-np.inf, 3 * np.log(2.0) - 2.0 - np.log(6.0)]], rtol=1e-15)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["poisson", "bernoulli"]), k=st.integers(1, 3))
def test_em_ascends_from_random_starts(seed, kind, k):
    """Random small data (some columns constant, so estimates reach 0 or 1), random starts."""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(8, 40)), 3
    X = rng.poisson(rng.uniform(0.0, 4.0, size=d), size=(n, d)).astype(float)
    if kind == "bernoulli":
        X = np.minimum(X, 1.0)
    X[:, 0] = 0.0 if rng.random() < 0.5 else X[:, 0]
    X[rng.random(X.shape) < 0.1] = np.nan
    family = Poisson(d) if kind == "poisson" else Bernoulli(d)
    X[:, 1] = np.where(np.isnan(X[:, 1]).all(), 1.0, X[:, 1])
    X[0] = np.where(np.isnan(X).all(axis=0), 1.0, X[0])
    model = HiddenMarkovModel(family, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        result = emkit.fit(model, (X, [n // 2, n - n // 2]), random_state=rng, max_iter=30)
    loglik = np.array(result.trace.loglik)
    assert np.all(np.isfinite(loglik))
    assert np.all(np.diff(loglik) >= -1e-10 * np.maximum(1.0, np.abs(loglik[1:])))
    assert family.is_feasible(result.params)


@pytest.mark.parametrize("family, truth", [
    (Poisson(2), np.array([[1.0, 4.0], [5.0, 1.5]])),
    (Bernoulli(2), np.array([[0.2, 0.7], [0.8, 0.3]])),
])
def test_sem_standard_errors_equal_the_hessian(family, truth):
    """SEM (from the family's complete-data information) against the numerical Hessian of the
    observed-data log-likelihood; start probabilities not learned (one per sequence)."""
    model = HiddenMarkovModel(family, 2, learn=("transmat",) + family.param_names)
    params = {**CHAIN, family.param_names[0]: truth}
    X = simulate(family, params, 150, seed=10, n_sequences=4)
    data = (X, [150] * 4)
    result = emkit.fit(model, data, init=params, tol=1e-13, max_iter=5000)
    sem = emkit.standard_errors(result, data, method="sem")
    hessian = emkit.standard_errors(result, data, method="hessian")
    np.testing.assert_allclose(sem.cov, hessian.cov, rtol=1e-4, atol=1e-6 * np.abs(hessian.cov).max())
    assert np.shape(sem.se[family.param_names[0]]) == (2, 2)


@pytest.mark.parametrize("family", [Poisson(2), Bernoulli(2)])
def test_free_parameters_round_trip(family):
    params = family.initial_params(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, np.nan]]), 3, np.random.default_rng(0))
    learn = frozenset(family.param_names)
    free = family.to_free(params, learn)
    assert free.size == family.n_free_parameters(3, learn) == len(family.free_labels(params, learn)) == 6
    np.testing.assert_array_equal(family.from_free(free, params, learn)[family.param_names[0]],
                                  params[family.param_names[0]])
    assert family.n_free_parameters(3, frozenset()) == 0 and family.to_free(params, frozenset()).size == 0


@pytest.mark.parametrize("family", [Poisson(2), Bernoulli(2)])
def test_m_step_keeps_empty_components_and_cells_without_weight(family):
    """``θ = s / n`` where there is weight; a component flagged empty, and a cell whose column
    was never observed with weight on its component, keep their previous values."""
    name = family.param_names[0]
    previous = np.full((3, 2), 0.5)
    stats = {"column_weights": np.array([[4.0, 2.0], [1e-3, 0.0], [2.0, 5.0]]),
             "column_sums": np.array([[1.0, 0.5], [0.0, 0.0], [2.0, 1.0]])}
    new = family.m_step(stats, {name: previous}, frozenset({name}), np.array([False, False, True]))[name]
    np.testing.assert_allclose(new, [[0.25, 0.25], [0.0, 0.5], [0.5, 0.5]])
    assert family.m_step(stats, {name: previous}, frozenset(), np.zeros(3, bool))[name] is previous


def test_deterministic_starts_are_reproducible_and_separate_the_components():
    X = np.array([[0.0, 3.0], [2.0, 5.0], [np.nan, 4.0]])
    lambdas = Poisson(2).initial_params(X, 3, None)["lambdas"]
    np.testing.assert_allclose(lambdas, [[0.5, 2.0], [1.0, 4.0], [1.5, 6.0]])
    probs = Bernoulli(2).initial_params(np.array([[0.0, 1.0], [1.0, 1.0], [0.0, np.nan], [1.0, 0.0]]), 2,
                                        None)["probs"]
    np.testing.assert_allclose(probs, [[0.25, 2 / 3 - 1 / 6], [0.75, 2 / 3 + 1 / 6]])


@pytest.mark.parametrize("family, X, message", [
    (Poisson(2), [[1, 2], [3, -1]], "row 1, column 1"),
    (Poisson(2), [[1, 2.5], [3, 1]], "row 0, column 1"),
    (Poisson(2), [[1, np.inf], [3, 1]], "row 0, column 1"),
    (Poisson(2), [[1, 2, 3]], r"\(n_samples, 2\)"),
    (Poisson(2), [[np.nan, 2], [np.nan, 1]], "column 0 has no observed value"),
    (Bernoulli(2), [[1, 0], [0, 2]], "row 1, column 1"),
    (Bernoulli(2), [["a", "b"]], "X"),
])
def test_bad_observations_are_refused_naming_x(family, X, message):
    with pytest.raises(ValueError, match=message) as error:
        family.prepare(np.array(X, dtype=object) if isinstance(X[0][0], str) else np.array(X, dtype=float))
    assert str(error.value).startswith("X:")


def test_bad_parameters_and_settings_are_refused_naming_them():
    with pytest.raises(ValueError, match="^n_features"):
        Poisson(0)
    with pytest.raises(ValueError, match="^lambdas"):
        Poisson(2).check_params({"lambdas": np.array([[1.0, -1.0], [1.0, 1.0]])}, 2)
    with pytest.raises(ValueError, match="^probs"):
        Bernoulli(2).check_params({"probs": np.array([[0.5, 1.5], [0.5, 0.5]])}, 2)
    with pytest.raises(ValueError, match="^probs"):
        Bernoulli(2).check_params({"probs": np.full((3, 2), 0.5)}, 2)


def test_importing_the_families_imports_neither_numba_nor_scipy_stats():
    import subprocess
    import sys

    code = ("import sys, emkit.families as f; f.Poisson, f.Bernoulli; "
            "print(any(m.startswith(('numba', 'scipy.stats')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ a published fit
#: Annual counts of major earthquakes (magnitude 7 and above), 1900–2006 (Zucchini & MacDonald,
#: Hidden Markov Models for Time Series, 2009, and the 2nd edition, 2016).
EARTHQUAKES = np.array([
    13, 14, 8, 10, 16, 26, 32, 27, 18, 32, 36, 24, 22, 23, 22, 18, 25, 21, 21, 14, 8, 11, 14, 23, 18, 17, 19, 20,
    22, 19, 13, 26, 13, 14, 22, 24, 21, 22, 26, 21, 23, 24, 27, 41, 31, 27, 35, 26, 28, 36, 39, 21, 17, 22, 17,
    19, 15, 34, 10, 15, 22, 18, 15, 20, 15, 22, 19, 16, 30, 27, 29, 23, 20, 16, 21, 21, 25, 16, 18, 15, 18, 14,
    10, 15, 8, 15, 6, 11, 8, 7, 18, 16, 13, 12, 13, 20, 15, 16, 12, 18, 15, 16, 13, 15, 16, 11, 11], dtype=float)

#: Their two-state Poisson-HMM estimates with the stationary start ``δ = δΓ`` and ``−log L``.
PUBLISHED = {"lambdas": np.array([[15.472], [26.125]]), "transmat": np.array([[0.9340, 0.0660], [0.1285, 0.8715]]),
             "neg_loglik": 342.3183}


def test_earthquake_counts_reproduce_the_published_two_state_fit():
    """The forward algorithm gives the published ``−log L`` at the published estimates (which
    checks this copy of the series); EM with a free start (a larger model than their stationary
    one) reaches at least that likelihood, by less than ``−log min δ``, with rates near theirs."""
    transmat = PUBLISHED["transmat"]
    stationary = np.array([transmat[1, 0], transmat[0, 1]]) / (transmat[1, 0] + transmat[0, 1])
    model = HiddenMarkovModel(Poisson(1), 2)
    assert len(EARTHQUAKES) == 107
    loglik, _ = model.score_samples(EARTHQUAKES, {"startprob": stationary, **PUBLISHED})
    assert -loglik == pytest.approx(PUBLISHED["neg_loglik"], abs=5e-5)
    result = emkit.fit(model, EARTHQUAKES)
    assert -PUBLISHED["neg_loglik"] <= result.loglik <= -PUBLISHED["neg_loglik"] - np.log(stationary.min())
    np.testing.assert_allclose(np.sort(result.params["lambdas"][:, 0]), PUBLISHED["lambdas"][:, 0], rtol=0.01)
