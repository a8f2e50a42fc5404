"""EM on Dask: the generic driver with the count-data models (records held by Dask).

Fits run on a real ``distributed.LocalCluster`` (in-process threads for speed; the test with
worker processes is in ``test_dask_processes.py``) and are compared with the in-memory fit of
the same data from the same start, with the published values, and with Louis's standard errors.
"""

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from hypothesis import given, settings
from hypothesis import strategies as st

import emkit
from emkit import datasets
from emkit.engine import dask as emkit_dask
from emkit.engine.dask import DaskData
from emkit.engine.estep import expected_stats
from emkit.models.gene_counting import peppered_moth

HASSELBLAD = np.array(datasets.hasselblad_deaths(), dtype=float)
HASSELBLAD_START = {"weights": [0.3, 0.7], "rates": [1.0, 2.5]}
RTOL = 1e-10


def records_of(table, seed=0):
    """The records (one value per observation) of a frequency table, shuffled."""
    records = np.repeat(np.arange(len(table)), np.asarray(table, dtype=int))
    np.random.default_rng(seed).shuffle(records)
    return records


def two_poissons(n=4000, seed=1):
    rng = np.random.default_rng(seed)
    records = np.concatenate([rng.poisson(2.0, n * 3 // 5), rng.poisson(9.0, n - n * 3 // 5)])
    rng.shuffle(records)
    return records


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


def assert_same_estimate(dask_result, memory_result, rtol=RTOL):
    model = memory_result.model
    np.testing.assert_allclose(model.to_vector(dask_result.params), model.to_vector(memory_result.params), rtol=rtol)
    assert dask_result.loglik == pytest.approx(memory_result.loglik, rel=1e-13)


def assert_same_fit(dask_result, memory_result, rtol=RTOL):
    """Same iterates (log-likelihood and parameters) and the same estimate (plain EM)."""
    assert dask_result.n_iter == memory_result.n_iter
    np.testing.assert_allclose(dask_result.trace.loglik, memory_result.trace.loglik, rtol=rtol)
    model = memory_result.model
    np.testing.assert_allclose(dask_result.trace.vectors(model), memory_result.trace.vectors(model), rtol=rtol)
    assert_same_estimate(dask_result, memory_result, rtol)


# ------------------------------------------------------------------ equality with memory
def test_poisson_records_on_dask_array_equal_in_memory_fit(client):
    records = two_poissons()
    on_dask = emkit.fit(emkit.PoissonMixture(2), da.from_array(records, chunks=600))
    in_memory = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), np.bincount(records))
    assert on_dask.converged and on_dask.n_iter > 10
    # The default start: the sample is the whole data here, so the starts agree too.
    np.testing.assert_array_equal(on_dask.trace.params[0]["rates"], in_memory.trace.params[0]["rates"])
    assert_same_fit(on_dask, in_memory)


def test_squarem_on_dask_dataframe_equals_in_memory_squarem(client):
    records = two_poissons(3000, seed=4)
    series = dd.from_pandas(pd.Series(records, name="deaths"), npartitions=5)
    # SQUAREM's extrapolation amplifies round-off, so the paths may part; the fixed point is
    # shared (converge tightly to pin it down to 1e-10).
    options = {"init": {"weights": [0.5, 0.5], "rates": [1.0, 5.0]}, "accelerate": "squarem", "tol": 1e-13,
               "param_tol": 1e-13}
    on_dask = emkit.fit(emkit.PoissonMixture(2), series, **options)
    in_memory = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), np.bincount(records), **options)
    assert on_dask.converged and on_dask.accelerate == "squarem"
    assert on_dask.n_evaluations < 40
    assert_same_estimate(on_dask, in_memory)


def test_squarem_reaches_hasselblad_published_values_on_threaded_scheduler():
    with dask.config.set(scheduler="threads"):
        series = dd.from_pandas(pd.Series(records_of(HASSELBLAD), name="deaths"), npartitions=7)
        on_dask = emkit.fit(emkit.PoissonMixture(2), series, init=HASSELBLAD_START, accelerate="squarem",
                            tol=1e-12, param_tol=1e-12)
    # Hasselblad (1969): π = 0.3599, λ = (1.2561, 2.6634).
    np.testing.assert_allclose(on_dask.params["weights"][0], 0.3599, atol=5e-5)
    np.testing.assert_allclose(on_dask.params["rates"], [1.2561, 2.6634], atol=5e-5)
    in_memory = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), HASSELBLAD, init=HASSELBLAD_START, accelerate="squarem",
                          tol=1e-12, param_tol=1e-12)
    assert_same_estimate(on_dask, in_memory)


def test_gene_counting_records_equal_in_memory_and_published_moth_values(client):
    model = peppered_moth()
    counts = datasets.peppered_moth_counts()
    labels = np.repeat(list(counts), list(counts.values()))
    np.random.default_rng(3).shuffle(labels)
    frame = dd.from_pandas(pd.DataFrame({"phenotype": labels}), npartitions=4)
    on_dask = emkit.fit(model, frame)
    in_memory = emkit.fit(peppered_moth(), counts)
    assert_same_fit(on_dask, in_memory)
    # McLachlan & Krishnan (2008), Table 1.4: p_C = 0.07084, p_I = 0.18874.
    np.testing.assert_allclose(on_dask.params["freq"][:2], [0.07084, 0.18874], atol=5e-6)


