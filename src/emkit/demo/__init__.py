"""The worked examples behind ``emkit demo`` (and ``make demo``).

Each section is a module under ``emkit.demo`` with ``run(out: Path) -> str``: it fits its
example, writes its figures into ``out`` and returns its part of ``report.md`` (Markdown).
"""

from __future__ import annotations

import importlib
from pathlib import Path

#: Demo sections, in report order.
SECTIONS = ("moth", "gmm", "casino")


def run_demo(out: str | Path, sections: tuple[str, ...] = SECTIONS) -> Path:
    """Run every section into ``out`` and write ``out/report.md``; returns the report path."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = ["# emkit demo\n", "Every number below was computed by `emkit demo` from the data shown.\n"]
    for name in sections:
        parts.append(importlib.import_module(f"emkit.demo.{name}").run(out))
    report = out / "report.md"
    report.write_text("\n".join(parts))
    return report
