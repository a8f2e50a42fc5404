"""``GaussianHMM``, ``CategoricalHMM``, ``PoissonHMM``, ``MultinomialHMM`` and ``GMMHMM``: hmmlearn
0.3's interface over emkit's HMMs and engine (:class:`~emkit.estimators.family_hmm.HMM`: any family).

The constructors take hmmlearn's arguments in hmmlearn's order with hmmlearn's defaults
(``n_iter=10``, ``tol=1e-2``, ``params``/``init_params`` letter strings, ``implementation``,
``min_covar``, the prior keywords); emkit's extras (``n_init``, ``accelerate``, ``n_jobs``, and the
chain's options ``initial``, ``topology``, ``bandwidth``, ``fixed_transmat``: see
:class:`GaussianHMM`) follow as keywords. The methods and attributes are hmmlearn's (``fit(X, lengths)``, ``score``,
``score_samples``, ``predict``, ``predict_proba``, ``decode``, ``sample``, ``bic``, ``aic``,
``get_stationary_distribution``; ``monitor_``, ``n_features``, ``startprob_``, ``transmat_``,
``means_``, ``covars_``, ``weights_``, ``emissionprob_``, ``lambdas_``), and ``fit`` follows
hmmlearn's steps (each iteration reports the log-likelihood to ``monitor_``, then takes the M-step;
it stops when ``monitor_.converged``), so from the same start the log-likelihood of every iteration
and the estimates equal hmmlearn's (for ``GMMHMM`` while means or covariances are held: see its
notes). Differences: ``implementation="scaling"`` gives the same exact log-space answer as
``"log"`` (where hmmlearn's scaling underflows and raises, emkit answers); sequences are processed
in parallel threads; missing observations (NaN) are allowed; the Dirichlet priors must be ``≥ 1``;
without ``random_state`` the start is drawn from NumPy's global state as hmmlearn's is (not the
same draws: emkit's start is its own k-means); ``decode(algorithm="map")`` returns hmmlearn's ``Σ_t max_k γ_t(k)``.

hmmlearn's conjugate priors (``means_prior``, ``means_weight``, ``covars_prior``,
``covars_weight``, ``weights_prior``, ``lambdas_prior``, ``lambdas_weight``) are the families'
(:mod:`emkit.estimators._hmmlearn_priors`): each M-step is the exact mode of the expected
complete-data log-likelihood plus the log prior, the engine ascends (and checks) the
log-posterior, and ``score``, ``monitor_.history`` and ``lower_bounds_`` are the log-likelihood
without the prior, as hmmlearn reports them. Where hmmlearn's step is not a mode, emkit keeps
the mode: ``PoissonHMM`` with several states and a non-trivial Gamma prior (hmmlearn divides by
the occupancy of all states) and ``GMMHMM``'s covariances while the means move (see there). A
full or tied covariance without a Cholesky factor gets hmmlearn's ``1e-7·I``
(:class:`JitteredGaussian`). ``aic``/``bic`` count hmmlearn's parameters.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import EMResult, fit
from ..engine.progress import Progress
from ..exceptions import ConvergenceWarning, NotFittedError
from ..families.categorical import MISSING, CategoricalEmission, check_symbols
from ..families.finite_mixture import FiniteMixture
from ..families.gaussian import Gaussian, check_observations, start_covariance
from ..families.multinomial import Multinomial
from ..families.poisson import Poisson
from ..kernels.covariance_structures import covariance_structure
from ..kernels.gaussian import COVARIANCE_TYPES, covariance_shape
from ..kernels.kmeans import kmeans
from ..latent.hmm import DECODERS, HiddenMarkovModel
from ..latent.hmm_transitions import coordinate_count, transition_constraints
from ..validation import check_integer, check_real
from ..variants.online import OnlineEM
from ._hmm_monitor import ConvergenceMonitor, MonitorRule
from ._hmmlearn_priors import gaussian_hmm_prior, gmm_hmm_priors, poisson_hmm_prior, tied_offset
from ._common import generator as _generator, jsonable as _jsonable
from ._sklearn_compat import bridged
from .base import EstimatorProtocol
from .persistence import constructor_arguments, fitted_values, load_state, named_arrays, save_state

CHAIN_PARAMS = ("startprob", "transmat")
#: hmmlearn's letters of the chain's parameters in ``params`` and ``init_params``.
CHAIN_LETTERS = {"s": "startprob", "t": "transmat"}
#: hmmlearn's forward-backward implementations; emkit computes both in log space (one exact answer).
IMPLEMENTATIONS = ("log", "scaling")

_log = logging.getLogger(__name__)

#: hmmlearn's covariance types of ``GMMHMM`` ("tied": shared by the ``n_mix`` components of a state).
GMM_COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")

#: GMMHMM's ECM order: the covariances given the previous means, then the means (hmmlearn's).
HMMLEARN_CM_ORDER = (("covars",), ("means",))

#: k-means runs of :func:`best_kmeans` (scikit-learn's ``n_init`` in hmmlearn's ``GMMHMM`` start).
KMEANS_INITS = 10

#: Without ``n_features``, the number of symbols ``max(X) + 1`` may be at most the number of
#: observations or this, whichever is larger: a larger symbol is an id, not a code, and would
#: make the emission table (``K`` rows of ``max(X) + 1`` floats) outgrow the data.
MIN_SYMBOL_BOUND = 2 ** 16


def with_min_covar(initial: dict[str, np.ndarray], covariance_type: str, min_covar: float) -> dict[str, np.ndarray]:
    """hmmlearn's ``min_covar``: added to the diagonal of the started covariances (``initial["covars"]``)."""
    if "covars" not in initial:
        return initial
    covars = np.asarray(initial["covars"], dtype=float)
    square = covariance_type in ("full", "tied")
    return {**initial, "covars": covars + min_covar * (np.eye(covars.shape[-1]) if square else 1.0)}


#: hmmlearn's jitter of a full covariance that is not positive definite (``min_covar`` of
#: ``_log_multivariate_normal_density_full``).
SINGULAR_JITTER = 1e-7


class JitteredGaussian(Gaussian):
    """The Gaussian family of the hmmlearn faces: hmmlearn computes a full (or tied) density
    whose covariance has no Cholesky factor with ``1e-7·I`` added to it; here the M-step adds it
    to such a matrix, so the parameters are the covariances the densities use. Every other
    covariance is the family's exact (MAP) step."""

    def m_step(self, stats, params, learn, keep):
        out = super().m_step(stats, params, learn, keep)
        if covariance_structure(self.covariance_type).diagonal:
            return out
        covars = np.array(out[self.covariance_name], dtype=float)
        for matrix in covars.reshape((-1,) + covars.shape[-2:]):
            try:
                np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                matrix += SINGULAR_JITTER * np.eye(matrix.shape[-1])
        return {**out, self.covariance_name: covars}


def best_kmeans(X: np.ndarray, n_clusters: int, rng: np.random.Generator,
                n_init: int = KMEANS_INITS) -> tuple[np.ndarray, np.ndarray]:
    """The k-means ``(centres, labels)`` of least within-cluster sum of squares among ``n_init``
    runs (scikit-learn's ``KMeans(n_init=10)``, which hmmlearn's ``GMMHMM`` start runs)."""
    runs = [kmeans(X, n_clusters, rng) for _ in range(n_init)]
    return min(runs, key=lambda run: float(np.sum((X - run[0][run[1]]) ** 2)))


