"""Error types of the robust-inference layer; each message is one sentence for the user."""


class EngineError(Exception):
    """The robust prediction could not run (bad setting, device unavailable, out of memory)."""


class SettingsError(EngineError, ValueError):
    """A setting is outside its valid range."""


class Cancelled(EngineError):
    """The run was cancelled by the user; no result exists."""
