"""Keep an output folder honest: forget what is gone, delete what nothing uses.

Three kinds of dead weight build up: photos whose source was deleted (still
"done" in the cache), derivatives of specs no longer configured (each spec
change leaves a file per photo), and files in content folders that no record
points to (a folder of a forgotten source, a file a crash left). Mirror names
(``--layout mirror``) go with what they link to: a hard link to a removed file, or
a mirror name no recorded photo has any more; a file that is neither a link to nor a
copy of a file in the content folders is never one. :func:`plan_clean` lists them
without touching anything; :func:`apply_clean` removes them.

A hard link frees nothing until the last name of its file goes, so the bytes
freed count each file once, and only when every one of its names is removed.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import re
import stat
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from derivo.cache import DerivativeCache, PhotoRecord
from derivo.mirror import mirrored_source
from derivo.outputs import shown
from derivo.specs import SpecSet

_HEX2 = re.compile(r"[0-9a-f]{2}")
_HASH = re.compile(r"[0-9a-f]{64}")
#: A source file name -> the folders (as parts) of recorded sources with that name.
_SourceFolders = dict[str, list[tuple[str, ...]]]


@dataclass(frozen=True)
class FileRemoval:
    path: Path
    bytes: int
    reason: str
    inode: tuple[int, int] = (0, 0)
    """Device and inode: names of one file share it."""
    links: int = 1
    """Names the file has (``st_nlink``); its bytes are freed once all of them go."""
    mirror: bool = False


@dataclass
class CleanPlan:
    """What a clean removes; nothing is touched until :func:`apply_clean`."""

    photos: list[PhotoRecord] = field(default_factory=list)
    derivatives: list[tuple[str, str]] = field(default_factory=list)
    files: list[FileRemoval] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    unreachable: dict[Path, int] = field(default_factory=dict)
    """Folders that are missing (an unmounted drive or share?) -> photos kept under each."""
    out_dir: Path = Path()

    @property
    def bytes(self) -> int:
        """Bytes freed: each file once, if every name it has is removed."""
        removed = Counter(f.inode for f in self.files)
        sizes = {f.inode: f.bytes for f in self.files if removed[f.inode] >= f.links}
        return sum(sizes.values())


def plan_clean(
    cache: DerivativeCache, out_dir: Path, specs: SpecSet, *, forget_missing: bool = False
) -> CleanPlan:
    """List what is dead in ``out_dir`` when ``specs`` are the ones in use.

    Files are matched to records by content folder and file name, not by full
    path, so an output folder that was moved is not mistaken for garbage. A photo
    whose folder is missing too may be on a drive or share that is not mounted:
    it is kept (listed in ``unreachable``) unless ``forget_missing``.
    """
    plan = CleanPlan(out_dir=out_dir.resolve())
    in_use: set[str] = set()
    # file name -> folders of recorded sources of that name, for telling which mirror
    # names still have a photo
    names: defaultdict[str, list[tuple[str, ...]]] = defaultdict(list)
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
            names[source.name].append(source.parent.parts)
            if photo.hash:
                in_use.add(photo.hash)
        after = batch[-1].id
    configured = {spec.fingerprint for spec in specs}
    kept: set[tuple[str, str]] = set()
    reasons: dict[tuple[str, str], str] = {}
    made_specs = {spec.name for spec in specs}
    for source_hash, fingerprint, derivative in cache.recorded():
        made_specs.add(derivative.spec)
        where = (Path(derivative.path).parent.name, Path(derivative.path).name)
        if source_hash not in in_use:
            reasons[where] = "no photo uses it"
        elif fingerprint not in configured:
            reasons[where] = f"spec {derivative.spec} is no longer configured"
        else:
            kept.add(where)
            continue
        plan.derivatives.append((source_hash, fingerprint))
    made = _Made()
    for folder in _content_folders(out_dir.resolve()):
        leftover = 0
        for file in sorted(folder.iterdir()):
            where = (folder.name, file.name)
            if file.is_dir() and not file.is_symlink():
                leftover += 1  # a folder someone put here: not ours to delete
                continue
            st = file.lstat()
            made.add(file, st)
            if where in kept:
                leftover += 1
                continue
            reason = reasons.get(where, "not recorded")
            plan.files.append(
                FileRemoval(file, st.st_size, reason, (st.st_dev, st.st_ino), st.st_nlink)
            )
        if not leftover:
            plan.folders.append(folder)
    _plan_mirror_names(plan, out_dir.resolve(), names, {s.name for s in specs}, made_specs, made)
    return plan


class _Made:
    """The files in the content folders, to tell a mirror name (a link to one of them,
    or a copy of one where linking failed) from a file of your own of the same form."""

    def __init__(self) -> None:
        self.inodes: set[tuple[int, int]] = set()
        self.by_size: defaultdict[int, list[Path]] = defaultdict(list)

    def add(self, path: Path, st: os.stat_result) -> None:
        if stat.S_ISREG(st.st_mode):
            self.inodes.add((st.st_dev, st.st_ino))
            self.by_size[st.st_size].append(path)

    def made(self, path: Path, st: os.stat_result) -> bool:
        """Whether ``path`` is one of these files, by another name or as a copy."""
        if (st.st_dev, st.st_ino) in self.inodes:
            return True
        return any(filecmp.cmp(path, file, shallow=False) for file in self.by_size[st.st_size])


def _plan_mirror_names(
    plan: CleanPlan,
    out_dir: Path,
    names: _SourceFolders,
    specs: set[str],
    made_specs: set[str],
    made: _Made,
) -> None:
    """Add the mirror names that go: links to removed files, and names of no photo.

    A file counts as a mirror name only if it names a spec this cache has made and
    is a link to, or a copy of, a file in the content folders: ``IMG_1.edited.jpg``
    or ``beach.thumbnail.jpg`` of your own is never taken.
    """
    removed = {f.inode for f in plan.files}
    content = set(_content_folders(out_dir))
    for folder, dirs, files in os.walk(out_dir):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if here / d not in content)
        relative = here.relative_to(out_dir).parts
        for name in sorted(files):
            parsed = mirrored_source(name)
            if parsed is None:
                continue
            path = here / name
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue
            inode = (st.st_dev, st.st_ino)
            if inode in removed:
                reason = "link to a removed derivative"
            elif parsed[1] not in made_specs or not made.made(path, st):
                continue  # not a mirror name: a file of your own
            elif not _has_photo(parsed[0], relative, names):
                reason = "its photo is no longer recorded"  # e.g. renamed: its file stays
            elif st.st_nlink == 1 and parsed[1] not in specs:
                reason = f"spec {parsed[1]} is no longer configured"
            else:
                continue  # the name of a photo that stays
            plan.files.append(FileRemoval(path, st.st_size, reason, inode, st.st_nlink, True))


def _has_photo(name: str, relative: tuple[str, ...], names: _SourceFolders) -> bool:
    """Whether a recorded source is called ``name`` in a folder ending in ``relative``."""
    depth = len(relative)
    return any(
        len(folder) >= depth and folder[len(folder) - depth :] == relative
        for folder in names.get(name, ())
    )


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
    for removal in plan.files:
        if removal.mirror:  # the mirror's folders that are left empty go too
            with contextlib.suppress(OSError):
                folder = removal.path.parent
                while folder != plan.out_dir:
                    folder.rmdir()
                    folder = folder.parent
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
        f"{remove} {shown(str(f.path), cwd)}  {f.bytes:,} bytes ({f.reason})"
        if f.links == 1 or not f.mirror
        else f"{remove} {shown(str(f.path), cwd)}  ({f.reason})"
        for f in plan.files
    ]
    photos = f"{len(plan.photos)} photo{'' if len(plan.photos) == 1 else 's'}"
    files = f"{len(plan.files)} file{'' if len(plan.files) == 1 else 's'}"
    if dry_run:
        lines.append(f"Dry run: would forget {photos}, remove {files}, free {plan.bytes:,} bytes")
    else:
        lines.append(f"Forgot {photos}, removed {files}, freed {plan.bytes:,} bytes")
    return lines
