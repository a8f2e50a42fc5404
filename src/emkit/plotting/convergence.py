"""Convergence figures: parameter paths and the log-likelihood trace of an EM run."""

from __future__ import annotations

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


def parameter_path_figure(result: EMResult, title: str = "") -> Figure:
    """Figure of the parameter paths alone."""
    figure = Figure(figsize=(6, 4))
    plot_parameter_paths(result, figure.add_subplot())
    figure.suptitle(title)
    return figure


def loglik_figure(result: EMResult, title: str = "") -> Figure:
    """Figure of the log-likelihood trace alone."""
    figure = Figure(figsize=(6, 4))
    plot_loglik(result, figure.add_subplot())
    figure.suptitle(title)
    return figure


def convergence_figure(result: EMResult, title: str = "") -> Figure:
    """Parameter paths (left) and log-likelihood trace (right) side by side."""
    figure = Figure(figsize=(11, 4))
    left, right = figure.subplots(1, 2)
    plot_parameter_paths(result, left)
    plot_loglik(result, right)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
