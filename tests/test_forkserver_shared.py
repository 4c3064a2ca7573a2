"""derivo shares the program's fork server: it keeps the program's preload and its workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from derivo.executors import forkserver

ROOT = Path(__file__).resolve().parent.parent


def run_program(order: str) -> dict[str, dict[str, object]]:
    """Run :mod:`tests.forkserver_user` in a fresh interpreter, whose fork server is its own."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.forkserver_user", order],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a generous deadline: a stop that waits for the program's workers hangs
        check=True,
    )
    return dict(json.loads(done.stdout))


@pytest.mark.slow
def test_a_server_derivo_started_keeps_the_programs_preload_and_workers() -> None:
    seen = run_program("derivo-first")
    server = seen["derivo"]["server"]
    assert seen["derivo"] == {"user_preload": True, "renderer": True, "server": server}
    # the program's pool started after derivo's and outlives it, on the same server
    assert seen["user_before"] == seen["user_after"] == seen["derivo"]
    assert seen["running_at_end"] is False  # stopped once the program's pool closed


@pytest.mark.slow
def test_a_server_the_program_started_is_never_stopped_by_derivo() -> None:
    seen = run_program("user-first")
    server = seen["user_before"]["server"]
    assert seen["user_before"] == {"user_preload": True, "renderer": False, "server": server}
    assert seen["derivo"]["server"] == seen["user_after"]["server"] == server
    assert seen["user_after"] == seen["user_before"]
    assert seen["running_at_end"] is True


def test_the_private_forkserver_state_read_is_there() -> None:
    server = forkserver._server()
    assert isinstance(server._preload_modules, list)
    assert server._forkserver_pid is None or isinstance(server._forkserver_pid, int)
    assert callable(server._stop)
