"""The hidden chain's options: a stationary initial distribution (Zucchini & MacDonald's default)
and constrained transition matrices (held entries, left-right and banded topologies).

Checked against direct numerical maximisation (scipy) of the M-step objectives and of the
observed-data log-likelihood by the textbook forward recursion, and against Zucchini &
MacDonald's published stationary Poisson-HMM fits of the earthquake counts.
"""

import json

import numpy as np
import pytest
from hmm_brute import forward_loglik
from scipy import optimize, stats
from scipy.special import xlogy

import emkit
from emkit.datasets import earthquakes
from emkit.families import Gaussian, Poisson
from emkit.latent import HiddenMarkovModel
from emkit.latent.hmm_transitions import (
    constrained_rows,
    stationary_distribution,
    stationary_rows,
    transition_constraints,
)

NAN = np.nan


def eigen_stationary(transmat):
    """δ as the left eigenvector of A for eigenvalue 1 (independent of the linear solve)."""
    values, vectors = np.linalg.eig(transmat.T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return vector / vector.sum()


def rows_from_logits(logits, held):
    """A matrix whose free entries in row i are ``m_i softmax`` of that row's logits (the last free 0)."""
    k = held.shape[0]
    free = np.isnan(held)
    out = np.where(free, 0.0, np.nan_to_num(held))
    start = 0
    for i in range(k):
        columns = np.flatnonzero(free[i])
        if columns.size == 0:
            continue
        z = np.append(logits[start:start + columns.size - 1], 0.0)
        start += columns.size - 1
        out[i, columns] = (1.0 - np.nansum(held[i])) * np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    return out, start


def n_logits(held):
    free = np.isnan(held)
    return int(sum(max(row.sum() - 1, 0) for row in free))


# ------------------------------------------------------------------ the M-steps themselves
def test_stationary_distribution_is_the_left_eigenvector():
    rng = np.random.default_rng(0)
    for k in (1, 2, 5):
        transmat = rng.dirichlet(np.ones(k), size=k)
        delta = stationary_distribution(transmat)
        np.testing.assert_allclose(delta, eigen_stationary(transmat), atol=1e-12)
        np.testing.assert_allclose(delta @ transmat, delta, atol=1e-12)


@pytest.mark.parametrize("held", [np.full((3, 3), NAN),
                                  np.array([[NAN, 0.1, NAN], [NAN, NAN, NAN], [0.25, NAN, NAN]]),
                                  np.array([[NAN, NAN, 0.0], [NAN, NAN, NAN], [0.0, NAN, NAN]])])
def test_stationary_m_step_is_the_argmax_of_its_objective(held):
    """``Σ n log A + Σ s log δ(A)`` maximised by the step equals scipy's maximum over the rows."""
    rng = np.random.default_rng(1)
    counts, weights = rng.uniform(0.0, 8.0, (3, 3)), np.array([2.0, 0.0, 1.0])
    free = np.isnan(held)

    def objective(transmat):
        return float(xlogy(np.where(free, counts, 0.0), transmat).sum() + xlogy(weights, eigen_stationary(transmat)).sum())

    def negative(logits):
        return -objective(rows_from_logits(logits, held)[0])

    direct = min((optimize.minimize(negative, rng.normal(size=n_logits(held)), method="Nelder-Mead",
                                    options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 40000}) for _ in range(3)),
                 key=lambda r: r.fun)
    previous = rows_from_logits(np.zeros(n_logits(held)), held)[0]
    ours = stationary_rows(counts, weights, previous, None if np.all(free) else held)
    assert objective(ours) == pytest.approx(-direct.fun, abs=1e-8)
    np.testing.assert_allclose(ours, rows_from_logits(direct.x, held)[0], atol=2e-5)
    np.testing.assert_array_equal(ours[~free], held[~free])
    assert objective(ours) >= objective(previous)


