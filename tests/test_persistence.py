"""Loading saved estimators checks everything ``fit`` would: a damaged or tampered file is a
ValueError naming the file and the field, never another exception, and never a silent load."""

from __future__ import annotations

import io
import json
import math
import re
import warnings
import zipfile

import numpy as np
import pytest

import emkit


def gaussian_rows(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 4.0])


def symbols(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, size=(80, 1))


#: (estimator, data, stored name of the probability vector and of an array the checks see
#: finite, and how the messages call them)
ESTIMATORS = {
    "GaussianMixture": (lambda: emkit.GaussianMixture(2, random_state=0), gaussian_rows,
                        "weights_", r"arrays\['weights'\]", "means_", r"arrays\['means'\]"),
    "StudentMixture": (lambda: emkit.StudentMixture(2, random_state=0), gaussian_rows,
                       "weights_", r"arrays\['weights'\]", "means_", r"arrays\['locations'\]"),
    "GaussianHMM": (lambda: emkit.GaussianHMM(2, random_state=0), gaussian_rows,
                    "startprob_", "arrays: startprob", "means_", "arrays: means"),
    "CategoricalHMM": (lambda: emkit.CategoricalHMM(2, random_state=0), symbols,
                       "startprob_", "arrays: startprob", "emissionprob_", "arrays: emissionprob"),
}


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the small fits
        return {name: (make().fit(data()), data()) for name, (make, data, *_) in ESTIMATORS.items()}


def saved_json(estimator, tmp_path) -> tuple[dict, "Path"]:  # noqa: F821
    path = estimator.save(tmp_path / "model.json")
    return json.loads(path.read_text()), path


def rewrite(path, header) -> None:
    path.write_text(json.dumps(header) if not isinstance(header, str) else header)


def raises_naming(path, field: str):
    """pytest.raises(ValueError) whose message names the file, then the field."""
    return pytest.raises(ValueError, match=re.escape(str(path)) + r".*" + field)


# -------------------------------------------------------------- damaged JSON (any estimator)
def _set(header, keys, value):
    target = header
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return header


def _drop(header, keys):
    target = header
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return header


