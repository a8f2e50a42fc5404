"""Data-taking M-steps: passes over the prepared data, owned by the engine.

Most models maximise ``Q(θ | θ_t)`` from finite additive statistics alone. Some cannot: a GLM
component, a concomitant multinomial logit for mixing weights, input-driven transitions. Such a
model sets ``m_step_uses_data = True`` and implements
``m_step_with_data(stats, params, data_pass)``, a convergent inner maximisation (e.g. damped
Newton, :mod:`emkit.kernels.newton`) whose value, gradient and Hessian are sums over the rows:

    Q(θ | θ_t) = Σ_c q_c(θ),   ∇Q = Σ_c ∇q_c,   ∇²Q = Σ_c ∇²q_c

The engine hands it a :class:`DataPass`: ``data_pass.sum(function)`` applies
``function(prepared_chunk) -> dict[str, ndarray]`` to every chunk of the prepared data and adds the
results; the model never loops over chunks itself. In memory the prepared data are one chunk; on
Dask (:mod:`emkit.engine.dask`) the function runs on the workers, one task per chunk, and only the
summed dictionary comes back. Each chunk's function recomputes what it needs at ``θ_t`` (e.g.
responsibilities) from the parameters it closes over, so nothing per row is kept between passes.

An inner loop stopped before it converges still never lowers ``Q`` (damped Newton never lowers
its objective), so the step is a generalised EM step and the engine's ascent check holds.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .chunked import ChunkedData
from .model import EMModel, Params, Stats

ChunkFunction = Callable[[Any], dict[str, np.ndarray]]


class DataPass:
    """Sums of additive quantities over the chunks of one model's prepared data.

    Parameters
    ----------
    model : EMModel
        The model whose ``prepare`` (or ``prepare_chunk``) prepared the data.
    data : object
        Prepared data: in memory (one chunk), or a :class:`~emkit.engine.chunked.ChunkedData`
        (e.g. Dask chunks).

    Attributes
    ----------
    n_passes : int
        Passes made so far (each ``sum`` is one pass over all the data).
    """

    def __init__(self, model: EMModel, data: Any) -> None:
        self.model = model
        self.data = data
        self.n_passes = 0

    @property
    def chunked(self) -> bool:
        """Whether the data are held in chunks outside this process (e.g. on Dask)."""
        return isinstance(self.data, ChunkedData)

    def sum(self, function: ChunkFunction) -> dict[str, np.ndarray]:
        """``Σ_c function(chunk_c)``: ``function`` maps one prepared chunk to a dictionary of
        arrays (or floats) that add over rows; on Dask it runs on the workers (it must then be
        picklable, e.g. a module-level function or a ``functools.partial`` of one)."""
        self.n_passes += 1
        if self.chunked:
            return self.data.chunk_sum(_apply, function)
        return _as_arrays(function(self.data))


def m_step(model: EMModel, data: Any, stats: Stats, params: Params) -> Params:
    """The model's M-step from ``stats``: ``model.m_step(stats, params)``, or, for a model whose
    M-step takes the data, ``model.m_step_with_data(stats, params, DataPass(model, data))``.
    Every fitting path calls M-steps through here."""
    if model.m_step_uses_data:
        return model.m_step_with_data(stats, params, DataPass(model, data))
    return model.m_step(stats, params)


def refuse_data_taking_m_step(model: EMModel, driver: str, why: str) -> None:
    """``ValueError`` when ``model``'s M-step takes the data and ``driver`` cannot give it."""
    if model.m_step_uses_data:
        raise ValueError(f"model: {type(model).__name__}'s M-step takes the data (an inner maximisation over "
                         f"all rows), which {driver} cannot give it: {why}; use emkit.fit")


def _apply(model: EMModel, chunk: Any, function: ChunkFunction) -> dict[str, np.ndarray]:
    return _as_arrays(function(chunk))


def _as_arrays(values: dict[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(values, dict):
        raise TypeError(f"a data pass's function must return a dict of arrays, got {type(values).__name__}")
    return {key: np.asarray(value, dtype=float) for key, value in values.items()}
