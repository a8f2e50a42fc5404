"""The data-taking M-step contract (engine/data_pass.py): a toy model whose M-step needs the data.

The toy: y_i ~ π_i N(−2, 1) + (1 − π_i) N(2, 1) with logit weights π_i = softmax(0, (1, z_i)β)_0 of a
covariate z_i; only β is estimated. Its M-step is a weighted logistic regression of the
responsibilities on z (no finite statistics), run by damped Newton over ``data_pass.sum``.
"""

import warnings
from functools import partial

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import norm

import emkit
from emkit.engine.data_pass import DataPass
from emkit.engine.model import EMModel
from emkit.exceptions import AscentWarning
from emkit.kernels.multinomial_logit import multinomial_logit_derivatives, multinomial_logit_log_proba
from emkit.kernels.newton import maximize_concave

MEANS = np.array([-2.0, 2.0])


def _joint(data, coef):
    """log π_ik + log N(y_i; μ_k, 1) (n × 2) and the design (1, z)."""
    design = np.column_stack([np.ones(len(data)), data[:, 1]])
    return multinomial_logit_log_proba(design, coef) + norm.logpdf(data[:, :1], MEANS, 1.0), design


def _q_derivatives(chunk, old, coef):
    """Q(β | β_old) of one chunk: the logit part, with responsibilities at β_old."""
    joint, design = _joint(chunk, old)
    responsibilities = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    value, gradient, hessian = multinomial_logit_derivatives(design, responsibilities, None, coef)
    return {"value": value, "gradient": gradient, "hessian": hessian}


class LogitWeightsToy(EMModel):
    param_names = ("coef",)
    m_step_uses_data = True

    def __init__(self, inner_max_iter=100):
        self.inner_max_iter = inner_max_iter

    def prepare(self, data):
        return np.asarray(data, dtype=float).reshape(-1, 2)

    def initial_params(self, data, rng=None):
        return {"coef": np.zeros((2, 1)) if rng is None else rng.normal(size=(2, 1))}

    def e_step(self, data, params):
        joint, _ = _joint(data, params["coef"])
        return {"n": np.array(float(len(data)))}, float(logsumexp(joint, axis=1).sum())

    def m_step(self, stats, params):
        raise AssertionError("the engine must call m_step_with_data")

    def m_step_with_data(self, stats, params, data_pass):
        old = params["coef"]

        def derivatives(theta):
            total = data_pass.sum(partial(_q_derivatives, old=old, coef=theta))
            return total["value"], total["gradient"], total["hessian"]

        result = maximize_concave(derivatives, old, max_iter=self.inner_max_iter)
        return {"coef": result.theta}


def toy_data(n=600, seed=0, beta=(0.4, -1.5)):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    first = rng.random(n) < 1.0 / (1.0 + np.exp(beta[0] + beta[1] * z))   # class 0 is the reference
    y = np.where(first, MEANS[0], MEANS[1]) + rng.normal(size=n)
    return np.column_stack([y, z])


def _direct_maximum(data):
    def negative(beta):
        joint, _ = _joint(data, beta.reshape(2, 1))
        return -logsumexp(joint, axis=1).sum()

    return minimize(negative, np.zeros(2), method="BFGS", options={"gtol": 1e-8})


def test_fit_equals_direct_maximisation_and_dask_equals_memory():
    data = toy_data()
    model = LogitWeightsToy()
    memory = emkit.fit(model, data)
    direct = _direct_maximum(data)
    np.testing.assert_allclose(memory.params["coef"].ravel(), direct.x, atol=1e-5)
    assert memory.loglik == pytest.approx(-direct.fun, abs=1e-8)
    with dask.config.set(scheduler="threads"):
        chunked = emkit.fit(model, da.from_array(data, chunks=(150, 2)))
    # The same iterates up to round-off in the sums (the stopping rule may fire one step apart).
    steps = min(chunked.n_iter, memory.n_iter)
    np.testing.assert_allclose(chunked.trace.loglik[:steps], memory.trace.loglik[:steps], rtol=1e-12)
    np.testing.assert_allclose(chunked.params["coef"], memory.params["coef"], rtol=1e-6)
    assert chunked.loglik == pytest.approx(memory.loglik, rel=1e-13)


def test_squarem_and_restarts_reach_the_same_maximum():
    data = toy_data(seed=3)
    model = LogitWeightsToy()
    plain = emkit.fit(model, data)
    accelerated = emkit.fit(model, data, accelerate="squarem", n_init=3, random_state=0)
    np.testing.assert_allclose(accelerated.params["coef"], plain.params["coef"], atol=1e-6)
    assert accelerated.loglik == pytest.approx(plain.loglik, abs=1e-8)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_one_newton_step_per_m_step_still_ascends(seed):
    # A generalised EM step: the inner loop stopped after one damped Newton step never lowers Q.
    data = toy_data(n=200, seed=seed, beta=(1.0, 3.0))
    rng = np.random.default_rng(seed)
    start = {"coef": rng.normal(scale=3.0, size=(2, 1))}
    with warnings.catch_warnings():
        warnings.simplefilter("error", AscentWarning)
        result = emkit.fit(LogitWeightsToy(inner_max_iter=1), data, init=start, max_iter=30, tol=1e-14,
                           param_tol=None)
    assert np.all(np.diff(result.trace.loglik) >= -1e-9 * np.abs(result.trace.loglik[1:]))
    assert result.trace.loglik[-1] > result.trace.loglik[0]


def test_data_pass_sums_chunks_and_counts_passes():
    data = toy_data(n=90)
    model = LogitWeightsToy()
    coef = np.array([[0.1], [0.3]])
    whole = DataPass(model, data).sum(partial(_q_derivatives, old=coef, coef=coef))
    with dask.config.set(scheduler="synchronous"):
        chunked = emkit.engine.dask.DaskData(model, da.from_array(data, chunks=(20, 2)))
        data_pass = DataPass(model, chunked)
        total = data_pass.sum(partial(_q_derivatives, old=coef, coef=coef))
    assert data_pass.chunked and data_pass.n_passes == 1
    for key in whole:
        np.testing.assert_allclose(total[key], whole[key], rtol=1e-12)


def test_online_and_monte_carlo_em_refuse_a_data_taking_m_step():
    data = toy_data(n=50)
    with pytest.raises(ValueError, match="online EM.*takes the data|takes the data.*online EM"):
        emkit.fit_online(LogitWeightsToy(), [data[:25], data[25:]])
    from emkit.variants.mcem import fit_mcem

    with pytest.raises(ValueError, match="Monte Carlo EM"):
        fit_mcem(LogitWeightsToy(), data)
