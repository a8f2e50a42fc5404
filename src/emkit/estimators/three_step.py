"""Three-step latent class analysis with covariates: naive, BCH- and ML-corrected (Vermunt 2010).

Step 1 fits the measurement model without covariates (any fitted :class:`~emkit.Mixture`).
Step 2 assigns each row to classes, modally (``a_is = 1`` for ``s = argmax_k r_ik``) or
proportionally (``a_is = r_ik``), and measures the classification error of that assignment,

    D[k, s] = P(W = s | X = k) = Σ_i w_i r_ik a_is / Σ_i w_i r_ik

(Vermunt 2010, eq. 6; StepMix's ``compute_bch_matrix``). Step 3 fits the multinomial logit
``P(X = k | z) = softmax(0, (1, z)ᵀA)_k`` of the class on the covariates:

* ``"none"`` (naive): maximise ``Σ_i w_i Σ_s a_is log P(s | z_i)``, which treats the assigned
  classes as the true ones; the classification error attenuates ``A`` toward zero.
* ``"BCH"`` (Bolck, Croon & Hagenaars 2004; Vermunt 2010): the same with the weights
  ``a_i D⁻¹`` in place of ``a_i`` (rows of ``D⁻¹`` may be negative; solved, not inverted).
* ``"ML"`` (Vermunt 2010; Bakk, Tekle & Vermunt 2013): maximise
  ``Σ_i w_i Σ_s a_is log Σ_k P(k | z_i) D[k, s]``, a mixture with concomitant weights whose
  one-column categorical emission is held at ``D``
  (:class:`~emkit.latent.concomitant_mixture.ConcomitantMixtureModel` with
  ``learn=("concomitant_coef",)``, fitted by the engine); proportional assignment enters as
  ``K`` copies of each row with weights ``a_is`` (Vermunt's expanded data). StepMix's soft ML
  takes instead the emission ``exp(Σ_s a_is log D[k, s])`` (a weighted geometric mean of D's
  columns), which agrees with this for modal assignment only.

Standard errors are those of step 3 alone, from its Hessian (analytic for ``"none"`` and
``"BCH"``, the engine's numerical Hessian of the ML likelihood): they ignore the uncertainty of
step 1's estimates (as StepMix's default does) and, for BCH, the weights' sandwich correction.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ..engine import fit
from ..engine.model import Params
from ..families.categorical import Categorical
from ..inference import standard_errors
from ..kernels.multinomial_logit import fit_multinomial_logit, multinomial_logit_derivatives
from ..kernels.newton import maximize_concave
from ..latent.concomitant import PARAM
from ..latent.concomitant_mixture import ConcomitantMixtureModel
from ..validation import check_sample_weight
from ._validation import feature_names

CORRECTIONS = ("ML", "BCH", "none")
ASSIGNMENTS = ("modal", "proportional")


@dataclass(frozen=True)
class ThreeStepResult:
    """The outcome of :func:`three_step`.

    Attributes
    ----------
    coef : ndarray, shape (1 + q, K − 1)
        Step 3's logit coefficients: the intercepts' row, then one row per covariate; column
        ``k − 1`` compares class ``k`` with class 0 (the measurement model's class order).
    se : ndarray, shape (1 + q, K − 1)
        Their standard errors from step 3's Hessian (step 1's uncertainty ignored).
    D : ndarray, shape (K, K)
        The classification-error matrix ``D[k, s] = P(assigned s | class k)``.
    correction, assignment : str
    loglik : float
        Step 3's objective at ``coef`` (ML: the log-likelihood of the assignments).
    converged : bool
        Whether step 3's maximisation converged.
    labels : list of str
        The rows of ``coef``: ``"intercept"`` and the covariates' names (``z0, z1, …`` for arrays).
    measurement : Mixture
        The fitted step-1 model.
    """

    coef: np.ndarray
    se: np.ndarray
    D: np.ndarray
    correction: str
    assignment: str
    loglik: float
    converged: bool
    labels: list[str]
    measurement: Any = field(repr=False)


def three_step(measurement, X, Z, *, correction: str = "ML", assignment: str = "modal", sample_weight=None,
               tol: float = 1e-10, max_iter: int = 1000) -> ThreeStepResult:
    """Three-step estimation of a latent class model with covariates on class membership.

    Parameters
    ----------
    measurement : Mixture
        The measurement model (step 1): a fitted :class:`~emkit.Mixture` without
        ``concomitant``, or an unfitted one, which is fitted on ``X`` (a copy; the argument is
        left as it was).
    X : array-like of shape (n_samples, n_features)
        The indicators, as the measurement model takes them.
    Z : array-like of shape (n_samples, q) or (n_samples,)
        Covariates of class membership (an intercept is added).
    correction : {"ML", "BCH", "none"}, default="ML"
        Step 3's estimator (see the module).
    assignment : {"modal", "proportional"}, default="modal"
        Step 2's class assignment.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights in steps 2 and 3 (and step 1 when it is fitted here).
    tol, max_iter : float, int
        Step 3's tolerance (Newton decrement; for ML, EM's change in log-likelihood) and
        iteration limit.

    Returns
    -------
    ThreeStepResult

    Raises
    ------
    ValueError
        Naming the argument: an unknown ``correction`` or ``assignment``, a measurement model with
        concomitant variables, ``Z`` not finite or not one row per row of ``X``, or a ``D`` that
        is singular (BCH: classes that the assignment cannot tell apart).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction: expected one of {CORRECTIONS}, got {correction!r}")
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment: expected one of {ASSIGNMENTS}, got {assignment!r}")
    if getattr(measurement, "concomitant", None) is not None:
        raise ValueError("measurement: step 1 is the measurement model without covariates; drop its concomitant")
    if not hasattr(measurement, "model_"):
        measurement = copy.deepcopy(measurement).fit(X, sample_weight=sample_weight)
    posterior = np.asarray(measurement.predict_proba(X), dtype=float)
    n, K = posterior.shape
    if K < 2:
        raise ValueError("measurement: three-step estimation needs at least 2 classes")
    design, labels = _design(Z, n)
    weight = np.ones(n) if sample_weight is None else check_sample_weight(sample_weight, n)
    assigned = classify(posterior, assignment)
    D = classification_error(posterior, assigned, weight)
    if correction == "ML":
        coef, se, loglik, converged = _maximum_likelihood(design, assigned, weight, D, tol, max_iter)
    else:
        targets = assigned if correction == "none" else bch_weights(assigned, D)
        coef, se, loglik, converged = _weighted_logit(design, targets, weight, tol, max_iter)
    return ThreeStepResult(coef, se, D, correction, assignment, loglik, converged, labels, measurement)


