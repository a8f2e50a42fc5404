"""Saving fitted estimators as JSON or ``.npz`` (never pickle).

A saved state is a ``kind`` (the estimator class), a JSON-ready ``config`` (constructor
parameters and scalar results) and named float arrays. JSON stores arrays as nested lists
(Python's float repr round-trips exactly); ``.npz`` stores them as arrays and the rest as one JSON
string, and is read back with ``allow_pickle=False``.
"""

from __future__ import annotations

import inspect
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..kernels.covariance_regularization import CovariancePrior

FORMAT = "emkit-estimator"
VERSION = 1


def save_state(path: str | Path, kind: str, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``(kind, config, arrays)`` to ``path`` (``.npz`` by suffix, JSON otherwise)."""
    path = Path(path)
    header = {"format": FORMAT, "version": VERSION, "kind": kind, "config": config}
    if path.suffix == ".npz":
        np.savez(path, __header__=np.array(json.dumps(header)),
                 **{name: np.asarray(value, dtype=float) for name, value in arrays.items()})
    else:
        header["arrays"] = {name: np.asarray(value, dtype=float).tolist() for name, value in arrays.items()}
        path.write_text(json.dumps(header, indent=1, allow_nan=False))
    return path


def load_state(path: str | Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a state written by :func:`save_state`; returns ``(config, arrays)``.

    Only the structure is checked here (a JSON object of the right format, version and kind, a
    ``config`` object, float arrays of sizes the file can hold); the estimator's ``load`` checks the
    values as ``fit`` would.

    Raises
    ------
    ValueError
        When the file is not an emkit state of this ``kind`` or version, or is damaged; the
        message names the file and the field.
    """
    path = Path(path)
    try:
        header, arrays = _read_npz(path) if path.suffix == ".npz" else _read_json(path)
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a saved emkit estimator") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"{path}: not a saved emkit estimator (format {FORMAT} version {VERSION})")
    if header.get("kind") != kind:
        raise ValueError(f"{path}: holds a {header.get('kind')}, not a {kind}")
    config = header.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config: expected an object, got {_shown(config)}")
    return config, arrays


def constructor_arguments(config: dict[str, Any], estimator_class: type, path: Path) -> dict[str, Any]:
    """The constructor arguments in ``config`` (all but ``fitted``); an unknown name is an error
    and a missing one takes its default."""
    names = estimator_class._get_param_names()
    unknown = sorted(set(config) - set(names) - {"fitted"})
    if unknown:
        raise ValueError(f"{path}: config: unknown constructor argument(s) {unknown} of "
                         f"{estimator_class.__name__}")
    return {name: config[name] for name in names if name in config}


def name_tuple(value: Any, field: str, path: Path) -> tuple[str, ...] | None:
    """A stored list of names (``frozen``, ``learn``, ``init``) as the tuple the constructor takes."""
    if value is None:
        return None
    if not (isinstance(value, list) and all(isinstance(name, str) for name in value)):
        raise ValueError(f"{path}: config.{field}: expected a list of names, got {_shown(value)}")
    return tuple(value)


#: Checks of the stored fitted scalars: (test, description) by kind.
_FITTED_KINDS = {
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a non-negative integer"),
    "positive": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a positive integer"),
    "number": (lambda v: _is_number(v), "a number"),
    "numbers": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "names": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "float_dtype": (lambda v: v in ("float32", "float64"), '"float32" or "float64"'),
}


def fitted_values(config: dict[str, Any], kinds: dict[str, str], path: Path) -> dict[str, Any]:
    """The ``config["fitted"]`` values, each checked against its kind (a name of
    :data:`_FITTED_KINDS`; a trailing ``"?"`` also allows None)."""
    if "fitted" not in config:
        raise ValueError(f"{path}: config.fitted: missing")
    fitted = config["fitted"]
    if not isinstance(fitted, dict):
        raise ValueError(f"{path}: config.fitted: expected an object, got {_shown(fitted)}")
    out = {}
    for name, kind in kinds.items():
        if name not in fitted:
            raise ValueError(f"{path}: config.fitted.{name}: missing")
        value, optional = fitted[name], kind.endswith("?")
        test, description = _FITTED_KINDS[kind.rstrip("?")]
        if not ((optional and value is None) or test(value)):
            raise ValueError(f"{path}: config.fitted.{name}: expected {description}"
                             f"{' or null' if optional else ''}, got {_shown(value)}")
        out[name] = value
    unknown = sorted(set(fitted) - set(kinds))
    if unknown:
        raise ValueError(f"{path}: config.fitted: unknown field(s) {unknown}")
    return out


def named_arrays(arrays: dict[str, np.ndarray], names: list[str], path: Path) -> dict[str, np.ndarray]:
    """``arrays`` when they are exactly ``names`` (ValueError naming the missing or extra ones)."""
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ValueError(f"{path}: arrays: missing array(s) {missing}")
    extra = sorted(set(arrays) - set(names))
    if extra:
        raise ValueError(f"{path}: arrays: unknown array(s) {extra}")
    return {name: arrays[name] for name in names}


# ------------------------------------------------------------------------------- families
def _family_classes() -> dict[str, type]:
    """The families a file may name: emkit's (:mod:`emkit.families`), by class name."""
    from .. import families

    return {name: getattr(families, name) for name in families.EXPORTS}


def family_record(family: Any, field: str = "family") -> dict[str, Any]:
    """A JSON record of one of emkit's families: ``{"name": class name, "arguments": {...}}``
    with its constructor arguments (those its ``repr`` shows); a :class:`~emkit.families.Product`
    records ``parts`` as ``[[columns, record], ...]``.

    Raises
    ------
    ValueError
        Naming ``field`` when the family is not one of emkit's (a user's own class cannot be
        rebuilt from a file) or an argument is not numbers, names or families.
    """
    name = type(family).__name__
    if _family_classes().get(name) is not type(family):
        raise ValueError(f"{field}: {name} is not one of emkit's families ({', '.join(sorted(_family_classes()))}); "
                         "only those can be saved and rebuilt by load")
    if name == "Product":
        return {"name": name, "arguments": {"parts": [[list(part.columns), family_record(part.family, field)]
                                                      for part in family.parts]}}
    arguments = {}
    for argument in inspect.signature(type(family).__init__).parameters:
        if argument == "self":
            continue
        if not hasattr(family, argument):
            raise ValueError(f"{field}: {name} does not keep its argument {argument!r}; it cannot be saved")
        arguments[argument] = _argument_record(getattr(family, argument), f"{field}.{argument}")
    return {"name": name, "arguments": arguments}


def _argument_record(value: Any, field: str) -> Any:
    """A family's constructor argument as JSON: numbers, strings, None, (nested) lists, arrays as
    lists, families as ``{"family": record}`` and a covariance prior as
    ``{"covariance_prior": {"scale": ..., "dof": ...}}`` (with ``mean``, ``mean_weight`` and
    ``proper`` when they are not the defaults)."""
    from ..families.base import Family

    if isinstance(value, Family):
        return {"family": family_record(value, field)}
    if isinstance(value, CovariancePrior):
        record = {"scale": _argument_record(value.scale, field), "dof": _argument_record(value.dof, field)}
        if not (np.all(np.asarray(value.mean_weight) == 0) and value.proper):
            record.update(mean=_argument_record(np.asarray(value.mean, dtype=float), field),
                          mean_weight=_argument_record(np.asarray(value.mean_weight, dtype=float), field),
                          proper=bool(value.proper))
        return {"covariance_prior": record}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_argument_record(item, field) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{field}: a {type(value).__name__} cannot be saved")


def family_from_record(record: Any, field: str, path: Path) -> Any:
    """The family a :func:`family_record` describes (its constructor checks the arguments).

    Raises
    ------
    ValueError
        Naming the file and ``field`` when the record is not an object with a known ``name`` and
        an ``arguments`` object, or the family's constructor refuses an argument.
    """
    if not (isinstance(record, dict) and set(record) == {"name", "arguments"}
            and isinstance(record["arguments"], dict)):
        raise ValueError(f"{path}: {field}: expected an object {{\"name\": ..., \"arguments\": {{...}}}}, "
                         f"got {_shown(record)}")
    classes = _family_classes()
    name, arguments = record["name"], dict(record["arguments"])
    if not isinstance(name, str) or name not in classes:
        raise ValueError(f"{path}: {field}.name: unknown family {_shown(name)}; expected one of {sorted(classes)}")
    if name == "Product":
        parts = arguments.get("parts")
        if set(arguments) != {"parts"} or not (isinstance(parts, list) and all(
                isinstance(part, list) and len(part) == 2 for part in parts)):
            raise ValueError(f"{path}: {field}.arguments.parts: expected a list of [columns, family] pairs, got "
                             f"{_shown(parts)}")
        arguments["parts"] = [(columns, family_from_record(part, f"{field}.parts[{index}]", path))
                              for index, (columns, part) in enumerate(parts)]
    else:
        arguments = {key: _argument_value(value, f"{field}.arguments.{key}", path) for key, value in arguments.items()}
    try:
        return classes[name](**arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {field}: {name}: {error}") from None


def _argument_value(value: Any, field: str, path: Path) -> Any:
    """Inverse of :func:`_argument_record` (lists stay lists)."""
    if isinstance(value, dict):
        if set(value) == {"covariance_prior"} and isinstance(value["covariance_prior"], dict) and set(
                value["covariance_prior"]) in ({"scale", "dof"}, {"scale", "dof", "mean", "mean_weight", "proper"}):
            prior = {key: np.asarray(item, dtype=float) if isinstance(item, list) else item
                     for key, item in value["covariance_prior"].items()}   # the family's constructor checks it
            return CovariancePrior(**prior)
        if set(value) != {"family"}:
            raise ValueError(f"{path}: {field}: expected a number, a list, {{\"family\": ...}} or "
                             f"{{\"covariance_prior\": {{\"scale\": ..., \"dof\": ...}}}}, got {_shown(value)}")
        return family_from_record(value["family"], field, path)
    if isinstance(value, list):
        return [_argument_value(item, field, path) for item in value]
    return value


# ------------------------------------------------------------------------------- reading
def _read_json(path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    try:
        header = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a saved emkit estimator (not a text file)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a saved emkit estimator (invalid JSON: {error})") from None
    if not isinstance(header, dict):
        return header, {}
    stored = header.get("arrays", {})
    if not isinstance(stored, dict):
        raise ValueError(f"{path}: arrays: expected an object, got {_shown(stored)}")
    arrays = {}
    for name, value in stored.items():
        try:
            arrays[name] = np.array(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: arrays.{name}: expected a (nested) list of numbers of a "
                             f"rectangular shape") from None
    return header, arrays


#: Largest ratio of uncompressed to compressed size that deflate can reach (about 1032).
_MAX_COMPRESSION_RATIO = 1100


def _read_npz(path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """Header and arrays of an ``.npz`` state. Each member's ``.npy`` header (shape and dtype) is
    checked before its data is read: plain numbers only, and no more bytes than the archive can
    hold (a forged shape would otherwise make NumPy allocate it)."""
    _check_npz_members(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            if "__header__" not in stored.files:
                raise ValueError(f"{path}: not a saved emkit estimator (no __header__)")
            text = stored["__header__"]
            arrays = {name: stored[name] for name in stored.files if name != "__header__"}
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz archive ({error})") from None
    if text.dtype.kind != "U" or text.shape != ():
        raise ValueError(f"{path}: __header__: expected one string, got a {text.dtype} array of shape "
                         f"{text.shape}")
    try:
        header = json.loads(str(text))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: __header__: invalid JSON ({error})") from None
    out = {}
    for name, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{path}: {name}: expected real numbers, got dtype {value.dtype}")
        out[name] = value.astype(float)
    return header, out


def _check_npz_members(path: Path) -> None:
    file_size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename
                if not name.endswith(".npy"):
                    raise ValueError(f"{path}: member {name!r} is not a .npy array")
                limit = info.file_size
                if info.file_size > _MAX_COMPRESSION_RATIO * file_size or (
                        info.compress_type == zipfile.ZIP_STORED and info.file_size > file_size):
                    raise ValueError(f"{path}: member {name!r} claims {info.file_size} bytes, more than the "
                                     f"archive of {file_size} bytes can hold")
                with archive.open(info) as member:
                    shape, dtype = _npy_header(member, path, name)
                needed = math.prod(shape) * dtype.itemsize
                if needed > limit:
                    raise ValueError(f"{path}: {name[:-4]}: its header claims shape {shape} of {dtype} "
                                     f"({needed} bytes), more than the {limit} bytes stored")
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as error:
        raise ValueError(f"{path}: not a readable .npz archive ({error})") from None


def _npy_header(member, path: Path, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` member's header (read without its data)."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ValueError as error:
        raise ValueError(f"{path}: member {name!r} is not a valid .npy array ({error})") from None
    if dtype.hasobject:
        raise ValueError(f"{path}: {name[:-4]}: objects are never loaded (dtype {dtype})")
    return tuple(shape), dtype


def _is_number(value: Any) -> bool:
    """A real number that is not NaN (±inf allowed: a fit with ``max_iter=0`` has −inf bounds)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _shown(value: Any) -> str:
    """``value`` for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
