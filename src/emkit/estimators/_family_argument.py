"""The ``family=`` argument of the any-family faces (:class:`~emkit.Mixture`, :class:`~emkit.HMM`).

Three forms: a :class:`~emkit.families.Family` instance; a callable ``family(n_features)``
(e.g. the class ``families.Poisson``), called with the number of columns of ``X``; or a mapping
of column groups (DataFrame names or integer indices, one or a tuple per group) to either of
those, whose rows' distribution is the :class:`~emkit.families.Product` of the parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..families.base import Family
from ._dask import is_dask


def check_family_argument(family: Any) -> None:
    """ValueError naming ``family`` when it is none of the three forms."""
    if not (isinstance(family, (Family, Mapping)) or callable(family)):
        raise ValueError(f"family: expected an emkit.families.Family (e.g. families.Poisson(n_features)), a "
                         f"callable family(n_features) such as families.Poisson, or a mapping of columns to "
                         f"them, got {family!r}")


def needs_data(family: Any) -> bool:
    """Whether building ``family`` needs the number of columns of the data (a callable)."""
    return not isinstance(family, (Family, Mapping))


def built_family(family: Any, n_features: int | None) -> Family:
    """The family instance, the callable's family for ``n_features`` columns, or the product of a
    mapping's families over their column groups (each callable called with its group's width).

    Raises
    ------
    ValueError
        Naming ``family`` when a callable fails or does not give a Family (or a mapping's parts
        do not make a Product).
    """
    if isinstance(family, Mapping):
        from ..families.product import Product

        parts = []
        for columns, part in family.items():
            group = columns if isinstance(columns, tuple) else (columns,)
            parts.append((group, _built(part, len(group))))
        return Product(parts)
    return _built(family, n_features)


def n_columns(X: Any) -> int:
    """Number of columns of ``X`` (1 for a 1-D array).

    Raises
    ------
    ValueError
        Naming ``X`` when it is neither a 1-D nor a 2-D array-like.
    """
    try:
        shape = (X.shape[0], len(X.columns)) if is_dask(X) and hasattr(X, "columns") else np.shape(X)
    except ValueError:
        raise ValueError("X: expected a 2-D array (n_samples, n_features); the rows have different lengths") from None
    if len(shape) not in (1, 2):
        raise ValueError(f"X: expected a 2-D array (n_samples, n_features), got shape {shape}")
    return 1 if len(shape) == 1 else int(shape[1])


def _built(family: Any, n_features: int | None) -> Family:
    """``family`` itself when it is a :class:`Family`, else ``family(n_features)``."""
    if isinstance(family, Family):
        return family
    try:
        built = family(n_features)
    except TypeError as error:
        raise ValueError(f"family: calling {family!r} with n_features={n_features} failed ({error}); give "
                         "a Family instance, a callable family(n_features) or a mapping of columns to them") from None
    if not isinstance(built, Family):
        raise ValueError(f"family: {family!r}({n_features}) gave {type(built).__name__}, not an "
                         "emkit.families.Family")
    return built
