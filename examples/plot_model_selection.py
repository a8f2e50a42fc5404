"""
Choosing the number of components and the covariance model
===========================================================

How many clusters, and what shape? A mixture with more components, or freer covariances,
always fits the data at hand better, so the log-likelihood alone cannot choose. The Bayesian
information criterion charges each free parameter ``log n``:

.. math:: \\mathrm{BIC} = -2\\,\\ell(\\hat\\theta) + p \\log n \\qquad\\text{(lower is better)}

R's mclust also parametrises each covariance as ``Σ_k = λ_k D_k A_k D_kᵀ``: volume ``λ``,
shape ``A`` and orientation ``D``, each Equal across components, Variable, or the Identity.
Its fourteen models run from ``EII`` (round clusters of one size) to ``VVV`` (unrestricted).
:func:`emkit.gmm_select` fits every ``(number of components, model)`` pair and tabulates BIC,
AIC and ICL (BIC plus the entropy of the classification, which favours well-separated
clusters). With ``covariance_types="mclust"`` and ``init_params="hc"`` it follows mclust:
every fit starts from model-based hierarchical clustering.

The data are R's Old Faithful eruptions (:func:`emkit.datasets.old_faithful`): 272 eruptions,
their duration and the waiting time to the next one, both in minutes.
"""

import matplotlib.pyplot as plt
import numpy as np

import emkit
from emkit.datasets import old_faithful
from emkit.plotting.mixture import add_ellipses, full_covariances

# sphinx_gallery_thumbnail_number = 2

faithful = old_faithful()
X = faithful.to_numpy()
print(faithful.describe().round(2))

# %%
# The grid of models
# ------------------
# Fourteen covariance models for one to six components: 84 fits. ``reg_covar=0.0`` fits
# exactly as mclust does (no floor added to the covariances).

selection = emkit.gmm_select(X, range(1, 7), covariance_types="mclust", init_params="hc", reg_covar=0.0)
best = selection.best_row
print(f"best by BIC: {best['covariance_type']} with {best['n_components']} components "
      f"(log-likelihood {best['loglik']:.3f}, {best['n_parameters']} parameters, BIC {best['bic']:.2f})")

# %%
# mclust prints ``−BIC`` (higher is better), one row per number of components and one column
# per model, as below; ``NA`` marks a fit that failed (a component collapsed).

models = list(dict.fromkeys(row["covariance_type"] for row in selection.table))
bic = {(row["n_components"], row["covariance_type"]): -row["bic"] for row in selection.table}  # mclust's sign
for block in (models[:7], models[7:]):
    print("G " + "".join(f"{model:>10}" for model in block))
    for k in range(1, 7):
        print(f"{k} " + "".join(f"{bic[k, m]:>10.2f}" if np.isfinite(bic[k, m]) else f"{'NA':>10}" for m in block))
    print()

ranked = sorted((row for row in selection.table if not row["error"]), key=lambda row: row["bic"])
print("top three by BIC:", ", ".join(f"{r['covariance_type']},{r['n_components']} ({-r['bic']:.2f})" for r in ranked[:3]))

# %%
# The BIC curves
# --------------
# One line per model, against the number of components. BIC falls steeply from one component
# to two (the two kinds of eruption, short and long); beyond three, the extra parameters cost
# more than they gain and BIC rises again. The four best models are drawn in colour, the ten
# others in grey; one-component fits, far above, are beyond the top of the axis.

best_models = list(dict.fromkeys(row["covariance_type"] for row in ranked))[:4]
ks = np.arange(1, 7)
fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
for model in models:
    values = [-bic[k, model] for k in ks]
    if model in best_models:
        ax.plot(ks, values, marker="o", linewidth=2, label=f"{model} (lowest: {min(values):.1f})", zorder=3)
    else:
        ax.plot(ks, values, marker=".", color="0.75", linewidth=1, zorder=1,
                label="the other ten models" if model == models[0] else None)
ax.plot(best["n_components"], best["bic"], "o", markersize=16, fillstyle="none", color="black",
        label=f"chosen: {best['covariance_type']}, {best['n_components']} components")
ax.set_ylim(best["bic"] - 5, best["bic"] + 90)
ax.set_xlabel("number of components")
ax.set_ylabel("BIC (lower is better)")
ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
ax.set_title("Old Faithful: BIC of mclust's 14 covariance models")
ax.legend(title="covariance model", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))

# %%
# The chosen model
# ----------------
# ``selection.best`` is the fitted :class:`emkit.GaussianMixture`. The short eruptions form
# one component; the long ones split in two, which overlap. Points are coloured by their most
# probable component and sized by their *uncertainty*, ``1 − max posterior``: the uncertain
# points lie where the long-eruption components meet.

gmm = selection.best
labels = gmm.predict(X)
print("covariances_ of an EEE fit, one matrix shared by the components:", gmm.covariances_.round(3).tolist())
uncertainty = 1.0 - gmm.predict_proba(X).max(axis=1)
covariances = full_covariances(gmm.covariances_, gmm.covariance_type, gmm.n_components, X.shape[1])  # (k, d, d)
colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]

fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
for j in range(gmm.n_components):
    chosen = labels == j
    ax.scatter(*X[chosen].T, s=8 + 300 * uncertainty[chosen], color=colours[j], alpha=0.7,
               label=f"component {j}: weight {gmm.weights_[j]:.2f}, {chosen.sum()} eruptions")
    add_ellipses(ax, gmm.means_[j], covariances[j], colours[j], levels=(1, 2))
    ax.plot(*gmm.means_[j], "X", color=colours[j], markeredgecolor="black", markersize=10)
ax.scatter([], [], s=8 + 300 * 0.4, color="0.6", label="marker area grows with uncertainty")
ax.set_xlabel(f"{faithful.columns[0]} (minutes)")
ax.set_ylabel(f"{faithful.columns[1]} (minutes)")
ax.set_title(f"Chosen by BIC: {best['covariance_type']}, {best['n_components']} components "
             "(ellipses: 1 and 2 sd)")
ax.legend(fontsize="small", loc="upper left")
print(f"points with uncertainty above 0.1: {np.sum(uncertainty > 0.1)} of {len(X)}")

# %%
# Other criteria
# --------------
# The same table ranks the candidates by AIC (a lighter penalty, ``2p``) and by ICL. AIC keeps
# adding components; ICL, which penalises overlapping components, prefers fewer, better
# separated ones.

for criterion in ("bic", "aic", "icl"):
    row = min((r for r in selection.table if not r["error"]), key=lambda r: r[criterion])
    print(f"{criterion.upper()}: {row['covariance_type']} with {row['n_components']} components "
          f"({criterion.upper()} = {row[criterion]:.2f})")
