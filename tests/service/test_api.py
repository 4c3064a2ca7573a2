"""The HTTP API in-process (``create_app`` through TestClient), with real photos and workers."""

from __future__ import annotations

import csv
from pathlib import Path

import blake3
import httpx
from fastapi.testclient import TestClient

from .conftest import App, MakeApp
from .support import BADINPUT, SAMPLES, TOKEN, decode_size, make_jpeg, wait_final

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def upload(client: TestClient, path: Path, *, multipart: bool = True) -> httpx.Response:
    if multipart:
        with open(path, "rb") as f:
            return client.post("/photos", files={"file": (path.name, f)}, headers=AUTH)
    return client.post("/photos", content=path.read_bytes(), headers=AUTH)


def post(client: TestClient, body: bytes) -> httpx.Response:
    return client.post("/photos", content=body, headers=AUTH)


def test_upload_render_and_serve_a_real_photo(make_app: MakeApp) -> None:
    app = make_app()
    client = app.client
    source = SAMPLES / "jolla.jpg"
    source_hash = blake3.blake3(source.read_bytes()).hexdigest()
    app.gate.hold(source_hash)  # the answer comes while the render is held
    response = upload(client, source)
    assert response.status_code == 202, response.text
    photo = response.json()
    assert photo["duplicate"] is False
    assert photo["hash"] == source_hash
    assert photo["status"] == "processing"
    assert response.headers["location"] == f"/photos/{photo['id']}"
    assert set(photo["derivatives"]) == {"thumbnail", "preview"}
    app.gate.release(source_hash)

    done = wait_final(client, [photo["id"]])[photo["id"]]
    assert done["status"] == "done"
    assert (done["width"], done["height"]) == (3264, 2448)
    thumb = done["derivatives"]["thumbnail"]
    assert thumb["ready"] is True
    assert (thumb["width"], thumb["height"]) == (200, 150)

    got = client.get(thumb["url"])  # reads need no token
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert int(got.headers["content-length"]) == thumb["bytes"] == len(got.content)
    assert decode_size(got.content) == (200, 150)
    etag = got.headers["etag"]
    assert etag == f'"{photo["hash"]}-{thumb["url"].split("v=")[1]}"'
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"

    again = client.get(thumb["url"], headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (
        client.get(thumb["url"], headers={"If-None-Match": '"other", W/' + etag}).status_code == 304
    )
    assert client.get(thumb["url"], headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(thumb["url"], headers={"If-None-Match": '"other"'}).status_code == 200

    bare = client.get(f"/photos/{photo['id']}/thumbnail")
    assert bare.status_code == 200
    assert bare.headers["etag"] == etag
    assert bare.headers["cache-control"] == "public, no-cache"
    assert bare.content == got.content

    preview = client.get(done["derivatives"]["preview"]["url"])
    assert decode_size(preview.content) == (1200, 900)


def test_raw_body_upload_and_duplicate(app: App) -> None:
    client = app.client
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


def test_heic_upload(app: App) -> None:
    client = app.client
    response = upload(client, SAMPLES / "IMG_5195.HEIC")
    assert response.status_code == 202
    photo = wait_final(client, [response.json()["id"]])[response.json()["id"]]
    assert photo["status"] == "done"
    thumb = client.get(photo["derivatives"]["thumbnail"]["url"])
    assert max(decode_size(thumb.content)) == 200


def test_photo_status_and_unknowns(app: App) -> None:
    client = app.client
    photo_id = upload(client, SAMPLES / "Reconyx_HC500_Hyperfire.jpg").json()["id"]
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


def test_derivative_not_ready_yet_answers_202(app: App) -> None:
    client = app.client
    body = make_jpeg(640, 480, 103)
    source_hash = blake3.blake3(body).hexdigest()
    app.gate.hold(source_hash)
    photo = post(client, body).json()
    answer = client.get(photo["derivatives"]["thumbnail"]["url"])
    assert answer.status_code == 202
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["status"] == "processing"
    assert answer.json()["derivatives"]["thumbnail"]["ready"] is False
    app.gate.release(source_hash)
    wait_final(client, [photo["id"]])
    assert client.get(photo["derivatives"]["thumbnail"]["url"]).status_code == 200


def test_deleting_a_photo_being_rendered_answers_409(app: App) -> None:
    client = app.client
    body = make_jpeg(320, 240, 104)
    source_hash = blake3.blake3(body).hexdigest()
    app.gate.hold(source_hash)
    photo = post(client, body).json()
    busy = client.delete(f"/photos/{photo['id']}", headers=AUTH)
    assert busy.status_code == 409
    assert busy.json()["error"] == {
        "kind": "busy",
        "message": "the photo is being rendered; delete it once it is done",
    }
    app.gate.release(source_hash)
    wait_final(client, [photo["id"]])
    assert client.delete(f"/photos/{photo['id']}", headers=AUTH).status_code == 204


def test_writes_need_the_token(app: App) -> None:
    client = app.client
    body = (SAMPLES / "jolla.jpg").read_bytes()
    for headers, message in [
        ({}, "missing bearer token (Authorization: Bearer <token>)"),
        ({"Authorization": "Bearer wrong-token-0000000000"}, "wrong bearer token"),
    ]:
        for response in (
            client.post("/photos", content=body, headers=headers),
            client.post("/photos", files={"file": ("a.jpg", body)}, headers=headers),
            client.delete("/photos/anything", headers=headers),
        ):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"] == {"kind": "unauthorized", "message": message}
    basic = client.post("/photos", content=body, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    for url in ("/", "/healthz", "/metrics", "/photos", "/docs", "/openapi.json"):
        assert client.get(url).status_code == 200, url


def test_not_images_are_refused_with_415(app: App) -> None:
    client = app.client
    for name, body in [
        ("README.md", (BADINPUT / "README.md").read_bytes()),
        ("fake.jpg", b"<html><body>not a photo</body></html>" * 10),
        ("tiny.jpg", b"\xff\xd8"),
    ]:
        for response in (
            client.post("/photos", content=body, headers=AUTH),
            client.post("/photos", files={"file": (name, body)}, headers=AUTH),
        ):
            assert response.status_code == 415, (name, response.text)
            error = response.json()["error"]
            assert error["kind"] == "unsupported"
            assert error["message"] == "not an image (unrecognised file contents)"
    empty = client.post("/photos", content=b"", headers=AUTH)
    assert empty.status_code == 400
    assert empty.json()["error"]["message"] == "empty upload: no bytes received"
    no_file = client.post("/photos", data={"title": "x"}, files={}, headers=AUTH)
    assert no_file.status_code == 415
    assert not list(app.data_dir.glob("originals/.*.tmp"))


def test_multipart_edge_cases(app: App) -> None:
    client = app.client
    jpeg = (SAMPLES / "orientation" / "landscape_1.jpg").read_bytes()
    two = client.post(
        "/photos", files=[("file", ("a.jpg", jpeg)), ("other", ("b.jpg", jpeg))], headers=AUTH
    )
    assert two.status_code == 400
    assert "more than one file" in two.json()["error"]["message"]
    fields_only = client.post(
        "/photos",
        content=b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xx--\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=xx", **AUTH},
    )
    assert fields_only.status_code == 400
    assert "no file field" in fields_only.json()["error"]["message"]
    no_boundary = client.post(
        "/photos", content=b"abc", headers={"Content-Type": "multipart/form-data", **AUTH}
    )
    assert no_boundary.status_code == 400
    named = client.post("/photos", files={"photo": ("named.jpg", jpeg)}, headers=AUTH)
    assert named.status_code == 202


def test_bad_inputs_never_answer_500(app: App) -> None:
    """Every bad-input file: 415 if not an image, else accepted, then done or failed."""
    client = app.client
    with open(BADINPUT / "MANIFEST.tsv") as f:
        manifest = {row["path"]: row for row in csv.DictReader(f, delimiter="\t")}
    accepted = {}
    for name, row in sorted(manifest.items()):
        response = upload(client, BADINPUT / name)
        assert response.status_code == 202, (name, response.text)
        accepted[response.json()["id"]] = row
    photos = wait_final(client, accepted, timeout=180)
    for photo_id, photo in photos.items():
        row = accepted[photo_id]
        thumb = client.get(f"/photos/{photo_id}/thumbnail")
        if row["expected"] == "render":
            assert photo["status"] == "done", (row["path"], photo["error"])
        if photo["status"] == "failed":
            reason = photo["error"]
            assert isinstance(reason, str) and reason and "\n" not in reason, photo
            assert thumb.status_code == 422
            assert thumb.json()["error"]["message"] == reason
        else:
            assert thumb.status_code == 200
            made = photo["derivatives"]["thumbnail"]  # type: ignore[index]
            assert decode_size(thumb.content) == (made["width"], made["height"])
            assert max(made["width"], made["height"]) <= 200
    truncated = [i for i, row in accepted.items() if row["category"] == "truncated"]
    assert len(truncated) == 3 and all(photos[i]["status"] == "failed" for i in truncated)
    again = upload(client, BADINPUT / accepted[truncated[0]]["path"])  # not tried again
    assert (again.status_code, again.json()["status"]) == (200, "failed")


def test_size_limit_answers_413(make_app: MakeApp) -> None:
    app = make_app(max_upload_bytes=1024 * 1024)
    client = app.client
    big = make_jpeg(1600, 1200, 7)
    assert len(big) > 1024 * 1024
    for response in (
        client.post("/photos", content=big, headers=AUTH),
        client.post("/photos", files={"file": ("big.jpg", big)}, headers=AUTH),
    ):
        assert response.status_code == 413
        assert response.json()["error"] == {
            "kind": "limit",
            "message": "upload exceeds the 1 MB limit",
        }

    def chunks() -> object:  # no Content-Length: the limit is found while streaming
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    streamed = client.post("/photos", content=chunks(), headers=AUTH)  # type: ignore[arg-type]
    assert streamed.status_code == 413
    small = (SAMPLES / "orientation" / "landscape_2.jpg").read_bytes()
    assert post(client, small).status_code == 202
    originals = app.data_dir / "originals"
    assert [p.name for p in originals.rglob("*") if p.is_file()] == [
        blake3.blake3(small).hexdigest()
    ]


def test_list_filter_and_cursor_pagination(make_app: MakeApp) -> None:
    client = make_app().client
    ids = {post(client, make_jpeg(320, 240, seed)).json()["id"] for seed in range(200, 207)}
    wait_final(client, ids)
    pages, after = [], None
    while True:
        params = {"limit": "2", **({"after": after} if after else {})}
        page = client.get("/photos", params=params).json()
        pages.append([p["id"] for p in page["photos"]])
        after = page["next"]
        if after is None:
            break
    listed = [i for page in pages for i in page]
    assert listed == sorted(ids)
    assert [len(page) for page in pages] == [2, 2, 2, 1]

    done = client.get("/photos", params={"status": "done", "limit": "1000"}).json()
    assert sorted(p["id"] for p in done["photos"]) == sorted(ids) and done["next"] is None
    assert client.get("/photos", params={"status": "failed"}).json()["photos"] == []
    bad = client.get("/photos", params={"status": "finished"})
    assert bad.status_code == 422
    assert bad.json()["error"]["kind"] == "invalid-request"
    assert client.get("/photos", params={"limit": "0"}).status_code == 422
    assert client.get("/photos", params={"limit": "1001"}).status_code == 422


def test_delete_removes_original_and_derivatives(app: App) -> None:
    client = app.client
    body = make_jpeg(800, 600, 300)
    photo = post(client, body).json()
    wait_final(client, [photo["id"]])
    source_hash = photo["hash"]
    derivatives = list((app.data_dir / "derivatives").rglob(f"{source_hash}/*"))
    original = app.data_dir / "originals" / source_hash[:2] / source_hash
    assert len(derivatives) == 2 and original.is_file()

    assert client.delete(f"/photos/{photo['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/photos/{photo['id']}").status_code == 404
    assert client.get(f"/photos/{photo['id']}/thumbnail").status_code == 404
    assert not any(p.exists() for p in derivatives)
    assert not original.exists()
    again = client.delete(f"/photos/{photo['id']}", headers=AUTH)
    assert again.status_code == 404
    assert again.json()["error"]["kind"] == "unknown-photo"

    reborn = post(client, body)
    assert reborn.status_code == 202
    assert reborn.json()["id"] != photo["id"]
    assert wait_final(client, [reborn.json()["id"]])[reborn.json()["id"]]["status"] == "done"


def test_missing_derivative_file_is_rendered_again(app: App) -> None:
    client = app.client
    photo = post(client, make_jpeg(640, 480, 400)).json()
    wait_final(client, [photo["id"]])
    for path in (app.data_dir / "derivatives").rglob(f"{photo['hash']}/thumbnail-*"):
        path.unlink()
    assert client.get(photo["derivatives"]["thumbnail"]["url"]).status_code == 202
    assert wait_final(client, [photo["id"]])[photo["id"]]["status"] == "done"
    assert client.get(photo["derivatives"]["thumbnail"]["url"]).status_code == 200


def test_healthz_metrics_and_openapi(app: App) -> None:
    client = app.client
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
