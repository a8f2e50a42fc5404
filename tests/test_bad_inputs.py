"""Bad input is a ValueError naming the argument, raised at once (issue 13, items 6-8).

One table of bad calls (each of which crashed, hung, raised another exception type, or was
silently accepted before); the same calls on the command line (one line, exit status 2); and
the good calls next to them, whose numbers must not change.
"""

from __future__ import annotations

import functools
import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

import emkit
from emkit import datasets
from emkit.cli.main import main
from emkit.models.grouped_multinomial import genetic_linkage
from emkit.validation import check_counts

from direct_mle import maximize

DEATHS = datasets.hasselblad_deaths()
DEATHS_TABLE = dict(enumerate(DEATHS))
WRAPPING_LENGTHS = [2**63 - 1, 2**63 - 1, 122]  # int64 sum wraps around to 120 = n_samples


def gaussian_rows(n: int = 120) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([rng.normal(0, 1, n // 2), rng.normal(4, 1, n - n // 2)])[:, None]


def symbol_rows(n: int = 120) -> np.ndarray:
    return np.random.default_rng(4).integers(0, 4, (n, 1))


@functools.cache
def fitted(kind: str):
    """A fitted GaussianHMM or CategoricalHMM (for the methods that take ``lengths``)."""
    if kind == "gaussian":
        return emkit.GaussianHMM(2, random_state=0).fit(gaussian_rows())
    return emkit.CategoricalHMM(2, random_state=0).fit(symbol_rows())


def rows_of(kind: str) -> np.ndarray:
    return gaussian_rows() if kind == "gaussian" else symbol_rows()


def raw_poisson_draws() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.concatenate([rng.poisson(2.0, 300), rng.poisson(9.0, 200)])


LENGTH_METHODS = ("score", "score_samples", "predict", "predict_proba", "decode", "bic", "aic", "partial_fit")

BAD_CALLS = [
    # item 6: a sequence given to a PoissonMixture must say what it holds
    ("poisson raw draws, undeclared", lambda: emkit.fit(emkit.PoissonMixture(2), raw_poisson_draws()), "data"),
    ("poisson unknown data form", lambda: emkit.PoissonMixture(2, data="table"), "data"),
    # item 7: crashes, hangs, blow-ups
    ("GaussianHMM.fit lengths wrap int64",
     lambda: emkit.GaussianHMM(2).fit(gaussian_rows(), lengths=WRAPPING_LENGTHS), "lengths"),
    ("CategoricalHMM.fit lengths wrap int64",
     lambda: emkit.CategoricalHMM(2).fit(symbol_rows(), lengths=WRAPPING_LENGTHS), "lengths"),
    *[(f"{kind} HMM.{method} lengths wrap int64",
       functools.partial(lambda kind, method: getattr(fitted(kind), method)(rows_of(kind), WRAPPING_LENGTHS),
                         kind, method), "lengths")
      for kind in ("gaussian", "categorical") for method in LENGTH_METHODS],
    ("uint64 symbol 2**64-1 (was the missing code)",
     lambda: emkit.CategoricalHMM(2).fit(np.array([[0], [1], [2**64 - 1]], dtype=np.uint64)), "X"),
    ("float symbol 1e20 (was an IndexError)", lambda: emkit.CategoricalHMM(2).fit([[0.0], [1e20]]), "X"),
    ("symbol 10**13 (was 146 TiB)", lambda: emkit.CategoricalHMM(2).fit([[0], [10**13]]), "X"),
    ("n_features=10**13 (was 146 TiB)", lambda: emkit.CategoricalHMM(2, n_features=10**13).fit([[0], [1]]),
     "n_features"),
    ("PoissonMixture(10**8) (was GBs)", lambda: emkit.fit(emkit.PoissonMixture(10**8), DEATHS_TABLE), "n_components"),
    ("genetic_linkage counts 1e200", lambda: emkit.fit(genetic_linkage(), [1e200, 18, 20, 34]), "counts"),
    ("transmat_prior=1e308", lambda: emkit.GaussianHMM(2, transmat_prior=1e308).fit(gaussian_rows()),
     "transmat_prior"),
    # item 8: wrong exception types and silent acceptance
    ("fit tol text", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, tol="1e-3"), "tol"),
    ("fit param_tol text", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, param_tol="1e-3"), "param_tol"),
    ("fit random_state text", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, random_state="a"),
     "random_state"),
    ("fit random_state negative", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, random_state=-1),
     "random_state"),
    ("fit callback 3", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, callback=3), "callback"),
    ("fit tol_scale -1", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, tol_scale=-1), "tol_scale"),
    ("fit tol_scale NaN", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, tol_scale=float("nan")),
     "tol_scale"),
    ("fit max_iter True", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, max_iter=True), "max_iter"),
    ("fit n_init True", lambda: emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, n_init=True), "n_init"),
    ("PoissonMixture(True)", lambda: emkit.PoissonMixture(True), "n_components"),
    ("GaussianMixture datetime column",
     lambda: emkit.GaussianMixture(1).fit(pd.DataFrame({"x": np.arange(10.0),
                                                        "t": pd.date_range("2020-01-01", periods=10)})), "X"),
    ("GaussianMixture datetime64 array",
     lambda: emkit.GaussianMixture(1).fit(np.arange(10).astype("datetime64[D]").reshape(-1, 1)), "X"),
    ("HMM lengths text", lambda: emkit.GaussianHMM(2).fit(gaussian_rows(), lengths=["60", "60"]), "lengths"),
    ("HMM lengths booleans", lambda: emkit.GaussianHMM(2).fit(gaussian_rows(10), lengths=[True] * 10), "lengths"),
    ("GaussianHMM complex X", lambda: emkit.GaussianHMM(2).fit(gaussian_rows() + 1j), "X"),
    ("GeneCounting phenotypes 'A>B'", lambda: emkit.GeneCounting(["A", "B"], "A>B"), "phenotypes"),
    ("GeneCounting phenotypes and dominance",
     lambda: emkit.GeneCounting(["A", "B"], {"A": [("A", "A"), ("A", "B")], "B": [("B", "B")]}, dominance="A>B"),
     "phenotypes"),
    ("GeneCounting cyclic dominance", lambda: emkit.GeneCounting(["A", "B"], dominance="A>B, B>A"), "dominance"),
    ("GeneCounting cycle across chains",
     lambda: emkit.GeneCounting(["A", "B", "C"], dominance="A>B, B>C, C>A"), "dominance"),
    ("GeneCounting dominance triple", lambda: emkit.GeneCounting(["A", "B"], dominance=[("A", "B", "C")]),
     "dominance"),
    ("GeneCounting two phenotypes one name",
     lambda: emkit.GeneCounting(["A", "B"], dominance="A>B", phenotype_names={"A": "x", "B": "x"}),
     "phenotype_names"),
    ("GeneCounting rename of no phenotype",
     lambda: emkit.GeneCounting(["A", "B"], dominance="A>B", phenotype_names={"Z": "z"}), "phenotype_names"),
]


