"""Gaussian family: ``x_i | z_i = k ~ N(μ_k, Σ_k)`` with full, diag, spherical or tied ``Σ`` (an
HMM's emissions, a mixture's components).

All Gaussian numerics (densities, statistics, the M-step, missing coordinates) are those of
:mod:`emkit.kernels`; this module only adapts them to the family interface. Statistics are
``n_k = Σ_t γ_t(k)``, ``Σ_t γ_t(k) E[x_t − c]`` and the second moments about a *fixed* centre
``c`` (the mean of the first data prepared, or given): fixed, so that statistics of different
E-steps and data sets add up (online EM averages them) and so that the features of the data
are computed once per data set, leaving one matrix product for the log-densities and one for the
statistics per E-step. The kernel is the Gaussian mixture's
(:mod:`emkit.kernels.gaussian_mixture_estep`: the product form, its error-bounded direct fallback,
its missing-value corrections); a mixture of Gaussians runs its fused pass
(:meth:`Gaussian.mixture_pass`). NaN coordinates are replaced by their conditional expectations
under each state (the exact E-step for incomplete data), and a row with nothing observed has
likelihood one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..engine.model import Params, Regularization, Stats
from ..kernels.gaussian import (
    check_covariance_type,
    covariance_shape,
    gaussian_m_step,
    impute_conditional_mean,
    m_step_statistics,
    precisions_cholesky,
)
from ..kernels.covariance_regularization import CovariancePrior
from ..kernels.covariance_structures import covariance_structure
from ..kernels.gaussian_mixture_estep import (
    MixtureTerms,
    RowFeatures,
    BlockPass,
    component_log_densities,
    compute_dtype,
    component_statistics,
    mixture_terms,
    row_features,
)
from ..kernels.gaussian_frame import diagonal_log_densities, diagonal_terms
from ..kernels.gaussian_mixture_missing import MissingLayout, missing_layout
from ..kernels.gaussian_small import small_mixture_pass, small_pass_applies
from ..kernels.gaussian_small_mstep import small_gaussian_m_step
from ..kernels.parallel import single_threaded_blas
from ..kernels.kmeans import kmeans, unit_scale
from ..validation import as_float_array, nullable_as_nan
from ..models.gaussian_information import (
    conditional_residuals,
    conditional_score_covariance,
    conditional_scores,
    gaussian_free,
    gaussian_free_labels,
    gaussian_from_free,
    gaussian_information,
    gaussian_scores,
    n_free_covariances,
)
from ..models.regularization import covariance_floor
from .base import Family
from .columns import observed_mean

#: Seed of the k-means start used when no random generator is given (a deterministic start).
DEFAULT_SEED = 0

#: What to do when a component or state collapses onto the ``reg_covar`` floor.
FLOOR_REMEDY = ("give the covariances a conjugate prior (covariance_prior=..., MAP-EM, whose objective never "
                "decreases), or change reg_covar (larger keeps components off single points, smaller moves the "
                "fit closer to maximum likelihood), or fit fewer components")

#: The k-means start looks at no more than this many rows.
KMEANS_ROWS = 20_000

#: Rows seen once (:meth:`Gaussian.frame_log_likelihood`) of diagonal states take the one-pass
#: kernel up to this many states; with more, the product form's matrix product (BLAS) is faster
#: (measured, 4 features: 2.6 vs 3.1 ms per 200,000 rows for K = 8, a tie at 16, 8.5 vs 4.5 ms
#: per 50,000 for K = 64).
DIRECT_FRAME_STATES = 16

#: Held while a :class:`GaussianCache` makes its product form, so that the threads of an E-step
#: wait for the first one's (~0.4 ms for k = d = 16) instead of racing to make copies of their own
#: while they hold the GIL, and each then a second buffer set for the copy that was kept.
_TERMS_LOCK = threading.Lock()


@dataclass
class GaussianBlock:
    """A block of rows, their missingness patterns (:attr:`layout`, found when first asked for:
    a decoding pass of diagonal states never asks) and the data set's centre of statistics, and
    the features of the rows about it once a two-pass E-step (log-densities, then statistics: an
    HMM's) has computed them, for diagonal structures (a few numbers per row). Full and tied
    features (``d(d+1)/2`` per row) and a mixture's fused pass take fresh features each time,
    into memory the cache keeps: faster than reading stored ones (measured)."""

    X: np.ndarray
    centre: np.ndarray
    features: RowFeatures | None = None
    found_layout: MissingLayout | None = field(default=None, repr=False)

    @property
    def layout(self) -> MissingLayout:
        """The rows grouped by missingness pattern (:func:`missing_layout`), found once."""
        if self.found_layout is None:
            self.found_layout = missing_layout(self.X)
        return self.found_layout


@dataclass(frozen=True)
class GaussianCache:
    """What one E-step needs from the parameters: means, covariances, and the product form
    (every weight 1) about a data set's centre, made once per centre
    (:class:`~emkit.kernels.gaussian_mixture_estep.MixtureTerms`)."""

    means: np.ndarray
    covars: np.ndarray
    covariance_type: str
    made: dict = field(default_factory=dict, repr=False, compare=False)

    def terms(self, centre: np.ndarray, weights: np.ndarray | None = None) -> MixtureTerms:
        """The product form about ``centre`` (with mixture ``weights``; None: all 1), made on
        first use for each centre array (the blocks of a data set share one)."""
        key = (id(centre), None if weights is None else weights.tobytes())
        with _TERMS_LOCK:
            found = self.made.get(key)
            if found is None or found[0] is not centre:
                k = self.means.shape[0]
                found = self.made[key] = (centre, mixture_terms(np.ones(k) if weights is None else weights,
                                                                self.means, self.covars, self.covariance_type, centre))
        return found[1]

    def diagonal_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The one-pass kernel's ``μᵀ``, ``(1/σ²)ᵀ`` and constants
        (:func:`~emkit.kernels.gaussian_frame.diagonal_terms`) of diag or spherical
        covariances, made on first use."""
        with _TERMS_LOCK:
            found = self.made.get("diagonal")
            if found is None:
                k, d = self.means.shape
                variances = np.broadcast_to(self.covars.reshape(k, -1), (k, d))
                found = self.made["diagonal"] = diagonal_terms(self.means, variances)
        return found


def statistics_centre(stats: Stats) -> np.ndarray:
    """The centre the statistics were summed about: ``centre_weight / Σ_k n_k`` (every block of a
    data set adds ``(Σ_k n_k) c`` for its centre ``c``, one for the whole data set)."""
    total = float(np.sum(stats["n"]))
    return np.asarray(stats["centre_weight"], dtype=float) / (total if total > 0 else 1.0)


def check_observations(X, name: str = "X", *, whole_data: bool = True) -> np.ndarray:
    """``X`` as a C-contiguous float64 (n, d) array (not copied when it is one already), NaN
    allowed (missing), no infinities (``whole_data=False``, one chunk of the data: a feature
    may be missing throughout).

    Raises
    ------
    ValueError
        Naming ``name`` when ``X`` is not a 2-D array of numbers, is empty, holds an infinity, or
        has a feature that is never observed.
    """
    array = np.ascontiguousarray(as_float_array(nullable_as_nan(X), name))
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), got shape {np.shape(X)}")
    if np.isfinite(array).all():
        return array
    if np.any(np.isinf(array)):
        raise ValueError(f"{name}: contains infinity; only NaN (missing) is allowed besides finite numbers")
    never = np.flatnonzero(np.isnan(array).all(axis=0)) if whole_data else ()
    if len(never):
        raise ValueError(f"{name}: feature {int(never[0])} has no observed value (all NaN)")
    return array


