"""``StudentMixture``: robust clustering with a mixture of multivariate t distributions.

The interface is :class:`~emkit.GaussianMixture`'s (and so scikit-learn's): the same constructor
parameters, attributes and methods, with two additions, the degrees of freedom ``dofs_`` (one per
component, estimated unless ``dof`` fixes them) and the fitting ``method`` (ECME by default,
:func:`emkit.fit_ecm`). Heavy tails make the fit robust: an outlier gets a small weight
``E[u] = (ν+d)/(ν+δ)`` instead of dragging a mean and inflating a covariance.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..engine.progress import Progress
from ..engine.result import EMResult
from ..models.student_mixture import DOF_BOUNDS, DOF_START, StudentMixtureData, StudentMixtureModel
from ..variants.ecm import VARIANTS, fit_ecm
from .mixture_base import MixtureEstimator, check_number


class StudentMixture(MixtureEstimator):
    """Mixture of multivariate t distributions fitted by ECME (or ECM):
    ``p(x) = Σ_k π_k t_{ν_k}(x | μ_k, Σ_k)``.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, weights_init, \
means_init, precisions_init, random_state, warm_start, verbose, verbose_interval
        As in :class:`~emkit.GaussianMixture` (``precisions_init`` are inverse scatter matrices),
        except that ``tol`` bounds two things: the change of the average log-likelihood per
        sample, and every parameter's estimated distance to the fixed point, its last change
        over ``1 − ĉ`` (``ĉ`` EM's linear rate), relative to ``1 + |θ|`` (the engine's
        ``param_tol``). The degrees of freedom move slowly, with an EM rate near one, so a small
        change of the log-likelihood alone does not mean that ν has converged.
    dof : float, optional
        Degrees of freedom shared by all components and held fixed; estimated per component
        when None (the default).
    dof_init : float, default=10
        Starting degrees of freedom when estimated.
    method : {"ecme", "ecm"}, default="ecme"
        ECME maximizes the actual likelihood over ν (fast); ECM maximizes Q (this is EM).
    accelerate : {None, "squarem"}, default=None
        Run SQUAREM on the ECM/ECME map.
    progress : bool or Progress, default=False
        Show the initialisation and the iterations on standard error (a
        :class:`~emkit.engine.progress.Progress`: on that display, shared).

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

    _keys = ("weights", "locations", "scatters")
    _extra = (("dofs", "dofs_"),)
    _min_max_iter = 1
    _more_samples_than_components = True

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full", tol: float = 1e-3,
                 reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 weights_init=None, means_init=None, precisions_init=None, dof: float | None = None,
                 dof_init: float = DOF_START, method: str = "ecme", random_state=None, warm_start: bool = False,
                 verbose: int = 0, verbose_interval: int = 10, accelerate: str | None = None,
                 progress: bool | Progress = False) -> None:
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
    def _new_model(self, inits: dict[str, np.ndarray], center: np.ndarray | None = None) -> StudentMixtureModel:
        """The t mixture model (``dof`` fixes the degrees of freedom), a face over
        ``MixtureModel(StudentT(...), K)``."""
        return StudentMixtureModel(self.n_components, self.covariance_type, dof=self.dof, reg_covar=self.reg_covar,
                                   init_method=self.init_params, center=center)

    def _engine_fit(self, model: StudentMixtureModel, data: StudentMixtureData, total: float,
                    previous_bound: float | None, progress: Progress, **starts: Any) -> EMResult:
        """ECME/ECM (:func:`emkit.fit_ecm`) to ``tol`` per unit weight and to ``tol`` relative on
        the parameters' distance to the fixed point (``previous_bound`` plays no part)."""

        def report(iteration: int, params, loglik: float) -> None:
            if iteration % self.verbose_interval == 0:
                print(f"  Iteration {iteration}\t lower bound {loglik / total:.6f}")
                sys.stdout.flush()

        return fit_ecm(model, data, variant=self.method, tol=self.tol, param_tol=self.tol, tol_scale=total,
                       max_iter=max(self.max_iter, 1), accelerate=self.accelerate, verbose=progress,
                       callback=report if self.verbose else None, **starts)

    # ------------------------------------------------------------------ checking inputs
    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        check_number(self.dof_init, "dof_init", *DOF_BOUNDS)
        if self.dof is not None:
            check_number(self.dof, "dof", *DOF_BOUNDS)
        if self.method not in VARIANTS:
            raise ValueError(f"method: expected one of {VARIANTS}, got {self.method!r}")

    def _checked_inits(self, d: int) -> dict[str, np.ndarray]:
        """The given ``*_init`` values as parameters, with the starting (or fixed) degrees of freedom."""
        dofs = np.full(self.n_components, float(self.dof if self.dof is not None else self.dof_init))
        return {**super()._checked_inits(d), "dofs": dofs}

    # -------------------------------------------------------------------------- methods
    def _sample_scale(self, rng: np.random.Generator, component: int, count: int) -> np.ndarray:
        """``√u`` with ``u ~ Gamma(ν_k/2, rate ν_k/2)``: ``x = μ_k + L_k z / √u`` is t-distributed."""
        dof = self.dofs_[component]
        return np.sqrt(rng.gamma(0.5 * dof, 2.0 / dof, size=count))[:, None]
