"""Run renders on a Dask distributed cluster, with the local pool's promises.

* A worker that dies mid-task: the scheduler runs the task on another worker, up
  to its ``distributed.scheduler.allowed-failures`` (+1 attempts), then the photo
  fails with :class:`~derivo.errors.WorkerCrashed`.
* A task over its time limit: the worker returns at the limit and is restarted
  (its nanny kills the stuck render); the task is tried again up to
  ``max_attempts``, then fails with :class:`~derivo.errors.TaskTimeout`.
* Input errors come back as results and are never retried.

One render occupies one Dask worker thread and about one core (libvips runs one
thread per render), so a cluster's parallelism is its total worker threads.
:meth:`DaskExecutor.check` refuses a cluster whose workers run another derivo or
do not share the sources and the output folder.
"""

from __future__ import annotations

import os
import queue
import secrets
import socket
import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from derivo.errors import (
    ClusterError,
    DerivoError,
    QueueFull,
    RenderFailed,
    TaskTimeout,
    WorkerCrashed,
)
from derivo.executors.base import RenderFuture, settle
from derivo.executors.pool import PoolStats
from derivo.specs import RENDERER_VERSION
from derivo.tasks import RenderResult, RenderTask, source_folder

_PROBE_PREFIX = ".derivo-probe-"


def _default_render(task: RenderTask) -> RenderResult:
    from derivo.render import render

    return render(task)


def derivo_version() -> str:
    """This derivo's version and renderer version: workers must match both."""
    try:
        return f"{version('derivo')} (renderer {RENDERER_VERSION})"
    except PackageNotFoundError:
        return f"unknown (renderer {RENDERER_VERSION})"


