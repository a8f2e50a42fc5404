"""Product of families over column groups (mixed-type rows), as a mixture component and as an HMM
emission.

Checked against independent computations: a direct numerical maximisation of the observed-data
likelihood (scipy; unconstrained parameters, several starts, then the score solved by complex-step
differentiation) for a mixed Gaussian + Poisson + Bernoulli mixture and HMM; the family alone (a
product of one part) and Poisson(2) (a product of two Poisson(1)) giving the same iterates;
statistics of halves adding to the whole; EM's ascent from random starts; Louis's information
against the Hessian's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from direct_mle import maximize
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.special import gammaln

import emkit
from emkit.engine.stats import add_stats
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.families import Bernoulli, Poisson, Product
from emkit.latent import MixtureModel
from emkit.families.gaussian import Gaussian
from emkit.families.categorical import CategoricalEmission
from emkit.latent.hmm import HiddenMarkovModel

TIGHT = {"tol": 1e-14, "param_tol": 1e-12, "max_iter": 20_000}


def mixed_family(reg_covar: float = 0.0) -> Product:
    """Two Gaussian columns, one Poisson count, one Bernoulli item."""
    return Product([([0, 1], Gaussian(2, "diag", reg_covar=reg_covar)), (2, Poisson(1)), (3, Bernoulli(1))])


def mixed_rows(n: int, seed: int, missing: float = 0.05) -> np.ndarray:
    """Two groups: Gaussian means 0 / 2.5, Poisson rates 1.5 / 5, Bernoulli 0.25 / 0.7; some
    cells missing, and a few rows missing everywhere."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.4
    X = np.column_stack([rng.normal(size=(n, 2)) * [1.0, 0.7] + 2.5 * z[:, None],
                         rng.poisson(np.where(z, 5.0, 1.5)), rng.random(n) < np.where(z, 0.7, 0.25)]).astype(float)
    X[rng.random(X.shape) < missing] = np.nan
    X[:3] = np.nan
    return X


# ------------------------------------------------------------------ an independent likelihood
def log_sum_exp(values, axis):
    """Complex-step friendly log-sum-exp (the shift is a real constant)."""
    top = np.max(values.real, axis=axis, keepdims=True)
    return np.log(np.exp(values - top).sum(axis=axis)) + np.squeeze(top, axis=axis)


def softmax_logits(logits):
    """Probabilities from logits against a last entry fixed at 0 (rows of ``logits``)."""
    full = np.concatenate([logits, np.zeros(logits.shape[:-1] + (1,))], axis=-1)
    return np.exp(full - log_sum_exp(full, -1)[..., None])


def mixed_log_density(X, theta, k):
    """``log p(x_i | k)`` (n, K) of :func:`mixed_family` with NaN cells left out, from the
    unconstrained ``theta = (means (K, 2), log variances (K, 2), log rates (K,), logits (K,))``."""
    means, log_vars = theta[:2 * k].reshape(k, 2), theta[2 * k:4 * k].reshape(k, 2)
    log_rates, logits = theta[4 * k:5 * k], theta[5 * k:6 * k]
    observed = ~np.isnan(X)
    values = np.where(observed, X, 0.0)
    gauss = sum(observed[:, [j]] * (-0.5 * np.log(2 * np.pi) - 0.5 * log_vars[:, j]
                                    - 0.5 * (values[:, [j]] - means[:, j]) ** 2 / np.exp(log_vars[:, j]))
                for j in range(2))
    counts = observed[:, [2]] * (values[:, [2]] * log_rates - np.exp(log_rates) - gammaln(values[:, [2]] + 1.0))
    ones = values[:, [3]]
    items = observed[:, [3]] * (ones * -np.log(1.0 + np.exp(-logits)) + (1.0 - ones) * -np.log(1.0 + np.exp(logits)))
    return gauss + counts + items


