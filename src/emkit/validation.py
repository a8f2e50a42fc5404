"""Input checks shared by the engine, models, estimators and the CLI; each error names the argument.

Every check raises ``ValueError`` (never ``TypeError``) at once, before any allocation or work,
so that the command line can print it as one line.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

#: The largest whole number up to which float64 holds every whole number exactly (2**53): a
#: larger count, symbol or pseudo-count would be rounded, and sums of them could overflow.
MAX_EXACT_INTEGER = 2 ** 53


class NotNumbersError(ValueError, TypeError):
    """Entries that are not numbers (text, dates, objects): a ``ValueError`` like every bad
    input, and also the ``TypeError`` that scikit-learn raises for them (as numpy's
    ``AxisError`` is both a ``ValueError`` and an ``IndexError``)."""


def check_counts(values, name: str, *, length: int | None = None) -> np.ndarray:
    """Return ``values`` as a float vector of non-negative whole counts with a positive total.

    Raises
    ------
    ValueError
        Naming ``name`` when a count is negative, not whole, not finite, the total is zero or
        above :data:`MAX_EXACT_INTEGER`, or the length differs from ``length``.
    """
    array = as_float_array(values, name, copy=True)  # a copy: the caller's object is never aliased
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
    total = array.sum()
    if total <= 0:
        raise ValueError(f"{name}: all counts are zero; nothing to fit")
    if total > MAX_EXACT_INTEGER:
        raise ValueError(f"{name}: the counts total {total:.4g}, more than 2**53 ({MAX_EXACT_INTEGER:.4g}), beyond "
                         "which whole numbers are not exact in floating point; rescale or recheck the counts")
    return array


def check_probability_vector(values, name: str, *, length: int | None = None) -> np.ndarray:
    """Return ``values`` as a probability vector (positive entries summing to one) or raise."""
    array = as_float_array(values, name, copy=True)  # a copy: the caller's object is never aliased
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


def as_float_array(values, name: str, *, copy: bool = False) -> np.ndarray:
    """``values`` as a float64 array (a copy when ``copy`` or when converted).

    Raises
    ------
    ValueError
        Naming ``name`` when an entry is complex; :class:`NotNumbersError` (a ``ValueError``)
        when it is a date or time, text that is not a number, or any other object that is not
        a real number.
    """
    array = np.asarray(values)
    if np.iscomplexobj(array):
        raise ValueError(f"{name}: Complex data not supported")
    if array.dtype.kind in "mM":
        raise NotNumbersError(f"{name}: expected numbers, got {array.dtype} (dates or times); convert them to "
                              "numbers first (e.g. elapsed seconds)")
    try:
        return np.array(array, dtype=float) if copy else np.asarray(array, dtype=float)
    except (TypeError, ValueError) as error:
        raise NotNumbersError(f"{name}: expected numbers, got {array.dtype} entries that are not ({error})") from None


def check_real(value: Any, name: str, *, low: float | None = None, low_open: bool = False) -> float:
    """``value`` as a finite float at least ``low`` (above it when ``low_open``).

    Raises
    ------
    ValueError
        Naming ``name`` when ``value`` is not a real number (text and booleans included), not
        finite, or out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name}: must be {'greater than' if low_open else 'at least'} {low}, got {value!r}")
    return float(value)


def check_integer(value: Any, name: str, *, low: int = 1) -> int:
    """``value`` as an int at least ``low``.

    Raises
    ------
    ValueError
        Naming ``name`` when ``value`` is not an integer (booleans, floats and text included) or
        is below ``low``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name}: must be at least {low}, got {value!r}")
    return int(value)


def check_callable(value: Any, name: str) -> None:
    """``value`` is None or callable; ``ValueError`` naming ``name`` otherwise."""
    if value is not None and not callable(value):
        raise ValueError(f"{name}: expected a function or None, got {value!r}")


def random_generator(random_state: Any, name: str = "random_state") -> np.random.Generator:
    """A numpy Generator from None, a non-negative int, a Generator or a legacy RandomState
    (drawn from).

    Raises
    ------
    ValueError
        Naming ``name`` for anything else (text, a float, a negative int, ...).
    """
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator) or random_state is None:
        return np.random.default_rng(random_state)
    if isinstance(random_state, Integral) and not isinstance(random_state, (bool, np.bool_)) and random_state >= 0:
        return np.random.default_rng(int(random_state))
    raise ValueError(f"{name}: expected None, a non-negative int, a numpy Generator or RandomState, "
                     f"got {random_state!r}")


def check_sample_weight(sample_weight, n_samples: int, *, whole_data: bool = True) -> np.ndarray | None:
    """``sample_weight`` as finite non-negative floats of shape ``(n_samples,)``, not all zero
    (``whole_data=False``, one chunk of the data: may be all zero).

    Raises
    ------
    ValueError
        Naming ``sample_weight`` and what is wrong.
    """
    if sample_weight is None:
        return None
    try:
        weights = np.array(sample_weight, dtype=float, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"sample_weight: expected numbers, got {type(sample_weight).__name__}") from None
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight: expected shape ({n_samples},), got {weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sample_weight: weights must be finite and non-negative")
    if whole_data and not weights.sum() > 0:
        raise ValueError("sample_weight: all weights are zero; nothing to fit")
    return weights