def test_gene_counting_parametric_bootstrap_on_records_reads_its_simulated_tables():
    """A simulated chunk is a phenotype table, prepared by ``prepare_chunk`` like the records'
    chunks (a failed replicate raises here)."""
    counts = datasets.peppered_moth_counts()
    labels = np.repeat(list(counts), list(counts.values()))
    with dask.config.set(scheduler="threads"):
        records = da.from_array(labels, chunks=200)
        fitted = emkit.fit(peppered_moth(), records)
        boot = emkit.standard_errors(fitted, records, method="bootstrap", bootstrap_kind="parametric", n_boot=8,
                                     random_state=0)
        louis = emkit.standard_errors(fitted, records, method="louis")
    assert boot.diagnostics["n_failed"] == 0
    ratio = np.sqrt(np.diag(boot.cov) / np.diag(louis.cov))
    assert np.all((ratio > 0.3) & (ratio < 3.0)), ratio


def test_delayed_chunks_with_an_empty_one_and_threaded_scheduler():
    records = two_poissons(1500)
    chunks = [dask.delayed(records[i:j]) for i, j in ((0, 700), (700, 700), (700, 1500))]
    start = {"weights": [0.5, 0.5], "rates": [1.0, 5.0]}
    with dask.config.set(scheduler="threads"):
        data = DaskData(emkit.PoissonMixture(2), chunks)
        assert data.n_chunks == 2 and data.n_observations == 1500
        on_dask = emkit.fit(data.model, data, init=start)
    assert_same_fit(on_dask, emkit.fit(emkit.PoissonMixture(2, data="frequencies"), np.bincount(records), init=start))


# --------------------------------------------------------------- persistence and sampling
class CountingPoisson(emkit.PoissonMixture):
    """Counts its chunk preparations (the in-process cluster shares this process)."""

    prepared = 0

    def prepare_chunk(self, chunk, context=None):
        CountingPoisson.prepared += 1
        return super().prepare_chunk(chunk, context)


@pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")
@pytest.mark.parametrize("persist", [True, False])
def test_chunks_are_prepared_once_when_persisted_and_every_pass_otherwise(client, persist):
    records = two_poissons(2000)
    CountingPoisson.prepared = 0
    model = CountingPoisson(2)
    data = DaskData(model, da.from_array(records, chunks=500), persist=persist)
    start = {"weights": [0.5, 0.5], "rates": [1.0, 5.0]}
    result = emkit.fit(model, data, init=start, max_iter=8, tol=0, param_tol=None)
    assert data.persisted is persist
    assert CountingPoisson.prepared == 4 * (1 if persist else result.n_evaluations)
    assert_same_fit(result, emkit.fit(emkit.PoissonMixture(2, data="frequencies"), np.bincount(records), init=start, max_iter=8, tol=0,
                                      param_tol=None))


def test_auto_persist_follows_the_memory_budget(client, monkeypatch):
    X = da.from_array(two_poissons(1000), chunks=250)
    assert DaskData(emkit.PoissonMixture(2), X).persisted
    monkeypatch.setattr(emkit_dask, "PERSIST_FRACTION", X.nbytes / 1e15)
    assert not DaskData(emkit.PoissonMixture(2), X).persisted


def test_start_comes_from_a_bounded_random_sample(client):
    records = two_poissons(5000)
    data = DaskData(emkit.PoissonMixture(2), da.from_array(records, chunks=1000), sample_rows=300)
    sample = data.start_data()  # prepared: the distinct values as rows, their frequencies as weights
    values, counts = sample.X[:, 0], sample.sample_weight
    assert counts.sum() == 300
    full = np.bincount(records)
    assert np.all(counts <= full[values.astype(int)])
    # A simple random sample: its mean is within 4 standard errors of the data's.
    assert abs(values @ counts / 300 - records.mean()) < 4 * records.std() / np.sqrt(300)
    # Deterministic: the default start does not depend on the run.
    again = DaskData(emkit.PoissonMixture(2), da.from_array(records, chunks=1000), sample_rows=300).start_data()
    np.testing.assert_array_equal(again.sample_weight, counts)


@pytest.mark.filterwarnings("ignore:n_components=2 exceeds")
@settings(max_examples=25, deadline=None)
@given(table=st.lists(st.integers(0, 40), min_size=2, max_size=8).filter(lambda t: sum(t) >= 2),
       cuts=st.lists(st.integers(0, 400), max_size=5), seed=st.integers(0, 2**32 - 1))
