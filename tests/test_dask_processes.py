"""EM on Dask with two worker processes: the chunks, the model and the parameters cross
process boundaries (pickled), and the fit still equals the in-memory one."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import emkit


@pytest.mark.slow
def test_two_worker_processes_equal_in_memory_fit():
    rng = np.random.default_rng(5)
    records = np.concatenate([rng.poisson(2.0, 1800), rng.poisson(9.0, 1200)])
    rng.shuffle(records)
    start = {"weights": [0.5, 0.5], "rates": [1.0, 5.0]}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        frame = dd.from_pandas(pd.DataFrame({"x": records}), npartitions=6)
        on_dask = emkit.fit(emkit.PoissonMixture(2), frame, init=start)
        workers = set(client.run(lambda: 1))
    in_memory = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), np.bincount(records), init=start)
    assert len(workers) == 2
    assert on_dask.n_iter == in_memory.n_iter
    np.testing.assert_allclose(on_dask.trace.loglik, in_memory.trace.loglik, rtol=1e-10)
    np.testing.assert_allclose(on_dask.trace.vectors(in_memory.model), in_memory.trace.vectors(in_memory.model),
                               rtol=1e-10)
