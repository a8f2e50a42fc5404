"""``emkit poisson-mixture``: a K-component Poisson mixture fitted to a frequency table or to
the observed counts themselves."""

from __future__ import annotations

import argparse

from .common import CliError, add_fit_options, parse_count, report, run_fit


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``poisson-mixture`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "poisson-mixture", help="mixture of Poisson distributions for a frequency table or observed counts",
        description="Give the data as --counts, the frequencies of the values 0, 1, 2, ..., or as --observations, "
                    "the observed counts themselves. "
                    "Example: emkit poisson-mixture --counts 162,267,271,185,111,61,27,8,3,1 -k 2")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--counts", help="comma-separated frequencies of 0, 1, 2, ...")
    data.add_argument("--observations", help="comma-separated observed counts, one per observation")
    parser.add_argument("-k", "--components", type=int, default=2, help="number of components (default 2)")
    parser.add_argument("--start-weights", help="comma-separated starting weights")
    parser.add_argument("--start-rates", help="comma-separated starting rates")
    add_fit_options(parser)
    parser.set_defaults(func=run)


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise CliError(f"{name}: expected comma-separated numbers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``emkit poisson-mixture``: fit, then print the result (exit status 0; bad input raises CliError)."""
    if args.components < 1:
        raise CliError(f"-k: the number of components must be at least 1, got {args.components}")
    option, form, text = (("--counts", "frequencies", args.counts) if args.counts is not None
                          else ("--observations", "observations", args.observations))
    data = [parse_count(c, f"{option} value {i}") for i, c in enumerate(text.split(","))]
    if sum(data) == 0 and form == "frequencies":
        raise CliError("--counts: all counts are zero; nothing to fit")
    init = None
    if (args.start_weights is None) != (args.start_rates is None):
        raise CliError("--start-weights and --start-rates: give both or neither")
    if args.start_weights is not None:
        init = {"weights": _floats(args.start_weights, "--start-weights"),
                "rates": _floats(args.start_rates, "--start-rates")}
    from ..models.poisson_mixture import PoissonMixture

    model = PoissonMixture(args.components, data=form)
    result = run_fit(model, data, args, init=init)
    n_rows = sum(data) if form == "frequencies" else len(data)
    return report(result, args, f"Poisson mixture with {args.components} component(s)",
                  {"weights": "component", "rates": "component"}, components=[str(j) for j in range(args.components)],
                  n_rows=n_rows, n_components=args.components, extra={form: data})
