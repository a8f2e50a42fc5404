"""Helpers shared by emkit's estimators: random generators, checked ``*_init`` arrays,
precision/covariance conversions and JSON-ready constructor arguments."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import solve_triangular

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


def covariances_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """``Σ = Λ⁻¹`` through the Cholesky factor of ``Λ`` (``Λ = L Lᵀ``, ``Σ = L⁻ᵀ L⁻¹``)."""
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0):
            raise ValueError(f"precisions_init: '{covariance_type} precision' should be positive")
        return 1.0 / precisions
    matrices = precisions if covariance_type == "full" else precisions[None]
    out = []
    for matrix in matrices:
        if not np.allclose(matrix, matrix.T):
            raise ValueError(f"precisions_init: '{covariance_type} precision' should be symmetric, positive-definite")
        try:
            lower = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise ValueError(f"precisions_init: '{covariance_type} precision' should be symmetric, "
                             "positive-definite") from None
        inverse_factor = solve_triangular(lower, np.eye(matrix.shape[0]), lower=True, check_finite=False)
        out.append(inverse_factor.T @ inverse_factor)
    return np.stack(out) if covariance_type == "full" else out[0]


def precisions(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    """Precisions ``Λ = P Pᵀ`` from their Cholesky factors ``P`` (squares for diag/spherical)."""
    if covariance_type == "full":
        return np.einsum("kij,klj->kil", prec_chol, prec_chol)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol ** 2


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
