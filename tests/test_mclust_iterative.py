"""mclust's covariance models with an iterative M-step: VEI, VEE, VEV, EVE, VVE (issue 17).

``Σ_k = λ_k D_k A_k D_kᵀ`` is parametrised here on its own (log volumes, log shapes summing to 0,
rotations by the Cayley transform of skew matrices) so that scipy's direct minimisation checks the
M-step (the weighted complete-data objective) and a full EM fit (the observed-data likelihood);
the M-step never increases its objective from the previous covariances (hypothesis), EM's
log-likelihood never decreases, and iris with VEV and two components gives mclust's published
fit (log-likelihood −215.726, 26 parameters, BIC −561.7285; Scrucca et al. 2016).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.special import logsumexp
from sklearn.datasets import load_iris

import emkit
from mclust_parametrisations import iterative_covariances as _covariances
from mclust_parametrisations import iterative_sizes as _sizes
from emkit import GaussianMixture
from emkit.kernels.covariance_structures import covariance_structure
from emkit.models import GaussianMixtureModel

MODELS = ("VEI", "VEE", "VEV", "EVE", "VVE")


def _objective(scatters, weights, covariances) -> float:
    """``Σ_k n_k [log det Σ_k + tr(S_k Σ_k⁻¹)]``."""
    return float(sum(w * (np.linalg.slogdet(c)[1] + np.trace(np.linalg.solve(c, s)))
                     for s, w, c in zip(scatters, weights, covariances)))


def _random_scatters(rng, k, d):
    a = rng.normal(size=(k, d, d)) * rng.uniform(0.3, 3.0, size=(k, 1, d))
    return a @ np.swapaxes(a, 1, 2) / d + 0.1 * np.eye(d), rng.uniform(5.0, 50.0, size=k)


def _tight(model: str):
    return type(covariance_structure(model))(tol=1e-15, max_iter=200_000)


def _constraints_hold(model: str, covariances: np.ndarray) -> None:
    """The covariances are of the model: equal volumes, shapes and/or a common orientation."""
    d = covariances.shape[1]
    volumes = np.exp(np.linalg.slogdet(covariances)[1] / d)
    scaled = covariances / volumes[:, None, None]
    if model[0] == "E":
        np.testing.assert_allclose(volumes, volumes[0], rtol=1e-10)
    if model[2] == "I":
        np.testing.assert_allclose(covariances, np.stack([np.diag(np.diag(c)) for c in covariances]), atol=1e-12)
    if model[1:] in ("EI", "EE"):
        np.testing.assert_allclose(scaled, np.broadcast_to(scaled[0], scaled.shape), rtol=1e-8,
                                   atol=1e-10 * np.abs(scaled).max())
    if model[1:] == "EV":
        shapes = np.linalg.eigvalsh(scaled)
        np.testing.assert_allclose(shapes, np.broadcast_to(shapes[0], shapes.shape), rtol=1e-8,
                                   atol=1e-12 * shapes.max())   # eigvalsh: accurate relative to the largest
    if model[2] == "E":
        for c in covariances[1:]:   # a common orientation: the covariances commute
            np.testing.assert_allclose(c @ covariances[0], covariances[0] @ c, atol=1e-9 * np.abs(c).max() ** 2)


# ----------------------------------------------------------------------------- the M-step
@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("model", MODELS)
def test_m_step_is_scipys_constrained_minimum(model, d):
    k = 3
    rng = np.random.default_rng(10 * d + MODELS.index(model))
    scatters, weights = _random_scatters(rng, k, d)
    ours = _tight(model).constrained(scatters, weights)
    size = sum(_sizes(model, k, d))
    assert size == covariance_structure(model).n_free(k, d)   # mclust's count of variance parameters
    best = min((optimize.minimize(lambda t: _objective(scatters, weights, _covariances(model, t, k, d)),
                                  rng.normal(scale=0.5, size=size), method="BFGS", options={"gtol": 1e-9})
                for _ in range(6)), key=lambda r: r.fun)
    assert _objective(scatters, weights, ours) == pytest.approx(best.fun, rel=1e-10)
    np.testing.assert_allclose(ours, _covariances(model, best.x, k, d), rtol=1e-6, atol=1e-6)
    _constraints_hold(model, ours)


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(MODELS), d=st.integers(2, 4), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       log_scale=st.floats(-2.5, 2.5), collapse=st.floats(0.0, 1.0 - 1e-9))
def test_m_step_never_increases_its_objective_from_the_previous_covariances(model, d, k, seed, log_scale, collapse):
    """Warm started from covariances of the model, a few inner iterations (a generalised EM step)
    or many never end above the start: badly scaled coordinates, near-singular scatters."""
    rng = np.random.default_rng(seed)
    scatters, weights = _random_scatters(rng, k, d)
    scale = np.diag(10.0 ** (log_scale * np.linspace(-1.0, 1.0, d)))
    scatters = scale @ scatters @ scale
    scatters[0] = (1.0 - collapse) * scatters[0] + collapse * np.outer(scatters[0][0], scatters[0][0]) / scatters[0][0, 0]
    scatters[0] += 1e-10 * np.trace(scatters[0]) * np.eye(d)
    previous_scatters, _ = _random_scatters(rng, k, d)
    previous = covariance_structure(model).constrained(scale @ previous_scatters @ scale, weights)
    start = _objective(scatters, weights, previous)
    for max_iter in (1, 3, 1000):
        new = type(covariance_structure(model))(max_iter=max_iter).constrained(scatters, weights, previous)
        assert _objective(scatters, weights, new) <= start + 1e-10 * abs(start)
        _constraints_hold(model, new)


def test_vee_cold_start_that_stops_early_goes_on_from_the_previous_covariances():
    """mclust's VEE M-step starts from unit volumes; one sweep from there ends above the optimum
    that the previous M-step left, so the M-step goes on from the previous covariances (GEM)."""
    rng = np.random.default_rng(3)
    scatters, weights = _random_scatters(rng, 3, 3)
    scatters *= np.array([0.01, 1.0, 100.0])[:, None, None]   # volumes far from 1
    optimum = covariance_structure("VEE").constrained(scatters, weights)
    one_sweep = type(covariance_structure("VEE"))(max_iter=1)
    start = _objective(scatters, weights, optimum)
    assert _objective(scatters, weights, one_sweep.constrained(scatters, weights, optimum)) <= start + 1e-12 * abs(start)


# --------------------------------------------------------------------------------- EM fits
def _three_groups(rng, n=(30, 25, 20)):
    centres = np.array([[0.0, 0.0], [6.0, 1.0], [1.0, 7.0]])
    return np.concatenate([rng.multivariate_normal(c, [[1.0, 0.4], [0.4, 0.6 + j]], size=m)
                           for j, (c, m) in enumerate(zip(centres, n))])


@pytest.mark.parametrize("model", MODELS)
def test_em_fit_is_scipys_maximum_likelihood(model):
    X = _three_groups(np.random.default_rng(3))
    k, d = 3, 2
    fitted = GaussianMixture(k, covariance_type=model, reg_covar=0.0, tol=1e-12, max_iter=5000,
                             means_init=[[0.0, 0.0], [6.0, 1.0], [1.0, 7.0]]).fit(X)
    em = fitted.score(X) * len(X)

    def negative_loglik(theta):
        logits, means = np.append(theta[:k - 1], 0.0), theta[k - 1:k - 1 + k * d].reshape(k, d)
        cov = _covariances(model, theta[k - 1 + k * d:], k, d)
        residual = X[:, None, :] - means[None]
        quad = np.einsum("nki,kij,nkj->nk", residual, np.linalg.inv(cov), residual)
        log_density = -0.5 * (quad + np.linalg.slogdet(cov)[1] + d * np.log(2 * np.pi))
        return -float(logsumexp(log_density + logits - logsumexp(logits), axis=1).sum())

    size = k - 1 + k * d + sum(_sizes(model, k, d))
    assert fitted._n_parameters() == size
    rng = np.random.default_rng(0)
    starts = [np.concatenate([np.zeros(k - 1), [0.0, 0.0, 6.0, 1.0, 1.0, 7.0], rng.normal(scale=0.5 * j, size=size - (k - 1) - k * d)])
              for j in range(4)]
    direct = min((optimize.minimize(negative_loglik, start, method="BFGS", options={"gtol": 1e-8}) for start in starts),
                 key=lambda r: r.fun)
    assert em == pytest.approx(-direct.fun, abs=1e-6)
    assert em >= -direct.fun - 1e-7
    np.testing.assert_allclose(fitted.covariances_, _covariances(model, direct.x[k - 1 + k * d:], k, d),
                               rtol=2e-4, atol=2e-4)
    _constraints_hold(model, fitted.covariances_)


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@settings(max_examples=12, deadline=None)
@given(model=st.sampled_from(MODELS), seed=st.integers(0, 2**32 - 1), separation=st.floats(0.0, 50.0),
       log_scale=st.floats(-3.0, 3.0), small=st.integers(4, 8))
def test_em_log_likelihood_never_decreases(model, seed, separation, log_scale, small):
    """Far-apart or overlapping groups, badly scaled columns, a nearly collapsing small group."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(40, 3)), separation + rng.normal(size=(30, 3)) * [1.0, 3.0, 0.2],
                        -separation + 1e-3 * rng.normal(size=(small, 3))])
    X = X * 10.0 ** (log_scale * np.array([-1.0, 0.0, 1.0]))
    try:
        fitted = GaussianMixture(3, covariance_type=model, reg_covar=0.0, tol=0.0, max_iter=25,
                                 random_state=seed % 1000).fit(X)
    except ValueError as error:   # a component collapsed (reg_covar=0): refused, never a fall
        assert "ill-defined empirical covariance" in str(error)
        assume(False)
    bounds = np.array(fitted.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    _constraints_hold(model, fitted.covariances_)


def test_iris_vev_two_components_is_mclusts_published_fit():
    """``Mclust(iris[, 1:4])``: VEV, G = 2, log-likelihood −215.726, df 26, BIC −561.7285."""
    X = load_iris().data
    setosa = load_iris().target == 0
    fitted = GaussianMixture(2, covariance_type="VEV", reg_covar=0.0, tol=1e-10, max_iter=1000,
                             means_init=[X[setosa].mean(axis=0), X[~setosa].mean(axis=0)]).fit(X)
    loglik = fitted.score(X) * len(X)
    assert round(loglik, 3) == -215.726
    assert fitted._n_parameters() == 26
    assert -fitted.bic(X) == pytest.approx(-561.7285, abs=5e-4)   # mclust's sign: higher is better
    np.testing.assert_array_equal(fitted.predict(X) == fitted.predict(X[:1])[0], setosa)


# --------------------------------------------------------------------- the rest of the family
@pytest.mark.parametrize("model", MODELS)
def test_missing_values_sampling_and_dask(model):
    rng = np.random.default_rng(5)
    X = _three_groups(rng)
    X = np.column_stack([X, X[:, 0] - X[:, 1] + rng.normal(size=len(X))])
    options = dict(covariance_type=model, tol=1e-8, max_iter=500, random_state=0)
    in_memory = GaussianMixture(3, **options).fit(X)
    on_dask = GaussianMixture(3, **options).fit(da.from_array(X, chunks=25))
    np.testing.assert_allclose(on_dask.covariances_, in_memory.covariances_, rtol=1e-8, atol=1e-10)
    holes = X.copy()
    mask = rng.random(size=X.shape) < 0.1
    mask[mask.all(axis=1), 0] = False
    holes[mask] = np.nan
    with_missing = GaussianMixture(3, **options).fit(holes)
    _constraints_hold(model, with_missing.covariances_)
    assert np.all(np.diff(with_missing.lower_bounds_) >= -1e-10 * np.abs(with_missing.lower_bounds_[1:]))
    draws, labels = in_memory.sample(2000)
    assert draws.shape == (2000, 3) and np.all(np.isfinite(draws))
    for j in range(3):   # the sample's scatter per component is the component's covariance
        np.testing.assert_allclose(np.cov(draws[labels == j], rowvar=False), in_memory.covariances_[j],
                                   rtol=0.5, atol=0.5)


def test_standard_errors_by_louis_hessian_and_bootstrap():
    X = _three_groups(np.random.default_rng(7))[:55]
    model = GaussianMixtureModel(2, "VEV", reg_covar=0.0)
    result = emkit.fit(model, X, tol=1e-12, max_iter=2000, random_state=0)
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert len(hessian.labels) == 2 - 1 + 2 * 2 + 2 + 1 + 2 * 1   # weights, means, mclust's VEV count
    assert np.all(np.isfinite(np.diag(hessian.cov)))
    boot = emkit.standard_errors(result, X, method="bootstrap", n_boot=4, random_state=0)
    assert boot.cov.shape == hessian.cov.shape
    louis = emkit.standard_errors(result, X, method="louis")   # chained (tests/test_mclust_louis.py)
    np.testing.assert_allclose(np.sqrt(np.diag(louis.cov)), np.sqrt(np.diag(hessian.cov)), rtol=1e-4)


@pytest.mark.parametrize("model", MODELS)
def test_conjugate_prior_gives_a_map_fit_of_the_model(model):
    """A plain covariance_prior (the MAP step itself is checked in tests/test_mclust_prior.py)."""
    X = _three_groups(np.random.default_rng(2))
    fitted = GaussianMixture(3, covariance_type=model, reg_covar=0.0, covariance_prior=1.0, random_state=0).fit(X)
    _constraints_hold(model, fitted.covariances_)
    bounds = np.array(fitted.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
