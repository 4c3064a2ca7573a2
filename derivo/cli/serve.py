"""``derivo serve``: its options come from the settings model, one per setting that has one."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from derivo.cli.options import UsageFailure, pixel_count, spec_option, specs_given
from derivo.errors import DerivoError
from derivo.executors.forkserver import stop_forkserver
from derivo.service.settings import ENVIRONMENT, EnvVar, option_range


def _setting_options(command: Callable[..., None]) -> Callable[..., None]:
    """One option per setting that has one, from the settings model (help, bounds, default)."""
    for env in reversed(ENVIRONMENT):
        if env.option is not None:
            command = _option(env)(command)
    return command


def _option(env: EnvVar) -> Callable[[Callable[..., None]], Callable[..., None]]:
    assert env.option is not None
    low, high = option_range(env)
    extra: dict[str, Any] = {}
    kind: Any
    if env.parser is not None:
        kind, extra["callback"] = click.STRING, pixel_count
    elif env.type is bool:
        kind, extra["default"] = click.BOOL, None
    elif env.type is int:
        kind = click.IntRange(_int(low), _int(high))
    elif env.type is float:
        kind = click.FloatRange(low, high, min_open=env.low_open)
    elif env.type is Path:
        kind = click.Path(file_okay=env.is_file, dir_okay=not env.is_file, path_type=Path)
    else:
        kind = click.STRING
    return click.option(
        env.option,
        env.setting,
        type=None if env.type is bool else kind,
        metavar=env.metavar,
        help=f"{env.help}  [env: {env.name}; default: {env.default_text}]",
        **extra,
    )


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@click.command(name="serve")
@_setting_options
@spec_option
def serve_command(spec_args: tuple[str, ...], **options: Any) -> None:
    """Serve the upload API and the gallery page over HTTP (see docs/service.md).

    Uploads, deletes and originals need the bearer token from DERIVO_TOKEN; without
    it, a token is generated at first start, kept in DATA_DIR/token (mode 0600) and
    printed once. Everything else (gallery, photos, derivatives, /healthz, /metrics)
    is public. Derivatives are offered in WebP, or the formats in DERIVO_FORMATS
    (avif, webp, none), to clients whose Accept asks for them.

    Settings come from these options, else the environment, else DATA_DIR/derivo.toml
    (or --config), else the defaults; 'derivo config --serve' shows the result.
    """
    try:
        from derivo.service.server import serve as run
    except ModuleNotFoundError as exc:
        raise UsageFailure(
            f"derivo serve needs the serve extra ({exc.name} is missing): "
            "pip install 'derivo[serve]'"
        ) from None
    from derivo.service.config import resolve_settings

    try:
        resolved = resolve_settings(os.environ, serve_options(spec_args, options))
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    try:
        with _stopping_forkserver():
            run(resolved.settings)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None


@contextmanager
def _stopping_forkserver() -> Iterator[None]:
    """Stop the workers' fork server once the server has shut down, as ``process`` does.

    uvicorn ends a graceful shutdown by raising the signal that asked for it again,
    under the handler it found: SIGTERM's default would end the process before any
    ``finally``. So SIGTERM stops the fork server first, then meets that handler.
    """
    main = threading.current_thread() is threading.main_thread()  # signals: main thread only
    previous = signal.getsignal(signal.SIGTERM) if main else None
    if previous is not None:  # None also for a handler set outside Python: left alone
        then = previous

        def terminate(signum: int, frame: FrameType | None) -> None:
            stop_forkserver()
            signal.signal(signum, then)
            signal.raise_signal(signum)

        signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        stop_forkserver()


def serve_options(spec_args: tuple[str, ...], options: dict[str, Any]) -> dict[str, Any]:
    """The settings given on the command line: setting -> (value, option)."""
    given: dict[str, Any] = {}
    for env in ENVIRONMENT:
        value = options.get(env.setting)
        if value is not None and env.option is not None:
            shown = env.option.split("/")[0] if value is not False else env.option.split("/")[-1]
            given[env.setting] = (value * env.unit if env.unit != 1 else value, shown)
    specs = specs_given(spec_args)
    if specs is not None:
        given["specs"] = (specs, "--spec")
    return given
