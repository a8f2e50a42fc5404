"""Exponential family: given component ``k`` the ``d`` columns are independent positive reals,
``x_j ~ Exp(β_kj)`` (rate ``β``, mean ``1/β``).

``log p(x | k) = Σ_j (log β_kj − β_kj x_j)`` over the observed cells (a NaN cell is missing and
adds nothing); statistics ``n_kj = Σ γ_ik``, ``s_kj = Σ γ_ik x_ij`` over the observed cells
(:mod:`.columns`), M-step ``β_kj = n_kj / s_kj`` (the reciprocal of the weighted mean; a cell
without weight keeps its previous rate). Complete-data information ``n_kj / β_kj²``.
"""

from __future__ import annotations

import numpy as np

from ..engine.model import Params, Stats
from .base import written
from .columns import ColumnBlock, ColumnMeans


class Exponential(ColumnMeans):
    """Independent exponential variables in ``n_features`` columns.

    Parameters
    ----------
    n_features : int
        Number of columns ``d``.

    The parameter is ``rates`` (K, d): the rate ``β_kj > 0`` of each column in each component
    (``scipy.stats.expon(scale=1/β)``). Observations are positive reals, NaN for a missing cell.
    """

    param = "rates"
    param_names = ("rates",)
    kind = "positive real values"
    space = "finite positive rates"

    @staticmethod
    def bad_cells(values: np.ndarray) -> np.ndarray:
        return ~(values > 0)

    def describe(self) -> str:
        return "exponential"

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Each column's (weighted) mean ``m_j`` spread over the components, ``β_kj = 1 / (m_j (½ + k/(K−1)))``
        (``rng`` None), or ``β_kj = 1 / (m_j · Gamma(2, ½))`` draws."""
        mean = self.observed_mean(X, sample_weight)
        if rng is not None:
            return {"rates": 1.0 / (mean * rng.gamma(2.0, 0.5, size=(n_components, self.n_features)))}
        spread = 0.5 + np.arange(n_components) / max(n_components - 1, 1) if n_components > 1 else np.ones(1)
        return {"rates": 1.0 / np.outer(spread, mean)}

    def log_likelihood(self, block: ColumnBlock, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``Σ_j log β_kj − Σ_j β_kj x_ij`` over the observed cells."""
        rates = np.asarray(cache["rates"], dtype=float)
        log_rates = np.log(rates)
        normaliser = log_rates.sum(axis=1) if block.observed is None else block.observed @ log_rates.T
        values = normaliser - block.values @ rates.T
        return written(values, out)

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``β_kj = n_kj / s_kj``; components in ``keep`` and cells without weight keep theirs."""
        previous = params["rates"]
        if "rates" not in learn:
            return {"rates": previous}
        weights, sums = stats["column_weights"], stats["column_sums"]
        empty = keep[:, None] | ~(weights > 0) | ~(sums > 0)
        return {"rates": np.where(empty, previous, weights / np.where(empty, 1.0, sums))}

    def is_feasible(self, params: Params) -> bool:
        rates = np.asarray(params["rates"], dtype=float)
        return bool(np.all(np.isfinite(rates)) and np.all(rates > 0))

    @staticmethod
    def cell_scores(x: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``1/β − x``."""
        return 1.0 / values - x

    @staticmethod
    def cell_information(weights: np.ndarray, sums: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``n_kj / β_kj²``."""
        return weights / values**2

    def component_means(self, params: Params) -> np.ndarray:
        """``E[x_j | z = k] = 1 / β_kj``."""
        return 1.0 / np.asarray(params["rates"], dtype=float)

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Draws ``Exp(β_{z_i j})``, shape (n, d)."""
        return rng.exponential(1.0 / np.asarray(params["rates"], dtype=float)[states])
