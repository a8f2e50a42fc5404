"""Results do not depend on the number of threads: the same fits in processes whose BLAS and
emkit use one, two or three threads agree to the last bit (rows are cut into blocks and sequences
into batches by the data alone, and sums are added in block order)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import sys, warnings
import numpy as np
import emkit

warnings.simplefilter("ignore")
n_jobs = int(sys.argv[1])
rng = np.random.default_rng(0)
X = np.vstack([rng.normal(size=(6000, 3)), rng.normal(size=(6000, 3)) * 2 + 3])
holes = X.copy()
holes[:, 1:][rng.random((X.shape[0], 2)) < 0.1] = np.nan
out = []
for covariance_type in ("full", "diag"):
    for data in (X, X.astype(np.float32), holes):
        m = emkit.GaussianMixture(2, covariance_type=covariance_type, random_state=0, tol=1e-8, max_iter=30,
                                  n_jobs=n_jobs).fit(data)
        out += [m.n_iter_, m.lower_bound_, m.means_.tolist(), m.score_samples(data[:50]).tolist()]
t = emkit.StudentMixture(2, random_state=0).fit(X)
out += [t.score(X)]
lengths = rng.multinomial(X.shape[0] - 7 * 37, np.ones(37) / 37) + 7
for L in (lengths, None):
    h = emkit.GaussianHMM(3, covariance_type="full", random_state=0, n_iter=15, n_jobs=n_jobs).fit(X, lengths=L)
    out += [h.means_.tolist(), h.score(X, lengths=L), h.predict_proba(X[:4000]).sum(axis=0).tolist()]
symbols = rng.integers(0, 5, size=(X.shape[0], 1))
c = emkit.CategoricalHMM(3, random_state=0, n_iter=15, n_jobs=n_jobs).fit(symbols, lengths=lengths)
out += [c.emissionprob_.tolist(), c.score(symbols, lengths=lengths)]
print(repr(out))
"""


def _run(threads: int) -> str:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(threads)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_fits_are_bit_identical_for_one_two_and_three_threads():
    one = _run(1)
    assert _run(2) == one
    assert _run(3) == one
