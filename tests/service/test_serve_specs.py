"""The service renders and serves the configured specs; a change of specs or limits
renders only what it concerns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from derivo.cache import DerivativeCache
from derivo.service import Settings, create_app
from derivo.service.respec import queue_stale
from derivo.specs import PREVIEW, THUMBNAIL, SpecSet, parse_inline
from tests.background import BackgroundInline

from .conftest import MakeApp
from .support import SAMPLES, TOKEN, decode_size, wait_final

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SMALL = parse_inline("small=x100")
LARGE = parse_inline("large=800x800,quality=70")


def upload(client: TestClient, path: Path) -> str:
    with open(path, "rb") as f:
        response = client.post("/photos", files={"file": (path.name, f)}, headers=AUTH)
    assert response.status_code == 202, response.text
    photo_id: str = response.json()["id"]
    return photo_id


@contextlib.contextmanager
def started(data_dir: Path, specs: SpecSet, **more: Any) -> Iterator[TestClient]:
    """A server's app over ``data_dir`` for as long as the block runs."""
    settings = Settings(data_dir=data_dir, token=TOKEN, specs=specs, **more)
    with BackgroundInline() as executor:
        app = create_app(settings, executor=executor)
        with TestClient(app, base_url="http://derivo.test") as client:
            yield client


def test_the_configured_specs_are_rendered_and_served(make_app: MakeApp) -> None:
    client = make_app(specs=SpecSet((SMALL, LARGE))).client
    photo_id = upload(client, SAMPLES / "jolla.jpg")
    photo = wait_final(client, [photo_id])[photo_id]
    assert photo["status"] == "done"
    derivatives = photo["derivatives"]
    assert isinstance(derivatives, dict) and list(derivatives) == ["small", "large"]
    assert (derivatives["small"]["width"], derivatives["small"]["height"]) == (133, 100)
    small = client.get(derivatives["small"]["url"])
    assert small.status_code == 200 and decode_size(small.content) == (133, 100)
    large = client.get(f"/photos/{photo_id}/large")
    assert large.status_code == 200 and decode_size(large.content) == (800, 600)

    missing = client.get(f"/photos/{photo_id}/thumbnail")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no derivative spec 'thumbnail'"


def test_a_spec_change_renders_only_what_each_photo_lacks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with started(data, SpecSet((THUMBNAIL, PREVIEW))) as client:
        ids = [upload(client, SAMPLES / name) for name in ("jolla.jpg", "canon_hdr_NO.jpg")]
        assert {p["status"] for p in wait_final(client, ids).values()} == {"done"}
    derivatives = data / "derivatives"

    def files() -> dict[Path, tuple[int, int]]:
        return {
            p: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in derivatives.rglob("*.jpg")
            if p.is_file()
        }

    before = files()
    assert len(before) == 4

    with started(data, SpecSet((THUMBNAIL, SMALL))) as client:
        photos = wait_final(client, ids)  # queued at start: pending until rendered
        for photo in photos.values():
            assert photo["status"] == "done"
            assert isinstance(photo["derivatives"], dict)
            assert list(photo["derivatives"]) == ["thumbnail", "small"]
            assert all(d["ready"] for d in photo["derivatives"].values())
            assert client.get(f"/photos/{photo['id']}/small").status_code == 200
            assert client.get(f"/photos/{photo['id']}/preview").status_code == 404

    after = files()
    # the thumbnails and previews are the same files, untouched; one small file per photo
    assert {p: after[p] for p in before} == before
    assert sorted(p.name for p in set(after) - set(before)) == [SMALL.filename] * 2

    with DerivativeCache(data / "derivo.db", root=derivatives) as cache:

        def no_failure_key(source_hash: str) -> str:
            raise AssertionError("no photo failed")

        assert queue_stale(cache, SpecSet((THUMBNAIL, SMALL)), no_failure_key) == 0
        assert queue_stale(cache, SpecSet((THUMBNAIL, PREVIEW)), no_failure_key) == 0
        assert queue_stale(cache, SpecSet((LARGE,)), no_failure_key) == 2


def test_a_photo_refused_by_a_limit_is_tried_again_once_the_limit_changes(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with started(data, SpecSet(), max_pixels=1_000_000) as client:
        photo_id = upload(client, SAMPLES / "jolla.jpg")  # 3264x2448: 8 MP
        failed = wait_final(client, [photo_id])[photo_id]
        assert failed["status"] == "failed"
        assert "--max-pixels" in str(failed["error"])
    with started(data, SpecSet(), max_pixels=1_000_000) as client:  # same limit: stays failed
        assert client.get(f"/photos/{photo_id}").json()["status"] == "failed"
    with started(data, SpecSet()) as client:
        done = wait_final(client, [photo_id])[photo_id]
        assert done["status"] == "done"
        assert client.get(f"/photos/{photo_id}/thumbnail").status_code == 200


def test_a_spec_in_the_asked_format_is_served_as_it_is(make_app: MakeApp) -> None:
    square = parse_inline("square=256x256,fit=cover,format=webp")
    app = make_app(specs=SpecSet((square,)), formats="webp")
    photo_id = upload(app.client, SAMPLES / "jolla.jpg")
    assert wait_final(app.client, [photo_id])[photo_id]["status"] == "done"
    made = sorted(p.name for p in (app.data_dir / "derivatives").rglob("*.webp"))
    got = app.client.get(f"/photos/{photo_id}/square", headers={"Accept": "image/webp"})
    assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
    assert decode_size(got.content) == (256, 256)
    # no second WebP made for the client: the spec's own file is the answer
    assert sorted(p.name for p in (app.data_dir / "derivatives").rglob("*.webp")) == made
    assert made == [square.filename]
