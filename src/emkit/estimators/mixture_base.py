"""The scikit-learn face shared by emkit's mixture estimators (Gaussian and Student-t).

:class:`MixtureEstimator` holds what does not depend on the component family: checking the
constructor arguments and ``*_init`` values, scikit-learn's starts (``n_init``, ``warm_start``) for
the engine, which runs them, the fitted attributes, predictions (NumPy or Dask rows), sampling,
information criteria, persistence and verbose output. A subclass names its model's parameters
and supplies the model (:meth:`MixtureEstimator._new_model`) and the engine's call with its
stopping rule (:meth:`MixtureEstimator._engine_fit`).
"""

from __future__ import annotations

import itertools
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..engine.estep import ChunkedData, initial_params, prepare
from ..engine.progress import Progress
from ..engine.result import EMResult
from ..exceptions import ConvergenceWarning
from ..kernels.covariance_structures import covariance_structure
from ..kernels.covariance_types import KNOWN_COVARIANCE_TYPES
from ..kernels.gaussian import covariance_shape, precisions_cholesky
from ..models.gaussian_mixture import INIT_METHODS, GaussianMixtureData, prepare_data
from ._common import (
    covariances_from_precisions,
    float_array,
    generator,
    jsonable,
    precisions,
)
from ._dask import dask_rows, dask_weights, is_dask, map_rows
from ._sklearn_compat import bridged
from ._validation import (
    check_array,
    check_feature_names,
    check_n_features,
    feature_names,
)
from .base import EstimatorProtocol
from .persistence import constructor_arguments, fitted_values, load_state, name_tuple, named_arrays, save_state


def simplex_weights(weights) -> np.ndarray:
    """``weights`` renormalised when they sum to one within float32 rounding (``1e-6``, as
    scikit-learn allows for float32 ``weights_init``): float32 attributes and files written from
    them; anything further off is left for the parameter checks to refuse."""
    weights = np.asarray(weights, dtype=float)
    total = weights.sum() if weights.ndim == 1 and weights.size else np.nan
    return weights / total if 1e-12 < abs(total - 1.0) <= 1e-6 else weights


