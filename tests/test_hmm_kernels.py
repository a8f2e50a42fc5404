"""Forward–backward and Viterbi kernels against brute force over all state paths."""

import math

import numpy as np
import pytest
from hmm_brute import brute_force
from scipy.special import logsumexp

from emkit.kernels.gaussian import (
    gaussian_stats,
    gaussian_stats_missing,
    log_gaussian_density,
    log_gaussian_density_missing,
    precisions_cholesky,
)
from emkit.kernels.gaussian_mixture_estep import (
    component_log_densities,
    component_statistics,
    mixture_terms,
    row_features,
)
from emkit.kernels import hmm as kernels
from emkit.latent import hmm_inference as inference


def random_problem(rng, n_states, lengths, spread=3.0, zeros=False):
    startprob = rng.dirichlet(np.ones(n_states))
    transmat = rng.dirichlet(np.ones(n_states), size=n_states)
    if zeros:  # a left-right chain: forbidden transitions are structural zeros
        transmat = np.triu(transmat)
        transmat /= transmat.sum(axis=1, keepdims=True)
    log_frame = rng.normal(scale=spread, size=(sum(lengths), n_states))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return log_frame, offsets, startprob, transmat


def run(log_frame, offsets, startprob, transmat, n_threads=1):
    original = log_frame.copy()
    return inference.forward_backward(log_frame.copy(), offsets, startprob, transmat,
                                      lambda a, b: original[a:b], np.empty(log_frame.shape), n_threads=n_threads)


@pytest.mark.parametrize("n_states, lengths, zeros", [(2, [5], False), (3, [4, 1, 3], False), (3, [5, 2], True),
                                                      (4, [3, 4], False)])
def test_forward_backward_equals_brute_force(n_states, lengths, zeros):
    rng = np.random.default_rng(n_states * 10 + len(lengths))
    log_frame, offsets, startprob, transmat = random_problem(rng, n_states, lengths, zeros=zeros)
    result = run(log_frame, offsets, startprob, transmat)
    start, trans, posteriors = np.zeros(n_states), np.zeros((n_states, n_states)), []
    for s in range(len(lengths)):
        rows = slice(offsets[s], offsets[s + 1])
        brute = brute_force(log_frame[rows], startprob, transmat)
        assert result.seq_loglik[s] == pytest.approx(brute["loglik"], rel=1e-13)
        posteriors.append(brute["posteriors"])
        start += brute["posteriors"][0]
        trans += brute["trans"]
    posteriors = np.vstack(posteriors)
    np.testing.assert_allclose(result.posteriors, posteriors, atol=1e-13)
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(result.start_counts, start, atol=1e-13)
    np.testing.assert_allclose(result.trans_counts, trans, atol=1e-12)
    np.testing.assert_allclose(result.occupancy, posteriors.sum(axis=0), atol=1e-12)


@pytest.mark.parametrize("n_states, lengths, zeros", [(2, [6], False), (3, [4, 1, 3], False), (3, [5], True)])
def test_viterbi_equals_brute_force(n_states, lengths, zeros):
    rng = np.random.default_rng(7 + n_states)
    log_frame, offsets, startprob, transmat = random_problem(rng, n_states, lengths, zeros=zeros)
    path, logprob = inference.viterbi(log_frame, offsets, startprob, transmat)
    for s in range(len(lengths)):
        rows = slice(offsets[s], offsets[s + 1])
        brute = brute_force(log_frame[rows], startprob, transmat)
        assert logprob[s] == pytest.approx(brute["viterbi_logprob"], rel=1e-13)
        np.testing.assert_array_equal(path[rows], brute["viterbi"])


def log_space(log_frame, offsets, startprob, transmat):
    """``(posteriors, transition counts, log-likelihood per sequence)`` by the log-space kernel."""
    n, k = log_frame.shape
    posteriors, start, trans, occupancy = np.empty((n, k)), np.zeros(k), np.zeros((k, k)), np.zeros(k)
    loglik = np.empty(offsets.size - 1)
    with np.errstate(divide="ignore"):
        kernels.forward_backward_log(log_frame, offsets, np.log(startprob), np.log(transmat), posteriors, start, trans,
                                     occupancy, loglik)
    return posteriors, trans, loglik


