"""Hidden Markov models fitted by the Baum–Welch algorithm (EM) through the emkit engine.

The hidden chain ``z_1 → z_2 → …`` has initial distribution ``π`` and transition matrix ``A``;
observations are independent given the states, ``x_t | z_t = k ~ p_k`` (the :class:`Family`).
E-step (forward–backward, compiled): the posteriors ``γ_t(k) = p(z_t = k | x)`` and
``ξ_t(i, j) = p(z_t = i, z_{t+1} = j | x)`` give the additive statistics

* ``start[k] = Σ_sequences γ_1(k)``, ``trans[i, j] = Σ_t ξ_t(i, j)``,
  ``occupancy[k] = Σ_t γ_t(k)``, and the emission's ``Σ_t γ_t(k) T(x_t)``;

M-step: ``π_k ∝ start_k + a_k − 1``, ``A_ij ∝ trans_ij + b_ij − 1`` (Dirichlet concentrations
``a = startprob_prior``, ``b = transmat_prior``; 1 is maximum likelihood) and the emission's
M-step. Options of the chain (:mod:`.hmm_transitions`): held transition probabilities and
left-right or banded topologies (the free mass of each row re-estimated in closed form), and a
start that is the stationary distribution ``δ(A)`` of the chain (``initial="stationary"``:
the transition M-step maximises ``Σ ξ log A + Σ γ_1 log δ(A)`` numerically). The emission work runs on blocks of rows and the recursions on batches of whole
sequences, in parallel threads (:mod:`.sequences`); statistics add up, so the E-steps of two sets
of sequences, added, equal the E-step of their union (and chunks of sequences can be spread over
Dask workers by the engine).

With priors other than 1, the objective that EM ascends, and that the engine monitors and reports
(:meth:`HiddenMarkovModel.log_prior` added to the E-step's log-likelihood), is the penalised
log-likelihood ``log p(x | θ) + log p(θ)``;
:meth:`HiddenMarkovModel.score` is always the plain log-likelihood.
"""

from __future__ import annotations

import copy
import warnings
from functools import partial
from typing import Any

import numpy as np
from scipy.linalg import block_diag

from ..engine.model import EMModel, Params, Regularization, Stats
from ..engine.stats import sum_stats
from ..exceptions import DegenerateComponentWarning
from ..families import dirichlet
from ..families.base import Family, block_maker
from ..kernels.hmm import sample_states
from ..models.categorical import free_rows, rows_from_free, rows_information, rows_labels
from . import hmm_transitions as chain_steps
from .family_pass import family_m_step
from .hmm_inference import Posterior, scale_frame, scaled_forward_backward, viterbi
from .sequences import (
    Batch,
    Block,
    Sequences,
    check_lengths,
    default_n_jobs,
    parallel_map,
)

#: A state whose expected number of visits is at most this fraction of the data is empty.
EMPTY_STATE_RTOL = 1e-10

DECODERS = ("viterbi", "map")

#: The initial distribution: a free parameter, or the stationary distribution of the chain.
INITIALS = ("free", "stationary")


