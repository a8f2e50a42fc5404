"""The Student-t family (:class:`emkit.families.StudentT`): the same iterates as the t mixture
model, the maximum of a direct maximisation of the observed-data likelihood (mixture and HMM,
missing cells included), marginal densities of incomplete rows as scipy's, additive statistics
and the ascent of EM with heavy outliers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
from direct_mle import maximize
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import loggamma

import emkit
from emkit.engine.stats import add_stats
from emkit.exceptions import AscentWarning
from emkit.families import StudentT
from emkit.latent import MixtureModel
from emkit.latent.hmm import HiddenMarkovModel
from emkit.models.student_mixture import StudentMixtureModel

TIGHT = {"tol": 1e-14, "param_tol": 1e-12, "max_iter": 20_000}


def t_sample(n: int, seed: int, missing_rate: float = 0.0) -> np.ndarray:
    """Two t clusters in two dimensions, cells missing at random."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.standard_t(4.0, (n // 2, 2)) * [1.0, 0.5] + [4.0, 1.0],
                   rng.standard_t(3.0, (n - n // 2, 2)) * [0.7, 1.2]])
    X[rng.random(X.shape) < missing_rate] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    return X


def as_mixture_params(params: dict) -> dict:
    """The t mixture model's parameters under the family's names."""
    out = {"weights": params["weights"], "means": params["locations"], "covars": params["scatters"]}
    return {**out, "dofs": params["dofs"]} if "dofs" in params else out


# ------------------------------------------------------------------ the t mixture model's iterates
@pytest.mark.parametrize("covariance_type,dof", [("full", None), ("tied", None), ("diag", None),
                                                 ("spherical", None), ("full", 4.0)])
def test_mixture_iterates_equal_the_student_mixture_models(covariance_type, dof):
    """Exact EM (the t mixture's ECM cycle) from the same start: the same parameters and
    log-likelihoods, iterate by iterate."""
    X = t_sample(240, seed=1)
    family = StudentT(2, covariance_type, dof=dof)
    ours, theirs = MixtureModel(family, 2), StudentMixtureModel(2, covariance_type, dof=dof)
    our_data, their_data = ours.prepare(X), theirs.prepare(X)
    their_params = theirs.initial_params(their_data)
    our_params = {name: value for name, value in as_mixture_params(their_params).items()
                  if name in ours.param_names}
    assert set(our_params) == set(ours.param_names)
    for _ in range(25):
        our_stats, our_loglik = ours.e_step(our_data, our_params)
        their_stats, their_loglik = theirs.e_step(their_data, their_params)
        assert our_loglik == pytest.approx(their_loglik, abs=1e-10 * abs(their_loglik))
        our_params, their_params = ours.m_step(our_stats, our_params), theirs.m_step(their_stats, their_params)
        for name, value in as_mixture_params(their_params).items():
            if name in our_params:
                np.testing.assert_allclose(our_params[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    if dof is not None:
        assert "dofs" not in our_params and family.n_free_parameters(2, ours.learn) == 2 * 2 + 2 * 3


# ------------------------------------------------------------------ direct maximisation (scipy)
def diag_t_rows(X: np.ndarray, means, log_vars, log_dofs) -> np.ndarray:
    """``log t_ν(x_o | μ_o, diag(σ²)_o)`` per row and component, complex-step friendly."""
    observed = ~np.isnan(X)
    filled = np.where(observed, X, 0.0)
    dims = observed.sum(axis=1)[:, None]
    columns = []
    for k in range(means.shape[0]):
        dof = np.exp(log_dofs[k])
        delta = (((filled - means[k]) ** 2 / np.exp(log_vars[k])) * observed).sum(axis=1)[:, None]
        half_log_det = 0.5 * (observed * log_vars[k]).sum(axis=1)[:, None]
        columns.append(loggamma(0.5 * (dof + dims)) - loggamma(0.5 * dof) - 0.5 * dims * np.log(np.pi * dof)
                       - half_log_det - 0.5 * (dof + dims) * np.log(1.0 + delta / dof))
    return np.hstack(columns)


def complex_logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.real.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(z - top).sum(axis=1))


def test_mixture_with_missing_cells_reaches_the_direct_maximum():
    X = t_sample(160, seed=2, missing_rate=0.1)
    d = X.shape[1]

    def loglik(u):
        log_weights = np.array([u[0], 0.0]) - complex_logsumexp(np.array([[u[0], 0.0]]))[0]
        rows = diag_t_rows(X, u[1:1 + 2 * d].reshape(2, d), u[1 + 2 * d:1 + 4 * d].reshape(2, d), u[1 + 4 * d:])
        return complex_logsumexp(log_weights + rows).sum()

    result = emkit.fit(MixtureModel(StudentT(d, "diag", reg_covar=0.0), 2), X, random_state=3, n_init=2, **TIGHT)
    assert result.converged
    p = result.params
    start = np.concatenate([[np.log(p["weights"][0] / p["weights"][1])], p["means"].ravel(),
                            np.log(p["covars"]).ravel(), np.log(p["dofs"])])
    rng = np.random.default_rng(4)
    direct = maximize(loglik, start + rng.normal(0.0, 0.05, start.size))
    assert result.loglik == pytest.approx(float(np.real(loglik(direct.astype(complex)))), abs=1e-6)
    np.testing.assert_allclose(start, direct, rtol=1e-4, atol=1e-5)


def complex_forward_loglik(log_frame: np.ndarray, startprob: np.ndarray, transmat: np.ndarray) -> complex:
    """``log p(x)`` of one sequence by the scaled forward recursion, complex-step friendly."""
    frame = np.exp(log_frame)
    alpha, total = startprob * frame[0], 0.0
    for t in range(frame.shape[0]):
        if t:
            alpha = (alpha @ transmat) * frame[t]
        scale = alpha.sum()
        total, alpha = total + np.log(scale), alpha / scale
    return total


def test_hmm_with_t_emissions_reaches_the_direct_maximum():
    rng = np.random.default_rng(5)
    lengths = [100, 100, 100]
    states = []
    for first, length in zip([0, 1, 0], lengths):  # sequences starting in either state: π inside (0, 1)
        states.append(first)
        for _ in range(length - 1):
            states.append(states[-1] if rng.random() < 0.85 else 1 - states[-1])
    states = np.array(states)
    X = (np.array([-3.0, 3.0])[states] + rng.standard_t(np.array([2.0, 4.0])[states]))[:, None]
    starts = np.cumsum([0] + lengths)

    def loglik(u):
        startprob = np.exp(np.array([u[0], 0.0]) - complex_logsumexp(np.array([[u[0], 0.0]]))[0])
        rows = np.array([[u[1], 0.0], [0.0, u[2]]])
        transmat = np.exp(rows - complex_logsumexp(rows)[:, None])
        frame = diag_t_rows(X, u[3:5].reshape(2, 1), u[5:7].reshape(2, 1), u[7:9])
        return sum(complex_forward_loglik(frame[a:b], startprob, transmat) for a, b in zip(starts[:-1], starts[1:]))

    model = HiddenMarkovModel(StudentT(1, "diag", reg_covar=0.0), 2)
    result = emkit.fit(model, (X, lengths), random_state=6, n_init=2, **TIGHT)
    assert result.converged
    p = result.params
    start = np.concatenate([[np.log(p["startprob"][0] / p["startprob"][1]),
                             np.log(p["transmat"][0, 0] / p["transmat"][0, 1]),
                             np.log(p["transmat"][1, 1] / p["transmat"][1, 0])],
                            p["means"].ravel(), np.log(p["covars"]).ravel(), np.log(p["dofs"])])
    direct = maximize(loglik, start + rng.normal(0.0, 0.05, start.size))
    assert result.loglik == pytest.approx(float(np.real(loglik(direct.astype(complex)))), abs=1e-6)
    np.testing.assert_allclose(start, direct, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ missing cells, statistics, ascent
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_incomplete_rows_have_scipys_marginal_t_density(covariance_type):
    X = np.random.default_rng(7).standard_t(5.0, (40, 3))
    X[np.random.default_rng(8).random(X.shape) < 0.35] = np.nan
    X[0] = np.nan  # nothing observed: density 1
    family = StudentT(3, covariance_type)
    prepared = family.prepare(X)
    params = family.initial_params(prepared, 2, np.random.default_rng(9))
    params["dofs"] = np.array([2.5, 15.0])
    ours = family.log_likelihood(family.block_data(prepared), family.precompute(params))
    scatters = family._gaussian.full_covariances(params["covars"], 2)
    for i, x in enumerate(prepared):
        o = ~np.isnan(x)
        for k in range(2):
            expected = 0.0 if not o.any() else scipy.stats.multivariate_t(
                params["means"][k][o], scatters[k][np.ix_(o, o)], df=params["dofs"][k]).logpdf(x[o])
            assert ours[i, k] == pytest.approx(expected, abs=1e-12), (i, k)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_statistics_of_two_halves_add_to_those_of_the_whole(covariance_type):
    X = t_sample(90, seed=10, missing_rate=0.15)
    X[5] = [1e9, -1e9]  # an outlier far beyond the components
    family = StudentT(2, covariance_type)
    params = family.initial_params(family.prepare(X), 2, np.random.default_rng(11))
    posteriors = np.random.default_rng(12).dirichlet(np.ones(2), size=len(X))
    cache = family.precompute(params)
    centre = family.data_context(family.prepare(X))   # the whole data's, for the halves too
    whole = family.stats(family.block_data(X, centre), posteriors, cache)
    halves = [family.stats(family.block_data(X[s], centre), posteriors[s], cache)
              for s in (slice(None, 37), slice(37, None))]
    summed = add_stats(*halves)
    assert set(summed) == set(whole)
    for key in whole:
        np.testing.assert_allclose(summed[key], whole[key], rtol=1e-12, atol=1e-12, err_msg=key)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), covariance_type=st.sampled_from(["full", "tied", "diag", "spherical"]),
       k=st.integers(1, 3), outliers=st.booleans())
@example(seed=1, covariance_type="full", k=2, outliers=True)
@example(seed=2, covariance_type="spherical", k=3, outliers=True)
@example(seed=154093, covariance_type="full", k=3, outliers=True)   # two components collapse onto single points
def test_em_ascends_with_missing_cells_and_heavy_outliers(seed, covariance_type, k, outliers):
    """The engine's ascent check: the objective never falls, except by what ``reg_covar`` gave up
    when a component collapses onto a point (a ``RegularizationWarning`` naming it, which the
    engine checks against the floor's bound); never an ``AscentWarning``."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 50))
    X = rng.standard_t(rng.uniform(1.0, 10.0), (n, 2)) * rng.uniform(0.1, 10.0, 2)
    if outliers:
        X[rng.integers(0, n, 3)] *= 1e4
    X[rng.random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 1] = 0.5
    family = StudentT(2, covariance_type)
    model = MixtureModel(family, k)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixture = emkit.fit(model, X, init=model.initial_params(model.prepare(X), rng), max_iter=15, tol=0.0,
                            param_tol=None)
        hmm = emkit.fit(HiddenMarkovModel(family, k), (X, [n // 2, n - n // 2]), random_state=rng, max_iter=10)
    assert not [w for w in caught if issubclass(w.category, AscentWarning)]
    for values in (np.array(mixture.trace.loglik), np.array(hmm.trace.loglik)):
        assert np.all(np.isfinite(values))
    assert model.is_feasible(mixture.params) and family.is_feasible(hmm.params)


# ------------------------------------------------------------------ fixed ν, parameters, sampling
def test_fixed_dof_stays_and_the_estimator_fits():
    X = t_sample(200, seed=13)
    family = StudentT(2, "full", dof=3.0)
    fitted = emkit.Mixture(2, family=family, random_state=0).fit(X)
    assert not hasattr(fitted, "dofs_") and family.param_names == ("means", "covars")
    assert fitted.model_.n_free_parameters() == 1 + 2 * 2 + 2 * 3
    assert repr(family) == "StudentT(n_features=2, covariance_type='full', dof=3.0)"   # defaults left out
    draws = family.sample(np.zeros(20_000, dtype=int), {"means": np.zeros((1, 2)), "covars": np.eye(2)[None]},
                          np.random.default_rng(14))
    assert scipy.stats.kstest(draws[:, 0], scipy.stats.t(3.0).cdf).pvalue > 1e-3


def test_free_parameters_round_trip_and_bad_parameters_are_refused():
    family = StudentT(2, "tied")
    family.prepare(t_sample(50, seed=15))
    params = {"means": np.array([[0.0, 1.0], [2.0, 3.0]]), "covars": np.array([[2.0, 0.3], [0.3, 1.0]]),
              "dofs": np.array([3.0, 7.0])}
    learn = frozenset(family.param_names)
    free = family.to_free(params, learn)
    assert free.size == family.n_free_parameters(2, learn) == len(family.free_labels(params, learn)) == 4 + 3 + 2
    back = family.from_free(free, params, learn)
    for name in params:
        np.testing.assert_array_equal(back[name], params[name])
    assert family.free_labels(params, learn)[-1] == "dofs[1]"
    with pytest.raises(ValueError, match="dofs"):
        family.check_params({**params, "dofs": np.array([3.0, 0.0])}, 2)
    with pytest.raises(ValueError, match="dof"):
        StudentT(2, dof=-1.0)
    assert not family.is_feasible({**params, "dofs": np.array([3.0, np.nan])})


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_complete_information_is_the_negative_hessian_of_q(covariance_type):
    """``−∂²Q/∂θ²`` by central differences of Q written from the rows (γ and the u-moments at
    the E-step's parameters held fixed) in the free parameters."""
    rng = np.random.default_rng(16)
    X = t_sample(40, seed=17)
    family = StudentT(2, covariance_type)
    family.prepare(X)
    params = family.initial_params(X, 2, rng)
    params["means"] = params["means"] + rng.normal(0.0, 0.3, params["means"].shape)
    posteriors = rng.dirichlet(np.ones(2), size=len(X))
    stats = family.stats(family.block_data(X), posteriors, family.precompute(params))
    scatters = family._gaussian.full_covariances(params["covars"], 2)
    d0 = np.stack([np.einsum("ni,ni->n", X - params["means"][k], np.linalg.solve(scatters[k], (X - params["means"][k]).T).T)
                   for k in range(2)], axis=1)
    u = (params["dofs"] + 2) / (params["dofs"] + d0)
    log_u = scipy.special.digamma(0.5 * (params["dofs"] + 2)) - np.log(0.5 * (params["dofs"] + d0))
    learn = frozenset(family.param_names)

    def q(free):
        p = family.from_free(free, params, learn)
        full = family._gaussian.full_covariances(p["covars"], 2)
        total = 0.0
        for k in range(2):
            diff = X - p["means"][k]
            delta = np.einsum("ni,ni->n", diff, np.linalg.solve(full[k], diff.T).T)
            nu = p["dofs"][k]
            total += posteriors[:, k] @ (-0.5 * np.linalg.slogdet(full[k])[1] - 0.5 * u[:, k] * delta
                                         + 0.5 * nu * np.log(0.5 * nu) - scipy.special.gammaln(0.5 * nu)
                                         + 0.5 * nu * (log_u[:, k] - u[:, k]))
        return total

    free = family.to_free(params, learn)
    h = 1e-4
    hessian = np.empty((free.size, free.size))
    for a in range(free.size):
        for b in range(free.size):
            ea, eb = np.eye(free.size)[a] * h, np.eye(free.size)[b] * h
            hessian[a, b] = (q(free + ea + eb) - q(free + ea - eb) - q(free - ea + eb) + q(free - ea - eb)) / (4 * h * h)
    np.testing.assert_allclose(family.complete_information(stats, params, learn), -hessian, rtol=1e-5, atol=1e-5)
