"""
Online EM on a stream
=====================

Batch EM passes over all the data at every iteration. When the data arrive as a stream, or do
not fit in memory, *online EM* (Cappé & Moulines 2009) takes each batch once: it computes the
batch's expected sufficient statistics at the current parameters, blends them into a running
average with step ``γ_t = t^(−α)``,

.. math:: \\bar s_t = (1 - \\gamma_t)\\, \\bar s_{t-1} + \\gamma_t\\, s(\\text{batch}_t; \\theta_{t-1}),
          \\qquad \\theta_t = \\text{M-step}(\\bar s_t),

and keeps nothing else. With ``1/2 < α ≤ 1`` the iterates converge to a maximum of the
expected log-likelihood; averaging the iterates (Polyak–Ruppert) removes most of their noise.
Because every emkit model's E-step returns additive statistics, :func:`emkit.fit_online` runs
any of them on a stream.

The stream here: counts of events per minute from two regimes, quiet (rate 2, 30% of minutes)
and busy (rate 7), delivered 100 minutes at a time; 400 batches, 40,000 counts, each seen once.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import poisson

import emkit

TRUE_WEIGHTS = np.array([0.3, 0.7])
TRUE_RATES = np.array([2.0, 7.0])


def stream(n_batches, batch_size=100, seed=0):
    """Batches of counts drawn afresh from the two-regime Poisson mixture (a generator: nothing
    is kept)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        quiet = rng.random(batch_size) < TRUE_WEIGHTS[0]
        yield np.where(quiet, rng.poisson(TRUE_RATES[0], batch_size), rng.poisson(TRUE_RATES[1], batch_size))


model = emkit.PoissonMixture(2, data="observations")
online = emkit.fit_online(model, stream(400), step_exponent=0.51)
print(f"{online.n_batches} batches, {online.n_observations:.0f} counts, {online.n_iter} M-steps")
print("online EM (averaged):", {k: np.round(v, 4).tolist() for k, v in online.named_params().items()})

# %%
# The same data in memory
# -----------------------
# For comparison, batch EM on all 40,000 counts at once (regenerated from the same seed), run
# to convergence. The online estimate, computed in a single pass with ``α = 0.51``, agrees with
# it to about one standard error (Louis's, printed below).

everything = np.concatenate(list(stream(400)))
batch = emkit.fit(model, everything, accelerate="squarem")
print(f"batch EM: {batch.n_iter} iterations over all {everything.size} counts:",
      {k: np.round(v, 4).tolist() for k, v in batch.named_params().items()})
standard_errors = emkit.standard_errors(batch, everything, method="louis").se
print("batch EM standard errors:", {k: np.round(v, 4).tolist() for k, v in standard_errors.items()})

# %%
# The paths
# ---------
# The thin lines are the iterates after each batch, the thick lines the averaged estimate
# that :func:`emkit.fit_online` returns; dashed lines are the true values. Right: each batch's
# log-likelihood per count *before* the model saw it, a fair out-of-sample score, against the
# score of the true model.

batches = np.asarray(online.path_batches)
_, iterates = online.trace.named_table(model)  # columns: weights[0], weights[1], rates[0], rates[1]
_, averaged = online.averaged_trace.named_table(model)
fig, (rates_ax, weights_ax, score_ax) = plt.subplots(1, 3, figsize=(15, 4.3), layout="constrained")
for column, (ax, truth, name) in enumerate([(weights_ax, TRUE_WEIGHTS[0], "weight of the quiet regime"),
                                            (rates_ax, TRUE_RATES[0], "rate of the quiet regime"),
                                            (rates_ax, TRUE_RATES[1], "rate of the busy regime")]):
    index = [0, 2, 3][column]
    (line,) = ax.plot(batches, iterates[:, index], linewidth=0.8, alpha=0.5)
    ax.plot(batches, averaged[:, index], color=line.get_color(), linewidth=2.2, label=f"{name}: averaged estimate")
    ax.axhline(truth, color=line.get_color(), linestyle="--", linewidth=1)
for ax, ylabel in ((rates_ax, "events per minute"), (weights_ax, "probability")):
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("batch (symmetric log scale)")
    ax.set_ylabel(ylabel)
    ax.plot([], [], color="0.4", linewidth=0.8, alpha=0.5, label="iterate after each batch")
    ax.plot([], [], color="0.4", linestyle="--", linewidth=1, label="true value")
    ax.legend(fontsize="small")
rates_ax.set_title("Poisson rates", fontsize="medium")
weights_ax.set_title("Mixture weight", fontsize="medium")

true_score = np.mean(np.log(TRUE_WEIGHTS @ poisson.pmf(everything[None, :], TRUE_RATES[:, None])))
scores = np.asarray(online.trace.loglik[1:])
score_ax.plot(batches[1:], scores, ".", markersize=3, color="tab:purple", alpha=0.5,
              label="each batch's log-likelihood per count,\nbefore the update")
window = 20
score_ax.plot(batches[window:], np.convolve(scores, np.ones(window) / window, mode="valid"), color="tab:purple",
              linewidth=2, label=f"mean of the last {window} batches")
score_ax.axhline(true_score, color="black", linestyle="--", linewidth=1, label=f"true model ({true_score:.3f})")
score_ax.set_xscale("log")
score_ax.set_xlabel("batch (log scale)")
score_ax.set_ylabel("log-likelihood per count")
score_ax.set_title("Predictive score of each new batch", fontsize="medium")
score_ax.legend(fontsize="small", loc="lower right")

# %%
# The step exponent
# -----------------
# ``α`` sets how fast the running statistics forget. The statistics of the first batches were
# computed at poor parameters (the start puts the rates at 3 and 8) and must be forgotten:
# ``α = 1`` weighs every batch equally, and 400 batches are not enough to forget the start;
# ``α`` just above 1/2 forgets fastest. Averaging the iterates removes their noise around the
# limit, but while they still drift it lags behind them. The largest distance of each final
# estimate to batch EM's:

for alpha in (0.51, 0.6, 0.8, 1.0):
    distances = []
    for averaging in (False, True):
        run = emkit.fit_online(model, stream(400), step_exponent=alpha, averaging=averaging)
        distances.append(np.abs(model.to_vector(run.params) - model.to_vector(batch.params)).max())
    print(f"alpha = {alpha:<4}   last iterate {distances[0]:.4f}   averaged {distances[1]:.4f}")

# %%
# Gaussian mixtures stream the same way through the scikit-learn-style face:
# ``emkit.GaussianMixture(k).partial_fit(batch)`` takes one online-EM step per batch.
