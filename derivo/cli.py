"""The ``derivo`` command line: ``process`` a library, ``status`` of what is recorded, ``serve``.

Exit codes: 0 all photos have their derivatives; 1 some photos failed (the rest
are processed and recorded); 2 derivo could not run (bad usage or configuration).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from derivo.cache import STATUSES, DerivativeCache
from derivo.discover import find_photos
from derivo.errors import DerivoError
from derivo.executors import make_executor
from derivo.pipeline import Pipeline
from derivo.specs import resolve_specs
from derivo.summary import Summary, progress_bar
from derivo.tasks import MB, Limits

DB_NAME = "derivo.db"


class UsageFailure(click.ClickException):
    """A configuration problem found before any photo is touched: exit code 2."""

    exit_code = 2


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
@click.option("--workers", type=click.IntRange(min=1), help="Number of worker processes.")
@click.option(
    "--cpu",
    type=click.FloatRange(min=0, max=1, min_open=True),
    help="CPU budget as a fraction of the cores, e.g. 0.5.  [default: 1]",
)
@click.option(
    "--spec",
    "spec_args",
    multiple=True,
    metavar="FILE|NAME=WxH[,quality=Q]",
    help="Derivative spec: a TOML/JSON file or inline; repeatable. "
    "[default: thumbnail=200x200,quality=80 and preview=1200x1200,quality=85]",
)
@click.option("--force", is_flag=True, help="Render again even what the cache has.")
@click.option(
    "--verify",
    is_flag=True,
    help="Hash every file instead of trusting unchanged size, mtime and inode.",
)
@click.option(
    "--lenient", is_flag=True, help="Accept truncated files (the missing part is filled with grey)."
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Refuse photos larger than this many megapixels.",
)
@click.option(
    "--max-mb",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Refuse source files larger than this many megabytes.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, max=86_400, min_open=True),
    default=120.0,
    show_default=True,
    help="Seconds one photo may take before its worker is killed.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Render on a Dask cluster, e.g. tcp://HOST:8786 (needs the 'dask' extra; "
    "sources and --out on storage every worker sees; see docs/scale-out.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def process(
    paths: tuple[Path, ...],
    out_dir: Path,
    db: Path | None,
    workers: int | None,
    cpu: float | None,
    spec_args: tuple[str, ...],
    force: bool,
    verify: bool,
    lenient: bool,
    max_pixels: int,
    max_mb: int,
    timeout: float,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Make the derivatives of every photo under PATHS (folders are walked recursively).

    Photos are recognised by their bytes (JPEG, PNG, WebP, GIF, TIFF, HEIF/HEIC).
    An unchanged photo is never rendered twice; a changed spec re-renders only
    that spec.
    """
    if workers is not None and cpu is not None:
        raise click.UsageError("use either --workers or --cpu, not both")
    if scheduler is not None and (workers is not None or cpu is not None):
        raise click.UsageError("--workers and --cpu size the local pool, not a --scheduler's")
    for path in paths:
        if path.resolve().is_relative_to(out_dir.resolve()):
            raise click.UsageError(f"{path} is inside --out {out_dir}: derivatives are not sources")
    try:
        specs = resolve_specs(spec_args)
    except DerivoError as exc:
        raise click.BadParameter(str(exc), param_hint="--spec") from None
    limits = Limits(max_pixels=max_pixels * 1_000_000, max_bytes=max_mb * MB, lenient=lenient)
    db = db or out_dir / DB_NAME
    err = Console(stderr=True)
    summary = Summary()
    summary.start()
    found = list(find_photos(paths, exclude=[out_dir]))
    try:
        with (
            DerivativeCache(db, root=out_dir) as cache,
            make_executor(
                scheduler=scheduler,
                workers=workers,
                cpu=cpu,
                task_timeout=timeout,
                out_dir=out_dir,
                source=found[0].path if found else None,
            ) as pool,
            Pipeline(
                cache=cache, executor=pool, out_dir=out_dir, specs=specs, limits=limits
            ) as pipeline,
        ):
            with progress_bar(err, quiet=as_json) as progress:
                bar = progress.add_task("photos", total=len(found))
                photos = [(item.photo_id, item.path) for item in found]
                for result in pipeline.run(photos, force=force, verify=verify):
                    summary.add(result)
                    progress.advance(bar)
    except KeyboardInterrupt:
        err.print("[yellow]Interrupted[/]: photos not finished stay pending for the next run.")
        sys.exit(130)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    summary.finish()
    summary.out, summary.db = str(out_dir.resolve()), str(db.resolve())
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        summary.print(err)
    sys.exit(1 if summary.failures or summary.pending else 0)


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
                        {"id": p.id, "source": p.source, "kind": p.error_kind, "error": p.error}
                        for p in failed
                    ],
                },
                indent=2,
            )
        )
        return
    click.echo(", ".join(f"{counts[s]} {s}" for s in STATUSES))
    for photo in failed:
        click.echo(f"failed {photo.source}: {photo.error}")


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
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Render on a Dask cluster, e.g. tcp://HOST:8786.  "
    "[env: DERIVO_SCHEDULER; default: local worker processes]",
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
    scheduler: str | None,
) -> None:
    """Serve the upload API and the gallery page over HTTP (see docs/service.md).

    Uploads and deletes need the bearer token from DERIVO_TOKEN; without it, a token
    is generated at first start, kept in DATA_DIR/token (mode 0600) and printed once.
    Everything else (gallery, photos, derivatives, /healthz, /metrics) is public.
    Options override the environment.
    """
    from derivo.service import Settings
    from derivo.service import serve as run

    options = {
        "data_dir": data_dir,
        "host": host,
        "port": port,
        "workers": workers,
        "queue_size": queue_size,
        "max_upload_bytes": max_upload_mb * MB if max_upload_mb else None,
        "max_pixels": max_pixels * 1_000_000 if max_pixels else None,
        "task_timeout": timeout,
        "scheduler": scheduler,
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
