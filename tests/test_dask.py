"""The Dask executor on a real cluster: a real scheduler and real worker processes.

Each cluster is started with the ``dask`` command on 127.0.0.1 and free ports,
awaited by asking its scheduler, and always reaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from distributed import Client

from derivo import ClusterError, CorruptImage, DaskExecutor, RenderTask, TaskTimeout
from derivo.specs import DEFAULT_SPECS
from tests.conftest import BADINPUT, ROOT, SAMPLES
from tests.workers import scripted

pytestmark = pytest.mark.slow

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

    def scheduler(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),  # it unpickles tasks, whose functions live in tests/
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2",
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
def cluster(logs: Path, workers: int = 2, **worker_options: object) -> Iterator[Cluster]:
    logs.mkdir(parents=True, exist_ok=True)
    running = Cluster(logs)
    try:
        running.scheduler()
        for i in range(workers):
            running.worker(f"w{i}", wait=False, **worker_options)  # type: ignore[arg-type]
        if workers:
            running.client.wait_for_workers(workers, timeout=DEADLINE)
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and two single-threaded workers, for the tests that do not break them."""
    with cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def derivo(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "derivo", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def files(out: Path) -> dict[str, bytes]:
    """Every derivative under ``out`` (``<hh>/<hash>/<file>``) with its bytes."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.glob("*/*/*") if p.is_file()}


def test_a_cluster_makes_the_same_derivatives_and_errors_as_the_pool(
    shared: Cluster, tmp_path: Path
) -> None:
    local = derivo("process", SAMPLES, BADINPUT, "--out", tmp_path / "pool", "--json")
    dask = derivo(
        "process", SAMPLES, BADINPUT, "--out", tmp_path / "dask", "--json",
        "--scheduler", shared.address,
    )  # fmt: skip
    assert (local.returncode, dask.returncode) == (1, 1), dask.stderr  # bad inputs fail
    by_pool, by_dask = json.loads(local.stdout), json.loads(dask.stdout)
    for key in ("photos", "rendered", "cached", "failed", "pending"):
        assert by_dask[key] == by_pool[key], key
    assert by_dask["rendered"] > 20 and by_dask["failed"] > 5
    assert sorted(map(str, by_dask["failures"])) == sorted(map(str, by_pool["failures"]))
    made = files(tmp_path / "dask")
    assert len(made) == 2 * by_dask["rendered"]
    assert made == files(tmp_path / "pool")


def test_input_errors_are_not_retried_and_overdue_renders_time_out(
    shared: Cluster, tmp_path: Path
) -> None:
    def task(source: str) -> RenderTask:
        return RenderTask(source=source, source_hash="ab" * 32, specs=DEFAULT_SPECS,
                          out_dir=str(tmp_path))  # fmt: skip

    with DaskExecutor(shared.address, func=scripted, task_timeout=1, max_attempts=2) as dask:
        bad, hang = dask.submit(task("bad")), dask.submit(task("hang"))
        with pytest.raises(CorruptImage, match="truncated JPEG"):
            bad.result(timeout=DEADLINE)
        assert bad.attempts == 1
        with pytest.raises(TaskTimeout, match=r"exceeded the 1 s time limit \(2 attempts\)"):
            hang.result(timeout=DEADLINE)
        assert hang.attempts == 2
        # the overdue workers were restarted and work again
        assert dask.submit(task("ok")).result(timeout=DEADLINE).width > 0
    shared.client.wait_for_workers(2, timeout=DEADLINE)


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        shutil.copy(SAMPLES / "jolla.jpg", photos / f"{i}.jpg")
        with open(photos / f"{i}.jpg", "ab") as f:
            f.write(bytes([i]))
    preload = {
        "DERIVO_TEST_GATE": str(gate),
        "DASK_DISTRIBUTED__WORKER__PRELOAD": "tests.dask_gate",
    }
    with cluster(tmp_path / "logs", env=preload) as running:
        victim = running.processes[1]  # w0: nanny and worker, one session
        victim_pid = running.pids()["w0"]
        out = tmp_path / "out"
        with subprocess.Popen(
            [sys.executable, "-m", "derivo", "process", str(photos), "--out", str(out),
             "--json", "--scheduler", running.address],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) as run:  # fmt: skip
            try:
                deadline = time.monotonic() + DEADLINE
                while not (gate / f"started-{victim_pid}").exists():
                    assert time.monotonic() < deadline and run.poll() is None, "w0 got no task"
                    time.sleep(0.05)
                running.stop(victim, signal.SIGKILL)
                (gate / "open").touch()
                stdout, stderr = run.communicate(timeout=300)
            finally:
                if run.poll() is None:
                    run.kill()
    assert run.returncode == 0, stderr
    summary = json.loads(stdout)
    assert (summary["rendered"], summary["failed"], summary["pending"]) == (6, 0, 0)
    assert len(files(out)) == 12 and not list(out.rglob("*.tmp"))


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    result = derivo("process", SAMPLES, "--out", tmp_path, "--scheduler", address)
    assert result.returncode == 2
    reason = f"cannot reach the Dask scheduler at {address}: Connection refused"
    assert result.stderr == f"Error: {reason}\n"


def test_workers_that_cannot_do_the_work_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with cluster(tmp_path / "logs", workers=0) as running:
        # a Python with Dask but without derivo: a venv that sees only the packages
        bare = tmp_path / "bare"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", bare], check=True)
        site = next(bare.glob("lib/python*/site-packages"))
        (site / "deps.pth").write_text(
            next(p for p in sys.path if p.endswith("site-packages")) + "\n"
        )
        python = str(bare / "bin" / "python")
        check = subprocess.run([python, "-c", "import derivo"], cwd=tmp_path, capture_output=True)
        assert check.returncode == 1 and b"No module named 'derivo'" in check.stderr
        worker = running.worker(
            "bare", argv=[python, "-m", "distributed.cli.dask_worker"], cwd=tmp_path,
            env={"PYTHONPATH": ""},
        )  # fmt: skip
        result = derivo(
            "process", SAMPLES, "--out", out, "--db", tmp_path / "d.db",
            "--scheduler", running.address,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "Error: Dask worker tcp://127.0.0.1:" in result.stderr
        assert "cannot run derivo: " in result.stderr
        assert "No module named 'derivo'" in result.stderr
        running.stop(worker)

        # a worker that sees the output folder read-only (its own mount of it)
        ro = f'mount --bind {out} {out} && mount -o remount,bind,ro {out} && exec "$@"'
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            unshare.insert(1, "--map-root-user")
        running.worker("readonly", wrap=[*unshare, "sh", "-c", ro, "sh"])
        result = derivo(
            "process", SAMPLES, "--out", out, "--db", tmp_path / "d.db",
            "--scheduler", running.address,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert f"cannot write into the output folder {out}: Read-only file system" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert [p.name for p in out.iterdir()] == ["derivo.lock"]  # nothing else written


def test_pool_options_do_not_apply_to_a_cluster() -> None:
    from click.testing import CliRunner

    from derivo.cli import main

    result = CliRunner().invoke(
        main, ["process", str(SAMPLES), "--workers", "2", "--scheduler", "tcp://x:1"]
    )
    assert result.exit_code == 2
    assert "Error: --workers and --cpu size the local pool, not a --scheduler's" in result.output
    bad = CliRunner().invoke(main, ["process", str(SAMPLES), "--scheduler", "localhost:8786"])
    assert bad.exit_code == 2
    assert "Error: bad Dask scheduler address 'localhost:8786': Invalid url scheme." in bad.output
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:"):
        DaskExecutor(f"tcp://127.0.0.1:{free_port()}", connect_timeout=1)
