"""Notes on a fit that ended on the boundary of the parameter space or degenerate, for the end of
the command's output (``note: ...`` lines, and ``"notes"`` in ``--json``).

Two checks, both on the fitted parameters only:

- boundary: a free parameter ``θ_i`` with ``θ ± δ e_i`` outside the parameter space for
  ``δ = BOUNDARY_DISTANCE · max(1, |θ_i|)`` (e.g. an allele frequency creeping to 0: EM nears such
  a maximum sublinearly, so 100,000 iterations may not "converge");
- collapse: a component (or state) whose smallest variance is within a factor
  :data:`FLOOR_FACTOR` of the ``reg_covar`` floor, i.e. it sits on a few points and the
  likelihood would be unbounded without the floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import EMResult
from ..engine.model import flatten_named
from ..kernels.covariance_structures import covariance_structure

#: How close to the boundary (relative step in the free parameters) counts as on it.
BOUNDARY_DISTANCE = 1e-4

#: A variance below this many ``reg_covar`` is on the floor (collapsed).
FLOOR_FACTOR = 2.0


def boundary_notes(result: EMResult) -> list[str]:
    """A note when ``result``'s estimate is on (or within :data:`BOUNDARY_DISTANCE` of) the
    boundary of the parameter space, naming the parameters there; none for a model without the
    free-parameter hooks."""
    model, params = result.model, result.params
    try:
        theta = np.asarray(model.to_free(params), dtype=float)
        labels = model.free_labels(params)
        reported_labels, reported = flatten_named(model.named_params(params))
    except NotImplementedError:
        return []
    on_boundary = []
    for i, label in enumerate(labels):
        step = np.zeros_like(theta)
        step[i] = BOUNDARY_DISTANCE * max(1.0, abs(theta[i]))
        if not all(_feasible(model, theta + sign * step, params) for sign in (1.0, -1.0)):
            on_boundary.append(label)
    zero = [label for label, value in zip(reported_labels, np.ravel(reported)) if abs(value) < BOUNDARY_DISTANCE]
    if not result.converged:
        zero = list(dict.fromkeys(zero + _creeping_to_zero(result)))
    if not on_boundary and not zero:
        return []
    where = f"{', '.join(zero)} at or near 0" if zero else ", ".join(on_boundary)
    slow = "" if result.converged else ("; EM approaches such a maximum slowly, which is why it did not converge "
                                        "(more --max-iter only creeps closer)")
    return [f"the estimate is on the boundary of the parameter space ({where}){slow}"]


def _creeping_to_zero(result: EMResult) -> list[str]:
    """Reported parameters that EM drives to 0 sublinearly (value ~ c/t: halving from iteration
    t/2 to t, and small), the signature of a maximum on the boundary."""
    params = getattr(result.trace, "params", None)
    if params is None or len(params) < 20:
        return []
    try:
        labels, end = flatten_named(result.model.named_params(params[-1]))
        half = flatten_named(result.model.named_params(params[len(params) // 2]))[1]
    except (NotImplementedError, KeyError, TypeError):
        return []
    end, half = np.ravel(end), np.ravel(half)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = end / half
    creeping = (end > 0) & (end < 0.01) & (ratio > 0.3) & (ratio < 0.75)
    return [label for label, flag in zip(labels, creeping) if flag]


def _feasible(model, theta: np.ndarray, like: dict) -> bool:
    try:
        return bool(np.all(np.isfinite(theta))) and bool(model.is_feasible(model.from_free(theta, like)))
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return False


def collapse_notes(variances: np.ndarray, reg_covar: float, counts: Any = None, what: str = "component") -> list[str]:
    """One note naming each ``what`` whose smallest variance (``variances[j]``, any shape per
    component) is on the ``reg_covar`` floor; ``counts[j]``: the rows assigned to it (when known)."""
    if not reg_covar > 0:
        return []
    collapsed = [j for j, variance in enumerate(variances) if float(np.min(variance)) <= FLOOR_FACTOR * reg_covar]
    if not collapsed:
        return []
    names = ", ".join(f"{j}" + ("" if counts is None else f" ({int(counts[j])} point(s))") for j in collapsed)
    plural = "s" if len(collapsed) > 1 else ""
    return [f"degenerate: {what}{plural} {names} collapsed onto a few points (a variance on the --reg-covar floor "
            f"{reg_covar:g}); the likelihood is unbounded there, so its value means little; use fewer {what}s (-k) "
            "or a larger --reg-covar"]


def fit_notes(result: EMResult) -> list[str]:
    """The notes of a fit of the engine: :func:`boundary_notes`, and :func:`collapse_notes` for a
    mixture with ``reg_covar`` (e.g. of Student-t components)."""
    notes = boundary_notes(result)
    model, params = result.model, result.params
    scatters = params.get("scatters", params.get("covariances")) if isinstance(params, dict) else None
    if getattr(model, "covariance_type", None) is not None and scatters is not None and "weights" in params:
        k = len(params["weights"])
        d = np.shape(params.get("locations", params.get("means")))[-1]
        variances = covariance_structure(model.covariance_type).diagonal_variances(np.asarray(scatters, dtype=float),
                                                                                   k, d)
        notes += collapse_notes(variances, getattr(model, "reg_covar", 0.0))
    return notes
