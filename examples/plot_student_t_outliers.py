"""
Robust clustering: a Student-t mixture under outliers
=====================================================

A Gaussian has light tails: a point ten standard deviations away is, to a Gaussian mixture,
nearly impossible, so a few stray points drag the means, inflate the covariances, or capture a
whole component. A multivariate *t* distribution has heavy tails (degrees of freedom ``ν``;
``ν → ∞`` is the Gaussian) and shrugs them off.

EM for the t is EM for a Gaussian with a latent scale per point: ``x | u ~ N(μ, Σ/u)``,
``u ~ Gamma(ν/2, ν/2)``. The E-step gives each point a weight

.. math:: E[u \\mid x] = \\frac{\\nu + d}{\\nu + \\delta(x)}, \\qquad \\delta(x) = (x-\\mu)^\\top \\Sigma^{-1} (x-\\mu),

small for points far from the centre, and the M-step computes weighted means and scatter
matrices. :class:`emkit.StudentMixture` fits a mixture of t's this way (by ECME, which also
estimates each ``ν``), with the interface of :class:`emkit.GaussianMixture`.

Two clusters of 150 points each, plus 30 outliers spread uniformly over a wide box.
"""

import matplotlib.pyplot as plt
import numpy as np

import emkit
from emkit.plotting.mixture import add_ellipses

rng = np.random.default_rng(3)
true_means = np.array([[0.0, 0.0], [4.0, 1.0]])
true_covariances = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.5, -0.2], [-0.2, 0.8]]])
clusters = [rng.multivariate_normal(m, c, 150) for m, c in zip(true_means, true_covariances)]
outliers = rng.uniform([-10.0, -10.0], [14.0, 12.0], size=(30, 2))
X = np.vstack(clusters + [outliers])
is_outlier = np.r_[np.zeros(300, bool), np.ones(30, bool)]
print(f"{len(X)} points, {is_outlier.sum()} of them outliers")

# %%
# Three fits with two components
# ------------------------------
# * a Gaussian mixture;
# * a Gaussian mixture with mclust's uniform *noise* component (``noise=True``: a flat density
#   over the data's bounding box soaks up points that fit no cluster);
# * a Student-t mixture, its degrees of freedom estimated.

options = dict(n_init=3, tol=1e-6, max_iter=500, random_state=0)
fits = {
    "Gaussian mixture": emkit.GaussianMixture(2, **options).fit(X),
    "Gaussian mixture + noise": emkit.GaussianMixture(2, noise=True, **options).fit(X),
    "Student-t mixture": emkit.StudentMixture(2, **options).fit(X),
}


def matched(gmm):
    """The fitted components in the order of the true clusters (nearest means)."""
    return [int(np.argmin(np.linalg.norm(gmm.means_ - m, axis=1))) for m in true_means]


print(f"{'fit':<26}{'weights':>16}   {'distance of each mean to the truth':>36}")
for name, gmm in fits.items():
    order = matched(gmm)
    errors = np.linalg.norm(gmm.means_[order] - true_means, axis=1)
    print(f"{name:<26}{np.array2string(gmm.weights_[order], precision=3):>16}   "
          f"{np.array2string(errors, precision=3):>36}")
student = fits["Student-t mixture"]
print("degrees of freedom of the t components:", student.dofs_.round(2))
print(f"noise weight of the Gaussian mixture + noise: {float(fits['Gaussian mixture + noise'].noise_proportion_):.3f} "
      f"(the outliers are {is_outlier.mean():.3f} of the points)")

# %%
# The plain Gaussian mixture fails outright: one component stretches over the outliers and
# the other must cover both clusters. The noise component rescues it; the t mixture needs no
# extra component, because each outlier gets a small weight ``E[u | x]``.
#
# The weights the t mixture gives
# -------------------------------
# ``E[u | x]`` from the fitted parameters, averaged over the components with each point's
# posterior probabilities: near 1 or above inside the clusters, near 0 for the outliers.

d = X.shape[1]
responsibilities = student.predict_proba(X)
expected_u = np.zeros(len(X))
for k in range(student.n_components):
    centred = X - student.means_[k]
    delta = np.einsum("ni,ij,nj->n", centred, student.precisions_[k], centred)
    expected_u += responsibilities[:, k] * (student.dofs_[k] + d) / (student.dofs_[k] + delta)
print(f"median E[u | x]: cluster points {np.median(expected_u[~is_outlier]):.2f}, "
      f"outliers {np.median(expected_u[is_outlier]):.3f}")

# %%
# The picture
# -----------
# Ellipses: the fitted components' 1 and 2 (scale) standard-deviation contours; crosses: the
# true means. In the right panel, colour shows each point's weight ``E[u | x]``.

fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), sharex=True, sharey=True, layout="constrained")
colours = ["tab:blue", "tab:orange"]
for ax, (name, gmm) in zip(axes, fits.items()):
    if name == "Student-t mixture":
        points = ax.scatter(*X.T, c=expected_u, cmap="viridis", s=12, vmin=0, vmax=max(1.0, expected_u.max()))
        fig.colorbar(points, ax=ax, label="weight of the point, E[u | x]")
    else:
        labels = gmm.predict(X)  # −1: the noise component
        for j, colour in enumerate(colours):
            ax.scatter(*X[labels == j].T, s=10, color=colour, alpha=0.7, label=f"component {j}")
        if (labels == -1).any():
            ax.scatter(*X[labels == -1].T, s=14, color="0.5", marker="x", label="noise component")
    for j in range(gmm.n_components):
        add_ellipses(ax, gmm.means_[j], gmm.covariances_[j], "black", levels=(1, 2))
    ax.plot([], [], color="black", label="fitted components (1, 2 sd)")
    ax.plot(*true_means.T, "P", color="red", markersize=11, markeredgecolor="black", linestyle="none",
            label="true means")
    ax.set_title(name, fontsize="medium")
    ax.set_xlabel("$x_1$")
    ax.legend(fontsize="small", loc="lower right")
axes[0].set_ylabel("$x_2$")
axes[0].set_xlim(-11, 15)
axes[0].set_ylim(-11, 13)
fig.suptitle("Two clusters and 30 outliers: Gaussian, Gaussian + noise, and Student-t mixtures")

# %%
# Robust clustering does not need to name the outliers, but it can: a point with a small
# ``E[u | x]`` is far out in the tails of every component.

flagged = expected_u < 0.2
print(f"points with E[u | x] < 0.2: {flagged.sum()}, of which true outliers: {np.sum(flagged & is_outlier)} "
      f"(of {is_outlier.sum()} outliers; some fall inside a cluster by chance)")
