"""GaussianMixtureModel and StudentMixtureModel are immutable values (issue 15): preparing data,
fitting and computing on parameters change nothing about them, the data's width comes from the
prepared data or the parameters, and one model serves data of any width with the answers of
fresh models."""

import copy

import numpy as np
import pytest

import emkit
from emkit.models import GaussianMixtureModel, StudentMixtureModel


def _clusters(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(80, d)), rng.normal(size=(80, d)) + 4.0])


def _state(model) -> dict:
    """The model's attributes, deep-copied (arrays compared by value below)."""
    return copy.deepcopy(vars(model))


def _assert_same_state(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value)
        elif isinstance(value, dict):
            assert value.keys() == after[name].keys()
            for key in value:
                np.testing.assert_array_equal(after[name][key], value[key])
        else:
            assert after[name] == value, name


MODELS = [lambda: GaussianMixtureModel(2, "full"), lambda: GaussianMixtureModel(2, "diag"),
          lambda: StudentMixtureModel(2, "full", dof=5.0), lambda: StudentMixtureModel(2, "diag")]


@pytest.mark.filterwarnings("ignore:EM did not converge")
@pytest.mark.parametrize("make", MODELS)
def test_one_model_fits_data_of_two_widths_as_fresh_models_do(make):
    """The same model fitted to 2-column data and then to 3-column data gives, on each, what a
    fresh model gives (before: the first data's width stuck, and the second fit raised
    "X: expected 2 features")."""
    model = make()
    narrow, wide = _clusters(2, seed=1), _clusters(3, seed=2)
    before = _state(model)
    for X in (narrow, wide, narrow):
        reused = emkit.fit(model, X, max_iter=30, random_state=0)
        fresh = emkit.fit(make(), X, max_iter=30, random_state=0)
        assert reused.loglik == fresh.loglik
        for name, value in fresh.params.items():
            np.testing.assert_array_equal(reused.params[name], value)
        assert model.n_free_parameters(X.shape[1]) == make().n_free_parameters(X.shape[1])
        np.testing.assert_array_equal(model.responsibilities(X, reused.params)[0],
                                      make().responsibilities(X, reused.params)[0])
    _assert_same_state(before, _state(model))


@pytest.mark.parametrize("make", MODELS)
def test_preparing_data_and_computing_on_parameters_leave_the_model_as_it_was(make):
    model = make()
    before = _state(model)
    data = model.prepare(_clusters(3, seed=3))
    params = model.initial_params(data)
    stats, _ = model.e_step(data, params)
    model.m_step(stats, params)
    model.to_free(params)
    _assert_same_state(before, _state(model))


def test_a_given_center_fixes_the_width():
    """With ``center`` the model is tied to its width: other data are refused, naming X."""
    model = GaussianMixtureModel(2, center=np.zeros(2))
    assert model.n_free_parameters() == 1 + 4 + 6
    with pytest.raises(ValueError, match="X: expected 2 features"):
        model.prepare(_clusters(3, seed=4))
    with pytest.raises(ValueError, match="n_features"):
        GaussianMixtureModel(2).n_free_parameters()
