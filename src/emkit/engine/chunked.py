"""The interface of prepared data held in chunks outside this process (e.g. on a Dask cluster)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable

import numpy as np

from .model import EMModel, Params


class ChunkedData(ABC):
    """Prepared data held in chunks outside this process, bound to one model.

    The engine never reads the chunks: it asks for sums over them of additive quantities
    (:meth:`chunk_sum`), for a bounded sample to start from (:meth:`start_data`), and for
    bootstrap data sets of the same kind (:meth:`resample`, :meth:`simulate`).
    """

    #: The model whose ``prepare_chunk`` prepared the chunks.
    model: EMModel

    @property
    @abstractmethod
    def n_observations(self) -> int:
        """Number of observations (rows or records) over all chunks."""

    @abstractmethod
    def chunk_sum(self, function: Callable[..., Any], *args: Any) -> Any:
        """``Σ_c function(model, chunk_c, *args)`` for a ``function`` whose values add up
        (numbers, arrays, dictionaries or tuples of them)."""

    @abstractmethod
    def start_data(self) -> Any:
        """A bounded sample of the observations, prepared like one chunk (for starting values)."""

    @abstractmethod
    def resample(self, rng: np.random.Generator) -> "ChunkedData":
        """A nonparametric bootstrap data set: the observations drawn with replacement."""

    @abstractmethod
    def simulate(self, params: Params, rng: np.random.Generator) -> "ChunkedData":
        """A parametric bootstrap data set: as many observations drawn from the model at ``params``."""
