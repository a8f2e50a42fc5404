"""The hidden chain's M-steps beyond the Dirichlet mode: constrained transition matrices and an
initial distribution that is the chain's stationary distribution.

*Constraints.* A ``(K, K)`` array ``fixed`` holds the transition probabilities that the M-step
keeps (a number) and marks the free ones (NaN); a topology (left-right, banded) is the special
case whose held entries are zeros, so forbidden transitions stay zero by construction. Row ``i``
keeps its free mass ``m_i = 1 − Σ_{j held} a_ij``, and the M-step maximises
``Σ_{j free} n_ij log a_ij`` subject to ``Σ_{j free} a_ij = m_i``: in closed form,
``a_ij = m_i n_ij / Σ_{l free} n_il`` (``n`` the expected transition counts plus any Dirichlet
pseudo-counts).

*Stationary start* (Zucchini & MacDonald's default). The initial distribution is
``δ(A)``, the solution of ``δ A = δ``, ``Σ δ = 1``, i.e. ``δ = 1ᵀ (I − A + U)⁻¹`` (``U`` all ones),
so the transition M-step maximises ``Σ n_ij log a_ij + Σ_k s_k log δ_k(A)`` (``s`` the expected
start counts). No closed form exists, so the step runs damped Newton iterations on the rows'
logits from the current matrix (a Levenberg shift where the objective is not concave) and keeps
their result only when it does not lower the objective: a generalised EM step even when
stopped early.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import block_diag
from scipy.special import xlogy

from ..kernels.newton import maximize_concave
from ..models.categorical import categorical_information

#: Topologies of the transition matrix: every transition allowed; ``j ≥ i`` (a chain that only
#: moves forward); ``|j − i| ≤ bandwidth``.
TOPOLOGIES = ("ergodic", "left-right", "banded")

#: Row sums of held values may exceed one by this much (rounding of user input).
MASS_TOLERANCE = 1e-8


def transition_constraints(n_states: int, *, topology: str = "ergodic", bandwidth: int | None = None,
                           fixed_transmat=None) -> np.ndarray | None:
    """The held transition probabilities as a ``(K, K)`` array, NaN where free; None when all are free.

    Parameters
    ----------
    n_states : int
    topology : {"ergodic", "left-right", "banded"}
        ``"left-right"``: ``a_ij = 0`` for ``j < i`` (and for ``j > i + bandwidth`` when a
        bandwidth is given); ``"banded"``: ``a_ij = 0`` for ``|j − i| > bandwidth``.
    bandwidth : int, optional
        The longest allowed jump (required by ``"banded"``).
    fixed_transmat : array-like of shape (K, K), optional
        Values held by the M-step; NaN (or None) marks the free entries.

    Raises
    ------
    ValueError
        Naming the argument: an unknown topology, a bad bandwidth, a held value outside
        ``[0, 1]``, a row whose held values sum above one, or a row with nothing free whose held
        values do not sum to one.
    """
    k = n_states
    if topology not in TOPOLOGIES:
        raise ValueError(f"topology: expected one of {TOPOLOGIES}, got {topology!r}")
    if bandwidth is not None and not (isinstance(bandwidth, (int, np.integer)) and not isinstance(bandwidth, bool)
                                      and bandwidth >= 0):
        raise ValueError(f"bandwidth: expected a non-negative integer (the longest allowed jump), got {bandwidth!r}")
    if topology == "banded" and bandwidth is None:
        raise ValueError("bandwidth: topology='banded' needs the longest allowed jump |j - i|, e.g. bandwidth=1")
    if topology == "ergodic" and bandwidth is not None:
        raise ValueError("bandwidth: only a 'left-right' or 'banded' topology takes a bandwidth")
    held = np.full((k, k), np.nan)
    jump = np.arange(k)[None, :] - np.arange(k)[:, None]
    if topology == "left-right":
        held[(jump < 0) | (jump > (k if bandwidth is None else bandwidth))] = 0.0
    elif topology == "banded":
        held[np.abs(jump) > bandwidth] = 0.0
    if fixed_transmat is not None:
        try:
            given = np.array(fixed_transmat, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"fixed_transmat: expected a ({k}, {k}) array of probabilities with NaN where free, got "
                             f"{fixed_transmat!r}") from None
        if given.shape != (k, k):
            raise ValueError(f"fixed_transmat: expected shape ({k}, {k}), got {given.shape}")
        values = given[~np.isnan(given)]
        if np.any(~np.isfinite(values)) or np.any(values < 0.0) or np.any(values > 1.0):
            raise ValueError("fixed_transmat: held values must be probabilities in [0, 1] (NaN marks a free entry)")
        clash = ~np.isnan(given) & ~np.isnan(held) & (given != held)
        if np.any(clash):
            raise ValueError(f"fixed_transmat: entries {np.argwhere(clash).tolist()} are forbidden by topology="
                             f"{topology!r} and can only be held at 0")
        held = np.where(np.isnan(given), held, given)
    if np.all(np.isnan(held)):
        return None
    mass = free_mass(held)
    nothing_free = np.all(~np.isnan(held), axis=1)
    bad = (mass < -MASS_TOLERANCE) | (nothing_free & (np.abs(mass) > MASS_TOLERANCE))
    if np.any(bad):
        raise ValueError(f"fixed_transmat: the held values of row(s) {np.flatnonzero(bad).tolist()} sum to "
                         f"{np.round(1.0 - mass[bad], 10).tolist()}; a row's held values must sum to at most 1, and "
                         "to exactly 1 when none of its entries is free")
    return held


def free_mass(held: np.ndarray) -> np.ndarray:
    """``m_i = 1 − Σ_{j held} a_ij`` of every row."""
    return 1.0 - np.nansum(held, axis=1)


def free_entries(held: np.ndarray | None, n_states: int) -> np.ndarray:
    """Boolean ``(K, K)``: the free entries (all when ``held`` is None)."""
    return np.ones((n_states, n_states), dtype=bool) if held is None else np.isnan(held)


def satisfies(transmat: np.ndarray, held: np.ndarray | None, atol: float = 1e-8) -> bool:
    """Whether ``transmat`` has the held values."""
    if held is None:
        return True
    mask = ~np.isnan(held)
    return bool(np.all(np.abs(transmat[mask] - held[mask]) <= atol))


def project(transmat: np.ndarray, held: np.ndarray | None) -> np.ndarray:
    """``transmat`` with the held values and each row's free entries rescaled to its free mass
    (spread evenly when they are all zero): a start that satisfies the constraints."""
    if held is None:
        return np.asarray(transmat, dtype=float)
    free = np.isnan(held)
    part = np.where(free, transmat, 0.0)
    totals = part.sum(axis=1, keepdims=True)
    even = free / np.maximum(free.sum(axis=1, keepdims=True), 1)
    shares = np.where(totals > 0.0, part / np.where(totals > 0.0, totals, 1.0), even)
    return np.where(free, shares * free_mass(held)[:, None], held)


def constrained_rows(counts: np.ndarray, held: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The closed-form M-step of a constrained matrix: ``a_ij = m_i n_ij / Σ_{l free} n_il`` on
    the free entries, the held values elsewhere.

    ``counts`` are the expected transition counts plus pseudo-counts. Returns ``(rows, empty)``:
    a row with free entries but no counts on them keeps ``previous`` (flagged in ``empty``).
    """
    free = np.isnan(held)
    part = np.where(free, np.maximum(counts, 0.0), 0.0)
    totals = part.sum(axis=1, keepdims=True)
    empty = (totals[:, 0] <= 0.0) & free.any(axis=1)
    shares = part / np.where(totals > 0.0, totals, 1.0)
    rows = np.where(free, shares * free_mass(held)[:, None], held)
    return np.where(empty[:, None], previous, rows), empty


