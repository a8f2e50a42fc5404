"""Finite mixtures of any component family, fitted by EM through the emkit engine.

``p(x) = Σ_k π_k p_k(x)`` with ``p_k`` the :class:`~emkit.families.Family`'s distribution of
component ``k``; the component labels are the missing data. E-step, on blocks of rows (in
threads): the family's ``log p(x_i | k)`` for all ``K`` components, the responsibilities
``γ_ik = π_k p(x_i | k) / p(x_i)`` (log-sum-exp), and the additive statistics

* ``counts[k] = Σ_i w_i γ_ik`` and the family's ``Σ_i w_i γ_ik T(x_i)``

(``w_i`` the sample weights, 1 without); ``ℓ = Σ_i w_i log p(x_i)``. A row with nothing observed
has family log-likelihood 0 in every component, hence ``log p(x_i) = 0``. M-step: the Dirichlet
posterior mode ``π_k ∝ counts_k + α_k − 1`` (``α = weights_prior``; 1 is maximum likelihood)
and the family's M-step.

With ``weights_prior`` above 1 (or a family prior), the objective EM ascends, and the engine
monitors and reports, is ``ℓ(θ) + log p(θ)`` (:meth:`MixtureModel.log_prior`).

Empty components: a component whose expected count is at most :data:`EMPTY_COMPONENT_RTOL` of
the total keeps its family parameters (its statistics are round-off of the other components')
and gets the weight of the exact M-step, ``counts_k / Σ counts`` (zero to round-off), with a
``DegenerateComponentWarning``. Its weight is not forced to exactly 0: an exact zero would be a
structural zero that no later E-step could revive, and the exact M-step keeps EM's ascent
property exact.

Noise: with ``noise`` (a :class:`~emkit.latent.noise.UniformNoise`, density ``V⁻¹``) the mixture
is ``π_0 V⁻¹ + Σ_k π_k p_k(x)`` (mclust's noise component): parameter ``noise`` is ``π_0``, the
``weights`` are the ``K`` components' (``Σ_k π_k + π_0 = 1``), the responsibilities have a last
column for the noise, and the M-step is ``π ∝ (counts, counts_0) + α − 1`` (``α_0 = 1``).
Rows with missing cells are refused (the noise density would be over the observed
coordinates' box).

Order: components are labels, so a fit is one of ``K!`` equivalent relabellings. By default
they are not reordered; with ``order_by`` (a family parameter) :meth:`MixtureModel.canonical`
sorts them by its rows, the one ordering rule every face that sorts its components uses.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from scipy.linalg import block_diag

from ..engine.model import EMModel, Params, Regularization, Stats
from ..engine.stats import sum_stats
from ..exceptions import DegenerateComponentWarning
from ..families import dirichlet
from ..families.base import Family, block_maker
from ..kernels.gaussian_direct import LOST
from ..models.categorical import categorical_scores, free_rows, rows_from_free, rows_information, rows_labels
from ..numerics import safe_log
from ..validation import check_sample_weight
from .family_pass import family_m_step
from .noise import UniformNoise
from .sequences import Block, Sequences, default_n_jobs, parallel_map

#: A component whose expected count is at most this fraction of the total is empty (its
#: statistics are then round-off of the other components').
EMPTY_COMPONENT_RTOL = 1e-12

#: Louis's missing information takes the rows' complete-data scores in slices of at most this
#: many numbers (rows × components × free parameters).
SCORE_BLOCK_NUMBERS = 1 << 22

#: Step of the central differences of the rows' log-densities, as a fraction of the scale
#: ``√(Σ_i w_i / I_c,jj)`` on which one row's density varies with free family parameter ``j``
#: (truncation error ~ step², round-off ~ ε/step: both about 1e-10). Per row, so that the steps
#: hardly depend on which rows are summed (chunks of the data give the whole data's sum).
SCORE_STEP = 1e-5


@dataclass(frozen=True)
class MixtureData:
    """Rows prepared by the family, their sample weights (None: all 1), the row blocks of the
    E-step (each with the family's :meth:`~emkit.families.Family.block_data`) and the ``context``
    they were made with (what the family takes from the whole data, e.g. a Gaussian centre:
    :meth:`~emkit.families.Family.data_context`)."""

    X: np.ndarray
    sample_weight: np.ndarray | None
    blocks: list[Block]
    context: Any = None

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def weights_of(self, block: Block) -> np.ndarray | None:
        """The sample weights of the rows of ``block`` (None: all 1)."""
        return None if self.sample_weight is None else self.sample_weight[block.start:block.stop]

    @classmethod
    def build(cls, family: Family, X: np.ndarray, sample_weight: np.ndarray | None,
              context: Any = None) -> MixtureData:
        """Rows already prepared by ``family`` (and checked weights) cut into the blocks of the
        HMM's blocking policy (one sequence of rows), made with ``context``; the number of
        components plays no part."""
        rows = Sequences.build(X, np.array([0, X.shape[0]], dtype=np.int64), 1, block_maker(family, context))
        return cls(X, sample_weight, rows.blocks, context)


class MixtureModel(EMModel):
    """Mixture of ``n_components`` components of one family.

    Parameters
    ----------
    family : Family
        Distribution of an observation given its component (e.g. ``CategoricalEmission``).
    n_components : int
        Number of components ``K``.
    weights_prior : float or array of shape (K,)
        Dirichlet concentrations ``α ≥ 1`` of the weights (pseudo-counts ``α − 1``; 1 is
        maximum likelihood).
    learn : iterable of str, optional
        Parameters re-estimated by the M-step (default: ``weights`` and all of the family's);
        the others stay at their starting values.
    n_jobs : int, optional
        Number of threads over which the row blocks are spread (default: the number of CPUs;
        the results do not depend on it).
    order_by : str, optional
        A family parameter whose rows give the canonical order of the components
        (:meth:`canonical`: increasing, lexicographically over the row's entries), e.g.
        ``"lambdas"`` for Poisson components by increasing rate. For families whose every
        parameter is per component (first axis ``K``). None (default): components are not
        reordered.
    noise : UniformNoise, optional
        A uniform noise component (parameter ``noise``: its weight ``π_0``, learned with the
        ``weights``); None (default): none.

    Data are ``X`` or ``(X, sample_weight)``; parameters are ``weights`` (K,) and the family's.
    """

    def __init__(self, family: Family, n_components: int, *, weights_prior: float | np.ndarray = 1.0,
                 learn=None, n_jobs: int | None = None, order_by: str | None = None,
                 noise: UniformNoise | None = None) -> None:
        if not isinstance(family, Family):
            raise ValueError(f"family: expected an emkit.families.Family, got {type(family).__name__}")
        if not (isinstance(n_components, (int, np.integer)) and not isinstance(n_components, bool)
                and n_components >= 1):
            raise ValueError(f"n_components: the number of components must be a positive integer, got {n_components!r}")
        self.family = family
        self.n_components = int(n_components)
        if noise is not None and not isinstance(noise, UniformNoise):
            raise ValueError(f"noise: expected a UniformNoise or None, got {type(noise).__name__}")
        self.noise = noise
        self.param_names = ("weights",) + (("noise",) if noise else ()) + tuple(family.param_names)
        self.weights_prior = dirichlet.check_concentration(weights_prior, (self.n_components,), "weights_prior")
        self._flat_weights_prior = bool(np.all(self.weights_prior == 1.0))   # log prior 0: skipped per iteration
        family.validate(self.n_components)
        self.learn = frozenset(self.param_names if learn is None else learn)
        unknown = sorted(self.learn - set(self.param_names))
        if unknown:
            raise ValueError(f"learn: unknown parameter(s) {unknown}; expected names among {list(self.param_names)}")
        self.n_jobs = default_n_jobs(n_jobs)
        if order_by is not None and order_by not in family.param_names:
            raise ValueError(f"order_by: expected one of the family's parameters {list(family.param_names)}, "
                             f"got {order_by!r}")
        self.order_by = order_by

    # ----------------------------------------------------------------- data
    def prepare(self, data: Any) -> MixtureData:
        """:class:`MixtureData` from ``X`` or ``(X, sample_weight)`` (prepared data pass through)."""
        if isinstance(data, MixtureData):
            return data
        X, sample_weight = data if isinstance(data, tuple) and len(data) == 2 else (data, None)
        X = self.family.prepare(X)
        return self._data(X, check_sample_weight(sample_weight, X.shape[0]), self.family.data_context(X))

    # ------------------------------------------------------- data held in chunks (Dask)
    def chunk_summary(self, chunk: Any) -> Stats:
        """Of one raw chunk (rows of ``X``, or of ``(X, sample_weight)``): its total sample
        ``weight``, the number of rows ``observed`` in each column and the family's summary
        (:meth:`Family.chunk_summary`, under ``family:``), all additive over chunks."""
        X, weights = self._chunk_rows(chunk)
        family = {f"family:{key}": value for key, value in (self.family.chunk_summary(X) or {}).items()}
        return {"weight": np.array(float(X.shape[0] if weights is None else weights.sum())),
                "observed": (~self.family.missing_cells(X)).sum(axis=0).astype(float), **family}

    def chunk_context(self, summary: Stats) -> Any:
        """The whole-data checks that :meth:`prepare` makes in memory (every column observed
        somewhere, some positive weight), then the family's context of the whole data
        (:meth:`Family.chunk_context`, e.g. a Gaussian centre), which every chunk is prepared
        with."""
        never = np.flatnonzero(np.asarray(summary["observed"]) <= 0)
        if never.size:
            raise ValueError(f"X: column {int(never[0])} has no observed value (all NaN) in any chunk")
        if not summary["weight"] > 0:
            raise ValueError("sample_weight: all weights are zero; nothing to fit")
        family = {key.removeprefix("family:"): value for key, value in summary.items() if key.startswith("family:")}
        return self.family.chunk_context(family or None)

    def prepare_chunk(self, chunk: Any, context: Any = None) -> MixtureData:
        """One chunk as :class:`MixtureData`, validated by the family's
        :meth:`~Family.prepare_chunk` (a column may be missing throughout one chunk, and its
        weights may all be zero: :meth:`chunk_context` checks the whole data), its blocks made
        with the whole data's ``context`` (or a stream's first batch's; None: the chunk's own)."""
        if isinstance(chunk, MixtureData):
            return chunk
        X, sample_weight = self._chunk_rows(chunk)
        return self._data(X, sample_weight, self.family.data_context(X) if context is None else context)

    def _chunk_rows(self, chunk: Any) -> tuple[np.ndarray, np.ndarray | None]:
        X, sample_weight = chunk if isinstance(chunk, tuple) and len(chunk) == 2 else (chunk, None)
        X = self.family.prepare_chunk(X)
        return X, check_sample_weight(sample_weight, X.shape[0], whole_data=False)

    def _data(self, X: np.ndarray, sample_weight: np.ndarray | None, context: Any) -> MixtureData:
        return MixtureData.build(self.family, X, sample_weight, context)

    # ----------------------------------------------------------------- the EM pieces
    def initial_params(self, data: MixtureData, rng: np.random.Generator | None = None) -> Params:
        """Equal weights and the family's starting values from the weighted rows (deterministic
        when ``rng`` is None)."""
        k = self.n_components
        start = self.family.weighted_initial_params(data.X, k, rng, data.sample_weight)
        return {"weights": np.full(k, 1.0 / k), **start}

    def e_step(self, data: MixtureData, params: Params) -> tuple[Stats, float]:
        """``counts`` and the family's statistics of the weighted responsibilities, summed over
        row blocks (in threads, summed in block order), and ``Σ_i w_i log p(x_i)`` (the engine
        adds :meth:`log_prior`)."""
        self._check_noise_rows(data)
        cache = self.family.precompute(params)
        fused = None if self.noise or self.weights_vary_by_row else self.family.mixture_pass(
            cache, self._proportions(params))

        def block(b: Block) -> tuple[Stats, float]:
            if fused is not None:
                return fused(b.data, data.weights_of(b))
            resp, log_marginal = self._posterior(b.data, cache, self._block_log_weights(data, b, params))
            weights = data.weights_of(b)
            if weights is not None:
                resp *= weights[:, None]
            family_stats = self.family.stats(b.data, resp[:, :self.n_components], cache)
            if "counts" in family_stats:
                raise ValueError(f"family: {type(self.family).__name__}'s statistic 'counts' clashes with the "
                                 "mixture's; rename it")
            return {"counts": resp.sum(axis=0), **family_stats}, _weighted_sum(log_marginal, weights)

        if fused is not None and len(data.blocks) == 1:   # no thread pool for one block (the fused pass limits BLAS)
            stats, loglik = block(data.blocks[0])
            return stats, float(loglik)
        parts = parallel_map(block, data.blocks, self.n_jobs)
        return sum_stats(stats for stats, _ in parts), float(sum(loglik for _, loglik in parts))

    @property
    def m_step_uses_data(self) -> bool:
        """Whether the family's M-step takes the data (e.g. a GLM regression's)."""
        return self.family.m_step_uses_data

    def m_step_with_data(self, stats: Stats, params: Params, data_pass) -> Params:
        """:meth:`m_step` with the family's data-taking M-step (:meth:`Family.m_step_with_data`)."""
        return self.m_step(stats, params, data_pass)

    def m_step(self, stats: Stats, params: Params, data_pass=None) -> Params:
        """``π_k ∝ counts_k + α_k − 1`` (a weight that is exactly 0 stays 0) and the family's
        M-step; an empty component keeps its family parameters, with a warning naming it."""
        counts = np.asarray(stats["counts"], dtype=float)
        empty = self._empty(counts)[:self.n_components]
        if np.any(empty):
            warnings.warn(
                f"mixture component(s) {np.flatnonzero(empty).tolist()} received no weight (expected counts "
                f"{counts[:self.n_components][empty].tolist()}); they keep their {self.family.describe()} parameters with weight "
                "0. Remedy: fewer components (n_components), weights_prior > 1 (Dirichlet pseudo-counts), or "
                "another start (n_init)", DegenerateComponentWarning, stacklevel=4)
        out = dict(params)
        if "weights" in self.learn:
            proportions, _ = dirichlet.posterior_mode(counts, self._prior(), self._proportions(params))
            out.update(self._split(proportions))
        out.update(family_m_step(self.family, stats, params, self.learn, empty, data_pass,
                                 partial(self._family_rows, params=params)))
        return out

    def _family_rows(self, data: MixtureData, params: Params) -> list[tuple[Any, np.ndarray]]:
        """Each block's family data with its rows' responsibilities at ``params`` times their
        sample weights (the noise's left out)."""
        cache = self.family.precompute(params)
        rows = []
        for b in data.blocks:
            resp = self._posterior(b.data, cache, self._block_log_weights(data, b, params))[0][:, :self.n_components]
            weights = data.weights_of(b)
            rows.append((b.data, resp if weights is None else resp * weights[:, None]))
        return rows

    def log_prior(self, params: Params) -> float:
        """``Σ_k (α_k − 1) log π_k`` plus the family's log prior."""
        weights = 0.0 if self._flat_weights_prior else dirichlet.log_density(self._proportions(params), self._prior())
        return weights + self.family.log_prior(params)

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """The family's (:meth:`Family.regularization`), empty components left out."""
        return self.family.regularization(stats, params, self.learn,
                                          self._empty(np.asarray(stats["counts"], dtype=float))[:self.n_components])

    @staticmethod
    def _empty(counts: np.ndarray) -> np.ndarray:
        return counts <= EMPTY_COMPONENT_RTOL * counts.sum()

    # ----------------------------------------------------------------- the noise component
    def _proportions(self, params: Params) -> np.ndarray:
        """All the mixture's weights: ``weights``, then ``noise`` (``π_0``) with a noise component."""
        weights = np.asarray(params["weights"], dtype=float)
        return np.append(weights, float(params["noise"])) if self.noise else weights

    def _split(self, proportions: np.ndarray) -> Params:
        """Inverse of :meth:`_proportions`."""
        if not self.noise:
            return {"weights": proportions}
        return {"weights": proportions[:self.n_components], "noise": np.asarray(proportions[-1])}

    def _prior(self) -> np.ndarray:
        """The Dirichlet concentrations of :meth:`_proportions` (the noise weight's is 1)."""
        return np.append(self.weights_prior, 1.0) if self.noise else self.weights_prior

    def _check_noise_rows(self, data: MixtureData) -> None:
        """ValueError naming ``X`` for missing cells with a noise component."""
        if self.noise and np.any(self.family.missing_cells(data.X)):
            raise ValueError("X: missing values are not supported with a noise component (its density would be "
                             "over the box of each row's observed coordinates); remove or impute them, or drop noise")

    # ----------------------------------------------------------------- parameters
    def check_params(self, params: Params) -> Params:
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
        k = self.n_components
        if self.noise:
            if np.shape(params["weights"]) != (k,) or np.shape(params["noise"]) != ():
                raise ValueError(f"weights, noise: expected shapes ({k},) and (), got {np.shape(params['weights'])} "
                                 f"and {np.shape(params['noise'])}")
            proportions = dirichlet.check_probability_rows(self._proportions(params), (k + 1,), "weights and noise")
            return {**self._split(proportions), **self.family.check_params(params, k)}
        return {"weights": dirichlet.check_probability_rows(params["weights"], (k,), "weights"),
                **self.family.check_params(params, k)}

    def is_feasible(self, params: Params) -> bool:
        return dirichlet.is_probability_rows(self._proportions(params)) and self.family.is_feasible(params)

    def canonical(self, params: Params) -> Params:
        """The components sorted by the rows of ``params[order_by]`` (stable, lexicographic:
        ties by the next entry), the weights and every family parameter not shared by all
        components (:meth:`Family.shared_params`) permuted along their first axis; ``params``
        unchanged without ``order_by``."""
        if self.order_by is None:
            return params
        k = self.n_components
        per_component = [name for name in self.param_names
                         if name not in self.family.shared_params() and name != "noise"]
        wrong = [name for name in per_component if np.shape(params[name])[:1] != (k,)]
        if wrong:
            raise ValueError(f"order_by: parameter(s) {wrong} are not per component (first axis {k}) and the family "
                             "does not name them shared; such a family cannot be ordered by order_by")
        key = np.asarray(params[self.order_by], dtype=float).reshape(k, -1)
        order = np.lexsort(key.T[::-1])
        return {**params, **{name: np.asarray(params[name])[order] for name in per_component}}

    def describe(self) -> str:
        """E.g. "mixture of 3 categorical"."""
        return f"mixture of {self.n_components} {self.family.describe()}"

    def n_free_parameters(self) -> int:
        """``K − 1`` for the weights (``K`` with a noise weight; when learned) and the family's."""
        k = self.n_components
        return (k - 1 + bool(self.noise)) * ("weights" in self.learn) + self.family.n_free_parameters(k, self.learn)

    # ------------------------------------------------ free parameters (for standard errors)
    def fixing(self, names: set[str] | frozenset[str]) -> MixtureModel:
        """A copy that holds ``names`` at their values: their entries leave the free parameters."""
        model = copy.copy(self)
        model.learn = self.learn - frozenset(names)
        return model

    def to_free(self, params: Params) -> np.ndarray:
        """The learned weights but the last, then the family's free scalars."""
        weights = [free_rows(self._proportions(params))] if "weights" in self.learn else []
        return np.concatenate(weights + [np.asarray(self.family.to_free(params, self.learn), dtype=float)])

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        free = np.asarray(free, dtype=float)
        out, start = dict(like), 0
        if "weights" in self.learn:
            k = self.n_components + bool(self.noise)
            start = k - 1
            out.update(self._split(rows_from_free(free[:start], (k,))))
        out.update(self.family.from_free(free[start:], like, self.learn))
        return out

    def free_labels(self, params: Params) -> tuple[str, ...]:
        k = self.n_components + bool(self.noise)
        weights = rows_labels("weights", (k,)) if "weights" in self.learn else []
        return tuple(weights + list(self.family.free_labels(params, self.learn)))

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """Block diagonal: the weights' categorical information of ``counts`` (plus the prior's
        pseudo-counts ``α − 1``, as in the M-step) and the family's
        (:meth:`Family.complete_information`)."""
        weights = ([rows_information(np.asarray(stats["counts"], dtype=float) + self._prior() - 1.0,
                                     self._proportions(params))]
                   if "weights" in self.learn else [])
        return block_diag(*weights, self.family.complete_information(stats, params, self.learn))

    def score_covariance(self, data: Any, params: Params) -> np.ndarray:
        """Louis's missing information ``Σ_i w_i Σ_k γ_ik (s_ik − s̄_i)(s_ik − s̄_i)ᵀ``, plus the
        family's own (:meth:`Family.within_score_covariance`, e.g. a sub-component's).

        ``s_ik`` is row ``i``'s complete-data score under component ``k`` in the free
        parameters: exact for the weights (``∂ log π_k``), and for the family's parameters its
        :meth:`Family.row_scores`; a family that gives none gets the central differences of
        ``log p(x_i | k)``, with steps :data:`SCORE_STEP` of each parameter's scale per row
        ``√(Σ_i w_i / I_c,jj)`` (halved until both points are feasible). Rows in slices of at
        most :data:`SCORE_BLOCK_NUMBERS` scores.
        """
        data = self.prepare(data)
        k = self.n_components + bool(self.noise)
        weight_scores = (categorical_scores(self._proportions(params)).T
                         if "weights" in self.learn else np.zeros((k, 0)))
        size = weight_scores.shape[1] + np.size(self.family.to_free(params, self.learn))
        total = np.zeros((size, size))
        cache = self.family.precompute(params)
        log_weights = safe_log(self._proportions(params))
        differences = None  # the shifted caches and steps, made when the family gives no row scores
        rows = max(1, SCORE_BLOCK_NUMBERS // (k * max(size, 1)))
        for start in range(0, data.n_samples, rows):
            block = block_maker(self.family, data.context)(data.X[start:start + rows])
            resp, _ = self._posterior(block, cache, log_weights)
            family_scores = self.family.row_scores(block, params, self.learn)
            if family_scores is None:
                if differences is None:
                    differences = self._shifted_caches(data, params)
                family_scores = self._difference_scores(block, *differences, (resp.shape[0], self.n_components))
            if self.noise:  # the noise component's complete-data density has no family parameter
                family_scores = np.concatenate([family_scores, np.zeros_like(family_scores[:, :1])], axis=1)
            scores = np.concatenate([np.broadcast_to(weight_scores, resp.shape + weight_scores.shape[1:]),
                                     family_scores], axis=2)
            centred = scores - np.einsum("ik,ikp->ip", resp, scores)[:, None, :]
            mass = resp if data.sample_weight is None else resp * data.sample_weight[start:start + rows, None]
            scaled = (centred * np.sqrt(mass)[:, :, None]).reshape(-1, size)
            total += scaled.T @ scaled
            within = self.family.within_score_covariance(block, mass[:, :self.n_components], params, self.learn)
            if within is not None:
                total[weight_scores.shape[1]:, weight_scores.shape[1]:] += within
        return total

    def _difference_scores(self, block: Any, caches: list[tuple[Any, Any]], steps: np.ndarray,
                           shape: tuple[int, int]) -> np.ndarray:
        """``(log p(x_i | k; θ + h_j e_j) − log p(x_i | k; θ − h_j e_j)) / 2h_j``, shape (n, K, p)."""
        scores = [(self.family.log_likelihood(block, plus) - self.family.log_likelihood(block, minus)) / (2.0 * h)
                  for (plus, minus), h in zip(caches, steps)]
        return np.stack(scores, axis=2) if scores else np.zeros(shape + (0,))

    def _shifted_caches(self, data: MixtureData, params: Params) -> tuple[list[tuple[Any, Any]], np.ndarray]:
        """The family's precomputed caches at ``θ_f ± h_j e_j`` for each free family parameter,
        and the steps ``h_j``."""
        theta = np.asarray(self.family.to_free(params, self.learn), dtype=float)
        if theta.size == 0:
            return [], theta
        stats, _ = self.e_step(data, params)
        curvature = np.diag(np.atleast_2d(self.family.complete_information(stats, params, self.learn)))
        curvature = curvature / max(float(np.sum(stats["counts"])), np.finfo(float).tiny)
        steps = np.where(curvature > 0, SCORE_STEP / np.sqrt(np.where(curvature > 0, curvature, 1.0)),
                         SCORE_STEP * (1.0 + np.abs(theta)))
        caches = []
        for j in range(theta.size):
            for _ in range(60):
                shifted = [self.family.from_free(theta + sign * steps[j] * np.eye(theta.size)[j], params, self.learn)
                           for sign in (1.0, -1.0)]
                if all(self.family.is_feasible({**params, **point}) for point in shifted):
                    break
                steps[j] /= 2.0
            else:
                raise ValueError(f"standard_errors: no feasible difference step for {self.free_labels(params)[j]}")
            caches.append(tuple(self.family.precompute({**params, **point}) for point in shifted))
        return caches, steps

    def resample(self, data: Any, rng: np.random.Generator) -> MixtureData:
        """The rows (with their weights) drawn with replacement, prepared."""
        data = self.prepare(data)
        rows = rng.integers(0, data.n_samples, size=data.n_samples)
        return self._data(data.X[rows], None if data.sample_weight is None else data.sample_weight[rows], data.context)

    def n_observations(self, data: Any) -> int:
        return self.prepare(data).n_samples

    def reweight(self, data: Any, factors: np.ndarray) -> MixtureData:
        """The rows with their weights times ``factors``, prepared."""
        data = self.prepare(data)
        weights = factors if data.sample_weight is None else data.sample_weight * factors
        return self._data(data.X, weights, data.context)

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """The parametric bootstrap: as many rows drawn from the model (``z ~ π``, ``x ~ p(· | z)``)
        as ``like_data`` holds, with its missing cells (missing completely at random) and its
        sample weights, as ``(X, sample_weight)``."""
        data = self.prepare(like_data)
        X = self.sample(params, data.n_samples, rng)[0].astype(float)
        X[self.family.missing_cells(data.X).reshape(X.shape)] = np.nan
        return X, None if data.sample_weight is None else data.sample_weight.copy()

    # ----------------------------------------------------------------- inference
    def responsibilities(self, data: Any, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """``γ_ik = p(z_i = k | x_i)`` (n, K) and ``log p(x_i)`` (n,) of every row (no sample
        weights; with a noise component (n, K + 1), the noise's last); a row that no component can
        produce has ``γ_i = 0`` and ``log p(x_i) = −inf``."""
        data = self.prepare(data)
        self._check_noise_rows(data)
        cache = self.family.precompute(params)
        parts = parallel_map(lambda b: self._posterior(b.data, cache, self._block_log_weights(data, b, params)),
                             data.blocks, self.n_jobs)
        return np.concatenate([resp for resp, _ in parts]), np.concatenate([log_p for _, log_p in parts])

    def impute(self, data: Any, params: Params) -> np.ndarray:
        """The rows with each missing cell replaced by its conditional mean given the row's
        observed cells, ``Σ_k γ_ik E[x_ij | x_i,o, z_i = k]`` (:meth:`Family.conditional_means`;
        a float copy)."""
        data = self.prepare(data)
        self._check_noise_rows(data)
        cache = self.family.precompute(params)

        def block(b: Block) -> np.ndarray:
            posterior = self._posterior(b.data, cache, self._block_log_weights(data, b, params))[0]
            return self.family.conditional_means(data.X[b.start:b.stop], posterior, params)

        return np.concatenate(parallel_map(block, data.blocks, self.n_jobs))

    def predict(self, data: Any, params: Params) -> np.ndarray:
        """The most probable component of every row, ``argmax_k γ_ik`` (−1: the noise)."""
        labels = self.responsibilities(data, params)[0].argmax(axis=1)
        return np.where(labels == self.n_components, -1, labels)

    def sample(self, params: Params, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n_samples`` observations and their components: ``z ~ π``, then ``x ~ p(· | z)``;
        with a noise component, noise rows (label −1) uniform over its box
        (:meth:`~emkit.latent.noise.UniformNoise.sample`)."""
        proportions = self._proportions(params)
        labels = rng.choice(proportions.size, size=n_samples, p=proportions / proportions.sum())
        if not self.noise:
            return self.family.sample(labels, params, rng), labels
        noisy = labels == self.n_components
        X = np.empty((n_samples, self.noise.centre.size))
        X[~noisy] = self.family.sample(labels[~noisy], params, rng)
        X[noisy] = self.noise.sample(int(noisy.sum()), rng)
        return X, np.where(noisy, -1, labels)

    # ----------------------------------------------------------------- internals
    #: Whether the weights differ between rows (concomitant variables): then
    #: :meth:`_block_log_weights` gives a row each and the family's fused pass is not used.
    weights_vary_by_row = False

    def _block_log_weights(self, data: MixtureData, block: Block, params: Params) -> np.ndarray:
        """``log π_k`` for the rows of ``block``: shape (K,) (K + 1 with noise), the same for
        every row (a subclass whose weights vary by row gives (rows, K))."""
        return safe_log(self._proportions(params))

    def _posterior(self, block: Any, cache: Any, log_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Responsibilities (n, K) and ``log p(x_i)`` (n,) of the rows of a block, by
        log-sum-exp of ``log π_k + log p(x_i | k)`` (and ``log π_0 + log V⁻¹`` with noise). A row whose densities are below the float
        range for every component (a family's finite stand-ins at
        :data:`~emkit.kernels.gaussian_direct.LOST`, which keep the limit of its posteriors) has
        ``log p(x_i) = −inf``."""
        log_joint = self.family.log_likelihood(block, cache)
        if self.noise:
            log_joint = np.concatenate([log_joint, np.full((log_joint.shape[0], 1), self.noise.log_density)], axis=1)
        log_joint = log_joint + log_weights
        top = log_joint.max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            shifted = np.exp(log_joint - top[:, None])
            total = shifted.sum(axis=1)
            resp = shifted / total[:, None]
            log_marginal = top + np.log(total)
        impossible = ~np.isfinite(top)
        if impossible.any():  # every component gives the row density 0 (or the family gave NaN)
            resp[impossible] = 0.0
            log_marginal[impossible] = top[impossible]
        log_marginal[log_marginal <= 0.5 * LOST] = -np.inf
        return resp, log_marginal


def _weighted_sum(values: np.ndarray, weights: np.ndarray | None) -> float:
    """``Σ_i w_i v_i`` with rows of weight 0 left out (so that ``0 · (−inf)`` is 0)."""
    if weights is None:
        return float(values.sum())
    return float(values[weights > 0] @ weights[weights > 0])
