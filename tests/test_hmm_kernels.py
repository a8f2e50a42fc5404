"""Forward–backward and Viterbi kernels against brute force over all state paths."""

import math

import numpy as np
import pytest
from hmm_brute import brute_force
from scipy.special import logsumexp

from emkit.models.hmm import inference, kernels


def random_problem(rng, n_states, lengths, spread=3.0, zeros=False):
    startprob = rng.dirichlet(np.ones(n_states))
    transmat = rng.dirichlet(np.ones(n_states), size=n_states)
    if zeros:  # a left-right chain: forbidden transitions are structural zeros
        transmat = np.triu(transmat)
        transmat /= transmat.sum(axis=1, keepdims=True)
    log_frame = rng.normal(scale=spread, size=(sum(lengths), n_states))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return log_frame, offsets, startprob, transmat


def run(log_frame, offsets, startprob, transmat):
    original = log_frame.copy()
    return inference.forward_backward(log_frame.copy(), offsets, startprob, transmat,
                                      lambda a, b: original[a:b], np.empty(log_frame.shape))


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


def test_log_space_kernel_equals_brute_force():
    rng = np.random.default_rng(3)
    log_frame, offsets, startprob, transmat = random_problem(rng, 3, [4, 3], zeros=True)
    n, k = log_frame.shape
    posteriors, start, trans, occupancy, loglik = np.empty((n, k)), np.zeros(k), np.zeros((k, k)), np.zeros(k), \
        np.empty(2)
    with np.errstate(divide="ignore"):
        kernels.forward_backward_log(log_frame, offsets, np.log(startprob), np.log(transmat), posteriors, start, trans,
                                     occupancy, loglik)
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
    n, k = log_frame.shape
    posteriors, start, trans, occupancy, loglik = np.empty((n, k)), np.zeros(k), np.zeros((k, k)), np.zeros(k), \
        np.empty(4)
    with np.errstate(divide="ignore"):
        kernels.forward_backward_log(log_frame, offsets, np.log(startprob), np.log(transmat), posteriors, start, trans,
                                     occupancy, loglik)
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


def test_million_steps_agree_with_the_log_space_kernel():
    rng = np.random.default_rng(1)
    n, k = 1_000_000, 2
    startprob, transmat = np.array([0.5, 0.5]), np.array([[0.99, 0.01], [0.02, 0.98]])
    log_frame = rng.normal(-20.0, 5.0, size=(n, k))
    offsets = np.array([0, n], dtype=np.int64)
    result = run(log_frame, offsets, startprob, transmat)
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
