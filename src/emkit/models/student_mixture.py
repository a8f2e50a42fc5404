"""Mixture of K multivariate Student-t distributions, with unknown degrees of freedom.

``p(x) = Σ_k π_k t_{ν_k}(x | μ_k, Σ_k)``. A face over :class:`~emkit.latent.MixtureModel` with the
:class:`~emkit.families.StudentT` family (the t as a Gaussian scale mixture, the missing data the
labels z and the weights u; Peel & McLachlan 2000): responsibilities, weights, the
empty-component policy, the canonical order (by location), the complete-data information,
resampling and simulation are the mixture's, the E-step statistics and the M-step of
``μ``, ``Σ`` and ``ν`` the family's. This face names the parameters ``weights``, ``locations``,
``scatters`` and ``dofs``, starts from responsibilities (``init_method``) and gives the
conditional maximizations of :func:`emkit.fit_ecm`:

* CM-1: ``π_k = n_k/N``, ``μ_k``, ``Σ_k`` given ν (the mixture's M-step with ν held);
* CM-2 (ECM, on Q): the family's ν-step, ``ν_k`` solving
  ``log(ν/2) − ψ(ν/2) + 1 + Σ τ(E log u − E u)/n_k = 0``;
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
from ..exceptions import DegenerateComponentWarning
from ..families.student_t import StudentT
from ..kernels.gaussian import (
    check_covariance_type,
    covariance_shape,
    gaussian_m_step,
    m_step_statistics,
    precisions_cholesky,
    responsibility_statistics,
)
from ..kernels.student_t import DOF_BOUNDS, DOF_START, maximize_dof  # DOF_*: also imported from here by the faces
from ..latent.mixture import MixtureData, MixtureModel
from ..numerics import safe_log
from .gaussian_mixture import INIT_METHODS, check_magnitude, initial_responsibilities, prepare_data

class StudentMixtureData(MixtureData):
    """The mixture's prepared rows, with their total weight (as the estimator faces read it)."""

    @property
    def total_weight(self) -> float:
        """``Σ w_i`` (the number of rows without weights)."""
        return float(self.X.shape[0] if self.sample_weight is None else self.sample_weight.sum())


