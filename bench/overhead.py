"""``python bench/overhead.py LIBRARY``: CPU per photo of the coordinator and of the workers.

A first run over a folder of photos (``python -m bench.library --photos 5000`` makes one
under ``bench/.library``), in this process, from a fresh output folder: the
coordinator's CPU is this process's own (discover, stat, hash, SQLite, dispatch,
record), also split by thread (``main`` is what no other thread took), the workers'
is that of the processes it reaped. ``--bare`` renders with
:func:`bare_render`, which writes the derivatives' files as a render would but makes
no pixels, so what is left is the cost around each photo.

Run as a script, it uses the ``derivo`` first on ``sys.path``: to compare two
checkouts, run it from each with ``PYTHONPATH=<checkout>`` (it needs nothing else of
the checkout, so one older than this file can be measured too).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def bare_render(task: Any) -> Any:
    """Write each derivative's file (a few bytes) as a render does, and no pixels."""
    from derivo.atomic import write_atomically
    from derivo.tasks import Derivative, RenderResult, derivative_path

    files, made = {}, []
    for spec in task.specs:
        path = derivative_path(Path(task.out_dir), task.source_hash, spec)
        data = b"\xff\xd8" + task.source_hash.encode() + spec.name.encode()
        files[path.name] = data
        made.append(
            Derivative(
                spec=spec.name,
                path=str(path),
                width=64,
                height=48,
                bytes=len(data),
                format="jpeg",
            )
        )
    write_atomically(Path(made[0].path).parent, files, sync=task.sync)
    return RenderResult(width=64, height=48, derivatives=tuple(made), seconds=0.0)


@contextmanager
def thread_cpu() -> Iterator[dict[str, float]]:
    """CPU seconds of each thread started inside the block, by name, counted as it ends."""
    seconds: dict[str, float] = {}
    lock = threading.Lock()
    run = threading.Thread.run

    def timed(thread: threading.Thread) -> None:
        try:
            run(thread)
        finally:
            with lock:
                seconds[thread.name] = seconds.get(thread.name, 0.0) + time.thread_time()

    threading.Thread.run = timed  # type: ignore[assignment,method-assign]
    try:
        yield seconds
    finally:
        threading.Thread.run = run  # type: ignore[method-assign]


def cpu(who: int) -> tuple[float, float]:
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


def first_run(library: Path, out: Path, *, bare: bool, workers: int) -> dict[str, Any]:
    import derivo
    from derivo import DerivativeCache, Pipeline, WorkerPool
    from derivo.discover import scan
    from derivo.executors.forkserver import stop_forkserver
    from derivo.pipeline import FEED

    options: dict[str, Any] = {"func": bare_render} if bare else {}
    started, before = time.perf_counter(), cpu(resource.RUSAGE_SELF)
    outcomes: dict[str, int] = {}
    with thread_cpu() as by_thread:
        with (
            DerivativeCache(out / "derivo.db", root=out) as cache,
            WorkerPool(workers=workers, queue_size=FEED, **options) as pool,
            Pipeline(cache=cache, executor=pool, out_dir=out) as pipeline,
        ):
            for result in pipeline.run(scan([library], exclude=[out])):
                outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        for thread in threading.enumerate():  # the recorder ends once idle a moment
            if thread is not threading.current_thread() and thread.name.startswith("derivo-"):
                thread.join()
    stop_forkserver()  # reaps the workers' parent: their CPU counts as ours
    wall = time.perf_counter() - started
    user, system = (a - b for a, b in zip(cpu(resource.RUSAGE_SELF), before, strict=True))
    worker_user, worker_system = cpu(resource.RUSAGE_CHILDREN)
    photos = sum(outcomes.values())
    total = user + system + worker_user + worker_system
    threads = {"main": user + system - sum(by_thread.values()), **by_thread}
    return {
        "derivo": str(Path(derivo.__file__).parent.parent),
        "render": "bare" if bare else "real",
        "photos": photos,
        "outcomes": outcomes,
        "wall_s": round(wall, 2),
        "cpu_busy": round(total / wall / workers, 3),
        "coordinator_ms_per_photo": round((user + system) / photos * 1e3, 3),
        "coordinator_sys_ms_per_photo": round(system / photos * 1e3, 3),
        "coordinator_ms_per_photo_by_thread": {
            name: round(seconds / photos * 1e3, 3) for name, seconds in threads.items()
        },
        "workers_ms_per_photo": round((worker_user + worker_system) / photos * 1e3, 3),
        "workers_sys_ms_per_photo": round(worker_system / photos * 1e3, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/overhead.py", description=__doc__)
    parser.add_argument("library", type=Path, help="a folder of photos")
    parser.add_argument("--bare", action="store_true", help="write files, make no pixels")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="derivo-overhead-"))
    try:
        print(json.dumps(first_run(args.library, out, bare=args.bare, workers=args.workers)))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":  # workers import this file again (the fork server preloads it)
    sys.exit(main())
