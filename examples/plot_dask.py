"""
EM on data in chunks: a Gaussian mixture on Dask
================================================

Every emkit E-step returns sufficient statistics that *add up* over observations. So an EM
iteration on data held in chunks is a map and a sum: each chunk computes its statistics at the
current parameters, the statistics are summed (a tree reduction), and the M-step runs on the
sum. Only the parameters and the summed statistics travel; the data stay where they are.

Give :class:`emkit.GaussianMixture` (or :func:`emkit.fit`, for any model) a Dask array or data
frame instead of a NumPy array and this is what happens, on whatever Dask scheduler is active:
the local threaded scheduler, as here, or a ``distributed`` cluster (``Client(...)``) with the
same code. The chunks are prepared once and kept (persisted) for all the iterations; the
starting values come from a random sample of rows.

The data: 100,000 points from a three-component mixture, in 8 chunks, each chunk *generated
where it lives* by a delayed function, as chunks read from Parquet or Zarr files would be.
"""

import time

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

import emkit
from emkit.plotting.mixture import add_ellipses

WEIGHTS = np.array([0.5, 0.3, 0.2])
MEANS = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 4.0]])
COVARIANCES = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.6, -0.2], [-0.2, 0.4]], [[1.5, 0.0], [0.0, 0.3]]])
CHUNK_ROWS, N_CHUNKS = 12_500, 8


def simulate_chunk(seed):
    """One chunk of the mixture (in a real pipeline: read one file)."""
    rng = np.random.default_rng(seed)
    component = rng.choice(3, CHUNK_ROWS, p=WEIGHTS)
    factors = np.linalg.cholesky(COVARIANCES)[component]
    return MEANS[component] + np.einsum("nij,nj->ni", factors, rng.standard_normal((CHUNK_ROWS, 2)))


X = da.concatenate([da.from_delayed(dask.delayed(simulate_chunk)(seed), shape=(CHUNK_ROWS, 2), dtype=float)
                    for seed in range(N_CHUNKS)])
print(X)

# %%
# The fit
# -------
# The local threaded scheduler runs the chunks' E-steps in parallel threads. With it, limit
# BLAS to one thread (``threadpoolctl``) so that BLAS threads do not compete with Dask's.
# ``predict`` on a Dask array returns a Dask array: nothing is computed until asked.

with dask.config.set(scheduler="threads"), threadpool_limits(1):
    start = time.perf_counter()
    gmm = emkit.GaussianMixture(3, tol=1e-6, random_state=0).fit(X)
    dask_seconds = time.perf_counter() - start
    labels = gmm.predict(X)
    counts = np.bincount(labels.compute(), minlength=3)

print(f"Dask fit: {gmm.n_iter_} iterations over {X.numblocks[0]} chunks, {dask_seconds:.2f} s")
print("predict returned", type(labels).__name__, "; points per component:", counts.tolist())
order = [int(np.argmin(np.linalg.norm(gmm.means_ - m, axis=1))) for m in MEANS]  # match to the truth
print(f"{'':>10}{'true weight':>12}{'fitted':>8}{'true mean':>16}{'fitted mean':>20}")
for j, k in enumerate(order):
    print(f"component {j}{WEIGHTS[j]:>11.3f}{gmm.weights_[k]:>8.4f}{str(MEANS[j]):>16}"
          f"{np.array2string(gmm.means_[k], precision=4):>20}")

# %%
# The same fit in memory
# ----------------------
# For comparison, the same rows as one NumPy array. Both fits take the same steps: the sums of
# the chunks' statistics are the statistics of the whole, so the estimates agree to round-off.

X_memory = X.compute()
start = time.perf_counter()
in_memory = emkit.GaussianMixture(3, tol=1e-6, random_state=0).fit(X_memory)
memory_seconds = time.perf_counter() - start
memory_order = [int(np.argmin(np.linalg.norm(in_memory.means_ - m, axis=1))) for m in MEANS]
print(f"in memory: {in_memory.n_iter_} iterations, {memory_seconds:.2f} s")
print("largest difference of the means:", f"{np.abs(gmm.means_[order] - in_memory.means_[memory_order]).max():.2e}")
print("log-likelihood per point: Dask", f"{gmm.score(X_memory):.8f}", " in memory", f"{in_memory.score(X_memory):.8f}")

# %%
# A density plot of the 100,000 points (a 2-D histogram) with the fitted components of both
# fits: their ellipses coincide. On data this small the in-memory fit is faster (Dask adds
# scheduling to each pass); Dask pays off when the data do not fit in one machine's memory, or
# when the chunks live on a cluster's workers.

fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
counts_image = ax.hexbin(X_memory[:, 0], X_memory[:, 1], gridsize=70, cmap="Greys", mincnt=1, bins="log")
fig.colorbar(counts_image, ax=ax, label="points per hexagon (log scale)")
for j, (k, m) in enumerate(zip(order, memory_order)):
    add_ellipses(ax, gmm.means_[k], gmm.covariances_[k], "tab:red", levels=(1, 2))
    add_ellipses(ax, in_memory.means_[m], in_memory.covariances_[m], "tab:cyan", levels=(1, 2))
    for ellipse in ax.patches[-2:]:  # dashed, so that the red ones show through
        ellipse.set_linestyle((0, (4, 4)))
ax.plot([], [], color="tab:red", linewidth=1.5, label="fitted on Dask (8 chunks)")
ax.plot([], [], color="tab:cyan", linewidth=1.5, linestyle=(0, (4, 4)), label="fitted in memory")
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.set_title("100,000 points; components (1 and 2 sd) fitted on Dask and in memory")
ax.legend(loc="upper right")
