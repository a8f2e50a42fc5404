"""Inference after EM: the covariance of the estimates by Louis, SEM, the bootstrap or the Hessian."""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "standard_errors": ".api",
    "StandardErrors": ".result",
    "METHODS": ".methods",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
