"""What the command line says on standard error: one-line errors and warnings in the words of the
command line (its options, not the Python API's keywords), never longer than :data:`MAX_LINE`.

The library's messages name API arguments (``tol: must be ...``, ``increase max_iter``); here
they are translated to the options of the subcommand that runs (``--tol``, ``--max-iter``), and
long lists of values in them are abbreviated.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator, Sequence

#: The longest line an error or a warning prints (characters, before the ``emkit CMD:`` prefix).
MAX_LINE = 200

#: List items shown before ``...`` in an abbreviated list.
LIST_ITEMS = 4

#: API keywords whose command-line option has another name (``name`` becomes ``--name`` otherwise).
API_OPTIONS = {"n_components": "-k", "n_iter": "--max-iter", "random_state": "--seed", "X": "DATA",
               "data": "DATA"}

#: Remedies in API words, and what a command-line user does instead (applied in this order).
CLI_REMEDIES = (
    (r" \(tol=[^)]*\)", ""),   # the CLI's --tol may be scaled (per row) before it reaches the API
    (r"accelerate='squarem'|accelerate=\"squarem\"", "--accelerate squarem"),
    (r"\(pass fit_options=\{'max_iter': \.\.\.\} or \{'accelerate': 'squarem'\}\)",
     "(raise --max-iter, or use --accelerate squarem)"),
    (r"\(loosen stab_tol, or check the fit converged tightly\)", "(refit with a smaller --tol)"),
    (r"refit with a smaller tol, or use method='louis' or 'hessian'", "refit with a smaller --tol, or use --se hessian"),
    (r"use method='bootstrap' \(with care\), or a model without that parameter",
     "use --se bootstrap (with care), or fewer components or states"),
    (r"Try different init parameters, or increase max_iter, tol, or check for degenerate data\.",
     "Raise --max-iter, loosen --tol, or try --accelerate squarem, more starts (--n-init) or another --seed."),
    (r"give init values or fewer states", "use fewer states (-k) or another --seed"),
    (r"; implement that hook of EMModel, or use method='hessian' \(any model\)", "; use --se hessian or bootstrap"),
    (r"(?:\w+: )?Expected n_samples >= n_components but got n_components = (\d+), n_samples = (\d+)",
     r"-k: \1 components need at least \1 observations, got \2"),
    (r"^init\['(\w+)'\]", r"start_\1"),
    (r"standard_errors(\([^)]*\))?: ", ""),
    (r"result: (the estimate is on the boundary of the parameter space \([^)]*\)), where the information is not that "
     r"of an interior maximum and", r"\1, where"),
    (r"the objective of [A-Z]\w* fell", "the objective fell"),
    (r"the E- or M-step of [A-Z]\w* is wrong", "the E- or M-step is wrong"),
    (r"\b(\d+ )?complete rows cannot start", r"\1rows with an observed value cannot start"),
    (r"method='(\w+)'", r"--se \1"),
    (r"method=(\w+)\b", r"--se \1"),
)


def shown(names: Sequence, most: int = 8) -> str:
    """``names`` joined by commas, at most ``most`` of them (then ``..., (N in all)``)."""
    text = ", ".join(str(name) for name in names[:most])
    return text + (f", ... ({len(names)} in all)" if len(names) > most else "")


def abbreviated(text: str, most: int = MAX_LINE) -> str:
    """``text`` on one line, its long bracketed lists (``[1.0, 2.0, ...]``, also nested) cut to
    their first :data:`LIST_ITEMS` items, and the whole cut at ``most`` characters."""
    text = " ".join(str(text).split())
    if len(text) <= most:
        return text
    text = re.sub(r"\[([^\[\]]*)\]", _short_list, text)          # innermost lists first
    text = re.sub(r"\[((?:\[[^\[\]]*\],?\s*)+)\]", _short_list, text)   # then lists of lists
    return text if len(text) <= most else text[:most - 4].rstrip() + " ..."


def _short_list(match: re.Match) -> str:
    items = re.findall(r"\[[^\[\]]*\]|[^,\s][^,]*", match.group(1))
    if len(items) <= LIST_ITEMS + 1:
        return match.group(0)
    return "[" + ", ".join(item.strip() for item in items[:LIST_ITEMS]) + f", ... ({len(items)} in all)]"


def in_cli_words(text: str, parser: argparse.ArgumentParser | None) -> str:
    """``text`` (a library message) in the words of ``parser``'s command line: a leading
    ``argument:`` and ``argument=value`` become the subcommand's option, and API remedies the
    command line's; then :func:`abbreviated`."""
    text = str(text)
    for pattern, replacement in CLI_REMEDIES:
        text = re.sub(pattern, replacement, text)
    options = _options(parser)

    def option(name: str) -> str | None:
        name = API_OPTIONS.get(name, "--" + name.replace("_", "-"))
        return name if name in options or name == "DATA" else None

    head = re.match(r"([a-z]\w*|X)(\[[^\]]*\])?: ", text)
    if head and option(head.group(1)):
        text = option(head.group(1)) + text[len(head.group(1)):]
    text = re.sub(r"\b([a-z]\w*)=([^\s,;)]+)",
                  lambda m: f"{option(m.group(1))} {m.group(2)}" if option(m.group(1)) else m.group(0), text)
    text = re.sub(r"\b(increase|loosen|raise|use|larger|smaller) ([a-z]\w*)\b",
                  lambda m: f"{m.group(1)} {option(m.group(2))}" if option(m.group(2)) else m.group(0), text)
    text = re.sub(r"(?<![-\w])([a-z]+(?:_[a-z]+)+)\b", lambda m: option(m.group(1)) or m.group(0), text)
    return abbreviated(text)


def collapse_line(text: str) -> str:
    """A :class:`~emkit.exceptions.RegularizationWarning` for the command line: which components
    collapsed and what the user can do (the API's message names a prior the CLI does not offer)."""
    found = re.findall(r"(component|state) (\d+) collapsed", text)
    kind = found[0][0] if found else "component"
    which = f"{kind}s {', '.join(dict.fromkeys(j for _, j in found))}" if found else "a component"
    return (f"{which} collapsed onto single points or a line (variances on the --reg-covar floor); use fewer "
            f"{kind}s (-k) or another --reg-covar")


def _options(parser: argparse.ArgumentParser | None) -> set[str]:
    if parser is None:
        return set()
    return {name for action in parser._actions for name in action.option_strings}


@contextmanager
def warnings_as_lines(parser: argparse.ArgumentParser | None) -> Iterator[None]:
    """While the command runs, each warning prints as one line ``emkit: warning: ...`` in the
    command line's words (:func:`in_cli_words`), once per message (numbers aside), without the
    Python source line."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        from ..exceptions import RegularizationWarning

        text = collapse_line(str(message)) if issubclass(category, RegularizationWarning) else str(message)
        text = in_cli_words(text, parser)
        key = re.sub(r"[-+]?\d[\d.eE+-]*", "#", text)
        if key not in seen:
            seen.add(key)
            print(f"emkit: warning: {text}", file=file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
