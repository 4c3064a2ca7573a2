"""The ``derivo`` command line: ``process`` a library, ``status`` of what is recorded,
``check`` the cache and its files, ``serve``.

Exit codes: 0 all photos have their derivatives; 1 some photos failed (the rest
are processed and recorded); 2 derivo could not run (bad usage or configuration).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from derivo.cache import DerivativeCache, PhotoStatus
from derivo.discover import find_photos
from derivo.errors import DerivoError, StorageFull
from derivo.executors import WorkerPool
from derivo.executors.pool import MAX_TASK_TIMEOUT
from derivo.formats import INPUTS, labels
from derivo.limits import MB, MP, Limits
from derivo.pipeline import Pipeline
from derivo.specs import resolve_specs
from derivo.summary import Summary, progress_bar

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
    type=click.FloatRange(min=0, max=MAX_TASK_TIMEOUT, min_open=True),
    default=120.0,
    show_default=True,
    help="Seconds one photo may take before its worker is killed.",
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
    as_json: bool,
) -> None:
    """Make the derivatives of every photo under PATHS (folders are walked recursively).

    Photos are recognised by their bytes ({inputs}).
    An unchanged photo is never rendered twice; a changed spec re-renders only
    that spec.
    """
    if workers is not None and cpu is not None:
        raise click.UsageError("use either --workers or --cpu, not both")
    for path in paths:
        if path.resolve().is_relative_to(out_dir.resolve()):
            raise click.UsageError(f"{path} is inside --out {out_dir}: derivatives are not sources")
    try:
        specs = resolve_specs(spec_args)
    except DerivoError as exc:
        raise click.BadParameter(str(exc), param_hint="--spec") from None
    limits = Limits(max_pixels=max_pixels * MP, max_bytes=max_mb * MB, lenient=lenient)
    db = db or out_dir / DB_NAME
    err = Console(stderr=True)
    summary = Summary()
    summary.start()
    try:
        with (
            DerivativeCache(db) as cache,
            WorkerPool(workers, cpu=cpu, task_timeout=timeout) as pool,
            Pipeline(
                cache=cache, executor=pool, out_dir=out_dir, specs=specs, limits=limits
            ) as pipeline,
        ):
            found = list(find_photos(paths, exclude=[out_dir]))
            with progress_bar(err, quiet=as_json) as progress:
                bar = progress.add_task("photos", total=len(found))
                photos = [(item.photo_id, item.path) for item in found]
                for result in pipeline.run(photos, force=force, verify=verify):
                    if result.error_kind == StorageFull.kind:
                        # every later photo would meet the same full disk; stop, resume later
                        raise StorageFull(result.error or f"no space left under {out_dir}")
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


process.help = (process.help or "").format(inputs=labels(INPUTS))


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
            failed = cache.photos(status=PhotoStatus.FAILED, limit=10_000)
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
    click.echo(", ".join(f"{counts[s]} {s}" for s in PhotoStatus))
    for photo in failed:
        click.echo(f"failed {photo.source}: {photo.error}")


@main.command()
@_output_options("Output folder whose cache to check.")
@click.option("--verify", is_flag=True, help="Also hash every derivative and source, and compare.")
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what can be fixed: forget damaged derivatives and queue their photos again, "
    "set photos left processing to pending. Not while another derivo uses the database.",
)
def check(out_dir: Path, db: Path | None, verify: bool, repair: bool) -> None:
    """Check the cache database and the files it records; report, and repair what can be.

    Exit codes: 0 nothing wrong (or all repaired), 1 problems left, 2 cannot check.
    """
    from derivo.check import check as run_check

    db = db or out_dir / DB_NAME
    if not db.is_file():
        raise UsageFailure(f"no cache database at {db} (run 'derivo process' first, or pass --db)")
    try:
        with DerivativeCache(db) as cache:
            report = run_check(cache, verify=verify, repair=repair)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    for problem in report.problems:
        click.echo(problem.line())
    left = len(report.left)
    fixed = len(report.problems) - left
    click.echo(
        f"{db}: {report.photos} photos, {report.derivatives} derivatives checked; "
        f"{len(report.problems)} problem(s), {fixed} repaired, {left} left"
    )
    sys.exit(1 if left else 0)


def _setting_options(command: Callable[..., None]) -> Callable[..., None]:
    """One option per setting that has one, from the settings model (help, bounds, default)."""
    from derivo.service.settings import ENVIRONMENT, option_range

    for env in reversed(ENVIRONMENT):
        if env.option is None:
            continue
        low, high = option_range(env)
        kind: Any
        if env.type is int:
            kind = click.IntRange(_int(low), _int(high))
        elif env.type is float:
            kind = click.FloatRange(low, high, min_open=env.low_open)
        elif env.type is Path:
            kind = click.Path(file_okay=False, path_type=Path)
        else:
            kind = click.STRING
        command = click.option(
            env.option,
            env.setting,
            type=kind,
            help=f"{env.help}  [env: {env.name}; default: {env.default_text}]",
        )(command)
    return command


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@main.command()
@_setting_options
def serve(**options: Any) -> None:
    """Serve the upload API and the gallery page over HTTP (see docs/service.md).

    Uploads and deletes need the bearer token from DERIVO_TOKEN; without it, a token
    is generated at first start, kept in DATA_DIR/token (mode 0600) and printed once.
    Everything else (gallery, photos, derivatives, /healthz, /metrics) is public.
    Options override the environment.
    """
    from derivo.service.server import serve as run
    from derivo.service.settings import ENVIRONMENT, Settings

    given = {
        env.setting: env.parse(str(options[env.setting]))
        for env in ENVIRONMENT
        if options.get(env.setting) is not None
    }
    try:
        settings = Settings.from_env(os.environ, **given)
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    try:
        run(settings)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
