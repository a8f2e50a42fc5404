"""The weighted multinomial logit with soft targets: derivatives and their maximisation.

With ``η_i = (0, x_iᵀB)`` (class 0 the reference, ``B`` of shape ``p × (K−1)``) and
``π_i = softmax(η_i)``, the objective is

    f(B) = Σ_i w_i Σ_k t_ik log π_ik − (ridge/2)‖B‖²,

with soft counts ``t_ik ≥ 0`` (e.g. responsibilities; the rows need not sum to one). It is
concave, additive over rows (so the derivatives of halves of the rows add to those of the
whole), with gradient ``Σ_i w_i x_i ⊗ (t_i − T_i π_i)`` and Hessian
``−Σ_i w_i T_i (x_i x_iᵀ) ⊗ (diag π_i − π_i π_iᵀ)`` over classes ``1..K−1``, ``T_i = Σ_k t_ik``.
Flat vectors follow ``B.ravel()`` (row-major: coefficient ``j`` of class ``k`` at
``j·(K−1) + k − 1``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .newton import maximize_concave


def multinomial_logit_log_proba(X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``log π_ik`` (``n × K``) of the multinomial logit with coefficients ``coef`` (``p × (K−1)``)."""
    X = np.asarray(X, dtype=float)
    eta = np.concatenate([np.zeros((X.shape[0], 1)), X @ np.asarray(coef, dtype=float)], axis=1)
    return eta - logsumexp(eta, axis=1, keepdims=True)


def multinomial_logit_derivatives(X: np.ndarray, targets: np.ndarray, weights: np.ndarray | None,
                                  coef: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Value, gradient and Hessian of ``Σ_i w_i Σ_k t_ik log π_ik`` at ``coef`` (no ridge).

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Covariates (include a column of ones for intercepts).
    targets : ndarray, shape (n, K)
        Soft counts ``t_ik ≥ 0``.
    weights : ndarray, shape (n,), or None
        Row weights (None: ones).
    coef : ndarray, shape (p, K−1) or flat
        Coefficients of classes ``1..K−1``.

    Returns
    -------
    value : float
    gradient : ndarray, shape (p·(K−1),)
    hessian : ndarray, shape (p·(K−1), p·(K−1))
    """
    X = np.asarray(X, dtype=float)
    targets = np.asarray(targets, dtype=float)
    n, p = X.shape
    k1 = targets.shape[1] - 1
    coef = np.asarray(coef, dtype=float).reshape(p, k1)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    weighted = targets * w[:, None]
    log_proba = multinomial_logit_log_proba(X, coef)
    # 0·log 0 = 0: a class with no mass in a row does not count there.
    value = float(np.sum(np.where(weighted > 0, weighted * log_proba, 0.0)))
    proba = np.exp(log_proba[:, 1:])
    totals = weighted.sum(axis=1)
    gradient = X.T @ (weighted[:, 1:] - totals[:, None] * proba)
    hessian = np.empty((p, k1, p, k1))
    for k in range(k1):
        for m in range(k, k1):
            curvature = totals * proba[:, k] * ((k == m) - proba[:, m])
            block = (X * curvature[:, None]).T @ X
            hessian[:, k, :, m] = -block
            hessian[:, m, :, k] = -block
    return value, gradient.ravel(), hessian.reshape(p * k1, p * k1)


def fit_multinomial_logit(X: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None, *,
                          init: np.ndarray | None = None, ridge: float = 0.0, tol: float = 1e-10,
                          max_iter: int = 100) -> np.ndarray:
    """Maximise ``Σ_i w_i Σ_k t_ik log π_ik − (ridge/2)‖B‖²`` by damped Newton steps.

    Parameters
    ----------
    X, targets, weights
        As in :func:`multinomial_logit_derivatives`.
    init : ndarray, shape (p, K−1), optional
        The start (default zeros: equal probabilities). An M-step passes the previous
        coefficients, so that even a truncated inner loop never lowers the objective.
    ridge : float
        The penalty on every coefficient (intercepts included); a small one keeps the
        coefficients finite when a class is separated or has no mass.
    tol, max_iter
        Of :func:`~emkit.kernels.newton.maximize_concave`.

    Returns
    -------
    ndarray, shape (p, K−1)
        The coefficients (the maximiser when the inner loop converged; else the last iterate,
        which is never worse than ``init``).
    """
    X = np.asarray(X, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if X.ndim != 2 or targets.ndim != 2 or targets.shape[0] != X.shape[0] or targets.shape[1] < 2:
        raise ValueError(f"targets: expected shape (n, K) with K >= 2 matching X's {X.shape[0]} rows, got "
                         f"{targets.shape}")
    if ridge < 0:
        raise ValueError(f"ridge: must be >= 0, got {ridge!r}")
    shape = (X.shape[1], targets.shape[1] - 1)
    start = np.zeros(shape) if init is None else np.asarray(init, dtype=float).reshape(shape)

    def derivatives(theta: np.ndarray):
        value, gradient, hessian = multinomial_logit_derivatives(X, targets, weights, theta)
        return ridge_penalized(value, gradient, hessian, theta, ridge)

    return maximize_concave(derivatives, start, tol=tol, max_iter=max_iter).theta


def ridge_penalized(value: float, gradient: np.ndarray, hessian: np.ndarray, theta: np.ndarray,
                    ridge: float) -> tuple[float, np.ndarray, np.ndarray]:
    """The derivatives of ``f(θ) − (ridge/2)‖θ‖²`` from those of ``f``."""
    if ridge == 0.0:
        return value, gradient, hessian
    theta = np.ravel(theta)
    return (value - 0.5 * ridge * float(theta @ theta), gradient - ridge * theta,
            hessian - ridge * np.eye(theta.size))
