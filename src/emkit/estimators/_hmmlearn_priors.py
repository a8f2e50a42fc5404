"""hmmlearn's conjugate-prior keywords as emkit family options (for the hmmlearn faces).

hmmlearn 0.3.3's M-steps are the joint modes of the complete-data log-likelihood plus an
unnormalised, possibly improper log prior, which :class:`~emkit.kernels.covariance_regularization.
CovariancePrior` (``proper=False``) and :class:`~emkit.families.Poisson` express exactly:

* ``GaussianHMM`` (``means_prior`` ``m``, ``means_weight`` ``κ``, ``covars_prior`` ``Ψ``,
  ``covars_weight`` ``w``): ``μ_k = (κ m_k + Σγx)/(κ + n_k)``, then with ``δ_k = μ_k − m_k``
  full ``Σ_k = (Ψ_k + κ δδᵀ + S_k)/(max(w − d, 0) + n_k)``, tied pooled over the states,
  diag ``σ²_kj = (ψ_kj + κ_kj δ_kj² + S_kj)/(max(w − 1, 0) + n_k)``, spherical the mean over
  ``j`` of diag's. A number ``Ψ`` is added to *every* entry of a full or tied matrix (``Ψ 11ᵀ``:
  hmmlearn broadcasts it). So ``c = max(w − d, 0)`` (diag: ``max(w − 1, 0)``; spherical
  ``d·max(w − 1, 0)`` with ``ψ = Σ_j ψ_j``), and ``dof = c −`` the structure's offset
  (``d + 1``, or 2).
* ``GMMHMM`` (per state and mixture component): means as above with ``κ = means_weight``;
  full ``(Ψᵀ + κ δδᵀ + S)/(n + 1 + ν + d + 1)`` with ``ν = covars_weight`` (``c = ν + d + 2``),
  diag ``(κ δ² + 2β + S)/(n + 1 + 2(α + 1))`` with ``α = covars_prior``, ``β =
  covars_weight`` (``ψ = 2β``, ``c = 2α + 3``), spherical ``(κ|δ|² + 2β + S)/(d(n + 1) + 2(α +
  1))`` (``c = d + 2α + 2``); the defaults (``None``) are hmmlearn's per covariance type. Weights
  ``(n_km + a_km − 1)/(n_k + Σ_m (a_km − 1))``: the Dirichlet mode. Its covariance update takes
  the scatter about the *previous* means (not an M-step while the means move, see
  :class:`emkit.GMMHMM`); the prior terms are the same.
* ``PoissonHMM`` (``lambdas_prior`` ``α``, ``lambdas_weight`` ``β``): the family's mode is
  ``λ_kj = (α + s_kj)/(β + n_k)``, the maximiser of ``Q + Σ (α log λ − β λ)``. hmmlearn 0.3.3
  computes ``(α + N ȳ_k)/(β + N)`` with ``N`` the occupancy of *all* states (``stats['post'].sum()``),
  which equals the mode for one state or ``α = β = 0`` (its defaults) and otherwise maximises no
  fixed objective.

hmmlearn's ``score`` and ``monitor_.history`` are the plain log-likelihood, without the log
prior; emkit's engine monitors the log-posterior (:meth:`~emkit.families.Family.log_prior` added).
"""

from __future__ import annotations

import numpy as np

from ..kernels.covariance_regularization import CovariancePrior
from ..kernels.covariance_structures import covariance_structure


