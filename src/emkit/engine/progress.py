"""The progress bar every EM driver shows with ``verbose=True`` (tqdm)."""

from __future__ import annotations

from contextlib import nullcontext


def progress_bar(verbose: bool, total: int | None, label: str):
    """A tqdm bar ``EM <label>`` counting iterations (a no-op context when not ``verbose``)."""
    if not verbose:
        return nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"EM {label}", unit="it", leave=False)
