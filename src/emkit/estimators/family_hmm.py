"""``HMM``: hmmlearn's interface for a hidden Markov model whose emission is any family.

``p(x, z) = π_{z_1} Π_t A_{z_{t−1} z_t} Π_t p(x_t | θ_{z_t})`` with ``p(· | θ_k)`` an
:class:`emkit.families.Family` (Poisson counts, Bernoulli items, a Student t, a mixed-type
:class:`~emkit.families.Product`, ...), over :class:`emkit.latent.HiddenMarkovModel` and the
engine. The methods are :class:`~emkit.estimators.hmm.GaussianHMM`'s; this module only builds the
family from the ``family=`` argument (as :class:`~emkit.Mixture` does) and keeps the fitted one.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..engine.progress import Progress
from ..exceptions import NotFittedError
from ..families.base import Family
from ..latent.hmm import HiddenMarkovModel
from ..latent.hmm_covariates import InputDrivenHMM
from ._family_argument import built_family, check_family_argument, n_columns, needs_data
from ._sklearn_compat import bridged
from .hmm import CHAIN_PARAMS, _BaseHMM
from ._hmm_monitor import ConvergenceMonitor
from .persistence import family_from_record, family_record, name_tuple


class HMM(_BaseHMM):
    """Hidden Markov model with any emission family, fitted by Baum–Welch (EM).

    Parameters
    ----------
    n_components : int, default=1
        Number of hidden states ``K``.
    family : Family, callable or mapping
        Distribution of an observation given its state, as for :class:`emkit.Mixture`: an
        :class:`emkit.families.Family` instance (``families.Bernoulli(5)``), a callable
        ``family(n_features) -> Family`` (the class ``families.Poisson`` itself, called with the
        number of columns of ``X``), or for mixed-type rows a mapping of column groups (DataFrame
        names or integer indices, one or a tuple per group) to either, whose
        :class:`~emkit.families.Product` is the emission. A regression emission
        (:class:`~emkit.families.Regression`, :class:`~emkit.families.GaussianRegression`) makes
        a Markov-switching regression: the rows of ``X`` are the responses, then the covariates.
    startprob_prior, transmat_prior : float or array, default=1.0
        Dirichlet concentrations (``≥ 1``) of ``startprob_`` and of each row of ``transmat_``.
    algorithm : {"viterbi", "map"}, default="viterbi"
        Decoder of :meth:`predict`.
    random_state : int, numpy Generator or RandomState, optional
        Seed of the random starts and of :meth:`sample`; None gives the family's deterministic
        first start.
    n_iter : int, default=100
        Maximum number of EM iterations per start.
    tol : float, default=1e-2
        Stop when the log-likelihood changes by at most ``tol`` (hmmlearn's criterion).
    verbose : bool or Progress, default=False
        Show the starts and the Baum–Welch iterations on standard error.
    params : tuple of str, optional
        Parameters re-estimated by EM, among ``"startprob"``, ``"transmat"`` and the family's
        names (default: all); hmmlearn's ``params`` by name, as a family's parameters have no letters.
    init_params : tuple of str, optional
        Parameters started by :meth:`fit` (default: all); the others start from the attributes
        (``<param>_``) set beforehand, or are started when not set (hmmlearn's rule).
    n_init : int, default=1
        Number of starts; the best is kept.
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
    transition_covariates : bool, default=False
        An input-driven HMM: the transitions into step ``t`` are multinomial logits of that
        step's covariates, ``A_t[i] = softmax(0, (1, u_t)ᵀ B_i)``, given to :meth:`fit`,
        :meth:`score`, :meth:`predict` etc. as ``covariates`` (one row per observation);
        ``initial="covariates"`` makes each sequence's start a logit of its first covariates.
        Parameters ``transition_coef_`` (K, 1 + q, K − 1) and ``startprob_`` or
        ``start_coef_`` (1 + q, K − 1) in place of ``transmat_``; the coefficients' M-step is
        a ``ξ``-weighted multinomial logit fitted by damped Newton over the data
        (:mod:`emkit.latent.hmm_covariates`).

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    <param>_ : ndarray
        Each of the family's parameters under its name with a trailing underscore, e.g.
        ``lambdas_`` (Poisson rates) or ``probs_`` (Bernoulli probabilities), shape
        ``(n_components, n_features)`` for these two; a mapping's parts as ``"<column>:<name>_"``
        (read them with ``getattr``).
    family_ : Family
        The fitted emission family (the callable's or the mapping's, as built for ``X``).
    lower_bounds_ : list of float
        Log-likelihood of every iterate of the best start (without the log prior, as hmmlearn's
        ``monitor_.history``; ``result_.trace.loglik`` adds it: the objective EM ascends).
    n_iter_ : int
    converged_ : bool
    n_features_ : int
        Number of columns of the data seen in ``fit``.
    result_ : EMResult
        The engine's result for the best start: standard errors of the learned parameters with
        ``emkit.standard_errors(est.result_, (X, lengths), method)``.

    Notes
    -----
    NaN cells are missing (marginalised as the family does). :meth:`save` stores the fitted
    family as a record (one of emkit's families only); the loaded estimator's ``family`` is that
    Family.
    """

    _fitted_fields = {**_BaseHMM._fitted_fields, "n_features_": "positive?"}
    _start_from_global_state = False

    def __init__(self, n_components: int = 1, *, family: Family | Callable[[int], Family],
                 startprob_prior=1.0, transmat_prior=1.0, algorithm: str = "viterbi", random_state=None,
                 n_iter: int = 100, tol: float = 1e-2, verbose: bool | Progress = False,
                 params: tuple[str, ...] | None = None, init_params: tuple[str, ...] | None = None,
                 n_init: int = 1, accelerate: str | None = None, n_jobs: int | None = None, initial: str = "free",
                 topology: str = "ergodic", bandwidth: int | None = None, fixed_transmat=None,
                 transition_covariates: bool = False) -> None:
        self.n_components = n_components
        self.family = family
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.n_init = n_init
        self.accelerate = accelerate
        self.n_jobs = n_jobs
        self.initial = initial
        self.topology = topology
        self.bandwidth = bandwidth
        self.fixed_transmat = fixed_transmat
        self.transition_covariates = transition_covariates
        self.monitor_ = ConvergenceMonitor(tol, n_iter, verbose)

    # ------------------------------------------------------------------- the family
    def _fitted_family(self) -> Family | None:
        """The fitted family; before a fit, the ``family`` argument's when it needs no data (an
        instance or a mapping); else None."""
        fitted = getattr(self, "family_", None)
        if fitted is not None:
            return fitted
        return None if needs_data(self.family) else built_family(self.family, None)

    @property
    def _emission_params(self) -> tuple[str, ...]:
        family = self._fitted_family()
        return () if family is None else tuple(family.param_names)

    def _emission(self, n_features: int) -> Family:
        return built_family(self.family, n_features)

    def _data(self, X) -> Any:
        """``X`` as given: the family checks it (a mapping reads DataFrame columns by name)."""
        return X

    def _n_features_of(self, X) -> int:
        return n_columns(X)

    def _input_tags(self) -> dict[str, bool]:
        return {"allow_nan": True}

    # ------------------------------------------------------------------- checks
    def _check_hyperparameters(self) -> None:
        check_family_argument(self.family)
        super()._check_hyperparameters()

    def _names_of(self, option: str) -> tuple[str, ...] | None:
        """``params`` or ``init_params``: None (all) or a tuple of names (checked against the
        family's names by :meth:`_model`, once the family is built for the data)."""
        names = getattr(self, option)
        if names is not None and (isinstance(names, str) or not all(isinstance(name, str) for name in names)):
            raise ValueError(f"{option}: expected a tuple of parameter names, e.g. ('transmat',), got {names!r}")
        return None if names is None else tuple(names)

    def _model(self, n_features: int) -> HiddenMarkovModel:
        family = self._emission(n_features)
        param_names = self._chain_param_names() + tuple(family.param_names)
        for option in ("params", "init_params"):
            names = self._names_of(option)
            if names is not None and not set(names) <= set(param_names):
                raise ValueError(f"{option}: expected a tuple of names among {param_names}, got {names!r}")
        return self._chain_model(family)

    def _fitted_model(self) -> tuple[HiddenMarkovModel, dict[str, np.ndarray]]:
        self._check_is_fitted()
        model = self._chain_model(self._fitted_family())
        return model, model.check_params(self._attribute_params())

    def __sklearn_is_fitted__(self) -> bool:
        return self._fitted_family() is not None and super().__sklearn_is_fitted__()

    def _check_is_fitted(self) -> None:
        if self._fitted_family() is None:
            raise bridged(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet (its family is a callable of the number of "
                "features). Call 'fit' with appropriate arguments before using this estimator.")
        super()._check_is_fitted()

    def _set_fitted(self, params: dict[str, np.ndarray], result, model: HiddenMarkovModel,
                    n_features: int | None) -> None:
        """The base's attributes, the fitted family as ``family_``; a previous family's
        ``<param>_`` attributes go."""
        for name in self._emission_params:
            self.__dict__.pop(f"{name}_", None)
        self.family_ = model.emission
        super()._set_fitted(params, result, model, n_features)

    # ------------------------------------------------------------------- persistence
    def _saved_arguments(self) -> dict[str, Any]:
        """The base's, with the fitted family as a record (ValueError naming ``family`` when it
        is not one of emkit's)."""
        return {**super()._saved_arguments(), "family": family_record(self._fitted_family())}

    @classmethod
    def _stored_arguments(cls, arguments: dict[str, Any], path: Path) -> dict[str, Any]:
        if "family" not in arguments:
            raise ValueError(f"{path}: config.family: missing")
        arguments = super()._stored_arguments(arguments, path)
        for name in ("params", "init_params"):
            if name in arguments:
                arguments[name] = name_tuple(arguments[name], name, path)
        arguments["family"] = family_from_record(arguments["family"], "config.family", path)
        return arguments

    def _stored_n_features(self, params: dict[str, np.ndarray], fitted: dict[str, Any]) -> int | None:
        """The stored number of features; an input-driven chain's stored coefficients also give
        the number of covariates that :meth:`_chain_model` needs before they are set."""
        if self.transition_covariates:
            coef = np.asarray(params["transition_coef"])
            if coef.ndim != 3:
                raise ValueError(f"transition_coef_: expected shape (n_components, 1 + n_covariates, "
                                 f"n_components - 1), got {coef.shape}")
            self.transition_coef_ = coef
        return fitted["n_features_"]

    # ------------------------------------------------------------------- input-driven chains
    def _chain_param_names(self) -> tuple[str, ...]:
        if not self.transition_covariates:
            return CHAIN_PARAMS
        return ("start_coef" if self.initial == "covariates" else "startprob", "transition_coef")

    def _model_data(self, X, lengths) -> tuple:
        """``(X, lengths)``, with the call's covariates for an input-driven chain (ValueError
        naming ``covariates`` when they are missing, or given to a chain without inputs)."""
        covariates = self.__dict__.get("_call_covariates")
        if not self.transition_covariates:
            if covariates is not None:
                raise ValueError("covariates: this HMM has no inputs; set transition_covariates=True to use them")
            return X, lengths
        if covariates is None:
            raise ValueError("covariates: this HMM's transitions depend on inputs (transition_covariates=True); pass "
                             "covariates=... (one row per observation)")
        return X, lengths, covariates

    def _chain_model(self, emission) -> HiddenMarkovModel:
        """The homogeneous chain's model, or the input-driven one (:class:`InputDrivenHMM`)."""
        if not self.transition_covariates:
            return super()._chain_model(emission)
        if (self.topology, self.bandwidth, self.fixed_transmat) != ("ergodic", None, None):
            raise ValueError("transition_covariates: an input-driven chain takes no topology, bandwidth or "
                             "fixed_transmat")
        covariates = self.__dict__.get("_call_covariates")
        if covariates is not None:
            n_covariates = 1 if np.ndim(covariates) == 1 else int(np.shape(covariates)[1])
        elif getattr(self, "transition_coef_", None) is not None:
            n_covariates = int(np.shape(self.transition_coef_)[1]) - 1
        else:
            raise ValueError("covariates: this HMM's transitions depend on inputs; pass covariates=...")
        return InputDrivenHMM(emission, self.n_components, n_covariates, initial=self.initial,
                              startprob_prior=self.startprob_prior, learn=self._learned(), n_jobs=self.n_jobs)

    @contextmanager
    def _covariates(self, covariates):
        """The call's covariates, seen by :meth:`_model_data` and :meth:`_chain_model` during it
        (an inner call without covariates sees the outer call's)."""
        outer = self.__dict__.get("_call_covariates")
        self._call_covariates = outer if covariates is None else covariates
        try:
            yield
        finally:
            if outer is None:
                self.__dict__.pop("_call_covariates", None)
            else:
                self._call_covariates = outer

    def fit(self, X, lengths=None, covariates=None) -> HMM:
        """As :meth:`_BaseHMM.fit`; ``covariates`` (n_samples × q) drive an input-driven chain."""
        with self._covariates(covariates):
            return super().fit(X, lengths)

    def score_samples(self, X, lengths=None, covariates=None) -> tuple[float, np.ndarray]:
        with self._covariates(covariates):
            return super().score_samples(X, lengths)

    def score(self, X, lengths=None, covariates=None) -> float:
        return self.score_samples(X, lengths, covariates)[0]

    def predict_proba(self, X, lengths=None, covariates=None) -> np.ndarray:
        return self.score_samples(X, lengths, covariates)[1]

    def decode(self, X, lengths=None, algorithm: str | None = None, covariates=None) -> tuple[float, np.ndarray]:
        with self._covariates(covariates):
            return super().decode(X, lengths, algorithm)

    def predict(self, X, lengths=None, covariates=None) -> np.ndarray:
        return self.decode(X, lengths, covariates=covariates)[1]

    def bic(self, X, lengths=None, covariates=None) -> float:
        """``−2 log L + p log n`` (``p``: the model's free parameters)."""
        with self._covariates(covariates):
            return super().bic(X, lengths)

    def aic(self, X, lengths=None, covariates=None) -> float:
        """``−2 log L + 2p``."""
        with self._covariates(covariates):
            return super().aic(X, lengths)

    def get_stationary_distribution(self) -> np.ndarray:
        """The chain's stationary distribution (ValueError for an input-driven chain, whose
        transitions change with the covariates)."""
        if self.transition_covariates:
            raise ValueError("transition_covariates: an input-driven chain has a transition matrix per step and no "
                             "stationary distribution")
        return super().get_stationary_distribution()
