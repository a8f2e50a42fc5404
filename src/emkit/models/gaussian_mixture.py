"""Mixture of K multivariate normal distributions, with sample weights and missing values.

``p(x) = Σ_k π_k N(x | μ_k, Σ_k)``; the component labels (and any NaN coordinates) are the
missing data. E-step: responsibilities ``r_ik ∝ π_k N(x_i,o | μ_k,o, Σ_k,oo)`` in log space and
the expected sufficient statistics ``n_k = Σ w_i r_ik``, ``Σ w_i r_ik E[x_i]``, ``Σ w_i r_ik E[x_i x_iᵀ]``
(conditional expectations of the missing coordinates, the exact EM for incomplete data); M-step:
``π_k = n_k / Σ n``, ``μ_k``, ``Σ_k`` in closed form (:mod:`emkit.kernels.gaussian`). The
observed-data log-likelihood is ``Σ_i w_i log Σ_k π_k N(x_i,o | μ_k,o, Σ_k,oo)``.

The E-step is :mod:`emkit.kernels.gaussian_mixture_estep`: per block of rows, two matrix
products with sufficient-statistic features (all components at once), threads over blocks,
rows grouped by missingness pattern, and float32 arithmetic for float32 data where accurate.
"""

from __future__ import annotations

import hashlib
import warnings
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, Iterator, Mapping

import numpy as np

from ..engine.model import EMModel, Params, Regularization, Stats
from ..exceptions import DegenerateComponentWarning
from ..families import dirichlet
from ..families.gaussian import Gaussian
from ..kernels.covariance_regularization import CovariancePrior
from ..kernels.covariance_structures import covariance_structure
from ..kernels.gaussian import check_covariance_type, covariance_shape, precisions_cholesky, responsibility_statistics
from ..kernels.gaussian_mixture_estep import FLOAT32_TOLERANCE
from ..kernels.gaussian_mixture_missing import MissingLayout, missing_layout
from ..kernels.gaussian_small import clearly_positive_definite, column_sums_and_largest, one_hot_statistics
from ..kernels.hierarchical import MODELS as HC_MODELS
from ..kernels.hierarchical import mclust_start_labels
from ..kernels.kmeans import kmeans, kmeans_plusplus, unit_scale
from ..kernels.parallel import worker_count
from ..latent.mixture import MixtureData, MixtureModel
from ..latent.noise import UniformNoise
from ..numerics import all_finite
from ..validation import check_sample_weight, nullable_as_nan
from .gaussian_information import component_draws

#: ``"hc-<model>"``: mclust's hierarchical start grown by that criterion (mclust's ``hcModelName``).
HC_STARTS = tuple(f"hc-{model}" for model in HC_MODELS)

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hc", *HC_STARTS)

#: Fitting needs the squares of the data (about their mean) in the float range; scoring does not.
MAX_MAGNITUDE = 1e150

#: Rows per block for models that process the rows in blocks (the Gaussian-mixture kernels
#: choose their own cache-sized blocks).
BLOCK_ROWS = 1 << 16

#: Starting noise weight ``π_0`` of a noise component started without a noise mask.
NOISE_START = 0.1


@dataclass(frozen=True)
class GaussianMixtureData:
    """Validated data: ``X`` (float64, or float32 when given so; NaN = missing), optional
    weights, the rows grouped by missingness pattern, and row blocks.

    ``layout`` is the :class:`~emkit.kernels.gaussian_mixture_missing.MissingLayout` of ``X``
    (computed once); ``blocks`` are ``(rows, has_missing)`` pairs: slices of at most
    :data:`BLOCK_ROWS` rows and whether the block has a missing value.
    """

    X: np.ndarray
    sample_weight: np.ndarray | None
    layout: MissingLayout
    blocks: tuple[tuple[slice, bool], ...]

    @property
    def has_missing(self) -> bool:
        """Whether any coordinate is missing."""
        return not self.layout.complete

    @property
    def total_weight(self) -> float:
        """``Σ w_i`` (the number of rows without weights)."""
        return float(self.X.shape[0] if self.sample_weight is None else self.sample_weight.sum())

    @cached_property
    def summary(self) -> dict[str, np.ndarray]:
        """``rows`` with positive weight, and per feature ``observed = Σ_i w_i [x_ij observed]``,
        ``sum = Σ_i w_i x_ij`` over the observed values and ``largest = max_i |x_ij|`` (float64;
        computed once; summed over chunks, ``largest`` becomes a bound)."""
        n, d = self.X.shape
        observed, sums, largest = np.zeros(d), np.zeros(d), np.zeros(d)
        for rows, has_missing in self.blocks:   # temporaries of one block at most
            block = self.X[rows]
            weights = None if self.sample_weight is None else self.sample_weight[rows]
            compiled = None if has_missing or weights is not None else column_sums_and_largest(block)
            if compiled is not None:   # complete rows without weights: one compiled pass
                observed += block.shape[0]
                sums += compiled[0]
                largest = np.fmax(largest, compiled[1])
                continue
            largest = np.fmax(largest, np.fmax.reduce(np.abs(block), axis=0))
            if has_missing:
                seen = ~np.isnan(block)
                weights = np.ones(block.shape[0]) if weights is None else weights
                observed += weights @ seen
                sums += weights @ np.where(seen, block, 0.0)
            elif weights is None:
                observed += block.shape[0]
                sums += block.sum(axis=0, dtype=float)
            else:
                observed += weights.sum()
                sums += weights @ block
        rows = float(n if self.sample_weight is None else np.count_nonzero(self.sample_weight))
        return {"rows": np.array(rows), "observed": observed, "sum": sums, "largest": largest}


