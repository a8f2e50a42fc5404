"""The scaled forward–backward raises shifted frame log-likelihoods below ``LOG_CLAMP`` (−600) to
it. A clamped value negligible at its own step can keep alive a path that dominates later
steps, which the per-step ``STEP_FLOOR`` never sees: the result was a silently wrong
log-likelihood (−603.83 for an exact −643.23 below). Such sequences are now certified by a
lower-bound forward pass (the small likelihoods set to zero) and redone in log space when the
bounds differ; these tests compare with the log-space recursion written out with scipy.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

import emkit
from emkit.latent import hmm_inference


def exact_forward_backward(log_frame, startprob, transmat):
    """``log p(x)`` and the posteriors of one sequence by the log-space recursions."""
    with np.errstate(divide="ignore"):
        log_start, log_trans = np.log(startprob), np.log(transmat)
    n = log_frame.shape[0]
    alpha, beta = np.empty_like(log_frame), np.zeros_like(log_frame)
    alpha[0] = log_start + log_frame[0]
    for t in range(1, n):
        alpha[t] = logsumexp(alpha[t - 1][:, None] + log_trans, axis=0) + log_frame[t]
    for t in range(n - 2, -1, -1):
        beta[t] = logsumexp(log_trans + (log_frame[t + 1] + beta[t + 1])[None, :], axis=1)
    loglik = logsumexp(alpha[-1])
    return loglik, np.exp(alpha + beta - loglik)


def test_a_clamped_likelihood_that_dominates_a_later_step_is_not_a_silent_error():
    """Step 2 clamps states 1 and 2 (e^-690 → e^-600) while state 0 holds the mass; at step 3
    only they can reach the best state, so the clamped value decided the answer."""
    emission = np.array([[1e-109, 1.0, 1e-230, 0.0],
                         [0.5, 1e-300, 0.5, 0.0],
                         [1e-165, 1e-300, 1e-167, 1.0]])
    emission /= emission.sum(axis=1, keepdims=True)
    transmat = np.array([[0.9963, 0.0, 0.0037], [0.0, 0.2532, 0.7468], [0.6536, 0.3464, 0.0]])
    startprob = np.array([0.1205, 0.2702, 0.6093])
    X = np.array([[0], [1], [2]])
    model = emkit.CategoricalHMM(3, n_features=4)
    model.startprob_, model.transmat_, model.emissionprob_ = startprob, transmat, emission
    with np.errstate(divide="ignore"):
        log_frame = np.log(emission.T[X[:, 0]])
    loglik, posteriors = exact_forward_backward(log_frame, startprob, transmat)
    assert loglik < -640.0
    assert abs(model.score(X) - loglik) <= 1e-12 * abs(loglik)
    np.testing.assert_allclose(model.predict_proba(X), posteriors, rtol=1e-10, atol=1e-12)


def _chain(rng, n_states, zero_rate):
    transmat = rng.random((n_states, n_states)) * (rng.random((n_states, n_states)) >= zero_rate)
    transmat[np.arange(n_states), rng.integers(0, n_states, n_states)] += 0.5
    return rng.dirichlet(np.ones(n_states)), transmat / transmat.sum(axis=1, keepdims=True)


def _scaled(log_frame, rows, offsets, startprob, transmat):
    """``scaled_forward_backward`` of a table (``rows``) or a frame, and how many rows it redid."""
    redone = []
    table = log_frame.copy()
    shift = np.empty(table.shape[0])
    frame = hmm_inference.scale_frame(table, shift)
    steps = log_frame[rows] if rows is not None else log_frame

    def recompute(first, stop):
        redone.append(stop - first)
        return steps[first:stop]

    posteriors = np.empty((offsets[-1], transmat.shape[0]))
    result = hmm_inference.scaled_forward_backward(frame, shift, offsets, startprob, transmat, recompute, posteriors,
                                                   rows=rows)
    return result, sum(redone)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_states=st.sampled_from([2, 3, 5, 8, 17]), spread=st.sampled_from([300.0, 1200.0]),
       zero_rate=st.sampled_from([0.0, 0.3]), with_rows=st.booleans(),
       lengths=st.lists(st.integers(1, 25), min_size=1, max_size=3))
def test_log_likelihoods_and_posteriors_equal_the_log_space_recursions(seed, n_states, spread, zero_rate, with_rows,
                                                                      lengths):
    rng = np.random.default_rng(seed)
    startprob, transmat = _chain(rng, n_states, zero_rate)
    n = sum(lengths)
    table = rng.normal(scale=spread, size=(3 if with_rows else n, n_states))
    rows = rng.integers(0, 3, n) if with_rows else None
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    result, _ = _scaled(table, rows, offsets, startprob, transmat)
    steps = table[rows] if with_rows else table
    for s in range(len(lengths)):
        first, stop = offsets[s], offsets[s + 1]
        loglik, posteriors = exact_forward_backward(steps[first:stop], startprob, transmat)
        if not np.isfinite(loglik):
            continue
        assert abs(result.seq_loglik[s] - loglik) <= 1e-12 * max(1.0, abs(loglik))
        np.testing.assert_allclose(result.posteriors[first:stop], posteriors, atol=1e-9)


def test_one_long_sequence_on_the_split_passes_is_certified_too():
    """A sequence long enough for the separate forward and backward passes, with the clamping
    pattern of the first test at its end."""
    emission = np.array([[1e-109, 1.0, 1e-230, 0.0, 0.3],
                         [0.5, 1e-300, 0.5, 0.0, 0.3],
                         [1e-165, 1e-300, 1e-167, 1.0, 0.3]])
    emission /= emission.sum(axis=1, keepdims=True)
    transmat = np.array([[0.9963, 0.0, 0.0037], [0.0, 0.2532, 0.7468], [0.6536, 0.3464, 0.0]])
    startprob = np.array([0.1205, 0.2702, 0.6093])
    symbols = np.concatenate([np.full(2 * hmm_inference.MIN_CHUNK_ROWS, 4), [0, 1, 2]])
    with np.errstate(divide="ignore"):
        table = np.log(emission.T)
    offsets = np.array([0, symbols.size], dtype=np.int64)
    result, redone = _scaled(table, symbols, offsets, startprob, transmat)
    loglik, _ = exact_forward_backward(table[symbols], startprob, transmat)
    assert redone == symbols.size
    assert abs(result.seq_loglik[0] - loglik) <= 1e-12 * abs(loglik)


def test_clamped_likelihoods_that_cannot_matter_keep_the_scaled_passes():
    """Two far-apart Gaussian states (log-densities 5,000 apart: clamped at every step) on a
    sticky chain: the bounds agree, so nothing is redone, and ℓ is exact."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.0, 1.0, 50), rng.normal(100.0, 1.0, 50)])
    log_frame = np.column_stack([-0.5 * x**2, -0.5 * (x - 100.0) ** 2]) - 0.5 * np.log(2 * np.pi)
    startprob, transmat = np.array([0.5, 0.5]), np.array([[0.95, 0.05], [0.05, 0.95]])
    offsets = np.array([0, x.size], dtype=np.int64)
    assert (log_frame.max(axis=1, keepdims=True) - log_frame).max() > 600.0
    result, redone = _scaled(log_frame, None, offsets, startprob, transmat)
    loglik, posteriors = exact_forward_backward(log_frame, startprob, transmat)
    assert redone == 0
    assert abs(result.seq_loglik[0] - loglik) <= 1e-12 * abs(loglik)
    np.testing.assert_allclose(result.posteriors, posteriors, atol=1e-12)