def stationary_distribution(transmat: np.ndarray) -> np.ndarray:
    """``δ`` with ``δ A = δ`` and ``Σ δ = 1``: the solution of ``(I − A + U)ᵀ δᵀ = 1`` (``U``
    all ones), unique for an irreducible chain.

    Raises
    ------
    ValueError
        When the chain has no unique stationary distribution (the system is singular).
    """
    transmat = np.asarray(transmat, dtype=float)
    k = transmat.shape[0]
    system = np.eye(k) - transmat + 1.0
    try:
        delta = np.linalg.solve(system.T, np.ones(k))
    except np.linalg.LinAlgError:
        raise ValueError("transmat: the chain has no unique stationary distribution (it is reducible); "
                         "initial='stationary' needs an irreducible chain") from None
    return np.clip(delta, 0.0, None) / np.clip(delta, 0.0, None).sum()


def _stationary_terms(transmat: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """``Σ_k w_k log δ_k(A)`` and its gradient in ``A``, ``∂/∂a_ij = δ_i (M⁻¹ (w/δ))_j`` with
    ``M = I − A + U`` (from ``dδ = δ dA M⁻¹``); ``−inf`` where ``δ_k = 0`` with ``w_k > 0``.
    Complex-safe in ``A`` (the gradient), for complex-step second derivatives."""
    k = transmat.shape[0]
    system = np.eye(k) - transmat + 1.0
    try:
        delta = np.linalg.solve(system.T, np.ones(k))
    except np.linalg.LinAlgError:
        return -np.inf, np.zeros_like(transmat)
    if not np.all(np.isfinite(delta)) or np.any(delta.real[weights > 0.0] <= 0.0):
        return -np.inf, np.zeros_like(transmat)
    ratio = np.where(weights > 0.0, weights / np.where(weights > 0.0, delta, 1.0), 0.0)
    direction = np.linalg.solve(system, ratio)
    value = float(xlogy(weights, np.where(weights > 0.0, delta.real, 1.0)).sum())
    return value, np.outer(delta, direction)


def stationary_objective(transmat: np.ndarray, counts: np.ndarray, weights: np.ndarray,
                         free: np.ndarray) -> float:
    """``Σ_{free} n_ij log a_ij + Σ_k w_k log δ_k(A)``: what the stationary M-step maximises
    (held entries add a constant and are left out)."""
    counts = np.where(free, np.maximum(counts, 0.0), 0.0)
    if np.any((counts > 0.0) & (transmat <= 0.0)):
        return -np.inf
    return float(xlogy(counts, np.where(counts > 0.0, transmat, 1.0)).sum()) + _stationary_terms(transmat, weights)[0]


class _StationaryStep:
    """The stationary M-step's objective in the logits ``η`` of the free coordinates: row ``i``'s
    free entries are ``m_i softmax(η_i, 0)`` (its last free entry the reference), with the value,
    the analytic gradient and the Hessian by complex-step differentiation of that gradient
    (exact to round-off), for :func:`~emkit.kernels.newton.maximize_concave`."""

    #: Complex step of the Hessian's columns.
    STEP = 1e-20

    def __init__(self, counts: np.ndarray, weights: np.ndarray, previous: np.ndarray, held: np.ndarray | None):
        k = previous.shape[0]
        self.free = free_entries(held, k)
        self.coordinates = _coordinate_mask(held, k)
        self.mass = np.ones(k) if held is None else free_mass(held)
        self.base = np.where(self.free, 0.0, previous if held is None else np.nan_to_num(held))
        self.counts = np.where(self.free, np.maximum(counts, 0.0), 0.0)
        self.weights = np.maximum(np.asarray(weights, dtype=float), 0.0)

    def start(self, previous: np.ndarray) -> np.ndarray:
        """The logits of ``previous`` (zeros clamped to the smallest float)."""
        logs = np.log(np.maximum(previous, np.finfo(float).tiny))
        last = np.array([logs[i, np.flatnonzero(row)[-1]] if row.any() else 0.0 for i, row in enumerate(self.free)])
        return (logs - last[:, None])[self.coordinates]

    def matrix(self, eta: np.ndarray) -> np.ndarray:
        """The transition matrix of the logits (complex-safe)."""
        logits = np.zeros(self.free.shape, dtype=eta.dtype)
        logits[self.coordinates] = eta
        shift = np.where(self.free, logits.real, -np.inf).max(axis=1, keepdims=True)
        shares = np.where(self.free, np.exp(logits - np.where(np.isfinite(shift), shift, 0.0)), 0.0)
        totals = shares.sum(axis=1, keepdims=True)
        return np.where(self.free, shares / np.where(totals == 0, 1.0, totals) * self.mass[:, None], self.base)

    def gradient(self, eta: np.ndarray) -> tuple[float, np.ndarray]:
        """The value (of the real part) and the gradient in ``η``: ``a_ij g_ij − a_ij Σ_l a_il g_il / m_i``
        (``g = ∂f/∂A``, ``a_ij g_ij = n_ij + a_ij δ_i v_j``)."""
        transmat = self.matrix(eta)
        value, gradient = _stationary_terms(transmat, self.weights)
        scaled = self.counts + transmat * gradient
        share = transmat / np.where(self.mass > 0.0, self.mass, 1.0)[:, None]
        grad = scaled - share * np.where(self.free, scaled, 0.0).sum(axis=1, keepdims=True)
        if np.isfinite(value):
            value += float(xlogy(self.counts, np.where(self.counts > 0.0, transmat.real, 1.0)).sum())
        return value, grad[self.coordinates]

    def __call__(self, eta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        value, gradient = self.gradient(eta)
        p = eta.size
        if not np.isfinite(value):
            return -np.inf, np.zeros(p), -np.eye(p)
        hessian = np.empty((p, p))
        for i in range(p):
            step = eta.astype(complex)
            step[i] += 1j * self.STEP
            hessian[:, i] = self.gradient(step)[1].imag / self.STEP
        return value, gradient, 0.5 * (hessian + hessian.T)


def stationary_rows(counts: np.ndarray, weights: np.ndarray, previous: np.ndarray, held: np.ndarray | None, *,
                    tol: float = 1e-12, max_iter: int = 100) -> np.ndarray:
    """The transition M-step with a stationary start: ``argmax_A Σ n_ij log a_ij + Σ_k w_k log δ_k(A)``
    over the free entries, from ``previous``.

    Damped Newton steps (:func:`~emkit.kernels.newton.maximize_concave`, whose Levenberg shift
    covers the objective's non-concave regions and whose value never decreases) on the logits of
    the free coordinates; the result replaces ``previous`` only when its objective is not lower.
    ``counts``: expected transition counts plus pseudo-counts; ``weights``: expected start
    counts plus pseudo-counts.
    """
    step = _StationaryStep(counts, weights, previous, held)
    if not step.coordinates.any():
        return previous
    with np.errstate(divide="ignore", invalid="ignore"):
        start = step.start(previous)
        if not np.isfinite(step.gradient(start)[0]):
            return previous
        candidate = step.matrix(maximize_concave(step, start, tol=tol, max_iter=max_iter).theta)
    before = stationary_objective(previous, step.counts, step.weights, step.free)
    after = stationary_objective(candidate, step.counts, step.weights, step.free)
    return candidate if after >= before else previous


# ------------------------------------------------------------ free coordinates (standard errors)
def _coordinate_mask(held: np.ndarray | None, n_states: int) -> np.ndarray:
    """The free entries but the last free one of each row: the free coordinates of the matrix."""
    free = free_entries(held, n_states)
    mask = free.copy()
    for i in np.flatnonzero(free.any(axis=1)):
        mask[i, np.flatnonzero(free[i])[-1]] = False
    return mask


def to_coordinates(transmat: np.ndarray, held: np.ndarray | None) -> np.ndarray:
    """The free coordinates of a (constrained) transition matrix, row by row."""
    return np.asarray(transmat, dtype=float)[_coordinate_mask(held, transmat.shape[0])]


def from_coordinates(values: np.ndarray, like: np.ndarray, held: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`to_coordinates`: each row's last free entry is its free mass less the others."""
    k = like.shape[0]
    mask, free = _coordinate_mask(held, k), free_entries(held, k)
    out = np.where(free, 0.0, np.nan_to_num(held)) if held is not None else np.zeros((k, k))
    out[mask] = values
    mass = np.ones(k) if held is None else free_mass(held)
    for i in np.flatnonzero(free.any(axis=1)):
        last = np.flatnonzero(free[i])[-1]
        out[i, last] = mass[i] - out[i, mask[i]].sum()
    return out


def coordinate_count(held: np.ndarray | None, n_states: int) -> int:
    """Number of free coordinates: ``Σ_i (free entries of row i − 1)`` over rows with free entries."""
    return int(_coordinate_mask(held, n_states).sum())


def coordinate_labels(name: str, held: np.ndarray | None, n_states: int) -> list[str]:
    """``name[i,j]`` for each free coordinate."""
    return [f"{name}[{i},{j}]" for i, j in np.argwhere(_coordinate_mask(held, n_states))]


def coordinate_information(counts: np.ndarray, transmat: np.ndarray, held: np.ndarray | None) -> np.ndarray:
    """Complete-data information of the free coordinates: each row's categorical information of
    its counts on its free entries (the held ones are constants), block diagonal."""
    free = free_entries(held, transmat.shape[0])
    blocks = [categorical_information(counts[i, free[i]], transmat[i, free[i]])
              for i in range(transmat.shape[0]) if free[i].sum() >= 2]
    return block_diag(*blocks) if blocks else np.zeros((0, 0))
