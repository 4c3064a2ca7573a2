"""``derivo watch``: keep an output folder up to date with folders that change.

File events come from watchfiles (inotify and friends, polling where those are
missing); a full rescan every so often catches what events miss (network file
systems, a watcher that overflowed). A file is submitted only once it has stopped
changing for ``settle`` seconds, so a photo still being copied is never rendered
half-written; submitting goes through the same pipeline, cache and pool as
``process``, so an unchanged photo costs a stat.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import watchfiles

from derivo.discover import find_photos
from derivo.mirror import mirror, relative_name
from derivo.outcomes import printable
from derivo.pipeline import PhotoResult, Pipeline

_Signature = tuple[int, int]  # size, mtime_ns


class Settler:
    """Holds back files until their size and mtime stay the same for ``settle`` seconds.

    Pure bookkeeping over the clock it is given, so it is tested without waiting.
    """

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self._pending: dict[Path, tuple[_Signature, float]] = {}

    def saw(self, path: Path, now: float) -> None:
        """Note that ``path`` appeared or changed."""
        signature = _signature(path)
        if signature is None:
            self._pending.pop(path, None)
        elif self._pending.get(path, (None, 0.0))[0] != signature:
            self._pending[path] = (signature, now)

    def ready(self, now: float) -> list[Path]:
        """Files unchanged for ``settle`` seconds, in name order; they leave the waiting list."""
        done = []
        for path, (signature, since) in list(self._pending.items()):
            current = _signature(path)
            if current is None:
                del self._pending[path]
            elif current != signature:
                self._pending[path] = (current, now)
            elif now - since >= self.settle:
                del self._pending[path]
                done.append(path)
        return sorted(done)

    def __len__(self) -> int:
        return len(self._pending)


def _signature(path: Path) -> _Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def watch(
    paths: Sequence[Path],
    *,
    pipeline: Pipeline,
    exclude: Iterable[Path],
    on_result: Callable[[PhotoResult], None],
    settle: float = 2.0,
    rescan: float = 300.0,
    stop: threading.Event | None = None,
    mirror_to: Path | None = None,
) -> None:
    """Render what is under ``paths`` now, then what appears or changes, until ``stop``.

    With ``mirror_to``, each photo's derivatives are also linked there under its
    own name (:mod:`derivo.mirror`), before ``on_result`` hears of it. Ctrl-C
    raises KeyboardInterrupt out of here, as anywhere else.
    """
    roots = [p.resolve() for p in paths]
    skip = [p.resolve() for p in exclude]
    settler = Settler(settle)

    def scan(now: float) -> None:
        for item in find_photos(roots, exclude=skip):
            settler.saw(item.path, now)

    def wanted(change: watchfiles.Change, name: str) -> bool:
        path = Path(name)
        return (
            change != watchfiles.Change.deleted
            and not any(part.startswith(".") for part in path.relative_to(_root(path, roots)).parts)
            and not any(path.is_relative_to(folder) for folder in skip)
        )

    last_scan = time.monotonic()
    scan(last_scan)
    for changes in watchfiles.watch(
        *roots,
        watch_filter=wanted,
        debounce=max(50, int(settle * 500)),
        rust_timeout=max(100, int(settle * 1000)),
        yield_on_timeout=True,
        stop_event=stop,
    ):
        now = time.monotonic()
        for _change, name in changes:
            settler.saw(Path(name), now)
        if now - last_scan >= rescan:
            scan(now)
            last_scan = now
        ready = [item for item in find_photos(settler.ready(now)) if item.format is not None]
        paths_by_id = {printable(item.path): item.path for item in ready}
        for result in pipeline.run(paths_by_id.items()):
            if mirror_to is not None and result.ok:
                relative = relative_name(paths_by_id[result.photo_id], roots)
                mirror(mirror_to, relative, result.derivatives.values())
            on_result(result)


def _root(path: Path, roots: Sequence[Path]) -> Path:
    return next((root for root in roots if path.is_relative_to(root)), Path(os.sep))
