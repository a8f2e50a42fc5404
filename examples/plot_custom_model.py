"""
Writing your own model: censored lifetimes
==========================================

The engine fits any model that supplies an E-step returning *additive expected sufficient
statistics* (with the observed-data log-likelihood) and an M-step; SQUAREM, standard errors,
restarts, the ascent check and the convergence diagnostics come with it.

The model here: lifetimes ``T ~ Exponential`` with mean ``μ`` (machines until failure, patients
until relapse), where follow-up ends before some failures: for those we only know ``T > c``,
the time ``c`` at which they were *censored*. The complete data are the lifetimes themselves;
the sufficient statistic is their sum. By memorylessness ``E[T | T > c] = c + μ``, so

* **E-step**: expected total lifetime ``Σ times + μ · (number censored)``;
* **M-step**: ``μ = expected total / n``.

The maximum-likelihood estimate has a closed form (total time over number of failures), which
lets us check everything.
"""

import matplotlib.pyplot as plt
import numpy as np

import emkit
from emkit.engine import EMModel


class CensoredExponential(EMModel):
    """Exponential lifetimes with mean ``mu``; data ``(times, observed)``, ``observed`` False
    where the time is a censoring time."""

    param_names = ("mu",)

    def prepare(self, data):
        times, observed = (np.asarray(a) for a in data)
        return times.astype(float), observed.astype(bool)

    def initial_params(self, data, rng=None):
        times, _ = data
        scale = 1.0 if rng is None else rng.uniform(0.5, 2.0)
        return {"mu": np.array(times.mean() * scale)}

    def e_step(self, data, params):
        times, observed = data
        mu = float(params["mu"])
        expected_total = times.sum() + mu * np.count_nonzero(~observed)  # Σ E[T_i | data]
        loglik = -np.count_nonzero(observed) * np.log(mu) - times.sum() / mu
        return {"total": np.array(expected_total), "n": np.array(float(times.size))}, loglik

    def m_step(self, stats, params):
        return {"mu": stats["total"] / stats["n"]}

    # Optional hooks: each unlocks more of the toolkit.
    def complete_information(self, stats, params):
        """``I_c = E[−∂² log p(T | μ)] = −n/μ² + 2 Σ E[T]/μ³`` (Louis and SEM need it)."""
        mu = float(params["mu"])
        return np.array([[-stats["n"] / mu**2 + 2.0 * stats["total"] / mu**3]])

    def score_covariance(self, data, params):
        """``Cov[∂/∂μ log p(T | μ) | data]``: a censored lifetime's score ``(T − μ)/μ²`` has
        variance ``Var[T | T > c]/μ⁴ = 1/μ²``; an observed one, none (Louis needs it)."""
        _, observed = data
        return np.array([[np.count_nonzero(~observed) / float(params["mu"]) ** 2]])

    def resample(self, data, rng):
        """Units drawn with replacement (the bootstrap needs it)."""
        times, observed = data
        rows = rng.integers(0, times.size, times.size)
        return times[rows], observed[rows]


# %%
# Data and fit
# ------------
# 200 machines with mean lifetime 10 (years), each followed for a uniform time between 0 and
# 20 years: about 40% are still running when follow-up ends.

rng = np.random.default_rng(0)
lifetimes = rng.exponential(10.0, 200)
follow_up = rng.uniform(0.0, 20.0, 200)
times, observed = np.minimum(lifetimes, follow_up), lifetimes <= follow_up
data = (times, observed)
print(f"{observed.sum()} failures observed, {np.sum(~observed)} censored")

model = CensoredExponential()
result = emkit.fit(model, data)
closed_form = times.sum() / observed.sum()
print(f"EM: mu = {float(result.params['mu']):.10f} after {result.n_iter} iterations")
print(f"closed form (total time / failures): {closed_form:.10f}")
print(f"naive mean of the recorded times (ignores censoring): {times.mean():.4f}")
accelerated = emkit.fit(model, data, accelerate="squarem")
print(f"SQUAREM: the same estimate in {accelerated.n_iter} iterations ({accelerated.n_evaluations} E-steps)")

# %%
# EM as a fixed-point iteration
# -----------------------------
# Here the EM map is a straight line, ``M(μ) = (Σ times + μ · n_censored)/n``, with slope
# ``n_censored / n``: the fraction of missing information, which is EM's rate of convergence.
# The cobweb shows the iterates from a deliberately poor start approaching the fixed point, where
# the line crosses the diagonal; each step shrinks the distance by the slope.

n, n_censored = times.size, np.count_nonzero(~observed)
poor = emkit.fit(model, data, init={"mu": np.array(40.0)})
path = np.array([float(p["mu"]) for p in poor.trace.params])
grid = np.linspace(0, 42, 100)
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
left.plot(grid, (times.sum() + grid * n_censored) / n, color="tab:blue",
          label=f"EM map M(μ), slope {n_censored / n:.3f}")
left.plot(grid, grid, color="0.5", linestyle="--", label="diagonal M(μ) = μ")
stairs = np.repeat(path, 2)  # (μ0, μ0) → (μ0, μ1) → (μ1, μ1) → (μ1, μ2) → ...
left.plot(stairs[:-1], stairs[1:], color="tab:red", linewidth=0.9)
left.plot(path[:-1], path[1:], "o", color="tab:red", markersize=4, label="iterates from μ = 40")
left.plot(closed_form, closed_form, "*", color="black", markersize=14, label=f"fixed point μ̂ = {closed_form:.2f}")
left.set_xlabel("μ (current iterate)")
left.set_ylabel("M(μ) (next iterate)")
left.set_title("The EM map and its cobweb", fontsize="medium")
left.legend(fontsize="small")

errors = np.abs(path - closed_form)
shown = errors > 1e-12 * closed_form
steps = np.arange(len(path))
right.semilogy(steps[shown], errors[shown], "o-", color="tab:red", markersize=4, label="|μ_t − μ̂|")
right.semilogy(steps[shown], errors[0] * (n_censored / n) ** steps[shown], "--", color="0.3",
               label=f"(fraction censored)$^t$ = {n_censored / n:.3f}$^t$")
right.set_xlabel("iteration")
right.set_ylabel("distance to the estimate (log scale)")
right.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
right.set_title("Linear convergence at the rate of missing information", fontsize="medium")
right.legend(fontsize="small")

# %%
# Standard errors
# ---------------
# The observed information of this model is ``failures / μ̂²``, so the exact standard error is
# ``μ̂ / √failures``. With the three hooks above, all four methods of
# :func:`emkit.standard_errors` apply (the Hessian needs none of them). Louis's method is the
# identity "observed = complete − missing information": ``n/μ̂² − n_censored/μ̂²``.

print(f"exact: {closed_form / np.sqrt(observed.sum()):.5f}")
for method in ("louis", "sem", "hessian", "bootstrap"):
    se = emkit.standard_errors(result, data, method=method, n_boot=300, random_state=0)
    rate = "" if se.rate is None else f"   EM rate {se.rate:.4f}"
    print(f"{method:<10} {se.se['mu']:.5f}{rate}")
print(f"fraction censored: {n_censored / n:.4f}")
