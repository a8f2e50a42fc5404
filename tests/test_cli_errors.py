"""No Python internals reach a command-line user (issue 14, first part): a figure that cannot be
written is refused before the fit, naming ``--plot``; a closed output pipe ends quietly."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from emkit.cli.main import main


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "data.csv"
    rng = np.random.default_rng(0)
    np.savetxt(path, np.vstack([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 4]), delimiter=",",
               header="a,b", comments="")
    return path


@pytest.mark.parametrize("command", [["gmm", "-k", "2"], ["hmm", "-k", "2"], ["student"]])
@pytest.mark.parametrize("plot, message", [("/nonexistent-folder/figure.png", "does not exist"),
                                           (".", "is a folder")])
def test_a_figure_that_cannot_be_written_is_refused_first(data_file, capsys, command, plot, message):
    assert main([command[0], str(data_file), *command[1:], "--plot", plot]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"emkit {command[0]}: error: --plot: ") and message in error
    assert len(error.splitlines()) == 1


def test_a_closed_pipe_ends_quietly(tmp_path):
    """Output larger than the pipe's buffer (the decoded states of 50,000 rows), one byte read."""
    path = tmp_path / "many.csv"
    np.savetxt(path, np.random.default_rng(1).normal(size=(50_000, 1)), delimiter=",", header="a", comments="")
    process = subprocess.Popen([sys.executable, "-m", "emkit.cli.main", "hmm", str(path), "-k", "2", "--max-iter",
                                "3", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(1)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_version(capsys):
    import emkit

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"emkit {emkit.__version__}"
