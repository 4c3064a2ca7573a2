"""What one ``derivo process`` run did, shown live (progress bar) and at the end.

Memory stays bounded however many photos fail: failures are counted by kind, and
only the first :data:`KEPT_FAILURES` are kept for the JSON summary (``derivo
status`` lists them all from the cache).
"""

from __future__ import annotations

import itertools
import resource
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from derivo.discover import Found
from derivo.executors import available_cores
from derivo.outputs import failure_json
from derivo.pipeline import PhotoResult

KEPT_FAILURES = 10_000  # failures listed in the JSON summary
SHOWN_PER_KIND = 3  # failures printed for each kind at the end of a run
_DISCOVERY_STEP = 500  # files found between two updates of the progress total
PROGRESS_STEP = 50  # results between two updates of the progress bar


class _RateColumn(ProgressColumn):
    """Photos per second since ``started``: the figure the summary ends with."""

    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started

    def render(self, task: Task) -> Text:
        elapsed = time.perf_counter() - self.started
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} photos/s", style="cyan")


def progress_bar(console: Console, *, quiet: bool, started: float | None = None) -> Progress:
    """The live bar; its rate counts from ``started`` (a ``perf_counter`` time) like the
    summary does, so the two agree."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(time.perf_counter() if started is None else started),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )


def discovering(found: Iterable[Found], progress: Progress, bar: TaskID) -> Iterator[Found]:
    """Pass found files on, showing how many were found so far."""
    count = 0
    for item in found:
        count += 1
        if count % _DISCOVERY_STEP == 0:
            progress.update(bar, total=count)
        yield item
    progress.update(bar, total=count, description="photos")


def own_peak_rss_kb() -> int:
    """This process's own peak resident memory, in KiB.

    Linux's ``ru_maxrss`` also counts the process that started this one (it carries
    over the parent's memory across fork and exec), so a coordinator started by a
    large program would report that program's size; ``VmHWM`` counts this
    program's memory only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the workers)."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


@dataclass
class Summary:
    """Counts and figures of one ``process`` run."""

    rendered: int = 0
    cached: int = 0
    pending: int = 0
    not_images: int = 0
    failed: int = 0
    failed_by_kind: Counter[str] = field(default_factory=Counter)
    failures: list[PhotoResult] = field(default_factory=list)  # the first KEPT_FAILURES
    peak_rss_kb: int = 0
    wall: float = 0.0
    cpu_seconds: float = 0.0
    out: str = ""
    db: str = ""

    def add(self, result: PhotoResult) -> None:
        if result.outcome == "rendered":
            self.rendered += 1
        elif result.outcome == "cached":
            self.cached += 1
        elif result.outcome == "pending":
            self.pending += 1
        else:
            self.failed += 1
            self.failed_by_kind[result.error_kind or "error"] += 1
            if len(self.failures) < KEPT_FAILURES:
                self.failures.append(result)
        self.peak_rss_kb = max(self.peak_rss_kb, result.peak_rss_kb)

    def count_cached(self, photos: int) -> None:
        """Count photos found unchanged, with no result made for them."""
        self.cached += photos

    def pass_over(self, path: object) -> None:
        """Count a file found in a folder that is not an image."""
        self.not_images += 1

    def start(self) -> None:
        self.wall, self.cpu_seconds = -time.perf_counter(), -_cpu_seconds()

    def finish(self) -> None:
        """Close the clocks; workers are reaped by now, so their CPU time is included."""
        self.wall += time.perf_counter()
        self.cpu_seconds += _cpu_seconds()

    @property
    def total(self) -> int:
        return self.rendered + self.cached + self.pending + self.failed

    @property
    def seen(self) -> int:
        """Files dealt with: photos, and files passed over (the progress bar counts both)."""
        return self.total + self.not_images

    def as_dict(self) -> dict[str, Any]:
        return {
            "photos": self.total,
            "rendered": self.rendered,
            "cached": self.cached,
            "failed": self.failed,
            "pending": self.pending,
            "not_images": self.not_images,
            "wall_seconds": round(self.wall, 4),
            "photos_per_second": round(self.total / self.wall, 2) if self.wall else None,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_utilisation": round(self.cpu_seconds / self.wall / available_cores(), 3)
            if self.wall
            else None,
            "peak_worker_rss_mb": round(self.peak_rss_kb / 1024, 1),
            "coordinator_peak_rss_mb": round(own_peak_rss_kb() / 1024, 1),
            "failed_by_kind": dict(self.failed_by_kind.most_common()),
            "failures": [
                failure_json(f.photo_id, f.source, f.error_kind, f.error) for f in self.failures
            ],
            "failures_not_listed": self.failed - len(self.failures),
            "out": self.out,
            "db": self.db,
        }

    def print(self, console: Console) -> None:
        d = self.as_dict()
        figures = [
            f"{d['photos_per_second']} photos/s",
            f"CPU {d['cpu_utilisation']:.0%} of {available_cores()} cores",
        ]
        if self.peak_rss_kb:
            figures.append(f"peak worker RSS {d['peak_worker_rss_mb']} MB")
        console.print(
            f"[green]{self.rendered} rendered[/], {self.cached} cached, "
            f"[{'red' if self.failed else 'green'}]{self.failed} failed[/]"
            + (f", [yellow]{self.pending} not finished[/]" if self.pending else "")
            + (
                f", {self.not_images} file{'s' if self.not_images > 1 else ''} passed over "
                f"(not {'images' if self.not_images > 1 else 'an image'})"
                if self.not_images
                else ""
            )
            + f" in {self.wall:.2f} s ({', '.join(figures)})",
            soft_wrap=True,
        )
        self._print_failures(console)
        console.print(
            f"Derivatives in {self.out}, cache {self.db}", highlight=False, soft_wrap=True
        )

    def _print_failures(self, console: Console) -> None:
        """Every failure when there are few; else counts by kind and the first few of each."""
        if self.failed <= 2 * SHOWN_PER_KIND:
            for failure in self.failures:
                self._print_failure(console, failure, indent="  ")
            return
        for kind, count in self.failed_by_kind.most_common():
            console.print(f"  [red]{count} failed[/] ({kind}), for example:", highlight=False)
            same = (f for f in self.failures if (f.error_kind or "error") == kind)
            for failure in itertools.islice(same, SHOWN_PER_KIND):
                self._print_failure(console, failure, indent="    ")
        console.print(
            f"  All {self.failed} failures: derivo status --db {self.db}",
            highlight=False,
            soft_wrap=True,
        )

    @staticmethod
    def _print_failure(console: Console, failure: PhotoResult, *, indent: str) -> None:
        console.print(
            f"{indent}[red]failed[/] {failure.source}: {failure.error}",
            highlight=False,
            soft_wrap=True,
        )