def test_constrained_m_step_is_the_constrained_argmax():
    """Closed form ``a_ij = m_i n_ij / Σ_free n`` against scipy on ``Σ n log A`` with the held values."""
    rng = np.random.default_rng(2)
    held = transition_constraints(4, topology="banded", bandwidth=1,
                                  fixed_transmat=[[NAN, 0.3, 0, 0], [NAN] * 4, [0, NAN, NAN, NAN], [0, 0, 0.4, NAN]])
    counts = rng.uniform(0.5, 6.0, (4, 4))
    ours, empty = constrained_rows(counts, held, np.full((4, 4), 0.25))

    def negative(logits):
        return -float(xlogy(np.where(np.isnan(held), counts, 0.0), rows_from_logits(logits, held)[0]).sum())

    direct = optimize.minimize(negative, np.zeros(n_logits(held)), method="BFGS", options={"gtol": 1e-11})
    np.testing.assert_allclose(ours, rows_from_logits(direct.x, held)[0], atol=1e-6)
    assert not empty.any() and ours[0, 1] == 0.3 and ours[3, 2] == 0.4 and ours[0, 2] == ours[3, 1] == 0.0
    np.testing.assert_allclose(ours.sum(axis=1), 1.0)


# ------------------------------------------------------------------ whole fits
def stationary_poisson_negloglik(theta, x, k, held):
    """``−log L`` of a stationary Poisson HMM by the forward recursion: ``theta`` = log rates,
    then each row's free logits."""
    transmat, used = rows_from_logits(theta[k:], held)
    assert used == theta.size - k
    log_frame = stats.poisson.logpmf(x[:, None], np.exp(theta[:k])[None, :])
    return -forward_loglik(log_frame, eigen_stationary(transmat), transmat)


def direct_stationary_fit(x, rates, transmat, held):
    """scipy's maximum of the observed-data log-likelihood from ``rates``, ``transmat``."""
    k = len(rates)
    free = np.isnan(held)
    logits = [np.log(transmat[i, free[i]][:-1] / transmat[i, free[i]][-1]) for i in range(k) if free[i].sum() > 1]
    theta = np.concatenate([np.log(rates)] + logits)
    result = optimize.minimize(stationary_poisson_negloglik, theta, args=(x, k, held), method="BFGS",
                               options={"gtol": 1e-7})
    return result.fun, np.exp(result.x[:k]), rows_from_logits(result.x[k:], held)[0]


ZUCCHINI_STARTS = {2: ([15.0, 25.0], 0.1 + 0.8 * np.eye(2)), 3: ([10.0, 20.0, 30.0], 0.1 + 0.7 * np.eye(3)),
                   4: ([10.0, 15.0, 20.0, 30.0], 0.05 + 0.8 * np.eye(4))}
#: −log L of the stationary Poisson HMMs of the earthquake counts, Zucchini & MacDonald (2009),
#: reproduced by their appendix code (pois.HMM.mle, stationary=TRUE) in public notes: 3 states in
#: vinky-wang/HMM-notes (docs/08-earthquake-example.md, with rates 13.14573, 19.72101, 29.71437).
PUBLISHED = {2: 342.3183, 3: 329.4603, 4: 327.8316}


def fit_earthquakes(k, **options):
    x = earthquakes()["count"].to_numpy(dtype=float)
    rates, transmat = ZUCCHINI_STARTS[k]
    model = HiddenMarkovModel(Poisson(1), k, initial="stationary", n_jobs=1, **options)
    init = model.check_params({"startprob": np.full(k, 1.0 / k), "transmat": transmat,
                               "lambdas": np.array(rates)[:, None]})
    return x, emkit.fit(model, x[:, None], init=init, max_iter=3000, tol=1e-10, accelerate="squarem")


@pytest.mark.parametrize("k", [2, 3, 4])
def test_earthquakes_stationary_poisson_hmm_reaches_zucchini_macdonald(k):
    x, result = fit_earthquakes(k)
    assert round(-result.loglik, 4) == PUBLISHED[k]
    np.testing.assert_allclose(result.params["startprob"], stationary_distribution(result.params["transmat"]))
    if k == 3:
        np.testing.assert_allclose(result.params["lambdas"].ravel(), [13.14573, 19.72101, 29.71437], atol=2e-4)
        np.testing.assert_allclose(result.params["startprob"], [0.4436420, 0.4044983, 0.1518597], atol=2e-5)
    if k < 4:  # an independent direct maximisation (scipy, forward recursion) from the book's start
        rates, transmat = ZUCCHINI_STARTS[k]
        direct, direct_rates, _ = direct_stationary_fit(x, rates, transmat, np.full((k, k), NAN))
        assert -result.loglik == pytest.approx(direct, abs=2e-6)
        np.testing.assert_allclose(result.params["lambdas"].ravel(), direct_rates, rtol=1e-3)


