"""mclust's conjugate prior (``priorControl()`` / ``defaultPrior``; Fraley & Raftery 2007) as a
:class:`~emkit.kernels.covariance_regularization.CovariancePrior` built from the data.

mclust's prior on each component is ``μ_k | Σ_k ~ N(m, Σ_k/κ)`` *with* its normaliser and an
inverse-Wishart ``IW(Ψ, ν)`` on ``Σ_k`` (inverse-gamma ``IG(ν/2, ψ/2)`` on each variance of the
diagonal and spherical models), applied once to a covariance the components share (EII, E, EEI,
EEE) and to each component's ``Σ_k`` otherwise. Its defaults, from the data ``X`` (n × d) and
``G`` components: ``κ = 0.01``, ``m`` the column means, ``ν = d + 2``, and the scale
``Ψ = var(X)/G^(2/d)`` (the sample covariance, divisor ``n − 1``; its diagonal when ``n ≤ d``) for
the ellipsoidal models, ``ψ = tr var(X)/(d G^(2/d))`` for the spherical and diagonal ones
(univariate: ``var(x)/G²``).

Where a volume is shared but shapes or orientations are not (EVI, EEV, EVV), mclust's ``meevip`` and
``meeevp`` put the scale in every component and the common determinant once, ``−(c/2) log|Σ|`` with
``c = ν + 1`` (EVI) or ``ν + d + 1`` (EEV); emkit's MAP step is that one, exactly (EVV, which mclust
has no prior for, follows EEV). mclust's own EEI loop (``meeeip``) divides by ``n + ν + 2`` and
leaves the means unshrunk; emkit takes the exact mode, as mclust's ``mstep`` (``mseeip``):
``n + ν + 2 + G``, shrunk means.

The BIC with a prior is mclust's (Fraley & Raftery 2007): the log-likelihood at the MAP estimate
(mclust's ``loglik``, without the prior) and the usual number of parameters.

The mean prior's normaliser ``|Σ_k|^{−1/2}`` only raises the exponent of ``|Σ|`` (of ``σ²``),
so the prior is emkit's ``CovariancePrior(scale=Ψ, dof=ν + s, mean=m, mean_weight=κ)`` with the
shift ``s`` the number of such factors per covariance parameter: 1 for a covariance per
component (VVV, VVI) and for a volume per component (VEI, VEE, VEV, VVE: component ``k``'s factor
``|Σ_k|^{−1/2} = λ_k^{−d/2}`` falls on its own ``λ_k``, none on a shape or orientation), 1 for a
shared volume (EVI, EEV, EVV, EVE, whose determinant mclust counts once), ``G`` for a shared
covariance (EEE, EEI), ``d`` for a spherical variance per component (VII, V) and ``G d`` for a
shared one (EII, E). The iterative models (VEI, VEE, VEV, EVE, VVE) run their inner loop on the
posterior scatters (:mod:`emkit.kernels.covariance_iterative`); VEI's scale is the diagonal
models' ``ψ``, the others' the ellipsoidal ``Ψ``. The M-step is then each
structure's exact posterior mode, e.g. VVV's ``Σ_k = (Ψ + κ n_k/(κ + n_k)(ȳ_k − m)(ȳ_k − m)ᵀ
+ W_k)/(ν + n_k + d + 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariance_regularization import CovariancePrior
from .covariance_structures import CovarianceType, covariance_structure

#: Covariance parameters per model name, for the normaliser shift (see the module notes).
_ONE_FACTOR = ("full", "diag", "VEI", "VEE", "VEV", "VVE", "EVI", "EEV", "EVV", "EVE")
_SHARED = ("tied", "EEI")
_SPHERICAL = ("spherical", "V")
_SHARED_SPHERICAL = ("EII", "E")


def _normaliser_shift(name: str, n_components: int, n_features: int) -> float:
    """``s``: the factors ``|Σ|^{−1/2}`` of the means' priors that fall on one covariance parameter."""
    if name in _ONE_FACTOR:
        return 1.0
    if name in _SHARED:
        return float(n_components)
    if name in _SPHERICAL:
        return float(n_features)
    if name in _SHARED_SPHERICAL:
        return float(n_components * n_features)
    raise ValueError(f"prior: covariance_type {name!r} has no mclust prior")


