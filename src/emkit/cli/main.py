"""Entry point of the ``emkit`` command: builds the parser from the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Sequence

from .common import CliError

#: Subcommand modules under ``emkit.cli``; each defines ``register(subparsers)``.
SUBCOMMANDS = ("alleles", "linkage", "poisson_mixture", "gmm", "hmm", "student", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="emkit", description="Maximum likelihood by the EM algorithm.")
    parser.add_argument("--version", action="version", version=f"emkit {version('emkit')}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"emkit.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input or a file that cannot be
    written, one line on standard error; 0 when the reader of the output closed the pipe)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_output_path(getattr(args, "plot", None), "--plot")
        status = _run_with_progress(args) if getattr(args, "progress", False) else int(args.func(args) or 0)
        sys.stdout.flush()   # a closed pipe shows here, not in the interpreter's last flush
        return status
    except (CliError, ValueError) as error:
        print(f"emkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # e.g. `emkit gmm data.csv --json | head`: the rest is not wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so that the interpreter's final flush stays quiet
        return 0
    except OSError as error:
        print(f"emkit {args.command}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2


def _run_with_progress(args: argparse.Namespace) -> int:
    """Run the subcommand with one progress display on standard error for all its stages
    (reading, initialisation, restarts, EM, selection, bootstrap): ``--progress``."""
    from ..engine.progress import Progress

    with Progress.of(True) as progress:
        args.progress = progress
        return int(args.func(args) or 0)


def check_output_path(path: str | None, option: str) -> None:
    """Before any work: ``path`` (a file to write) names a file in an existing, writable folder.

    Raises
    ------
    CliError
        Naming ``option`` for a folder, a missing folder or one that cannot be written.
    """
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{option}: {path} is a folder; give a file name (e.g. {target / 'figure.png'})")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"{option}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CliError(f"{option}: cannot write in the folder {folder}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
