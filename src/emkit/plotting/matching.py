"""Comparing two labellings of the same rows (fitted components, k-means clusters, true groups,
decoded states): labels are only defined up to relabelling, so they are compared after the
one-to-one matching that maximises the number of rows where they agree."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_labels(reference: np.ndarray, labels: np.ndarray) -> dict[Any, Any]:
    """The reference value matched to each value of ``labels``: the one-to-one matching that
    maximises the number of rows where they agree (Hungarian algorithm on the contingency
    table). Values left unmatched (more of them than reference values) are absent."""
    ref_values, ref_codes = np.unique(np.asarray(reference), return_inverse=True)
    values, codes = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.zeros((len(values), len(ref_values)), dtype=np.int64)
    np.add.at(counts, (codes.ravel(), ref_codes.ravel()), 1)
    rows, columns = linear_sum_assignment(counts, maximize=True)
    values, ref_values = values.tolist(), ref_values.tolist()
    return {values[i]: ref_values[j] for i, j in zip(rows, columns)}


def disagreement(reference: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows whose label is not matched (:func:`match_labels`) to their reference value: the
    misassigned rows, shape ``(n,)`` of bool."""
    matching = match_labels(reference, labels)
    unmatched = object()
    return np.array([matching.get(label, unmatched) != ref for label, ref in
                     zip(np.asarray(labels).tolist(), np.asarray(reference).tolist())], dtype=bool)


def agreement(reference: np.ndarray, labels: np.ndarray) -> float:
    """Share of the rows whose label is matched to their reference value."""
    return float(1.0 - disagreement(reference, labels).mean())
