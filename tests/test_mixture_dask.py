"""MixtureModel(family, k) on Dask: the chunked fit equals the in-memory one for any family.

Chunks run on the local threaded scheduler. Each data set has missing cells, a column missing
throughout one chunk and a chunk whose sample weights are all zero (both valid in one chunk,
checked on the whole data by ``chunk_context``).
"""

import dask
import dask.array as da
import numpy as np
import pytest

import emkit
from emkit import families
from emkit.latent.mixture import MixtureModel

N, CHUNK = 1200, 300
RTOL = 1e-10


@pytest.fixture(autouse=True)
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def two_groups(family_name, seed=0):
    """Rows of a two-component mixture of ``family_name`` (3 columns), 10% cells missing,
    column 0 missing throughout the first chunk."""
    rng = np.random.default_rng(seed)
    z = rng.random(N) < 0.4
    if family_name == "poisson":
        X = np.where(z[:, None], rng.poisson([1, 4, 2], (N, 3)), rng.poisson([6, 1, 5], (N, 3)))
    elif family_name == "bernoulli":
        X = rng.random((N, 3)) < np.where(z[:, None], 0.2, 0.8)
    elif family_name == "categorical":
        X = np.where(z[:, None], rng.integers(0, 2, (N, 3)), rng.integers(1, 3, (N, 3)))
    else:
        X = rng.normal(size=(N, 3)) + 3.0 * z[:, None]
    X = X.astype(float)
    X[rng.random((N, 3)) < 0.1] = np.nan
    X[:CHUNK, 0] = np.nan
    return X


FAMILIES = {
    "poisson": lambda: families.Poisson(3),
    "bernoulli": lambda: families.Bernoulli(3),
    "categorical": lambda: families.Categorical([3, 3, 3]),
    "gaussian": lambda: families.Gaussian(3, "full"),
}


def assert_same_fit(on_dask, in_memory, rtol=RTOL):
    model = in_memory.model
    assert on_dask.n_iter == in_memory.n_iter > 3
    np.testing.assert_allclose(on_dask.trace.loglik, in_memory.trace.loglik, rtol=rtol)
    np.testing.assert_allclose(on_dask.trace.vectors(model), in_memory.trace.vectors(model), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(model.to_vector(on_dask.params), model.to_vector(in_memory.params), rtol=rtol,
                               atol=1e-12)


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")  # 60 iterations are enough to compare
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_weighted_chunked_fit_equals_in_memory_fit(name):
    X = two_groups(name)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, N)
    weights[CHUNK:2 * CHUNK] = 0.0  # the second chunk weighs nothing
    in_memory = emkit.fit(MixtureModel(FAMILIES[name](), 2), (X, weights), max_iter=60)
    on_dask = emkit.fit(MixtureModel(FAMILIES[name](), 2),
                        (da.from_array(X, chunks=(CHUNK, 3)), da.from_array(weights, chunks=CHUNK)), max_iter=60)
    assert_same_fit(on_dask, in_memory)


def test_poisson_mixture_on_a_dask_array_and_louis_standard_errors_equal_in_memory():
    X = two_groups("poisson", seed=2)
    chunks = da.from_array(X, chunks=(CHUNK, 3))
    in_memory = emkit.fit(MixtureModel(families.Poisson(3), 2), X)
    on_dask = emkit.fit(MixtureModel(families.Poisson(3), 2), chunks)
    assert on_dask.converged
    assert_same_fit(on_dask, in_memory)
    memory_se = emkit.standard_errors(in_memory, X, "louis")
    dask_se = emkit.standard_errors(on_dask, chunks, "louis")
    # Summed over chunks, the score differences use each chunk's steps: equal to ~1e-10.
    np.testing.assert_allclose(dask_se.cov, memory_se.cov, rtol=1e-8)
    # ... and both are the observed information (numerical Hessian of the log-likelihood).
    hessian = emkit.standard_errors(in_memory, X, "hessian")
    np.testing.assert_allclose(dask_se.cov, hessian.cov, rtol=1e-4)


def test_whole_data_checks_name_the_argument():
    X = two_groups("poisson")
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"X: column 1 has no observed value"):
        emkit.fit(MixtureModel(families.Poisson(3), 2), da.from_array(X, chunks=(CHUNK, 3)))
    X = two_groups("gaussian")
    with pytest.raises(ValueError, match=r"sample_weight: all weights are zero"):
        emkit.fit(MixtureModel(families.Gaussian(3), 2),
                  (da.from_array(X, chunks=(CHUNK, 3)), da.zeros(N, chunks=CHUNK)))


N_BOOT = 50


def test_parametric_bootstrap_with_a_chunk_missing_a_column_agrees_with_the_in_memory_one():
    """The simulated chunks keep their chunks' missing cells, so the first has column 0 missing
    throughout: it is prepared like the data's chunks (``prepare_chunk`` with the context), not
    checked as if it were the whole data. Its standard errors estimate the same as the in-memory
    bootstrap's and Louis's: an SE from ``B`` replicates has relative Monte Carlo error ≈ 1/√(2B)."""
    X = two_groups("poisson", seed=3)
    rows = da.from_array(X, chunks=(CHUNK, 3))
    options = dict(family=families.Poisson(3), tol=1e-8, n_jobs=1)
    in_memory = emkit.Mixture(2, **options).fit(X)
    on_dask = emkit.Mixture(2, **options).fit(rows)
    bootstrap = dict(method="bootstrap", bootstrap_kind="parametric", n_boot=N_BOOT, random_state=0)
    dask_se = emkit.standard_errors(on_dask.result_, rows, **bootstrap)
    memory_se = emkit.standard_errors(in_memory.result_, X, **bootstrap)
    louis = emkit.standard_errors(in_memory.result_, X, "louis")
    assert dask_se.diagnostics["n_failed"] == memory_se.diagnostics["n_failed"] == 0
    monte_carlo = 1.0 / np.sqrt(2 * N_BOOT)
    for boot in (dask_se, memory_se):
        ratio = np.sqrt(np.diag(boot.cov) / np.diag(louis.cov))
        assert np.all(np.abs(ratio - 1.0) < 4 * monte_carlo), ratio
    ratio = np.sqrt(np.diag(dask_se.cov) / np.diag(memory_se.cov))
    assert np.all(np.abs(ratio - 1.0) < 4 * np.sqrt(2) * monte_carlo), ratio
