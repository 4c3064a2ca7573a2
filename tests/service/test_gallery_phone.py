"""The gallery in headless Chromium: phone layout, big libraries, placeholders, undo, welcome."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
import thumbhash
from playwright.sync_api import Browser, Page, Route

from bench.gallery import seed_library

from .support import BADINPUT, SAMPLES, TOKEN, Server, Spawn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # real servers, processes or a browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"

INSIDE_VIEWPORT = """(el) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= window.innerWidth;
}"""


def open_gallery(
    browser: Browser, server: Server, viewport: dict[str, int], *, clock: bool = False
) -> Page:
    """The gallery in a new context; with ``clock``, the page's timers run on a clock the
    test can move forward (``page.clock``) instead of waiting them out."""
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    if clock:
        context.clock.install()
    context.add_init_script(f"localStorage.setItem('derivo-token', '{TOKEN}')")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(server.url + "/")
    return page


def seeded(spawn: Spawn, tmp_path: Path, count: int) -> Server:
    data_dir = tmp_path / "library"
    seed_library(data_dir, count)
    return spawn("--workers", "1", data_dir=data_dir)


def test_on_a_phone_nothing_scrolls_sideways_and_the_actions_are_reachable(
    browser: Browser, spawn: Spawn, tmp_path: Path
) -> None:
    server = seeded(spawn, tmp_path, 30)
    page = open_gallery(browser, server, PHONE)
    page.wait_for_function("() => document.querySelectorAll('#grid .card').length === 30")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    lefts = page.eval_on_selector_all(
        "#grid .card", "(cards) => cards.map((c) => Math.round(c.getBoundingClientRect().left))"
    )
    assert len(set(lefts)) == 2, lefts  # two columns of thumbnails
    for selector in ("label.pick", "#forget-token", "#grid .card .delete >> nth=0"):
        assert page.locator(selector).evaluate(INSIDE_VIEWPORT), selector

    long_name = "a-very-long-file-name-from-a-phone-camera-roll-" * 3 + ".jpg"
    bad = BADINPUT / "truncated" / "sharp__truncated.jpg"
    not_an_image = tmp_path / long_name
    not_an_image.write_bytes(b"this is not an image at all, only some text " * 10)
    page.set_input_files("#picker", [str(SAMPLES / "jolla.jpg")])
    page.wait_for_function(
        "() => document.querySelector('#grid .card figcaption')"
        ".textContent.startsWith('jolla.jpg')",
        timeout=60_000,
    )
    page.set_input_files("#picker", [str(SAMPLES / "jolla.jpg"), str(not_an_image), str(bad)])
    # measured the moment the duplicate's row says so (it is removed a moment later)
    page.wait_for_function(
        """() => {
          const states = [...document.querySelectorAll('#uploads .state')];
          const dup = states.find((s) => s.textContent === 'already uploaded');
          if (!dup) return false;
          window.dupRow = [document.documentElement.scrollWidth, innerWidth,
                           dup.getBoundingClientRect().right];
          return true;
        }""",
        timeout=60_000,
    )
    scroll_width, inner_width, dup_right = page.evaluate("window.dupRow")
    assert scroll_width <= inner_width and dup_right <= inner_width

    error_row = page.locator("#uploads li.error")
    error_row.wait_for(timeout=30_000)
    assert "not an image" in error_row.locator(".state").inner_text()
    assert error_row.locator("progress").is_hidden()  # the reason, not a full blue bar
    assert error_row.locator(".state").evaluate(INSIDE_VIEWPORT)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_placeholder_is_painted_until_the_thumbnail_arrives(
    browser: Browser, spawn: Spawn, tmp_path: Path
) -> None:
    server = seeded(spawn, tmp_path, 3)
    held: list[Route] = []
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.route("**/thumbnail?v=*", lambda route: held.append(route))
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("() => document.querySelectorAll('#grid img.thumb').length === 3")
    first = page.locator("#grid img.thumb").first
    assert first.evaluate("(img) => img.style.backgroundImage").startswith('url("data:image/png')
    assert first.evaluate("(img) => img.naturalWidth") == 0  # still only the placeholder
    assert page.locator("#grid img.thumb.loaded").count() == 0

    photo = httpx.get(server.url + "/photos", params={"order": "captured"}).json()["photos"][0]
    w, h, expected = thumbhash.thumb_hash_to_rgba(base64.b64decode(photo["thumbhash"]))
    decoded = page.evaluate(
        "(hash) => { const r = ThumbHash.toRGBA(ThumbHash.bytesOf(hash));"
        " return [r.w, r.h, Array.from(r.rgba)]; }",
        photo["thumbhash"],
    )
    assert decoded[:2] == [w, h]
    # the page's decoder agrees with the reference one (float rounding: within 1)
    assert max(abs(a - b) for a, b in zip(decoded[2], expected, strict=True)) <= 1

    for route in held:
        route.continue_()
    page.wait_for_function("() => document.querySelectorAll('#grid img.thumb.loaded').length === 3")
    context.close()


def test_a_big_library_is_paged_in_as_the_user_scrolls(
    browser: Browser, spawn: Spawn, tmp_path: Path
) -> None:
    server = seeded(spawn, tmp_path, 150)
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    thumbs: list[str] = []
    page.on("request", lambda r: thumbs.append(r.url) if "/thumbnail" in r.url else None)
    page.goto(server.url + "/")
    page.wait_for_function("() => document.querySelectorAll('#grid .card').length > 0")
    page.wait_for_function("() => !document.getElementById('more').textContent")
    first_load = page.locator("#grid .card").count()
    assert first_load < 150  # one page, not the whole library
    assert "150 photos: 150 done" in page.inner_text("#counts")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid img.thumb')].filter((i) => {"
        " const r = i.getBoundingClientRect(); return r.top < innerHeight; })"
        ".every((i) => i.complete && i.naturalWidth > 0)"
    )
    assert len(thumbs) < first_load  # lazy: images far below the fold are not fetched

    for _ in range(10):  # 150 photos are 3 pages: each scroll to the end brings the next
        if page.inner_text("#more") == "That is all.":
            break
        count = page.locator("#grid .card").count()
        page.locator("#more").scroll_into_view_if_needed()
        page.wait_for_function(
            "(n) => document.querySelectorAll('#grid .card').length > n"
            " || document.getElementById('more').textContent === 'That is all.'",
            arg=count,
        )
    assert page.inner_text("#more") == "That is all."
    names = page.locator("#grid figcaption").evaluate_all(
        "(caps) => caps.map((c) => c.firstChild.textContent)"
    )
    assert names == [f"IMG_{n:05d}.JPG" for n in range(150)]  # newest capture first, once each
    context.close()


def test_delete_can_be_undone(browser: Browser, spawn: Spawn, tmp_path: Path) -> None:
    server = seeded(spawn, tmp_path, 3)
    page = open_gallery(browser, server, PHONE, clock=True)
    page.wait_for_function("() => document.querySelectorAll('#grid .card').length === 3")
    card = page.locator("#grid .card").first
    photo_id = card.get_attribute("data-id")
    card.locator(".delete").click()
    assert card.is_hidden()
    toast = page.locator("#toasts li", has_text="IMG_00000.JPG")
    toast.locator("button.undo").click()
    assert card.is_visible() and toast.count() == 0
    assert httpx.get(f"{server.url}/photos/{photo_id}").status_code == 200

    card.locator(".delete").click()
    page.clock.fast_forward("00:10")  # past the undo time: the delete is sent
    page.wait_for_function(
        "(id) => !document.querySelector(`#grid .card[data-id='${id}']`)",
        arg=photo_id,
        timeout=30_000,
    )
    assert httpx.get(f"{server.url}/photos/{photo_id}").status_code == 404
    assert "2 photos" in page.inner_text("#counts")
    assert page.errors == []  # type: ignore[attr-defined]


def test_an_empty_library_says_what_to_do(browser: Browser, spawn: Spawn) -> None:
    server = spawn("--workers", "1")
    page = open_gallery(browser, server, PHONE)
    welcome = page.locator("#welcome")
    welcome.wait_for(state="visible")
    assert "No photos yet" in welcome.inner_text()
    assert "choose files" in welcome.inner_text()
    page.set_input_files("#picker", [str(SAMPLES / "jolla.jpg")])
    welcome.wait_for(state="hidden")
    page.locator("#grid img.thumb.loaded").wait_for(timeout=60_000)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
