"""Compiled recursions of hidden Markov models: forward–backward, Viterbi, sampling.

Every kernel works on a *batch* of sequences stored one after another in the rows of one array;
``offsets`` (length ``n_sequences + 1``) delimits them: sequence ``s`` is rows
``offsets[s]:offsets[s + 1]``. The kernels are compiled by Numba with ``nogil=True``, so batches
run in parallel Python threads, and with ``cache=True``, so they compile once per installation.

Forward–backward is *scaled* (Rabiner 1989): the frame likelihoods ``b_t(k)`` are divided by
their largest entry ``e^{m_t}`` (:func:`shift_rows`, then NumPy's vectorised exponential) and the
forward variables ``α̃_t = (α̃_{t−1} A) ∘ b_t`` are rescaled to sum to one whenever their sum ``c``
falls below ``RESCALE_BELOW`` (and at the last step), so that
``log p(x) = Σ_t m_t + Σ log c`` never under- or overflows, whatever the length; rescaling only
when needed keeps the division off the recursion's critical path. A step that keeps less than
``STEP_FLOOR`` of the mass (every state the chain can reach has a density some ``e^{-460}``
below the best state's) sends its sequence to the log-space kernel, exact but slower; so does
a sequence whose clamped likelihoods (``LOG_CLAMP``) move its log-likelihood, which a second
forward pass with them set to zero (a lower bound) shows.

The backward variables ``β̃_t ∝ A (b_{t+1} ∘ β̃_{t+1})`` are scaled the same way but
independently of the forward ones. On one thread the backward sweep combines them with the
forward variables as it goes (:func:`backward_combine_scaled`); with two threads on one long
sequence, the forward and backward passes run at the same time and a third pass, parallel over
time, combines them (:func:`combine_scaled`). Either way each step of the posteriors and the
expected transition counts is normalised by its own ``α̃_t · β̃_t``, so nothing drifts.

The frame of step ``t`` is row ``rows[t]`` of ``frame`` (and ``shift``), or row ``t`` when ``rows``
is empty. An emission whose observations take few values (categorical symbols) passes its small
table of scaled likelihoods, one row per value, and the observations' rows in it: no (n, K)
frame is made, and the passes that combine the posteriors also add them up by value
(``row_counts[v, k] = Σ_{t: rows[t] = v} γ_t(k)``, the emission's statistics).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .hmm_vector import backward_step, combine_step, dot, forward_step, load_row, padded_matrix, store_row
from .max_plus_vector import padded_transmat, viterbi_step

#: The forward (backward) variables are rescaled to sum to one when their sum falls below this.
RESCALE_BELOW = 1e-30

#: Shifted frame log-likelihoods below this are raised to it (``e^{-600}`` is still a normal
#: number, and so are its products with the forward and backward variables).
LOG_CLAMP = -600.0

#: A step that keeps less than this fraction of the forward mass sends its sequence to the
#: log-space kernel.
STEP_FLOOR = 1e-200

#: Scaled likelihoods in ``(0, SMALL_SCALED]`` (every clamped one among them) are set to zero by
#: the lower-bound pass that certifies a sequence's log-likelihood
#: (:func:`sequences_with_small_entries`): a clamped value negligible at its own step can
#: dominate later ones (a path it keeps alive that the true, smaller value would not), which
#: no single step's ``STEP_FLOOR`` sees.
SMALL_SCALED = math.exp(LOG_CLAMP + 1.0)

#: ``α̃_t · β̃_t`` below this (close to the subnormal range) sends the sequence to the log-space
#: kernel.
COMBINE_FLOOR = 1e-280

#: Up to this many states the scaled recursions run their steps on vector registers
#: (:mod:`emkit.kernels.hmm_vector`); with more, LLVM vectorises the scalar kernels' loops.
VECTOR_STATES = 16

#: The forward pass keeps its scalar steps below this many states (they hold ``α̃`` in registers,
#: and are faster there than a vector step that passes it through memory).
VECTOR_FORWARD_MIN_STATES = 4

#: Floating-point licences of the scaled kernel: reassociation (vectorised sums) but no
#: assumptions about infinities or NaN, which the kernel tests for.
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}


@njit(cache=True, nogil=True, inline="always")
def _row(rows, t):  # pragma: no cover - compiled
    """The frame row of step ``t``: ``rows[t]``, or ``t`` when ``rows`` is empty."""
    return rows[t] if rows.shape[0] > 0 else t


@njit(cache=True, nogil=True)
def shift_rows(log_frame, shift):  # pragma: no cover - compiled
    """Subtract each row's maximum in place, ``log b_t(k) − m_t``, and store ``m_t`` in ``shift``.

    Finite values below ``LOG_CLAMP`` are raised to it (−inf, an impossible emission, stays):
    their exponentials would be subnormal, which costs NumPy's exponential and the recursions
    ten times the time, and a step where such values matter sends its sequence to the exact
    log-space kernel anyway (``STEP_FLOOR``). A row that is −inf throughout (an observation
    impossible in every state) is left as it is, with ``m_t = −inf``.
    """
    for t in range(log_frame.shape[0]):
        best = -np.inf
        for k in range(log_frame.shape[1]):
            best = max(best, log_frame[t, k])
        shift[t] = best
        if best > -np.inf:
            for k in range(log_frame.shape[1]):
                value = log_frame[t, k] - best
                log_frame[t, k] = LOG_CLAMP if -np.inf < value < LOG_CLAMP else value


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def forward_scaled(frame, shift, rows, offsets, startprob, transmat, alpha, log_scales, seq_status):  # pragma: no cover
    """Scaled forward pass over a batch of sequences (see the module docstring).

    ``frame`` holds the scaled likelihoods ``b_t(k) e^{−m_t}`` and ``shift`` the ``m_t`` (from
    :func:`shift_rows` and an exponential), step ``t`` in their row ``rows[t]`` (row ``t`` when
    ``rows`` is empty). Writes ``α̃_t ∝ p(x_1..x_t, z_t)`` into
    ``alpha`` (n, K) (``α̃_t = (α̃_{t−1} A) ∘ b_t``, rescaled when its sum falls below
    ``RESCALE_BELOW`` and at the last step); writes ``m_t`` plus the log of any rescaling at step
    ``t`` into ``log_scales`` (n,), whose sum over a sequence is its ``log p(x)``
    (:func:`sum_log_scales`), and into ``seq_status`` 0 for a sequence done, −inf when an
    observation is impossible in every state, NaN when a step kept less than ``STEP_FLOOR`` of
    the mass (the caller redoes NaN sequences with :func:`forward_backward_log`).
    """
    n_states = transmat.shape[0]
    if VECTOR_FORWARD_MIN_STATES <= n_states <= VECTOR_STATES:
        _forward_vector(frame, shift, rows, offsets, startprob, transmat, alpha, log_scales, seq_status)
        return
    transposed = np.ascontiguousarray(transmat.T)
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        status = 0.0
        previous = 1.0  # the forward mass before the step
        for t in range(first, stop):
            row = _row(rows, t)
            if shift[row] == -np.inf:
                status = -np.inf
                break
            total = 0.0
            if t == first:
                for k in range(n_states):
                    alpha[t, k] = startprob[k] * frame[row, k]
                    total += alpha[t, k]
            else:
                # (α̃_{t−1} A)_k as a dot product with the k-th column: independent sums.
                for k in range(n_states):
                    acc = 0.0
                    for i in range(n_states):
                        acc += alpha[t - 1, i] * transposed[k, i]
                    alpha[t, k] = acc * frame[row, k]
                    total += alpha[t, k]
            log_scales[t] = shift[row]
            if not total >= STEP_FLOOR * previous:
                status = np.nan
                break
            previous = total
            if total < RESCALE_BELOW or t == stop - 1:
                inverse = 1.0 / total
                for k in range(n_states):
                    alpha[t, k] *= inverse
                log_scales[t] += math.log(total)
                previous = 1.0
        seq_status[s] = status


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def backward_scaled(frame, rows, offsets, transmat, beta, beta_scale, seq_status):  # pragma: no cover - compiled
    """Scaled backward pass, independent of the forward one (so both can run at once); the frame
    of step ``t`` is ``frame[rows[t]]`` (``frame[t]`` when ``rows`` is empty).

    Writes ``β̃_t ∝ p(x_{t+1}..x_T | z_t)`` into ``beta`` (n, K): ``β̃_T = 1`` and
    ``β̃_t = s_t A (b_{t+1} ∘ β̃_{t+1})`` with ``s_t = 1`` unless the sum fell below
    ``RESCALE_BELOW`` (then ``s_t`` makes it one), ``s_t`` into ``beta_scale`` (n,). Sets
    ``seq_status`` to NaN for a sequence where a step kept less than ``STEP_FLOOR`` of the mass
    (leaves it alone otherwise).
    """
    n_states = transmat.shape[0]
    if n_states <= VECTOR_STATES:
        _backward_vector(frame, rows, offsets, transmat, beta, beta_scale, seq_status)
        return
    weighted = np.empty(n_states)
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        for k in range(n_states):
            beta[stop - 1, k] = 1.0
        beta_scale[stop - 1] = 1.0
        previous = float(n_states)
        for t in range(stop - 2, first - 1, -1):
            row = _row(rows, t + 1)
            for k in range(n_states):
                weighted[k] = frame[row, k] * beta[t + 1, k]
            mass = 0.0
            for i in range(n_states):
                acc = 0.0
                for k in range(n_states):
                    acc += transmat[i, k] * weighted[k]
                beta[t, i] = acc
                mass += acc
            if not mass >= STEP_FLOOR * previous:
                seq_status[s] = np.nan
                break
            previous = mass
            scale = 1.0
            if mass < RESCALE_BELOW:
                scale = 1.0 / mass
                for i in range(n_states):
                    beta[t, i] *= scale
                previous = 1.0
            beta_scale[t] = scale


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def combine_scaled(frame, rows, beta, beta_scale, offsets, first_row, stop_row, transmat, posteriors, seq_status,
                   start_counts, trans_counts, occupancy, row_counts):  # pragma: no cover - compiled
    """Posteriors and expected counts of rows ``first_row:stop_row`` from the two passes.

    ``posteriors`` holds ``α̃`` on entry (from :func:`forward_scaled`) and ``γ_t = α̃_t ∘ β̃_t /
    (α̃_t · β̃_t)`` on exit; ``ξ_t(i, j) = α̃_t(i) A_ij b_{t+1}(j) β̃_{t+1}(j) s_t / (α̃_t · β̃_t)``
    (the normaliser is the numerator's sum, since ``β̃_t = s_t A (b_{t+1} ∘ β̃_{t+1})``).
    For each sequence (part) in the range, *adds* ``Σ_t ξ_t`` to ``trans_counts`` (K, K),
    ``Σ_t γ_t`` to ``occupancy`` (K) and, when it starts in the range, ``γ_first`` to
    ``start_counts``; with ``rows``, ``γ_t`` to ``row_counts[rows[t]]`` (leave ``row_counts``
    empty without, and ``trans_counts`` empty for the posteriors alone, which saves the ``K²``
    work of ``ξ``). Sequences whose ``seq_status`` is not 0 are skipped; one where
    ``α̃_t · β̃_t`` falls below ``COMBINE_FLOOR`` gets status NaN (its ``row_counts`` are then
    partial: the caller recounts).
    """
    n_states = transmat.shape[0]
    if n_states <= VECTOR_STATES:
        _combine_vector(frame, rows, beta, beta_scale, offsets, first_row, stop_row, transmat, posteriors,
                        seq_status, start_counts, trans_counts, occupancy, row_counts)
        return
    count_rows = row_counts.shape[0] > 0
    count_transitions = trans_counts.shape[0] > 0
    xi = np.empty((n_states, n_states))
    visits = np.empty(n_states)
    weighted = np.empty(n_states)
    for s in range(offsets.shape[0] - 1):
        first, stop = max(offsets[s], first_row), min(offsets[s + 1], stop_row)
        if first >= stop or seq_status[s] != 0.0:
            continue
        xi[:, :] = 0.0
        visits[:] = 0.0
        for t in range(first, stop):
            dot = 0.0
            for i in range(n_states):
                dot += posteriors[t, i] * beta[t, i]
            if not dot >= COMBINE_FLOOR:
                seq_status[s] = np.nan
                break
            inverse = 1.0 / dot
            if count_transitions and t < offsets[s + 1] - 1:
                factor = beta_scale[t] * inverse
                row = _row(rows, t + 1)
                for k in range(n_states):
                    weighted[k] = frame[row, k] * beta[t + 1, k]
                for i in range(n_states):
                    a = posteriors[t, i] * factor
                    for k in range(n_states):
                        xi[i, k] += a * weighted[k]
            for i in range(n_states):
                posteriors[t, i] *= beta[t, i] * inverse
                visits[i] += posteriors[t, i]
            if count_rows:
                row = rows[t]
                for i in range(n_states):
                    row_counts[row, i] += posteriors[t, i]
        if seq_status[s] != 0.0:
            continue
        for i in range(n_states):
            occupancy[i] += visits[i]
            for k in range(n_states if count_transitions else 0):
                trans_counts[i, k] += xi[i, k] * transmat[i, k]
        if first == offsets[s]:
            for k in range(n_states):
                start_counts[k] += posteriors[first, k]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def backward_combine_scaled(frame, rows, offsets, transmat, posteriors, seq_status, start_counts, trans_counts,
                            occupancy, row_counts):  # pragma: no cover - compiled
    """The backward pass and its combination with the forward one in a single sweep (for one
    thread: it reads each row once instead of three times).

    ``posteriors`` holds ``α̃`` (from :func:`forward_scaled`) on entry and ``γ`` on exit; the
    counts are added as in :func:`combine_scaled`, with ``r_t = A (b_{t+1} ∘ β̃_{t+1})``,
    ``γ_t = α̃_t ∘ r_t / (α̃_t · r_t)`` and ``ξ_t(i, j) = α̃_t(i) A_ij b_{t+1}(j) β̃_{t+1}(j) /
    (α̃_t · r_t)``; ``β̃_t = r_t`` rescaled only when its sum falls below ``RESCALE_BELOW``.
    Sequences whose ``seq_status`` is not 0 are skipped; one where ``α̃_t · r_t`` falls below
    ``COMBINE_FLOOR`` gets status NaN (its ``row_counts``, added as in :func:`combine_scaled`, are
    then partial: the caller recounts). An empty ``trans_counts``: the posteriors alone.
    """
    n_states = transmat.shape[0]
    if n_states <= VECTOR_STATES:
        _backward_combine_vector(frame, rows, offsets, transmat, posteriors, seq_status, start_counts,
                                 trans_counts, occupancy, row_counts)
        return
    count_rows = row_counts.shape[0] > 0
    count_transitions = trans_counts.shape[0] > 0
    beta = np.empty(n_states)
    raw = np.empty(n_states)
    weighted = np.empty(n_states)
    xi = np.empty((n_states, n_states))
    visits = np.empty(n_states)
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        if seq_status[s] != 0.0:
            continue
        xi[:, :] = 0.0
        for k in range(n_states):
            beta[k] = 1.0
            visits[k] = posteriors[stop - 1, k]
        if count_rows:
            row = rows[stop - 1]
            for k in range(n_states):
                row_counts[row, k] += posteriors[stop - 1, k]
        for t in range(stop - 2, first - 1, -1):
            row = _row(rows, t + 1)
            for k in range(n_states):
                weighted[k] = frame[row, k] * beta[k]
            total = 0.0
            mass = 0.0
            for i in range(n_states):
                acc = 0.0
                for k in range(n_states):
                    acc += transmat[i, k] * weighted[k]
                raw[i] = acc
                mass += acc
                total += posteriors[t, i] * acc
            if not total >= COMBINE_FLOOR:
                seq_status[s] = np.nan
                break
            inverse = 1.0 / total
            for i in range(n_states):
                alpha = posteriors[t, i] * inverse
                if count_transitions:
                    for k in range(n_states):
                        xi[i, k] += alpha * weighted[k]
                posteriors[t, i] = alpha * raw[i]
                visits[i] += posteriors[t, i]
            if count_rows:
                row = rows[t]
                for i in range(n_states):
                    row_counts[row, i] += posteriors[t, i]
            rescale = 1.0 / mass if mass < RESCALE_BELOW else 1.0
            for k in range(n_states):
                beta[k] = raw[k] * rescale
        if seq_status[s] != 0.0:
            continue
        for i in range(n_states):
            start_counts[i] += posteriors[first, i]
            occupancy[i] += visits[i]
            for k in range(n_states if count_transitions else 0):
                trans_counts[i, k] += xi[i, k] * transmat[i, k]


@njit(cache=True, nogil=True, inline="always")
def _vector_width(n_states):  # pragma: no cover - compiled
    """Lanes of the vector steps for ``n_states ≤ VECTOR_STATES`` (:func:`max_plus_vector.lanes`)."""
    return 4 if n_states <= 4 else (8 if n_states <= 8 else 16)


@njit(cache=True, nogil=True)
def _forward_vector(frame, shift, rows, offsets, startprob, transmat, alpha, log_scales,
                    seq_status):  # pragma: no cover - compiled
    """:func:`forward_scaled` with its steps on vector registers (:func:`hmm_vector.forward_step`)."""
    frame = np.ascontiguousarray(frame)   # its rows as vectors (a copy only of a small table)
    n_states = transmat.shape[0]
    width = _vector_width(n_states)
    table = padded_matrix(transmat, width, False)
    state = np.zeros(width)   # α̃_{t−1}, zero past K
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        status = 0.0
        previous = 1.0
        for t in range(first, stop):
            row = _row(rows, t)
            if shift[row] == -np.inf:
                status = -np.inf
                break
            if t == first:
                total = 0.0
                for k in range(n_states):
                    alpha[t, k] = startprob[k] * frame[row, k]
                    state[k] = alpha[t, k]
                    total += alpha[t, k]
            else:
                total = forward_step(state, table, frame, row, n_states, alpha, t)
            log_scales[t] = shift[row]
            if not total >= STEP_FLOOR * previous:
                status = np.nan
                break
            previous = total
            if total < RESCALE_BELOW or t == stop - 1:
                inverse = 1.0 / total
                for k in range(n_states):
                    alpha[t, k] *= inverse
                    state[k] *= inverse
                log_scales[t] += math.log(total)
                previous = 1.0
        seq_status[s] = status


@njit(cache=True, nogil=True)
def _backward_vector(frame, rows, offsets, transmat, beta, beta_scale, seq_status):  # pragma: no cover - compiled
    """:func:`backward_scaled` with its steps on vector registers (:func:`hmm_vector.backward_step`)."""
    frame = np.ascontiguousarray(frame)   # its rows as vectors (a copy only of a small table)
    n_states = transmat.shape[0]
    width = _vector_width(n_states)
    table = padded_matrix(transmat, width, True)
    state = np.zeros(width)      # β̃_{t+1}, then A (b_{t+1} ∘ β̃_{t+1})
    weighted = np.zeros(width)
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        for k in range(n_states):
            beta[stop - 1, k] = 1.0
            state[k] = 1.0
        beta_scale[stop - 1] = 1.0
        previous = float(n_states)
        for t in range(stop - 2, first - 1, -1):
            mass = backward_step(state, table, frame, _row(rows, t + 1), n_states, weighted)
            if not mass >= STEP_FLOOR * previous:
                seq_status[s] = np.nan
                break
            previous = mass
            scale = 1.0
            if mass < RESCALE_BELOW:
                scale = 1.0 / mass
                for i in range(n_states):
                    state[i] *= scale
                previous = 1.0
            store_row(state, beta, t, n_states)
            beta_scale[t] = scale


@njit(cache=True, nogil=True)
def _combine_vector(frame, rows, beta, beta_scale, offsets, first_row, stop_row, transmat, posteriors, seq_status,
                    start_counts, trans_counts, occupancy, row_counts):  # pragma: no cover - compiled
    """:func:`combine_scaled` with its steps on vector registers (:func:`hmm_vector.combine_step`)."""
    frame = np.ascontiguousarray(frame)   # its rows as vectors (a copy only of a small table)
    n_states = transmat.shape[0]
    width = _vector_width(n_states)
    count_rows = row_counts.shape[0] > 0
    count_transitions = trans_counts.shape[0] > 0
    ones = np.ones((1, n_states))
    raw = np.zeros(width)        # β̃_t
    alpha = np.zeros(width)      # α̃_t
    weighted = np.zeros(width)   # s_t b_{t+1} ∘ β̃_{t+1}
    visits = np.zeros(width)
    counts = np.zeros((row_counts.shape[0], width))   # row_counts padded to whole vectors
    xi = np.zeros((width, width))
    for s in range(offsets.shape[0] - 1):
        first, stop = max(offsets[s], first_row), min(offsets[s + 1], stop_row)
        if first >= stop or seq_status[s] != 0.0:
            continue
        xi[:, :] = 0.0
        visits[:] = 0.0
        load_row(alpha, posteriors, first, 1.0, ones, 0, n_states)
        for t in range(first, stop):
            load_row(raw, beta, t, 1.0, ones, 0, n_states)
            total = dot(raw, alpha)
            if not total >= COMBINE_FLOOR:
                seq_status[s] = np.nan
                break
            transitions = count_transitions and t < offsets[s + 1] - 1
            if transitions:
                load_row(weighted, beta, t + 1, beta_scale[t], frame, _row(rows, t + 1), n_states)
            combine_step(raw, weighted, alpha, posteriors, t, min(t + 1, stop - 1), 1.0 / total, n_states, visits, xi,
                         transitions, counts, rows[t] if count_rows else 0)
        if seq_status[s] != 0.0:
            continue
        for i in range(n_states):
            occupancy[i] += visits[i]
            for k in range(n_states if count_transitions else 0):
                trans_counts[i, k] += xi[i, k] * transmat[i, k]
        if first == offsets[s]:
            for k in range(n_states):
                start_counts[k] += posteriors[first, k]
    for v in range(counts.shape[0]):
        for k in range(n_states):
            row_counts[v, k] += counts[v, k]


@njit(cache=True, nogil=True)
def _backward_combine_vector(frame, rows, offsets, transmat, posteriors, seq_status, start_counts, trans_counts,
                             occupancy, row_counts):  # pragma: no cover - compiled
    """:func:`backward_combine_scaled` with its steps on vector registers
    (:func:`hmm_vector.backward_step`, then :func:`hmm_vector.combine_step` with ``r_t``)."""
    frame = np.ascontiguousarray(frame)   # its rows as vectors (a copy only of a small table)
    n_states = transmat.shape[0]
    width = _vector_width(n_states)
    table = padded_matrix(transmat, width, True)
    ones = np.ones((1, n_states))
    count_rows = row_counts.shape[0] > 0
    count_transitions = trans_counts.shape[0] > 0
    state = np.zeros(width)      # β̃_{t+1}, then r_t
    alpha = np.zeros(width)      # α̃_t
    weighted = np.zeros(width)   # b_{t+1} ∘ β̃_{t+1}
    visits = np.zeros(width)
    counts = np.zeros((row_counts.shape[0], width))   # row_counts padded to whole vectors
    xi = np.zeros((width, width))
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        if seq_status[s] != 0.0:
            continue
        xi[:, :] = 0.0
        for k in range(n_states):
            state[k] = 1.0
            visits[k] = posteriors[stop - 1, k]
        if count_rows:
            row = rows[stop - 1]
            for k in range(n_states):
                counts[row, k] += posteriors[stop - 1, k]
        if stop - first > 1:
            load_row(alpha, posteriors, stop - 2, 1.0, ones, 0, n_states)
        for t in range(stop - 2, first - 1, -1):
            mass = backward_step(state, table, frame, _row(rows, t + 1), n_states, weighted)
            total = dot(state, alpha)
            if not total >= COMBINE_FLOOR:
                seq_status[s] = np.nan
                break
            combine_step(state, weighted, alpha, posteriors, t, max(t - 1, first), 1.0 / total, n_states, visits, xi,
                         count_transitions, counts, rows[t] if count_rows else 0)
            if mass < RESCALE_BELOW:
                rescale = 1.0 / mass
                for k in range(n_states):
                    state[k] *= rescale
        if seq_status[s] != 0.0:
            continue
        for i in range(n_states):
            start_counts[i] += posteriors[first, i]
            occupancy[i] += visits[i]
            for k in range(n_states if count_transitions else 0):
                trans_counts[i, k] += xi[i, k] * transmat[i, k]
    for v in range(counts.shape[0]):
        for k in range(n_states):
            row_counts[v, k] += counts[v, k]


@njit(cache=True, nogil=True)
def sequences_with_small_entries(frame, rows, offsets, status, flags):  # pragma: no cover - compiled
    """``flags[s]``: sequence ``s``, done by the scaled passes (``status[s] == 0``), reads a scaled
    likelihood in ``(0, SMALL_SCALED]`` (frame rows ``rows[t]``, or ``t`` when ``rows`` is empty)."""
    n_states = frame.shape[1]
    small_row = np.zeros(frame.shape[0] if rows.shape[0] > 0 else 0, dtype=np.bool_)
    for r in range(small_row.shape[0]):
        for k in range(n_states):
            if 0.0 < frame[r, k] <= SMALL_SCALED:
                small_row[r] = True
    for s in range(offsets.shape[0] - 1):
        flags[s] = False
        if status[s] != 0.0:
            continue
        for t in range(offsets[s], offsets[s + 1]):
            if rows.shape[0] > 0:
                small = small_row[rows[t]]
            else:
                small = False
                for k in range(n_states):
                    small |= 0.0 < frame[t, k] <= SMALL_SCALED
            if small:
                flags[s] = True
                break


@njit(cache=True, nogil=True)
def sum_log_scales(log_scales, offsets, seq_loglik):  # pragma: no cover - compiled
    """``log p(x) = Σ_t (log c_t + m_t)`` of each sequence whose ``seq_loglik`` is 0 on entry.

    Neumaier's compensated sum, compiled without fast-math (which would simplify the
    compensation away), so a million steps keep about 15 significant digits.
    """
    for s in range(offsets.shape[0] - 1):
        if seq_loglik[s] != 0.0:
            continue
        total = 0.0
        compensation = 0.0
        for t in range(offsets[s], offsets[s + 1]):
            term = log_scales[t]
            updated = total + term
            if abs(total) >= abs(term):
                compensation += (total - updated) + term
            else:
                compensation += (term - updated) + total
            total = updated
        seq_loglik[s] = total + compensation


@njit(cache=True, nogil=True)
def _logsumexp(values):  # pragma: no cover - compiled
    """``log Σ_i exp(v_i)``, stable; −inf when every entry is −inf."""
    best = -np.inf
    for i in range(values.shape[0]):
        best = max(best, values[i])
    if best == -np.inf:
        return best
    total = 0.0
    for i in range(values.shape[0]):
        total += math.exp(values[i] - best)
    return best + math.log(total)


@njit(cache=True, nogil=True)
def _logsumexp_column(values, log_transmat, column):  # pragma: no cover - compiled
    """``log Σ_i exp(v_i + log A_ij)`` for ``j = column``, stable."""
    best = -np.inf
    for i in range(values.shape[0]):
        value = values[i] + log_transmat[i, column]
        best = max(best, value)
    if best == -np.inf:
        return best
    total = 0.0
    for i in range(values.shape[0]):
        total += math.exp(values[i] + log_transmat[i, column] - best)
    return best + math.log(total)


@njit(cache=True, nogil=True)
def forward_backward_log(log_frame, offsets, log_startprob, log_transmat, posteriors, start_counts, trans_counts,
                         occupancy, seq_loglik):  # pragma: no cover - compiled
    """Forward–backward in log space, same outputs as :func:`forward_backward_scaled`.

    ``log α_t(j) = log b_t(j) + log Σ_i α_{t−1}(i) A_ij`` and the mirror recursion for ``β``;
    exact for any emission densities (no floor), at ``K²`` exponentials per step. ``log_frame``
    is not modified.
    """
    n_rows, n_states = log_frame.shape
    log_alpha = np.empty((n_rows, n_states))
    log_beta = np.empty(n_states)
    next_beta = np.empty(n_states)
    shifted = np.empty(n_states)
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        for k in range(n_states):
            log_alpha[first, k] = log_startprob[k] + log_frame[first, k]
        for t in range(first + 1, stop):
            for k in range(n_states):
                log_alpha[t, k] = _logsumexp_column(log_alpha[t - 1], log_transmat, k) + log_frame[t, k]
        loglik = _logsumexp(log_alpha[stop - 1])
        seq_loglik[s] = loglik
        if loglik == -np.inf:
            continue
        for k in range(n_states):
            log_beta[k] = 0.0
            posteriors[stop - 1, k] = math.exp(log_alpha[stop - 1, k] - loglik)
        for t in range(stop - 2, first - 1, -1):
            for k in range(n_states):
                shifted[k] = log_frame[t + 1, k] + log_beta[k]
            for i in range(n_states):
                next_beta[i] = _logsumexp_column(shifted, log_transmat.T, i)
            # Normalise frame by frame, log p(x) = log Σ_k α_t(k) β_t(k), so that rounding in
            # the long recursions does not accumulate in γ and ξ.
            for k in range(n_states):
                shifted[k] = log_alpha[t, k] + next_beta[k]
            norm = _logsumexp(shifted)
            for i in range(n_states):
                for k in range(n_states):
                    value = log_alpha[t, i] + log_transmat[i, k] + log_frame[t + 1, k] + log_beta[k] - norm
                    if value > -np.inf:
                        trans_counts[i, k] += math.exp(value)
            for k in range(n_states):
                log_beta[k] = next_beta[k]
                posteriors[t, k] = math.exp(shifted[k] - norm) if shifted[k] > -np.inf else 0.0
        for t in range(first, stop):
            for k in range(n_states):
                occupancy[k] += posteriors[t, k]
        for k in range(n_states):
            start_counts[k] += posteriors[first, k]


@njit(cache=True, nogil=True, inline="always")
def _row_shift(log_frame, row):  # pragma: no cover - compiled
    """The largest finite entry of ``log_frame[row]`` (0 when none is)."""
    largest = -np.inf
    for k in range(log_frame.shape[1]):
        if log_frame[row, k] > largest and log_frame[row, k] < np.inf:
            largest = log_frame[row, k]
    return largest if largest > -np.inf else 0.0


@njit(cache=True, nogil=True, inline="always")
def _add_compensated(total, compensation, term):  # pragma: no cover - compiled
    """One step of Neumaier's compensated sum: ``(total + term, compensation)``."""
    updated = total + term
    if abs(total) >= abs(term):
        compensation += (total - updated) + term
    else:
        compensation += (term - updated) + total
    return updated, compensation


