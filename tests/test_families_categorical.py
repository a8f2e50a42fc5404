"""The Categorical family (several categorical columns, each with its own categories): latent
class analysis through MixtureModel and a categorical HMM, checked against independent
computations: direct numerical maximisation of the observed-data likelihood and of the
log-posterior (scipy, softmax parametrisation, many starts), brute-force category counts,
the numerical Hessian for Louis's information; ascent from random starts (hypothesis)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from direct_mle import maximize
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.special import logsumexp
from test_latent_mixture import objective_trace

import emkit
from emkit.engine.stats import add_stats
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.families import Categorical
from emkit.latent import MixtureModel
from emkit.families.categorical import CategoricalEmission
from emkit.latent.hmm import HiddenMarkovModel

TIGHT = {"tol": 1e-14, "param_tol": 1e-12, "max_iter": 20_000}
SIZES = (3, 2, 4, 3)


def latent_classes(n: int, seed: int, missing: float = 0.1) -> tuple[np.ndarray, dict]:
    """Answers of ``n`` people to four items (3, 2, 4, 3 categories) from two latent classes,
    a fraction ``missing`` of the answers missing (NaN)."""
    truth = {"weights": np.array([0.4, 0.6]),
             "probs": np.array([[0.7, 0.2, 0.1, 0.8, 0.2, 0.4, 0.3, 0.2, 0.1, 0.6, 0.3, 0.1],
                                [0.1, 0.3, 0.6, 0.3, 0.7, 0.1, 0.2, 0.3, 0.4, 0.2, 0.2, 0.6]])}
    rng = np.random.default_rng(seed)
    X, _ = MixtureModel(Categorical(SIZES), 2).sample(truth, n, rng)
    X[rng.random(X.shape) < missing] = np.nan
    return X, truth


def one_hot(X: np.ndarray, sizes) -> np.ndarray:
    """Indicators ``O[i, offset_j + c] = [x_ij = c]`` (a missing cell: a row of zeros)."""
    return np.concatenate([(X[:, [j]] == np.arange(m)).astype(float) for j, m in enumerate(sizes)], axis=1)


def log_softmax_columns(eta: np.ndarray, sizes) -> np.ndarray:
    """Each column's block of ``eta`` (..., Σ m_j) turned into log-probabilities (complex-step
    friendly)."""
    blocks, start = [], 0
    for m in sizes:
        block = eta[..., start:start + m]
        block = block - block.real.max(axis=-1, keepdims=True)
        blocks.append(block - np.log(np.exp(block).sum(axis=-1, keepdims=True)))
        start += m
    return np.concatenate(blocks, axis=-1)


def direct_latent_class_maximum(X: np.ndarray, k: int, sizes, concentration, seed: int, n_starts: int = 10):
    """max over softmax logits of ``Σ_i log Σ_k π_k Π_j p_kj(x_ij) + Σ (α − 1) log p`` by BFGS
    with the analytic gradient from ``n_starts`` random starts; the best value and parameters."""
    onehot, observed = one_hot(X, sizes), (~np.isnan(X)).astype(float)
    expand = np.repeat(np.arange(len(sizes)), sizes)          # column of each entry
    pseudo = np.broadcast_to(np.asarray(concentration, dtype=float) - 1.0, (k, onehot.shape[1]))

    def negative(u):
        log_pi = u[:k] - logsumexp(u[:k])
        log_p = log_softmax_columns(u[k:].reshape(k, -1), sizes)
        joint = log_pi + onehot @ log_p.T
        top = logsumexp(joint, axis=1)
        resp = np.exp(joint - top[:, None])
        p = np.exp(log_p)
        value = top.sum() + np.sum(pseudo * log_p)
        grad_pi = resp.sum(axis=0) - X.shape[0] * np.exp(log_pi)
        weight = (resp.T @ observed)[:, expand] + pseudo_totals(pseudo, sizes)[:, expand]
        grad_eta = resp.T @ onehot + pseudo - weight * p
        return -value, -np.concatenate([grad_pi, grad_eta.ravel()])

    rng = np.random.default_rng(seed)
    best = min((optimize.minimize(negative, rng.normal(size=k + k * onehot.shape[1]), jac=True, method="BFGS",
                                  options={"gtol": 1e-10, "maxiter": 5000}) for _ in range(n_starts)),
               key=lambda found: found.fun)
    u = best.x
    return -best.fun, np.exp(u[:k] - logsumexp(u[:k])), np.exp(log_softmax_columns(u[k:].reshape(k, -1), sizes))


def against_last(free: np.ndarray, sizes) -> np.ndarray:
    """Logits (K, Σ m_j) from the free ones (K, Σ (m_j − 1)): each column's last logit 0."""
    blocks, start = [], 0
    for m in sizes:
        blocks += [free[:, start:start + m - 1], np.zeros((free.shape[0], 1))]
        start += m - 1
    return np.concatenate(blocks, axis=1)


