"""Models fitted by the EM engine: each supplies starting values, an E-step and an M-step.

Every model is exported here (imported on first use): the seed's examples (gene counting, the
grouped multinomial, the Poisson mixture), the Gaussian and Student-t mixtures, one multivariate
t, the probit random-intercept model (Monte Carlo EM), and the mixture and the hidden Markov
model over any :class:`~emkit.families.Family`.
"""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "GeneCounting": ".gene_counting",
    "GroupedMultinomial": ".grouped_multinomial",
    "PoissonMixture": ".poisson_mixture",
    "GaussianMixtureModel": ".gaussian_mixture",
    "StudentMixtureModel": ".student_mixture",
    "StudentT": ".student_t",
    "ProbitRandomIntercept": ".random_intercept",
    "HiddenMarkovModel": "..latent.hmm",
    "MixtureModel": "..latent.mixture",
    "RegressionMixtureModel": "..latent.regression_mixture",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
