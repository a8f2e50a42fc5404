"""Gaussian mixture EM on Dask: data larger than the workers' memory, fitted chunk by chunk.

A data set of n = 20,000,000 rows x d = 8 features (1.28 GB of float64; ``--quick``: 200,000
rows) from a k = 8 component mixture is generated chunk by chunk on the workers (each chunk from
its own seed, so it is the same data at every pass and never exists whole anywhere). A
``distributed.LocalCluster`` of 2 worker processes, each with a memory limit well below the
data size, fits a k = 8 full-covariance mixture with emkit's engine: ``persist="auto"`` sees that
the data cannot be persisted, so every EM pass regenerates the chunks, runs the E-step on them
and tree-sums the statistics; the M-step runs in this process. Printed (and written as a
Markdown table with ``--output FILE``; the recorded figures are in ``benchmarks/RESULTS.md``):

* setup time (the pass that sums the centring shift, the sample for k-means starting values)
  and the time per EM iteration (median of the timed iterations, after one warm-up), with the
  time of a pass that only generates the chunks, for scale;
* the peak resident memory of each worker process (``ru_maxrss``) and of this process;
* the comparison with in-memory emkit on a size that fits (``--small`` rows, default
  2,000,000): time per iteration of the in-memory fit in this process, and of the Dask fit of
  the same rows persisted on the two workers, from the same start; the largest relative
  difference of their log-likelihood traces.

Run with

    python benchmarks/gmm_dask.py [--quick] [--iterations 5] [--memory-limit 500MB]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import emkit
from emkit.engine.dask import DEFAULT_SAMPLE_ROWS, DaskData
from emkit.engine.estep import initial_params
from emkit.exceptions import ConvergenceWarning
from emkit.models.gaussian_mixture import GaussianMixtureModel

SIZES = {"full": dict(n=20_000_000, small=2_000_000, chunk=250_000),
         "quick": dict(n=200_000, small=100_000, chunk=25_000)}
D, K, SEED = 8, 8, 2024


def true_mixture(d: int, k: int, seed: int) -> dict[str, np.ndarray]:
    """Weights, means (spread over a cube of side 10) and well-conditioned covariances."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.uniform(-5.0, 5.0, size=(k, d))
    factors = rng.normal(scale=0.4, size=(k, d, d))
    covariances = np.einsum("kij,klj->kil", factors, factors) + 0.5 * np.eye(d)
    return {"weights": weights, "means": means, "covariances": covariances}


