"""Input checks shared by models, estimators and the CLI; each error names the argument."""

from __future__ import annotations

import numpy as np


def check_counts(values, name: str, *, length: int | None = None) -> np.ndarray:
    """Return ``values`` as a float vector of non-negative whole counts with a positive total.

    Raises
    ------
    ValueError
        Naming ``name`` when a count is negative, not whole, not finite, the total is zero, or the
        length differs from ``length``.
    """
    array = np.array(values, dtype=float)  # a copy: the caller's object is never aliased
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of counts, got shape {array.shape}")
    if length is not None and array.size != length:
        raise ValueError(f"{name}: expected {length} counts, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: counts must be finite, got {array.tolist()}")
    if np.any(array < 0):
        raise ValueError(f"{name}: counts must be non-negative, got {array.tolist()}")
    if np.any(array != np.round(array)):
        raise ValueError(f"{name}: counts must be whole numbers, got {array.tolist()}")
    if array.sum() <= 0:
        raise ValueError(f"{name}: all counts are zero; nothing to fit")
    return array


def check_probability_vector(values, name: str, *, length: int | None = None) -> np.ndarray:
    """Return ``values`` as a probability vector (positive entries summing to one) or raise."""
    array = np.array(values, dtype=float)  # a copy: the caller's object is never aliased
    if array.ndim != 1 or (length is not None and array.size != length):
        raise ValueError(f"{name}: expected {length or 'a'} probabilities in a 1-D sequence, got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array <= 0) or abs(array.sum() - 1.0) > 1e-8:
        raise ValueError(f"{name}: expected positive probabilities summing to 1, got {array.tolist()}")
    return array


def nullable_as_nan(X):
    """``X`` as a float array with NaN for ``pd.NA`` when it is a pandas DataFrame or Series with
    nullable numeric columns (``Float64``, ``Int64``, ``boolean``, ...); anything else unchanged.

    NumPy cannot convert ``pd.NA`` to a float, so such frames would be rejected where NaN is
    accepted; scikit-learn accepts them. All-``Float32`` columns give float32, others float64.
    """
    if not type(X).__module__.startswith("pandas"):
        return X
    import pandas as pd

    dtypes = list(X.dtypes) if isinstance(X, pd.DataFrame) else [X.dtype] if isinstance(X, pd.Series) else []
    if not any(isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biuf" for dtype in dtypes):
        return X
    single = all(np.dtype(getattr(dtype, "numpy_dtype", dtype)) == np.float32 for dtype in dtypes)
    try:
        return X.to_numpy(dtype=np.float32 if single else np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return X  # other columns that are not numbers: the caller's check names them

