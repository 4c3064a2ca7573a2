"""Derivatives in the format each client prefers: variants made on first request, then cached."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from derivo.service.settings import Settings
from derivo.service.variants import preferred_format

from .conftest import MakeApp
from .support import SAMPLES, TOKEN, accepted_photo, decode_size, wait_final

pytestmark = pytest.mark.timeout(120)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "offered", "expected"),
    [
        (CHROME, ("avif", "webp"), "avif"),
        (CHROME, ("webp", "avif"), "webp"),
        (CHROME, ("webp",), "webp"),
        ("image/webp,*/*", ("avif",), None),
        ("image/*,*/*;q=0.8", ("avif", "webp"), None),
        ("image/avif;q=0.4,image/webp;q=0.9", ("avif", "webp"), "webp"),
        ("image/jpeg,image/webp;q=0.5", ("webp",), None),
        ("image/webp;q=0", ("webp",), None),
        (None, ("webp",), None),
        (CHROME, (), None),
    ],
)
def test_the_client_chooses_among_the_offered_formats(
    accept: str | None, offered: tuple[str, ...], expected: str | None
) -> None:
    assert preferred_format(accept, offered) == expected


def test_only_known_output_formats_can_be_offered() -> None:
    with pytest.raises(ValueError, match="formats: gif cannot be offered"):
        Settings(formats="gif,webp")
    assert Settings.from_env({"DERIVO_FORMATS": "none"}).offered == ()
    assert Settings.from_env({"DERIVO_FORMATS": " WebP "}).offered == ("webp",)
    assert Settings.from_env({"DERIVO_FORMATS": "avif,webp"}).offered == ("avif", "webp")


def test_webp_for_clients_that_ask_jpeg_for_the_rest(make_app: MakeApp) -> None:
    app = make_app(formats="webp")
    client = app.client
    photo = accepted_photo(
        client.post(
            "/photos",
            files={"file": ("jolla.jpg", (SAMPLES / "jolla.jpg").read_bytes())},
            headers=AUTH,
        )
    )
    done = wait_final(client, [str(photo["id"])])[str(photo["id"])]
    url = done["derivatives"]["preview"]["url"]  # type: ignore[index]

    plain = client.get(url)
    assert plain.headers["content-type"] == "image/jpeg"
    assert plain.headers["vary"] == "Accept"
    with ThreadPoolExecutor(4) as threads:  # first requests at once: one render, one answer
        answers = list(threads.map(lambda _: client.get(url, headers={"Accept": CHROME}), range(4)))
    first = answers[0]
    assert {a.status_code for a in answers} == {200}
    assert {a.content for a in answers} == {first.content}
    assert first.headers["content-type"] == "image/webp"
    assert first.content[:4] == b"RIFF" and first.content[8:12] == b"WEBP"
    assert first.headers["vary"] == "Accept"
    assert first.headers["etag"] != plain.headers["etag"]
    assert decode_size(first.content) == decode_size(plain.content) == (1200, 900)
    assert len(first.content) < len(plain.content)
    assert (
        client.get(
            url, headers={"Accept": CHROME, "If-None-Match": first.headers["etag"]}
        ).status_code
        == 304
    )

    db = sqlite3.connect(app.data_dir / "derivo.db")
    webp = "SELECT format, created_at, path FROM derivatives WHERE format = 'webp'"
    rows = db.execute(webp).fetchall()
    variant = app.data_dir / "derivatives" / rows[0][2]  # stored relative to that root
    assert len(rows) == 1 and variant.is_file()
    again = client.get(url, headers={"Accept": CHROME})
    assert again.content == first.content
    assert db.execute("SELECT created_at FROM derivatives WHERE format = 'webp'").fetchall() == [
        (rows[0][1],)
    ]  # served from the cache, not made again
    db.close()

    assert client.delete(f"/photos/{photo['id']}", headers=AUTH).status_code == 204
    assert not variant.exists()  # variants go with the photo


def test_jpeg_only_when_no_format_is_offered(make_app: MakeApp) -> None:
    app = make_app(formats="none")
    client = app.client
    photo = accepted_photo(
        client.post("/photos", content=(SAMPLES / "canon_hdr_NO.jpg").read_bytes(), headers=AUTH)
    )
    done = wait_final(client, [str(photo["id"])])[str(photo["id"])]
    got = client.get(done["derivatives"]["thumbnail"]["url"], headers={"Accept": CHROME})  # type: ignore[index]
    assert got.headers["content-type"] == "image/jpeg"
    assert "vary" not in got.headers


def test_avif_for_clients_that_prefer_it(make_app: MakeApp) -> None:
    app = make_app(formats="avif,webp")
    client = app.client
    photo = accepted_photo(
        client.post("/photos", content=(SAMPLES / "jolla.jpg").read_bytes(), headers=AUTH)
    )
    done = wait_final(client, [str(photo["id"])])[str(photo["id"])]
    url = done["derivatives"]["thumbnail"]["url"]  # type: ignore[index]
    avif = client.get(url, headers={"Accept": CHROME})
    assert avif.status_code == 200
    assert avif.headers["content-type"] == "image/avif"
    assert avif.content[4:12] == b"ftypavif"
    assert decode_size(avif.content) == (200, 150)
    webp = client.get(url, headers={"Accept": "image/webp,*/*"})
    assert webp.headers["content-type"] == "image/webp"
    assert client.get(url).headers["content-type"] == "image/jpeg"


def test_a_cut_short_variant_is_made_again_not_served(make_app: MakeApp) -> None:
    app = make_app(formats="webp")
    client = app.client
    photo = accepted_photo(
        client.post("/photos", content=(SAMPLES / "jolla.jpg").read_bytes(), headers=AUTH)
    )
    done = wait_final(client, [str(photo["id"])])[str(photo["id"])]
    url = done["derivatives"]["thumbnail"]["url"]  # type: ignore[index]
    first = client.get(url, headers={"Accept": CHROME})
    assert first.headers["content-type"] == "image/webp"
    with sqlite3.connect(app.data_dir / "derivo.db") as db:
        [(path,)] = db.execute("SELECT path FROM derivatives WHERE format = 'webp'").fetchall()
    variant = app.data_dir / "derivatives" / path
    variant.write_bytes(first.content[: len(first.content) // 2])

    again = client.get(url, headers={"Accept": CHROME})
    assert again.status_code == 200 and again.headers["content-type"] == "image/webp"
    assert len(again.content) == int(again.headers["content-length"]) > len(first.content) // 2
    assert decode_size(again.content) == decode_size(first.content)
    assert variant.stat().st_size == len(again.content)
