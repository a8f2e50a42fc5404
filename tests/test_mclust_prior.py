"""mclust's conjugate prior: ``GaussianMixture(prior="mclust")`` and :class:`emkit.MclustPrior`.

The prior is written out here by hand as Fraley & Raftery (2007) state it, not with emkit's
:class:`CovariancePrior`: ``μ_k | Σ_k ~ N(m, Σ_k/κ)`` with its normaliser, and an inverse-Wishart
(inverse-gamma per variance for the diagonal and spherical models) on each covariance parameter,
once for a parameter the components share. Each MAP M-step is checked against a direct
numerical maximisation of the weighted complete-data log-likelihood plus that log prior, each
fit against a direct maximisation of the observed-data log-likelihood plus it, and the default
hyperparameters against ``defaultPrior``'s formulas.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from direct_mle import maximize
from emkit import GaussianMixture, MclustPrior
from emkit.exceptions import AscentWarning
from emkit.kernels.covariance_structures import covariance_structure
from emkit.kernels.gaussian import gaussian_m_step
from mclust_parametrisations import iterative_covariances, iterative_sizes, mixture_log_likelihood
from test_mclust_models import awkward_data, constrained_covariances, n_constraint_parameters

MULTIVARIATE = ("VVV", "EEE", "VVI", "VII", "EII", "EEI", "EVI", "EEV", "EVV")
#: The models whose M-step is an inner iteration (tests/test_mclust_iterative.py).
ITERATIVE = ("VEI", "VEE", "VEV", "EVE", "VVE")
UNIVARIATE = ("E", "V")
#: emkit's names for mclust's four scikit-learn models.
EMKIT_NAME = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}
SHARED = ("EEE", "EEI", "EII", "E")
SHARED_VOLUME = ("EVI", "EEV", "EVV", "EVE")
DIAGONAL = ("VVI", "EEI", "VEI")
SPHERICAL = ("VII", "EII", "E", "V")


def n_parameters(model, k, d):
    if model in ("VVV", "EEE"):
        return (1 if model == "EEE" else k) * d * (d + 1) // 2
    if model == "VVI":
        return k * d
    if model in ("VII", "V"):
        return k
    if model == "E":
        return 1
    if model in ITERATIVE:
        return sum(iterative_sizes(model, k, d))
    return n_constraint_parameters(model, k, d)


def covariances(model, theta, k, d):
    """``(Σ_k, log|Σ_k|)`` from unconstrained numbers (complex-safe)."""
    if model in ("VVV", "EEE"):
        rows, columns = np.tril_indices(d, -1)
        out, log_dets = [], []
        for entries in theta.reshape(-1, d * (d + 1) // 2):
            lower = np.zeros((d, d), dtype=theta.dtype)
            lower[np.arange(d), np.arange(d)] = np.exp(entries[:d])
            lower[rows, columns] = entries[d:]
            out.append(lower @ lower.T)
            log_dets.append(2 * np.sum(entries[:d]))
        repeat = k if model == "EEE" else 1
        return np.array(out * repeat), np.array(log_dets * repeat)
    if model == "VVI":
        logs = theta.reshape(k, d)
        return np.array([np.diag(np.exp(row)) for row in logs]), logs.sum(axis=1)
    if model in ("VII", "V"):
        return np.array([np.exp(t) * np.eye(d) for t in theta]), d * theta
    if model == "E":
        return constrained_covariances("EII", theta, k, d)
    if model in ITERATIVE:   # λ_k D_k A_k D_kᵀ: |Σ_k| = λ_k^d
        n_volume = iterative_sizes(model, k, d)[0]
        return iterative_covariances(model, theta, k, d), np.broadcast_to(d * theta[:n_volume], (k,))
    return constrained_covariances(model, theta, k, d)


def mclust_log_prior(model, means, covs, log_dets, shrinkage, mean, dof, scale):
    """Fraley & Raftery's log prior up to a constant (``scale``: a matrix for the ellipsoidal
    models, a number for the others); for a shared volume (EVI, EEV, EVV, EVE) as mclust's ``meevip``
    and ``meeevp`` maximise it: the scale in every component, the common determinant once, with
    exponent ``(ν + 1)/2`` (EVI) or ``(ν + d + 1)/2``, plus ½ for the means' normaliser. A volume
    per component (VEI, VEE, VEV, VVE): inverse-gamma on each variance of VEI's ``Σ_k``,
    inverse-Wishart on the others' ``Σ_k``, and each component's normaliser."""
    k, d = means.shape
    if model in SHARED_VOLUME:
        exponent = dof + (1 if model == "EVI" else d + 1) + (1 if shrinkage > 0 else 0)
        psi = scale * np.eye(d) if np.ndim(scale) == 0 else scale
        total = -exponent / 2 * log_dets[0]
        for j in range(k):
            offset = means[j] - mean
            total += -0.5 * np.trace(np.linalg.solve(covs[j], psi)) - 0.5 * shrinkage * offset @ np.linalg.solve(
                covs[j], offset)
        return total
    parameters = range(1) if model in SHARED else range(k)
    total = 0.0
    for j in parameters:
        if model in DIAGONAL or model in SPHERICAL:
            variances = np.diagonal(covs[j])
            if model in SPHERICAL:
                variances = variances[:1]
            total += np.sum(-(dof / 2 + 1) * np.log(variances) - scale / (2 * variances))
        else:
            total += -(dof + d + 1) / 2 * log_dets[j] - 0.5 * np.trace(np.linalg.solve(covs[j], scale))
    for j in range(k):
        offset = means[j] - mean
        total += -0.5 * log_dets[j] - 0.5 * shrinkage * offset @ np.linalg.solve(covs[j], offset)
    return total


def hyperparameters(model, X, k):
    """Deliberately not the defaults, so that every term counts."""
    d = X.shape[1]
    scale = 0.3 * np.cov(X, rowvar=False).reshape(d, d) + 0.1 * np.eye(d)
    return dict(shrinkage=0.7, mean=X.mean(axis=0) + 0.5, dof=d + 1.5,
                scale=scale if model in ("VVV", "EEE", "EEV", "EVV", "VEE", "VEV", "EVE", "VVE") else 0.4)


def weighted_problem(seed, k, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(25, d)) @ rng.normal(size=(d, d)) * rng.uniform(0.5, 3, size=d)
    return X, rng.dirichlet(np.ones(k), size=len(X))


def complete_data_objective(model, X, resp, values, mu, theta):
    k, d = resp.shape[1], X.shape[1]
    means = mu.reshape(k, d)
    covs, log_dets = covariances(model, theta, k, d)
    total = 0.0
    for j in range(k):
        residual = X - means[j]
        quadratic = np.sum(residual * np.linalg.solve(covs[j], residual.T).T, axis=1)
        total += np.sum(resp[:, j] * -0.5 * (log_dets[j] + quadratic))
    return total + mclust_log_prior(model, means, covs, log_dets, **values)


@pytest.mark.parametrize("model,d", [(m, 2) for m in MULTIVARIATE + ITERATIVE] + [("EEV", 3), ("EVV", 3), ("EVI", 3)]
                         + [(m, 3) for m in ITERATIVE] + [(m, 1) for m in UNIVARIATE])
def test_map_m_step_is_the_direct_maximiser(model, d):
    k = 2
    X, resp = weighted_problem(7 * d + len(model), k, d)
    values = hyperparameters(model, X, k)
    prior = MclustPrior(**values).covariance_prior(X, k, EMKIT_NAME.get(model, model))
    structure = covariance_structure(EMKIT_NAME.get(model, model))
    if model in ITERATIVE:   # the inner loop run to convergence
        structure = type(structure)(tol=1e-15, max_iter=200_000)
    counts = resp.sum(axis=0)
    stats = {"n": counts, "sum_x": resp.T @ X,
             "sum_xx": structure.second_of_matrices(np.einsum("ik,ia,ib->kab", resp, X, X))}
    means, cov = gaussian_m_step(stats, structure, 0.0, shift=np.zeros(d), prior=prior)
    ours = structure.full_matrices(cov, k, d)

    def objective(x):
        return complete_data_objective(model, X, resp, values, x[:k * d], x[k * d:])

    start = np.concatenate([np.tile(X.mean(axis=0), k) + np.arange(k * d) * 0.1,
                            np.zeros(n_parameters(model, k, d))])
    x = maximize(objective, start)
    direct_covs = covariances(model, x[k * d:], k, d)[0]
    np.testing.assert_allclose(means, x[:k * d].reshape(k, d), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours, direct_covs, rtol=1e-7, atol=1e-10)


def test_map_m_step_value_at_ours_not_below_direct():
    """The objective at emkit's own step (evaluated without the test's parametrisation) is the
    direct maximum: ours is a maximiser, not only close to one."""
    k, d, model = 2, 2, "EEV"
    X, resp = weighted_problem(3, k, d)
    values = hyperparameters(model, X, k)
    prior = MclustPrior(**values).covariance_prior(X, k, model)
    structure = covariance_structure(model)
    stats = {"n": resp.sum(axis=0), "sum_x": resp.T @ X,
             "sum_xx": structure.second_of_matrices(np.einsum("ik,ia,ib->kab", resp, X, X))}
    means, covs = gaussian_m_step(stats, structure, 0.0, shift=np.zeros(d), prior=prior)
    log_dets = np.linalg.slogdet(covs)[1]

    def value(means, covs, log_dets):
        total = sum(np.sum(resp[:, j] * -0.5 * (log_dets[j] + np.sum((X - means[j]) * np.linalg.solve(
            covs[j], (X - means[j]).T).T, axis=1))) for j in range(k))
        return total + mclust_log_prior(model, means, covs, log_dets, **values)

    ours = value(means, covs, log_dets)
    rng = np.random.default_rng(0)
    for _ in range(20):      # random constrained perturbations never do better
        theta = rng.normal(scale=0.05, size=n_parameters(model, k, d))
        values_theta = np.log(np.linalg.eigvalsh(covs[0]))
        theta[:d] += values_theta
        other, other_dets = constrained_covariances(model, theta, k, d)
        assert value(means + rng.normal(scale=0.05, size=means.shape), other, other_dets) <= ours + 1e-12


# ----------------------------------------------------------------------------- full fits
def observed_log_posterior(model, X, k, values):
    d = X.shape[1]

    def function(x):
        loglik, means, covs, log_dets = mixture_log_likelihood(X, k, x, lambda rest: covariances(model, rest, k, d))
        return loglik + mclust_log_prior(model, means, covs, log_dets, **values)

    return function


@pytest.mark.parametrize("model", MULTIVARIATE + UNIVARIATE + ("VEV", "EVE"))
def test_fit_reaches_the_direct_maximum_a_posteriori(model):
    rng = np.random.default_rng(4)
    k = 2
    d = 1 if model in UNIVARIATE else 2
    X = np.vstack([rng.normal(size=(25, d)) * 0.8, rng.normal(size=(25, d)) * 1.3 + 4.0])
    values = hyperparameters(model, X, k)
    fitted = GaussianMixture(k, covariance_type=EMKIT_NAME.get(model, model), prior=MclustPrior(**values),
                             reg_covar=0.0, tol=1e-14, max_iter=20000, random_state=0).fit(X)
    log_posterior = observed_log_posterior(model, X, k, values)
    start = np.concatenate([[0.0], np.repeat([0.0, 4.0], d), np.zeros(n_parameters(model, k, d))])
    x = maximize(log_posterior, start)
    assert fitted.lower_bound_ * len(X) == pytest.approx(float(np.real(log_posterior(x))), abs=1e-6)
    # the BIC uses the log-likelihood at the MAP (Fraley & Raftery 2007), mclust's parameter count
    loglik_at_map = float(np.real(log_posterior(x))) - float(np.real(mclust_log_prior(
        model, x[k - 1:k - 1 + k * d].reshape(k, d), *covariances(model, x[k - 1 + k * d:], k, d), **values)))
    assert fitted.score(X) * len(X) == pytest.approx(loglik_at_map, abs=1e-6)
    assert fitted.bic(X) == pytest.approx(-2 * loglik_at_map + fitted._n_parameters() * np.log(len(X)), abs=1e-5)
    assert fitted._n_parameters() == x.size


@pytest.mark.parametrize("model", MULTIVARIATE + ITERATIVE)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=awkward_data(), k=st.integers(1, 3))
def test_ascent_property_and_proper_collapsing_components(model, X, k):
    """The log-posterior never decreases, and the prior keeps every covariance positive definite
    where the likelihood alone collapses (``reg_covar = 0``)."""
    estimator = GaussianMixture(k, covariance_type=EMKIT_NAME.get(model, model), prior="mclust", reg_covar=0.0,
                                tol=0.0, max_iter=25, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", AscentWarning)
        try:
            estimator.fit(X)
        except ValueError as error:    # only far-apart data may underflow every density of a row
            assert "covariance" not in str(error)
            assume(False)
    trace = np.array(estimator.result_.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    full = covariance_structure(estimator.covariance_type).full_matrices(estimator.covariances_, k, X.shape[1])
    assert np.all(np.linalg.eigvalsh(full) > 0)


def test_normaliser_shift_of_the_iterative_models():
    """The means' factors ``|Σ_k|^{−1/2} = λ_k^{−d/2}``: one on each component's own volume (VEI,
    VEE, VEV, VVE), and EVE's shared volume counted once as mclust's EVI and EEV (the direct
    maximisations above check the resulting steps against the prior written out by hand)."""
    for model in ITERATIVE:
        prior = MclustPrior(dof=5.0).covariance_prior(np.random.default_rng(0).normal(size=(20, 3)), 4, model)
        assert prior.dof == 5.0 + 1.0, model
        assert MclustPrior(shrinkage=0.0, dof=5.0).covariance_prior(np.ones((4, 3)) + np.eye(4, 3), 4, model).dof == 5.0


def test_vei_default_scale_is_the_diagonal_models():
    """defaultPrior gives VEI (diagonal) the scalar ``ψ = tr var(X)/(d G^{2/d})``."""
    X = np.random.default_rng(1).normal(size=(30, 3)) * [1.0, 2.0, 3.0]
    values = MclustPrior().hyperparameters(X, 2, "VEI")
    assert np.ndim(values["scale"]) == 0
    assert values["scale"] == pytest.approx(np.trace(np.cov(X, rowvar=False)) / 3 * 2 ** (-2 / 3), rel=1e-12)


def test_prior_keeps_a_single_point_component_proper():
    """Three identical rows and a component started on them: singular without a prior."""
    rng = np.random.default_rng(0)
    X = np.vstack([np.repeat([[5.0, 5.0]], 3, axis=0), rng.normal(size=(30, 2))])
    means = np.array([[5.0, 5.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="covariance"):
        GaussianMixture(2, covariance_type="full", reg_covar=0.0, means_init=means,
                        weights_init=[0.1, 0.9], max_iter=50).fit(X)
    fitted = GaussianMixture(2, covariance_type="full", prior="mclust", reg_covar=0.0, means_init=means,
                             weights_init=[0.1, 0.9], max_iter=50).fit(X)
    assert np.all(np.linalg.eigvalsh(fitted.covariances_) > 0)


# ------------------------------------------------------------------------ hyperparameters
def test_default_hyperparameters_follow_mclust_default_prior():
    """``defaultPrior(data, G, modelName)`` by hand: κ = 0.01, the column means, ν = d + 2, the
    scale ``var(data)/G^(2/d)`` (ellipsoidal) or ``Σ_j var_j/d / G^(2/d)`` (spherical, diagonal),
    univariate ``var/G²``; R's var divides by n − 1."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)) @ np.array([[2.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 0.2]]) + [1.0, -2.0, 3.0]
    n, d, g = 40, 3, 4
    centred = X - X.sum(axis=0) / n
    covariance = centred.T @ centred / (n - 1)
    for model in ("VVV", "EEE", "EEV", "EVV"):
        values = MclustPrior().hyperparameters(X, g, EMKIT_NAME.get(model, model))
        assert values["shrinkage"] == 0.01 and values["dof"] == d + 2
        np.testing.assert_allclose(values["mean"], X.sum(axis=0) / n, rtol=1e-14)
        np.testing.assert_allclose(values["scale"], covariance / g ** (2 / d), rtol=1e-12)
    for model in ("VII", "EII", "VVI", "EEI", "EVI"):
        values = MclustPrior().hyperparameters(X, g, EMKIT_NAME.get(model, model))
        assert float(values["scale"]) == pytest.approx(np.trace(covariance) / d / g ** (2 / d), rel=1e-12)
        assert values["dof"] == 5
    x = X[:, :1]
    for model in UNIVARIATE:
        values = MclustPrior().hyperparameters(x, g, model)
        assert float(values["scale"]) == pytest.approx(covariance[0, 0] / g ** 2, rel=1e-12) and values["dof"] == 3
    # fewer rows than columns: the diagonal of the covariance
    few = X[:3]
    values = MclustPrior().hyperparameters(few, 2, "full")
    np.testing.assert_allclose(values["scale"], np.diag(few.var(axis=0, ddof=1)) / 2 ** (2 / 3), rtol=1e-12)
    # a user-given value replaces the default; the fitted prior is exposed as prior_
    fitted = GaussianMixture(2, prior=MclustPrior(shrinkage=0.5, dof=7.0), random_state=0).fit(X)
    assert fitted.prior_.mean_weight == 0.5 and fitted.prior_.dof == 7.0 + 1.0


