"""Brute-force HMM computations by enumerating every state path (tiny problems only).

Independent of emkit's recursions: ``p(x, z) = π_{z_1} b_1(z_1) Π_t A_{z_{t−1} z_t} b_t(z_t)`` is
summed (or maximised) over all ``K^T`` paths directly.
"""

from __future__ import annotations

import itertools

import numpy as np


def path_log_probs(log_frame: np.ndarray, startprob: np.ndarray, transmat: np.ndarray):
    """Every path ``z`` of a sequence with ``log p(x, z)``, as two lists."""
    n_steps, n_states = log_frame.shape
    paths, values = [], []
    with np.errstate(divide="ignore"):
        log_start, log_trans = np.log(startprob), np.log(transmat)
    for path in itertools.product(range(n_states), repeat=n_steps):
        value = log_start[path[0]] + log_frame[0, path[0]]
        for t in range(1, n_steps):
            value += log_trans[path[t - 1], path[t]] + log_frame[t, path[t]]
        paths.append(path)
        values.append(value)
    return paths, np.array(values)


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
            "viterbi": np.array(paths[best]), "viterbi_logprob": values[best]}
