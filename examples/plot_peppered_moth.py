"""
The peppered moth: allele frequencies by gene counting
======================================================

The colour of the peppered moth (*Biston betularia*) is set by one gene with three alleles,
``C`` (*carbonaria*, dark), ``I`` (*insularia*, intermediate) and ``T`` (*typica*, pale), with
dominance ``C > I > T``. Of 622 moths, 85 were *carbonaria*, 196 *insularia* and 341 *typica*.
Under Hardy–Weinberg equilibrium a genotype ``{a, b}`` has probability ``p_a²`` or ``2 p_a p_b``,
but only the phenotype is seen: a dark moth may be ``CC``, ``CI`` or ``CT``. The genotype
counts are the missing data, and EM is the geneticists' *gene counting*:

* **E-step**: split each phenotype count over its genotypes in proportion to their
  probabilities under the current frequencies, and count the alleles;
* **M-step**: each allele frequency is its expected number of copies over ``2N``.

This example fits the model with :func:`emkit.fit`, watches EM converge in a handful of steps,
computes standard errors by the four methods of :func:`emkit.standard_errors`, and draws the EM
path on the triangle (simplex) of allele frequencies.
"""

import matplotlib.pyplot as plt
import numpy as np

import emkit
from emkit.datasets import peppered_moth_counts
from emkit.models.gene_counting import peppered_moth
from emkit.plotting.simplex import plot_simplex

# sphinx_gallery_thumbnail_number = 2

# %%
# Fitting
# -------
# :func:`~emkit.models.gene_counting.peppered_moth` is a
# :class:`~emkit.GeneCounting` model with the alleles ``C > I > T``. The default start gives
# every allele the same frequency, 1/3.

counts = peppered_moth_counts()
model = peppered_moth()
result = emkit.fit(model, counts)

print("counts:", counts)
print(f"converged: {result.converged} after {result.n_iter} iterations")
print(f"log-likelihood: {result.loglik:.8f}")
for allele, frequency in result.named_params().items():
    print(f"  p_{allele} = {frequency:.6f}")

# %%
# The iterations
# --------------
# ``result.trace`` keeps the log-likelihood and the parameters of every iterate. The first
# iteration already moves most of the way; by the fourth, the frequencies agree with the
# estimate to three decimals. The rest of the run polishes digits until the relative change of
# the log-likelihood falls below ``tol = 1e-10``.

labels, path = result.trace.named_table(model)
print("iteration  log-likelihood  " + "  ".join(f"{'p_' + a:>10}" for a in labels))
for t, (loglik, row) in enumerate(zip(result.trace.loglik, path)):
    print(f"{t:>9}  {loglik:>14.6f}  " + "  ".join(f"{p:.8f}" for p in row))

# %%
# EM converges linearly: the error shrinks by a constant factor each step, the *rate*, which
# equals the largest fraction of missing information. Louis's method (below) estimates it, so
# we can draw the predicted line ``error_0 · rate^t`` beside the observed errors.

louis = emkit.standard_errors(result, counts, method="louis")
error = np.abs(path - path[-1]).max(axis=1)[:-1]  # the last iterate is the estimate itself
iterations = np.arange(len(error))

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for column, allele in enumerate(labels):
    left.plot(np.arange(len(path)), path[:, column], marker="o", markersize=4, label=f"$p_{allele}$")
left.set_xlabel("iteration")
left.set_ylabel("allele frequency")
left.set_title("Allele frequencies by iteration")
left.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
left.legend(title="allele")

right.semilogy(iterations, error, marker="o", label="observed: max |p(t) − p̂|")
right.semilogy(iterations, error[1] * louis.rate ** (iterations - 1), linestyle="--", color="0.3",
               label=f"predicted slope: rate$^t$, rate = {louis.rate:.3f}")
right.set_xlabel("iteration")
right.set_ylabel("distance to the estimate (log scale)")
right.set_title("Linear convergence at EM's rate")
right.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
right.legend()

steps_to_3_decimals = int(np.argmax(error < 5e-4))
print(f"EM rate (fraction of missing information): {louis.rate:.4f}")
print(f"iterations until every frequency is within 5e-4 of the estimate: {steps_to_3_decimals}")

# %%
# Standard errors by four methods
# -------------------------------
# The four methods answer the same question (the covariance of the estimate) from different
# ingredients: Louis's observed information (complete-data information minus the missing
# information), supplemented EM (the Jacobian of the EM map), the nonparametric bootstrap
# (refits of resampled moths) and the numerical Hessian of the observed-data log-likelihood.
# On 622 moths they agree to two significant digits; the bootstrap differs by its Monte Carlo
# error. ``p_T = 1 − p_C − p_I`` gets its standard error by the delta method.

errors = {
    "louis": louis,
    "sem": emkit.standard_errors(result, counts, method="sem"),
    "bootstrap": emkit.standard_errors(result, counts, method="bootstrap", n_boot=400, random_state=0),
    "hessian": emkit.standard_errors(result, counts, method="hessian"),
}
print("method     " + "  ".join(f"{'se(p_' + a + ')':>9}" for a in labels))
for method, se in errors.items():
    print(f"{method:<9}  " + "  ".join(f"{se.se[a]:>9.6f}" for a in labels))
print("95% bootstrap percentile intervals:")
for allele, (low, high) in errors["bootstrap"].confidence_intervals().items():
    print(f"  p_{allele}: [{low:.4f}, {high:.4f}]")

# %%
# The path on the simplex
# -----------------------
# Three frequencies that sum to one are a point of a triangle: each corner is a pure allele and
# the distance to the opposite side is that allele's frequency.
# :func:`emkit.plotting.simplex.plot_simplex` draws the EM iterates from the centre (equal
# frequencies) to the estimate, with the 95% confidence region from Louis's covariance in a
# zoomed inset: the first step covers almost the whole distance.

fig, ax = plt.subplots(figsize=(10, 6.5))
fig.subplots_adjust(left=0.04, right=0.64, bottom=0.08, top=0.84)
plot_simplex(result, ax, louis)
fig.suptitle("Peppered moth: EM path from equal frequencies to the estimate")
summary = "\n".join(f"$p_{a}$ = {p:.4f} ± {louis.se[a]:.4f}" for a, p in result.named_params().items())
fig.text(0.66, 0.22, f"estimate ± standard error\n(Louis's method)\n\n{summary}", fontsize="medium", va="bottom")
