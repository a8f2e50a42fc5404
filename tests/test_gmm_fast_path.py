"""The Gaussian-mixture E-step in product form (emkit.kernels.gaussian_mixture_estep) against
direct computations written here: per-component log-densities by a Cholesky solve of the
difference (and scipy.stats.multivariate_normal where it accepts the covariance), and the
expected statistics from explicit conditional means and covariances of the missing coordinates.
Also: block size and threads, float32 accuracy, negligible responsibilities, components of
weight zero, the input checks that avoid copies, the thread helper."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import emkit
from emkit import GaussianMixture
from emkit.engine import add_stats
from emkit.exceptions import AscentWarning, ConvergenceWarning, DegenerateComponentWarning
from emkit.kernels import gaussian_mixture_estep as ke
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.kernels.gaussian_mixture_missing import LONG_RUN, missing_layout
from emkit.kernels.parallel import (
    blas_threads,
    single_threaded_blas,
    worker_count,
)
from emkit.models.gaussian_mixture import GaussianMixtureModel
from emkit.numerics import all_finite

EPS = np.finfo(float).eps


def e_step(X, terms, sample_weight=None, *, rows_per_block=None, dtype=np.float64):
    """The fused E-step of the kernel (:class:`~emkit.kernels.gaussian_mixture_estep.BlockPass`)
    over consecutive blocks of ``rows_per_block`` rows (all rows in one by default), summed in
    block order, as a mixture's E-step sums its blocks."""
    rows = X.shape[0] if rows_per_block is None else rows_per_block
    passes = ke.BlockPass(terms, dtype)
    total, loglik = None, 0.0
    for start in range(0, X.shape[0], rows):
        block = X[start:start + rows]
        weights = None if sample_weight is None else sample_weight[start:start + rows]
        stats, part = passes(block, missing_layout(block), weights)
        total, loglik = (stats if total is None else add_stats(total, stats)), loglik + part
    return total, loglik


def log_joint(X, terms):
    """``log π_k + log N(x_i,o | ...)`` of every row by the kernel (every component exact)."""
    return ke.component_log_densities(X, ke.row_features(X, terms.covariance_type, terms.shift), terms)