@pytest.mark.parametrize("call, argument", [pytest.param(call, argument, id=name.replace(" ", "-"))
                                            for name, call, argument in BAD_CALLS])
def test_bad_call_is_a_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        call()


@pytest.mark.parametrize("call", [
    pytest.param(lambda: emkit.CategoricalHMM(2).fit([[0], [10**13]]), id="symbol 10**13"),
    pytest.param(lambda: emkit.CategoricalHMM(2, n_features=10**13).fit([[0], [1]]), id="n_features=10**13"),
    pytest.param(lambda: emkit.fit(emkit.PoissonMixture(10**8), DEATHS_TABLE), id="PoissonMixture(10**8)"),
    pytest.param(lambda: emkit.fit(emkit.PoissonMixture(10**8, data="observations"), raw_poisson_draws()),
                 id="PoissonMixture(10**8) on observations"),
])
def test_blow_ups_are_refused_before_allocating(call):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB allocated before the error"


class RefusingPoisson(emkit.PoissonMixture):
    """A model whose data must never be looked at."""

    def prepare(self, data):
        raise AssertionError("the data were prepared before the arguments were checked")


@pytest.mark.parametrize("options", [{"tol": "1e-3"}, {"random_state": "a"}, {"callback": 3}, {"tol_scale": -1.0},
                                     {"max_iter": True}])