def pseudo_totals(pseudo: np.ndarray, sizes) -> np.ndarray:
    """Each column's total pseudo-count per component, (K, d)."""
    return np.add.reduceat(pseudo, np.concatenate([[0], np.cumsum(sizes)[:-1]]), axis=1)


# --------------------------------------------------------------------------- latent class analysis
@pytest.mark.parametrize("prior", ["ml", "map"])
def test_latent_class_model_with_missing_answers_reaches_the_direct_maximum(prior):
    """Four items, two classes, 10% of answers missing: EM (a few random starts) reaches the
    maximum of the likelihood (``ml``) or of the log-posterior with Dirichlet pseudo-counts that
    differ per entry (``map``) that BFGS finds from ten starts, to 1e-6, with the same
    parameters."""
    X, _ = latent_classes(400, seed=1)
    concentration = 1.0 if prior == "ml" else np.random.default_rng(2).uniform(1.0, 3.0, (2, sum(SIZES)))
    model = MixtureModel(Categorical(SIZES, prior=concentration), 2)
    result = emkit.fit(model, X, random_state=3, n_init=3, **TIGHT)
    direct, weights, probs = direct_latent_class_maximum(X, 2, SIZES, concentration, seed=4)
    assert result.converged
    assert result.loglik == pytest.approx(direct, abs=1e-6)
    order = np.argsort(result.params["weights"])
    np.testing.assert_allclose(result.params["weights"][order], weights[np.argsort(weights)], atol=1e-5)
    np.testing.assert_allclose(result.params["probs"][order], probs[np.argsort(weights)], atol=1e-5)
    if prior == "map":  # the objective includes the prior: the plain likelihood is lower
        plain = MixtureModel(Categorical(SIZES), 2).e_step(model.prepare(X), result.params)[1]
        assert result.loglik == pytest.approx(plain + model.log_prior(result.params), rel=1e-12)
        assert model.log_prior(result.params) < 0


def test_one_column_is_the_categorical_hmm_emission():
    """CategoricalEmission is Categorical with one column under hmmlearn's names: the same EM
    iterates, bit for bit."""
    y = np.random.default_rng(5).choice(4, size=300, p=[0.1, 0.2, 0.3, 0.4]).astype(float)
    y[:20] = np.nan
    start = {"weights": np.array([0.3, 0.7]), "probs": np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = emkit.fit(MixtureModel(Categorical([4], prior=1.5), 2), y, init=start, max_iter=40, tol=0.0,
                         param_tol=None)
        emission = emkit.fit(MixtureModel(CategoricalEmission(4, emissionprob_prior=1.5), 2), y,
                             init={"weights": start["weights"], "emissionprob": start["probs"]}, max_iter=40, tol=0.0,
                             param_tol=None)
    assert issubclass(CategoricalEmission, Categorical)
    assert ours.trace.loglik == emission.trace.loglik
    np.testing.assert_array_equal(ours.params["probs"], emission.params["emissionprob"])


# --------------------------------------------------------------------------- statistics and ascent
def test_statistics_are_the_expected_category_counts_and_halves_add_up_to_the_whole():
    X, truth = latent_classes(5_000, seed=6, missing=0.15)
    weights = np.random.default_rng(7).uniform(0.0, 2.0, X.shape[0])
    model = MixtureModel(Categorical(SIZES), 2)
    whole, loglik = model.e_step(model.prepare((X, weights)), truth)
    cut = 1_777
    first, loglik_first = model.e_step(model.prepare((X[:cut], weights[:cut])), truth)
    second, loglik_second = model.e_step(model.prepare((X[cut:], weights[cut:])), truth)
    halves = add_stats(first, second)
    assert set(halves) == set(whole) == {"counts", "category_counts"}
    for key in whole:
        np.testing.assert_allclose(halves[key], whole[key], rtol=1e-12, err_msg=key)
    assert loglik_first + loglik_second == pytest.approx(loglik, rel=1e-12)
    resp, log_p = model.responsibilities(X, truth)          # brute force: one-hot counts
    expected = (resp * weights[:, None]).T @ one_hot(X, SIZES)
    np.testing.assert_allclose(whole["category_counts"], expected, rtol=1e-12)
    log_rows = np.log(truth["weights"]) + one_hot(X, SIZES) @ np.log(truth["probs"]).T
    np.testing.assert_allclose(log_p, logsumexp(log_rows, axis=1), rtol=1e-12)
    assert loglik == pytest.approx(weights @ log_p, rel=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 3), prior=st.sampled_from([1.0, 2.0]),
       hmm=st.booleans())
