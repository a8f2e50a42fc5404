"""MixtureModel(family, k): the mixture latent layer over any component family.

Checked against independent computations: emkit.GaussianMixture (the hand-written Gaussian
mixture) from the same start, direct numerical maximisation of the observed-data likelihood
(scipy, softmax parametrisation, several starts), the saturated multinomial's closed form,
repeated rows for sample weights, and the numerical Hessian for Louis's information.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.special import log_softmax, logsumexp

import emkit
from emkit.engine.stats import add_stats
from emkit.exceptions import ConvergenceWarning, DegenerateComponentWarning
from emkit.latent import MixtureModel
from emkit.families.categorical import CategoricalEmission
from emkit.families.gaussian import Gaussian

TIGHT = {"tol": 1e-14, "param_tol": 1e-12, "max_iter": 20_000}


def three_clusters(n: int, seed: int, missing: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2)) @ np.array([[1.0, 0.3], [0.0, 0.8]])
    if missing:
        X[rng.choice(n, n // 10, replace=False), rng.integers(0, 2, n // 10)] = np.nan
    return X


# --------------------------------------------------------------------------- Gaussian family
@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing-cells"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gaussian_family_mixture_equals_gaussian_mixture_from_the_same_start(covariance_type, missing):
    """The same EM map: equal iterates after 25 steps (to round-off) and the same maximum.

    After convergence the parameters agree to ~1e-7 only because GaussianMixture stops on the
    change of the log-likelihood, which stalls in float64 while the parameters still move by
    ~1e-8 per step; emkit.fit's ``param_tol`` runs on to the fixed point.
    """
    X = three_clusters(300, 1, missing)
    weights = np.array([0.3, 0.3, 0.4])
    means = np.array([[0.5, -0.5], [3.0, 2.0], [0.0, 4.0]])
    covars = np.tile(np.eye(2), (3, 1, 1)) if covariance_type == "full" else np.ones((3, 2))
    precisions = np.linalg.inv(covars) if covariance_type == "full" else 1.0 / covars

    def peer(**options):
        return emkit.GaussianMixture(3, covariance_type=covariance_type, weights_init=weights, means_init=means,
                                     precisions_init=precisions, **options).fit(X)

    def ours(**options):
        model = MixtureModel(Gaussian(2, covariance_type), 3)
        return emkit.fit(model, X, init={"weights": weights, "means": means, "covars": covars}, **options)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        steps = [(ours(tol=0.0, param_tol=None, max_iter=25), peer(tol=0.0, max_iter=25))]
    steps.append((ours(**TIGHT), peer(tol=1e-16, max_iter=20_000)))
    for (result, estimator), atol in zip(steps, (1e-12, 1e-6)):
        assert result.loglik == pytest.approx(estimator.score(X) * X.shape[0], rel=1e-12)
        np.testing.assert_allclose(result.params["weights"], estimator.weights_, rtol=0, atol=atol)
        np.testing.assert_allclose(result.params["means"], estimator.means_, rtol=0, atol=atol)
        np.testing.assert_allclose(result.params["covars"], estimator.covariances_, rtol=0, atol=atol)
    assert steps[1][0].converged and steps[1][1].converged_


def test_integer_sample_weights_equal_repeated_rows():
    X = three_clusters(120, 2, missing=True)
    counts = np.random.default_rng(3).integers(0, 4, X.shape[0])
    model = MixtureModel(Gaussian(2, "diag"), 2)
    weighted = emkit.fit(model, (X, counts.astype(float)), **TIGHT)
    repeated = emkit.fit(MixtureModel(Gaussian(2, "diag"), 2), np.repeat(X, counts, axis=0),
                         init=weighted.params, **TIGHT)
    assert weighted.loglik == pytest.approx(repeated.loglik, rel=1e-12)
    for name in ("weights", "means", "covars"):
        np.testing.assert_allclose(weighted.params[name], repeated.params[name], rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- categorical family
def direct_maximum(objective, n_free: int, seed: int, n_starts: int = 6) -> tuple[float, np.ndarray]:
    """max over unconstrained ``u`` of ``objective(u)`` by BFGS from several random starts."""
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_starts):
        found = optimize.minimize(lambda u: -objective(u), rng.normal(size=n_free), method="BFGS",
                                  options={"gtol": 1e-9})
        if best is None or found.fun < best.fun:
            best = found
    return -best.fun, best.x


def test_latent_class_model_reaches_the_direct_maximum_of_the_likelihood():
    rng = np.random.default_rng(4)
    k, m = 2, 4
    y = rng.choice(m, size=400, p=[0.1, 0.2, 0.3, 0.4]).astype(float)
    y[:15] = np.nan  # missing answers contribute 0
    weights = rng.uniform(0.5, 2.0, y.size)
    observed = ~np.isnan(y)
    codes, w = y[observed].astype(int), weights[observed]

    def loglik(u):
        log_pi = log_softmax(u[:k])
        log_b = log_softmax(u[k:].reshape(k, m), axis=1)
        return float(w @ logsumexp(log_pi[None, :] + log_b[:, codes].T, axis=1))

    direct, _ = direct_maximum(loglik, k + k * m, seed=5)
    totals = np.bincount(codes, weights=w, minlength=m)
    saturated = float(totals @ np.log(totals / totals.sum()))  # the one-item model is a categorical
    assert direct == pytest.approx(saturated, abs=1e-6)
    for seed in range(3):
        result = emkit.fit(MixtureModel(CategoricalEmission(m), k), (y, weights), random_state=seed, n_init=2,
                           **TIGHT)
        assert result.loglik == pytest.approx(direct, abs=1e-6)


@pytest.mark.parametrize("weights_prior", [1.0, 3.0], ids=["ml", "map"])
def test_weights_with_a_fixed_family_equal_the_direct_maximum(weights_prior):
    rng = np.random.default_rng(6)
    emissionprob = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    y = rng.choice(3, size=300, p=[0.3, 0.3, 0.4])
    model = MixtureModel(CategoricalEmission(3), 3, weights_prior=weights_prior, learn={"weights"})
    result = emkit.fit(model, y, init={"weights": np.full(3, 1 / 3), "emissionprob": emissionprob}, **TIGHT)

    def objective(u):
        log_pi = log_softmax(u)
        return float(logsumexp(log_pi[None, :] + np.log(emissionprob[:, y].T), axis=1).sum()
                     + (weights_prior - 1.0) * log_pi.sum())

    direct, u = direct_maximum(objective, 3, seed=7)
    assert result.loglik == pytest.approx(direct, abs=1e-6)
    np.testing.assert_allclose(result.params["weights"], np.exp(log_softmax(u)), atol=1e-6)
    np.testing.assert_array_equal(result.params["emissionprob"], emissionprob)


# --------------------------------------------------------------------------- statistics and ascent
@pytest.mark.parametrize("case", ["gaussian", "categorical"])
def test_statistics_of_two_halves_add_up_to_the_whole(case):
    rng = np.random.default_rng(8)
    if case == "gaussian":
        X = three_clusters(20_000, 9, missing=True)  # several row blocks
        model = MixtureModel(Gaussian(2, "full"), 3)
    else:
        X = rng.integers(0, 5, 20_000).astype(float)
        X[rng.random(X.size) < 0.05] = np.nan
        model = MixtureModel(CategoricalEmission(5), 3)
    weights = rng.uniform(0.0, 2.0, X.shape[0])
    params = model.initial_params(model.prepare((X, weights)), np.random.default_rng(10))
    data = model.prepare((X, weights))
    whole, loglik = model.e_step(data, params)
    cut = 7_777
    first, loglik_first = model.e_step(model.prepare_chunk((X[:cut], weights[:cut]), data.context), params)
    second, loglik_second = model.e_step(model.prepare_chunk((X[cut:], weights[cut:]), data.context), params)
    halves = add_stats(first, second)
    assert set(halves) == set(whole) and "counts" in whole
    for key in whole:
        np.testing.assert_allclose(halves[key], whole[key], rtol=1e-10, atol=1e-8, err_msg=key)
    assert loglik_first + loglik_second == pytest.approx(loglik, rel=1e-12)
    assert whole["counts"].sum() == pytest.approx(weights.sum(), rel=1e-12)


def objective_trace(model: MixtureModel, data, params, n_iter: int) -> tuple[list[float], dict]:
    data = model.prepare(data)
    trace = []
    for _ in range(n_iter):
        stats, loglik = model.e_step(data, params)
        trace.append(loglik + model.log_prior(params))
        params = model.m_step(stats, params)
    return trace, params


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 3), gaussian=st.booleans(),
       weights_prior=st.sampled_from([1.0, 2.5]))
def test_em_never_decreases_the_objective(seed, k, gaussian, weights_prior):
    rng = np.random.default_rng(seed)
    if gaussian:
        X = rng.normal(size=(60, 2)) * rng.uniform(0.5, 3.0, 2) + rng.integers(0, 2, (60, 1)) * 3.0
        X[rng.random(X.shape) < 0.1] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 0.0
        model = MixtureModel(Gaussian(2, "diag"), k, weights_prior=weights_prior)
    else:
        X = rng.integers(0, 4, 60)
        model = MixtureModel(CategoricalEmission(4), k, weights_prior=weights_prior)
    params = model.initial_params(model.prepare(X), rng)
    params["weights"] = rng.dirichlet(np.ones(k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        trace, _ = objective_trace(model, X, params, 15)
    assert np.all(np.isfinite(trace))
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:])), trace


@pytest.mark.parametrize("gaussian", [True, False], ids=["gaussian", "categorical"])
def test_an_empty_component_keeps_its_parameters_with_weight_zero(gaussian):
    rng = np.random.default_rng(11)
    # component 2 gets responsibilities ~1e-60: below the empty threshold, yet not exactly 0
    if gaussian:  # component 2 starts twelve standard deviations away
        X = rng.normal(size=(80, 2))
        model = MixtureModel(Gaussian(2, "diag"), 3)
        params = {"weights": np.array([0.5, 0.3, 0.2]), "means": np.array([[-1.0, 0.0], [1.0, 0.0], [12.0, 12.0]]),
                  "covars": np.ones((3, 2))}
        family = "means"
    else:  # component 2 almost only emits a symbol that never occurs
        X = rng.integers(0, 2, 80)
        model = MixtureModel(CategoricalEmission(3), 3)
        params = {"weights": np.array([0.4, 0.4, 0.2]),
                  "emissionprob": np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [1e-60, 1e-60, 1.0 - 2e-60]])}
        family = "emissionprob"
    with pytest.warns(DegenerateComponentWarning, match=r"component\(s\) \[2\]"):
        trace, final = objective_trace(model, X, params, 10)
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    assert final["weights"][2] <= 1e-12 and final["weights"].sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(final[family][2], params[family][2])


# --------------------------------------------------------------------------- standard errors
@pytest.mark.parametrize("case", ["gaussian-full", "categorical-weights"])
def test_louis_standard_errors_equal_the_hessians(case):
    if case == "gaussian-full":
        X = three_clusters(400, 12, missing=False)
        model = MixtureModel(Gaussian(2, "full", reg_covar=0.0), 3)
        result = emkit.fit(model, X, **TIGHT)
    else:
        rng = np.random.default_rng(13)
        y = rng.choice(3, size=500, p=[0.3, 0.3, 0.4])
        X = (y, rng.uniform(0.5, 1.5, y.size))  # with sample weights
        emissionprob = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
        model = MixtureModel(CategoricalEmission(3), 3, learn={"weights"})
        result = emkit.fit(model, X, init={"weights": np.full(3, 1 / 3), "emissionprob": emissionprob}, **TIGHT)
    louis = emkit.standard_errors(result, X, method="louis")
    hessian = emkit.standard_errors(result, X, method="hessian")
    assert louis.labels == hessian.labels and len(louis.labels) == model.n_free_parameters()
    np.testing.assert_allclose(louis.cov, hessian.cov, rtol=1e-4, atol=1e-9 * np.abs(hessian.cov).max())


# --------------------------------------------------------------------------- the rest of the contract
def test_parameters_description_sampling_and_responsibilities():
    model = MixtureModel(CategoricalEmission(4), 3)
    params = {"weights": np.array([0.2, 0.3, 0.5]), "emissionprob": np.full((3, 4), 0.25)}
    assert model.describe() == "mixture of 3 categorical"
    assert MixtureModel(Gaussian(2, "diag"), 2).describe() == "mixture of 2 Gaussian diag"
    free = model.to_free(params)
    assert free.size == len(model.free_labels(params)) == model.n_free_parameters() == 2 + 3 * 3
    restored = model.from_free(free, params)
    for name in model.param_names:
        np.testing.assert_allclose(restored[name], params[name])
    X, labels = model.sample(params, 5000, np.random.default_rng(14))
    assert X.shape == (5000, 1) and np.bincount(labels, minlength=3) / 5000 == pytest.approx(params["weights"],
                                                                                             abs=0.03)
    resp, log_p = model.responsibilities(X, params)
    np.testing.assert_allclose(resp, np.broadcast_to(params["weights"], resp.shape))  # equal rows: the prior
    np.testing.assert_allclose(log_p, np.log(0.25))
    assert model.predict(X, params).tolist() == [2] * 5000
    assert model.check_params(params)["weights"].tolist() == params["weights"].tolist()
    assert model.is_feasible(params) and not model.is_feasible({**params, "weights": np.array([0.5, 0.5, 0.5])})


@pytest.mark.parametrize("call, name", [
    (lambda: MixtureModel(CategoricalEmission(3), 0), "n_components"),
    (lambda: MixtureModel(CategoricalEmission(3), 2, weights_prior=0.5), "weights_prior"),
    (lambda: MixtureModel(CategoricalEmission(3), 2, learn={"rates"}), "learn"),
    (lambda: MixtureModel(CategoricalEmission(3), 2).prepare(([0, 1, 2], [1.0, -1.0, 1.0])), "sample_weight"),
    (lambda: MixtureModel(CategoricalEmission(3), 2).check_params(
        {"weights": [0.7, 0.7], "emissionprob": np.full((2, 3), 1 / 3)}), "weights"),
    (lambda: MixtureModel("categorical", 2), "family"),
])
def test_bad_arguments_name_themselves(call, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


@pytest.mark.parametrize("family", [Gaussian(2, "full"), emkit.families.StudentT(2, "diag"),
                                    emkit.families.Product([([0, 1], Gaussian(2, "diag"))])],
                         ids=["gaussian", "student-t", "product"])
def test_families_are_values_that_data_leave_unchanged(family):
    """Fitting changes nothing on a family: its centre of statistics lives with each prepared data
    set (and a chunked or streamed one's context), so one family serves data sets far apart, each
    fitted as by a family of its own."""
    rng = np.random.default_rng(21)
    near = np.concatenate([rng.normal(size=(150, 2)), rng.normal(size=(150, 2)) + 4.0])
    far = near * 1e-3 + 1e6
    before = repr(family), {key: repr(value) for key, value in vars(family).items()}
    shared = [emkit.fit(MixtureModel(family, 2), X, random_state=0).params for X in (near, far)]
    assert (repr(family), {key: repr(value) for key, value in vars(family).items()}) == before
    fresh = emkit.fit(MixtureModel(type(family)(**_arguments(family)), 2), far, random_state=0).params
    for name in fresh:
        np.testing.assert_allclose(shared[1][name], fresh[name], rtol=1e-12, err_msg=name)
    assert MixtureModel(family, 2).prepare(far).context is not None   # kept with the data


def _arguments(family):
    """The constructor arguments of a family (a new, equal one)."""
    if isinstance(family, emkit.families.Product):
        return {"parts": [([0, 1], Gaussian(2, "diag"))]}
    return {"n_features": family.n_features, "covariance_type": family.covariance_type}


def test_the_canonical_order_leaves_a_shared_parameter_as_it_is():
    """A tied covariance (d = k = 2, so its first axis could pass for the components') is shared
    by every component: reordering the components moves the means and weights, not it."""
    model = MixtureModel(Gaussian(2, "tied"), 2, order_by="means")
    tied = np.array([[2.0, 0.3], [0.3, 1.0]])
    params = {"weights": np.array([0.3, 0.7]), "means": np.array([[5.0, 0.0], [1.0, 0.0]]), "covars": tied}
    ordered = model.canonical(params)
    np.testing.assert_array_equal(ordered["means"], [[1.0, 0.0], [5.0, 0.0]])
    np.testing.assert_array_equal(ordered["weights"], [0.7, 0.3])
    np.testing.assert_array_equal(ordered["covars"], tied)