def test_log_space_kernel_equals_brute_force():
    rng = np.random.default_rng(3)
    log_frame, offsets, startprob, transmat = random_problem(rng, 3, [4, 3], zeros=True)
    posteriors, trans, loglik = log_space(log_frame, offsets, startprob, transmat)
    for s in range(2):
        rows = slice(offsets[s], offsets[s + 1])
        brute = brute_force(log_frame[rows], startprob, transmat)
        assert loglik[s] == pytest.approx(brute["loglik"], rel=1e-13)
        np.testing.assert_allclose(posteriors[rows], brute["posteriors"], atol=1e-13)


def test_underflowing_scale_falls_back_to_log_space():
    """A state the chain is forced into has a density e^-900 below the others: the scaled
    recursion would underflow, so the sequence is redone in log space (still exact)."""
    startprob = np.array([1.0, 0.0])
    transmat = np.array([[0.0, 1.0], [0.0, 1.0]])
    log_frame = np.array([[0.0, 0.0], [0.0, -900.0], [-1.0, -2.0]])
    offsets = np.array([0, 3], dtype=np.int64)
    result = run(log_frame, offsets, startprob, transmat)
    brute = brute_force(log_frame, startprob, transmat)
    assert result.seq_loglik[0] == pytest.approx(brute["loglik"], rel=1e-14)
    np.testing.assert_allclose(result.posteriors, brute["posteriors"], atol=1e-14)
    np.testing.assert_allclose(result.trans_counts, brute["trans"], atol=1e-14)


@pytest.mark.parametrize("spread", [30.0, 300.0])
def test_far_apart_states_match_the_log_space_kernel(spread):
    """Frame log-likelihoods hundreds of nats apart (clamped at e^-600 in the scaled kernel, and
    steps that lose e^-460 of the mass redone in log space) give the exact answer."""
    rng = np.random.default_rng(int(spread))
    log_frame, offsets, startprob, transmat = random_problem(rng, 4, [60, 1, 90, 50], spread=spread)
    transmat[0, 1] = 0.0
    transmat[0] /= transmat[0].sum()
    log_frame[5, 2] = -np.inf  # an impossible emission stays impossible
    result = run(log_frame, offsets, startprob, transmat)
    posteriors, trans, loglik = log_space(log_frame, offsets, startprob, transmat)
    np.testing.assert_allclose(result.seq_loglik, loglik, rtol=1e-13)
    np.testing.assert_allclose(result.posteriors, posteriors, atol=1e-13)
    np.testing.assert_allclose(result.trans_counts, trans, rtol=1e-11, atol=1e-13)
    assert result.posteriors[5, 2] == 0.0 and result.trans_counts[0, 1] == 0.0


def test_impossible_observation_gives_minus_infinity():
    log_frame = np.array([[0.0, 0.0], [-np.inf, -np.inf]])
    result = run(log_frame, np.array([0, 2], dtype=np.int64), np.array([0.5, 0.5]), np.full((2, 2), 0.5))
    assert result.seq_loglik[0] == -np.inf
    assert np.all(np.isnan(result.posteriors))
    assert np.all(result.trans_counts == 0)


def test_million_steps_do_not_underflow():
    """10^6 steps of a chain whose rows are all ``p`` (an i.i.d. mixture, so the exact
    log-likelihood is ``Σ_t log Σ_k p_k b_t(k)``, summed exactly by ``math.fsum``)."""
    rng = np.random.default_rng(0)
    n, k = 1_000_000, 3
    p = np.array([0.2, 0.5, 0.3])
    log_frame = rng.normal(-20.0, 5.0, size=(n, k))
    result = run(log_frame, np.array([0, n], dtype=np.int64), p, np.tile(p, (k, 1)))
    joint = np.log(p) + log_frame
    exact = math.fsum(logsumexp(joint, axis=1))
    assert exact < -1e7
    assert result.seq_loglik[0] == pytest.approx(exact, rel=1e-14)
    np.testing.assert_allclose(result.posteriors, np.exp(joint - logsumexp(joint, axis=1, keepdims=True)),
                               atol=1e-13)
    np.testing.assert_allclose(result.trans_counts.sum(), n - 1, rtol=1e-12)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_million_steps_agree_with_the_log_space_kernel(n_threads):
    """With two threads the forward and backward passes run at once and the combination is
    split in row ranges."""
    rng = np.random.default_rng(1)
    n, k = 1_000_000, 2
    startprob, transmat = np.array([0.5, 0.5]), np.array([[0.99, 0.01], [0.02, 0.98]])
    log_frame = rng.normal(-20.0, 5.0, size=(n, k))
    offsets = np.array([0, n], dtype=np.int64)
    result = run(log_frame, offsets, startprob, transmat, n_threads)
    posteriors, start, trans, occupancy, loglik = np.empty((n, k)), np.zeros(k), np.zeros((k, k)), np.zeros(k), \
        np.empty(1)
    kernels.forward_backward_log(log_frame, offsets, np.log(startprob), np.log(transmat), posteriors, start, trans,
                                 occupancy, loglik)
    # the log-space recursion carries a running sum of size 1e7 and so loses ~1e-12 relative
    assert result.seq_loglik[0] == pytest.approx(loglik[0], rel=1e-10)
    np.testing.assert_allclose(result.posteriors, posteriors, atol=1e-8)
    np.testing.assert_allclose(result.trans_counts, trans, rtol=1e-8)


