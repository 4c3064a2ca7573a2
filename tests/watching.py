"""``derivo watch`` as a real process: its JSON lines read as they come, Ctrl-C to stop it."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DEADLINE = 180  # seconds; generous for a shared machine, reached only on failure


def _interruptible() -> None:
    """Ctrl-C as in a terminal, even when the tests run with SIGINT ignored (nohup, CI)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Watch:
    """A running ``derivo watch``: its output lines as they come; once stopped, its exit
    code and everything it wrote on stderr."""

    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    returncode: int | None = None
    stderr: str = ""


@contextmanager
def watching(lib: Path, out: Path, *options: str) -> Iterator[Watch]:
    """Run ``derivo watch LIB --out OUT --settle 0.5 --workers 1 --jsonl OPTIONS``;
    on leaving, Ctrl-C, then the process is reaped and its stderr read."""
    command = [sys.executable, "-m", "derivo", "watch", str(lib), "--out", str(out)]
    command += ["--settle", "0.5", "--workers", "1", "--jsonl", *options]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    ) as proc:
        watch = Watch()
        assert proc.stdout is not None and proc.stderr is not None
        stdout = proc.stdout
        reader = threading.Thread(target=lambda: [watch.lines.put(x) for x in stdout], daemon=True)
        reader.start()
        try:
            yield watch
        finally:
            proc.send_signal(signal.SIGINT)
            watch.returncode = proc.wait(timeout=DEADLINE)
            reader.join(timeout=DEADLINE)
            watch.stderr = proc.stderr.read()
