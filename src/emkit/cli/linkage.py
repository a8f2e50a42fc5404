"""``emkit linkage``: the Dempster–Laird–Rubin genetic-linkage multinomial."""

from __future__ import annotations

import argparse

from ..models.grouped_multinomial import genetic_linkage
from .common import add_fit_options, parse_count, report, run_fit


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "linkage", help="genetic-linkage multinomial (Dempster, Laird & Rubin 1977)",
        description="Fit theta in cell probabilities (1/2 + t/4, (1-t)/4, (1-t)/4, t/4). "
                    "Example: emkit linkage 125 18 20 34")
    parser.add_argument("counts", nargs=4, metavar="COUNT", help="the four cell counts")
    add_fit_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    counts = [parse_count(c, f"count {i + 1}") for i, c in enumerate(args.counts)]
    result = run_fit(genetic_linkage(), counts, args)
    return report(result, args, title="Genetic linkage (Dempster, Laird & Rubin 1977)")
