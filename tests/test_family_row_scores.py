"""``Family.row_scores``: closed-form complete-data scores of each row under each component, and
Louis's standard errors of :class:`~emkit.latent.MixtureModel` from them.

Checked against independent computations: the central differences of the family's own
``log_likelihood`` in the free parameters (``to_free`` / ``from_free``), with learned subsets and
missing cells; Louis's covariance against the numerical Hessian of the observed-data
log-likelihood (``method="hessian"``), including a :class:`~emkit.families.FiniteMixture`, whose
complete data hold the sub-component (its missing information is more than the spread of the
row scores); and that the exact path makes no finite differences (one ``precompute``).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import gammaln

import emkit
from emkit.families import (Bernoulli, Categorical, Exponential, FiniteMixture, Gamma, Gaussian, Multinomial, Poisson,
                            Product, StudentT)
from emkit.latent import MixtureModel
from gaussian_reference import full_covariances

TIGHT = {"tol": 1e-14, "param_tol": 1e-12, "max_iter": 20_000, "accelerate": "squarem"}
K = 3


def with_missing(X: np.ndarray, rng: np.random.Generator, fraction: float = 0.15) -> np.ndarray:
    X = np.array(X, dtype=float)
    X[rng.random(X.shape) < fraction] = np.nan
    X[0] = np.nan  # a row with nothing observed
    return X


def case(name: str, rng: np.random.Generator):
    """A family, data with missing cells (n = 40) and parameters for ``K`` components."""
    n = 40
    if name == "poisson":
        return Poisson(3), with_missing(rng.poisson(3.0, (n, 3)), rng), {"lambdas": rng.uniform(0.5, 6.0, (K, 3))}
    if name == "bernoulli":
        return Bernoulli(3), with_missing(rng.random((n, 3)) < 0.4, rng), {"probs": rng.uniform(0.1, 0.9, (K, 3))}
    if name == "exponential":
        return Exponential(2), with_missing(rng.exponential(2.0, (n, 2)), rng), {"rates": rng.uniform(0.2, 2.0, (K, 2))}
    if name == "gamma":
        return (Gamma(2), with_missing(rng.gamma(2.0, 1.5, (n, 2)), rng),
                {"shapes": rng.uniform(0.5, 4.0, (K, 2)), "rates": rng.uniform(0.3, 2.0, (K, 2))})
    if name == "categorical":
        sizes = (3, 2, 4)
        X = np.column_stack([rng.integers(0, m, n) for m in sizes])
        probs = np.concatenate([rng.dirichlet(np.ones(m), K) for m in sizes], axis=1)
        return Categorical(sizes), with_missing(X, rng), {"probs": probs}
    if name == "multinomial":
        X = rng.multinomial(7, [0.2, 0.5, 0.3], n).astype(float)
        X[[0, 3, 7]] = np.nan  # missing rows
        return Multinomial(3), X, {"emissionprob": rng.dirichlet(np.ones(3), K)}
    if name == "product":
        family = Product([([0, 1], Gamma(2)), (2, Poisson(1)), ([3, 4], Categorical((2, 3)))])
        X = np.column_stack([rng.gamma(2.0, 1.0, (n, 2)), rng.poisson(2.0, n), rng.integers(0, 2, n),
                             rng.integers(0, 3, n)])
        params = {"0:shapes": rng.uniform(0.5, 4.0, (K, 2)), "0:rates": rng.uniform(0.3, 2.0, (K, 2)),
                  "1:lambdas": rng.uniform(0.5, 5.0, (K, 1)),
                  "2:probs": np.concatenate([rng.dirichlet(np.ones(2), K), rng.dirichlet(np.ones(3), K)], axis=1)}
        return family, with_missing(X, rng), params
    if name.startswith("gaussian-"):
        covariance_type = name.removeprefix("gaussian-")
        params = t_parameters(covariance_type, rng, n_features=3)
        return (Gaussian(3, covariance_type), with_missing(rng.normal(size=(n, 3)) * 2.0, rng),
                {"means": params["means"], "covars": params["covars"]})
    if name.startswith("student-t-"):
        covariance_type = name.removeprefix("student-t-")
        return (StudentT(3, covariance_type), with_missing(rng.standard_t(3.0, (n, 3)) * 2.0, rng),
                t_parameters(covariance_type, rng, 3))
    assert name == "finite-mixture"
    return (FiniteMixture(Poisson(2), 2), with_missing(rng.poisson(3.0, (n, 2)), rng),
            {"mix_weights": rng.dirichlet(np.ones(2), K), "lambdas": rng.uniform(0.5, 6.0, (2 * K, 2))})


LEARN = {
    "poisson": [{"lambdas"}, set()],
    "bernoulli": [{"probs"}],
    "exponential": [{"rates"}],
    "gamma": [{"shapes", "rates"}, {"shapes"}, {"rates"}],
    "categorical": [{"probs"}],
    "multinomial": [{"emissionprob"}],
    "product": [{"0:shapes", "0:rates", "1:lambdas", "2:probs"}, {"0:rates", "2:probs"}],
    "finite-mixture": [{"mix_weights", "lambdas"}, {"lambdas"}, {"mix_weights"}],
    # rows with missing cells: E[S_c | x_o, k] is the derivative of log p(x_o | k) (Fisher's identity)
    "gaussian-full": [{"means", "covars"}, {"covars"}],
    "gaussian-tied": [{"means", "covars"}],
    "gaussian-diag": [{"means", "covars"}],
    "gaussian-spherical": [{"means", "covars"}],
    "student-t-full": [{"means", "covars", "dofs"}],
    "student-t-tied": [{"means", "covars"}],
    "student-t-spherical": [{"covars", "dofs"}],
}


def central_differences(family, params, learn, function, step):
    """``[(f(θ + h e_j) − f(θ − h e_j)) / 2h for each free parameter j]`` of ``function(point)``,
    with ``h = step (1 + |θ_j|)`` through ``to_free`` / ``from_free``."""
    theta = np.asarray(family.to_free(params, learn), dtype=float)
    columns = []
    for j in range(theta.size):
        h = step * (1.0 + abs(theta[j]))
        values = []
        for sign in (1.0, -1.0):
            shifted = theta.copy()
            shifted[j] += sign * h
            values.append(function({**params, **family.from_free(shifted, params, learn)}))
        columns.append((values[0] - values[1]) / (2.0 * h))
    return columns


def difference_scores(family, block, params, learn, step=1e-6):
    """Central differences of ``log p(x_i | k)`` in each free parameter, shape (n, K, p)."""
    shape = family.log_likelihood(block, family.precompute(params)).shape
    columns = central_differences(family, params, learn,
                                  lambda point: family.log_likelihood(block, family.precompute(point)), step)
    return np.stack(columns, axis=2) if columns else np.zeros(shape + (0,))


@pytest.mark.parametrize("name, learn", [(name, frozenset(learn)) for name, subsets in LEARN.items()
                                         for learn in subsets])
def test_row_scores_are_the_derivatives_of_the_log_likelihood(name, learn):
    rng = np.random.default_rng(zlib.crc32(f"{name}{sorted(learn)}".encode()))
    family, X, params = case(name, rng)
    params = family.check_params(params, K)
    block = family.block_data(family.prepare(X))
    scores = family.row_scores(block, params, learn)
    expected = difference_scores(family, block, params, learn)
    assert scores.shape == expected.shape == (X.shape[0], K, np.size(family.to_free(params, learn)))
    np.testing.assert_allclose(scores, expected, rtol=1e-7, atol=1e-7 * (1.0 + np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(scores[0], 0.0, atol=1e-12)  # nothing observed: the score is 0


def mixture_fit(name: str):
    """A two-component fit and its data (MLE to round-off)."""
    rng = np.random.default_rng(5)
    n = 300
    z = rng.random(n) < 0.4
    if name == "product":
        family = Product([([0, 1], Gamma(2)), (2, Poisson(1)), (3, Bernoulli(1))])
        X = np.column_stack([rng.gamma(np.where(z, 6.0, 2.0)[:, None], 1.0, (n, 2)), rng.poisson(np.where(z, 5.0, 1.5)),
                             rng.random(n) < np.where(z, 0.7, 0.25)]).astype(float)
        X[rng.random(X.shape) < 0.05] = np.nan
    elif name == "categorical":
        family = Categorical((3, 2, 3))
        probs = {False: [[0.6, 0.3, 0.1], [0.7, 0.3], [0.2, 0.3, 0.5]],
                 True: [[0.1, 0.2, 0.7], [0.2, 0.8], [0.6, 0.3, 0.1]]}
        X = np.array([[rng.choice(len(p), p=p) for p in probs[bool(label)]] for label in z], dtype=float)
        X[rng.random(X.shape) < 0.1] = np.nan
        model = MixtureModel(family, 2)
        init = {"weights": np.array([0.6, 0.4]), "probs": np.array([np.concatenate(probs[False]),
                                                                    np.concatenate(probs[True])])}
        return model, X, emkit.fit(model, X, init=init, **TIGHT)
    elif name == "exponential":
        family = Exponential(2)
        X = rng.exponential(np.where(z, 5.0, 0.7)[:, None], (n, 2))
    else:
        assert name == "finite-mixture"
        family = FiniteMixture(Poisson(1), 2)
        m = rng.random(n) < 0.5
        rates = np.array([[1.0, 4.0], [9.0, 16.0]])
        X = rng.poisson(rates[z.astype(int), m.astype(int)])[:, None].astype(float)
        model = MixtureModel(family, 2)
        init = {"weights": np.array([0.6, 0.4]), "mix_weights": np.full((2, 2), 0.5), "lambdas": rates.reshape(4, 1)}
        return model, X, emkit.fit(model, X, init=init, **TIGHT)
    model = MixtureModel(family, 2)
    return model, X, emkit.fit(model, X, random_state=1, n_init=3, **TIGHT)


@pytest.mark.parametrize("name", ["product", "categorical", "exponential", "finite-mixture"])
def test_louis_standard_errors_equal_the_hessians(name):
    model, X, result = mixture_fit(name)
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert louis.labels == hessian.labels and len(louis.labels) == model.n_free_parameters()
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-9 * np.abs(hessian.cov).max())


@pytest.mark.parametrize("name", ["product", "finite-mixture"])
def test_louis_uses_the_row_scores_not_differences(name, monkeypatch):
    """The exact path evaluates the family at the estimate only (finite differences
    precompute it at ``θ ± h e_j`` for every free parameter)."""
    model, X, result = mixture_fit(name)
    points = []
    precompute = model.family.precompute
    monkeypatch.setattr(model.family, "precompute", lambda params: points.append(params) or precompute(params))
    model.score_covariance(X, result.params)
    assert points
    for point in points:
        assert all(np.array_equal(point[name], result.params[name]) for name in model.family.param_names)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gaussian_row_scores_are_the_derivatives_and_give_the_hessians_errors(covariance_type):
    """The Gaussian family's exact scores (complete rows) against central differences, and
    Louis's covariance of a two-component fit against the numerical Hessian's."""
    rng = np.random.default_rng(11)
    z = rng.random(200) < 0.4
    X = rng.normal(size=(200, 2)) * np.where(z, 0.7, 1.3)[:, None] + np.where(z, 3.0, 0.0)[:, None]
    family = Gaussian(2, covariance_type)
    model = MixtureModel(family, 2)
    result = emkit.fit(model, X, random_state=1, **TIGHT)
    learn = frozenset({"means", "covars"})
    block = family.block_data(family.prepare(X))
    expected = difference_scores(family, block, result.params, learn)
    np.testing.assert_allclose(family.row_scores(block, result.params, learn), expected, rtol=1e-6,
                               atol=1e-7 * np.abs(expected).max())
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-9 * np.abs(hessian.cov).max())


def t_parameters(covariance_type: str, rng: np.random.Generator, n_features: int = 2) -> dict:
    """Locations, scatters shaped by ``covariance_type`` and degrees of freedom of ``K`` t components
    (a Gaussian family takes the first two)."""
    d = n_features
    factors = rng.normal(size=(K, d, d)) * 0.5 + np.eye(d)
    full = factors @ factors.transpose(0, 2, 1) + 0.2 * np.eye(d)
    covars = {"full": full, "tied": full[0], "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
              "spherical": np.trace(full, axis1=1, axis2=2) / d}[covariance_type]
    return {"means": rng.normal(scale=2.0, size=(K, d)), "covars": covars, "dofs": rng.uniform(1.5, 12.0, K)}


def t_complete_coefficients(x, mean, covariance, dof):
    """``log N(x | μ, Σ/u) + log Gamma(u | ν/2, rate ν/2) = α + β u + γ log u``: ``(α, β, γ)``."""
    d = x.size
    distance = (x - mean) @ np.linalg.solve(covariance, x - mean)
    return np.array([-0.5 * d * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(covariance)[1]
                     + 0.5 * dof * np.log(0.5 * dof) - gammaln(0.5 * dof),
                     -0.5 * distance - 0.5 * dof, 0.5 * d + 0.5 * dof - 1.0])


def t_component(family, params, component):
    """Location, full scatter and degrees of freedom of one component."""
    scatter = full_covariances(params["covars"], family.covariance_type, K, family.n_features)[component]
    dof = params["dofs"][component] if family.dof is None else family.dof
    return params["means"][component], scatter, dof


def t_complete_scores(family, x, params, learn, component, step=1e-5):
    """The complete-data score of ``(x, k, u)`` in the free parameters by central differences of
    :func:`t_complete_coefficients`, as the coefficients of ``(1, u, log u)``, shape (p, 3)."""
    return np.array(central_differences(
        family, params, learn, lambda point: t_complete_coefficients(x, *t_component(family, point, component)), step))


@pytest.mark.parametrize("covariance_type, dof, learn", [
    ("full", None, {"means", "covars", "dofs"}), ("tied", None, {"means", "covars", "dofs"}),
    ("diag", 4.0, {"means", "covars"}), ("spherical", None, {"covars", "dofs"}), ("full", None, {"dofs"})])
def test_t_row_scores_are_the_conditional_means_of_the_complete_scores(covariance_type, dof, learn):
    """``row_scores`` = ``E[S_c | x_i, k]`` and ``within_score_covariance`` = ``Cov[S_c | x_i, k]``
    over the latent scale ``u``, by numerical integration against ``p(u | x, k) = p(x, u | k) /
    t_ν(x | μ_k, Σ_k)`` (scipy's t density) of the complete-data scores by central differences."""
    rng = np.random.default_rng(zlib.crc32(f"{covariance_type}{dof}{sorted(learn)}".encode()))
    family = StudentT(2, covariance_type, dof=dof)
    params = family.check_params(t_parameters(covariance_type, rng), K)
    learn = frozenset(learn)
    X = np.vstack([rng.standard_t(3.0, size=(2, 2)), [[9.0, -7.0]]])
    scores = family.row_scores(family.block_data(X), params, learn)
    assert scores.shape == (3, K, np.size(family.to_free(params, learn)))
    for i, x in enumerate(X):
        for k in range(K):
            location, scatter, dof_k = t_component(family, params, k)
            log_t = stats.multivariate_t(loc=location, shape=scatter, df=dof_k).logpdf(x)
            own = t_complete_coefficients(x, location, scatter, dof_k)
            coefficients = t_complete_scores(family, x, params, learn, k)

            def moments(u):
                density = np.exp(own[0] + own[1] * u + own[2] * np.log(u) - log_t)
                score = coefficients @ np.array([1.0, u, np.log(u)])
                return density * np.concatenate([[1.0], score, np.outer(score, score).ravel()])

            integral, _ = integrate.quad_vec(moments, 0.0, np.inf, epsabs=1e-13, epsrel=1e-11)
            p = coefficients.shape[0]
            expected = integral[1:1 + p]
            covariance = integral[1 + p:].reshape(p, p) - np.outer(expected, expected)
            np.testing.assert_allclose(integral[0], 1.0, rtol=1e-9)
            np.testing.assert_allclose(scores[i, k], expected, rtol=1e-6, atol=1e-7 * (1.0 + np.abs(expected).max()))
            within = family.within_score_covariance(family.block_data(X[i:i + 1]), np.eye(K)[[k]], params, learn)
            np.testing.assert_allclose(within, covariance, rtol=1e-6, atol=1e-7 * (1.0 + np.abs(covariance).max()))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("dof", [None, 4.0])
def test_t_louis_standard_errors_equal_the_hessians(covariance_type, dof):
    """Louis's covariance of a two-component t fit (ν learned or fixed) against the numerical
    Hessian of the observed-data log-likelihood."""
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.standard_t(4, size=(150, 2)), rng.standard_t(4, size=(150, 2)) * [0.7, 1.4] + 5.0])
    result = emkit.fit(MixtureModel(StudentT(2, covariance_type, dof=dof, reg_covar=0.0), 2), X, random_state=0,
                       **TIGHT)
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert louis.labels == hessian.labels and (louis.labels[-1] == "dofs[1]") == (dof is None)
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-9 * np.abs(hessian.cov).max())