@dataclass(frozen=True)
class MclustPrior:
    """mclust's conjugate prior (``priorControl(shrinkage=, mean=, dof=, scale=)``): None takes
    ``defaultPrior``'s value from the data (see the module notes).

    Parameters
    ----------
    shrinkage : float, default=0.01
        ``κ ≥ 0``, the weight of the prior on the means in observations (0: no prior on them).
    mean : array-like of shape (d,), optional
        ``m``; default the column means.
    dof : float, optional
        ``ν``; default ``d + 2``.
    scale : float or array-like, optional
        ``Ψ`` (``(d, d)`` for the ellipsoidal models) or ``ψ`` (a number, or ``(d,)`` for the
        diagonal ones); default ``defaultPrior``'s.
    """

    shrinkage: float = 0.01
    mean: float | np.ndarray | None = None
    dof: float | None = None
    scale: float | np.ndarray | None = None

    def record(self) -> dict:
        """The fields as JSON (arrays as lists), for saving an estimator."""
        return {name: np.asarray(value).tolist() if value is not None and np.ndim(value) else value
                for name, value in vars(self).items()}

    @classmethod
    def from_record(cls, record: dict) -> "MclustPrior":
        """The prior :meth:`record` wrote; ValueError naming ``prior`` for other keys."""
        unknown = set(record) - {"shrinkage", "mean", "dof", "scale"}
        if unknown:
            raise ValueError(f"prior: unknown field(s) {sorted(unknown)} of an MclustPrior")
        return cls(**{name: np.array(value, dtype=float) if isinstance(value, list) else value
                      for name, value in record.items()})

    def hyperparameters(self, X, n_components: int, covariance_type: CovarianceType) -> dict:
        """mclust's ``defaultPrior(X, G, modelName)`` with this object's values in place of its
        defaults: ``{"shrinkage", "mean", "dof", "scale"}`` (NaN entries of ``X`` skipped)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X: expected a 2-D array with at least 2 rows for prior=, got shape {X.shape}")
        shrinkage = self.shrinkage
        if not (isinstance(shrinkage, (int, float, np.integer, np.floating)) and np.isfinite(shrinkage)
                and shrinkage >= 0):
            raise ValueError(f"prior.shrinkage: must be a non-negative number, got {shrinkage!r}")
        n, d = X.shape
        g = n_components
        mean = np.nanmean(X, axis=0) if self.mean is None else np.broadcast_to(
            np.asarray(self.mean, dtype=float), (d,)).copy()
        dof = float(d + 2) if self.dof is None else self.dof
        if self.scale is not None:
            scale = np.asarray(self.scale, dtype=float)
        elif covariance_structure(covariance_type).diagonal or covariance_structure(covariance_type).name == "VEI":
            # defaultPrior's scale for its diagonal models (VEI's variances are inverse-gamma too)
            scale = np.asarray(float(np.sum(np.nanvar(X, axis=0, ddof=1))) / d * g ** (-2.0 / d))
        else:
            observed = X[~np.isnan(X).any(axis=1)]
            full = np.cov(observed, rowvar=False, ddof=1).reshape(d, d) if n > d else np.diag(
                np.nanvar(X, axis=0, ddof=1))
            scale = full * g ** (-2.0 / d)
        return {"shrinkage": float(shrinkage), "mean": mean, "dof": dof, "scale": scale}

    def covariance_prior(self, X, n_components: int, covariance_type: CovarianceType) -> CovariancePrior:
        """The :class:`CovariancePrior` whose log density is mclust's log prior (up to a constant)."""
        structure = covariance_structure(covariance_type)
        values = self.hyperparameters(X, n_components, covariance_type)
        d = np.shape(X)[1]
        shift = _normaliser_shift(structure.name, n_components, d) if values["shrinkage"] > 0 else 0.0
        dof = values["dof"]
        if not (isinstance(dof, (int, float, np.integer, np.floating)) and not isinstance(dof, bool)):
            raise ValueError(f"prior.dof: must be a number, got {dof!r}")
        prior = CovariancePrior(values["scale"], float(dof) + shift, mean=values["mean"],
                                mean_weight=values["shrinkage"])
        prior.resolved(structure, d, name="prior.scale", n_components=n_components)   # ValueError naming it
        return prior


def mclust_prior(prior, X, n_components: int, covariance_type: CovarianceType) -> CovariancePrior:
    """``GaussianMixture(prior=...)``'s :class:`CovariancePrior`: "mclust" (the defaults) or an
    :class:`MclustPrior`."""
    if isinstance(prior, str) and prior == "mclust":
        prior = MclustPrior()
    if not isinstance(prior, MclustPrior):
        raise ValueError(f"prior: expected 'mclust', an MclustPrior or None, got {prior!r}")
    return prior.covariance_prior(X, n_components, covariance_type)
