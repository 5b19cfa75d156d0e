"""What the doctor is doing now: phase, candidate, fold and epoch, the best score so far and the time left.

On a terminal this is one live rich display (a bar per phase, a status line under it). When the output is not a
terminal (a log file, CI) it is one line per finished phase; ``quiet`` silences both.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fitguard.train import Callback


class EpochTicker(Callback):
    """Tells the display every finished epoch of whatever is training.

    Args:
        display: the run's :class:`DoctorProgress`.
    """

    def __init__(self, display: DoctorProgress) -> None:
        self.display = display

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        self.display.epoch(epoch, trainer.max_epochs)


#: why a phase that trained nothing did not, unless told otherwise (:meth:`DoctorProgress.nothing_to_do`)
NO_TIME = "no time left in its share"


class DoctorProgress:
    """The live display of one doctor run (a context manager). ``deadline`` is the run's deadline
    (``time.perf_counter`` units, inf without a time budget), for the time-left column.

    Args:
        console: the rich console to draw on.
        quiet: draw nothing.
        started: the run's start, in ``time.perf_counter`` units.
        deadline: the run's deadline in those units (inf without a time budget).
    """

    def __init__(self, console: Console, *, quiet: bool, started: float, deadline: float) -> None:
        self.console, self.quiet, self.started, self.deadline = console, quiet, started, deadline
        self.live = not quiet and console.is_terminal
        self.progress = Progress(TextColumn("{task.description:<20}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=console,
                                 disable=not self.live)
        self.task: Any = None
        self.name = ""
        self.phase_started = started
        self.best: str = ""
        self.where = ""
        self.why_none = ""  # why the phase in progress trains nothing, when it is not the budget
        self.why_later = ""  # the same for every later phase
        self.ticker = EpochTicker(self)

    def __enter__(self) -> DoctorProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._close_phase()
        self.progress.__exit__(*exc)

    def _left(self) -> str:
        if math.isinf(self.deadline):
            return ""
        left = max(0.0, self.deadline - time.perf_counter())
        return f" · {left:.0f} s left"

    def _close_phase(self) -> None:
        if self.task is None:
            return
        task = self.progress.tasks[self.task]
        why = self.why_none or self.why_later
        outcome = f"done{self._best_text()}" if task.completed else f"skipped: {why or NO_TIME + ' of the budget'}"
        self.progress.update(self.task, total=task.completed, status=outcome)
        if not self.quiet and not self.live:
            seconds = time.perf_counter() - self.phase_started
            self.console.print(f"{self.name}: {task.completed:g} done in {seconds:.0f} s"
                               f"{self._best_text() if task.completed else f' ({why or NO_TIME})'}"
                               f"{self._left()}", highlight=False, soft_wrap=True)  # one log line, unwrapped
        self.task, self.why_none = None, ""

    def nothing_to_do(self, why: str, later: str = "") -> None:
        """Say why the phase in progress trains nothing, when it is not the budget (shown as it closes), and why
        every later phase that trains nothing does not.

        Args:
            why: the reason, in a few words.
            later: the later phases' reason; "" (default): the one given before, if any (else the budget's).
        """
        self.why_none, self.why_later = why, later or self.why_later

    def _best_text(self) -> str:
        return f" · best so far {self.best}" if self.best else ""

    def phase(self, name: str, total: int | None) -> None:
        """A new phase of ``total`` steps (None: unknown) begins; the previous one is done.

        Args:
            name: the phase's name.
            total: its steps; None: unknown.
        """
        self._close_phase()
        self.name, self.phase_started, self.where = name, time.perf_counter(), ""
        self.task = self.progress.add_task(name, total=total, status="")

    def candidate(self, name: str, fold: int | None = None, folds: int | None = None) -> None:
        """Which recipe (and fold) trains now.

        Args:
            name: the recipe's name.
            fold: the fold being trained, from 1; None (default): no folds.
            folds: the number of folds.
        """
        self.where = name if fold is None else f"{name} · fold {fold}/{folds}"
        self._show("")

    def epoch(self, epoch: int, max_epochs: int) -> None:
        """Show the epoch a training has reached.

        Args:
            epoch: the epoch just finished.
            max_epochs: the training's epoch limit.
        """
        self._show(f" · epoch {epoch}/{max_epochs}")

    def _show(self, tail: str) -> None:
        if self.task is not None and self.live:
            self.progress.update(self.task, status=f"{self.where}{tail}{self._best_text()}{self._left()}")

    def tick(self) -> None:
        """One step of the phase done (``best``, the best score so far as it should be shown, is set by the
        caller as scores come in)."""
        if self.task is not None:
            self.progress.advance(self.task)