def mixed_unconstrained(params, label=lambda name: name):
    return np.concatenate([params[label("0:means")].ravel(), np.log(params[label("0:covars")]).ravel(),
                           np.log(params[label("1:lambdas")]).ravel(),
                           np.log(params[label("2:probs")] / (1 - params[label("2:probs")])).ravel()])


def best_of_starts(objective, starts):
    """BFGS from every start (the best of them), then the score solved to round-off."""
    found = [optimize.minimize(lambda u: -float(np.real(objective(u))), u0, method="BFGS",
                               options={"gtol": 1e-7}) for u0 in starts]
    return maximize(objective, min(found, key=lambda f: f.fun).x)


# ------------------------------------------------------------------ against a direct maximisation
def test_mixed_mixture_reaches_the_direct_maximum_of_the_likelihood():
    X = mixed_rows(300, seed=1)
    weights = np.random.default_rng(2).uniform(0.5, 1.5, X.shape[0])
    k = 2

    def loglik(u):
        log_pi = np.log(softmax_logits(u[:k - 1]))
        return weights @ log_sum_exp(log_pi + mixed_log_density(X, u[k - 1:], k), axis=1)

    rng = np.random.default_rng(3)
    starts = [np.concatenate([[0.0], rng.normal(size=2 * k) * 2 + 1, np.zeros(2 * k), rng.normal(size=k) + 1,
                              rng.normal(size=k)]) for _ in range(6)]
    direct = best_of_starts(loglik, starts)
    result = emkit.fit(MixtureModel(mixed_family(), k), (X, weights), random_state=0, n_init=3, **TIGHT)
    assert result.converged
    assert result.loglik == pytest.approx(float(np.real(loglik(direct.astype(complex)))), abs=1e-6)
    order = np.argsort(result.params["0:means"][:, 0])
    ours = np.concatenate([np.log(result.params["weights"][order[:-1]] / result.params["weights"][order[-1]]),
                           mixed_unconstrained({key: value[order] for key, value in result.params.items()})])
    pi = softmax_logits(direct[:k - 1])
    theirs_order = np.argsort(direct[k - 1:][:2 * k].reshape(k, 2)[:, 0])
    theirs_theta = direct[k - 1:]
    blocks = [theirs_theta[:2 * k].reshape(k, 2), theirs_theta[2 * k:4 * k].reshape(k, 2),
              theirs_theta[4 * k:5 * k], theirs_theta[5 * k:]]
    theirs = np.concatenate([np.log(pi[theirs_order[:-1]] / pi[theirs_order[-1]])]
                            + [block[theirs_order].ravel() for block in blocks])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def forward_loglik(log_emission, startprob, transmat, length):
    """``Σ_s log p(x_s)`` of equal-length sequences by the scaled forward algorithm."""
    frames = log_emission.reshape(-1, length, log_emission.shape[1])
    alpha = startprob * np.exp(frames[:, 0])
    total = np.log(alpha.sum(axis=1)).sum()
    alpha = alpha / alpha.sum(axis=1, keepdims=True)
    for t in range(1, length):
        alpha = (alpha @ transmat) * np.exp(frames[:, t])
        total = total + np.log(alpha.sum(axis=1)).sum()
        alpha = alpha / alpha.sum(axis=1, keepdims=True)
    return total


