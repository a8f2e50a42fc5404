"""scikit-learn / hmmlearn compatible estimator faces over emkit models and the engine."""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "EstimatorProtocol": ".base",
    "NotFittedError": "..exceptions",
    "GaussianMixture": ".gaussian_mixture",
    "GaussianHMM": ".hmm",
    "CategoricalHMM": ".hmm",
    "PoissonHMM": ".hmm",
    "GMMHMM": ".hmm",
    "MultinomialHMM": ".hmm",
    "HMM": ".family_hmm",
    "Mixture": ".mixture",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
