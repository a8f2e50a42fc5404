"""emkit against every peer library that is installed: same data, same start, agreement, speed, memory.

Contestants (each optional; a peer that is not installed is listed as skipped):

* Gaussian mixtures: scikit-learn, pomegranate (v1, float64 and float32), gmmx (JAX, float32
  only), torchgmm (PyTorch Lightning, float32);
* hidden Markov models: hmmlearn (its "scaling" and "log" implementations), dynamax (JAX,
  float32, its MAP M-step with priors that make it the maximum-likelihood step).

Every contestant starts from the same parameters (weights, means and covariances of
``gmm_vs_sklearn.start``; the HMMs' start of :func:`hmm_problem`) and runs the same fixed number of
EM iterations (no convergence test, no covariance regularisation: ``reg_covar=0`` and the
equivalents, so that all of them compute the same maximum-likelihood step). Its *final
log-likelihood* is that of the parameters it ends with, evaluated for all contestants by the
same float64 reference code here (:func:`gmm_log_likelihood`, :func:`hmm_log_likelihood`), and
printed with the relative difference to emkit's; a contestant beyond the tolerance (1e-9
relative for float64, 1e-5 for float32) is flagged ``DISAGREES``, never left out (pomegranate's
float64 mixture is, for a float32 buffer of its own: see :class:`PomegranateGmm`).

Timing: each contestant first runs one untimed fit of the same shapes (JAX's and Numba's
compilation, PyTorch's and OpenBLAS's warm-up are excluded), then the contestants alternate
(A B C A B C ...) for ``--repeats`` rounds, with a pause of 0.2 s before each fit; a time is the
fastest fit, a ratio the median over the rounds of the ratio within a round (which saw the same
load). The load average is printed with every section.

Sections (``--only``):

* ``gmm``: full and diagonal covariances at n = 200,000, d = 16, k = 16, time per iteration of a
  whole fit of ``--iterations`` iterations, and each peer's time over emkit's;
* ``grid``: the scaling grid n ∈ {1e3, 2e4, 2e5, 2e6}, d ∈ {2, 16, 64}, k ∈ {2, 16, 64} (full
  covariances; ``--grid-covariance``), with the *floor*: the two dense products of an EM
  iteration in its exponential-family form, ``(b × p)·(p × k)`` and ``(k × b)·(b × p)`` over
  row blocks of 4 MiB of ``p`` sufficient-statistic features, timed in the same rounds (the
  faster of NumPy's BLAS with its threads and with one below 200,000 rows: on a loaded machine a
  small product on two threads can wait a whole time slice for the second), and
  emkit's iteration (the engine's ``e_step`` and ``m_step``) over the floor; a peer whose fit
  took longer than ``--max-fit-seconds`` (default 120) is timed by that fit alone and left out of
  the cells with as much work ``n·k·p`` or more (``--peers`` chooses the peers of every section);
  two more columns explain cells far above the floor: "fixed", emkit's iteration on the first 64
  rows (or 2k), the part of an iteration that does not grow with n (M-step, engine, dispatch),
  and "n·k exp", NumPy's vectorised exponential of n·k numbers on one thread;
* ``hmm``: Gaussian HMMs (diagonal, 4 features) with K = 8 and K = 64 states and a categorical
  HMM with K = 8 states and M = 32 symbols, 100 sequences of 2,000 steps, time per Baum–Welch
  iteration (a contestant whose warm-up fit took longer than ``--max-fit-seconds`` timed by
  that fit alone);
* ``memory``: peak resident memory of a fit on 2,000,000 rows (d = 16, k = 16, full), each
  contestant alone in a subprocess: its largest RSS over the whole process (the kernel's
  high-water mark ``VmHWM``; ``ru_maxrss`` would include the parent's, which Linux carries
  across ``exec``) and the rise of the RSS during the fit above the RSS before it (the
  high-water mark reset after the data are made and the imports and warm-up done).

Install the peers with ``pip install -e .[bench]`` (a separate environment is advisable: they
bring PyTorch and JAX). Run with

    python benchmarks/peers.py [--quick] [--only gmm,grid,hmm,memory] [--peers sklearn,hmmlearn,...]
                               [--repeats 3] [--iterations 5] [--grid-covariance full|diag]
                               [--max-fit-seconds 120] [--gmm-size N D K] [--hmm-size SEQUENCES LENGTH]
                               [--grid-n N ...] [--grid-d D ...] [--grid-k K ...]
                               [--memory-rows N]

``--quick`` uses small sizes (a smoke run: under a minute with scikit-learn and hmmlearn alone,
a few minutes with every peer). scikit-learn is needed in any case (the helpers reused from
``gmm_vs_sklearn.py`` import it; hmmlearn depends on it too).
"""

from __future__ import annotations

import argparse
import importlib
from importlib.metadata import version
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular
from threadpoolctl import threadpool_limits
from scipy.special import logsumexp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gmm_vs_sklearn import EmkitLoop, features, fit_emkit, machine, median_ratio, simulate, start  # noqa: E402

from emkit import CategoricalHMM, GaussianHMM  # noqa: E402
from emkit.exceptions import ConvergenceWarning  # noqa: E402

