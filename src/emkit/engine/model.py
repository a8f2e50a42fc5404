"""The contract every EM model fulfils.

A model owns only its mathematics; the engine (:func:`emkit.fit`) owns the loop.

    params --e_step(data, params)--> (stats, loglik) --m_step(stats, params)--> params'

``stats`` are expected complete-data sufficient statistics, *additive over observations*:
the statistics of two halves of the data, added with :func:`emkit.engine.stats.add_stats`,
equal the statistics of the whole. ``loglik`` is the observed-data log-likelihood at the
``params`` that went into the E-step.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

Params = dict[str, np.ndarray]
Stats = dict[str, np.ndarray]


@dataclass(frozen=True)
class Regularization:
    """What a regularised M-step gave up, from :meth:`EMModel.regularization`.

    With ``θ*`` the exact M-step and ``θ_r`` the regularised one from the same statistics, EM's
    inequality ``ℓ(θ_r) − ℓ(θ) ≥ Q(θ_r | θ) − Q(θ | θ) ≥ −(Q(θ* | θ) − Q(θ_r | θ))`` bounds the
    decrease of the objective by the ``shortfall``.

    Attributes
    ----------
    shortfall : float
        ``Q(θ* | θ) − Q(θ_r | θ) ≥ 0`` (may be inf: the exact step is degenerate).
    collapsed : tuple of str
        The components (states) whose regularisation dominates, e.g. a covariance on its floor,
        each described for the user (empty: none collapsed).
    remedy : str
        What the user can do (a prior, another regularisation, fewer components).
    """

    shortfall: float
    collapsed: tuple[str, ...] = ()
    remedy: str = ""


class EMModel(ABC):
    """Base class of every model fitted by :func:`emkit.fit`.

    Subclasses implement :meth:`initial_params`, :meth:`e_step` and :meth:`m_step`, and list the
    entries of their parameter dictionaries in :attr:`param_names` (the order of the flat vector
    used by SQUAREM). They may override :meth:`prepare` (input validation), :meth:`is_feasible`,
    :meth:`canonical` (e.g. sort mixture components) and :meth:`named_params` (the user-facing
    names of the parameters).

    Optional hooks used by :func:`emkit.standard_errors`: :meth:`to_free` / :meth:`from_free` /
    :meth:`free_labels` (the free parameters; the default, the flat vector, suits models without
    equality constraints), :meth:`complete_information` (Louis, SEM), :meth:`latent_class_scores`
    or :meth:`score_covariance` (Louis), :meth:`resample` (nonparametric bootstrap) and
    :meth:`simulate` (parametric bootstrap). Those without a default raise
    ``NotImplementedError``, which ``standard_errors`` reports with the method that needs it.

    Hooks of the objective: :meth:`log_prior` (a prior makes the M-step a MAP step and the
    objective the log-posterior) and :meth:`regularization` (an M-step that is regularised
    rather than exact, e.g. a covariance floor, says what it gave up, so that the engine's ascent
    check can tell a decrease it explains from a wrong E- or M-step).

    A model without finite sufficient statistics for its M-step (a GLM component, a concomitant
    logit) sets :attr:`m_step_uses_data` and implements :meth:`m_step_with_data`, which receives
    a :class:`~emkit.engine.data_pass.DataPass` over the data (in memory or in Dask chunks).

    Hooks for data held in chunks (Dask, :mod:`emkit.engine.dask`): :meth:`prepare_chunk`
    (default :meth:`prepare`), and for models whose preparation needs a whole-data quantity
    (e.g. a centring shift) :meth:`chunk_summary` and :meth:`chunk_context`.
    """

    #: Keys of the parameter dictionary, in the order used by :meth:`to_vector`.
    param_names: tuple[str, ...] = ()
    #: Whether the M-step needs the data (no finite sufficient statistics, e.g. a GLM component):
    #: the engine then calls :meth:`m_step_with_data` in place of :meth:`m_step`.
    m_step_uses_data: bool = False

    # ----------------------------------------------------------------- the mathematics
    def prepare(self, data: Any) -> Any:
        """Validate and convert user data to the form :meth:`e_step` expects."""
        return data

    def chunk_summary(self, chunk: Any) -> Stats | None:
        """An additive summary of one raw chunk of a data set held in chunks (None: no summary).

        The engine sums the summaries of all chunks (like statistics) and hands the total to
        :meth:`chunk_context`, once, before any chunk is prepared; e.g. per-feature sums and
        counts that give a whole-data mean.
        """
        return None

    def chunk_context(self, summary: Stats | None) -> Any:
        """Whole-data context of :meth:`prepare_chunk` from the summed :meth:`chunk_summary`.

        Runs once, in the client process, before the chunks are prepared (it may set model
        state that every chunk shares, such as a fixed origin of the statistics, and should
        validate what only the whole data show). Default: None.
        """
        return None

    def prepare_chunk(self, chunk: Any, context: Any) -> Any:
        """Validate and convert one raw chunk (e.g. a block of rows of a Dask array, a partition
        of a Dask DataFrame) to the form :meth:`e_step` expects.

        Chunk statistics must add up to those of the whole data; checks that only the whole
        data can pass (enough observations, identifiability) belong in :meth:`chunk_context`.
        Default: :meth:`prepare`.
        """
        return self.prepare(chunk)

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

    def m_step_with_data(self, stats: Stats, params: Params, data_pass: Any) -> Params:
        """The M-step of a model with ``m_step_uses_data = True``: ``argmax_θ Q(θ | θ_t)`` (or any
        ``θ`` with ``Q(θ | θ_t) ≥ Q(θ_t | θ_t)``: a generalised EM step) by an inner maximisation
        whose derivatives are sums over the data, ``data_pass.sum(function)`` (a
        :class:`~emkit.engine.data_pass.DataPass`). ``params`` are ``θ_t``, the values that went
        into the E-step that gave ``stats``.
        """
        raise NotImplementedError(f"{type(self).__name__} sets m_step_uses_data but gives no m_step_with_data")

    def loglik(self, data: Any, params: Params) -> float:
        """Observed-data log-likelihood ``log p(data | params)``."""
        return self.e_step(data, params)[1]

    def log_prior(self, params: Params) -> float:
        """``log p(θ)`` up to a constant (0: no prior, the default).

        With a prior, :meth:`m_step` maximizes ``Q(θ | θ_t) + log p(θ)`` (MAP-EM) and the objective
        that EM never decreases is the log-posterior ``ℓ(θ) + log p(θ)``: the engine adds this
        once to the E-step's log-likelihood (after summing the chunks of chunked data), monitors
        it and reports it as the result's ``loglik``.
        """
        return 0.0

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """What the M-step that turned ``stats`` into ``params`` gave up by being regularised.

        None (the default) declares an exact M-step. A model whose M-step is regularised (e.g. a
        floor ``reg_covar`` added to covariances) returns a :class:`Regularization`: the shortfall
        ``max_θ Q − Q(params)`` and which components sit on the floor. The engine asks only when
        the objective fell: a fall within the shortfall is not an error (a collapsed component
        gives a ``RegularizationWarning`` naming it), a larger one is an ``AscentWarning``.
        """
        return None

    def check_params(self, params: Params) -> Params:
        """Validate user-given parameters (an ``init``); raise ``ValueError`` naming the key."""
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
        out = {name: np.array(params[name], dtype=float) for name in self.param_names}
        if not self.is_feasible(out):
            raise ValueError(f"init: parameters outside the parameter space: {out}")
        return out

    def loglik_rounding(self, data: Any) -> float:
        """An absolute bound on the rounding error of the log-likelihood that :meth:`e_step`
        computes on ``data`` (0 for float64 arithmetic, whose error the engine's relative
        tolerance covers): the ascent check lets the log-likelihood fall by this much."""
        return 0.0

    def is_feasible(self, params: Params) -> bool:
        """Whether ``params`` lie in the parameter space (finite by default)."""
        return all(np.all(np.isfinite(params[name])) for name in self.param_names)

    def canonical(self, params: Params) -> Params:
        """A canonical representative of ``params`` (identity unless labels can switch)."""
        return params

    def named_params(self, params: Params) -> dict[str, Any]:
        """User-facing parameters: a mapping of names to floats or (nested) lists (JSON-ready).

        Standard errors are reported under the same keys, by the delta method through
        ``named_params(from_free(θ))``, so any smooth transformation may appear here.
        """
        return {name: _jsonable(params[name]) for name in self.param_names}

    def describe(self) -> str:
        """The model in words, for progress displays (e.g. "Gaussian mixture (full, k=5)").

        Default: the class name in words ("GroupedMultinomial" -> "Grouped multinomial").
        """
        words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", type(self).__name__)
        return " ".join([words[0]] + [w if w.isupper() else w.lower() for w in words[1:]]) if words else "model"

    def n_free_parameters(self) -> int:
        """Number of free parameters (for BIC/AIC); models give it (``NotImplementedError`` here)."""
        raise NotImplementedError(f"{type(self).__name__} does not give its number of free parameters")

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

    # ------------------------------------------------- free parameters (for inference)
    def to_free(self, params: Params) -> np.ndarray:
        """The free parameters ``θ`` (no equality constraints left), e.g. all allele
        frequencies but the last. Default: :meth:`to_vector` (a model without constraints)."""
        return self.to_vector(params)

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        """Inverse of :meth:`to_free` (the constrained entries recomputed), shaped like ``like``."""
        return self.from_vector(np.asarray(free, dtype=float), like)

    def free_labels(self, params: Params) -> tuple[str, ...]:
        """Names of the entries of :meth:`to_free`, e.g. ``("weights[0]", "rates[0]", "rates[1]")``."""
        return tuple(label for name in self.param_names for label in array_labels(name, np.shape(params[name])))

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """Expected complete-data information in the free parameters given the data.

        ``I_c(θ) = E[−∂² log p(x, z | θ) / ∂θ ∂θᵀ | data, θ]``, computed from the expected
        sufficient statistics ``stats`` of :meth:`e_step` at ``params`` (the complete-data
        Hessian is linear in them for exponential families). Needed by Louis and SEM.
        """
        raise NotImplementedError(f"{type(self).__name__} does not give its complete-data information")

    def latent_class_scores(self, data: Any, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For models whose missing data are one categorical label per observation.

        Returns ``(counts, posterior, scores)`` over observation groups ``u`` (identical
        observations, e.g. the cells of a table) and latent classes ``l``: ``counts[u]`` the
        number of observations, ``posterior[u, l] = P(z = l | y_u, θ)`` and ``scores[u, l]`` the
        complete-data score ``∂/∂θ log p(y_u, z = l | θ)`` of one observation in the free
        parameters, shapes ``(U,)``, ``(U, L)``, ``(U, L, d)``. Gives :meth:`score_covariance`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not give its latent-class scores")

    def score_covariance(self, data: Any, params: Params) -> np.ndarray:
        """Conditional covariance of the complete-data score given the data (Louis 1982).

        ``Cov[∂/∂θ log p(x, z | θ) | data, θ]``, the missing information, so that the observed
        information is ``I_c − score_covariance``. The default sums over independent
        observations from :meth:`latent_class_scores`:
        ``Σ_u n_u Σ_l w_ul (s_ul − s̄_u)(s_ul − s̄_u)ᵀ`` with ``s̄_u = Σ_l w_ul s_ul``.
        """
        counts, posterior, scores = self.latent_class_scores(data, params)
        centred = scores - np.einsum("ul,ulp->up", posterior, scores)[:, None, :]
        return np.einsum("u,ul,ulp,ulq->pq", counts, posterior, centred, centred)

    def resample(self, data: Any, rng: np.random.Generator) -> Any:
        """One nonparametric bootstrap data set: the observations of ``data`` (as returned by
        :meth:`prepare`) drawn with replacement, in a form :meth:`prepare` accepts."""
        raise NotImplementedError(f"{type(self).__name__} does not resample its data")

    def n_observations(self, data: Any) -> int:
        """Number of observations of ``data`` (as returned by :meth:`prepare`): the length of
        the ``factors`` of :meth:`reweight`."""
        raise NotImplementedError(f"{type(self).__name__} does not reweight its data")

    def reweight(self, data: Any, factors: np.ndarray) -> Any:
        """``data`` (prepared) with the weight of observation ``i`` multiplied by ``factors[i]``
        (0 leaves it out), in a form :meth:`prepare` accepts: the weighted likelihood bootstrap
        and the jackknife."""
        raise NotImplementedError(f"{type(self).__name__} does not reweight its data")

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator) -> Any:
        """One parametric bootstrap data set: as many observations as ``like_data`` (prepared)
        drawn from the model at ``params``, in a form :meth:`prepare` accepts and, for data held
        in chunks (where ``like_data`` is one prepared chunk), :meth:`prepare_chunk` too."""
        raise NotImplementedError(f"{type(self).__name__} does not simulate data")


def array_labels(name: str, shape: tuple[int, ...]) -> list[str]:
    """Labels of the entries of an array parameter: ``name``, ``name[i]`` or ``name[i,j]``."""
    if len(shape) == 0:
        return [name]
    return [f"{name}[{','.join(str(i) for i in index)}]" for index in np.ndindex(*shape)]


def flatten_named(named: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """Labels and values of user-facing parameters (floats or nested lists), in key order."""
    labels = [label for key, value in named.items() for label in array_labels(key, np.shape(value))]
    values = np.concatenate([np.ravel(np.asarray(value, dtype=float)) for value in named.values()])
    return labels, values


def unflatten_named(like: dict[str, Any], values: np.ndarray, trailing: tuple[int, ...] = ()) -> dict[str, Any]:
    """Inverse of :func:`flatten_named`: the leading axis of ``values`` shaped like the entries of
    ``like`` (each entry keeps the ``trailing`` axes, e.g. ``(2,)`` for interval bounds)."""
    values = np.asarray(values, dtype=float)
    out, start = {}, 0
    for key, value in like.items():
        shape = np.shape(value)
        size = int(np.prod(shape))
        out[key] = _jsonable(np.reshape(values[start:start + size], shape + tuple(trailing)))
        start += size
    return out


def _jsonable(value: Any) -> Any:
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else array.tolist()

