"""``fitguard doctor``: from data to the best-generalizing model, with the evidence.

Example:
    >>> from fitguard.doctor import DoctorOptions, run_doctor
    >>> run_dir = run_doctor(DoctorOptions(budget=20, epochs=30, out="runs/quick"))   # doctest: +SKIP
    >>> from fitguard.report import build_report                # the report layer draws it, as the command does
    >>> build_report(run_dir)                                                          # doctest: +SKIP
    PosixPath('runs/quick/report.html')
    >>> fitguard.load(run_dir, stem="best").predict(raw_rows)                          # doctest: +SKIP
"""

from fitguard.doctor.options import DoctorOptions, parse_budget
from fitguard.doctor.pipeline import run_doctor
from fitguard.doctor.summary import SCHEMA_PATH, read_summary, validate

__all__ = ["SCHEMA_PATH", "DoctorOptions", "parse_budget", "read_summary", "run_doctor", "validate"]