def prepare_data(X, sample_weight=None) -> GaussianMixtureData:
    """Validate ``X`` (2-D numbers, NaN allowed, no inf, no all-NaN row) and ``sample_weight``.

    ``X`` is kept as it is when it is a float32 or float64 array (it is only read, never
    written), else converted to float64; float32 data are fitted with float32 arithmetic
    where that is accurate (:func:`~emkit.kernels.gaussian_mixture_estep.compute_dtype`).

    Raises
    ------
    ValueError
        Naming ``X`` or ``sample_weight`` and what is wrong (the first all-NaN row by index).
    """
    if isinstance(X, GaussianMixtureData):
        return X
    try:
        X = np.asarray(nullable_as_nan(X))
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"X: expected an array of numbers, could not convert ({error})") from None
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X: needs at least one sample and one feature, got shape {X.shape}")
    complete = all_finite(X)
    if not complete:
        _check_missing(X)
    weights = check_sample_weight(sample_weight, X.shape[0])
    blocks = tuple((slice(start, min(start + BLOCK_ROWS, X.shape[0])),
                    not complete and bool(np.isnan(X[start:start + BLOCK_ROWS]).any()))
                   for start in range(0, X.shape[0], BLOCK_ROWS))
    return GaussianMixtureData(X, weights, missing_layout(X, complete=complete), blocks)


def check_magnitude(largest: np.ndarray) -> None:
    """Raise when a feature's largest magnitude is beyond :data:`MAX_MAGNITUDE` (fitting needs
    the data's squares in the float range)."""
    too_large = np.flatnonzero(np.asarray(largest) > MAX_MAGNITUDE)
    if too_large.size:
        raise ValueError(f"X: feature {int(too_large[0])} has values up to {float(largest[too_large[0]]):.3g}, "
                         f"beyond {MAX_MAGNITUDE:g}, whose squares overflow the float range; rescale X to fit")


def _check_missing(X: np.ndarray) -> None:
    """Raise when ``X`` holds infinity or a row with no observed value."""
    if np.any(np.isinf(X)):
        raise ValueError("X: contains infinity; only NaN (missing) is allowed besides finite numbers")
    empty_rows = np.flatnonzero(np.isnan(X).all(axis=1))
    if empty_rows.size:
        raise ValueError(f"X: row {int(empty_rows[0])} has no observed value (all NaN)"
                         f"{f' (and {empty_rows.size - 1} more rows)' if empty_rows.size > 1 else ''}; "
                         "remove such rows")


#: The largest start (rows × components) that :func:`shared_starts` keeps (8 MiB): a grid over
#: large data holds no copies of its starts (there EM, not the start, takes the time).
SHARED_START_CELLS = 1 << 20

#: The starts shared by the fits inside :func:`shared_starts` (None outside).
_SHARED_STARTS: ContextVar[dict | None] = ContextVar("shared_starts", default=None)


@contextmanager
def shared_starts() -> Iterator[None]:
    """Within: :func:`initial_responsibilities` of equal inputs (rows, weights, ``n_components``,
    method and the generator's state; at most :data:`SHARED_START_CELLS` cells) computed once,
    e.g. the k-means start of one ``k`` that every covariance structure of a model-selection grid
    fits from; a repeat returns a copy and leaves the generator in the state the computation left
    it, so every fit is the one it would be on its own."""
    token = _SHARED_STARTS.set({})
    try:
        yield
    finally:
        _SHARED_STARTS.reset(token)


def _digest(array: np.ndarray | None) -> tuple | None:
    """A key of an array's contents (shape, dtype and a hash of its bytes)."""
    if array is None:
        return None
    array = np.ascontiguousarray(array)
    return array.shape, array.dtype.str, hashlib.blake2b(array.tobytes(), digest_size=16).digest()


