"""Categorical HMMs through the symbol table (no (n, K) frame): the same numbers as the frame path
of every other emission, against hmmlearn, and through the rare paths (a sequence redone in log
space, an impossible symbol, one long sequence split over threads)."""

from __future__ import annotations

import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn

from emkit import CategoricalHMM
from emkit.families.categorical import CategoricalEmission
from emkit.latent.hmm import HiddenMarkovModel
from emkit.latent.hmm_inference import MIN_CHUNK_ROWS


class FrameEmission(CategoricalEmission):
    """The same emission without its lookup table: the generic frame path."""

    def lookup_rows(self, X):
        return None


def random_params(rng, k, m):
    return {"startprob": rng.dirichlet(np.ones(k)), "transmat": rng.dirichlet(np.ones(k), size=k),
            "emissionprob": rng.dirichlet(np.ones(m), size=k)}


def both_paths(m, k, n_jobs):
    return (HiddenMarkovModel(CategoricalEmission(m), k, n_jobs=n_jobs),
            HiddenMarkovModel(FrameEmission(m), k, n_jobs=n_jobs))


def assert_same_inference(lookup, frame, data, params):
    """E-step statistics, log-likelihood, posteriors and Viterbi of the two paths agree."""
    stats, loglik = lookup.e_step(lookup.prepare(data), params)
    expected, expected_loglik = frame.e_step(frame.prepare(data), params)
    assert loglik == pytest.approx(expected_loglik, rel=1e-12)
    for name in expected:
        np.testing.assert_allclose(stats[name], expected[name], rtol=1e-11, atol=1e-11, err_msg=name)
    np.testing.assert_allclose(lookup.score_samples(data, params)[1], frame.score_samples(data, params)[1],
                               rtol=1e-11, atol=1e-13)
    path_logprob, path = lookup.decode(data, params)
    expected_logprob, expected_path = frame.decode(data, params)
    assert path_logprob == pytest.approx(expected_logprob, rel=1e-12)
    np.testing.assert_array_equal(path, expected_path)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_lookup_path_gives_the_frame_path_numbers_with_missing_symbols(n_jobs):
    rng = np.random.default_rng(3)
    k, m = 3, 5
    lengths = [1, 7, 40, 300, 2 * MIN_CHUNK_ROWS + 17]     # the long one alone: split over threads
    X = rng.integers(0, m, size=sum(lengths)).astype(float)
    X[rng.random(X.size) < 0.05] = np.nan
    params = random_params(rng, k, m)
    lookup, frame = both_paths(m, k, n_jobs)
    assert_same_inference(lookup, frame, (X, lengths), params)
    assert_same_inference(lookup, frame, (X[-lengths[-1]:], None), params)


def test_a_sequence_redone_in_log_space_is_recounted():
    """A step that keeps less than 1e-200 of the forward mass sends its sequence to the log-space
    kernel; the symbol counts of the batch are then recounted from the posteriors."""
    k, m = 2, 3
    params = {"startprob": np.array([1.0, 0.0]), "transmat": np.array([[1 - 1e-220, 1e-220], [0.5, 0.5]]),
              "emissionprob": np.array([[1 - 1e-300, 0.0, 1e-300], [0.25, 0.25, 0.5]])}
    X = np.array([0, 0, 0, 2, 2, 1, 0, 1, 2, 0, 1, 1, 0, 2, 0], dtype=float)
    lengths = [6, 9]       # the first sequence needs the log-space kernel, the second does not
    lookup, frame = both_paths(m, k, 1)
    assert_same_inference(lookup, frame, (X, lengths), params)
    stats, _ = lookup.e_step(lookup.prepare((X, lengths)), params)
    np.testing.assert_allclose(stats["symbol_counts"].sum(axis=0), np.bincount(X.astype(int), minlength=m),
                               rtol=1e-12)


