"""``derivo config``: the settings a run (or ``--serve``, a server) would use, and where each
comes from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from derivo.cli.options import UsageFailure, output_options, run_options, settings_from, specs_given
from derivo.config import settings_lines
from derivo.executors import workers_for
from derivo.limits import MB


@click.command(name="config")
@output_options("Output folder whose derivo.toml to read.")
@run_options
@click.option(
    "--serve",
    "for_serve",
    is_flag=True,
    help="Show what 'derivo serve' would use instead: its options, DERIVO_* variables, "
    "DATA_DIR/derivo.toml.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --serve: the server's data directory.  [env: DERIVO_DATA_DIR; "
    "default: ./derivo-data]",
)
def config_command(
    out_dir: Path,
    db: Path | None,
    config: Path | None,
    for_serve: bool,
    data_dir: Path | None,
    **options: Any,
) -> None:
    """Print the settings a run would use, and where each comes from.

    Options given here override the file, as they would for process; with --serve,
    the settings of 'derivo serve' (options, then environment, then file).
    """
    if for_serve:
        click.echo("\n".join(_serve_lines(config, data_dir, options)))
        return
    if data_dir is not None:
        raise click.UsageError("--data-dir is the server's: use it with --serve")
    click.echo("\n".join(settings_lines(settings_from(out_dir, config, **options))))


def _serve_lines(config: Path | None, data_dir: Path | None, options: dict[str, Any]) -> list[str]:
    """The service's settings, with the run options given here mapped onto its own."""
    from derivo.service.config import resolve_settings
    from derivo.service.config import settings_lines as serve_lines

    if options["workers"] is not None and options["cpu"] is not None:
        raise click.UsageError("use either --workers or --cpu, not both")
    given: dict[str, tuple[Any, str]] = {}
    for setting, value, option in (
        ("data_dir", data_dir, "--data-dir"),
        ("config", config, "--config"),
        ("workers", options["workers"], "--workers"),
        ("workers", options["cpu"] and workers_for(cpu=options["cpu"]), "--cpu"),
        ("specs", specs_given(options["spec_args"]), "--spec"),
        ("lenient", options["lenient"], "--lenient" if options["lenient"] else "--strict"),
        ("max_pixels", options["max_pixels"], "--max-pixels"),
        ("max_upload_bytes", options["max_mb"] and options["max_mb"] * MB, "--max-mb"),
        ("task_timeout", options["timeout"], "--timeout"),
    ):
        if value is not None:
            given[setting] = (value, option)
    try:
        return serve_lines(resolve_settings(os.environ, given))
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
