import json
import subprocess
import sys

import pytest

from emkit.cli.main import main


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_alleles_moth_json(capsys):
    out = run_json(capsys, ["alleles", "moth", "carbonaria=85", "insularia=196", "typica=341"])
    assert set(out) >= {"params", "loglik", "n_iter", "n_evaluations", "converged"}
    assert out["params"]["C"] == pytest.approx(0.07083691, abs=1e-8)
    assert out["params"]["I"] == pytest.approx(0.18873652, abs=1e-8)
    assert out["params"]["T"] == pytest.approx(0.74042657, abs=1e-8)
    assert out["converged"] is True


def test_alleles_abo_json(capsys):
    out = run_json(capsys, ["alleles", "abo", "A=186", "B=38", "AB=13", "O=284"])
    assert out["params"]["A"] == pytest.approx(0.21359, abs=1e-5)
    assert out["params"]["O"] == pytest.approx(0.73626, abs=1e-5)


def test_linkage_json(capsys):
    out = run_json(capsys, ["linkage", "125", "18", "20", "34"])
    assert out["params"]["theta"] == pytest.approx(0.6268214980, abs=1e-9)


def test_poisson_mixture_json_with_start_and_squarem(capsys):
    out = run_json(capsys, ["poisson-mixture", "--counts", "162,267,271,185,111,61,27,8,3,1", "-k", "2",
                            "--start-weights", "0.3,0.7", "--start-rates", "1.0,2.5", "--accelerate", "squarem"])
    assert out["params"]["weights"][0] == pytest.approx(0.35988540, abs=1e-6)
    assert out["params"]["rates"] == pytest.approx([1.25609510, 2.66340436], abs=1e-6)


def test_human_output_trace_and_plot(capsys, tmp_path):
    figure = tmp_path / "moth.png"
    assert main(["alleles", "moth", "carbonaria=85", "insularia=196", "typica=341", "--trace",
                 "--plot", str(figure)]) == 0
    text = capsys.readouterr().out
    assert "0.0708369" in text and "log-likelihood" in text and "iteration" in text
    assert figure.stat().st_size > 10_000


@pytest.mark.parametrize("argv, fragment", [
    (["alleles", "moth", "melanic=3"], "unknown phenotype 'melanic'"),
    (["alleles", "abo", "A=-3", "O=2"], "count of A"),
    (["alleles", "abo", "A=2.5"], "count of A"),
    (["alleles", "abo", "A=0", "O=0"], "all counts are zero"),
    (["linkage", "125", "18", "x", "34"], "count 3"),
    (["poisson-mixture", "--counts", "1,2,3", "-k", "0"], "-k"),
    (["poisson-mixture", "--counts", "0,0,0"], "--counts"),
    (["poisson-mixture", "--counts", "1,2", "--start-weights", "1"], "--start-weights"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_console_script_runs():
    completed = subprocess.run([sys.executable, "-m", "emkit.cli.main", "linkage", "125", "18", "20", "34", "--json"],
                               capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout)["converged"] is True


def test_demo_writes_report_and_figures(tmp_path):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "Peppered moth" in report and "0.0708" in report
    assert "mclust's model grid" in report and "Selected: **" in report
    for name in ("moth_convergence.png", "moth_loglik.png"):
        assert (tmp_path / name).stat().st_size > 10_000