def test_mixed_hmm_reaches_the_direct_maximum_of_the_likelihood():
    k, length, n_sequences = 2, 40, 8
    rng = np.random.default_rng(4)
    truth = {"startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.9, 0.1], [0.2, 0.8]]),
             "0:means": np.array([[0.0, 0.0], [2.0, 1.5]]), "0:covars": np.array([[1.0, 0.5], [0.8, 1.0]]),
             "1:lambdas": np.array([[1.5], [5.0]]), "2:probs": np.array([[0.25], [0.7]])}
    model = HiddenMarkovModel(mixed_family(), k)
    X = np.concatenate([model.sample(truth, length, rng)[0] for _ in range(n_sequences)])
    X[rng.random(X.shape) < 0.05] = np.nan
    X[[5, 6]] = np.nan
    lengths = [length] * n_sequences

    def loglik(u):
        startprob = softmax_logits(u[:k - 1])
        transmat = softmax_logits(u[k - 1:k - 1 + k * (k - 1)].reshape(k, k - 1))
        return forward_loglik(mixed_log_density(X, u[k - 1 + k * (k - 1):], k), startprob, transmat, length)

    starts = [np.concatenate([[0.0], [1.0, -1.0], rng.normal(size=2 * k) + 1, np.zeros(2 * k),
                              rng.normal(size=k) + 1, rng.normal(size=k)]) for _ in range(4)]
    direct = best_of_starts(loglik, starts)
    result = emkit.fit(model, (X, lengths), random_state=0, n_init=3, **TIGHT)
    assert result.converged
    assert result.loglik == pytest.approx(float(np.real(loglik(direct.astype(complex)))), abs=1e-6)
    order = np.argsort(result.params["0:means"][:, 0])
    emissions = mixed_unconstrained({key: value[order] for key, value in result.params.items()
                                     if key not in ("startprob", "transmat")})
    theta = direct[k - 1 + k * (k - 1):]
    theirs_order = np.argsort(theta[:2 * k].reshape(k, 2)[:, 0])
    blocks = [theta[:2 * k].reshape(k, 2), theta[2 * k:4 * k].reshape(k, 2), theta[4 * k:5 * k], theta[5 * k:]]
    np.testing.assert_allclose(emissions, np.concatenate([b[theirs_order].ravel() for b in blocks]), atol=1e-6)
    transmat = softmax_logits(direct[k - 1:k - 1 + k * (k - 1)].reshape(k, k - 1))
    np.testing.assert_allclose(result.params["transmat"][np.ix_(order, order)],
                               transmat[np.ix_(theirs_order, theirs_order)], atol=1e-6)


