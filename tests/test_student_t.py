"""The multivariate Student-t with unknown degrees of freedom: ECM and ECME against a direct
numerical maximization of the observed-data likelihood (scipy.optimize) and scipy's density."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats

from direct_mle import complex_step_gradient
from emkit import fit, standard_errors
from emkit.engine.stats import add_stats
from emkit.models.student_t import StudentT
from emkit.variants.ecm import fit_ecm


@pytest.fixture(scope="module")
def data():
    shape = [[2.0, 0.5], [0.5, 1.0]]
    return stats.multivariate_t(loc=[1.0, -2.0], shape=shape, df=4).rvs(60, random_state=np.random.default_rng(0))


def _unpack(theta, d):
    location = theta[:d]
    lower = np.zeros((d, d))
    lower[np.tril_indices(d)] = theta[d:d + d * (d + 1) // 2]
    lower[np.diag_indices(d)] = np.exp(lower[np.diag_indices(d)])
    return location, lower @ lower.T, theta[-1]


def _direct_mle(X, dof=None):
    """Maximize Σ log t_ν(x_i | μ, LLᵀ) over μ, the Cholesky factor (log diagonal) and log ν."""
    d = X.shape[1]
    n_free = d + d * (d + 1) // 2

    def negative_loglik(theta):
        location, scatter, log_dof = _unpack(np.append(theta, 0.0) if dof is not None else theta, d)
        nu = dof if dof is not None else np.exp(log_dof)
        return -stats.multivariate_t(loc=location, shape=scatter, df=nu).logpdf(X).sum()

    start = np.concatenate([X.mean(axis=0), np.zeros(n_free - d), [] if dof is not None else [np.log(10.0)]])
    found = optimize.minimize(negative_loglik, start, method="BFGS", options={"gtol": 1e-9})
    location, scatter, log_dof = _unpack(np.append(found.x, 0.0) if dof is not None else found.x, d)
    return location, scatter, (dof if dof is not None else np.exp(log_dof)), -found.fun


@pytest.fixture(scope="module")
def direct(data):
    return _direct_mle(data)


@pytest.mark.parametrize("variant", ["ecm", "ecme"])
def test_ecm_and_ecme_equal_direct_maximization(data, direct, variant):
    result = fit_ecm(StudentT(), data, variant=variant)
    location, scatter, dof, loglik = direct
    assert result.converged
    assert result.loglik == pytest.approx(loglik, rel=1e-11)
    np.testing.assert_allclose(result.params["location"], location, atol=1e-5)
    np.testing.assert_allclose(result.params["scatter"], scatter, atol=1e-5)
    assert float(result.params["dof"]) == pytest.approx(dof, rel=1e-5)


def test_ecme_converges_faster_than_ecm(data):
    ecm = fit_ecm(StudentT(), data, variant="ecm")
    ecme = fit_ecm(StudentT(), data, variant="ecme")
    assert ecme.n_iter < 0.7 * ecm.n_iter
    assert ecme.loglik == pytest.approx(ecm.loglik, rel=1e-12)


def test_fixed_dof_equals_direct_maximization(data):
    result = fit(StudentT(dof=3.0), data)
    location, scatter, _, loglik = _direct_mle(data, dof=3.0)
    assert float(result.params["dof"]) == 3.0
    assert result.loglik == pytest.approx(loglik, rel=1e-11)
    np.testing.assert_allclose(result.params["scatter"], scatter, atol=1e-5)
    np.testing.assert_allclose(result.params["location"], location, atol=1e-5)


def test_loglik_equals_scipy_density(data):
    model = StudentT()
    params = {"location": np.array([0.3, -1.0]), "scatter": np.array([[1.5, -0.2], [-0.2, 0.7]]),
              "dof": np.array(2.5)}
    _, loglik = model.e_step(model.prepare(data), params)
    reference = stats.multivariate_t(loc=params["location"], shape=params["scatter"], df=2.5).logpdf(data).sum()
    assert loglik == pytest.approx(reference, rel=1e-12)


def test_statistics_add_over_halves(data):
    """Halves prepared as chunks about the whole data's centre (``prepare_chunk``) add up."""
    model = StudentT()
    prepared = model.prepare(data)
    params = model.initial_params(prepared)
    whole, ll = model.e_step(prepared, params)
    a, la = model.e_step(model.prepare_chunk(data[:25], prepared.context), params)
    b, lb = model.e_step(model.prepare_chunk(data[25:], prepared.context), params)
    for key, value in add_stats(a, b).items():
        np.testing.assert_allclose(value, whole[key], rtol=1e-12, atol=1e-12)
    assert la + lb == pytest.approx(ll, rel=1e-13)