def checked_covars(value, covariance_type: str, n_components: int) -> np.ndarray:
    """``covars_`` as set by a user, checked as hmmlearn checks it, in the compact shape of
    ``covariance_type``: "spherical" takes any array of ``n_components`` equal-valued rows
    (``(K,)``, ``(K, 1)``, ``(K, d)``, ...) and keeps ``(K,)``; "diag" ``(K, d)`` positive; "full"
    ``(K, d, d)`` and "tied" ``(d, d)`` symmetric positive-definite.

    Raises
    ------
    ValueError
        Naming ``covariance_type`` or ``covars_`` and what is wrong.
    """
    if covariance_type not in ("spherical", "tied", "diag", "full"):
        raise ValueError("covariance_type: expected one of 'spherical', 'tied', 'diag', 'full', "
                         f"got {covariance_type!r}")
    covars = np.array(value, dtype=float)
    if covariance_type == "spherical":
        if covars.ndim == 0 or len(covars) != n_components:
            raise ValueError(f"covars_: 'spherical' covars have length n_components={n_components}, "
                             f"got shape {covars.shape}")
        rows = covars.reshape(n_components, -1)
        if rows.shape[1] == 0 or not np.all(rows == rows[:, :1]):
            raise ValueError("covars_: 'spherical' covars must hold one variance per state")
        covars = rows[:, 0]
    expected_ndim = {"spherical": 1, "diag": 2, "tied": 2, "full": 3}[covariance_type]
    if covars.ndim != expected_ndim or (expected_ndim >= 2 and covariance_type != "diag"
                                        and covars.shape[-1] != covars.shape[-2]):
        shape = {"diag": "(n_components, n_dim)", "tied": "(n_dim, n_dim)", "full": "(n_components, n_dim, n_dim)"}
        raise ValueError(f"covars_: {covariance_type!r} covars must have shape {shape[covariance_type]}, "
                         f"got {covars.shape}")
    if not np.all(np.isfinite(covars)):
        raise ValueError("covars_: expected finite values")
    if covariance_type in ("spherical", "diag"):
        if np.any(covars <= 0):
            raise ValueError(f"covars_: {covariance_type!r} covars must be positive")
    else:
        for matrix in covars.reshape((-1,) + covars.shape[-2:]):
            if not np.allclose(matrix, matrix.T) or np.any(np.linalg.eigvalsh(matrix) <= 0):
                raise ValueError(f"covars_: {covariance_type!r} covars must be symmetric, positive-definite")
    return covars


def inferred_n_symbols(symbols: np.ndarray, name: str = "X") -> int:
    """The number of symbols implied by prepared ``symbols``: ``max + 1`` (1 when all are missing).

    Raises
    ------
    ValueError
        Naming ``name`` when ``max + 1`` exceeds both the number of observations and
        :data:`MIN_SYMBOL_BOUND` (set ``n_features`` to allow it).
    """
    observed = symbols[symbols != MISSING]
    n_symbols = int(observed.max()) + 1 if observed.size else 1
    if n_symbols > max(symbols.size, MIN_SYMBOL_BOUND):
        raise ValueError(f"{name}: symbol {n_symbols - 1} would make {n_symbols} symbols for {symbols.size} "
                         f"observation(s); symbols are codes 0..n_features − 1: recode them "
                         "(np.unique(X, return_inverse=True)) or set n_features")
    return n_symbols


