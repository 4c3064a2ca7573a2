"""A bounded pool of worker processes that survives its workers dying.

Each worker holds at most one task, sent over its own pipe, so when a worker
dies (segfault, OOM kill, ``kill -9``) or overruns its time limit the pool knows
exactly which task it held: the worker is replaced and the task retried, up to
``max_attempts`` in all. Input errors come back as results and are never retried.
Workers run at lower priority (``nice``) so the machine stays responsive; with
``idle_priority`` (the service) at ``SCHED_IDLE``, so they never delay the server.

A task's future is running from the moment a worker takes it. Cancelling it then
stops that worker (``cancel()`` returns False, as for any running future) and the
future raises :class:`~concurrent.futures.CancelledError` once the worker is gone,
so nothing is still written for a render its caller has given up on.

Workers are forked from Python's fork server, which imports the renderer (libvips,
numpy, simplejpeg) once: a new worker costs a fork, not a fresh interpreter and its
imports (measured: 3 % less CPU for 100 photos on two workers). The server is shared
with the rest of the program (:mod:`derivo.executors.forkserver`).
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from derivo.errors import DerivoError, QueueFull, RenderFailed, TaskTimeout, WorkerCrashed
from derivo.executors.base import RenderFuture, settle, workers_for
from derivo.executors.forkserver import starting_worker, worker_context
from derivo.tasks import RenderResult, RenderTask

_IDLE_WAIT = 60.0  # seconds; the dispatcher wakes at least this often
#: Longest time limit for one task, in seconds (a day): more is a mistake, not a photo.
MAX_TASK_TIMEOUT = 86_400.0


@dataclass(slots=True)
class Job:
    """One task on its way through the pool; ``attempts`` counts the workers it was sent to."""

    id: int
    task: RenderTask
    future: RenderFuture
    attempts: int = 0


@dataclass(frozen=True)
class PoolStats:
    workers: int
    queued: int
    in_flight: int
    completed: int
    failed: int
    restarts: int
    pids: tuple[int, ...] = ()


class _PoolFuture(RenderFuture):
    """A render's future in this pool: cancelling it while it runs stops its worker."""

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__()
        self._pool = pool

    def cancel(self) -> bool:
        if super().cancel():
            return True
        if self.running():
            self._pool._abort(self)
        return False


def _default_render(task: RenderTask) -> RenderResult:
    from derivo.render import render

    return render(task)


def _default_initializer() -> None:
    from derivo.render import init_worker

    init_worker()


def _worker_main(
    conn: Connection,
    func: Callable[[RenderTask], RenderResult],
    initializer: Callable[[], None] | None,
    niceness: int,
    idle: bool = False,
) -> None:
    """Body of a worker process: one task at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if niceness:
        os.nice(niceness)
    if idle and not _sched_idle():
        os.nice(max(0, 19 - os.nice(0)))  # the lowest priority there is without SCHED_IDLE
    if initializer is not None:
        initializer()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job_id, task = message
        try:
            reply: tuple[int, bool, Any] = (job_id, True, func(task))
        except DerivoError as exc:
            reply = (job_id, False, exc)
        except Exception as exc:  # any other failure becomes a recorded, retryable error
            reply = (job_id, False, RenderFailed(f"{type(exc).__name__}: {exc}".splitlines()[0]))
        conn.send(reply)


def _sched_idle() -> bool:
    """Run this process only when a core would otherwise idle: the server's threads go
    first. False where the system lacks ``SCHED_IDLE`` or refuses it."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        return False
    return True


