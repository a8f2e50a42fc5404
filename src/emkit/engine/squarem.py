"""SQUAREM: squared extrapolation of the EM map (Varadhan & Roland 2008).

The accelerator sees only the EM map ``F`` (one E-step and one M-step) and the observed-data
log-likelihood, through the model's flat-vector mapping, so one implementation serves every
model. One cycle from ``θ``::

    θ1 = F(θ),  θ2 = F(θ1),  r = θ1 − θ,  v = θ2 − 2θ1 + θ
    θ' = θ + 2αr + α²v          (α = ‖r‖/‖v‖ for SqS3; −rᵀv/vᵀv for SqS1; −rᵀr/rᵀv for SqS2)

with α clipped to adaptive bounds ``[step_min, step_max]`` (``step_max`` grows by
``step_factor`` whenever it binds). ``θ'`` is rejected in favour of the plain double step ``θ2``
when it leaves the parameter space or lowers the log-likelihood (the monotonicity safeguard);
an accepted extrapolation is followed by one stabilising EM step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .estep import expected_stats
from .model import EMModel, Params, Stats
from .monitor import Monitor

STEP_LENGTHS = ("SqS1", "SqS2", "SqS3")


@dataclass(frozen=True)
class Squarem:
    """SQUAREM settings: ``fit(..., accelerate=Squarem(scheme="SqS1"))``.

    Parameters
    ----------
    scheme : {"SqS3", "SqS1", "SqS2"}
        Step-length rule (SqS3, ``α = ‖r‖/‖v‖``, is the most robust and the default).
    step_min, step_max : float
        Initial bounds of α (``α = 1`` is the plain double EM step).
    step_factor : float
        Factor by which ``step_max`` grows each time the step is clipped to it.
    """

    scheme: str = "SqS3"
    step_min: float = 1.0
    step_max: float = 1.0
    step_factor: float = 4.0

    def __post_init__(self) -> None:
        if self.scheme not in STEP_LENGTHS:
            raise ValueError(f"scheme: expected one of {STEP_LENGTHS}, got {self.scheme!r}")
        if not (self.step_max >= self.step_min and self.step_factor > 1):
            raise ValueError("step_min, step_max, step_factor: need step_max >= step_min and step_factor > 1")


def step_length(r: np.ndarray, v: np.ndarray, scheme: str) -> float:
    """Step length α of the squared extrapolation (positive-α convention ``θ + 2αr + α²v``).

    ``v`` must be nonzero; SqS2 with ``rᵀv = 0`` gives α = 1 (the plain double EM step).
    """
    if scheme == "SqS1":
        return float(-(r @ v) / (v @ v))
    if scheme == "SqS2":
        r_dot_v = float(r @ v)
        return float(-(r @ r) / r_dot_v) if r_dot_v != 0.0 else 1.0
    if scheme == "SqS3":
        return float(np.sqrt((r @ r) / (v @ v)))
    raise ValueError(f"scheme: expected one of {STEP_LENGTHS}, got {scheme!r}")


def run_squarem(model: EMModel, data, params: Params, stats: Stats, loglik: float, monitor: Monitor,
                max_iter: int, settings: Squarem) -> tuple[bool, Stats]:
    """Iterate SQUAREM cycles from ``params`` (already evaluated and recorded: ``stats``,
    ``loglik``) while ``monitor.n_iter < max_iter``, recording each accepted point in ``monitor``.

    Returns whether the monitor's stopping rule was met, and the statistics of the last point.
    """
    scheme, step_min, step_max, step_factor = settings.scheme, settings.step_min, settings.step_max, settings.step_factor
    while monitor.n_iter < max_iter:
        p1 = monitor.m_step(stats, params)
        s1, l1 = monitor.evaluate(data, p1)
        p2 = monitor.m_step(s1, p1)
        s2, l2 = monitor.evaluate(data, p2)
        x0, x1, x2 = (model.to_vector(p) for p in (params, p1, p2))
        r, v = x1 - x0, x2 - 2.0 * x1 + x0
        r_norm = float(np.linalg.norm(r))
        em_rate = float(np.linalg.norm(x2 - x1)) / r_norm if r_norm > 0 else 0.0
        candidate = None
        if v @ v > 0.0 and np.all(np.isfinite(v)):
            alpha = float(np.clip(step_length(r, v, scheme), step_min, step_max))
            if alpha == step_max:
                step_max *= step_factor
            if alpha == step_min and alpha < 0:
                step_min *= step_factor
            extrapolated = model.from_vector(x0 + 2.0 * alpha * r + alpha * alpha * v, params)
            if abs(alpha - 1.0) > 0.01 and model.is_feasible(extrapolated):
                candidate = _accept_if_ascent(model, data, extrapolated, loglik, monitor)
        if candidate is None:
            params, stats, loglik = p2, s2, l2
        else:
            # One stabilising EM step from the accepted extrapolation.
            params = monitor.m_step(candidate[1], candidate[0])
            stats, loglik = monitor.evaluate(data, params)
        if monitor.record(params, loglik, em_rate=em_rate):
            return True, stats
    return False, stats


def _accept_if_ascent(model: EMModel, data, params: Params, floor: float, monitor: Monitor):
    """Evaluate an extrapolated point; keep it only if finite and not below ``floor``."""
    stats, loglik = expected_stats(model, data, params)   # the objective, log prior included
    monitor.n_evaluations += 1
    if not np.isfinite(loglik) or loglik < floor:
        return None
    return params, stats, float(loglik)
