"""Many sequences in one array: validation of ``lengths``, batches and blocks, a threaded map.

Sequences are stored one after another in the rows of ``X``; ``offsets = [0, cumsum(lengths)]``
delimits them. For the E-step the rows are cut two ways, one piece per worker thread: *batches*
of whole sequences for the recursions and *blocks* of rows for the emission work. The compiled
kernels and NumPy release the GIL, so the pieces run in parallel; their statistics add up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, partial
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np

from ..kernels.parallel import run_in_threads

T = TypeVar("T")

#: Rows per block of the emission work: the block's features, frame and posteriors stay in the
#: cache between the passes over it (and many small products run faster than one big one).
BLOCK_ROWS = 8192

#: The sequences are cut into up to this many batches, taken by the threads as they come free
#: (a thread slowed down by another process then does fewer of them). The number does not depend
#: on the threads, so neither does any sum over batches.
MAX_BATCHES = 8

#: With enough rows, the emission work is cut into at least this many blocks (of at least
#: :data:`MIN_BLOCK_ROWS` rows), whatever the number of threads; more blocks come in multiples of
#: it, so that 2, 4 or 8 threads get equal shares (200,000 rows make 32 blocks of 6,250, not 25
#: of 8,000, of which one of two threads would do 13).
MIN_BLOCKS = 8
MIN_BLOCK_ROWS = 1024


def check_lengths(lengths: Sequence[int] | np.ndarray | None, n_samples: int) -> np.ndarray:
    """``offsets`` (int64, length ``n_sequences + 1``) from the sequence ``lengths``.

    Every length is checked against ``n_samples`` before anything is summed or cast, so that
    no length can wrap around int64 (``[2**63 - 1, 2**63 - 1, 122]`` does not "sum" to 120).

    Raises
    ------
    ValueError
        Naming ``lengths`` when they are not positive integers (numbers, not text or booleans)
        summing to ``n_samples``.
    """
    if lengths is None:
        if n_samples < 1:
            raise ValueError("X: no observations")
        return np.array([0, n_samples], dtype=np.int64)
    array = np.asarray(lengths)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"lengths: expected a non-empty 1-D sequence of integers, got shape {array.shape}")
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array) & (array == np.round(array))):
        raise ValueError(f"lengths: expected integers, got {array.tolist()[:10]}")
    if np.any(array < 1):
        raise ValueError(f"lengths: every sequence needs at least one observation, got {array.tolist()[:10]}")
    if array.size > n_samples or np.any(array > n_samples):
        raise ValueError(f"lengths: sum to more than the {n_samples} rows of X ({array.size} sequence(s), the "
                         f"longest of {array.max().item()})")
    offsets = np.concatenate([[0], np.cumsum(array.astype(np.int64))])  # ≤ n_samples², far below 2**63
    if int(offsets[-1]) != n_samples:
        raise ValueError(f"lengths: sum to {int(offsets[-1])} but X has {n_samples} rows")
    return offsets


def default_n_jobs(n_jobs: int | None) -> int:
    """Number of worker threads: ``n_jobs``, or the number of CPUs when None."""
    if n_jobs is None:
        return cpu_count()
    if not (isinstance(n_jobs, (int, np.integer)) and n_jobs >= 1):
        raise ValueError(f"n_jobs: must be a positive integer or None, got {n_jobs!r}")
    return int(n_jobs)


@cache
def cpu_count() -> int:
    """``os.cpu_count()`` (at least 1), asked once per process: on Linux each call reads
    ``/sys`` (tens of µs), and every model construction needs it."""
    return os.cpu_count() or 1


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
    ``data`` those rows as the emission model wants them (e.g. with missingness patterns), made
    by ``make_data()`` when first asked for (an emission read through a lookup table never is)."""

    start: int
    stop: int
    make_data: Callable[[], Any] = field(repr=False)

    @cached_property
    def data(self) -> Any:
        """The block's rows as the emission model wants them."""
        return self.make_data()


@dataclass(frozen=True)
class Sequences:
    """Observations of one or more sequences, prepared for the E-step.

    Emission densities and statistics are computed per row, so they run on ``blocks`` of about
    ``BLOCK_ROWS`` rows whatever the sequences; the recursions need whole sequences and run on
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
        Contiguous row ranges of about equal size, at most ``BLOCK_ROWS`` rows.
    n_threads : int
        Number of threads the batches and blocks are spread over (they, and so the results, do
        not depend on it).
    context : object
        What the emission family took from the whole data (e.g. a Gaussian's centre of
        statistics: :meth:`~emkit.families.Family.data_context`); every block was made with it.
    """

    X: np.ndarray
    offsets: np.ndarray
    batches: list[Batch] = field(repr=False)
    blocks: list[Block] = field(repr=False)
    n_threads: int = 1
    workspace: dict = field(default_factory=dict, repr=False, compare=False)
    context: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, X: np.ndarray, offsets: np.ndarray, n_threads: int,
              block_data: Callable[[np.ndarray], Any], context: Any = None) -> Sequences:
        """At most :data:`MAX_BATCHES` batches; blocks of at most ``BLOCK_ROWS`` rows (at least
        :data:`MIN_BLOCKS` when there are enough rows, more in multiples of it);
        ``block_data(rows)`` gives each :attr:`Block.data`. Neither depends on ``n_threads``."""
        n_sequences, n_rows = offsets.size - 1, int(offsets[-1])
        if n_sequences == 1 and 0 < n_rows < 2 * MIN_BLOCK_ROWS:   # the rule below's one batch and block, directly
            return cls(X, offsets, [Batch(int(offsets[0]), n_rows, offsets - offsets[0])],
                       [Block(0, n_rows, partial(block_data, X[0:n_rows]))], n_threads, context=context)
        n_batches = min(MAX_BATCHES, n_sequences)
        targets = np.linspace(0, n_rows, n_batches + 1)[1:-1]
        cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, targets), [n_sequences]]))
        batches = [Batch(int(offsets[a]), int(offsets[b]), offsets[a:b + 1] - offsets[a])
                   for a, b in pairwise(cuts)]
        by_size = -(-n_rows // BLOCK_ROWS)
        if by_size > MIN_BLOCKS:
            by_size = -(-by_size // MIN_BLOCKS) * MIN_BLOCKS
        n_blocks = max(1, by_size, min(MIN_BLOCKS, n_rows // MIN_BLOCK_ROWS))
        edges = np.unique(np.linspace(0, n_rows, n_blocks + 1).astype(int))
        blocks = [Block(int(a), int(b), partial(block_data, X[a:b])) for a, b in pairwise(edges)]
        return cls(X, offsets, batches, blocks, n_threads, context=context)

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


def parallel_map(function: Callable[[Any], T], items: Sequence[Any], n_threads: int | None = None) -> list[T]:
    """``[function(item) for item in items]`` over ``n_threads`` threads (default: one per item),
    each taking the next item not yet taken until none is left (so a thread slowed down by
    another process takes fewer): the first thread is this one, the others from the shared pool
    of :func:`emkit.kernels.parallel.run_in_threads` (the compiled kernels, NumPy and BLAS
    release the GIL).

    BLAS runs on one thread meanwhile, even for a single item: the products here are small, and
    BLAS threads that wait for a core taken by another process cost more than they bring.
    """
    results: list[Any] = [None] * len(items)
    workers = max(1, min(len(items), len(items) if n_threads is None else n_threads))

    queue = iter(range(len(items)))  # next() on it is atomic under the GIL

    def run(worker: int) -> None:
        for index in queue:
            results[index] = function(items[index])

    run_in_threads(run, workers)
    return results