def simulated_counts(seed=3, n=120):
    rng = np.random.default_rng(seed)
    states = [0]
    for _ in range(n - 1):
        states.append(states[-1] if rng.random() < 0.85 else (states[-1] + rng.integers(1, 3)) % 3)
    return rng.poisson(np.array([2.0, 7.0, 15.0])[states]).astype(float)


def test_constrained_stationary_fit_equals_direct_maximum():
    """A banded chain with a held entry and a stationary start, fitted by EM, is scipy's maximum."""
    x = simulated_counts()
    options = {"topology": "banded", "bandwidth": 1, "fixed_transmat": [[NAN, 0.1, 0.0], [NAN] * 3, [0.0, NAN, NAN]]}
    model = HiddenMarkovModel(Poisson(1), 3, initial="stationary", n_jobs=1, **options)
    result = emkit.fit(model, x[:, None], max_iter=3000, tol=1e-11, accelerate="squarem")
    held = model.held_transmat
    direct, rates, transmat = direct_stationary_fit(x, result.params["lambdas"].ravel() * 1.05,
                                                    rows_from_logits(np.zeros(n_logits(held)), held)[0], held)
    assert -result.loglik == pytest.approx(direct, abs=1e-6)
    np.testing.assert_allclose(result.params["transmat"], transmat, atol=2e-3)
    assert result.params["transmat"][0, 1] == 0.1 and result.params["transmat"][0, 2] == 0.0


@pytest.mark.filterwarnings("ignore:EM did not converge")
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("options", [{"initial": "stationary"},
                                     {"topology": "left-right"},
                                     {"initial": "stationary", "fixed_transmat": [[NAN, 0.2, NAN]] + [[NAN] * 3] * 2}])
def test_every_iteration_ascends(seed, options):
    """The ascent property through the inner maximisation (Gaussian emissions, random starts)."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(m, 1.0, size=(40, 2)) for m in (0.0, 2.5, 5.0)])
    model = HiddenMarkovModel(Gaussian(2, "diag"), 3, n_jobs=1, **options)
    result = emkit.fit(model, (X, [60, 60]), random_state=seed, max_iter=60, tol=0.0)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    if options.get("topology") == "left-right":
        assert np.all(np.tril(result.params["transmat"], -1) == 0.0)


# ------------------------------------------------------------------ faces
def test_faces_offer_the_stationary_start_and_count_its_parameters():
    x = earthquakes()["count"].to_numpy(dtype=float)[:, None]
    face = emkit.PoissonHMM(2, initial="stationary", init_params="", n_iter=1000, tol=1e-10, n_jobs=1)
    face.startprob_, face.transmat_, face.lambdas_ = np.full(2, 0.5), ZUCCHINI_STARTS[2][1], np.array([[15.0], [25.0]])
    face.fit(x)
    assert round(-face.score(x), 4) == PUBLISHED[2]
    np.testing.assert_allclose(face.startprob_, face.get_stationary_distribution())
    # Zucchini & MacDonald's BIC of the 2-state stationary model (4 parameters): 703.3278
    assert round(face.bic(x), 4) == 703.3278
    family = emkit.HMM(2, family=Poisson, initial="stationary", n_iter=1000, tol=1e-10, random_state=0, n_jobs=1).fit(x)
    assert round(-family.score(x), 4) == PUBLISHED[2]
    assert family.result_.params["startprob"] == pytest.approx(stationary_distribution(family.transmat_))


def test_faces_keep_held_transitions_and_topologies(tmp_path):
    X = np.concatenate([np.random.default_rng(4).normal(m, 1.0, size=(50, 1)) for m in (0.0, 4.0, 8.0)])
    held = [[NAN, 0.05, NAN], [NAN] * 3, [NAN] * 3]
    model = emkit.GaussianHMM(3, fixed_transmat=held, n_iter=30, random_state=0, n_jobs=1).fit(X)
    assert model.transmat_[0, 1] == 0.05
    np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0)
    assert model._n_parameters() == 2 + 5 + 3 + 3        # π: 2, A: 6 − 1 held, means 3, variances 3
    path = model.save(tmp_path / "held.json")
    assert emkit.GaussianHMM.load(path).transmat_[0, 1] == 0.05
    assert json.loads(path.read_text())["config"]["fixed_transmat"][0] == [None, 0.05, None]
    left_right = emkit.HMM(3, family=Gaussian(1, "diag"), topology="left-right", n_iter=30, random_state=0,
                           n_jobs=1).fit(X)
    assert np.all(np.tril(left_right.transmat_, -1) == 0.0)


def test_defaults_are_unchanged():
    """Without options the chain is hmmlearn's: free start, Dirichlet-mode transitions."""
    model = HiddenMarkovModel(Poisson(1), 2)
    assert model.initial == "free" and model.held_transmat is None
    assert model.n_free_parameters() == 1 + 2 + 2


