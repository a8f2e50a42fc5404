"""mclust's default start: model-based agglomerative hierarchical clustering (``init_params="hc"``).

Each merge criterion is checked against a brute force that, at every step, evaluates the
criterion for every pair of current clusters from their rows; the transformation against
mclust's formula (``hcUse = "SVD"``); and the start against the maximum of well separated data.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emkit.kernels.hierarchical as hierarchical
from emkit import GaussianMixture
from emkit.kernels.hierarchical import (agglomerate, cached_tree, mclust_start_labels, quantile_classes,
                                        svd_transform)
from emkit.models.gaussian_mixture import initial_responsibilities

EPS = np.finfo(float).eps


def _term(rows: np.ndarray, model: str, alpha: float) -> float:
    """The criterion's term of one cluster, from its rows."""
    l, p = rows.shape
    centred = rows - rows.mean(axis=0)
    scatter = centred.T @ centred
    trace = float(np.trace(scatter))
    if model in ("EII", "E"):
        return trace
    if model in ("V", "VII"):
        return l * np.log((trace + alpha) / l)
    det = 0.0
    if l > p and trace > 0:
        sign, logdet = np.linalg.slogdet(scatter / l)
        det = np.exp(logdet) if sign > 0 else 0.0
    return l * np.log(det + (trace + alpha) / l)


def _brute_force(Z: np.ndarray, model: str, alpha: float) -> list[tuple[int, int]]:
    """Every pair's criterion change at every step; the merges as (first row, first row)."""
    clusters = [[i] for i in range(len(Z))]
    merges = []
    while len(clusters) > 1:
        best, pair = np.inf, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                union = clusters[a] + clusters[b]
                change = (_term(Z[union], model, alpha) - _term(Z[clusters[a]], model, alpha)
                          - _term(Z[clusters[b]], model, alpha))
                if change < best:
                    best, pair = change, (a, b)
        a, b = pair
        merges.append((min(clusters[a] + clusters[b]), max(min(clusters[a]), min(clusters[b]))))
        clusters[a] = sorted(clusters[a] + clusters[b])
        del clusters[b]
    return merges


def _partition(merges, n: int, G: int) -> np.ndarray:
    """Labels by first appearance after the first n − G merges (an independent hclass)."""
    group = list(range(n))
    for a, b in merges[: n - G]:
        group = [a if g == b else g for g in group]
    order = {}
    return np.array([order.setdefault(g, len(order)) for g in group])


@pytest.mark.parametrize("model, p", [("VVV", 2), ("VVV", 3), ("EII", 2), ("E", 1), ("V", 1), ("VII", 2),
                                      ("VII", 3)])
def test_each_criterion_matches_brute_force(model, p):
    rng = np.random.default_rng(p + len(model))
    Z = np.vstack([rng.normal(size=(12, p)) * 0.5, rng.normal(size=(10, p)) * 2 + 4,
                   rng.normal(size=(8, p)) + [-5] * p])
    spread = float(((Z - Z.mean(axis=0)) ** 2).sum()) / Z.size
    alpha = spread if model in ("VVV", "VII") else EPS
    tree = agglomerate(Z, model)
    expected = _brute_force(Z, model, alpha)
    assert [tuple(m) for m in tree.merges] == expected
    assert np.all(np.isfinite(tree.costs))
    for G in range(1, len(Z) + 1):
        np.testing.assert_array_equal(tree.labels(G), _partition(expected, len(Z), G))


