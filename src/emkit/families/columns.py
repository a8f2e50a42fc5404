"""Families of independent columns (Poisson, Bernoulli, exponential, gamma): what they share.

:class:`ColumnFamily` holds the data half (validated rows, NaN cells, blocks, the weights and
sums of the observed cells); :class:`ColumnMeans` adds one mean parameter per column and
component (Poisson rates, Bernoulli probabilities), as follows.

Given component ``k`` the ``d`` columns are independent, column ``j`` with mean ``θ_kj``; a NaN
cell is missing and marginalised (it contributes nothing). The expected statistics are, per
component and column, the weight of the observed cells and the weighted sum of their values,

    ``n_kj = Σ_{i: x_ij observed} γ_ik``,   ``s_kj = Σ_{i: x_ij observed} γ_ik x_ij``,

and the M-step is the weighted mean ``θ_kj = s_kj / n_kj`` (maximum likelihood for both families;
a cell without weight keeps its previous value). The free parameters are the learned means
themselves.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from ..engine.model import Params, Stats
from ..validation import as_float_array, nullable_as_nan
from .base import Family, by_component


@dataclass(frozen=True)
class ColumnBlock:
    """Rows with their missing cells as 0 (``values``), the observed-cell indicator (None when
    every cell is observed) and a per-row constant of the log-likelihood (e.g. ``−Σ log x!``)."""

    values: np.ndarray
    observed: np.ndarray | None
    constant: np.ndarray | None


def sum_x_log(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``Σ_j c_ij log v_kj``, shape (n, K), with ``0 · log 0 = 0`` exactly and ``−inf`` where a
    positive ``c_ij`` meets ``v_kj = 0`` (never NaN).

    ``counts`` (n, d) are non-negative, ``values`` (K, d) are non-negative.
    """
    positive = values > 0
    out = counts @ np.where(positive, np.log(np.where(positive, values, 1.0)), 0.0).T
    if not positive.all():
        out[((counts > 0).astype(float) @ (~positive).T) > 0] = -np.inf
    return out