def test_standard_errors_of_a_stationary_chain():
    """The Hessian method works in the chain's free coordinates (π recomputed as δ(A));
    Louis's method says why it cannot."""
    x, result = fit_earthquakes(2)
    errors = emkit.standard_errors(result, x[:, None], method="hessian")
    assert len(errors.labels) == 4 and all(not label.startswith("startprob") for label in errors.labels)
    assert np.all(np.isfinite(np.diag(errors.cov))) and np.all(np.diag(errors.cov) > 0)
    with pytest.raises(NotImplementedError, match="stationary chain"):
        emkit.standard_errors(result, x[:, None], method="louis")


@pytest.mark.parametrize("options, match", [
    ({"initial": "stationnary"}, "initial"),
    ({"topology": "circle"}, "topology"),
    ({"topology": "banded"}, "bandwidth"),
    ({"bandwidth": 1}, "bandwidth"),
    ({"topology": "left-right", "bandwidth": -1}, "bandwidth"),
    ({"fixed_transmat": np.ones((2, 2))}, "fixed_transmat"),
    ({"fixed_transmat": [[0.7, 0.6, NAN]] + [[NAN] * 3] * 2}, "fixed_transmat"),
    ({"fixed_transmat": [[1.5, NAN, NAN]] + [[NAN] * 3] * 2}, "fixed_transmat"),
    ({"fixed_transmat": [[0.5, 0.2, 0.2]] + [[NAN] * 3] * 2}, "fixed_transmat"),
    ({"topology": "left-right", "fixed_transmat": [[NAN] * 3, [0.1, NAN, NAN], [NAN] * 3]}, "fixed_transmat"),
    ({"initial": "stationary", "topology": "left-right"}, "initial"),
])
def test_bad_options_name_the_argument(options, match):
    with pytest.raises(ValueError, match=match):
        HiddenMarkovModel(Poisson(1), 3, **options)


def test_given_parameters_must_keep_the_held_values():
    model = HiddenMarkovModel(Poisson(1), 2, topology="left-right")
    with pytest.raises(ValueError, match="transmat"):
        model.check_params({"startprob": [0.5, 0.5], "transmat": [[0.5, 0.5], [0.5, 0.5]], "lambdas": [[1.0], [2.0]]})


#: The Federal funds rate, quarterly 1954Q3–2010Q4 (Stata's usmacro), inline in statsmodels'
#: statsmodels/tsa/regime_switching/tests/test_markov_regression.py (``fedfunds``).
FEDFUNDS = np.array([1.03, 0.99, 1.34, 1.5, 1.94, 2.36, 2.48, 2.69, 2.81, 2.93, 2.93,
    3.0, 3.23, 3.25, 1.86, 0.94, 1.32, 2.16, 2.57, 3.08, 3.58, 3.99,
    3.93, 3.7, 2.94, 2.3, 2.0, 1.73, 1.68, 2.4, 2.46, 2.61, 2.85,
    2.92, 2.97, 2.96, 3.33, 3.45, 3.46, 3.49, 3.46, 3.58, 3.97, 4.08,
    4.07, 4.17, 4.56, 4.91, 5.41, 5.56, 4.82, 3.99, 3.89, 4.17, 4.79,
    5.98, 5.94, 5.92, 6.57, 8.33, 8.98, 8.94, 8.57, 7.88, 6.7, 5.57,
    3.86, 4.56, 5.47, 4.75, 3.54, 4.3, 4.74, 5.14, 6.54, 7.82, 10.56,
    10.0, 9.32, 11.25, 12.09, 9.35, 6.3, 5.42, 6.16, 5.41, 4.83, 5.2,
    5.28, 4.87, 4.66, 5.16, 5.82, 6.51, 6.76, 7.28, 8.1, 9.58, 10.07,
    10.18, 10.95, 13.58, 15.05, 12.69, 9.84, 15.85, 16.57, 17.78,
    17.58, 13.59, 14.23, 14.51, 11.01, 9.29, 8.65, 8.8, 9.46, 9.43,
    9.69, 10.56, 11.39, 9.27, 8.48, 7.92, 7.9, 8.1, 7.83, 6.92, 6.21,
    6.27, 6.22, 6.65, 6.84, 6.92, 6.66, 7.16, 7.98, 8.47, 9.44, 9.73,
    9.08, 8.61, 8.25, 8.24, 8.16, 7.74, 6.43, 5.86, 5.64, 4.82, 4.02,
    3.77, 3.26, 3.04, 3.04, 3.0, 3.06, 2.99, 3.21, 3.94, 4.49, 5.17,
    5.81, 6.02, 5.8, 5.72, 5.36, 5.24, 5.31, 5.28, 5.28, 5.52, 5.53,
    5.51, 5.52, 5.5, 5.53, 4.86, 4.73, 4.75, 5.09, 5.31, 5.68, 6.27,
    6.52, 6.47, 5.59, 4.33, 3.5, 2.13, 1.73, 1.75, 1.74, 1.44, 1.25,
    1.25, 1.02, 1.0, 1.0, 1.01, 1.43, 1.95, 2.47, 2.94, 3.46, 3.98,
    4.46, 4.91, 5.25, 5.25, 5.26, 5.25, 5.07, 4.5, 3.18, 2.09, 1.94,
    0.51, 0.18, 0.18, 0.16, 0.12, 0.13, 0.19, 0.19, 0.19])