def _eee_brute_force(Z: np.ndarray) -> list[tuple[int, int]]:
    """mclust's hceee from its definition, every pair's pooled scatter formed from the rows (of the
    data scaled by 1/√n): the least trace for the first p − 1 merges (W singular), then the least
    log(det W + tr W) while the least log det W is below log(tr T/(n p)), then the least log det W."""
    n, p = Z.shape
    X = Z / np.sqrt(n)
    threshold = np.log(((X - X.mean(axis=0)) ** 2).sum() / p + EPS / 2)
    clusters = [[i] for i in range(n)]
    merges, phase = [], 1

    def pooled(groups):
        scatter = sum((X[g] - X[g].mean(axis=0)).T @ (X[g] - X[g].mean(axis=0)) for g in groups)
        sign, log_det = np.linalg.slogdet(scatter)
        return float(np.trace(scatter)), (log_det if sign > 0 else -np.inf)

    while len(clusters) > 1:
        if phase == 1 and len(merges) >= p - 1:
            phase = 2
        options = []
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                rest = [c for k, c in enumerate(clusters) if k not in (a, b)]
                trace, log_det = pooled(rest + [clusters[a] + clusters[b]])
                options.append((trace, log_det, np.log(np.exp(log_det) + trace), (a, b)))
        if phase == 1:
            pick = min(options, key=lambda o: o[0])
        elif phase == 2 and min(o[1] for o in options) < threshold:
            pick = min(options, key=lambda o: o[2])
        else:
            pick, phase = min(options, key=lambda o: o[1]), 3
        if phase == 2 and pick[1] >= threshold:
            phase = 3
        a, b = pick[3]
        merges.append((min(clusters[a] + clusters[b]), max(min(clusters[a]), min(clusters[b]))))
        clusters[a] = sorted(clusters[a] + clusters[b])
        del clusters[b]
    return merges


@pytest.mark.parametrize("p, scale", [(2, 1.0), (3, 1.0), (3, 30.0), (1, 1.0)])
def test_eee_matches_its_definition(p, scale):
    """Every phase of mclust's hceee (trace, log(det + trace), log det) against the pooled scatter
    of every candidate partition, formed from its rows; ``scale`` moves the phase boundary."""
    rng = np.random.default_rng(10 + p)
    shape = np.tril(rng.normal(size=(p, p))) + 2 * np.eye(p)
    Z = np.vstack([rng.normal(size=(11, p)) @ shape, rng.normal(size=(9, p)) @ shape + 6,
                   rng.normal(size=(7, p)) @ shape - 6]) * scale
    tree = agglomerate(Z, "EEE")
    assert [tuple(m) for m in tree.merges] == _eee_brute_force(Z)
    assert not np.any(np.isnan(tree.costs))


def test_vvv_ignores_the_determinant_of_small_clusters():
    """Clusters of at most p rows have singular scatter: only the trace term counts, so two exact
    duplicates merge first (cost log(α/2)·2 − 2 log α < 0) and nothing is NaN."""
    Z = np.array([[0.0, 0.0, 0.0], [5.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 4.0, 0.5], [9.0, 9.0, 1.0]])
    tree = agglomerate(Z, "VVV")
    assert tuple(tree.merges[0]) == (0, 2)
    assert np.all(np.isfinite(tree.costs))
    assert [tuple(m) for m in tree.merges] == _brute_force(Z, "VVV", float(((Z - Z.mean(0)) ** 2).sum()) / Z.size)


def test_ties_go_to_the_last_pair_in_mclust_order():
    """Equally spaced points: every neighbouring pair ties; mclust's scan keeps the last pair
    of its packed order (highest second slot), here rows 3 and 4 of 0..4."""
    tree = agglomerate(np.arange(5.0)[:, None], "E")
    assert tuple(tree.merges[0]) == (3, 4)


