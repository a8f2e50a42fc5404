"""Input-driven HMMs: transitions (and starts) as multinomial logits of covariates.

Checked against brute-force path enumeration (the E-step), scipy's direct maximisation of the
observed-data log-likelihood (the fit), the ascent property through the inner Newton
maximisation, and the homogeneous HMM (constant covariates).
"""

import itertools

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import logsumexp

import emkit
from emkit.families import Gaussian, Poisson
from emkit.latent import HiddenMarkovModel
from emkit.latent.hmm_covariates import InputDrivenHMM, forward_backward, viterbi_varying


def logit_rows(design, coef):
    """``log softmax(0, design @ coef)`` row by row (independent of the kernels)."""
    eta = np.concatenate([np.zeros((design.shape[0], 1)), design @ coef], axis=1)
    return eta - logsumexp(eta, axis=1, keepdims=True)


def simulate(n=240, seed=0, lengths=None):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 1))
    starts = set(np.cumsum([0] + list(lengths or [n]))[:-1])
    states = []
    for t in range(n):
        if t in starts:
            states.append(int(rng.random() < 0.5))
            continue
        stay = 1.0 / (1.0 + np.exp(-(1.5 + 1.5 * u[t, 0] * (1 if states[-1] == 0 else -1))))
        states.append(states[-1] if rng.random() < stay else 1 - states[-1])
    return rng.poisson(np.array([2.0, 8.0])[states]).astype(float)[:, None], u, np.array(states)


def test_forward_backward_equals_path_enumeration():
    rng = np.random.default_rng(1)
    k, n = 3, 6
    log_frame = rng.normal(size=(n, k))
    log_start = np.log(rng.dirichlet(np.ones(k)))[None, :]
    log_trans = np.log(rng.dirichlet(np.ones(k), size=(n, k)))
    paths = np.array(list(itertools.product(range(k), repeat=n)))
    values = log_start[0, paths[:, 0]] + log_frame[np.arange(n), paths].sum(axis=1)
    values += sum(log_trans[t, paths[:, t - 1], paths[:, t]] for t in range(1, n))
    weights = np.exp(values - logsumexp(values))
    loglik, posteriors, pairs = forward_backward(log_frame, np.array([0, n]), log_start, log_trans)
    assert loglik == pytest.approx(logsumexp(values), abs=1e-12)
    for t in range(n):
        np.testing.assert_allclose(posteriors[t], [weights[paths[:, t] == j].sum() for j in range(k)], atol=1e-12)
    for t in range(1, n):
        expected = [[weights[(paths[:, t - 1] == i) & (paths[:, t] == j)].sum() for j in range(k)] for i in range(k)]
        np.testing.assert_allclose(pairs[t], expected, atol=1e-12)
    best, path = viterbi_varying(log_frame, np.array([0, n]), log_start, log_trans)
    assert best == pytest.approx(values.max()) and np.array_equal(path, paths[values.argmax()])


def negative_loglik(theta, x, design, offsets, initial):
    """``−log L`` of a 2-state Poisson input-driven HMM by the forward recursion."""
    rates, coef = np.exp(theta[:2]), theta[2:2 + 2 * design.shape[1]].reshape(2, design.shape[1], 1)
    log_frame = stats.poisson.logpmf(x[:, :1], rates[None, :])
    log_trans = np.stack([logit_rows(design, coef[i]) for i in range(2)], axis=1)
    rest = theta[2 + 2 * design.shape[1]:]
    frame, transitions = np.exp(log_frame), np.exp(log_trans)
    total = 0.0
    for s in range(len(offsets) - 1):
        first, stop = offsets[s], offsets[s + 1]
        if initial == "covariates":
            log_start = logit_rows(design[first:first + 1], rest.reshape(design.shape[1], 1))[0]
        else:
            log_start = np.log([1.0 - 1.0 / (1.0 + np.exp(-rest[0])), 1.0 / (1.0 + np.exp(-rest[0]))])
        alpha = np.exp(log_start) * frame[first]   # the scaled forward recursion, α_t = (α_{t−1} A_t) ∘ b_t
        for t in range(first + 1, stop):
            total += np.log(alpha.sum())
            alpha = (alpha / alpha.sum()) @ transitions[t] * frame[t]
        total += np.log(alpha.sum())
    return -total