def test_prior_arguments_are_checked():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="prior"):
        GaussianMixture(2, prior="bayes").fit(X)
    with pytest.raises(ValueError, match="prior"):
        GaussianMixture(2, prior="mclust", covariance_prior=1.0).fit(X)
    with pytest.raises(ValueError, match="prior.shrinkage"):
        GaussianMixture(2, prior=MclustPrior(shrinkage=-1.0)).fit(X)
    with pytest.raises(ValueError, match="prior.scale"):
        GaussianMixture(2, covariance_type="full", prior=MclustPrior(scale=-np.eye(2))).fit(X)


def test_map_m_step_matches_mclust_fortran_formulas():
    """mclust's M-steps with a prior, written out from its Fortran (``msviip``, ``msvvip``,
    ``meeiip``, ``mseeep``, ``meeevp``, ``meevip``; VVV: Fraley & Raftery's table): with
    ``W'_k = Ψ + W_k + κ n_k/(κ + n_k)(ȳ_k − m)(ȳ_k − m)ᵀ`` and ``μ_k = (n_k ȳ_k + κ m)/(n_k + κ)``."""
    k, d = 3, 2
    X, resp = weighted_problem(9, k, d)
    n = resp.sum(axis=0)
    ybar = resp.T @ X / n[:, None]
    kappa, m, nu = 0.3, X.mean(axis=0) - 0.2, 5.0
    W = np.stack([(resp[:, j, None] * (X - ybar[j])).T @ (X - ybar[j]) for j in range(k)])
    shrunk = np.stack([kappa * n[j] / (kappa + n[j]) * np.outer(ybar[j] - m, ybar[j] - m) for j in range(k)])
    psi_matrix, psi = np.array([[1.3, 0.2], [0.2, 0.7]]), 0.6
    identity = np.eye(d)
    expected = {
        "VII": np.stack([(psi + np.trace(W[j] + shrunk[j])) / (nu + n[j] * d + 2 + d) * identity for j in range(k)]),
        "VVI": np.stack([np.diag((psi + np.diag(W[j] + shrunk[j])) / (nu + n[j] + 2 + 1)) for j in range(k)]),
        "EII": (psi + np.trace((W + shrunk).sum(axis=0))) / (nu + (n.sum() + k) * d + 2) * identity,
        "EEE": (psi_matrix + (W + shrunk).sum(axis=0)) / (nu + n.sum() + d + 1 + k),
        "VVV": np.stack([(psi_matrix + W[j] + shrunk[j]) / (nu + n[j] + d + 2) for j in range(k)]),
    }
    posterior = np.stack([psi_matrix + W[j] + shrunk[j] for j in range(k)])
    values, vectors = np.linalg.eigh(posterior)
    common = values.sum(axis=0) / (n.sum() + nu + d + 1 + 1)
    expected["EEV"] = np.einsum("kij,j,klj->kil", vectors, common, vectors)
    diagonal = np.stack([psi + np.diag(W[j] + shrunk[j]) for j in range(k)])
    volumes = np.exp(np.log(diagonal).mean(axis=1))
    expected["EVI"] = np.stack([np.diag(v) for v in volumes.sum() / (n.sum() + nu + 1 + 1) * diagonal
                                / volumes[:, None]])
    for model, value in expected.items():
        name = EMKIT_NAME.get(model, model)
        scale = psi_matrix if model in ("EEE", "VVV", "EEV") else psi
        prior = MclustPrior(shrinkage=kappa, mean=m, dof=nu, scale=scale).covariance_prior(X, k, name)
        structure = covariance_structure(name)
        stats = {"n": n, "sum_x": resp.T @ X,
                 "sum_xx": structure.second_of_matrices(np.einsum("ik,ia,ib->kab", resp, X, X))}
        means, cov = gaussian_m_step(stats, structure, 0.0, shift=np.zeros(d), prior=prior)
        ours = structure.full_matrices(cov, k, d)
        np.testing.assert_allclose(ours, np.broadcast_to(value, ours.shape), rtol=1e-12, err_msg=model)
        np.testing.assert_allclose(means, (n[:, None] * ybar + kappa * m) / (n[:, None] + kappa), rtol=1e-12)


