"""``emkit hmm``: a hidden Markov model fitted to the columns of a CSV file by Baum–Welch.

Example: ``emkit hmm returns.csv -k 3 --plot states.png``, or for symbols (numbers, e.g. die
faces) ``emkit hmm rolls.csv -k 2 --categorical``. Rows are time steps; ``--sequence COLUMN``
splits them into sequences (consecutive rows with the same id); empty or NA cells are missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from ..estimators.hmm import CategoricalHMM, GaussianHMM
from ..kernels.gaussian import COVARIANCE_TYPES
from .common import (CliError, add_se_options, check_rows, check_se_options, fitted_standard_errors, format_params,
                     refuse_given, se_summary)
from .diagnostics import collapse_notes, diagonal_variances, print_notes
from .table_input import add_input_options, read_table


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "hmm", help="hidden Markov model of a CSV time series (Gaussian or categorical)",
        description="Fit a hidden Markov model by the Baum-Welch algorithm to the columns of a CSV file with a "
                    "header row (rows are time steps; empty or NA cells are missing and marginalised). "
                    "Example: emkit hmm data.csv -k 3 --plot states.png")
    parser.add_argument("data", metavar="DATA", help="CSV file with a header row (delimiter detected; empty or NA cells are missing) or Parquet file (.parquet)")
    add_input_options(parser)
    parser.add_argument("-k", "--states", type=int, required=True, help="number of hidden states")
    parser.add_argument("--categorical", action="store_true",
                        help="one column of symbols (any values: die faces, words, codes) instead of Gaussian "
                             "observations")
    parser.add_argument("--sequence", metavar="COLUMN", help="column of sequence ids (any values: numbers, names, "
                                                             "dates): consecutive rows with the same id form one "
                                                             "sequence")
    parser.add_argument("--covariance", choices=COVARIANCE_TYPES, default="diag",
                        help="covariance structure of Gaussian states (default diag)")
    parser.add_argument("--reg-covar", type=float, default=1e-6, help="added to covariance diagonals (default 1e-6)")
    parser.add_argument("--transmat-prior", type=float, default=1.0,
                        help="Dirichlet concentration (>= 1) of each transition row; above 1 adds pseudo-counts")
    group = parser.add_argument_group("fitting")
    group.add_argument("--tol", type=float, default=1e-10,
                       help="stop when the log-likelihood per row changes by less (default 1e-10)")
    group.add_argument("--max-iter", type=int, default=10_000, help="maximum number of iterations per start")
    group.add_argument("--seed", type=int, default=0, help="seed of the starts (default 0)")
    group.add_argument("--n-init", type=int, default=1, help="number of starts")
    group.add_argument("--accelerate", choices=["squarem"], default=None, help="accelerate EM with SQUAREM")
    add_se_options(parser, " (louis: not for HMMs; bootstrap: whole sequences, or parametric)")
    output = parser.add_argument_group("output")
    output.add_argument("--plot", metavar="FILE", help="write the series with decoded states and posteriors")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    output.add_argument("--progress", action="store_true", help="show a progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.categorical:
        refuse_given(args, ("covariance", "reg_covar"), "applies to Gaussian states, not to --categorical symbols")
    if args.se == "louis":
        raise CliError("--se louis: not available for hidden Markov models; use --se sem, hessian or bootstrap")
    if not 0 <= args.tol < np.inf:
        raise CliError(f"--tol: must be a non-negative number, got {args.tol}")
    table = read_table(args.data, args.sep, args.encoding)
    lengths = table.runs(args.sequence) if args.sequence else None
    exclude = (args.sequence,) if args.sequence else ()
    symbols = None
    if args.categorical:
        names, X, symbols = table.symbols(args.columns, exclude)
    else:
        names, X = table.numeric(args.columns, exclude)
    if args.states < 1:
        raise CliError(f"-k: the number of states must be at least 1, got {args.states}")
    check_rows(X, args.states, "-k", "states", args.data)
    if args.max_iter < 1 or args.n_init < 1:
        raise CliError("--max-iter and --n-init: must be at least 1")
    check_se_options(args)
    settings = {"transmat_prior": args.transmat_prior, "random_state": args.seed, "n_iter": args.max_iter,
                "tol": args.tol * X.shape[0], "n_init": args.n_init, "accelerate": args.accelerate,
                "verbose": args.progress}
    if args.categorical:
        estimator = CategoricalHMM(args.states, n_features=len(symbols), **settings).fit(X, lengths)
        X_model = X
    else:
        estimator = GaussianHMM(args.states, args.covariance, reg_covar=args.reg_covar, **settings).fit(X, lengths)
        X_model = X
    loglik, posteriors = estimator.score_samples(X_model, lengths)
    _, states = estimator.decode(X_model, lengths)
    summary = {"loglik": loglik, "bic": estimator.bic(X_model, lengths), "aic": estimator.aic(X_model, lengths)}
    result, held = estimator.result_, []
    if args.se is not None and (lengths is None or len(lengths) == 1):
        held = ["startprob"]     # one sequence: its start probabilities are on the boundary, held fixed
        result = dataclasses.replace(result, model=result.model.fixing(set(held)))
    se = fitted_standard_errors(result, (X_model, lengths), args)
    notes = [] if args.categorical else collapse_notes(
        diagonal_variances(estimator.covars_, "full", args.states, X.shape[1]), estimator.reg_covar,
        np.bincount(states, minlength=args.states), "state")
    if args.plot:
        from ..plotting.hmm import hmm_figure

        title = f"{args.data}: {args.states}-state HMM, Viterbi path shaded"
        hmm_figure(X, states, posteriors, categorical=args.categorical, feature_labels=names, lengths=lengths,
                   title=title).savefig(args.plot, dpi=120, bbox_inches="tight")
    if args.json:
        payload = _payload(estimator, names, symbols, lengths, summary, states)
        payload.update({**se.to_dict(), "se_held_fixed": held} if se is not None else {})
        payload["notes"] = notes
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    _print_report(args, estimator, names, symbols, X.shape[0], lengths, summary, states)
    if se is not None:
        print()
        print(format_params(estimator.result_.named_params(), se.se))
        print(se_summary(se) + ("; start probabilities held fixed (one sequence)" if held else ""))
    print_notes(notes)
    return 0


def _emission(estimator, symbols) -> dict:
    if symbols is not None:
        return {"symbols": list(symbols), "emissionprob": estimator.emissionprob_.tolist()}
    return {"means": estimator.means_.tolist(), "covars": estimator.covars_.tolist()}


def _payload(estimator, names, symbols, lengths, summary, states) -> dict:
    return {"n_states": estimator.n_components, "columns": names,
            "model": "categorical" if symbols is not None else f"gaussian ({estimator.covariance_type})",
            "params": {"startprob": estimator.startprob_.tolist(), "transmat": estimator.transmat_.tolist(),
                       **_emission(estimator, symbols)},
            **summary, "n_iter": estimator.n_iter_, "converged": estimator.converged_,
            "lengths": lengths, "states": states.tolist()}


def _print_report(args, estimator, names, symbols, n_rows, lengths, summary, states) -> None:
    k = estimator.n_components
    kind = "categorical" if symbols is not None else f"Gaussian ({estimator.covariance_type} covariance)"
    n_sequences = 1 if lengths is None else len(lengths)
    print(f"Hidden Markov model: {k} state(s), {kind} emissions, {n_rows} rows in {n_sequences} sequence(s) of "
          f"{args.data} (columns {', '.join(names)})")
    print()
    print("state  start p   visits  " + "  ".join(f"->{j:<7}" for j in range(k)))
    counts = np.bincount(states, minlength=k)
    for i in range(k):
        print(f"{i:>5}  {estimator.startprob_[i]:8.6f}  {counts[i]:>6}  "
              + "  ".join(f"{p:9.6f}" for p in estimator.transmat_[i]))
    print()
    if symbols is not None:
        print("emission probabilities")
        print("state  " + "  ".join(f"{s:>9}" for s in symbols))
        for i in range(k):
            print(f"{i:>5}  " + "  ".join(f"{p:9.6f}" for p in estimator.emissionprob_[i]))
    else:
        width = max(len(name) for name in names)
        for i in range(k):
            print(f"state {i}")
            print(f"  {'mean':<{width}}  " + "  ".join(f"{m:>12.6g}" for m in estimator.means_[i]))
            sd = np.sqrt(np.diag(estimator.covars_[i]))
            print(f"  {'sd':<{width}}  " + "  ".join(f"{s:>12.6g}" for s in sd))
    print()
    print(f"log-likelihood  {summary['loglik']:.10f}")
    print(f"BIC             {summary['bic']:.6f}   (AIC {summary['aic']:.6f})")
    print(f"iterations      {estimator.n_iter_}")
    print(f"converged       {'yes' if estimator.converged_ else 'no'}")
