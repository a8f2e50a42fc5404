"""Markov-switching regressions (issue 19): a GLM regression as an HMM's emission
(:class:`emkit.families.Regression`), checked against Stata's published fits (the reference
values of statsmodels' ``test_markov_regression.py``), direct maximisations of the forward
algorithm's likelihood (scipy), and the ascent property through the inner Newton M-step."""

from __future__ import annotations

import numpy as np
import pytest
from hmm_brute import forward_loglik
from scipy import optimize, stats
from markov_switching_data import ARETURNS, INF, OGAP
from test_hmm_chain_options import FEDFUNDS

import emkit
from emkit.families import GaussianRegression, Regression
from emkit.latent import HiddenMarkovModel
from emkit.latent.hmm_covariates import InputDrivenHMM


def _sorted_by_first_coef(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and transition matrix with the states ordered as Stata's (the labels are
    arbitrary): by decreasing intercept."""
    order = np.argsort(-params["coef"][:, 0])
    return params["coef"][order], params["transmat"][np.ix_(order, order)]


def _fit_statsmodels_model(X: np.ndarray, **options) -> emkit.FitResult:
    model = HiddenMarkovModel(Regression(X.shape[1] - 1, switching_dispersion=False), 2, initial="stationary",
                              n_jobs=1)
    return emkit.fit(model, X, tol=1e-10, max_iter=2000, accelerate="squarem", **options)


def test_switching_mean_reaches_stata_on_fedfunds():
    """MarkovRegression(fedfunds, k_regimes=2): ℓ = −508.63592 (intercept-only regression)."""
    result = _fit_statsmodels_model(FEDFUNDS[:, None])
    assert round(result.loglik, 5) == -508.63592
    np.testing.assert_allclose(np.sort(result.params["coef"].ravel()), [3.70877, 9.556793], atol=2e-5)
    assert result.params["dispersion"].item() == pytest.approx(2.107562 ** 2, rel=1e-5)


def test_switching_autoregression_reaches_stata_on_fedfunds():
    """MarkovRegression(fedfunds[1:], k_regimes=2, exog=fedfunds[:-1]) (Stata's mswitch dr with a
    switching lag coefficient, common variance): ℓ = −264.71069 and its parameters."""
    result = _fit_statsmodels_model(np.column_stack([FEDFUNDS[1:], FEDFUNDS[:-1]]))
    assert round(result.loglik, 5) == -264.71069
    coef, transmat = _sorted_by_first_coef(result.params)
    np.testing.assert_allclose([transmat[0, 0], transmat[1, 0]], [0.6378175, 0.1306295], atol=2e-6)
    np.testing.assert_allclose(coef, [[0.724457, 0.7631424], [-0.0988764, 1.061174]], atol=2e-6)
    assert result.params["dispersion"].item() == pytest.approx(0.6915759 ** 2, rel=1e-6)


def test_switching_regression_on_exogenous_regressors_reaches_stata():
    """fedfunds on its lag, the output gap and inflation, every coefficient switching, common
    variance (statsmodels' TestFedFundsConstL1Exog, from Stata): ℓ = −229.25614."""
    X = np.column_stack([FEDFUNDS[4:], FEDFUNDS[3:-1], OGAP[4:], INF[4:]])
    result = _fit_statsmodels_model(X)
    assert round(result.loglik, 5) == -229.25614
    coef, transmat = _sorted_by_first_coef(result.params)
    np.testing.assert_allclose([transmat[0, 0], transmat[1, 0]], [0.7279288, 0.2114578], atol=2e-6)
    np.testing.assert_allclose(coef, [[0.6554954, 0.8314458, 0.1355425, -0.0273928],
                                      [-0.0944924, 0.9292574, 0.0343072, 0.2125275]], atol=2e-6)
    assert result.params["dispersion"].item() == pytest.approx(0.5764495 ** 2, rel=1e-6)
    # Stata's observed-information standard errors (bse_oim) of p00, p10 and the coefficients
    assert result.params["coef"][0, 0] > result.params["coef"][1, 0]     # the states in Stata's order
    se = {name: np.asarray(value) for name, value in emkit.standard_errors(result, X, method="hessian").se.items()}
    np.testing.assert_allclose([se["transmat"][0, 0], se["transmat"][1, 0]], [0.0929915, 0.0641179], atol=2e-6)
    np.testing.assert_allclose(se["coef"], [[0.1373889, 0.0333236, 0.0294113, 0.0408057],
                                            [0.1279231, 0.0270852, 0.0240138, 0.0297351]], atol=2e-6)


def test_switching_variance_reaches_stata_on_areturns():
    """S&P 500 absolute returns on their lag, coefficients and variance switching (statsmodels'
    TestAreturnsConstL1Variance, from Stata): ℓ = −745.7977."""
    X = np.column_stack([ARETURNS[1:], ARETURNS[:-1]])
    model = HiddenMarkovModel(Regression(1), 2, initial="stationary", n_jobs=1)
    result = emkit.fit(model, X, tol=1e-10, max_iter=3000, accelerate="squarem")
    assert round(result.loglik, 4) == -745.7977
    order = np.argsort(result.params["coef"][:, 0])
    transmat = result.params["transmat"][np.ix_(order, order)]
    np.testing.assert_allclose([transmat[0, 0], transmat[1, 0]], [0.7530865, 0.6825357], atol=2e-6)
    np.testing.assert_allclose(result.params["coef"][order], [[0.7641424, 0.0790744], [1.972771, 0.527953]],
                               atol=2e-6)
    np.testing.assert_allclose(result.params["dispersion"][order], [0.5895792 ** 2, 1.605333 ** 2], rtol=2e-6)


# ------------------------------------------------------------- direct maximisations (scipy)
def _simulate(family: str, n: int, seed: int) -> np.ndarray:
    """A two-state chain (stay 0.9) driving a regression on one covariate: rows ``[y, x]``."""
    rng = np.random.default_rng(seed)
    states = np.zeros(n, dtype=int)
    for t in range(1, n):
        states[t] = states[t - 1] if rng.random() < 0.9 else 1 - states[t - 1]
    x = rng.normal(size=n)
    coef = np.array([[0.3, 0.6], [1.4, -0.5]])
    eta = coef[states, 0] + coef[states, 1] * x
    if family == "poisson":
        return np.column_stack([rng.poisson(np.exp(eta)).astype(float), x])
    return np.column_stack([rng.normal(eta, np.where(states == 0, 0.5, 1.5)), x])


def _stationary(transmat: np.ndarray) -> np.ndarray:
    return np.array([transmat[1, 0], transmat[0, 1]]) / (transmat[0, 1] + transmat[1, 0])


def _direct_loglik(theta: np.ndarray, X: np.ndarray, family: str) -> float:
    """The forward algorithm's log-likelihood, written from scipy.stats: ``theta`` is the two
    transition logits, the coefficients (2 x 2) and, for gaussian, the two log standard deviations."""
    stay = 1.0 / (1.0 + np.exp(-theta[:2]))
    transmat = np.array([[stay[0], 1 - stay[0]], [1 - stay[1], stay[1]]])
    coef = theta[2:6].reshape(2, 2)
    eta = coef[:, 0] + X[:, 1:2] * coef[:, 1]
    if family == "poisson":
        log_frame = stats.poisson.logpmf(X[:, :1], np.exp(eta))
    else:
        log_frame = stats.norm.logpdf(X[:, :1], eta, np.exp(theta[6:8]))
    log_frame = np.where(np.isnan(X[:, :1]), 0.0, log_frame)
    return forward_loglik(log_frame, _stationary(transmat), transmat)


@pytest.mark.parametrize("family", ["poisson", "gaussian"])
def test_fit_is_the_direct_maximum_of_the_forward_likelihood(family):
    """EM with the inner Newton M-step reaches the maximum that scipy finds directly (gaussian: a
    variance per state, and missing responses, which the direct likelihood leaves out)."""
    X = _simulate(family, 150, seed=3)
    if family == "gaussian":
        X[[5, 40, 41, 100], 0] = np.nan
    model = HiddenMarkovModel(Regression(1, family), 2, initial="stationary", n_jobs=1)
    result = emkit.fit(model, X, tol=1e-12, max_iter=3000, accelerate="squarem")
    params = result.params
    start = np.concatenate([np.log(np.diag(params["transmat"]) / (1 - np.diag(params["transmat"]))),
                            params["coef"].ravel()]
                           + ([0.5 * np.log(params["dispersion"])] if family == "gaussian" else []))
    assert _direct_loglik(start, X, family) == pytest.approx(result.loglik, abs=1e-8)
    direct = optimize.minimize(lambda theta: -_direct_loglik(theta, X, family), start + 0.05, method="BFGS",
                               options={"gtol": 1e-8})
    assert result.loglik >= -direct.fun - 1e-7
    np.testing.assert_allclose(direct.x, start, atol=2e-3)


@pytest.mark.filterwarnings("ignore:EM did not converge")
@pytest.mark.parametrize("family", ["poisson", "binomial", "gamma", "gaussian"])
@pytest.mark.parametrize("switching", [True, False])
def test_every_iteration_ascends(family, switching):
    """The ascent property through the inner Newton maximisation, from random starts."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 2))
    states = (np.arange(120) // 30) % 2
    eta = np.where(states == 0, 0.2 + x @ [0.5, -0.3], 1.0 + x @ [-0.4, 0.2])
    y = {"poisson": lambda: rng.poisson(np.exp(eta)), "binomial": lambda: rng.random(120) < 1 / (1 + np.exp(-eta)),
         "gamma": lambda: rng.gamma(3.0, np.exp(eta) / 3.0), "gaussian": lambda: rng.normal(eta, 0.5)}[family]()
    X = np.column_stack([np.asarray(y, dtype=float), x])
    model = HiddenMarkovModel(Regression(2, family, switching_dispersion=switching), 2, n_jobs=1)
    result = emkit.fit(model, X, random_state=1, max_iter=40, tol=0.0)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    assert trace[-1] > trace[0]


def test_a_missing_response_contributes_nothing():
    """A row whose response is NaN has emission log-likelihood 0 in every state, the others the
    poisson log-pmf (fits with missing responses: the gaussian direct maximum above)."""
    X = _simulate("poisson", 80, seed=1)
    family = Regression(1, "poisson")
    params = {"coef": np.array([[0.3, 0.6], [1.4, -0.5]])}
    missing = X.copy()
    missing[10, 0] = np.nan
    block = family.block_data(family.prepare(missing))
    frame = family.log_likelihood(block, params)
    assert np.all(frame[10] == 0.0)
    expected = stats.poisson.logpmf(X[:, :1], np.exp(params["coef"][:, 0] + X[:, 1:2] * params["coef"][:, 1]))
    np.testing.assert_allclose(np.delete(frame, 10, axis=0), np.delete(expected, 10, axis=0))


# ------------------------------------------------------------------------------- faces
def test_hmm_face_fits_decodes_and_scores_a_switching_regression():
    X = np.column_stack([FEDFUNDS[4:], FEDFUNDS[3:-1], OGAP[4:], INF[4:]])
    hmm = emkit.HMM(2, family=Regression(3, switching_dispersion=False), initial="stationary", n_iter=1000,
                    tol=1e-8, accelerate="squarem").fit(X)
    assert hmm.score(X) == pytest.approx(-229.25614, abs=1e-4)
    assert hmm.coef_.shape == (2, 4) and hmm.dispersion_.shape == (1,)
    assert hmm.predict(X).shape == (len(X),) and hmm.predict_proba(X).shape == (len(X), 2)
    # 2 transition probabilities, 8 coefficients, 1 variance (a stationary start has none of its own)
    assert hmm.bic(X) == pytest.approx(-2 * hmm.score(X) + 11 * np.log(len(X)))


@pytest.mark.filterwarnings("ignore:EM did not converge")
def test_input_driven_hmm_takes_a_regression_emission():
    """Transitions driven by the output gap, a switching regression of fedfunds on its lag."""
    X = np.column_stack([FEDFUNDS[4:], FEDFUNDS[3:-1]])
    model = InputDrivenHMM(Regression(1), 2, n_covariates=1, n_jobs=1)
    result = emkit.fit(model, (X, None, OGAP[4:]), max_iter=60, tol=0.0)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    homogeneous = _fit_statsmodels_model(X)
    assert result.loglik > homogeneous.loglik - 2.0


@pytest.mark.parametrize("X, match", [
    (np.ones((5, 3)), "X: expected 2 columns"),
    (np.array([[1.0, np.nan], [2.0, 1.0]]), "covariates"),
    (np.array([[-1.0, 0.0], [2.0, 1.0]]), "y: the poisson family"),
])
def test_bad_rows_name_the_argument(X, match):
    with pytest.raises(ValueError, match=match):
        Regression(1, "poisson").prepare(X)


def test_bad_settings_name_the_argument():
    with pytest.raises(ValueError, match="family"):
        Regression(1, "weibull")
    with pytest.raises(ValueError, match="n_features"):
        Regression(0, fit_intercept=False)


# ------------------------------------------------ multivariate gaussian responses, missing cells
def test_multivariate_regression_with_one_response_reaches_stata():
    """GaussianRegression with one response is the univariate switching regression."""
    X = np.column_stack([FEDFUNDS[4:], FEDFUNDS[3:-1], OGAP[4:], INF[4:]])
    model = HiddenMarkovModel(GaussianRegression(1, 3, switching_covariance=False), 2, initial="stationary", n_jobs=1)
    result = emkit.fit(model, X, tol=1e-10, max_iter=2000, accelerate="squarem")
    assert round(result.loglik, 5) == -229.25614
    assert result.params["covariance"].item() == pytest.approx(0.5764495 ** 2, rel=1e-6)


def _bivariate_rows(seed: int, n: int = 120, missing: float = 0.15) -> np.ndarray:
    """Rows ``[y_1, y_2, x]`` of a two-state switching bivariate regression, cells of ``y``
    missing completely at random."""
    rng = np.random.default_rng(seed)
    states = np.zeros(n, dtype=int)
    for t in range(1, n):
        states[t] = states[t - 1] if rng.random() < 0.9 else 1 - states[t - 1]
    x = rng.normal(size=n)
    coef = np.array([[[0.0, 1.0], [1.0, -1.0]], [[2.0, 0.0], [-1.0, 0.5]]])   # (K, p, d)
    design = np.column_stack([np.ones(n), x])
    noise = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=n)
    noise *= np.where(states == 0, 0.5, 1.0)[:, None]
    Y = np.einsum("np,npd->nd", design, coef[states]) + noise
    Y[rng.random((n, 2)) < missing] = np.nan
    return np.column_stack([Y, x])


def _bivariate_direct_loglik(theta: np.ndarray, X: np.ndarray) -> float:
    """The forward algorithm's log-likelihood from scipy's multivariate normal on each row's
    observed responses: ``theta`` = two transition logits, coefficients (2, 2, 2), and per state
    a Cholesky factor (log diagonal, off-diagonal)."""
    stay = 1.0 / (1.0 + np.exp(-theta[:2]))
    transmat = np.array([[stay[0], 1 - stay[0]], [1 - stay[1], stay[1]]])
    coef = theta[2:10].reshape(2, 2, 2)
    design = np.column_stack([np.ones(len(X)), X[:, 2]])
    log_frame = np.zeros((len(X), 2))
    observed = ~np.isnan(X[:, :2])
    for k in range(2):
        a, b, c = theta[10 + 3 * k:13 + 3 * k]
        lower = np.array([[np.exp(a), 0.0], [b, np.exp(c)]])
        covariance = lower @ lower.T
        mean = design @ coef[k]
        for pattern in ([True, True], [True, False], [False, True]):
            rows = np.all(observed == pattern, axis=1)
            o = np.flatnonzero(pattern)
            if rows.any():
                log_frame[rows, k] = stats.multivariate_normal(np.zeros(len(o)), covariance[np.ix_(o, o)]).logpdf(
                    (X[rows][:, o] - mean[rows][:, o]).reshape(-1, len(o)))
    return forward_loglik(log_frame, _stationary(transmat), transmat)


def test_multivariate_regression_with_missing_cells_is_the_direct_maximum():
    """Missing response cells marginalised exactly: the fit's ℓ is the direct (scipy) likelihood
    at its parameters, and no direction from there increases it."""
    X = _bivariate_rows(seed=2)
    model = HiddenMarkovModel(GaussianRegression(2, 1), 2, initial="stationary", n_jobs=1)
    result = emkit.fit(model, X, tol=1e-12, max_iter=5000, accelerate="squarem")
    params = result.params
    lower = np.linalg.cholesky(params["covariance"])
    start = np.concatenate([np.log(np.diag(params["transmat"]) / (1 - np.diag(params["transmat"]))),
                            params["coef"].ravel()]
                           + [[np.log(L[0, 0]), L[1, 0], np.log(L[1, 1])] for L in lower])
    assert _bivariate_direct_loglik(start, X) == pytest.approx(result.loglik, abs=1e-8)
    direct = optimize.minimize(lambda theta: -_bivariate_direct_loglik(theta, X), start + 0.03, method="BFGS",
                               options={"gtol": 1e-7})
    assert result.loglik >= -direct.fun - 1e-6
    np.testing.assert_allclose(direct.x, start, atol=5e-3)


@pytest.mark.filterwarnings("ignore:EM did not converge")
@pytest.mark.parametrize("switching", [True, False])
def test_multivariate_iterations_ascend(switching):
    X = _bivariate_rows(seed=4, missing=0.3)
    X[7, :2] = np.nan    # a row with no response at all
    model = HiddenMarkovModel(GaussianRegression(2, 1, switching_covariance=switching), 2, n_jobs=1)
    result = emkit.fit(model, X, random_state=0, max_iter=40, tol=0.0)
    trace = np.asarray(result.trace.loglik)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))


def test_multivariate_regression_gives_stata_standard_errors_with_one_response():
    X = np.column_stack([FEDFUNDS[4:], FEDFUNDS[3:-1], OGAP[4:], INF[4:]])
    model = HiddenMarkovModel(GaussianRegression(1, 3, switching_covariance=False), 2, initial="stationary", n_jobs=1)
    result = emkit.fit(model, X, tol=1e-10, max_iter=2000, accelerate="squarem")
    assert result.params["coef"][0, 0, 0] > result.params["coef"][1, 0, 0]     # the states in Stata's order
    se = {name: np.asarray(value) for name, value in emkit.standard_errors(result, X, method="hessian").se.items()}
    np.testing.assert_allclose(se["coef"][..., 0], [[0.1373889, 0.0333236, 0.0294113, 0.0408057],
                                                    [0.1279231, 0.0270852, 0.0240138, 0.0297351]], atol=2e-6)


def test_multivariate_free_parameters_round_trip():
    family = GaussianRegression(2, 1)
    params = {"coef": np.arange(8.0).reshape(2, 2, 2),
              "covariance": np.array([[[2.0, 0.3], [0.3, 1.0]], [[1.0, -0.2], [-0.2, 3.0]]])}
    learn = frozenset(family.param_names)
    free = family.to_free(params, learn)
    assert len(free) == family.n_free_parameters(2, learn) == len(family.free_labels(params, learn))
    back = family.from_free(free, params, learn)
    for name in family.param_names:
        np.testing.assert_array_equal(back[name], params[name])


def test_dask_fit_equals_the_in_memory_fit():
    """The emission's Newton passes run over Dask chunks (each chunk a sequence)."""
    import dask
    import dask.array as da

    X = _simulate("poisson", 200, seed=5)
    model = HiddenMarkovModel(Regression(1, "poisson"), 2, n_jobs=1)
    memory = emkit.fit(model, (X, [100, 100]), tol=1e-10, max_iter=500)
    with dask.config.set(scheduler="threads"):
        chunked = emkit.fit(model, da.from_array(X, chunks=(100, 2)), tol=1e-10, max_iter=500)
    assert chunked.loglik == pytest.approx(memory.loglik, rel=1e-12)
    np.testing.assert_allclose(chunked.params["coef"], memory.params["coef"], rtol=1e-6)


def test_online_em_refuses_a_data_taking_emission():
    from emkit.variants.online import fit_online

    X = _simulate("poisson", 100, seed=6)
    with pytest.raises(ValueError, match="online EM"):
        fit_online(HiddenMarkovModel(Regression(1, "poisson"), 2, n_jobs=1), [X[:50], X[50:]])


def test_gaussian_regression_in_a_mixture_is_the_regression_mixture():
    """GaussianRegression needs only statistics, so a mixture takes it too: one response gives
    RegressionMixture's gaussian fit (a different code path, the GLM Newton M-step)."""
    rng = np.random.default_rng(0)
    x, second = rng.normal(size=300), rng.random(300) < 0.4
    y = np.where(second, 2 + 1.5 * x, -1 - 0.5 * x) + rng.normal(size=300) * np.where(second, 0.5, 1.0)
    rows = np.column_stack([y, x])
    mixture = emkit.Mixture(2, family=GaussianRegression(1, 1), tol=1e-10, max_iter=2000).fit(rows)
    reference = emkit.RegressionMixture(2, family="gaussian", tol=1e-10, max_iter=2000).fit(x[:, None], y)
    assert mixture.score(rows) == pytest.approx(reference.score(x[:, None], y), rel=1e-9)
    coef = mixture.coef_[..., 0]
    np.testing.assert_allclose(coef[np.argsort(coef[:, 0])],
                               np.column_stack([reference.intercept_, reference.coef_])[
                                   np.argsort(reference.intercept_)], atol=1e-5)