def test_an_impossible_symbol_gives_nan_posteriors_and_minus_infinity():
    k, m = 2, 3
    params = {"startprob": np.array([0.5, 0.5]), "transmat": np.full((2, 2), 0.5),
              "emissionprob": np.array([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])}
    X, lengths = np.array([0, 1, 2, 0, 1, 1, 0], dtype=float), [3, 4]
    lookup, frame = both_paths(m, k, 1)
    loglik, posteriors = lookup.score_samples((X, lengths), params)
    expected_loglik, expected = frame.score_samples((X, lengths), params)
    assert loglik == expected_loglik == -np.inf
    assert np.isnan(posteriors[:3]).all()
    np.testing.assert_allclose(posteriors[3:], expected[3:], rtol=1e-12)


def test_categorical_e_step_makes_no_frame():
    """The E-step reads the (M + 1) x K table: no (n, K) frame of log-likelihoods is made (only
    the posteriors are n x K)."""
    rng = np.random.default_rng(0)
    model = HiddenMarkovModel(CategoricalEmission(4), 3, n_jobs=1)
    data = model.prepare((rng.integers(0, 4, size=5000), [2500, 2500]))
    model.e_step(data, random_params(rng, 3, 4))
    frames = [name for name, buffer in data.workspace.items() if np.shape(buffer) == (5000, 3)]
    assert frames == ["posteriors"]


@pytest.mark.parametrize("lengths", [[3 * MIN_CHUNK_ROWS], [500] * 6])
def test_baum_welch_equals_hmmlearn_scaling_to_1e12(lengths):
    rng = np.random.default_rng(1)
    k, m = 4, 6
    truth = hmmlearn.CategoricalHMM(k, n_features=m)
    truth.startprob_, truth.transmat_ = np.full(k, 1 / k), 0.8 * np.eye(k) + 0.2 * rng.dirichlet(np.ones(k), size=k)
    truth.emissionprob_ = rng.dirichlet(np.ones(m), size=k)
    X = np.vstack([truth.sample(n, random_state=i)[0] for i, n in enumerate(lengths)])
    start = random_params(rng, k, m)
    ours = CategoricalHMM(k, n_features=m, n_iter=8, tol=0.0, init_params="", n_jobs=2)
    theirs = hmmlearn.CategoricalHMM(k, n_features=m, n_iter=8, tol=-np.inf, init_params="", implementation="scaling")
    for model in (ours, theirs):
        for name, value in start.items():
            setattr(model, f"{name}_", value.copy())
    with pytest.warns(Warning):      # tol=0: "did not converge"
        ours.fit(X, lengths)
    theirs.fit(X, lengths)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.monitor_.history, rtol=1e-12)
    np.testing.assert_allclose(ours.emissionprob_, theirs.emissionprob_, rtol=1e-9, atol=1e-12)
    for name in start:     # inference at the same parameters
        setattr(theirs, f"{name}_", getattr(ours, f"{name}_"))
    np.testing.assert_allclose(ours.predict_proba(X, lengths), theirs.predict_proba(X, lengths), atol=1e-12)
    assert ours.score(X, lengths) == pytest.approx(theirs.score(X, lengths), rel=1e-12)
    logprob, path = ours.decode(X, lengths)
    expected_logprob, _ = theirs.decode(X, lengths)
    assert logprob == pytest.approx(expected_logprob, rel=1e-12)
    # the path scores what it claims (paths themselves may differ where two tie exactly)
    log_start, log_trans, log_emission = (np.log(getattr(ours, f"{name}_"))
                                          for name in ("startprob", "transmat", "emissionprob"))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    within = np.setdiff1d(np.arange(1, X.shape[0]), starts)
    path_logprob = (log_start[path[starts]].sum() + log_emission[path, X[:, 0]].sum()
                    + log_trans[path[within - 1], path[within]].sum())
    assert path_logprob == pytest.approx(expected_logprob, rel=1e-12)


