"""Where the engine meets the data: in this process, or held elsewhere in chunks.

Every driver asks for "the expected statistics of the data at ``θ``" through
:func:`expected_stats`, never through ``model.e_step`` directly, so that one code path serves
in-memory data and data held in chunks (on a Dask cluster, :mod:`emkit.engine.dask`). Because
the statistics are additive over observations, chunked data need no help from the model:

    stats(θ) = Σ_c e_step(chunk_c, θ),    ℓ(θ) = Σ_c ℓ_c(θ)

The other functions here dispatch the few remaining data-touching steps the same way:
:func:`prepare` (validation, once per fit), :func:`initial_params` (starting values),
:func:`loglik` and :func:`score_covariance` (Louis's missing information, also additive), and
the bootstrap's :func:`resample` and :func:`simulate`. (:class:`ChunkedData`, the interface of
chunked data, lives in :mod:`emkit.engine.chunked`, so that its implementations import it without
importing this module back.)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .chunked import ChunkedData
from .model import EMModel, Params, Stats


def prepare(model: EMModel, data: Any) -> Any:
    """Validate ``data`` for ``model`` once per fit.

    In-memory data go to ``model.prepare``; a Dask collection (a ``dask.array.Array``, a Dask
    DataFrame or Series, or a list of ``dask.delayed`` chunks) is wrapped in a
    :class:`~emkit.engine.dask.DaskData`; already chunked data are returned as they are.

    Raises
    ------
    ValueError
        When ``data`` are chunked data prepared for another model.
    """
    if isinstance(data, ChunkedData):
        if data.model is not model:
            raise ValueError("data: these chunked data were prepared for another model object; "
                             f"build them for this {type(model).__name__}")
        return data
    if _is_dask_input(data):
        from .dask import DaskData

        return DaskData(model, data)
    return model.prepare(data)


def initial_params(model: EMModel, data: Any, rng: np.random.Generator | None = None) -> Params:
    """``model.initial_params`` on prepared data; on chunked data, on their bounded sample."""
    if isinstance(data, ChunkedData):
        return model.initial_params(data.start_data(), rng)
    return model.initial_params(data, rng)


def expected_stats(model: EMModel, data: Any, params: Params) -> tuple[Stats, float]:
    """Expected sufficient statistics of the data at ``params`` and the objective EM ascends.

    ``model.e_step(data, params)`` for in-memory data; ``Σ_c model.e_step(chunk_c, params)``
    (statistics and log-likelihood summed by a tree reduction) for chunked data. The objective
    is the observed log-likelihood plus ``model.log_prior(params)`` (added once; 0 without a
    prior).
    """
    if isinstance(data, ChunkedData):
        stats, loglik = data.chunk_sum(_e_step, params)
    else:
        stats, loglik = model.e_step(data, params)
    return stats, loglik + model.log_prior(params)


def loglik(model: EMModel, data: Any, params: Params) -> float:
    """The objective EM ascends: ``model.loglik`` (or ``Σ_c model.loglik(chunk_c, params)``)
    plus ``model.log_prior(params)``."""
    if isinstance(data, ChunkedData):
        return float(data.chunk_sum(_loglik, params)) + model.log_prior(params)
    return float(model.loglik(data, params)) + model.log_prior(params)


def score_covariance(model: EMModel, data: Any, params: Params) -> np.ndarray:
    """``Cov[complete-data score | data]`` (Louis's missing information), a sum over independent
    observations, hence over chunks: ``Σ_c model.score_covariance(chunk_c, params)``."""
    if isinstance(data, ChunkedData):
        return data.chunk_sum(_score_covariance, params)
    return model.score_covariance(data, params)


def resample(model: EMModel, data: Any, rng: np.random.Generator) -> Any:
    """One nonparametric bootstrap data set (``model.resample``, or the chunked data's own)."""
    if isinstance(data, ChunkedData):
        return data.resample(rng)
    return model.resample(data, rng)


def reweight(model: EMModel, data: Any, factors: np.ndarray) -> Any:
    """``data`` with its observations' weights multiplied by ``factors`` (``model.reweight``;
    data in memory only)."""
    if isinstance(data, ChunkedData):
        raise ValueError("bootstrap_kind: the weighted likelihood bootstrap and the jackknife need the data in "
                         "memory, not on Dask")
    return model.reweight(data, factors)


def n_observations(model: EMModel, data: Any) -> int:
    """``model.n_observations`` of data in memory (see :func:`reweight`)."""
    if isinstance(data, ChunkedData):
        raise ValueError("bootstrap_kind: the weighted likelihood bootstrap and the jackknife need the data in "
                         "memory, not on Dask")
    return model.n_observations(data)


def simulate(model: EMModel, params: Params, data: Any, rng: np.random.Generator) -> Any:
    """One parametric bootstrap data set like ``data`` (``model.simulate``, or chunk by chunk)."""
    if isinstance(data, ChunkedData):
        return data.simulate(params, rng)
    return model.simulate(params, data, rng)


def _e_step(model: EMModel, chunk: Any, params: Params) -> tuple[Stats, float]:
    stats, loglik = model.e_step(chunk, params)
    return stats, float(loglik)


def _loglik(model: EMModel, chunk: Any, params: Params) -> float:
    return float(model.loglik(chunk, params))


def _score_covariance(model: EMModel, chunk: Any, params: Params) -> np.ndarray:
    return np.atleast_2d(np.asarray(model.score_covariance(chunk, params), dtype=float))


def _is_dask_input(data: Any) -> bool:
    """Whether ``data`` is a Dask collection (without importing Dask when nobody has)."""
    if "dask" not in sys.modules:
        return False
    from .dask import is_dask_input

    return is_dask_input(data)
