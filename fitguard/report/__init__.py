"""The doctor's report: matplotlib figures and a self-contained, autoescaped HTML page, and the closing table the
terminal prints; both read a finished run folder's ``summary.json`` alone.

Example:
    >>> from fitguard.report import build_report
    >>> build_report("runs/doctor")          # doctest: +SKIP
    PosixPath('runs/doctor/report.html')
"""

from fitguard.report.html import build_report, render_report
from fitguard.report.terminal import print_outcome

__all__ = ["build_report", "print_outcome", "render_report"]
