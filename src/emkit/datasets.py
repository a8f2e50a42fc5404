"""The classic data sets of the EM literature (small, shipped as literals)."""

from __future__ import annotations


def peppered_moth_counts() -> dict[str, int]:
    """Peppered moth phenotype counts: carbonaria 85, insularia 196, typica 341."""
    return {"carbonaria": 85, "insularia": 196, "typica": 341}


def abo_counts() -> dict[str, int]:
    """ABO blood-group counts: A 186, B 38, AB 13, O 284."""
    return {"A": 186, "B": 38, "AB": 13, "O": 284}


def genetic_linkage_counts() -> list[int]:
    """Dempster, Laird & Rubin (1977) genetic-linkage counts: 125, 18, 20, 34."""
    return [125, 18, 20, 34]


def hasselblad_deaths() -> list[int]:
    """Frequencies of 0..9 deaths per day (Hasselblad 1969): 162, 267, 271, 185, 111, 61, 27, 8, 3, 1."""
    return [162, 267, 271, 185, 111, 61, 27, 8, 3, 1]
