"""HMM models: additivity of statistics, ascent, missing data, priors, threads, the MLE."""

import warnings

import numpy as np
import pytest
from hmm_brute import brute_force, forward_loglik
from hmm_fixtures import COVARIANCE_TYPES
from hmm_fixtures import random_gaussian_params as gaussian_params
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.stats import multivariate_normal

import emkit
from emkit.engine import add_stats
from emkit.exceptions import DegenerateComponentWarning
from emkit.families.gaussian import Gaussian
from emkit.families.categorical import CategoricalEmission
from emkit.latent.hmm import HiddenMarkovModel
from emkit.latent.sequences import MAX_BATCHES


def categorical_params(rng, k, m):
    return {"startprob": rng.dirichlet(np.ones(k)), "transmat": rng.dirichlet(np.ones(k), size=k),
            "emissionprob": rng.dirichlet(np.ones(m), size=k)}


def full_covariance(params, covariance_type, state, d):
    return Gaussian(d, covariance_type).full_covariances(params["covars"], len(params["startprob"]))[state]


# --------------------------------------------------------------------- additivity of statistics
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_two_sequence_sets_add_up(covariance_type):
    rng = np.random.default_rng(0)
    model = HiddenMarkovModel(Gaussian(2, covariance_type), 3, n_jobs=1)
    params = gaussian_params(rng, 3, 2, covariance_type)
    X = rng.normal(size=(50, 2))
    X[[3, 17], 1] = np.nan
    X[20] = np.nan
    first, second = (X[:20], [8, 12]), (X[20:], [30])
    whole = model.prepare((X, [8, 12, 30]))
    stats_a, ll_a = model.e_step(model.prepare_chunk(first, whole.context), params)   # the whole data's centre
    stats_b, ll_b = model.e_step(model.prepare_chunk(second, whole.context), params)
    stats, ll = model.e_step(whole, params)
    total = add_stats(stats_a, stats_b)
    assert total.keys() == stats.keys()
    for key in stats:
        np.testing.assert_allclose(total[key], stats[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert ll_a + ll_b == pytest.approx(ll, rel=1e-13)


@pytest.mark.parametrize("lengths", [[400, 600, 500, 1000, 500], [3000], [7, 2500, 493]])
def test_threads_give_the_statistics_of_one_thread_bit_for_bit(lengths):
    """Batches of whole sequences and row blocks (which cut sequences) in 3 threads: the same
    partition as one thread, so the same numbers to the last bit."""
    rng = np.random.default_rng(1)
    params = gaussian_params(rng, 3, 2, "full")
    X = rng.normal(size=(3000, 2))
    X[rng.random(X.shape) < 0.05] = np.nan
    one = HiddenMarkovModel(Gaussian(2, "full"), 3, n_jobs=1)
    many = HiddenMarkovModel(Gaussian(2, "full"), 3, n_jobs=3)
    data = many.prepare((X, lengths))
    assert len(data.blocks) >= 2 and 1 <= len(data.batches) <= min(MAX_BATCHES, len(lengths))
    stats_1, ll_1 = one.e_step(one.prepare((X, lengths)), params)
    stats_3, ll_3 = many.e_step(data, params)
    for key in stats_1:
        np.testing.assert_array_equal(stats_3[key], stats_1[key], err_msg=key)
    assert ll_3 == ll_1
    np.testing.assert_array_equal(many.score_samples(data, params)[1], one.score_samples((X, lengths), params)[1])


# ---------------------------------------------------------------------------- the E-step itself
def test_categorical_e_step_against_brute_force_with_missing_rows():
    rng = np.random.default_rng(2)
    params = categorical_params(rng, 3, 3)
    X = np.array([0, 2, np.nan, 1, 1, np.nan, 0])
    model = HiddenMarkovModel(CategoricalEmission(3), 3)
    stats, loglik = model.e_step(model.prepare((X, [4, 3])), params)
    start, trans, counts, total = np.zeros(3), np.zeros((3, 3)), np.zeros((3, 3)), 0.0
    for rows in (slice(0, 4), slice(4, 7)):
        x = X[rows]
        log_frame = np.array([np.log(params["emissionprob"][:, int(v)]) if not np.isnan(v) else np.zeros(3)
                              for v in x])
        brute = brute_force(log_frame, params["startprob"], params["transmat"])
        total += brute["loglik"]
        start += brute["posteriors"][0]
        trans += brute["trans"]
        for t, v in enumerate(x):
            if not np.isnan(v):
                counts[:, int(v)] += brute["posteriors"][t]
    assert loglik == pytest.approx(total, rel=1e-13)
    np.testing.assert_allclose(stats["start"], start, atol=1e-13)
    np.testing.assert_allclose(stats["trans"], trans, atol=1e-13)
    np.testing.assert_allclose(stats["symbol_counts"], counts, atol=1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_score_with_missing_coordinates_against_brute_force(covariance_type):
    """NaN coordinates are marginalised: p(x_t | z) is the density of the observed coordinates
    (scipy), a row with nothing observed contributes 1."""
    rng = np.random.default_rng(3)
    d, k = 3, 2
    params = gaussian_params(rng, k, d, covariance_type)
    X = rng.normal(size=(6, d))
    X[1, 0] = X[2, [0, 2]] = X[4] = np.nan
    model = HiddenMarkovModel(Gaussian(d, covariance_type), k)
    loglik, posteriors = model.score_samples(X, params)
    log_frame = np.zeros((6, k))
    for t in range(6):
        seen = ~np.isnan(X[t])
        if seen.any():
            for j in range(k):
                cov = full_covariance(params, covariance_type, j, d)
                log_frame[t, j] = multivariate_normal(params["means"][j, seen], cov[np.ix_(seen, seen)]).logpdf(
                    X[t, seen])
    brute = brute_force(log_frame, params["startprob"], params["transmat"])
    assert loglik == pytest.approx(brute["loglik"], rel=1e-12)
    np.testing.assert_allclose(posteriors, brute["posteriors"], atol=1e-12)


def test_map_decoding_and_viterbi_on_a_model():
    rng = np.random.default_rng(4)
    params = categorical_params(rng, 2, 3)
    X = np.array([0, 1, 2, 2, 0, 1])
    model = HiddenMarkovModel(CategoricalEmission(3), 2)
    log_frame = np.log(params["emissionprob"][:, X].T)
    brute = brute_force(log_frame, params["startprob"], params["transmat"])
    logprob, path = model.decode(X, params, "viterbi")
    assert logprob == pytest.approx(brute["viterbi_logprob"], rel=1e-13)
    np.testing.assert_array_equal(path, brute["viterbi"])
    logprob, path = model.decode(X, params, "map")
    np.testing.assert_array_equal(path, brute["posteriors"].argmax(axis=1))
    assert logprob == pytest.approx(np.log(brute["posteriors"].max(axis=1)).sum(), rel=1e-12)


# ---------------------------------------------------------------------------------- ascent
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 3), covariance_type=st.sampled_from(COVARIANCE_TYPES),
       n=st.integers(16, 40), missing=st.booleans())
@example(seed=9602, k=3, covariance_type="full", n=18, missing=True)   # an untrusted row with nothing observed
def test_gaussian_baum_welch_never_decreases_the_likelihood(seed, k, covariance_type, n, missing):
    """Exact M-steps (``reg_covar=0``; ``reg_covar > 0`` perturbs the M-step, so EM with it need
    not ascend); a run whose covariance degenerates (not positive, or collapsing below 1e-30) is
    discarded."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) + rng.integers(0, 2, size=n)[:, None] * 3
    if missing:
        X[rng.random(X.shape) < 0.15] = np.nan
        X[0] = [0.0, 0.0]
    model = HiddenMarkovModel(Gaussian(2, covariance_type, reg_covar=0.0), k, n_jobs=1)
    data = model.prepare((X, [n // 2, n - n // 2]))
    params = model.initial_params(data, rng)
    previous = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        for _ in range(15):
            try:
                stats, loglik = model.e_step(data, params)
            except ValueError as error:  # a state collapsed onto too few points
                assert "not positive" in str(error)
                assume(False)
            assert loglik >= previous - 1e-10 * abs(previous)
            previous = loglik
            params = model.m_step(stats, params)
            # a state collapsing onto a point (variance → 0, ℓ → +∞) is degenerate, not a test of ascent
            assume(np.min(np.linalg.eigvalsh(np.atleast_2d(params["covars"])) if covariance_type in ("full", "tied")
                          else params["covars"]) > 1e-30)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), m=st.integers(2, 5),
       prior=st.sampled_from([1.0, 1.5, 3.0]))
def test_categorical_baum_welch_ascends_its_objective(seed, k, m, prior):
    """With priors the ascended objective is log-likelihood + log prior."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, m, size=30).astype(float)
    X[rng.random(30) < 0.1] = np.nan
    model = HiddenMarkovModel(CategoricalEmission(m, emissionprob_prior=prior), k, startprob_prior=prior,
                              transmat_prior=prior, n_jobs=1)
    data = model.prepare((X, [10, 20]))
    params = model.initial_params(data, rng)
    previous = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        for _ in range(15):
            stats, loglik = model.e_step(data, params)
            objective = loglik + model.log_prior(params)   # the engine adds the prior to the E-step's ℓ
            assert objective >= previous - 1e-10 * abs(previous)
            previous = objective
            params = model.m_step(stats, params)


# ------------------------------------------------------------------- the maximum likelihood
def test_baum_welch_reaches_the_direct_maximum_of_the_likelihood():
    """EM's answer equals a quasi-Newton maximization of the likelihood computed by the textbook
    forward recursion (NumPy), in logit coordinates, from the same start (``startprob`` fixed,
    data chosen so that the maximum is inside the parameter space)."""
    truth = {"startprob": np.array([0.7, 0.3]), "transmat": np.array([[0.85, 0.15], [0.25, 0.75]]),
             "emissionprob": np.array([[0.6, 0.25, 0.15], [0.15, 0.3, 0.55]])}
    model = HiddenMarkovModel(CategoricalEmission(3), 2, learn=("transmat", "emissionprob"))
    rng = np.random.default_rng(8)
    X, _ = model.sample(truth, 100, rng)
    Y, _ = model.sample(truth, 80, rng)
    sequences = (X[:, 0], Y[:, 0])
    start = {"startprob": truth["startprob"], "transmat": np.array([[0.6, 0.4], [0.4, 0.6]]),
             "emissionprob": np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])}
    result = emkit.fit(model, (np.concatenate(sequences), [100, 80]), init=start, tol=1e-14, param_tol=1e-11)

    def unpack(z):
        rows = [np.exp(np.append(r, 0.0)) for r in (z[0:1], z[1:2], z[2:4], z[4:6])]
        return [r / r.sum() for r in rows]

    def negative_loglik(z):
        a0, a1, b0, b1 = unpack(z)
        log_b = np.log(np.array([b0, b1]))
        return -sum(forward_loglik(log_b[:, x].T, truth["startprob"], np.array([a0, a1])) for x in sequences)

    def logits(params):
        rows = [*params["transmat"], *params["emissionprob"]]
        return np.concatenate([np.log(r[:-1] / r[-1]) for r in rows])

    direct = optimize.minimize(negative_loglik, logits(start), method="BFGS", options={"gtol": 1e-8})
    assert result.converged and np.min(result.params["emissionprob"]) > 0.1
    assert result.loglik == pytest.approx(-direct.fun, abs=1e-8)
    np.testing.assert_allclose(logits(result.params), direct.x, atol=1e-4)