def _msvevp_loop(posterior, counts, sweeps=20000):
    """mclust's ``msvevp`` inner loop (written out from its Fortran) on the posterior scatters
    ``W'_k`` with the divisors ``counts``: ``ω'_k`` the eigenvalues of ``W'_k``, ``A ∝ Σ_k ω'_k``,
    then ``λ_k = Σ_j ω'_kj/(a_j d c_k)`` and ``A ∝ Σ_k ω'_k/λ_k`` (``det A = 1``) until fixed."""
    d = posterior.shape[1]
    values, vectors = np.linalg.eigh(posterior)
    values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    shape = values.sum(axis=0)
    shape /= np.exp(np.mean(np.log(shape)))
    for _ in range(sweeps):
        volumes = (values / shape).sum(axis=1) / (counts * d)
        new = (values / volumes[:, None]).sum(axis=0)
        new /= np.exp(np.mean(np.log(new)))
        if np.max(np.abs(new - shape)) < 1e-15:
            break
        shape = new
    return np.einsum("kij,k,j,klj->kil", vectors, volumes, shape, vectors)


def test_vev_map_step_and_mclusts_msvevp():
    """mclust's VEV with a prior (``msvevp``, ``mevevp``) runs its inner loop on the posterior
    scatters ``W'_k = Ψ + W_k + κ n_k/(κ + n_k)(ȳ_k − m)(ȳ_k − m)ᵀ`` but divides the volumes by
    ``n_k d``: ``ν`` never enters, so its step is not the posterior mode. emkit's inner loop on the
    same ``W'_k`` with the counts ``n_k`` is mclust's step; emkit's MAP step is that loop with
    ``n_k + c``, ``c = ν + 1 + d + 1`` (the exact mode, checked by direct maximisation above)."""
    k, d = 3, 3
    X, resp = weighted_problem(11, k, d)
    n = resp.sum(axis=0)
    ybar = resp.T @ X / n[:, None]
    kappa, m, nu = 0.3, X.mean(axis=0) - 0.2, 5.0
    psi = np.array([[1.3, 0.2, 0.0], [0.2, 0.7, 0.1], [0.0, 0.1, 0.9]])
    posterior = np.stack([psi + (resp[:, j, None] * (X - ybar[j])).T @ (X - ybar[j])
                          + kappa * n[j] / (kappa + n[j]) * np.outer(ybar[j] - m, ybar[j] - m) for j in range(k)])
    structure = type(covariance_structure("VEV"))(tol=1e-15, max_iter=200_000)
    mclust_step = _msvevp_loop(posterior, n)
    np.testing.assert_allclose(structure.constrained(posterior / n[:, None, None], n), mclust_step, rtol=1e-9)
    prior = MclustPrior(shrinkage=kappa, mean=m, dof=nu, scale=psi).covariance_prior(X, k, "VEV")
    stats = {"n": n, "sum_x": resp.T @ X, "sum_xx": np.einsum("ik,ia,ib->kab", resp, X, X)}
    means, ours = gaussian_m_step(stats, structure, 0.0, shift=np.zeros(d), prior=prior)
    np.testing.assert_allclose(means, (n[:, None] * ybar + kappa * m) / (n[:, None] + kappa), rtol=1e-12)
    np.testing.assert_allclose(ours, _msvevp_loop(posterior, n + nu + 1 + d + 1), rtol=1e-9)
    assert not np.allclose(ours, mclust_step, rtol=1e-3)


