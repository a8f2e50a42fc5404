"""The scikit-learn estimator protocol, implemented without importing scikit-learn.

An estimator stores its constructor arguments unchanged as attributes of the same names
(validation happens in ``fit``); :meth:`EstimatorProtocol.get_params` reads them back by
inspecting ``__init__``, so ``sklearn.base.clone``, ``Pipeline`` and ``GridSearchCV`` work. Tags
are given both ways: ``__sklearn_tags__`` (scikit-learn >= 1.6; it imports scikit-learn's tag
classes lazily, since only scikit-learn calls it) and ``_more_tags`` (older versions).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..exceptions import NotFittedError
from ._sklearn_compat import bridged


class EstimatorProtocol:
    """Base class of emkit's scikit-learn compatible estimators.

    Subclasses set :attr:`_estimator_type` and :attr:`_fitted_attribute` and may override
    :meth:`_input_tags`.
    """

    #: scikit-learn's estimator type (old-style attribute), e.g. ``"DensityEstimator"``.
    _estimator_type: str | None = None
    #: Attribute that exists only after a successful ``fit``.
    _fitted_attribute: str = ""

    # --------------------------------------------------------------------- parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Names of the constructor parameters (keyword arguments of ``__init__``)."""
        signature = inspect.signature(cls.__init__)
        names = []
        for parameter in list(signature.parameters.values())[1:]:
            if parameter.kind == parameter.VAR_POSITIONAL:
                raise RuntimeError(f"{cls.__name__}: estimators must list their parameters explicitly (no *args)")
            if parameter.kind != parameter.VAR_KEYWORD:
                names.append(parameter.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their values (nested ones as ``name__sub`` if ``deep``)."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{key}", sub) for key, sub in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> "EstimatorProtocol":
        """Set constructor parameters (``name__sub`` reaches a nested estimator); returns self."""
        valid = self._get_param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {valid!r}.")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        shown = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            if not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ---------------------------------------------------------------------------- tags
    def _input_tags(self) -> dict[str, bool]:
        """Input tags that differ from scikit-learn's defaults (e.g. ``allow_nan``)."""
        return {}

    def __sklearn_tags__(self):
        """scikit-learn (>= 1.6) tags; only scikit-learn calls this, so importing it is safe."""
        from sklearn.utils import InputTags, Tags, TargetTags

        tag_type = {"DensityEstimator": "density_estimator"}.get(self._estimator_type, self._estimator_type)
        return Tags(estimator_type=tag_type, target_tags=TargetTags(required=False),
                    input_tags=InputTags(**self._input_tags()))

    def _more_tags(self) -> dict[str, Any]:
        """Tags for scikit-learn < 1.6."""
        return dict(self._input_tags())

    # ------------------------------------------------------------------------ fitting
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, self._fitted_attribute)

    def _check_is_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise bridged(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator.")


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        result = value == default
        return bool(np.all(result)) if isinstance(result, np.ndarray) else bool(result)
    except (TypeError, ValueError):
        return False
