"""A GLM regression family (emkit.families.Regression) as the component of a mixture: the
family's data-taking M-step, reached through MixtureModel's data pass, is RegressionMixture's
M-step, so from the same start the two fits take the same EM steps to the same maximum."""

import numpy as np
import pytest

import emkit
from emkit.families import Regression
from emkit.latent import MixtureModel
from emkit.latent.regression_mixture import RegressionMixtureModel


def _simulate(family: str, n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, n)
    second = rng.random(n) < 0.4
    eta = np.where(second, 1.5 - 0.8 * x, 0.3 + 1.2 * x)
    if family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif family == "gaussian":
        y = eta + rng.normal(size=n) * np.where(second, 0.4, 1.0)
    else:
        y = rng.gamma(4.0, np.exp(eta) / 4.0)
    return x, y, rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("family", ["poisson", "gaussian", "gamma"])
def test_a_regression_family_in_a_mixture_takes_regression_mixtures_steps(family):
    """Same rows, weights and start: equal log-likelihood at every iteration and at the end."""
    x, y, weight = _simulate(family)
    reference_model = RegressionMixtureModel(2, family, 2)
    matrix = np.column_stack([y, np.ones_like(y), weight, np.ones_like(y), x])
    start = reference_model.initial_params(reference_model.prepare(matrix), np.random.default_rng(3))
    reference = emkit.fit(reference_model, matrix, init=start, tol=1e-10, max_iter=2000)

    mixture = MixtureModel(Regression(1, family), 2, n_jobs=1)
    ours = emkit.fit(mixture, (np.column_stack([y, x]), weight), init=start, tol=1e-10, max_iter=2000)
    assert ours.loglik == pytest.approx(reference.loglik, rel=1e-12, abs=1e-9)
    trace = np.asarray(ours.trace.loglik)
    np.testing.assert_allclose(trace[:20], np.asarray(reference.trace.loglik)[:20], rtol=1e-8)
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))       # the ascent property
    for name in start:
        np.testing.assert_allclose(ours.params[name], reference.params[name], rtol=1e-6, atol=1e-8)


def test_emkit_mixture_fits_a_regression_family_like_regression_mixture():
    x, y, _ = _simulate("poisson", seed=1)
    rows = np.column_stack([y, x])
    face = emkit.Mixture(2, family=Regression(1, "poisson"), n_init=3, random_state=0, tol=1e-10,
                         max_iter=2000).fit(rows)
    reference = emkit.RegressionMixture(2, family="poisson", n_init=3, random_state=0, tol=1e-10,
                                        max_iter=2000).fit(x[:, None], y)
    assert face.score(rows) == pytest.approx(reference.score(x[:, None], y), rel=1e-9)


def test_the_mixture_m_step_without_the_data_is_refused():
    x, y, _ = _simulate("poisson")
    model = MixtureModel(Regression(1, "poisson"), 2, n_jobs=1)
    data = model.prepare(np.column_stack([y, x]))
    params = model.initial_params(data)
    stats, _ = model.e_step(data, params)
    with pytest.raises(ValueError, match="M-step takes the data; fit it with emkit.fit"):
        model.m_step(stats, params)


def test_dask_fit_equals_the_in_memory_fit_and_online_em_refuses():
    import dask
    import dask.array as da

    from emkit.variants.online import fit_online

    x, y, _ = _simulate("poisson", seed=2)
    rows = np.column_stack([y, x])
    model = MixtureModel(Regression(1, "poisson"), 2, n_jobs=1)
    memory = emkit.fit(model, rows, tol=1e-10, max_iter=2000)
    with dask.config.set(scheduler="threads"):
        chunked = emkit.fit(model, da.from_array(rows, chunks=(100, 2)), tol=1e-10, max_iter=2000)
    assert chunked.loglik == pytest.approx(memory.loglik, rel=1e-12)
    np.testing.assert_allclose(chunked.params["coef"], memory.params["coef"], rtol=1e-8)
    with pytest.raises(ValueError, match="online EM"):
        fit_online(model, [rows[:150], rows[150:]])


