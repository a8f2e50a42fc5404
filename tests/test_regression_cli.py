"""``emkit regression`` through the real entry point: the JSON answer is the API's, and bad input is
one line with exit status 2."""

import json

import numpy as np
import pandas as pd
import pytest
from cli_runner import emkit

import emkit as api
from test_regression_mixture import simulate


@pytest.fixture(scope="module")
def counts_csv(tmp_path_factory):
    X, y, _ = simulate("poisson", seed=1, concomitant=True)
    path = tmp_path_factory.mktemp("regression") / "counts.csv"
    frame = pd.DataFrame({"count": y, "dose": X[:, 0], "age": X[:, 1]})
    frame.loc[5, "note"] = "text"
    frame.to_csv(path, index=False)
    return path, X, y


def test_json_answer_equals_the_api_fit(counts_csv):
    path, X, y = counts_csv
    result = emkit("regression", path, "--y", "count", "--x", "dose", "-k", "2", "--family", "poisson",
                   "--concomitant", "age", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    fitted = api.RegressionMixture(2, family="poisson", concomitant=[1], random_state=0).fit(X, y)
    assert answer["loglik"] == pytest.approx(fitted.lower_bound_ * len(y), rel=1e-10)
    np.testing.assert_allclose(np.asarray(answer["params"]["coef"])[:, 1], fitted.coef_[:, 0], rtol=1e-6)
    assert answer["n_rows"] == len(y) and len(answer["labels"]) == len(y)


def test_bad_input_is_one_line_with_status_2(counts_csv):
    path, _, _ = counts_csv
    for arguments, expected in [(("--x", "dosee"), "--x: no column(s) ['dosee']"),
                                (("--x", "dose", "--family", "gamma", "--y", "note"), "--y:"),
                                (("--x", "dose", "--trials", "age"), "--trials: only the binomial family")]:
        y = () if "--y" in arguments else ("--y", "count")
        result = emkit("regression", path, *y, *arguments)
        assert result.returncode == 2, (arguments, result.stderr)
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