def classify(posterior: np.ndarray, assignment: str) -> np.ndarray:
    """Step 2's assignment ``a`` (n, K): one-hot at ``argmax_k r_ik`` (modal), or ``r`` itself."""
    if assignment == "proportional":
        return posterior
    return np.eye(posterior.shape[1])[np.argmax(posterior, axis=1)]


def classification_error(posterior: np.ndarray, assigned: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``D[k, s] = Σ_i w_i r_ik a_is / Σ_i w_i r_ik`` (rows sum to one)."""
    joint = (posterior * weight[:, None]).T @ assigned
    return joint / joint.sum(axis=1, keepdims=True)


def bch_weights(assigned: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``a D⁻¹`` (n, K), by solving ``Dᵀ xᵢ = aᵢ``; ``ValueError`` naming ``D`` when it is singular."""
    try:
        solution = np.linalg.solve(D.T, assigned.T).T
    except np.linalg.LinAlgError:
        raise ValueError("D: the classification-error matrix is singular (the assignment cannot tell some classes "
                         "apart); use correction='ML'") from None
    return solution


def _design(Z, n: int) -> tuple[np.ndarray, list[str]]:
    names = feature_names(Z)
    covariates = np.asarray(Z, dtype=float)
    if covariates.ndim == 1:
        covariates = covariates[:, None]
    if covariates.ndim != 2 or covariates.shape[0] != n:
        raise ValueError(f"Z: expected one row of covariates per row of X ({n}), got shape {np.shape(Z)}")
    if not np.all(np.isfinite(covariates)):
        raise ValueError("Z: covariates must be finite (no NaN or inf)")
    labels = ["intercept"] + ([str(name) for name in names] if names is not None
                              else [f"z{j}" for j in range(covariates.shape[1])])
    return np.column_stack([np.ones(n), covariates]), labels


def _weighted_logit(design: np.ndarray, targets: np.ndarray, weight: np.ndarray, tol: float,
                    max_iter: int) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """``argmax_A Σ_i w_i Σ_k t_ik log P(k | z_i)``, standard errors from ``(−H)⁻¹``."""
    shape = (design.shape[1], targets.shape[1] - 1)
    result = maximize_concave(lambda coef: multinomial_logit_derivatives(design, targets, weight, coef),
                              np.zeros(shape), tol=tol, max_iter=max_iter)
    hessian = multinomial_logit_derivatives(design, targets, weight, result.theta)[2]
    return result.theta, _hessian_errors(hessian, shape), float(result.value), bool(result.converged)


def _hessian_errors(hessian: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``√diag((−H)⁻¹)`` by Cholesky, NaN where ``−H`` is not positive definite."""
    try:
        factor = cho_factor(-hessian, lower=True)
    except LinAlgError:
        return np.full(shape, np.nan)
    return np.sqrt(np.diag(cho_solve(factor, np.eye(len(hessian))))).reshape(shape)


def _maximum_likelihood(design: np.ndarray, assigned: np.ndarray, weight: np.ndarray, D: np.ndarray, tol: float,
                        max_iter: int) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """The ML correction: a concomitant mixture of one categorical column (the assigned class)
    whose table is held at ``D``, started from the naive estimate; errors from the engine's
    Hessian of its log-likelihood."""
    n, K = assigned.shape
    rows = np.repeat(np.arange(n), K)
    classes = np.tile(np.arange(K), n)
    mass = (assigned * weight[:, None]).ravel()
    kept = mass > 0
    data = (classes[kept].astype(float)[:, None], design[rows[kept]], mass[kept])
    model = ConcomitantMixtureModel(Categorical([K]), K, design.shape[1], learn=(PARAM,), n_jobs=1)
    start: Params = {PARAM: fit_multinomial_logit(design, assigned, weight), "probs": D}
    result = fit(model, data, init=start, tol=tol, max_iter=max_iter, param_tol=None)
    errors = standard_errors(result, data, "hessian").se[PARAM]
    return (np.asarray(result.params[PARAM], dtype=float), np.asarray(errors, dtype=float), float(result.loglik),
            bool(result.converged))
