"""The t family's scatter step under every mclust covariance model (issue 17).

Given the weights ``u``, ECM's CM-step for the scatters maximises
``Σ_ik γ_ik [−½ log|Σ_k| − ½ u_ik (x_i − μ_k)ᵀΣ_k⁻¹(x_i − μ_k)]`` under the model's constraint: it is
checked against scipy's direct maximisation of that objective over an explicit parametrisation of
the constraint (tests/mclust_parametrisations.py), the four scikit-learn structures against the
rescaled u-weighted Gaussian M-step they used before, and whole fits against the direct maximum of
the observed-data t-mixture likelihood and for ascent.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.special import gammaln, logsumexp

import emkit
from cli_runner import emkit as emkit_cli
from emkit import StudentMixture
from emkit.kernels.covariance_iterative import IterativeStructure
from emkit.kernels.covariance_structures import covariance_structure
from emkit.kernels.gaussian import gaussian_m_step
from emkit.kernels.student_t import t_locations_scatters
from emkit.models import StudentMixtureModel
from mclust_parametrisations import covariances_of, n_parameters

# shared volume: EII, EVV (closed form), EVE (iterative); varying orientation: EEV, EVV, VEV;
# common orientation: EEI (closed form, the axes), VEI, VVE, EVE (iterative)
MODELS = ("EII", "EEI", "EEV", "EVV", "VEI", "VEV", "EVE", "VVE")


def u_weighted_problem(seed: int, k: int, d: int, covariance_type: str):
    """Rows, responsibilities ``γ``, weights ``u`` and the t family's statistics about a centre."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, d)) @ rng.normal(size=(d, d)) + rng.uniform(-3.0, 3.0, size=d)
    resp = rng.dirichlet(np.ones(k), size=30)
    u = rng.gamma(2.0, 0.5, size=(30, k))
    centre = X.mean(axis=0)
    ru = resp * u
    shifted = X - centre
    second = np.einsum("nk,ni,nj->kij", ru, shifted, shifted)
    stats = {"n": resp.sum(axis=0), "sum_u": ru.sum(axis=0), "sum_ux": ru.T @ shifted,
             "sum_uxx": covariance_structure(covariance_type).second_of_matrices(second)}
    return X, resp, u, centre, stats


def u_weighted_objective(covariances, X, resp, u, locations) -> float:
    """``Σ_ik γ_ik [−½ log|Σ_k| − ½ u_ik (x_i − μ_k)ᵀΣ_k⁻¹(x_i − μ_k)]``."""
    total = 0.0
    for j, cov in enumerate(covariances):
        residual = X - locations[j]
        quadratic = np.sum(residual * np.linalg.solve(cov, residual.T).T, axis=1)
        total += np.sum(resp[:, j] * (-0.5 * np.linalg.slogdet(cov)[1] - 0.5 * u[:, j] * quadratic))
    return float(total)


