"""mclust's Gaussian covariance models whose M-step has a closed form, as covariance structures.

mclust writes a component covariance as ``Σ_k = λ_k D_k A_k D_kᵀ`` (volume ``λ_k = |Σ_k|^{1/d}``,
shape ``A_k`` diagonal with ``|A_k| = 1``, orientation ``D_k`` orthogonal) and names a model by
three letters, Equal / Variable / Identity, for volume, shape and orientation (Celeux & Govaert
1995; Fraley & Raftery 2002). scikit-learn's four are VVV (full), EEE (tied), VVI (diag) and VII
(spherical); this module adds EII, EEI, EVI, EEV, EVV and the univariate E and V. Their M-steps
from the weighted scatters ``W_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ``, ``n = Σ_k n_k``
(Celeux & Govaert 1995, §3):

* EII: ``λ = Σ_k tr W_k / (n d)``; EEI: ``λA = diag(Σ_k W_k) / n``;
* EVI: ``A_k = diag W_k / |diag W_k|^{1/d}``, ``λ = Σ_k |diag W_k|^{1/d} / n``;
* EEV: ``W_k = L_k Ω_k L_kᵀ`` (eigenvalues decreasing), ``D_k = L_k``, ``λA = Σ_k Ω_k / n``;
* EVV: ``C_k = W_k / |W_k|^{1/d}``, ``λ = Σ_k |W_k|^{1/d} / n``, ``Σ_k = λ C_k``.

``reg_covar`` is added to each component's own covariance ``W_k / n_k`` before the constraint
(``W_k ← W_k + n_k ε I``), so the estimate satisfies the constraint exactly; for the models that
pool (EII, EEI) this is the same as adding ``ε I`` afterwards, as scikit-learn's types do.

The parameters keep the shape of the scikit-learn structure they specialise: EII, E, V ``(k,)``
variances (all equal for EII and E), EEI and EVI ``(k, d)`` variances, EEV and EVV ``(k, d, d)``
matrices; densities, sampling, missing values and Dask therefore go through the same kernels.
With a conjugate prior (:mod:`emkit.kernels.mclust_prior`) the M-step is the exact posterior mode:
EII and EEI put the prior once on their shared variance(s); EVI, EEV and EVV put the scale in each
component and the common determinant once (mclust's convention), so the same closed forms apply
to the posterior scatters.
Their free parameters (:meth:`to_free`, used by the bootstrap and the numerical Hessian) are as
many as mclust counts (:func:`mclust_n_free`); the Louis and complete-data information are chained
through the linear structure whose shape the model keeps (``linear_parent``; see
:mod:`emkit.models.gaussian_information`).
"""

from __future__ import annotations

import numpy as np

from .covariance_structures import ILL_DEFINED_COVARIANCE, SKLEARN_ALIASES, STRUCTURES, Diag, Full, Spherical

#: mclust's models in its order (``mclust.options("emModelNames")``), univariate first.
MCLUST_MODEL_NAMES = ("E", "V", "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE",
                      "EEV", "VEV", "EVV", "VVV")

__all__ = ["CLOSED_FORM_MODELS", "MCLUST_MODEL_NAMES", "SKLEARN_ALIASES", "mclust_n_free"]


