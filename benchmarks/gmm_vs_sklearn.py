"""emkit's GaussianMixture against scikit-learn's: time per EM iteration, memory, agreement.

Both libraries fit the same simulated data (n = 200,000 rows, d = 16 features, k = 16
components, away from the origin; ``--quick``: n = 20,000) from the same start
(``weights_init``, ``means_init``, ``precisions_init``), in one process, for the covariance types
full and diag. Printed:

* time per EM iteration of each library and the ratio. An iteration is each library's loop
  body (scikit-learn's ``_e_step`` and ``_m_step``; emkit's model ``e_step`` and ``m_step``, as
  the engine calls them), so input checks and initialization are not counted. The machine is
  shared with other work, so the measurements are *interleaved*: in each of ``--rounds``
  rounds, every contestant in turn (scikit-learn, emkit, emkit on data with missing values,
  emkit on float32 data, a reference matrix product) runs ``--repeats`` iterations back to back
  and keeps the fastest (a time slice taken by another process is then left out, which matters
  most for the shortest runs), after a pause of 0.2 s (OpenBLAS's worker threads spin for
  about 0.1 s after a multithreaded call, which would slow whatever runs next on 2 cores) and
  ``--warmup`` untimed iterations (at least one in the first round, whatever ``--warmup``; on
  this virtual machine the first few iterations after an idle pause run up to 2x slower,
  whatever the library: a fit runs its iterations back to back, so the steady state is what
  it sees). Each time is the median over the rounds, and each ratio the median of the ratios
  within a round (which saw the same load);
* the median time of a whole ``fit`` of ``--rounds`` iterations (``tol=0``) of each;
* peak memory of one ``fit`` (tracemalloc, which sees numpy's buffers; the data themselves are
  allocated before and not counted);
* the log-likelihood per sample after every iteration of both fits (must agree to 1e-12
  relative);
* emkit's iteration against its floor: the two matrix products of its E-step alone (the same
  blocks, passes, panels and threads, on features and responsibilities made once), timed in the
  same rounds (``floor``; ``floor32`` for float32);
* the fraction of the machine's matrix-multiply rate that emkit's iteration reaches: a square
  float64 (float32) product of size 1024 is timed between the iterations, and an iteration is
  credited with the floating-point operations of the two matrix products of the
  exponential-family form of the EM step, ``2·2·n·k·p`` with ``p = 1 + d + d(d+1)/2`` (full) or
  ``p = 1 + 2d`` (diag) sufficient-statistic features;
* ``predict_proba`` / ``score_samples`` throughput (rows per second) of both;
* emkit alone on the same data with 10% of the values missing (NaN, missing completely at
  random) against its own complete-data iteration (target ≤ 3x);
* emkit alone on float32 data against float64 (target ≥ 1.5x faster), per iteration and for
  whole fits to convergence from the same start at scikit-learn's default ``tol=1e-3``
  (median of 7 fits each, alternating back to back after a pair that warms up:
  no other library runs in between, so no pause is needed), with the accuracy of the float32 fit: the
  relative difference of the log-likelihood after ``--rounds`` iterations and the largest
  difference of the means in units of the component standard deviations;
* with ``--accelerate``: emkit's fit to convergence (``tol=1e-6`` per sample) with plain EM and
  with SQUAREM from the same start: time, iterations, passes over the data, log-likelihood.

Run with

    python benchmarks/gmm_vs_sklearn.py [--quick] [--rounds 7] [--repeats 3] [--warmup 3] [--accelerate]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from threadpoolctl import threadpool_info

import emkit
from emkit import GaussianMixture
from emkit.exceptions import ConvergenceWarning
from emkit.kernels.gaussian_mixture_estep import _Buffers, compute_dtype, mixture_terms, pass_rows
from emkit.kernels.gaussian_mixture_missing import missing_layout
from emkit.latent.sequences import default_n_jobs, parallel_map
from emkit.models.gaussian_mixture import GaussianMixtureModel

SIZES = {"full": {"n": 200_000, "d": 16, "k": 16}, "quick": {"n": 20_000, "d": 16, "k": 16}}
TARGETS = {"full": 10.0, "diag": 8.0}   # issue 20
MISSING_RATE, MISSING_TARGET, FLOAT32_TARGET = 0.10, 3.0, 1.5
AGREEMENT = 1e-12   # issue 20: log-likelihoods equal to 1e-12 relative from the same start
DEFAULT_TOL, CONVERGENCE_MAX_ITER, FIT_REPEATS = 1e-3, 1000, 7
GEMM_SIZE = 1024
PAUSE = 0.2


# ----------------------------------------------------------------------------- the problem
def simulate(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    """Rows from a k-component Gaussian mixture away from the origin, with random correlated
    covariances ``Σ_k = s_k A_k A_kᵀ / d + I/4`` (``A_k`` standard normal, ``s_k ∈ [0.1, 1]``)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(scale=3.0, size=(k, d)) + 10.0
    A = rng.normal(size=(k, d, d))
    covariances = rng.uniform(0.1, 1.0, size=(k, 1, 1)) * A @ A.transpose(0, 2, 1) / d + 0.25 * np.eye(d)
    factors = np.linalg.cholesky(covariances)
    labels = rng.choice(k, size=n, p=weights)
    X = rng.standard_normal((n, d))
    for component in range(k):   # one component at a time: memory linear in n·d (2,000,000 rows in peers.py)
        rows = labels == component
        X[rows] = means[component] + X[rows] @ factors[component].T
    return X


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


