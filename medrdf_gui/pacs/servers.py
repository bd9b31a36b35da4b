"""PACS servers: the address of one (``Server``) and the app's list of them (``PacsConfig``).

A server is written ``AET@host:port`` on the command line (``ORTHANC@127.0.0.1:4242``), or named by an entry of the
configuration. The configuration is one small JSON file, shared by the viewer's Open-from-PACS dialog and the
``medrdf pacs`` command line, so that a hospital's IT department can deploy it to every workstation:

    {"calling_aet": "MEDRDF", "timeout_s": 30, "cache_limit_mb": 2048,
     "servers": [{"name": "main", "ae_title": "PACS1", "host": "pacs.hospital.example", "port": 104}]}

Location: ``$MEDRDF_PACS_CONFIG``, else ``$XDG_CONFIG_HOME/medrdf/pacs.json`` (``~/.config/medrdf/pacs.json``). A
missing file means defaults and no servers; a damaged one is reported as a PacsError, never silently replaced.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import INVALID, PacsError

CONFIG_ENV = "MEDRDF_PACS_CONFIG"
DEFAULT_CALLING_AET = "MEDRDF"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CACHE_LIMIT_MB = 2048
_AET_CHARS = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE VR: 16 characters, no backslash, no control
_ADDRESS = re.compile(r"^(?P<aet>[^@]+)@(?P<host>\[[0-9A-Fa-f:.]+\]|[^:@\s]+):(?P<port>\d{1,5})$")


def check_ae_title(text: str, what: str = "AE title") -> str:
    """The AE title stripped of surrounding spaces; PacsError when DICOM does not allow it (PS3.5 AE VR)."""
    value = str(text).strip()
    if not value or not _AET_CHARS.match(value):
        raise PacsError(f"The {what} '{value[:20]}' is not valid: 1 to 16 printable characters without a backslash.",
                        INVALID)
    return value


def check_port(port: Any) -> int:
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise PacsError(f"The port '{port}' is not a number.", INVALID) from None
    if not 1 <= value <= 65535:
        raise PacsError(f"The port {value} is outside 1–65535.", INVALID)
    return value


@dataclass(frozen=True)
class Server:
    """A DICOM peer: its (called) AE title, host and port; ``name`` is the configuration's label, if any."""

    ae_title: str
    host: str
    port: int
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, "called AE title"))
        host = str(self.host).strip()
        if not host or any(c.isspace() for c in host):
            raise PacsError(f"The host '{host[:40]}' is not valid.", INVALID)
        object.__setattr__(self, "host", host.strip("[]"))
        object.__setattr__(self, "port", check_port(self.port))

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.name} ({self.address})" if self.name else self.address

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ae_title": self.ae_title, "host": self.host, "port": self.port}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Server":
        return cls(ae_title=data.get("ae_title", ""), host=data.get("host", ""), port=data.get("port", 0),
                   name=str(data.get("name", "")).strip())


def parse_address(text: str) -> Server:
    """``AET@host:port`` (IPv6 hosts in brackets) → Server; PacsError when it is not of that form."""
    match = _ADDRESS.match(str(text).strip())
    if not match:
        raise PacsError(f"'{str(text)[:60]}' is neither a configured PACS name nor an address AET@host:port.", INVALID)
    return Server(match["aet"], match["host"], int(match["port"]))


def default_config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "medrdf" / "pacs.json"


@dataclass
class PacsConfig:
    """The app's PACS settings: its own (calling) AE title, the servers, the network timeout and the cache size."""

    servers: list[Server] = field(default_factory=list)
    calling_aet: str = DEFAULT_CALLING_AET
    timeout_s: float = DEFAULT_TIMEOUT_S
    cache_limit_mb: int = DEFAULT_CACHE_LIMIT_MB
    cache_dir: str = ""  # empty: <user cache>/pacs

    def resolve(self, text: str) -> Server:
        """A configured server by name (exact, then case-insensitive), else an ``AET@host:port`` address."""
        text = str(text).strip()
        for server in self.servers:
            if server.name == text:
                return server
        for server in self.servers:
            if server.name.lower() == text.lower():
                return server
        return parse_address(text)

    def with_server(self, server: Server) -> "PacsConfig":
        """A copy with ``server`` added, or replacing the one of the same name."""
        others = [s for s in self.servers if s.name != server.name]
        return replace(self, servers=[*others, server])

    def without_server(self, name: str) -> "PacsConfig":
        return replace(self, servers=[s for s in self.servers if s.name != name])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["servers"] = [s.to_dict() for s in self.servers]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "PacsConfig":
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        servers = [Server.from_dict(item) for item in data.get("servers", []) if isinstance(item, dict)]
        config = cls(servers=servers,
                     calling_aet=check_ae_title(data.get("calling_aet", DEFAULT_CALLING_AET), "calling AE title"),
                     timeout_s=float(data.get("timeout_s", DEFAULT_TIMEOUT_S)),
                     cache_limit_mb=int(data.get("cache_limit_mb", DEFAULT_CACHE_LIMIT_MB)),
                     cache_dir=str(data.get("cache_dir", "") or ""))
        if not 0 < config.timeout_s <= 3600 or config.cache_limit_mb < 1:
            raise ValueError("timeout or cache size out of range")
        return config


def load_config(path: str | os.PathLike[str] | None = None) -> PacsConfig:
    """The configuration at ``path`` (default: :func:`default_config_path`); defaults when the file is absent."""
    target = Path(path) if path is not None else default_config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return PacsConfig()
    except OSError as exc:
        raise PacsError(f"Cannot read the PACS settings {target} ({exc.strerror or type(exc).__name__}).", INVALID) from None
    try:
        return PacsConfig.from_dict(json.loads(text))
    except PacsError as exc:
        raise PacsError(f"The PACS settings {target} are invalid: {exc}", INVALID) from None
    except (ValueError, TypeError) as exc:
        raise PacsError(f"The PACS settings {target} are damaged ({exc}); fix or delete the file.", INVALID) from None


def save_config(config: PacsConfig, path: str | os.PathLike[str] | None = None) -> Path:
    """Write atomically (temp file in the same folder, then rename): a crash never leaves half a file."""
    target = Path(path) if path is not None else default_config_path()
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(config.to_dict(), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise PacsError(f"Cannot save the PACS settings {target} ({exc.strerror or type(exc).__name__}).", INVALID) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return target
