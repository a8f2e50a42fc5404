"""Bootstrap replicates of the MLE: refit resampled (or simulated) data sets, generic over models.

Each replicate draws a data set with the model's ``resample`` (nonparametric: the observations
with replacement, multinomial resampling for tables of counts) or ``simulate`` (parametric: from
the fitted model) and refits it with :func:`emkit.fit` started at the MLE. Replicate ``b`` uses
its own child of one ``SeedSequence``, so the results do not depend on the number of workers.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..engine.estep import resample, simulate
from ..engine.fit import fit
from ..engine.model import EMModel, Params
from ..engine.progress import Progress
from .free import FreeProblem

KINDS = ("nonparametric", "parametric")


@dataclass
class BootstrapRun:
    """Replicate estimates: ``free[b]`` in the free parameters, ``reported[b]`` flattened
    user-facing; failed replicates (an error in the fit) are left out and counted."""

    free: np.ndarray
    reported: np.ndarray
    n_failed: int
    n_unconverged: int


def bootstrap(problem: FreeProblem, *, n_boot: int, kind: str, random_state, workers: int,
              verbose: bool | Progress, fit_options: dict[str, Any]) -> BootstrapRun:
    """Fit ``n_boot`` bootstrap data sets (see the module docstring); ``workers > 1`` runs them in
    that many processes; ``verbose`` counts the replicates on a progress display (a
    :class:`~emkit.engine.progress.Progress`: that one, shared)."""
    seeds = seed_sequence(random_state).spawn(n_boot)
    one = partial(_replicate, problem.model, problem.data, problem.params, kind == "parametric", fit_options)
    with Progress.of(verbose) as progress, progress.stage(f"bootstrap ({kind})", total=n_boot, unit="replicate"):
        if workers == 1:
            outcomes = [_advance(progress, one(seed)) for seed in seeds]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                chunk = max(1, n_boot // (8 * workers))
                outcomes = [_advance(progress, outcome) for outcome in pool.map(one, seeds, chunksize=chunk)]
    fitted = [(params, converged) for params, converged in outcomes if params is not None]
    if len(fitted) < 2:
        raise ValueError(f"n_boot: only {len(fitted)} of {n_boot} bootstrap fits succeeded; nothing to estimate from")
    return BootstrapRun(
        free=np.array([problem.model.to_free(params) for params, _ in fitted]).reshape(len(fitted), -1),
        reported=np.array([problem.reported_of(params) for params, _ in fitted]),
        n_failed=n_boot - len(fitted),
        n_unconverged=sum(not converged for _, converged in fitted),
    )


def _replicate(model: EMModel, data, params: Params, parametric: bool, fit_options: dict[str, Any],
               seed: np.random.SeedSequence) -> tuple[Params | None, bool]:
    """One bootstrap fit from the MLE; ``(None, False)`` when the fit fails."""
    rng = np.random.default_rng(seed)
    sample = simulate(model, params, data, rng) if parametric else resample(model, data, rng)
    with warnings.catch_warnings():
        # Per-replicate warnings (convergence, degenerate components) are summarised by the caller.
        warnings.simplefilter("ignore", UserWarning)
        try:
            result = fit(model, sample, init=params, **fit_options)
        except (ValueError, FloatingPointError):
            return None, False
    return result.params, result.converged


def _advance(progress: Progress, outcome):
    progress.advance()
    return outcome


def seed_sequence(random_state) -> np.random.SeedSequence:
    """The root of the replicates' seeds: from None, an int, or a draw of a numpy Generator."""
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.SeedSequence(random_state)
    raise ValueError(f"random_state: expected None, an int or a numpy Generator, got {random_state!r}")
