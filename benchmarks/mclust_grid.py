"""mclust's whole model grid against scikit-learn's four covariance types, and what each model costs.

For each data set (iris, 150 x 4, and a simulated 5,000 x 4 of four correlated Gaussian clusters
centred away from the origin) this process times, one fit after another:

* **mclust grid**: emkit's ``GaussianMixture(G, covariance_type=m, init_params="hc")`` for mclust's
  14 multivariate models ``m`` and ``G = 1..9`` (126 fits; the hierarchical tree is grown once per
  data set and cached: its time is shown apart and added to the grid's), as
  ``Mclust(X)`` fits them;
* **scikit-learn**: ``sklearn.mixture.GaussianMixture(G, covariance_type=t, random_state=0)`` for its
  four types and ``G = 1..9`` (36 fits, its default k-means start, ``n_init=1``);
* **emkit, the four**: the same four models as the mclust grid fits them (VVV, EEE, VVI, VII with
  the hc start), for a like-for-like per-fit ratio.

emkit's fits take ``random_state=0`` as ``gmm_select`` does: above 2,000 rows the tree is grown on a
random subset (mclust's ``subset``), so a seed keeps one subset, and one cached tree, for the grid
(without one, each fit draws its own subset and regrows its tree: 1.2 s here at 5,000 rows).
Every fit uses ``tol=1e-5`` (per row, both libraries' rule), ``max_iter=1000`` and
``reg_covar=1e-6`` (scikit-learn's default, so that both fit the same things). A fit that fails
(mclust's NA: a component collapses) is counted with its time and listed. The printout gives the
totals, the ratios, the best BIC of each grid (mclust's sign, higher is better) with its
log-likelihood, and per model the time per fit and per EM iteration relative to VVV (summed
over ``G``).

Run with

    python benchmarks/mclust_grid.py [--rows 5000] [--quick]

``--quick`` (a smoke run): G = 1..3 and 1,000 rows.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
import warnings

import numpy as np


def simulated(rows: int, seed: int = 0) -> np.ndarray:
    """``rows`` x 4 from four Gaussians with correlated covariances of varying size, centred at 10."""
    rng = np.random.default_rng(seed)
    centres = 10.0 + np.array([[0, 0, 0, 0], [3, 0, 0, 3], [0, 3, 3, 0], [3, 3, -3, -3]], dtype=float)
    parts = []
    for k, centre in enumerate(centres):
        root = rng.normal(size=(4, 4)) * 0.5 + np.eye(4) * (1.0 + 0.3 * k)
        parts.append(centre + rng.normal(size=(rows // 4, 4)) @ root.T * 0.6)
    return np.concatenate(parts)


def timed_fit(make, X):
    """(fitted estimator or None, seconds, error message or None)."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = make().fit(X)
        return fitted, time.perf_counter() - start, None
    except ValueError as error:
        return None, time.perf_counter() - start, str(error).split(".")[0]


def mclust_bic(fitted, X) -> float:
    """``2ℓ − p log n`` (mclust's sign)."""
    return -fitted.bic(X)


