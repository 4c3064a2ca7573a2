"""Keep an output folder honest: forget what is gone, delete what nothing uses.

Three kinds of dead weight build up: photos whose source was deleted (still
"done" in the cache), derivatives of specs no longer configured (each spec
change leaves a file per photo), and files in content folders that no record
points to (a folder of a forgotten source, a file a crash left). :func:`plan_clean`
lists them without touching anything; :func:`apply_clean` removes them.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from derivo.cache import DerivativeCache, PhotoRecord
from derivo.outputs import shown
from derivo.specs import SpecSet

_HEX2 = re.compile(r"[0-9a-f]{2}")
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileRemoval:
    path: Path
    bytes: int
    reason: str


@dataclass
class CleanPlan:
    """What a clean removes; nothing is touched until :func:`apply_clean`."""

    photos: list[PhotoRecord] = field(default_factory=list)
    derivatives: list[tuple[str, str]] = field(default_factory=list)
    files: list[FileRemoval] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    unreachable: dict[Path, int] = field(default_factory=dict)
    """Folders that are missing (an unmounted drive or share?) -> photos kept under each."""

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def plan_clean(
    cache: DerivativeCache, out_dir: Path, specs: SpecSet, *, forget_missing: bool = False
) -> CleanPlan:
    """List what is dead in ``out_dir`` when ``specs`` are the ones in use.

    Files are matched to records by content folder and file name, not by full
    path, so an output folder that was moved is not mistaken for garbage. A photo
    whose folder is missing too may be on a drive or share that is not mounted:
    it is kept (listed in ``unreachable``) unless ``forget_missing``.
    """
    plan = CleanPlan()
    in_use: set[str] = set()
    after: str | None = None
    missing: dict[Path, Path | None] = {}
    while batch := cache.photos(after=after, limit=1000):
        for photo in batch:
            source = Path(photo.source)
            if not _present(source):
                if source.parent not in missing:
                    missing[source.parent] = _outermost_missing(source.parent)
                folder = missing[source.parent]
                if folder is None or forget_missing:
                    plan.photos.append(photo)
                    continue
                plan.unreachable[folder] = plan.unreachable.get(folder, 0) + 1
            if photo.hash:
                in_use.add(photo.hash)
        after = batch[-1].id
    configured = {spec.fingerprint for spec in specs}
    kept: set[tuple[str, str]] = set()
    reasons: dict[tuple[str, str], str] = {}
    for source_hash, fingerprint, derivative in cache.recorded():
        where = (Path(derivative.path).parent.name, Path(derivative.path).name)
        if source_hash not in in_use:
            reasons[where] = "no photo uses it"
        elif fingerprint not in configured:
            reasons[where] = f"spec {derivative.spec} is no longer configured"
        else:
            kept.add(where)
            continue
        plan.derivatives.append((source_hash, fingerprint))
    for folder in _content_folders(out_dir.resolve()):
        leftover = 0
        for file in sorted(folder.iterdir()):
            where = (folder.name, file.name)
            if where in kept or (file.is_dir() and not file.is_symlink()):
                leftover += 1  # kept, or a folder someone put here: not ours to delete
                continue
            size = file.lstat().st_size
            plan.files.append(FileRemoval(file, size, reasons.get(where, "not recorded")))
        if not leftover:
            plan.folders.append(folder)
    return plan


def _present(source: Path) -> bool:
    """Whether ``source`` is there; one that cannot be looked at is not gone."""
    try:
        source.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        pass
    return True


def _outermost_missing(folder: Path) -> Path | None:
    """The outermost missing folder holding ``folder``, or None if ``folder`` is there."""
    if folder.is_dir():
        return None
    while folder.parent != folder and not folder.parent.is_dir():
        folder = folder.parent
    return folder


def _content_folders(out_dir: Path) -> list[Path]:
    """``<out>/<hh>/<hash>`` folders; nothing else in the output folder is looked at."""
    if not out_dir.is_dir():
        return []
    return [
        folder
        for prefix in sorted(out_dir.iterdir())
        if prefix.is_dir() and not prefix.is_symlink() and _HEX2.fullmatch(prefix.name)
        for folder in sorted(prefix.iterdir())
        if folder.is_dir()
        and not folder.is_symlink()
        and _HASH.fullmatch(folder.name)
        and folder.name.startswith(prefix.name)
    ]


def apply_clean(cache: DerivativeCache, plan: CleanPlan) -> None:
    """Forget first, then delete: a crash in between leaves only files the next clean finds."""
    for photo in plan.photos:
        cache.delete_photo(photo.id)
    cache.forget_derivatives(plan.derivatives)
    for removal in plan.files:
        removal.path.unlink(missing_ok=True)
    for folder in plan.folders:
        # a folder still holding something that is not ours stays, and a prefix
        # folder stays while other content folders share it
        with contextlib.suppress(OSError):
            folder.rmdir()
            folder.parent.rmdir()


def clean_lines(plan: CleanPlan, *, cwd: Path, dry_run: bool) -> list[str]:
    """What ``derivo clean`` prints: one line per photo and file, then the total."""
    forget, remove = ("would forget", "would remove") if dry_run else ("forgot", "removed")
    lines = [
        f"kept {n} photo{'' if n == 1 else 's'} under {shown(str(folder), cwd)}: folder missing "
        "(not mounted?); --forget-missing forgets them"
        for folder, n in sorted(plan.unreachable.items())
    ]
    lines += [f"{forget} {shown(p.source, cwd)} (source gone)" for p in plan.photos]
    lines += [
        f"{remove} {shown(str(f.path), cwd)}  {f.bytes:,} bytes ({f.reason})" for f in plan.files
    ]
    photos = f"{len(plan.photos)} photo{'' if len(plan.photos) == 1 else 's'}"
    files = f"{len(plan.files)} file{'' if len(plan.files) == 1 else 's'}"
    if dry_run:
        lines.append(f"Dry run: would forget {photos}, remove {files}, free {plan.bytes:,} bytes")
    else:
        lines.append(f"Forgot {photos}, removed {files}, freed {plan.bytes:,} bytes")
    return lines
