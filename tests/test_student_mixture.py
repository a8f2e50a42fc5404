"""Mixtures of multivariate t distributions: the model against a direct numerical maximization
and scipy's density, and the ``StudentMixture`` estimator face."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from scipy import optimize, stats
from scipy.special import expit, logsumexp

import emkit
from emkit import fit
from emkit.engine.stats import add_stats
from emkit.exceptions import NotFittedError
from emkit.estimators.gaussian_mixture import GaussianMixture
from emkit.estimators.student_mixture import StudentMixture
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.families import StudentT
from emkit.latent import MixtureModel
from emkit.models.student_mixture import StudentMixtureModel
from emkit.variants.ecm import fit_ecm
from gaussian_reference import full_covariances


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    first = stats.multivariate_t(loc=[0, 0], shape=[[1, 0.3], [0.3, 1]], df=3).rvs(70, random_state=rng)
    second = stats.multivariate_t(loc=[5, 3], shape=[[0.5, 0], [0, 2]], df=8).rvs(50, random_state=rng)
    return np.vstack([first, second])


def _mixture_loglik(X, weights, locations, scatters, dofs):
    parts = [np.log(w) + stats.multivariate_t(loc=m, shape=s, df=nu).logpdf(X)
             for w, m, s, nu in zip(weights, locations, scatters, dofs)]
    return logsumexp(parts, axis=0).sum()


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_loglik_equals_scipy_density(data, covariance_type):
    model = StudentMixtureModel(2, covariance_type)
    prepared = model.prepare(data)
    params = model.initial_params(prepared, np.random.default_rng(1))
    _, loglik = model.e_step(prepared, params)
    scatters = full_covariances(params["scatters"], covariance_type, 2, 2)
    assert loglik == pytest.approx(_mixture_loglik(data, params["weights"], params["locations"], scatters,
                                                   params["dofs"]), rel=1e-12)


def test_ecme_equals_direct_maximization(data):
    result = fit_ecm(StudentMixtureModel(2, reg_covar=0.0), data, variant="ecme")
    params = result.params

    def unpack(theta):
        weights = np.array([expit(theta[0]), 1 - expit(theta[0])])
        locations, scatters, dofs = [], [], []
        for offset in (1, 7):
            lower = np.array([[np.exp(theta[offset + 2]), 0.0], [theta[offset + 3], np.exp(theta[offset + 4])]])
            locations.append(theta[offset:offset + 2])
            scatters.append(lower @ lower.T)
            dofs.append(np.exp(theta[offset + 5]))
        return weights, locations, scatters, dofs

    start = [np.log(params["weights"][0] / params["weights"][1])]
    for k in range(2):
        lower = np.linalg.cholesky(params["scatters"][k])
        start += [*params["locations"][k], np.log(lower[0, 0]), lower[1, 0], np.log(lower[1, 1]),
                  np.log(params["dofs"][k])]
    found = optimize.minimize(lambda th: -_mixture_loglik(data, *unpack(th)), np.array(start) + 0.05,
                              method="BFGS", options={"gtol": 1e-8})
    weights, locations, scatters, dofs = unpack(found.x)
    assert result.loglik >= -found.fun - 1e-8
    assert result.loglik == pytest.approx(-found.fun, rel=1e-10)
    np.testing.assert_allclose(params["weights"], weights, atol=1e-5)
    np.testing.assert_allclose(params["locations"], locations, atol=1e-4)
    np.testing.assert_allclose(params["scatters"], scatters, atol=1e-4)
    np.testing.assert_allclose(params["dofs"], dofs, rtol=1e-3)


def test_ecm_and_ecme_reach_the_same_fixed_point(data):
    ecm = fit_ecm(StudentMixtureModel(2, "tied"), data, variant="ecm", accelerate="squarem")
    ecme = fit_ecm(StudentMixtureModel(2, "tied"), data, variant="ecme")
    assert ecm.loglik == pytest.approx(ecme.loglik, rel=1e-10)
    np.testing.assert_allclose(ecm.params["dofs"], ecme.params["dofs"], rtol=1e-4)


def test_statistics_add_over_halves(data):
    """Halves prepared as chunks about the whole data's centre (``prepare_chunk``) add up."""
    model = StudentMixtureModel(2, "diag")
    prepared = model.prepare(data)
    params = model.initial_params(prepared)
    whole, ll = model.e_step(prepared, params)
    a, la = model.e_step(model.prepare_chunk(data[::2], prepared.context), params)
    b, lb = model.e_step(model.prepare_chunk(data[1::2], prepared.context), params)
    for key, value in add_stats(a, b).items():
        np.testing.assert_allclose(value, whole[key], rtol=1e-11, atol=1e-11)
    assert la + lb == pytest.approx(ll, rel=1e-13)


