"""Categorical emissions: state ``k`` emits symbol ``m ∈ {0, …, M−1}`` with probability ``B_km``.

Sufficient statistics: the expected symbol counts per state ``N_km = Σ_{t: x_t = m} γ_t(k)``;
M-step ``B_km ∝ N_km + β_km − 1`` (Dirichlet pseudo-counts ``β − 1``, flat when ``β = 1``). A
missing observation (NaN) has likelihood one in every state, so it drops out of both.
"""

from __future__ import annotations

import numpy as np

from ...engine.model import Params, Stats
from ...families.base import Family
from ...numerics import safe_log
from ...validation import MAX_EXACT_INTEGER, nullable_as_nan
from ..categorical import free_rows, rows_from_free, rows_information, rows_labels
from . import dirichlet

#: Code of a missing observation in the prepared symbols.
MISSING = -1


#: Without ``n_features``, the number of symbols ``max(X) + 1`` may be at most the number of
#: observations or this, whichever is larger: a larger symbol is an id, not a code, and would
#: make the emission table (``K`` rows of ``max(X) + 1`` floats) outgrow the data.
MIN_SYMBOL_BOUND = 2 ** 16


def check_symbols(X, name: str = "X") -> np.ndarray:
    """Symbols as int64 (missing as ``MISSING``) from an array of shape (n,) or (n, 1).

    Raises
    ------
    ValueError
        Naming ``name`` when ``X`` is not a column of non-negative integers (NaN allowed) below
        ``2**53`` (the range in which a float holds them exactly).
    """
    array = np.asarray(nullable_as_nan(X))
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name}: categorical observations must have shape (n_samples, 1), got {np.shape(X)}")
    if array.size == 0:
        raise ValueError(f"{name}: no observations")
    if np.issubdtype(array.dtype, np.integer):
        missing, values = np.zeros(array.shape, dtype=bool), array
    elif np.issubdtype(array.dtype, np.floating):
        missing = np.isnan(array)
        values = np.where(missing, 0.0, array)
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise ValueError(f"{name}: categorical symbols must be integers (NaN for missing)")
    else:
        raise ValueError(f"{name}: categorical symbols must be integers, got dtype {array.dtype}")
    if np.any(values < 0):
        raise ValueError(f"{name}: categorical symbols must be non-negative, got {values.min():g}")
    if np.any(values >= MAX_EXACT_INTEGER):  # before the cast: 2**64 − 1 must not become −1 (MISSING)
        raise ValueError(f"{name}: categorical symbol {values.max().item():g} is too large (at most 2**53 − 1); "
                         "symbols are codes 0..n_features − 1 (recode with np.unique(X, return_inverse=True))")
    return np.where(missing, MISSING, values).astype(np.int64)


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


#: Largest emission table (states × symbols) accepted: 2²⁸ probabilities, 2 GiB in float64.
MAX_TABLE_ENTRIES = 2**28


