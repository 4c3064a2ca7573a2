"""Run renders on a Dask distributed cluster, with the local pool's promises.

* A worker that dies mid-task: the scheduler runs the task on another worker, up
  to its ``distributed.scheduler.allowed-failures`` (+1 attempts), then the photo
  fails with :class:`~derivo.errors.WorkerCrashed`.
* A task over its time limit: the worker returns at the limit and is restarted
  (its nanny kills the stuck render); the task is tried again up to
  ``max_attempts``, then fails with :class:`~derivo.errors.TaskTimeout`.
* A task that a live worker never answers for (a stall inside Dask, or code the
  in-task limit does not cover): the coordinator's watchdog gives up on it
  ``task_timeout`` × the renders in the task + ``stall_slack`` seconds after
  the worker started it, restarts
  that worker and tries again, up to ``max_attempts``, then ``TaskTimeout``.
* Input errors come back as results and are never retried.
* A render is done once its files are durable: the worker that wrote them syncs
  them when the coordinator asks, in a thread beside its next render. A worker lost
  before that has the render sent again; a sync over the time limit restarts the
  worker, then sends the render again.

One render occupies one Dask worker thread and about one core (libvips runs one
thread per render), so a cluster's parallelism is its total worker threads. Only
:data:`TASKS_AHEAD` Dask tasks per thread are on the cluster at once; renders beyond
wait here and then share tasks (:func:`plan_tasks`), so that Dask's cost per task
weighs less on each render and does not bound how many photos per second one
coordinator feeds.
:meth:`DaskExecutor.check` refuses a cluster whose workers run another derivo or
do not share the sources and the output folder.
"""

from __future__ import annotations

import functools
import itertools
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from derivo.errors import (
    ClusterError,
    DerivoError,
    QueueFull,
    RenderFailed,
    TaskTimeout,
    WorkerCrashed,
)
from derivo.executors.base import RenderFuture, settle
from derivo.executors.dask_tasks import (
    Answer,
    derivo_version,
    executing,
    make_written_durable,
    probe,
    run_batch,
    warm,
)
from derivo.executors.pool import PoolStats
from derivo.tasks import RenderResult, RenderTask

__all__ = ["DaskExecutor", "derivo_version", "plan_tasks"]

_PROBE_PREFIX = ".derivo-probe-"
#: Renders go several to a Dask task until a task holds about this much work.
BATCH_SECONDS = 0.05
#: The most renders in one Dask task.
MAX_BATCH = 64
#: Dask tasks kept on the cluster per worker thread (one running, one waiting on its
#: worker, one at the scheduler); renders beyond them wait here, to share tasks.
TASKS_AHEAD = 3
#: The most renders a backlog puts in one task (cheap renders share more: MAX_BATCH).
MAX_SHARE = 4
#: Workers asked at once to make the files they wrote durable (one request each at a time).
SYNC_THREADS = 32


def _default_render(task: RenderTask) -> RenderResult:
    from derivo.render import render

    return render(task)


@dataclass(slots=True, eq=False)
class _Entry:
    """One render the executor owes an answer for."""

    task: RenderTask
    future: RenderFuture
    attempt: int = 1
    alone: bool = False  # in a Dask task of its own: its last batch died or stalled
    worker: str = ""  # the address of the worker that rendered it last


#: A render's answer: its entry, success, the result or error, attempts taken.
_Settled = tuple[_Entry, bool, Any, int]


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


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _attempts(n: int) -> str:
    return f"({n} attempt{'s' * (n > 1)})"


def _timed_out(reason: str) -> Callable[[int], DerivoError]:
    return lambda n: TaskTimeout(f"{reason} {_attempts(n)}")


T = TypeVar("T")


