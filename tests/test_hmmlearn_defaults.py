"""Issue 16's "Plus": with hmmlearn's defaults (its priors included: ``covars_prior=1e-2`` for
GaussianHMM, GMMHMM's data-dependent ``None`` defaults, ...) and the same start (the start
attributes set on both, ``init_params=""``), every class and covariance type fitted for
hmmlearn's ``n_iter=10`` iterations gives hmmlearn's parameters to 1e-10, hmmlearn's
``monitor_.history`` and ``score``.

GMMHMM: both run hmmlearn's ECM order (the covariances given the previous means, then the means;
tests/test_gmmhmm.py), so everything is learned (``"stmcw"``) as well as means or covariances
held. With ``means_weight > 0`` hmmlearn's step is no conditional maximisation (its means prior
term is at the new means, its scatter at the old ones; tests/test_gmmhmm.py has a case where it
lowers the log-posterior), so there means or covariances are held.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn

import emkit.estimators.hmm as ours_module
from emkit.exceptions import ConvergenceWarning
from hmm_fixtures import COVARIANCE_TYPES, random_gaussian_params

K = 3
LENGTHS = [60, 90]
RTOL = 1e-10


def set_params(estimator, params):
    for name, value in params.items():
        setattr(estimator, f"{name}_", value)
    return estimator


def chain(rng, k=K):
    return {"startprob": rng.dirichlet(np.ones(k) * 2), "transmat": rng.dirichlet(np.ones(k) * 2, size=k)}


def fit_both(name, X, start, **keywords):
    """hmmlearn's class and emkit's, both at their defaults plus ``keywords``, from ``start``."""
    theirs = set_params(getattr(hmmlearn, name)(init_params="", implementation="log", **keywords), start)
    ours = set_params(getattr(ours_module, name)(init_params="", **keywords), start)
    theirs.fit(X, LENGTHS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, LENGTHS)
    np.testing.assert_allclose(ours.monitor_.history, theirs.monitor_.history, rtol=RTOL)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.monitor_.history, rtol=RTOL)
    assert ours.monitor_.iter == theirs.monitor_.iter
    assert ours.score(X, LENGTHS) == pytest.approx(theirs.score(X, LENGTHS), rel=RTOL)
    for attribute in [f"{name}_" for name in start]:
        theirs_value = getattr(theirs, attribute)
        if name == "GaussianHMM" and attribute == "covars_":
            # The compact covariances: hmmlearn's spherical M-step leaves _covars_ of shape (K, d),
            # one column per feature, whose covars_ is then (K·d, d, d); emkit keeps (K,).
            attribute, theirs_value = "_covars_", theirs._covars_
            if keywords["covariance_type"] == "spherical":
                theirs_value = theirs_value.reshape(K, -1)[:, 0]
        np.testing.assert_allclose(getattr(ours, attribute), theirs_value, rtol=RTOL, atol=1e-13,
                                   err_msg=attribute)
    return ours, theirs


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_hmm(covariance_type):
    rng = np.random.default_rng(1)
    d = 2
    source = set_params(hmmlearn.GaussianHMM(K, covariance_type), random_gaussian_params(rng, K, d, covariance_type))
    X = source.sample(sum(LENGTHS), random_state=2)[0]
    ours, theirs = fit_both("GaussianHMM", X, random_gaussian_params(rng, K, d, covariance_type), n_components=K,
                            covariance_type=covariance_type)
    assert ours.monitor_.iter == 10 or ours.monitor_.converged


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("params", ["stmcw", "stcw", "stmw"])
def test_gmm_hmm(covariance_type, params):
    rng = np.random.default_rng(3)
    m, d = 2, 2
    X = np.concatenate([rng.normal(size=(70, d)), rng.normal(size=(80, d)) * 0.7 + [3.0, 1.0]])
    variances = rng.uniform(0.7, 1.5, size=(K, m, d))
    covars = {"diag": variances, "spherical": variances[..., 0],
              "full": variances[..., None] * np.eye(d) + 0.1 * (1 - np.eye(d)),
              "tied": variances[:, 0, :, None] * np.eye(d) + 0.1 * (1 - np.eye(d))}[covariance_type]
    start = {**chain(rng), "weights": rng.dirichlet(np.ones(m) * 3, size=K),
             "means": rng.normal(scale=2.0, size=(K, m, d)), "covars": covars}
    fit_both("GMMHMM", X, start, n_components=K, n_mix=m, covariance_type=covariance_type, params=params)


def test_poisson_hmm():
    rng = np.random.default_rng(4)
    X = rng.poisson(rng.choice([1.0, 4.0, 9.0], size=(sum(LENGTHS), 1)) * [1.0, 2.0])
    fit_both("PoissonHMM", X, {**chain(rng), "lambdas": rng.uniform(1.0, 8.0, size=(K, 2))}, n_components=K)


def test_categorical_hmm():
    rng = np.random.default_rng(5)
    X = rng.integers(0, 4, size=(sum(LENGTHS), 1))
    fit_both("CategoricalHMM", X, {**chain(rng), "emissionprob": rng.dirichlet(np.ones(4), size=K)},
             n_components=K)


def test_multinomial_hmm():
    rng = np.random.default_rng(6)
    X = rng.multinomial(5, [0.2, 0.3, 0.5], size=sum(LENGTHS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)    # hmmlearn's notice that MultinomialHMM changed in 0.2.8
        fit_both("MultinomialHMM", X, {**chain(rng), "emissionprob": rng.dirichlet(np.ones(3), size=K)},
                 n_components=K, n_trials=5)


@pytest.mark.parametrize("params", ["stcw", "stmw"])
def test_gmm_hmm_tied_with_priors(params):
    """"tied" (one covariance per state) with hmmlearn's normal/Wishart prior away from its
    defaults: ``(Σ_m κ δδᵀ + Ψ_kᵀ + S_k)/(n_k + M + ν + d + 1)``, hmmlearn's step."""
    rng = np.random.default_rng(8)
    m, d = 2, 2
    X = np.concatenate([rng.normal(size=(70, d)), rng.normal(size=(80, d)) * 0.7 + [3.0, 1.0]])
    a = rng.normal(size=(K, d, d))
    start = {**chain(rng), "weights": rng.dirichlet(np.ones(m) * 3, size=K),
             "means": rng.normal(scale=2.0, size=(K, m, d)), "covars": a @ np.swapaxes(a, 1, 2) + np.eye(d)}
    keywords = {"weights_prior": rng.uniform(1.0, 3.0, (K, m)), "means_prior": rng.normal(size=(K, m, d)),
                "means_weight": rng.uniform(0.2, 2.0, (K, m)), "covars_prior": np.eye(d) * 0.4 + 0.1,
                "covars_weight": 1.5}
    fit_both("GMMHMM", X, start, n_components=K, n_mix=m, covariance_type="tied", params=params, **keywords)


