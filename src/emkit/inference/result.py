"""What :func:`emkit.standard_errors` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtri

from ..engine.model import unflatten_named


@dataclass
class StandardErrors:
    """Covariance of the MLE and the standard errors of every reported parameter.

    Attributes
    ----------
    method : str
        ``"louis"``, ``"sem"``, ``"bootstrap"`` or ``"hessian"``.
    labels : tuple of str
        Names of the free parameters (``model.free_labels``), the rows of ``cov``.
    estimate : ndarray
        The free parameters at the MLE.
    cov : ndarray
        Covariance matrix of the MLE in the free parameters.
    se : dict
        Standard errors keyed like ``result.named_params()`` (constrained parameters, such as
        the last allele frequency, by the delta method).
    reported_labels : tuple of str
        Flattened names of the reported parameters (``weights[0]``, ...).
    reported_estimate, reported_cov : ndarray
        Reported parameters and their covariance ``J V Jᵀ`` (``J`` their Jacobian in the free
        parameters; the replicate covariance for the bootstrap).
    rate : float or None
        EM's rate of convergence at the MLE: the largest eigenvalue of ``DM = I_m I_c⁻¹``,
        the largest fraction of missing information (None where the model gives no
        complete-data information and the method does not estimate DM).
    dm : ndarray or None
        SEM's DM matrix (``dm[i, j] = ∂M_j/∂θ_i``).
    replicates : ndarray or None
        Bootstrap replicates of the reported parameters, one row per successful fit.
    diagnostics : dict
        Method details: SEM's ``asymmetry`` and ``n_evaluations``; the bootstrap's ``kind``,
        ``n_boot``, ``n_failed`` and ``n_unconverged``.
    """

    method: str
    labels: tuple[str, ...]
    estimate: np.ndarray
    cov: np.ndarray
    se: dict[str, Any]
    reported_labels: tuple[str, ...]
    reported_estimate: np.ndarray
    reported_cov: np.ndarray
    rate: float | None = None
    dm: np.ndarray | None = None
    replicates: np.ndarray | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def confidence_intervals(self, level: float = 0.95) -> dict[str, Any]:
        """Intervals keyed like ``se``, each ``[low, high]``.

        Bootstrap: percentile intervals, the ``(1 ± level)/2`` quantiles of the replicates.
        Otherwise Wald intervals ``θ̂ ± z_{(1+level)/2}·se``.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level: must lie in (0, 1), got {level!r}")
        tail = (1.0 - level) / 2.0
        if self.replicates is not None:
            low, high = np.quantile(self.replicates, [tail, 1.0 - tail], axis=0)
        else:
            half = ndtri(1.0 - tail) * np.sqrt(np.diag(self.reported_cov))
            low, high = self.reported_estimate - half, self.reported_estimate + half
        return unflatten_named(self.se, np.stack([low, high], axis=-1), trailing=(2,))

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-ready: ``se_method``, ``se``, ``cov`` (``labels`` and ``matrix``), ``em_rate`` and
        ``intervals`` (``level``, ``kind`` percentile or wald, ``bounds`` keyed like ``se``)."""
        return {
            "se_method": self.method,
            "se": self.se,
            "cov": {"labels": list(self.labels), "matrix": self.cov.tolist()},
            "em_rate": self.rate,
            "intervals": {"level": level, "kind": "percentile" if self.replicates is not None else "wald",
                          "bounds": self.confidence_intervals(level)},
        }
