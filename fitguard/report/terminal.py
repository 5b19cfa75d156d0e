"""What ``fitguard doctor`` prints when a run ends: the tested models' figures, the paired tests' words, the verdict.

It reads the run's :class:`~fitguard.summary.Summary` alone, as the HTML report does, so it can print any finished
run folder.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from fitguard.summary import Figure, Summary

#: a run that ends this share or more of its budget early says where the time went
UNUSED_SHARE = 0.1
#: classes whose recall the terminal lists (the report lists every one)
RECALL_CLASSES = 10


def print_outcome(console: Console, summary: Summary, report: Path | None = None) -> None:
    """The closing table of ``fitguard doctor``: both tested models (and the references) with their test figures and
    95% intervals, the paired tests' words, the verdict, the shipped model and the wall time.

    Args:
        console: Where to print.
        summary: The run's summary (:func:`fitguard.summary.load_summary`).
        report: The report's path, printed last; None: not printed.
    """

    test = summary.test
    table = Table(title=f"fitguard doctor: {summary.data.name} ({test.rows} test rows, read once)")
    second = "balanced accuracy" if summary.data.task == "classification" else "R²"
    for header in ("", "test (95% interval)", second, "training rows - test", "parameters"):
        table.add_column(header, justify="left" if not header else "right")
    partner = summary.best.partner if summary.best.partner is not None and summary.best.partner.used else None
    seeds = summary.best.members - (partner is not None)
    mirrored = summary.best.mirror is not None and summary.best.mirror.used
    kept = f"kept: {summary.best.name}" + (" (unscored)" if summary.remedies.unscored else "") + (
        (f" (mean of {seeds} seeds" if seeds > 1 else " (mean") + (f" with {partner.name})" if partner else ")")
        if summary.best.members > 1 else "") + (" (+ mirror views)" if mirrored else "")
    for run, tested, label in ((summary.baseline, test.baseline, "baseline"), (summary.best, test.best, kept)):
        table.add_row(label, _figure_text(tested.figure), _second_figure_text(tested.figure), f"{run.gap:+.4f}",
                      f"{run.parameters:,}")
    for reference in test.references:
        figure = reference.figure
        table.add_row(f"reference: {reference.name}", _figure_text(figure), _second_figure_text(figure), "", "")
    console.print(table)
    recall = test.best.figure.recall
    if recall:
        shown = ", ".join(f"{r.class_name} {r.value:.2f}" if r.value is not None else f"{r.class_name} –"
                          for r in recall[:RECALL_CLASSES])
        more = f", … ({len(recall) - RECALL_CLASSES} more in the report)" if len(recall) > RECALL_CLASSES else ""
        console.print(f"kept model's recall per class: {shown}{more}")
    comparison = test.best_vs_baseline
    console.print(f"kept vs baseline: {comparison.verdict} ({comparison.test}, p = {comparison.p_value:.3g})")
    for reference in test.references:
        versus = reference.best_vs_reference
        console.print(f"kept vs {reference.name}: {versus.verdict} (p = {versus.p_value:.3g})")
    console.print(summary.verdict.sentence)
    console.print(f"shipped model: {summary.best.shipped.note}")
    budget = summary.budget.seconds
    unused = unused_time(summary)
    console.print(f"wall time {summary.timings.total:.0f} s" + (f" of a {budget:g} s budget" if budget else "")
                  + (f"; {unused}" if unused else ""))
    if summary.remedies.replayed:
        console.print(f"resumed: {summary.remedies.replayed} of the {summary.remedies.stored} scored recipes were read "
                      "back from the run's storage (finished before the earlier attempt stopped), not trained again")
    if report is not None:
        console.print(f"report: {report}")


def unused_time(summary: Summary) -> str | None:
    """Where a time budget that the run left :data:`UNUSED_SHARE` or more of went: when the search ended (the phases
    before the final one, summed; and why nothing was searched on the kept recipe, where that is why) and what the
    final phase took -- training as many networks as its forecast let fit, testing them, refitting them on every
    row where that fit (and more seeds there where time was left), saving them. None for a run that used its budget,
    or had none.

    ``make demo`` on this 2-core CPU: "46 s unused: the search ended at 81 s (a complete recipe is kept as given: ...)
    and the final phase took 53 s (2 of --ensemble's 5 networks, what its forecast let fit)", on the terminal's wall
    time line and under the report's timings.

    Args:
        summary: the run's summary.
    """
    budget, total = summary.budget.seconds, summary.timings.total
    if not budget or total > (1 - UNUSED_SHARE) * budget:
        return None
    final = summary.timings.root.get("final", 0.0)
    searched = sum(seconds for phase, seconds in summary.timings.root.items() if phase not in ("final", "total"))
    settled = f" ({summary.remedies.settled})" if summary.remedies.settled else ""
    ensemble, members = summary.options.get("ensemble", 1), summary.best.members
    networks = (f"{members} of --ensemble's {ensemble} networks, what its forecast let fit" if members < ensemble
                else f"all {members} of --ensemble's networks" if members > 1 else "one network")
    shipped = summary.best.shipped.members or members
    if shipped > members:  # seeds the refit on every row added in the time left
        networks = f"{networks}; {shipped} shipped, refit on every row"
    return (f"{budget - total:.0f} s unused: the search ended at {searched:.0f} s{settled} and the final phase took "
            f"{final:.0f} s ({networks})")


def figure_parts(figure: Figure, *, percent: bool = False) -> tuple[str, str]:
    """A test figure and its 95% interval, as text: accuracy (as a share, or with ``percent`` in percent), else RMSE
    where the summary has it, else MSE. The terminal's table joins the two; the report's cards set them apart.

    Args:
        figure: a tested model's test :class:`~fitguard.summary.Figure`.
        percent: accuracy in percent with one decimal (the report's cards); False (default): as a share with three.

    Example:
        >>> from fitguard.summary import Estimate
        >>> accuracy = Figure(metric="accuracy", value=0.975, low=0.953, high=0.987, rows=898, interval="wilson")
        >>> figure_parts(accuracy), figure_parts(accuracy, percent=True)
        (('0.975', '0.953–0.987'), ('97.5%', '95.3–98.7'))
        >>> figure_parts(Figure(metric="mse", value=4.0, low=3.0, high=5.5, rows=100, interval="bootstrap",
        ...                     rmse=Estimate(value=2.0, low=1.7320508, high=2.3452079)), percent=True)
        ('RMSE 2', '1.732–2.345')
    """
    if figure.metric == "accuracy":
        if percent:
            return f"{100 * figure.value:.1f}%", f"{100 * figure.low:.1f}–{100 * figure.high:.1f}"
        return f"{figure.value:.3f}", f"{figure.low:.3f}–{figure.high:.3f}"
    if figure.rmse is not None:
        rmse = figure.rmse
        return f"RMSE {rmse.value:.4g}", f"{rmse.low:.4g}–{rmse.high:.4g}"
    return f"MSE {figure.value:.4g}", f"{figure.low:.4g}–{figure.high:.4g}"


def _figure_text(figure: Figure) -> str:
    return "{} ({})".format(*figure_parts(figure))


def _second_figure_text(figure: Figure) -> str:
    """Balanced accuracy (classification) or R² (regression) with its interval; a dash in older summaries."""
    second = figure.balanced_accuracy or figure.r2
    return "–" if second is None else f"{second.value:.3f} ({second.low:.3f}–{second.high:.3f})"
