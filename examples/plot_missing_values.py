"""
Missing values in a Gaussian mixture
====================================

Real tables have holes. The usual work-arounds lose information or invent it: dropping every
row with a missing cell throws away its observed cells (and, when the holes are more common in
some part of the data, skews what is left), and filling a hole with the column mean before
fitting invents points that were never there.

EM was made for this (Dempster, Laird & Rubin 1977): the missing cells are one more kind of
missing data. :class:`emkit.GaussianMixture` takes ``NaN`` cells as they are. Its E-step
weighs the components of each row by the marginal density of the row's *observed* cells, and
completes the sufficient statistics with the conditional mean and covariance of the missing
cells given the observed ones, component by component. The likelihood it maximises is that of
the data actually observed, which is the right one when cells are *missing at random*: whether
a cell is missing may depend on the row's observed cells, not on the missing value itself.

We take the 400 points of the four-Gaussian example (:func:`emkit.datasets.synthetic_gmm`) and
hide the second coordinate ``x₂`` of a row with probability 0.6 when its first coordinate
``x₁`` exceeds 2, and 0.1 otherwise: the two groups on the right lose most of their ``x₂``.
"""

import matplotlib.pyplot as plt
import numpy as np

import emkit
from emkit.datasets import synthetic_gmm
from emkit.plotting.mixture import add_ellipses

X_full, groups, truth = synthetic_gmm(400, random_state=0)
rng = np.random.default_rng(1)
holed = rng.random(len(X_full)) < np.where(X_full[:, 0] > 2.0, 0.6, 0.1)
X = X_full.copy()
X[holed, 1] = np.nan
print(f"x2 missing in {holed.sum()} of {len(X)} rows: "
      f"{holed[X_full[:, 0] > 2].sum()} of {np.sum(X_full[:, 0] > 2)} rows with x1 > 2, "
      f"{holed[X_full[:, 0] <= 2].sum()} of {np.sum(X_full[:, 0] <= 2)} others")

# %%
# Four fits
# ---------
# * **all data**: the fit we would have without the holes (the reference);
# * **EM with missing values**: emkit on the table with its ``NaN`` cells;
# * **complete rows only**: the rows without a hole;
# * **column mean filled in**: each hole replaced by the mean of the observed ``x₂``.
#
# Each fit is judged by the mean log-density it gives to 4,000 new points from the same four
# Gaussians (higher is better), and by its weights: each group holds a quarter of the points.

X_new, _, _ = synthetic_gmm(4000, random_state=2)
X_mean_filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)


def fitted(data):
    return emkit.GaussianMixture(4, covariance_type="full", n_init=3, tol=1e-6, max_iter=500,
                                 random_state=0).fit(data)


fits = {
    "all data (reference)": fitted(X_full),
    "EM with missing values": fitted(X),
    "complete rows only": fitted(X[~holed]),
    "column mean filled in": fitted(X_mean_filled),
}


def weights_by_group(gmm):
    """The fitted weight of the component nearest each true group's mean."""
    nearest = [np.argmin(np.linalg.norm(gmm.means_ - mean, axis=1)) for mean in truth["means"]]
    return gmm.weights_[nearest]


scores = {name: gmm.score(X_new) for name, gmm in fits.items()}
print(f"{'fit':<24} {'iterations':>10} {'log-density':>12}   weights of groups 0, 1, 2, 3 (true 0.25 each)")
for name, gmm in fits.items():
    weights = "  ".join(f"{w:.3f}" for w in weights_by_group(gmm))
    print(f"{name:<24} {gmm.n_iter_:>10} {scores[name]:>12.4f}   {weights}")

# %%
# The picture
# -----------
# Left: rows with ``x₂`` missing are known only by their ``x₁`` (the ticks along the bottom);
# the ellipses (1 and 2 standard deviations) are the components of EM with the holes and of
# the complete rows only. Both find the four shapes, but the complete rows hold too few points
# of the right-hand groups, so their weights fall to about 0.15; EM counts every row. Right:
# the fitted weights of the four groups by each fit.

