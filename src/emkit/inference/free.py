"""The fitted model seen as a function of its free parameters ``θ`` (what every variance method needs)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..engine.data_pass import m_step
from ..engine.estep import expected_stats, loglik
from ..engine.model import EMModel, Params, Stats, flatten_named

#: A free parameter whose ±BOUNDARY_STEP·max(1, |θ_i|) neighbours leave the parameter space is
#: taken to be on the boundary.
BOUNDARY_STEP = 1e-7


@dataclass(frozen=True)
class FreeProblem:
    """A model, its prepared data and the estimate, with maps in the free parameters ``θ``.

    ``params_at(θ) = model.from_free(θ)``; ``loglik(θ)`` the observed-data log-likelihood;
    ``em_map(θ)`` one EM step ``M(θ)``; ``reported(θ)`` the user-facing parameters
    (``model.named_params``) flattened, whose Jacobian carries the covariance to them.
    """

    model: EMModel
    data: Any
    params: Params

    @cached_property
    def estimate(self) -> np.ndarray:
        """``θ̂``, the free parameters at the estimate."""
        return np.asarray(self.model.to_free(self.params), dtype=float)

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """Names of the free parameters."""
        return tuple(self.model.free_labels(self.params))

    @cached_property
    def named(self) -> dict[str, Any]:
        """The user-facing parameters at the estimate (the template of the reported errors)."""
        return self.model.named_params(self.params)

    @cached_property
    def reported_labels(self) -> tuple[str, ...]:
        """Names of the flattened user-facing parameters."""
        return tuple(flatten_named(self.named)[0])

    @cached_property
    def stats(self) -> Stats:
        """Expected sufficient statistics at the estimate."""
        return expected_stats(self.model, self.data, self.params)[0]

    def params_at(self, theta: np.ndarray) -> Params:
        """Parameter dictionary at free parameters ``theta``."""
        return self.model.from_free(np.asarray(theta, dtype=float), self.params)

    def feasible(self, theta: np.ndarray) -> bool:
        """Whether ``theta`` lies in the parameter space."""
        return bool(np.all(np.isfinite(theta))) and self.model.is_feasible(self.params_at(theta))

    def loglik(self, theta: np.ndarray) -> float:
        """Observed-data log-likelihood ``ℓ(θ)``."""
        return float(loglik(self.model, self.data, self.params_at(theta)))

    def em_map(self, theta: np.ndarray) -> np.ndarray:
        """One EM step in free parameters: ``M(θ) = to_free(m_step(e_step(θ)))``."""
        params = self.params_at(theta)
        stats, _ = expected_stats(self.model, self.data, params)
        return np.asarray(self.model.to_free(m_step(self.model, self.data, stats, params)), dtype=float)

    def reported(self, theta: np.ndarray) -> np.ndarray:
        """The flattened user-facing parameters at ``theta``."""
        return self.reported_of(self.params_at(theta))

    def reported_of(self, params: Params) -> np.ndarray:
        """The flattened user-facing parameters of a parameter dictionary."""
        return flatten_named(self.model.named_params(params))[1]

    def reported_jacobian(self, steps: np.ndarray) -> np.ndarray:
        """``∂ reported / ∂θ`` at the estimate by central differences with the given steps
        (exact up to round-off for the usual linear constraints such as ``p_m = 1 − Σθ``)."""
        columns = []
        for i, h in enumerate(steps):
            offset = np.zeros_like(self.estimate)
            offset[i] = h
            columns.append((self.reported(self.estimate + offset) - self.reported(self.estimate - offset)) / (2.0 * h))
        return np.column_stack(columns)

    def boundary_labels(self) -> list[str]:
        """Free parameters at (within round-off of) the boundary of the parameter space."""
        on_boundary = []
        for i, label in enumerate(self.labels):
            offset = np.zeros_like(self.estimate)
            offset[i] = BOUNDARY_STEP * max(1.0, abs(self.estimate[i]))
            if not (self.feasible(self.estimate + offset) and self.feasible(self.estimate - offset)):
                on_boundary.append(label)
        return on_boundary

    def complete_information(self) -> np.ndarray:
        """``I_c(θ̂)`` from the model (``NotImplementedError`` if it does not give it)."""
        return np.atleast_2d(np.asarray(self.model.complete_information(self.stats, self.params), dtype=float))
