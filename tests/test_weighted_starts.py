"""Starting values from weighted rows (``Family.initial_params(..., sample_weight)``): for every
family an integer weight ``w_i`` gives the start of the data with row ``i`` repeated ``w_i`` times
(``np.repeat``; 0 leaves the row out), deterministic and random starts alike, and
``emkit.Mixture``'s default start then makes a weighted fit and the fit of the repeated rows
take the same iterates."""

from __future__ import annotations

import numpy as np
import pytest

import emkit
from emkit import families
from emkit.families import gaussian

N_ROWS = 40


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    counts = rng.poisson([2.0, 6.0], size=(N_ROWS, 2)).astype(float)
    positive = rng.gamma([2.0, 5.0], 1.0, size=(N_ROWS, 2))
    binary = (rng.random((N_ROWS, 3)) < [0.2, 0.5, 0.7]).astype(float)
    codes = rng.integers(0, [3, 4], size=(N_ROWS, 2)).astype(float)
    normal = rng.normal(size=(N_ROWS, 2)) * [1.0, 30.0] + [0.0, 100.0]
    for array, (row, column) in ((counts, (3, 1)), (positive, (4, 0)), (binary, (5, 2)), (codes, (6, 0)),
                                 (normal, (7, 1))):
        array[row, column] = np.nan          # a missing cell in each
    return {"counts": counts, "positive": positive, "binary": binary, "codes": codes, "normal": normal,
            "trials": rng.multinomial(5, [0.2, 0.3, 0.5], size=N_ROWS).astype(float),
            "mixed": np.column_stack([normal, counts[:, :1], binary[:, :1]])}


DATA = _data()

#: (name, family factory, data key)
FAMILIES = [
    ("poisson", lambda: families.Poisson(2), "counts"),
    ("exponential", lambda: families.Exponential(2), "positive"),
    ("gamma", lambda: families.Gamma(2), "positive"),
    ("bernoulli", lambda: families.Bernoulli(3), "binary"),
    ("categorical", lambda: families.Categorical(n_categories=[3, 4]), "codes"),
    ("multinomial", lambda: families.Multinomial(3, n_trials=5), "trials"),
    *[(f"gaussian-{kind}", lambda kind=kind: families.Gaussian(2, kind), "normal")
      for kind in ("full", "tied", "diag", "spherical")],
    ("finite-mixture", lambda: families.FiniteMixture(families.Gaussian(2, "full"), 2), "normal"),
    ("product", lambda: families.Product([([0, 1], families.Gaussian(2, "diag")), (2, families.Poisson(1)),
                                          (3, families.Bernoulli(1))]), "mixed"),
]


def _weights(seed: int = 1) -> np.ndarray:
    weights = np.random.default_rng(seed).integers(0, 4, size=N_ROWS)
    weights[[0, 9]] = 0
    return weights


