"""From an information matrix to a covariance, and EM's rate from the missing information."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import linalg


def covariance_from_information(information: np.ndarray, labels: Sequence[str], name: str) -> np.ndarray:
    """``V = I⁻¹`` through the Cholesky factor of ``I`` (symmetrized first).

    Raises
    ------
    ValueError
        When ``I`` is not positive definite: the estimate is not a strict local maximum and the
        parameters along the reported direction are not identified.
    """
    information = 0.5 * (information + information.T)
    try:
        factor = linalg.cho_factor(information, lower=True)
    except linalg.LinAlgError:
        values, vectors = np.linalg.eigh(information)
        direction = ", ".join(f"{w:+.3g}·{label}" for w, label in zip(vectors[:, 0], labels) if abs(w) > 1e-3)
        raise ValueError(
            f"{name}: the information matrix is not positive definite (smallest eigenvalue {values[0]:.3g} "
            f"along {direction}); the estimate is not a strict maximum, so the parameters are not identified "
            f"there (e.g. two mixture components coincide: fit fewer components)") from None
    return linalg.cho_solve(factor, np.eye(information.shape[0]))


def missing_fraction(complete: np.ndarray, missing: np.ndarray) -> float:
    """EM's rate of convergence: the largest eigenvalue of ``I_c⁻¹ I_m`` (fraction of missing
    information), from the symmetric-definite pencil ``(I_m, I_c)``."""
    return float(linalg.eigh(0.5 * (missing + missing.T), 0.5 * (complete + complete.T), eigvals_only=True)[-1])