def test_fixed_dof_is_kept(data):
    result = fit(StudentMixtureModel(2, dof=4.0), data, tol=1e-8)
    np.testing.assert_array_equal(result.params["dofs"], [4.0, 4.0])
    assert "dofs" not in result.model.param_names


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")
def test_collapsed_component_is_a_clear_error_or_warning():
    X = np.vstack([np.zeros((5, 2)), np.random.default_rng(0).normal(size=(30, 2))])
    start = {"weights": [0.2, 0.8], "locations": [[0.0, 0.0], [0.0, 0.1]],
             "scatters": [np.eye(2) * 1e-3, np.eye(2)], "dofs": [5.0, 5.0]}
    with pytest.raises(ValueError, match="reg_covar"):
        fit(StudentMixtureModel(2, reg_covar=0.0), X, init=start)
    far = {**start, "locations": [[50.0, 50.0], [0.0, 0.0]], "scatters": [np.eye(2) * 1e-2, np.eye(2)]}
    with pytest.warns(DegenerateComponentWarning, match="no weight"):
        fit(StudentMixtureModel(2), X, init=far, max_iter=3)


# ------------------------------------------------------------------------ the estimator face
def test_robust_to_outliers_where_the_gaussian_mixture_is_not():
    rng = np.random.default_rng(3)
    clusters = np.vstack([rng.normal([0, 0], 0.5, (150, 2)), rng.normal([4, 0], 0.5, (150, 2))])
    outliers = rng.uniform(-30, 30, (15, 2))
    X = np.vstack([clusters, outliers])
    truth = np.array([[0.0, 0.0], [4.0, 0.0]])

    def error(means):
        return np.abs(means[np.argsort(means[:, 0])] - truth).max()

    t_means = StudentMixture(2, random_state=0, n_init=5).fit(X).means_
    g_means = GaussianMixture(2, random_state=0, n_init=5).fit(X).means_
    assert error(t_means) < 0.15
    assert error(g_means) > 2 * error(t_means)


def test_estimator_attributes_and_methods(data):
    estimator = StudentMixture(2, random_state=0, tol=1e-6).fit(data)
    assert estimator.means_.shape == (2, 2) and estimator.covariances_.shape == (2, 2, 2)
    assert estimator.dofs_.shape == (2,) and estimator.converged_
    assert estimator.lower_bound_ == pytest.approx(estimator.score(data), rel=1e-12)
    assert np.all(np.diff(estimator.lower_bounds_) > -1e-12)
    np.testing.assert_allclose(estimator.predict_proba(data).sum(axis=1), 1.0)
    np.testing.assert_array_equal(estimator.predict(data), estimator.fit_predict(data))
    np.testing.assert_allclose(estimator.precisions_[0] @ estimator.covariances_[0], np.eye(2), atol=1e-10)
    X, labels = estimator.sample(400)
    assert X.shape == (400, 2) and set(labels) <= {0, 1}
    n_params = 1 + 2 * 2 + 2 * 3 + 2
    assert estimator.bic(data) == pytest.approx(-2 * estimator.score(data) * 120 + n_params * np.log(120))


