"""``emkit student``: the t and the t mixture from a CSV file (ECM, ECME, online over batches)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from emkit import standard_errors
from emkit.cli.main import main
from emkit.cli.table_input import read_batches
from emkit.models.student_t import StudentT
from emkit.variants.ecm import fit_ecm


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = stats.multivariate_t(loc=[1.0, -1.0], shape=[[1.0, 0.2], [0.2, 0.5]], df=4).rvs(120, random_state=rng)
    path = tmp_path_factory.mktemp("student") / "data.csv"
    np.savetxt(path, X, delimiter=",", header="x,y", comments="")
    return path, X


def test_ecme_json_equals_the_library(capsys, csv_file):
    path, X = csv_file
    assert main(["student", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    reference = fit_ecm(StudentT(), X, variant="ecme")
    assert out["loglik"] == pytest.approx(reference.loglik, rel=1e-12)
    assert out["params"]["dof"] == pytest.approx(float(reference.params["dof"]), rel=1e-9)


@pytest.mark.parametrize("method, options", [("hessian", []), ("bootstrap", ["--n-boot", "30", "--accelerate", "squarem"])])
def test_standard_errors_of_one_t_equal_the_library(capsys, csv_file, method, options):
    """``--se hessian`` failed on 2-D data ("no information along scatter[0,1]") and ``--se bootstrap``
    said "not implemented" (issue 13, item 5): both now give the library's standard errors."""
    path, X = csv_file
    assert main(["student", str(path), "--se", method, "--seed", "3", "--json"] + options) == 0
    out = json.loads(capsys.readouterr().out)
    result = fit_ecm(StudentT(), X, variant="ecme", random_state=3,
                     accelerate="squarem" if "--accelerate" in options else None)
    reference = standard_errors(result, X, method, n_boot=30, random_state=3)
    assert out["se_method"] == method
    assert out["cov"]["labels"] == ["location[0]", "location[1]", "scatter[0,0]", "scatter[1,0]", "scatter[1,1]", "dof"]
    for name in ("location", "scatter", "dof"):
        np.testing.assert_allclose(out["se"][name], reference.se[name], rtol=1e-12)
    assert np.all(np.asarray(out["se"]["scatter"]) > 0) and out["se"]["scatter"][0][1] == out["se"]["scatter"][1][0]


def test_mixture_and_online_run(capsys, csv_file, tmp_path):
    path, _ = csv_file
    assert main(["student", str(path), "-k", "2", "--method", "ecm", "--covariance", "diag", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["params"]["weights"]) == 2 and out["converged"] is True
    figure = tmp_path / "online.png"
    assert main(["student", str(path), "--method", "online", "--batch-size", "25", "--json",
                 "--plot", str(figure)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["online"]["n_batches"] == 5 and out["online"]["n_observations"] == 120
    assert figure.stat().st_size > 0


def test_louis_and_sem_of_a_mixture_agree_with_the_hessian(capsys, tmp_path):
    """``--se louis`` and ``--se sem`` for a t mixture (refused while the t family gave no
    complete-data scores) agree with ``--se hessian`` on the same fit."""
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.standard_t(5, (150, 2)), rng.standard_t(5, (150, 2)) + 5.0])
    path = tmp_path / "two.csv"
    np.savetxt(path, X, delimiter=",", header="x,y", comments="")
    errors = {}
    for method in ("hessian", "louis", "sem"):
        assert main(["student", str(path), "-k", "2", "--covariance", "diag", "--se", method, "--reg-covar", "0",
                     "--tol", "1e-12", "--json"]) == 0
        errors[method] = json.loads(capsys.readouterr().out)["se"]
    for method in ("louis", "sem"):
        for name, values in errors["hessian"].items():
            np.testing.assert_allclose(errors[method][name], values, rtol=1e-3, err_msg=f"{method} {name}")


def test_read_batches_is_lazy_and_names_bad_lines(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4\n5,x\n")
    batches = read_batches(str(path), 2)
    np.testing.assert_array_equal(next(batches), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="line 4"):
        next(batches)


@pytest.mark.parametrize("argv, message", [(["-k", "0"], "-k"), (["--dof", "0"], "--dof"),
                                           (["--method", "online", "--se", "hessian"], "--se")])
def test_bad_options_are_named(capsys, csv_file, argv, message):
    path, _ = csv_file
    assert main(["student", str(path)] + argv) == 2
    assert message in capsys.readouterr().err
