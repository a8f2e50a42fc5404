"""``emkit demo``: the worked examples and a report with figures."""

from __future__ import annotations

import argparse

from ..demo import run_demo


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "demo", help="run the worked examples and write a report with figures",
        description="Run the worked examples (the peppered moth by gene counting, a four-component Gaussian "
                    "mixture beside k-means, the occasionally dishonest casino's HMM) and write report.md with its "
                    "figures into a folder. Example: emkit demo --out emkit-demo")
    parser.add_argument("--out", default="emkit-demo", help="output folder (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emkit demo``: write ``report.md`` and its figures into ``--out`` (exit status 0)."""
    report = run_demo(args.out)
    print(f"wrote {report} and its figures in {report.parent}/")
    return 0