PEERS = ("sklearn", "hmmlearn", "pomegranate", "gmmx", "torchgmm", "dynamax")
MODULES = {"sklearn": "sklearn", "hmmlearn": "hmmlearn", "pomegranate": "pomegranate", "gmmx": "gmmx",
           "torchgmm": "torchgmm", "dynamax": "dynamax"}
DISTRIBUTIONS = {"sklearn": "scikit-learn"}          # the peers' names on PyPI, where they differ
AGREEMENT = {"float64": 1e-9, "float32": 1e-5}
PAUSE = 0.2
BLOCK_BYTES = 4 * 2**20
SINGLE_THREAD_FLOOR_ROWS = 200_000   # below: the floor is the faster of one and two BLAS threads
FEW_ROWS = 64                        # the grid's "fixed" column: emkit's iteration on so few rows
SIZES = {
    "full": {"gmm": (200_000, 16, 16), "grid_n": (1_000, 20_000, 200_000, 2_000_000), "grid_d": (2, 16, 64),
             "grid_k": (2, 16, 64), "hmm": (100, 2_000), "hmm_states": (8, 64), "memory": 2_000_000},
    "quick": {"gmm": (5_000, 4, 4), "grid_n": (1_000, 5_000), "grid_d": (2, 8), "grid_k": (2, 8),
              "hmm": (10, 300), "hmm_states": (4,), "memory": 20_000},
}
HMM_FEATURES, CATEGORICAL_STATES, CATEGORICAL_SYMBOLS = 4, 8, 32
FLAT = 1.0 + 1e-6          # dynamax's Dirichlet concentrations (see DynamaxHmm)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def installed(peer: str) -> bool:
    try:
        importlib.import_module(MODULES[peer])
    except Exception:                                   # noqa: BLE001 (a broken install is "not installed")
        return False
    return True


# ----------------------------------------------------------------------------- the data (gmm_vs_sklearn.simulate)
def covariances_of(init: dict[str, np.ndarray], covariance_type: str) -> np.ndarray:
    precisions = init["precisions_init"]
    return np.linalg.inv(precisions) if covariance_type == "full" else 1.0 / precisions


def gmm_log_likelihood(X, weights, means, covariances, covariance_type, block: int = 65_536) -> float:
    """Mean log-likelihood per row of a Gaussian mixture, float64, by Cholesky factors of the
    covariances: ``log Σ_k w_k N(x | μ_k, Σ_k)`` with ``-½(d log 2π + log|Σ_k| + ‖L_k⁻¹(x − μ_k)‖²)``."""
    weights, means, covariances = (np.asarray(a, dtype=np.float64) for a in (weights, means, covariances))
    n, d = X.shape
    k = len(weights)
    if covariance_type == "diag":
        covariances = np.stack([np.diag(c) for c in covariances])
    factors = np.linalg.cholesky(covariances)
    log_dets = 2.0 * np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
    total = 0.0
    for begin in range(0, n, block):
        rows = np.asarray(X[begin:begin + block], dtype=np.float64)
        joint = np.empty((len(rows), k))
        for j in range(k):
            z = solve_triangular(factors[j], (rows - means[j]).T, lower=True)
            joint[:, j] = np.log(weights[j]) - 0.5 * (d * np.log(2 * np.pi) + log_dets[j] + (z * z).sum(axis=0))
        total += logsumexp(joint, axis=1).sum()
    return total / n


# -------------------------------------------------------------------------- GMM contestants
class GmmContestant:
    """One library's fit of ``iterations`` EM iterations from ``init``; :meth:`fit` is timed,
    :meth:`params` returns (weights, means, covariances) of the last fit as float64 arrays."""

    dtype = "float64"

    def __init__(self, X, k, covariance_type, init, iterations) -> None:
        self.X, self.k, self.covariance_type, self.init, self.iterations = X, k, covariance_type, init, iterations
        self.covariances = covariances_of(init, covariance_type)

    def fit(self) -> None:
        raise NotImplementedError

    def params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


class EmkitGmm(GmmContestant):
    name = "emkit"

    def fit(self) -> None:
        self.model = fit_emkit(self.X, self.k, self.covariance_type, self.init, self.iterations, reg_covar=0.0)

    def params(self):
        return self.model.weights_, self.model.means_, self.model.covariances_


class SklearnGmm(GmmContestant):
    name = "scikit-learn"

    def fit(self) -> None:
        from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
        from sklearn.mixture import GaussianMixture
        model = GaussianMixture(self.k, covariance_type=self.covariance_type, tol=0.0, reg_covar=0.0,
                                max_iter=self.iterations, **self.init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SklearnConvergenceWarning)
            self.model = model.fit(self.X)

    def params(self):
        return self.model.weights_, self.model.means_, self.model.covariances_


