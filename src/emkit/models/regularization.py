"""What a Gaussian covariance floor (``reg_covar``) gives up, told to the engine.

Every model with Gaussian covariances regularised by a floor (mixtures, Student-t mixtures, HMM
emissions) answers :meth:`emkit.engine.EMModel.regularization` with :func:`covariance_floor`:
the shortfall in ``Q`` (:func:`~emkit.kernels.covariance_regularization.floor_shortfall`), the
components whose covariance sits on the floor, and the remedy.
"""

from __future__ import annotations

import numpy as np

from ..engine.model import Regularization
from ..kernels.covariance_regularization import floor_shortfall
from ..kernels.covariance_structures import CovarianceType, covariance_structure

#: A component has collapsed onto the floor when the smallest variance its data give is below
#: this fraction of ``reg_covar`` (the floor then makes up over 90% of that variance).
COLLAPSE_FRACTION = 0.1


def covariance_floor(scatter: np.ndarray, counts: np.ndarray, reg_covar: float, covariance_type: CovarianceType,
                     n_features: int, *, what: str, remedy: str) -> Regularization | None:
    """The :class:`~emkit.engine.model.Regularization` of covariances ``C + reg_covar·I``.

    Parameters
    ----------
    scatter : array
        The exact (unregularised) M-step's covariances ``C``, shaped by ``covariance_type``.
    counts : array of shape (k,)
        The expected counts ``n_k`` behind them (0 for components the M-step left as they were).
    reg_covar, covariance_type, n_features
        The floor, the structure and ``d`` (a spherical variance stands for ``d`` variances).
    what : str
        What a component is called in the message ("Gaussian component", "state").
    remedy : str
        The remedy the message gives.

    Returns
    -------
    Regularization or None
        None when ``reg_covar`` is 0 (an exact M-step).
    """
    if reg_covar == 0:
        return None
    counts = np.asarray(counts, dtype=float)
    structure = covariance_structure(covariance_type)
    weights = structure.floor_weights(counts, n_features)
    shortfall, smallest = floor_shortfall(scatter, weights, reg_covar, structure)
    if structure.shared:
        labels, active = [f"the {structure.name} covariance"], [counts.sum() > 0]
    else:
        labels, active = [f"{what} {k}" for k in range(len(smallest))], counts > 0
    collapsed = tuple(f"{label} collapsed (its smallest variance is {value:.3g} before the floor, "
                      f"{value + reg_covar:.3g} with reg_covar={reg_covar:g})"
                      for label, value, live in zip(labels, smallest, active)
                      if live and value <= COLLAPSE_FRACTION * reg_covar)
    return Regularization(float(shortfall.sum()), collapsed, remedy)
