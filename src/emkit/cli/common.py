"""Options and output shared by the fitting subcommands (fit options, tables, JSON, plots)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

import numpy as np

from ..engine import EMModel, EMResult, fit
from ..engine.model import flatten_named
from ..inference import METHODS, StandardErrors, standard_errors
from .diagnostics import fit_notes, print_notes

#: ``figure(result, se, title)``: the ``--plot`` figure of a subcommand (a matplotlib Figure).
FigureMaker = Callable[[EMResult, "StandardErrors | None", str], Any]


class CliError(ValueError):
    """Bad command-line input; printed as one line, exit status 2."""


def add_fit_options(parser: argparse.ArgumentParser) -> None:
    """Options every fitting subcommand takes."""
    group = parser.add_argument_group("fitting")
    group.add_argument("--tol", type=float, default=1e-10, help="relative log-likelihood change to stop (default 1e-10)")
    group.add_argument("--max-iter", type=int, default=100_000, help="maximum number of iterations")
    group.add_argument("--seed", type=int, default=None, help="seed of random starts")
    group.add_argument("--n-init", type=int, default=1, help="number of starts (the first deterministic)")
    group.add_argument("--accelerate", choices=["squarem"], default=None, help="accelerate EM with SQUAREM")
    add_se_options(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--trace", action="store_true", help="print the iteration table")
    output.add_argument("--plot", metavar="FILE", help="write the convergence figure (PNG, PDF or SVG)")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    output.add_argument("--progress", action="store_true", help="show a progress bar")


def add_se_options(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--se METHOD`` and ``--n-boot``."""
    inference = parser.add_argument_group("standard errors")
    inference.add_argument("--se", choices=METHODS, default=None, metavar="METHOD",
                           help=f"standard errors and covariance of the estimates by {', '.join(METHODS)}{note}")
    inference.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates for --se bootstrap (default 1000)")


def check_se_options(args: argparse.Namespace) -> None:
    """``--n-boot`` at least 2 (checked before fitting)."""
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
        refuse_given(args, ("n_boot",), "only used with --se bootstrap")
    if getattr(args, "json", False):
        refuse_given(args, ("trace",), "the iteration table is not part of the --json output; leave out one of them")


def fitted_standard_errors(result: EMResult, data: Any, args: argparse.Namespace) -> StandardErrors | None:
    """``--se``: :func:`emkit.standard_errors` of ``result`` on ``data`` (None without ``--se``);
    what the method cannot do is a :class:`CliError` naming ``--se``."""
    if args.se is None:
        return None
    try:
        return standard_errors(result, data, args.se, n_boot=args.n_boot, random_state=args.seed, verbose=args.progress)
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
    """Fit with the common options (progress bar on by ``--progress``); ``data`` is kept as
    ``args.data`` for the standard errors of :func:`report`."""
    if args.max_iter < 1:
        raise CliError(f"--max-iter: must be at least 1, got {args.max_iter}")
    if args.n_init < 1:
        raise CliError(f"--n-init: must be at least 1, got {args.n_init}")
    check_se_options(args)
    args.data = data
    return fit(model, data, init=init, tol=args.tol, max_iter=args.max_iter, random_state=args.seed,
               n_init=args.n_init, accelerate=args.accelerate, verbose=args.progress)


def report(result: EMResult, args: argparse.Namespace, title: str, extra: dict[str, Any] | None = None,
           figure: FigureMaker | None = None) -> int:
    """Print the result (table or JSON), with standard errors if ``--se``, the trace if asked, and
    write the plot if asked (``figure``, default the convergence figure)."""
    se = fitted_standard_errors(result, args.data, args)
    notes = fit_notes(result)
    if args.plot:
        (figure or _convergence_figure)(result, se, title).savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        payload = result.to_dict()
        payload.update(se.to_dict() if se is not None else {})
        payload.update(extra or {})
        payload["notes"] = notes
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    print(title)
    print(format_params(result.named_params(), None if se is None else se.se))
    print(f"log-likelihood  {result.loglik:.10f}")
    print(f"iterations      {result.n_iter} ({result.n_evaluations} EM-map evaluations)"
          f"{', SQUAREM' if result.accelerate else ''}")
    print(f"converged       {'yes' if result.converged else 'no'}")
    if se is not None:
        print(se_summary(se))
    for key, value in (extra or {}).items():
        print(f"{key:<15} {value}")
    if args.trace:
        print()
        print(trace_table(result))
    print_notes(notes)
    return 0


def _convergence_figure(result: EMResult, se: StandardErrors | None, title: str):
    from ..plotting.convergence import convergence_figure

    return convergence_figure(result, title=title)


def format_params(named: dict[str, Any], se: dict[str, Any] | None = None) -> str:
    """Parameter table: one row per parameter, lists shown per component; with ``se`` (keyed like
    ``named``), one row per entry with its standard error."""
    if se is not None:
        labels, values = flatten_named(named)
        errors = flatten_named(se)[1]
        width = max(12, max(len(label) for label in labels) + 2)
        header = f"{'parameters':<{width + 2}}{'estimate':>12}  {'se':>12}"
        return "\n".join([header] + [f"  {label:<{width}}{value:>12.8f}  {error:>12.8f}"
                                     for label, value, error in zip(labels, values, errors)])
    rows = []
    for name, value in named.items():
        if isinstance(value, list):
            rows.append(f"  {name:<12}" + "  ".join(f"{v:.8f}" for v in np.ravel(value)))
        else:
            rows.append(f"  {name:<12}{value:.8f}")
    return "\n".join(["parameters"] + rows)


def se_summary(se: StandardErrors) -> str:
    """One line: the method, EM's rate of convergence and, for the bootstrap, its replicates."""
    line = f"{'standard errors':<15} {se.method}"
    if se.method == "bootstrap":
        line += f" ({se.diagnostics['kind']}, {len(se.replicates)} replicates)"
    if se.rate is not None:
        line += f"; EM rate {se.rate:.4f} (largest fraction of missing information)"
    return line


def trace_table(result: EMResult) -> str:
    """Iteration table: iteration, log-likelihood, its change, and every parameter."""
    columns, table = result.trace.named_table(result.model)
    header = f"{'iter':>5} {'log-likelihood':>20} {'change':>12} " + " ".join(f"{c:>12}" for c in columns)
    lines = [header]
    previous = None
    for t, (ll, values) in enumerate(zip(result.trace.loglik, table)):
        change = "" if previous is None else f"{ll - previous:.3e}"
        lines.append(f"{t:>5} {ll:>20.10f} {change:>12} " + " ".join(f"{x:>12.8f}" for x in values))
        previous = ll
    return "\n".join(lines)
