"""Diagonal Gaussian log-densities of rows seen once (an HMM's decoding and scoring), in one pass.

``log N(x | μ_k, diag σ²_k) = c_k − ½ Σ_j (x_j − μ_kj)² / σ²_kj`` with
``c_k = −½ (d log 2π + Σ_j log σ²_kj)``, written straight into the (n, K) frame: no features
``Φ`` of the rows, no missingness layout and no product (the fit's E-step visits the same rows
every iteration and keeps their features for its product form; a single pass over new rows does
not pay for them). Every term is a square times a positive number, so the sum has no
cancellation: its relative error is a few units in the last place of each term, whatever the
distance of the rows from the means.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LOG_2PI = float(np.log(2.0 * np.pi))

#: Rows per tile: the kernel runs over the rows of a tile (vectorised) for each state and feature.
TILE_ROWS = 64


def diagonal_terms(means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's parameters from ``means`` (K, d) and ``variances`` (K, d): ``μᵀ`` and
    ``(1/σ²)ᵀ`` (d, K), C-contiguous, and the constants ``c_k`` (K,)."""
    d = means.shape[1]
    constants = -0.5 * (d * LOG_2PI + np.log(variances).sum(axis=1))
    return np.ascontiguousarray(means.T), np.ascontiguousarray((1.0 / variances).T), constants


@njit(cache=True, nogil=True)
def diagonal_log_densities(X, means_t, precisions_t, constants, out):  # pragma: no cover - compiled
    """``out[r, k] = constants[k] − ½ Σ_j (X[r, j] − μ_kj)² / σ²_kj`` (``means_t``, ``precisions_t``
    of shape (d, K)); returns whether every value is above −∞ (False for a missing value, NaN, or
    a distance beyond the float range: the caller then takes the general route). Tiles of
    :data:`TILE_ROWS` rows, each state's sums over the tile's rows in a contiguous (vectorised)
    loop, then written row by row."""
    n, d = X.shape
    k = constants.shape[0]
    tile = np.empty((k, TILE_ROWS))
    columns = np.empty((d, TILE_ROWS))
    lost = np.zeros(TILE_ROWS, dtype=np.bool_)
    for first in range(0, n, TILE_ROWS):
        m = min(TILE_ROWS, n - first)
        for j in range(d):
            for i in range(m):
                columns[j, i] = X[first + i, j]
        for c in range(k):
            location, precision = means_t[0, c], precisions_t[0, c]
            for i in range(m):
                diff = columns[0, i] - location
                tile[c, i] = diff * diff * precision
            for j in range(1, d):
                location, precision = means_t[j, c], precisions_t[j, c]
                for i in range(m):
                    diff = columns[j, i] - location
                    tile[c, i] += diff * diff * precision
            constant = constants[c]
            for i in range(m):
                value = constant - 0.5 * tile[c, i]
                lost[i] |= not value > -np.inf
                tile[c, i] = value
        for i in range(m):
            for c in range(k):
                out[first + i, c] = tile[c, i]
    for i in range(TILE_ROWS):
        if lost[i]:
            return False
    return True
