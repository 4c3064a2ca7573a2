"""``derivo watch``: keep an output folder up to date with folders that change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from derivo.cache import DB_NAME, DerivativeCache
from derivo.cli.options import (
    UsageFailure,
    layout_option,
    output_options,
    run_options,
    settings_from,
)
from derivo.errors import DerivoError
from derivo.executors import make_executor
from derivo.executors.forkserver import stop_forkserver
from derivo.lock import FolderLock
from derivo.outputs import result_json, shown
from derivo.pipeline import FEED, PhotoResult, Pipeline
from derivo.watch import watch


@click.command(name="watch")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@output_options("Folder for derivatives, as for process.")
@run_options
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
@layout_option
def watch_command(
    paths: tuple[Path, ...],
    out_dir: Path,
    db: Path | None,
    config: Path | None,
    settle: float,
    rescan: float,
    jsonl: bool,
    layout: str,
    **options: Any,
) -> None:
    """Render what is under PATHS, then new and changed photos as they appear.

    Same cache, specs and CPU budget as process; Ctrl-C stops (photos not finished
    stay pending for the next run).
    """
    for path in paths:
        if path.resolve().is_relative_to(out_dir.resolve()):
            raise click.UsageError(f"{path} is inside --out {out_dir}: derivatives are not sources")
    settings = settings_from(out_dir, config, **options)
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
            DerivativeCache(db, root=out_dir) as cache,
            make_executor(
                workers=settings.workers,
                cpu=settings.cpu,
                queue_size=FEED,
                task_timeout=settings.timeout,
            ) as pool,
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
                mirror_to=out_dir if layout == "mirror" else None,
            )
    except KeyboardInterrupt:
        err.print("Stopped: photos not finished stay pending for the next run.")
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    finally:
        stop_forkserver()  # the pool is closed: reap the workers' parent, so its CPU counts
