"""Gaussian kernels against independent computations (scipy.stats, brute force, explicit formulas)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from emkit.kernels import gaussian as kg
from emkit.kernels.kmeans import kmeans, kmeans_plusplus

TYPES = kg.COVARIANCE_TYPES


def random_covariances(rng, covariance_type, k, d, scales=None):
    scales = np.ones(d) if scales is None else np.asarray(scales)
    if covariance_type == "full":
        A = rng.normal(size=(k, d, d))
        return (A @ A.transpose(0, 2, 1) + np.eye(d)) * np.outer(scales, scales)
    if covariance_type == "tied":
        A = rng.normal(size=(d, d))
        return (A @ A.T + np.eye(d)) * np.outer(scales, scales)
    if covariance_type == "diag":
        return rng.uniform(0.5, 2.0, size=(k, d)) * scales ** 2
    return rng.uniform(0.5, 2.0, size=k)


def as_full(covariances, covariance_type, k, d):
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.stack([covariances] * k)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(d) for c in covariances])


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("offset, scales", [(0.0, [1.0, 1.0, 1.0]), (1e6, [1e-2, 1.0, 1e2])])
def test_log_density_matches_scipy(covariance_type, offset, scales):
    rng = np.random.default_rng(0)
    k, d = 3, 3
    scales = np.array(scales)
    cov = random_covariances(rng, covariance_type, k, d, None if covariance_type == "spherical" else scales)
    if covariance_type == "spherical":
        scales = np.ones(d)
    means = offset + rng.normal(size=(k, d)) * scales
    X = offset + rng.normal(size=(40, d)) * scales * 2
    full = as_full(cov, covariance_type, k, d)
    ours = kg.log_gaussian_density(X, means, kg.precisions_cholesky(cov, covariance_type), covariance_type)
    reference = np.stack([multivariate_normal(means[j], full[j]).logpdf(X) for j in range(k)], axis=1)
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-10)
    # the missing-value kernel gives the same on complete rows
    np.testing.assert_allclose(kg.log_gaussian_density_missing(X, means, cov, covariance_type), reference,
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_missing_density_is_the_marginal_of_the_observed_coordinates(covariance_type):
    rng = np.random.default_rng(1)
    k, d, n = 2, 4, 60
    cov = random_covariances(rng, covariance_type, k, d)
    means = rng.normal(size=(k, d))
    X = rng.normal(size=(n, d)) * 2
    X[rng.random((n, d)) < 0.35] = np.nan
    X[0] = np.nan  # a row with nothing observed has log-density 0
    full = as_full(cov, covariance_type, k, d)
    ours = kg.log_gaussian_density_missing(X, means, cov, covariance_type)
    for i in range(n):
        o = ~np.isnan(X[i])
        for j in range(k):
            expected = multivariate_normal(means[j][o], full[j][np.ix_(o, o)]).logpdf(X[i, o]) if o.any() else 0.0
            assert ours[i, j] == pytest.approx(expected, rel=1e-11, abs=1e-11)


def test_precisions_cholesky_inverts_the_covariance_and_names_the_remedy():
    rng = np.random.default_rng(2)
    cov = random_covariances(rng, "full", 2, 3)
    pc = kg.precisions_cholesky(cov, "full")
    for j in range(2):
        np.testing.assert_allclose(pc[j] @ pc[j].T @ cov[j], np.eye(3), atol=1e-12)
        assert np.allclose(np.tril(pc[j], -1), 0.0)  # upper triangular, as scikit-learn's
    singular = cov.copy()
    singular[1] = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"component 1.*reg_covar"):
        kg.precisions_cholesky(singular, "full")
    with pytest.raises(ValueError, match="reg_covar"):
        kg.precisions_cholesky(np.array([1.0, 0.0]), "spherical")
    with pytest.raises(ValueError, match="covariance_type"):
        kg.precisions_cholesky(cov, "banana")


def brute_force_stats(X, resp, covariance_type, shift):
    Y = X - shift
    n = resp.sum(0)
    sum_x = resp.T @ Y
    outer = np.einsum("ni,nj->nij", Y, Y)
    full = np.einsum("nk,nij->kij", resp, outer)
    second = {"full": full, "tied": full.sum(0), "diag": np.einsum("kii->ki", full),
              "spherical": np.einsum("kii->k", full)}[covariance_type]
    return {"n": n, "sum_x": sum_x, "sum_xx": second}


@pytest.mark.parametrize("covariance_type", TYPES)
def test_stats_are_weighted_sums_and_add_over_row_blocks(covariance_type):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3)) + 100.0
    resp = rng.dirichlet(np.ones(2), size=50) * rng.integers(0, 4, size=50)[:, None]
    shift = X.mean(axis=0)
    whole = kg.gaussian_stats(X, resp, covariance_type, shift=shift)
    for key, value in brute_force_stats(X, resp, covariance_type, shift).items():
        np.testing.assert_allclose(whole[key], value, rtol=1e-12, atol=1e-10)
    halves = [kg.gaussian_stats(X[s], resp[s], covariance_type, shift=shift) for s in (slice(0, 21), slice(21, 50))]
    for key in whole:
        np.testing.assert_allclose(halves[0][key] + halves[1][key], whole[key], rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_m_step_is_the_weighted_mean_and_covariance_far_from_the_origin(covariance_type):
    rng = np.random.default_rng(4)
    k, d = 2, 3
    X = 1e7 + rng.normal(size=(80, d)) * [1e-2, 1.0, 10.0]
    resp = rng.dirichlet(np.ones(k), size=80)
    shift = X.mean(axis=0)
    means, cov = kg.gaussian_m_step(kg.gaussian_stats(X, resp, covariance_type, shift=shift), covariance_type,
                                    reg_covar=1e-6, shift=shift)
    nk = resp.sum(0)
    expected_means = np.stack([np.average(X, axis=0, weights=resp[:, j]) for j in range(k)])
    # two-pass scatter about each mean: the reference that does not cancel
    scatter = np.stack([((X - expected_means[j]) * resp[:, [j]]).T @ (X - expected_means[j]) for j in range(k)])
    expected = {"full": scatter / nk[:, None, None], "tied": scatter.sum(0) / nk.sum(),
                "diag": np.einsum("kii->ki", scatter) / nk[:, None],
                "spherical": np.einsum("kii->k", scatter) / nk / d}[covariance_type]
    expected = expected + 1e-6 * (np.eye(d) if covariance_type in ("full", "tied") else 1.0)
    np.testing.assert_allclose(means, expected_means, rtol=1e-14)
    np.testing.assert_allclose(cov, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_m_step_with_fixed_means_is_the_scatter_about_them(covariance_type):
    rng = np.random.default_rng(5)
    k, d = 2, 2
    X = rng.normal(size=(30, d))
    resp = rng.dirichlet(np.ones(k), size=30)
    fixed = rng.normal(size=(k, d))
    means, cov = kg.gaussian_m_step(kg.gaussian_stats(X, resp, covariance_type, shift=[0.3, -0.2]), covariance_type,
                                    0.0, shift=[0.3, -0.2], means=fixed)
    np.testing.assert_allclose(means, fixed)
    scatter = np.stack([((X - fixed[j]) * resp[:, [j]]).T @ (X - fixed[j]) for j in range(k)])
    nk = resp.sum(0)
    expected = {"full": scatter / nk[:, None, None], "tied": scatter.sum(0) / nk.sum(),
                "diag": np.einsum("kii->ki", scatter) / nk[:, None],
                "spherical": np.einsum("kii->k", scatter) / nk / d}[covariance_type]
    np.testing.assert_allclose(cov, expected, rtol=1e-12, atol=1e-14)


def brute_force_missing_stats(X, resp, means, full, covariance_type, shift):
    """Per row and component: E[x | x_o] and E[x xᵀ | x_o] with explicit inverses (test only)."""
    n, d = X.shape
    k = means.shape[0]
    n_k, sum_x, second = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
    for i in range(n):
        o = ~np.isnan(X[i])
        m = ~o
        for j in range(k):
            mu, S = means[j], full[j]
            ex = X[i].copy()
            C = np.zeros((d, d))
            if m.any():
                gain = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)]) if o.any() else np.zeros((m.sum(), 0))
                ex[m] = mu[m] + gain @ (X[i, o] - mu[o])
                C[np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
            y = ex - shift
            n_k[j] += resp[i, j]
            sum_x[j] += resp[i, j] * y
            second[j] += resp[i, j] * (np.outer(y, y) + C)
    out = {"n": n_k, "sum_x": sum_x}
    out["sum_xx"] = {"full": second, "tied": second.sum(0), "diag": np.einsum("kii->ki", second),
                     "spherical": np.einsum("kii->k", second)}[covariance_type]
    return out


@pytest.mark.parametrize("covariance_type", TYPES)
def test_missing_stats_are_the_conditional_expectations(covariance_type):
    rng = np.random.default_rng(6)
    k, d, n = 2, 3, 40
    cov = random_covariances(rng, covariance_type, k, d)
    means = rng.normal(size=(k, d))
    X = rng.normal(size=(n, d)) + 5.0
    X[rng.random((n, d)) < 0.3] = np.nan
    X[3] = np.nan
    resp = rng.dirichlet(np.ones(k), size=n)
    shift = np.array([5.0, 4.0, 6.0])
    ours = kg.gaussian_stats_missing(X, resp, means, cov, covariance_type, shift=shift)
    expected = brute_force_missing_stats(X, resp, means, as_full(cov, covariance_type, k, d), covariance_type, shift)
    for key in expected:
        np.testing.assert_allclose(ours[key], expected[key], rtol=1e-11, atol=1e-11)
    # additive over row blocks, with patterns computed per block
    halves = [kg.gaussian_stats_missing(X[s], resp[s], means, cov, covariance_type, shift=shift)
              for s in (slice(0, 17), slice(17, n))]
    for key in ours:
        np.testing.assert_allclose(halves[0][key] + halves[1][key], ours[key], rtol=1e-12, atol=1e-11)
    # and on complete data they are the complete-data statistics
    Xc = np.nan_to_num(X, nan=1.0)
    complete = kg.gaussian_stats(Xc, resp, covariance_type, shift=shift)
    for key, value in kg.gaussian_stats_missing(Xc, resp, means, cov, covariance_type, shift=shift).items():
        np.testing.assert_allclose(value, complete[key], rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_impute_is_the_posterior_weighted_conditional_mean(covariance_type):
    rng = np.random.default_rng(7)
    k, d, n = 2, 3, 25
    cov = random_covariances(rng, covariance_type, k, d)
    means = rng.normal(size=(k, d))
    X = rng.normal(size=(n, d))
    X[rng.random((n, d)) < 0.3] = np.nan
    resp = rng.dirichlet(np.ones(k), size=n)
    full = as_full(cov, covariance_type, k, d)
    filled = kg.impute_conditional_mean(X, resp, means, cov, covariance_type)
    for i in range(n):
        o = ~np.isnan(X[i])
        m = ~o
        np.testing.assert_array_equal(filled[i, o], X[i, o])
        if m.any():
            expected = sum(resp[i, j] * (means[j][m] + full[j][np.ix_(m, o)] @ np.linalg.solve(
                full[j][np.ix_(o, o)], X[i, o] - means[j][o])) for j in range(k))
            np.testing.assert_allclose(filled[i, m], expected, rtol=1e-11, atol=1e-12)


def test_missing_patterns_group_rows_by_their_nan_positions():
    X = np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, np.nan], [4.0, 5.0]])
    patterns = {tuple(p.missing): p.rows.tolist() for p in kg.missing_patterns(X)}
    assert patterns == {(1,): [0, 2], (0,): [1], (): [3]}


def test_kernels_reject_bad_shapes():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="means"):
        kg.log_gaussian_density(X, np.zeros((2, 3)), np.ones((2, 3)), "diag")
    with pytest.raises(ValueError, match="precisions_cholesky"):
        kg.log_gaussian_density(X, np.zeros((2, 2)), np.ones((3, 2)), "diag")
    with pytest.raises(ValueError, match="resp"):
        kg.gaussian_stats(X, np.ones((3, 2)), "full")
    with pytest.raises(ValueError, match="resp"):
        kg.gaussian_stats(X, -np.ones((4, 2)), "full")
    with pytest.raises(ValueError, match="shift"):
        kg.gaussian_stats(X, np.ones((4, 2)), "full", shift=[0.0])
    with pytest.raises(ValueError, match="covariances"):
        kg.log_gaussian_density_missing(X, np.zeros((2, 2)), np.ones(3), "spherical")
    with pytest.raises(ValueError, match="reg_covar"):
        kg.gaussian_m_step(kg.gaussian_stats(X, np.ones((4, 2)), "diag"), "diag", -1.0)


def test_kmeans_recovers_groups_and_is_invariant_to_row_order_and_repetition():
    rng = np.random.default_rng(8)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.vstack([c + rng.normal(size=(30, 2)) for c in centers])
    found, labels = kmeans(X, 3, np.random.default_rng(0))
    order = np.argsort(found[:, 0] + 2 * found[:, 1])
    np.testing.assert_allclose(found[order], [X[:30].mean(0), X[30:60].mean(0), X[60:].mean(0)], atol=1e-12)
    assert len(set(labels[:30])) == len(set(labels[30:60])) == len(set(labels[60:])) == 1
    weights = rng.integers(0, 4, size=90)
    repeated = np.repeat(X, weights, axis=0)
    a, _ = kmeans(X, 3, np.random.default_rng(5), sample_weight=weights.astype(float))
    b, _ = kmeans(repeated, 3, np.random.default_rng(5))
    np.testing.assert_allclose(a, b, rtol=1e-12)
    seeds_weighted, _ = kmeans_plusplus(X, 3, np.random.default_rng(1), weights.astype(float))
    seeds_repeated, _ = kmeans_plusplus(repeated, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(seeds_weighted, seeds_repeated)
    shuffled = rng.permutation(len(X))
    seeds_shuffled, _ = kmeans_plusplus(X[shuffled], 3, np.random.default_rng(1), weights[shuffled].astype(float))
    np.testing.assert_array_equal(seeds_shuffled, seeds_weighted)
