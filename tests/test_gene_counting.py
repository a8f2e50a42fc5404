import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emkit
from emkit import datasets
from emkit.engine import add_stats
from emkit.models.gene_counting import GeneCounting, abo_blood_groups, peppered_moth

from direct_mle import maximize


def moth_loglik(x):
    """Observed log-likelihood of the moth data written out by hand; x = (p_C, p_I)."""
    c, i = x
    t = 1 - c - i
    return (85 * np.log(c * c + 2 * c * i + 2 * c * t) + 196 * np.log(i * i + 2 * i * t) + 341 * np.log(t * t))


def abo_loglik(x):
    a, b = x
    o = 1 - a - b
    return 186 * np.log(a * a + 2 * a * o) + 38 * np.log(b * b + 2 * b * o) + 13 * np.log(2 * a * b) + 284 * np.log(o * o)


def test_moth_matches_direct_maximization_to_8_digits():
    result = emkit.fit(peppered_moth(), datasets.peppered_moth_counts())
    direct = maximize(moth_loglik, np.array([0.1, 0.2]))
    expected = [direct[0], direct[1], 1 - direct.sum()]
    np.testing.assert_allclose(result.params["freq"], expected, rtol=1e-8)
    assert result.loglik == pytest.approx(float(np.real(moth_loglik(direct))), rel=1e-12)
    assert result.converged


def test_moth_published_values():
    # Givens & Hoeting, Computational Statistics, example 4.2: p_C = 0.07084, p_I = 0.18874, p_T = 0.74043.
    result = emkit.fit(peppered_moth(), datasets.peppered_moth_counts())
    np.testing.assert_allclose(result.params["freq"], [0.07084, 0.18874, 0.74043], atol=5e-6)
    # The classic figure: converged to 3 decimals in under five steps.
    np.testing.assert_allclose(result.trace.params[4]["freq"], result.params["freq"], atol=1e-3)


def test_abo_matches_direct_maximization_and_published_values():
    result = emkit.fit(abo_blood_groups(), datasets.abo_counts())
    direct = maximize(abo_loglik, np.array([0.3, 0.1]))
    np.testing.assert_allclose(result.params["freq"], [direct[0], direct[1], 1 - direct.sum()], rtol=1e-8)
    np.testing.assert_allclose(result.named_params()["A"], 0.2136, atol=5e-5)
    np.testing.assert_allclose(result.named_params()["B"], 0.0501, atol=5e-5)


def test_explicit_phenotype_map_equals_dominance_preset():
    explicit = GeneCounting(("C", "I", "T"), {
        "carbonaria": [("C", "C"), ("C", "I"), ("C", "T")],
        "insularia": [("I", "I"), ("I", "T")],
        "typica": [("T", "T")],
    })
    a = emkit.fit(explicit, datasets.peppered_moth_counts())
    b = emkit.fit(peppered_moth(), datasets.peppered_moth_counts())
    np.testing.assert_allclose(a.params["freq"], b.params["freq"], rtol=1e-12)


def test_abo_phenotypes_from_codominance():
    assert set(abo_blood_groups().phenotype_labels) == {"A", "B", "AB", "O"}


def test_statistics_of_halves_add_to_the_whole():
    model = peppered_moth()
    params = {"freq": np.array([0.2, 0.3, 0.5])}
    whole = np.array([85.0, 196.0, 341.0])
    first = np.array([40.0, 100.0, 141.0])
    s_whole, l_whole = model.e_step(whole, params)
    s1, l1 = model.e_step(first, params)
    s2, l2 = model.e_step(whole - first, params)
    np.testing.assert_allclose(add_stats(s1, s2)["allele_counts"], s_whole["allele_counts"], rtol=1e-13)
    assert l1 + l2 == pytest.approx(l_whole, rel=1e-13)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 500), min_size=4, max_size=4).filter(lambda c: sum(c) > 0),
       seed=st.integers(0, 2**32 - 1))
@pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")
def test_ascent_property_abo(counts, seed):
    model = abo_blood_groups()
    data = dict(zip(("A", "B", "AB", "O"), counts))
    start = model.initial_params(None, np.random.default_rng(seed))
    result = emkit.fit(model, data, init=start, max_iter=200, tol=0, param_tol=None)
    assert np.all(np.diff(result.trace.loglik) >= -1e-10 * np.abs(result.trace.loglik[1:]))


@pytest.mark.parametrize("data, message", [
    ({"carbonaria": 85, "melanic": 3}, "unknown phenotype"),
    ({"carbonaria": -1, "typica": 3}, "non-negative"),
    ({"carbonaria": 1.5}, "whole"),
    ({"carbonaria": 0, "typica": 0}, "all counts are zero"),
    ([1, 2], "expected 3 counts"),
    ({"typica": float("nan")}, "finite"),
])
def test_bad_counts_name_the_argument(data, message):
    with pytest.raises(ValueError, match=f"counts: .*{message}"):
        emkit.fit(peppered_moth(), data)


def test_bad_models_raise():
    with pytest.raises(ValueError, match="dominance: unknown allele"):
        GeneCounting(("A", "B"), dominance="A>X")
    with pytest.raises(ValueError, match="exactly one phenotype"):
        GeneCounting(("A", "B"), {"x": [("A", "A")], "y": [("B", "B")]})
    with pytest.raises(ValueError, match="init\\['freq'\\]"):
        emkit.fit(peppered_moth(), datasets.peppered_moth_counts(), init={"freq": [0.5, 0.6, -0.1]})


def test_user_data_is_not_modified():
    counts = {"carbonaria": 85, "insularia": 196, "typica": 341}
    init = {"freq": np.array([0.2, 0.3, 0.5])}
    emkit.fit(peppered_moth(), counts, init=init)
    assert counts == {"carbonaria": 85, "insularia": 196, "typica": 341}
    np.testing.assert_array_equal(init["freq"], [0.2, 0.3, 0.5])


def test_phenotype_without_genotypes_and_repeated_names_are_errors():
    with pytest.raises(ValueError, match="phenotypes: 'z' lists no genotype"):
        GeneCounting(("A", "B"), {"x": [("A", "A"), ("A", "B")], "y": [("B", "B")], "z": []})
    with pytest.raises(ValueError, match="phenotypes: names must be distinct"):
        GeneCounting(("A", "B"), {1: [("A", "A"), ("A", "B")], "1": [("B", "B")]})


def test_init_is_copied_not_aliased():
    init = {"freq": np.array([0.2, 0.3, 0.5])}
    result = emkit.fit(peppered_moth(), datasets.peppered_moth_counts(), init=init)
    init["freq"][:] = [0.0, 0.0, 1.0]
    np.testing.assert_array_equal(result.trace.params[0]["freq"], [0.2, 0.3, 0.5])
