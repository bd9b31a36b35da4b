"""The side panels of the main window: study information, tags, settings, results and attention maps."""
