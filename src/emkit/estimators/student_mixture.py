"""``StudentMixture``: robust clustering with a mixture of multivariate t distributions.

The interface is :class:`~emkit.GaussianMixture`'s (and so scikit-learn's): the same constructor
parameters, attributes and methods, with two additions, the degrees of freedom ``dofs_`` (one per
component, estimated unless ``dof`` fixes them) and the fitting ``method`` (ECME by default,
:func:`emkit.fit_ecm`). Heavy tails make the fit robust: an outlier gets a small weight
``E[u] = (ν+d)/(ν+δ)`` instead of dragging a mean and inflating a covariance.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
import numpy as np

from ..engine import EMResult
from ..exceptions import ConvergenceWarning
from ..kernels.gaussian import COVARIANCE_TYPES, covariance_shape, precisions_cholesky
from ..models.gaussian_mixture import INIT_METHODS, GaussianMixtureData, prepare_data
from ..models.student_mixture import DOF_BOUNDS, DOF_START, StudentMixtureModel
from ..variants.ecm import VARIANTS, fit_ecm
from ._sklearn_compat import bridged
from ._validation import check_array, check_feature_names, check_n_features, feature_names
from .base import EstimatorProtocol
from .gaussian_mixture import _covariances_from_precisions, _float_array, _generator, _jsonable, _precisions
from .persistence import load_state, save_state


class StudentMixture(EstimatorProtocol):
    """Mixture of multivariate t distributions fitted by ECME (or ECM):
    ``p(x) = Σ_k π_k t_{ν_k}(x | μ_k, Σ_k)``.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, weights_init, \
