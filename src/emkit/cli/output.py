"""What a fitting subcommand prints: tables a person can read, or one JSON object a script can parse.

Tables have a title, row labels and column headers; wide ones are wrapped into several tables of at
most :data:`LINE_WIDTH` characters and long headers are abbreviated. Every subcommand's JSON object
has the same keys (:data:`JSON_KEYS`, documented in the README's command-line section).
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

#: Widest printed line of a table.
LINE_WIDTH = 100
#: Widest column header; longer names are cut and end in "~".
HEADER_WIDTH = 20
#: Significant digits of printed estimates.
DIGITS = 6
#: Lists longer than this (of numbers or strings) are written on one line of the JSON.
LONG_LIST = 20
#: Stands for a long list while the rest of the JSON is indented (no key or value can hold it).
PLACEHOLDER = "\x00emkit-long-list-"

#: The keys of every ``--json`` object, in order (those that do not apply are null), then any
#: subcommand-specific ones (``selection``, ``lengths``, ``symbols``, ``online``, ``mcem``) and, with
#: ``--se``, ``se_method``, ``se``, ``cov``, ``em_rate`` and ``intervals``.
JSON_KEYS = ("command", "model", "columns", "n_rows", "n_components", "params", "loglik", "criteria",
             "n_iter", "n_evaluations", "converged", "settings", "labels", "notes")

#: How a parameter is laid out: one number, one per component, a row per component with one
#: value per column, a vector over the columns, a matrix over the columns, or one matrix per component.
LAYOUTS = ("scalar", "component", "component-column", "column", "matrix", "component-matrix")


def covariance_layout(covariance_type: str) -> str:
    """The :data:`LAYOUTS` entry of covariances (or t scatters) of ``covariance_type``."""
    from ..kernels.covariance_structures import covariance_structure

    structure = covariance_structure(covariance_type)
    if structure.diagonal:
        return "component" if len(structure.shape(1, 1)) == 1 else "component-column"
    return "matrix" if structure.shared else "component-matrix"


@dataclass
class Table:
    """A titled table of numbers with row labels and column headers."""

    title: str
    rows: Sequence[str]
    columns: Sequence[str]
    cells: np.ndarray
    #: Significant digits per column (default :data:`DIGITS` for every column).
    digits: Sequence[int] | None = None

    def render(self, width: int = LINE_WIDTH) -> str:
        """The table as text, split into column chunks no wider than ``width``."""
        cells = np.atleast_2d(np.asarray(self.cells))
        digits = self.digits or [DIGITS] * cells.shape[1]
        texts = [[_number(value, n) for value, n in zip(row, digits)] for row in cells]
        headers = [_abbreviate(str(c)) for c in self.columns]
        label_width = max([len(str(r)) for r in self.rows] + [1])
        widths = [max([len(h)] + [len(row[j]) for row in texts]) for j, h in enumerate(headers)]
        chunks, start = [], 0
        while start < len(headers) or not chunks:
            stop, used = start, label_width
            while stop < len(headers) and (stop == start or used + 2 + widths[stop] <= width):
                used += 2 + widths[stop]
                stop += 1
            chunks.append(range(start, stop))
            start = stop
            if not headers:
                break
        lines = [self.title]
        for n, chunk in enumerate(chunks):
            if n:
                lines.append("")
            lines.append(" " * label_width + "".join(f"  {headers[j]:>{widths[j]}}" for j in chunk))
            for label, row in zip(self.rows, texts):
                lines.append(f"{str(label):<{label_width}}" + "".join(f"  {row[j]:>{widths[j]}}" for j in chunk))
        return "\n".join(lines)


def parameter_tables(named: Mapping[str, Any], layouts: Mapping[str, str], *, components: Sequence[str] = (),
                     columns: Sequence[str] = (), se: Mapping[str, Any] | None = None,
                     titles: Mapping[str, str] | None = None) -> list[Table]:
    """Tables of the estimates ``named`` (and their standard errors ``se``), by each one's layout.

    Scalars share one table (estimate, se); per-component numbers share one table with a row per
    component; every other parameter gets its own table titled ``titles[name]`` (default the name),
    followed by a table of its standard errors.
    """
    titles = dict(titles or {})
    scalars = [name for name in named if layouts[name] == "scalar"]
    per_component = [name for name in named if layouts[name] == "component"]
    tables = []
    if scalars:
        values = [[named[name]] + ([se[name]] if se else []) for name in scalars]
        tables.append(Table("parameters", [titles.get(n, n) for n in scalars], ["estimate"] + (["se"] if se else []),
                            np.array(values, dtype=float)))
    if per_component:
        headers, values = [], []
        for name in per_component:
            headers += [titles.get(name, name)] + ([f"se({titles.get(name, name)})"] if se else [])
            values += [named[name]] + ([se[name]] if se else [])
        tables.append(Table("components", components, headers, np.array(values, dtype=float).T))
    for name in named:
        if layouts[name] in ("scalar", "component"):
            continue
        for source, prefix in [(named, "")] + ([(se, "se of ")] if se else []):
            tables += _block_tables(f"{prefix}{titles.get(name, name)}", np.asarray(source[name], dtype=float),
                                    layouts[name], components, columns)
    return tables


def _block_tables(title: str, values: np.ndarray, layout: str, components: Sequence[str],
                  columns: Sequence[str]) -> list[Table]:
    if layout == "component-column":
        return [Table(title, components, columns, values)]
    if layout == "column":
        return [Table(title, [""], columns, values[None, :])]
    if layout == "matrix":
        return [Table(title, columns, columns, values)]
    if layout == "component-matrix":
        return [Table(f"{title}, component {c}", columns, columns, values[j]) for j, c in enumerate(components)]
    raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")


def render_tables(tables: Sequence[Table]) -> str:
    """Tables separated by blank lines."""
    return "\n\n".join(table.render() for table in tables)


def summary_lines(pairs: Mapping[str, Any]) -> str:
    """``name  value`` lines, names aligned, long values wrapped under themselves (None values left out)."""
    items = [(k, v) for k, v in pairs.items() if v is not None]
    width = max(len(k) for k, _ in items) + 2
    return "\n".join(textwrap.fill(str(v), LINE_WIDTH, initial_indent=f"{k:<{width}}", subsequent_indent=" " * width)
                     for k, v in items)


@dataclass
class Payload:
    """The ``--json`` object: the shared keys (:data:`JSON_KEYS`), then ``extra`` and ``se``."""

    command: str
    model: str
    params: dict[str, Any]
    loglik: float
    n_iter: int
    n_evaluations: int
    converged: bool
    columns: list[str] | None = None
    n_rows: int | None = None
    n_components: int | None = None
    criteria: dict[str, float] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    labels: list | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    se: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready object, keys in :data:`JSON_KEYS` order."""
        shared = {key: getattr(self, key) for key in JSON_KEYS}
        shared.update(loglik=float(self.loglik), n_iter=int(self.n_iter), n_evaluations=int(self.n_evaluations),
                      converged=bool(self.converged))
        return {**shared, **self.extra, **self.se}

    def write(self, stream=None) -> None:
        """Print the object (indented) and a newline."""
        (stream or sys.stdout).write(dumps(self.to_dict()) + "\n")


