"""emkit: the Expectation-Maximization algorithm as a toolkit.

One engine (:func:`fit`) fits every model that supplies an E-step returning additive expected
sufficient statistics and an M-step; the models, estimators, inference and plotting build on it.
Names are imported on first use, so ``import emkit`` (and the ``emkit`` command's ``--help``) is quick.
"""

from importlib.metadata import PackageNotFoundError, version

from .lazy_exports import lazy_exports

try:  # pyproject.toml's version is the single source; the installed metadata carries it.
    __version__ = version("emkit")
except PackageNotFoundError:  # a source tree that was never installed: no version to claim
    __version__ = "0+unknown"

#: Public name -> the module that defines it (imported on first use).
EXPORTS = {
    "fit": ".engine",
    "EMModel": ".engine",
    "EMResult": ".engine",
    "Trace": ".engine",
    "Squarem": ".engine",
    "PerSampleChange": ".engine",
    "RelativeChange": ".engine",
    "StoppingRule": ".engine",
    "standard_errors": ".inference",
    "StandardErrors": ".inference",
    "GeneCounting": ".models",
    "GroupedMultinomial": ".models",
    "PoissonMixture": ".models",
    "GaussianMixture": ".estimators",
    "MclustPrior": ".kernels.mclust_prior",
    "GaussianHMM": ".estimators",
    "CategoricalHMM": ".estimators",
    "PoissonHMM": ".estimators",
    "GMMHMM": ".estimators",
    "MultinomialHMM": ".estimators",
    "HMM": ".estimators",
    "Mixture": ".estimators",
    "MixtureDiscriminant": ".estimators.mixture_discriminant",
    "StudentMixture": ".estimators.student_mixture",
    "RegressionMixture": ".estimators.regression_mixture",
    "gmm_select": ".selection",
    "bootstrap_lrt": ".selection",
    "BootstrapLRT": ".selection",
    "fit_mcem": ".variants",
    "fit_ecm": ".variants",
    "fit_online": ".variants",
    "ConvergenceWarning": ".exceptions",
    "AscentWarning": ".exceptions",
    "DegenerateComponentWarning": ".exceptions",
    "RegularizationWarning": ".exceptions",
}

__all__ = list(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
