"""emkit's GaussianMixture against scikit-learn's: time per EM iteration, memory, agreement.

Both libraries fit the same simulated data (n = 200,000 rows, d = 16 features, k = 16
components; ``--quick``: n = 20,000) from the same start (``weights_init``, ``means_init``,
``precisions_init``; ``tol=0`` so both run exactly the requested number of iterations), in one
process, for the covariance types full and diag. Printed:

* time per EM iteration of each library and the ratio: the median over ``--repeats`` runs of
  ``--iterations`` iterations of each library's loop body (scikit-learn's ``_e_step`` and
  ``_m_step``; emkit's model ``e_step`` and ``m_step``, as the engine calls them), so input
  checks and initialization are not counted and other processes on the machine disturb the
  median little; the median time of a whole ``fit`` of that many iterations is printed too;
* peak memory of one fit (tracemalloc, which sees numpy's buffers; the data themselves are
  allocated before and not counted);
* the log-likelihood per sample after every iteration of both (must agree to 1e-9 relative);
* the fraction of the machine's matrix-multiply rate that emkit's iteration reaches: the
  GEMM rate (float64 and float32) is measured in the same run on square matrices, and an
  iteration is credited with the floating-point operations of the two matrix products of the
  exponential-family form of the EM step, ``2·2·n·k·p`` with ``p = 1 + d + d(d+1)/2`` (full) or
  ``p = 1 + 2d`` (diag) sufficient-statistic features;
* ``predict_proba`` / ``score_samples`` throughput (rows per second) of both;
* emkit alone on the same data with 10% of the values missing (NaN, missing completely at
  random), against its own complete-data iteration (target ≤ 3x);
* emkit alone on float32 data against float64 (target ≥ 1.5x faster), with the accuracy of
  the float32 fit: the relative difference of the final log-likelihood and the largest
  difference of the means in units of the component standard deviations;
* with ``--accelerate``: emkit's fit to convergence (``tol=1e-6`` per sample) with plain EM and
  with SQUAREM from the same start: time, iterations, passes over the data, log-likelihood.

Run with

    python benchmarks/gmm_vs_sklearn.py [--quick] [--iterations 5] [--repeats 3] [--accelerate]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from threadpoolctl import threadpool_info

import emkit
from emkit import GaussianMixture
from emkit.exceptions import ConvergenceWarning
from emkit.models.gaussian_mixture import GaussianMixtureModel

SIZES = {"full": dict(n=200_000, d=16, k=16), "quick": dict(n=20_000, d=16, k=16)}
TARGETS = {"full": 8.0, "diag": 4.0}
MISSING_RATE, MISSING_TARGET, FLOAT32_TARGET = 0.10, 3.0, 1.5
AGREEMENT = 1e-9


# ----------------------------------------------------------------------------- the problem
def simulate(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    """Rows from a k-component Gaussian mixture with random correlated covariances, away from 0."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(scale=3.0, size=(k, d)) + 10.0
    factors = rng.normal(size=(k, d, d)) * rng.uniform(0.3, 1.0, size=(k, 1, 1)) / np.sqrt(d) + 0.5 * np.eye(d)
    labels = rng.choice(k, size=n, p=weights)
    z = rng.standard_normal((n, d))
    return means[labels] + np.einsum("ni,nji->nj", z, factors[labels])


