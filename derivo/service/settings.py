"""Typed settings of ``derivo serve``; the only place the service reads the environment.

Each field of :class:`Settings` declares, in one place, its default, its bounds,
its environment variable, its command-line option, its key in ``derivo.toml`` and
unit, and one line of help. The ``serve`` options, the environment help
(:data:`ENVIRONMENT`) and the table in docs/service.md (:func:`markdown_table`)
are all derived from it. Command-line options override the environment, which
overrides the settings file, which overrides the defaults::

    settings = Settings.from_env(os.environ, port=0)

:mod:`derivo.service.config` adds the settings file, and says where each value
came from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from derivo.config import (
    CONFIG_NAME,
    DEFAULTS,
    MAX_PIXELS_HELP,
    parse_pixels,
)
from derivo.errors import DerivoError
from derivo.executors import available_cores
from derivo.executors.pool import MAX_TASK_TIMEOUT
from derivo.formats import OUTPUTS
from derivo.limits import MB, Limits
from derivo.specs import SpecSet

#: Shortest bearer token accepted, from the environment or the token file.
MIN_TOKEN_LENGTH = 16

_EXPECTS = {
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a folder",
    bool: "true or false",
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True, kw_only=True)
class EnvVar:
    """How one setting is given from outside: variable, option, unit, bounds and help.

    Bounds are in the field's own unit (bytes, pixels); ``unit`` converts what a
    person types (MB, megapixels) to it.
    """

    name: str
    help: str
    type: type[Any] = str
    option: str | None = None
    unit: int = 1
    parser: Callable[[str], Any] | None = None
    """Reads what a person typed instead of ``type`` (e.g. ``200M`` pixels)."""
    metavar: str | None = None
    file_key: str | None = None
    """Its key in ``derivo.toml``: top level if ``process`` shares it, else in ``[serve]``."""
    is_file: bool = False
    default_text: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    min_length: int | None = None
    units: str = ""
    setting: str = ""

    @property
    def expects(self) -> str:
        return "a file" if self.is_file else _EXPECTS[self.type]

    @property
    def shared(self) -> bool:
        """Whether its file key is a top-level one that ``process`` reads too."""
        return self.file_key in DEFAULTS

    def parse(self, raw: str) -> Any:
        """The field's value from what a person typed (environment or option); a
        ValueError says why not."""
        if self.parser is not None:
            try:
                return self.parser(raw)
            except DerivoError as exc:
                raise ValueError(str(exc)) from None
        try:
            value = _BOOLEANS[raw.strip().lower()] if self.type is bool else self.type(raw)
        except (KeyError, ValueError):
            raise ValueError(f"expected {self.expects}") from None
        return value * self.unit if self.unit != 1 else value

    def check(self, value: Any) -> None:
        """Raises ValueError naming the setting when ``value`` is out of bounds."""
        if value is None:
            return
        if self.min_length is not None and len(value) < self.min_length:
            raise ValueError(
                f"the {self.setting} must be at least {self.min_length} characters long"
            )
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or value <= self.high
        if low_ok and high_ok:
            return
        if self.high is None:
            raise ValueError(f"{self.setting} must be at least {_num(self.low)}, got {value}")
        raise ValueError(
            f"{self.setting} must be {_num(self.low)}-{_num(self.high)}{self.units}, "
            f"got {_num(value)}"
        )


def setting(default: Any = None, *, factory: Any = None, env: EnvVar | None = None) -> Any:
    """A field of :class:`Settings`; ``env`` makes it settable from outside."""
    metadata = {"env": env} if env else {}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


#: Formats a derivative can be offered in besides JPEG, by the client's Accept.
OFFERABLE = tuple(f.name for f in OUTPUTS if f.name != "jpeg")


def default_workers() -> int:
    """Every core but one, so the server itself always has a core to answer on."""
    return max(1, available_cores() - 1)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How one ``derivo serve`` runs. Paths inside ``data_dir`` derive from it."""

    data_dir: Path = setting(
        Path("derivo-data"),
        env=EnvVar(
            name="DERIVO_DATA_DIR",
            option="--data-dir",
            type=Path,
            default_text="./derivo-data",
            help="Database, originals, derivatives and token.",
        ),
    )
    config: Path | None = setting(
        None,
        env=EnvVar(
            name="DERIVO_CONFIG",
            option="--config",
            type=Path,
            is_file=True,
            default_text=f"DATA_DIR/{CONFIG_NAME} if present",
            help="Settings file (TOML): specs, limits and workers as for process, and a "
            "[serve] table for the rest.",
        ),
    )
    host: str = setting(
        "127.0.0.1",
        env=EnvVar(
            name="DERIVO_HOST", option="--host", file_key="host", help="Address to listen on."
        ),
    )
    port: int = setting(
        8000,
        env=EnvVar(
            name="DERIVO_PORT",
            option="--port",
            file_key="port",
            type=int,
            low=0,
            high=65535,
            help="Port to listen on; 0 picks a free one (printed at start).",
        ),
    )
    token: str | None = setting(
        None,
        env=EnvVar(
            name="DERIVO_TOKEN",
            min_length=MIN_TOKEN_LENGTH,
            default_text="generated, kept in DATA_DIR/token",
            help=f"Bearer token for uploads and deletes, {MIN_TOKEN_LENGTH}+ characters.",
        ),
    )
    workers: int = setting(
        factory=default_workers,
        env=EnvVar(
            name="DERIVO_WORKERS",
            option="--workers",
            file_key="workers",
            type=int,
            low=1,
            default_text="cores - 1, at least 1",
            help="Render worker processes (at idle priority, SCHED_IDLE).",
        ),
    )
    queue_size: int = setting(
        64,
        env=EnvVar(
            name="DERIVO_QUEUE_SIZE",
            option="--queue-size",
            file_key="queue_size",
            type=int,
            low=1,
            help="Renders that may wait for a worker before uploads get 503.",
        ),
    )
    max_upload_bytes: int = setting(
        Limits().max_bytes,
        env=EnvVar(
            name="DERIVO_MAX_UPLOAD_MB",
            option="--max-upload-mb",
            file_key="max_mb",
            type=int,
            unit=MB,
            low=1,
            help="Largest upload in MB; larger ones get 413.",
        ),
    )
    max_pixels: int = setting(
        Limits().max_pixels,
        env=EnvVar(
            name="DERIVO_MAX_PIXELS",
            option="--max-pixels",
            file_key="max_pixels",
            type=int,
            parser=parse_pixels,
            metavar="PIXELS",
            default_text="200M",
            low=1,
            help=MAX_PIXELS_HELP,
        ),
    )
    lenient: bool = setting(
        False,
        env=EnvVar(
            name="DERIVO_LENIENT",
            option="--lenient/--strict",
            file_key="lenient",
            type=bool,
            default_text="strict",
            help="Accept truncated or damaged files (missing parts come out flat grey).",
        ),
    )
    task_timeout: float = setting(
        120.0,
        env=EnvVar(
            name="DERIVO_TASK_TIMEOUT",
            option="--timeout",
            file_key="timeout",
            type=float,
            low=0,
            low_open=True,
            high=MAX_TASK_TIMEOUT,
            units=" seconds",
            help="Seconds one render may take; over it, it is killed, retried, then fails.",
        ),
    )
    scheduler: str | None = setting(
        None,
        env=EnvVar(
            name="DERIVO_SCHEDULER",
            option="--scheduler",
            file_key="scheduler",
            default_text="local worker processes",
            help="Dask scheduler to render on, e.g. tcp://HOST:8786 (docs/scale-out.md).",
        ),
    )
    upload_idle_timeout: float = setting(
        30.0,
        env=EnvVar(
            name="DERIVO_IDLE_TIMEOUT",
            option="--idle-timeout",
            file_key="idle_timeout",
            type=float,
            low=0,
            low_open=True,
            high=3600,
            units=" seconds",
            help="Seconds an upload may send nothing (then 408), and a client has to send "
            "its headers.",
        ),
    )
    max_connections: int = setting(
        256,
        env=EnvVar(
            name="DERIVO_MAX_CONNECTIONS",
            option="--connections",
            file_key="connections",
            type=int,
            low=1,
            help="Open connections at most; a request over it gets 503 at once.",
        ),
    )
    formats: str = setting(
        "webp",
        env=EnvVar(
            name="DERIVO_FORMATS",
            file_key="formats",
            default_text="webp",
            help="Formats besides JPEG served to clients whose Accept asks for them, best "
            "first: avif, webp, or none.",
        ),
    )
    specs: SpecSet = setting(factory=SpecSet)
    """What is rendered and served: ``--spec`` or the file's ``[specs.*]``."""
    retry_after: int = 2

    def __post_init__(self) -> None:
        for env in ENVIRONMENT:
            env.check(getattr(self, env.setting))
        unknown = sorted(set(self.offered) - set(OFFERABLE))
        if unknown:
            raise ValueError(
                f"formats: {', '.join(unknown)} cannot be offered (choose from "
                f"{', '.join(OFFERABLE)}, or none)"
            )
        if self.retry_after < 1:
            raise ValueError(f"retry_after must be at least 1, got {self.retry_after}")

    @property
    def offered(self) -> tuple[str, ...]:
        """The formats of :attr:`formats`, in order; empty for ``none``."""
        if self.formats.strip().lower() == "none":
            return ()
        return tuple(p.strip().lower() for p in self.formats.split(",") if p.strip())

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
        return Limits(
            max_pixels=self.max_pixels, max_bytes=self.max_upload_bytes, lenient=self.lenient
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``DERIVO_*`` variables, then ``overrides`` (e.g. CLI options).

        The settings file is not read: :func:`derivo.service.config.resolve_settings`
        gives what ``derivo serve`` would run with.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown setting {', '.join(unknown)}")
        values = {setting: value for setting, (value, _) in env_values(environ).items()}
        values.update(overrides)
        return cls(**values)


def env_values(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Setting -> (value, variable) for each ``DERIVO_*`` variable set and not empty;
    a bad value is a ValueError naming its variable."""
    values: dict[str, tuple[Any, str]] = {}
    for env in ENVIRONMENT:
        raw = environ.get(env.name)
        if raw is not None and raw != "":
            try:
                values[env.setting] = (env.parse(raw), env.name)
            except ValueError as exc:
                raise ValueError(f"{env.name}={raw!r}: {exc}") from None
    return values


def _environment() -> tuple[EnvVar, ...]:
    found = []
    for f in fields(Settings):
        env = f.metadata.get("env")
        if env is not None:
            text = env.default_text or _num(f.default / env.unit if env.unit != 1 else f.default)
            found.append(EnvVar(**{**vars(env), "setting": f.name, "default_text": text}))
    return tuple(found)


def _num(value: Any) -> str:
    """``200``, ``7.5``, ``127.0.0.1``: a value as a person would write it."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: Every setting that can be given from outside, in declaration order.
ENVIRONMENT: tuple[EnvVar, ...] = _environment()


def markdown_table() -> str:
    """The settings table of docs/service.md (a test keeps the two equal)."""
    rows = [
        f"| option | environment | {CONFIG_NAME} | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for env in ENVIRONMENT:
        option = f"`{env.option}`" if env.option else ""
        key = "" if env.file_key is None else f"`{env.file_key}`"
        if env.file_key is not None and not env.shared:
            key = f"`[serve]` {key}"
        rows.append(f"| {option} | `{env.name}` | {key} | {env.default_text} | {env.help} |")
    rows.append(
        "| `--spec` |  | `[specs.NAME]` | thumbnail and preview | The derivatives rendered "
        "and served, as for process. |"
    )
    return "\n".join(rows)


def option_range(env: EnvVar) -> tuple[float | None, float | None]:
    """Bounds in the unit a person types (the field's bounds divided by the unit)."""
    low = None if env.low is None else env.low / env.unit
    high = None if env.high is None else env.high / env.unit
    if env.type is int:
        low = None if low is None else math.ceil(low)
        high = None if high is None else math.floor(high)
    return low, high
