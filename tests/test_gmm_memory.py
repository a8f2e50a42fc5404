"""Peak memory of a GaussianMixture fit stays bounded relative to its data (issue 15: "bounded
memory kept")."""

import tracemalloc
import warnings

import numpy as np
import pytest

import emkit

#: Peak memory a fit allocates (tracemalloc, the data themselves not counted) is at most
#: ``DATA_FACTOR`` times the data's bytes plus ``THREAD_BYTES`` per thread (the E-step's buffers
#: for one pass of a row block: kernels.gaussian_mixture_estep.PASS_BYTES of features and the
#: statistics): it does not grow with the rows beyond the data's own copies. Measured on
#: 20,000 × 16 float64 (2.4 MiB) with two threads, complete rows: 12.5 MiB (full, from single
#: rows), 10.7 MiB (k-means start: its working copy of the data, centred and scaled, with the
#: distances and the one-hot responsibilities). With 10% missing cells the start's copy of the
#: data with the missing cells filled comes on top, and full and tied covariances keep one copy of
#: incomplete data grouped by missingness pattern: it makes their missing-value corrections matrix
#: products over long runs of one pattern, which fits 3x (k-means start) to 15x (from single
#: rows) faster than per-block grouping. A whole-data temporary of the E-step (e.g. the direct
#: formula's (rows, k, d), 41 MiB here) breaks the bound.
THREAD_BYTES = 4 << 20
DATA_FACTOR = {False: 2.5, True: {"full": 3.5, "diag": 3.0}}
N_JOBS = 2

def _data(missing: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 16)) + np.repeat(rng.normal(scale=3.0, size=(4, 16)), 5_000, axis=0)
    if missing:
        X[rng.random(X.shape) < 0.1] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 0.0
    return X


def _peak(X: np.ndarray, covariance_type: str, init_params: str) -> int:
    def fitted():
        return emkit.GaussianMixture(4, covariance_type=covariance_type, init_params=init_params, max_iter=10,
                                     random_state=0, n_jobs=N_JOBS).fit(X)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        fitted()   # compiled and warm: the peak is the fit's, not the first call's
        tracemalloc.start()
        try:
            fitted()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("missing, init_params", [(False, "kmeans"), (False, "random_from_data"),
                                                  (True, "kmeans")])
def test_fit_peak_memory_is_bounded_by_the_data_size(covariance_type, missing, init_params):
    X = _data(missing)
    factor = DATA_FACTOR[True][covariance_type] if missing else DATA_FACTOR[False]
    bound = factor * X.nbytes + THREAD_BYTES * N_JOBS
    peak = _peak(X, covariance_type, init_params)
    assert peak <= bound, (f"a fit allocated {peak / 2**20:.1f} MiB at its peak, {peak / X.nbytes:.2f}x its data's "
                           f"{X.nbytes / 2**20:.1f} MiB (bound {bound / 2**20:.1f} MiB)")


def test_incomplete_rows_of_full_covariances_are_grouped_by_missingness_pattern():
    """The copy the bound above allows: fitted rows of a full-covariance model run in long runs of
    one missingness pattern across the whole data (each block's corrections are then a few matrix
    products), and row-wise results come back in the given order."""
    from emkit.models.gaussian_mixture import GaussianMixtureModel

    X = _data(True)
    data = GaussianMixtureModel(4, "full").prepare(X)
    patterns = np.isnan(data.X)
    changes = np.count_nonzero(np.any(patterns[1:] != patterns[:-1], axis=1))
    assert changes + 1 == len(np.unique(np.isnan(X), axis=0))   # each pattern one run
    np.testing.assert_array_equal(data.in_given_order(data.X), X)
