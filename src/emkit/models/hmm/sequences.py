"""Many sequences in one array: validation of ``lengths``, batches and blocks, a threaded map.

Sequences are stored one after another in the rows of ``X``; ``offsets = [0, cumsum(lengths)]``
delimits them. For the E-step the rows are cut two ways, one piece per worker thread: *batches*
of whole sequences for the recursions and *blocks* of rows for the emission work. The compiled
kernels and NumPy release the GIL, so the pieces run in parallel; their statistics add up.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, TypeVar

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
    """Rows ``start:stop`` holding whole sequences, delimited by the local ``offsets``: the unit
    of the forward–backward and Viterbi recursions. ``workspace`` keeps its scratch arrays from
    one E-step to the next."""

    start: int
    stop: int
    offsets: np.ndarray
    workspace: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Block:
    """Rows ``start:stop`` (sequences may cross its ends): the unit of the emission work, with
    ``data`` those rows as the emission model wants them (e.g. with missingness patterns)."""

    start: int
    stop: int
    data: Any = field(repr=False)


@dataclass(frozen=True)
class Sequences:
    """Observations of one or more sequences, prepared for the E-step.

    Emission densities and statistics are computed per row, so they run on ``blocks`` of about
    equal size whatever the sequences; the recursions need whole sequences and run on
    ``batches``. Both run in parallel threads (one E-step at a time per ``Sequences``: the
    ``workspace`` arrays are reused from one E-step to the next).

    Attributes
    ----------
    X : ndarray, shape (n_samples, ...)
        The observations, sequences one after another (as the emission model prepared them).
    offsets : ndarray of int64, shape (n_sequences + 1,)
        Sequence ``s`` is ``X[offsets[s]:offsets[s + 1]]``.
    batches : list of Batch
        Contiguous groups of whole sequences of about equal row counts.
    blocks : list of Block
        Contiguous row ranges of about equal size.
    """

    X: np.ndarray
    offsets: np.ndarray
    batches: list[Batch] = field(repr=False)
    blocks: list[Block] = field(repr=False)
    workspace: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, X: np.ndarray, offsets: np.ndarray, n_threads: int,
              block_data: Callable[[np.ndarray], Any]) -> Sequences:
        """At most ``n_threads`` batches and blocks; ``block_data(rows)`` gives each
        :attr:`Block.data`."""
        n_sequences, n_rows = offsets.size - 1, int(offsets[-1])
        targets = np.linspace(0, n_rows, min(n_threads, n_sequences) + 1)[1:-1]
        cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, targets), [n_sequences]]))
        batches = [Batch(int(offsets[a]), int(offsets[b]), offsets[a:b + 1] - offsets[a])
                   for a, b in pairwise(cuts)]
        edges = np.unique(np.linspace(0, n_rows, min(n_threads, n_rows) + 1).astype(int))
        blocks = [Block(int(a), int(b), block_data(X[a:b])) for a, b in pairwise(edges)]
        return cls(X, offsets, batches, blocks)

    @property
    def n_samples(self) -> int:
        """Total number of observations (rows)."""
        return int(self.offsets[-1])

    @property
    def n_sequences(self) -> int:
        """Number of sequences."""
        return int(self.offsets.size - 1)

    def buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A scratch array of ``shape`` kept in :attr:`workspace` under ``name``."""
        return reusable(self.workspace, name, shape)


def reusable(workspace: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``workspace[name]`` if it has ``shape``, else a new (uninitialised) array stored there."""
    array = workspace.get(name)
    if array is None or array.shape != shape:
        array = workspace[name] = np.empty(shape)
    return array


class _SharedPool:
    """One thread pool for every E-step of the process, grown on demand: starting threads anew
    at every iteration would cost milliseconds each on a busy machine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._size = 0

    def get(self, size: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._size < size:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="emkit-hmm")
                self._size = size
            return self._pool


_POOL = _SharedPool()


def parallel_map(function: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    """``[function(item) for item in items]``: the first item in this thread, the others in
    the shared pool's threads (the compiled kernels and NumPy release the GIL)."""
    if len(items) == 1:
        return [function(items[0])]
    futures = [_POOL.get(len(items) - 1).submit(function, item) for item in items[1:]]
    try:
        first = function(items[0])
    finally:
        wait(futures)  # never leave a thread writing into the caller's arrays
    return [first] + [future.result() for future in futures]
