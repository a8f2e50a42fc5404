"""``emkit linkage``: the Dempster–Laird–Rubin genetic-linkage multinomial (EM or Monte Carlo EM)."""

from __future__ import annotations

import argparse

from .common import CliError, add_fit_options, parse_count, refuse_given, report, run_fit

LAYOUTS = {"theta": "scalar"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``linkage`` subcommand to the ``emkit`` parser."""
    parser = subparsers.add_parser(
        "linkage", help="genetic-linkage multinomial (Dempster, Laird & Rubin 1977)",
        description="Fit theta in cell probabilities (1/2 + t/4, (1-t)/4, (1-t)/4, t/4). "
                    "Example: emkit linkage 125 18 20 34 [--method mcem --seed 1]")
    parser.add_argument("counts", nargs=4, metavar="COUNT", help="the four cell counts")
    add_fit_options(parser)
    variants = parser.add_argument_group("Monte Carlo EM")
    variants.add_argument("--method", choices=["em", "mcem"], default="em",
                          help="exact EM, or Monte Carlo EM with binomial draws of the split cell (default em)")
    variants.add_argument("--mc-size", type=int, default=100, help="starting number of Monte Carlo draws (default 100)")
    variants.add_argument("--mc-tol", type=float, default=1e-3,
                          help="stop when the upper confidence bound of the Q-increase is below this (default 1e-3)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emkit linkage``: fit, then print the result (exit status 0; bad input raises CliError)."""
    from ..models.grouped_multinomial import genetic_linkage

    counts = [parse_count(c, f"count {i + 1}") for i, c in enumerate(args.counts)]
    title = "Genetic linkage (Dempster, Laird & Rubin 1977)"
    if args.method == "em":
        refuse_given(args, ("mc_size", "mc_tol"), "only used with --method mcem")
        return report(run_fit(genetic_linkage(), counts, args), args, title, LAYOUTS, n_rows=sum(counts),
                      extra={"counts": counts})
    refuse_given(args, ("tol",), "not used by --method mcem, whose stopping rule is --mc-tol")
    if args.accelerate is not None or args.n_init != 1:
        raise CliError("--accelerate and --n-init: not available with --method mcem")
    if args.mc_size < 1:
        raise CliError(f"--mc-size: must be at least 1, got {args.mc_size}")
    if not args.mc_tol > 0:
        raise CliError(f"--mc-tol: must be positive, got {args.mc_tol}")
    from ..variants.mcem import fit_mcem

    args.data = counts
    result = fit_mcem(genetic_linkage(), counts, sample_size=args.mc_size, tol=args.mc_tol, max_iter=args.max_iter,
                      random_state=args.seed, verbose=args.progress)
    lines = {"draws": f"{result.n_draws} in all, {result.sample_sizes[-1]} in the last iteration",
             "Monte Carlo se": f"{result.param_se[-1][0]:.3g} (theta)"}
    summary = result.to_dict()
    mcem = {key: summary[key] for key in ("final_sample_size", "monte_carlo_se", "n_draws")}
    return report(result, args, f"{title}, Monte Carlo EM", LAYOUTS, n_rows=sum(counts),
                  extra={"counts": counts, "mcem": mcem}, lines=lines, figure=_mcem_figure)


def _mcem_figure(result, se, title: str):
    from ..plotting.variants import mcem_figure

    return mcem_figure(result, title=title)
