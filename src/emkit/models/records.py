"""Records: one observation per row (a chunk of a Dask DataFrame, Series or array), tabulated.

The count-data models fit frequency tables; data held in chunks arrive as records instead, and
each chunk becomes its own table (tables of chunks add up to the table of the whole data, so
their statistics do too).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def record_values(chunk: Any, name: str = "X") -> np.ndarray:
    """The records of a chunk as a 1-D array: a pandas Series, a one-column DataFrame, a 1-D
    array or an ``(n, 1)`` array.

    Raises
    ------
    ValueError
        Naming ``name`` when the chunk has several columns.
    """
    if hasattr(chunk, "columns"):
        if len(chunk.columns) != 1:
            raise ValueError(f"{name}: records need one column (the observed value), got columns "
                             f"{list(chunk.columns)}")
        chunk = chunk.iloc[:, 0]
    values = chunk.to_numpy() if hasattr(chunk, "to_numpy") else np.asarray(chunk)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name}: records need one value per row, got shape {values.shape}")
    return values


def tabulate_counts(chunk: Any, name: str = "X") -> tuple[np.ndarray, np.ndarray]:
    """Distinct non-negative whole-number records and their frequencies (float arrays).

    Raises
    ------
    ValueError
        Naming ``name`` when a record is missing, not a number, negative or not whole.
    """
    values = record_values(chunk, name)
    try:
        values = values.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: records must be non-negative whole numbers, got {values[:5].tolist()}...") from None
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if np.any(bad):
        raise ValueError(f"{name}: records must be non-negative whole numbers, got {values[bad][:5].tolist()}")
    distinct, counts = np.unique(values, return_counts=True)
    return distinct, counts.astype(float)


def tabulate_labels(chunk: Any, labels: tuple[str, ...], name: str = "X") -> np.ndarray:
    """Frequencies of the records in ``labels`` order (records compared as strings).

    Raises
    ------
    ValueError
        Naming ``name`` and the unknown labels when a record is not one of ``labels``.
    """
    values = record_values(chunk, name).astype(str)
    distinct, counts = np.unique(values, return_counts=True)
    position = {label: i for i, label in enumerate(labels)}
    unknown = [str(value) for value in distinct if str(value) not in position]
    if unknown:
        raise ValueError(f"{name}: unknown label(s) {unknown}; expected some of {list(labels)}")
    table = np.zeros(len(labels))
    table[[position[str(value)] for value in distinct]] = counts
    return table
