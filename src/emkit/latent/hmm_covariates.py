"""Input-driven hidden Markov models: transitions (and optionally the initial distribution) as
multinomial logits of covariates, for any emission family.

With covariates ``u_t`` (a leading 1 for the intercept is added), the transition into step
``t`` from state ``i`` is ``A_t[i] = softmax(0, u_tᵀ B_i)`` (``B_i`` of shape ``p × (K−1)``,
state 0 the reference), and with ``initial="covariates"`` the first state of a sequence is
``softmax(0, u_1ᵀ C)``. The E-step is the forward–backward recursion with a matrix per step;
the M-step of ``B`` maximises ``Σ_t Σ_ij ξ_t(i, j) log A_t[i, j]``, a ``ξ``-weighted multinomial
logit per origin state, which has no finite sufficient statistics: it is a data-taking M-step
(:mod:`emkit.engine.data_pass`), damped Newton steps
(:func:`~emkit.kernels.newton.maximize_concave`) whose gradients and Hessians are summed over
the data by the engine (each pass recomputes ``ξ`` at the E-step's parameters). Its value never
decreases, so every iteration is a (generalised) EM step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..engine.model import Params, Stats
from ..engine.stats import sum_stats
from ..families import dirichlet
from ..families.base import Family
from ..kernels.multinomial_logit import multinomial_logit_derivatives, multinomial_logit_log_proba
from ..kernels.newton import maximize_concave
from .family_pass import family_m_step
from .hmm import EMPTY_STATE_RTOL, HiddenMarkovModel
from .sequences import Sequences, parallel_map

#: Initial distributions of an input-driven HMM: a free ``π``, or a logit of the first covariates.
COVARIATE_INITIALS = ("free", "covariates")


@dataclass(frozen=True)
class CovariateSequences:
    """Prepared data of an input-driven HMM: the sequences and their design rows ``(1, u_t)``,
    with the posteriors of the last parameters they were computed at (the E-step's, which the
    M-step's passes over the same data then reuse instead of recomputing)."""

    sequences: Sequences
    design: np.ndarray
    last_posteriors: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_samples(self) -> int:
        return self.sequences.n_samples

    @property
    def first_rows(self) -> np.ndarray:
        """Index of the first step of every sequence."""
        return self.sequences.offsets[:-1]

    @property
    def later_rows(self) -> np.ndarray:
        """Index of every step but the first of its sequence (the steps a transition leads to)."""
        later = np.ones(self.n_samples, dtype=bool)
        later[self.first_rows] = False
        return np.flatnonzero(later)


def design_matrix(covariates: Any, n_samples: int, n_covariates: int | None) -> np.ndarray:
    """``[1, u_t]`` rows from ``covariates`` (n × q, or n values); ValueError naming ``covariates``."""
    if covariates is None:
        raise ValueError("covariates: an input-driven HMM needs the covariates of every step (n_samples x q); pass "
                         "covariates=...")
    try:
        array = np.asarray(covariates, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"covariates: expected numbers, got {type(covariates).__name__}") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] != n_samples:
        raise ValueError(f"covariates: expected {n_samples} rows (one per observation), got shape {array.shape}")
    if n_covariates is not None and array.shape[1] != n_covariates:
        raise ValueError(f"covariates: expected {n_covariates} column(s), got {array.shape[1]}")
    if not np.all(np.isfinite(array)):
        raise ValueError("covariates: must be finite (no NaN: a transition needs its inputs)")
    return np.concatenate([np.ones((n_samples, 1)), array], axis=1)


