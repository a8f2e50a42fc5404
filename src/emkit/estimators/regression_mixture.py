"""``RegressionMixture``: mixtures of GLM regressions (flexmix's ``FLXMRglm``) with a scikit-learn face.

The face validates input, builds the model's matrix ``[y, trials, weight, x, f, z]``
(:class:`~emkit.latent.regression_mixture.RegressionMixtureModel`) and maps the fitted parameters
to attributes; :func:`emkit.fit` does the rest (restarts, the ascent check, Dask).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.fit import fit as em_fit
from ..engine.result import EMResult
from ..kernels.glm import check_family
from ..latent.regression_mixture import RegressionData, RegressionMixtureModel
from ..validation import check_integer, random_generator
from ._dask import is_dask
from ._validation import check_array, check_feature_names, column_roles, feature_names
from .base import EstimatorProtocol


class RegressionMixture(EstimatorProtocol):
    """A finite mixture of generalised linear regressions, optionally with concomitant weights.

    ``p(y | x) = Σ_k π_k(z) f(y | μ_k(x), φ_k)`` with ``g(μ_k) = b_k + xᵀβ_k`` (plus ``fᵀγ`` for
    columns whose coefficients are shared by all components) and ``π(z)`` constant or a
    multinomial logit of concomitant columns ``z`` (a mixture of experts). Fitted by EM whose
    M-step is a weighted GLM fit (damped Newton = IRLS) on the data.

    Parameters
    ----------
    n_components : int
        Number of regressions ``K``.
    family : {"gaussian", "poisson", "binomial", "gamma"}
        The response distribution and link: gaussian/identity (a variance per component),
        poisson/log, binomial/logit (successes out of ``trials``, see :meth:`fit`), gamma/log
        (a shape per component).
    fixed : sequence of int or str, optional
        Columns of ``X`` whose coefficients are shared by all components (flexmix's ``fixed``).
    concomitant : sequence of int or str, optional
        Columns of ``X`` that are concomitant variables: they enter the weights' multinomial
        logit (with an intercept) and not the regressions. (A variable wanted in both places is
        given twice, as two columns.) Column names need a pandas ``X``.
    fit_intercept : bool
        Give each component an intercept.
    n_init : int
        Number of starts (the first deterministic: bands of residuals of one least-squares fit;
        the others random partitions of the rows); the best log-likelihood is kept.
    random_state : int or Generator, optional
    tol : float
        The EM stopping tolerance (:func:`emkit.fit`'s ``tol``; its ``param_tol`` too).
    max_iter : int
        Most EM iterations per start.
    accelerate : None or "squarem"
        SQUAREM acceleration of the EM map.
    verbose : bool
        Show the progress.

    Attributes
    ----------
    coef_ : ndarray, shape (K, n_varying)
        Component-specific slopes, one row per component (columns: ``X``'s other than ``fixed``
        and ``concomitant``, in order).
    intercept_ : ndarray, shape (K,)
        Intercepts (zeros without ``fit_intercept``).
    fixed_coef_ : ndarray, shape (n_fixed,)
        The shared coefficients (empty without ``fixed``).
    dispersion_ : ndarray, shape (K,)
        The gaussian variances or the gamma shapes (ones for poisson and binomial).
    weights_ : ndarray, shape (K,)
        The mixing weights; with concomitant variables their mean over the training rows (NaN
        after a fit on Dask arrays, whose rows stay on the workers).
    concomitant_coef_ : ndarray, shape (n_concomitant + 1, K − 1)
        The weights' logit (first row the intercepts; component 0 the reference); only with
        ``concomitant``.
    converged_, n_iter_ : bool, int
    lower_bound_ : float
        The log-likelihood per unit weight at the estimate.
    result_ : EMResult
        The engine's result, for :func:`emkit.standard_errors` (or :meth:`standard_errors`).
    model_ : RegressionMixtureModel

    Notes
    -----
    ``fit``, ``score``, ``predict_proba``... take ``trials`` (binomial trials per row, default 1)
    and ``sample_weight``. A missing response is refused (``ValueError`` naming ``y``): a
    regression mixture has no information about a row without its response. Dask arrays ``X``
    and ``y`` are fitted chunk by chunk (the M-step's Newton passes run on the chunks).
    """

    _estimator_type = "regressor"
    _fitted_attribute = "coef_"

    def __init__(self, n_components: int = 1, *, family: str = "gaussian", fixed=None, concomitant=None,
                 fit_intercept: bool = True, n_init: int = 1, random_state=None, tol: float = 1e-10,
                 max_iter: int = 1000, accelerate: str | None = None, verbose: bool = False) -> None:
        self.n_components = n_components
        self.family = family
        self.fixed = fixed
        self.concomitant = concomitant
        self.fit_intercept = fit_intercept
        self.n_init = n_init
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter
        self.accelerate = accelerate
        self.verbose = verbose

    # ---------------------------------------------------------------------------- fit
    def fit(self, X, y, *, trials=None, sample_weight=None) -> "RegressionMixture":
        """Fit by EM. ``trials``: binomial trials per row (default 1); ``sample_weight``: row weights."""
        check_integer(self.n_components, "n_components")
        check_family(self.family)
        names = feature_names(X)
        n_features = _n_columns(X)
        roles = column_roles(n_features, names, self.fixed, self.concomitant)
        model = RegressionMixtureModel(self.n_components, self.family, len(roles[0]) + bool(self.fit_intercept),
                                       len(roles[1]), len(roles[2]) + (1 if roles[2] else 0))
        matrix = _matrix(X, y, trials, sample_weight, roles, bool(self.fit_intercept), self.family)
        result = em_fit(model, matrix, n_init=self.n_init, random_state=random_generator(self.random_state),
                        tol=self.tol, max_iter=self.max_iter, accelerate=self.accelerate, verbose=self.verbose)
        total = float(matrix[:, 2].sum()) if not is_dask(matrix) else float(matrix[:, 2].sum().compute())
        self._set_fitted(model, result, roles, names, n_features, total, None if is_dask(matrix) else matrix)
        return self

    def _set_fitted(self, model, result: EMResult, roles, names, n_features: int, total: float, matrix) -> None:
        params = result.params
        K, intercept = model.n_components, bool(self.fit_intercept)
        coef = np.asarray(params["coef"], dtype=float)
        self.intercept_ = coef[:, 0].copy() if intercept else np.zeros(K)
        self.coef_ = coef[:, int(intercept):].copy()
        self.fixed_coef_ = np.asarray(params.get("fixed_coef", np.zeros(0)), dtype=float)
        self.dispersion_ = np.asarray(params["dispersion"], dtype=float) if "dispersion" in params else np.ones(K)
        if model.n_concomitant:
            self.concomitant_coef_ = np.asarray(params["concomitant_coef"], dtype=float)
            data = model.prepare(matrix) if matrix is not None else None
            self.weights_ = (np.exp(model.log_weights(data, params)).mean(axis=0) if data is not None
                             else np.full(K, np.nan))
        else:
            self.__dict__.pop("concomitant_coef_", None)
            self.weights_ = np.asarray(params["weights"], dtype=float)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.loglik) / total
        self.result_ = result
        self.model_ = model
        self._roles = roles
        self.n_features_in_ = n_features
        if names is not None:
            self.feature_names_in_ = names
        else:
            self.__dict__.pop("feature_names_in_", None)

    # ------------------------------------------------------------------ predictions
    def predict(self, X, *, trials=None) -> np.ndarray:
        """``E[y | x] = Σ_k π_k(z) μ_k(x)`` per row (times the trials for binomial)."""
        data = self._data(X, None, trials, None)
        return self.model_.expected_response(data, self.params_)

    def predict_proba(self, X, y, *, trials=None) -> np.ndarray:
        """Component membership given ``x`` and ``y``: ``P(k | x_i, y_i)`` (n, K)."""
        return self.model_.responsibilities(self._data(X, y, trials, None), self.params_)

    def score_samples(self, X, y, *, trials=None) -> np.ndarray:
        """``log p(y_i | x_i)`` per row."""
        return self.model_.row_loglik(self._data(X, y, trials, None), self.params_)

    def score(self, X, y, *, trials=None, sample_weight=None) -> float:
        """The mean log-likelihood per row (per unit weight), ``Σ w_i log p(y_i | x_i) / Σ w_i``."""
        data = self._data(X, y, trials, sample_weight)
        return float(data.weight @ self.model_.row_loglik(data, self.params_) / data.weight.sum())

    def bic(self, X, y, *, trials=None) -> float:
        """``−2ℓ + d log n`` (``d`` free parameters; lower is better)."""
        data = self._data(X, y, trials, None)
        return -2.0 * float(self.model_.row_loglik(data, self.params_).sum()) + self.model_.n_free_parameters() * np.log(
            len(data))

    def aic(self, X, y, *, trials=None) -> float:
        """``−2ℓ + 2d``."""
        data = self._data(X, y, trials, None)
        return -2.0 * float(self.model_.row_loglik(data, self.params_).sum()) + 2.0 * self.model_.n_free_parameters()

    def sample(self, X, *, trials=None, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """One response per row of ``X`` drawn from the fitted mixture, and its component."""
        data = self._data(X, None, trials, None)
        return self.model_.sample_response(data, self.params_, random_generator(random_state))

    def standard_errors(self, X, y, method: str = "hessian", *, trials=None, sample_weight=None, **options: Any):
        """:func:`emkit.standard_errors` of the fit on the same data (``"hessian"`` or
        ``"bootstrap"``; Louis and SEM need complete-data information, which a GLM M-step does
        not give). Parameters under the model's names: ``coef`` (intercepts in column 0),
        ``fixed_coef``, ``dispersion``, ``weights`` or ``concomitant_coef``."""
        from ..inference.api import standard_errors

        return standard_errors(self.result_, self.design_matrix(X, y, trials=trials, sample_weight=sample_weight),
                               method, **options)

    def design_matrix(self, X, y, *, trials=None, sample_weight=None):
        """The fitted model's data for ``X`` and ``y``: the matrix ``[y, trials, weight, x, f, z]``
        (intercept columns included) that ``emkit.fit(est.model_, ...)`` and
        ``emkit.standard_errors(est.result_, ...)`` take."""
        self._check_is_fitted()
        return _matrix(X, y, trials, sample_weight, self._roles, bool(self.fit_intercept), self.family)

    @property
    def params_(self) -> dict[str, np.ndarray]:
        """The parameters under the model's names (see :meth:`standard_errors`)."""
        self._check_is_fitted()
        return self.result_.params

    def _data(self, X, y, trials, sample_weight) -> RegressionData:
        """The prepared rows of ``X`` (and ``y``; without one, a placeholder response of ones,
        inside every family's support, for the quantities that do not depend on it)."""
        self._check_is_fitted()
        check_feature_names(self, X)
        if _n_columns(X) != self.n_features_in_:
            raise ValueError(f"X: has {_n_columns(X)} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        if y is None:
            y = np.ones(len(X))
        return self.model_.prepare(_matrix(X, y, trials, sample_weight, self._roles, bool(self.fit_intercept),
                                           self.family))


# ------------------------------------------------------------------------------ helpers
def _n_columns(X) -> int:
    shape = getattr(X, "shape", None)
    if shape is None:
        X = np.asarray(X)
        shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X: expected a 2-D array (n_samples, n_features), got shape {tuple(shape)}")
    return int(shape[1])


def _matrix(X, y, trials, sample_weight, roles, intercept: bool, family: str):
    """The model's matrix ``[y, trials, weight, (1,) x, f, (1, z)]`` (a Dask array for Dask input)."""
    varying, fixed, concomitant = roles
    if is_dask(X):
        return _dask_matrix(X, y, trials, sample_weight, roles, intercept)
    X = check_array(X, estimator_name="RegressionMixture", allow_nan=False)
    n = len(X)
    y = _column(y, "y", n)
    if trials is not None and family != "binomial":
        raise ValueError(f"trials: only the binomial family has trials, not {family!r}")
    trials = np.ones(n) if trials is None else _column(trials, "trials", n)
    weight = np.ones(n) if sample_weight is None else _column(sample_weight, "sample_weight", n)
    parts = [y[:, None], trials[:, None], weight[:, None]]
    if intercept:
        parts.append(np.ones((n, 1)))
    parts += [X[:, varying], X[:, fixed]]
    if concomitant:
        parts += [np.ones((n, 1)), X[:, concomitant]]
    return np.column_stack(parts)


def _column(values, name: str, n: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (n,):
        raise ValueError(f"{name}: expected {n} values (one per row of X), got shape {array.shape}")
    return array


def _dask_matrix(X, y, trials, sample_weight, roles, intercept: bool):
    import dask.array as da

    varying, fixed, concomitant = roles
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True)
    X = X.astype(float)
    chunks = X.chunks[0]

    def aligned(values, name):
        if values is None:
            return da.ones((X.shape[0], 1), chunks=(chunks, 1))
        values = da.asarray(values).astype(float).reshape(-1, 1)
        if values.shape[0] != X.shape[0]:
            raise ValueError(f"{name}: expected one value per row of X")
        return values.rechunk((chunks, 1))

    ones = da.ones((X.shape[0], 1), chunks=(chunks, 1))
    parts = [aligned(y, "y"), aligned(trials, "trials"), aligned(sample_weight, "sample_weight")]
    if intercept:
        parts.append(ones)
    parts += [X[:, varying], X[:, fixed]]
    if concomitant:
        parts += [ones, X[:, concomitant]]
    return da.concatenate(parts, axis=1).rechunk({1: -1})

