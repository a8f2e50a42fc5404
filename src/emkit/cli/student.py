"""``emkit student``: a multivariate Student-t, or a mixture of them, fitted to a CSV file.

Examples: ``emkit student data.csv`` (one t, ECME), ``emkit student data.csv -k 3 --method ecm``,
``emkit student big.csv --method online --batch-size 5000`` (the file is read in batches, never
whole).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..kernels.covariance_types import COVARIANCE_TYPES, KNOWN_COVARIANCE_TYPES
from .common import CliError, add_fit_options, check_fit_options, check_rows, refuse_given, report
from .messages import shown
from .output import covariance_layout
from .table_input import add_input_options, read_batches, read_table
from .units import covariance_floor

METHODS = ("ecme", "ecm", "online")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``student`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "student", help="multivariate Student-t (or t mixture) with unknown degrees of freedom, by ECM/ECME",
        description="Fit a multivariate t distribution (-k 1) or a mixture of t distributions to the numeric "
                    "columns of a CSV file with a header row (complete rows only). "
                    "Example: emkit student data.csv -k 2 --method ecme --plot fit.png")
    parser.add_argument("data", metavar="DATA", help="CSV file with a header row (delimiter detected; empty or NA cells are missing) or Parquet file (.parquet)")
    add_input_options(parser)
    parser.add_argument("-k", "--components", type=int, default=1, help="number of components (default: %(default)s)")
    parser.add_argument("--covariance", choices=KNOWN_COVARIANCE_TYPES, default="full", metavar="TYPE",
                        help=f"scatter structure of a mixture: {', '.join(COVARIANCE_TYPES)} or an mclust model "
                             "(e.g. VEV) (default: %(default)s)")
    parser.add_argument("--dof", type=float, default=None,
                        help="fix the degrees of freedom (default: estimated, per component)")
    parser.add_argument("--reg-covar", type=float, default=None, metavar="FRACTION",
                        help="added to the scatter diagonals, as a fraction of the smallest column variance "
                             "(default: 0 for one t, 1e-6 for a mixture)")
    variants = parser.add_argument_group("method")
    variants.add_argument("--method", choices=METHODS, default="ecme",
                          help="ECME (dof on the likelihood), ECM (dof on Q, i.e. EM), or online EM over batches "
                               "of the file (default: %(default)s)")
    variants.add_argument("--batch-size", type=int, default=1000,
                          help="rows per batch for --method online (default: %(default)s)")
    variants.add_argument("--step-exponent", type=float, default=0.6,
                          help="online step sizes t^(-alpha), alpha in (0.5, 1] (default: %(default)s)")
    add_fit_options(parser, plot_help="write the convergence figure (online: the estimates by batch)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emkit student``: fit, then print the result (exit status 0; bad input raises CliError)."""
    if args.method == "online":
        refuse_given(args, ("tol", "max_iter", "seed"), "not used by --method online, which makes one pass over "
                                                         "the file in batches (--batch-size, --step-exponent)")
    else:
        refuse_given(args, ("batch_size", "step_exponent"), "only used with --method online")
    if args.components == 1:
        refuse_given(args, ("covariance",), "the scatter structure of a mixture (-k 2 or more); one t has a full "
                                            "scatter matrix")
    check_fit_options(args)
    if args.method == "online":
        if args.se is not None or args.accelerate is not None or args.n_init != 1:
            raise CliError("--se, --accelerate and --n-init: not available with --method online")
        if args.batch_size < 1:
            raise CliError(f"--batch-size: must be at least 1, got {args.batch_size}")
        from ..variants.online import fit_online

        batches = read_batches(args.data, args.batch_size, args.columns, args.sep, args.encoding)
        first = next(batches)   # the floor's scale: the first batch's smallest column variance
        model = _model(args, first)
        result = fit_online(model, _chained(first, batches), step_exponent=args.step_exponent,
                            verbose=args.progress)
        lines = {"batches": f"{result.n_batches} of {args.batch_size} rows ({result.n_observations:.0f} rows)"}
        online = {"n_batches": int(result.n_batches), "n_observations": int(result.n_observations),
                  "batch_size": args.batch_size}
        columns = args.columns.split(",") if args.columns else [f"column {j}" for j in range(first.shape[1])]
        return report(result, args, _title(args), _layouts(args), components=_components(args), columns=columns,
                      n_rows=int(result.n_observations), n_components=args.components, extra={"online": online},
                      lines=lines, figure=_online_figure)
    header, X = read_table(args.data, args.sep, args.encoding).numeric(args.columns)
    if np.isnan(X).any():
        raise CliError(f"DATA: {args.data} has missing cells in {shown(header)}; the Student-t fit needs "
                       "complete rows")
    check_rows(X, args.components, "-k", "components", args.data)
    model = _model(args, X)
    from ..variants.ecm import fit_ecm

    path, args.data = args.data, X
    result = fit_ecm(model, X, variant=args.method, tol=args.tol, max_iter=args.max_iter, random_state=args.seed,
                     n_init=args.n_init, accelerate=args.accelerate, verbose=args.progress)
    lines = {"data": f"{X.shape[0]} rows x {X.shape[1]} columns of {path}",
             "regularisation": covariance_floor(X, _reg_fraction(args)).describe()}
    return report(result, args, _title(args), _layouts(args), components=_components(args), columns=header,
                  n_rows=X.shape[0], n_components=args.components, lines=lines)


def _chained(first, rest):
    yield first
    yield from rest


def _reg_fraction(args: argparse.Namespace) -> float:
    return (0.0 if args.components == 1 else 1e-6) if args.reg_covar is None else args.reg_covar


def _layouts(args: argparse.Namespace) -> dict[str, str]:
    """How the parameters of one t, or of a t mixture, are printed."""
    if args.components == 1:
        return {"location": "column", "scatter": "matrix", "dof": "scalar"}
    return {"weights": "component", "locations": "component-column", "scatters": covariance_layout(args.covariance),
            "dofs": "component"}


def _components(args: argparse.Namespace) -> list[str]:
    return [str(j) for j in range(args.components)] if args.components > 1 else []


def _model(args: argparse.Namespace, X: np.ndarray):
    """The t (``-k 1``) or t mixture the options describe, its floor scaled to the data ``X``."""
    from ..models.student_mixture import DOF_BOUNDS, StudentMixtureModel
    from ..models.student_t import StudentT

    if args.components < 1:
        raise CliError(f"-k: the number of components must be at least 1, got {args.components}")
    if args.dof is not None and not DOF_BOUNDS[0] <= args.dof <= DOF_BOUNDS[1]:
        raise CliError(f"--dof: must lie in {list(DOF_BOUNDS)}, got {args.dof}")
    floor = covariance_floor(X, _reg_fraction(args)).value
    if args.components == 1:
        return StudentT(args.dof, reg_covar=floor)
    return StudentMixtureModel(args.components, args.covariance, dof=args.dof, reg_covar=floor)


def _title(args: argparse.Namespace) -> str:
    what = "Student-t" if args.components == 1 else f"Mixture of {args.components} Student-t ({args.covariance})"
    return f"{what} by {args.method.upper() if args.method != 'online' else 'online EM'}"


def _online_figure(result, se, title: str):
    from ..plotting.variants import online_figure

    return online_figure(result, title=title)
