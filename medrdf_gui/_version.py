"""Single source of the application version (also read by pyproject via the package metadata)."""

__version__ = "0.1.0"