def initial_responsibilities(X: np.ndarray, n_components: int, method: str, rng: np.random.Generator,
                             sample_weight: np.ndarray | None = None) -> np.ndarray:
    """:func:`starting_responsibilities`, once per inputs inside :func:`shared_starts`."""
    shared = _SHARED_STARTS.get()
    if shared is None or X.shape[0] * n_components > SHARED_START_CELLS:
        return starting_responsibilities(X, n_components, method, rng, sample_weight)
    key = (method, n_components, _digest(X), _digest(sample_weight), repr(rng.bit_generator.state))
    if key not in shared:
        resp = starting_responsibilities(X, n_components, method, rng, sample_weight)
        shared[key] = (resp.copy(), rng.bit_generator.state)
    resp, state = shared[key]
    rng.bit_generator.state = state
    return resp.copy()


def starting_responsibilities(X: np.ndarray, n_components: int, method: str, rng: np.random.Generator,
                              sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Starting responsibilities ``(n, k)`` by one of :data:`INIT_METHODS` (scikit-learn's meaning).

    ``kmeans``: one-hot k-means labels; ``k-means++``: one-hot at the k-means++ seeds (both on
    the columns scaled to unit variance, so that the start does not depend on their units);
    ``random``: uniform random rows normalized to one; ``random_from_data``: one-hot at ``k``
    distinct rows drawn with probability ``∝ w_i``; ``hc``: mclust's default start, one-hot at
    the classes of model-based hierarchical clustering (:func:`~emkit.kernels.hierarchical.mclust_start_labels`;
    rows outside its subset, for more than 2000 rows, get zero rows, so that the first M-step uses
    the subset as mclust's does; the tree ignores ``sample_weight``, as mclust has none, and
    ``rng`` only draws that subset); ``hc-VVV``, ``hc-EEE``, ``hc-VII``, ``hc-EII`` (and ``hc-E``,
    ``hc-V`` for one column): the same with that merge criterion (mclust's ``hcModelName``; plain
    ``hc`` is mclust's default, VVV, or quantile classes for one column). ``X`` must be complete.
    """
    n = X.shape[0]
    resp = np.zeros((n, n_components))
    if method == "kmeans":
        _, labels = kmeans(X, n_components, rng, sample_weight, scale=unit_scale(X, sample_weight))
        resp[np.arange(n), labels] = 1.0
    elif method == "k-means++":
        _, indices = kmeans_plusplus(X / unit_scale(X, sample_weight), n_components, rng, sample_weight)
        resp[indices, np.arange(n_components)] = 1.0
    elif method == "random":
        resp = rng.uniform(size=(n, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    elif method == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = rng.choice(n, size=n_components, replace=False, p=p)
        resp[indices, np.arange(n_components)] = 1.0
    elif method == "hc" or method in HC_STARTS:
        model = None if method == "hc" else method.removeprefix("hc-")
        if model in ("E", "V") and X.shape[1] != 1:
            raise ValueError(f"init_params: {method!r} is for one-column data, got {X.shape[1]} columns")
        rows, labels = mclust_start_labels(X, n_components, rng, model)
        resp[rows, labels] = 1.0
    else:
        raise ValueError(f"init_params: expected one of {INIT_METHODS}, got {method!r}")
    return resp


#: The latent mixture of each :class:`GaussianMixtureModel` by width (:meth:`~GaussianMixtureModel._mixture_for`);
#: weak keys, so a model's mixtures go with it, and nothing is added to the model's own attributes.
_LAYERS: "weakref.WeakKeyDictionary[GaussianMixtureModel, dict[int, MixtureModel]]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class GaussianRows(MixtureData):
    """The rows of a Gaussian mixture as :class:`~emkit.latent.MixtureData` (float64, or float32
    when given so), with what the estimator faces read of them.

    ``order``: for full and tied covariances with missing values, the rows are kept grouped by
    missingness pattern (complete rows first: the layout of
    :func:`~emkit.kernels.gaussian_mixture_missing.missing_layout`), so that each block's
    patterns form long runs (their corrections are then matrix products); ``X[i]`` is the
    given row ``order[i]``, and row-wise results are put back in the given order. None: the
    given order.
    """

    order: np.ndarray | None = None

    def in_given_order(self, values: np.ndarray) -> np.ndarray:
        """Row-wise ``values`` (first axis the rows of :attr:`X`) in the order the rows were given."""
        if self.order is None:
            return values
        out = np.empty_like(values)
        out[self.order] = values
        return out

    @property
    def has_missing(self) -> bool:
        """Whether any coordinate is missing."""
        return bool(np.isnan(self.X).any())

    @property
    def total_weight(self) -> float:
        """``Σ w_i`` (the number of rows without weights)."""
        return float(self.X.shape[0] if self.sample_weight is None else self.sample_weight.sum())


class GaussianMixtureModel(EMModel):
    """K-component Gaussian mixture for rows of ``X`` (NaN = missing), fitted by :func:`emkit.fit`:
    a face over :class:`~emkit.latent.MixtureModel` with the :class:`~emkit.families.Gaussian`
    family (scikit-learn's names: ``weights``, ``means``, ``covariances``).

    The mixture owns the responsibilities, the weights (and their Dirichlet prior), the
    empty-component policy, the free parameters, the information and Louis's method; the family
    the Gaussian kernel (the product form with its error-bounded direct fallback, float32
    arithmetic for float32 data where accurate), the M-step (and the covariance prior) and the
    imputation. This model adds scikit-learn's starts from responsibilities (``init_method``),
    the data checks of a Gaussian mixture and ``fixed`` values.

    Parameters
    ----------
    n_components : int
        Number of components ``K ≥ 1``.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Structure of the covariances (shapes as in scikit-learn).
    reg_covar : float
        Added to the diagonal of every covariance estimate (keeps them positive definite; the
        remedy when a component collapses onto a point). Not used with ``covariance_prior``.
    weight_concentration : float or array of shape (k,)
        Dirichlet concentrations ``α ≥ 1`` of the weights (1: no prior): ``π_k ∝ n_k + α_k − 1``.
    covariance_prior : CovariancePrior, optional
        Conjugate prior on the covariances (inverse-Wishart for full and tied, inverse-gamma for
        diag and spherical; :class:`~emkit.kernels.covariance_regularization.CovariancePrior`),
        which replaces ``reg_covar``. With either prior the M-step is the MAP step and the
        objective EM never decreases is the log-posterior ``ℓ(θ) + log p(θ)`` (:meth:`log_prior`).
    init_method : {"kmeans", "k-means++", "random", "random_from_data"}
        How :meth:`initial_params` starts (the deterministic default uses a fixed seed).
    fixed : mapping, optional
        Parameters held at the given values during fitting, among ``weights``, ``means``,
        ``covariances`` (the M-step maximizes over the others given them).
    center : array of shape (d,), optional
        The fixed origin of the statistics; by default each data set's weighted mean of its
        observed values (kept with the prepared data: a Dask data set's is summed over its chunks
        first, :meth:`chunk_context`).
    n_jobs : int, optional
        Threads of the E-step (each takes its own blocks of rows); None: one per CPU.
    noise : UniformNoise, optional
        A uniform noise component ``π_0 V⁻¹`` (parameter ``noise``, its weight ``π_0``; the
        ``weights`` then sum to ``1 − π_0``); see :class:`~emkit.latent.MixtureModel`.
    noise_start : boolean array of shape (n,), optional
        With ``noise``: the rows started as noise (mclust's ``initialization$noise``); the others
        get the usual start (``init_method``) and ``π_0`` starts at their weighted fraction.
        None: every row gets the usual start and ``π_0`` starts at :data:`NOISE_START`.

    Data are an array ``X``, a pair ``(X, sample_weight)``, a :class:`GaussianMixtureData` or
    prepared :class:`GaussianRows`; on Dask (:mod:`emkit.engine.dask`), a Dask array or a pair
    of row-aligned Dask arrays. Parameters are ``{"weights": (k,), "means": (k, d),
    "covariances": shape by type}``.
    """

    param_names = ("weights", "means", "covariances")

    def __init__(self, n_components: int = 1, covariance_type: str = "full", *, reg_covar: float = 1e-6,
                 init_method: str = "kmeans", fixed: Mapping[str, Any] | None = None, center=None,
                 n_jobs: int | None = None, weight_concentration: float | np.ndarray = 1.0,
                 covariance_prior: CovariancePrior | None = None, noise: UniformNoise | None = None,
                 noise_start: np.ndarray | None = None) -> None:
        if not (isinstance(n_components, (int, np.integer)) and not isinstance(n_components, bool)
                and n_components >= 1):
            raise ValueError(f"n_components: must be a positive integer, got {n_components!r}")
        if not (isinstance(reg_covar, (int, float, np.floating, np.integer)) and np.isfinite(reg_covar)
                and reg_covar >= 0):
            raise ValueError(f"reg_covar: must be a non-negative number, got {reg_covar!r}")
        if init_method not in INIT_METHODS:
            raise ValueError(f"init_method: expected one of {INIT_METHODS}, got {init_method!r}")
        self.n_components = int(n_components)
        self.covariance_type = check_covariance_type(covariance_type)
        self.reg_covar = float(reg_covar)
        self.weight_concentration = dirichlet.check_concentration(weight_concentration, (self.n_components,),
                                                                  "weight_concentration_prior")
        if covariance_prior is not None and not isinstance(covariance_prior, CovariancePrior):
            raise ValueError(f"covariance_prior: expected a CovariancePrior or None, got {covariance_prior!r}")
        self.covariance_prior = covariance_prior
        self.init_method = init_method
        self.noise = noise
        self.noise_start = None if noise_start is None else np.asarray(noise_start, dtype=bool)
        if noise is not None:
            self.param_names = type(self).param_names + ("noise",)
        unknown = set(fixed or {}) - set(self.param_names)
        if unknown:
            raise ValueError(f"fixed: unknown parameter(s) {sorted(unknown)}; expected among {list(self.param_names)}")
        self.fixed = {name: np.array(value, dtype=float) for name, value in (fixed or {}).items()}
        self.center = None if center is None else np.array(center, dtype=float)
        if n_jobs is not None:
            worker_count(n_jobs, 1)  # raises ValueError naming n_jobs
        self.n_jobs = n_jobs
        if self.center is not None:
            self._mixture_for(self.center.size)   # raises ValueError naming a centre that is not finite

    # ------------------------------------------------------------------------------ the layer
    def _mixture_for(self, n_features: int) -> MixtureModel:
        """``MixtureModel(Gaussian(n_features, ...), K)`` for rows of ``n_features`` columns; ValueError
        naming ``X`` for a width other than :attr:`center`'s. One model serves data of any width and
        keeps nothing of them: the mixture of each width is made once (about 60 µs) and kept
        beside the model, not on it (:data:`_LAYERS`, by the model's identity), since the engine
        asks for it several times per iteration."""
        if self.center is not None and self.center.size != n_features:
            raise ValueError(f"X: expected {self.center.size} features (the size of center), got {n_features}")
        layers = _LAYERS.setdefault(self, {})
        mixture = layers.get(n_features)
        if mixture is None:
            mixture = layers[n_features] = self._new_mixture(n_features)
        return mixture

    def _new_mixture(self, n_features: int) -> MixtureModel:
        family = Gaussian(n_features, self.covariance_type, self.reg_covar, centre=self.center,
                          covariance_prior=self.covariance_prior, covariance_name="covariances")
        return MixtureModel(family, self.n_components, weights_prior=self.weight_concentration,
                            learn=set(self.param_names) - set(self.fixed) - {"noise"}, n_jobs=self.n_jobs,
                            noise=self.noise)

    def _of(self, params: Params) -> MixtureModel:
        """The mixture for parameters (its width from their means)."""
        return self._mixture_for(np.shape(params["means"])[1])

    # ------------------------------------------------------------------------------ data
    def prepare(self, data) -> GaussianRows:
        """Validate the data (:func:`prepare_data`) with the whole-data checks of
        :meth:`chunk_context`; their centre of statistics is their weighted mean of the observed
        values (or :attr:`center`)."""
        if isinstance(data, GaussianRows):
            return data
        rows = _as_data(data)
        return self._rows(rows.X, rows.sample_weight, self.chunk_context(self.chunk_summary(rows)), grouped=True)

    def chunk_summary(self, chunk) -> Stats:
        """Of ``X``, ``(X, sample_weight)`` or a chunk of them (validated by :func:`prepare_data`):
        ``rows`` with positive weight, and per feature ``observed = Σ_i w_i [x_ij observed]``,
        ``sum = Σ_i w_i x_ij`` over the observed values and ``largest`` (additive over row blocks)."""
        return _as_data(chunk).summary

    def chunk_context(self, summary: Stats) -> np.ndarray:
        """Whole-data checks (at least ``n_components`` rows with positive weight, every feature
        observed, magnitudes whose squares fit, the fixed values' shapes); returns the centre of
        the statistics, :attr:`center` or the weighted mean of the observed values."""
        n_rows = int(summary["rows"])
        if n_rows < self.n_components:
            raise ValueError(f"n_components: {self.n_components} components need at least as many samples "
                             f"(with positive weight), got {n_rows}")
        observed = np.asarray(summary["observed"], dtype=float)
        empty_columns = np.flatnonzero(observed <= 0)
        if empty_columns.size:
            raise ValueError(f"X: feature {int(empty_columns[0])} has no observed value (all NaN); nothing to "
                             "estimate its mean from")
        check_magnitude(summary["largest"])
        self._mixture_for(observed.size)
        for name, value in self.fixed.items():
            self._check_one(name, value, observed.size, "fixed")
        return self.center if self.center is not None else summary["sum"] / observed

    def prepare_chunk(self, chunk, context=None) -> GaussianRows:
        """One chunk of rows (``X`` or ``(X, sample_weight)`` blocks) validated by
        :func:`prepare_data`, made with the whole data's centre ``context`` (None: its own)."""
        if isinstance(chunk, GaussianRows):
            return chunk
        rows = _as_data(chunk)
        self._mixture_for(rows.X.shape[1])
        return self._rows(rows.X, rows.sample_weight, self._centre_of(rows) if context is None else context,
                          grouped=True)

    def _rows(self, X: np.ndarray, sample_weight: np.ndarray | None, centre: np.ndarray,
              grouped: bool = False) -> GaussianRows:
        """The rows as :class:`GaussianRows`; ``grouped``: by missingness pattern (full and tied
        covariances with missing values, data that are fitted)."""
        order = None
        if grouped and not covariance_structure(self.covariance_type).diagonal:
            order = missing_layout(X).order
            if order is not None:
                X = X[order]
                sample_weight = None if sample_weight is None else sample_weight[order]
        built = MixtureData.build(self._mixture_for(X.shape[1]).family, X, sample_weight, centre)
        return GaussianRows(**{field.name: getattr(built, field.name) for field in fields(built)}, order=order)

    def _centre_of(self, rows: GaussianMixtureData) -> np.ndarray:
        """:attr:`center`, or the rows' weighted mean of their observed values (0 where none)."""
        if self.center is not None:
            return self.center
        summary = rows.summary
        return np.where(summary["observed"] > 0, summary["sum"] / np.maximum(summary["observed"], 1e-300), 0.0)

    def _query(self, data) -> GaussianRows:
        """Rows to score or predict: only checked as rows (no whole-data checks)."""
        if isinstance(data, GaussianRows):
            return data
        rows = _as_data(data)
        return self._rows(rows.X, rows.sample_weight, self._centre_of(rows))

    # ---------------------------------------------------------------------- the mathematics
    def initial_params(self, data: GaussianRows, rng: np.random.Generator | None = None) -> Params:
        """Parameters from starting responsibilities (:func:`initial_responsibilities`, missing
        values filled with the centre); the fixed seed 0 when ``rng`` is None."""
        generator = np.random.default_rng(0) if rng is None else rng
        X = np.where(np.isnan(data.X), data.context, data.X) if data.has_missing else data.X
        if self.noise is not None:
            return self._noise_start_params(X, data.sample_weight, data.context, generator)
        resp = initial_responsibilities(X, self.n_components, self.init_method, generator, data.sample_weight)
        return self.params_from_responsibilities(X, resp, data.sample_weight, data.context)

    def _noise_start_params(self, X: np.ndarray, sample_weight, centre, rng: np.random.Generator) -> Params:
        """With a noise component: the usual start on the rows not in :attr:`noise_start`, and
        ``π_0`` their complement's weighted fraction (:data:`NOISE_START` without a mask); the
        components' weights scaled to ``1 − π_0``."""
        n = X.shape[0]
        mask = np.zeros(n, bool) if self.noise_start is None else self.noise_start
        if mask.shape != (n,):
            raise ValueError(f"noise_init: expected a boolean mask of {n} rows, got shape {mask.shape}")
        kept = ~mask
        weights = np.ones(n) if sample_weight is None else sample_weight
        if np.count_nonzero(weights[kept] > 0) < self.n_components:
            raise ValueError(f"noise_init: leaves fewer rows than n_components = {self.n_components} to start the "
                             "components from")
        noise = NOISE_START if self.noise_start is None else weights[mask].sum() / weights.sum()
        own = None if sample_weight is None else sample_weight[kept]
        resp = initial_responsibilities(X[kept], self.n_components, self.init_method, rng, own)
        params = self.params_from_responsibilities(X[kept], resp, own, centre)
        if "weights" not in self.fixed:
            params["weights"] = params["weights"] * (1.0 - noise)
        else:
            noise = 1.0 - params["weights"].sum()
        params["noise"] = np.asarray(max(noise, 0.0))
        return params

    def params_from_responsibilities(self, X: np.ndarray, resp: np.ndarray, sample_weight=None,
                                     centre: np.ndarray | None = None) -> Params:
        """One M-step from given responsibilities of complete rows (fixed values kept), the
        statistics about ``centre`` (default: the rows' weighted mean) then each component's mean."""
        centre = np.average(X, axis=0, weights=sample_weight) if centre is None else centre
        found = one_hot_statistics(X, resp, sample_weight, centre, covariance_structure(self.covariance_type))
        if found is None:
            weighted = resp if sample_weight is None else resp * sample_weight[:, None]
            found = responsibility_statistics(X, weighted, centre, self.covariance_type)
        stats, anchors = found
        empty = stats["n"] <= 0
        if np.any(empty):
            warnings.warn(f"component(s) {np.flatnonzero(empty).tolist()} start with no data and weight 0 "
                          "(fewer distinct rows than components?); fit fewer components", DegenerateComponentWarning,
                          stacklevel=3)
        family = self._mixture_for(X.shape[1]).family
        fitted = family.m_step({**stats, "centre_weight": stats["n"].sum() * centre},
                               {"means": anchors, "covariances": self.fixed.get(
                                   "covariances", np.zeros(covariance_shape(self.covariance_type, *anchors.shape)))},
                               frozenset({"means", "covariances"} - set(self.fixed)), np.zeros(len(anchors), bool))
        params = {"weights": stats["n"] / stats["n"].sum(), **fitted}
        params.update({name: value.copy() for name, value in self.fixed.items()})
        return params

    def log_joint(self, data, params: Params) -> np.ndarray:
        """``log π_k + log N(x_i,o | μ_k,o, Σ_k,oo)`` for every row, shape ``(n, k)``."""
        data = self._query(data)
        mixture = self._of(params)
        cache = mixture.family.precompute(params)
        joint = np.concatenate([mixture.family.log_likelihood(block.data, cache) for block in data.blocks])
        return data.in_given_order(joint + np.log(np.asarray(params["weights"], dtype=float)))

    def e_step(self, data: GaussianRows, params: Params) -> tuple[Stats, float]:
        """The mixture's E-step: ``counts`` and the family's statistics about the data's centre
        (the fused pass of the Gaussian kernel, in threads over row blocks) and
        ``ℓ = Σ_i w_i log Σ_k π_k N(x_i,o | ...)``."""
        return self._of(params).e_step(data, params)

    def m_step(self, stats: Stats, params: Params) -> Params:
        """The mixture's M-step (the weights' posterior mode, the family's means and covariances;
        an empty component keeps its mean and covariance with a warning), fixed values kept."""
        new = self._of(params).m_step(stats, params)
        new.update({name: value.copy() for name, value in self.fixed.items()})
        return new

    def log_prior(self, params: Params) -> float:
        """``Σ_k (α_k − 1) log π_k`` plus the covariance prior's ``log p(Σ)`` (0 without priors)."""
        return self._of(params).log_prior(params)

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """What ``reg_covar`` gave up (the family's); None with a covariance prior, ``reg_covar = 0``
        or fixed covariances."""
        return self._of(params).regularization(stats, params)

    def loglik_rounding(self, data) -> float:
        """For float32 data, which the E-step may compute in float32 (when every log-density is
        then within :data:`~emkit.kernels.gaussian_mixture_estep.FLOAT32_TOLERANCE`):
        ``FLOAT32_TOLERANCE · Σ w_i``; else 0."""
        if isinstance(data, GaussianRows) and data.X.dtype == np.float32:
            return FLOAT32_TOLERANCE * data.total_weight
        return 0.0

    # ---------------------------------------------------------------- beyond the contract
    def responsibilities(self, data, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """``(log r_ik, log p(x_i,o))`` for every row (posterior given the observed coordinates)."""
        data = self._query(data)
        resp, log_marginal = self._of(params).responsibilities(data, params)
        with np.errstate(divide="ignore"):
            return data.in_given_order(np.log(resp)), data.in_given_order(log_marginal)

    def impute(self, data, params: Params) -> np.ndarray:
        """``X`` with NaN replaced by ``E[x_m | x_o]`` under the mixture (a float64 copy)."""
        data = self._query(data)
        return data.in_given_order(self._of(params).impute(data, params))

    # ------------------------------------------------------------------ parameter handling
    def _check_one(self, name: str, value, d: int, where: str) -> np.ndarray:
        k = self.n_components
        array = np.array(value, dtype=float)
        expected = {"weights": (k,), "means": (k, d), "noise": (),
                    "covariances": covariance_shape(self.covariance_type, k, d)}[name]
        if array.shape != expected:
            raise ValueError(f"{where}['{name}']: expected shape {expected}, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{where}['{name}']: must be finite")
        if name == "weights" and self.noise is None and (np.any(array < 0) or abs(array.sum() - 1.0) > 1e-8):
            raise ValueError(f"{where}['weights']: expected non-negative weights summing to 1, got {array.tolist()}")
        if name == "covariances" and not self._clearly_positive_definite(array):   # else LAPACK decides
            try:
                precisions_cholesky(array, self.covariance_type)
            except ValueError as error:
                raise ValueError(f"{where}['covariances']: {error}") from None
        return array

    def _clearly_positive_definite(self, covariances: np.ndarray) -> bool:
        """Full or tied covariances that a compiled factorisation finds positive definite by a
        wide margin (:func:`~emkit.kernels.gaussian_small.clearly_positive_definite`); False
        when unsure or for other structures."""
        if self.covariance_type == "full":
            return clearly_positive_definite(covariances)
        if self.covariance_type == "tied":
            return clearly_positive_definite(covariances[None])
        return False

    def check_params(self, params: Params, where: str = "init") -> Params:
        """Validate a user start (or parameters read from ``where``, e.g. a file): shapes, weights
        on the simplex, positive-definite covariances, and agreement with the fixed values; raise
        ValueError naming the entry."""
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"{where}: missing parameter(s) {missing}; expected {list(self.param_names)}")
        means = np.asarray(params["means"], dtype=float)
        d = self.center.size if self.center is not None else (means.shape[1] if means.ndim == 2 else -1)
        out = {name: self._check_one(name, params[name], d, where) for name in self.param_names}
        if self.noise is not None:
            proportions = np.append(out["weights"], out["noise"])
            if np.any(proportions < 0) or abs(proportions.sum() - 1.0) > 1e-8:
                raise ValueError(f"{where}['weights'], {where}['noise']: expected non-negative weights that sum with "
                                 f"the noise weight to 1, got {proportions.tolist()}")
        for name, value in self.fixed.items():
            if not np.allclose(out[name], value, rtol=1e-12, atol=0):
                raise ValueError(f"{where}['{name}']: differs from the fixed value of {name}")
        return out

    def is_feasible(self, params: Params) -> bool:
        """Finite parameters, weights on the simplex and positive-definite covariances."""
        weights, covariances = params["weights"], params["covariances"]
        if not all(np.all(np.isfinite(params[name])) for name in self.param_names):
            return False
        if self.noise is not None:
            weights = np.append(weights, params["noise"])
        if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-9:
            return False
        try:
            precisions_cholesky(covariances, self.covariance_type)
        except ValueError:
            return False
        return True

    def describe(self) -> str:
        """E.g. "Gaussian mixture (full, k=5)"."""
        return f"Gaussian mixture ({self.covariance_type}, k={self.n_components})"

    def named_params(self, params: Params) -> dict[str, Any]:
        """``weights``, ``means`` and ``covariances`` as (nested) lists."""
        return {name: np.asarray(params[name], dtype=float).tolist() for name in self.param_names}

    def n_free_parameters(self, n_features: int | None = None) -> int:
        """``(k−1) + k·d + covariance entries`` (``k·d(d+1)/2``, ``d(d+1)/2``, ``k·d`` or ``k``),
        less the fixed parameters, for ``d = n_features`` (default: the size of :attr:`center`;
        the model is tied to no data width otherwise)."""
        if n_features is None:
            if self.center is None:
                raise ValueError("n_features: needed to count the free parameters of a model without center")
            n_features = self.center.size
        return self._mixture_for(int(n_features)).n_free_parameters()

    # ------------------------------------------------------------ inference hooks (the mixture's)
    def to_free(self, params: Params) -> np.ndarray:
        """The learned weights but the last, the means and the free covariance entries."""
        return self._of(params).to_free(params)

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        """Inverse of :meth:`to_free`; fixed parameters from the model."""
        out = self._of(like).from_free(free, like)
        out.update({name: value.copy() for name, value in self.fixed.items()})
        return out

    def free_labels(self, params: Params) -> tuple[str, ...]:
        """``weights[j]`` (j < k−1), ``means[j,i]`` and ``covariances[...]`` of the free entries."""
        return self._of(params).free_labels(params)

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """The mixture's complete-data information (the weights' and the Gaussian family's)."""
        return self._of(params).complete_information(stats, params)

    def score_covariance(self, data, params: Params) -> np.ndarray:
        """Louis's missing information, the mixture's (exact row scores; complete rows only)."""
        return self._of(params).score_covariance(self.prepare(data), params)

    def resample(self, data, rng: np.random.Generator):
        """The rows drawn with replacement (:func:`resample_rows`)."""
        return resample_rows(self._query(data), rng)

    def n_observations(self, data) -> int:
        return self._query(data).X.shape[0]

    def reweight(self, data, factors: np.ndarray):
        """The rows with their weights times ``factors`` (``(X, sample_weight)``)."""
        rows = self._query(data)
        return rows.X, factors if rows.sample_weight is None else rows.sample_weight * factors

    def simulate(self, params: Params, like_data, rng: np.random.Generator):
        """As many rows drawn from the mixture, with the missing cells of ``like_data`` (missing
        completely at random) and its weights."""
        data = self._query(like_data)
        if self.noise is not None:
            return self._of(params).simulate(params, data, rng)
        labels, noise = component_draws(params["weights"], params["covariances"], self.covariance_type,
                                        data.X.shape[1], data.X.shape[0], rng)
        X = params["means"][labels] + noise
        if data.has_missing:
            X[np.isnan(data.X)] = np.nan
        return X if data.sample_weight is None else (X, data.sample_weight)


def resample_rows(data: GaussianMixtureData, rng: np.random.Generator):
    """A nonparametric bootstrap data set: the rows drawn with replacement, with their weights
    (``X`` or ``(X, sample_weight)``)."""
    rows = rng.integers(0, data.X.shape[0], size=data.X.shape[0])
    return data.X[rows] if data.sample_weight is None else (data.X[rows], data.sample_weight[rows])


def _as_data(data) -> GaussianMixtureData:
    """``X``, a pair ``(X, sample_weight)`` or prepared data, validated by :func:`prepare_data`."""
    if isinstance(data, tuple) and len(data) == 2:
        return prepare_data(*data)
    return prepare_data(data)
