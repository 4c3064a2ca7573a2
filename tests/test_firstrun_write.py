"""The derivative write path on descriptors: every byte written, folders made as needed,
nothing half-written or left behind when a write fails."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from derivo import atomic
from derivo.atomic import TEMP_PATTERN, write_atomically
from derivo.errors import StorageFull
from tests.smallfs import fill

HASH = "ab" * 32


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_write_that_takes_part_of_the_data_is_carried_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = os.write
    calls: list[int] = []

    def three_bytes_at_a_time(fd: int, data: bytes) -> int:
        calls.append(fd)
        return write(fd, bytes(data[:3]))

    monkeypatch.setattr(os, "write", three_bytes_at_a_time)
    data = bytes(range(256)) * 4
    write_atomically(tmp_path, {"preview.jpg": data, "thumbnail.jpg": b"\xff\xd8tiny"})
    assert (tmp_path / "preview.jpg").read_bytes() == data
    assert (tmp_path / "thumbnail.jpg").read_bytes() == b"\xff\xd8tiny"
    assert len(calls) == len(data) // 3 + 1 + 2  # each call took 3 bytes, none was lost
    assert files_under(tmp_path) == ["preview.jpg", "thumbnail.jpg"]


@pytest.mark.parametrize("existing", ["", "ab", f"ab/{HASH}"])
def test_the_content_folder_is_made_from_any_missing_level(tmp_path: Path, existing: str) -> None:
    out = tmp_path / "out"
    (out / existing).mkdir(parents=True)
    folder = out / "ab" / HASH
    write_atomically(folder, {"thumbnail.jpg": b"a"}, sync=False)
    assert (folder / "thumbnail.jpg").read_bytes() == b"a"


def test_a_file_where_the_folder_should_be_is_an_error_and_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "ab").write_bytes(b"not a folder")
    with pytest.raises(FileExistsError):
        write_atomically(tmp_path / "ab", {"thumbnail.jpg": b"a"})
    with pytest.raises(NotADirectoryError):
        write_atomically(tmp_path / "ab" / HASH, {"thumbnail.jpg": b"a"})
    assert (tmp_path / "ab").read_bytes() == b"not a folder"


def test_a_write_failing_midway_leaves_no_temp_file_and_the_earlier_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = os.write

    def failing_on_the_second(fd: int, data: bytes) -> int:
        if bytes(data).startswith(b"second"):
            raise OSError(errno.EIO, "input/output error")
        return write(fd, data)

    monkeypatch.setattr(os, "write", failing_on_the_second)
    with pytest.raises(OSError, match="input/output error"):
        write_atomically(tmp_path, {"first.jpg": b"first", "second.jpg": b"second"})
    assert files_under(tmp_path) == ["first.jpg"]
    assert (tmp_path / "first.jpg").read_bytes() == b"first"
    assert not list(tmp_path.glob(TEMP_PATTERN))


def test_the_temp_file_is_closed_whether_the_write_succeeds_or_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []
    closed: list[int] = []
    open_temp, close = atomic.open_temp, os.close

    def tracked_open(folder: str, name: str, mode: int) -> tuple[int, str]:
        fd, path = open_temp(folder, name, mode)
        opened.append(fd)
        return fd, path

    def tracked_close(fd: int) -> None:
        closed.append(fd)
        close(fd)

    monkeypatch.setattr(atomic, "open_temp", tracked_open)
    monkeypatch.setattr(os, "close", tracked_close)
    write_atomically(tmp_path, {"a.jpg": b"a"}, sync=False)
    with pytest.raises(TypeError):
        write_atomically(tmp_path, {"b.jpg": "not bytes"}, sync=False)  # type: ignore[dict-item]
    assert len(opened) == 2 and closed == opened
    assert files_under(tmp_path) == ["a.jpg"]


def test_a_full_device_is_one_clear_error_and_leaves_no_temp_file(small: Path) -> None:
    fill(small)
    folder = small / "ab" / HASH
    with pytest.raises(StorageFull, match="no space left on the device of .*small"):
        write_atomically(folder, {"preview.jpg": b"\xff" * 65536}, sync=False)
    assert files_under(small) == ["filler"]
