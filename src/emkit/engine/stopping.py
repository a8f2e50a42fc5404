"""Stopping rules of the EM engine: when one run of :func:`emkit.fit` has converged.

A rule is a settings object; :meth:`StoppingRule.start` gives the state of one run, which the
:class:`~emkit.engine.monitor.Monitor` asks after every evaluation of the objective ``ℓ``:

* :class:`RelativeChange` (the default, what ``tol``, ``param_tol`` and ``tol_scale`` build):
  ``|ℓ_t − ℓ_{t−1}| ≤ tol·|ℓ_t|`` (or ``≤ tol·scale``), and every parameter's estimated distance
  to the fixed point within ``param_tol``;
* :class:`PerSampleChange`: scikit-learn's rule, ``|ℓ_t − ℓ_{t−1}| ≤ tol·n`` (the mean
  log-likelihood per sample changed by at most ``tol``) with scikit-learn's order of steps
  (each evaluation is followed by an M-step, the last one too) and its warm start.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..validation import check_real


@dataclass(frozen=True)
class Verdict:
    """What a rule says of one iterate: ``converged``; ``change``, the change of the objective in
    the units compared with ``tol`` (for the progress display); ``settling``, whether the
    objective has converged but the parameters still move."""

    converged: bool
    change: float = np.inf
    settling: bool = False


class RunCheck(ABC):
    """The state of a rule during one run (made by :meth:`StoppingRule.start`)."""

    @abstractmethod
    def first(self, loglik: float, vector: np.ndarray | None) -> Verdict:
        """The verdict on the start, evaluated once (converged only for a warm start that
        has nothing left to do)."""

    @abstractmethod
    def next(self, previous: float, loglik: float, vector: np.ndarray | None, em_rate: float | None) -> Verdict:
        """The verdict on a new iterate whose objective is ``loglik`` (``previous`` before it;
        ``em_rate``: the driver's own estimate of EM's linear rate, SQUAREM's)."""


class StoppingRule(ABC):
    """When a run of :func:`emkit.fit` stops (see the module).

    Attributes
    ----------
    tol : float
        The tolerance on the change of the objective (0: never converged by it).
    final_m_step : bool
        scikit-learn's order of steps: ``max_iter`` bounds the (E-step, M-step) pairs, the run
        ends with the M-step after the evaluation that met the rule (the result's ``params`` are
        one step past the trace's last iterate, ``loglik`` is the last evaluation), ``n_iter``
        counts every M-step, and ``max_iter=0`` evaluates nothing (``loglik`` is −∞).
    uses_parameters : bool
        Whether :class:`RunCheck` needs the flat parameter vector of every iterate.
    """

    tol: float
    final_m_step: ClassVar[bool] = False
    uses_parameters: ClassVar[bool] = False

    @abstractmethod
    def start(self) -> RunCheck:
        """The state of a new run."""

    def describe(self) -> str:
        """The settings in words, for the warning of a run that did not converge."""
        return f"tol={self.tol}"


@dataclass(frozen=True)
class RelativeChange(StoppingRule):
    """Stop when ``|ℓ_t − ℓ_{t−1}| ≤ tol·s`` with ``s = |ℓ_t|`` (or ``s = scale`` when given, e.g.
    the number of observations for a per-observation absolute change) and, unless ``param_tol``
    is None, ``|θ_t,i − θ_{t−1},i| / (1 − ĉ) ≤ param_tol·(1 + |θ_t,i|)`` for every parameter.

    ``ĉ = ‖θ_t − θ_{t−1}‖ / ‖θ_{t−1} − θ_{t−2}‖`` estimates EM's linear rate, so the left side
    bounds the distance to the fixed point: a slow EM (rate near one) runs until it is truly
    close, not merely slow.
    """

    tol: float = 1e-10
    param_tol: float | None = 1e-10
    scale: float | None = None

    def __post_init__(self) -> None:
        check_real(self.tol, "tol", low=0.0)
        if self.param_tol is not None:
            check_real(self.param_tol, "param_tol", low=0.0)
        if self.scale is not None:
            check_real(self.scale, "tol_scale", low=0.0, low_open=True)

    @property
    def uses_parameters(self) -> bool:   # type: ignore[override]
        return self.param_tol is not None

    def start(self) -> RunCheck:
        return _RelativeRun(self)


class _RelativeRun(RunCheck):
    def __init__(self, rule: RelativeChange) -> None:
        self.rule = rule
        self.previous_vector: np.ndarray | None = None
        self.previous_step = np.inf

    def first(self, loglik, vector):
        self.previous_vector = vector
        return Verdict(False)

    def next(self, previous, loglik, vector, em_rate):
        rule = self.rule
        change = abs(loglik - previous)
        scale = abs(loglik) if rule.scale is None else rule.scale
        met = change <= rule.tol * scale
        relative = change / scale if scale > 0 else np.inf
        if rule.param_tol is None:
            return Verdict(met, relative)
        settled = self._settled(vector, em_rate)
        return Verdict(met and settled, relative, met and not settled)

    def _settled(self, vector: np.ndarray, em_rate: float | None) -> bool:
        step = np.abs(vector - self.previous_vector)
        step_norm = float(np.linalg.norm(step))
        if em_rate is not None:
            rate = min(em_rate, 1.0)
        else:
            rate = min(step_norm / self.previous_step, 1.0) if self.previous_step > 0 else 0.0
        self.previous_vector, self.previous_step = vector, step_norm
        if rate >= 1.0:
            return bool(step_norm == 0.0)
        return bool(np.all(step / (1.0 - rate) <= self.rule.param_tol * (1.0 + np.abs(vector))))


@dataclass(frozen=True)
class PerSampleChange(StoppingRule):
    """scikit-learn's ``GaussianMixture`` rule: stop when the mean log-likelihood per sample,
    ``ℓ/n``, changed by at most ``tol`` (``|ℓ_t − ℓ_{t−1}| ≤ tol·n``), in scikit-learn's order of
    steps (see :attr:`StoppingRule.final_m_step`): iteration ``t`` evaluates ``ℓ(θ_{t−1})`` and
    steps to ``θ_t``, so from the same start the result is scikit-learn's, ``n_iter`` included.

    Parameters
    ----------
    tol : float
        Tolerance on the change of ``ℓ/n``.
    n_samples : float
        ``n``: the number of rows, or their total weight.
    previous : float, optional
        A warm start's previous ``ℓ/n`` (scikit-learn's ``lower_bound_``): the first evaluation
        is compared with it (strictly below ``tol``: converged at once, only the final M-step
        is taken); −∞ (the bound of a fit with ``max_iter=0``) is never within ``tol``.
    """

    tol: float = 1e-3
    n_samples: float = 1.0
    previous: float | None = None
    final_m_step: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_real(self.tol, "tol", low=0.0)
        check_real(self.n_samples, "n_samples", low=0.0, low_open=True)
        if self.previous is not None and (np.isnan(self.previous) or self.previous == np.inf):
            raise ValueError(f"previous: expected a mean log-likelihood or -inf, got {self.previous!r}")

    def start(self) -> RunCheck:
        return _PerSampleRun(self)

    def describe(self) -> str:
        return f"tol={self.tol} per sample"


class _PerSampleRun(RunCheck):
    def __init__(self, rule: PerSampleChange) -> None:
        self.rule = rule

    def first(self, loglik, vector):
        rule = self.rule
        if rule.previous is None:
            return Verdict(False)
        change = abs(loglik / rule.n_samples - rule.previous)
        return Verdict(change < rule.tol, change)

    def next(self, previous, loglik, vector, em_rate):
        change = abs(loglik - previous)
        return Verdict(change <= self.rule.tol * self.rule.n_samples, change / self.rule.n_samples)
