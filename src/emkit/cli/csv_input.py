"""Reading a numeric CSV file for the command line: a header row, then numbers or missing cells."""

from __future__ import annotations

import csv

import numpy as np

from .common import CliError

#: Cells read as missing values.
MISSING_CELLS = frozenset({"", "na", "nan", "null", "none", "?"})


def read_csv(path: str) -> tuple[list[str], np.ndarray]:
    """Header and float matrix of a CSV file; missing cells become NaN.

    Raises
    ------
    CliError
        For an unreadable or empty file, ragged rows, or a cell that is not a number (naming
        its column and line).
    """
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise CliError(f"DATA.csv: cannot read {path!r} ({error.strerror})") from None
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise CliError(f"DATA.csv: {path!r} needs a header row and at least one data row")
    header = [name.strip() for name in rows[0]]
    values = np.empty((len(rows) - 1, len(header)))
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CliError(f"DATA.csv: line {line} has {len(row)} cells, the header has {len(header)}")
        for j, cell in enumerate(row):
            text = cell.strip()
            if text.lower() in MISSING_CELLS:
                values[line - 2, j] = np.nan
                continue
            try:
                values[line - 2, j] = float(text)
            except ValueError:
                raise CliError(f"DATA.csv: column {header[j]!r} is not numeric (line {line}: {text!r})") from None
            if not np.isfinite(values[line - 2, j]):
                raise CliError(f"DATA.csv: column {header[j]!r} has an infinite value (line {line})")
        if np.isnan(values[line - 2]).all():
            raise CliError(f"DATA.csv: line {line} has no value (every cell is missing); remove it")
    return header, values
