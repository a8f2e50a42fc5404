"""Dask arrays in the estimator faces: lazy input checks, and row-wise maps for predictions.

Fitting goes through the engine (:mod:`emkit.engine.dask`); a prediction maps a function of one
block of rows over the row chunks of ``X`` and comes back as a Dask array (nothing is computed
until the caller asks).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np


def is_dask(X: Any) -> bool:
    """Whether ``X`` is a Dask collection (without importing Dask when nobody has)."""
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(X)


def dask_rows(X: Any, *, estimator_name: str, ensure_min_samples: int = 1):
    """``X`` (a Dask array or DataFrame) as a 2-D float64 Dask array with one chunk across the
    columns, checked without computing it (infinity is caught when the chunks are read).

    Raises
    ------
    ValueError
        Naming ``X``: not a Dask array, complex or non-numeric entries, not 2-D, too few samples
        (when the number of rows is known) or no feature.
    """
    import dask.array as da

    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise ValueError(f"X: expected a Dask array or DataFrame, got {type(X).__name__}")
    if X.dtype.kind == "c":
        raise ValueError("X: Complex data not supported")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X: expected numbers, got {X.dtype} entries")
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array (n_samples, n_features), got shape {X.shape}")
    n, d = X.shape
    if np.isfinite(n) and n < ensure_min_samples:
        raise ValueError(f"X: Found array with {n} sample(s) (shape={X.shape}) while a minimum of "
                         f"{ensure_min_samples} is required by {estimator_name}.")
    if d < 1:
        raise ValueError(f"X: Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required by "
                         f"{estimator_name}.")
    return X.astype(float).rechunk({1: -1})


def dask_weights(sample_weight: Any, X):
    """``sample_weight`` (a Dask or in-memory vector) as a Dask array chunked like the rows of ``X``.

    Raises
    ------
    ValueError
        Naming ``sample_weight`` when its length differs from the number of rows.
    """
    import dask.array as da

    weights = sample_weight if isinstance(sample_weight, da.Array) else np.asarray(sample_weight, dtype=float)
    if weights.ndim != 1 or weights.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight: expected shape ({X.shape[0]},), got {weights.shape}")
    if isinstance(weights, np.ndarray):
        weights = da.from_array(weights, chunks=(X.chunks[0],))
    return weights.astype(float)


def map_rows(X, function: Callable[..., np.ndarray], *args: Any, n_columns: int | None = None, dtype=float):
    """``function(block, *args)`` over the row blocks of ``X``: one value per row
    (``n_columns=None``) or ``n_columns`` values per row, as a Dask array of ``dtype``."""
    if n_columns is None:
        return X.map_blocks(_apply_rows, function, n_columns, dtype, *args, drop_axis=1, dtype=dtype,
                            meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(_apply_rows, function, n_columns, dtype, *args, chunks=(X.chunks[0], (n_columns,)),
                        dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


def _apply_rows(block: np.ndarray, function: Callable[..., np.ndarray], n_columns: int | None, dtype,
                *args: Any) -> np.ndarray:
    if block.shape[0] == 0:
        return np.empty((0,) if n_columns is None else (0, n_columns), dtype=dtype)
    return np.asarray(function(block, *args), dtype=dtype)
