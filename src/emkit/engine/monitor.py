"""Bookkeeping shared by every EM driver: history, convergence, the ascent check, progress.

``progress`` is a :class:`~emkit.engine.progress.Progress` (None: nothing shown); each recorded
iteration advances its innermost stage.

The ascent check watches the objective the fit ascends (the log-likelihood, plus the log prior
of a model with one). An exact M-step never lowers it; a regularised one (a covariance floor) may,
by at most what the regularisation gave up (:meth:`~emkit.engine.model.EMModel.regularization`):
a fall within that bound is the regularisation's (a ``RegularizationWarning`` when a component
collapsed onto the floor, naming it), a larger fall is an ``AscentWarning``.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ..exceptions import AscentWarning, RegularizationWarning
from .data_pass import m_step as data_taking_m_step
from .estep import expected_stats
from .model import EMModel, Params, Stats
from .result import Trace
from .stopping import StoppingRule

Callback = Callable[[int, Params, float], None]

#: A decrease of the log-likelihood smaller than this (relative) is taken as round-off.
ASCENT_RTOL = 1e-10


class Monitor:
    """Record iterates of one EM run and ask its stopping rule (:mod:`emkit.engine.stopping`)
    whether it has converged."""

    def __init__(
        self,
        model: EMModel,
        *,
        stopping: StoppingRule,
        callback: Callback | None,
        progress=None,
        check_ascent: bool = True,
        loglik_rounding: float = 0.0,
        data=None,
    ) -> None:
        self.model = model
        self.data = data
        self.stopping = stopping
        self._run = stopping.start()
        self.callback = callback
        self.progress = progress
        self.check_ascent = check_ascent
        self.loglik_rounding = loglik_rounding
        self.trace = Trace()
        self.n_evaluations = 0
        self._steps: list[tuple[Stats, Params]] = []
        self._reported_collapse = False

    @property
    def n_iter(self) -> int:
        """Iterations done so far (iterates recorded after the start)."""
        return max(len(self.trace) - 1, 0)

    def evaluate(self, data, params: Params):
        """Run one E-step (counted), returning ``(stats, loglik)``; fail loudly on NaN."""
        stats, loglik = expected_stats(self.model, data, params)
        self.n_evaluations += 1
        if not np.isfinite(loglik):
            raise FloatingPointError(
                f"the observed-data log-likelihood is {loglik} at iteration {self.n_iter}: the "
                f"parameters left the region where the model is defined ({type(self.model).__name__})"
            )
        return stats, float(loglik)

    def m_step(self, stats: Stats, params: Params) -> Params:
        """The model's M-step from ``stats`` (drivers call it here, so that the ascent check can
        ask the model what a regularised step gave up since the last recorded iterate); a model
        whose M-step takes the data gets a pass over :attr:`data` (:mod:`emkit.engine.data_pass`)."""
        new = data_taking_m_step(self.model, self.data, stats, params)
        self._steps.append((stats, new))
        return new

    def record(self, params: Params, loglik: float, em_rate: float | None = None) -> bool:
        """Record an iterate; return True when the convergence criterion is met.

        ``em_rate`` is the driver's own estimate of EM's linear rate (SQUAREM measures it from
        its two EM steps, since the ratio of its accelerated steps says nothing about it).
        """
        previous = self.trace.loglik[-1] if self.trace.loglik else None
        self.trace.append(params, loglik)
        iteration = self.n_iter
        vector = self.model.to_vector(params) if self.stopping.uses_parameters else None
        if self.callback is not None:
            self.callback(iteration, params, loglik)
        if previous is None:
            self._steps.clear()
            if self.progress is not None:
                self.progress.note(f"log-lik {loglik:.10g}")
            return self._run.first(loglik, vector).converged
        change = loglik - previous
        rounding = max(ASCENT_RTOL * max(1.0, abs(previous)), self.loglik_rounding)
        if self.check_ascent and change < -rounding:
            self._check_decrease(iteration, previous, loglik, rounding)
        self._steps.clear()
        verdict = self._run.next(previous, loglik, vector, em_rate)
        if self.progress is not None:
            self._report(loglik, verdict.change, verdict.settling)
        return verdict.converged

    def _report(self, loglik: float, relative_change: float, settling: bool) -> None:
        """One more iteration on the progress display, with the log-likelihood and its change
        against ``tol`` (Monte Carlo EM, ``tol=0``, has a rule of its own)."""
        note = f"log-lik {loglik:.10g}"
        if self.stopping.tol > 0:
            note += f", change {relative_change:.1e} (tol {self.stopping.tol:g})"
            if settling:
                note += ", parameters settling"
        self.progress.advance(note=note)

    def _check_decrease(self, iteration: int, previous: float, loglik: float, rounding: float) -> None:
        """Tell a fall of the objective that the regularised M-steps since the last iterate
        explain (their summed shortfall bounds it) from a wrong E- or M-step."""
        given_up = [self.model.regularization(stats, params) for stats, params in self._steps]
        given_up = [item for item in given_up if item is not None]
        shortfall = sum(item.shortfall for item in given_up)
        fall = previous - loglik
        where = f"at iteration {iteration} ({previous:.12g} -> {loglik:.12g})"
        if given_up and fall <= shortfall * (1.0 + ASCENT_RTOL) + rounding:
            collapsed = [name for item in given_up for name in item.collapsed]
            if collapsed and not self._reported_collapse:
                self._reported_collapse = True
                warnings.warn(
                    f"the objective of {type(self.model).__name__} fell {where} because its M-step is "
                    f"regularised, not because it is wrong: {'; '.join(dict.fromkeys(collapsed))}. "
                    f"Remedy: {given_up[-1].remedy}",
                    RegularizationWarning,
                    stacklevel=6,
                )
            return
        explained = (f"; its regularised M-step explains a fall of at most {shortfall:.3g}, not {fall:.3g}"
                     if given_up else "")
        warnings.warn(
            f"the log-likelihood decreased {where}; EM never decreases it, so the E- or M-step "
            f"of {type(self.model).__name__} is wrong or the fit is numerically degenerate{explained}",
            AscentWarning,
            stacklevel=6,
        )
