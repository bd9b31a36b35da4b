"""The one error type of the model layer; messages name the file at fault, never a patient."""


class ModelLoadError(Exception):
    """A model card or its weights could not be found, verified or loaded."""


class ModelNotFoundError(ModelLoadError):
    """No card exists under the given name or path (a usage error rather than a damaged model)."""
