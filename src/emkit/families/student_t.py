"""Student-t family: ``x_i | z_i = k ~ t_{ν_k}(μ_k, Σ_k)`` with any of the
Gaussian family's covariance structures for ``Σ`` (scikit-learn's four, mclust's models; robust mixture
components and HMM emissions).

The t is the Gaussian scale mixture ``x | z = k, u ~ N(μ_k, Σ_k/u)``, ``u ~ Gamma(ν_k/2, rate ν_k/2)``;
with the weights ``u`` as missing data besides the labels, EM is exact (Peel & McLachlan 2000):
``E[u] = (ν+d)/(ν+δ)``, ``E[log u] = ψ((ν+d)/2) − log((ν+δ)/2)``, the additive statistics
``n_k = Σ γ``, ``Σ γu``, ``Σ γu (x−c)``, ``Σ γu (x−c)(x−c)ᵀ`` about a fixed centre ``c`` and
``Σ γ (E log u − E u)``; the M-step gives ``μ`` in closed form, ``Σ`` by the structure's Gaussian
M-step of the u-weighted scatter with the counts ``n_k`` and each ``ν_k`` from the 1-D equation
``log(ν/2) − ψ(ν/2) + 1 + Σγ(E log u − E u)/n_k = 0``. All t numerics are those of
:mod:`emkit.kernels.student_t` (shared with :class:`~emkit.models.student_mixture.StudentMixtureModel`,
whose ECME step on the observed likelihood needs the data and stays there); the data handling,
starts, parameter checks and free parameters of ``μ``, ``Σ`` are the :class:`~emkit.families.Gaussian`
family's. Missing cells are marginalised: the observed coordinates are t with ``d_o`` dimensions,
``u`` is weighted by them, and the missing ones enter through their conditional moments. Every row,
complete or not, runs on the one Gaussian kernel (:mod:`emkit.kernels.gaussian_mixture_estep`):
``δ_o = 2(log|Σ_oo|^{-1/2} − log N(x_o)) − d_o log 2π`` from its marginal densities and log-dets,
the u-weighted statistics from its missing-value algorithm with weights ``γu`` (``γ`` for the
conditional covariances), far rows by its overflow-safe direct formula.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma, polygamma

from ..engine.model import Params, Regularization, Stats
from ..kernels.covariance_structures import covariance_structure
from ..kernels.gaussian import LOG_2PI
from ..kernels.gaussian_direct import LOST, log_distances
from ..kernels.gaussian_mixture_missing import missing_layout
from ..kernels.gaussian_mixture_estep import (
    MixtureTerms,
    RowFeatures,
    component_log_densities,
    component_statistics,
    mixture_terms,
    observed_log_det_precisions,
    row_features,
)
from ..kernels.student_t import (
    DOF_BOUNDS,
    DOF_START,
    dof_from_expected,
    latent_weight_moments,
    latent_weight_posterior,
    log_t_density,
    t_locations_scatters,
)
from ..models.gaussian_information import (
    conditional_residuals,
    conditional_score_covariance,
    conditional_scores,
    gaussian_information,
    gaussian_scores,
)
from ..models.regularization import covariance_floor
from .base import Family, written
from .gaussian import Gaussian, statistics_centre


@dataclass(frozen=True)
class StudentTBlock:
    """Rows, the incomplete ones among them (an index array; None when all are complete) and the
    data set's centre of statistics."""

    X: np.ndarray
    incomplete: np.ndarray | None
    centre: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, centre: np.ndarray) -> StudentTBlock:
        rows_missing = np.isnan(X).any(axis=1)
        return cls(X, np.flatnonzero(rows_missing) if rows_missing.any() else None, centre)

    def features(self, covariance_type: str) -> RowFeatures:
        """The rows' features about the centre (the Gaussian kernel's, with its missing-value layout)."""
        return row_features(self.X, covariance_type, self.centre)


