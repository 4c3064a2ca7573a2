"""Who a photo is, through the API: name, upload and capture time, placeholder, original.

Also the listing orders with their keyset cursors, HEAD, and the offline API docs.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import pyvips
import thumbhash
from fastapi.testclient import TestClient
from PIL import Image

from .conftest import App
from .support import SAMPLES, TOKEN, accepted_photo, wait_final

pytestmark = pytest.mark.timeout(120)


def jpeg_taken_at(when: str | None, *, seed: int, offset: str | None = None) -> bytes:
    """A small distinct JPEG whose EXIF says it was taken ``when`` (``YYYY:MM:DD HH:MM:SS``)."""
    image = Image.new("RGB", (64, 48), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when
        if offset is not None:
            exif.get_ifd(0x8769)[0x9011] = offset
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=90, comment=f"seed {seed}".encode())
    return buffer.getvalue()


def upload_bytes(client: httpx.Client, name: str, data: bytes) -> dict[str, object]:
    return accepted_photo(client.post("/photos", files={"file": (name, data)}))


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    """The module's app, with the token on every request, as a signed-in client sends it."""
    app.client.headers["Authorization"] = f"Bearer {TOKEN}"
    yield app.client
    del app.client.headers["Authorization"]


def walk(client: httpx.Client, order: str, limit: int, between=None) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    seen, after, page_number = [], None, 0
    while True:
        params = {"order": order, "limit": str(limit), **({"after": after} if after else {})}
        page = client.get("/photos", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["order"] == order
        seen.extend(body["photos"])
        after = body["next"]
        if after is None:
            return seen
        if between is not None:
            between(page_number, seen)
        page_number += 1


def test_name_capture_time_and_upload_time_are_returned(client: TestClient) -> None:
    heic = accepted_photo(
        client.post(
            "/photos", files={"file": ("IMG_5195.HEIC", (SAMPLES / "IMG_5195.HEIC").read_bytes())}
        )
    )
    raw = accepted_photo(
        client.post(
            "/photos",
            params={"name": "../holiday/jolla.jpg"},
            content=(SAMPLES / "jolla.jpg").read_bytes(),
        )
    )
    undated = upload_bytes(client, "no-date.jpg", jpeg_taken_at(None, seed=1))
    assert heic["name"] == "IMG_5195.HEIC"
    assert raw["name"] == "jolla.jpg"  # the last part of a path only
    # EXIF DateTimeOriginal with OffsetTimeOriginal (and SubSecTimeOriginal)
    assert heic["captured_at"] == "2021-04-11T15:47:53.054000-05:00"
    assert heic["captured_from"] == "exif"
    # no offset recorded by the camera: the wall-clock time, no zone
    assert raw["captured_at"] == "2014-09-21T16:00:56"
    # no date at all: the upload time
    assert undated["captured_from"] == "upload"
    assert datetime.fromisoformat(str(undated["captured_at"])) == datetime.fromisoformat(
        str(undated["uploaded_at"])
    )
    uploaded = datetime.fromisoformat(str(heic["uploaded_at"]))
    assert uploaded.utcoffset() is not None and uploaded.utcoffset().total_seconds() == 0  # type: ignore[union-attr]

    again = client.get(str(heic["url"])).json()  # kept, not just echoed
    assert (again["name"], again["captured_at"]) == (heic["name"], heic["captured_at"])


def test_a_rendered_photo_has_a_thumbhash_of_its_thumbnail(client: TestClient) -> None:
    photo = upload_bytes(client, "jolla.jpg", (SAMPLES / "jolla.jpg").read_bytes())
    assert photo["thumbhash"] is None or photo["status"] == "done"
    done = wait_final(client, [str(photo["id"])])[str(photo["id"])]
    assert done["status"] == "done"
    placeholder = base64.b64decode(str(done["thumbhash"]), validate=True)
    assert 5 <= len(placeholder) <= 25
    thumb = done["derivatives"]["thumbnail"]  # type: ignore[index]
    image = pyvips.Image.new_from_buffer(client.get(thumb["url"]).content, "")
    ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(placeholder)
    assert ratio == pytest.approx(image.width / image.height, rel=0.25)
    r, g, b, _ = thumbhash.thumb_hash_to_average_rgba(placeholder)
    means = [image[band].avg() / 255 for band in range(3)]
    assert [r, g, b] == pytest.approx(means, abs=0.06)
    listed = client.get("/photos", params={"order": "captured", "limit": "1000"}).json()
    assert {p["id"]: p["thumbhash"] for p in listed["photos"]}[done["id"]] == done["thumbhash"]


def test_newest_first_by_capture_or_upload_time(client: TestClient) -> None:
    dates = ["2001:01:01 10:00:00", "2003:03:03 10:00:00", "2002:02:02 10:00:00"]
    ids = [
        upload_bytes(client, f"{n}.jpg", jpeg_taken_at(d, seed=100 + n))["id"]
        for n, d in enumerate(dates)
    ]
    by_capture = [p["id"] for p in walk(client, "captured", 2) if p["id"] in ids]
    assert by_capture == [ids[1], ids[2], ids[0]]
    by_upload = [p["id"] for p in walk(client, "uploaded", 2) if p["id"] in ids]
    assert by_upload == [ids[2], ids[1], ids[0]]


def test_paging_is_stable_while_photos_come_and_go(client: TestClient) -> None:
    base = [
        upload_bytes(
            client, f"b{n}.jpg", jpeg_taken_at(f"2010:01:{n + 1:02d} 12:00:00", seed=200 + n)
        )
        for n in range(12)
    ]
    staying = {str(p["id"]) for p in base}
    wait_final(client, staying)  # a photo still rendering refuses deletion (409)
    removed: set[str] = set()
    extra = iter(range(300, 400))

    def meanwhile(page_number: int, seen: list[dict[str, object]]) -> None:
        # an upload older and one newer than the cursor, a seen photo and an unseen one deleted
        for when in ("2009:06:01 00:00:00", "2011:06:01 00:00:00"):
            upload_bytes(client, "late.jpg", jpeg_taken_at(when, seed=next(extra)))
        seen_ids = {str(p["id"]) for p in seen}
        for victim in sorted(staying & seen_ids)[:1] + sorted(staying - seen_ids)[:1]:
            assert client.delete(f"/photos/{victim}").status_code == 204
            staying.discard(victim)
            removed.add(victim)

    seen = walk(client, "captured", 3, between=meanwhile)
    ids = [str(p["id"]) for p in seen]
    assert len(ids) == len(set(ids)), "a photo was listed twice"
    assert staying <= set(ids), "a photo that stayed was skipped"
    assert removed, "the walk deleted nothing: the test did not exercise deletes"
    keys = [datetime.fromisoformat(str(p["captured_at"])).timestamp() for p in seen]
    assert keys == sorted(keys, reverse=True)


def test_a_cursor_of_another_order_or_garbage_is_refused(client: TestClient) -> None:
    for n in range(3):
        upload_bytes(client, "c.jpg", jpeg_taken_at("2005:05:05 05:05:05", seed=500 + n))
    cursor = client.get("/photos", params={"order": "captured", "limit": "1"}).json()["next"]
    assert cursor
    wrong = client.get("/photos", params={"order": "uploaded", "after": cursor})
    assert wrong.status_code == 400
    assert "order=captured" in wrong.json()["error"]["message"]
    garbage = client.get("/photos", params={"order": "captured", "after": "%%%"})
    assert garbage.status_code == 400
    assert client.get("/photos", params={"order": "sideways"}).status_code == 422


def test_original_bytes_need_the_token(client: TestClient) -> None:
    source: Path = SAMPLES / "IMG_5195.HEIC"
    photo = upload_bytes(client, source.name, source.read_bytes())
    url = f"/photos/{photo['id']}/original"
    public = client.build_request("GET", url)
    del public.headers["Authorization"]
    assert client.send(public).status_code == 401
    got = client.get(url)
    assert got.status_code == 200
    assert got.content == source.read_bytes()
    assert got.headers["content-type"] == "image/heic"
    assert 'filename="IMG_5195.HEIC"' in got.headers["content-disposition"]
    assert got.headers["etag"] == f'"{photo["hash"]}"'
    assert client.get(url, headers={"If-None-Match": got.headers["etag"]}).status_code == 304
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert client.get("/photos/nosuchphoto/original").status_code == 404


def test_head_works_wherever_get_does(client: TestClient) -> None:
    photo = upload_bytes(client, "h.jpg", jpeg_taken_at(None, seed=600))
    done = wait_final(client, [str(photo["id"])])[str(photo["id"])]
    thumb = done["derivatives"]["thumbnail"]["url"]  # type: ignore[index]
    for url in (
        "/healthz",
        "/",
        "/photos",
        f"/photos/{photo['id']}",
        thumb,
        "/docs",
        "/openapi.json",
        "/metrics",
        "/static/gallery.js",
    ):
        get, head = client.get(url), client.head(url)
        assert head.status_code == get.status_code == 200, url
        assert head.content == b"", url
        assert head.headers["content-type"] == get.headers["content-type"], url
        if url == thumb:
            assert head.headers["etag"] == get.headers["etag"]
            assert head.headers["content-length"] == str(len(get.content))


def test_api_docs_load_without_a_network(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "cdn" not in html.lower() and "https://" not in html
    assets = [part.split('"')[1] for part in html.split("src=")[1:]] + [
        part.split('"')[1] for part in html.split("href=")[1:]
    ]
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200 and len(got.content) > 1000, asset