def missing_cells_fit(family, X: np.ndarray, seed: int = 0):
    """``X`` with about 20% of its cells missing (every row keeps one) and a tight two-component fit."""
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=float)
    X[rng.random(X.shape) < 0.2] = np.nan
    X[np.isnan(X).all(axis=1), 0] = np.nanmean(X[:, 0])
    model = MixtureModel(family, 2)
    return model, X, emkit.fit(model, X, random_state=1, n_init=2, **TIGHT)


def assert_louis_equals_the_hessian(result, X):
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert louis.labels == hessian.labels
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-5, atol=1e-9 * np.abs(hessian.cov).max())


def two_groups(n: int = 240, d: int = 3, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Correlated 3-D rows in two groups (about 40% in the second), and the groups."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.4
    mixing = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, -0.4], [0.3, 0.0, 1.0]])[:d, :d]
    return rng.normal(size=(n, d)) @ mixing * np.where(z, 0.7, 1.2)[:, None] + np.where(z, 3.5, 0.0)[:, None], z


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gaussian_louis_with_missing_cells_equals_the_hessians(covariance_type):
    """Rows with missing cells: their complete data hold the missing coordinates, whose spread given
    the row (Isserlis: ``G``, ``G E_t w``, ``wᵀE_s G E_t w + ½ tr(E_s G E_t G)``) is part of Louis's
    missing information (the GaussianMixture face: tests/test_gmm_standard_errors.py)."""
    X, _ = two_groups(n=200)
    model, X, result = missing_cells_fit(Gaussian(3, covariance_type, reg_covar=0.0), X)
    assert 0.15 < np.isnan(X).mean() < 0.25 and (np.isnan(X).sum(axis=1) == 2).any()
    assert_louis_equals_the_hessian(result, X)