def test_integer_weights_equal_repeated_rows(data):
    weights = np.arange(len(data)) % 3
    weighted = StudentMixture(2, tol=1e-8, max_iter=500).fit(data, sample_weight=weights)
    repeated = StudentMixture(2, tol=1e-8, max_iter=500).fit(np.repeat(data, weights, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, atol=1e-5)
    np.testing.assert_allclose(weighted.dofs_, repeated.dofs_, rtol=1e-3)


def _direct_dof(X):
    """ν maximizing Σ log t_ν(x_i | μ, LLᵀ) (scipy's density) over μ, the Cholesky factor L (log
    diagonal) and log ν, by BFGS: an independent MLE of the degrees of freedom."""
    d = X.shape[1]
    rows, columns = np.tril_indices(d)

    def negative_loglik(theta):
        lower = np.zeros((d, d))
        lower[rows, columns] = theta[d:-1]
        lower[np.diag_indices(d)] = np.exp(np.diag(lower))
        return -stats.multivariate_t(loc=theta[:d], shape=lower @ lower.T, df=np.exp(theta[-1])).logpdf(X).sum()

    start_factor = np.linalg.cholesky(np.atleast_2d(np.cov(X.T)))
    start_factor[np.diag_indices(d)] = np.log(np.diag(start_factor))
    start = np.concatenate([np.median(X, axis=0), start_factor[rows, columns], [np.log(10.0)]])
    found = optimize.minimize(negative_loglik, start, method="BFGS", options={"gtol": 1e-9})
    return float(np.exp(found.x[-1]))


@pytest.mark.parametrize("method", ["ecm", "ecme"])
@pytest.mark.parametrize("seed, n_features", [(1, 2), (0, 2), (3, 1), (6, 1)])
def test_converged_at_the_defaults_means_the_mle_of_the_degrees_of_freedom(method, seed, n_features):
    """Issue 13, item 3: t data with ν = 5 (seed 1, 2-D): at the defaults ECM stopped after 5 iterations
    at ν = 8.72 (ECME: 5.99) where the MLE is 5.61, and said converged_ = True. A converged fit now has
    ν within 3·tol·(1 + ν̂) of a direct maximization of the observed-data likelihood; one that is not
    that close must say converged_ = False."""
    X = stats.t.rvs(5, size=(300, n_features), random_state=np.random.default_rng(seed))
    mle = _direct_dof(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = StudentMixture(1, method=method).fit(X)
    if estimator.converged_:
        assert abs(estimator.dofs_[0] - mle) <= 3 * estimator.tol * (1 + mle)
    else:
        assert estimator.n_iter_ == estimator.max_iter
    if (seed, n_features) == (1, 2):  # the case: a converged fit is reached within max_iter
        assert estimator.converged_


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_and_load_round_trip(data, tmp_path, suffix):
    estimator = StudentMixture(2, random_state=0).fit(data)
    loaded = StudentMixture.load(estimator.save(tmp_path / f"model{suffix}"))
    np.testing.assert_allclose(loaded.score_samples(data), estimator.score_samples(data), rtol=1e-15)
    assert loaded.get_params() == estimator.get_params()


def test_errors_name_the_problem(data):
    with pytest.raises(NotFittedError):
        StudentMixture(2).predict(data)
    with pytest.raises(ValueError, match="method"):
        StudentMixture(2, method="em").fit(data)
    with pytest.raises(ValueError, match="dof"):
        StudentMixture(2, dof=0.0).fit(data)
    with pytest.raises(ValueError, match="NaN"):
        StudentMixture(2).fit(np.where(data > 4, np.nan, data))


@pytest.mark.slow
def test_scikit_learn_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(StudentMixture(), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert not failed


def test_standard_errors_match_the_t_distributions_fisher_information():
    """k = 1, known ν: the numerical Hessian's errors equal the closed form of the expected
    information of a t location-scale family, I_μμ = (ν+1)/((ν+3)σ²) and
    I_σ²σ² = ν/(2(ν+3)σ⁴) per observation (μ and σ² orthogonal), to a few in ten thousand."""
    rng = np.random.default_rng(30)
    nu, n = 5.0, 20_000
    X = (3.0 + 1.5 * rng.standard_t(nu, size=n))[:, None]
    result = emkit.fit(StudentMixtureModel(1, "full", dof=nu, reg_covar=0.0), X, tol=1e-13, max_iter=5000)
    errors = emkit.standard_errors(result, X, method="hessian")
    scale = result.params["scatters"][0, 0, 0]
    assert errors.se["locations"][0][0] == pytest.approx(np.sqrt(scale * (nu + 3) / ((nu + 1) * n)), rel=2e-3)
    assert errors.se["scatters"][0][0][0] == pytest.approx(scale * np.sqrt(2 * (nu + 3) / (nu * n)), rel=2e-2)
    assert errors.labels == ("locations[0,0]", "scatters[0,0,0]")


def test_free_parameters_with_estimated_dofs_round_trip():
    rng = np.random.default_rng(31)
    X = np.vstack([rng.standard_t(4.0, size=(200, 2)), rng.standard_t(8.0, size=(200, 2)) + [6.0, 3.0]])
    model = StudentMixtureModel(2, "diag", reg_covar=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)    # any point of the space will do
        params = emkit.fit(model, X, tol=1e-6, max_iter=50, random_state=0).params
    free = model.to_free(params)
    assert free.size == model.n_free_parameters(2) == len(model.free_labels(params))
    assert model.free_labels(params)[-2:] == ("dofs[0]", "dofs[1]")
    back = model.from_free(free, params)
    for name in model.param_names:
        np.testing.assert_allclose(back[name], params[name], rtol=0, atol=1e-14)


@pytest.mark.slow
def test_standard_errors_of_a_two_component_fit_by_hessian_and_bootstrap():
    """Two components, known ν: the Hessian and the parametric bootstrap (t draws) agree within 30%."""
    rng = np.random.default_rng(31)
    X = np.vstack([rng.standard_t(5.0, size=(300, 2)), rng.standard_t(5.0, size=(300, 2)) + [6.0, 3.0]])
    result = emkit.fit(StudentMixtureModel(2, "diag", dof=5.0, reg_covar=0.0), X, tol=1e-12, max_iter=5000,
                       random_state=0)
    hessian = emkit.standard_errors(result, X, method="hessian")
    boot = emkit.standard_errors(result, X, method="bootstrap", bootstrap_kind="parametric", n_boot=80,
                                 random_state=32, fit_options={"tol": 1e-8, "max_iter": 2000})
    np.testing.assert_allclose(boot.se["locations"], hessian.se["locations"], rtol=0.3)
    np.testing.assert_allclose(boot.se["weights"], hessian.se["weights"], rtol=0.3)


# ------------------------------------------------------------------------ a face over MixtureModel(StudentT)
@pytest.mark.parametrize("covariance_type, dof", [("full", None), ("tied", None), ("diag", None),
                                                  ("spherical", None), ("full", 4.0)])
def test_ecm_iterates_are_the_mixture_of_the_t_familys(data, covariance_type, dof):
    """The face is MixtureModel(StudentT): from one start, its ECM cycles and the mixture's EM
    steps give the same parameters and log-likelihoods, iterate by iterate, to the last bit (the
    face only renames ``locations``/``scatters``); ECM's ν-step is the family's."""
    face = StudentMixtureModel(2, covariance_type, dof=dof)
    face_data = face.prepare(data)
    mixture = MixtureModel(StudentT(2, covariance_type, dof=dof, centre=face_data.context), 2)
    mixture_data = mixture.prepare(data)
    face_params = face.initial_params(face_data)
    params = {"weights": face_params["weights"], "means": face_params["locations"],
              "covars": face_params["scatters"], **({"dofs": face_params["dofs"]} if dof is None else {})}
    steps = face.conditional_steps("ecm")
    assert len(steps) == (2 if dof is None else 1)
    for _ in range(15):
        face_stats, face_loglik = face.e_step(face_data, face_params)
        stats_, loglik = mixture.e_step(mixture_data, params)
        assert face_loglik == loglik
        for step in steps:
            face_params = step(face_data, face_stats, face_params)
        params = mixture.m_step(stats_, params)
        np.testing.assert_array_equal(face_params["weights"], params["weights"])
        np.testing.assert_array_equal(face_params["locations"], params["means"])
        np.testing.assert_array_equal(face_params["scatters"], params["covars"])
        if dof is None:
            np.testing.assert_array_equal(face_params["dofs"], params["dofs"])


def test_canonical_order_sorts_components_but_not_a_tied_scatter():
    """Components sorted by location (the mixture's order_by); a tied scatter (here 2 × 2 with
    K = 2, the shape of a per-component parameter) is shared, so it is not permuted."""
    model = StudentMixtureModel(2, "tied", center=[0.0, 0.0])
    scatter = np.array([[2.0, 0.5], [0.5, 1.0]])
    params = {"weights": np.array([0.3, 0.7]), "locations": np.array([[4.0, 0.0], [-1.0, 2.0]]),
              "scatters": scatter, "dofs": np.array([3.0, 9.0])}
    ordered = model.canonical(params)
    np.testing.assert_array_equal(ordered["locations"], [[-1.0, 2.0], [4.0, 0.0]])
    np.testing.assert_array_equal(ordered["weights"], [0.7, 0.3])
    np.testing.assert_array_equal(ordered["dofs"], [9.0, 3.0])
    np.testing.assert_array_equal(ordered["scatters"], scatter)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), covariance_type=st.sampled_from(["full", "tied", "diag", "spherical"]),
       components=st.integers(1, 3), weighted=st.booleans())
@example(seed=5739, covariance_type="spherical", components=3, weighted=True)
@example(seed=1, covariance_type="tied", components=3, weighted=False)   # ℓ(ν_1) has two maxima
def test_ecme_dof_step_ascends_and_maximizes_each_dof(seed, covariance_type, components, weighted):
    """ECME's CM-2 (each ν_k in turn maximizing the observed likelihood given the rest), checked
    with scipy's t density: at each of its K steps ℓ does not fall, and no ν_k on a grid gives a
    higher ℓ given the values the step saw."""
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=rng.uniform(1.5, 12), size=(60, 2)) * rng.uniform(0.5, 2, size=2)
    X[:30] += rng.normal(0, 4, size=2)
    weights = rng.integers(0, 3, size=60).astype(float) if weighted else None
    model = StudentMixtureModel(components, covariance_type)
    prepared = model.prepare(X if weights is None else (X, weights))
    params = model.initial_params(prepared, rng)
    stats_, _ = model.e_step(prepared, params)
    first, dof_step = model.conditional_steps("ecme")
    after_first = first(prepared, stats_, params)
    stepped = dof_step(prepared, stats_, after_first)
    scatters = full_covariances(after_first["scatters"], covariance_type, components, 2)
    row_weights = np.ones(len(X)) if weights is None else weights

    def loglik(dofs):
        parts = [np.log(w) + stats.multivariate_t(loc=m, shape=s, df=nu).logpdf(X)
                 for w, m, s, nu in zip(after_first["weights"], after_first["locations"], scatters, dofs)]
        return float(row_weights @ logsumexp(parts, axis=0))

    # a component collapsed onto a point (scatter at the reg_covar floor) makes ℓ(ν_k) multimodal,
    # where the bounded 1-D search finds a local maximum (seen: seed 5739, spherical, K = 3)
    collapsed = np.linalg.eigvalsh(scatters).min() <= 10 * model.reg_covar
    grid = np.exp(np.linspace(np.log(0.5), np.log(1000.0), 40))
    current = np.array(after_first["dofs"], dtype=float)
    for k in range(components):   # ν_k given the new ν_1..ν_{k−1} and the old ν_{k+1}..ν_K
        before = loglik(current)
        best = max(loglik(np.where(np.arange(components) == k, nu, current)) for nu in grid)
        current[k] = stepped["dofs"][k]
        assert loglik(current) >= before - 1e-9 * abs(before)
        assert collapsed or loglik(current) >= best - 1e-9 * abs(best)


