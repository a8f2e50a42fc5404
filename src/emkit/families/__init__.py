"""Component families: the distribution of an observation given its component or hidden state.

One interface (:class:`Family`) serves the mixtures and the hidden Markov models: rows'
log-likelihoods for all components, additive expected statistics, the M-step, starting values,
sampling, free parameters for standard errors.
"""

from .base import Family

__all__ = ["Family"]
