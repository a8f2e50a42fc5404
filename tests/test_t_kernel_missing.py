"""The t family's rows with missing cells on the one Gaussian kernel, against plain per-row loops.

The kernel's ``log det Σ_oo`` per row (:func:`observed_log_det_precisions`) and its statistics with
the conditional covariances weighted apart (``component_statistics(conditional=)``) against numpy's
``slogdet`` and the conditional moments of each row; the t family's E-step statistics with missing
cells (``E[u | x_o]``, ``E[u x]``, ``E[u x xᵀ]`` given ``x_o``) against one loop over rows and
components; its log-densities of far rows against scipy. And the structures' methods that replace
the covariance-type switches.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from scipy.special import digamma

from emkit.families import StudentT
from emkit.kernels.covariance_structures import covariance_structure
from emkit.kernels.gaussian_mixture_estep import (
    component_statistics,
    mixture_terms,
    observed_log_det_precisions,
    row_features,
)

TYPES = ["full", "tied", "diag", "spherical"]


def incomplete_rows(seed: int, n: int = 60, d: int = 3) -> np.ndarray:
    """t rows with a third of the cells missing, one row with nothing observed, two far ones."""
    rng = np.random.default_rng(seed)
    X = rng.standard_t(4.0, (n, d)) * [1.0, 0.5, 2.0][:d] + [0.5, -1.0, 2.0][:d]
    X[rng.random(X.shape) < 0.3] = np.nan
    X[0] = np.nan
    X[1, :2] = [1e6, np.nan]     # far from every component (the kernel's direct fallback)
    X[2, :] = [40.0, -30.0, np.nan]
    return X


def random_params(covariance_type: str, k: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means, covariances in the structure's shape, and the full ``(k, d, d)`` matrices."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.5, (k, d))
    factors = rng.normal(0.0, 0.4, (k, d, d)) + np.eye(d)
    full = np.einsum("kij,klj->kil", factors, factors) + 0.2 * np.eye(d)
    covariances = {"full": full, "tied": full[0], "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
                   "spherical": np.diagonal(full, axis1=1, axis2=2).mean(axis=1)}[covariance_type]
    return means, covariances, covariance_structure(covariance_type).full_matrices(covariances, k, d)


def conditional_moments(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``E[x | x_o]``, ``Cov[x | x_o]`` (zero outside the missing block) and ``δ_o`` by plain solves."""
    o, m = ~np.isnan(x), np.isnan(x)
    expected, covariance = np.where(o, x, 0.0), np.zeros((x.size, x.size))
    if not o.any():
        expected[:] = mean
        covariance[:] = cov
        return expected, covariance, 0.0
    diff = x[o] - mean[o]
    solved = np.linalg.solve(cov[np.ix_(o, o)], diff)
    expected[m] = mean[m] + cov[np.ix_(m, o)] @ solved
    covariance[np.ix_(m, m)] = cov[np.ix_(m, m)] - cov[np.ix_(m, o)] @ np.linalg.solve(cov[np.ix_(o, o)],
                                                                                         cov[np.ix_(o, m)])
    return expected, covariance, float(diff @ solved)


def shaped(structure, second: np.ndarray) -> np.ndarray:
    """``(k, d, d)`` sums as the structure keeps them, written out (not the method under test)."""
    return {"full": second, "tied": second.sum(axis=0), "diag": np.diagonal(second, axis1=1, axis2=2),
            "spherical": np.trace(second, axis1=1, axis2=2)}[structure.name]


# ------------------------------------------------------------------ the kernel
@pytest.mark.parametrize("covariance_type", TYPES)
def test_observed_log_dets_are_those_of_the_observed_covariances(covariance_type):
    X = incomplete_rows(1)
    k, d = 3, X.shape[1]
    means, covariances, full = random_params(covariance_type, k, d, seed=2)
    centre = np.nanmean(X[3:], axis=0)
    terms = mixture_terms(np.ones(k), means, covariances, covariance_type, centre)
    ours = observed_log_det_precisions(X, row_features(X, covariance_type, centre), terms)
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        for j in range(k):
            expected = -0.5 * np.linalg.slogdet(full[j][np.ix_(o, o)])[1] if o.any() else 0.0
            assert ours[i, j] == pytest.approx(expected, abs=1e-12), (i, j)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("far", [False, True])
