"""FiniteMixture (a mixture of a family as a family) and emkit.GMMHMM: one sub-component is the
inner family, one component is the plain mixture, hmmlearn's GMMHMM (run here) from the same
start (its ECM order; with a means prior its step is no CM step and can descend), halves add to
the whole, ascent, bad settings named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hmmlearn import hmm as hmmlearn

import emkit
import emkit.estimators.hmm as emkit_hmm
from emkit import GMMHMM
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.families import FiniteMixture, Poisson
from emkit.latent import MixtureModel
from emkit.families.gaussian import Gaussian
from emkit.latent.hmm import HiddenMarkovModel

K, M, D = 2, 2, 2
LENGTHS = [160, 140]
TRUTH = {"startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.9, 0.1], [0.2, 0.8]]),
         "weights": np.array([[0.3, 0.7], [0.5, 0.5]]),
         "means": np.array([[[0.0, 0.0], [4.0, 0.0]], [[0.0, 6.0], [5.0, 6.0]]]),
         "covars": np.array([[[1.0, 0.5], [0.6, 1.2]], [[0.8, 1.0], [1.5, 0.7]]])}


def set_params(estimator, params):
    for name, value in params.items():
        setattr(estimator, f"{name}_", np.array(value, dtype=float))
    return estimator


def simulate(lengths=LENGTHS, seed=0):
    """Sequences drawn by hmmlearn's GMMHMM (an independent sampler)."""
    source = set_params(hmmlearn.GMMHMM(K, M, covariance_type="diag"), TRUTH)
    rng = np.random.RandomState(seed)
    return np.concatenate([source.sample(n, random_state=rng)[0] for n in lengths])


def start(covariance_type, seed=1):
    rng = np.random.default_rng(seed)
    params = {"startprob": rng.dirichlet(np.ones(K) * 3), "transmat": rng.dirichlet(np.ones(K) * 3, size=K),
              "weights": rng.dirichlet(np.ones(M) * 3, size=K),
              "means": TRUTH["means"] + rng.normal(scale=0.5, size=(K, M, D))}
    variances = rng.uniform(0.7, 1.5, size=(K, M, D))
    params["covars"] = {"diag": variances, "spherical": variances[..., 0],
                        "full": variances[..., None] * np.eye(D) + 0.1 * (1 - np.eye(D)),
                        "tied": variances[:, 0, :, None] * np.eye(D) + 0.1 * (1 - np.eye(D))}[covariance_type]
    return params


