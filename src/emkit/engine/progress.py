"""One progress display for a whole piece of work: a command, a fit, a model selection, a bootstrap.

A :class:`Progress` owns one display on standard error and a stack of open *stages*, each with a
label, a count and an optional total: reading a file, "start 2/5", "initialisation", "k-means", "EM Gaussian mixture (full, k=5)", "fit 7/36: k=3 diag", "bootstrap (nonparametric)".
Nested stages update the same display: its text is the path of the open stages
(``fit 7/36: k=3 diag › EM Gaussian mixture (diag, k=3)``), its counter the innermost stage's.
A stage that ends normally ends complete (its total set to its count: 100%, the final
iteration count), with its outcome (``converged``) and last note (the relative change against
``tol``).

* On a terminal (or in a notebook) the display is one tqdm line that updates, cleared when the
  outermost stage ends (so that what the command prints next starts on a clean line).
* Anywhere else (a file, a pipe, a log) each stage that counted something or opened no
  sub-stage writes one line when it ends: its path, count, outcome, note and time.

Every driver that takes ``verbose`` (:func:`emkit.fit`, the variants, the estimators'
``progress``, :func:`emkit.gmm_select`, :func:`emkit.standard_errors`) resolves it with
:meth:`Progress.of`: True makes a new display, False or None none, and a Progress shares that
display. The resolved display is also the *active* one for the driver's block
(:func:`active`), so that code without a ``verbose`` argument (the k-means that starts a
mixture, the CLI's reading of a file) reports to it; ``verbose=False`` silences that code too.
Without a display every method returns at once: the cost is nil.
"""

from __future__ import annotations

import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import IO, Any, Iterator

#: Between the labels of nested stages in the display.
SEPARATOR = " › "


class _Stage:
    """One open stage: what it counts, how far it is, what it last said."""

    __slots__ = ("label", "total", "unit", "count", "note", "outcome", "started", "nested")

    def __init__(self, label: str, total: int | None, unit: str | None) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.count = 0
        self.note = ""
        self.outcome = ""
        self.started = time.time()
        self.nested = False

    def postfix(self) -> str:
        return ", ".join(text for text in (self.outcome, self.note) if text)


