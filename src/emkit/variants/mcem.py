"""Monte Carlo EM (Wei & Tanner 1990) with ascent-based sample sizes (Caffo, Jank & Jones 2005).

When ``E[T(x, z) | x, θ]`` has no closed form, a model supplies a sampler of the missing data
instead, through two methods (the *Monte Carlo protocol*)::

    sample_stats(data, params, rng, size) -> Stats
        the average of the complete-data sufficient statistics T(x, z_r) over ``size`` draws
        z_r ~ p(z | x, θ) (independent draws; Rao–Blackwellised averages are welcome)
    complete_loglik(stats, params) -> float
        Q(θ | stats) = the complete-data log-likelihood at θ given the statistics, up to a term
        free of θ; affine in ``stats`` (true for every exponential-family complete-data model)

Iteration t, from θ_t with m_t draws split into B equal batches of averaged statistics s_b::

    s̃ = mean_b s_b,   θ̃ = m_step(s̃),   ΔQ_b = Q(θ̃ | s_b) − Q(θ_t | s_b)
    ΔQ̃ = mean_b ΔQ_b,  se = sd_b(ΔQ_b) / √B

* *ascent check*: if the lower bound ``ΔQ̃ − z_α·se ≤ 0`` the step is swamped by Monte Carlo
  noise; ``m_t/k`` more draws are appended (as ``⌈B/k⌉`` more batches) and θ̃ recomputed;
* the step is accepted, and the next sample size is ``m_{t+1} = max(m_t, m_t (z_α + z_β)² se²
  / ΔQ̃²)``, the size that detects an ascent of this size with probability 1 − β;
* *stopping rule*: the upper bound ``ΔQ̃ + z_γ·se`` is below ``tol`` for ``n_consecutive``
  iterations in a row (the Q-increase is small even allowing for Monte Carlo noise).

The z's are Student-t quantiles with B − 1 degrees of freedom. A fixed schedule ``m_t =
schedule(t)`` replaces the automatic rule when ``sample_size`` is callable (no appending; the same
stopping rule). Every draw comes from one ``numpy`` Generator seeded by ``random_state``, so a
run is reproducible.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy import stats as distributions

from ..engine.data_pass import refuse_data_taking_m_step
from ..engine.progress import Progress
from ..engine.model import EMModel, Params, Stats
from ..engine.monitor import Callback, Monitor
from ..engine.result import EMResult
from ..engine.stats import scale_stats, sum_stats
from ..engine.stopping import RelativeChange
from ..exceptions import ConvergenceWarning

Schedule = Callable[[int], int]


@dataclass
class MCEMResult(EMResult):
    """Result of :func:`fit_mcem`: an :class:`~emkit.EMResult` plus the Monte Carlo record.

    Entry ``t`` of each list below describes the step from ``trace.params[t]`` to
    ``trace.params[t + 1]``.

    Attributes
    ----------
    sample_sizes : list of int
        Number of Monte Carlo draws m_t used for the step (after any appending).
    delta_q, delta_q_se : list of float
        The estimated increase of Q, ``ΔQ̃``, and its Monte Carlo standard error.
    param_se : list of ndarray
        Monte Carlo standard error of every entry of the new parameter vector (model's flat-vector
        order), from the spread of the M-step over the batches (delta method).
    n_draws : int
        Total number of Monte Carlo draws.
    """

    sample_sizes: list[int] = field(default_factory=list)
    delta_q: list[float] = field(default_factory=list)
    delta_q_se: list[float] = field(default_factory=list)
    param_se: list[np.ndarray] = field(default_factory=list)
    n_draws: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: that of :class:`EMResult` plus the final sample size, the final
        Monte Carlo standard errors of the parameters and the total number of draws."""
        payload = super().to_dict()
        payload.update({
            "method": "mcem",
            "final_sample_size": int(self.sample_sizes[-1]) if self.sample_sizes else 0,
            "monte_carlo_se": self.param_se[-1].tolist() if self.param_se else [],
            "n_draws": int(self.n_draws),
        })
        return payload


