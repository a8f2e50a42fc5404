"""Small Gaussian mixtures (issue 20): the compiled E-step of small blocks
(:mod:`emkit.kernels.gaussian_small`) against a direct computation written here with scipy,
whole fits against scikit-learn from the same start, and repeated fits in processes
(``gmm_select(n_jobs=...)``, the bootstrap's ``workers``) giving the results of one process."""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import emkit
from emkit import GaussianMixture, datasets
from emkit.engine import PerSampleChange
from emkit.kernels import gaussian_mixture_estep
from emkit.kernels.covariance_structures import covariance_structure
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.kernels.gaussian_small import small_pass_applies
from emkit.models.gaussian_mixture import GaussianMixtureModel
from emkit.selection import grid


def seed_data() -> np.ndarray:
    return datasets.synthetic_gmm(400, random_state=0)[0]


def random_params(rng, covariance_type: str, k: int, d: int) -> dict[str, np.ndarray]:
    A = rng.normal(size=(k, d, d))
    full = A @ A.transpose(0, 2, 1) / d + 0.5 * np.eye(d)
    covariances = {"full": full, "tied": full[0], "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
                   "spherical": np.diagonal(full, axis1=1, axis2=2).mean(axis=1)}[covariance_type]
    return {"weights": rng.dirichlet(np.full(k, 3.0)), "means": rng.normal(scale=2.0, size=(k, d)),
            "covariances": covariances}


def direct_e_step(X, weights, params, covariance_type):
    """``Σ_i w_i log p(x_i)`` and the weighted statistics about each component's mean, by scipy's
    multivariate normal density and explicit sums over the rows."""
    k, d = params["means"].shape
    full = covariance_structure(covariance_type).full_matrices(params["covariances"], k, d)
    log_joint = np.column_stack([np.log(params["weights"][j]) + multivariate_normal(params["means"][j], full[j]).logpdf(X)
                                 for j in range(k)]).reshape(len(X), k)
    log_p = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - log_p[:, None]) * weights[:, None]
    about = X[:, None, :] - params["means"][None]                     # (n, k, d)
    second = np.einsum("nk,nki,nkj->kij", resp, about, about)
    return float(weights @ log_p), resp.sum(axis=0), np.einsum("nk,nki->ki", resp, about), second


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_compiled_e_step_equals_a_direct_computation(monkeypatch, covariance_type):
    """Log-likelihood, counts and first and second moments (about the centre, shaped by the
    structure) of weighted rows, zero weights included, to 1e-12; the product form is not run."""
    rng = np.random.default_rng(3)
    X = rng.normal(scale=2.0, size=(300, 3)) + 1.0
    weights = rng.uniform(0.0, 2.0, size=300)
    weights[::17] = 0.0
    params = random_params(rng, covariance_type, 3, 3)
    model = GaussianMixtureModel(3, covariance_type)
    data = model.prepare((X, weights))
    monkeypatch.setattr(gaussian_mixture_estep.BlockPass, "__call__", None)   # the product form is not used
    stats, loglik = model.e_step(data, params)
    expected, n, first, second = direct_e_step(X, weights, params, covariance_type)
    assert loglik == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(stats["n"], n, rtol=1e-12)
    centre = data.context
    u = params["means"] - centre
    np.testing.assert_allclose(stats["sum_x"], first + n[:, None] * u, rtol=1e-11, atol=1e-10)
    about_centre = (second + np.einsum("ki,kj->kij", first, u) + np.einsum("ki,kj->kij", u, first)
                    + n[:, None, None] * np.einsum("ki,kj->kij", u, u))
    structure = covariance_structure(covariance_type)
    np.testing.assert_allclose(stats["sum_xx"], structure.second_of_matrices(about_centre), rtol=1e-11, atol=1e-9)
    assert not np.any(stats["anchored_n"])   # no component far from the centre: as the product form


