"""hmmlearn's conjugate priors as family options (estimators/_hmmlearn_priors): from the same
start, HiddenMarkovModel with the Gaussian, Poisson and FiniteMixture families and the mapped
priors gives hmmlearn's GaussianHMM, PoissonHMM and GMMHMM parameters (run here) to 1e-10; each
M-step is the maximiser of the complete-data log-likelihood plus ``log_prior`` (scipy); the
monitored objective never decreases; bad keywords are named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn
from scipy.optimize import minimize

import emkit
from emkit.estimators._hmmlearn_priors import gaussian_hmm_prior, gmm_hmm_priors, poisson_hmm_prior
from emkit.exceptions import ConvergenceWarning
from emkit.families import FiniteMixture, Poisson
from emkit.families.gaussian import Gaussian
from emkit.kernels.covariance_regularization import CovariancePrior
from emkit.latent import HiddenMarkovModel
from hmm_fixtures import COVARIANCE_TYPES, random_gaussian_params

N_ITER = 5
LENGTHS = [70, 50]


def fit_ours(family, n_states, data, start, learn=None):
    model = HiddenMarkovModel(family, n_states, learn=learn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = emkit.fit(model, data, init=start, tol=0.0, param_tol=None, max_iter=N_ITER)
    assert np.all(np.diff(result.trace.loglik) >= -1e-9 * np.abs(result.trace.loglik[1:]))
    return model, result


def set_params(estimator, params):
    for name, value in params.items():
        setattr(estimator, f"{name}_", value)
    return estimator


def fit_theirs(theirs, X, lengths, start):
    return set_params(theirs, start).fit(X, lengths)


def nontrivial_gaussian(rng, covariance_type, k, d):
    """hmmlearn keywords away from their defaults: a prior on the means, per-component scales
    (a shared matrix for tied) and a large ``covars_weight``."""
    if covariance_type == "full":
        a = rng.normal(size=(k, d, d))
        scale = 0.3 * a @ np.swapaxes(a, 1, 2) + 0.05
    elif covariance_type == "tied":
        scale = np.eye(d) * 0.5 + 0.1
    else:
        scale = rng.uniform(0.1, 1.0, (k, d))
    weight = 0.7 if covariance_type in ("full", "tied") else rng.uniform(0.2, 2.0, (k, d))
    return dict(means_prior=rng.normal(size=(k, d)), means_weight=weight, covars_prior=scale, covars_weight=d + 3.5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("priors", ["defaults", "nontrivial"])
def test_gaussian_hmm_matches_hmmlearn_with_its_priors(covariance_type, priors):
    rng = np.random.default_rng(0)
    k, d = 3, 2
    source = set_params(hmmlearn.GaussianHMM(k, covariance_type), random_gaussian_params(rng, k, d, covariance_type))
    X = source.sample(sum(LENGTHS), random_state=1)[0]
    start = random_gaussian_params(rng, k, d, covariance_type)
    keywords = {} if priors == "defaults" else nontrivial_gaussian(rng, covariance_type, k, d)
    theirs = fit_theirs(hmmlearn.GaussianHMM(k, covariance_type, n_iter=N_ITER, tol=-np.inf, init_params="",
                                             implementation="log", **keywords), X, LENGTHS, start)
    family = Gaussian(d, covariance_type, covariance_prior=gaussian_hmm_prior(covariance_type, k, d, **keywords))
    model, ours = fit_ours(family, k, (X, LENGTHS), start)
    assert ours.n_iter == N_ITER
    covars = theirs._covars_[:, 0] if covariance_type == "spherical" else theirs._covars_
    np.testing.assert_allclose(ours.params["covars"], covars, rtol=1e-10, atol=1e-13)
    for name in ("means", "transmat", "startprob"):
        np.testing.assert_allclose(ours.params[name], getattr(theirs, name + "_"), rtol=1e-10, atol=1e-13)
    # hmmlearn's monitor_.history is the log-likelihood without the log prior; emkit's trace adds it.
    plain = [loglik - model.log_prior(params) for loglik, params in zip(ours.trace.loglik, ours.trace.params)]
    np.testing.assert_allclose(plain[:N_ITER], theirs.monitor_.history, rtol=1e-10)
    assert ours.loglik - model.log_prior(ours.params) == pytest.approx(theirs.score(X, LENGTHS), rel=1e-10)


def complete_objective(family, X, weights, params):
    """``Σ_i Σ_k γ_ik log p(x_i | k) + log p(θ)``: what the emission M-step maximises."""
    cache = family.precompute(params)
    block = family.block_data(family.prepare(X))
    return float(np.sum(weights * family.log_likelihood(block, cache))) + family.log_prior(params)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_m_step_maximises_the_complete_data_objective_plus_log_prior(covariance_type):
    """Improper prior of hmmlearn's form with a singular ``Ψ`` (a number added to every entry):
    the M-step beats every nearby point and scipy's optimum of ``Q + log_prior``."""
    rng = np.random.default_rng(3)
    k, d, n = 2, 2, 40
    X = rng.normal(size=(n, d)) * [1.0, 2.0] + rng.normal(size=d)
    weights = rng.dirichlet(np.ones(k), size=n)
    prior = gaussian_hmm_prior(covariance_type, k, d, means_prior=rng.normal(size=(k, d)), means_weight=1.3,
                               covars_prior=0.4, covars_weight=d + 2.5)
    family = Gaussian(d, covariance_type, covariance_prior=prior)
    start = random_gaussian_params(rng, k, d, covariance_type)
    params = {"means": start["means"], "covars": start["covars"]}
    block = family.block_data(family.prepare(X))
    stats = family.stats(block, weights, family.precompute(params))
    mode = family.m_step(stats, params, frozenset({"means", "covars"}), np.zeros(k, bool))
    learn = frozenset({"means", "covars"})
    best = complete_objective(family, X, weights, mode)
    free = family.to_free(mode, learn)

    def negative(theta):
        candidate = family.from_free(theta, mode, learn)
        if not family.is_feasible(candidate):
            return np.inf
        return -complete_objective(family, X, weights, candidate)

    found = minimize(negative, free + 0.05 * rng.normal(size=free.size), method="BFGS", options={"gtol": 1e-9})
    assert -found.fun <= best + 1e-8
    np.testing.assert_allclose(found.x, free, atol=1e-4)
    for _ in range(20):
        assert negative(free + 1e-3 * rng.normal(size=free.size)) > -best


