"""MixtureDiscriminant (mclust's MclustDA and EDDA) against scikit-learn's QDA and LDA, and its classifier face."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
from sklearn.utils.estimator_checks import check_estimator

from emkit import MixtureDiscriminant
from emkit.estimators.mixture_discriminant import balanced_folds


@pytest.fixture(scope="module")
def iris():
    data = load_iris()
    return data.data, data.target_names[data.target]   # string labels


def test_edda_full_is_qda_with_mle_covariances(iris):
    X, y = iris
    ours = MixtureDiscriminant("EDDA", covariance_type="full", reg_covar=0.0).fit(X, y)
    qda = QuadraticDiscriminantAnalysis(store_covariance=True).fit(X, y)
    # QDA's class variances (eigenvalues, scalings_) divide the scatter by n_c − 1 before scikit-learn 1.8 and by
    # n_c since; rescale them to the MLE's, whose trace is that of the biased class covariance
    mle_traces = [np.trace(np.cov(X[y == label].T, bias=True)) for label in qda.classes_]
    qda.scalings_ = [s * trace / s.sum() for s, trace in zip(qda.scalings_, mle_traces)]
    assert list(ours.classes_) == list(qda.classes_)
    np.testing.assert_allclose(ours.predict_proba(X), qda.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), qda.predict(X))


def test_edda_tied_is_lda_with_the_pooled_mle_covariance(iris):
    X, y = iris
    ours = MixtureDiscriminant("EDDA", covariance_type="tied", reg_covar=0.0).fit(X, y)
    lda = LinearDiscriminantAnalysis(solver="lsqr").fit(X, y)   # covariance: Σ_c (n_c/n) S_c, S_c the MLE
    np.testing.assert_allclose(ours.predict_proba(X), lda.predict_proba(X), rtol=1e-8, atol=1e-12)
    assert ours.score(X, y) == pytest.approx(lda.score(X, y))


def test_edda_chooses_its_common_model_by_bic(iris):
    X, y = iris
    chosen = MixtureDiscriminant("EDDA", reg_covar=0.0).fit(X, y)
    single = {t: MixtureDiscriminant("EDDA", covariance_type=t, reg_covar=0.0).fit(X, y).bic_
              for t in ("spherical", "diag", "tied", "full")}
    assert chosen.covariance_types_ == [min(single, key=single.get)] * 3
    assert chosen.bic_ == pytest.approx(min(single.values()))


def mixture_classes(n=120, seed=0):
    """Class 0 is two blobs on either side of class 1's single blob: no one Gaussian per class separates them."""
    rng = np.random.default_rng(seed)
    zero = np.vstack([rng.normal([-4, 0], 0.6, (n, 2)), rng.normal([4, 0], 0.6, (n, 2))])
    one = rng.normal([0, 0], 0.6, (n, 2))
    return np.vstack([zero, one]), np.repeat([0, 1], [2 * n, n])


def test_mclustda_beats_edda_when_classes_are_mixtures():
    X, y = mixture_classes()
    test_X, test_y = mixture_classes(seed=1)
    mclustda = MixtureDiscriminant(n_components=(1, 2, 3), covariance_type=("full", "spherical"),
                                   random_state=0).fit(X, y)
    edda = MixtureDiscriminant("EDDA").fit(X, y)
    assert mclustda.n_components_.tolist() == [2, 1]
    assert mclustda.score(test_X, test_y) > 0.99
    assert mclustda.score(test_X, test_y) > edda.score(test_X, test_y) + 0.05


def test_predictions_use_class_priors_and_class_mixtures():
    X, y = mixture_classes(60)
    fitted = MixtureDiscriminant(n_components=2, covariance_type="diag", random_state=0).fit(X, y)
    joint = np.column_stack([np.log(p) + m.score_samples(X) for p, m in zip(fitted.class_priors_, fitted.models_)])
    expected = np.exp(joint - np.logaddexp.reduce(joint, axis=1, keepdims=True))
    np.testing.assert_allclose(fitted.predict_proba(X), expected, rtol=1e-12)
    np.testing.assert_allclose(fitted.class_priors_, [2 / 3, 1 / 3])