def test_chunk_statistics_add_up_to_the_whole_for_any_chunking(table, cuts, seed):
    records = records_of(table, seed % 1000)
    bounds = sorted({0, records.size, *[c % (records.size + 1) for c in cuts]})
    chunks = [dask.delayed(records[i:j]) for i, j in zip(bounds[:-1], bounds[1:])]
    model = emkit.PoissonMixture(2, data="frequencies")
    params = model.initial_params(model.prepare(table), np.random.default_rng(seed))
    with dask.config.set(scheduler="sync"):
        stats, loglik = expected_stats(model, DaskData(model, chunks, split_every=2), params)
    expected, expected_loglik = model.e_step(model.prepare(table), params)
    for key in expected:
        np.testing.assert_allclose(stats[key], expected[key], rtol=1e-12, atol=1e-300)
    assert loglik == pytest.approx(expected_loglik, rel=1e-12)


# -------------------------------------------------------------------- standard errors
def test_louis_and_sem_on_dask_equal_in_memory(client):
    series = dd.from_pandas(pd.Series(records_of(HASSELBLAD)), npartitions=3)
    fitted = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), HASSELBLAD, init=HASSELBLAD_START, accelerate="squarem",
                       tol=1e-12, param_tol=1e-12)
    in_memory = emkit.standard_errors(fitted, HASSELBLAD, method="louis")
    on_dask = emkit.standard_errors(fitted, series, method="louis")
    np.testing.assert_allclose(on_dask.cov, in_memory.cov, rtol=1e-10)
    with dask.config.set(scheduler="threads"):  # SEM's ~100 passes, on the cheaper scheduler
        on_dask = emkit.standard_errors(fitted, series, method="sem")
    np.testing.assert_allclose(on_dask.cov, emkit.standard_errors(fitted, HASSELBLAD, method="sem").cov, rtol=1e-6)


def table_of_chunk(model, chunk):
    """The frequencies of the values 0..39 in a prepared chunk (rows: the distinct values,
    weights: their frequencies)."""
    values, counts = chunk.X[:, 0], chunk.sample_weight
    table = np.zeros(40)
    np.add.at(table, values.astype(int), counts)
    return table


def test_resampled_dask_data_are_a_nonparametric_bootstrap():
    records = two_poissons(600)
    full = np.bincount(records, minlength=40)[:40].astype(float)
    with dask.config.set(scheduler="threads"):
        data = DaskData(emkit.PoissonMixture(2), da.from_array(records, chunks=100))
        rng = np.random.default_rng(0)
        tables = []
        for _ in range(150):
            tables.append(data.resample(rng).chunk_sum(table_of_chunk))
    tables = np.array(tables)
    assert np.all(tables.sum(axis=1) == records.size)
    # Multinomial(n, observed frequencies): mean n p, variance n p (1 − p) per cell.
    p = full / records.size
    se = np.sqrt(records.size * p * (1 - p) / len(tables))
    assert np.all(np.abs(tables.mean(axis=0) - full) <= 4.5 * se + 1e-12)
    np.testing.assert_allclose(tables.var(axis=0, ddof=1)[p > 0.05], (records.size * p * (1 - p))[p > 0.05], rtol=0.4)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bootstrap_on_dask_agrees_with_louis(client):
    model = emkit.PoissonMixture(2)
    records = two_poissons(3000, seed=2)
    data = DaskData(model, da.from_array(records, chunks=1000))
    fitted = emkit.fit(model, data, accelerate="squarem")
    louis = emkit.standard_errors(fitted, data, method="louis").reported_cov
    for kind in ("nonparametric", "parametric"):
        boot = emkit.standard_errors(fitted, data, method="bootstrap", n_boot=5, random_state=1, bootstrap_kind=kind,
                                     fit_options={"accelerate": "squarem", "tol": 1e-8, "param_tol": 1e-6})
        assert boot.diagnostics["n_failed"] == 0
        ratio = np.sqrt(np.diag(boot.reported_cov) / np.diag(louis))
        assert np.all((ratio > 0.3) & (ratio < 3.0)), (kind, ratio)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_names_the_argument(client):
    model = emkit.PoissonMixture(2)
    with pytest.raises(ValueError, match="X: records must be non-negative whole numbers"):
        emkit.fit(model, da.from_array(np.array([1, 2, -3, 4]), chunks=2))
    with pytest.raises(ValueError, match="X: records need one column"):
        emkit.fit(model, dd.from_pandas(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), npartitions=1))
    with pytest.raises(ValueError, match="X: unknown label"):
        emkit.fit(peppered_moth(), da.from_array(np.array(["typica", "melanic"]), chunks=1))
    with pytest.raises(ValueError, match="X: the Dask collection has no rows"):
        emkit.fit(model, da.from_array(np.zeros(0, dtype=int), chunks=1))
    with pytest.raises(ValueError, match="persist"):
        DaskData(model, da.from_array(np.arange(4), chunks=2), persist="sometimes")
    with pytest.raises(ValueError, match="sample_rows"):
        DaskData(model, da.from_array(np.arange(4), chunks=2), sample_rows=0)
    data = DaskData(model, da.from_array(np.arange(4), chunks=2))
    with pytest.raises(ValueError, match="data: .*another model"):
        emkit.fit(emkit.PoissonMixture(2), data)
    with pytest.raises(ValueError, match="X: expected a Dask array"):
        DaskData(model, [dask.delayed(np.arange(3)), da.from_array(np.arange(3))])
