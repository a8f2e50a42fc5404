"""``emkit classify``: Gaussian mixture discriminant analysis (mclust's MclustDA and EDDA).

Example: ``emkit classify train.csv --class species --predict new.csv --cv 10`` fits a mixture per
class of the training file's numeric columns (:class:`~emkit.MixtureDiscriminant`), prints the
classes' models, the training error and, with ``--cv``, the cross-validated error, and classifies
the rows of ``--predict`` (with their error when that file has the class column too).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..kernels.covariance_types import COVARIANCE_TYPES, KNOWN_COVARIANCE_TYPES
from .common import CliError, check_rows, refuse_given
from .output import Payload, Table, render_tables, summary_lines
from .table_input import add_input_options, read_table, shown
from .units import add_reg_covar_option, covariance_floor

MODEL_TYPES = ("MclustDA", "EDDA")


def register(subparsers) -> None:
    """Add the ``classify`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "classify", help="classification by a Gaussian mixture per class (mclust's MclustDA, EDDA)",
        description="Fit a Gaussian mixture to the rows of each class of a CSV or Parquet file "
                    "(emkit.MixtureDiscriminant: MclustDA chooses each class's number of components and covariance "
                    "model by BIC; EDDA one Gaussian per class with a common covariance model) and classify new rows. "
                    "Example: emkit classify train.csv --class species --predict new.csv --cv 10")
    parser.add_argument("data", metavar="TRAIN", help="CSV file with a header row, or Parquet file, of training rows")
    parser.add_argument("--class", "--y", dest="class_column", required=True, metavar="COLUMN",
                        help="column of the training rows' classes (any values; not a feature)")
    parser.add_argument("--predict", metavar="FILE",
                        help="rows to classify (the same feature columns; its class column, if any, gives the "
                             "test error)")
    add_input_options(parser)
    model = parser.add_argument_group("model")
    model.add_argument("--model-type", choices=MODEL_TYPES, default="MclustDA",
                       help="a mixture per class, or one Gaussian per class (default: %(default)s)")
    model.add_argument("-k", "--components", metavar="A:B",
                       help="MclustDA's candidate components per class, A..B or one number (default: 1:5, mclust's)")
    model.add_argument("--covariance",
                       help=f"candidate covariance models, comma-separated ({', '.join(COVARIANCE_TYPES)} or "
                            "mclust's names), or 'all' (default: spherical, diag, tied and full)")
    add_reg_covar_option(model)
    fitting = parser.add_argument_group("fitting")
    fitting.add_argument("--tol", type=float, default=1e-3, help="EM's tolerance per mixture (default: %(default)s)")
    fitting.add_argument("--max-iter", type=int, default=100, help="EM iterations per mixture (default: %(default)s)")
    fitting.add_argument("--seed", type=int, default=0, help="seed of the starts and folds (default: %(default)s)")
    fitting.add_argument("--cv", type=int, metavar="FOLDS",
                         help="cross-validated error over FOLDS balanced folds (mclust's cvMclustDA)")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    output.add_argument("--progress", action="store_true", help="show progress on standard error")
    parser.set_defaults(func=run)


def _components(text: str | None) -> list[int] | None:
    if text is None:
        return None
    low, sep, high = text.partition(":")
    try:
        first, last = (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise CliError(f"-k: expected A:B or a number (e.g. 1:5), got {text!r}") from None
    if first < 1 or last < first:
        raise CliError(f"-k: expected 1 <= A <= B, got {text!r}")
    return list(range(first, last + 1))


def _covariances(text: str | None) -> list[str] | None:
    if text is None:
        return None
    types = list(COVARIANCE_TYPES) if text == "all" else [t.strip() for t in text.split(",")]
    bad = [t for t in types if t not in KNOWN_COVARIANCE_TYPES]
    if bad or not types:
        raise CliError(f"--covariance: expected {', '.join(KNOWN_COVARIANCE_TYPES)} or all, got {text!r}")
    return types


def run(args: argparse.Namespace) -> int:
    """Read the training rows, fit the classes' densities, report them, classify ``--predict``."""
    if args.model_type == "EDDA":
        refuse_given(args, ("components",), "EDDA fits one Gaussian per class; -k is MclustDA's")
    components, types = _components(args.components), _covariances(args.covariance)
    if args.max_iter < 1:
        raise CliError(f"--max-iter: must be at least 1, got {args.max_iter}")
    if not 0 <= args.tol < np.inf:
        raise CliError(f"--tol: must be a non-negative number, got {args.tol}")
    if args.cv is not None and args.cv < 2:
        raise CliError(f"--cv: the number of folds must be at least 2, got {args.cv}")
    table = read_table(args.data, args.sep, args.encoding)
    if args.class_column not in table.columns:
        raise CliError(f"--class: no column {args.class_column!r} in {args.data} (columns: {shown(table.columns)})")
    header, X = table.numeric(args.columns, exclude=(args.class_column,))
    if args.class_column in header:
        raise CliError(f"--class: column {args.class_column!r} is also in --columns; the class is not a feature")
    y = _classes(table, args.class_column, args.data)
    if np.isnan(X).any():
        raise CliError(f"DATA: {args.data} has missing cells; discriminant analysis needs complete training rows")
    check_rows(X, 2, "--class", "rows", args.data)
    test = _test_rows(args, header) if args.predict else None

    from ..estimators.mixture_discriminant import MixtureDiscriminant

    floor = covariance_floor(X, args.reg_covar)
    classifier = MixtureDiscriminant(args.model_type, n_components=components, covariance_type=types,
                                     reg_covar=floor.value, tol=args.tol, max_iter=args.max_iter,
                                     random_state=args.seed).fit(X, y)
    training_error = float(np.mean(classifier.predict(X) != y))
    cv = (classifier.cv_error(X, y, args.cv, random_state=args.seed, verbose=args.progress)
          if args.cv is not None else None)
    classes = [str(c) for c in classifier.classes_]
    counts = [int(np.sum(y == c)) for c in classifier.classes_]
    summary = {"training error": f"{training_error:.4g} ({int(round(training_error * len(y)))} of {len(y)} rows)",
               "cross-validated error": None if cv is None else f"{cv.error:.4g} (se {cv.se:.3g}, {cv.n_folds} folds)"}
    extra = {"model_type": args.model_type, "classes": classes, "training_error": training_error,
             "cv_error": None if cv is None else {"error": cv.error, "se": cv.se, "n_folds": cv.n_folds}}
    tables = [Table("classes", classes, ["prior", "training rows", "components"],
                    np.column_stack([classifier.class_priors_, counts, classifier.n_components_]))]
    if test is not None:
        rows, truth = test
        probabilities = classifier.predict_proba(rows)
        predicted = classifier.classes_[np.argmax(probabilities, axis=1)]
        extra["predictions"] = [str(c) for c in predicted]
        extra["probabilities"] = probabilities.tolist()
        if truth is not None:
            extra["test_error"] = float(np.mean(predicted.astype(str) != truth))
            summary["test error"] = f"{extra['test_error']:.4g} ({int(np.sum(predicted.astype(str) != truth))} " \
                                    f"of {len(truth)} rows of {args.predict})"
        tables.append(Table(f"class probabilities of the rows of {args.predict} (row: predicted class)",
                            [f"{i}: {c}" for i, c in enumerate(predicted)], classes, probabilities))
    loglik = float(np.sum(classifier.score_samples(X)))
    payload = Payload(args.command, f"Mixture discriminant analysis ({args.model_type}): {len(classes)} classes",
                      {"class_priors": classifier.class_priors_.tolist(),
                       "n_components": classifier.n_components_.tolist(),
                       "covariance_types": list(classifier.covariance_types_)},
                      loglik, int(np.sum(classifier.n_iter_)), int(np.sum(classifier.n_iter_)),
                      all(m.converged_ for m in classifier.models_), columns=header, n_rows=len(y),
                      settings={"tol": args.tol, "max_iter": args.max_iter, "seed": args.seed,
                                **floor.settings()},
                      extra=extra)
    if args.json:
        payload.write()
        return 0
    print(payload.model)
    print()
    print(render_tables(tables))
    print()
    covariance = ", ".join(f"{c}: {t}" for c, t in zip(classes, classifier.covariance_types_))
    print(summary_lines({"data": f"{len(y)} rows x {len(header)} columns of {args.data}",
                         "covariance models": covariance, "log-likelihood": f"{loglik:.10g}", **summary}))
    return 0


def _classes(table, column: str, path: str) -> np.ndarray:
    """The class column as text; a missing cell is an error naming its line."""
    values = table.frame[column]
    if values.isna().any():
        raise CliError(f"--class: column {column!r} of {path} has a missing cell (line {int(np.argmax(values.isna())) + 2})")
    classes = values.astype(str).to_numpy()
    if len(np.unique(classes)) < 2:
        raise CliError(f"--class: column {column!r} of {path} holds one class; classification needs at least two")
    return classes


def _test_rows(args: argparse.Namespace, header: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """``--predict``'s feature columns (those of the training file) and its classes, if it has them."""
    table = read_table(args.predict, args.sep, args.encoding)
    missing = [name for name in header if name not in table.columns]
    if missing:
        raise CliError(f"--predict: {args.predict} lacks the training column(s) {shown(missing)}")
    _, rows = table.numeric(",".join(header))
    if np.isnan(rows).any():
        raise CliError(f"--predict: {args.predict} has missing cells; give complete rows to classify")
    truth = table.frame[args.class_column].astype(str).to_numpy() if args.class_column in table.columns else None
    return rows, truth
