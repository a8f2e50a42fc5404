"""Covariance structures as strategy objects (kernels/covariance_structures.py).

Each structure's free parameters round-trip and number what the formula and the rank of the
parametrization say; its M-step is the maximizer of the weighted Gaussian expected
log-likelihood (and, with the conjugate prior, of that plus the prior's log density) found by
scipy; unknown names are refused; and a structure defined here plugs into the kernels unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from emkit.kernels.covariance_regularization import CovariancePrior
from emkit.kernels.covariance_structures import CovarianceStructure, covariance_structure
from emkit.kernels.covariance_types import COVARIANCE_TYPES
from emkit.kernels.gaussian import (
    gaussian_m_step,
    gaussian_stats,
    log_gaussian_density,
    log_gaussian_density_missing,
    precisions_cholesky,
)

K, D = 2, 3


def _random_covariances(name: str, rng: np.random.Generator) -> np.ndarray:
    shape = covariance_structure(name).shape(K, D)
    if name in ("full", "tied"):
        a = rng.normal(size=shape)
        return a @ np.swapaxes(a, -1, -2) + np.eye(D)
    return rng.uniform(0.5, 2.0, size=shape)


@pytest.mark.parametrize("name", COVARIANCE_TYPES)
def test_free_parameters_round_trip_and_count(name):
    structure = covariance_structure(name)
    cov = _random_covariances(name, np.random.default_rng(1))
    free = structure.to_free(cov)
    formula = {"full": K * D * (D + 1) // 2, "tied": D * (D + 1) // 2, "diag": K * D, "spherical": K}[name]
    assert structure.n_free(K, D) == formula == free.size == len(structure.free_labels("c", K, D))
    np.testing.assert_array_equal(structure.from_free(free, K, D), cov)
    # The free entries are coordinates: θ ↦ Σ(θ) is linear with a Jacobian of full rank n_free.
    jacobian = np.stack([structure.full_matrices(structure.from_free(e, K, D), K, D).ravel()
                         for e in np.eye(formula)])
    assert np.linalg.matrix_rank(jacobian) == formula
    assert structure.basis(D).shape[0] * (1 if structure.shared else K) == formula


def _unpack(theta: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Means and (k, d, d) covariances from unconstrained numbers: Cholesky factors with log
    diagonals (full, tied) or log variances (diag, spherical)."""
    means = theta[:K * D].reshape(K, D)
    rest = theta[K * D:]
    if name in ("full", "tied"):
        count = K if name == "full" else 1
        rows, columns = np.tril_indices(D)
        lower = np.zeros((count, D, D))
        lower[:, rows, columns] = rest.reshape(count, -1)
        lower[:, np.arange(D), np.arange(D)] = np.exp(lower[:, np.arange(D), np.arange(D)])
        cov = np.broadcast_to(lower @ np.swapaxes(lower, 1, 2), (K, D, D))
    else:
        variances = np.exp(rest).reshape(K, D) if name == "diag" else np.repeat(np.exp(rest)[:, None], D, axis=1)
        cov = np.stack([np.diag(v) for v in variances])
    return means, cov