@pytest.mark.parametrize("model", MODELS)
def test_cm_step_is_scipys_constrained_maximum_of_the_u_weighted_objective(model):
    k, d = 2, 2 + MODELS.index(model) % 2
    X, resp, u, centre, stats = u_weighted_problem(MODELS.index(model), k, d, model)
    structure = covariance_structure(model)
    if isinstance(structure, IterativeStructure):   # the inner loop run to convergence
        structure = type(structure)(tol=1e-15, max_iter=200_000)
    locations, scatters = t_locations_scatters(stats, np.zeros((k, d)), centre, structure)
    ru = resp * u
    np.testing.assert_allclose(locations, ru.T @ X / ru.sum(axis=0)[:, None], rtol=1e-12)
    ours = structure.full_matrices(scatters, k, d)
    size = n_parameters(model, k, d)
    assert size == structure.n_free(k, d)

    def negative(theta):
        return -u_weighted_objective(covariances_of(model, theta, k, d), X, resp, u, locations)

    rng = np.random.default_rng(1)
    best = min((optimize.minimize(negative, rng.normal(scale=0.4, size=size), method="BFGS", options={"gtol": 1e-9})
                for _ in range(5)), key=lambda r: r.fun)
    ours_value = u_weighted_objective(ours, X, resp, u, locations)
    assert ours_value >= -best.fun - 1e-9 * abs(best.fun)
    assert ours_value == pytest.approx(-best.fun, rel=1e-9)
    np.testing.assert_allclose(ours, covariances_of(model, best.x, k, d), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_scikit_learns_four_are_the_rescaled_u_weighted_gaussian_step_as_before(covariance_type):
    """Before the one path: the Gaussian M-step of the u-weighted statistics, its scatters times
    ``Σγu / Σγ`` per component (tied: pooled)."""
    k, d = 3, 3
    _, _, _, centre, stats = u_weighted_problem(7, k, d, covariance_type)
    weighted = {"n": stats["sum_u"], "sum_x": stats["sum_ux"], "sum_xx": stats["sum_uxx"]}
    fixed = centre + np.arange(k * d, dtype=float).reshape(k, d) / 10.0
    for means in (None, fixed):
        before_locations, before = gaussian_m_step(weighted, covariance_type, 0.0, shift=centre, means=means)
        sum_u, n = stats["sum_u"], stats["n"]
        before = before * (sum_u.sum() / n.sum() if covariance_type == "tied" else
                           (sum_u / n).reshape((-1,) + (1,) * (before.ndim - 1)))
        locations, scatters = t_locations_scatters(stats, np.zeros((k, d)), centre, covariance_type,
                                                   fixed_locations=means)
        np.testing.assert_allclose(locations, before_locations, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(scatters, before, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("model", ["EVV", "VEE"])
def test_cm_step_about_fixed_locations_is_scipys_constrained_maximum(model):
    k, d = 2, 2
    X, resp, u, centre, stats = u_weighted_problem(20 + len(model), k, d, model)
    fixed = np.array([[0.5, -1.0], [-2.0, 1.5]])
    structure = type(covariance_structure(model))(tol=1e-15, max_iter=200_000) if model == "VEE" else model
    locations, scatters = t_locations_scatters(stats, fixed, centre, structure, fixed_locations=fixed)
    np.testing.assert_array_equal(locations, fixed)

    def negative(theta):
        return -u_weighted_objective(covariances_of(model, theta, k, d), X, resp, u, fixed)

    rng = np.random.default_rng(2)
    best = min((optimize.minimize(negative, rng.normal(scale=0.4, size=n_parameters(model, k, d)), method="BFGS",
                                  options={"gtol": 1e-9}) for _ in range(4)), key=lambda r: r.fun)
    assert u_weighted_objective(scatters, X, resp, u, fixed) == pytest.approx(-best.fun, rel=1e-9)
    np.testing.assert_allclose(scatters, covariances_of(model, best.x, k, d), rtol=1e-5, atol=1e-6)


def _two_groups(seed: int, n: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.standard_t(4, size=(n, 2)) @ [[1.0, 0.3], [0.0, 0.6]],
                      rng.standard_t(4, size=(n, 2)) @ [[0.5, 0.0], [0.4, 1.3]] + [5.0, 2.0]])


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@settings(max_examples=10, deadline=None)
@given(model=st.sampled_from(("EII", "EVV", "VEV", "EVE")), seed=st.integers(0, 2**32 - 1),
       dof=st.sampled_from([None, 3.0]), log_scale=st.floats(-2.0, 2.0))
@example(model="EVV", seed=1, dof=None, log_scale=0.0)   # a singular start: refused, it was a NaN
def test_ecm_log_likelihood_never_decreases(model, seed, dof, log_scale):
    X = _two_groups(seed % 10_000, 20) * 10.0 ** (log_scale * np.array([-1.0, 1.0]))
    try:
        fitted = StudentMixture(2, covariance_type=model, dof=dof, method="ecm", reg_covar=0.0, tol=0.0,
                                max_iter=15, random_state=seed % 1000).fit(X)
    except ValueError as error:   # a collapsed component (reg_covar=0) is refused, never a fall
        assert "ill-defined empirical covariance" in str(error)
        assume(False)
    bounds = np.array(fitted.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))


def _t_mixture_loglik(X, logits, locations, covariances, dof) -> float:
    k, d = locations.shape
    columns = []
    for j in range(k):
        residual = X - locations[j]
        delta = np.sum(residual * np.linalg.solve(covariances[j], residual.T).T, axis=1)
        columns.append(gammaln(0.5 * (dof + d)) - gammaln(0.5 * dof) - 0.5 * d * np.log(np.pi * dof)
                       - 0.5 * np.linalg.slogdet(covariances[j])[1] - 0.5 * (dof + d) * np.log1p(delta / dof))
    return float(logsumexp(np.stack(columns, axis=1) + logits - logsumexp(logits), axis=1).sum())


@pytest.mark.parametrize("model", ["EVV", "VEV"])
def test_ecm_fit_is_scipys_maximum_of_the_observed_t_likelihood(model):
    X = _two_groups(4)
    k, d, dof = 2, 2, 4.0
    fitted = StudentMixture(k, covariance_type=model, dof=dof, method="ecm", reg_covar=0.0, tol=1e-13,
                            max_iter=5000, random_state=0).fit(X)
    ours = fitted.score(X) * len(X)
    assert ours == pytest.approx(_t_mixture_loglik(X, np.log(fitted.weights_), fitted.means_,
                                                   fitted.covariances_, dof), rel=1e-12)

    def negative(theta):
        logits = np.append(theta[:k - 1], 0.0)
        locations = theta[k - 1:k - 1 + k * d].reshape(k, d)
        return -_t_mixture_loglik(X, logits, locations, covariances_of(model, theta[k - 1 + k * d:], k, d), dof)

    size = k - 1 + k * d + n_parameters(model, k, d)
    rng = np.random.default_rng(0)
    starts = [np.concatenate([[0.0], [0.0, 0.0, 5.0, 2.0], rng.normal(scale=0.3 * j, size=size - 1 - k * d)])
              for j in range(3)]
    direct = min((optimize.minimize(negative, start, method="BFGS", options={"gtol": 1e-8}) for start in starts),
                 key=lambda r: r.fun)
    assert ours >= -direct.fun - 1e-7
    assert ours == pytest.approx(-direct.fun, abs=1e-6)
    order = np.argsort(fitted.means_[:, 0])
    np.testing.assert_allclose(fitted.covariances_[order], covariances_of(model, direct.x[k - 1 + k * d:], k, d),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_missing_cells_fit_the_new_models_keeping_the_constraint():
    """The missing-value path (γu for the first moments, γ for the conditional covariances) runs
    under a shared-volume model and ECM still ascends."""
    X = _two_groups(5)
    X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    for model in ("EVV", "VEE"):
        fitted = emkit.Mixture(2, family=emkit.families.StudentT(2, model, reg_covar=0.0), random_state=0, tol=0.0,
                               max_iter=20).fit(X)
        bounds = np.array(fitted.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
        volumes = np.linalg.det(fitted.params_["covars"]) ** 0.5
        assert model != "EVV" or volumes[0] == pytest.approx(volumes[1], rel=1e-10)


def test_sample_weights_are_repeated_rows_and_dask_is_in_memory():
    X = _two_groups(8)
    repeats = np.random.default_rng(1).integers(1, 3, size=len(X))
    start = {"means_init": [[0.0, 0.0], [5.0, 2.0]], "dof": 5.0, "tol": 1e-12, "max_iter": 500}
    weighted = StudentMixture(2, covariance_type="EVE", **start).fit(X, sample_weight=repeats.astype(float))
    repeated = StudentMixture(2, covariance_type="EVE", **start).fit(np.repeat(X, repeats, axis=0))
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-7, atol=1e-9)
    on_dask = StudentMixture(2, covariance_type="EVE", **start).fit(da.from_array(X, chunks=(16, 2)))
    in_memory = StudentMixture(2, covariance_type="EVE", **start).fit(X)
    np.testing.assert_allclose(on_dask.covariances_, in_memory.covariances_, rtol=1e-8, atol=1e-10)


def test_louis_chains_as_the_gaussian_family_does_and_hessian_works():
    X = _two_groups(6)
    result = emkit.fit(StudentMixtureModel(2, "VEV", dof=4.0), X, random_state=0, tol=1e-10)
    louis = emkit.standard_errors(result, X, method="louis")   # chained (tests/test_mclust_louis.py)
    assert np.all(np.isfinite(np.diag(louis.cov)))
    assert np.all(np.isfinite(np.diag(emkit.standard_errors(result, X, method="hessian").cov)))


def test_cli_fits_a_vev_t_mixture(tmp_path):
    path = tmp_path / "data.csv"
    np.savetxt(path, _two_groups(7), delimiter=",", header="a,b", comments="")
    run = emkit_cli("student", str(path), "-k", "2", "--covariance", "VEV", "--seed", "0")
    assert run.returncode == 0, run.stderr
    assert "Mixture of 2 Student-t (VEV)" in run.stdout
