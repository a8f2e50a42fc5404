"""emkit's HMMs against hmmlearn's "scaling" implementation: Baum–Welch iterations, whole fits,
posteriors and Viterbi, with the log-likelihoods of both.

Both libraries get the same data and the same start, in one process; the contestants alternate
(emkit, hmmlearn, emkit, ...) and the fastest of ``--repeats`` runs of each is kept, so that a
busy machine slows both alike. The cases:

* Gaussian emissions, diagonal covariances, 4 features, K = 8 and K = 64 states
  (``covars_prior`` 0 in both, so that the M-steps are the same): one sequence of T steps
  (200,000 for K = 8, 50,000 for K = 64) and 100 sequences of 2,000 (25 for K = 64, where
  hmmlearn takes seconds per iteration);
* categorical emissions, K = 8 states, M = 32 symbols: one sequence of 1,000,000 steps and 100
  sequences of 2,000.

For each: the time per Baum–Welch iteration (a fit of ``--iterations`` iterations, tolerance 0,
divided by the iterations), a whole ``fit`` of one call (data checks, set-up and iterations),
``predict_proba`` (forward–backward posteriors) and ``decode`` (Viterbi) at the fitted
parameters; the ratio hmmlearn / emkit of each; the log-likelihood after the last iteration of
both and their largest relative difference over the iterations; the load average of the machine.
Run with

    python benchmarks/hmm_vs_hmmlearn.py [--iterations 10] [--repeats 3] [--n-jobs N] [--only gaussian|categorical]
                                         [--clock wall|process]

``--n-jobs 1 --clock process`` compares the processor time of one thread against one thread,
which other processes on a busy machine disturb least.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
from hmmlearn import hmm as hmmlearn

import emkit
from emkit.exceptions import ConvergenceWarning

N_FEATURES, N_SYMBOLS = 4, 32
GAUSSIAN_CASES = [(8, "one sequence, T = 200,000", [200_000]), (8, "100 sequences of 2,000", [2_000] * 100),
                  (64, "one sequence, T = 50,000", [50_000]), (64, "25 sequences of 2,000", [2_000] * 25)]
CATEGORICAL_CASES = [(8, "one sequence, T = 1,000,000", [1_000_000]), (8, "100 sequences of 2,000", [2_000] * 100)]


def load() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "n/a"


def sticky_chain(k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return np.full(k, 1.0 / k), 0.9 * np.eye(k) + 0.1 * rng.dirichlet(np.ones(k), size=k)


def gaussian_problem(k: int, lengths: list[int], seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Observations of a sticky k-state HMM with overlapping Gaussian states, and a start away
    from the truth (the same for both libraries)."""
    rng = np.random.default_rng(seed)
    truth = hmmlearn.GaussianHMM(k, "diag")
    truth.startprob_, truth.transmat_ = sticky_chain(k, rng)
    truth.means_ = rng.normal(scale=2.0, size=(k, N_FEATURES))
    truth.covars_ = rng.uniform(0.5, 1.5, size=(k, N_FEATURES))
    X = np.vstack([truth.sample(n, random_state=seed + i)[0] for i, n in enumerate(lengths)])
    start = np.random.default_rng(seed + 1)
    return X, {"startprob": start.dirichlet(np.ones(k)),
               "transmat": 0.5 * np.eye(k) + 0.5 * start.dirichlet(np.ones(k), size=k),
               "means": start.normal(scale=2.0, size=(k, N_FEATURES)), "covars": np.full((k, N_FEATURES), 2.0)}


def categorical_problem(k: int, lengths: list[int], seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Symbols of a sticky k-state HMM whose states favour different symbols, and a start."""
    rng = np.random.default_rng(seed)
    truth = hmmlearn.CategoricalHMM(k, n_features=N_SYMBOLS)
    truth.startprob_, truth.transmat_ = sticky_chain(k, rng)
    truth.emissionprob_ = rng.dirichlet(np.full(N_SYMBOLS, 0.5), size=k)
    X = np.vstack([truth.sample(n, random_state=seed + i)[0] for i, n in enumerate(lengths)])
    start = np.random.default_rng(seed + 1)
    return X, {"startprob": start.dirichlet(np.ones(k)),
               "transmat": 0.5 * np.eye(k) + 0.5 * start.dirichlet(np.ones(k), size=k),
               "emissionprob": start.dirichlet(np.ones(N_SYMBOLS), size=k)}


def make(library: str, kind: str, k: int, iterations: int, n_jobs: int | None):
    """An unfitted model of ``library`` ("emkit" or "hmmlearn") that starts from the set attributes."""
    if kind == "gaussian":
        if library == "emkit":
            return emkit.GaussianHMM(k, "diag", covars_prior=0.0, n_iter=iterations, tol=0.0, init_params="",
                                     n_jobs=n_jobs)
        return hmmlearn.GaussianHMM(k, "diag", covars_prior=0.0, n_iter=iterations, tol=-np.inf, init_params="",
                                    implementation="scaling")
    if library == "emkit":
        return emkit.CategoricalHMM(k, n_features=N_SYMBOLS, n_iter=iterations, tol=0.0, init_params="",
                                    n_jobs=n_jobs)
    return hmmlearn.CategoricalHMM(k, n_features=N_SYMBOLS, n_iter=iterations, tol=-np.inf, init_params="",
                                   implementation="scaling")


def fitted(library, kind, k, iterations, n_jobs, X, lengths, start):
    model = make(library, kind, k, iterations, n_jobs)
    for name, value in start.items():
        setattr(model, f"{name}_", value.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, lengths)


def history(model) -> np.ndarray:
    """The log-likelihood of each iteration's start (hmmlearn's ``monitor_.history``)."""
    return np.array(model.lower_bounds_ if hasattr(model, "lower_bounds_") else model.monitor_.history)


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
clock = CLOCKS["wall"]


def alternate(tasks: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The fastest time of each task over ``repeats`` rounds, the tasks alternating."""
    best = dict.fromkeys(tasks, np.inf)
    for _ in range(repeats):
        for name, task in tasks.items():
            began = clock()
            task()
            best[name] = min(best[name], clock() - began)
    return best