def dumps(value: Any) -> str:
    """``value`` as indented JSON, with each list of more than :data:`LONG_LIST` numbers or strings
    on one line (a million row labels are then one line, written by the C encoder)."""
    long_lists: list[str] = []

    def collapse(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: collapse(entry) for key, entry in item.items()}
        if isinstance(item, (list, tuple)):
            if len(item) > LONG_LIST and not any(isinstance(entry, (list, tuple, dict)) for entry in item):
                long_lists.append(json.dumps(list(item)))
                return f"{PLACEHOLDER}{len(long_lists) - 1}"
            return [collapse(entry) for entry in item]
        return item

    text = json.dumps(collapse(value), indent=2)
    escaped = re.escape(json.dumps(PLACEHOLDER)[:-1])   # as the encoder writes it, with its opening quote
    return re.sub(escaped + r'(\d+)"', lambda match: long_lists[int(match.group(1))], text)


def _number(value: Any, digits: int = DIGITS) -> str:
    if isinstance(value, (int, np.integer)):
        return str(value)
    value = float(value)
    if np.isnan(value):
        return "-"
    return str(int(value)) if value.is_integer() and abs(value) < 1e12 else f"{value:.{digits}g}"


def _abbreviate(name: str) -> str:
    return name if len(name) <= HEADER_WIDTH else name[:HEADER_WIDTH - 1] + "~"