def test_statistics_with_their_own_conditional_weights_are_a_per_row_loop(covariance_type, far):
    """``Σ r (x̂ − c)``, ``Σ [r (x̂ − c)(x̂ − c)ᵀ + w C]`` with ``w`` apart from ``r``; far: the centre so
    far from the components that they are also summed about their locations (``anchored_*``)."""
    X = incomplete_rows(3)[1:]
    X[0] = [1.0, np.nan, 2.0]
    k, d = 2, X.shape[1]
    means, covariances, full = random_params(covariance_type, k, d, seed=4)
    centre = np.nanmean(X, axis=0) + (1e6 if far else 0.0)
    terms = mixture_terms(np.ones(k), means, covariances, covariance_type, centre)
    assert bool(terms.far.any()) == far
    rng = np.random.default_rng(5)
    resp, weights = rng.random((len(X), k)), rng.random((len(X), k))
    ours = component_statistics(X, row_features(X, covariance_type, centre), terms, resp, weights)
    structure = covariance_structure(covariance_type)
    sums = {about: (np.zeros((k, d)), np.zeros((k, d, d))) for about in ("centre", "location")}
    for i, x in enumerate(X):
        for j in range(k):
            expected, covariance, _ = conditional_moments(x, means[j], full[j])
            for about, origin in (("centre", centre), ("location", means[j])):
                sums[about][0][j] += resp[i, j] * (expected - origin)
                sums[about][1][j] += (resp[i, j] * np.outer(expected - origin, expected - origin)
                                      + weights[i, j] * covariance)
    np.testing.assert_allclose(ours["n"], resp.sum(axis=0), rtol=1e-12)
    scale = 1.0 + (1e6 if far else 0.0)
    np.testing.assert_allclose(ours["sum_x"], sums["centre"][0], rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(ours["sum_xx"], shaped(structure, sums["centre"][1]), rtol=1e-9,
                               atol=1e-10 * scale ** 2)
    if far:
        np.testing.assert_allclose(ours["anchored_x"], sums["location"][0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ours["anchored_xx"], shaped(structure, sums["location"][1]), rtol=1e-10,
                                   atol=1e-10)


# ------------------------------------------------------------------ the t family
@pytest.mark.parametrize("covariance_type", TYPES)
def test_t_statistics_with_missing_cells_are_a_per_row_loop(covariance_type):
    """The exact E-step of ``(z, u, x_m)``: ``u | x_o ~ Gamma((ν + d_o)/2, rate (ν + δ_o)/2)`` and,
    given ``u``, ``x_m ~ N(x̂_m, C/u)``, so ``E[u x x ᵀ | x_o] = E[u] x̂ x̂ᵀ + C`` (``C`` weighted by γ)."""
    X = incomplete_rows(6)
    k, d = 3, X.shape[1]
    family = StudentT(d, covariance_type)
    means, covariances, full = random_params(covariance_type, k, d, seed=7)
    params = {"means": means, "covars": covariances, "dofs": np.array([1.5, 6.0, 80.0])}
    posteriors = np.random.default_rng(8).dirichlet(np.ones(k), len(X))
    block = family.block_data(family.prepare(X))
    ours = family.stats(block, posteriors, family.precompute(params))
    centre = block.centre
    expected = {"n": posteriors.sum(axis=0), "sum_u": np.zeros(k), "sum_ux": np.zeros((k, d)),
                "sum_uxx": np.zeros((k, d, d)), "sum_log_u_minus_u": np.zeros(k)}
    for i, x in enumerate(X):
        d_o = int((~np.isnan(x)).sum())
        for j in range(k):
            mean_x, covariance, delta = conditional_moments(x, means[j], full[j])
            shape, rate = 0.5 * (params["dofs"][j] + d_o), 0.5 * (params["dofs"][j] + delta)
            u, log_u = shape / rate, digamma(shape) - np.log(rate)
            g = posteriors[i, j]
            expected["sum_u"][j] += g * u
            expected["sum_ux"][j] += g * u * (mean_x - centre)
            expected["sum_uxx"][j] += g * u * np.outer(mean_x - centre, mean_x - centre) + g * covariance
            expected["sum_log_u_minus_u"][j] += g * (log_u - u)
    expected["sum_uxx"] = shaped(covariance_structure(covariance_type), expected["sum_uxx"])
    for key, value in expected.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-10, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_far_incomplete_rows_have_scipys_t_density(covariance_type):
    """Rows far from every component, some beyond the float range of ``δ`` (``log δ`` stays finite)."""
    X = incomplete_rows(9)[:12]
    X[3] = [1e200, np.nan, -1e200]
    X[4] = [np.nan, 3e120, 1.0]
    k, d = 2, X.shape[1]
    family = StudentT(d, covariance_type)
    means, covariances, full = random_params(covariance_type, k, d, seed=10)
    dofs = np.array([2.5, 30.0])
    ours = family.log_likelihood(family.block_data(X, np.nanmean(X[5:], axis=0)),
                                 family.precompute({"means": means, "covars": covariances, "dofs": dofs}))
    assert np.all(np.isfinite(ours))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        for j in range(k):
            if not o.any():
                assert ours[i, j] == 0.0
                continue
            diff = x[o] - means[j, o]
            factor = np.linalg.cholesky(full[j][np.ix_(o, o)])
            whitened = np.linalg.solve(factor, diff / np.abs(diff).max())   # δ without overflow
            log_delta = 2.0 * np.log(np.abs(diff).max()) + np.log(whitened @ whitened)
            if log_delta < 600:
                expected = scipy.stats.multivariate_t(means[j, o], full[j][np.ix_(o, o)], df=dofs[j]).logpdf(x[o])
            else:   # (ν + d_o)/2 · log(1 + δ/ν) with δ/ν ≫ 1
                nu, d_o = dofs[j], o.sum()
                expected = (scipy.special.gammaln(0.5 * (nu + d_o)) - scipy.special.gammaln(0.5 * nu)
                            - 0.5 * d_o * np.log(np.pi * nu) - np.log(np.diagonal(factor)).sum()
                            - 0.5 * (nu + d_o) * (log_delta - np.log(nu)))
            assert ours[i, j] == pytest.approx(expected, rel=1e-12, abs=1e-11), (i, j)


# ------------------------------------------------------------------ covariance structures, not switches
# (the four the product form's second moments are written for)
@pytest.mark.parametrize("name", TYPES)
def test_structure_methods_shape_second_moments(name):
    structure = covariance_structure(name)
    rng = np.random.default_rng(11)
    matrices = rng.normal(size=(3, 4, 4))
    np.testing.assert_allclose(structure.second_of_matrices(matrices), shaped(structure, matrices), rtol=1e-15)


def test_the_product_form_and_the_t_kernel_do_not_switch_on_covariance_type_strings():
    kernels = Path(__file__).resolve().parents[1] / "src" / "emkit" / "kernels"
    switch = re.compile(r"covariance_type\)? (==|!=|in|not in) ")
    for name in ("gaussian_mixture_estep.py", "gaussian_mixture_missing.py", "student_t.py"):
        lines = [line for line in (kernels / name).read_text().splitlines() if switch.search(line)]
        assert not lines, (name, lines)