def _msveip_loop(posterior, denominators, sweeps=20000):
    """mclust's ``msveip`` inner loop (written out from its Fortran) on the posterior variances
    ``w_kj = ψ + W_kjj + κ n_k/(κ + n_k)(ȳ_kj − m_j)²``: from unit shape and volumes,
    ``λ_k = Σ_j w_kj/b_j / denominator_k`` then ``b ∝ Σ_k w_k/λ_k`` (``Π b_j = 1``) until fixed."""
    shape = np.ones(posterior.shape[1])
    for _ in range(sweeps):
        volumes = (posterior / shape).sum(axis=1) / denominators
        new = (posterior / volumes[:, None]).sum(axis=0)
        new /= np.exp(np.mean(np.log(new)))
        if np.max(np.abs(new - shape)) < 1e-15:
            break
        shape = new
    return np.stack([np.diag(v * shape) for v in volumes])


def test_vei_map_step_and_mclusts_msveip():
    """mclust's VEI with a prior (``msveip``, ``meveip``) divides the volumes by ``d n_k + ν + 3``
    (its exponent ``ν + 2``, plus 1 for the means' normaliser, counted once per volume); the exact
    mode of its diagonal models' prior, an inverse-gamma on each variance (VVI's), divides by
    ``d (n_k + ν + 3)`` (the exponent once per variance). The shape step is the same. emkit takes
    the exact mode (checked by direct maximisation above); with weights ``n_k + (ν + 3)/d`` its
    inner loop is mclust's step."""
    k, d = 3, 3
    X, resp = weighted_problem(12, k, d)
    n = resp.sum(axis=0)
    ybar = resp.T @ X / n[:, None]
    kappa, m, nu, psi = 0.3, X.mean(axis=0) - 0.2, 5.0, 0.6
    posterior = np.stack([psi + resp[:, j] @ (X - ybar[j]) ** 2 + kappa * n[j] / (kappa + n[j]) * (ybar[j] - m) ** 2
                          for j in range(k)])
    structure = type(covariance_structure("VEI"))(tol=1e-15, max_iter=200_000)
    mclust_step = _msveip_loop(posterior, d * n + nu + 3)
    weights = n + (nu + 3) / d
    np.testing.assert_allclose(structure.constrained(np.stack([np.diag(w) for w in posterior]) / weights[:, None, None],
                                                     weights), mclust_step, rtol=1e-9)
    prior = MclustPrior(shrinkage=kappa, mean=m, dof=nu, scale=psi).covariance_prior(X, k, "VEI")
    stats = {"n": n, "sum_x": resp.T @ X, "sum_xx": np.einsum("ik,ia,ib->kab", resp, X, X)}
    means, ours = gaussian_m_step(stats, structure, 0.0, shift=np.zeros(d), prior=prior)
    np.testing.assert_allclose(means, (n[:, None] * ybar + kappa * m) / (n[:, None] + kappa), rtol=1e-12)
    np.testing.assert_allclose(ours, _msveip_loop(posterior, d * (n + nu + 3)), rtol=1e-9, atol=1e-14)
    assert not np.allclose(ours, mclust_step, rtol=1e-3)