def test_a_narrow_component_far_from_the_centre_gets_its_statistics_about_its_mean():
    """Data at 1e6 with spreads of 1e-3: the statistics about each mean (``anchored_*``) are
    given, as the product form gives them, and the M-step's covariances equal the direct ones
    to 1e-9 relative (about the centre, the sums would have lost them)."""
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(100, 2)) * 1e-3 + [1e6, 0.0], rng.normal(size=(100, 2)) + [0.0, 0.0]])
    params = {"weights": np.array([0.5, 0.5]), "means": np.array([[1e6, 0.0], [0.0, 0.0]]),
              "covariances": np.stack([np.eye(2) * 1e-6, np.eye(2)])}
    model = GaussianMixtureModel(2, "full", reg_covar=0.0)
    data = model.prepare(X)
    stats, _ = model.e_step(data, params)
    terms = gaussian_mixture_estep.mixture_terms(params["weights"], params["means"], params["covariances"], "full",
                                                 data.context)
    assert gaussian_mixture_estep.far_components(terms).any() and np.all(stats["anchored_n"] == stats["n"])
    new = model.m_step(stats, params)
    for j, rows in enumerate((slice(0, 100), slice(100, 200))):
        direct = np.cov(X[rows], rowvar=False, bias=True)
        np.testing.assert_allclose(new["covariances"][j], direct, rtol=1e-9)


def test_a_covariance_that_is_not_positive_definite_is_named_as_before():
    model = GaussianMixtureModel(2, "full")
    X = np.random.default_rng(0).normal(size=(50, 2))
    params = {"weights": np.array([0.5, 0.5]), "means": np.zeros((2, 2)),
              "covariances": np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])}
    with pytest.raises(ValueError, match="component 1 is not positive definite.*reg_covar"):
        model.e_step(model.prepare(X), params)


def test_blocks_beyond_the_compiled_budget_take_the_product_form(monkeypatch):
    """The dispatch (d = 8, k = 8 full: the compiled pass up to ~500 rows per block): 400 rows
    take the compiled pass, 1,000 rows (one block) the product form, and both equal the direct
    computation."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 8))
    params = random_params(rng, "full", 8, 8)
    model = GaussianMixtureModel(8, "full", center=np.zeros(8))
    structure = covariance_structure("full")
    assert small_pass_applies(X[:400], True, 8, structure) and not small_pass_applies(X, True, 8, structure)
    calls = []
    original = gaussian_mixture_estep.BlockPass.__call__
    monkeypatch.setattr(gaussian_mixture_estep.BlockPass, "__call__",
                        lambda self, *args: calls.append(len(args[0])) or original(self, *args))
    for rows in (400, 1000):
        data = model.prepare(X[:rows])
        assert len(data.blocks) == 1
        stats, loglik = model.e_step(data, params)
        expected, n, _, _ = direct_e_step(X[:rows], np.ones(rows), params, "full")
        assert loglik == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(stats["n"], n, rtol=1e-10)
    assert calls == [1000]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_whole_fits_equal_scikit_learn_from_the_same_start(covariance_type):
    """The seed's example, same start, scikit-learn's rule at tol=1e-8: the same number of
    iterations and the final log-likelihood to 1e-12 relative."""
    X = seed_data()
    precisions = {"full": np.stack([np.eye(2)] * 4), "tied": np.eye(2), "diag": np.ones((4, 2)),
                  "spherical": np.ones(4)}[covariance_type]
    start = {"weights_init": np.full(4, 0.25), "means_init": X[[0, 100, 200, 300]], "precisions_init": precisions}
    ours = GaussianMixture(4, covariance_type=covariance_type, tol=1e-8, max_iter=5000, **start).fit(X)
    theirs = SklearnGaussianMixture(4, covariance_type=covariance_type, tol=1e-8, max_iter=5000, **start).fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-9, atol=1e-9)


class CountingPool(ProcessPoolExecutor):
    """A process pool that counts its workers (to show that ``n_jobs`` was used)."""

    sizes: list[int] = []

    def __init__(self, max_workers=None, **kwargs):
        CountingPool.sizes.append(max_workers)
        super().__init__(max_workers=max_workers, **kwargs)


def test_gmm_select_in_two_processes_gives_the_table_of_one(monkeypatch):
    """``n_jobs=2`` fits the candidates in two processes, with the same table (bit for bit), the
    same choice and the candidates' warnings shown here."""
    X = seed_data()
    monkeypatch.setattr(grid, "ProcessPoolExecutor", CountingPool)
    CountingPool.sizes.clear()
    with pytest.warns(emkit.exceptions.ConvergenceWarning):
        one = emkit.gmm_select(X, [1, 2, 3], ["full", "spherical"], max_iter=3, n_jobs=1)
    with pytest.warns(emkit.exceptions.ConvergenceWarning):
        two = emkit.gmm_select(X, [1, 2, 3], ["full", "spherical"], max_iter=3, n_jobs=2)
    assert CountingPool.sizes == [2]
    assert one.table == two.table
    assert one.best_row == two.best_row
    for key, model in one.models.items():
        np.testing.assert_array_equal(model.means_, two.models[key].means_)
    with pytest.raises(ValueError, match="n_jobs"):
        emkit.gmm_select(X, [1], ["full"], n_jobs=0)


