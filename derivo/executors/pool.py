"""A bounded pool of worker processes that survives its workers dying.

Each worker gets its tasks over its own pipe and renders them in the order sent,
so when a worker dies (segfault, OOM kill, ``kill -9``) or overruns its time limit
the pool knows exactly which task it was rendering: the worker is replaced and
that task retried, up to ``max_attempts`` in all; tasks sent after it never
started and go back to the queue. Input errors come back as results and are never
retried.

While more tasks wait than there are workers, each worker is sent its next task
before it has finished the one it renders (:data:`AHEAD`), so it starts the next
one at once: a small photo renders in a few milliseconds, about as long as the
dispatcher thread can wait for the interpreter lock that the coordinator's other
threads hold, and without a task ahead a worker would idle that long each time.
Workers run at lower priority (``nice``) so the machine stays responsive; with
``idle_priority`` (the service) at ``SCHED_IDLE``, so they never delay the server.

A task's future is running from the moment a worker takes it. Cancelling it then
stops that worker (``cancel()`` returns False, as for any running future) and the
future raises :class:`~concurrent.futures.CancelledError` once the worker is gone,
so nothing is still written for a render its caller has given up on. A task only
sent ahead stops its worker when its turn comes, so the render before it finishes.

Workers are forked from Python's fork server, which imports the renderer (libvips,
numpy, simplejpeg) once: a new worker costs a fork, not a fresh interpreter and its
imports (measured: 3 % less CPU for 100 photos on two workers). The server is shared
with the rest of the program (:mod:`derivo.executors.forkserver`).
"""

from __future__ import annotations

import collections
import os
import selectors
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from derivo.errors import DerivoError, QueueFull, RenderFailed, TaskTimeout, WorkerCrashed
from derivo.executors.base import RenderFuture, settle, workers_for
from derivo.executors.forkserver import starting_worker, worker_context
from derivo.tasks import RenderResult, RenderTask

#: Tasks a worker holds at most: the one it renders and the ones sent ahead.
AHEAD = 2
_IDLE_WAIT = 60.0  # seconds; the dispatcher wakes at least this often
#: Longest time limit for one task, in seconds (a day): more is a mistake, not a photo.
MAX_TASK_TIMEOUT = 86_400.0


