"""
Hidden Markov models with inputs: covariate-driven transitions and Markov-switching regression
==============================================================================================

A plain hidden Markov model has one transition matrix for all time. Often an observed input
moves the chain: a server falls into a congested regime more easily when its load is high, an
economy enters a recession more easily after an oil shock. And inside each regime the
observation may itself be a regression on inputs. :class:`emkit.HMM` covers both:

* ``transition_covariates=True``: an *input-driven* (input-output) HMM whose transitions into
  step ``t`` are multinomial logits of that step's covariates ``u_t``,
  ``P(s_t = j | s_{t−1} = i, u_t) = softmax(0, (1, u_t)ᵀ B_i)_j`` (depmixS4's and momentuHMM's
  model; hmmlearn has none);
* ``family=families.Regression(q)``: a regression of the first column on the ``q`` others,
  with its own coefficients in every regime, i.e. a *Markov-switching regression*
  (statsmodels' ``MarkovRegression``, Stata's ``mswitch dr``).

Neither M-step has closed-form statistics: EM's M-step takes the data and runs a weighted
multinomial-logit (or GLM) fit by damped Newton, which never lowers the likelihood, so every
iteration is still an EM step.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import expit

import emkit
from emkit import families
from emkit.datasets import usmacro

# %%
# Transitions driven by an input
# ------------------------------
# 800 minutes of a web server: errors per minute are Poisson, rate 2 in the *normal* regime
# and 9 when *congested*. The load ``u_t`` (standardised requests per minute) wanders slowly;
# high load makes congestion start more easily and end less easily:
# ``P(normal → congested) = expit(−3 + 2 u_t)``, ``P(congested → normal) = expit(−1 − 1.5 u_t)``.

rng = np.random.default_rng(7)
n = 800
load = np.convolve(rng.normal(size=n + 29), np.ones(30) / np.sqrt(30), mode="valid")   # smooth, sd ≈ 1
TRUE_SWITCH = {0: (-3.0, 2.0), 1: (-1.0, -1.5)}     # (intercept, slope) of the logit of leaving state i
state = np.zeros(n, dtype=int)
for t in range(1, n):
    a, b = TRUE_SWITCH[state[t - 1]]
    state[t] = 1 - state[t - 1] if rng.random() < expit(a + b * load[t]) else state[t - 1]
errors = rng.poisson(np.array([2.0, 9.0])[state]).astype(float)[:, None]
print(f"{n} minutes, congested {state.mean():.0%} of the time; mean load when congested "
      f"{load[state == 1].mean():.2f}, when normal {load[state == 0].mean():.2f}")

# %%
# Fit the input-driven HMM (the load passed as ``covariates``, one row per observation) and a
# plain two-state Poisson HMM, which ignores the load. BIC charges the input-driven model for
# its two extra coefficients, and still prefers it.

driven = emkit.HMM(2, family=families.Poisson, transition_covariates=True, n_init=3, n_iter=500, tol=1e-6,
                   random_state=0).fit(errors, covariates=load[:, None])
plain = emkit.HMM(2, family=families.Poisson, n_init=3, n_iter=500, tol=1e-6, random_state=0).fit(errors)
print(f"BIC: input-driven HMM {driven.bic(errors, covariates=load[:, None]):.1f}, "
      f"plain HMM {plain.bic(errors):.1f} (lower is better)")

congested = int(np.argmax(driven.lambdas_.ravel()))
normal = 1 - congested
print(f"fitted rates: normal {driven.lambdas_[normal, 0]:.2f} (true 2), congested {driven.lambdas_[congested, 0]:.2f} "
      "(true 9)")
print(f"fitted homogeneous transition matrix of the plain HMM:\n{np.array2string(plain.transmat_, precision=3)}")

# %%
# ``transition_coef_[i]`` is the logit of each destination against state 0 when leaving state
# ``i`` (first row the intercept). With two states, the probability of leaving ``i`` is
# ``expit(±(1, u)ᵀ B_i)``: plot it against the load, next to the truth and the plain HMM's
# constant switching probabilities. The right panel shows the data and the decoded regimes.


def leave_probability(coef: np.ndarray, origin: int, u: np.ndarray) -> np.ndarray:
    """P(s_t ≠ origin | s_{t−1} = origin, u_t) of a two-state chain from ``transition_coef_``."""
    to_state_1 = expit(coef[origin, 0, 0] + coef[origin, 1, 0] * u)
    return to_state_1 if origin == 0 else 1.0 - to_state_1


grid = np.linspace(load.min(), load.max(), 200)
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained", width_ratios=[1, 1.6])
plain_congested = int(np.argmax(plain.lambdas_.ravel()))
curves = [(normal, 1 - plain_congested, 0, "normal → congested", "tab:red"),
          (congested, plain_congested, 1, "congested → normal", "tab:blue")]   # fitted, plain and true labels
for origin, plain_origin, true_origin, name, colour in curves:
    left.plot(grid, leave_probability(driven.transition_coef_, origin, grid), color=colour, linewidth=2.5,
              label=f"{name}: input-driven fit")
    left.plot(grid, expit(TRUE_SWITCH[true_origin][0] + TRUE_SWITCH[true_origin][1] * grid), ":", color=colour,
              linewidth=2, label=f"{name}: truth")
    left.axhline(1 - plain.transmat_[plain_origin, plain_origin], color=colour, linestyle="--", linewidth=1,
                 label=f"{name}: plain HMM (no input)")
left.set_xlabel("load u_t (standardised)")
left.set_ylabel("probability of switching regime")
left.set_title("Switching probabilities against the input", fontsize="medium")
left.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)

minutes = np.arange(n)
decoded = driven.predict(errors, covariates=load[:, None]) == congested
right.fill_between(minutes, 0, 1, where=state == 1, step="mid", color="tab:red", alpha=0.15, linewidth=0,
                   transform=right.get_xaxis_transform(), label="truly congested")
right.plot(minutes, errors[:, 0], color="black", linewidth=0.6, label="errors per minute")
right.step(minutes, driven.lambdas_[np.where(decoded, congested, normal), 0], where="mid", color="tab:red",
           linewidth=1.5, label="rate of the decoded regime (Viterbi)")
twin = right.twinx()
twin.plot(minutes, load, color="tab:green", linewidth=1, alpha=0.8, label="load (right axis)")
twin.set_ylabel("load u_t")
right.set_xlabel("minute")
right.set_ylabel("errors per minute")
right.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
right.set_title(f"Decoded regimes: {np.mean(decoded == (state == 1)):.1%} of the minutes right", fontsize="medium")
handles = right.get_legend_handles_labels()
extra = twin.get_legend_handles_labels()
right.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize="small", loc="upper center",
             bbox_to_anchor=(0.5, -0.14), ncol=2)

# %%
# Markov-switching regression: the federal funds rate
# ---------------------------------------------------
# Stata's ``usmacro`` data (:func:`emkit.datasets.usmacro`), 1954Q3–2010Q4, the example of
# statsmodels' and Stata's Markov-switching documentation. First a switching mean: an
# intercept-only regression (``Regression(0)``) with a variance common to both regimes
# (``switching_dispersion=False``), the chain starting in its stationary distribution
# (``initial="stationary"``, as Stata and statsmodels do). Stata reports ℓ = −508.63592.

macro = usmacro()
fedfunds = macro["fedfunds"].to_numpy()
switching_mean = emkit.HMM(2, family=families.Regression(0, switching_dispersion=False), initial="stationary",
                           n_iter=2000, tol=1e-10, accelerate="squarem", random_state=0).fit(fedfunds[:, None])
print(f"switching mean: log-likelihood {switching_mean.score(fedfunds[:, None]):.5f} (Stata: -508.63592), "
      f"regime means {np.sort(switching_mean.coef_.ravel()).round(4).tolist()} (Stata: 3.70877, 9.556793)")

# %%
# Then a regression in each regime: the rate on its own lag, the output gap and inflation
# (rows with a missing inflation, the first four quarters, dropped), every coefficient
# switching, one common variance. Stata reports ℓ = −229.25614 and observed-information
# standard errors, which :func:`emkit.standard_errors` with ``method="hessian"`` reproduces.

X = np.column_stack([fedfunds[4:], fedfunds[3:-1], macro["ogap"].to_numpy()[4:], macro["inf"].to_numpy()[4:]])
regression = emkit.HMM(2, family=families.Regression(3, switching_dispersion=False), initial="stationary",
                       n_iter=2000, tol=1e-10, accelerate="squarem", random_state=0).fit(X)
print(f"switching regression: log-likelihood {regression.score(X):.5f} (Stata: -229.25614)")
se = emkit.standard_errors(regression.result_, X, method="hessian").se["coef"]
print(f"{'regime':<8}" + "".join(f"{name:>18}" for name in ("intercept", "lagged rate", "output gap", "inflation")))
for k in np.argsort(-regression.coef_[:, 0]):
    print(f"{k:<8}" + "".join(f"{c:>9.4f} ({s:.4f})" for c, s in zip(regression.coef_[k], se[k])))

# %%
# The smoothed probabilities (:meth:`~emkit.HMM.predict_proba`). The switching mean's
# high-rate regime picks out the late 1960s, the 1970s and the 1980s. The switching
# regression's regimes sort the quarters by the rate's dynamics, not its level (one with a
# higher intercept and a weaker pull of the lagged rate, the other close to a random walk that
# follows inflation), and they alternate much more often.

quarters = np.arange(len(fedfunds)) / 4 + 1954.5
high = int(np.argmax(switching_mean.coef_.ravel()))
p_high = switching_mean.predict_proba(fedfunds[:, None])[:, high]
high_intercept = int(np.argmax(regression.coef_[:, 0]))
p_regression = regression.predict_proba(X)[:, high_intercept]
fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 6), sharex=True, height_ratios=[2, 1], layout="constrained")
top.plot(quarters, fedfunds, color="black", linewidth=1, label="federal funds rate")
top.step(quarters, switching_mean.coef_.ravel()[np.where(p_high > 0.5, high, 1 - high)], where="mid",
         color="tab:red", linewidth=1.5, label="mean of the more probable regime")
top.fill_between(quarters, 0, 1, where=p_high > 0.5, step="mid", color="tab:red", alpha=0.12, linewidth=0,
                 transform=top.get_xaxis_transform(), label="P(high-rate regime) > 1/2")
top.set_ylabel("percent")
top.set_title("Federal funds rate and a two-regime switching mean", fontsize="medium")
top.legend(loc="upper right")
bottom.plot(quarters, p_high, color="tab:red", label="switching mean: P(high-rate regime | all data)")
bottom.plot(quarters[4:], p_regression, color="tab:purple",
            label="switching regression: P(high-intercept regime | all data)")
bottom.set_ylim(-0.02, 1.02)
bottom.set_xlabel("year")
bottom.set_ylabel("smoothed probability")
bottom.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize="small", frameon=False)