@pytest.mark.parametrize("initial, lengths", [("free", None), ("covariates", [60] * 4)])
def test_fit_equals_direct_maximum(initial, lengths):
    x, u, _ = simulate(240, seed=2, lengths=lengths)
    model = InputDrivenHMM(Poisson(1), 2, 1, initial=initial, n_jobs=1)
    result = emkit.fit(model, (x, lengths, u), max_iter=2000, tol=1e-11, accelerate="squarem")
    design = np.concatenate([np.ones((240, 1)), u], axis=1)
    offsets = np.cumsum([0] + list(lengths or [240]))
    rest = [0.0] if initial == "free" else [0.0, 0.0]
    theta0 = np.concatenate([np.log([1.5, 9.0]), [-1.0, 0.0, 1.0, 0.0], rest])
    direct = optimize.minimize(negative_loglik, theta0, args=(x, design, offsets, initial), method="BFGS",
                               options={"gtol": 1e-8})
    assert -result.loglik <= direct.fun + 1e-9 and -result.loglik == pytest.approx(direct.fun, abs=1e-5)
    np.testing.assert_allclose(result.params["transition_coef"].ravel(), direct.x[2:6], atol=2e-3)
    np.testing.assert_allclose(np.log(result.params["lambdas"].ravel()), direct.x[:2], atol=1e-4)


@pytest.mark.filterwarnings("ignore:EM did not converge")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_iteration_ascends_through_the_inner_newton(seed):
    rng = np.random.default_rng(seed)
    n = 150
    u = rng.normal(size=(n, 2))
    X = rng.normal(size=(n, 1)) + 3.0 * (u[:, :1] > 0)
    model = InputDrivenHMM(Gaussian(1, "diag"), 3, 2, initial="covariates", n_jobs=1)
    assert model.m_step_uses_data
    result = emkit.fit(model, (X, [50, 50, 50], u), random_state=seed, max_iter=40, tol=0.0)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))


@pytest.mark.parametrize("covariates", [np.zeros((240, 0)), np.full((240, 1), 3.0)])
def test_constant_covariates_reproduce_the_homogeneous_hmm(covariates):
    x, _, _ = simulate(240, seed=3)
    homogeneous = emkit.fit(HiddenMarkovModel(Poisson(1), 2, n_jobs=1), x, max_iter=3000, tol=1e-11,
                            accelerate="squarem")
    driven = emkit.fit(InputDrivenHMM(Poisson(1), 2, covariates.shape[1], n_jobs=1), (x, None, covariates),
                       max_iter=3000, tol=1e-11, accelerate="squarem")
    assert driven.loglik == pytest.approx(homogeneous.loglik, abs=1e-7)
    design = np.concatenate([np.ones((1, 1)), covariates[:1]], axis=1)
    transmat = np.exp(np.stack([logit_rows(design, c)[0] for c in driven.params["transition_coef"]]))
    order = np.argsort(driven.params["lambdas"].ravel()), np.argsort(homogeneous.params["lambdas"].ravel())
    np.testing.assert_allclose(transmat[np.ix_(order[0], order[0])],
                               homogeneous.params["transmat"][np.ix_(order[1], order[1])], atol=1e-4)


