"""Options and settings shared by the commands: output folder, run settings, usage errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from derivo.cache import DB_NAME, recorded_root
from derivo.config import CONFIG_NAME, MAX_PIXELS_HELP, RunSettings, load_settings, parse_pixels
from derivo.errors import DerivoError
from derivo.executors.pool import MAX_TASK_TIMEOUT
from derivo.specs import SpecSet, resolve_specs


class UsageFailure(click.ClickException):
    """A configuration problem found before any photo is touched: exit code 2."""

    exit_code = 2


def pixel_count(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    try:
        return None if value is None else parse_pixels(value)
    except DerivoError as exc:
        raise click.BadParameter(str(exc)) from None


#: ``--spec``, as every command that renders or serves takes it.
spec_option = click.option(
    "--spec",
    "spec_args",
    multiple=True,
    metavar="FILE|NAME=WxH[,quality=Q]",
    help="Derivative spec: a TOML/JSON file or inline (NAME=WxH, or NAME=Wx / NAME=xH to "
    "bound one side; then ,quality=Q,fit=cover,format=webp); repeatable.  "
    "[default: the config file's specs, else thumbnail=200x200,quality=80 and "
    "preview=1200x1200,quality=85]",
)


def specs_given(spec_args: tuple[str, ...]) -> SpecSet | None:
    """The specs ``--spec`` names, or None when it was not given."""
    if not spec_args:
        return None
    try:
        return resolve_specs(spec_args)
    except DerivoError as exc:
        raise click.BadParameter(str(exc), param_hint="--spec") from None


RUN_OPTIONS = (
    click.option("--workers", type=click.IntRange(min=1), help="Number of worker processes."),
    click.option(
        "--cpu",
        type=click.FloatRange(min=0, max=1, min_open=True),
        help="CPU budget as a fraction of the cores, e.g. 0.5.  [default: 1]",
    ),
    spec_option,
    click.option(
        "--lenient/--strict",
        default=None,
        help="Accept truncated or damaged files (missing parts come out flat grey).  "
        "[default: strict]",
    ),
    click.option(
        "--max-pixels",
        metavar="PIXELS",
        callback=pixel_count,
        help=f"{MAX_PIXELS_HELP}  [default: 200M]",
    ),
    click.option(
        "--max-mb",
        type=click.IntRange(min=1),
        help="Refuse source files larger than this many megabytes.  [default: 200]",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, max=MAX_TASK_TIMEOUT, min_open=True),
        help="Seconds one photo may take before its worker is killed.  [default: 120]",
    ),
    click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Settings file (TOML); options given here override it.  [default: OUT/{CONFIG_NAME}"
        " if present]",
    ),
)


#: ``--layout``, as process and watch take it.
layout_option = click.option(
    "--layout",
    type=click.Choice(["content", "mirror"]),
    default="content",
    show_default=True,
    help="mirror: also link each derivative as OUT/<path under PATH>/<name>.<spec>.<ext> "
    "(the source's whole name: IMG_1.jpg.thumbnail.jpg).",
)


def run_options(command: Callable[..., None]) -> Callable[..., None]:
    """The settings a run takes from the command line or ``derivo.toml``."""
    for option in reversed(RUN_OPTIONS):
        command = option(command)
    return command


def settings_from(out_dir: Path, config: Path | None, **options: Any) -> RunSettings:
    """Defaults, then the config file, then the options given on the command line."""
    if options["workers"] is not None and options["cpu"] is not None:
        raise click.UsageError("use either --workers or --cpu, not both")
    given: dict[str, tuple[Any, str]] = {}
    specs = specs_given(options.pop("spec_args", ()))
    if specs is not None:
        given["specs"] = (specs, "--spec")
    for key, value in options.items():
        if value is not None:
            option = "--lenient/--strict" if key == "lenient" else "--" + key.replace("_", "-")
            given[key] = (value, option)
    try:
        return load_settings(out_dir, config, given)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None


#: The output folder when neither ``--out`` nor a database that records one is given.
DEFAULT_OUT = Path("derivo-out")


def output_options(out_help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--out`` and ``--db``, shared by the commands that use a cache; the command
    receives the output folder resolved by :func:`output_place`."""

    def apply(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def resolved(*args: Any, out_dir: Path | None, db: Path | None, **kwargs: Any) -> None:
            command(*args, out_dir=output_place(out_dir, db), db=db, **kwargs)

        wrapped: Callable[..., None] = click.option(
            "--db",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Cache database (SQLite).  [default: OUT/{DB_NAME}]",
        )(resolved)
        return click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help=f"{out_help}  [default: the folder --db records, else {DEFAULT_OUT}]",
        )(wrapped)

    return apply


def output_place(out_dir: Path | None, db: Path | None) -> Path:
    """The output folder a command works on: ``--out``, else the one ``--db`` records.

    A database belongs to one output folder (its derivative paths are relative to
    it): a different ``--out`` is refused while the recorded folder exists; once it
    has been moved away, ``--out`` names its new place and is recorded.
    """
    if db is None:
        return out_dir or DEFAULT_OUT  # OUT/derivo.db: its own folder is its root
    recorded = recorded_root(db) if db.is_file() else None
    if out_dir is None:
        return recorded or DEFAULT_OUT
    here = out_dir.resolve()
    if recorded in (None, here) or here == db.resolve().parent or not recorded.exists():
        return out_dir
    raise UsageFailure(
        f"{db} belongs to output folder {recorded}, not --out {out_dir}; "
        f"drop --out, or move {recorded} to {out_dir} first"
    )


def existing_cache(out_dir: Path, db: Path | None) -> Path:
    """The cache a reading command uses; it must exist (reading never creates one)."""
    db = db or out_dir / DB_NAME
    if not db.is_file():
        raise UsageFailure(f"no cache database at {db} (run 'derivo process' first, or pass --db)")
    return db
