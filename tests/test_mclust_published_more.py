"""Published mclust fits: the galaxies velocities without and with mclust's prior, and the
chevron minefield with a noise component.

Source: Scrucca, Fraley, Murphy & Raftery (2023), *Model-Based Clustering, Classification, and
Density Estimation Using mclust in R*, Example 7.3 "Density estimation with a prior on the Galaxies
data" (the book's rendered chapter with its R output: repository ``mclust-org/mclust-org.github.io``,
``mclust-book/chapters/07_miscellanea.html``; the code alone: ``mclust-org/Code``,
``07_miscellanea.R``). The book sets ``galaxies[78] = 26960`` (the source's value; MASS, and
emkit's CSV, have 26690) and divides by 1000, then keeps the best BIC of 50 random hierarchical
starts (``hcRandomPairs``) for every model, G = 1..9:

* no prior: best V,6 −440.06 (log-likelihood −182.57, df 17, ICL −447.6), then V,3 −442.2177, V,5 −442.5948,
  V,4 −443.8970, E,6 −447.4629; V,6's printed parameters (weights, means, variances) below;
* ``prior = priorControl()``: best V,3 −443.96 (log-likelihood −204.35, df 8, ICL −443.96; weights 0.085366
  0.036585 0.878050, means 9.726 33.004 21.404, variances 0.36949 0.70599 4.51272), then V,4
  −445.153, E,6 −447.6407, E,7 −450.6451, E,3 −452.0662; ``defaultPrior(galaxies, G = 3,
  modelName = "V")``: shrinkage 0.01, mean 20.831, dof 3, scale 2.3187.

emkit's multi-start EM (k-means starts instead of random trees) finds these maxima (V,4 apart, which
its starts miss) and gmm_select over mclust's grid picks the book's models. With a prior mclust prints
the log-likelihood at the MAP estimate, without the prior's density (Fraley & Raftery 2007): emkit's
``score(X) · n`` (and :func:`~emkit.selection.information_criteria`), not ``lower_bound_``, which is
EM's objective, the log-posterior.

The noise component: the same book's Example 7.1, ``Mclust(X, initialization = list(noise =
(nnc$z == 0)))`` on ``chevron[, 2:3]`` with the mask of ``prabclus::NNclean(X, k = 5)`` (662 rows):
EEV,2 with a noise term, log-likelihood −10525, n 1104, df 11, BIC −21128 (ICL −21507, which
depends on the hard classification: −21506 here, where 2 boundary points differ); weights 0.12290 0.12618
and noise 0.75091; means (71.473, 36.310) and (39.519, 31.566); covariances [[195.85, −176.99],
[−176.99, 197.30]] and [[183.00, 176.47], [176.47, 210.15]]; hypervolume 16022; classification
against the truth: data 50 (noise) 156 144, noise 743 4 7. The chevron data are
``tests/data/chevron.csv`` (mclust's ``data/chevron.R``).
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emkit import GaussianMixture
from emkit.datasets import galaxies
from emkit.latent.noise import hypervolume
from emkit.selection import gmm_select, information_criteria


def _book_galaxies() -> np.ndarray:
    """The book's data: MASS's velocities with the 78th set to the source's 26960, in 1000 km/s."""
    velocities = galaxies() / 1000.0
    assert velocities[77] == 26.690   # MASS's typo, which the book corrects
    velocities[77] = 26.960
    return velocities.reshape(-1, 1)


def _mclust_tol(loglik: float, n: int) -> float:
    """scikit-learn's ``tol`` that is mclust's relative stopping rule near ``loglik``."""
    return 1e-5 * (1.0 + abs(loglik)) / n


def _printed(estimator, X):
    """(log-likelihood, df, BIC) as mclust prints them: the log-likelihood of the data (at the MAP
    estimate with a prior) and BIC with mclust's sign, higher is better."""
    n = len(X)
    loglik = estimator.score(X) * n
    df = estimator._n_parameters()
    return loglik, df, 2 * loglik - df * math.log(n)


