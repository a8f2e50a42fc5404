"""Louis's standard errors for mclust's constrained models, chained through the linear structure
whose shape each keeps (:mod:`emkit.models.gaussian_information`): at the MLE they equal the
inverse numerical Hessian of the observed-data log-likelihood (an independent computation), with
complete rows, with missing cells, and for a t mixture."""

import numpy as np
import pytest

import emkit
from emkit.models.gaussian_mixture import GaussianMixtureModel
from emkit.models.student_mixture import StudentMixtureModel

#: Every mclust model whose covariances are not linear in its free parameters (VVV, EEE, VVI, VII
#: and V are scikit-learn's structures, tested elsewhere).
CONSTRAINED = ("EII", "EEI", "EVI", "EEV", "EVV", "VEI", "VEE", "VEV", "EVE", "VVE", "E")


def _groups(n_features: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = rng.normal(size=(n_features, n_features)) * 0.3 + np.eye(n_features)
    return np.vstack([rng.normal(size=(35, n_features)) @ shape,
                      rng.normal(size=(30, n_features)) @ (1.6 * shape.T) + 3.0])


def _louis_and_hessian(model, X):
    result = emkit.fit(model, X, tol=1e-13, max_iter=5000, random_state=0)
    assert result.converged
    return (emkit.standard_errors(result, X, method="louis"), emkit.standard_errors(result, X, method="hessian"))


@pytest.mark.parametrize("name", CONSTRAINED)
def test_louis_equals_the_observed_information_hessian(name):
    X = _groups(1 if name == "E" else 2)
    louis, hessian = _louis_and_hessian(GaussianMixtureModel(2, name, reg_covar=0.0), X)
    assert louis.labels == hessian.labels
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-8 * np.abs(hessian.cov).max())
    for key, value in hessian.se.items():
        np.testing.assert_allclose(louis.se[key], value, rtol=1e-5, atol=1e-12)
    assert 0.0 < louis.rate < 1.0


def test_louis_with_missing_cells_equals_the_hessian():
    X = _groups(2, seed=5)
    X[::6, 1] = np.nan
    X[4::9, 0] = np.nan
    louis, hessian = _louis_and_hessian(GaussianMixtureModel(2, "VEV", reg_covar=0.0), X)
    np.testing.assert_allclose(np.sqrt(np.diag(louis.cov)), np.sqrt(np.diag(hessian.cov)), rtol=1e-5)


def test_louis_for_a_constrained_t_mixture_equals_the_hessian():
    X = _groups(2, seed=6)
    louis, hessian = _louis_and_hessian(StudentMixtureModel(2, "EVE", dof=4.0), X)
    np.testing.assert_allclose(np.sqrt(np.diag(louis.cov)), np.sqrt(np.diag(hessian.cov)), rtol=1e-5)


def test_sem_now_has_the_complete_information_and_agrees():
    """SEM needs the complete-data information too, which the chain gives."""
    X = _groups(2, seed=8)
    result = emkit.fit(GaussianMixtureModel(2, "EVV", reg_covar=0.0), X, tol=1e-13, max_iter=5000, random_state=0)
    louis = emkit.standard_errors(result, X, method="louis")
    sem = emkit.standard_errors(result, X, method="sem")
    np.testing.assert_allclose(np.sqrt(np.diag(sem.cov)), np.sqrt(np.diag(louis.cov)), rtol=1e-5)
