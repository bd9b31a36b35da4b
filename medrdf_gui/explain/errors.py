"""The error type of the attention-map layer; each message is one sentence for the user."""

from ..robust.errors import EngineError


class ExplainError(EngineError):
    """A Grad-CAM map could not be computed (unknown target layer or class, out of memory, bad setting).

    A subclass of :class:`~medrdf_gui.robust.EngineError` so that the CLI and the GUI worker, which already turn
    engine errors into one line for the user, handle it without a new branch.
    """
