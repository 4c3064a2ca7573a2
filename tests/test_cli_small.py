"""Small things people hit: messages that say what to do, one unit, shorthands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.progress import Progress

from derivo.cli import main
from derivo.summary import progress_bar
from tests.conftest import ORIENTATION, SAMPLES

pytestmark = pytest.mark.usefixtures("cli_renders_inline")

NO_FASTAPI = "import sys; sys.modules['fastapi'] = None; from derivo.cli import main; main()"


def test_serve_without_the_serve_extra_says_what_to_install() -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_FASTAPI, "serve"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr == (
        "Error: derivo serve needs the serve extra (fastapi is missing): "
        "pip install 'derivo[serve]'\n"
    )


def test_max_pixels_counts_pixels_like_limits_and_the_reason_names_it(tmp_path: Path) -> None:
    runner = CliRunner()
    for value in ("1M", "1000000", "1MP"):
        result = runner.invoke(
            main,
            [
                "process",
                str(SAMPLES / "jolla.jpg"),
                "--out",
                str(tmp_path / value),
                "--json",
                "--workers",
                "1",
                "--max-pixels",
                value,
            ],
        )
        assert result.exit_code == 1
        [failure] = json.loads(result.stdout)["failures"]
        assert failure["kind"] == "limit"
        assert failure["error"] == "3264x2448 exceeds the 1 MP limit (--max-pixels)"
    small = runner.invoke(main, ["process", str(SAMPLES), "--max-pixels", "50"])
    assert small.exit_code == 2
    assert (
        "Invalid value for '--max-pixels': 50 pixels is smaller than a photo; "
        "for megapixels write 50M" in small.output
    )
    bad = runner.invoke(main, ["process", str(SAMPLES), "--max-pixels", "lots"])
    assert bad.exit_code == 2
    assert "'lots' is not a pixel count such as 200M or 200000000" in bad.output


def test_inline_specs_accept_one_side_shorthands(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "process",
            str(ORIENTATION / "landscape_1.jpg"),
            "--out",
            str(tmp_path),
            "--json",
            "--workers",
            "1",
            "--spec",
            "wide=300x",
            "--spec",
            "tall=x90",
        ],
    )
    assert result.exit_code == 0, result.output
    [photo] = json.loads(result.stdout)["results"]
    sizes = {d["spec"]: (d["width"], d["height"]) for d in photo["derivatives"]}
    assert sizes == {"wide": (300, 225), "tall": (120, 90)}


def test_help_lists_every_input_format() -> None:
    text = " ".join(CliRunner().invoke(main, ["process", "--help"]).output.split())
    assert "(JPEG, PNG, WebP, GIF, TIFF, HEIF/HEIC, AVIF)" in text


def test_progress_rate_counts_from_the_start_like_the_summary() -> None:
    bar: Progress = progress_bar(Console(), quiet=True, started=time.perf_counter() - 500)
    task_id = bar.add_task("photos", total=2000)
    bar.advance(task_id, 1000)
    rate = bar.columns[4].render(bar.tasks[0])  # type: ignore[union-attr]
    assert rate.plain == "2.0 photos/s"


def test_shell_completion_script_is_generated() -> None:
    result = subprocess.run(
        [Path(sys.executable).parent / "derivo"],  # the installed entry point
        env={**os.environ, "_DERIVO_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert "_derivo_completion()" in result.stdout and "complete -o nosort" in result.stdout


def test_a_missing_source_has_its_own_kind(make_pipeline, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with make_pipeline() as pipeline:
        result = pipeline.submit("gone", tmp_path / "gone.jpg").result()
    assert (result.outcome, result.error_kind) == ("failed", "missing")
    assert result.error == "source file not found"
    status = CliRunner().invoke(main, ["status", "--out", str(tmp_path / "out"), "--json"])
    [failure] = json.loads(status.stdout)["failures"]
    assert failure == {
        "id": "gone",
        "source": str(tmp_path / "gone.jpg"),
        "kind": "missing",
        "error": "source file not found",
    }


def test_the_summary_counts_files_passed_over(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    (library / "notes.txt").write_text("not a photo")
    (library / "list.csv").write_text("a,b")
    (library / "photo.jpg").write_bytes((ORIENTATION / "landscape_1.jpg").read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["process", str(library), "--out", str(out), "--json"])
    assert json.loads(result.stdout)["not_images"] == 2
    human = CliRunner().invoke(main, ["process", str(library), "--out", str(out)])
    assert "0 rendered, 1 cached, 0 failed, 2 files passed over (not images) in" in human.stderr


def test_every_new_command_has_help() -> None:
    for command in ("ls", "clean", "config", "watch"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0, command
        assert f"Usage: main {command} [OPTIONS]" in result.output
