"""Fast tests of the pure parts: planning, parsing, throttling, paths, stores."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from chalicelib.media import analysis, subtitles, thumbnails
from chalicelib.media.errors import MediaError
from chalicelib.media.fetch import fetch_source, resolve_local_source
from chalicelib.media.ffmpeg import parse_progress_seconds
from chalicelib.media.probe import ProbeResult
from chalicelib.media.transcode import plan_ladder
from chalicelib.media.whisper_model import resolve_whisper_model
from chalicelib.media_store.base import content_type
from chalicelib.media_store.local import LocalMediaStore
from chalicelib.media_store.s3 import S3MediaStore
from chalicelib.processing.one_pass import ProgressReporter, new_run_id

VID = "AbCdEfGhIjKlMnOpQrSt_-"


def info(w: int, h: int, duration: float = 10.0, audio: bool = True) -> ProbeResult:
    return ProbeResult("mov,mp4", duration, w, h, w, h, 0, 25.0, "h264",
                       "aac" if audio else None, audio, 1_000_000, "yuv420p")  # fmt: skip


# --- ladder -------------------------------------------------------------------------------


def test_ladder_for_1080p_source_has_three_rungs_top_first() -> None:
    rungs = plan_ladder(1920, 1080)
    assert [(r.quality, r.width, r.height) for r in rungs] == [
        ("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480),
    ]  # fmt: skip


def test_ladder_never_upscales_and_stops_at_source_height() -> None:
    assert [r.quality for r in plan_ladder(1280, 720)] == ["720p", "480p"]
    assert [r.quality for r in plan_ladder(1000, 562)] == ["480p"]


def test_source_below_480p_gets_one_native_rendition() -> None:
    rungs = plan_ladder(640, 360)
    assert [(r.quality, r.width, r.height) for r in rungs] == [("360p", 640, 360)]


def test_portrait_rungs_are_named_by_the_short_side_and_keep_aspect() -> None:
    rungs = plan_ladder(1080, 1920)
    assert [(r.quality, r.width, r.height) for r in rungs] == [
        ("1080p", 1080, 1920), ("720p", 720, 1280), ("480p", 480, 854),
    ]  # fmt: skip


def test_odd_sizes_become_even() -> None:
    for r in plan_ladder(1279, 719) + plan_ladder(333, 201):
        assert r.width % 2 == 0 and r.height % 2 == 0


# --- ffmpeg progress and the throttled reporter ---------------------------------------------


def test_progress_lines_parse_microseconds() -> None:
    assert parse_progress_seconds("out_time_us=2500000\n") == 2.5
    assert parse_progress_seconds("out_time_ms=1000000") == 1.0
    assert parse_progress_seconds("out_time_us=N/A") is None
    assert parse_progress_seconds("frame=12") is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_reporter_throttles_to_one_call_per_two_seconds_and_never_goes_back() -> None:
    calls: list[int] = []
    clock = FakeClock()
    rep = ProgressReporter(calls.append, clock=clock)
    rep.report(5)
    rep.report(10)  # same instant: dropped
    clock.now += 1.9
    rep.report(20)  # too soon: dropped
    clock.now += 0.2
    rep.report(30)
    clock.now += 5
    rep.report(25)  # lower: dropped
    rep.report(140)  # clamped
    assert calls == [5, 30, 100]


# --- storyboard ---------------------------------------------------------------------------


def test_storyboard_plan_and_vtt_cover_the_duration_with_xywh_fragments() -> None:
    plan = thumbnails.plan_storyboard(info(1280, 720, duration=25.0))
    assert (plan.interval, plan.count, plan.columns, plan.rows) == (1.0, 25, 10, 3)
    assert (plan.tile_width, plan.tile_height) == (160, 90)
    vtt = thumbnails.storyboard_vtt(plan, 25.0, "storyboard.jpg")
    assert vtt.startswith("WEBVTT")
    assert "00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,160,90" in vtt
    assert "00:00:24.000 --> 00:00:25.000\nstoryboard.jpg#xywh=640,180,160,90" in vtt


def test_long_videos_keep_at_most_100_tiles() -> None:
    plan = thumbnails.plan_storyboard(info(1920, 1080, duration=3 * 3600))
    assert plan.count == 100 and plan.interval == 108.0


def test_black_detection_on_luma_planes() -> None:
    assert thumbnails.is_black(bytes([16] * 576))
    assert not thumbnails.is_black(bytes([16] * 500 + [200] * 76))


# --- analysis log parsing ----------------------------------------------------------------------

LOG = """
[Parsed_scdet_3 @ 0x1] lavfi.scd.score: 40.345, lavfi.scd.time: 2
[Parsed_silencedetect_8 @ 0x2] silence_start: 2
[Parsed_silencedetect_8 @ 0x2] silence_end: 3.0 | silence_duration: 1.0
[Parsed_blackdetect_2 @ 0x3] black_start:2 black_end:3 black_duration:1
[Parsed_scdet_3 @ 0x1] lavfi.scd.score: 50.292, lavfi.scd.time: 3
[Parsed_silencedetect_8 @ 0x2] silence_start: 4.5
[Parsed_ebur128_9 @ 0x4] Summary:

  Integrated loudness:
    I:         -22.1 LUFS
    Threshold: -32.2 LUFS

  Loudness range:
    LRA:         1.3 LU

  True peak:
    Peak:       -17.6 dBFS
