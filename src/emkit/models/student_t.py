"""The multivariate Student-t distribution with unknown degrees of freedom (Liu & Rubin 1994).

``log t_ν(x | μ, Σ) = log Γ((ν+d)/2) − log Γ(ν/2) − (d/2) log(νπ) − ½ log|Σ| − ((ν+d)/2)
log(1 + δ/ν)``, ``δ = (x−μ)ᵀΣ⁻¹(x−μ)``; the missing data are the Gamma weights u of the scale
mixture ``x | u ~ N(μ, Σ/u)``. It is the one-component case of
:class:`~emkit.models.student_mixture.StudentMixtureModel`, whose mathematics it reuses with
single-distribution parameters: CM-1 gives ``μ = Σ u x / Σ u`` and ``Σ = Σ u (x−μ)(x−μ)ᵀ / n``
in closed form given the weights; ν comes from a 1-D maximization, of Q (ECM, which here is EM)
or of the actual log-likelihood given the new μ and Σ (ECME, :func:`emkit.fit_ecm`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..engine.model import EMModel, Params, Regularization, Stats
from .gaussian_mixture import GaussianMixtureData
from .student_mixture import StudentMixtureModel


class StudentT(EMModel):
    """Multivariate Student-t ``t_ν(μ, Σ)`` for rows of ``X``.

    Parameters
    ----------
    dof : float, optional
        Fixed degrees of freedom; estimated if None.
    reg_covar : float
        Added to the diagonal of the scatter matrix Σ (0 gives the exact MLE).
    center : array of shape (d,), optional
        Fixed origin of the statistics (default: the mean of the first data prepared).

    Data are an array ``X`` (n, d) (a 1-D array is one feature) or ``(X, sample_weight)``.
    Parameters: ``location`` (d,), ``scatter`` (d, d), ``dof`` (scalar).
    """

    def __init__(self, dof: float | None = None, *, reg_covar: float = 0.0, center=None) -> None:
        self.mixture = StudentMixtureModel(1, "full", dof=dof, reg_covar=reg_covar, center=center)
        self.param_names = ("location", "scatter") + (("dof",) if dof is None else ())

    @property
    def dof(self) -> float | None:
        """The fixed degrees of freedom, or None when estimated."""
        return self.mixture.dof

    # ------------------------------------------------------------ single <-> one-component mixture
    @staticmethod
    def _expand(params: Params) -> Params:
        return {"weights": np.ones(1), "locations": np.asarray(params["location"], dtype=float)[None],
                "scatters": np.asarray(params["scatter"], dtype=float)[None],
                "dofs": np.atleast_1d(np.asarray(params["dof"], dtype=float))}

    @staticmethod
    def _squeeze(params: Params) -> Params:
        return {"location": params["locations"][0], "scatter": params["scatters"][0],
                "dof": np.array(params["dofs"][0])}

    def _lift(self, step: Callable[[Any, Stats, Params], Params]) -> Callable[[Any, Stats, Params], Params]:
        return lambda data, stats, params: self._squeeze(step(data, stats, self._expand(params)))

    # ------------------------------------------------------------ the contract
    def prepare(self, data: Any) -> GaussianMixtureData:
        """Validate ``X`` or ``(X, sample_weight)``; a 1-D ``X`` is one feature."""
        return self.prepare_chunk(data)

    def prepare_chunk(self, chunk: Any, context: np.ndarray | None = None) -> GaussianMixtureData:
        """As :meth:`prepare`, about the centre ``context`` (the mixture's
        :meth:`~emkit.models.student_mixture.StudentMixtureModel.prepare_chunk`)."""
        if isinstance(chunk, tuple) and len(chunk) == 2:
            return self.mixture.prepare_chunk((_as_rows(chunk[0]), chunk[1]), context)
        return self.mixture.prepare_chunk(_as_rows(chunk), context)

    def initial_params(self, data: GaussianMixtureData, rng: np.random.Generator | None = None) -> Params:
        """Sample mean and covariance, ν = 10 (a random start draws ν from (2, 30))."""
        return self._squeeze(self.mixture.initial_params(data, rng))

    def e_step(self, data: GaussianMixtureData, params: Params) -> tuple[Stats, float]:
        """``E[u_i]``, ``E[log u_i]`` and the u-weighted statistics; ``ℓ = Σ log t_ν(x_i | μ, Σ)``."""
        return self.mixture.e_step(data, self._expand(params))

    def m_step(self, stats: Stats, params: Params) -> Params:
        """μ, Σ in closed form, then ν maximizing Q (the exact EM M-step)."""
        return self._squeeze(self.mixture.m_step(stats, self._expand(params)))

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """The mixture's (what ``reg_covar`` gave up)."""
        return self.mixture.regularization(stats, self._expand(params))

    def conditional_steps(self, variant: str) -> tuple[Callable[[Any, Stats, Params], Params], ...]:
        """CM-steps for :func:`emkit.fit_ecm`: (μ, Σ) given ν, then ν on Q (``"ecm"``) or on ℓ (``"ecme"``)."""
        return tuple(self._lift(step) for step in self.mixture.conditional_steps(variant))

    def check_params(self, params: Params) -> Params:
        given = dict(params)
        if self.dof is not None:
            given["dof"] = self.dof
        missing = [name for name in ("location", "scatter", "dof") if name not in given]
        if missing:
            raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
        try:
            checked = self.mixture.check_params(self._expand(given))
        except ValueError as error:
            message = str(error)
            for plural, single in (("locations", "location"), ("scatters", "scatter"), ("dofs", "dof")):
                message = message.replace(f"['{plural}']", f"['{single}']")
            raise ValueError(message) from None
        return self._squeeze(checked)

    def is_feasible(self, params: Params) -> bool:
        return self.mixture.is_feasible(self._expand(params))

    def describe(self) -> str:
        """"Student-t" (with its fixed degrees of freedom, if any)."""
        return "Student-t" if self.dof is None else f"Student-t (dof {self.dof:g})"

    def named_params(self, params: Params) -> dict[str, Any]:
        return {"location": np.asarray(params["location"], dtype=float).tolist(),
                "scatter": np.asarray(params["scatter"], dtype=float).tolist(), "dof": float(params["dof"])}

    def n_free_parameters(self, n_features: int | None = None) -> int:
        """``d + d(d+1)/2`` (+1 when ν is estimated) for ``d = n_features`` (default: the size of
        ``center``)."""
        return self.mixture.n_free_parameters(n_features)

    # ------------------------------------------------------------ inference hooks (the mixture's, k = 1)
    def to_free(self, params: Params) -> np.ndarray:
        """``μ``, the lower triangle of ``Σ`` (``Σ_ab``, ``a ≥ b``: the symmetric scatter has
        ``d(d+1)/2`` free entries) and ``ν`` when estimated."""
        return self.mixture.to_free(self._expand(params))

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        return self._squeeze(self.mixture.from_free(free, self._expand(like)))

    def free_labels(self, params: Params) -> tuple[str, ...]:
        """``location[i]``, ``scatter[a,b]`` (``a ≥ b``) and ``dof``."""
        return tuple(_single_label(label) for label in self.mixture.free_labels(self._expand(params)))

    def resample(self, data: GaussianMixtureData, rng: np.random.Generator):
        """The rows drawn with replacement (with their weights)."""
        return self.mixture.resample(data, rng)

    def simulate(self, params: Params, like_data: GaussianMixtureData, rng: np.random.Generator):
        """As many rows drawn from ``t_ν(μ, Σ)`` (with ``like_data``'s weights)."""
        return self.mixture.simulate(self._expand(params), like_data, rng)


def _single_label(label: str) -> str:
    """A one-component mixture's free-parameter label for the single t: ``locations[0,i]`` →
    ``location[i]``, ``scatters[0,a,b]`` → ``scatter[a,b]``, ``dofs[0]`` → ``dof``."""
    return label.replace("locations[0,", "location[").replace("scatters[0,", "scatter[").replace("dofs[0]", "dof")


def _as_rows(X: Any) -> Any:
    array = np.asarray(X)
    return array[:, None] if array.ndim == 1 else X