def test_svd_transform_is_mclusts():
    """hcUse = "SVD": scale(X) %*% V %*% diag(1/sqrt(d)), from the SVD of the scaled data."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)) @ np.array([[3.0, 1.0, 0.0], [0.0, 0.2, 0.5], [0.0, 0.0, 40.0]]) + [1e3, -5, 7]
    scaled = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    _, d, vt = np.linalg.svd(scaled, full_matrices=False)
    reference = scaled @ vt.T @ np.diag(1 / np.sqrt(d))
    Z = svd_transform(X)
    # the same up to the sign of each direction (which no criterion sees)
    np.testing.assert_allclose(np.abs(Z), np.abs(reference), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Z.T @ Z, np.diag(d), rtol=1e-10, atol=1e-10)
    # the start is the tree of the transformed data, not of the raw data
    rows, labels = mclust_start_labels(X, 4, rng)
    np.testing.assert_array_equal(labels, agglomerate(reference, "VVV").labels(4))
    assert not np.array_equal(agglomerate(X, "VVV").labels(4), labels)


def test_a_constant_column_is_dropped_and_n_le_p_uses_eii():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=30), np.full(30, 3.0), rng.normal(size=30)])
    assert svd_transform(X).shape == (30, 2)
    wide = rng.normal(size=(4, 6))
    _, labels = mclust_start_labels(wide, 2, rng)
    np.testing.assert_array_equal(labels, agglomerate(svd_transform(wide), "EII").labels(2))


def test_one_dimension_uses_mclusts_quantile_classes():
    x = np.arange(1.0, 13.0)
    np.testing.assert_array_equal(quantile_classes(x, 3), np.repeat([0, 1, 2], 4))
    # ties merge quantiles: more are taken until there are G + 1 distinct ones
    tied = np.array([1.0] * 6 + [2.0, 3.0, 4.0, 5.0])
    classes = quantile_classes(tied, 3)
    assert set(classes) == {0, 1, 2}
    _, labels = mclust_start_labels(x[:, None], 3, np.random.default_rng(0))
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 4))


def test_the_tree_is_computed_once_for_every_k_and_type(monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    calls = []
    original = hierarchical.agglomerate
    monkeypatch.setattr(hierarchical, "agglomerate", lambda *a, **k: calls.append(1) or original(*a, **k))
    hierarchical._trees.clear()
    for k in (2, 3, 4):
        for covariance_type in ("full", "tied", "diag", "spherical"):
            GaussianMixture(k, covariance_type=covariance_type, init_params="hc").fit(X)
    assert len(calls) == 1


def test_gmm_select_grows_one_tree_for_its_grid(monkeypatch):
    from emkit import gmm_select

    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 6])
    calls = []
    original = hierarchical.agglomerate
    monkeypatch.setattr(hierarchical, "agglomerate", lambda *a, **k: calls.append(1) or original(*a, **k))
    hierarchical._trees.clear()
    result = gmm_select(X, n_components=range(1, 4), init_params="hc")
    assert len(calls) == 1 and len(result.table) == 12


def test_large_data_start_from_mclusts_subset(monkeypatch):
    """Above mclust's subset size the tree is grown on a random subset; the other rows start
    with zero responsibilities, so that the first M-step uses the subset only."""
    monkeypatch.setattr(hierarchical, "SUBSET_SIZE", 50)
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 8])
    resp = initial_responsibilities(X, 2, "hc", np.random.default_rng(0))
    assert (resp.sum(axis=1) == 1).sum() == 50 and (resp.sum(axis=1) == 0).sum() == 30
    fitted = GaussianMixture(2, init_params="hc", random_state=0).fit(X)
    assert sorted(np.bincount(fitted.predict(X))) == [40, 40]


def test_hc_start_lands_at_the_maximum_of_separated_clusters():
    rng = np.random.default_rng(4)
    truth = np.repeat([0, 1, 2], [60, 50, 40])
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 12.0]])
    scales = [np.array([[1.0, 0.6], [0.0, 0.5]]), np.array([[0.3, 0.0], [0.2, 2.0]]), np.eye(2) * 0.8]
    X = np.vstack([rng.normal(size=(np.sum(truth == k), 2)) @ scales[k] + centres[k] for k in range(3)])
    hc = GaussianMixture(3, init_params="hc", tol=1e-10, max_iter=1000).fit(X)
    best = GaussianMixture(3, n_init=20, tol=1e-10, max_iter=1000, random_state=0).fit(X)
    assert hc.score(X) == pytest.approx(best.score(X), rel=1e-9, abs=1e-9)
    labels = hc.predict(X)
    assert all(len(set(labels[truth == k])) == 1 for k in range(3)) and len(set(labels)) == 3


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 12), p=st.integers(1, 3), duplicates=st.integers(0, 4),
       scale=st.sampled_from([1e-6, 1.0, 1e6]), gap=st.sampled_from([0.0, 1e3]), seed=st.integers(0, 2 ** 16))
def test_every_partition_has_g_nonempty_clusters(n, p, duplicates, scale, gap, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * np.logspace(0, 3, p) * scale
    X[: n // 2] += gap
    X = np.vstack([X, X[rng.integers(0, n, size=duplicates)]])
    for model in (("VVV", "EEE", "VII", "EII") if p > 1 else ("VVV", "EEE", "VII", "EII", "E", "V")):
        tree = agglomerate(svd_transform(X) if p > 1 else X, model)
        assert not np.any(np.isnan(tree.costs))
        for G in range(1, len(X) + 1):
            labels = tree.labels(G)
            assert sorted(set(labels.tolist())) == list(range(G))
    for G in range(1, len(X) + 1):
        _, labels = mclust_start_labels(X, G, rng)
        assert len(labels) == len(X) and labels.min() >= 0 and labels.max() < G
        if p > 1:
            assert len(set(labels.tolist())) == G


def test_cached_tree_key_depends_on_the_data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 2))
    assert cached_tree(X, "VVV") is cached_tree(X.copy(), "VVV")
    assert cached_tree(X, "VVV") is not cached_tree(X[::-1], "VVV")


def _mclust_order_ward(Z: np.ndarray) -> list[tuple[int, int]]:
    """Ward merges as mclust's Fortran orders them, by full rescans: every pair's cost in
    packed order (1,2), (1,3), (2,3), ..., the last of the equal minima merged into the lower
    slot and the last slot moved into the freed one (the cost arithmetic as the kernel's, so
    that exact ties stay exact)."""
    slots = [(1.0, Z[i].astype(float).copy(), i) for i in range(len(Z))]
    merges = []
    while len(slots) > 1:
        best, pick = np.inf, None
        for j in range(1, len(slots)):
            for i in range(j):
                (na, ma, _), (nb, mb, _) = slots[i], slots[j]
                gap = 0.0
                for a, b in zip(ma, mb):
                    gap += (a - b) * (a - b)
                cost = na * nb / (na + nb) * gap
                if cost <= best:
                    best, pick = cost, (i, j)
        i, j = pick
        (na, ma, la), (nb, mb, lb) = slots[i], slots[j]
        merges.append((min(la, lb), max(la, lb)))
        slots[i] = (na + nb, (na * ma + nb * mb) / (na + nb), min(la, lb))
        slots[j] = slots[-1]
        slots.pop()
    return merges


def test_ties_follow_mclusts_packed_order_throughout():
    """An integer grid: most merge costs tie exactly; the kernel's per-column minima pick what
    mclust's full rescan picks at every step."""
    grid = np.array([[x, y] for x in range(5) for y in range(4)], dtype=float)
    rng = np.random.default_rng(6)
    for Z in (grid, grid[rng.permutation(len(grid))], np.arange(9.0)[:, None]):
        tree = agglomerate(Z, "EII")
        assert [tuple(m) for m in tree.merges] == _mclust_order_ward(Z)