def test_save_load_and_partial_fit_with_prior(tmp_path):
    X = np.random.default_rng(2).normal(size=(60, 2))
    X[:30] += 4.0
    fitted = GaussianMixture(2, prior="mclust", random_state=0).fit(X)
    fitted.save(tmp_path / "gmm.json")
    loaded = GaussianMixture.load(tmp_path / "gmm.json")
    assert loaded.prior == "mclust" and loaded.score(X) == fitted.score(X) and loaded.bic(X) == fitted.bic(X)
    with pytest.raises(ValueError, match="prior"):
        GaussianMixture(2, prior="mclust").partial_fit(X)


@pytest.mark.parametrize("suffix", ["json", "npz"])
def test_a_given_mclust_prior_is_saved_and_refits_alike(tmp_path, suffix):
    X = np.random.default_rng(3).normal(size=(60, 2))
    X[:30] += 4.0
    prior = MclustPrior(shrinkage=0.05, mean=[0.1, 0.2], dof=5.0)
    fitted = GaussianMixture(2, prior=prior, random_state=0).fit(X)
    loaded = GaussianMixture.load(fitted.save(tmp_path / f"gmm.{suffix}"))
    assert isinstance(loaded.prior, MclustPrior) and loaded.prior.dof == 5.0 and loaded.prior.shrinkage == 0.05
    np.testing.assert_array_equal(loaded.prior.mean, [0.1, 0.2])
    assert loaded.score(X) == fitted.score(X) and loaded.fit(X).lower_bound_ == fitted.lower_bound_
