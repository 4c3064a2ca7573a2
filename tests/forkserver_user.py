"""A program with a fork-server pool of its own next to derivo's, for test_forkserver_shared.

``python -m tests.forkserver_user user-first|derivo-first``: prints one JSON object
of what each side's workers saw, and whether the fork server still runs at the end.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from derivo import RenderResult, RenderTask, WorkerPool
from derivo.executors.forkserver import stop_forkserver

USER_PRELOAD = "colorsys"  # a module neither derivo nor its renderer imports


def seen() -> dict[str, object]:
    """What a worker forked from the server finds already imported, and its parent."""
    return {
        "user_preload": USER_PRELOAD in sys.modules,
        "renderer": "derivo.render" in sys.modules,
        "server": os.getppid(),
    }


def derivo_task(task: RenderTask) -> RenderResult:
    raise RuntimeError(json.dumps(seen()))  # comes back as the failure's reason


def in_derivo_pool() -> dict[str, object]:
    task = RenderTask(source="probe", source_hash="00" * 32, specs=(), out_dir="/nonexistent")
    with WorkerPool(workers=1, func=derivo_task, initializer=None, max_attempts=1) as pool:
        error = pool.submit(task).exception(timeout=120)
    reason = str(error)
    return dict(json.loads(reason[reason.index("{") :]))


def server_running(pid: object) -> bool:
    try:
        os.kill(int(str(pid)), 0)
    except ProcessLookupError:
        return False
    return True


def main(order: str) -> None:
    multiprocessing.set_forkserver_preload(["__main__", USER_PRELOAD])
    context = multiprocessing.get_context("forkserver")
    out: dict[str, object] = {}
    with ProcessPoolExecutor(1, mp_context=context) as user:
        if order == "user-first":
            out["user_before"] = user.submit(seen).result(timeout=120)
            out["derivo"] = in_derivo_pool()
        else:
            out["derivo"] = in_derivo_pool()
            out["user_before"] = user.submit(seen).result(timeout=120)
        stop_forkserver()  # derivo's pool is closed; the program's is not
        out["user_after"] = user.submit(seen).result(timeout=120)
    stop_forkserver()  # now nothing needs the server
    out["running_at_end"] = server_running(out["user_after"]["server"])  # type: ignore[index]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
