"""Options and output shared by the fitting subcommands (fit options, standard errors, reports).

Heavy modules (the engine, inference, plotting) are imported inside the functions that use them,
so that ``emkit --help`` and each subcommand's ``--help`` start quickly.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..inference.methods import BOOTSTRAP_KINDS, METHODS
from .output import LINE_WIDTH, Payload, Table, parameter_tables, render_tables, summary_lines

if TYPE_CHECKING:
    from ..engine import EMModel, EMResult
    from ..inference import StandardErrors

#: ``figure(result, se, title)``: the ``--plot`` figure of a subcommand (a matplotlib Figure).
FigureMaker = Callable[["EMResult", "StandardErrors | None", str], Any]


class CliError(ValueError):
    """Bad command-line input; printed as one line, exit status 2."""


def add_fit_options(parser: argparse.ArgumentParser, *, tol: float = 1e-10, max_iter: int = 100_000,
                    tol_help: str = "relative change of the log-likelihood (or of the parameters) that stops EM",
                    se_tol: float | None = None, seed: int | None = None, se_note: str = "", trace: bool = True,
                    plot_help: str = "write the convergence figure") -> None:
    """Options every fitting subcommand takes, with the defaults of the API call it makes (so that
    the command and the API give the same answer with the same settings); ``se_tol`` is the
    default ``--tol`` with ``--se`` where the API's default stops too early for standard errors."""
    group = parser.add_argument_group("fitting")
    if se_tol is None:
        group.add_argument("--tol", type=float, default=tol, help=f"{tol_help} (default: %(default)s)")
    else:
        group.add_argument("--tol", type=float, default=None,
                           help=f"{tol_help} (default: {tol:g}, or {se_tol:g} with --se: standard errors need a "
                                "converged fit)")
        parser.set_defaults(default_tol=(tol, se_tol))
    group.add_argument("--max-iter", type=int, default=max_iter,
                       help="maximum number of EM iterations per start (default: %(default)s)")
    group.add_argument("--seed", type=int, default=seed,
                       help="seed of the random starts (default: %(default)s)" if seed is not None else
                            "seed of the random starts (default: fresh randomness)")
    group.add_argument("--n-init", type=int, default=1,
                       help="number of starts, the best kept (default: %(default)s)")
    group.add_argument("--accelerate", choices=["squarem"], default=None,
                       help="accelerate EM with SQUAREM (default: plain EM)")
    add_se_options(parser, se_note)
    output = parser.add_argument_group("output")
    if trace:
        output.add_argument("--trace", action="store_true", help="print the table of iterations")
    output.add_argument("--plot", metavar="FILE", help=f"{plot_help} (.png, .pdf or .svg)")
    output.add_argument("--json", action="store_true",
                        help="print one JSON object instead of tables (the README's command-line section "
                             "documents its keys)")
    output.add_argument("--progress", action="store_true", help="show progress on standard error")


