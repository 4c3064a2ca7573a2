"""``derivo config``: the settings a run would use, and where each comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from derivo.cli.options import output_options, run_options, settings_from
from derivo.config import settings_lines


@click.command(name="config")
@output_options("Output folder whose derivo.toml to read.")
@run_options
def config_command(out_dir: Path, db: Path | None, config: Path | None, **options: Any) -> None:
    """Print the settings a run would use, and where each comes from.

    Options given here override the file, as they would for process.
    """
    click.echo("\n".join(settings_lines(settings_from(out_dir, config, **options))))
