"""EM variants: Monte Carlo EM, ECM/ECME and online EM drivers over the same models."""

from .ecm import fit_ecm
from .mcem import MCEMResult, fit_mcem
from .online import OnlineResult, fit_online

__all__ = ["fit_mcem", "MCEMResult", "fit_ecm", "fit_online", "OnlineResult"]
