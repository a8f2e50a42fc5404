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

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

import numpy as np
from scipy.linalg import block_diag

from ..engine.model import EMModel, Params, Regularization, Stats
from ..exceptions import DegenerateComponentWarning
from ..numerics import all_finite
from ..validation import check_sample_weight, nullable_as_nan
from .categorical import categorical_information, categorical_scores, free_probabilities, full_probabilities
from .gaussian_information import (
    component_draws,
    gaussian_free,
    gaussian_free_labels,
    gaussian_from_free,
    gaussian_information,
    gaussian_scores,
    n_free_covariances,
)
from ..kernels.covariance_regularization import CovariancePrior
from ..kernels.gaussian import (
    check_covariance_type,
    covariance_shape,
    gaussian_m_step,
    gaussian_stats,
    impute_conditional_mean,
    m_step_statistics,
    responsibility_statistics,
    precisions_cholesky,
)
from ..kernels.gaussian_mixture_estep import (
    FLOAT32_TOLERANCE,
    MixtureTerms,
    compute_dtype,
    mixture_e_step,
    mixture_log_joint,
    mixture_posterior,
    mixture_terms,
)
from ..kernels.gaussian_mixture_missing import MissingLayout, missing_layout
from ..kernels.kmeans import kmeans, kmeans_plusplus, unit_scale
from ..kernels.parallel import worker_count
from ..families import dirichlet
from .regularization import covariance_floor

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")

#: What to do when a component collapses onto the ``reg_covar`` floor.
FLOOR_REMEDY = ("give the covariances a conjugate prior (covariance_prior=..., MAP-EM, whose objective never "
                "decreases), or change reg_covar (larger keeps components off single points, smaller moves the "
                "fit closer to maximum likelihood), or fit fewer components")

#: A component whose expected count is below this fraction of the total is empty.
EMPTY_COMPONENT_TOL = 1e-12

#: Fitting needs the squares of the data (about their mean) in the float range; scoring does not.
MAX_MAGNITUDE = 1e150

#: Rows per block for models that process the rows in blocks (the Gaussian-mixture kernels
#: choose their own cache-sized blocks).
BLOCK_ROWS = 1 << 16

#: Louis's method computes the complete-data scores of row slices of at most this many numbers.
SCORE_BLOCK_NUMBERS = 1 << 22


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
            largest = np.fmax(largest, np.fmax.reduce(np.abs(block), axis=0))
            weights = None if self.sample_weight is None else self.sample_weight[rows]
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


