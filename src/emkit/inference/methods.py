"""The names of the methods of :func:`emkit.standard_errors`."""

METHODS = ("louis", "sem", "bootstrap", "hessian")
