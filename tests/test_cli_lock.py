"""One run per output folder, across real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ORIENTATION

pytestmark = pytest.mark.slow  # real command-line processes

HOLD = """
import sys
from pathlib import Path
from derivo.lock import FolderLock
with FolderLock(Path(sys.argv[1]), purpose="derivo process"):
    print("locked", flush=True)
    sys.stdin.read()  # held until the test closes our stdin
"""


def derivo(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "derivo", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_is_refused_naming_the_holder_then_runs_once_it_is_gone(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with derivo("process", ORIENTATION / "landscape_1.jpg", "--out", out) as refused:
            stdout, stderr = refused.communicate(timeout=120)
        holder.stdin.close()  # lets the holder go
        assert refused.returncode == 2, stderr
        assert stderr == (
            f"Error: {out} is in use by derivo process (pid {holder.pid}); "
            "wait for it to finish, or use another output folder\n"
        )
        assert not (out / "derivo.db").exists()
    with derivo("process", ORIENTATION / "landscape_1.jpg", "--out", out, "--json") as after:
        stdout, stderr = after.communicate(timeout=300)
    assert after.returncode == 0, stderr
    assert json.loads(stdout)["rendered"] == 1


def test_two_overlapping_runs_never_render_a_photo_twice(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("process", ORIENTATION, "--out", out, "--workers", "1", "--json")
    with derivo(*args) as first, derivo(*args) as second:
        finished = [
            (run, other, *run.communicate(timeout=300))
            for run, other in ((first, second), (second, first))
        ]
    rendered = 0
    for run, other, stdout, stderr in finished:
        if run.returncode == 2:
            assert f"is in use by derivo process (pid {other.pid})" in stderr
        else:
            assert run.returncode == 0, stderr
            summary = json.loads(stdout)
            assert summary["rendered"] + summary["cached"] == 8
            rendered += summary["rendered"]
    assert rendered == 8
