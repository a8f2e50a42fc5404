"""``emkit.Mixture``, the scikit-learn estimator for a mixture of any family: a latent class
analysis and Poisson mixtures against an independent direct maximisation of the observed-data
likelihood (numpy and scipy only, softmax/logit/log parametrisation, many starts), the Poisson
case against ``emkit.PoissonMixture`` from the same start, responsibilities, sample weights,
missing cells, the scikit-learn protocol, information criteria and argument errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.special import expit, gammaln, log_expit, log_softmax, logsumexp, softmax

import emkit
from emkit import families
from emkit.exceptions import ConvergenceWarning, NotFittedError

#: A tight version of scikit-learn's rule (per-sample change of the mean log-likelihood).
TIGHT = dict(tol=1e-13, max_iter=20_000, n_jobs=1)


# ------------------------------------------------------------------------- data
def latent_classes(n: int, seed: int) -> np.ndarray:
    """Binary answers to 6 survey items from 3 latent classes (weights 0.5, 0.3, 0.2)."""
    rng = np.random.default_rng(seed)
    probs = np.array([[0.85, 0.8, 0.75, 0.8, 0.2, 0.25],
                      [0.2, 0.15, 0.3, 0.75, 0.8, 0.85],
                      [0.15, 0.8, 0.2, 0.15, 0.2, 0.7]])
    labels = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return (rng.random((n, 6)) < probs[labels]).astype(float)


def poisson_counts(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = np.array([[1.5, 6.0], [7.0, 2.0]])[:, :d]
    labels = rng.choice(2, size=n, p=[0.4, 0.6])
    return rng.poisson(rates[labels]).astype(float)


# ------------------------------------------------------------- direct maximisation
def log_joint_bernoulli(X: np.ndarray, log_pi: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``log π_k + Σ_j [x log p_kj + (1 − x) log(1 − p_kj)]`` over observed cells, (n, K)."""
    observed = ~np.isnan(X)
    x = np.where(observed, X, 0.0)
    return log_pi + x @ np.log(p).T + (observed - x) @ np.log1p(-p).T


