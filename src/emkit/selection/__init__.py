"""Choosing the number of components and the covariance model, as R's mclust does.

``grid`` fits a grid of Gaussian mixtures and tabulates BIC, AIC and ICL (:func:`gmm_select`);
``bootstrap_lrt`` tests ``G`` against ``G + 1`` components by a parametric bootstrap of the
likelihood-ratio statistic (:func:`bootstrap_lrt`).
"""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "gmm_select": ".grid",
    "SelectionResult": ".grid",
    "information_criteria": ".grid",
    "criteria_and_labels": ".grid",
    "bootstrap_lrt": ".bootstrap_lrt",
    "BootstrapLRT": ".bootstrap_lrt",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