def test_fit_arguments_are_checked_before_the_data(options):
    with pytest.raises(ValueError, match=f"^{next(iter(options))}: "):
        emkit.fit(RefusingPoisson(2), DEATHS_TABLE, **options)


# ------------------------------------------------------------------------ the command line
@pytest.fixture
def series_csv(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("x\n" + "\n".join(f"{v:.6f}" for v in gaussian_rows()[:, 0]) + "\n")
    return str(path)


@pytest.mark.parametrize("argv, argument", [
    (["poisson-mixture", "--counts", ",".join(map(str, DEATHS)), "-k", "100000000"], "-k"),
    (["poisson-mixture", "--observations", "1,2", "-k", "3"], "-k"),
    (["linkage", "1e200", "18", "20", "34"], "counts"),
    (["hmm", "SERIES", "-k", "2", "--transmat-prior", "1e308"], "--transmat-prior"),
])
def test_cli_bad_input_is_one_line_and_status_2(argv, argument, series_csv, capsys):
    argv = [series_csv if a == "SERIES" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"emkit {argv[0]}: error: {argument}: "), err


# ------------------------------------------------------------------ good calls, same numbers
def test_hasselblad_as_frequencies_mapping_and_observations_gives_the_published_fit():
    """The README's call; its numbers are those before the change (and Hasselblad's 1969 values)."""
    observations = np.repeat(np.arange(len(DEATHS)), DEATHS)
    fits = [emkit.fit(emkit.PoissonMixture(2, data="frequencies"), DEATHS, accelerate="squarem"),
            emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, accelerate="squarem"),
            emkit.fit(emkit.PoissonMixture(2, data="observations"), observations, accelerate="squarem"),
            emkit.fit(emkit.PoissonMixture(2, data="observations"), pd.Series(observations), accelerate="squarem")]
    for result in fits:
        assert result.loglik == fits[0].loglik
        np.testing.assert_array_equal(result.params["rates"], fits[0].params["rates"])
        np.testing.assert_array_equal(result.params["weights"], fits[0].params["weights"])
    assert fits[0].loglik == pytest.approx(-1989.9458598829644, rel=1e-15)
    # SQUAREM stops within 1e-10 of the MLE; the digits below that are rounding (PoissonMixture over MixtureModel)
    np.testing.assert_allclose(fits[0].params["rates"], [1.2560951011576915, 2.6634043566727414], rtol=1e-10)
    np.testing.assert_allclose(fits[0].params["weights"][0], 0.3599, atol=5e-5)


def test_raw_observations_match_direct_maximization():
    """The issue's case: raw draws read as observations give the MLE (they gave rates 104, 388)."""
    x = raw_poisson_draws()

    def loglik(theta):
        w, l1, l2 = theta
        log_fact = gammaln(x + 1.0)
        return np.sum(np.log(w * np.exp(x * np.log(l1) - l1 - log_fact)
                             + (1 - w) * np.exp(x * np.log(l2) - l2 - log_fact)))

    direct = maximize(loglik, np.array([0.6, 2.0, 9.0]))
    result = emkit.fit(emkit.PoissonMixture(2, data="observations"), x)
    assert result.converged
    np.testing.assert_allclose(result.params["weights"][0], direct[0], rtol=1e-7)
    np.testing.assert_allclose(result.params["rates"], direct[1:], rtol=1e-7)


def test_streams_and_bootstrap_of_small_batches_still_work():
    """Only the data that start a fit must hold n_components observations; a later batch of one
    observation is fine, and bootstrap tables (mappings) need no declaration."""
    model = emkit.PoissonMixture(2, data="observations")
    batches = iter([raw_poisson_draws(), [3], [7]])
    result = emkit.fit_online(model, batches, batch_size=len)
    assert result.n_observations == 502
    se = emkit.standard_errors(emkit.fit(model, raw_poisson_draws()), raw_poisson_draws(), method="bootstrap",
                               n_boot=3, random_state=0, bootstrap_kind="parametric")
    assert np.all(np.isfinite(se.cov))


