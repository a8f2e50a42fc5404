"""Choosing a Gaussian mixture like R's mclust: fit a grid, tabulate BIC, AIC and ICL, keep the best.

For each number of components ``k`` and covariance structure the mixture is fitted by EM and
scored with ``ℓ`` (observed-data log-likelihood at the estimates), ``p`` free parameters and
``n = Σ w_i``:

* ``BIC = −2ℓ + p log n``, ``AIC = −2ℓ + 2p``;
* ``ICL = BIC − 2 Σ_i w_i log r_{i,ĉ_i}`` (Biernacki, Celeux & Govaert 2000, with the MAP
  classification ``ĉ_i`` as in mclust), which also penalises overlapping components.

All three are "lower is better" (mclust reports ``−BIC``, "higher is better").
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Iterable

import numpy as np

from ..engine.progress import Progress
from ..estimators.gaussian_mixture import GaussianMixture
from ..kernels.covariance_structures import covariance_structure
from ..kernels.covariance_types import COVARIANCE_TYPES, KNOWN_COVARIANCE_TYPES, mclust_types
from ..kernels.gaussian_small import small_log_joint, small_pass_applies
from ..models.gaussian_mixture import prepare_data, shared_starts
from ..validation import check_integer

CRITERIA = ("bic", "aic", "icl")


@dataclass
class SelectionResult:
    """The table of fitted candidates and the best one.

    Attributes
    ----------
    table : list of dict
        One row per candidate: ``n_components``, ``covariance_type``, ``loglik``,
        ``n_parameters``, ``bic``, ``aic``, ``icl``, ``converged``, ``n_iter`` and ``error`` (the
        message when the fit failed, e.g. a collapsed component; its criteria are then NaN and
        it is never chosen).
    criterion : str
        The criterion that chose ``best``.
    best : GaussianMixture
        The chosen fitted estimator.
    best_row : dict
        Its row of the table.
    models : dict
        Every fitted estimator by ``(n_components, covariance_type)``.
    """

    table: list[dict[str, Any]]
    criterion: str
    best: GaussianMixture
    best_row: dict[str, Any]
    models: dict[tuple[int, str], GaussianMixture] = field(repr=False)

    def to_text(self, mclust_sign: bool = False) -> str:
        """The table as aligned text, the best row marked with ``*``; ``mclust_sign``: the criteria
        negated as mclust prints them (``2ℓ − p log n``, higher is better)."""
        sign = -1.0 if mclust_sign else 1.0
        names = ("-BIC", "-AIC", "-ICL") if mclust_sign else ("BIC", "AIC", "ICL")
        header = (f"{'k':>3} {'covariance':<10} {'log-lik':>14} {'params':>6} {names[0]:>14} {names[1]:>14} "
                  f"{names[2]:>14}")
        lines = [header]
        for row in self.table:
            mark = "*" if row is self.best_row else " "
            if row["error"]:
                lines.append(f"{row['n_components']:>3} {row['covariance_type']:<10} failed: {row['error']}")
                continue
            lines.append(f"{row['n_components']:>3} {row['covariance_type']:<10} {row['loglik']:>14.4f} "
                         f"{row['n_parameters']:>6} {sign * row['bic']:>14.4f} {sign * row['aic']:>14.4f} "
                         f"{sign * row['icl']:>14.4f} {mark}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the table (NaN as None), the criterion and the best row."""
        def clean(row):
            return {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                    for key, value in row.items()}
        return {"criterion": self.criterion, "table": [clean(row) for row in self.table], "best": clean(self.best_row)}


