"""The command line reads data files as people have them (issue 14, reading): text columns left out
(and named), any delimiter among comma, semicolon and tab, a UTF-8 byte-order mark, UTF-16,
another encoding by name, Parquet, ``--columns`` on every fitting subcommand, sequence ids and
symbols of any type; the numbers equal the API's on the same array."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli.main import main
from emkit.cli.table_input import read_batches, read_table


@pytest.fixture(scope="module")
def iris_like(tmp_path_factory):
    """Three groups of four measurements and a text column naming them, as iris.csv has."""
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    labels = np.repeat([0, 1, 2], 50)
    X = np.round(centres[labels] + 0.3 * rng.normal(size=(150, 4)), 1)
    frame = pd.DataFrame(X, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    frame["species"] = np.array(["setosa", "versicolor", "virginica"])[labels]
    folder = tmp_path_factory.mktemp("iris")
    return frame, folder


def gmm_json(capsys, *argv) -> dict:
    assert main(["gmm", *map(str, argv), "-k", "3", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_text_columns_are_left_out_and_named(iris_like, capsys):
    frame, folder = iris_like
    path = folder / "iris.csv"
    frame.to_csv(path, index=False)
    assert main(["gmm", str(path), "-k", "3", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert "species" in captured.err and "left out" in captured.err
    assert out["columns"] == list(frame.columns[:4])
    X = frame.iloc[:, :4].to_numpy()
    reference = emkit.GaussianMixture(3, random_state=0, reg_covar=1e-6 * X.var(axis=0).min()).fit(X)
    assert out["loglik"] == pytest.approx(reference.score(X) * X.shape[0], rel=1e-9)


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_the_delimiter_is_detected_or_given(iris_like, capsys, sep):
    frame, folder = iris_like
    path = folder / f"iris_{ord(sep)}.csv"
    frame.to_csv(path, index=False, sep=sep)
    detected = gmm_json(capsys, path)
    given = gmm_json(capsys, path, "--sep", sep)
    assert detected["columns"] == list(frame.columns[:4]) and detected["loglik"] == given["loglik"]


def test_byte_order_marks_and_encodings(iris_like, capsys, tmp_path):
    frame, _ = iris_like
    reference = None
    for encoding in ("utf-8-sig", "utf-16"):
        path = tmp_path / f"iris_{encoding}.csv"
        frame.to_csv(path, index=False, encoding=encoding)
        out = gmm_json(capsys, path)
        assert out["columns"][0] == "sepal_length"          # no "\ufeff" before the first name
        reference = out["loglik"] if reference is None else reference
        assert out["loglik"] == reference
    latin = frame.assign(species=frame["species"].str.replace("setosa", "sétosa"))
    path = tmp_path / "iris_latin1.csv"
    latin.to_csv(path, index=False, encoding="latin-1")
    assert main(["gmm", str(path), "-k", "3"]) == 2
    error = capsys.readouterr().err
    assert "--encoding" in error and len(error.splitlines()) == 1
    assert gmm_json(capsys, path, "--encoding", "latin-1")["loglik"] == reference


def test_parquet_files_by_extension(iris_like, capsys, tmp_path):
    pytest.importorskip("pyarrow")
    frame, folder = iris_like
    csv_path, parquet_path = tmp_path / "iris.csv", tmp_path / "iris.parquet"
    frame.to_csv(csv_path, index=False)
    frame.to_parquet(parquet_path)
    assert gmm_json(capsys, parquet_path)["loglik"] == gmm_json(capsys, csv_path)["loglik"]


def test_columns_on_every_fitting_subcommand(iris_like, capsys):
    frame, folder = iris_like
    path = folder / "iris_columns.csv"
    frame.to_csv(path, index=False)
    assert gmm_json(capsys, path, "--columns", "petal_length,petal_width")["columns"] == ["petal_length",
                                                                                         "petal_width"]
    assert main(["student", str(path), "--columns", "sepal_width", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    X = frame[["sepal_width"]].to_numpy()
    assert out["loglik"] == pytest.approx(emkit.fit_ecm(emkit.models.student_t.StudentT(), X,
                                                        variant="ecme").loglik, rel=1e-9)
    for argv, message in ((["--columns", "petal"], "--columns: no column(s) ['petal']"),
                          (["--columns", "species"], "--columns: column 'species' holds no numbers")):
        assert main(["gmm", str(path), "-k", "2", *argv]) == 2
        assert message in capsys.readouterr().err


def test_a_stray_word_in_a_column_of_numbers_names_its_line(tmp_path, capsys):
    path = tmp_path / "typo.csv"
    path.write_text("a,b\n1,2\n3,4\n5,x\n6,7\n")
    assert main(["gmm", str(path), "-k", "1"]) == 2
    assert "column 'b' is not numeric" in capsys.readouterr().err
    assert read_table(str(path)).numeric("a")[1].ravel().tolist() == [1, 3, 5, 6]


def returns_file(tmp_path, assets=("AAA", "BBB")):
    """Daily log returns with a date column and an asset column, two regimes of volatility."""
    rng = np.random.default_rng(1)
    rows = []
    for asset in assets:
        regime = np.repeat([0, 1, 0], 100)
        values = rng.normal(size=300) * np.where(regime == 1, 0.03, 0.01)
        dates = pd.date_range("2024-01-01", periods=300, freq="D")
        rows.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "asset": asset, "logret": values}))
    frame = pd.concat(rows, ignore_index=True)
    path = tmp_path / "returns.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_hmm_with_a_date_column_and_named_sequences(tmp_path, capsys):
    frame, path = returns_file(tmp_path)
    assert main(["hmm", str(path), "-k", "2", "--columns", "logret", "--sequence", "asset", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lengths"] == [300, 300] and out["columns"] == ["logret"]
    X = frame[["logret"]].to_numpy()
    family = emkit.families.Gaussian(X.shape[1], "diag", 1e-6 * X.var(axis=0).min())
    reference = emkit.HMM(2, family=family, random_state=0).fit(X, [300, 300])
    assert out["loglik"] == pytest.approx(reference.score(X, [300, 300]), rel=1e-9)
    # without --columns: the date and asset columns are named as left out
    assert main(["hmm", str(path), "-k", "2", "--sequence", "asset"]) == 0
    assert "date" in capsys.readouterr().err


def test_categorical_symbols_of_any_type(tmp_path, capsys):
    rng = np.random.default_rng(2)
    words = np.where(rng.random(400) < 0.5, "heads", "tails")
    path = tmp_path / "coins.csv"
    pd.DataFrame({"toss": words}).to_csv(path, index=False)
    assert main(["hmm", str(path), "-k", "2", "--categorical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["symbols"] == ["heads", "tails"]


def test_read_batches_names_the_chosen_columns(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("label;x;y\na;1;2\nb;3;4\nc;5;6\n")
    batches = list(read_batches(str(path), 2))
    np.testing.assert_array_equal(np.vstack(batches), [[1, 2], [3, 4], [5, 6]])
