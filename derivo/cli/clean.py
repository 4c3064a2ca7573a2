"""``derivo clean``: forget what is gone, delete what nothing uses."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from derivo.cache import DerivativeCache
from derivo.clean import apply_clean, clean_lines, plan_clean
from derivo.cli.options import UsageFailure, existing_cache, output_options, settings_from
from derivo.config import CONFIG_NAME
from derivo.errors import DerivoError
from derivo.lock import FolderLock


@click.command(name="clean")
@output_options("Output folder to clean.")
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
@click.option(
    "--forget-missing",
    is_flag=True,
    help="Forget photos whose folder is gone as well; without it they are kept, "
    "as the folder may be on a drive or share that is not mounted.",
)
def clean_command(
    out_dir: Path,
    db: Path | None,
    spec_args: tuple[str, ...],
    config: Path | None,
    dry_run: bool,
    forget_missing: bool,
) -> None:
    """Forget photos whose source is gone and delete the files nothing uses.

    Deletes derivatives of specs not in use (--spec, else the config file's, else the
    defaults), and every
    file in a content folder that no record points to. Prints each removal and the
    bytes freed. A photo whose folder is gone too is kept (the folder may be on an
    unmounted drive) unless --forget-missing.
    """
    db = existing_cache(out_dir, db)
    specs = settings_from(out_dir, config, workers=None, cpu=None, spec_args=spec_args).specs
    try:
        with contextlib.ExitStack() as stack:
            if not dry_run:
                stack.enter_context(FolderLock(out_dir, purpose="derivo clean"))
            cache = stack.enter_context(DerivativeCache(db, root=out_dir))
            plan = plan_clean(cache, out_dir, specs, forget_missing=forget_missing)
            if not dry_run:
                apply_clean(cache, plan)
    except DerivoError as exc:
        raise UsageFailure(str(exc)) from None
    click.echo("\n".join(clean_lines(plan, cwd=Path.cwd(), dry_run=dry_run)))
