"""The vector-register Viterbi kernel (K ≤ 64) against the scalar max-plus recursion, bit for bit.

The reference is the recursion written out in Python, operation for operation as the scalar
kernel does it: ``δ_t(j) = (log b_t(j) − m_t) + max_i (δ_{t−1}(i) + log A_ij)``, the maximum a
scan from ``−inf`` that keeps a sum only when it is strictly larger (so NaN sums are skipped and
ties keep the lowest state), ``m_t`` the largest finite frame value, the back-pointer the first
strict improvement, ``Σ m_t`` by Neumaier's compensated sum.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emkit.kernels import hmm as kernels
from emkit.kernels import max_plus_vector
from emkit.latent import hmm_inference

INF = math.inf


def _shift(row):
    finite = [x for x in row if -INF < x < INF]
    return max(finite) if finite else 0.0


def reference_viterbi(log_frame, rows, offsets, log_startprob, log_transmat):
    """Scalar max-plus Viterbi in plain Python: ``(path, seq_logprob)``."""
    n_states = log_transmat.shape[0]
    frame = log_frame.tolist() if rows is None else [log_frame[r].tolist() for r in rows]
    log_startprob, log_transmat = log_startprob.tolist(), log_transmat.tolist()      # Python floats: no warnings
    path = np.empty(len(frame), dtype=np.int64)
    seq_logprob = np.empty(len(offsets) - 1)
    for s in range(len(offsets) - 1):
        first, stop = int(offsets[s]), int(offsets[s + 1])
        shift = _shift(frame[first])
        total, compensation = shift, 0.0
        delta = [log_startprob[k] + (frame[first][k] - shift) for k in range(n_states)]
        pointers = {}
        for t in range(first + 1, stop):
            shift = _shift(frame[t])
            updated = total + shift
            compensation += ((total - updated) + shift) if abs(total) >= abs(shift) else ((shift - updated) + total)
            total = updated
            new, back = [], []
            for j in range(n_states):
                best, arg = -INF, 0
                for i in range(n_states):
                    value = delta[i] + log_transmat[i][j]
                    if value > best:
                        best, arg = value, i
                new.append(best + (frame[t][j] - shift))
                back.append(arg)
            delta, pointers[t] = new, back
        top, state = -INF, 0
        for k in range(n_states):
            if delta[k] > top:
                top, state = delta[k], k
        seq_logprob[s] = top + (total + compensation)
        path[stop - 1] = state
        for t in range(stop - 1, first, -1):
            state = pointers[t][state]
            path[t - 1] = state
    return path, seq_logprob


def run_vector_kernel(log_frame, rows, offsets, log_startprob, log_transmat):
    n_rows = log_frame.shape[0] if rows is None else rows.size
    pointers = np.empty((n_rows, max_plus_vector.lanes(log_transmat.shape[0])), dtype=np.uint8)
    path, seq_logprob = np.empty(n_rows, dtype=np.int64), np.empty(len(offsets) - 1)
    kernels.viterbi_vector(log_frame, hmm_inference.NO_ROWS if rows is None else rows, offsets, log_startprob,
                           log_transmat, pointers, path, seq_logprob)
    return path, seq_logprob


def assert_same_bits(actual, expected):
    np.testing.assert_array_equal(actual[0], expected[0])
    assert actual[1].tobytes() == expected[1].tobytes()      # the same bits: ±0 and NaN included


#: Few distinct values, so that ties (in sums too) are common; −inf for impossible events.
LOG_VALUES = st.sampled_from([-INF, -INF, 0.0, -1.0, -2.0, -0.5, -3.0, -1e300])
FRAME_VALUES = st.one_of(LOG_VALUES, st.sampled_from([INF, -0.0, 5.0, 1e308]),
                         st.floats(-50, 50, allow_nan=False))


@st.composite
def problems(draw, min_states=1, max_states=16, max_length=12):
    n_states = draw(st.integers(min_states, max_states))
    lengths = draw(st.lists(st.integers(1, max_length), min_size=1, max_size=3))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n_rows = int(offsets[-1])
    matrix = lambda shape, values: np.array(draw(st.lists(values, min_size=int(np.prod(shape)),
                                                          max_size=int(np.prod(shape))))).reshape(shape)
    log_transmat = matrix((n_states, n_states), LOG_VALUES)
    if draw(st.booleans()):
        log_transmat[:, draw(st.integers(0, n_states - 1))] = -INF         # a state never entered
    if draw(st.booleans()):
        log_transmat[draw(st.integers(0, n_states - 1))] = -INF            # a state never left
    if draw(st.integers(0, 9)) == 0:                                        # NaN sums from log A itself
        log_transmat[draw(st.integers(0, n_states - 1)), draw(st.integers(0, n_states - 1))] = \
            draw(st.sampled_from([INF, math.nan]))
    log_startprob = matrix((n_states,), LOG_VALUES)
    table = draw(st.booleans())
    log_frame = matrix((draw(st.integers(1, 4)) if table else n_rows, n_states), FRAME_VALUES)
    rows = np.array(draw(st.lists(st.integers(0, log_frame.shape[0] - 1), min_size=n_rows, max_size=n_rows)),
                    dtype=np.int64) if table else None
    return log_frame, rows, offsets, log_startprob, np.ascontiguousarray(log_transmat)


@settings(max_examples=300, deadline=None)
@given(problems())
def test_vector_kernel_is_the_scalar_recursion_bit_for_bit(problem):
    assert_same_bits(run_vector_kernel(*problem), reference_viterbi(*problem))


@settings(max_examples=60, deadline=None)
@given(problems(min_states=17, max_states=64, max_length=6))
def test_chunked_vector_kernel_is_the_scalar_recursion_bit_for_bit(problem):
    # 17 to 64 states: next states in chunks of 8 lanes, padded with −inf past K
    assert_same_bits(run_vector_kernel(*problem), reference_viterbi(*problem))


@pytest.mark.parametrize("n_states", [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 40, 57, 64])
@pytest.mark.parametrize("table", [False, True])
def test_vector_kernel_matches_the_back_pointer_kernel_on_long_sequences(n_states, table):
    rng = np.random.default_rng(100 + n_states)
    n_rows = 4000 if n_states <= 16 else 1500
    transmat = rng.random((n_states, n_states)) ** 4                  # near-ties and -inf entries
    transmat[rng.random(transmat.shape) < 0.3] = 0.0
    np.fill_diagonal(transmat, 1.0)
    transmat /= transmat.sum(axis=1, keepdims=True)
    log_transmat = np.ascontiguousarray(np.log(transmat, where=transmat > 0, out=np.full_like(transmat, -INF)))
    log_frame = np.round(np.log(rng.random((8 if table else n_rows, n_states))), 1)   # rounded: ties
    log_frame[rng.random(log_frame.shape) < 0.1] = -INF
    rows = rng.integers(0, 8, n_rows).astype(np.int64) if table else None
    offsets = np.array([0, 1, 2, 1000, n_rows], dtype=np.int64)        # sequences of one step too
    log_startprob = np.full(n_states, -np.log(n_states))
    expected_path, expected_logprob = np.empty(n_rows, dtype=np.int64), np.empty(4)
    kernels.viterbi(log_frame, hmm_inference.NO_ROWS if rows is None else rows, offsets, log_startprob,
                    log_transmat, np.empty((n_rows, n_states), dtype=np.uint8), expected_path, expected_logprob)
    assert_same_bits(run_vector_kernel(log_frame, rows, offsets, log_startprob, log_transmat),
                     (expected_path, expected_logprob))


@pytest.mark.parametrize("entry", [math.nan, INF])
@pytest.mark.parametrize("table", [False, True])
def test_nan_sums_from_log_transmat_are_skipped(entry, table):
    # the sum from state 1 into state 0 is NaN (for +inf: state 1 starts impossible, −inf + inf); the
    # scalar scan skips it, a maximum that took it would make δ(0) NaN and end the path in state 1
    log_transmat = np.array([[0.0, -1.0], [entry, 0.0]])
    log_startprob = np.array([0.0, -INF if entry == INF else 0.0])
    log_frame = np.zeros((1 if table else 2, 2))
    rows = np.zeros(2, dtype=np.int64) if table else None
    offsets = np.array([0, 2], dtype=np.int64)
    expected = reference_viterbi(log_frame, rows, offsets, log_startprob, log_transmat)
    np.testing.assert_array_equal(expected[0], [0, 0])
    assert_same_bits(run_vector_kernel(log_frame, rows, offsets, log_startprob, log_transmat), expected)


@pytest.mark.parametrize("n_states", [16, 17, 64, 65])
def test_viterbi_dispatch_gives_the_back_pointer_kernel_result(n_states):
    rng = np.random.default_rng(n_states)
    transmat = rng.dirichlet(np.full(n_states, 0.3), size=n_states)
    transmat[:, 1] = 0.0                                               # state 1 never entered: −inf
    transmat /= transmat.sum(axis=1, keepdims=True)
    startprob = np.full(n_states, 1.0 / n_states)
    log_frame = np.round(rng.normal(size=(500, n_states)), 1)
    offsets = np.array([0, 200, 500], dtype=np.int64)
    expected_path, expected_logprob = np.empty(500, dtype=np.int64), np.empty(2)
    kernels.viterbi(log_frame, hmm_inference.NO_ROWS, offsets, np.log(startprob),
                    np.ascontiguousarray(np.log(transmat, where=transmat > 0, out=np.full_like(transmat, -INF))),
                    np.empty((500, n_states), dtype=np.uint8), expected_path, expected_logprob)
    assert_same_bits(hmm_inference.viterbi(log_frame, offsets, startprob, transmat),
                     (expected_path, expected_logprob))


def test_lanes_and_too_many_states():
    assert [max_plus_vector.lanes(k) for k in (1, 4, 5, 8, 9, 16, 17, 24, 25, 63, 64)] == \
        [4, 4, 8, 8, 16, 16, 24, 24, 32, 64, 64]
    with pytest.raises(ValueError, match="n_states"):
        max_plus_vector.lanes(65)
