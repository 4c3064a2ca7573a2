"""``--layout mirror``: each derivative again under its source's own name, for browsing.

``OUT/<path relative to the scanned root>/<name>.<spec>.<ext>`` is a hard link to
the content-addressed file, so the cache stays deduplicated and costs no space
twice; where a link is impossible (another file system, no link support) it is a
copy. A re-run points every name at the current derivative, replacing it atomically.

The source's whole file name is kept, extension included (``IMG_1.jpg`` gives
``IMG_1.jpg.thumbnail.jpg``): ``IMG_1.jpg`` and ``IMG_1.heic`` side by side then
never share a name, whichever is processed first or alone. Spec names hold no dot,
so a mirror name splits back into one source name, spec and extension.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from derivo.atomic import create_temp, full_device
from derivo.errors import OutputError
from derivo.formats import OUTPUTS
from derivo.tasks import Derivative

_EXTENSIONS = "|".join(sorted({re.escape(f.extension) for f in OUTPUTS}))
_MIRROR_NAME = re.compile(rf"(.+)\.([a-z0-9][a-z0-9_-]{{0,31}})\.(?:{_EXTENSIONS})")


def relative_name(source: Path, roots: Sequence[Path]) -> Path:
    """``source`` relative to the first scanned folder holding it; a named file is its name."""
    for root in roots:
        if root.is_dir() and source.is_relative_to(root):
            return source.relative_to(root)
    return Path(source.name)


def mirror_path(out_dir: Path, relative: Path, derivative: Derivative) -> Path:
    suffix = Path(derivative.path).suffix
    return out_dir / relative.parent / f"{relative.name}.{derivative.spec}{suffix}"


def mirrored_source(name: str) -> tuple[str, str] | None:
    """``(source name, spec)`` of a mirror name, or None when ``name`` is not one.

    >>> mirrored_source("IMG_1.heic.thumbnail.jpg")
    ('IMG_1.heic', 'thumbnail')
    """
    m = _MIRROR_NAME.fullmatch(name)
    return (m[1], m[2]) if m else None


def mirror(out_dir: Path, relative: Path, derivatives: Iterable[Derivative]) -> list[Path]:
    """Point the mirror names of one source at its derivatives; returns the names.

    A name that cannot be written raises :class:`~derivo.errors.StorageFull` on a full
    device, else :class:`~derivo.errors.OutputError`, naming it.
    """
    placed = []
    for derivative in derivatives:
        target = mirror_path(out_dir, relative, derivative)
        try:
            with full_device(target.parent):
                _place(target, Path(derivative.path))
        except OSError as exc:
            where = f" at {exc.filename}" if exc.filename else ""
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}{where}") from None
        placed.append(target)
    return placed


def _place(target: Path, original: Path) -> None:
    if target.is_file() and not target.is_symlink():
        if os.path.samefile(target, original):
            return
        if target.stat().st_size == original.stat().st_size and filecmp.cmp(
            target, original, shallow=False
        ):
            return  # a copy made where linking failed, still current
    target.parent.mkdir(parents=True, exist_ok=True)
    temp, tmp = create_temp(target.parent, target.name)
    try:
        temp.close()
        tmp.unlink()  # the name stays ours (made with O_EXCL, next to the target); a link takes it
        try:
            os.link(original, tmp)
        except OSError:
            shutil.copyfile(original, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
