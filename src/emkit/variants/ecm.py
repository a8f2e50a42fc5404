"""ECM (Meng & Rubin 1993) and ECME (Liu & Rubin 1994): the M-step as conditional maximizations.

When ``argmax_θ Q(θ | θ_t)`` has no closed form but splits into blocks that do given the others,
the M-step is replaced by S conditional maximizations (CM-steps) run in order, each over one
block with the rest held at their latest values::

    θ_{t+1/S} = argmax over block 1 of Q(θ | θ_t),  ...,  θ_{t+1} = argmax over block S

ECME lets some CM-steps maximize the *observed-data* log-likelihood ``ℓ(θ)`` instead of Q, which
usually converges much faster. Both keep EM's ascent property, so the engine's ascent check
applies. A model declares its CM-steps through one method::

    conditional_steps(variant) -> sequence of step(data, stats, params) -> params

with ``variant`` in :data:`VARIANTS`; ``stats`` are those of the E-step at the start of the cycle
(a multicycle ECM recomputes them before every CM-step). The driver wraps the model so that
:func:`emkit.fit` runs the cycles: restarts, convergence, the ascent check, SQUAREM and the
trace are the engine's.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..engine.estep import expected_stats
from ..engine.fit import fit
from ..engine.model import EMModel, Params, Regularization, Stats
from ..engine.result import EMResult

#: ``"ecm"``: every CM-step maximizes Q; ``"ecme"``: some maximize the observed likelihood.
VARIANTS = ("ecm", "ecme")

ConditionalStep = Callable[[Any, Stats, Params], Params]


def fit_ecm(model: EMModel, data: Any, *, variant: str = "ecm", multicycle: bool = False, **options: Any) -> EMResult:
    """Fit ``model`` by ECM or ECME: each iteration is an E-step and the model's CM-steps.

    Parameters
    ----------
    model : EMModel
        A model with ``conditional_steps(variant)`` (see the module documentation).
    data : object
        Data in any form ``model.prepare`` accepts (in memory: the CM-steps of ECME may need
        every row).
    variant : {"ecm", "ecme"}
        Which CM-steps the model supplies: on Q only, or some on the observed likelihood.
    multicycle : bool
        Run an E-step before every CM-step (multicycle ECM), not only at the start of a cycle.
    **options
        Passed to :func:`emkit.fit` (``init``, ``tol``, ``param_tol``, ``max_iter``, ``n_init``,
        ``random_state``, ``accelerate``, ``callback``, ...).

    Returns
    -------
    EMResult
        As :func:`emkit.fit`; ``n_evaluations`` counts the E-steps at the start of each cycle
        (not the extra E-steps of a multicycle ECM nor the likelihood passes of ECME CM-steps).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    if not callable(getattr(model, "conditional_steps", None)):
        raise ValueError(f"model: {type(model).__name__} declares no conditional_steps(variant); ECM needs its "
                         "CM-steps (use emkit.fit for a model with a closed-form M-step)")
    steps = tuple(model.conditional_steps(variant))
    if not steps:
        raise ValueError(f"model: {type(model).__name__}.conditional_steps({variant!r}) returned no CM-step")
    prepared = model.prepare(data)
    result = fit(ConditionalMaximization(model, steps, prepared, multicycle), prepared, **options)
    result.model = model
    return result


class ConditionalMaximization(EMModel):
    """``model`` with its M-step replaced by a cycle of CM-steps on fixed, prepared ``data``.

    Every other part of the contract is the model's own; :meth:`prepare` expects data already
    prepared by ``model.prepare`` (the CM-steps of ECME and multicycle ECM need the data).
    """

    def __init__(self, model: EMModel, steps: Sequence[ConditionalStep], data: Any, multicycle: bool = False) -> None:
        self.model = model
        self.steps = tuple(steps)
        self.data = data
        self.multicycle = multicycle
        self.param_names = model.param_names

    def prepare(self, data: Any) -> Any:
        return data

    def initial_params(self, data: Any, rng: np.random.Generator | None = None) -> Params:
        return self.model.initial_params(data, rng)

    def e_step(self, data: Any, params: Params) -> tuple[Stats, float]:
        return self.model.e_step(data, params)

    def m_step(self, stats: Stats, params: Params) -> Params:
        """One cycle of CM-steps from ``params``."""
        for index, step in enumerate(self.steps):
            if self.multicycle and index > 0:
                stats, _ = expected_stats(self.model, self.data, params)
            params = step(self.data, stats, params)
        return params

    def loglik(self, data: Any, params: Params) -> float:
        return self.model.loglik(data, params)

    def log_prior(self, params: Params) -> float:
        return self.model.log_prior(params)

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """The model's, for CM-steps that regularise as its M-step does (a CM-step on Q or ℓ
        after them only raises the objective further)."""
        return self.model.regularization(stats, params)

    def check_params(self, params: Params) -> Params:
        return self.model.check_params(params)

    def is_feasible(self, params: Params) -> bool:
        return self.model.is_feasible(params)

    def canonical(self, params: Params) -> Params:
        return self.model.canonical(params)

    def named_params(self, params: Params) -> dict[str, Any]:
        return self.model.named_params(params)

    def describe(self) -> str:
        return self.model.describe()

    def n_free_parameters(self) -> int:
        return self.model.n_free_parameters()

    def to_vector(self, params: Params) -> np.ndarray:
        return self.model.to_vector(params)

    def from_vector(self, vector: np.ndarray, like: Params) -> Params:
        return self.model.from_vector(vector, like)