def initial_responsibilities(X: np.ndarray, n_components: int, method: str, rng: np.random.Generator,
                             sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Starting responsibilities ``(n, k)`` by one of :data:`INIT_METHODS` (scikit-learn's meaning).

    ``kmeans``: one-hot k-means labels; ``k-means++``: one-hot at the k-means++ seeds (both on
    the columns scaled to unit variance, so that the start does not depend on their units);
    ``random``: uniform random rows normalized to one; ``random_from_data``: one-hot at ``k``
    distinct rows drawn with probability ``∝ w_i``. ``X`` must be complete.
    """
    n = X.shape[0]
    resp = np.zeros((n, n_components))
    if method in ("kmeans", "k-means++"):
        X = X / unit_scale(X, sample_weight)
    if method == "kmeans":
        _, labels = kmeans(X, n_components, rng, sample_weight)
        resp[np.arange(n), labels] = 1.0
    elif method == "k-means++":
        _, indices = kmeans_plusplus(X, n_components, rng, sample_weight)
        resp[indices, np.arange(n_components)] = 1.0
    elif method == "random":
        resp = rng.uniform(size=(n, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    elif method == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = rng.choice(n, size=n_components, replace=False, p=p)
        resp[indices, np.arange(n_components)] = 1.0
    else:
        raise ValueError(f"init_params: expected one of {INIT_METHODS}, got {method!r}")
    return resp


class GaussianMixtureModel(EMModel):
    """K-component Gaussian mixture for rows of ``X`` (NaN = missing), fitted by :func:`emkit.fit`.

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
        The fixed origin of the sufficient statistics; by default the weighted mean of the
        observed values of the first data :meth:`prepare` sees (kept afterwards, so statistics
        of any row blocks of any data add up).
    n_jobs : int, optional
        Threads of the E-step (each takes its own blocks of rows, with single-threaded BLAS);
        None: as many as BLAS may use (see ``threadpoolctl``).

    Data are an array ``X``, a pair ``(X, sample_weight)`` or a :class:`GaussianMixtureData`;
    on Dask (:mod:`emkit.engine.dask`), a Dask array or a pair of row-aligned Dask arrays, whose
    center is summed over the chunks first (:meth:`chunk_summary`, :meth:`chunk_context`).
    Parameters are ``{"weights": (k,), "means": (k, d), "covariances": shape by type}``.
    """

    param_names = ("weights", "means", "covariances")

    def __init__(self, n_components: int = 1, covariance_type: str = "full", *, reg_covar: float = 1e-6,
                 init_method: str = "kmeans", fixed: Mapping[str, Any] | None = None, center=None,
                 n_jobs: int | None = None, weight_concentration: float | np.ndarray = 1.0,
                 covariance_prior: CovariancePrior | None = None) -> None:
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
        unknown = set(fixed or {}) - set(self.param_names)
        if unknown:
            raise ValueError(f"fixed: unknown parameter(s) {sorted(unknown)}; expected among {list(self.param_names)}")
        self.fixed = {name: np.array(value, dtype=float) for name, value in (fixed or {}).items()}
        self.center = None if center is None else np.array(center, dtype=float)
        if n_jobs is not None:
            worker_count(n_jobs, 1)  # raises ValueError naming n_jobs
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------------------ data
    @property
    def n_features(self) -> int | None:
        """Number of features, known once a center is set."""
        return None if self.center is None else int(self.center.size)

    def prepare(self, data) -> GaussianMixtureData:
        """Validate the data (see :func:`prepare_data` and :meth:`chunk_context`); set
        :attr:`center` on first use."""
        data = _as_data(data)
        self.chunk_context(self.chunk_summary(data))
        return data

    def chunk_summary(self, chunk) -> Stats:
        """Of ``X``, ``(X, sample_weight)`` or a chunk of them (validated by :func:`prepare_data`):
        ``rows`` with positive weight, and per feature ``observed = Σ_i w_i [x_ij observed]`` and
        ``sum = Σ_i w_i x_ij`` over the observed values (additive over row blocks)."""
        return _as_data(chunk).summary

    def chunk_context(self, summary: Stats) -> None:
        """Whole-data checks (at least ``n_components`` rows with positive weight, every feature
        observed, the number of features) and, on first use, :attr:`center`: the weighted mean
        of the observed values of each feature, ``sum / observed``."""
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
        if self.center is None:
            self.center = summary["sum"] / observed
        elif self.center.shape != observed.shape:
            raise ValueError(f"X: expected {self.center.size} features, got {observed.size}")
        for name, value in self.fixed.items():
            self._check_one(name, value, observed.size, "fixed")
        if self.covariance_prior is not None:
            self.covariance_prior.resolved(self.covariance_type, observed.size)

    def prepare_chunk(self, chunk, context=None) -> GaussianMixtureData:
        """One chunk of rows (``X`` or ``(X, sample_weight)`` blocks) validated by
        :func:`prepare_data`; the whole-data checks are :meth:`chunk_context`'s."""
        data = _as_data(chunk)
        if data.X.shape[1] != self.center.size:
            raise ValueError(f"X: expected {self.center.size} features, got {data.X.shape[1]}")
        return data

    # ---------------------------------------------------------------------- the mathematics
    def initial_params(self, data: GaussianMixtureData, rng: np.random.Generator | None = None) -> Params:
        """Parameters from starting responsibilities (:func:`initial_responsibilities`, missing
        values filled with the feature means); the fixed seed 0 when ``rng`` is None."""
        generator = np.random.default_rng(0) if rng is None else rng
        X = np.where(np.isnan(data.X), self.center, data.X) if data.has_missing else data.X
        resp = initial_responsibilities(X, self.n_components, self.init_method, generator, data.sample_weight)
        return self.params_from_responsibilities(X, resp, data.sample_weight)

    def params_from_responsibilities(self, X: np.ndarray, resp: np.ndarray, sample_weight=None) -> Params:
        """One M-step from given responsibilities of complete rows (fixed values kept)."""
        weighted = resp if sample_weight is None else resp * sample_weight[:, None]
        stats, anchors = responsibility_statistics(X, weighted, self.center, self.covariance_type)
        empty = stats["n"] <= 0
        if np.any(empty):
            warnings.warn(f"component(s) {np.flatnonzero(empty).tolist()} start with no data and weight 0 "
                          "(fewer distinct rows than components?); fit fewer components", DegenerateComponentWarning,
                          stacklevel=3)
        means, covariances = self._means_covariances(stats, {"means": anchors})
        params = {"weights": stats["n"] / stats["n"].sum(), "means": means, "covariances": covariances}
        params.update({name: value.copy() for name, value in self.fixed.items()})
        return params

    def terms(self, params: Params) -> MixtureTerms:
        """The parameters in the product form of the E-step, about :attr:`center`
        (:func:`~emkit.kernels.gaussian_mixture_estep.mixture_terms`)."""
        return mixture_terms(params["weights"], params["means"], params["covariances"], self.covariance_type,
                             self.center)

    def log_joint(self, data: GaussianMixtureData, params: Params) -> np.ndarray:
        """``log π_k + log N(x_i,o | μ_k,o, Σ_k,oo)`` for every row, shape ``(n, k)``."""
        terms = self.terms(params)
        return mixture_log_joint(data.X, terms, layout=data.layout, dtype=compute_dtype(data.X.dtype, terms),
                                 n_jobs=self.n_jobs)

    def e_step(self, data: GaussianMixtureData, params: Params) -> tuple[Stats, float]:
        """Expected statistics about :attr:`center` (those of
        :func:`~emkit.kernels.gaussian.gaussian_stats`, or of its missing-value counterpart, of the
        weighted responsibilities) and ``ℓ = Σ_i w_i log Σ_k π_k N(x_i,o | ...)``, by
        :func:`~emkit.kernels.gaussian_mixture_estep.mixture_e_step` (blocks of rows, in threads)."""
        terms = self.terms(params)
        return mixture_e_step(data.X, terms, data.sample_weight, layout=data.layout,
                              dtype=compute_dtype(data.X.dtype, terms), n_jobs=self.n_jobs)

    def m_step(self, stats: Stats, params: Params) -> Params:
        """``π_k = n_k/Σn``, ``μ_k``, ``Σ_k`` by :func:`~emkit.kernels.gaussian.gaussian_m_step`
        (scatter about the fixed means when those are fixed); with priors, the posterior modes
        ``π_k ∝ n_k + α_k − 1`` (:func:`~emkit.families.dirichlet.posterior_mode`; a weight that
        is exactly 0 stays 0) and the covariances' of ``covariance_prior``. A component with no
        expected count keeps its mean and covariance and raises a warning."""
        n = np.asarray(stats["n"], dtype=float)
        means, covariances = self._means_covariances(stats, params)
        weights, _ = dirichlet.posterior_mode(n, self.weight_concentration, params["weights"])
        empty = n <= EMPTY_COMPONENT_TOL * n.sum()
        if np.any(empty):
            warnings.warn(f"Gaussian component(s) {np.flatnonzero(empty).tolist()} received no weight; they keep "
                          "their mean and covariance with weight 0 (fit fewer components or start elsewhere)",
                          DegenerateComponentWarning, stacklevel=4)
            means[empty] = params["means"][empty]
            if self.covariance_type != "tied":
                covariances[empty] = params["covariances"][empty]
        new = {"weights": weights, "means": means, "covariances": covariances}
        new.update({name: value.copy() for name, value in self.fixed.items()})
        return new

    def _means_covariances(self, stats: Stats, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """Means and covariances of :func:`~emkit.kernels.gaussian.gaussian_m_step`: regularised by
        ``reg_covar``, or the posterior mode under ``covariance_prior``."""
        stats, shift = m_step_statistics(stats, params["means"], self.center, self.covariance_type)
        if self.covariance_prior is not None:
            return gaussian_m_step(stats, self.covariance_type, 0.0, shift=shift, means=self.fixed.get("means"),
                                   prior=self.covariance_prior)
        return gaussian_m_step(stats, self.covariance_type, self.reg_covar, shift=shift,
                               means=self.fixed.get("means"))

    def log_prior(self, params: Params) -> float:
        """``Σ_k (α_k − 1) log π_k`` plus the covariance prior's ``log p(Σ)`` (0 without priors)."""
        value = dirichlet.log_density(params["weights"], self.weight_concentration)
        if self.covariance_prior is not None:
            value += self.covariance_prior.log_density(params["covariances"], self.covariance_type,
                                                       np.shape(params["means"])[1])
        return value

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """What ``reg_covar`` gave up (:func:`~emkit.models.regularization.covariance_floor`); None
        with a covariance prior (an exact MAP step), ``reg_covar = 0`` or fixed covariances."""
        if self.covariance_prior is not None or self.reg_covar == 0 or "covariances" in self.fixed:
            return None
        n = np.asarray(stats["n"], dtype=float)
        exact, shift = m_step_statistics(stats, params["means"], self.center, self.covariance_type)
        _, scatter = gaussian_m_step(exact, self.covariance_type, 0.0, shift=shift, means=self.fixed.get("means"))
        return covariance_floor(scatter, np.where(n <= EMPTY_COMPONENT_TOL * n.sum(), 0.0, n), self.reg_covar,
                                self.covariance_type, np.shape(params["means"])[1], what="Gaussian component",
                                remedy=FLOOR_REMEDY)

    def loglik_rounding(self, data) -> float:
        """For float32 data, which the E-step may compute in float32 (when every log-density is
        then within :data:`~emkit.kernels.gaussian_mixture_estep.FLOAT32_TOLERANCE`):
        ``FLOAT32_TOLERANCE · Σ w_i``; else 0."""
        if isinstance(data, GaussianMixtureData) and data.X.dtype == np.float32:
            return FLOAT32_TOLERANCE * data.total_weight
        return 0.0

    # ---------------------------------------------------------------- beyond the contract
    def responsibilities(self, data: GaussianMixtureData, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """``(log r_ik, log p(x_i,o))`` for every row (posterior given the observed coordinates)."""
        terms = self.terms(params)
        return mixture_posterior(data.X, terms, layout=data.layout, dtype=compute_dtype(data.X.dtype, terms),
                                 n_jobs=self.n_jobs)

    def impute(self, data: GaussianMixtureData, params: Params) -> np.ndarray:
        """``X`` with NaN replaced by ``E[x_m | x_o]`` under the mixture (a float64 copy)."""
        filled = np.array(data.X, dtype=float)
        terms = self.terms(params)
        for rows, has_missing in data.blocks:
            if has_missing:
                log_resp, _ = mixture_posterior(filled[rows], terms, n_jobs=self.n_jobs)
                filled[rows] = impute_conditional_mean(filled[rows], np.exp(log_resp), params["means"],
                                                       params["covariances"], self.covariance_type)
        return filled

    # ------------------------------------------------------------------ parameter handling
    def _check_one(self, name: str, value, d: int, where: str) -> np.ndarray:
        k = self.n_components
        array = np.array(value, dtype=float)
        expected = {"weights": (k,), "means": (k, d),
                    "covariances": covariance_shape(self.covariance_type, k, d)}[name]
        if array.shape != expected:
            raise ValueError(f"{where}['{name}']: expected shape {expected}, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{where}['{name}']: must be finite")
        if name == "weights" and (np.any(array < 0) or abs(array.sum() - 1.0) > 1e-8):
            raise ValueError(f"{where}['weights']: expected non-negative weights summing to 1, got {array.tolist()}")
        if name == "covariances":
            try:
                precisions_cholesky(array, self.covariance_type)
            except ValueError as error:
                raise ValueError(f"{where}['covariances']: {error}") from None
        return array

    def check_params(self, params: Params, where: str = "init") -> Params:
        """Validate a user start (or parameters read from ``where``, e.g. a file): shapes, weights
        on the simplex, positive-definite covariances, and agreement with the fixed values; raise
        ValueError naming the entry."""
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"{where}: missing parameter(s) {missing}; expected {list(self.param_names)}")
        means = np.asarray(params["means"], dtype=float)
        d = self.n_features or (means.shape[1] if means.ndim == 2 else -1)
        out = {name: self._check_one(name, params[name], d, where) for name in self.param_names}
        for name, value in self.fixed.items():
            if not np.allclose(out[name], value, rtol=1e-12, atol=0):
                raise ValueError(f"{where}['{name}']: differs from the fixed value of {name}")
        return out

    def is_feasible(self, params: Params) -> bool:
        """Finite parameters, weights on the simplex and positive-definite covariances."""
        weights, covariances = params["weights"], params["covariances"]
        if not all(np.all(np.isfinite(params[name])) for name in self.param_names):
            return False
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

    def n_free_parameters(self) -> int:
        """``(k−1) + k·d + covariance entries`` (``k·d(d+1)/2``, ``d(d+1)/2``, ``k·d`` or ``k``),
        less the fixed parameters; needs the number of features (set by :meth:`prepare`)."""
        d = self.n_features
        if d is None:
            raise ValueError("n_free_parameters: the number of features is unknown until prepare() has seen data")
        return int(self._kept(d).sum())


    # ------------------------------------------------------------ inference hooks
    def _all_free(self, params: Params) -> np.ndarray:
        """The free entries of all parameters, fixed ones included: weights, means, covariances."""
        return np.concatenate([free_probabilities(params["weights"]),
                               gaussian_free(params["means"], params["covariances"], self.covariance_type)])

    def _kept(self, d: int) -> np.ndarray:
        """Which entries of :meth:`_all_free` are not fixed."""
        k = self.n_components
        sizes = {"weights": k - 1, "means": k * d, "covariances": n_free_covariances(self.covariance_type, k, d)}
        return np.concatenate([np.full(sizes[name], name not in self.fixed) for name in self.param_names])

    def to_free(self, params: Params) -> np.ndarray:
        """``(π_1, ..., π_{k−1})``, the means and the free covariance entries (lower triangles,
        variances: :func:`~emkit.models.gaussian_information.gaussian_free`), without the fixed
        parameters."""
        return self._all_free(params)[self._kept(np.shape(params["means"])[1])]

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        """Inverse of :meth:`to_free`; fixed parameters from the model."""
        k, d = self.n_components, np.shape(like["means"])[1]
        values = self._all_free(like)
        values[self._kept(d)] = free
        means, covariances = gaussian_from_free(values[k - 1:], self.covariance_type, k, d)
        out = {"weights": full_probabilities(values[:k - 1]), "means": means, "covariances": covariances}
        out.update({name: value.copy() for name, value in self.fixed.items()})
        return out

    def free_labels(self, params: Params) -> tuple[str, ...]:
        """``weights[j]`` (j < k−1), ``means[j,i]`` and ``covariances[...]`` of the free entries."""
        k, d = self.n_components, np.shape(params["means"])[1]
        labels = [f"weights[{j}]" for j in range(k - 1)] + gaussian_free_labels("means", "covariances",
                                                                               self.covariance_type, k, d)
        return tuple(label for label, kept in zip(labels, self._kept(d)) if kept)

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """Expected complete-data information in the free parameters, from the statistics at
        ``params``: the weights' block and the components' (:func:`~emkit.models.
        gaussian_information.gaussian_information`; exact for any ``params``, and with missing
        values, whose statistics hold the conditional moments)."""
        d = np.shape(params["means"])[1]
        information = block_diag(categorical_information(np.asarray(stats["n"], dtype=float), params["weights"]),
                                 gaussian_information(stats, params["means"], params["covariances"],
                                                      self.covariance_type, self.center))
        keep = self._kept(d)
        return information[np.ix_(keep, keep)]

    def latent_class_scores(self, data, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, their responsibilities and the complete-data score of each row under each
        component, in the free parameters (complete rows only: Louis's method with missing
        values would need the scores' conditional moments too)."""
        data = _as_data(data)
        if data.has_missing:
            raise NotImplementedError("Louis's method for a Gaussian mixture takes complete rows only (use "
                                      "method='sem', 'hessian' or 'bootstrap' with missing values)")
        X = np.asarray(data.X, dtype=float)
        weight_scores = np.broadcast_to(categorical_scores(params["weights"]).T, (X.shape[0], self.n_components,
                                                                                 self.n_components - 1))
        scores = np.concatenate([weight_scores, gaussian_scores(X, params["means"], params["covariances"],
                                                                self.covariance_type)], axis=2)
        counts = np.ones(X.shape[0]) if data.sample_weight is None else data.sample_weight
        return counts, np.exp(self.responsibilities(data, params)[0]), scores[:, :, self._kept(X.shape[1])]

    def score_covariance(self, data, params: Params) -> np.ndarray:
        """Louis's missing information ``Σ_i w_i Σ_k r_ik (s_ik − s̄_i)(s_ik − s̄_i)ᵀ`` of
        :meth:`latent_class_scores`, over row slices whose scores take at most
        :data:`SCORE_BLOCK_NUMBERS` numbers (the scores of all rows at once are ``n·k·p``)."""
        data = _as_data(data)
        size = self.to_free(params).size
        rows = max(1, SCORE_BLOCK_NUMBERS // (self.n_components * max(size, 1)))
        total = np.zeros((size, size))
        for start in range(0, data.X.shape[0], rows):
            block = slice(start, start + rows)
            part = data.X[block] if data.sample_weight is None else (data.X[block], data.sample_weight[block])
            total += super().score_covariance(part, params)
        return total

    def resample(self, data, rng: np.random.Generator):
        """The rows drawn with replacement (:func:`resample_rows`)."""
        return resample_rows(_as_data(data), rng)

    def simulate(self, params: Params, like_data, rng: np.random.Generator):
        """As many rows drawn from the mixture, with the missing cells of ``like_data`` (missing
        completely at random) and its weights."""
        data = _as_data(like_data)
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
