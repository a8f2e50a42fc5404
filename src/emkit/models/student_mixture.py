"""Mixture of K multivariate Student-t distributions, with unknown degrees of freedom.

``p(x) = Σ_k π_k t_{ν_k}(x | μ_k, Σ_k)`` with ``log t_ν(x | μ, Σ) = log Γ((ν+d)/2) − log Γ(ν/2)
− (d/2) log(νπ) − ½ log|Σ| − ((ν+d)/2) log(1 + δ/ν)`` and ``δ = (x−μ)ᵀΣ⁻¹(x−μ)``. The t is a
Gaussian scale mixture, ``x | z = k, u ~ N(μ_k, Σ_k/u)``, ``u ~ Gamma(ν_k/2, rate ν_k/2)``, so the
missing data are the labels z and the weights u (Peel & McLachlan 2000). E-step:
responsibilities ``τ_ik``, ``E[u_ik] = (ν_k+d)/(ν_k+δ_ik)`` and ``E[log u_ik] = ψ((ν_k+d)/2) −
log((ν_k+δ_ik)/2)``; additive statistics ``n_k = Σ τ``, the u-weighted Gaussian statistics
``Σ τu``, ``Σ τu(x−c)``, ``Σ τu(x−c)(x−c)ᵀ`` about a fixed centre c, and ``Σ τ(E log u − E u)``.

Conditional maximizations (:func:`emkit.fit_ecm`):

* CM-1: ``π_k = n_k/N``, ``μ_k`` the u-weighted mean, ``Σ_k = Σ τu(x−μ_k)(x−μ_k)ᵀ / n_k`` (+
  ``reg_covar``) given ν — the u-weighted Gaussian M-step of :mod:`emkit.kernels.gaussian`,
  rescaled from ``Σ τu`` to ``n_k``, for every covariance type;
* CM-2 (ECM, on Q): ``ν_k`` solves ``log(ν/2) − ψ(ν/2) + 1 + Σ τ(E log u − E u)/n_k = 0``;
* CM-2 (ECME, on ℓ): each ``ν_k`` in turn maximizes the observed mixture log-likelihood given
  everything else (a bounded 1-D search, never worse than the current value).

Q separates into the (π, μ, Σ) and ν parts, so ECM's cycle is also the exact EM M-step
(:meth:`StudentMixtureModel.m_step`); ECME is the fast variant (Liu & Rubin 1994).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from ..engine.model import EMModel, Params, Regularization, Stats
from ..engine.stats import add_stats
from ..exceptions import DegenerateComponentWarning
from ..kernels.gaussian import (
    anchored_stats,
    anchored_zeros,
    check_covariance_type,
    covariance_shape,
    gaussian_m_step,
    gaussian_stats,
    m_step_statistics,
    precisions_cholesky,
)
from ..kernels.student_t import (  # noqa: F401 (DOF_BOUNDS, DOF_START: imported from here by the faces)
    DOF_BOUNDS,
    DOF_START,
    dof_from_expected,
    latent_weight_moments,
    log_t_density,
    maximize_dof,
    t_distances,
    t_locations_scatters,
)
from ..kernels.gaussian_mixture_estep import far_components, mixture_terms
from ..numerics import log_normalize, safe_log
from .categorical import free_probabilities, full_probabilities
from .gaussian_information import (
    component_draws,
    gaussian_free,
    gaussian_free_labels,
    gaussian_from_free,
    n_free_covariances,
)
from .regularization import covariance_floor
from .gaussian_mixture import (
    check_magnitude,
    EMPTY_COMPONENT_TOL,
    GaussianMixtureData,
    INIT_METHODS,
    initial_responsibilities,
    prepare_data,
    resample_rows,
)


# ---------------------------------------------------------------------------- the model
class StudentMixtureModel(EMModel):
    """K-component mixture of multivariate t distributions for rows of ``X``.

    Parameters
    ----------
    n_components : int
        Number of components ``K ≥ 1``.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Structure of the scatter matrices Σ_k (shapes as in scikit-learn's covariances).
    dof : float, optional
        Fixed degrees of freedom for every component; estimated (one ν_k per component) if None.
    reg_covar : float
        Added to the diagonal of every scatter matrix (the remedy for a collapsing component).
    init_method : {"kmeans", "k-means++", "random", "random_from_data"}
        Starting responsibilities (the deterministic default uses a fixed seed); ν starts at
        :data:`DOF_START`.
    center : array of shape (d,), optional
        Fixed origin of the statistics; by default the (weighted) mean of the first data
        :meth:`prepare` sees, kept afterwards so statistics of any batches add up.

    Data are an array ``X`` (no missing values) or a pair ``(X, sample_weight)``. Parameters:
    ``weights`` (k,), ``locations`` (k, d), ``scatters`` (shape by type), ``dofs`` (k,).
    """

    def __init__(self, n_components: int = 1, covariance_type: str = "full", *, dof: float | None = None,
                 reg_covar: float = 1e-6, init_method: str = "kmeans", center=None) -> None:
        if not (isinstance(n_components, (int, np.integer)) and not isinstance(n_components, bool)
                and n_components >= 1):
            raise ValueError(f"n_components: must be a positive integer, got {n_components!r}")
        if not (np.isscalar(reg_covar) and np.isfinite(reg_covar) and reg_covar >= 0):
            raise ValueError(f"reg_covar: must be a non-negative number, got {reg_covar!r}")
        if dof is not None and not (np.isscalar(dof) and DOF_BOUNDS[0] <= dof <= DOF_BOUNDS[1]):
            raise ValueError(f"dof: must be None (estimated) or a number in {list(DOF_BOUNDS)}, got {dof!r}")
        if init_method not in INIT_METHODS:
            raise ValueError(f"init_method: expected one of {INIT_METHODS}, got {init_method!r}")
        self.n_components = int(n_components)
        self.covariance_type = check_covariance_type(covariance_type)
        self.dof = None if dof is None else float(dof)
        self.reg_covar = float(reg_covar)
        self.init_method = init_method
        self.center = None if center is None else np.array(center, dtype=float)
        self.param_names = ("weights", "locations", "scatters") + (("dofs",) if dof is None else ())

    @property
    def n_features(self) -> int | None:
        """Number of features, known once a center is set."""
        return None if self.center is None else int(self.center.size)

    # ------------------------------------------------------------------------ data, starts
    def prepare(self, data: Any) -> GaussianMixtureData:
        """Validate ``X`` or ``(X, sample_weight)`` (no NaN); set :attr:`center` on first use."""
        prepared = prepare_data(*data) if isinstance(data, tuple) and len(data) == 2 else prepare_data(data)
        if prepared.has_missing:
            raise ValueError("X: contains NaN; the Student-t mixture needs complete rows (drop or impute them)")
        check_magnitude(prepared.summary["largest"])
        weights = prepared.sample_weight
        n_rows = prepared.X.shape[0] if weights is None else int(np.count_nonzero(weights))
        if n_rows < self.n_components:
            raise ValueError(f"n_components: {self.n_components} components need at least as many samples (with "
                             f"positive weight), got {n_rows}")
        if self.center is None:
            self.center = np.average(prepared.X, axis=0, weights=weights)
        elif self.center.shape != (prepared.X.shape[1],):
            raise ValueError(f"X: expected {self.center.size} features, got {prepared.X.shape[1]}")
        return prepared

    def initial_params(self, data: GaussianMixtureData, rng: np.random.Generator | None = None) -> Params:
        """Gaussian M-step from starting responsibilities (``init_method``; seed 0 when ``rng`` is
        None) and ν = :data:`DOF_START` (or the fixed ν); a random start draws ν from (2, 30)."""
        generator = np.random.default_rng(0) if rng is None else rng
        resp = initial_responsibilities(data.X, self.n_components, self.init_method, generator, data.sample_weight)
        if data.sample_weight is not None:
            resp = resp * data.sample_weight[:, None]
        stats = gaussian_stats(data.X, resp, self.covariance_type, shift=self.center)
        n = stats["n"]
        # two passes: the scatter about each component's mean (exact for narrow components far from the centre)
        anchors = self.center + np.divide(stats["sum_x"], n[:, None], out=np.zeros_like(stats["sum_x"]),
                                          where=n[:, None] > 0)
        exact, shift = m_step_statistics({**stats, **anchored_stats(data.X, resp, anchors, None, self.covariance_type)},
                                         anchors, self.center, self.covariance_type)
        locations, scatters = gaussian_m_step(exact, self.covariance_type, self.reg_covar, shift=shift)
        if np.any(n <= 0):
            warnings.warn(f"component(s) {np.flatnonzero(n <= 0).tolist()} start with no data and weight 0; "
                          "fit fewer components", DegenerateComponentWarning, stacklevel=3)
        k = self.n_components
        if self.dof is not None:
            dofs = np.full(k, self.dof)
        else:
            dofs = np.full(k, DOF_START) if rng is None else rng.uniform(2.0, 30.0, size=k)
        return {"weights": n / n.sum(), "locations": locations, "scatters": scatters, "dofs": dofs}

    # ------------------------------------------------------------------------ E-step
    def _distances(self, X: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """Logs of the squared Mahalanobis distances ``log δ`` (n, k) and ``log|Σ_k|^{-1/2}`` (k,).

        ``δ = 2(log|P| − log N(x | μ, Σ)) − d log 2π`` from the shared Gaussian kernel; rows
        where that overflows (beyond the float range) by the overflow-safe
        :func:`~emkit.kernels.gaussian_direct.log_distances`."""
        return t_distances(X, params["locations"], params["scatters"], self.covariance_type)

    def log_joint(self, X: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """``log π_k + log t_{ν_k}(x_i | μ_k, Σ_k)`` (n, k) and the distances ``δ`` (n, k)."""
        log_delta, log_det = self._distances(X, params)
        log_joint = log_t_density(log_delta, log_det, params["dofs"], X.shape[1]) + safe_log(params["weights"])
        with np.errstate(over="ignore"):
            return log_joint, np.exp(log_delta)

    def e_step(self, data: GaussianMixtureData, params: Params) -> tuple[Stats, float]:
        """Statistics ``n``, ``sum_u``, ``sum_ux``, ``sum_uxx`` (about :attr:`center`),
        ``sum_log_u_minus_u``; ``ℓ = Σ_i w_i log Σ_k π_k t_{ν_k}(x_i)``, by row blocks."""
        total: Stats | None = None
        loglik = 0.0
        d = data.X.shape[1]
        far = far_components(mixture_terms(params["weights"], params["locations"], params["scatters"],
                                           self.covariance_type, self.center)).any()
        for rows, _ in data.blocks:
            X = data.X[rows]
            log_joint, delta = self.log_joint(X, params)
            log_resp, log_marginal = log_normalize(log_joint)
            resp = np.exp(log_resp)
            if data.sample_weight is not None:
                resp *= data.sample_weight[rows, None]
                loglik += float(data.sample_weight[rows] @ log_marginal)
            else:
                loglik += float(log_marginal.sum())
            u, log_u = latent_weight_moments(delta, params["dofs"], d)
            weighted = gaussian_stats(X, resp * u, self.covariance_type, shift=self.center)
            anchored = (anchored_stats(X, resp * u, params["locations"], params["scatters"], self.covariance_type)
                        if far else anchored_zeros(self.covariance_type, self.n_components, d))
            stats = {"n": resp.sum(axis=0), "sum_u": weighted["n"], "sum_ux": weighted["sum_x"],
                     "sum_uxx": weighted["sum_xx"], "sum_log_u_minus_u": np.sum(resp * (log_u - u), axis=0),
                     **anchored}
            total = stats if total is None else add_stats(total, stats)
        assert total is not None
        return total, loglik

    # ------------------------------------------------------------------------ CM-steps
    def m_step(self, stats: Stats, params: Params) -> Params:
        """The exact M-step: CM-1 then ECM's ν-step (Q separates, so this is EM)."""
        return self.cm_dofs_expected(None, stats, self.cm_weights_locations_scatters(None, stats, params))

    def conditional_steps(self, variant: str) -> tuple[Callable[[Any, Stats, Params], Params], ...]:
        """CM-steps for :func:`emkit.fit_ecm`: CM-1, then ν on Q (``"ecm"``) or on ℓ (``"ecme"``)."""
        if variant not in ("ecm", "ecme"):
            raise ValueError(f"variant: expected 'ecm' or 'ecme', got {variant!r}")
        if self.dof is not None:
            return (self.cm_weights_locations_scatters,)
        dof_step = self.cm_dofs_expected if variant == "ecm" else self.cm_dofs_likelihood
        return self.cm_weights_locations_scatters, dof_step

    def cm_weights_locations_scatters(self, data: Any, stats: Stats, params: Params) -> Params:
        """CM-1 (given ν): ``π_k = n_k/N``; ``μ_k``, ``Σ_k`` by the u-weighted Gaussian M-step with
        the scatter divided by ``n_k`` instead of ``Σ τu``. An empty component keeps its values."""
        n = np.asarray(stats["n"], dtype=float)
        locations, scatters, empty = self._exact_locations_scatters(stats, params)
        d = locations.shape[1]
        if self.covariance_type in ("full", "tied"):
            scatters[..., np.arange(d), np.arange(d)] += self.reg_covar
        else:
            scatters = scatters + self.reg_covar
        if np.any(empty):
            warnings.warn(f"Student-t component(s) {np.flatnonzero(empty).tolist()} received no weight; they keep "
                          "their location and scatter with weight 0 (fit fewer components or start elsewhere)",
                          DegenerateComponentWarning, stacklevel=4)
            locations[empty] = params["locations"][empty]
            if self.covariance_type != "tied":
                scatters[empty] = params["scatters"][empty]
        return {**params, "weights": n / n.sum(), "locations": locations, "scatters": scatters}

    def _exact_locations_scatters(self, stats: Stats, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CM-1's locations and scatters before ``reg_covar``, and which components are empty:
        the u-weighted Gaussian M-step, its scatter ``Σ τu (x − μ)(x − μ)ᵀ`` divided by ``n_k``
        (tied: by ``N``), the maximizer of Q's scatter part (from the statistics about each
        component's location when the E-step summed them so: :func:`~emkit.kernels.gaussian.
        m_step_statistics`)."""
        n = np.asarray(stats["n"], dtype=float)
        empty = n <= EMPTY_COMPONENT_TOL * n.sum()
        locations, scatters = t_locations_scatters(stats, params["locations"], self.center, self.covariance_type, empty)
        return locations, scatters, empty

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """What ``reg_covar`` gave up in CM-1 (:func:`~emkit.models.regularization.covariance_floor`
        with Q's scatter part ``−(n_k/2)(log|Σ| + tr(Σ⁻¹ C_k))``); the ν-steps after it only raise
        the objective. None when ``reg_covar`` is 0."""
        if self.reg_covar == 0:
            return None
        n = np.asarray(stats["n"], dtype=float)
        locations, scatters, empty = self._exact_locations_scatters(stats, params)
        return covariance_floor(scatters, np.where(empty, 0.0, n), self.reg_covar, self.covariance_type,
                                locations.shape[1], what="Student-t component",
                                remedy="increase reg_covar to keep components off single points, decrease it to "
                                       "move the fit closer to maximum likelihood, or fit fewer components")

    def cm_dofs_expected(self, data: Any, stats: Stats, params: Params) -> Params:
        """ECM's ν-step on Q: each ν_k from :func:`dof_from_expected` (fixed ν kept)."""
        if self.dof is not None:
            return params
        n = np.asarray(stats["n"], dtype=float)
        occupied = n > EMPTY_COMPONENT_TOL * n.sum()
        mean = np.asarray(stats["sum_log_u_minus_u"], dtype=float) / np.where(occupied, n, 1.0)
        dofs = np.where(occupied, dof_from_expected(mean), params["dofs"])
        return {**params, "dofs": dofs}

    def cm_dofs_likelihood(self, data: GaussianMixtureData, stats: Stats, params: Params) -> Params:
        """ECME's ν-steps on ℓ: for k = 1..K in turn, ``ν_k = argmax ℓ`` given all other values."""
        if self.dof is not None:
            return params
        d = data.X.shape[1]
        log_delta, log_det = self._distances(data.X, params)
        log_weights = safe_log(params["weights"])
        sample_weight = data.sample_weight
        dofs = np.array(params["dofs"], dtype=float)
        for k in range(self.n_components):
            log_components = log_t_density(log_delta, log_det, dofs, d) + log_weights
            others = np.delete(log_components, k, axis=1)
            rest = np.logaddexp.reduce(others, axis=1) if others.shape[1] else np.full(log_delta.shape[0], -np.inf)

            def objective(dof: float, k: int = k, rest: np.ndarray = rest) -> float:
                own = log_t_density(log_delta[:, k], log_det[k], dof, d) + log_weights[k]
                values = np.logaddexp(rest, own)
                return float(values.sum() if sample_weight is None else sample_weight @ values)

            dofs[k] = maximize_dof(objective, float(dofs[k]))
        return {**params, "dofs": dofs}

    # ------------------------------------------------------------------------ beyond the contract
    def responsibilities(self, data: GaussianMixtureData, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """``(log τ_ik, log p(x_i))`` for every row."""
        parts = [log_normalize(self.log_joint(data.X[rows], params)[0]) for rows, _ in data.blocks]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    # ------------------------------------------------------------------------ parameter space
    def check_params(self, params: Params, where: str = "init") -> Params:
        """Validate a user start, or parameters read from ``where`` (shapes, simplex weights,
        positive-definite scatters, ν in :data:`DOF_BOUNDS`); a fixed ν replaces any given one.
        ValueError names the entry."""
        given = dict(params)
        if self.dof is not None:
            given["dofs"] = np.full(self.n_components, self.dof)
        missing = [name for name in ("weights", "locations", "scatters", "dofs") if name not in given]
        if missing:
            raise ValueError(f"{where}: missing parameter(s) {missing}; expected {list(self.param_names)}")
        k = self.n_components
        locations = np.asarray(given["locations"], dtype=float)
        d = self.n_features or (locations.shape[1] if locations.ndim == 2 else -1)
        expected = {"weights": (k,), "locations": (k, d), "scatters": covariance_shape(self.covariance_type, k, d),
                    "dofs": (k,)}
        out = {}
        for name, shape in expected.items():
            array = np.array(given[name], dtype=float)
            if array.shape != shape or not np.all(np.isfinite(array)):
                raise ValueError(f"{where}['{name}']: expected finite values of shape {shape}, got shape "
                                 f"{array.shape}")
            out[name] = array
        if np.any(out["weights"] < 0) or abs(out["weights"].sum() - 1.0) > 1e-8:
            raise ValueError(f"{where}['weights']: expected non-negative weights summing to 1, "
                             f"got {out['weights'].tolist()}")
        if np.any(out["dofs"] < DOF_BOUNDS[0]) or np.any(out["dofs"] > DOF_BOUNDS[1]):
            raise ValueError(f"{where}['dofs']: degrees of freedom must lie in {list(DOF_BOUNDS)}, "
                             f"got {out['dofs'].tolist()}")
        try:
            precisions_cholesky(out["scatters"], self.covariance_type)
        except ValueError as error:
            raise ValueError(f"{where}['scatters']: {error}") from None
        return out

    def is_feasible(self, params: Params) -> bool:
        if not all(np.all(np.isfinite(params[name])) for name in ("weights", "locations", "scatters", "dofs")):
            return False
        weights, dofs = params["weights"], params["dofs"]
        if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-9:
            return False
        if np.any(dofs < DOF_BOUNDS[0]) or np.any(dofs > DOF_BOUNDS[1]):
            return False
        try:
            precisions_cholesky(params["scatters"], self.covariance_type)
        except ValueError:
            return False
        return True

    def canonical(self, params: Params) -> Params:
        """Components sorted by their locations (lexicographically)."""
        order = np.lexsort(params["locations"].T[::-1])
        out = {**params, "weights": params["weights"][order], "locations": params["locations"][order],
               "dofs": params["dofs"][order]}
        if self.covariance_type != "tied":
            out["scatters"] = params["scatters"][order]
        return out

    def describe(self) -> str:
        """E.g. "Student-t mixture (full, k=3)"."""
        return f"Student-t mixture ({self.covariance_type}, k={self.n_components})"

    def named_params(self, params: Params) -> dict[str, Any]:
        return {name: np.asarray(params[name], dtype=float).tolist()
                for name in ("weights", "locations", "scatters", "dofs")}

    # ------------------------------------------------------------ inference hooks
    def to_free(self, params: Params) -> np.ndarray:
        """``(π_1, ..., π_{k−1})``, the locations and the free scatter entries
        (:func:`~emkit.models.gaussian_information.gaussian_free`), and ``ν`` when estimated."""
        parts = [free_probabilities(params["weights"]),
                 gaussian_free(params["locations"], params["scatters"], self.covariance_type)]
        return np.concatenate(parts + ([np.asarray(params["dofs"], dtype=float)] if "dofs" in self.param_names else []))

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        k, d = self.n_components, np.shape(like["locations"])[1]
        free = np.asarray(free, dtype=float)
        end = k - 1 + gaussian_free(like["locations"], like["scatters"], self.covariance_type).size
        locations, scatters = gaussian_from_free(free[k - 1:end], self.covariance_type, k, d)
        out = {**like, "weights": full_probabilities(free[:k - 1]), "locations": locations, "scatters": scatters}
        if "dofs" in self.param_names:
            out["dofs"] = free[end:].copy()
        return out

    def free_labels(self, params: Params) -> tuple[str, ...]:
        k, d = self.n_components, np.shape(params["locations"])[1]
        dofs = [f"dofs[{j}]" for j in range(k)] if "dofs" in self.param_names else []
        return tuple([f"weights[{j}]" for j in range(k - 1)]
                     + gaussian_free_labels("locations", "scatters", self.covariance_type, k, d) + dofs)

    def resample(self, data: Any, rng: np.random.Generator):
        """The rows drawn with replacement (:func:`~emkit.models.gaussian_mixture.resample_rows`)."""
        return resample_rows(self.prepare(data), rng)

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator):
        """As many rows drawn from the mixture (with ``like_data``'s weights): a component by
        its weight, then ``x = μ + L z / √u`` with ``Σ = L Lᵀ``, ``z`` standard normal and
        ``u ~ Gamma(ν/2, rate ν/2)``."""
        data = self.prepare(like_data)
        labels, noise = component_draws(params["weights"], params["scatters"], self.covariance_type,
                                        data.X.shape[1], data.X.shape[0], rng)
        dofs = np.asarray(params["dofs"], dtype=float)[labels]
        X = params["locations"][labels] + noise / np.sqrt(rng.gamma(0.5 * dofs, 2.0 / dofs))[:, None]
        return X if data.sample_weight is None else (X, data.sample_weight)

    def n_free_parameters(self) -> int:
        """``(k−1) + k·d + scatter entries + k`` (the last only when ν is estimated); needs the
        number of features (set by :meth:`prepare`)."""
        d = self.n_features
        if d is None:
            raise ValueError("n_free_parameters: the number of features is unknown until prepare() has seen data")
        k = self.n_components
        return (k - 1) + k * d + n_free_covariances(self.covariance_type, k, d) + (k if self.dof is None else 0)