class CategoricalEmission(Family):
    """Categorical emissions over ``n_symbols`` symbols, with Dirichlet pseudo-counts.

    Parameters
    ----------
    n_symbols : int
        Number of symbols ``M`` (observations are ``0, …, M−1``).
    emissionprob_prior : float or array of shape (K, M)
        Dirichlet concentrations ``β ≥ 1`` of each row of ``emissionprob``.
    """

    param_names = ("emissionprob",)

    def __init__(self, n_symbols: int, emissionprob_prior: float | np.ndarray = 1.0) -> None:
        if not (isinstance(n_symbols, (int, np.integer)) and n_symbols >= 1):
            raise ValueError(f"n_features: the number of symbols must be a positive integer, got {n_symbols!r}")
        self.n_symbols = int(n_symbols)
        self.emissionprob_prior = emissionprob_prior
        self._prior = np.ones(0)

    def validate(self, n_components: int) -> None:
        if n_components * self.n_symbols > MAX_TABLE_ENTRIES:
            raise ValueError(f"n_features: {self.n_symbols} symbols for {n_components} states make emission tables of "
                             f"{n_components * self.n_symbols:.3g} probabilities ({8 * n_components * self.n_symbols / 2**30:.3g}"
                             " GiB each); symbols are codes 0..n_features − 1: recode them to the ones that occur")
        self._prior = dirichlet.check_concentration(self.emissionprob_prior, (n_components, self.n_symbols),
                                                    "emissionprob_prior")

    def prepare(self, X) -> np.ndarray:
        symbols = check_symbols(X)
        if symbols.max() >= self.n_symbols:
            raise ValueError(f"X: symbol {int(symbols.max())} is out of range for n_features={self.n_symbols} "
                             f"(symbols are 0..{self.n_symbols - 1})")
        return symbols

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None) -> Params:
        """Random Dirichlet rows, or (``rng`` None) the overall symbol frequencies tilted
        towards low symbols in the first states and high symbols in the last."""
        if rng is not None:
            return {"emissionprob": rng.dirichlet(np.ones(self.n_symbols), size=n_components)}
        observed = X[X != MISSING]
        frequencies = (np.bincount(observed, minlength=self.n_symbols) + 1.0) / (observed.size + self.n_symbols)
        tilt = np.outer(np.linspace(-1.0, 1.0, n_components) if n_components > 1 else [0.0],
                        np.linspace(-1.0, 1.0, self.n_symbols))
        rows = frequencies * np.exp(tilt)
        return {"emissionprob": rows / rows.sum(axis=1, keepdims=True)}

    def precompute(self, params: Params) -> np.ndarray:
        """``log B`` transposed, with an extra row of zeros that missing observations select."""
        return np.vstack([safe_log(params["emissionprob"]).T, np.zeros(params["emissionprob"].shape[0])])

    def log_likelihood(self, X: np.ndarray, cache: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``log B_{k, x_t}`` (0 for a missing observation)."""
        return np.take(cache, X, axis=0, out=out)

    def stats(self, X: np.ndarray, posteriors: np.ndarray, cache: np.ndarray) -> Stats:
        """``symbol_counts[k, m] = Σ_{t: x_t = m} γ_t(k)``."""
        codes = X + 1  # missing (−1) goes to bin 0, dropped below
        counts = np.stack([np.bincount(codes, weights=posteriors[:, k], minlength=self.n_symbols + 1)[1:]
                           for k in range(posteriors.shape[1])])
        return {"symbol_counts": counts}

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        previous = params["emissionprob"]
        if "emissionprob" not in learn:
            return {"emissionprob": previous}
        rows, _ = dirichlet.posterior_mode(stats["symbol_counts"], self._prior, previous)
        return {"emissionprob": np.where(keep[:, None], previous, rows)}

    def log_prior(self, params: Params) -> float:
        return dirichlet.log_density(params["emissionprob"], self._prior)

    def check_params(self, params: Params, n_components: int) -> Params:
        return {"emissionprob": dirichlet.check_probability_rows(
            params["emissionprob"], (n_components, self.n_symbols), "emissionprob")}

    def is_feasible(self, params: Params) -> bool:
        return dirichlet.is_probability_rows(params["emissionprob"])

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return n_components * (self.n_symbols - 1) if "emissionprob" in learn else 0

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Each row's probabilities but the last."""
        return free_rows(params["emissionprob"]) if "emissionprob" in learn else np.zeros(0)

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        if "emissionprob" not in learn:
            return {"emissionprob": like["emissionprob"]}
        return {"emissionprob": rows_from_free(free, np.shape(like["emissionprob"]))}

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        return rows_labels("emissionprob", np.shape(params["emissionprob"])) if "emissionprob" in learn else []

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Per state, the categorical information of its expected symbol counts (plus the
        Dirichlet prior's pseudo-counts ``α − 1``)."""
        if "emissionprob" not in learn:
            return np.zeros((0, 0))
        return rows_information(stats["symbol_counts"] + self._prior - 1.0, params["emissionprob"])

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Symbols by inversion of each state's cumulative row; shape (n, 1)."""
        cumulative = np.cumsum(params["emissionprob"], axis=1)[states]
        uniforms = rng.random(states.size)[:, None] * cumulative[:, -1:]
        return np.minimum((cumulative <= uniforms).sum(axis=1), self.n_symbols - 1)[:, None]
