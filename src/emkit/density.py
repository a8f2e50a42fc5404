"""Density tools of a fitted Gaussian mixture (mclust's ``densityMclust``): the distribution
function of a one-dimensional mixture and highest-density-region levels.

:class:`~emkit.GaussianMixture` exposes them as ``cdf`` and ``hdr_levels``; the mathematics is here.
"""

from __future__ import annotations

import numpy as np

from .validation import random_generator

#: Points simulated from the fit for :func:`hdr_levels` when no data are given.
HDR_SAMPLES = 100_000


def mixture_cdf(estimator, X) -> np.ndarray:
    """``F(x) = Σ_k π_k Φ((x − μ_k)/σ_k)`` of a fitted one-dimensional Gaussian mixture.

    ``X`` is a vector of points or an ``(n, 1)`` array; works for any covariance structure
    (``covariances_`` holds either one variance per component or one shared variance).
    """
    from scipy.special import ndtr

    estimator._check_is_fitted()
    if estimator.n_features_in_ != 1:
        raise ValueError(f"X: cdf is defined for one-dimensional mixtures; this one was fitted on "
                         f"{estimator.n_features_in_} features")
    try:
        points = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"X: expected numbers, got {X!r}") from None
    if points.ndim == 2 and points.shape[1] == 1:
        points = points[:, 0]
    if points.ndim > 1:
        raise ValueError(f"X: expected a vector or an (n, 1) array of points, got shape {points.shape}")
    if np.any(np.isnan(points)):
        raise ValueError("X: contains NaN")
    weights = np.asarray(estimator.weights_, dtype=float)
    means = np.asarray(estimator.means_, dtype=float).reshape(-1)
    variances = np.broadcast_to(np.asarray(estimator.covariances_, dtype=float).reshape(-1), weights.shape)
    z = (points.reshape(-1, 1) - means) / np.sqrt(variances)
    return ndtr(z) @ weights


def hdr_levels(estimator, probs, X=None, *, n_samples: int = HDR_SAMPLES, random_state=None) -> np.ndarray:
    """Density levels ``c_p`` whose upper sets ``{x : f(x) ≥ c_p}`` hold probability ``p``.

    ``c_p`` is the ``1 − p`` quantile of ``f(Y)`` for ``Y ~ f`` (Hyndman 1996), estimated as the
    empirical quantile (numpy's and R's default, linear interpolation) of the fitted density at
    ``n_samples`` points simulated from the fit, or at the rows of ``X`` when given (what mclust's
    ``hdrlevels`` does with the data in its density plots).
    """
    estimator._check_is_fitted()
    try:
        p = np.asarray(probs, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"probs: expected probabilities, got {probs!r}") from None
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"probs: must lie in [0, 1], got {probs!r}")
    if X is None:
        if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 2):
            raise ValueError(f"n_samples: must be an integer of at least 2, got {n_samples!r}")
        points = simulate(estimator, n_samples, random_generator(random_state))
    else:
        points = X
    density = np.exp(estimator.score_samples(points))
    return np.quantile(density, 1.0 - p)


def simulate(estimator, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` rows drawn from the fitted mixture with ``rng`` (the estimator's ``sample``
    with ``rng`` as its random state; the estimator is left unchanged)."""
    saved = estimator.random_state
    try:
        estimator.random_state = rng
        return estimator.sample(n_samples)[0]
    finally:
        estimator.random_state = saved