def log_joint_bernoulli_logits(X: np.ndarray, log_pi: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The same with ``p = expit(logits)``, accurate where ``p`` rounds to 0 or 1."""
    observed = ~np.isnan(X)
    x = np.where(observed, X, 0.0)
    return log_pi + x @ log_expit(logits).T + (observed - x) @ log_expit(-logits).T


def log_joint_poisson(X: np.ndarray, log_pi: np.ndarray, rates: np.ndarray) -> np.ndarray:
    observed = ~np.isnan(X)
    x = np.where(observed, X, 0.0)
    return log_pi + x @ np.log(rates).T - observed @ rates.T - gammaln(x + 1.0).sum(axis=1)[:, None]


def direct_maximum(X: np.ndarray, k: int, family: str, n_starts: int, seed: int) -> tuple[float, dict]:
    """Best of ``n_starts`` BFGS maximisations of the observed-data log-likelihood in
    unconstrained coordinates: softmax logits of the weights, then logits (Bernoulli) or logs
    (Poisson) of the K × d means; analytic gradient ``Σ_i γ_ik (e_k − π)`` and
    ``Σ_i γ_ik o_ij (x_ij − θ_kj)``."""
    n, d = X.shape
    observed = ~np.isnan(X)
    x = np.where(observed, X, 0.0)
    link = expit if family == "bernoulli" else np.exp

    def negative(u):
        a, b = u[:k], u[k:].reshape(k, d)
        log_pi, theta = log_softmax(a), link(b)
        log_j = (log_joint_bernoulli_logits(X, log_pi, b) if family == "bernoulli"
                 else log_joint_poisson(X, log_pi, theta))
        log_p = logsumexp(log_j, axis=1)
        gamma = np.exp(log_j - log_p[:, None])
        grad_a = gamma.sum(axis=0) - n * np.exp(log_pi)
        grad_b = gamma.T @ x - theta * (gamma.T @ observed)
        return -log_p.sum(), -np.concatenate([grad_a, grad_b.ravel()])

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_starts):
        spread = rng.normal(scale=1.5, size=k * d)
        means = spread if family == "bernoulli" else np.tile(np.log(np.nanmean(X, axis=0)), k) + spread / 2
        u0 = np.concatenate([rng.normal(size=k), means])
        found = optimize.minimize(negative, u0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
        if best is None or found.fun < best.fun:
            best = found
    return -best.fun, {"weights": softmax(best.x[:k]), "means": link(best.x[k:].reshape(k, d))}


def matched(params: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rows of ``params`` permuted to the order of ``reference``'s rows (nearest first)."""
    order = [int(np.argmin(((params - row) ** 2).sum(axis=1))) for row in reference]
    assert sorted(order) == list(range(len(reference)))
    return params[order]


# ------------------------------------------------------------------------ the tests
def test_latent_class_analysis_reaches_the_direct_maximum_of_the_likelihood():
    X = latent_classes(500, seed=1)
    direct, found = direct_maximum(X, 3, "bernoulli", n_starts=20, seed=2)
    lca = emkit.Mixture(3, family=families.Bernoulli(6), n_init=8, random_state=0, **TIGHT).fit(X)
    assert lca.converged_
    assert lca.lower_bound_ * X.shape[0] == pytest.approx(direct, abs=1e-6)
    assert lca.score(X) * X.shape[0] == pytest.approx(direct, abs=1e-6)
    np.testing.assert_allclose(matched(lca.probs_, found["means"]), found["means"], atol=1e-4)
    assert len(lca.result_.restarts) == 8   # the engine ran the starts


def test_poisson_mixture_of_one_column_equals_poisson_mixture_from_the_same_start():
    X = poisson_counts(300, 1, seed=3)
    face = emkit.Mixture(2, family=families.Poisson(1), tol=1e-9, max_iter=1000, n_jobs=1).fit(X)
    start = families.Poisson(1).initial_params(X, 2, None)["lambdas"][:, 0]
    reference = emkit.fit(emkit.PoissonMixture(2, data="observations"), X[:, 0],
                          init={"weights": np.full(2, 0.5), "rates": start},
                          tol=1e-9, param_tol=None, tol_scale=X.shape[0], max_iter=1000)
    assert face.n_iter_ == reference.n_iter
    np.testing.assert_allclose(np.array(face.lower_bounds_) * X.shape[0], reference.trace.loglik, rtol=1e-12)
    order = np.argsort(face.lambdas_[:, 0])
    np.testing.assert_allclose(face.lambdas_[order, 0], reference.params["rates"], rtol=1e-10)
    np.testing.assert_allclose(face.weights_[order], reference.params["weights"], rtol=1e-10)


@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing-cells"])
def test_bivariate_poisson_mixture_reaches_the_direct_maximum(missing):
    X = poisson_counts(300, 2, seed=4)
    if missing:
        X[np.random.default_rng(5).random(X.shape) < 0.1] = np.nan
    direct, found = direct_maximum(X, 2, "poisson", n_starts=10, seed=6)
    face = emkit.Mixture(2, family=families.Poisson(2), n_init=3, random_state=1, **TIGHT).fit(X)
    assert face.lower_bound_ * X.shape[0] == pytest.approx(direct, abs=1e-6)
    np.testing.assert_allclose(matched(face.lambdas_, found["means"]), found["means"], rtol=1e-5)


def test_responsibilities_log_densities_and_predictions():
    X = latent_classes(200, seed=7)
    X[::7, 2] = np.nan
    X[3] = np.nan   # nothing observed: density 1
    lca = emkit.Mixture(3, family=families.Bernoulli, random_state=0, n_jobs=1).fit(X)
    proba = lca.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(proba, lca.model_.responsibilities(X, lca.params_)[0])
    log_j = log_joint_bernoulli(X, np.log(lca.weights_), lca.probs_)   # independent of emkit
    np.testing.assert_allclose(lca.score_samples(X), logsumexp(log_j, axis=1), rtol=1e-12)
    np.testing.assert_allclose(proba, softmax(log_j, axis=1), atol=1e-12)
    assert lca.score_samples(X)[3] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(lca.predict(X), proba.argmax(axis=1))
    np.testing.assert_array_equal(emkit.Mixture(3, family=families.Bernoulli, random_state=0, n_jobs=1)
                                  .fit_predict(X), lca.predict(X))
    draws, labels = lca.sample(50)
    assert draws.shape == (50, 6) and set(np.unique(draws)) <= {0.0, 1.0} and set(labels) <= {0, 1, 2}


def test_sample_weights_equal_repeated_rows():
    X = latent_classes(120, seed=8)
    counts = np.random.default_rng(9).integers(0, 4, size=X.shape[0])
    options = dict(tol=1e-10, max_iter=500, n_jobs=1)
    weighted = emkit.Mixture(2, family=families.Bernoulli(6), **options).fit(X, sample_weight=counts)
    repeated = emkit.Mixture(2, family=families.Bernoulli(6), **options).fit(np.repeat(X, counts, axis=0))
    assert weighted.n_iter_ == repeated.n_iter_
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-11)
    np.testing.assert_allclose(weighted.probs_, repeated.probs_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-9)
    assert weighted.score(X, sample_weight=counts) == pytest.approx(repeated.score(np.repeat(X, counts, axis=0)),
                                                                    rel=1e-12)