def problem(covariance_type, seed=0, n=60, d=3, k=3, offset=0.0, scales=None, tight=False):
    """Data, weights, means, covariances and their full (k, d, d) form; ``tight``: component 0
    a thousand times narrower than the data's spread, with rows around it."""
    rng = np.random.default_rng(seed)
    scales = np.ones(d) if scales is None else np.asarray(scales, dtype=float)
    if covariance_type == "full":
        A = rng.normal(size=(k, d, d))
        cov = (A @ A.transpose(0, 2, 1) + np.eye(d)) * np.outer(scales, scales)
    elif covariance_type == "tied":
        A = rng.normal(size=(d, d))
        cov = (A @ A.T + np.eye(d)) * np.outer(scales, scales)
    elif covariance_type == "diag":
        cov = rng.uniform(0.5, 2.0, size=(k, d)) * scales ** 2
    else:
        cov = rng.uniform(0.5, 2.0, size=k) * scales.mean() ** 2
    means = offset + rng.normal(size=(k, d)) * scales * 3.0
    X = offset + rng.normal(size=(n, d)) * scales * 3.0
    if tight and covariance_type in ("full", "diag"):
        cov = cov.copy()
        cov[0] = cov[0] * 1e-6
        X[: n // 4] = means[0] + rng.normal(size=(n // 4, d)) * scales * 1e-3
    weights = rng.dirichlet(np.ones(k))
    if covariance_type == "full":
        full = cov
    elif covariance_type == "tied":
        full = np.stack([cov] * k)
    elif covariance_type == "diag":
        full = np.stack([np.diag(c) for c in cov])
    else:
        full = np.stack([c * np.eye(d) for c in cov])
    return X, weights, means, cov, full


def direct_log_density(X, mean, cov):
    """``log N(x | μ, Σ)`` by the direct formula: ``z = L⁻¹ (x − μ)``, the difference formed first."""
    lower = np.linalg.cholesky(cov)
    z = solve_triangular(lower, (X - mean).T, lower=True)
    return -0.5 * X.shape[1] * np.log(2 * np.pi) - np.log(np.diag(lower)).sum() - 0.5 * (z * z).sum(axis=0)


SETTINGS = [pytest.param(0.0, None, False, id="plain"),
            pytest.param(1e6, [1e-3, 1.0, 1e3], False, id="offset-1e6-scales-1e-3..1e3"),
            pytest.param(1e6, [1e-3, 1.0, 1e3], True, id="far-and-a-tight-component")]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset, scales, tight", SETTINGS)
def test_log_joint_equals_the_direct_formula(covariance_type, offset, scales, tight):
    """Badly scaled data far from the origin: the centred product form keeps its digits, and its
    error stays within the documented bound, a small multiple of ε times ``rounding_factor``."""
    X, weights, means, cov, full = problem(covariance_type, offset=offset, scales=scales, tight=tight)
    terms = ke.mixture_terms(weights, means, cov, covariance_type, X.mean(axis=0))
    ours = log_joint(X, terms)
    reference = np.stack([direct_log_density(X, means[j], full[j]) for j in range(3)], axis=1) + np.log(weights)
    bound = 64 * EPS * ke.rounding_factor(terms)
    assert np.max(np.abs(ours - reference)) <= bound
    assert np.max(np.abs(ours - reference) / np.maximum(1.0, np.abs(reference))) < 1e-9
    if offset == 0.0:  # scipy accepts these covariances: a second, independent reference
        scipy_reference = np.stack([multivariate_normal(means[j], full[j]).logpdf(X) for j in range(3)], axis=1)
        np.testing.assert_allclose(ours, scipy_reference + np.log(weights), rtol=1e-12, atol=1e-11)


def test_a_tight_component_far_from_the_centre_is_computed_in_float64():
    X, weights, means, cov, _ = problem("full", offset=1e6, scales=[1e-3, 1.0, 1e3], tight=True)
    terms = ke.mixture_terms(weights, means, cov, "full", X.mean(axis=0))
    assert np.finfo(np.float32).eps / 2 * ke.rounding_factor(terms) > ke.FLOAT32_TOLERANCE
    assert ke.compute_dtype(np.float32, terms) == np.float64
    X32 = X.astype(np.float32)
    model = GaussianMixtureModel(3, "full", center=X.mean(axis=0))
    params = {"weights": weights, "means": means, "covariances": cov}
    single, single_ll = model.e_step(model.prepare(X32), params)
    double, double_ll = model.e_step(model.prepare(X32.astype(float)), params)
    assert single_ll == double_ll
    for key in double:
        np.testing.assert_array_equal(single[key], double[key])


def explicit_statistics(X, sample_weight, weights, means, full, covariance_type, shift):
    """Responsibilities from the marginal densities of the observed coordinates (scipy), then
    ``Σ w r E[y]`` and ``Σ w r E[y yᵀ]`` with ``E[x_m | x_o] = μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o)`` and
    ``Cov = Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om`` solved row by row (``y = x − c``)."""
    n, d = X.shape
    k = len(weights)
    log_joint = np.empty((n, k))
    expected = np.empty((n, k, d))
    second = np.empty((n, k, d, d))
    for i in range(n):
        o = ~np.isnan(X[i])
        m = ~o
        for j in range(k):
            S = full[j]
            log_joint[i, j] = np.log(weights[j]) + multivariate_normal(means[j][o], S[np.ix_(o, o)]).logpdf(X[i, o])
            x = X[i].copy()
            cond = np.zeros((d, d))
            if m.any():
                gain = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T
                x[m] = means[j][m] + gain @ (X[i, o] - means[j][o])
                cond[np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
            y = x - shift
            expected[i, j] = y
            second[i, j] = np.outer(y, y) + cond
    marginal = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - marginal[:, None]) * sample_weight[:, None]
    sum_xx = np.einsum("nk,nkij->kij", resp, second)
    sum_xx = {"full": sum_xx, "tied": sum_xx.sum(axis=0), "diag": np.einsum("kii->ki", sum_xx),
              "spherical": np.einsum("kii->k", sum_xx)}[covariance_type]
    return ({"n": resp.sum(axis=0), "sum_x": np.einsum("nk,nki->ki", resp, expected), "sum_xx": sum_xx},
            float(sample_weight @ marginal))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("missing, offset", [(0.0, 0.0), (0.0, 1e3), (0.25, 0.0), (0.25, 1e3)])
def test_e_step_equals_explicit_conditional_expectations(covariance_type, missing, offset):
    rng = np.random.default_rng(5)
    X, weights, means, cov, full = problem(covariance_type, seed=4, n=40, d=4, k=3, offset=offset)
    X[rng.random(X.shape) < missing] = np.nan
    X[np.isnan(X).all(axis=1), 0] = offset
    sample_weight = rng.uniform(0.0, 2.0, size=len(X))
    shift = np.nanmean(X, axis=0)
    terms = ke.mixture_terms(weights, means, cov, covariance_type, shift)
    ours, loglik = e_step(X, terms, sample_weight, rows_per_block=7)
    reference, reference_ll = explicit_statistics(X, sample_weight, weights, means, full, covariance_type, shift)
    assert loglik == pytest.approx(reference_ll, rel=1e-12)
    for key, value in reference.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-10, atol=1e-9 * np.abs(value).max())