def fit_mcem(
    model: EMModel,
    data: Any,
    *,
    init: Params | None = None,
    sample_size: int | Schedule = 100,
    n_batches: int = 10,
    growth: float = 3.0,
    alpha: float = 0.25,
    beta: float = 0.25,
    gamma: float = 0.10,
    tol: float = 1e-3,
    n_consecutive: int = 3,
    max_iter: int = 500,
    max_sample_size: int = 1_000_000,
    random_state: int | np.random.Generator | None = None,
    track_loglik: bool = True,
    verbose: bool | Progress = False,
    callback: Callback | None = None,
) -> MCEMResult:
    """Fit ``model`` by Monte Carlo EM with the ascent-based sample-size rule.

    The E-step is replaced by ``model.sample_stats``: an average of complete-data sufficient
    statistics over ``m_t`` draws of the missing data; ``θ_{t+1} = argmax_θ Q̃(θ | θ_t)``.

    Parameters
    ----------
    model : EMModel
        A model with ``sample_stats(data, params, rng, size)`` and ``complete_loglik(stats,
        params)`` (see the module documentation).
    data : object
        Data in any form ``model.prepare`` accepts.
    init : dict, optional
        Starting parameters; the model's deterministic default otherwise.
    sample_size : int or callable
        Starting number of draws m_1 (automatic growth), or a schedule ``t -> m_t`` (t = 1, 2, ...).
    n_batches : int
        Number B of batches the draws of one iteration are split into (the Monte Carlo standard
        errors come from their spread); at least 2.
    growth : float
        k: an iteration whose ascent is not confirmed appends ``m_t/k`` draws.
    alpha, beta, gamma : float
        Levels of the ascent check, of the sample-size rule (power 1 − β) and of the stopping
        rule's upper bound; each in (0, 0.5).
    tol : float
        Stop when the upper confidence bound of the Q-increase is below ``tol``.
    n_consecutive : int
        Number of iterations in a row the stopping rule must hold.
    max_iter : int
        Maximum number of iterations; reaching it warns with ``ConvergenceWarning``.
    max_sample_size : int
        Cap on m_t; at the cap a step is accepted even when its ascent is not confirmed.
    random_state : int or numpy Generator, optional
        Seed of every Monte Carlo draw.
    track_loglik : bool
        Record the observed-data log-likelihood (``model.loglik``) of every iterate; set False
        when the model cannot compute it (the trace then holds NaN).
    verbose : bool or Progress
        Show the iterations on a progress display (True: a new one; a
        :class:`~emkit.engine.progress.Progress`: that one, shared).
    callback : callable, optional
        ``callback(iteration, params, loglik)`` after every iteration (iteration 0 is the start).

    Returns
    -------
    MCEMResult
        The estimates (the last iterate), the trace and the Monte Carlo record.

    Notes
    -----
    Like any rule on the change of the objective, the stopping rule can fire early when EM itself
    crawls (a large fraction of missing information): a small ΔQ then does not mean a small
    distance to the MLE. Lower ``tol`` in that case; the trace and ``param_se`` show the
    remaining drift against the Monte Carlo noise.
    """
    _check_protocol(model)
    _check_arguments(sample_size, n_batches, growth, alpha, beta, gamma, tol, n_consecutive, max_iter,
                     max_sample_size)
    data = model.prepare(data)
    rng = np.random.default_rng(random_state)
    params = model.check_params(init) if init is not None else model.initial_params(data, None)
    quantile = distributions.t.ppf
    result_lists: dict[str, list] = {"sample_sizes": [], "delta_q": [], "delta_q_se": [], "param_se": []}
    with Progress.of(verbose) as progress, progress.stage(f"Monte Carlo EM {model.describe()}", unit="iteration"):
        monitor = Monitor(model, stopping=RelativeChange(tol=0.0, param_tol=None), callback=callback, progress=progress or None,
                          check_ascent=False)
        monitor.record(params, _loglik(model, data, params, track_loglik))
        size = sample_size(1) if callable(sample_size) else int(sample_size)
        below, converged, n_draws = 0, False, 0
        while monitor.n_iter < max_iter:
            batch = max(1, math.ceil(min(size, max_sample_size) / n_batches))
            batches = [model.sample_stats(data, params, rng, batch) for _ in range(n_batches)]
            monitor.n_evaluations += 1
            while True:
                proposal, delta, se = _step(model, batches, params)
                z_alpha = quantile(1.0 - alpha, len(batches) - 1)
                drawn = batch * len(batches)
                if callable(sample_size) or delta - z_alpha * se > 0 or drawn >= max_sample_size:
                    break
                batches += [model.sample_stats(data, params, rng, batch)
                            for _ in range(math.ceil(len(batches) / growth))]
                monitor.n_evaluations += 1
            n_draws += drawn
            result_lists["sample_sizes"].append(drawn)
            result_lists["delta_q"].append(delta)
            result_lists["delta_q_se"].append(se)
            result_lists["param_se"].append(_parameter_se(model, batches, params))
            params = proposal
            monitor.record(params, _loglik(model, data, params, track_loglik))
            upper = delta + quantile(1.0 - gamma, len(batches) - 1) * se
            below = below + 1 if upper < tol else 0
            if progress:
                progress.note(f"log-lik {monitor.trace.loglik[-1]:.10g}, Q-increase bound {upper:.1e} "
                              f"(tol {tol:g}), {drawn} draws")
            if below >= n_consecutive:
                converged = True
                break
            if callable(sample_size):
                size = int(sample_size(monitor.n_iter + 1))
            elif delta > 0:
                needed = drawn * ((z_alpha + quantile(1.0 - beta, len(batches) - 1)) * se / delta) ** 2
                size = int(min(max(drawn, math.ceil(needed)), max_sample_size))
        progress.conclude("converged" if converged else f"stopping rule not met in max_iter={max_iter}")
    if not converged:
        warnings.warn(f"Monte Carlo EM did not meet its stopping rule in max_iter={max_iter} iterations "
                      f"(tol={tol}); increase max_iter or loosen tol", ConvergenceWarning, stacklevel=2)
    trace = monitor.trace
    return MCEMResult(params=model.canonical(trace.params[-1]), loglik=trace.loglik[-1], n_iter=monitor.n_iter,
                      n_evaluations=monitor.n_evaluations, converged=converged, trace=trace, model=model,
                      n_draws=n_draws, **result_lists)