def test_data_far_from_the_origin_keep_their_digits(data):
    near = fit_ecm(StudentT(), data, variant="ecme")
    far = fit_ecm(StudentT(), data + 1e7, variant="ecme")
    np.testing.assert_allclose(far.params["location"] - 1e7, near.params["location"], atol=1e-7)
    np.testing.assert_allclose(far.params["scatter"], near.params["scatter"], rtol=1e-7)
    assert float(far.params["dof"]) == pytest.approx(float(near.params["dof"]), rel=1e-6)


def test_integer_weights_equal_repeated_rows(data):
    weights = np.arange(len(data)) % 3
    weighted = fit_ecm(StudentT(), (data, weights), variant="ecme")
    repeated = fit_ecm(StudentT(), np.repeat(data, weights, axis=0), variant="ecme")
    assert weighted.loglik == pytest.approx(repeated.loglik, rel=1e-10)
    assert float(weighted.params["dof"]) == pytest.approx(float(repeated.params["dof"]), rel=1e-6)


def test_one_dimensional_data_are_one_feature():
    x = stats.t(df=3, loc=2.0, scale=0.5).rvs(80, random_state=np.random.default_rng(4))
    result = fit_ecm(StudentT(), x, variant="ecme")
    loc, scale, df = float(result.params["location"][0]), np.sqrt(float(result.params["scatter"][0, 0])), float(
        result.params["dof"])
    reference = stats.t.fit(x)  # scipy's own numerical MLE: (df, loc, scale)
    assert result.loglik >= stats.t(*reference).logpdf(x).sum() - 1e-7
    assert result.loglik == pytest.approx(stats.t(df, loc, scale).logpdf(x).sum(), rel=1e-12)


def test_bad_input_names_the_argument(data):
    with pytest.raises(ValueError, match="X"):
        fit(StudentT(), np.where(np.arange(data.size).reshape(data.shape) == 3, np.nan, data))
    with pytest.raises(ValueError, match=r"init\['dof'\]"):
        fit(StudentT(), data, init={"location": [0.0, 0.0], "scatter": np.eye(2), "dof": -1.0})
    with pytest.raises(ValueError, match=r"init\['scatter'\]"):
        fit(StudentT(), data, init={"location": [0.0, 0.0], "scatter": -np.eye(2), "dof": 5.0})
    with pytest.raises(ValueError, match="dof"):
        StudentT(dof=0.0)


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")
def test_collinear_data_without_regularization_is_a_clear_error():
    x = np.linspace(0, 1, 20)
    X = np.column_stack([x, 2 * x])
    with pytest.raises(ValueError, match="reg_covar"):
        fit(StudentT(), X)
    result = fit(StudentT(reg_covar=1e-6), X, max_iter=50, param_tol=None, tol=1e-6)
    assert np.all(np.isfinite(result.params["scatter"]))


# ------------------------------------------------------------------ standard errors (issue 13, item 5)
def _loglik_in_free_parameters(X):
    """``θ ↦ Σ log t_ν(x_i | μ, Σ)`` in emkit's free parameters (μ, the lower triangle of Σ row by
    row, ν), written with functions that accept complex input (for complex-step derivatives)."""
    d = X.shape[1]
    rows, columns = np.tril_indices(d)

    def loglik(theta):
        location, nu = theta[:d], theta[-1]
        scatter = np.zeros((d, d), dtype=theta.dtype)
        scatter[rows, columns] = theta[d:-1]
        scatter[columns, rows] = theta[d:-1]
        sign, log_abs_det = np.linalg.slogdet(scatter)
        centred = X - location
        delta = np.sum(centred.T * np.linalg.solve(scatter, centred.T), axis=0)
        per_row = (special.loggamma((nu + d) / 2) - special.loggamma(nu / 2) - d / 2 * np.log(nu * np.pi)
                   - (np.log(sign) + log_abs_det) / 2 - (nu + d) / 2 * np.log(1 + delta / nu))
        return np.sum(per_row)

    return loglik


def _observed_information(loglik, theta):
    """``−∂²ℓ/∂θ∂θᵀ``: central differences of the complex-step gradient (exact to round-off), so
    the only error is the ``O(h²)`` truncation, about 1e-10 relative."""
    columns = []
    for j in range(theta.size):
        step = np.zeros(theta.size)
        step[j] = 1e-5 * (1.0 + abs(theta[j]))
        columns.append((complex_step_gradient(loglik, theta + step)
                        - complex_step_gradient(loglik, theta - step)) / (2 * step[j]))
    hessian = np.column_stack(columns)
    return -(hessian + hessian.T) / 2


