"""The classic data sets of the EM literature (small, shipped as literals)."""

from __future__ import annotations

import numpy as np


def peppered_moth_counts() -> dict[str, int]:
    """Peppered moth phenotype counts: carbonaria 85, insularia 196, typica 341."""
    return {"carbonaria": 85, "insularia": 196, "typica": 341}


def abo_counts() -> dict[str, int]:
    """ABO blood-group counts: A 186, B 38, AB 13, O 284."""
    return {"A": 186, "B": 38, "AB": 13, "O": 284}


def genetic_linkage_counts() -> list[int]:
    """Dempster, Laird & Rubin (1977) genetic-linkage counts: 125, 18, 20, 34."""
    return [125, 18, 20, 34]


def hasselblad_deaths() -> list[int]:
    """Frequencies of 0..9 deaths per day (Hasselblad 1969): 162, 267, 271, 185, 111, 61, 27, 8, 3, 1."""
    return [162, 267, 271, 185, 111, 61, 27, 8, 3, 1]


def synthetic_gmm(n_samples: int = 400, random_state: int = 0):
    """The clustering example: ``n_samples`` 2-D points from four normal distributions.

    Equal group sizes (the first groups take any remainder), means ``(0, 0)``, ``(3.5, 0)``,
    ``(0, 4.5)``, ``(4, 4)`` and four different covariances (tilted, tall and narrow, wide and
    tilted the other way, small and round), close enough that round k-means clusters mislabel
    many points. Returns ``(X, labels, params)`` with the true ``weights``, ``means`` and
    ``covariances`` (full, ``(4, 2, 2)``) as numpy arrays.
    """
    means = np.array([[0.0, 0.0], [3.5, 0.0], [0.0, 4.5], [4.0, 4.0]])
    covariances = np.array([[[2.5, 1.8], [1.8, 2.0]], [[0.25, 0.0], [0.0, 2.5]],
                            [[3.5, -1.2], [-1.2, 0.6]], [[0.4, 0.1], [0.1, 0.4]]])
    sizes = np.full(4, n_samples // 4) + (np.arange(4) < n_samples % 4)
    rng = np.random.default_rng(random_state)
    X = np.vstack([rng.multivariate_normal(m, c, size=s) for m, c, s in zip(means, covariances, sizes)])
    labels = np.repeat(np.arange(4), sizes)
    return X, labels, {"weights": sizes / sizes.sum(), "means": means, "covariances": covariances}


def _shipped_csv(name: str):
    """The CSV ``name`` shipped in ``emkit/data`` as a DataFrame (``#`` lines are its source notes)."""
    from importlib.resources import files

    import pandas as pd

    with files("emkit").joinpath("data", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, comment="#")


def old_faithful():
    """Old Faithful geyser eruptions: 272 rows, ``eruptions`` (minutes) and ``waiting`` (minutes
    to the next eruption), R's ``datasets::faithful``.

    Returns
    -------
    pandas.DataFrame of shape (272, 2)

    References
    ----------
    Härdle, W. (1991) Smoothing Techniques with Implementation in S. Springer.
    Azzalini, A. and Bowman, A. W. (1990) A look at some data on the Old Faithful geyser.
    Applied Statistics 39, 357-365.
    """
    return _shipped_csv("old_faithful.csv")


def diabetes():
    """The Reaven–Miller diabetes data: 145 non-obese adults, ``class`` (``"Normal"``,
    ``"Chemical"``, ``"Overt"``: 76, 36, 33) and three measurements, ``glucose`` and ``insulin``
    (areas under the plasma glucose and insulin curves) and ``sspg`` (steady-state plasma
    glucose), as R's ``mclust::diabetes`` (the values of its ``data/diabetes.R``, which mclust's
    published analyses up to version 5 use). mclust 6's vignette "corrects" them before use:
    it renames the three measurements ``fpg``, ``glucose``, ``insulin`` and sets the 104th
    value of the second (here ``insulin``, 45) to 455; do the same to reproduce its numbers.

    Returns
    -------
    pandas.DataFrame of shape (145, 4)

    References
    ----------
    Reaven, G. M. and Miller, R. G. (1979) An attempt to define the nature of chemical diabetes
    using a multidimensional analysis. Diabetologia 16, 17-24.
    """
    return _shipped_csv("diabetes.csv")


def galaxies() -> np.ndarray:
    """Velocities (km/s) of 82 galaxies of the Corona Borealis region, R's ``MASS::galaxies``
    (in increasing order; the 78th is 26690 as in MASS, where the source has 26960).

    Returns
    -------
    numpy.ndarray of shape (82,)

    References
    ----------
    Roeder, K. (1990) Density estimation with confidence sets exemplified by superclusters and
    voids in the galaxies. Journal of the American Statistical Association 85, 617-624.
    Postman, M., Huchra, J. P. and Geller, M. J. (1986) Probes of large-scale structures in the
    Corona Borealis region. Astronomical Journal 92, 1238-1247.
    """
    return _shipped_csv("galaxies.csv")["velocity"].to_numpy(dtype=float)


def earthquakes():
    """Annual counts of major earthquakes (magnitude 7 or greater) worldwide, 1900–2006: 107
    rows, ``year`` and ``count``, the series that Zucchini & MacDonald model with Poisson HMMs
    (their Table 1.1; mean 19.36, variance 51.57).

    Returns
    -------
    pandas.DataFrame of shape (107, 2)

    References
    ----------
    Zucchini, W. and MacDonald, I. L. (2009) Hidden Markov Models for Time Series: An
    Introduction Using R. Chapman & Hall/CRC.
    """
    return _shipped_csv("earthquakes.csv")


def usmacro():
    """US quarterly macroeconomic series, 1954Q3–2010Q4: 226 rows, ``quarter`` (``"1954Q3"``…),
    ``fedfunds`` (the federal funds rate, %), ``ogap`` (the output gap, %) and ``inf``
    (inflation, %; NaN for the first four quarters): Stata's ``usmacro`` data, on which Stata's
    Markov-switching examples (and statsmodels' ``MarkovRegression`` tests) are computed. A
    two-regime switching mean of ``fedfunds`` with a common variance and a stationary start
    reaches Stata's log-likelihood −508.63592.

    Returns
    -------
    pandas.DataFrame of shape (226, 4)

    References
    ----------
    StataCorp, Stata Time-Series Reference Manual, ``mswitch``. Hamilton, J. D. (1989) A new
    approach to the economic analysis of nonstationary time series and the business cycle.
    Econometrica 57, 357-384.
    """
    return _shipped_csv("usmacro.csv")