em, complete = fits["EM with missing values"], fits["complete rows only"]
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained", width_ratios=[1.25, 1])
left.scatter(*X[~holed].T, s=9, color="0.55", label="rows with both coordinates")
left.plot(X[holed, 0], np.full(holed.sum(), -5.6), "|", color="tab:purple", markersize=12,
          label="rows with $x_2$ missing (at their $x_1$)")
for gmm, colour, name in ((em, "tab:blue", "EM with missing values"), (complete, "tab:green", "complete rows only")):
    for mean, covariance in zip(gmm.means_, gmm.covariances_):
        add_ellipses(left, mean, covariance, colour, levels=(1, 2))
    left.plot([], [], color=colour, label=f"components: {name}")
left.set_ylim(-6.2, 9.5)
left.set_xlabel("$x_1$")
left.set_ylabel("$x_2$")
left.set_title("Data with holes and the fitted components", fontsize="medium")
left.legend(fontsize="small", loc="upper center", ncol=2)

names = list(fits)
offsets = np.linspace(-0.3, 0.3, len(names))
for offset, name, colour in zip(offsets, names, ("0.45", "tab:blue", "tab:green", "tab:orange")):
    right.bar(np.arange(4) + offset, weights_by_group(fits[name]), width=0.2, color=colour, label=name)
right.axhline(0.25, color="black", linestyle="--", linewidth=1, label="true weight (0.25)")
right.set_xticks(range(4), [f"group {g}\nmean ({m[0]:g}, {m[1]:g})" for g, m in enumerate(truth["means"])])
right.set_ylabel("fitted weight of the group's component")
right.set_title("Weights: EM keeps every row, the complete rows do not", fontsize="medium")
right.legend(fontsize="small", loc="upper left")

# %%
# Filling the holes after the fit
# -------------------------------
# Once fitted, ``impute`` fills each hole with its conditional mean given the row's observed
# cells: each component's regression of ``x₂`` on ``x₁``, averaged with the row's posterior
# probabilities given ``x₁`` alone. It is the best guess in squared error, but a mean, not a
# draw. Here ``x₁`` seldom tells which group a row is from (at ``x₁ ≈ 3.5`` the group near
# ``x₂ = 0`` and the one near ``x₂ = 4`` are both plausible), so the guesses are compromises,
# no closer to the hidden values than the column mean. The fitted *model* used every observed
# cell correctly all the same; use it, not a filled-in table, for anything downstream.

X_imputed = em.impute(X)
hidden = X_full[holed, 1]
print(f"root mean square error of the filled-in x2: mixture {np.sqrt(np.mean((X_imputed[holed, 1] - hidden) ** 2)):.3f}, "
      f"column mean {np.sqrt(np.mean((X_mean_filled[holed, 1] - hidden) ** 2)):.3f}")
posteriors = em.predict_proba(X)
print("\n   x1   " + f"{'P(component | x1)':<19}" + "   filled-in x2   hidden x2")
for row in np.flatnonzero(holed)[:6]:
    print(f"{X[row, 0]:5.2f}   " + " ".join(f"{p:.2f}" for p in posteriors[row])
          + f"   {X_imputed[row, 1]:12.2f}   {X_full[row, 1]:9.2f}")

# %%
# Standard errors work with holes too: Louis's method adds, per pattern of missing cells, the
# spread of the missing cells' scores given each row. The holes cost precision, visible in the
# standard errors of the weights.

reference = fits["all data (reference)"]
se_full = emkit.standard_errors(reference.result_, X_full, method="louis")
se_holed = emkit.standard_errors(em.result_, X, method="louis")
print("weight ± standard error, all data:   " + "  ".join(
    f"{w:.3f} ± {s:.3f}" for w, s in zip(reference.weights_, se_full.se["weights"])))
print("weight ± standard error, with holes: " + "  ".join(
    f"{w:.3f} ± {s:.3f}" for w, s in zip(em.weights_, se_holed.se["weights"])))
