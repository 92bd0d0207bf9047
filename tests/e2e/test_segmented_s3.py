"""The segmented path on S3 (moto's server): no invocation holds the video on local disk.

Planning probes the source through a presigned URL (nothing downloaded); segment jobs read
their range over HTTP; assembly copies the HLS media inside S3 and streams each MP4 from the
scratch segments through ffmpeg into a multipart upload. Asserted on what the code asks S3 for
and on the high-water mark of the temp dir during each invocation.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import av
import pytest

from bench.bench_disk import PeakBytes
from chalicelib.config import Settings
from chalicelib.media_store.s3 import S3MediaStore
from chalicelib.media_store.scratch import S3ScratchStore, run_scratch
from chalicelib.processing import segmented
from chalicelib.processing.one_pass import new_run_id
from tests.e2e.test_local_workflow import clip

pytestmark = pytest.mark.slow

VID = "S3SegmentedVideo000001"
SECONDS = 14


class Calls:
    """Every S3 request the code sends through the client: (operation, key). Presigning sends
    nothing (what reads a presigned URL is ffmpeg or PyAV)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.log: list[tuple[str, str]] = []
        self.bucket = bucket
        s3.meta.events.register("before-send.s3", self._hook)

    def _hook(self, request: Any, event_name: str, **_: Any) -> None:
        path = unquote(urlsplit(request.url).path).lstrip("/")
        self.log.append((event_name.rsplit(".", 1)[-1], path.removeprefix(f"{self.bucket}/")))

    def take(self) -> list[tuple[str, str]]:
        out, self.log = self.log, []
        return out


@pytest.fixture
def run(moto_endpoint: str, tmp_path: Path) -> dict[str, Any]:
    import uuid

    import boto3
    from botocore.config import Config

    # A session of its own: the default one, once made, would lack the in-process moto hooks
    # that the local workflow engine's tests (later in the same process) rely on.
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="t",
        aws_secret_access_key="t", config=Config(signature_version="s3v4"),
    )  # fmt: skip
    bucket = f"media-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    src = clip(tmp_path / "long.mp4", seconds=SECONDS, size="320x180")
    s3.upload_file(str(src), bucket, "uploads/t/long.mp4")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    settings = replace(
        Settings.from_env({}), backend="aws", bucket=bucket, data_dir=tmp_path / "data",
        tmp_dir=tmp, whisper_model="off", segment_seconds=4, x264_preset="ultrafast",
    )  # fmt: skip
    return {"s3": s3, "bucket": bucket, "settings": settings, "tmp": tmp,
            "url": f"s3://{bucket}/uploads/t/long.mp4", "calls": Calls(s3, bucket),
            "scratch": S3ScratchStore(bucket, s3),
            "store": S3MediaStore(bucket, s3, presign_seconds=3600)}  # fmt: skip


def test_a_segmented_run_on_s3_never_holds_the_video_on_local_disk(run: dict[str, Any]) -> None:
    s3, bucket, settings, calls = run["s3"], run["bucket"], run["settings"], run["calls"]
    scratch, store, tmp = run["scratch"], run["store"], run["tmp"]
    run_id = new_run_id()

    with PeakBytes(tmp) as peak:
        prepared = segmented.prepare(VID, run_id, run["url"], settings, scratch, s3_client=s3)
    planned = prepared.planned
    assert planned is not None and planned["segments"] == 4
    # Probed through a presigned URL: the source object is only looked at, never fetched.
    assert {op for op, _ in calls.take()} == {"HeadObject", "PutObject"}
    # Nothing of the video on local disk: at most the per-title probe's own encodes of its sample
    # (raw H.264 and their VMAF logs, a second of the rungs, removed after), never a copy of it.
    source_bytes = s3.head_object(Bucket=bucket, Key="uploads/t/long.mp4")["ContentLength"]
    assert all(n.startswith("probe_") for n in peak.names), peak.names
    assert peak.peak < source_bytes, (peak.peak, source_bytes)  # less than the video itself

    for job in planned["jobs"]:
        segmented.run_job(VID, run_id, job, settings, scratch, s3_client=s3)
    encoded = [op for op, key in calls.take() if key.startswith("uploads/")]
    assert "GetObject" not in encoded  # segment jobs read their range over HTTP
    segment_files = [n for n in scratch.list(run_scratch(VID, run_id)) if n.endswith(".ts")]
    segment_bytes = sum(
        o["Size"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=run_scratch(VID, run_id))["Contents"]
        if o["Key"].endswith(".ts")
    )

    with PeakBytes(tmp) as peak:
        result = segmented.assemble(VID, run_id, settings, scratch, store, s3_client=s3)
    ops = calls.take()
    prefix = f"videos/{VID}/{run_id}/"
    copied = {key.removeprefix(prefix) for op, key in ops if op == "CopyObject"}
    assert copied == set(segment_files)  # every HLS segment copied inside S3
    uploaded = [key for op, key in ops if op in ("PutObject", "CreateMultipartUpload")]
    assert not [k for k in uploaded if k.endswith(".ts")]  # none passed through this host
    assert {f"{prefix}video_180p.mp4"} <= set(uploaded)  # streamed from ffmpeg's stdout
    # Local disk held playlists, tiles and the poster, never a segment or a rendition.
    media = [n for n in peak.names if n.endswith((".ts", ".mp4", ".mov"))]
    assert media == [] and 0 < peak.peak < segment_bytes, (media, peak.peak, segment_bytes)
    assert list(tmp.iterdir()) == []

    # The published run: playlists name objects that exist, the MP4 plays for the whole length.
    names = {o["Key"].removeprefix(prefix)
             for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}  # fmt: skip
    master = store.read_text(VID, run_id, "master.m3u8") or ""
    for playlist in [*re.findall(r"^(\S+\.m3u8)$", master, re.M), "hls_audio.m3u8"]:
        text = store.read_text(VID, run_id, playlist) or ""
        uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        assert uris and set(uris) <= names, playlist
        total = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text))
        assert abs(total - SECONDS) < 0.1, (playlist, total)
    with av.open(store.url(VID, run_id, "video_180p.mp4")) as c:
        assert abs(float(c.duration or 0) / 1e6 - SECONDS) < 0.1
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in c.decode(video=0)) == SECONDS * 25  # every frame once
    rendition = result["transcoding"]["formats"][0]
    assert rendition["height"] == 180 and rendition["size"] > 0
    assert 50 < rendition["vmaf"]["mean"] <= 100  # measured on the joined MP4 in S3
    assert scratch.list(run_scratch(VID, run_id)) == []  # scratch removed