def mclust_n_free(name: str, n_components: int, n_features: int) -> int:
    """Free covariance parameters of mclust's model ``name`` (mclust's ``nVarParams``).

    Each letter adds its count: volume E ``1``, V ``G``; shape I ``0``, E ``d − 1``, V
    ``G(d − 1)``; orientation I ``0``, E ``d(d − 1)/2``, V ``G d(d − 1)/2``. The univariate E and
    V are one variance, or ``G``.
    """
    g, d = n_components, n_features
    if name in ("E", "V"):
        return 1 if name == "E" else g
    if name not in MCLUST_MODEL_NAMES:
        raise ValueError(f"covariance_type: expected one of {MCLUST_MODEL_NAMES}, got {name!r}")
    counts = ({"E": 1, "V": g}, {"I": 0, "E": d - 1, "V": g * (d - 1)},
              {"I": 0, "E": d * (d - 1) // 2, "V": g * d * (d - 1) // 2})
    return sum(count[letter] for count, letter in zip(counts, name))


class _ClosedFormModel:
    """What mclust's closed-form models share beyond the scikit-learn structure they specialise."""

    name = ""
    shared = False
    curved = True

    def _constrained(self, covariances: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The constrained covariances from each component's own (regularised) ``W_k / n_k``."""
        raise NotImplementedError

    def m_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        own = super().m_step(n, sum_xx, m, delta, denominator, reg_covar)
        if not float(np.sum(n)) > 0:
            raise ValueError("stats: the total weight n is zero; nothing to estimate a covariance from")
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._checked(self._constrained(own, np.asarray(n, dtype=float)))

    def _checked(self, covariances: np.ndarray) -> np.ndarray:
        """The constrained covariances, or the ill-defined-covariance ValueError when a singular
        scatter made them non-finite (a volume or shape from a zero determinant), never a NaN."""
        if not np.all(np.isfinite(covariances)):
            raise ValueError(f"covariances: a component's scatter is singular under {self.name!r}. "
                             f"{ILL_DEFINED_COVARIANCE}")
        return covariances

    def n_free(self, n_components, n_features):
        return mclust_n_free(self.name, n_components, n_features)

    def keep_components(self, previous, new, keep):
        """``new``: the M-step couples the components (an empty one gets the shared volume and an
        identity shape), so keeping one at its previous value would break the constraint."""
        return new

    def scatter_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        return super().m_step(n, sum_xx, m, delta, denominator, reg_covar)

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        """The MAP step of mclust's prior for a shared volume (EVI, EEV, EVV; mclust's ``meevip``,
        ``meeevp``): the scale ``Ψ`` (and the means' ``κ δ_k δ_kᵀ``) enters each component,
        ``W'_k = n_k C_k + Ψ_k``, but the determinant ``|Σ_k|``, the same for every component,
        once, ``−(c/2) log|Σ|`` (:meth:`prior_exponent_offset`). Any split of ``n + c`` into weights
        ``n'_k`` gives the same objective ``Σ_k −(n'_k/2) log|Σ_k| − ½ tr(Σ_k⁻¹ W'_k)``, which has
        the ML M-step's form: the closed form above maximizes it exactly."""
        counts = np.asarray(counts, dtype=float)
        numerators = counts.reshape((-1,) + (1,) * (np.ndim(scatter) - 1)) * scatter + scale
        weights = counts + (dof + self.prior_exponent_offset(n_features)) / counts.size
        return self._checked(self._constrained(numerators / weights.reshape((-1,) + (1,) * (np.ndim(scatter) - 1)),
                                               weights))

    def prior_log_density(self, covariances, scale, dof, n_features):
        """``Σ_k −½ tr(Ψ_k Σ_k⁻¹) − (c/2) log|Σ_1|``: the parent's density with the shared
        determinant counted once."""
        covariances = np.asarray(covariances, dtype=float)
        full = self.full_matrices(covariances, len(covariances), n_features)
        log_det = float(np.linalg.slogdet(full[0])[1])
        parent = super().prior_log_density(covariances, scale, dof, n_features)
        parent_exponent = dof + super().prior_exponent_offset(n_features)
        return (parent + 0.5 * parent_exponent * len(covariances) * log_det
                - 0.5 * (dof + self.prior_exponent_offset(n_features)) * log_det)

    def basis(self, n_features):
        raise NotImplementedError(f"covariance_type {self.name!r}: the covariances are not a linear span of fixed "
                                  f"matrices; the information goes through {self.linear_parent!r}'s "
                                  "(emkit.models.gaussian_information)")

    def free_labels(self, name, n_components, n_features):
        return [f"{name}.{self.name}[{i}]" for i in range(self.n_free(n_components, n_features))]


def _pooled(values: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``Σ_k n_k v_k / Σ_k n_k`` over the first axis."""
    return np.tensordot(n, values, axes=1) / n.sum()


def _geometric_mean(values: np.ndarray) -> np.ndarray:
    """``(Π_j v_j)^{1/d}`` over the last axis (0 when one is 0)."""
    return np.exp(np.mean(np.log(values), axis=-1))


def _one_scale(model: str, scale: np.ndarray, n_features_shape: tuple[int, ...]) -> np.ndarray:
    """The one prior scale of a model whose covariance all components share (EII, E, EEI)."""
    if np.ndim(scale) > len(n_features_shape):
        raise ValueError(f"covariance_prior: covariance_type {model!r} shares one covariance across the "
                         "components; give one scale, not one per component")
    return scale


class EII(_ClosedFormModel, Spherical):
    """``Σ_k = λ I``, one variance for all components, kept as ``(k,)`` equal variances."""

    name = "EII"
    linear_parent = "spherical"
    curved = False

    def _constrained(self, covariances, n):
        return np.full(covariances.shape, _pooled(covariances, n))

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        """One inverse-gamma prior on the shared ``σ²``: ``(Σ_k n_k d c_k + ψ)/(n d + ν + 2)``."""
        scale = _one_scale(self.name, scale, ())
        return np.full(counts.shape, (np.sum(counts * n_features * scatter) + scale)
                       / (counts.sum() * n_features + dof + 2.0))

    def mean_prior_scale(self, weight, offsets):
        return np.einsum("ki,ki,ki->", weight, offsets, offsets)

    def prior_log_density(self, covariances, scale, dof, n_features):
        return super().prior_log_density(np.asarray(covariances, dtype=float)[:1], scale, dof, n_features)

    def to_free(self, covariances):
        return np.asarray(covariances, dtype=float).ravel()[:1].copy()

    def from_free(self, free, n_components, n_features):
        return np.full(n_components, float(np.asarray(free, dtype=float)[0]))


class _Univariate:
    """A model of one column (``d = 1``): its shape and densities refuse wider data."""

    name: str

    def shape(self, n_components, n_features):
        _require_univariate(self.name, n_features)
        return super().shape(n_components, n_features)

    def density_factors(self, prec_chol, n_components, n_features):
        _require_univariate(self.name, n_features)
        return super().density_factors(prec_chol, n_components, n_features)


class UnivariateE(_Univariate, EII):
    """mclust's univariate E: one variance for all components (``d = 1``)."""

    name = "E"


class UnivariateV(_Univariate, Spherical):
    """mclust's univariate V: a variance per component (``d = 1``); scikit-learn's spherical."""

    name = "V"


def _require_univariate(name: str, n_features: int) -> None:
    if n_features != 1:
        raise ValueError(f"covariance_type: {name!r} is mclust's univariate model and needs 1 feature, got "
                         f"{n_features}; use {'EII' if name == 'E' else 'VII'} for several")


class EEI(_ClosedFormModel, Diag):
    """``Σ_k = λ A``, one diagonal covariance for all components, kept as ``(k, d)`` variances."""

    name = "EEI"
    linear_parent = "diag"
    curved = False

    def _constrained(self, covariances, n):
        return np.broadcast_to(_pooled(covariances, n), covariances.shape).copy()

    def posterior_mode(self, scatter, counts, scale, dof, n_features):
        """One inverse-gamma prior on each shared variance: ``(Σ_k n_k C_kj + ψ_j)/(n + ν + 2)``."""
        scale = _one_scale(self.name, scale, (n_features,))
        pooled = (np.tensordot(counts, scatter, axes=1) + scale) / (counts.sum() + dof + 2.0)
        return np.broadcast_to(pooled, scatter.shape).copy()

    def mean_prior_scale(self, weight, offsets):
        return np.sum(weight * offsets * offsets, axis=0)

    def prior_log_density(self, covariances, scale, dof, n_features):
        return super().prior_log_density(np.asarray(covariances, dtype=float)[:1], scale, dof, n_features)

    def to_free(self, covariances):
        return np.asarray(covariances, dtype=float)[0].copy()

    def from_free(self, free, n_components, n_features):
        return np.tile(np.asarray(free, dtype=float), (n_components, 1))


class EVI(_ClosedFormModel, Diag):
    """``Σ_k = λ A_k``: diagonal, one volume, a shape per component; ``(k, d)`` variances."""

    name = "EVI"
    linear_parent = "diag"

    def prior_exponent_offset(self, n_features):
        """``c = ν + 1`` for the shared ``|Σ| = λ^d`` (mclust's ``meevip``)."""
        return 1.0

    def _constrained(self, covariances, n):
        volumes = np.where(n > 0, _geometric_mean(covariances), 1.0)   # |diag W_k / n_k|^{1/d}
        shapes = np.where((n > 0)[:, None], covariances / volumes[:, None], 1.0)   # empty: A_k = I
        return _pooled(volumes, n) * shapes

    def to_free(self, covariances):
        """``log λ`` and each component's first ``d − 1`` log shapes."""
        logs = np.log(np.asarray(covariances, dtype=float))
        volume = logs.mean(axis=1)
        return np.concatenate([volume[:1], (logs - volume[:, None])[:, :-1].ravel()])

    def from_free(self, free, n_components, n_features):
        free = np.asarray(free, dtype=float)
        shapes = free[1:].reshape(n_components, n_features - 1)
        logs = np.concatenate([shapes, -shapes.sum(axis=1, keepdims=True)], axis=1)
        return np.exp(free[0] + logs)


class EEV(_ClosedFormModel, Full):
    """``Σ_k = λ D_k A D_kᵀ``: one volume and shape, an orientation per component; ``(k, d, d)``."""

    name = "EEV"
    linear_parent = "full"

    def _constrained(self, covariances, n):
        values, vectors = np.linalg.eigh(covariances)                # increasing, for every k alike
        common = _pooled(values, n)                                  # λA = Σ_k Ω_k / n, Ω_k = n_k ω_k
        return np.einsum("kij,j,klj->kil", vectors, common, vectors)

    def to_free(self, covariances):
        """``log λA`` (increasing) and each orientation's Cayley coordinates (strict lower triangle
        of ``S = (I − D)(I + D)⁻¹``, with ``D``'s columns signed so that ``I + D`` is far from
        singular)."""
        covariances = np.asarray(covariances, dtype=float)
        values, vectors = np.linalg.eigh(covariances)
        d = covariances.shape[-1]
        rows, columns = np.tril_indices(d, -1)
        skews = [_cayley(_signed_rotation(vectors[j]))[rows, columns] for j in range(len(covariances))]
        return np.concatenate([np.log(values[0])] + skews)

    def from_free(self, free, n_components, n_features):
        free = np.asarray(free, dtype=float)
        d = n_features
        common = np.exp(free[:d])
        rows, columns = np.tril_indices(d, -1)
        out = np.empty((n_components, d, d))
        for j, coordinates in enumerate(free[d:].reshape(n_components, rows.size)):
            skew = np.zeros((d, d))
            skew[rows, columns] = coordinates
            skew[columns, rows] = -coordinates
            rotation = _cayley(skew)
            out[j] = (rotation * common) @ rotation.T
        return out


def _cayley(matrix: np.ndarray) -> np.ndarray:
    """``(I − M)(I + M)⁻¹``: orthogonal ↔ skew-symmetric (its own inverse)."""
    identity = np.eye(matrix.shape[0])
    return np.linalg.solve((identity + matrix).T, (identity - matrix).T).T


def _signed_rotation(vectors: np.ndarray) -> np.ndarray:
    """The eigenvectors with column signs making the diagonal non-negative and the determinant 1
    (the column with the smallest diagonal entry flipped if needed)."""
    signs = np.where(np.diagonal(vectors) < 0, -1.0, 1.0)
    rotation = vectors * signs
    if np.linalg.det(rotation) < 0:
        rotation[:, np.argmin(np.abs(np.diagonal(rotation)))] *= -1.0
    return rotation


class EVV(_ClosedFormModel, Full):
    """``Σ_k = λ C_k``, ``|C_k| = 1``: one volume, a shape and orientation per component."""

    name = "EVV"
    linear_parent = "full"

    def _constrained(self, covariances, n):
        d = covariances.shape[-1]
        sign, log_det = np.linalg.slogdet(covariances)
        volumes = np.where(sign > 0, np.exp(log_det / d), np.nan)   # |W_k / n_k|^{1/d}
        volumes = np.where(n > 0, volumes, 1.0)
        shapes = np.where((n > 0)[:, None, None], covariances / volumes[:, None, None], np.eye(d))  # empty: C_k = I
        return _pooled(volumes, n) * shapes

    def to_free(self, covariances):
        """``log λ`` and each ``C_k``'s Cholesky factor: its first ``d − 1`` log diagonal entries
        (the last makes ``|C_k| = 1``) and its strict lower triangle."""
        covariances = np.asarray(covariances, dtype=float)
        d = covariances.shape[-1]
        lower = np.linalg.cholesky(covariances)
        log_diagonal = np.log(np.diagonal(lower, axis1=1, axis2=2))
        volume = 2.0 * log_diagonal.mean(axis=1)
        rows, columns = np.tril_indices(d, -1)
        scale = np.exp(-0.5 * volume)[:, None]
        parts = [(log_diagonal - 0.5 * volume[:, None])[:, :-1], lower[:, rows, columns] * scale]
        return np.concatenate([volume[:1], np.concatenate(parts, axis=1).ravel()])

    def from_free(self, free, n_components, n_features):
        free = np.asarray(free, dtype=float)
        d = n_features
        rows, columns = np.tril_indices(d, -1)
        per = free[1:].reshape(n_components, d - 1 + rows.size)
        log_diagonal = np.concatenate([per[:, :d - 1], -per[:, :d - 1].sum(axis=1, keepdims=True)], axis=1)
        lower = np.zeros((n_components, d, d))
        lower[:, np.arange(d), np.arange(d)] = np.exp(log_diagonal)
        lower[:, rows, columns] = per[:, d - 1:]
        return np.exp(free[0]) * np.einsum("kij,klj->kil", lower, lower)


#: The closed-form models, registered in :data:`~emkit.kernels.covariance_structures.STRUCTURES`.
CLOSED_FORM_MODELS = (UnivariateE(), UnivariateV(), EII(), EEI(), EVI(), EEV(), EVV())
STRUCTURES.update({model.name: model for model in CLOSED_FORM_MODELS})
