"""Derivatives honour HTTP Range whatever their size (small ones are sent from memory)."""

from __future__ import annotations

from derivo.service.routes.derivatives import INLINE_BYTES

from .conftest import App
from .support import TOKEN, make_jpeg, wait_final

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _thumbnail(app: App, seed: int) -> tuple[str, int]:
    response = app.client.post("/photos", content=make_jpeg(2400, 1800, seed), headers=AUTH)
    assert response.status_code == 202, response.text
    photo_id = response.json()["id"]
    done = wait_final(app.client, [photo_id])[photo_id]
    assert done["status"] == "done", done
    thumb = done["derivatives"]["thumbnail"]
    assert thumb["bytes"] <= INLINE_BYTES  # the size that is sent from memory
    return thumb["url"], thumb["bytes"]


def test_a_range_of_a_small_derivative_is_a_206(app: App) -> None:
    url, size = _thumbnail(app, 8801)
    whole = app.client.get(url)
    got = app.client.get(url, headers={"Range": "bytes=0-9"})
    assert got.status_code == 206
    assert got.headers["content-range"] == f"bytes 0-9/{size}"
    assert got.content == whole.content[:10]


def test_a_small_derivative_without_range_says_it_accepts_ranges(app: App) -> None:
    url, size = _thumbnail(app, 8802)
    got = app.client.get(url)
    assert got.status_code == 200
    assert got.headers["accept-ranges"] == "bytes"
    assert len(got.content) == size
