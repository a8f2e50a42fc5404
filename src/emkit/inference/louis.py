"""Louis's (1982) observed information: complete-data information minus missing information."""

from __future__ import annotations

import numpy as np

from ..engine.estep import score_covariance
from .free import FreeProblem


def louis_information(problem: FreeProblem) -> np.ndarray:
    """Observed information at the estimate, in the free parameters.

    ``I_obs = I_c − Cov[S_c | data]`` with ``I_c = E[−∂² log p(x, z | θ) | data]`` and ``S_c``
    the complete-data score (the missing-information principle; the term ``S̄ S̄ᵀ`` of Louis's
    formula cancels because ``E[S_c Sᵀ_c | data] = Cov + S̄ S̄ᵀ``). Needs the model's
    ``complete_information`` and ``score_covariance`` (or ``latent_class_scores``).
    """
    complete = problem.complete_information()
    missing = score_covariance(problem.model, problem.data, problem.params)
    return complete - np.atleast_2d(np.asarray(missing, dtype=float))
