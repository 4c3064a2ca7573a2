"""Run one contender as a child process and measure it; check what it wrote."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

RSS_SAMPLE_SECONDS = 0.1


@dataclass
class Run:
    """One measured execution of a command (wall, CPU of the whole process tree, memory)."""

    name: str
    wall: float
    cpu: float  # user + system seconds of the child and every descendant it reaped
    max_rss_mb: float  # largest single process in the tree (ru_maxrss)
    tree_rss_mb: float  # largest sampled sum of RSS over the live tree
    other_cpu: float  # CPU seconds the rest of the machine used meanwhile (noise)
    returncode: int
    summary: dict[str, Any]
    stderr_tail: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def utilisation(self, cores: int) -> float:
        return self.cpu / self.wall / cores if self.wall > 0 else 0.0

    def other_load(self, cores: int) -> float:
        return self.other_cpu / self.wall / cores if self.wall > 0 else 0.0

    @property
    def inner_wall(self) -> float | None:
        value = find_key(self.summary, "wall_seconds")
        return float(value) if isinstance(value, int | float) else None


def find_key(data: Any, key: str) -> Any:
    """First value stored under ``key`` anywhere in nested dicts/lists."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        values = list(data.values())
    elif isinstance(data, list):
        values = data
    else:
        return None
    for value in values:
        found = find_key(value, key)
        if found is not None:
            return found
    return None


def parse_summary(stdout: str) -> dict[str, Any]:
    """The JSON object a contender printed: the whole stdout, else its last JSON line."""
    text = stdout.strip()
    candidates = [text] + [line.strip() for line in reversed(text.splitlines())]
    for candidate in candidates:
        if candidate.startswith("{"):
            try:
                value = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


class _TreeRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self.stop.wait(RSS_SAMPLE_SECONDS)


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (user, nice, system, irq, softirq)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def run(name: str, cmd: list[str], cwd: Path) -> Run:
    """Run ``cmd`` and measure it with ``wait4`` (rusage covers all reaped descendants)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy = machine_busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        sampler = _TreeRss(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        busy = machine_busy_seconds() - busy
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(
        name=name,
        wall=wall,
        cpu=cpu,
        max_rss_mb=usage.ru_maxrss / 1024,
        tree_rss_mb=sampler.peak / 2**20,
        other_cpu=max(0.0, busy - cpu),
        returncode=proc.returncode,
        summary=parse_summary(stdout),
        stderr_tail="\n".join(stderr.strip().splitlines()[-15:]),
    )


def source_fingerprint(package: Path) -> str:
    """Short hash of a package's Python sources, to notice edits during a benchmark."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- output equivalence ----------------------------------------------------------------


def jpeg_frame_marker(data: bytes) -> int | None:
    """The SOFn marker of a JPEG (0xC0 baseline, 0xC2 progressive), None if not a JPEG."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


@dataclass
class OutputCheck:
    counts: dict[str, int] = field(default_factory=dict)
    mean_kb: dict[str, float] = field(default_factory=dict)
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _spec_of(path: Path) -> str | None:
    for spec in ("thumbnail", "preview"):
        if path.name == f"{spec}.jpg" or path.name.startswith(f"{spec}-"):
            return spec
    return None


def check_outputs(
    out: Path, photos: list[dict[str, Any]], boxes: dict[str, tuple[int, int]], sample: int = 12
) -> OutputCheck:
    """Count derivatives, size them, and inspect a sample of each spec.

    Checked per sample: fits its box, progressive JPEG (SOF2), no EXIF orientation other
    than 1 left behind. Over all outputs: as many portrait derivatives as there are photos
    whose EXIF orientation turns them to portrait (so every contender applied orientation).
    """
    from PIL import Image

    check = OutputCheck()
    found: dict[str, list[Path]] = {spec: [] for spec in boxes}
    for path in sorted(out.rglob("*.jpg")):
        spec = _spec_of(path)
        if spec in found:
            found[spec].append(path)
    expected_portrait = sum(
        1 for p in photos if (p["height"] > p["width"]) != (p["orientation"] in (5, 6, 7, 8))
    )
    for spec, paths in found.items():
        check.counts[spec] = len(paths)
        if len(paths) != len(photos):
            check.problems.append(f"{spec}: {len(paths)} files for {len(photos)} photos")
        if not paths:
            continue
        check.mean_kb[spec] = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        box_w, box_h = boxes[spec]
        portrait = 0
        step = max(1, len(paths) // sample)
        for i, path in enumerate(paths):
            with Image.open(path) as im:
                w, h = im.size
                orientation = im.getexif().get(0x0112, 1)
            portrait += h > w
            if i % step:
                continue
            check.checked += 1
            if w > box_w or h > box_h:
                check.problems.append(f"{path.name}: {w}x{h} exceeds {box_w}x{box_h}")
            if max(w, h) < min(box_w, box_h) * 0.9:
                check.problems.append(f"{path.name}: {w}x{h} is much smaller than its box")
            if jpeg_frame_marker(path.read_bytes()) != 0xC2:
                check.problems.append(f"{path.name}: not a progressive JPEG")
            if orientation != 1:
                check.problems.append(f"{path.name}: EXIF orientation {orientation} left")
        if portrait != expected_portrait:
            check.problems.append(
                f"{spec}: {portrait} portrait outputs, expected {expected_portrait}"
            )
    return check
