"""The names of the covariance structures of Gaussian components (scikit-learn's four)."""

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
