"""EM on Dask: the E-step mapped over chunks on the active Dask scheduler, the M-step here.

Because every model's E-step returns statistics that add over observations, one EM iteration
on data held in chunks is a map and a tree sum::

    θ ──ship once──> workers:  (stats_c, ℓ_c) = e_step(chunk_c, θ)   for every chunk c
                     tree sum: (Σ_c stats_c, Σ_c ℓ_c) ──> client: θ' = m_step(Σ stats, θ)

Only the parameters and the summed statistics cross the network. The chunks are prepared by
the model's ``prepare_chunk`` once and persisted on the workers (unless they do not fit in
their memory, when they are re-read from the source at every pass). Whatever scheduler is
active runs the tasks: the threaded or multiprocessing scheduler, or a ``distributed.Client``
(under which the model and each iteration's parameters are scattered to every worker once).

:func:`emkit.fit` wraps a Dask collection in :class:`DaskData` itself; build one explicitly to
choose the options or to reuse the persisted chunks across fits (e.g. a fit and then
:func:`emkit.standard_errors`).
"""

from __future__ import annotations

import sys
from functools import reduce
from typing import Any, Callable, Sequence

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed, delayed

from .chunked import ChunkedData
from .model import EMModel, Params, Stats
from .stats import add_stats

#: Rows of the random sample that starting values are computed from (never the whole data).
DEFAULT_SAMPLE_ROWS = 100_000
#: Fan-in of the tree reduction of chunk statistics.
SPLIT_EVERY = 8
#: ``persist="auto"`` persists data whose size is at most this fraction of the workers' memory.
PERSIST_FRACTION = 0.5


def is_dask_input(data: Any) -> bool:
    """Whether ``data`` is a Dask collection or a non-empty list/tuple of them (chunks, or
    row-aligned arrays such as ``(X, sample_weight)``)."""
    if dask.is_dask_collection(data):
        return True
    return isinstance(data, (list, tuple)) and len(data) > 0 and all(dask.is_dask_collection(item) for item in data)


