"""Hidden Markov models: compiled forward–backward and Viterbi, Baum–Welch through the engine.

:class:`HiddenMarkovModel` owns the hidden chain; a :class:`~emkit.families.Family` (categorical, Gaussian)
owns the distribution of the observations given the state.
"""

from .categorical import CategoricalEmission
from .model import HiddenMarkovModel
from .sequences import Sequences

__all__ = ["CategoricalEmission", "HiddenMarkovModel", "Sequences"]
