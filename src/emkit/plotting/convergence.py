"""Convergence figures: parameter paths and the log-likelihood trace of an EM run.

The log-likelihood panel shows the distance to the final value, ``ℓ(final) − ℓ(t)``, on a log
axis (EM's linear rate is a straight line there), with ``ℓ(t)`` itself in a labelled inset.
Distances within round-off of the final value (:data:`ROUND_OFF` relative) are not drawn: at
that level the differences of ``ℓ`` are noise of the floating-point sums, not progress or loss.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..engine import EMResult

#: Relative size of ``ℓ(final) − ℓ(t)`` below which the difference is floating-point round-off.
ROUND_OFF = 1e-12

#: Most lines of a parameter panel that get a legend entry each; beyond, one entry per component.
MAX_LEGEND_ENTRIES = 8


def integer_ticks(axis) -> None:
    """Ticks at whole numbers only (iterations, counts, numbers of components)."""
    axis.set_major_locator(MaxNLocator(integer=True))


def parameter_blocks(result: EMResult) -> list[tuple[str, list[str], np.ndarray]]:
    """The user-facing parameters by block, as ``(name, entry labels, values by iterate (T, m))``.

    Scalars are gathered in one block (``""``); every array parameter is a block of its own.
    A block of symmetric matrices (last two axes equal, symmetric at every iterate, e.g.
    covariances) keeps only the entries on and above the diagonal.
    """
    named = [result.model.named_params(p) for p in result.trace.params]
    scalars = [key for key, value in named[0].items() if np.ndim(value) == 0]
    blocks = []
    if scalars:
        blocks.append(("", scalars, np.array([[row[key] for key in scalars] for row in named], dtype=float)))
    for key in (key for key in named[0] if key not in scalars):
        values = np.array([row[key] for row in named], dtype=float)
        shape = values.shape[1:]
        keep = np.ones(shape, dtype=bool)
        if len(shape) >= 2 and shape[-1] == shape[-2] and np.allclose(values, np.swapaxes(values, -1, -2)):
            keep = np.broadcast_to(np.triu(np.ones(shape[-2:], dtype=bool)), shape)
        indices = [index for index in np.ndindex(*shape) if keep[index]]
        labels = [f"{key}[{','.join(str(i) for i in index)}]" for index in indices]
        blocks.append((key, labels, np.array([[row[index] for index in indices] for row in values])))
    return blocks


def plot_parameter_paths(result: EMResult, ax, block: str | None = None) -> None:
    """Each parameter against the iteration, with its final value as a dotted line.

    ``block``: one block of :func:`parameter_blocks` (its name; ``""`` for the scalars), or
    every parameter when None. Up to :data:`MAX_LEGEND_ENTRIES` lines are named one by one;
    more are coloured by their first index (the component) with one legend entry per colour.
    """
    blocks = parameter_blocks(result)
    if block is not None:
        blocks = [b for b in blocks if b[0] == block]
    labels = [label for _, names, _ in blocks for label in names]
    values = np.hstack([table for _, _, table in blocks])
    iterations = np.arange(len(values))
    by_component = len(labels) > MAX_LEGEND_ENTRIES
    named_colours: dict[str, str] = {}
    for label, column in zip(labels, values.T):
        key = _component_key(label) if by_component else label
        colour = named_colours.get(key)
        (line,) = ax.plot(iterations, column, marker="o", markersize=2.5, linewidth=1.0, color=colour,
                          label=None if colour is not None else key)
        named_colours.setdefault(key, line.get_color())
        ax.axhline(column[-1], color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set_xlabel("iteration")
    integer_ticks(ax.xaxis)
    ax.set_ylabel("estimate" if not block else f"{block} (estimate)")
    ax.set_title(block or ", ".join(labels), fontsize="medium")
    ax.legend(fontsize="small", loc="best", ncol=2 if len(named_colours) > 4 else 1,
              title="entries by component" if by_component else None, title_fontsize="small")


def _component_key(label: str) -> str:
    """``scatters[1,0,2]`` → ``scatters[1,…]`` (the entries of one component share a colour)."""
    name, _, index = label.partition("[")
    first = index.split(",")[0].rstrip("]")
    return f"{name}[{first}{',…' if ',' in index else ''}]"


def plot_loglik(result: EMResult, ax, round_off: float = ROUND_OFF) -> None:
    """``ℓ(final) − ℓ(t)`` on a log axis (main panel) and ``ℓ(t)`` in a labelled inset.

    Iterates within ``round_off · max(1, |ℓ(final)|)`` of the final value are left out of the
    log panel (the level is drawn as a dashed line); iterates above the final value by more than
    that (a real decrease of ℓ afterwards) are marked. With nothing above round-off, the panel
    shows ``ℓ(t)`` itself.
    """
    ll = np.asarray(result.trace.loglik, dtype=float)
    iterations = np.arange(len(ll))
    floor = round_off * max(1.0, abs(ll[-1]))
    gap = ll[-1] - ll
    shown = gap > floor
    if not shown.any():
        ax.plot(iterations, ll, marker="o", markersize=3)
        ax.set_xlabel("iteration")
        ax.set_ylabel("log-likelihood ℓ(t)")
        integer_ticks(ax.xaxis)
        ax.set_title(f"within round-off of the final value from iteration 0 (ℓ = {ll[-1]:.6g})", fontsize="small")
        return
    ax.semilogy(iterations[shown], gap[shown], color="tab:red", marker="o", markersize=3, linewidth=1.0,
                label="ℓ(final) − ℓ(t)")
    ax.axhline(floor, color="0.4", linestyle="--", linewidth=0.8)
    above = gap < -floor
    if above.any():
        ax.plot(iterations[above], np.full(above.sum(), floor), linestyle="none", marker="v", color="black",
                label="ℓ(t) above the final value")
    ax.set_xlim(-0.5, len(ll) - 0.5)
    ax.set_xlabel("iteration")
    integer_ticks(ax.xaxis)
    ax.set_ylabel("ℓ(final) − ℓ(t)  (log scale)")
    ax.set_title(f"distance to the final log-likelihood ℓ = {ll[-1]:.8g}", fontsize="medium")
    ax.text(0.02, floor, f" round-off level ({round_off:g} × |ℓ|)", transform=ax.get_yaxis_transform(),
            fontsize="x-small", color="0.3", va="bottom")
    if above.any():
        ax.legend(fontsize="small", loc="lower left")
    inset = ax.inset_axes([0.56, 0.52, 0.4, 0.4])
    inset.plot(iterations, ll, color="tab:blue", marker=".", markersize=3, linewidth=0.8)
    inset.set_xlabel("iteration", fontsize="x-small", labelpad=1)
    inset.set_ylabel("ℓ(t)", fontsize="x-small", labelpad=1)
    inset.tick_params(labelsize="x-small")
    integer_ticks(inset.xaxis)


def panels_figure(result: Any, painters: Sequence[Callable[[Any, Any], None]], title: str = "",
                  columns: int = 3) -> Figure:
    """A figure of ``painter(result, ax)`` panels, up to ``columns`` a row, rows filled evenly (5.5 by 4 inches
    each; 6 by 4 for one panel), with ``title`` above them (constrained layout)."""
    rows = -(-len(painters) // columns)
    width = -(-len(painters) // rows)
    figure = Figure(figsize=(6, 4) if len(painters) == 1 else (5.5 * width, 4 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, width)).ravel()
    for painter, ax in zip(painters, axes):
        painter(result, ax)
    for ax in axes[len(painters):]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title)
    return figure


def parameter_path_figure(result: EMResult, title: str = "") -> Figure:
    """Figure of the parameter paths alone (one panel per block of :func:`parameter_blocks`)."""
    return panels_figure(result, _block_painters(result), title)


def loglik_figure(result: EMResult, title: str = "") -> Figure:
    """Figure of the log-likelihood trace alone."""
    return panels_figure(result, [plot_loglik], title)


def convergence_figure(result: EMResult, title: str = "") -> Figure:
    """Parameter paths (one panel per block: the scalars together, each array on its own) and the
    log-likelihood trace."""
    return panels_figure(result, _block_painters(result) + [plot_loglik], title)


def _block_painters(result: EMResult) -> list[Callable[[Any, Any], None]]:
    return [lambda r, ax, name=name: plot_parameter_paths(r, ax, name) for name, _, _ in parameter_blocks(result)]