# ------------------------------------------------------------------ products that are other families
def fit_steps(model, data, init=None, n_iter=12, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return emkit.fit(model, data, init=init, random_state=5, tol=0.0, param_tol=None, max_iter=n_iter, **options)


def latent(kind: str, family, k: int = 3):
    return MixtureModel(family, k) if kind == "mixture" else HiddenMarkovModel(family, k)


def assert_same_iterates(ours, theirs, names):
    """Same log-likelihood trace and parameters; ``names`` maps our keys to theirs."""
    np.testing.assert_allclose(ours.trace.loglik, theirs.trace.loglik, rtol=1e-12)
    for key, value in ours.params.items():
        np.testing.assert_allclose(value, theirs.params[names.get(key, key)], rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("kind", ["mixture", "hmm"])
@pytest.mark.parametrize("case", ["gaussian", "categorical", "bernoulli"])
def test_a_product_of_one_family_is_that_family(kind, case):
    rng = np.random.default_rng(6)
    if case == "gaussian":
        X = mixed_rows(400, seed=7)[:, :2]
        X[:3] = np.nan
        X[3:6] = 0.5
        make = lambda: Gaussian(2, "full")  # noqa: E731
    elif case == "categorical":
        X = rng.integers(0, 4, 400).astype(float)
        X[rng.random(400) < 0.05] = np.nan
        make = lambda: CategoricalEmission(4, emissionprob_prior=1.5)  # noqa: E731  (a prior: MAP steps)
    else:
        X = (rng.random((400, 3)) < [0.2, 0.5, 0.8]).astype(float)
        X[rng.random(X.shape) < 0.05] = np.nan
        make = lambda: Bernoulli(3)  # noqa: E731
    family = make()
    product = Product([(list(range(X.shape[1] if X.ndim == 2 else 1)), make())])
    theirs = fit_steps(latent(kind, family), X)
    ours = fit_steps(latent(kind, product), X)
    assert_same_iterates(ours, theirs, {f"0:{name}": name for name in family.param_names})


@pytest.mark.parametrize("kind", ["mixture", "hmm"])
def test_two_poisson_columns_as_two_parts_are_poisson_of_two_columns(kind):
    rng = np.random.default_rng(8)
    X = rng.poisson([[2.0, 6.0]] * 300).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    start = {"lambdas": np.array([[1.0, 3.0], [2.0, 6.0], [4.0, 9.0]])}
    chain = ({"weights": np.array([0.3, 0.3, 0.4])} if kind == "mixture"
             else {"startprob": np.array([0.3, 0.3, 0.4]), "transmat": np.full((3, 3), 0.1) + 0.7 * np.eye(3)})
    theirs = fit_steps(latent(kind, Poisson(2)), X, init={**chain, **start})
    product = Product([(1, Poisson(1)), (0, Poisson(1))])  # parts in either order
    ours = fit_steps(latent(kind, product), X,
                     init={**chain, "0:lambdas": start["lambdas"][:, [1]], "1:lambdas": start["lambdas"][:, [0]]})
    np.testing.assert_allclose(ours.trace.loglik, theirs.trace.loglik, rtol=1e-12)
    lambdas = np.hstack([ours.params["1:lambdas"], ours.params["0:lambdas"]])
    np.testing.assert_allclose(lambdas, theirs.params["lambdas"], rtol=1e-12)
    for name in chain:
        np.testing.assert_allclose(ours.params[name], theirs.params[name], rtol=1e-12, atol=1e-15)


def test_named_dataframe_columns_give_the_same_fit_as_indices():
    pd = pytest.importorskip("pandas")
    X = mixed_rows(300, seed=9)
    frame = pd.DataFrame({"id": np.arange(300), "visits": X[:, 2], "x": X[:, 0], "smoker": X[:, 3], "y": X[:, 1]})
    named = Product([(["x", "y"], Gaussian(2, "diag")), ("visits", Poisson(1)), ("smoker", Bernoulli(1))])
    assert named.param_names == ("x,y:means", "x,y:covars", "visits:lambdas", "smoker:probs")
    assert named.describe() == ("product of Gaussian diag on columns x, y, Poisson on column visits, "
                                "Bernoulli on column smoker")
    ours = fit_steps(MixtureModel(named, 2), frame)
    theirs = fit_steps(MixtureModel(mixed_family(reg_covar=1e-6), 2), X)
    assert_same_iterates(ours, theirs, {"x,y:means": "0:means", "x,y:covars": "0:covars",
                                        "visits:lambdas": "1:lambdas", "smoker:probs": "2:probs"})
    with pytest.raises(ValueError, match=r"^X: no column\(s\) \['visits'\]"):
        named.prepare(frame.drop(columns="visits"))
    with pytest.raises(ValueError, match="^X: the parts name columns"):
        named.prepare(X)


# ------------------------------------------------------------------ statistics and ascent
def test_statistics_of_two_halves_add_up_to_the_whole():
    X = mixed_rows(20_000, seed=10)  # several row blocks
    weights = np.random.default_rng(11).uniform(0.0, 2.0, X.shape[0])
    model = MixtureModel(Product([([0, 1], Gaussian(2, "full")), (2, Poisson(1)), (3, Bernoulli(1))]), 3)
    params = model.initial_params(model.prepare((X, weights)), np.random.default_rng(12))
    data = model.prepare((X, weights))
    whole, loglik = model.e_step(data, params)
    cut = 7_777
    first, loglik_first = model.e_step(model.prepare_chunk((X[:cut], weights[:cut]), data.context), params)
    second, loglik_second = model.e_step(model.prepare_chunk((X[cut:], weights[cut:]), data.context), params)
    halves = add_stats(first, second)
    assert {"counts", "0:n", "1:column_sums", "2:column_weights"} <= set(whole) == set(halves)
    for key in whole:
        np.testing.assert_allclose(halves[key], whole[key], rtol=1e-10, atol=1e-8, err_msg=key)
    assert loglik_first + loglik_second == pytest.approx(loglik, rel=1e-12)


def test_rows_missing_everywhere_have_likelihood_one_and_parts_add_up():
    X = mixed_rows(50, seed=13)
    family = mixed_family()
    model = MixtureModel(family, 2)
    params = model.initial_params(model.prepare(X), np.random.default_rng(14))
    _, log_p = model.responsibilities(X, params)
    np.testing.assert_array_equal(log_p[:3], 0.0)
    block = family.block_data(family.prepare(X))
    cache = family.precompute(params)
    theta = mixed_unconstrained(params)
    np.testing.assert_allclose(family.log_likelihood(block, cache), mixed_log_density(X, theta, 2), rtol=1e-12)
    out = np.full((50, 2), np.nan)
    assert family.log_likelihood(block, cache, out) is out
    np.testing.assert_allclose(out, mixed_log_density(X, theta, 2), rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 3), hmm=st.booleans())
def test_em_never_decreases_the_objective(seed, k, hmm):
    rng = np.random.default_rng(seed)
    X = mixed_rows(60, seed=seed % 1000, missing=0.1)
    model = HiddenMarkovModel(mixed_family(1e-6), k) if hmm else MixtureModel(mixed_family(1e-6), k)
    data = model.prepare(X)
    params = model.initial_params(data, rng)
    trace = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        for _ in range(15):
            stats, loglik = model.e_step(data, params)
            trace.append(loglik + model.log_prior(params))
            params = model.m_step(stats, params)
    assert np.all(np.isfinite(trace))
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:])), trace


