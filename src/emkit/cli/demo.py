"""``emkit demo``: the worked examples and a report with figures."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..demo import run_demo
from .common import CliError


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
    check_output_folder(args.out, "--out")
    report = run_demo(args.out)
    print(f"wrote {report} and its figures in {report.parent}/")
    return 0


def check_output_folder(path: str, option: str) -> None:
    """Before any work: ``path`` is a folder that can be written (made if it does not exist).

    Raises
    ------
    CliError
        Naming ``option`` for a file in the way, or a folder that cannot be made or written.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise CliError(f"{option}: {path} is a file, not a folder; give a folder for the report and its figures")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"{option}: cannot make the folder {path} ({error.strerror or error})") from None
    if not os.access(target, os.W_OK | os.X_OK):
        raise CliError(f"{option}: cannot write in the folder {path}")