#: (id, corruption of the saved JSON (header -> header or text), field named in the error).
#: On main these raised AttributeError, KeyError, TypeError or RecursionError, or loaded.
JSON_CORRUPTIONS = [
    ("a JSON list", lambda h: [1, 2, 3], "not a saved emkit estimator"),
    ("a JSON string", lambda h: '"emkit"', "not a saved emkit estimator"),
    ("config is a list", lambda h: _set(h, ["config"], [1]), "config"),
    ("fitted is missing", lambda h: _drop(h, ["config", "fitted"]), "config.fitted"),
    ("fitted scalar missing", lambda h: _drop(h, ["config", "fitted", "n_iter_"]), "config.fitted.n_iter_"),
    ("fitted scalar of the wrong type", lambda h: _set(h, ["config", "fitted", "n_iter_"], "many"),
     "config.fitted.n_iter_"),
    ("an array is missing", lambda h: _drop(h, ["arrays", "means_"]), "arrays.*means_"),
    ("an unknown array", lambda h: _set(h, ["arrays", "extra_"], [1.0]), "arrays.*extra_"),
    ("arrays is a list", lambda h: _set(h, ["arrays"], [1.0]), "arrays"),
    ("a ragged array", lambda h: _set(h, ["arrays", "means_"], [[1.0], [1.0, 2.0]]), "arrays.means_"),
    ("text in an array", lambda h: _set(h, ["arrays", "means_"], [["a", "b"]]), "arrays.means_"),
    ("an unknown constructor argument", lambda h: _set(h, ["config", "banana"], 1), "config.*banana"),
    ("n_components out of domain", lambda h: _set(h, ["config", "n_components"], -1), "config.n_components"),
    ("n_components a string", lambda h: _set(h, ["config", "n_components"], "2"), "config.n_components"),
    ("tol negative", lambda h: _set(h, ["config", "tol"], -1.0), "config.tol"),
    ("random_state text", lambda h: _set(h, ["config", "random_state"], "a"), "config.random_state"),
    ("deep nesting", lambda h: '{"format": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ("deep nesting in config", lambda h: json.dumps(h)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "nested too deeply"),
    ("not JSON", lambda h: "{'format': 1", "invalid JSON"),
]


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("corruption, field", [(c, f) for _, c, f in JSON_CORRUPTIONS],
                         ids=[i for i, _, _ in JSON_CORRUPTIONS])
def test_a_damaged_json_file_is_a_value_error_naming_file_and_field(fitted, tmp_path, name, corruption, field):
    header, path = saved_json(fitted[name][0], tmp_path)
    if name == "CategoricalHMM" and "means_" in field:
        field = field.replace("means_", "emissionprob_")
        corruption = _renamed(corruption)
    rewrite(path, corruption(header))
    with raises_naming(path, field):
        type(fitted[name][0]).load(path)


def _renamed(corruption):
    """The same corruption applied to ``emissionprob_`` where it names ``means_``."""
    def renamed(header):
        arrays = header["arrays"]
        arrays["means_"] = arrays.pop("emissionprob_")
        out = corruption(header)
        if isinstance(out, dict) and "means_" in out.get("arrays", {}):
            out["arrays"]["emissionprob_"] = out["arrays"].pop("means_")
        return out
    return renamed


# ------------------------------------------------- values that fit would reject (per estimator)
def _sum_to(header, array_name, total):
    header["arrays"][array_name] = [total / 2, total / 2]
    return header


def _nan_first(header, array_name):
    values = np.array(header["arrays"][array_name], dtype=float)
    values.flat[0] = np.nan
    header["arrays"][array_name] = values.tolist()
    return header


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("tamper", ["weights sum to 1.8", "NaN location", "n_components=5", "negative weight"])
def test_values_fit_would_reject_do_not_load(fitted, tmp_path, name, tamper):
    _, _, probabilities, probabilities_field, location, location_field = ESTIMATORS[name]
    header, path = saved_json(fitted[name][0], tmp_path)
    if tamper == "weights sum to 1.8":
        header, field = _sum_to(header, probabilities, 1.8), probabilities_field
    elif tamper == "negative weight":
        header["arrays"][probabilities] = [1.5, -0.5]
        field = probabilities_field
    elif tamper == "NaN location":
        header, field = _nan_first(header, location), location_field
    else:
        header["config"]["n_components"] = 5
        field = "arrays"
    path.write_text(json.dumps(header))  # NaN written as JSON's NaN literal
    with raises_naming(path, field):
        type(fitted[name][0]).load(path)


def test_mixture_specific_fields(fitted, tmp_path):
    estimator, X = fitted["GaussianMixture"]
    header, path = saved_json(estimator, tmp_path)
    header["config"]["fitted"]["n_features_in_"] = 3
    rewrite(path, header)
    with raises_naming(path, "means_.*n_features_in_ = 3"):
        emkit.GaussianMixture.load(path)
    header, path = saved_json(estimator, tmp_path)
    header["config"]["fitted"]["feature_names_in_"] = ["a"]
    rewrite(path, header)
    with raises_naming(path, "feature_names_in_"):
        emkit.GaussianMixture.load(path)
    header, path = saved_json(estimator, tmp_path)
    header["arrays"]["covariances_"][0] = [[1.0, 2.0], [2.0, 1.0]]  # not positive-definite
    rewrite(path, header)
    with raises_naming(path, r"arrays\['covariances'\]"):
        emkit.GaussianMixture.load(path)
    header, path = saved_json(estimator, tmp_path)
    header["config"]["weights_init"] = [0.5, 0.6]  # fit checks *_init too
    rewrite(path, header)
    with raises_naming(path, "config.weights_init"):
        emkit.GaussianMixture.load(path)
    header, path = saved_json(estimator, tmp_path)
    header["config"]["frozen"] = 3
    rewrite(path, header)
    with raises_naming(path, "config.frozen"):
        emkit.GaussianMixture.load(path)
    student, _ = fitted["StudentMixture"]
    header, path = saved_json(student, tmp_path)
    header["arrays"]["dofs_"] = [0.0, 5.0]
    rewrite(path, header)
    with raises_naming(path, r"arrays\['dofs'\]"):
        emkit.StudentMixture.load(path)


@pytest.mark.parametrize("prior, field", [(-5.0, "config.covariance_prior"),
                                           ([[1.0, 2.0], [2.0, 1.0]], "config.covariance_prior"),
                                           (0.5, "config.weight_concentration_prior")])
def test_priors_are_checked_as_fit_checks_them(tmp_path, prior, field):
    """A covariance prior that is not positive definite, a Dirichlet concentration below 1: the
    ValueError names the file and the field (fit would refuse them)."""
    estimator = emkit.GaussianMixture(2, covariance_prior=0.1, random_state=0).fit(gaussian_rows())
    header, path = saved_json(estimator, tmp_path)
    key = field.split(".")[1]
    header["config"][key] = prior
    rewrite(path, header)
    with raises_naming(path, field):
        emkit.GaussianMixture.load(path)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_float32_fits_round_trip(tmp_path, suffix, covariance_type):
    """A float32 fit keeps float32 attributes through save and load, and scores as fitted (from
    the float64 parameters behind the rounded attributes)."""
    X = gaussian_rows().astype(np.float32)
    estimator = emkit.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    path = estimator.save(tmp_path / f"m{suffix}")
    loaded = emkit.GaussianMixture.load(path)
    assert loaded.means_.dtype == np.float32
    np.testing.assert_array_equal(loaded.score_samples(X), estimator.score_samples(X))


def test_float32_attributes_do_not_change_the_fitted_model():
    """Covariances rounded to float32 can be far from the fit's (here a nearly singular one): the
    estimator scores with what it fitted, so its score equals its lower bound."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=2000) * 1000
    X = np.c_[t, t + 0.01 * rng.normal(size=2000)].astype(np.float32)
    estimator = emkit.GaussianMixture(1, random_state=0).fit(X)
    assert estimator.score(X) == pytest.approx(estimator.lower_bound_, rel=1e-6)
    estimator.means_ = estimator.means_ + np.float32(1.0)   # a changed attribute is the model again
    assert estimator.score(X) < estimator.lower_bound_ - 1.0


def test_edited_float32_attributes_and_old_float32_files(tmp_path):
    """float32 weights sum to one only within float32 rounding: a warm start after editing an
    attribute, saving it, and a file written before the ``dtype`` field all still work."""
    X = gaussian_rows().astype(np.float32)
    estimator = emkit.GaussianMixture(3, random_state=0).fit(X)
    estimator.means_ = estimator.means_ + np.float32(0.1)
    loaded = emkit.GaussianMixture.load(estimator.save(tmp_path / "edited.npz"))
    np.testing.assert_array_equal(loaded.means_, estimator.means_)
    estimator.warm_start = True
    estimator.fit(X)
    header, path = saved_json(emkit.GaussianMixture(3, random_state=0).fit(X), tmp_path)
    del header["config"]["fitted"]["dtype"]
    header["arrays"]["weights_"] = np.float32(header["arrays"]["weights_"]).astype(float).tolist()
    rewrite(path, header)
    assert emkit.GaussianMixture.load(path).weights_.sum() == pytest.approx(1.0, abs=1e-12)


def test_hmm_specific_fields(fitted, tmp_path):
    estimator, _ = fitted["CategoricalHMM"]
    header, path = saved_json(estimator, tmp_path)
    header["config"]["n_features"] = 7
    rewrite(path, header)
    with raises_naming(path, "n_features"):
        emkit.CategoricalHMM.load(path)
    header, path = saved_json(estimator, tmp_path)
    header["config"]["transmat_prior"] = 0.5  # Dirichlet concentrations must be >= 1
    rewrite(path, header)
    with raises_naming(path, "transmat_prior"):
        emkit.CategoricalHMM.load(path)
    header, path = saved_json(estimator, tmp_path)
    header["arrays"]["transmat_"] = [[0.5, 0.5], [0.9, 0.9]]
    rewrite(path, header)
    with raises_naming(path, "transmat"):
        emkit.CategoricalHMM.load(path)
    gaussian, _ = fitted["GaussianHMM"]
    header, path = saved_json(gaussian, tmp_path)
    header["config"]["params"] = ["means"]
    rewrite(path, header)
    with raises_naming(path, "config.params"):
        emkit.GaussianHMM.load(path)


# ------------------------------------------------------------------------------ .npz files
def npz_members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_npz(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def forged_npy(shape, descr="<f8", data: bytes = b"\0" * 16) -> bytes:
    """An .npy member whose header claims ``shape`` but which holds only ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_npz_header_claiming_1e12_elements_is_refused_before_reading(fitted, tmp_path, name):
    """On main NumPy allocated the claimed 8 TB first: MemoryError."""
    path = fitted[name][0].save(tmp_path / "model.npz")
    members = npz_members(path)
    members["means_.npy" if "means_.npy" in members else "emissionprob_.npy"] = forged_npy((10**6, 10**6))
    write_npz(path, members)
    with raises_naming(path, r"claims shape \(1000000, 1000000\)"):
        type(fitted[name][0]).load(path)
    assert math.prod((10**6, 10**6)) * 8 > path.stat().st_size


@pytest.mark.parametrize("member, content, field", [
    ("means_.npy", forged_npy((2, 2), descr="|O"), "objects are never loaded"),
    ("means_.npy", npy(np.array([["a", "b"], ["c", "d"]])), "means_: expected real numbers"),
    ("means_.npy", npy(np.ones((2, 2), dtype=complex)), "means_: expected real numbers"),
    ("means_.npy", b"not an array", "member 'means_.npy' is not a valid .npy"),
    ("notes.txt", b"hello", "member 'notes.txt' is not a .npy array"),
    ("__header__.npy", npy(np.array("[" * 100_000 + "]" * 100_000)), "nested too deeply"),
    ("__header__.npy", npy(np.array(["a", "b"])), "__header__: expected one string"),
    ("__header__.npy", npy(np.array("[1, 2]")), "not a saved emkit estimator"),
    ("__header__.npy", npy(np.array("{not json")), "__header__: invalid JSON"),
])
def test_a_damaged_npz_member_is_a_value_error_naming_file_and_field(fitted, tmp_path, member, content, field):
    estimator, X = fitted["GaussianMixture"]
    path = estimator.save(tmp_path / "model.npz")
    members = npz_members(path)
    members[member] = content
    write_npz(path, members)
    with raises_naming(path, re.escape(field)):
        emkit.GaussianMixture.load(path)


def test_npz_that_is_not_an_archive_or_lacks_a_header(fitted, tmp_path):
    estimator, _ = fitted["GaussianMixture"]
    path = tmp_path / "model.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    with raises_naming(path, "not a readable .npz archive"):
        emkit.GaussianMixture.load(path)
    path = estimator.save(tmp_path / "model.npz")
    members = npz_members(path)
    del members["__header__.npy"]
    write_npz(path, members)
    with raises_naming(path, "no __header__"):
        emkit.GaussianMixture.load(path)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_npz_values_fit_would_reject_do_not_load(fitted, tmp_path, name):
    _, _, probabilities, probabilities_field, _, _ = ESTIMATORS[name]
    path = fitted[name][0].save(tmp_path / "model.npz")
    members = npz_members(path)
    members[f"{probabilities}.npy"] = npy(np.array([0.9, 0.9]))
    write_npz(path, members, zipfile.ZIP_DEFLATED)
    with raises_naming(path, probabilities_field):
        type(fitted[name][0]).load(path)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_round_trip_still_loads(fitted, tmp_path, name, suffix):
    estimator, X = fitted[name]
    loaded = type(estimator).load(estimator.save(tmp_path / f"model{suffix}"))
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    assert loaded.get_params() == estimator.get_params()