@dataclass(slots=True)
class Job:
    """One task on its way through the pool; ``attempts`` counts the workers that started it."""

    id: int
    task: RenderTask
    future: RenderFuture
    attempts: int = 0
    sent: bool = False  # its future is running: it was sent to a worker once


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
        #: tasks sent, in order: the first is being rendered, the rest wait in the pipe
        self.jobs: collections.deque[Job] = collections.deque()
        self.deadline = 0.0  # for the first of ``jobs``

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
        self._selector = selectors.DefaultSelector()
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
            room = self._room()
        if room:  # otherwise the next reply dispatches it: one wake-up per task saved
            self._wake()
        return future

    def start(self) -> None:
        """Start the workers now rather than on the first submit (saves the first task ~1 s).

        The fork server is running when this returns; the workers are forked from it
        in the background.
        """
        with self._cond:
            started = self._thread is not None
        if not started:
            with starting_worker(self._ctx):
                pass
        with self._cond:
            if self._closing:
                raise RenderFailed(self._broken or "the worker pool is shut down")
            self._start()

    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(
                workers=self.size,
                queued=len(self._queue),
                in_flight=sum(len(w.jobs) for w in self._workers),
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
        self._selector.close()

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

    def _room(self) -> bool:
        """Whether a worker would take a queued task now; call holding the condition.

        Every reply the dispatcher takes is followed by a dispatch, so a task queued
        while every worker is full needs no wake-up of its own.
        """
        ahead = len(self._queue) > len(self._workers)
        return len(self._workers) < self.size or any(
            not w.jobs or (ahead and len(w.jobs) < AHEAD) for w in self._workers
        )

    def _watch(self, worker: _Worker) -> None:
        self._selector.register(worker.conn, selectors.EVENT_READ, worker.conn)
        self._selector.register(
            worker.process.sentinel, selectors.EVENT_READ, worker.process.sentinel
        )

    def _replace(self, index: int) -> None:
        """Kill the worker at ``index`` and start another in its place."""
        worker = self._workers[index]
        self._selector.unregister(worker.conn)
        self._selector.unregister(worker.process.sentinel)
        worker.kill()
        fresh = _Worker(self._ctx, self._target_args)
        self._watch(fresh)
        with self._cond:
            self._restarts += 1
            self._workers[index] = fresh

    def _run(self) -> None:
        try:
            # one selector for the pool's life: building one per wait cost more than a reply
            self._selector.register(self._wake_r, selectors.EVENT_READ, self._wake_r)
            workers = []
            for _ in range(self.size):
                workers.append(_Worker(self._ctx, self._target_args))
                self._watch(workers[-1])
            with self._cond:
                self._workers = workers
            while True:
                with self._cond:
                    if self._cancel:
                        break
                    dropped = self._dispatch()
                    busy = [w for w in self._workers if w.jobs]
                    drained = self._closing and not self._queue and not busy
                for job, ok, value in dropped:
                    self._finish(job, ok, value)
                if drained:
                    break
                now = time.monotonic()
                timeout = min((w.deadline - now for w in busy), default=_IDLE_WAIT)
                events = self._selector.select(timeout=min(max(timeout, 0), _IDLE_WAIT))
                ready = {key.data for key, _ in events}
                if self._wake_r in ready:
                    os.read(self._wake_r, 4096)
                finished = self._collect(ready)
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
        """Give queued jobs to idle workers, then, while more wait than there are workers,
        one ahead to each; returns the jobs cancelled meanwhile, ended."""
        dropped: list[Job] = []
        for worker in self._workers:
            while self._queue and not worker.jobs:
                self._send(worker, dropped)
        for worker in self._workers:
            while len(self._queue) > len(self._workers) and len(worker.jobs) < AHEAD:
                self._send(worker, dropped)
        return [(job, False, CancelledError()) for job in dropped]

    def _send(self, worker: _Worker, dropped: list[Job]) -> None:
        """Send the first queued job to ``worker`` (or drop it, if cancelled meanwhile)."""
        job = self._queue.popleft()
        self._cond.notify_all()
        # running from its first dispatch on: cancelling it then stops its worker
        if not job.sent and not job.future.set_running_or_notify_cancel():
            return
        job.sent = True
        if job.future in self._aborts:  # cancelled between two attempts
            dropped.append(job)
            return
        if not worker.jobs:
            worker.deadline = time.monotonic() + self.task_timeout
        worker.jobs.append(job)
        job.attempts += 1
        try:
            worker.conn.send((job.id, job.task))
        except (OSError, ValueError):
            pass  # the worker is dead; its sentinel reports it next round

    def _collect(self, ready: set[Any]) -> list[tuple[Job, bool, Any]]:
        """Take replies, replace dead or overdue workers; returns the jobs that ended."""
        finished: list[tuple[Job, bool, Any]] = []
        now = time.monotonic()
        with self._cond:
            # a cancel that came as its render ended has nothing left to stop
            self._aborts = {future for future in self._aborts if not future.done()}
            aborts = set(self._aborts)
        for index, worker in enumerate(self._workers):
            if worker.conn in ready and worker.jobs:
                try:  # one reply per round: the selector reports the next one at once
                    _job_id, ok, value = worker.conn.recv()
                except (EOFError, OSError):
                    pass  # died mid-reply: handled as a crash below
                else:
                    finished.append((worker.jobs.popleft(), ok, value))
                    worker.deadline = now + self.task_timeout  # the next one starts now
                    if not (worker.jobs and worker.jobs[0].future in aborts):
                        continue
            # a readable pipe with no reply in it means the worker is gone, or going
            died = worker.process.sentinel in ready or (
                worker.conn in ready and not worker.process.is_alive()
            )
            timed_out = bool(worker.jobs) and now >= worker.deadline
            cancelled = [job for job in worker.jobs if job.future in aborts]
            # a task only sent ahead is stopped when its turn comes, not with the one before it
            stopped = bool(worker.jobs) and worker.jobs[0].future in aborts
            if died or timed_out or stopped:
                self._replace(index)
                finished += [(job, False, CancelledError()) for job in cancelled]
                jobs = [job for job in worker.jobs if job.future not in aborts]
                current = worker.jobs[0] if worker.jobs else None
                with self._cond:  # never started: back to the queue, in order, no attempt spent
                    for job in reversed(jobs):
                        if job is not current or not (died or timed_out):
                            job.attempts -= 1
                            self._queue.appendleft(job)
                if current is not None and current in jobs and (died or timed_out):
                    error = self._retry(current, timed_out, worker.process.exitcode)
                    if error is not None:
                        finished.append((current, False, error))
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
            leftovers += [job for w in self._workers for job in w.jobs]
            self._cond.notify_all()
        for worker in self._workers:
            if not worker.jobs and worker.process.is_alive():
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