def test_em_never_decreases_the_objective_from_random_starts(seed, k, prior, hmm):
    """Random small tables (some categories never used, so probabilities reach 0, and
    components may collapse), random starts, with and without pseudo-counts, as a mixture and
    as HMM emissions."""
    rng = np.random.default_rng(seed)
    sizes = tuple(int(m) for m in rng.integers(1, 5, size=int(rng.integers(1, 4))))
    n = int(rng.integers(6, 40))
    X = np.stack([rng.integers(0, max(m - 1, 1), n) for m in sizes], axis=1).astype(float)
    X[rng.random(X.shape) < 0.15] = np.nan
    family = Categorical(sizes, prior=prior)
    if hmm:
        model, data = HiddenMarkovModel(family, k, transmat_prior=2.0), (X, [n // 2, n - n // 2])
    else:
        model, data = MixtureModel(family, k, weights_prior=prior), X
    params = model.initial_params(model.prepare(data), rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        trace, _ = objective_trace(model, data, params, 15)
    assert np.all(np.isfinite(trace))
    assert np.all(np.diff(trace) >= -1e-10 * (1.0 + np.abs(np.array(trace[1:])))), trace


# --------------------------------------------------------------------------- standard errors
def test_louis_standard_errors_equal_the_hessians():
    X, truth = latent_classes(600, seed=8, missing=0.1)
    model = MixtureModel(Categorical(SIZES), 2)
    result = emkit.fit(model, X, init=truth, **TIGHT)
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert louis.labels == hessian.labels and len(louis.labels) == model.n_free_parameters() == 1 + 2 * 8
    assert louis.labels[1:4] == ("probs[0,0,0]", "probs[0,0,1]", "probs[0,1,0]")
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-4, atol=1e-9 * np.abs(hessian.cov).max())
    assert np.shape(louis.se["probs"]) == (2, sum(SIZES))


# --------------------------------------------------------------------------- as HMM emissions
def test_two_column_categorical_hmm_reaches_the_direct_maximum():
    """Transitions and both columns' emission probabilities (missing cells, whole rows missing)
    against BFGS + a root finder on the forward algorithm's likelihood, start probabilities
    fixed."""
    sizes = (3, 2)
    chain = {"startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.85, 0.15], [0.25, 0.75]])}
    truth = {**chain, "probs": np.array([[0.7, 0.2, 0.1, 0.8, 0.2], [0.1, 0.3, 0.6, 0.3, 0.7]])}
    family = Categorical(sizes)
    rng = np.random.default_rng(9)
    X, _ = HiddenMarkovModel(family, 2).sample(truth, 250, rng)
    X[rng.random(X.shape) < 0.15] = np.nan
    X[[10, 11, 50]] = np.nan
    model = HiddenMarkovModel(family, 2, learn=("transmat", "probs"))
    start = {**chain, **family.initial_params(model.prepare(X).X, 2, None)}
    result = emkit.fit(model, X, init=start, tol=1e-14, max_iter=20_000)
    onehot = one_hot(X, sizes)

    def loglik(theta):
        logits = np.concatenate([theta[:2].reshape(2, 1), np.zeros((2, 1))], axis=1)
        transmat = np.exp(logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)))
        log_emission = onehot @ log_softmax_columns(against_last(theta[2:].reshape(2, -1), sizes), sizes).T
        alpha = chain["startprob"] * np.exp(log_emission[0])
        total = np.log(alpha.sum())
        for row in log_emission[1:]:
            alpha = (alpha / alpha.sum()) @ transmat * np.exp(row)
            total = total + np.log(alpha.sum())
        return total

    last = np.cumsum(sizes) - 1
    free = np.log(start["probs"] / np.repeat(start["probs"][:, last], sizes, axis=1))[:, np.setdiff1d(range(5), last)]
    theta = maximize(loglik, np.concatenate([np.log(start["transmat"][:, 0] / start["transmat"][:, 1]), free.ravel()]))
    direct = np.exp(log_softmax_columns(against_last(theta[2:].reshape(2, -1), sizes), sizes))
    assert result.loglik == pytest.approx(float(np.real(loglik(theta.astype(complex)))), rel=1e-10)
    order = np.argsort(result.params["probs"][:, 0])
    np.testing.assert_allclose(result.params["probs"][order], direct[np.argsort(direct[:, 0])], atol=1e-6)


# --------------------------------------------------------------------------- the rest of the contract
def test_parameters_sampling_and_starts():
    family = Categorical(SIZES)
    model = MixtureModel(family, 2)
    _, truth = latent_classes(1, seed=0)
    free = model.to_free(truth)
    assert free.size == len(model.free_labels(truth)) == model.n_free_parameters() == 1 + 2 * (12 - 4)
    np.testing.assert_allclose(model.from_free(free, truth)["probs"], truth["probs"], atol=1e-15)
    X, labels = model.sample(truth, 20_000, np.random.default_rng(10))
    assert X.shape == (20_000, 4) and X.dtype == float
    for k in range(2):
        np.testing.assert_allclose(one_hot(X[labels == k], SIZES).mean(axis=0), truth["probs"][k], atol=0.02)
    start = family.initial_params(model.prepare(X).X, 3, None)["probs"]
    assert family.is_feasible({"probs": start}) and np.all(np.diff(start[:, 0]) < 0)  # first classes: low codes
    assert family.is_feasible(family.initial_params(model.prepare(X).X, 3, np.random.default_rng(0)))
    assert model.describe() == "mixture of 2 categorical"


@pytest.mark.parametrize("X, message", [
    ([[0, 1, 3, 2], [0, 2, 0, 0]], r"^X\[:, 1\]: code 2 in row 1 is out of range for n_categories\[1\]=2"),
    ([[0, 1, 4, 2]], r"^X\[:, 2\]: code 4"),
    ([[0, 1, 3, -1]], r"^X\[:, 3\]: categorical symbols must be non-negative"),
    ([[0.5, 1, 3, 2]], r"^X\[:, 0\]: categorical symbols must be integers"),
    ([[0, np.inf, 3, 2]], r"^X\[:, 1\]: categorical symbols must be integers"),
    ([[0, 1, 3]], r"^X: expected a 2-D array \(n_samples, 4\)"),
    ([["a", "b", "c", "d"]], "^X"),
])
def test_bad_observations_are_refused_naming_the_column(X, message):
    with pytest.raises(ValueError, match=message):
        Categorical(SIZES).prepare(np.array(X, dtype=object if isinstance(X[0][0], str) else float))


def test_bad_settings_and_parameters_are_refused_naming_them():
    for bad in ([], [2, 0], 3, "abc", [2, 2.5], [True, 2]):
        with pytest.raises(ValueError, match="^n_categories"):
            Categorical(bad)
    with pytest.raises(ValueError, match="^prior"):
        Categorical([2, 3], prior=0.5)
    with pytest.raises(ValueError, match="^prior"):
        MixtureModel(Categorical([2, 3], prior=np.full((3, 5), 2.0)), 2)
    family = Categorical([2, 3])
    with pytest.raises(ValueError, match=r"^probs: expected shape \(2, 5\)"):
        family.check_params({"probs": np.full((2, 4), 0.5)}, 2)
    with pytest.raises(ValueError, match=r"^probs \(column 1: entries 2:5\): each row must sum to 1"):
        family.check_params({"probs": np.array([[0.5, 0.5, 0.2, 0.2, 0.2], [0.5, 0.5, 0.2, 0.3, 0.5]])}, 2)
    assert not family.is_feasible({"probs": np.array([[0.5, 0.5, 0.2, 0.2, 0.2], [0.5, 0.5, 0.2, 0.3, 0.5]])})