def with_missing(X: np.ndarray, rate: float = MISSING_RATE, seed: int = 7) -> np.ndarray:
    """A copy of ``X`` with a fraction ``rate`` of the values NaN (missing completely at random)."""
    holes = X.copy()
    holes[np.random.default_rng(seed).random(X.shape) < rate] = np.nan
    return holes


def features(d: int, covariance_type: str) -> int:
    """Number of sufficient-statistic features per row (see the module docstring)."""
    return 1 + d + d * (d + 1) // 2 if covariance_type == "full" else 1 + 2 * d


# ------------------------------------------------------------------------ one iteration each
class SklearnLoop:
    """scikit-learn's EM iterations from ``init``: its ``fit`` loop body, ``_e_step`` then ``_m_step``."""

    def __init__(self, X, k, covariance_type, init) -> None:
        self.X = X
        self.model = fit_sklearn(X, k, covariance_type, init, 1)
        self.model.weights_, self.model.means_ = init["weights_init"], init["means_init"]
        factors = (np.stack([np.linalg.cholesky(p) for p in init["precisions_init"]]) if covariance_type == "full"
                   else np.sqrt(init["precisions_init"]))  # any P with P Pᵀ = Λ gives scikit-learn's E-step
        self.model.precisions_cholesky_ = factors

    def step(self) -> float:
        began = time.perf_counter()
        _, log_resp = self.model._e_step(self.X)
        self.model._m_step(self.X, log_resp)
        return time.perf_counter() - began


class EmkitLoop:
    """emkit's EM iterations from ``init``: the engine's loop body, ``e_step`` then ``m_step`` of
    the model that ``GaussianMixture`` fits."""

    def __init__(self, X, k, covariance_type, init) -> None:
        self.model = GaussianMixtureModel(k, covariance_type)
        self.data = self.model.prepare(X)
        covariances = (np.linalg.inv(init["precisions_init"]) if covariance_type == "full"
                       else 1.0 / init["precisions_init"])
        self.params = self.model.check_params({"weights": init["weights_init"], "means": init["means_init"],
                                               "covariances": covariances})

    def step(self) -> float:
        began = time.perf_counter()
        stats, _ = self.model.e_step(self.data, self.params)
        self.params = self.model.m_step(stats, self.params)
        return time.perf_counter() - began