def test_bootstrap_replicates_in_two_processes_equal_those_of_one():
    """The seed's 4-component fit, 40 nonparametric replicates to scikit-learn's rule: the same
    covariance from one process and from two."""
    X = seed_data()
    fitted = GaussianMixture(4, tol=1e-10, max_iter=5000, random_state=0).fit(X)
    options = {"stopping": PerSampleChange(1e-6, float(len(X))), "max_iter": 5000}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        one = emkit.standard_errors(fitted.result_, X, "bootstrap", n_boot=40, random_state=1, fit_options=options)
        two = emkit.standard_errors(fitted.result_, X, "bootstrap", n_boot=40, random_state=1, fit_options=options,
                                    workers=2)
    np.testing.assert_array_equal(one.cov, two.cov)


def test_the_compiled_k_means_passes_equal_numpy_lloyd():
    """The k-means start of small data (compiled nearest centres and cluster sums) against Lloyd's
    algorithm written here with NumPy from the same k-means++ seeds, with sample weights: the
    same labels and centres to 1e-12."""
    from emkit.kernels import kmeans as km

    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(size=(150, 3)) + shift for shift in ([0, 0, 0], [3, 0, 1], [0, 4, -1])])
    weights = rng.integers(1, 4, size=len(X)).astype(float)
    centers, labels = km.kmeans(X, 3, np.random.default_rng(7), weights)
    origin = np.average(X, axis=0, weights=weights)
    Xc = X - origin
    threshold = 1e-4 * np.mean(np.average(Xc ** 2, axis=0, weights=weights))   # kmeans' default tol
    reference = km.kmeans_plusplus(Xc, 3, np.random.default_rng(7), weights)[0]
    assigned = np.full(len(X), -1)
    for _ in range(300):   # Lloyd with kmeans' stopping rules: labels unchanged, or a small shift
        nearest = np.argmin(((Xc[:, None, :] - reference[None]) ** 2).sum(axis=2), axis=1)
        if np.array_equal(nearest, assigned):
            break
        assigned = nearest
        updated = np.array([np.average(Xc[assigned == j], axis=0, weights=weights[assigned == j]) for j in range(3)])
        shift = np.sum((updated - reference) ** 2)
        reference = updated
        if shift <= threshold:
            assigned = np.argmin(((Xc[:, None, :] - reference[None]) ** 2).sum(axis=2), axis=1)
            break
    np.testing.assert_array_equal(labels, assigned)
    np.testing.assert_allclose(centers, reference + origin, rtol=1e-12, atol=1e-12)
    assert km._nearest(Xc, reference)[0].tolist() == assigned.tolist()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_grid_criteria_by_the_compiled_pass_equal_scipy_and_scikit_learn(monkeypatch, covariance_type):
    """The criteria of a small candidate come from one compiled pass (the product form is not
    run): ``ℓ``, BIC and ICL equal those of scipy's densities to 1e-12, BIC scikit-learn's, and
    the labels scikit-learn's ``predict``."""
    from emkit.kernels.gaussian_small import small_log_joint

    X = seed_data()
    estimator = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    params = {"weights": estimator.weights_, "means": estimator.means_, "covariances": estimator.covariances_}
    structure = covariance_structure(covariance_type)
    full = structure.full_matrices(params["covariances"], 3, 2)
    log_joint = np.column_stack([np.log(params["weights"][j]) + multivariate_normal(params["means"][j], full[j]).logpdf(X)
                                 for j in range(3)])
    np.testing.assert_allclose(small_log_joint(X, params["weights"], params["means"], params["covariances"],
                                               structure), log_joint, rtol=1e-12)
    monkeypatch.setattr(gaussian_mixture_estep.BlockPass, "__call__", None)   # the product form is not used
    criteria, labels = grid.criteria_and_labels(estimator, X)
    log_p = logsumexp(log_joint, axis=1)
    loglik = float(log_p.sum())
    bic = -2.0 * loglik + criteria["n_parameters"] * np.log(len(X))
    assert criteria["loglik"] == pytest.approx(loglik, rel=1e-12)
    assert criteria["bic"] == pytest.approx(bic, rel=1e-12)
    assert criteria["icl"] == pytest.approx(bic - 2.0 * float((log_joint.max(axis=1) - log_p).sum()), rel=1e-12)
    theirs = SklearnGaussianMixture(3, covariance_type=covariance_type)
    theirs.weights_, theirs.means_, theirs.covariances_ = (estimator.weights_, estimator.means_,
                                                           estimator.covariances_)
    theirs.precisions_cholesky_ = estimator.precisions_cholesky_
    assert criteria["bic"] == pytest.approx(theirs.bic(X), rel=1e-12)
    np.testing.assert_array_equal(labels, theirs.predict(X))


