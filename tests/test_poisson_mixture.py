import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

import emkit
from emkit import datasets
from emkit.engine import add_stats

from direct_mle import maximize

COUNTS = np.array(datasets.hasselblad_deaths(), dtype=float)
START = {"weights": [0.3, 0.7], "rates": [1.0, 2.5]}


def hasselblad_loglik(x):
    """x = (π_1, λ_1, λ_2); Σ_x n_x log(π Pois(x; λ_1) + (1 − π) Pois(x; λ_2)), written by hand."""
    w, l1, l2 = x
    values = np.arange(COUNTS.size)
    log_fact = gammaln(values + 1)
    p = w * np.exp(values * np.log(l1) - l1 - log_fact) + (1 - w) * np.exp(values * np.log(l2) - l2 - log_fact)
    return COUNTS @ np.log(p)


@pytest.fixture(scope="module")
def direct():
    return maximize(hasselblad_loglik, np.array([0.35, 1.2, 2.7]))


def test_hasselblad_matches_direct_maximization(direct):
    result = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS, init=START)
    assert result.converged
    np.testing.assert_allclose(result.params["weights"][0], direct[0], rtol=1e-7)
    np.testing.assert_allclose(result.params["rates"], direct[1:], rtol=1e-7)
    assert result.loglik == pytest.approx(float(np.real(hasselblad_loglik(direct))), rel=1e-12)


def test_hasselblad_published_values():
    # Hasselblad (1969): π = 0.3599, λ = (1.2561, 2.6634).
    result = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS, init=START)
    np.testing.assert_allclose(result.params["weights"][0], 0.3599, atol=5e-5)
    np.testing.assert_allclose(result.params["rates"], [1.2561, 2.6634], atol=5e-5)


def test_squarem_same_fixed_point_with_20x_fewer_evaluations(direct):
    plain = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS, init=START)
    fast = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS, init=START, accelerate="squarem")
    assert fast.converged and plain.converged
    np.testing.assert_allclose(emkit.EMModel.to_vector(fast.model, fast.params),
                               emkit.EMModel.to_vector(plain.model, plain.params), atol=1e-6)
    np.testing.assert_allclose(fast.params["rates"], direct[1:], rtol=1e-9)
    assert plain.n_evaluations >= 20 * fast.n_evaluations, (plain.n_evaluations, fast.n_evaluations)


@pytest.mark.parametrize("scheme", ["SqS1", "SqS2", "SqS3"])
def test_every_squarem_scheme_is_monotone_and_converges(scheme, direct):
    fast = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS, init=START, accelerate=emkit.Squarem(scheme=scheme))
    assert np.all(np.diff(fast.trace.loglik) >= -1e-12 * abs(fast.loglik))
    np.testing.assert_allclose(fast.params["rates"], direct[1:], rtol=1e-9)


def test_one_component_is_the_sample_mean():
    result = emkit.fit(emkit.PoissonMixture(1, data="frequencies"), COUNTS)
    assert float(result.params["rates"][0]) == pytest.approx(COUNTS @ np.arange(10) / COUNTS.sum(), rel=1e-12)


def test_mapping_data_and_components_sorted():
    table = {int(x): int(n) for x, n in enumerate(COUNTS)}
    result = emkit.fit(emkit.PoissonMixture(2), table, init={"weights": [0.7, 0.3], "rates": [2.5, 1.0]})
    assert result.params["rates"][0] < result.params["rates"][1]
    # the same estimate as the sequence of frequencies (Hasselblad 1969: λ = 1.2561, 2.6634)
    np.testing.assert_allclose(result.params["rates"], [1.2561, 2.6634], atol=5e-5)
    assert result.params["weights"][0] == pytest.approx(0.3599, abs=5e-5)


def test_halves_add():
    model = emkit.PoissonMixture(3, data="frequencies")
    params = {"weights": np.array([0.2, 0.5, 0.3]), "rates": np.array([0.5, 2.0, 5.0])}
    half = np.floor(COUNTS / 2)
    prepared = [model.prepare(x) for x in (half, COUNTS - half, COUNTS)]
    (s1, l1), (s2, l2), (sw, lw) = (model.e_step(d, params) for d in prepared)
    for key in sw:
        np.testing.assert_allclose(add_stats(s1, s2)[key], sw[key], rtol=1e-12)
    assert l1 + l2 == pytest.approx(lw, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(0, 200), min_size=3, max_size=12).filter(lambda c: sum(c) > 0),
       k=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
@pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:n_components=.* exceeds the .* distinct observed values:UserWarning")
def test_ascent_property(counts, k, seed):
    """EM never lowers ℓ, also where the mixture is not identified (more components than values:
    the warning that says so is expected here)."""
    assume(sum(counts) >= k)  # fewer observations than components is refused (test_bad_inputs.py)
    model = emkit.PoissonMixture(k, data="frequencies")
    data = model.prepare(counts)
    start = model.initial_params(data, np.random.default_rng(seed))
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        result = emkit.fit(model, counts, init=start, max_iter=60, tol=0, param_tol=None)
    assert np.all(np.diff(result.trace.loglik) >= -1e-10 * np.abs(result.trace.loglik[1:]))


def test_bad_input():
    with pytest.raises(ValueError, match="n_components"):
        emkit.PoissonMixture(0)
    with pytest.raises(ValueError, match="counts: .*non-negative"):
        emkit.fit(emkit.PoissonMixture(2, data="frequencies"), [1, -2, 3])
    with pytest.raises(ValueError, match="init\\['rates'\\]"):
        emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS, init={"weights": [0.5, 0.5], "rates": [1.0, -1.0]})


def test_bad_mapping_keys_and_aliased_init():
    with pytest.raises(ValueError, match="counts: values must be non-negative integers"):
        emkit.fit(emkit.PoissonMixture(2), {"one": 3, 2: 5})
    with pytest.raises(ValueError, match="counts: values must be non-negative integers"):
        emkit.fit(emkit.PoissonMixture(2), {0.5: 3, 2: 5})
    init = {"weights": np.array([0.3, 0.7]), "rates": np.array([1.0, 2.5])}
    result = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS, init=init)
    init["weights"][:], init["rates"][:] = 0.5, 9.0
    np.testing.assert_array_equal(result.trace.params[0]["weights"], [0.3, 0.7])
    np.testing.assert_array_equal(result.trace.params[0]["rates"], [1.0, 2.5])


def test_face_over_the_mixture_of_the_poisson_family_iterate_by_iterate():
    """PoissonMixture is MixtureModel(Poisson(1), K) on the table's values as rows weighted by
    their frequencies, with the components ordered by rate: the same trace, and the same
    empty-component policy (its warning)."""
    from emkit import families
    from emkit.latent import MixtureModel

    values = np.flatnonzero(COUNTS).astype(float)
    mixture = MixtureModel(families.Poisson(1), 2, order_by="lambdas", n_jobs=1)
    start = {"weights": np.array([0.7, 0.3]), "lambdas": np.array([[2.5], [1.0]])}
    options = dict(tol=0, param_tol=None, max_iter=40)
    with pytest.warns(emkit.ConvergenceWarning):
        face = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), COUNTS,
                         init={"weights": [0.7, 0.3], "rates": [2.5, 1.0]}, **options)
        direct = emkit.fit(mixture, (values[:, None], COUNTS[COUNTS > 0]), init=start, **options)
    np.testing.assert_array_equal(face.trace.loglik, direct.trace.loglik)
    np.testing.assert_array_equal(face.params["rates"], direct.params["lambdas"][:, 0])
    np.testing.assert_array_equal(face.params["weights"], direct.params["weights"])
    assert face.params["rates"][0] < face.params["rates"][1]  # sorted by the mixture's order_by
    with pytest.warns(emkit.DegenerateComponentWarning, match=r"mixture component\(s\) \[2\] received no weight"), \
            pytest.warns(emkit.ConvergenceWarning):
        emkit.fit(emkit.PoissonMixture(3, data="frequencies"), COUNTS, max_iter=3, tol=0, param_tol=None,
                  init={"weights": [0.4, 0.3, 0.3], "rates": [1.0, 2.5, 60.0]})


def test_mixture_order_by_sorts_components_lexicographically():
    from emkit import families
    from emkit.latent import MixtureModel

    model = MixtureModel(families.Poisson(2), 3, order_by="lambdas")
    params = {"weights": np.array([0.2, 0.3, 0.5]), "lambdas": np.array([[2.0, 1.0], [1.0, 5.0], [1.0, 4.0]])}
    ordered = model.canonical(params)
    np.testing.assert_array_equal(ordered["lambdas"], [[1.0, 4.0], [1.0, 5.0], [2.0, 1.0]])
    np.testing.assert_array_equal(ordered["weights"], [0.5, 0.3, 0.2])
    assert MixtureModel(families.Poisson(2), 3).canonical(params) is params  # no order_by: unchanged
    with pytest.raises(ValueError, match="^order_by: "):
        MixtureModel(families.Poisson(2), 3, order_by="rates")
