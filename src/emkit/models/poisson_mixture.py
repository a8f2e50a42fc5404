"""Mixture of K Poisson distributions fitted to counts: a frequency table or the observations.

``P(x) = Σ_k π_k e^{−λ_k} λ_k^x / x!``. The component labels are the missing data.
E-step: responsibilities ``r_xk ∝ π_k Pois(x; λ_k)`` (in log space) and the sufficient
statistics ``N_k = Σ_x n_x r_xk``, ``S_k = Σ_x n_x r_xk x``; M-step: ``π_k = N_k / N``,
``λ_k = S_k / N_k``.
"""

from __future__ import annotations

import warnings
from typing import Mapping

import numpy as np
from scipy.linalg import block_diag
from scipy.special import gammaln

from ..engine.model import EMModel, Params, Stats
from ..exceptions import DegenerateComponentWarning
from ..numerics import log_normalize, safe_log
from ..validation import check_counts, check_integer, check_probability_vector
from .categorical import (categorical_information, categorical_scores, free_probabilities, full_probabilities,
                          resample_counts)
from .records import tabulate_counts

#: What a sequence given as data holds: the frequencies of the values 0, 1, 2, ..., or one
#: observed count per entry.
DATA_FORMS = ("frequencies", "observations")


class PoissonMixture(EMModel):
    """K-component Poisson mixture for count data.

    Parameters
    ----------
    n_components : int
        Number of components ``K ≥ 1``, at most the number of observations.
    data : {"frequencies", "observations"}, optional
        What a sequence (list, array, Series) held in memory holds:
        ``"frequencies"``, the frequency table ``counts[x]`` of the values ``x = 0, 1, 2, ...``
        (Hasselblad's deaths ``[162, 267, 271, ...]``); ``"observations"``, one observed count
        per entry (``[3, 0, 2, 2, ...]``). Both are sequences of whole numbers, so a sequence is
        refused until this says which; a mapping ``{value: frequency}`` is always a table and
        needs no declaration, and data held by Dask (:func:`emkit.fit` on a Dask DataFrame,
        Series or array) are always observations, one per row.

    The log-likelihood is that of the individual observations, ``Σ_x n_x log P(x)``.
    """

    param_names = ("weights", "rates")

    def __init__(self, n_components: int = 2, *, data: str | None = None) -> None:
        self.n_components = check_integer(n_components, "n_components")
        if data is not None and (not isinstance(data, str) or data not in DATA_FORMS):
            raise ValueError(f"data: expected 'frequencies' (a table of counts of 0, 1, 2, ...) or 'observations' "
                             f"(one observed count per entry), got {data!r}")
        self.data = data

    def prepare(self, data) -> tuple[np.ndarray, np.ndarray]:
        """Frequency table as ``(values, counts)`` arrays, cells with zero count dropped.

        Raises
        ------
        ValueError
            Naming ``data`` when a sequence is given and the model does not say what it holds,
            or ``counts`` for a bad table.
        """
        if isinstance(data, Mapping):
            try:
                values = np.asarray(list(data.keys()), dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"counts: values must be non-negative integers, got {list(data.keys())}") from None
            counts = check_counts(list(data.values()), "counts")
        elif self.data == "frequencies":
            counts = check_counts(data, "counts")
            values = np.arange(counts.size, dtype=float)
        elif self.data == "observations":
            values, counts = tabulate_counts(data, "data")
            if counts.size == 0:
                raise ValueError("data: no observations")
        else:
            raise ValueError("data: a sequence of whole numbers may be a frequency table (the counts of 0, 1, 2, ...) "
                             "or the observed counts themselves; say which: "
                             f"PoissonMixture({self.n_components}, data='frequencies') or "
                             f"PoissonMixture({self.n_components}, data='observations') (or pass a mapping "
                             "{value: frequency})")
        if np.any(values < 0) or np.any(values != np.round(values)):
            raise ValueError(f"counts: values must be non-negative integers, got {values.tolist()}")
        keep = counts > 0
        if int(keep.sum()) < self.n_components <= counts.sum():  # more than counts.sum(): initial_params refuses
            warnings.warn(f"n_components={self.n_components} exceeds the {int(keep.sum())} distinct observed values; "
                          "the mixture is not identifiable", UserWarning, stacklevel=3)
        return values[keep], counts[keep]

    def prepare_chunk(self, chunk, context=None) -> tuple[np.ndarray, np.ndarray]:
        """The frequency table ``(values, counts)`` of one chunk of records (one observed count
        per row: a Series, a one-column DataFrame or a 1-D array, whatever :attr:`data` says);
        possibly empty."""
        return tabulate_counts(chunk, "X")

    def initial_params(self, data, rng: np.random.Generator | None = None) -> Params:
        """Equal weights and rates at the ``(k+½)/K`` quantiles of the data by default;
        flat-Dirichlet weights and rates ``mean·Gamma(2, ½)`` for a random start.

        Raises
        ------
        ValueError
            Naming ``n_components`` when it exceeds the number of observations (scikit-learn's
            rule), before anything of size ``K`` is allocated. Later batches of a stream may be
            smaller: only the data that start a fit are checked.
        """
        values, counts = data
        k = self.n_components
        if k > counts.sum():
            raise ValueError(f"n_components: Expected n_samples >= n_components but got n_components = {k}, "
                             f"n_samples = {counts.sum():.0f}")
        mean = float(counts @ values / counts.sum())
        if rng is None:
            cumulative = np.cumsum(counts) / counts.sum()
            quantiles = values[np.searchsorted(cumulative, (np.arange(k) + 0.5) / k)]
            spread = mean * (0.5 + np.arange(k) / max(k - 1, 1)) if k > 1 else np.array([mean])
            rates = np.where(np.diff(quantiles, prepend=-1.0) > 0, quantiles, spread) + 1e-3 * (1 + np.arange(k))
            weights = np.full(k, 1.0 / k)
        else:
            rates = mean * rng.gamma(2.0, 0.5, size=k) + 1e-6
            weights = rng.dirichlet(np.ones(k))
        return {"weights": weights, "rates": np.maximum(rates, 1e-6)}

    def log_joint(self, values: np.ndarray, params: Params) -> np.ndarray:
        """``log π_k + x log λ_k − λ_k − log x!`` for each value (rows) and component (columns)."""
        rates = params["rates"]
        return (safe_log(params["weights"]) + values[:, None] * np.log(rates) - rates
                - gammaln(values + 1.0)[:, None])

    def e_step(self, data, params: Params) -> tuple[Stats, float]:
        """``N_k = Σ n_x r_xk``, ``S_k = Σ n_x r_xk x``, ``ℓ = Σ n_x log P(x)``."""
        values, counts = data
        log_resp, log_marginal = log_normalize(self.log_joint(values, params))
        weighted = counts[:, None] * np.exp(log_resp)
        stats = {"n": weighted.sum(axis=0), "sum_x": values @ weighted}
        return stats, float(counts @ log_marginal)

    def m_step(self, stats: Stats, params: Params) -> Params:
        """``π_k = N_k / N``, ``λ_k = S_k / N_k`` (a component with no weight keeps its rate)."""
        n, sum_x = stats["n"], stats["sum_x"]
        empty = n <= 1e-12 * n.sum()
        if np.any(empty):
            warnings.warn(f"Poisson component(s) {np.flatnonzero(empty).tolist()} received no weight; "
                          "they are kept with weight 0 (fit fewer components)", DegenerateComponentWarning, stacklevel=4)
        rates = np.where(empty, params["rates"], sum_x / np.where(empty, 1.0, n))
        return {"weights": n / n.sum(), "rates": np.maximum(rates, 1e-300)}

    def check_params(self, params: Params) -> Params:
        k = self.n_components
        weights = check_probability_vector(params.get("weights", []), "init['weights']", length=k)
        rates = np.array(params.get("rates", []), dtype=float)
        if rates.shape != (k,) or not np.all(np.isfinite(rates)) or np.any(rates <= 0):
            raise ValueError(f"init['rates']: expected {k} positive rates, got {rates.tolist()}")
        return {"weights": weights, "rates": rates}

    def is_feasible(self, params: Params) -> bool:
        w, lam = params["weights"], params["rates"]
        return bool(np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1) < 1e-9
                    and np.all(np.isfinite(lam)) and np.all(lam > 0))

    def canonical(self, params: Params) -> Params:
        """Components sorted by increasing rate."""
        order = np.argsort(params["rates"], kind="stable")
        return {"weights": params["weights"][order], "rates": params["rates"][order]}

    def describe(self) -> str:
        """E.g. "Poisson mixture (k=3)"."""
        return f"Poisson mixture (k={self.n_components})"

    def named_params(self, params: Params) -> dict[str, list[float]]:
        return {"weights": params["weights"].tolist(), "rates": params["rates"].tolist()}

    def n_free_parameters(self) -> int:
        return 2 * self.n_components - 1

    # ------------------------------------------------------------ inference hooks
    def to_free(self, params: Params) -> np.ndarray:
        """``(π_1, ..., π_{K−1}, λ_1, ..., λ_K)``."""
        return np.concatenate([free_probabilities(params["weights"]), params["rates"]])

    def from_free(self, free: np.ndarray, like: Params | None = None) -> Params:
        k = self.n_components
        return {"weights": full_probabilities(free[:k - 1]), "rates": np.array(free[k - 1:], dtype=float)}

    def free_labels(self, params: Params | None = None) -> tuple[str, ...]:
        k = self.n_components
        return tuple(f"weights[{i}]" for i in range(k - 1)) + tuple(f"rates[{i}]" for i in range(k))

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """Block diagonal: the weights' ``diag(N_k/π_k²) + (N_K/π_K²) 11ᵀ`` and ``diag(S_k/λ_k²)``."""
        return block_diag(categorical_information(stats["n"], params["weights"]),
                          np.diag(stats["sum_x"] / params["rates"] ** 2))

    def latent_class_scores(self, data, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct values, responsibilities and the component scores: weights
        ``∂/∂θ log π_k`` and rates ``(x/λ_k − 1) e_k``."""
        values, counts = data
        log_resp, _ = log_normalize(self.log_joint(values, params))
        k = self.n_components
        weight_scores = np.broadcast_to(categorical_scores(params["weights"]).T, (values.size, k, k - 1))
        rate_scores = np.eye(k) * (values[:, None] / params["rates"] - 1.0)[:, :, None]
        return counts, np.exp(log_resp), np.concatenate([weight_scores, rate_scores], axis=2)

    def resample(self, data, rng: np.random.Generator) -> dict[float, float]:
        """Multinomial resampling of the frequency table, as ``{value: count}``."""
        values, counts = data
        return dict(zip(values.tolist(), resample_counts(counts, rng).tolist()))

    def simulate(self, params: Params, like_data, rng: np.random.Generator) -> dict[float, float]:
        """Frequency table of ``N`` draws, as ``{value: count}``: labels from the weights, then
        Poisson(λ_label)."""
        per_component = rng.multinomial(int(like_data[1].sum()), params["weights"])
        draws = np.concatenate([rng.poisson(lam, size=n) for lam, n in zip(params["rates"], per_component)])
        values, counts = np.unique(draws, return_counts=True)
        return dict(zip(values.astype(float).tolist(), counts.astype(float).tolist()))
