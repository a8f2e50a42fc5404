"""emkit's GaussianHMM against hmmlearn's: time per Baum–Welch iteration and log-likelihoods.

Both fit the same data from the same start (Gaussian emissions, diagonal covariances, 8 states,
4 features; ``covars_prior`` set to 0 in both so that the M-steps are the same) for a fixed number of iterations, on

* one sequence of T = 200,000 steps, and
* 100 sequences of 2,000 steps.

hmmlearn runs with both of its implementations ("scaling" and "log"); the ratio is taken against
the faster one. Each fit is repeated and the fastest repeat kept. Run with

    python benchmarks/hmm_vs_hmmlearn.py [--iterations 10] [--repeats 3] [--n-jobs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
from hmmlearn import hmm as hmmlearn

from emkit import GaussianHMM
from emkit.exceptions import ConvergenceWarning

N_STATES, N_FEATURES = 8, 4
PROBLEMS = {"one sequence, T = 200,000": [200_000], "100 sequences of 2,000": [2_000] * 100}


def simulate(lengths: list[int], seed: int = 0) -> np.ndarray:
    """Observations from a sticky 8-state HMM with overlapping Gaussian states."""
    rng = np.random.default_rng(seed)
    truth = GaussianHMM(N_STATES, "diag")
    truth.startprob_ = np.full(N_STATES, 1.0 / N_STATES)
    truth.transmat_ = 0.9 * np.eye(N_STATES) + 0.1 * rng.dirichlet(np.ones(N_STATES), size=N_STATES)
    truth.means_ = rng.normal(scale=2.0, size=(N_STATES, N_FEATURES))
    truth.covars_ = rng.uniform(0.5, 1.5, size=(N_STATES, N_FEATURES))
    return np.vstack([truth.sample(n, random_state=seed + i)[0] for i, n in enumerate(lengths)])


def start(seed: int = 1) -> dict[str, np.ndarray]:
    """A start away from the truth (the same for both libraries)."""
    rng = np.random.default_rng(seed)
    return {"startprob": rng.dirichlet(np.ones(N_STATES)),
            "transmat": 0.5 * np.eye(N_STATES) + 0.5 * rng.dirichlet(np.ones(N_STATES), size=N_STATES),
            "means": rng.normal(scale=2.0, size=(N_STATES, N_FEATURES)),
            "covars": np.full((N_STATES, N_FEATURES), 2.0)}


def time_emkit(X, lengths, params, iterations, repeats, n_jobs):
    best, model = np.inf, None
    for _ in range(repeats):
        model = GaussianHMM(N_STATES, "diag", covars_prior=0.0, n_iter=iterations, tol=0.0, init_params="",
                            n_jobs=n_jobs)
        for name, value in params.items():
            setattr(model, f"{name}_", value.copy())
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, lengths)
        best = min(best, time.perf_counter() - began)
    # hmmlearn's order of steps: as many E-steps as hmmlearn, the same reported log-likelihoods
    return best / iterations, np.array(model.lower_bounds_)


def time_hmmlearn(X, lengths, params, iterations, repeats, implementation):
    best, model = np.inf, None
    for _ in range(repeats):
        model = hmmlearn.GaussianHMM(N_STATES, "diag", n_iter=iterations, tol=-np.inf, init_params="",
                                     covars_prior=0.0, implementation=implementation)
        for name, value in params.items():
            setattr(model, f"{name}_", value.copy())
        began = time.perf_counter()
        model.fit(X, lengths)
        best = min(best, time.perf_counter() - began)
    return best / iterations, np.array(model.monitor_.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10, help="Baum-Welch iterations per fit (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="fits per library, fastest kept (default 3)")
    parser.add_argument("--n-jobs", type=int, default=None, help="emkit threads (default: all CPUs)")
    args = parser.parse_args()
    print(f"# emkit vs hmmlearn, GaussianHMM diag, {N_STATES} states, {N_FEATURES} features, "
          f"{args.iterations} iterations, best of {args.repeats}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, emkit n_jobs={args.n_jobs}")
    params = start()
    warm = simulate([500, 500])
    time_emkit(warm, [500, 500], params, 2, 1, args.n_jobs)  # compile (or load) the kernels first
    for title, lengths in PROBLEMS.items():
        X = simulate(lengths)
        ours, ours_ll = time_emkit(X, lengths, params, args.iterations, args.repeats, args.n_jobs)
        theirs = {impl: time_hmmlearn(X, lengths, params, args.iterations, args.repeats, impl)
                  for impl in ("scaling", "log")}
        fastest = min(theirs, key=lambda impl: theirs[impl][0])
        their_time, their_ll = theirs[fastest]
        relative = np.max(np.abs(ours_ll - their_ll) / np.abs(their_ll))
        print(f"\n## {title}")
        print(f"emkit                 {1e3 * ours:9.1f} ms / iteration")
        for impl, (seconds, _) in theirs.items():
            print(f"hmmlearn ({impl:<7})    {1e3 * seconds:9.1f} ms / iteration")
        print(f"speed-up vs hmmlearn ({fastest}): {their_time / ours:.1f}x")
        print(f"log-likelihood after the last iteration: emkit {ours_ll[-1]:.10f}, hmmlearn {their_ll[-1]:.10f}")
        print(f"largest relative difference over all {args.iterations} iterations: {relative:.1e}")


if __name__ == "__main__":
    main()
