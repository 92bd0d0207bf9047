"""Playable while processing (issue 24): the processor's actions driven one by one, segments
finishing out of order, the item and the stream route read between them; then the local
product end to end (the event once, and a failure after becoming playable)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import with_token
from tests.e2e.test_local_workflow import clip, container, create, get, wait_done

pytestmark = pytest.mark.slow
EXECUTION = "exec-" + "a" * 32
TS = re.compile(r"^hls_180p_(\d{5})\.ts$")


@pytest.fixture
def play_env(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VIDEO_WHISPER_MODEL", "off")
    monkeypatch.setenv("VIDEO_SEGMENT_SECONDS", "8")  # 16 s: segments of 4, 8 and 4 s
    monkeypatch.setenv("VIDEO_FIRST_SEGMENT_SECONDS", "4")
    monkeypatch.setenv("VIDEO_PLAYABLE_SECONDS", "10")
    monkeypatch.setenv("VIDEO_X264_PRESET", "ultrafast")
    monkeypatch.setenv("VIDEO_SCALE_MIN", "2")
    monkeypatch.setenv("VIDEO_SCALE_MAX", "2")
    yield local_env


@pytest.fixture
def client(play_env: Path) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as c:
        yield with_token(c)


def fetch(client: Any, url: str) -> tuple[int, str]:
    resp = client.http.get(url, headers={"accept": "*/*"})
    return resp.status_code, resp.body.decode()


def signed(vid: str, name: str) -> str:
    return str(container().renderer.stream_url(vid, name))


def pieces(playlist: str) -> list[str]:
    """The media file names a playlist lists (its signed URLs' last path part)."""
    names = []
    for line in playlist.splitlines():
        if line and not line.startswith("#"):
            names.append(line.split("?", 1)[0].rsplit("/", 1)[-1])
    return names


def events_of(vid: str) -> list[dict[str, Any]]:
    rows = container().store._conn().execute("SELECT doc FROM events").fetchall()
    docs = [json.loads(r[0]) for r in rows]
    return sorted((d for d in docs if d["videoId"] == vid), key=lambda d: d["sequence"])


def test_a_video_plays_its_finished_prefix_while_processing(client: Any, play_env: Path) -> None:
    vid = create(client, clip(play_env / "inbox" / "p.mp4", seconds=16, size="320x180"))
    c = container()
    c.store.transition(vid, {"uploaded"}, "queued", set_fields={"executionName": EXECUTION})
    processor = c.processor
    planned = processor.handle({"videoId": vid, "executionId": EXECUTION})
    # the Map hands out the first (short) segment first, then the audio; nothing is encoded
    # by the planning invocation itself
    assert planned["segmented"] and planned["jobs"] == [0, -1, 1, 2]
    run = planned["runId"]

    def job(n: int) -> dict[str, Any]:
        processor.handle(
            {"videoId": vid, "executionId": EXECUTION, "action": "segment", "runId": run, "job": n}
        )
        return dict(get(client, f"/videos/{vid}"))

    assert get(client, f"/videos/{vid}")["segments"] == {"count": 3, "done": 0, "published": 0}
    item = job(0)
    assert item["segments"]["done"] == 1 and "playback" not in item
    item = job(1)
    assert "playback" not in item and item["segments"]["published"] == 0  # the audio is not in
    assert fetch(client, signed(vid, "hls_master.m3u8"))[0] == 404
    item = job(-1)
    assert item["status"] == "processing" and item["playback"]["state"] == "partial"
    assert item["segments"]["published"] == 2  # segments 0 and 1: 12 s
    status, master = fetch(client, item["playback"]["hlsUrl"])
    assert status == 200 and 'TYPE=AUDIO,GROUP-ID="audio"' in master
    assert 'URI="hls_audio.m3u8?' in master  # the audio rendition's reference is signed too
    variant = next(line for line in master.splitlines() if "hls_180p.m3u8" in line)
    status, live = fetch(client, f"/videos/{vid}/stream/" + variant)
    assert status == 200 and "#EXT-X-PLAYLIST-TYPE:EVENT" in live
    assert "#EXT-X-ENDLIST" not in live
    first = pieces(live)
    assert [int(TS.match(n).group(1)) for n in first] == [0, 1, 2]  # type: ignore[union-attr]
    for name in first:  # every listed piece is in the run already (the media route's files)
        assert c.media_store().resolve(vid, run, name) is not None, name
    assert all("/media/" in line and "sig=" in line for line in live.splitlines() if "hls_" in line)
    audio = fetch(client, signed(vid, "hls_audio.m3u8"))[1]
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in audio and len(pieces(audio)) == 3

    item = job(2)
    assert item["segments"]["published"] == 3
    grown = pieces(fetch(client, f"/videos/{vid}/stream/" + variant)[1])
    assert grown[: len(first)] == first and len(grown) == 4  # appended, in order

    processor.handle({"videoId": vid, "executionId": EXECUTION, "action": "assemble", "runId": run})
    item = get(client, f"/videos/{vid}")
    assert item["status"] == "completed" and item["playback"]["state"] == "complete"
    done = fetch(client, f"/videos/{vid}/stream/" + variant)[1]
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in done and "#EXT-X-ENDLIST" in done
    assert pieces(done) == grown
    kinds = [e["type"] for e in events_of(vid)]
    assert kinds.count("video.playable") == 1
    assert kinds.index("video.playable") < kinds.index("video.completed")


def test_the_local_product_announces_once_and_a_failure_removes_playback(
    client: Any, play_env: Path
) -> None:
    vid = create(client, clip(play_env / "inbox" / "p.mp4", seconds=16, size="320x180"))
    resp = client.http.post(f"/videos/{vid}/process")
    assert wait_done(client, json.loads(resp.body)["executionArn"], 300)["status"] == "SUCCEEDED"
    item = get(client, f"/videos/{vid}")
    assert item["status"] == "completed" and item["playback"]["state"] == "complete"
    playable = [e for e in events_of(vid) if e["type"] == "video.playable"]
    assert len(playable) == 1
    assert playable[0]["data"]["status"] == "processing"  # announced before completion
    assert playable[0]["data"]["playback"]["state"] == "partial"

    # A run that fails after becoming playable: failed, playback gone, its files gone.
    c = container()
    c.store.transition(vid, {"completed"}, "queued", set_fields={"executionName": EXECUTION},
                       remove_fields=("playback", "runId", "outputPrefix"))  # fmt: skip
    processor = c.processor
    planned = processor.handle({"videoId": vid, "executionId": EXECUTION})
    run = planned["runId"]
    for n in (0, -1):
        processor.handle(
            {"videoId": vid, "executionId": EXECUTION, "action": "segment", "runId": run, "job": n}
        )
    assert get(client, f"/videos/{vid}")["playback"]["state"] == "partial"
    processor.handle({"videoId": vid, "executionId": EXECUTION, "action": "discard", "runId": run,
                      "error": {"Error": "SegmentFailed", "Cause": "boom"}})  # fmt: skip
    c.finalizer.handle({"executionId": EXECUTION, "videoId": vid, "error": {"Error": "X"}})
    item = get(client, f"/videos/{vid}")
    assert item["status"] == "failed" and "playback" not in item
    assert fetch(client, signed(vid, "hls_master.m3u8"))[0] == 404
    assert c.media_store().resolve(vid, run, "hls_180p_00000.ts") is None
