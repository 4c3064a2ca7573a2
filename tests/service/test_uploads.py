"""Streaming an upload to disk: sniffed, counted, hashed, written once; nothing left on failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import blake3
import httpx
import pytest

from derivo.errors import DerivoError, InputError, LimitExceeded, UnsupportedFormat
from derivo.service.auth import load_or_create_token
from derivo.service.datadir import sweep_temp_files
from derivo.service.originals import Originals
from derivo.service.uploads import BATCH, Staged, Stager, receive

from .support import SAMPLES

JPEG = (SAMPLES / "jolla.jpg").read_bytes()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stage(
    tmp_path: Path,
    body: bytes,
    *,
    content_type: str = "application/octet-stream",
    chunk: int = 65536,
    max_bytes: int = 10 * BATCH,
) -> Staged:
    stager = Stager(Originals(tmp_path / "originals"), max_bytes)
    return asyncio.run(receive(pieces(body, chunk), content_type=content_type, stager=stager))


def multipart(
    files: dict[str, tuple[str, bytes]], data: dict[str, str] | None = None
) -> tuple[bytes, str]:
    """A multipart body and its Content-Type, encoded by httpx."""
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.read(), request.headers["content-type"]


def temp_files(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "originals").glob(".*.tmp"))


@pytest.mark.parametrize("chunk", [7, 65536, 3 * BATCH])
def test_raw_body_is_hashed_and_written_whole(tmp_path: Path, chunk: int) -> None:
    staged = stage(tmp_path, JPEG, chunk=chunk)
    assert staged.source_hash == blake3.blake3(JPEG).hexdigest()
    assert (staged.size, staged.format) == (len(JPEG), "jpeg")
    assert staged.temp.read_bytes() == JPEG
    assert staged.temp.parent == (tmp_path / "originals").resolve()
    assert staged.temp.name.startswith(".upload.") and staged.temp.name.endswith(".tmp")


@pytest.mark.parametrize("chunk", [5, 1000, 65536])
def test_multipart_file_part_is_extracted_across_chunk_boundaries(
    tmp_path: Path, chunk: int
) -> None:
    body, content_type = multipart({"file": ("jolla.jpg", JPEG)}, data={"note": "x" * 100})
    staged = stage(tmp_path, body, content_type=content_type, chunk=chunk)
    assert staged.temp.read_bytes() == JPEG
    assert staged.source_hash == blake3.blake3(JPEG).hexdigest()


def test_not_an_image_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat, match=r"^not an image \(unrecognised file contents\)$"):
        stage(tmp_path, b"%PDF-1.7\n" + b"x" * (2 * BATCH))
    assert temp_files(tmp_path) == []


def test_over_the_limit_stops_and_removes_the_temp_file(tmp_path: Path) -> None:
    big = JPEG * 4
    with pytest.raises(LimitExceeded, match="upload exceeds the 1 MB limit"):
        stage(tmp_path, big, max_bytes=BATCH)
    assert temp_files(tmp_path) == []
    assert stage(tmp_path, JPEG, max_bytes=len(JPEG)).size == len(JPEG)


def test_empty_and_malformed_bodies_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty upload"):
        stage(tmp_path, b"")
    body, content_type = multipart({"a": ("a.jpg", JPEG), "b": ("b.jpg", JPEG)})
    with pytest.raises(InputError, match="more than one file"):
        stage(tmp_path, body, content_type=content_type)
    with pytest.raises(InputError, match="ended early"):
        body, content_type = multipart({"file": ("a.jpg", JPEG)})
        stage(tmp_path, body[: len(body) // 2], content_type=content_type)
    with pytest.raises(InputError, match="without a boundary"):
        stage(tmp_path, JPEG, content_type="multipart/form-data")
    assert temp_files(tmp_path) == []


def test_a_failing_stream_leaves_no_temp_file(tmp_path: Path) -> None:
    written: list[Path] = []

    async def broken() -> AsyncIterator[bytes]:
        yield JPEG * 2  # over one batch: the temp file exists from here on
        written.extend(temp_files(tmp_path))
        raise ConnectionResetError("client went away")

    stager = Stager(Originals(tmp_path / "originals"), 100 * BATCH)
    with pytest.raises(ConnectionResetError):
        asyncio.run(receive(broken(), content_type="image/jpeg", stager=stager))
    assert len(written) == 1
    assert temp_files(tmp_path) == []


def test_originals_store_each_content_once(tmp_path: Path) -> None:
    originals = Originals(tmp_path / "originals")
    first = stage(tmp_path, JPEG)
    path = originals.commit(first.temp, first.source_hash)
    assert path == originals.path(first.source_hash)
    assert path.parent.name == first.source_hash[:2] and path.read_bytes() == JPEG
    second = stage(tmp_path, JPEG)
    assert originals.commit(second.temp, second.source_hash) == path
    assert not second.temp.exists()
    originals.remove(first.source_hash)
    assert not path.exists()


def test_sweep_removes_only_dot_temp_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    swept = [tmp_path / ".upload.x.tmp", tmp_path / "a" / "b" / ".thumbnail.jpg.y.tmp"]
    kept = [tmp_path / "a" / "photo.tmp", tmp_path / "a" / "b" / "thumbnail.jpg"]
    for path in swept + kept:
        path.write_bytes(b"x")
    assert sweep_temp_files(tmp_path, tmp_path / "missing") == 2
    assert [p.exists() for p in swept + kept] == [False, False, True, True]


def test_a_token_file_too_short_to_be_a_token_is_refused(tmp_path: Path) -> None:
    token, created = load_or_create_token(tmp_path / "token")
    assert created and len(token) >= 16
    assert (tmp_path / "token").stat().st_mode & 0o777 == 0o600
    assert load_or_create_token(tmp_path / "token") == (token, False)
    (tmp_path / "token").write_text("\n")
    with pytest.raises(DerivoError, match="shorter than 16 characters: remove the file"):
        load_or_create_token(tmp_path / "token")