def test_galaxies_v6_without_prior_is_the_books_maximum():
    """From the book's printed V,6 parameters, EM with mclust's stopping rule stays at its printed
    log-likelihood, df and BIC; the four separate groups (7 galaxies near 9.7, 2 near 16.1, 2 near
    27.0, 3 near 33.0) have the printed means and variances to every printed digit. The two broad
    components overlap (19.79 and 22.92), and their parameters move by ~1e-3 along a flat ridge
    where mclust's relative rule (|Δℓ| ≤ 1.8e-3 here) stopped the book's run."""
    X = _book_galaxies()
    weights = np.array([0.403204, 0.085366, 0.024390, 0.024355, 0.036585, 0.426099])
    means = np.array([19.7881, 9.7101, 16.1270, 26.9775, 33.0443, 22.9162])
    variances = np.array([0.45348851, 0.17851527, 0.00184900, 0.00030625, 0.84956356, 1.45114183])
    fitted = GaussianMixture(6, covariance_type="V", weights_init=weights / weights.sum(),
                             means_init=means[:, None], precisions_init=1.0 / variances, reg_covar=0.0,
                             tol=_mclust_tol(-182.57, len(X)), max_iter=1000).fit(X)
    loglik, df, bic = _printed(fitted, X)
    assert (round(loglik, 2), df, round(bic, 2)) == (-182.57, 17, -440.06)
    assert round(-information_criteria(fitted, X)["icl"], 1) == -447.6
    separate = [1, 2, 3, 4]
    np.testing.assert_allclose(fitted.means_.ravel()[separate], means[separate], atol=5e-5)
    np.testing.assert_allclose(fitted.covariances_[separate], variances[separate], rtol=5e-7, atol=5e-9)
    np.testing.assert_allclose(fitted.weights_[separate], weights[separate], atol=2e-6)
    np.testing.assert_allclose(fitted.means_.ravel()[[0, 5]], means[[0, 5]], atol=2e-3)


def test_galaxies_v3_with_the_mclust_prior_is_the_books_map():
    """``prior="mclust"`` builds ``defaultPrior``'s hyperparameters as the book prints them, and
    EM from emkit's own starts reaches the book's MAP: every printed parameter to its digits, and
    the printed log-likelihood −204.35 and BIC −443.96, which are the data's log-likelihood at the
    MAP (``lower_bound_``, the log-posterior, is 8.2 lower)."""
    X = _book_galaxies()
    n = len(X)
    fitted = GaussianMixture(3, covariance_type="V", prior="mclust", n_init=10, random_state=0,
                             tol=_mclust_tol(-204.35, n), max_iter=1000).fit(X)
    prior = fitted.prior_
    assert prior.mean_weight == 0.01
    assert round(float(prior.mean[0]), 3) == 20.831
    assert round(float(prior.scale), 4) == 2.3187
    assert prior.dof == 3 + 1   # mclust's ν = 3, plus the mean prior's σ^{-1} (kernels/mclust_prior.py)
    order = np.argsort(fitted.means_.ravel())   # the book's order: 9.7, 33.0, 21.4
    order = order[[0, 2, 1]]
    np.testing.assert_array_equal(np.round(fitted.weights_[order], 6), [0.085366, 0.036585, 0.878050])
    np.testing.assert_array_equal(np.round(fitted.means_.ravel()[order], 3), [9.726, 33.004, 21.404])
    np.testing.assert_array_equal(np.round(fitted.covariances_[order], 5), [0.36949, 0.70599, 4.51272])
    loglik, df, bic = _printed(fitted, X)
    assert (round(loglik, 2), df, round(bic, 2)) == (-204.35, 8, -443.96)
    criteria = information_criteria(fitted, X)
    assert -criteria["bic"] == pytest.approx(bic, abs=1e-9)
    assert round(-criteria["icl"], 2) == -443.96   # every galaxy's component is certain
    assert fitted.lower_bound_ * n == pytest.approx(loglik - 8.2, abs=0.1)


def _mclust_bic(result):
    """{(model, G): BIC with mclust's sign} of a gmm_select table (fits that failed left out)."""
    return {(row["covariance_type"], row["n_components"]): -row["bic"] for row in result.table if not row["error"]}


def test_galaxies_selection_without_prior_picks_the_books_v6():
    """gmm_select over mclust's grid (E, V; G = 1..9) with 5 k-means starts each picks V,6; V,3 is
    the book's to the 4 printed decimals. V,6 here stops at −440.067, 0.004 below the maximum the
    book printed (−440.063 above, from its parameters): on that maximum's flat ridge, mclust's
    relative rule stops EM wherever the path enters it."""
    X = _book_galaxies()
    result = gmm_select(X, n_components=range(1, 10), covariance_types="mclust", n_init=5, init_params="kmeans",
                        random_state=0, reg_covar=0.0, tol=_mclust_tol(-200.0, len(X)), max_iter=1000)
    assert (result.best_row["covariance_type"], result.best_row["n_components"]) == ("V", 6)
    bic = _mclust_bic(result)
    assert bic[("V", 6)] == pytest.approx(-440.06, abs=0.01)
    assert round(bic[("V", 3)], 4) == -442.2177
    ranked = sorted(bic, key=bic.get, reverse=True)
    assert ranked[:2] == [("V", 6), ("V", 3)]