@pytest.mark.parametrize("n_states", [1, 3])
@pytest.mark.parametrize("priors", ["defaults", "nontrivial"])
def test_poisson_hmm_with_its_priors(n_states, priors):
    """hmmlearn's defaults (maximum likelihood) match for any number of states; its Gamma
    prior matches for one state. With several states hmmlearn divides by the occupancy of all
    states (not a fixed objective's maximiser): emkit's step is the exact mode instead."""
    rng = np.random.default_rng(5)
    k, d = n_states, 2
    X = rng.poisson(rng.uniform(1.0, 9.0, size=(sum(LENGTHS), d))).astype(float)
    start = {"startprob": rng.dirichlet(np.ones(k)), "transmat": rng.dirichlet(np.ones(k), size=k),
             "lambdas": rng.uniform(1.0, 8.0, size=(k, d))}
    keywords = {} if priors == "defaults" else {"lambdas_prior": rng.uniform(0.5, 3.0, (k, d)), "lambdas_weight": 1.7}
    family = Poisson(d, **poisson_hmm_prior(k, d, **keywords))
    model, ours = fit_ours(family, k, (X, LENGTHS), start)
    if priors == "defaults" or k == 1:
        theirs = fit_theirs(hmmlearn.PoissonHMM(k, n_iter=N_ITER, tol=-np.inf, init_params="", implementation="log",
                                                **keywords), X.astype(int), LENGTHS, start)
        for name in ("lambdas", "transmat", "startprob"):
            np.testing.assert_allclose(ours.params[name], getattr(theirs, name + "_"), rtol=1e-10, atol=1e-13)
    # The step is the mode of Q + log_prior: λ = (s + α)/(n + β), every cell a maximum.
    cache = family.precompute(start)
    block = family.block_data(family.prepare(X))
    weights = rng.dirichlet(np.ones(k), size=len(X))
    stats = family.stats(block, weights, cache)
    mode = family.m_step(stats, start, frozenset({"lambdas"}), np.zeros(k, bool))
    best = complete_objective(family, X, weights, mode)
    for factor in (0.999, 1.001):
        for cell in np.ndindex(k, d):
            moved = mode["lambdas"].copy()
            moved[cell] *= factor
            assert complete_objective(family, X, weights, {"lambdas": moved}) < best


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("params", ["stcw", "stmw"])
@pytest.mark.parametrize("priors", ["defaults", "nontrivial"])
def test_gmm_hmm_matches_hmmlearn_with_its_priors(covariance_type, params, priors):
    """Means or covariances held: with ``means_weight > 0`` hmmlearn's step with both learned is
    no conditional maximisation (see test_gmmhmm; everything learned is compared there with the
    defaults); the priors' terms are exact."""
    rng = np.random.default_rng(7)
    k, m, d = 2, 2, 2
    X = np.concatenate([rng.normal(size=(60, d)) + [0.0, 0.0], rng.normal(size=(60, d)) * 0.7 + [3.0, 1.0]])
    variances = rng.uniform(0.7, 1.5, size=(k, m, d))
    covars = {"diag": variances, "spherical": variances[..., 0],
              "full": variances[..., None] * np.eye(d) + 0.1 * (1 - np.eye(d))}[covariance_type]
    start = {"startprob": rng.dirichlet(np.ones(k) * 3), "transmat": rng.dirichlet(np.ones(k) * 3, size=k),
             "weights": rng.dirichlet(np.ones(m) * 3, size=k), "means": rng.normal(scale=2.0, size=(k, m, d)),
             "covars": covars}
    if priors == "defaults":
        keywords = {}
    else:
        keywords = {"weights_prior": rng.uniform(1.0, 3.0, (k, m)), "means_prior": rng.normal(size=(k, m, d)),
                    "means_weight": rng.uniform(0.2, 2.0, (k, m))}
        keywords.update({"full": {"covars_prior": np.eye(d) * 0.4 + 0.1, "covars_weight": 1.5},
                         "diag": {"covars_prior": 0.8, "covars_weight": rng.uniform(0.1, 0.5, (k, m, d))},
                         "spherical": {"covars_prior": 0.3, "covars_weight": rng.uniform(0.1, 0.5, (k, m))}
                         }[covariance_type])
    theirs = fit_theirs(hmmlearn.GMMHMM(k, m, covariance_type=covariance_type, n_iter=N_ITER, tol=-np.inf,
                                        init_params="", params=params, implementation="log", **keywords),
                        X, [len(X)], start)
    weights_prior, prior = gmm_hmm_priors(covariance_type, k, m, d, **keywords)
    family = FiniteMixture(Gaussian(d, covariance_type, covariance_prior=prior), m, weights_prior,
                           weights_name="weights")
    ours_start = {**start, "means": start["means"].reshape(k * m, d),
                  "covars": start["covars"].reshape((k * m,) + start["covars"].shape[2:])}
    learn = tuple({"s": "startprob", "t": "transmat", "m": "means", "c": "covars", "w": "weights"}[c] for c in params)
    _, ours = fit_ours(family, k, X, ours_start, learn=learn)
    for name in ("startprob", "transmat", "weights", "means", "covars"):
        theirs_value = getattr(theirs, name + "_")
        np.testing.assert_allclose(ours.params[name], theirs_value.reshape(np.shape(ours.params[name])),
                                   rtol=1e-10, atol=1e-13)


