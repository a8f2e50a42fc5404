"""Online (stochastic) EM (Cappé & Moulines 2009) over a stream of batches.

For any model whose statistics are additive over observations, batch t (of n_t observations)
updates a running average of the statistics *per observation* and then the parameters::

    s_t = s_{t−1} + γ_t (S(batch_t; θ_{t−1}) / n_t − s_{t−1}),   γ_t = t^(−α),  α ∈ (½, 1]
    θ_t = m_step(N_t · s_t)

where ``S`` is the model's E-step and ``N_t`` the number of observations seen so far (so the
M-step sees statistics on the scale of the data seen, as batch EM would). The first ``warmup``
batches only accumulate statistics (θ stays at its start). With ``averaging``, the estimate is
the Polyak–Ruppert average of the iterates (the optimal rate for α < 1) over a tail of the
stream: after M-step n the average runs over the iterates since step ``2^(k−1)``, ``2^k ≤ n``,
i.e. over the last half to three quarters of the steps, so the start's transient is forgotten
(two running means, restarted at powers of two).

Batches come from any iterable (a generator over a file: the data need never be in memory); the
driver keeps only the running statistic, the current and averaged parameters, and a path of at
most ``max_path`` recorded iterates (thinned by halves as the stream grows), so its memory does
not grow with the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ..engine.data_pass import refuse_data_taking_m_step
from ..engine.estep import expected_stats, initial_params, prepare
from ..engine.progress import Progress
from ..engine.model import EMModel, Params, Stats
from ..engine.monitor import Callback
from ..engine.result import EMResult, Trace
from ..engine.stats import add_stats, scale_stats


@dataclass
class OnlineResult(EMResult):
    """Result of :func:`fit_online`: an :class:`~emkit.EMResult` with the stream's record.

    ``params`` are the Polyak–Ruppert average when averaging was on (else the last iterate);
    ``trace.params[i]`` is the iterate after batch ``path_batches[i]`` (0 is the start) and
    ``trace.loglik[i]`` the log-likelihood per observation of that batch at the parameters before
    its update (a predictive, out-of-sample score; NaN at the start); ``loglik`` is the running
    γ-weighted average of those scores. ``n_iter`` counts M-steps and ``n_evaluations`` batches;
    ``converged`` means the stream was consumed with at least one M-step.

    Attributes
    ----------
    path_batches : list of int
        Batch index of each recorded iterate.
    averaged_trace : Trace
        The estimate the fit would have returned after each recorded batch (the Polyak–Ruppert
        average once averaging has started, the iterate before).
    n_batches : int
        Number of batches processed.
    n_observations : float
        Number of observations processed.
    """

    path_batches: list[int] = field(default_factory=list)
    averaged_trace: Trace = field(default_factory=Trace)
    n_batches: int = 0
    n_observations: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: that of :class:`EMResult` plus the counts of batches and observations."""
        payload = super().to_dict()
        payload.update({"method": "online", "n_batches": int(self.n_batches),
                        "n_observations": float(self.n_observations)})
        return payload