def kmeans_rows(complete: np.ndarray, sample_weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows the k-means start looks at, with their weights: every ``s``-th row,
    ``s = ⌈n / KMEANS_ROWS⌉``; with weights (total ``W``), all rows when ``W ≤ KMEANS_ROWS``, else
    the same systematic sample of the rows taken as copies (row ``i`` covers ``[c_i, c_i + w_i)``,
    ``c_i = Σ_{j<i} w_j``, and gets weight ``#{m : c_i ≤ m s < c_i + w_i}``, ``s = ⌈W / KMEANS_ROWS⌉``):
    for integer weights, exactly the rows that ``np.repeat(complete, w)[::s]`` picks."""
    if sample_weight is None:
        return complete[::-(-complete.shape[0] // KMEANS_ROWS)], None
    total = float(sample_weight.sum())
    if total <= KMEANS_ROWS:
        return complete, sample_weight
    step = np.ceil(total / KMEANS_ROWS)
    ends = np.cumsum(sample_weight)
    starts = np.concatenate([[0.0], ends[:-1]])
    picks = np.ceil(ends / step) - np.ceil(starts / step)
    return complete[picks > 0], picks[picks > 0]


def start_covariance(X: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    """Covariance of the rows with each missing cell filled with its column's observed mean, (d, d).

    Unweighted: ``np.cov`` (divisor ``n − 1``). Weighted (frequency weights, total ``W``):
    ``Σ_i w_i (x_i − m)(x_i − m)ᵀ / max(W − 1, W/2)`` with ``m`` the weighted mean: that of the
    rows repeated ``w_i`` times for integer weights, and never more than twice the maximum
    likelihood estimate (weights summing to under 2, e.g. normalised ones).
    """
    if sample_weight is None:
        filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
        return np.atleast_2d(np.cov(filled, rowvar=False))
    filled = np.where(np.isnan(X), observed_mean(X, sample_weight), X)
    total = float(sample_weight.sum())
    centred = filled - (sample_weight @ filled) / total
    return (centred.T * sample_weight) @ centred / max(total - 1.0, total / 2.0)


class Gaussian(Family):
    """Multivariate normal observations of ``n_features`` dimensions given the component or state.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of an observation.
    covariance_type : {"full", "diag", "spherical", "tied"}
        Covariance structure (scikit-learn shapes: ``(K, d, d)``, ``(K, d)``, ``(K,)``, ``(d, d)``).
    reg_covar : float
        Added to the diagonal of every covariance estimate: the remedy when a state collapses
        onto a few points.
    centre : array of shape (n_features,), optional
        Fixed origin ``c`` of the statistics; by default each data set's mean of its observed
        values (:meth:`data_context`, kept with the prepared data, not on the family).
    covariance_prior : CovariancePrior, optional
        Conjugate prior on the covariances (inverse-Wishart for full and tied, inverse-gamma on
        each variance for diag and spherical; per-component scales, improper forms and a prior
        on the means ``N(m, Σ/κ)`` as hmmlearn's:
        :class:`~emkit.kernels.covariance_regularization.CovariancePrior`), replacing
        ``reg_covar``: the M-step is the joint posterior mode and the objective EM ascends
        includes :meth:`log_prior`.
    covariance_name : {"covars", "covariances"}, default="covars"
        The name of the covariance parameter: hmmlearn's ``covars`` or scikit-learn's
        ``covariances``.

    Parameters are ``means`` (K, d) and the covariances (shape by ``covariance_type``). The family
    is an immutable value: preparing data changes nothing on it.
    """

    def __init__(self, n_features: int, covariance_type: str = "diag", reg_covar: float = 1e-6,
                 centre: np.ndarray | None = None, covariance_prior: CovariancePrior | None = None,
                 covariance_name: str = "covars") -> None:
        if not (isinstance(n_features, (int, np.integer)) and n_features >= 1):
            raise ValueError(f"n_features: must be a positive integer, got {n_features!r}")
        if not (np.isfinite(reg_covar) and reg_covar >= 0):
            raise ValueError(f"reg_covar: must be a non-negative number, got {reg_covar!r}")
        self.n_features = int(n_features)
        self.covariance_type = check_covariance_type(covariance_type)
        self.reg_covar = float(reg_covar)
        self.centre = None if centre is None else np.array(centre, dtype=float)
        if self.centre is not None and (self.centre.shape != (self.n_features,)
                                        or not np.all(np.isfinite(self.centre))):
            raise ValueError(f"centre: expected {self.n_features} finite numbers, got {centre!r}")
        if covariance_prior is not None:
            if not isinstance(covariance_prior, CovariancePrior):
                raise ValueError(f"covariance_prior: expected a CovariancePrior or None, got {covariance_prior!r}")
            covariance_prior.resolved(self.covariance_type, self.n_features)   # ValueError naming the argument
        self.covariance_prior = covariance_prior
        if covariance_name not in ("covars", "covariances"):
            raise ValueError(f"covariance_name: expected 'covars' or 'covariances', got {covariance_name!r}")
        self.covariance_name = covariance_name
        self.param_names = ("means", covariance_name)

    def validate(self, n_components: int) -> None:
        """A covariance prior's per-component scales and prior on the means fit ``K`` components."""
        if self.covariance_prior is not None:
            self.covariance_prior.resolved(self.covariance_type, self.n_features, n_components=n_components)
            self.covariance_prior.mean_prior(self.covariance_type, n_components, self.n_features)

    def prepare(self, X) -> np.ndarray:
        """Validated observations (:func:`check_observations`) of ``n_features`` columns."""
        array = check_observations(X)
        if array.shape[1] != self.n_features:
            raise ValueError(f"X: expected {self.n_features} features, got {array.shape[1]}")
        return array

    def data_context(self, X: np.ndarray) -> np.ndarray:
        """The centre of the statistics: the given :attr:`centre`, else the mean of the observed
        values of the prepared rows ``X`` (0 for a column with none: a chunk of the data)."""
        if self.centre is not None:
            return self.centre
        sums = np.einsum("ij->j", X)
        if np.isfinite(sums).all():   # no NaN (nor infinity) in X: one pass, no mask
            return sums / len(X)
        missing = np.isnan(X)
        if not missing.any():
            return sums / len(X)
        observed = (~missing).sum(axis=0)
        return np.where(observed > 0, np.where(missing, 0.0, X).sum(axis=0) / np.maximum(observed, 1), 0.0)

    def prepare_chunk(self, X) -> np.ndarray:
        """Validated rows of one chunk (a feature may be missing throughout; no centre set)."""
        array = check_observations(X, whole_data=False)
        if array.shape[1] != self.n_features:
            raise ValueError(f"X: expected {self.n_features} features, got {array.shape[1]}")
        return array

    def chunk_summary(self, X: np.ndarray) -> Stats:
        """Per feature, the number ``observed`` and the ``sum`` of the observed values."""
        observed = ~np.isnan(X)
        return {"observed": observed.sum(axis=0).astype(float), "sum": np.where(observed, X, 0.0).sum(axis=0)}

    def chunk_context(self, summary: Stats) -> np.ndarray:
        """The centre of data held in chunks: the given :attr:`centre`, else the mean of the
        observed values, ``sum / observed``."""
        if self.centre is not None:
            return self.centre
        return summary["sum"] / np.maximum(summary["observed"], 1.0)

    def block_data(self, X: np.ndarray, context: np.ndarray | None = None) -> GaussianBlock:
        """The rows with their missingness patterns and the data set's centre ``context`` (the
        rows' own :meth:`data_context` when None: a block on its own)."""
        return GaussianBlock(X, self.data_context(X) if context is None else context)

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """k-means centres (on columns scaled to unit variance) of the complete rows (at most
        ``KMEANS_ROWS`` of them, evenly spaced: :func:`kmeans_rows`; a fixed seed when ``rng`` is
        None) and the covariance of the data (missing cells filled with their column's mean; plus
        ``reg_covar``) for every state.

        With ``sample_weight``, weighted k-means of the complete rows of positive weight and the
        frequency-weighted covariance (:func:`start_covariance`): integer weights give the start
        of the rows repeated as often (copies adjacent, ``np.repeat``), random starts included
        (weighted k-means draws do not depend on the order of the rows).
        """
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        usable = ~np.isnan(X).any(axis=1) if weights is None else ~np.isnan(X).any(axis=1) & (weights > 0)
        complete = X[usable]
        if complete.shape[0] < n_components:
            raise ValueError(f"X: {complete.shape[0]} complete rows{'' if weights is None else ' of positive weight'} "
                             f"cannot start {n_components} states; give init values or fewer states")
        rows, row_weights = kmeans_rows(complete, None if weights is None else weights[usable])
        scale = unit_scale(rows, row_weights)   # starts that do not depend on the units of the columns
        centres, _ = kmeans(rows / scale, n_components, rng if rng is not None else np.random.default_rng(DEFAULT_SEED),
                            row_weights)
        means = centres * scale
        cov = start_covariance(X, weights) + self.reg_covar * np.eye(self.n_features)
        covars = covariance_structure(self.covariance_type).from_matrix(cov, n_components)
        return {"means": means, self.covariance_name: covars}

    def precompute(self, params: Params) -> GaussianCache:
        means = np.asarray(params["means"], dtype=float)
        covars = np.asarray(params[self.covariance_name], dtype=float)
        return GaussianCache(means, covars, self.covariance_type)

    def _features(self, block: GaussianBlock) -> RowFeatures:
        """The block's features for a two-pass E-step: those kept, or computed (and kept when
        the structure is diagonal)."""
        if block.features is not None:
            return block.features
        features = row_features(block.X, self.covariance_type, block.centre, block.layout)
        if covariance_structure(self.covariance_type).diagonal:
            block.features = features
        return features

    def log_likelihood(self, block: GaussianBlock, cache: GaussianCache, out: np.ndarray | None = None) -> np.ndarray:
        """The marginal density of the observed coordinates of every row (1 for a row with
        nothing observed): one product ``Φ θ`` and the kernel's corrections for missing
        coordinates and for rows the product cannot be trusted with
        (:func:`~emkit.kernels.gaussian_mixture_estep.component_log_densities`)."""
        return component_log_densities(block.X, self._features(block), cache.terms(block.centre), out)

    def frame_log_likelihood(self, block: GaussianBlock, cache: GaussianCache,
                             out: np.ndarray | None = None) -> np.ndarray:
        """:meth:`log_likelihood` of rows seen once (an HMM's decoding and scoring): for diag
        and spherical covariances and at most :data:`DIRECT_FRAME_STATES` states straight from
        ``c_k − ½ Σ_j (x_j − μ_kj)² / σ²_kj``
        (:func:`~emkit.kernels.gaussian_frame.diagonal_log_densities`: no features, layout or
        product), the general route when a value is missing or a density is below the float
        range."""
        if (not covariance_structure(self.covariance_type).diagonal
                or cache.means.shape[0] > DIRECT_FRAME_STATES):
            return self.log_likelihood(block, cache, out)
        out = np.empty((block.X.shape[0], cache.means.shape[0])) if out is None else out
        if diagonal_log_densities(block.X, *cache.diagonal_terms(), out):
            return out
        return self.log_likelihood(block, cache, out)

    def stats(self, block: GaussianBlock, posteriors: np.ndarray, cache: GaussianCache) -> Stats:
        """Complete-data statistics about the centre, ``Φᵀ γ``, with the exact conditional
        expectations of missing coordinates; and about each state's mean when a state is far
        from the centre (``anchored_*``, zero otherwise)
        (:func:`~emkit.kernels.gaussian_mixture_estep.component_statistics`); ``centre_weight``,
        ``(Σ_k n_k) c``, tells the M-step the centre (:func:`statistics_centre`)."""
        stats = component_statistics(block.X, self._features(block), cache.terms(block.centre), posteriors)
        return {**stats, "centre_weight": stats["n"].sum() * block.centre}

    def mixture_pass(self, cache: GaussianCache, weights: np.ndarray):
        """The fused E-step of a Gaussian mixture with ``weights``: the log-joint, the
        responsibilities and ``Φᵀ R`` in one pass per block
        (:class:`~emkit.kernels.gaussian_mixture_estep.BlockPass`, one per thread)."""
        weights = np.asarray(weights, dtype=float)
        threads = threading.local()   # one BlockPass per thread and E-step, reused for its blocks
        structure = covariance_structure(self.covariance_type)

        def run(block: GaussianBlock, sample_weight: np.ndarray | None) -> tuple[Stats, float]:
            if small_pass_applies(block.X, block.layout.complete, weights.size, structure):
                small = small_mixture_pass(block.X, sample_weight, block.centre, weights, cache.means, cache.covars,
                                           structure)
                if small is not None:   # else a covariance is not positive definite: the general path says so
                    stats, loglik = small
                    return {"counts": stats["n"].copy(), **stats, "centre_weight": stats["n"].sum() * block.centre}, \
                        loglik
            terms = cache.terms(block.centre, weights)
            dtype = compute_dtype(block.X.dtype, terms)   # float32 rows: float32 where accurate
            passes = getattr(threads, "passes", None)
            if passes is None or passes.terms is not terms or passes.dtype != dtype:
                passes = threads.passes = BlockPass(terms, dtype)
            with single_threaded_blas():   # also when the mixture runs one block without its thread pool
                stats, loglik = passes(block.X, block.layout, sample_weight)
            return {"counts": stats["n"].copy(), **stats, "centre_weight": stats["n"].sum() * block.centre}, loglik

        return run

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``μ_k = c + S_k / n_k`` and the covariances of :func:`gaussian_m_step` (about fixed
        means when ``means`` is not learned); empty states keep their parameters."""
        if not {"means", self.covariance_name} & learn:
            return {"means": params["means"], self.covariance_name: params[self.covariance_name]}
        fixed_means = None if "means" in learn else params["means"]
        if fixed_means is None and self.covariance_prior is None and self.covariance_name in learn and not keep.any():
            small = small_gaussian_m_step(stats, params["means"], covariance_structure(self.covariance_type),
                                          self.reg_covar)
            if small is not None:   # the steps below in one compiled call, bit for bit
                return {"means": small[0], self.covariance_name: small[1]}
        exact, shift = m_step_statistics(stats, params["means"], statistics_centre(stats), self.covariance_type)
        if self.covariance_prior is not None:
            means, covars = gaussian_m_step(exact, self.covariance_type, 0.0, shift=shift, means=fixed_means,
                                            prior=self.covariance_prior, previous=params[self.covariance_name])
        else:
            means, covars = gaussian_m_step(exact, self.covariance_type, self.reg_covar, shift=shift,
                                            means=fixed_means, previous=params[self.covariance_name])
        if "means" not in learn:
            means = params["means"]
        if self.covariance_name not in learn:
            covars = params[self.covariance_name]
        if keep.any():
            means = np.where(keep[:, None], params["means"], means)
        covars = covariance_structure(self.covariance_type).keep_components(params[self.covariance_name], covars, keep)
        return {"means": means, self.covariance_name: covars}

    def regularization(self, stats: Stats, params: Params, learn: frozenset[str],
                       keep: np.ndarray) -> Regularization | None:
        """What ``reg_covar`` gave up (:func:`~emkit.models.regularization.covariance_floor`; states
        in ``keep`` left out); None when it is 0, with a covariance prior (an exact MAP step) or
        when the covariances are not learned."""
        if self.reg_covar == 0 or self.covariance_prior is not None or self.covariance_name not in learn:
            return None
        fixed_means = None if "means" in learn else params["means"]
        exact, shift = m_step_statistics(stats, params["means"], statistics_centre(stats), self.covariance_type)
        _, scatter = gaussian_m_step(exact, self.covariance_type, 0.0, shift=shift, means=fixed_means)
        return covariance_floor(scatter, np.where(keep, 0.0, np.asarray(stats["n"], dtype=float)), self.reg_covar,
                                self.covariance_type, self.n_features, what="Gaussian component", remedy=FLOOR_REMEDY)

    def shared_params(self) -> frozenset[str]:
        """The covariance when tied."""
        return frozenset({self.covariance_name}) if covariance_structure(self.covariance_type).shared else frozenset()

    def log_prior(self, params: Params) -> float:
        """The conjugate prior's ``log p(μ, Σ)`` (0 without one): the log density its M-step
        maximises, improper ones included."""
        if self.covariance_prior is None:
            return 0.0
        return self.covariance_prior.log_density(params[self.covariance_name], self.covariance_type, self.n_features,
                                                 means=params["means"])

    def check_params(self, params: Params, n_components: int) -> Params:
        d = self.n_features
        means = np.array(params["means"], dtype=float)
        if means.shape != (n_components, d) or not np.all(np.isfinite(means)):
            raise ValueError(f"means: expected finite values of shape ({n_components}, {d}), got shape {means.shape}")
        covars = np.array(params[self.covariance_name], dtype=float)
        expected = covariance_shape(self.covariance_type, n_components, d)
        if covars.shape != expected:
            raise ValueError(f"{self.covariance_name}: expected shape {expected} for covariance_type={self.covariance_type!r}, "
                             f"got {covars.shape}")
        if not covariance_structure(self.covariance_type).diagonal and not np.allclose(covars, np.swapaxes(covars, -1, -2)):
            raise ValueError(f"{self.covariance_name}: covariance matrices must be symmetric")
        try:
            precisions_cholesky(covars, self.covariance_type)
        except ValueError as error:
            raise ValueError(f"{self.covariance_name}: {error}") from None
        return {"means": means, self.covariance_name: covars}

    def is_feasible(self, params: Params) -> bool:
        if not np.all(np.isfinite(params["means"])):
            return False
        try:
            precisions_cholesky(params[self.covariance_name], self.covariance_type)
        except ValueError:
            return False
        return True

    def describe(self) -> str:
        """E.g. "Gaussian diag"."""
        return f"Gaussian {self.covariance_type}"

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return int(self._learned(n_components, learn).sum())

    def _learned(self, n_components: int, learn: frozenset[str]) -> np.ndarray:
        """Which entries of ``(means, free covariance entries)`` are learned."""
        covariances = n_free_covariances(self.covariance_type, n_components, self.n_features)
        return np.concatenate([np.full(n_components * self.n_features, "means" in learn),
                               np.full(covariances, self.covariance_name in learn)])

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """The learned means and free covariance entries (lower triangles, variances)."""
        kept = self._learned(len(params["means"]), learn)
        return gaussian_free(params["means"], params[self.covariance_name], self.covariance_type)[kept]

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        k, d = np.shape(like["means"])
        values = gaussian_free(like["means"], like[self.covariance_name], self.covariance_type)
        values[self._learned(k, learn)] = free
        means, covars = gaussian_from_free(values, self.covariance_type, k, d)
        return {"means": means, self.covariance_name: covars}

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        k, d = np.shape(params["means"])
        labels = gaussian_free_labels("means", self.covariance_name, self.covariance_type, k, d)
        return [label for label, kept in zip(labels, self._learned(k, learn)) if kept]

    def row_scores(self, block: GaussianBlock, params: Params, learn: frozenset[str]) -> np.ndarray:
        """``E[∂/∂θ log N(x_i | μ_k, Σ_k) | x_i,o, z_i = k]`` in the learned free entries: for
        complete rows :func:`~emkit.models.gaussian_information.gaussian_scores`; the complete
        data of a row with missing cells hold them too, and its score's conditional mean is
        :func:`~emkit.models.gaussian_information.conditional_scores` (their spread given the
        component is :meth:`within_score_covariance`)."""
        kept = self._learned(len(params["means"]), learn)
        if block.layout.complete:
            scores = gaussian_scores(block.X, params["means"], params[self.covariance_name], self.covariance_type)
            return scores[:, :, kept]
        covars = params[self.covariance_name]
        residuals = conditional_residuals(block.X, block.layout, params["means"], covars, self.covariance_type)
        at_mean, spread = conditional_scores(residuals, covars, self.covariance_type)
        return (at_mean + spread)[:, :, kept]

    def within_score_covariance(self, block: GaussianBlock, posteriors: np.ndarray, params: Params,
                                learn: frozenset[str]) -> np.ndarray | None:
        """``Σ_i Σ_k γ_ik Cov[S_c | x_i,o, k]`` over the missing cells
        (:func:`~emkit.models.gaussian_information.conditional_score_covariance`), learned
        entries only; None when no cell is missing."""
        if block.layout.complete:
            return None
        kept = self._learned(len(params["means"]), learn)
        residuals = conditional_residuals(block.X, block.layout, params["means"], params[self.covariance_name],
                                          self.covariance_type)
        within = conditional_score_covariance(residuals, self.covariance_type, posteriors, posteriors)
        return within[np.ix_(kept, kept)]

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """:func:`~emkit.models.gaussian_information.gaussian_information` of the states'
        Gaussians from their statistics about :attr:`centre`, learned entries only."""
        information = gaussian_information(stats, params["means"], params[self.covariance_name], self.covariance_type,
                                           statistics_centre(stats))
        kept = self._learned(len(params["means"]), learn)
        return information[np.ix_(kept, kept)]

    def conditional_means(self, X: np.ndarray, posteriors: np.ndarray, params: Params) -> np.ndarray:
        """``x̂_m = Σ_k γ_ik (μ_k,m + Σ_k,mo Σ_k,oo⁻¹ (x_o − μ_k,o))`` for the missing cells
        (:func:`~emkit.kernels.gaussian.impute_conditional_mean`)."""
        if not np.isnan(X).any():
            return np.array(X, dtype=float)
        return impute_conditional_mean(X, posteriors, params["means"], params[self.covariance_name],
                                       self.covariance_type)

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """``x = μ_k + L_k ε`` with ``Σ_k = L_k L_kᵀ`` and standard normal ``ε``."""
        d = self.n_features
        noise = rng.standard_normal((states.size, d))
        out = np.empty((states.size, d))
        factors = np.linalg.cholesky(self.full_covariances(params[self.covariance_name], np.shape(params["means"])[0]))
        for k in np.unique(states):
            rows = states == k
            out[rows] = params["means"][k] + noise[rows] @ factors[k].T
        return out

    def full_covariances(self, covars: np.ndarray, n_components: int) -> np.ndarray:
        """Every state's covariance as a (K, d, d) array, whatever the covariance type."""
        return np.array(covariance_structure(self.covariance_type).full_matrices(np.asarray(covars, dtype=float),
                                                                                 n_components, self.n_features))