def _log_prior(cov: np.ndarray, name: str, prior: CovariancePrior) -> float:
    """The conjugate prior's log density by scipy: inverse-Wishart on matrices, inverse-gamma
    ``IG(ν/2, ψ/2)`` on each variance (one σ² per component for spherical)."""
    scale, dof = prior.scale, prior.dof
    if name == "full":
        return sum(stats.invwishart(df=dof, scale=scale * np.eye(D)).logpdf(c) for c in cov)
    if name == "tied":
        return stats.invwishart(df=dof, scale=scale * np.eye(D)).logpdf(cov[0])
    variances = np.diagonal(cov, axis1=1, axis2=2)
    variances = variances if name == "diag" else variances[:, 0]
    return float(stats.invgamma(a=dof / 2, scale=scale / 2).logpdf(variances).sum())


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("name", COVARIANCE_TYPES)
def test_m_step_is_the_direct_weighted_maximum(name, with_prior):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, D)) @ np.array([[1.0, 0.3, 0.0], [0.0, 2.0, 0.5], [0.0, 0.0, 0.7]]) + 5.0
    resp = rng.dirichlet(np.ones(K), size=40) * rng.uniform(0.5, 1.5, size=(40, 1))
    prior = CovariancePrior(1.5, dof=D + 3.0) if with_prior else None
    structure = covariance_structure(name)

    def objective(theta):
        means, cov = _unpack(theta, name)
        value = sum(resp[:, j] @ stats.multivariate_normal(means[j], cov[j]).logpdf(X) for j in range(K))
        return -(value + (_log_prior(cov, name, prior) if prior else 0.0))

    width = {"full": K * D * (D + 1) // 2, "tied": D * (D + 1) // 2, "diag": K * D, "spherical": K}[name]
    start = np.concatenate([np.tile(X.mean(axis=0), K), np.zeros(width)])
    found = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
    shift = X.mean(axis=0)
    means, cov = gaussian_m_step(gaussian_stats(X, resp, name, shift=shift), name, 0.0, shift=shift, prior=prior)
    matrices = structure.full_matrices(cov, K, D)
    direct_means, direct_cov = _unpack(found.x, name)
    value = -sum(resp[:, j] @ stats.multivariate_normal(means[j], matrices[j]).logpdf(X) for j in range(K)) \
        - (_log_prior(matrices, name, prior) if prior else 0.0)
    assert value <= found.fun + 1e-7
    np.testing.assert_allclose(means, direct_means, atol=1e-4)
    np.testing.assert_allclose(matrices, direct_cov, atol=1e-4)


def test_lookup_gives_singletons_and_refuses_unknown_names():
    for name in COVARIANCE_TYPES:
        structure = covariance_structure(name)
        assert structure is covariance_structure(name) is covariance_structure(structure)
        assert structure.name == name
    for bad in ("ful", "XII", 3, None, ["full"]):
        with pytest.raises(ValueError, match="covariance_type"):
            covariance_structure(bad)


@pytest.mark.parametrize("name", COVARIANCE_TYPES)
def test_the_number_of_features_is_read_back_from_a_covariance_array_where_its_shape_holds_it(name):
    structure = covariance_structure(name)
    for k, d in ((3, 2), (1, 4), (2, 1)):
        found = structure.n_features_of(np.zeros(structure.shape(k, d)))
        assert found == (None if len(structure.shape(k, d)) == 1 else d)
    assert (structure.n_features_of(np.zeros(structure.shape(3, 2))) is None) == (name == "spherical")


class UnitIdentity(CovarianceStructure):
    """mclust's EII with λ = 1: every covariance is the identity, nothing to estimate (shape ())."""

    name = "EII(1)"
    diagonal = True

    def shape(self, n_components, n_features):
        return ()

    def precisions_cholesky(self, cov):
        return np.ones(())

    def log_det_precision_cholesky(self, prec_chol, n_features):
        return 0.0

    def density_factors(self, prec_chol, n_components, n_features):
        return np.ones((n_components, n_features))

    def diagonal_variances(self, covariances, n_components, n_features):
        return np.ones((n_components, n_features))

    def accumulate_second(self, sum_xx, block, resp):
        pass

    def m_step(self, n, sum_xx, m, delta, denominator, reg_covar):
        return np.ones(())


def test_a_new_structure_plugs_into_the_m_step_and_densities():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, D)) + [10.0, -4.0, 0.0]
    resp = rng.dirichlet(np.ones(K), size=30)
    structure = UnitIdentity()
    means, cov = gaussian_m_step(gaussian_stats(X, resp, structure, shift=X.mean(axis=0)), structure, 0.0,
                                 shift=X.mean(axis=0))
    np.testing.assert_allclose(means, (resp.T @ X) / resp.sum(axis=0)[:, None], rtol=1e-12)
    assert cov.shape == ()
    expected = np.column_stack([stats.multivariate_normal(mu, np.eye(D)).logpdf(X) for mu in means])
    np.testing.assert_allclose(log_gaussian_density(X, means, precisions_cholesky(cov, structure), structure),
                               expected, rtol=1e-12)
    missing = X.copy()
    missing[0, 1] = np.nan
    expected[0] = [stats.multivariate_normal(mu[[0, 2]], np.eye(2)).logpdf(X[0, [0, 2]]) for mu in means]
    np.testing.assert_allclose(log_gaussian_density_missing(missing, means, cov, structure), expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["full", "tied", "diag", "spherical"])
def test_a_start_from_one_matrix_has_the_structures_shape_and_its_information(name):
    """``from_matrix``: the matrix itself (full: for each component), its diagonal, or its mean
    variance — compared entry by entry with the full matrices it stands for."""
    structure = covariance_structure(name)
    matrix = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 3.0]])
    covariances = structure.from_matrix(matrix, 4)
    assert covariances.shape == structure.shape(4, 3)
    full = structure.full_matrices(covariances, 4, 3)
    expected = {"full": matrix, "tied": matrix, "diag": np.diag(np.diag(matrix)),
                "spherical": np.eye(3) * np.diag(matrix).mean()}[name]
    for component in full:
        np.testing.assert_array_equal(component, expected)
