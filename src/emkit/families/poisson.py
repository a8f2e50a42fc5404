"""Poisson family: given component ``k`` the ``d`` columns are independent counts,
``x_j ~ Poisson(λ_kj)``.

``log p(x | k) = Σ_j (x_j log λ_kj − λ_kj − log x_j!)`` over the observed cells (a NaN cell is
missing and adds nothing); statistics ``n_kj = Σ γ_ik``, ``s_kj = Σ γ_ik x_ij`` over the observed
cells, M-step ``λ_kj = s_kj / n_kj`` (:mod:`.columns`); with a Gamma prior, ``log p(λ) = Σ (α_kj log λ_kj −
β_kj λ_kj)`` (hmmlearn's ``lambdas_prior`` ``α`` and ``lambdas_weight`` ``β``), the mode
``λ_kj = (s_kj + α_kj) / (n_kj + β_kj)``. A rate of 0 is a legitimate estimate (a
column that is 0 wherever the component has weight); a positive count then has log-likelihood
``−inf`` under that component, never NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy

from ..engine.model import Params
from .base import safe_ratio, written
from .columns import ColumnBlock, ColumnMeans, sum_x_log


class Poisson(ColumnMeans):
    """Independent Poisson counts in ``n_features`` columns.

    Parameters
    ----------
    n_features : int
        Number of columns ``d``.
    prior_counts, prior_exposure : float or array broadcasting to (K, d), default=0
        ``α ≥ 0`` and ``β ≥ 0`` of the Gamma prior ``log p(λ) = Σ (α log λ − β λ)`` (hmmlearn's
        ``lambdas_prior`` and ``lambdas_weight``; 0 is maximum likelihood): ``α`` pseudo-counts
        over an exposure of ``β`` pseudo-rows.

    The parameter is ``lambdas`` (K, d), hmmlearn's name: the rate of each column in each
    component. Observations are non-negative whole numbers as floats, NaN for a missing cell.
    """

    param = "lambdas"
    param_names = ("lambdas",)
    kind = "non-negative integer counts"
    space = "finite non-negative rates"

    def __init__(self, n_features: int, prior_counts: float | np.ndarray = 0.0,
                 prior_exposure: float | np.ndarray = 0.0) -> None:
        super().__init__(n_features)
        for value, name in ((prior_counts, "prior_counts"), (prior_exposure, "prior_exposure")):
            try:
                array = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: expected a non-negative number or array, got {value!r}") from None
            if not (np.all(np.isfinite(array)) and np.all(array >= 0)):
                raise ValueError(f"{name}: must be finite and non-negative, got {value!r}")
        self.prior_counts = prior_counts
        self.prior_exposure = prior_exposure

    def validate(self, n_components: int) -> None:
        """The prior's arrays broadcast to ``(K, d)``."""
        self.gamma_prior(n_components)

    def gamma_prior(self, n_components: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(α, β)`` broadcast to ``(K, d)``; None when both are 0 (no prior). ValueError naming
        the option that does not broadcast."""
        shape = (n_components, self.n_features)
        arrays = []
        for value, name in ((self.prior_counts, "prior_counts"), (self.prior_exposure, "prior_exposure")):
            try:
                arrays.append(np.broadcast_to(np.asarray(value, dtype=float), shape))
            except ValueError:
                raise ValueError(f"{name}: expected a number or an array broadcasting to {shape}, "
                                 f"got shape {np.shape(value)}") from None
        return None if not (np.any(arrays[0]) or np.any(arrays[1])) else (arrays[0], arrays[1])

    def m_step(self, stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``λ_kj = (s_kj + α_kj) / (n_kj + β_kj)``; components in ``keep`` and cells without
        weight keep theirs."""
        previous = params["lambdas"]
        prior = self.gamma_prior(np.shape(previous)[0])
        if prior is None or "lambdas" not in learn:
            return super().m_step(stats, params, learn, keep)
        counts, exposure = prior
        weights = stats["column_weights"]
        empty = keep[:, None] | (weights <= 0)
        rates = (stats["column_sums"] + counts) / np.where(empty, 1.0, weights + exposure)
        return {"lambdas": np.where(empty, previous, rates)}

    def log_prior(self, params: Params) -> float:
        """``Σ (α log λ − β λ)`` (0 without a prior)."""
        rates = np.asarray(params["lambdas"], dtype=float)
        prior = self.gamma_prior(rates.shape[0])
        if prior is None:
            return 0.0
        counts, exposure = prior
        return float(np.sum(xlogy(counts, rates) - exposure * rates))

    @staticmethod
    def bad_cells(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (values < 0) | (values != np.round(values))

    def row_constant(self, values: np.ndarray) -> np.ndarray:
        """``−Σ_j log x_ij!`` (0 for missing cells, given as 0)."""
        return -gammaln(values + 1.0).sum(axis=1)

    def describe(self) -> str:
        return "Poisson"

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Each column's (weighted) mean ``m_j`` spread over the components, ``λ_kj = m_j (½ + k/(K−1))``
        (``rng`` None), or ``λ_kj = m_j · Gamma(2, ½)`` draws (mean ``m_j``)."""
        mean = self.observed_mean(X, sample_weight)
        if rng is not None:
            return {"lambdas": mean * rng.gamma(2.0, 0.5, size=(n_components, self.n_features))}
        spread = 0.5 + np.arange(n_components) / max(n_components - 1, 1) if n_components > 1 else np.ones(1)
        return {"lambdas": np.outer(spread, mean)}

    def log_likelihood(self, block: ColumnBlock, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``Σ_j x_ij log λ_kj − Σ_j λ_kj − Σ_j log x_ij!`` over the observed cells."""
        rates = np.asarray(cache["lambdas"], dtype=float)
        exposure = rates.sum(axis=1) if block.observed is None else block.observed @ rates.T
        values = sum_x_log(block.values, rates) - exposure + block.constant[:, None]
        return written(values, out)

    @staticmethod
    def cell_scores(x: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``x/λ − 1``."""
        return safe_ratio(x, values) - 1.0

    @staticmethod
    def cell_information(weights: np.ndarray, sums: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``s_kj / λ_kj²``."""
        return sums / values**2

    def component_means(self, params: Params) -> np.ndarray:
        """``E[x_j | z = k] = λ_kj``."""
        return np.asarray(params["lambdas"], dtype=float)

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Counts ``Poisson(λ_{z_i j})`` as floats, shape (n, d)."""
        return rng.poisson(np.asarray(params["lambdas"], dtype=float)[states]).astype(float)