class InputDrivenHMM(HiddenMarkovModel):
    """Hidden Markov model whose transitions are multinomial logits of covariates.

    Parameters
    ----------
    emission : Family
    n_states : int
    n_covariates : int
        Number of covariates ``q`` (columns of ``covariates``); an intercept is added, so
        ``p = q + 1`` coefficients per logit.
    initial : {"free", "covariates"}, default="free"
        A free initial distribution ``π``, or ``softmax(0, u_1ᵀ C)`` of each sequence's first
        covariates.
    startprob_prior : float or array
        Dirichlet concentrations of a free ``π``.
    learn, n_jobs
        As :class:`HiddenMarkovModel`.

    Data are ``(X, lengths, covariates)`` (``lengths`` may be None): ``covariates`` has one row
    per observation; a sequence's first row drives its initial distribution
    (``initial="covariates"``) and the others the transitions into their steps. Parameters:
    ``startprob`` (K,) or ``start_coef`` (p, K−1), ``transition_coef`` (K, p, K−1) and the
    emission's. On Dask, :func:`emkit.fit` takes a tuple ``(X, covariates)`` of row-aligned Dask
    arrays, each chunk of rows one sequence (as a plain HMM's chunks); the coefficients' Newton
    passes then run over the chunks.
    """

    m_step_uses_data = True

    def __init__(self, emission: Family, n_states: int, n_covariates: int, *, initial: str = "free",
                 startprob_prior: float | np.ndarray = 1.0, learn=None, n_jobs: int | None = None) -> None:
        if initial not in COVARIATE_INITIALS:
            raise ValueError(f"initial: expected one of {COVARIATE_INITIALS} for an input-driven HMM, got {initial!r}")
        if not (isinstance(n_covariates, (int, np.integer)) and n_covariates >= 0):
            raise ValueError(f"n_covariates: expected a non-negative integer, got {n_covariates!r}")
        start = "start_coef" if initial == "covariates" else "startprob"
        names = (start, "transition_coef") + tuple(emission.param_names)
        super().__init__(emission, n_states, startprob_prior=startprob_prior, n_jobs=n_jobs)
        self.param_names = names
        self.learn = frozenset(names if learn is None else learn)
        unknown = sorted(self.learn - set(names))
        if unknown:
            raise ValueError(f"learn: unknown parameter(s) {unknown}; expected names among {list(names)}")
        self.initial = initial
        self.n_covariates = int(n_covariates)

    @property
    def n_coefficients(self) -> int:
        """``p = q + 1``: the intercept and the covariates."""
        return self.n_covariates + 1

    # ----------------------------------------------------------------- data
    def prepare(self, data: Any) -> CovariateSequences:
        """``CovariateSequences`` from ``(X, lengths, covariates)``."""
        if isinstance(data, CovariateSequences):
            return data
        if not (isinstance(data, tuple) and len(data) == 3):
            raise ValueError("covariates: an input-driven HMM takes data (X, lengths, covariates)")
        X, lengths, covariates = data
        sequences = super().prepare((X, lengths))
        return CovariateSequences(sequences, design_matrix(covariates, sequences.n_samples, self.n_covariates))

    def prepare_chunk(self, chunk: Any, context: Any = None) -> CovariateSequences:
        """A chunk ``(X, lengths, covariates)``, or ``(X, covariates)``: the blocks of a Dask
        tuple ``(X, covariates)`` of row-aligned arrays, each chunk of rows one sequence."""
        if isinstance(chunk, CovariateSequences):
            return chunk
        if not (isinstance(chunk, tuple) and len(chunk) in (2, 3)):
            raise ValueError("covariates: an input-driven HMM takes chunks (X, lengths, covariates), or on Dask a "
                             "tuple (X, covariates) of row-aligned arrays (each chunk of rows one sequence)")
        X, lengths, covariates = chunk if len(chunk) == 3 else (chunk[0], None, chunk[1])
        sequences = super().prepare_chunk((X, lengths), context)
        return CovariateSequences(sequences, design_matrix(covariates, sequences.n_samples, self.n_covariates))

    # ----------------------------------------------------------------- chain
    def log_transitions(self, design: np.ndarray, params: Params) -> np.ndarray:
        """``log A_t[i, j]`` of every row's design, shape (n, K, K)."""
        coef = np.asarray(params["transition_coef"], dtype=float)
        return np.stack([multinomial_logit_log_proba(design, coef[i]) for i in range(self.n_states)], axis=1)

    def log_start(self, data: CovariateSequences, params: Params) -> np.ndarray:
        """``log π`` of every sequence, shape (n_sequences, K)."""
        if self.initial == "covariates":
            return multinomial_logit_log_proba(data.design[data.first_rows], params["start_coef"])
        with np.errstate(divide="ignore"):
            return np.broadcast_to(np.log(np.asarray(params["startprob"], dtype=float)),
                                   (data.sequences.n_sequences, self.n_states))

    def _posteriors(self, data: CovariateSequences, params: Params, cache=None):
        """Forward–backward with a transition matrix per step: ``(loglik, γ, ξ)``, ``ξ`` of shape
        (n, K, K) with ``ξ[t]`` the pair ``(z_{t−1}, z_t)`` (zero at first steps); the data keep
        the last result, returned again for the same parameters."""
        key = self.to_vector(params).tobytes()
        if data.last_posteriors.get("key") != key:
            cache = self.emission.precompute(params) if cache is None else cache
            log_frame = self._log_frame(data.sequences, cache)
            result = forward_backward(log_frame, data.sequences.offsets, self.log_start(data, params),
                                      self.log_transitions(data.design, params))
            data.last_posteriors.update(key=key, result=result)
        return data.last_posteriors["result"]

    # ----------------------------------------------------------------- the EM pieces
    def initial_params(self, data: CovariateSequences, rng: np.random.Generator | None = None) -> Params:
        """The homogeneous chain's start as intercepts (``log A_ij − log A_i0``), zero slopes."""
        base = super().initial_params(data.sequences, rng)
        k, p = self.n_states, self.n_coefficients
        coef = np.zeros((k, p, k - 1))
        logs = np.log(base["transmat"])
        coef[:, 0, :] = logs[:, 1:] - logs[:, :1]
        out = {"transition_coef": coef, **{name: base[name] for name in self.emission.param_names}}
        if self.initial == "covariates":
            start = np.zeros((p, k - 1))
            start[0] = np.log(base["startprob"][1:]) - np.log(base["startprob"][0])
            out["start_coef"] = start
        else:
            out["startprob"] = base["startprob"]
        return out

    def e_step(self, data: CovariateSequences, params: Params) -> tuple[Stats, float]:
        """``start``, ``trans`` (``Σ ξ``, for reports), ``occupancy`` and the emission's statistics."""
        cache = self.emission.precompute(params)
        loglik, posteriors, pairs = self._posteriors(data, params, cache)
        sequences = data.sequences
        emission = parallel_map(lambda b: self.emission.stats(b.data, posteriors[b.start:b.stop], cache),
                                sequences.blocks, sequences.n_threads)
        stats = {"start": posteriors[data.first_rows].sum(axis=0), "trans": pairs.sum(axis=0),
                 "occupancy": posteriors.sum(axis=0), **sum_stats(emission)}
        return stats, loglik

    def m_step(self, stats: Stats, params: Params) -> Params:
        raise ValueError("model: an input-driven HMM's M-step takes the data (m_step_with_data); fit it with emkit.fit")

    def m_step_with_data(self, stats: Stats, params: Params, data_pass) -> Params:
        """The emission's and a free ``π``'s M-steps from the statistics; the logit coefficients
        by damped Newton on the ``ξ``- (``γ_1``-) weighted multinomial logits, summed over the data."""
        occupancy = stats["occupancy"]
        empty = occupancy <= EMPTY_STATE_RTOL * occupancy.sum()
        out = dict(params)
        if "startprob" in self.learn:
            out["startprob"], _ = dirichlet.posterior_mode(stats["start"], self.startprob_prior, params["startprob"])
        for name in ("transition_coef", "start_coef"):
            if name in self.learn:
                objective = partial(self._coefficient_derivatives, name, params, data_pass)
                out[name] = maximize_concave(objective, params[name], max_iter=50).theta
        out.update(family_m_step(self.emission, stats, params, self.learn, empty, data_pass,
                                 partial(self._emission_rows, params=params)))
        return out

    def _emission_rows(self, data: CovariateSequences, params: Params) -> list[tuple[Any, np.ndarray]]:
        """Each block's emission data with its rows' posteriors at ``params``."""
        posteriors = self._posteriors(data, params)[1]
        return [(b.data, posteriors[b.start:b.stop]) for b in data.sequences.blocks]

    def _coefficient_derivatives(self, name: str, params: Params, data_pass, theta: np.ndarray):
        """Value, gradient and Hessian of the expected complete-data log-likelihood's ``name``
        term at ``theta``, summed over the data by ``data_pass`` (posteriors at ``params``)."""
        total = data_pass.sum(partial(_logit_terms, self, name, params, np.asarray(theta, dtype=float)))
        return float(total["value"]), total["gradient"], total["hessian"]

    def log_prior(self, params: Params) -> float:
        """A free ``π``'s Dirichlet log density plus the emission's (no prior on the coefficients)."""
        start = dirichlet.log_density(params["startprob"], self.startprob_prior) if "startprob" in params else 0.0
        return start + self.emission.log_prior(params)

    # ----------------------------------------------------------------- parameters
    def check_params(self, params: Params) -> Params:
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
        k, p = self.n_states, self.n_coefficients
        out = {"transition_coef": _checked_coef(params["transition_coef"], (k, p, k - 1), "transition_coef")}
        if "start_coef" in self.param_names:
            out["start_coef"] = _checked_coef(params["start_coef"], (p, k - 1), "start_coef")
        else:
            out["startprob"] = dirichlet.check_probability_rows(params["startprob"], (k,), "startprob")
        return {**out, **self.emission.check_params(params, k)}

    def is_feasible(self, params: Params) -> bool:
        start = dirichlet.is_probability_rows(params["startprob"]) if "startprob" in params else True
        return bool(start and np.all(np.isfinite(params["transition_coef"])) and self.emission.is_feasible(params))

    def describe(self) -> str:
        return (f"input-driven hidden Markov model ({self.n_states} states, {self.n_covariates} covariate(s), "
                f"{self.emission.describe()} emissions)")

    def n_free_parameters(self) -> int:
        k, p = self.n_states, self.n_coefficients
        return ((k - 1) * ("startprob" in self.learn) + p * (k - 1) * ("start_coef" in self.learn)
                + k * p * (k - 1) * ("transition_coef" in self.learn) + self.emission.n_free_parameters(k, self.learn))

    def to_free(self, params: Params) -> np.ndarray:
        parts = [np.ravel(params[name]) if name != "startprob" else np.asarray(params[name])[:-1]
                 for name in self.param_names[:2] if name in self.learn]
        return np.concatenate(parts + [self.emission.to_free(params, self.learn)])

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        out, start = dict(like), 0
        for name in self.param_names[:2]:
            if name not in self.learn:
                continue
            shape = np.shape(like[name])
            size = shape[0] - 1 if name == "startprob" else int(np.prod(shape))
            values = free[start:start + size]
            out[name] = np.append(values, 1.0 - values.sum()) if name == "startprob" else values.reshape(shape)
            start += size
        out.update(self.emission.from_free(np.asarray(free[start:], dtype=float), like, self.learn))
        return out

    def free_labels(self, params: Params) -> tuple[str, ...]:
        labels = []
        for name in self.param_names[:2]:
            if name in self.learn:
                shape = np.shape(params[name])
                labels += ([f"startprob[{j}]" for j in range(shape[0] - 1)] if name == "startprob"
                           else [f"{name}[{','.join(map(str, index))}]" for index in np.ndindex(*shape)])
        return tuple(labels + self.emission.free_labels(params, self.learn))

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        raise NotImplementedError("the complete-data information of an input-driven HMM needs the data; use "
                                  "method='hessian' or 'bootstrap'")

    def resample(self, data: Any, rng: np.random.Generator):
        data = self.prepare(data)
        sequences = data.sequences
        if sequences.n_sequences < 2:
            raise ValueError("data: a nonparametric bootstrap of an HMM resamples whole sequences and needs several; "
                             "with one sequence use bootstrap_kind='parametric'")
        chosen = rng.integers(0, sequences.n_sequences, size=sequences.n_sequences)
        pieces = [slice(sequences.offsets[s], sequences.offsets[s + 1]) for s in chosen]
        return (np.concatenate([sequences.X[piece] for piece in pieces]), np.diff(sequences.offsets)[chosen],
                np.concatenate([data.design[piece, 1:] for piece in pieces]))

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator):
        data = self.prepare(like_data)
        X, _ = self.sample_with(params, data, rng)
        X = X.astype(float)
        X[self.emission.missing_cells(data.sequences.X).reshape(X.shape)] = np.nan
        return X, np.diff(data.sequences.offsets), data.design[:, 1:]

    # ----------------------------------------------------------------- inference
    def score_samples(self, data: Any, params: Params) -> tuple[float, np.ndarray]:
        loglik, posteriors, _ = self._posteriors(self.prepare(data), params)
        return loglik, posteriors.copy()

    def decode(self, data: Any, params: Params, algorithm: str = "viterbi") -> tuple[float, np.ndarray]:
        """Viterbi path (log space, a transition matrix per step) or the most probable states."""
        data = self.prepare(data)
        if algorithm == "map":
            return _map_decode(self.score_samples(data, params)[1])
        if algorithm != "viterbi":
            raise ValueError(f"algorithm: expected 'viterbi' or 'map', got {algorithm!r}")
        log_frame = self._log_frame(data.sequences, self.emission.precompute(params))
        return viterbi_varying(log_frame, data.sequences.offsets, self.log_start(data, params),
                               self.log_transitions(data.design, params))

    def sample_with(self, params: Params, data: CovariateSequences, rng: np.random.Generator):
        """Observations and states of every sequence of ``data``, driven by its covariates."""
        start = np.exp(self.log_start(data, params))
        transitions = np.exp(self.log_transitions(data.design, params))
        states = np.empty(data.n_samples, dtype=np.int64)
        offsets = data.sequences.offsets
        for s in range(len(offsets) - 1):
            states[offsets[s]] = rng.choice(self.n_states, p=start[s])
            for t in range(offsets[s] + 1, offsets[s + 1]):
                states[t] = rng.choice(self.n_states, p=transitions[t, states[t - 1]])
        return self.emission.sample(states, params, rng), states

    def sample(self, params: Params, n_samples: int, rng: np.random.Generator, start_state: int | None = None):
        raise ValueError("covariates: an input-driven HMM samples along given covariates; use sample_with")


