"""A finite mixture of a family as a family: component ``k`` is itself a mixture of ``M``
sub-components (Gaussian-mixture emissions of an HMM, hmmlearn's ``GMMHMM``).

    ``log p(x | k) = log Σ_m w_km p(x | k, m)``

where ``p(· | k, m)`` is sub-component ``k·M + m`` of an inner family built for ``K·M``
components. Everything is the inner family's, run on the ``K·M`` sub-components with the weights
``γ_ik r_ikm``, where ``r_ikm = w_km p(x_i | k, m) / p(x_i | k)`` are the responsibilities within
component ``k``:

* statistics ``mix_counts[k, m] = Σ_i γ_ik r_ikm`` and the inner family's statistics of the
  weights ``γ_ik r_ikm`` (reshaped to (n, K·M));
* M-step ``w_km ∝ mix_counts_km + α_km − 1`` (a Dirichlet prior; ``α = 1`` is maximum
  likelihood) and the inner family's M-step on the ``K·M`` sub-components;
* the complete-data information is block diagonal (the weights' categorical information, then
  the inner family's).

With ``shared`` (hmmlearn's ``GMMHMM`` "tied": the ``M`` covariances of a state are one), that
inner parameter is stored once per component, shape (K, ...), and given to the inner family
repeated ``M`` times; its M-step pools the inner family's sub-component steps,
``θ_k = Σ_m (n_km + c) θ_km / Σ_m (n_km + c)`` with ``c = shared_offset``: for a Gaussian
covariance ``θ_km = (Ψ_km + S_km)/(n_km + c)`` (``c`` the prior's exponent, 0 without a prior), so
``θ_k = (Σ_m Ψ_km + S_k)/(n_k + M c)``, the mode of the state's tied covariance under the prior
that the ``M`` sub-components' priors make together.

With ``conditional_steps`` the inner M-step is an ECM sequence (Meng & Rubin 1993): one
conditional maximisation per group of inner parameters, in order, each given the others' current
values. ``(("covars",), ("means",))`` for a Gaussian is hmmlearn's ``GMMHMM`` order: covariances
about the *previous* means (with the means prior's ``κ(μ − m)(μ − m)ᵀ`` at those means), then the
means, whose maximiser does not depend on the covariances. Each step raises the expected
complete-data log-posterior, so the observed one never decreases (a generalised EM step).

Parameters are the weights (K, M) and the inner family's parameters for ``K·M`` components,
sub-component ``(k, m)`` in row ``k·M + m`` (e.g. Gaussian ``means`` (K·M, d)):
:meth:`FiniteMixture.nested` reshapes such a table to (K, M, ...), :meth:`FiniteMixture.flat`
back. A sub-component with no weight keeps its parameters (with a warning), as does every
sub-component of a component in ``keep``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.linalg import block_diag

from ..engine.model import Params, Regularization, Stats
from ..exceptions import DegenerateComponentWarning
from ..models.categorical import free_rows, rows_from_free, rows_information, rows_labels
from ..numerics import safe_log
from ..validation import check_integer
from . import dirichlet
from .base import Family, block_maker, by_component, safe_ratio

#: A sub-component whose expected count is at most this fraction of the total is empty.
EMPTY_SUBCOMPONENT_RTOL = 1e-12

#: Name of the (K, M) expected sub-component counts among the statistics.
MIX_COUNTS = "mix_counts"


class FiniteMixture(Family):
    """Each component a mixture of ``n_mix`` sub-components of the family ``inner``.

    Parameters
    ----------
    inner : Family
        The sub-components' family; it is used with ``K·n_mix`` components (one object, not
        shared with another model).
    n_mix : int
        Number of sub-components ``M`` of every component.
    weights_prior : float or array of shape (K, M), default=1.0
        Dirichlet concentrations ``α ≥ 1`` of each component's weights (1: maximum likelihood).
    weights_name : str, default="mix_weights"
        Name of the (K, M) weights among the parameters (hmmlearn's ``GMMHMM`` calls them
        ``"weights"``; inside a :class:`~emkit.latent.MixtureModel`, whose own weights are
        ``"weights"``, keep the default).
    shared : str, optional
        An inner parameter shared by the ``M`` sub-components of each component (one per
        component; see the module notes), e.g. ``"covars"``.
    shared_offset : float, default=0.0
        The ``c`` of the pooled step of ``shared`` (the prior's exponent per sub-component).
    conditional_steps : sequence of sequences of str, optional
        Groups of the inner family's parameters (each name in exactly one group) maximised one
        group at a time, in order, given the others' current values (an ECM step, see the module
        notes); None: the inner family's joint M-step.

    Examples
    --------
    >>> FiniteMixture(Gaussian(2, "full"), 3)   # parameters mix_weights, means, covars
    """

    def __init__(self, inner: Family, n_mix: int, weights_prior: float | np.ndarray = 1.0,
                 weights_name: str = "mix_weights", shared: str | None = None, shared_offset: float = 0.0,
                 conditional_steps: Sequence[Sequence[str]] | None = None) -> None:
        if not isinstance(inner, Family):
            raise ValueError(f"inner: expected an emkit.families.Family, got {type(inner).__name__}")
        self.inner = inner
        self.n_mix = check_integer(n_mix, "n_mix")
        if not isinstance(weights_name, str) or weights_name in inner.param_names:
            raise ValueError(f"weights_name: expected a name other than the inner family's parameters "
                             f"{list(inner.param_names)}, got {weights_name!r}")
        self.weights_name = weights_name
        self.weights_prior = weights_prior
        if np.ndim(weights_prior) == 0:
            dirichlet.check_concentration(weights_prior, (1, 1), "weights_prior")
        self.param_names = (weights_name,) + tuple(inner.param_names)
        if shared is not None and shared not in inner.param_names:
            raise ValueError(f"shared: expected one of the inner family's parameters {list(inner.param_names)}, "
                             f"got {shared!r}")
        if not (np.isfinite(shared_offset) and shared_offset >= 0):
            raise ValueError(f"shared_offset: must be a non-negative number, got {shared_offset!r}")
        self.shared = shared
        self.shared_offset = float(shared_offset)
        self.conditional_steps = self._check_steps(conditional_steps)

    def _check_steps(self, steps: Sequence[Sequence[str]] | None) -> tuple[tuple[str, ...], ...]:
        """The groups of the M-step (one group of all inner parameters when ``steps`` is None);
        ``ValueError`` naming ``conditional_steps`` unless they partition the inner parameters."""
        names = tuple(self.inner.param_names)
        if steps is None:
            return (names,)
        try:
            given = [] if isinstance(steps, str) else list(steps)
            groups = tuple(tuple(group) for group in given if not isinstance(group, str) and len(group))
        except TypeError:
            given, groups = [None], ()
        listed = sorted(name for group in groups for name in group)
        if not given or len(groups) != len(given) or listed != sorted(names):
            raise ValueError(f"conditional_steps: expected groups of the inner family's parameters {list(names)}, "
                             f"each in exactly one group, e.g. [['covars'], ['means']]; got {steps!r}")
        return groups

    # ------------------------------------------------------------------ shapes
    def nested(self, table: np.ndarray) -> np.ndarray:
        """A table of the sub-components, (K·M, ...), as (K, M, ...)."""
        table = np.asarray(table)
        return table.reshape((table.shape[0] // self.n_mix, self.n_mix) + table.shape[1:])

    @staticmethod
    def flat(table: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`nested`: (K, M, ...) as (K·M, ...)."""
        table = np.asarray(table)
        return table.reshape((table.shape[0] * table.shape[1],) + table.shape[2:])

    def concentration(self, n_components: int) -> np.ndarray:
        """The Dirichlet concentrations as a (K, M) array; ``ValueError`` naming the prior."""
        return dirichlet.check_concentration(self.weights_prior, (n_components, self.n_mix), "weights_prior")

    def _inner(self, params: Params) -> Params:
        """The inner family's parameters for the ``K·M`` sub-components (``shared`` repeated)."""
        inner = {name: params[name] for name in self.inner.param_names if name in params}
        if self.shared in inner:
            inner[self.shared] = np.repeat(np.asarray(inner[self.shared], dtype=float), self.n_mix, axis=0)
        return inner

    def _pooled(self, inner: Params, counts: np.ndarray) -> Params:
        """``inner`` with ``shared`` back to one per component: the sub-components' values
        averaged with the weights ``n_km + c`` (equal weights where a component has none)."""
        if self.shared is None:
            return inner
        values = self.nested(np.asarray(inner[self.shared], dtype=float))
        weights = counts + self.shared_offset
        weights = np.where(weights.sum(axis=1, keepdims=True) > 0, weights, 1.0)
        weights = weights / weights.sum(axis=1, keepdims=True)
        pooled = np.einsum("km,km...->k...", weights, values)
        return {**inner, self.shared: pooled}

    def _no_shared(self, what: str) -> None:
        if self.shared is not None:
            raise NotImplementedError(f"{what} of a FiniteMixture with a shared {self.shared!r} is not offered")

    # ------------------------------------------------------------------ data
    def validate(self, n_components: int) -> None:
        self.concentration(n_components)
        self.inner.validate(n_components * self.n_mix)

    def prepare(self, X: Any) -> np.ndarray:
        return self.inner.prepare(X)

    def prepare_chunk(self, X: Any) -> np.ndarray:
        return self.inner.prepare_chunk(X)

    def chunk_summary(self, X: np.ndarray) -> Stats | None:
        return self.inner.chunk_summary(X)

    def data_context(self, X: np.ndarray) -> Any:
        return self.inner.data_context(X)

    def chunk_context(self, summary: Stats | None) -> Any:
        return self.inner.chunk_context(summary)

    def block_data(self, X: np.ndarray, context: Any = None) -> Any:
        return block_maker(self.inner, context)(X)

    def missing_cells(self, X: np.ndarray) -> np.ndarray:
        return self.inner.missing_cells(X)

    # ------------------------------------------------------------------ EM
    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Equal weights ``1/M`` and the inner family's start for ``K·M`` components (from the
        same weighted rows)."""
        return {self.weights_name: np.full((n_components, self.n_mix), 1.0 / self.n_mix),
                **self.inner.weighted_initial_params(X, n_components * self.n_mix, rng, sample_weight)}

    def precompute(self, params: Params) -> tuple[np.ndarray, Any]:
        """``log w`` (K, M) and the inner family's cache."""
        return safe_log(np.asarray(params[self.weights_name], dtype=float)), self.inner.precompute(self._inner(params))

    def _joint(self, block: Any, cache: tuple[np.ndarray, Any]) -> np.ndarray:
        """``log w_km + log p(x_i | k, m)``, shape (n, K, M)."""
        log_weights, inner_cache = cache
        log_sub = self.inner.log_likelihood(block, inner_cache)
        return log_sub.reshape(log_sub.shape[0], *log_weights.shape) + log_weights

    @staticmethod
    def _log_normalize(joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log Σ_m exp(joint)`` (n, K) and the responsibilities ``r`` (n, K, M) (0 where the
        sum is 0)."""
        top = joint.max(axis=2)
        finite = np.isfinite(top)
        safe_top = np.where(finite, top, 0.0)
        with np.errstate(under="ignore"):
            scaled = np.exp(joint - safe_top[:, :, None])
        total = scaled.sum(axis=2)
        resp = scaled / np.where(finite, total, 1.0)[:, :, None]
        resp[~finite] = 0.0
        with np.errstate(divide="ignore"):
            log_total = np.where(finite, safe_top + np.log(np.where(finite, total, 1.0)), top)
        return log_total, resp

    def log_likelihood(self, block: Any, cache: tuple[np.ndarray, Any], out: np.ndarray | None = None) -> np.ndarray:
        """``log Σ_m w_km p(x_i | k, m)``, shape (n, K)."""
        values, _ = self._log_normalize(self._joint(block, cache))
        if out is None:
            return values
        out[...] = values
        return out

    def stats(self, block: Any, posteriors: np.ndarray, cache: tuple[np.ndarray, Any]) -> Stats:
        """``mix_counts = Σ_i γ_ik r_ikm`` and the inner family's statistics of ``γ_ik r_ikm``."""
        _, resp = self._log_normalize(self._joint(block, cache))
        weights = posteriors[:, :, None] * resp
        inner = self.inner.stats(block, weights.reshape(weights.shape[0], -1), cache[1])
        if MIX_COUNTS in inner:
            raise ValueError(f"inner: {type(self.inner).__name__}'s statistic {MIX_COUNTS!r} clashes with the "
                             "mixture's; rename it")
        return {MIX_COUNTS: weights.sum(axis=0), **inner}

    def _kept(self, counts: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Which sub-components keep their parameters (K·M,): those of components in ``keep``
        and those with no expected count (with a warning naming them)."""
        empty = (counts <= EMPTY_SUBCOMPONENT_RTOL * counts.sum()) & ~keep[:, None]
        if np.any(empty):
            warnings.warn(
                f"sub-component(s) (component, mix) {[tuple(map(int, pair)) for pair in np.argwhere(empty)]} "
                f"received no weight; they keep their {self.inner.describe()} parameters. Remedy: fewer "
                "sub-components (n_mix), weights_prior > 1, or another start", DegenerateComponentWarning,
                stacklevel=5)
        return (empty | keep[:, None]).ravel()

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``w_km ∝ mix_counts_km + α_km − 1`` and the inner family's M-step on the ``K·M``
        sub-components (one conditional step per group of ``conditional_steps``); components in
        ``keep`` keep all their parameters."""
        previous = np.asarray(params[self.weights_name], dtype=float)
        counts = np.asarray(stats[MIX_COUNTS], dtype=float)
        weights = previous
        if self.weights_name in learn:
            rows, _ = dirichlet.posterior_mode(counts, self.concentration(previous.shape[0]), previous)
            weights = np.where(keep[:, None], previous, rows)
        kept = self._kept(counts, keep)
        inner = self._inner(params)
        current = {name: params[name] for name in self.inner.param_names if name in params}
        for group in self.conditional_steps:   # one group (the joint step) unless conditional_steps
            step = learn & frozenset(group)
            if step:
                current = self._pooled(self.inner.m_step(stats, inner, step, kept), counts)
                inner = self._inner(current)
        return {self.weights_name: weights, **current}

    def log_prior(self, params: Params) -> float:
        """``Σ (α_km − 1) log w_km`` plus the inner family's log prior."""
        weights = np.asarray(params[self.weights_name], dtype=float)
        return (dirichlet.log_density(weights, self.concentration(weights.shape[0]))
                + self.inner.log_prior(self._inner(params)))

    def regularization(self, stats: Stats, params: Params, learn: frozenset[str],
                       keep: np.ndarray) -> Regularization | None:
        """The inner family's, on the sub-components (sub-component ``(k, m)`` is ``k·M + m``)."""
        counts = np.asarray(stats[MIX_COUNTS], dtype=float)
        kept = (counts <= EMPTY_SUBCOMPONENT_RTOL * counts.sum()) | keep[:, None]
        return self.inner.regularization(stats, self._inner(params), learn, kept.ravel())

    # ------------------------------------------------------------------ parameters
    def check_params(self, params: Params, n_components: int) -> Params:
        """The weights as (K, M) probability rows and the inner family's parameters for ``K·M``
        components."""
        weights = dirichlet.check_probability_rows(params[self.weights_name], (n_components, self.n_mix),
                                                   self.weights_name)
        inner = self.inner.check_params(self._inner(params), n_components * self.n_mix)
        if self.shared is not None:
            inner[self.shared] = self.nested(inner[self.shared])[:, 0]
        return {self.weights_name: weights, **inner}

    def is_feasible(self, params: Params) -> bool:
        return (dirichlet.is_probability_rows(np.asarray(params[self.weights_name], dtype=float))
                and self.inner.is_feasible(self._inner(params)))

    def describe(self) -> str:
        """E.g. "mixture of 3 Gaussian full"."""
        return f"mixture of {self.n_mix} {self.inner.describe()}"

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        """``K(M − 1)`` for the weights (when learned) and the inner family's for ``K·M``."""
        weights = n_components * (self.n_mix - 1) if self.weights_name in learn else 0
        inner = self.inner.n_free_parameters(n_components * self.n_mix, learn)
        if self.shared in learn:
            shared = frozenset({self.shared})
            inner += (self.inner.n_free_parameters(n_components, shared)
                      - self.inner.n_free_parameters(n_components * self.n_mix, shared))
        return weights + inner

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """``m ~ w_k`` for each state ``k`` (by inversion), then the inner family's draw from
        sub-component ``k·M + m``."""
        states = np.asarray(states, dtype=np.int64).ravel()
        cumulative = np.cumsum(np.asarray(params[self.weights_name], dtype=float), axis=1)[states]
        uniforms = rng.random(states.size)
        mix = np.minimum((cumulative <= uniforms[:, None] * cumulative[:, -1:]).sum(axis=1), self.n_mix - 1)
        return self.inner.sample(states * self.n_mix + mix, self._inner(params), rng)

    # ------------------------------------------------ free parameters (for standard errors)
    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Each component's weights but the last, then the inner family's free parameters."""
        self._no_shared("free parameters")
        weights = [free_rows(params[self.weights_name])] if self.weights_name in learn else []
        return np.concatenate(weights + [np.asarray(self.inner.to_free(self._inner(params), learn), dtype=float)])

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        self._no_shared("free parameters")
        free = np.asarray(free, dtype=float)
        shape = np.shape(like[self.weights_name])
        out: Params = {self.weights_name: like[self.weights_name]}
        start = 0
        if self.weights_name in learn:
            start = shape[0] * (shape[1] - 1)
            out[self.weights_name] = rows_from_free(free[:start], shape)
        out.update(self.inner.from_free(free[start:], self._inner(like), learn))
        return out

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        """``<weights>[k,m]`` and the inner family's labels (sub-component ``(k, m)`` is ``k·M + m``)."""
        self._no_shared("free parameters")
        weights = (rows_labels(self.weights_name, np.shape(params[self.weights_name]))
                   if self.weights_name in learn else [])
        return weights + list(self.inner.free_labels(self._inner(params), learn))

    def row_scores(self, block: Any, params: Params, learn: frozenset[str]) -> np.ndarray | None:
        """``E[s_ikm | x_i, z_i = k] = Σ_m r_ikm s_ikm``, shape (n, K, p), with ``s_ikm`` the score of
        the complete data ``(x_i, k, m)`` (:meth:`sub_scores`): the complete data of
        :meth:`complete_information` hold the sub-component, so Louis's missing information adds
        its spread given the component, :meth:`within_score_covariance`. None when the inner
        family gives no row scores."""
        sub = self.sub_scores(block, params, learn)
        return None if sub is None else np.einsum("ikm,ikmp->ikp", sub[1], sub[0])

    def within_score_covariance(self, block: Any, posteriors: np.ndarray, params: Params,
                                learn: frozenset[str]) -> np.ndarray:
        """``Σ_i Σ_k γ_ik Σ_m r_ikm (s_ikm − s̄_ik)(s_ikm − s̄_ik)ᵀ``, ``s̄_ik = Σ_m r_ikm s_ikm``: the
        missing information of the sub-component given the row and its component; plus the inner
        family's own (:meth:`Family.within_score_covariance` with the sub-components' masses
        ``γ_ik r_ikm``).

        Raises
        ------
        NotImplementedError
            When the inner family gives no row scores (without them Louis's missing
            information would leave this term out).
        """
        sub = self.sub_scores(block, params, learn)
        if sub is None:
            raise NotImplementedError(f"{self.inner.describe()} gives no row_scores, which Louis's missing information "
                                      "of a FiniteMixture needs (use method='hessian' or 'sem')")
        scores, resp = sub
        centred = scores - np.einsum("ikm,ikmp->ikp", resp, scores)[:, :, None, :]
        mass = posteriors[:, :, None] * resp
        scaled = centred * np.sqrt(mass)[..., None]
        flat = scaled.reshape(-1, scores.shape[-1])
        total = flat.T @ flat
        inner = self.inner.within_score_covariance(block, mass.reshape(mass.shape[0], -1), self._inner(params), learn)
        if inner is not None:  # the inner family's own latent variables (e.g. missing cells)
            total[-inner.shape[0]:, -inner.shape[0]:] += inner
        return total

    def sub_scores(self, block: Any, params: Params, learn: frozenset[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """The complete-data scores ``s_ikm = ∂/∂θ [log w_km + log p(x_i | k, m)]`` in
        :meth:`to_free`'s entries, shape (n, K, M, p), and the responsibilities ``r_ikm``
        (n, K, M); None when the inner family gives no row scores."""
        self._no_shared("row scores")
        inner = self.inner.row_scores(block, self._inner(params), learn)
        if inner is None:
            return None
        weights = np.asarray(params[self.weights_name], dtype=float)
        k, m = weights.shape
        _, resp = self._log_normalize(self._joint(block, self.precompute(params)))
        inner = inner.reshape(inner.shape[0], k, m, -1)
        if self.weights_name not in learn:
            return inner, resp
        inverse = safe_ratio(1.0, weights)
        table = np.zeros((k, m, m - 1))  # ∂/∂θ_k log w_km in the free weights (w_k1..w_k,M−1) of row k
        table[:, np.arange(m - 1), np.arange(m - 1)] = inverse[:, :-1]
        table[:, m - 1, :] = -inverse[:, -1:]
        own = by_component(np.broadcast_to(table, (inner.shape[0], k, m, m - 1)))
        return np.concatenate([own, inner], axis=3), resp

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Block diagonal: each component's weights' categorical information of ``mix_counts``
        (plus the prior's pseudo-counts ``α − 1``), then the inner family's."""
        self._no_shared("the complete-data information")
        blocks = []
        if self.weights_name in learn:
            weights = np.asarray(params[self.weights_name], dtype=float)
            counts = np.asarray(stats[MIX_COUNTS], dtype=float) + self.concentration(weights.shape[0]) - 1.0
            blocks.append(rows_information(counts, weights))
        return block_diag(*blocks, self.inner.complete_information(stats, self._inner(params), learn))