class PomegranateGmm(GmmContestant):
    """pomegranate v1: ``GeneralMixtureModel`` of given ``Normal`` distributions and priors.

    In float64 its weights still come out float32-accurate (about 1e-7 relative): the mixture's
    sum of responsibilities per component (``_w_sum`` of ``BayesMixin._reset_cache``) is a
    float32 buffer whatever the distributions' dtype, so its log-likelihood is flagged."""

    def __init__(self, *args, dtype: str = "float64") -> None:
        super().__init__(*args)
        import torch
        self.torch = torch
        self.dtype, self.name = dtype, f"pomegranate {dtype}"
        self.data = torch.from_numpy(np.ascontiguousarray(self.X, dtype=dtype))

    def fit(self) -> None:
        from pomegranate.distributions import Normal
        from pomegranate.gmm import GeneralMixtureModel
        torch, dtype = self.torch, getattr(self.torch, self.dtype)
        components = [Normal(torch.tensor(mean, dtype=dtype), torch.tensor(covariance, dtype=dtype),
                             covariance_type=self.covariance_type)
                      for mean, covariance in zip(self.init["means_init"], self.covariances)]
        self.model = GeneralMixtureModel(components, priors=torch.tensor(self.init["weights_init"], dtype=dtype),
                                         max_iter=self.iterations, tol=0.0).fit(self.data)

    def params(self):
        weights = self.model.priors.numpy()
        means = np.stack([component.means.numpy() for component in self.model.distributions])
        covariances = np.stack([component.covs.numpy() for component in self.model.distributions])
        return weights, means, covariances


class GmmxGmm(GmmContestant):
    """gmmx: ``EMFitter`` (one ``jax.jit``-compiled loop) from ``GaussianMixtureModelJax.from_squeezed``."""

    name, dtype = "gmmx float32", "float32"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        import jax.numpy as jnp
        from gmmx import EMFitter, GaussianMixtureModelJax
        self.data = jnp.asarray(self.X, dtype=jnp.float32)
        self.start = GaussianMixtureModelJax.from_squeezed(
            means=jnp.asarray(self.init["means_init"], dtype=jnp.float32),
            covariances=jnp.asarray(self.covariances, dtype=jnp.float32),
            weights=jnp.asarray(self.init["weights_init"], dtype=jnp.float32), covariance_type=self.covariance_type)
        self.fitter = EMFitter(max_iter=self.iterations, tol=0.0, reg_covar=0.0)

    def fit(self) -> None:
        import jax
        self.result = jax.block_until_ready(self.fitter.fit(self.data, self.start))

    def params(self):
        gmm = self.result.gmm
        return gmm.weights_numpy, gmm.means_numpy, gmm.covariances.values_numpy


