"""``emkit gmm``: a Gaussian mixture fitted to the numeric columns of a CSV file.

Example: ``emkit gmm data.csv -k 4 --covariance full --plot clusters.png`` or, choosing ``k`` and
the covariance structure by BIC, ``emkit gmm data.csv --select 1:9 --covariance all``; ``--se
sem`` adds the standard errors of the estimates.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..kernels.covariance_types import COVARIANCE_TYPES
from .common import CliError, add_fit_options, check_fit_options, emit, fit_settings, fitted_standard_errors
from .output import Payload, Table, covariance_layout, parameter_tables
from .table_input import add_input_options, read_table
from .units import add_reg_covar_option, covariance_floor

#: Correlation matrices are printed up to this many columns (all of them are in --json).
MAX_PRINTED_CORRELATIONS = 10


def register(subparsers) -> None:
    """Add the ``gmm`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "gmm", help="Gaussian mixture clustering of a CSV or Parquet file (missing cells allowed)",
        description="Fit a Gaussian mixture by EM (emkit.GaussianMixture, the same defaults) to the numeric "
                    "columns of a CSV file with a header row or a Parquet file; empty or NA cells are missing "
                    "values (exact EM for incomplete data). Columns of text are left out. "
                    "Example: emkit gmm iris.csv -k 3 --plot clusters.png")
    parser.add_argument("data", metavar="DATA", help="CSV file with a header row (delimiter detected; empty or NA "
                                                     "cells are missing) or Parquet file (.parquet)")
    add_input_options(parser)
    model = parser.add_argument_group("model")
    model.add_argument("-k", "--components", type=int, default=None,
                       help="number of components (required unless --select)")
    model.add_argument("--covariance", default="full",
                       help=f"covariance structure: {', '.join(COVARIANCE_TYPES)}; with --select a comma-separated "
                            "list or 'all' (default: %(default)s)")
    model.add_argument("--select", metavar="A:B", help="choose the number of components in A..B (and the covariance "
                                                       "structure) by --criterion")
    model.add_argument("--criterion", choices=["bic", "aic", "icl"], default="bic",
                       help="selection criterion, lower is better (default: %(default)s)")
    add_reg_covar_option(model)
    add_fit_options(parser, tol=1e-3, se_tol=1e-8, max_iter=100, seed=0, trace=False,
                    tol_help="stop when the log-likelihood per row changes by less",
                    se_note=" (louis: complete rows only)",
                    plot_help="write the clusters, k-means beside, and the criterion by k")
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
    """Read the data, fit (or select) the mixture, print the tables or JSON, write the plot."""
    selecting = args.select is not None
    types = _covariance_types(args.covariance, selecting)
    if not selecting and args.components is None:
        raise CliError("-k: give the number of components (or --select A:B)")
    if args.components is not None and args.components < 1:
        raise CliError(f"-k: the number of components must be at least 1, got {args.components}")
    grid = _select_range(args.select) if selecting else None
    check_fit_options(args)
    header, X = read_table(args.data, args.sep, args.encoding).numeric(args.columns)
    floor = covariance_floor(X, args.reg_covar)

    from ..estimators.gaussian_mixture import GaussianMixture
    from ..selection import gmm_select, information_criteria

    settings = dict(tol=args.tol, reg_covar=floor.value, max_iter=args.max_iter, n_init=args.n_init,
                    accelerate=args.accelerate, progress=args.progress)
    selection = None
    if selecting:
        selection = gmm_select(X, grid, types, criterion=args.criterion, random_state=args.seed, **settings)
        estimator = selection.best
    else:
        estimator = GaussianMixture(args.components, covariance_type=types[0], random_state=args.seed,
                                    **settings).fit(X)
    criteria = information_criteria(estimator, X)
    labels = estimator.predict(X)
    se = fitted_standard_errors(estimator.result_, X, args)
    if args.plot:
        _write_plot(args.plot, X, header, estimator, labels, selection, args.seed)
    result = estimator.result_
    k = estimator.n_components
    payload = Payload(
        args.command, f"Gaussian mixture: {k} component(s), {estimator.covariance_type} covariance",
        {"weights": estimator.weights_.tolist(), "means": estimator.means_.tolist(),
         "covariances": estimator.covariances_.tolist()},
        criteria["loglik"], estimator.n_iter_, result.n_evaluations, estimator.converged_, columns=header,
        n_rows=X.shape[0], n_components=k, criteria={name: criteria[name] for name in ("bic", "aic", "icl")},
        settings=fit_settings(args, **floor.settings(), init="k-means on the columns scaled to unit variance"),
        labels=labels.tolist(), extra={"covariance_type": estimator.covariance_type, "n_missing":
                                       int(np.isnan(X).sum())})
    if selection is not None:
        payload.extra["selection"] = selection.to_dict()
    tables = _tables(estimator, header, labels, se)
    if selection is not None and not args.json:
        print(f"Model selection by {selection.criterion.upper()} (lower is better; * = chosen)")
        print(selection.to_text())
        print()
    n_missing = payload.extra["n_missing"]
    lines = {"data": f"{X.shape[0]} rows x {X.shape[1]} columns of {args.data}"
                     + (f" ({n_missing} missing cells)" if n_missing else ""),
             "regularisation": floor.describe()}
    return emit(args, payload, tables, se, lines=lines)


def _tables(estimator, header: list[str], labels: np.ndarray, se) -> list[Table]:
    """Components (weight, rows assigned), means, standard deviations, correlations; standard
    errors of the weights and means with ``--se``."""
    k = estimator.n_components
    components = [str(j) for j in range(k)]
    counts = np.bincount(labels, minlength=k)
    columns = ["weight", "rows assigned"] + (["se(weight)"] if se is not None else [])
    cells = [estimator.weights_, counts] + ([se.se["weights"]] if se is not None else [])
    tables = [Table("components", components, columns, np.column_stack(cells))]
    named = {"means": estimator.means_, "sd": np.sqrt(_variances(estimator))}
    tables += parameter_tables(named, {"means": "component-column", "sd": "component-column"},
                               components=components, columns=header)
    if se is not None:
        tables.append(Table("se of means", components, header, np.asarray(se.se["means"])))
    d = len(header)
    if estimator.covariance_type in ("full", "tied") and 1 < d <= MAX_PRINTED_CORRELATIONS:
        layout = covariance_layout(estimator.covariance_type)
        tables += parameter_tables({"correlations": _correlations(estimator.covariances_)}, {"correlations": layout},
                                   components=components, columns=header)
    return tables


def _variances(estimator) -> np.ndarray:
    """Each component's variances, shape ``(k, d)``."""
    cov, k, d = estimator.covariances_, estimator.n_components, estimator.n_features_in_
    return {"full": lambda: np.diagonal(cov, axis1=1, axis2=2), "tied": lambda: np.tile(np.diag(cov), (k, 1)),
            "diag": lambda: cov, "spherical": lambda: np.tile(cov[:, None], (1, d))}[estimator.covariance_type]()


def _correlations(covariances: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    return covariances / (sd[..., :, None] * sd[..., None, :])


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
    figure.savefig(path, dpi=120, bbox_inches="tight")
