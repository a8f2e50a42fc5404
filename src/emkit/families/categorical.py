"""Categorical family: given component ``k`` the ``d`` columns are independent categorical
variables, column ``j`` taking the codes ``0, …, m_j − 1`` with probabilities ``p_kj(c)``.

The latent class model of survey items (poLCA, StepMix) as a mixture, and the categorical HMM's
emissions with one column. ``log p(x | k) = Σ_j log p_kj(x_j)`` over the observed cells (a NaN
cell is missing and adds nothing); the statistics are the expected category counts
``N_kj(c) = Σ_{i: x_ij = c} γ_ik``; the M-step is the Dirichlet posterior mode
``p_kj(c) ∝ N_kj(c) + α_kj(c) − 1`` (``α = prior``; 1 is maximum likelihood), which adds
``Σ (α − 1) log p`` to the objective EM ascends (:mod:`emkit.families.dirichlet`).

The parameter is one table ``probs`` of shape (K, Σ_j m_j): the columns' probability rows side by
side, column ``j`` in entries ``offsets[j] : offsets[j + 1]``. A probability that is exactly 0
is a structural zero and stays 0 (EM could never revive it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import block_diag

from ..engine.model import Params, Stats
from ..models.categorical import categorical_information
from ..numerics import safe_log
from ..validation import MAX_EXACT_INTEGER, as_float_array, nullable_as_nan
from . import dirichlet
from .base import Family, by_component, safe_ratio

#: Code of a missing observation in the prepared symbols.
MISSING = -1

#: Largest probability table (components × categories) accepted: 2²⁸ probabilities, 2 GiB.
MAX_TABLE_ENTRIES = 2**28


#: How to turn arbitrary symbols into codes (the end of a message about a too large symbol).
RECODE = "symbols are codes 0..n_features − 1 (recode with np.unique(X, return_inverse=True))"


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
    if np.issubdtype(array.dtype, np.integer):   # no missing: the range checks and one copy
        if array.min() < 0:
            raise ValueError(f"{name}: categorical symbols must be non-negative, got {array.min():g}")
        if array.max() >= MAX_EXACT_INTEGER:   # before the cast: 2**64 − 1 must not become −1 (MISSING)
            raise ValueError(f"{name}: categorical symbol {array.max().item():g} is too large (at most 2**53 − 1); "
                             f"{RECODE}")
        return array.astype(np.int64)   # a copy, never the caller's array
    if np.issubdtype(array.dtype, np.floating):
        missing = np.isnan(array)
        values = np.where(missing, 0.0, array)
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise ValueError(f"{name}: categorical symbols must be integers (NaN for missing)")
    else:
        raise ValueError(f"{name}: categorical symbols must be integers, got dtype {array.dtype}")
    if np.any(values < 0):
        raise ValueError(f"{name}: categorical symbols must be non-negative, got {values.min():g}")
    if np.any(values >= MAX_EXACT_INTEGER):
        raise ValueError(f"{name}: categorical symbol {values.max().item():g} is too large (at most 2**53 − 1); "
                         f"{RECODE}")
    return np.where(missing, MISSING, values).astype(np.int64)


class Categorical(Family):
    """Independent categorical columns, column ``j`` with ``n_categories[j]`` categories.

    Parameters
    ----------
    n_categories : sequence of int
        Number of categories ``m_j ≥ 1`` of each column; observations in column ``j`` are the
        codes ``0, …, m_j − 1`` (integers, or floats holding them), NaN for a missing cell.
    prior : float or array of shape (K, Σ_j m_j)
        Dirichlet concentrations ``α ≥ 1`` of each column's probability row in each component
        (pseudo-counts ``α − 1``; 1, the default, is maximum likelihood).

    The parameter is ``probs`` (K, Σ_j m_j): column ``j``'s probabilities in entries
    ``offsets[j]:offsets[j + 1]`` of each row (:attr:`offsets`, :meth:`column_probs`).
    """

    #: Name of the probability table (``param_names == (param,)``).
    param = "probs"
    param_names = ("probs",)
    #: Name of the (K, Σ m_j) expected category counts among the statistics.
    stat = "category_counts"
    #: Name of the Dirichlet concentrations, for error messages.
    prior_name = "prior"

    def __init__(self, n_categories: Sequence[int], prior: float | np.ndarray = 1.0) -> None:
        if isinstance(n_categories, (str, bytes)) or not isinstance(n_categories, (Sequence, np.ndarray)):
            raise ValueError(f"n_categories: expected a sequence of positive integers (one per column), "
                             f"got {n_categories!r}")
        sizes = list(n_categories)
        if not sizes or not all(isinstance(m, (int, np.integer)) and not isinstance(m, bool) and m >= 1
                                for m in sizes):
            raise ValueError(f"n_categories: expected a non-empty sequence of positive integers (one per column), "
                             f"got {n_categories!r}")
        self.n_categories = tuple(int(m) for m in sizes)
        #: Start of each column's entries in a row of ``probs`` (and the total at the end).
        self.offsets = np.concatenate([[0], np.cumsum(self.n_categories)]).astype(np.int64)
        self.prior = prior
        if np.ndim(prior) == 0:
            dirichlet.check_concentration(prior, (1, 1), self.prior_name)   # a number: no table yet

    @property
    def n_columns(self) -> int:
        """Number of columns ``d``."""
        return len(self.n_categories)

    @property
    def n_entries(self) -> int:
        """Entries of a row of ``probs``: ``Σ_j m_j``."""
        return int(self.offsets[-1])

    def columns(self) -> list[slice]:
        """Each column's entries in a row of ``probs``."""
        return [slice(int(a), int(b)) for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def column_probs(self, params: Params) -> list[np.ndarray]:
        """The (K, m_j) probability table of each column."""
        probs = np.asarray(params[self.param], dtype=float)
        return [probs[:, column] for column in self.columns()]

    def concentration(self, n_components: int) -> np.ndarray:
        """The Dirichlet concentrations as a (K, Σ m_j) array; ``ValueError`` naming the prior."""
        return dirichlet.check_concentration(self.prior, (n_components, self.n_entries), self.prior_name)

    def validate(self, n_components: int) -> None:
        if n_components * self.n_entries > MAX_TABLE_ENTRIES:
            raise ValueError(self.too_large(n_components))
        self.concentration(n_components)

    def too_large(self, n_components: int) -> str:
        """The error message for a probability table of more than :data:`MAX_TABLE_ENTRIES`."""
        return (f"n_categories: {self.n_entries} categories for {n_components} components make a probability table "
                f"of {n_components * self.n_entries:.3g} entries; recode each column to the categories that occur")

    def describe(self) -> str:
        return "categorical"

    # ------------------------------------------------------------------ data
    def prepare(self, X) -> np.ndarray:
        """Codes as int64 of shape (n, d), ``MISSING`` (−1) for a missing cell (a 1-D array is one
        column).

        Raises
        ------
        ValueError
            Naming ``X`` (``X[:, j]`` for column ``j``) when it is not (n, d) integer codes with
            ``0 ≤ x_ij < m_j`` or NaN.
        """
        array = np.asarray(nullable_as_nan(X))
        if not np.issubdtype(array.dtype, np.integer):
            array = as_float_array(array, "X")
        if array.ndim == 1 and self.n_columns == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != self.n_columns:
            raise ValueError(f"X: expected a 2-D array (n_samples, {self.n_columns}) of category codes, "
                             f"got shape {np.shape(X)}")
        codes = np.empty(array.shape, dtype=np.int64)
        for j, m in enumerate(self.n_categories):
            name = "X" if self.n_columns == 1 else f"X[:, {j}]"
            codes[:, j] = check_symbols(array[:, j], name)
            beyond = np.flatnonzero(codes[:, j] >= m)
            if beyond.size:
                raise ValueError(f"{name}: code {codes[beyond[0], j]} in row {beyond[0]} is out of range for "
                                 f"n_categories[{j}]={m} (codes are 0..{m - 1})")
        return codes

    def block_data(self, X: np.ndarray) -> np.ndarray:
        """Each cell's entry in a row of ``probs`` (``offsets[j] + x_ij``), ``Σ m_j`` for a missing
        cell (the zero row of :meth:`precompute`'s table), shape (n, d)."""
        codes = X.reshape(X.shape[0], -1)
        return np.where(codes == MISSING, self.n_entries, codes + self.offsets[:-1])

    # ------------------------------------------------------------------ EM
    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Flat-Dirichlet rows for each column, or (``rng`` None) each column's category
        frequencies (weighted counts of the observed cells, plus one) tilted towards low codes in
        the first components and high codes in the last."""
        codes = X.reshape(X.shape[0], -1)
        rows = []
        for j, m in enumerate(self.n_categories):
            if rng is not None:
                rows.append(rng.dirichlet(np.ones(m), size=n_components))
                continue
            present = codes[:, j] != MISSING
            weights = None if sample_weight is None else sample_weight[present]
            counts = np.bincount(codes[present, j], weights, minlength=m)
            total = present.sum() if weights is None else weights.sum()
            frequencies = (counts + 1.0) / (total + m)
            tilt = np.outer(np.linspace(-1.0, 1.0, n_components) if n_components > 1 else [0.0],
                            np.linspace(-1.0, 1.0, m))
            column = frequencies * np.exp(tilt)
            rows.append(column / column.sum(axis=1, keepdims=True))
        return {self.param: np.concatenate(rows, axis=1)}

    def precompute(self, params: Params) -> np.ndarray:
        """``log probs`` transposed, (Σ m_j + 1, K), with a last row of zeros that missing cells
        select."""
        probs = np.asarray(params[self.param], dtype=float)
        return np.vstack([safe_log(probs).T, np.zeros(probs.shape[0])])

    def log_likelihood(self, block: np.ndarray, cache: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``Σ_j log p_kj(x_ij)`` over the observed cells (0 for a row with none)."""
        out = np.take(cache, block[:, 0], axis=0, out=out)
        for j in range(1, block.shape[1]):
            out += np.take(cache, block[:, j], axis=0)
        return out

    def stats(self, block: np.ndarray, posteriors: np.ndarray, cache) -> Stats:
        """``category_counts[k, offsets[j] + c] = Σ_{i: x_ij = c} γ_ik``."""
        cells = block.ravel()
        counts = np.stack([
            np.bincount(cells, weights=np.repeat(posteriors[:, k], block.shape[1]),
                        minlength=self.n_entries + 1)[:-1]  # the last bin: missing cells
            for k in range(posteriors.shape[1])]).reshape(posteriors.shape[1], self.n_entries)
        return {self.stat: counts}

    def lookup_rows(self, X: np.ndarray) -> np.ndarray | None:
        """With one column: the codes, ``m`` (the zero row of :meth:`precompute`'s table) for a
        missing one; None with several columns. ``X`` is :meth:`prepare`'s array (never the
        caller's): without missing codes it is returned as it is, a view, read only."""
        if self.n_columns != 1:
            return None
        codes = np.ascontiguousarray(X.reshape(X.shape[0]))
        return codes if codes.min() != MISSING else np.where(codes == MISSING, self.n_entries, codes)

    def lookup_table(self, cache: np.ndarray) -> np.ndarray:
        """:meth:`precompute`'s table, ``log p_k(c)`` in row ``c`` (and a row of zeros for a
        missing code)."""
        return cache

    def lookup_stats(self, counts: np.ndarray) -> Stats:
        """The category counts from the posteriors added up by code (the missing row left out)."""
        return {self.stat: np.ascontiguousarray(counts[:-1].T)}

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``p_kj(c) ∝ N_kj(c) + α_kj(c) − 1`` column by column; components in ``keep``, and a
        column's row with neither counts nor pseudo-counts, keep their previous values."""
        previous = params[self.param]
        if self.param not in learn:
            return {self.param: previous}
        prior = self.concentration(previous.shape[0])
        probs = np.empty(previous.shape)
        for column in self.columns():
            probs[:, column], _ = dirichlet.posterior_mode(stats[self.stat][:, column], prior[:, column],
                                                           previous[:, column])
        return {self.param: np.where(keep[:, None], previous, probs)}

    def log_prior(self, params: Params) -> float:
        """``Σ (α − 1) log p`` over the entries that are not structural zeros."""
        probs = np.asarray(params[self.param], dtype=float)
        return dirichlet.log_density(probs, self.concentration(probs.shape[0]))

    # ------------------------------------------------------------------ parameters
    def check_params(self, params: Params, n_components: int) -> Params:
        probs = np.array(params[self.param], dtype=float)
        if probs.shape != (n_components, self.n_entries):
            raise ValueError(f"{self.param}: expected shape {(n_components, self.n_entries)}, got {probs.shape}")
        for j, column in enumerate(self.columns()):
            name = (self.param if self.n_columns == 1
                    else f"{self.param} (column {j}: entries {column.start}:{column.stop})")
            dirichlet.check_probability_rows(probs[:, column], (n_components, column.stop - column.start), name)
        return {self.param: probs}

    def is_feasible(self, params: Params) -> bool:
        probs = np.asarray(params[self.param], dtype=float)
        return all(dirichlet.is_probability_rows(probs[:, column]) for column in self.columns())

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return n_components * (self.n_entries - self.n_columns) if self.param in learn else 0

    def free_entries(self) -> np.ndarray:
        """Which entries of a row of ``probs`` are free: all but each column's last."""
        free = np.ones(self.n_entries, dtype=bool)
        free[self.offsets[1:] - 1] = False
        return free

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Each component's probabilities but each column's last, component by component."""
        if self.param not in learn:
            return np.zeros(0)
        return np.asarray(params[self.param], dtype=float)[:, self.free_entries()].ravel()

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        if self.param not in learn:
            return {self.param: like[self.param]}
        k = np.shape(like[self.param])[0]
        probs = np.empty((k, self.n_entries))
        probs[:, self.free_entries()] = np.asarray(free, dtype=float).reshape(k, -1)
        for column in self.columns():
            probs[:, column.stop - 1] = 1.0 - probs[:, column.start:column.stop - 1].sum(axis=1)
        return {self.param: probs}

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        """``probs[k,c]`` with one column, ``probs[k,j,c]`` (component, column, category) with
        several."""
        if self.param not in learn:
            return []
        k = np.shape(params[self.param])[0]
        if self.n_columns == 1:
            return [f"{self.param}[{i},{c}]" for i in range(k) for c in range(self.n_categories[0] - 1)]
        return [f"{self.param}[{i},{j},{c}]" for i in range(k) for j, m in enumerate(self.n_categories)
                for c in range(m - 1)]

    def row_scores(self, block: np.ndarray, params: Params, learn: frozenset[str]) -> np.ndarray:
        """``Σ_j ∂/∂θ log p_kj(x_ij)`` over the observed cells: ``1/p_kj(c)`` in the entry of an
        observed category ``c`` below the column's last, ``−1/p_kj(last)`` in all the column's
        entries for its last category (:func:`~emkit.models.categorical.categorical_scores`), in
        component ``k``'s entries, shape (n, K, K·Σ_j (m_j − 1))."""
        probs = np.asarray(params[self.param], dtype=float)
        k = probs.shape[0]
        if self.param not in learn:
            return np.zeros((block.shape[0], k, 0))
        inverse = safe_ratio(1.0, probs)
        table = np.zeros((k, self.n_entries + 1, self.n_entries - self.n_columns))  # last row: missing cells
        for j, column in enumerate(self.columns()):
            entries, free = np.arange(column.start, column.stop - 1), np.arange(column.start - j, column.stop - 1 - j)
            table[:, entries, free] = inverse[:, entries]
            table[:, column.stop - 1, free] = -inverse[:, column.stop - 1, None]
        scores = sum(table[:, block[:, j]] for j in range(block.shape[1]))
        return by_component(np.transpose(scores, (1, 0, 2)))

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Block diagonal over components and columns: the categorical information of the
        expected counts plus the prior's pseudo-counts ``α − 1`` (as in the M-step)."""
        if self.param not in learn:
            return np.zeros((0, 0))
        probs = np.asarray(params[self.param], dtype=float)
        counts = stats[self.stat] + self.concentration(probs.shape[0]) - 1.0
        return block_diag(*[categorical_information(counts[i, column], probs[i, column])
                            for i in range(probs.shape[0]) for column in self.columns()])

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Codes as floats, shape (n, d) (:meth:`sample_codes`)."""
        return self.sample_codes(states, params, rng).astype(float)

    def sample_codes(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Integer codes by inversion of each column's cumulative row, shape (n, d)."""
        uniforms = rng.random((states.size, self.n_columns))
        codes = np.empty((states.size, self.n_columns), dtype=np.int64)
        for j, probs in enumerate(self.column_probs(params)):
            cumulative = np.cumsum(probs, axis=1)[states]
            codes[:, j] = np.minimum((cumulative <= uniforms[:, j:j + 1] * cumulative[:, -1:]).sum(axis=1),
                                     probs.shape[1] - 1)
        return codes


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
