"""The Gaussian family's conjugate covariance prior and scikit-learn's parameter name.

A mixture of the family with ``covariance_prior`` is MAP-EM: checked iterate by iterate against
:class:`~emkit.models.GaussianMixtureModel` with the same prior (an independent implementation
of the same posterior-mode step), its objective against the log-likelihood plus the prior's log
density computed with scipy, and through ``emkit.Mixture``'s save and load.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import emkit
from emkit.families import Gaussian
from emkit.kernels.covariance_regularization import CovariancePrior
from emkit.latent import MixtureModel
from emkit.models import GaussianMixtureModel

TYPES = ["full", "tied", "diag", "spherical"]
pytestmark = pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")  # fixed iteration counts


def data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(60, 2)) * [1.0, 0.3], rng.normal(size=(40, 2)) + [3.0, 1.0]])
    X[rng.random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.5
    return X


@pytest.mark.parametrize("covariance_type", TYPES)
def test_map_em_equals_the_gaussian_mixture_models(covariance_type):
    X = data()
    prior = CovariancePrior(0.5, 4.0)
    reference = GaussianMixtureModel(2, covariance_type, covariance_prior=prior)
    start = reference.initial_params(reference.prepare(X))
    family = Gaussian(2, covariance_type, covariance_prior=prior, covariance_name="covariances")
    ours = emkit.fit(MixtureModel(family, 2), X, init=start, max_iter=25, tol=0.0, param_tol=None)
    theirs = emkit.fit(reference, X, init=start, max_iter=25, tol=0.0, param_tol=None)
    np.testing.assert_allclose(ours.trace.loglik, theirs.trace.loglik, rtol=1e-11)
    for name in ("weights", "means", "covariances"):
        np.testing.assert_allclose(ours.params[name], theirs.params[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert MixtureModel(family, 2).free_labels(ours.params)[-1].startswith("covariances")


def test_the_objective_is_the_log_posterior():
    """ℓ(θ) + log p(Σ) with the inverse-Wishart density of scipy (up to its constant)."""
    X = data(1)
    prior = CovariancePrior(np.array([[1.0, 0.2], [0.2, 0.5]]), 5.0)
    model = MixtureModel(Gaussian(2, "full", covariance_prior=prior), 2)
    result = emkit.fit(model, X, random_state=0, max_iter=5, tol=0.0, param_tol=None)
    _, loglik = model.e_step(model.prepare(X), result.trace.params[-1])
    covars = result.trace.params[-1]["covars"]
    log_prior = sum(stats.invwishart(df=5.0, scale=prior.scale).logpdf(c) for c in covars)
    offset = 2 * stats.invwishart(df=5.0, scale=prior.scale).logpdf(np.eye(2)) - model.log_prior(
        {**result.trace.params[-1], "covars": np.array([np.eye(2)] * 2)})
    assert result.trace.loglik[-1] == pytest.approx(loglik + log_prior - offset, rel=1e-12)


def test_a_mixture_with_a_prior_saves_and_loads(tmp_path):
    X = data(2)
    family = Gaussian(2, "diag", covariance_prior=CovariancePrior(np.array([0.3, 0.6]), 3.0))
    fitted = emkit.Mixture(2, family=family, random_state=0).fit(X)
    for suffix in (".json", ".npz"):
        loaded = emkit.Mixture.load(fitted.save(tmp_path / f"m{suffix}"))
        np.testing.assert_array_equal(loaded.score_samples(X), fitted.score_samples(X))
        assert repr(loaded.model_.family) == repr(fitted.model_.family)


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="^covariance_name: expected 'covars' or 'covariances'"):
        Gaussian(2, covariance_name="sigma")
    with pytest.raises(ValueError, match="^covariance_prior: expected a CovariancePrior"):
        Gaussian(2, covariance_prior=0.5)
    with pytest.raises(ValueError, match="covariance_prior|degrees_of_freedom_prior"):
        Gaussian(2, "full", covariance_prior=CovariancePrior(np.eye(3)))


def test_a_file_with_a_bad_prior_is_refused_naming_file_and_field(tmp_path):
    path = emkit.Mixture(2, family=Gaussian(2, "diag", covariance_prior=CovariancePrior(0.5)),
                         random_state=0).fit(data(3)).save(tmp_path / "m.json")
    text = path.read_text().replace('"scale": 0.5', '"scale": -0.5')
    assert text != path.read_text()
    path.write_text(text)
    with pytest.raises(ValueError, match=r"m\.json: .*family.*covariance_prior"):
        emkit.Mixture.load(path)
