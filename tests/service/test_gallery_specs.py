"""The gallery with specs of other names: cards show the smallest, the viewer the largest."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from .support import SAMPLES, Spawn, wait_final

pytestmark = pytest.mark.slow

THUMB_LOADED = """() => {
  const img = document.querySelector('#grid img.thumb');
  return img !== null && img.complete && img.naturalWidth > 0;
}"""


def test_the_gallery_shows_specs_of_any_name(browser: Browser, spawn: Spawn) -> None:
    server = spawn("--workers", "1", "--spec", "large=900x900", "--spec", "small=x120")
    client = server.client()
    with open(SAMPLES / "jolla.jpg", "rb") as f:
        photo_id = client.post("/photos", files={"file": ("jolla.jpg", f)}).json()["id"]
    assert wait_final(client, [photo_id])[photo_id]["status"] == "done"

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_function(THUMB_LOADED, timeout=120_000)
    thumb = page.locator("#grid img.thumb")
    assert "/small?v=" in (thumb.get_attribute("src") or "")
    assert page.evaluate("document.querySelector('#grid img.thumb').naturalHeight") == 120

    thumb.click()
    page.wait_for_function(
        "() => { const img = document.getElementById('viewer-img');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    assert "/large?v=" in (page.locator("#viewer-img").get_attribute("src") or "")
    assert page.evaluate("document.getElementById('viewer-img').naturalWidth") == 900
    assert errors == []
    page.close()