#: Stata's mswitch dr fit of a two-regime switching mean with a common variance (statsmodels'
#: MarkovRegression(fedfunds, k_regimes=2) test: llf −508.63592; p00, p10, μ0, μ1, σ²).
STATA_FEDFUNDS = {"loglik": -508.63592, "p00": 0.9820939, "p10": 0.0503587, "means": [3.70877, 9.556793],
                  "sigma2": 2.107562 ** 2}


def test_markov_switching_mean_reaches_stata_on_fedfunds():
    """statsmodels' MarkovRegression starts from the stationary distribution: a 2-state HMM
    with Gaussian emissions of one shared variance and ``initial="stationary"`` is that model."""
    model = HiddenMarkovModel(Gaussian(1, "tied"), 2, initial="stationary", n_jobs=1)
    result = emkit.fit(model, FEDFUNDS[:, None], max_iter=2000, tol=1e-10, accelerate="squarem")
    assert round(result.loglik, 5) == STATA_FEDFUNDS["loglik"]
    low = int(np.argmin(result.params["means"].ravel()))
    transmat = result.params["transmat"][np.ix_([low, 1 - low], [low, 1 - low])]
    np.testing.assert_allclose([transmat[0, 0], transmat[1, 0]], [STATA_FEDFUNDS["p00"], STATA_FEDFUNDS["p10"]],
                               atol=2e-6)
    np.testing.assert_allclose(np.sort(result.params["means"].ravel()), STATA_FEDFUNDS["means"], atol=2e-5)
    assert result.params["covars"].item() == pytest.approx(STATA_FEDFUNDS["sigma2"], rel=1e-5)


def test_standard_errors_of_a_constrained_chain_agree_between_sem_and_the_hessian():
    """SEM (the complete information of the free entries) and the Hessian of the observed
    log-likelihood in the same free coordinates give the same errors; held entries have none."""
    x = simulated_counts()
    data = (x[:, None], [40, 40, 40])
    model = HiddenMarkovModel(Poisson(1), 3, n_jobs=1, topology="banded", bandwidth=1,
                              fixed_transmat=[[NAN, 0.1, 0.0], [NAN] * 3, [0.0, NAN, NAN]])
    result = emkit.fit(model, data, max_iter=3000, tol=1e-11, accelerate="squarem")
    sem, hessian = (emkit.standard_errors(result, data, method=method) for method in ("sem", "hessian"))
    assert sem.labels == hessian.labels == ("startprob[0]", "startprob[1]", "transmat[1,0]", "transmat[1,1]",
                                            "transmat[2,1]", "lambdas[0][0]", "lambdas[1][0]", "lambdas[2][0]")
    np.testing.assert_allclose(np.sqrt(np.diag(sem.cov)), np.sqrt(np.diag(hessian.cov)), rtol=1e-4)
