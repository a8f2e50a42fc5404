"""Smoke run of the GMM benchmark at its ``--quick`` size: the script runs end to end, prints
every section, and the two libraries' log-likelihoods agree (the one verdict that does not
depend on the machine's speed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
    agreement = re.findall(r"largest relative difference over all iterations (\S+) \(<= 1e-09: (MET|NOT MET)\)", out)
    assert len(agreement) == 2 and all(verdict == "MET" for _, verdict in agreement)