@njit(cache=True, nogil=True)
def viterbi(log_frame, rows, offsets, log_startprob, log_transmat, pointers, path,
            seq_logprob):  # pragma: no cover - compiled
    """Most probable state path of each sequence, ``argmax_z log p(x, z)``, in log space.

    ``δ_t(j) = log b_t(j) − m_t + max_i (δ_{t−1}(i) + log A_ij)`` with back-pointers, from the
    frame log-likelihoods ``log b_t`` in row ``rows[t]`` of ``log_frame`` (row ``t`` when ``rows``
    is empty) less their largest finite value ``m_t`` (0 when none is finite), so that rows of
    huge magnitude do not absorb the others' differences; ties go to the lowest state index.
    ``pointers`` (n, K), of an integer type that holds ``K − 1``, is scratch. Writes the states
    into ``path`` (n,) and ``max_z log p(x, z) = max_k δ_T(k) + Σ_t m_t`` (a compensated sum)
    into ``seq_logprob``.
    """
    n_states = log_transmat.shape[0]
    delta = np.empty(n_states)
    best = np.empty(n_states)
    argbest = np.empty(n_states, dtype=pointers.dtype)
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        row = _row(rows, first)
        shift = _row_shift(log_frame, row)
        total, compensation = shift, 0.0
        for k in range(n_states):
            delta[k] = log_startprob[k] + (log_frame[row, k] - shift)
        for t in range(first + 1, stop):
            # state by state of the previous step, all next states at once (a vector maximum)
            for k in range(n_states):
                best[k] = delta[0] + log_transmat[0, k]
                argbest[k] = 0
            for i in range(1, n_states):
                previous = delta[i]
                for k in range(n_states):
                    value = previous + log_transmat[i, k]
                    if value > best[k]:
                        best[k] = value
                        argbest[k] = i
            row = _row(rows, t)
            shift = _row_shift(log_frame, row)
            total, compensation = _add_compensated(total, compensation, shift)   # Σ_t m_t
            for k in range(n_states):
                pointers[t, k] = argbest[k]
                delta[k] = best[k] + (log_frame[row, k] - shift)
        top, state = -np.inf, 0
        for k in range(n_states):
            if delta[k] > top:
                top, state = delta[k], k
        seq_logprob[s] = top + (total + compensation)
        path[stop - 1] = state
        for t in range(stop - 1, first, -1):
            state = pointers[t, state]
            path[t - 1] = state


