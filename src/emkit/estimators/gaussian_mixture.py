"""``GaussianMixture``: a drop-in for ``sklearn.mixture.GaussianMixture`` fitted by emkit's engine.

Same constructor, attributes, methods, warnings and iterates as scikit-learn (from the same
start, the log-likelihood after each iteration agrees to round-off), plus missing values (NaN),
``sample_weight``, frozen parameters, ``impute``, SQUAREM acceleration, a progress display, the
engine's ascent check, and JSON/npz persistence. scikit-learn itself is not needed at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import EMResult, PerSampleChange, fit
from ..engine.estep import ChunkedData, initial_params
from ..density import HDR_SAMPLES, hdr_levels, mixture_cdf
from ..engine.progress import Progress
from ..kernels.covariance_regularization import CovariancePrior
from ..kernels.mclust_prior import MclustPrior, mclust_prior
from ..latent.noise import UniformNoise
from ..models.gaussian_mixture import (
    GaussianMixtureData,
    GaussianMixtureModel,
    prepare_data,
)
from ..variants.online import OnlineEM
from ._common import float_array, generator
from ._validation import check_n_features, feature_names
from ._dask import is_dask
from .mixture_base import MixtureEstimator, _posterior, total_weight

FREEZABLE = ("weights", "means", "covariances")


class GaussianMixture(MixtureEstimator):
    """Gaussian mixture model fitted by EM: ``p(x) = Σ_k π_k N(x | μ_k, Σ_k)``.

    Parameters are scikit-learn's (same names, defaults and meaning), then emkit's own.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance structure: one full matrix per component, one shared full matrix, one
        diagonal per component, or one variance per component.
    tol : float, default=1e-3
        Stop when the average log-likelihood per sample changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of the covariances (increase it when a component collapses).
    max_iter : int, default=100
        Number of EM iterations per initialization.
    n_init : int, default=1
        Number of initializations; the best is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the responsibilities are started (k-means on the columns scaled to unit variance, so
        that the start does not depend on their units).
    weights_init, means_init, precisions_init : array-like, optional
        User-provided starting weights ``(k,)``, means ``(k, d)`` and precisions (inverse
        covariances, shaped as the covariances). With ``noise`` the weights may sum to less than
        1, the rest starting the noise weight ``π_0`` (mclust's ``pro``); weights summing to 1
        are scaled to ``1 − π_0`` of the usual start.
    random_state : int, numpy Generator or RandomState, optional
        Seed of the initialization (and of :meth:`sample`).
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution (one initialization).
    verbose : int, default=0
        1 prints the initializations and iterations; 2 adds times and changes.
    verbose_interval : int, default=10
        Iterations between verbose lines.
    frozen : tuple of str, default=()
        Parameters held fixed at their given starting values during EM, among "weights"
        (needs ``weights_init``), "means" (``means_init``) and "covariances" (``precisions_init``).
    accelerate : {None, "squarem"}, default=None
        Run SQUAREM on the EM map (fewer passes over the data; iterates then differ from
        scikit-learn's).
    progress : bool or Progress, default=False
        Show the initialisation (k-means) and the EM iterations, with the change of the
        log-likelihood per sample against ``tol``, on standard error (a
        :class:`~emkit.engine.progress.Progress`: on that display, shared).
    n_jobs : int, optional
        Threads of the E-step and of the predictions (each takes its own blocks of rows, with
        single-threaded BLAS); None: as many as BLAS may use (``threadpoolctl`` limits it).
    covariance_prior : float or array-like, optional
        Scale ``Ψ`` of a conjugate prior on the covariances, which then replaces ``reg_covar``:
        inverse-Wishart ``IW(Ψ, ν)`` for "full" and "tied" (a number means ``Ψ = value·I``, an
        array is a ``(d, d)`` positive-definite matrix), inverse-gamma ``IG(ν/2, ψ/2)`` on each
        variance for "diag" (a number or ``(d,)``) and on each ``σ²`` for "spherical" (a number).
        The M-step is the posterior mode, ``Σ_k = (n_k S_k + Ψ)/(n_k + ν + d + 1)`` (diag:
        ``/(n_k + ν + 2)``; spherical ``(n_k d s_k + ψ)/(n_k d + ν + 2)``), so covariances stay
        positive definite without a floor and EM is MAP-EM. mclust's ``defaultPrior`` takes
        ``Ψ = cov(X)/k^(2/d)`` (spherical, diag: the mean variance over ``k^(2/d)``). None: no prior.
    degrees_of_freedom_prior : float, optional
        ``ν`` of the covariance prior; default ``d + 2`` (mclust's). Must exceed ``d − 1`` (full,
        tied) or 0 (diag, spherical).
    prior : {"mclust"} or MclustPrior, optional
        mclust's conjugate prior (``Mclust(..., prior = priorControl())``), built from the data at
        ``fit``: the ``covariance_prior`` above with mclust's ``defaultPrior`` scale and ``ν`` plus
        its prior ``N(m, Σ_k/κ)`` on the means (``κ = 0.01``, ``m`` the column means); an
        :class:`~emkit.MclustPrior` changes any of them (:mod:`emkit.kernels.mclust_prior`).
        The fitted :class:`CovariancePrior` is ``prior_``. Not with ``covariance_prior``.
        ``bic``/``aic`` then use the log-likelihood at the MAP estimate with the usual number of
        parameters, as mclust does (Fraley & Raftery 2007).
    weight_concentration_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentration ``α ≥ 1`` of the weights: ``π_k ∝ n_k + α − 1`` (1: no prior).
    noise : None, True or float, default=None
        A uniform noise component (mclust's ``noise``): ``p(x) = π_0 V⁻¹ + Σ_k π_k N(x | μ_k, Σ_k)``,
        ``π_0`` estimated by EM. True: ``V`` is mclust's ``hypvol`` of the training data, the
        smaller of the volumes of its bounding box in the original and in the principal
        coordinates (:func:`emkit.latent.noise.hypervolume`); a positive number: ``V⁻¹`` itself.
        Not with missing values, Dask input or ``partial_fit`` (ValueError).
    noise_init : array-like of bool of shape (n_samples,), optional
        With ``noise``: the rows started as noise (mclust's ``initialization$noise``); the other
        rows are clustered by ``init_params`` and ``π_0`` starts at the mask's fraction. None:
        all rows are clustered and ``π_0`` starts at 0.1.

        With either prior, EM maximizes the log-posterior ``log p(X | θ) + log p(θ)``, which
        never decreases from one iteration to the next; ``lower_bound_`` and ``lower_bounds_``
        are then the log-posterior per sample, while ``score`` stays the log-likelihood.

    Attributes
    ----------
    weights_, means_, covariances_ : ndarray
        The estimates (covariances shaped by ``covariance_type``).
    precisions_, precisions_cholesky_ : ndarray
        Inverse covariances and their Cholesky factors (``Σ⁻¹ = P Pᵀ``).
    converged_ : bool
        Whether the best initialization converged.
    n_iter_ : int
        Number of EM steps of the best initialization (scikit-learn's count).
    lower_bound_ : float
        Average log-likelihood per sample at the last E-step of the best initialization.
    lower_bounds_ : list of float
        Average log-likelihood per sample at each E-step of the best initialization.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names seen in ``fit`` (only when ``X`` was a data frame with string names).
    result_ : EMResult
        The engine's result for the best initialization (trace of parameters and
        log-likelihoods, number of passes over the data).
    noise_proportion_ : ndarray of shape ()
        With ``noise``: the noise weight ``π_0``; ``weights_`` are the Gaussian components'
        weights, and ``weights_.sum() + noise_proportion_ == 1``.
    Vinv_ : float
        With ``noise``: the noise density ``V⁻¹``.

    With ``noise``, :meth:`predict` gives −1 for rows whose most probable component is the
    noise, :meth:`predict_proba` has ``n_components + 1`` columns (the noise's last),
    :meth:`score_samples` is ``log(π_0 V⁻¹ + Σ_k π_k N(x | μ_k, Σ_k))``, :meth:`sample` labels
    noise rows −1 and draws them uniformly over the box whose volume gave ``V`` (for a given
    ``V⁻¹``: the training data's bounding box), and :meth:`bic`/:meth:`aic` count ``n_components``
    free weights plus one parameter for ``V``, as mclust's ``nMclustParams`` does.

    Notes
    -----
    Rows may contain NaN: every method then uses the marginal density of the observed
    coordinates, and ``fit`` runs the exact EM for incomplete data (not imputation before
    fitting). A row with no observed value is an error. ``lower_bound_`` is then the observed-data
    log-likelihood per sample; with ``sample_weight`` it is per unit of weight.

    float32 data are fitted in float32 where an error estimate says it is accurate (small data
    sets, whose E-step is one compiled pass, in float64); as in scikit-learn, the fitted arrays
    are then float32, and so are ``score_samples``, ``predict_proba`` and ``impute`` of float32
    rows.

    ``X`` may be a Dask array (or DataFrame) chunked by rows: ``fit`` then runs every E-step on
    the Dask scheduler in use, chunk by chunk, with the M-step here; the starting values come
    from a random sample of at most 100,000 rows (k-means on it, for ``init_params="kmeans"``),
    and ``predict``, ``predict_proba``, ``score_samples`` and ``impute`` return Dask arrays. With
    the threaded scheduler, limit BLAS to one thread per task (``threadpoolctl``) for speed.
    """

    _fast_input = True

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init=None, means_init=None, precisions_init=None, random_state=None,
                 warm_start: bool = False, verbose: int = 0, verbose_interval: int = 10,
                 frozen: tuple[str, ...] = (), accelerate: str | None = None, progress: bool | Progress = False,
                 n_jobs: int | None = None, covariance_prior=None, degrees_of_freedom_prior: float | None = None,
                 weight_concentration_prior=1.0, noise=None, noise_init=None, prior=None) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.frozen = frozen
        self.accelerate = accelerate
        self.progress = progress
        self.n_jobs = n_jobs
        self.covariance_prior = covariance_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.weight_concentration_prior = weight_concentration_prior
        self.noise = noise
        self.noise_init = noise_init
        self.prior = prior

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True}

    # --------------------------------------------------------------------------- fitting
    def partial_fit(self, X, y=None, sample_weight=None) -> GaussianMixture:
        """One step of online EM (Cappé & Moulines 2009) on a batch of rows.

        Keeps a running average of the expected sufficient statistics per unit weight,
        ``s_t = s_{t−1} + γ_t (S(batch_t; θ_{t−1}) / n_t − s_{t−1})`` with ``γ_t = t^(−0.6)``, and
        sets the parameters to the M-step of ``N_t s_t`` (``N_t``: weight seen so far); see
        :class:`emkit.variants.online.OnlineEM`. A stream of batches from one mixture approaches
        the batch (``fit``) estimate of their union; the data never need to be in memory.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch (NaN marks a missing value).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the batch's rows.

        Returns
        -------
        self

        Notes
        -----
        The first call starts from the fitted parameters when there are any (after ``fit``),
        else as :meth:`fit` starts (``init_params``, ``*_init``, ``random_state``) on this batch.
        The first batch of a stream needs at least ``n_components`` rows (its statistics alone
        give the first M-step); later batches may have any number of rows (one, for streaming).
        Statistics are taken about a centre fixed at the first batch, so that statistics of
        different batches add up exactly. ``lower_bounds_`` holds each batch's mean
        log-likelihood at the parameters before its step and ``n_iter_`` the number of steps;
        a later :meth:`fit` ends the stream. On any error the estimator is left as it was.
        """
        self._check_hyperparameters()
        if self.noise is not None:
            raise ValueError("noise: partial_fit does not support a noise component (its volume needs the whole data)")
        if self.prior is not None:
            raise ValueError("prior: built from the whole data set by fit; partial_fit does not take it "
                             "(give covariance_prior instead)")
        X = self._checked_rows(X, ensure_min_samples=1)
        state: OnlineEM | None = getattr(self, "_online_", None)
        if state is None:
            # the first batch's statistics alone give the first M-step: it needs n_components rows
            if self.__sklearn_is_fitted__():
                check_n_features(self, X)
            inits = self._checked_inits(X.shape[1])
            model = self._new_model(inits)
            data = model.prepare(prepare_data(X, sample_weight))
            if self.__sklearn_is_fitted__():
                start = model.check_params(self._fitted_params())
            elif X.shape[0] < self.n_components:
                raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                                 f"n_samples = {X.shape[0]} in the first partial_fit batch")
            else:
                start = self._start(model, data, generator(self.random_state), inits)
            state, history = OnlineEM(model, start, context=data.context), []
        else:
            # a later batch only adds statistics: any number of rows (one, for streaming), and
            # a feature it does not observe is fine (the whole-data checks were the first batch's)
            check_n_features(self, X)
            data, history = state.prepare(prepare_data(X, sample_weight)), list(self.lower_bounds_)
        total = total_weight(data)
        loglik = state.step(data, total)
        self._set_fitted({"params": state.params, "converged": False, "n_iter": state.n_batches,
                          "lower_bound": loglik / total, "lower_bounds": history + [loglik / total], "result": None},
                         X.shape[1], feature_names(X), X.dtype)
        self._online_ = state
        return self

    def _engine_fit(self, model: GaussianMixtureModel, data: GaussianMixtureData | ChunkedData, total: float,
                    previous_bound: float | None, progress: Progress, **starts: Any) -> EMResult:
        """The engine under scikit-learn's rule (:class:`~emkit.engine.stopping.PerSampleChange`:
        the change of the log-likelihood per unit weight, scikit-learn's order of steps and warm
        start), so that iterates, ``n_iter_`` and ``lower_bounds_`` are scikit-learn's."""
        return fit(model, data, stopping=PerSampleChange(self.tol, total, previous_bound), max_iter=self.max_iter,
                   accelerate=self.accelerate, verbose=progress,
                   callback=self._iteration_report(total, previous_bound) if self.verbose else None,
                   restart_callback=self._restart_report(total) if self.verbose else None, **starts)

    def _iteration_report(self, total: float, previous_bound: float | None):
        """The engine's callback that prints scikit-learn's verbose iteration lines (the change
        per unit weight; the first from a warm start's previous bound, else from −∞)."""
        previous = [np.inf]

        def report(iteration: int, params, loglik: float) -> None:
            if iteration == 0:
                previous[0] = previous_bound * total if previous_bound is not None else -np.inf
            self._say_iteration(iteration + 1, (loglik - previous[0]) / total)
            previous[0] = loglik

        return report

    def _restart_report(self, total: float):
        """The engine's restart callback: scikit-learn's verbose line at the end of each start."""

        def report(index: int, result: EMResult) -> None:
            if self.max_iter > 0:
                self._say_init_ends(result.loglik / total, result.converged)

        return report

    # ------------------------------------------------------------------ checking inputs
    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        self._check_noise()
        if isinstance(self.frozen, str) or not all(name in FREEZABLE for name in self.frozen):
            raise ValueError(f"frozen: expected a tuple of names among {FREEZABLE}, got {self.frozen!r}")
        needs = {"weights": self.weights_init, "means": self.means_init, "covariances": self.precisions_init}
        for name in self.frozen:
            if needs[name] is None:
                source = "precisions_init" if name == "covariances" else f"{name}_init"
                raise ValueError(f"frozen: {name!r} is frozen but {source} is None; give the value to hold it at")

    def _new_model(self, inits: dict[str, np.ndarray], center: np.ndarray | None = None) -> GaussianMixtureModel:
        """The Gaussian mixture model, the ``frozen`` parameters held at their ``inits``."""
        return GaussianMixtureModel(self.n_components, self.covariance_type, reg_covar=self.reg_covar,
                                    init_method=self.init_params, n_jobs=self.n_jobs, center=center,
                                    fixed={name: inits[name] for name in self.frozen if name in inits},
                                    weight_concentration=self.weight_concentration_prior,
                                    covariance_prior=self._covariance_prior(), noise=self._current_noise(),
                                    noise_start=getattr(self, "_fitting_mask", None))

    # ------------------------------------------------------------------ the noise component
    @property
    def _extra(self) -> tuple[tuple[str, str], ...]:
        """The noise weight as a fitted parameter (``noise_proportion_``) with ``noise``."""
        return (("noise", "noise_proportion_"),) if self.noise is not None else ()

    def _current_noise(self) -> UniformNoise | None:
        """The noise of the fit under way, else the fitted one (None without ``noise``)."""
        if self.noise is None:
            return None
        return getattr(self, "_fitting_noise", None) or getattr(self, "_noise_", None)

    def _check_noise(self) -> None:
        noise = self.noise
        if not (noise is None or noise is True or (isinstance(noise, (int, float, np.integer, np.floating))
                                                   and not isinstance(noise, bool) and np.isfinite(noise)
                                                   and noise > 0)):
            raise ValueError(f"noise: expected None, True or a positive number (the noise density Vinv), got {noise!r}")
        if self.noise_init is not None and noise is None:
            raise ValueError("noise_init: given without noise; set noise=True (or a Vinv) too")

    def _checked_weights_init(self, k: int) -> np.ndarray:
        """With ``noise``: the components' ``k`` weights, summing to at most 1 (the rest starts the
        noise weight, mclust's ``pro`` with the noise's last); scikit-learn's check without it."""
        if self.noise is None:
            return super()._checked_weights_init(k)
        given = float_array(self.weights_init, "weights_init", (k,), "weights")
        total = float(given.sum())
        if np.any(given < 0) or not 0.0 < total <= 1.0 + 1e-8:
            raise ValueError(f"weights_init: with noise, expected non-negative weights of the {k} components "
                             f"summing to at most 1 (the rest is the noise weight), got sum {total:.5f}")
        return given / total if total > 1.0 else given

    def _start_params(self, model, data, rng: np.random.Generator, inits: dict) -> dict:
        """With ``noise`` and ``weights_init``: ``π_0 = 1 − Σ weights_init`` when they sum to less
        than 1, else the start's ``π_0`` (the mask's fraction, or 0.1) with the given weights
        scaled to ``1 − π_0``."""
        if self.noise is None or "weights" not in inits:
            return super()._start_params(model, data, rng, inits)
        start = initial_params(model, data, rng)
        weights = inits["weights"]
        noise = 1.0 - float(weights.sum())
        if noise <= 1e-8:
            noise = float(start["noise"])
            weights = weights * (1.0 - noise)
        return {**start, **inits, "weights": weights, "noise": np.asarray(noise)}

    def _fit_noise(self, X, sample_weight):
        """With ``noise``: the noise density of the training rows (complete, in memory) for the fit."""
        self._check_noise()
        if self.noise is None:
            return super()._fit(X, sample_weight)
        if is_dask(X):
            raise ValueError("noise: Dask input is not supported with a noise component; compute X first")
        rows = self._checked_rows(X, ensure_min_samples=2)
        if np.isnan(rows).any():
            raise ValueError("X: missing values are not supported with a noise component (its density would be over "
                             "the box of each row's observed coordinates); remove or impute them, or drop noise")
        mask = None
        if self.noise_init is not None:
            mask = np.asarray(self.noise_init)
            if mask.dtype != bool or mask.shape != (rows.shape[0],):
                raise ValueError(f"noise_init: expected a boolean mask of {rows.shape[0]} rows, got "
                                 f"{mask.dtype} of shape {mask.shape}")
        self._fitting_noise = UniformNoise.of_data(rows, None if self.noise is True else float(self.noise))
        self._fitting_mask = mask
        try:
            return super()._fit(X, sample_weight)
        finally:
            del self._fitting_noise, self._fitting_mask

    def _set_fitted(self, best: dict, n_features: int, names, dtype=np.float64) -> None:
        super()._set_fitted(best, n_features, names, dtype)
        noise = self._current_noise()
        self._noise_ = noise
        if noise is not None:
            self.Vinv_ = noise.inverse_volume

    def _fitted_params(self) -> dict[str, np.ndarray]:
        params = super()._fitted_params()
        if self.noise is not None:
            params["noise"] = np.asarray(params["noise"], dtype=float).reshape(())
        return params

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The noise's box and density (``noise_Vinv``, ``noise_centre``, ...) for :meth:`save`."""
        noise = self._current_noise()
        return {} if noise is None else {f"noise_{key}": value for key, value in noise.state().items()}

    def _restore_state(self, arrays: dict[str, np.ndarray], n_features: int) -> None:
        """Takes the noise's arrays out of ``arrays`` (:meth:`load`)."""
        if self.noise is None:
            return
        keys = ("Vinv", "centre", "rotation", "lower", "upper")
        missing = [f"noise_{key}" for key in keys if f"noise_{key}" not in arrays]
        if missing:
            raise ValueError(f"arrays: missing array(s) {missing}")
        self._noise_ = UniformNoise.from_state({key: arrays.pop(f"noise_{key}") for key in keys}, n_features)

    def _model(self):
        """The fitted model centred at the components' mean ``Σ_k π_k μ_k / Σ_k π_k`` (with
        ``noise`` the weights sum to ``1 − π_0``)."""
        model, params = super()._model()
        total = float(np.sum(params["weights"]))
        if self.noise is None or not total > 0:
            return model, params
        return self._new_model({}, center=params["weights"] @ params["means"] / total), params

    def predict(self, X) -> np.ndarray:
        """The most probable component of each row, ``argmax_k r_ik`` (−1: the noise)."""
        labels = super().predict(X)
        return labels if self.noise is None else np.where(labels == self.n_components, -1, labels)

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        labels = super().fit_predict(X, y, sample_weight)
        return labels if self.noise is None else np.where(labels == self.n_components, -1, labels)

    def predict_proba(self, X) -> np.ndarray:
        """``r_ik = π_k N(x_i | μ_k, Σ_k) / p(x_i)``, shape (n, k); with ``noise`` (n, k + 1), the last
        column the noise's ``π_0 V⁻¹ / p(x_i)``."""
        return self._rows(X, _posterior, n_columns=self.n_components + (self.noise is not None))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows (see the class notes for the noise: label −1)."""
        if self.noise is None:
            return super().sample(n_samples)
        self._check_is_fitted()
        if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
            raise ValueError(f"n_samples: Invalid value for 'n_samples': {n_samples!r} . The sampling requires at "
                             "least one sample.")
        model, params = self._model()
        return model._of(params).sample(params, n_samples, generator(self.random_state))

    def _argument_record(self, name: str, value: Any) -> Any:
        """An :class:`~emkit.MclustPrior` ``prior`` is saved as its fields."""
        if name == "prior" and isinstance(value, MclustPrior):
            return value.record()
        return super()._argument_record(name, value)

    @classmethod
    def _argument_from_record(cls, name: str, record: Any) -> Any:
        if name == "prior" and isinstance(record, dict):
            return MclustPrior.from_record(record)
        return super()._argument_from_record(name, record)

    def _covariance_prior(self) -> CovariancePrior | None:
        """The conjugate prior of ``covariance_prior`` and ``degrees_of_freedom_prior`` (None
        without either; with ``prior``, the one fitted to the data)."""
        if self.prior is not None:
            if self.covariance_prior is not None or self.degrees_of_freedom_prior is not None:
                raise ValueError("prior: give prior or covariance_prior/degrees_of_freedom_prior, not both")
            return getattr(self, "prior_", None)   # built from the data by fit (None before, or loaded)
        if self.covariance_prior is None:
            if self.degrees_of_freedom_prior is not None:
                raise ValueError("degrees_of_freedom_prior: given without covariance_prior (the scale of the prior); "
                                 "give both, or neither")
            return None
        return CovariancePrior(self.covariance_prior, self.degrees_of_freedom_prior)

    def _fit(self, X, sample_weight):
        """With ``prior``: mclust's prior built from the training rows (the previous one kept on failure)."""
        if self.prior is None:
            return self._fit_noise(X, sample_weight)
        self._check_hyperparameters()
        previous = self.__dict__.get("prior_")
        self.prior_ = mclust_prior(self.prior, self._checked_rows(X, ensure_min_samples=2), self.n_components,
                                   self.covariance_type)
        try:
            return self._fit_noise(X, sample_weight)
        except BaseException:
            if previous is None:
                del self.prior_
            else:
                self.prior_ = previous
            raise

    def _n_parameters(self) -> int:
        """Number of free parameters (frozen ones excluded)."""
        self._check_is_fitted()
        volume = self.noise is not None   # mclust counts V as a parameter (nMclustParams: noise adds 2)
        result = getattr(self, "result_", None)
        fitted = result.model if result is not None and type(result.model) is GaussianMixtureModel else None
        model = fitted or self._new_model(self._fitted_params())   # the fit's own model: none built per call
        return model.n_free_parameters(self.n_features_in_) + volume

    # -------------------------------------------------------------------------- methods
    def impute(self, X) -> np.ndarray:
        """``X`` with each NaN replaced by its conditional mean ``E[x_m | x_o]`` under the mixture."""
        return self._rows(X, _imputed, n_columns=self.n_features_in_)

    def cdf(self, X) -> np.ndarray:
        """Distribution function ``Σ_k π_k Φ((x − μ_k)/σ_k)`` of a one-dimensional fit at ``X``
        (:func:`emkit.density.mixture_cdf`; ValueError naming X for more features)."""
        return mixture_cdf(self, X)

    def hdr_levels(self, probs, X=None, *, n_samples: int = HDR_SAMPLES, random_state=None) -> np.ndarray:
        """Density levels whose upper sets hold probability ``probs`` (mclust's ``hdrlevels``):
        quantiles of the fitted density at ``n_samples`` simulated points, or at ``X``
        (:func:`emkit.density.hdr_levels`)."""
        return hdr_levels(self, probs, X, n_samples=n_samples, random_state=random_state)


# ------------------------------------------------------------------------------ helpers
def _imputed(X: np.ndarray, model: GaussianMixtureModel, params: dict) -> np.ndarray:
    """``X`` with NaN replaced by ``E[x_m | x_o]``."""
    return model.impute(prepare_data(X), params)