class TorchgmmGmm(GmmContestant):
    """torchgmm: its estimator takes only initial means, so its model and Lightning module are
    driven directly (as ``GaussianMixture.fit`` does after its initialisation) from the full start."""

    name, dtype = "torchgmm float32", "float32"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        import logging

        import torch
        from torchgmm.base.data import DataLoader, collate_tensor, dataset_from_tensors
        logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
        logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
        self.torch = torch
        data = torch.from_numpy(np.ascontiguousarray(self.X, dtype=np.float32))
        self.loader = DataLoader(dataset_from_tensors(data), batch_size=len(data), collate_fn=collate_tensor)

    def fit(self) -> None:
        import pytorch_lightning as pl
        from torchgmm.bayes.core import cholesky_precision
        from torchgmm.bayes.gmm.lightning_module import GaussianMixtureLightningModule
        from torchgmm.bayes.gmm.model import GaussianMixtureModel, GaussianMixtureModelConfig
        torch = self.torch
        model = GaussianMixtureModel(GaussianMixtureModelConfig(num_components=self.k, num_features=self.X.shape[1],
                                                                covariance_type=self.covariance_type))
        with torch.no_grad():
            model.component_probs.copy_(torch.tensor(self.init["weights_init"]))
            model.means.copy_(torch.tensor(self.init["means_init"]))
            model.precisions_cholesky.copy_(cholesky_precision(torch.tensor(self.covariances, dtype=torch.float32),
                                                               self.covariance_type))
        module = GaussianMixtureLightningModule(model, convergence_tolerance=0.0, covariance_regularization=0.0)
        trainer = pl.Trainer(max_epochs=self.iterations, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(module, self.loader)
        self.model = model

    def params(self):
        return (self.model.component_probs.numpy(), self.model.means.numpy(),
                self.model.covariances.detach().numpy())


def gmm_contestants(peers: list[str]) -> list[tuple[str, type, dict]]:
    """The GMM contestants to run, emkit first: (name, class, keyword arguments)."""
    chosen: list[tuple[str, type, dict]] = [("emkit", EmkitGmm, {})]
    if "sklearn" in peers:
        chosen.append(("scikit-learn", SklearnGmm, {}))
    if "pomegranate" in peers:
        chosen += [(f"pomegranate {dtype}", PomegranateGmm, {"dtype": dtype}) for dtype in ("float64", "float32")]
    if "gmmx" in peers:
        chosen.append(("gmmx float32", GmmxGmm, {}))
    if "torchgmm" in peers:
        chosen.append(("torchgmm float32", TorchgmmGmm, {}))
    return chosen


# ------------------------------------------------------------------------ timing, agreement
def race(contestants: list, repeats: int, once_after: float = np.inf,
         notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """One untimed warm-up fit each, then ``repeats`` rounds in which every contestant in turn
    (after a pause) runs one timed fit; the times of each, round by round. A contestant whose
    warm-up took more than ``once_after`` seconds is timed by that fit alone (its compilation,
    if any, is nothing to it), and ``notes`` says so."""
    times: dict[str, list[float]] = {}
    for contestant in contestants:
        began = time.perf_counter()
        contestant.fit()
        elapsed = time.perf_counter() - began
        if elapsed > once_after:
            times[contestant.name] = [elapsed] * repeats
            if notes is not None:
                notes.append(f"  ({contestant.name}: its warm-up fit took {elapsed:.0f} s, so it is timed by that fit alone)")
    running = [contestant for contestant in contestants if contestant.name not in times]
    times.update({contestant.name: [] for contestant in running})
    for _ in range(repeats):
        for contestant in running:
            time.sleep(PAUSE)
            began = time.perf_counter()
            contestant.fit()
            times[contestant.name].append(time.perf_counter() - began)
    return {name: np.array(values) for name, values in times.items()}


def report(contestants: list, times: dict[str, np.ndarray], log_likelihoods: dict[str, float], iterations: int,
           baseline: str = "emkit") -> list[str]:
    """Print one line per contestant: time per iteration (fastest and median fit), ratio to
    emkit (median over the rounds; over 1: emkit is faster), final log-likelihood and its
    relative difference to emkit's; return the names that disagree."""
    ours = log_likelihoods[baseline]
    flagged = []
    for contestant in contestants:
        name = contestant.name
        value = log_likelihoods[name]
        relative = abs(value - ours) / abs(ours)
        tolerance = AGREEMENT[getattr(contestant, "dtype", "float64")]
        verdict = "agrees" if np.isfinite(value) and relative <= tolerance else "DISAGREES"
        if verdict != "agrees":
            flagged.append(name)
        ratio = "" if name == baseline else f"{median_ratio(times[name], times[baseline]):6.2f}x emkit's time"
        print(f"  {name:<22} {1e3 * times[name].min() / iterations:10.2f} ms/iter (median "
              f"{1e3 * np.median(times[name]) / iterations:9.2f})  {ratio:<22} "
              f"final log-likelihood {value:.12g}  rel. diff {relative:.1e} ({verdict}, tol {tolerance:g})")
    return flagged


# ---------------------------------------------------------------------------------- sections
def gmm_section(args) -> list[str]:
    n, d, k = args.sizes["gmm"]
    X = simulate(n, d, k)
    flagged = []
    for covariance_type in ("full", "diag"):
        init = start(X, k, covariance_type)
        contestants = [cls(X, k, covariance_type, init, args.iterations, **options)
                       for _, cls, options in gmm_contestants(args.peers)]
        times = race(contestants, args.repeats)
        lls = {c.name: gmm_log_likelihood(X, *c.params(), covariance_type) for c in contestants}
        print(f"\n## GMM {covariance_type}: n = {n:,}, d = {d}, k = {k}; {args.iterations} iterations per fit, "
              f"fastest of {args.repeats} (load {load()})")
        flagged += [f"gmm {covariance_type}: {name}" for name in report(contestants, times, lls, args.iterations)]
    return flagged


class FloorLoop:
    """The two dense products of an EM iteration over ``n`` rows in blocks of 4 MiB of ``p``
    features: ``(b × p)·(p × k)`` (log-densities) and ``(k × b)·(b × p)`` (statistics)."""

    def __init__(self, n: int, p: int, k: int, threads: int | None = None) -> None:
        self.threads = threads
        rng = np.random.default_rng(0)
        self.block = max(1, min(n, BLOCK_BYTES // (8 * p)))
        self.features = rng.standard_normal((self.block, p))
        self.coefficients = rng.standard_normal((p, k))
        self.n = n

    def step(self) -> float:
        with threadpool_limits(self.threads, user_api="blas"):
            return self._products()

    def _products(self) -> float:
        began = time.perf_counter()
        for begin in range(0, self.n, self.block):
            rows = self.features[:min(self.block, self.n - begin)]
            log_densities = rows @ self.coefficients
            log_densities.T @ rows
        return time.perf_counter() - began


class FewRowsLoop(EmkitLoop):
    """emkit's iteration on a few rows, always from the start (the M-step's result is dropped:
    on so few rows it can be a singular covariance): what does not grow with n."""

    def step(self) -> float:
        began = time.perf_counter()
        stats, _ = self.model.e_step(self.data, self.params)
        self.model.m_step(stats, self.params)
        return time.perf_counter() - began


class ExponentialLoop:
    """``n·k`` exponentials, NumPy's vectorised ``exp`` on one thread over blocks of 4 MiB: what
    an E-step's responsibilities cost beyond the products where ``p`` is small."""

    def __init__(self, n: int, k: int) -> None:
        self.block = np.linspace(-30.0, 0.0, max(1, min(n, BLOCK_BYTES // (8 * k))) * k)
        self.out = np.empty_like(self.block)
        self.n, self.k = n, k

    def step(self) -> float:
        began = time.perf_counter()
        rows = self.block.size // self.k
        for begin in range(0, self.n, rows):
            size = min(rows, self.n - begin) * self.k
            np.exp(self.block[:size], out=self.out[:size])
        return time.perf_counter() - began


def grid_section(args) -> list[str]:
    """The grid, cell by cell; a peer whose warm-up fit took longer than ``--max-fit-seconds`` is
    timed by that fit alone and left out of every cell with at least as much work (``n·k·p``)
    after it, and says so."""
    covariance_type = args.grid_covariance
    flagged: list[str] = []
    too_slow: dict[str, float] = {}                  # peer -> the least work at which it ran out of time
    print(f"\n## Scaling grid, {covariance_type} covariances: time per iteration (ms) of emkit's iteration "
          f"(e_step + m_step, fastest of at least 3 back to back and 0.05 s per round, one step where it "
          f"takes a second or more; {args.repeats} rounds), the floor (two threads, or one where faster below "
          f"{SINGLE_THREAD_FLOOR_ROWS:,} rows), emkit / floor, what does not scale with n (\"fixed\": emkit's "
          f"iteration on the first {FEW_ROWS} rows, or 2k), n·k exponentials (NumPy, one thread), and each peer's "
          f"fit time over emkit's ({args.iterations} iterations per fit)")
    for n in args.sizes["grid_n"]:
        for d in args.sizes["grid_d"]:
            for k in args.sizes["grid_k"]:
                if k < n:
                    try:
                        flagged += grid_cell(n, d, k, covariance_type, too_slow, args)
                    except (ValueError, np.linalg.LinAlgError) as error:   # emkit's, raised before any peer's
                        print(f"  n={n:>9,} d={d:>2} k={k:>2}: no fit without a covariance floor (a component's "
                              f"covariance became singular from this start, {n / k:.0f} rows per component on "
                              f"average for {d} features: {str(error).split('. ')[0]})")
    return flagged


def fastest(step: Callable[[], float], least: int = 3, seconds: float = 0.05, long: float = 1.0) -> float:
    """The fastest of at least ``least`` steps run back to back for at least ``seconds`` (a small
    multithreaded product that loses a time slice to another process on a loaded machine takes
    a whole slice, far above its own time); a step of ``long`` seconds or more is timed once, a
    time slice being nothing to it."""
    times, began = [step()], time.perf_counter()
    if times[0] >= long:
        return times[0]
    while len(times) < least or time.perf_counter() - began < seconds:
        times.append(step())
    return min(times)


def grid_cell(n, d, k, covariance_type, too_slow, args) -> list[str]:
    X = simulate(n, d, k)
    init = start(X, k, covariance_type)
    work = float(n) * k * features(d, covariance_type)
    p = features(d, covariance_type)
    few = min(n, max(FEW_ROWS, 2 * k))
    loops = {"floor": FloorLoop(n, p, k), "emkit": EmkitLoop(X, k, covariance_type, init),
             "fixed": FewRowsLoop(X[:few], k, covariance_type, init), "exponentials": ExponentialLoop(n, k)}
    if n < SINGLE_THREAD_FLOOR_ROWS:
        loops["floor, 1 thread"] = FloorLoop(n, p, k, threads=1)
    contestants, left_out, timed_once = [], [], {}
    for name, cls, options in gmm_contestants(args.peers):
        if work >= too_slow.get(name, np.inf):
            left_out.append(name)
            continue
        contestant = cls(X, k, covariance_type, init, args.iterations, **options)
        began = time.perf_counter()
        contestant.fit()                                             # warm-up (and compilation)
        elapsed = time.perf_counter() - began
        if name != "emkit" and elapsed > args.max_fit_seconds:
            too_slow[name] = work
            timed_once[contestant.name] = elapsed                    # compilation is nothing to it
        contestants.append(contestant)
    for loop in loops.values():
        loop.step()
    step_times: dict[str, list[float]] = {name: [] for name in loops}
    fit_times: dict[str, list[float]] = {c.name: [] for c in contestants}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            time.sleep(PAUSE)
            step_times[name].append(fastest(loop.step))
        for contestant in contestants:
            if contestant.name in timed_once:
                continue
            time.sleep(PAUSE)
            began = time.perf_counter()
            contestant.fit()
            fit_times[contestant.name].append(time.perf_counter() - began)
    for name, elapsed in timed_once.items():
        fit_times[name] = [elapsed] * args.repeats
    steps = {name: np.array(values) for name, values in step_times.items()}
    if "floor, 1 thread" in steps:
        steps["floor"] = np.minimum(steps["floor"], steps.pop("floor, 1 thread"))
    fits = {name: np.array(values) for name, values in fit_times.items()}
    lls = {c.name: gmm_log_likelihood(X, *c.params(), covariance_type) for c in contestants}
    ours, cells, flagged = lls["emkit"], [], []
    for contestant in contestants[1:]:
        relative = abs(lls[contestant.name] - ours) / abs(ours)
        mark = "" if relative <= AGREEMENT[contestant.dtype] else " DISAGREES"
        if mark:
            flagged.append(f"grid n={n} d={d} k={k}: {contestant.name} (rel. diff {relative:.1e})")
        once = ", its warm-up fit" if contestant.name in timed_once else ""
        cells.append(f"{contestant.name} {median_ratio(fits[contestant.name], fits['emkit']):.2f}x"
                     f" (ll rel. diff {relative:.0e}{mark}{once})")
    cells += [f"{name} left out (a fit took over {args.max_fit_seconds:g} s)" for name in left_out]
    print(f"  n={n:>9,} d={d:>2} k={k:>2}: emkit {1e3 * steps['emkit'].min():9.2f}  floor "
          f"{1e3 * steps['floor'].min():9.2f}  emkit/floor {median_ratio(steps['emkit'], steps['floor']):5.2f}"
          f"  (fixed {1e3 * steps['fixed'].min():.2f}, n·k exp {1e3 * steps['exponentials'].min():.2f})"
          f"  | {'; '.join(cells) or 'no peers'}  (load {load()})")
    return flagged


# -------------------------------------------------------------------------------------- HMMs
def hmm_problem(kind: str, states: int, sequences: int, length: int, seed: int = 0):
    """Observations of ``sequences`` sequences of ``length`` steps from a sticky HMM, and a start
    away from the truth (the same for every contestant): (X, lengths, start)."""
    rng = np.random.default_rng(seed)
    truth_transmat = 0.9 * np.eye(states) + 0.1 * rng.dirichlet(np.ones(states), size=states)
    if kind == "gaussian":
        truth = GaussianHMM(states, "diag")
        truth.means_ = rng.normal(scale=2.0, size=(states, HMM_FEATURES))
        truth.covars_ = rng.uniform(0.5, 1.5, size=(states, HMM_FEATURES))
    else:
        truth = CategoricalHMM(states, n_features=CATEGORICAL_SYMBOLS)
        truth.emissionprob_ = rng.dirichlet(np.full(CATEGORICAL_SYMBOLS, 0.3), size=states)
    truth.startprob_ = np.full(states, 1.0 / states)
    truth.transmat_ = truth_transmat
    X = np.vstack([truth.sample(length, random_state=seed + i)[0] for i in range(sequences)])
    initial = {"startprob": rng.dirichlet(np.ones(states)),
               "transmat": 0.5 * np.eye(states) + 0.5 * rng.dirichlet(np.ones(states), size=states)}
    if kind == "gaussian":
        initial["means"] = rng.normal(scale=2.0, size=(states, HMM_FEATURES))
        initial["covars"] = np.full((states, HMM_FEATURES), 2.0)
    else:
        initial["emissionprob"] = rng.dirichlet(np.ones(CATEGORICAL_SYMBOLS), size=states)
    return X, [length] * sequences, initial


def hmm_log_likelihood(kind, X, lengths, params) -> float:
    """Log-likelihood of all sequences (of equal length), float64: the forward recursion in log
    space, vectorised over sequences."""
    sequences, length = len(lengths), lengths[0]
    if kind == "gaussian":
        means, variances = (np.asarray(params[name], dtype=np.float64) for name in ("means", "covars"))
        Y = X.reshape(sequences, length, 1, -1)
        log_b = -0.5 * (np.log(2 * np.pi * variances) + (Y - means) ** 2 / variances).sum(axis=-1)
    else:
        log_b = np.log(np.asarray(params["emissionprob"], dtype=np.float64)).T[X.reshape(sequences, length).astype(int)]
    log_a = np.log(np.asarray(params["transmat"], dtype=np.float64))
    alpha = np.log(np.asarray(params["startprob"], dtype=np.float64)) + log_b[:, 0]
    for t in range(1, length):
        alpha = logsumexp(alpha[:, :, None] + log_a, axis=1) + log_b[:, t]
    return float(logsumexp(alpha, axis=1).sum())


class HmmContestant:
    dtype = "float64"

    def __init__(self, kind, X, lengths, initial, iterations) -> None:
        self.kind, self.X, self.lengths, self.initial, self.iterations = kind, X, lengths, initial, iterations
        self.states = len(initial["startprob"])


class EmkitHmm(HmmContestant):
    name = "emkit"

    def fit(self) -> None:
        if self.kind == "gaussian":
            model = GaussianHMM(self.states, "diag", covars_prior=0.0, n_iter=self.iterations, tol=0.0,
                                init_params="")
        else:
            model = CategoricalHMM(self.states, n_features=CATEGORICAL_SYMBOLS, n_iter=self.iterations, tol=0.0,
                                   init_params="")
        for name, value in self.initial.items():
            setattr(model, f"{name}_", value.copy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model = model.fit(self.X, self.lengths)

    def params(self) -> dict[str, np.ndarray]:
        names = ("startprob", "transmat") + (("means", "covars") if self.kind == "gaussian" else ("emissionprob",))
        params = {name: getattr(self.model, f"{name}_") for name in names}
        if self.kind == "gaussian":
            params["covars"] = np.diagonal(params["covars"], axis1=1, axis2=2)
        return params


class HmmlearnHmm(EmkitHmm):
    def __init__(self, *args, implementation: str = "scaling") -> None:
        super().__init__(*args)
        self.implementation, self.name = implementation, f"hmmlearn ({implementation})"

    def fit(self) -> None:
        from hmmlearn import hmm
        if self.kind == "gaussian":
            model = hmm.GaussianHMM(self.states, "diag", covars_prior=0.0, n_iter=self.iterations, tol=-np.inf,
                                    init_params="", implementation=self.implementation)
        else:
            model = hmm.CategoricalHMM(self.states, n_features=CATEGORICAL_SYMBOLS, n_iter=self.iterations,
                                       tol=-np.inf, init_params="", implementation=self.implementation)
        for name, value in self.initial.items():
            setattr(model, f"{name}_", value.copy())
        self.model = model.fit(self.X, self.lengths)


class DynamaxHmm(HmmContestant):
    """dynamax: its model's ``e_step`` and ``m_step`` in one ``jax.jit``-compiled ``lax.scan``, as
    ``fit_em`` runs them (``fit_em`` compiles its loop anew at every call), float32 (JAX's
    default). Its M-step is the mode of the posterior under conjugate priors, set here so that it
    is the maximum-likelihood step: the normal-inverse-gamma prior with mean concentration 0,
    scale 0 and concentration −3/2 (the mode of the variance is ``β_n / (α_n + 3/2)`` with
    ``α_n = α_0 + n/2``); the Dirichlet concentrations 1 + 1e-6 (at exactly 1 TensorFlow
    Probability's Dirichlet mode is NaN as soon as a state has no counts)."""

    name, dtype = "dynamax float32", "float32"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        from functools import partial

        import jax
        import jax.numpy as jnp
        from dynamax.hidden_markov_model import CategoricalHMM as Categorical
        from dynamax.hidden_markov_model import DiagonalGaussianHMM
        sequences, length = len(self.lengths), self.lengths[0]
        if self.kind == "gaussian":
            self.model = DiagonalGaussianHMM(self.states, HMM_FEATURES, initial_probs_concentration=FLAT,
                                             transition_matrix_concentration=FLAT, emission_prior_mean_concentration=0.0,
                                             emission_prior_concentration=-1.5, emission_prior_scale=0.0)
            self.emissions = jnp.asarray(self.X.reshape(sequences, length, HMM_FEATURES), dtype=jnp.float32)
            params, props = self.model.initialize(
                initial_probs=jnp.asarray(self.initial["startprob"], dtype=jnp.float32),
                transition_matrix=jnp.asarray(self.initial["transmat"], dtype=jnp.float32),
                emission_means=jnp.asarray(self.initial["means"], dtype=jnp.float32),
                emission_scale_diags=jnp.sqrt(jnp.asarray(self.initial["covars"], dtype=jnp.float32)))
        else:
            self.model = Categorical(self.states, 1, CATEGORICAL_SYMBOLS, initial_probs_concentration=FLAT,
                                     transition_matrix_concentration=FLAT, emission_prior_concentration=FLAT)
            self.emissions = jnp.asarray(self.X.reshape(sequences, length, 1), dtype=jnp.int32)
            params, props = self.model.initialize(
                initial_probs=jnp.asarray(self.initial["startprob"], dtype=jnp.float32),
                transition_matrix=jnp.asarray(self.initial["transmat"], dtype=jnp.float32),
                emission_probs=jnp.asarray(self.initial["emissionprob"][:, None, :], dtype=jnp.float32))
        self.start, model, iterations = params, self.model, self.iterations

        @jax.jit
        def run_em(params, emissions):
            def em_step(carry, _):
                params, m_step_state = carry
                batch_stats, lls = jax.vmap(partial(model.e_step, params))(emissions, None)
                params, m_step_state = model.m_step(params, props, batch_stats, m_step_state)
                return (params, m_step_state), lls.sum()
            carry = (params, model.initialize_m_step_state(params, props))
            (params, _), lls = jax.lax.scan(em_step, carry, xs=None, length=iterations)
            return params, lls

        self.run_em = run_em

    def fit(self) -> None:
        import jax
        self.result = jax.block_until_ready(self.run_em(self.start, self.emissions))[0]

    def params(self) -> dict[str, np.ndarray]:
        params = self.result
        out = {"startprob": np.asarray(params.initial.probs), "transmat": np.asarray(params.transitions.transition_matrix)}
        if self.kind == "gaussian":
            out["means"] = np.asarray(params.emissions.means)
            out["covars"] = np.asarray(params.emissions.scale_diags) ** 2
        else:
            out["emissionprob"] = np.asarray(params.emissions.probs)[:, 0, :]
        return {name: value.astype(np.float64) for name, value in out.items()}


def hmm_section(args) -> list[str]:
    sequences, length = args.sizes["hmm"]
    problems = [("gaussian", states) for states in args.sizes["hmm_states"]] + [("categorical", CATEGORICAL_STATES)]
    flagged = []
    for kind, states in problems:
        X, lengths, initial = hmm_problem(kind, states, sequences, length)
        contestants: list[HmmContestant] = [EmkitHmm(kind, X, lengths, initial, args.iterations)]
        if "hmmlearn" in args.peers:
            contestants += [HmmlearnHmm(kind, X, lengths, initial, args.iterations, implementation=impl)
                            for impl in ("scaling", "log")]
        if "dynamax" in args.peers:
            contestants.append(DynamaxHmm(kind, X, lengths, initial, args.iterations))
        notes: list[str] = []
        times = race(contestants, args.repeats, once_after=args.max_fit_seconds, notes=notes)
        lls = {c.name: hmm_log_likelihood(kind, X, lengths, c.params()) for c in contestants}
        emissions = (f"diagonal Gaussian, {HMM_FEATURES} features" if kind == "gaussian"
                     else f"categorical, M = {CATEGORICAL_SYMBOLS} symbols")
        print(f"\n## HMM, {emissions}, K = {states} states; {sequences} sequences of {length:,}; "
              f"{args.iterations} Baum–Welch iterations per fit, fastest of {args.repeats} (load {load()})")
        flagged += [f"hmm {kind} K={states}: {name}" for name in report(contestants, times, lls, args.iterations)]
        for note in notes:
            print(note)
    return flagged


# ------------------------------------------------------------------------------------ memory
def memory_child(name: str, n: int, iterations: int) -> None:
    """In a subprocess of its own: make the data, warm the contestant up on a slice, reset the
    kernel's RSS high-water mark, fit, and print one JSON line of RSS figures (bytes)."""
    d = k = 16
    X = simulate(n, d, k)
    init = start(X, k, "full")
    _, cls, options = next(entry for entry in gmm_contestants(list(PEERS)) if entry[0] == name)
    cls(X[:2_000], k, "full", init, 1, **options).fit()          # imports, compilation, thread pools
    contestant = cls(X, k, "full", init, iterations, **options)
    setup_peak = proc_status("VmHWM")
    with open("/proc/self/clear_refs", "w") as refs:                # reset VmHWM to the current RSS
        refs.write("5")
    before = proc_status("VmRSS")
    contestant.fit()
    fit_peak = proc_status("VmHWM")
    print(json.dumps({"before": before, "hwm": fit_peak, "maxrss": max(setup_peak, fit_peak)}))


def proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_section(args) -> list[str]:
    n = args.sizes["memory"]
    print(f"\n## Peak memory of a fit: n = {n:,}, d = 16, k = 16, full covariances, {args.iterations} iterations, "
          f"each contestant alone in a subprocess (data: {n * 16 * 8 / 2**20:.0f} MiB float64; load {load()})")
    for name, _, _ in gmm_contestants(args.peers):
        run = subprocess.run([sys.executable, __file__, "--memory-child", name, "--memory-rows", str(n),
                              "--iterations", str(args.iterations)], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"  {name:<22} failed: {(run.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"  {name:<22} max RSS of the process {figures['maxrss'] / 2**20:8.0f} MiB; rise during the fit "
              f"{(figures['hwm'] - figures['before']) / 2**20:8.1f} MiB (RSS before the fit "
              f"{figures['before'] / 2**20:.0f} MiB)")
    return []


# -------------------------------------------------------------------------------------- main
SECTIONS: dict[str, Callable] = {"gmm": gmm_section, "grid": grid_section, "hmm": hmm_section,
                                 "memory": memory_section}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated: gmm,grid,hmm,memory")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"peers, comma-separated (default all: {','.join(PEERS)})")
    parser.add_argument("--repeats", type=int, default=None, help="timed fits per contestant (default 3; quick 2)")
    parser.add_argument("--iterations", type=int, default=5, help="EM iterations per fit (default 5)")
    parser.add_argument("--grid-covariance", default="full", choices=["full", "diag"])
    parser.add_argument("--max-fit-seconds", type=float, default=120.0,
                        help="grid: leave a peer out of larger cells once one of its fits took longer; grid and hmm: "
                             "time such a fit once (default 120)")
    parser.add_argument("--gmm-size", type=int, nargs=3, metavar=("N", "D", "K"), help="override the gmm section's size")
    parser.add_argument("--hmm-size", type=int, nargs=2, metavar=("SEQUENCES", "LENGTH"),
                        help="override the hmm section's number and length of sequences")
    parser.add_argument("--memory-rows", type=int, help="override the memory section's number of rows")
    for axis in ("n", "d", "k"):
        parser.add_argument(f"--grid-{axis}", type=int, nargs="+", metavar=axis.upper(),
                            help=f"override the grid's values of {axis}")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.memory_rows, args.iterations)
        return 0
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.sizes = dict(SIZES["quick" if args.quick else "full"])
    for section, override in (("gmm", args.gmm_size), ("hmm", args.hmm_size), ("memory", args.memory_rows),
                              ("grid_n", args.grid_n), ("grid_d", args.grid_d), ("grid_k", args.grid_k)):
        if override:
            args.sizes[section] = tuple(override) if isinstance(override, list) else override
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    requested = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown_peers = sorted(set(requested) - set(PEERS))
    if unknown or unknown_peers:
        parser.error(f"--only: unknown {unknown}" if unknown else f"--peers: unknown {unknown_peers}")
    args.peers = [peer for peer in requested if installed(peer)]
    skipped = [peer for peer in requested if peer not in args.peers]
    print(f"# emkit against its peers ({'quick' if args.quick else 'full'} sizes)")
    print(f"# {machine()}")
    print("# peers: " + ", ".join(f"{peer} {version(DISTRIBUTIONS.get(peer, peer))}" for peer in args.peers)
          + (f"; not installed, skipped: {', '.join(skipped)}" if skipped else ""))
    print(f"# load average before the run: {load()}")
    flagged = []
    for name in sections:
        flagged += SECTIONS[name](args)
    print(f"\n# log-likelihood agreement: {'every contestant agrees' if not flagged else 'DISAGREEMENTS:'}")
    for line in flagged:
        print(f"#   {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