@pytest.mark.parametrize("model", ["VVV", "EEE", "VII", "EII"])
def test_init_params_names_the_hc_criterion(model):
    """``init_params="hc-<model>"`` is mclust's ``hcModelName``: the start is that criterion's tree on
    the SVD-transformed data; plain ``"hc"`` is mclust's default (VVV)."""
    rng = np.random.default_rng(8)
    X = np.vstack([rng.normal(size=(25, 3)) @ np.diag([1.0, 3.0, 0.5]), rng.normal(size=(20, 3)) + 5])
    resp = initial_responsibilities(X, 3, f"hc-{model}", np.random.default_rng(0))
    np.testing.assert_array_equal(resp.argmax(axis=1), agglomerate(svd_transform(X), model).labels(3))
    default = initial_responsibilities(X, 3, "hc", np.random.default_rng(0))
    np.testing.assert_array_equal(default, initial_responsibilities(X, 3, "hc-VVV", np.random.default_rng(0)))
    fitted = GaussianMixture(3, init_params=f"hc-{model}", covariance_type="EEE").fit(X)
    assert np.isfinite(fitted.lower_bound_)


def test_one_dimensional_hc_criteria_and_errors():
    x = np.array([0.0, 0.1, 0.3, 5.0, 5.2, 9.0, 9.5, 9.6])[:, None]
    resp = initial_responsibilities(x, 3, "hc-V", np.random.default_rng(0))
    np.testing.assert_array_equal(resp.argmax(axis=1), cached_tree(x, "V").labels(3))
    with pytest.raises(ValueError, match="init_params: 'hc-E' is for one-column data"):
        initial_responsibilities(np.ones((5, 2)) + np.arange(10).reshape(5, 2), 2, "hc-E", np.random.default_rng(0))
    with pytest.raises(ValueError, match="init_params"):
        GaussianMixture(2, init_params="hc-XYZ").fit(np.arange(10.0).reshape(5, 2))
