"""Convergence figures: parameter paths and the log-likelihood trace of an EM run."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..engine import EMResult


def plot_parameter_paths(result: EMResult, ax) -> None:
    """Each parameter against the iteration, with its final value as a dotted line."""
    labels, values = result.trace.named_table(result.model)
    iterations = np.arange(len(values))
    for label, column in zip(labels, values.T):
        (line,) = ax.plot(iterations, column, marker="o", markersize=3, label=label)
        ax.axhline(column[-1], color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("estimate")
    ax.legend(fontsize="small")


def plot_loglik(result: EMResult, ax) -> None:
    """Observed-data log-likelihood by iteration, and its distance to the final value (log scale)."""
    ll = np.asarray(result.trace.loglik)
    ax.plot(np.arange(len(ll)), ll, marker="o", markersize=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("log-likelihood")
    gap = ll[-1] - ll[:-1]
    if gap.size and np.any(gap > 0):
        inset = ax.inset_axes([0.45, 0.12, 0.5, 0.45])
        keep = gap > 0
        inset.semilogy(np.flatnonzero(keep), gap[keep], color="tab:red", marker=".", markersize=3)
        inset.set_title("ℓ(final) − ℓ(t)", fontsize="small")
        inset.tick_params(labelsize="x-small")


def panels_figure(result: Any, painters: Sequence[Callable[[Any, Any], None]], title: str = "") -> Figure:
    """A figure of ``painter(result, ax)`` panels side by side (6 by 4 inches for one panel,
    11 by 4 for two), with ``title`` above them."""
    figure = Figure(figsize=(6, 4) if len(painters) == 1 else (5.5 * len(painters), 4))
    axes = np.atleast_1d(figure.subplots(1, len(painters)))
    for painter, ax in zip(painters, axes):
        painter(result, ax)
    figure.suptitle(title)
    if len(painters) > 1:
        figure.tight_layout()
    return figure


def parameter_path_figure(result: EMResult, title: str = "") -> Figure:
    """Figure of the parameter paths alone."""
    return panels_figure(result, [plot_parameter_paths], title)


def loglik_figure(result: EMResult, title: str = "") -> Figure:
    """Figure of the log-likelihood trace alone."""
    return panels_figure(result, [plot_loglik], title)


def convergence_figure(result: EMResult, title: str = "") -> Figure:
    """Parameter paths (left) and log-likelihood trace (right) side by side."""
    return panels_figure(result, [plot_parameter_paths, plot_loglik], title)