def fit_online(
    model: EMModel,
    batches: Iterable[Any],
    *,
    init: Params | None = None,
    step_exponent: float = 0.6,
    warmup: int = 0,
    averaging: bool = True,
    batch_size: Callable[[Any], float] | None = None,
    max_path: int = 1000,
    verbose: bool | Progress = False,
    callback: Callback | None = None,
) -> OnlineResult:
    """Fit ``model`` by online EM, one M-step per batch of a stream.

    Parameters
    ----------
    model : EMModel
        Any model with additive statistics (its ``prepare`` is applied to every batch).
    batches : iterable
        The stream: each item is data in a form ``model.prepare`` accepts (or a Dask collection,
        see :func:`emkit.fit`). Consumed once, lazily.
    init : dict, optional
        Starting parameters; else ``model.initial_params`` on the first batch.
    step_exponent : float
        α in ``γ_t = t^(−α)``, in (0.5, 1].
    warmup : int
        Number of first batches that only accumulate statistics (no M-step).
    averaging : bool
        Return the tail Polyak–Ruppert average of the iterates (see above); else the last one.
    batch_size : callable, optional
        Number of observations in a (raw) batch; ``len(batch)`` by default (give e.g.
        ``lambda table: sum(table)`` for a frequency table).
    max_path : int
        Most iterates kept in the trace (at least 2).
    verbose : bool or Progress
        Show the batches on a progress display (True: a new one; a
        :class:`~emkit.engine.progress.Progress`: that one, shared).
    callback : callable, optional
        ``callback(batch_index, params, batch_loglik_per_observation)`` after every batch.

    Returns
    -------
    OnlineResult
    """
    refuse_data_taking_m_step(model, "online EM", "each online M-step sees one batch, not the data its inner "
                              "maximisation runs over")
    _check_arguments(step_exponent, warmup, max_path)
    size_of = batch_size if batch_size is not None else len
    path = _Path(max_path)
    state: OnlineEM | None = None
    with Progress.of(verbose) as progress, progress.stage(f"online EM {model.describe()}", unit="batch"):
        for raw in batches:
            data = prepare(model, raw) if state is None else state.prepare(raw)
            n_batch = float(size_of(raw))
            if state is None:
                params = model.check_params(init) if init is not None else initial_params(model, data, None)
                state = OnlineEM(model, params, step_exponent=step_exponent, warmup=warmup, averaging=averaging,
                                 context=getattr(data, "context", None))
                path.record(0, params, float("nan"), params)
            loglik = state.step(data, n_batch)
            path.record(state.n_batches, state.params, loglik / n_batch, state.estimate)
            if callback is not None:
                callback(state.n_batches, state.params, loglik / n_batch)
            progress.advance(note=f"log-lik per observation {loglik / n_batch:.6g}" if progress else None)
    if state is None:
        raise ValueError("batches: the stream is empty")
    path.finish()
    return OnlineResult(params=model.canonical(state.estimate), loglik=state.score, n_iter=state.n_steps,
                        n_evaluations=state.n_batches, converged=state.n_steps > 0, trace=path.trace, model=model,
                        path_batches=path.batches, averaged_trace=path.averaged, n_batches=state.n_batches,
                        n_observations=state.n_seen)


class OnlineEM:
    """The running state of online EM, one batch per :meth:`step`.

    :func:`fit_online` drives it over a whole stream; estimators' ``partial_fit`` keep one between
    calls. Batch ``t`` of ``n_t`` observations updates the running statistics per observation and
    then the parameters (after ``warmup`` batches)::

        s_t = s_{t−1} + γ_t (S(batch_t; θ_{t−1}) / n_t − s_{t−1}),  γ_t = t^(−α),  θ_t = m_step(N_t s_t)

    Parameters
    ----------
    model : EMModel
        A model with additive statistics.
    params : dict
        Starting parameters.
    step_exponent : float
        α, in (0.5, 1].
    warmup : int
        Number of first batches that only accumulate statistics.
    averaging : bool
        Keep the tail Polyak–Ruppert average of the iterates as :attr:`estimate`.
    context : object, optional
        The first batch's prepared data's ``context`` (e.g. a Gaussian family's centre of
        statistics): :meth:`prepare` prepares the later batches with it, so that the running
        statistics of every batch are about the same centre.
    """

    def __init__(self, model: EMModel, params: Params, *, step_exponent: float = 0.6, warmup: int = 0,
                 averaging: bool = False, context: Any = None) -> None:
        _check_arguments(step_exponent, warmup, 2)
        self.model, self.params, self.context = model, params, context
        self.step_exponent, self.warmup = step_exponent, warmup
        self.running: Stats | None = None
        self.n_batches, self.n_steps, self.n_seen = 0, 0, 0.0
        self.score = float("nan")
        self._tail = _TailAverage() if averaging else None

    def prepare(self, raw: Any) -> Any:
        """A later batch prepared as a chunk of the stream whose first batch gave :attr:`context`
        (``model.prepare_chunk(raw, context)``; the model's own preparation without one)."""
        return prepare(self.model, raw) if self.context is None else self.model.prepare_chunk(raw, self.context)

    @property
    def estimate(self) -> Params:
        """The tail average of the iterates when averaging (once started), else the last iterate."""
        if self._tail is None or self._tail.mean is None:
            return self.params
        return self.model.from_vector(self._tail.mean, self.params)

    def step(self, data: Any, n_batch: float) -> float:
        """Update with one prepared batch of ``n_batch`` observations; returns the batch's
        log-likelihood at the parameters before the update. On error nothing changes."""
        if not n_batch > 0:
            raise ValueError(f"batches: batch {self.n_batches + 1} has size {n_batch}; every batch needs observations")
        stats, loglik = expected_stats(self.model, data, self.params)
        if not np.isfinite(loglik):
            raise FloatingPointError(f"the log-likelihood of batch {self.n_batches + 1} is {loglik}: the parameters "
                                     f"left the region where {type(self.model).__name__} is defined")
        t, n_seen = self.n_batches + 1, self.n_seen + n_batch
        gamma = t ** -self.step_exponent
        per_observation = scale_stats(stats, 1.0 / n_batch)
        running = per_observation if self.running is None else add_stats(scale_stats(self.running, 1.0 - gamma),
                                                                          scale_stats(per_observation, gamma))
        params = self.model.m_step(scale_stats(running, n_seen), self.params) if t > self.warmup else self.params
        self.score = loglik / n_batch if t == 1 else self.score + gamma * (loglik / n_batch - self.score)
        if t > self.warmup:
            self.n_steps += 1
            if self._tail is not None:
                self._tail.add(self.model.to_vector(params))
        self.params, self.running, self.n_batches, self.n_seen = params, running, t, n_seen
        return float(loglik)