@pytest.mark.parametrize("covariance_type, d", [(c, 4) for c in COVARIANCE_TYPES] + [("full", 12), ("diag", 25)])
@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_products_in_panels_equal_explicit_conditional_expectations(covariance_type, d, missing):
    """Blocks longer than PANEL_COLUMNS rows give the explicit statistics and log-densities:
    with at most PANEL_FEATURES features (d = 4 for every type) in several panels and a
    remainder; with more (full at d = 12, diag at d = 25) in one product."""
    rng = np.random.default_rng(13)
    n = 2 * ke.PANEL_COLUMNS + 3 * ke.PANEL_COLUMNS // 2 + 37
    p = 1 + d + d * (d + 1) // 2 if covariance_type in ("full", "tied") else 1 + 3 * d
    assert (p <= ke.PANEL_FEATURES) == (d == 4)
    X, weights, means, cov, full = problem(covariance_type, seed=14, n=n, d=d, k=3, offset=100.0)
    X[rng.random(X.shape) < missing] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 100.0
    sample_weight = rng.uniform(0.5, 1.5, size=n)
    shift = np.nanmean(X, axis=0)
    terms = ke.mixture_terms(weights, means, cov, covariance_type, shift)
    reference, reference_ll = explicit_statistics(X, sample_weight, weights, means, full, covariance_type, shift)
    for rows in (2 * ke.PANEL_COLUMNS + 5, n):
        ours, loglik = e_step(X, terms, sample_weight, rows_per_block=rows)
        assert loglik == pytest.approx(reference_ll, rel=1e-12)
        for key, value in reference.items():
            np.testing.assert_allclose(ours[key], value, rtol=1e-10, atol=1e-9 * np.abs(value).max())
    if missing == 0.0:
        direct = np.column_stack([np.log(w) + direct_log_density(X, m, c) for w, m, c in zip(weights, means, full)])
        # the log-joint makes 4 blocks for one thread: rows enough for blocks of several panels
        np.testing.assert_allclose(log_joint(np.tile(X, (4, 1)), terms),
                                   np.tile(direct, (4, 1)), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blocks_with_and_without_missing_values_equal_explicit_expectations(covariance_type):
    """Missing values in a few rows only: the blocks without any (taken in the data's order for
    diag and spherical, which then drop the indicator features) and those with some add up to
    the explicit statistics."""
    X, weights, means, cov, full = problem(covariance_type, seed=15, n=90, d=3, k=2, offset=5.0)
    X[[3, 4, 70], [0, 2, 1]] = np.nan
    shift = np.nanmean(X, axis=0)
    terms = ke.mixture_terms(weights, means, cov, covariance_type, shift)
    sample_weight = np.ones(len(X))
    ours, loglik = e_step(X, terms, sample_weight, rows_per_block=10)
    reference, reference_ll = explicit_statistics(X, sample_weight, weights, means, full, covariance_type, shift)
    assert loglik == pytest.approx(reference_ll, rel=1e-12)
    for key, value in reference.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-10, atol=1e-9 * np.abs(value).max())


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_long_runs_of_one_pattern_equal_explicit_conditional_expectations(covariance_type):
    """Runs of at least LONG_RUN rows with one pattern take the matrix-product path."""
    rng = np.random.default_rng(11)
    X, weights, means, cov, full = problem(covariance_type, seed=12, n=LONG_RUN + 60, d=4, k=3, offset=10.0)
    X[:LONG_RUN + 10, 1] = np.nan                      # one long run
    X[LONG_RUN + 10:LONG_RUN + 30, [0, 3]] = np.nan     # a short one
    sample_weight = rng.uniform(0.5, 1.5, size=len(X))
    shift = np.nanmean(X, axis=0)
    terms = ke.mixture_terms(weights, means, cov, covariance_type, shift)
    ours, loglik = e_step(X, terms, sample_weight)
    reference, reference_ll = explicit_statistics(X, sample_weight, weights, means, full, covariance_type, shift)
    assert loglik == pytest.approx(reference_ll, rel=1e-12)
    for key, value in reference.items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-10, atol=1e-9 * np.abs(value).max())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_posterior_is_the_normalized_log_joint(covariance_type):
    """The model's responsibilities (the mixture's normalisation of the family's densities)
    against the kernel's log-joint normalised by scipy's logsumexp."""
    X, weights, means, cov, _ = problem(covariance_type, seed=6)
    X[::5, 1] = np.nan
    shift = np.nanmean(X, axis=0)
    joint = log_joint(X, ke.mixture_terms(weights, means, cov, covariance_type, shift))
    model = GaussianMixtureModel(3, covariance_type, center=shift)
    log_resp, log_marginal = model.responsibilities(X, {"weights": weights, "means": means, "covariances": cov})
    np.testing.assert_allclose(log_marginal, logsumexp(joint, axis=1), rtol=1e-13)
    np.testing.assert_allclose(log_resp, joint - logsumexp(joint, axis=1, keepdims=True), atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blocks_do_not_change_the_statistics(covariance_type):
    """Any block size gives the same sums up to round-off (the number of threads, exactly the
    same numbers: tests/test_thread_determinism.py)."""
    X, weights, means, cov, _ = problem(covariance_type, seed=7, n=300, d=4, k=3)
    X[np.random.default_rng(8).random(X.shape) < 0.15] = np.nan
    terms = ke.mixture_terms(weights, means, cov, covariance_type, np.nanmean(X, axis=0))
    layout = missing_layout(X)
    reference, reference_ll = e_step(X, terms)
    for rows in (1, 5, 64, 1000):
        stats, loglik = e_step(X, terms, rows_per_block=rows)
        assert loglik == pytest.approx(reference_ll, rel=1e-13)
        for key in reference:
            np.testing.assert_allclose(stats[key], reference[key], rtol=1e-12, atol=1e-10)


def test_negligible_responsibilities_are_exact_zeros():
    """A component ``e⁻⁷²⁰`` times less likely than another gets responsibility 0, not the
    subnormal number ``e⁻⁷²⁰`` (which makes the products up to 100x slower); nothing else changes."""
    means = np.array([[0.0], [60.0]])
    terms = ke.mixture_terms(np.array([0.5, 0.5]), means, np.array([[[1.0]], [[1.0]]]), "full", np.zeros(1))
    X = np.array([[18.0]])  # log N(18 | 0, 1) − log N(18 | 60, 1) = 1800 − 60·18 = 720
    stats, loglik = e_step(X, terms)
    assert np.exp(-720.0) > 0.0                     # representable, but subnormal
    assert stats["n"][1] == 0.0 and stats["sum_x"][1, 0] == 0.0
    assert stats["n"][0] == 1.0 and stats["sum_x"][0, 0] == 18.0
    reference = float(logsumexp(np.log(0.5) - 0.5 * np.log(2 * np.pi) - 0.5 * (X - means.T) ** 2, axis=1)[0])
    assert loglik == pytest.approx(reference, rel=1e-15)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_component_of_weight_zero_gets_no_responsibility(covariance_type, dtype):
    """``log 0 = −inf`` in ``θ``: the component's responsibilities are exact zeros, the others'
    statistics, log-likelihood and posteriors are those of the mixture without it, over many
    blocks (each thread goes through the product's guard again)."""
    X, weights, means, cov, _ = problem(covariance_type, seed=11, n=3000)
    X = X.astype(dtype)
    zero = np.array([weights[0] + weights[1], 0.0, weights[2]])
    kept = [0, 2]
    kept_cov = cov if covariance_type == "tied" else cov[kept]
    terms = ke.mixture_terms(zero, means, cov, covariance_type, X.mean(axis=0))
    reference_terms = ke.mixture_terms(zero[kept], means[kept], kept_cov, covariance_type, X.mean(axis=0))
    stats, loglik = e_step(X, terms, dtype=dtype, rows_per_block=256)
    reference, reference_loglik = e_step(X, reference_terms, dtype=dtype, rows_per_block=256)
    assert stats["n"][1] == 0.0 and np.all(stats["sum_x"][1] == 0.0)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert loglik == pytest.approx(reference_loglik, rel=tolerance)
    for key in ("n", "sum_x"):
        np.testing.assert_allclose(stats[key][kept], reference[key], rtol=tolerance, atol=tolerance)
    params = {"weights": zero, "means": means, "covariances": cov}
    log_resp, log_marginal = GaussianMixtureModel(3, covariance_type).responsibilities(X, params)
    assert np.all(np.isneginf(log_resp[:, 1]))
    kept_params = {"weights": zero[kept], "means": means[kept], "covariances": kept_cov}
    np.testing.assert_allclose(log_marginal, GaussianMixtureModel(2, covariance_type).responsibilities(
        X, kept_params)[1], rtol=tolerance)


def test_a_fit_with_an_empty_component_goes_on_with_its_weight_at_zero():
    """A start far from every row leaves a component without weight: a warning, weight 0 and
    the fit of the other two (blocks of many rows, threads)."""
    rng = np.random.default_rng(16)
    X = np.vstack([rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2)) + 5.0])
    with pytest.warns(DegenerateComponentWarning):
        estimator = GaussianMixture(3, means_init=[[0.0, 0.0], [5.0, 5.0], [1e4, 1e4]], max_iter=20,
                                    random_state=0).fit(X)
    assert estimator.weights_[2] == 0.0
    np.testing.assert_allclose(estimator.weights_[:2], [0.5, 0.5], atol=1e-3)
    assert np.all(np.isfinite(estimator.score_samples(X)))


