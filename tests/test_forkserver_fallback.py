"""Where the fork server cannot start, workers are spawned instead: the pool still works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: A fresh interpreter (no fork server running yet) whose temp folder is at a path too
#: long for the server's Unix socket; prints whether its worker was spawned by it.
SCRIPT = """
import multiprocessing, os, sys
from derivo import RenderTask, WorkerPool
from tests.test_pool_forkserver import burn
multiprocessing.current_process()._config["tempdir"] = sys.argv[1]
task = RenderTask(source="burn", source_hash="00" * 32, specs=(), out_dir="/nonexistent")
with WorkerPool(workers=1, func=burn, initializer=None) as pool:
    print(pool.submit(task).result(timeout=120).width == os.getpid())
"""


@pytest.mark.slow
def test_a_temp_folder_too_deep_for_the_servers_socket_falls_back_to_spawned_workers(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(deep)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True"]
