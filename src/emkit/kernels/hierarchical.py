"""Model-based agglomerative hierarchical clustering (mclust's ``hc``/``hclass``), to start EM.

Each step merges the two clusters whose merge changes a classification criterion
``Σ_C T(C)`` least (Banfield & Raftery 1993; Fraley 1998, "Algorithms for model-based
Gaussian hierarchical clustering", SIAM J. Sci. Comput. 20). For a cluster ``C`` of ``l``
rows with scatter ``W_C = Σ_{i∈C} (x_i − x̄_C)(x_i − x̄_C)ᵀ`` the terms are mclust's:

* ``"VVV"`` (mclust's default): ``T(C) = l log(det(W_C / l)·[l > p] + β (tr W_C + α) / l)``,
  with ``α = tr W / (n p)`` of the whole data and ``β = 1``: the trace term keeps the
  criterion finite for clusters whose scatter is singular (at most ``p`` rows: determinant
  left out), and a singleton's term is ``log(α β)``;
* ``"EII"`` (and ``"E"`` in one dimension): Ward's sum of squares, ``T(C) = tr W_C``;
* ``"VII"``: ``T(C) = l log((tr W_C + α) / l)`` with ``α = tr W / (n p)`` (mclust's ``hcVII``);
  ``"V"`` is the same in one dimension, with mclust's ``α`` = machine epsilon;
* ``"EEE"``: one pooled scatter ``W = Σ_C W_C`` for all clusters, ``n log det(W / n)``; since that
  changes with every merge, it has its own kernel (:func:`_agglomerate_eee`, mclust's ``hceee``):
  on the data scaled by ``1/√n`` it merges the pair of least ``tr W`` while ``W`` has rank below
  ``p − 1`` merges, then of least ``log(det W + tr W)`` while the least ``log det W`` stays below
  ``log(tr T / (n p))`` (``T`` the total scatter; when a pair's ``log det W`` reaches it, that pair),
  and of least ``log det W`` from then on. ``det(W + v vᵀ)`` is ``det W (1 + ‖R⁻ᵀ v‖²)`` for the
  Cholesky factor ``R`` of ``W`` (``O(p)`` a pair), or, while ``W`` is singular, the determinant of
  ``R`` updated by Givens rotations as mclust computes every one (``O(p²)`` a pair). Every merge
  rescans every pair: ``O(g³ p)`` for the tree, as mclust's.

The merge costs ``T(C_i ∪ C_j) − T(C_i) − T(C_j)`` of all pairs are kept (``O(g²)`` memory
for ``g`` starting clusters), each merge recomputes only the merged cluster's row (``O(g p³)``:
the merged scatter is ``W_i + W_j + n_i n_j/(n_i+n_j) (x̄_i − x̄_j)(x̄_i − x̄_j)ᵀ``) and the
per-column minima, so the whole tree costs ``O(g² p³)`` instead of the naive ``O(g³ p³)``.
Ties go as in mclust's Fortran: the merged cluster takes the lower slot, the last slot moves
into the freed one, among equal costs the last pair in the packed order ``(1,2), (1,3),
(2,3), (1,4), …`` wins, and the costs are formed in its order of operations (scaled sums
``√n x̄``, ``(x_i − x_j)/√2`` for two singletons), so that integer data tie where they tie there
(the determinants, from Cholesky factors rather than mclust's Givens updates, may differ in
the last bits). Memory: three packed ``g(g−1)/2`` arrays (48 MB for mclust's 2000 rows).

:func:`mclust_start_labels` is mclust's default start of ``Mclust``/``mclustBIC``: the data
transformed as ``hcUse = "SVD"`` (:func:`svd_transform`), ``"VVV"`` (``"EII"`` when ``n ≤ p``),
a random subset of :data:`SUBSET_SIZE` rows when there are more (mclust's ``subset`` option), and
quantile classes (:func:`quantile_classes`, mclust's ``qclass``) for one-dimensional data.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numba import njit

#: Criteria of :func:`agglomerate` (codes of the compiled kernels; EEE has its own).
MODELS = {"EII": 0, "E": 0, "VVV": 1, "V": 2, "VII": 2, "EEE": 3}

#: Criteria for one column only.
ONE_DIMENSIONAL = ("E", "V")

#: ``hceee``'s EPSMIN (half of machine epsilon): the least trace it takes.
EPS_MIN = 1.1102230246251565e-16

#: mclust.options("subset"): above this many rows the tree is grown on a random subset.
SUBSET_SIZE = 2000

#: 1/√2 as mclust's Fortran writes it.
SQRT_HALF = 0.7071067811865476

#: Trees kept for reuse (a selection grid fits every k and covariance type on the same data).
_CACHE_SIZE = 8
_trees: OrderedDict[bytes, "Tree"] = OrderedDict()


@dataclass(frozen=True)
class Tree:
    """The merges of an agglomeration of ``n`` rows: ``merges[s] = (a, b)``, ``a < b``, joins the
    cluster labelled ``b`` into the one labelled ``a`` (a cluster's label is its first row);
    ``costs[s]`` is what the merge minimised (the criterion's change; for EEE the pooled
    criterion of its phase after the merge)."""

    n: int
    merges: np.ndarray
    costs: np.ndarray

    def labels(self, n_clusters: int) -> np.ndarray:
        """The partition into ``n_clusters`` (mclust's ``hclass``): labels ``0..G−1`` numbered by
        first appearance, after the first ``n − G`` merges."""
        if not 1 <= n_clusters <= self.n or self.n - n_clusters > len(self.merges):
            raise ValueError(f"n_clusters: expected 1..{self.n} (the tree has {len(self.merges)} merges "
                             f"of {self.n} rows), got {n_clusters}")
        root = np.arange(self.n)
        for a, b in self.merges[: self.n - n_clusters]:
            root[root == b] = a
        _, first, inverse = np.unique(root, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return rank[inverse]


def svd_transform(X: np.ndarray) -> np.ndarray:
    """mclust's ``hcUse = "SVD"`` (its default since 5.4): columns centred and scaled to unit
    standard deviation (``n − 1``), constant columns dropped, then ``Z = X_s V S^{-1/2} = U S^{1/2}``
    from the thin SVD ``X_s = U S Vᵀ`` (directions with a zero singular value dropped)."""
    X = np.asarray(X, dtype=float)
    if X.shape[0] < 2:
        return np.zeros((X.shape[0], 0))
    sd = np.std(X, axis=0, ddof=1)
    keep = sd > 0
    scaled = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]
    u, s, _ = np.linalg.svd(scaled, full_matrices=False)
    kept = s > s[:1].max(initial=0.0) * max(scaled.shape) * np.finfo(float).eps
    return u[:, kept] * np.sqrt(s[kept])


def agglomerate(Z: np.ndarray, model: str = "VVV", min_clusters: int = 1, alpha: float | None = None,
                beta: float = 1.0) -> Tree:
    """Merge the rows of ``Z`` (one cluster each) down to ``min_clusters`` by criterion ``model``.

    Parameters
    ----------
    Z : array of shape (n, p)
        Data (already transformed; the tree is grown on ``Z`` as given).
    model : {"VVV", "EEE", "VII", "EII", "E", "V"}
        The criterion (module docstring); ``"E"`` and ``"V"`` need one column.
    min_clusters : int
        Where to stop.
    alpha, beta : float
        ``"VVV"``, ``"VII"`` and ``"V"``'s regularisation; default mclust's (``tr W/(n p)``,
        ``tr W/(n p)`` and machine epsilon, each at least machine epsilon).
    """
    Z = np.ascontiguousarray(Z, dtype=float)
    if Z.ndim != 2 or not np.all(np.isfinite(Z)):
        raise ValueError("Z: expected a finite 2-D array")
    if model not in MODELS:
        raise ValueError(f"model: expected one of {tuple(MODELS)}, got {model!r}")
    n, p = Z.shape
    if model in ONE_DIMENSIONAL and p != 1:
        raise ValueError(f"model: {model!r} is for one-dimensional data, got {p} columns")
    if not 1 <= min_clusters <= n:
        raise ValueError(f"min_clusters: expected 1..{n}, got {min_clusters}")
    if alpha is None:
        spread = float(((Z - Z.mean(axis=0)) ** 2).sum()) / (n * max(p, 1))
        alpha = spread if model in ("VVV", "VII") else 0.0
    alpha = max(float(alpha), np.finfo(float).eps)
    if model == "EEE":
        merges, costs = _agglomerate_eee(Z, n - min_clusters)
    else:
        merges, costs = _agglomerate(Z, MODELS[model], n - min_clusters, alpha, float(beta))
    return Tree(n, merges, costs)


def quantile_classes(x: np.ndarray, n_classes: int) -> np.ndarray:
    """mclust's ``qclass``: ``n_classes`` intervals between sample quantiles (R's type 7; more
    quantiles taken while ties merge some, then the narrowest gaps removed), labels ``0..G−1``
    from the left."""
    x = np.asarray(x, dtype=float).ravel()
    eps = np.std(x, ddof=1) * np.sqrt(np.finfo(float).eps) if x.size > 1 else 0.0
    count = n_classes
    cuts = np.array([np.nan])
    while len(cuts) < n_classes + 1:
        count += 1
        cuts = np.unique(np.quantile(x, np.linspace(0.0, 1.0, count)))
        if count > x.size + n_classes + 1:
            break
    if len(cuts) > n_classes + 1:
        drop = np.argsort(np.diff(cuts), kind="stable")[: len(cuts) - n_classes - 1]
        cuts = np.delete(cuts, drop)
    cuts[0], cuts[-1] = x.min() - eps, x.max() + eps
    return np.clip(np.searchsorted(cuts, x, side="right") - 1, 0, n_classes - 1)


def mclust_start_labels(X: np.ndarray, n_components: int, rng: np.random.Generator,
                        model: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """mclust's default starting classification for ``G = n_components``: returns ``(rows, labels)``,
    the rows the classification covers (all, or mclust's random subset of :data:`SUBSET_SIZE`
    when there are more; ``rng`` draws it) and their labels ``0..G−1``.

    ``model`` None (mclust's defaults): one column, :func:`quantile_classes`; else the tree of
    :func:`agglomerate` on :func:`svd_transform` ``(X[rows])`` by ``"VVV"`` (mclust's
    ``hcModelName``; ``"EII"`` when ``n ≤ p``). A name of :data:`MODELS` (mclust's ``hcModelName``
    set): that criterion's tree, in one dimension too. Trees are computed once per data set and
    criterion and reused for every ``G`` (cached on the bytes of ``X[rows]``).
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if model is not None and model not in MODELS:
        raise ValueError(f"model: expected one of {tuple(MODELS)} or None, got {model!r}")
    if model in ONE_DIMENSIONAL and p != 1:
        raise ValueError(f"model: {model!r} is for one-dimensional data, got {p} columns")
    rows = np.arange(n) if n <= SUBSET_SIZE else np.sort(rng.choice(n, size=SUBSET_SIZE, replace=False))
    subset = X[rows]
    if model is None and p == 1:
        return rows, quantile_classes(subset[:, 0], n_components)
    if model is None:
        model = "VVV" if len(rows) > p else "EII"
    return rows, cached_tree(subset, model).labels(n_components)


def cached_tree(X: np.ndarray, model: str) -> Tree:
    """:func:`agglomerate` of :func:`svd_transform` ``(X)`` by ``model``, kept for the next call
    with the same data (a small least-recently-used cache keyed on a digest of the bytes)."""
    X = np.ascontiguousarray(X, dtype=float)
    key = hashlib.blake2b(X.tobytes(), digest_size=20, person=model.encode()).digest() + repr(X.shape).encode()
    if key in _trees:
        _trees.move_to_end(key)
        return _trees[key]
    Z = svd_transform(X)
    tree = agglomerate(Z if Z.shape[1] else np.zeros((len(X), 1)), model)
    _trees[key] = tree
    if len(_trees) > _CACHE_SIZE:
        _trees.popitem(last=False)
    return tree


# ----------------------------------------------------------------------------- compiled kernel
@njit(cache=True, nogil=True)
def _log_det_or_nan(matrix, scratch):  # pragma: no cover - compiled
    """``log det`` of a symmetric matrix by Cholesky (into ``scratch``), NaN when not positive
    definite."""
    p = matrix.shape[0]
    total = 0.0
    for j in range(p):
        pivot = matrix[j, j]
        for k in range(j):
            pivot -= scratch[j, k] * scratch[j, k]
        if not pivot > 0.0:
            return np.nan
        root = np.sqrt(pivot)
        scratch[j, j] = root
        total += 2.0 * np.log(root)
        for i in range(j + 1, p):
            value = matrix[i, j]
            for k in range(j):
                value -= scratch[i, k] * scratch[j, k]
            scratch[i, j] = value / root
    return total


@njit(cache=True, nogil=True)
def _merged(model, a, b, count, loc, trace, term, scatter, alpha, beta, work, scratch, work_v):  # pragma: no cover
    """``(change, term, trace)`` of the union of slots ``a < b``: the criterion's change, the
    union's term and trace (``work`` receives its scatter for VVV, ``work_v`` the vector ``v``).

    Ward (``model`` 0; ``loc`` the means): ``n_a n_b/(n_a+n_b) ‖x̄_a − x̄_b‖²`` directly. VVV and V
    (``loc`` the scaled sums ``√n x̄``, as mclust keeps them): ``v = √(n_b/n) loc_a − √(n_a/n) loc_b``
    (``(x_a − x_b)/√2`` for two VVV singletons), ``tr = (tr_a + tr_b) + ‖v‖²`` and
    ``change = T − (T_a + T_b)``, in mclust's order of operations, so that equal costs tie as
    they do there.
    """
    na, nb = count[a], count[b]
    nab = na + nb
    p = loc.shape[1]
    if model == 0:
        factor = na * nb / nab
        gap = 0.0
        for j in range(p):
            delta = loc[a, j] - loc[b, j]
            gap += delta * delta
        tr = trace[a] + trace[b] + factor * gap
        return factor * gap, tr, tr
    if model == 1 and na == 1.0 and nb == 1.0:
        for j in range(p):
            work_v[j] = (loc[a, j] - loc[b, j]) * SQRT_HALF
    else:
        q = 1.0 / nab
        sa, sb = np.sqrt(na * q), np.sqrt(nb * q)
        for j in range(p):
            work_v[j] = sb * loc[a, j] - sa * loc[b, j]
    gap = 0.0
    for j in range(p):
        gap += work_v[j] * work_v[j]
    tr = (trace[a] + trace[b]) + gap
    if model == 2:
        t = nab * np.log((tr + alpha) / nab)
        return t - (term[a] + term[b]), t, tr
    penalty = beta * (tr + alpha) / nab
    if nab <= p:
        t = nab * np.log(penalty)
        return t - (term[a] + term[b]), t, tr
    for i in range(p):
        for j in range(p):
            work[i, j] = (scatter[a, i, j] + scatter[b, i, j] + work_v[i] * work_v[j]) / nab
    log_det = _log_det_or_nan(work, scratch)
    if np.isnan(log_det) or tr == 0.0:
        t = nab * np.log(penalty)
    else:
        log_penalty = np.log(penalty)
        high = max(log_det, log_penalty)
        t = nab * (high + np.log(np.exp(log_det - high) + np.exp(log_penalty - high)))
    return t - (term[a] + term[b]), t, tr


@njit(cache=True, nogil=True)
def _at(i, j):  # pragma: no cover - compiled
    """Packed index of the pair ``i < j`` (column-major upper triangle, as mclust stores it)."""
    return j * (j - 1) // 2 + i


@njit(cache=True, nogil=True)
def _rescan(j, cost, col_min, col_arg):  # pragma: no cover - compiled
    """Column ``j``'s minimum over rows ``0..j−1`` (the last row among equals)."""
    best = np.inf
    arg = -1
    for i in range(j):
        value = cost[_at(i, j)]
        if value <= best:
            best = value
            arg = i
    col_min[j] = best
    col_arg[j] = arg


@njit(cache=True, nogil=True)
def _agglomerate(Z, model, n_merges, alpha, beta):  # pragma: no cover - compiled
    n, p = Z.shape
    count = np.ones(n)
    loc = Z.copy()  # means (Ward) or scaled sums √n·x̄ (VVV, V), which are the rows at first
    trace = np.zeros(n)
    term = np.zeros(n)
    singleton = 0.0 if model == 0 else np.log(alpha * beta) if model == 1 else np.log(alpha)
    term[:] = singleton
    scatter = np.zeros((n, p, p)) if model == 1 else np.zeros((1, 1, 1))
    label = np.arange(n)
    work = np.zeros((p, p))
    scratch = np.zeros((p, p))
    vector = np.zeros(p)
    cost = np.empty(n * (n - 1) // 2)
    merged_term = np.empty(n * (n - 1) // 2)
    merged_trace = np.empty(n * (n - 1) // 2)
    for j in range(1, n):
        for i in range(j):
            change, t, tr = _merged(model, i, j, count, loc, trace, term, scatter, alpha, beta, work, scratch, vector)
            k = _at(i, j)
            cost[k] = change
            merged_term[k] = t
            merged_trace[k] = tr
    col_min = np.full(n, np.inf)
    col_arg = np.full(n, -1)
    for j in range(1, n):
        _rescan(j, cost, col_min, col_arg)
    merges = np.empty((n_merges, 2), dtype=np.int64)
    costs = np.empty(n_merges)
    size = n
    last_merged = -1
    for step in range(n_merges):
        best = np.inf
        jopt = -1
        for j in range(1, size):
            if col_min[j] <= best:
                best = col_min[j]
                jopt = j
        iopt = col_arg[jopt]
        k = _at(iopt, jopt)
        merges[step, 0] = min(label[iopt], label[jopt])
        merges[step, 1] = max(label[iopt], label[jopt])
        costs[step] = best
        # the union into slot iopt (mclust recomputes the term of a pair away from the last
        # merge as cost + (T_i + T_j))
        na, nb = count[iopt], count[jopt]
        nab = na + nb
        merged = merged_term[k]
        if model == 1 and step > 0 and iopt != last_merged and jopt != last_merged:
            merged = best + (term[iopt] + term[jopt])
        if model == 1:
            if na == 1.0 and nb == 1.0:
                for a in range(p):
                    work[0, a] = (loc[iopt, a] - loc[jopt, a]) * SQRT_HALF
            else:
                q = 1.0 / nab
                si, sj = np.sqrt(na * q), np.sqrt(nb * q)
                for a in range(p):
                    work[0, a] = sj * loc[iopt, a] - si * loc[jopt, a]
            for a in range(p):
                for b in range(p):
                    scatter[iopt, a, b] += scatter[jopt, a, b] + work[0, a] * work[0, b]
        if model == 0:
            for a in range(p):
                loc[iopt, a] = (na * loc[iopt, a] + nb * loc[jopt, a]) / nab
        else:
            q = 1.0 / nab
            si, sj = np.sqrt(na * q), np.sqrt(nb * q)
            for a in range(p):
                loc[iopt, a] = si * loc[iopt, a] + sj * loc[jopt, a]
        count[iopt] = nab
        term[iopt] = merged
        trace[iopt] = merged_trace[k]
        last_merged = iopt
        label[iopt] = min(label[iopt], label[jopt])
        # the last slot moves into the freed one
        last = size - 1
        if jopt != last:
            count[jopt] = count[last]
            loc[jopt] = loc[last]
            trace[jopt] = trace[last]
            term[jopt] = term[last]
            label[jopt] = label[last]
            if model == 1:
                scatter[jopt] = scatter[last]
            for i in range(jopt):
                src, dst = _at(i, last), _at(i, jopt)
                cost[dst] = cost[src]
                merged_term[dst] = merged_term[src]
                merged_trace[dst] = merged_trace[src]
            for i in range(jopt + 1, last):
                src, dst = _at(i, last), _at(jopt, i)
                cost[dst] = cost[src]
                merged_term[dst] = merged_term[src]
                merged_trace[dst] = merged_trace[src]
        size = last
        # the merged cluster's costs against every other
        for other in range(size):
            if other == iopt:
                continue
            a, b = (other, iopt) if other < iopt else (iopt, other)
            change, t, tr = _merged(model, a, b, count, loc, trace, term, scatter, alpha, beta, work, scratch, vector)
            kk = _at(a, b)
            cost[kk] = change
            merged_term[kk] = t
            merged_trace[kk] = tr
        # the column minima
        if iopt >= 1:
            _rescan(iopt, cost, col_min, col_arg)
        for j in range(iopt + 1, size):
            if j == jopt or col_arg[j] == iopt or col_arg[j] == jopt:
                _rescan(j, cost, col_min, col_arg)
                continue
            value = cost[_at(iopt, j)]
            if value < col_min[j] or (value == col_min[j] and iopt > col_arg[j]):
                col_min[j] = value
                col_arg[j] = iopt
            if jopt < j:
                value = cost[_at(jopt, j)]
                if value < col_min[j] or (value == col_min[j] and jopt > col_arg[j]):
                    col_min[j] = value
                    col_arg[j] = jopt
    return merges, costs


# ----------------------------------------------------------------------------- EEE (hceee)
@njit(cache=True, nogil=True)
def _append_row(R, rows, v):  # pragma: no cover - compiled
    """Add the row ``v`` (overwritten) to the upper triangular ``R`` whose first ``rows`` rows are
    filled, so that ``RᵀR`` gains ``v vᵀ`` (mclust's ``mclrup``: reference BLAS Givens rotations
    ``drotg``/``drot``); returns the rows filled after it."""
    p = R.shape[0]
    for i in range(p):
        if i == rows:
            for j in range(i, p):
                R[i, j] = v[j]
            return rows + 1
        a, b = R[i, i], v[i]
        scale = abs(a) + abs(b)
        if scale == 0.0:
            c, s, r = 1.0, 0.0, 0.0
        else:
            r = scale * np.sqrt((a / scale) ** 2 + (b / scale) ** 2)
            if (a if abs(a) > abs(b) else b) < 0.0:
                r = -r
            c, s = a / r, b / r
        R[i, i] = r
        for j in range(i + 1, p):
            x, y = R[i, j], v[j]
            R[i, j] = c * x + s * y
            v[j] = c * y - s * x
    return rows


@njit(cache=True, nogil=True)
def _log_det_triangular(R):  # pragma: no cover - compiled
    """``log det(RᵀR) = 2 Σ log|R_kk|``, −∞ when a diagonal entry is zero (mclust's ``detmc2``)."""
    total = 0.0
    for k in range(R.shape[0]):
        if R[k, k] == 0.0:
            return -np.inf
        total += np.log(abs(R[k, k]))
    return 2.0 * total


@njit(cache=True, nogil=True)
def _pair_vector(loc, count, i, j, out):  # pragma: no cover - compiled
    """``out = √(n_j/n) loc_i − √(n_i/n) loc_j`` (``n = n_i + n_j``): the merge adds ``out outᵀ`` to
    the scatter; returns ``(√(n_i/n), √(n_j/n))``, the weights of the merged scaled sum."""
    total = count[i] + count[j]
    si, sj = np.sqrt(count[i] / total), np.sqrt(count[j] / total)
    for a in range(loc.shape[1]):
        out[a] = sj * loc[i, a] - si * loc[j, a]
    return si, sj


@njit(cache=True, nogil=True)
def _log_det_plus_trace(d, t):  # pragma: no cover - compiled
    """``log(exp(d) + t)`` as hceee forms it (``t`` at least EPSMIN; −∞ for ``t = 0``)."""
    if t == 0.0:
        return -np.inf
    z = max(t, EPS_MIN)
    if d == -np.inf:
        return np.log(z)
    if d <= 0.0:
        return np.log(np.exp(d) + z)
    return np.log(1.0 + z * np.exp(-d)) + d


@njit(cache=True, nogil=True)
def _whitened_gap(whitened, i, j, si, sj):  # pragma: no cover - compiled
    """``‖R⁻ᵀ v‖²`` of the pair's vector from the rows ``whitened = loc R⁻¹``."""
    gap = 0.0
    for a in range(whitened.shape[1]):
        y = sj * whitened[i, a] - si * whitened[j, a]
        gap += y * y
    return gap


@njit(cache=True, nogil=True)
def _agglomerate_eee(Z, n_merges):  # pragma: no cover - compiled
    """mclust's ``hceee`` from singletons (module docstring): merges and what each minimised."""
    n, p = Z.shape
    loc = Z * (1.0 / np.sqrt(n))
    # tr T / (n p) as hceee forms it
    root = 1.0 / np.sqrt(p)
    centre = np.zeros(p)
    for k in range(n):
        for a in range(p):
            centre[a] += root / n * loc[k, a]
    total_trace = 0.0
    for k in range(n):
        for a in range(p):
            d = centre[a] - root * loc[k, a]
            total_trace += d * d
    threshold = np.log(total_trace + EPS_MIN)
    count = np.ones(n)
    label = np.arange(n)
    R = np.zeros((p, p))
    rows = 0
    trace = 0.0
    log_det = -np.inf
    phase = 1
    v = np.zeros(p)
    best_v = np.zeros(p)
    copy = np.zeros((p, p))
    whitened = np.zeros((n, p))
    merges = np.empty((n_merges, 2), dtype=np.int64)
    costs = np.empty(n_merges)
    for step in range(n_merges):
        size = n - step
        if phase == 1 and rows + 1 >= p:
            phase = 2
        singular = not np.isfinite(log_det)
        if phase > 1 and not singular:
            # whitened rows: solve Rᵀ y = loc_k
            for k in range(size):
                for a in range(p):
                    value = loc[k, a]
                    for b in range(a):
                        value -= R[b, a] * whitened[k, b]
                    whitened[k, a] = value / R[a, a]
        iopt = jopt = -1
        best = np.inf
        if phase == 1:
            for j in range(1, size):
                for i in range(j):
                    _pair_vector(loc, count, i, j, v)
                    z = max(trace + np.dot(v, v), EPS_MIN)
                    if z <= best:
                        best, iopt, jopt = z, i, j
            trace = best
        elif singular:
            # W singular: every pair's determinant from a Givens update of R, as mclust
            det_best, det_trace, det_i, det_j = np.inf, 0.0, -1, -1
            z_det, z_trace = 0.0, 0.0
            for j in range(1, size):
                for i in range(j):
                    _pair_vector(loc, count, i, j, v)
                    t = trace + np.dot(v, v)
                    copy[:, :] = R
                    _append_row(copy, rows, v)
                    d = _log_det_triangular(copy)
                    if d <= det_best:
                        det_best, det_trace, det_i, det_j = d, t, i, j
                    if phase == 2:
                        z = _log_det_plus_trace(d, t)
                        if z <= best:
                            best, z_det, z_trace, iopt, jopt = z, d, t, i, j
            if phase == 2 and det_best < threshold:
                trace, log_det = z_trace, z_det
            else:
                best, iopt, jopt, log_det = det_best, det_i, det_j, det_best
                trace = det_trace
                phase = 3
        else:
            # det(W + v vᵀ) = det W (1 + gap): compare gaps, and det + trace scaled by det W
            # (exp(log det W) when it is at most 1, else 1/that on the trace), logs of the chosen only
            shrink = np.exp(log_det) if log_det <= 0.0 else 1.0
            stretch = 1.0 if log_det <= 0.0 else np.exp(-log_det)
            gap_best, det_trace, det_i, det_j = np.inf, 0.0, -1, -1
            key_best, z_gap, z_trace = np.inf, 0.0, 0.0
            for j in range(1, size):
                for i in range(j):
                    si, sj = _pair_vector(loc, count, i, j, v)
                    gap = _whitened_gap(whitened, i, j, si, sj)
                    t = trace + np.dot(v, v) if phase == 2 else 0.0
                    if gap <= gap_best:
                        gap_best, det_trace, det_i, det_j = gap, t, i, j
                    if phase == 2:
                        key = shrink * (1.0 + gap) + stretch * max(t, EPS_MIN)
                        if key <= key_best:
                            key_best, z_gap, z_trace, iopt, jopt = key, gap, t, i, j
            det_best = log_det + np.log1p(gap_best)
            if phase == 2 and det_best < threshold:
                log_det = log_det + np.log1p(z_gap)
                trace = z_trace
                best = _log_det_plus_trace(log_det, trace)
            else:
                best, iopt, jopt, log_det = det_best, det_i, det_j, det_best
                if phase == 2:
                    trace = det_trace
                else:
                    _pair_vector(loc, count, iopt, jopt, v)
                    trace += np.dot(v, v)
                phase = 3
        # the merge: the Cholesky factor gains the pair's vector, the union takes slot iopt
        si, sj = _pair_vector(loc, count, iopt, jopt, best_v)
        rows = _append_row(R, rows, best_v)
        if phase > 1:
            log_det = _log_det_triangular(R)
        if phase == 2 and log_det >= threshold:
            phase = 3
        merges[step, 0] = min(label[iopt], label[jopt])
        merges[step, 1] = max(label[iopt], label[jopt])
        costs[step] = best
        for a in range(p):
            loc[iopt, a] = si * loc[iopt, a] + sj * loc[jopt, a]
        count[iopt] += count[jopt]
        label[iopt] = min(label[iopt], label[jopt])
        last = size - 1
        if jopt != last:
            loc[jopt] = loc[last]
            count[jopt] = count[last]
            label[jopt] = label[last]
    return merges, costs
