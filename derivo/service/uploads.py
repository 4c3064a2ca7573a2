"""Receive an upload: stream it to a temp file while hashing, never whole in memory.

Bytes arrive in pieces (Starlette's ``request.stream()``); a raw body is used as is,
a ``multipart/form-data`` body goes through python-multipart's streaming parser,
whose callbacks hand over the file part's bytes as they are parsed. Either way the
file bytes meet the same :class:`Stager`, which

- recognises the format from the first bytes (not an image: refused before
  anything is written),
- counts bytes and stops past the limit,
- hashes (BLAKE3) and writes in batches of about 1 MB, off the event loop, without
  copying the pieces on the loop; multipart parsing runs in the same steps.

Starlette's own form parsing was not used: it spools files to a temp file first, so
every upload would be written twice and hashed in a second pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from derivo.atomic import full_device
from derivo.errors import InputError, LimitExceeded, UnsupportedFormat, UploadStalled
from derivo.formats import SNIFF_BYTES, sniff
from derivo.hashing import new_hasher
from derivo.limits import MB
from derivo.service.originals import Originals

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

#: Bytes gathered before one hash-and-write step in a thread.
BATCH = 1 * MB


@dataclass(frozen=True)
class Staged:
    """A complete upload in a temp file (not yet synced), with what was learnt receiving it."""

    temp: Path
    source_hash: str
    size: int
    format: str
    name: str | None = None


#: Longest file name kept (most file systems' limit).
MAX_NAME = 255


def file_name(raw: str | None) -> str | None:
    """The name to show for an uploaded file: its last path part, printable, at most 255 chars.

    >>> file_name("holiday/IMG_0001.JPG")
    'IMG_0001.JPG'
    """
    if raw is None:
        return None
    text = raw.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if c.isprintable()).strip()
    return text[:MAX_NAME] or None


def too_large(max_bytes: int) -> LimitExceeded:
    return LimitExceeded(f"upload exceeds the {max_bytes / MB:g} MB limit")


class Stager:
    """Sniffs, counts, hashes and writes one upload's bytes as they arrive.

    On the event loop a piece is only kept; every ``BATCH`` bytes one step in a
    thread unwraps them (multipart parsing), sniffs, counts, hashes and writes, so
    a large upload never holds the loop for more than a list append.
    """

    def __init__(self, originals: Originals, max_bytes: int) -> None:
        self.originals = originals
        self.max_bytes = max_bytes
        self.size = 0
        self.format: str | None = None
        #: turns body bytes into file bytes (raw by default; multipart set by :func:`receive`)
        self.body: _Body = _RawBody()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._head = b""
        self._unsniffed: list[bytes] = []
        self._hasher = new_hasher()
        self._file: BinaryIO | None = None
        self._temp: Path | None = None

    async def feed(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= BATCH:
            await asyncio.to_thread(self._process, self._take())

    async def finish(self) -> Staged:
        """Take in what is left and close the temp file; it is then complete, not yet
        synced (the accepting group commit makes many uploads durable with one sync)."""
        await asyncio.to_thread(self._complete, self._take())
        assert self._temp is not None and self.format is not None
        return Staged(
            temp=self._temp,
            source_hash=self._hasher.hexdigest(),
            size=self.size,
            format=self.format,
        )

    def discard(self) -> None:
        """Drop the temp file of an upload that will not be stored."""
        if self._file is not None and not self._file.closed:
            with contextlib.suppress(OSError):  # unwritten bytes of a full device: dropped anyway
                self._file.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)

    def _take(self) -> list[bytes]:
        """The pieces gathered so far, handed over without copying them."""
        pieces, self._pending, self._pending_size = self._pending, [], 0
        return pieces

    # In a thread, one step at a time

    def _process(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            for data in self.body.feed(piece):
                self._consume(data)

    def _complete(self, pieces: list[bytes]) -> None:
        self._process(pieces)
        for data in self.body.end():
            self._consume(data)
        if self.size == 0:
            raise InputError("empty upload: no bytes received")
        if self.format is None:
            self._sniff()
        assert self._file is not None
        with full_device(self.originals.root):
            self._file.close()

    def _consume(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        if self.format is None:
            self._unsniffed.append(data)
            self._head += data[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniff()
            return
        self._write(data)

    def _sniff(self) -> None:
        """Recognise the format before a byte is written; then write what waited for it."""
        self.format = sniff(self._head[:SNIFF_BYTES])
        if self.format is None:
            raise UnsupportedFormat("not an image (unrecognised file contents)")
        held, self._unsniffed = self._unsniffed, []
        for data in held:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self._file is None:
            self._file, self._temp = self.originals.temp_file()
        with full_device(self.originals.root):
            self._hasher.update(data)
            self._file.write(data)


async def receive(
    chunks: AsyncIterator[bytes],
    *,
    content_type: str,
    stager: Stager,
    name: str | None = None,
    idle_timeout: float | None = None,
) -> Staged:
    """Stage one upload from its body ``chunks``: multipart, or else the raw bytes.

    The photo's name is the multipart part's file name, else ``name``. With
    ``idle_timeout``, a body that sends nothing for that many seconds raises
    :class:`~derivo.errors.UploadStalled`: a slow or stalled client cannot hold a
    request (and its temp file) open for ever.
    """
    if idle_timeout is not None:
        chunks = _with_idle_timeout(chunks, idle_timeout)
    try:
        media_type, _ = parse_options_header(content_type)
        multipart = None
        if media_type == b"multipart/form-data":
            multipart = stager.body = _MultipartBody(content_type)
        async for chunk in chunks:
            await stager.feed(chunk)
        staged = await stager.finish()
        if multipart is not None and multipart.part.filename is not None:
            name = multipart.part.filename
        return dataclasses.replace(staged, name=file_name(name))
    except BaseException:
        stager.discard()
        raise


async def _with_idle_timeout(chunks: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    pieces = aiter(chunks)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(pieces), seconds)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadStalled(f"the upload sent nothing for {seconds:g} s; dropped") from None
        yield chunk


class _Body(Protocol):
    """How a request body holds the file: ``feed`` body bytes, get file bytes back."""

    def feed(self, data: bytes) -> Iterable[bytes]: ...

    def end(self) -> Iterable[bytes]: ...


class _RawBody:
    """The body is the file."""

    def feed(self, data: bytes) -> Iterable[bytes]:
        return (data,)

    def end(self) -> Iterable[bytes]:
        return ()


class _MultipartBody:
    """A ``multipart/form-data`` body, parsed by python-multipart: its one file part."""

    def __init__(self, content_type: str) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise InputError("multipart upload without a boundary in its Content-Type")
        self.part = _FilePart()
        try:
            # the constructor checks the boundary (e.g. at most 256 bytes)
            self._parser = MultipartParser(boundary, self.part.callbacks())
        except ValueError as exc:
            raise InputError(f"malformed multipart body: {exc}") from None

    def feed(self, data: bytes) -> Iterable[bytes]:
        try:
            self._parser.write(data)
        except MultipartParseError as exc:
            raise InputError(f"malformed multipart body: {exc}") from None
        return self.part.take()

    def end(self) -> Iterable[bytes]:
        try:
            self._parser.finalize()
        except MultipartParseError as exc:
            raise InputError(f"malformed multipart body: {exc}") from None
        rest = self.part.take()
        if not self.part.files:
            raise InputError("multipart upload has no file field (send the photo as a file)")
        if not self.part.ended:
            raise InputError("multipart body ended early")
        return rest


class _FilePart:
    """Parser callbacks that keep the bytes of the one file part, and nothing else."""

    def __init__(self) -> None:
        self.files = 0
        self.ended = False
        self.filename: str | None = None
        self._pieces: list[bytes] = []
        self._in_file = False
        self._field = bytearray()
        self._value = bytearray()
        self._disposition = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def take(self) -> list[bytes]:
        pieces, self._pieces = self._pieces, []
        return pieces

    def _part_begin(self) -> None:
        self._disposition = b""
        self._field.clear()
        self._value.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._field).lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        if b"filename" in params or params.get(b"name") == b"file":
            self.files += 1
            if self.files > 1:
                raise InputError("one photo per upload: this request holds more than one file")
            self._in_file = True
            raw = params.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pieces.append(data[start:end])

    def _part_end(self) -> None:
        self._in_file = False

    def _end(self) -> None:
        self.ended = True
