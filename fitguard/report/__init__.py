"""The doctor's report: matplotlib figures and a self-contained, autoescaped HTML page.

Example:
    >>> from fitguard.report import build_report
    >>> build_report("runs/doctor")          # doctest: +SKIP
    PosixPath('runs/doctor/report.html')
"""

from fitguard.report.html import build_report, render_report

__all__ = ["build_report", "render_report"]