@dataclass(frozen=True)
class StudentTCache:
    """What one E-step needs from the parameters: locations, scatters, degrees of freedom and
    their Gaussian product form about a centre (:meth:`terms`)."""

    means: np.ndarray
    covars: np.ndarray
    dofs: np.ndarray
    covariance_type: str
    made: dict = field(default_factory=dict, repr=False, compare=False)

    def terms(self, centre: np.ndarray) -> MixtureTerms:
        """The scatters' Gaussian product form about ``centre`` (every weight 1), made once per
        centre array."""
        found = self.made.get(id(centre))
        if found is None or found[0] is not centre:
            k = self.means.shape[0]
            found = self.made[id(centre)] = (centre, mixture_terms(np.ones(k), self.means, self.covars,
                                                                   self.covariance_type, centre))
        return found[1]


class StudentT(Family):
    """Multivariate Student-t components ``t_{ν_k}(μ_k, Σ_k)``.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of the rows.
    covariance_type : str, default="diag"
        Structure of the scatter matrices ``Σ_k``: the Gaussian family's (scikit-learn's four or an
        mclust model, e.g. "VEV"), shapes and default.
    dof : float, optional
        Degrees of freedom shared by every component and held fixed (in ``[0.01, 1000]``);
        estimated, one ``ν_k`` per component, when None.
    reg_covar : float, default=1e-6
        Added to the diagonal of every scatter matrix.
    centre : array of shape (n_features,), optional
        Fixed origin of the statistics (default: the mean of the first data prepared).

    Parameters of a fit: ``means`` (the locations, (K, d)), ``covars`` (the scatters, shaped by
    ``covariance_type``) and ``dofs`` (K,) when estimated.
    """

    def __init__(self, n_features: int, covariance_type: str = "diag", dof: float | None = None,
                 reg_covar: float = 1e-6, centre: np.ndarray | None = None) -> None:
        self._gaussian = Gaussian(n_features, covariance_type, reg_covar, centre)
        if dof is not None and not (np.isscalar(dof) and DOF_BOUNDS[0] <= dof <= DOF_BOUNDS[1]):
            raise ValueError(f"dof: must be None (estimated) or a number in {list(DOF_BOUNDS)}, got {dof!r}")
        self.n_features = self._gaussian.n_features
        self.covariance_type = self._gaussian.covariance_type
        self.dof = None if dof is None else float(dof)
        self.reg_covar = self._gaussian.reg_covar
        self.param_names = ("means", "covars") + (("dofs",) if self.dof is None else ())

    @property
    def centre(self) -> np.ndarray | None:
        """The given origin of the statistics (None: each data set's mean, :meth:`data_context`)."""
        return self._gaussian.centre

    def describe(self) -> str:
        """E.g. "Student-t full" or "Student-t diag (dof 4)"."""
        return f"Student-t {self.covariance_type}" + ("" if self.dof is None else f" (dof {self.dof:g})")

    # ------------------------------------------------------------------ data (the Gaussian family's)
    def prepare(self, X) -> np.ndarray:
        """Validated float rows (NaN missing)."""
        return self._gaussian.prepare(X)

    def data_context(self, X: np.ndarray) -> np.ndarray:
        """The centre of the statistics (the Gaussian family's)."""
        return self._gaussian.data_context(X)

    def prepare_chunk(self, X) -> np.ndarray:
        return self._gaussian.prepare_chunk(X)

    def chunk_summary(self, X: np.ndarray) -> Stats:
        return self._gaussian.chunk_summary(X)

    def chunk_context(self, summary: Stats) -> np.ndarray:
        return self._gaussian.chunk_context(summary)

    def block_data(self, X: np.ndarray, context: np.ndarray | None = None) -> StudentTBlock:
        return StudentTBlock.of(X, self.data_context(X) if context is None else context)

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """The Gaussian family's (weighted) k-means start for ``means`` and ``covars``; ``ν`` =
        :data:`~emkit.kernels.student_t.DOF_START` (a random start draws it from (2, 30))."""
        start = self._gaussian.initial_params(X, n_components, rng, sample_weight)
        if self.dof is None:
            start["dofs"] = np.full(n_components, DOF_START) if rng is None else rng.uniform(2.0, 30.0, n_components)
        return start

    def _dofs(self, params: Params, n_components: int) -> np.ndarray:
        if self.dof is not None:
            return np.full(n_components, self.dof)
        return np.asarray(params["dofs"], dtype=float)

    # ------------------------------------------------------------------ E-step
    def precompute(self, params: Params) -> StudentTCache:
        means = np.asarray(params["means"], dtype=float)
        covars = np.asarray(params["covars"], dtype=float)
        k = means.shape[0]
        return StudentTCache(means, covars, self._dofs(params, k), self.covariance_type)

    def _distances(self, block: StudentTBlock, cache: StudentTCache, features: RowFeatures | None = None):
        """``log δ`` (n, k), ``log|Σ_oo|^{-1/2}`` ((k,), or (n, k) with missing cells) and the observed
        dimension ``d_o`` (``d``, or (n, 1)) of every row over its observed coordinates, from the
        Gaussian kernel (``features``: :meth:`StudentTBlock.features` when already made): its
        ``log N(x_o | μ_k,o, Σ_k,oo) = −½(d_o log 2π + log|Σ_k,oo| + δ)`` and its ``log|Σ_k,oo|``
        (:func:`~emkit.kernels.gaussian_mixture_estep.observed_log_det_precisions`); rows whose
        density is below the float range (the kernel's stand-ins) by the overflow-safe direct
        formula. A row with nothing observed has ``δ = 0`` (``log δ = −∞``) and ``d_o = 0``."""
        features = block.features(self.covariance_type) if features is None else features
        terms = cache.terms(block.centre)
        log_normal = component_log_densities(block.X, features, terms)
        if block.incomplete is None:
            log_det, dims = terms.log_det_precision, self.n_features
        else:
            log_det = observed_log_det_precisions(block.X, features, terms)
            dims = (self.n_features - np.isnan(block.X).sum(axis=1, keepdims=True)).astype(float)
        with np.errstate(divide="ignore"):
            log_delta = np.log(np.maximum(2.0 * (log_det - log_normal) - dims * LOG_2PI, 0.0))
        lost = np.flatnonzero((log_normal <= 0.5 * LOST).any(axis=1))
        if lost.size:
            log_delta[lost] = log_distances(block.X[lost], cache.means, cache.covars, self.covariance_type)[0]
        return log_delta, log_det, dims

    def log_likelihood(self, block: StudentTBlock, cache: StudentTCache, out: np.ndarray | None = None) -> np.ndarray:
        """``log t_{ν_k}(x_o | μ_k,o, Σ_k,oo)`` over each row's observed coordinates (0: none)."""
        log_delta, log_det, dims = self._distances(block, cache)
        return written(log_t_density(log_delta, log_det, cache.dofs, dims), out)

    def stats(self, block: StudentTBlock, posteriors: np.ndarray, cache: StudentTCache) -> Stats:
        """``n``, ``sum_u``, ``sum_ux``, ``sum_uxx`` (about :attr:`centre`; also about each location,
        ``anchored_*``, when a component is far from it) and ``sum_log_u_minus_u``."""
        features = block.features(self.covariance_type)   # for the distances and the statistics
        log_delta, _, dims = self._distances(block, cache, features)
        with np.errstate(over="ignore"):
            u, log_u = latent_weight_moments(np.exp(log_delta), cache.dofs, dims)
        about = {"n": posteriors.sum(axis=0),
                 "sum_log_u_minus_u": np.where(posteriors > 0, posteriors * (log_u - u), 0.0).sum(axis=0)}
        # The Gaussian kernel's statistics with weights γu (its conditional covariances of missing
        # cells weighted by γ), with the far components' sums about their locations (anchored_*).
        weighted = component_statistics(block.X, features, cache.terms(block.centre), posteriors * u,
                                        None if block.incomplete is None else posteriors)
        anchored = {key: value for key, value in weighted.items() if key.startswith("anchored_")}
        return {**about, "sum_u": weighted["n"], "sum_ux": weighted["sum_x"], "sum_uxx": weighted["sum_xx"],
                **anchored, "centre_weight": about["n"].sum() * block.centre}

    # ------------------------------------------------------------------ M-step
    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """``μ``, ``Σ`` from :func:`~emkit.kernels.student_t.t_locations_scatters` (+ ``reg_covar``),
        then each learned ``ν_k`` from :func:`~emkit.kernels.student_t.dof_from_expected`;
        components in ``keep`` keep their parameters (their scatters where the structure's constraint
        allows: :meth:`~emkit.kernels.covariance_structures.CovarianceStructure.keep_components`)."""
        out = {name: params[name] for name in self.param_names}
        if {"means", "covars"} & learn:
            means, covars = self._exact_means_covars(stats, params, learn, self.reg_covar)
            if "means" in learn:
                out["means"] = np.where(keep[:, None], params["means"], means)
            if "covars" in learn:
                out["covars"] = covariance_structure(self.covariance_type).keep_components(params["covars"], covars,
                                                                                           keep)
        if self.dof is None and "dofs" in learn:
            n = np.asarray(stats["n"], dtype=float)
            mean = np.asarray(stats["sum_log_u_minus_u"], dtype=float) / np.where(keep, 1.0, n)
            out["dofs"] = np.where(keep, params["dofs"], dof_from_expected(mean))
        return out

    def _exact_means_covars(self, stats: Stats, params: Params, learn: frozenset[str],
                            reg_covar: float) -> tuple[np.ndarray, np.ndarray]:
        fixed = None if "means" in learn else np.asarray(params["means"], dtype=float)
        return t_locations_scatters(stats, np.asarray(params["means"], dtype=float), statistics_centre(stats),
                                    self.covariance_type, reg_covar, fixed_locations=fixed,
                                    previous=np.asarray(params["covars"], dtype=float))

    def regularization(self, stats: Stats, params: Params, learn: frozenset[str],
                       keep: np.ndarray) -> Regularization | None:
        """What ``reg_covar`` gave up (:func:`~emkit.models.regularization.covariance_floor` with Q's
        scatter part ``−(n_k/2)(log|Σ| + tr(Σ⁻¹ C_k))``); None when it is 0 or ``covars`` is not learned."""
        if self.reg_covar == 0 or "covars" not in learn:
            return None
        _, scatters = self._exact_means_covars(stats, params, learn, 0.0)
        return covariance_floor(scatters, np.where(keep, 0.0, np.asarray(stats["n"], dtype=float)), self.reg_covar,
                                self.covariance_type, self.n_features, what="Student-t component",
                                remedy="increase reg_covar to keep components off single points, decrease it to "
                                       "move the fit closer to maximum likelihood, or fit fewer components")

    # ------------------------------------------------------------------ parameter space
    def check_params(self, params: Params, n_components: int) -> Params:
        """The Gaussian family's checks of ``means`` and ``covars``; ``dofs`` (K,) in
        ``[0.01, 1000]`` when estimated."""
        out = self._gaussian.check_params(params, n_components)
        if self.dof is None:
            dofs = np.array(params["dofs"], dtype=float)
            if dofs.shape != (n_components,) or not np.all((dofs >= DOF_BOUNDS[0]) & (dofs <= DOF_BOUNDS[1])):
                raise ValueError(f"dofs: expected {n_components} degrees of freedom in {list(DOF_BOUNDS)}, "
                                 f"got {dofs.tolist()}")
            out["dofs"] = dofs
        return out

    def is_feasible(self, params: Params) -> bool:
        if not self._gaussian.is_feasible(params):
            return False
        if self.dof is None:
            dofs = np.asarray(params["dofs"], dtype=float)
            return bool(np.all((dofs >= DOF_BOUNDS[0]) & (dofs <= DOF_BOUNDS[1])))
        return True

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        """The Gaussian family's count plus ``K`` when the degrees of freedom are learned."""
        return self._gaussian.n_free_parameters(n_components, learn) + (n_components if self._learns_dofs(learn)
                                                                          else 0)

    def _learns_dofs(self, learn: frozenset[str]) -> bool:
        return self.dof is None and "dofs" in learn

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """The Gaussian family's free ``means`` and ``covars`` entries, then ``ν`` when learned."""
        dofs = [np.asarray(params["dofs"], dtype=float)] if self._learns_dofs(learn) else []
        return np.concatenate([self._gaussian.to_free(params, learn), *dofs])

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        k = np.shape(like["means"])[0]
        count = self._gaussian.n_free_parameters(k, learn)
        out = {**{name: like[name] for name in self.param_names}, **self._gaussian.from_free(free[:count], like, learn)}
        if self._learns_dofs(learn):
            out["dofs"] = np.array(free[count:], dtype=float)
        return out

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        k = np.shape(params["means"])[0]
        dofs = [f"dofs[{j}]" for j in range(k)] if self._learns_dofs(learn) else []
        return self._gaussian.free_labels(params, learn) + dofs

    def row_scores(self, block: StudentTBlock, params: Params, learn: frozenset[str]) -> np.ndarray:
        """``E[S_c | x_i, z_i = k] = a_ik + b_ik E[u] + c_k E[log u]`` (n, K, p) in :meth:`to_free`'s
        entries: the conditional mean of the score of the complete data ``(x_i, k, u)`` (with the
        missing cells of ``x_i``: :meth:`latent_scale_scores`), with ``E[u] = α/β``, ``E[log u] =
        ψ(α) − log β``; its spread over ``u`` and the missing cells is :meth:`within_score_covariance`."""
        constant, linear, logarithmic, shape, log_rate, _ = self.latent_scale_scores(block, params, learn)
        mean_u = shape * np.exp(-log_rate)
        mean_log_u = digamma(shape) - log_rate
        return constant + linear * mean_u[:, :, None] + logarithmic * mean_log_u[:, :, None]

    def within_score_covariance(self, block: StudentTBlock, posteriors: np.ndarray, params: Params,
                                learn: frozenset[str]) -> np.ndarray:
        """``Σ_i Σ_k γ_ik Cov[S_c | x_i, k]``. Over ``u``: ``Var[u] b bᵀ + Cov[u, log u] (b cᵀ + c bᵀ) +
        Var[log u] c cᵀ``, ``Var[u] = α/β²``, ``Cov[u, log u] = 1/β``, ``Var[log u] = ψ′(α)``: written
        ``f fᵀ + (ψ′(α) − 1/α) c cᵀ`` with ``f = b √α/β + c/√α``. Over the missing cells, ``x_m − x̂ =
        ε/√u`` with ``ε ~ N(0, Ĉ)`` independent of ``u``: the Gaussian score's linear part in ``ε``
        scaled by ``√u`` and its quadratic part, uncorrelated with the rest, add the Gaussian's
        conditional covariance with linear weights ``γ E[u]``
        (:func:`~emkit.models.gaussian_information.conditional_score_covariance`)."""
        constant, linear, logarithmic, shape, log_rate, residuals = self.latent_scale_scores(block, params, learn)
        spread = (linear * (np.sqrt(shape) * np.exp(-log_rate))[:, :, None]
                  + logarithmic / np.sqrt(shape)[:, :, None]) * np.sqrt(posteriors)[:, :, None]
        flat = spread.reshape(-1, spread.shape[-1])
        rest = np.einsum("ik,ik->k", posteriors, polygamma(1, shape) - 1.0 / shape)
        within = flat.T @ flat + logarithmic[0].T @ (logarithmic[0] * rest[:, None])
        if residuals is not None:
            kept = self._gaussian._learned(np.shape(params["means"])[0], learn)
            missing = conditional_score_covariance(residuals, self.covariance_type,
                                                   posteriors * shape * np.exp(-log_rate), posteriors)
            within[:kept.sum(), :kept.sum()] += missing[np.ix_(kept, kept)]
        return within

    def latent_scale_scores(self, block: StudentTBlock, params: Params, learn: frozenset[str]):
        """The complete-data score ``S_c(u) = ∂/∂θ log[N(x_i | μ_k, Σ_k/u) Gamma(u | ν_k/2, ν_k/2)]
        = a_ik + b_ik u + c_k log u`` in :meth:`to_free`'s entries, averaged over the missing cells
        given ``u``, and ``u``'s conditional distribution ``Gamma(α_ik, rate β_ik)`` given the row
        and component: ``(a, b, c, α, log β, residuals)``, ``c`` shaped (1, K, p), ``a`` (1, K, p)
        for complete rows, else (n, K, p), ``b`` (n, K, p), ``α`` and ``log β`` (n, K), and the
        :class:`~emkit.models.gaussian_information.ConditionalResiduals` of the rows (None when
        no cell is missing).

        ``log N(x | μ, Σ/u) = log N(√u (x − μ) | 0, Σ) + (d/2) log u``: ``b`` is the Gaussian
        score's part quadratic in ``x − μ`` (``Σ⁻¹(x − μ)``, ``½ vᵀE_t v``), ``a`` the rest (its value
        at ``x = μ``, ``−½ tr Σ⁻¹E_t``); in ``ν``, ``½ log(ν/2) + ½ − ½ ψ(ν/2) − ½ u + ½ log u``.
        Given ``u``, ``x_m ~ N(x̂, Ĉ/u)``: ``b`` is taken at ``x̂`` and ``a`` gains ``½ tr(E_t G)``
        (:func:`~emkit.models.gaussian_information.conditional_scores`: ``u`` times the spread
        ``Ĉ/u``).
        """
        means = np.asarray(params["means"], dtype=float)
        k = means.shape[0]
        kept = self._gaussian._learned(k, learn)
        covars = np.asarray(params["covars"], dtype=float)
        at_means = gaussian_scores(means, means, covars, self.covariance_type)[np.arange(k), np.arange(k)]
        constant = at_means[None, :, kept]
        logarithmic = np.zeros_like(constant)
        if block.incomplete is None:
            residuals = None
            linear = gaussian_scores(block.X, means, covars, self.covariance_type)[:, :, kept] - constant
        else:
            residuals = conditional_residuals(block.X, missing_layout(block.X), means, covars, self.covariance_type)
            at_mean, missing = conditional_scores(residuals, covars, self.covariance_type)
            linear = at_mean[:, :, kept] - constant
            constant = constant + missing[:, :, kept]
        cache = self.precompute(params)
        log_delta, _, dims = self._distances(block, cache)
        shape, log_rate = latent_weight_posterior(log_delta, cache.dofs, dims)
        if self._learns_dofs(learn):
            dofs, own = cache.dofs, np.eye(k)[None]
            half = 0.5 * (np.log(0.5 * dofs) + 1.0 - digamma(0.5 * dofs))
            constant = np.concatenate([constant, np.broadcast_to(own * half, constant.shape[:2] + (k,))], axis=2)
            linear = np.concatenate([linear, np.broadcast_to(-0.5 * own, linear.shape[:2] + (k,))], axis=2)
            logarithmic = np.concatenate([logarithmic, 0.5 * own], axis=2)
        return constant, linear, logarithmic, shape, log_rate, residuals

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Expected information of the complete data ``(z, u, x)`` in :meth:`to_free`'s entries:
        the Gaussian information of the u-weighted statistics (``I_μμ = Σγu Σ⁻¹``, …), whose
        ``−½ n log|Σ|`` part counts ``Σγ`` rather than ``Σγu`` (the difference added as the
        information of statistics with that count and no scatter, its ``μμ`` block left out), and
        ``n_k (ψ′(ν_k/2)/4 − 1/(2ν_k))`` for each learned ``ν_k`` (no cross terms: Q separates)."""
        means = np.asarray(params["means"], dtype=float)
        k, d = means.shape
        centre = statistics_centre(stats)
        n, sum_u = np.asarray(stats["n"], dtype=float), np.asarray(stats["sum_u"], dtype=float)
        weighted = {"n": sum_u, "sum_x": stats["sum_ux"], "sum_xx": stats["sum_uxx"]}
        information = gaussian_information(weighted, means, params["covars"], self.covariance_type, centre)
        shortfall, offsets = n - sum_u, means - centre
        second = covariance_structure(self.covariance_type).second_of_matrices(
            np.einsum("k,ki,kj->kij", shortfall, offsets, offsets))
        log_det_part = gaussian_information({"n": shortfall, "sum_x": shortfall[:, None] * offsets, "sum_xx": second},
                                            means, params["covars"], self.covariance_type, centre)
        log_det_part[:k * d] = 0.0
        log_det_part[:, :k * d] = 0.0
        information = information + log_det_part
        kept = self._gaussian._learned(k, learn)
        information = information[np.ix_(kept, kept)]
        if not self._learns_dofs(learn):
            return information
        dofs = np.asarray(params["dofs"], dtype=float)
        dof_block = np.diag(n * (polygamma(1, 0.5 * dofs) / 4.0 - 0.5 / dofs))
        size = information.shape[0]
        out = np.zeros((size + k, size + k))
        out[:size, :size], out[size:, size:] = information, dof_block
        return out

    def shared_params(self) -> frozenset[str]:
        """The scatter when tied."""
        return self._gaussian.shared_params()

    def conditional_means(self, X: np.ndarray, posteriors: np.ndarray, params: Params) -> np.ndarray:
        """As a Gaussian's (a t's conditional mean given the observed cells has the same form;
        it exists for ``ν > 1``, and is the conditional median for any ``ν``)."""
        return self._gaussian.conditional_means(X, posteriors, params)

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """``x = μ_k + L_k ε / √u`` with ``Σ_k = L_k L_kᵀ``, standard normal ``ε`` and
        ``u ~ Gamma(ν_k/2, rate ν_k/2)`` (the Gaussian family's draw, rescaled)."""
        states = np.asarray(states)
        means = np.asarray(params["means"], dtype=float)
        gaussian = self._gaussian.sample(states, params, rng)
        dofs = self._dofs(params, means.shape[0])[states]
        return means[states] + (gaussian - means[states]) / np.sqrt(rng.gamma(0.5 * dofs, 2.0 / dofs))[:, None]

    # ------------------------------------------------------------------ ECME (added for the t mixture's face)
    def distances(self, block: StudentTBlock, cache: StudentTCache) -> StudentTDistances:
        """The rows' distances to every component, from which ``log t_ν(x_i | μ_k, Σ_k)`` follows
        for any ``ν``: ECME's ν-steps evaluate the observed likelihood at many ``ν_k`` for fixed
        ``μ``, ``Σ`` (:class:`~emkit.models.student_mixture.StudentMixtureModel`)."""
        log_delta, log_det, dims = self._distances(block, cache)
        return StudentTDistances(log_delta, log_det, dims if np.ndim(dims) == 0 else dims[:, 0])


@dataclass(frozen=True)
class StudentTDistances:
    """``log δ`` (n, K), ``log|Σ_k|^{-1/2}`` ((K,) or per row (n, K)) and the observed dimension
    (one for all rows, or (n,)) of a block of rows."""

    log_delta: np.ndarray
    log_det: np.ndarray
    dims: np.ndarray | int

    def log_density(self, component: int, dof: float) -> np.ndarray:
        """``log t_ν(x_i | μ_k, Σ_k)`` (n,) of component ``k`` with ``ν = dof``."""
        return log_t_density(self.log_delta[:, component], self.log_det[..., component], dof, self.dims)
