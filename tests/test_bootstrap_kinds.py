"""mclust's MclustBootstrap types in emkit.standard_errors: weighted likelihood bootstrap and jackknife
(beside the nonparametric and parametric bootstrap), against closed forms, a hand loop and each other."""

import numpy as np
import pytest

import emkit
from emkit.models.gaussian_mixture import GaussianMixtureModel


@pytest.fixture(scope="module")
def one_gaussian():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(60, 1))
    return emkit.fit(GaussianMixtureModel(1, reg_covar=0.0), X), X


def test_weighted_bootstrap_gives_the_mean_its_standard_error_as_the_other_kinds_do(one_gaussian):
    result, X = one_gaussian
    se = {kind: emkit.standard_errors(result, X, "bootstrap", n_boot=300, bootstrap_kind=kind, random_state=1)
          for kind in ("weighted", "nonparametric", "parametric")}
    closed_form = X.std() / np.sqrt(len(X))   # the MLE's σ: se(x̄) = σ/√n
    for kind, errors in se.items():
        assert errors.se["means"][0][0] == pytest.approx(closed_form, rel=0.12), kind
    assert se["weighted"].diagnostics["kind"] == "weighted" and se["weighted"].replicates.shape[0] == 300


def test_jackknife_se_of_a_mean_is_exactly_s_over_root_n(one_gaussian):
    result, X = one_gaussian
    jack = emkit.standard_errors(result, X, "bootstrap", bootstrap_kind="jackknife")
    assert jack.se["means"][0][0] == pytest.approx(X.std(ddof=1) / np.sqrt(len(X)), rel=1e-7)
    assert jack.diagnostics["n_boot"] == len(X) and jack.replicates is None   # Wald intervals
    low, high = jack.confidence_intervals(0.95)["means"][0][0]
    assert (high - low) / 2 == pytest.approx(1.959964 * jack.se["means"][0][0], rel=1e-6)


def test_jackknife_equals_a_hand_loop_on_a_tiny_mixture():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(0, 1, 9), rng.normal(5, 1, 7)])[:, None]
    model = GaussianMixtureModel(2, "spherical", reg_covar=0.0)
    result = emkit.fit(model, X, init={"weights": np.array([0.5, 0.5]), "means": np.array([[0.0], [5.0]]),
                                       "covariances": np.array([1.0, 1.0])})
    jack = emkit.standard_errors(result, X, "bootstrap", bootstrap_kind="jackknife")
    leave_one_out = np.array([np.concatenate([emkit.fit(model, np.delete(X, i, axis=0), init=result.params)
                                              .params[name].ravel() for name in ("weights", "means", "covariances")])
                              for i in range(len(X))])
    n = len(X)
    hand = np.sqrt((n - 1) / n * np.sum((leave_one_out - leave_one_out.mean(axis=0)) ** 2, axis=0))
    ours = np.concatenate([np.ravel(jack.se[name]) for name in ("weights", "means", "covariances")])
    np.testing.assert_allclose(ours, hand, rtol=1e-6)


def test_weighted_bootstrap_agrees_with_the_other_bootstraps_on_a_mixture():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal([0, 0], 1, (120, 2)), rng.normal([4, 3], 0.8, (80, 2))])
    result = emkit.GaussianMixture(2, covariance_type="diag", random_state=0, tol=1e-8).fit(X).result_
    ses = {kind: emkit.standard_errors(result, X, "bootstrap", n_boot=100, bootstrap_kind=kind, random_state=2,
                                     fit_options={"tol": 1e-8})
           for kind in ("nonparametric", "parametric", "weighted")}
    louis = emkit.standard_errors(result, X, "louis")
    for kind, se in ses.items():
        for name in ("weights", "means"):
            np.testing.assert_allclose(se.se[name], louis.se[name], rtol=0.25, err_msg=f"{kind} {name}")
    # labels stay aligned with the fit: every replicate's first mean stays near the first component's
    first = ses["weighted"].replicates[:, ses["weighted"].reported_labels.index("means[0,0]")]
    assert np.all(np.abs(first - result.params["means"][0, 0]) < 1.0)


def test_weighted_and_jackknife_do_not_depend_on_the_number_of_workers(one_gaussian):
    result, X = one_gaussian
    for kind in ("weighted", "jackknife"):
        one = emkit.standard_errors(result, X, "bootstrap", n_boot=8, bootstrap_kind=kind, random_state=4)
        two = emkit.standard_errors(result, X, "bootstrap", n_boot=8, bootstrap_kind=kind, random_state=4, workers=2)
        np.testing.assert_array_equal(one.cov, two.cov)
