"""mclust's covariance constraints parametrised explicitly, for checks by direct maximisation.

Independent of emkit's own free parameters: the closed-form models (EII, EEI, EVI, EEV, EVV) by
:func:`constrained_covariances` (complex-safe, for complex-step derivatives), the iterative ones
(VEI, VEE, VEV, EVE, VVE) by :func:`iterative_covariances` (log volumes, log shapes summing to 0,
Cayley rotations); :func:`covariances_of` and :func:`n_parameters` take any of them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


# --------------------------------------------- closed-form models (tests/test_mclust_models.py)
def _rotation(skew_entries, d):
    """An orthogonal matrix from ``d(d−1)/2`` numbers (Cayley transform of a skew matrix)."""
    rows, columns = np.tril_indices(d, -1)
    skew = np.zeros((d, d), dtype=np.result_type(skew_entries, float))
    skew[rows, columns] = skew_entries
    skew[columns, rows] = -skew_entries
    identity = np.eye(d)
    return (identity - skew) @ np.linalg.inv(identity + skew)


def n_constraint_parameters(model, k, d):
    return {"EII": 1, "EEI": d, "EVI": 1 + k * (d - 1), "EEV": d + k * d * (d - 1) // 2,
            "EVV": 1 + k * (d * (d + 1) // 2 - 1)}[model]


def constrained_covariances(model, theta, k, d):
    """``(Σ_k, log|Σ_k|)`` of ``model`` from unconstrained numbers ``theta`` (complex-safe)."""
    if model == "EII":
        return np.array([np.exp(theta[0]) * np.eye(d)] * k), np.full(k, d * theta[0])
    if model == "EEI":
        return np.array([np.diag(np.exp(theta[:d]))] * k), np.full(k, np.sum(theta[:d]))
    if model == "EVI":
        shapes = theta[1:].reshape(k, d - 1)
        logs = np.concatenate([shapes, -shapes.sum(axis=1, keepdims=True)], axis=1)
        return np.array([np.diag(np.exp(theta[0] + row)) for row in logs]), np.full(k, d * theta[0])
    if model == "EEV":
        values = np.exp(theta[:d])
        skews = theta[d:].reshape(k, d * (d - 1) // 2)
        rotations = [_rotation(s, d) for s in skews]
        return np.array([(r * values) @ r.T for r in rotations]), np.full(k, np.sum(theta[:d]))
    if model == "EVV":
        rows, columns = np.tril_indices(d, -1)
        per = theta[1:].reshape(k, d - 1 + rows.size)
        out = []
        for entries in per:
            lower = np.zeros((d, d), dtype=theta.dtype)
            log_diagonal = np.concatenate([entries[:d - 1], [-np.sum(entries[:d - 1])]])
            lower[np.arange(d), np.arange(d)] = np.exp(log_diagonal)
            lower[rows, columns] = entries[d - 1:]
            out.append(np.exp(theta[0]) * lower @ lower.T)
        return np.array(out), np.full(k, d * theta[0])
    raise AssertionError(model)


# -------------------------------------------- iterative models (tests/test_mclust_iterative.py)
def _cayley(generator: np.ndarray, d: int) -> np.ndarray:
    """A rotation ``(I − K)(I + K)⁻¹`` from the strictly lower entries of a skew ``K``."""
    skew = np.zeros((d, d), dtype=np.result_type(generator, float))
    skew[np.tril_indices(d, -1)] = generator
    skew = skew - skew.T
    return np.linalg.solve((np.eye(d) + skew).T, (np.eye(d) - skew).T).T


def iterative_sizes(model: str, k: int, d: int) -> tuple[int, int, int]:
    volume, shape, orientation = model
    return ({"E": 1, "V": k}[volume], {"I": 0, "E": d - 1, "V": k * (d - 1)}[shape],
            {"I": 0, "E": d * (d - 1) // 2, "V": k * d * (d - 1) // 2}[orientation])


def iterative_covariances(model: str, theta: np.ndarray, k: int, d: int) -> np.ndarray:
    """``λ_k D_k diag(a_k) D_kᵀ`` from the model's letters (E: one for all, V: one each, I: none)."""
    volume, shape, orientation = model
    n_volume, n_shape, _ = iterative_sizes(model, k, d)
    head = theta[:n_volume + n_shape]   # clipped on the real part (complex-safe, for complex steps)
    theta = np.concatenate([np.clip(head.real, -15.0, 15.0) + (head - head.real), theta[n_volume + n_shape:]])
    volumes = np.broadcast_to(np.exp(theta[:n_volume]), (k,))
    log_shapes = np.broadcast_to(theta[n_volume:n_volume + n_shape].reshape(-1, d - 1), (k, d - 1)) \
        if shape != "I" else np.zeros((k, d - 1))
    shapes = np.exp(np.concatenate([log_shapes, -log_shapes.sum(axis=1, keepdims=True)], axis=1))
    generators = theta[n_volume + n_shape:].reshape(-1, d * (d - 1) // 2)
    rotations = [np.eye(d)] * k if orientation == "I" else \
        [_cayley(generators[j if orientation == "V" else 0], d) for j in range(k)]
    return np.stack([volumes[j] * rotations[j] @ np.diag(shapes[j]) @ rotations[j].T for j in range(k)])


def n_parameters(model: str, k: int, d: int) -> int:
    """How many numbers :func:`covariances_of` takes for ``model``."""
    if model in ("EII", "EEI", "EVI", "EEV", "EVV"):
        return n_constraint_parameters(model, k, d)
    return sum(iterative_sizes(model, k, d))


def covariances_of(model: str, theta: np.ndarray, k: int, d: int) -> np.ndarray:
    """The ``(k, d, d)`` covariances of ``model`` from :func:`n_parameters` unconstrained numbers."""
    if model in ("EII", "EEI", "EVI", "EEV", "EVV"):
        return constrained_covariances(model, theta, k, d)[0]
    return iterative_covariances(model, theta, k, d)


# --------------------------------------------- the observed-data log-likelihood of a mixture
def mixture_log_likelihood(X: np.ndarray, k: int, theta: np.ndarray, covariances) -> tuple:
    """``Σ_i log Σ_j π_j N(x_i | μ_j, Σ_j)`` for ``θ = (logits of components 2..k, means,
    constraint parameters)`` with ``covariances(constraint parameters) -> (Σ, log|Σ|)``;
    complex-safe (complex-step derivatives). Returns ``(log-likelihood, means, Σ, log|Σ|)``."""
    d = X.shape[1]
    logits = np.concatenate([[0.0], theta[:k - 1]])
    means = theta[k - 1:k - 1 + k * d].reshape(k, d)
    covs, log_dets = covariances(theta[k - 1 + k * d:])
    columns = []
    for j in range(k):
        residual = X - means[j]
        quadratic = np.sum(residual * np.linalg.solve(covs[j], residual.T).T, axis=1)
        columns.append(logits[j] - 0.5 * (log_dets[j] + quadratic + d * np.log(2 * np.pi)))
    stacked = np.stack(columns, axis=1)
    top = np.real(stacked).max(axis=1, keepdims=True)
    log_norm = logsumexp(logits.real) if not np.iscomplexobj(logits) else np.log(np.sum(np.exp(logits)))
    loglik = np.sum(top[:, 0] + np.log(np.sum(np.exp(stacked - top), axis=1))) - len(X) * log_norm
    return loglik, means, covs, log_dets