def test_galaxies_selection_with_prior_picks_the_books_v3():
    """With ``prior="mclust"`` the same grid picks V,3 at the book's −443.96, and its E,3 is the
    book's −452.0662 to 3 decimals (−452.06606: mclust's rule stopped 1.4e-4 lower) (E,6 −447.651 and E,7 −450.652 here, the book's −447.6407 and
    −450.6451: other local maxima of those two, 0.01 apart)."""
    X = _book_galaxies()
    result = gmm_select(X, n_components=range(1, 10), covariance_types="mclust", n_init=5, init_params="kmeans",
                        random_state=0, prior="mclust", tol=_mclust_tol(-200.0, len(X)), max_iter=1000)
    assert (result.best_row["covariance_type"], result.best_row["n_components"]) == ("V", 3)
    bic = _mclust_bic(result)
    assert round(bic[("V", 3)], 2) == -443.96
    assert round(bic[("E", 3)], 3) == -452.066


def _chevron():
    """mclust's chevron: (x, y) and whether each row is clutter (the truth)."""
    frame = pd.read_csv(Path(__file__).parent / "data" / "chevron.csv", comment="#")
    return frame[["x", "y"]].to_numpy(dtype=float), frame["class"].to_numpy() == "noise"


def test_chevron_eev_2_with_noise_as_the_book():
    """From the book's printed EEV,2-with-noise fit (``weights_init`` summing to 1 − π_0), EM with
    mclust's stopping rule stays at its printed log-likelihood, df and BIC (5 digits), with
    ``V`` mclust's ``hypvol``; the clutter's row of the classification table is the book's, and
    its data row within the 2 boundary points a stop elsewhere on that flat ridge moves (the
    printed parameters have 5 digits; EM from them converges at −10525.26, above the book's stop).
    NNclean's mask itself is not reproduced: the start is the book's result."""
    X, clutter = _chevron()
    n = len(X)
    volume, _ = hypervolume(X)
    assert round(volume) == 16022
    weights = np.array([0.12290, 0.12618])
    means = np.array([[71.473, 36.310], [39.519, 31.566]])
    covariances = np.array([[[195.85, -176.99], [-176.99, 197.30]], [[183.00, 176.47], [176.47, 210.15]]])
    fitted = GaussianMixture(2, covariance_type="EEV", noise=True, weights_init=weights, means_init=means,
                             precisions_init=np.linalg.inv(covariances), reg_covar=0.0,
                             tol=_mclust_tol(-10525.0, n), max_iter=1000).fit(X)
    assert fitted.noise_proportion_ + fitted.weights_.sum() == pytest.approx(1.0)
    loglik, df, bic = _printed(fitted, X)
    assert (round(loglik), df, round(bic)) == (-10525, 11, -21128)
    np.testing.assert_allclose(fitted.weights_, weights, atol=2e-3)
    assert fitted.noise_proportion_ == pytest.approx(0.75091, abs=2e-3)
    np.testing.assert_allclose(fitted.means_, means, atol=0.3)
    labels = fitted.predict(X)                      # −1: the noise
    clutter_row = [np.sum(clutter & (labels == k)) for k in (-1, 0, 1)]
    data_row = [np.sum(~clutter & (labels == k)) for k in (-1, 0, 1)]
    assert clutter_row == [743, 4, 7]
    assert np.abs(np.array(data_row) - [50, 156, 144]).max() <= 2


def test_noise_weights_init_below_one_starts_the_noise_weight():
    """With ``noise``, ``weights_init`` summing to less than 1 leaves the rest to ``π_0`` (mclust's
    ``pro``); summing to 1, it is scaled to ``1 − π_0`` of the usual start (0.1 without a mask).
    Both were refused before (normalised weights plus a noise weight exceeded 1)."""
    X, _ = _chevron()
    means = np.array([[71.0, 36.0], [40.0, 32.0]])
    first = GaussianMixture(2, covariance_type="EEV", noise=True, weights_init=[0.12, 0.13], means_init=means,
                            max_iter=0).fit(X)
    np.testing.assert_allclose(first.weights_, [0.12, 0.13])
    assert first.noise_proportion_ == pytest.approx(0.75)
    second = GaussianMixture(2, covariance_type="EEV", noise=True, weights_init=[0.4, 0.6], means_init=means,
                             max_iter=0).fit(X)
    np.testing.assert_allclose(second.weights_, [0.36, 0.54])
    assert second.noise_proportion_ == pytest.approx(0.1)
    with pytest.raises(ValueError, match="weights_init: with noise"):
        GaussianMixture(2, noise=True, weights_init=[0.7, 0.6]).fit(X)