def add_se_options(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--se METHOD``, ``--n-boot`` and ``--bootstrap-kind``."""
    inference = parser.add_argument_group("standard errors")
    inference.add_argument("--se", choices=METHODS, default=None, metavar="METHOD",
                           help=f"standard errors and covariance of the estimates by {', '.join(METHODS)}{note} "
                                "(default: none)")
    inference.add_argument("--n-boot", type=int, default=1000,
                           help="bootstrap replicates for --se bootstrap (default: %(default)s)")
    inference.add_argument("--bootstrap-kind", choices=BOOTSTRAP_KINDS, default="nonparametric",
                           help="--se bootstrap by resampling the rows, simulating from the fit, the weighted "
                                "likelihood bootstrap (Dirichlet row weights) or the jackknife (one refit per row "
                                "left out; --n-boot not used), mclust's MclustBootstrap types (default: %(default)s)")


def check_fit_options(args: argparse.Namespace) -> None:
    """``--max-iter``, ``--n-init`` at least 1, ``--tol`` not negative and ``--n-boot`` at least 2
    (checked before reading data or fitting); an omitted ``--tol`` gets its default."""
    if args.tol is None:
        args.tol = args.default_tol[args.se is not None]
    if args.max_iter < 1:
        raise CliError(f"--max-iter: must be at least 1, got {args.max_iter}")
    if args.n_init < 1:
        raise CliError(f"--n-init: must be at least 1, got {args.n_init}")
    if not 0 <= args.tol < np.inf:
        raise CliError(f"--tol: must be a non-negative number, got {args.tol}")
    if args.n_boot < 2:
        raise CliError(f"--n-boot: must be at least 2, got {args.n_boot}")


def refuse_given(args: argparse.Namespace, dests: tuple[str, ...], reason: str) -> None:
    """Options that would do nothing in this combination are errors: raise a CliError naming the
    first of ``dests`` given on the command line (``args.given``, see ``main.given_options``)."""
    given = getattr(args, "given", {})
    for dest in dests:
        if dest in given:
            raise CliError(f"{given[dest]}: {reason}")


def check_rows(X: np.ndarray, k: int, option: str, what: str, path: str) -> None:
    """``k`` components (or states) need at least ``max(k, 2)`` rows with an observed value.

    Raises
    ------
    CliError
        Naming ``option`` (or ``DATA`` for a file of one row).
    """
    rows = int(np.sum(~np.all(np.isnan(X), axis=1))) if X.size else 0
    if rows < 2:
        raise CliError(f"DATA: {path} has {rows} row(s) with an observed value; the fit needs at least 2")
    if k > rows:
        raise CliError(f"{option}: {k} {what} need at least {k} rows with an observed value; {path} has {rows}")


def check_combinations(args: argparse.Namespace) -> None:
    """Options of every fitting subcommand that do nothing without another: ``--n-boot`` without
    ``--se bootstrap``, ``--trace`` with ``--json``."""
    if getattr(args, "se", None) != "bootstrap":
        if getattr(args, "bootstrap_lrt", None) is None:
            refuse_given(args, ("n_boot",), "only used with --se bootstrap" + (
                " or --bootstrap-lrt" if hasattr(args, "bootstrap_lrt") else ""))
        refuse_given(args, ("bootstrap_kind",), "only used with --se bootstrap")
    elif getattr(args, "bootstrap_kind", None) == "jackknife" and getattr(args, "bootstrap_lrt", None) is None:
        refuse_given(args, ("n_boot",), "the jackknife refits once per row left out; leave out --n-boot")
    if getattr(args, "json", False):
        refuse_given(args, ("trace",), "the iteration table is not part of the --json output; leave out one of them")


def fitted_standard_errors(result: EMResult, data: Any, args: argparse.Namespace) -> StandardErrors | None:
    """``--se``: :func:`emkit.standard_errors` of ``result`` on ``data`` (None without ``--se``);
    what the method cannot do is a :class:`CliError` naming ``--se``. Bootstrap refits stop at
    ``--max-iter`` (and at ``--tol`` where it is the engine's relative rule, not an estimator's)."""
    if args.se is None:
        return None
    from ..inference import standard_errors

    options = {}
    if args.se == "bootstrap":
        options = {"max_iter": args.max_iter, **({} if hasattr(args, "default_tol") else {"tol": args.tol})}
    try:
        return standard_errors(result, data, args.se, n_boot=args.n_boot, bootstrap_kind=args.bootstrap_kind,
                               random_state=args.seed, verbose=args.progress, fit_options=options or None)
    except (NotImplementedError, ValueError) as error:
        raise CliError(f"--se {args.se}: {error}") from None


def parse_count(text: str, name: str) -> int:
    """A non-negative integer count, or a CliError naming ``name``."""
    try:
        value = float(text)
    except ValueError:
        raise CliError(f"{name}: expected a non-negative integer count, got {text!r}") from None
    if not np.isfinite(value) or value < 0 or value != int(value):
        raise CliError(f"{name}: expected a non-negative integer count, got {text!r}")
    return int(value)


def run_fit(model: EMModel, data: Any, args: argparse.Namespace, init: dict | None = None) -> EMResult:
    """Fit with the common options (progress on by ``--progress``); ``data`` is kept as
    ``args.data`` for the standard errors of :func:`report`."""
    from ..engine import fit

    check_fit_options(args)
    args.data = data
    return fit(model, data, init=init, tol=args.tol, max_iter=args.max_iter, random_state=args.seed,
               n_init=args.n_init, accelerate=args.accelerate, verbose=args.progress)


def report(result: EMResult, args: argparse.Namespace, title: str, layouts: Mapping[str, str], *,
           components: Sequence[str] = (), columns: Sequence[str] | None = None, n_rows: int | None = None,
           n_components: int | None = None, extra: Mapping[str, Any] | None = None,
           lines: Mapping[str, Any] | None = None, figure: FigureMaker | None = None) -> int:
    """Print an engine fit: parameter tables laid out by ``layouts`` (see :mod:`emkit.cli.output`)
    and summary ``lines``, or the JSON object with ``extra`` keys; standard errors with ``--se``,
    the iterations with ``--trace``, the figure (``figure``, default the convergence figure) with
    ``--plot``."""
    from .diagnostics import fit_notes

    se = fitted_standard_errors(result, args.data, args)
    if args.plot:
        from ..plotting.output import save_figure

        save_figure((figure or _convergence_figure)(result, se, title), args.plot)
    payload = Payload(args.command, title, result.named_params(), result.loglik, result.n_iter,
                      result.n_evaluations, result.converged, columns=None if columns is None else list(columns),
                      n_rows=n_rows, n_components=n_components, settings=fit_settings(args),
                      notes=fit_notes(result), extra=dict(extra or {}))
    tables = parameter_tables(result.named_params(), layouts, components=components, columns=columns or (),
                              se=None if se is None else se.se)
    return emit(args, payload, tables, se, lines=lines, trace=getattr(args, "trace", False) and result)


def fit_settings(args: argparse.Namespace, **more: Any) -> dict[str, Any]:
    """The settings of the fit, as given or defaulted (the JSON ``settings``)."""
    settings = {"tol": args.tol, "max_iter": args.max_iter, "n_init": args.n_init, "seed": args.seed,
                "accelerate": args.accelerate}
    return {**settings, **more}


def emit(args: argparse.Namespace, payload: Payload, tables: Sequence[Table], se: StandardErrors | None, *,
         lines: Mapping[str, Any] | None = None, trace: Any = None) -> int:
    """Print ``payload`` as JSON (``--json``, with the standard errors) or as its title, ``tables``,
    the summary lines and the notes; the trace table of the EMResult ``trace`` when given."""
    if args.json:
        payload.se = se.to_dict() if se is not None else {}
        payload.write()
        return 0
    print(payload.model)
    print()
    print(render_tables(tables))
    print()
    evaluations = f" ({payload.n_evaluations} EM-map evaluations)" if args.accelerate else ""
    criteria = payload.criteria or {}
    summary = {
        "log-likelihood": f"{payload.loglik:.10g}",
        "BIC": f"{criteria['bic']:.10g} (lower is better; AIC {criteria['aic']:.10g}"
               + (f", ICL {criteria['icl']:.10g})" if "icl" in criteria else ")") if criteria else None,
        "iterations": f"{payload.n_iter}{evaluations}{', SQUAREM' if args.accelerate else ''}",
        "converged": "yes" if payload.converged else f"no (--max-iter {args.max_iter} reached before --tol {args.tol})",
        **(lines or {}),
        "standard errors": None if se is None else se_summary(se),
    }
    print(summary_lines(summary))
    for note in payload.notes:
        print(textwrap.fill(note, LINE_WIDTH, initial_indent="note: ", subsequent_indent="      "))
    if trace is not None and trace is not False:
        print()
        print(trace_table(trace))
    return 0


def _convergence_figure(result: EMResult, se: StandardErrors | None, title: str):
    from ..plotting.convergence import convergence_figure

    return convergence_figure(result, title=title)


def se_summary(se: StandardErrors) -> str:
    """The method, EM's rate of convergence and, for the bootstrap, its replicates."""
    line = se.method
    if se.method == "bootstrap":
        count = se.diagnostics["n_boot"] - se.diagnostics["n_failed"]
        line += f" ({se.diagnostics['kind']}, {count} {'refits' if se.replicates is None else 'replicates'})"
    if se.rate is not None:
        line += f"; EM rate {se.rate:.4f} (largest fraction of missing information)"
    return line


def trace_table(result: EMResult) -> str:
    """Iteration table: iteration, log-likelihood, its change, and every parameter."""
    columns, table = result.trace.named_table(result.model)
    loglik = np.asarray(result.trace.loglik, dtype=float)
    change = np.concatenate([[np.nan], np.diff(loglik)])
    cells = np.column_stack([loglik, change, table])
    return Table("iteration", [str(t) for t in range(len(loglik))], ["log-likelihood", "change", *columns], cells,
                 digits=[14, 4] + [10] * len(columns)).render()
