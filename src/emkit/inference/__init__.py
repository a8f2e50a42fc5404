"""Inference after EM: the covariance of the estimates by Louis, SEM, the bootstrap or the Hessian."""

from .api import METHODS, standard_errors
from .result import StandardErrors

__all__ = ["standard_errors", "StandardErrors", "METHODS"]
