"""The one EM loop: :func:`fit` fits every model that supplies an E-step and an M-step."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..exceptions import ConvergenceWarning
from ..validation import check_callable, check_integer, check_real, random_generator
from .estep import initial_params, prepare
from .model import EMModel, Params
from .monitor import Callback, Monitor
from .progress import Progress, restart_stage
from .result import EMResult
from .squarem import Squarem, run_squarem



def fit(
    model: EMModel,
    data: Any,
    *,
    init: Params | None = None,
    tol: float = 1e-10,
    param_tol: float | None = 1e-10,
    tol_scale: float | None = None,
    max_iter: int = 100_000,
    random_state: int | np.random.Generator | None = None,
    n_init: int = 1,
    accelerate: str | Squarem | None = None,
    verbose: bool | Progress = False,
    callback: Callback | None = None,
    check_ascent: bool = True,
) -> EMResult:
    """Fit ``model`` to ``data`` by the EM algorithm.

    Each iteration maps ``θ_t`` to ``θ_{t+1} = argmax_θ E[log p(x, z | θ) | x, θ_t]`` via the
    model's ``e_step`` (expected sufficient statistics) and ``m_step``; the observed-data
    log-likelihood ``ℓ(θ_t)`` never decreases (with a prior, ``log p(θ)`` of
    :meth:`EMModel.log_prior`, the M-step maximizes ``Q + log p(θ)`` and the log-posterior
    ``ℓ(θ_t) + log p(θ_t)`` never decreases; it is the result's ``loglik``).

    Parameters
    ----------
    model : EMModel
        The model (its E-step, M-step and starting values).
    data : object
        Data in any form ``model.prepare`` accepts, or a Dask collection (a ``dask.array.Array``
        chunked by rows, a Dask DataFrame or Series, a list of ``dask.delayed`` chunks, or a
        :class:`~emkit.engine.dask.DaskData`): the E-step then runs chunk by chunk on the active
        Dask scheduler and the M-step here (see :mod:`emkit.engine.dask`).
    init : dict, optional
        Starting parameters for the first start; the model's deterministic default otherwise.
    tol : float
        Stop when the relative change of the log-likelihood, ``|ℓ_t − ℓ_{t−1}| / |ℓ_t|``, is at
        most ``tol`` (and the parameters have settled, see ``param_tol``).
    param_tol : float or None
        Also require every parameter's estimated distance to the fixed point, its last change
        divided by ``1 − rate`` (EM's linear rate estimated from successive changes), to be at
        most ``param_tol·(1 + |θ|)``. The defaults give about ten significant digits even when
        EM crawls; None stops on the log-likelihood alone.
    tol_scale : float, optional
        Compare the log-likelihood change with ``tol·tol_scale`` instead of ``tol·|ℓ|`` (e.g.
        ``tol_scale=n`` for scikit-learn's per-sample absolute criterion).
    max_iter : int
        Maximum number of iterations per start; reaching it warns with ``ConvergenceWarning``.
    random_state : int or numpy Generator, optional
        Seed of the random starts used when ``n_init > 1``.
    n_init : int
        Number of starts (the first from ``init`` or the default, the rest random); the run with
        the highest log-likelihood is returned.
    accelerate : None, "squarem" or Squarem
        Run SQUAREM on the EM map instead of plain EM (``"squarem"`` is ``Squarem()``: SqS3
        step lengths; pass ``Squarem(scheme="SqS1")`` etc. for other settings).
    verbose : bool or Progress
        Show the progress on standard error: the initialisation, each start (``n_init > 1``)
        and the EM iterations with the log-likelihood's relative change against ``tol``
        (True: a new display; a :class:`~emkit.engine.progress.Progress`: that display,
        shared with the caller's other stages).
    callback : callable, optional
        ``callback(iteration, params, loglik)`` after every iteration (iteration 0 is the start).
    check_ascent : bool
        Watch the objective (the log-likelihood, plus the model's log prior when it has one):
        a decrease beyond round-off warns ``AscentWarning`` (a wrong E- or M-step), unless the
        model's regularised M-step explains it (:meth:`EMModel.regularization`; then a
        ``RegularizationWarning`` names a component that collapsed onto the floor, if any).

    Returns
    -------
    EMResult
        The estimates, their log-likelihood, iteration counts and the trace of the best start.
    """
    _check_fit_arguments(tol, param_tol, tol_scale, max_iter, n_init, callback)
    accelerate = _acceleration(accelerate)
    rng = random_generator(random_state)
    data = prepare(model, data)
    best: EMResult | None = None
    finals: list[float] = []
    with Progress.of(verbose) as progress:
        for start_index in range(n_init):
            with restart_stage(progress, start_index, n_init):
                if start_index == 0 and init is not None:
                    start = model.check_params(init)
                else:
                    with progress.stage("initialisation"):
                        start = initial_params(model, data, None if start_index == 0 else rng)
                result = _fit_from(model, data, start, tol, param_tol, tol_scale, max_iter, accelerate, progress,
                                   callback, check_ascent)
            finals.append(result.loglik)
            if best is None or result.loglik > best.loglik:
                best = result
    assert best is not None
    best.restarts = finals
    if not best.converged:
        warnings.warn(
            f"EM did not converge in max_iter={max_iter} iterations (tol={tol}); increase max_iter, "
            f"loosen tol, or use accelerate='squarem'",
            ConvergenceWarning,
            stacklevel=2,
        )
    return best


def em_stage(progress: Progress, model: EMModel):
    """The EM stage of :func:`fit` on ``progress``: "EM " and the model in words, counting
    iterations (a caller that opens it around :func:`fit` shares it, see :meth:`Progress.stage`)."""
    return progress.stage(f"EM {model.describe()}", unit="iteration")


def _fit_from(model, data, start, tol, param_tol, tol_scale, max_iter, accelerate, progress: Progress, callback,
              check_ascent) -> EMResult:
    with em_stage(progress, model):
        monitor = Monitor(model, tol=tol, param_tol=param_tol, tol_scale=tol_scale, callback=callback,
                          progress=progress or None, check_ascent=check_ascent,
                          loglik_rounding=model.loglik_rounding(data))
        if accelerate is not None:
            converged = run_squarem(model, data, start, monitor, max_iter, accelerate)
        else:
            converged = _run_plain(model, data, start, monitor, max_iter)
        progress.conclude("converged" if converged else f"not converged in max_iter={max_iter}")
    params = model.canonical(monitor.trace.params[-1])
    return EMResult(
        params=params,
        loglik=monitor.trace.loglik[-1],
        n_iter=monitor.n_iter,
        n_evaluations=monitor.n_evaluations,
        converged=converged,
        trace=monitor.trace,
        model=model,
        accelerate=None if accelerate is None else "squarem",
    )


def _run_plain(model: EMModel, data, start: Params, monitor: Monitor, max_iter: int) -> bool:
    params = start
    stats, loglik = monitor.evaluate(data, params)
    monitor.record(params, loglik)
    while monitor.n_iter < max_iter:
        params = monitor.m_step(stats, params)
        stats, loglik = monitor.evaluate(data, params)
        if monitor.record(params, loglik):
            return True
    return False


def _acceleration(accelerate) -> Squarem | None:
    if accelerate is None or isinstance(accelerate, Squarem):
        return accelerate
    if accelerate == "squarem":
        return Squarem()
    raise ValueError(f"accelerate: expected None, 'squarem' or a Squarem(...), got {accelerate!r}")


def _check_fit_arguments(tol, param_tol, tol_scale, max_iter, n_init, callback) -> None:
    """``ValueError`` naming the first bad argument (before the data are touched)."""
    check_real(tol, "tol", low=0.0)
    if param_tol is not None:
        check_real(param_tol, "param_tol", low=0.0)
    if tol_scale is not None:
        check_real(tol_scale, "tol_scale", low=0.0, low_open=True)
    check_integer(max_iter, "max_iter")
    check_integer(n_init, "n_init")
    check_callable(callback, "callback")
