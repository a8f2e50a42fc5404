"""Gamma family: given component ``k`` the ``d`` columns are independent positive reals,
``x_j ~ Gamma(a_kj, b_kj)`` (shape ``a``, rate ``b``, mean ``a/b``).

``log p(x | k) = Σ_j (a_kj log b_kj − log Γ(a_kj) + (a_kj − 1) log x_j − b_kj x_j)`` over the
observed cells (a NaN cell is missing and adds nothing), evaluated per cell as
``c(a) − a D(b x / a) − log x`` with ``c(a) = a log a − a − log Γ(a)`` and
``D(t) = t − 1 − log t ≥ 0``: the textbook form cancels terms of size ``a`` (round-off ``a ε``
per cell: 1e-8 where a collapsing component reaches ``a ~ 1e8``, enough to break EM's ascent),
this one terms of size ``√a``. Statistics per component and column, over the observed cells:
``n_kj = Σ γ_ik``, ``s_kj = Σ γ_ik x_ij`` (:mod:`.columns`) and ``l_kj = Σ γ_ik log x_ij``.

M-step (Minka, *Estimating a Gamma distribution*, 2002): with the weighted mean ``m = s/n`` the
shape solves ``log a − ψ(a) = log m − l/n`` (a convex, decreasing equation in ``log a``, solved
by Newton's method to round-off, so EM's ascent is exact), and the rate is ``b = a/m``. With the
rates held fixed the shape solves ``ψ(a) = log b + l/n``; with the shapes held fixed ``b = a/m``.
A cell without weight keeps its parameters, and so does a cell whose weighted values are all
equal (``log m − l/n`` at round-off level): its likelihood grows without bound as ``a → ∞``, the
gamma analogue of a collapsing Gaussian variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import digamma, gammaln, polygamma

from ..engine.model import Params, Stats
from .base import by_component, written
from .columns import ColumnBlock, ColumnFamily

#: ``B_2, B_4, …, B_12``: Bernoulli numbers of the asymptotic series of ``log a − ψ(a)``.
BERNOULLI_NUMBERS = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730)

#: From this shape on, ``log a − ψ(a)`` and ``a log a − a − log Γ(a)`` come from their asymptotic
#: series (first omitted terms below ``1e-18`` relative), which avoid the cancellation of the
#: direct differences.
SERIES_FROM = 20.0

#: Most Newton steps of an inner solve (a few suffice from Minka's starting values).
MAX_NEWTON_STEPS = 100

#: ``log m − l/n`` below this many round-offs of its terms counts as zero (all values equal).
DEGENERATE_ROUNDOFFS = 16.0

EPS = np.finfo(float).eps


def log_minus_digamma(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``h(a) = log a − ψ(a)`` and its derivative in ``log a``, ``a h'(a) = 1 − a ψ'(a)``.

    For ``a ≥`` :data:`SERIES_FROM` the series ``h(a) = 1/(2a) + Σ_n B_2n / (2n a^2n)``.
    """
    a = np.asarray(a, dtype=float)
    large = a >= SERIES_FROM
    small = np.where(large, 1.0, a)
    direct_value, direct_slope = np.log(small) - digamma(small), 1.0 - small * polygamma(1, small)
    big = np.where(large, a, SERIES_FROM)
    value, slope, power = 0.5 / big, -0.5 / big, np.ones_like(big)
    for n, bernoulli in enumerate(BERNOULLI_NUMBERS, start=1):
        power = power / big**2
        value = value + bernoulli / (2 * n) * power
        slope = slope - bernoulli * power
    return np.where(large, value, direct_value), np.where(large, slope, direct_slope)