class MixtureEstimator(EstimatorProtocol):
    """Base class of the mixture estimators ``p(x) = Σ_k π_k p(x | θ_k)`` with location/scale
    components (weights ``weights_``, locations ``means_``, scales ``covariances_``).

    Subclasses set :attr:`_keys` and :attr:`_extra`, and implement :meth:`_new_model` and
    :meth:`_engine_fit`; they store the constructor arguments ``n_components``, ``covariance_type``,
    ``tol``, ``reg_covar``, ``max_iter``, ``n_init``, ``init_params``, ``weights_init``,
    ``means_init``, ``precisions_init``, ``random_state``, ``warm_start``, ``verbose``,
    ``verbose_interval``, ``accelerate`` and ``progress`` (bool or a shared
    :class:`~emkit.engine.progress.Progress`).
    """

    _estimator_type = "DensityEstimator"
    _fitted_attribute = "weights_"
    #: The model's names of the weights, locations and scales (``weights_``, ``means_``, ``covariances_``).
    _keys: tuple[str, str, str] = ("weights", "means", "covariances")
    #: Further fitted parameters as (model name, attribute) pairs, e.g. ``(("dofs", "dofs_"),)``.
    _extra: tuple[tuple[str, str], ...] = ()
    #: Smallest ``max_iter`` accepted.
    _min_max_iter: int = 0
    #: Whether ``n_samples`` must exceed ``n_components`` (else equal is enough).
    _more_samples_than_components: bool = False
    #: Whether Dask input and float32 arithmetic are supported.
    _fast_input: bool = False

    # ------------------------------------------------------------------------ hooks
    def _new_model(self, inits: dict[str, np.ndarray], center: np.ndarray | None = None):
        """The EM model with these settings (``inits``: the checked ``*_init`` values)."""
        raise NotImplementedError

    def _engine_fit(self, model, data, total: float, previous_bound: float | None, progress: Progress,
                    **starts: Any) -> EMResult:
        """The engine's fit (every start, the best kept) with the estimator's stopping rule and
        verbose output: ``starts`` are the engine's ``init``, ``n_init`` and ``random_state``,
        ``total`` the data's total weight, ``previous_bound`` a warm start's ``lower_bound_``."""
        raise NotImplementedError

    # --------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters by EM (``n_init`` starts, the best kept by log-likelihood).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a Dask array where supported
            Data (see the class notes for missing values and Dask input).
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
        """Fit, then return the most probable component ``argmax_k r_ik`` of each row of ``X``
        (a Dask array for Dask input)."""
        model, data, params = self._fit(X, sample_weight)
        if isinstance(data, ChunkedData):
            return self.predict(X)
        return np.argmax(model.responsibilities(data, params)[0], axis=1)

    def _fit(self, X, sample_weight):
        self._check_hyperparameters()
        names = feature_names(X)
        X = self._checked_rows(X, ensure_min_samples=2)
        n, d = X.shape
        if n < self.n_components + self._more_samples_than_components:
            relation = ">" if self._more_samples_than_components else ">="
            raise ValueError(f"Expected n_samples {relation} n_components but got n_components = "
                             f"{self.n_components}, n_samples = {n}")
        inits = self._checked_inits(d)
        model = self._new_model(inits)
        data = self._prepared(model, X, sample_weight)
        total = total_weight(data)
        warm = self.warm_start and self.__sklearn_is_fitted__()
        if warm:
            check_n_features(self, X)
        rng = generator(self.random_state)
        if warm:
            self._say_init_begins(0)
            starts = {"init": model.check_params(self._fitted_params()), "n_init": 1}
        else:
            starts = {"init": self._starts(model, data, inits), "n_init": self.n_init}
        with Progress.of(self.progress) as progress, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="EM did not converge", category=ConvergenceWarning)
            result = self._engine_fit(model, data, total, self.lower_bound_ if warm else None, progress,
                                      random_state=rng, **starts)
        if not result.converged and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different init parameters, or "
                          "increase max_iter, tol, or check for degenerate data.", bridged(ConvergenceWarning),
                          stacklevel=3)
        self._set_fitted({"params": result.params, "converged": result.converged, "n_iter": result.n_iter,
                          "lower_bound": result.loglik / total,
                          "lower_bounds": [value / total for value in result.trace.loglik], "result": result},
                         d, names, X.dtype)
        self._online_ = None
        return model, data, result.params

    def _prepared(self, model, X, sample_weight):
        """The model's data: in memory, or chunked on Dask for a Dask ``X``."""
        if is_dask(X):
            return prepare(model, X if sample_weight is None else (X, dask_weights(sample_weight, X)))
        return model.prepare(prepare_data(X, sample_weight))

    def _starts(self, model, data, inits: dict) -> Callable[[np.random.Generator], dict]:
        """The engine's ``init(rng)``: scikit-learn's start of each initialization in turn (the
        verbose output says which)."""
        index = itertools.count()

        def start(rng: np.random.Generator) -> dict:
            self._say_init_begins(next(index))
            return self._start_params(model, data, rng, inits)   # the engine checks each start (once)

        return start

    def _start(self, model, data, rng: np.random.Generator, inits: dict) -> dict:
        """:meth:`_start_params` checked by the model (``check_params``)."""
        return model.check_params(self._start_params(model, data, rng, inits))

    def _start_params(self, model, data, rng: np.random.Generator, inits: dict) -> dict:
        """scikit-learn's start, unchecked: parameters from the initial responsibilities,
        overridden by the user's ``*_init`` (no responsibilities needed when every parameter is
        given)."""
        if set(model.param_names) <= set(inits):
            return dict(inits)
        return {**initial_params(model, data, rng), **inits}

    def _set_fitted(self, best: dict, n_features: int, names, dtype=np.float64) -> None:
        """Assign the fitted attributes together (a failed fit leaves the estimator unchanged);
        the arrays are rounded to ``dtype``, the data's (float32 data give float32 attributes, as
        in scikit-learn)."""
        params = {name: np.asarray(value, dtype=float) for name, value in best["params"].items()}
        weights, locations, scales = self._keys
        prec_chol = precisions_cholesky(params[scales], self.covariance_type)
        self.weights_ = np.asarray(params[weights], dtype=dtype)
        self.means_ = np.asarray(params[locations], dtype=dtype)
        self.covariances_ = np.asarray(params[scales], dtype=dtype)
        for name, attribute in self._extra:
            setattr(self, attribute, np.asarray(params[name], dtype=dtype))
        self.precisions_cholesky_ = prec_chol.astype(dtype, copy=False)
        self.precisions_ = precisions(prec_chol, self.covariance_type).astype(dtype, copy=False)
        self.converged_ = bool(best["converged"])
        self.n_iter_ = int(best["n_iter"])
        self.lower_bound_ = float(best["lower_bound"])
        self.lower_bounds_ = list(best["lower_bounds"])
        self.n_features_in_ = int(n_features)
        self.result_ = best["result"]
        # the float64 parameters behind float32 attributes (scoring and saving use them while the
        # attributes are the ones set here; rounded covariances can even be singular)
        self._exact = (params, {attribute: getattr(self, attribute).copy() for attribute in self._attributes()})
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _attributes(self) -> dict[str, str]:
        """The fitted attributes by the model's parameter names."""
        weights, locations, scales = self._keys
        return {"weights_": weights, "means_": locations, "covariances_": scales,
                **{attribute: name for name, attribute in self._extra}}

    def _fitted_params(self) -> dict[str, np.ndarray]:
        """The fitted parameters under the model's names, float64: those the fit found, unless an
        attribute was changed since (then the attributes, whatever their dtype)."""
        exact, snapshot = getattr(self, "_exact", (None, {}))
        attributes = self._attributes()
        if exact is not None and all(np.array_equal(getattr(self, attribute), snapshot[attribute])
                                     for attribute in attributes):
            return {name: value.copy() for name, value in exact.items()}
        params = {name: np.asarray(getattr(self, attribute), dtype=float) for attribute, name in attributes.items()}
        return {**params, self._keys[0]: simplex_weights(params[self._keys[0]])}

    # ------------------------------------------------------------------ checking inputs
    def _check_hyperparameters(self) -> None:
        """ValueError naming the first constructor argument out of its domain."""
        check_integer(self.n_components, "n_components", 1)
        check_integer(self.max_iter, "max_iter", self._min_max_iter)
        check_integer(self.n_init, "n_init", 1)
        check_integer(self.verbose_interval, "verbose_interval", 1)
        check_number(self.tol, "tol")
        check_number(self.reg_covar, "reg_covar")
        if self.covariance_type not in KNOWN_COVARIANCE_TYPES:
            raise ValueError(f"covariance_type: expected one of {KNOWN_COVARIANCE_TYPES}, got {self.covariance_type!r}")
        if self.init_params not in INIT_METHODS:
            raise ValueError(f"init_params: expected one of {INIT_METHODS}, got {self.init_params!r}")
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate: expected None or 'squarem', got {self.accelerate!r}")

    def _checked_inits(self, d: int) -> dict[str, np.ndarray]:
        """The given ``*_init`` values under the model's names (precisions converted to scales
        ``Σ = Λ⁻¹``)."""
        k = self.n_components
        weights, locations, scales = self._keys
        out = {}
        if self.weights_init is not None:
            out[weights] = self._checked_weights_init(k)
        if self.means_init is not None:
            out[locations] = float_array(self.means_init, "means_init", (k, d), "means")
        if self.precisions_init is not None:
            given = float_array(self.precisions_init, "precisions_init", covariance_shape(self.covariance_type, k, d),
                                f"{self.covariance_type} precision")
            out[scales] = covariances_from_precisions(given, self.covariance_type)
        return out

    def _checked_weights_init(self, k: int) -> np.ndarray:
        """``weights_init`` checked as scikit-learn checks it: ``k`` weights in [0, 1] summing to 1."""
        given = float_array(self.weights_init, "weights_init", (k,), "weights")
        if np.any(given < 0) or np.any(given > 1):
            # scikit-learn's sentence, word for word (it prints the minimum as "max value")
            raise ValueError(f"weights_init: The parameter 'weights' should be in the range [0, 1], but got "
                             f"max value {given.min():.5f}, min value {given.max():.5f}")
        tolerance = 1e-6 if np.asarray(self.weights_init).dtype == np.float32 else 1e-8
        if abs(given.sum() - 1.0) > tolerance:
            raise ValueError(f"weights_init: The parameter 'weights' should be normalized, but got "
                             f"sum(weights) = {given.sum():.5f}")
        return given / given.sum() if tolerance > 1e-8 else given

    def _checked_rows(self, X, **options):
        """``X`` checked as rows (NaN allowed when the ``allow_nan`` tag says so); a Dask array
        stays one, and float32 stays float32, when the estimator supports them."""
        name = type(self).__name__
        if self._fast_input and is_dask(X):
            return dask_rows(X, estimator_name=name, **options)
        return check_array(X, estimator_name=name, allow_nan=self._input_tags().get("allow_nan", False),
                           keep_float32=self._fast_input and isinstance(X, np.ndarray), **options)

    def _rows(self, X, function, n_columns: int | None = None, dtype=float):
        """``function(X, model, params)`` of the rows of ``X`` (same features as in ``fit``); on a
        Dask array, mapped over its row chunks and returned as a Dask array. Floating results of
        float32 rows are float32 (scikit-learn's rule)."""
        self._check_is_fitted()
        check_feature_names(self, X)
        model, params = self._model()
        X = self._checked_rows(X)
        check_n_features(self, X)
        if is_dask(X):
            return map_rows(X, function, model, params, n_columns=n_columns, dtype=dtype)
        out = function(X, model, params)
        if X.dtype == np.float32 and out.dtype.kind == "f":
            return out.astype(np.float32)
        return out

    def _model(self) -> tuple[Any, dict]:
        """The fitted model, centred at the mixture's mean ``Σ_k π_k μ_k`` (the E-step keeps its
        digits about a centre inside the data), and the fitted parameters."""
        params = self._fitted_params()
        weights, locations, _ = self._keys
        return self._new_model({}, center=params[weights] @ params[locations]), params

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

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows: component counts ``~ Multinomial(n, π)``, then
        ``x = μ_k + L_k z / s`` with ``Σ_k = L_k L_kᵀ``, ``z ~ N(0, I)`` and the component's
        scale ``s`` (1 for a Gaussian, see :meth:`_sample_scale`).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        self._check_is_fitted()
        if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
            raise ValueError(f"n_samples: Invalid value for 'n_samples': {n_samples!r} . The sampling requires at "
                             "least one sample.")
        rng = generator(self.random_state)
        weights = np.asarray(self.weights_, dtype=float)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        structure = covariance_structure(self.covariance_type)
        rows = []
        for j, count in enumerate(counts):
            z = rng.standard_normal((count, self.n_features_in_))
            scale = self._sample_scale(rng, j, count)
            own = self.covariances_ if structure.shared else self.covariances_[j]
            z = z * np.sqrt(own) if structure.diagonal else z @ np.linalg.cholesky(own).T
            rows.append(self.means_[j] + z / scale)
        return np.vstack(rows), np.repeat(np.arange(self.n_components), counts)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Further arrays that :meth:`save` writes (none here; a subclass's own state)."""
        return {}

    def _restore_state(self, arrays: dict[str, np.ndarray], n_features: int) -> None:
        """Takes a subclass's own arrays (:meth:`_state_arrays`) out of a loaded file's ``arrays``."""

    def _sample_scale(self, rng: np.random.Generator, component: int, count: int) -> np.ndarray | float:
        """Divisor of the centred Gaussian draws of ``component`` (1: a Gaussian mixture)."""
        return 1.0

    def _n_parameters(self) -> int:
        """Number of free parameters."""
        self._check_is_fitted()
        return self._new_model({}).n_free_parameters(self.n_features_in_)

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
        config = {name: self._argument_record(name, value) for name, value in self.get_params(deep=False).items()}
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            config["random_state"] = None
        config["fitted"] = {"converged_": self.converged_, "n_iter_": self.n_iter_, "lower_bound_": self.lower_bound_,
                            "lower_bounds_": self.lower_bounds_, "n_features_in_": self.n_features_in_,
                            "feature_names_in_": None if getattr(self, "feature_names_in_", None) is None
                            else list(self.feature_names_in_),
                            "dtype": "float32" if self.means_.dtype == np.float32 else "float64"}
        params = self._fitted_params()   # float64, as fitted, also behind float32 attributes
        arrays = {attribute: params[name] for attribute, name in self._attributes().items()}
        arrays.update(self._state_arrays())
        return save_state(path, type(self).__name__, config, arrays)

    def _argument_record(self, name: str, value: Any) -> Any:
        """Constructor argument ``name`` as JSON for :meth:`save` (default: :func:`jsonable`)."""
        return jsonable(value)

    @classmethod
    def _argument_from_record(cls, name: str, record: Any) -> Any:
        """Constructor argument ``name`` rebuilt by :meth:`load` from :meth:`_argument_record`'s JSON
        (ValueError naming the argument when it is not one)."""
        return record

    @classmethod
    def load(cls, path: str | Path):
        """Read an estimator written by :meth:`save` (predictions identical to the saved one).

        Everything ``fit`` checks is checked again: the constructor arguments (and ``*_init``
        values), the parameters (shapes for ``n_components`` and the features, weights on the
        simplex, finite means, positive-definite covariances) and the fitted scalars.

        Raises
        ------
        ValueError
            When the file is not a saved estimator of this class or a value is out of its
            domain; the message names the file and the field.
        """
        path = Path(path)
        config, arrays = load_state(path, cls.__name__)
        arguments = constructor_arguments(config, cls, path)
        try:
            arguments = {name: cls._argument_from_record(name, value) for name, value in arguments.items()}
        except ValueError as error:
            raise ValueError(f"{path}: config.{error}") from None
        if "frozen" in arguments:
            arguments["frozen"] = name_tuple(arguments["frozen"], "frozen", path)
        if isinstance(config.get("fitted"), dict):
            config["fitted"].setdefault("dtype", "float64")   # files written before attributes kept float32
        fitted = fitted_values(config, {"converged_": "bool", "n_iter_": "count", "lower_bound_": "number",
                                        "lower_bounds_": "numbers", "n_features_in_": "positive",
                                        "feature_names_in_": "names?", "dtype": "float_dtype"}, path)
        estimator = cls(**arguments)
        d = fitted["n_features_in_"]
        try:
            estimator._restore_state(arrays, d)
            estimator._check_hyperparameters()
            generator(estimator.random_state)
            estimator._checked_inits(d)
            model = estimator._new_model({})
            model.chunk_context({"rows": np.array(float(model.n_components)), "observed": np.ones(d),
                                 "sum": np.zeros(d), "largest": np.zeros(d)})   # what fit checks once d is known
        except ValueError as error:
            raise ValueError(f"{path}: config.{error}") from None
        weights, locations, scales = cls._keys
        stored = named_arrays(arrays, ["weights_", "means_", "covariances_"] + [a for _, a in estimator._extra], path)
        params = {weights: simplex_weights(stored["weights_"]), locations: stored["means_"],
                  scales: stored["covariances_"]}
        params.update((name, stored[attribute]) for name, attribute in estimator._extra)
        means_shape = np.shape(stored["means_"])
        if len(means_shape) != 2 or means_shape[1] != d:
            raise ValueError(f"{path}: means_: expected shape ({estimator.n_components}, {d}) "
                             f"(n_features_in_ = {d}), got {means_shape}")
        params = model.check_params(params, where=f"{path}: arrays")
        names = fitted["feature_names_in_"]
        if names is not None and len(names) != d:
            raise ValueError(f"{path}: config.fitted.feature_names_in_: expected {d} names, got {len(names)}")
        estimator._set_fitted({"params": params, "converged": fitted["converged_"], "n_iter": fitted["n_iter_"],
                               "lower_bound": fitted["lower_bound_"], "lower_bounds": fitted["lower_bounds_"],
                               "result": None},
                              d, None if names is None else np.asarray(names, dtype=object), np.dtype(fitted["dtype"]))
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
def check_integer(value, name: str, low: int) -> None:
    """ValueError unless ``value`` is an integer (not a bool) ``>= low``."""
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low):
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")


