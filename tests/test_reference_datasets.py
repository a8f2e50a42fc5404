"""The shipped reference data sets (mclust's published analyses use them): shapes and the
documented summary statistics."""

import numpy as np

from emkit.datasets import diabetes, earthquakes, galaxies, old_faithful


def test_old_faithful_is_rs_faithful():
    data = old_faithful()
    assert data.shape == (272, 2) and list(data.columns) == ["eruptions", "waiting"]
    # R: colMeans(faithful) = 3.487783 70.897059
    np.testing.assert_allclose(data.mean().to_numpy(), [3.487783, 70.897059], atol=5e-7)
    assert data["eruptions"].min() == 1.6 and data["eruptions"].max() == 5.1
    assert data["waiting"].min() == 43 and data["waiting"].max() == 96
    np.testing.assert_array_equal(data.iloc[[0, 99, 271]].to_numpy(), [[3.6, 79], [4.9, 82], [4.467, 74]])


def test_diabetes_is_mclusts():
    data = diabetes()
    assert data.shape == (145, 4) and list(data.columns) == ["class", "glucose", "insulin", "sspg"]
    assert data["class"].value_counts().to_dict() == {"Normal": 76, "Chemical": 36, "Overt": 33}
    assert data[["glucose", "insulin", "sspg"]].dtypes.map(lambda t: t.kind in "if").all()
    assert data["glucose"].min() == 70 and data["glucose"].max() == 353
    assert data["insulin"].max() == 1568 and data["sspg"].min() == 10 and data["sspg"].max() == 748


def test_galaxies_is_mass():
    x = galaxies()
    assert x.shape == (82,) and x.min() == 9172 and x.max() == 34279
    # summary(MASS::galaxies): mean 20828.17, median 20833.5; the 78th value 26690 (MASS's note)
    assert round(x.mean(), 2) == 20828.17 and np.median(x) == 20833.5 and x[77] == 26690


def test_earthquakes_is_zucchini_macdonalds():
    data = earthquakes()
    assert data.shape == (107, 2) and list(data.columns) == ["year", "count"]
    assert data["year"].tolist() == list(range(1900, 2007))
    # Zucchini & MacDonald (2009), Table 1.1 and their summary: mean 19.36, variance 51.57
    counts = data["count"].to_numpy()
    assert round(counts.mean(), 2) == 19.36 and round(counts.var(ddof=1), 2) == 51.57
    assert counts[43] == 41 and counts.min() == 6 and counts[-3:].tolist() == [16, 11, 11]


def test_usmacro_is_the_markov_switching_test_data():
    from markov_switching_data import INF, OGAP
    from test_hmm_chain_options import FEDFUNDS

    from emkit.datasets import usmacro

    data = usmacro()
    assert data.shape == (226, 4) and list(data.columns) == ["quarter", "fedfunds", "ogap", "inf"]
    assert data["quarter"].iloc[[0, 1, 2, -1]].tolist() == ["1954Q3", "1954Q4", "1955Q1", "2010Q4"]
    np.testing.assert_array_equal(data["fedfunds"].to_numpy(), FEDFUNDS)
    np.testing.assert_array_equal(data["ogap"].to_numpy(), OGAP)
    np.testing.assert_array_equal(data["inf"].to_numpy(), INF)
