"""The engine's stopping rules and restarts (issue 15: the engine owns both).

A user's EMModel under :class:`emkit.PerSampleChange` gives scikit-learn's GaussianMixture
iterates, ``n_iter_``, lower bounds and warm start (scikit-learn run in the test, from the same
start); ``init`` may be a function of the engine's generator, called once per start.
"""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import emkit
from emkit.engine import EMModel
from emkit.engine.estep import expected_stats

sklearn_mixture = pytest.importorskip("sklearn.mixture")


class OneDimensionalMixture(EMModel):
    """A user's two-component univariate Gaussian mixture, written from the textbook (no emkit
    mixture code), with scikit-learn's M-step (``reg_covar=0``)."""

    param_names = ("weights", "means", "variances")

    def initial_params(self, data, rng=None):
        rng = np.random.default_rng(0) if rng is None else rng
        return {"weights": np.array([0.5, 0.5]), "means": rng.choice(data, 2, replace=False),
                "variances": np.full(2, data.var())}

    def e_step(self, data, params):
        log_joint = (np.log(params["weights"]) - 0.5 * np.log(2 * np.pi * params["variances"])
                     - 0.5 * (data[:, None] - params["means"]) ** 2 / params["variances"])
        log_norm = logsumexp(log_joint, axis=1)
        resp = np.exp(log_joint - log_norm[:, None])
        return {"n": resp.sum(0), "sx": resp.T @ data, "resp": resp, "x": data}, float(log_norm.sum())

    def m_step(self, stats, params):
        n = stats["n"] + 10 * np.finfo(float).eps   # scikit-learn's guard
        means = stats["sx"] / n
        variances = np.sum(stats["resp"] * (stats["x"][:, None] - means) ** 2, axis=0) / n
        return {"weights": n / n.sum(), "means": means, "variances": variances}


def two_groups(n=300, seed=4):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, 1.0, n // 2), rng.normal(2.5, 1.3, n - n // 2)])


START = {"weights": np.array([0.7, 0.3]), "means": np.array([-1.0, 4.0]), "variances": np.array([0.5, 3.0])}


