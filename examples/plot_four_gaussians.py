"""
Four Gaussians: k-means beside a Gaussian mixture
=================================================

400 points are drawn from four bivariate normal distributions, 100 each, with different shapes:
one tilted, one tall and narrow, one wide and tilted the other way, one small and round
(:func:`emkit.datasets.synthetic_gmm`). The groups touch, so no method can sort every point,
but a method that knows the groups are *elliptical* and of *different sizes* can do much
better than one that does not.

* **k-means** minimises the squared Euclidean distance to the nearest centre: it draws straight
  boundaries halfway between centres, as if every group were a round cloud of the same size.
* A **Gaussian mixture** fitted by EM (:class:`emkit.GaussianMixture`, a drop-in for
  scikit-learn's) gives each component its own weight, mean and full covariance; each point
  belongs to each component with a posterior probability (the E-step's responsibilities).

k-means is the limit of EM for a mixture of round components of one common, vanishing variance,
with hard assignments; the comparison below shows what the rest of the model buys.
"""

import matplotlib.pyplot as plt
import numpy as np

import emkit
from emkit.datasets import synthetic_gmm
from emkit.plotting.matching import agreement, disagreement, match_labels
from emkit.plotting.mixture import legend_handles, plot_clusters

X, groups, truth = synthetic_gmm(400, random_state=0)
print(f"data: {X.shape[0]} points in {X.shape[1]} dimensions, group sizes {np.bincount(groups).tolist()}")

# %%
# Fitting both
# ------------
# k-means is a few lines of NumPy (Lloyd's algorithm): assign each point to its nearest centre,
# move each centre to the mean of its points, repeat; ten random starts, keep the one with the
# smallest sum of squared distances. Written this way it is visibly EM's hard-assignment
# cousin: the assignment is an E-step with 0/1 responsibilities, the update an M-step for the
# means alone. The mixture is fitted from five k-means starts (``n_init=5``); ``tol`` bounds
# the change of the mean log-likelihood per point between iterations, as in scikit-learn.


def kmeans(X, n_clusters, rng, n_starts=10, max_iter=100):
    """Lloyd's algorithm from random data points; the start with the least within-cluster sum of
    squares wins. Returns (centres, labels)."""
    best = None
    for _ in range(n_starts):
        centres = X[rng.choice(len(X), n_clusters, replace=False)]
        for _ in range(max_iter):
            labels = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
            moved = np.array([X[labels == j].mean(axis=0) if np.any(labels == j) else centres[j]
                              for j in range(n_clusters)])
            if np.allclose(moved, centres):
                break
            centres = moved
        inertia = ((X - centres[labels]) ** 2).sum()
        if best is None or inertia < best[0]:
            best = (inertia, centres, labels)
    return best[1], best[2]


rng = np.random.default_rng(0)
kmeans_centres, kmeans_labels = kmeans(X, 4, rng)

gmm = emkit.GaussianMixture(4, covariance_type="full", n_init=5, tol=1e-8, max_iter=1000, random_state=0).fit(X)
gmm_labels = gmm.predict(X)
print(f"mixture: converged {gmm.converged_} in {gmm.n_iter_} iterations, "
      f"log-likelihood {gmm.score(X) * len(X):.3f}, BIC {gmm.bic(X):.2f}")

# %%
# Labels are defined only up to relabelling, so each method's clusters are matched to the true
# groups (the one-to-one matching that agrees on the most points) before counting mistakes.

print(f"points in their true group: k-means {agreement(groups, kmeans_labels):.1%}, "
      f"mixture {agreement(groups, gmm_labels):.1%}")

order = [match_labels(gmm_labels, groups)[g] for g in range(4)]  # the component of each true group
print("\ngroup  true weight  fitted    true mean        fitted mean")
for g, j in enumerate(order):
    print(f"{g:>5}  {truth['weights'][g]:>11.3f}  {gmm.weights_[j]:>6.3f}    "
          f"({truth['means'][g][0]:5.2f}, {truth['means'][g][1]:5.2f})   "
          f"({gmm.means_[j][0]:5.2f}, {gmm.means_[j][1]:5.2f})")
print("\ntrue and fitted covariances:")
for g, j in enumerate(order):
    print(f"group {g}: true {np.round(truth['covariances'][g], 2).tolist()}, "
          f"fitted {np.round(gmm.covariances_[j], 2).tolist()}")

# %%
# The picture
# -----------
# Colour is the cluster each method chose, marker shape the true group, and circled points are
# those put in the wrong group. The ellipses are the fitted components' 1, 2 and 3 standard
# deviation contours. k-means draws straight boundaries halfway between centres, so the small
# round group at (4, 4) takes the upper tip of the tall narrow group and the right end of the
# wide tilted one; the mixture follows their shapes and errs only where the groups overlap.

colour_of_kmeans = match_labels(gmm_labels, kmeans_labels)  # same colour for matching clusters
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.6), sharex=True, sharey=True, layout="constrained")
wrong_kmeans, wrong_gmm = disagreement(groups, kmeans_labels), disagreement(groups, gmm_labels)
plot_clusters(left, X, kmeans_labels, kmeans_centres, truth=groups, flagged=wrong_kmeans,
              colour_of=colour_of_kmeans, feature_labels=["$x_1$", "$x_2$"],
              title=f"k-means: {wrong_kmeans.sum()} of {len(X)} points in the wrong group")
plot_clusters(right, X, gmm_labels, gmm.means_, gmm.covariances_, "full", truth=groups, flagged=wrong_gmm,
              feature_labels=["$x_1$", "$x_2$"],
              title=f"Gaussian mixture (EM): {wrong_gmm.sum()} of {len(X)} points in the wrong group")
fig.legend(handles=legend_handles(4, weights=gmm.weights_, truth_values=list(range(4)), truth_name="true group",
                                  flagged="in the wrong group"),
           loc="outside right upper", fontsize="small", frameon=False)
fig.suptitle("The same 400 points: k-means beside a four-component Gaussian mixture")

# %%
# Uncertain points
# ----------------
# The mixture also says how sure it is. ``predict_proba`` gives each point's posterior
# probabilities. Most points are beyond doubt (largest posterior above 0.99); the histogram
# shows the others, and the points the mixture gets wrong are among them. The sum of
# ``1 − largest posterior`` over the points is the number of mistakes the model itself expects.

confidence = gmm.predict_proba(X).max(axis=1)
print(f"mistakes the mixture expects: {np.sum(1.0 - confidence):.1f}; made: {wrong_gmm.sum()}")
for threshold in (0.9, 0.99):
    sure = confidence >= threshold
    print(f"points with largest posterior >= {threshold}: {sure.sum()}, of which in the wrong group: "
          f"{wrong_gmm[sure].sum()}")

unsure = confidence < 0.99
fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
ax.hist([confidence[unsure & ~wrong_gmm], confidence[unsure & wrong_gmm]], bins=np.linspace(0.3, 0.99, 24),
        stacked=True, color=["tab:blue", "tab:red"], label=["assigned to the true group", "assigned to another group"])
ax.set_xlabel("largest posterior probability of the point")
ax.set_ylabel("number of points")
ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
ax.set_title(f"The {unsure.sum()} points with largest posterior below 0.99 "
             f"(the other {(~unsure).sum()} hold {wrong_gmm[~unsure].sum()} mistakes)", fontsize="medium")
ax.legend(loc="upper left")