@pytest.mark.parametrize("name", ["product", "finite-mixture"])
def test_louis_with_missing_gaussian_cells_in_a_combinator_equals_the_hessians(name):
    """A Gaussian block with missing cells beside a Poisson column (Product), and Gaussian
    sub-components (FiniteMixture: the inner family's missing cells add to its sub-components')."""
    X, z = two_groups(n=300, d=2, seed=3)
    if name == "product":
        counts = np.random.default_rng(4).poisson(np.where(z, 5.0, 1.5)).astype(float)
        family = Product([([0, 1], Gaussian(2, "full", reg_covar=0.0)), (2, Poisson(1))])
        model, X, result = missing_cells_fit(family, np.column_stack([X, counts]))
    else:
        model, X, result = missing_cells_fit(FiniteMixture(Gaussian(2, "diag", reg_covar=0.0), 2), X)
    assert_louis_equals_the_hessian(result, X)


@pytest.mark.parametrize("covariance_type, dof", [("full", None), ("diag", 4.0)])
def test_t_louis_with_missing_cells_equals_the_hessians(covariance_type, dof):
    """Given the latent scale ``u`` the missing cells are ``N(x̂, Ĉ/u)``: their spread, ``√u``
    times the Gaussian's linear part and its quadratic part, adds to the spread over ``u``."""
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.standard_t(4, size=(60, 2)), rng.standard_t(4, size=(60, 2)) * [0.7, 1.4] + 5.0])
    _, X, result = missing_cells_fit(StudentT(2, covariance_type, dof=dof, reg_covar=0.0), X)
    assert_louis_equals_the_hessian(result, X)
