"""Reading a data table for the command line, as the tools people use read it.

CSV files (any delimiter among comma, semicolon and tab, detected from the first lines or given
with ``--sep``; UTF-8 with or without a byte-order mark, UTF-16 by its mark, another encoding
with ``--encoding``) and Parquet files (by their extension) are read by pandas. Every column is
kept: the fits take the numeric ones (the others are named on standard error, and a column of
any values can still cut sequences), missing cells (empty, NA, nan, null, none, ?) are NaN.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from .common import CliError
from .messages import shown

if TYPE_CHECKING:  # pandas is imported when a file is read, not when the command starts
    import pandas as pd

#: Cells read as missing values (besides pandas' own, e.g. "NaN", "NULL").
MISSING_CELLS = ["", "na", "NA", "nan", "null", "none", "None", "?"]

#: Delimiters the detection chooses among.
DELIMITERS = ",;\t"

#: Bytes looked at to detect the encoding and the delimiter.
SAMPLE_BYTES = 1 << 16

#: Distinct symbols a ``--categorical`` column may always have (more only if they are whole
#: numbers or words, and at most one for every two rows).
MAX_SYMBOLS = 50

PARQUET_SUFFIXES = (".parquet", ".pq")


def add_input_options(parser) -> None:
    """``--columns``, ``--sep`` and ``--encoding`` of every subcommand that reads a table."""
    group = parser.add_argument_group("input")
    group.add_argument("--columns", help="comma-separated columns to fit (default: every numeric column)")
    group.add_argument("--sep", help="CSV delimiter (default: detected among comma, semicolon and tab)")
    group.add_argument("--encoding", help="text encoding of a CSV file (default: UTF-8, or UTF-16 by its mark)")


@dataclass(frozen=True)
class Table:
    """The columns of a data file as read (``frame``, every column), and its path."""

    path: str
    frame: pd.DataFrame

    @property
    def columns(self) -> list[str]:
        """The column names."""
        return [str(name) for name in self.frame.columns]

    def numeric(self, names: str | None, exclude: tuple[str, ...] = (),
                first_line: int = 2) -> tuple[list[str], np.ndarray]:
        """The chosen columns as a float64 array ``(n, p)`` with NaN for missing cells: ``names``
        (comma-separated, from ``--columns``), or every column of numbers but ``exclude`` (columns
        of text, dates or other values are named on standard error and left out).
        ``first_line``: the file's line of the first row (for messages).

        Raises
        ------
        CliError
            For a column that does not exist or holds no number (naming ``--columns``), a column
            of numbers with a cell that is not one (naming its line), an infinite value, or no
            column of numbers at all.
        """
        if names is not None:
            chosen = [name.strip() for name in names.split(",") if name.strip()]
            unknown = [name for name in chosen if name not in self.columns]
            twice = [name for name in chosen if chosen.count(name) > 1]
            if twice:
                raise CliError(f"--columns: column {twice[0]!r} given twice")
            if unknown or not chosen:
                raise CliError(f"--columns: no column(s) {unknown or [names]} in {self.path} "
                               f"(columns: {shown(self.columns)})")
            columns = {name: _numbers(self.frame[name]) for name in chosen}
            text = [name for name in chosen if columns[name] is None]
            if text:
                cells = self.frame[text[0]]
                first = int(np.argmax(cells.notna().to_numpy())) if cells.notna().any() else 0
                raise CliError(f"--columns: column {text[0]!r} holds no numbers in {self.path} "
                               f"(line {first_line + first}: {cells.iloc[first]!r})")
        else:
            columns = {name: _numbers(self.frame[name]) for name in self.columns if name not in exclude}
            chosen = [name for name, values in columns.items() if values is not None]
            left_out = [name for name, values in columns.items() if values is None]
            if not chosen:
                raise CliError(f"DATA: {self.path} has no column of numbers (columns: {shown(self.columns)})")
            if left_out:
                print(f"emkit: note: left out the column(s) {shown(left_out)} of {self.path}, which do not hold "
                      "numbers (--columns chooses the columns)", file=sys.stderr)
        for name in chosen:
            if np.isnan(columns[name]).all():
                raise CliError(f"DATA: column {name!r} of {self.path} has no value (every cell is missing); leave it "
                               "out with --columns")
            bad = np.flatnonzero(self.frame[name].notna().to_numpy() & np.isnan(columns[name]))
            if bad.size:
                raise CliError(f"DATA: column {name!r} is not numeric in {self.path} (line {first_line + int(bad[0])}: "
                               f"{self.frame[name].iloc[int(bad[0])]!r})")
        X = np.column_stack([columns[name] for name in chosen]) if chosen else np.empty((len(self.frame), 0))
        infinite = np.isinf(X).any(axis=0)
        if infinite.any():
            raise CliError(f"DATA: column {chosen[int(np.argmax(infinite))]!r} of {self.path} has an infinite value")
        return chosen, np.ascontiguousarray(X)

    def symbols(self, names: str | None, exclude: tuple[str, ...] = ()) -> tuple[list[str], np.ndarray, list]:
        """One column of symbols of any type, as ``([name], codes (n, 1) float with NaN for missing
        cells, the symbols in sorted order)``: ``names`` (``--columns``) or the only column but
        ``exclude``.

        Raises
        ------
        CliError
            Naming ``--columns`` or ``--categorical`` when there is not exactly one such column.
        """
        import pandas as pd

        chosen = ([name.strip() for name in names.split(",") if name.strip()] if names is not None
                  else [name for name in self.columns if name not in exclude])
        unknown = [name for name in chosen if name not in self.columns]
        if unknown:
            raise CliError(f"--columns: no column(s) {unknown} in {self.path} (columns: {shown(self.columns)})")
        if len(chosen) != 1:
            raise CliError(f"--categorical: needs exactly one column of symbols, got {len(chosen)} "
                           f"({shown(chosen)}); choose one with --columns")
        codes, uniques = pd.factorize(self.frame[chosen[0]], sort=True)
        _check_symbols(chosen[0], uniques, int((codes >= 0).sum()))
        symbols = [value.item() if hasattr(value, "item") else str(value) for value in uniques]
        return chosen, np.where(codes < 0, np.nan, codes).astype(float)[:, None], symbols

    def runs(self, name: str, option: str = "--sequence") -> list[int]:
        """The lengths of the runs of equal values (any type: numbers, text, dates) in column
        ``name``: consecutive rows with the same value form one sequence.

        Raises
        ------
        CliError
            Naming ``option`` for a column that does not exist or has a missing value.
        """
        if name not in self.columns:
            raise CliError(f"{option}: no column {name!r} in {self.path} (columns: {shown(self.columns)})")
        values = self.frame[name]
        if values.isna().any():
            raise CliError(f"{option}: column {name!r} has a missing value (row {int(np.argmax(values.isna()))})")
        change = (values.to_numpy()[1:] != values.to_numpy()[:-1])
        return np.diff(np.flatnonzero(np.concatenate([[True], change, [True]]))).tolist()


def read_table(path: str, sep: str | None = None, encoding: str | None = None) -> Table:
    """The table in ``path``: Parquet by its extension, else CSV (see the module); shown as the
    stage "reading PATH" on the command's progress display (``--progress``).

    Raises
    ------
    CliError
        For a file that cannot be read, is not text in the encoding, or holds no data row.
    """
    from ..engine.progress import active   # the command's display, if any

    with active().stage(f"reading {path}") as progress:
        table = _read(path, sep, encoding)
        progress.note(f"{table.frame.shape[0]} rows x {table.frame.shape[1]} columns")
    return table


def _read(path: str, sep: str | None, encoding: str | None) -> Table:
    import pandas as pd

    if str(path).lower().endswith(PARQUET_SUFFIXES):
        try:
            frame = pd.read_parquet(path)
        except ImportError:
            raise CliError(f"DATA: reading Parquet ({path}) needs pyarrow: pip install pyarrow") from None
        except (OSError, ValueError) as error:
            raise CliError(f"DATA: cannot read {path!r} as Parquet ({_first_line(error)})") from None
    else:
        encoding, sample = _sniff_encoding(path, encoding)
        delimiter = sep if sep is not None else _sniff_delimiter(sample)
        try:
            frame = pd.read_csv(path, sep=delimiter, encoding=encoding, na_values=MISSING_CELLS,
                                skipinitialspace=True)
        except UnicodeDecodeError as error:
            raise CliError(f"DATA: {path!r} is not {encoding} text (byte {error.object[error.start]:#04x} at "
                           f"{error.start}); give its encoding with --encoding (e.g. latin-1)") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
            raise CliError(f"DATA: cannot read {path!r} as CSV ({_first_line(error)})") from None
        frame.columns = [str(name).strip() for name in frame.columns]
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise CliError(f"DATA: {path!r} needs a header row and at least one data row")
    return Table(str(path), frame)


def read_batches(path: str, batch_size: int, names: str | None = None, sep: str | None = None,
                 encoding: str | None = None) -> Iterator[np.ndarray]:
    """The chosen numeric columns (as :meth:`Table.numeric` chooses them) of a CSV file,
    ``batch_size`` rows at a time (the file is never whole in memory).

    Raises
    ------
    CliError
        As :func:`read_table`, and for a row with a missing value (naming it).
    """
    import pandas as pd

    encoding, sample = _sniff_encoding(path, encoding)
    delimiter = sep if sep is not None else _sniff_delimiter(sample)
    chosen: list[str] | None = None
    try:
        reader = pd.read_csv(path, sep=delimiter, encoding=encoding, na_values=MISSING_CELLS,
                             skipinitialspace=True, chunksize=batch_size)
        for index, chunk in enumerate(reader):
            chunk.columns = [str(name).strip() for name in chunk.columns]
            chosen, X = Table(str(path), chunk).numeric(names if chosen is None else ",".join(chosen),
                                                        first_line=2 + index * batch_size)
            holes = np.flatnonzero(np.isnan(X).any(axis=1))
            if holes.size:
                raise CliError(f"DATA: data row {index * batch_size + int(holes[0]) + 1} of {path} has a missing "
                               "value; this fit needs complete rows")
            yield X
    except CliError:
        raise
    except UnicodeDecodeError as error:
        raise CliError(f"DATA: {path!r} is not {encoding} text (at byte {error.start}); give its encoding with "
                       "--encoding (e.g. latin-1)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise CliError(f"DATA: cannot read {path!r} as CSV ({_first_line(error)})") from None


def _numbers(values) -> np.ndarray | None:
    """A column as float64 (NaN for missing cells and for cells that are not numbers), or None
    when no cell is a number (a column of text, dates, ...). Booleans are not numbers."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if is_bool_dtype(values):
        return None
    if is_numeric_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)
    import pandas as pd

    if not pd.api.types.is_object_dtype(values) and not pd.api.types.is_string_dtype(values):
        return None   # dates, categories, ...
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return numbers if not np.all(np.isnan(numbers)) else None


