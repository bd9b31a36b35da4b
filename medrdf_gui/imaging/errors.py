"""The one error type of the imaging layer.

Its message is a single sentence a radiologist can act on, and never contains patient identifiers: the loader
builds messages from fixed text and non-identifying facts (file size, transfer syntax, SOP class) only.
"""


class StudyLoadError(Exception):
    """A file could not be turned into a :class:`~medrdf_gui.imaging.study.Study`."""