class DaskData(ChunkedData):
    """Data held in chunks by Dask, prepared for one model and (by default) persisted.

    Parameters
    ----------
    model : EMModel
        The model; each raw chunk becomes ``model.prepare_chunk(chunk, context)`` where
        ``context = model.chunk_context(Σ_c model.chunk_summary(chunk_c))`` is computed once.
    collection : Dask collection
        A ``dask.array.Array`` chunked by rows (other axes are merged into one chunk), a Dask
        DataFrame or Series (one chunk per partition), a list of ``dask.delayed`` chunks, or a
        tuple of row-aligned Dask arrays such as ``(X, sample_weight)`` (each chunk is then the
        tuple of their blocks).
    persist : bool or "auto"
        Keep the prepared chunks in the workers' memory (computed once), or recompute them from
        the source at every pass over the data. ``"auto"`` persists unless the collection's
        known size exceeds half of the workers' total memory limit (of this machine's free
        memory without a ``distributed.Client``).
    sample_rows : int
        Size of the simple random sample of rows that starting values come from (all rows
        when there are fewer); drawn with a fixed seed, so default starts are deterministic.
    split_every : int
        Fan-in of the tree reduction.

    Raises
    ------
    ValueError
        An unsupported collection, bad options, or no rows at all.
    """

    def __init__(self, model: EMModel, collection: Any, *, persist: bool | str = "auto",
                 sample_rows: int = DEFAULT_SAMPLE_ROWS, split_every: int = SPLIT_EVERY) -> None:
        _check_options(persist, sample_rows, split_every)
        raw, lengths, nbytes = raw_chunks(collection)
        self.model = model
        self.sample_rows = int(sample_rows)
        self.split_every = int(split_every)
        self._client = _active_client()
        lengths, summary = _scan(model, raw, lengths, self.split_every)
        if lengths.sum() == 0:
            raise ValueError("X: the Dask collection has no rows; nothing to fit")
        context = model.chunk_context(summary)
        self.persisted = _persist_decision(persist, nbytes, self._client)
        # Shipped after chunk_context, which may set state every chunk shares (e.g. an origin).
        self._model_node = self._ship(model)
        self._context_node = self._ship(context)
        self._context = context
        self._sample: Any = None
        keep = lengths > 0
        self._bind([chunk for chunk, kept in zip(raw, keep) if kept], lengths[keep])

    # ------------------------------------------------------------------------ the interface
    @property
    def n_observations(self) -> int:
        """Number of rows (records) over all chunks."""
        return int(self._lengths.sum())

    @property
    def context(self) -> Any:
        """The whole data's context, ``model.chunk_context`` of the summed chunk summaries (e.g.
        a Gaussian centre of statistics), which every chunk is prepared with."""
        return self._context

    @property
    def n_chunks(self) -> int:
        """Number of (non-empty) chunks."""
        return len(self._chunks)

    def chunk_sum(self, function: Callable[..., Any], *args: Any) -> Any:
        """``Σ_c function(model, chunk_c, *args)`` computed on the workers, summed by a tree
        reduction; the arguments (e.g. the parameters) are shipped to the workers once."""
        shipped = [self._ship(arg) for arg in args]
        parts = [delayed(_apply)(function, self._model_node, chunk, *shipped) for chunk in self._chunks]
        return dask.compute(_tree_sum(parts, self.split_every))[0]

    def start_data(self) -> Any:
        """A simple random sample of ``min(sample_rows, n)`` rows (all rows, in order, when
        ``n ≤ sample_rows``), drawn with seed 0 and prepared in this process by
        ``model.prepare_chunk``; computed once."""
        if self._sample is None:
            if self._raw is None:
                raise ValueError("init: simulated data keep no rows to start from; pass init")
            n = self.n_observations
            size = min(self.sample_rows, n)
            rng = np.random.default_rng(0)
            counts = self._lengths if size == n else rng.multivariate_hypergeometric(self._lengths, size)
            seeds = np.random.SeedSequence(0).spawn(len(self._raw))
            parts = [delayed(_sample_rows)(chunk, int(count), seed)
                     for chunk, count, seed in zip(self._raw, counts, seeds) if count > 0]
            self._sample = self.model.prepare_chunk(_concat(dask.compute(*parts)), self._context)
        return self._sample

    def resample(self, rng: np.random.Generator) -> "DaskData":
        """The nonparametric bootstrap: ``n`` rows drawn with replacement from all ``n``.

        Exactly as in memory: the number of draws from chunk ``c`` is the ``c``-th cell of a
        ``Multinomial(n, n_c/n)``, and those draws are uniform over the chunk's rows.
        """
        if self._raw is None:
            raise NotImplementedError("simulated data keep no rows to resample")
        n = self.n_observations
        totals = rng.multinomial(n, self._lengths / n)
        seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(len(self._raw))
        raw = [delayed(_resample_rows)(chunk, int(total), seed)
               for chunk, total, seed in zip(self._raw, totals, seeds) if total > 0]
        return self._derived(raw, totals[totals > 0])

    def simulate(self, params: Params, rng: np.random.Generator) -> "DaskData":
        """The parametric bootstrap: each chunk replaced by ``model.prepare_chunk(model.simulate(params,
        chunk), context)``, as many observations drawn from the model as the chunk holds, prepared
        like the data's chunks (a simulated chunk, like the chunk it copies, need not pass the
        whole-data checks, e.g. a column missing throughout it)."""
        seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(len(self._chunks))
        params_node = self._ship(params)
        chunks = [delayed(_simulate_chunk)(self._model_node, chunk, params_node, seed, self._context_node)
                  for chunk, seed in zip(self._chunks, seeds)]
        return self._derived(None, self._lengths.copy(), chunks)

    def __repr__(self) -> str:
        state = "persisted" if self.persisted else "read at every pass"
        return (f"DaskData({type(self.model).__name__}, {self.n_chunks} chunks, {self.n_observations} "
                f"observations, {state})")

    # ------------------------------------------------------------------------- machinery
    def _bind(self, raw: list[Delayed] | None, lengths: np.ndarray, chunks: list[Delayed] | None = None) -> None:
        """Set the raw chunks (None for simulated data) and the prepared ones (persisted or lazy)."""
        self._raw, self._lengths = raw, np.asarray(lengths, dtype=np.int64)
        if chunks is None:
            chunks = [delayed(_prepare_chunk)(self._model_node, chunk, self._context_node) for chunk in raw]
        self._chunks = list(dask.persist(*chunks)) if self.persisted else chunks

    def _derived(self, raw: list[Delayed] | None, lengths: np.ndarray,
                 chunks: list[Delayed] | None = None) -> "DaskData":
        """A data set of the same model, context and options over other chunks (bootstrap)."""
        other = object.__new__(DaskData)
        other.__dict__.update({key: value for key, value in self.__dict__.items()
                               if key not in ("_raw", "_lengths", "_chunks", "_sample")})
        other._sample = None
        other._bind(raw, lengths, chunks)
        return other

    def _ship(self, value: Any) -> Any:
        """``value`` as one graph input: scattered to every worker under a distributed client
        (once, not embedded in every task), a single graph node otherwise."""
        if self._client is not None:
            return self._client.scatter([value], broadcast=True, hash=False)[0]
        return delayed(value, traverse=False)


