"""Latent layers over a component family (:class:`emkit.families.Family`).

:class:`MixtureModel` owns the mixture weights and the responsibilities; the hidden Markov model
(:class:`emkit.models.hmm.HiddenMarkovModel`) owns the hidden chain. The same families serve both.
"""

from .mixture import MixtureData, MixtureModel

__all__ = ["MixtureData", "MixtureModel"]
