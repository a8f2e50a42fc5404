"""emkit's warnings and errors that are also scikit-learn's, when scikit-learn is in use.

scikit-learn is not a runtime dependency (and costs a second to import), so nothing here imports
it unless it is already imported. Then :func:`bridged` returns a subclass of both emkit's class
and scikit-learn's class of the same name (``ConvergenceWarning``, ``NotFittedError``), so code
that filters or catches either keeps working. The subclasses are module attributes
(``Bridged<Name>``, created on demand) so that they pickle.
"""

from __future__ import annotations

import importlib
import sys

_PREFIX = "Bridged"
_CACHE: dict[str, type] = {}


def bridged(base: type) -> type:
    """``base``, or a subclass of ``base`` and ``sklearn.exceptions.<base.__name__>`` if
    scikit-learn is already imported."""
    if "sklearn" not in sys.modules:
        return base
    sklearn_exceptions = importlib.import_module("sklearn.exceptions")
    if not hasattr(sklearn_exceptions, base.__name__):
        return base
    name = _PREFIX + base.__name__
    if name not in _CACHE:
        cls = type(name, (base, getattr(sklearn_exceptions, base.__name__)),
                   {"__module__": __name__, "__doc__": base.__doc__, "_emkit_base": base})
        _CACHE[name] = cls
    return _CACHE[name]


def __getattr__(name: str) -> type:
    """Recreate a bridged class by name (used when unpickling)."""
    if name.startswith(_PREFIX):
        base = _known_bases().get(name[len(_PREFIX):])
        if base is not None:
            importlib.import_module("sklearn")
            return bridged(base)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _known_bases() -> dict[str, type]:
    from ..exceptions import ConvergenceWarning, NotFittedError

    return {"ConvergenceWarning": ConvergenceWarning, "NotFittedError": NotFittedError}