def test_keywords_out_of_range_are_named():
    with pytest.raises(ValueError, match="means_prior"):
        gaussian_hmm_prior("diag", 3, 2, means_prior=np.zeros(4))
    with pytest.raises(ValueError, match="means_weight"):
        gaussian_hmm_prior("full", 3, 2, means_weight=np.ones((3, 1)))
    with pytest.raises(ValueError, match="means_weight"):
        gaussian_hmm_prior("diag", 3, 2, means_weight=-1.0)
    with pytest.raises(ValueError, match="covars_prior"):
        gaussian_hmm_prior("full", 3, 2, covars_prior=np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="covars_prior"):
        gaussian_hmm_prior("tied", 3, 2, covars_prior=np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="covars_prior"):
        gaussian_hmm_prior("diag", 3, 2, covars_prior=-0.1)
    with pytest.raises(ValueError, match="covars_weight"):
        gaussian_hmm_prior("diag", 3, 2, covars_weight=np.ones(3))
    with pytest.raises(ValueError, match="lambdas_prior"):
        poisson_hmm_prior(3, 2, lambdas_prior=-1.0)
    with pytest.raises(ValueError, match="lambdas_weight"):
        poisson_hmm_prior(3, 2, lambdas_weight=np.ones(5))
    with pytest.raises(ValueError, match="weights_prior"):
        gmm_hmm_priors("diag", 2, 2, 2, weights_prior=0.5)
    with pytest.raises(ValueError, match="covars_prior"):
        gmm_hmm_priors("diag", 2, 2, 2, covars_prior=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="covariance_type"):
        gmm_hmm_priors("box", 2, 2, 2)
    with pytest.raises(ValueError, match="covars_weight"):   # n_mix + ν + d + 1 < 0: no mode
        gmm_hmm_priors("tied", 2, 2, 2, covars_weight=-6.0)
    with pytest.raises(ValueError, match="prior_counts"):
        Poisson(2, prior_counts=-1.0)
    with pytest.raises(ValueError, match="covariance_prior.mean_weight"):
        HiddenMarkovModel(Gaussian(2, "diag", covariance_prior=CovariancePrior(1.0, mean_weight=-1.0)), 3)
    with pytest.raises(ValueError, match="covariance_prior.mean_weight"):   # N(m, Σ/κ) needs one κ per component
        HiddenMarkovModel(Gaussian(2, "full", covariance_prior=CovariancePrior(1.0, mean_weight=[1.0, 2.0])), 3)
    with pytest.raises(ValueError, match="covariance_prior"):   # per-component scales for the wrong K
        HiddenMarkovModel(Gaussian(2, "diag", covariance_prior=CovariancePrior(np.ones((4, 2)))), 3)