def run_case(kind, k, title, lengths, args) -> None:
    problem = gaussian_problem if kind == "gaussian" else categorical_problem
    X, start = problem(k, lengths)
    warm_X, _ = problem(k, [1_000, 1_000])
    fitted("emkit", kind, k, 2, args.n_jobs, warm_X, [1_000, 1_000], start)   # compile (or load) the kernels first
    print(f"\n## {kind}, K = {k}, {title} (load average {load()})")
    fits = {}

    def fit_task(library, iterations):
        def task():
            fits[library, iterations] = fitted(library, kind, k, iterations, args.n_jobs, X, lengths, start)
        return task

    # per iteration: a fit of `iterations` less a fit of one (set-up and the first E-step out)
    many = alternate({lib: fit_task(lib, args.iterations) for lib in ("emkit", "hmmlearn")}, args.repeats)
    one = alternate({lib: fit_task(lib, 1) for lib in ("emkit", "hmmlearn")}, args.repeats)
    per_iteration = {lib: (many[lib] - one[lib]) / (args.iterations - 1) for lib in many}
    models = {lib: fits[lib, args.iterations] for lib in ("emkit", "hmmlearn")}
    posteriors = alternate({lib: (lambda m=m: m.predict_proba(X, lengths)) for lib, m in models.items()}, args.repeats)
    viterbi = alternate({lib: (lambda m=m: m.decode(X, lengths)) for lib, m in models.items()}, args.repeats)
    rows = [("Baum–Welch iteration", per_iteration), (f"whole fit ({args.iterations} iterations)", many),
            ("posteriors (predict_proba)", posteriors), ("Viterbi (decode)", viterbi)]
    print(f"{'':32}{'emkit':>12}{'hmmlearn':>12}{'ratio':>9}")
    for name, seconds in rows:
        print(f"{name:32}{1e3 * seconds['emkit']:9.1f} ms{1e3 * seconds['hmmlearn']:9.1f} ms"
              f"{seconds['hmmlearn'] / seconds['emkit']:8.1f}x")
    ours, theirs = history(models["emkit"]), history(models["hmmlearn"])
    relative = np.max(np.abs(ours - theirs) / np.abs(theirs))
    print(f"log-likelihood after the last iteration: emkit {ours[-1]:.10f}, hmmlearn {theirs[-1]:.10f}")
    print(f"largest relative difference over all {args.iterations} iterations: {relative:.1e}")
    score = {lib: m.score(X, lengths) for lib, m in models.items()}
    path = {lib: m.decode(X, lengths) for lib, m in models.items()}
    print(f"score at the fitted parameters: relative difference {abs(score['emkit'] / score['hmmlearn'] - 1):.1e}; "
          f"Viterbi log-probability {abs(path['emkit'][0] / path['hmmlearn'][0] - 1):.1e}, "
          f"paths differ in {int(np.sum(path['emkit'][1] != path['hmmlearn'][1]))} steps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10, help="Baum-Welch iterations per fit (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per contestant, fastest kept (default 3)")
    parser.add_argument("--n-jobs", type=int, default=None, help="emkit threads (default: all CPUs)")
    parser.add_argument("--only", choices=("gaussian", "categorical"), default=None, help="one kind of emission")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall time (default) or processor time (for --n-jobs 1)")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    print(f"# emkit vs hmmlearn (implementation='scaling'), {args.iterations} iterations, best of {args.repeats}, "
          f"contestants alternating, {args.clock} time")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, emkit n_jobs={args.n_jobs}, "
          f"load average {load()}")
    cases = ([("gaussian", *case) for case in GAUSSIAN_CASES] * (args.only != "categorical")
             + [("categorical", *case) for case in CATEGORICAL_CASES] * (args.only != "gaussian"))
    for kind, k, title, lengths in cases:
        run_case(kind, k, title, lengths, args)


if __name__ == "__main__":
    main()
