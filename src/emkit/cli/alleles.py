"""``emkit alleles``: allele frequencies by gene counting (peppered moth, ABO blood groups)."""

from __future__ import annotations

import argparse

from .common import CliError, add_fit_options, parse_count, report, run_fit

#: The genetic systems (emkit.models.gene_counting.PRESETS).
SYSTEMS = ("abo", "moth")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``alleles`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "alleles", help="allele frequencies from phenotype counts (gene counting)",
        description="Allele frequencies under Hardy-Weinberg equilibrium by gene counting. "
                    "Example: emkit alleles moth carbonaria=85 insularia=196 typica=341")
    parser.add_argument("system", choices=SYSTEMS, help="genetic system: moth (alleles C > I > T) or abo (A = B > O)")
    parser.add_argument("counts", nargs="+", metavar="PHENOTYPE=COUNT", help="observed phenotype counts")
    add_fit_options(parser, plot_help="write the convergence figure and the EM path on the triangle of allele "
                                      "frequencies")
    parser.set_defaults(func=run)


def parse_phenotype_counts(items: list[str], labels: tuple[str, ...]) -> dict[str, int]:
    """``["A=186", ...]`` to ``{"A": 186, ...}``; unknown or repeated phenotypes are errors."""
    counts: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"counts: expected PHENOTYPE=COUNT, got {item!r}")
        if name not in labels:
            raise CliError(f"counts: unknown phenotype {name!r}; expected one of {', '.join(labels)}")
        if name in counts:
            raise CliError(f"counts: phenotype {name!r} given twice")
        counts[name] = parse_count(value, f"count of {name}")
    return counts


def run(args: argparse.Namespace) -> int:
    """Run ``emkit alleles``: fit, then print the result (exit status 0; bad input raises CliError)."""
    from ..models.gene_counting import PRESETS

    model = PRESETS[args.system]()
    counts = parse_phenotype_counts(args.counts, model.phenotype_labels)
    result = run_fit(model, counts, args)
    return report(result, args, f"Allele frequencies ({args.system}) by gene counting",
                  {allele: "scalar" for allele in model.alleles}, n_rows=sum(counts.values()),
                  extra={"counts": counts}, figure=_figure)


def _figure(result, se, title: str):
    """Convergence panels and the EM path on the triangle of allele frequencies (with the
    confidence region when ``--se`` is given)."""
    from ..plotting.simplex import simplex_convergence_figure

    return simplex_convergence_figure(result, se=se, title=title)
