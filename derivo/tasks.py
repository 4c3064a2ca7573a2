"""Plain data that crosses process (and machine) boundaries: limits, tasks, results.

Everything here is a frozen dataclass of strings, numbers and specs, so it pickles
for a local process pool and for a Dask cluster alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from derivo.hashing import content_path
from derivo.limits import MB as MB  # Limits travel in tasks; both stay importable from here
from derivo.limits import Limits as Limits
from derivo.specs import Spec


def source_folder(out_dir: Path, source_hash: str) -> Path:
    """Where every derivative of one source lives: ``<out>/<hh>/<hash>``."""
    return content_path(out_dir, source_hash)


def derivative_path(out_dir: Path, source_hash: str, spec: Spec) -> Path:
    """Content-addressed home of one derivative: ``<out>/<hh>/<hash>/<spec>-<fp>.<ext>``."""
    return source_folder(out_dir, source_hash) / spec.filename


@dataclass(frozen=True, kw_only=True)
class RenderTask:
    """Everything a worker needs to render one source: no database, no globals.

    ``sync=False`` leaves the fsync of the written files to the caller, who makes a
    whole batch durable at once before recording it.
    """

    source: str
    source_hash: str
    specs: tuple[Spec, ...]
    out_dir: str
    limits: Limits = Limits()
    sync: bool = True


@dataclass(frozen=True, kw_only=True)
class Derivative:
    """One derivative file as written."""

    spec: str
    path: str
    width: int
    height: int
    bytes: int
    format: str
    thumbhash: str | None = None
    #: BLAKE3 of the file's bytes, checked by ``--verify`` and ``derivo check``.
    blake3: str | None = None


@dataclass(frozen=True, kw_only=True)
class RenderResult:
    """What a worker returns for a task that rendered."""

    width: int
    height: int
    derivatives: tuple[Derivative, ...]
    seconds: float
    peak_rss_kb: int = 0
