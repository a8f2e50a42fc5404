"""``--se`` on the command line, the simplex figure and the moth demo section."""

import json

import numpy as np
import pytest

import emkit
from emkit import datasets
from emkit.cli.main import main
from emkit.demo import moth
from emkit.models.gene_counting import peppered_moth
from emkit.plotting.simplex import simplex_figure

MOTH_ARGS = ["alleles", "moth", "carbonaria=85", "insularia=196", "typica=341"]


def run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_linkage_se_json(capsys):
    out = run_json(capsys, ["linkage", "125", "18", "20", "34", "--se", "louis"])
    theta = out["params"]["theta"]
    information = 125 / (2 + theta) ** 2 + 38 / (1 - theta) ** 2 + 34 / theta**2
    assert out["se"]["theta"] == pytest.approx(1 / np.sqrt(information), rel=1e-6)
    assert out["cov"] == {"labels": ["theta"], "matrix": [[pytest.approx(1 / information, rel=1e-6)]]}
    assert out["se_method"] == "louis" and out["em_rate"] == pytest.approx(0.1328, abs=1e-4)
    assert out["intervals"]["kind"] == "wald"


def test_moth_se_json_is_keyed_like_params(capsys):
    out = run_json(capsys, MOTH_ARGS + ["--se", "sem"])
    assert set(out["se"]) == set(out["params"]) == {"C", "I", "T"}
    cov = np.array(out["cov"]["matrix"])
    assert out["cov"]["labels"] == ["C", "I"]
    assert out["se"]["T"] == pytest.approx(np.sqrt(cov.sum()), rel=1e-9)  # Var(1 − p_C − p_I)


def test_poisson_mixture_bootstrap_json(capsys):
    out = run_json(capsys, ["poisson-mixture", "--counts", "162,267,271,185,111,61,27,8,3,1", "--accelerate", "squarem",
                            "--se", "bootstrap", "--n-boot", "20", "--seed", "1"])
    assert len(out["se"]["rates"]) == 2 and out["intervals"]["kind"] == "percentile"
    assert out["cov"]["labels"] == ["weights[0]", "rates[0]", "rates[1]"]
    assert all(low < high for low, high in out["intervals"]["bounds"]["rates"])


def test_human_table_has_an_se_column_and_the_rate(capsys):
    assert main(MOTH_ARGS + ["--se", "hessian"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = lines[lines.index("parameters") + 1]
    assert header.split() == ["estimate", "se"]
    row = next(line for line in lines if line.strip().startswith("C "))
    assert row.split()[1:] == ["0.0708369", "0.00741121"]
    assert "EM rate 0.1759" in text


def test_alleles_plot_with_se_writes_the_simplex_figure(capsys, tmp_path):
    figure = tmp_path / "moth.png"
    assert main(MOTH_ARGS + ["--se", "louis", "--plot", str(figure)]) == 0
    assert figure.stat().st_size > 30_000


@pytest.mark.parametrize("argv, fragment", [
    (["linkage", "10", "30", "30", "0", "--se", "louis"], "on the boundary"),
    (MOTH_ARGS + ["--se", "bootstrap", "--n-boot", "1"], "--n-boot"),
])
def test_bad_se_calls_exit_2_with_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_bad_se_method_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        main(MOTH_ARGS + ["--se", "fisher"])
    assert "invalid choice" in capsys.readouterr().err


def test_simplex_figure_needs_three_frequencies():
    result = emkit.fit(emkit.PoissonMixture(2, data="frequencies"), datasets.hasselblad_deaths(), accelerate="squarem")
    with pytest.raises(ValueError, match="three frequencies"):
        simplex_figure(result)
    moth_fit = emkit.fit(peppered_moth(), datasets.peppered_moth_counts())
    assert len(simplex_figure(moth_fit).axes) == 1  # no region, no inset without se


def test_moth_demo_section_reports_standard_errors(tmp_path):
    section = moth.run(tmp_path)
    assert "| louis | 0.007411 | 0.012205 | 0.013475 | 0.1759 |" in section
    assert "moth_simplex.png" in section and (tmp_path / "moth_simplex.png").stat().st_size > 20_000


def test_model_without_a_hook_exits_2(capsys, monkeypatch):
    from emkit.engine import EMModel
    from emkit.models.gene_counting import GeneCounting

    monkeypatch.setattr(GeneCounting, "complete_information", EMModel.complete_information)
    assert main(MOTH_ARGS + ["--se", "sem"]) == 2
    err = capsys.readouterr().err
    assert "--se sem: " in err and "complete-data information" in err and err.count("\n") == 1
