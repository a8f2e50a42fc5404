"""``emkit hmm``: a hidden Markov model fitted to the columns of a CSV file by Baum–Welch.

Example: ``emkit hmm returns.csv -k 3 --plot states.png``, or for symbols (numbers, e.g. die
faces) ``emkit hmm rolls.csv -k 2 --categorical``. Rows are time steps; ``--sequence COLUMN``
splits them into sequences (consecutive rows with the same id); empty or NA cells are missing.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from ..kernels.covariance_types import COVARIANCE_TYPES
from .common import (CliError, add_fit_options, check_fit_options, check_rows, emit, fit_settings, fitted_standard_errors,
                     refuse_given)
from .output import Payload, Table, parameter_tables
from .table_input import add_input_options, label_column, read_table
from .units import add_reg_covar_option, covariance_floor


def register(subparsers) -> None:
    """Add the ``hmm`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "hmm", help="hidden Markov model of a CSV or Parquet time series (Gaussian or categorical)",
        description="Fit a hidden Markov model by the Baum-Welch algorithm (emkit.GaussianHMM or "
                    "emkit.CategoricalHMM, the same defaults) to the columns of a CSV file with a header row or "
                    "a Parquet file. Rows are time steps; empty or NA cells are missing and marginalised. "
                    "Example: emkit hmm returns.csv -k 2 --columns logret --sequence asset --plot states.png")
    parser.add_argument("data", metavar="DATA", help="CSV file with a header row (delimiter detected; empty or NA "
                                                     "cells are missing) or Parquet file (.parquet)")
    add_input_options(parser)
    model = parser.add_argument_group("model")
    model.add_argument("-k", "--states", type=int, required=True, help="number of hidden states (required)")
    model.add_argument("--categorical", action="store_true",
                       help="one column of symbols (any values: die faces, words, codes) instead of Gaussian "
                            "observations")
    model.add_argument("--sequence", metavar="COLUMN",
                       help="column of sequence ids (any values: numbers, names, dates): consecutive rows with "
                            "the same id form one sequence (default: one sequence)")
    model.add_argument("--covariance", choices=COVARIANCE_TYPES, default="diag",
                       help="covariance structure of Gaussian states (default: %(default)s)")
    model.add_argument("--label", metavar="COLUMN", help="column of true states (any values, not fitted) drawn under "
                                                         "the decoded ones in --plot")
    add_reg_covar_option(model)
    model.add_argument("--transmat-prior", type=float, default=1.0,
                       help="Dirichlet concentration (>= 1) of each transition row; above 1 adds pseudo-counts "
                            "(default: %(default)s)")
    add_fit_options(parser, tol=1e-2, se_tol=1e-6, max_iter=100, seed=0, trace=False,
                    tol_help="stop when the total log-likelihood increases by less (hmmlearn's rule)",
                    se_note=" (louis: not for HMMs; bootstrap: whole sequences, or parametric)",
                    plot_help="write the series with decoded states and state probabilities")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the data, fit the HMM, print the tables or JSON, write the plot."""
    if args.categorical:
        refuse_given(args, ("covariance", "reg_covar"), "applies to Gaussian states, not to --categorical symbols")
    if args.se == "louis":
        raise CliError("--se louis: not available for hidden Markov models; use --se sem, hessian or bootstrap")
    if args.states < 1:
        raise CliError(f"-k: the number of states must be at least 1, got {args.states}")
    check_fit_options(args)
    table = read_table(args.data, args.sep, args.encoding)
    lengths = table.runs(args.sequence) if args.sequence else None
    truth = label_column(table, args.label, args.columns)
    exclude = tuple(name for name in (args.sequence, args.label) if name)
    symbols = None
    if args.categorical:
        names, X, symbols = table.symbols(args.columns, exclude)
    else:
        names, X = table.numeric(args.columns, exclude)
    check_rows(X, args.states, "-k", "states", args.data)
    floor = covariance_floor(X, args.reg_covar)

    from ..estimators.hmm import CategoricalHMM, GaussianHMM

    settings = {"transmat_prior": args.transmat_prior, "random_state": args.seed, "n_iter": args.max_iter,
                "tol": args.tol, "n_init": args.n_init, "accelerate": args.accelerate, "verbose": args.progress}
    if args.categorical:
        estimator = CategoricalHMM(args.states, n_features=len(symbols), **settings).fit(X, lengths)
    else:
        estimator = GaussianHMM(args.states, args.covariance, reg_covar=floor.value, **settings).fit(X, lengths)
    loglik, posteriors = estimator.score_samples(X, lengths)
    _, states = estimator.decode(X, lengths)
    result, held = estimator.result_, []
    if args.se is not None and (lengths is None or len(lengths) == 1):
        held = ["startprob"]     # one sequence: its start probabilities are on the boundary, held fixed
        result = dataclasses.replace(result, model=result.model.fixing(set(held)))
    se = fitted_standard_errors(result, (X, lengths), args)
    from .diagnostics import collapse_notes

    notes = [] if args.categorical else collapse_notes(
        np.diagonal(estimator.covars_, axis1=1, axis2=2), estimator.reg_covar,
        np.bincount(states, minlength=args.states), "state")
    if args.plot:
        _write_plot(args, table, X, names, symbols, lengths, states, posteriors, truth)
    k = estimator.n_components
    kind = "categorical" if symbols is not None else f"Gaussian ({estimator.covariance_type} covariance)"
    params = {"startprob": estimator.startprob_.tolist(), "transmat": estimator.transmat_.tolist()}
    if symbols is not None:
        params["emissionprob"] = estimator.emissionprob_.tolist()
    else:
        params.update(means=estimator.means_.tolist(), covars=estimator.covars_.tolist())
    more = {} if symbols is not None else {**floor.settings(), "covariance_type": estimator.covariance_type,
                                           "init": "k-means on the columns scaled to unit variance"}
    payload = Payload(
        args.command, f"Hidden Markov model: {k} state(s), {kind} emissions", params, loglik, estimator.n_iter_,
        estimator.result_.n_evaluations, estimator.converged_, columns=names, n_rows=X.shape[0], n_components=k,
        criteria={"bic": estimator.bic(X, lengths), "aic": estimator.aic(X, lengths)},
        settings=fit_settings(args, transmat_prior=args.transmat_prior, **more), labels=states.tolist(), notes=notes,
        extra={"lengths": lengths, "symbols": None if symbols is None else [_plain(s) for s in symbols]})
    if se is not None:
        payload.extra["se_held_fixed"] = held
    n_sequences = 1 if lengths is None else len(lengths)
    lines = {"data": f"{X.shape[0]} rows in {n_sequences} sequence(s) of {args.data}",
             "regularisation": None if symbols is not None else floor.describe(),
             "start": None if symbols is not None else "k-means on the columns scaled to unit variance",
             "se held fixed": "start probabilities (one sequence)" if held else None}
    return emit(args, payload, _tables(estimator, names, symbols, states, se), se, lines=lines)


def _tables(estimator, names, symbols, states, se) -> list[Table]:
    """States (start probability, decoded visits), transition matrix, emission parameters; their
    standard errors with ``--se``."""
    k = estimator.n_components
    labels = [str(i) for i in range(k)]
    visits = np.bincount(states, minlength=k)
    tables = [Table("states", labels, ["start p", "decoded visits"], np.column_stack([estimator.startprob_, visits])),
              Table("transition matrix (row: from, column: to)", labels, labels, estimator.transmat_)]
    if symbols is not None:
        tables.append(Table("emission probabilities (row: state, column: symbol)", labels,
                            [str(s) for s in symbols], estimator.emissionprob_))
    else:
        sd = np.sqrt(np.diagonal(estimator.covars_, axis1=1, axis2=2))
        tables += parameter_tables({"means": estimator.means_, "sd": sd},
                                   {"means": "component-column", "sd": "component-column"},
                                   components=labels, columns=names)
    if se is not None:
        for name, value in se.se.items():
            value = np.asarray(value, dtype=float)
            if value.ndim == 1:
                tables.append(Table(f"se of {name}", labels, ["se"], value[:, None]))
            elif value.ndim == 2:
                columns = labels if name == "transmat" else names if name == "means" else [str(s) for s in symbols or []]
                if len(columns) == value.shape[1]:
                    tables.append(Table(f"se of {name}", labels, columns, value))
    return tables


def _write_plot(args, table, X, names, symbols, lengths, states, posteriors, truth) -> None:
    """``--plot``: each column with the Viterbi path shaded (sequences named by their
    ``--sequence`` value), the ``--label`` states under it, and the posteriors."""
    from ..plotting.hmm import hmm_figure
    from ..plotting.matching import agreement
    from ..plotting.output import save_figure

    sequence_names = None
    if lengths is not None:
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
        sequence_names = [f"{args.sequence} = {value}" for value in table.frame[args.sequence].to_numpy()[starts]]
    note = (f"decoded state matches --label {args.label} for {agreement(truth, states):.1%} of the steps "
            "(states matched to its values)" if truth is not None else "")
    figure = hmm_figure(X, states, posteriors, categorical=args.categorical, feature_labels=names, lengths=lengths,
                        sequence_names=sequence_names, symbols=symbols, truth=truth, truth_label=args.label or "truth",
                        title=f"{args.data}: {args.states}-state HMM, Viterbi path shaded", note=note)
    save_figure(figure, args.plot)


def _plain(symbol):
    """A symbol as JSON holds it (numpy scalars to Python numbers)."""
    return symbol.item() if hasattr(symbol, "item") else symbol
