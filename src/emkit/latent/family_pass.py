"""A family's view of the engine's data pass, for a family whose M-step takes the data
(:attr:`emkit.families.Family.m_step_uses_data`): the latent layer (mixture or HMM) pairs every
row block with its posteriors at the E-step's parameters, and the family adds up its terms."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterable

import numpy as np

from ..engine.stats import sum_stats

#: ``rows(chunk)`` gives a chunk's row blocks, each with its posteriors (responsibilities).
BlockRows = Callable[[Any], Iterable[tuple[Any, np.ndarray]]]


class FamilyPass:
    """``sum(function)`` adds ``function(block, posteriors)`` over every block of every chunk of
    the engine's :class:`~emkit.engine.data_pass.DataPass` (``rows(chunk)`` gives a chunk's blocks
    with their posteriors)."""

    def __init__(self, data_pass: Any, rows: BlockRows) -> None:
        self.data_pass, self.rows = data_pass, rows

    def sum(self, function: Callable[[Any, np.ndarray], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return self.data_pass.sum(partial(_sum_over_blocks, self.rows, function))


def _sum_over_blocks(rows: BlockRows, function, chunk) -> dict[str, np.ndarray]:
    return sum_stats(function(block, posteriors) for block, posteriors in rows(chunk))


def family_m_step(family: Any, stats: dict[str, np.ndarray], params: dict[str, Any], learn: Any, empty: np.ndarray,
                  data_pass: Any, rows: BlockRows) -> dict[str, Any]:
    """The family's M-step: from the statistics, or, for a family whose M-step takes the data,
    over the row blocks and their posteriors at the E-step's parameters (``rows``), summed by the
    engine's ``data_pass`` (None outside :func:`emkit.fit`: then a ``ValueError``)."""
    if not family.m_step_uses_data:
        return family.m_step(stats, params, learn, empty)
    if data_pass is None:
        raise ValueError(f"model: the {family.describe()} family's M-step takes the data; fit it with emkit.fit")
    return family.m_step_with_data(stats, params, learn, empty, FamilyPass(data_pass, rows))