def plan_tasks(
    alone: Sequence[T], together: Sequence[T], *, room: int, threads: int, cheap: int = 1
) -> list[list[T]]:
    """Group waiting renders into at most ``room`` Dask tasks, the first to send first.

    Each Dask task costs about 8 ms of CPU in the scheduler, the worker's event loop
    and the client, whatever it holds (measured on 100 camera photos), so renders
    share tasks: ``cheap`` to a task (renders that take far less than a task's cost,
    see :data:`BATCH_SECONDS`), and up to :data:`MAX_SHARE` while a backlog of more
    than :data:`TASKS_AHEAD` tasks per thread waits. As the backlog runs out, tasks
    shrink to one render, so that no thread is left waiting for a long task at the
    end of a run. ``alone`` renders (retries of a task that died) go one to a task.
    """
    threads = max(1, threads)
    alone = list(alone)[: max(0, room)]
    # at least two tasks per worker thread, so no thread waits for a long batch
    size = min(cheap, -(-len(together) // (2 * threads)))
    size = max(1, size, min(MAX_SHARE, len(together) // (TASKS_AHEAD * threads)))
    sent = together[: max(0, room - len(alone)) * size]
    return [[e] for e in alone] + [list(sent[i : i + size]) for i in range(0, len(sent), size)]


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
        stall_slack: float = 30.0,
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
        if not 0 < stall_slack <= 86_400:
            raise ValueError("stall_slack must be in (0, 86400] seconds")
        self._distributed = distributed
        self._owns_client = not isinstance(client, distributed.Client)
        if self._owns_client:
            _reachable(str(client), connect_timeout)
            try:
                client = distributed.Client(client, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {client}: {_reason(exc)}"
                ) from None
        self.client = client
        self.address: str = client.scheduler.address
        self.task_timeout = task_timeout
        self.max_attempts = max_attempts
        self.stall_slack = stall_slack
        self._connect_timeout = connect_timeout
        self._func = func
        self._body = functools.partial(run_batch, func, task_timeout)
        self._prefix = f"derivo-render-{secrets.token_hex(6)}-"
        self._keys = itertools.count()
        self.dask_tasks = 0  # sent so far: fewer than the renders when cheap ones share
        self._threads = 0
        self._queue_size = queue_size
        self._cond = threading.Condition()
        self._outbox: list[_Entry] = []
        self._in_flight: dict[Any, list[_Entry]] = {}  # Dask future -> its renders
        self._owed = 0  # renders submitted and not yet settled
        self._started: dict[str, tuple[float, str]] = {}  # key -> (start, worker)
        self._render_seconds: float | None = None  # a render's typical time on a worker
        self._completed = self._failed = self._restarts = 0
        self._closing = False
        self._crash_attempts = 1 + int(
            client.run_on_scheduler(dask.config.get, "distributed.scheduler.allowed-failures")
        )
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads_started: list[threading.Thread] = []
        self._helpers: list[threading.Thread] = []
        self._syncs = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="derivo-dask-sync")
        self._unsynced: dict[str, list[_Settled]] = {}  # worker -> renders it must sync
        self._warmed = False

    @property
    def queue_size(self) -> int:
        # enough in flight to cover the round trips to the scheduler, not just the threads
        return self._queue_size or max(64, 4 * self._threads * self._batch_size())

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
            raise ClusterError(f"the Dask scheduler cannot run derivo: {_reason(exc)}") from None
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
                probe,
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
                raise ClusterError(f"Dask worker {worker} cannot run derivo: {_reason(answer)}")
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
            while not self._closing and self._owed >= self.queue_size:
                if not block:
                    raise QueueFull(f"render queue is full ({self.queue_size} waiting)")
                self._cond.wait()
            if self._closing:
                raise RenderFailed("the Dask executor is shut down")
            if not self._threads_started:
                for target, name in ((self._dispatch, "derivo-dask-send"),
                                     (self._collect, "derivo-dask")):  # fmt: skip
                    thread = threading.Thread(target=target, name=name, daemon=True)
                    thread.start()
                    self._threads_started.append(thread)
            self._owed += 1
            self._outbox.append(_Entry(task, future))
            self._cond.notify_all()
        return future

    def start(self) -> None:
        """Have the workers import the renderer now, while the first photos are hashed."""
        if not self._warmed:
            self._warmed = True
            self.client.run(warm, wait=False)

    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(
                workers=self._threads,
                queued=len(self._outbox),
                in_flight=self._owed - len(self._outbox),
                completed=self._completed,
                failed=self._failed,
                restarts=self._restarts,
            )

    def close(self, *, cancel: bool = False) -> None:
        """Wait for every task in flight (or cancel them), then let go of the cluster."""
        with self._cond:
            if cancel:
                for entry in self._outbox:
                    entry.future.cancel()
                self._owed -= len(self._outbox)
                self._outbox.clear()
                dask_futures = list(self._in_flight)
                for entries in self._in_flight.values():
                    for entry in entries:
                        entry.future.cancel()
                for renders in self._unsynced.values():  # not asked for yet: never will be
                    for entry, *_ in renders:
                        entry.future.cancel()
                    self._owed -= len(renders)
                self._unsynced.clear()
                self._closing = True  # a render that lands from now on is not sent again
            self._cond.wait_for(lambda: not self._owed or self._closing)
            self._closing = True
            self._cond.notify_all()
        if cancel and dask_futures:
            try:
                self.client.cancel(dask_futures)
            except (OSError, TimeoutError):
                pass  # a scheduler that is gone has dropped them anyway
        for thread in self._threads_started:
            if thread.name == "derivo-dask":
                self._done.put(None)
            thread.join()
        self._syncs.shutdown(wait=True)
        for thread in self._helpers:
            thread.join()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(cancel=exc_type is not None)

    # Sending, and the watchdog

    def _dispatch(self) -> None:
        """Send what ``submit`` queued, as few Dask tasks in one message as it can; between
        sends, look for tasks a live worker has held past their deadline."""
        every = max(0.5, min(5.0, (self.task_timeout + self.stall_slack) / 4))
        next_look = time.monotonic() + every
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._room() or self._closing,
                    timeout=max(0.0, next_look - time.monotonic()),
                )
                if self._closing:
                    return
                batches = self._take()
            if batches:
                self._send(batches)
            if time.monotonic() >= next_look:
                self._watch()
                next_look = time.monotonic() + every

    def _batch_size(self) -> int:
        if self._render_seconds is None:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_SECONDS / max(self._render_seconds, 1e-6))))

    def _room(self) -> int:
        """How many more Dask tasks may go to the cluster now (under the lock)."""
        if not self._outbox:
            return 0
        return max(0, TASKS_AHEAD * max(1, self._threads) - len(self._in_flight))

    def _take(self) -> list[list[_Entry]]:
        """Take what to send now out of the outbox, grouped into Dask tasks (under the lock)."""
        waiting = [e for e in self._outbox if not e.future.cancelled()]
        if len(waiting) < len(self._outbox):  # given up by their owners: never sent
            self._owed -= len(self._outbox) - len(waiting)
            self._outbox = waiting
            self._cond.notify_all()
        alone = [e for e in self._outbox if e.alone]
        together = [e for e in self._outbox if not e.alone]
        batches = plan_tasks(
            alone, together, room=self._room(), threads=self._threads, cheap=self._batch_size()
        )
        taken = {id(e) for batch in batches for e in batch}
        self._outbox = [e for e in self._outbox if id(e) not in taken]
        return batches

    def _send(self, batches: list[list[_Entry]]) -> None:
        try:
            dask_futures = self.client.map(
                self._body,
                [tuple(e.task for e in batch) for batch in batches],
                key=[f"{self._prefix}{next(self._keys)}" for _ in batches],
                pure=False,
            )
        except Exception as exc:  # the client is closed, or the scheduler gone
            error = RenderFailed(f"cannot send renders to the Dask scheduler: {_reason(exc)}")
            self._finish([(e, False, error, e.attempt) for b in batches for e in b], [])
            return
        with self._cond:
            self.dask_tasks += len(batches)
            self._in_flight.update(zip(dask_futures, batches, strict=True))
        for dask_future in dask_futures:
            dask_future.add_done_callback(self._done.put)

    def _watch(self) -> None:
        """Give up on tasks a worker started more than their time limit plus slack ago;
        and, while renders wait here, count the cluster's threads again (workers come
        and go), since that sets how many tasks go to the cluster."""
        with self._cond:
            waiting = bool(self._outbox)
        if waiting:
            try:
                threads = sum(self.client.nthreads().values())
            except Exception:  # the scheduler is gone or the client closing: keep the count
                threads = 0
            with self._cond:
                self._threads = threads or self._threads
        with self._cond:
            if not self._in_flight:
                self._started.clear()
                return
        try:
            running = self.client.run_on_scheduler(executing, self._prefix)
        except (OSError, TimeoutError):
            return  # a lost scheduler cancels the futures: they land as failed
        now = time.monotonic()
        stalled: list[tuple[Any, list[_Entry], str, float]] = []
        with self._cond:
            keys = {f.key: f for f in self._in_flight}
            for key in list(self._started):
                if key not in keys:
                    del self._started[key]
            for key, (worker, seconds) in running.items():
                dask_future = keys.get(key)
                # the list is from before the lock: a result may have come back since
                if dask_future is None or dask_future.done():
                    continue
                start = self._started.get(key)
                if start is None or start[1] != worker:  # new, or retried elsewhere by Dask
                    start = self._started[key] = (now - seconds, worker)
                limit = self.task_timeout * len(self._in_flight[dask_future]) + self.stall_slack
                if now - start[0] > limit:
                    del self._started[key]
                    stalled.append((dask_future, self._in_flight.pop(dask_future), worker, limit))
        for dask_future, entries, worker, limit in stalled:
            try:
                self.client.cancel([dask_future])
            except (OSError, TimeoutError):
                pass  # the restart below drops it as well
            self._restart(worker)
            reason = f"no result from Dask worker {worker} {limit:g} s after it started"
            self._finish(*self._retry(entries, _timed_out(reason)))

    def _retry(
        self, entries: list[_Entry], failure: Callable[[int], DerivoError]
    ) -> tuple[list[_Settled], list[_Entry]]:
        """Renders to try again, each in a task of its own, or failed with ``failure(attempts)``
        at the last try."""
        again: list[_Entry] = []
        failed: list[_Settled] = []
        for entry in entries:
            if entry.attempt < self.max_attempts and not self._closing:
                entry.attempt += 1
                entry.alone = True
                again.append(entry)
            else:
                failed.append((entry, False, failure(entry.attempt), entry.attempt))
        return failed, again

    # Results

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
            ready = [f for f in batch if f is not None]
            finished = [f for f in ready if f.status == "finished"]
            try:
                values = dict(zip(finished, self.client.gather(finished), strict=True))
            except Exception:  # e.g. a result lost with its worker: fetch them one by one
                values = {}
            settled: list[_Settled] = []
            again: list[_Entry] = []
            for dask_future in ready:
                landed, retried = self._landed(dask_future, values.get(dask_future))
                settled += landed
                again += retried
            self._finish(self._sync_written(settled), again)
            if None in batch:
                return

    def _landed(
        self, dask_future: Any, value: Answer | None
    ) -> tuple[list[_Settled], list[_Entry]]:
        with self._cond:
            entries = self._in_flight.pop(dask_future, None)
            self._cond.notify_all()  # room for another task
            if entries is not None and dask_future.status in ("pending", "lost"):
                # its result was lost with a worker before we fetched it: Dask computes it again
                self._in_flight[dask_future] = entries
                self._helper(self._land_again, dask_future)
                return [], []
        if entries is None:  # cancelled by the watchdog or by close
            return [], []
        return self._outcomes(dask_future, value, entries)

    def _sync_written(self, settled: list[_Settled]) -> list[_Settled]:
        """Have each worker that wrote files in ``settled`` make them durable; they are
        settled once it has. Returns the renders that need no sync, to settle now.

        Workers are asked apart, one request each at a time (what lands meanwhile
        goes in its next), so a slow or lost worker holds up its own renders only.
        """
        now: list[_Settled] = []
        asked: list[str] = []
        with self._cond:
            for entry, ok, result, attempts in settled:
                if not (ok and entry.task.sync and result.derivatives):
                    now.append((entry, ok, result, attempts))
                    continue
                if entry.worker not in self._unsynced:
                    self._unsynced[entry.worker] = []
                    asked.append(entry.worker)
                self._unsynced[entry.worker].append((entry, ok, result, attempts))
        for worker in asked:
            self._syncs.submit(self._sync, worker)
        return now

    def _sync(self, worker: str) -> None:
        """Ask ``worker`` to make durable the files of the renders waiting for it, until
        none wait; settle each round's renders by its answer."""
        while True:
            with self._cond:
                renders = self._unsynced.get(worker, [])
                if not renders:  # none came while it synced: the next landing asks anew
                    self._unsynced.pop(worker, None)
                    return
                self._unsynced[worker] = []
            try:
                settled, again = self._synced(worker, renders)
            except BaseException as exc:  # whatever went wrong, no render is left unsettled
                error = RenderFailed(f"cannot make the derivatives durable: {_reason(exc)}")
                settled, again = [(e, False, error, n) for e, _, _, n in renders], []
            self._finish(settled, again)

    def _synced(self, worker: str, renders: list[_Settled]) -> tuple[list[_Settled], list[_Entry]]:
        """What became of ``renders`` once ``worker`` was asked to make their files durable:
        settled, or failed with why it could not, or to send again if the worker is lost
        or its sync is stuck (the worker is restarted first)."""
        paths = [d.path for _, _, result, _ in renders for d in result.derivatives]
        answer: BaseException | None
        try:
            answers = self.client.run(
                make_written_durable, paths, self.task_timeout, workers=[worker], on_error="return"
            )
            answer = answers.get(worker, OSError("no answer"))
        except Exception as exc:  # the scheduler is gone, or the client closed
            answer = exc
        entries = [entry for entry, *_ in renders]
        if answer is None:
            return renders, []
        if isinstance(answer, TaskTimeout):  # its sync thread is stuck: start afresh
            self._restart(worker, wait=True)
            return self._retry(entries, _timed_out(str(answer)))
        if isinstance(answer, DerivoError):  # e.g. a full device
            return [(e, False, answer, n) for e, _, _, n in renders], []
        reason = f"Dask worker {worker} was lost before it made the files durable"
        return self._retry(entries, lambda n: WorkerCrashed(f"{reason} {_attempts(n)}"))

    def _outcomes(
        self, dask_future: Any, value: Answer | None, entries: list[_Entry]
    ) -> tuple[list[_Settled], list[_Entry]]:
        """What became of one Dask task's renders: settled ones, and ones to send again."""
        if dask_future.status == "finished":
            if value is None:
                try:
                    value = dask_future.result()
                except Exception as exc:
                    return [(e, False, self._failure(exc), e.attempt) for e in entries], []
            return self._rendered(entries, value)
        if dask_future.status == "cancelled":
            error = RenderFailed("render cancelled: the Dask scheduler was lost")
            return [(e, False, error, e.attempt) for e in entries], []
        error = dask_future.exception()
        if not isinstance(error, self._distributed.KilledWorker):
            return [(e, False, self._failure(error), e.attempt) for e in entries], []
        if len(entries) > 1:  # any of them may be the killer: each alone from now on
            for entry in entries:
                entry.alone = True
            return [], entries
        n = self._crash_attempts
        return [(entries[0], False, WorkerCrashed(f"Dask worker died on {n} attempts"), n)], []

    def _rendered(
        self, entries: list[_Entry], value: Answer
    ) -> tuple[list[_Settled], list[_Entry]]:
        worker, outcomes = value
        settled: list[_Settled] = []
        overran: list[_Entry] = []
        again = entries[len(outcomes) :]  # not reached: behind a render that overran
        for entry, (kind, result, leftovers, seconds) in zip(entries, outcomes, strict=False):
            if kind == "timeout":
                self._restart(result)
                overran.append(entry)
                continue
            self._timed(seconds)
            entry.worker = worker
            attempts = max(entry.attempt, 2) if leftovers else entry.attempt
            settled.append((entry, kind == "ok", result, attempts))
        if overran:
            failed, retried = self._retry(
                overran, _timed_out(f"render exceeded the {self.task_timeout:g} s time limit")
            )
            settled += failed
            again += retried
        return settled, again

    def _finish(self, settled: list[_Settled], again: list[_Entry]) -> None:
        """Settle renders with their outcomes; queue ``again`` to be sent once more."""
        with self._cond:
            if self._closing:  # nobody sends any more: those fail
                error = RenderFailed("the Dask executor is shut down")
                settled = settled + [(e, False, error, e.attempt) for e in again]
                again = []
            self._outbox.extend(again)
            self._owed -= len(settled)
            for _entry, ok, _outcome, _n in settled:
                if ok:
                    self._completed += 1
                else:
                    self._failed += 1
            self._cond.notify_all()
        for entry, ok, outcome, attempts in settled:
            entry.future.attempts = attempts
            settle(entry.future, ok, outcome)

    def _timed(self, seconds: float) -> None:
        """Follow how long a render takes, to size the batches."""
        known = self._render_seconds
        self._render_seconds = seconds if known is None else 0.8 * known + 0.2 * seconds

    @staticmethod
    def _failure(exc: BaseException) -> RenderFailed:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return RenderFailed(f"Dask task failed: {reason}")

    def _land_again(self, dask_future: Any) -> None:
        try:
            dask_future.exception()  # waits until it is computed again (or cancelled)
        except (CancelledError, OSError, TimeoutError):
            pass  # it lands as cancelled, or the client is closing
        self._done.put(dask_future)

    def _restart(self, worker: str, *, wait: bool = False) -> None:
        """Restart a worker whose render or sync overran (by default without waiting)."""
        with self._cond:
            self._restarts += 1
        if wait:
            self._restart_now(worker)
        else:
            self._helper(self._restart_now, worker)

    def _helper(self, target: Callable[[Any], None], arg: Any) -> None:
        """Run ``target(arg)`` in a thread of its own; :meth:`close` waits for it."""
        thread = threading.Thread(
            target=target, args=(arg,), name="derivo-dask-helper", daemon=True
        )
        self._helpers.append(thread)
        thread.start()

    def _restart_now(self, worker: str) -> None:
        try:
            self.client.restart_workers([worker], raise_for_error=False)
        except Exception:  # gone already, or without a nanny: the scheduler moves its tasks
            pass
