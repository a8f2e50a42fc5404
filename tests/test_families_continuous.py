"""The exponential, gamma and multinomial families, as mixture components and HMM emissions.

Checked against independent computations: scipy.stats' densities (expon, gamma, multinomial);
a direct numerical maximisation of each mixture's observed-data likelihood (unconstrained
parameters, several BFGS starts, polished by a root of the complex-step score); hmmlearn's
MultinomialHMM from the same start; scipy.stats.gamma.fit for the gamma M-step; the numerical
Hessian for Louis's standard errors. Plus: statistics of halves add to the whole, EM ascends from
random starts (hypothesis), and bad input is refused naming ``X`` and the cell.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
from direct_mle import complex_step_gradient, maximize
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.special import gammaln, loggamma, logsumexp

import emkit
from emkit.engine.stats import add_stats
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.families import Exponential, Gamma, Multinomial
from emkit.latent import MixtureModel
from emkit.latent.hmm import HiddenMarkovModel

TIGHT = {"tol": 1e-14, "param_tol": 1e-12, "max_iter": 20_000}
CHAIN = {"startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.9, 0.1], [0.2, 0.8]])}


def with_missing_cells(X: np.ndarray, seed: int, rate: float = 0.1) -> np.ndarray:
    """``X`` with a fraction of its cells NaN (each column and row keeps an observed cell)."""
    X = X.copy()
    X[1:][np.random.default_rng(seed).random(X[1:].shape) < rate] = np.nan
    return X


CASES = {
    "exponential": (Exponential(2), {"rates": np.array([[0.5, 3.0], [4.0, 0.4]])}),
    "gamma": (Gamma(2), {"shapes": np.array([[2.0, 6.0], [9.0, 1.5]]), "rates": np.array([[1.0, 3.0], [1.5, 0.5]])}),
    "multinomial": (Multinomial(3, n_trials=12), {"emissionprob": np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])}),
}


def mixture_sample(name: str, n: int, seed: int) -> np.ndarray:
    family, params = CASES[name]
    X, _ = MixtureModel(family, 2).sample({"weights": np.array([0.4, 0.6]), **params}, n, np.random.default_rng(seed))
    if name == "multinomial":
        X[[3, 17]] = np.nan  # rows missing as a whole
        X[5, 0] = np.nan     # a NaN anywhere: the row is missing
        return X
    return with_missing_cells(X, seed + 1)


# ------------------------------------------------------------------ densities against scipy.stats
def scipy_rows(name: str, X: np.ndarray, params: dict) -> np.ndarray:
    """``log p(x_i | k)`` (n, K) from scipy.stats, missing cells (or rows) adding nothing."""
    observed = ~np.isnan(X)
    if name == "multinomial":
        complete = observed.all(axis=1)
        out = np.zeros((X.shape[0], params["emissionprob"].shape[0]))
        for k, p in enumerate(params["emissionprob"]):
            out[complete, k] = scipy.stats.multinomial.logpmf(X[complete], n=X[complete].sum(axis=1), p=p)
        return out
    out = np.zeros((X.shape[0], len(next(iter(params.values())))))
    for k in range(out.shape[1]):
        if name == "exponential":
            cells = scipy.stats.expon.logpdf(X, scale=1.0 / params["rates"][k])
        else:
            cells = scipy.stats.gamma.logpdf(X, params["shapes"][k], scale=1.0 / params["rates"][k])
        out[:, k] = np.where(observed, cells, 0.0).sum(axis=1)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_log_likelihoods_equal_scipy_stats(name):
    """Family rows, the mixture's ``log p(x_i)`` and the HMM's forward log-likelihood."""
    family, params = CASES[name]
    X = mixture_sample(name, 60, seed=1)
    rows = family.log_likelihood(family.block_data(family.prepare(X)), family.precompute(params))
    expected = scipy_rows(name, X, params)
    np.testing.assert_allclose(rows, expected, rtol=1e-13, atol=1e-13)
    weights = np.array([0.3, 0.7])
    _, log_marginal = MixtureModel(family, 2).responsibilities(X, {"weights": weights, **params})
    np.testing.assert_allclose(log_marginal, logsumexp(np.log(weights) + expected, axis=1), rtol=1e-13, atol=1e-15)
    hmm_loglik, _ = HiddenMarkovModel(family, 2).score_samples(X, {**CHAIN, **params})
    alpha = np.log(CHAIN["startprob"]) + expected[0]
    for row in expected[1:]:
        alpha = logsumexp(alpha[:, None] + np.log(CHAIN["transmat"]), axis=0) + row
    assert hmm_loglik == pytest.approx(logsumexp(alpha), rel=1e-12)


# ------------------------------------------------------------------ mixtures against a direct maximisation
def complex_logsumexp(z: np.ndarray) -> np.ndarray:
    """``log Σ_k exp z_ik`` for complex ``z`` (complex-step friendly)."""
    top = z.real.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(z - top).sum(axis=1))


def direct_rows(name: str, X: np.ndarray):
    """``u ↦ log p(x_i | k)`` (n, 2) in unconstrained parameters (log rates, log shapes, logits
    against the last category) and the inverse map to the family's parameters."""
    observed = ~np.isnan(X)
    values = np.where(observed, X, 0.0)
    if name == "multinomial":
        counts = values[observed.all(axis=1)]
        constant = gammaln(counts.sum(axis=1) + 1.0) - gammaln(counts + 1.0).sum(axis=1)

        def rows(u):
            logits = np.concatenate([u.reshape(2, -1), np.zeros((2, 1))], axis=1)
            log_p = logits - complex_logsumexp(logits)[:, None]
            return counts @ log_p.T + constant[:, None]

        def params(u):
            p = np.exp(np.concatenate([u.reshape(2, -1), np.zeros((2, 1))], axis=1))
            return {"emissionprob": p / p.sum(axis=1, keepdims=True)}
        return rows, params, 2 * (X.shape[1] - 1)
    ones = observed.astype(float)
    if name == "exponential":
        return (lambda u: ones @ u.reshape(2, -1).T - values @ np.exp(u.reshape(2, -1)).T,
                lambda u: {"rates": np.exp(u.reshape(2, -1))}, 2 * X.shape[1])
    logs = np.log(np.where(observed, X, 1.0))

    def gamma_rows(u):
        log_a, log_b = u.reshape(2, 2, -1)
        a = np.exp(log_a)
        return ones @ (a * log_b - loggamma(a)).T + logs @ (a - 1.0).T - values @ np.exp(log_b).T

    return gamma_rows, lambda u: {"shapes": np.exp(u.reshape(2, 2, -1)[0]), "rates": np.exp(u.reshape(2, 2, -1)[1])}, \
        4 * X.shape[1]


