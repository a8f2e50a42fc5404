"""Hidden Markov models: compiled forward–backward and Viterbi, Baum–Welch through the engine.

:class:`HiddenMarkovModel` owns the hidden chain; an :class:`Emission` (categorical, Gaussian)
owns the distribution of the observations given the state.
"""

from .categorical import CategoricalEmission
from .emissions import Emission
from .gaussian import GaussianEmission
from .model import HiddenMarkovModel
from .sequences import Sequences

__all__ = ["CategoricalEmission", "Emission", "GaussianEmission", "HiddenMarkovModel", "Sequences"]
