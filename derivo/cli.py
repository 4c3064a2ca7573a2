"""The ``derivo`` command line: ``process`` a library, ``status`` of what is recorded, ``serve``.

Exit codes: 0 all photos have their derivatives; 1 some photos failed (the rest
are processed and recorded); 2 derivo could not run (bad usage or configuration).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from derivo.cache import DB_NAME, STATUSES, DerivativeCache
from derivo.clean import apply_clean, clean_lines, plan_clean
from derivo.config import CONFIG_NAME, RunSettings, load_settings, parse_pixels, settings_lines
from derivo.discover import find_photos
from derivo.errors import DerivoError
from derivo.executors import WorkerPool
from derivo.lock import FolderLock
from derivo.mirror import mirror, relative_name
from derivo.outputs import (
    failure_json,
    list_outputs,
    outputs_json,
    outputs_lines,
    result_json,
    shown,
)
from derivo.pipeline import PhotoResult, Pipeline
from derivo.preview import plan_process, planned_line
from derivo.specs import SpecSet, resolve_specs
from derivo.summary import Summary, progress_bar
from derivo.tasks import MB, Limits
from derivo.watch import watch


class UsageFailure(click.ClickException):
    """A configuration problem found before any photo is touched: exit code 2."""

    exit_code = 2


def _pixel_count(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    try:
        return None if value is None else parse_pixels(value)
    except DerivoError as exc:
        raise click.BadParameter(str(exc)) from None


_RUN_OPTIONS = (
    click.option("--workers", type=click.IntRange(min=1), help="Number of worker processes."),
    click.option(
        "--cpu",
        type=click.FloatRange(min=0, max=1, min_open=True),
        help="CPU budget as a fraction of the cores, e.g. 0.5.  [default: 1]",
    ),
    click.option(
        "--spec",
        "spec_args",
        multiple=True,
        metavar="FILE|NAME=WxH[,quality=Q]",
        help="Derivative spec: a TOML/JSON file or inline (NAME=WxH, or NAME=Wx / NAME=xH to "
        "bound one side; then ,quality=Q,fit=cover,format=webp); repeatable.  "
        "[default: thumbnail=200x200,quality=80 and preview=1200x1200,quality=85]",
    ),
    click.option(
        "--lenient/--strict",
        default=None,
        help="Accept truncated files (the missing part is filled with grey).  [default: strict]",
    ),
    click.option(
        "--max-pixels",
        metavar="PIXELS",
        callback=_pixel_count,
        help="Refuse photos with more pixels than this: 200M (or 200MP) is 200 megapixels, "
        "200000000 the same, as in Limits(max_pixels=...).  [default: 200M]",
    ),
    click.option(
        "--max-mb",
        type=click.IntRange(min=1),
        help="Refuse source files larger than this many megabytes.  [default: 200]",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, max=86_400, min_open=True),
        help="Seconds one photo may take before its worker is killed.  [default: 120]",
    ),
    click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Settings file (TOML); options given here override it.  [default: OUT/{CONFIG_NAME}"
        " if present]",
    ),
)


def _run_options(command: Callable[..., None]) -> Callable[..., None]:
    """The settings a run takes from the command line or ``derivo.toml``."""
    for option in reversed(_RUN_OPTIONS):
        command = option(command)
    return command


def _settings(out_dir: Path, config: Path | None, **options: Any) -> RunSettings:
    """Defaults, then the config file, then the options given on the command line."""
    if options["workers"] is not None and options["cpu"] is not None:
        raise click.UsageError("use either --workers or --cpu, not both")
    given: dict[str, tuple[Any, str]] = {}
    spec_args = options.pop("spec_args", ())
    if spec_args:
        try:
            given["specs"] = (resolve_specs(spec_args), "--spec")
        except DerivoError as exc:
            raise click.BadParameter(str(exc), param_hint="--spec") from None
    for key, value in options.items():
        if value is not None:
            option = "--lenient/--strict" if key == "lenient" else "--" + key.replace("_", "-")
            given[key] = (value, option)
    try:
        return load_settings(out_dir, config, given)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None


def _output_options(out_help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--out`` and ``--db``, shared by the commands that use a cache."""

    def apply(command: Callable[..., None]) -> Callable[..., None]:
        command = click.option(
            "--db",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Cache database (SQLite).  [default: OUT/{DB_NAME}]",
        )(command)
        return click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("derivo-out"),
            show_default=True,
            help=out_help,
        )(command)

    return apply


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derivo")
def main() -> None:
    """Turn photos into thumbnails and previews, in parallel, never twice."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_output_options("Folder for derivatives (content-addressed: <hh>/<hash>/<spec>-<fp>.jpg).")
@_run_options
@click.option("--force", is_flag=True, help="Render again even what the cache has.")
@click.option(
    "--verify",
    is_flag=True,
    help="Hash every file instead of trusting unchanged size, mtime and inode.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary and every photo's outputs as JSON."
)
@click.option(
    "--progress",
    type=click.Choice(["bar", "jsonl", "none"]),
    default="bar",
    show_default=True,
    help="bar: a progress bar on stderr; jsonl: one JSON line per finished photo on stdout.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be rendered, cached or skipped; change nothing.",
)
@click.option(
    "--layout",
    type=click.Choice(["content", "mirror"]),
    default="content",
    show_default=True,
    help="mirror: also link each derivative as OUT/<path under PATH>/<stem>.<spec>.<ext>.",
)
def process(
    paths: tuple[Path, ...],
    out_dir: Path,
    db: Path | None,
    workers: int | None,
    cpu: float | None,
    spec_args: tuple[str, ...],
    force: bool,
    verify: bool,
    lenient: bool | None,
    max_pixels: int | None,
    max_mb: int | None,
    timeout: float | None,
    config: Path | None,
    as_json: bool,
    progress: str,
    dry_run: bool,
    layout: str,
) -> None:
    """Make the derivatives of every photo under PATHS (folders are walked recursively).

    Photos are recognised by their bytes (JPEG, PNG, WebP, GIF, TIFF, HEIF/HEIC,
    AVIF), whatever their names.
    An unchanged photo is never rendered twice; a changed spec re-renders only
    that spec.
    """
    for path in paths:
        if path.resolve().is_relative_to(out_dir.resolve()):
            raise click.UsageError(f"{path} is inside --out {out_dir}: derivatives are not sources")
    settings = _settings(
        out_dir,
        config,
        workers=workers,
        cpu=cpu,
        spec_args=spec_args,
        lenient=lenient,
        max_pixels=max_pixels,
        max_mb=max_mb,
        timeout=timeout,
    )
    workers, cpu, timeout = settings.workers, settings.cpu, settings.timeout
    specs, limits = settings.specs, settings.limits
    db = db or out_dir / DB_NAME
    if dry_run:
        _dry_run(paths, out_dir, db, specs, limits, force=force, as_json=as_json)
        return
    err = Console(stderr=True)
    summary = Summary()
    results: list[dict[str, Any]] = []
    summary.start()
    started = time.perf_counter()
    try:
        with (
            FolderLock(out_dir, purpose="derivo process"),
            DerivativeCache(db) as cache,
            WorkerPool(workers, cpu=cpu, task_timeout=timeout) as pool,
            Pipeline(
                cache=cache, executor=pool, out_dir=out_dir, specs=specs, limits=limits
            ) as pipeline,
        ):
            found = list(find_photos(paths, exclude=[out_dir], passed_over=summary.pass_over))
            with progress_bar(
                err, quiet=as_json or progress != "bar", started=started
            ) as bar_display:
                bar = bar_display.add_task("photos", total=len(found))
                photos = [(item.photo_id, item.path) for item in found]
                roots = [p.resolve() for p in paths]
                names = {item.photo_id: relative_name(item.path, roots) for item in found}
                for result in pipeline.run(photos, force=force, verify=verify):
                    summary.add(result)
                    if layout == "mirror" and result.ok:
                        mirror(out_dir, names[result.photo_id], result.derivatives.values())
                    bar_display.advance(bar)
                    if progress == "jsonl":
                        click.echo(json.dumps(result_json(result)))
                    elif as_json:
                        results.append(result_json(result))
    except KeyboardInterrupt:
        err.print("[yellow]Interrupted[/]: photos not finished stay pending for the next run.")
        sys.exit(130)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    summary.finish()
    summary.out, summary.db = str(out_dir.resolve()), str(db.resolve())
    if as_json and progress == "jsonl":
        click.echo(json.dumps({"summary": summary.as_dict()}))
    elif as_json:
        click.echo(json.dumps({**summary.as_dict(), "results": results}, indent=2))
    else:
        summary.print(err)
    sys.exit(1 if summary.failures or summary.pending else 0)


def _dry_run(
    paths: tuple[Path, ...],
    out_dir: Path,
    db: Path,
    specs: SpecSet,
    limits: Limits,
    *,
    force: bool,
    as_json: bool,
) -> None:
    passed_over: list[Path] = []
    try:
        found = find_photos(paths, exclude=[out_dir], passed_over=passed_over.append)
        planned = list(
            plan_process(found, db=db, out_dir=out_dir, specs=specs, limits=limits, force=force)
        )
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    counts = Counter(p.verdict for p in planned)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(p) for p in planned], indent=2))
        return
    cwd = Path.cwd()
    for item in planned:
        click.echo(planned_line(item, cwd=cwd))
    click.echo(
        f"Dry run: {counts['render']} to render, {counts['cached']} cached, "
        f"{counts['skip']} skipped, {len(passed_over)} "
        f"{'not an image' if len(passed_over) == 1 else 'not images'}; nothing was changed"
    )


@main.command(name="watch")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@_output_options("Folder for derivatives, as for process.")
@_run_options
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds a file must stay unchanged before it is rendered (files being copied wait).",
)
@click.option(
    "--rescan",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds between full rescans, for changes file events miss (e.g. network shares).",
)
@click.option("--jsonl", is_flag=True, help="One JSON line per finished photo on stdout.")
def watch_command(
    paths: tuple[Path, ...],
    out_dir: Path,
    db: Path | None,
    config: Path | None,
    settle: float,
    rescan: float,
    jsonl: bool,
    **options: Any,
) -> None:
    """Render what is under PATHS, then new and changed photos as they appear.

    Same cache, specs and CPU budget as process; Ctrl-C stops (photos not finished
    stay pending for the next run).
    """
    for path in paths:
        if path.resolve().is_relative_to(out_dir.resolve()):
            raise click.UsageError(f"{path} is inside --out {out_dir}: derivatives are not sources")
    settings = _settings(out_dir, config, **options)
    db = db or out_dir / DB_NAME
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    cwd = Path.cwd()

    def report(result: PhotoResult) -> None:
        if jsonl:
            click.echo(json.dumps(result_json(result)))
        elif result.outcome == "failed":
            err.print(f"[red]failed[/] {shown(result.source, cwd)}: {result.error}")
        else:
            err.print(f"{result.outcome} {shown(result.source, cwd)}")

    err.print(f"Watching {', '.join(map(str, paths))} (Ctrl-C stops)")
    try:
        with (
            FolderLock(out_dir, purpose="derivo watch"),
            DerivativeCache(db) as cache,
            WorkerPool(settings.workers, cpu=settings.cpu, task_timeout=settings.timeout) as pool,
            Pipeline(
                cache=cache,
                executor=pool,
                out_dir=out_dir,
                specs=settings.specs,
                limits=settings.limits,
            ) as pipeline,
        ):
            watch(
                paths,
                pipeline=pipeline,
                exclude=[out_dir],
                on_result=report,
                settle=settle,
                rescan=rescan,
            )
    except KeyboardInterrupt:
        err.print("Stopped: photos not finished stay pending for the next run.")
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None


@main.command()
@_output_options("Output folder whose cache to read.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status(out_dir: Path, db: Path | None, as_json: bool) -> None:
    """Show how many photos are in each state, and why the failed ones failed."""
    db = db or out_dir / DB_NAME
    if not db.is_file():
        raise UsageFailure(f"no cache database at {db} (run 'derivo process' first, or pass --db)")
    try:
        with DerivativeCache(db) as cache:
            counts = cache.counts()
            failed = cache.photos(status="failed", limit=10_000)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "counts": counts,
                    "failures": [
                        failure_json(p.id, p.source, p.error_kind, p.error) for p in failed
                    ],
                },
                indent=2,
            )
        )
        return
    click.echo(", ".join(f"{counts[s]} {s}" for s in STATUSES))
    for photo in failed:
        click.echo(f"failed {photo.source}: {photo.error}")


@main.command(name="ls")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_output_options("Output folder whose cache to read.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per photo.")
def list_command(paths: tuple[Path, ...], out_dir: Path, db: Path | None, as_json: bool) -> None:
    """List recorded photos (all, or those at or under PATHS) with their derivatives.

    Each photo: source, state, size; each derivative: spec, size, bytes and path.
    Exit code 1 when PATHS are given and no recorded photo is under them.
    """
    db = db or out_dir / DB_NAME
    if not db.is_file():
        raise UsageFailure(f"no cache database at {db} (run 'derivo process' first, or pass --db)")
    try:
        with DerivativeCache(db) as cache:
            items = list(list_outputs(cache, paths))
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    if as_json:
        click.echo(json.dumps([outputs_json(item) for item in items], indent=2))
    else:
        cwd = Path.cwd()
        for item in items:
            click.echo("\n".join(outputs_lines(item, cwd=cwd)))
    if paths and not items:
        click.echo(f"no recorded photo under {', '.join(map(str, paths))}", err=True)
        sys.exit(1)


@main.command()
@_output_options("Output folder to clean.")
@click.option(
    "--spec",
    "spec_args",
    multiple=True,
    metavar="FILE|NAME=WxH[,quality=Q]",
    help="The specs in use, as given to process; derivatives of other specs are deleted.  "
    "[default: the config file's, else thumbnail and preview]",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Settings file whose specs are the ones in use.  [default: OUT/{CONFIG_NAME} if present]",
)
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
def clean(
    out_dir: Path, db: Path | None, spec_args: tuple[str, ...], config: Path | None, dry_run: bool
) -> None:
    """Forget photos whose source is gone and delete the files nothing uses.

    Deletes derivatives of specs not given with --spec (or the defaults), and every
    file in a content folder that no record points to. Prints each removal and the
    bytes freed.
    """
    db = db or out_dir / DB_NAME
    if not db.is_file():
        raise UsageFailure(f"no cache database at {db} (run 'derivo process' first, or pass --db)")
    specs = _settings(out_dir, config, workers=None, cpu=None, spec_args=spec_args).specs
    try:
        with contextlib.ExitStack() as stack:
            if not dry_run:
                stack.enter_context(FolderLock(out_dir, purpose="derivo clean"))
            cache = stack.enter_context(DerivativeCache(db))
            plan = plan_clean(cache, out_dir, specs)
            if not dry_run:
                apply_clean(cache, plan)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    click.echo("\n".join(clean_lines(plan, cwd=Path.cwd(), dry_run=dry_run)))


@main.command(name="config")
@_output_options("Output folder whose derivo.toml to read.")
@_run_options
def config_command(out_dir: Path, db: Path | None, config: Path | None, **options: Any) -> None:
    """Print the settings a run would use, and where each comes from.

    Options given here override the file, as they would for process.
    """
    click.echo("\n".join(settings_lines(_settings(out_dir, config, **options))))


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Database, originals, derivatives and token.  "
    "[env: DERIVO_DATA_DIR; default: derivo-data]",
)
@click.option("--host", help="Address to listen on.  [env: DERIVO_HOST; default: 127.0.0.1]")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one.  [env: DERIVO_PORT; default: 8000]",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Render worker processes.  [env: DERIVO_WORKERS; default: cores - 1, at least 1]",
)
@click.option(
    "--queue-size",
    type=click.IntRange(min=1),
    help="Renders that may wait for a worker before uploads get 503.  "
    "[env: DERIVO_QUEUE_SIZE; default: 64]",
)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(min=1),
    help="Largest upload; bigger ones get 413.  [env: DERIVO_MAX_UPLOAD_MB; default: 200]",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    help="Megapixels above which a photo fails.  [env: DERIVO_MAX_PIXELS; default: 200]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, max=86_400, min_open=True),
    help="Seconds one render may take.  [env: DERIVO_TASK_TIMEOUT; default: 120]",
)
def serve(
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    queue_size: int | None,
    max_upload_mb: int | None,
    max_pixels: int | None,
    timeout: float | None,
) -> None:
    """Serve the upload API and the gallery page over HTTP (see docs/service.md).

    Uploads and deletes need the bearer token from DERIVO_TOKEN; without it, a token
    is generated at first start, kept in DATA_DIR/token (mode 0600) and printed once.
    Everything else (gallery, photos, derivatives, /healthz, /metrics) is public.
    Options override the environment.
    """
    try:
        from derivo.service import Settings
        from derivo.service import serve as run
    except ModuleNotFoundError as exc:
        raise UsageFailure(
            f"derivo serve needs the serve extra ({exc.name} is missing): "
            "pip install 'derivo[serve]'"
        ) from None

    options = {
        "data_dir": data_dir,
        "host": host,
        "port": port,
        "workers": workers,
        "queue_size": queue_size,
        "max_upload_bytes": max_upload_mb * MB if max_upload_mb else None,
        "max_pixels": max_pixels * 1_000_000 if max_pixels else None,
        "task_timeout": timeout,
    }
    try:
        settings = Settings.from_env(
            os.environ, **{k: v for k, v in options.items() if v is not None}
        )
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    try:
        run(settings)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