def generate_block(index: int, rows: int, truth: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """Rows of block ``index``: component sizes from the weights, then ``μ_j + L_j z`` (shuffled)."""
    rng = np.random.default_rng([seed, index])
    counts = rng.multinomial(rows, truth["weights"])
    factors = np.linalg.cholesky(truth["covariances"])
    d = truth["means"].shape[1]
    block = np.vstack([truth["means"][j] + rng.standard_normal((count, d)) @ factors[j].T
                       for j, count in enumerate(counts)])
    return block[rng.permutation(rows)]


def generated_rows(n: int, chunk: int, truth: dict[str, np.ndarray], seed: int) -> da.Array:
    """An ``(n, d)`` Dask array whose blocks are generated from their own seeds when computed."""
    d = truth["means"].shape[1]
    sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
    blocks = [da.from_delayed(dask.delayed(generate_block)(i, rows, truth, seed), shape=(rows, d), dtype=float)
              for i, rows in enumerate(sizes)]
    return da.concatenate(blocks, axis=0)


def timed_fit(model, data, start, iterations: int) -> tuple[list[float], list[float]]:
    """``iterations`` EM iterations from ``start``: the time of each and the log-likelihoods."""
    stamps: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        begin = time.perf_counter()
        result = emkit.fit(model, data, init=start, max_iter=iterations, tol=0.0, param_tol=None,
                           callback=lambda *_: stamps.append(time.perf_counter()))
    times = np.diff([begin] + stamps).tolist()
    return times[1:], result.trace.loglik  # times[0] is the first E-step (the start's evaluation)


def per_iteration(times: list[float]) -> float:
    """Median time per iteration, the first (warm-up) left out when there are others."""
    return float(np.median(times[1:] if len(times) > 1 else times))


def worker_peak_rss(client: Client) -> list[float]:
    """Peak resident memory of each worker process, in MB."""
    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return [peaks[address] / 1024.0 for address in sorted(peaks)]


def client_peak_rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (200,000 rows)")
    parser.add_argument("--iterations", type=int, default=5, help="timed EM iterations per fit")
    parser.add_argument("--memory-limit", default="500MB",
                        help="per worker (default 500MB: a worker's own code takes about 230MB of it)")
    parser.add_argument("--output", type=Path, default=None,
                        help="also write the results as Markdown to this file")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    limit = args.memory_limit
    output = args.output
    truth = true_mixture(D, K, SEED)
    lines = [f"# EM on Dask: Gaussian mixture, n = {size['n']:,} x d = {D}, k = {K} (full covariances)", "",
             f"Machine: {platform.machine()}, {platform.python_version()}, dask {dask.__version__}; "
             f"LocalCluster of 2 worker processes x 1 thread, memory limit {limit} each; chunks of "
             f"{size['chunk']:,} rows; {args.iterations} timed iterations per fit.", ""]

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=limit,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        # ---------------------------------------------------------- data larger than the workers
        X = generated_rows(size["n"], size["chunk"], truth, SEED)
        clock = time.perf_counter()
        X.sum(axis=0).compute()
        generation = time.perf_counter() - clock
        model = GaussianMixtureModel(K, "full")
        clock = time.perf_counter()
        data = DaskData(model, X)
        start = initial_params(model, data)
        setup = time.perf_counter() - clock
        times, _ = timed_fit(model, data, start, args.iterations)
        big_peaks, big_client = worker_peak_rss(client), client_peak_rss()
        lines += ["## Data larger than the workers' memory", "",
                  "| quantity | value |", "|---|---|",
                  f"| data size | {X.nbytes / 1e9:.2f} GB ({size['n']:,} x {D} float64) |",
                  f"| workers' memory limit | 2 x {limit} |",
                  f"| persisted on the workers | {data.persisted}"
                  f"{'' if data.persisted else ' (the chunks are regenerated at every pass)'} |",
                  f"| setup: centring pass + k-means start on a {min(data.sample_rows, size['n']):,}-row sample "
                  f"| {setup:.1f} s |",
                  f"| time per EM iteration (median) | {per_iteration(times):.2f} s |",
                  f"| of which regenerating the chunks (a pass that only generates them) | {generation:.2f} s |",
                  f"| rows per second per iteration | {size['n'] / per_iteration(times):,.0f} |",
                  f"| peak memory per worker (ru_maxrss) | {', '.join(f'{p:.0f} MB' for p in big_peaks)} |",
                  f"| peak memory of the client process | {big_client:.0f} MB |", ""]
        print("\n".join(lines))
        del data

        # ------------------------------------------------- a size that fits: memory against Dask
        client.restart()
        X_small = generated_rows(size["small"], size["chunk"], truth, SEED + 1).compute()
        memory_model = GaussianMixtureModel(K, "full")
        prepared = memory_model.prepare(X_small)
        start = memory_model.initial_params(memory_model.prepare_chunk(X_small[:DEFAULT_SAMPLE_ROWS], None))
        memory_times, memory_trace = timed_fit(memory_model, prepared, start, args.iterations)
        dask_model = GaussianMixtureModel(K, "full")
        chunked = DaskData(dask_model, da.from_array(X_small, chunks=(size["chunk"], D)))
        dask_times, dask_trace = timed_fit(dask_model, chunked, start, args.iterations)
        difference = float(np.max(np.abs(np.array(dask_trace) / np.array(memory_trace) - 1.0)))
        small_peaks = worker_peak_rss(client)
        comparison = ["## A size that fits: in-memory emkit against Dask", "",
                      f"{size['small']:,} x {D} rows ({X_small.nbytes / 1e6:.0f} MB), the same start; the in-memory "
                      "fit runs in this process (2 BLAS threads), the Dask fit on the two workers "
                      f"(persisted: {chunked.persisted}).", "",
                      "| fit | time per iteration | rows per second |", "|---|---|---|",
                      f"| in-memory emkit | {per_iteration(memory_times):.3f} s | "
                      f"{size['small'] / per_iteration(memory_times):,.0f} |",
                      f"| emkit on Dask (2 workers) | {per_iteration(dask_times):.3f} s | "
                      f"{size['small'] / per_iteration(dask_times):,.0f} |", "",
                      f"Largest relative difference of the log-likelihood traces: {difference:.1e}. "
                      f"Peak memory per worker: {', '.join(f'{p:.0f} MB' for p in small_peaks)}.", ""]
        print("\n".join(comparison))
    if output is not None:
        output.write_text("\n".join(lines + comparison))
        print(f"written to {output}")


if __name__ == "__main__":
    main()
