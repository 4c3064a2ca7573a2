"""The HTTP API against a real server, with real photos."""

from __future__ import annotations

import time
from pathlib import Path

import blake3
import httpx
import pytest

from .support import (
    BADINPUT,
    SAMPLES,
    Server,
    Spawn,
    accepted_photo,
    decode_size,
    make_jpeg,
    wait_final,
)

pytestmark = pytest.mark.timeout(90)


def upload(client: httpx.Client, path: Path, *, multipart: bool = True) -> httpx.Response:
    if multipart:
        with open(path, "rb") as f:
            return client.post("/photos", files={"file": (path.name, f)})
    return client.post("/photos", content=path.read_bytes())


def test_upload_render_and_serve_a_real_photo(server: Server) -> None:
    client = server.client()
    source = SAMPLES / "jolla.jpg"
    response = upload(client, source)
    assert response.status_code == 202, response.text
    photo = response.json()
    assert photo["duplicate"] is False
    assert photo["hash"] == blake3.blake3(source.read_bytes()).hexdigest()
    assert photo["status"] in ("processing", "pending", "done")
    assert response.headers["location"] == f"/photos/{photo['id']}"
    assert set(photo["derivatives"]) == {"thumbnail", "preview"}

    done = wait_final(client, [photo["id"]])[photo["id"]]
    assert done["status"] == "done"
    assert (done["width"], done["height"]) == (3264, 2448)
    thumb = done["derivatives"]["thumbnail"]
    assert thumb["ready"] is True
    assert (thumb["width"], thumb["height"]) == (200, 150)

    public = httpx.Client(base_url=server.url)  # reads need no token
    got = public.get(thumb["url"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert int(got.headers["content-length"]) == thumb["bytes"] == len(got.content)
    assert decode_size(got.content) == (200, 150)
    etag = got.headers["etag"]
    assert etag == f'"{photo["hash"]}-{thumb["url"].split("v=")[1]}"'
    assert not etag.startswith("W/")
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"

    again = public.get(thumb["url"], headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (
        public.get(thumb["url"], headers={"If-None-Match": '"other", W/' + etag}).status_code == 304
    )
    assert public.get(thumb["url"], headers={"If-None-Match": '"other"'}).status_code == 200

    bare = public.get(f"/photos/{photo['id']}/thumbnail")
    assert bare.status_code == 200
    assert bare.headers["etag"] == etag
    assert bare.headers["cache-control"] == "public, no-cache"
    assert bare.content == got.content

    preview = public.get(done["derivatives"]["preview"]["url"])
    assert decode_size(preview.content) == (1200, 900)
    public.close()


def test_raw_body_upload_and_duplicate(server: Server) -> None:
    client = server.client()
    source = SAMPLES / "canon_hdr_NO.jpg"
    first = upload(client, source, multipart=False)
    assert first.status_code == 202, first.text
    photo_id = first.json()["id"]
    again = upload(client, source, multipart=True)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == photo_id
    assert wait_final(client, [photo_id])[photo_id]["status"] == "done"
    third = upload(client, source, multipart=False)
    assert (third.status_code, third.json()["id"], third.json()["status"]) == (
        200,
        photo_id,
        "done",
    )


def test_heic_upload(server: Server) -> None:
    client = server.client()
    response = upload(client, SAMPLES / "IMG_5195.HEIC")
    assert response.status_code == 202
    photo = wait_final(client, [response.json()["id"]])[response.json()["id"]]
    assert photo["status"] == "done"
    thumb = client.get(photo["derivatives"]["thumbnail"]["url"])
    assert max(decode_size(thumb.content)) == 200


def test_photo_status_and_unknowns(server: Server) -> None:
    client = server.client()
    response = upload(client, SAMPLES / "Reconyx_HC500_Hyperfire.jpg")
    photo_id = response.json()["id"]
    wait_final(client, [photo_id])
    got = client.get(f"/photos/{photo_id}").json()
    assert got["status"] == "done"
    assert got["error"] is None
    assert got["derivatives"]["preview"]["bytes"] > 0

    for url, kind in [
        ("/photos/nosuchphoto", "unknown-photo"),
        ("/photos/nosuchphoto/thumbnail", "unknown-photo"),
        (f"/photos/{photo_id}/nosuchspec", "unknown-spec"),
        (f"/photos/{photo_id}/thumbnail?v=000000000000", "unknown-version"),
        ("/no/such/route", "not-found"),
    ]:
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert answer.json()["error"]["kind"] == kind, url


def test_derivative_not_ready_yet_answers_202(server: Server) -> None:
    """Behind a few big photos on one worker, the last one is certainly not rendered yet."""
    client = server.client()
    for seed in (101, 102):
        client.post("/photos", content=make_jpeg(4000, 3000, seed))
    response = client.post("/photos", content=make_jpeg(3000, 2000, 103))
    photo = response.json()
    answer = client.get(photo["derivatives"]["thumbnail"]["url"])
    assert answer.status_code == 202
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["status"] in ("pending", "processing")
    assert answer.json()["derivatives"]["thumbnail"]["ready"] is False
    wait_final(client, [photo["id"]])
    assert client.get(photo["derivatives"]["thumbnail"]["url"]).status_code == 200


def test_writes_need_the_token(server: Server) -> None:
    body = (SAMPLES / "jolla.jpg").read_bytes()
    for client in (server.client(token=""), server.client(token="wrong-token-0000000000")):
        for response in (
            client.post("/photos", content=body),
            client.post("/photos", files={"file": ("a.jpg", body)}),
            client.delete("/photos/anything"),
        ):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["kind"] == "unauthorized"
    basic = httpx.post(
        f"{server.url}/photos", content=body, headers={"Authorization": f"Basic {server.token}"}
    )
    assert basic.status_code == 401
    public = server.client(token="")
    for url in ("/", "/healthz", "/metrics", "/photos", "/docs", "/openapi.json"):
        assert public.get(url).status_code == 200, url


def test_not_images_are_refused_with_415(server: Server) -> None:
    client = server.client()
    for name, body in [
        ("README.md", (BADINPUT / "README.md").read_bytes()),
        ("fake.jpg", b"<html><body>not a photo</body></html>" * 10),
        ("tiny.jpg", b"\xff\xd8"),
    ]:
        for response in (
            client.post("/photos", content=body),
            client.post("/photos", files={"file": (name, body)}),
        ):
            assert response.status_code == 415, (name, response.text)
            error = response.json()["error"]
            assert error["kind"] == "unsupported"
            assert "not an image" in error["message"]
    empty = client.post("/photos", content=b"")
    assert empty.status_code == 400
    assert empty.json()["error"]["message"] == "empty upload: no bytes received"
    no_file = client.post("/photos", data={"title": "x"}, files={})
    assert no_file.status_code in (400, 415)
    assert not list(server.data_dir.glob("originals/.*.tmp"))


def test_multipart_edge_cases(server: Server) -> None:
    client = server.client()
    jpeg = (SAMPLES / "orientation" / "landscape_1.jpg").read_bytes()
    two = client.post("/photos", files=[("file", ("a.jpg", jpeg)), ("other", ("b.jpg", jpeg))])
    assert two.status_code == 400
    assert "more than one file" in two.json()["error"]["message"]
    fields_only = client.post(
        "/photos",
        content=b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xx--\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert fields_only.status_code == 400
    assert "no file field" in fields_only.json()["error"]["message"]
    no_boundary = client.post(
        "/photos", content=b"abc", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 400
    named = client.post("/photos", files={"photo": ("named.jpg", jpeg)})
    assert named.status_code in (200, 202)


def test_bad_inputs_never_answer_500(server: Server) -> None:
    """Every bad-input file: 415, or accepted and then done or failed with a reason."""
    client = server.client()
    files = sorted(p for p in BADINPUT.rglob("*") if p.is_file() and p.parent != BADINPUT)
    assert len(files) >= 20
    accepted = {}
    for path in files:
        response = upload(client, path)
        assert response.status_code in (200, 202, 415), (path.name, response.text)
        if response.status_code == 415:
            assert response.json()["error"]["message"]
        else:
            accepted[response.json()["id"]] = path
    photos = wait_final(client, accepted, timeout=60)
    failed = 0
    for photo_id, photo in photos.items():
        thumb = client.get(f"/photos/{photo_id}/thumbnail")
        if photo["status"] == "failed":
            failed += 1
            reason = photo["error"]
            assert isinstance(reason, str) and reason and "\n" not in reason, photo
            assert thumb.status_code == 422
            assert thumb.json()["error"]["message"] == reason
        else:
            assert thumb.status_code == 200
            assert max(decode_size(thumb.content)) <= 200
    truncated = [i for i, p in accepted.items() if p.parent.name == "truncated"]
    assert truncated and all(photos[i]["status"] == "failed" for i in truncated)
    assert failed >= 3
    again = upload(client, accepted[truncated[0]])  # the photo is at fault: not tried again
    assert (again.status_code, again.json()["status"]) == (200, "failed")


def test_size_limit_answers_413(spawn: Spawn) -> None:
    server = spawn("--workers", "1", "--max-upload-mb", "1")
    client = server.client()
    big = make_jpeg(1600, 1200, 7)
    assert len(big) > 1024 * 1024
    for response in (
        client.post("/photos", content=big),
        client.post("/photos", files={"file": ("big.jpg", big)}),
    ):
        assert response.status_code == 413
        assert response.json()["error"]["kind"] == "limit"
        assert response.json()["error"]["message"] == "upload exceeds the 1 MB limit"

    def chunks() -> object:  # no Content-Length: the limit is found while streaming
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    try:
        streamed = client.post("/photos", content=chunks())  # type: ignore[arg-type]
    except httpx.TransportError:
        pass  # the server may close before the client has sent everything
    else:
        assert streamed.status_code == 413
    small = (SAMPLES / "orientation" / "landscape_2.jpg").read_bytes()
    assert client.post("/photos", content=small).status_code == 202
    time.sleep(0.2)
    originals = server.data_dir / "originals"
    assert [p.name for p in originals.rglob("*") if p.is_file()] == [
        blake3.blake3(small).hexdigest()
    ]


def test_list_filter_and_cursor_pagination(server: Server) -> None:
    client = server.client()
    ids = {
        accepted_photo(client.post("/photos", content=make_jpeg(320, 240, seed)))["id"]
        for seed in range(200, 207)
    }
    wait_final(client, ids)
    pages, after = [], None
    while True:
        params = {"limit": "2", **({"after": after} if after else {})}
        page = client.get("/photos", params=params).json()
        assert len(page["photos"]) <= 2
        pages.append([p["id"] for p in page["photos"]])
        after = page["next"]
        if after is None:
            break
    listed = [i for page in pages for i in page]
    assert listed == sorted(listed)
    assert len(listed) == len(set(listed))
    assert ids <= set(listed)
    assert len(pages) >= 4

    done = client.get("/photos", params={"status": "done", "limit": "1000"}).json()["photos"]
    assert {p["status"] for p in done} == {"done"}
    assert ids <= {p["id"] for p in done}
    bad = client.get("/photos", params={"status": "finished"})
    assert bad.status_code == 422
    assert bad.json()["error"]["kind"] == "invalid-request"
    assert client.get("/photos", params={"limit": "0"}).status_code == 422


def test_delete_removes_original_and_derivatives(server: Server) -> None:
    client = server.client()
    body = make_jpeg(800, 600, 300)
    photo = client.post("/photos", content=body).json()
    wait_final(client, [photo["id"]])
    source_hash = photo["hash"]
    derivatives = list((server.data_dir / "derivatives").rglob(f"{source_hash}/*"))
    original = server.data_dir / "originals" / source_hash[:2] / source_hash
    assert len(derivatives) == 2 and original.is_file()

    assert client.delete(f"/photos/{photo['id']}").status_code == 204
    assert client.get(f"/photos/{photo['id']}").status_code == 404
    assert client.get(f"/photos/{photo['id']}/thumbnail").status_code == 404
    assert not any(p.exists() for p in derivatives)
    assert not original.exists()
    again = client.delete(f"/photos/{photo['id']}")
    assert again.status_code == 404
    assert again.json()["error"]["kind"] == "unknown-photo"

    reborn = client.post("/photos", content=body)
    assert reborn.status_code == 202
    assert reborn.json()["id"] != photo["id"]
    assert wait_final(client, [reborn.json()["id"]])[reborn.json()["id"]]["status"] == "done"


def test_missing_derivative_file_is_rendered_again(server: Server) -> None:
    client = server.client()
    photo = client.post("/photos", content=make_jpeg(640, 480, 400)).json()
    wait_final(client, [photo["id"]])
    for path in (server.data_dir / "derivatives").rglob(f"{photo['hash']}/thumbnail-*"):
        path.unlink()
    assert client.get(photo["derivatives"]["thumbnail"]["url"]).status_code == 202
    deadline = time.monotonic() + 30
    while client.get(photo["derivatives"]["thumbnail"]["url"]).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_keep_alive_answers_are_not_delayed(server: Server) -> None:
    """Nagle's algorithm off: a two-write answer must not wait for a delayed ACK (~40 ms)."""
    client = server.client(token="")
    photo = client.get("/photos", params={"status": "done", "limit": "1"}).json()["photos"][0]
    for url in ("/healthz", photo["derivatives"]["thumbnail"]["url"]):
        timings = []
        for _ in range(21):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            timings.append(time.perf_counter() - started)
        assert sorted(timings)[10] < 0.02, (url, sorted(timings))


def test_healthz_metrics_and_openapi(server: Server) -> None:
    client = server.client(token="")
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["workers"] == 1
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for name in (
        "derivo_queue_depth",
        "derivo_in_flight",
        'derivo_photos_total{outcome="rendered"}',
        'derivo_photos_total{outcome="cached"}',
        'derivo_photos_total{outcome="failed"}',
        "derivo_render_seconds_bucket",
        "derivo_worker_restarts_total",
        'derivo_photos_by_status{status="done"}',
    ):
        assert name in text, name
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/photos", "/photos/{photo_id}", "/photos/{photo_id}/{spec}", "/healthz"} <= set(paths)
    assert "multipart/form-data" in paths["/photos"]["post"]["requestBody"]["content"]
