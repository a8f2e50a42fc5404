"""Options and output shared by the fitting subcommands (fit options, tables, JSON, plots)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ..engine import EMModel, EMResult, fit


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
    output = parser.add_argument_group("output")
    output.add_argument("--trace", action="store_true", help="print the iteration table")
    output.add_argument("--plot", metavar="FILE", help="write the convergence figure (PNG, PDF or SVG)")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    output.add_argument("--progress", action="store_true", help="show a progress bar")


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
    """Fit with the common options (progress bar on by ``--progress``)."""
    if args.max_iter < 1:
        raise CliError(f"--max-iter: must be at least 1, got {args.max_iter}")
    if args.n_init < 1:
        raise CliError(f"--n-init: must be at least 1, got {args.n_init}")
    return fit(model, data, init=init, tol=args.tol, max_iter=args.max_iter, random_state=args.seed,
               n_init=args.n_init, accelerate=args.accelerate, verbose=args.progress)


def report(result: EMResult, args: argparse.Namespace, title: str, extra: dict[str, Any] | None = None) -> int:
    """Print the result (table or JSON), the trace if asked, and write the plot if asked."""
    if args.plot:
        from ..plotting.convergence import convergence_figure

        convergence_figure(result, title=title).savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        payload = result.to_dict()
        payload.update(extra or {})
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    print(title)
    print(format_params(result.named_params()))
    print(f"log-likelihood  {result.loglik:.10f}")
    print(f"iterations      {result.n_iter} ({result.n_evaluations} EM-map evaluations)"
          f"{', SQUAREM' if result.accelerate else ''}")
    print(f"converged       {'yes' if result.converged else 'no'}")
    for key, value in (extra or {}).items():
        print(f"{key:<15} {value}")
    if args.trace:
        print()
        print(trace_table(result))
    return 0


def format_params(named: dict[str, Any]) -> str:
    """Parameter table: one row per parameter, lists shown per component."""
    rows = []
    for name, value in named.items():
        if isinstance(value, list):
            rows.append(f"  {name:<12}" + "  ".join(f"{v:.8f}" for v in np.ravel(value)))
        else:
            rows.append(f"  {name:<12}{value:.8f}")
    return "\n".join(["parameters"] + rows)


def trace_table(result: EMResult) -> str:
    """Iteration table: iteration, log-likelihood, its change, and every parameter."""
    named = [result.model.named_params(p) for p in result.trace.params]
    columns = [f"{k}[{i}]" if isinstance(v, list) else k for k, v in named[0].items()
               for i in (range(len(v)) if isinstance(v, list) else [None])]
    header = f"{'iter':>5} {'log-likelihood':>20} {'change':>12} " + " ".join(f"{c:>12}" for c in columns)
    lines = [header]
    previous = None
    for t, (ll, params) in enumerate(zip(result.trace.loglik, named)):
        values = [x for v in params.values() for x in np.ravel(v)]
        change = "" if previous is None else f"{ll - previous:.3e}"
        lines.append(f"{t:>5} {ll:>20.10f} {change:>12} " + " ".join(f"{x:>12.8f}" for x in values))
        previous = ll
    return "\n".join(lines)
