"""emkit: the Expectation-Maximization algorithm as a toolkit.

One engine (:func:`fit`) fits every model that supplies an E-step returning additive expected
sufficient statistics and an M-step; the models, estimators, inference and plotting build on it.
"""

from .engine import EMModel, EMResult, Squarem, Trace, fit
from .exceptions import AscentWarning, ConvergenceWarning, DegenerateComponentWarning, RegularizationWarning
from .estimators import GaussianMixture
from .estimators.hmm import CategoricalHMM, GaussianHMM
from .inference import StandardErrors, standard_errors
from .models import GeneCounting, GroupedMultinomial, PoissonMixture
from .selection import gmm_select
from .variants import fit_ecm, fit_mcem, fit_online
from .estimators.student_mixture import StudentMixture

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
    "GaussianHMM",
    "CategoricalHMM",
    "gmm_select",
    "fit_mcem",
    "fit_ecm",
    "fit_online",
    "StudentMixture",
    "ConvergenceWarning",
    "AscentWarning",
    "DegenerateComponentWarning",
    "RegularizationWarning",
]
