"""hmmlearn's convergence monitor and its stopping rule for emkit's engine.

:class:`ConvergenceMonitor` has hmmlearn's interface (``tol``, ``n_iter``, ``verbose``,
``history``, ``iter``, ``report``, ``converged``); :class:`MonitorRule` makes any such monitor
(hmmlearn's own or a subclass of it with another ``converged``) the engine's stopping rule, in
hmmlearn's order of steps: iteration ``t`` evaluates ``ℓ(θ_{t−1})``, steps to ``θ_t`` and then
asks the monitor, so the fitted parameters are one M-step past the last reported value. The
engine's objective is the log-posterior (its ascent check stays exact); the monitor is told the
log-likelihood, hmmlearn's ``history``, the rule's ``log_prior`` of the iterate subtracted.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Callable, ClassVar

import numpy as np

from ..engine.stopping import RunCheck, StoppingRule, Verdict

_log = logging.getLogger(__name__)


class ConvergenceMonitor:
    """Records the log-likelihood of every Baum–Welch iteration (hmmlearn's ``ConvergenceMonitor``).

    Parameters
    ----------
    tol : float
        Converged when the log-likelihood gained less than ``tol`` in the last iteration.
    n_iter : int
        Converged (done) after ``n_iter`` iterations.
    verbose : bool
        Kept for hmmlearn's interface; emkit's progress display (the estimator's ``verbose``)
        shows the iterations.

    Attributes
    ----------
    history : deque of float
        The log-likelihood (without the log prior, as hmmlearn's) reported at each iteration
        of the last fit.
    iter : int
        Number of iterations reported.
    """

    def __init__(self, tol: float, n_iter: int, verbose: bool) -> None:
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history: deque[float] = deque()
        self.iter = 0

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(tol={self.tol}, n_iter={self.n_iter}, verbose={self.verbose}, "
                f"iter={self.iter}, history={list(self.history)})")

    def _reset(self) -> None:
        """Forget the iterations of a previous fit."""
        self.iter = 0
        self.history.clear()

    def report(self, log_prob: float) -> None:
        """Record one iteration's ``log_prob``; a decrease beyond ``√eps`` is logged (hmmlearn's text)."""
        if self.history and log_prob - self.history[-1] < -np.finfo(float).eps ** 0.5:
            _log.warning(f"Model is not converging.  Current: {log_prob} is not greater than {self.history[-1]}. "
                         f"Delta is {log_prob - self.history[-1]}")
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self) -> bool:
        """Done: ``n_iter`` iterations, or the last one gained less than ``tol``."""
        return self.iter == self.n_iter or (len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol)


class MonitorRule(StoppingRule):
    """The engine's stopping rule asking ``monitor`` (see the module): each evaluation, less
    ``log_prior(θ)`` of its flat parameter vector when given, is reported; the run stops when
    ``monitor.converged``; each run starts by resetting the monitor."""

    final_m_step: ClassVar[bool] = True

    def __init__(self, monitor, log_prior: Callable[[np.ndarray], float] | None = None) -> None:
        self.monitor = monitor
        self.tol = monitor.tol
        self.log_prior = log_prior

    @property
    def uses_parameters(self) -> bool:   # type: ignore[override]
        return self.log_prior is not None

    def start(self) -> RunCheck:
        self.monitor._reset()
        return _MonitorRun(self.monitor, self.log_prior)

    def describe(self) -> str:
        return f"tol={self.tol}"


class _MonitorRun(RunCheck):
    def __init__(self, monitor, log_prior: Callable[[np.ndarray], float] | None) -> None:
        self.monitor = monitor
        self.log_prior = log_prior

    def _report(self, loglik: float, vector) -> None:
        self.monitor.report(loglik - (0.0 if self.log_prior is None else self.log_prior(vector)))

    def first(self, loglik, vector):
        self._report(loglik, vector)
        return Verdict(bool(self.monitor.converged))

    def next(self, previous, loglik, vector, em_rate):
        self._report(loglik, vector)
        return Verdict(bool(self.monitor.converged), abs(loglik - previous))