def _run(
    func: Callable[[RenderTask], RenderResult], task: RenderTask, timeout: float
) -> tuple[str, Any, bool]:
    """Body of one task on a Dask worker: ``(status, value, a try before left files)``.

    The render runs in a helper thread so the task can give up at its time limit;
    the coordinator then restarts this worker, which ends the stuck render.
    """
    from derivo.atomic import TEMP_PATTERN
    from derivo.render import init_worker

    init_worker()  # cheap, and holds on workers the nanny restarted
    folder = source_folder(Path(task.out_dir), task.source_hash)
    leftovers = folder.is_dir() and any(folder.glob(TEMP_PATTERN))
    outcome: list[tuple[str, Any]] = []

    def target() -> None:
        try:
            outcome.append(("ok", func(task)))
        except DerivoError as exc:
            outcome.append(("error", exc))
        except Exception as exc:  # recorded, as on the pool: a retryable failure
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            outcome.append(("error", RenderFailed(reason)))

    thread = threading.Thread(target=target, name="derivo-render", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        from distributed import get_worker

        return "timeout", get_worker().address, leftovers
    status, value = outcome[0]
    return status, value, leftovers


def _probe(out_dir: str, token_name: str, token: str, source: str | None) -> tuple[str, str | None]:
    """Run on each worker at connect: its derivo version, and what it cannot do, if anything."""
    out = Path(out_dir)
    try:
        if source is not None:
            with open(source, "rb") as f:
                f.read(1)
    except OSError as exc:
        return derivo_version(), f"cannot read source {source}: {exc.strerror}"
    try:
        seen = (out / token_name).read_text()
    except OSError:
        seen = None
    if seen != token:
        return derivo_version(), f"does not see the output folder {out_dir} (not shared storage?)"
    mine = out / f"{token_name}-{os.getpid()}"
    try:
        mine.write_text(token)
        mine.unlink()
    except OSError as exc:
        return derivo_version(), f"cannot write into the output folder {out_dir}: {exc.strerror}"
    return derivo_version(), None


def _reachable(address: str, timeout: float) -> None:
    """Fail fast, with the system's reason, on a bad or unreachable scheduler address.

    Dask's own client retries until its timeout and then spends as long again
    closing; a plain TCP connect answers "refused" or "unknown host" at once.
    """
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        scheme, _ = parse_address(address, strict=True)
        host, port = get_address_host_port(address, strict=True)
    except ValueError as exc:
        raise ClusterError(f"bad Dask scheduler address {address!r}: {exc}") from None
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {reason}") from None


class DaskExecutor:
    """Run tasks on a Dask cluster: ``client`` is a ``distributed.Client`` or an address.

    Needs ``pip install 'derivo[dask]'``. A client passed in stays the caller's to
    close; one made from an address is closed by :meth:`close`.

    >>> with DaskExecutor("tcp://scheduler:8786") as executor:  # doctest: +SKIP
    ...     executor.check(out_dir=Path("/shared/out"), source=Path("/shared/photos/a.jpg"))
    ...     result = executor.submit(task).result()
    """

    def __init__(
        self,
        client: Any,
        *,
        queue_size: int | None = None,
        task_timeout: float = 120.0,
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
        func: Callable[[RenderTask], RenderResult] = _default_render,
    ) -> None:
        try:
            import dask
            import distributed
        except ImportError:
            raise ClusterError("Dask is not installed: pip install 'derivo[dask]'") from None
        if not 0 < task_timeout <= 86_400:
            raise ValueError("task_timeout must be in (0, 86400] seconds")
        self._distributed = distributed
        self._owns_client = not isinstance(client, distributed.Client)
        if self._owns_client:
            _reachable(str(client), connect_timeout)
            try:
                client = distributed.Client(client, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {client}: {reason}"
                ) from None
        self.client = client
        self.address: str = client.scheduler.address
        self.task_timeout = task_timeout
        self.max_attempts = max_attempts
        self._connect_timeout = connect_timeout
        self._func = func
        self._threads = 0
        self._queue_size = queue_size
        self._cond = threading.Condition()
        self._in_flight: dict[Any, tuple[RenderTask, RenderFuture, int]] = {}
        self._completed = self._failed = self._restarts = 0
        self._closing = False
        self._crash_attempts = 1 + int(
            client.run_on_scheduler(dask.config.get, "distributed.scheduler.allowed-failures")
        )
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._collector: threading.Thread | None = None
        self._restarters: list[threading.Thread] = []

    @property
    def queue_size(self) -> int:
        # enough in flight to cover the round trips to the scheduler, not just the threads
        return self._queue_size or max(64, 4 * self._threads)

    def check(self, *, out_dir: Path, source: Path | None = None) -> None:
        """Refuse a cluster that cannot do the work, with a one-line reason.

        Waits up to the connect timeout for a worker; the scheduler and every
        connected worker must run this derivo version, and the workers must read
        ``source`` and see and write ``out_dir``.
        """
        try:
            self.client.wait_for_workers(1, timeout=self._connect_timeout)
        except TimeoutError:
            raise ClusterError(
                f"no Dask worker joined the scheduler at {self.address} "
                f"within {self._connect_timeout:g} s"
            ) from None
        ours = derivo_version()
        try:  # the scheduler unpickles every task, so it needs derivo too
            theirs = self.client.run_on_scheduler(derivo_version)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterError(f"the Dask scheduler cannot run derivo: {reason}") from None
        if theirs != ours:
            raise ClusterError(f"the Dask scheduler runs derivo {theirs}, not {ours}")
        token, name = secrets.token_hex(8), f"{_PROBE_PREFIX}{secrets.token_hex(4)}"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_text(token)
        except OSError as exc:
            raise ClusterError(f"cannot write into the output folder {out_dir}: {exc}") from None
        try:
            answers = self.client.run(
                _probe,
                str(out_dir.resolve()),
                name,
                token,
                None if source is None else str(source.resolve()),
                on_error="return",
            )
        finally:
            (out_dir / name).unlink(missing_ok=True)
        for worker, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                reason = str(answer).splitlines()[0] if str(answer) else type(answer).__name__
                raise ClusterError(f"Dask worker {worker} cannot run derivo: {reason}")
            theirs, problem = answer
            if theirs != ours:
                raise ClusterError(f"Dask worker {worker} runs derivo {theirs}, not {ours}")
            if problem is not None:
                raise ClusterError(f"Dask worker {worker} {problem}")
        self._threads = sum(self.client.nthreads().values())

    # Executor protocol

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        """Queue ``task`` on the cluster; at most ``queue_size`` are in flight at once."""
        if not self._threads:
            self._threads = sum(self.client.nthreads().values())
        future = RenderFuture()
        with self._cond:
            while not self._closing and len(self._in_flight) >= self.queue_size:
                if not block:
                    raise QueueFull(f"render queue is full ({self.queue_size} waiting)")
                self._cond.wait()
            if self._closing:
                raise RenderFailed("the Dask executor is shut down")
            self._send(task, future, 1)
            if self._collector is None:
                self._collector = threading.Thread(
                    target=self._collect, name="derivo-dask", daemon=True
                )
                self._collector.start()
            self._cond.notify_all()
        return future

    def start(self) -> None:
        """Nothing to start: the cluster is already running."""

    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(
                workers=self._threads,
                queued=0,
                in_flight=len(self._in_flight),
                completed=self._completed,
                failed=self._failed,
                restarts=self._restarts,
            )

    def close(self, *, cancel: bool = False) -> None:
        """Wait for every task in flight (or cancel them), then let go of the cluster."""
        with self._cond:
            if cancel:
                for dask_future, (_task, future, _n) in self._in_flight.items():
                    dask_future.cancel()
                    future.cancel()
            self._cond.wait_for(lambda: not self._in_flight or cancel)
            self._closing = True
            self._cond.notify_all()
            collector = self._collector
        if collector is not None:
            self._done.put(None)
            collector.join()
        for thread in self._restarters:
            thread.join()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(cancel=exc_type is not None)

    # Internals

    def _send(self, task: RenderTask, future: RenderFuture, attempt: int) -> None:
        dask_future = self.client.submit(
            _run,
            self._func,
            task,
            self.task_timeout,
            pure=False,
            key=f"render-{secrets.token_hex(8)}",
        )
        self._in_flight[dask_future] = (task, future, attempt)
        dask_future.add_done_callback(self._done.put)

    def _collect(self) -> None:
        """Hand finished Dask futures' outcomes to their RenderFutures, a batch at a time.

        Results are fetched with one ``gather`` per batch: one round trip for many
        photos, which is what lets one coordinator feed a large cluster.
        """
        while True:
            batch = [self._done.get()]
            while True:
                try:
                    batch.append(self._done.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            ready = [f for f in batch if f is not None]
            finished = [f for f in ready if f.status == "finished"]
            try:
                values = dict(zip(finished, self.client.gather(finished), strict=True))
            except Exception:  # e.g. a result lost with its worker: fetch them one by one
                values = {}
            for dask_future in ready:
                self._landed(dask_future, values.get(dask_future))
            if stop:
                return

    def _landed(self, dask_future: Any, value: Any) -> None:
        with self._cond:
            entry = self._in_flight.pop(dask_future, None)
            if entry is None:
                return
            task, future, attempt = entry
            if value is not None and value[0] == "timeout":
                if attempt < self.max_attempts and not self._closing:
                    self._restart(value[1])
                    self._send(task, future, attempt + 1)
                    return
            self._cond.notify_all()
        ok, outcome, attempts = self._outcome(dask_future, value, attempt)
        future.attempts = attempts
        with self._cond:
            if ok:
                self._completed += 1
            else:
                self._failed += 1
        settle(future, ok, outcome)

    def _outcome(self, dask_future: Any, value: Any, attempt: int) -> tuple[bool, Any, int]:
        if dask_future.status == "finished":
            if value is None:
                try:
                    value = dask_future.result()
                except Exception as exc:
                    return False, self._failure(exc), attempt
            status, result, leftovers = value
            attempts = max(attempt, 2) if leftovers else attempt
            if status == "ok":
                return True, result, attempts
            if status == "timeout":
                self._restart(result)
                tries = f"{attempt} attempt{'s' * (attempt > 1)}"
                limit = f"{self.task_timeout:g} s time limit"
                return False, TaskTimeout(f"render exceeded the {limit} ({tries})"), attempts
            return False, result, attempts
        if dask_future.status == "cancelled":
            return False, RenderFailed("render cancelled: the Dask scheduler was lost"), attempt
        error = dask_future.exception()
        if isinstance(error, self._distributed.KilledWorker):
            n = self._crash_attempts
            return False, WorkerCrashed(f"Dask worker died on {n} attempts"), n
        return False, self._failure(error), attempt

    @staticmethod
    def _failure(exc: BaseException) -> RenderFailed:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return RenderFailed(f"Dask task failed: {reason}")

    def _restart(self, worker: str) -> None:
        """Restart a worker whose render overran, without waiting for it here."""
        self._restarts += 1
        thread = threading.Thread(
            target=self._restart_now, args=(worker,), name="derivo-dask-restart", daemon=True
        )
        self._restarters.append(thread)
        thread.start()

    def _restart_now(self, worker: str) -> None:
        try:
            self.client.restart_workers([worker], raise_for_error=False)
        except (OSError, TimeoutError):
            pass  # a worker that cannot be reached is gone: the scheduler moves its tasks
