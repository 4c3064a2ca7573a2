"""Start-up of a run: workers are forked ready to render, and a re-run starts none.

The fork server imports what a worker needs once; whatever a worker imports after
the fork, every worker pays again. ``derivo process`` starts its workers first when
everything will render, and not at all when nothing does.
"""

from __future__ import annotations

import json
import multiprocessing.forkserver
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivo.cli import main
from derivo.executors.forkserver import PRELOAD
from derivo.lock import FolderLock
from tests.conftest import ORIENTATION, SAMPLES

RENDER_ONE = """
import sys, tempfile
{preload}
before = set(sys.modules)
from derivo.render import init_worker, render
from derivo.specs import DEFAULT_SPECS
from derivo.tasks import RenderTask
init_worker()
task = RenderTask(source=sys.argv[1], source_hash="ab" * 32, specs=DEFAULT_SPECS,
                  out_dir=tempfile.mkdtemp(), sync=False)
assert render(task).derivatives
print(" ".join(sorted(set(sys.modules) - before)))
"""


def imported_by_a_render(photo: Path, preload: tuple[str, ...]) -> list[str]:
    """Modules a fresh interpreter imports to render ``photo`` after importing ``preload``."""
    code = RENDER_ONE.format(preload="\n".join(f"import {name}" for name in preload))
    done = subprocess.run(
        [sys.executable, "-c", code, str(photo)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize(
    "photo", [ORIENTATION / "landscape_6.jpg", SAMPLES / "jolla.jpg"], ids=lambda p: p.name
)
def test_a_worker_renders_a_jpeg_without_importing_anything(photo: Path) -> None:
    assert imported_by_a_render(photo, PRELOAD) == []


def test_the_import_check_sees_what_a_worker_would_import() -> None:
    """It can fail: with only part of the renderer preloaded, the render imports the rest."""
    assert "derivo.render" in imported_by_a_render(ORIENTATION / "landscape_6.jpg", ("pyvips",))


def test_the_renderer_imports_no_cache_pipeline_or_command_line() -> None:
    code = (
        "import sys, derivo.render\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('derivo.', 'sqlite3', "
        "'click', 'rich')))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "derivo.render" in loaded
    unneeded = ("derivo.cache", "derivo.pipeline", "derivo.cli", "derivo.executors", "sqlite3")
    assert not [m for m in loaded if m.startswith((*unneeded, "click", "rich"))]


def test_the_command_line_imports_its_other_commands_only_when_used() -> None:
    commands = ["check", "clean", "config", "ls", "serve", "watch"]
    code = (
        "import sys, derivo.cli\n"
        f"print(' '.join(c for c in {commands} if 'derivo.cli.' + c in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0
    assert all(f"  {command} " in listed.output for command in commands)
    assert CliRunner().invoke(main, ["ls", "--help"]).exit_code == 0


@pytest.mark.slow
def test_a_fresh_run_starts_its_workers_and_a_rerun_with_nothing_to_render_starts_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(SAMPLES / "jolla.jpg", photos)
    # an hour old: the quick check vouches for it on the re-run (a fresh mtime it hashes)
    os.utime(photos / "jolla.jpg", (time.time() - 3600,) * 2)
    events: list[str] = []
    ensure_running = multiprocessing.forkserver.ensure_running
    take_lock = FolderLock.__enter__

    def server() -> None:
        events.append("fork server")
        ensure_running()

    def lock(self: FolderLock) -> FolderLock:
        events.append("lock")
        return take_lock(self)

    monkeypatch.setattr(multiprocessing.forkserver, "ensure_running", server)
    monkeypatch.setattr(FolderLock, "__enter__", lock)
    args = ["process", str(photos), "--out", str(tmp_path / "out"), "--workers", "1", "--json"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["rendered"] == 1
    assert events[0] == "fork server" and "lock" in events  # workers start before the set-up
    events.clear()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["cached"] == 1
    assert events == ["lock"]


def test_the_command_script_entry_loads_no_command_line_until_run() -> None:
    """The fork server imports the program's script; it must not pull in the CLI."""
    code = "import sys, derivo.__main__\nprint('derivo.cli' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
    ran = subprocess.run(
        [sys.executable, "-c", "from derivo.__main__ import run; run()", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0 and "version" in ran.stdout


def test_the_program_spares_the_interpreter_its_last_collection() -> None:
    """Whatever way a command ends, the objects left are frozen, so the interpreter's
    final collection does not walk them (about 70 ms once the Dask client is loaded)."""
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
        "from derivo.__main__ import run\n"
        "run()\n"
    )
    for args in (["--version"], ["no-such-command"]):
        ran = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == (0 if args == ["--version"] else 2), ran.stderr
        frozen = ran.stdout.split()[-2:]
        assert frozen[0] == "frozen" and int(frozen[1]) > 1000, ran.stdout
