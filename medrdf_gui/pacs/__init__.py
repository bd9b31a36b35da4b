"""PACS: query, retrieve into a cache, and file results back — DICOM networking with pynetdicom, result objects
with highdicom. No Qt: the viewer adds a dialog and a worker (``app/dialogs/pacs_*``), the CLI ``medrdf pacs``.

One error type, :class:`PacsError`, whose message is the sentence to show (``kind`` tells failures apart).
"""

from .cache import SeriesStore, default_cache_root
from .cancel import CancelToken
from .errors import PacsCancelled, PacsError
from .query import FindResult, SeriesMatch, StudyMatch, StudyQuery, echo, find_series, find_studies
from .retrieve import Retrieved, retrieve_series, retrieve_study
from .send import SendReceipt, send_result, source_is_deidentified
from .servers import PacsConfig, Server, load_config, parse_address, save_config

__all__ = ["CancelToken", "FindResult", "PacsCancelled", "PacsConfig", "PacsError", "Retrieved", "SendReceipt",
           "SeriesMatch", "SeriesStore", "Server", "StudyMatch", "StudyQuery", "default_cache_root", "echo",
           "find_series", "find_studies", "load_config", "parse_address", "retrieve_series", "retrieve_study",
           "save_config", "send_result", "source_is_deidentified"]
