"""scikit-learn / hmmlearn compatible estimator faces over emkit models and the engine."""

from .base import EstimatorProtocol, NotFittedError
from .gaussian_mixture import GaussianMixture
from .hmm import CategoricalHMM, GaussianHMM

__all__ = ["EstimatorProtocol", "NotFittedError", "GaussianMixture", "GaussianHMM", "CategoricalHMM"]
