"""Forward–backward and Viterbi over a batch of sequences, given the frame log-likelihoods.

These wrap the compiled kernels of :mod:`emkit.kernels.hmm`: they allocate the outputs, exponentiate the
shifted frame log-likelihoods with NumPy's vectorised exponential, run the forward and backward
passes (at the same time, in two threads, for one long sequence) and their combination, and redo
in log space any sequence on which the scaled recursion underflowed.

Optional ``rows`` index the frame: step ``t``'s likelihoods are row ``rows[t]`` of a small table
(categorical emissions: one row per symbol), see :mod:`emkit.kernels.hmm`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

import numpy as np

from ..kernels.gaussian_direct import LOST
from ..numerics import safe_log
from ..kernels import hmm as kernels
from ..kernels import max_plus_vector

from .sequences import parallel_map, reusable

#: A single sequence is split only in pieces of at least this many rows.
MIN_CHUNK_ROWS = 4096

#: Viterbi with at most this many states runs the kernel whose steps are written with LLVM vector
#: types (:func:`kernels.viterbi_vector`: 1.8-2.6x the plain kernel's speed from 17 to 64 states);
#: with more, LLVM vectorises the plain kernel's loop over next states itself.
VECTOR_STATES = max_plus_vector.WIDTHS[-1]

#: A single long sequence's combination pass is split into up to this many row ranges.
SEQUENCE_CHUNKS = 2


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
        ``Σ_t p(z_t = i, z_{t+1} = j | x)``, summed over sequences (zero when not counted).
    occupancy : ndarray, shape (K,)
        ``Σ_t γ_t(k)``, the expected number of visits of each state.
    seq_loglik : ndarray, shape (n_sequences,)
        ``log p(x)`` of each sequence.
    row_counts : ndarray, shape (n_table_rows, K), or None
        With ``rows``: ``Σ_{t: rows[t] = v} γ_t(k)``, the posteriors added up by frame row.
    """

    posteriors: np.ndarray
    start_counts: np.ndarray
    trans_counts: np.ndarray
    occupancy: np.ndarray
    seq_loglik: np.ndarray
    row_counts: np.ndarray | None = None


#: ``rows`` of the kernels for a frame with one row per step.
NO_ROWS = np.empty(0, dtype=np.int64)

#: A sequence's log-likelihood is certified when its bounds with small scaled likelihoods kept
#: and set to zero differ by at most this, relative (:func:`certify_small_entries`).
CERTIFY_TOLERANCE = 1e-13


