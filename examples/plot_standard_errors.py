"""
Standard errors four ways: Louis, SEM, bootstrap and the Hessian
=================================================================

EM gives the maximum-likelihood estimate but, unlike Newton's method, no information matrix
along the way. :func:`emkit.standard_errors` offers four ways to get the covariance of the
estimate, for any model that supplies the hooks (every model in emkit does):

``"louis"`` (Louis 1982)
    The observed information is the complete-data information minus the missing information,
    ``I_obs = I_c − Cov[S_c | data]`` (``S_c`` the complete-data score). Needs the
    complete-data information and the conditional covariance of the score: closed forms, one
    pass over the data. Exact at the estimate.
``"sem"``, supplemented EM (Meng & Rubin 1991)
    EM's map ``M`` has Jacobian ``DM = I_mis I_c⁻¹`` at the estimate (the fraction of missing
    information), estimated by difference quotients of EM steps started near the estimate; then
    ``V = I_c⁻¹ + I_c⁻¹ DM (I − DM)⁻¹``. Needs only ``I_c`` and the EM map; costs a few EM
    steps per parameter; numerically delicate when EM is very slow (``DM`` near ``I``).
``"bootstrap"``
    Refit the model to resampled data sets (here 100; each refit starts at the estimate) and
    take the spread of the estimates. Assumes nothing about normality of the estimate and gives
    percentile intervals, but costs a full fit per replicate and has Monte Carlo error.
``"hessian"``
    The numerical second derivative of the observed-data log-likelihood by finite differences:
    needs nothing but the log-likelihood, a cross-check for any model.

All but the bootstrap assume the estimate is an interior maximum with an approximately normal
sampling distribution. We compare them on a two-component Gaussian mixture for the waiting
times between eruptions of the Old Faithful geyser (:func:`emkit.datasets.old_faithful`).
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import emkit
from emkit.datasets import old_faithful

waiting = old_faithful()[["waiting"]].to_numpy()  # minutes, one column
gmm = emkit.GaussianMixture(2, tol=1e-10, max_iter=1000, random_state=0).fit(waiting)
result = gmm.result_  # the engine's EMResult behind the estimator
print(f"{len(waiting)} waiting times; converged in {gmm.n_iter_} iterations")
print("weights", gmm.weights_.round(4), " means", gmm.means_.ravel().round(3),
      " variances", gmm.covariances_.ravel().round(3))

# %%
# The four methods
# ----------------
# Each call returns a :class:`emkit.StandardErrors`: ``se`` keyed like the estimator's
# parameters, the covariance ``cov`` in the free parameters (``labels``: the last weight is
# ``1 −`` the others), and EM's rate of convergence. The CPU time of each is printed too.

errors, seconds = {}, {}
for method in ("louis", "sem", "bootstrap", "hessian"):
    start = time.process_time()
    errors[method] = emkit.standard_errors(result, waiting, method=method, n_boot=100, random_state=0,
                                           fit_options={"accelerate": "squarem"})
    seconds[method] = time.process_time() - start

labels = errors["louis"].reported_labels
names = ["weight 1", "weight 2", "mean 1", "mean 2", "variance 1", "variance 2"]
estimate = errors["louis"].reported_estimate
print(f"{'parameter':<11}{'estimate':>10}" + "".join(f"{m:>11}" for m in errors))
for i, name in enumerate(names):
    row = "".join(f"{np.sqrt(se.reported_cov[i, i]):>11.4f}" for se in errors.values())
    print(f"{name:<11}{estimate[i]:>10.3f}{row}")
print(f"{'CPU seconds':<21}" + "".join(f"{seconds[m]:>11.3f}" for m in errors))
print(f"\nEM's rate (largest fraction of missing information): {errors['louis'].rate:.4f}")
print(f"SEM: {errors['sem'].diagnostics['n_evaluations']} EM steps, asymmetry of its covariance "
      f"{errors['sem'].diagnostics['asymmetry']:.1e}")

# %%
# Louis, SEM and the Hessian agree to all the digits shown: they are three computations of the
# same observed information. The bootstrap measures something else, the spread of refits to
# resampled data, without the normal approximation; it carries Monte Carlo error (with 100
# replicates, a standard error is itself uncertain by about ``1/√200 ≈ 7%``), and on 272 points
# it finds the mean of the short-wait component more variable than the information says.
#
# Intervals side by side
# ----------------------
# 95% intervals for each parameter: Wald intervals ``estimate ± 1.96 se`` for the three
# information methods, percentile intervals for the bootstrap (the 2.5% and 97.5% quantiles
# of the replicates, which need not be symmetric: see the variances).

colours = {"louis": "tab:blue", "sem": "tab:orange", "bootstrap": "tab:green", "hessian": "tab:red"}
fig, axes = plt.subplots(1, 5, figsize=(14, 3.8), layout="constrained")
for ax, i in zip(axes, [0, 2, 3, 4, 5]):  # weight 2 mirrors weight 1
    for position, (method, se) in enumerate(errors.items()):
        low, high = (np.quantile(se.replicates[:, i], [0.025, 0.975]) if method == "bootstrap"
                     else estimate[i] + np.array([-1.96, 1.96]) * np.sqrt(se.reported_cov[i, i]))
        ax.plot([low, high], [position, position], color=colours[method], linewidth=3, solid_capstyle="butt")
        ax.plot(estimate[i], position, "|", color="black", markersize=12)
    ax.set_yticks(range(4), list(errors) if i == 0 else [""] * 4)
    ax.set_ylim(-0.6, 3.6)
    ax.invert_yaxis()
    ax.set_title(names[i], fontsize="medium")
    ax.set_xlabel("minutes²" if "variance" in names[i] else "minutes" if "mean" in names[i] else "probability")
fig.suptitle("95% confidence intervals by method (black tick: the estimate)")

# %%
# The bootstrap distribution
# --------------------------
# ``errors["bootstrap"].replicates`` holds every refit's parameters. For the variance of the
# second (short-wait) component they are mildly skewed to the right (skewness printed below),
# which a symmetric Wald interval cannot show; the normal density with Louis's standard error
# is drawn over them.

i = 5
replicates = errors["bootstrap"].replicates[:, i]
sd = np.sqrt(errors["louis"].reported_cov[i, i])
fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
ax.hist(replicates, bins=20, density=True, color="tab:green", alpha=0.6,
        label=f"{len(replicates)} bootstrap refits")
grid = np.linspace(replicates.min(), replicates.max(), 200)
ax.plot(grid, np.exp(-0.5 * ((grid - estimate[i]) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), color="tab:blue",
        linewidth=2, label=f"normal approximation (Louis: se {sd:.2f})")
ax.axvline(estimate[i], color="black", linestyle="--", label=f"estimate {estimate[i]:.2f}")
ax.set_xlabel("variance of the short-wait component (minutes²)")
ax.set_ylabel("density")
ax.set_title("Sampling distribution of one estimate: bootstrap vs normal approximation", fontsize="medium")
ax.legend(fontsize="small")
skew = np.mean(((replicates - replicates.mean()) / replicates.std()) ** 3)
print(f"skewness of the bootstrap replicates of variance 2: {skew:.2f}")
