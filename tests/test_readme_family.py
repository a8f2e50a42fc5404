"""The README's "Adding a family" runs as written (issue 15): its geometric family, in one short
file, is a mixture component, an HMM emission and gets standard errors; each answer is checked
against an independent computation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def run():
    """The section's Python block: the family (well under 100 lines), then its use."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Adding a family"):text.index("## The command line")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    family_lines = blocks[0].index("import emkit")
    assert len(blocks[0][:family_lines].strip().splitlines()) < 60
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    return namespace


def geometric_logpmf(x, mean):
    return x * np.log(mean) - (x + 1) * np.log1p(mean)


def test_the_mixture_is_the_direct_maximum(run):
    x = run["counts"][:, 0]

    def negative(theta):
        log_weights = np.array([0.0, theta[0]]) - logsumexp([0.0, theta[0]])
        means = np.exp(theta[1:])
        return -logsumexp(log_weights + geometric_logpmf(x[:, None], means), axis=1).sum()

    best = min((minimize(negative, start, method="BFGS") for start in ([0.0, 0.0, 2.0], [0.5, -0.5, 2.5])),
               key=lambda found: found.fun)
    mixture = run["mixture"]
    assert mixture.loglik == pytest.approx(-best.fun, rel=1e-8)
    assert np.sort(mixture.params["means"].ravel()) == pytest.approx(np.sort(np.exp(best.x[1:])), rel=1e-4)
    low, high = np.sort(mixture.params["means"].ravel())   # the true means were 1 and 9
    assert 0.5 < low < 2.0 and 6.0 < high < 12.0


def test_the_hmm_is_the_direct_maximum(run):
    """Forward algorithm over free start, transition and means, maximised by BFGS."""
    x = run["counts"][:, 0]

    def negative(theta):
        start = np.array([0.0, theta[0]]) - logsumexp([0.0, theta[0]])
        rows = np.array([[0.0, theta[1]], [theta[2], 0.0]])
        log_a = rows - logsumexp(rows, axis=1, keepdims=True)
        log_b = geometric_logpmf(x[:, None], np.exp(theta[3:]))
        alpha = start + log_b[0]
        for t in range(1, len(x)):
            alpha = logsumexp(alpha[:, None] + log_a, axis=0) + log_b[t]
        return -logsumexp(alpha)

    hmm = run["hmm"]
    means = hmm.params["means"].ravel()
    transmat = hmm.params["transmat"]
    start = np.clip(hmm.params["startprob"], 1e-12, None)
    theta0 = np.concatenate([[np.log(start[1] / start[0])],
                             [np.log(transmat[0, 1] / transmat[0, 0]), np.log(transmat[1, 0] / transmat[1, 1])],
                             np.log(means)])
    best = minimize(negative, theta0, method="BFGS")
    assert hmm.loglik >= -best.fun - 1e-6
    assert hmm.loglik == pytest.approx(-best.fun, abs=1e-4)


def test_louis_standard_errors_equal_the_hessians(run):
    import emkit

    hessian = emkit.standard_errors(run["mixture"], run["counts"], "hessian")
    np.testing.assert_allclose(run["errors"].se["means"], hessian.se["means"], rtol=1e-4)
    assert np.all(np.asarray(run["errors"].se["means"]) > 0)
