"""One progress display for a whole command or fit (issue 14, "Progress on long work").

The stages (reading, initialisation, restarts, EM named in words, selection fits, bootstrap
replicates) share one display; each EM stage ends at the fit's own iteration count. Off a
terminal the display writes one line per finished stage; on a terminal it is one live line.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from cli_runner import emkit as run_emkit

import emkit
from emkit import GaussianHMM, GaussianMixture, PoissonMixture, datasets, fit, gmm_select, standard_errors
from emkit.engine.progress import Progress
from emkit.models.grouped_multinomial import genetic_linkage
from emkit.variants.mcem import fit_mcem
from emkit.variants.online import fit_online


def two_groups(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + [4.0, 0.0]])


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (so the display is the live tqdm line)."""

    def isatty(self) -> bool:
        return True


def em_line(lines, label):
    """The count ``n`` of the line ``... label: n/n iterations, ...`` (exactly one such line)."""
    found = [line for line in lines if f"{label}: " in line]
    assert len(found) == 1, (label, lines)
    count = re.search(re.escape(label) + r": (\d+)/(\d+) iterations?, ", found[0])
    assert count and count.group(1) == count.group(2), found[0]
    return int(count.group(1)), found[0]


def test_cli_shows_every_stage_of_a_command_on_one_display(tmp_path):
    path = tmp_path / "two.csv"
    np.savetxt(path, two_groups(), delimiter=",", header="x,y", comments="")
    run = run_emkit("gmm", path, "--select", "1:2", "--covariance", "full,diag", "--se", "bootstrap",
                    "--n-boot", "5", "--progress", "--json")
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)   # the display stays off standard output
    lines = run.stderr.splitlines()
    assert "\r" not in run.stderr   # not a terminal: finished stages, one line each
    assert lines[0].startswith(f"reading {path}: 200 rows x 2 columns")
    grid = [(1, "full"), (2, "full"), (1, "diag"), (2, "diag")]
    for index, row in enumerate(payload["selection"]["table"]):
        k, covariance = grid[index]
        assert (row["n_components"], row["covariance_type"]) == (k, covariance)
        prefix = f"fit {index + 1}/4: k={k} {covariance} › "
        assert any(line.startswith(prefix + "initialisation › k-means: ") for line in lines), lines
        count, line = em_line(lines, f"{prefix}EM Gaussian mixture ({covariance}, k={k})")
        assert count == row["n_iter"] and "converged" in line and f"(tol {payload['settings']['tol']:g})" in line
    assert lines[-1].startswith("bootstrap (nonparametric): 5/5 replicates")
    assert "Model" not in run.stderr   # no internal class names


def test_api_verbose_names_restarts_initialisation_and_ends_at_the_iteration_count(capsys):
    result = fit(PoissonMixture(2, data="frequencies"), datasets.hasselblad_deaths(), n_init=3, random_state=0,
                 tol=1e-8, verbose=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" › ")[0] for line in lines] == ["start 1/3", "start 1/3", "start 2/3", "start 2/3",
                                                        "start 3/3", "start 3/3"]
    assert all(" › initialisation: done" in line for line in lines[::2])
    best = int(np.argmax(result.restarts))
    count, line = em_line(lines, f"start {best + 1}/3 › EM Poisson mixture (k=2)")
    assert count == result.n_iter and "converged" in line


def test_a_fit_stopped_by_max_iter_ends_there_and_says_so(capsys):
    with pytest.warns(emkit.ConvergenceWarning):
        fit(PoissonMixture(2, data="frequencies"), datasets.hasselblad_deaths(), max_iter=3, verbose=True)
    with pytest.warns(emkit.ConvergenceWarning):
        GaussianMixture(3, max_iter=4, tol=1e-12, random_state=0, progress=True).fit(two_groups())
    lines = capsys.readouterr().err.splitlines()
    assert lines[1].startswith("EM Poisson mixture (k=2): 3/3 iterations, not converged in max_iter=3, log-lik ")
    assert lines[-1].startswith("EM Gaussian mixture (full, k=3): 4/4 iterations, not converged in max_iter=4, ")