def test_a_fit_checks_its_start_once(monkeypatch):
    """The start of each initialization is checked once per fit (by the engine), not again by
    the estimator; a bad ``*_init`` is still named."""
    calls = []
    check = GaussianMixtureModel.check_params
    monkeypatch.setattr(GaussianMixtureModel, "check_params",
                        lambda self, params, where="init": calls.append(where) or check(self, params, where))
    X = seed_data()
    GaussianMixture(3, random_state=0).fit(X)
    assert len(calls) == 1
    calls.clear()
    GaussianMixture(3, n_init=3, random_state=0).fit(X)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="precisions_init|covariances"):
        GaussianMixture(2, weights_init=[0.5, 0.5], means_init=[[0, 0], [1, 1]],
                        precisions_init=[[[1, 2], [2, 1]], [[1, 0], [0, 1]]]).fit(X)


def test_the_structures_of_one_k_share_their_k_means_start(monkeypatch):
    """In ``gmm_select`` the k-means start of each ``k`` is computed once for all the covariance
    structures (n_init=2: two per k), and every candidate is bit for bit the fit made alone."""
    from emkit.models import gaussian_mixture as models

    calls = []
    kmeans = models.kmeans
    monkeypatch.setattr(models, "kmeans", lambda *args, **kwargs: calls.append(1) or kmeans(*args, **kwargs))
    X = seed_data()
    result = emkit.gmm_select(X, [2, 3], ["full", "diag", "spherical"], n_init=2, random_state=5)
    assert len(calls) == 2 * 2
    for (k, covariance_type), fitted in result.models.items():
        alone = GaussianMixture(k, covariance_type=covariance_type, n_init=2, random_state=5).fit(X)
        np.testing.assert_array_equal(fitted.means_, alone.means_)
        np.testing.assert_array_equal(fitted.covariances_, alone.covariances_)
        assert fitted.lower_bound_ == alone.lower_bound_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_one_hot_start_has_the_direct_parameters_without_the_product_form(monkeypatch, covariance_type):
    """The start from k-means labels (one-hot responsibilities) by the compiled passes of
    :func:`~emkit.kernels.gaussian_small.one_hot_statistics`: the product form is not called, and
    the parameters equal each component's weighted mean and scatter about it written out here
    (two passes) to 1e-12, with sample weights, a row in no component, an empty component and a
    narrow component far from the centre (where scikit-learn's one-pass diagonal variances lose
    digits); the statistics equal the product form's to rounding."""
    from emkit.kernels import gaussian as kernels
    from emkit.kernels.gaussian_small import one_hot_statistics
    from emkit.models import gaussian_mixture as models

    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(size=(40, 3)) * 1e-3 + 1e4, rng.normal(size=(30, 3)) + 5])
    labels = np.repeat([0, 1, 3], [60, 40, 30])
    labels[7] = -1                                   # a row in no component (an hc subset, k-means++ seeds)
    resp = np.zeros((len(X), 4))
    resp[labels >= 0, labels[labels >= 0]] = 1.0     # component 2 is empty
    structure = covariance_structure(covariance_type)
    occupied = [0, 1, 3]
    for sample_weight in (None, rng.uniform(0.5, 3.0, size=len(X))):
        centre = np.average(X, axis=0, weights=sample_weight)
        weighted = resp if sample_weight is None else resp * sample_weight[:, None]
        fast, anchors = one_hot_statistics(X, resp, sample_weight, centre, structure)
        slow, slow_anchors = kernels.responsibility_statistics(X, weighted, centre, covariance_type)
        assert sorted(fast) == sorted(slow)
        np.testing.assert_allclose(anchors, slow_anchors, rtol=0, atol=1e-14 * np.abs(X).max())   # about the centre
        for key in slow:
            scale = np.abs(slow[key]).max() if key != "anchored_x" else np.abs(slow["anchored_xx"]).max() ** 0.5 * 100
            np.testing.assert_allclose(fast[key], slow[key], rtol=0, atol=1e-12 * scale, err_msg=key)
        monkeypatch.setattr(models, "responsibility_statistics", lambda *args: pytest.fail("product form called"))
        model = GaussianMixtureModel(4, covariance_type, reg_covar=1e-6)
        with pytest.warns(emkit.exceptions.DegenerateComponentWarning, match="component"):
            params = model.params_from_responsibilities(X, resp, sample_weight)
        monkeypatch.undo()
        w = np.ones(len(X)) if sample_weight is None else sample_weight
        counts = np.array([w[labels == j].sum() for j in range(4)])
        means = np.array([np.average(X[labels == j], axis=0, weights=w[labels == j]) for j in occupied])
        scatter = np.array([(w[labels == j, None] * (X[labels == j] - mean)).T @ (X[labels == j] - mean)
                            for j, mean in zip(occupied, means)])
        covariances = {"full": scatter / counts[occupied, None, None] + 1e-6 * np.eye(3),
                       "tied": scatter.sum(axis=0) / counts.sum() + 1e-6 * np.eye(3),
                       "diag": np.diagonal(scatter, axis1=1, axis2=2) / counts[occupied, None] + 1e-6,
                       "spherical": np.trace(scatter, axis1=1, axis2=2) / (3 * counts[occupied]) + 1e-6}[covariance_type]
        np.testing.assert_allclose(params["weights"], counts / counts.sum(), rtol=1e-12)
        np.testing.assert_allclose(params["means"][occupied], means, rtol=1e-12)
        got = params["covariances"] if covariance_type == "tied" else params["covariances"][occupied]
        np.testing.assert_allclose(got, covariances, rtol=1e-12, atol=1e-14)
    assert one_hot_statistics(X, resp + 0.5 * (resp == 0), None, X.mean(axis=0), structure) is None  # not one-hot


