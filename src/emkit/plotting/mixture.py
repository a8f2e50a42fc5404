"""Gaussian-mixture figures: clusters with density ellipses, k-means beside the GMM, BIC curves.

Data with more than two features are drawn on their first two principal axes, labelled with the
share of variance each explains (computed on standardized columns when the columns' scales
differ by more than :data:`SCALE_RATIO`); the components' means and covariances are projected the
same way. Rows with missing values are drawn where the caller put them (e.g. at their conditional
means). The ellipses are the contours at Mahalanobis distance 1, 2 and 3 (``1, 2, 3`` standard
deviations) of each component's projected density. One-column data are drawn as a histogram with
the fitted mixture density and its weighted components.

Components are only defined up to relabelling: another labelling (k-means, a true group) is
compared with them after the matching that maximises the agreement (:func:`match_labels`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, Patch

from ..kernels.covariance_structures import CovarianceType, covariance_structure
from .convergence import integer_ticks
from .matching import disagreement, match_labels

SD_LEVELS = (1.0, 2.0, 3.0)

#: Columns are standardized before the principal axes when their standard deviations differ by more.
SCALE_RATIO = 10.0

#: Marker shapes of the true groups (``--label``), repeated beyond ten groups.
GROUP_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p")

#: Matplotlib's ``tab10`` colours, repeated beyond ten components.
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
           "tab:olive", "tab:cyan")

#: How far above the best criterion value the BIC panel reaches, in units of (median − best).
BIC_SPAN = 3.0


def full_covariances(covariances: np.ndarray, covariance_type: CovarianceType, n_components: int,
                     n_features: int) -> np.ndarray:
    """Any covariance layout as ``(k, d, d)`` matrices (:meth:`CovarianceStructure.full_matrices`)."""
    structure = covariance_structure(covariance_type)
    cov = np.asarray(covariances, dtype=float)
    expected = structure.shape(n_components, n_features)
    if cov.shape != expected:
        raise ValueError(f"covariances: expected shape {expected} for {covariance_type!r}, got {cov.shape}")
    return structure.full_matrices(cov, n_components, n_features)


class Projection:
    """The plane to draw on: the identity for 2-D data, else the first two principal axes.

    ``y = ((x − centre) / scale) V`` with ``V`` the top two right singular vectors of the centred
    (and, when the columns' standard deviations differ by more than ``SCALE_RATIO``, standardized)
    complete rows of ``X``; a covariance maps to ``Vᵀ D⁻¹ Σ D⁻¹ V`` with ``D = diag(scale)``.
    ``explained`` holds the shares of the total variance along the two axes (None for 2-D data).
    """

    def __init__(self, X: np.ndarray, labels: Sequence[str] | None = None, standardize: bool | None = None) -> None:
        X = np.asarray(X, dtype=float)
        complete = X[~np.isnan(X).any(axis=1)]
        if complete.shape[0] == 0:
            raise ValueError("X: no complete row to draw")
        d = X.shape[1]
        if d == 1:
            raise ValueError("X: needs at least two features to draw")
        self.explained: np.ndarray | None = None
        self.standardized = False
        if d == 2:
            self.centre, self.scale, self.axes = np.zeros(2), np.ones(2), np.eye(2)
            self.labels = tuple(labels) if labels is not None else ("x1", "x2")
        else:
            self.centre = complete.mean(axis=0)
            sd = complete.std(axis=0)
            if standardize is None:
                standardize = bool(sd.min() > 0 and sd.max() > SCALE_RATIO * sd.min())
            self.standardized = standardize
            self.scale = np.where(sd > 0, sd, 1.0) if standardize else np.ones(d)
            _, singular, vt = np.linalg.svd((complete - self.centre) / self.scale, full_matrices=False)
            self.axes = vt[:2].T
            self.explained = singular[:2] ** 2 / np.sum(singular ** 2)
            note = ", standardized columns" if standardize else ""
            self.labels = tuple(f"principal axis {i + 1} ({share:.1%} of variance{note})"
                                for i, share in enumerate(self.explained))
        self.points = self.points_of(complete)
        self.complete_rows = ~np.isnan(X).any(axis=1)

    def points_of(self, X: np.ndarray) -> np.ndarray:
        """Rows projected to the plane."""
        return ((np.asarray(X, dtype=float) - self.centre) / self.scale) @ self.axes

    def covariance_of(self, covariance: np.ndarray) -> np.ndarray:
        """A ``(d, d)`` covariance projected to ``2 × 2``."""
        return self.axes.T @ (covariance / np.outer(self.scale, self.scale)) @ self.axes


def add_ellipses(ax, mean: np.ndarray, covariance: np.ndarray, color, levels: Sequence[float] = SD_LEVELS) -> None:
    """Contours ``(x − μ)ᵀ Σ⁻¹ (x − μ) = s²`` for each ``s`` in ``levels`` (2-D ``mean``, ``covariance``)."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    angle = float(np.degrees(np.arctan2(eigenvectors[1, 1], eigenvectors[0, 1])))
    for s in levels:
        width, height = 2.0 * s * np.sqrt(np.maximum(eigenvalues[::-1], 0.0))
        ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, color=color,
                             linewidth=1.4 if s == 1 else 0.9, alpha=1.0 if s == 1 else 0.6))


