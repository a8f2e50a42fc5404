"""Categorical (multinomial) pieces shared by the count-data models.

A probability vector ``p = (p_1, ..., p_m)`` has the free coordinates ``θ = (p_1, ..., p_{m−1})``
with ``p_m = 1 − Σθ``. Complete data that are category counts ``c`` have the log-likelihood
``Σ_k c_k log p_k``, whose score and information in ``θ`` are given here, together with the
multinomial resampling of a table of counts (the nonparametric bootstrap of i.i.d. categorical
observations).
"""

from __future__ import annotations

import numpy as np


def free_probabilities(p: np.ndarray) -> np.ndarray:
    """The free coordinates ``(p_1, ..., p_{m−1})`` of a probability vector."""
    return free_rows(p)


def full_probabilities(free: np.ndarray) -> np.ndarray:
    """The probability vector ``(θ, 1 − Σθ)`` from its free coordinates."""
    return rows_from_free(free, (np.size(free) + 1,))


def categorical_scores(p: np.ndarray) -> np.ndarray:
    """Score of one draw of each category in the free coordinates, shape ``(m−1, m)``.

    Column ``k`` is ``∂/∂θ log p_k``: ``e_k / p_k`` for ``k < m`` and ``−1 / p_m`` (every entry)
    for the last category.
    """
    m = p.size
    scores = np.zeros((m - 1, m))
    scores[np.arange(m - 1), np.arange(m - 1)] = 1.0 / p[:-1]
    scores[:, -1] = -1.0 / p[-1]
    return scores


def categorical_information(counts: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Information of counts ``c`` in the free coordinates: ``−∂²/∂θ² Σ_k c_k log p_k``.

    ``diag(c_k / p_k², k < m) + (c_m / p_m²) 11ᵀ``; with expected counts it is the expected
    complete-data information.
    """
    counts = np.asarray(counts, dtype=float)
    return np.diag(counts[:-1] / p[:-1] ** 2) + counts[-1] / p[-1] ** 2


def free_rows(p: np.ndarray) -> np.ndarray:
    """The free coordinates of a probability vector, or of each row of a matrix, flat."""
    return np.asarray(p, dtype=float)[..., :-1].ravel()


def rows_from_free(free: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`free_rows` for probabilities of ``shape`` (a vector or rows)."""
    free = np.asarray(free, dtype=float).reshape(shape[:-1] + (shape[-1] - 1,))
    return np.concatenate([free, 1.0 - free.sum(axis=-1, keepdims=True)], axis=-1)


def rows_information(counts: np.ndarray, p: np.ndarray) -> np.ndarray:
    """:func:`categorical_information` of each row of ``p`` with its ``counts``, block diagonal
    (a vector is one row)."""
    counts, p = np.atleast_2d(counts), np.atleast_2d(p)
    m = p.shape[1] - 1
    out = np.zeros((p.shape[0] * m, p.shape[0] * m))
    for i in range(p.shape[0]):
        out[i * m:(i + 1) * m, i * m:(i + 1) * m] = categorical_information(counts[i], p[i])
    return out


def rows_labels(name: str, shape: tuple[int, ...]) -> list[str]:
    """Labels of :func:`free_rows`' entries: ``name[j]`` or ``name[i,j]`` (j below the last)."""
    if len(shape) == 1:
        return [f"{name}[{j}]" for j in range(shape[0] - 1)]
    return [f"{name}[{i},{j}]" for i in range(shape[0]) for j in range(shape[1] - 1)]


def resample_counts(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A table of counts of ``N = Σ counts`` i.i.d. draws from the observed table (multinomial)."""
    total = int(round(float(np.sum(counts))))
    return rng.multinomial(total, counts / np.sum(counts)).astype(float)
