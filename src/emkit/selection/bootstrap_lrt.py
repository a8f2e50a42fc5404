"""``emkit.bootstrap_lrt``: mclust's sequential bootstrap likelihood-ratio test for the number of
components of a Gaussian mixture (``mclustBootstrapLRT``; McLachlan 1987).

For ``G = 1, 2, ...`` the statistic ``LRTS = 2(ℓ_{G+1} − ℓ_G)`` of the fitted ``G`` and ``G+1``
component models is compared with its distribution under ``H0: G components``, estimated by
refitting both models to ``n_boot`` data sets simulated from the fitted ``G``-component model
(each refit started at the corresponding fit, as mclust does). The bootstrap p-value is
``(1 + #{LRTS*_b ≥ LRTS}) / (B + 1)`` over the ``B`` valid replicates, and the sequence stops at the
first test that does not reject at ``level``.
"""

from __future__ import annotations

import copy
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..density import simulate
from ..engine.progress import Progress
from ..estimators._validation import check_array
from ..estimators.gaussian_mixture import GaussianMixture
from ..inference.bootstrap import seed_sequence
from ..validation import check_integer, check_real

#: Draws of a replicate whose refits fail (a component collapses) before it counts as failed.
MAX_DRAWS = 10


@dataclass
class BootstrapLRT:
    """The tests of ``G`` against ``G + 1`` components, in order, up to the first not rejected.

    Attributes
    ----------
    covariance_type : str
        The covariance model of every fit.
    n_components : ndarray of int
        ``G`` of each test (the null model's number of components).
    statistic : ndarray
        The observed ``LRTS = 2(ℓ_{G+1} − ℓ_G)`` of each test.
    p_values : ndarray
        Bootstrap p-values ``(1 + #{LRTS* ≥ LRTS}) / (B + 1)``.
    replicates : ndarray of shape (n_boot, n_tests)
        The bootstrap statistics (NaN for a replicate that failed :data:`MAX_DRAWS` times).
    n_boot, level : int, float
        Replicates per test and the significance level.
    """

    covariance_type: str
    n_components: np.ndarray
    statistic: np.ndarray
    p_values: np.ndarray
    replicates: np.ndarray = field(repr=False)
    n_boot: int
    level: float

    @property
    def selected_components(self) -> int:
        """The number of components the sequence settles on: the null model of the first test not
        rejected (one more than the last test's when every test rejects)."""
        rejected = self.p_values <= self.level
        return int(self.n_components[-1] + 1 if rejected.all() else self.n_components[np.argmin(rejected)])

    @property
    def table(self) -> list[dict[str, Any]]:
        """One row per test: ``n_components`` (G), ``alternative`` (G + 1), ``lrts``, ``p_value``."""
        return [{"n_components": int(g), "alternative": int(g) + 1, "lrts": float(s), "p_value": float(p)}
                for g, s, p in zip(self.n_components, self.statistic, self.p_values)]

    def __str__(self) -> str:
        lines = ["Bootstrap sequential LRT for the number of mixture components", "-" * 61,
                 f"{'Model':<12} = {self.covariance_type}", f"{'Replicates':<12} = {self.n_boot}",
                 f"{'':<9}{'LRTS':>12}  {'bootstrap p-value':>17}"]
        lines += [f"{f'{g} vs {g + 1}':<9}{s:>12.4f}  {p:>17.4g}"
                  for g, s, p in zip(self.n_components, self.statistic, self.p_values)]
        return "\n".join(lines)


