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

#: Line colours and styles of the observed features (dark, so they stand out on the shading).
FEATURE_STYLES = (("black", "-"), ("dimgray", "-"), ("black", "--"), ("dimgray", "--"), ("black", ":"))

#: Colours of states 0, 1, ... (matplotlib's tab10, repeated beyond ten states).
STATE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                 "tab:gray", "tab:olive", "tab:cyan")


def state_colours(n_states: int) -> list[str]:
    """One colour per state."""
    return [STATE_COLOURS[k % len(STATE_COLOURS)] for k in range(n_states)]


def shade_states(ax, states: np.ndarray, n_states: int, alpha: float = 0.25) -> None:
    """Shade the background of ``ax`` by state, step ``t`` covering ``[t − ½, t + ½]``."""
    low, high = ax.get_ylim()
    ax.imshow(np.asarray(states)[None, :], aspect="auto", interpolation="nearest", alpha=alpha,
              cmap=ListedColormap(state_colours(n_states)), vmin=-0.5, vmax=n_states - 0.5,
              extent=(-0.5, len(states) - 0.5, low, high), zorder=0)
    ax.set_ylim(low, high)


def plot_series(ax, X: np.ndarray, states: np.ndarray, n_states: int, *, categorical: bool = False,
                feature_labels: Sequence[str] | None = None) -> None:
    """The observations against time (a line per feature, or dots for symbols), shaded by state."""
    X = np.asarray(X, dtype=float).reshape(len(states), -1)
    steps = np.arange(len(states))
    labels = list(feature_labels) if feature_labels is not None else [f"x{j}" for j in range(X.shape[1])]
    for j in range(X.shape[1]):
        colour, style = FEATURE_STYLES[j % len(FEATURE_STYLES)]
        if categorical:
            ax.plot(steps, X[:, j], ".", color=colour, markersize=2, label=labels[j])
        else:
            ax.plot(steps, X[:, j], style, color=colour, linewidth=0.8, label=labels[j])
    shade_states(ax, states, n_states)
    ax.set_xlim(-0.5, len(states) - 0.5)
    ax.set_ylabel("symbol" if categorical else "observation")
    if X.shape[1] > 1:
        ax.legend(fontsize="small", loc="upper right")


def plot_state_band(ax, states: np.ndarray, n_states: int, label: str) -> None:
    """A thin band coloured by state (e.g. the true path beside the decoded one)."""
    ax.set_ylim(0, 1)
    shade_states(ax, states, n_states, alpha=0.8)
    ax.set_yticks([])
    ax.set_ylabel(label, rotation=0, ha="right", va="center")


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
    ax.set_ylabel("posterior")


def hmm_figure(X: np.ndarray, states: np.ndarray, posteriors: np.ndarray, *, title: str = "",
               categorical: bool = False, feature_labels: Sequence[str] | None = None,
               state_labels: Sequence[str] | None = None, truth: np.ndarray | None = None,
               lengths: Sequence[int] | None = None) -> Figure:
    """The series with the decoded states shaded (and the true states as a band, when known),
    and the posterior state probabilities underneath.

    Parameters
    ----------
    X : array of shape (n_steps,) or (n_steps, n_features)
        The observations.
    states : array of int, shape (n_steps,)
        Decoded states (e.g. Viterbi).
    posteriors : array of shape (n_steps, n_states)
        ``p(z_t = k | x)``.
    truth : array of int, shape (n_steps,), optional
        True states, drawn as a band under the series.
    lengths : sequence of int, optional
        Sequence lengths; the boundaries between sequences are drawn as dashed lines.
    """
    n_states = np.shape(posteriors)[1]
    heights = [3, 0.4, 1.6] if truth is not None else [3, 1.6]
    figure = Figure(figsize=(11, 4.5 + (0.5 if truth is not None else 0)))
    axes = figure.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    plot_series(axes[0], X, states, n_states, categorical=categorical, feature_labels=feature_labels)
    if truth is not None:
        plot_state_band(axes[1], truth, n_states, "truth")
    plot_posteriors(axes[-1], posteriors, state_labels)
    for boundary in np.cumsum(lengths)[:-1] if lengths is not None else ():
        for ax in axes:
            ax.axvline(boundary - 0.5, color="black", linestyle="--", linewidth=0.8)
    labels = list(state_labels) if state_labels is not None else [f"state {k}" for k in range(n_states)]
    figure.legend(handles=[Patch(color=c, alpha=0.6, label=label) for c, label in zip(state_colours(n_states), labels)],
                  loc="upper center", ncol=min(n_states, 6), fontsize="small", frameon=False)
    axes[0].set_title(title, fontsize="medium", pad=18)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return figure
