"""Entry point of the ``emkit`` command: builds the parser from the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..plotting.output import FIGURE_FORMATS
from .common import CliError, check_combinations
from .messages import in_cli_words, warnings_as_lines

#: Subcommand modules under ``emkit.cli``; each defines ``register(subparsers)``.
SUBCOMMANDS = ("alleles", "linkage", "poisson_mixture", "gmm", "hmm", "student", "regression", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="emkit", description="Maximum likelihood by the EM algorithm.")
    parser.add_argument("--version", action="version", version=f"emkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"emkit.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input or a file that cannot be
    written, one line on standard error; 0 when the reader of the output closed the pipe).
    Warnings print as one line each, in the command line's words."""
    parser = build_parser()
    args = parser.parse_args(argv)
    subparser = _subparsers(parser)[args.command]
    args.given = given_options(subparser, parser, argv)
    try:
        with warnings_as_lines(subparser):
            check_combinations(args)
            check_output_path(getattr(args, "plot", None), "--plot", FIGURE_FORMATS)
            status = _run_with_progress(args) if getattr(args, "progress", False) else int(args.func(args) or 0)
        sys.stdout.flush()   # a closed pipe shows here, not in the interpreter's last flush
        return status
    except (CliError, ValueError, NotImplementedError, OverflowError, ZeroDivisionError) as error:
        print(f"emkit {args.command}: error: {in_cli_words(error, subparser)}", file=sys.stderr)
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


def given_options(subparser: argparse.ArgumentParser, parser: argparse.ArgumentParser,
                  argv: Sequence[str] | None) -> dict[str, str]:
    """The options given on the command line (not left at their defaults), as ``{dest: option}``
    with the option as the user would name it (``-k``, ``--tol``)."""
    saved = {id(action): action.default for action in subparser._actions}
    try:
        for action in subparser._actions:
            action.default = argparse.SUPPRESS
        explicit = vars(parser.parse_args(argv))
    finally:
        for action in subparser._actions:
            action.default = saved[id(action)]
    return {action.dest: action.option_strings[0] for action in subparser._actions
            if action.option_strings and action.dest in explicit}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def check_output_path(path: str | None, option: str, formats: Sequence[str] = ()) -> None:
    """Before any work: ``path`` (a file to write) names a file in an existing, writable folder,
    with one of the extensions ``formats`` when given.

    Raises
    ------
    CliError
        Naming ``option`` for a folder, a missing folder or one that cannot be written, or an
        extension not among ``formats``.
    """
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{option}: {path} is a folder; give a file name (e.g. {target / 'figure.png'})")
    if formats and target.suffix.lower().lstrip(".") not in formats:
        raise CliError(f"{option}: cannot tell the format of {path}; give a file name ending in "
                       f"{', '.join('.' + f for f in formats[:-1])} or .{formats[-1]}")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"{option}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CliError(f"{option}: cannot write in the folder {folder}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
