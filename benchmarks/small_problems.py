"""emkit against scikit-learn on small Gaussian mixtures, whole fits and repeated fits (issue 20).

Both libraries run in this one process on the same data, alternating (emkit, scikit-learn,
emkit, ...), and each time is the best of ``--repeats`` (the machine is shared: the fastest run
is the one least disturbed). Printed, with the load average before and after:

* **whole fits** of n = 1,000 rows, d = 2, k = 3 (three unit Gaussians) and of the seed's example
  (``emkit.datasets.synthetic_gmm(400)``, k = 4):

  - *defaults*: ``GaussianMixture(k, random_state=0).fit(X)`` of each library (each its own
    k-means start; the final log-likelihoods are printed, not compared);
  - *same start*: both from the same weights, means and precisions to ``tol=1e-6`` under
    scikit-learn's per-sample rule (emkit's default rule for this face), with the final
    log-likelihoods (must agree to 1e-12 relative) and the iteration counts (equal);

* **per-iteration fixed cost** of emkit: the time of one EM iteration of a whole fit
  (``tol=0``, a fixed number of iterations, the fit's own set-up subtracted by fitting twice as
  many) at n = 1,000 and at n = 64, extrapolated to n = 0;

* **model selection**: ``emkit.gmm_select`` over k = 1..6 and the four covariance types on the
  seed's data against the same loop of scikit-learn fits and ``bic`` (one process), with
  ``n_jobs=1`` and ``n_jobs=2`` (the tables must be identical);

* **bootstrap**: 1,000 nonparametric replicates of the seed's 4-component fit
  (``emkit.standard_errors(..., method="bootstrap")``, each refit from the MLE to ``tol=1e-6``
  per sample) against the same loop with scikit-learn on the same resampled rows (the
  replicates' seeds are those of :mod:`emkit.inference.bootstrap`), with ``workers=1`` and 2
  (the replicates must be identical).

``--quick`` (a smoke run of a few seconds): fewer repeats, 100 bootstrap replicates, k = 1..3 in
the grid. Threads: both libraries run with their defaults (BLAS and OpenMP may use every core);
``--single-thread`` limits both to one thread (``threadpoolctl``) and times CPU time
(``time.process_time``) instead of wall time. With processes (``n_jobs=2``, ``workers=2``) the
time is always wall time (model selection and bootstrap are timed by the wall clock).

``--threshold``: only the measurements behind the dispatch between the compiled E-step of small
blocks and the product form (:data:`emkit.kernels.gaussian_small.COMPILED_BUDGET_NS`).

    python benchmarks/small_problems.py [--quick] [--repeats 7] [--single-thread] [--threshold]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import time
import warnings
from contextlib import contextmanager, nullcontext

import numpy as np
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from threadpoolctl import threadpool_limits

import emkit
from emkit import GaussianMixture, datasets, gmm_select
from emkit.engine import PerSampleChange
from emkit.inference.bootstrap import seed_sequence

SAME_START_TOL = 1e-6
AGREEMENT = 1e-12
GRID_TYPES = ("full", "tied", "diag", "spherical")


def load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return (f"{fields.get('Model name', '?').strip()} (family {fields.get('CPU family', '?').strip()}, "
                f"model {fields.get('Model', '?').strip()}), {os.cpu_count()} CPUs")
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"


def three_gaussians(n: int = 1000, seed: int = 0) -> np.ndarray:
    """``n`` rows from three unit Gaussians at (0, 0), (4, 0), (0, 4)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    return centres[rng.integers(0, 3, n)] + rng.standard_normal((n, 2))


