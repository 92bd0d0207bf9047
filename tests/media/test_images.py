"""Images on demand (issue 26 A): thumbnails and animated previews, on both backends.

A completed run is staged directly (one small 2 s-GOP rendition published through the media
store, the item switched to completed), so no test pays for processing. Pictures are compared
with the rendition's own decoded frames (PSNR).
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from chalicelib.media_store.base import MediaRef
from tests.core.backends import Backend, open_backend

pytestmark = pytest.mark.slow
W, H, FPS, SECONDS = 320, 180, 25, 4.0


@pytest.fixture(scope="module")
def rendition(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s 320x180 H.264 MP4 with 2 s GOPs, like a run's top rendition (every frame differs)."""
    out = tmp_path_factory.mktemp("images") / "720p.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i",
         f"testsrc2=size={W}x{H}:rate={FPS}:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FPS), "-keyint_min", str(2 * FPS),
         "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)],
        check=True,
    )  # fmt: skip
    return out


def frame_at(ffmpeg: str, clip: Path, time: float) -> np.ndarray:
    """The clip's decoded frame at `time` (the first at or after it), RGB, full size."""
    raw = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(clip), "-vf", f"select=gte(t\\,{time}),setsar=1",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(H, W, 3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture
def local_api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend("local", request, tmp_path, monkeypatch)


@pytest.fixture(params=["local", "aws"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    yield from open_backend(request.param, request, tmp_path, monkeypatch)


def completed(api: Backend, rendition: Path, tmp_path: Path) -> dict[str, Any]:
    """A video whose completed run holds `rendition` as its only (top) rendition."""
    item = api.create(title="Été: a test/clip")
    run_id = "run1"
    (tmp_path / item["id"]).mkdir()
    staged = tmp_path / item["id"] / "720p.mp4"
    staged.write_bytes(rendition.read_bytes())
    audio = tmp_path / item["id"] / "audio.m4a"
    audio.write_bytes(b"stands in for the audio")
    api.container.media_store().publish(item["id"], run_id, [staged, audio])
    ref = str(MediaRef(item["id"], run_id, "720p.mp4"))
    audio_ref = str(MediaRef(item["id"], run_id, "audio.m4a"))
    fields = {
        "runId": run_id,
        "outputPrefix": f"videos/{item['id']}/{run_id}",
        "thumbnail": {"captureTime": 1.0},
        "transcoding": {
            "formats": [{"quality": "720p", "width": W, "height": H, "url": ref, "size": 1}],
            "duration": SECONDS,
        },
        "downloads": [
            {"quality": "720p", "format": "mp4", "url": ref, "size": 1},
            {"quality": "audio", "format": "m4a", "url": audio_ref, "size": 1},
        ],
    }
    api.store.transition(item["id"], {"uploaded"}, "completed", set_fields=fields)
    return item


def test_downloads_are_attachments_named_after_the_title(
    api: Backend, rendition: Path, tmp_path: Path
) -> None:
    import urllib.request

    video = completed(api, rendition, tmp_path)
    item = json.loads(api.get(f"/videos/{video['id']}").body)
    answers = {}
    for entry in item["downloads"]:
        parts = urlsplit(entry["url"])
        if api.name == "local":
            from chalicelib.media_store.base import content_type

            accept = {"Accept": content_type(parts.path)}
            resp = api.client.http.get(f"{parts.path}?{parts.query}", headers=accept)
            assert resp.status_code == 200, resp.body
            answers[entry["quality"]] = resp.headers["Content-Disposition"]
        else:
            with urllib.request.urlopen(entry["url"]) as resp:
                answers[entry["quality"]] = resp.headers["Content-Disposition"]
    assert answers == {
        "720p": 'attachment; filename="Ete_ a test_clip-720p.mp4"; '
        "filename*=UTF-8''%C3%89t%C3%A9_%20a%20test_clip-720p.mp4",
        "audio": 'attachment; filename="Ete_ a test_clip-audio.m4a"; '
        "filename*=UTF-8''%C3%89t%C3%A9_%20a%20test_clip-audio.m4a",
    }


def fetch(api: Backend, location: str) -> bytes:
    """The render behind a redirect: the local /media route, or the presigned S3 object."""
    parts = urlsplit(location)
    if api.name == "local":
        from chalicelib.media_store.base import content_type

        accept = {"Accept": content_type(parts.path)}
        resp = api.client.http.get(f"{parts.path}?{parts.query}", headers=accept)
        assert resp.status_code == 200, resp.body
        # The media view hands the file to the streaming server (make run): read what it names.
        from chalicelib.api.local_media import HANDOFF_HEADER, parse_handoff

        named = parse_handoff(resp.headers[HANDOFF_HEADER])
        files = api.container.local_media()
        assert named is not None and files is not None
        path = files.resolve(*named)
        assert path is not None
        return path.read_bytes()
    key = parts.path.split(f"/{api.bucket}/", 1)[1] if f"/{api.bucket}/" in parts.path else ""
    key = key or parts.path.lstrip("/")
    body = api.container.s3_client().get_object(Bucket=api.bucket, Key=key)["Body"].read()
    return bytes(body)


def test_thumbnail_matches_the_frame_and_is_cached(
    api: Backend, rendition: Path, tmp_path: Path, ffmpeg: str
) -> None:
    video = completed(api, rendition, tmp_path)
    path = f"/videos/{video['id']}/thumbnail.png?time=2.6"
    first = api.get(path)
    assert first.status_code == 302, first.body
    location = first.headers["Location"]
    image = np.asarray(Image.open(io.BytesIO(fetch(api, location))).convert("RGB"))
    assert image.shape == (H, W, 3)
    assert psnr(image, frame_at(ffmpeg, rendition, 2.6)) > 35  # the same frame (PNG: lossless)
    assert psnr(image, frame_at(ffmpeg, rendition, 1.0)) < 25  # and not another one

    # The second request is a cache hit: no render (the renderer would fail now).
    def no_render(event: Any) -> Any:
        raise AssertionError("rendered again")

    images, render = api.container.images, api.container.images._render
    images._render = no_render
    again = api.get(path)
    assert again.status_code == 302
    assert urlsplit(again.headers["Location"]).path == urlsplit(location).path
    images._render = render

    # Default time: the poster's; scaled to a box.
    jpg = api.get(f"/videos/{video['id']}/thumbnail.jpg?width=100&height=100&fit=pad")
    assert jpg.status_code == 302, jpg.body
    assert Image.open(io.BytesIO(fetch(api, jpg.headers["Location"]))).size == (100, 100)


def test_image_signature_and_animated_preview(
    api: Backend, rendition: Path, tmp_path: Path
) -> None:
    def anonymous(path: str) -> Any:  # as an <img> asks: no Authorization header
        return api.client.http.get(path, headers={"Authorization": ""})

    video = completed(api, rendition, tmp_path)
    item = json.loads(api.get(f"/videos/{video['id']}").body)
    images = item["images"]
    # One signature per video: any time/size/format, without a token (an <img>).
    sig = images["signature"]
    url = f"/videos/{video['id']}/thumbnail.webp?width=160&{sig}"
    ok = anonymous(url)
    assert ok.status_code == 302, ok.body
    assert Image.open(io.BytesIO(fetch(api, ok.headers["Location"]))).size == (160, 90)
    anim = anonymous(f"/videos/{video['id']}/animated.gif?start=1&end=2&width=160&fps=10&{sig}")
    assert anim.status_code == 302, anim.body
    gif = Image.open(io.BytesIO(fetch(api, anim.headers["Location"])))
    assert gif.size == (160, 90) and getattr(gif, "n_frames", 0) == 10
    # Another video's signature, a tampered one, or none at all: refused.
    other = completed(api, rendition, tmp_path)
    stolen = anonymous(f"/videos/{other['id']}/thumbnail.jpg?{sig}")
    assert stolen.status_code == 403
    exp = parse_qs(sig)["exp"][0]
    bad = anonymous(f"/videos/{video['id']}/thumbnail.jpg?exp={exp}&sig=AAAA")
    assert bad.status_code == 403
    assert anonymous(f"/videos/{video['id']}/thumbnail.jpg").status_code == 401


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("time=4.0", "TimeOutOfRange"),
        ("time=99", "TimeOutOfRange"),
        ("fit=squash", None),
        ("width=100000", None),
        ("width=0", None),
        ("height=-5", None),
        ("time=abc", None),
        ("colour=red", None),
    ],
)
def test_thumbnail_bad_parameters(
    query: str, reason: str | None, rendition: Path, tmp_path: Path, local_api: Backend
) -> None:
    api = local_api
    video = completed(api, rendition, tmp_path)
    resp = api.get(f"/videos/{video['id']}/thumbnail.jpg?{query}")
    assert resp.status_code == 400, resp.body
    error = json.loads(resp.body)["error"]
    assert error["code"] == "ValidationError"
    if reason:
        assert error["details"]["reason"] == reason


@pytest.mark.parametrize(
    "query",
    ["start=0&end=11", "start=3&end=2", "width=641", "fps=31", "start=5", "end=4.5"],
)
def test_animated_bad_parameters(
    query: str, rendition: Path, tmp_path: Path, local_api: Backend
) -> None:
    api = local_api
    video = completed(api, rendition, tmp_path)
    resp = api.get(f"/videos/{video['id']}/animated.webp?{query}")
    assert resp.status_code == 400, resp.body


def test_not_completed_is_409(api: Backend) -> None:
    video = api.create()
    resp = api.get(f"/videos/{video['id']}/thumbnail.jpg")
    assert resp.status_code == 409
    assert json.loads(resp.body)["error"]["code"] == "VideoNotCompleted"
