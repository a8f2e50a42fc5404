"""emkit: the Expectation-Maximization algorithm as a toolkit.

One engine (:func:`fit`) fits every model that supplies an E-step returning additive expected
sufficient statistics and an M-step; the models, estimators, inference and plotting build on it.
"""

from .engine import EMModel, EMResult, Squarem, Trace, fit
from .exceptions import AscentWarning, ConvergenceWarning, DegenerateComponentWarning
from .models import GeneCounting, GroupedMultinomial, PoissonMixture

__version__ = "0.1.0"

__all__ = [
    "fit",
    "EMModel",
    "EMResult",
    "Trace",
    "Squarem",
    "GeneCounting",
    "GroupedMultinomial",
    "PoissonMixture",
    "ConvergenceWarning",
    "AscentWarning",
    "DegenerateComponentWarning",
]
