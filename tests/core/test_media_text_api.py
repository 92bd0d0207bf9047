"""Issue 26 part B through the API, on both backends: the transcript route (formats, search),
instant clips (a signed playlist over the run's own segments) and exact clips (a new video with
`clipOf`), with their 400/409 cases. The media are stand-ins published into the media store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.core.backends import Backend, open_backend

RUN = "20261202T120000Z-0123abcd"
DOC = {
    "language": "en",
    "segments": [
        {
            "start": 0.5,
            "end": 1.9,
            "text": "Hello brave world.",
            "words": [
                {"start": 0.5, "end": 0.9, "word": "Hello"},
                {"start": 0.95, "end": 1.3, "word": "brave"},
                {"start": 1.35, "end": 1.9, "word": "world."},
            ],
        },
        {
            "start": 4.2,
            "end": 5.0,
            "text": "Worlds apart!",
            "words": [
                {"start": 4.2, "end": 4.6, "word": "Worlds"},
                {"start": 4.65, "end": 5.0, "word": "apart!"},
            ],
        },
    ],
}
MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=1280x720\nhls_720p.m3u8\n"
VARIANT = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-PLAYLIST-TYPE:VOD\n"
    + "".join(f"#EXTINF:2.000000,\nhls_720p_{i:05d}.ts\n" for i in range(5))
    + "#EXT-X-ENDLIST\n"
)


@pytest.fixture(params=["local", "aws"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend(request.param, request, tmp_path, monkeypatch)


def completed(
    api: Backend, tmp_path: Path, master: str = MASTER, extra: tuple[tuple[str, str], ...] = ()
) -> str:
    vid = api.create(title="Talk")["id"]
    files = tmp_path / "run"
    files.mkdir(exist_ok=True)
    for name, text in (
        ("transcript.json", json.dumps(DOC)),
        ("hls_master.m3u8", master),
        ("hls_720p.m3u8", VARIANT),
        *((f"hls_720p_{i:05d}.ts", "ts") for i in range(5)),
        *extra,
    ):
        (files / name).write_text(text)
    prefix = api.container.media_store().publish(vid, RUN, sorted(files.iterdir()))
    api.store.transition(
        vid,
        {"uploaded"},
        "completed",
        {"runId": RUN, "outputPrefix": prefix, "transcoding": {"duration": 10.0}},
    )
    return vid


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def test_transcript_as_data_text_and_search(api: Backend, tmp_path: Path) -> None:
    vid = completed(api, tmp_path)
    resp = api.get(f"/videos/{vid}/transcript")
    assert resp.status_code == 200 and body(resp) == DOC
    txt = api.get(f"/videos/{vid}/transcript?format=txt")
    assert str(txt.body, "utf-8") == "Hello brave world.\nWorlds apart!\n"
    assert txt.headers["Content-Type"].startswith("text/plain")
    vtt = api.get(f"/videos/{vid}/transcript?format=vtt")
    assert vtt.headers["Content-Type"].startswith("text/vtt")
    assert "00:00:04.200 --> 00:00:05.000\nWorlds apart!" in str(vtt.body, "utf-8")
    srt = api.get(f"/videos/{vid}/transcript?format=srt")
    assert "2\n00:00:04,200 --> 00:00:05,000\nWorlds apart!" in str(srt.body, "utf-8")

    found = body(api.get(f"/videos/{vid}/transcript?q=WORLD"))["matches"]
    assert found == [
        {"start": 1.35, "end": 1.9, "text": "Hello brave world."},
        {"start": 4.2, "end": 4.6, "text": "Worlds apart!"},
    ]
    pair = body(api.get(f"/videos/{vid}/transcript?q=bra%20wor"))["matches"]
    assert pair == [{"start": 0.95, "end": 1.9, "text": "Hello brave world."}]
    assert body(api.get(f"/videos/{vid}/transcript?q=orld"))["matches"] == []
    assert api.get(f"/videos/{vid}/transcript?format=doc").status_code == 400

    pending = api.create()["id"]
    assert api.get(f"/videos/{pending}/transcript").status_code == 409


def test_instant_clip_is_a_signed_playlist_over_the_segments_of_the_range(
    api: Backend, tmp_path: Path
) -> None:
    vid = completed(api, tmp_path)
    resp = api.post(f"/videos/{vid}/clips", {"start": 3.0, "end": 5.5, "mode": "instant"})
    assert resp.status_code == 200, resp.body
    clip = body(resp)
    assert (clip["start"], clip["end"], clip["segmentStart"], clip["segmentEnd"]) == (
        3.0, 5.5, 2.0, 6.0,
    )  # fmt: skip
    url = urlsplit(clip["hlsUrl"])
    master = api.client.http.get(f"{url.path}?{url.query}", headers={"Authorization": ""})
    assert master.status_code == 200, master.body
    variant_ref = str(master.body, "utf-8").strip().splitlines()[-1]
    assert variant_ref.startswith("hls_720p.m3u8?exp=")
    base = url.path.rsplit("/", 1)[0]
    variant = api.client.http.get(f"{base}/{variant_ref}", headers={"Authorization": ""})
    assert variant.status_code == 200, variant.body
    text = str(variant.body, "utf-8")
    assert "#EXT-X-MEDIA-SEQUENCE:1" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    segments = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(segments) == 2  # [2, 4) and [4, 6) cover [3, 5.5)
    assert "hls_720p_00001.ts" in segments[0] and "hls_720p_00002.ts" in segments[1]
    assert all("sig=" in s or "Signature" in s or "X-Amz" in s for s in segments)
    # Unsigned or tampered: refused.
    assert api.client.http.get(url.path, headers={"Authorization": ""}).status_code == 403
    forged = url.path.replace("3000-5500", "0-10000")
    assert api.client.http.get(f"{forged}?{url.query}").status_code == 403


def test_exact_clip_is_a_new_queued_video_with_clip_of(api: Backend, tmp_path: Path) -> None:
    vid = completed(api, tmp_path)
    resp = api.post(f"/videos/{vid}/clips", {"start": 1.5, "end": 4.0})
    assert resp.status_code == 201, resp.body
    clip = body(resp)
    assert clip["clipOf"] == {"videoId": vid, "start": 1.5, "end": 4.0}
    assert clip["id"] != vid and clip["status"] == "queued"
    assert api.orchestrator is not None and api.orchestrator.started[-1][1] == [clip["id"]]
    assert body(api.get(f"/videos/{clip['id']}"))["clipOf"]["videoId"] == vid
    # a clip of that clip (once completed) is cut from the same source, at the right offset
    api.store.transition(
        clip["id"],
        {"queued"},
        "completed",
        {"runId": RUN, "outputPrefix": "x", "transcoding": {"duration": 2.5}},
    )
    again = body(api.post(f"/videos/{clip['id']}/clips", {"start": 0.5, "end": 2.0}))
    assert again["clipOf"] == {
        "videoId": clip["id"], "start": 0.5, "end": 2.0, "sourceRange": [2.0, 3.5],
    }  # fmt: skip


def test_clip_ranges_outside_the_video_are_400_and_unfinished_videos_409(
    api: Backend, tmp_path: Path
) -> None:
    vid = completed(api, tmp_path)
    for payload in (
        {"start": 5, "end": 5},
        {"start": 6, "end": 5},
        {"start": 0, "end": 10.5},
        {"start": -1, "end": 2},
        {"start": 1},
        {"start": 1, "end": 2, "mode": "fast"},
    ):
        resp = api.post(f"/videos/{vid}/clips", payload)
        assert resp.status_code == 400, (payload, resp.body)


def test_instant_clip_of_a_master_with_an_audio_rendition_signs_it(
    api: Backend, tmp_path: Path
) -> None:
    master = (
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",URI="hls_audio.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1000,AUDIO="audio"\nhls_720p.m3u8\n'
    )
    audio_playlist = VARIANT.replace("hls_720p_", "hls_audio_")
    vid = completed(api, tmp_path, master, (("hls_audio.m3u8", audio_playlist),))
    clip = body(api.post(f"/videos/{vid}/clips", {"start": 0, "end": 1, "mode": "instant"}))
    url = urlsplit(clip["hlsUrl"])
    text = str(api.client.http.get(f"{url.path}?{url.query}").body, "utf-8")
    uri = text.split('URI="', 1)[1].split('"', 1)[0]
    assert uri.startswith("hls_audio.m3u8?exp=")
    base = url.path.rsplit("/", 1)[0]
    audio = str(api.client.http.get(f"{base}/{uri}").body, "utf-8")
    segments = [ln for ln in audio.splitlines() if ln and not ln.startswith("#")]
    assert len(segments) == 1 and "hls_audio_00000.ts" in segments[0]  # [0, 2) covers [0, 1)
