"""emkit.bootstrap_lrt: mclust's sequential bootstrap likelihood-ratio test for the number of components."""

import numpy as np
import pytest

import emkit
from emkit import GaussianMixture


def two_gaussians(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, (n, 2)), rng.normal(6, 1, (n, 2))])


@pytest.fixture(scope="module")
def result():
    return emkit.bootstrap_lrt(two_gaussians(), "full", max_components=3, n_boot=39, random_state=1,
                               init_params="hc")


def test_one_vs_two_rejects_and_two_vs_three_does_not(result):
    assert result.n_components.tolist() == [1, 2]   # stopped at the first test not rejected
    assert result.p_values[0] == pytest.approx(1 / 40)
    assert result.p_values[1] > 0.05
    assert result.selected_components == 2
    assert result.replicates.shape == (39, 2)
    text = str(result)
    assert "1 vs 2" in text and "2 vs 3" in text and "Replicates   = 39" in text


def test_statistic_is_twice_the_log_likelihood_gain_of_independent_fits(result):
    X = two_gaussians()
    logliks = [GaussianMixture(g, init_params="hc").fit(X).score(X) * len(X) for g in (1, 2, 3)]
    np.testing.assert_allclose(result.statistic, 2 * np.diff(logliks), rtol=1e-6)


def test_p_value_is_mclusts_count(result):
    for test, observed in enumerate(result.statistic):
        boot = result.replicates[:, test]
        hand = (1 + sum(1 for value in boot if value >= observed)) / (len(boot) + 1)
        assert result.p_values[test] == hand
    assert result.table[1] == {"n_components": 2, "alternative": 3, "lrts": result.statistic[1],
                               "p_value": result.p_values[1]}


def test_results_do_not_depend_on_the_number_of_processes():
    X = two_gaussians(40, seed=2)
    one = emkit.bootstrap_lrt(X, "diag", max_components=1, n_boot=6, random_state=3)
    two = emkit.bootstrap_lrt(X, "diag", max_components=1, n_boot=6, random_state=3, n_jobs=2)
    np.testing.assert_array_equal(one.replicates, two.replicates)
    np.testing.assert_array_equal(one.p_values, two.p_values)


def test_progress_counts_the_replicates(capsys):
    emkit.bootstrap_lrt(two_gaussians(30), "spherical", max_components=1, n_boot=3, random_state=0,
                        verbose=emkit.engine.progress.Progress())
    assert "bootstrap LRT 1 vs 2: 3/3 replicates" in capsys.readouterr().err


@pytest.mark.parametrize("argument, value", [("max_components", 0), ("n_boot", 0), ("level", 1.5), ("n_jobs", 0),
                                             ("X", [["a", "b"], ["c", "d"]])])
def test_bad_arguments_are_errors_naming_them(argument, value):
    with pytest.raises(ValueError, match=f"^{argument}: "):
        emkit.bootstrap_lrt(**{"X": two_gaussians(20), argument: value})
