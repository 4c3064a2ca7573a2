"""Where the wall time of ``derivo process`` on one photo goes: a timeline of its processes.

    python -m bench.timeline [PHOTO] [--python PYTHON]   # needs strace on the PATH

Runs ``PYTHON -m derivo process`` on a folder holding only PHOTO (default: the first
photo of the bench corpus), fresh output and cache, under ``strace -f``, tracing only
process starts and ends, file opens, renames and syncs. Prints, in milliseconds from
the start, when the coordinator opened the cache, hashed the photo and asked for the
fork server; when the server was ready (its first fork); when the worker read the
photo and wrote the derivatives; when the files were synced, the cache committed,
the workers and the server ended, and the coordinator exited. strace slows every
traced call a little: read the gaps between events, not the total.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import corpus as corpus_mod

TRACED = (
    "execve,clone,clone3,vfork,accept4,openat,rename,renameat,renameat2,"
    "fdatasync,fsync,syncfs,exit_group,wait4"
)
_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")


def trace(python: str, photo: Path, work: Path) -> list[tuple[int, float, str]]:
    """The traced calls as (pid, time, call), unfinished calls joined to their results."""
    folder = work / "photo"
    folder.mkdir()
    shutil.copy(photo, folder / photo.name)
    log = work / "trace"
    command = [python, "-m", "derivo", "process", str(folder), "--out", str(work / "out")]
    subprocess.run(
        ["strace", "-f", "-ttt", "-e", f"trace={TRACED}", "-e", "signal=none", "-o", str(log)]
        + [*command, "--progress", "none"],
        check=True,
        capture_output=True,
        cwd=work,  # derivo as installed for that interpreter, not this folder's
    )
    calls: list[tuple[int, float, str]] = []
    pending: dict[int, tuple[float, str]] = {}
    for line in log.read_text().splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        pid, when, text = int(match[1]), float(match[2]), match[3]
        if text.endswith("<unfinished ...>"):
            pending[pid] = (when, text.removesuffix("<unfinished ...>"))
            continue
        if text.startswith("<..."):
            started, head = pending.pop(pid, (when, ""))
            text = head + text.split("resumed>", 1)[-1]
            when = started
        calls.append((pid, when, text))
    return calls


def events(calls: list[tuple[int, float, str]], photo: str) -> list[tuple[float, str]]:
    """The moments that matter, labelled, from the traced calls."""
    start = calls[0][1]
    main = calls[0][0]
    server = next((p for p, _, c in calls if "multiprocessing.forkserver" in c), None)
    workers: set[int] = set()
    found: list[tuple[float, str]] = []

    def note(when: float, label: str, once: bool = True) -> None:
        if not (once and any(existing == label for _, existing in found)):
            found.append((when - start, label))

    for pid, when, call in calls:
        if call.startswith("execve(") and "resource_tr" in call:
            note(when, "resource tracker started (a fresh interpreter)")
        elif call.startswith("execve(") and pid == server:
            note(when, "fork server started (a fresh interpreter importing the renderer)")
        elif call.startswith("openat(") and 'derivo.db"' in call and pid == main:
            note(when, "cache opened (CLI imported, lock taken)")
        elif call.startswith("openat(") and photo in call and pid not in workers:
            note(when, "photo read by the coordinator (sniff, hash)")
        elif call.startswith("accept4(") and pid == server:
            note(when, "fork server ready: first worker forked")
        elif call.startswith("clone(") and pid == server:
            child = re.search(r"= (\d+)$", call)
            if child:
                workers.add(int(child[1]))
        elif call.startswith("openat(") and photo in call and pid in workers:
            note(when, "photo read by a worker (render starts)")
        elif call.startswith("rename") and pid in workers:
            note(when, "derivatives renamed into place (render ends)", once=False)
        elif call.startswith("syncfs("):
            note(when, "derivatives synced (syncfs)")
        elif call.startswith("exit_group(") and pid in workers:
            note(when, "worker exited", once=False)
        elif call.startswith(("fdatasync(", "fsync(")) and pid == main:
            note(when, "cache write synced", once=False)
        elif call.startswith("wait4(") and pid == main and server and f"wait4({server}," in call:
            note(when, "fork server ended (reaped)")
        elif call.startswith("exit_group(") and pid == main:
            note(when, "coordinator exits (interpreter teardown done)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timeline", description=__doc__)
    parser.add_argument("photo", nargs="?", type=Path, help="a photo (default: the corpus' first)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run derivo")
    args = parser.parse_args(argv)
    if shutil.which("strace") is None:
        parser.error("strace is not on the PATH")
    photo = args.photo or corpus_mod.ensure(100, 1).paths[0]
    with tempfile.TemporaryDirectory() as work:
        calls = trace(args.python, photo, Path(work))
    previous = 0.0
    for when, label in events(calls, photo.name):
        # cache syncs come in bursts: print the first of each burst only
        if label == "cache write synced" and when - previous < 0.005:
            continue
        print(f"{1000 * when:8.1f} ms  (+{1000 * (when - previous):6.1f})  {label}")
        previous = when
    return 0


if __name__ == "__main__":
    sys.exit(main())