class FloorLoop:
    """The floor of an emkit iteration: the two matrix products of its E-step alone, ``Θᵀ Φᵀ``
    and ``Φᵀ R`` for every pass over every row block (emkit's blocks, passes and panels, on as
    many threads), on features and responsibilities made once per thread and kept in its cache
    (no features built, no exponential, no M-step)."""

    def __init__(self, X, k, covariance_type, init) -> None:
        model = GaussianMixtureModel(k, covariance_type)
        data = model.prepare(X)
        covariances = (np.linalg.inv(init["precisions_init"]) if covariance_type == "full"
                       else 1.0 / init["precisions_init"])
        self.terms = mixture_terms(init["weights_init"], init["means_init"], covariances, covariance_type,
                                   X.mean(axis=0, dtype=np.float64))
        self.dtype = compute_dtype(X.dtype, self.terms)
        row_bytes = self.terms.theta.shape[0] * self.dtype.itemsize
        self.passes = [min(size, block.stop - start) for block in data.blocks
                       for size in [pass_rows(block.stop - block.start, row_bytes)]
                       for start in range(block.start, block.stop, size)]
        self.X, self.threads = X, default_n_jobs(None)
        self.local = threading.local()

    def products(self, rows: int) -> None:
        buffers = getattr(self.local, "buffers", None)
        if buffers is None:   # this thread's features of the first rows and uniform responsibilities
            size = max(self.passes)
            buffers = self.local.buffers = _Buffers(self.terms, self.dtype, size)
            self.local.block = buffers.fill(self.X, np.arange(size), None, missing_layout(self.X[:size]))
            self.local.resp = np.full((self.terms.n_components, size), 1.0 / self.terms.n_components, dtype=self.dtype)
        features = self.local.block.features[:, :rows]
        buffers.joint_product(buffers.theta_t[:, :features.shape[0]], features, buffers.joint[:, :rows])
        buffers.statistics_product(features, self.local.resp[:, :rows])

    def step(self) -> float:
        began = time.perf_counter()
        parallel_map(self.products, self.passes, self.threads)
        return time.perf_counter() - began


class GemmLoop:
    """A square matrix product of size :data:`GEMM_SIZE` in ``dtype``; ``step`` returns its time."""

    def __init__(self, dtype) -> None:
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(dtype)
        self.b = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(dtype)
        self.flops = 2.0 * GEMM_SIZE ** 3

    def step(self) -> float:
        began = time.perf_counter()
        self.a @ self.b
        return time.perf_counter() - began


def interleaved(loops: dict[str, object], rounds: int, repeats: int, warmup: int) -> dict[str, np.ndarray]:
    """For each of ``rounds`` rounds and each loop in turn, after a pause and ``warmup`` untimed
    steps (at least one in the first round), the fastest of ``repeats`` steps run back to back."""
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(rounds):
        for name, loop in loops.items():
            time.sleep(PAUSE)
            for _ in range(max(warmup, 1 if not times[name] else 0)):
                loop.step()
            times[name].append(min(loop.step() for _ in range(repeats)))
    return {name: np.array(values) for name, values in times.items()}


def median_ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """Median of the ratios of neighbouring measurements."""
    return float(np.median(numerator / denominator))


# ------------------------------------------------------------------------------- whole fits
def fit_sklearn(X, k, covariance_type, init, max_iter):
    model = SklearnGaussianMixture(k, covariance_type=covariance_type, tol=0.0, max_iter=max_iter,
                                   init_params="random_from_data", random_state=0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        return model.fit(X)


def fit_emkit(X, k, covariance_type, init, max_iter, tol=0.0, **options):
    model = GaussianMixture(k, covariance_type=covariance_type, tol=tol, max_iter=max_iter,
                            init_params="random_from_data", random_state=0, **init, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, SklearnConvergenceWarning))
        return model.fit(X)


