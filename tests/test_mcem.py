"""Monte Carlo EM: the DLR linkage model and the probit random-intercept model.

Independent references: the exact linkage MLE (root of the score equation, published 0.6268214980)
and, for the random-intercept model, a direct numerical maximization (scipy.optimize) of the
marginal likelihood computed by a non-adaptive Gauss–Hermite rule written here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize
from scipy.special import log_ndtr, logsumexp

from emkit import fit
from emkit.engine.stats import add_stats
from emkit.models.grouped_multinomial import genetic_linkage
from emkit.models.poisson_mixture import PoissonMixture
from emkit.models.random_intercept import ProbitRandomIntercept
from emkit.variants.mcem import fit_mcem

LINKAGE = [125, 18, 20, 34]
LINKAGE_MLE = 0.6268214980


def test_linkage_exact_mle_is_the_score_root():
    # (125/(2+θ) − 38/(1−θ) + 34/θ = 0) <=> 197θ² − 15θ − 68 = 0: the published value.
    root = (15 + np.sqrt(15 ** 2 + 4 * 197 * 68)) / (2 * 197)
    assert root == pytest.approx(LINKAGE_MLE, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_mcem_linkage_within_monte_carlo_error_of_the_mle(seed):
    result = fit_mcem(genetic_linkage(), LINKAGE, random_state=seed)
    assert result.converged
    se = float(result.param_se[-1][0])
    assert 0 < se < 1e-3
    assert abs(float(result.params["theta"]) - LINKAGE_MLE) < 4 * se + 1e-5
    assert result.sample_sizes[-1] > result.sample_sizes[0]  # the ascent rule grew m
    assert result.n_draws == sum(result.sample_sizes)


def test_mcem_is_reproducible_with_random_state():
    options = {"max_sample_size": 20_000}
    first = fit_mcem(genetic_linkage(), LINKAGE, random_state=7, **options)
    second = fit_mcem(genetic_linkage(), LINKAGE, random_state=7, **options)
    other = fit_mcem(genetic_linkage(), LINKAGE, random_state=8, **options)
    assert first.trace.loglik == second.trace.loglik
    assert first.sample_sizes == second.sample_sizes
    assert first.trace.loglik != other.trace.loglik


def test_linkage_sampler_averages_the_binomial_split():
    model = genetic_linkage()
    counts = model.prepare(LINKAGE)
    params = {"theta": np.array(0.4)}
    size = 200_000
    sampled = model.sample_stats(counts, params, np.random.default_rng(0), size)
    exact, _ = model.e_step(counts, params)
    p = 0.1 / 0.6  # θ/4 / (1/2 + θ/4): the split of the first cell is Binomial(125, p)
    se = np.sqrt(125 * p * (1 - p) / size)
    assert abs(float(sampled["theta_count"]) - float(exact["theta_count"])) < 5 * se
    assert float(sampled["complement_count"]) == float(exact["complement_count"]) == 38.0


@pytest.mark.parametrize("model_name", ["linkage", "random_intercept"])
def test_complete_loglik_is_maximized_by_the_m_step(model_name, clustered):
    model, data, params = _model_data_params(model_name, clustered)
    stats, _ = model.e_step(data, params)
    best = model.m_step(stats, params)
    vector = model.to_vector(best)

    def negative_q(v):
        candidate = model.from_vector(v, best)
        if not model.is_feasible(candidate):
            return np.inf
        return -model.complete_loglik(stats, candidate)

    found = optimize.minimize(negative_q, vector + 0.05, method="Nelder-Mead",
                              options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    np.testing.assert_allclose(found.x, vector, atol=1e-5)


def test_fixed_schedule_sets_the_sample_sizes():
    result = fit_mcem(genetic_linkage(), LINKAGE, sample_size=lambda t: 1000 * t, n_batches=10,
                      random_state=0, max_iter=50)
    assert result.sample_sizes == [1000 * t for t in range(1, len(result.sample_sizes) + 1)]


def test_mcem_without_sampler_is_a_clear_error():
    with pytest.raises(ValueError, match="sample_stats"):
        fit_mcem(PoissonMixture(2), [3, 4, 5])


@pytest.mark.parametrize("kwargs, name", [({"sample_size": 0}, "sample_size"), ({"n_batches": 1}, "n_batches"),
                                          ({"alpha": 0.7}, "alpha"), ({"tol": 0.0}, "tol"),
                                          ({"growth": 0.5}, "growth")])
def test_mcem_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        fit_mcem(genetic_linkage(), LINKAGE, **kwargs)


# ------------------------------------------------------------------ probit random intercept
@pytest.fixture(scope="module")
def clustered():
    rng = np.random.default_rng(1)
    n_groups, size = 30, 4
    groups = np.repeat(np.arange(n_groups), size)
    X = np.column_stack([np.ones(n_groups * size), rng.normal(size=n_groups * size)])
    intercepts = rng.normal(0.0, 1.0, n_groups)
    y = (X @ [0.3, 0.8] + intercepts[groups] + rng.normal(size=groups.size) > 0).astype(float)
    return y, X, groups


def _marginal_loglik(theta, y, X, groups, nodes=200):
    """``Σ_i log ∫ Π_j Φ(q(xβ + σz)) φ(z) dz`` by a plain (probabilists') Gauss–Hermite rule."""
    beta, sigma = theta[:-1], np.exp(theta[-1])
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0])
    t = (2 * y[order] - 1)[:, None] * ((X[order] @ beta)[:, None] + sigma * z[None, :])
    per_cluster = np.add.reduceat(log_ndtr(t), starts, axis=0)
    return float(np.sum(logsumexp(per_cluster, b=w, axis=1)) - starts.size * 0.5 * np.log(2 * np.pi))


