"""Bootstrap replicates of the MLE: refit resampled, simulated or reweighted data sets, generic over models.

Each replicate makes a data set and refits it with :func:`emkit.fit` started at the MLE (so that
mixture components keep their labels, as mclust's ``MclustBootstrap`` does by starting from the
fit's responsibilities). The kinds (mclust's ``type``):

* ``"nonparametric"`` (``bs``): the model's ``resample``, the observations with replacement
  (multinomial resampling for tables of counts);
* ``"parametric"`` (``pb``): the model's ``simulate``, from the fitted model;
* ``"weighted"`` (``wlbs``): the weighted likelihood bootstrap (Newton & Raftery 1994), every
  observation's weight times ``n·D_i`` with ``D ~ Dirichlet(1, ..., 1)`` (the model's ``reweight``;
  mclust scales the same exponential draws by their maximum, which gives the same MLE);
* ``"jackknife"`` (``jk``): ``n`` refits, each with one observation left out (weight 0).

Replicate ``b`` uses its own child of one ``SeedSequence`` (the jackknife needs none), so the
results do not depend on the number of workers.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..engine.estep import n_observations, resample, reweight, simulate
from ..engine.fit import fit
from ..engine.model import EMModel, Params
from ..engine.progress import Progress
from .free import FreeProblem
from .methods import BOOTSTRAP_KINDS as KINDS


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
    """Fit ``n_boot`` bootstrap data sets (see the module docstring; the jackknife fits one per
    observation instead); ``workers > 1`` runs them in that many processes; ``verbose`` counts the
    replicates on a progress display (a :class:`~emkit.engine.progress.Progress`: that one, shared)."""
    tasks = (range(n_observations(problem.model, problem.data)) if kind == "jackknife"
             else seed_sequence(random_state).spawn(n_boot))
    n_tasks = len(tasks)
    one = partial(_replicate, problem.model, problem.data, problem.params, kind, fit_options)
    with Progress.of(verbose) as progress, progress.stage(f"bootstrap ({kind})", total=n_tasks, unit="replicate"):
        if workers == 1:
            outcomes = [_advance(progress, one(task)) for task in tasks]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                chunk = max(1, n_tasks // (8 * workers))
                outcomes = [_advance(progress, outcome) for outcome in pool.map(one, tasks, chunksize=chunk)]
    fitted = [(params, converged) for params, converged in outcomes if params is not None]
    if len(fitted) < 2:
        raise ValueError(f"n_boot: only {len(fitted)} of {n_tasks} bootstrap fits succeeded; nothing to estimate from")
    return BootstrapRun(
        free=np.array([problem.model.to_free(params) for params, _ in fitted]).reshape(len(fitted), -1),
        reported=np.array([problem.reported_of(params) for params, _ in fitted]),
        n_failed=n_tasks - len(fitted),
        n_unconverged=sum(not converged for _, converged in fitted),
    )


def _replicate(model: EMModel, data, params: Params, kind: str, fit_options: dict[str, Any],
               task: np.random.SeedSequence | int) -> tuple[Params | None, bool]:
    """One bootstrap fit from the MLE (``task``: the replicate's seed, or the observation the
    jackknife leaves out); ``(None, False)`` when the fit fails."""
    sample = _data_set(model, data, params, kind, task)
    with warnings.catch_warnings():
        # Per-replicate warnings (convergence, degenerate components) are summarised by the caller.
        warnings.simplefilter("ignore", UserWarning)
        try:
            result = fit(model, sample, init=params, **fit_options)
        except (ValueError, FloatingPointError):
            return None, False
    return result.params, result.converged


def _data_set(model: EMModel, data, params: Params, kind: str, task: np.random.SeedSequence | int):
    """The data set of one replicate of ``kind`` (see the module)."""
    if kind == "jackknife":
        factors = np.ones(n_observations(model, data))
        factors[task] = 0.0
        return reweight(model, data, factors)
    rng = np.random.default_rng(task)
    if kind == "parametric":
        return simulate(model, params, data, rng)
    if kind == "weighted":
        draws = rng.standard_exponential(n_observations(model, data))
        return reweight(model, data, draws * (draws.size / draws.sum()))
    return resample(model, data, rng)


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