def start(X: np.ndarray, k: int, covariance_type: str, seed: int = 1) -> dict[str, np.ndarray]:
    """The same start for both libraries: equal weights, k random rows as means, and the
    precision of the whole data set for every component."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    means = X[rng.choice(X.shape[0], size=k, replace=False)]
    if covariance_type == "full":
        lower = np.linalg.cholesky(np.cov(X, rowvar=False))
        inverse_factor = np.linalg.solve(lower, np.eye(d))
        precisions = np.stack([inverse_factor.T @ inverse_factor] * k)
    else:
        precisions = np.tile(1.0 / X.var(axis=0), (k, 1))
    return {"weights_init": np.full(k, 1.0 / k), "means_init": means, "precisions_init": precisions}


def features(d: int, covariance_type: str) -> int:
    """Number of sufficient-statistic features per row (see the module docstring)."""
    return 1 + d + d * (d + 1) // 2 if covariance_type == "full" else 1 + 2 * d


# ------------------------------------------------------------------------------- measuring
def median_time(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def peak_memory(run: Callable[[], object]) -> float:
    """Peak traced memory (bytes) of one call of ``run`` (tracemalloc sees numpy's buffers)."""
    tracemalloc.start()
    try:
        run()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def gemm_rate(dtype, size: int, repeats: int = 5) -> float:
    """Floating-point operations per second of a square matrix product in ``dtype`` (median)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b
    return 2.0 * size ** 3 / median_time(lambda: a @ b, repeats)


def machine() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or platform.machine()
    blas = ", ".join(f"{info['internal_api']} {info.get('version')} ({info['num_threads']} threads)"
                     for info in threadpool_info() if info["user_api"] == "blas")
    return (f"{model}, {os.cpu_count()} CPUs; numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
            f"emkit {getattr(emkit, '__version__', '?')}; BLAS: {blas}")


# --------------------------------------------------------------------------------- fitting
def fit_sklearn(X, k, covariance_type, init, max_iter):
    model = SklearnGaussianMixture(k, covariance_type=covariance_type, tol=0.0, max_iter=max_iter,
                                   init_params="random_from_data", random_state=0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        return model.fit(X)


def fit_emkit(X, k, covariance_type, init, max_iter, **options):
    model = GaussianMixture(k, covariance_type=covariance_type, tol=0.0, max_iter=max_iter,
                            init_params="random_from_data", random_state=0, **init, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, SklearnConvergenceWarning))
        return model.fit(X)


@dataclass
class Timing:
    per_iteration: float
    fit_seconds: float
    peak_bytes: float
    model: object


def sklearn_iterations(X, k, covariance_type, init, count: int) -> list[float]:
    """Times of ``count`` scikit-learn EM iterations: its ``fit`` loop body, ``_e_step`` then
    ``_m_step``, from the start ``init``."""
    model = fit_sklearn(X, k, covariance_type, init, 1)
    model.weights_, model.means_ = init["weights_init"], init["means_init"]
    model.precisions_cholesky_ = _precisions_cholesky(init["precisions_init"], covariance_type)
    times = []
    for _ in range(count):
        began = time.perf_counter()
        _, log_resp = model._e_step(X)
        model._m_step(X, log_resp)
        times.append(time.perf_counter() - began)
    return times


def emkit_iterations(X, k, covariance_type, init, count: int) -> list[float]:
    """Times of ``count`` emkit EM iterations: the engine's loop body, ``e_step`` then ``m_step``
    of the model the estimator fits, from the start ``init``."""
    model = GaussianMixtureModel(k, covariance_type)
    data = model.prepare(X)
    params = model.check_params({"weights": init["weights_init"], "means": init["means_init"],
                                 "covariances": _covariances(init["precisions_init"], covariance_type)})
    times = []
    for _ in range(count):
        began = time.perf_counter()
        stats, _ = model.e_step(data, params)
        params = model.m_step(stats, params)
        times.append(time.perf_counter() - began)
    return times


def _covariances(precisions, covariance_type):
    return np.linalg.inv(precisions) if covariance_type == "full" else 1.0 / precisions


def _precisions_cholesky(precisions, covariance_type):
    if covariance_type == "full":
        return np.stack([np.linalg.cholesky(p) for p in precisions])  # Λ = P Pᵀ with P = chol(Λ)
    return np.sqrt(precisions)


def measure(iterations: Callable[[int], list[float]], fit_one: Callable[[int], object], args) -> Timing:
    """Median time per EM iteration (``repeats`` runs of ``iterations`` iterations), the median
    time of a whole ``fit`` of that many iterations, and the peak memory of a ``fit``."""
    iterations(1)  # warm up (compiled kernels, caches)
    per_iteration = float(np.median([t for _ in range(args.repeats) for t in iterations(args.iterations)]))
    models = []
    fit_seconds = median_time(lambda: models.append(fit_one(args.iterations)), args.repeats)
    peak = peak_memory(lambda: fit_one(2))
    return Timing(per_iteration, fit_seconds, peak, models[-1])


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


# ---------------------------------------------------------------------------------- sections
def compare(X, k, covariance_type, args, rates) -> dict[str, float]:
    n, d = X.shape
    init = start(X, k, covariance_type)
    theirs = measure(lambda m: sklearn_iterations(X, k, covariance_type, init, m),
                     lambda m: fit_sklearn(X, k, covariance_type, init, m), args)
    ours = measure(lambda m: emkit_iterations(X, k, covariance_type, init, m),
                   lambda m: fit_emkit(X, k, covariance_type, init, m), args)
    ratio = theirs.per_iteration / ours.per_iteration
    ours_ll, theirs_ll = np.array(ours.model.lower_bounds_), np.array(theirs.model.lower_bounds_)
    relative = float(np.max(np.abs(ours_ll - theirs_ll) / np.abs(theirs_ll)))
    flops = 4.0 * n * k * features(d, covariance_type)
    print(f"\n## {covariance_type} covariance: n = {n:,}, d = {d}, k = {k}, {args.iterations} iterations, "
          f"median of {args.repeats}")
    for name, timing in (("scikit-learn", theirs), ("emkit", ours)):
        print(f"{name:<14} {1e3 * timing.per_iteration:9.1f} ms / iteration   fit of {args.iterations} iterations "
              f"{timing.fit_seconds:7.2f} s   peak memory {timing.peak_bytes / 2**20:8.1f} MiB")
    print(f"speed-up {ratio:.1f}x (target >= {TARGETS[covariance_type]:.0f}x: "
          f"{verdict(ratio >= TARGETS[covariance_type])}); memory emkit/scikit-learn "
          f"{ours.peak_bytes / theirs.peak_bytes:.2f} ({verdict(ours.peak_bytes <= theirs.peak_bytes)}); "
          f"data X itself {X.nbytes / 2**20:.1f} MiB")
    print(f"log-likelihood per sample after {len(ours_ll)} E-steps: emkit {ours_ll[-1]:.12f}, scikit-learn "
          f"{theirs_ll[-1]:.12f}; largest relative difference over all iterations {relative:.1e} "
          f"(<= {AGREEMENT:g}: {verdict(relative <= AGREEMENT)})")
    print(f"emkit iteration: {flops / 1e9:.2f} GFLOP of matrix products at "
          f"{flops / ours.per_iteration / 1e9:.1f} GFLOP/s = {flops / ours.per_iteration / rates[np.float64]:.0%} "
          f"of the float64 GEMM rate")
    throughput(X, ours.model, theirs.model, args.repeats)
    return {"emkit": ours.per_iteration, "ratio": ratio, "init": init}


def throughput(X, ours, theirs, repeats) -> None:
    n = X.shape[0]
    for method in ("score_samples", "predict_proba"):
        mine = median_time(lambda: getattr(ours, method)(X), repeats)
        other = median_time(lambda: getattr(theirs, method)(X), repeats)
        print(f"{method:<14} emkit {n / mine / 1e6:7.2f} M rows/s, scikit-learn {n / other / 1e6:7.2f} M rows/s "
              f"({other / mine:.1f}x)")


def missing(X, k, covariance_type, init, complete_time, args) -> None:
    rng = np.random.default_rng(7)
    holes = X.copy()
    holes[rng.random(X.shape) < MISSING_RATE] = np.nan
    timing = measure(lambda m: emkit_iterations(holes, k, covariance_type, init, m),
                     lambda m: fit_emkit(holes, k, covariance_type, init, m), args)
    ratio = timing.per_iteration / complete_time
    incomplete = np.isnan(holes).any(axis=1).mean()
    print(f"{MISSING_RATE:.0%} missing values ({incomplete:.0%} of rows incomplete): emkit "
          f"{1e3 * timing.per_iteration:.1f} ms / iteration = {ratio:.2f}x its complete-data iteration "
          f"(target <= {MISSING_TARGET:g}x: {verdict(ratio <= MISSING_TARGET)}); peak memory "
          f"{timing.peak_bytes / 2**20:.1f} MiB")


def single_precision(X, k, covariance_type, init, complete_time, args, rates) -> None:
    X32 = X.astype(np.float32)
    timing = measure(lambda m: emkit_iterations(X32, k, covariance_type, init, m),
                     lambda m: fit_emkit(X32, k, covariance_type, init, m), args)
    reference = fit_emkit(X, k, covariance_type, init, args.iterations)
    ratio = complete_time / timing.per_iteration
    model = timing.model
    relative = abs(model.lower_bound_ - reference.lower_bound_) / abs(reference.lower_bound_)
    scale = np.sqrt(reference.covariances_.diagonal(axis1=1, axis2=2) if covariance_type == "full"
                    else reference.covariances_)
    means_error = float(np.max(np.abs(model.means_ - reference.means_) / scale))
    n, d = X.shape
    flops = 4.0 * n * k * features(d, covariance_type)
    print(f"float32: emkit {1e3 * timing.per_iteration:.1f} ms / iteration, {ratio:.2f}x faster than float64 "
          f"(target >= {FLOAT32_TARGET:g}x: {verdict(ratio >= FLOAT32_TARGET)}), "
          f"{flops / timing.per_iteration / rates[np.float32]:.0%} of the float32 GEMM rate; accuracy after "
          f"{args.iterations} iterations: log-likelihood relative difference {relative:.1e}, means within "
          f"{means_error:.1e} standard deviations of the float64 fit")


def acceleration(X, k, covariance_type, init, args) -> None:
    rows = []
    for accelerate in (None, "squarem"):
        model = GaussianMixture(k, covariance_type=covariance_type, tol=1e-6, max_iter=2000,
                                init_params="random_from_data", random_state=0, accelerate=accelerate, **init)
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (ConvergenceWarning, SklearnConvergenceWarning))
            model.fit(X)
        seconds = time.perf_counter() - began
        rows.append((accelerate or "plain EM", seconds, model.result_.n_iter, model.result_.n_evaluations,
                     model.lower_bound_, model.converged_))
    print("fit to convergence (tol = 1e-6 per sample):")
    for name, seconds, n_iter, evaluations, bound, converged in rows:
        print(f"  {name:<9} {seconds:7.2f} s, {n_iter:4d} iterations, {evaluations:4d} passes over the data, "
              f"log-likelihood per sample {bound:.10f}, converged {converged}")
    print(f"  SQUAREM changes the fit time by {rows[1][1] / rows[0][1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 20,000 (a smoke run for CI)")
    parser.add_argument("--iterations", type=int, default=None, help="timed EM iterations (default 5; quick 3)")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions, median kept (default 3; quick 2)")
    parser.add_argument("--types", nargs="+", default=["full", "diag"], choices=["full", "diag"])
    parser.add_argument("--accelerate", action="store_true", help="also fit to convergence with and without SQUAREM")
    parser.add_argument("--skip", nargs="*", default=[], choices=["missing", "float32"],
                        help="sections to leave out")
    args = parser.parse_args()
    args.iterations = args.iterations or (3 if args.quick else 5)
    args.repeats = args.repeats or (2 if args.quick else 3)
    size = SIZES["quick" if args.quick else "full"]
    print(f"# emkit vs scikit-learn GaussianMixture ({'quick' if args.quick else 'full'} size)")
    print(f"# {machine()}")
    rates = {dtype: gemm_rate(dtype, 1024 if args.quick else 2048) for dtype in (np.float64, np.float32)}
    print(f"# GEMM rate: float64 {rates[np.float64] / 1e9:.1f} GFLOP/s, float32 {rates[np.float32] / 1e9:.1f} GFLOP/s")
    X = simulate(**size)
    for covariance_type in args.types:
        result = compare(X, size["k"], covariance_type, args, rates)
        if "missing" not in args.skip:
            missing(X, size["k"], covariance_type, result["init"], result["emkit"], args)
        if "float32" not in args.skip:
            single_precision(X, size["k"], covariance_type, result["init"], result["emkit"], args, rates)
        if args.accelerate:
            acceleration(X, size["k"], covariance_type, result["init"], args)


if __name__ == "__main__":
    main()