def test_proper_priors_keep_their_rules():
    """The existing CovariancePrior refuses what only the improper form allows."""
    with pytest.raises(ValueError, match="positive definite"):
        CovariancePrior(np.ones((2, 2))).resolved("full", 2)
    with pytest.raises(ValueError, match="degrees_of_freedom_prior"):
        CovariancePrior(1.0, dof=-3.0).resolved("full", 2)
    CovariancePrior(np.ones((2, 2)), dof=-3.0, proper=False).resolved("full", 2)


def test_poisson_hmm_prior_step_against_hmmlearns_formula():
    """One step from the same start, several states, hmmlearn's Gamma prior: emkit's rates are
    the mode ``(α + s_k)/(β + n_k)``; hmmlearn 0.3.3's are ``(α + N s_k/n_k)/(β + N)`` with ``N``
    the occupancy of all states (stats['post'].sum()), a different number."""
    rng = np.random.default_rng(9)
    k, d = 3, 2
    X = rng.poisson(rng.uniform(1.0, 9.0, size=(sum(LENGTHS), d))).astype(float)
    start = {"startprob": rng.dirichlet(np.ones(k)), "transmat": rng.dirichlet(np.ones(k), size=k),
             "lambdas": rng.uniform(1.0, 8.0, size=(k, d))}
    alpha, beta = rng.uniform(0.5, 3.0, (k, d)), 1.7
    theirs = fit_theirs(hmmlearn.PoissonHMM(k, n_iter=1, tol=-np.inf, init_params="", params="l", implementation="log",
                                            lambdas_prior=alpha, lambdas_weight=beta), X.astype(int), LENGTHS, start)
    posteriors = set_params(hmmlearn.PoissonHMM(k), start).predict_proba(X.astype(int), LENGTHS)
    sums, counts = posteriors.T @ X, posteriors.sum(axis=0)[:, None]
    total = counts.sum()
    np.testing.assert_allclose(theirs.lambdas_, (alpha + total * sums / counts) / (beta + total), rtol=1e-10)
    family = Poisson(d, **poisson_hmm_prior(k, d, lambdas_prior=alpha, lambdas_weight=beta))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = emkit.fit(HiddenMarkovModel(family, k, learn=("lambdas",)), (X, LENGTHS), init=start, tol=0.0,
                         param_tol=None, max_iter=1)
    np.testing.assert_allclose(ours.params["lambdas"], (alpha + sums) / (beta + counts), rtol=1e-10)
    assert np.max(np.abs(ours.params["lambdas"] - theirs.lambdas_)) > 1e-3


def test_families_with_these_priors_survive_their_json_record(tmp_path):
    """family_record/family_from_record (save and load) keep the prior on the means, the
    per-component scales, the improper form and the Poisson Gamma prior."""
    import json

    from emkit.estimators.persistence import family_from_record, family_record

    rng = np.random.default_rng(11)
    families = [Gaussian(2, "diag", covariance_prior=gaussian_hmm_prior("diag", 3, 2, means_prior=1.0,
                                                                        means_weight=rng.uniform(0.1, 1.0, (3, 2)),
                                                                        covars_prior=rng.uniform(0.1, 1.0, (3, 2)))),
                Poisson(2, **poisson_hmm_prior(3, 2, lambdas_prior=rng.uniform(0.5, 2.0, (3, 2)), lambdas_weight=0.5))]
    params = [{"means": rng.normal(size=(3, 2)), "covars": rng.uniform(0.5, 2.0, (3, 2))},
              {"lambdas": rng.uniform(1.0, 3.0, (3, 2))}]
    for family, values in zip(families, params):
        loaded = family_from_record(json.loads(json.dumps(family_record(family))), "family", tmp_path)
        assert loaded.log_prior(values) == pytest.approx(family.log_prior(values), rel=1e-14)
        assert family.log_prior(values) != 0.0
