"""Running an analysis off the GUI thread: the request, the worker on its QThread, progress and time left."""
