"""Entry point of the ``emkit`` command: builds the parser from the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .common import CliError

#: Subcommand modules under ``emkit.cli``; each defines ``register(subparsers)``.
SUBCOMMANDS = ("alleles", "linkage", "poisson_mixture", "gmm", "hmm", "student", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="emkit", description="Maximum likelihood by the EM algorithm.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"emkit.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, ValueError) as error:
        print(f"emkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
