"""The ``derivo`` command line: ``process`` a library, ``status`` of what is recorded;
``ls``, ``clean``, ``config``, ``watch``, ``check`` and ``serve`` live in modules of their own
beside this one.

Exit codes: 0 all photos have their derivatives; 1 some photos failed (the rest
are processed and recorded); 2 derivo could not run (bad usage or configuration).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from derivo.cache import DB_NAME
from derivo.cli.options import (
    UsageFailure,
    layout_option,
    output_options,
    run_options,
    settings_from,
)
from derivo.errors import DerivoError, StorageFull
from derivo.executors import WorkerPool, make_executor
from derivo.executors.forkserver import stop_forkserver
from derivo.formats import INPUTS, labels

if TYPE_CHECKING:
    from derivo.discover import Found
    from derivo.executors.dask import DaskExecutor
    from derivo.limits import Limits
    from derivo.specs import SpecSet


class _Commands(click.Group):
    """The command group; the commands in their own modules are imported when first used,
    so ``derivo process`` starts without them (about 50 ms of imports)."""

    LAZY = {
        "check": ("derivo.cli.check", "check_command"),
        "clean": ("derivo.cli.clean", "clean_command"),
        "config": ("derivo.cli.config", "config_command"),
        "ls": ("derivo.cli.ls", "list_command"),
        "serve": ("derivo.cli.serve", "serve_command"),
        "watch": ("derivo.cli.watch", "watch_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, name = self.LAZY[cmd_name]
            command = getattr(importlib.import_module(module), name)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derivo")
def main() -> None:
    """Turn photos into thumbnails and previews, in parallel, never twice."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@output_options("Folder for derivatives (content-addressed: <hh>/<hash>/<spec>-<fp>.jpg).")
