"""The library asks for its in-flight videos every 3 s while they move, and less and less often
(at most every 30 s) while they stand still; a change brings it back to 3 s. Debian's chromium
with its timers on Playwright's clock, the list route answered by the test (a video that stays
queued), every list request recorded."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.console.conftest import Served, Watched, sign_in

pytestmark = pytest.mark.slow  # a real browser

STEP_MS = 500


def test_a_queue_that_stands_still_is_polled_less_and_less(
    served: Served, watched: Watched
) -> None:
    source = served.data / "inbox" / "waiting.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"not processed here")
    status, item = served.call(
        "/videos", "POST", {"title": "Waiting clip", "sourceUrl": f"file://{source}"}
    )
    assert status == 201, item
    shown = {**item, "status": "queued", "progress": 0}
    page = watched.page
    asked: list[float] = []  # fake-clock seconds of each list request after the first load
    now = [0.0]

    def answer(route: Any) -> None:
        if route.request.method == "GET" and urlsplit(route.request.url).path == "/videos":
            asked.append(now[0])
            body = {"videos": [shown], "count": 1}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    page.clock.install()
    page.route("**/videos*", answer)
    sign_in(page, served.base)
    page.get_by_text("Waiting clip").first.wait_for()
    asked.clear()

    def advance(seconds: float) -> None:
        for _ in range(int(seconds * 1000 / STEP_MS)):
            page.clock.run_for(STEP_MS)
            now[0] += STEP_MS / 1000
            time.sleep(0.05)  # the tick's request is real: let it be answered

    advance(60)
    # 3 s, then 6, 12, 24: four looks in a minute, not twenty
    assert 3 <= len(asked) <= 5, asked
    gaps = [b - a for a, b in itertools.pairwise(asked)]
    assert all(b >= a for a, b in itertools.pairwise(gaps)), gaps  # backing off
    assert gaps[-1] >= 12, gaps

    shown["progress"] = 40  # the video moves: the next look finds the change
    seen_before = len(asked)
    advance(40)
    after = asked[seen_before:]
    assert len(after) >= 2, asked
    assert after[1] - after[0] <= 3.5, asked  # back to every 3 s after a change
