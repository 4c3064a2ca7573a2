"""``derivo check``: is the cache whole, and does the disk hold what it records?"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from derivo.cache import DerivativeCache
from derivo.cli.options import UsageFailure, existing_cache, output_options
from derivo.errors import DerivoError
from derivo.lock import FolderLock


@click.command(name="check")
@output_options("Output folder whose cache to check.")
@click.option("--verify", is_flag=True, help="Also hash every derivative and source, and compare.")
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what can be fixed: forget damaged derivatives and queue their photos again, "
    "set photos left processing to pending. Not while another derivo uses the database.",
)
def check_command(out_dir: Path, db: Path | None, verify: bool, repair: bool) -> None:
    """Check the cache database and the files it records; report, and repair what can be.

    Exit codes: 0 nothing wrong (or all repaired), 1 problems left, 2 cannot check.
    """
    from derivo.check import check

    db = existing_cache(out_dir, db)
    try:
        with contextlib.ExitStack() as stack:
            if repair:  # it deletes records and moves photos: not under a running derivo
                stack.enter_context(FolderLock(out_dir, purpose="derivo check --repair"))
            cache = stack.enter_context(DerivativeCache(db, root=out_dir))
            report = check(cache, verify=verify, repair=repair)
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