@run_options
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
@layout_option
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Render on a Dask cluster, e.g. tcp://HOST:8786 (needs the 'dask' extra; "
    "sources and --out on storage every worker sees; see docs/scale-out.md).",
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
    scheduler: str | None,
) -> None:
    """Make the derivatives of every photo under PATHS (folders are walked recursively).

    Photos are recognised by their bytes ({inputs}), whatever their names.
    An unchanged photo is never rendered twice; a changed spec re-renders only
    that spec.
    """
    for path in paths:
        if path.resolve().is_relative_to(out_dir.resolve()):
            raise click.UsageError(f"{path} is inside --out {out_dir}: derivatives are not sources")
    if scheduler is not None and (workers is not None or cpu is not None):
        raise click.UsageError("--workers and --cpu size the local pool, not a --scheduler's")
    settings = settings_from(
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
    from derivo.pipeline import FEED

    local: WorkerPool | DaskExecutor | None = None
    if scheduler is None:
        local = make_executor(workers=workers, cpu=cpu, queue_size=FEED, task_timeout=timeout)
        if isinstance(local, WorkerPool) and (force or not db.exists()):
            # Everything will render: the workers start now, so the fork server imports
            # the renderer while this process imports the rest of the run (in _run, not
            # at the top, for that reason), takes the lock, opens the cache and walks.
            # Otherwise the first photo to render starts them, and a re-run with
            # nothing to render starts no process. A run that then finds the folder
            # locked, or nothing to render in it, forks the workers only to stop them
            # (they leave nothing behind): a rare case, paid so the common one, a
            # first run with photos to render, starts rendering sooner.
            local.start()
    try:
        _run(
            local,
            paths,
            out_dir,
            db,
            specs,
            limits,
            scheduler=scheduler,
            timeout=timeout,
            force=force,
            verify=verify,
            as_json=as_json,
            progress=progress,
            layout=layout,
        )
    finally:
        if local is not None:  # closed already, unless the run stopped before it began
            local.close(cancel=True)
        stop_forkserver()  # also when the run stopped early


def _run(
    local: WorkerPool | DaskExecutor | None,
    paths: tuple[Path, ...],
    out_dir: Path,
    db: Path,
    specs: SpecSet,
    limits: Limits,
    *,
    scheduler: str | None,
    timeout: float,
    force: bool,
    verify: bool,
    as_json: bool,
    progress: str,
    layout: str,
) -> None:
    """The run of ``derivo process``, on ``local`` or else on the cluster at ``scheduler``."""
    from rich.console import Console

    from derivo.cache import DerivativeCache
    from derivo.discover import scan
    from derivo.lock import FolderLock
    from derivo.mirror import mirror
    from derivo.outputs import finish_spool, open_spool, result_json, spool_json
    from derivo.pipeline import FEED, Pipeline
    from derivo.summary import PROGRESS_STEP, Summary, discovering, progress_bar

    err = Console(stderr=True)
    summary = Summary()
    # one JSON line per photo, not a list in memory; finish_spool says so if a write fails
    try:
        results = open_spool()
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    try:
        summary.start()
        started = time.perf_counter()
        try:
            found = iter(scan(paths, exclude=[out_dir]))
            first = next(found, None)  # a cluster checks it can read the sources
            if first is not None:
                found = itertools.chain([first], found)
            with (
                FolderLock(out_dir, purpose="derivo process"),
                DerivativeCache(db, root=out_dir) as cache,
                local
                if local is not None
                else make_executor(
                    scheduler=scheduler,
                    queue_size=FEED,
                    task_timeout=timeout,
                    out_dir=out_dir,
                    source=first.path if first else None,
                ) as pool,
                Pipeline(
                    cache=cache, executor=pool, out_dir=out_dir, specs=specs, limits=limits
                ) as pipeline,
            ):
                with progress_bar(
                    err, quiet=as_json or progress != "bar", started=started
                ) as bar_display:
                    bar = bar_display.add_task("finding photos", total=None)
                    roots = [p.resolve() for p in paths]
                    names: dict[str, Path] = {}
                    if layout == "mirror":
                        found = _noting_names(found, roots, names)
                    photos = discovering(found, bar_display, bar)

                    def unchanged(count: int) -> None:
                        summary.count_cached(count)
                        bar_display.update(bar, completed=summary.seen)

                    # only a result printed or mirrored needs making for an unchanged photo
                    counts_only = not as_json and progress != "jsonl" and layout != "mirror"
                    for result in pipeline.run(
                        photos,
                        force=force,
                        verify=verify,
                        passed_over=summary.pass_over,
                        unchanged=unchanged if counts_only else None,
                    ):
                        if result.error_kind == StorageFull.kind:
                            # every later photo would meet the same full disk; stop, resume later
                            raise StorageFull(result.error or f"no space left under {out_dir}")
                        summary.add(result)
                        if layout == "mirror" and result.ok:
                            mirror(out_dir, names[result.photo_id], result.derivatives.values())
                        if summary.total % PROGRESS_STEP == 0:
                            bar_display.update(bar, completed=summary.seen)
                        if progress == "jsonl":
                            click.echo(json.dumps(result_json(result)))
                        elif as_json:
                            spool_json(results, result)
                    bar_display.update(bar, completed=summary.seen)
            if as_json:
                finish_spool(results)
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted[/]: photos not finished stay pending for the next run.")
            sys.exit(130)
        except DerivoError as exc:
            raise UsageFailure(str(exc)) from None
        stop_forkserver()  # the pool is closed: reap the workers' parent, so its CPU counts
        summary.finish()
        summary.out, summary.db = str(out_dir.resolve()), str(db.resolve())
        if as_json and progress == "jsonl":
            click.echo(json.dumps({"summary": summary.as_dict()}))
        elif as_json:
            _echo_summary_with_results(summary.as_dict(), results)
        else:
            summary.print(err)
        sys.exit(1 if summary.failed or summary.pending else 0)
    finally:
        # a spool write that failed was reported; closing retries it and fails again
        with contextlib.suppress(OSError):
            results.close()


def _echo_summary_with_results(summary: dict[str, Any], results: IO[str]) -> None:
    """The summary as indented JSON with ``results`` streamed from the spool file."""
    head, tail = json.dumps({**summary, "results": []}, indent=2).rsplit('"results": []', 1)
    click.echo(head + '"results": [', nl=False)
    results.seek(0)
    # in pieces of many lines: one echo per photo costs more than the rest of a re-run
    for index, lines in enumerate(iter(lambda: results.readlines(1 << 16), [])):
        piece = ",\n    ".join(line.rstrip("\n") for line in lines)
        click.echo(("," if index else "") + "\n    " + piece, nl=False)
    click.echo("\n  ]" + tail)


def _noting_names(
    found: Iterable[Found], roots: list[Path], names: dict[str, Path]
) -> Iterator[Found]:
    """Pass found photos on, noting each one's name under its root for the mirror layout."""
    from derivo.mirror import relative_name

    for item in found:
        names[item.photo_id] = relative_name(item.path, roots)
        yield item


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
    from derivo.discover import find_photos
    from derivo.preview import plan_process, planned_line

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


process.help = (process.help or "").format(inputs=labels(INPUTS))


@main.command()
@output_options("Output folder whose cache to read.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def status(out_dir: Path, db: Path | None, as_json: bool) -> None:
    """Show how many photos are in each state, and why the failed ones failed."""
    from derivo.cache import DerivativeCache, PhotoStatus
    from derivo.outputs import failure_json

    db = db or out_dir / DB_NAME
    if not db.is_file():
        raise UsageFailure(f"no cache database at {db} (run 'derivo process' first, or pass --db)")
    try:
        with DerivativeCache(db, root=out_dir) as cache:
            counts = cache.counts()
            failed = cache.photos(status=PhotoStatus.FAILED, limit=10_000)
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
    click.echo(", ".join(f"{counts[s]} {s}" for s in PhotoStatus))
    for photo in failed:
        click.echo(f"failed {photo.source}: {photo.error}")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
