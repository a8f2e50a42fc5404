"""Numeric kernels shared by the models (no model or engine imports here).

``gaussian``: Gaussian log-densities, weighted sufficient statistics and their M-step for the
covariance structures of ``covariance_structures`` (strategy objects; scikit-learn's four by
name), with exact handling of missing coordinates. ``kmeans``: weighted
k-means and k-means++ used to start mixtures. ``hmm``: the compiled forward–backward, Viterbi
and sampling recursions of hidden Markov models. ``newton``: damped Newton ascent, the inner
loop of data-taking M-steps; ``multinomial_logit``: the weighted soft-target multinomial logit.
"""

from ..lazy_exports import lazy_exports

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "COVARIANCE_TYPES": ".covariance_types",
    "CovarianceStructure": ".covariance_structures",
    "covariance_structure": ".covariance_structures",
    "MissingPattern": ".gaussian",
    "check_covariance_type": ".gaussian",
    "covariance_shape": ".gaussian",
    "gaussian_m_step": ".gaussian",
    "gaussian_stats": ".gaussian",
    "gaussian_stats_missing": ".gaussian",
    "impute_conditional_mean": ".gaussian",
    "log_gaussian_density": ".gaussian",
    "log_gaussian_density_missing": ".gaussian",
    "missing_patterns": ".gaussian",
    "maximize_concave": ".newton",
    "fit_multinomial_logit": ".multinomial_logit",
    "multinomial_logit_derivatives": ".multinomial_logit",
    "precisions_cholesky": ".gaussian",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
