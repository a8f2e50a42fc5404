"""pandas nullable dtypes (``Float64``, ``Int64``, ``boolean`` with ``pd.NA``) are accepted
wherever NaN is, with the same results as the float array with NaN (scikit-learn accepts them)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emkit
from emkit.models.gaussian_mixture import GaussianMixtureModel
from emkit.families.gaussian import Gaussian
from emkit.latent.hmm import HiddenMarkovModel

pd = pytest.importorskip("pandas")


def frame(with_missing: bool = True):
    rng = np.random.default_rng(4)
    a = np.concatenate([rng.normal(size=40), rng.normal(size=40) + 5.0])
    b = np.round(np.concatenate([rng.normal(size=40), rng.normal(size=40) + 4.0]) * 3).astype(int)
    df = pd.DataFrame({"a": pd.array(a, dtype="Float64"), "b": pd.array(b, dtype="Int64")})
    if with_missing:
        df.loc[3, "a"] = pd.NA
        df.loc[7, "b"] = pd.NA
    return df, df.to_numpy(dtype=float, na_value=np.nan)


def quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the small fits
        return call()


@pytest.mark.parametrize("name, run", [
    ("GaussianMixture", lambda X: emkit.GaussianMixture(2, random_state=0).fit(X).score_samples(X)),
    ("GaussianMixture.partial_fit", lambda X: emkit.GaussianMixture(2, random_state=0).partial_fit(X).predict_proba(X)),
    ("GaussianHMM", lambda X: emkit.GaussianHMM(2, random_state=0).fit(X).predict_proba(X)),
    ("GaussianHMM.decode", lambda X: emkit.GaussianHMM(2, random_state=0).fit(X).decode(X)[1]),
    ("emkit.fit GaussianMixtureModel", lambda X: emkit.fit(GaussianMixtureModel(2), X, random_state=0).loglik),
    ("emkit.fit HiddenMarkovModel",
     lambda X: emkit.fit(HiddenMarkovModel(Gaussian(2, "diag"), 2), X, random_state=0).loglik),
])
def test_nullable_frame_with_na_equals_the_array_with_nan(name, run):
    df, X = frame()
    np.testing.assert_array_equal(quiet(lambda: run(df)), quiet(lambda: run(X)))


def test_categorical_hmm_takes_int64_with_na_as_missing():
    df, X = frame()
    symbols, array = df[["b"]].abs() % 4, np.abs(X[:, 1:]) % 4
    ours = quiet(lambda: emkit.CategoricalHMM(2, random_state=0).fit(symbols))
    reference = quiet(lambda: emkit.CategoricalHMM(2, random_state=0).fit(array))
    assert ours.score(symbols) == reference.score(array)


def test_student_mixture_takes_nullable_columns_and_names_na_as_nan():
    """StudentMixture accepts no NaN: nullable columns without NA fit as floats; NA is the NaN error."""
    df, X = frame(with_missing=False)
    ours = quiet(lambda: emkit.StudentMixture(2, random_state=0).fit(df))
    np.testing.assert_array_equal(ours.score_samples(df),
                                  quiet(lambda: emkit.StudentMixture(2, random_state=0).fit(X)).score_samples(X))
    np.testing.assert_array_equal(ours.feature_names_in_, ["a", "b"])
    with pytest.raises(ValueError, match="X: Input contains NaN"):
        emkit.StudentMixture(2).fit(frame()[0])


def test_float32_and_boolean_nullable_columns():
    df, X = frame()
    single = pd.DataFrame({"a": df["a"].astype("Float32"), "b": df["b"].astype("Float32")})
    fitted = quiet(lambda: emkit.GaussianMixture(2, random_state=0).fit(single))
    assert np.isfinite(fitted.score(single))
    flags = pd.DataFrame({"a": df["a"], "flag": pd.array([True, False, None] * 26 + [True, False], dtype="boolean")})
    assert np.isfinite(quiet(lambda: emkit.GaussianMixture(2, random_state=0).fit(flags)).score(flags))