def sklearn_fit(X, start, **options):
    reference = sklearn_mixture.GaussianMixture(2, covariance_type="full", reg_covar=0.0,
                                                weights_init=start["weights"], means_init=start["means"][:, None],
                                                precisions_init=(1.0 / start["variances"])[:, None, None], **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reference.fit(X[:, None])


def assert_same_as_sklearn(result, reference, n):
    assert result.n_iter == reference.n_iter_ and result.converged == reference.converged_
    np.testing.assert_allclose(np.array(result.trace.loglik) / n, reference.lower_bounds_, rtol=1e-12)
    assert result.loglik / n == pytest.approx(reference.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(result.params["weights"], reference.weights_, rtol=1e-10)
    np.testing.assert_allclose(result.params["means"], reference.means_[:, 0], rtol=1e-10)
    np.testing.assert_allclose(result.params["variances"], reference.covariances_[:, 0, 0], rtol=1e-10)


@pytest.mark.parametrize("max_iter, tol", [(100, 1e-6), (1, 1e-3), (4, 1e-12)])
def test_per_sample_rule_gives_scikit_learns_iterates_and_n_iter(max_iter, tol):
    X = two_groups()
    rule = emkit.PerSampleChange(tol, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        result = emkit.fit(OneDimensionalMixture(), X, init=START, stopping=rule, max_iter=max_iter)
    assert_same_as_sklearn(result, sklearn_fit(X, START, tol=tol, max_iter=max_iter), len(X))
    # the trace holds the evaluated iterates; params is one M-step past the last of them
    assert len(result.trace) == result.n_iter == result.n_evaluations
    stats, loglik = expected_stats(OneDimensionalMixture(), X, result.trace.params[-1])
    assert loglik == result.loglik
    for name, value in OneDimensionalMixture().m_step(stats, result.trace.params[-1]).items():
        np.testing.assert_array_equal(result.params[name], value)


def test_per_sample_rule_warm_start_is_scikit_learns():
    X = two_groups()
    n = len(X)
    reference = sklearn_mixture.GaussianMixture(2, reg_covar=0.0, warm_start=True, max_iter=3, tol=1e-8,
                                                weights_init=START["weights"], means_init=START["means"][:, None],
                                                precisions_init=(1.0 / START["variances"])[:, None, None])
    params, previous = START, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):   # each fit continues from the last, its first change against the last bound
            reference.fit(X[:, None])
            result = emkit.fit(OneDimensionalMixture(), X, init=params, max_iter=3,
                               stopping=emkit.PerSampleChange(1e-8, n, previous))
            assert_same_as_sklearn(result, reference, n)
            params, previous = result.params, result.loglik / n
    # converged at once: the first evaluation is within tol of the previous bound
    done = emkit.fit(OneDimensionalMixture(), X, init=params, stopping=emkit.PerSampleChange(1.0, n, previous))
    assert done.converged and done.n_iter == 1 and done.n_evaluations == 1 and len(done.trace) == 1


def test_per_sample_rule_max_iter_zero_evaluates_nothing():
    X = two_groups()
    with pytest.warns(emkit.ConvergenceWarning, match="max_iter=0"):
        result = emkit.fit(OneDimensionalMixture(), X, init=START, stopping=emkit.PerSampleChange(1e-3, len(X)),
                           max_iter=0)
    assert all(np.array_equal(result.params[name], START[name]) for name in START) and result.loglik == -np.inf
    assert (result.n_iter, result.n_evaluations, len(result.trace), result.converged) == (0, 0, 0, False)
    with pytest.raises(ValueError, match="max_iter"):   # the default rule needs an iteration
        emkit.fit(OneDimensionalMixture(), X, init=START, max_iter=0)


def test_per_sample_rule_with_squarem_ends_with_the_final_m_step():
    X = two_groups()
    plain = emkit.fit(OneDimensionalMixture(), X, init=START, stopping=emkit.PerSampleChange(1e-12, len(X)))
    fast = emkit.fit(OneDimensionalMixture(), X, init=START, stopping=emkit.PerSampleChange(1e-12, len(X)),
                     accelerate="squarem")
    assert fast.converged and fast.n_evaluations < plain.n_evaluations
    assert fast.n_iter == len(fast.trace)
    stats, _ = expected_stats(OneDimensionalMixture(), X, fast.trace.params[-1])
    final = OneDimensionalMixture().m_step(stats, fast.trace.params[-1])
    np.testing.assert_array_equal(fast.params["means"], final["means"])
    assert fast.loglik == pytest.approx(plain.loglik, rel=1e-10)   # the same maximum


def test_bad_stopping_rules_are_refused():
    with pytest.raises(ValueError, match="stopping"):
        emkit.fit(OneDimensionalMixture(), two_groups(), stopping="sklearn")
    with pytest.raises(ValueError, match="n_samples"):
        emkit.PerSampleChange(1e-3, 0.0)
    with pytest.raises(ValueError, match="tol"):
        emkit.RelativeChange(-1.0)
    with pytest.raises(ValueError, match="previous"):
        emkit.PerSampleChange(1e-3, 10.0, previous=np.nan)
    # a warm start after max_iter=0 (bound −∞) is not converged at its first evaluation
    X = two_groups()
    with pytest.warns(emkit.ConvergenceWarning, match="max_iter=2"):
        after_nothing = emkit.fit(OneDimensionalMixture(), X, init=START, max_iter=2,
                                  stopping=emkit.PerSampleChange(1e-3, len(X), previous=-np.inf))
    assert after_nothing.n_iter == 2 and after_nothing.n_evaluations == 2


def test_relative_change_is_what_tol_builds():
    X = two_groups()
    by_arguments = emkit.fit(OneDimensionalMixture(), X, init=START, tol=1e-9, param_tol=1e-7)
    by_rule = emkit.fit(OneDimensionalMixture(), X, init=START, stopping=emkit.RelativeChange(1e-9, 1e-7))
    assert by_rule.trace.loglik == by_arguments.trace.loglik and by_rule.n_iter == by_arguments.n_iter


def test_callable_init_gives_every_start_from_one_generator():
    X = two_groups()
    model = OneDimensionalMixture()
    generators, finished = [], []

    def init(rng):
        generators.append(rng)
        return model.initial_params(X, rng)

    result = emkit.fit(model, X, init=init, n_init=4, random_state=7, tol=1e-8,
                       restart_callback=lambda index, run: finished.append((index, run.loglik)))
    assert len(generators) == 4 and all(rng is generators[0] for rng in generators)
    replay = np.random.default_rng(7)
    expected_starts = [model.initial_params(X, replay) for _ in range(4)]
    assert len(result.restarts) == 4 and result.loglik == max(result.restarts)
    assert finished == list(enumerate(result.restarts))
    best = int(np.argmax(result.restarts))
    for name, value in expected_starts[best].items():
        np.testing.assert_array_equal(result.trace.params[0][name], value)
    # the same starts one by one give the same finals
    for start, final in zip(expected_starts, result.restarts):
        assert emkit.fit(model, X, init=start, tol=1e-8).loglik == final