def _assert_same_start(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for name in left:
        np.testing.assert_allclose(left[name], right[name], rtol=1e-12, atol=1e-12, err_msg=name)


def _starts(make_family, key: str, weights: np.ndarray, seed: int | None) -> tuple[dict, dict]:
    """The start from the weighted rows and from the rows repeated as often (same seed)."""
    family = make_family()
    X = family.prepare(DATA[key])
    draw = (lambda: None) if seed is None else (lambda: np.random.default_rng(seed))
    weighted = family.initial_params(X, 3, draw(), sample_weight=weights.astype(float))
    repeated = family.initial_params(np.repeat(X, weights, axis=0), 3, draw())
    return weighted, repeated


#: The families whose random start depends on the rows (Bernoulli, categorical and multinomial
#: random starts are draws that ignore them).
DATA_DRAWN = [case for case in FAMILIES if case[0] not in ("bernoulli", "categorical", "multinomial")]


@pytest.mark.parametrize("name, make_family, key", FAMILIES, ids=[name for name, *_ in FAMILIES])
def test_integer_weights_start_like_repeated_rows(name, make_family, key):
    weighted, repeated = _starts(make_family, key, _weights(), None)
    _assert_same_start(weighted, repeated)


@pytest.mark.parametrize("name, make_family, key", DATA_DRAWN, ids=[name for name, *_ in DATA_DRAWN])
def test_integer_weights_random_start_like_repeated_rows(name, make_family, key):
    """The same generator state gives the same draws (weighted k-means draws by inverse CDF over
    the rows in lexicographic order, so not even the order of the copies matters)."""
    weighted, repeated = _starts(make_family, key, _weights(), 5)
    _assert_same_start(weighted, repeated)


@pytest.mark.parametrize("name, make_family, key", FAMILIES, ids=[name for name, *_ in FAMILIES])
def test_zero_weights_drop_rows(name, make_family, key):
    keep = np.random.default_rng(2).random(N_ROWS) < 0.6
    family = make_family()
    X = family.prepare(DATA[key])
    dropped = family.initial_params(X, 3, None, sample_weight=keep.astype(float))
    _assert_same_start(dropped, family.initial_params(X[keep], 3, None))


@pytest.mark.parametrize("seed", [None, 5], ids=["deterministic", "random"])
def test_gaussian_subsample_of_weighted_rows_is_that_of_the_repeated_rows(monkeypatch, seed):
    """Beyond ``KMEANS_ROWS`` copies k-means looks at every s-th copy (here s = 4)."""
    monkeypatch.setattr(gaussian, "KMEANS_ROWS", 16)
    weights = _weights(3)
    assert weights.sum() > 3 * 16
    weighted, repeated = _starts(lambda: families.Gaussian(2, "full"), "normal", weights, seed)
    _assert_same_start(weighted, repeated)


def test_a_family_without_weighted_starts_starts_from_the_unweighted_rows():
    class OldPoisson(families.Poisson):
        def initial_params(self, X, n_components, rng):      # the signature before weighted starts
            return super().initial_params(X, n_components, rng)

    weights = _weights()
    product = families.Product([(0, OldPoisson(1)), (1, families.Poisson(1))])
    X = product.prepare(DATA["counts"])
    start = product.initial_params(X, 2, None, sample_weight=weights.astype(float))
    repeated = product.initial_params(np.repeat(X, weights), 2, None)
    unweighted = product.initial_params(X, 2, None)
    np.testing.assert_allclose(start["1:lambdas"], repeated["1:lambdas"], rtol=1e-12)
    np.testing.assert_array_equal(start["0:lambdas"], unweighted["0:lambdas"])
    assert not np.allclose(start["1:lambdas"], unweighted["1:lambdas"])


def test_a_column_without_weight_is_refused():
    X = np.array([[1.0, np.nan], [2.0, 3.0], [0.0, 4.0]])
    with pytest.raises(ValueError, match="sample_weight: column 1 has no observed value of positive weight"):
        families.Poisson(2).initial_params(X, 2, None, sample_weight=np.array([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("make_family, key", [
    (lambda: families.Bernoulli(3), "binary"),
    (lambda: families.Gaussian(2, "full"), "normal"),
    (lambda: families.Product([([0, 1], families.Gaussian(2, "diag")), (2, families.Poisson(1)),
                               (3, families.Bernoulli(1))]), "mixed"),
], ids=["bernoulli", "gaussian", "product"])
def test_mixture_default_start_weighted_fit_takes_the_iterates_of_repeated_rows(make_family, key):
    X, weights = DATA[key], _weights()
    options = dict(tol=1e-8, max_iter=500, n_jobs=1)
    weighted = emkit.Mixture(2, family=make_family(), **options).fit(X, sample_weight=weights)
    repeated = emkit.Mixture(2, family=make_family(), **options).fit(np.repeat(X, weights, axis=0))
    assert weighted.n_iter_ == repeated.n_iter_
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-11)
    for name, value in repeated.params_.items():
        np.testing.assert_allclose(weighted.params_[name], value, rtol=1e-8, atol=1e-10, err_msg=name)


def test_gaussian_start_covariance_is_numpys_with_frequency_weights():
    """Divisor ``W − 1`` (``np.cov``'s ``fweights``), at least ``W/2``: normalised weights give
    twice the maximum likelihood covariance, never a division by ``W − 1 ≈ 0``."""
    X = DATA["normal"][~np.isnan(DATA["normal"]).any(axis=1)]
    weights = np.random.default_rng(4).integers(0, 4, size=X.shape[0])
    np.testing.assert_allclose(gaussian.start_covariance(X, weights.astype(float)),
                               np.cov(X, rowvar=False, fweights=weights), rtol=1e-12)
    normalised = weights / weights.sum()
    np.testing.assert_allclose(gaussian.start_covariance(X, normalised),
                               2.0 * np.cov(X, rowvar=False, aweights=normalised, ddof=0), rtol=1e-12)
