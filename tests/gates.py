"""Gates: hold renders in worker processes until the test has acted.

A gate is a folder shared by the test and the workers it starts. A gated render
announces itself (``arrived/<time>-<pid>-<hash>``, so the test knows which
process holds which task) and waits until the test opens the gate; a photo can
also be held alone (by its hash) at an open gate. Kill, hang and "still
rendering" tests thus act at a moment they choose, however fast the machine.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from derivo import RenderResult, RenderTask, WorkerPool
from derivo.render import render

#: Longest a test waits for workers to arrive, or a worker for the gate to open.
DEADLINE = 120.0
#: How often a waiting side looks again.
POLL = 0.01


@dataclass(frozen=True)
class Gate:
    folder: Path

    @classmethod
    def make(cls, folder: Path) -> Gate:
        (folder / "arrived").mkdir(parents=True)
        (folder / "held").mkdir()
        return cls(folder)

    def render(self) -> Callable[[RenderTask], RenderResult]:
        """The real renderer behind this gate; picklable, for ``WorkerPool(func=...)``."""
        return functools.partial(gated_render, str(self.folder))

    def announcer(self) -> Callable[[], None]:
        """A worker initializer that reports each worker ready, without waiting."""
        return functools.partial(announce, str(self.folder))

    def open(self) -> None:
        (self.folder / "open").touch()

    def hold(self, source_hash: str) -> None:
        """Keep renders of these bytes waiting, even with the gate open."""
        (self.folder / "held" / source_hash).touch()

    def release(self, source_hash: str) -> None:
        (self.folder / "held" / source_hash).unlink()

    def arrivals(self) -> list[int]:
        """Pids of the renders that reached the gate, in order of arrival."""
        names = [p.name.split("-") for p in (self.folder / "arrived").iterdir()]
        return [int(n[1]) for n in sorted(names, key=lambda n: int(n[0]))]

    def wait_for(self, count: int) -> list[int]:
        """Block until ``count`` renders have reached the gate; their pids."""
        deadline = time.monotonic() + DEADLINE
        while len(arrived := self.arrivals()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(arrived)} of {count} renders reached the gate")
            time.sleep(POLL)
        return arrived


def gated_render(folder: str, task: RenderTask) -> RenderResult:
    """Announce this render, wait for the gate to open, then render for real."""
    wait_at(folder, task.source_hash)
    return render(task)


def announce(folder: str, source_hash: str = "") -> None:
    """Report this process (and the photo it holds) at the gate in ``folder``."""
    name = f"{time.monotonic_ns()}-{os.getpid()}-{source_hash}"  # one clock for all processes
    (Path(folder) / "arrived" / name).touch()


def wait_at(folder: str, source_hash: str = "") -> None:
    """Announce this process at the gate in ``folder`` and wait until it lets it pass."""
    gate = Path(folder)
    announce(folder, source_hash)
    deadline = time.monotonic() + DEADLINE
    while not (gate / "open").exists() or (source_hash and (gate / "held" / source_hash).exists()):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never opened the gate")
        time.sleep(POLL)


@contextlib.contextmanager
def every_pool_behind(gate: Gate) -> Iterator[None]:
    """Make every ``WorkerPool`` built without ``func=`` render behind ``gate``.

    For code that builds its own pool (the CLI, the service), so a test can hold
    their renders without any hook in them.
    """
    defaults = WorkerPool.__init__.__kwdefaults__
    assert defaults is not None
    saved = defaults["func"]
    defaults["func"] = gate.render()
    try:
        yield
    finally:
        defaults["func"] = saved