@pytest.mark.parametrize("n_features", [1, 2, 3])
def test_hessian_standard_errors_equal_the_observed_information(n_features):
    """``--se hessian`` failed on any 2-D data ("no information along scatter[0,1]": the symmetric
    scatter's entries were free parameters twice). The covariance now equals the inverse observed
    information computed independently (agreement ~1e-8; asserted to 1e-6)."""
    rng = np.random.default_rng(7)
    shape = np.eye(n_features) + 0.4 * (np.ones((n_features, n_features)) - np.eye(n_features))
    X = stats.multivariate_t(loc=np.arange(n_features, dtype=float), shape=shape, df=5).rvs(
        400, random_state=rng).reshape(400, n_features)
    result = fit_ecm(StudentT(), X, variant="ecme")
    errors = standard_errors(result, X, method="hessian")
    rows, columns = np.tril_indices(n_features)
    assert errors.labels == tuple([f"location[{i}]" for i in range(n_features)]
                                  + [f"scatter[{a},{b}]" for a, b in zip(rows, columns)] + ["dof"])
    theta = np.concatenate([result.params["location"], result.params["scatter"][rows, columns],
                            [float(result.params["dof"])]])
    np.testing.assert_allclose(errors.estimate, theta, rtol=1e-15)
    reference = np.linalg.inv(_observed_information(_loglik_in_free_parameters(X), theta))
    units = np.outer(np.sqrt(np.diag(reference)), np.sqrt(np.diag(reference)))
    np.testing.assert_allclose(errors.cov / units, reference / units, rtol=0, atol=1e-6)
    reference_se = dict(zip(errors.labels, np.sqrt(np.diag(reference))))
    for a in range(n_features):
        assert errors.se["location"][a] == pytest.approx(reference_se[f"location[{a}]"], rel=1e-6)
        for b in range(n_features):
            label = f"scatter[{max(a, b)},{min(a, b)}]"
            assert errors.se["scatter"][a][b] == pytest.approx(reference_se[label], rel=1e-6)
    assert errors.se["dof"] == pytest.approx(reference_se["dof"], rel=1e-6)


def test_free_parameters_round_trip_and_count(data):
    for model in (StudentT(), StudentT(dof=4.0)):
        params = fit_ecm(model, data, variant="ecme").params
        free = model.to_free(params)
        assert free.size == model.n_free_parameters(data.shape[1]) == len(model.free_labels(params))
        assert ("dof" in model.free_labels(params)) == (model.dof is None)
        back = model.from_free(free, params)
        for name in ("location", "scatter", "dof"):
            np.testing.assert_array_equal(back[name], params[name])


def test_bootstrap_standard_errors_agree_with_the_hessian_within_monte_carlo_error():
    """``--se bootstrap`` said "not implemented". Now the nonparametric bootstrap's standard error
    of every reported parameter lies within 4 Monte Carlo standard errors of the Hessian's (the
    Monte Carlo error of a standard deviation from B replicates of excess kurtosis κ is
    ``sd·√((κ + 2)/4B)``; κ matters for ν, whose sampling distribution is skewed)."""
    X = stats.multivariate_t(loc=[1.0, -1.0], shape=[[1.0, 0.3], [0.3, 0.5]], df=5).rvs(
        500, random_state=np.random.default_rng(2))
    result = fit_ecm(StudentT(), X, variant="ecme")
    hessian = standard_errors(result, X, method="hessian")
    n_boot = 200
    boot = standard_errors(result, X, method="bootstrap", n_boot=n_boot, random_state=2,
                           fit_options={"accelerate": "squarem", "tol": 1e-8, "param_tol": 1e-6})
    assert boot.reported_labels == hessian.reported_labels
    assert boot.replicates.shape == (n_boot, 2 + 4 + 1) and boot.diagnostics["n_failed"] == 0
    boot_se, hessian_se = np.sqrt(np.diag(boot.reported_cov)), np.sqrt(np.diag(hessian.reported_cov))
    monte_carlo = boot_se * np.sqrt((stats.kurtosis(boot.replicates, axis=0) + 2) / (4 * n_boot))
    assert np.all(np.abs(boot_se - hessian_se) <= 4 * monte_carlo)


def test_dof_step_keeps_the_current_value_against_rounding_level_gains():
    """At the maximum, ℓ(ν) is flat to rounding over a range of ν of width ~√eps: a candidate
    "better" by a few ulps is noise and would make ν jitter from step to step (ECME never stopping
    on the parameters' change); a real gain is taken."""
    from emkit.kernels.student_t import maximize_dof

    def flat(dof):   # a maximum at 5 under deterministic noise of ~1 ulp of 1e3
        return 1e3 - 1e-20 * (dof - 5.0) ** 2 + 1e-13 * np.sin(1e6 * dof)

    assert maximize_dof(flat, 5.0 + 1e-7) == 5.0 + 1e-7
    assert maximize_dof(lambda dof: -(np.log(dof) - np.log(5.0)) ** 2, 20.0) == pytest.approx(5.0, rel=1e-6)
