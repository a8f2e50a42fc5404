"""Models fitted by the EM engine: each supplies starting values, an E-step and an M-step."""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "GeneCounting": ".gene_counting",
    "GroupedMultinomial": ".grouped_multinomial",
    "PoissonMixture": ".poisson_mixture",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