# ------------------------------------------------------------------ standard errors and parameters
def test_louis_standard_errors_equal_the_hessians():
    X = mixed_rows(400, seed=15, missing=0.0)[3:]
    model = MixtureModel(mixed_family(), 2)
    result = emkit.fit(model, X, random_state=0, n_init=2, **TIGHT)
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert louis.labels == hessian.labels and len(louis.labels) == model.n_free_parameters() == 1 + 8 + 2 + 2
    assert "1:lambdas[0][0]" in louis.labels
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-4, atol=1e-9 * np.abs(hessian.cov).max())


def test_parameters_round_trip_and_errors_name_the_products_keys():
    family = mixed_family()
    params = {"0:means": np.zeros((2, 2)), "0:covars": np.ones((2, 2)), "1:lambdas": np.array([[1.0], [2.0]]),
              "2:probs": np.array([[0.3], [0.6]])}
    learn = frozenset({"0:covars", "2:probs"})
    free = family.to_free(params, learn)
    assert free.size == family.n_free_parameters(2, learn) == 6
    labels = family.free_labels(params, learn)
    assert len(labels) == 6 and labels[0].startswith("0:covars") and labels[-1] == "2:probs[1][0]"
    restored = family.from_free(free + 0.1, params, learn)
    np.testing.assert_allclose(restored["2:probs"], params["2:probs"] + 0.1)
    np.testing.assert_array_equal(restored["1:lambdas"], params["1:lambdas"])
    assert family.is_feasible(params) and not family.is_feasible({**params, "2:probs": np.array([[0.3], [1.5]])})
    with pytest.raises(ValueError, match=r"^1:lambdas: expected finite non-negative rates"):
        family.check_params({**params, "1:lambdas": np.array([[1.0], [-2.0]])}, 2)
    with pytest.raises(ValueError, match=r"^init: missing parameter\(s\) \['2:probs'\]"):
        MixtureModel(family, 2).check_params({"weights": np.array([0.5, 0.5]),
                                              **{key: v for key, v in params.items() if key != "2:probs"}})
    samples = family.sample(np.array([0, 1, 1, 0]), params, np.random.default_rng(16))
    assert samples.shape == (4, 4) and set(np.unique(samples[:, 3])) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"^X: expected binary values .* \(in part 2: column 3 of X\)"):
        family.prepare(np.array([[0.0, 1.0, 2.0, 0.5]]))
    with pytest.raises(ValueError, match=r"^X: expected a 2-D array \(n_samples, 4\)"):
        family.prepare(np.zeros((3, 5)))