@pytest.fixture(scope="module")
def direct_mle(clustered):
    y, X, groups = clustered
    found = optimize.minimize(lambda th: -_marginal_loglik(th, y, X, groups), np.zeros(3), method="BFGS",
                              options={"gtol": 1e-9})
    return np.concatenate([found.x[:-1], [np.exp(2 * found.x[-1])]]), -found.fun


def _model_data_params(name, clustered):
    if name == "linkage":
        model = genetic_linkage()
        return model, model.prepare(LINKAGE), {"theta": np.array(0.3)}
    model = ProbitRandomIntercept()
    return model, model.prepare(clustered), {"beta": np.array([0.1, 0.5]), "variance": np.array(0.7)}


def test_random_intercept_loglik_equals_independent_quadrature(clustered):
    model = ProbitRandomIntercept()
    data = model.prepare(clustered)
    for beta, variance in (([0.1, 0.5], 0.7), ([-0.4, 1.2], 2.5)):
        _, loglik = model.e_step(data, {"beta": np.array(beta), "variance": np.array(variance)})
        reference = _marginal_loglik(np.array(beta + [0.5 * np.log(variance)]), *clustered)
        assert loglik == pytest.approx(reference, rel=1e-9)


def test_random_intercept_em_equals_direct_maximization(clustered, direct_mle):
    model = ProbitRandomIntercept()
    result = fit(model, clustered)
    theta, loglik = direct_mle
    np.testing.assert_allclose(model.to_vector(result.params), theta, atol=2e-6)
    assert result.loglik == pytest.approx(loglik, rel=1e-10)
    assert np.all(np.diff(result.trace.loglik) > -1e-10)


def test_random_intercept_stats_add_over_clusters(clustered):
    y, X, groups = clustered
    model = ProbitRandomIntercept()
    params = {"beta": np.array([0.2, 0.6]), "variance": np.array(0.8)}
    first = groups < 12
    whole, ll = model.e_step(model.prepare(clustered), params)
    a, la = model.e_step(model.prepare((y[first], X[first], groups[first])), params)
    b, lb = model.e_step(model.prepare((y[~first], X[~first], groups[~first])), params)
    summed = add_stats(a, b)
    for key in whole:
        np.testing.assert_allclose(summed[key], whole[key], rtol=1e-12)
    assert la + lb == pytest.approx(ll, rel=1e-12)


