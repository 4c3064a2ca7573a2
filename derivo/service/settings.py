"""Typed settings of ``derivo serve``; the only place the service reads the environment.

Every setting has a default, an environment variable and one line of help, in
:data:`ENVIRONMENT`; command-line options override the environment, which
overrides the defaults::

    settings = Settings.from_env(os.environ, port=0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from derivo.executors import available_cores
from derivo.tasks import MB, Limits


def default_workers() -> int:
    """Every core but one, so the server itself always has a core to answer on."""
    return max(1, available_cores() - 1)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How one ``derivo serve`` runs. Paths inside ``data_dir`` derive from it."""

    data_dir: Path = Path("derivo-data")
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    workers: int = field(default_factory=default_workers)
    queue_size: int = 64
    max_upload_bytes: int = 200 * MB
    max_pixels: int = 200_000_000
    task_timeout: float = 120.0
    retry_after: int = 2
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        for name in ("workers", "queue_size", "max_upload_bytes", "max_pixels", "retry_after"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.task_timeout <= 86_400:
            raise ValueError(f"task_timeout must be 0-86400 seconds, got {self.task_timeout:g}")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the token must be at least 16 characters long")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "derivo.db"

    @property
    def originals_dir(self) -> Path:
        return self.data_dir / "originals"

    @property
    def derivatives_dir(self) -> Path:
        return self.data_dir / "derivatives"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "token"

    @property
    def limits(self) -> Limits:
        return Limits(max_pixels=self.max_pixels, max_bytes=self.max_upload_bytes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``DERIVO_*`` variables, then ``overrides`` (e.g. CLI options)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown setting {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for env in ENVIRONMENT:
            raw = environ.get(env.name)
            if raw is not None and raw != "":
                try:
                    values[env.setting] = env.parse(raw)
                except ValueError:
                    raise ValueError(f"{env.name}={raw!r}: expected {env.expects}") from None
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: the setting it fills, how to read it, and its help."""

    name: str
    setting: str
    parse: Callable[[str], Any]
    expects: str
    help: str


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar(
        "DERIVO_DATA_DIR",
        "data_dir",
        Path,
        "a folder",
        "Data directory: database, originals, derivatives, token. [./derivo-data]",
    ),
    EnvVar("DERIVO_HOST", "host", str, "a host", "Address to listen on. [127.0.0.1]"),
    EnvVar("DERIVO_PORT", "port", int, "an integer", "Port to listen on (0: any free). [8000]"),
    EnvVar(
        "DERIVO_TOKEN",
        "token",
        str,
        "a string",
        "Bearer token for uploads and deletes. [generated, kept in DATA_DIR/token]",
    ),
    EnvVar(
        "DERIVO_WORKERS",
        "workers",
        int,
        "an integer",
        "Render worker processes. [cores - 1, at least 1]",
    ),
    EnvVar(
        "DERIVO_QUEUE_SIZE",
        "queue_size",
        int,
        "an integer",
        "Renders waiting for a worker before uploads get 503. [64]",
    ),
    EnvVar(
        "DERIVO_MAX_UPLOAD_MB",
        "max_upload_bytes",
        lambda v: int(v) * MB,
        "an integer",
        "Largest upload in MB; bigger ones get 413. [200]",
    ),
    EnvVar(
        "DERIVO_MAX_PIXELS",
        "max_pixels",
        lambda v: int(v) * 1_000_000,
        "an integer",
        "Largest photo in megapixels; bigger ones fail. [200]",
    ),
    EnvVar(
        "DERIVO_TASK_TIMEOUT",
        "task_timeout",
        float,
        "a number",
        "Seconds one render may take before its worker is killed. [120]",
    ),
    EnvVar(
        "DERIVO_SCHEDULER",
        "scheduler",
        str,
        "an address",
        "Dask scheduler to render on, e.g. tcp://host:8786. [none: local worker processes]",
    ),
)
