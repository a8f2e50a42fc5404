"""Threads for row-block kernels: BLAS, NumPy and the Numba kernels (``nogil``) release the GIL.

Each worker thread processes whole blocks with single-threaded BLAS, so the threads never wait on
each other inside a matrix product (multithreaded BLAS on many small products spends its time
synchronizing, and much more so on a machine shared with other work). A thread takes the next
block when it is free, so a thread slowed by other work on its core does fewer blocks, and the
blocks' results are combined in block order, so the sums do not depend on which thread did what.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

T = TypeVar("T")

_LOCK = threading.RLock()
_STATE: dict[str, object] = {}


def _controller() -> ThreadpoolController:
    with _LOCK:
        if "controller" not in _STATE:
            _STATE["controller"] = ThreadpoolController()
        return _STATE["controller"]  # type: ignore[return-value]


def blas_threads() -> int:
    """The number of threads NumPy's BLAS may use now (as set by e.g. ``threadpoolctl``)."""
    counts = [library.num_threads for library in _controller().lib_controllers if library.user_api == "blas"]
    return max(counts) if counts else (os.cpu_count() or 1)


def worker_count(n_jobs: int | None, n_blocks: int) -> int:
    """Threads to use: ``n_jobs``, or as many as BLAS may use when None; at most ``n_blocks``.

    Raises
    ------
    ValueError
        When ``n_jobs`` is not a positive integer or None.
    """
    if n_jobs is None:
        n_jobs = blas_threads()
    elif not (isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool) and n_jobs >= 1):
        raise ValueError(f"n_jobs: must be a positive integer or None, got {n_jobs!r}")
    return max(1, min(int(n_jobs), n_blocks))


def _pool(size: int) -> ThreadPoolExecutor:
    with _LOCK:
        pool = _STATE.get("pool")
        if pool is None or _STATE["size"] < size:
            if pool is not None:
                pool.shutdown(wait=False)  # type: ignore[union-attr]
            _STATE["pool"] = pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="emkit-blocks")
            _STATE["size"] = size
        return pool  # type: ignore[return-value]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread while any thread is inside (a count, so that kernels running
    at once in several threads, e.g. under Dask, restore the user's setting only when the last
    one leaves)."""
    with _LOCK:
        if _STATE.get("depth", 0) == 0:
            # Changing OpenBLAS's thread count while another thread is inside BLAS can hang it:
            # touch the setting only when BLAS may actually use more than one thread.
            _STATE["limiter"] = _controller().limit(limits=1, user_api="blas") if blas_threads() > 1 else None
        _STATE["depth"] = _STATE.get("depth", 0) + 1  # type: ignore[operator]
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1  # type: ignore[operator]
            if _STATE["depth"] == 0:
                limiter = _STATE.pop("limiter")
                if limiter is not None:
                    limiter.restore_original_limits()  # type: ignore[union-attr]


def run_in_threads(function: Callable[[int], None], workers: int) -> None:
    """``function(0), ..., function(workers − 1)``: the first in this thread, the others in a shared
    pool, all with single-threaded BLAS; exceptions are re-raised here."""
    with single_threaded_blas():
        if workers == 1:
            function(0)
            return
        futures = [_pool(workers - 1).submit(function, worker) for worker in range(1, workers)]
        try:
            function(0)
        finally:
            errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error
