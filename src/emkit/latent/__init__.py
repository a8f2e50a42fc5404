"""Latent layers over a component family (:class:`emkit.families.Family`).

:class:`MixtureModel` owns the mixture weights and the responsibilities, :class:`HiddenMarkovModel`
the hidden chain (start and transition probabilities, forward–backward, Viterbi); the same
families serve both. ``sequences`` cuts the rows into blocks and batches for threads.
"""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "MixtureData": ".mixture",
    "MixtureModel": ".mixture",
    "ConcomitantMixtureModel": ".concomitant_mixture",
    "HiddenMarkovModel": ".hmm",
    "InputDrivenHMM": ".hmm_covariates",
    "Sequences": ".sequences",
    "UniformNoise": ".noise",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