def test_a_playable_run_on_s3_publishes_each_job_and_its_prefix_playlists(
    run: dict[str, Any],
) -> None:
    """Issue 24 in AWS: each job copies its HLS files into the run inside S3 (the processor's
    existing `videos/*` grants), the prefix playlists name only objects there, the assembly
    copies nothing again and its playlists list the same pieces, ended."""
    s3, bucket, calls = run["s3"], run["bucket"], run["calls"]
    scratch, store = run["scratch"], run["store"]
    settings = replace(run["settings"], playable_seconds=8, first_segment_seconds=4)
    run_id = new_run_id()
    planned = segmented.prepare(VID, run_id, run["url"], settings, scratch, s3_client=s3).planned
    assert planned is not None and planned["jobs"] == [0, -1, 1, 2, 3]  # the first segment first
    prefix = f"videos/{VID}/{run_id}/"
    calls.take()
    published = 0
    segmented.run_job(VID, run_id, 0, settings, scratch, s3_client=s3)
    assert segmented.publish_job(VID, run_id, 0, scratch, store, 0) is None  # no audio yet
    calls.take()
    for job in [-1, 2, 1, 3]:  # out of order: 2 waits for 1
        segmented.run_job(VID, run_id, job, settings, scratch, s3_client=s3)
        calls.take()
        live = segmented.publish_job(VID, run_id, job, scratch, store, published)
        ops = calls.take()
        assert any(op == "CopyObject" and k.startswith(prefix) for op, k in ops)
        # its own result, and the segments past the prefix gathered before (not all again)
        results = [k for op, k in ops if op == "GetObject" and re.search(r"seg\d{5}\.json$", k)]
        assert len(results) == {-1: 1, 2: 1, 1: 2, 3: 1}[job], (job, results)
        published = live.segments if live else published
        assert published == {-1: 1, 2: 1, 1: 3, 3: 4}[job]
    names = {o["Key"].removeprefix(prefix)
             for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}  # fmt: skip
    live_text = store.read_text(VID, run_id, "live_180p_00003.m3u8") or ""
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in live_text and "#EXT-X-ENDLIST" not in live_text
    live_uris = [ln for ln in live_text.splitlines() if ln and not ln.startswith("#")]
    assert live_uris == [f"hls_180p_{i:05d}.ts" for i in range(3)] and set(live_uris) <= names

    segmented.assemble(VID, run_id, settings, scratch, store, s3_client=s3)
    assert not [k for op, k in calls.take() if op == "CopyObject"]  # in the run already
    final = store.read_text(VID, run_id, "hls_180p.m3u8") or ""
    last = store.read_text(VID, run_id, "live_180p_00004.m3u8") or ""
    assert "#EXT-X-ENDLIST" in final and "#EXT-X-PLAYLIST-TYPE:VOD" in final
    assert final.replace("VOD", "EVENT").replace("#EXT-X-ENDLIST\n", "") == last
