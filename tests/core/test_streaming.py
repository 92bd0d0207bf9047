"""Playlists and the storyboard index are served with every file reference signed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.render import MediaRenderer
from chalicelib.api.service import VideoService
from chalicelib.api.signing import UrlSigner
from chalicelib.api.streaming import is_stream_document, rewrite_references
from chalicelib.domain import new_video_id, utc_now
from chalicelib.media_store.s3 import S3MediaStore
from chalicelib.store.sqlite import SqliteVideoStore

MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nhls_720p.m3u8\n"
VARIANT = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhls_720p_00000.ts\n#EXT-X-ENDLIST\n"
STORYBOARD = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,160,90\n"


def write_documents(directory: Path) -> list[Path]:
    directory.mkdir(exist_ok=True)
    paths = []
    for name, text in (
        ("hls_master.m3u8", MASTER),
        ("hls_720p.m3u8", VARIANT),
        ("storyboard.vtt", STORYBOARD),
    ):
        (directory / name).write_text(text)
        paths.append(directory / name)
    return paths


def completed_item(vid: str, run: str, **extra: Any) -> dict[str, Any]:
    now = utc_now()
    return {
        "id": vid,
        "title": "t",
        "description": "",
        "sourceUrl": "s3://b/k",
        "status": "completed",
        "createdAt": now,
        "updatedAt": now,
        "runId": run,
        **extra,
    }


def test_rewrite_turns_every_file_reference_into_its_url() -> None:
    sign = lambda name: f"https://signed/{name}?sig=1"  # noqa: E731
    master = rewrite_references(MASTER, sign)
    assert master.splitlines()[-1] == "https://signed/hls_720p.m3u8?sig=1"
    assert master.splitlines()[:-1] == MASTER.splitlines()[:-1]  # tags untouched
    assert "https://signed/hls_720p_00000.ts?sig=1" in rewrite_references(VARIANT, sign)
    board = rewrite_references(STORYBOARD, sign)
    assert "https://signed/storyboard.jpg?sig=1#xywh=0,0,160,90" in board
    assert "00:00:00.000 --> 00:00:01.000" in board


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("hls_master.m3u8", True),
        ("storyboard.vtt", True),
        ("subtitles.vtt", False),
        ("../x.m3u8", False),
        ("video_720p.mp4", False),
        (".m3u8", False),
    ],
)
def test_only_playlists_and_the_storyboard_index_are_stream_documents(name: str, ok: bool) -> None:
    assert is_stream_document(name) is ok


def test_stream_documents_from_s3_carry_presigned_segment_urls(
    s3_bucket: tuple[Any, str], moto_endpoint: str, tmp_path: Path
) -> None:
    s3, bucket = s3_bucket
    media = S3MediaStore(bucket, s3, presign_seconds=3600)
    vid, run = new_video_id(), "20260101T000000Z-abcdef01"
    files = write_documents(tmp_path / "docs")
    media.publish(vid, run, files)
    store = SqliteVideoStore(tmp_path / "v.sqlite3")
    store.create(completed_item(vid, run))
    renderer = MediaRenderer(lambda: media, UrlSigner(b"k" * 32, 3600))
    service = VideoService(store, None, None, None, renderer, lambda: media)  # type: ignore[arg-type]

    master, ctype = service.stream_document(vid, "hls_master.m3u8")
    assert ctype == "application/vnd.apple.mpegurl"
    variant_ref = master.splitlines()[-1]  # relative (resolves to this route), signed
    assert variant_ref.startswith("hls_720p.m3u8?exp=") and "&sig=" in variant_ref
    variant, _ = service.stream_document(vid, "hls_720p.m3u8")
    segment_url = variant.splitlines()[3]
    assert segment_url.startswith(f"{moto_endpoint}/{bucket}/videos/{vid}/{run}/hls_720p_00000.ts")
    assert "X-Amz-Signature=" in segment_url
    board, _ = service.stream_document(vid, "storyboard.vtt")
    assert "X-Amz-Signature=" in board and board.rstrip().endswith("#xywh=0,0,160,90")

    from chalicelib.errors import NotFoundError

    for bad in ("subtitles.vtt", "hls_1080p.m3u8", "../../etc.m3u8"):
        with pytest.raises(NotFoundError):
            service.stream_document(vid, bad)


def test_local_item_points_hls_and_storyboard_at_the_stream_route(
    client: Any, local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.factory import container, reset_container

    monkeypatch.setenv("VIDEO_PUBLIC_URL", "http://api.test")  # links: configured, not the Host
    reset_container()
    c = container()
    vid, run = new_video_id(), "20260101T000000Z-abcdef01"
    staging = local_env / "staging"
    c.media_store().publish(vid, run, write_documents(staging))
    ref = f"media://{vid}/{run}"
    c.store.create(
        completed_item(
            vid,
            run,
            outputPrefix=f"videos/{vid}/{run}",
            transcoding={"hls": {"masterUrl": f"{ref}/hls_master.m3u8"}},
            storyboard={"url": f"{ref}/storyboard.jpg", "vttUrl": f"{ref}/storyboard.vtt"},
        )
    )
    item = json.loads(client.http.get(f"/videos/{vid}", headers={"host": "evil.example"}).body)
    master_url = item["transcoding"]["hls"]["masterUrl"]
    assert master_url.startswith(f"http://api.test/videos/{vid}/stream/hls_master.m3u8?exp=")
    assert "/media/" + f"{vid}/{run}/storyboard.jpg?exp=" in item["storyboard"]["url"]
    master = client.http.get(master_url.removeprefix("http://api.test"))
    assert master.status_code == 200
    variant_ref = master.body.decode().splitlines()[-1]
    variant = client.http.get(f"/videos/{vid}/stream/{variant_ref}")
    assert variant.status_code == 200
    # a browser player (hls.js) on another origin may fetch playlists and segments
    assert variant.headers["Access-Control-Allow-Origin"] == "*"
    segment = next(line for line in variant.body.decode().splitlines() if "/media/" in line)
    assert segment.startswith(f"http://api.test/media/{vid}/{run}/hls_720p_00000.ts?exp=")
    unsigned = client.http.get(f"/videos/{vid}/stream/hls_720p.m3u8")
    assert unsigned.status_code == 403
    nope = c.renderer.stream_url(vid, "nope.m3u8").removeprefix(c.renderer.base_url())
    assert client.http.get(nope).status_code == 404


def test_tags_naming_a_file_are_signed_too() -> None:
    master = '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",URI="hls_audio.m3u8"\n'
    signed = rewrite_references(master, lambda name: f"{name}?sig=1")
    assert 'URI="hls_audio.m3u8?sig=1"' in signed
    odd = '#EXT-X-KEY:METHOD=AES-128,URI="https://elsewhere/key"\n'
    assert rewrite_references(odd, lambda name: "x") == odd  # not a published file: kept


def test_a_playable_processing_run_serves_its_prefix_playlists_from_s3(
    s3_bucket: tuple[Any, str], moto_endpoint: str, tmp_path: Path
) -> None:
    """AWS: the processor wrote `live_*` playlists into the run's prefix; the item records how
    many segments they cover; the route serves them under the final names (issue 24)."""
    import io

    s3, bucket = s3_bucket
    media = S3MediaStore(bucket, s3, presign_seconds=3600)
    vid, run = new_video_id(), "20260101T000000Z-abcdef01"
    event = VARIANT.replace("#EXT-X-ENDLIST\n", "").replace(
        "#EXTM3U", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT"
    )
    for name, text in (("live_master.m3u8", MASTER), ("live_720p_00001.m3u8", event)):
        media.write_stream(vid, run, name, io.BytesIO(text.encode()))
    store = SqliteVideoStore(tmp_path / "v.sqlite3")
    item = completed_item(vid, run, status="processing")
    del item["runId"]
    item["playback"] = {"hlsUrl": f"media://{vid}/{run}/hls_master.m3u8", "state": "partial"}
    item["segments"] = {"count": 3, "done": 2, "published": 1}
    store.create(item)
    renderer = MediaRenderer(lambda: media, UrlSigner(b"k" * 32, 3600))
    service = VideoService(store, None, None, None, renderer, lambda: media)  # type: ignore[arg-type]
    master, _ = service.stream_document(vid, "hls_master.m3u8")
    assert master.splitlines()[-1].startswith("hls_720p.m3u8?exp=")
    variant, _ = service.stream_document(vid, "hls_720p.m3u8")
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in variant and "#EXT-X-ENDLIST" not in variant
    assert f"{moto_endpoint}/{bucket}/videos/{vid}/{run}/hls_720p_00000.ts" in variant
    rendered = renderer.item(store.get(vid) or {})
    assert "/stream/hls_master.m3u8?exp=" in rendered["playback"]["hlsUrl"]

    from chalicelib.errors import NotFoundError

    store.update_fields(vid, {"segments": {"count": 3, "done": 2, "published": 2}}, {"processing"})
    with pytest.raises(NotFoundError):  # no playlist for that prefix (yet): never a made-up one
        service.stream_document(vid, "hls_720p.m3u8")
    with pytest.raises(NotFoundError):  # no storyboard before completion
        service.stream_document(vid, "storyboard.vtt")
