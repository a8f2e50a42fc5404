"""Mixture of K Poisson distributions fitted to counts: a frequency table or the observations.

``P(x) = Σ_k π_k e^{−λ_k} λ_k^x / x!``. A face over :class:`~emkit.latent.MixtureModel` with the
one-column :class:`~emkit.families.Poisson` family: the table's distinct values ``x`` are the
rows and their frequencies ``n_x`` the sample weights, so the E-step's statistics are
``N_k = Σ_x n_x r_xk``, ``S_k = Σ_x n_x r_xk x`` and the M-step ``π_k = N_k / N``,
``λ_k = S_k / N_k``. Responsibilities, the empty-component policy, the canonical order
(increasing rate), the information and the sampler are the mixture's; this face reads the
table, names the parameters ``weights`` and ``rates`` (K,), starts at the data's quantiles and
bootstraps tables.
"""

from __future__ import annotations

import warnings
from functools import cached_property
from typing import Any, Mapping

import numpy as np

from ..engine.model import EMModel, Params, Stats
from ..families.poisson import Poisson
from ..latent.mixture import MixtureData, MixtureModel
from ..validation import check_counts, check_integer, check_probability_vector
from .categorical import resample_counts
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

    The log-likelihood is that of the individual observations, ``Σ_x n_x log P(x)``. Fitted
    components are sorted by increasing rate.
    """

    param_names = ("weights", "rates")

    def __init__(self, n_components: int = 2, *, data: str | None = None) -> None:
        self.n_components = check_integer(n_components, "n_components")
        if data is not None and (not isinstance(data, str) or data not in DATA_FORMS):
            raise ValueError(f"data: expected 'frequencies' (a table of counts of 0, 1, 2, ...) or 'observations' "
                             f"(one observed count per entry), got {data!r}")
        self.data = data
        self.family = Poisson(1)

    @cached_property
    def mixture(self) -> MixtureModel:
        """The model fitted, ``MixtureModel(Poisson(1), K)`` ordered by rate (built on first use,
        so that a ``K`` beyond the observations is refused before anything of size ``K`` exists)."""
        return MixtureModel(self.family, self.n_components, order_by="lambdas", n_jobs=1)

    # ------------------------------------------------------------------ data
    def prepare(self, data: Any) -> MixtureData:
        """The frequency table as rows: the distinct values (cells with zero count dropped), their
        frequencies the sample weights.

        Raises
        ------
        ValueError
            Naming ``data`` when a sequence is given and the model does not say what it holds,
            or ``counts`` for a bad table.
        """
        if isinstance(data, MixtureData):
            return data
        if isinstance(data, Mapping):
            values, counts = _mapping_table(data)
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
        keep = counts > 0
        if int(keep.sum()) < self.n_components <= counts.sum():  # more than counts.sum(): initial_params refuses
            warnings.warn(f"n_components={self.n_components} exceeds the {int(keep.sum())} distinct observed values; "
                          "the mixture is not identifiable", UserWarning, stacklevel=3)
        return self._rows(values[keep], counts[keep])

    def prepare_chunk(self, chunk: Any, context: Any = None) -> MixtureData:
        """One chunk of records (one observed count per row: a Series, a one-column DataFrame or a
        1-D array, whatever :attr:`data` says) or a table ``{value: frequency}`` (a simulated
        chunk) as rows; possibly empty."""
        if isinstance(chunk, MixtureData):
            return chunk
        return self._rows(*(_mapping_table(chunk) if isinstance(chunk, Mapping) else tabulate_counts(chunk, "X")))

    def _rows(self, values: np.ndarray, counts: np.ndarray) -> MixtureData:
        return MixtureData.build(self.family, np.ascontiguousarray(values, dtype=float)[:, None], counts)

    # ------------------------------------------------------------------ the EM pieces
    def initial_params(self, data: Any, rng: np.random.Generator | None = None) -> Params:
        """Equal weights and rates at the ``(k+½)/K`` quantiles of the data by default;
        flat-Dirichlet weights and rates ``mean·Gamma(2, ½)`` for a random start.

        Raises
        ------
        ValueError
            Naming ``n_components`` when it exceeds the number of observations (scikit-learn's
            rule), before anything of size ``K`` is allocated. Later batches of a stream may be
            smaller: only the data that start a fit are checked.
        """
        values, counts = data.X[:, 0], data.sample_weight
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

    def e_step(self, data: Any, params: Params) -> tuple[Stats, float]:
        """The mixture's statistics (``counts`` ``N_k``; ``column_sums`` ``S_k``) and ``Σ n_x log P(x)``."""
        return self.mixture.e_step(data, _family_params(params))

    def m_step(self, stats: Stats, params: Params) -> Params:
        """``π_k = N_k / N``, ``λ_k = S_k / N_k``; an empty component keeps its rate (the
        mixture's policy, with its warning)."""
        return _face_params(self.mixture.m_step(stats, _family_params(params)))

    def check_params(self, params: Params) -> Params:
        k = self.n_components
        weights = check_probability_vector(params.get("weights", []), "init['weights']", length=k)
        rates = np.array(params.get("rates", []), dtype=float)
        if rates.shape != (k,) or not np.all(np.isfinite(rates)) or np.any(rates <= 0):
            raise ValueError(f"init['rates']: expected {k} positive rates, got {rates.tolist()}")
        return {"weights": weights, "rates": rates}

    def is_feasible(self, params: Params) -> bool:
        return self.mixture.is_feasible(_family_params(params))

    def canonical(self, params: Params) -> Params:
        """Components sorted by increasing rate (the mixture's ``order_by``)."""
        return _face_params(self.mixture.canonical(_family_params(params)))

    def describe(self) -> str:
        """E.g. "Poisson mixture (k=3)"."""
        return f"Poisson mixture (k={self.n_components})"

    def named_params(self, params: Params) -> dict[str, list[float]]:
        return {"weights": np.asarray(params["weights"]).tolist(), "rates": np.asarray(params["rates"]).tolist()}

    def n_free_parameters(self) -> int:
        return self.mixture.n_free_parameters()

    # ------------------------------------------------------------ inference hooks
    def to_free(self, params: Params) -> np.ndarray:
        """``(π_1, ..., π_{K−1}, λ_1, ..., λ_K)``."""
        return self.mixture.to_free(_family_params(params))

    def from_free(self, free: np.ndarray, like: Params | None = None) -> Params:
        k = self.n_components
        like = {"weights": np.full(k, 1.0 / k), "rates": np.ones(k)} if like is None else like
        return _face_params(self.mixture.from_free(free, _family_params(like)))

    def free_labels(self, params: Params | None = None) -> tuple[str, ...]:
        k = self.n_components
        return tuple(f"weights[{i}]" for i in range(k - 1)) + tuple(f"rates[{i}]" for i in range(k))

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """The mixture's: the weights' ``diag(N_k/π_k²) + (N_K/π_K²) 11ᵀ`` and ``diag(S_k/λ_k²)``."""
        return self.mixture.complete_information(stats, _family_params(params))

    def score_covariance(self, data: Any, params: Params) -> np.ndarray:
        """Louis's missing information, the mixture's (the table's rows weighted by their frequencies)."""
        return self.mixture.score_covariance(data, _family_params(params))

    def resample(self, data: Any, rng: np.random.Generator) -> dict[float, float]:
        """Multinomial resampling of the frequency table (``N`` observations drawn with
        replacement), as ``{value: count}``."""
        return dict(zip(data.X[:, 0].tolist(), resample_counts(data.sample_weight, rng).tolist()))

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator) -> dict[float, float]:
        """Frequency table of as many draws from the mixture as ``like_data`` holds observations
        (:meth:`MixtureModel.sample`), as ``{value: count}``."""
        n = int(round(float(like_data.sample_weight.sum())))
        draws = self.mixture.sample(_family_params(params), n, rng)[0][:, 0]
        values, counts = np.unique(draws, return_counts=True)
        return dict(zip(values.tolist(), counts.astype(float).tolist()))


def _mapping_table(table: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """``{value: frequency}`` as ``(values, counts)`` float arrays; ``ValueError`` naming ``counts``."""
    try:
        values = np.asarray(list(table.keys()), dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"counts: values must be non-negative integers, got {list(table.keys())}") from None
    if np.any(~np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values)):
        raise ValueError(f"counts: values must be non-negative integers, got {values.tolist()}")
    return values, check_counts(list(table.values()), "counts")


def _family_params(params: Params) -> Params:
    """The face's ``weights``, ``rates`` (K,) as the mixture's ``weights``, ``lambdas`` (K, 1)."""
    return {"weights": params["weights"], "lambdas": np.asarray(params["rates"], dtype=float)[:, None]}


def _face_params(params: Params) -> Params:
    """Inverse of :func:`_family_params`."""
    return {"weights": params["weights"], "rates": np.asarray(params["lambdas"], dtype=float)[:, 0]}
