"""Sums and normalisations of short float64 vectors in compiled code, equal bit for bit to NumPy's.

Small M-steps run in one compiled call where NumPy would spend its time in per-call overhead;
to give exactly NumPy's results they add in NumPy's order (its pairwise sum keeps eight partial
sums for vectors of 8 to 128 values).
"""

from __future__ import annotations

from numba import njit

#: The longest vector whose NumPy sum :func:`numpy_sum` reproduces (NumPy's pairwise block).
MAX_TERMS = 128


@njit(cache=True, nogil=True, error_model="numpy")
def numpy_sum(values):  # pragma: no cover - compiled
    """``np.sum`` of a contiguous float64 vector of at most :data:`MAX_TERMS` values, bit
    for bit: NumPy's pairwise sum, which below 8 values adds in order from 0 and up to 128 keeps 8
    partial sums."""
    count = values.shape[0]
    if count < 8:
        total = 0.0
        for i in range(count):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[0], values[1], values[2], values[3]
    r4, r5, r6, r7 = values[4], values[5], values[6], values[7]
    i = 8
    while i < count - count % 8:
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < count:
        total += values[i]
        i += 1
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def dirichlet_mode_row(counts, prior, previous, out):  # pragma: no cover - compiled
    """One row of :func:`emkit.families.dirichlet.posterior_mode`, bit for bit: ``out_j ∝
    max(n_j, 0) + α_j − 1`` (0 where ``previous_j`` is a structural zero), or ``previous`` when
    that is all zero; returns whether it was (the row is empty)."""
    count = counts.shape[0]
    for j in range(count):
        value = counts[j]
        out[j] = 0.0 if previous[j] == 0.0 else (value if value >= 0.0 or value != value else 0.0) + (prior[j] - 1.0)
    total = numpy_sum(out)
    for j in range(count):
        out[j] = out[j] / total if total > 0.0 else previous[j]
    return total <= 0.0