class HiddenMarkovModel(EMModel):
    """Hidden Markov model with ``n_states`` states and the given emission distribution.

    Parameters
    ----------
    emission : Family
        Distribution of the observations given the state (e.g. ``CategoricalEmission``).
    n_states : int
        Number of hidden states ``K``.
    startprob_prior, transmat_prior : float or array
        Dirichlet concentrations (``≥ 1``) of ``π`` (K,) and of each row of ``A`` (K, K); the
        pseudo-counts are the concentrations minus one. Values above 1 keep states that are never
        visited from getting empty transition rows.
    learn : iterable of str, optional
        Parameters re-estimated by the M-step (default: all of :attr:`param_names`); the others
        stay at their starting values.
    n_jobs : int, optional
        Number of threads over which the sequences are spread (default: the number of CPUs).
    initial : {"free", "stationary"}, default="free"
        ``"stationary"``: ``π`` is the stationary distribution ``δ(A)`` of the chain
        (``δ A = δ``), not a parameter of its own (Zucchini & MacDonald's default); ``π``'s
        Dirichlet concentrations then weigh ``log δ(A)``.
    topology : {"ergodic", "left-right", "banded"}, default="ergodic"
        Transitions allowed: all; ``j ≥ i`` (at most ``bandwidth`` ahead when given);
        ``|j − i| ≤ bandwidth``. Forbidden ones are held at zero.
    bandwidth : int, optional
        The longest allowed jump of a left-right or banded chain.
    fixed_transmat : array of shape (K, K), optional
        Transition probabilities held at the given values (NaN: free); each row's free mass is
        re-estimated.

    Data are ``X`` or ``(X, lengths)``: the observations of all sequences one after another and
    the sequence lengths (one sequence when omitted).
    """

    def __init__(self, emission: Family, n_states: int, *, startprob_prior: float | np.ndarray = 1.0,
                 transmat_prior: float | np.ndarray = 1.0, learn=None, n_jobs: int | None = None,
                 initial: str = "free", topology: str = "ergodic", bandwidth: int | None = None,
                 fixed_transmat=None) -> None:
        if not (isinstance(n_states, (int, np.integer)) and n_states >= 1):
            raise ValueError(f"n_components: the number of states must be a positive integer, got {n_states!r}")
        self.emission = emission
        self.n_states = int(n_states)
        self.param_names = ("startprob", "transmat") + tuple(emission.param_names)
        self.startprob_prior = dirichlet.check_concentration(startprob_prior, (self.n_states,), "startprob_prior")
        self.transmat_prior = dirichlet.check_concentration(transmat_prior, (self.n_states, self.n_states),
                                                            "transmat_prior")
        emission.validate(self.n_states)
        self.learn = frozenset(self.param_names if learn is None else learn)
        unknown = sorted(self.learn - set(self.param_names))
        if unknown:
            raise ValueError(f"learn: unknown parameter(s) {unknown}; expected names among {list(self.param_names)}")
        self.n_jobs = default_n_jobs(n_jobs)
        if initial not in INITIALS:
            raise ValueError(f"initial: expected one of {INITIALS}, got {initial!r}")
        if initial == "stationary" and topology == "left-right" and self.n_states > 1:
            raise ValueError("initial: a left-right chain ends in its last state, so its stationary distribution is "
                             "that state alone; use initial='free' with topology='left-right'")
        self.initial = initial
        #: The held transition probabilities (NaN: free), None when all are free.
        self.held_transmat = chain_steps.transition_constraints(self.n_states, topology=topology, bandwidth=bandwidth,
                                                                fixed_transmat=fixed_transmat)

    @property
    def stationary(self) -> bool:
        """Whether the initial distribution is the chain's stationary distribution."""
        return self.initial == "stationary"

    def _chain_of(self, transmat: np.ndarray, startprob: np.ndarray) -> dict[str, np.ndarray]:
        """``startprob`` and ``transmat`` as the options make them: the held values put in (a
        start), ``δ(A)`` as the start of a stationary chain."""
        transmat = chain_steps.project(transmat, self.held_transmat)
        return {"startprob": chain_steps.stationary_distribution(transmat) if self.stationary else startprob,
                "transmat": transmat}

    # ----------------------------------------------------------------- data
    def prepare(self, data: Any) -> Sequences:
        """``Sequences`` from ``X`` or ``(X, lengths)`` (already prepared data pass through)."""
        if isinstance(data, Sequences):
            return data
        X, lengths = data if isinstance(data, tuple) else (data, None)
        X = self.emission.prepare(X)
        return self._sequences(X, lengths, self.emission.data_context(X))

    def prepare_chunk(self, chunk: Any, context: Any = None) -> Sequences:
        """A later part of the data (a batch of online EM), validated by the family's
        :meth:`~emkit.families.Family.prepare_chunk` and made with the first part's ``context``
        (None: its own)."""
        if isinstance(chunk, Sequences):
            return chunk
        X, lengths = chunk if isinstance(chunk, tuple) else (chunk, None)
        X = self.emission.prepare_chunk(X)
        return self._sequences(X, lengths, self.emission.data_context(X) if context is None else context)

    def _sequences(self, X: np.ndarray, lengths: Any, context: Any) -> Sequences:
        return Sequences.build(X, check_lengths(lengths, X.shape[0]), self.n_jobs, block_maker(self.emission, context),
                               context)

    # ----------------------------------------------------------------- the EM pieces
    def initial_params(self, data: Sequences, rng: np.random.Generator | None = None) -> Params:
        """Uniform ``π`` and ``A = (I + 11ᵀ/K)/2`` with the emission's deterministic start
        (``rng`` None); flat-Dirichlet ``π`` and rows of ``A`` and a random emission start
        otherwise."""
        k = self.n_states
        if rng is None:
            chain = {"startprob": np.full(k, 1.0 / k), "transmat": 0.5 * np.eye(k) + 0.5 / k}
        else:
            chain = {"startprob": rng.dirichlet(np.ones(k)), "transmat": rng.dirichlet(np.ones(k), size=k)}
        return {**self._chain_of(chain["transmat"], chain["startprob"]), **self.emission.initial_params(data.X, k, rng)}

    def e_step(self, data: Sequences, params: Params) -> tuple[Stats, float]:
        """Statistics ``start``, ``trans``, ``occupancy`` and the emission's, summed over
        sequences, and ``log p(x | θ)`` (the engine adds :meth:`log_prior`)."""
        cache = self.emission.precompute(params)
        posteriors = data.buffer("posteriors", (data.n_samples, self.n_states))
        chain = self._forward_backward(data, params, cache, posteriors)
        if chain[0].row_counts is None:
            emission = sum_stats(parallel_map(lambda b: self.emission.stats(b.data, posteriors[b.start:b.stop], cache),
                                              data.blocks, data.n_threads))
        else:   # a lookup table's emission: its statistics were added up during the recursions
            emission = self.emission.lookup_stats(sum(p.row_counts for p in chain))
        stats = {"start": sum(p.start_counts for p in chain), "trans": sum(p.trans_counts for p in chain),
                 "occupancy": sum(p.occupancy for p in chain), **emission}
        data.workspace["posteriors_at"] = self.to_vector(params).tobytes() if self.m_step_uses_data else None
        return stats, sum(float(p.seq_loglik.sum()) for p in chain)

    @property
    def m_step_uses_data(self) -> bool:
        """Whether the emission's M-step takes the data (e.g. a regression emission)."""
        return self.emission.m_step_uses_data

    def m_step_with_data(self, stats: Stats, params: Params, data_pass) -> Params:
        """:meth:`m_step` with the emission's data-taking M-step (:meth:`Family.m_step_with_data`)."""
        return self.m_step(stats, params, data_pass)

    def m_step(self, stats: Stats, params: Params, data_pass=None) -> Params:
        """Dirichlet posterior modes of ``π`` and the rows of ``A``, then the emission M-step.

        A state with (almost) no expected visits keeps its previous transition row and emission
        parameters, with a ``DegenerateComponentWarning`` naming it.
        """
        occupancy = stats["occupancy"]
        empty = occupancy <= EMPTY_STATE_RTOL * occupancy.sum()
        if np.any(empty):
            warnings.warn(
                f"HMM state(s) {np.flatnonzero(empty).tolist()} received no posterior weight (expected visits "
                f"{occupancy[empty].tolist()}); their emission parameters and transition rows are kept from the "
                "previous iteration. Remedy: fewer states (n_components), transmat_prior > 1 (Dirichlet "
                "pseudo-counts), or another start (n_init)", DegenerateComponentWarning, stacklevel=4)
        out = dict(params)
        if "startprob" in self.learn and not self.stationary:
            out["startprob"], _ = dirichlet.posterior_mode(stats["start"], self.startprob_prior, params["startprob"])
        if "transmat" in self.learn:
            rows, kept = self._transmat_m_step(stats, params, empty)
            out["transmat"] = np.where(empty[:, None], params["transmat"], rows)
            silent = kept & ~empty
            if np.any(silent):
                warnings.warn(
                    f"HMM state(s) {np.flatnonzero(silent).tolist()}: no transition out of them was observed; "
                    "their transition rows are kept. Remedy: transmat_prior > 1 (Dirichlet pseudo-counts)",
                    DegenerateComponentWarning, stacklevel=4)
            if self.stationary:
                out["startprob"] = chain_steps.stationary_distribution(out["transmat"])
        out.update(family_m_step(self.emission, stats, params, self.learn, empty, data_pass,
                                 partial(self._emission_rows, params=params)))
        return out

    def _emission_rows(self, data: Sequences, params: Params) -> list[tuple[Any, np.ndarray]]:
        """Each block's emission data with its rows' posteriors at ``params`` (those of the
        E-step just run when it ran at ``params``)."""
        key = self.to_vector(params).tobytes()
        posteriors = data.buffer("posteriors", (data.n_samples, self.n_states))
        if data.workspace.get("posteriors_at") != key:
            self._forward_backward(data, params, self.emission.precompute(params), posteriors)
            data.workspace["posteriors_at"] = key
        return [(b.data, posteriors[b.start:b.stop]) for b in data.blocks]

    def _transmat_m_step(self, stats: Stats, params: Params, empty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``A`` and the flags of rows kept for want of counts: the Dirichlet mode
        (no options), the closed form of held entries, or the stationary chain's numerical step
        (the rows of states without visits held at their values)."""
        previous = params["transmat"]
        if not self.stationary and self.held_transmat is None:
            return dirichlet.posterior_mode(stats["trans"], self.transmat_prior, previous)
        held = self.held_transmat
        counts = stats["trans"] + self.transmat_prior - 1.0
        if not self.stationary:
            return chain_steps.constrained_rows(counts, held, previous)
        if np.any(empty):
            held = np.where(empty[:, None], previous, np.full_like(previous, np.nan) if held is None else held)
        weights = stats["start"] + self.startprob_prior - 1.0
        return chain_steps.stationary_rows(counts, weights, previous, held), np.zeros(self.n_states, dtype=bool)

    def log_prior(self, params: Params) -> float:
        """``Σ (a_k − 1) log π_k + Σ (b_ij − 1) log A_ij`` plus the emission's log prior."""
        return (dirichlet.log_density(params["startprob"], self.startprob_prior)
                + dirichlet.log_density(params["transmat"], self.transmat_prior)
                + self.emission.log_prior(params))

    def regularization(self, stats: Stats, params: Params) -> Regularization | None:
        """The emission's (:meth:`Family.regularization`), states without visits left out."""
        occupancy = stats["occupancy"]
        return self.emission.regularization(stats, params, self.learn,
                                            occupancy <= EMPTY_STATE_RTOL * occupancy.sum())

    # ----------------------------------------------------------------- parameters
    def check_params(self, params: Params) -> Params:
        missing = [name for name in self.param_names if name not in params]
        if missing:
            raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
        k = self.n_states
        transmat = dirichlet.check_probability_rows(params["transmat"], (k, k), "transmat")
        if not chain_steps.satisfies(transmat, self.held_transmat):
            raise ValueError("transmat: its entries differ from the held ones (fixed_transmat, or zeros outside the "
                             "topology)")
        startprob = dirichlet.check_probability_rows(params["startprob"], (k,), "startprob")
        if self.stationary:
            startprob = chain_steps.stationary_distribution(transmat)
        return {"startprob": startprob, "transmat": transmat, **self.emission.check_params(params, k)}

    def is_feasible(self, params: Params) -> bool:
        return (dirichlet.is_probability_rows(params["startprob"]) and dirichlet.is_probability_rows(params["transmat"])
                and chain_steps.satisfies(params["transmat"], self.held_transmat) and self.emission.is_feasible(params))

    def from_vector(self, vector: np.ndarray, like: Params) -> Params:
        """The base's, with a stationary chain's ``π`` recomputed as ``δ(A)`` (an extrapolated
        ``π`` is not the stationary distribution of the extrapolated ``A``)."""
        out = super().from_vector(vector, like)
        if self.stationary and dirichlet.is_probability_rows(out["transmat"]):
            try:
                out["startprob"] = chain_steps.stationary_distribution(out["transmat"])
            except ValueError:
                out["startprob"] = np.full(self.n_states, np.nan)
        return out

    def describe(self) -> str:
        """E.g. "hidden Markov model (3 states, Gaussian diag emissions)" (", stationary start"
        added for such a chain)."""
        start = ", stationary start" if self.stationary else ""
        return f"hidden Markov model ({self.n_states} states{start}, {self.emission.describe()} emissions)"

    def n_free_parameters(self) -> int:
        """Free scalars among the learned parameters: ``K − 1`` for ``π`` (none for a stationary
        chain), ``K(K − 1)`` for ``A`` less the held entries, and the emission's."""
        k = self.n_states
        return ((k - 1) * ("startprob" in self._free_chain())
                + chain_steps.coordinate_count(self.held_transmat, k) * ("transmat" in self.learn)
                + self.emission.n_free_parameters(k, self.learn))

    def _free_chain(self) -> tuple[str, ...]:
        """The chain's learned parameters with free coordinates (a stationary chain's ``π`` has none)."""
        return tuple(name for name in ("startprob", "transmat") if name in self.learn
                     and not (name == "startprob" and self.stationary))

    # ------------------------------------------------ free parameters (for standard errors)
    def fixing(self, names: set[str] | frozenset[str]) -> HiddenMarkovModel:
        """A copy that holds ``names`` at their values: their entries leave the free parameters,
        e.g. the start probabilities of a single sequence, which sit on the boundary."""
        model = copy.copy(self)
        model.learn = self.learn - frozenset(names)
        return model

    def to_free(self, params: Params) -> np.ndarray:
        """The learned ``π`` and rows of ``A`` but their last entries, then the emission's free
        scalars (:meth:`Family.to_free`)."""
        chain = [free_rows(params[name]) if name == "startprob"
                 else chain_steps.to_coordinates(params[name], self.held_transmat) for name in self._free_chain()]
        return np.concatenate(chain + [self.emission.to_free(params, self.learn)])

    def from_free(self, free: np.ndarray, like: Params) -> Params:
        out, start, k = dict(like), 0, self.n_states
        if "startprob" in self._free_chain():
            out["startprob"], start = rows_from_free(free[:k - 1], (k,)), k - 1
        if "transmat" in self._free_chain():
            size = chain_steps.coordinate_count(self.held_transmat, k)
            out["transmat"] = chain_steps.from_coordinates(free[start:start + size], like["transmat"], self.held_transmat)
            start += size
            if self.stationary:
                out["startprob"] = chain_steps.stationary_distribution(out["transmat"])
        out.update(self.emission.from_free(np.asarray(free[start:], dtype=float), like, self.learn))
        return out

    def free_labels(self, params: Params) -> tuple[str, ...]:
        chain = [label for name in self._free_chain()
                 for label in (rows_labels(name, np.shape(params[name])) if name == "startprob"
                               else chain_steps.coordinate_labels(name, self.held_transmat, self.n_states))]
        return tuple(chain + self.emission.free_labels(params, self.learn))

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """Block diagonal: ``π``'s categorical information of the expected start counts, each row
        of ``A``'s of its expected transition counts, the emission's
        (:meth:`Family.complete_information`); the Dirichlet priors add their pseudo-counts
        ``a − 1``, ``b − 1`` (0 for the default flat priors), as they do to the M-step and to the
        log-likelihood that the other methods differentiate. Held transitions are constants; a
        stationary chain has none (its start term ``Σ γ_1 log δ(A)`` couples the rows: use the
        Hessian or the bootstrap)."""
        if self.stationary and "transmat" in self.learn:
            raise NotImplementedError("the complete-data information of a stationary chain is not implemented (its "
                                      "start term couples the transition rows); use method='hessian' or 'bootstrap'")
        blocks = []
        if "startprob" in self._free_chain():
            blocks.append(rows_information(stats["start"] + self.startprob_prior - 1.0, params["startprob"]))
        if "transmat" in self.learn:
            blocks.append(chain_steps.coordinate_information(stats["trans"] + self.transmat_prior - 1.0,
                                                             params["transmat"], self.held_transmat))
        return block_diag(*blocks, self.emission.complete_information(stats, params, self.learn))

    def resample(self, data: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Whole sequences drawn with replacement, as ``(X, lengths)``.

        Raises
        ------
        ValueError
            For one sequence (its steps are not independent): use the parametric bootstrap.
        """
        data = self.prepare(data)
        if data.n_sequences < 2:
            raise ValueError("data: a nonparametric bootstrap of an HMM resamples whole sequences and needs several; "
                             "with one sequence use bootstrap_kind='parametric'")
        chosen = rng.integers(0, data.n_sequences, size=data.n_sequences)
        lengths = np.diff(data.offsets)[chosen]
        return np.concatenate([data.X[data.offsets[s]:data.offsets[s + 1]] for s in chosen]), lengths

    def simulate(self, params: Params, like_data: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sequences of the same lengths drawn from the model, with the missing observations of
        ``like_data`` (missing completely at random), as ``(X, lengths)``."""
        data = self.prepare(like_data)
        lengths = np.diff(data.offsets)
        X = np.concatenate([self.sample(params, int(length), rng)[0] for length in lengths]).astype(float)
        X[self.emission.missing_cells(data.X).reshape(X.shape)] = np.nan
        return X, lengths

    # ----------------------------------------------------------------- inference
    def score_samples(self, data: Any, params: Params) -> tuple[float, np.ndarray]:
        """``log p(x | θ)`` (no prior) and the posteriors ``γ`` (n, K) of every time step."""
        data = self.prepare(data)
        posteriors = np.empty((data.n_samples, self.n_states))
        chain = self._forward_backward(data, params, self.emission.precompute(params), posteriors,
                                       count_transitions=False, rows_seen_once=True)
        return sum(float(p.seq_loglik.sum()) for p in chain), posteriors

    def decode(self, data: Any, params: Params, algorithm: str = "viterbi") -> tuple[float, np.ndarray]:
        """Most probable path (``"viterbi"``: ``max_z log p(x, z)``) or the most probable state
        of each step (``"map"``: ``argmax_k γ_t(k)``, with ``Σ_t log max_k γ_t(k)``)."""
        if algorithm not in DECODERS:
            raise ValueError(f"algorithm: expected one of {DECODERS}, got {algorithm!r}")
        data = self.prepare(data)
        if algorithm == "map":
            _, posteriors = self.score_samples(data, params)
            with np.errstate(divide="ignore"):
                return float(np.log(posteriors.max(axis=1)).sum()), posteriors.argmax(axis=1)
        cache, rows = self.emission.precompute(params), self._lookup_rows(data)
        log_frame = self._log_frame(data, cache) if rows is None else self.emission.lookup_table(cache)
        path = np.empty(data.n_samples, dtype=np.int64)

        def batch(b: Batch) -> float:
            frame, steps = (log_frame[b.start:b.stop], None) if rows is None else (log_frame, rows[b.start:b.stop])
            path[b.start:b.stop], logprob = viterbi(frame, b.offsets, np.asarray(params["startprob"], dtype=float),
                                                    np.asarray(params["transmat"], dtype=float), steps)
            return float(logprob.sum())

        return float(sum(parallel_map(batch, data.batches, data.n_threads))), path

    def sample(self, params: Params, n_samples: int, rng: np.random.Generator,
               start_state: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One sequence of ``n_samples`` observations and its states, drawn from the model.

        The first state is drawn from ``π``, or is ``start_state`` when given (to continue a
        chain, as hmmlearn's ``currstate``).
        """
        startprob = params["startprob"] if start_state is None else np.eye(self.n_states)[start_state]
        states = np.empty(n_samples, dtype=np.int64)
        sample_states(np.ascontiguousarray(startprob, dtype=float), np.ascontiguousarray(params["transmat"]),
                      rng.random(n_samples), np.array([0, n_samples], dtype=np.int64), states)
        return self.emission.sample(states, params, rng), states

    # ----------------------------------------------------------------- internals
    def _log_frame(self, data: Sequences, cache) -> np.ndarray:
        """``log p(x_t | z_t = k)`` of every row (n, K) for decoding (rows seen once:
        :meth:`~emkit.families.Family.frame_log_likelihood`), block by block in parallel, in the
        data's reusable buffer."""
        log_frame = data.buffer("log_frame", (data.n_samples, self.n_states))

        def block(b: Block) -> None:
            self.emission.frame_log_likelihood(b.data, cache, log_frame[b.start:b.stop])

        parallel_map(block, data.blocks, data.n_threads)
        return log_frame

    def _scaled_frame(self, data: Sequences, cache, rows_seen_once: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The scaled likelihoods ``b_t(k) e^{−m_t}`` (n, K) and the shifts ``m_t`` (n,)
        (:func:`.inference.scale_frame`), block by block in parallel (each block computed and
        scaled while in the cache), in the data's reusable buffers; ``rows_seen_once``: by the
        emission's :meth:`~emkit.families.Family.frame_log_likelihood` (scoring, not an E-step)."""
        frame = data.buffer("log_frame", (data.n_samples, self.n_states))
        shift = data.buffer("shift", (data.n_samples,))
        log_likelihood = self.emission.frame_log_likelihood if rows_seen_once else self.emission.log_likelihood

        def block(b: Block) -> None:
            scale_frame(log_likelihood(b.data, cache, frame[b.start:b.stop]), shift[b.start:b.stop])

        parallel_map(block, data.blocks, data.n_threads)
        return frame, shift

    def _lookup_rows(self, data: Sequences) -> np.ndarray | None:
        """The emission's :meth:`~emkit.families.Family.lookup_rows` of the data (kept with them)."""
        if "lookup_rows" not in data.workspace:
            data.workspace["lookup_rows"] = self.emission.lookup_rows(data.X)
        return data.workspace["lookup_rows"]

    def _forward_backward(self, data: Sequences, params: Params, cache, posteriors: np.ndarray,
                          count_transitions: bool = True, rows_seen_once: bool = False) -> list[Posterior]:
        """Forward–backward over every batch in parallel (one batch, i.e. one sequence: over the
        threads inside it), posteriors written into ``posteriors`` (a sequence redone in log
        space gets its frame log-likelihoods recomputed), with the expected transition counts
        unless ``count_transitions`` is False (``rows_seen_once``: see :meth:`_scaled_frame`). An
        emission with a lookup table has its table scaled instead of a frame, and its posteriors
        added up by value."""
        rows = self._lookup_rows(data)
        if rows is None:
            frame, shift = self._scaled_frame(data, cache, rows_seen_once)
        else:
            log_table = self.emission.lookup_table(cache)
            frame, shift = np.array(log_table, dtype=float), np.empty(log_table.shape[0])
            scale_frame(frame, shift)
        startprob = np.ascontiguousarray(params["startprob"], dtype=float)
        transmat = np.ascontiguousarray(params["transmat"], dtype=float)
        n_threads = self.n_jobs if len(data.batches) == 1 else 1

        def batch(b: Batch) -> Posterior:
            steps = None if rows is None else rows[b.start:b.stop]

            def recompute(first: int, stop: int) -> np.ndarray:
                if steps is not None:
                    return log_table[steps[first:stop]]
                block = data.X[b.start + first:b.start + stop]
                return self.emission.log_likelihood(block_maker(self.emission, data.context)(block), cache)

            own = slice(b.start, b.stop) if rows is None else slice(None)
            return scaled_forward_backward(frame[own], shift[own], b.offsets, startprob, transmat, recompute,
                                           posteriors[b.start:b.stop], b.workspace, n_threads, steps,
                                           count_transitions)

        return parallel_map(batch, data.batches, data.n_threads)
