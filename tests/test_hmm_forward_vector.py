"""The scaled forward–backward kernels, whose steps run on vector registers for K ≤ 16
(:mod:`emkit.kernels.hmm_vector`), against the log-space kernel, sequence by sequence.

Both ways of running them are checked: the one-thread sweep (``forward_scaled`` then
``backward_combine_scaled``) and the split one (``forward_scaled``, ``backward_scaled``, then
``combine_scaled`` over two row ranges), with and without a table of rows (categorical symbols),
over random chains with impossible transitions and emissions, sequences of one step, K = 1 and
K = 17 (the scalar kernels), and rows far apart (rescaling) or far below the best state (the
fallback to log space, status NaN).
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emkit.kernels import hmm as kernels
from emkit.numerics import safe_log

NO_ROWS = np.empty(0, dtype=np.int64)


def scaled(log_table, rows, offsets, startprob, transmat, split):
    """The scaled kernels: ``(posteriors, start, trans, occupancy, row_counts, seq_loglik)``."""
    frame, shift = log_table.copy(), np.empty(log_table.shape[0])
    kernels.shift_rows(frame, shift)
    with np.errstate(under="ignore"):
        frame = np.exp(frame)
    n_states, n_rows = transmat.shape[0], offsets[-1]
    steps = NO_ROWS if rows is None else rows
    posteriors, log_scales, status = np.empty((n_rows, n_states)), np.empty(n_rows), np.zeros(offsets.size - 1)
    start, trans, occupancy = np.zeros(n_states), np.zeros((n_states, n_states)), np.zeros(n_states)
    row_counts = np.zeros((0 if rows is None else log_table.shape[0], n_states))
    kernels.forward_scaled(frame, shift, steps, offsets, startprob, transmat, posteriors, log_scales, status)
    if split:
        beta, beta_scale, backward_status = np.empty((n_rows, n_states)), np.empty(n_rows), status.copy()
        kernels.backward_scaled(frame, steps, offsets, transmat, beta, beta_scale, backward_status)
        status[np.isnan(backward_status) & (status == 0.0)] = np.nan
        middle = n_rows // 2
        for first, stop in ((0, middle), (middle, n_rows)):
            kernels.combine_scaled(frame, steps, beta, beta_scale, offsets, first, stop, transmat, posteriors,
                                   status, start, trans, occupancy, row_counts)
    else:
        kernels.backward_combine_scaled(frame, steps, offsets, transmat, posteriors, status, start, trans,
                                        occupancy, row_counts)
    seq_loglik = status.copy()
    kernels.sum_log_scales(log_scales, offsets, seq_loglik)
    return posteriors, start, trans, occupancy, row_counts, seq_loglik, status


def log_space(log_frame, startprob, transmat):
    """The log-space kernel on one sequence: ``(posteriors, start, trans, occupancy, loglik)``."""
    n_states = transmat.shape[0]
    posteriors, loglik = np.empty(log_frame.shape), np.zeros(1)
    start, trans, occupancy = np.zeros(n_states), np.zeros((n_states, n_states)), np.zeros(n_states)
    kernels.forward_backward_log(log_frame, np.array([0, log_frame.shape[0]], dtype=np.int64), safe_log(startprob),
                                 safe_log(transmat), posteriors, start, trans, occupancy, loglik)
    return posteriors, start, trans, occupancy, loglik[0]


@st.composite
def problems(draw):
    n_states = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17]))
    n_values = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(1, 40), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    spread = draw(st.sampled_from([1.0, 30.0, 300.0]))        # 300: rows far apart (clipped), rescaling
    zero_rate = draw(st.sampled_from([0.0, 0.3]))            # impossible transitions and emissions
    tiny = draw(st.booleans())                               # states e^{-300} further down: fallback
    with_rows = draw(st.booleans())
    rng = np.random.default_rng(seed)
    transmat = rng.random((n_states, n_states)) * (rng.random((n_states, n_states)) >= zero_rate)
    transmat[np.arange(n_states), rng.integers(0, n_states, n_states)] += 0.5   # each row can go somewhere
    transmat /= transmat.sum(axis=1, keepdims=True)
    startprob = rng.dirichlet(np.ones(n_states))
    n_rows = sum(lengths)
    table_rows = n_values if with_rows else n_rows
    # shifted values stay above LOG_CLAMP (−600): clamped values that matter are a limit of the
    # scaled recursions whatever their steps, not of the vector steps tested here
    log_table = np.clip(rng.normal(scale=spread, size=(table_rows, n_states)), -145.0, 145.0)
    log_table[rng.random(log_table.shape) < zero_rate] = -np.inf
    if tiny:
        log_table[rng.random(log_table.shape) < 0.3] -= 300.0
    rows = rng.integers(0, n_values, n_rows).astype(np.int64) if with_rows else None
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return log_table, rows, offsets, startprob, transmat, spread


def check_against_log_space(problem, split):
    log_table, rows, offsets, startprob, transmat, spread = problem
    # exp of shifted log-likelihoods hundreds apart is exact only to ~|x| ε: a looser bound there
    tolerance = 1e-12 if spread <= 30.0 else 1e-10
    n_states = transmat.shape[0]
    posteriors, start, trans, occupancy, row_counts, seq_loglik, status = scaled(
        log_table, rows, offsets, startprob, transmat, split)
    log_frame = log_table if rows is None else log_table[rows]
    expected = [np.zeros(n_states), np.zeros((n_states, n_states)), np.zeros(n_states)]
    expected_rows = np.zeros_like(row_counts)
    done = 0
    for s in range(offsets.size - 1):
        first, stop = offsets[s], offsets[s + 1]
        reference, ref_start, ref_trans, ref_occupancy, loglik = log_space(log_frame[first:stop], startprob, transmat)
        if status[s] == -np.inf:       # an observation impossible in every state
            assert loglik == -np.inf
            continue
        if np.isnan(status[s]):        # sent to the log-space kernel by the caller
            continue
        done += 1
        assert np.isfinite(loglik)
        assert abs(seq_loglik[s] - loglik) <= 1e-12 * max(1.0, abs(loglik))
        np.testing.assert_allclose(posteriors[first:stop], reference, rtol=0, atol=tolerance)
        for total, part in zip(expected, (ref_start, ref_trans, ref_occupancy)):
            total += part
        if rows is not None:
            np.add.at(expected_rows, rows[first:stop], reference)
    for got, want in zip((start, trans, occupancy), expected):
        np.testing.assert_allclose(got, want, rtol=10 * tolerance, atol=10 * tolerance)
    np.testing.assert_allclose(row_counts, expected_rows, rtol=10 * tolerance, atol=10 * tolerance)
    return done


@settings(max_examples=150, deadline=None)
@given(problems(), st.booleans())
def test_scaled_kernels_equal_the_log_space_kernel(problem, split):
    check_against_log_space(problem, split)


def test_a_long_categorical_chain_equals_the_log_space_kernel_for_every_vector_width():
    rng = np.random.default_rng(20)
    for n_states in (2, 4, 6, 8, 11, 16):
        transmat = rng.dirichlet(np.ones(n_states) * 0.3, size=n_states)
        transmat[transmat < 0.05] = 0.0
        transmat[np.arange(n_states), np.arange(n_states)] += 0.1
        transmat /= transmat.sum(axis=1, keepdims=True)
        log_table = np.log(rng.dirichlet(np.ones(n_states), size=32))
        rows = rng.integers(0, 32, 3000).astype(np.int64)
        offsets = np.array([0, 1, 1200, 3000], dtype=np.int64)
        problem = (log_table, rows, offsets, rng.dirichlet(np.ones(n_states)), transmat, 1.0)
        for split in (False, True):
            assert check_against_log_space(problem, split) == 3