def fit_trace(model, data, init, n_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return emkit.fit(model, data, init=init, tol=0.0, param_tol=None, max_iter=n_iter)


# ------------------------------------------------------------------ the family against its pieces
@pytest.mark.parametrize("latent", ["hmm", "mixture"])
def test_one_sub_component_is_the_inner_family(latent):
    """``FiniteMixture(inner, 1)`` gives the inner family's iterates, as HMM emission and as
    mixture component."""
    X = simulate()
    data = (X, LENGTHS) if latent == "hmm" else X
    build = ((lambda family: HiddenMarkovModel(family, K)) if latent == "hmm"
             else (lambda family: MixtureModel(family, K)))
    plain = build(Gaussian(D, "full", reg_covar=0.0))
    mixed = build(FiniteMixture(Gaussian(D, "full", reg_covar=0.0), 1))
    init = {name: value for name, value in start("full").items() if name != "weights"}
    init["means"], init["covars"] = init["means"][:, 0], init["covars"][:, 0]
    init.update({"weights": np.array([0.4, 0.6])} if latent == "mixture" else {})
    ours, theirs = fit_trace(mixed, data, {**init, "mix_weights": np.ones((K, 1))}, 8), fit_trace(plain, data, init, 8)
    np.testing.assert_allclose(ours.trace.loglik, theirs.trace.loglik, rtol=1e-12)
    for name in theirs.params:
        np.testing.assert_allclose(ours.params[name], theirs.params[name], rtol=1e-12, atol=1e-12)
    assert mixed.n_free_parameters() == plain.n_free_parameters()


def test_one_component_of_two_is_the_plain_two_component_mixture():
    """``MixtureModel(FiniteMixture(Gaussian diag, 2), 1)`` is a two-component Gaussian mixture."""
    X = simulate()
    init = start("diag")
    weights, means, covars = init["weights"][0], init["means"][0], init["covars"][0]
    nested = MixtureModel(FiniteMixture(Gaussian(D, "diag", reg_covar=0.0), 2), 1)
    plain = MixtureModel(Gaussian(D, "diag", reg_covar=0.0), 2)
    ours = fit_trace(nested, X, {"weights": np.ones(1), "mix_weights": weights[None], "means": means,
                                 "covars": covars}, 10)
    theirs = fit_trace(plain, X, {"weights": weights, "means": means, "covars": covars}, 10)
    np.testing.assert_allclose(ours.trace.loglik, theirs.trace.loglik, rtol=1e-12)
    np.testing.assert_allclose(ours.params["mix_weights"][0], theirs.params["weights"], rtol=1e-12)
    for name in ("means", "covars"):
        np.testing.assert_allclose(ours.params[name], theirs.params[name], rtol=1e-12)
    assert nested.n_free_parameters() == plain.n_free_parameters()


# ------------------------------------------------------------------ GMMHMM against hmmlearn
def pair(covariance_type, params, n_iter, tol=0.0):
    """emkit's and hmmlearn's GMMHMM at the same start, both with hmmlearn's default priors
    (weights_prior=1, means_weight=0, covars_prior/covars_weight None: plain MLE for diag and
    full)."""
    ours = GMMHMM(K, M, covariance_type=covariance_type, n_iter=n_iter, tol=tol, init_params="", params=params)
    theirs = hmmlearn.GMMHMM(K, M, covariance_type=covariance_type, n_iter=n_iter, tol=tol if tol else -np.inf,
                             init_params="", params=params, implementation="log")
    init = start(covariance_type)
    return set_params(ours, init), set_params(theirs, init)


@pytest.mark.parametrize("covariance_type", ["diag", "full", "spherical", "tied"])
@pytest.mark.parametrize("params", ["stmcw", "stcw", "stmw"])
def test_matches_hmmlearn_from_the_same_start(covariance_type, params):
    """Every iteration's log-likelihood and the estimates equal hmmlearn's, everything learned or
    means or covariances held: both take hmmlearn's ECM order (the covariances given the previous
    means, then the means)."""
    X = simulate()
    ours, theirs = pair(covariance_type, params, 6)
    assert ours.score(X, LENGTHS) == pytest.approx(theirs.score(X, LENGTHS), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, LENGTHS)
    theirs.fit(X, LENGTHS)
    assert ours.n_iter_ == 6
    np.testing.assert_allclose(ours.lower_bounds_, theirs.monitor_.history, rtol=1e-10)
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        assert getattr(ours, name).shape == getattr(theirs, name).shape
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(X, LENGTHS), theirs.predict_proba(X, LENGTHS), atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X, LENGTHS), theirs.predict(X, LENGTHS))


# One state, one sub-component: the emission is one Gaussian, so the expected complete-data
# log-posterior is the observed one and the ECM step has a closed form. hmmlearn's "full" prior
# with covars_weight ν = 0: log p(μ, σ²) = −½[(1 + ν + d + 1) log σ² + (ψ + κ(μ − m)²)/σ²] + c.
ONE_X = np.array([[-0.15], [-0.15]])
KAPPA, PRIOR_MEAN, PSI = 15.0, 0.4, 0.006
ONE_START = {"startprob": [1.0], "transmat": [[1.0]], "weights": [[1.0]], "means": [[[-0.2]]],
             "covars": [[[[1.55]]]]}


def one_gaussian_log_posterior(mean, variance):
    scatter = PSI + KAPPA * (mean - PRIOR_MEAN) ** 2 + np.sum((ONE_X - mean) ** 2)
    return -0.5 * ((len(ONE_X) + 3) * np.log(variance) + scatter / variance)


def one_gaussian(module):
    model = module.GMMHMM(1, 1, covariance_type="full", means_prior=PRIOR_MEAN, means_weight=KAPPA,
                          covars_prior=PSI, covars_weight=0.0, params="mc", init_params="", n_iter=1)
    return set_params(model, ONE_START)