@pytest.mark.parametrize("parts, message", [
    ([], "a non-empty sequence"),
    ("abc", "a non-empty sequence"),
    ([([0, 1], Poisson(2)), ([1, 2], Poisson(2))], "column 1 is in items 0 and 1"),
    ([([0, 0], Poisson(2))], "column 0 is in item 0 twice"),
    ([([0, 1], Poisson(2)), (3, Poisson(1))], "column 3 is out of range"),
    ([(-1, Poisson(1))], "column -1 is out of range"),
    ([([], Poisson(1))], "item 0 has no columns"),
    ([(0, "poisson")], "item 0's family is a str"),
    ([(0,)], "item 0 is not a"),
    ([(0.5, Poisson(1))], "an index, a name or a sequence of them"),
    ([([0, True], Poisson(2))], "integer indices or column names"),
    ([(0, Poisson(1)), ("age", Poisson(1))], "all names"),
])
def test_bad_parts_are_refused_naming_parts(parts, message):
    with pytest.raises(ValueError, match=f"^parts: .*{message}"):
        Product(parts)


def test_one_family_object_in_two_parts_is_refused():
    shared = Poisson(1)
    with pytest.raises(ValueError, match="^parts: items 0 and 1 share one family object"):
        Product([(0, shared), (1, shared)])


def test_regularization_is_that_of_the_regularised_part_under_its_label():
    X = mixed_rows(200, seed=17)
    gaussian = Gaussian(2, "diag", reg_covar=0.5)
    family = Product([(2, Poisson(1)), ([0, 1], gaussian), (3, Bernoulli(1))])
    model = MixtureModel(family, 2)
    params = model.initial_params(model.prepare(X), np.random.default_rng(18))
    stats, _ = model.e_step(model.prepare(X), params)
    keep = np.zeros(2, dtype=bool)
    ours = family.regularization(stats, params, frozenset(family.param_names), keep)
    alone = gaussian.regularization({key[2:]: value for key, value in stats.items() if key.startswith("1:")},
                                    {"means": params["1:means"], "covars": params["1:covars"]},
                                    frozenset({"means", "covars"}), keep)
    assert ours.shortfall == alone.shortfall > 0
    assert ours.collapsed == tuple(f"1: {what}" for what in alone.collapsed)
    assert family.regularization(stats, params, frozenset({"0:lambdas", "1:means"}), keep) is None


def test_description():
    assert mixed_family().describe() == ("product of Gaussian diag on columns 0-1, Poisson on column 2, "
                                         "Bernoulli on column 3")
    family = Product([([0, 2], Poisson(2)), (1, CategoricalEmission(3))])
    assert family.describe() == "product of Poisson on columns 0, 2, categorical on column 1"
    assert MixtureModel(family, 2).describe() == f"mixture of 2 {family.describe()}"


def test_hmm_simulation_keeps_each_parts_missing_cells():
    """The parametric bootstrap's data sets (HiddenMarkovModel.simulate) carry the observed data's
    missing cells, column by column, through a Product (it failed on the structured rows)."""
    rng = np.random.default_rng(8)
    X = np.column_stack([(rng.random(120) < 0.4).astype(float), rng.poisson(3.0, 120).astype(float)])
    X[[3, 50], 1] = np.nan
    X[9, 0] = np.nan
    model = HiddenMarkovModel(Product([((1,), Poisson(1)), ((0,), Bernoulli(1))]), 2)
    params = model.initial_params(model.prepare(X), None)
    simulated, lengths = model.simulate(params, X, rng)
    np.testing.assert_array_equal(np.isnan(simulated), np.isnan(X))
    assert lengths.tolist() == [120]