"""


def test_signal_log_becomes_scenes_black_silence_and_loudness() -> None:
    s = analysis.parse_signals(LOG, duration=5.0, has_audio=True)
    assert [(x["start"], x["end"]) for x in s.scenes] == [(0.0, 2.0), (2.0, 3.0), (3.0, 5.0)]
    assert all(0 < x["confidence"] <= 1 for x in s.scenes)
    assert s.black_segments == [{"start": 2.0, "end": 3.0, "duration": 1.0}]
    # The silence still open at the end closes at the duration.
    assert s.silences == [
        {"start": 2.0, "end": 3.0, "duration": 1.0},
        {"start": 4.5, "end": 5.0, "duration": 0.5},
    ]
    assert s.loudness == {"integratedLufs": -22.1, "loudnessRangeLu": 1.3,
                          "truePeakDbfs": -17.6, "standard": "EBU R128"}  # fmt: skip


def test_no_audio_means_no_silences_and_no_loudness() -> None:
    s = analysis.parse_signals(LOG, duration=5.0, has_audio=False)
    assert s.silences == [] and s.loudness is None


def test_keyframes_one_per_scene_longest_first_capped() -> None:
    scenes = [
        {"start": float(i), "end": float(i) + 1 + (i % 3), "confidence": 1.0} for i in range(30)
    ]
    times = analysis.keyframe_times(scenes, limit=5)
    assert len(times) == 5 and times == sorted(times)


# --- subtitles documents --------------------------------------------------------------------


def test_vtt_and_srt_documents() -> None:
    cues = [subtitles.Cue(0.0, 1.5, "Hello there."), subtitles.Cue(61.25, 63.0, "Bye.")]
    assert subtitles.to_vtt(cues) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n"
        "00:01:01.250 --> 00:01:03.000\nBye.\n"
    )
    assert subtitles.to_srt(cues).startswith(
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n"
    )
    assert subtitles.Transcript(cues, "en", 0.9).word_count == 3


# --- fetch: roots, traversal, symlinks, size --------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    inbox = tmp_path / "inbox"
    outside = tmp_path / "outside"
    inbox.mkdir()
    outside.mkdir()
    (inbox / "ok.mp4").write_bytes(b"x" * 100)
    (outside / "secret.mp4").write_bytes(b"s" * 10)
    return inbox, outside


def test_fetch_copies_into_fixed_name(roots: tuple[Path, Path], tmp_path: Path) -> None:
    inbox, _ = roots
    dest = tmp_path / "work"
    dest.mkdir()
    got = fetch_source((inbox / "ok.mp4").as_uri(), dest, source_roots=[inbox], max_bytes=1000)
    assert got == dest / "source" and got.read_bytes() == b"x" * 100


@pytest.mark.parametrize(
    "path_of",
    [
        lambda inbox, outside: f"file://{inbox}/../outside/secret.mp4",
        lambda inbox, outside: f"file://{inbox}/%2e%2e/outside/secret.mp4",
        lambda inbox, outside: f"file://{outside}/secret.mp4",
        lambda inbox, outside: "file:///etc/passwd",
    ],
)
def test_fetch_rejects_paths_outside_the_roots(roots: tuple[Path, Path], tmp_path: Path,
                                               path_of: object) -> None:  # fmt: skip
    inbox, outside = roots
    url = path_of(inbox, outside)  # type: ignore[operator]
    with pytest.raises(MediaError) as err:
        fetch_source(url, tmp_path, source_roots=[inbox], max_bytes=1000)
    assert err.value.code == "SourceOutsideRoots"
    assert not (tmp_path / "source").exists()


def test_fetch_resolves_symlinks_before_checking_roots(roots: tuple[Path, Path]) -> None:
    inbox, outside = roots
    os.symlink(outside / "secret.mp4", inbox / "link.mp4")
    with pytest.raises(MediaError) as err:
        resolve_local_source(str(inbox / "link.mp4"), [inbox])
    assert err.value.code == "SourceOutsideRoots"


def test_fetch_missing_file_and_size_limit_and_scheme(roots: tuple[Path, Path],
                                                     tmp_path: Path) -> None:  # fmt: skip
    inbox, _ = roots
    with pytest.raises(MediaError) as err:
        fetch_source(f"file://{inbox}/nope.mp4", tmp_path, source_roots=[inbox], max_bytes=10)
    assert err.value.code == "SourceNotFound"
    with pytest.raises(MediaError) as err:
        fetch_source(f"file://{inbox}/ok.mp4", tmp_path, source_roots=[inbox], max_bytes=99)
    assert err.value.code == "SourceTooLarge"
    with pytest.raises(MediaError) as err:
        fetch_source("http://example.com/a.mp4", tmp_path, source_roots=[inbox], max_bytes=10)
    assert err.value.code == "UnsupportedSource"


@mock_aws
def test_fetch_from_s3_with_size_limit_and_missing_key(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="inbox-bucket")
    s3.put_object(Bucket="inbox-bucket", Key="up/clip.mp4", Body=b"v" * 50)
    got = fetch_source("s3://inbox-bucket/up/clip.mp4", tmp_path, source_roots=[], max_bytes=100,
                       s3_client=s3)  # fmt: skip
    assert got.read_bytes() == b"v" * 50
    with pytest.raises(MediaError) as err:
        fetch_source(
            "s3://inbox-bucket/up/clip.mp4", tmp_path, source_roots=[], max_bytes=10, s3_client=s3
        )
    assert err.value.code == "SourceTooLarge"
    with pytest.raises(MediaError) as err:
        fetch_source(
            "s3://inbox-bucket/none.mp4", tmp_path, source_roots=[], max_bytes=10, s3_client=s3
        )
    assert err.value.code == "SourceNotFound"


# --- media stores ---------------------------------------------------------------------------


def _files(tmp_path: Path, *names: str) -> list[Path]:
    d = tmp_path / "out"
    d.mkdir(exist_ok=True)
    for n in names:
        (d / n).write_text(n)
    return [d / n for n in names]


def test_local_store_publishes_a_run_atomically_and_deletes_other_runs(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:8000/")
    first = new_run_id()
    assert store.publish(VID, first, _files(tmp_path, "poster.jpg")) == f"videos/{VID}/{first}"
    second = new_run_id()
    store.publish(VID, second, _files(tmp_path, "poster.jpg", "hls_720p_00001.ts"))
    assert store.list_runs(VID) == sorted([first, second])
    assert store.url(VID, second, "poster.jpg") == (
        f"http://127.0.0.1:8000/media/{VID}/{second}/poster.jpg"
    )
    path = store.resolve(VID, second, "hls_720p_00001.ts")
    assert path is not None and path.read_text() == "hls_720p_00001.ts"
    assert store.delete_other_runs(VID, second) == [first]
    assert store.list_runs(VID) == [second]
    assert store.resolve(VID, first, "poster.jpg") is None
    assert not list((tmp_path / "media" / ".staging").iterdir())


@pytest.mark.parametrize(
    ("video_id", "run_id", "name"),
    [
        (VID, "r1", "../../etc/passwd"),
        (VID, "r1", ".."),
        (VID, "r1", "..%2fposter.jpg"),
        (VID, "..", "poster.jpg"),
        ("..", "r1", "poster.jpg"),
        (VID, "r1", "poster.jpg/"),
        (VID, "r1", ".hidden.jpg"),
        (VID, "r1", "poster.exe"),
        (VID, "r1", "a/b.jpg"),
        (VID, "r1", "poster.jpg\x00.png"),
        (VID, "r1", "nope.jpg"),
    ],
)
def test_local_store_resolve_rejects_traversal_and_odd_names(
    tmp_path: Path, video_id: str, run_id: str, name: str
) -> None:
    store = LocalMediaStore(tmp_path / "media")
    store.publish(VID, "r1", _files(tmp_path, "poster.jpg"))
    assert store.resolve(video_id, run_id, name) is None


def test_local_store_resolve_refuses_symlinks(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    store.publish(VID, "r1", _files(tmp_path, "poster.jpg"))
    (tmp_path / "secret.json").write_text("{}")
    os.symlink(tmp_path / "secret.json", tmp_path / "media" / "videos" / VID / "r1" / "x.json")
    assert store.resolve(VID, "r1", "x.json") is None
    assert store.resolve(VID, "r1", "poster.jpg") is not None


def test_publish_rejects_unsafe_names(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    with pytest.raises(ValueError, match="invalid"):
        store.publish(VID, "r1", _files(tmp_path, "source"))


def test_content_types() -> None:
    assert content_type("hls_master.m3u8") == "application/vnd.apple.mpegurl"
    assert content_type("hls_720p_00001.ts") == "video/mp2t"
    assert content_type("video_720p.mp4") == "video/mp4"
    assert content_type("poster.jpg") == "image/jpeg"
    assert content_type("subtitles.vtt").startswith("text/vtt")
    assert content_type("subtitles.srt").startswith("application/x-subrip")
    assert content_type("analysis.json") == "application/json"
    assert content_type("x.bin") == "application/octet-stream"


@mock_aws
def test_s3_store_publishes_under_run_prefix_presigns_and_deletes_other_runs(
    tmp_path: Path,
) -> None:
    # SigV4 (what the processor's client must use): SigV2 URLs cannot live 7 days.
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(signature_version="s3v4"))
    s3.create_bucket(Bucket="media")
    store = S3MediaStore("media", s3, presign_seconds=3600)
    assert store.publish(VID, "r1", _files(tmp_path, "poster.jpg")) == f"videos/{VID}/r1"
    store.publish(VID, "r2", _files(tmp_path, "hls_master.m3u8"))
    head = s3.head_object(Bucket="media", Key=f"videos/{VID}/r2/hls_master.m3u8")
    assert head["ContentType"] == "application/vnd.apple.mpegurl"
    url = store.url(VID, "r2", "hls_master.m3u8")
    assert url.startswith("https://") and "X-Amz-Signature=" in url
    assert store.list_runs(VID) == ["r1", "r2"]
    assert store.delete_other_runs(VID, "r2") == ["r1"]
    assert store.list_runs(VID) == ["r2"]
    store.delete_video(VID)
    assert store.list_runs(VID) == []


# --- whisper model configuration -----------------------------------------------------------------


def test_whisper_model_configuration(tmp_path: Path) -> None:
    assert resolve_whisper_model("off", tmp_path).model is None
    missing = resolve_whisper_model(str(tmp_path / "nope") + "/", tmp_path)
    assert missing.model is None and "does not exist" in missing.reason
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "model.bin" in resolve_whisper_model(str(empty), tmp_path).reason
    (empty / "model.bin").write_bytes(b"m")
    assert resolve_whisper_model(str(empty), tmp_path).model == str(empty)
    assert resolve_whisper_model("base", tmp_path).model == "base"


def test_packaged_whisper_model_is_assembled_once(tmp_path: Path) -> None:
    first = resolve_whisper_model("", tmp_path)
    assert first.model == str(tmp_path / "models" / "whisper-base")
    model_bin = Path(first.model) / "model.bin"
    assert model_bin.stat().st_size == 94371840 + 50845767
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        assert (Path(first.model) / name).is_file()
    mtime = model_bin.stat().st_mtime_ns
    assert resolve_whisper_model("", tmp_path).model == first.model
    assert model_bin.stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["whisper-base"]  # no staging left


def test_importing_the_processing_entry_point_loads_no_heavy_media_library() -> None:
    import subprocess
    import sys

    heavy = ("av", "cv2", "numpy", "rapidocr", "faster_whisper", "imageio_ffmpeg", "ctranslate2")
    code = (
        "import sys, chalicelib.processing.one_pass, chalicelib.media_store.base,"
        " chalicelib.processing.pipeline, chalicelib.processing.segmented\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "[]"


def test_warm_vision_loads_both_engines_and_never_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The segmented assembly warms the vision engines beside its joins: they are then cached
    for analyse_vision, and a failure to load is left for the vision stage to report."""
    loads: list[str] = []
    monkeypatch.setattr(analysis, "_face_detector", lambda: loads.append("faces"))

    def broken() -> None:
        loads.append("ocr")
        raise RuntimeError("model file is damaged")

    monkeypatch.setattr(analysis, "_ocr_engine", broken)
    analysis.warm_vision()  # no exception: the vision stage reports it when it runs
    assert loads == ["faces", "ocr"]