def plot_clusters(ax, X: np.ndarray, labels: np.ndarray, means: np.ndarray | None = None,
                  covariances: np.ndarray | None = None, covariance_type: str = "full", title: str = "",
                  projection: Projection | None = None, feature_labels: Sequence[str] | None = None, *,
                  truth: np.ndarray | None = None, flagged: np.ndarray | None = None,
                  colour_of: dict | None = None) -> Projection:
    """Points coloured by ``labels`` (``colour_of[label]`` = the index of its colour; the label
    itself by default), shaped by their ``truth`` group when given, circled where ``flagged``;
    with ``means``, each mean as a black cross; with ``covariances``, each component's 1, 2, 3 sd
    ellipses in its colour. Returns the projection used."""
    X = np.asarray(X, dtype=float)
    projection = projection or Projection(X, feature_labels)
    rows = projection.complete_rows
    labels = np.asarray(labels)[rows]
    points = projection.points_of(X[rows])
    groups = np.asarray(truth)[rows] if truth is not None else np.zeros(len(labels))
    group_values = list(np.unique(groups))
    for label in np.unique(labels):
        colour = COLOURS[int((colour_of or {}).get(label.item(), label.item())) % len(COLOURS)]
        for g, group in enumerate(group_values):
            chosen = (labels == label) & (groups == group)
            ax.scatter(points[chosen, 0], points[chosen, 1], s=12, color=colour, alpha=0.75, linewidths=0,
                       marker=GROUP_MARKERS[g % len(GROUP_MARKERS)])
    if flagged is not None and np.any(np.asarray(flagged)[rows]):
        marked = points[np.asarray(flagged)[rows]]
        ax.scatter(marked[:, 0], marked[:, 1], s=55, facecolors="none", edgecolors="black", linewidths=0.9)
    if means is not None:
        k, d = np.shape(means)
        matrices = full_covariances(covariances, covariance_type, k, d) if covariances is not None else None
        for j in range(k):
            centre = projection.points_of(np.asarray(means)[j][None])[0]
            colour = COLOURS[int((colour_of or {}).get(j, j)) % len(COLOURS)]
            if matrices is not None:
                add_ellipses(ax, centre, projection.covariance_of(matrices[j]), colour)
            ax.plot(*centre, marker="X", color=colour, markersize=10, markeredgecolor="black", markeredgewidth=1.2,
                    linestyle="none")
    ax.set_xlabel(projection.labels[0])
    ax.set_ylabel(projection.labels[1])
    ax.set_title(title, fontsize="medium")
    ax.autoscale_view()
    return projection