class _Worker:
    def __init__(self, ctx: Any, target_args: tuple[Any, ...]) -> None:
        with starting_worker(ctx) as usable:
            self.conn, child = usable.Pipe(duplex=True)
            self.process = usable.Process(
                target=_worker_main, args=(child, *target_args), daemon=True
            )
            self.process.start()
        child.close()
        self.job: Job | None = None
        self.deadline = 0.0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """Run tasks in ``workers`` processes with a bounded queue. Use as a context manager.

    >>> with WorkerPool(workers=2) as pool:              # doctest: +SKIP
    ...     result = pool.submit(task).result()
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        cpu: float | None = None,
        queue_size: int | None = None,
        task_timeout: float = 120.0,
        max_attempts: int = 3,
        niceness: int = 10,
        idle_priority: bool = False,
        func: Callable[[RenderTask], RenderResult] = _default_render,
        initializer: Callable[[], None] | None = _default_initializer,
    ) -> None:
        self.size = workers_for(workers=workers, cpu=cpu)
        if not 0 < task_timeout <= MAX_TASK_TIMEOUT:
            raise ValueError(f"task_timeout must be in (0, {MAX_TASK_TIMEOUT:g}] seconds")
        self.queue_size = queue_size if queue_size is not None else 4 * self.size
        if self.queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.task_timeout = task_timeout
        self.max_attempts = max_attempts
        self._target_args = (func, initializer, niceness, idle_priority)
        self._ctx = worker_context()
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._workers: list[_Worker] = []
        self._next_id = 0
        self._closing = self._closed = self._cancel = False
        self._broken: str | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._completed = self._failed = self._restarts = 0
        self._aborts: set[RenderFuture] = set()  # running renders their callers cancelled

    # Public API

    def submit(self, task: RenderTask, *, block: bool = True) -> RenderFuture:
        """Queue a task; blocks while the queue is full unless ``block=False`` (QueueFull)."""
        future = _PoolFuture(self)
        with self._cond:
            while not self._closing and len(self._queue) >= self.queue_size:
                if not block:
                    raise QueueFull(f"render queue is full ({self.queue_size} waiting)")
                self._cond.wait()
            if self._closing:
                raise RenderFailed(self._broken or "the worker pool is shut down")
            self._next_id += 1
            self._queue.append(Job(self._next_id, task, future))
            self._start()
        self._wake()
        return future

    def start(self) -> None:
        """Start the workers now rather than on the first submit (saves the first task ~1 s)."""
        with self._cond:
            if self._closing:
                raise RenderFailed(self._broken or "the worker pool is shut down")
            self._start()

    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(
                workers=self.size,
                queued=len(self._queue),
                in_flight=sum(1 for w in self._workers if w.job is not None),
                completed=self._completed,
                failed=self._failed,
                restarts=self._restarts,
                pids=tuple(w.process.pid for w in self._workers if w.process.pid is not None),
            )

    def close(self, *, cancel: bool = False) -> None:
        """Finish everything queued, or with ``cancel`` drop it and stop now."""
        with self._cond:
            if self._closed:
                return
            self._closed = self._closing = True
            self._cancel = self._cancel or cancel
            thread = self._thread
            self._cond.notify_all()
        self._wake()
        if thread is not None:
            thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(cancel=exc_type is not None)

    # Dispatcher thread

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="derivo-pool", daemon=True)
            self._thread.start()

    def _abort(self, future: RenderFuture) -> None:
        """Stop the worker running ``future``'s render; the future then raises CancelledError."""
        with self._cond:
            self._aborts.add(future)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _run(self) -> None:
        try:
            self._workers = [_Worker(self._ctx, self._target_args) for _ in range(self.size)]
            while True:
                with self._cond:
                    if self._cancel:
                        break
                    dropped = self._dispatch()
                    busy = [w for w in self._workers if w.job is not None]
                    drained = self._closing and not self._queue and not busy
                for job, ok, value in dropped:
                    self._finish(job, ok, value)
                if drained:
                    break
                now = time.monotonic()
                timeout = min((w.deadline - now for w in busy), default=_IDLE_WAIT)
                handles: list[Any] = [self._wake_r]
                for w in self._workers:
                    handles += [w.conn, w.process.sentinel]
                ready = wait(handles, timeout=min(max(timeout, 0), _IDLE_WAIT))
                if self._wake_r in ready:
                    os.read(self._wake_r, 4096)
                finished = self._collect(set(ready))
                with self._cond:
                    finished += self._dispatch()  # idle workers get new work before callbacks run
                for job, ok, value in finished:
                    self._finish(job, ok, value)
        except BaseException as exc:  # recorded on every pending future, and on submit
            with self._cond:
                self._broken = f"the worker pool stopped: {type(exc).__name__}: {exc}"
                self._closing = True
        finally:
            self._shutdown()

    def _dispatch(self) -> list[tuple[Job, bool, Any]]:
        """Give queued jobs to idle workers; returns the jobs cancelled meanwhile, ended."""
        dropped: list[Job] = []
        for worker in self._workers:
            if not self._queue:
                break
            if worker.job is None:
                job = self._queue.popleft()
                self._cond.notify_all()
                # running from its first dispatch on: cancelling it then stops its worker
                if not job.attempts and not job.future.set_running_or_notify_cancel():
                    continue
                if job.future in self._aborts:  # cancelled between two attempts
                    dropped.append(job)
                    continue
                worker.job, worker.deadline = job, time.monotonic() + self.task_timeout
                job.attempts += 1
                try:
                    worker.conn.send((job.id, job.task))
                except (OSError, ValueError):
                    pass  # the worker is dead; its sentinel reports it next round
        return [(job, False, CancelledError()) for job in dropped]

    def _collect(self, ready: set[Any]) -> list[tuple[Job, bool, Any]]:
        """Take replies, replace dead or overdue workers; returns the jobs that ended."""
        finished: list[tuple[Job, bool, Any]] = []
        now = time.monotonic()
        with self._cond:
            # a cancel that came as its render ended has nothing left to stop
            self._aborts = {future for future in self._aborts if not future.done()}
            aborts = set(self._aborts)
        for index, worker in enumerate(self._workers):
            job = worker.job
            if worker.conn in ready and job is not None:
                try:
                    _job_id, ok, value = worker.conn.recv()
                except (EOFError, OSError):
                    pass  # died mid-reply: handled as a crash below
                else:
                    worker.job = None
                    finished.append((job, ok, value))
                    continue
            died = worker.process.sentinel in ready or not worker.process.is_alive()
            timed_out = job is not None and now >= worker.deadline
            aborted = job is not None and job.future in aborts
            if died or timed_out or aborted:
                worker.kill()
                with self._cond:
                    self._restarts += 1
                    self._workers[index] = _Worker(self._ctx, self._target_args)
                if job is not None and aborted:
                    finished.append((job, False, CancelledError()))
                elif job is not None:
                    error = self._retry(job, timed_out, worker.process.exitcode)
                    if error is not None:
                        finished.append((job, False, error))
        return finished

    def _retry(self, job: Job, timed_out: bool, exitcode: int | None) -> BaseException | None:
        """Queue a crashed or overdue job again; past ``max_attempts``, the error to report."""
        attempts = job.attempts
        with self._cond:
            aborted = job.future in self._aborts
        if aborted:
            return CancelledError()
        if attempts < self.max_attempts:
            with self._cond:
                self._queue.appendleft(job)
            return None
        tries = f"{attempts} attempt{'s' * (attempts > 1)}"
        if timed_out:
            return TaskTimeout(f"render exceeded the {self.task_timeout:g} s time limit ({tries})")
        how = f"signal {-exitcode}" if exitcode and exitcode < 0 else f"exit code {exitcode}"
        return WorkerCrashed(f"worker process died ({how}) on {tries}")

    def _finish(self, job: Job, ok: bool, value: Any) -> None:
        future = job.future
        future.attempts = job.attempts
        with self._cond:
            self._aborts.discard(future)
            if ok:
                self._completed += 1
            else:
                self._failed += 1
        settle(future, ok, value)

    def _shutdown(self) -> None:
        with self._cond:
            leftovers = [job for job in self._queue]
            self._queue.clear()
            leftovers += [w.job for w in self._workers if w.job is not None]
            self._cond.notify_all()
        for worker in self._workers:
            if worker.job is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
                worker.process.join(2)
            worker.kill()
        for job in leftovers:  # after the kills: no worker still writes for them
            if self._broken is not None:
                settle(job.future, False, RenderFailed(self._broken))
            elif not Future.cancel(job.future):  # it was running: cut short, as if cancelled
                settle(job.future, False, CancelledError())