def test_clone_get_params_and_data_frames():
    sklearn_base = pytest.importorskip("sklearn.base")
    estimator = emkit.Mixture(2, family=families.Poisson(2), tol=1e-4, n_init=2, random_state=5, n_jobs=1)
    copy = sklearn_base.clone(estimator)
    params = copy.get_params()
    assert {name: value for name, value in params.items() if name != "family"} == \
        {name: value for name, value in estimator.get_params().items() if name != "family"}
    assert isinstance(params["family"], families.Poisson) and params["family"].n_features == 2
    assert copy.set_params(n_components=3) is copy and copy.n_components == 3
    X = poisson_counts(100, 2, seed=10)
    frame = pd.DataFrame(X, columns=["visits", "calls"]).astype("Int64")
    frame.iloc[0, 1] = pd.NA
    copy.fit(frame)
    assert copy.lambdas_.shape == (3, 2) and copy.n_features_in_ == 2
    assert list(copy.feature_names_in_) == ["visits", "calls"]
    assert not hasattr(sklearn_base.clone(copy), "model_")
    with pytest.raises(ValueError, match="feature names"):
        copy.predict(frame.rename(columns={"calls": "emails"}))
    copy.set_params(family=families.Bernoulli(2)).fit((X > 3).astype(float))   # a refit with another family
    assert copy.probs_.shape == (3, 2) and not hasattr(copy, "lambdas_") and not hasattr(copy, "feature_names_in_")


def test_bic_and_aic_by_their_formulas():
    X = poisson_counts(150, 2, seed=11)
    face = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1).fit(X)
    p = face.model_.n_free_parameters()
    assert p == (2 - 1) + 2 * 2
    loglik = logsumexp(log_joint_poisson(X, np.log(face.weights_), face.lambdas_), axis=1).sum()
    assert face.bic(X) == pytest.approx(-2 * loglik + p * np.log(150), rel=1e-12)
    assert face.aic(X) == pytest.approx(-2 * loglik + 2 * p, rel=1e-12)


def test_methods_before_fit_raise_not_fitted():
    face = emkit.Mixture(2, family=families.Poisson(1))
    X = np.ones((4, 1))
    for call in (face.predict, face.predict_proba, face.score, face.score_samples, face.bic, face.aic):
        with pytest.raises(NotFittedError, match="not fitted"):
            call(X)
    with pytest.raises(NotFittedError):
        face.sample(3)
    assert not hasattr(face, "params_")


def test_max_iter_reached_warns_convergence():
    X = latent_classes(100, seed=12)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        face = emkit.Mixture(3, family=families.Bernoulli(6), max_iter=2, n_jobs=1).fit(X)
    assert not face.converged_ and face.n_iter_ == 2


X_COUNTS = np.array([[0.0, 1.0], [2.0, 3.0], [1.0, 0.0], [4.0, 2.0]])


