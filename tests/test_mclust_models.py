"""mclust's closed-form covariance models (EII, EEI, EVI, EEV, EVV, E, V), its names for
scikit-learn's four, and its parameter counts.

Each M-step is checked against a direct numerical maximisation of the weighted complete-data
log-likelihood under the model's constraint, parametrised explicitly here (not with the
module's own free parameters); each EM fit against a direct maximisation of the observed-data
log-likelihood; the counts against mclust's documented degrees of freedom.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import optimize

from direct_mle import maximize
from mclust_parametrisations import constrained_covariances, mixture_log_likelihood, n_constraint_parameters
from emkit import GaussianMixture
from emkit.exceptions import AscentWarning
from emkit.kernels.covariance_models import mclust_n_free
from emkit.kernels.covariance_structures import covariance_structure
from emkit.selection import gmm_select

CLOSED = ("EII", "EEI", "EVI", "EEV", "EVV")


def complete_data_objective(covariances, log_dets, counts, scatters):
    """``Σ_k −½ n_k log|Σ_k| − ½ tr(Σ_k⁻¹ W_k)``."""
    return sum(-0.5 * n * log_det - 0.5 * np.trace(np.linalg.solve(cov, w))
               for cov, log_det, n, w in zip(covariances, log_dets, counts, scatters))


def weighted_problem(seed, k, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, d)) @ rng.normal(size=(d, d)) * rng.uniform(0.5, 3, size=d)
    resp = rng.dirichlet(np.ones(k), size=40)
    counts = resp.sum(axis=0)
    means = resp.T @ X / counts[:, None]
    scatters = np.stack([(resp[:, j, None] * (X - means[j])).T @ (X - means[j]) for j in range(k)])
    return counts, means, scatters


def structure_m_step(model, counts, means, scatters):
    """The structure's M-step from raw second moments about 0 (no reg_covar)."""
    structure = covariance_structure(model)
    raw = scatters + counts[:, None, None] * np.einsum("ki,kj->kij", means, means)
    denominator = counts + 10 * np.finfo(float).eps       # as the kernel divides: empty components allowed
    cov = structure.m_step(counts, structure.second_of_matrices(raw), means, np.zeros_like(means), denominator, 0.0)
    return structure.full_matrices(cov, len(counts), means.shape[1])


@pytest.mark.parametrize("model", CLOSED)
@pytest.mark.parametrize("d", [2, 3])
def test_m_step_is_the_constrained_maximiser(model, d):
    k = 2
    counts, means, scatters = weighted_problem(11 * d + len(model), k, d)
    ours = structure_m_step(model, counts, means, scatters)
    ours_value = complete_data_objective(ours, np.linalg.slogdet(ours)[1], counts, scatters)

    def negative(theta):
        return -complete_data_objective(*constrained_covariances(model, theta, k, d), counts, scatters)

    rng = np.random.default_rng(5)
    best = min((optimize.minimize(negative, rng.normal(scale=0.3, size=n_constraint_parameters(model, k, d)),
                                  method="BFGS", options={"gtol": 1e-10}) for _ in range(4)), key=lambda r: r.fun)
    theta = maximize(lambda t: -negative(t), best.x)          # polished: the score is 0 to ~1e-10
    assert ours_value >= -negative(theta).real - 1e-10 * abs(ours_value)
    assert ours_value == pytest.approx(-negative(theta).real, rel=1e-12)
    np.testing.assert_allclose(ours, constrained_covariances(model, theta, k, d)[0], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("model", CLOSED)
def test_em_fit_reaches_the_direct_maximum_likelihood(model):
    rng = np.random.default_rng(3)
    k, d = 2, 2
    X = np.vstack([rng.normal(size=(30, d)) @ np.array([[1.0, 0.4], [0.0, 0.7]]),
                   rng.normal(size=(30, d)) @ np.array([[0.6, 0.0], [0.5, 1.2]]) + [5.0, 2.0]])
    fitted = GaussianMixture(k, covariance_type=model, tol=1e-14, max_iter=20000, random_state=0).fit(X)
    em_loglik = fitted.score(X) * len(X)

    def loglik(theta):
        return mixture_log_likelihood(X, k, theta, lambda rest: constrained_covariances(model, rest, k, d))[0]

    start = np.concatenate([[0.0], [0.0, 0.0, 5.0, 2.0], np.zeros(n_constraint_parameters(model, k, d))])
    theta = maximize(loglik, start)
    assert em_loglik == pytest.approx(float(np.real(loglik(theta))), abs=1e-6)
    assert fitted._n_parameters() == theta.size


@st.composite
def awkward_data(draw):
    """Far-apart, badly scaled or collapsing components, in 2 or 3 dimensions."""
    seed = draw(st.integers(0, 2 ** 31 - 1))
    kind = draw(st.sampled_from(["far", "scaled", "collapsing"]))
    d = draw(st.integers(2, 3))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(45, d))
    if kind == "far":
        X[:15] += 1e4
    elif kind == "scaled":
        X *= 10.0 ** rng.uniform(-3, 3, size=d)
        X[:20] += 3.0 * X.std(axis=0)
    else:
        X[:12] = X[0] + 1e-3 * rng.normal(size=(12, d))
    return X