# ----------------------------------------------------------------------- the collection
def raw_chunks(collection: Any) -> tuple[list[Delayed], np.ndarray | None, float]:
    """The raw chunks of a collection as delayed objects, their lengths when known (else None)
    and the collection's size in bytes when known (else NaN)."""
    if isinstance(collection, da.Array):
        lengths = np.asarray(collection.chunks[0], dtype=float)
        known = lengths if np.all(np.isfinite(lengths)) else None
        return _row_blocks(collection), None if known is None else known.astype(np.int64), float(collection.nbytes)
    if isinstance(collection, (list, tuple)) and collection and all(isinstance(part, da.Array) for part in collection):
        return _aligned_blocks(collection)
    if isinstance(collection, (list, tuple)) and collection and all(isinstance(part, Delayed) for part in collection):
        return list(collection), None, float("nan")
    if hasattr(collection, "npartitions") and hasattr(collection, "to_delayed"):
        return list(collection.to_delayed()), None, float("nan")
    if isinstance(collection, Delayed):
        return [collection], None, float("nan")
    raise ValueError(f"X: expected a Dask array, DataFrame or Series, a list of dask.delayed chunks or a tuple of "
                     f"row-aligned Dask arrays, got {type(collection).__name__}")


def _row_blocks(array: da.Array) -> list[Delayed]:
    if array.ndim == 0:
        raise ValueError("X: expected a Dask array with rows, got a 0-d array")
    if array.ndim > 1 and any(len(chunks) > 1 for chunks in array.chunks[1:]):
        array = array.rechunk({axis: -1 for axis in range(1, array.ndim)})
    return list(array.to_delayed().ravel())


def _aligned_blocks(arrays: Sequence[da.Array]) -> tuple[list[Delayed], np.ndarray | None, float]:
    """Chunks of row-aligned arrays: the tuple of their blocks (rechunked to the first's rows)."""
    first = arrays[0]
    if any(array.ndim == 0 or array.shape[0] != first.shape[0] for array in arrays):
        raise ValueError(f"X: the arrays of the tuple need the same number of rows, got shapes "
                         f"{[array.shape for array in arrays]}")
    aligned = [array if array.chunks[0] == first.chunks[0] else array.rechunk({0: first.chunks[0]})
               for array in arrays]
    blocks = [_row_blocks(array) for array in aligned]
    lengths = np.asarray(first.chunks[0], dtype=float)
    known = lengths.astype(np.int64) if np.all(np.isfinite(lengths)) else None
    return ([delayed(_bundle)(*parts) for parts in zip(*blocks)], known,
            float(sum(array.nbytes for array in arrays)))


def _scan(model: EMModel, raw: list[Delayed], lengths: np.ndarray | None,
          split_every: int) -> tuple[np.ndarray, Stats | None]:
    """Chunk lengths and the summed ``chunk_summary`` in one pass (none when both are known)."""
    summarizes = type(model).chunk_summary is not EMModel.chunk_summary
    if lengths is not None and not summarizes:
        return lengths, None
    model_node = delayed(model, traverse=False)
    length_parts = [delayed(_length)(chunk) for chunk in raw]
    summary = _tree_sum([delayed(_summary)(model_node, chunk) for chunk in raw], split_every) if summarizes else None
    computed_lengths, summary = dask.compute(length_parts, summary)
    return np.asarray(computed_lengths, dtype=np.int64), summary


def _persist_decision(persist: bool | str, nbytes: float, client) -> bool:
    if persist != "auto":
        return bool(persist)
    if not np.isfinite(nbytes):
        return True
    return nbytes <= PERSIST_FRACTION * _memory_budget(client)