def test_sample_states_follow_the_chain():
    rng = np.random.default_rng(1)
    startprob, transmat = np.array([0.2, 0.8]), np.array([[0.9, 0.1], [0.3, 0.7]])
    n = 200_000
    path = np.empty(n, dtype=np.int64)
    kernels.sample_states(startprob, transmat, rng.random(n), np.array([0, n], dtype=np.int64), path)
    counts = np.zeros((2, 2))
    np.add.at(counts, (path[:-1], path[1:]), 1)
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), transmat, atol=0.01)


@pytest.mark.parametrize("n_threads", [2, 3])
def test_split_single_sequence_equals_one_thread_and_the_log_kernel(n_threads, monkeypatch):
    """One sequence long enough to be split over threads, with an underflowing stretch that the
    scaled passes must hand to the log-space kernel: same answer as one thread."""
    rng = np.random.default_rng(5)
    n, k = 3 * inference.MIN_CHUNK_ROWS, 4
    log_frame, offsets, startprob, transmat = random_problem(rng, k, [n])
    one = run(log_frame, offsets, startprob, transmat, 1)
    split = run(log_frame, offsets, startprob, transmat, n_threads)
    posteriors, start, trans, occupancy, loglik = np.empty((n, k)), np.zeros(k), np.zeros((k, k)), np.zeros(k), \
        np.empty(1)
    kernels.forward_backward_log(log_frame, offsets, np.log(startprob), np.log(transmat), posteriors, start, trans,
                                 occupancy, loglik)
    for result in (one, split):
        assert result.seq_loglik[0] == pytest.approx(loglik[0], rel=1e-12)
        np.testing.assert_allclose(result.posteriors, posteriors, atol=1e-10)
        np.testing.assert_allclose(result.trans_counts, trans, rtol=1e-9)
        np.testing.assert_allclose(result.occupancy, occupancy, rtol=1e-10)
        np.testing.assert_allclose(result.start_counts, start, atol=1e-12)
    far = log_frame.copy()
    far[n // 2:n // 2 + 4] = [[0.0, -900.0, -900.0, -900.0], [-900.0, 0.0, -900.0, -900.0]] * 2
    transmat_sparse = np.full((k, k), 1e-300) + np.eye(k)
    transmat_sparse /= transmat_sparse.sum(axis=1, keepdims=True)
    calls = []
    log_kernel = kernels.forward_backward_log
    monkeypatch.setattr(kernels, "forward_backward_log", lambda *args: calls.append(1) or log_kernel(*args))
    one = run(far, offsets, startprob, transmat_sparse, 1)
    split = run(far, offsets, startprob, transmat_sparse, n_threads)
    assert len(calls) == 2  # both went to the log-space kernel
    assert np.isfinite(split.seq_loglik[0]) and split.seq_loglik[0] == pytest.approx(one.seq_loglik[0], rel=1e-12)
    np.testing.assert_allclose(split.trans_counts, one.trans_counts, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(split.posteriors, one.posteriors, atol=1e-10)


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_feature_products_equal_the_direct_gaussian_formulas(covariance_type, missing):
    """``Φ θ`` and ``Φᵀ R`` about a far centre (the Gaussian family's kernel, with its corrections
    for missing coordinates) against the direct densities and statistics of
    :mod:`emkit.kernels.gaussian`, the rows in their own order."""
    rng = np.random.default_rng(3)
    k, d, n = 3, 3, 200
    a = rng.normal(size=(k, d, d))
    full = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    covars = {"full": full, "tied": full[0], "diag": rng.uniform(0.5, 2.0, (k, d)),
              "spherical": rng.uniform(0.5, 2.0, k)}[covariance_type]
    means = rng.normal(size=(k, d)) + 50.0
    X = rng.normal(size=(n, d)) * 2.0 + 50.0
    if missing:
        X[rng.uniform(size=(n, d)) < 0.25] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 50.0
    centre = np.nanmean(X, axis=0)
    features = row_features(X, covariance_type, centre)
    terms = mixture_terms(np.ones(k), means, covars, covariance_type, centre)
    if missing:
        expected = log_gaussian_density_missing(X, means, covars, covariance_type)
    else:
        expected = log_gaussian_density(X, means, precisions_cholesky(covars, covariance_type), covariance_type)
    got = component_log_densities(X, features, terms)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-10)
    resp = rng.dirichlet(np.ones(k), size=n)
    stats = component_statistics(X, features, terms, resp)
    direct = (gaussian_stats_missing(X, resp, means, covars, covariance_type, shift=centre) if missing
              else gaussian_stats(X, resp, covariance_type, shift=centre))
    for key in direct:
        assert stats[key].shape == direct[key].shape
        np.testing.assert_allclose(stats[key], direct[key], rtol=1e-11, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("n_states", [1, 2, 8, kernels.VECTOR_STATES, kernels.VECTOR_STATES + 1])
@pytest.mark.parametrize("zeros", [False, True])
def test_transition_counts_in_blocks_of_steps_equal_the_log_space_kernel(n_states, zeros):
    """The single sweep's ``ξ`` sums (vector steps up to ``VECTOR_STATES`` states, scalar beyond),
    over sequences of 1 to 199 steps, against the log-space kernel's step-by-step sums (and the
    per-step formula written out)."""
    block = 64
    lengths = [1, block - 1, block, block + 1, 3 * block + 7]
    rng = np.random.default_rng(n_states)
    log_frame, offsets, startprob, transmat = random_problem(rng, n_states, lengths, zeros=zeros)
    result = run(log_frame, offsets, startprob, transmat)
    posteriors, start, trans, occupancy = np.empty(log_frame.shape), np.zeros(n_states), \
        np.zeros((n_states, n_states)), np.zeros(n_states)
    loglik = np.empty(len(lengths))
    with np.errstate(divide="ignore"):
        log_a = np.log(transmat)
    kernels.forward_backward_log(log_frame, offsets, np.log(startprob), log_a, posteriors, start, trans,
                                 occupancy, loglik)
    np.testing.assert_allclose(result.seq_loglik, loglik, rtol=1e-13)
    np.testing.assert_allclose(result.posteriors, posteriors, atol=1e-12)
    np.testing.assert_allclose(result.trans_counts, trans, rtol=1e-12, atol=1e-12)
    # ξ written out: Σ_t α_t(i) A_ij b_{t+1}(j) β_{t+1}(j) / p(x), from the log-space posteriors' pieces
    direct = np.zeros((n_states, n_states))
    for s in range(len(lengths)):
        frame = log_frame[offsets[s]:offsets[s + 1]]
        log_alpha = np.empty_like(frame)
        log_alpha[0] = np.log(startprob) + frame[0]
        for t in range(1, len(frame)):
            log_alpha[t] = logsumexp(log_alpha[t - 1][:, None] + log_a, axis=0) + frame[t]
        log_beta = np.zeros_like(frame)
        for t in range(len(frame) - 2, -1, -1):
            log_beta[t] = logsumexp(log_a + frame[t + 1] + log_beta[t + 1], axis=1)
        total = logsumexp(log_alpha[-1])
        for t in range(len(frame) - 1):
            direct += np.exp(log_alpha[t][:, None] + log_a + frame[t + 1] + log_beta[t + 1] - total)
    np.testing.assert_allclose(result.trans_counts, direct, rtol=1e-11, atol=1e-11)
