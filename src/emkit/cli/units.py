"""Regularisation that does not depend on the units of the data.

The fits run on the data in its own units; the covariance floor the command line adds is
``--reg-covar`` times the smallest column variance, so returns with variances near 1e-4 are not
biased by a floor meant for data of unit scale, and rescaling every column leaves the answer
(rescaled) unchanged. Every column's floor is then at most ``--reg-covar`` of its variance.
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The default of ``--reg-covar`` (a fraction of the smallest column variance).
DEFAULT_RELATIVE_FLOOR = 1e-6


def add_reg_covar_option(group: argparse._ArgumentGroup, default: float = DEFAULT_RELATIVE_FLOOR,
                         what: str = "covariance") -> None:
    """``--reg-covar FRACTION``."""
    group.add_argument("--reg-covar", type=float, default=default, metavar="FRACTION",
                       help=f"added to the {what} diagonals, as a fraction of the smallest column variance, "
                            "so that it does not depend on the units (default: %(default)s)")


@dataclass(frozen=True)
class CovarianceFloor:
    """The absolute floor ``value = fraction × variance`` given to the API as ``reg_covar``."""

    fraction: float
    variance: float

    @property
    def value(self) -> float:
        """``reg_covar`` in the units of the data."""
        return self.fraction * self.variance

    def settings(self) -> dict[str, Any]:
        """The JSON ``settings`` entries."""
        return {"reg_covar": self.value, "reg_covar_fraction": self.fraction,
                "smallest_column_variance": self.variance}

    def describe(self) -> str:
        """One line for the printed report."""
        if self.fraction == 0:
            return "none (--reg-covar 0)"
        return (f"{self.value:.3g} on the covariance diagonals = --reg-covar {self.fraction:g} x "
                f"{self.variance:.3g} (smallest column variance)")


def covariance_floor(X: np.ndarray, fraction: float, option: str = "--reg-covar") -> CovarianceFloor:
    """The floor for data ``X`` (missing cells ignored; constant columns do not count).

    Raises
    ------
    ValueError
        Naming ``option`` when ``fraction`` is negative or not finite.
    """
    if not (np.isfinite(fraction) and fraction >= 0):
        raise ValueError(f"{option}: must be a non-negative number, got {fraction}")
    columns = np.asfortranarray(X).T   # contiguous columns: quicker than a reduction over axis 0
    with warnings.catch_warnings():   # an all-missing column has no variance: it does not count
        warnings.simplefilter("ignore", RuntimeWarning)
        variances = np.array([np.nanvar(column) if np.isnan(column).any() else np.var(column) for column in columns])
    positive = variances[np.isfinite(variances) & (variances > 0)]
    return CovarianceFloor(float(fraction), float(positive.min()) if positive.size else 1.0)
