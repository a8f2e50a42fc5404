"""``emkit.standard_errors``: the covariance of the MLE by Louis, SEM, the bootstrap or the Hessian."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..engine.estep import ChunkedData, prepare, score_covariance
from ..engine.model import unflatten_named
from ..engine.progress import Progress
from ..engine.result import EMResult
from ..exceptions import ConvergenceWarning
from .bootstrap import KINDS, BootstrapRun, bootstrap
from .free import FreeProblem
from .hessian import hessian_information
from .information import covariance_from_information, missing_fraction
from .louis import louis_information
from .methods import METHODS
from .result import StandardErrors
from .sem import sem_covariance

#: Step of the delta method's difference quotients, as a fraction of each standard error.
DELTA_STEP = 1e-4
#: Below this fraction of observed information (1 − EM rate) a direction counts as not identified.
MIN_OBSERVED_FRACTION = 1e-8


def standard_errors(
    result: EMResult,
    data: Any,
    method: str = "louis",
    *,
    n_boot: int = 1000,
    bootstrap_kind: str = "nonparametric",
    random_state: int | np.random.Generator | None = None,
    workers: int = 1,
    verbose: bool | Progress = False,
    fit_options: dict[str, Any] | None = None,
    stab_tol: float = 1e-8,
) -> StandardErrors:
    """Covariance of the maximum-likelihood estimate of an EM fit, and standard errors.

    The asymptotic covariance is the inverse observed information ``I_obs⁻¹``, in the model's
    free parameters ``θ`` (``model.to_free``); every reported parameter ``g(θ)``
    (``result.named_params()``, including constrained ones such as the last allele frequency)
    gets ``se = √diag(J V Jᵀ)`` with ``J = ∂g/∂θ`` (the delta method).

    Parameters
    ----------
    result : EMResult
        A converged fit (:func:`emkit.fit`).
    data : object
        The data the fit used, in any form ``result.model.prepare`` accepts, or the Dask
        collection (or :class:`~emkit.engine.dask.DaskData`) it was fitted on: every pass over
        the data then runs on Dask, and each bootstrap replicate is a fit on Dask of a
        resampled (or simulated) Dask data set.
    method : {"louis", "sem", "bootstrap", "hessian"}
        ``"louis"``: ``I_obs = I_c − Cov[S_c | data]`` (Louis 1982; needs the model's
        ``complete_information`` and ``score_covariance``). ``"sem"``: supplemented EM
        (Meng & Rubin 1991), ``V = I_c⁻¹ + I_c⁻¹ DM (I − DM)⁻¹`` with ``DM`` the EM map's
        Jacobian by difference quotients (needs ``complete_information``). ``"bootstrap"``:
        the covariance of refits of ``n_boot`` resampled data sets, with percentile intervals
        (needs ``resample``, or ``simulate`` when parametric). ``"hessian"``: the numerical
        Hessian of the observed-data log-likelihood (any model; a cross-check).
    n_boot : int
        Number of bootstrap replicates.
    bootstrap_kind : {"nonparametric", "parametric", "weighted", "jackknife"}
        mclust's ``MclustBootstrap`` types (:mod:`emkit.inference.bootstrap`): resample the
        observations; simulate from the fitted model; the weighted likelihood bootstrap
        (Dirichlet weights on the observations; needs the model's ``reweight``); or the
        jackknife (``n`` refits, each leaving one observation out; ``n_boot`` is not used),
        whose covariance is ``(n−1)/n Σ_i (θ̂_(i) − θ̄)(θ̂_(i) − θ̄)ᵀ`` and whose intervals are Wald
        intervals. Every refit starts at the MLE, so mixture components keep their labels.
    random_state : int or numpy Generator, optional
        Seed of the bootstrap.
    workers : int
        Processes running bootstrap fits (results do not depend on it); 1 for Dask data.
    verbose : bool or Progress
        Count the bootstrap replicates on a progress display (a
        :class:`~emkit.engine.progress.Progress`: that one, shared).
    fit_options : dict, optional
        Options of the bootstrap refits, passed to :func:`emkit.fit` (default: the fit's
        ``accelerate``; tolerances default to ``fit``'s).
    stab_tol : float
        SEM's stabilisation tolerance on successive difference quotients of DM.

    Returns
    -------
    StandardErrors
        ``cov``, ``labels``, ``se`` (keyed like ``result.named_params()``), ``rate`` (EM's rate
        of convergence, the largest fraction of missing information), ``confidence_intervals()``.

    Raises
    ------
    ValueError
        Bad arguments; an estimate on the boundary of the parameter space (where the
        information-based methods do not apply; the bootstrap only warns); an information
        matrix that is not positive definite.
    NotImplementedError
        The model lacks a hook the method needs.

    Warns
    -----
    ConvergenceWarning
        When ``result`` did not converge: the errors are then not those of the MLE.
    """
    _check_arguments(result, method, n_boot, bootstrap_kind, workers, stab_tol)
    model = result.model
    problem = FreeProblem(model, prepare(model, _in_double_precision(data)), result.params)
    if isinstance(problem.data, ChunkedData) and workers != 1:
        raise ValueError(f"workers: Dask data run each bootstrap fit's E-steps on the Dask cluster; leave workers=1, "
                         f"got {workers}")
    if not result.converged:
        warnings.warn("standard_errors: the fit did not converge, so the estimate is not the MLE and its standard "
                      "errors are not the MLE's; refit with a larger max_iter or accelerate='squarem'",
                      ConvergenceWarning, stacklevel=2)
    boundary = problem.boundary_labels()
    if boundary and method != "bootstrap":
        raise ValueError(f"result: the estimate is on the boundary of the parameter space ({', '.join(boundary)}), "
                         f"where the information is not that of an interior maximum and method={method!r} does not "
                         "apply; use method='bootstrap' (with care), or a model without that parameter")
    if boundary:
        warnings.warn(f"standard_errors: the estimate is on the boundary ({', '.join(boundary)}); bootstrap "
                      "intervals there are only a rough guide", UserWarning, stacklevel=2)
    try:
        if method == "bootstrap":
            options = {"accelerate": result.accelerate, **(fit_options or {})}
            return _from_bootstrap(problem, bootstrap(problem, n_boot=n_boot, kind=bootstrap_kind,
                                                      random_state=random_state, workers=workers, verbose=verbose,
                                                      fit_options=options), bootstrap_kind, n_boot, bool(boundary))
        if method == "sem":
            sem = sem_covariance(problem, stab_tol)
            rate = float(np.max(np.abs(np.linalg.eigvals(sem.dm)), initial=0.0))
            return _from_covariance(problem, method, sem.cov, rate, dm=sem.dm,
                                    diagnostics={"asymmetry": sem.asymmetry, "n_evaluations": sem.n_evaluations})
        observed = louis_information(problem) if method == "louis" else hessian_information(problem)
        cov = covariance_from_information(observed, problem.labels, f"method={method!r}")
        return _from_covariance(problem, method, cov, _information_rate(problem, observed))
    except NotImplementedError as error:
        raise NotImplementedError(f"standard_errors(method={method!r}): {error}; implement that hook of EMModel, "
                                  "or use method='hessian' (any model)") from None


def _in_double_precision(data: Any) -> Any:
    """``data`` with a float32 array (alone or first in a tuple) promoted to float64: the
    variance methods differentiate the log-likelihood and the EM map numerically, which needs
    more digits than float32 arithmetic keeps (a model may compute float32 data in float32)."""
    if isinstance(data, np.ndarray) and data.dtype == np.float32:
        return data.astype(np.float64)
    if isinstance(data, tuple) and data and isinstance(data[0], np.ndarray) and data[0].dtype == np.float32:
        return (data[0].astype(np.float64),) + data[1:]
    return data


def _from_covariance(problem: FreeProblem, method: str, cov: np.ndarray, rate: float | None, *,
                     dm: np.ndarray | None = None, diagnostics: dict | None = None) -> StandardErrors:
    """Carry ``cov`` to the reported parameters by the delta method (after checking that the
    information is not numerically singular: ``1 − rate`` is the smallest fraction of observed
    information, a unit-free measure)."""
    if rate is not None and 1.0 - rate < MIN_OBSERVED_FRACTION:
        raise ValueError(f"method={method!r}: the data carry almost no information along some direction "
                         f"(fraction of observed information {1.0 - rate:.2g}, EM rate {rate:.12g}); the parameters "
                         "are not identified there (e.g. two mixture components coincide: fit fewer components)")
    jacobian = problem.reported_jacobian(DELTA_STEP * np.sqrt(np.diag(cov)))
    reported_cov = jacobian @ cov @ jacobian.T
    return StandardErrors(
        method=method, labels=problem.labels, estimate=problem.estimate, cov=cov,
        se=unflatten_named(problem.named, _sqrt_diagonal(reported_cov)),
        reported_labels=problem.reported_labels, reported_estimate=problem.reported(problem.estimate),
        reported_cov=reported_cov, rate=rate, dm=dm, diagnostics=diagnostics or {},
    )


def _from_bootstrap(problem: FreeProblem, run: BootstrapRun, kind: str, n_boot: int, on_boundary: bool) -> StandardErrors:
    if run.n_failed or run.n_unconverged:
        warnings.warn(f"standard_errors: {run.n_failed} bootstrap fit(s) failed and were left out, "
                      f"{run.n_unconverged} did not converge (pass fit_options={{'max_iter': ...}} or "
                      "{'accelerate': 'squarem'})", ConvergenceWarning, stacklevel=3)
    # the jackknife's (m−1)/m Σ (θ_i − θ̄)² over its m fits is (m−1)²/m times their sample variance
    inflation = (len(run.free) - 1) ** 2 / len(run.free) if kind == "jackknife" else 1.0
    reported_cov = inflation * np.atleast_2d(np.cov(run.reported, rowvar=False))
    return StandardErrors(
        method="bootstrap", labels=problem.labels, estimate=problem.estimate,
        cov=inflation * np.atleast_2d(np.cov(run.free, rowvar=False)),
        se=unflatten_named(problem.named, _sqrt_diagonal(reported_cov)),
        reported_labels=problem.reported_labels, reported_estimate=problem.reported(problem.estimate),
        reported_cov=reported_cov, rate=None if on_boundary else _information_rate(problem, None),
        replicates=None if kind == "jackknife" else run.reported,
        diagnostics={"kind": kind, "n_boot": len(run.free) + run.n_failed if kind == "jackknife" else n_boot, "n_failed": run.n_failed, "n_unconverged": run.n_unconverged},
    )


def _information_rate(problem: FreeProblem, observed: np.ndarray | None) -> float | None:
    """EM's rate from ``I_c`` and ``I_m = I_c − I_obs`` (or Louis's ``I_m`` when ``observed`` is
    None); None when the model does not give its complete-data information."""
    try:
        complete = problem.complete_information()
        missing = complete - observed if observed is not None else score_covariance(problem.model, problem.data,
                                                                                      problem.params)
    except NotImplementedError:
        return None
    return missing_fraction(complete, np.atleast_2d(missing))


def _sqrt_diagonal(cov: np.ndarray) -> np.ndarray:
    """Standard errors from a covariance; round-off below zero (a constant parameter) gives 0."""
    diagonal = np.diag(cov)
    return np.sqrt(np.where(diagonal > 0, diagonal, 0.0))


def _check_arguments(result, method, n_boot, kind, workers, stab_tol) -> None:
    if not isinstance(result, EMResult):
        raise ValueError(f"result: expected the EMResult of emkit.fit, got {type(result).__name__}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 2):
        raise ValueError(f"n_boot: must be an integer of at least 2, got {n_boot!r}")
    if kind not in KINDS:
        raise ValueError(f"bootstrap_kind: expected one of {KINDS}, got {kind!r}")
    if not (isinstance(workers, (int, np.integer)) and workers >= 1):
        raise ValueError(f"workers: must be a positive integer, got {workers!r}")
    if not (np.isfinite(stab_tol) and stab_tol > 0):
        raise ValueError(f"stab_tol: must be a positive number, got {stab_tol!r}")
