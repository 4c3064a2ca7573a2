"""Where each photo's derivatives are: the answer to "which file is my thumbnail?".

One JSON shape per photo, shared by ``derivo ls --json``, ``process --json`` and
``process --progress jsonl``, and one shape per failure, shared by ``process`` and
``status``, so a script reads all of them the same way.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from derivo.atomic import full_device
from derivo.cache import DerivativeCache, PhotoRecord
from derivo.errors import OutputError
from derivo.outcomes import printable
from derivo.pipeline import PhotoResult
from derivo.tasks import Derivative


@dataclass(frozen=True, kw_only=True)
class PhotoOutputs:
    """One recorded photo with every derivative recorded for its bytes."""

    photo: PhotoRecord
    derivatives: tuple[Derivative, ...]

    @property
    def source_exists(self) -> bool:
        return os.path.exists(self.photo.source)


def list_outputs(cache: DerivativeCache, paths: Iterable[Path] = ()) -> Iterator[PhotoOutputs]:
    """Recorded photos in id order, only those at or under ``paths`` when any are given.

    A source's derivatives include those of specs no longer in use (newest first
    per spec name): they are on disk until ``derivo clean`` removes them.
    """
    roots = [printable(p.resolve()) for p in paths]
    after: str | None = None
    while True:
        batch = cache.photos(after=after, limit=500)
        if not batch:
            return
        for photo in batch:
            if roots and not any(_under(photo.source, root) for root in roots):
                continue
            made = cache.recorded(photo.hash) if photo.hash else []
            yield PhotoOutputs(photo=photo, derivatives=tuple(d for _h, _fp, d in made))
        after = batch[-1].id


def _under(source: str, root: str) -> bool:
    return source == root or source.startswith(root.rstrip(os.sep) + os.sep)


def failure_json(photo_id: str, source: str, kind: str | None, error: str | None) -> dict[str, Any]:
    """The one shape of a failure in every JSON output."""
    return {"id": photo_id, "source": source, "kind": kind, "error": error}


def derivative_json(derivative: Derivative) -> dict[str, Any]:
    return {
        "spec": derivative.spec,
        "path": derivative.path,
        "width": derivative.width,
        "height": derivative.height,
        "bytes": derivative.bytes,
        "format": derivative.format,
        "thumbhash": derivative.thumbhash,
    }


def outputs_json(item: PhotoOutputs) -> dict[str, Any]:
    """A recorded photo, as ``derivo ls --json`` prints it."""
    photo = item.photo
    return {
        "id": photo.id,
        "source": photo.source,
        "source_exists": item.source_exists,
        "status": photo.status,
        "width": photo.width,
        "height": photo.height,
        "hash": photo.hash,
        "failure": failure_json(photo.id, photo.source, photo.error_kind, photo.error)
        if photo.status == "failed"
        else None,
        "derivatives": [derivative_json(d) for d in item.derivatives],
        "thumbhash": next((d.thumbhash for d in item.derivatives if d.thumbhash), None),
    }


def result_json(result: PhotoResult) -> dict[str, Any]:
    """A photo just processed, as ``process --json`` and ``--progress jsonl`` print it."""
    return {
        "id": result.photo_id,
        "source": result.source,
        "outcome": result.outcome,
        "width": result.width,
        "height": result.height,
        "hash": result.source_hash,
        "failure": failure_json(result.photo_id, result.source, result.error_kind, result.error)
        if result.outcome == "failed"
        else None,
        "derivatives": [derivative_json(d) for d in result.derivatives.values()],
    }


def open_spool() -> IO[str]:
    """A new line-buffered temp file for ``--json`` results, in the temp folder.

    A folder where it cannot be made (missing, full, not writable) is a one-line
    :class:`~derivo.errors.OutputError` naming it, not a traceback.
    """
    folder = Path(tempfile.gettempdir())
    try:
        with full_device(folder):
            return tempfile.TemporaryFile("w+", buffering=1)
    except OSError as exc:
        raise _spool_error(folder, exc) from None


def spool_json(spool: IO[str], result: PhotoResult) -> None:
    """Append ``result``'s JSON line to ``spool`` (made by :func:`open_spool`).

    A write that fails (full, or an unusable temp folder) is a one-line error naming
    the temp folder, not a traceback.
    """
    folder = Path(tempfile.gettempdir())
    try:
        with full_device(folder):
            spool.write(json.dumps(result_json(result)) + "\n")
    except OSError as exc:
        raise _spool_error(folder, exc) from None


def _spool_error(folder: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot write results to the temp folder {folder}: {exc.strerror or exc}; "
        "set TMPDIR to a writable folder"
    )


def outputs_lines(item: PhotoOutputs, *, cwd: Path) -> list[str]:
    """A recorded photo as ``derivo ls`` prints it: a line for the photo, one per derivative."""
    photo = item.photo
    head = [shown(photo.source, cwd), photo.status]
    if photo.width and photo.height:
        head.append(f"{photo.width}x{photo.height}")
    if not item.source_exists:
        head.append("(source gone)")
    if photo.status == "failed":
        head.append(f"{photo.error_kind}: {photo.error}")
    lines = ["  ".join(head)]
    name_width = max((len(d.spec) for d in item.derivatives), default=0)
    for d in item.derivatives:
        size = f"{d.width}x{d.height}"
        lines.append(
            f"  {d.spec:<{name_width}}  {size:>9}  {d.bytes:>11,} bytes  {shown(d.path, cwd)}"
        )
    return lines


def shown(path: str, cwd: Path) -> str:
    """Paths under the working folder are shown relative to it: shorter, still usable."""
    root = printable(cwd)
    return path[len(root) + 1 :] if _under(path, root) and path != root else path