def plot_density_1d(ax, x: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray, *,
                    truth: np.ndarray | None = None, truth_name: str = "label", name: str = "x") -> None:
    """Histogram of one column (stacked by ``truth`` group, in greys, when given) with the fitted
    mixture density ``Σ_j w_j N(x; μ_j, σ_j²)`` and its weighted components."""
    x = np.asarray(x, dtype=float).ravel()
    observed = ~np.isnan(x)
    x = x[observed]
    if truth is not None:
        truth = np.asarray(truth)[observed]
        groups = np.unique(truth)
        shades = [str(0.45 + 0.4 * g / max(len(groups) - 1, 1)) for g in range(len(groups))]
        ax.hist([x[truth == g] for g in groups], bins="auto", density=True, stacked=True,
                color=shades, label=[f"{truth_name} = {g}" for g in groups])
    else:
        ax.hist(x, bins="auto", density=True, color="0.8", label="data")
    pad = 0.05 * ((x.max() - x.min()) or 1.0)
    grid = np.linspace(x.min() - pad, x.max() + pad, 400)
    sd = np.sqrt(np.asarray(variances, dtype=float))
    parts = [w * np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)) for w, m, s in zip(weights, means, sd)]
    ax.plot(grid, np.sum(parts, axis=0), color="black", linewidth=1.6, label="fitted mixture density")
    for j, part in enumerate(parts):
        ax.plot(grid, part, color=COLOURS[j % len(COLOURS)], linestyle="--", linewidth=1.6,
                label=f"component {j} × its weight {weights[j]:.2f}")
    ax.set_xlabel(name)
    ax.set_ylabel("density")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def plot_bic(ax, table: Sequence[dict], criterion: str = "bic", span: float = BIC_SPAN) -> None:
    """``criterion`` against the number of components, one line per covariance type, the best
    candidate circled (``table`` as in :class:`emkit.selection.SelectionResult`).

    The axis reaches ``span × (median − best)`` above the best value, so one family far worse
    than the rest does not flatten the others; values beyond are drawn as triangles on the top
    edge."""
    rows = [row for row in table if not row.get("error")]
    values = np.array([row[criterion] for row in rows], dtype=float)
    top = None
    if rows:
        best = values.min()
        reach = best + span * (np.median(values) - best)
        if values.max() > reach > best:
            top = reach + 0.04 * (reach - best)
    for covariance_type in dict.fromkeys(row["covariance_type"] for row in rows):
        chosen = sorted((row for row in rows if row["covariance_type"] == covariance_type),
                        key=lambda row: row["n_components"])
        k = np.array([row["n_components"] for row in chosen])
        y = np.array([row[criterion] for row in chosen], dtype=float)
        (line,) = ax.plot(k, np.minimum(y, top) if top is not None else y, marker="o", markersize=4,
                          label=covariance_type)
        if top is not None and (y > top).any():
            ax.plot(k[y > top], np.full((y > top).sum(), top), linestyle="none", marker="^", markersize=7,
                    color=line.get_color(), clip_on=False)
    if rows:
        best_row = min(rows, key=lambda row: row[criterion])
        ax.plot(best_row["n_components"], best_row[criterion], marker="o", markersize=14, fillstyle="none",
                color="black", linestyle="none",
                label=f"best: k={best_row['n_components']}, {best_row['covariance_type']}")
    if top is not None:
        ax.set_ylim(top=top)
        ax.plot([], [], linestyle="none", marker="^", color="0.4", label="beyond the axis")
    ax.set_xlabel("number of components")
    integer_ticks(ax.xaxis)
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.legend(fontsize="small", loc="best")


def legend_handles(n_components: int, *, weights: Sequence[float] | None = None, ellipses: bool = True,
                   truth_values: Sequence[Any] = (), truth_name: str = "label", flagged: str | None = None) -> list:
    """Legend entries in words: the fitted components (colours), their means, what the ellipses
    are, the true groups (marker shapes) and the circled rows."""
    handles: list = []
    for j in range(n_components):
        weight = f" (weight {weights[j]:.2f})" if weights is not None else ""
        handles.append(Patch(color=COLOURS[j % len(COLOURS)], label=f"fitted component {j}{weight}"))
    handles.append(Line2D([], [], marker="X", color="0.6", markeredgecolor="black", linestyle="none",
                          markersize=9, label="fitted mean"))
    if ellipses:
        handles.append(Line2D([], [], color="0.3", linewidth=1.2,
                              label="ellipses: 1, 2, 3 sd regions\nof each component"))
    for g, value in enumerate(truth_values):
        handles.append(Line2D([], [], marker=GROUP_MARKERS[g % len(GROUP_MARKERS)], color="0.35", linestyle="none",
                              label=f"{truth_name} = {value}"))
    if flagged:
        handles.append(Line2D([], [], marker="o", markersize=8, markerfacecolor="none", markeredgecolor="black",
                              linestyle="none", label=flagged))
    return handles