@pytest.mark.parametrize("model", CLOSED)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=awkward_data(), k=st.integers(1, 3))
def test_ascent_property(model, X, k):
    """The observed-data log-likelihood never decreases along the EM path (reg_covar = 0: the
    M-step is then exact)."""
    estimator = GaussianMixture(k, covariance_type=model, reg_covar=0.0, tol=0.0, max_iter=25, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", AscentWarning)
        try:
            estimator.fit(X)
        except ValueError as error:      # a component collapsed onto a point: singular, reported
            assert "covariance" in str(error)
            assume(False)
    loglik = np.array(estimator.result_.trace.loglik)
    assert np.all(np.diff(loglik) >= -1e-10 * np.abs(loglik[1:]))


# ------------------------------------------------------------------------------ counts
#: Total degrees of freedom (means, weights, covariances) for d = 4, G = 2 as mclust prints them
#: (e.g. ``summary(Mclust(iris[, -5], G = 2, modelNames = "VEV"))``: df 26).
MCLUST_DF_D4_G2 = {"EII": 10, "VII": 11, "EEI": 13, "VEI": 14, "EVI": 16, "VVI": 17, "EEE": 19, "VEE": 20,
                   "EVE": 22, "VVE": 23, "EEV": 25, "VEV": 26, "EVV": 28, "VVV": 29}
#: d = 4, G = 3 (mclust's iris: VEV,3 has df 38; VVV,3 44).
MCLUST_DF_D4_G3 = {"EII": 15, "VII": 17, "EEI": 18, "VEI": 20, "EVI": 24, "VVI": 26, "EEE": 24, "VEE": 26,
                   "EVE": 30, "VVE": 32, "EEV": 36, "VEV": 38, "EVV": 42, "VVV": 44}


@pytest.mark.parametrize("name", sorted(MCLUST_DF_D4_G2))
def test_n_free_matches_mclust(name):
    for k, table in ((2, MCLUST_DF_D4_G2), (3, MCLUST_DF_D4_G3)):
        assert mclust_n_free(name, k, 4) + k * 4 + k - 1 == table[name]
    assert mclust_n_free("E", 3, 1) == 1 and mclust_n_free("V", 3, 1) == 3


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris
    return load_iris().data


def test_estimator_parameter_counts_and_bic(iris):
    for name in CLOSED + ("VVV", "EEE", "VVI", "VII", "full", "tied", "diag", "spherical"):
        fitted = GaussianMixture(2, covariance_type=name, max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fitted.fit(iris)
        alias = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}.get(name, name)
        assert fitted._n_parameters() == MCLUST_DF_D4_G2[alias]
        loglik = fitted.score(iris) * len(iris)
        assert fitted.bic(iris) == pytest.approx(-2 * loglik + MCLUST_DF_D4_G2[alias] * np.log(len(iris)))


def test_iris_vvv_and_eev_match_mclust(iris):
    """mclust's iris BIC table (``mclustBIC(iris[, -5])``, G = 2): VVV −574.0178, EEV −644.5997."""
    for name, published in (("VVV", -574.0178), ("EEV", -644.5997)):
        fitted = GaussianMixture(2, covariance_type=name, tol=1e-10, max_iter=2000, random_state=0).fit(iris)
        assert -fitted.bic(iris) == pytest.approx(published, abs=5e-4)


# ------------------------------------------------------------------------------ names
@pytest.mark.parametrize("alias, name", [("VVV", "full"), ("EEE", "tied"), ("VVI", "diag"), ("VII", "spherical")])
def test_aliases_fit_bit_identically(iris, alias, name):
    fits = [GaussianMixture(3, covariance_type=t, max_iter=20, random_state=0).fit(iris) for t in (alias, name)]
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(fits[0], attribute), getattr(fits[1], attribute))
    assert fits[0].covariance_type == alias


