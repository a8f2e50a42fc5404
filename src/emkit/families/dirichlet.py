"""Rows of probabilities re-estimated from expected counts with Dirichlet pseudo-counts.

With a ``Dirichlet(α)`` prior on a probability row ``p`` and expected counts ``n``, the M-step
(the posterior mode) is ``p_j ∝ n_j + α_j − 1``; ``α = 1`` is the flat prior (maximum
likelihood). The prior adds ``Σ_j (α_j − 1) log p_j`` to the objective EM ascends. Entries that
are exactly zero in the current row are *structural* zeros (a forbidden transition, as in a
left-right model): they stay zero and the prior ignores them. A row with no counts and no
pseudo-counts keeps its previous value instead of becoming 0/0.
"""

from __future__ import annotations

import numpy as np

from ..kernels.small_sums import MAX_TERMS, dirichlet_mode_row
from ..validation import MAX_EXACT_INTEGER

#: How far from one the sum of a row of probabilities may be.
SUM_TOLERANCE = 1e-8


def check_concentration(prior: float | np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``prior`` broadcast to ``shape`` as floats ``≥ 1``; ``ValueError`` naming ``name`` otherwise.

    Concentrations below one would make the posterior mode run off to the boundary, and ones
    above ``2**53`` (pseudo-counts no count could match) overflow the log prior, so both are
    refused.
    """
    try:
        array = np.broadcast_to(np.asarray(prior, dtype=float), shape).copy()
    except (ValueError, TypeError):
        raise ValueError(f"{name}: expected a number or an array of shape {shape}, got {prior!r}") from None
    if not ((array >= 1.0) & (array <= MAX_EXACT_INTEGER)).all():   # NaN and ±inf fail too
        raise ValueError(f"{name}: Dirichlet concentrations must be at least 1 (pseudo-counts α − 1 ≥ 0) and at "
                         f"most 2**53, got {np.unique(array).tolist()[:5]}")
    return array


def posterior_mode(counts: np.ndarray, prior: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``p_j ∝ n_j + α_j − 1`` (last axis), structural zeros kept, empty rows kept.

    Returns ``(rows, empty)`` where ``empty`` flags the rows that had nothing to re-estimate them
    (no counts, no pseudo-counts) and kept ``previous``.
    """
    if _one_short_row(counts, prior, previous):
        rows = np.empty_like(counts)
        return rows, np.bool_(dirichlet_mode_row(counts, prior, previous, rows))
    pseudo = np.where(previous == 0.0, 0.0, np.maximum(counts, 0.0) + (prior - 1.0))
    totals = pseudo.sum(axis=-1, keepdims=True)
    empty = totals[..., 0] <= 0.0
    rows = np.where(totals > 0.0, pseudo / np.where(totals > 0.0, totals, 1.0), previous)
    return rows, empty


def _one_short_row(counts, prior, previous) -> bool:
    """One float64 row of at most ``MAX_TERMS`` entries (as a mixture's weights): the compiled
    :func:`~emkit.kernels.small_sums.dirichlet_mode_row` gives NumPy's result without its per-call
    overhead."""
    arrays = (counts, prior, previous)
    return (all(type(array) is np.ndarray and array.dtype == np.float64 for array in arrays)
            and counts.ndim == 1 and counts.shape[0] <= MAX_TERMS
            and prior.shape == counts.shape and previous.shape == counts.shape)


def log_density(rows: np.ndarray, prior: np.ndarray) -> float:
    """``Σ (α_j − 1) log p_j`` over the entries that are not structural zeros."""
    informative = (prior != 1.0) & (rows > 0.0)
    return float(np.sum((prior[informative] - 1.0) * np.log(rows[informative])))


def check_probability_rows(values, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``values`` as non-negative float rows of ``shape`` summing to one; ``ValueError`` naming ``name``."""
    array = np.array(values, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name}: probabilities must be finite and non-negative")
    sums = array.sum(axis=-1)
    if np.any(np.abs(sums - 1.0) > SUM_TOLERANCE):
        raise ValueError(f"{name}: each row must sum to 1, got sums {np.round(np.ravel(sums), 10).tolist()[:10]}")
    return array


def is_probability_rows(array: np.ndarray) -> bool:
    """Whether every row of ``array`` is finite, non-negative and sums to one."""
    return bool(np.all(np.isfinite(array)) and np.all(array >= 0)
                and np.all(np.abs(array.sum(axis=-1) - 1.0) <= SUM_TOLERANCE))
