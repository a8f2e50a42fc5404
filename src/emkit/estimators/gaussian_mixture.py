"""``GaussianMixture``: a drop-in for ``sklearn.mixture.GaussianMixture`` fitted by emkit's engine.

Same constructor, attributes, methods, warnings and iterates as scikit-learn (from the same
start, the log-likelihood after each iteration agrees to round-off), plus missing values (NaN),
``sample_weight``, frozen parameters, ``impute``, SQUAREM acceleration, a progress bar, the
engine's ascent check, and JSON/npz persistence. scikit-learn itself is not needed at run time.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular

from ..engine import EMResult, Trace, fit
from ..engine.estep import ChunkedData, expected_stats, initial_params, prepare
from ..exceptions import ConvergenceWarning
from ..kernels.gaussian import COVARIANCE_TYPES, covariance_shape, precisions_cholesky
from ..models.gaussian_mixture import (
    INIT_METHODS,
    GaussianMixtureData,
    GaussianMixtureModel,
    prepare_data,
)
from ..variants.online import OnlineEM
from ._dask import dask_rows, dask_weights, is_dask, map_rows
from ._sklearn_compat import bridged
from ._validation import (
    check_array,
    check_feature_names,
    check_n_features,
    feature_names,
)
from .base import EstimatorProtocol
from .persistence import load_state, save_state

FREEZABLE = ("weights", "means", "covariances")


class GaussianMixture(EstimatorProtocol):
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
        How the responsibilities are started.
    weights_init, means_init, precisions_init : array-like, optional
        User-provided starting weights ``(k,)``, means ``(k, d)`` and precisions (inverse
        covariances, shaped as the covariances).
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
    progress : bool, default=False
        Show a progress bar with the current log-likelihood.
    n_jobs : int, optional
        Threads of the E-step and of the predictions (each takes its own blocks of rows, with
        single-threaded BLAS); None: as many as BLAS may use (``threadpoolctl`` limits it).

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

    Notes
    -----
    Rows may contain NaN: every method then uses the marginal density of the observed
    coordinates, and ``fit`` runs the exact EM for incomplete data (not imputation before
    fitting). A row with no observed value is an error. ``lower_bound_`` is then the observed-data
    log-likelihood per sample; with ``sample_weight`` it is per unit of weight.

    ``X`` may be a Dask array (or DataFrame) chunked by rows: ``fit`` then runs every E-step on
    the Dask scheduler in use, chunk by chunk, with the M-step here; the starting values come
    from a random sample of at most 100,000 rows (k-means on it, for ``init_params="kmeans"``),
    and ``predict``, ``predict_proba``, ``score_samples`` and ``impute`` return Dask arrays. With
    the threaded scheduler, limit BLAS to one thread per task (``threadpoolctl``) for speed.
    """

    _estimator_type = "DensityEstimator"
    _fitted_attribute = "weights_"

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init=None, means_init=None, precisions_init=None, random_state=None,
                 warm_start: bool = False, verbose: int = 0, verbose_interval: int = 10,
                 frozen: tuple[str, ...] = (), accelerate: str | None = None, progress: bool = False,
                 n_jobs: int | None = None) -> None:
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

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True}

    # --------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None) -> "GaussianMixture":
        """Estimate the parameters by EM (``n_init`` starts, the best kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a Dask array
            Data; NaN marks a missing value (a row needs at least one observed value). A Dask
            array (chunked by rows) is fitted on the Dask scheduler in use: each E-step maps over
            its chunks, persisted on the workers, and the starting values come from a random
            sample of at most 100,000 rows (see :mod:`emkit.engine.dask`).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; integer weights give the fit on repeated rows.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then return the most probable component of each row of ``X`` (a Dask array for
        Dask input)."""
        model, data, params = self._fit(X, sample_weight)
        if isinstance(data, ChunkedData):
            return self.predict(X)
        return np.argmax(model.responsibilities(data, params)[0], axis=1)

    def partial_fit(self, X, y=None, sample_weight=None) -> "GaussianMixture":
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
        Statistics are taken about a centre fixed at the first batch, so that statistics of
        different batches add up exactly. ``lower_bounds_`` holds each batch's mean
        log-likelihood at the parameters before its step and ``n_iter_`` the number of steps;
        a later :meth:`fit` ends the stream. On any error the estimator is left as it was.
        """
        self._check_hyperparameters()
        X = _checked(X, type(self).__name__, ensure_min_samples=1)
        state: OnlineEM | None = getattr(self, "_online_", None)
        if state is None:
            if self.__sklearn_is_fitted__():
                check_n_features(self, X)
            inits = self._checked_inits(X.shape[1])
            model = GaussianMixtureModel(self.n_components, self.covariance_type, reg_covar=self.reg_covar,
                                         init_method=self.init_params, n_jobs=self.n_jobs,
                                         fixed={name: inits[name] for name in self.frozen})
            data = model.prepare(prepare_data(X, sample_weight))
            if self.__sklearn_is_fitted__():
                start = model.check_params({"weights": self.weights_, "means": self.means_,
                                            "covariances": self.covariances_})
            elif X.shape[0] < self.n_components:
                raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                                 f"n_samples = {X.shape[0]} in the first partial_fit batch")
            else:
                start = self._start(model, data, _generator(self.random_state), inits)
            state, history = OnlineEM(model, start), []
        else:
            check_n_features(self, X)
            data, history = state.model.prepare(prepare_data(X, sample_weight)), list(self.lower_bounds_)
        total = _total_weight(data)
        loglik = state.step(data, total)
        self._set_fitted({"params": state.params, "converged": False, "n_iter": state.n_batches,
                          "lower_bound": loglik / total, "lower_bounds": history + [loglik / total], "result": None},
                         X.shape[1], feature_names(X))
        self._online_ = state
        return self

    def _fit(self, X, sample_weight):
        self._check_hyperparameters()
        names = feature_names(X)
        on_dask = is_dask(X)
        if on_dask:
            X = dask_rows(X, estimator_name=type(self).__name__, ensure_min_samples=2)
        else:
            X = _checked(X, type(self).__name__, ensure_min_samples=2)
        n, d = X.shape
        if n < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                             f"n_samples = {n}")
        inits = self._checked_inits(d)
        fixed = {name: inits[name] for name in self.frozen}
        model = GaussianMixtureModel(self.n_components, self.covariance_type, reg_covar=self.reg_covar,
                                     init_method=self.init_params, fixed=fixed, n_jobs=self.n_jobs)
        if on_dask:
            data = prepare(model, X if sample_weight is None else (X, dask_weights(sample_weight, X)))
        else:
            data = model.prepare(prepare_data(X, sample_weight))
        total = _total_weight(data)
        warm = self.warm_start and self.__sklearn_is_fitted__()
        if warm:
            check_n_features(self, X)
        rng = _generator(self.random_state)
        best = None
        for init in range(1 if warm else self.n_init):
            self._say_init_begins(init)
            if warm:
                start = model.check_params({"weights": self.weights_, "means": self.means_,
                                            "covariances": self.covariances_})
            else:
                start = self._start(model, data, rng, inits)
            run = self._run(model, data, start, self.lower_bound_ if warm else None, total)
            if best is None or run["lower_bound"] > best["lower_bound"]:
                best = run
        assert best is not None
        if not best["converged"] and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different init parameters, or "
                          "increase max_iter, tol, or check for degenerate data.", bridged(ConvergenceWarning),
                          stacklevel=3)
        self._set_fitted(best, d, names)
        self._online_ = None
        return model, data, best["params"]

    def _start(self, model: GaussianMixtureModel, data: GaussianMixtureData, rng, inits: dict) -> dict:
        """scikit-learn's start: parameters from the initial responsibilities, overridden by the
        user's ``*_init`` (no responsibilities needed when all three are given)."""
        if len(inits) == len(FREEZABLE):
            return model.check_params(inits)
        start = initial_params(model, data, rng)
        start.update(inits)
        return model.check_params(start)

    def _run(self, model: GaussianMixtureModel, data: GaussianMixtureData | ChunkedData, start: dict,
             previous_bound: float | None, total: float) -> dict[str, Any]:
        """One initialization with scikit-learn's iteration semantics.

        scikit-learn's iteration ``t`` evaluates ``ℓ(θ_{t−1})`` (its lower bound) and then steps to
        ``θ_t``; it stops after the step whose evaluation changed by less than ``tol`` per sample.
        The engine stops at the evaluation itself, so ``max_iter − 1`` engine iterations plus one
        final M-step reproduce scikit-learn's iterates, ``n_iter_`` and ``lower_bounds_`` exactly.
        ``total`` is the total sample weight (the number of rows without weights).
        """
        if self.max_iter == 0:
            return {"params": start, "lower_bound": -np.inf, "lower_bounds": [], "n_iter": 0, "converged": False,
                    "result": None}
        first_converged = False
        if self.max_iter == 1 or previous_bound is not None:
            stats, loglik = expected_stats(model, data, start)
            first_converged = previous_bound is not None and abs(loglik / total - previous_bound) < self.tol
        if self.max_iter == 1 or first_converged:
            self._say_iteration(1, loglik / total - (previous_bound if previous_bound is not None else -np.inf))
            result = EMResult(params=start, loglik=loglik, n_iter=0, n_evaluations=1, converged=first_converged,
                              trace=Trace([loglik], [start]), model=model)
        else:
            result = self._engine_fit(model, data, start, previous_bound, total)
            stats, _ = expected_stats(model, data, result.params)
        lower_bounds = [value / total for value in result.trace.loglik]
        self._say_init_ends(lower_bounds[-1], result.converged)
        return {"params": model.m_step(stats, result.params), "lower_bound": lower_bounds[-1],
                "lower_bounds": lower_bounds, "n_iter": len(lower_bounds), "converged": result.converged,
                "result": result}

    def _engine_fit(self, model, data, start, previous_bound, total: float) -> EMResult:
        previous = [previous_bound * total if previous_bound is not None else -np.inf]

        def report(iteration: int, params, loglik: float) -> None:
            self._say_iteration(iteration + 1, (loglik - previous[0]) / total)
            previous[0] = loglik

        # float32 arithmetic leaves ~1e-7 relative round-off in the log-likelihood, more than EM's
        # last increases: the engine's ascent check (1e-10) is for float64
        single = isinstance(data, GaussianMixtureData) and data.X.dtype == np.float32
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning, module=r"emkit\.engine")
            warnings.filterwarnings("ignore", message="EM did not converge", category=ConvergenceWarning)
            return fit(model, data, init=start, tol=self.tol, param_tol=None, tol_scale=total,
                       max_iter=self.max_iter - 1, accelerate=self.accelerate, verbose=self.progress,
                       callback=report if self.verbose else None, check_ascent=not single)

    def _set_fitted(self, best: dict, n_features: int, names) -> None:
        """Assign the fitted attributes together (a failed fit leaves the estimator unchanged)."""
        params = best["params"]
        prec_chol = precisions_cholesky(params["covariances"], self.covariance_type)
        self.weights_ = params["weights"]
        self.means_ = params["means"]
        self.covariances_ = params["covariances"]
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _precisions(prec_chol, self.covariance_type)
        self.converged_ = bool(best["converged"])
        self.n_iter_ = int(best["n_iter"])
        self.lower_bound_ = float(best["lower_bound"])
        self.lower_bounds_ = list(best["lower_bounds"])
        self.n_features_in_ = int(n_features)
        self.result_ = best["result"]
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # ------------------------------------------------------------------ checking inputs
    def _check_hyperparameters(self) -> None:
        def integer(value, name, low):
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low):
                raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")

        def number(value, name):
            if not (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
                    and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a non-negative number, got {value!r}")

        integer(self.n_components, "n_components", 1)
        integer(self.max_iter, "max_iter", 0)
        integer(self.n_init, "n_init", 1)
        integer(self.verbose_interval, "verbose_interval", 1)
        number(self.tol, "tol")
        number(self.reg_covar, "reg_covar")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type: expected one of {COVARIANCE_TYPES}, got {self.covariance_type!r}")
        if self.init_params not in INIT_METHODS:
            raise ValueError(f"init_params: expected one of {INIT_METHODS}, got {self.init_params!r}")
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate: expected None or 'squarem', got {self.accelerate!r}")
        if isinstance(self.frozen, str) or not all(name in FREEZABLE for name in self.frozen):
            raise ValueError(f"frozen: expected a tuple of names among {FREEZABLE}, got {self.frozen!r}")
        needs = {"weights": self.weights_init, "means": self.means_init, "covariances": self.precisions_init}
        for name in self.frozen:
            if needs[name] is None:
                source = "precisions_init" if name == "covariances" else f"{name}_init"
                raise ValueError(f"frozen: {name!r} is frozen but {source} is None; give the value to hold it at")

    def _checked_inits(self, d: int) -> dict[str, np.ndarray]:
        """The given ``*_init`` values as parameters (precisions converted to covariances)."""
        k = self.n_components
        out = {}
        if self.weights_init is not None:
            weights = _float_array(self.weights_init, "weights_init", (k,))
            if np.any(weights < 0) or np.any(weights > 1):
                raise ValueError(f"weights_init: The parameter 'weights' should be in the range [0, 1], got "
                                 f"{weights.tolist()}")
            if abs(weights.sum() - 1.0) > 1e-8:
                raise ValueError(f"weights_init: The parameter 'weights' should be normalized, but got "
                                 f"sum(weights) = {weights.sum():.5f}")
            out["weights"] = weights
        if self.means_init is not None:
            out["means"] = _float_array(self.means_init, "means_init", (k, d))
        if self.precisions_init is not None:
            precisions = _float_array(self.precisions_init, "precisions_init",
                                      covariance_shape(self.covariance_type, k, d))
            out["covariances"] = _covariances_from_precisions(precisions, self.covariance_type)
        return out

    def _rows(self, X, function, n_columns: int | None = None, dtype=float):
        """``function(X, model, params)`` of the rows of ``X`` (same features as in ``fit``); on a
        Dask array, mapped over its row chunks and returned as a Dask array."""
        self._check_is_fitted()
        check_feature_names(self, X)
        model, params = self._model()
        if is_dask(X):
            X = dask_rows(X, estimator_name=type(self).__name__)
            check_n_features(self, X)
            return map_rows(X, function, model, params, n_columns=n_columns, dtype=dtype)
        X = _checked(X, type(self).__name__)
        check_n_features(self, X)
        return function(X, model, params)

    def _model(self) -> tuple[GaussianMixtureModel, dict]:
        """The fitted model, centred at the mixture's mean ``Σ_k π_k μ_k`` (the product form of
        the E-step keeps its digits about a centre inside the data)."""
        model = GaussianMixtureModel(self.n_components, self.covariance_type, reg_covar=self.reg_covar,
                                     center=self.weights_ @ self.means_, n_jobs=self.n_jobs)
        return model, {"weights": self.weights_, "means": self.means_, "covariances": self.covariances_}

    # -------------------------------------------------------------------------- methods
    def score_samples(self, X) -> np.ndarray:
        """``log p(x_i)`` of each row (of its observed coordinates when some are NaN); a Dask
        array for a Dask ``X`` (likewise below)."""
        return self._rows(X, _log_density)

    def score(self, X, y=None) -> float:
        """Average log-likelihood per row, ``(1/n) Σ_i log p(x_i)``."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each component, ``r_ik = π_k p_k(x_i) / p(x_i)``, shape (n, k)."""
        return self._rows(X, _posterior, n_columns=self.n_components)

    def predict(self, X) -> np.ndarray:
        """The most probable component of each row, ``argmax_k r_ik``."""
        return self._rows(X, _most_probable, dtype=np.intp)

    def impute(self, X) -> np.ndarray:
        """``X`` with each NaN replaced by its conditional mean ``E[x_m | x_o]`` under the mixture."""
        return self._rows(X, _imputed, n_columns=self.n_features_in_)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows: component counts ``~ Multinomial(n, π)``, then
        ``x = μ_k + L_k z`` with ``Σ_k = L_k L_kᵀ`` and ``z ~ N(0, I)``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        self._check_is_fitted()
        if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
            raise ValueError(f"n_samples: The sampling requires at least one sample, got {n_samples!r}")
        rng = _generator(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        d = self.n_features_in_
        rows = []
        for j, count in enumerate(counts):
            z = rng.standard_normal((count, d))
            if self.covariance_type == "full":
                rows.append(self.means_[j] + z @ np.linalg.cholesky(self.covariances_[j]).T)
            elif self.covariance_type == "tied":
                rows.append(self.means_[j] + z @ np.linalg.cholesky(self.covariances_).T)
            else:
                rows.append(self.means_[j] + z * np.sqrt(self.covariances_[j]))
        labels = np.repeat(np.arange(self.n_components), counts)
        return np.vstack(rows), labels

    def _n_parameters(self) -> int:
        """Number of free parameters (frozen ones excluded)."""
        self._check_is_fitted()
        model = GaussianMixtureModel(self.n_components, self.covariance_type,
                                     fixed={name: {"weights": self.weights_, "means": self.means_,
                                                   "covariances": self.covariances_}[name] for name in self.frozen},
                                     center=np.zeros(self.n_features_in_))
        return model.n_free_parameters()

    def bic(self, X) -> float:
        """Bayesian information criterion ``−2 log L + p log n`` on ``X`` (lower is better)."""
        n = np.shape(X)[0]
        return -2.0 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X) -> float:
        """Akaike information criterion ``−2 log L + 2p`` on ``X`` (lower is better)."""
        return -2.0 * self.score(X) * np.shape(X)[0] + 2.0 * self._n_parameters()

    # ---------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the parameters and the fitted state to ``path`` (``.json`` or ``.npz``, never pickle).

        Array-valued constructor arguments are stored as lists; a ``random_state`` that is not
        an int is stored as None.
        """
        self._check_is_fitted()
        config = {name: _jsonable(value) for name, value in self.get_params(deep=False).items()}
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            config["random_state"] = None
        config["fitted"] = {"converged_": self.converged_, "n_iter_": self.n_iter_, "lower_bound_": self.lower_bound_,
                            "lower_bounds_": self.lower_bounds_, "n_features_in_": self.n_features_in_,
                            "feature_names_in_": None if getattr(self, "feature_names_in_", None) is None
                            else list(self.feature_names_in_)}
        arrays = {"weights_": self.weights_, "means_": self.means_, "covariances_": self.covariances_}
        return save_state(path, type(self).__name__, config, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "GaussianMixture":
        """Read an estimator written by :meth:`save` (predictions identical to the saved one)."""
        config, arrays = load_state(path, cls.__name__)
        fitted = config.pop("fitted")
        params = {name: tuple(value) if name == "frozen" else value for name, value in config.items()}
        estimator = cls(**params)
        covariances = arrays["covariances_"]
        estimator._set_fitted({"params": {"weights": arrays["weights_"], "means": arrays["means_"],
                                          "covariances": covariances},
                               "converged": fitted["converged_"], "n_iter": fitted["n_iter_"],
                               "lower_bound": fitted["lower_bound_"], "lower_bounds": fitted["lower_bounds_"],
                               "result": None},
                              fitted["n_features_in_"],
                              None if fitted["feature_names_in_"] is None
                              else np.asarray(fitted["feature_names_in_"], dtype=object))
        return estimator

    # -------------------------------------------------------------------------- verbose
    def _say_init_begins(self, init: int) -> None:
        if self.verbose >= 1:
            print(f"Initialization {init}")
            self._clock = self._iteration_clock = time.time()

    def _say_iteration(self, iteration: int, change: float) -> None:
        if self.verbose >= 1 and iteration % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {iteration}")
            else:
                now = time.time()
                print(f"  Iteration {iteration}\t time lapse {now - self._iteration_clock:.5f}s\t ll change "
                      f"{change:.5f}")
                self._iteration_clock = now
            sys.stdout.flush()

    def _say_init_ends(self, lower_bound: float, converged: bool) -> None:
        if self.verbose >= 1:
            status = "converged" if converged else "did not converge"
            if self.verbose == 1:
                print(f"Initialization {status}.")
            else:
                print(f"Initialization {status}. time lapse {time.time() - self._clock:.5f}s\t lower bound "
                      f"{lower_bound:.5f}.")


# ------------------------------------------------------------------------------ helpers
def _checked(X, estimator_name: str, **options) -> np.ndarray:
    """:func:`check_array`, keeping a float32 array in float32 (fitted and predicted with float32
    arithmetic where that is accurate, see :mod:`emkit.kernels.gaussian_mixture_estep`)."""
    single = isinstance(X, np.ndarray) and X.dtype == np.float32
    X = check_array(X, estimator_name=estimator_name, **options)
    return X.astype(np.float32) if single else X


def _total_weight(data: GaussianMixtureData | ChunkedData) -> float:
    """``Σ w_i`` (the number of rows without weights), summed over the chunks of Dask data."""
    if isinstance(data, ChunkedData):
        return float(data.chunk_sum(_chunk_weight))
    return data.total_weight


def _chunk_weight(model: GaussianMixtureModel, chunk: GaussianMixtureData) -> float:
    return chunk.total_weight


def _log_density(X: np.ndarray, model: GaussianMixtureModel, params: dict) -> np.ndarray:
    """``log p(x_i,o)`` of each row."""
    return model.responsibilities(prepare_data(X), params)[1]


def _posterior(X: np.ndarray, model: GaussianMixtureModel, params: dict) -> np.ndarray:
    """``r_ik = P(z_i = k | x_i,o)``, shape (n, k)."""
    return np.exp(model.responsibilities(prepare_data(X), params)[0])


def _most_probable(X: np.ndarray, model: GaussianMixtureModel, params: dict) -> np.ndarray:
    """``argmax_k r_ik`` of each row."""
    return np.argmax(model.responsibilities(prepare_data(X), params)[0], axis=1)


def _imputed(X: np.ndarray, model: GaussianMixtureModel, params: dict) -> np.ndarray:
    """``X`` with NaN replaced by ``E[x_m | x_o]``."""
    return model.impute(prepare_data(X), params)


def _generator(random_state) -> np.random.Generator:
    """A numpy Generator from None, an int, a Generator or a legacy RandomState (drawn from)."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if random_state is None or isinstance(random_state, (int, np.integer, np.random.Generator)):
        return np.random.default_rng(random_state)
    raise ValueError(f"random_state: expected None, an int, a numpy Generator or RandomState, got {random_state!r}")


def _float_array(value, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {value!r}") from None
    if array.shape != shape:
        raise ValueError(f"{name}: The parameter should have the shape of {shape}, but got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: must be finite")
    return array


def _covariances_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """``Σ = Λ⁻¹`` through the Cholesky factor of ``Λ`` (``Λ = L Lᵀ``, ``Σ = L⁻ᵀ L⁻¹``)."""
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0):
            raise ValueError(f"precisions_init: '{covariance_type} precision' should be positive")
        return 1.0 / precisions
    matrices = precisions if covariance_type == "full" else precisions[None]
    out = []
    for matrix in matrices:
        if not np.allclose(matrix, matrix.T):
            raise ValueError(f"precisions_init: '{covariance_type} precision' should be symmetric, positive-definite")
        try:
            lower = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise ValueError(f"precisions_init: '{covariance_type} precision' should be symmetric, "
                             "positive-definite") from None
        inverse_factor = solve_triangular(lower, np.eye(matrix.shape[0]), lower=True, check_finite=False)
        out.append(inverse_factor.T @ inverse_factor)
    return np.stack(out) if covariance_type == "full" else out[0]


def _precisions(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type == "full":
        return np.einsum("kij,klj->kil", prec_chol, prec_chol)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol ** 2


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (list, str, int, float, bool)) or value is None:
        return value
    return None