def test_univariate_models(iris):
    x = iris[:, :1]
    equal = GaussianMixture(2, covariance_type="E", random_state=0).fit(x)
    assert equal.covariances_.shape == (2,) and equal.covariances_[0] == equal.covariances_[1]
    spherical = GaussianMixture(2, covariance_type="spherical", random_state=0).fit(x)
    varying = GaussianMixture(2, covariance_type="V", random_state=0).fit(x)
    np.testing.assert_array_equal(varying.covariances_, spherical.covariances_)
    for name in ("E", "V"):
        with pytest.raises(ValueError, match=f"covariance_type: '{name}'.*1 feature"):
            GaussianMixture(2, covariance_type=name).fit(iris)


def test_shapes_sampling_and_missing_values(iris):
    X = iris.copy()
    X[::7, 1] = np.nan
    for name, shape in (("EII", (2,)), ("EEI", (2, 4)), ("EVI", (2, 4)), ("EEV", (2, 4, 4)), ("EVV", (2, 4, 4))):
        fitted = GaussianMixture(2, covariance_type=name, random_state=0, max_iter=50).fit(X)
        assert fitted.covariances_.shape == shape
        assert np.isfinite(fitted.score(X))
        draws, labels = fitted.sample(20)
        assert draws.shape == (20, 4) and np.all(np.isfinite(draws))
    with pytest.raises(ValueError, match="covariance_type: expected one of"):
        GaussianMixture(2, covariance_type="XYZ").fit(iris)


def test_standard_errors_by_every_method(iris):
    from emkit.inference import standard_errors
    fitted = GaussianMixture(2, covariance_type="EVV", random_state=0, tol=1e-8).fit(iris)
    louis = standard_errors(fitted.result_, iris, "louis")   # chained (tests/test_mclust_louis.py)
    assert all(np.all(np.isfinite(value)) for value in louis.se.values())
    hessian = standard_errors(fitted.result_, iris, "hessian")
    assert all(np.all(np.isfinite(value)) for value in hessian.se.values())
    boot = standard_errors(fitted.result_, iris, "bootstrap", n_boot=3, random_state=0,
                           fit_options={"max_iter": 20})
    assert all(np.all(np.isfinite(value)) for value in boot.se.values())


def test_gmm_select_runs_every_mclust_model(iris):
    result = gmm_select(iris[:60, :2], n_components=[1, 2], covariance_types="mclust", max_iter=200)
    names = {row["covariance_type"] for row in result.table}
    assert set(CLOSED) | {"VVV", "EEE", "VVI", "VII"} <= names and not names & {"E", "V"}
    assert "-BIC" in result.to_text(mclust_sign=True)
    best = result.best_row
    assert f"{-best['bic']:.4f}" in result.to_text(mclust_sign=True)
    univariate = gmm_select(iris[:, :1], n_components=[1, 2], covariance_types="mclust", max_iter=20)
    assert {row["covariance_type"] for row in univariate.table} == {"E", "V"}