def test_face_takes_covariates_on_every_call(tmp_path):
    x, u, states = simulate(300, seed=0)
    face = emkit.HMM(2, family=Poisson, transition_covariates=True, n_iter=300, tol=1e-9, n_jobs=1).fit(x, covariates=u)
    model = InputDrivenHMM(Poisson(1), 2, 1, n_jobs=1)
    assert face.score(x, covariates=u) == pytest.approx(model.score_samples((x, None, u), face.result_.params)[0])
    assert face.transition_coef_.shape == (2, 2, 1)  # 7 free parameters: 4 coefficients, π: 1, rates: 2 and not hasattr(face, "transmat_")
    labels = face.predict(x, covariates=u)
    assert max(np.mean(labels == states), np.mean(labels != states)) > 0.9
    assert face.predict_proba(x, covariates=u).shape == (300, 2)
    assert face.bic(x, covariates=u) == pytest.approx(-2 * face.score(x, covariates=u) + 7 * np.log(300))
    loaded = emkit.HMM.load(face.save(tmp_path / "driven.json"))
    assert loaded.score(x, covariates=u) == face.score(x, covariates=u)
    with pytest.raises(ValueError, match="covariates"):
        face.score(x)
    with pytest.raises(ValueError, match="covariates"):
        face.score(x, covariates=u[:-1])
    with pytest.raises(ValueError, match="transition_covariates"):
        face.get_stationary_distribution()
    with pytest.raises(ValueError, match="covariates"):
        emkit.HMM(2, family=Poisson).fit(x, covariates=u)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="initial"):
        InputDrivenHMM(Poisson(1), 2, 1, initial="stationary")
    with pytest.raises(ValueError, match="n_covariates"):
        InputDrivenHMM(Poisson(1), 2, -1)
    x, u, _ = simulate(20)
    with pytest.raises(ValueError, match="covariates"):
        InputDrivenHMM(Poisson(1), 2, 1).prepare((x, None, np.full((20, 1), np.nan)))
    with pytest.raises(ValueError, match="transition_covariates"):
        emkit.HMM(2, family=Poisson, transition_covariates=True, topology="left-right").fit(x, covariates=u)
    with pytest.raises(ValueError, match="online"):
        emkit.fit_online(InputDrivenHMM(Poisson(1), 2, 1), [(x, None, u)])


@pytest.mark.parametrize("initial", ["free", "covariates"])
def test_dask_fit_equals_the_in_memory_fit(initial):
    """On Dask, (X, covariates) as row-aligned arrays, each chunk one sequence: the logit
    coefficients' Newton passes run over the chunks and reach the in-memory fit."""
    import dask
    import dask.array as da

    lengths = [30] * 12
    X, u, _ = simulate(n=360, seed=0, lengths=lengths)
    model = InputDrivenHMM(Poisson(1), 2, 1, initial=initial, n_jobs=1)
    memory = emkit.fit(model, (X, lengths, u), tol=1e-10, max_iter=500)
    with dask.config.set(scheduler="threads"):
        chunked = emkit.fit(model, (da.from_array(X, chunks=(30, 1)), da.from_array(u, chunks=(30, 1))), tol=1e-10,
                            max_iter=500)
    assert chunked.loglik == pytest.approx(memory.loglik, rel=1e-12)
    for name in model.param_names:
        np.testing.assert_allclose(chunked.params[name], memory.params[name], rtol=1e-6, atol=1e-8)


def test_a_chunk_that_is_not_x_and_covariates_is_refused():
    model = InputDrivenHMM(Poisson(1), 2, 1, n_jobs=1)
    with pytest.raises(ValueError, match="covariates: an input-driven HMM takes chunks"):
        model.prepare_chunk(np.ones((5, 1)))


def test_dask_list_of_delayed_chunks_with_no_lengths_and_a_sampled_start():
    """Delayed chunks ``(X, None, covariates)`` reach the in-memory fit; a start drawn from a
    sample of rows of chunks ``(X, lengths, covariates)`` keeps no sequences (the rows drawn are
    no sequence) instead of indexing ``lengths`` by row."""
    import dask
    from emkit.engine.dask import DaskData

    lengths = [30] * 12
    X, u, _ = simulate(n=360, seed=0, lengths=lengths)
    model = InputDrivenHMM(Poisson(1), 2, 1, n_jobs=1)
    memory = emkit.fit(model, (X, lengths, u), tol=1e-10, max_iter=500)
    pack = dask.delayed(lambda *parts: parts)
    unsplit = [pack(X[i:i + 30], None, u[i:i + 30]) for i in range(0, 360, 30)]
    with_lengths = [pack(X[i:i + 30], [30], u[i:i + 30]) for i in range(0, 360, 30)]
    with dask.config.set(scheduler="threads"):
        chunked = emkit.fit(model, unsplit, tol=1e-10, max_iter=500)
        sampled = DaskData(model, with_lengths, sample_rows=100)
        start = sampled.start_data()
        refit = emkit.fit(model, sampled, init=chunked.params, tol=1e-10, max_iter=500)
    assert chunked.loglik == pytest.approx(memory.loglik, rel=1e-12)
    assert refit.loglik == pytest.approx(memory.loglik, rel=1e-12)
    assert start.n_samples == 100 and start.sequences.n_sequences == 1