def direct_maximum(name: str, X: np.ndarray, seed: int, n_starts: int = 4):
    """The largest observed-data log-likelihood of a two-component mixture, by BFGS (complex-step
    gradients) from random starts, the best polished to a zero of the score; and its parameters."""
    rows, to_params, size = direct_rows(name, X)

    def loglik(u):
        log_weights = np.array([u[0], 0.0]) - complex_logsumexp(np.array([[u[0], 0.0]]))[0]
        return complex_logsumexp(log_weights + rows(u[1:])).sum()

    def negative(u):
        return -float(np.real(loglik(np.asarray(u, dtype=complex))))

    rng = np.random.default_rng(seed)
    scale = np.log(np.nanmean(X)) if name != "multinomial" else 0.0
    best = None
    for _ in range(n_starts):
        start = np.concatenate([[0.0], rng.normal(-scale if name == "exponential" else 0.0, 1.0, size)])
        found = optimize.minimize(negative, start, jac=lambda u: -complex_step_gradient(loglik, u), method="BFGS")
        if best is None or found.fun < best.fun:
            best = found
    u = maximize(loglik, best.x)
    weight = 1.0 / (1.0 + np.exp(-u[0]))
    return -negative(u), {"weights": np.array([weight, 1.0 - weight]), **to_params(u[1:])}


def sort_components(params: dict, name: str) -> dict:
    key = {"exponential": "rates", "gamma": "rates", "multinomial": "emissionprob"}[name]
    order = np.argsort(params[key][:, 0])
    return {k: np.asarray(v)[order] for k, v in params.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_mixture_reaches_the_direct_maximum_of_the_likelihood(name):
    family, _ = CASES[name]
    X = mixture_sample(name, 400 if name == "gamma" else 250, seed=2)
    direct, direct_params = direct_maximum(name, X, seed=3)
    result = emkit.fit(MixtureModel(family, 2), X, random_state=4, n_init=3, **TIGHT)
    assert result.converged
    assert result.loglik == pytest.approx(direct, abs=1e-6)
    ours, theirs = sort_components(result.params, name), sort_components(direct_params, name)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)


