"""Hostile clients and browsers: an over-long multipart boundary, and the security headers."""

from __future__ import annotations

import pytest

from derivo.service.headers import GALLERY_POLICY

from .conftest import App
from .support import SAMPLES, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.timeout(90)


def test_a_boundary_over_256_bytes_is_a_400_not_a_500(app: App) -> None:
    boundary = "b" * 300
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        f"\r\nxyz\r\n--{boundary}--\r\n"
    ).encode()
    answer = app.client.post(
        "/photos",
        content=body,
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "kind": "input",
        "message": "malformed multipart body: Boundary length 300 exceeds maximum of 256",
    }


def test_every_answer_forbids_sniffing_and_referrers(app: App) -> None:
    client = app.client
    with open(SAMPLES / "jolla.jpg", "rb") as f:
        upload = client.post("/photos", files={"file": ("jolla.jpg", f)}, headers=AUTH)
    for answer in (
        upload,
        client.get("/photos"),
        client.get("/static/gallery.js"),
        client.get("/photos/no-such-photo"),
        client.get("/healthz"),
    ):
        assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.url
        assert answer.headers["Referrer-Policy"] == "no-referrer", answer.url
        assert "Content-Security-Policy" not in answer.headers


def test_the_gallery_page_loads_only_its_own_files(app: App) -> None:
    page = app.client.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == GALLERY_POLICY
    assert "default-src 'self'" in GALLERY_POLICY and "'unsafe-inline'" not in GALLERY_POLICY
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in page.text  # no inline script the policy would block
