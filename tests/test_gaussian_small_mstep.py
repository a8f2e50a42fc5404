"""The compiled M-step of small Gaussian mixtures (emkit.kernels.gaussian_small_mstep) against
the NumPy path it replaces (m_step_statistics, then gaussian_m_step) and the direct formulas."""

from __future__ import annotations

import numpy as np
import pytest

from emkit.families.gaussian import statistics_centre
from emkit.families import dirichlet
from emkit.kernels import gaussian_small_mstep, small_sums
from emkit.kernels.covariance_structures import covariance_structure
from emkit.kernels.gaussian import COVARIANCE_TYPES, gaussian_m_step, m_step_statistics
from emkit.kernels.gaussian_small_mstep import small_gaussian_m_step
from emkit.models.gaussian_mixture import GaussianMixtureModel


def random_params(rng, covariance_type: str, k: int, d: int, scale: float, width: float) -> dict[str, np.ndarray]:
    A = rng.normal(size=(k, d, d))
    full = (A @ A.transpose(0, 2, 1) / d + 0.5 * np.eye(d)) * width ** 2
    covariances = {"full": full, "tied": full[0], "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
                   "spherical": np.diagonal(full, axis1=1, axis2=2).mean(axis=1)}[covariance_type]
    return {"weights": rng.dirichlet(np.full(k, 3.0)), "means": rng.normal(scale=scale, size=(k, d)),
            "covariances": covariances}


def numpy_m_step(stats, anchors, covariance_type, reg_covar):
    exact, shift = m_step_statistics(stats, anchors, statistics_centre(stats), covariance_type)
    return gaussian_m_step(exact, covariance_type, reg_covar, shift=shift)


def e_step_stats(rng, covariance_type, k, d, n, scale=2.0, width=1.0):
    """The statistics of one E-step on rows drawn about the means (``scale``: their spread;
    ``width``: the components')."""
    params = random_params(rng, covariance_type, k, d, scale, width)
    X = params["means"][rng.integers(0, k, n)] + width * rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
    model = GaussianMixtureModel(k, covariance_type)
    stats, _ = model.e_step(model.prepare(X), params)
    return stats, params


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_compiled_m_step_is_the_numpy_path_bit_for_bit(covariance_type):
    """Statistics of real E-steps (about the centre; about far anchors, offset 1e6 with narrow
    spreads; k up to 12 so NumPy's pairwise sum of the counts keeps 8 partial sums; d up to 6):
    means and covariances equal those of the NumPy path exactly (spherical beyond d = 2: to the
    last bits of ‖m_k‖², which NumPy's einsum adds up in SIMD lanes and the kernel in order)."""
    rng = np.random.default_rng(11)
    structure = covariance_structure(covariance_type)
    anchored_cases = 0
    for case in range(40):
        k, d = int(rng.integers(1, 13)), int(rng.integers(1, 7))
        scale, width = (1e6, 1e-3) if case % 4 == 3 else (float(rng.uniform(0.1, 5.0)), 1.0)
        stats, params = e_step_stats(rng, covariance_type, k, d, int(rng.integers(k + 1, 300)), scale, width)
        anchored_cases += bool(np.any(stats["anchored_n"] > 0))
        reg = float(rng.choice([0.0, 1e-6, 0.3]))
        fast = small_gaussian_m_step(stats, params["means"], structure, reg)
        assert fast is not None
        means, covariances = numpy_m_step(stats, params["means"], covariance_type, reg)
        np.testing.assert_array_equal(fast[0], means)
        if covariance_type == "spherical" and d > 2:   # NumPy's einsum sums ‖m_k‖² in SIMD lanes
            bound = 4 * np.finfo(float).eps * (covariances + 2 * np.sum(fast[0] ** 2, axis=1) / d + 1.0)
            assert np.all(np.abs(fast[1] - covariances) <= bound)
        else:
            np.testing.assert_array_equal(fast[1], covariances)
    assert anchored_cases >= 5   # both choices of statistics were taken


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_compiled_m_step_equals_the_direct_weighted_moments(covariance_type):
    """One-hot responsibilities: each component's mean and (shaped, floored) covariance are the
    plain sample moments of its rows (np.mean, np.cov), to 1e-12."""
    rng = np.random.default_rng(3)
    k, d = 3, 2
    X = rng.normal(size=(300, d)) * [1.0, 4.0] + 7.0
    labels = np.arange(300) % k
    resp = np.eye(k)[labels]
    model = GaussianMixtureModel(k, covariance_type, reg_covar=1e-3)
    params = model.params_from_responsibilities(X, resp)   # the start: its M-step from one-hot weights
    stats, _ = model.e_step(model.prepare(X), params)
    fast = small_gaussian_m_step(stats, params["means"], covariance_structure(covariance_type), 1e-3)
    resp = np.exp(model.responsibilities(X, params)[0])
    n = resp.sum(axis=0)
    means = resp.T @ X / n[:, None]
    full = np.stack([(resp[:, j, None] * (X - means[j])).T @ (X - means[j]) / n[j] for j in range(k)])
    expected = {"full": full + 1e-3 * np.eye(d), "tied": np.einsum("k,kij->ij", n, full) / n.sum() + 1e-3 * np.eye(d),
                "diag": np.diagonal(full, axis1=1, axis2=2) + 1e-3,
                "spherical": np.trace(full, axis1=1, axis2=2) / d + 1e-3}[covariance_type]
    np.testing.assert_allclose(fast[0], means, rtol=1e-12)
    np.testing.assert_allclose(fast[1], expected, rtol=1e-12)