def test_a_regression_family_with_concomitant_weights_takes_regression_mixtures_steps():
    """ConcomitantMixtureModel (emkit.Mixture(concomitant=)) with a Regression family: the mixture
    of experts of RegressionMixture(concomitant=), from the same start."""
    from scipy.special import expit

    from emkit.latent.concomitant_mixture import ConcomitantMixtureModel

    rng = np.random.default_rng(5)
    x, z = rng.uniform(-1.5, 1.5, 300), rng.normal(size=300)
    second = rng.random(300) < expit(0.2 + 2.0 * z)
    y = rng.poisson(np.exp(np.where(second, 1.5 - 0.8 * x, 0.3 + 1.2 * x))).astype(float)
    ones = np.ones_like(y)
    reference_model = RegressionMixtureModel(2, "poisson", 2, 0, 2)
    matrix = np.column_stack([y, ones, ones, ones, x, ones, z])
    start = reference_model.initial_params(reference_model.prepare(matrix), np.random.default_rng(1))
    reference = emkit.fit(reference_model, matrix, init=start, tol=1e-10, max_iter=2000)
    model = ConcomitantMixtureModel(Regression(1, "poisson"), 2, 2, n_jobs=1)
    ours = emkit.fit(model, (np.column_stack([y, x]), np.column_stack([ones, z])), init=start, tol=1e-10,
                     max_iter=2000)
    assert ours.loglik == pytest.approx(reference.loglik, rel=1e-12)
    for name in start:
        np.testing.assert_allclose(ours.params[name], reference.params[name], rtol=1e-6, atol=1e-8)


def test_binomial_regression_with_several_trials():
    """Regression(family="binomial", trials=6): its log-density is scipy's binomial pmf, and in a
    mixture it takes RegressionMixture's steps with trials=6 from the same start."""
    from scipy import stats
    from scipy.special import expit

    rng = np.random.default_rng(8)
    x = rng.uniform(-1.5, 1.5, 300)
    second = rng.random(300) < 0.45
    y = rng.binomial(6, expit(np.where(second, 1.5 - 1.5 * x, -1.5 + 2.0 * x))).astype(float)
    family = Regression(1, "binomial", trials=6)
    coef = np.array([[-1.0, 1.0], [0.5, -0.5]])
    rows = family.prepare(np.column_stack([y, x]))
    expected = stats.binom.logpmf(y[:, None], 6, expit(coef[:, 0] + np.outer(x, coef[:, 1])))
    np.testing.assert_allclose(family.log_likelihood(family.block_data(rows), {"coef": coef}), expected, rtol=1e-12)

    ones = np.ones_like(y)
    reference_model = RegressionMixtureModel(2, "binomial", 2)
    matrix = np.column_stack([y, np.full_like(y, 6.0), ones, ones, x])
    start = reference_model.initial_params(reference_model.prepare(matrix), np.random.default_rng(0))
    reference = emkit.fit(reference_model, matrix, init=start, tol=1e-10, max_iter=2000)
    ours = emkit.fit(MixtureModel(family, 2, n_jobs=1), rows, init=start, tol=1e-10, max_iter=2000)
    assert ours.loglik == pytest.approx(reference.loglik, rel=1e-12)
    np.testing.assert_allclose(ours.params["coef"], reference.params["coef"], rtol=1e-6, atol=1e-8)


def test_regression_trials_are_checked():
    with pytest.raises(ValueError, match="trials: only the binomial family"):
        Regression(1, "poisson", trials=3)
    with pytest.raises(ValueError, match="trials: expected a positive integer"):
        Regression(1, "binomial", trials=0)
    with pytest.raises(ValueError, match="y: binomial successes cannot exceed the trials"):
        Regression(1, "binomial", trials=2).prepare(np.array([[3.0, 0.5], [1.0, 0.1]]))
