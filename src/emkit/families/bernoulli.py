"""Bernoulli family: given component ``k`` the ``d`` columns are independent binary variables,
``P(x_j = 1 | k) = p_kj``.

``log p(x | k) = Σ_j (x_j log p_kj + (1 − x_j) log(1 − p_kj))`` over the observed cells (a NaN
cell is missing and adds nothing); statistics ``n_kj = Σ γ_ik``, ``s_kj = Σ γ_ik x_ij`` over the
observed cells, M-step ``p_kj = s_kj / n_kj`` (:mod:`.columns`). An estimate of exactly 0 or 1
is legitimate maximum likelihood and is kept (as StepMix keeps it; no smoothing): an observed cell
of probability 0 gives its component log-likelihood ``−inf`` (never NaN), the other components
are unaffected.
"""

from __future__ import annotations

import numpy as np

from ..engine.model import Params
from .base import safe_ratio, written
from .columns import ColumnBlock, ColumnMeans, sum_x_log


class Bernoulli(ColumnMeans):
    """Independent binary (0/1) variables in ``n_features`` columns.

    Parameters
    ----------
    n_features : int
        Number of columns ``d``.

    The parameter is ``probs`` (K, d): the probability of a 1 in each column and component.
    Observations are 0 and 1 (floats or booleans), NaN for a missing cell.
    """

    param = "probs"
    param_names = ("probs",)
    kind = "binary values 0 or 1"
    space = "probabilities in [0, 1]"
    upper_bound = 1.0

    @staticmethod
    def bad_cells(values: np.ndarray) -> np.ndarray:
        return (values != 0) & (values != 1)

    def describe(self) -> str:
        return "Bernoulli"

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Each column's (weighted) frequency ``m_j`` tilted apart, ``p_kj = m_j + t_k min(m_j, 1 − m_j)``
        with ``t_k`` evenly spaced in ``[−½, ½]`` (``rng`` None), or uniform draws in
        ``[¼, ¾]``."""
        if rng is not None:
            return {"probs": rng.uniform(0.25, 0.75, size=(n_components, self.n_features))}
        mean = self.observed_mean(X, sample_weight)
        tilt = np.linspace(-0.5, 0.5, n_components) if n_components > 1 else np.zeros(1)
        return {"probs": mean + np.outer(tilt, np.minimum(mean, 1.0 - mean))}

    def log_likelihood(self, block: ColumnBlock, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``Σ_j x_ij log p_kj + Σ_j (1 − x_ij) log(1 − p_kj)`` over the observed cells."""
        probs = np.asarray(cache["probs"], dtype=float)
        zeros = (1.0 if block.observed is None else block.observed) - block.values
        values = sum_x_log(block.values, probs) + sum_x_log(zeros, 1.0 - probs)
        return written(values, out)

    @staticmethod
    def cell_scores(x: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``x/p − (1 − x)/(1 − p)``."""
        return safe_ratio(x, values) - safe_ratio(1.0 - x, 1.0 - values)

    @staticmethod
    def cell_information(weights: np.ndarray, sums: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``s_kj / p_kj² + (n_kj − s_kj) / (1 − p_kj)²``."""
        return sums / values**2 + (weights - sums) / (1.0 - values) ** 2

    def component_means(self, params: Params) -> np.ndarray:
        """``E[x_j | z = k] = p_kj``."""
        return np.asarray(params["probs"], dtype=float)

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """0/1 draws as floats, shape (n, d)."""
        probs = np.asarray(params["probs"], dtype=float)[states]
        return (rng.random(probs.shape) < probs).astype(float)