def gmm_select(X, n_components: Iterable[int] = range(1, 10), covariance_types: Iterable[str] | str = COVARIANCE_TYPES,
               *, criterion: str = "bic", sample_weight=None, random_state: Any = 0, n_jobs: int | None = None,
               **estimator_params: Any) -> SelectionResult:
    """Fit a Gaussian mixture for every ``(k, covariance_type)`` and pick the lowest criterion.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data (NaN = missing, handled by the exact EM for incomplete data).
    n_components : iterable of int
        Numbers of components to try.
    covariance_types : iterable of str, or "mclust"
        Among "full", "tied", "diag", "spherical" and mclust's models ("EII", ..., "VVV"; "E", "V"
        for one column); "mclust": every mclust model for the data's number of columns (with the
        default ``n_components`` this is mclust's grid ``G = 1..9``).
    criterion : {"bic", "aic", "icl"}
        What chooses the best model (lower is better).
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the rows (``n = Σ w_i`` in the penalties).
    random_state : int, optional
        Seed of the initializations (the same for every candidate; a numpy ``Generator`` or
        ``RandomState`` gives one seed drawn from it).
    n_jobs : int, optional
        Processes that fit the candidates, each taking the next candidate when free (None: 1, all
        in this process; -1: one per CPU). The table, the models and the choice are the same for
        any ``n_jobs`` (each candidate's fit depends only on its own settings); the candidates'
        warnings are shown here, in the grid's order.
    **estimator_params
        Passed to :class:`~emkit.GaussianMixture` (e.g. ``n_init``, ``tol``, ``max_iter``,
        ``reg_covar``). ``progress=True`` (or a shared
        :class:`~emkit.engine.progress.Progress`) shows one display for the whole grid:
        "fit 7/36: k=3 diag", then that candidate's initialisation and EM iterations (with
        ``n_jobs`` above 1, the fits done out of all).

    Returns
    -------
    SelectionResult
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion: expected one of {CRITERIA}, got {criterion!r}")
    ks = [int(k) for k in n_components]
    types = list(mclust_types(np.shape(X)[-1]) if isinstance(covariance_types, str) and covariance_types == "mclust"
                 else covariance_types)
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"n_components: expected positive integers, got {ks}")
    bad = [t for t in types if t not in KNOWN_COVARIANCE_TYPES]
    if not types or bad:
        raise ValueError(f"covariance_types: expected 'mclust' or some of {KNOWN_COVARIANCE_TYPES}, got {types}")
    workers = process_count(n_jobs)
    if isinstance(random_state, np.random.Generator):
        random_state = int(random_state.integers(2**63))
    elif isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(2**31))
    grid = [(k, covariance_type) for covariance_type in types for k in ks]
    with Progress.of(estimator_params.get("progress", False)) as progress:
        if workers > 1 and len(grid) > 1:
            fitted = _fit_in_processes(X, sample_weight, random_state, estimator_params, grid, workers, progress)
        else:
            if progress:
                estimator_params["progress"] = progress
            fitted = []
            prepared = _prepared_or_none(X, sample_weight)
            # the structures of one k start from the same k-means (or hc) labels: computed once,
            # unless a progress display shows each candidate's initialisation
            with nullcontext() if progress else shared_starts():
                for index, candidate in enumerate(grid):
                    with progress.stage(f"fit {index + 1}/{len(grid)}: k={candidate[0]} {candidate[1]}"):
                        fitted.append(_fit_candidate(X, sample_weight, random_state, estimator_params, candidate,
                                                     prepared=prepared)[:2])
    table = [row for _, row in fitted]
    models = {candidate: estimator for candidate, (estimator, _) in zip(grid, fitted) if estimator is not None}
    candidates = [row for row in table if not row["error"]]
    if not candidates:
        raise ValueError(f"X: every candidate failed to fit; first error: {table[0]['error']}")
    best_row = min(candidates, key=lambda row: row[criterion])
    return SelectionResult(table, criterion, models[(best_row["n_components"], best_row["covariance_type"])],
                           best_row, models)


def process_count(n_jobs: int | None) -> int:
    """Processes for ``n_jobs``: None is 1, −1 one per CPU; ValueError naming ``n_jobs`` otherwise."""
    if n_jobs is None:
        return 1
    if n_jobs == -1:
        return os.cpu_count() or 1
    return check_integer(n_jobs, "n_jobs", low=1)


def _fit_candidate(X, sample_weight, random_state, estimator_params: dict[str, Any], candidate: tuple[int, str],
                   record_warnings: bool = False, prepared=None) -> tuple[GaussianMixture | None, dict[str, Any], list]:
    """One candidate's fitted estimator (None when its fit failed), its row of the table and, with
    ``record_warnings``, the warnings it gave (kept to be shown by the caller); ``prepared``: the
    rows and weights already checked (:func:`prepare_data`), scored without checking them again."""
    k, covariance_type = candidate
    row: dict[str, Any] = {"n_components": k, "covariance_type": covariance_type, "error": None}
    with warnings.catch_warnings(record=True) if record_warnings else nullcontext() as caught:
        estimator = GaussianMixture(k, covariance_type=covariance_type, random_state=random_state, **estimator_params)
        try:
            estimator.fit(X, sample_weight=sample_weight)
        except ValueError as error:
            row.update(loglik=math.nan, n_parameters=None, bic=math.nan, aic=math.nan, icl=math.nan,
                       converged=False, n_iter=None, error=str(error))
            return None, row, list(caught or [])
        row.update(information_criteria(estimator, X if prepared is None else prepared, sample_weight))
        row.update(converged=estimator.converged_, n_iter=estimator.n_iter_)
    return estimator, row, list(caught or [])


def _prepared_or_none(X, sample_weight):
    """The checked rows and weights, or None where they fail the check (each candidate's fit then
    says why, in the table)."""
    try:
        return prepare_data(X, sample_weight)
    except ValueError:
        return None


def _fit_remote(X, sample_weight, random_state, estimator_params, candidate):
    """:func:`_fit_candidate` in a worker process: its warnings as (message, category) pairs."""
    estimator, row, caught = _fit_candidate(X, sample_weight, random_state, estimator_params, candidate,
                                            record_warnings=True)
    return estimator, row, [(str(item.message), item.category) for item in caught]


def _fit_in_processes(X, sample_weight, random_state, estimator_params: dict[str, Any], grid: list, workers: int,
                      progress: Progress) -> list[tuple[GaussianMixture | None, dict[str, Any]]]:
    """Every candidate fitted in ``workers`` processes (in the grid's order); their warnings are
    issued here, candidate by candidate."""
    settings = {**estimator_params, "progress": False}
    one = partial(_fit_remote, X, sample_weight, random_state, settings)
    fitted = []
    with progress.stage(f"fit {len(grid)} candidates in {workers} processes", total=len(grid), unit="fit"), \
            ProcessPoolExecutor(max_workers=min(workers, len(grid))) as pool:
        for estimator, row, caught in pool.map(one, grid):
            for message, category in caught:
                warnings.warn(message, category, stacklevel=3)
            fitted.append((estimator, row))
            progress.advance()
    return fitted


def information_criteria(estimator: GaussianMixture, X, sample_weight=None) -> dict[str, float]:
    """``loglik``, ``n_parameters``, ``bic``, ``aic`` and ``icl`` of a fitted mixture on ``X``.

    ``ℓ = Σ_i w_i log p(x_i)`` at the fitted parameters; see the module docstring for the criteria.
    """
    return criteria_and_labels(estimator, X, sample_weight)[0]


def criteria_and_labels(estimator: GaussianMixture, X, sample_weight=None) -> tuple[dict[str, float], np.ndarray]:
    """:func:`information_criteria` and ``estimator.predict(X)`` from one pass over ``X``."""
    data = prepare_data(X, sample_weight)
    weights = np.ones(data.X.shape[0]) if data.sample_weight is None else data.sample_weight
    scored = _small_scores(estimator, data, estimator._fitted_params())
    if scored is None:
        model, params = estimator._model()
        log_resp, log_density = model.responsibilities(data, params)
        scored = log_density, log_resp.max(axis=1), log_resp.argmax(axis=1)
    log_density, top_log_resp, labels = scored
    loglik = float(weights @ log_density)
    p = estimator._n_parameters()
    n = float(weights.sum())
    bic = -2.0 * loglik + p * math.log(n)
    criteria = {"loglik": loglik, "n_parameters": int(p), "bic": bic, "aic": -2.0 * loglik + 2.0 * p,
                "icl": bic - 2.0 * float(weights @ top_log_resp)}
    if getattr(estimator, "noise", None) is not None:   # the noise column is last; predict calls it −1
        labels[labels == estimator.n_components] = -1
    return criteria, labels


def _small_scores(estimator: GaussianMixture, data, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``log p(x_i)``, ``max_k log r_ik`` and ``argmax_k r_ik`` of small complete float64 data in
    one compiled pass (:func:`~emkit.kernels.gaussian_small.small_log_joint`, the E-step's own
    path for such data): ``log p = t + log Σ_k exp(j_k − t)`` and ``max_k log r_k = t − log p``
    with ``j_k = log π_k + log N(x | μ_k, Σ_k)``, ``t = max_k j_k``. None where the general path
    applies (a noise component, missing values, float32 rows, larger problems, a row that no
    component can produce, a covariance that is not positive definite)."""
    structure = covariance_structure(estimator.covariance_type)
    if (getattr(estimator, "noise", None) is not None or data.X.dtype != np.float64
            or not small_pass_applies(data.X, data.layout.complete, estimator.n_components, structure)):
        return None
    joint = small_log_joint(data.X, params["weights"], params["means"], params["covariances"], structure)
    if joint is None:
        return None
    top = joint.max(axis=1)
    if not np.all(np.isfinite(top)):
        return None
    log_density = top + np.log(np.exp(joint - top[:, None]).sum(axis=1))
    return log_density, top - log_density, joint.argmax(axis=1)