def _checked_coef(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.array(value, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: coefficients must be finite")
    return array


def _map_decode(posteriors: np.ndarray) -> tuple[float, np.ndarray]:
    with np.errstate(divide="ignore"):
        return float(np.log(posteriors.max(axis=1)).sum()), posteriors.argmax(axis=1)


def _logit_terms(model: InputDrivenHMM, name: str, params: Params, theta: np.ndarray,
                 chunk: CovariateSequences) -> dict[str, np.ndarray]:
    """One chunk's value, gradient and Hessian of the ``name`` logit term at ``theta``: the
    transitions' ``Σ_t Σ_ij ξ_t(i, j) log A_t[i, j]`` (one logit per origin state, a block
    diagonal Hessian) or the start's ``Σ_s Σ_k γ_1(k) log π_s(k)``, posteriors at ``params``."""
    _, posteriors, pairs = model._posteriors(chunk, params)
    if name == "start_coef":
        first = chunk.first_rows
        value, gradient, hessian = multinomial_logit_derivatives(chunk.design[first], posteriors[first], None, theta)
        return {"value": value, "gradient": gradient, "hessian": hessian}
    later = chunk.later_rows
    k = model.n_states
    coef = theta.reshape(k, model.n_coefficients, k - 1)
    parts = [multinomial_logit_derivatives(chunk.design[later], pairs[later, i, :], None, coef[i]) for i in range(k)]
    hessian = np.zeros((coef.size, coef.size))
    size = coef[0].size
    for i, (_, _, block) in enumerate(parts):
        hessian[i * size:(i + 1) * size, i * size:(i + 1) * size] = block
    return {"value": sum(part[0] for part in parts), "gradient": np.concatenate([part[1] for part in parts]),
            "hessian": hessian}


def forward_backward(log_frame: np.ndarray, offsets: np.ndarray, log_start: np.ndarray,
                     log_transitions: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scaled forward–backward with a transition matrix per step.

    ``log_transitions[t]`` leads into step ``t`` (ignored at first steps). Returns
    ``(log p(x), γ (n, K), ξ (n, K, K))`` with ``ξ[t, i, j] = p(z_{t−1} = i, z_t = j | x)``
    (zero at first steps).
    """
    n, k = log_frame.shape
    shift = log_frame.max(axis=1, keepdims=True)
    frame = np.exp(log_frame - shift)
    transitions = np.exp(log_transitions)
    alpha, scale = np.empty((n, k)), np.empty(n)
    posteriors, pairs = np.empty((n, k)), np.zeros((n, k, k))
    loglik = 0.0
    for s in range(len(offsets) - 1):
        first, stop = int(offsets[s]), int(offsets[s + 1])
        top = log_start[s].max()
        current = np.exp(log_start[s] - top) * frame[first]
        scale[first] = current.sum()
        alpha[first] = current / scale[first]
        loglik += np.log(scale[first]) + top + shift[first, 0]
        for t in range(first + 1, stop):
            current = (alpha[t - 1] @ transitions[t]) * frame[t]
            scale[t] = current.sum()
            alpha[t] = current / scale[t]
            loglik += np.log(scale[t]) + shift[t, 0]
        beta = np.ones(k)
        posteriors[stop - 1] = alpha[stop - 1]
        for t in range(stop - 1, first, -1):
            weighted = frame[t] * beta / scale[t]
            pairs[t] = alpha[t - 1][:, None] * transitions[t] * weighted[None, :]
            beta = transitions[t] @ weighted
            posteriors[t - 1] = alpha[t - 1] * beta
    return float(loglik), posteriors, pairs


def viterbi_varying(log_frame: np.ndarray, offsets: np.ndarray, log_start: np.ndarray,
                    log_transitions: np.ndarray) -> tuple[float, np.ndarray]:
    """Most probable path with a transition matrix per step (log space): ``(max log p(x, z), path)``."""
    n, k = log_frame.shape
    path = np.empty(n, dtype=np.int64)
    total = 0.0
    for s in range(len(offsets) - 1):
        first, stop = int(offsets[s]), int(offsets[s + 1])
        delta = log_start[s] + log_frame[first]
        back = np.zeros((stop - first, k), dtype=np.int64)
        for t in range(first + 1, stop):
            candidates = delta[:, None] + log_transitions[t]
            back[t - first] = candidates.argmax(axis=0)
            delta = candidates.max(axis=0) + log_frame[t]
        path[stop - 1] = int(delta.argmax())
        total += float(delta.max())
        for t in range(stop - 1, first, -1):
            path[t - 1] = back[t - first, path[t]]
    return total, path

