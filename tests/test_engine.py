import warnings

import numpy as np
import pytest

import emkit
from emkit import datasets
from emkit.engine import EMModel
from emkit.models.gene_counting import abo_blood_groups, peppered_moth
from emkit.models.grouped_multinomial import genetic_linkage


class WrongMStep(EMModel):
    """A deliberately wrong M-step (moves θ away from the maximizer) to trigger the ascent check."""

    param_names = ("theta",)

    def initial_params(self, data, rng=None):
        return {"theta": np.array(0.6)}

    def e_step(self, data, params):
        return genetic_linkage().e_step(data, params)

    def m_step(self, stats, params):
        return {"theta": np.array(max(0.05, float(params["theta"]) - 0.1))}


def test_ascent_check_names_the_iteration():
    data = np.array([125.0, 18, 20, 34])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emkit.fit(WrongMStep(), data, max_iter=3)
    ascent = [str(w.message) for w in caught if issubclass(w.category, emkit.AscentWarning)]
    assert [m.split(" (")[0] for m in ascent] == [f"the log-likelihood decreased at iteration {t}" for t in (1, 2, 3)]
    assert all(w.filename == __file__ for w in caught)  # attributed to the caller of fit


def test_max_iter_reached_warns_and_reports_not_converged():
    with pytest.warns(emkit.ConvergenceWarning, match="max_iter=2"):
        result = emkit.fit(genetic_linkage(), datasets.genetic_linkage_counts(), max_iter=2)
    assert not result.converged and result.n_iter == 2 and len(result.trace) == 3


def test_result_fields_and_trace():
    result = emkit.fit(peppered_moth(), datasets.peppered_moth_counts())
    assert result.n_evaluations == result.n_iter + 1  # plain EM: one E-step per iterate
    assert len(result.trace) == result.n_iter + 1
    assert result.trace.loglik[-1] == result.loglik
    assert result.trace.vectors(result.model).shape == (result.n_iter + 1, 3)
    payload = result.to_dict()
    assert set(payload) == {"params", "loglik", "n_iter", "n_evaluations", "converged"}
    assert set(payload["params"]) == {"C", "I", "T"}


def test_callback_sees_every_iteration():
    seen = []
    result = emkit.fit(genetic_linkage(), datasets.genetic_linkage_counts(),
                       callback=lambda it, params, ll: seen.append((it, ll)))
    assert [it for it, _ in seen] == list(range(result.n_iter + 1))
    assert [ll for _, ll in seen] == result.trace.loglik


def test_restarts_keep_the_best_and_are_reproducible():
    model = emkit.PoissonMixture(3, data="frequencies")
    counts = datasets.hasselblad_deaths()
    a = emkit.fit(model, counts, n_init=4, random_state=0, max_iter=300, param_tol=None, tol=1e-8)
    b = emkit.fit(model, counts, n_init=4, random_state=0, max_iter=300, param_tol=None, tol=1e-8)
    assert len(a.restarts) == 4 and a.loglik == max(a.restarts)
    assert a.restarts == b.restarts


def test_verbose_progress_bar(capsys):
    emkit.fit(genetic_linkage(), datasets.genetic_linkage_counts(), verbose=True)
    assert "EM Grouped multinomial" in capsys.readouterr().err


def test_squarem_agrees_with_plain_em_on_gene_counting():
    plain = emkit.fit(abo_blood_groups(), datasets.abo_counts())
    fast = emkit.fit(abo_blood_groups(), datasets.abo_counts(), accelerate="squarem")
    np.testing.assert_allclose(fast.params["freq"], plain.params["freq"], rtol=1e-8)
    assert fast.accelerate == "squarem"


def test_param_tol_none_stops_on_loglik_alone():
    loose = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), datasets.hasselblad_deaths(), param_tol=None, tol=1e-8)
    tight = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), datasets.hasselblad_deaths())
    assert loose.n_iter < tight.n_iter


@pytest.mark.parametrize("kwargs, name", [
    ({"tol": -1.0}, "tol"), ({"max_iter": 0}, "max_iter"), ({"n_init": 0}, "n_init"),
    ({"accelerate": "aitken"}, "accelerate"), ({"param_tol": float("nan")}, "param_tol"),
])
def test_bad_fit_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        emkit.fit(genetic_linkage(), datasets.genetic_linkage_counts(), **kwargs)


def test_squarem_settings_are_validated():
    with pytest.raises(ValueError, match="scheme"):
        emkit.Squarem(scheme="SqS4")


class NaNModel(WrongMStep):
    def e_step(self, data, params):
        stats, _ = super().e_step(data, params)
        return stats, float("nan")


def test_nan_loglik_fails_loudly():
    with pytest.raises(FloatingPointError, match="iteration 0"):
        emkit.fit(NaNModel(), np.array([125.0, 18, 20, 34]))


def test_no_warning_on_a_clean_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emkit.fit(peppered_moth(), datasets.peppered_moth_counts())


def test_squarem_step_lengths_by_hand():
    from emkit.engine.squarem import step_length

    r, v = np.array([1.0, 2.0]), np.array([-2.0, -1.0])  # rᵀv = −4, vᵀv = 5, rᵀr = 5
    assert step_length(r, v, "SqS1") == pytest.approx(4 / 5)
    assert step_length(r, v, "SqS2") == pytest.approx(5 / 4)
    assert step_length(r, v, "SqS3") == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert step_length(np.array([1.0, 0.0]), np.array([0.0, 1.0]), "SqS2") == 1.0  # rᵀv = 0
