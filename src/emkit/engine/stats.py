"""Arithmetic on sufficient statistics (dictionaries of arrays), shared by every fitting driver."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .model import Stats


def add_stats(a: Stats, b: Stats) -> Stats:
    """Element-wise sum of two statistics dictionaries with the same keys."""
    if a.keys() != b.keys():
        raise ValueError(f"stats: keys differ ({sorted(a)} vs {sorted(b)})")
    return {key: np.asarray(a[key]) + np.asarray(b[key]) for key in a}


def sum_stats(parts: Iterable[Stats]) -> Stats:
    """Sum of an iterable of statistics dictionaries (at least one)."""
    iterator = iter(parts)
    try:
        total = next(iterator)
    except StopIteration:
        raise ValueError("stats: nothing to sum") from None
    for part in iterator:
        total = add_stats(total, part)
    return total


def scale_stats(a: Stats, factor: float) -> Stats:
    """Statistics multiplied by a scalar ``factor``."""
    return {key: np.asarray(value) * factor for key, value in a.items()}
