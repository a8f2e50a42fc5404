"""MixtureModel's parametric bootstrap (``simulate``), ``emkit.Mixture`` on Dask input, and a
Multinomial chunk in which every row is missing."""

import dask
import dask.array as da
import numpy as np
import pytest

import emkit
from emkit import families
from emkit.latent.mixture import MixtureModel


@pytest.fixture(autouse=True)
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def poisson_rows(n, seed, missing=0.1):
    """Rows of a two-component Poisson mixture in 2 columns, a fraction ``missing`` of cells NaN."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.35
    X = np.where(z[:, None], rng.poisson([1.0, 5.0], (n, 2)), rng.poisson([6.0, 1.5], (n, 2))).astype(float)
    X[rng.random((n, 2)) < missing] = np.nan
    return X


# --------------------------------------------------------------------- 1. parametric bootstrap
def test_simulated_data_keep_the_missing_cells_and_the_sample_weights():
    X = poisson_rows(400, seed=1)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    model = MixtureModel(families.Poisson(2), 2)
    params = emkit.fit(model, (X, weights)).params
    simulated, simulated_weights = model.simulate(params, (X, weights), np.random.default_rng(3))
    assert simulated.shape == X.shape
    np.testing.assert_array_equal(np.isnan(simulated), np.isnan(X))
    np.testing.assert_array_equal(simulated_weights, weights)
    observed = simulated[~np.isnan(simulated)]
    assert np.all(observed >= 0) and np.all(observed == np.round(observed))
    assert not np.array_equal(simulated[~np.isnan(X)], X[~np.isnan(X)])  # drawn, not copied
    # the column means of the draws are the model's, Σ_k π_k λ_kj (to sampling error)
    expected = params["weights"] @ params["lambdas"]
    np.testing.assert_allclose(np.nanmean(simulated, axis=0), expected, rtol=0.15)
    _, unweighted = model.simulate(params, X, np.random.default_rng(3))
    assert unweighted is None


def test_parametric_bootstrap_standard_errors_agree_with_louis():
    X = poisson_rows(600, seed=3)
    result = emkit.fit(MixtureModel(families.Poisson(2), 2), X)
    louis = emkit.standard_errors(result, X, "louis")
    boot = emkit.standard_errors(result, X, "bootstrap", bootstrap_kind="parametric", n_boot=200, random_state=0)
    assert boot.diagnostics["kind"] == "parametric" and boot.diagnostics["n_failed"] == 0
    for name in louis.se:
        np.testing.assert_allclose(boot.se[name], louis.se[name], rtol=0.2)
