"""The coordinator's peak memory in ``--json`` is its own, not the program that started it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from derivo.summary import own_peak_rss_kb
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow  # a real coordinator process

#: Memory the starting program holds: far more than a coordinator of one photo needs.
PARENT_MB = 400

_START_FROM_A_LARGE_PROCESS = f"""
import subprocess, sys
ballast = b"x" * ({PARENT_MB} * 2**20)  # resident, not just reserved
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True)
print(done.stdout)
"""


def test_a_coordinator_started_by_a_large_process_reports_its_own_peak(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(SAMPLES / "jolla.jpg", photos)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "derivo", "process", str(photos), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", _START_FROM_A_LARGE_PROCESS, *command, "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    summary = json.loads(done.stdout)
    assert summary["rendered"] == 1
    assert 0 < summary["coordinator_peak_rss_mb"] < PARENT_MB / 2


def test_the_peak_is_at_least_what_this_process_holds_now() -> None:
    with open("/proc/self/status", encoding="ascii") as status:
        now = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    assert own_peak_rss_kb() >= now
