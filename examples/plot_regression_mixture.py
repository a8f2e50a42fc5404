"""
A mixture of Poisson regressions with a concomitant variable
============================================================

One regression line rarely fits everybody. Insurance claims grow with the distance a driver
covers, but careful and risky drivers grow at different rates, and nobody's file says which
kind of driver they are. A *mixture of regressions* (R's flexmix, mixtools) lets each hidden
group have its own regression,

    ``p(y | x, z) = Σ_k π_k(z) Poisson(y | exp(a_k + b_k x))``,

and a *concomitant variable* ``z`` (here the share of driving done at night) moves the odds of
belonging to each group: ``π(z)`` is a multinomial logit of ``z`` (a "mixture of experts").

:class:`emkit.RegressionMixture` fits it by EM: the E-step gives each driver's membership
probabilities, the M-step a weighted Poisson regression per group (damped Newton, i.e. IRLS)
and a weighted multinomial logit for the weights. Here 600 simulated drivers, about two thirds
of them careful, the risky ones more common among night drivers.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import expit

import emkit

rng = np.random.default_rng(4)
n = 600
distance = rng.uniform(0.0, 3.0, n)        # x: tens of thousands of km driven in the year
night = rng.uniform(0.0, 1.0, n)           # z: share of the driving done at night
risky = rng.random(n) < expit(-2.5 + 3.5 * night)
TRUE_INTERCEPT, TRUE_SLOPE = np.array([-0.5, 0.3]), np.array([0.3, 0.75])
claims = rng.poisson(np.exp(TRUE_INTERCEPT[risky.astype(int)] + TRUE_SLOPE[risky.astype(int)] * distance))
X = np.column_stack([distance, night])     # column 1 enters the weights only (concomitant=[1])
y = claims.astype(float)
print(f"{n} drivers, {risky.mean():.0%} risky; claims: mean {y.mean():.2f}, variance {y.var():.2f} "
      "(a Poisson regression on distance alone cannot explain the excess)")

# %%
# How many groups? One regression against mixtures
# ------------------------------------------------
# ``k = 1`` is the ordinary Poisson GLM of claims on distance. For ``k ≥ 2`` the night share is
# the concomitant variable. BIC (lower is better) charges each group's two coefficients and the
# weights' logit. SQUAREM (``accelerate="squarem"``) speeds up EM's slow final approach.

fits = {1: emkit.RegressionMixture(1, family="poisson").fit(X[:, :1], y)}
for k in (2, 3):
    fits[k] = emkit.RegressionMixture(k, family="poisson", concomitant=[1], n_init=3, random_state=0,
                                      accelerate="squarem").fit(X, y)
bic = {k: fit.bic(X[:, :1] if k == 1 else X, y) for k, fit in fits.items()}
for k, fit in fits.items():
    print(f"k = {k}: log-likelihood per driver {fit.lower_bound_:.4f}   BIC {bic[k]:8.1f}")
best_k = min(bic, key=bic.get)
print(f"BIC chooses k = {best_k}")

# %%
# The fitted regressions
# ----------------------
# Components are unlabelled: call the one with the steeper slope "risky". Each driver's
# membership is :meth:`~emkit.RegressionMixture.predict_proba` (it uses the claims as well as
# ``x`` and ``z``).

mixture = fits[2]
glm = fits[1]
order = np.argsort(mixture.coef_[:, 0])           # careful first
intercept, slope = mixture.intercept_[order], mixture.coef_[order, 0]
print(f"{'group':<9}{'intercept':>10}{'(true)':>8}{'slope':>8}{'(true)':>8}")
for i, name in enumerate(["careful", "risky"]):
    print(f"{name:<9}{intercept[i]:>10.3f}{TRUE_INTERCEPT[i]:>8.2f}{slope[i]:>8.3f}{TRUE_SLOPE[i]:>8.2f}")
print(f"single GLM: intercept {glm.intercept_[0]:.3f}, slope {glm.coef_[0, 0]:.3f}")

membership = mixture.predict_proba(X, y)[:, order]
p_risky = membership[:, 1]
print(f"drivers put in their true group (probability > 1/2): {np.mean((p_risky > 0.5) == risky):.1%}")

grid = np.linspace(0.0, 3.0, 100)
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
jitter = rng.uniform(-0.15, 0.15, n)
points = left.scatter(distance, y + jitter, c=p_risky, cmap="coolwarm", vmin=0, vmax=1, s=12, alpha=0.8)
left.plot(grid, np.exp(intercept[0] + slope[0] * grid), color="tab:blue", linewidth=2.5,
          label="careful drivers' regression")
left.plot(grid, np.exp(intercept[1] + slope[1] * grid), color="tab:red", linewidth=2.5,
          label="risky drivers' regression")
left.plot(grid, np.exp(glm.intercept_[0] + glm.coef_[0, 0] * grid), "k--", linewidth=1.5,
          label="one Poisson GLM for everybody")
left.set_xlabel("distance driven (10 000 km)")
left.set_ylabel("claims in the year (jittered)")
left.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
left.set_title("Expected claims per group; dots coloured by membership", fontsize="medium")
left.legend(loc="upper left")
fig.colorbar(points, ax=left, label="P(risky | distance, night share, claims)")

# %%
# The concomitant variable
# ------------------------
# The weights' logit, ``concomitant_coef_`` (first row the intercepts, component 0 the
# reference), gives the share of risky drivers as a function of the night share, before seeing
# any claims; the drivers' posterior memberships scatter around it.

coef = mixture.concomitant_coef_[:, 0] * (1 if order[1] == 1 else -1)   # log-odds of "risky"
right.scatter(night, p_risky, s=10, color="0.5", alpha=0.6, label="each driver: P(risky | all data)")
right.plot(grid / 3.0, expit(coef[0] + coef[1] * grid / 3.0), color="tab:red", linewidth=2.5,
           label="fitted prior weight π_risky(night share)")
right.plot(grid / 3.0, expit(-2.5 + 3.5 * grid / 3.0), "k:", linewidth=2, label="true weight")
right.set_xlabel("share of the driving done at night")
right.set_ylabel("probability of the risky group")
right.set_ylim(-0.02, 1.02)
right.set_title("Membership depends on the concomitant variable", fontsize="medium")
right.legend(loc="upper left")

# %%
# Standard errors
# ---------------
# The observed information (the Hessian of the log-likelihood at the estimate) gives standard
# errors of every coefficient; ``coef`` rows are the components (intercept in column 0) in the
# fitted order, ``concomitant_coef`` the logit of component 1 against component 0.

errors = mixture.standard_errors(X, y, method="hessian")
for name in ("coef", "concomitant_coef"):
    estimate, se = np.asarray(mixture.params_[name]), np.asarray(errors.se[name])
    print(f"{name}: estimate (standard error)")
    for row_estimate, row_se in zip(estimate, se):
        print("   " + "   ".join(f"{e:7.3f} ({s:.3f})" for e, s in zip(row_estimate, row_se)))