# ---------------------------------------------------------------------------- the model
class StudentMixtureModel(EMModel):
    """K-component mixture of multivariate t distributions for rows of ``X``.

    Parameters
    ----------
    n_components : int
        Number of components ``K ≥ 1``.
    covariance_type : str
        Structure of the scatter matrices Σ_k: scikit-learn's four (shapes as in its covariances)
        or an mclust model (e.g. "VEV"; :data:`~emkit.kernels.covariance_types.KNOWN_COVARIANCE_TYPES`).
    dof : float, optional
        Fixed degrees of freedom for every component; estimated (one ν_k per component) if None.
    reg_covar : float
        Added to the diagonal of every scatter matrix (the remedy for a collapsing component).
    init_method : {"kmeans", "k-means++", "random", "random_from_data"}
        Starting responsibilities (the deterministic default uses a fixed seed); ν starts at
        :data:`DOF_START`.
    center : array of shape (d,), optional
        Fixed origin of the statistics; by default each data set's weighted mean (kept with the
        prepared data; a stream's later batches are prepared about its first batch's,
        :meth:`prepare_chunk`).

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
        if self.center is not None:
            self._mixture_for(self.center.size)   # raises ValueError naming a centre that is not finite

    def _mixture_for(self, n_features: int) -> MixtureModel:
        """``MixtureModel(StudentT(n_features, ...), K, order_by="means")`` for rows of
        ``n_features`` columns (made on each call, about 20 µs: the model keeps nothing of the
        data it sees, so one model serves data of any width); ValueError naming ``X`` for a
        width other than :attr:`center`'s."""
        if self.center is not None and self.center.size != n_features:
            raise ValueError(f"X: expected {self.center.size} features (the size of center), got {n_features}")
        family = StudentT(n_features, self.covariance_type, dof=self.dof, reg_covar=self.reg_covar, centre=self.center)
        return MixtureModel(family, self.n_components, order_by="means")

    def _of(self, params: Params) -> MixtureModel:
        """The mixture for parameters (its width from their locations)."""
        return self._mixture_for(np.shape(params["locations"])[1])

    # ------------------------------------------------------------------------ data, starts
    def prepare(self, data: Any) -> StudentMixtureData:
        """Validate ``X`` or ``(X, sample_weight)`` (no NaN); the centre of the statistics is
        :attr:`center` or the data's weighted mean, kept with the prepared data (its
        ``context``). Prepared data pass through."""
        return self.prepare_chunk(data)

    def prepare_chunk(self, chunk: Any, context: np.ndarray | None = None) -> StudentMixtureData:
        """As :meth:`prepare`, with the centre ``context`` (e.g. a stream's first batch's, so that
        the statistics of all batches are about one centre and add up; None: the data's own)."""
        if isinstance(chunk, MixtureData):
            return chunk
        prepared = prepare_data(*chunk) if isinstance(chunk, tuple) and len(chunk) == 2 else prepare_data(chunk)
        if prepared.has_missing:
            raise ValueError("X: contains NaN; the Student-t mixture needs complete rows (drop or impute them)")
        check_magnitude(prepared.summary["largest"])
        weights = prepared.sample_weight
        n_rows = prepared.X.shape[0] if weights is None else int(np.count_nonzero(weights))
        if n_rows < self.n_components:
            raise ValueError(f"n_components: {self.n_components} components need at least as many samples (with "
                             f"positive weight), got {n_rows}")
        family = self._mixture_for(prepared.X.shape[1]).family
        X = family.prepare(prepared.X)
        if context is None:
            context = self.center if self.center is not None else np.average(X, axis=0, weights=weights)
        return StudentMixtureData.build(family, X, weights, context)

    def initial_params(self, data: MixtureData, rng: np.random.Generator | None = None) -> Params:
        """Gaussian M-step from starting responsibilities (``init_method``; seed 0 when ``rng`` is
        None) and ν = :data:`DOF_START` (or the fixed ν); a random start draws ν from (2, 30)."""
        generator = np.random.default_rng(0) if rng is None else rng
        resp = initial_responsibilities(data.X, self.n_components, self.init_method, generator, data.sample_weight)
        if data.sample_weight is not None:
            resp = resp * data.sample_weight[:, None]
        centre = np.average(data.X, axis=0, weights=data.sample_weight)
        stats, anchors = responsibility_statistics(data.X, resp, centre, self.covariance_type)
        n = stats["n"]
        exact, shift = m_step_statistics(stats, anchors, centre, self.covariance_type)
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

    # ------------------------------------------------------------------------ E-step, M-step
    def e_step(self, data: MixtureData, params: Params) -> tuple[Stats, float]:
        """The mixture's statistics (``counts``; the family's ``n``, ``sum_u``, ``sum_ux``,
        ``sum_uxx`` about the centre, ``sum_log_u_minus_u``) and ``ℓ = Σ_i w_i log p(x_i)``."""
        return self._of(params).e_step(data, _family_params(params))

    def m_step(self, stats: Stats, params: Params) -> Params:
        """The exact M-step, the mixture's: CM-1 and ECM's ν-step at once (Q separates)."""
        return _face_params(self._of(params).m_step(stats, _family_params(params)))

    def conditional_steps(self, variant: str) -> tuple[Callable[[Any, Stats, Params], Params], ...]:
        """CM-steps for :func:`emkit.fit_ecm`: CM-1, then ν on Q (``"ecm"``) or on ℓ (``"ecme"``)."""
        if variant not in ("ecm", "ecme"):
            raise ValueError(f"variant: expected 'ecm' or 'ecme', got {variant!r}")
        if self.dof is not None:
            return (self.cm_weights_locations_scatters,)
        dof_step = self.cm_dofs_expected if variant == "ecm" else self.cm_dofs_likelihood
        return self.cm_weights_locations_scatters, dof_step

    def cm_weights_locations_scatters(self, data: Any, stats: Stats, params: Params) -> Params:
        """CM-1 (given ν): the mixture's M-step of the weights, locations and scatters; an empty
        component keeps its values (the mixture's policy and warning)."""
        held = self._of(params).fixing({"dofs"})
        return _face_params(held.m_step(stats, _family_params(params)))

    def cm_dofs_expected(self, data: Any, stats: Stats, params: Params) -> Params:
        """ECM's ν-step on Q: the family's (:meth:`~emkit.families.StudentT.m_step` of ``dofs``
        alone); an empty component keeps its ν."""
        if self.dof is not None:
            return params
        mixture = self._of(params)
        empty = mixture._empty(np.asarray(stats["counts"], dtype=float))
        dofs = mixture.family.m_step(stats, _family_params(params), frozenset({"dofs"}), empty)["dofs"]
        return {**params, "dofs": dofs}

    def cm_dofs_likelihood(self, data: MixtureData, stats: Stats, params: Params) -> Params:
        """ECME's ν-steps on ℓ: for k = 1..K in turn, ``ν_k = argmax ℓ`` given all other values
        (:func:`~emkit.kernels.student_t.maximize_dof` over the family's densities)."""
        if self.dof is not None:
            return params
        family = self._of(params).family
        distances = family.distances(family.block_data(data.X), family.precompute(_family_params(params)))
        log_density = distances.log_density
        log_weights = safe_log(np.asarray(params["weights"], dtype=float))
        sample_weight = data.sample_weight
        dofs = np.array(params["dofs"], dtype=float)
        columns = [log_density(k, dofs[k]) + log_weights[k] for k in range(self.n_components)]
        for k in range(self.n_components):
            others = columns[:k] + columns[k + 1:]
            rest = np.logaddexp.reduce(np.stack(others, axis=1), axis=1) if others else np.full(data.X.shape[0],
                                                                                                  -np.inf)

            def objective(dof: float, k: int = k, rest: np.ndarray = rest) -> float:
                values = np.logaddexp(rest, log_density(k, dof) + log_weights[k])
                return float(values.sum() if sample_weight is None else sample_weight @ values)

            dofs[k] = maximize_dof(objective, float(dofs[k]))
            columns[k] = log_density(k, dofs[k]) + log_weights[k]
        return {**params, "dofs": dofs}

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """What ``reg_covar`` gave up in CM-1 (the mixture's, from the family); the ν-steps
        after it only raise the objective. None when ``reg_covar`` is 0."""
        return self._of(params).regularization(stats, _family_params(params))

    # ------------------------------------------------------------------------ beyond the contract
    def responsibilities(self, data: Any, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """``(log τ_ik, log p(x_i))`` for every row (the mixture's responsibilities); rows are
        only checked as rows (query points far beyond the fitted data have finite densities)."""
        mixture = self._of(params)
        if not isinstance(data, MixtureData):
            rows = prepare_data(*data) if isinstance(data, tuple) and len(data) == 2 else prepare_data(data)
            data = MixtureData.build(mixture.family, rows.X, rows.sample_weight)
        resp, log_marginal = mixture.responsibilities(data, _family_params(params))
        with np.errstate(divide="ignore"):
            return np.log(resp), log_marginal

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
        d = self.center.size if self.center is not None else (locations.shape[1] if locations.ndim == 2 else -1)
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
        return self._of(params).is_feasible(_family_params(params))

    def canonical(self, params: Params) -> Params:
        """Components sorted by their locations (lexicographically: the mixture's ``order_by``);
        a tied scatter, shared by every component, is left as it is."""
        return _face_params(self._of(params).canonical(_family_params(params)))

    def describe(self) -> str:
        """E.g. "Student-t mixture (full, k=3)"."""
        return f"Student-t mixture ({self.covariance_type}, k={self.n_components})"

    def named_params(self, params: Params) -> dict[str, Any]:
        return {name: np.asarray(params[name], dtype=float).tolist()
                for name in ("weights", "locations", "scatters", "dofs")}

    # ------------------------------------------------------------ inference hooks (the mixture's)
    def to_free(self, params: Params) -> np.ndarray:
        """``(π_1, ..., π_{k−1})``, the locations and the free scatter entries, and ``ν`` when
        estimated (the mixture's free parameters)."""
        return self._of(params).to_free(_family_params(params))

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        return _face_params(self._of(like).from_free(free, _family_params(like)))

    def free_labels(self, params: Params) -> tuple[str, ...]:
        """``weights[j]``, ``locations[k,i]``, ``scatters[k,...]`` and ``dofs[k]``."""
        labels = self._of(params).free_labels(_family_params(params))
        return tuple(label.replace("means[", "locations[", 1).replace("covars[", "scatters[", 1) for label in labels)

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """The mixture's: the weights' and the family's complete-data information of ``(z, u, x)``."""
        return self._of(params).complete_information(stats, _family_params(params))

    def score_covariance(self, data: Any, params: Params) -> np.ndarray:
        """The mixture's Louis covariance (exact: the t family's scores and their spread over the
        latent scales ``u``; complete rows only)."""
        return self._of(params).score_covariance(data, _family_params(params))

    def resample(self, data: Any, rng: np.random.Generator) -> MixtureData:
        """The rows (with their weights) drawn with replacement (the mixture's)."""
        data = self.prepare(data)
        return self._mixture_for(data.X.shape[1]).resample(data, rng)

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator):
        """As many rows drawn from the mixture as ``like_data`` holds, with its weights (the
        mixture's: a component by its weight, then ``x = μ + L z / √u``)."""
        return self._of(params).simulate(_family_params(params), self.prepare(like_data), rng)

    def n_free_parameters(self, n_features: int | None = None) -> int:
        """``(k−1) + k·d + scatter entries + k`` (the last only when ν is estimated) for
        ``d = n_features`` (default: the size of :attr:`center`; the model is tied to no data
        width otherwise)."""
        if n_features is None:
            if self.center is None:
                raise ValueError("n_features: needed to count the free parameters of a model without center")
            n_features = self.center.size
        return self._mixture_for(int(n_features)).n_free_parameters()


def _family_params(params: Params) -> Params:
    """The face's ``locations``, ``scatters`` as the family's ``means``, ``covars`` (``weights``
    and ``dofs`` keep their names)."""
    out = {"weights": params["weights"], "means": params["locations"], "covars": params["scatters"]}
    return {**out, "dofs": params["dofs"]} if "dofs" in params else out


def _face_params(params: Params) -> Params:
    """Inverse of :func:`_family_params`."""
    out = {"weights": params["weights"], "locations": params["means"], "scatters": params["covars"]}
    return {**out, "dofs": params["dofs"]} if "dofs" in params else out
