"""The gallery page end to end in headless Chromium (Debian's ``chromium``, via Playwright)."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Browser, Page

from .support import BADINPUT, SAMPLES, TOKEN, Server, Spawn

pytestmark = pytest.mark.slow


RECORD_UPLOAD_STATES = """() => {
  window.uploadStates = [];
  new MutationObserver(() => {
    for (const state of document.querySelectorAll('#uploads .state')) {
      window.uploadStates.push(state.textContent);
    }
  }).observe(document.getElementById('uploads'),
             {subtree: true, childList: true, characterData: true});
}"""

DROP_FILE = """([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
  const zone = document.getElementById('drop');
  const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
  zone.dispatchEvent(new DragEvent('dragover', init));
  zone.dispatchEvent(new DragEvent('drop', init));
}"""

THUMBS_LOADED = """(n) => {
  const thumbs = [...document.querySelectorAll('#grid img.thumb')];
  return thumbs.length === n && thumbs.every((img) => img.complete && img.naturalWidth > 0);
}"""


def thumbs_and_failures(page: Page) -> tuple[int, list[str]]:
    return (
        page.locator("#grid img.thumb").count(),
        page.locator("#grid .card.failed .reason").all_inner_texts(),
    )


def test_upload_through_the_page_and_see_thumbnails(browser: Browser, spawn: Spawn) -> None:
    server: Server = spawn("--workers", "1")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.evaluate(RECORD_UPLOAD_STATES)
    assert page.locator("#token-form").is_hidden()  # asked for only when needed

    page.set_input_files(
        "#picker",
        [
            str(SAMPLES / "jolla.jpg"),
            str(SAMPLES / "IMG_5195.HEIC"),
            str(SAMPLES / "canon_hdr_NO.jpg"),
            str(BADINPUT / "truncated" / "sharp__truncated.jpg"),
        ],
    )
    # no token yet: the page asks for it, and sends the files once it is given
    page.locator("#token-form").wait_for(state="visible")
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type=submit]")

    page.wait_for_function(THUMBS_LOADED, arg=3, timeout=120_000)
    failure = page.locator("#grid .card.failed .reason")
    failure.wait_for(timeout=120_000)
    assert "truncated" in failure.inner_text().lower()
    states = page.evaluate("window.uploadStates")
    assert any(s.startswith("uploading") for s in states), states
    assert "uploaded" in states

    drop = (SAMPLES / "orientation" / "landscape_6.jpg").read_bytes()
    page.evaluate(DROP_FILE, ["dropped.jpg", base64.b64encode(drop).decode()])
    page.wait_for_function(THUMBS_LOADED, arg=4, timeout=120_000)
    assert page.locator("#grid figcaption", has_text="dropped.jpg").count() == 1

    page.locator("#grid img.thumb").first.click()
    viewer = page.locator("#viewer-img")
    viewer.wait_for(state="visible")
    page.wait_for_function(
        "() => { const img = document.getElementById('viewer-img');"
        " return img.complete && Math.max(img.naturalWidth, img.naturalHeight) > 200; }"
    )
    assert "/preview?v=" in (viewer.get_attribute("src") or "")
    page.keyboard.press("Escape")

    page.reload()
    page.wait_for_function(THUMBS_LOADED, arg=4, timeout=120_000)
    count, reasons = thumbs_and_failures(page)
    assert (count, len(reasons)) == (4, 1)
    assert page.locator("#token-form").is_hidden()
    assert "5 photos: 4 done" in page.inner_text("#counts")
    assert errors == []
    page.close()