def test_gamma_m_step_equals_scipy_gamma_fit_with_free_and_fixed_parameters():
    """One component: the M-step is the MLE (scipy.stats.gamma.fit with the location at 0), with
    both parameters free, the rate fixed, and the shape fixed; the inner solve is at round-off."""
    x = np.random.default_rng(5).gamma(2.5, 1.0 / 1.7, size=(500, 1))
    family = Gamma(1)
    stats = family.stats(family.block_data(x), np.ones((x.size, 1)), None)
    start = {"shapes": np.ones((1, 1)), "rates": np.ones((1, 1))}
    keep = np.zeros(1, bool)
    both = family.m_step(stats, start, frozenset({"shapes", "rates"}), keep)
    a, _, scale = scipy.stats.gamma.fit(x[:, 0], floc=0)
    np.testing.assert_allclose([both["shapes"][0, 0], both["rates"][0, 0]], [a, 1.0 / scale], rtol=1e-7)
    gap = np.log(x.mean()) - np.log(x).mean()
    from scipy.special import digamma
    assert np.log(both["shapes"][0, 0]) - digamma(both["shapes"][0, 0]) == pytest.approx(gap, rel=1e-13)
    fixed_rate = {"shapes": np.ones((1, 1)), "rates": np.full((1, 1), 2.0)}
    shapes_only = family.m_step(stats, fixed_rate, frozenset({"shapes"}), keep)
    a, _, _ = scipy.stats.gamma.fit(x[:, 0], floc=0, fscale=0.5)
    assert shapes_only["shapes"][0, 0] == pytest.approx(a, rel=1e-7) and shapes_only["rates"][0, 0] == 2.0
    rates_only = family.m_step(stats, {"shapes": np.full((1, 1), 3.0), "rates": np.ones((1, 1))},
                               frozenset({"rates"}), keep)
    _, _, scale = scipy.stats.gamma.fit(x[:, 0], 3.0, floc=0, fa=3.0)
    assert rates_only["rates"][0, 0] == pytest.approx(1.0 / scale, rel=1e-12)