def test_with_a_means_prior_hmmlearn_is_no_cm_step_and_can_descend_while_ours_ascends():
    """With ``means_weight > 0`` hmmlearn's covariance takes ``κ(μ − m)(μ − m)ᵀ`` at the *new*
    mean but the scatter about the old one: on this one-Gaussian case its step lowers the
    log-posterior by 4.9. Ours is the ECM step (closed form: ``σ² = (ψ + κ(μ₀ − m)² + Σ(x − μ₀)²)
    / (n + 3)`` at the old mean ``μ₀``, then ``μ = (Σx + κm)/(n + κ)``) and raises it."""
    theirs, ours = one_gaussian(hmmlearn), one_gaussian(emkit_hmm)
    theirs.fit(ONE_X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(ONE_X)
    before = one_gaussian_log_posterior(-0.2, 1.55)
    assert one_gaussian_log_posterior(theirs.means_.item(), theirs.covars_.item()) < before - 4.0
    mean = (ONE_X.sum() + KAPPA * PRIOR_MEAN) / (len(ONE_X) + KAPPA)
    variance = (PSI + KAPPA * (-0.2 - PRIOR_MEAN) ** 2 + np.sum((ONE_X + 0.2) ** 2)) / (len(ONE_X) + 3)
    assert theirs.means_.item() == pytest.approx(mean, rel=1e-12)     # the means agree, not the covariances
    np.testing.assert_allclose([ours.means_.item(), ours.covars_.item()], [mean, variance], rtol=1e-12)
    assert one_gaussian_log_posterior(mean, variance) > before


#: Proper priors of each covariance type (hmmlearn's meanings: Ψ and ν for full and tied, the
#: inverse-gamma's α and β for diag and spherical).
PROPER_PRIORS = {"full": {"covars_prior": 0.1 * np.eye(D), "covars_weight": 1.0},
                 "tied": {"covars_prior": 0.1 * np.eye(D), "covars_weight": 1.0},
                 "diag": {"covars_prior": 1.0, "covars_weight": 0.1},
                 "spherical": {"covars_prior": 1.0, "covars_weight": 0.1}}


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), covariance_type=st.sampled_from(["diag", "full", "spherical", "tied"]),
       m=st.integers(1, 3))
