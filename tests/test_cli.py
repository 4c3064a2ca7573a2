"""The command line, as a user meets it: exit codes, messages, summaries."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from tests.conftest import BADINPUT, ORIENTATION, ROOT, SAMPLES
from tests.gates import Gate


def derivo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "derivo", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("command", [[], ["process"], ["status"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and "Show this message and exit." in result.output


def test_usage_errors_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(main, ["process", str(SAMPLES), "--workers", "1", "--cpu", "0.5"])
    assert both.exit_code == 2
    assert "Error: use either --workers or --cpu, not both" in both.output
    spec = runner.invoke(main, ["process", str(SAMPLES), "--spec", "thumb=0x10"])
    assert spec.exit_code == 2
    assert "Invalid value for --spec: spec thumb: width must be 1-16384, got 0" in spec.output
    missing = runner.invoke(main, ["process", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    status = runner.invoke(main, ["status", "--out", str(tmp_path)])
    assert status.exit_code == 2
    assert f"Error: no cache database at {tmp_path / 'derivo.db'}" in status.output


def test_a_newer_database_is_refused_before_any_work(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "derivo.db")
    db.execute("PRAGMA user_version = 7")
    db.close()
    result = CliRunner().invoke(main, ["process", str(ORIENTATION), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "cache database has schema version 7" in result.output


@pytest.mark.slow
def test_process_then_rerun_then_status(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = derivo("process", ORIENTATION, "--out", out, "--workers", "2", "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["rendered"], summary["cached"], summary["failed"]) == (8, 0, 0)
    assert summary["peak_worker_rss_mb"] > 0 and summary["db"] == str(out / "derivo.db")
    again = json.loads(derivo("process", ORIENTATION, "--out", out, "--json").stdout)
    assert (again["rendered"], again["cached"]) == (0, 8)
    status = CliRunner().invoke(main, ["status", "--out", str(out)])
    assert status.output == "0 pending, 0 processing, 8 done, 0 failed\n"


@pytest.mark.slow
def test_the_human_summary_says_where_derivatives_are(tmp_path: Path) -> None:
    result = derivo("process", ORIENTATION / "landscape_1.jpg", "--out", tmp_path)
    assert result.returncode == 0
    assert "1 rendered, 0 cached, 0 failed in" in result.stderr
    assert f"Derivatives in {tmp_path}, cache {tmp_path / 'derivo.db'}" in result.stderr


@pytest.mark.slow
def test_every_bad_input_in_one_batch_with_good_photos(tmp_path: Path) -> None:
    """Each bad file gets derivatives or a one-line recorded error; the good all render."""
    good = [SAMPLES / "jolla.jpg", SAMPLES / "IMG_5195.HEIC", *sorted(ORIENTATION.glob("*.jpg"))]
    out = tmp_path / "out"
    result = derivo("process", BADINPUT, *good, "--out", out, "--workers", "2", "--json")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    with open(BADINPUT / "MANIFEST.tsv") as f:
        manifest = list(csv.DictReader(f, delimiter="\t"))
    assert summary["photos"] == len(manifest) + len(good)
    failed = {Path(f["source"]).relative_to(BADINPUT).as_posix(): f for f in summary["failures"]}
    assert all("\n" not in f["error"] and f["error"] for f in failed.values())
    assert not any(str(SAMPLES) in path for path in failed)
    status = json.loads(CliRunner().invoke(main, ["status", "--out", str(out), "--json"]).output)
    assert status["counts"]["done"] + status["counts"]["failed"] == summary["photos"]
    for row in manifest:
        if row["category"] in ("truncated", "bomb") and row["path"] not in (
            "bomb/Pillow__png_decompression_dos.png",
        ):
            assert row["path"] in failed, f"{row['path']} should be refused"
        if row["expected"] == "render":
            assert row["path"] not in failed, f"{row['path']}: {failed.get(row['path'])}"
    assert not list(out.rglob("*.tmp"))


@pytest.fixture
def gated_derivo(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``derivo`` with its renders held at a gate; the process is reaped afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(gate: Gate, *args: str | Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.gated_cli", str(gate.folder), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_batch_still_completes(tmp_path: Path, gated_derivo) -> None:
    photos = _distinct_copies(tmp_path / "photos", 3)
    gate = Gate.make(tmp_path / "gate")
    proc = gated_derivo(
        gate, "process", photos, "--out", tmp_path / "out", "--workers", "1", "--json"
    )
    [victim] = gate.wait_for(1)
    os.kill(victim, signal.SIGKILL)
    assert gate.wait_for(2)[1] != victim  # a new worker took the same photo again
    gate.open()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert (summary["rendered"], summary["failed"]) == (3, 0)
    assert len(gate.arrivals()) == 4  # three photos, one of them twice


def _distinct_copies(folder: Path, count: int) -> Path:
    """``count`` copies of a real photo, each one byte different: that many renders."""
    folder.mkdir()
    for i in range(count):
        shutil.copy(SAMPLES / "jolla.jpg", folder / f"{i}.jpg")
        with open(folder / f"{i}.jpg", "ab") as f:
            f.write(bytes([i]))
    return folder


@pytest.mark.slow
def test_ctrl_c_stops_promptly_and_the_next_run_finishes(tmp_path: Path, gated_derivo) -> None:
    photos = _distinct_copies(tmp_path / "photos", 4)
    out = tmp_path / "out"
    gate = Gate.make(tmp_path / "gate")
    proc = gated_derivo(gate, "process", photos, "--out", out, "--workers", "1")
    gate.wait_for(1)  # a render is in progress, the other photos queued
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Interrupted: photos not finished stay pending for the next run." in stderr
    assert not list(out.rglob("*.tmp"))
    status = json.loads(CliRunner().invoke(main, ["status", "--out", str(out), "--json"]).output)
    assert status["counts"]["done"] == status["counts"]["processing"] == 0
    assert status["counts"]["pending"] == 4
    rerun = derivo("process", photos, "--out", out, "--json")
    assert rerun.returncode == 0
    summary = json.loads(rerun.stdout)
    assert (summary["rendered"], summary["cached"]) == (4, 0)


@pytest.mark.slow
def test_out_inside_the_photos_is_skipped_and_photos_inside_out_refused(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(SAMPLES / "jolla.jpg", library)
    for _ in range(2):
        result = derivo("process", library, "--out", library / "derivo", "--json")
        assert json.loads(result.stdout)["photos"] == 1
    same = CliRunner().invoke(main, ["process", str(library), "--out", str(library)])
    assert same.exit_code == 2
    assert f"Error: {library} is inside --out {library}" in same.output


@pytest.mark.slow
def test_odd_file_names_and_unreadable_entries(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(SAMPLES / "jolla.jpg", library / os.fsdecode(b"caf\xe9.jpg"))
    os.mkfifo(library / "pipe.jpg")
    result = derivo("process", library, "--out", tmp_path / "out", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rendered"] == 1
    named = derivo("process", library / "pipe.jpg", "--out", tmp_path / "out", "--json")
    assert named.returncode == 1
    [failure] = json.loads(named.stdout)["failures"]
    assert failure["error"] == "cannot read source: not a regular file"
