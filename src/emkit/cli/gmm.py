"""``emkit gmm``: a Gaussian mixture fitted to the numeric columns of a CSV file.

Example: ``emkit gmm data.csv -k 4 --covariance full --plot clusters.png`` or, choosing ``k`` and
the covariance structure by BIC, ``emkit gmm data.csv --select 1:9 --covariance all``, or ``k`` by
mclust's sequential bootstrap likelihood-ratio test, ``emkit gmm data.csv --covariance VEV
--bootstrap-lrt 4 --n-boot 99``; ``--se sem`` adds the standard errors of the estimates.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..kernels.covariance_structures import covariance_structure
from ..kernels.covariance_types import COVARIANCE_TYPES, KNOWN_COVARIANCE_TYPES, MCLUST_TYPES
from .common import (CliError, add_fit_options, check_fit_options, check_rows, emit, fit_settings, fitted_standard_errors,
                     refuse_given)
from .diagnostics import collapse_notes
from .output import Payload, Table, covariance_layout, parameter_tables
from .table_input import add_input_options, label_column, read_table
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
                    "Example: emkit gmm iris.csv -k 3 --label species --plot clusters.png")
    parser.add_argument("data", metavar="DATA", help="CSV file with a header row (delimiter detected; empty or NA "
                                                     "cells are missing) or Parquet file (.parquet)")
    add_input_options(parser)
    model = parser.add_argument_group("model")
    model.add_argument("-k", "--components", type=int, default=None,
                       help="number of components (required unless --select)")
    model.add_argument("--covariance", default="full",
                       help=f"covariance structure: {', '.join(COVARIANCE_TYPES)} or an mclust model "
                            f"({', '.join(MCLUST_TYPES)}); with --select a comma-separated list, 'all' "
                            "(scikit-learn's four) or 'mclust' (every mclust model) (default: %(default)s)")
    model.add_argument("--select", metavar="A:B", help="choose the number of components in A..B (and the covariance "
                                                       "structure) by --criterion")
    model.add_argument("--bootstrap-lrt", metavar="MAX", type=int,
                       help="choose the number of components by mclust's sequential bootstrap likelihood-ratio "
                            "test (G vs G+1 for G = 1..MAX, stopping at the first p-value above 0.05; --n-boot "
                            "replicates each, default 1000) for one --covariance model")
    model.add_argument("--criterion", choices=["bic", "aic", "icl"], default="bic",
                       help="selection criterion, lower is better (default: %(default)s)")
    model.add_argument("--label", metavar="COLUMN", help="column of true groups (any values, not fitted) that marks "
                                                         "the points of --plot")
    add_reg_covar_option(model)
    add_fit_options(parser, tol=1e-3, se_tol=1e-8, max_iter=100, seed=0, trace=False,
                    tol_help="stop when the log-likelihood per row changes by less",
                    plot_help="write the clusters, k-means beside, and the criterion by k")
    parser.set_defaults(func=run)


def _covariance_types(text: str, selecting: bool) -> list[str] | str:
    if text == "mclust":   # gmm_select picks the univariate or multivariate ones by the data
        if not selecting:
            raise CliError("--covariance: 'mclust' (every mclust model) needs --select")
        return text
    types = list(COVARIANCE_TYPES) if text == "all" else [t.strip() for t in text.split(",")]
    bad = [t for t in types if t not in KNOWN_COVARIANCE_TYPES]
    if bad or not types:
        raise CliError(f"--covariance: expected {', '.join(KNOWN_COVARIANCE_TYPES)}, all or mclust, got {text!r}")
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
    testing = args.bootstrap_lrt is not None
    if testing:
        refuse_given(args, ("components", "select", "criterion"),
                     "--bootstrap-lrt MAX chooses the number of components; give one or the other")
        if args.bootstrap_lrt < 1:
            raise CliError(f"--bootstrap-lrt: the largest number of components tested must be at least 1, "
                           f"got {args.bootstrap_lrt}")
        if args.covariance in ("all", "mclust") or "," in args.covariance:
            raise CliError("--covariance: --bootstrap-lrt tests the number of components of one covariance model; "
                           "give one")
    elif selecting:
        refuse_given(args, ("components",), "--select A:B chooses the number of components; give one or the other")
    else:
        refuse_given(args, ("criterion",), "only used with --select A:B")
    types = _covariance_types(args.covariance, selecting)
    if not selecting and not testing and args.components is None:
        raise CliError("-k: give the number of components (or --select A:B, or --bootstrap-lrt MAX)")
    if args.components is not None and args.components < 1:
        raise CliError(f"-k: the number of components must be at least 1, got {args.components}")
    grid = _select_range(args.select) if selecting else None
    check_fit_options(args)
    table = read_table(args.data, args.sep, args.encoding)
    truth = label_column(table, args.label, args.columns)
    header, X = table.numeric(args.columns, exclude=(args.label,) if args.label else ())
    largest, option = ((grid[-1], "--select") if selecting else (args.bootstrap_lrt + 1, "--bootstrap-lrt")
                       if testing else (args.components, "-k"))
    check_rows(X, largest, option, "components", args.data)
    floor = covariance_floor(X, args.reg_covar)

    from ..estimators.gaussian_mixture import GaussianMixture
    from ..selection import bootstrap_lrt, criteria_and_labels, gmm_select

    settings = dict(tol=args.tol, reg_covar=floor.value, max_iter=args.max_iter, n_init=args.n_init,
                    accelerate=args.accelerate, progress=args.progress)
    selection = lrt = None
    if testing:
        lrt = bootstrap_lrt(X, types[0], max_components=args.bootstrap_lrt, n_boot=args.n_boot,
                            random_state=args.seed, verbose=args.progress,
                            **{name: value for name, value in settings.items() if name != "progress"})
        estimator = GaussianMixture(lrt.selected_components, covariance_type=types[0], random_state=args.seed,
                                    **settings).fit(X)
    elif selecting:
        selection = gmm_select(X, grid, types, criterion=args.criterion, random_state=args.seed, **settings)
        estimator = selection.best
    else:
        estimator = GaussianMixture(args.components, covariance_type=types[0], random_state=args.seed,
                                    **settings).fit(X)
    criteria, labels = criteria_and_labels(estimator, X)
    se = fitted_standard_errors(estimator.result_, X, args)
    k = estimator.n_components
    variances = covariance_structure(estimator.covariance_type).diagonal_variances(estimator.covariances_, k,
                                                                                   X.shape[1])
    notes = collapse_notes(variances, estimator.reg_covar, np.bincount(labels, minlength=k))
    if args.plot:
        _write_plot(args, X, header, estimator, labels, selection, truth)
    result = estimator.result_
    payload = Payload(
        args.command, f"Gaussian mixture: {k} component(s), {estimator.covariance_type} covariance",
        {"weights": estimator.weights_.tolist(), "means": estimator.means_.tolist(),
         "covariances": estimator.covariances_.tolist()},
        criteria["loglik"], estimator.n_iter_, result.n_evaluations, estimator.converged_, columns=header,
        n_rows=X.shape[0], n_components=k, criteria={name: criteria[name] for name in ("bic", "aic", "icl")},
        settings=fit_settings(args, **floor.settings(), init="k-means on the columns scaled to unit variance"),
        labels=labels.tolist(), notes=notes, extra={"covariance_type": estimator.covariance_type, "n_missing":
                                       int(np.isnan(X).sum())})
    if selection is not None:
        payload.extra["selection"] = selection.to_dict()
    if lrt is not None:
        payload.extra["bootstrap_lrt"] = {"covariance_type": lrt.covariance_type, "n_boot": lrt.n_boot,
                                          "level": lrt.level, "selected_components": lrt.selected_components,
                                          "tests": lrt.table}
    tables = _tables(estimator, header, labels, se)
    if selection is not None and not args.json:
        print(f"Model selection by {selection.criterion.upper()} (lower is better; * = chosen)")
        print(selection.to_text())
        print()
    if lrt is not None and not args.json:
        print(lrt)
        print(f"chosen: {lrt.selected_components} component(s) (the first test not rejected at {lrt.level:g})")
        print()
    n_missing = payload.extra["n_missing"]
    lines = {"data": f"{X.shape[0]} rows x {X.shape[1]} columns of {args.data}"
                     + (f" ({n_missing} missing cells)" if n_missing else ""),
             "regularisation": floor.describe(),
             "start": "k-means on the columns scaled to unit variance (--seed "
                      f"{args.seed}{f', best of --n-init {args.n_init}' if args.n_init > 1 else ''})"}
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
    structure = covariance_structure(estimator.covariance_type)
    variances = structure.diagonal_variances(estimator.covariances_, k, len(header))
    named = {"means": estimator.means_, "sd": np.sqrt(variances)}
    tables += parameter_tables(named, {"means": "component-column", "sd": "component-column"},
                               components=components, columns=header)
    if se is not None:
        tables.append(Table("se of means", components, header, np.asarray(se.se["means"])))
    d = len(header)
    if not structure.diagonal and 1 < d <= MAX_PRINTED_CORRELATIONS:
        layout = covariance_layout(estimator.covariance_type)
        tables += parameter_tables({"correlations": _correlations(estimator.covariances_)}, {"correlations": layout},
                                   components=components, columns=header)
    return tables


def _correlations(covariances: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1))
    return covariances / (sd[..., :, None] * sd[..., None, :])


def _write_plot(args, X, header, estimator, labels, selection, truth) -> None:
    """``--plot``: k-means (on the rows with missing cells at their conditional means) beside the
    mixture, or the histogram of one column, and the selection curve."""
    from ..kernels.kmeans import kmeans
    from ..plotting.mixture import gmm_figure
    from ..plotting.output import save_figure

    filled = estimator.impute(X)
    n_filled = int(np.isnan(X).any(axis=1).sum())
    centers_labels = (kmeans(filled, estimator.n_components, np.random.default_rng(args.seed))
                      if X.shape[1] > 1 else None)
    figure = gmm_figure(filled, labels, estimator.means_, estimator.covariances_, estimator.covariance_type,
                        estimator.weights_, kmeans=centers_labels,
                        selection_table=selection.table if selection is not None else None,
                        criterion=selection.criterion if selection is not None else "bic",
                        truth=truth, truth_name=args.label or "label", feature_names=header,
                        note=f"{n_filled} rows with missing cells drawn at their conditional means" if n_filled else "")
    save_figure(figure, args.plot)