# ------------------------------------------------------------------- priors and degeneracy
def test_never_visited_state_gets_no_nan_with_priors():
    """State 2 can never be entered (its column of A is zero and it cannot start): without
    pseudo-counts its transition row would be 0/0; with them it is the prior's mode."""
    params = {"startprob": np.array([0.5, 0.5, 0.0]),
              "transmat": np.array([[0.8, 0.2, 0.0], [0.3, 0.7, 0.0], [0.4, 0.4, 0.2]]),
              "emissionprob": np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])}
    X = np.array([0, 0, 1, 1, 0, 1, 1, 1])
    flat = HiddenMarkovModel(CategoricalEmission(2), 3)
    data = flat.prepare(X)
    stats, _ = flat.e_step(data, params)
    assert stats["occupancy"][2] == 0.0
    with pytest.warns(DegenerateComponentWarning, match=r"state\(s\) \[2\]"):
        new = flat.m_step(stats, params)
    assert np.all(np.isfinite(new["transmat"])) and np.all(np.isfinite(new["emissionprob"]))
    np.testing.assert_array_equal(new["transmat"][2], params["transmat"][2])
    np.testing.assert_allclose(new["transmat"].sum(axis=1), 1.0)
    prior = HiddenMarkovModel(CategoricalEmission(2), 3, transmat_prior=2.0)
    with pytest.warns(DegenerateComponentWarning):
        new = prior.m_step(stats, params)
    assert np.all(np.isfinite(new["transmat"]))
    # structural zeros stay zero; the others get the pseudo-counts
    np.testing.assert_allclose(new["transmat"][0], (stats["trans"][0] + [1, 1, 0]) / (stats["trans"][0].sum() + 2))


