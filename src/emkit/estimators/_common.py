"""Helpers shared by emkit's estimators: random generators, checked ``*_init`` arrays,
precision/covariance conversions and JSON-ready constructor arguments."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels.covariance_structures import CovarianceType, covariance_structure
from ..validation import random_generator as generator  # noqa: F401  (the estimators' name for it)


def float_array(value, name: str, shape: tuple[int, ...], label: str | None = None) -> np.ndarray:
    """``value`` as a finite float array of the given ``shape`` (ValueError naming ``name`` otherwise).

    A wrong shape is reported in scikit-learn's words too ("The parameter '<label>' should have
    the shape of ..."), ``label`` being scikit-learn's name of the parameter (default ``name``).
    """
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {value!r}") from None
    if array.shape != shape:
        raise ValueError(f"{name}: The parameter '{label or name}' should have the shape of {shape}, but got "
                         f"{array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: must be finite")
    return array


def covariances_from_precisions(precisions: np.ndarray, covariance_type: CovarianceType) -> np.ndarray:
    """``Σ = Λ⁻¹`` through the Cholesky factor of ``Λ`` (``Λ = L Lᵀ``, ``Σ = L⁻ᵀ L⁻¹``)."""
    return covariance_structure(covariance_type).covariances_from_precisions(precisions)


def precisions(prec_chol: np.ndarray, covariance_type: CovarianceType) -> np.ndarray:
    """Precisions ``Λ = P Pᵀ`` from their Cholesky factors ``P`` (squares for diag/spherical)."""
    return covariance_structure(covariance_type).precisions(prec_chol)


def jsonable(value: Any) -> Any:
    """A constructor argument as JSON (arrays as lists, tuples as lists); None when not representable."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (list, str, int, float, bool)) or value is None:
        return value
    return None
