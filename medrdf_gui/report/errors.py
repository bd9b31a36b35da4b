"""The error type of the report layer."""


class ReportError(Exception):
    """The PDF report could not be written; the message is one line that names the path."""
