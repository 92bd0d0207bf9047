"""The video page follows a processing video through `GET /videos/{id}/events` in Debian's
chromium, with the page's network requests recorded: the events route instead of polling the
item; its long-poll form when the stream form fails or is held back; polling only when both
fail."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.console.conftest import EVENTS_WAIT_SECONDS, Served, Watched, sign_in
from tests.console.test_console_media import PROCESSING_TIMEOUT_MS, make_clip

pytestmark = pytest.mark.slow  # real ffmpeg processing and a real browser


@dataclass
class Seen:
    """What the page asked of one video's routes, in order."""

    video_id: str
    requests: list[tuple[float, str, str, dict[str, str]]] = field(default_factory=list)

    def record(self, request: Any) -> None:
        path = urlsplit(request.url).path
        if path.startswith(f"/videos/{self.video_id}"):
            self.requests.append((time.monotonic(), request.method, request.url, request.headers))

    def item_reads(self) -> list[float]:
        """When the page read the item itself (`GET /videos/{id}`)."""
        item = f"/videos/{self.video_id}"
        return [t for t, method, url, _ in self.requests
                if method == "GET" and urlsplit(url).path == item]  # fmt: skip

    def event_times(self) -> list[float]:
        return [t for t, _, url, _ in self.requests if urlsplit(url).path.endswith("/events")]

    def events(self, form: str) -> list[tuple[str, dict[str, str]]]:
        """The events route's requests in the stream form (no `wait`) or the long-poll form."""
        found = []
        for _, method, url, headers in self.requests:
            parts = urlsplit(url)
            if method == "GET" and parts.path == f"/videos/{self.video_id}/events":
                long_poll = "wait" in parse_qs(parts.query)
                if long_poll == (form == "long-poll"):
                    found.append((url, headers))
        return found


def stream_form(url: str) -> bool:
    """The events route asked in the stream form (no `wait`)."""
    parts = urlsplit(url)
    return parts.path.endswith("/events") and "wait" not in parse_qs(parts.query)


@pytest.fixture
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("events") / "clip.mp4")


@pytest.fixture
def uploaded(served: Served, clip: Path, request: pytest.FixtureRequest) -> str:
    """A video made from the clip, not processed yet."""
    source = served.data / "inbox" / f"{request.node.name[:40]}.mp4"
    source.write_bytes(clip.read_bytes())
    status, item = served.call(
        "/videos", "POST", {"title": "Followed clip", "sourceUrl": f"file://{source}"}
    )
    assert status == 201, item
    return str(item["id"])


@pytest.fixture
def seen(watched: Watched, uploaded: str) -> Iterator[Seen]:
    recorded = Seen(uploaded)
    watched.page.on("request", recorded.record)
    yield recorded


NOTE_STATES = """() => {
    window.shownStates = [];
    const note = () => {
        const shown = `${document.querySelector("#video-status").textContent} `
            + document.querySelector("#video-progress-text").textContent;
        if (window.shownStates.at(-1) !== shown) window.shownStates.push(shown);
    };
    new MutationObserver(note).observe(
        document.querySelector("#video-view"),
        { subtree: true, childList: true, characterData: true },
    );
}"""


@dataclass
class Run:
    clicked: float  # time.monotonic() when Process was pressed
    shown: list[str]  # the status badge and progress text, each change the page showed


def process_on_the_page(served: Served, page: Any, video_id: str) -> Run:
    """Open the video's page, press Process, wait for `completed`."""
    sign_in(page, served.base)
    page.goto(f"{served.base}/#/videos/{video_id}")
    page.get_by_role("heading", name="Followed clip").wait_for()
    page.evaluate(NOTE_STATES)
    clicked = time.monotonic()
    page.get_by_role("button", name="Process", exact=True).click()
    page.locator("#video-status", has_text="completed").wait_for(timeout=PROCESSING_TIMEOUT_MS)
    # the item was loaded once more at the end: the renditions and the player are there
    page.locator("#renditions tbody tr").first.wait_for()
    page.locator("#player-area").wait_for()
    return Run(clicked, page.evaluate("window.shownStates"))


def test_the_page_follows_processing_through_the_events_route(
    served: Served, watched: Watched, seen: Seen
) -> None:
    page = watched.page
    run = process_on_the_page(served, page, seen.video_id)
    took = time.monotonic() - run.clicked
    streamed = seen.events("stream")
    assert len(streamed) >= 2, seen.requests  # the first state, then each change
    # the page showed the states as they came, progress included
    assert any(re.fullmatch(r"processing Processing: \d+%", shown) for shown in run.shown), run
    assert seen.events("long-poll") == []
    # the token travels in the Authorization header, never in the URL
    assert all(h.get("authorization") == f"Bearer {ADMIN_TOKEN}" for _, h in streamed)
    # each reconnection resumes after the last event, as EventSource's would
    assert "last-event-id" not in streamed[0][1]
    assert all(h.get("last-event-id") for _, h in streamed[1:])
    assert all(ADMIN_TOKEN not in url for url in watched.urls)
    # the item itself: once when the page opened, once when the video completed
    after_click = [t for t in seen.item_reads() if t >= run.clicked]
    assert len(after_click) == 1, (took, seen.requests)
    assert after_click[0] > max(seen.event_times())  # after the last events request
    assert watched.problems() == []


def test_when_the_stream_form_fails_the_long_poll_form_follows(
    served: Served, watched: Watched, seen: Seen
) -> None:
    page = watched.page
    page.route(stream_form, lambda route: route.abort("connectionreset"))
    process_on_the_page(served, page, seen.video_id)
    assert len(seen.events("stream")) == 1  # tried once, not again
    long_polls = seen.events("long-poll")
    assert len(long_polls) >= 2
    assert all("wait=20" in url for url, _ in long_polls)
    assert any("lastEventId=" in url for url, _ in long_polls)  # resumes where it was
    assert len(seen.item_reads()) == 2  # opened, completed: no polling


def test_a_stream_held_back_by_a_buffering_proxy_gives_way_to_the_long_poll_form(
    served: Served, watched: Watched, seen: Seen
) -> None:
    """The stream form's request never answers (as behind a proxy that holds the response):
    after the server's wait plus the grace the page switches."""
    page = watched.page
    held: list[Any] = []

    def hold(route: Any) -> None:  # neither answered nor aborted: no response comes
        held.append(route)

    page.route(stream_form, hold)
    process_on_the_page(served, page, seen.video_id)
    assert len(held) == 1
    streamed = [t for t, _, url, _ in seen.requests if stream_form(url)]
    long_polled = [t for t, _, url, _ in seen.requests if "wait=" in url]
    assert long_polled  # (one is enough when the video completed while the stream was held)
    # it gave the stream the server's wait plus 5 s of grace, not less
    assert long_polled[0] - streamed[0] >= EVENTS_WAIT_SECONDS + 5 - 0.5
    assert len(seen.item_reads()) == 2


def test_when_the_events_route_fails_the_page_polls_to_completed(
    served: Served, watched: Watched, seen: Seen
) -> None:
    page = watched.page
    page.route("**/videos/*/events*", lambda route: route.abort("failed"))
    process_on_the_page(served, page, seen.video_id)
    assert len(seen.events("stream")) == 1
    assert len(seen.events("long-poll")) == 2  # two failures in a row, then polling
    assert len(seen.item_reads()) >= 2
