import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emkit
from emkit import datasets
from emkit.engine import add_stats
from emkit.models.grouped_multinomial import GroupedMultinomial, genetic_linkage

# The score equation of the DLR linkage likelihood is 197θ² − 15θ − 68 = 0.
THETA_HAT = (15 + np.sqrt(15**2 + 4 * 197 * 68)) / (2 * 197)


def test_linkage_closed_form_and_published_value():
    result = emkit.fit(genetic_linkage(), datasets.genetic_linkage_counts())
    assert float(result.params["theta"]) == pytest.approx(THETA_HAT, rel=1e-9)
    assert THETA_HAT == pytest.approx(0.6268214980, abs=5e-10)  # Dempster, Laird & Rubin (1977)
    expected_ll = 125 * np.log(0.5 + THETA_HAT / 4) + 38 * np.log((1 - THETA_HAT) / 4) + 34 * np.log(THETA_HAT / 4)
    assert result.loglik == pytest.approx(expected_ll, rel=1e-12)


def test_linkage_em_iterates_match_dlr_table():
    # DLR (1977) Table 1, from θ = 0.5: 0.608247, 0.624321, 0.626489, 0.626777 ...
    result = emkit.fit(genetic_linkage(), datasets.genetic_linkage_counts(), init={"theta": 0.5})
    path = [float(p["theta"]) for p in result.trace.params[1:5]]
    np.testing.assert_allclose(path, [0.608247423, 0.624321050, 0.626488879, 0.626777322], atol=1e-8)


def test_halves_add():
    model = genetic_linkage()
    params = {"theta": np.array(0.3)}
    a, b = np.array([60.0, 9, 10, 20]), np.array([65.0, 9, 10, 14])
    (sa, la), (sb, lb), (sw, lw) = (model.e_step(x, params) for x in (a, b, a + b))
    for key in sw:
        assert float(add_stats(sa, sb)[key]) == pytest.approx(float(sw[key]), rel=1e-13)
    assert la + lb == pytest.approx(lw, rel=1e-13)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 300), min_size=4, max_size=4), theta=st.floats(0.01, 0.99))
@pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")
def test_ascent_property(counts, theta):
    result = emkit.fit(genetic_linkage(), counts, init={"theta": theta}, max_iter=100, tol=0, param_tol=None)
    assert np.all(np.diff(result.trace.loglik) >= -1e-10 * np.abs(result.trace.loglik[1:]))


def test_model_validation():
    with pytest.raises(ValueError, match="sum to"):
        GroupedMultinomial([[(0.5, "const")], [(0.25, "theta")]])
    with pytest.raises(ValueError, match="kind"):
        GroupedMultinomial([[(1.0, "phi")]])
    with pytest.raises(ValueError, match="init\\['theta'\\]"):
        emkit.fit(genetic_linkage(), [125, 18, 20, 34], init={"theta": 1.5})


def test_cell_names_and_unidentified_theta_are_errors():
    with pytest.raises(ValueError, match="cell_names: expected 2 names, got 1"):
        GroupedMultinomial([[(0.5, "const")], [(0.5, "theta"), (0.5, "1-theta")]], cell_names=["a"])
    model = GroupedMultinomial([[(0.5, "const")], [(0.5, "theta"), (0.5, "1-theta")]])
    with pytest.raises(ValueError, match="counts: no observation falls in a cell whose probability depends on θ"):
        emkit.fit(model, [10, 0])
