"""What a fit returns: the estimates, the iteration history and convergence diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import EMModel, Params, flatten_named


@dataclass
class Trace:
    """The history of one EM run: ``loglik[t]`` is the observed-data log-likelihood at
    ``params[t]``; ``params[0]`` is the start and ``params[-1]`` the estimate."""

    loglik: list[float] = field(default_factory=list)
    params: list[Params] = field(default_factory=list)

    def append(self, params: Params, loglik: float) -> None:
        """Record one iterate."""
        self.params.append(params)
        self.loglik.append(float(loglik))

    def __len__(self) -> int:
        return len(self.loglik)

    def named_table(self, model: EMModel) -> tuple[list[str], np.ndarray]:
        """Labels of the user-facing parameters and their values by iterate, shape
        ``(len(trace), n_labels)`` (``model.named_params`` of every iterate, flattened)."""
        rows = [flatten_named(model.named_params(p)) for p in self.params]
        return rows[0][0], np.array([values for _, values in rows])

    def vectors(self, model: EMModel) -> np.ndarray:
        """The iterates as rows of flat parameter vectors, shape ``(len(trace), n_params)``."""
        return np.array([model.to_vector(p) for p in self.params])


@dataclass
class EMResult:
    """Result of :func:`emkit.fit`.

    Attributes
    ----------
    params : dict
        The estimates (the last iterate; under scikit-learn's order of steps,
        :class:`~emkit.engine.stopping.PerSampleChange`, one M-step past it).
    loglik : float
        Observed-data log-likelihood at the last iterate (at ``params``, but for that order).
    n_iter : int
        Number of EM iterations (M-steps; an accelerated step counts as one iteration).
    n_evaluations : int
        Number of E-steps, i.e. passes over the data (each EM-map evaluation is one); compares
        plain and accelerated runs fairly.
    converged : bool
        Whether the convergence criterion was met before ``max_iter``.
    trace : Trace
        Log-likelihood and parameters of every iterate of the best run.
    model : EMModel
        The fitted model.
    restarts : list of float
        Final log-likelihood of each start (``n_init`` of them).
    accelerate : str or None
        The acceleration used (``"squarem"``) or None.
    """

    params: Params
    loglik: float
    n_iter: int
    n_evaluations: int
    converged: bool
    trace: Trace
    model: EMModel
    restarts: list[float] = field(default_factory=list)
    accelerate: str | None = None

    def named_params(self) -> dict[str, Any]:
        """The estimates under their user-facing names (JSON-ready)."""
        return self.model.named_params(self.params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: ``params``, ``loglik``, ``n_iter``, ``n_evaluations``, ``converged``."""
        return {
            "params": self.named_params(),
            "loglik": float(self.loglik),
            "n_iter": int(self.n_iter),
            "n_evaluations": int(self.n_evaluations),
            "converged": bool(self.converged),
        }
