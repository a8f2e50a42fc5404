"""Gaussian-mixture figures: clusters with density ellipses, k-means beside the GMM, BIC curves.

Data with more than two features are drawn on their first two principal axes (the components'
means and covariances projected the same way); rows with missing values are left out of the
scatter. The ellipses are the contours at Mahalanobis distance 1, 2 and 3 (``1, 2, 3`` standard
deviations) of each component.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from ..kernels.gaussian import covariance_shape

SD_LEVELS = (1.0, 2.0, 3.0)


def full_covariances(covariances: np.ndarray, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """Any covariance layout as ``(k, d, d)`` matrices."""
    cov = np.asarray(covariances, dtype=float)
    if cov.shape != covariance_shape(covariance_type, n_components, n_features):
        raise ValueError(f"covariances: expected shape {covariance_shape(covariance_type, n_components, n_features)} "
                         f"for {covariance_type!r}, got {cov.shape}")
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.broadcast_to(cov, (n_components, n_features, n_features)).copy()
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return cov[:, None, None] * np.eye(n_features)


class Projection:
    """The plane to draw on: the identity for 2-D data, else the first two principal axes.

    ``y = (x − centre) V`` with ``V`` the top two right singular vectors of the centred
    complete rows of ``X``; a covariance maps to ``Vᵀ Σ V``.
    """

    def __init__(self, X: np.ndarray, labels: Sequence[str] | None = None) -> None:
        X = np.asarray(X, dtype=float)
        complete = X[~np.isnan(X).any(axis=1)]
        if complete.shape[0] == 0:
            raise ValueError("X: no complete row to draw")
        d = X.shape[1]
        if d == 1:
            raise ValueError("X: needs at least two features to draw")
        if d == 2:
            self.centre, self.axes = np.zeros(2), np.eye(2)
            self.labels = tuple(labels) if labels is not None else ("x1", "x2")
        else:
            self.centre = complete.mean(axis=0)
            _, _, vt = np.linalg.svd(complete - self.centre, full_matrices=False)
            self.axes = vt[:2].T
            self.labels = ("principal axis 1", "principal axis 2")
        self.points = self.points_of(complete)
        self.complete_rows = ~np.isnan(X).any(axis=1)

    def points_of(self, X: np.ndarray) -> np.ndarray:
        """Rows projected to the plane."""
        return (np.asarray(X, dtype=float) - self.centre) @ self.axes

    def covariance_of(self, covariance: np.ndarray) -> np.ndarray:
        """A ``(d, d)`` covariance projected to ``2 × 2``."""
        return self.axes.T @ covariance @ self.axes


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
                  projection: Projection | None = None, feature_labels: Sequence[str] | None = None) -> Projection:
    """Points coloured by ``labels``; with ``means``/``covariances``, each component's mean and
    its 1, 2, 3 sd ellipses in the colour of its label. Returns the projection used."""
    X = np.asarray(X, dtype=float)
    projection = projection or Projection(X, feature_labels)
    labels = np.asarray(labels)[projection.complete_rows]
    points = projection.points_of(X[projection.complete_rows])
    cmap = _colours()
    for label in np.unique(labels):
        chosen = labels == label
        ax.scatter(points[chosen, 0], points[chosen, 1], s=10, color=cmap(int(label) % 10), alpha=0.7,
                   label=f"{label}")
    if means is not None:
        k, d = np.shape(means)
        matrices = full_covariances(covariances, covariance_type, k, d) if covariances is not None else None
        for j in range(k):
            centre = projection.points_of(np.asarray(means)[j][None])[0]
            ax.plot(*centre, marker="x", color="black", markersize=8, markeredgewidth=2)
            if matrices is not None:
                add_ellipses(ax, centre, projection.covariance_of(matrices[j]), cmap(j % 10))
    ax.set_xlabel(projection.labels[0])
    ax.set_ylabel(projection.labels[1])
    ax.set_title(title)
    ax.autoscale_view()
    return projection


def mixture_figure(X: np.ndarray, labels: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                   covariance_type: str = "full", title: str = "",
                   feature_labels: Sequence[str] | None = None) -> Figure:
    """One panel: data coloured by ``labels`` with the components' density ellipses."""
    figure = Figure(figsize=(6, 5))
    plot_clusters(figure.add_subplot(), X, labels, means, covariances, covariance_type, title,
                  feature_labels=feature_labels)
    figure.tight_layout()
    return figure


def kmeans_vs_gmm_figure(X: np.ndarray, kmeans_labels: np.ndarray, kmeans_centers: np.ndarray,
                         gmm_labels: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                         covariance_type: str = "full", title: str = "",
                         feature_labels: Sequence[str] | None = None) -> Figure:
    """k-means clusters and centers (left) beside the GMM's clusters and ellipses (right)."""
    figure = Figure(figsize=(11, 5))
    left, right = figure.subplots(1, 2, sharex=True, sharey=True)
    projection = plot_clusters(left, X, kmeans_labels, kmeans_centers, None, title="k-means",
                               feature_labels=feature_labels)
    plot_clusters(right, X, gmm_labels, means, covariances, covariance_type, title="Gaussian mixture (EM)",
                  projection=projection)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_bic(ax, table: Sequence[dict], criterion: str = "bic") -> None:
    """``criterion`` against the number of components, one line per covariance type, the best
    candidate circled (``table`` as in :class:`emkit.selection.SelectionResult`)."""
    rows = [row for row in table if not row.get("error")]
    for covariance_type in dict.fromkeys(row["covariance_type"] for row in rows):
        chosen = sorted((row for row in rows if row["covariance_type"] == covariance_type),
                        key=lambda row: row["n_components"])
        ax.plot([row["n_components"] for row in chosen], [row[criterion] for row in chosen], marker="o",
                markersize=4, label=covariance_type)
    if rows:
        best = min(rows, key=lambda row: row[criterion])
        ax.plot(best["n_components"], best[criterion], marker="o", markersize=14, fillstyle="none", color="black",
                label=f"best: k={best['n_components']}, {best['covariance_type']}")
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.legend(fontsize="small")


def bic_figure(table: Sequence[dict], criterion: str = "bic", title: str = "") -> Figure:
    """Figure of :func:`plot_bic`."""
    figure = Figure(figsize=(6, 4))
    plot_bic(figure.add_subplot(), table, criterion)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _colours():
    from matplotlib import colormaps

    return colormaps["tab10"]
