"""Markov-switching regressions (issue 19): a GLM regression as an HMM's emission
(:class:`emkit.families.Regression`), checked against Stata's published fits (the reference
values of statsmodels' ``test_markov_regression.py``), direct maximisations of the forward
algorithm's likelihood (scipy), and the ascent property through the inner Newton M-step."""

from __future__ import annotations

import numpy as np
import pytest
from hmm_brute import forward_loglik
from scipy import optimize, stats
from scipy.special import softmax
from test_hmm_chain_options import FEDFUNDS

import emkit
from emkit.families import GaussianRegression, Regression
from emkit.latent import HiddenMarkovModel
from emkit.latent.hmm_covariates import InputDrivenHMM

nan = np.nan
#: statsmodels/tsa/regime_switching/tests/test_markov_regression.py (``ogap``, ``inf``: Stata's usmacro).
OGAP = np.array([-0.53340107, 0.72974336, 2.93532324, 3.58194304, 4.15760183,
        4.28775644, 3.01683831, 2.64185619, 1.82473528, 2.37461162,
        2.39338565, 1.24197006, 1.1370815, -1.28657401, -4.46665335,
        -4.79258966, -3.06711817, -1.3212384, -0.54485309, 0.86588413,
        -0.2469136, -0.75004685, 0.7417022, -0.71350163, -1.5151515,
        -3.80444455, -4.02601957, -3.17873883, -2.48841596, -1.42372882,
        -0.61779928, -0.6430338, -0.73277968, -1.38330388, -1.31537247,
        -0.95626277, 0., -0.15248552, 0.93233085, 1.03888392,
        1.27174389, 0.63400578, 2.13007665, 2.44789481, 3.37605071,
        4.72771597, 6.20753956, 5.39234877, 5.0825758, 4.8605876,
        4.65116262, 3.52755141, 3.35122228, 3.09326482, 4.10191917,
        4.69641066, 4.38452244, 3.79841614, 4.38338947, 3.63766766,
        3.24129653, 1.84967709, 0.75554705, -0.02802691, -0.03673432,
        -1.90527546, -0.14918824, -0.42940569, -0.46382189, -0.97892815,
        -0.12142799, 1.37281513, 1.5143193, 2.47730422, 3.9762032,
        4.08987427, 2.62857127, 2.90107131, 0.97277576, 0.42547619,
        -1.60488391, -2.97784758, -4.98650694, -5.03382635, -4.25698328,
        -3.74993205, -2.39661908, -2.41223454, -2.66694117, -2.62232494,
        -2.29969597, -1.38809109, -0.67855304, -1.08100712, -1.82682908,
        0.92868561, 0.87040615, 1.32669306, 0.56407404, -0.13848817,
        -0.13089494, -0.58975571, -1.00534534, -3.55482054, -4.20365095,
        -2.97225475, -1.57762408, -2.77206445, -2.32418823, -4.01929235,
        -6.25393772, -6.46356869, -7.47437572, -8.06377602, -7.57157278,
        -6.14639282, -5.00167227, -3.74511886, -2.54788184, -1.64858043,
        -1.47994602, -1.44707143, -1.31824112, -1.20102882, -0.57691002,
        -0.64480144, -0.57239723, -0.93083948, -0.8392899, -1.19972074,
        -1.18918467, -0.87174636, -0.78151888, 0.10762761, -0.10596547,
        0.40488175, 0.17958413, 0.67704558, 0.99767941, 1.00495291,
        0.98304421, 0.47067845, 0.80427116, 0.45058677, -0.26300991,
        -1.84629929, -2.99437666, -2.90482664, -3.09490418, -3.32399321,
        -2.87384319, -2.47262239, -2.19618678, -1.91843009, -2.46574545,
        -2.58180451, -2.72212362, -2.17548561, -1.96046102, -1.3287729,
        -1.42521954, -1.04951096, -1.47037697, -1.87099183, -1.72912872,
        -1.76828432, -1.85885167, -0.9193368, -0.95776832, -0.62119246,
        -0.53508854, -0.04090983, 0.47511154, 0.41246772, 0.57928383,
        0.67604625, 1.1378212, 1.96481478, 2.05066752, 1.93714142,
        2.34412026, 3.16807413, 2.57455897, 3.59218717, 2.79711962,
        2.41787243, 1.19362748, 0.82524049, -0.36692095, -1.00542021,
        -0.89346135, -1.23166943, -1.56921482, -2.29188299, -2.56877398,
        -2.37549472, -1.4183135, -1.00017595, -1.03901041, -0.86736482,
        -0.63541794, -0.38296556, 0.11404825, 0.07249562, 0.30608681,
        0.27121997, 0.90333837, 0.595429, 0.08057959, 0.25154814,
        -0.27741581, -0.14053501, -0.06035376, -0.2722317, -1.5122633,
        -1.5272249, -2.5325017, -5.14671373, -6.88223982, -7.36753035,
        -7.43927145, -6.89403868, -6.8306222, -6.26507998, -5.93287086,
        -5.59370756])