def check_number(value, name: str, low: float = 0.0, high: float = np.inf) -> None:
    """ValueError unless ``value`` is a finite real number (not a bool) in ``[low, high]``."""
    if not (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and np.isfinite(value) and low <= value <= high):
        domain = "a non-negative number" if (low, high) == (0.0, np.inf) else f"a number in [{low}, {high}]"
        raise ValueError(f"{name}: must be {domain}, got {value!r}")


def total_weight(data: GaussianMixtureData | ChunkedData) -> float:
    """``Σ w_i`` (the number of rows without weights), summed over the chunks of Dask data."""
    if isinstance(data, ChunkedData):
        return float(data.chunk_sum(_chunk_weight))
    return data.total_weight


def _chunk_weight(model, chunk: GaussianMixtureData) -> float:
    return chunk.total_weight


def _log_density(X: np.ndarray, model, params: dict) -> np.ndarray:
    """``log p(x_i,o)`` of each row."""
    return model.responsibilities(prepare_data(X), params)[1]


def _posterior(X: np.ndarray, model, params: dict) -> np.ndarray:
    """``r_ik = P(z_i = k | x_i,o)``, shape (n, k)."""
    return np.exp(model.responsibilities(prepare_data(X), params)[0])


def _most_probable(X: np.ndarray, model, params: dict) -> np.ndarray:
    """``argmax_k r_ik`` of each row."""
    return np.argmax(model.responsibilities(prepare_data(X), params)[0], axis=1)
