"""The names of the GLM families of :mod:`emkit.kernels.glm`, in a module of their own so that the
command line's parser reads them without importing scipy."""

GLM_FAMILIES = ("gaussian", "poisson", "binomial", "gamma")
