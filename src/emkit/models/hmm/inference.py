"""Forward–backward and Viterbi over a batch of sequences, given the frame log-likelihoods.

These wrap the compiled kernels of :mod:`.kernels`: they allocate the outputs, exponentiate the
shifted frame log-likelihoods with NumPy's vectorised exponential, and redo in log space any
sequence on which the scaled recursion underflowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...numerics import safe_log
from . import kernels
from .sequences import reusable


@dataclass
class Posterior:
    """What forward–backward gives for a batch of sequences.

    Attributes
    ----------
    posteriors : ndarray, shape (n, K)
        ``γ_t(k) = p(z_t = k | x)`` (NaN in a sequence with ``log p(x) = −inf``).
    start_counts : ndarray, shape (K,)
        ``Σ_sequences γ_first(k)``.
    trans_counts : ndarray, shape (K, K)
        ``Σ_t p(z_t = i, z_{t+1} = j | x)``, summed over sequences.
    occupancy : ndarray, shape (K,)
        ``Σ_t γ_t(k)``, the expected number of visits of each state.
    seq_loglik : ndarray, shape (n_sequences,)
        ``log p(x)`` of each sequence.
    """

    posteriors: np.ndarray
    start_counts: np.ndarray
    trans_counts: np.ndarray
    occupancy: np.ndarray
    seq_loglik: np.ndarray


def forward_backward(
    log_frame: np.ndarray,
    offsets: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    recompute: Callable[[int, int], np.ndarray],
    posteriors: np.ndarray,
    workspace: dict[str, np.ndarray] | None = None,
) -> Posterior:
    """Posterior state probabilities and expected transition counts of each sequence.

    ``γ_t(k) ∝ α_t(k) β_t(k)`` and ``ξ_t(i, j) ∝ α_t(i) A_ij b_{t+1}(j) β_{t+1}(j)`` by the scaled
    recursion; ``log p(x) = Σ_t m_t + Σ log c`` (frame shifts and rescalings, compensated sum).

    Parameters
    ----------
    log_frame : ndarray, shape (n, K)
        ``log p(x_t | z_t = k)``, C-contiguous; overwritten (it becomes the scaled likelihoods).
    offsets : ndarray of int64, shape (n_sequences + 1,)
        Sequence boundaries within the rows of ``log_frame``.
    startprob, transmat : ndarray
        Initial distribution ``π`` (K,) and transition matrix ``A`` (K, K).
    recompute : callable
        ``recompute(start, stop)`` returns ``log_frame[start:stop]`` afresh (used only for a
        sequence redone in log space).
    posteriors : ndarray, shape (n, K)
        Where the posteriors are written.
    workspace : dict, optional
        Scratch arrays kept from call to call, so that repeated E-steps reuse their memory.
    """
    n_rows, n_states = log_frame.shape
    scratch = {} if workspace is None else workspace
    shift = reusable(scratch, "shift", (n_rows,))
    kernels.shift_rows(log_frame, shift)
    np.exp(log_frame, out=log_frame)
    start_counts = np.zeros(n_states)
    trans_counts = np.zeros((n_states, n_states))
    occupancy = np.zeros(n_states)
    seq_loglik = np.empty(offsets.size - 1)
    log_scales = reusable(scratch, "log_scales", (n_rows,))
    kernels.forward_backward_scaled(log_frame, shift, offsets, startprob, transmat, posteriors, start_counts,
                                    trans_counts, occupancy, log_scales, seq_loglik)
    kernels.sum_log_scales(log_scales, offsets, seq_loglik)
    for s in np.flatnonzero(np.isnan(seq_loglik)):
        first, stop = int(offsets[s]), int(offsets[s + 1])
        one = np.array([0, stop - first], dtype=np.int64)
        kernels.forward_backward_log(np.ascontiguousarray(recompute(first, stop), dtype=float), one,
                                     safe_log(startprob), safe_log(transmat), posteriors[first:stop], start_counts,
                                     trans_counts, occupancy, seq_loglik[s:s + 1])
    for s in np.flatnonzero(seq_loglik == -np.inf):
        posteriors[offsets[s]:offsets[s + 1]] = np.nan
    return Posterior(posteriors, start_counts, trans_counts, occupancy, seq_loglik)


def viterbi(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
            transmat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most probable state path of each sequence, ``argmax_z log p(x, z)``.

    Returns ``(path, seq_logprob)``: the states (int64, shape (n,)) and ``max_z log p(x, z)`` of
    each sequence.
    """
    path = np.empty(log_frame.shape[0], dtype=np.int64)
    seq_logprob = np.empty(offsets.size - 1)
    kernels.viterbi(log_frame, offsets, safe_log(startprob), safe_log(transmat), path, seq_logprob)
    return path, seq_logprob