class _BaseHMM(EstimatorProtocol):
    """What the HMM estimators (Gaussian, categorical, Poisson) share: fitting, inference, sampling, criteria.

    Subclasses give the emission (:meth:`_emission`), the names of their emission parameters
    (:attr:`_emission_params`, with attributes ``<name>_``) and their input check (:meth:`_data`).
    """

    _estimator_type = "DensityEstimator"
    _emission_params: tuple[str, ...] = ()
    #: hmmlearn's forward-backward implementation (a constructor argument of the hmmlearn-named
    #: classes); emkit has one, in log space.
    implementation = "log"
    #: The fitted scalars that :meth:`save` writes and :meth:`load` reads, with their kinds
    #: (:func:`~emkit.estimators.persistence.fitted_values`).
    _fitted_fields = {"lower_bounds_": "numbers?", "n_iter_": "count?", "converged_": "bool?"}

    @property
    def _param_names(self) -> tuple[str, ...]:
        return self._chain_param_names() + self._emission_params

    def _chain_param_names(self) -> tuple[str, ...]:
        """The chain's parameters (``startprob``, ``transmat``; an input-driven chain's differ)."""
        return CHAIN_PARAMS

    def _model_data(self, X, lengths) -> tuple:
        """The data as the model takes them: ``(X, lengths)`` (an input-driven chain adds its covariates)."""
        return X, lengths

    def _emission_attributes(self) -> dict[str, np.ndarray | None]:
        """The emission parameters as set on the estimator (``<name>_``; None when unset)."""
        return {name: getattr(self, f"{name}_", None) for name in self._emission_params}

    def _set_emission(self, params: dict[str, np.ndarray]) -> None:
        for name in self._emission_params:
            setattr(self, f"{name}_", params[name])

    def _n_features_of_params(self, params) -> int:
        """Columns of the first emission parameter, a (n_components, n_features) table."""
        name = self._emission_params[0]
        table = np.asarray(params[name])
        if table.ndim != 2:
            raise ValueError(f"{name}_: expected shape (n_components, n_features), got {table.shape}")
        return table.shape[1]

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True}

    def _data(self, X) -> np.ndarray:
        """``X``'s shape and missing cells checked (the values themselves by the family's ``prepare``)."""
        return check_observations(X)

    def _n_features_of(self, X: np.ndarray) -> int:
        """``X``'s columns; once :meth:`fit` has set ``n_features``, a refit must have as many
        (hmmlearn's ``_check_and_set_n_features``; ValueError naming X otherwise)."""
        n_features = X.shape[1]
        expected = getattr(self, "n_features", None)
        if expected is not None and expected != n_features:
            raise ValueError(f"X: got {n_features} feature(s) but this model has n_features={expected} (set by an "
                             "earlier fit); fit a new estimator for other features")
        return n_features

    # ----------------------------------------------------------------------------- fitting
    def fit(self, X, lengths=None) -> _BaseHMM:
        """Estimate the parameters by the Baum–Welch algorithm (EM), ``n_init`` starts.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The observations of all sequences, one after another (NaN: missing).
        lengths : array-like of int, optional
            Lengths of the sequences (their sum is ``n_samples``); one sequence when omitted.

        Returns
        -------
        self

        Notes
        -----
        hmmlearn's steps: the parameters named in ``init_params``, and those not set as attributes
        (``means_`` etc.), are started from the data (a set attribute that is overwritten is
        logged); then each of at most ``n_iter`` iterations evaluates the log-likelihood (plus log
        prior), reports it to :attr:`monitor_`, takes an M-step of the parameters in ``params``
        and stops when the monitor has converged (``n_iter=0``: the start only). On any error the
        estimator is left as it was.
        """
        self._check_hyperparameters()
        n_features = self._n_features_of(self._data(X))
        model = self._model(n_features)
        data = model.prepare(self._model_data(X, lengths))
        given = self._given_params(model.param_names)
        self._log_degenerate(model, data.n_samples * n_features, n_features)
        generator = self._start_generator()
        starts: list[dict[str, np.ndarray]] = []

        def start(rng: np.random.Generator) -> dict[str, np.ndarray]:
            """The engine's ``init(rng)``: the started parameters from the model's starting values
            (its deterministic default for the first start without a generator), the others from
            ``given``."""
            default = not starts and generator is None
            needed = len(given) < len(model.param_names)
            initial = self._initial_params(model, data, None if default else rng) if needed else {}
            starts.append({**self._started(initial), **given})
            return starts[-1]

        def log_prior(vector: np.ndarray) -> float:
            return model.log_prior(model.from_vector(vector, starts[-1]))

        monitor = self.monitor_
        with Progress.of(self.verbose) as progress, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="EM did not converge", category=ConvergenceWarning)
            best = fit(model, data, init=start, random_state=generator, n_init=self.n_init,
                       stopping=MonitorRule(monitor, log_prior), max_iter=self.n_iter,
                       accelerate=self.accelerate, verbose=progress)
        history = self._likelihoods(model, best)
        if list(monitor.history) != history:     # n_init > 1: the monitor saw the last start, not the best
            monitor._reset()
            monitor.history.extend(history)
            monitor.iter = len(history)
        met_tol = len(history) >= 2 and history[-1] - history[-2] < self.tol
        if self.n_iter > 0 and not met_tol:
            warnings.warn(f"Baum-Welch did not converge in n_iter={self.n_iter} iterations (tol={self.tol}); "
                          "increase n_iter or use accelerate='squarem'", bridged(ConvergenceWarning), stacklevel=2)
        self._set_fitted(best.params, best, model, n_features)
        self.converged_ = met_tol
        self._online_ = None
        return self

    def partial_fit(self, X, lengths=None) -> _BaseHMM:
        """One step of online EM (Cappé & Moulines 2009) on a batch of sequences.

        Keeps a running average of the expected sufficient statistics per observation,
        ``s_t = s_{t−1} + γ_t (S(batch_t; θ_{t−1}) / n_t − s_{t−1})`` with ``γ_t = t^(−0.6)``
        (:func:`emkit.fit_online`'s rule), and sets the parameters to the M-step of ``N_t s_t``
        (``N_t`` observations seen so far). A stream of batches from one HMM approaches the
        batch (``fit``) estimate of their union.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch: observations of one or more sequences, one after another (NaN: missing).
        lengths : array-like of int, optional
            Lengths of the batch's sequences; one sequence when omitted.

        Returns
        -------
        self

        Notes
        -----
        The first call starts the stream from the current parameters when all are set (after
        ``fit``, or by hand), else as :meth:`fit` starts (``init_params``, ``random_state``) on this
        batch. Gaussian statistics are taken about a centre fixed at the first batch (the mean
        of its observed values), so that statistics of different batches add up exactly. A later
        :meth:`fit` ends the stream. ``lower_bounds_`` holds the log-likelihood of each batch at
        the parameters before its step, ``n_iter_`` the number of steps. For
        :class:`CategoricalHMM`, set ``n_features`` when the first batch may not show every
        symbol. On any error the estimator is left as it was.
        """
        self._check_hyperparameters()
        state = getattr(self, "_online_", None)
        if state is None:
            n_features = self._n_features_of(self._data(X))
            model = self._model(n_features)
            data = model.prepare(self._model_data(X, lengths))
            if self.__sklearn_is_fitted__():
                start = self._attribute_params()
            else:
                rng = self._start_generator()
                given = self._given_params(model.param_names)
                start = {**(self._started(self._initial_params(model, data, rng)) if len(given) < len(model.param_names)
                            else {}), **given}
            state, history = OnlineEM(model, model.check_params(start), context=data.context), []
        else:
            data, history, n_features = state.prepare((X, lengths)), list(self.lower_bounds_), self.n_features_
        loglik = state.step(data, data.n_samples)
        self._set_fitted(state.params, None, state.model, n_features)
        self._online_ = state
        self.lower_bounds_ = history + [loglik]
        self.n_iter_ = state.n_batches
        self.converged_ = False
        return self

    def _given_params(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Starting values of the parameters among ``names`` (the model's) that ``fit`` does not
        start: those left out of ``init_params`` and set as attributes (``<name>_``, also for a
        family not known before the fit). hmmlearn's rule and log message: a parameter in
        ``init_params`` is started even when set, one not set is started anyway."""
        given, attributes, started = {}, self._attribute_params(), self._initialised()
        for name in names:
            value = attributes[name] if name in attributes else getattr(self, f"{name}_", None)
            if value is None:
                continue
            if started is None or name in started:
                _log.warning("Even though the %r attribute is set, it will be overwritten during initialization "
                             "because 'init_params' contains %r", f"{name}_", self._code_of(name))
                continue
            given[name] = value
        return given

    #: Without ``random_state``, start from NumPy's global state (hmmlearn's, as scikit-learn's
    #: ``check_random_state(None)``); False: the model's deterministic first start.
    _start_from_global_state = True

    def _start_generator(self) -> np.random.Generator | None:
        """The generator of the starts: ``random_state``'s; without it, one drawn from NumPy's
        global state (so ``np.random.seed`` makes the fit repeatable), or None (the model's
        deterministic first start) where :attr:`_start_from_global_state` is False."""
        if self.random_state is not None:
            return _generator(self.random_state)
        return _generator(np.random.mtrand._rand) if self._start_from_global_state else None

    def _initial_params(self, model: HiddenMarkovModel, data, rng: np.random.Generator | None) -> dict[str, np.ndarray]:
        """The starting values of every parameter: the model's (``rng`` None: its deterministic start)."""
        return model.initial_params(data, rng)

    def _started(self, initial: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's starting values as this estimator starts them (the Gaussian ones add ``min_covar``)."""
        return initial

    def _scalars_per_letter(self, n_features: int) -> dict[str, int] | None:
        """hmmlearn's ``_get_n_fit_scalars_per_param``: the free scalars of each parameter, by its
        letter (``"s"``: ``K − 1``, ``"t"``: ``K(K − 1)``, the emission's); None where the class has
        no letters (:class:`~emkit.HMM`: the model's own count)."""
        emission = self._emission_scalars(n_features)
        if emission is None:
            return None
        k = self.n_components
        options = self._chain_options()
        held = transition_constraints(k, topology=options["topology"], bandwidth=options["bandwidth"],
                                      fixed_transmat=options["fixed_transmat"])
        return {"s": 0 if options["initial"] == "stationary" else k - 1, "t": coordinate_count(held, k), **emission}

    def _emission_scalars(self, n_features: int) -> dict[str, int] | None:
        """The emission's part of :meth:`_scalars_per_letter` (hmmlearn's counts)."""
        return None

    def _n_learned_scalars(self, model: HiddenMarkovModel, n_features: int) -> int:
        """Free scalars of the parameters in ``params`` (hmmlearn's count, letter by letter)."""
        per_letter = self._scalars_per_letter(n_features)
        if per_letter is None:
            return model.n_free_parameters()
        return sum(per_letter[letter] for letter in self.params if letter in per_letter)

    def _log_degenerate(self, model: HiddenMarkovModel, n_values: int, n_features: int) -> None:
        """hmmlearn's log message when the data hold fewer values than the learned free scalars."""
        n_free = self._n_learned_scalars(model, n_features)
        if n_values < n_free:
            _log.warning("Fitting a model with %d free scalar parameters with only %d data points will result in a "
                         "degenerate solution.", n_free, n_values)

    def _set_fitted(self, params: dict[str, np.ndarray], result: EMResult | None, model: HiddenMarkovModel,
                    n_features: int) -> None:
        """Assign the fitted attributes together (a failed fit leaves the estimator unchanged);
        ``model`` is the fitted model (whose emission :class:`HMM` keeps), ``n_features`` the
        number of features it was made for."""
        for name in self._chain_param_names():
            setattr(self, f"{name}_", params[name])
        self._set_emission(params)
        self.n_features_ = n_features
        self.n_features = n_features
        if result is not None:
            self.lower_bounds_ = self._likelihoods(model, result)
            self.n_iter_ = int(result.n_iter)
            self.converged_ = bool(result.converged)
            self.result_ = result

    @staticmethod
    def _likelihoods(model: HiddenMarkovModel, result: EMResult) -> list[float]:
        """The log-likelihood of each iterate of ``result`` (hmmlearn's ``monitor_.history``): the
        engine's log-posterior less ``model.log_prior``."""
        return [loglik - model.log_prior(params) for loglik, params in zip(result.trace.loglik, result.trace.params)]

    def _check_hyperparameters(self) -> None:
        check_integer(self.n_components, "n_components")
        check_integer(self.n_iter, "n_iter", low=0)
        check_integer(self.n_init, "n_init")
        check_real(self.tol, "tol", low=0.0)
        if self.algorithm not in DECODERS:
            raise ValueError(f"algorithm: expected one of {DECODERS}, got {self.algorithm!r}")
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation: expected one of {IMPLEMENTATIONS}, got {self.implementation!r}")
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate: expected None or 'squarem', got {self.accelerate!r}")
        self._learned()
        self._initialised()

    #: hmmlearn's letters of the emission parameters (``"m"``: ``means``, ...).
    _letters: dict[str, str] = {}

    def _names_of(self, option: str) -> tuple[str, ...]:
        """The parameters that ``params`` or ``init_params`` (``option``) name: hmmlearn's letters,
        ``"s"`` startprob, ``"t"`` transmat and the class's; other letters name nothing (hmmlearn
        ignores them too)."""
        value = getattr(self, option)
        table = {**CHAIN_LETTERS, **self._letters}
        if not isinstance(value, str):
            raise ValueError(f"{option}: expected a string of letters among {''.join(table)!r}, got {value!r}")
        return tuple(name for letter, name in table.items() if letter in value)

    def _code_of(self, name: str) -> str:
        """The letter of parameter ``name`` (its name where it has none)."""
        return next((letter for letter, named in {**CHAIN_LETTERS, **self._letters}.items() if named == name), name)

    def _learned(self) -> tuple[str, ...]:
        return self._names_of("params")

    def _initialised(self) -> tuple[str, ...]:
        return self._names_of("init_params")

    # ------------------------------------------------------------------------ the model
    def _model(self, n_features: int) -> HiddenMarkovModel:
        return self._chain_model(self._emission(n_features))

    def _chain_model(self, emission) -> HiddenMarkovModel:
        """The hidden Markov model of ``emission`` with these settings (priors, ``params``, threads)."""
        return HiddenMarkovModel(emission, self.n_components, startprob_prior=self.startprob_prior,
                                 transmat_prior=self.transmat_prior,
                                 learn=self._learned(), n_jobs=self.n_jobs, **self._chain_options())

    def _chain_options(self) -> dict[str, Any]:
        """The chain's options (:class:`HiddenMarkovModel`'s ``initial``, ``topology``,
        ``bandwidth``, ``fixed_transmat``)."""
        return {name: getattr(self, name) for name in ("initial", "topology", "bandwidth", "fixed_transmat")}

    def _fitted_model(self) -> tuple[HiddenMarkovModel, dict[str, np.ndarray]]:
        """The model at the current attributes (fitted, or set by hand)."""
        self._check_is_fitted()
        params = self._attribute_params()
        model = self._model(self._n_features_of_params(params))
        return model, model.check_params(params)

    def __sklearn_is_fitted__(self) -> bool:
        return all(value is not None for value in self._attribute_params().values())

    def _check_is_fitted(self) -> None:
        missing = [f"{name}_" for name, value in self._attribute_params().items() if value is None]
        if missing:
            raise bridged(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet ({', '.join(missing)} not set). Call 'fit' "
                "with appropriate arguments, or set the parameters, before using this estimator.")

    def _attribute_params(self) -> dict[str, np.ndarray | None]:
        return {**{name: getattr(self, f"{name}_", None) for name in self._chain_param_names()},
                **self._emission_attributes()}

    # -------------------------------------------------------------------------- inference
    def score_samples(self, X, lengths=None) -> tuple[float, np.ndarray]:
        """Log-likelihood ``log p(X)`` and the posteriors ``p(z_t = k | X)``, shape (n, K)."""
        model, params = self._fitted_model()
        return model.score_samples(self._model_data(X, lengths), params)

    def score(self, X, lengths=None) -> float:
        """Log-likelihood ``log p(X) = Σ_sequences log Σ_z p(x, z)`` (the forward algorithm)."""
        return self.score_samples(X, lengths)[0]

    def predict_proba(self, X, lengths=None) -> np.ndarray:
        """Posterior state probabilities ``γ_t(k) = p(z_t = k | X)``, shape (n, K)."""
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm: str | None = None) -> tuple[float, np.ndarray]:
        """Most likely states and hmmlearn's score of them: ``"viterbi"`` (the best path, with
        ``max_z log p(X, z)``) or ``"map"`` (the most probable state of each step, with
        hmmlearn's ``Σ_t max_k γ_t(k)``, a sum of probabilities, not a log-probability)."""
        algorithm = algorithm or self.algorithm
        if algorithm not in DECODERS:
            raise ValueError(f"algorithm: expected one of {DECODERS}, got {algorithm!r}")
        model, params = self._fitted_model()
        if algorithm == "map":
            posteriors = model.score_samples(self._model_data(X, lengths), params)[1]
            return float(posteriors.max(axis=1).sum()), posteriors.argmax(axis=1)
        return model.decode(self._model_data(X, lengths), params, algorithm)

    def predict(self, X, lengths=None) -> np.ndarray:
        """The decoded state of every step (by :attr:`algorithm`)."""
        return self.decode(X, lengths)[1]

    def sample(self, n_samples: int = 1, random_state=None, currstate: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Draw one sequence: ``z_1 ~ π`` (or ``currstate``), ``z_t ~ A[z_{t−1}]``, ``x_t ~ p(x | z_t)``.

        ``random_state`` None uses the estimator's; when that is None too, the draws come from
        NumPy's global state (as scikit-learn's ``check_random_state``), so ``np.random.seed``
        makes them repeatable.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        states : ndarray of shape (n_samples,)
        """
        model, params = self._fitted_model()
        if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
            raise ValueError(f"n_samples: must be a positive integer, got {n_samples!r}")
        if currstate is not None and not (isinstance(currstate, (int, np.integer))
                                          and 0 <= currstate < self.n_components):
            raise ValueError(f"currstate: expected a state in 0..{self.n_components - 1}, got {currstate!r}")
        if random_state is None:
            random_state = self.random_state
        rng = _generator(np.random.mtrand._rand if random_state is None else random_state)
        return model.sample(params, int(n_samples), rng, start_state=currstate)

    def get_stationary_distribution(self) -> np.ndarray:
        """The stationary distribution ``π_∞`` of the chain: ``π_∞ A = π_∞``, ``Σ π_∞ = 1`` (the left
        eigenvector of ``transmat_`` for its eigenvalue of largest real part, hmmlearn's)."""
        self._check_is_fitted()
        eigenvalues, eigenvectors = np.linalg.eig(np.asarray(self.transmat_, dtype=float).T)
        vector = np.real_if_close(eigenvectors[:, np.argmax(eigenvalues.real)])
        return vector / vector.sum()

    def _n_parameters(self) -> int:
        """The ``p`` of :meth:`aic` and :meth:`bic`: hmmlearn's count, every parameter's free
        scalars whether learned or not (``sum(_get_n_fit_scalars_per_param().values())``); the
        learned free parameters for :class:`~emkit.HMM`."""
        model, params = self._fitted_model()
        per_letter = self._scalars_per_letter(self._n_features_of_params(params))
        return model.n_free_parameters() if per_letter is None else sum(per_letter.values())

    def bic(self, X, lengths=None) -> float:
        """Bayesian information criterion ``−2 log L + p log n`` (``p`` free parameters, hmmlearn's
        count: see :meth:`_n_parameters`; ``n`` observations)."""
        return -2.0 * self.score(X, lengths) + self._n_parameters() * np.log(np.shape(X)[0])

    def aic(self, X, lengths=None) -> float:
        """Akaike information criterion ``−2 log L + 2p``."""
        return -2.0 * self.score(X, lengths) + 2.0 * self._n_parameters()

    # ------------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the constructor arguments and parameters to ``path`` (``.json`` or ``.npz``)."""
        _, params = self._fitted_model()
        config = self._saved_arguments()
        config["fitted"] = {name: _jsonable(getattr(self, name, None)) for name in self._fitted_fields}
        return save_state(path, type(self).__name__, config, {f"{name}_": value for name, value in params.items()})

    def _saved_arguments(self) -> dict[str, Any]:
        """The constructor arguments as JSON (a ``random_state`` that is not an int as None)."""
        config = {name: _jsonable(value) for name, value in self.get_params(deep=False).items()}
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            config["random_state"] = None
        if self.fixed_transmat is not None:    # JSON has no NaN: a free entry is stored as null
            config["fixed_transmat"] = [[None if np.isnan(value) else value for value in row]
                                        for row in np.asarray(self.fixed_transmat, dtype=float).tolist()]
        return config

    @classmethod
    def _stored_arguments(cls, arguments: dict[str, Any], path: Path) -> dict[str, Any]:
        """The constructor arguments read by :meth:`load`."""
        return arguments

    def _stored_n_features(self, params: dict[str, np.ndarray], fitted: dict[str, Any]) -> int:
        """The number of features of loaded parameters (those of the emission tables)."""
        return self._n_features_of_params(params)

    @classmethod
    def load(cls, path: str | Path) -> _BaseHMM:
        """Read an estimator written by :meth:`save`.

        Everything ``fit`` checks is checked again: the constructor arguments (priors included),
        the parameters (shapes for ``n_components`` and the features, probability rows, finite
        means, positive-definite covariances) and the fitted scalars.

        Raises
        ------
        ValueError
            When the file is not a saved estimator of this class or a value is out of its
            domain; the message names the file and the field.
        """
        path = Path(path)
        config, arrays = load_state(path, cls.__name__)
        arguments = cls._stored_arguments(constructor_arguments(config, cls, path), path)
        fitted = fitted_values(config, cls._fitted_fields, path)
        estimator = cls(**arguments)
        try:
            estimator._check_hyperparameters()
            _generator(estimator.random_state)
        except ValueError as error:
            raise ValueError(f"{path}: config.{error}") from None
        stored = named_arrays(arrays, [f"{name}_" for name in estimator._param_names], path)
        params = {name[:-1]: value for name, value in stored.items()}
        try:
            n_features = estimator._stored_n_features(params, fitted)
            if getattr(estimator, "n_features", None) not in (None, n_features):
                raise ValueError(f"n_features: the constructor argument is {estimator.n_features} but the "
                                 f"parameters have {n_features} features")
            model = estimator._model(n_features)
            params = model.check_params(params)
        except ValueError as error:
            raise ValueError(f"{path}: arrays: {error}") from None
        estimator._set_fitted(params, None, model, n_features)
        for name, value in fitted.items():
            if value is not None:
                setattr(estimator, name, value)
        return estimator

class GaussianHMM(_BaseHMM):
    """Hidden Markov model with Gaussian emissions, ``x_t | z_t = k ~ N(μ_k, Σ_k)``.

    Parameters
    ----------
    n_components : int, default=1
        Number of hidden states.
    covariance_type : {"diag", "full", "spherical", "tied"}, default="diag"
        Covariance structure (hmmlearn's).
    min_covar : float, default=1e-3
        hmmlearn's: added to the diagonal of the started covariances (it does not floor the
        M-step as emkit's ``reg_covar`` did; ``covars_prior`` regularises the M-step).
    startprob_prior, transmat_prior : float or array, default=1.0
        Dirichlet concentrations (``≥ 1``) of ``startprob_`` and of each row of ``transmat_``;
        values above 1 add pseudo-counts, so states that are never visited keep proper rows.
    means_prior, means_weight, covars_prior, covars_weight : float or array
        hmmlearn's normal / inverse-gamma (Wishart) prior on the means and covariances
        (defaults 0, 0, 1e-2, 1): the M-step is their posterior mode (see the module notes).
    algorithm : {"viterbi", "map"}, default="viterbi"
        Decoder of :meth:`predict`.
    random_state : int, numpy Generator or RandomState, optional
        Seed of the start (k-means) and of :meth:`sample`; None: both draw from NumPy's global
        state (hmmlearn's rule; ``np.random.seed`` makes them repeatable).
    n_iter : int, default=10
        Maximum number of Baum–Welch iterations per start (0: :meth:`fit` only starts).
    tol : float, default=1e-2
        Converged when an iteration gains less than ``tol`` log-likelihood (hmmlearn's rule, decided
        by :attr:`monitor_`).
    verbose : bool or Progress, default=False
        Show the initialisation and the Baum-Welch iterations on standard error (a
        :class:`~emkit.engine.progress.Progress`: on that display, shared).
    params : str, default="stmc"
        Parameters re-estimated by EM: ``s`` startprob, ``t`` transmat, ``m`` means, ``c`` covars.
    init_params : str, default="stmc"
        Parameters started by :meth:`fit` from the data; the others keep the attributes set
        beforehand, or are started when not set (hmmlearn's rule, with its log messages).
    implementation : {"log", "scaling"}, default="log"
        hmmlearn's choice of forward-backward; both give emkit's one exact log-space answer.
    n_init : int, default=1
        Number of starts (the first from ``random_state``, the others random); the best is kept.
    accelerate : {None, "squarem"}, default=None
        Run SQUAREM on the Baum–Welch map.
    n_jobs : int, optional
        Threads over which the sequences are spread (default: the number of CPUs).
    initial : {"free", "stationary"}, default="free"
        ``"stationary"``: ``startprob_`` is the stationary distribution of ``transmat_``
        (Zucchini & MacDonald's default), re-estimated with it, not a parameter of its own.
    topology : {"ergodic", "left-right", "banded"}, default="ergodic"
        Allowed transitions: all; ``j ≥ i``; ``|j − i| ≤ bandwidth``. Forbidden ones stay zero.
    bandwidth : int, optional
        The longest allowed jump of a left-right (optional) or banded (required) chain.
    fixed_transmat : array of shape (n_components, n_components), optional
        Transition probabilities held at these values (NaN or None: free); each row's free mass is
        re-estimated (in closed form). The defaults (free start, ergodic chain) are hmmlearn's.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    means_ : ndarray of shape (n_components, n_features)
    covars_ : ndarray of shape (n_components, n_features, n_features)
        Covariance matrices (full, whatever the type, as in hmmlearn); set it in the compact
        shape of ``covariance_type`` (``(K,)``, ``(K, d)``, ``(K, d, d)`` or ``(d, d)``).
    monitor_ : ConvergenceMonitor
        hmmlearn's monitor: ``history`` (the log-likelihood, without the log prior, reported by
        each iteration of the best start), ``iter``, ``converged``; replace it by a subclass to change
        the rule.
    lower_bounds_ : list of float
        ``list(monitor_.history)``; the fitted parameters are one M-step past its last value.
    n_iter_ : int
        Number of EM iterations of the best start.
    converged_ : bool
        Whether the last iteration gained less than ``tol``.
    n_features : int
        Number of features, set by :meth:`fit` (hmmlearn's; also ``n_features_``).
    result_ : EMResult
        The engine's result (trace of parameters, number of passes over the data).
    """

    _emission_params = ("means", "covars")
    _letters = {"m": "means", "c": "covars"}

    def __init__(self, n_components: int = 1, covariance_type: str = "diag", min_covar: float = 1e-3,
                 startprob_prior=1.0, transmat_prior=1.0, means_prior=0, means_weight=0, covars_prior=1e-2,
                 covars_weight=1,
                 algorithm: str = "viterbi", random_state=None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool | Progress = False, params: str = "stmc", init_params: str = "stmc",
                 implementation: str = "log", *, n_init: int = 1, accelerate: str | None = None,
                 n_jobs: int | None = None, initial: str = "free",
                 topology: str = "ergodic", bandwidth: int | None = None, fixed_transmat=None) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate
        self.n_jobs = n_jobs
        self.initial = initial
        self.topology = topology
        self.bandwidth = bandwidth
        self.fixed_transmat = fixed_transmat
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    @property
    def covars_(self) -> np.ndarray:
        """Covariance matrices, shape (n_components, n_features, n_features)."""
        covars = getattr(self, "_covars_", None)
        if covars is None:
            raise AttributeError("covars_ is not set")
        d = (covariance_structure(self.covariance_type).n_features_of(covars) or getattr(self, "n_features", None)
             or np.shape(self.means_)[1])
        return self._emission(d).full_covariances(covars, self.n_components)

    @covars_.setter
    def covars_(self, value) -> None:
        self._covars_ = checked_covars(value, self.covariance_type, self.n_components)

    def _emission(self, n_features: int) -> Gaussian:
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type: expected one of {COVARIANCE_TYPES}, got {self.covariance_type!r}")
        prior = gaussian_hmm_prior(self.covariance_type, self.n_components, n_features, self.means_prior,
                                   self.means_weight, self.covars_prior, self.covars_weight)
        return JitteredGaussian(n_features, self.covariance_type, 0.0, covariance_prior=prior)

    def _started(self, initial: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return with_min_covar(initial, self.covariance_type, self.min_covar)

    def _emission_scalars(self, n_features: int) -> dict[str, int]:
        k, d = self.n_components, n_features
        return {"m": k * d, "c": {"spherical": k, "diag": k * d, "full": k * d * (d + 1) // 2,
                                  "tied": d * (d + 1) // 2}[self.covariance_type]}

    def _emission_attributes(self) -> dict[str, np.ndarray | None]:
        return {"means": getattr(self, "means_", None), "covars": getattr(self, "_covars_", None)}

    def _set_emission(self, params: dict[str, np.ndarray]) -> None:
        self.means_ = params["means"]
        self._covars_ = params["covars"]

    def _n_features_of_params(self, params) -> int:
        means = np.asarray(params["means"])
        if means.ndim != 2:
            raise ValueError(f"means_: expected shape (n_components, n_features), got {means.shape}")
        expected = covariance_shape(self.covariance_type, self.n_components, means.shape[1])
        if np.shape(params["covars"]) != expected:
            raise ValueError(f"covars_: expected shape {expected} for covariance_type={self.covariance_type!r}, "
                             f"got {np.shape(params['covars'])}")
        return means.shape[1]


class CategoricalHMM(_BaseHMM):
    """Hidden Markov model with categorical emissions: state ``k`` emits symbol ``m`` with
    probability ``emissionprob_[k, m]``.

    ``X`` holds integer symbols ``0, …, n_features − 1`` in one column, shape (n_samples, 1)
    (NaN: missing). Parameters as :class:`GaussianHMM` (``params``/``init_params`` default
    ``"ste"``, ``e`` for ``emissionprob``) and:

    Parameters
    ----------
    emissionprob_prior : float or array of shape (n_components, n_features), default=1.0
        Dirichlet concentrations (``≥ 1``) of each row of ``emissionprob_``.
    n_features : int, optional
        Number of symbols; by default one more than the largest symbol in ``fit``'s ``X`` (set by
        :meth:`fit`, as hmmlearn does).

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_features)
    """

    _emission_params = ("emissionprob",)
    _letters = {"e": "emissionprob"}

    def __init__(self, n_components: int = 1, startprob_prior=1.0, transmat_prior=1.0, *, emissionprob_prior=1.0,
                 n_features: int | None = None,
                 algorithm: str = "viterbi", random_state=None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool | Progress = False, params: str = "ste", init_params: str = "ste",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, n_jobs: int | None = None, initial: str = "free",
                 topology: str = "ergodic", bandwidth: int | None = None, fixed_transmat=None) -> None:
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate
        self.n_jobs = n_jobs
        self.initial = initial
        self.topology = topology
        self.bandwidth = bandwidth
        self.fixed_transmat = fixed_transmat
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True, "categorical": True}

    def _emission(self, n_features: int) -> CategoricalEmission:
        return CategoricalEmission(n_features, self.emissionprob_prior)

    def _emission_scalars(self, n_features: int) -> dict[str, int]:
        return {"e": self.n_components * (n_features - 1)}

    def _data(self, X) -> np.ndarray:
        return check_symbols(X)

    def _n_features_of(self, X: np.ndarray) -> int:
        if self.n_features is not None:
            return self.n_features
        if "emissionprob" not in self._initialised() and getattr(self, "emissionprob_", None) is not None:
            return np.shape(self.emissionprob_)[1]
        return inferred_n_symbols(X)


class PoissonHMM(_BaseHMM):
    """Hidden Markov model with Poisson emissions: given state ``k`` the ``n_features`` columns
    are independent counts, ``x_tj ~ Poisson(λ_kj)`` (:class:`emkit.families.Poisson`).

    ``X`` holds non-negative integer counts, shape (n_samples, n_features) (NaN: a missing cell,
    marginalised). Parameters as :class:`GaussianHMM` (``params``/``init_params`` default
    ``"stl"``, ``l`` for ``lambdas``); the M-step is the mode ``λ_kj = (α_kj + Σ_t γ_t(k) x_tj) /
    (β_kj + Σ_t γ_t(k))`` over the observed cells under hmmlearn's Gamma prior (``lambdas_prior``
    ``α``, ``lambdas_weight`` ``β``; 0 and 0, maximum likelihood, by default). hmmlearn 0.3.3
    divides by the occupancy of all states instead, which equals the mode for one state or
    without a prior (see the module notes). The start of
    ``lambdas`` spreads each column's mean over the states (``random_state`` None) or draws
    ``mean · Gamma(2, ½)``; :meth:`sample` returns the counts as floats.

    Attributes
    ----------
    lambdas_ : ndarray of shape (n_components, n_features)
        The rate of each column in each state.
    """

    _emission_params = ("lambdas",)
    _letters = {"l": "lambdas"}

    def __init__(self, n_components: int = 1, startprob_prior=1.0, transmat_prior=1.0, lambdas_prior=0.0,
                 lambdas_weight=0.0,
                 algorithm: str = "viterbi", random_state=None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool | Progress = False, params: str = "stl", init_params: str = "stl",
                 implementation: str = "log", *, n_init: int = 1, accelerate: str | None = None,
                 n_jobs: int | None = None, initial: str = "free",
                 topology: str = "ergodic", bandwidth: int | None = None, fixed_transmat=None) -> None:
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate
        self.n_jobs = n_jobs
        self.initial = initial
        self.topology = topology
        self.bandwidth = bandwidth
        self.fixed_transmat = fixed_transmat
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True, "positive_only": True}

    def _emission(self, n_features: int) -> Poisson:
        return Poisson(n_features, **poisson_hmm_prior(self.n_components, n_features, self.lambdas_prior,
                                                       self.lambdas_weight))

    def _emission_scalars(self, n_features: int) -> dict[str, int]:
        return {"l": self.n_components * n_features}


class MultinomialHMM(_BaseHMM):
    """Hidden Markov model with multinomial emissions (hmmlearn 0.3's ``MultinomialHMM``): given
    state ``k`` a row of counts over ``n_features`` categories is ``x_t ~ Multinomial(N_t, p_k)``
    with ``p_k = emissionprob_[k]`` (:class:`emkit.families.Multinomial`).

    ``X`` holds non-negative integer counts, shape (n_samples, n_features); a row with a NaN is
    missing as a whole. Parameters as :class:`GaussianHMM` (``params``/``init_params`` default
    ``"ste"``, ``e`` for ``emissionprob``) and:

    Parameters
    ----------
    n_trials : int or array of int, optional
        The number of trials ``N`` of every row (an int) or of each row (an array, hmmlearn's),
        checked against the row sums by :meth:`fit`; :meth:`sample` needs one number for all
        rows. None: each row's own sum.

    The M-step is ``p_kj ∝ Σ_t γ_t(k) x_tj``, hmmlearn's; from the same start the log-likelihood
    of every iteration equals hmmlearn's. The start of ``emissionprob`` tilts the overall category
    frequencies apart (``random_state`` None) or draws flat-Dirichlet rows.

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_features)
        The category probabilities of each state.
    """

    _emission_params = ("emissionprob",)
    _letters = {"e": "emissionprob"}

    def __init__(self, n_components: int = 1, n_trials=None, startprob_prior=1.0, transmat_prior=1.0,
                 algorithm: str = "viterbi", random_state=None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool | Progress = False, params: str = "ste", init_params: str = "ste",
                 implementation: str = "log", *, n_init: int = 1, accelerate: str | None = None,
                 n_jobs: int | None = None, initial: str = "free",
                 topology: str = "ergodic", bandwidth: int | None = None, fixed_transmat=None) -> None:
        self.n_components = n_components
        self.n_trials = n_trials
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate
        self.n_jobs = n_jobs
        self.initial = initial
        self.topology = topology
        self.bandwidth = bandwidth
        self.fixed_transmat = fixed_transmat
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True, "positive_only": True}

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        self._trials()

    def _trials(self) -> np.ndarray | None:
        """``n_trials`` checked: None, or an int (every row) or a 1-D array (one per row) of
        non-negative integers, as an array."""
        if self.n_trials is None:
            return None
        trials = np.asarray(self.n_trials)
        if trials.ndim > 1 or trials.size == 0 or trials.dtype.kind not in "iuf" \
                or not np.all((trials >= 0) & (trials == np.round(trials))):
            raise ValueError(f"n_trials: expected a non-negative integer or a 1-D array of them, got {self.n_trials!r}")
        return trials.astype(np.int64)

    def _common_trials(self) -> int | None:
        """The number of trials of every row when ``n_trials`` gives one (an int, or an array of
        equal values); None otherwise (each row its own sum)."""
        trials = self._trials()
        return None if trials is None or np.any(trials != trials.flat[0]) else int(trials.flat[0])

    def _data(self, X) -> np.ndarray:
        """``X`` checked; with ``n_trials`` an array, one entry per row equal to the row's sum
        (hmmlearn's check)."""
        X = check_observations(X)
        trials = self._trials()
        if trials is not None and trials.ndim == 1:
            if trials.size != X.shape[0]:
                raise ValueError(f"n_trials: expected one number of trials per row of X ({X.shape[0]}), "
                                 f"got {trials.size}")
            sums = X.sum(axis=1)
            wrong = np.flatnonzero(~np.isnan(sums) & (sums != trials))
            if wrong.size:
                raise ValueError(f"X: row {wrong[0]} sums to {sums[wrong[0]]:g} counts, not n_trials[{wrong[0]}]="
                                 f"{trials[wrong[0]]}")
        return X

    def _emission(self, n_features: int) -> Multinomial:
        return Multinomial(n_features, self._common_trials())

    def _emission_scalars(self, n_features: int) -> dict[str, int]:
        return {"e": self.n_components * (n_features - 1)}


class GMMHMM(_BaseHMM):
    """Hidden Markov model with Gaussian-mixture emissions: given state ``k``,
    ``x_t ~ Σ_m w_km N(μ_km, Σ_km)`` (hmmlearn's ``GMMHMM``; the emission is
    :class:`emkit.families.FiniteMixture` of a Gaussian family with ``K·n_mix`` components).

    Parameters as :class:`GaussianHMM` in hmmlearn's order (``n_mix`` second, ``covariance_type``
    after ``algorithm``; ``params``/``init_params`` default ``"stmcw"``, ``w`` for ``weights``) and:

    Parameters
    ----------
    n_mix : int, default=1
        Number of Gaussian components ``M`` of each state's mixture.
    covariance_type : {"diag", "full", "spherical", "tied"}, default="diag"
        Covariance structure of each mixture component; ``"tied"``: the ``M`` components of a
        state share one full covariance (hmmlearn's; ``covars_`` of shape (n_components,
        n_features, n_features)).
    weights_prior : float or array of shape (n_components, n_mix), default=1.0
        Dirichlet concentrations (``≥ 1``) of each state's mixture weights.

    The M-step is hmmlearn's ECM order (Meng & Rubin 1993; :class:`~emkit.families.FiniteMixture`'s
    ``conditional_steps``): the covariances maximise the expected complete-data log-posterior
    given the *previous* means (each the scatter about its previous mean), then the means given
    them; each step raises it, so the monitored log-likelihood (plus log prior) never decreases.
    These are hmmlearn's iterates (to rounding) whenever ``means_weight`` is 0 (its default). With
    ``means_weight > 0`` hmmlearn evaluates the means prior's ``κ(μ − m)(μ − m)ᵀ`` at the *new*
    means but the scatter at the old ones, which is no conditional maximisation and can lower the
    log-posterior; here both are at the previous means, so the iterates differ while the means
    move (at a fixed point the old and new means are equal, so the fixed points are the same).
    hmmlearn's normal and inverse-gamma/Wishart priors (``means_prior``, ``covars_prior``, ...;
    ``None``: hmmlearn's defaults per covariance type) make the step a MAP step (see the module
    notes). The start is
    hmmlearn's (:meth:`_initial_params`): k-means with ``K`` clusters, then ``M`` centres within
    each cluster, equal weights and the data's covariance plus ``min_covar``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components, n_mix)
    means_ : ndarray of shape (n_components, n_mix, n_features)
    covars_ : ndarray
        Shape (n_components, n_mix, n_features, n_features) for "full",
        (n_components, n_mix, n_features) for "diag", (n_components, n_mix) for "spherical".
    """

    _emission_params = ("weights", "means", "covars")
    _letters = {"w": "weights", "m": "means", "c": "covars"}

    def __init__(self, n_components: int = 1, n_mix: int = 1, min_covar: float = 1e-3, startprob_prior=1.0,
                 transmat_prior=1.0, weights_prior=1.0, means_prior=0.0, means_weight=0.0, covars_prior=None,
                 covars_weight=None, algorithm: str = "viterbi", covariance_type: str = "diag", random_state=None,
                 n_iter: int = 10, tol: float = 1e-2, verbose: bool | Progress = False, params: str = "stmcw",
                 init_params: str = "stmcw", implementation: str = "log", *, n_init: int = 1,
                 accelerate: str | None = None, n_jobs: int | None = None, initial: str = "free",
                 topology: str = "ergodic", bandwidth: int | None = None, fixed_transmat=None) -> None:
        self.n_components = n_components
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.covariance_type = covariance_type
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate
        self.n_jobs = n_jobs
        self.initial = initial
        self.topology = topology
        self.bandwidth = bandwidth
        self.fixed_transmat = fixed_transmat
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        self._check_mixture()

    def _check_mixture(self) -> None:
        """``n_mix`` and ``covariance_type``; ``ValueError`` naming the bad one."""
        check_integer(self.n_mix, "n_mix")
        if self.covariance_type not in GMM_COVARIANCE_TYPES:
            raise ValueError(f"covariance_type: expected one of {GMM_COVARIANCE_TYPES}, got {self.covariance_type!r}")

    @property
    def _tied(self) -> bool:
        """hmmlearn's "tied": the ``n_mix`` components of a state share one full covariance."""
        return self.covariance_type == "tied"

    @property
    def _inner_type(self) -> str:
        """The covariance type of the ``K·n_mix`` Gaussian sub-components ("full" for "tied")."""
        return "full" if self._tied else self.covariance_type

    def _emission(self, n_features: int) -> FiniteMixture:
        self._check_mixture()
        weights_prior, prior = gmm_hmm_priors(self.covariance_type, self.n_components, self.n_mix, n_features,
                                              self.weights_prior, self.means_prior, self.means_weight,
                                              self.covars_prior, self.covars_weight)
        gaussian = JitteredGaussian(n_features, self._inner_type, 0.0, covariance_prior=prior)
        if not self._tied:
            return FiniteMixture(gaussian, self.n_mix, weights_prior, weights_name="weights",
                                 conditional_steps=HMMLEARN_CM_ORDER)
        return FiniteMixture(gaussian, self.n_mix, weights_prior, weights_name="weights", shared="covars",
                             shared_offset=tied_offset(prior, n_features), conditional_steps=HMMLEARN_CM_ORDER)

    def _initial_params(self, model: HiddenMarkovModel, data, rng: np.random.Generator | None) -> dict[str, np.ndarray]:
        """hmmlearn's start (``GMMHMM._init``): k-means with ``K`` clusters on the complete rows
        (in their own units), then k-means with ``n_mix`` centres within each cluster (a cluster
        with fewer rows draws its means from ``N(mean of the K centres, cov(X))``); equal
        weights; every covariance the data's (``np.cov``, missing cells at their column's mean;
        ``min_covar`` is added by :meth:`_started`). The chain as the model starts it."""
        initial = model.initial_params(data, rng)
        rng = rng if rng is not None else np.random.default_rng(0)
        k, m = self.n_components, self.n_mix
        X = np.asarray(data.X, dtype=float)
        complete = X[~np.isnan(X).any(axis=1)]
        if complete.shape[0] < k:
            raise ValueError(f"X: {complete.shape[0]} complete rows cannot start {k} states; give init values or "
                             "fewer states")
        cov = start_covariance(X, None)
        centres, labels = best_kmeans(complete, k, rng)
        means = [best_kmeans(complete[labels == state], m, rng)[0] if np.count_nonzero(labels == state) >= m
                 else rng.multivariate_normal(centres.mean(axis=0), cov, size=m) for state in range(k)]
        covars = covariance_structure(self._inner_type).from_matrix(cov, k if self._tied else k * m)
        return {**initial, "weights": np.full((k, m), 1.0 / m), "means": np.concatenate(means), "covars": covars}

    def _started(self, initial: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return with_min_covar(initial, self.covariance_type, self.min_covar)

    def _emission_scalars(self, n_features: int) -> dict[str, int]:
        """hmmlearn's counts, its ``"w": n_mix − 1`` included (the weights of all states hold
        ``K(n_mix − 1)`` free scalars; hmmlearn counts one state's)."""
        k, m, d = self.n_components, self.n_mix, n_features
        return {"m": k * m * d, "c": {"spherical": k * m, "diag": k * m * d, "full": k * m * d * (d + 1) // 2,
                                      "tied": k * d * (d + 1) // 2}[self.covariance_type], "w": m - 1}

    def _emission_attributes(self) -> dict[str, np.ndarray | None]:
        """``weights_`` and ``means_``/``covars_`` with their (state, mix) axes joined, as the
        emission's ``K·M`` components (a table of another shape passes as it is, for the checks;
        "tied" ``covars_`` is one per state, (K, d, d), as it is)."""
        out = {"weights": getattr(self, "weights_", None)}
        for name in ("means", "covars"):
            value = getattr(self, f"{name}_", None)
            if value is not None and not (name == "covars" and self._tied):
                value = np.asarray(value, dtype=float)
                if value.ndim >= 2 and value.shape[:2] == (self.n_components, self.n_mix):
                    value = FiniteMixture.flat(value)
            out[name] = value
        return out

    def _set_emission(self, params: dict[str, np.ndarray]) -> None:
        per_state = (self.n_components, self.n_mix)
        self.weights_ = params["weights"]
        self.means_ = np.reshape(params["means"], per_state + np.shape(params["means"])[1:])
        covars = params["covars"]
        self.covars_ = covars if self._tied else np.reshape(covars, per_state + np.shape(covars)[1:])

    def _n_features_of_params(self, params) -> int:
        """``n_features`` of ``means`` (K·M, d); ``ValueError`` naming the attribute whose shape is
        not hmmlearn's."""
        k, m = self.n_components, self.n_mix
        means = np.asarray(params["means"])
        if means.ndim != 2 or means.shape[0] != k * m:
            raise ValueError(f"means_: expected shape (n_components, n_mix, n_features) = ({k}, {m}, d), got "
                             f"{means.shape}")
        d = means.shape[1]
        expected = (k, d, d) if self._tied else covariance_shape(self.covariance_type, k * m, d)
        if np.shape(params["covars"]) != expected:
            shown = expected if self._tied else (k, m) + expected[1:]
            raise ValueError(f"covars_: expected shape {shown} for covariance_type={self.covariance_type!r}, "
                             f"got {np.shape(params['covars'])}")
        return d
