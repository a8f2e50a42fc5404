"""Categorical emissions: state ``k`` emits symbol ``m ∈ {0, …, M−1}`` with probability ``B_km``.

The one-column case of the :class:`~emkit.families.categorical.Categorical` family under
hmmlearn's names: the parameter ``emissionprob`` (K, M), its Dirichlet concentrations
``emissionprob_prior`` and the statistic ``symbol_counts``; observations are one column of
symbols (shape (n,) or (n, 1), NaN missing), prepared as a 1-D int64 array and sampled as ints.
"""

from __future__ import annotations

import numpy as np

from ...engine.model import Params
from ...families.categorical import MISSING, Categorical, check_symbols

__all__ = ["CategoricalEmission", "MIN_SYMBOL_BOUND", "check_symbols", "inferred_n_symbols"]

#: Without ``n_features``, the number of symbols ``max(X) + 1`` may be at most the number of
#: observations or this, whichever is larger: a larger symbol is an id, not a code, and would
#: make the emission table (``K`` rows of ``max(X) + 1`` floats) outgrow the data.
MIN_SYMBOL_BOUND = 2 ** 16


def inferred_n_symbols(symbols: np.ndarray, name: str = "X") -> int:
    """The number of symbols implied by prepared ``symbols``: ``max + 1`` (1 when all are missing).

    Raises
    ------
    ValueError
        Naming ``name`` when ``max + 1`` exceeds both the number of observations and
        :data:`MIN_SYMBOL_BOUND` (set ``n_features`` to allow it).
    """
    observed = symbols[symbols != MISSING]
    n_symbols = int(observed.max()) + 1 if observed.size else 1
    if n_symbols > max(symbols.size, MIN_SYMBOL_BOUND):
        raise ValueError(f"{name}: symbol {n_symbols - 1} would make {n_symbols} symbols for {symbols.size} "
                         f"observation(s); symbols are codes 0..n_features − 1: recode them "
                         "(np.unique(X, return_inverse=True)) or set n_features")
    return n_symbols


class CategoricalEmission(Categorical):
    """Categorical emissions over ``n_symbols`` symbols, with Dirichlet pseudo-counts.

    Parameters
    ----------
    n_symbols : int
        Number of symbols ``M`` (observations are ``0, …, M−1``).
    emissionprob_prior : float or array of shape (K, M)
        Dirichlet concentrations ``β ≥ 1`` of each row of ``emissionprob``.
    """

    param = "emissionprob"
    param_names = ("emissionprob",)
    stat = "symbol_counts"
    prior_name = "emissionprob_prior"

    def __init__(self, n_symbols: int, emissionprob_prior: float | np.ndarray = 1.0) -> None:
        if not (isinstance(n_symbols, (int, np.integer)) and not isinstance(n_symbols, bool) and n_symbols >= 1):
            raise ValueError(f"n_features: the number of symbols must be a positive integer, got {n_symbols!r}")
        super().__init__([int(n_symbols)], emissionprob_prior)
        self.n_symbols = int(n_symbols)
        self.emissionprob_prior = emissionprob_prior

    def too_large(self, n_components: int) -> str:
        return (f"n_features: {self.n_symbols} symbols for {n_components} states make emission tables of "
                f"{n_components * self.n_symbols:.3g} probabilities ({8 * n_components * self.n_symbols / 2**30:.3g}"
                " GiB each); symbols are codes 0..n_features − 1: recode them to the ones that occur")

    def prepare(self, X) -> np.ndarray:
        """The symbols as a 1-D int64 array, ``MISSING`` (−1) for a missing one."""
        symbols = check_symbols(X)
        if symbols.max() >= self.n_symbols:
            raise ValueError(f"X: symbol {int(symbols.max())} is out of range for n_features={self.n_symbols} "
                             f"(symbols are 0..{self.n_symbols - 1})")
        return symbols

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Symbols as ints, shape (n, 1)."""
        return self.sample_codes(states, params, rng)