def test_cli_accepts_mclust_names(tmp_path, iris):
    from cli_runner import emkit
    path = tmp_path / "iris.csv"
    np.savetxt(path, iris[:, :2], delimiter=",", header="a,b", comments="")
    run = emkit("gmm", str(path), "--select", "1:2", "--covariance", "mclust", "--max-iter", "20")
    assert run.returncode == 0, run.stderr
    assert "EVV" in run.stdout and "EEI" in run.stdout
    bad = emkit("gmm", str(path), "-k", "2", "--covariance", "E")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "1 feature" in bad.stderr


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_face_takes_the_models(iris):
    """Dask input equals the in-memory fit; the family (in a mixture and an HMM) and the t mixture take the names
    (the t mixture's scatter step keeps the constraint)."""
    import dask.array as da

    import emkit
    from emkit import StudentMixture, families

    in_memory = GaussianMixture(2, covariance_type="EEV", random_state=0).fit(iris)
    on_dask = GaussianMixture(2, covariance_type="EEV", random_state=0).fit(da.from_array(iris, chunks=(40, 4)))
    np.testing.assert_allclose(on_dask.covariances_, in_memory.covariances_, rtol=1e-10, atol=1e-13)
    family_fit = emkit.Mixture(2, family=families.Gaussian(4, "EVI"), random_state=0, max_iter=30).fit(iris)
    assert np.isfinite(family_fit.score(iris))
    hmm = emkit.HMM(2, family=families.Gaussian(4, "EVV"), random_state=0, n_iter=10).fit(iris)
    volumes = np.linalg.det(hmm.covars_) ** 0.25
    assert volumes[0] == pytest.approx(volumes[1], rel=1e-10)
    assert StudentMixture(2, covariance_type="VVV", random_state=0, max_iter=5).fit(iris).covariances_.shape == (2, 4, 4)
    t_fit = StudentMixture(2, covariance_type="EVV", random_state=0, max_iter=5).fit(iris)
    volumes = np.linalg.det(t_fit.covariances_) ** 0.25
    assert volumes[0] == pytest.approx(volumes[1], rel=1e-10)


def test_empty_component_keeps_the_constraint():
    """A component that loses every row gets an identity shape, and the volume stays shared."""
    from emkit.kernels.covariance_models import EVV
    counts, means, scatters = weighted_problem(1, 3, 2)
    counts[2], scatters[2] = 0.0, 0.0
    cov = structure_m_step("EVV", counts, means, scatters)
    assert isinstance(covariance_structure("EVV"), EVV)
    assert np.all(np.isfinite(cov))
    np.testing.assert_allclose(np.linalg.det(cov), np.linalg.det(cov[0]), rtol=1e-12)


@pytest.mark.parametrize("model", CLOSED)
def test_free_parameters_round_trip_with_mclust_counts(model):
    """``from_free(to_free(Σ)) = Σ`` with as many free entries as mclust counts (the bootstrap and
    the numerical Hessian work in them)."""
    k, d = 3, 3
    counts, means, scatters = weighted_problem(7, k, d)
    structure = covariance_structure(model)
    raw = scatters + counts[:, None, None] * np.einsum("ki,kj->kij", means, means)
    cov = structure.m_step(counts, structure.second_of_matrices(raw), means, np.zeros_like(means), counts, 0.0)
    free = structure.to_free(cov)
    assert free.size == mclust_n_free(model, k, d) == len(structure.free_labels("covariances", k, d))
    np.testing.assert_allclose(structure.from_free(free, k, d), cov, rtol=1e-10, atol=1e-12)


def test_fit_with_an_emptied_component_keeps_the_constraint(iris):
    """A start that leaves a component without rows: the fitted EII variances stay equal and
    the EVV volumes too (the family does not keep the empty component's old covariance)."""
    means_init = np.vstack([iris[:2].mean(axis=0), iris[50:].mean(axis=0), iris[0] + 1e3])
    for model, shape in (("EII", (3,)), ("EVV", (3, 4, 4))):
        fitted = GaussianMixture(3, covariance_type=model, means_init=means_init, max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fitted.fit(iris)
        assert fitted.weights_[2] < 1e-12 and fitted.covariances_.shape == shape
        volumes = np.ravel(fitted.covariances_) if model == "EII" else np.linalg.det(fitted.covariances_)
        np.testing.assert_allclose(volumes, volumes[0], rtol=1e-10)