def test_random_intercept_sampler_draws_the_posterior(clustered):
    model = ProbitRandomIntercept()
    data = model.prepare(clustered)
    params = {"beta": np.array([0.2, 0.6]), "variance": np.array(1.5)}
    eta = model._padded_eta(data, params)
    size = 20_000
    draws = model._sample_intercepts(data, eta, 1.5, np.random.default_rng(3), size)
    # posterior moments of each b_i by brute-force quadrature on a fine grid
    grid = np.linspace(-12, 12, 4001)
    log_post = model._log_posterior(data, eta, 1.5, np.broadcast_to(grid, (data.n_clusters, grid.size)))
    weights = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    mean = weights @ grid
    second = weights @ grid ** 2
    sd = np.sqrt(second - mean ** 2)
    assert np.max(np.abs(draws.mean(axis=1) - mean) / (sd / np.sqrt(size))) < 5
    fourth = weights @ grid ** 4
    assert np.max(np.abs((draws ** 2).mean(axis=1) - second) / np.sqrt((fourth - second ** 2) / size)) < 5


def test_monte_carlo_step_matches_the_exact_em_step(clustered):
    """The MCEM map equals the EM map within Monte Carlo error (so its fixed point is the MLE)."""
    model = ProbitRandomIntercept()
    data = model.prepare(clustered)
    params = {"beta": np.array([0.2, 0.6]), "variance": np.array(0.8)}
    exact = model.to_vector(model.m_step(model.e_step(data, params)[0], params))
    rng = np.random.default_rng(5)
    steps = np.array([model.to_vector(model.m_step(model.sample_stats(data, params, rng, 2000), params))
                      for _ in range(20)])
    se = steps.std(axis=0, ddof=1) / np.sqrt(len(steps))
    assert np.all(np.abs(steps.mean(axis=0) - exact) < 5 * se)
    assert np.all(se < 2e-3)


def test_mcem_random_intercept_approaches_the_direct_mle(clustered, direct_mle):
    theta, _ = direct_mle
    model = ProbitRandomIntercept()
    result = fit_mcem(model, clustered, random_state=0, tol=1e-3)
    assert result.converged
    # Monte Carlo error is ~1e-3; the rest is EM's own slow approach (ΔQ-based stopping).
    np.testing.assert_allclose(model.to_vector(result.params), theta, atol=0.03)
    start_error = np.abs(model.to_vector(result.trace.params[0]) - theta).max()
    assert np.abs(model.to_vector(result.params) - theta).max() < 0.1 * start_error


def test_random_intercept_bad_input_names_the_argument():
    model = ProbitRandomIntercept()
    with pytest.raises(ValueError, match="y"):
        model.prepare(([0, 2, 1], np.ones((3, 1)), [0, 0, 1]))
    with pytest.raises(ValueError, match="groups"):
        model.prepare(([0, 1, 1], np.ones((3, 1)), [0, 0]))
    with pytest.raises(ValueError, match="X"):
        model.prepare(([0, 1, 1, 0], np.ones((4, 2)), [0, 0, 1, 1]))


# ------------------------------------------------------------------ CLI and figure
def test_linkage_cli_monte_carlo_em(capsys, tmp_path):
    import json

    from emkit.cli.main import main

    figure = tmp_path / "mcem.png"
    assert main(["linkage", "125", "18", "20", "34", "--method", "mcem", "--seed", "3", "--json",
                 "--plot", str(figure)]) == 0
    out = json.loads(capsys.readouterr().out)
    mcem = out["mcem"]
    assert out["model"].endswith("Monte Carlo EM") and out["converged"] is True
    assert abs(out["params"]["theta"] - LINKAGE_MLE) < 4 * mcem["monte_carlo_se"][0] + 1e-5
    assert mcem["n_draws"] >= mcem["final_sample_size"] > 100
    assert figure.stat().st_size > 0
    assert main(["linkage", "125", "18", "20", "34", "--method", "mcem", "--mc-size", "0"]) == 2
    assert "--mc-size" in capsys.readouterr().err


def test_mcem_figure_draws_the_noise_band():
    from emkit.plotting.variants import mcem_figure

    result = fit_mcem(genetic_linkage(), LINKAGE, random_state=0)
    figure = mcem_figure(result)
    paths, increase = figure.axes[:2]
    assert len(paths.collections) == 1  # one band per parameter
    assert len(paths.lines) == 1 and increase.get_yscale() == "log"
