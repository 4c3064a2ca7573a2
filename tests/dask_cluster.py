"""A real Dask cluster for tests: a scheduler and single-threaded workers, as processes.

Each cluster is started with the ``dask`` command on 127.0.0.1 and free ports,
awaited by asking its scheduler, and always reaped (each process leads its own
session, so a nanny and its worker go together).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from distributed import Client

from tests.conftest import ROOT

DASK = str(Path(sys.executable).parent / "dask")
DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cluster:
    """Processes of one test cluster; each in its own session, so it is reaped whole."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self._client: Client | None = None

    def _spawn(
        self, name: str, argv: Sequence[str], env: dict[str, str], cwd: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes.append(process)
        return process

    def scheduler(self, env: dict[str, str] | None = None) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),  # it unpickles tasks, whose functions live in tests/
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2",
            **(env or {}),
        }
        argv = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port)]
        self._spawn("scheduler", [*argv, "--no-dashboard"], env)

    def worker(
        self,
        name: str,
        *,
        argv: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        wrap: Sequence[str] = (),
        wait: bool = True,
    ) -> subprocess.Popen[bytes]:
        """Start one single-threaded worker; with ``wait``, until the scheduler counts it."""
        before = len(self.client.nthreads())
        command = argv or [DASK, "worker"]
        options = ["--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", name]
        base = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = self._spawn(
            name, [*wrap, *command, self.address, *options], {**base, **(env or {})}, cwd
        )
        if wait:
            self.client.wait_for_workers(before + 1, timeout=DEADLINE)
        return process

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.address, timeout=DEADLINE, set_as_default=False)
        return self._client

    def pids(self) -> dict[str, int]:
        """Worker name -> pid of the process that runs its tasks."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        pids = self.client.run(os.getpid)
        return {info[address]["name"]: pid for address, pid in pids.items()}

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        for process in reversed(self.processes):
            self.stop(process)


@contextlib.contextmanager
def cluster(
    logs: Path,
    workers: int = 2,
    scheduler_env: dict[str, str] | None = None,
    **worker_options: object,
) -> Iterator[Cluster]:
    logs.mkdir(parents=True, exist_ok=True)
    running = Cluster(logs)
    try:
        running.scheduler(scheduler_env)
        for i in range(workers):
            running.worker(f"w{i}", wait=False, **worker_options)  # type: ignore[arg-type]
        if workers:
            running.client.wait_for_workers(workers, timeout=DEADLINE)
        yield running
    finally:
        running.close()
