"""Online EM (Cappé & Moulines): a stream of a million points approaches the batch MLE, with
memory that does not grow with the stream; any model with additive statistics works."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy import stats

from emkit import fit
from emkit.models.gaussian_mixture import GaussianMixtureModel
from emkit.models.poisson_mixture import PoissonMixture
from emkit.models.student_t import StudentT
from emkit.variants.online import fit_online

BATCH = 1000


def poisson_stream(seed: int, n_batches: int, size: int = BATCH):
    """Frequency tables of batches from 0.3·Poisson(1) + 0.7·Poisson(8), generated lazily."""
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        low = rng.random(size) < 0.3
        yield np.bincount(np.where(low, rng.poisson(1.0, size), rng.poisson(8.0, size)))


def test_million_point_stream_approaches_the_batch_mle():
    n_batches = 1_000_000 // BATCH
    tables = list(poisson_stream(1, n_batches))
    width = max(len(t) for t in tables)
    whole = np.sum([np.pad(t, (0, width - len(t))) for t in tables], axis=0)
    batch = fit(PoissonMixture(2, data="frequencies"), whole)
    online = fit_online(PoissonMixture(2, data="frequencies"), poisson_stream(1, n_batches), batch_size=np.sum)
    assert online.n_observations == 1_000_000 and online.n_batches == n_batches
    start = online.trace.params[0]
    for key in ("weights", "rates"):
        start_error = np.max(np.abs(start[key] - batch.params[key]))
        error = np.max(np.abs(online.params[key] - batch.params[key]))
        # the MLE's own standard error is ~5e-4 (weights) and ~3e-3 (rates) at n = 10^6
        assert error < 3e-3
        assert error < 0.005 * start_error
    # without averaging the last iterate is noisier but still close
    last = fit_online(PoissonMixture(2, data="frequencies"), poisson_stream(1, n_batches), batch_size=np.sum, averaging=False)
    np.testing.assert_allclose(last.params["rates"], batch.params["rates"], atol=0.02)


def _peak_memory(n_batches: int) -> int:
    tracemalloc.start()
    try:
        fit_online(PoissonMixture(2, data="frequencies"), poisson_stream(0, n_batches), batch_size=np.sum, max_path=50)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_stream():
    short, long = _peak_memory(200), _peak_memory(2000)
    assert long < 1.1 * short + 20_000


def test_path_is_thinned_and_keeps_the_ends():
    result = fit_online(PoissonMixture(2, data="frequencies"), poisson_stream(3, 300), batch_size=np.sum, max_path=20)
    assert len(result.trace) <= 21 and len(result.averaged_trace) == len(result.trace)
    assert result.path_batches[0] == 0 and result.path_batches[-1] == 300
    assert np.isnan(result.trace.loglik[0]) and np.all(np.isfinite(result.trace.loglik[1:]))
    assert result.n_iter == 300 and result.converged


def test_warmup_holds_the_parameters_and_generator_is_consumed_lazily():
    seen = []

    def stream():
        for i, table in enumerate(poisson_stream(4, 5)):
            seen.append(i)
            yield table

    init = {"weights": [0.5, 0.5], "rates": [2.0, 6.0]}
    result = fit_online(PoissonMixture(2, data="frequencies"), stream(), init=init, warmup=3, batch_size=np.sum, averaging=False)
    assert seen == list(range(5))
    for params in result.trace.params[:4]:
        np.testing.assert_array_equal(params["rates"], [2.0, 6.0])
    assert result.n_iter == 2


def test_gaussian_mixture_model_streams():
    rng = np.random.default_rng(5)

    def batches(n):
        for _ in range(n):
            low = rng.random(500) < 0.4
            yield np.where(low[:, None], rng.normal([-2.0, 0.0], 1.0, (500, 2)), rng.normal([2.0, 1.0], 0.7, (500, 2)))

    result = fit_online(GaussianMixtureModel(2), batches(200))
    means = result.params["means"][np.argsort(result.params["means"][:, 0])]
    np.testing.assert_allclose(means, [[-2.0, 0.0], [2.0, 1.0]], atol=0.03)


def test_student_t_streams():
    """A model with its own center and u-weighted statistics streams too (ν known: with ν
    estimated, online EM inherits EM's slow progress in ν)."""
    rng = np.random.default_rng(6)
    t = stats.multivariate_t(loc=[1.0, 2.0], shape=[[1.0, 0.4], [0.4, 2.0]], df=5)
    batches = [t.rvs(1000, random_state=rng) for _ in range(150)]
    batch = fit(StudentT(dof=5.0), np.vstack(batches))
    online = fit_online(StudentT(dof=5.0), iter(batches))
    np.testing.assert_allclose(online.params["location"], batch.params["location"], atol=0.01)
    np.testing.assert_allclose(online.params["scatter"], batch.params["scatter"], atol=0.02)


@pytest.mark.parametrize("kwargs, name", [({"step_exponent": 0.5}, "step_exponent"), ({"warmup": -1}, "warmup"),
                                          ({"max_path": 1}, "max_path")])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        fit_online(PoissonMixture(2, data="frequencies"), poisson_stream(0, 2), batch_size=np.sum, **kwargs)


def test_empty_stream_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        fit_online(PoissonMixture(2, data="frequencies"), iter(()), batch_size=np.sum)


def test_online_figure_shows_iterates_and_averages():
    from emkit.plotting.variants import online_figure

    result = fit_online(PoissonMixture(2, data="frequencies"), poisson_stream(2, 50), batch_size=np.sum)
    figure = online_figure(result)
    paths = figure.axes[0]
    assert len(paths.lines) == 2 * 4  # iterate and average for each of the 4 parameters


def test_one_component_recursion_matches_a_hand_computation():
    """K = 1: the running statistic per observation is (1, mean), so the rate follows
    ``λ_t = λ_{t−1} + t^(−α) (x̄_t − λ_{t−1})`` from ``λ_1 = x̄_1``; each batch's score is the
    Poisson log-likelihood per observation at the rate before its update; the average is over
    the iterates since step ``2^(k−1)``, ``2^k ≤ n``."""
    tables = [[3, 2, 1], [0, 4, 4, 2], [5, 1], [1, 1, 1, 1, 1], [0, 0, 6]]
    alpha = 0.7
    init = {"weights": np.array([1.0]), "rates": np.array([1.5])}
    result = fit_online(PoissonMixture(1, data="frequencies"), iter(tables), init=init, step_exponent=alpha, batch_size=np.sum)
    rate, rates, scores = 1.5, [], []
    for t, table in enumerate(tables, start=1):
        values = np.repeat(np.arange(len(table)), table)
        scores.append(stats.poisson(rate).logpmf(values).mean())
        rate = values.mean() if t == 1 else rate + t ** -alpha * (values.mean() - rate)
        rates.append(rate)
    np.testing.assert_allclose([float(p["rates"][0]) for p in result.trace.params[1:]], rates, rtol=1e-13)
    np.testing.assert_allclose(result.trace.loglik[1:], scores, rtol=1e-13)
    running = scores[0]
    for t, score in enumerate(scores[1:], start=2):
        running += t ** -alpha * (score - running)
    assert result.loglik == pytest.approx(running, rel=1e-13)
    # n = 5 M-steps: 2^2 ≤ 5, so the average runs over the iterates since step 2.
    assert float(result.params["rates"][0]) == pytest.approx(np.mean(rates[1:]), rel=1e-13)
    np.testing.assert_array_equal(init["rates"], [1.5])
