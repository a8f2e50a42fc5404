"""Multinomial data whose cells are sums of latent sub-cells, with one parameter θ.

Each sub-cell has probability ``c``, ``c·θ`` or ``c·(1−θ)``; an observed cell's probability is
the sum over its sub-cells. The sub-cell counts are the missing data. E-step: split each cell
count over its sub-cells in proportion to their probabilities; M-step:
``θ = A / (A + B)`` with ``A`` (``B``) the expected count in θ (1−θ) sub-cells. The
Dempster–Laird–Rubin genetic-linkage example is :func:`genetic_linkage`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..engine.model import EMModel, Params, Stats
from ..validation import check_counts
from .categorical import categorical_information, categorical_scores, resample_counts

SubCell = tuple[float, str]  # (coefficient, kind) with kind in {"const", "theta", "1-theta"}
KINDS = ("const", "theta", "1-theta")


class GroupedMultinomial(EMModel):
    """One-parameter multinomial with cells made of latent sub-cells.

    Parameters
    ----------
    cells : sequence of sequences of (coefficient, kind)
        ``cells[i]`` lists the sub-cells of observed cell ``i``; kind ``"const"`` has probability
        ``coefficient``, ``"theta"`` ``coefficient·θ`` and ``"1-theta"`` ``coefficient·(1−θ)``.
        The cell probabilities must sum to one for every θ.
    cell_names : sequence of str, optional
        Names of the observed cells.
    """

    param_names = ("theta",)

    def __init__(self, cells: Sequence[Sequence[SubCell]], cell_names: Sequence[str] | None = None) -> None:
        rows = [(i, float(c), kind) for i, cell in enumerate(cells) for c, kind in cell]
        if not rows:
            raise ValueError("cells: no sub-cells given")
        for _, c, kind in rows:
            if kind not in KINDS or c < 0:
                raise ValueError(f"cells: sub-cell ({c}, {kind!r}) needs a non-negative coefficient and kind in {KINDS}")
        self.n_cells = len(cells)
        self.cell_names = tuple(cell_names) if cell_names is not None else tuple(f"cell{i + 1}" for i in range(self.n_cells))
        if len(self.cell_names) != self.n_cells:
            raise ValueError(f"cell_names: expected {self.n_cells} names, got {len(self.cell_names)}")
        self._cell = np.array([i for i, _, _ in rows])
        self._coef = np.array([c for _, c, _ in rows])
        self._kind = np.array([KINDS.index(kind) for _, _, kind in rows])
        for theta in (0.0, 1.0):
            if abs(self._sub_cell_probabilities(theta).sum() - 1.0) > 1e-12:
                raise ValueError(f"cells: probabilities sum to {self._sub_cell_probabilities(theta).sum()} at θ={theta}, not 1")

    def _sub_cell_probabilities(self, theta: float) -> np.ndarray:
        factor = np.array([1.0, theta, 1.0 - theta])
        return self._coef * factor[self._kind]

    def cell_probabilities(self, theta: float) -> np.ndarray:
        """Observed-cell probabilities at ``theta``."""
        return np.bincount(self._cell, weights=self._sub_cell_probabilities(theta), minlength=self.n_cells)

    def prepare(self, data) -> np.ndarray:
        """The cell counts as a float vector (``ValueError`` naming ``counts`` when invalid)."""
        return check_counts(data, "counts", length=self.n_cells)

    def initial_params(self, data, rng: np.random.Generator | None = None) -> Params:
        """θ = 1/2 by default; uniform on (0, 1) for a random start."""
        return {"theta": np.array(0.5 if rng is None else rng.uniform(0.05, 0.95))}

    def e_step(self, data: np.ndarray, params: Params) -> tuple[Stats, float]:
        """Expected counts in θ and (1−θ) sub-cells; ``ℓ = Σ n_i log P(cell_i)``."""
        theta = float(params["theta"])
        sub = self._sub_cell_probabilities(theta)
        cell = np.bincount(self._cell, weights=sub, minlength=self.n_cells)
        observed = data > 0
        if np.any(cell[observed] <= 0):
            return {"theta_count": np.array(0.0), "complement_count": np.array(0.0)}, -np.inf
        safe_cell = np.where(cell > 0, cell, 1.0)
        expected = data[self._cell] * sub / safe_cell[self._cell]
        stats = {
            "theta_count": np.array(expected[self._kind == 1].sum()),
            "complement_count": np.array(expected[self._kind == 2].sum()),
        }
        return stats, float(data[observed] @ np.log(cell[observed]))

    def m_step(self, stats: Stats, params: Params) -> Params:
        """``θ = A / (A + B)``.

        Raises
        ------
        ValueError
            When ``A + B = 0``: no observation falls in a cell that depends on θ.
        """
        a, b = float(stats["theta_count"]), float(stats["complement_count"])
        if not a + b > 0:
            raise ValueError("counts: no observation falls in a cell whose probability depends on θ, so θ is not "
                             "identified")
        return {"theta": np.array(a / (a + b))}

    # Monte Carlo protocol of emkit.fit_mcem (emkit.variants.mcem).
    def sample_stats(self, data: np.ndarray, params: Params, rng: np.random.Generator, size: int) -> Stats:
        """Monte Carlo E-step: draw each cell's split ``size`` times, ``(n_sub) ~ Multinomial(n_i,
        p_sub / P(cell_i))`` (the DLR split cell is a binomial draw), and average ``A`` and ``B``."""
        sub = self._sub_cell_probabilities(float(params["theta"]))
        by_kind = np.zeros(len(KINDS))
        for cell in np.flatnonzero(data > 0):
            rows = self._cell == cell
            draws = rng.multinomial(int(data[cell]), sub[rows] / sub[rows].sum(), size=size)
            by_kind += np.bincount(self._kind[rows], weights=draws.mean(axis=0), minlength=len(KINDS))
        return {"theta_count": np.array(by_kind[1]), "complement_count": np.array(by_kind[2])}

    def complete_loglik(self, stats: Stats, params: Params) -> float:
        """``Q(θ | A, B) = A log θ + B log(1 − θ)`` (up to a θ-free constant)."""
        theta = float(params["theta"])
        terms = ((float(stats["theta_count"]), theta), (float(stats["complement_count"]), 1.0 - theta))
        return float(sum(count * np.log(p) for count, p in terms if count > 0))

    def check_params(self, params: Params) -> Params:
        theta = float(np.asarray(params.get("theta", np.nan)))
        if not 0.0 < theta < 1.0:
            raise ValueError(f"init['theta']: must lie in (0, 1), got {theta}")
        return {"theta": np.array(theta)}

    def is_feasible(self, params: Params) -> bool:
        return bool(0.0 <= float(params["theta"]) <= 1.0)

    def named_params(self, params: Params) -> dict[str, float]:
        return {"theta": float(params["theta"])}

    def n_free_parameters(self) -> int:
        return 1

    # ------------------------------------------------------------ inference hooks
    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """``A/θ² + B/(1−θ)²`` with ``A``, ``B`` the expected θ and (1−θ) sub-cell counts."""
        theta = float(params["theta"])
        counts = np.array([float(stats["theta_count"]), float(stats["complement_count"])])
        return categorical_information(counts, np.array([theta, 1.0 - theta]))

    def latent_class_scores(self, data: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observed cells, sub-cell posteriors and sub-cell scores (0, ``1/θ`` or ``−1/(1−θ)``)."""
        theta = float(params["theta"])
        sub = self._sub_cell_probabilities(theta)
        observed = np.flatnonzero(data > 0)
        posterior = (self._cell[None, :] == observed[:, None]) * sub
        posterior /= posterior.sum(axis=1, keepdims=True)
        kind_scores = np.concatenate([[0.0], categorical_scores(np.array([theta, 1.0 - theta]))[0]])
        scores = np.broadcast_to(kind_scores[self._kind][:, None], posterior.shape + (1,))
        return data[observed], posterior, scores

    def resample(self, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Multinomial resampling of the cell counts."""
        return resample_counts(data, rng)

    def simulate(self, params: Params, like_data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Cell counts of ``N`` draws from the cell probabilities at ``params``."""
        return rng.multinomial(int(like_data.sum()), self.cell_probabilities(float(params["theta"]))).astype(float)


def genetic_linkage() -> GroupedMultinomial:
    """Dempster, Laird & Rubin (1977): cells ``1/2 + θ/4, (1−θ)/4, (1−θ)/4, θ/4``."""
    return GroupedMultinomial(
        [[(0.5, "const"), (0.25, "theta")], [(0.25, "1-theta")], [(0.25, "1-theta")], [(0.25, "theta")]],
        cell_names=("AB", "Ab", "aB", "ab"),
    )
