"""Writing figures: the format is the one the file's extension names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Extensions ``--plot`` accepts, each naming its format.
FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_format(path: str | Path) -> str | None:
    """The format named by ``path``'s extension (lower case), or None when it names none of
    :data:`FIGURE_FORMATS`."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in FIGURE_FORMATS else None


def save_figure(figure: Any, path: str | Path, dpi: int = 120) -> None:
    """Write the matplotlib ``figure`` to ``path`` in the format its extension names.

    Raises
    ------
    ValueError
        For an extension that names none of :data:`FIGURE_FORMATS`.
    """
    format = figure_format(path)
    if format is None:
        raise ValueError(f"path: expected a file name ending in {', '.join('.' + f for f in FIGURE_FORMATS)}, "
                         f"got {str(path)!r}")
    figure.savefig(path, format=format, dpi=dpi, bbox_inches="tight")
