"""``emkit gmm``: a Gaussian mixture fitted to the numeric columns of a CSV file.

Example: ``emkit gmm data.csv -k 4 --covariance full --plot clusters.png`` or, choosing ``k`` and
the covariance structure by BIC, ``emkit gmm data.csv --select 1:9 --covariance all``; ``--se
sem`` adds the standard errors of the estimates.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..estimators.gaussian_mixture import GaussianMixture
from ..kernels.gaussian import COVARIANCE_TYPES
from ..selection import gmm_select, information_criteria
from .common import (CliError, add_se_options, check_rows, check_se_options, fitted_standard_errors, refuse_given,
                     se_summary)
from .diagnostics import collapse_notes, diagonal_variances, print_notes
from .table_input import add_input_options, read_table


def register(subparsers) -> None:
    """Add the ``gmm`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "gmm", help="Gaussian mixture clustering of a CSV file (missing cells allowed)",
        description="Fit a Gaussian mixture by EM to the columns of a CSV file with a header row; empty or NA "
                    "cells are missing values (exact EM for incomplete data). "
                    "Example: emkit gmm data.csv -k 4 --plot clusters.png")
    parser.add_argument("data", metavar="DATA", help="CSV file with a header row (delimiter detected; empty or NA cells are missing) or Parquet file (.parquet)")
    add_input_options(parser)
    parser.add_argument("-k", "--components", type=int, default=None, help="number of components")
    parser.add_argument("--covariance", default="full",
                        help=f"covariance structure: {', '.join(COVARIANCE_TYPES)} (comma-separated, or 'all', "
                             "with --select)")
    parser.add_argument("--select", metavar="A:B", help="choose k in A..B (and the covariance) by --criterion")
    parser.add_argument("--criterion", choices=["bic", "aic", "icl"], default="bic", help="selection criterion")
    parser.add_argument("--reg-covar", type=float, default=1e-6, help="added to covariance diagonals (default 1e-6)")
    group = parser.add_argument_group("fitting")
    group.add_argument("--tol", type=float, default=1e-10,
                       help="stop when the log-likelihood per row changes by less (default 1e-10)")
    group.add_argument("--max-iter", type=int, default=10_000, help="maximum number of iterations per start")
    group.add_argument("--seed", type=int, default=0, help="seed of the k-means starts (default 0)")
    group.add_argument("--n-init", type=int, default=1, help="number of starts")
    group.add_argument("--accelerate", choices=["squarem"], default=None, help="accelerate EM with SQUAREM")
    add_se_options(parser, " (louis: complete rows only)")
    output = parser.add_argument_group("output")
    output.add_argument("--plot", metavar="FILE", help="write the clusters, k-means beside, and the BIC curve")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    output.add_argument("--progress", action="store_true", help="show a progress bar")
    parser.set_defaults(func=run)


def _covariance_types(text: str, selecting: bool) -> list[str]:
    types = list(COVARIANCE_TYPES) if text == "all" else [t.strip() for t in text.split(",")]
    bad = [t for t in types if t not in COVARIANCE_TYPES]
    if bad or not types:
        raise CliError(f"--covariance: expected {', '.join(COVARIANCE_TYPES)} or all, got {text!r}")
    if len(types) > 1 and not selecting:
        raise CliError("--covariance: several covariance structures need --select")
    return types


def _select_range(text: str) -> range:
    low, sep, high = text.partition(":")
    try:
        first, last = (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise CliError(f"--select: expected A:B (e.g. 1:9), got {text!r}") from None
    if first < 1 or last < first:
        raise CliError(f"--select: expected 1 <= A <= B, got {text!r}")
    return range(first, last + 1)


def run(args: argparse.Namespace) -> int:
    """Read the CSV, fit (or select) the mixture, print the table or JSON, write the plot."""
    selecting = args.select is not None
    if selecting:
        refuse_given(args, ("components",), "--select A:B chooses the number of components; give one or the other")
    else:
        refuse_given(args, ("criterion",), "only used with --select A:B")
    header, X = read_table(args.data, args.sep, args.encoding).numeric(args.columns)
    types = _covariance_types(args.covariance, selecting)
    if not selecting and args.components is None:
        raise CliError("-k: give the number of components (or --select A:B)")
    if args.components is not None and args.components < 1:
        raise CliError(f"-k: the number of components must be at least 1, got {args.components}")
    check_rows(X, args.components if not selecting else _select_range(args.select)[-1],
               "-k" if not selecting else "--select", "components", args.data)
    if args.max_iter < 1:
        raise CliError(f"--max-iter: must be at least 1, got {args.max_iter}")
    if args.n_init < 1:
        raise CliError(f"--n-init: must be at least 1, got {args.n_init}")
    check_se_options(args)
    settings = dict(tol=args.tol, reg_covar=args.reg_covar, max_iter=args.max_iter, n_init=args.n_init,
                    accelerate=args.accelerate, progress=args.progress)
    selection = None
    if selecting:
        selection = gmm_select(X, _select_range(args.select), types, criterion=args.criterion,
                               random_state=args.seed, **settings)
        estimator = selection.best
    else:
        estimator = GaussianMixture(args.components, covariance_type=types[0], random_state=args.seed,
                                    **settings).fit(X)
    criteria = information_criteria(estimator, X)
    labels = estimator.predict(X)
    se = fitted_standard_errors(estimator.result_, X, args)
    k = estimator.n_components
    notes = collapse_notes(diagonal_variances(estimator.covariances_, estimator.covariance_type, k, X.shape[1]),
                           estimator.reg_covar, np.bincount(labels, minlength=k))
    if args.plot:
        _write_plot(args.plot, X, header, estimator, labels, selection, args.seed)
    if args.json:
        payload = {
            "params": {"weights": estimator.weights_.tolist(), "means": estimator.means_.tolist(),
                       "covariances": estimator.covariances_.tolist()},
            "covariance_type": estimator.covariance_type, "n_components": estimator.n_components,
            "loglik": criteria["loglik"], "bic": criteria["bic"], "aic": criteria["aic"], "icl": criteria["icl"],
            "n_iter": estimator.n_iter_, "converged": estimator.converged_, "columns": header,
            "labels": labels.tolist(),
        }
        if selection is not None:
            payload["selection"] = selection.to_dict()
        payload.update(se.to_dict() if se is not None else {})
        payload["notes"] = notes
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    _print_report(args.data, header, X, estimator, criteria, labels, selection, se)
    print_notes(notes)
    return 0


def _print_report(path, header, X, estimator, criteria, labels, selection, se) -> None:
    n_missing = int(np.isnan(X).sum())
    missing = f" ({n_missing} missing cells)" if n_missing else ""
    print(f"Gaussian mixture: {estimator.n_components} component(s), {estimator.covariance_type} covariance, "
          f"{X.shape[0]} rows x {X.shape[1]} columns of {path}{missing}")
    if selection is not None:
        print(f"\nModel selection by {selection.criterion.upper()} (lower is better; * = chosen)")
        print(selection.to_text())
    print()
    width = len("se(mean)")
    for j in range(estimator.n_components):
        print(f"component {j}: weight {estimator.weights_[j]:.6f}, {int(np.sum(labels == j))} rows assigned")
        print(f"  {'mean':<{width}}  " + "  ".join(f"{m:>12.6g}" for m in estimator.means_[j]))
        if se is not None:
            print(f"  {'se(mean)':<{width}}  " + "  ".join(f"{s:>12.6g}" for s in se.se["means"][j])
                  + f"   (se(weight) {se.se['weights'][j]:.6g})")
        sd = np.sqrt(_variances(estimator, j))
        print(f"  {'sd':<{width}}  " + "  ".join(f"{s:>12.6g}" for s in sd))
    print(f"\ncolumns         {', '.join(header)}")
    print(f"log-likelihood  {criteria['loglik']:.10f}")
    print(f"BIC             {criteria['bic']:.6f}   (AIC {criteria['aic']:.6f}, ICL {criteria['icl']:.6f})")
    print(f"iterations      {estimator.n_iter_}")
    print(f"converged       {'yes' if estimator.converged_ else 'no'}")
    if se is not None:
        print(se_summary(se))


def _variances(estimator: GaussianMixture, j: int) -> np.ndarray:
    cov = estimator.covariances_
    d = estimator.n_features_in_
    return {"full": lambda: np.diag(cov[j]), "tied": lambda: np.diag(cov),
            "diag": lambda: cov[j], "spherical": lambda: np.full(d, cov[j])}[estimator.covariance_type]()


def _write_plot(path, X, header, estimator, labels, selection, seed) -> None:
    from matplotlib.figure import Figure

    from ..kernels.kmeans import kmeans
    from ..plotting.mixture import plot_bic, plot_clusters

    if X.shape[1] < 2:
        raise CliError("--plot: needs at least two columns")
    complete = ~np.isnan(X).any(axis=1)
    filled = estimator.impute(X)
    centers, kmeans_labels = kmeans(filled, estimator.n_components, np.random.default_rng(seed))
    panels = 3 if selection is not None else 2
    figure = Figure(figsize=(5.5 * panels, 5))
    axes = figure.subplots(1, panels)
    names = header if X.shape[1] == 2 else None
    projection = plot_clusters(axes[0], filled, kmeans_labels, centers, None, title="k-means", feature_labels=names)
    plot_clusters(axes[1], filled, labels, estimator.means_, estimator.covariances_, estimator.covariance_type,
                  title=f"Gaussian mixture ({estimator.covariance_type})", projection=projection)
    if selection is not None:
        plot_bic(axes[2], selection.table, selection.criterion)
    if not complete.all():
        figure.text(0.01, 0.01, f"{int((~complete).sum())} rows with missing cells drawn at their conditional means",
                    fontsize="small")
    figure.tight_layout()
    figure.savefig(Path(path), dpi=120, bbox_inches="tight")