def _broadcast(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` as finite floats broadcast to ``shape`` (hmmlearn's broadcasting), or a
    ValueError naming ``name``."""
    try:
        array = np.array(np.broadcast_to(np.asarray(value, dtype=float), shape))
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number or an array broadcasting to {shape}, got {value!r}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    return array


def _number(value, name: str) -> float:
    """A finite number (a one-element array passes), or a ValueError naming ``name``."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        array = np.array([np.nan])
    if array.size != 1 or not np.isfinite(array).all():
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(array.reshape(()))


def _uniform(array: np.ndarray, name: str) -> float:
    """The one value of ``array``, or a ValueError naming ``name`` (emkit takes one exponent)."""
    if np.any(array != array.flat[0]):
        raise ValueError(f"{name}: must be the same for every component (emkit's prior has one exponent), "
                         f"got {np.unique(array).tolist()[:5]}")
    return float(array.flat[0])


def _symmetric_psd(scales: np.ndarray, name: str) -> np.ndarray:
    """Scale matrices that are symmetric positive semi-definite, or a ValueError naming ``name``."""
    if not np.allclose(scales, np.swapaxes(scales, -1, -2)):
        raise ValueError(f"{name}: the scale matrices must be symmetric")
    values = np.linalg.eigvalsh(scales)
    if np.any(values < -1e-12 * max(1.0, float(np.abs(values).max()))):
        raise ValueError(f"{name}: the scale matrices must be positive semi-definite")
    return scales


def _non_negative(array: np.ndarray, name: str) -> np.ndarray:
    if np.any(array < 0):
        raise ValueError(f"{name}: must be non-negative, got {np.unique(array).tolist()[:5]}")
    return array


def gaussian_hmm_prior(covariance_type: str, n_components: int, n_features: int, means_prior=0.0,
                       means_weight=0.0, covars_prior=1e-2, covars_weight=1.0) -> CovariancePrior:
    """The :class:`CovariancePrior` of hmmlearn's ``GaussianHMM`` keywords (defaults hmmlearn's).

    Shapes broadcast as in hmmlearn's M-step: ``means_prior`` to ``(K, d)``; ``means_weight``
    to ``(K, d)`` for diag and spherical, a number for full and tied; ``covars_prior`` to
    ``(K, d, d)`` (full), ``(d, d)`` (tied), ``(K, d)`` (diag, spherical); ``covars_weight`` a
    number. ValueError naming the keyword when a value is out of range or does not broadcast.
    """
    structure = covariance_structure(covariance_type)
    k, d = n_components, n_features
    mean = _broadcast(means_prior, (k, d), "means_prior")
    if structure.diagonal:
        weight = _broadcast(means_weight, (k, d), "means_weight")
    else:
        weight = np.full((k, d), _number(means_weight, "means_weight"))
    _non_negative(weight, "means_weight")
    covars_weight = _number(covars_weight, "covars_weight")
    if structure.name == "full":
        scale = _symmetric_psd(_broadcast(covars_prior, (k, d, d), "covars_prior"), "covars_prior")
        exponent = max(covars_weight - d, 0.0)
    elif structure.name == "tied":
        scale = _symmetric_psd(_broadcast(covars_prior, (d, d), "covars_prior"), "covars_prior")
        exponent = max(covars_weight - d, 0.0)
    else:
        variances = _non_negative(_broadcast(covars_prior, (k, d), "covars_prior"), "covars_prior")
        exponent = max(covars_weight - 1.0, 0.0)
        scale = variances if structure.name == "diag" else variances.sum(axis=1)
        exponent = exponent if structure.name == "diag" else d * exponent
    return CovariancePrior(scale, exponent - structure.prior_exponent_offset(d), mean=mean, mean_weight=weight,
                           proper=False)


def _gmm_defaults(covariance_type: str, n_mix: int, n_features: int) -> tuple[float, float]:
    """hmmlearn's GMMHMM defaults of ``(covars_prior, covars_weight)`` (``_init_covar_priors``)."""
    return {"full": (0.0, -(1.0 + n_features + 1.0)), "tied": (0.0, -(n_mix + n_features + 1.0)), "diag": (-1.5, 0.0),
            "spherical": (-(n_mix + 2.0) / 2.0, 0.0)}[covariance_type]


def gmm_hmm_priors(covariance_type: str, n_components: int, n_mix: int, n_features: int, weights_prior=1.0,
                   means_prior=0.0, means_weight=0.0, covars_prior=None,
                   covars_weight=None) -> tuple[np.ndarray, CovariancePrior]:
    """``(weights_prior, covariance_prior)`` of hmmlearn's ``GMMHMM`` keywords for a
    :class:`~emkit.families.FiniteMixture` of ``K·M`` Gaussian sub-components (row ``k·M + m``).

    Shapes as hmmlearn's ``_fix_priors_shape``: ``weights_prior`` and ``means_weight`` ``(K, M)``,
    ``means_prior`` ``(K, M, d)``, ``covars_prior`` ``(K, M, d, d)`` (full), ``(K, M, d)`` (diag),
    ``(K, M)`` (spherical), ``covars_weight`` like ``covars_prior`` without the last axis for full,
    with it for diag. The exponent (``covars_weight`` for full, ``covars_prior`` for diag and
    spherical) must be one number. ``weights_prior`` at least 1 (the Dirichlet mode; hmmlearn's
    unclipped update can leave the simplex below 1). ValueError naming the keyword otherwise.

    ``tied`` (one covariance per state, hmmlearn's ``(Σ_m κ δδᵀ + Ψ_kᵀ + S_k)/(n_k + M + ν_k + d +
    1)``): ``covars_prior`` ``(K, d, d)``, ``covars_weight`` ``(K,)``; the prior of a full Gaussian
    for the ``K·M`` sub-components with scales ``Ψ_kᵀ/M`` and exponent ``c = (M + ν + d + 1)/M``
    each, which a :class:`FiniteMixture` with ``shared="covars"`` and ``shared_offset=c`` pools
    (:func:`tied_offset` gives ``c``).
    """
    if covariance_type not in ("full", "tied", "diag", "spherical"):
        raise ValueError(f"covariance_type: expected 'full', 'tied', 'diag' or 'spherical' for GMMHMM, "
                         f"got {covariance_type!r}")
    structure = covariance_structure("full" if covariance_type == "tied" else covariance_type)
    k, m, d = n_components, n_mix, n_features
    default_prior, default_weight = _gmm_defaults(covariance_type, m, d)
    covars_prior = default_prior if covars_prior is None else covars_prior
    covars_weight = default_weight if covars_weight is None else covars_weight
    weights = _broadcast(weights_prior, (k, m), "weights_prior")
    if np.any(weights < 1):
        raise ValueError(f"weights_prior: Dirichlet concentrations must be at least 1, got "
                         f"{np.unique(weights).tolist()[:5]}")
    mean = _broadcast(means_prior, (k, m, d), "means_prior").reshape(k * m, d)
    weight = _non_negative(_broadcast(means_weight, (k, m), "means_weight"), "means_weight").reshape(k * m, 1)
    if covariance_type == "full":
        scale = _broadcast(covars_prior, (k, m, d, d), "covars_prior").reshape(k * m, d, d)
        scale = _symmetric_psd(np.swapaxes(scale, 1, 2), "covars_prior")
        exponent = _uniform(_broadcast(covars_weight, (k, m), "covars_weight"), "covars_weight") + d + 2.0
    elif covariance_type == "tied":
        scale = np.swapaxes(_broadcast(covars_prior, (k, d, d), "covars_prior"), 1, 2) / m
        scale = _symmetric_psd(np.repeat(scale, m, axis=0), "covars_prior")
        exponent = (m + _uniform(_broadcast(covars_weight, (k,), "covars_weight"), "covars_weight") + d + 1.0) / m
        if exponent < 0:
            raise ValueError(f"covars_weight: n_mix + covars_weight + n_features + 1 must be non-negative for 'tied', "
                             f"got {exponent * m}")
    elif covariance_type == "diag":
        scale = 2.0 * _non_negative(_broadcast(covars_weight, (k, m, d), "covars_weight"),
                                    "covars_weight").reshape(k * m, d)
        exponent = 2.0 * _uniform(_broadcast(covars_prior, (k, m, d), "covars_prior"), "covars_prior") + 3.0
    else:
        scale = 2.0 * _non_negative(_broadcast(covars_weight, (k, m), "covars_weight"), "covars_weight").ravel()
        exponent = 2.0 * _uniform(_broadcast(covars_prior, (k, m), "covars_prior"), "covars_prior") + d + 2.0
    prior = CovariancePrior(scale, exponent - structure.prior_exponent_offset(d), mean=mean,
                            mean_weight=np.broadcast_to(weight, (k * m, d)), proper=False)
    return weights, prior


def tied_offset(prior: CovariancePrior, n_features: int) -> float:
    """The exponent ``c`` per sub-component of :func:`gmm_hmm_priors`'s ``tied`` prior (the
    ``shared_offset`` of the :class:`FiniteMixture` that pools it)."""
    return float(prior.dof) + covariance_structure("full").prior_exponent_offset(n_features)


def poisson_hmm_prior(n_components: int, n_features: int, lambdas_prior=0.0,
                      lambdas_weight=0.0) -> dict[str, np.ndarray]:
    """The :class:`~emkit.families.Poisson` options ``prior_counts`` (``α``) and
    ``prior_exposure`` (``β``) of hmmlearn's ``lambdas_prior`` and ``lambdas_weight``, each
    broadcast to ``(K, d)`` and non-negative (ValueError naming the keyword otherwise)."""
    shape = (n_components, n_features)
    return {"prior_counts": _non_negative(_broadcast(lambdas_prior, shape, "lambdas_prior"), "lambdas_prior"),
            "prior_exposure": _non_negative(_broadcast(lambdas_weight, shape, "lambdas_weight"), "lambdas_weight")}
