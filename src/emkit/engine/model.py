"""The contract every EM model fulfils.

A model owns only its mathematics; the engine (:func:`emkit.fit`) owns the loop.

    params --e_step(data, params)--> (stats, loglik) --m_step(stats, params)--> params'

``stats`` are expected complete-data sufficient statistics, *additive over observations*:
the statistics of two halves of the data, added with :func:`emkit.engine.stats.add_stats`,
equal the statistics of the whole. ``loglik`` is the observed-data log-likelihood at the
``params`` that went into the E-step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

Params = dict[str, np.ndarray]
Stats = dict[str, np.ndarray]


class EMModel(ABC):
    """Base class of every model fitted by :func:`emkit.fit`.

    Subclasses implement :meth:`initial_params`, :meth:`e_step` and :meth:`m_step`, and list the
    entries of their parameter dictionaries in :attr:`param_names` (the order of the flat vector
    used by SQUAREM and the variance methods). They may override :meth:`prepare` (input
    validation), :meth:`is_feasible`, :meth:`canonical` (e.g. sort mixture components) and
    :meth:`named_params` (the user-facing names of the parameters).
    """

    #: Keys of the parameter dictionary, in the order used by :meth:`to_vector`.
    param_names: tuple[str, ...] = ()

    # ----------------------------------------------------------------- the mathematics
    def prepare(self, data: Any) -> Any:
        """Validate and convert user data to the form :meth:`e_step` expects."""
        return data

    @abstractmethod
    def initial_params(self, data: Any, rng: np.random.Generator | None = None) -> Params:
        """Starting values: deterministic when ``rng`` is None, a random start otherwise."""

    @abstractmethod
    def e_step(self, data: Any, params: Params) -> tuple[Stats, float]:
        """Expected sufficient statistics given the data, and the observed-data log-likelihood.

        Returns ``(stats, loglik)`` where ``stats = E[T(x_complete) | data, params]`` is additive
        over observations and ``loglik = log p(data | params)``.
        """

    @abstractmethod
    def m_step(self, stats: Stats, params: Params) -> Params:
        """Maximize the expected complete-data log-likelihood: ``argmax_θ Q(θ | stats)``.

        ``params`` are the values that went into the E-step (for parameters held fixed, or a
        component whose statistics vanished).
        """

    def loglik(self, data: Any, params: Params) -> float:
        """Observed-data log-likelihood ``log p(data | params)``."""
        return self.e_step(data, params)[1]

    def check_params(self, params: Params) -> Params:
        """Validate user-given parameters (an ``init``); raise ``ValueError`` naming the key."""
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
        out = {name: np.array(params[name], dtype=float) for name in self.param_names}
        if not self.is_feasible(out):
            raise ValueError(f"init: parameters outside the parameter space: {out}")
        return out

    def is_feasible(self, params: Params) -> bool:
        """Whether ``params`` lie in the parameter space (finite by default)."""
        return all(np.all(np.isfinite(params[name])) for name in self.param_names)

    def canonical(self, params: Params) -> Params:
        """A canonical representative of ``params`` (identity unless labels can switch)."""
        return params

    def named_params(self, params: Params) -> dict[str, Any]:
        """User-facing parameters: a mapping of names to floats or lists (JSON-ready)."""
        return {name: _jsonable(params[name]) for name in self.param_names}

    def n_free_parameters(self) -> int:
        """Number of free parameters (for BIC/AIC); defaults to the flat-vector length."""
        raise NotImplementedError

    # ------------------------------------------------------------ flat-vector mapping
    def to_vector(self, params: Params) -> np.ndarray:
        """Concatenate the parameters in :attr:`param_names` order into one float vector."""
        return np.concatenate([np.ravel(np.asarray(params[name], dtype=float)) for name in self.param_names])

    def from_vector(self, vector: np.ndarray, like: Params) -> Params:
        """Inverse of :meth:`to_vector`, shaped like ``like`` (other keys of ``like`` are kept)."""
        out = dict(like)
        start = 0
        for name in self.param_names:
            shape = np.shape(like[name])
            size = int(np.prod(shape))
            out[name] = np.reshape(vector[start:start + size], shape).copy()
            start += size
        return out


def _jsonable(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array.tolist()