@njit(cache=True, nogil=True)
def viterbi_vector(log_frame, rows, offsets, log_startprob, log_transmat, pointers, path,
                   seq_logprob):  # pragma: no cover - compiled
    """:func:`viterbi` for at most 64 states, its path and ``seq_logprob`` bit for bit.

    Each step ``δ_t(j) = log b_t(j) − m_t + max_i (δ_{t−1}(i) + log A_ij)`` and its back-pointers
    run for all next states ``j`` at once in vector registers
    (:func:`emkit.kernels.max_plus_vector.viterbi_step`: the scalar kernel's sums, and maxima that
    are the same numbers). ``pointers`` is uint8, C-contiguous, of shape (n, ``lanes(K)``); its
    columns past ``K`` are scratch. With ``rows``, the shifted table ``log b_v − m_v`` is made once.
    """
    n_states = log_transmat.shape[0]
    width = pointers.shape[1]
    table = padded_transmat(log_transmat, width)
    scan_always = not np.all(table < np.inf)          # NaN or +inf in log A: every step scans in order
    delta = np.full(width, -np.inf)
    n_frame = log_frame.shape[0] if rows.size else 1
    emission = np.zeros((n_frame, width))               # log b − m, padded with zeros
    shifts = np.zeros(n_frame)
    if rows.size:
        for v in range(n_frame):
            shifts[v] = _row_shift(log_frame, v)
            for k in range(n_states):
                emission[v, k] = log_frame[v, k] - shifts[v]
    for s in range(offsets.shape[0] - 1):
        first, stop = offsets[s], offsets[s + 1]
        row = _row(rows, first)
        shift = _row_shift(log_frame, row)
        total, compensation = shift, 0.0
        for k in range(n_states):
            delta[k] = log_startprob[k] + (log_frame[row, k] - shift)
        for t in range(first + 1, stop):
            if rows.size:
                row = rows[t]
                shift = shifts[row]
            else:
                row = 0
                shift = _row_shift(log_frame, t)
                for k in range(n_states):
                    emission[0, k] = log_frame[t, k] - shift
            total, compensation = _add_compensated(total, compensation, shift)   # Σ_t m_t
            viterbi_step(delta, table, scan_always, emission, row, pointers, t)
        top, state = -np.inf, 0
        for k in range(n_states):
            if delta[k] > top:
                top, state = delta[k], k
        seq_logprob[s] = top + (total + compensation)
        path[stop - 1] = state
        for t in range(stop - 1, first, -1):
            state = pointers[t, state]
            path[t - 1] = state


@njit(cache=True, nogil=True)
def sample_states(startprob, transmat, uniforms, offsets, path):  # pragma: no cover - compiled
    """Markov chain paths by inversion: ``z_t = min{k : Σ_{i≤k} P(k | z_{t−1}) > u_t}``."""
    n_states = startprob.shape[0]
    for s in range(offsets.shape[0] - 1):
        for t in range(offsets[s], offsets[s + 1]):
            cumulative = 0.0
            state = n_states - 1
            for k in range(n_states):
                cumulative += startprob[k] if t == offsets[s] else transmat[path[t - 1], k]
                if uniforms[t] < cumulative:
                    state = k
                    break
            path[t] = state
