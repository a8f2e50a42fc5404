"""Reference HMM computations written independently of emkit's compiled recursions.

Enumeration (tiny problems): ``p(x, z) = π_{z_1} b_1(z_1) Π_t A_{z_{t−1} z_t} b_t(z_t)`` summed
(or maximised) over all ``K^T`` paths directly; and the textbook forward recursion in NumPy for
sequences too long to enumerate.
"""

from __future__ import annotations

import itertools

import numpy as np


def path_log_probs(log_frame: np.ndarray, startprob: np.ndarray, transmat: np.ndarray):
    """Every path ``z`` of a sequence (rows of an int array) with ``log p(x, z)``."""
    n_steps, n_states = log_frame.shape
    paths = np.array(list(itertools.product(range(n_states), repeat=n_steps)))
    with np.errstate(divide="ignore"):
        log_start, log_trans = np.log(startprob), np.log(transmat)
    values = log_start[paths[:, 0]] + log_frame[0, paths[:, 0]]
    for t in range(1, n_steps):
        values = values + log_trans[paths[:, t - 1], paths[:, t]] + log_frame[t, paths[:, t]]
    return paths, values


def brute_force(log_frame: np.ndarray, startprob: np.ndarray, transmat: np.ndarray) -> dict:
    """``loglik``, ``posteriors`` (T, K), ``trans`` (expected transition counts), ``viterbi``
    (a best path) and ``viterbi_logprob`` of one sequence."""
    paths, values = path_log_probs(log_frame, startprob, transmat)
    top = values.max()
    weights = np.exp(values - top)
    total = weights.sum()
    n_steps, n_states = log_frame.shape
    posteriors = np.zeros((n_steps, n_states))
    trans = np.zeros((n_states, n_states))
    for path, weight in zip(paths, weights / total):
        posteriors[np.arange(n_steps), path] += weight
        for t in range(1, n_steps):
            trans[path[t - 1], path[t]] += weight
    best = int(np.argmax(values))
    return {"loglik": top + np.log(total), "posteriors": posteriors, "trans": trans,
            "viterbi": paths[best], "viterbi_logprob": values[best]}


def brute_loglik(log_frame: np.ndarray, startprob: np.ndarray, transmat: np.ndarray) -> float:
    """``log Σ_z p(x, z)`` alone (vectorised over paths)."""
    _, values = path_log_probs(log_frame, startprob, transmat)
    top = values.max()
    return float(top + np.log(np.exp(values - top).sum()))


def forward_loglik(log_frame: np.ndarray, startprob: np.ndarray, transmat: np.ndarray) -> float:
    """``log p(x)`` by the textbook forward recursion (NumPy, for sequences too long to
    enumerate): ``α_t = (α_{t−1} A) ∘ b_t``, renormalised each step, ``log p(x) = Σ_t log c_t``."""
    frame = np.exp(log_frame)
    alpha = startprob * frame[0]
    total = 0.0
    for t in range(frame.shape[0]):
        if t:
            alpha = (alpha @ transmat) * frame[t]
        scale = alpha.sum()
        total += np.log(scale)
        alpha = alpha / scale
    return float(total)