def bootstrap_lrt(X, covariance_type: str = "full", max_components: int = 8, n_boot: int = 999, level: float = 0.05,
                  random_state: int | np.random.Generator | None = None, n_jobs: int | None = None, *,
                  verbose: bool | Progress = False, **estimator_params: Any) -> BootstrapLRT:
    """Sequential parametric bootstrap test of ``G`` vs ``G + 1`` components (see the module).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data.
    covariance_type : str
        Any covariance model of :class:`~emkit.GaussianMixture` (mclust's modelName).
    max_components : int
        The largest null model tested (mclust's ``maxG``; the last test is ``max_components``
        vs ``max_components + 1``). Default 8: mclust's grid G = 1..9.
    n_boot : int
        Bootstrap replicates per test.
    level : float
        Significance level; the sequence stops at the first p-value above it.
    random_state : int or numpy Generator, optional
        Seeds the fits' starts and, with one seed per replicate, the simulations: results are
        bit-identical for any ``n_jobs``.
    n_jobs : int, optional
        Processes that run the replicates (None: 1; -1: one per CPU).
    verbose : bool or Progress
        Count the replicates of each test on a progress display.
    **estimator_params
        Passed to every :class:`~emkit.GaussianMixture` (e.g. ``init_params="hc"``, ``tol``,
        ``reg_covar``, ``n_init``).

    Returns
    -------
    BootstrapLRT
        The table of tests (``print`` shows it as mclust does).
    """
    max_components = check_integer(max_components, "max_components", low=1)
    n_boot = check_integer(n_boot, "n_boot", low=1)
    level = check_real(level, "level", low=0.0, low_open=True)
    if level >= 1:
        raise ValueError(f"level: must lie in (0, 1), got {level!r}")
    workers = _workers(n_jobs)
    if "random_state" in estimator_params:
        raise ValueError("random_state: pass it to bootstrap_lrt itself (it seeds the fits and the replicates)")
    X = check_array(X, estimator_name="bootstrap_lrt", ensure_min_samples=2)
    root = seed_sequence(random_state)
    fit_seed = int(root.spawn(1)[0].generate_state(1)[0])

    def fitted(g: int) -> GaussianMixture:
        return GaussianMixture(g, covariance_type=covariance_type, random_state=fit_seed, **estimator_params).fit(X)

    tests, statistics, p_values, replicates = [], [], [], []
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        with Progress.of(verbose) as progress:
            null = fitted(1)
            for g in range(1, max_components + 1):
                alternative = fitted(g + 1)
                observed = 2.0 * len(X) * (alternative.score(X) - null.score(X))
                seeds = root.spawn(1)[0].spawn(n_boot)
                one = partial(_replicate, null, alternative, len(X))
                with progress.stage(f"bootstrap LRT {g} vs {g + 1}", total=n_boot, unit="replicate"):
                    outcomes = (map(one, seeds) if pool is None
                                else pool.map(one, seeds, chunksize=max(1, n_boot // (8 * workers))))
                    boot = np.array([_counted(progress, value) for value in outcomes])
                valid = boot[np.isfinite(boot)]
                tests.append(g)
                statistics.append(observed)
                p_values.append((1 + np.sum(valid >= observed)) / (valid.size + 1))
                replicates.append(boot)
                if p_values[-1] > level:
                    break
                null = alternative
    finally:
        if pool is not None:
            pool.shutdown()
    return BootstrapLRT(covariance_type=covariance_type, n_components=np.array(tests), statistic=np.array(statistics),
                        p_values=np.array(p_values), replicates=np.column_stack(replicates), n_boot=n_boot,
                        level=level)


def _replicate(null: GaussianMixture, alternative: GaussianMixture, n: int, seed: np.random.SeedSequence) -> float:
    """``2(ℓ*_{G+1} − ℓ*_G)`` on a data set simulated from ``null``, each model refitted from its
    fit; a draw whose refit fails is replaced by the next draw (NaN after :data:`MAX_DRAWS`)."""
    rng = np.random.default_rng(seed)
    for _ in range(MAX_DRAWS):
        sample = simulate(null, n, rng)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")   # per-replicate convergence notes
                logliks = [_refit(model, sample) for model in (null, alternative)]
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        statistic = 2.0 * (logliks[1] - logliks[0])
        if np.isfinite(statistic):
            return float(statistic)
    return float("nan")


def _refit(model: GaussianMixture, sample: np.ndarray) -> float:
    """``ℓ`` of ``model`` refitted to ``sample`` from its fitted parameters."""
    refit = copy.deepcopy(model).set_params(warm_start=True, n_init=1, progress=False)
    return refit.fit(sample).score(sample) * len(sample)


def _counted(progress: Progress, value: float) -> float:
    progress.advance()
    return value


def _workers(n_jobs: int | None) -> int:
    if n_jobs is None:
        return 1
    if n_jobs == -1:
        return os.cpu_count() or 1
    return check_integer(n_jobs, "n_jobs", low=1)
