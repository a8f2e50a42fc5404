"""Demo section: the clustering example, 400 points from four normal distributions, fitted by EM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from .. import datasets
from ..estimators.gaussian_mixture import GaussianMixture
from ..kernels.kmeans import kmeans
from ..plotting.convergence import loglik_figure
from ..plotting.mixture import kmeans_vs_gmm_figure, mixture_figure
from ..selection import SelectionResult, gmm_select

SEED = 0

#: The numbers of components of the demo's mclust table: mclust's default grid, G = 1..9.
MCLUST_COMPONENTS = range(1, 10)


def matched_order(true_means: np.ndarray, estimated_means: np.ndarray) -> np.ndarray:
    """Estimated component for each true group: the assignment minimizing the total squared
    distance between means (components are only defined up to relabelling)."""
    cost = ((true_means[:, None, :] - estimated_means[None, :, :]) ** 2).sum(axis=2)
    return linear_sum_assignment(cost)[1]


def run(out: Path) -> str:
    """Fit the four-Gaussian example, write its figures, return the report section."""
    X, groups, truth = datasets.synthetic_gmm(400, random_state=SEED)
    gmm = GaussianMixture(4, covariance_type="full", tol=1e-12, max_iter=10_000, n_init=5,
                          random_state=SEED).fit(X)
    order = matched_order(truth["means"], gmm.means_)
    means, covariances, weights = gmm.means_[order], gmm.covariances_[order], gmm.weights_[order]
    relabel = np.argsort(order)
    labels = relabel[gmm.predict(X)]
    centers, kmeans_labels = kmeans(X, 4, np.random.default_rng(SEED))
    kmeans_order = matched_order(truth["means"], centers)
    kmeans_labels = np.argsort(kmeans_order)[kmeans_labels]
    mixture_figure(X, labels, means, covariances, title="Four Gaussians: fitted components (colour), true groups "
                   "(shape)", truth=groups, weights=weights).savefig(out / "gmm_contours.png", dpi=120,
                                                                      bbox_inches="tight")
    kmeans_vs_gmm_figure(X, kmeans_labels, centers[kmeans_order], labels, means, covariances,
                         title="The same 400 points: k-means beside the Gaussian mixture", truth=groups,
                         weights=weights).savefig(
        out / "gmm_kmeans.png", dpi=120, bbox_inches="tight")
    loglik_figure(gmm.result_, title="Gaussian mixture: log-likelihood by iteration").savefig(
        out / "gmm_loglik.png", dpi=120, bbox_inches="tight")
    agreement = float(np.mean(labels == groups))
    kmeans_agreement = float(np.mean(kmeans_labels == groups))
    rows = ["| group | true weight | estimated | true mean | estimated mean | true covariance | estimated covariance |",
            "|---:|---:|---:|---|---|---|---|"]
    for j in range(4):
        rows.append(f"| {j} | {truth['weights'][j]:.3f} | {weights[j]:.3f} | {_vector(truth['means'][j])} | "
                    f"{_vector(means[j])} | {_matrix(truth['covariances'][j])} | {_matrix(covariances[j])} |")
    return "\n".join([
        "## Gaussian mixture: four normal distributions\n",
        "Data: 400 points, 100 from each of four bivariate normal distributions with different covariances "
        f"(`emkit.datasets.synthetic_gmm(400, random_state={SEED})`). A four-component mixture with full "
        "covariances was fitted by EM (`emkit.GaussianMixture`, 5 k-means starts) until the log-likelihood "
        f"per point changed by less than 1e-12: {gmm.n_iter_} iterations, log-likelihood "
        f"{gmm.score(X) * len(X):.6f}, converged: {'yes' if gmm.converged_ else 'no'}. The mixture assigns "
        f"{agreement:.1%} of the points to their true group; k-means (Euclidean, equal round clusters) "
        f"{kmeans_agreement:.1%}.\n",
        "![true groups with fitted density contours](gmm_contours.png)\n",
        "![k-means beside the Gaussian mixture](gmm_kmeans.png)\n",
        "![log-likelihood by iteration](gmm_loglik.png)\n",
        "Estimated components matched to the true groups (closest means):\n",
        *rows, "",
        mclust_section(X),
    ])


def mclust_section(X: np.ndarray) -> str:
    """The report's mclust table: every mclust model over :data:`MCLUST_COMPONENTS`, each started
    from mclust's hierarchical clustering, BIC as mclust prints it (``2ℓ − p log n``, higher is
    better), the best three and the chosen model."""
    selection = gmm_select(X, MCLUST_COMPONENTS, covariance_types="mclust", init_params="hc",
                           random_state=SEED)
    return "\n".join([
        "### The same data through mclust's model grid\n",
        "`emkit.gmm_select(X, range(1, 10), covariance_types=\"mclust\", init_params=\"hc\")` fits each of "
        "mclust's 14 covariance models (Σ_k = λ_k D_k A_k D_kᵀ: volume, shape and orientation Equal, "
        "Varying or Identity) for each number of components, from mclust's hierarchical start, as R's "
        "`Mclust(X)` does (its default G = 1:9). BIC in mclust's sign (2ℓ − p log n, higher is better; NA: the fit "
        "failed, a component collapsed):\n",
        *mclust_bic_table(selection), "",
        f"Top 3 models by BIC: {_top(selection, 3)}. Selected: **{selection.best_row['covariance_type']}, "
        f"{selection.best_row['n_components']} components** (log-likelihood {selection.best_row['loglik']:.4f}, "
        f"{selection.best_row['n_parameters']} parameters).\n",
    ])


def mclust_bic_table(selection: SelectionResult) -> list[str]:
    """Markdown rows: one per number of components, one column per model, as ``mclustBIC`` prints."""
    models = list(dict.fromkeys(row["covariance_type"] for row in selection.table))
    ks = sorted({row["n_components"] for row in selection.table})
    bic = {(row["n_components"], row["covariance_type"]): row["bic"] for row in selection.table}
    lines = ["| G | " + " | ".join(models) + " |", "|---:|" + "---:|" * len(models)]
    for k in ks:
        cells = ["NA" if not np.isfinite(bic[k, m]) else f"{-bic[k, m]:.2f}" for m in models]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines


def _top(selection: SelectionResult, count: int) -> str:
    rows = sorted((row for row in selection.table if not row["error"]), key=lambda row: row["bic"])[:count]
    return ", ".join(f"{row['covariance_type']},{row['n_components']} ({-row['bic']:.2f})" for row in rows)


def _vector(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def _matrix(matrix: np.ndarray) -> str:
    return "[" + "; ".join(" ".join(f"{v:.3f}" for v in row) for row in matrix) + "]"