def test_the_compiled_k_means_plus_plus_seeding_equals_the_numpy_loop():
    """The greedy k-means++ seeding of small data in one compiled call against the same seeding
    written here with NumPy (inverse-CDF draws over the rows in lexicographic order, from one
    stream of uniforms; the candidate of least weighted potential), with sample weights, zero
    weights and repeated rows: the same centres, and the generator left where it was."""
    from emkit.kernels import kmeans as km

    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(size=(70, 2)) + shift for shift in ([0, 0], [5, 1], [1, 6])])
    X[10:20] = X[3]                                     # repeated rows
    weights = rng.integers(0, 4, size=len(X)).astype(float)
    for k, sample_weight in ((1, None), (3, None), (4, weights), (6, weights)):
        w = np.ones(len(X)) if sample_weight is None else sample_weight
        trials = 2 + int(np.log(k))
        draws = np.random.default_rng(5)
        order = np.lexsort(X.T[::-1])

        def draw(values, uniforms):
            cumulative = np.cumsum(values[order])
            return order[np.minimum(np.searchsorted(cumulative, uniforms * cumulative[-1], side="right"), len(X) - 1)]

        expected = [draw(w, draws.uniform(size=1))[0]]
        closest = ((X - X[expected[0]]) ** 2).sum(axis=1)
        for _ in range(1, k):
            potential = w * closest if np.sum(w * closest) > 0 else w
            candidates = draw(potential, draws.uniform(size=trials))
            options = np.minimum(closest[:, None], ((X[:, None, :] - X[candidates][None]) ** 2).sum(axis=2))
            best = int(np.argmin([np.sum(w * options[:, t]) for t in range(trials)]))
            expected.append(candidates[best])
            closest = options[:, best]
        generator = np.random.default_rng(5)
        centers, indices = km.kmeans_plusplus(X, k, generator, sample_weight)
        assert indices.tolist() == expected
        np.testing.assert_array_equal(centers, X[expected])
        assert generator.uniform() == draws.uniform()
    order, uniforms, indices = np.lexsort(X.T[::-1]), np.random.default_rng(5).uniform(size=7), np.empty(3, dtype=int)
    km._direct_seeding(X, np.ones(len(X)), order, uniforms, 3, indices)   # the compiled seeding itself
    assert indices.tolist() == km.kmeans_plusplus(X, 3, np.random.default_rng(5))[1].tolist()