class _TailAverage:
    """Mean of the vectors added since the step ``2^(k−1)``, where ``2^k ≤ n`` (n added so far)."""

    def __init__(self) -> None:
        self.count = 0
        self._older: tuple[np.ndarray, int] | None = None  # (mean, count) since 2^(k−1)
        self._newer: tuple[np.ndarray, int] | None = None  # (mean, count) since 2^k

    def add(self, vector: np.ndarray) -> None:
        self.count += 1
        if self.count & (self.count - 1) == 0:  # a power of two: shift the windows
            self._older, self._newer = self._newer, None
        self._older = _update(self._older, vector)
        self._newer = _update(self._newer, vector)

    @property
    def mean(self) -> np.ndarray | None:
        """The tail mean (None before the first vector)."""
        window = self._older if self._older is not None else self._newer
        return None if window is None else window[0]


def _update(window: tuple[np.ndarray, int] | None, vector: np.ndarray) -> tuple[np.ndarray, int]:
    if window is None:
        return vector.copy(), 1
    mean, count = window
    return mean + (vector - mean) / (count + 1), count + 1


class _Path:
    """At most ``limit`` recorded iterates: every ``stride``-th batch, the stride doubling (and
    every other record dropped) whenever the limit is reached."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.stride = 1
        self.trace = Trace()
        self.averaged = Trace()
        self.batches: list[int] = []
        self._last: tuple | None = None

    def record(self, batch: int, params: Params, loglik: float, estimate: Params) -> None:
        """Offer the iterate after ``batch`` and the estimate the fit would return there."""
        self._last = (batch, params, loglik, estimate)
        if batch % self.stride:
            return
        if len(self.batches) >= self.limit:
            self.stride *= 2
            keep = [i for i, b in enumerate(self.batches) if b % self.stride == 0]
            self.batches = [self.batches[i] for i in keep]
            self.trace = Trace([self.trace.loglik[i] for i in keep], [self.trace.params[i] for i in keep])
            self.averaged = Trace([self.averaged.loglik[i] for i in keep], [self.averaged.params[i] for i in keep])
            if batch % self.stride:
                return
        self._append(batch, params, loglik, estimate)

    def finish(self) -> None:
        """Make sure the last iterate offered is in the path."""
        if self._last is not None and self.batches[-1] != self._last[0]:
            self._append(*self._last)

    def _append(self, batch: int, params: Params, loglik: float, estimate: Params) -> None:
        self.batches.append(batch)
        self.trace.append(params, loglik)
        self.averaged.append(estimate, loglik)


def _check_arguments(step_exponent, warmup, max_path) -> None:
    if not 0.5 < step_exponent <= 1.0:
        raise ValueError(f"step_exponent: α must lie in (0.5, 1], got {step_exponent!r}")
    if not (isinstance(warmup, (int, np.integer)) and warmup >= 0):
        raise ValueError(f"warmup: must be a non-negative integer, got {warmup!r}")
    if not (isinstance(max_path, (int, np.integer)) and max_path >= 2):
        raise ValueError(f"max_path: must be an integer >= 2, got {max_path!r}")
