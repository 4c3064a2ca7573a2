"""``derivo serve`` and ``derivo watch`` stop the fork server their workers came from.

Each command runs under a small parent that is a child subreaper (Linux
``PR_SET_CHILD_SUBREAPER``): every process the command leaves behind when it exits,
still running or ended but not waited for, is handed to that parent instead of init,
which reaps it and reports its pid. A fork server the command stopped was waited for
by the command itself, so it is not among them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import SAMPLES

DEADLINE = 180  # seconds; generous for a shared machine, reached only on failure

#: argv: REPORT COMMAND...; runs COMMAND with Ctrl-C as in a terminal, then reaps what
#: it left behind and writes {"returncode": ..., "adopted": [pid, ...]} to REPORT.
SUBREAPER = """
import ctypes, json, os, signal, subprocess, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit(f"cannot become a child subreaper: {os.strerror(ctypes.get_errno())}")
command = subprocess.Popen(
    sys.argv[2:], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
)
returncode = command.wait()
adopted = []
while True:
    try:
        adopted.append(os.wait()[0])
    except ChildProcessError:
        break
with open(sys.argv[1], "w") as report:
    json.dump({"returncode": returncode, "adopted": adopted}, report)
"""


@dataclass(frozen=True)
class Exit:
    """How the command ended, and the pids of the processes it left behind."""

    returncode: int
    left_behind: list[int]
    forkserver: int
    stderr: str


def _child(parent: psutil.Process, *words: str) -> psutil.Process:
    """Wait for the child of ``parent`` whose command line holds ``words``."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        for child in parent.children():
            try:
                line = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if all(word in line for word in words):
                return child
        time.sleep(0.05)
    raise AssertionError(f"no child of {parent.pid} running {words} after {DEADLINE} s")


def _run_until_workers_then(tmp_path: Path, sig: signal.Signals, *command: str) -> Exit:
    """Run ``derivo COMMAND`` until its fork server has forked a worker, then send it ``sig``."""
    report = tmp_path / "report.json"
    with subprocess.Popen(
        [sys.executable, "-c", SUBREAPER, str(report), sys.executable, "-m", "derivo", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DERIVO_")}
        | {"DERIVO_TOKEN": "test-token-forkserver"},
        cwd=tmp_path,
    ) as reaper:
        try:
            derivo = _child(psutil.Process(reaper.pid), "derivo", command[0])
            server = _child(derivo, "multiprocessing.forkserver")
            _child(server, "")  # a worker: the pool is up
            derivo.send_signal(sig)
            _, stderr = reaper.communicate(timeout=DEADLINE)
        finally:
            if reaper.poll() is None:
                reaper.kill()
    assert reaper.returncode == 0, stderr
    reaped = json.loads(report.read_text())
    return Exit(reaped["returncode"], reaped["adopted"], server.pid, stderr)


def _library(tmp_path: Path) -> Path:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(SAMPLES / "jolla.jpg", library / "jolla.jpg")
    return library


@pytest.mark.slow
def test_watch_stops_its_fork_server_on_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "out"
    end = _run_until_workers_then(
        tmp_path,
        signal.SIGINT,
        *("watch", str(_library(tmp_path)), "--out", str(out), "--workers", "1"),
        *("--settle", "0.1"),
    )
    assert end.returncode == 0, end.stderr
    assert "Stopped: photos not finished stay pending" in end.stderr
    assert end.forkserver not in end.left_behind


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "returncode"),
    [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 1)],
    ids=["SIGTERM", "Ctrl-C"],
)
def test_serve_stops_its_fork_server_when_it_exits(
    tmp_path: Path, sig: signal.Signals, returncode: int
) -> None:
    """SIGTERM still ends the process by that signal, once the fork server is stopped."""
    data = tmp_path / "data"
    end = _run_until_workers_then(
        tmp_path, sig, "serve", "--data-dir", str(data), "--port", "0", "--workers", "1"
    )
    assert end.returncode == returncode, end.stderr
    assert end.forkserver not in end.left_behind
