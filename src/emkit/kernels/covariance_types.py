"""The names of the covariance structures of Gaussian components, the public spellings of
``covariance_type`` (:mod:`emkit.kernels.covariance_structures` owns them).

``COVARIANCE_TYPES`` are scikit-learn's four; ``MCLUST_TYPES`` mclust's models in its order (those
registered); ``KNOWN_COVARIANCE_TYPES`` every accepted spelling (mclust's VVV, EEE, VVI, VII are
aliases of full, tied, diag, spherical).
"""

from .covariance_models import MCLUST_MODEL_NAMES
from .covariance_structures import STRUCTURES

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
MCLUST_TYPES = tuple(name for name in MCLUST_MODEL_NAMES if name in STRUCTURES)
KNOWN_COVARIANCE_TYPES = tuple(STRUCTURES)


def mclust_types(n_features: int) -> tuple[str, ...]:
    """mclust's models for data with ``n_features`` columns: E and V for one, the others else."""
    univariate = ("E", "V")
    return tuple(name for name in MCLUST_TYPES if (name in univariate) == (n_features == 1))