INF = np.array([nan, nan, nan, nan, -0.2347243,
       0.37373397, 0.25006533, 1.04645514, 2.01665616, 2.58033299,
       3.41399837, 3.60986805, 3.46304512, 3.08529949, 3.45609665,
       3.27347994, 2.29982662, 1.91197193, 0.89083761, 0.390598,
       0.96842253, 1.47531354, 1.39343977, 1.82488036, 1.35991514,
       1.39598227, 1.50695646, 0.8690359, 1.20648873, 0.70517123,
       0.89477205, 1.30740857, 1.20212376, 1.30043352, 1.22895002,
       1.03573787, 1.36272156, 1.39236343, 1.48636675, 1.46398985,
       1.07421875, 1.26611042, 1.1639185, 1.64622331, 1.71658623,
       1.78565705, 2.41930342, 2.6897428, 3.27391338, 3.5685041,
       2.87078357, 2.56671929, 2.70717716, 2.99242783, 3.74010396,
       4.11855173, 4.47761202, 4.62397051, 4.87426901, 5.50198364,
       5.52285719, 5.83354473, 6.22577858, 6.03848171, 5.68597221,
       5.60000038, 4.81102371, 4.31496382, 4.27074528, 3.53535342,
       3.50587225, 3.22580624, 3.02948403, 3.33414626, 4.1129365,
       5.60817289, 6.83709764, 8.41692829, 9.91564655, 10.54788017,
       11.45758915, 12.04798317, 11.13530636, 9.53939915, 8.67963028,
       7.38337183, 6.34047985, 6.01503754, 5.58903217, 5.18573475,
       5.90339899, 6.79609919, 6.57417107, 6.59522104, 6.47466183,
       7.02936935, 8.02397346, 8.9289465, 9.78376389, 10.75433922,
       11.72252846, 12.64148235, 14.20953751, 14.42577076, 12.93487072,
       12.53929329, 11.26111889, 9.87392902, 10.85386753, 9.5831337,
       7.58190918, 6.90676928, 5.81573057, 4.44292784, 3.59408045,
       3.29905081, 2.52680969, 3.23384356, 4.62551022, 4.40519285,
       4.29570436, 4.1543026, 3.64175439, 3.60676312, 3.35249043,
       3.5137701, 3.1053853, 1.67858768, 1.66821122, 1.34587157,
       2.03802228, 3.69979739, 4.16317225, 4.40493536, 3.96511626,
       3.97994113, 4.1420536, 4.3066597, 4.67509222, 5.15961123,
       4.70588255, 4.62759781, 5.23231459, 4.58372736, 5.56420517,
       6.27646685, 5.25958157, 4.84686804, 3.85226536, 2.96485686,
       2.89388347, 3.07301927, 3.07467055, 3.12198234, 3.17306924,
       3.12524581, 2.8174715, 2.76977897, 2.53936958, 2.38237333,
       2.85493255, 2.60332823, 2.84049082, 3.09557867, 2.66420412,
       2.62607908, 2.78390908, 2.8270874, 2.8999064, 3.23162007,
       2.94453382, 2.30179024, 2.22504783, 1.89075232, 1.48277605,
       1.58312511, 1.59639311, 1.5253576, 1.68703699, 2.11280179,
       2.34625125, 2.61982656, 3.25799918, 3.29342604, 3.46889949,
       3.44350553, 3.40975904, 3.32491398, 2.67803454, 1.87507534,
       1.23194993, 1.31765401, 1.57628381, 2.25352097, 2.97640777,
       2.00593972, 2.21688938, 2.00165296, 1.81766617, 2.78586531,
       2.67522621, 3.38513398, 3.0353508, 2.92293549, 3.81956744,
       3.6745038, 3.69086194, 3.92426181, 3.34028482, 1.96539891,
       2.43147993, 2.66511655, 2.34880662, 4.03147316, 4.13719845,
       4.31058264, 5.25250196, 1.59580016, -0.1842365, -0.94229329,
       -1.60695589, 1.48749816, 2.33687115, 1.78588998, 1.22873163,
       1.21550024])


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


def test_readme_switching_regression_recovers_its_regimes():
    """The README's end-to-end example (run as written) finds the simulated coefficients."""
    from test_readme import BLOCKS

    namespace: dict = {}
    exec(next(block for block in BLOCKS if "transition_covariates=True" in block and "Regression(" in block), namespace)
    coef = namespace["switching"].coef_
    np.testing.assert_allclose(coef[np.argsort(coef[:, 0])], [[0.2, 0.8], [1.5, -0.5]], atol=0.15)
    assert np.isfinite(namespace["driven"].score(namespace["rows"], covariates=namespace["u"]))


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
