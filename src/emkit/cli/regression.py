"""``emkit regression``: a mixture of GLM regressions fitted to columns of a CSV or Parquet file.

Example: ``emkit regression data.csv --y counts --x dose -k 2 --family poisson --concomitant age``.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..kernels.glm_families import GLM_FAMILIES
from .common import CliError, add_fit_options, check_fit_options, check_rows, emit, fit_settings, fitted_standard_errors
from .output import Payload, Table
from .table_input import read_table


def register(subparsers) -> None:
    """Add the ``regression`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "regression", help="mixture of regressions (gaussian, poisson, binomial, gamma) of a CSV or Parquet file",
        description="Fit a finite mixture of generalised linear regressions by EM (emkit.RegressionMixture, the "
                    "same defaults): each component has its own intercept and coefficients of the --x columns "
                    "(--fixed columns share theirs), and the weights may depend on --concomitant columns through "
                    "a multinomial logit. Rows with a missing cell in a used column are refused. "
                    "Example: emkit regression data.csv --y count --x dose -k 2 --family poisson")
    parser.add_argument("data", metavar="DATA", help="CSV file with a header row or Parquet file (.parquet)")
    columns = parser.add_argument_group("columns")
    columns.add_argument("--y", required=True, metavar="COLUMN", help="the response column")
    columns.add_argument("--x", required=True, metavar="COLUMNS",
                         help="comma-separated covariates with component-specific coefficients")
    columns.add_argument("--fixed", metavar="COLUMNS", help="comma-separated covariates whose coefficients all "
                                                            "components share")
    columns.add_argument("--concomitant", metavar="COLUMNS",
                         help="comma-separated covariates of the weights' multinomial logit (a mixture of experts)")
    columns.add_argument("--trials", metavar="COLUMN", help="binomial trials per row (default 1: 0/1 responses)")
    columns.add_argument("--sep", help="CSV delimiter (default: detected among comma, semicolon and tab)")
    columns.add_argument("--encoding", help="text encoding of a CSV file (default: UTF-8)")
    model = parser.add_argument_group("model")
    model.add_argument("-k", "--components", type=int, default=2, help="number of components (default 2)")
    model.add_argument("--family", choices=GLM_FAMILIES, default="gaussian",
                       help="response distribution with its usual link (default: %(default)s)")
    add_fit_options(parser, tol=1e-10, max_iter=1000, seed=0, trace=False,
                    plot_help="write the convergence figure")
    parser.set_defaults(func=run)


def _names(text: str | None, option: str) -> list[str]:
    if text is None:
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise CliError(f"{option}: expected comma-separated column names, got {text!r}")
    return names


def _columns(table, names: list[str], option: str) -> np.ndarray:
    """The columns as floats; any problem is a CliError naming ``option`` (a missing cell too)."""
    if not names:
        return np.empty((len(table.frame), 0))
    try:
        _, values = table.numeric(",".join(names))
    except CliError as error:
        raise CliError(str(error).replace("--columns", option, 1)) from None
    missing = np.isnan(values).any(axis=1)
    if missing.any():
        raise CliError(f"{option}: {int(missing.sum())} row(s) of {table.path} have a missing cell (first at line "
                       f"{2 + int(np.argmax(missing))}); drop them first")
    return values


def run(args: argparse.Namespace) -> int:
    """Read the columns, fit the mixture, print the tables or JSON."""
    if args.components < 1:
        raise CliError(f"-k: the number of components must be at least 1, got {args.components}")
    if args.trials is not None and args.family != "binomial":
        raise CliError(f"--trials: only the binomial family has trials, not {args.family!r}")
    check_fit_options(args)
    groups = {option: _names(text, option) for option, text in
              (("--y", args.y), ("--x", args.x), ("--fixed", args.fixed), ("--concomitant", args.concomitant),
               ("--trials", args.trials))}
    if len(groups["--y"]) != 1:
        raise CliError(f"--y: expected one column, got {args.y!r}")
    seen: dict[str, str] = {}
    for option, names in groups.items():
        for name in names:
            if name in seen:
                raise CliError(f"{option}: column {name!r} is also given to {seen[name]}")
            seen[name] = option
    table = read_table(args.data, args.sep, args.encoding)
    values = {option: _columns(table, names, option) for option, names in groups.items()}
    x, fixed, concomitant = values["--x"], values["--fixed"], values["--concomitant"]
    X = np.column_stack([x, fixed, concomitant])
    y = values["--y"][:, 0]
    trials = values["--trials"][:, 0] if args.trials is not None else None
    check_rows(X, args.components, "-k", "components", args.data)

    from ..estimators.regression_mixture import RegressionMixture

    p, q, r = x.shape[1], fixed.shape[1], concomitant.shape[1]
    estimator = RegressionMixture(args.components, family=args.family, fixed=list(range(p, p + q)) or None,
                                  concomitant=list(range(p + q, p + q + r)) or None, n_init=args.n_init,
                                  random_state=args.seed, tol=args.tol, max_iter=args.max_iter,
                                  accelerate=args.accelerate, verbose=args.progress)
    try:
        estimator.fit(X, y, trials=trials)
    except FloatingPointError as error:   # a component collapsed: the likelihood is unbounded
        raise CliError(f"-k: {error}") from None
    except ValueError as error:
        message = str(error)
        for name, option in (("y:", "--y:"), ("trials:", "--trials:")):
            if message.startswith(name):
                message = option + message[len(name):]
        raise CliError(message) from None
    data = estimator.design_matrix(X, y, trials=trials)
    se = fitted_standard_errors(estimator.result_, data, args)
    if args.plot:
        from ..plotting.convergence import convergence_figure
        from ..plotting.output import save_figure

        save_figure(convergence_figure(estimator.result_, title="mixture of regressions"), args.plot)
    result = estimator.result_
    k = args.components
    labels = estimator.predict_proba(X, y, trials=trials).argmax(axis=1)
    loglik = float(result.loglik)
    d = estimator.model_.n_free_parameters()
    criteria = {"bic": -2 * loglik + d * np.log(len(y)), "aic": -2 * loglik + 2 * d}
    title = (f"Mixture of {args.family} regressions: {k} component(s)"
             + (", shared coefficients" if q else "") + (", concomitant weights" if r else ""))
    payload = Payload(args.command, title, result.named_params(), loglik, result.n_iter, result.n_evaluations,
                      result.converged, columns=groups["--x"], n_rows=len(y), n_components=k, criteria=criteria,
                      settings=fit_settings(args, family=args.family), labels=labels.tolist(),
                      extra={"response": groups["--y"][0], "fixed": groups["--fixed"],
                             "concomitant": groups["--concomitant"]})
    tables = _tables(estimator, groups, labels, se)
    lines = {"data": f"{len(y)} rows of {args.data}",
             "start": f"residual bands of one least-squares fit (--seed {args.seed}"
                      + (f", best of --n-init {args.n_init})" if args.n_init > 1 else ")")}
    return emit(args, payload, tables, se, lines=lines)


def _tables(estimator, groups, labels: np.ndarray, se) -> list[Table]:
    """Components (weight, rows assigned, dispersion), coefficients (with standard errors under
    ``--se``), shared and concomitant coefficients."""
    k = estimator.n_components
    components = [str(j) for j in range(k)]
    columns, cells = ["weight", "rows assigned"], [estimator.weights_, np.bincount(labels, minlength=k)]
    if estimator.family in ("gaussian", "gamma"):
        columns.append("variance" if estimator.family == "gaussian" else "shape")
        cells.append(estimator.dispersion_)
    tables = [Table("components", components, columns, np.column_stack(cells))]
    names = ["intercept"] + groups["--x"]
    coef = np.column_stack([estimator.intercept_, estimator.coef_])
    tables.append(Table("coefficients", components, names, coef))
    if se is not None:
        tables.append(Table("se of coefficients", components, names, np.asarray(se.se["coef"])))
    if groups["--fixed"]:
        rows = [estimator.fixed_coef_] + ([np.asarray(se.se["fixed_coef"])] if se is not None else [])
        tables.append(Table("shared coefficients", ["estimate"] + (["se"] if se is not None else []), groups["--fixed"],
                            np.vstack(rows)))
    if groups["--concomitant"]:
        tables.append(Table("concomitant logit (component 0 the reference)", ["intercept"] + groups["--concomitant"],
                            components[1:], estimator.concomitant_coef_))
    return tables