def test_float32_data_fit_in_float32_to_documented_accuracy():
    """The accuracy check of float32 arithmetic: from the same start, 20 iterations on float32
    data and on the same values in float64 agree to 1e-5 in the log-likelihood and 1e-3 standard
    deviations in the means, and the responsibilities to 1e-3."""
    rng = np.random.default_rng(9)
    centres = rng.normal(scale=4.0, size=(3, 4)) + 50.0
    X = np.vstack([c + rng.normal(size=(400, 4)) @ rng.normal(scale=0.5, size=(4, 4)) + 0.3 * rng.normal(size=(400, 4))
                   for c in centres]).astype(np.float32)
    start = {"weights_init": np.full(3, 1 / 3), "means_init": X[[0, 400, 800]].astype(float),
                 "precisions_init": np.stack([np.eye(4)] * 3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = GaussianMixture(3, max_iter=20, tol=0.0, **start).fit(X)
        double = GaussianMixture(3, max_iter=20, tol=0.0, **start).fit(X.astype(float))
    model, params = single._model()
    terms = ke.mixture_terms(params["weights"], params["means"], params["covariances"], "full", model.center)
    assert ke.compute_dtype(np.float32, terms) == np.float32
    assert single.lower_bound_ == pytest.approx(double.lower_bound_, rel=1e-5)
    scale = np.sqrt(np.diagonal(double.covariances_, axis1=1, axis2=2))
    assert np.max(np.abs(single.means_ - double.means_) / scale) < 1e-3
    np.testing.assert_allclose(single.predict_proba(X), double.predict_proba(X.astype(float)), atol=1e-3)
    # scikit-learn's dtype rule: float32 data give float32 attributes and outputs
    assert single.score_samples(X).dtype == single.predict_proba(X).dtype == single.means_.dtype == np.float32


def test_the_ascent_check_allows_for_float32_round_off():
    """Run far past convergence, a float32 fit's log-likelihood wobbles by its round-off: no
    AscentWarning (the model declares its rounding bound), while float64 keeps the strict check."""
    rng = np.random.default_rng(17)
    X = np.vstack([rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2)) + 4.0]).astype(np.float32)
    model = GaussianMixtureModel(2, "full", reg_covar=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AscentWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        emkit.fit(model, X, tol=0.0, max_iter=60, random_state=0)
    assert model.loglik_rounding(model.prepare(X)) == pytest.approx(ke.FLOAT32_TOLERANCE * len(X))
    assert model.loglik_rounding(model.prepare(X.astype(float))) == 0.0


def test_fit_keeps_float32_data_and_leaves_the_input_unchanged():
    rng = np.random.default_rng(10)
    X = (rng.normal(size=(200, 3)) + 5.0).astype(np.float32)
    X[::7, 2] = np.nan
    before = X.copy()
    model = GaussianMixtureModel(2, "full")
    data = model.prepare(X)
    assert data.X.dtype == np.float32 and data.has_missing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(2, max_iter=5, random_state=0).fit(X)
    np.testing.assert_array_equal(X, before)


def test_complete_float32_data_are_used_without_a_copy_and_infinity_is_refused():
    rng = np.random.default_rng(12)
    X = (rng.normal(size=(300, 2)) + 5.0).astype(np.float32)
    estimator = GaussianMixture(2, random_state=0)
    assert estimator._checked_rows(X) is X
    data = GaussianMixtureModel(2, "diag").prepare(X)
    assert data.X is X and not data.has_missing
    X[5, 1] = np.inf
    with pytest.raises(ValueError, match="X: .*infinity"):
        estimator.fit(X)
    with pytest.raises(ValueError, match="X: contains infinity"):
        GaussianMixtureModel(2, "diag").prepare(X)


def test_all_finite_tells_overflow_from_infinity_and_nan():
    big = {np.float32: np.full((4, 3), np.finfo(np.float32).max, dtype=np.float32),   # sums overflow
           np.float64: np.full((4, 3), np.finfo(np.float64).max)}
    assert all_finite(big[np.float32]) and all_finite(big[np.float64]) and all_finite(np.empty((0, 3)))
    for bad in (np.inf, -np.inf, np.nan):
        for dtype in (np.float32, np.float64):
            X = big[dtype].copy()
            X[2, 1] = bad
            assert not all_finite(X)
            assert not all_finite(np.where(np.isfinite(X), 1.0, X))


def test_missing_layout_groups_rows_by_pattern():
    X = np.arange(24, dtype=float).reshape(8, 3)
    X[[1, 5], 0] = np.nan
    X[[2, 6], 2] = np.nan
    X[3, [0, 2]] = np.nan
    layout = missing_layout(X)
    assert sorted(layout.order.tolist()) == list(range(8))
    assert layout.order[:3].tolist() == [0, 4, 7]                     # complete rows first, in order
    patterns = layout.row_pattern[3:]
    assert np.all(np.diff(patterns) >= 0)                             # incomplete rows grouped
    for row, pattern in zip(layout.order[3:], patterns):
        missing = layout.missing[pattern, :layout.n_missing[pattern]]
        assert sorted(missing.tolist()) == np.flatnonzero(np.isnan(X[row])).tolist()
    assert missing_layout(X[[0, 4]]).complete


def test_n_jobs_is_checked():
    with pytest.raises(ValueError, match="n_jobs"):
        worker_count(0, 5)
    with pytest.raises(ValueError, match="n_jobs"):
        GaussianMixtureModel(2, n_jobs=1.5)
    assert worker_count(8, 3) == 3


def test_single_threaded_blas_restores_the_setting_when_the_last_user_leaves():
    before = blas_threads()
    with single_threaded_blas():
        with single_threaded_blas():
            assert blas_threads() == 1
        assert blas_threads() == 1
    assert blas_threads() == before