class Progress:
    """One progress display (see the module): ``stage(label, total)`` opens a nested stage,
    ``advance()`` counts in the innermost one, ``note()`` and ``conclude()`` say how it goes.

    Parameters
    ----------
    file : text stream, optional
        Where the display goes; standard error (as it is when the Progress is made) by default.
        A terminal gets a live line, anything else one line per finished stage.
    enabled : bool
        False makes a display that shows nothing (what ``verbose=False`` gives).
    """

    def __init__(self, file: IO[str] | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.file = sys.stderr if file is None and enabled else file
        self._stages: list[_Stage] = []
        self._live: bool | None = None   # whether ``file`` is a terminal, once asked
        self._bar: Any = None   # the live tqdm line while a stage is open on a terminal
        self._shown_warning: Any = None   # warnings.showwarning while the live line holds it

    def __bool__(self) -> bool:
        return self.enabled

    def __deepcopy__(self, memo: dict) -> Progress:
        return self   # a display is shared, not copied (scikit-learn's clone deep-copies parameters)

    def __reduce__(self):
        return _display, (self.enabled,)   # in another process: a display on its standard error

    def __repr__(self) -> str:
        if not self.enabled:
            return "Progress(enabled=False)"
        return f"Progress(file={getattr(self.file, 'name', self.file)!r})"

    # ------------------------------------------------------------------ resolving ``verbose``
    @classmethod
    @contextmanager
    def of(cls, verbose: bool | Progress | None) -> Iterator[Progress]:
        """The display a ``verbose`` argument asks for, active (:func:`active`) for the block:
        a Progress is shared as it is, True makes a new one (closed at the end of the block),
        False or None gives the silent one."""
        if isinstance(verbose, Progress):
            progress, own = verbose, False
        elif verbose:
            progress, own = cls(), True
        else:
            progress, own = SILENT, False
        token = _ACTIVE.set(progress)
        try:
            yield progress
        finally:
            _ACTIVE.reset(token)
            if own:
                progress.close()

    # --------------------------------------------------------------------------- stages
    @contextmanager
    def stage(self, label: str, total: int | None = None, unit: str | None = None) -> Iterator[Progress]:
        """Open a stage inside the current one for the block; yields this Progress.

        ``unit``: what it counts, in the singular (None: it counts nothing, e.g. reading a file
        or a stage that only holds sub-stages); ``total``: the count at which it is complete
        (None: unknown). A stage opened with the label of the innermost open stage continues
        that stage (its count and time) instead of nesting, so a caller may open a driver's
        stage around the driver and count steps of its own in it. A stage that ends without an
        error ends complete: its total becomes its count.
        """
        if not self.enabled or (self._stages and self._stages[-1].label == label):
            yield self
            return
        if self._stages:
            self._stages[-1].nested = True
        stage = _Stage(label, total, unit)
        self._stages.append(stage)
        self._render(new_stage=True)
        failed = True
        try:
            yield self
            failed = False
        finally:
            self._end(stage, failed)

    def advance(self, count: int = 1, note: str | None = None) -> None:
        """Count ``count`` more in the innermost stage (and replace its note, when given)."""
        if not self._stages:
            return
        stage = self._stages[-1]
        stage.count += count
        if note is not None:
            stage.note = note
        if self._bar is not None:
            if note is not None:
                self._bar.set_postfix_str(stage.postfix(), refresh=False)
            self._bar.update(count)

    def note(self, text: str) -> None:
        """Replace the innermost stage's note (e.g. the current log-likelihood and its change)."""
        if self._stages:
            self._stages[-1].note = text
            self._render()

    def conclude(self, outcome: str) -> None:
        """The innermost stage's outcome (e.g. "converged"), shown before its note."""
        if self._stages:
            self._stages[-1].outcome = outcome
            self._render()

    def close(self) -> None:
        """Clear the live line, if any (stages still open are abandoned)."""
        self._stages.clear()
        if self._bar is not None:
            self._close_bar()

    def _close_bar(self) -> None:
        self._bar.close()
        self._bar = None
        if warnings.showwarning == self._warning_above_line:
            warnings.showwarning = self._shown_warning

    # ------------------------------------------------------------------------ the display
    @property
    def live(self) -> bool:
        """Whether the display is a live line (a terminal, or a notebook's standard error)."""
        if self._live is None:
            try:
                self._live = bool(self.file.isatty()) or (self.file is sys.stderr and "ipykernel" in sys.modules)
            except (AttributeError, ValueError):
                self._live = False
        return self._live

    def _path(self) -> str:
        return SEPARATOR.join(stage.label for stage in self._stages)

    def _render(self, new_stage: bool = False) -> None:
        """Show the innermost stage on the live line (a new stage restarts the counter)."""
        if not self._stages or not self.live:
            return
        stage = self._stages[-1]
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(file=self.file, leave=False, dynamic_ncols=True, smoothing=0,   # rates over the stage
                             initial=stage.count, postfix=stage.postfix() or None, **self._settings(stage))
            self._shown_warning = warnings.showwarning
            warnings.showwarning = self._warning_above_line
            return
        if new_stage:
            self._show(stage)
            return
        self._bar.set_postfix_str(stage.postfix(), refresh=False)
        self._bar.refresh()

    def _warning_above_line(self, *args: Any, **kwargs: Any) -> None:
        """A warning while the live line shows: the line steps aside for it, then comes back."""
        with self._bar.external_write_mode(file=self.file):
            self._shown_warning(*args, **kwargs)

    def _settings(self, stage: _Stage) -> dict[str, Any]:
        """The live line's description, total, unit and format for ``stage``."""
        return {"desc": self._path(), "total": stage.total, "unit": f" {_plural(stage.unit or 'step', 2)}",
                "bar_format": None if stage.unit else "{desc} [{elapsed}{postfix}]"}

    def _show(self, stage: _Stage) -> None:
        """Point the live line at ``stage`` (its description, counter, total, unit and time)."""
        bar = self._bar
        for name, value in self._settings(stage).items():
            setattr(bar, name, value)
        bar.set_postfix_str(stage.postfix(), refresh=False)
        bar.n = bar.last_print_n = stage.count
        bar.start_t = bar.last_print_t = stage.started
        bar.refresh()

    def _end(self, stage: _Stage, failed: bool) -> None:
        """Close ``stage``: complete it, write its line (not live, when it counted something or
        had no sub-stage), then show its parent again or, at the outermost stage, clear the
        live line."""
        if failed:
            stage.outcome = "stopped by an error"
        elif stage.count:
            stage.total = stage.count
        if self._bar is not None:
            self._show(stage)
        elif stage.count or not stage.nested:
            print(self._line(stage), file=self.file, flush=True)
        self._stages.pop()
        if self._bar is not None:
            if self._stages:
                self._show(self._stages[-1])
            else:
                self._close_bar()

    def _line(self, stage: _Stage) -> str:
        """``path: count unit, outcome, note, in time`` of a finished stage."""
        parts = []
        if stage.unit:
            count = f"{stage.count}" if stage.total is None else f"{stage.count}/{stage.total}"
            parts.append(f"{count} {_plural(stage.unit, stage.count)}")
        parts += [text for text in (stage.outcome, stage.note) if text] or (["done"] if not parts else [])
        parts.append(f"in {_duration(time.time() - stage.started)}")
        return f"{self._path()}: {', '.join(parts)}"


#: The display that shows nothing (``verbose=False``).
SILENT = Progress(enabled=False)

_ACTIVE: ContextVar[Progress] = ContextVar("emkit_progress", default=SILENT)


def active() -> Progress:
    """The display of the innermost :meth:`Progress.of` block (the silent one outside any):
    for code that reports progress without a ``verbose`` argument of its own."""
    return _ACTIVE.get()


def _display(enabled: bool) -> Progress:
    return Progress() if enabled else SILENT


def restart_stage(progress: Progress, index: int, n_init: int):
    """The stage ``start i/n`` of restart ``index`` (from 0) when there are several starts
    (no stage for a single start)."""
    return progress.stage(f"start {index + 1}/{n_init}") if n_init > 1 else nullcontext()


def _plural(unit: str, count: int) -> str:
    if count == 1:
        return unit
    return unit + ("es" if unit.endswith(("ch", "sh", "s", "x")) else "s")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
