"""Event streams over `make run`'s server: their waiting never holds the slots ordinary requests
need (issue 28: four `?wait=25` streams stalled `/health` for 23.9 s), and a token has a
bounded number open at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.core.local_server import Served, json_call, request, serve

STREAMS = 24  # far more than the 4 API slots


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("streams")
    with serve(data, "--max-streams-per-token", str(STREAMS), "--events-poll", "0.5") as running:
        yield running


def _video(served: Served) -> tuple[str, str]:
    """A video and its current event id (what a client that is up to date sends back)."""
    source = served.data / "inbox" / "clip.mp4"
    source.write_bytes(b"bytes")
    with closing(served.connect()) as conn:
        status, item = json_call(
            conn, "POST", "/videos", {"title": "streams", "sourceUrl": f"file://{source}"}
        )
        assert status == 201
        status, _, body = request(conn, "GET", f"/videos/{item['id']}/events?wait=0")
    assert status == 200
    [event_id] = [ln[4:] for ln in body.decode().splitlines() if ln.startswith("id: ")]
    return item["id"], event_id


def _open_streams(served: Served, path: str, event_id: str, count: int) -> list[threading.Thread]:
    def stream() -> None:
        with closing(served.connect(timeout=60)) as conn:
            status, _, _ = request(conn, "GET", path, headers={"Last-Event-ID": event_id})
            assert status == 200

    threads = [threading.Thread(target=stream, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def test_health_and_reads_answer_while_many_streams_wait(served: Served) -> None:
    video_id, event_id = _video(served)
    threads = _open_streams(served, f"/videos/{video_id}/events?wait=15", event_id, STREAMS)
    time.sleep(2.0)  # all of them are waiting by now
    assert all(t.is_alive() for t in threads)
    with closing(
        served.connect(timeout=10)
    ) as conn:  # generous: before the fix, no answer for 15 s
        assert request(conn, "GET", "/health")[0] == 200
        status, item = json_call(conn, "GET", f"/videos/{video_id}")
        assert (status, item["id"]) == (200, video_id)
    assert all(t.is_alive() for t in threads)  # the streams were still open meanwhile
    for thread in threads:
        thread.join(30)


def test_a_waiting_stream_still_answers_the_change(served: Served) -> None:
    video_id, event_id = _video(served)
    answers: list[bytes] = []

    def stream() -> None:
        with closing(served.connect()) as conn:
            answers.append(
                request(
                    conn,
                    "GET",
                    f"/videos/{video_id}/events?wait=20",
                    headers={"Last-Event-ID": event_id},
                )[2]
            )

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(1.0)
    with closing(served.connect()) as conn:  # any change: processing it moves it out of `uploaded`
        status, _ = json_call(conn, "POST", f"/videos/{video_id}/process", {})
        assert status in (200, 202)
    thread.join(15)
    assert not thread.is_alive()
    assert b"\nid: " in b"\n" + answers[0] and event_id.encode() not in answers[0]


def test_a_token_past_its_stream_cap_gets_429_with_retry_after(tmp_path: Path) -> None:
    with serve(tmp_path, "--max-streams-per-token", "2") as served:
        video_id, event_id = _video(served)
        path = f"/videos/{video_id}/events?wait=10"
        threads = _open_streams(served, path, event_id, 2)
        time.sleep(1.5)
        with closing(served.connect()) as conn:
            status, headers, body = request(conn, "GET", path, headers={"Last-Event-ID": event_id})
            assert status == 429
            assert json.loads(body)["error"]["code"] == "TooManyStreams"
            assert int(headers["Retry-After"]) >= 1
            # a stream that needs no wait (no Last-Event-ID) and other reads still answer
            assert request(conn, "GET", f"/videos/{video_id}/events")[0] == 200
        for thread in threads:
            thread.join(20)
        with closing(served.connect()) as conn:  # closed streams give their places back
            status, _, _ = request(
                conn,
                "GET",
                path.replace("wait=10", "wait=0.5"),
                headers={"Last-Event-ID": event_id},
            )
            assert status == 200


def test_an_invalid_wait_is_still_the_apps_400(served: Served) -> None:
    video_id, _ = _video(served)
    with closing(served.connect()) as conn:
        assert request(conn, "GET", f"/videos/{video_id}/events?wait=abc")[0] == 400
        assert request(conn, "GET", f"/videos/{video_id}/events?wait=999")[0] == 400
        assert request(conn, "GET", f"/videos/{'C' * 22}/events?wait=5")[0] == 404
