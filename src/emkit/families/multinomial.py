"""Multinomial family: given component ``k`` a row is a vector of counts over ``m`` categories
from ``N_i = Σ_j x_ij`` trials (known: the row sum), ``x ~ Multinomial(N_i, p_k)``.

``log p(x | k) = log N! − Σ_j log x_j! + Σ_j x_j log p_kj`` (with the multinomial coefficient,
so it equals ``scipy.stats.multinomial.logpmf``; ``0 · log 0 = 0``). Statistics: the expected
category counts ``c_kj = Σ γ_ik x_ij``; M-step ``p_kj = c_kj / Σ_j c_kj`` (hmmlearn's
MultinomialHMM). A row with a NaN in any cell is missing as a whole (log-likelihood 0 in every
component, no statistics): the cells of a row are not independent given the component, so a
partly observed row is not marginalised cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from ..engine.model import Params, Stats
from ..models.categorical import free_rows, rows_from_free, rows_information, rows_labels
from ..validation import as_float_array, nullable_as_nan
from . import dirichlet
from .base import Family, by_component, safe_ratio, written
from .columns import sum_x_log


@dataclass(frozen=True)
class CountBlock:
    """Rows of counts with missing rows as 0 (``counts``), and ``log N_i! − Σ_j log x_ij!`` (0
    for a missing row)."""

    counts: np.ndarray
    constant: np.ndarray


class Multinomial(Family):
    """Count vectors over ``n_categories`` categories with a known number of trials per row.

    Parameters
    ----------
    n_categories : int
        Number of categories ``m`` (the columns of a row).
    n_trials : int, optional
        The number of trials of every row, checked against the row sums (as hmmlearn's
        MultinomialHMM); needed to sample. None: each row's own sum.

    The parameter is ``emissionprob`` (K, m), hmmlearn's name: each component's category
    probabilities (rows on the simplex). Observations are non-negative whole numbers as floats;
    a row with a NaN is missing as a whole.
    """

    param_names = ("emissionprob",)

    def __init__(self, n_categories: int, n_trials: int | None = None) -> None:
        if not (isinstance(n_categories, (int, np.integer)) and not isinstance(n_categories, bool)
                and n_categories >= 1):
            raise ValueError(f"n_categories: must be a positive integer, got {n_categories!r}")
        if n_trials is not None and not (isinstance(n_trials, (int, np.integer)) and not isinstance(n_trials, bool)
                                         and n_trials >= 0):
            raise ValueError(f"n_trials: must be a non-negative integer or None, got {n_trials!r}")
        self.n_categories = int(n_categories)
        self.n_trials = None if n_trials is None else int(n_trials)

    def describe(self) -> str:
        return "multinomial"

    # ------------------------------------------------------------------ data
    def prepare(self, X, *, whole_data: bool = True) -> np.ndarray:
        """``X`` as a float64 (n, m) array of counts; rows with a NaN are missing (kept as NaN);
        ``whole_data=False`` (one chunk of the data) leaves out the check that some row is
        observed (the latent model checks the whole data once, from the chunks' summaries).

        Raises
        ------
        ValueError
            Naming ``X`` when it is not (n, n_categories) numbers, a cell is not a non-negative
            whole number (with the first such row and column), a row's sum differs from
            ``n_trials`` (with the first such row), or every row is missing (whole data only).
        """
        array = as_float_array(nullable_as_nan(X), "X")
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != self.n_categories:
            raise ValueError(f"X: expected a 2-D array (n_samples, {self.n_categories}) of counts, got shape "
                             f"{np.shape(X)}")
        missing = np.isnan(array)
        values = np.where(missing, 0.0, array)
        bad = np.isinf(values) | (values < 0) | (values != np.round(values))
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise ValueError(f"X: expected non-negative integer counts (NaN for a missing row), got "
                             f"{array[row, column]!r} in row {row}, column {column}")
        observed = ~missing.any(axis=1)
        if whole_data and not observed.any():
            raise ValueError("X: every row has a missing (NaN) count; a row with a NaN is missing as a whole")
        if self.n_trials is not None:
            wrong = np.flatnonzero(observed & (values.sum(axis=1) != self.n_trials))
            if wrong.size:
                raise ValueError(f"X: row {int(wrong[0])} sums to {values[wrong[0]].sum():g} counts, not "
                                 f"n_trials={self.n_trials}")
        return np.ascontiguousarray(np.where(observed[:, None], array, np.nan))

    def prepare_chunk(self, X) -> np.ndarray:
        """One chunk of the data as :meth:`prepare` gives it; every row may be missing."""
        return self.prepare(X, whole_data=False)

    def block_data(self, X: np.ndarray) -> CountBlock:
        counts = np.where(np.isnan(X).any(axis=1, keepdims=True), 0.0, X)
        return CountBlock(counts, gammaln(counts.sum(axis=1) + 1.0) - gammaln(counts + 1.0).sum(axis=1))

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Random Dirichlet rows, or (``rng`` None) the overall category frequencies (the weighted
        counts of the observed rows plus one pseudo-count each) tilted towards low categories in
        the first components and high ones in the last."""
        m = self.n_categories
        if rng is not None:
            return {"emissionprob": rng.dirichlet(np.ones(m), size=n_components)}
        observed = ~np.isnan(X).any(axis=1)
        if sample_weight is None:
            totals = np.nansum(X[observed], axis=0) + 1.0
        else:
            totals = sample_weight[observed] @ X[observed] + 1.0
        tilt = np.outer(np.linspace(-1.0, 1.0, n_components) if n_components > 1 else [0.0], np.linspace(-1.0, 1.0, m))
        rows = totals / totals.sum() * np.exp(tilt)
        return {"emissionprob": rows / rows.sum(axis=1, keepdims=True)}

    # ------------------------------------------------------------------ EM
    def log_likelihood(self, block: CountBlock, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``log N_i! − Σ_j log x_ij! + Σ_j x_ij log p_kj`` (0 for a missing row)."""
        values = sum_x_log(block.counts, np.asarray(cache["emissionprob"], dtype=float)) + block.constant[:, None]
        return written(values, out)

    def stats(self, block: CountBlock, posteriors: np.ndarray, cache) -> Stats:
        """``category_counts[k, j] = Σ γ_ik x_ij``."""
        return {"category_counts": posteriors.T @ block.counts}

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``p_kj ∝ c_kj``; components in ``keep`` and components without counts keep theirs
        (probabilities exactly 0 stay 0, as in :func:`~emkit.families.dirichlet.posterior_mode`)."""
        previous = params["emissionprob"]
        if "emissionprob" not in learn:
            return {"emissionprob": previous}
        rows, _ = dirichlet.posterior_mode(stats["category_counts"], np.ones(np.shape(previous)), previous)
        return {"emissionprob": np.where(keep[:, None], previous, rows)}

    # ------------------------------------------------------------------ parameters
    def check_params(self, params: Params, n_components: int) -> Params:
        return {"emissionprob": dirichlet.check_probability_rows(
            params["emissionprob"], (n_components, self.n_categories), "emissionprob")}

    def is_feasible(self, params: Params) -> bool:
        return dirichlet.is_probability_rows(np.asarray(params["emissionprob"], dtype=float))

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return n_components * (self.n_categories - 1) if "emissionprob" in learn else 0

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Each row's probabilities but the last."""
        return free_rows(params["emissionprob"]) if "emissionprob" in learn else np.zeros(0)

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        if "emissionprob" not in learn:
            return {"emissionprob": like["emissionprob"]}
        return {"emissionprob": rows_from_free(free, np.shape(like["emissionprob"]))}

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        return rows_labels("emissionprob", np.shape(params["emissionprob"])) if "emissionprob" in learn else []

    def row_scores(self, block: CountBlock, params: Params, learn: frozenset[str]) -> np.ndarray:
        """``x_ij / p_kj − x_im / p_km`` (``j < m``, the last category ``m``) in component ``k``'s
        entries, shape (n, K, K·(m − 1)); 0 for a missing row."""
        probs = np.asarray(params["emissionprob"], dtype=float)
        if "emissionprob" not in learn:
            return np.zeros((block.counts.shape[0], probs.shape[0], 0))
        counts = block.counts[:, None, :]
        return by_component(safe_ratio(counts[..., :-1], probs[None, :, :-1])
                            - safe_ratio(counts[..., -1:], probs[None, :, -1:]))

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Per component, the categorical information of its expected category counts."""
        if "emissionprob" not in learn:
            return np.zeros((0, 0))
        return rows_information(stats["category_counts"], np.asarray(params["emissionprob"], dtype=float))

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Count vectors of ``n_trials`` draws from each row's component, as floats, shape (n, m).

        Raises
        ------
        ValueError
            Naming ``n_trials`` when it was not given.
        """
        if self.n_trials is None:
            raise ValueError("n_trials: sampling needs the number of trials per row; give Multinomial(..., n_trials=N)")
        return rng.multinomial(self.n_trials, np.asarray(params["emissionprob"], dtype=float)[states]).astype(float)
