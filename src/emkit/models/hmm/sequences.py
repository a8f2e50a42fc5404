"""Many sequences in one array: validation of ``lengths``, batches, and their threaded map.

Sequences are stored one after another in the rows of ``X``; ``offsets = [0, cumsum(lengths)]``
delimits them. For the E-step they are cut into contiguous *batches* of whole sequences with
about equal numbers of rows, one per worker thread: the compiled kernels release the GIL, so the
batches run in parallel and their (additive) statistics are summed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def check_lengths(lengths: Sequence[int] | np.ndarray | None, n_samples: int) -> np.ndarray:
    """``offsets`` (int64, length ``n_sequences + 1``) from the sequence ``lengths``.

    Raises
    ------
    ValueError
        Naming ``lengths`` when they are not positive integers summing to ``n_samples``.
    """
    if lengths is None:
        if n_samples < 1:
            raise ValueError("X: no observations")
        return np.array([0, n_samples], dtype=np.int64)
    array = np.asarray(lengths)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"lengths: expected a non-empty 1-D sequence of integers, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.all(np.isfinite(array) & (array == np.round(array)))):
        raise ValueError(f"lengths: expected integers, got {array.tolist()[:10]}")
    array = array.astype(np.int64)
    if np.any(array < 1):
        raise ValueError(f"lengths: every sequence needs at least one observation, got {array.tolist()[:10]}")
    if int(array.sum()) != n_samples:
        raise ValueError(f"lengths: sum to {int(array.sum())} but X has {n_samples} rows")
    return np.concatenate([[0], np.cumsum(array)]).astype(np.int64)


def default_n_jobs(n_jobs: int | None) -> int:
    """Number of worker threads: ``n_jobs``, or the number of CPUs when None."""
    if n_jobs is None:
        return os.cpu_count() or 1
    if not (isinstance(n_jobs, (int, np.integer)) and n_jobs >= 1):
        raise ValueError(f"n_jobs: must be a positive integer or None, got {n_jobs!r}")
    return int(n_jobs)


@dataclass(frozen=True)
class Batch:
    """Rows ``start:stop`` of the data, holding whole sequences delimited by local ``offsets``;
    ``data`` is those rows as the emission model wants them (e.g. with missingness patterns)."""

    start: int
    stop: int
    offsets: np.ndarray
    data: Any = field(repr=False)


@dataclass(frozen=True)
class Sequences:
    """Observations of one or more sequences, prepared for the E-step.

    Attributes
    ----------
    X : ndarray, shape (n_samples, ...)
        The observations, sequences one after another (as the emission model prepared them).
    offsets : ndarray of int64, shape (n_sequences + 1,)
        Sequence ``s`` is ``X[offsets[s]:offsets[s + 1]]``.
    batches : list of Batch
        Contiguous groups of whole sequences, one per worker thread.
    """

    X: np.ndarray
    offsets: np.ndarray
    batches: list[Batch] = field(repr=False)

    @classmethod
    def build(cls, X: np.ndarray, offsets: np.ndarray, n_batches: int,
              batch_data: Callable[[np.ndarray], Any]) -> "Sequences":
        """Split the sequences into at most ``n_batches`` batches of about equal row counts;
        ``batch_data(rows)`` gives each batch's :attr:`Batch.data`."""
        n_sequences = offsets.size - 1
        targets = np.linspace(0, offsets[-1], min(n_batches, n_sequences) + 1)[1:-1]
        cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, targets), [n_sequences]]))
        batches = [Batch(int(offsets[a]), int(offsets[b]), offsets[a:b + 1] - offsets[a],
                         batch_data(X[offsets[a]:offsets[b]]))
                   for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        return cls(X, offsets, batches)

    @property
    def n_samples(self) -> int:
        """Total number of observations (rows)."""
        return int(self.offsets[-1])

    @property
    def n_sequences(self) -> int:
        """Number of sequences."""
        return int(self.offsets.size - 1)


def map_batches(function: Callable[[Batch], T], batches: list[Batch]) -> list[T]:
    """``[function(b) for b in batches]``, one thread per batch when there are several."""
    if len(batches) == 1:
        return [function(batches[0])]
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        return list(pool.map(function, batches))