def run(name: str, X: np.ndarray, Gs: list[int]) -> None:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from emkit import GaussianMixture
    from emkit.kernels.covariance_types import mclust_types
    from emkit.kernels.hierarchical import _trees, mclust_start_labels

    models = mclust_types(X.shape[1])
    common = dict(tol=1e-5, max_iter=1000, reg_covar=1e-6)
    print(f"\n== {name}: n = {len(X)}, d = {X.shape[1]}, G = {Gs[0]}..{Gs[-1]}")

    _trees.clear()
    start = time.perf_counter()
    mclust_start_labels(X, 1, np.random.default_rng(0))
    tree_seconds = time.perf_counter() - start   # kept in the cache for the grid's fits

    emkit_rows = []
    for model in models:
        for G in Gs:
            fitted, seconds, error = timed_fit(
                lambda: GaussianMixture(G, covariance_type=model, init_params="hc", random_state=0, **common), X)
            emkit_rows.append((model, G, fitted, seconds, error))
    sk_rows = []
    for covariance_type in ("full", "tied", "diag", "spherical"):
        for G in Gs:
            fitted, seconds, error = timed_fit(
                lambda: SkGaussianMixture(G, covariance_type=covariance_type, random_state=0, **common), X)
            sk_rows.append((covariance_type, G, fitted, seconds, error))

    grid_time = tree_seconds + sum(row[3] for row in emkit_rows)
    sk_time = sum(row[3] for row in sk_rows)
    four = {"VVV", "EEE", "VVI", "VII"}
    four_time = sum(row[3] for row in emkit_rows if row[0] in four)
    print(f"hc tree (grown once, cached): {tree_seconds:.3f} s")
    print(f"emkit mclust grid ({len(emkit_rows)} fits): {grid_time:.2f} s")
    print(f"emkit, VVV/EEE/VVI/VII only ({len(Gs) * 4} fits): {four_time:.2f} s")
    print(f"scikit-learn, four types ({len(sk_rows)} fits): {sk_time:.2f} s")
    print(f"ratio grid / scikit-learn: {grid_time / sk_time:.2f}; emkit four / scikit-learn four: "
          f"{four_time / sk_time:.2f}")
    failed = [f"{model},{G}" for model, G, fitted, _, _ in emkit_rows if fitted is None]
    print(f"emkit fits that failed (mclust's NA): {', '.join(failed) or 'none'}")
    sk_failed = [f"{t},{G}" for t, G, fitted, _, _ in sk_rows if fitted is None]
    print(f"scikit-learn fits that failed: {', '.join(sk_failed) or 'none'}")

    best = max((row for row in emkit_rows if row[2] is not None), key=lambda row: mclust_bic(row[2], X))
    sk_best = max((row for row in sk_rows if row[2] is not None), key=lambda row: mclust_bic(row[2], X))
    print(f"best of the mclust grid: {best[0]},{best[1]}  BIC {mclust_bic(best[2], X):.4f}  "
          f"log-lik {best[2].score(X) * len(X):.4f}")
    print(f"best of scikit-learn's:  {sk_best[0]},{sk_best[1]}  BIC {mclust_bic(sk_best[2], X):.4f}  "
          f"log-lik {sk_best[2].score(X) * len(X):.4f}")

    per_model = {}
    for model, G, fitted, seconds, error in emkit_rows:
        entry = per_model.setdefault(model, [0.0, 0, 0])
        if fitted is not None:
            entry[0] += seconds
            entry[1] += 1
            entry[2] += fitted.n_iter_
    vvv_fit = per_model["VVV"][0] / per_model["VVV"][1]
    vvv_iter = per_model["VVV"][0] / per_model["VVV"][2]
    print(f"{'model':<6} {'fits':>4} {'iters':>6} {'ms/fit':>8} {'ms/iter':>8} {'fit/VVV':>8} {'iter/VVV':>8}")
    for model in models:
        seconds, fits, iterations = per_model[model]
        if not fits:
            print(f"{model:<6} {0:>4}")
            continue
        print(f"{model:<6} {fits:>4} {iterations:>6} {1e3 * seconds / fits:>8.2f} {1e3 * seconds / iterations:>8.3f} "
              f"{seconds / fits / vvv_fit:>8.2f} {seconds / iterations / vvv_iter:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import sklearn
    from sklearn.datasets import load_iris

    import emkit

    Gs = list(range(1, 4)) if args.quick else list(range(1, 10))
    rows = 1000 if args.quick else args.rows
    print(f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"emkit from {emkit.__file__}")
    from emkit import GaussianMixture   # warm-up: Numba's kernels load from the disk cache

    GaussianMixture(2, covariance_type="VEV", init_params="hc").fit(load_iris().data[:60])
    run("iris", load_iris().data, Gs)
    run(f"simulated {rows} x 4", simulated(rows), Gs)


if __name__ == "__main__":
    main()
