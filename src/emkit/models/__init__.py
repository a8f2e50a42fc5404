"""Models fitted by the EM engine: each supplies starting values, an E-step and an M-step."""

from .gene_counting import GeneCounting
from .grouped_multinomial import GroupedMultinomial
from .poisson_mixture import PoissonMixture

__all__ = ["GeneCounting", "GroupedMultinomial", "PoissonMixture"]