def scale_frame(log_frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``b_t(k) e^{−m_t}`` in place of ``log b_t(k)`` (n, K), with ``m_t = max_k log b_t(k)``
    written into ``shift`` (n,) (:func:`kernels.shift_rows`, then NumPy's exponential)."""
    kernels.shift_rows(log_frame, shift)
    return np.exp(log_frame, out=log_frame)


def forward_backward(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray, transmat: np.ndarray,
                     recompute: Callable[[int, int], np.ndarray], posteriors: np.ndarray,
                     workspace: dict[str, np.ndarray] | None = None, n_threads: int = 1) -> Posterior:
    """:func:`scaled_forward_backward` of the frame log-likelihoods ``log_frame`` (n, K),
    C-contiguous, which are overwritten (they become the scaled likelihoods)."""
    scratch = {} if workspace is None else workspace
    shift = reusable(scratch, "shift", (log_frame.shape[0],))
    return scaled_forward_backward(scale_frame(log_frame, shift), shift, offsets, startprob, transmat, recompute,
                                   posteriors, scratch, n_threads)


def scaled_forward_backward(
    frame: np.ndarray,
    shift: np.ndarray,
    offsets: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    recompute: Callable[[int, int], np.ndarray],
    posteriors: np.ndarray,
    workspace: dict[str, np.ndarray] | None = None,
    n_threads: int = 1,
    rows: np.ndarray | None = None,
    count_transitions: bool = True,
) -> Posterior:
    """Posterior state probabilities and expected transition counts of each sequence.

    ``γ_t(k) ∝ α_t(k) β_t(k)`` and ``ξ_t(i, j) ∝ α_t(i) A_ij b_{t+1}(j) β_{t+1}(j)`` by the scaled
    recursions; ``log p(x) = Σ_t m_t + Σ log c`` (frame shifts and rescalings, compensated sum).

    Parameters
    ----------
    frame, shift : ndarray, shapes (n, K) and (n,)
        The scaled likelihoods ``b_t(k) e^{−m_t}`` and the shifts ``m_t`` (:func:`scale_frame`),
        C-contiguous; with ``rows``, one row per value of a table instead (any number of rows).
    offsets : ndarray of int64, shape (n_sequences + 1,)
        Sequence boundaries within the rows of ``frame``.
    startprob, transmat : ndarray
        Initial distribution ``π`` (K,) and transition matrix ``A`` (K, K).
    recompute : callable
        ``recompute(start, stop)`` returns the frame log-likelihoods ``log b_t`` of rows
        ``start:stop`` (used only for a sequence redone in log space).
    posteriors : ndarray, shape (n, K)
        Where the posteriors are written.
    workspace : dict, optional
        Scratch arrays kept from call to call, so that repeated E-steps reuse their memory.
    n_threads : int
        Threads for this batch. One long sequence (at least two chunks of ``MIN_CHUNK_ROWS``
        rows) has its forward and backward passes run separately (at the same time with two
        threads) and their combination split in up to :data:`SEQUENCE_CHUNKS` row ranges; the
        arithmetic does not depend on ``n_threads``.
    rows : ndarray of int64, shape (n,), optional
        Step ``t``'s row of ``frame`` and ``shift`` (step ``t``'s own row when omitted); the
        posteriors are then also added up by row (:attr:`Posterior.row_counts`).
    count_transitions : bool
        False: the posteriors without the expected transition counts (``K²`` work a step less).
    """
    n_states = frame.shape[1]
    n_rows, n_sequences = posteriors.shape[0], offsets.size - 1
    scratch = {} if workspace is None else workspace
    log_scales = reusable(scratch, "log_scales", (n_rows,))
    chunks = _row_chunks(n_rows, SEQUENCE_CHUNKS) if n_sequences == 1 else [(0, n_rows)]
    status = np.zeros(n_sequences)
    steps = NO_ROWS if rows is None else rows
    row_counts = np.zeros((0 if rows is None else frame.shape[0], n_states))
    transitions = (n_states, n_states) if count_transitions else (0, 0)
    start_counts, trans_counts, occupancy = np.zeros(n_states), np.zeros(transitions), np.zeros(n_states)
    if len(chunks) == 1:
        kernels.forward_scaled(frame, shift, steps, offsets, startprob, transmat, posteriors, log_scales, status)
        certify_small_entries(frame, shift, steps, offsets, startprob, transmat, log_scales, status)
        kernels.backward_combine_scaled(frame, steps, offsets, transmat, posteriors, status, start_counts,
                                        trans_counts, occupancy, row_counts)
    else:
        start_counts, trans_counts, occupancy, row_counts = _concurrent_passes(
            frame, shift, steps, startprob, transmat, posteriors, log_scales, status, chunks, scratch, n_threads,
            row_counts.shape[0], transitions)
    possible = status == 0.0   # the scaled passes went through (−inf: impossible; NaN: redo in log space)
    seq_loglik = status
    kernels.sum_log_scales(log_scales, offsets, seq_loglik)
    if possible.all() and seq_loglik.min() > 0.5 * LOST:   # every sequence done, nothing to redo
        return Posterior(posteriors, start_counts, trans_counts if count_transitions else np.zeros((n_states, n_states)),
                         occupancy, seq_loglik, None if rows is None else row_counts)
    # a sum of shifts beyond the float range (rows far from every state): posteriors stand, ℓ = −∞
    beyond = possible & ~(seq_loglik > -np.inf)
    seq_loglik[beyond] = -np.inf
    if not count_transitions:   # the log-space kernel counts them anyway: into a zero table, reset below
        trans_counts = np.zeros((n_states, n_states))
    for s in np.flatnonzero(np.isnan(seq_loglik)):
        first, stop = int(offsets[s]), int(offsets[s + 1])
        one = np.array([0, stop - first], dtype=np.int64)
        kernels.forward_backward_log(np.ascontiguousarray(recompute(first, stop), dtype=float), one,
                                     safe_log(startprob), safe_log(transmat), posteriors[first:stop], start_counts,
                                     trans_counts, occupancy, seq_loglik[s:s + 1])
    for s in np.flatnonzero((seq_loglik == -np.inf) & ~beyond):
        posteriors[offsets[s]:offsets[s + 1]] = np.nan
    if not count_transitions:
        trans_counts[:] = 0.0
    if rows is not None and not possible.all():   # partial or missing counts: recount
        counted = np.repeat(np.isfinite(seq_loglik) | beyond, np.diff(offsets))
        row_counts[:] = 0.0
        np.add.at(row_counts, rows[counted], posteriors[counted])
    seq_loglik[seq_loglik <= 0.5 * LOST] = -np.inf   # a row beyond the float range (posteriors proper)
    return Posterior(posteriors, start_counts, trans_counts, occupancy, seq_loglik,
                     None if rows is None else row_counts)


def certify_small_entries(frame: np.ndarray, shift: np.ndarray, rows: np.ndarray, offsets: np.ndarray,
                          startprob: np.ndarray, transmat: np.ndarray, log_scales: np.ndarray,
                          status: np.ndarray) -> None:
    """Set ``status[s]`` to NaN (redo in log space) for a sequence done by the scaled forward pass
    whose log-likelihood its small scaled likelihoods (clamped ones among them) may have moved.

    The clamped frame overstates every such likelihood (``e^{LOG_CLAMP}`` for a smaller true
    value) and the same frame with them set to zero understates them, so the true ``log p(x)``
    lies between the forward pass's ``ℓ⁺`` (``log_scales``) and a second forward pass's ``ℓ⁻``;
    ``ℓ⁺ − ℓ⁻ ≤ CERTIFY_TOLERANCE · max(1, |ℓ⁺|)`` certifies it (and the posteriors, to about
    twice that). Only sequences that read such a likelihood are checked, and not those whose
    ``ℓ⁺`` is already beyond the float range (reported as −∞, their posteriors kept).
    """
    flags = np.zeros(offsets.size - 1, dtype=bool)
    kernels.sequences_with_small_entries(frame, rows, offsets, status, flags)
    if not flags.any():
        return
    lower = np.where(frame <= kernels.SMALL_SCALED, 0.0, frame)
    for s in np.flatnonzero(flags):
        first, stop = int(offsets[s]), int(offsets[s + 1])
        one = np.array([0, stop - first], dtype=np.int64)
        steps, part, part_shift = ((rows[first:stop], lower, shift) if rows.size
                                   else (NO_ROWS, lower[first:stop], shift[first:stop]))
        upper, below = np.zeros(1), np.zeros(1)
        kernels.sum_log_scales(log_scales[first:stop], one, upper)
        if not upper[0] > 0.5 * LOST:   # ℓ beyond the float range: −∞ whatever the bounds
            continue
        scales = np.empty(stop - first)
        kernels.forward_scaled(part, part_shift, steps, one, startprob, transmat,
                               np.empty((stop - first, frame.shape[1])), scales, below)
        kernels.sum_log_scales(scales, one, below)
        if not upper[0] - below[0] <= CERTIFY_TOLERANCE * max(1.0, abs(upper[0])):
            status[s] = np.nan


def _concurrent_passes(frame, shift, rows, startprob, transmat, posteriors, log_scales, status, chunks,
                       scratch, n_threads, n_table_rows, transitions) -> tuple[np.ndarray, ...]:
    """One sequence on ``n_threads`` threads: the forward and backward passes (at the same time
    with two threads or more), then their combination split in the row ranges ``chunks``;
    returns the counts (transition counts of shape ``transitions``) and the ``n_table_rows``
    row counts, added in chunk order (zero when the sequence must be redone in log space)."""
    n_rows, n_states = posteriors.shape
    offsets = np.array([0, n_rows], dtype=np.int64)
    beta = reusable(scratch, "beta", (n_rows, n_states))
    beta_scale = reusable(scratch, "beta_scale", (n_rows,))
    backward_status = np.zeros(1)
    _run_tasks([partial(kernels.forward_scaled, frame, shift, rows, offsets, startprob, transmat, posteriors,
                        log_scales, status),
                partial(kernels.backward_scaled, frame, rows, offsets, transmat, beta, beta_scale, backward_status)],
               n_threads)
    status[np.isnan(backward_status) & (status == 0.0)] = np.nan
    certify_small_entries(frame, shift, rows, offsets, startprob, transmat, log_scales, status)
    counts = [(np.zeros(n_states), np.zeros(transitions), np.zeros(n_states),
               np.zeros((n_table_rows, n_states))) for _ in chunks]
    _run_tasks([partial(kernels.combine_scaled, frame, rows, beta, beta_scale, offsets, first, stop, transmat,
                        posteriors, status, *totals) for (first, stop), totals in zip(chunks, counts)], n_threads)
    if status[0] != 0.0:  # the parts are redone in log space
        return tuple(np.zeros_like(part) for part in counts[0])
    return tuple(sum(parts) for parts in zip(*counts))


def _run_tasks(tasks: list[Callable[[], object]], n_threads: int) -> None:
    """Run the argument-less ``tasks`` on ``n_threads`` threads."""
    parallel_map(lambda task: task(), tasks, n_threads)


def _row_chunks(n_rows: int, n_chunks: int) -> list[tuple[int, int]]:
    """``n_chunks`` contiguous row ranges of about equal size (fewer for very few rows)."""
    edges = np.unique(np.linspace(0, n_rows, max(1, min(n_chunks, n_rows // MIN_CHUNK_ROWS)) + 1).astype(int))
    return [(int(a), int(b)) for a, b in pairwise(edges)]


def viterbi(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray, transmat: np.ndarray,
            rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Most probable state path of each sequence, ``argmax_z log p(x, z)``.

    ``log_frame`` holds the frame log-likelihoods, step ``t`` in row ``rows[t]`` (row ``t``
    when ``rows`` is omitted). Returns ``(path, seq_logprob)``: the states (int64, shape (n,))
    and ``max_z log p(x, z)`` of each sequence.
    """
    steps = NO_ROWS if rows is None else rows
    n_rows, n_states = (log_frame.shape[0] if rows is None else rows.size), log_frame.shape[1]
    path = np.empty(n_rows, dtype=np.int64)
    seq_logprob = np.empty(offsets.size - 1)
    log_startprob, log_transmat = safe_log(startprob), np.ascontiguousarray(safe_log(transmat))
    if n_states <= VECTOR_STATES:
        pointers = np.empty((n_rows, max_plus_vector.lanes(n_states)), dtype=np.uint8)
        kernels.viterbi_vector(log_frame, steps, offsets, log_startprob, log_transmat, pointers, path, seq_logprob)
    else:
        pointers = np.empty((n_rows, n_states), dtype=np.uint8 if n_states <= 256 else np.int64)
        kernels.viterbi(log_frame, steps, offsets, log_startprob, log_transmat, pointers, path, seq_logprob)
    seq_logprob[np.isnan(seq_logprob)] = -np.inf    # a sum of row maxima beyond the float range
    seq_logprob[seq_logprob <= 0.5 * LOST] = -np.inf
    return path, seq_logprob