def test_estimators_count_their_own_iterations(capsys):
    X = two_groups()
    mixture = GaussianMixture(2, tol=1e-6, random_state=0, progress=True).fit(X)
    hmm = GaussianHMM(2, random_state=0, verbose=True).fit(X)
    lines = capsys.readouterr().err.splitlines()
    assert em_line(lines, "EM Gaussian mixture (full, k=2)")[0] == mixture.n_iter_
    assert em_line(lines, "EM hidden Markov model (2 states, Gaussian diag emissions)")[0] == hmm.n_iter_
    assert sum(line.startswith("initialisation › k-means: ") for line in lines) == 2


def test_variants_and_bootstrap_report_their_stages(capsys):
    counts = datasets.genetic_linkage_counts()
    mcem = fit_mcem(genetic_linkage(), counts, random_state=0, verbose=True)
    online = fit_online(PoissonMixture(2, data="observations"), [np.arange(20) % 5] * 4, verbose=True)
    se = standard_errors(fit(genetic_linkage(), counts), counts, "bootstrap", n_boot=4, random_state=0, verbose=True)
    lines = capsys.readouterr().err.splitlines()
    assert em_line(lines, "Monte Carlo EM Grouped multinomial")[0] == mcem.n_iter
    assert lines[1].startswith(f"online EM Poisson mixture (k=2): {online.n_batches}/{online.n_batches} batches")
    assert lines[-1].startswith("bootstrap (nonparametric): 4/4 replicates") and len(se.replicates) == 4


def test_one_live_line_on_a_terminal_that_ends_at_the_fits_count():
    terminal = Terminal()
    result = gmm_select(two_groups(), [2], ["full", "diag"], tol=1e-6, progress=Progress(terminal))
    shown = terminal.getvalue()
    assert "\n" not in shown   # one line, rewritten in place
    frames = shown.split("\r")
    assert frames[-1].strip() == ""   # cleared at the end: what the command prints next starts clean
    for index, row in enumerate(result.table):
        covariance, n = row["covariance_type"], row["n_iter"]
        label = f"fit {index + 1}/2: k=2 {covariance} › EM Gaussian mixture ({covariance}, k=2): "
        finals = [frame for frame in frames if frame.startswith(label) and f"100%" in frame]
        assert finals and f"| {n}/{n} [" in finals[-1] and "converged" in finals[-1], frames
    assert any(frame.startswith("fit 1/2: k=2 full › initialisation › k-means") for frame in frames)


def test_a_warning_during_the_live_line_gets_a_line_of_its_own():
    import warnings

    terminal = Terminal()
    progress = Progress(terminal)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *args, **kwargs: print(f"warning: {message}", file=terminal)
        with progress.stage("EM something", unit="iteration"):
            progress.advance()
            warnings.warn("heads up", UserWarning)
            progress.advance()
    assert "\nwarning: heads up\n" in terminal.getvalue().replace("\r", "\n")


def test_verbose_false_shows_nothing_even_inside_a_display(capsys):
    X = two_groups(30)
    counts = datasets.genetic_linkage_counts()
    elsewhere = Progress(io.StringIO())
    with Progress.of(elsewhere):   # an active display does not make quiet calls talk
        result = fit(genetic_linkage(), counts, verbose=False)
        GaussianMixture(2, random_state=0).fit(X)
        gmm_select(X, [1, 2], ["diag"])
        GaussianHMM(2, random_state=0).fit(X)
        standard_errors(result, counts, "bootstrap", n_boot=3, random_state=0)
        fit_mcem(genetic_linkage(), counts, random_state=0)
    assert capsys.readouterr() == ("", "")
    assert elsewhere.file.getvalue() == ""
