"""Weighted k-means (Lloyd) with greedy k-means++ seeding, to start mixture models.

Both are invariant to the order of the rows and to replacing an integer sample weight by repeated
rows: every random choice is an inverse-CDF draw on cumulative weights taken over the rows in
lexicographic order (identical rows adjacent), so a row of weight ``w`` is chosen exactly when
one of its ``w`` copies would be, wherever it sits in the data.

Both report to the active progress display (:func:`emkit.engine.progress.active`: a fit's with
``verbose``), as the stage "k-means" (Lloyd iterations) with its seeding inside.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..engine.progress import active
from .gaussian import row_blocks

#: Distances of at most this many numbers (rows × centres × columns) are computed directly
#: (:func:`squared_distances`).
DIRECT_DISTANCES = 1 << 20


def unit_scale(X: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Each column's standard deviation (weighted by ``sample_weight``: that of the rows repeated
    as often; 1 for a constant column), to run k-means on ``X / scale``: starting values by
    k-means then do not depend on the units of the columns."""
    X = np.asarray(X, dtype=float)
    if _compiled_columns(X):
        weights = np.empty(0) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        total = float(X.shape[0] if sample_weight is None else weights.sum())
        mean, scale = np.empty(X.shape[1]), np.empty(X.shape[1])
        _column_moments(X, weights, total, mean, scale)
        scale = np.sqrt(scale)
    elif sample_weight is None:
        scale = np.std(X, axis=0)
    else:
        mean = np.average(X, axis=0, weights=sample_weight)
        scale = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=sample_weight))
    return np.where(scale > 0, scale, 1.0)


def _compiled_columns(X: np.ndarray) -> bool:
    """Whether :func:`_column_moments` gives NumPy's column means and variances bit for bit: sums
    over the rows of a C-ordered array of several columns run row after row, as its loop does
    (one column is summed pairwise by NumPy), for data small enough that NumPy's per-call costs
    dominate."""
    return X.ndim == 2 and X.shape[1] > 1 and X.flags.c_contiguous and X.size <= DIRECT_DISTANCES


@njit(cache=True, nogil=True)
def _column_moments(X, weights, total, mean, variance):  # pragma: no cover - compiled
    """``mean_a = Σ_i w_i x_ia / total`` and ``variance_a = Σ_i w_i (x_ia − mean_a)² / total`` (no
    ``weights``: all 1), summed over the rows in order."""
    weighted = weights.size > 0
    mean[:] = 0.0
    variance[:] = 0.0
    for i in range(X.shape[0]):
        for a in range(X.shape[1]):
            mean[a] += X[i, a] * weights[i] if weighted else X[i, a]
    mean /= total
    for i in range(X.shape[0]):
        for a in range(X.shape[1]):
            deviation = X[i, a] - mean[a]
            variance[a] += deviation * deviation * weights[i] if weighted else deviation * deviation
    variance /= total


def squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``‖x_i − c_j‖²`` for every row and center, shape ``(n, k)``: for at most
    :data:`DIRECT_DISTANCES` numbers one compiled pass of ``Σ_a (x_ia − c_ja)²`` (a small k-means
    start spends its time in NumPy's per-call costs, not in arithmetic), else
    ``‖x‖² − 2 x·c + ‖c‖²`` by blocks of rows (one matrix product each)."""
    out = np.empty((X.shape[0], centers.shape[0]))
    if X.shape[0] * centers.shape[0] * X.shape[1] <= DIRECT_DISTANCES:
        _direct_distances(X, centers, out)
        return out
    center_norms = np.einsum("ij,ij->i", centers, centers)
    for rows in row_blocks(X.shape[0], max(X.shape[1], centers.shape[0])):
        block = X[rows]
        out[rows] = np.einsum("ij,ij->i", block, block)[:, None] - 2.0 * block @ centers.T + center_norms
    return np.maximum(out, 0.0)


@njit(cache=True, nogil=True)
def _direct_distances(X, centers, out):  # pragma: no cover - compiled
    for i in range(X.shape[0]):
        for j in range(centers.shape[0]):
            total = 0.0
            for a in range(X.shape[1]):
                difference = X[i, a] - centers[j, a]
                total += difference * difference
            out[i, j] = total


def _draw(values: np.ndarray, order: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Rows drawn with probability ``∝ values`` by inverse CDF over the rows taken in ``order``."""
    cumulative = np.cumsum(values[order])
    index = np.searchsorted(cumulative, uniforms * cumulative[-1], side="right")
    return order[np.minimum(index, cumulative.size - 1)]


def kmeans_plusplus(X, n_clusters: int, rng: np.random.Generator, sample_weight=None,
                    n_local_trials: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with local trials).

    The first center is a row drawn with probability ``∝ w_i``; each next one is the best (lowest
    weighted potential ``Σ w_i min_j D²(x_i, c_j)``) of ``2 + ⌊log k⌋`` rows drawn with probability
    ``∝ w_i D²(x_i)``.

    Returns
    -------
    centers : array of shape (n_clusters, d)
    indices : array of shape (n_clusters,)
        The rows chosen as centers.
    """
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    weights = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    trials = n_local_trials or 2 + int(np.log(n_clusters))
    progress = active()
    with progress.stage("k-means++ seeding", total=n_clusters, unit="center"):
        order = np.lexsort(X.T[::-1])
        indices = np.empty(n_clusters, dtype=int)
        if n * trials * X.shape[1] <= DIRECT_DISTANCES:   # the draws of the loop below, drawn at once
            _direct_seeding(X, weights, order, rng.uniform(size=1 + trials * (n_clusters - 1)), trials, indices)
            progress.advance(n_clusters)
            return X[indices].copy(), indices
        indices[0] = _draw(weights, order, rng.uniform(size=1))[0]
        closest = squared_distances(X, X[indices[:1]])[:, 0]
        progress.advance()
        for c in range(1, n_clusters):
            potential = weights * closest
            if not potential.sum() > 0:  # every positive-weight row is already a center
                potential = weights
            candidates = _draw(potential, order, rng.uniform(size=trials))
            candidate_closest = np.minimum(closest[:, None], squared_distances(X, X[candidates]))
            best = int(np.argmin(weights @ candidate_closest))
            indices[c] = candidates[best]
            closest = candidate_closest[:, best]
            progress.advance()
    return X[indices].copy(), indices


def kmeans(X, n_clusters: int, rng: np.random.Generator, sample_weight=None, max_iter: int = 300,
           tol: float = 1e-4, scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means by Lloyd's algorithm from a k-means++ seeding.

    Minimizes ``Σ_i w_i ‖x_i − c_{label_i}‖²``; stops when the squared center shift is at most
    ``tol`` times the mean (weighted) variance of the features, or the labels stop changing. An
    empty cluster is moved to the row farthest from its center. ``scale`` (d,): cluster the
    columns divided by it (e.g. :func:`unit_scale`; one working copy of ``X``, centred and
    scaled in place), the centers given back in the units of ``X``.

    Returns
    -------
    centers : array of shape (n_clusters, d)
    labels : array of shape (n,)
    """
    X = np.asarray(X, dtype=float)
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if _compiled_columns(X):
        origin, spread, Xc = np.empty(X.shape[1]), np.empty(X.shape[1]), np.empty_like(X)
        _column_moments(X, weights, float(weights.sum()), origin, spread)
        _scaled(X, origin, np.ones(X.shape[1]) if scale is None else scale, Xc)
        threshold = tol * float(np.mean(spread / (1.0 if scale is None else scale * scale)))
    else:
        origin = np.average(X, axis=0, weights=weights)
        Xc = X - origin
        if scale is not None:
            Xc /= scale
        # no (n, d) temporary
        threshold = tol * float(np.mean(np.einsum("ij,ij,i->j", Xc, Xc, weights) / weights.sum()))
    progress = active()
    with progress.stage("k-means", unit="iteration"):
        centers, _ = kmeans_plusplus(Xc, n_clusters, rng, weights)
        labels = np.full(X.shape[0], -1)
        if Xc.shape[0] * n_clusters * Xc.shape[1] <= DIRECT_DISTANCES:
            progress.advance(_direct_lloyd(Xc, weights, centers, labels, max_iter, threshold))
            return (centers if scale is None else centers * scale) + origin, labels
        for _ in range(max_iter):
            new_labels, own_distance = _nearest(Xc, centers)
            if np.array_equal(new_labels, labels):
                break
            labels = new_labels
            new_centers = _weighted_centers(Xc, labels, weights, centers, own_distance)
            shift = float(np.sum((new_centers - centers) ** 2))
            centers = new_centers
            progress.advance(note=f"center shift {shift:.2g} (tol {threshold:.2g})" if progress else None)
            if shift <= threshold:
                labels = _nearest(Xc, centers)[0]
                break
    return (centers if scale is None else centers * scale) + origin, labels


def _nearest(Xc: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest center (the first of equals) and its squared distance, from
    :func:`squared_distances` (large data; small data take :func:`_direct_lloyd`)."""
    distances = squared_distances(Xc, centers)
    labels = np.argmin(distances, axis=1)
    return labels, distances[np.arange(Xc.shape[0]), labels]


@njit(cache=True, nogil=True)
def _direct_nearest(X, centers, labels, own):  # pragma: no cover - compiled
    for i in range(X.shape[0]):
        best, smallest = 0, np.inf
        for j in range(centers.shape[0]):
            total = 0.0
            for a in range(X.shape[1]):
                difference = X[i, a] - centers[j, a]
                total += difference * difference
            if total < smallest:
                best, smallest = j, total
        labels[i], own[i] = best, smallest


@njit(cache=True, nogil=True)
def _cluster_sums(X, labels, weights, sums, totals):  # pragma: no cover - compiled
    for i in range(X.shape[0]):
        j = labels[i]
        totals[j] += weights[i]
        for a in range(X.shape[1]):
            sums[j, a] += weights[i] * X[i, a]


def _weighted_centers(Xc: np.ndarray, labels: np.ndarray, weights: np.ndarray, centers: np.ndarray,
                      own_distance: np.ndarray) -> np.ndarray:
    """Weighted cluster means (sums in one compiled pass); an empty cluster takes the farthest
    not-yet-used row."""
    k = centers.shape[0]
    sums, totals = np.zeros((k, Xc.shape[1])), np.zeros(k)
    _cluster_sums(Xc, labels, weights, sums, totals)
    new = centers.copy()
    filled = totals > 0
    new[filled] = sums[filled] / totals[filled, None]
    if not np.all(filled):
        order = np.argsort(-(own_distance * (weights > 0)), kind="stable")
        for j, row in zip(np.flatnonzero(~filled), order):
            new[j] = Xc[row]
    return new


@njit(cache=True, nogil=True)
def _direct_seeding(X, weights, order, uniforms, trials, indices):  # pragma: no cover - compiled
    """:func:`kmeans_plusplus`'s greedy seeding in one compiled call (small data): the same
    inverse-CDF draws over the rows in ``order`` (``uniforms``: the first center's, then
    ``trials`` per center), direct squared distances, and the candidate of least weighted
    potential (the first of equals)."""
    n, d = X.shape
    cumulative, potential = np.empty(n), np.empty(n)
    closest, trial_closest = np.empty(n), np.empty((trials, n))
    total = 0.0
    for r in range(n):
        total += weights[order[r]]
        cumulative[r] = total
    indices[0] = order[_right_index(cumulative, uniforms[0] * cumulative[n - 1])]
    _closest_to(X, indices[0], closest, closest, True)
    for c in range(1, indices.size):
        positive = False
        for i in range(n):
            potential[i] = weights[i] * closest[i]
            positive = positive or potential[i] > 0
        if not positive:   # every positive-weight row is already a center
            potential[:] = weights
        total = 0.0
        for r in range(n):
            total += potential[order[r]]
            cumulative[r] = total
        best, best_potential, chosen = 0, np.inf, indices[0]
        for t in range(trials):
            candidate = order[_right_index(cumulative, uniforms[1 + (c - 1) * trials + t] * cumulative[n - 1])]
            _closest_to(X, candidate, closest, trial_closest[t], False)
            value = 0.0
            for i in range(n):
                value += weights[i] * trial_closest[t, i]
            if value < best_potential:
                best, best_potential, chosen = t, value, candidate
        indices[c] = chosen
        closest[:] = trial_closest[best]


@njit(cache=True, nogil=True)
def _right_index(cumulative, value):  # pragma: no cover - compiled
    """``min(searchsorted(cumulative, value, side="right"), n − 1)``."""
    low, high = 0, cumulative.size
    while low < high:
        middle = (low + high) // 2
        if cumulative[middle] <= value:
            low = middle + 1
        else:
            high = middle
    return min(low, cumulative.size - 1)


@njit(cache=True, nogil=True)
def _closest_to(X, row, closest, out, first):  # pragma: no cover - compiled
    """``out_i = min(closest_i, ‖x_i − x_row‖²)`` (``first``: the distance alone)."""
    for i in range(X.shape[0]):
        total = 0.0
        for a in range(X.shape[1]):
            difference = X[i, a] - X[row, a]
            total += difference * difference
        out[i] = total if first else min(closest[i], total)


@njit(cache=True, nogil=True)
def _direct_lloyd(X, weights, centers, labels, max_iter, threshold):  # pragma: no cover - compiled
    """Lloyd's iterations of :func:`kmeans` in one compiled call (small data; ``centers`` and
    ``labels`` updated in place): nearest centers, weighted cluster means (an empty cluster
    takes the farthest not-yet-used row), until the labels repeat, the squared center shift is
    at most ``threshold`` (then the labels of the last centers) or ``max_iter``. Returns the
    number of center updates."""
    n, k = X.shape[0], centers.shape[0]
    new_labels, own = np.empty(n, dtype=np.int64), np.empty(n)
    sums, totals = np.empty((k, X.shape[1])), np.empty(k)
    for iteration in range(max_iter):
        _direct_nearest(X, centers, new_labels, own)
        if np.array_equal(new_labels, labels):
            return iteration
        labels[:] = new_labels
        sums[:], totals[:] = 0.0, 0.0
        _cluster_sums(X, labels, weights, sums, totals)
        new = centers.copy()
        empty = 0
        for j in range(k):
            if totals[j] > 0:
                new[j] = sums[j] / totals[j]
            else:
                empty += 1
        if empty:
            farthest = np.argsort(-(own * (weights > 0)), kind="mergesort")
            used = 0
            for j in range(k):
                if not totals[j] > 0:
                    new[j] = X[farthest[used]]
                    used += 1
        shift = 0.0
        for j in range(k):
            for a in range(X.shape[1]):
                shift += (new[j, a] - centers[j, a]) ** 2
        centers[:] = new
        if shift <= threshold:
            _direct_nearest(X, centers, labels, own)
            return iteration + 1
    return max_iter


@njit(cache=True, nogil=True)
def _scaled(X, origin, scale, out):  # pragma: no cover - compiled
    """``out = (X − origin) / scale``."""
    for i in range(X.shape[0]):
        for a in range(X.shape[1]):
            out[i, a] = (X[i, a] - origin[a]) / scale[a]
