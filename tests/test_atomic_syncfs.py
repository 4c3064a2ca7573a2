"""syncfs is trusted only on kernels whose syncfs reports a failed write-back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from derivo import atomic
from derivo.atomic import make_durable, syncfs_reports_errors, write_atomically


@pytest.mark.parametrize(
    ("sysname", "release", "trusted"),
    [
        ("Linux", "5.8.0", True),
        ("Linux", "5.8", True),
        ("Linux", "5.10.0-28-amd64", True),
        ("Linux", "5.15.90.1-microsoft-standard-WSL2", True),
        ("Linux", "6.1.0-rc1", True),
        ("Linux", "6.18.0+", True),
        ("Linux", "10.0.0", True),
        ("Linux", "5.7.19", False),
        ("Linux", "5.4.0-150-generic", False),  # Ubuntu 20.04
        ("Linux", "4.18.0-513.el8.x86_64", False),  # RHEL 8
        ("Linux", "3.10.0-1160.el7.x86_64", False),
        ("Linux", "5", False),
        ("Linux", "", False),
        ("Linux", "unknown", False),
        ("Linux", "v6.1", False),
        ("FreeBSD", "14.0-RELEASE", False),
        ("Darwin", "23.1.0", False),
    ],
)
def test_syncfs_is_trusted_from_linux_5_8(sysname: str, release: str, trusted: bool) -> None:
    assert syncfs_reports_errors(sysname, release) is trusted


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Set ``kernel[0]`` to the Linux release ``os.uname()`` reports; syncfs is chosen afresh."""
    real = os.uname()
    release = [real.release]

    def uname() -> os.uname_result:
        return os.uname_result(("Linux", real.nodename, release[0], real.version, real.machine))

    monkeypatch.setattr(atomic.os, "uname", uname)
    atomic._syncfs.cache_clear()
    yield release
    atomic._syncfs.cache_clear()


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Inode numbers of what ``os.fsync`` is called on, in order."""
    synced: list[int] = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", recording_fsync)
    return synced


def written(tmp_path: Path) -> list[Path]:
    a, b = tmp_path / "ab", tmp_path / "cd"
    write_atomically(a, {"thumbnail.jpg": b"a", "preview.jpg": b"b"}, sync=False)
    write_atomically(b, {"thumbnail.jpg": b"c"}, sync=False)
    return [a / "thumbnail.jpg", a / "preview.jpg", b / "thumbnail.jpg"]


def test_before_5_8_every_file_and_folder_is_fsynced(
    tmp_path: Path, kernel: list[str], fsynced: list[int]
) -> None:
    files = written(tmp_path)
    kernel[0] = "5.4.0-150-generic"
    make_durable(iter(files))  # an iterator, as the recorder passes
    expected = [*files, tmp_path / "ab", tmp_path / "cd"]
    assert sorted(fsynced) == sorted(path.stat().st_ino for path in expected)


def test_from_5_8_one_syncfs_replaces_the_fsyncs(
    tmp_path: Path, kernel: list[str], fsynced: list[int]
) -> None:
    files = written(tmp_path)
    kernel[0] = "5.8.0"
    assert atomic._syncfs() is not None  # glibc has had syncfs since 2.14
    make_durable(files)
    assert fsynced == []
