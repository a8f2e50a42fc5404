"""Standard errors of hidden-Markov-model estimates: supplemented EM (from the HMM's complete-data
information: start and transition counts, the emission's statistics) against the numerical
Hessian of the observed-data log-likelihood computed by the forward algorithm; the free-parameter
mapping with parameters not learned; the bootstrap over sequences."""

from __future__ import annotations

import numpy as np
import pytest

import emkit
from emkit import GaussianHMM
from emkit.kernels.gaussian import COVARIANCE_TYPES
from emkit.families.categorical import CategoricalEmission
from emkit.families.gaussian import Gaussian
from emkit.latent.hmm import HiddenMarkovModel

CHAIN = {"startprob": np.array([0.6, 0.4]), "transmat": np.array([[0.9, 0.1], [0.2, 0.8]])}
COVARS = {"diag": np.array([[1.0, 0.5], [0.7, 1.2]]),
          "full": np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.7, -0.2], [-0.2, 1.2]]]),
          "tied": np.array([[1.0, 0.3], [0.3, 0.5]]),
          "spherical": np.array([1.0, 0.6])}


def gaussian_problem(covariance_type, n_sequences=4, length=150, seed=0, learn=("transmat", "means", "covars")):
    """Sequences drawn from a two-state Gaussian HMM and the fit from the truth (the start
    probabilities, which a few sequences put on the boundary, are not learned)."""
    model = HiddenMarkovModel(Gaussian(2, covariance_type, reg_covar=0.0), 2, learn=learn)
    truth = {**CHAIN, "means": np.array([[0.0, 0.0], [2.0, 1.0]]), "covars": COVARS[covariance_type]}
    rng = np.random.default_rng(seed)
    X = np.concatenate([model.sample(truth, length, rng)[0] for _ in range(n_sequences)])
    data = (X, [length] * n_sequences)
    return model, data, emkit.fit(model, data, init=truth, tol=1e-13, max_iter=5000)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sem_agrees_with_the_hessian_for_gaussian_emissions(covariance_type):
    _, data, result = gaussian_problem(covariance_type)
    sem = emkit.standard_errors(result, data, method="sem")
    hessian = emkit.standard_errors(result, data, method="hessian")
    np.testing.assert_allclose(sem.cov, hessian.cov, rtol=1e-5, atol=1e-6 * np.abs(hessian.cov).max())
    assert 0.0 < sem.rate < 1.0
    assert sem.se["startprob"] == [0.0, 0.0]                       # not learned: no error
    assert sem.se["transmat"][0][0] == pytest.approx(sem.se["transmat"][0][1], rel=1e-9)


@pytest.mark.parametrize("prior", [1.0, 5.0])
def test_sem_agrees_with_the_hessian_for_categorical_emissions(prior):
    """Also with Dirichlet priors (MAP estimates): SEM's information carries their pseudo-counts,
    as the EM map and the log-posterior that the Hessian differentiates do."""
    model = HiddenMarkovModel(CategoricalEmission(3, emissionprob_prior=prior), 2, transmat_prior=prior,
                              learn=("transmat", "emissionprob"))
    truth = {**CHAIN, "emissionprob": np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])}
    rng = np.random.default_rng(1)
    data = (np.concatenate([model.sample(truth, 200, rng)[0] for _ in range(5)]), [200] * 5)
    result = emkit.fit(model, data, init=truth, tol=1e-13, max_iter=5000)
    sem = emkit.standard_errors(result, data, method="sem")
    hessian = emkit.standard_errors(result, data, method="hessian")
    np.testing.assert_allclose(sem.cov, hessian.cov, rtol=1e-5, atol=1e-6 * np.abs(hessian.cov).max())
    assert np.shape(sem.se["emissionprob"]) == (2, 3)


@pytest.mark.parametrize("learn", [None, ("transmat", "covars"), ("means",)])
def test_free_parameters_round_trip(learn):
    model, data, result = gaussian_problem("full", learn=learn or ("startprob", "transmat", "means", "covars"))
    params = result.params
    free = model.to_free(params)
    assert free.size == model.n_free_parameters() == len(model.free_labels(params))
    back = model.from_free(free, params)
    for name in model.param_names:
        np.testing.assert_allclose(back[name], params[name], rtol=0, atol=1e-15)


def test_resampling_takes_whole_sequences_and_simulation_keeps_the_lengths():
    model, data, result = gaussian_problem("diag", n_sequences=3, length=40)
    X, lengths = model.resample(data, np.random.default_rng(2))
    assert X.shape == data[0].shape and sorted(set(lengths)) == [40]
    blocks = {tuple(np.round(block[0], 12)) for block in np.split(data[0], 3)}
    assert all(tuple(np.round(block[0], 12)) in blocks for block in np.split(X, 3))
    holes = data[0][:70].copy()
    holes[[3, 50], [0, 1]] = np.nan
    simulated, simulated_lengths = model.simulate(result.params, (holes, [30, 40]), np.random.default_rng(3))
    assert simulated.shape == (70, 2) and list(simulated_lengths) == [30, 40]
    np.testing.assert_array_equal(np.isnan(simulated), np.isnan(holes))
    with pytest.raises(ValueError, match="bootstrap_kind='parametric'"):
        model.resample(data[0], np.random.default_rng(4))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["nonparametric", "parametric"])
def test_bootstrap_is_close_to_sem(kind):
    """Whole sequences resampled (30 of them), or simulated: within 30% of SEM with 150 replicates."""
    _, data, result = gaussian_problem("diag", n_sequences=30, length=50, seed=5)
    sem = emkit.standard_errors(result, data, method="sem")
    boot = emkit.standard_errors(result, data, method="bootstrap", n_boot=150, bootstrap_kind=kind, random_state=6,
                                 fit_options={"tol": 1e-8, "max_iter": 2000})
    np.testing.assert_allclose(boot.se["means"], sem.se["means"], rtol=0.3)
    np.testing.assert_allclose(boot.se["transmat"], sem.se["transmat"], rtol=0.3)


def test_the_estimators_result_gives_standard_errors():
    _, (X, lengths), _ = gaussian_problem("diag", n_sequences=6, length=120, seed=7)
    estimator = GaussianHMM(2, "diag", n_iter=500, tol=1e-8, random_state=0).fit(X, lengths)
    errors = emkit.standard_errors(estimator.result_, (X, lengths), method="hessian")
    assert np.all(np.asarray(errors.se["means"]) > 0) and np.all(np.isfinite(errors.cov))