def _check_symbols(name: str, symbols, n_observed: int) -> None:
    """A column of symbols has at most ``max(MAX_SYMBOLS, n/2)`` distinct ones, and more than
    :data:`MAX_SYMBOLS` only when they are not fractional numbers (a measurement, not symbols).

    Raises
    ------
    CliError
        Naming ``--categorical``, suggesting to leave it out.
    """
    import pandas as pd

    values = pd.to_numeric(pd.Series(symbols), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    fractional = bool(np.any(np.isfinite(values) & (values != np.round(values))))
    if len(symbols) > max(MAX_SYMBOLS, n_observed / 2) or (fractional and len(symbols) > MAX_SYMBOLS):
        raise CliError(f"--categorical: column {name!r} has {len(symbols)} distinct values in {n_observed} rows"
                       f"{', fractional numbers' if fractional else ''}: a measurement, not symbols; leave out "
                       "--categorical for Gaussian states")


def _sniff_encoding(path: str, encoding: str | None) -> tuple[str, str]:
    """The encoding (given, else UTF-16 by its byte-order mark, else UTF-8 with or without one)
    and the decoded first :data:`SAMPLE_BYTES` of the file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(SAMPLE_BYTES)
    except OSError as error:
        raise CliError(f"DATA: cannot read {path!r} ({error.strerror})") from None
    if encoding is None:
        encoding = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        sample = head.decode(encoding, errors="strict")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:   # not a character cut by the sample's end
            raise CliError(f"DATA: {path!r} is not {encoding} text (byte {head[error.start]:#04x} at {error.start}); "
                           "give its encoding with --encoding (e.g. latin-1)") from None
        sample = head[:error.start].decode(encoding)
    except LookupError:
        raise CliError(f"--encoding: unknown encoding {encoding!r}") from None
    return encoding, sample


def _sniff_delimiter(sample: str) -> str:
    """The delimiter among :data:`DELIMITERS` that splits the first lines consistently (comma
    when none does)."""
    lines = "\n".join(sample.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(lines, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__


def label_column(table: Table, name: str | None, columns: str | None = None) -> np.ndarray | None:
    """``--label``: the values of column ``name`` as text (``"NA"`` for a missing cell), the true
    groups that mark a figure; None without ``--label``.

    Raises
    ------
    CliError
        Naming ``--label`` for a column that does not exist or is also among ``--columns``.
    """
    if name is None:
        return None
    if name not in table.columns:
        raise CliError(f"--label: no column {name!r} in {table.path} (columns: {shown(table.columns)})")
    if columns is not None and name in [c.strip() for c in columns.split(",")]:
        raise CliError(f"--label: column {name!r} is also in --columns; a label column is not fitted")
    _, codes, symbols = table.symbols(name)
    return np.array(["NA" if np.isnan(code) else str(symbols[int(code)]) for code in codes[:, 0]])
