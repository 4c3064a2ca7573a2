"""The fork server derivo's workers start from, shared with the rest of the program.

Python keeps one fork server per process, used by every pool the program starts
with the "forkserver" method: derivo's and its own. So derivo adds the renderer to
the program's preload list rather than replacing it, and stops the server only when
derivo started it and no process started through :mod:`multiprocessing` is alive:
stopping it waits for every process it forked, and a pool that starts later
(derivo's or the program's) starts a new one.

The server imports the renderer once, so a worker costs a fork, not a fresh
interpreter and its imports. Its only threads besides its main one are OpenBLAS's
(numpy starts them on import), and OpenBLAS stops them around a fork
(``pthread_atfork``), so forking the server is safe where forking the coordinator,
with its threads, is not. ``OPENBLAS_NUM_THREADS`` is left alone: set in the server,
it would also hold the program's own forkserver workers to one BLAS thread.

This reads state :mod:`multiprocessing.forkserver` keeps private (the server's
preload list and pid, and its ``_stop``), the same from Python 3.11 to 3.14; it is
read in this module only, and ``tests/test_forkserver_shared.py`` pins it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any

#: What derivo adds to the fork server's preload list (``["__main__"]`` by default): the
#: renderer, and the pool's worker loop, which each worker would otherwise import itself.
PRELOAD = ("derivo.render", "derivo.executors.pool")

_lock = threading.Lock()
_started: int | None = None  # pid of the fork server derivo started, if it may still run


def worker_context() -> BaseContext:
    """How workers start: forked from the fork server, or spawned where it is missing."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    server = _server()
    current = list(getattr(server, "_preload_modules", None) or [])
    missing = [name for name in PRELOAD if name not in current]
    if missing:  # no effect on a server already running
        multiprocessing.forkserver.set_forkserver_preload(current + missing)
    return multiprocessing.get_context("forkserver")


@contextmanager
def starting_worker(context: Any) -> Iterator[Any]:
    """Hold while a worker process starts: the fork server runs, and is not stopped meanwhile.

    Yields the context to start the worker with: ``context``, or spawn when the fork
    server cannot start (its socket lives in the temp folder, which may be full,
    unwritable, or at a path too long for a Unix socket). Notes whether derivo started
    the server, for :func:`stop_forkserver`.
    """
    global _started
    with _lock:
        if context.get_start_method() == "forkserver":
            server = _server()
            before = server._forkserver_pid
            try:
                multiprocessing.forkserver.ensure_running()
            except OSError:
                context = multiprocessing.get_context("spawn")
            else:
                if server._forkserver_pid != before:  # none ran, or it had died
                    _started = server._forkserver_pid
        yield context


def stop_forkserver() -> None:
    """End the fork server now, if derivo started it and no process still needs it.

    Left alone it ends when the program does, without being waited for: its CPU time
    (and that of every worker it forked) would then be missing from the program's
    own account (``wait4``, ``time``). It is kept while any process started through
    :mod:`multiprocessing` is alive (a worker of a pool, derivo's or the program's,
    still open), and when the program started it. A process that another thread of
    the program (not a derivo pool) starts while this runs is the one case not
    covered: stop only once the program's own pools are closed, as the command
    line does.
    """
    global _started
    server = _server()
    with _lock:
        if _started is None or server._forkserver_pid != _started:
            return
        if multiprocessing.active_children():
            return
        # Idle (every process it forked has exited and been reported) or still importing:
        # it holds nothing to save, and a clean exit costs the run the interpreter's
        # teardown of libvips and numpy (30-40 ms, waited for here).
        with contextlib.suppress(ProcessLookupError):
            os.kill(_started, signal.SIGKILL)
        server._stop()
        _started = None


def _server() -> Any:
    """The program's one fork server (private to :mod:`multiprocessing.forkserver`)."""
    return multiprocessing.forkserver._forkserver
