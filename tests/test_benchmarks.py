"""Smoke run of the GMM benchmark at its ``--quick`` size: the script runs end to end, prints
every section, and the two libraries' log-likelihoods agree (the one verdict that does not
depend on the machine's speed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gmm_vs_sklearn.py"


@pytest.mark.slow
def test_gmm_benchmark_quick_run_prints_every_section():
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--rounds", "1", "--repeats", "1", "--warmup", "0"],
                         capture_output=True, text=True, timeout=300, check=True)
    out = run.stdout
    for covariance_type in ("full", "diag"):
        assert f"## {covariance_type} covariance: n = 20,000" in out
    for line in ("speed-up", "score_samples", "predict_proba", "10% missing values", "float32: emkit",
                 "float32: whole fit to convergence"):
        assert out.count(line) == 2, line
    agreement = re.findall(r"largest relative difference over all iterations (\S+) \(<= 1e-12: (MET|NOT MET)\)", out)
    assert len(agreement) == 2 and all(verdict == "MET" for _, verdict in agreement)


PEERS_SCRIPT = SCRIPT.parent / "peers.py"


def test_benchmark_data_are_the_documented_mixture():
    """benchmarks/gmm_vs_sklearn.py's rows (also peers.py's), made one component at a time, are the
    mixture its docstring states: the same draws put through all rows' factors at once."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gmm_vs_sklearn
    finally:
        sys.path.remove(str(SCRIPT.parent))
    n, d, k = 600, 3, 4
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(scale=3.0, size=(k, d)) + 10.0
    A = rng.normal(size=(k, d, d))
    covariances = rng.uniform(0.1, 1.0, size=(k, 1, 1)) * A @ A.transpose(0, 2, 1) / d + 0.25 * np.eye(d)
    labels = rng.choice(k, size=n, p=weights)
    factors = np.linalg.cholesky(covariances)[labels]
    expected = means[labels] + np.einsum("ni,nji->nj", rng.standard_normal((n, d)), factors)
    np.testing.assert_allclose(gmm_vs_sklearn.simulate(n, d, k), expected, rtol=1e-13)


@pytest.mark.slow
def test_peers_benchmark_quick_run_prints_every_section_and_agrees():
    """The peer benchmark with only the peers CI has (scikit-learn, hmmlearn): every section runs
    and every contestant's final log-likelihood agrees with emkit's."""
    run = subprocess.run([sys.executable, str(PEERS_SCRIPT), "--quick", "--repeats", "1", "--iterations", "3",
                          "--peers", "sklearn,hmmlearn"], capture_output=True, text=True, timeout=300, check=True)
    out = run.stdout
    for heading in ("## GMM full", "## GMM diag", "## Scaling grid", "## HMM, diagonal Gaussian", "## HMM, categorical",
                    "## Peak memory"):
        assert heading in out, heading
    assert out.count("emkit/floor") == 8
    assert out.count("scikit-learn") >= 2 + 8 + 2 and out.count("hmmlearn (scaling)") == 2
    assert "DISAGREES" not in out and "every contestant agrees" in out
    memory = re.findall(r"rise during the fit\s+(\S+) MiB", out)
    assert len(memory) == 2 and all(float(value) > 0 for value in memory)


def test_peers_benchmark_times_a_slow_peer_once_and_leaves_it_out_of_larger_cells():
    """With ``--max-fit-seconds 0`` every peer's warm-up fit is "too slow": in the grid it is timed
    by that fit alone in the first cell and left out of every cell with more work; in the HMM
    section each peer is timed by its warm-up fit."""
    run = subprocess.run([sys.executable, str(PEERS_SCRIPT), "--quick", "--repeats", "2", "--iterations", "2",
                          "--only", "grid,hmm", "--max-fit-seconds", "0", "--peers", "sklearn,hmmlearn"],
                         capture_output=True, text=True, timeout=300, check=True)
    cells = [line for line in run.stdout.splitlines() if line.lstrip().startswith("n=")]
    assert len(cells) == 8
    assert "scikit-learn" in cells[0] and "its warm-up fit" in cells[0]
    assert all("scikit-learn left out" in cell for cell in cells[1:])
    assert run.stdout.count("hmmlearn (scaling): its warm-up fit took") == 2
    assert "DISAGREES" not in run.stdout
