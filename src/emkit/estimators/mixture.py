"""``Mixture``: the scikit-learn estimator for a finite mixture of any component family.

``p(x) = Σ_k π_k p(x | θ_k)`` with ``p(· | θ_k)`` an :class:`emkit.families.Family` (Poisson
counts, Bernoulli items, ...), over :class:`emkit.latent.MixtureModel` and the engine. The face
only checks its arguments and maps attributes: the engine runs the EM iterations, the restarts
(``n_init``) and the stopping rule; the model computes responsibilities, log-densities and draws.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..engine import EMResult, Squarem, fit
from ..engine.estep import ChunkedData, initial_params, prepare
from ..engine.progress import Progress
from ..exceptions import ConvergenceWarning
from ..families.base import Family
from ..families import dirichlet
from ..latent.concomitant import PARAM as CONCOMITANT
from ..latent.concomitant_mixture import ConcomitantMixtureModel
from ..latent.mixture import MixtureData, MixtureModel
from ..validation import check_integer, check_real, check_sample_weight
from ..variants.online import OnlineEM
from ._common import generator, jsonable
from ._dask import dask_rows, dask_weights, is_dask, map_rows
from ._family_argument import built_family, check_family_argument, n_columns
from ._sklearn_compat import bridged
from ._validation import check_feature_names, column_roles, feature_names
from .base import EstimatorProtocol
from .persistence import (
    constructor_arguments,
    family_from_record,
    family_record,
    fitted_values,
    load_state,
    name_tuple,
    named_arrays,
    save_state,
)

#: How the first start is drawn: the family's deterministic start, or the family's random one.
INIT_METHODS = ("family", "random")


class Mixture(EstimatorProtocol):
    """Finite mixture of one component family, fitted by EM: ``p(x) = Σ_k π_k p(x | θ_k)``.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components ``K``.
    family : Family, callable or mapping
        Distribution of a row given its component: an :class:`emkit.families.Family` instance
        such as ``families.Poisson(3)`` or ``families.Bernoulli(5)``, or a callable
        ``family(n_features) -> Family`` such as the class ``families.Poisson`` itself, which
        :meth:`fit` calls with the number of columns of ``X``. For mixed-type rows, a mapping of
        column groups to families (each a Family or such a callable, called with the group's
        number of columns): DataFrame column names or integer indices, one or a tuple per group,
        e.g. ``{"age": families.Poisson, ("smoker", "married"): families.Bernoulli}`` — the
        rows' distribution is then their :class:`~emkit.families.Product`.
    weights_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentrations ``α ≥ 1`` of the weights, ``π_k ∝ n_k + α_k − 1`` (1: maximum
        likelihood).
    tol : float, default=1e-3
        scikit-learn's stopping rule: stop when the mean log-likelihood per unit of sample weight
        changes by at most ``tol``, ``|ℓ_t − ℓ_{t−1}| ≤ tol · Σ_i w_i``.
    max_iter : int, default=100
        Maximum number of EM iterations per start.
    n_init : int, default=1
        Number of starts; the one with the highest log-likelihood is kept.
    init_params : {"family", "random"}, default="family"
        The first start: ``"family"``, the family's deterministic start (equal weights, e.g.
        column means spread apart); ``"random"``, the family's random start. Further starts are
        always random.
    weights_init : array-like of shape (n_components,), optional
        Starting weights (on the simplex), used by every start instead of the start's own.
    params_init : dict, optional
        Starting values of some or all of the family's parameters under its names (e.g.
        ``{"lambdas": L}`` for ``Poisson``, ``{"visits:lambdas": L}`` for a mapping's part),
        used by every start instead of the start's own.
    learn : tuple of str, optional
        Parameters re-estimated by EM, among ``"weights"`` and the family's names (default:
        all); the others keep their starting values (``weights_init``/``params_init`` when given,
        else the start's). Free parameters (``bic``, standard errors) count the learned ones only.
    random_state : int, numpy Generator or RandomState, optional
        Seed of the random starts and of :meth:`sample`.
    verbose : bool or Progress, default=False
        Show the starts and EM iterations on standard error (a
        :class:`~emkit.engine.progress.Progress`: on that display, shared).
    accelerate : {None, "squarem"} or Squarem, default=None
        Run SQUAREM on the EM map (fewer passes over the data).
    n_jobs : int, optional
        Threads over which the row blocks of the E-step are spread (default: the number of CPUs;
        results do not depend on it).
    concomitant : sequence of int or str, optional
        Columns of ``X`` (positions, or names of a DataFrame's columns) that are covariates of
        the weights rather than observations of the family: ``π(z_i) = softmax(0, (1, z_i)ᵀA)``,
        a multinomial logit with intercept, component 0 the reference (latent class analysis
        with covariates on class membership; :mod:`emkit.latent.concomitant_mixture`). The family
        sees the other columns (a mapping's integer column groups count among them). In memory
        only (no Dask, no ``partial_fit``, no ``save``); ``weights_init`` and ``weights_prior``
        do not apply. Standard errors: ``emkit.standard_errors(est.result_, est.model_data(X),
        "hessian")`` (or ``"bootstrap"``).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        With ``concomitant``: the weights averaged over the rows seen in ``fit``.
    concomitant_coef_ : ndarray of shape (n_concomitant + 1, n_components − 1)
        With ``concomitant`` only: the logit's coefficients, the intercept's row first, then one
        row per column of ``concomitant`` in its order.
    <param>_ : ndarray
        Each of the family's parameters under its name with a trailing underscore, e.g.
        ``lambdas_`` (Poisson rates) or ``probs_`` (Bernoulli probabilities), shape
        ``(n_components, n_features)`` for these two.
    params_ : dict
        All parameters under the model's names (``"weights"`` and the family's), read from the
        attributes above.
    model_ : emkit.latent.MixtureModel
        The fitted model (its family, ``n_free_parameters()``, standard errors, ...).
    converged_ : bool
        Whether the best start met ``tol`` within ``max_iter`` iterations.
    n_iter_ : int
        Number of EM iterations of the best start.
    lower_bound_ : float
        Log-likelihood per unit of sample weight at the returned parameters (plus the weights'
        log prior when ``weights_prior`` exceeds 1: the objective EM ascends).
    lower_bounds_ : list of float
        The same at every iterate of the best start, its start included.
    n_features_in_ : int
        Number of columns of the data seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names seen in ``fit`` (only when ``X`` was a data frame with string names).
    result_ : EMResult
        The engine's result for the best start (trace, the final log-likelihood of every start).

    Notes
    -----
    A NaN cell is missing: every method marginalises it (exact EM for incomplete data), and a row
    with nothing observed has density 1 in every component. A row that no component can produce
    (e.g. a 1 where every component has probability 0) has ``score_samples`` ``−inf`` and
    ``predict_proba`` 0 in every column. Components are not reordered.

    Standard errors of a fit (the learned parameters only) come from the engine:
    ``emkit.standard_errors(est.result_, X, method)`` with ``method`` one of ``"louis"``,
    ``"sem"``, ``"bootstrap"``, ``"hessian"`` (``X`` as given to ``fit``; ``(X, sample_weight)``
    for a weighted fit). ``result_`` is None after :meth:`partial_fit` and :meth:`load`.
    """

    _estimator_type = "DensityEstimator"
    _fitted_attribute = "model_"

    def __init__(self, n_components: int = 1, *, family: Family | Callable[[int], Family],
                 weights_prior=1.0, tol: float = 1e-3, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "family", weights_init=None, params_init: Mapping[str, Any] | None = None,
                 learn: tuple[str, ...] | None = None, random_state=None, verbose: bool | Progress = False,
                 accelerate: str | Squarem | None = None, n_jobs: int | None = None, concomitant=None) -> None:
        self.n_components = n_components
        self.family = family
        self.weights_prior = weights_prior
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.params_init = params_init
        self.learn = learn
        self.random_state = random_state
        self.verbose = verbose
        self.accelerate = accelerate
        self.n_jobs = n_jobs
        self.concomitant = concomitant

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True}

    # --------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None) -> Mixture:
        """Estimate the parameters by EM (``n_init`` starts, the best kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a Dask array or DataFrame
            Rows as the family takes them (NaN: a missing cell). Dask input is fitted chunk by
            chunk (the engine's :class:`~emkit.engine.dask.DaskData`), starting from its bounded
            sample of rows (``start_data``: all rows when there are few).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; integer weights give the fit on repeated rows (a Dask or
            in-memory vector for Dask ``X``).

        Returns
        -------
        self

        Notes
        -----
        On any error the estimator is left as it was.
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then return the most probable component ``argmax_k γ_ik`` of each row of ``X``
        (a Dask array for Dask input)."""
        data = self._fit(X, sample_weight)
        if isinstance(data, ChunkedData):
            return self.predict(X)
        return self.model_.predict(data, self.params_)

    def _fit(self, X, sample_weight) -> MixtureData | ChunkedData:
        """Fit and set the attributes; the prepared data (for :meth:`fit_predict`)."""
        self._check_hyperparameters()
        names = feature_names(X)
        model, given = self._model(self._family(self._split_concomitant(X)[0]))
        data = (_prepared(model, X, sample_weight) if self.concomitant is None
                else model.prepare(self.model_data(X, sample_weight)))
        n_samples = data.n_observations if isinstance(data, ChunkedData) else data.n_samples
        if n_samples < self.n_components:
            raise ValueError(f"n_components: Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {n_samples}")
        total = _total_weight(data)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="EM did not converge", category=ConvergenceWarning)
            result = fit(model, data, init=self._starts(model, data, given), tol=self.tol, param_tol=None,
                         tol_scale=total, max_iter=self.max_iter, random_state=generator(self.random_state),
                         n_init=self.n_init, accelerate=self.accelerate, verbose=self.verbose)
        if not result.converged:
            warnings.warn(f"Best performing initialization did not converge in max_iter={self.max_iter} iterations "
                          f"(tol={self.tol}); increase max_iter or tol, or use accelerate='squarem'",
                          bridged(ConvergenceWarning), stacklevel=3)
        self._set_fitted(model, result.params, converged=result.converged, n_iter=result.n_iter,
                         lower_bound=float(result.loglik) / total,
                         lower_bounds=[float(value) / total for value in result.trace.loglik],
                         n_features=n_columns(X), names=names, result=result,
                         mean_weights=model.mean_weights(data, result.params)
                         if isinstance(model, ConcomitantMixtureModel) else None)
        self._online_ = None
        return data

    def partial_fit(self, X, y=None, sample_weight=None) -> Mixture:
        """One step of online EM (Cappé & Moulines 2009) on a batch of rows.

        Keeps a running average of the expected sufficient statistics per unit weight,
        ``s_t = s_{t−1} + γ_t (S(batch_t; θ_{t−1}) / n_t − s_{t−1})`` with ``γ_t = t^(−0.6)``, and
        sets the parameters to the M-step of ``N_t s_t`` (``N_t``: weight seen so far), as
        :func:`emkit.fit_online` does (:class:`emkit.variants.online.OnlineEM`). A stream of
        batches from one mixture approaches the batch (``fit``) estimate of their union.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch (NaN: a missing cell).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the batch's rows (not all zero).

        Returns
        -------
        self

        Notes
        -----
        The first call starts from the fitted parameters when there are any (after ``fit`` or
        ``load``), else as :meth:`fit` starts its first start (``init_params``,
        ``weights_init``, ``params_init``, ``random_state``) on this batch, which then needs at
        least ``n_components`` rows; later batches may have any number of rows. ``learn`` holds
        parameters as in ``fit``. ``lower_bounds_`` holds each batch's log-likelihood per unit
        weight at the parameters before its step, ``n_iter_`` the number of steps, ``result_``
        is None; a later :meth:`fit` ends the stream. On any error the estimator is left as it
        was.
        """
        self._check_hyperparameters()
        if self.concomitant is not None:
            raise ValueError("concomitant: partial_fit (online EM) cannot take a data-taking M-step; use fit")
        state: OnlineEM | None = getattr(self, "_online_", None)
        if state is None:
            fitted = self.__sklearn_is_fitted__()
            if fitted:
                check_feature_names(self, X)
            model, given = self._model(self._family(X))
            data = model.prepare((X, sample_weight))
            if fitted:
                start = model.check_params(self.params_)
            elif data.n_samples < self.n_components:
                raise ValueError(f"n_components: Expected n_samples >= n_components but got n_components = "
                                 f"{self.n_components}, n_samples = {data.n_samples} in the first partial_fit batch")
            else:
                rng = generator(self.random_state) if self.init_params == "random" else None
                start = _given_start(model, model.initial_params(data, rng), given)
            state, history, names, n_features = (OnlineEM(model, start, context=data.context), [], feature_names(X),
                                                 n_columns(X))
        else:
            check_feature_names(self, X)
            data, history = state.prepare((X, sample_weight)), list(self.lower_bounds_)
            names, n_features = getattr(self, "feature_names_in_", None), self.n_features_in_
        total = _total_weight(data)
        loglik = state.step(data, total)
        self._set_fitted(state.model, state.params, converged=False, n_iter=state.n_batches,
                         lower_bound=loglik / total, lower_bounds=history + [loglik / total], n_features=n_features,
                         names=names, result=None)
        self._online_ = state
        return self

    def _set_fitted(self, model: MixtureModel, params: dict[str, np.ndarray], *, converged: bool, n_iter: int,
                    lower_bound: float, lower_bounds: list[float], n_features: int, names,
                    result: EMResult | None, mean_weights: np.ndarray | None = None) -> None:
        """Assign the fitted attributes together (a failed fit leaves the estimator unchanged);
        a previous fit's family attributes go. ``mean_weights``: ``weights_`` of a fit with
        concomitant variables."""
        if hasattr(self, "model_"):
            for name in self.model_.family.param_names + (CONCOMITANT,):
                self.__dict__.pop(f"{name}_", None)
        if isinstance(model, ConcomitantMixtureModel):
            self.concomitant_coef_ = np.asarray(params[CONCOMITANT], dtype=float)
        self.weights_ = np.asarray(params["weights"] if mean_weights is None else mean_weights, dtype=float)
        for name in model.family.param_names:
            setattr(self, f"{name}_", np.asarray(params[name], dtype=float))
        self.model_ = model
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.lower_bound_ = float(lower_bound)
        self.lower_bounds_ = [float(value) for value in lower_bounds]
        self.n_features_in_ = int(n_features)
        self.result_ = result
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    @property
    def params_(self) -> dict[str, np.ndarray]:
        """The parameters under the model's names, from ``weights_`` and the ``<param>_``
        attributes."""
        self._check_is_fitted()
        names = self.model_.param_names
        return {name: getattr(self, f"{name}_") for name in names}

    # ------------------------------------------------------------------ checking inputs
    def _check_hyperparameters(self) -> None:
        """ValueError naming the first constructor argument out of its domain (before the data
        are touched; ``weights_prior`` and ``n_jobs`` are checked by the model)."""
        check_integer(self.n_components, "n_components")
        check_real(self.tol, "tol", low=0.0)
        check_integer(self.max_iter, "max_iter")
        check_integer(self.n_init, "n_init")
        if self.init_params not in INIT_METHODS:
            raise ValueError(f"init_params: expected one of {INIT_METHODS}, got {self.init_params!r}")
        if not (self.accelerate in (None, "squarem") or isinstance(self.accelerate, Squarem)):
            raise ValueError(f"accelerate: expected None, 'squarem' or a Squarem(...), got {self.accelerate!r}")
        generator(self.random_state)
        if self.learn is not None and (isinstance(self.learn, str) or not isinstance(self.learn, (tuple, list))
                                       or not all(isinstance(name, str) for name in self.learn)):
            raise ValueError(f"learn: expected a tuple of parameter names, e.g. ('weights',), got {self.learn!r}")
        if self.params_init is not None and not isinstance(self.params_init, Mapping):
            raise ValueError(f"params_init: expected a dict of the family's parameters by name, got "
                             f"{type(self.params_init).__name__}")
        check_family_argument(self.family)
        if self.concomitant is not None:
            if not _concomitant_columns(self.concomitant):
                raise ValueError(f"concomitant: expected column positions or names, got {self.concomitant!r}")
            if self.weights_init is not None:
                raise ValueError("weights_init: the weights of a mixture with concomitant variables are a logit of "
                                 "them; leave weights_init None")
            if not np.all(np.asarray(self.weights_prior, dtype=float) == 1.0):
                raise ValueError("weights_prior: a mixture with concomitant variables has no Dirichlet prior on its "
                                 "weights; leave weights_prior=1")

    def _split_concomitant(self, X) -> tuple[Any, np.ndarray | None]:
        """``X`` without its ``concomitant`` columns (a DataFrame keeps its names) and those
        columns as floats (None without ``concomitant``)."""
        if self.concomitant is None:
            return X, None
        if is_dask(X):
            raise ValueError("X: a mixture with concomitant variables is fitted in memory; compute the Dask "
                             "collection first")
        names = feature_names(X)
        kept, _, covariates = column_roles(n_columns(X), names, None, _concomitant_columns(self.concomitant))
        if hasattr(X, "iloc"):
            return X.iloc[:, kept], np.asarray(X.iloc[:, covariates], dtype=float)
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(f"X: expected a 2-D array with the concomitant columns, got shape {array.shape}")
        return array[:, kept], np.asarray(array[:, covariates], dtype=float)

    def model_data(self, X, sample_weight=None):
        """The data that ``emkit.fit(est.model_, ...)`` and ``emkit.standard_errors(est.result_,
        ...)`` take for rows ``X``: ``X`` (or ``(X, sample_weight)``), or with ``concomitant`` the
        tuple ``(X_family, (1, Z), sample_weight)``."""
        family_rows, covariates = self._split_concomitant(X)
        if covariates is None:
            return X if sample_weight is None else (X, sample_weight)
        return family_rows, np.column_stack([np.ones(len(covariates)), covariates]), sample_weight

    def _family(self, X) -> Family:
        """The family instance, the callable's family for the number of columns of ``X``, or the
        product of a mapping's families over their column groups."""
        return built_family(self.family, None if isinstance(self.family, Mapping) else n_columns(X))

    def _model(self, family: Family) -> tuple[MixtureModel, dict[str, Any]]:
        """The mixture of ``family`` with these settings, and the starting values that every
        start holds over its own (``weights_init`` and ``params_init`` by parameter name).

        Raises
        ------
        ValueError
            Naming ``weights_init`` or ``params_init`` when they are not the weights or names of
            the family's parameters (their values are checked with the start, :func:`_given_start`),
            or ``learn``/``weights_prior``/``n_jobs`` (by the model).
        """
        given = {}
        if self.weights_init is not None:
            try:
                given["weights"] = dirichlet.check_probability_rows(self.weights_init, (self.n_components,),
                                                                    "weights_init")
            except (TypeError, ValueError) as error:
                message = str(error)
                raise ValueError(message if message.startswith("weights_init") else f"weights_init: expected "
                                 f"{self.n_components} numbers, got {self.weights_init!r}") from None
        if self.params_init is not None:
            unknown = sorted(set(self.params_init) - set(family.param_names))
            if unknown:
                raise ValueError(f"params_init: unknown parameter(s) {unknown}; expected names among "
                                 f"{list(family.param_names)} (the weights go in weights_init)")
            given.update(self.params_init)
        if self.concomitant is not None:
            return ConcomitantMixtureModel(family, self.n_components, len(_concomitant_columns(self.concomitant)) + 1,
                                           learn=self.learn, n_jobs=self.n_jobs), given
        model = MixtureModel(family, self.n_components, weights_prior=self.weights_prior, learn=self.learn,
                             n_jobs=self.n_jobs)
        return model, given

    def _starts(self, model: MixtureModel, data: MixtureData | ChunkedData,
                given: dict[str, Any]) -> Callable[[np.random.Generator], dict[str, Any]]:
        """The engine's ``init(rng)``, called once per start: the model's start (the first one
        deterministic under ``init_params="family"``, the others random) with ``given`` over it."""
        starts = itertools.count()

        def start(rng: np.random.Generator) -> dict[str, Any]:
            deterministic = next(starts) == 0 and self.init_params == "family"
            return _given_start(model, initial_params(model, data, None if deterministic else rng), given)

        return start

    def _fitted(self, X) -> tuple[MixtureModel, dict[str, np.ndarray]]:
        """The fitted model and its parameters (checked: they may have been set by hand), after
        comparing the column names of ``X`` with those of ``fit``."""
        self._check_is_fitted()
        check_feature_names(self, X)
        return self.model_, self.model_.check_params(self.params_)

    # -------------------------------------------------------------------------- inference
    def _rows(self, X, function: Callable[..., np.ndarray], n_columns: int | None = None, dtype=float):
        """``function(data, model, params)`` of the rows of ``X`` (same features as in ``fit``);
        on Dask input, mapped over its row chunks (each prepared as a chunk: a column may be
        missing throughout one) and returned as a Dask array."""
        model, params = self._fitted(X)
        if is_dask(X) and self.concomitant is None:
            rows = dask_rows(X, estimator_name=type(self).__name__)
            return map_rows(rows, _on_chunk, function, model, params, n_columns=n_columns, dtype=dtype)
        return function(X if self.concomitant is None else self.model_data(X), model, params)

    def score_samples(self, X) -> np.ndarray:
        """``log p(x_i)`` of each row, shape (n_samples,) (missing cells marginalised); a Dask
        array for Dask ``X`` (likewise :meth:`predict_proba` and :meth:`predict`)."""
        return self._rows(X, _log_density)

    def score(self, X, y=None, sample_weight=None) -> float:
        """Mean log-likelihood per row, ``Σ_i w_i log p(x_i) / Σ_i w_i`` (rows of weight 0 left
        out; all weights 1 without ``sample_weight``)."""
        log_density = self.score_samples(X)
        weights = check_sample_weight(sample_weight, log_density.shape[0])
        if weights is None:
            return float(log_density.mean())
        kept = weights > 0
        return float(log_density[kept] @ weights[kept] / weights.sum())

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities ``γ_ik = p(z_i = k | x_i)``, shape (n_samples, n_components)."""
        return self._rows(X, _responsibilities, n_columns=self.n_components)

    def predict(self, X) -> np.ndarray:
        """The most probable component ``argmax_k γ_ik`` of each row."""
        return self._rows(X, _most_probable, dtype=np.int64)

    def impute(self, X) -> np.ndarray:
        """``X`` (as floats) with each missing cell replaced by its conditional mean given the
        row's observed cells, ``Σ_k γ_ik E[x_ij | x_i,o, z_i = k]`` (components' means for
        families whose columns are independent given the component; the Gaussian's and the t's
        regression on the observed cells)."""
        return self._rows(X, _imputed, n_columns=self.n_features_in_)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows from the fitted mixture: ``z ~ π``, then ``x ~ p(· | θ_z)``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            The component of each row (rows in the order drawn, not grouped by component).
        """
        self._check_is_fitted()
        n_samples = check_integer(n_samples, "n_samples")
        return self.model_.sample(self.model_.check_params(self.params_), n_samples, generator(self.random_state))

    def _n_parameters(self) -> int:
        """Number of free parameters, ``K − 1`` weights and the family's."""
        self._check_is_fitted()
        return self.model_.n_free_parameters()

    def bic(self, X) -> float:
        """Bayesian information criterion ``−2 Σ_i log p(x_i) + p log n`` (``p`` free parameters,
        ``n`` rows)."""
        log_density = self.score_samples(X)
        return -2.0 * float(log_density.sum()) + self._n_parameters() * np.log(log_density.shape[0])

    def aic(self, X) -> float:
        """Akaike information criterion ``−2 Σ_i log p(x_i) + 2p``."""
        return -2.0 * float(self.score_samples(X).sum()) + 2.0 * self._n_parameters()

    # ------------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the constructor arguments, the parameters and the fitted scalars to ``path``
        (``.npz`` by suffix, else JSON; never pickle).

        The family is stored as the fitted one (a callable or a mapping of columns as the family
        it built: the loaded estimator's ``family`` is that Family, e.g. the
        :class:`~emkit.families.Product`). A ``random_state`` that is not an int, a ``verbose``
        display and a :class:`~emkit.engine.Squarem` object are not stored (None, False, None).

        Raises
        ------
        ValueError
            Naming ``family`` when it is not one of emkit's families (a class of one's own cannot
            be rebuilt by :meth:`load`).
        """
        self._check_is_fitted()
        if self.concomitant is not None:
            raise ValueError("concomitant: saving a mixture with concomitant variables is not supported yet")
        config = {name: jsonable(value) for name, value in self.get_params(deep=False).items()}
        config["family"] = family_record(self.model_.family)
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            config["random_state"] = None
        config["verbose"] = self.verbose if isinstance(self.verbose, bool) else False
        if self.params_init is not None:
            config["params_init"] = {name: np.asarray(value, dtype=float).tolist()
                                     for name, value in self.params_init.items()}
        config["fitted"] = {"converged_": self.converged_, "n_iter_": self.n_iter_, "lower_bound_": self.lower_bound_,
                            "lower_bounds_": self.lower_bounds_, "n_features_in_": self.n_features_in_,
                            "feature_names_in_": None if getattr(self, "feature_names_in_", None) is None
                            else [str(name) for name in self.feature_names_in_]}
        params = self.model_.check_params(self.params_)
        return save_state(path, type(self).__name__, config, {f"{name}_": value for name, value in params.items()})

    @classmethod
    def load(cls, path: str | Path) -> Mixture:
        """Read an estimator written by :meth:`save` (predictions identical to the saved one).

        Everything ``fit`` checks is checked again: the family (one of emkit's, rebuilt by its
        constructor), the constructor arguments, ``weights_init``/``params_init``, the parameters
        (:meth:`emkit.latent.MixtureModel.check_params`: shapes, weights on the simplex, each
        family's parameter space) and the fitted scalars.

        Raises
        ------
        ValueError
            When the file is not a saved ``Mixture`` or a value is out of its domain; the message
            names the file and the field (e.g. ``arrays.lambdas_``).
        """
        path = Path(path)
        config, arrays = load_state(path, cls.__name__)
        arguments = constructor_arguments(config, cls, path)
        if "family" not in arguments:
            raise ValueError(f"{path}: config.family: missing")
        family = family_from_record(arguments["family"], "config.family", path)
        arguments["family"] = family
        if "learn" in arguments:
            arguments["learn"] = name_tuple(arguments["learn"], "learn", path)
        if arguments.get("params_init") is not None and not isinstance(arguments["params_init"], dict):
            raise ValueError(f"{path}: config.params_init: expected an object of parameters by name")
        fitted = fitted_values(config, {"converged_": "bool", "n_iter_": "count", "lower_bound_": "number",
                                        "lower_bounds_": "numbers", "n_features_in_": "positive",
                                        "feature_names_in_": "names?"}, path)
        estimator = cls(**arguments)
        try:
            estimator._check_hyperparameters()
            model, given = estimator._model(family)
        except ValueError as error:
            raise ValueError(f"{path}: config.{error}") from None
        stored = named_arrays(arrays, [f"{name}_" for name in model.param_names], path)
        try:
            params = model.check_params({name: stored[f"{name}_"] for name in model.param_names})
        except ValueError as error:
            raise ValueError(f"{path}: {_attribute_message(str(error), model.param_names)}") from None
        try:
            _given_start(model, params, given)
        except ValueError as error:
            raise ValueError(f"{path}: config.{error}") from None
        names = fitted["feature_names_in_"]
        d = fitted["n_features_in_"]
        if names is not None and len(names) != d:
            raise ValueError(f"{path}: config.fitted.feature_names_in_: expected {d} names, got {len(names)}")
        estimator._set_fitted(model, params, converged=fitted["converged_"], n_iter=fitted["n_iter_"],
                              lower_bound=fitted["lower_bound_"], lower_bounds=fitted["lower_bounds_"], n_features=d,
                              names=None if names is None else np.asarray(names, dtype=object), result=None)
        return estimator


def _concomitant_columns(concomitant) -> list:
    """``concomitant`` as a list of columns (one name or position, or a sequence of them)."""
    if isinstance(concomitant, (str, int, np.integer)):
        return [concomitant]
    try:
        return list(concomitant)
    except TypeError:
        return []


def _given_start(model: MixtureModel, start: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``start`` with the ``given`` values over it, checked (``model.check_params``); an error
    (only the given values can be wrong: the family's starts are valid) names ``weights_init``
    or ``params_init``."""
    try:
        return model.check_params({**start, **given})
    except (TypeError, ValueError) as error:
        message = str(error)
        argument = "weights_init" if message.startswith("weights") else "params_init"
        raise ValueError(f"{argument}: {message}") from None


def _attribute_message(message: str, names: tuple[str, ...]) -> str:
    """A parameter check's message (``"lambdas: ..."``) naming the parameter's stored array
    (``"arrays.lambdas_: ..."``)."""
    for name in sorted(names, key=len, reverse=True):
        if message.startswith(name) and message[len(name):len(name) + 1] in (":", " "):
            return f"arrays.{name}_{message[len(name):]}"
    return f"arrays: {message}"


def _prepared(model: MixtureModel, X, sample_weight) -> MixtureData | ChunkedData:
    """The model's data: in memory, or chunked on Dask for a Dask ``X`` (the engine's
    :class:`~emkit.engine.dask.DaskData`, checked on the whole data by the model's chunk hooks)."""
    if is_dask(X):
        return prepare(model, X if sample_weight is None else (X, dask_weights(sample_weight, X)))
    return model.prepare((X, sample_weight))


def _total_weight(data: MixtureData | ChunkedData) -> float:
    """``Σ_i w_i`` (the number of rows without sample weights), summed over the chunks of Dask data."""
    if isinstance(data, ChunkedData):
        return float(data.chunk_sum(_chunk_weight))
    return _chunk_weight(None, data)


def _chunk_weight(model: MixtureModel | None, data: MixtureData) -> float:
    return float(data.n_samples if data.sample_weight is None else data.sample_weight.sum())


def _on_chunk(rows: np.ndarray, function: Callable[..., np.ndarray], model: MixtureModel, params) -> np.ndarray:
    """``function`` of one chunk of rows, prepared as a chunk (:meth:`MixtureModel.prepare_chunk`)."""
    return function(model.prepare_chunk(rows), model, params)


def _log_density(data, model: MixtureModel, params) -> np.ndarray:
    """``log p(x_i)`` of each row."""
    return model.responsibilities(data, params)[1]


def _responsibilities(data, model: MixtureModel, params) -> np.ndarray:
    """``γ_ik``, shape (n, K)."""
    return model.responsibilities(data, params)[0]


def _imputed(data, model: MixtureModel, params) -> np.ndarray:
    """The rows with their missing cells filled."""
    return model.impute(data, params)


def _most_probable(data, model: MixtureModel, params) -> np.ndarray:
    """``argmax_k γ_ik`` of each row."""
    return model.predict(data, params)