@pytest.mark.parametrize("lengths", [[70, 50], np.array([70, 50], dtype=np.int32), np.array([70, 50], dtype=np.uint64),
                                     [70.0, 50.0], (np.int64(70), 50)])
def test_hmm_lengths_in_every_integer_form_give_the_same_numbers(lengths):
    X = gaussian_rows()
    model = emkit.GaussianHMM(2, random_state=0).fit(X, lengths=lengths)
    assert model.score(X, lengths) == pytest.approx(-186.241524422873, rel=1e-13)   # hmmlearn's default priors


def test_categorical_symbols_that_are_codes_still_work():
    S = symbol_rows(90)
    model = emkit.CategoricalHMM(2, random_state=0).fit(S, lengths=[30, 60])
    assert model.score(S, [30, 60]) == pytest.approx(-123.97039902488902, rel=1e-13)
    same = emkit.CategoricalHMM(2, random_state=0).fit(S.astype(np.uint64), lengths=[30, 60])
    np.testing.assert_array_equal(same.emissionprob_, model.emissionprob_)
    with_missing = S.astype(float)
    with_missing[5] = np.nan
    assert np.isfinite(emkit.CategoricalHMM(2, random_state=0).fit(with_missing).score(with_missing))
    assert emkit.CategoricalHMM(2, random_state=0).fit([[0], [65535], [3]]).emissionprob_.shape == (2, 65536)
    wide = emkit.CategoricalHMM(2, n_features=10**6, random_state=0, n_iter=2).fit([[0], [999_999]])
    assert wide.emissionprob_.shape == (2, 10**6)


def test_fit_arguments_in_numpy_and_legacy_forms_are_accepted():
    seen = []
    options = [{"tol": np.float32(1e-8), "max_iter": np.int64(500)}, {"random_state": np.random.RandomState(0)},
               {"random_state": np.random.default_rng(0), "n_init": np.int32(2)}, {"tol_scale": 1096},
               {"callback": lambda *args: seen.append(args[0])}]
    for kwargs in options:
        result = emkit.fit(emkit.PoissonMixture(2), DEATHS_TABLE, accelerate="squarem", **kwargs)
        assert result.params["rates"] == pytest.approx([1.2561, 2.6634], abs=2e-3)
    assert seen[0] == 0 and len(seen) > 1


def test_largest_exact_counts_and_concentrations_are_accepted():
    assert check_counts([2**53 - 1, 1], "counts").sum() == 2**53
    with pytest.raises(ValueError, match="^counts: "):
        check_counts([2**53, 2], "counts")
    model = emkit.GaussianHMM(2, transmat_prior=2.0**53, random_state=0).fit(gaussian_rows())
    np.testing.assert_allclose(model.transmat_, 0.5, atol=1e-12)


def test_gene_counting_dominance_forms_agree():
    counts = {"A": 186, "B": 38, "AB": 13, "O": 284}
    chains = emkit.fit(emkit.GeneCounting(("A", "B", "O"), dominance="A>O, B>O"), counts)
    pairs = emkit.fit(emkit.GeneCounting(("A", "B", "O"), dominance=[("A", "O"), ("B", "O")]), counts)
    assert chains.loglik == pairs.loglik == pytest.approx(-511.5714697162091, rel=1e-14)
    moth = emkit.GeneCounting(("C", "I", "T"), dominance="C>I>T",
                              phenotype_names={"C": "carbonaria", "I": "insularia", "T": "typica"})
    assert moth.phenotype_labels == ("carbonaria", "insularia", "typica")


def test_cli_poisson_observations_equal_the_table(capsys):
    observations = np.repeat(np.arange(len(DEATHS)), DEATHS)
    outputs = []
    for argv in (["--counts", ",".join(map(str, DEATHS))], ["--observations", ",".join(map(str, observations))]):
        assert main(["poisson-mixture", *argv, "-k", "2", "--accelerate", "squarem", "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0]["params"] == outputs[1]["params"]
    assert outputs[0]["loglik"] == pytest.approx(-1989.9458598829644, rel=1e-15)