def test_cv_error_counts_the_misclassified_rows_of_each_fold(iris):
    X, y = iris
    fitted = MixtureDiscriminant("EDDA", covariance_type="tied").fit(X, y)
    cv = fitted.cv_error(X, y, n_folds=5, random_state=0)
    assert cv.n_folds == 5
    assert cv.error == pytest.approx(np.mean(cv.predictions != y))
    assert 0.0 < cv.error < 0.06   # LDA on iris: 2-3 errors in 150
    np.testing.assert_allclose(cv.probabilities.sum(axis=1), 1.0)


def test_leave_one_out_cv_equals_a_hand_loop():
    X, y = mixture_classes(8)
    fitted = MixtureDiscriminant("EDDA", covariance_type="full").fit(X, y)
    cv = fitted.cv_error(X, y, n_folds=len(y))
    hand = [MixtureDiscriminant("EDDA", covariance_type="full").fit(np.delete(X, i, 0), np.delete(y, i))
            .predict(X[i:i + 1])[0] != y[i] for i in range(len(y))]
    assert cv.n_folds == len(y)
    assert cv.error == pytest.approx(np.mean(hand))


def test_balanced_folds_spread_each_class():
    codes = np.repeat([0, 1, 2], [10, 7, 3])
    folds = balanced_folds(codes, 5, np.random.default_rng(0))
    assert sorted(np.concatenate(folds).tolist()) == list(range(20))
    for fold in folds:
        counts = np.bincount(codes[fold], minlength=3)
        assert counts[0] == 2 and counts[1] in (1, 2) and counts[2] in (0, 1)


@pytest.mark.parametrize("estimator", [MixtureDiscriminant(n_components=(1, 2), covariance_type=("full", "diag")),
                                       MixtureDiscriminant("EDDA")], ids=["MclustDA", "EDDA"])
def test_scikit_learn_check_estimator(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    assert not [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert sum(r["status"] == "passed" for r in results) > 40


@pytest.mark.parametrize("arguments, message", [({"model_type": "QDA"}, "^model_type: "),
                                                ({"n_components": 0}, "^n_components: "),
                                                ({"covariance_type": []}, "^covariance_type: ")])
def test_bad_arguments_are_errors_naming_them(arguments, message):
    X, y = mixture_classes(10)
    with pytest.raises(ValueError, match=message):
        MixtureDiscriminant(**arguments).fit(X, y)


def test_continuous_labels_are_refused():
    X, y = mixture_classes(10)
    with pytest.raises(ValueError, match="^y: Unknown label type"):
        MixtureDiscriminant().fit(X, y + 0.5)


# mclust's values (R, mclust 5), as a Python port of mclust checks them in its tests: EDDA on the diabetes data
# chooses VVV with log-likelihood −2328.979; MclustDA on iris chooses EEE with 2 components for setosa and one
# ellipsoidal component for the two others, log-likelihood −172.8135, and misclassifies rows 71, 84 and 134.
def test_edda_on_diabetes_reproduces_mclust():
    from emkit import datasets

    frame = datasets.diabetes()
    X, y = frame[["glucose", "insulin", "sspg"]].to_numpy(float), frame["class"].to_numpy()
    fitted = MixtureDiscriminant("EDDA", reg_covar=0.0).fit(X, y)
    assert fitted.covariance_types_ == ["full"] * 3
    assert fitted.score_samples(X).sum() == pytest.approx(-2328.979, abs=5e-4)
    assert fitted.bic_ == pytest.approx(2 * 2328.979 + 27 * np.log(145), abs=1e-3)   # mclust's df: 9 means + 18


def test_mclustda_on_iris_reproduces_mclust(iris):
    X, y = iris
    fitted = MixtureDiscriminant(init_params="hc", reg_covar=0.0, tol=1e-8, max_iter=2000).fit(X, y)
    assert fitted.n_components_.tolist() == [2, 1, 1]
    assert fitted.covariance_types_[0] == "tied"   # EEE (one component: tied and full coincide)
    assert fitted.score_samples(X).sum() == pytest.approx(-172.8135, abs=2e-4)
    assert np.flatnonzero(fitted.predict(X) != y).tolist() == [70, 83, 133]
