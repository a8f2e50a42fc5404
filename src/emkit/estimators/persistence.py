"""Saving fitted estimators as JSON or ``.npz`` (never pickle).

A saved state is a ``kind`` (the estimator class), a JSON-ready ``config`` (constructor
parameters and scalar results) and named float arrays. JSON stores arrays as nested lists
(Python's float repr round-trips exactly); ``.npz`` stores them as arrays and the rest as one JSON
string, and is read back with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "emkit-estimator"
VERSION = 1


def save_state(path: str | Path, kind: str, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``(kind, config, arrays)`` to ``path`` (``.npz`` by suffix, JSON otherwise)."""
    path = Path(path)
    header = {"format": FORMAT, "version": VERSION, "kind": kind, "config": config}
    if path.suffix == ".npz":
        np.savez(path, __header__=np.array(json.dumps(header)),
                 **{name: np.asarray(value, dtype=float) for name, value in arrays.items()})
    else:
        header["arrays"] = {name: np.asarray(value, dtype=float).tolist() for name, value in arrays.items()}
        path.write_text(json.dumps(header, indent=1, allow_nan=False))
    return path


def load_state(path: str | Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a state written by :func:`save_state`; returns ``(config, arrays)``.

    Raises
    ------
    ValueError
        When the file is not an emkit state of this ``kind`` or version.
    """
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as stored:
            if "__header__" not in stored:
                raise ValueError(f"path: {path} is not a saved emkit estimator")
            header = json.loads(str(stored["__header__"]))
            arrays = {name: stored[name] for name in stored.files if name != "__header__"}
    else:
        header = json.loads(path.read_text())
        arrays = {name: np.asarray(value, dtype=float) for name, value in header.get("arrays", {}).items()}
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"path: {path} is not a saved emkit estimator (format {FORMAT} version {VERSION})")
    if header.get("kind") != kind:
        raise ValueError(f"path: {path} holds a {header.get('kind')}, not a {kind}")
    return header["config"], arrays
