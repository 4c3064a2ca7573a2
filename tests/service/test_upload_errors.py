"""Uploads that fail for reasons outside the photo: a stalled client, an unusable folder."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from derivo.errors import InputError, UploadStalled

from .asgi import AUTH, served
from .support import SAMPLES

JPEG = (SAMPLES / "jolla.jpg").read_bytes()


def test_a_stalled_upload_is_408_and_not_a_verdict_on_the_photo(tmp_path: Path) -> None:
    assert not issubclass(UploadStalled, InputError)  # the client's connection, not the photo

    async def main() -> httpx.Response:
        never = asyncio.Event()

        async def stalls() -> AsyncIterator[bytes]:
            yield JPEG[:1000]
            await never.wait()  # the client goes silent, mid-body
            yield JPEG[1000:]

        async with served(tmp_path / "data", upload_idle_timeout=0.5) as (client, _):
            response = await client.post("/photos", content=stalls(), headers=AUTH)
            never.set()
            again = await client.post("/photos", content=JPEG, headers=AUTH)
            assert again.status_code == 202, again.text  # the same bytes, sent whole: accepted
            return response

    response = asyncio.run(main())
    assert response.status_code == 408
    assert response.headers["connection"] == "close"
    assert response.json()["error"] == {
        "kind": "upload-stalled",
        "message": "the upload sent nothing for 0.5 s; dropped",
    }


def test_an_originals_folder_that_cannot_be_written_is_a_one_line_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"

    async def main() -> httpx.Response:
        async with served(data) as (client, _):
            shutil.rmtree(data / "originals")  # e.g. its volume went away under the server
            return await client.post("/photos", content=JPEG, headers=AUTH)

    with caplog.at_level(logging.ERROR, logger="derivo.service"):
        response = asyncio.run(main())
    assert response.status_code == 500
    originals = (data / "originals").resolve()
    assert response.json()["error"] == {
        "kind": "output",
        "message": f"cannot create an upload's temp file in {originals}: No such file or directory",
    }
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.exc_info for r in errors] == [None], "logged as one line, without a traceback"
