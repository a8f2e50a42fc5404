"""Product of families over column groups: mixed-type rows whose groups of columns are
independent given the component.

The columns of a row are split into groups ``g``, each with its own family (a Gaussian on the
measurements, a Poisson on the counts, a Bernoulli on the yes/no items, ...):

    ``log p(x | k) = Σ_g log p_g(x_g | k)``.

Everything else follows from the sum: the expected statistics are those of each part on its own
columns (the same posteriors weight every part), the M-step is each part's M-step, the log prior,
the number of free parameters and the free parameters themselves add or concatenate, and the
complete-data information is block diagonal. A missing cell follows its part's rule; a row with
nothing observed in any part has log-likelihood 0.

Names. A part is labelled by its index (``"0"``, ``"1"``, ...) or, when its columns are named
(a pandas DataFrame), by its column names joined with commas (``"age"``, ``"smoker,region"``).
Its parameters appear as ``"<label>:<name>"`` (``"0:means"``, ``"age:means"``), its statistics
as ``"<index>:<name>"`` (``"2:column_sums"``): the engine's flat dictionaries of arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import block_diag

from ..engine.model import Params, Regularization, Stats
from .base import Family, block_maker

Columns = tuple[int, ...] | tuple[str, ...]


@dataclass(frozen=True)
class Part:
    """One column group: its ``columns`` (indices into ``X``, or names of a DataFrame's columns),
    its ``family``, its ``label`` (the prefix of its parameters) and its ``field`` (the prefix of
    its statistics and its field in the prepared rows)."""

    columns: Columns
    family: Family
    label: str
    field: str

    def key(self, name: str) -> str:
        """The product's name of the part's parameter ``name``."""
        return f"{self.label}:{name}"

    def params(self, params: Params) -> Params:
        """The part's own parameters (under their own names) among the product's ``params``."""
        return {name: params[self.key(name)] for name in self.family.param_names if self.key(name) in params}

    def named(self, params: Params) -> Params:
        """The part's ``params`` under the product's names."""
        return {self.key(name): value for name, value in params.items()}

    def learn(self, learn: frozenset[str]) -> frozenset[str]:
        """The part's own names of the parameters in the product's ``learn``."""
        return frozenset(name for name in self.family.param_names if self.key(name) in learn)

    def stats(self, stats: Stats) -> Stats:
        """The part's own statistics among the product's."""
        prefix = f"{self.field}:"
        return {key[len(prefix):]: value for key, value in stats.items() if key.startswith(prefix)}


class Product(Family):
    """Independent column groups, each with its own family.

    Parameters
    ----------
    parts : sequence of (columns, family)
        ``columns``: a column index or a sequence of them (every index ``0 … D−1`` of the ``D``
        columns of ``X`` in exactly one part), or a column name or a sequence of names of a
        pandas DataFrame (then ``X`` must be a DataFrame with those columns; others are ignored).
        ``family``: an :class:`~emkit.families.Family` of that many columns, one object per part.

    Examples
    --------
    >>> Product([([0, 1], Gaussian(2, "diag")), (2, Poisson(1)), (3, Bernoulli(1))])
    ... # parameters "0:means", "0:covars", "1:lambdas", "2:probs"

    Prepared rows are a structured array with one field per part (the part's own prepared rows),
    so that each part keeps its own types (integer codes, floats with NaN).
    """

    def __init__(self, parts: Sequence[tuple[Any, Family]]) -> None:
        self.parts = _check_parts(parts)
        self.by_name = isinstance(self.parts[0].columns[0], str)
        self.n_columns = sum(len(part.columns) for part in self.parts)
        self.param_names = tuple(part.key(name) for part in self.parts for name in part.family.param_names)
        if len(set(self.param_names)) != len(self.param_names):
            raise ValueError(f"parts: the parameter names {list(self.param_names)} are not unique; give the parts "
                             "distinct column names")

    # ------------------------------------------------------------------ data
    def validate(self, n_components: int) -> None:
        for part in self.parts:
            part.family.validate(n_components)

    def prepare(self, X: Any) -> np.ndarray:
        """Each part's :meth:`~Family.prepare` of its columns, as the fields of one structured
        array of shape (n,) (prepared rows pass through).

        Raises
        ------
        ValueError
            Naming ``X`` when it does not have the parts' columns (``D`` columns, or a DataFrame
            with the named ones), or a part rejects its columns (with the part and its columns).
        """
        return self._prepare(X, whole_data=True)

    def prepare_chunk(self, X: Any) -> np.ndarray:
        """Each part's :meth:`~Family.prepare_chunk` of its columns (one chunk of the data)."""
        return self._prepare(X, whole_data=False)

    def chunk_summary(self, X: np.ndarray) -> Stats:
        """Each part's summary of its field, under the part's prefix."""
        return {f"{part.field}:{key}": value for part in self.parts
                for key, value in (part.family.chunk_summary(np.ascontiguousarray(X[part.field])) or {}).items()}

    def data_context(self, X: np.ndarray) -> tuple[Any, ...] | None:
        """Each part's :meth:`~Family.data_context` of its field (None when no part has one)."""
        contexts = tuple(part.family.data_context(np.ascontiguousarray(X[part.field])) for part in self.parts)
        return None if all(context is None for context in contexts) else contexts

    def chunk_context(self, summary: Stats | None) -> tuple[Any, ...] | None:
        """Each part's :meth:`~Family.chunk_context` of its summary (None when no part has one)."""
        contexts = tuple(part.family.chunk_context(part.stats(summary or {}) or None) for part in self.parts)
        return None if all(context is None for context in contexts) else contexts

    def _prepare(self, X: Any, whole_data: bool) -> np.ndarray:
        if isinstance(X, np.ndarray) and X.dtype.names == tuple(part.field for part in self.parts):
            return X
        groups = [self._columns_of(X, part) for part in self.parts]
        prepared = []
        for part, group in zip(self.parts, groups):
            try:
                rows = np.asarray(part.family.prepare(group) if whole_data else part.family.prepare_chunk(group))
            except ValueError as error:
                error.args = (f"{error.args[0] if error.args else error} (in part {part.field}: "
                              f"{_columns_text(part.columns)} of X)",) + error.args[1:]
                raise
            prepared.append(rows)
        n_rows = {rows.shape[0] if rows.ndim else 0 for rows in prepared}
        if len(n_rows) != 1:
            raise ValueError(f"X: the parts prepared different numbers of rows {sorted(n_rows)}")
        out = np.empty(n_rows.pop(), dtype=[(part.field, rows.dtype, rows.shape[1:])
                                            for part, rows in zip(self.parts, prepared)])
        for part, rows in zip(self.parts, prepared):
            out[part.field] = rows
        return out

    def _columns_of(self, X: Any, part: Part) -> Any:
        """The part's columns of ``X`` (a sub-frame for a DataFrame, else an array)."""
        if self.by_name:
            columns = getattr(X, "columns", None)
            if columns is None:
                raise ValueError(f"X: the parts name columns ({', '.join(self._names())}); expected a pandas "
                                 f"DataFrame with them, got {type(X).__name__}")
            absent = [name for name in part.columns if name not in columns]
            if absent:
                raise ValueError(f"X: no column(s) {absent} in the DataFrame (columns {list(columns)[:20]})")
            return X[list(part.columns)]
        if hasattr(X, "iloc") and getattr(X, "ndim", 0) == 2:
            if X.shape[1] != self.n_columns:
                raise ValueError(f"X: expected {self.n_columns} columns for the parts, got {X.shape[1]}")
            return X.iloc[:, list(part.columns)]
        array = np.asarray(X)
        if array.ndim == 1 and self.n_columns == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != self.n_columns:
            raise ValueError(f"X: expected a 2-D array (n_samples, {self.n_columns}) for the parts, "
                             f"got shape {array.shape}")
        return array[:, list(part.columns)]

    def _names(self) -> list[str]:
        return [str(column) for part in self.parts for column in part.columns]

    def conditional_means(self, X: np.ndarray, posteriors: np.ndarray, params: Params) -> np.ndarray:
        """Not given yet: the parts' columns are of different kinds (imputing a mixed table is a
        later step)."""
        raise NotImplementedError("impute: a Product family's mixed columns are not imputed yet; impute each part's "
                                  "columns with a mixture of that part's family")

    def block_data(self, X: np.ndarray, context: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        """Each part's :meth:`~Family.block_data` of its field of the rows (with its context)."""
        contexts = context or (None,) * len(self.parts)
        return tuple(block_maker(part.family, part_context)(np.ascontiguousarray(X[part.field]))
                     for part, part_context in zip(self.parts, contexts))

    # ------------------------------------------------------------------ EM
    def initial_params(self, X: np.ndarray, n_components: int, rng: np.random.Generator | None,
                       sample_weight: np.ndarray | None = None) -> Params:
        """Each part's starting values from its own columns and the rows' weights (drawing from
        ``rng`` in part order)."""
        out: Params = {}
        for part in self.parts:
            out.update(part.named(part.family.weighted_initial_params(X[part.field], n_components, rng, sample_weight)))
        return out

    def precompute(self, params: Params) -> tuple[Any, ...]:
        return tuple(part.family.precompute(part.params(params)) for part in self.parts)

    def log_likelihood(self, block: tuple[Any, ...], cache: tuple[Any, ...],
                       out: np.ndarray | None = None) -> np.ndarray:
        """``Σ_g log p_g(x_g | k)``, shape (n, K)."""
        (first, first_block, first_cache), *rest = zip(self.parts, block, cache)
        total = first.family.log_likelihood(first_block, first_cache, out)
        if out is None:
            total = np.array(total, dtype=float)  # our own array: a family may return one it keeps
        for part, data, part_cache in rest:
            total += part.family.log_likelihood(data, part_cache)
        return total

    def stats(self, block: tuple[Any, ...], posteriors: np.ndarray, cache: tuple[Any, ...]) -> Stats:
        """Each part's statistics of its columns, keyed ``"<index>:<name>"``."""
        return {f"{part.field}:{key}": value
                for part, data, part_cache in zip(self.parts, block, cache)
                for key, value in part.family.stats(data, posteriors, part_cache).items()}

    def m_step(self, stats: Stats, params: Params, learn: frozenset[str], keep: np.ndarray) -> Params:
        """Each part's M-step from its own statistics."""
        out: Params = {}
        for part in self.parts:
            out.update(part.named(part.family.m_step(part.stats(stats), part.params(params), part.learn(learn),
                                                     keep)))
        return out

    def log_prior(self, params: Params) -> float:
        """``Σ_g log p_g(θ_g)``."""
        return float(sum(part.family.log_prior(part.params(params)) for part in self.parts))

    def regularization(self, stats: Stats, params: Params, learn: frozenset[str],
                       keep: np.ndarray) -> Regularization | None:
        """The parts' shortfalls added (the M-step is separable, so ``Q`` is their sum), their
        collapsed components and remedies listed with the part's label; None when no part
        regularises."""
        given_up = [(part, part.family.regularization(part.stats(stats), part.params(params), part.learn(learn),
                                                      keep)) for part in self.parts]
        given_up = [(part, reg) for part, reg in given_up if reg is not None]
        if not given_up:
            return None
        return Regularization(shortfall=float(sum(reg.shortfall for _, reg in given_up)),
                              collapsed=tuple(f"{part.label}: {what}" for part, reg in given_up
                                              for what in reg.collapsed),
                              remedy="; ".join(f"{part.label}: {reg.remedy}" for part, reg in given_up if reg.remedy))

    # ------------------------------------------------------------------ parameters
    def check_params(self, params: Params, n_components: int) -> Params:
        """Each part's :meth:`~Family.check_params`; an error names the product's key."""
        out: Params = {}
        for part in self.parts:
            missing = [part.key(name) for name in part.family.param_names if part.key(name) not in params]
            if missing:
                raise ValueError(f"init: missing parameter(s) {missing}; expected {list(self.param_names)}")
            try:
                out.update(part.named(part.family.check_params(part.params(params), n_components)))
            except ValueError as error:
                message = str(error)
                name = next((name for name in part.family.param_names if message.startswith(f"{name}:")), None)
                raise ValueError(f"{part.label}:{message}" if name else f"{part.label}: {message}") from None
        return out

    def is_feasible(self, params: Params) -> bool:
        return all(part.family.is_feasible(part.params(params)) for part in self.parts)

    def describe(self) -> str:
        """E.g. "product of Gaussian diag on columns 0-1, Poisson on column 2"."""
        return "product of " + ", ".join(f"{part.family.describe()} on {_columns_text(part.columns)}"
                                         for part in self.parts)

    def n_free_parameters(self, n_components: int, learn: frozenset[str]) -> int:
        return sum(part.family.n_free_parameters(n_components, part.learn(learn)) for part in self.parts)

    def missing_cells(self, X: np.ndarray) -> np.ndarray:
        """Each part's missing cells in its columns, shape (n, D), as :meth:`sample` places them."""
        out = np.empty((X.shape[0], self.n_columns), dtype=bool)
        start = 0
        for part in self.parts:
            width = len(part.columns)
            where = list(part.columns) if not self.by_name else slice(start, start + width)
            out[:, where] = part.family.missing_cells(X[part.field])
            start += width
        return out

    def sample(self, states: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        """Each part's draws in its columns (drawing from ``rng`` in part order), as floats of
        shape (n, D): the columns of ``X``, or the named columns in the parts' order."""
        out = np.empty((np.size(states), self.n_columns))
        start = 0
        for part in self.parts:
            values = np.asarray(part.family.sample(states, part.params(params), rng), dtype=float)
            width = len(part.columns)
            where = list(part.columns) if not self.by_name else slice(start, start + width)
            out[:, where] = values.reshape(np.size(states), width)
            start += width
        return out

    # ------------------------------------------------ free parameters (for standard errors)
    def to_free(self, params: Params, learn: frozenset[str]) -> np.ndarray:
        """The parts' free parameters, one after another."""
        return np.concatenate([np.zeros(0)] + [np.asarray(part.family.to_free(part.params(params), part.learn(learn)),
                                                          dtype=float) for part in self.parts])

    def from_free(self, free: np.ndarray, like: Params, learn: frozenset[str]) -> Params:
        free = np.asarray(free, dtype=float)
        out: Params = {}
        start = 0
        for part in self.parts:
            own, own_learn = part.params(like), part.learn(learn)
            size = np.size(part.family.to_free(own, own_learn))
            out.update(part.named(part.family.from_free(free[start:start + size], own, own_learn)))
            start += size
        if start != free.size:
            raise ValueError(f"free: expected {start} free parameters, got {free.size}")
        return out

    def free_labels(self, params: Params, learn: frozenset[str]) -> list[str]:
        return [f"{part.label}:{label}" for part in self.parts
                for label in part.family.free_labels(part.params(params), part.learn(learn))]

    def row_scores(self, block: tuple[Any, ...], params: Params, learn: frozenset[str]) -> np.ndarray | None:
        """The parts' row scores side by side (:meth:`to_free`'s order; ``log p(x | k)`` is their
        sum); None when a part gives none."""
        scores = [part.family.row_scores(data, part.params(params), part.learn(learn))
                  for part, data in zip(self.parts, block)]
        return None if any(score is None for score in scores) else np.concatenate(scores, axis=2)

    def within_score_covariance(self, block: tuple[Any, ...], posteriors: np.ndarray, params: Params,
                                learn: frozenset[str]) -> np.ndarray | None:
        """Block diagonal: the parts' (their latent variables are independent given the row and
        the component); None when no part has any."""
        parts = []
        for part, data in zip(self.parts, block):
            own, own_learn = part.params(params), part.learn(learn)
            parts.append((part.family.within_score_covariance(data, posteriors, own, own_learn),
                          np.size(part.family.to_free(own, own_learn))))
        if all(within is None for within, _ in parts):
            return None
        out = np.zeros((sum(size for _, size in parts),) * 2)
        start = 0
        for within, size in parts:
            if within is not None:
                out[start:start + size, start:start + size] = within
            start += size
        return out

    def complete_information(self, stats: Stats, params: Params, learn: frozenset[str]) -> np.ndarray:
        """Block diagonal: the parts' complete-data information (independent given the
        component, so no cross terms)."""
        blocks = [np.atleast_2d(part.family.complete_information(part.stats(stats), part.params(params),
                                                                 part.learn(learn))) for part in self.parts]
        return block_diag(*[block for block in blocks if block.size])


# ---------------------------------------------------------------------- checks and words
def _check_parts(parts: Any) -> tuple[Part, ...]:
    """:class:`Part` objects from ``(columns, family)`` pairs.

    Raises
    ------
    ValueError
        Naming ``parts`` when they are empty, an item is not a pair, a family is not a
        :class:`Family` or serves two parts, columns are empty, mixed names and indices, repeated,
        or (indices) not exactly ``0 … D−1``.
    """
    if isinstance(parts, (str, bytes, dict)) or not isinstance(parts, Sequence) or len(parts) == 0:
        raise ValueError(f"parts: expected a non-empty sequence of (columns, family) pairs, got {parts!r}")
    checked: list[Part] = []
    seen: dict[Any, int] = {}
    for index, item in enumerate(parts):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"parts: item {index} is not a (columns, family) pair: {item!r}")
        columns, family = item
        if not isinstance(family, Family):
            raise ValueError(f"parts: item {index}'s family is a {type(family).__name__}, not an "
                             "emkit.families.Family")
        shared = next((other.field for other in checked if other.family is family), None)
        if shared is not None:
            raise ValueError(f"parts: items {shared} and {index} share one family object; give each part its own "
                             "(a family keeps data-derived state, e.g. a centre)")
        columns = _check_columns(columns, index)
        for column in columns:
            if column in seen:
                where = f"items {seen[column]} and {index}" if seen[column] != index else f"item {index} twice"
                raise ValueError(f"parts: column {column!r} is in {where}; each column belongs to one part")
            seen[column] = index
        label = ",".join(columns) if isinstance(columns[0], str) else str(index)
        checked.append(Part(columns, family, label, str(index)))
    kinds = {isinstance(part.columns[0], str) for part in checked}
    if len(kinds) > 1:
        raise ValueError("parts: columns are all names (of a DataFrame) or all integer indices, not both")
    if kinds == {False}:
        n_columns = len(seen)
        outside = sorted(column for column in seen if not 0 <= column < n_columns)
        if outside:
            raise ValueError(f"parts: column {outside[0]} is out of range: the parts' {n_columns} column(s) must be "
                             f"0..{n_columns - 1}, each in exactly one part")
    return tuple(checked)


def _check_columns(columns: Any, index: int) -> Columns:
    """``columns`` as a non-empty tuple of integer indices or of names."""
    if isinstance(columns, (str, int, np.integer)):
        columns = [columns]
    try:
        values = list(columns)
    except TypeError:
        raise ValueError(f"parts: item {index}'s columns must be an index, a name or a sequence of them, "
                         f"got {columns!r}") from None
    if not values:
        raise ValueError(f"parts: item {index} has no columns")
    if all(isinstance(value, str) for value in values):
        return tuple(values)
    if all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in values):
        return tuple(int(value) for value in values)
    raise ValueError(f"parts: item {index}'s columns must be integer indices or column names, got {values!r}")


def _columns_text(columns: Columns) -> str:
    """E.g. "column 2", "columns 0-3", "columns 0, 2, 5", "columns age, weight"."""
    if len(columns) == 1:
        return f"column {columns[0]}"
    if not isinstance(columns[0], str) and list(columns) == list(range(columns[0], columns[0] + len(columns))):
        return f"columns {columns[0]}-{columns[-1]}"
    return "columns " + ", ".join(str(column) for column in columns)
