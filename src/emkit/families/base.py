"""The interface of a component family: the distribution of an observation given its latent class.

A latent model owns the latent layer: a :class:`~emkit.latent.hmm.HiddenMarkovModel` the
hidden chain (start and transition probabilities, forward–backward), a mixture its weights. A
:class:`Family` owns ``p(x_i | z_i = k)`` for all ``K`` components at once: the rows' log-likelihoods,
the expected sufficient statistics given the posteriors ``γ_i(k)`` (additive over rows), and the
M-step for its own parameters. Missing cells are the family's business: it gives a row with
nothing observed log-likelihood 0 (a NaN row) or marginalises the missing coordinates.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from functools import partial
from typing import Any, Callable

import numpy as np

from ..engine.model import Params, Regularization, Stats


def block_maker(family: "Family", context: Any) -> Callable[[np.ndarray], Any]:
    """``rows -> family.block_data(rows, context)`` (without ``context`` when it is None); picklable
    (prepared data travel to worker processes, e.g. a bootstrap's)."""
    if context is None:
        return family.block_data
    return partial(family.block_data, context=context)


def _is_default(value: Any, default: Any) -> bool:
    """Whether a family's argument ``value`` equals its constructor's ``default`` (arrays by value)."""
    if default is inspect.Parameter.empty:
        return False
    try:
        return bool(np.array_equal(np.asarray(value), np.asarray(default))) and type(value) is type(default)
    except (TypeError, ValueError):
        return value is default


def written(values: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``values`` copied into ``out`` and ``out`` returned, or ``values`` when ``out`` is None (the
    ``out`` convention of :meth:`Family.log_likelihood`)."""
    if out is None:
        return values
    out[...] = values
    return out


def by_component(scores: np.ndarray) -> np.ndarray:
    """Scores of each component's own parameters placed in that component's entries of the free
    parameters: ``scores`` (n, K, ..., q) becomes (n, K, ..., K·q), zero outside row ``k``'s
    block ``k·q : (k+1)·q`` (the layout of per-component parameters flattened component by
    component)."""
    n, k = scores.shape[:2]
    out = np.zeros(scores.shape[:-1] + (k, scores.shape[-1]))
    for component in range(k):
        out[:, component, ..., component, :] = scores[:, component]
    return out.reshape(scores.shape[:-1] + (k * scores.shape[-1],))


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` broadcast, 0 where the denominator is not positive (a
    probability or rate of 0, whose component cannot produce the rows that would divide by it)."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, dtype=float),
                                                 np.asarray(denominator, dtype=float))
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator > 0)


class Family(ABC):
    """Distribution of an observation given its component (mixture) or hidden state (HMM), with its
    EM pieces.

    Subclasses list their parameter names in :attr:`param_names` (keys of the params dict shared
    with the chain's ``startprob`` and ``transmat``) and their statistics in :attr:`stat_names`.
    """

    #: Keys of the emission parameters in the params dictionary.
    param_names: tuple[str, ...] = ()

    def validate(self, n_components: int) -> None:
        """Check the emission's own settings (e.g. prior shapes) for ``n_components`` states."""

    @abstractmethod
    def prepare(self, X: Any) -> np.ndarray:
        """Validated observations as the other methods expect them (one row per time step)."""

    def prepare_chunk(self, X: Any) -> np.ndarray:
        """One chunk of a data set held in chunks (Dask), validated like :meth:`prepare` but
        without the checks that only the whole data can pass (a column never observed).
        Default: :meth:`prepare`."""
        return self.prepare(X)

    def data_context(self, X: np.ndarray) -> Any:
        """What the blocks of a data set need from the whole data (e.g. a Gaussian's centre of
        statistics), from its prepared rows in memory; None (the default): nothing.

        A family is an immutable value: the latent model keeps the context with its prepared
        data and hands it to :meth:`block_data`, and a stream of batches (online EM) keeps the
        first batch's."""
        return None

    def chunk_summary(self, X: np.ndarray) -> Stats | None:
        """An additive summary of one chunk's rows (from :meth:`prepare_chunk`) that
        :meth:`chunk_context` needs, e.g. per-column sums for a centre (None: none)."""
        return None

    def chunk_context(self, summary: Stats | None) -> Any:
        """:meth:`data_context` of a data set held in chunks, from the summed
        :meth:`chunk_summary` of all chunks (None, the default: nothing)."""
        return None

    def block_data(self, X: np.ndarray, context: Any = None) -> Any:
        """A block of prepared rows as :meth:`log_likelihood` and :meth:`stats` take them
        (computed once per data set; the rows themselves by default), made with the data set's
        ``context`` (:meth:`data_context`; passed only when not None, so a family without one may
        define ``block_data(self, X)``)."""
        return X

    @abstractmethod
    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Starting emission parameters from the prepared rows ``X``: deterministic when ``rng`` is
        None.

        ``sample_weight`` (shape (n,), non-negative; None: all 1) weighs the rows as copies: an
        integer weight ``w_i`` gives the start of the data with row ``i`` repeated ``w_i`` times
        (0: left out), to round-off. A family may leave the argument out: it then starts from
        the unweighted rows (:meth:`weighted_initial_params`).
        """

    def weighted_initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                                sample_weight: np.ndarray | None = None) -> Params:
        """:meth:`initial_params` with ``sample_weight`` when given and the family takes it (what
        latent models and combinators call: a family written without weighted starts starts
        from the unweighted rows, as before)."""
        if sample_weight is None or "sample_weight" not in inspect.signature(self.initial_params).parameters:
            return self.initial_params(X, n_components, rng)
        return self.initial_params(X, n_components, rng, sample_weight=sample_weight)

    def precompute(self, params: Params) -> Any:
        """Quantities derived from ``params`` once per E-step (e.g. Cholesky factors)."""
        return params

    @abstractmethod
    def log_likelihood(self, block: Any, cache: Any, out: np.ndarray | None = None) -> np.ndarray:
        """``log p(x_t | z_t = k)``, shape (n, K) (0 for a missing observation), for the rows of
        ``block`` (from :meth:`block_data`) given ``cache`` (from :meth:`precompute`), written
        into ``out`` when given (and returned)."""

    def frame_log_likelihood(self, block: Any, cache: Any, out: np.ndarray | None = None) -> np.ndarray:
        """:meth:`log_likelihood` of rows seen once (an HMM's decoding and scoring, where the
        fit's E-step visits the same rows every iteration): the same values, by a route that
        may keep nothing for later passes; :meth:`log_likelihood` by default."""
        return self.log_likelihood(block, cache, out)

    @abstractmethod
    def stats(self, block: Any, posteriors: np.ndarray, cache: Any) -> Stats:
        """Expected sufficient statistics ``Σ_t γ_t(k) T(x_t)``, additive over time steps."""

    def lookup_rows(self, X: np.ndarray) -> np.ndarray | None:
        """For a family whose observations take few values: each prepared row's value, as its row
        in :meth:`lookup_table` (int64, shape (n,)); None (the default) otherwise. An HMM then
        reads the frame log-likelihoods from the table and takes the statistics from the
        posteriors added up by value (:meth:`lookup_stats`), with no (n, K) frame."""
        return None

    def lookup_table(self, cache: Any) -> np.ndarray:
        """``log p(v | k)`` of every value ``v`` (rows) and component ``k`` (columns), for a family
        with :meth:`lookup_rows`."""
        raise NotImplementedError(f"{type(self).__name__} has no lookup table")

    def lookup_stats(self, counts: np.ndarray) -> Stats:
        """:meth:`stats` from the posteriors added up by value, ``counts[v, k] = Σ_{t: x_t = v} γ_t(k)``,
        for a family with :meth:`lookup_rows`."""
        raise NotImplementedError(f"{type(self).__name__} has no lookup table")

    def mixture_pass(self, cache: Any,
                     weights: np.ndarray) -> Callable[[Any, np.ndarray | None], tuple[Stats, float]] | None:
        """A fused E-step for a mixture with ``weights`` (K,), or None (the default: the mixture
        takes :meth:`log_likelihood`, normalises, then takes :meth:`stats`).

        The callable maps a block (from :meth:`block_data`) and its rows' sample weights (None:
        all 1) to ``(stats, ℓ)``: ``counts[k] = Σ_i w_i γ_ik`` with the family's statistics of the
        weighted responsibilities, and ``ℓ = Σ_i w_i log Σ_k π_k p(x_i | k)``, exactly what the
        three steps give (a family offers it when one pass over the block is faster). Data of one
        block are passed in the caller's thread, outside the thread pool's single-threaded BLAS:
        a fused pass that multiplies matrices limits BLAS itself
        (:func:`~emkit.kernels.parallel.single_threaded_blas`).
        """
        return None

    #: Whether the M-step takes the data (a GLM regression's coefficients have no finite
    #: statistics): the latent model then calls :meth:`m_step_with_data` in place of :meth:`m_step`.
    m_step_uses_data: bool = False

    def m_step_with_data(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray,
                         data_pass: Any) -> Params:
        """The M-step of a family with :attr:`m_step_uses_data`: :meth:`m_step`'s contract, with
        ``data_pass.sum(function)`` adding ``function(block, posteriors) -> dict`` over the blocks
        of the data (from :meth:`block_data`) and their posteriors at the E-step's parameters
        (the latent model and the engine own the passes: :class:`~emkit.engine.data_pass.DataPass`)."""
        raise NotImplementedError(f"{type(self).__name__} sets m_step_uses_data but gives no m_step_with_data")

    @abstractmethod
    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """Emission parameters maximising the expected complete-data log-likelihood.

        Parameters in ``learn`` are updated, the others copied from ``params``; states flagged in
        ``keep`` (no posterior weight) keep their previous parameters.
        """

    def log_prior(self, params: Params) -> float:
        """Log prior density of the emission parameters, up to a constant (0: flat prior)."""
        return 0.0

    def regularization(self, stats: Stats, params: Params, learn: frozenset[str],
                       keep: np.ndarray) -> Regularization | None:
        """What a regularised :meth:`m_step` from ``stats`` to ``params`` gave up
        (:meth:`emkit.engine.EMModel.regularization`); None, the default: an exact M-step."""
        return None

    @abstractmethod
    def check_params(self, params: Params, n_components: int) -> Params:
        """Validated emission parameters (float arrays); ``ValueError`` naming the bad key."""

    @abstractmethod
    def is_feasible(self, params: Params) -> bool:
        """Whether the emission parameters lie in the parameter space."""

    def shared_params(self) -> frozenset[str]:
        """Parameters shared by every component (not indexed by component on their first axis,
        e.g. a tied covariance); a latent model's reordering of the components leaves them as
        they are. Default: none."""
        return frozenset()

    def component_means(self, params: Params) -> np.ndarray:
        """``E[x_j | z = k]`` of every column under every component, shape (K, d) (what
        :meth:`conditional_means` fills missing cells from when the columns are independent
        given the component)."""
        raise NotImplementedError(f"{type(self).__name__} does not give its components' means, so its missing cells "
                                  "cannot be imputed")

    def conditional_means(self, X: np.ndarray, posteriors: np.ndarray, params: Params) -> np.ndarray:
        """Prepared float rows ``X`` with each missing cell replaced by its conditional mean given
        the row's observed cells, ``Σ_k γ_ik E[x_ij | x_i,o, z_i = k]`` (``posteriors`` ``γ``, shape
        (n, K)). Default, for columns independent given the component: ``Σ_k γ_ik E[x_j | z = k]``
        (:meth:`component_means`)."""
        missing = self.missing_cells(X).reshape(np.shape(X))
        if not missing.any():
            return np.array(X, dtype=float)
        return np.where(missing, posteriors @ np.asarray(self.component_means(params), dtype=float), X)

    def missing_cells(self, X: np.ndarray) -> np.ndarray:
        """Which cells of prepared rows ``X`` are missing, as a boolean (n, d) shaped like the
        rows :meth:`sample` draws (NaN in float rows, negative codes in integer rows)."""
        missing = np.isnan(X) if np.issubdtype(X.dtype, np.floating) else X < 0
        return missing.reshape(X.shape[0], -1)

    def __repr__(self) -> str:
        """``Name(argument=value, ...)`` from the constructor's arguments kept under their names,
        those left at their defaults omitted (as scikit-learn shows estimators), e.g.
        ``Poisson(n_features=3)``."""
        parameters = inspect.signature(type(self).__init__).parameters.values()
        arguments = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in parameters
                              if p.name != "self" and hasattr(self, p.name)
                              and not _is_default(getattr(self, p.name), p.default))
        return f"{type(self).__name__}({arguments})"

    def describe(self) -> str:
        """The family in words, e.g. "categorical" (default: the class name without "Emission",
        lower case)."""
        return type(self).__name__.removesuffix("Emission").lower() or "custom"

    @abstractmethod
    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        """Number of free scalar parameters among those in ``learn``."""

    @abstractmethod
    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """One observation per entry of ``states``, drawn from ``p(x | z = state)``."""

    # ------------------------------------------------ free parameters (for standard errors)
    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """The free scalars of the learned emission parameters, flat."""
        raise NotImplementedError(f"{type(self).__name__} does not give its free parameters")

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        """Inverse of :meth:`to_free` (parameters not learned from ``like``)."""
        raise NotImplementedError(f"{type(self).__name__} does not give its free parameters")

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        """Names of the entries of :meth:`to_free`."""
        raise NotImplementedError(f"{type(self).__name__} does not give its free parameters")

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Expected complete-data information of the emission in :meth:`to_free`'s entries."""
        raise NotImplementedError(f"{type(self).__name__} does not give its complete-data information")

    def row_scores(self, block: Any, params: Params, learn: frozenset[str]) -> np.ndarray | None:
        """Each row's complete-data score under each component, ``s_ik = ∂/∂θ log p(x_i | z_i = k)``
        in :meth:`to_free`'s entries, shape (n, K, p), for the rows of ``block`` (from
        :meth:`block_data`); a marginalised (missing) cell adds 0.

        The scores of the same complete data as :meth:`complete_information`'s (Louis's missing
        information is their covariance given the data). None, the default: the family gives
        none, and a latent model differentiates :meth:`log_likelihood` numerically instead.
        """
        return None

    def within_score_covariance(self, block: Any, posteriors: np.ndarray, params: Params,
                                learn: frozenset[str]) -> np.ndarray | None:
        """``Σ_i Σ_k γ_ik Cov[S_c | x_i, z_i = k]`` in :meth:`to_free`'s entries, (p, p): the
        missing information of latent variables inside a component (a
        :class:`~emkit.families.FiniteMixture`'s sub-component), which :meth:`row_scores`
        (their conditional mean) leaves out. None, the default: the complete data given the
        component are the row itself."""
        return None
