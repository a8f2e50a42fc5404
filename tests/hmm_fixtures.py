"""Random HMM parameters and a comparison with hmmlearn shared by the HMM tests."""

import numpy as np
import pytest

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def random_gaussian_params(rng, k, d, covariance_type):
    """Random start/transition probabilities, means and covariances of the given type."""
    a = rng.normal(size=(k, d, d))
    full = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    covars = {"full": full, "tied": full[0], "diag": rng.uniform(0.5, 2.0, (k, d)),
              "spherical": rng.uniform(0.5, 2.0, k)}[covariance_type]
    return {"startprob": rng.dirichlet(np.ones(k)), "transmat": rng.dirichlet(np.ones(k) * 2, size=k),
            "means": rng.normal(scale=2.0, size=(k, d)), "covars": covars}


def assert_inference_agrees(ours, theirs, X, their_X, lengths) -> None:
    """emkit's fitted HMM and hmmlearn's give the same score, decodings (Viterbi and MAP, with
    Viterbi's log-probability), predictions, posteriors, ``score_samples``, BIC and AIC."""
    assert ours.score(X, lengths) == pytest.approx(theirs.score(their_X, lengths), rel=1e-12)
    for algorithm in ("viterbi", "map"):
        logprob, states = ours.decode(X, lengths, algorithm=algorithm)
        their_logprob, their_states = theirs.decode(their_X, lengths, algorithm=algorithm)
        np.testing.assert_array_equal(states, their_states)
        if algorithm == "viterbi":
            assert logprob == pytest.approx(their_logprob, rel=1e-12)
    np.testing.assert_array_equal(ours.predict(X, lengths), theirs.predict(their_X, lengths))
    np.testing.assert_allclose(ours.predict_proba(X, lengths), theirs.predict_proba(their_X, lengths), atol=1e-12)
    logprob, posteriors = ours.score_samples(X, lengths)
    their_logprob, their_posteriors = theirs.score_samples(their_X, lengths)
    assert logprob == pytest.approx(their_logprob, rel=1e-12)
    np.testing.assert_allclose(posteriors, their_posteriors, atol=1e-12)
    assert ours.bic(X, lengths) == pytest.approx(theirs.bic(their_X, lengths), rel=1e-12)
    assert ours.aic(X, lengths) == pytest.approx(theirs.aic(their_X, lengths), rel=1e-12)
