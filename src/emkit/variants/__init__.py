"""EM variants: Monte Carlo EM, ECM/ECME and online EM drivers over the same models."""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "fit_mcem": ".mcem",
    "MCEMResult": ".mcem",
    "fit_ecm": ".ecm",
    "fit_online": ".online",
    "OnlineResult": ".online",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
