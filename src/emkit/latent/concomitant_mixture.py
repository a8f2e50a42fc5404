"""Finite mixtures of any family whose weights are a multinomial logit of covariates.

    p(x_i | z_i) = Σ_k π_k(z_i) p(x_i | θ_k),   π(z) = softmax(0, zᵀA)

Latent class analysis with covariates on class membership (poLCA's ``formula = cbind(...) ~ z``,
StepMix's one-step estimator with a structural covariate model) for a Bernoulli or Categorical
family, and the same for any :class:`~emkit.families.Family` (a Gaussian mixture of experts
without regressions in the components). The E-step is the mixture's, with row ``i``'s log
weights ``log π(z_i)`` (:mod:`emkit.latent.concomitant`); the M-step is the family's from the
additive statistics and, for ``A``, damped Newton on ``Σ_i w_i Σ_k r_ik log π_k(z_i)`` over passes
of the data (the engine's data-taking M-step): generalised EM when the inner loop stops early.

With the family's parameters held (``learn=("concomitant_coef",)``) this is also the
ML-corrected third step of three-step latent class analysis (:mod:`emkit.estimators.three_step`):
a one-column categorical "family" whose table is the classification-error matrix ``D``.

Data are ``(X, Z)`` or ``(X, Z, sample_weight)``, ``Z`` of shape (n, r) with its intercept column
(the face, :class:`~emkit.estimators.mixture.Mixture` with ``concomitant=``, adds it). In memory
only (no Dask chunks, no online EM).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..engine.data_pass import DataPass
from ..engine.model import Params, Stats
from ..families.base import Family
from ..validation import check_sample_weight
from .concomitant import PARAM, ConcomitantWeights
from .mixture import MixtureData, MixtureModel
from .sequences import Block


@dataclass(frozen=True)
class ConcomitantMixtureData(MixtureData):
    """:class:`~emkit.latent.mixture.MixtureData` with the covariates ``Z`` (n, r) of the weights."""

    Z: np.ndarray | None = None


class ConcomitantMixtureModel(MixtureModel):
    """Mixture of ``n_components`` components of one family with weights ``π(z) = softmax(0, zᵀA)``.

    Parameters
    ----------
    family : Family
    n_components : int
    n_concomitant : int
        ``r``, the columns of ``Z`` (a column of ones included for intercepts).
    learn : iterable of str, optional
        Parameters re-estimated by the M-step among ``concomitant_coef`` and the family's
        (default: all).
    n_jobs : int, optional
        Threads over the row blocks (as :class:`~emkit.latent.MixtureModel`).
    inner_tol, inner_max_iter : float, int
        The inner Newton loop's tolerance and step limit.

    Parameters (the dictionary): ``concomitant_coef`` (r, K−1), component 0 the reference, and
    the family's.
    """

    m_step_uses_data = True
    weights_vary_by_row = True

    def __init__(self, family: Family, n_components: int, n_concomitant: int, *, learn=None,
                 n_jobs: int | None = None, inner_tol: float = 1e-10, inner_max_iter: int = 100) -> None:
        super().__init__(family, n_components, n_jobs=n_jobs)
        if not (isinstance(n_concomitant, (int, np.integer)) and n_concomitant >= 1):
            raise ValueError(f"n_concomitant: expected a positive number of covariate columns, got {n_concomitant!r}")
        self.concomitant_weights = ConcomitantWeights(self.n_components, int(n_concomitant))
        self.param_names = (PARAM,) + tuple(family.param_names)
        self.learn = frozenset(self.param_names if learn is None else learn)
        unknown = sorted(self.learn - set(self.param_names))
        if unknown:
            raise ValueError(f"learn: unknown parameter(s) {unknown}; expected names among {list(self.param_names)}")
        self.inner_tol, self.inner_max_iter = float(inner_tol), int(inner_max_iter)

    # ----------------------------------------------------------------- data
    def prepare(self, data: Any) -> ConcomitantMixtureData:
        """From ``(X, Z)`` or ``(X, Z, sample_weight)``; ``ValueError`` naming ``Z`` when it is not
        a finite (n, r) matrix."""
        if isinstance(data, ConcomitantMixtureData):
            return data
        if not (isinstance(data, tuple) and len(data) in (2, 3)):
            raise ValueError("X: a mixture with concomitant variables takes (X, Z) or (X, Z, sample_weight)")
        X, Z, sample_weight = data if len(data) == 3 else (*data, None)
        X = self.family.prepare(X)
        Z = np.asarray(Z, dtype=float)
        if Z.shape != (X.shape[0], self.concomitant_weights.n_columns):
            raise ValueError(f"Z: expected shape ({X.shape[0]}, {self.concomitant_weights.n_columns}) (one row per "
                             f"row of X), got {Z.shape}")
        if not np.all(np.isfinite(Z)):
            raise ValueError("Z: concomitant variables must be finite (no NaN or inf); drop or impute those rows")
        return self._with_z(X, check_sample_weight(sample_weight, X.shape[0]), Z, self.family.data_context(X))

    def _with_z(self, X: np.ndarray, sample_weight: np.ndarray | None, Z: np.ndarray,
                context: Any) -> ConcomitantMixtureData:
        base = MixtureData.build(self.family, X, sample_weight, context)
        return ConcomitantMixtureData(base.X, base.sample_weight, base.blocks, base.context, Z)

    def chunk_summary(self, chunk: Any) -> Stats:
        raise ValueError("X: a mixture with concomitant variables is fitted in memory, not on Dask chunks")

    def resample(self, data: Any, rng: np.random.Generator) -> ConcomitantMixtureData:
        data = self.prepare(data)
        rows = rng.integers(0, data.n_samples, size=data.n_samples)
        weights = None if data.sample_weight is None else data.sample_weight[rows]
        return self._with_z(data.X[rows], weights, data.Z[rows], data.context)

    def reweight(self, data: Any, factors: np.ndarray) -> ConcomitantMixtureData:
        data = self.prepare(data)
        weights = factors if data.sample_weight is None else data.sample_weight * factors
        return self._with_z(data.X, weights, data.Z, data.context)

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator) -> ConcomitantMixtureData:
        """Rows drawn given the covariates of ``like_data`` (its missing cells and weights kept)."""
        data = self.prepare(like_data)
        X = self.sample_given(data.Z, params, rng)[0].astype(float)
        X[self.family.missing_cells(data.X).reshape(X.shape)] = np.nan
        return self._with_z(self.family.prepare(X), data.sample_weight, data.Z, data.context)

    def sample_given(self, Z: np.ndarray, params: Params, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One row per row of ``Z``: ``k_i ~ π(z_i)``, then ``x_i ~ p(· | θ_{k_i})``; and the ``k_i``."""
        labels = self.concomitant_weights.draw(np.asarray(Z, dtype=float), params[PARAM], rng)
        return self.family.sample(labels, params, rng), labels

    def sample(self, params: Params, n_samples: int, rng: np.random.Generator):
        raise ValueError("Z: a mixture with concomitant variables draws rows given their covariates: use "
                         "sample_given(Z, params, rng)")

    # ----------------------------------------------------------------- the EM pieces
    def _block_log_weights(self, data: ConcomitantMixtureData, block: Block, params: Params) -> np.ndarray:
        return self.concomitant_weights.log_weights(data.Z[block.start:block.stop], params[PARAM])

    def initial_params(self, data: Any, rng: np.random.Generator | None = None) -> Params:
        """The family's start (as the mixture's) and zero coefficients (equal weights)."""
        start = super().initial_params(self.prepare(data), rng)
        del start["weights"]
        return {PARAM: self.concomitant_weights.start(), **start}

    def m_step(self, stats: Stats, params: Params) -> Params:
        raise NotImplementedError("ConcomitantMixtureModel's M-step takes the data: the engine calls m_step_with_data")

    def m_step_with_data(self, stats: Stats, params: Params, data_pass: DataPass) -> Params:
        """The family's M-step (with the mixture's empty-component handling), then Newton for ``A``
        from ``A_t`` with the posteriors at ``θ_t``."""
        out = super().m_step(stats, params, data_pass)
        if PARAM in self.learn:
            out[PARAM] = self.concomitant_weights.maximize(data_pass, partial(_posterior_pass, self, params),
                                                           params[PARAM], tol=self.inner_tol,
                                                           max_iter=self.inner_max_iter)
        return out

    def log_prior(self, params: Params) -> float:
        return self.family.log_prior(params)

    def mean_weights(self, data: Any, params: Params) -> np.ndarray:
        """``Σ_i w_i π(z_i) / Σ_i w_i``, the weights averaged over the rows."""
        data = self.prepare(data)
        weights = np.exp(self.concomitant_weights.log_weights(data.Z, params[PARAM]))
        return np.average(weights, axis=0, weights=data.sample_weight)

    # ----------------------------------------------------------------- parameters
    def check_params(self, params: Params) -> Params:
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
        return {PARAM: self.concomitant_weights.check(params[PARAM]),
                **self.family.check_params(params, self.n_components)}

    def is_feasible(self, params: Params) -> bool:
        return bool(np.all(np.isfinite(params[PARAM]))) and self.family.is_feasible(params)

    def describe(self) -> str:
        return f"mixture of {self.n_components} {self.family.describe()} with concomitant weights"

    def n_free_parameters(self) -> int:
        return (self.concomitant_weights.n_free * (PARAM in self.learn)
                + self.family.n_free_parameters(self.n_components, self.learn))

    def to_free(self, params: Params) -> np.ndarray:
        """``A.ravel()`` (when learned), then the family's free scalars."""
        logit = [np.ravel(params[PARAM]).astype(float)] if PARAM in self.learn else []
        return np.concatenate(logit + [np.asarray(self.family.to_free(params, self.learn), dtype=float)])

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        free = np.asarray(free, dtype=float)
        out, start = dict(like), 0
        if PARAM in self.learn:
            start = self.concomitant_weights.n_free
            out[PARAM] = free[:start].reshape(self.concomitant_weights.shape)
        out.update(self.family.from_free(free[start:], like, self.learn))
        return out

    def free_labels(self, params: Params) -> tuple[str, ...]:
        logit = self.concomitant_weights.labels() if PARAM in self.learn else []
        return tuple(logit + list(self.family.free_labels(params, self.learn)))

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        raise NotImplementedError("the complete-data information of concomitant weights depends on every row's "
                                  "covariates, not on the additive statistics")

    def score_covariance(self, data: Any, params: Params) -> np.ndarray:
        raise NotImplementedError("Louis's missing information is not implemented for concomitant weights")


def _posterior_pass(model: ConcomitantMixtureModel, params: Params,
                    chunk: ConcomitantMixtureData) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(Z, posteriors at params, sample weights)`` of one prepared chunk."""
    return chunk.Z, model.responsibilities(chunk, params)[0], chunk.sample_weight