@pytest.mark.parametrize("name, keywords", [
    ("GaussianHMM", {"covariance_type": "full"}), ("GaussianHMM", {"covariance_type": "tied"}),
    ("GaussianHMM", {"covariance_type": "spherical"}), ("GMMHMM", {"n_mix": 3, "covariance_type": "diag"}),
    ("GMMHMM", {"n_mix": 2, "covariance_type": "tied"}), ("PoissonHMM", {}), ("CategoricalHMM", {}),
    ("MultinomialHMM", {"n_trials": 9})])
def test_aic_and_bic_count_hmmlearns_parameters(name, keywords):
    """hmmlearn's ``aic``/``bic`` count every parameter's free scalars (``_get_n_fit_scalars_per_param``,
    GMMHMM's ``n_mix − 1`` weights included), learned or not: here only ``startprob`` is learned."""
    rng = np.random.default_rng(9)
    X = {"PoissonHMM": rng.poisson(3.0, size=(200, 3)), "CategoricalHMM": rng.integers(0, 4, size=(200, 1)),
         "MultinomialHMM": rng.multinomial(9, [0.2, 0.3, 0.5], size=200)}.get(name, rng.normal(size=(200, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(hmmlearn, name)(K, random_state=0, params="s", **keywords).fit(X)
    ours = getattr(ours_module, name)(K, params="s", **keywords)
    emission = {"GaussianHMM": ("means", "covars"), "GMMHMM": ("weights", "means", "covars"),
                "PoissonHMM": ("lambdas",)}.get(name, ("emissionprob",))
    for attribute in ("startprob", "transmat") + emission:
        value = getattr(theirs, f"{attribute}_")
        if name == "GaussianHMM" and attribute == "covars":
            value = theirs._covars_
        setattr(ours, f"{attribute}_", value)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-12)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-12)


def test_a_refit_with_other_features_raises_naming_x():
    """hmmlearn's ``_check_and_set_n_features``: ``n_features`` is set by the first fit."""
    X = np.random.default_rng(10).normal(size=(60, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = ours_module.GaussianHMM(2, random_state=0).fit(X)
        means = model.means_
        with pytest.raises(ValueError, match="X: got 2 feature"):
            model.fit(X[:, :2])
    assert model.means_ is means and model.n_features == 3