def test_ecm_order_ascends_with_hmmlearn_priors_from_random_starts(seed, covariance_type, m):
    """GMMHMM's emission (ECM order, hmmlearn's priors with a means prior) from random starts: the
    log-posterior never decreases. Runs where a sub-component receives no weight are left out:
    such a sub-component keeps its parameters, which is no maximisation (with "tied" its kept
    covariance enters the state's pooled one), with either M-step order."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 50))
    X = rng.normal(size=(n, D)) * rng.uniform(0.3, 2.0, size=D) + rng.choice([0.0, 3.0], size=(n, 1))
    face = GMMHMM(K, m, covariance_type=covariance_type, means_prior=rng.normal(size=D),
                  means_weight=rng.uniform(0.1, 5.0), weights_prior=2.0, **PROPER_PRIORS[covariance_type])
    family = face._emission(D)
    assert family.conditional_steps == (("covars",), ("means",))
    variances = rng.uniform(0.3, 3.0, size=(K * m, D))
    covars = {"diag": variances, "spherical": variances[:, 0], "full": variances[..., None] * np.eye(D),
              "tied": variances[:K, :, None] * np.eye(D)}[covariance_type]
    init = {"startprob": rng.dirichlet(np.ones(K)), "transmat": rng.dirichlet(np.ones(K), size=K),
            "weights": rng.dirichlet(np.ones(m), size=K), "means": X[rng.integers(0, n, K * m)] + rng.normal(size=D),
            "covars": covars}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = emkit.fit(HiddenMarkovModel(family, K), (X, [n // 2, n - n // 2]), init=init, max_iter=20,
                           tol=0.0, param_tol=None)
    assume(not any(issubclass(w.category, DegenerateComponentWarning) for w in caught))
    loglik = np.array(result.trace.loglik)
    assert np.all(np.isfinite(loglik))
    assert np.all(np.diff(loglik) >= -1e-10 * np.maximum(1.0, np.abs(loglik[1:])))


# ------------------------------------------------------------------ the family's contract
def test_statistics_of_two_halves_add_to_those_of_the_whole():
    X = simulate()
    model = HiddenMarkovModel(FiniteMixture(Gaussian(D, "full"), M), K)
    whole = model.prepare((X, LENGTHS))   # its Gaussian centre is the halves' too
    params = model.check_params({**start("full"), "means": start("full")["means"].reshape(K * M, D),
                                 "covars": start("full")["covars"].reshape(K * M, D, D),
                                 "mix_weights": start("full")["weights"]})
    stats, loglik = model.e_step(whole, params)
    first, second = (model.e_step(model.prepare_chunk((X[s], [n]), whole.context), params)
                     for s, n in ((slice(None, 160), 160), (slice(160, None), 140)))
    assert first[1] + second[1] == pytest.approx(loglik, rel=1e-13)
    assert set(stats) >= {"mix_counts", "occupancy"}
    for key in stats:
        np.testing.assert_allclose(first[0][key] + second[0][key], stats[key], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats["mix_counts"].sum(axis=1), stats["occupancy"], rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 2), m=st.integers(1, 3))
def test_em_ascends_from_random_starts(seed, k, m):
    """Mixtures of Poisson sub-components as HMM emissions, random small data and starts."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 40))
    X = rng.poisson(rng.uniform(0.5, 6.0, size=2), size=(n, 2)).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[0] = np.where(np.isnan(X[0]), 1.0, X[0])
    family = FiniteMixture(Poisson(2), m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        result = emkit.fit(HiddenMarkovModel(family, k), (X, [n // 2, n - n // 2]), random_state=rng, max_iter=25)
    loglik = np.array(result.trace.loglik)
    assert np.all(np.isfinite(loglik))
    assert np.all(np.diff(loglik) >= -1e-10 * np.maximum(1.0, np.abs(loglik[1:])))
    assert family.is_feasible(result.params)


def test_free_parameters_round_trip_and_sample_shapes(tmp_path):
    family = FiniteMixture(Gaussian(D, "diag"), M)
    params = {"mix_weights": TRUTH["weights"], "means": TRUTH["means"].reshape(K * M, D),
              "covars": TRUTH["covars"].reshape(K * M, D)}
    learn = frozenset(family.param_names)
    free = family.to_free(params, learn)
    assert free.size == family.n_free_parameters(K, learn) == len(family.free_labels(params, learn)) == K * (M - 1) + 16
    back = family.from_free(free, params, learn)
    for name in params:
        np.testing.assert_allclose(back[name], params[name], rtol=1e-15)
    assert family.describe() == "mixture of 2 Gaussian diag"
    model = set_params(GMMHMM(K, M, random_state=0), TRUTH)
    X, states = model.sample(4000)
    assert X.shape == (4000, D) and states.shape == (4000,)
    np.testing.assert_allclose(X[states == 1].mean(axis=0), TRUTH["weights"][1] @ TRUTH["means"][1], atol=0.15)
    loaded = GMMHMM.load(model.save(tmp_path / "model.npz"))
    for name in ("weights_", "means_", "covars_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))


@pytest.mark.parametrize("arguments, message", [
    ({"n_mix": 0}, "n_mix"), ({"n_mix": 1.5}, "n_mix"), ({"n_mix": True}, "n_mix"),
    ({"covariance_type": "box"}, "covariance_type"),
])
def test_bad_settings_are_named(arguments, message):
    X = simulate()
    estimator = GMMHMM(K, **{"n_mix": M, **arguments})
    with pytest.raises(ValueError, match=message):
        estimator.fit(X, LENGTHS)
    assert not hasattr(estimator, "means_")
    with pytest.raises(ValueError, match="n_mix"):
        FiniteMixture(Poisson(1), 0)
    wrong = set_params(GMMHMM(K, M), {**TRUTH, "means": TRUTH["means"][:, 0]})
    with pytest.raises(ValueError, match="means_"):
        wrong.score(X, LENGTHS)


def test_a_shared_inner_parameter_is_counted_once_per_component_and_checked():
    """``FiniteMixture(shared="covars")`` (GMMHMM's "tied"): one covariance per component in the
    parameters and the count; standard errors are not offered; bad options are named."""
    family = FiniteMixture(Gaussian(D, "full"), M, shared="covars")
    learned = frozenset(family.param_names)
    assert family.n_free_parameters(K, learned) == K * (M - 1) + K * M * D + K * D * (D + 1) // 2
    params = family.check_params({"mix_weights": np.full((K, M), 1.0 / M), "means": np.zeros((K * M, D)),
                                  "covars": np.tile(np.eye(D), (K, 1, 1))}, K)
    assert params["covars"].shape == (K, D, D)
    with pytest.raises(NotImplementedError, match="shared 'covars'"):
        family.to_free(params, learned)
    with pytest.raises(ValueError, match="shared"):
        FiniteMixture(Gaussian(D, "full"), M, shared="precisions")
    with pytest.raises(ValueError, match="shared_offset"):
        FiniteMixture(Gaussian(D, "full"), M, shared="covars", shared_offset=-1.0)


@pytest.mark.parametrize("steps", ["covars", [["means"]], [["means", "covars"], ["means"]], [[], ["means", "covars"]],
                                   [["precisions"], ["means", "covars"]], 3, ["means", "covars"]])
def test_conditional_steps_must_partition_the_inner_parameters(steps):
    with pytest.raises(ValueError, match="conditional_steps"):
        FiniteMixture(Gaussian(D, "full"), M, conditional_steps=steps)
