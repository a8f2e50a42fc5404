"""Standard errors: bad calls give a clear warning or error, never NaN in silence."""

import copy

import numpy as np
import pytest

import emkit
from emkit import datasets
from emkit.models.gene_counting import peppered_moth
from emkit.models.grouped_multinomial import genetic_linkage

MOTH = datasets.peppered_moth_counts()
DEATHS = datasets.hasselblad_deaths()


@pytest.fixture(scope="module")
def moth_fit():
    return emkit.fit(peppered_moth(), MOTH)


def test_unconverged_fit_warns(moth_fit):
    with pytest.warns(emkit.ConvergenceWarning):
        early = emkit.fit(peppered_moth(), MOTH, max_iter=2)
    with pytest.warns(emkit.ConvergenceWarning, match="did not converge.*not the MLE"):
        se = emkit.standard_errors(early, MOTH, "louis")
    assert all(np.isfinite(list(se.se.values())))


@pytest.fixture(scope="module")
def boundary_fit():
    """θ̂ = 0: with no 'ab' count the score at θ = 0 is n_1/2 − (n_2 + n_3) = 5 − 60 < 0."""
    counts = [10, 30, 30, 0]
    result = emkit.fit(genetic_linkage(), counts)
    assert result.params["theta"] < 1e-9
    return result, counts


@pytest.mark.parametrize("method", ["louis", "sem", "hessian"])
def test_boundary_estimate_is_an_error_for_the_information_methods(boundary_fit, method):
    result, counts = boundary_fit
    with pytest.raises(ValueError, match=r"result: the estimate is on the boundary.*\(theta\).*method='bootstrap'"):
        emkit.standard_errors(result, counts, method)


def test_boundary_estimate_only_warns_for_the_bootstrap(boundary_fit):
    result, counts = boundary_fit
    with pytest.warns(UserWarning, match="on the boundary"):
        se = emkit.standard_errors(result, counts, "bootstrap", n_boot=50, random_state=0)
    assert se.rate is None and np.isfinite(se.se["theta"])


@pytest.fixture(scope="module")
def coincident_fit():
    """Two Poisson components started equal stay equal: a saddle where the weights are not identified."""
    result = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), DEATHS, init={"weights": [0.5, 0.5], "rates": [2.0, 2.0]})
    assert result.params["rates"][0] == result.params["rates"][1]
    return result


@pytest.mark.parametrize("method, message", [
    ("louis", "information matrix is not positive definite.*rates\\[0\\].*rates\\[1\\].*fit fewer components"),
    ("sem", "eigenvalue ≥ 1.*singular"),
    ("hessian", "not curved downwards along \\['weights\\[0\\]'\\]"),
])
def test_singular_information_is_an_error(coincident_fit, method, message):
    with pytest.raises(ValueError, match=message):
        emkit.standard_errors(coincident_fit, DEATHS, method)


def test_numerically_singular_hessian_is_an_error():
    """Three components for two-component data: two coincide, so a weight is not identified;
    the Hessian's flat direction is only numerically positive, the fraction of information ~0."""
    result = emkit.fit(emkit.PoissonMixture(3, data="frequencies"), DEATHS, accelerate="squarem")
    with pytest.raises(ValueError, match="method='hessian': the data carry almost no information"):
        emkit.standard_errors(result, DEATHS, "hessian")


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "fisher"}, "method: expected one of"),
    ({"method": "bootstrap", "n_boot": 1}, "n_boot: must be an integer of at least 2"),
    ({"method": "bootstrap", "bootstrap_kind": "smooth"}, "bootstrap_kind: expected one of"),
    ({"method": "bootstrap", "workers": 0}, "workers: must be a positive integer"),
    ({"method": "bootstrap", "random_state": "seed"}, "random_state: expected"),
    ({"method": "sem", "stab_tol": -1.0}, "stab_tol: must be a positive number"),
])
def test_bad_arguments_name_the_argument(moth_fit, kwargs, message):
    with pytest.raises(ValueError, match=message):
        emkit.standard_errors(moth_fit, MOTH, **kwargs)


def test_result_must_be_a_fit():
    with pytest.raises(ValueError, match="result: expected the EMResult"):
        emkit.standard_errors({"freq": [0.1, 0.2, 0.7]}, MOTH)


def test_bad_data_is_reported_by_the_model(moth_fit):
    with pytest.raises(ValueError, match="counts: unknown phenotype"):
        emkit.standard_errors(moth_fit, {"melanic": 3})


@pytest.mark.parametrize("method", ["louis", "sem", "bootstrap", "hessian"])
def test_user_objects_are_unchanged(moth_fit, method):
    counts = dict(MOTH)
    before = copy.deepcopy(moth_fit.params)
    emkit.standard_errors(moth_fit, counts, method, n_boot=20, random_state=0)
    assert counts == MOTH
    np.testing.assert_array_equal(moth_fit.params["freq"], before["freq"])


def test_failed_bootstrap_fits_are_counted_and_warned(moth_fit):
    with pytest.warns(emkit.ConvergenceWarning, match="20 did not converge"):
        se = emkit.standard_errors(moth_fit, MOTH, "bootstrap", n_boot=20, random_state=0,
                                   fit_options={"max_iter": 1})
    assert se.diagnostics["n_unconverged"] == 20


def test_sem_warns_when_dm_does_not_stabilise(moth_fit):
    louis = emkit.standard_errors(moth_fit, MOTH, "louis")
    with pytest.warns(UserWarning, match=r"DM elements \['C→C'.*\] did not stabilise to stab_tol=1e-300"):
        sem = emkit.standard_errors(moth_fit, MOTH, "sem", stab_tol=1e-300)
    np.testing.assert_allclose(sem.cov, louis.cov, rtol=1e-6)  # the most stable quotients are still good