def test_gamma_cells_without_a_maximum_keep_their_parameters():
    """A column whose weighted values are all equal has no MLE (``a → ∞``): it keeps its shape
    and rate; an empty component keeps its own; the other cells are estimated."""
    family = Gamma(2)
    X = np.column_stack([np.full(6, 2.0), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    posteriors = np.column_stack([np.ones(6), np.zeros(6)])
    stats = family.stats(family.block_data(X), posteriors, None)
    previous = {"shapes": np.full((2, 2), 1.5), "rates": np.full((2, 2), 0.7)}
    new = family.m_step(stats, previous, frozenset({"shapes", "rates"}), np.array([False, True]))
    np.testing.assert_array_equal(new["shapes"][:, 0], 1.5)
    np.testing.assert_array_equal(new["rates"][1], 0.7)
    a, _, scale = scipy.stats.gamma.fit(X[:, 1], floc=0)
    np.testing.assert_allclose([new["shapes"][0, 1], new["rates"][0, 1]], [a, 1.0 / scale], rtol=1e-7)


# ------------------------------------------------------------------ the HMM against hmmlearn
@pytest.mark.parametrize("n_trials", [None, 15], ids=["trials-per-row", "fixed-trials"])
def test_multinomial_hmm_matches_hmmlearn_from_the_same_start(n_trials):
    from hmmlearn import hmm as hmmlearn

    rng = np.random.default_rng(6)
    probs = np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.5, 0.2, 0.2], [0.1, 0.1, 0.2, 0.6]])
    truth = {"startprob": np.array([0.5, 0.3, 0.2]), "transmat": 0.7 * np.eye(3) + 0.1, "emissionprob": probs}
    lengths = [90, 60, 80]
    X = np.concatenate([HiddenMarkovModel(Multinomial(4, n_trials=15), 3).sample(truth, n, rng)[0] for n in lengths])
    if n_trials is None:  # rows with their own numbers of trials
        X = X + rng.multinomial(3, [0.25] * 4, size=len(X)) * (rng.random((len(X), 1)) < 0.5)
    start = {"startprob": rng.dirichlet(np.ones(3)), "transmat": rng.dirichlet(np.ones(3), size=3),
             "emissionprob": rng.dirichlet(np.ones(4), size=3)}
    n_iter = 15
    model = HiddenMarkovModel(Multinomial(4, n_trials=n_trials), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = emkit.fit(model, (X, lengths), init=start, tol=0.0, param_tol=None, max_iter=n_iter)
    theirs = hmmlearn.MultinomialHMM(3, n_trials=n_trials, n_iter=n_iter, tol=-np.inf, init_params="",
                                     implementation="log")
    theirs.startprob_, theirs.transmat_, theirs.emissionprob_ = start["startprob"], start["transmat"], \
        start["emissionprob"]
    theirs.fit(X.astype(int), lengths)
    assert ours.n_iter == n_iter
    np.testing.assert_allclose(ours.trace.loglik[:n_iter], theirs.monitor_.history, rtol=1e-10)
    for name in ("emissionprob", "transmat", "startprob"):
        np.testing.assert_allclose(ours.params[name], getattr(theirs, name + "_"), rtol=1e-10, atol=1e-14)
    assert ours.loglik == pytest.approx(theirs.score(X.astype(int), lengths), rel=1e-10)


# ------------------------------------------------------------------ the family's contract
@pytest.mark.parametrize("name", list(CASES))
def test_statistics_of_two_halves_add_to_those_of_the_whole(name):
    family, params = CASES[name]
    X = mixture_sample(name, 90, seed=7)
    posteriors = np.random.default_rng(8).dirichlet(np.ones(2), size=len(X))
    cache = family.precompute(params)
    whole = family.stats(family.block_data(family.prepare(X)), posteriors, cache)
    halves = [family.stats(family.block_data(family.prepare(X[s])), posteriors[s], cache)
              for s in (slice(None, 37), slice(37, None))]
    assert set(halves[0]) == set(whole)
    for key in whole:
        np.testing.assert_allclose(halves[0][key] + halves[1][key], whole[key], rtol=1e-13, err_msg=key)
    model = MixtureModel(family, 2)  # and the mixture's E-step, with sample weights
    mixture = {"weights": np.array([0.4, 0.6]), **params}
    weights = np.random.default_rng(9).uniform(0.0, 2.0, len(X))
    stats, loglik = model.e_step(model.prepare((X, weights)), mixture)
    parts = [model.e_step(model.prepare((X[s], weights[s])), mixture) for s in (slice(None, 50), slice(50, None))]
    summed = add_stats(parts[0][0], parts[1][0])
    for key in stats:
        np.testing.assert_allclose(summed[key], stats[key], rtol=1e-12, err_msg=key)
    assert parts[0][1] + parts[1][1] == pytest.approx(loglik, rel=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(list(CASES)), k=st.integers(1, 3))
@example(seed=311, name="gamma", k=2)       # a component collapses in one column (shape ~ 4e7)
@example(seed=316, name="gamma", k=3)       # the same in the HMM (shape ~ 2e6)
@example(seed=291, name="multinomial", k=3)  # a perfect fit: log-likelihood 0 to round-off
def test_em_ascends_from_random_starts(seed, name, k):
    """Mixture (its E- and M-steps by hand) and HMM (through emkit.fit) from random starts on
    small random data, with missing cells (rows for the multinomial), including components that
    collapse (the gamma likelihood is unbounded as a shape grows on nearly equal values)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 40))
    if name == "multinomial":
        family = Multinomial(3)
        X = rng.multinomial(rng.integers(1, 6), rng.dirichlet(np.ones(3)), size=n).astype(float)
        X[rng.integers(1, n)] = np.nan
    else:
        family = Exponential(2) if name == "exponential" else Gamma(2)
        X = with_missing_cells(rng.gamma(rng.uniform(0.3, 5.0, 2), rng.uniform(0.1, 10.0, 2), size=(n, 2)), seed)
    model = MixtureModel(family, k)
    data = model.prepare(X)
    params = model.initial_params(data, rng)
    params["weights"] = rng.dirichlet(np.ones(k))
    trace = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(15):
            stats, loglik = model.e_step(data, params)
            trace.append(loglik)
            params = model.m_step(stats, params)
        hmm = emkit.fit(HiddenMarkovModel(family, k), (X, [n // 2, n - n // 2]), random_state=rng, max_iter=15)
    for values in (np.array(trace), np.array(hmm.trace.loglik)):
        assert np.all(np.isfinite(values))
        assert np.all(np.diff(values) >= -1e-10 * np.maximum(1.0, np.abs(values[1:]))), values
    assert model.is_feasible(params) and family.is_feasible(hmm.params)


@pytest.mark.parametrize("name", ["gamma", "exponential", "multinomial"])
def test_louis_standard_errors_equal_the_hessians(name):
    family, params = CASES[name]
    X = mixture_sample(name, 300, seed=10)
    model = MixtureModel(family, 2)
    result = emkit.fit(model, X, init={"weights": np.array([0.4, 0.6]), **params}, **TIGHT)
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert louis.labels == hessian.labels and len(louis.labels) == model.n_free_parameters()
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-4, atol=1e-9 * np.abs(hessian.cov).max())


@pytest.mark.parametrize("name", list(CASES))
def test_free_parameters_sampling_and_starts(name):
    family, params = CASES[name]
    learn = frozenset(family.param_names)
    free = family.to_free(params, learn)
    assert free.size == family.n_free_parameters(2, learn) == len(family.free_labels(params, learn))
    back = family.from_free(free, params, learn)
    for key in params:
        np.testing.assert_allclose(back[key], params[key], rtol=1e-15)
    assert family.n_free_parameters(2, frozenset()) == 0 and family.to_free(params, frozenset()).size == 0
    X = mixture_sample(name, 50, seed=11)
    for rng in (None, np.random.default_rng(12)):
        start = family.initial_params(family.prepare(X), 3, rng)
        assert family.is_feasible(start) and family.check_params(start, 3).keys() == params.keys()
    draws = family.sample(np.repeat([0, 1], 20_000), params, np.random.default_rng(13))
    if name == "multinomial":
        np.testing.assert_array_equal(draws.sum(axis=1), 12.0)
        means = params["emissionprob"] * 12
    else:
        means = 1.0 / params["rates"] if name == "exponential" else params["shapes"] / params["rates"]
    np.testing.assert_allclose([draws[:20_000].mean(axis=0), draws[20_000:].mean(axis=0)], means, rtol=0.03)


@pytest.mark.parametrize("family, X, message", [
    (Gamma(2), [[1.0, 2.0], [3.0, 0.0]], "row 1, column 1"),
    (Gamma(2), [[1.0, -2.0], [3.0, 1.0]], "row 0, column 1"),
    (Exponential(2), [[1.0, 2.0], [0.0, 1.0]], "row 1, column 0"),
    (Exponential(2), [[1.0, np.inf], [1.0, 1.0]], "row 0, column 1"),
    (Gamma(2), [[np.nan, 2.0], [np.nan, 1.0]], "column 0 has no observed value"),
    (Multinomial(3), [[1, 2, 0], [3, 1.5, 0]], "row 1, column 1"),
    (Multinomial(3), [[1, 2, 0], [3, -1, 0]], "row 1, column 1"),
    (Multinomial(3, n_trials=3), [[1, 2, 0], [3, 1, 0]], "row 1 sums to 4"),
    (Multinomial(3), [[1, 2]], r"\(n_samples, 3\)"),
    (Multinomial(2), [[1, np.nan], [np.nan, 2]], "every row"),
])
def test_bad_observations_are_refused_naming_x(family, X, message):
    X = np.array(X, dtype=float)
    before = X.copy()
    with pytest.raises(ValueError, match=message) as error:
        family.prepare(X)
    assert str(error.value).startswith("X:")
    np.testing.assert_array_equal(X, before)


def test_bad_settings_and_parameters_are_refused_naming_them():
    for call, name in [(lambda: Gamma(0), "n_features"), (lambda: Exponential(1.5), "n_features"),
                       (lambda: Multinomial(0), "n_categories"), (lambda: Multinomial(2, n_trials=-1), "n_trials"),
                       (lambda: Gamma(1).check_params({"shapes": [[0.0]], "rates": [[1.0]]}, 1), "shapes"),
                       (lambda: Gamma(1).check_params({"shapes": [[1.0]], "rates": [[np.nan]]}, 1), "rates"),
                       (lambda: Exponential(1).check_params({"rates": [[0.0]]}, 1), "rates"),
                       (lambda: Multinomial(2).check_params({"emissionprob": [[0.5, 0.6]]}, 1), "emissionprob"),
                       (lambda: Multinomial(2).sample(np.zeros(3, int), {"emissionprob": [[0.5, 0.5]]},
                                                      np.random.default_rng(0)), "n_trials")]:
        with pytest.raises(ValueError, match=f"^{name}"):
            call()