def test_numpys_pairwise_sum_is_emulated_bit_for_bit():
    rng = np.random.default_rng(0)
    for count in range(1, gaussian_small_mstep.MAX_COMPONENTS + 1):
        values = rng.normal(size=count) * 10.0 ** rng.integers(-8, 9, size=count)
        assert small_sums.numpy_sum(values) == np.sum(values)


def test_where_it_does_not_apply_the_numpy_path_decides():
    """None (the caller's NumPy path) for mclust's structures, float32 statistics, too many
    cells, anchors that moved since the E-step, and the zero total weight of a tied covariance
    (which the NumPy path refuses with a ValueError)."""
    rng = np.random.default_rng(1)
    stats, params = e_step_stats(rng, "full", 3, 2, 200, 1e6, 1e-3)
    assert np.all(stats["anchored_n"] > 0)
    full = covariance_structure("full")
    assert small_gaussian_m_step(stats, params["means"], covariance_structure("VEI"), 0.0) is None
    assert small_gaussian_m_step({**stats, "n": stats["n"].astype(np.float32)}, params["means"], full, 0.0) is None
    moved = params["means"] + 1e-6 * np.abs(params["means"])
    assert small_gaussian_m_step(stats, moved, full, 0.0) is None
    stats, params = e_step_stats(rng, "full", 3, 2, 200)
    assert small_gaussian_m_step(stats, params["means"], full, 0.0) is not None
    assert small_gaussian_m_step({key: stats[key] for key in ("n", "sum_x", "sum_xx")}, params["means"], full,
                                 0.0) is None
    big = {key: np.zeros((300, 1) + np.shape(value)[2:]) if np.ndim(value) >= 2 else np.zeros(300)
           for key, value in stats.items()}
    big["centre_weight"] = np.zeros(1)
    assert small_gaussian_m_step(big, np.zeros((300, 1)), covariance_structure("diag"), 0.0) is None
    tied = {key: np.zeros_like(value) for key, value in e_step_stats(rng, "tied", 2, 2, 50)[0].items()}
    assert small_gaussian_m_step(tied, np.zeros((2, 2)), covariance_structure("tied"), 0.0) is None
    with np.errstate(invalid="ignore"), pytest.raises(ValueError, match="total weight"):
        numpy_m_step(tied, np.zeros((2, 2)), "tied", 0.0)


def numpy_posterior_mode(counts, prior, previous):
    """:func:`emkit.families.dirichlet.posterior_mode`'s NumPy formula, for rows of any shape."""
    pseudo = np.where(previous == 0.0, 0.0, np.maximum(counts, 0.0) + (prior - 1.0))
    totals = pseudo.sum(axis=-1, keepdims=True)
    return np.where(totals > 0.0, pseudo / np.where(totals > 0.0, totals, 1.0), previous), totals[..., 0] <= 0.0


@pytest.mark.parametrize("k", [1, 2, 3, 7, 8, 9, 16, 31, 128])
def test_the_compiled_dirichlet_row_is_numpys_bit_for_bit(k):
    """A mixture's weights (one row) by the compiled kernel: NumPy's formula to the last bit, with
    structural zeros, negative and zero counts, pseudo-counts, and an empty row."""
    rng = np.random.default_rng(k)
    for trial in range(40):
        counts = rng.exponential(size=k) * 10.0 ** rng.integers(-8, 8)
        counts[rng.random(k) < 0.2] = 0.0
        counts[rng.random(k) < 0.1] = -1e-17
        prior = np.where(rng.random(k) < 0.5, 1.0, 1.0 + rng.exponential(size=k))
        previous = rng.dirichlet(np.ones(k))
        previous[rng.random(k) < 0.2] = 0.0
        if trial == 0:
            counts[:], prior[:] = 0.0, 1.0                     # empty: keeps previous
        rows, empty = dirichlet.posterior_mode(counts, prior, previous)
        expected_rows, expected_empty = numpy_posterior_mode(counts, prior, previous)
        assert rows.tobytes() == expected_rows.tobytes() and bool(empty) == bool(expected_empty)
    two_rows = np.abs(rng.normal(size=(2, k)))                 # rows of a matrix: the NumPy path
    np.testing.assert_array_equal(dirichlet.posterior_mode(two_rows, np.ones((2, k)), np.ones((2, k)))[0],
                                  numpy_posterior_mode(two_rows, np.ones((2, k)), np.ones((2, k)))[0])
