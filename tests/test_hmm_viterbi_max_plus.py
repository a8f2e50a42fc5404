"""The max-plus Viterbi kernel for few states against the back-pointer kernel and brute force."""

from itertools import product

import numpy as np
import pytest

from emkit.kernels import hmm as kernels
from emkit.kernels import max_plus_vector
from emkit.latent import hmm_inference
from emkit.numerics import safe_log


def _problem(n_states, n_rows, n_sequences, rng, table_rows=None):
    transmat = rng.random((n_states, n_states)) + 2 * np.eye(n_states)
    transmat[rng.random((n_states, n_states)) < 0.3] = 0.0     # impossible transitions: log A = −inf
    np.fill_diagonal(transmat, 1.0)
    transmat /= transmat.sum(axis=1, keepdims=True)
    startprob = rng.dirichlet(np.ones(n_states))
    startprob[0] = 0.0 if n_states > 1 else 1.0
    startprob /= startprob.sum()
    n_frame = n_rows if table_rows is None else table_rows
    log_frame = np.log(rng.random((n_frame, n_states)))
    log_frame[rng.random(log_frame.shape) < 0.1] = -np.inf     # impossible emissions
    log_frame[1] = log_frame[1, 0]                              # a row of ties
    rows = None if table_rows is None else rng.integers(0, table_rows, n_rows).astype(np.int64)
    cuts = np.sort(rng.choice(np.arange(1, n_rows), n_sequences - 1, replace=False))
    offsets = np.concatenate([[0], cuts, [n_rows]]).astype(np.int64)
    return log_frame, rows, offsets, startprob, transmat


@pytest.mark.parametrize("n_states", [1, 2, 3, 8, 16])
@pytest.mark.parametrize("table_rows", [None, 5])
def test_max_plus_kernel_is_bit_identical_to_back_pointers(n_states, table_rows):
    rng = np.random.default_rng(n_states)
    log_frame, rows, offsets, startprob, transmat = _problem(n_states, 3000, 7, rng, table_rows)
    steps = hmm_inference.NO_ROWS if rows is None else rows
    outputs = []
    for kernel, scratch in [(kernels.viterbi, np.empty((3000, n_states), dtype=np.uint8)),
                            (kernels.viterbi_vector, np.empty((3000, max_plus_vector.lanes(n_states)), dtype=np.uint8))]:
        path, logprob = np.empty(3000, dtype=np.int64), np.empty(offsets.size - 1)
        kernel(log_frame, steps, offsets, safe_log(startprob), np.ascontiguousarray(safe_log(transmat)), scratch,
               path, logprob)
        outputs.append((path, logprob))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


@pytest.mark.parametrize("n_states", [2, 3])
def test_viterbi_small_states_against_brute_force(n_states):
    rng = np.random.default_rng(10 + n_states)
    log_frame, _, offsets, startprob, transmat = _problem(n_states, 7, 1, rng)
    log_frame[1] = np.log(rng.random(n_states))   # keep the brute force away from ties
    path, logprob = hmm_inference.viterbi(log_frame, np.array([0, 7]), startprob, transmat)
    log_a, log_pi = safe_log(transmat), safe_log(startprob)
    best = max(log_pi[z[0]] + log_frame[0, z[0]]
               + sum(log_a[z[t - 1], z[t]] + log_frame[t, z[t]] for t in range(1, 7))
               for z in product(range(n_states), repeat=7))
    assert logprob[0] == pytest.approx(best, rel=1e-12, abs=1e-12)
    z = path
    along = log_pi[z[0]] + log_frame[0, z[0]] + sum(log_a[z[t - 1], z[t]] + log_frame[t, z[t]] for t in range(1, 7))
    assert along == pytest.approx(best, rel=1e-12, abs=1e-12)