def gmm_figure(X: np.ndarray, labels: np.ndarray, means: np.ndarray, covariances: np.ndarray,
               covariance_type: str, weights: np.ndarray | None = None, *, kmeans: tuple[np.ndarray, np.ndarray] | None = None,
               selection_table: Sequence[dict] | None = None, criterion: str = "bic",
               truth: np.ndarray | None = None, truth_name: str = "label",
               feature_names: Sequence[str] | None = None, note: str = "", title: str = "") -> Figure:
    """The ``emkit gmm --plot`` figure.

    Two or more columns: k-means (``kmeans = (centers, labels)``) beside the mixture (points
    coloured by fitted component, shaped by ``truth`` group, misassigned rows circled: against
    ``truth`` when given, else where k-means and the mixture disagree); one column: the histogram
    with the fitted density. With ``selection_table``, the criterion by number of components.
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels)
    k = len(means)
    truth = None if truth is None else np.asarray(truth).astype(str)
    panels = (1 if X.shape[1] == 1 else 1 + (kmeans is not None)) + (selection_table is not None)
    figure = Figure(figsize=(5.2 * panels + 2.2, 5), layout="constrained")
    axes = list(np.atleast_1d(figure.subplots(1, panels)))
    if selection_table is not None:
        plot_bic(axes.pop(), selection_table, criterion)
    if X.shape[1] == 1:
        variances = full_covariances(covariances, covariance_type, k, 1)[:, 0, 0]
        plot_density_1d(axes[0], X[:, 0], weights, np.asarray(means)[:, 0], variances, truth=truth,
                        truth_name=truth_name, name=feature_names[0] if feature_names else "x")
        axes[0].set_title(f"Gaussian mixture ({covariance_type}), {k} component(s)", fontsize="medium")
    else:
        names = feature_names if X.shape[1] == 2 else None
        reference = truth if truth is not None else labels
        versus = f"vs {truth_name}" if truth is not None else "vs the mixture"
        projection = None
        if kmeans is not None:
            centers, kmeans_labels = kmeans
            colour_of = {value: j for value, j in match_labels(labels, kmeans_labels).items()}
            wrong = disagreement(reference, kmeans_labels)
            projection = plot_clusters(axes[0], X, kmeans_labels, centers, None, feature_labels=names, truth=truth,
                                       flagged=wrong, colour_of=colour_of,
                                       title=f"k-means: {int(wrong.sum())} of {len(wrong)} rows misassigned ({versus})"
                                       if truth is not None else
                                       f"k-means: {int(wrong.sum())} of {len(wrong)} rows disagree with the mixture")
        wrong = disagreement(truth, labels) if truth is not None else (disagreement(labels, kmeans[1])
                                                                         if kmeans is not None else None)
        what = (f"{int(wrong.sum())} of {len(wrong)} rows misassigned ({versus})" if truth is not None else
                f"{int(wrong.sum())} of {len(wrong)} rows disagree with k-means" if wrong is not None else "")
        plot_clusters(axes[-1], X, labels, means, covariances, covariance_type, projection=projection,
                      feature_labels=names, truth=truth, flagged=wrong,
                      title=f"Gaussian mixture ({covariance_type})" + (f": {what}" if what else ""))
        if projection is not None:
            axes[-1].sharex(axes[0])
            axes[-1].sharey(axes[0])
        circled = ("misassigned (matched to " + truth_name + ")" if truth is not None else
                   "k-means and mixture disagree") if wrong is not None else None
        figure.legend(handles=legend_handles(k, weights=weights, truth_values=list(np.unique(truth))
                                             if truth is not None else (), truth_name=truth_name, flagged=circled),
                      loc="outside right upper", fontsize="small", frameon=False)
    if title:
        figure.suptitle(title)
    if note:
        figure.text(0.01, 0.0, note, fontsize="small", va="bottom")
    return figure


def mixture_figure(X: np.ndarray, labels: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                   covariance_type: str = "full", title: str = "", feature_labels: Sequence[str] | None = None,
                   *, truth: np.ndarray | None = None, truth_name: str = "true group",
                   weights: np.ndarray | None = None) -> Figure:
    """One panel: data coloured by fitted component (``labels``), shaped by ``truth`` group when
    given (misassigned rows circled), with the components' 1, 2, 3 sd ellipses and a legend."""
    figure = Figure(figsize=(8, 5.5), layout="constrained")
    wrong = disagreement(truth, labels) if truth is not None else None
    plot_clusters(figure.add_subplot(), X, labels, means, covariances, covariance_type, title,
                  feature_labels=feature_labels, truth=truth, flagged=wrong)
    figure.legend(handles=legend_handles(len(means), weights=weights,
                                         truth_values=list(np.unique(truth)) if truth is not None else (),
                                         truth_name=truth_name,
                                         flagged=f"misassigned ({int(wrong.sum())} rows)" if wrong is not None else None),
                  loc="outside right upper", fontsize="small", frameon=False)
    return figure


def kmeans_vs_gmm_figure(X: np.ndarray, kmeans_labels: np.ndarray, kmeans_centers: np.ndarray,
                         gmm_labels: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                         covariance_type: str = "full", title: str = "",
                         feature_labels: Sequence[str] | None = None, *, truth: np.ndarray | None = None,
                         truth_name: str = "true group", weights: np.ndarray | None = None) -> Figure:
    """k-means clusters and centers (left) beside the GMM's clusters and ellipses (right); the
    misassigned rows of each circled (against ``truth`` when given, else where they disagree)."""
    figure = gmm_figure(X, gmm_labels, means, covariances, covariance_type,
                        weights,
                        kmeans=(kmeans_centers, kmeans_labels), truth=truth, truth_name=truth_name,
                        feature_names=feature_labels, title=title)
    return figure


def bic_figure(table: Sequence[dict], criterion: str = "bic", title: str = "") -> Figure:
    """Figure of :func:`plot_bic`."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    plot_bic(figure.add_subplot(), table, criterion)
    if title:
        figure.suptitle(title)
    return figure
