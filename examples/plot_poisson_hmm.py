"""
A Poisson hidden Markov model for counts over time
==================================================

Counts recorded over time (calls per hour, claims per day, earthquakes per year) are often
*overdispersed*, their variance larger than their mean, and *autocorrelated*: busy periods come
in runs. A Poisson hidden Markov model explains both: a hidden regime follows a Markov chain,
and given the regime the count is Poisson with that regime's rate. The mixture of rates gives
the overdispersion, the persistence of the chain the runs.

:class:`emkit.PoissonHMM` (hmmlearn's interface) fits it by Baum–Welch. Here 600 hours of
simulated counts of calls to a help desk, from three regimes: quiet (rate 3), normal (rate 8)
and busy (rate 15), each tending to persist.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import poisson

import emkit
from emkit import families

REGIMES = ["quiet", "normal", "busy"]
simulator = emkit.PoissonHMM(3, random_state=2)
simulator.startprob_ = np.array([1.0, 0.0, 0.0])
simulator.transmat_ = np.array([[0.95, 0.04, 0.01],
                                [0.05, 0.90, 0.05],
                                [0.02, 0.08, 0.90]])
simulator.lambdas_ = np.array([[3.0], [8.0], [15.0]])
calls, regime = simulator.sample(600)  # calls: (600, 1) counts as floats; regime: 0, 1, 2
print(f"{len(calls)} hours; mean {calls.mean():.2f} calls per hour, variance {calls.var():.2f} "
      f"(a single Poisson would have them equal)")
lag1 = np.corrcoef(calls[:-1, 0], calls[1:, 0])[0, 1]
print(f"correlation of one hour's count with the next: {lag1:.2f}")

# %%
# How many regimes?
# -----------------
# Fit one to four hidden states, each from five random starts, and compare BIC. One state is a
# plain Poisson; the data need more.

fits = {k: emkit.PoissonHMM(k, n_init=5, n_iter=1000, tol=1e-6, random_state=0).fit(calls) for k in range(1, 5)}
bic = {k: m.bic(calls) for k, m in fits.items()}
for k, m in fits.items():
    print(f"{k} states: log-likelihood {m.score(calls):9.2f}   BIC {bic[k]:8.2f}   "
          f"rates {np.sort(m.lambdas_.ravel()).round(2).tolist()}")
best_k = min(bic, key=bic.get)
print(f"BIC chooses {best_k} states")

# %%
# The fitted model
# ----------------
# States are unlabelled; sort them by rate to name them. The transition matrix says how long a
# regime lasts: a state that stays with probability ``p`` lasts ``1/(1 − p)`` hours on average.

model = fits[3]
order = np.argsort(model.lambdas_.ravel())
rates = model.lambdas_.ravel()[order]
transmat = model.transmat_[np.ix_(order, order)]
print(f"{'regime':<8}{'true rate':>10}{'fitted':>8}{'mean stay (h), true':>22}{'fitted':>8}")
for i, name in enumerate(REGIMES):
    print(f"{name:<8}{simulator.lambdas_[i, 0]:>10.1f}{rates[i]:>8.2f}"
          f"{1 / (1 - simulator.transmat_[i, i]):>22.1f}{1 / (1 - transmat[i, i]):>8.1f}")
print("fitted transition matrix (rows: from, columns: to):")
print(np.array2string(transmat, precision=3))

# %%
# Decoding, and why the time order matters
# ----------------------------------------
# The Viterbi path gives the most probable sequence of regimes. A Poisson *mixture* with the
# same three rates (:class:`emkit.Mixture` with a Poisson family) ignores the order of the hours
# and classifies each count on its own; a count of 6 could be quiet or normal, and only its
# neighbours can tell.

decoded = np.argsort(order)[model.predict(calls)]
mixture = emkit.Mixture(3, family=families.Poisson, n_init=5, tol=1e-8, max_iter=2000, random_state=0).fit(calls)
mixture_order = np.argsort(mixture.lambdas_.ravel())
classified = np.argsort(mixture_order)[mixture.predict(calls)]
print(f"hours assigned to their true regime: HMM (Viterbi) {np.mean(decoded == regime):.1%}, "
      f"Poisson mixture {np.mean(classified == regime):.1%}")

hours = np.arange(len(calls))
colours = ["tab:blue", "tab:orange", "tab:red"]
fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 6), sharex=True, height_ratios=[2.2, 1], layout="constrained")
for i, colour in enumerate(colours):
    top.fill_between(hours, 0, 1, where=regime == i, step="mid", color=colour, alpha=0.15, linewidth=0,
                     transform=top.get_xaxis_transform(), label=f"true regime: {REGIMES[i]}")
top.plot(hours, calls[:, 0], color="black", linewidth=0.7, label="calls in the hour")
top.step(hours, rates[decoded], where="mid", color="tab:red", linewidth=1.5, label="rate of the decoded regime")
top.set_ylabel("calls per hour")
top.set_title("Help-desk calls: true regimes (shading) and the HMM's decoded rate", fontsize="medium")
top.legend(fontsize="small", ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.02))
top.set_ylim(bottom=0)

for row, (labels, name) in enumerate([(regime, "truth"), (decoded, "HMM (Viterbi)"), (classified, "Poisson mixture")]):
    for i, colour in enumerate(colours):
        bottom.fill_between(hours, row, row + 0.8, where=labels == i, step="mid", color=colour, linewidth=0)
bottom.set_yticks([0.4, 1.4, 2.4], ["truth", "HMM (Viterbi)", "Poisson mixture"])
bottom.set_ylim(-0.1, 3.0)
bottom.invert_yaxis()
bottom.set_xlabel("hour")
bottom.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
bottom.set_title("Regime of each hour (colours as above)", fontsize="medium")

# %%
# The counts themselves
# ---------------------
# The distribution of the counts, against a single Poisson with the same mean (too narrow) and
# the fitted HMM's stationary mixture of the three Poisson rates.

values = np.arange(0, int(calls.max()) + 2)
stationary = model.get_stationary_distribution()[order]
fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
ax.bar(values, np.bincount(calls[:, 0].astype(int), minlength=len(values)), color="0.75", label="observed hours")
ax.plot(values, len(calls) * poisson.pmf(values, calls.mean()), "o-", color="tab:blue", markersize=4,
        label=f"one Poisson, rate {calls.mean():.2f}")
ax.plot(values, len(calls) * stationary @ poisson.pmf(values[None, :], rates[:, None]), "s-", color="tab:red",
        markersize=4, label="fitted HMM, stationary mixture")
ax.set_xlabel("calls in an hour")
ax.set_ylabel("number of hours")
ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
ax.set_title("Calls per hour: overdispersed for one Poisson, fitted by the HMM", fontsize="medium")
ax.legend()
