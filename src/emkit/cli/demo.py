"""``emkit demo``: the worked examples and a report with figures."""

from __future__ import annotations

import argparse

from ..demo import run_demo


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser("demo", help="run the worked examples and write a report with figures")
    parser.add_argument("--out", default="emkit-demo", help="output folder (default ./emkit-demo)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emkit demo``: write ``report.md`` and its figures into ``--out`` (exit status 0)."""
    report = run_demo(args.out)
    print(f"wrote {report} and its figures in {report.parent}/")
    return 0
