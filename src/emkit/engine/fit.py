"""The one EM loop: :func:`fit` fits every model that supplies an E-step and an M-step."""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, Callable, Union

import numpy as np

from ..exceptions import ConvergenceWarning
from ..validation import check_callable, check_integer, random_generator
from .estep import initial_params, prepare
from .model import EMModel, Params
from .monitor import Callback, Monitor
from .progress import Progress, restart_stage
from .result import EMResult, Trace
from .squarem import Squarem, run_squarem
from .stopping import RelativeChange, StoppingRule

Init = Union[Params, Callable[[np.random.Generator], Params], None]
RestartCallback = Callable[[int, EMResult], None]


def fit(
    model: EMModel,
    data: Any,
    *,
    init: Init = None,
    tol: float = 1e-10,
    param_tol: float | None = 1e-10,
    tol_scale: float | None = None,
    stopping: StoppingRule | None = None,
    max_iter: int = 100_000,
    random_state: int | np.random.Generator | None = None,
    n_init: int = 1,
    accelerate: str | Squarem | None = None,
    verbose: bool | Progress = False,
    callback: Callback | None = None,
    restart_callback: RestartCallback | None = None,
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
    init : dict or callable, optional
        Starting parameters of the first start (the others are the model's random starts); or
        ``init(rng) -> params``, called for every start with the one generator of
        ``random_state`` (start ``i`` gets it after starts ``0..i−1`` drew from it); None: the
        model's deterministic default for the first start.
    tol : float
        Stop when the relative change of the log-likelihood, ``|ℓ_t − ℓ_{t−1}| / |ℓ_t|``, is at
        most ``tol`` (and the parameters have settled, see ``param_tol``).
    param_tol : float or None
        Also require every parameter's estimated distance to the fixed point, its last change
        divided by ``1 − rate`` (EM's linear rate estimated from successive changes), to be at
        most ``param_tol·(1 + |θ|)``. The defaults give about ten significant digits even when
        EM crawls; None stops on the log-likelihood alone.
    tol_scale : float, optional
        Compare the log-likelihood change with ``tol·tol_scale`` instead of ``tol·|ℓ|``.
    stopping : StoppingRule, optional
        The stopping rule (:mod:`emkit.engine.stopping`) in place of ``tol``, ``param_tol`` and
        ``tol_scale`` (which build :class:`~emkit.engine.stopping.RelativeChange`), e.g.
        :class:`~emkit.engine.stopping.PerSampleChange` for scikit-learn's rule and order of
        steps.
    max_iter : int
        Maximum number of iterations (M-steps) per start; reaching it warns with
        ``ConvergenceWarning``.
    random_state : int or numpy Generator, optional
        Seed of the random starts (those after the first, or all of a callable ``init``).
    n_init : int
        Number of starts; the run with the highest final objective (``loglik``) is returned,
        the first of equals.
    accelerate : None, "squarem" or Squarem
        Run SQUAREM on the EM map instead of plain EM (``"squarem"`` is ``Squarem()``: SqS3
        step lengths; pass ``Squarem(scheme="SqS1")`` etc. for other settings).
    verbose : bool or Progress
        Show the progress on standard error: the initialisation, each start (``n_init > 1``)
        and the EM iterations with the log-likelihood's relative change against ``tol``
        (True: a new display; a :class:`~emkit.engine.progress.Progress`: that display,
        shared with the caller's other stages).
    callback : callable, optional
        ``callback(iteration, params, loglik)`` after every evaluation (iteration 0 is the start).
    restart_callback : callable, optional
        ``restart_callback(index, result)`` after each start (index from 0) with its result.
    check_ascent : bool
        Watch the objective (the log-likelihood, plus the model's log prior when it has one):
        a decrease beyond round-off warns ``AscentWarning`` (a wrong E- or M-step), unless the
        model's regularised M-step explains it (:meth:`EMModel.regularization`; then a
        ``RegularizationWarning`` names a component that collapsed onto the floor, if any).

    Returns
    -------
    EMResult
        The estimates, their log-likelihood, iteration counts and the trace of the best start;
        ``restarts`` holds the final objective of every start.
    """
    if stopping is None:
        stopping = RelativeChange(tol, param_tol, tol_scale)
    elif not isinstance(stopping, StoppingRule):
        raise ValueError(f"stopping: expected a StoppingRule (emkit.engine.stopping), got {stopping!r}")
    _check_fit_arguments(max_iter, n_init, callback, restart_callback, stopping)
    accelerate = _acceleration(accelerate)
    rng = random_generator(random_state)
    data = prepare(model, data)
    best: EMResult | None = None
    finals: list[float] = []
    with Progress.of(verbose) as progress:
        for start_index in range(n_init):
            with restart_stage(progress, start_index, n_init):
                start = _start(model, data, init, start_index, rng, progress)
                result = _fit_from(model, data, start, stopping, max_iter, accelerate, progress, callback,
                                   check_ascent)
            if restart_callback is not None:
                restart_callback(start_index, result)
            finals.append(result.loglik)
            if best is None or result.loglik > best.loglik:
                best = result
    assert best is not None
    best.restarts = finals
    if not best.converged:
        warnings.warn(
            f"EM did not converge in max_iter={max_iter} iterations ({stopping.describe()}); increase max_iter, "
            f"loosen tol, or use accelerate='squarem'",
            ConvergenceWarning,
            stacklevel=2,
        )
    return best


def _start(model: EMModel, data, init: Init, index: int, rng: np.random.Generator, progress: Progress) -> Params:
    """The starting parameters of start ``index`` (see ``init`` in :func:`fit`)."""
    if index == 0 and init is not None and not callable(init):
        return model.check_params(init)
    with progress.stage("initialisation"):
        if callable(init):
            return model.check_params(init(rng))
        return initial_params(model, data, None if index == 0 else rng)


def em_stage(progress: Progress, model: EMModel):
    """The EM stage of :func:`fit` on ``progress``: "EM " and the model in words, counting
    iterations (a caller that opens it around :func:`fit` shares it, see :meth:`Progress.stage`;
    a run under scikit-learn's order counts its final M-step in it too)."""
    return progress.stage(f"EM {model.describe()}", unit="iteration")


def _fit_from(model, data, start, stopping: StoppingRule, max_iter: int, accelerate, progress: Progress, callback,
              check_ascent) -> EMResult:
    """One run from ``start``. Under a rule with ``final_m_step`` (scikit-learn's order), the
    iterations stop one short of ``max_iter`` and the M-step from the last evaluation ends the
    run (none at all for ``max_iter=0``)."""
    accelerated = None if accelerate is None else "squarem"
    if stopping.final_m_step and max_iter == 0:
        return EMResult(params=start, loglik=-np.inf, n_iter=0, n_evaluations=0, converged=False, trace=Trace(),
                        model=model, accelerate=accelerated)
    with em_stage(progress, model):
        monitor = Monitor(model, stopping=stopping, callback=callback, progress=progress or None,
                          check_ascent=check_ascent, loglik_rounding=model.loglik_rounding(data), data=data)
        stats, loglik = monitor.evaluate(data, start)
        converged = monitor.record(start, loglik)
        iterations = max_iter - 1 if stopping.final_m_step else max_iter
        if not converged:
            run = _run_plain if accelerate is None else partial(run_squarem, settings=accelerate)
            converged, stats = run(model, data, start, stats, loglik, monitor, iterations)
        params = monitor.trace.params[-1]
        if stopping.final_m_step:
            params = monitor.m_step(stats, params)
            progress.advance()
        progress.conclude("converged" if converged else f"not converged in max_iter={max_iter}")
    return EMResult(
        params=model.canonical(params),
        loglik=monitor.trace.loglik[-1],
        n_iter=monitor.n_iter + int(stopping.final_m_step),
        n_evaluations=monitor.n_evaluations,
        converged=converged,
        trace=monitor.trace,
        model=model,
        accelerate=accelerated,
    )


def _run_plain(model: EMModel, data, params: Params, stats, loglik: float, monitor: Monitor,
               max_iter: int) -> tuple[bool, Any]:
    """Plain EM from ``params`` (already evaluated and recorded: ``stats``, ``loglik``) while
    ``monitor.n_iter < max_iter``; whether it converged, and the statistics of the last iterate."""
    while monitor.n_iter < max_iter:
        params = monitor.m_step(stats, params)
        stats, loglik = monitor.evaluate(data, params)
        if monitor.record(params, loglik):
            return True, stats
    return False, stats


def _acceleration(accelerate) -> Squarem | None:
    if accelerate is None or isinstance(accelerate, Squarem):
        return accelerate
    if accelerate == "squarem":
        return Squarem()
    raise ValueError(f"accelerate: expected None, 'squarem' or a Squarem(...), got {accelerate!r}")


def _check_fit_arguments(max_iter, n_init, callback, restart_callback, stopping: StoppingRule) -> None:
    """``ValueError`` naming the first bad argument (before the data are touched); ``max_iter``
    may be 0 under scikit-learn's order of steps (nothing evaluated)."""
    check_integer(max_iter, "max_iter", low=0 if stopping.final_m_step else 1)
    check_integer(n_init, "n_init")
    check_callable(callback, "callback")
    check_callable(restart_callback, "restart_callback")
