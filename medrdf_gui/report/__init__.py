"""The PDF report of one MedRDF result (no Qt): matplotlib's PDF backend, written atomically."""

from .errors import ReportError
from .naming import report_path_for, check_report_target
from .writer import render_report, write_atomically, write_report

__all__ = ["ReportError", "check_report_target", "render_report", "report_path_for", "write_atomically", "write_report"]
