"""Figures of the EM variants: Monte Carlo EM with its noise band, online EM parameter paths."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..engine.model import array_labels
from ..variants.mcem import MCEMResult
from ..variants.online import OnlineResult
from .convergence import panels_figure


def plot_mcem_paths(result: MCEMResult, ax, band: float = 2.0) -> None:
    """Each parameter (flat-vector order) by iteration, with a ``±band`` Monte Carlo standard-error
    band around every Monte Carlo step (the spread of the M-step over the draw batches)."""
    model = result.model
    vectors = result.trace.vectors(model)
    labels = [label for name in model.param_names
              for label in array_labels(name, np.shape(result.trace.params[0][name]))]
    iterations = np.arange(len(vectors))
    se = np.vstack([np.zeros(vectors.shape[1])] + list(result.param_se))
    for label, column, error in zip(labels, vectors.T, se.T):
        (line,) = ax.plot(iterations, column, marker="o", markersize=3, label=label)
        ax.fill_between(iterations, column - band * error, column + band * error, color=line.get_color(), alpha=0.25,
                        linewidth=0)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"estimate (±{band:g} Monte Carlo se)")
    ax.legend(fontsize="small")


def plot_mcem_increase(result: MCEMResult, ax, band: float = 2.0) -> None:
    """Estimated increase of Q per iteration with ``±band`` standard errors (log scale), and the
    number of draws m_t on a second axis."""
    steps = np.arange(1, len(result.delta_q) + 1)
    delta = np.asarray(result.delta_q)
    se = np.asarray(result.delta_q_se)
    positive = delta > 0
    ax.errorbar(steps[positive], delta[positive], yerr=np.minimum(band * se[positive], 0.999 * delta[positive]),
                fmt="o", markersize=3, color="tab:blue", label="ΔQ estimate")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("ΔQ", color="tab:blue")
    sizes = ax.twinx()
    sizes.step(steps, result.sample_sizes, where="mid", color="tab:orange")
    sizes.set_yscale("log")
    sizes.set_ylabel("Monte Carlo draws m_t", color="tab:orange")


def mcem_figure(result: MCEMResult, title: str = "") -> Figure:
    """Parameter paths with their Monte Carlo noise band (left); ΔQ and the sample sizes (right)."""
    return panels_figure(result, [plot_mcem_paths, plot_mcem_increase], title)


def plot_online_paths(result: OnlineResult, ax) -> None:
    """Each user-facing parameter against the batch index: the iterates (thin) and the estimate
    the fit returns (Polyak–Ruppert average once averaging starts; thick)."""
    labels, raw = result.trace.named_table(result.model)
    _, estimate = result.averaged_trace.named_table(result.model)
    batches = np.asarray(result.path_batches)
    for label, path, average in zip(labels, raw.T, estimate.T):
        (line,) = ax.plot(batches, path, linewidth=0.8, alpha=0.6)
        ax.plot(batches, average, color=line.get_color(), linewidth=2.0, label=label)
    if batches[-1] > 10 * max(batches[1], 1):
        ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("batch")
    ax.set_ylabel("estimate (thin: iterate, thick: average)")
    ax.legend(fontsize="small")


def plot_online_score(result: OnlineResult, ax) -> None:
    """Per-observation log-likelihood of each batch at the parameters before its update."""
    ax.plot(result.path_batches[1:], result.trace.loglik[1:], marker=".", markersize=3)
    ax.set_xlabel("batch")
    ax.set_ylabel("predictive log-likelihood per observation")


def online_figure(result: OnlineResult, title: str = "") -> Figure:
    """Online parameter paths (left) and the predictive log-likelihood per batch (right)."""
    return panels_figure(result, [plot_online_paths, plot_online_score], title)