def observed_mean(X: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Mean of the observed (non-NaN) cells of each column, ``m_j = Σ_i w_i x_ij / Σ_i w_i`` over
    the rows ``i`` where ``x_ij`` is observed (``w_i = 1`` without ``sample_weight``), shape (d,).

    Integer weights give the mean of the rows repeated that many times (to round-off).

    Raises
    ------
    ValueError
        Naming ``sample_weight`` when a column has no observed cell of positive weight.
    """
    observed = ~np.isnan(X)
    values = np.where(observed, X, 0.0)
    if sample_weight is None:
        return values.sum(axis=0) / observed.sum(axis=0)
    weights = np.asarray(sample_weight, dtype=float)
    totals = weights @ observed
    empty = np.flatnonzero(~(totals > 0))
    if empty.size:
        raise ValueError(f"sample_weight: column {int(empty[0])} has no observed value of positive weight")
    return (weights @ values) / totals


class ColumnFamily(Family):
    """A family of ``n_features`` independent columns (the data half): validated rows with NaN
    for missing cells, their blocks, and the statistics ``n_kj`` (``column_weights``) and
    ``s_kj`` (``column_sums``) over the observed cells.

    Subclasses check a cell's values (:meth:`bad_cells`) and give the parameters.
    """

    #: What the observations are, for error messages (e.g. "non-negative integer counts").
    kind: str = ""

    def __init__(self, n_features: int) -> None:
        if not (isinstance(n_features, (int, np.integer)) and not isinstance(n_features, bool) and n_features >= 1):
            raise ValueError(f"n_features: must be a positive integer, got {n_features!r}")
        self.n_features = int(n_features)

    # ------------------------------------------------------------------ data
    @staticmethod
    @abstractmethod
    def bad_cells(values: np.ndarray) -> np.ndarray:
        """Which finite cells are not valid observations (boolean, shape of ``values``; missing
        cells are given as 0 and not counted)."""

    def prepare(self, X, *, whole_data: bool = True) -> np.ndarray:
        """``X`` as a float64 (n, d) array, NaN for missing cells (a 1-D array is one column);
        ``whole_data=False`` (one chunk of the data) leaves out the check that every column is
        observed.

        Raises
        ------
        ValueError
            Naming ``X`` when it is not (n, n_features) numbers or a cell is not a valid
            observation (with the first such row and column), or a column is never observed.
        """
        array = as_float_array(nullable_as_nan(X), "X")
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != self.n_features:
            raise ValueError(f"X: expected a 2-D array (n_samples, {self.n_features}) of {self.kind}, "
                             f"got shape {np.shape(X)}")
        missing = np.isnan(array)
        bad = np.isinf(array) | (~missing & self.bad_cells(np.where(missing, 0.0, array)))
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise ValueError(f"X: expected {self.kind} (NaN for missing), got {float(array[row, column])!r} in row {row}, "
                             f"column {column}")
        never = np.flatnonzero(missing.all(axis=0)) if whole_data else ()
        if len(never):
            raise ValueError(f"X: column {int(never[0])} has no observed value (all NaN)")
        return np.ascontiguousarray(array)

    def prepare_chunk(self, X) -> np.ndarray:
        return self.prepare(X, whole_data=False)

    def block_data(self, X: np.ndarray) -> ColumnBlock:
        missing = np.isnan(X)
        if not missing.any():
            return ColumnBlock(X, None, self.row_constant(X))
        values = np.where(missing, 0.0, X)
        return ColumnBlock(values, (~missing).astype(float), self.row_constant(values))

    def row_constant(self, values: np.ndarray) -> np.ndarray | None:
        """Per-row term of the log-likelihood that does not depend on the parameters (missing
        cells given as 0 must add nothing); None when there is none."""
        return None

    def observed_mean(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """Weighted mean of the observed cells of each column, shape (d,)
        (:func:`observed_mean`)."""
        return observed_mean(X, sample_weight)

    # ------------------------------------------------------------------ EM
    def stats(self, block: ColumnBlock, posteriors: np.ndarray, cache) -> Stats:
        """``column_weights[k, j] = Σ γ_ik`` and ``column_sums[k, j] = Σ γ_ik x_ij`` over the
        observed cells."""
        if block.observed is None:
            weights = np.repeat(posteriors.sum(axis=0)[:, None], self.n_features, axis=1)
        else:
            weights = posteriors.T @ block.observed
        return {"column_weights": weights, "column_sums": posteriors.T @ block.values}


class ColumnMeans(ColumnFamily):
    """A family of ``n_features`` independent columns, each with one mean parameter per component.

    Subclasses name their parameter (:attr:`param`), check a cell's values (:meth:`bad_cells`),
    and give the log-likelihood, the information of the weighted cells, the parameter space and
    sampling.
    """

    #: Name of the (K, d) parameter of the means (``param_names == (param,)``).
    param: str = ""
    #: The parameter space in words, for error messages.
    space: str = ""
    #: Largest value of a mean (the M-step clips round-off beyond it).
    upper_bound: float = np.inf

    # ------------------------------------------------------------------ EM
    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``θ_kj = s_kj / n_kj``; components in ``keep`` and cells without weight keep theirs."""
        previous = params[self.param]
        if self.param not in learn:
            return {self.param: previous}
        weights = stats["column_weights"]
        empty = keep[:, None] | (weights <= 0)
        means = np.clip(stats["column_sums"] / np.where(empty, 1.0, weights), 0.0, self.upper_bound)
        return {self.param: np.where(empty, previous, means)}

    # ------------------------------------------------------------------ parameters
    def check_params(self, params: Params, n_components: int) -> Params:
        values = np.array(params[self.param], dtype=float)
        if values.shape != (n_components, self.n_features) or not self.is_feasible({self.param: values}):
            raise ValueError(f"{self.param}: expected {self.space} of shape ({n_components}, {self.n_features}), "
                             f"got {np.array2string(values, threshold=20)} of shape {values.shape}")
        return {self.param: values}

    def is_feasible(self, params: Params) -> bool:
        values = np.asarray(params[self.param], dtype=float)
        return bool(np.all(np.isfinite(values)) and np.all(values >= 0) and np.all(values <= self.upper_bound))

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return n_components * self.n_features if self.param in learn else 0

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """The learned means, row by row."""
        return np.asarray(params[self.param], dtype=float).ravel() if self.param in learn else np.zeros(0)

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        if self.param not in learn:
            return {self.param: like[self.param]}
        return {self.param: np.asarray(free, dtype=float).reshape(np.shape(like[self.param]))}

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        if self.param not in learn:
            return []
        k, d = np.shape(params[self.param])
        return [f"{self.param}[{i}][{j}]" for i in range(k) for j in range(d)]

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Diagonal: each cell's information from its expected weight and sum
        (:meth:`cell_information`)."""
        if self.param not in learn:
            return np.zeros((0, 0))
        values = np.asarray(params[self.param], dtype=float)
        return np.diag(self.cell_information(stats["column_weights"], stats["column_sums"], values).ravel())

    def row_scores(self, block: ColumnBlock, params: Params, learn: frozenset[str]) -> np.ndarray | None:
        """``∂/∂θ_kj log p(x_i | k)``: each observed cell's :meth:`cell_scores` in its component's
        entry (0 for a missing cell and for the other components' entries), shape (n, K, K·d);
        None when the family gives no :meth:`cell_scores`."""
        values = np.asarray(params[self.param], dtype=float)
        if self.param not in learn:
            return np.zeros((block.values.shape[0], values.shape[0], 0))
        cells = self.cell_scores(block.values[:, None, :], values[None])
        if cells is None:
            return None
        if block.observed is not None:
            cells = cells * block.observed[:, None, :]
        return by_component(cells)

    @staticmethod
    def cell_scores(x: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        """``∂/∂θ log p(x | θ)`` of one cell, broadcast over ``x`` (n, 1, d) and the means
        ``values`` (1, K, d); None, the default: not given (a latent model then differentiates
        the log-likelihood numerically)."""
        return None

    @staticmethod
    @abstractmethod
    def cell_information(weights: np.ndarray, sums: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``−∂²/∂θ² [complete-data log-likelihood]`` of each cell given its expected weight
        ``n`` and sum ``s``, shape (K, d)."""