def stirling_gap(a: np.ndarray) -> np.ndarray:
    """``c(a) = a log a − a − log Γ(a)``; for ``a ≥`` :data:`SERIES_FROM` Stirling's series
    ``½ log a − ½ log 2π − Σ_n B_2n / (2n (2n − 1) a^(2n−1))`` (no cancellation)."""
    a = np.asarray(a, dtype=float)
    large = a >= SERIES_FROM
    small = np.where(large, 1.0, a)
    big = np.where(large, a, SERIES_FROM)
    value = 0.5 * np.log(big / (2.0 * np.pi))
    for n, bernoulli in enumerate(BERNOULLI_NUMBERS, start=1):
        value = value - bernoulli / (2 * n * (2 * n - 1)) * big ** (1 - 2 * n)
    return np.where(large, value, small * np.log(small) - small - gammaln(small))


def newton_in_log(equation: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                  start: np.ndarray) -> np.ndarray:
    """The root ``a > 0`` of ``f(log a) = 0``, elementwise, by Newton's method in ``u = log a``.

    ``equation(a, which)`` gives ``f`` and ``df/du`` at ``a`` for the elements ``which`` (a
    mask). ``f`` is monotone and convex or concave in ``u`` (both equations here), so after one
    step the iterates approach the root from one side with shrinking steps; an element stops
    when its step is below round-off of ``u`` or no longer shrinks (the round-off floor of ``f``).

    Raises
    ------
    ArithmeticError
        If an element has not converged after :data:`MAX_NEWTON_STEPS` steps.
    """
    u = np.log(np.asarray(start, dtype=float)).copy()
    previous = np.full(u.shape, np.inf)
    active = np.ones(u.shape, dtype=bool)
    for step_number in range(MAX_NEWTON_STEPS):
        value, slope = equation(np.exp(u[active]), active)
        step = -value / slope
        u[active] += step
        size = np.abs(step)
        stalled = (step_number >= 2) & (size >= previous[active])
        done = (size <= 4.0 * EPS * np.maximum(1.0, np.abs(u[active]))) | stalled
        previous[active] = size
        active[np.flatnonzero(active)[done]] = False
        if not active.any():
            return np.exp(u)
    raise ArithmeticError(f"gamma M-step: Newton's method did not converge for {int(active.sum())} shape(s)")


def shape_from_log_gap(gap: np.ndarray) -> np.ndarray:
    """The shape ``a`` with ``log a − ψ(a) = gap`` (``gap > 0``), from Minka's starting value
    ``(3 − g + √((g − 3)² + 24 g)) / (12 g)``."""
    start = (3.0 - gap + np.sqrt((gap - 3.0) ** 2 + 24.0 * gap)) / (12.0 * gap)

    def equation(a, which):
        value, slope = log_minus_digamma(a)
        return value - gap[which], slope

    return newton_in_log(equation, start)


def inverse_digamma(target: np.ndarray) -> np.ndarray:
    """The ``a > 0`` with ``ψ(a) = target``, from Minka's starting value (``exp(t) + ½`` for
    ``t ≥ −2.22``, else ``−1/(t + γ)``)."""
    with np.errstate(over="ignore"):
        start = np.where(target >= -2.22, np.exp(np.minimum(target, 700.0)) + 0.5,
                         -1.0 / (np.minimum(target, -2.22) - digamma(1.0)))
    return newton_in_log(lambda a, which: (digamma(a) - target[which], a * polygamma(1, a)), start)


@dataclass(frozen=True)
class GammaBlock(ColumnBlock):
    """A :class:`ColumnBlock` with ``log x`` of its cells (0 for missing cells); the row constant
    is ``−Σ_j log x_ij``."""

    logs: np.ndarray


