"""The Python examples in README.md run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, capsys):
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), namespace)


def test_readme_censored_exponential_matches_closed_form():
    namespace: dict = {}
    block = next(b for b in BLOCKS if "CensoredExponential" in b)
    exec(block, namespace)
    times, observed, result = namespace["times"], namespace["observed"], namespace["result"]
    assert float(result.params["mu"]) == pytest.approx(times.sum() / observed.sum(), rel=1e-9)
    assert result.converged
