"""``derivo ls``: which files each recorded photo has."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from derivo.cache import DerivativeCache
from derivo.cli.options import UsageFailure, existing_cache, output_options
from derivo.errors import DerivoError
from derivo.outputs import (
    list_outputs,
    outputs_json,
    outputs_lines,
)


@click.command(name="ls")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@output_options("Output folder whose cache to read.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per photo.")
def list_command(paths: tuple[Path, ...], out_dir: Path, db: Path | None, as_json: bool) -> None:
    """List recorded photos (all, or those at or under PATHS) with their derivatives.

    Each photo: source, state, size; each derivative: spec, size, bytes and path.
    Exit code 1 when PATHS are given and no recorded photo is under them.
    """
    db = existing_cache(out_dir, db)
    try:
        with DerivativeCache(db, root=out_dir) as cache:
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