def _step(model: EMModel, batches: list[Stats], params: Params) -> tuple[Params, float, float]:
    """M-step on the pooled statistics; the estimated Q-increase and its standard error."""
    pooled = scale_stats(sum_stats(batches), 1.0 / len(batches))
    proposal = model.m_step(pooled, params)
    gains = np.array([model.complete_loglik(s, proposal) - model.complete_loglik(s, params) for s in batches])
    return proposal, float(gains.mean()), float(gains.std(ddof=1) / math.sqrt(len(batches)))


def _parameter_se(model: EMModel, batches: list[Stats], params: Params) -> np.ndarray:
    """Monte Carlo standard error of the M-step: spread of the per-batch M-steps over √B."""
    vectors = np.array([model.to_vector(model.m_step(s, params)) for s in batches])
    return vectors.std(axis=0, ddof=1) / math.sqrt(len(batches))


def _loglik(model: EMModel, data, params: Params, track: bool) -> float:
    if not track:
        return float("nan")
    value = float(model.loglik(data, params))
    if not np.isfinite(value):
        raise FloatingPointError(f"the observed-data log-likelihood is {value}: the parameters left the region "
                                 f"where {type(model).__name__} is defined")
    return value


def _check_protocol(model: EMModel) -> None:
    refuse_data_taking_m_step(model, "Monte Carlo EM", "its M-steps run on simulated statistics")
    for name in ("sample_stats", "complete_loglik"):
        if not callable(getattr(model, name, None)):
            raise ValueError(f"model: {type(model).__name__} has no {name}() method; Monte Carlo EM needs "
                             "sample_stats(data, params, rng, size) and complete_loglik(stats, params)")


def _check_arguments(sample_size, n_batches, growth, alpha, beta, gamma, tol, n_consecutive, max_iter,
                     max_sample_size) -> None:
    if not callable(sample_size) and not (isinstance(sample_size, (int, np.integer)) and sample_size >= 1):
        raise ValueError(f"sample_size: must be a positive integer or a schedule t -> m_t, got {sample_size!r}")
    for name, value, low in (("n_batches", n_batches, 2), ("n_consecutive", n_consecutive, 1),
                             ("max_iter", max_iter, 1), ("max_sample_size", max_sample_size, 1)):
        if not (isinstance(value, (int, np.integer)) and value >= low):
            raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not 0.0 < value < 0.5:
            raise ValueError(f"{name}: must lie in (0, 0.5), got {value!r}")
    if not (np.isfinite(growth) and growth >= 1.0):
        raise ValueError(f"growth: must be a number >= 1, got {growth!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol: must be a positive number, got {tol!r}")