def test_the_compiled_data_summary_equals_numpys_sums():
    """The column sums and largest magnitudes of complete rows in one compiled pass: NumPy's
    ``X.sum(axis=0)`` bit for bit (float64 and float32 rows), and None for one column (which
    NumPy sums pairwise)."""
    from emkit.kernels.gaussian_small import column_sums_and_largest

    rng = np.random.default_rng(2)
    for dtype in (np.float64, np.float32):
        X = (rng.normal(size=(3001, 3)) * [1e-3, 1.0, 1e5] + [0.0, 1e4, -3.0]).astype(dtype)
        sums, largest = column_sums_and_largest(X)
        np.testing.assert_array_equal(sums, X.sum(axis=0, dtype=float))
        np.testing.assert_array_equal(largest, np.abs(X).max(axis=0).astype(float))
    assert column_sums_and_largest(X[:, :1].copy()) is None
    assert column_sums_and_largest(np.asfortranarray(X)) is None


def test_the_clear_positive_definiteness_check_never_accepts_what_lapack_refuses():
    """The start check's compiled factorisation: True only for matrices np.linalg.cholesky
    factorises (random, nearly singular at 1e-6 to 1e-17 of the scale, indefinite, NaN, ±inf,
    zero, 1 x 1); True for well-conditioned ones; False (LAPACK then decides) for float32 and
    d beyond its limit."""
    from emkit.kernels.gaussian_small import CLEAR_CHECK_FEATURES, clearly_positive_definite

    rng = np.random.default_rng(8)
    for case in range(400):
        d = int(rng.integers(1, 7))
        A = rng.normal(size=(d, d)) * 10.0 ** rng.integers(-5, 6)
        matrix = A @ A.T
        if case % 4 == 1:   # nearly singular: a tiny multiple of the identity added to a rank-deficient one
            B = rng.normal(size=(d, max(d - 1, 1)))
            matrix = B @ B.T + 10.0 ** -rng.integers(6, 18) * np.eye(d)
        elif case % 4 == 2:
            matrix = matrix - rng.uniform(0.0, 2.0) * np.trace(matrix) / d * np.eye(d)   # often indefinite
        elif case % 4 == 3:
            matrix = matrix.copy()
            matrix.flat[rng.integers(0, d * d)] = rng.choice([np.nan, np.inf, -np.inf, 0.0])
        stack = np.stack([np.eye(d), matrix])
        clear = clearly_positive_definite(stack)
        try:
            np.linalg.cholesky(stack)
            factorised = True
        except np.linalg.LinAlgError:
            factorised = False
        assert factorised or not clear
        if case % 4 == 0 and np.linalg.cond(matrix) < 1e6:
            assert clear
    assert not clearly_positive_definite(np.eye(2, dtype=np.float32)[None])
    assert not clearly_positive_definite(np.eye(CLEAR_CHECK_FEATURES + 1)[None])
    with pytest.raises(ValueError, match=r"init\['covariances'\].*not positive definite"):
        GaussianMixtureModel(2, "full").check_params({"weights": np.array([0.5, 0.5]), "means": np.zeros((2, 2)),
                                                     "covariances": np.stack([np.eye(2), -np.eye(2)])})