def test_state_with_no_way_out_keeps_its_row_with_a_warning():
    """State 1 is visited only at the last step: no transition out of it is ever observed."""
    params = {"startprob": np.array([1.0, 0.0]), "transmat": np.array([[0.9, 0.1], [0.5, 0.5]]),
              "emissionprob": np.array([[1.0, 0.0], [0.0, 1.0]])}
    model = HiddenMarkovModel(CategoricalEmission(2), 2)
    stats, _ = model.e_step(model.prepare(np.array([0, 0, 0, 1])), params)
    with pytest.warns(DegenerateComponentWarning, match=r"state\(s\) \[1\]: no transition out"):
        new = model.m_step(stats, params)
    np.testing.assert_array_equal(new["transmat"][1], params["transmat"][1])


def test_learn_holds_the_other_parameters_fixed():
    rng = np.random.default_rng(7)
    params = gaussian_params(rng, 2, 2, "diag")
    model = HiddenMarkovModel(Gaussian(2, "diag"), 2, learn=("transmat", "covars"))
    X = rng.normal(size=(40, 2))
    data = model.prepare(X)
    new = model.m_step(model.e_step(data, params)[0], params)
    for name in ("startprob", "means"):
        np.testing.assert_array_equal(new[name], params[name])
    for name in ("transmat", "covars"):
        assert not np.allclose(new[name], params[name])
    assert model.n_free_parameters() == 2 + 4