def test_sem_and_louis_standard_errors_equal_the_hessians():
    """The mixture's complete-data information gives SEM (EM's rate matrix) and Louis's method
    (the t family's exact scores over the latent scales u), both of which agree with the
    numerical Hessian of the observed likelihood."""
    rng = np.random.default_rng(31)
    X = np.vstack([rng.standard_t(5.0, size=(300, 2)), rng.standard_t(5.0, size=(300, 2)) + [6.0, 3.0]])
    result = fit_ecm(StudentMixtureModel(2, "diag", reg_covar=0.0), X, variant="ecme", tol=1e-13, param_tol=1e-12,
                     max_iter=5000, random_state=0)
    hessian = emkit.standard_errors(result, X, method="hessian")
    sem = emkit.standard_errors(result, X, method="sem")
    louis = emkit.standard_errors(result, X, method="louis")
    assert sem.labels == louis.labels == hessian.labels and sem.labels[-2:] == ("dofs[0]", "dofs[1]")
    np.testing.assert_allclose(np.sqrt(np.diag(sem.cov)), np.sqrt(np.diag(hessian.cov)), rtol=1e-5)
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-9 * np.abs(hessian.cov).max())


def test_the_faces_louis_standard_errors_equal_the_hessians():
    """``StudentMixture(...).fit(X)`` then Louis's standard errors of its ``result_``, full
    scatters and ν estimated: the numerical Hessian's."""
    rng = np.random.default_rng(32)
    X = np.vstack([rng.standard_t(5.0, size=(150, 2)), rng.standard_t(5.0, size=(150, 2)) + [6.0, 3.0]])
    est = StudentMixture(2, covariance_type="full", reg_covar=0.0, tol=1e-13, max_iter=5000, random_state=0,
                         accelerate="squarem").fit(X)
    louis = emkit.standard_errors(est.result_, X, method="louis")
    hessian = emkit.standard_errors(est.result_, X, method="hessian")
    assert louis.labels == hessian.labels and louis.labels[-1] == "dofs[1]"
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-9 * np.abs(hessian.cov).max())
