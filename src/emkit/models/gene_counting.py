"""Gene counting: allele frequencies under Hardy–Weinberg equilibrium from phenotype counts.

Alleles ``a_1..a_m`` with frequencies ``p``; genotype ``{a_i, a_j}`` has probability ``p_i²``
(i = j) or ``2 p_i p_j``; each genotype shows one phenotype. The genotype counts are the missing
data. E-step: split each phenotype count over its genotypes in proportion to their
probabilities and count alleles; M-step: ``p_i = (expected copies of a_i) / (2N)``.
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from typing import Mapping, Sequence

import numpy as np

from ..engine.model import EMModel, Params, Stats
from ..validation import check_counts, check_probability_vector
from .categorical import (categorical_information, categorical_scores, free_probabilities, full_probabilities,
                          resample_counts)
from .records import tabulate_labels

Genotype = tuple[str, str]


def parse_dominance(spec: str | Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Dominance relations from ``"C>I>T"`` / ``"A>O, B>O"`` or pairs ``(dominant, recessive)``.

    Chains are transitive: ``"C>I>T"`` gives C>I, I>T and C>T.

    Raises
    ------
    ValueError
        Naming ``dominance`` when a chain is malformed, an entry is not a pair, or the relations
        are cyclic (``"A>B, B>A"``: a dominance order has no cycle).
    """
    pairs: set[tuple[str, str]] = set()
    if isinstance(spec, str):
        for chain in filter(None, (part.strip() for part in spec.split(","))):
            names = [name.strip() for name in chain.split(">")]
            if any(not name for name in names):
                raise ValueError(f"dominance: malformed chain {chain!r}")
            pairs.update((names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names)))
    else:
        try:
            entries = [tuple(pair) for pair in spec]
        except TypeError:
            raise ValueError(f"dominance: expected a string such as 'A>B>C' or (dominant, recessive) pairs, "
                             f"got {spec!r}") from None
        if any(len(pair) != 2 or isinstance(pair, str) for pair in entries):
            raise ValueError(f"dominance: expected (dominant, recessive) pairs, got {spec!r}")
        pairs.update((str(a), str(b)) for a, b in entries)
    cyclic = _alleles_on_cycles(pairs)
    if cyclic:
        raise ValueError(f"dominance: the relations among alleles {cyclic} form a cycle (each is dominated through "
                         "the others); a dominance order has no cycle")
    return pairs


def _alleles_on_cycles(pairs: set[tuple[str, str]]) -> list[str]:
    """The alleles left after repeatedly removing those that no remaining allele dominates
    (Kahn's algorithm): empty exactly when the relation ``dominant > recessive`` has no cycle."""
    remaining = set(pairs)
    while remaining:
        dominated = {recessive for _, recessive in remaining}
        top = {dominant for dominant, _ in remaining} - dominated
        if not top:
            break
        remaining = {pair for pair in remaining if pair[0] not in top}
    return sorted({allele for pair in remaining for allele in pair})


