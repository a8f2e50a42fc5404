"""Hidden Markov model figures: the series with its decoded states shaded, posteriors underneath.

The shading is one image row per panel (a colour per state), so series of a million steps draw as
fast as short ones; the posterior state probabilities ``p(z_t = k | x)`` are stacked areas that
sum to one at every step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .matching import match_labels

#: Most symbols named on the y axis of a categorical series (beyond, their codes are shown).
MAX_SYMBOL_TICKS = 20

#: Colours of states 0, 1, ... (matplotlib's tab10, repeated beyond ten states).
STATE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                 "tab:gray", "tab:olive", "tab:cyan")


def state_colours(n_states: int) -> list[str]:
    """One colour per state."""
    return [STATE_COLOURS[k % len(STATE_COLOURS)] for k in range(n_states)]


def shade_states(ax, states: np.ndarray, n_states: int, alpha: float = 0.25,
                 colours: Sequence[str] | None = None) -> None:
    """Shade the background of ``ax`` by state (``colours``, default :func:`state_colours`), step
    ``t`` covering ``[t − ½, t + ½]``."""
    low, high = ax.get_ylim()
    ax.imshow(np.asarray(states)[None, :], aspect="auto", interpolation="nearest", alpha=alpha,
              cmap=ListedColormap(colours or state_colours(n_states)), vmin=-0.5, vmax=n_states - 0.5,
              extent=(-0.5, len(states) - 0.5, low, high), zorder=0)
    ax.set_ylim(low, high)


def plot_series(ax, x: np.ndarray, states: np.ndarray, n_states: int, *, categorical: bool = False,
                name: str = "observation", symbols: Sequence | None = None) -> None:
    """One observed column against time (a line, or dots for symbols), shaded by state; the
    y axis is labelled ``name`` (and, for symbols, ticked with their values)."""
    x = np.asarray(x, dtype=float).ravel()
    steps = np.arange(len(states))
    if categorical:
        ax.plot(steps, x, ".", color="black", markersize=2.5)
        if symbols is not None and len(symbols) <= MAX_SYMBOL_TICKS:
            ax.set_yticks(np.arange(len(symbols)), [str(symbol) for symbol in symbols])
        ax.set_ylim(np.nanmin(x) - 0.5, np.nanmax(x) + 0.5)
    else:
        ax.plot(steps, x, "-", color="black", linewidth=0.7)
    shade_states(ax, states, n_states)
    ax.set_xlim(-0.5, len(states) - 0.5)
    ax.set_ylabel(name)


def plot_state_band(ax, states: np.ndarray, n_states: int, label: str, colours: Sequence[str] | None = None) -> None:
    """A thin band coloured by state (e.g. the true path beside the decoded one)."""
    ax.set_ylim(0, 1)
    shade_states(ax, states, n_states, alpha=0.8, colours=colours)
    ax.set_yticks([])
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")


def plot_posteriors(ax, posteriors: np.ndarray, state_labels: Sequence[str] | None = None) -> None:
    """Posterior state probabilities ``p(z_t = k | x)`` as stacked areas."""
    posteriors = np.asarray(posteriors, dtype=float)
    n_steps, n_states = posteriors.shape
    labels = list(state_labels) if state_labels is not None else [f"state {k}" for k in range(n_states)]
    ax.stackplot(np.arange(n_steps), posteriors.T, colors=state_colours(n_states), labels=labels, alpha=0.8,
                 step="mid")
    ax.set_xlim(-0.5, n_steps - 0.5)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time step")
    ax.set_ylabel("posterior p(state | data)", fontsize="small")


def hmm_figure(X: np.ndarray, states: np.ndarray, posteriors: np.ndarray, *, title: str = "",
               categorical: bool = False, feature_labels: Sequence[str] | None = None,
               state_labels: Sequence[str] | None = None, truth: np.ndarray | None = None,
               lengths: Sequence[int] | None = None, sequence_names: Sequence[str] | None = None,
               symbols: Sequence | None = None, truth_label: str = "truth", note: str = "",
               first_step: int = 0) -> Figure:
    """The series with the decoded states shaded (one panel per column, labelled with its name),
    the true states as a band with the steps where decoding misses them (when known), and the
    posterior state probabilities underneath.

    Parameters
    ----------
    X : array of shape (n_steps,) or (n_steps, n_features)
        The observations (codes ``0..len(symbols)-1`` for a categorical series).
    states : array of int, shape (n_steps,)
        Decoded states (e.g. Viterbi).
    posteriors : array of shape (n_steps, n_states)
        ``p(z_t = k | x)``.
    truth : array, shape (n_steps,), optional
        True states or groups of any values, matched to the states (:func:`match_labels`) and
        drawn as a band under the series, with a band marking the steps where they differ.
    lengths, sequence_names : optional
        Sequence lengths (boundaries drawn as dashed lines) and the names written above each.
    symbols : sequence, optional
        The values of the symbol codes (tick labels of a categorical series).
    note : str
        A line under the title (e.g. how often decoding matches the truth over a whole series).
    first_step : int
        Number of the first step drawn (for a window of a longer series).
    """
    n_states = np.shape(posteriors)[1]
    states = np.asarray(states)
    X = np.asarray(X, dtype=float).reshape(len(states), -1)
    names = list(feature_labels) if feature_labels is not None else [f"x{j}" for j in range(X.shape[1])]
    labels = list(state_labels) if state_labels is not None else [f"state {k}" for k in range(n_states)]
    heights = [2.2 if X.shape[1] == 1 else 1.4] * X.shape[1] + ([0.35, 0.35] if truth is not None else []) + [1.4]
    figure = Figure(figsize=(11, 1.2 + sum(heights)), layout="constrained")
    axes = figure.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    for j, ax in enumerate(axes[:X.shape[1]]):
        plot_series(ax, X[:, j], states, n_states, categorical=categorical, name=names[j], symbols=symbols)
    if truth is not None:
        matching = match_labels(states, truth)
        matched = np.array([matching.get(value, -1) for value in np.asarray(truth).tolist()])
        plot_state_band(axes[X.shape[1]], np.where(matched < 0, n_states, matched), n_states + 1, truth_label,
                        colours=state_colours(n_states) + ["lightgray"])
        wrong = matched != states
        plot_state_band(axes[X.shape[1] + 1], wrong.astype(int), 2, "decoded ≠ " + truth_label,
                        colours=["white", "black"])
        if any(str(value) != str(state) for value, state in matching.items()):
            labels = [label + "".join(f" ≈ {truth_label} {value}" for value, state in matching.items() if state == k)
                      for k, label in enumerate(labels)]
    plot_posteriors(axes[-1], posteriors, labels)
    if first_step:
        axes[-1].xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value + first_step:g}"))
    starts = np.concatenate([[0], np.cumsum(lengths)]) if lengths is not None else np.array([0, len(states)])
    for boundary in starts[1:-1]:
        for ax in axes:
            ax.axvline(boundary - 0.5, color="black", linestyle="--", linewidth=0.8)
    for name, start, stop in zip(sequence_names or (), starts[:-1], starts[1:]):
        axes[0].text(0.5 * (start + stop) - 0.5, 1.01, str(name), transform=axes[0].get_xaxis_transform(),
                     ha="center", va="bottom", fontsize="small")
    figure.legend(handles=[Patch(color=c, alpha=0.6, label=label) for c, label in zip(state_colours(n_states), labels)],
                  loc="outside lower center", ncol=min(n_states, 6), fontsize="small", frameon=False)
    if title or note:
        figure.suptitle("\n".join(filter(None, [title, note])), fontsize="medium")
    return figure