def _memory_budget(client) -> float:
    """Total memory limit of the workers, or this machine's available memory."""
    if client is not None:
        limits = [worker.get("memory_limit") or 0 for worker in client.scheduler_info(n_workers=-1)["workers"].values()]
        if limits and all(limits):
            return float(sum(limits))
    try:
        import psutil
    except ImportError:
        return float("inf")
    return float(psutil.virtual_memory().available)


def _active_client():
    """The ``distributed.Client`` that ``dask.compute`` uses now (the default client, or one set
    with ``dask.config.set(scheduler=client)``), if any."""
    if "distributed" not in sys.modules:
        return None
    from distributed import Client

    client = getattr(dask.base.get_scheduler(), "__self__", None)
    return client if isinstance(client, Client) else None


def _check_options(persist, sample_rows, split_every) -> None:
    if persist not in (True, False, "auto"):
        raise ValueError(f"persist: expected True, False or 'auto', got {persist!r}")
    for name, value, low in (("sample_rows", sample_rows, 1), ("split_every", split_every, 2)):
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low):
            raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")


# ------------------------------------------------------------------ tasks (on workers)
def _apply(function: Callable[..., Any], model: EMModel, chunk: Any, *args: Any) -> Any:
    return function(model, chunk, *args)


def _prepare_chunk(model: EMModel, chunk: Any, context: Any) -> Any:
    return model.prepare_chunk(chunk, context)


def _summary(model: EMModel, chunk: Any) -> Stats | None:
    return model.chunk_summary(chunk) if _length(chunk) > 0 else None


def _simulate_chunk(model: EMModel, chunk: Any, params: Params, seed: np.random.SeedSequence, context: Any) -> Any:
    return model.prepare_chunk(model.simulate(params, chunk, np.random.default_rng(seed)), context)


def _bundle(*parts: Any) -> tuple:
    return tuple(parts)


def _tree_sum(parts: list[Any], split_every: int) -> Any:
    """A tree of ``_sum_parts`` tasks over ``parts`` with fan-in ``split_every``."""
    while len(parts) > 1:
        parts = [delayed(_sum_parts)(*parts[i:i + split_every]) for i in range(0, len(parts), split_every)]
    return parts[0]


def _sum_parts(*parts: Any) -> Any:
    return reduce(_add, parts)


def _add(a: Any, b: Any) -> Any:
    """Sum of two additive values: numbers, arrays, dictionaries of arrays, tuples, or None
    (a chunk without a summary)."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, dict):
        return add_stats(a, b)
    if isinstance(a, tuple):
        return tuple(_add(x, y) for x, y in zip(a, b))
    return a + b


# ------------------------------------------------------------------------- row access
def _length(chunk: Any) -> int:
    return _length(chunk[0]) if isinstance(chunk, tuple) else len(chunk)


def _take(chunk: Any, positions: np.ndarray) -> Any:
    """The rows of a chunk at ``positions`` (arrays, pandas objects, tuples of them). A part of a
    tuple that is not row-aligned with its first (``None``, or a sequence's ``lengths``: as many
    entries as rows only when every sequence is one row long) becomes ``None``: the rows drawn
    keep no sequences."""
    if isinstance(chunk, tuple):
        n = _length(chunk)
        return tuple(None if part is None or len(part) != n else _take(part, positions) for part in chunk)
    if hasattr(chunk, "iloc"):
        return chunk.iloc[positions]
    return np.asarray(chunk)[positions]


def _concat(parts: Sequence[Any]) -> Any:
    """Row-wise concatenation of chunks of one kind; a part of tuples that is ``None`` in any chunk
    (see :func:`_take`) is ``None`` in the whole."""
    if any(part is None for part in parts):
        return None
    if isinstance(parts[0], tuple):
        return tuple(_concat([part[i] for part in parts]) for i in range(len(parts[0])))
    if hasattr(parts[0], "iloc"):
        import pandas

        return pandas.concat(parts)
    return np.concatenate([np.asarray(part) for part in parts])


def _sample_rows(chunk: Any, count: int, seed: np.random.SeedSequence) -> Any:
    """``count`` distinct rows of the chunk, uniformly at random, in their original order."""
    n = _length(chunk)
    if count >= n:
        return chunk
    return _take(chunk, np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False)))


def _resample_rows(chunk: Any, count: int, seed: np.random.SeedSequence) -> Any:
    """``count`` rows of the chunk drawn uniformly with replacement."""
    return _take(chunk, np.sort(np.random.default_rng(seed).integers(0, _length(chunk), size=count)))