def same_start(X: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Equal weights, ``k`` spread-out rows as means, the data's precision for every component."""
    rows = np.linspace(0, X.shape[0] - 1, k).astype(int)
    precision = np.linalg.inv(np.cov(X, rowvar=False))
    return {"weights_init": np.full(k, 1.0 / k), "means_init": X[rows].copy(),
            "precisions_init": np.stack([precision] * k)}


#: The clock: wall time (threads at their defaults), or this process's CPU time with one thread
#: (``--single-thread``: every thread's work counted, none of another process's).
CLOCK = {"clock": time.perf_counter}

#: Seconds of rest before each wall-clock run: OpenBLAS's and OpenMP's worker threads spin for
#: about 0.1 s after a multithreaded call, which would slow whatever runs next on 2 cores.
PAUSE = 0.2


def best_alternating(contestants: dict, repeats: int, clock=None) -> dict[str, float]:
    """Best time of each contestant, the contestants alternating in every round (``clock``:
    :data:`CLOCK`'s by default)."""
    clock = clock or CLOCK["clock"]
    best = {name: math.inf for name in contestants}
    for _ in range(repeats):
        for name, run in contestants.items():
            if clock is time.perf_counter:
                time.sleep(PAUSE)   # the previous contestant's BLAS and OpenMP threads stop spinning
            start = clock()
            run()
            best[name] = min(best[name], clock() - start)
    return best


@contextmanager
def quiet():
    """Warnings of the contestants (non-convergence of capped fits, bootstrap notes) not shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------------------ whole fits
def whole_fits(name: str, X: np.ndarray, k: int, repeats: int) -> None:
    emkit_default = lambda: GaussianMixture(k, random_state=0).fit(X)       # noqa: E731
    sklearn_default = lambda: SklearnGaussianMixture(k, random_state=0).fit(X)  # noqa: E731
    times = best_alternating({"emkit": emkit_default, "sklearn": sklearn_default}, repeats)
    ours, theirs = emkit_default(), sklearn_default()
    print(f"{name} defaults:   emkit {times['emkit'] * 1e3:7.2f} ms  scikit-learn {times['sklearn'] * 1e3:7.2f} ms  "
          f"ratio {times['sklearn'] / times['emkit']:5.2f}x  (iterations {ours.n_iter_} / {theirs.n_iter_}; "
          f"log-lik/n {ours.lower_bound_:.12f} / {theirs.lower_bound_:.12f})")
    start = same_start(X, k)
    emkit_same = lambda: GaussianMixture(k, tol=SAME_START_TOL, max_iter=10_000, **start).fit(X)   # noqa: E731
    sklearn_same = lambda: SklearnGaussianMixture(k, tol=SAME_START_TOL, max_iter=10_000, **start).fit(X)  # noqa: E731
    times = best_alternating({"emkit": emkit_same, "sklearn": sklearn_same}, repeats)
    ours, theirs = emkit_same(), sklearn_same()
    relative = abs(ours.lower_bound_ - theirs.lower_bound_) / abs(theirs.lower_bound_)
    verdict = "ok" if relative <= AGREEMENT and ours.n_iter_ == theirs.n_iter_ else "DISAGREE"
    print(f"{name} same start: emkit {times['emkit'] * 1e3:7.2f} ms  scikit-learn {times['sklearn'] * 1e3:7.2f} ms  "
          f"ratio {times['sklearn'] / times['emkit']:5.2f}x  (iterations {ours.n_iter_} / {theirs.n_iter_}; "
          f"log-lik rel. difference {relative:.1e} {verdict})")


def fixed_cost(repeats: int) -> None:
    """emkit's time per iteration at n = 1,000 and n = 64 (d = 2, k = 3), extrapolated to n = 0:
    the time of a fit of 60 iterations less that of 30 (``tol=0``; the set-up cancels), over the
    difference of their iteration counts."""
    per_iteration = {}
    for n in (64, 1000):
        X = three_gaussians(n, seed=1)
        start = same_start(X, 3)
        fits = {iterations: (lambda it=iterations: GaussianMixture(3, tol=0.0, max_iter=it, **start).fit(X))
                for iterations in (30, 60)}
        with quiet():
            times = best_alternating(fits, 2 * repeats)
            done = {iterations: fit().n_iter_ for iterations, fit in fits.items()}
        per_iteration[n] = (times[60] - times[30]) / max(done[60] - done[30], 1)
    slope = (per_iteration[1000] - per_iteration[64]) / (1000 - 64)
    intercept = per_iteration[64] - 64 * slope
    print(f"emkit per iteration (d=2, k=3): n=64 {per_iteration[64] * 1e3:.3f} ms, n=1000 "
          f"{per_iteration[1000] * 1e3:.3f} ms; fixed cost (n -> 0) {intercept * 1e3:.3f} ms (target < 0.1 ms)")


# ------------------------------------------------------------------------------ repeated fits
def sklearn_grid(X: np.ndarray, ks, types) -> list[tuple]:
    rows = []
    for covariance_type in types:
        for k in ks:
            model = SklearnGaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
            rows.append((k, covariance_type, model.bic(X)))
    return rows


def selection(X: np.ndarray, ks, repeats: int) -> None:
    runs = {"emkit": lambda: gmm_select(X, ks, GRID_TYPES, n_jobs=1),
            "emkit n_jobs=2": lambda: gmm_select(X, ks, GRID_TYPES, n_jobs=2),
            "sklearn": lambda: sklearn_grid(X, ks, GRID_TYPES)}
    with quiet():
        times = best_alternating(runs, repeats, time.perf_counter)
        one, two = gmm_select(X, ks, GRID_TYPES, n_jobs=1), gmm_select(X, ks, GRID_TYPES, n_jobs=2)
    identical = one.table == two.table
    print(f"gmm_select k={ks[0]}..{ks[-1]} x {len(GRID_TYPES)} types ({len(ks) * len(GRID_TYPES)} fits): "
          f"emkit {times['emkit'] * 1e3:.0f} ms, n_jobs=2 {times['emkit n_jobs=2'] * 1e3:.0f} ms; scikit-learn loop "
          f"{times['sklearn'] * 1e3:.0f} ms; ratio {times['sklearn'] / times['emkit']:.2f}x "
          f"({times['sklearn'] / times['emkit n_jobs=2']:.2f}x with 2 processes); "
          f"tables of n_jobs=1 and 2 identical: {identical}")


def bootstrap(X: np.ndarray, k: int, n_boot: int, repeats: int) -> None:
    fitted = GaussianMixture(k, tol=1e-10, max_iter=10_000, random_state=0).fit(X)
    n = X.shape[0]
    options = {"stopping": PerSampleChange(SAME_START_TOL, float(n)), "max_iter": 10_000}
    start = {"weights_init": fitted.weights_, "means_init": fitted.means_, "precisions_init": fitted.precisions_}

    def ours(workers: int):
        return emkit.standard_errors(fitted.result_, X, "bootstrap", n_boot=n_boot, random_state=0, workers=workers,
                                     fit_options=options)

    def theirs():
        estimates = []
        for child in seed_sequence(0).spawn(n_boot):   # the rows emkit's replicates resample
            rows = np.random.default_rng(child).integers(0, n, size=n)
            model = SklearnGaussianMixture(k, tol=SAME_START_TOL, max_iter=10_000, **start).fit(X[rows])
            estimates.append(model.means_.ravel())
        return np.array(estimates)

    runs = {"emkit": lambda: ours(1), "emkit workers=2": lambda: ours(2), "sklearn": theirs}
    with quiet():
        times = best_alternating(runs, repeats, time.perf_counter)
        one, two = ours(1), ours(2)
        reference = theirs()
    identical = bool(np.array_equal(one.cov, two.cov))
    ours_se = np.ravel(one.se["means"])
    theirs_se = reference.std(axis=0, ddof=1)
    print(f"bootstrap {n_boot} replicates (n={n}, k={k}): emkit {times['emkit']:.2f} s, workers=2 "
          f"{times['emkit workers=2']:.2f} s; scikit-learn loop {times['sklearn']:.2f} s; ratio "
          f"{times['sklearn'] / times['emkit']:.2f}x ({times['sklearn'] / times['emkit workers=2']:.2f}x with 2 "
          f"processes); workers=1 and 2 identical: {identical}; standard errors of the means, largest relative "
          f"difference from the scikit-learn replicates' spread: {np.max(np.abs(ours_se / theirs_se - 1)):.1e}")


def threshold(repeats: int) -> None:
    """The dispatch's measurements: one block's E-step by the compiled pass and by the product
    form (its terms made once, as per E-step), CPU time, for blocks of 256, 1,024 and 4,096
    rows; and which one :func:`~emkit.kernels.gaussian_small.small_pass_applies` picks."""
    from emkit.kernels import gaussian_mixture_estep as product
    from emkit.kernels.covariance_structures import covariance_structure
    from emkit.kernels.gaussian_mixture_missing import missing_layout
    from emkit.kernels.gaussian_small import small_mixture_pass, small_pass_applies
    from emkit.kernels.parallel import single_threaded_blas

    rng = np.random.default_rng(0)
    for covariance_type in ("full", "diag"):
        structure = covariance_structure(covariance_type)
        for d, k in [(2, 3), (2, 16), (4, 4), (8, 8), (16, 16)]:
            cells = []
            for rows in (256, 1024, 4096):
                X = rng.normal(size=(rows, d))
                centre, weights, means = X.mean(axis=0), np.full(k, 1.0 / k), X[:k].copy()
                cov = np.stack([np.eye(d)] * k) if covariance_type == "full" else np.ones((k, d))
                layout = missing_layout(X)

                def compiled():
                    small_mixture_pass(X, None, centre, weights, means, cov, structure)

                def products():
                    terms = product.mixture_terms(weights, means, cov, covariance_type, centre)
                    with single_threaded_blas():
                        product.BlockPass(terms, np.dtype(np.float64))(X, layout, None)

                times = best_alternating({"compiled": compiled, "product": products},
                                         max(repeats, 20_000 // rows), time.process_time)
                pick = "compiled" if small_pass_applies(X, True, k, structure) else "product"
                cells.append(f"{rows}: {times['compiled'] * 1e6:6.0f} / {times['product'] * 1e6:6.0f} us "
                             f"({times['product'] / times['compiled']:4.1f}x, picks {pick})")
            print(f"{covariance_type:5s} d={d:<2d} k={k:<2d} compiled / product form, rows " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per measurement (default 7; quick 3)")
    parser.add_argument("--single-thread", action="store_true", help="limit BLAS and OpenMP to one thread")
    parser.add_argument("--threshold", action="store_true",
                        help="only the measurements behind the compiled pass's dispatch (one thread)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    if args.single_thread:
        CLOCK["clock"] = time.process_time
    print(f"CPU: {cpu_name()}; emkit {emkit.__version__}, numpy {np.__version__}, "
          f"scikit-learn {__import__('sklearn').__version__}; load average {load()}")
    if args.threshold:
        with threadpool_limits(1):
            threshold(repeats)
        return
    seed, _, _ = datasets.synthetic_gmm(400, random_state=0)
    with threadpool_limits(1) if args.single_thread else nullcontext(), quiet():
        for covariance_type in GRID_TYPES:   # compile (or load) the kernels first
            GaussianMixture(3, covariance_type=covariance_type, max_iter=2).fit(three_gaussians())
        whole_fits("n=1000 d=2 k=3", three_gaussians(), 3, repeats)
        whole_fits("seed n=400 k=4", seed, 4, repeats)
        fixed_cost(repeats)
        selection(seed, list(range(1, 4 if args.quick else 7)), repeats)
        bootstrap(seed, 4, 100 if args.quick else 1000, 2 if args.quick else 3)
    print(f"load average {load()}")


if __name__ == "__main__":
    main()
