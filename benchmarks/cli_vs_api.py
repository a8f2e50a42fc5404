"""The ``emkit gmm`` command end to end against the API's fit of the same array.

A CSV file of ``--rows`` rows x 10 columns (default 1,000,000: five Gaussian clusters whose
centres lie ``--separation`` within-cluster standard deviations apart on each axis, the columns in
units from 0.01 to 100; 111 MB, written once into ``--folder``) is fitted with ``-k 5``. With the
default separation 1.5 the clusters overlap and EM takes tens of iterations, as on real data;
``--separation 4`` gives clusters that k-means separates, and EM converges in two iterations
(the least favourable case for the command, whose fixed costs are then a larger share):

* **command**: ``emkit gmm big.csv -k 5 --json`` in a subprocess, timed from start to exit, so
  the interpreter's start, the imports, reading the file, the fit, prediction and printing are
  all counted;
* **API**: ``emkit.GaussianMixture(5, random_state=0, reg_covar=...)`` ``.fit(X)`` on the array
  already in memory (the same settings as the command: its defaults and the floor the command
  scales to the data), in this process after a warm-up fit of a small sample (Numba's compiled
  kernels are cached on disk, so the command does not compile either).

The two alternate ``--rounds`` times (the machine is shared, so each round's ratio is taken
under one load); the median times, the median of the rounds' ratios (target: at most 1.5) and
both log-likelihoods (they must agree to 1e-9 relative: the same answer) are printed.

Run with

    python benchmarks/cli_vs_api.py [--rows 1000000] [--rounds 3] [--separation 1.5] [--folder /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EMKIT = Path(sys.executable).with_name("emkit")
N_FEATURES = 10
N_COMPONENTS = 5
TARGET = 1.5


def write_data(path: Path, n_rows: int, separation: float) -> np.ndarray:
    """Five clusters in 10 dimensions with different scales per column, written as CSV."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=separation, size=(N_COMPONENTS, N_FEATURES))
    labels = rng.integers(N_COMPONENTS, size=n_rows)
    X = (centres[labels] + rng.normal(size=(n_rows, N_FEATURES))) * np.logspace(-2, 2, N_FEATURES)
    if not path.exists():
        header = ",".join(f"x{j}" for j in range(N_FEATURES))
        np.savetxt(path, X, delimiter=",", header=header, comments="", fmt="%.8g")
    return X


def command_time(path: Path) -> tuple[float, dict]:
    """Seconds of ``emkit gmm PATH -k 5 --json`` and its JSON output."""
    start = time.perf_counter()
    done = subprocess.run([str(EMKIT), "gmm", str(path), "-k", str(N_COMPONENTS), "--json"], capture_output=True,
                          text=True, check=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def api_time(X: np.ndarray, reg_covar: float):
    """Seconds of the API's fit of ``X`` with the command's settings, and the estimator."""
    from emkit import GaussianMixture

    start = time.perf_counter()
    estimator = GaussianMixture(N_COMPONENTS, random_state=0, reg_covar=reg_covar).fit(X)
    return time.perf_counter() - start, estimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", default="/tmp")
    parser.add_argument("--separation", type=float, default=1.5)
    args = parser.parse_args()
    path = Path(args.folder) / f"emkit-cli-bench-{args.rows}-{args.separation:g}.csv"
    written = path.exists()
    X = write_data(path, args.rows, args.separation)
    X = np.loadtxt(path, delimiter=",", skiprows=1)   # exactly the numbers the command reads
    print(f"# emkit gmm -k {N_COMPONENTS} on {args.rows:,} x {N_FEATURES}, separation {args.separation:g} "
          f"({path.stat().st_size / 1e6:.0f} MB"
          f"{', reused' if written else ''}); {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    from emkit.cli.units import DEFAULT_RELATIVE_FLOOR, covariance_floor

    reg_covar = covariance_floor(X, DEFAULT_RELATIVE_FLOOR).value
    api_time(X[:2000], reg_covar)   # warm-up: compiled kernels loaded
    commands, apis = [], []
    for round_ in range(args.rounds):
        seconds, payload = command_time(path)
        commands.append(seconds)
        seconds, estimator = api_time(X, reg_covar)
        apis.append(seconds)
        print(f"round {round_ + 1}: command {commands[-1]:.2f} s, API {apis[-1]:.2f} s, ratio {commands[-1] / apis[-1]:.2f} "
              f"({estimator.n_iter_} iterations, converged {estimator.converged_})")
    api_loglik = float(estimator.score(X) * X.shape[0])
    ratio = statistics.median(command / api for command, api in zip(commands, apis))
    difference = abs(payload["loglik"] - api_loglik) / abs(api_loglik)
    print(f"median: command {statistics.median(commands):.2f} s, API fit {statistics.median(apis):.2f} s; "
          f"median ratio {ratio:.2f} (<= {TARGET}: {'MET' if ratio <= TARGET else 'NOT MET'})")
    print(f"log-likelihood: command {payload['loglik']:.10f}, API {api_loglik:.10f}; relative difference "
          f"{difference:.1e} (<= 1e-09: {'MET' if difference <= 1e-9 else 'NOT MET'})")


if __name__ == "__main__":
    main()