means_init, precisions_init, random_state, warm_start, verbose, verbose_interval
        As in :class:`~emkit.GaussianMixture` (``tol`` is on the average log-likelihood per
        sample; ``precisions_init`` are inverse scatter matrices).
    dof : float, optional
        Degrees of freedom shared by all components and held fixed; estimated per component
        when None (the default).
    dof_init : float, default=10
        Starting degrees of freedom when estimated.
    method : {"ecme", "ecm"}, default="ecme"
        ECME maximizes the actual likelihood over ν (fast); ECM maximizes Q (this is EM).
    accelerate : {None, "squarem"}, default=None
        Run SQUAREM on the ECM/ECME map.
    progress : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    weights_ : ndarray of shape (k,)
    means_ : ndarray of shape (k, d)
        The locations μ_k (the means when ν_k > 1).
    covariances_ : ndarray
        The scatter matrices Σ_k, shaped by ``covariance_type`` (the covariance of component k
        is ``ν_k/(ν_k − 2) Σ_k`` when ν_k > 2).
    precisions_, precisions_cholesky_ : ndarray
        Inverse scatter matrices and their Cholesky factors.
    dofs_ : ndarray of shape (k,)
        Degrees of freedom ν_k.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_, feature_names_in_
        As in :class:`~emkit.GaussianMixture`; ``lower_bound_`` is the log-likelihood per sample
        at the estimates and ``lower_bounds_`` its trace.
    result_ : EMResult
        The engine's result for the best initialization.
    """

    _estimator_type = "DensityEstimator"
    _fitted_attribute = "weights_"

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init=None, means_init=None, precisions_init=None, dof: float | None = None,
                 dof_init: float = DOF_START, method: str = "ecme", random_state=None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10, accelerate: str | None = None,
                 progress: bool = False) -> None:
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
        self.dof = dof
        self.dof_init = dof_init
        self.method = method
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.accelerate = accelerate
        self.progress = progress

    # --------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None) -> "StudentMixture":
        """Estimate the parameters by ECME/ECM (``n_init`` starts, the best kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
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
        """Fit, then return the most probable component of each row of ``X``."""
        model, data, params = self._fit(X, sample_weight)
        return np.argmax(model.responsibilities(data, params)[0], axis=1)

    def _fit(self, X, sample_weight):
        self._check_hyperparameters()
        names = feature_names(X)
        X = check_array(X, estimator_name=type(self).__name__, allow_nan=False, ensure_min_samples=2)
        n, d = X.shape
        if n <= self.n_components:
            raise ValueError(f"Expected n_samples > n_components but got n_components = {self.n_components}, "
                             f"n_samples = {n}")
        model = StudentMixtureModel(self.n_components, self.covariance_type, dof=self.dof, reg_covar=self.reg_covar,
                                    init_method=self.init_params)
        data = model.prepare(prepare_data(X, sample_weight))
        warm = self.warm_start and self.__sklearn_is_fitted__()
        if warm:
            check_n_features(self, X)
        inits = self._checked_inits(d)
        rng = _generator(self.random_state)
        best: EMResult | None = None
        for init in range(1 if warm else self.n_init):
            if self.verbose:
                print(f"Initialization {init}")
            start = self._fitted_params() if warm else {**model.initial_params(data, rng), **inits}
            result = self._run(model, data, model.check_params(start))
            if best is None or result.loglik > best.loglik:
                best = result
        assert best is not None
        if not best.converged:
            warnings.warn("Best performing initialization did not converge. Try different init parameters, or "
                          "increase max_iter, tol, or check for degenerate data.", bridged(ConvergenceWarning),
                          stacklevel=3)
        self._set_fitted(best.params, best.converged, best.n_iter,
                         [value / data.total_weight for value in best.trace.loglik], d, names, best)
        return model, data, best.params

    def _run(self, model: StudentMixtureModel, data: GaussianMixtureData, start: dict) -> EMResult:
        total = data.total_weight

        def report(iteration: int, params, loglik: float) -> None:
            if iteration % self.verbose_interval == 0:
                print(f"  Iteration {iteration}\t lower bound {loglik / total:.6f}")
                sys.stdout.flush()

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            return fit_ecm(model, data, variant=self.method, init=start, tol=self.tol, param_tol=None,
                           tol_scale=total, max_iter=max(self.max_iter, 1), accelerate=self.accelerate,
                           verbose=self.progress, callback=report if self.verbose else None)

    def _set_fitted(self, params: dict, converged: bool, n_iter: int, lower_bounds: list[float], n_features: int,
                    names, result: EMResult | None) -> None:
        """Assign the fitted attributes together (a failed fit leaves the estimator unchanged)."""
        prec_chol = precisions_cholesky(params["scatters"], self.covariance_type)
        self.weights_ = params["weights"]
        self.means_ = params["locations"]
        self.covariances_ = params["scatters"]
        self.dofs_ = params["dofs"]
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _precisions(prec_chol, self.covariance_type)
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.lower_bounds_ = list(lower_bounds)
        self.lower_bound_ = float(lower_bounds[-1])
        self.n_features_in_ = int(n_features)
        self.result_ = result
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _fitted_params(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "locations": self.means_, "scatters": self.covariances_, "dofs": self.dofs_}

    # ------------------------------------------------------------------ checking inputs
    def _check_hyperparameters(self) -> None:
        def integer(value, name, low):
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low):
                raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")

        def number(value, name, low=0.0, high=np.inf):
            if not (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
                    and np.isfinite(value) and low <= value <= high):
                raise ValueError(f"{name}: must be a number in [{low}, {high}], got {value!r}")

        integer(self.n_components, "n_components", 1)
        integer(self.max_iter, "max_iter", 1)
        integer(self.n_init, "n_init", 1)
        integer(self.verbose_interval, "verbose_interval", 1)
        number(self.tol, "tol")
        number(self.reg_covar, "reg_covar")
        number(self.dof_init, "dof_init", *DOF_BOUNDS)
        if self.dof is not None:
            number(self.dof, "dof", *DOF_BOUNDS)
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type: expected one of {COVARIANCE_TYPES}, got {self.covariance_type!r}")
        if self.init_params not in INIT_METHODS:
            raise ValueError(f"init_params: expected one of {INIT_METHODS}, got {self.init_params!r}")
        if self.method not in VARIANTS:
            raise ValueError(f"method: expected one of {VARIANTS}, got {self.method!r}")
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate: expected None or 'squarem', got {self.accelerate!r}")

    def _checked_inits(self, d: int) -> dict[str, np.ndarray]:
        """The given ``*_init`` values as parameters (precisions converted to scatter matrices)."""
        k = self.n_components
        out: dict[str, np.ndarray] = {"dofs": np.full(k, float(self.dof if self.dof is not None else self.dof_init))}
        if self.weights_init is not None:
            weights = _float_array(self.weights_init, "weights_init", (k,))
            if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-8:
                raise ValueError(f"weights_init: expected non-negative weights summing to 1, got {weights.tolist()}")
            out["weights"] = weights
        if self.means_init is not None:
            out["locations"] = _float_array(self.means_init, "means_init", (k, d))
        if self.precisions_init is not None:
            precisions = _float_array(self.precisions_init, "precisions_init",
                                      covariance_shape(self.covariance_type, k, d))
            out["scatters"] = _covariances_from_precisions(precisions, self.covariance_type)
        return out

    def _data(self, X) -> GaussianMixtureData:
        self._check_is_fitted()
        check_feature_names(self, X)
        X = check_array(X, estimator_name=type(self).__name__, allow_nan=False)
        check_n_features(self, X)
        return prepare_data(X)

    def _model(self) -> StudentMixtureModel:
        return StudentMixtureModel(self.n_components, self.covariance_type, dof=self.dof, reg_covar=self.reg_covar,
                                   center=np.zeros(self.n_features_in_))

    # -------------------------------------------------------------------------- methods
    def score_samples(self, X) -> np.ndarray:
        """``log p(x_i)`` of each row."""
        data = self._data(X)
        return self._model().responsibilities(data, self._fitted_params())[1]

    def score(self, X, y=None) -> float:
        """Average log-likelihood per row."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each component, ``τ_ik = π_k t_k(x_i) / p(x_i)``, shape (n, k)."""
        data = self._data(X)
        return np.exp(self._model().responsibilities(data, self._fitted_params())[0])

    def predict(self, X) -> np.ndarray:
        """The most probable component of each row."""
        return np.argmax(self.predict_proba(X), axis=1)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows: counts ``~ Multinomial(n, π)``, then ``x = μ_k + L_k z / √u`` with
        ``Σ_k = L_k L_kᵀ``, ``z ~ N(0, I)``, ``u ~ Gamma(ν_k/2, rate ν_k/2)``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        self._check_is_fitted()
        if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
            raise ValueError(f"n_samples: The sampling requires at least one sample, got {n_samples!r}")
        rng = _generator(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        rows = []
        for k, count in enumerate(counts):
            z = rng.standard_normal((count, self.n_features_in_))
            scale = np.sqrt(rng.gamma(0.5 * self.dofs_[k], 2.0 / self.dofs_[k], size=count))[:, None]
            if self.covariance_type in ("full", "tied"):
                scatter = self.covariances_[k] if self.covariance_type == "full" else self.covariances_
                z = z @ np.linalg.cholesky(scatter).T
            else:
                z = z * np.sqrt(self.covariances_[k])
            rows.append(self.means_[k] + z / scale)
        return np.vstack(rows), np.repeat(np.arange(self.n_components), counts)

    def bic(self, X) -> float:
        """Bayesian information criterion ``−2 log L + p log n`` on ``X`` (lower is better)."""
        self._check_is_fitted()
        n = np.shape(X)[0]
        return -2.0 * self.score(X) * n + self._model().n_free_parameters() * math.log(n)

    def aic(self, X) -> float:
        """Akaike information criterion ``−2 log L + 2p`` on ``X`` (lower is better)."""
        self._check_is_fitted()
        return -2.0 * self.score(X) * np.shape(X)[0] + 2.0 * self._model().n_free_parameters()

    # ---------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the parameters and fitted state to ``path`` (``.json`` or ``.npz``, never pickle)."""
        self._check_is_fitted()
        config = {name: _jsonable(value) for name, value in self.get_params(deep=False).items()}
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            config["random_state"] = None
        config["fitted"] = {"converged_": self.converged_, "n_iter_": self.n_iter_, "lower_bound_": self.lower_bound_,
                            "lower_bounds_": self.lower_bounds_, "n_features_in_": self.n_features_in_,
                            "feature_names_in_": None if getattr(self, "feature_names_in_", None) is None
                            else list(self.feature_names_in_)}
        arrays = {"weights_": self.weights_, "means_": self.means_, "covariances_": self.covariances_,
                  "dofs_": self.dofs_}
        return save_state(path, type(self).__name__, config, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "StudentMixture":
        """Read an estimator written by :meth:`save` (predictions identical to the saved one)."""
        config, arrays = load_state(path, cls.__name__)
        fitted = config.pop("fitted")
        estimator = cls(**config)
        params = {"weights": arrays["weights_"], "locations": arrays["means_"], "scatters": arrays["covariances_"],
                  "dofs": arrays["dofs_"]}
        names = None if fitted["feature_names_in_"] is None else np.asarray(fitted["feature_names_in_"], dtype=object)
        estimator._set_fitted(params, fitted["converged_"], fitted["n_iter_"], fitted["lower_bounds_"],
                              fitted["n_features_in_"], names, None)
        return estimator
