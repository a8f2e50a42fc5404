"""emkit: the Expectation-Maximization algorithm as a toolkit.

One engine (:func:`fit`) fits every model that supplies an E-step returning additive expected
sufficient statistics and an M-step; the models, estimators, inference and plotting build on it.
"""

from .engine import EMModel, EMResult, Squarem, Trace, fit
from .exceptions import AscentWarning, ConvergenceWarning, DegenerateComponentWarning
from .estimators import GaussianMixture
from .inference import StandardErrors, standard_errors
from .models import GeneCounting, GroupedMultinomial, PoissonMixture
from .selection import gmm_select

__version__ = "0.1.0"

__all__ = [
    "fit",
    "EMModel",
    "EMResult",
    "Trace",
    "Squarem",
    "standard_errors",
    "StandardErrors",
    "GeneCounting",
    "GroupedMultinomial",
    "PoissonMixture",
    "GaussianMixture",
    "gmm_select",
    "ConvergenceWarning",
    "AscentWarning",
    "DegenerateComponentWarning",
]