class Gamma(ColumnFamily):
    """Independent gamma variables in ``n_features`` columns.

    Parameters
    ----------
    n_features : int
        Number of columns ``d``.

    The parameters are ``shapes`` (K, d) and ``rates`` (K, d), both positive
    (``scipy.stats.gamma(a=shape, scale=1/rate)``). Observations are positive reals, NaN for a
    missing cell.
    """

    param_names = ("shapes", "rates")
    kind = "positive real values"

    @staticmethod
    def bad_cells(values: np.ndarray) -> np.ndarray:
        return ~(values > 0)

    def describe(self) -> str:
        return "gamma"

    def block_data(self, X: np.ndarray) -> GammaBlock:
        block = super().block_data(X)
        logs = np.log(np.where(block.values > 0, block.values, 1.0))
        return GammaBlock(block.values, block.observed, -logs.sum(axis=1), logs)

    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Each column's moment shape ``a_j = m_j² / v_j`` (1 when ``v_j = 0``; ``m_j`` and ``v_j``
        the weighted mean and variance of the observed cells) and mean ``m_j`` spread over the
        components, ``m_kj = m_j (½ + k/(K−1))``, rate ``a_j / m_kj`` (``rng`` None); or means
        ``m_j · Gamma(2, ½)`` and shapes ``a_j · U(½, 2)`` drawn."""
        mean = self.observed_mean(X, sample_weight)
        variance = self.observed_mean((X - mean) ** 2, sample_weight)
        shape = np.where(variance > 0, mean**2 / np.where(variance > 0, variance, 1.0), 1.0)
        size = (n_components, self.n_features)
        if rng is not None:
            shapes = shape * rng.uniform(0.5, 2.0, size=size)
            return {"shapes": shapes, "rates": shapes / (mean * rng.gamma(2.0, 0.5, size=size))}
        spread = 0.5 + np.arange(n_components) / max(n_components - 1, 1) if n_components > 1 else np.ones(1)
        shapes = np.broadcast_to(shape, size).copy()
        return {"shapes": shapes, "rates": shapes / np.outer(spread, mean)}

    def precompute(self, params: Params) -> Params:
        """The shapes, the inverse means ``b/a`` and ``c(a) = a log a − a − log Γ(a)``, (K, d)."""
        shapes, rates = np.asarray(params["shapes"], dtype=float), np.asarray(params["rates"], dtype=float)
        return {"shapes": shapes, "inverse_means": rates / shapes, "constants": stirling_gap(shapes)}

    def log_likelihood(self, block: GammaBlock, cache: Params, out: np.ndarray | None = None) -> np.ndarray:
        """``Σ_j (c(a_kj) − a_kj D(b_kj x_ij / a_kj) − log x_ij)`` over the observed cells, one
        component at a time (memory of the block's size)."""
        constants, shapes, observed = cache["constants"], cache["shapes"], block.observed
        values = constants.sum(axis=1) if observed is None else observed @ constants.T
        values = values + block.constant[:, None]
        for k in range(shapes.shape[0]):
            excess = block.values * cache["inverse_means"][k] - 1.0  # t − 1 (missing cells: t = 1)
            if observed is not None:
                excess[observed == 0] = 0.0
            values[:, k] -= (excess - np.log1p(excess)) @ shapes[k]
        return written(values, out)

    def stats(self, block: GammaBlock, posteriors: np.ndarray, cache) -> Stats:
        """The weights and sums of :class:`ColumnFamily` and
        ``column_log_sums[k, j] = Σ γ_ik log x_ij``."""
        return {**super().stats(block, posteriors, cache), "column_log_sums": posteriors.T @ block.logs}

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """Minka's fixed point for the learned shapes (Newton to round-off), ``b = a n / s`` for the
        learned rates; components in ``keep``, cells without weight and cells whose weighted values
        are all equal keep theirs."""
        shapes, rates = params["shapes"], params["rates"]
        if not learn & {"shapes", "rates"}:
            return {"shapes": shapes, "rates": rates}
        weights, sums = stats["column_weights"], stats["column_sums"]
        empty = keep[:, None] | ~(weights > 0) | ~(sums > 0)
        n = np.where(empty, 1.0, weights)
        log_mean, mean_log = np.log(np.where(empty, 1.0, sums) / n), stats["column_log_sums"] / n
        if "shapes" in learn and "rates" in learn:
            gap = log_mean - mean_log
            empty |= ~(gap > DEGENERATE_ROUNDOFFS * EPS * (1.0 + np.abs(log_mean) + np.abs(mean_log)))
            new_shapes = np.asarray(shapes, dtype=float).copy()
            new_shapes[~empty] = shape_from_log_gap(gap[~empty])
        elif "shapes" in learn:
            new_shapes = np.asarray(shapes, dtype=float).copy()
            new_shapes[~empty] = inverse_digamma((np.log(rates) + mean_log)[~empty])
        else:
            new_shapes = shapes
        new_rates = (np.where(empty, rates, new_shapes * np.exp(-log_mean)) if "rates" in learn else rates)
        return {"shapes": np.where(empty, shapes, new_shapes), "rates": new_rates}

    # ------------------------------------------------------------------ parameters
    def check_params(self, params: Params, n_components: int) -> Params:
        out = {}
        for name in self.param_names:
            values = np.array(params[name], dtype=float)
            if values.shape != (n_components, self.n_features) or not np.all(np.isfinite(values) & (values > 0)):
                raise ValueError(f"{name}: expected finite positive values of shape ({n_components}, "
                                 f"{self.n_features}), got {np.array2string(values, threshold=20)} of shape "
                                 f"{values.shape}")
            out[name] = values
        return out

    def is_feasible(self, params: Params) -> bool:
        return all(bool(np.all(np.isfinite(params[name]) & (np.asarray(params[name]) > 0)))
                   for name in self.param_names)

    def _learned(self, learn: frozenset[str]) -> list[str]:
        return [name for name in self.param_names if name in learn]

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return n_components * self.n_features * len(self._learned(learn))

    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """The learned shapes, then the learned rates, row by row."""
        return np.concatenate([np.zeros(0)] + [np.asarray(params[name], dtype=float).ravel()
                                               for name in self._learned(learn)])

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        out = {name: like[name] for name in self.param_names}
        free = np.asarray(free, dtype=float)
        for i, name in enumerate(self._learned(learn)):
            size = np.size(like[name])
            out[name] = free[i * size:(i + 1) * size].reshape(np.shape(like[name]))
        return out

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        k, d = np.shape(params["shapes"])
        return [f"{name}[{i}][{j}]" for name in self._learned(learn) for i in range(k) for j in range(d)]

    def row_scores(self, block: GammaBlock, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Per observed cell ``∂/∂a = log b − ψ(a) + log x`` and ``∂/∂b = a/b − x`` (0 for a missing
        cell), the learned shapes' then the learned rates' in :meth:`to_free`'s order, shape
        (n, K, p)."""
        shapes, rates = np.asarray(params["shapes"], dtype=float), np.asarray(params["rates"], dtype=float)
        observed = 1.0 if block.observed is None else block.observed[:, None, :]
        scores = [np.zeros((block.values.shape[0], shapes.shape[0], 0))]
        if "shapes" in learn:
            scores.append(by_component(((np.log(rates) - digamma(shapes))[None] + block.logs[:, None, :]) * observed))
        if "rates" in learn:
            scores.append(by_component(((shapes / rates)[None] - block.values[:, None, :]) * observed))
        return np.concatenate(scores, axis=2)

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Per cell ``n [[ψ'(a), −1/b], [−1/b, a/b²]]`` in (shape, rate), arranged as
        :meth:`to_free`'s entries."""
        shapes, rates = np.asarray(params["shapes"], dtype=float), np.asarray(params["rates"], dtype=float)
        n = np.asarray(stats["column_weights"], dtype=float)
        blocks = {("shapes", "shapes"): n * polygamma(1, shapes), ("shapes", "rates"): -n / rates,
                  ("rates", "shapes"): -n / rates, ("rates", "rates"): n * shapes / rates**2}
        learned = self._learned(learn)
        return np.block([[np.diag(blocks[row, column].ravel()) for column in learned] for row in learned]
                        ) if learned else np.zeros((0, 0))

    def component_means(self, params: Params) -> np.ndarray:
        """``E[x_j | z = k] = a_kj / b_kj``."""
        return np.asarray(params["shapes"], dtype=float) / np.asarray(params["rates"], dtype=float)

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Draws ``Gamma(a_{z_i j}, b_{z_i j})``, shape (n, d)."""
        shapes = np.asarray(params["shapes"], dtype=float)[states]
        return rng.gamma(shapes, 1.0 / np.asarray(params["rates"], dtype=float)[states])