def median_time(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        time.sleep(PAUSE)
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


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


# ---------------------------------------------------------------------------------- sections
def compare(X, k, covariance_type, args) -> None:
    n, d = X.shape
    init = start(X, k, covariance_type)
    holes = with_missing(X)
    X32 = X.astype(np.float32)
    loops = {"scikit-learn": SklearnLoop(X, k, covariance_type, init), "emkit": EmkitLoop(X, k, covariance_type, init)}
    if "missing" not in args.skip:
        loops["missing"] = EmkitLoop(holes, k, covariance_type, init)
    if "float32" not in args.skip:
        loops["float32"] = EmkitLoop(X32, k, covariance_type, init)
        loops["gemm32"] = GemmLoop(np.float32)
    loops["gemm"] = GemmLoop(np.float64)
    loops["floor"] = FloorLoop(X, k, covariance_type, init)
    if "float32" in loops:
        loops["floor32"] = FloorLoop(X32, k, covariance_type, init)
    times = interleaved(loops, args.rounds, args.repeats, args.warmup)
    median = {name: float(np.median(values)) for name, values in times.items()}
    ratio = median_ratio(times["scikit-learn"], times["emkit"])
    flops = 4.0 * n * k * features(d, covariance_type)
    gemm_fraction = float(np.median(flops / times["emkit"] / (loops["gemm"].flops / times["gemm"])))

    fits = {"scikit-learn": lambda: fit_sklearn(X, k, covariance_type, init, args.rounds),
            "emkit": lambda: fit_emkit(X, k, covariance_type, init, args.rounds)}
    models = {name: run() for name, run in fits.items()}
    seconds = {name: median_time(run, args.repeats) for name, run in fits.items()}
    peak = {name: peak_memory(run) for name, run in fits.items()}
    ours_ll, theirs_ll = np.array(models["emkit"].lower_bounds_), np.array(models["scikit-learn"].lower_bounds_)
    relative = float(np.max(np.abs(ours_ll - theirs_ll) / np.abs(theirs_ll)))

    print(f"\n## {covariance_type} covariance: n = {n:,}, d = {d}, k = {k}; median over {args.rounds} interleaved "
          f"rounds of the fastest of {args.repeats} iterations")
    for name in fits:
        print(f"{name:<14} {1e3 * median[name]:9.1f} ms / iteration   fit of {args.rounds} iterations "
              f"{seconds[name]:7.2f} s   peak memory {peak[name] / 2**20:8.1f} MiB")
    target = TARGETS[covariance_type]
    print(f"speed-up {ratio:.1f}x (target >= {target:.0f}x: {verdict(ratio >= target)}); memory emkit/scikit-learn "
          f"{peak['emkit'] / peak['scikit-learn']:.2f} ({verdict(peak['emkit'] <= peak['scikit-learn'])}); "
          f"data X itself {X.nbytes / 2**20:.1f} MiB")
    print(f"log-likelihood per sample after {len(ours_ll)} E-steps: emkit {ours_ll[-1]:.12f}, scikit-learn "
          f"{theirs_ll[-1]:.12f}; largest relative difference over all iterations {relative:.1e} "
          f"(<= {AGREEMENT:g}: {verdict(relative <= AGREEMENT)})")
    print(f"emkit iteration: {flops / 1e9:.2f} GFLOP of matrix products at {flops / median['emkit'] / 1e9:.1f} "
          f"GFLOP/s = {gemm_fraction:.0%} of the float64 GEMM rate "
          f"({loops['gemm'].flops / median['gemm'] / 1e9:.1f} GFLOP/s, measured between the iterations)")
    print(f"emkit iteration {median_ratio(times['emkit'], times['floor']):.2f}x its floor (the two products of "
          f"its E-step passes alone, in its blocks and threads: {1e3 * median['floor']:.1f} ms)")
    throughput(X, models["emkit"], models["scikit-learn"], args.repeats)
    if "missing" in loops:
        missing_ratio = median_ratio(times["missing"], times["emkit"])
        print(f"{MISSING_RATE:.0%} missing values ({np.isnan(holes).any(axis=1).mean():.0%} of rows incomplete): "
              f"emkit {1e3 * median['missing']:.1f} ms / iteration = {missing_ratio:.2f}x its complete-data "
              f"iteration (target <= {MISSING_TARGET:g}x: {verdict(missing_ratio <= MISSING_TARGET)}); peak memory "
              f"of a fit {peak_memory(lambda: fit_emkit(holes, k, covariance_type, init, 2)) / 2**20:.1f} MiB")
    if "float32" in loops:
        single_precision(X, X32, k, covariance_type, init, times, flops, loops, args)
    if args.accelerate:
        acceleration(X, k, covariance_type, init)


def throughput(X, ours, theirs, repeats) -> None:
    n = X.shape[0]
    for method in ("score_samples", "predict_proba"):
        mine = median_time(partial(getattr(ours, method), X), repeats)
        other = median_time(partial(getattr(theirs, method), X), repeats)
        print(f"{method:<14} emkit {n / mine / 1e6:7.2f} M rows/s, scikit-learn {n / other / 1e6:7.2f} M rows/s "
              f"({other / mine:.1f}x)")


def single_precision(X, X32, k, covariance_type, init, times, flops, loops, args) -> None:
    speed_up = median_ratio(times["emkit"], times["float32"])
    fraction = float(np.median(flops / times["float32"] / (loops["gemm32"].flops / times["gemm32"])))
    single = fit_emkit(X32, k, covariance_type, init, args.rounds)
    double = fit_emkit(X, k, covariance_type, init, args.rounds)
    fits: dict[str, list[tuple[float, int]]] = {"float64": [], "float32": []}
    for repeat in range(FIT_REPEATS + 1):          # back to back, alternating; the first pair warms up
        for name, data in (("float64", X), ("float32", X32)):
            began = time.perf_counter()
            model = fit_emkit(data, k, covariance_type, init, CONVERGENCE_MAX_ITER, tol=DEFAULT_TOL)
            if repeat:
                fits[name].append((time.perf_counter() - began, model.n_iter_))
    fit_ratio = float(np.median([double_fit[0] / single_fit[0]
                                 for double_fit, single_fit in zip(fits["float64"], fits["float32"])]))
    fit_seconds = {name: float(np.median([seconds for seconds, _ in runs])) for name, runs in fits.items()}
    fit_iterations = {name: runs[0][1] for name, runs in fits.items()}
    relative = abs(single.lower_bound_ - double.lower_bound_) / abs(double.lower_bound_)
    scale = np.sqrt(double.covariances_.diagonal(axis1=1, axis2=2) if covariance_type == "full"
                    else double.covariances_)
    means_error = float(np.max(np.abs(single.means_ - double.means_) / scale))
    print(f"float32: emkit {1e3 * np.median(times['float32']):.1f} ms / iteration, {speed_up:.2f}x faster than "
          f"float64 (target >= {FLOAT32_TARGET:g}x: {verdict(speed_up >= FLOAT32_TARGET)}), {fraction:.0%} of the "
          f"float32 GEMM rate, {median_ratio(times['float32'], times['floor32']):.2f}x its floor "
          f"({1e3 * np.median(times['floor32']):.1f} ms); accuracy after {args.rounds} iterations: log-likelihood relative difference "
          f"{relative:.1e}, means within {means_error:.1e} standard deviations of the float64 fit")
    print(f"float32: whole fit to convergence (tol = {DEFAULT_TOL:g}, scikit-learn's default) "
          f"{fit_seconds['float32']:.2f} s ({fit_iterations['float32']} iterations) against float64 "
          f"{fit_seconds['float64']:.2f} s ({fit_iterations['float64']} iterations): {fit_ratio:.2f}x faster "
          f"({verdict(fit_ratio >= FLOAT32_TARGET)})")


def acceleration(X, k, covariance_type, init) -> None:
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
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds, median kept (default 7; quick 3)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="back-to-back iterations per round, fastest kept (default 3; quick 2)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed iterations before each contestant's timed ones in a round (default 3)")
    parser.add_argument("--types", nargs="+", default=["full", "diag"], choices=["full", "diag"])
    parser.add_argument("--accelerate", action="store_true", help="also fit to convergence with and without SQUAREM")
    parser.add_argument("--skip", nargs="*", default=[], choices=["missing", "float32"],
                        help="sections to leave out")
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.repeats = args.repeats or (2 if args.quick else 3)
    size = SIZES["quick" if args.quick else "full"]
    print(f"# emkit vs scikit-learn GaussianMixture ({'quick' if args.quick else 'full'} size)")
    print(f"# {machine()}")
    print(f"# load average before the run: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    X = simulate(**size)
    for covariance_type in args.types:
        compare(X, size["k"], covariance_type, args)


if __name__ == "__main__":
    main()