@pytest.mark.parametrize("arguments, X, sample_weight, name", [
    (dict(n_components=0), X_COUNTS, None, "n_components"),
    (dict(n_components="2"), X_COUNTS, None, "n_components"),
    (dict(n_components=5), X_COUNTS, None, "n_components"),
    (dict(family="poisson"), X_COUNTS, None, "family"),
    (dict(family=lambda: families.Poisson(2)), X_COUNTS, None, "family"),
    (dict(family=lambda d: "poisson"), X_COUNTS, None, "family"),
    (dict(family=families.Poisson(3)), X_COUNTS, None, "X"),
    (dict(), -X_COUNTS, None, "X"),
    (dict(), X_COUNTS, [1.0, 2.0], "sample_weight"),
    (dict(), X_COUNTS, [1.0, -1.0, 1.0, 1.0], "sample_weight"),
    (dict(tol=-1.0), X_COUNTS, None, "tol"),
    (dict(max_iter=0), X_COUNTS, None, "max_iter"),
    (dict(n_init=0), X_COUNTS, None, "n_init"),
    (dict(init_params="kmeans"), X_COUNTS, None, "init_params"),
    (dict(accelerate="fast"), X_COUNTS, None, "accelerate"),
    (dict(weights_prior=0.5), X_COUNTS, None, "weights_prior"),
    (dict(random_state="seed"), X_COUNTS, None, "random_state"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_bad_arguments_are_named_and_change_nothing(arguments, X, sample_weight, name):
    face = emkit.Mixture(**{"n_components": 2, "family": families.Poisson(2), "n_jobs": 1, **arguments})
    fitted = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1).fit(X_COUNTS)
    before = fitted.lambdas_.copy()
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        face.fit(X, sample_weight=sample_weight)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        fitted.set_params(**arguments).fit(X, sample_weight=sample_weight)
    np.testing.assert_array_equal(fitted.lambdas_, before)
    assert not hasattr(face, "model_")


def test_bad_arguments_of_the_methods_are_named():
    face = emkit.Mixture(2, family=families.Poisson(2), n_jobs=1).fit(X_COUNTS)
    with pytest.raises(ValueError, match="^n_samples"):
        face.sample(0)
    with pytest.raises(ValueError, match="^sample_weight"):
        face.score(X_COUNTS, sample_weight=[1.0])
    with pytest.raises(ValueError, match="^X"):
        face.predict(np.ones((2, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert face.predict(X_COUNTS[:2]).shape == (2,)


def test_families_show_their_arguments_in_the_estimators_repr():
    from emkit.families import Bernoulli, Poisson

    assert repr(Poisson(3)) == "Poisson(n_features=3)"
    assert "family=Bernoulli(n_features=6)" in repr(emkit.Mixture(2, family=Bernoulli(6)))


def test_a_mapping_of_columns_to_families_fits_mixed_rows_as_their_product():
    """``Mixture(k, family={column(s): family})`` on a DataFrame is the mixture of the families'
    Product over those columns (same iterates as building the Product by hand), with callables
    given the group's number of columns."""
    from emkit.families import Bernoulli, Poisson, Product

    rng = np.random.default_rng(4)
    z = rng.integers(0, 2, 300)
    frame = pd.DataFrame({"visits": rng.poisson(np.where(z == 1, 6.0, 1.5)).astype(float),
                          "smoker": (rng.random(300) < np.where(z == 1, 0.7, 0.2)).astype(float),
                          "married": (rng.random(300) < np.where(z == 1, 0.4, 0.6)).astype(float),
                          "id": np.arange(300.0)})
    mapped = emkit.Mixture(2, family={"visits": Poisson, ("smoker", "married"): Bernoulli}, tol=1e-8,
                           max_iter=500).fit(frame)
    product = Product([(("visits",), Poisson(1)), (("smoker", "married"), Bernoulli(2))])
    direct = emkit.Mixture(2, family=product, tol=1e-8, max_iter=500).fit(frame)
    assert mapped.lower_bound_ == pytest.approx(direct.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(mapped.params_["visits:lambdas"], direct.params_["visits:lambdas"], rtol=1e-10)
    assert sorted(mapped.params_["visits:lambdas"].ravel()) == pytest.approx([1.5, 6.0], rel=0.3)
    with pytest.raises(ValueError, match="^family: "):
        emkit.Mixture(2, family={"visits": "poisson"}).fit(frame)
