"""Dialogs: About and Export report."""
