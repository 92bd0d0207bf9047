"""The console in Debian's chromium: sign in, titles stay text, the token stays out of URLs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.console.conftest import Served, Watched, screenshot, sign_in

pytestmark = pytest.mark.slow  # a real browser against a real server

HOSTILE = "<img src=x onerror=alert(1)>"


def test_sign_in_shows_the_apis_error_then_the_library(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(served.base + "/")
    token = page.get_by_label("Access token")
    assert token.get_attribute("type") == "password"
    token.fill("not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    alert = page.locator("#signin-error")
    alert.filter(has_text="invalid").wait_for()
    assert alert.text_content() == "the access token is invalid, revoked or expired"
    assert page.evaluate("sessionStorage.length") == 0

    token.fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Library").wait_for()
    assert page.evaluate("Object.values(sessionStorage)") == [ADMIN_TOKEN]
    assert page.get_by_label("Video file").is_visible()
    assert page.get_by_label("Title", exact=True).is_visible()
    # the token never travels in a URL, and the server never logs it
    assert all(ADMIN_TOKEN not in url for url in watched.urls)
    assert ADMIN_TOKEN not in page.url
    assert ADMIN_TOKEN not in served.log.read_text(errors="replace")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Access token").wait_for()
    assert page.evaluate("sessionStorage.length") == 0
    assert watched.problems() == []


def test_every_api_string_is_text_never_html(served: Served, watched: Watched) -> None:
    source = served.data / "inbox" / "hostile.mp4"
    source.write_bytes(b"not a video")
    status, item = served.call(
        "/videos",
        "POST",
        {"title": HOSTILE, "description": f"<b>bold</b>{HOSTILE}", "sourceUrl": f"file://{source}"},
    )
    assert status == 201, item
    page = watched.page
    sign_in(page, served.base)
    row = page.locator(f'li[data-id="{item["id"]}"]')
    assert row.locator(".row-title").text_content() == HOSTILE
    row.get_by_role("link").click()
    page.locator("#video-title").filter(has_text="onerror").wait_for()
    assert page.locator("#video-title").text_content() == HOSTILE
    assert page.locator("#video-description").text_content() == f"<b>bold</b>{HOSTILE}"
    assert page.title().startswith(HOSTILE)
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#main b").count() == 0
    assert watched.dialogs == []  # no alert(1) ran


def test_a_file_that_is_not_a_video_is_refused_before_upload(
    served: Served, watched: Watched, tmp_path: Any
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    page = watched.page
    sign_in(page, served.base)
    page.get_by_label("Video file").set_input_files(str(notes))
    page.get_by_role("button", name="Upload").click()
    error = page.locator("#upload-error")
    error.filter(has_text="not a video").wait_for()
    assert "notes.txt is not a video" in (error.text_content() or "")
    assert not any("/uploads" in url for url in watched.urls)  # nothing was sent


def test_phone_width_has_no_sideways_scroll(served: Served, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        sign_in(page, served.base)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        screenshot(page, "console-phone-library.png")
    finally:
        context.close()


def test_a_file_dropped_on_the_page_is_picked_for_upload(served: Served, watched: Watched) -> None:
    page = watched.page
    sign_in(page, served.base)
    transfer = page.evaluate_handle(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["x".repeat(2048)], "dropped.mp4", { type: "video/mp4" }));
            return data;
        }"""
    )
    page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
    assert page.locator("#drop-overlay").is_visible()
    page.dispatch_event("main", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("main", "drop", {"dataTransfer": transfer})
    assert page.locator("#drop-overlay").is_hidden()
    assert page.get_by_label("Video file").evaluate("input => input.files[0].name") == (
        "dropped.mp4"
    )
    assert "Ready to upload dropped.mp4" in (page.locator("#upload-status").text_content() or "")


def test_pages_of_the_library_load_with_next_token(served: Served, watched: Watched) -> None:
    """A token of its own workspace (so other tests' videos stay out), 30 videos: 24 + 6."""
    status, minted = served.call("/tokens", "POST", {"name": "paging", "scope": "write",
                                                      "workspace": "paging"})  # fmt: skip
    assert status == 201, minted
    source = served.data / "inbox" / "paging.mp4"
    source.write_bytes(b"bytes")
    for i in range(30):
        status, _ = served.call(
            "/videos",
            "POST",
            {"title": f"Page video {i:02d}", "sourceUrl": f"file://{source}"},
            token=minted["secret"],
        )
        assert status == 201
    page = watched.page
    sign_in(page, served.base, minted["secret"])
    rows = page.locator("li.video-row .row-title")
    rows.first.wait_for()
    assert rows.count() == 24
    assert rows.first.text_content() == "Page video 29"  # newest first
    page.get_by_role("button", name="Load more").click()
    page.wait_for_function("() => document.querySelectorAll('li.video-row').length === 30")
    assert rows.last.text_content() == "Page video 00"
    assert page.get_by_role("button", name="Load more").is_hidden()
    assert "30 videos loaded" in (page.locator("#library-summary").text_content() or "")
