"""The names of the methods of :func:`emkit.standard_errors`."""

METHODS = ("louis", "sem", "bootstrap", "hessian")

#: The kinds of ``method="bootstrap"`` (mclust's ``MclustBootstrap`` types).
BOOTSTRAP_KINDS = ("nonparametric", "parametric", "weighted", "jackknife")
