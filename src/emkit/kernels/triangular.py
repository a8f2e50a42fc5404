"""Compiled triangular solves for batches of small matrices."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def inverse_transposed(lower, out):  # pragma: no cover - compiled
    """``out[k] = lower[k]⁻ᵀ`` (upper triangular) by forward substitution on the columns of the
    identity, ``L x = e_j``: the triangular solve of LAPACK's ``trsm`` without the cost of a
    scipy call per matrix (tens of microseconds, the whole M-step of a small mixture)."""
    k, d, _ = lower.shape
    for c in range(k):
        for j in range(d):
            for a in range(d):
                out[c, j, a] = 0.0
            for a in range(j, d):
                s = 1.0 if a == j else 0.0
                for b in range(j, a):
                    s -= lower[c, a, b] * out[c, j, b]
                out[c, j, a] = s / lower[c, a, a]
