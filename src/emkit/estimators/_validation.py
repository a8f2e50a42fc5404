"""Input checks of the estimator faces, with scikit-learn's wording where its tests look for it."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse

from ..numerics import all_finite
from ..validation import as_float_array, nullable_as_nan


def check_array(X, *, estimator_name: str, allow_nan: bool = True, ensure_min_samples: int = 1,
                keep_float32: bool = False) -> np.ndarray:
    """``X`` as a 2-D float64 array (a copy when converted; a float32 array stays one with
    ``keep_float32``); raise on bad input.

    Raises
    ------
    TypeError
        Sparse input (not supported: pass ``X.toarray()``).
    ValueError
        Complex numbers, dates or times, text, a shape that is not 2-D, too few samples or no feature, infinity
        (and NaN when ``allow_nan`` is False); the message names ``X``.
    """
    if sparse.issparse(X):
        raise TypeError(f"X: sparse input is not supported by {estimator_name}; pass a dense array (X.toarray())")
    array = np.asarray(nullable_as_nan(X))
    if array.dtype.kind not in "biuf":
        array = as_float_array(array, "X")
    if not (keep_float32 and array.dtype == np.float32):
        array = np.asarray(array, dtype=float)
    if array.ndim == 1:
        raise ValueError(f"X: expected a 2-D array, got a 1-D array of shape {array.shape}. Reshape your data "
                         "with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample")
    if array.ndim != 2:
        raise ValueError(f"X: expected a 2-D array (n_samples, n_features), got shape {array.shape}")
    n, d = array.shape
    if n < ensure_min_samples:
        raise ValueError(f"X: Found array with {n} sample(s) (shape={array.shape}) while a minimum of "
                         f"{ensure_min_samples} is required by {estimator_name}.")
    if d < 1:
        raise ValueError(f"X: Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is required "
                         f"by {estimator_name}.")
    if all_finite(array):
        return array
    if np.any(np.isinf(array)):
        raise ValueError("X: Input contains infinity")
    if not allow_nan and np.any(np.isnan(array)):
        raise ValueError("X: Input contains NaN")
    return array


def feature_names(X) -> np.ndarray | None:
    """Column names of a data frame when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.size and all(isinstance(name, str) for name in names):
        return names
    return None


def check_feature_names(estimator, X) -> None:
    """Compare the column names of ``X`` with those seen in ``fit`` (scikit-learn's rules)."""
    fitted = getattr(estimator, "feature_names_in_", None)
    given = feature_names(X)
    name = type(estimator).__name__
    if fitted is None and given is not None:
        warnings.warn(f"X has feature names, but {name} was fitted without feature names", UserWarning, stacklevel=3)
    elif fitted is not None and given is None:
        warnings.warn(f"X does not have valid feature names, but {name} was fitted with feature names",
                      UserWarning, stacklevel=3)
    elif fitted is not None and (len(fitted) != len(given) or np.any(fitted != given)):
        raise ValueError("The feature names should match those that were passed during fit.\n"
                         + _name_differences(list(fitted), list(given)))


def _name_differences(fitted: list[str], given: list[str]) -> str:
    unseen = sorted(set(given) - set(fitted))
    missing = sorted(set(fitted) - set(given))
    if not unseen and not missing:
        return "Feature names must be in the same order as they were in fit.\n"
    message = ""
    for title, names in (("Feature names unseen at fit time:", unseen),
                         ("Feature names seen at fit time, yet now missing:", missing)):
        if names:
            shown = [f"- {name}" for name in names[:5]] + (["- ..."] if len(names) > 5 else [])
            message += title + "\n" + "\n".join(shown) + "\n"
    return message


def check_n_features(estimator, X: np.ndarray) -> None:
    """``X`` has as many columns as the data ``fit`` saw (scikit-learn's message)."""
    expected = estimator.n_features_in_
    if X.shape[1] != expected:
        raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting {expected} "
                         "features as input.")


def column_roles(n_features: int, names, fixed, concomitant) -> tuple[list[int], list[int], list[int]]:
    """The positions of the varying, fixed and concomitant columns (``ValueError`` naming the
    argument for an unknown or repeated column)."""
    chosen = {}
    for argument, columns in (("fixed", fixed), ("concomitant", concomitant)):
        positions = []
        for column in ([] if columns is None else ([columns] if isinstance(columns, (str, int)) else list(columns))):
            if isinstance(column, str):
                if names is None or column not in list(names):
                    raise ValueError(f"{argument}: no column named {column!r} in X"
                                     + ("" if names is not None else " (column names need a pandas DataFrame)"))
                position = list(names).index(column)
            elif isinstance(column, (int, np.integer)) and not isinstance(column, bool) and 0 <= column < n_features:
                position = int(column)
            else:
                raise ValueError(f"{argument}: expected column positions in [0, {n_features}) or names, got {column!r}")
            if position in chosen or position in positions:
                raise ValueError(f"{argument}: column {column!r} is given twice (fixed and concomitant columns are "
                                 "distinct)")
            positions.append(position)
        chosen.update({position: argument for position in positions})
        if argument == "fixed":
            fixed_positions = positions
        else:
            concomitant_positions = positions
    varying = [j for j in range(n_features) if j not in chosen]
    return varying, fixed_positions, concomitant_positions
