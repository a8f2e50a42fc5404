"""Component families: the distribution of an observation given its component or hidden state.

One interface (:class:`Family`) serves the mixtures and the hidden Markov models: rows'
log-likelihoods for all components, additive expected statistics, the M-step, starting values,
sampling, free parameters for standard errors. The families are imported on first use.
"""

from ..lazy_exports import lazy_exports
from .base import Family

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "Bernoulli": ".bernoulli",
    "Categorical": ".categorical",
    "Exponential": ".exponential",
    "FiniteMixture": ".finite_mixture",
    "Gamma": ".gamma",
    "Gaussian": ".gaussian",
    "GaussianRegression": ".regression",
    "Multinomial": ".multinomial",
    "Poisson": ".poisson",
    "Product": ".product",
    "Regression": ".regression",
    "StudentT": ".student_t",
}

__all__ = ["Family", *EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, {"Family": ".base", **EXPORTS})