# ------------------------------------------------------------------------------ bad input
def test_bad_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="n_components"):
        HiddenMarkovModel(CategoricalEmission(2), 0)
    with pytest.raises(ValueError, match="transmat_prior"):
        HiddenMarkovModel(CategoricalEmission(2), 2, transmat_prior=0.5)
    with pytest.raises(ValueError, match="startprob_prior"):
        HiddenMarkovModel(CategoricalEmission(2), 2, startprob_prior=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="learn"):
        HiddenMarkovModel(CategoricalEmission(2), 2, learn=("means",))
    with pytest.raises(ValueError, match="n_jobs"):
        HiddenMarkovModel(CategoricalEmission(2), 2, n_jobs=0)
    model = HiddenMarkovModel(CategoricalEmission(2), 2)
    with pytest.raises(ValueError, match="lengths"):
        model.prepare((np.array([0, 1, 1]), [2, 2]))
    with pytest.raises(ValueError, match="lengths"):
        model.prepare((np.array([0, 1, 1]), [3, 0]))
    with pytest.raises(ValueError, match="X: symbol 2"):
        model.prepare(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="X: categorical symbols must be non-negative"):
        model.prepare(np.array([0, -1]))
    with pytest.raises(ValueError, match="X: categorical symbols must be integers"):
        model.prepare(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="transmat"):
        model.check_params({"startprob": [0.5, 0.5], "transmat": [[0.5, 0.6], [0.5, 0.5]],
                            "emissionprob": [[0.5, 0.5], [0.5, 0.5]]})
    gaussian = HiddenMarkovModel(Gaussian(2, "full"), 2)
    with pytest.raises(ValueError, match="X: contains infinity"):
        gaussian.prepare(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="X: feature 1 has no observed value"):
        gaussian.prepare(np.array([[0.0, np.nan], [1.0, np.nan]]))
    with pytest.raises(ValueError, match="covars"):
        gaussian.check_params({"startprob": [0.5, 0.5], "transmat": np.eye(2), "means": np.zeros((2, 2)),
                               "covars": np.array([np.eye(2), -np.eye(2)])})
