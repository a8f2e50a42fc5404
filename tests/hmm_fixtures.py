"""Random HMM parameters shared by the HMM tests."""

import numpy as np

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def random_gaussian_params(rng, k, d, covariance_type):
    """Random start/transition probabilities, means and covariances of the given type."""
    a = rng.normal(size=(k, d, d))
    full = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    covars = {"full": full, "tied": full[0], "diag": rng.uniform(0.5, 2.0, (k, d)),
              "spherical": rng.uniform(0.5, 2.0, k)}[covariance_type]
    return {"startprob": rng.dirichlet(np.ones(k)), "transmat": rng.dirichlet(np.ones(k) * 2, size=k),
            "means": rng.normal(scale=2.0, size=(k, d)), "covars": covars}
