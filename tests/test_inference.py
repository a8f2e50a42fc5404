"""Standard errors: Louis, SEM, bootstrap and Hessian against independent computations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import factorial, ndtri
from scipy.stats import chi2

import emkit
from emkit import datasets
from emkit.engine import EMModel
from emkit.inference.free import FreeProblem
from emkit.inference.louis import louis_information
from emkit.models.gene_counting import abo_blood_groups, peppered_moth
from emkit.models.grouped_multinomial import genetic_linkage
from emkit.plotting.simplex import TERNARY, confidence_ellipse, ternary_xy

from direct_mle import complex_step_gradient


# ---------------------------------------------------------------- independent log-likelihoods
# Written out by hand in the free parameters (complex-safe for complex-step differentiation).
def moth_loglik(x, n=(85, 196, 341)):
    c, i = x
    t = 1 - c - i
    return n[0] * np.log(c * c + 2 * c * i + 2 * c * t) + n[1] * np.log(i * i + 2 * i * t) + n[2] * np.log(t * t)


def abo_loglik(x, n=(186, 38, 13, 284)):
    a, b = x
    o = 1 - a - b
    return n[0] * np.log(a * a + 2 * a * o) + n[1] * np.log(b * b + 2 * b * o) + n[2] * np.log(2 * a * b) + n[3] * np.log(o * o)


def linkage_loglik(x, n=(125, 18, 20, 34)):
    (t,) = x
    return n[0] * np.log(0.5 + t / 4) + (n[1] + n[2]) * np.log((1 - t) / 4) + n[3] * np.log(t / 4)


DEATHS = np.array(datasets.hasselblad_deaths(), dtype=float)


def poisson_mixture_loglik(x):
    w, lam1, lam2 = x
    values = np.arange(DEATHS.size)
    density = (w * np.exp(-lam1) * lam1 ** values + (1 - w) * np.exp(-lam2) * lam2 ** values) / factorial(values)
    return DEATHS @ np.log(density)


def observed_information(loglik, x, h=1e-5):
    """−∂²ℓ by central differences of the complex-step (exact) gradient; error O(h²)."""
    columns = []
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = h * max(1.0, abs(x[i]))
        columns.append((complex_step_gradient(loglik, x + step) - complex_step_gradient(loglik, x - step)) / (2 * step[i]))
    hessian = np.column_stack(columns)
    return -0.5 * (hessian + hessian.T)


CASES = {
    "moth": (peppered_moth, datasets.peppered_moth_counts, moth_loglik),
    "abo": (abo_blood_groups, datasets.abo_counts, abo_loglik),
    "linkage": (genetic_linkage, datasets.genetic_linkage_counts, linkage_loglik),
}


@pytest.fixture(scope="module")
def fits():
    return {name: (emkit.fit(make(), data()), data()) for name, (make, data, _) in CASES.items()}


def independent_covariance(name, result):
    loglik = CASES[name][2]
    theta = result.model.to_free(result.params)
    return np.linalg.inv(observed_information(loglik, theta))


def reported_se(name, cov):
    """SEs of every reported parameter; the last allele frequency by ``Var(1 − Σθ) = 1ᵀV1``."""
    free = np.sqrt(np.diag(cov))
    return free if name == "linkage" else np.append(free, np.sqrt(cov.sum()))


@pytest.mark.parametrize("model, params", [
    (peppered_moth(), {"freq": np.array([0.2, 0.3, 0.5])}),
    (genetic_linkage(), {"theta": np.array(0.4)}),
    (emkit.PoissonMixture(3, data="frequencies"), {"weights": np.array([0.2, 0.3, 0.5]), "rates": np.array([1.0, 2.0, 4.0])}),
])
def test_free_parameters_round_trip_and_count(model, params):
    free = model.to_free(params)
    assert free.size == len(model.free_labels(params)) == model.n_free_parameters()
    back = model.from_free(free, params)
    for name in model.param_names:
        np.testing.assert_allclose(back[name], params[name], rtol=1e-15)


# ---------------------------------------------------------------- agreement of the methods
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("method", ["louis", "sem", "hessian"])
def test_information_methods_agree_with_the_direct_observed_information(fits, name, method):
    result, data = fits[name]
    expected = independent_covariance(name, result)
    se = emkit.standard_errors(result, data, method)
    np.testing.assert_allclose(se.cov, expected, rtol=1e-5)
    labels, values = zip(*se.se.items())
    assert labels == tuple(result.named_params())
    np.testing.assert_allclose(values, reported_se(name, expected), rtol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_louis_sem_hessian_agree_to_1e4(fits, name):
    result, data = fits[name]
    louis, sem, hessian = (emkit.standard_errors(result, data, m) for m in ("louis", "sem", "hessian"))
    for other in (sem, hessian):
        np.testing.assert_allclose(other.cov, louis.cov, rtol=1e-4)
        np.testing.assert_allclose(other.rate, louis.rate, rtol=1e-4)
    assert sem.diagnostics["asymmetry"] < 1e-6


@pytest.mark.parametrize("name, kind", [("moth", "nonparametric"), ("abo", "nonparametric"),
                                        ("linkage", "nonparametric"), ("moth", "parametric")])
def test_bootstrap_within_10_percent(fits, name, kind):
    result, data = fits[name]
    boot = emkit.standard_errors(result, data, "bootstrap", n_boot=1000, bootstrap_kind=kind, random_state=2024)
    expected = reported_se(name, independent_covariance(name, result))
    np.testing.assert_allclose(list(boot.se.values()), expected, rtol=0.10)
    assert boot.replicates.shape == (1000, len(expected))
    assert boot.diagnostics == {"kind": kind, "n_boot": 1000, "n_failed": 0, "n_unconverged": 0}


def test_bootstrap_does_not_depend_on_the_number_of_workers(fits):
    result, data = fits["moth"]
    one = emkit.standard_errors(result, data, "bootstrap", n_boot=24, random_state=7)
    two = emkit.standard_errors(result, data, "bootstrap", n_boot=24, random_state=7, workers=2)
    np.testing.assert_array_equal(one.replicates, two.replicates)
    other_seed = emkit.standard_errors(result, data, "bootstrap", n_boot=24, random_state=8)
    assert not np.array_equal(one.replicates, other_seed.replicates)


# ---------------------------------------------------------------- published values, closed forms
def test_dlr_linkage_published_standard_error_and_exact_value(fits):
    result, data = fits["linkage"]
    theta = (15 + np.sqrt(15**2 + 4 * 197 * 68)) / (2 * 197)  # root of 197θ² − 15θ − 68 = 0
    exact_information = 125 / (2 + theta) ** 2 + 38 / (1 - theta) ** 2 + 34 / theta**2
    for method in ("louis", "sem", "hessian"):
        se = emkit.standard_errors(result, data, method).se["theta"]
        assert se == pytest.approx(1 / np.sqrt(exact_information), rel=1e-6)
        assert round(se, 4) == 0.0515  # DLR (1977), Louis (1982): θ̂ = 0.6268, SE 0.0515
    assert result.params["theta"] == pytest.approx(theta, rel=1e-9)
    assert round(float(result.params["theta"]), 4) == 0.6268


def test_dlr_rate_matches_closed_form_and_ratio_of_successive_errors(fits):
    result, data = fits["linkage"]
    theta = float(result.params["theta"])
    # Fraction of missing information: 1 − I_obs/I_c with I_c = E[A]/θ² + B/(1−θ)².
    expected_a = 34 + 125 * theta / (2 + theta)
    complete = expected_a / theta**2 + 38 / (1 - theta) ** 2
    observed = 125 / (2 + theta) ** 2 + 38 / (1 - theta) ** 2 + 34 / theta**2
    closed_form = 1 - observed / complete
    assert closed_form == pytest.approx(0.1328, abs=5e-5)
    errors = np.array([float(p["theta"]) for p in result.trace.params]) - theta
    ratios = errors[4:8] / errors[3:7]  # DLR's table: the ratio settles at 0.1328 from iteration 3
    for method in ("louis", "sem", "hessian"):
        rate = emkit.standard_errors(result, data, method).rate
        assert rate == pytest.approx(closed_form, rel=1e-6)
        np.testing.assert_allclose(ratios, rate, rtol=2e-3)


def test_moth_rate_matches_ratio_of_successive_errors(fits):
    result, data = fits["moth"]
    vectors = result.trace.vectors(result.model)
    errors = np.linalg.norm(vectors - vectors[-1], axis=1)
    ratios = errors[5:9] / errors[4:8]
    rate = emkit.standard_errors(result, data, "sem").rate
    np.testing.assert_allclose(ratios, rate, rtol=1e-3)


# ---------------------------------------------------------------- Poisson mixture (slow EM)
@pytest.fixture(scope="module")
def poisson_fit():
    return emkit.fit(emkit.PoissonMixture(2, data="frequencies"), DEATHS, accelerate="squarem")


@pytest.mark.parametrize("method", ["louis", "sem", "hessian"])
def test_poisson_mixture_against_the_direct_observed_information(poisson_fit, method):
    theta = poisson_fit.model.to_free(poisson_fit.params)
    expected = np.linalg.inv(observed_information(poisson_mixture_loglik, theta))
    se = emkit.standard_errors(poisson_fit, DEATHS, method)
    np.testing.assert_allclose(se.cov, expected, rtol=1e-4)
    assert se.labels == ("weights[0]", "rates[0]", "rates[1]")
    free = np.sqrt(np.diag(expected))
    np.testing.assert_allclose(se.se["weights"], [free[0], free[0]], rtol=1e-4)
    np.testing.assert_allclose(se.se["rates"], free[1:], rtol=1e-4)
    # The fraction of missing information is above 0.99: why plain EM needs thousands of steps.
    assert 0.99 < se.rate < 1


def test_poisson_mixture_rate_matches_a_plain_em_trace(poisson_fit):
    rate = emkit.standard_errors(poisson_fit, DEATHS, "louis").rate
    with pytest.warns(emkit.ConvergenceWarning):  # tol=0: run exactly max_iter plain EM steps
        plain = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), DEATHS, init={"weights": [0.3, 0.7], "rates": [1.0, 2.5]},
                          tol=0, param_tol=None, max_iter=2000)
    steps = np.linalg.norm(np.diff(plain.trace.vectors(plain.model), axis=0), axis=1)
    assert steps[1500] / steps[1499] == pytest.approx(rate, abs=1e-5)


# ---------------------------------------------------------------- Louis's identity everywhere
@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(0, 400), min_size=4, max_size=4).filter(lambda c: sum(c) > 0),
       weights=st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3))
def test_louis_identity_holds_at_any_parameter(counts, weights):
    """I_c − Cov[S_c | y] equals −∂²ℓ at every θ, not only at the MLE (ABO model)."""
    model = abo_blood_groups()
    freq = np.array(weights) / sum(weights)
    problem = FreeProblem(model, model.prepare(dict(zip(("A", "B", "AB", "O"), counts))), {"freq": freq})
    observed = louis_information(problem)
    expected = observed_information(lambda x: abo_loglik(x, counts), freq[:2])
    np.testing.assert_allclose(observed, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


def test_score_covariance_is_additive_over_observations():
    model = peppered_moth()
    params = {"freq": np.array([0.2, 0.3, 0.5])}
    whole, half = np.array([85.0, 196.0, 341.0]), np.array([40.0, 100.0, 141.0])
    parts = model.score_covariance(half, params) + model.score_covariance(whole - half, params)
    np.testing.assert_allclose(parts, model.score_covariance(whole, params), rtol=1e-12)


# ---------------------------------------------------------------- a model with no hooks
class CensoredExponential(EMModel):
    """Exponential lifetimes with mean mu, some right-censored (no inference hooks)."""

    param_names = ("mu",)

    def prepare(self, data):
        times, observed = (np.asarray(a) for a in data)
        return times.astype(float), observed.astype(bool)

    def initial_params(self, data, rng=None):
        return {"mu": np.array(data[0].mean())}

    def e_step(self, data, params):
        times, observed = data
        mu = float(params["mu"])
        loglik = -np.count_nonzero(observed) * np.log(mu) - times.sum() / mu
        return {"total": np.array(times.sum() + mu * np.count_nonzero(~observed)), "n": np.array(float(times.size))}, loglik

    def m_step(self, stats, params):
        return {"mu": stats["total"] / stats["n"]}

    def is_feasible(self, params):
        return bool(params["mu"] > 0)


def test_hessian_works_for_any_model_and_matches_the_closed_form():
    times = np.array([2.0, 3.5, 1.0, 4.0, 6.0, 0.5])
    observed = np.array([True, True, False, True, False, True])
    result = emkit.fit(CensoredExponential(), (times, observed))
    se = emkit.standard_errors(result, (times, observed), "hessian")
    mu = times.sum() / observed.sum()  # closed-form MLE; I_obs = d/μ²
    assert se.se["mu"] == pytest.approx(mu / np.sqrt(observed.sum()), rel=1e-7)
    assert se.rate is None and se.labels == ("mu",)
    with pytest.raises(NotImplementedError, match="complete-data information.*method='hessian'"):
        emkit.standard_errors(result, (times, observed), "louis")
    with pytest.raises(NotImplementedError, match="resample"):
        emkit.standard_errors(result, (times, observed), "bootstrap", n_boot=10)


# ---------------------------------------------------------------- intervals and the simplex map
def test_wald_and_percentile_intervals(fits):
    result, data = fits["moth"]
    louis = emkit.standard_errors(result, data)
    wald = louis.confidence_intervals(0.9)
    z = 1.6448536269514722  # standard normal 95% quantile
    assert wald["C"] == pytest.approx([result.params["freq"][0] - z * louis.se["C"],
                                       result.params["freq"][0] + z * louis.se["C"]], rel=1e-12)
    boot = emkit.standard_errors(result, data, "bootstrap", n_boot=1000, random_state=3)
    for allele, (low, high) in boot.confidence_intervals(0.95).items():
        wald_low, wald_high = louis.confidence_intervals(0.95)[allele]
        width = wald_high - wald_low
        assert abs(low - wald_low) < 0.1 * width and abs(high - wald_high) < 0.1 * width
    payload = louis.to_dict()
    assert payload["intervals"]["kind"] == "wald" and boot.to_dict()["intervals"]["kind"] == "percentile"
    assert ndtri(0.95) == pytest.approx(z)


def test_confidence_ellipse_is_the_chi_square_contour(fits):
    result, data = fits["moth"]
    se = emkit.standard_errors(result, data)
    boundary = confidence_ellipse(result.params["freq"], se.reported_cov, level=0.95)
    # Back from the plane to frequencies: p_3 from y, p_2 from x, p_1 = 1 − p_2 − p_3.
    p3 = boundary[:, 1] / (np.sqrt(3) / 2)
    p2 = boundary[:, 0] - p3 / 2
    free = np.column_stack([1 - p2 - p3, p2]) - result.params["freq"][:2]
    distance = np.einsum("ni,ij,nj->n", free, np.linalg.inv(se.cov), free)
    np.testing.assert_allclose(distance, chi2.ppf(0.95, df=2), rtol=1e-9)
    np.testing.assert_allclose(ternary_xy(np.eye(3)), TERNARY.T)