@pytest.mark.parametrize("lengths", [[2 * MIN_CHUNK_ROWS + 5], [50, 700, 3], [6, 9]])
def test_posteriors_without_transition_counts_are_the_e_step_posteriors(lengths):
    """``score_samples`` skips the expected transition counts; its posteriors are the E-step's,
    bit for bit (one long sequence split in passes, several sequences, a log-space redo)."""
    rng = np.random.default_rng(5)
    k, m = 3, 4
    params = random_params(rng, k, m)
    X = rng.integers(0, m, size=sum(lengths)).astype(float)
    if lengths == [6, 9]:     # the first sequence needs the log-space kernel
        k, m = 2, 3
        params = {"startprob": np.array([1.0, 0.0]), "transmat": np.array([[1 - 1e-220, 1e-220], [0.5, 0.5]]),
                  "emissionprob": np.array([[1 - 1e-300, 0.0, 1e-300], [0.25, 0.25, 0.5]])}
        X = np.array([0, 0, 0, 2, 2, 1, 0, 1, 2, 0, 1, 1, 0, 2, 0], dtype=float)
    for model in both_paths(m, k, 2):
        data = model.prepare((X, lengths))
        _, loglik = model.e_step(data, params)
        score, posteriors = model.score_samples(data, params)
        assert score == loglik
        np.testing.assert_array_equal(posteriors, data.workspace["posteriors"])


def test_lookup_path_never_makes_the_blocks_emission_data():
    """Preparing and decoding through the symbol table leaves every block's data unmade; the
    frame path makes each block's data once, on first use, and keeps it."""
    rng = np.random.default_rng(7)
    params = random_params(rng, 3, 5)
    X = rng.integers(0, 5, size=(5000, 1))
    lookup, frame = both_paths(5, 3, 1)
    data = lookup.prepare((X, [2000, 3000]))
    lookup.decode(data, params)
    lookup.score_samples(data, params)
    assert all("data" not in vars(block) for block in data.blocks)
    data = frame.prepare((X, [2000, 3000]))
    assert all("data" not in vars(block) for block in data.blocks)
    frame.decode(data, params)
    made = [block.data for block in data.blocks]
    assert all(block.data is one for block, one in zip(data.blocks, made))
    np.testing.assert_array_equal(np.concatenate(made)[:, 0], X[:, 0])


@pytest.mark.parametrize("make", [lambda s: s[:, None].astype(np.int64), lambda s: s.astype(np.int32),
                                  lambda s: np.asfortranarray(s[:, None].astype(np.uint8))])
def test_the_callers_symbols_are_never_modified_nor_shared(make):
    """The symbol table reads the prepared codes themselves (no copy of its own): they are a copy
    of the caller's array, which fitting, scoring and decoding leave as it was."""
    rng = np.random.default_rng(3)
    X = make(rng.integers(0, 5, size=300))
    before = X.copy()
    model = CategoricalHMM(3, n_iter=3, random_state=0).fit(X, lengths=[100, 200])
    model.predict_proba(X, lengths=[100, 200])
    model.decode(X, lengths=[100, 200])
    np.testing.assert_array_equal(X, before)
    hmm = HiddenMarkovModel(CategoricalEmission(5), 3)
    data = hmm.prepare(X)
    rows = hmm.emission.lookup_rows(data.X)
    assert not np.shares_memory(rows, X) and not np.shares_memory(data.X, X)
    np.testing.assert_array_equal(rows, before.ravel())


@pytest.mark.parametrize("X, message", [
    (np.array([[0], [-2], [1]]), "X: categorical symbols must be non-negative, got -2"),
    (np.array([0, 2**53, 1], dtype=np.int64), "X: categorical symbol 9.0072e\\+15 is too large"),
    (np.array([0, 2**64 - 1], dtype=np.uint64), "X: categorical symbol 1.84467e\\+19 is too large"),
    (np.array([0.0, 1.5]), "X: categorical symbols must be integers"),
    (np.array([True, False]), "X: categorical symbols must be integers, got dtype bool"),
])
def test_integer_symbols_are_still_range_checked(X, message):
    """The integer path (a copy after a minimum and a maximum) keeps every check of the caller's
    array, each naming X; a failed fit leaves the estimator unfitted."""
    model = CategoricalHMM(2, n_features=4)
    with pytest.raises(ValueError, match=message):
        model.fit(X)
    assert not hasattr(model, "emissionprob_")