class GeneCounting(EMModel):
    """Allele frequencies from phenotype counts by gene counting (EM).

    Parameters
    ----------
    alleles : sequence of str
        Allele names, e.g. ``("C", "I", "T")``.
    phenotypes : mapping of str to list of genotypes, optional
        Explicit genotype → phenotype map: ``{"carbonaria": [("C","C"), ("C","I"), ...], ...}``.
        Every genotype must appear exactly once.
    dominance : str or sequence of pairs, optional
        Instead of ``phenotypes``: dominance relations (``"C>I>T"``); a heterozygote shows the
        dominant allele's phenotype, or both alleles (``"AB"``) when neither dominates.
    phenotype_names : mapping of str to str, optional
        Renames the phenotypes derived from ``dominance`` (``{"C": "carbonaria", ...}``).

    Data are the phenotype counts, a mapping ``{phenotype: count}`` (every phenotype named in
    the model; missing ones count zero) or a sequence in :attr:`phenotype_labels` order. Data
    held by Dask (:func:`emkit.fit` on a Dask DataFrame, Series or array) are records instead,
    one phenotype label per row.
    """

    param_names = ("freq",)

    def __init__(
        self,
        alleles: Sequence[str],
        phenotypes: Mapping[str, Sequence[Genotype]] | None = None,
        *,
        dominance: str | Sequence[tuple[str, str]] | None = None,
        phenotype_names: Mapping[str, str] | None = None,
    ) -> None:
        self.alleles = tuple(str(a) for a in alleles)
        if len(set(self.alleles)) != len(self.alleles) or len(self.alleles) < 2:
            raise ValueError(f"alleles: need at least two distinct allele names, got {list(alleles)}")
        self.genotypes: list[Genotype] = list(combinations_with_replacement(self.alleles, 2))
        if phenotypes is None:
            phenotypes = self._phenotypes_from_dominance(parse_dominance(dominance or ()), phenotype_names or {})
        elif not isinstance(phenotypes, Mapping):
            hint = f"; for a dominance order pass dominance={phenotypes!r}" if isinstance(phenotypes, str) else ""
            raise ValueError(f"phenotypes: expected a mapping {{phenotype: [genotypes]}}, got {phenotypes!r}{hint}")
        elif dominance is not None or phenotype_names is not None:
            raise ValueError("phenotypes: give an explicit phenotypes map or dominance (with phenotype_names), "
                             "not both")
        self.phenotype_labels, self._membership = self._membership_matrix(phenotypes)
        index = {a: i for i, a in enumerate(self.alleles)}
        # Genotype g = {a_first[g], a_second[g]}; copies[g, i] counts allele i in g.
        self._first = np.array([index[a] for a, _ in self.genotypes])
        self._second = np.array([index[b] for _, b in self.genotypes])
        self._hw_factor = np.where(self._first == self._second, 1.0, 2.0)
        self._copies = np.zeros((len(self.genotypes), len(self.alleles)))
        np.add.at(self._copies, (np.arange(len(self.genotypes)), self._first), 1)
        np.add.at(self._copies, (np.arange(len(self.genotypes)), self._second), 1)

    # ------------------------------------------------------------------ construction
    def _phenotypes_from_dominance(self, relations, names) -> dict[str, list[Genotype]]:
        unknown = {a for pair in relations for a in pair} - set(self.alleles)
        if unknown:
            raise ValueError(f"dominance: unknown allele(s) {sorted(unknown)}; alleles are {list(self.alleles)}")
        groups: dict[str, list[Genotype]] = {}
        for a, b in self.genotypes:
            if a == b or (a, b) in relations:
                shown = a
            elif (b, a) in relations:
                shown = b
            else:
                shown = a + b
            groups.setdefault(shown, []).append((a, b))
        return {new_name: groups[old] for old, new_name in self._phenotype_renaming(list(groups), names).items()}

    @staticmethod
    def _phenotype_renaming(phenotypes: list[str], names) -> dict[str, str]:
        """``{phenotype: its name}`` under ``names``; ``ValueError`` naming ``phenotype_names`` for
        a name of no phenotype or two phenotypes given one name."""
        if not isinstance(names, Mapping):
            raise ValueError(f"phenotype_names: expected a mapping {{phenotype: name}}, got {names!r}")
        unknown = sorted(str(key) for key in names if key not in phenotypes)
        if unknown:
            raise ValueError(f"phenotype_names: unknown phenotype(s) {unknown}; the phenotypes are {phenotypes}")
        renaming = {phenotype: str(names.get(phenotype, phenotype)) for phenotype in phenotypes}
        shown_by: dict[str, list[str]] = {}
        for phenotype, name in renaming.items():
            shown_by.setdefault(name, []).append(phenotype)
        merged = {name: group for name, group in shown_by.items() if len(group) > 1}
        if merged:
            name, group = next(iter(merged.items()))
            raise ValueError(f"phenotype_names: phenotypes {group} would all be named {name!r}; each phenotype "
                             "needs its own name")
        return renaming

    def _membership_matrix(self, phenotypes) -> tuple[tuple[str, ...], np.ndarray]:
        labels = tuple(str(p) for p in phenotypes)
        if len(set(labels)) != len(labels):
            raise ValueError(f"phenotypes: names must be distinct as strings, got {list(labels)}")
        position = {frozenset(g): i for i, g in enumerate(self.genotypes)}
        membership = np.zeros((len(labels), len(self.genotypes)), dtype=bool)
        for row, (label, genotypes) in enumerate(zip(labels, phenotypes.values())):
            if not genotypes:
                raise ValueError(f"phenotypes: {label!r} lists no genotype; every phenotype needs at least one")
            for genotype in genotypes:
                a, b = (str(x) for x in genotype)
                key = frozenset([a, b])
                if key not in position:
                    raise ValueError(f"phenotypes: {label!r} lists genotype {a}{b} of unknown alleles")
                membership[row, position[key]] = True
        per_genotype = membership.sum(axis=0)
        if np.any(per_genotype != 1):
            bad = [f"{a}{b}" for (a, b), n in zip(self.genotypes, per_genotype) if n != 1]
            raise ValueError(f"phenotypes: every genotype must show exactly one phenotype; check {bad}")
        return labels, membership

    # ------------------------------------------------------------------ the model
    def prepare(self, data) -> np.ndarray:
        """Phenotype counts as a float vector in :attr:`phenotype_labels` order."""
        if isinstance(data, Mapping):
            unknown = [str(k) for k in data if str(k) not in self.phenotype_labels]
            if unknown:
                raise ValueError(f"counts: unknown phenotype(s) {unknown}; expected some of {list(self.phenotype_labels)}")
            data = [data.get(label, 0) for label in self.phenotype_labels]
        return check_counts(data, "counts", length=len(self.phenotype_labels))

    def prepare_chunk(self, chunk, context=None) -> np.ndarray:
        """Phenotype counts (in :attr:`phenotype_labels` order) of one chunk of records, one
        phenotype label per row (a Series, a one-column DataFrame or a 1-D array), or of a table
        ``{phenotype: count}`` (a simulated chunk, :meth:`simulate`)."""
        if isinstance(chunk, Mapping):
            return self.prepare(chunk)
        return tabulate_labels(chunk, self.phenotype_labels, "X")

    def initial_params(self, data, rng: np.random.Generator | None = None) -> Params:
        """Equal frequencies ``1/m`` by default; a flat-Dirichlet draw for a random start."""
        m = len(self.alleles)
        freq = np.full(m, 1.0 / m) if rng is None else rng.dirichlet(np.ones(m))
        return {"freq": freq}

    def genotype_probabilities(self, freq: np.ndarray) -> np.ndarray:
        """``P(genotype)`` under Hardy–Weinberg: ``p_i²`` or ``2 p_i p_j``."""
        return self._hw_factor * freq[self._first] * freq[self._second]

    def phenotype_probabilities(self, freq: np.ndarray) -> np.ndarray:
        """``P(phenotype) = Σ_{g ∈ phenotype} P(g)``."""
        return self._membership @ self.genotype_probabilities(freq)

    def _joint(self, freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``P(phenotype, genotype)`` as a (phenotype, genotype) matrix, and ``P(phenotype)``."""
        weighted = self._membership * self.genotype_probabilities(freq)
        return weighted, weighted.sum(axis=1)

    def e_step(self, data: np.ndarray, params: Params) -> tuple[Stats, float]:
        """Expected allele copies ``Σ_ph n_ph Σ_{g∈ph} P(g|ph) copies(g)``, and ``Σ n_ph log P(ph)``."""
        weighted, phenotype_prob = self._joint(params["freq"])
        observed = data > 0
        if np.any(phenotype_prob[observed] <= 0):
            return {"allele_counts": np.zeros(len(self.alleles))}, -np.inf
        expected_genotypes = (data[observed, None] * weighted[observed] / phenotype_prob[observed, None]).sum(axis=0)
        loglik = float(data[observed] @ np.log(phenotype_prob[observed]))
        return {"allele_counts": expected_genotypes @ self._copies}, loglik

    def m_step(self, stats: Stats, params: Params) -> Params:
        """Allele counting: ``p_i = c_i / Σ_j c_j``."""
        counts = stats["allele_counts"]
        return {"freq": counts / counts.sum()}

    def check_params(self, params: Params) -> Params:
        freq = check_probability_vector(params["freq"] if "freq" in params else [], "init['freq']",
                                        length=len(self.alleles))
        return {"freq": freq}

    def is_feasible(self, params: Params) -> bool:
        freq = params["freq"]
        return bool(np.all(np.isfinite(freq)) and np.all(freq > 0) and abs(freq.sum() - 1.0) < 1e-9)

    def named_params(self, params: Params) -> dict[str, float]:
        """Allele frequencies by allele name."""
        return {a: float(p) for a, p in zip(self.alleles, params["freq"])}

    def n_free_parameters(self) -> int:
        return len(self.alleles) - 1

    # ------------------------------------------------------------ inference hooks
    def to_free(self, params: Params) -> np.ndarray:
        """All allele frequencies but the last."""
        return free_probabilities(params["freq"])

    def from_free(self, free: np.ndarray, like: Params | None = None) -> Params:
        """Frequencies ``(θ, 1 − Σθ)``."""
        return {"freq": full_probabilities(free)}

    def free_labels(self, params: Params | None = None) -> tuple[str, ...]:
        return self.alleles[:-1]

    def complete_information(self, stats: Stats, params: Params) -> np.ndarray:
        """Information of the expected allele counts ``c``: ``diag(c_i/p_i²) + (c_m/p_m²) 11ᵀ``."""
        return categorical_information(stats["allele_counts"], params["freq"])

    def latent_class_scores(self, data: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Phenotype groups, genotype posteriors ``P(g | ph)`` and genotype scores
        ``Σ_i copies_gi ∂/∂θ log p_i``."""
        weighted, phenotype_prob = self._joint(params["freq"])
        observed = data > 0
        posterior = weighted[observed] / phenotype_prob[observed, None]
        genotype_scores = self._copies @ categorical_scores(params["freq"]).T  # (genotype, free)
        return data[observed], posterior, np.broadcast_to(genotype_scores, posterior.shape + genotype_scores.shape[1:])

    def resample(self, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Multinomial resampling of the phenotype counts."""
        return resample_counts(data, rng)

    def simulate(self, params: Params, like_data: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """Phenotype counts of ``N`` individuals drawn under Hardy–Weinberg at ``params``, as a table
        ``{phenotype: count}`` (which :meth:`prepare` and :meth:`prepare_chunk` both read)."""
        counts = rng.multinomial(int(like_data.sum()), self.phenotype_probabilities(params["freq"])).astype(float)
        return dict(zip(self.phenotype_labels, counts.tolist()))


def peppered_moth() -> GeneCounting:
    """The peppered moth (*Biston betularia*): alleles C > I > T.

    Phenotypes: carbonaria = CC, CI, CT; insularia = II, IT; typica = TT.
    """
    return GeneCounting(("C", "I", "T"), dominance="C>I>T",
                        phenotype_names={"C": "carbonaria", "I": "insularia", "T": "typica"})


def abo_blood_groups() -> GeneCounting:
    """ABO blood groups: A = AA/AO, B = BB/BO, AB, O = OO (A and B codominant, both over O)."""
    return GeneCounting(("A", "B", "O"), dominance="A>O, B>O")


PRESETS = {"moth": peppered_moth, "abo": abo_blood_groups}
