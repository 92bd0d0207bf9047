"""The real pipeline on generated clips: ffmpeg, PyAV, OpenCV, rapidocr and faster-whisper."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import cv2
import pytest

from chalicelib.config import Settings
from chalicelib.media import analysis, subtitles, thumbnails, transcode
from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import run_ffmpeg
from chalicelib.media.probe import probe
from chalicelib.media.whisper_model import resolve_whisper_model
from chalicelib.media_store.base import MediaRef
from chalicelib.media_store.local import LocalMediaStore
from chalicelib.processing.one_pass import run_processing
from tests.media import reference
from tests.media.conftest import FIXTURES, into_inbox

pytestmark = pytest.mark.slow
VID = "AbCdEfGhIjKlMnOpQrSt_-"


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The packaged base model, assembled once for the session."""
    choice = resolve_whisper_model("", tmp_path_factory.mktemp("whisper-data"))
    assert choice.model is not None, choice.reason
    return choice.model


def work_dir_with(clip: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copyfile(clip, work / "source")
    return work


def decode_first_frame(path: Path) -> Any:
    with av.open(str(path)) as c:
        return next(c.decode(video=0))


def parse_master(text: str) -> list[tuple[str, str]]:
    """(RESOLUTION, uri) of each variant in an HLS master playlist."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    out = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(a.split("=", 1) for a in line.split(":", 1)[1].split(",") if "=" in a)
            out.append((attrs["RESOLUTION"], lines[i + 1]))
    return out


def media_path(store: LocalMediaStore, ref: str) -> Path:
    """Map a stored media reference to its file through the API's resolver."""
    parsed = MediaRef.parse(ref)
    assert parsed is not None, ref
    path = store.resolve(parsed.video_id, parsed.run_id, parsed.name)
    assert path is not None, ref
    return path


# --- the whole run -------------------------------------------------------------------------------


def test_full_run_on_720p_clip_with_cuts_black_and_silence(
    scenes_clip: Path, media_settings: Settings, tmp_path: Path
) -> None:
    settings = replace(media_settings, whisper_model="off")
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    work_root = tmp_path / "work-root"
    calls: list[tuple[float, int]] = []
    result = run_processing(
        VID,
        into_inbox(settings, scenes_clip, "My Holiday; rm -rf ~ $(x).mp4"),
        settings,
        store,
        lambda p: calls.append((time.monotonic(), p)),
        work_root=work_root,
    )

    media = result["media"]
    assert (media["width"], media["height"], media["videoCodec"], media["audioCodec"]) == (
        1280, 720, "h264", "aac",
    )  # fmt: skip
    assert media["duration"] == pytest.approx(5.0, abs=0.1) and media["fps"] == 25.0

    # Ladder stops at the source height; every output is a playable H.264/AAC MP4.
    formats = result["transcoding"]["formats"]
    assert [(f["quality"], f["width"], f["height"]) for f in formats] == [
        ("720p", 1280, 720), ("480p", 854, 480),
    ]  # fmt: skip
    for f in formats:
        path = media_path(store, f["url"])
        assert f["size"] == path.stat().st_size > 0 and f["bitrate"] > 0
        with av.open(str(path)) as c:
            assert c.streams.video[0].codec_context.name == "h264"
            assert c.streams.audio[0].codec_context.name == "aac"
            assert c.duration is not None
            assert float(c.duration) / 1e6 == pytest.approx(5.0, abs=0.15)
            frame = next(c.decode(video=0))
            assert (frame.width, frame.height) == (f["width"], f["height"])
        # +faststart: the moov box comes before the media data.
        head = path.read_bytes()[:4096]
        assert 0 <= head.find(b"moov") < max(head.find(b"mdat"), 4096)

    # HLS master lists the same variants; each variant's segments exist and decode.
    master = media_path(store, result["transcoding"]["hls"]["masterUrl"])
    variants = parse_master(master.read_text())
    assert variants == [("1280x720", "hls_720p.m3u8"), ("854x480", "hls_480p.m3u8")]
    for _, uri in variants:
        playlist = (master.parent / uri).read_text()
        assert "#EXT-X-ENDLIST" in playlist
        segments = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]
        assert segments and all((master.parent / s).is_file() for s in segments)
        assert decode_first_frame(master.parent / segments[0]) is not None
    assert all(p.is_file() for p in master.parent.iterdir())  # one flat directory

    # Poster: real JPEG of the announced size, not black.
    thumb = result["thumbnail"]
    img = cv2.imread(str(media_path(store, thumb["url"])))
    assert img is not None
    assert img.shape[:2] == (thumb["height"], thumb["width"])
    assert img.mean() > 40 and thumb["captureTime"] == pytest.approx(0.5, abs=0.05)

    # Storyboard sprite + VTT index.
    sb = result["storyboard"]
    sprite = cv2.imread(str(media_path(store, sb["url"])))
    assert sprite is not None
    assert sprite.shape[:2] == (sb["rows"] * sb["tileHeight"], sb["columns"] * sb["tileWidth"])
    vtt = media_path(store, sb["vttUrl"]).read_text()
    assert vtt.startswith("WEBVTT") and vtt.count("#xywh=") == sb["count"] == 5

    # Analysis: cuts at 2 s and 3 s, black [2,3), silence [2,3), finite loudness.
    an = result["analysis"]
    starts = [s["start"] for s in an["scenes"]]
    assert len(starts) == 3 and starts[0] == 0.0
    assert starts[1] == pytest.approx(2.0, abs=0.1) and starts[2] == pytest.approx(3.0, abs=0.1)
    assert len(an["blackSegments"]) == 1
    assert an["blackSegments"][0]["start"] == pytest.approx(2.0, abs=0.1)
    assert an["blackSegments"][0]["end"] == pytest.approx(3.0, abs=0.1)
    assert len(an["silences"]) == 1
    assert an["silences"][0]["start"] == pytest.approx(2.0, abs=0.1)
    assert an["silences"][0]["end"] == pytest.approx(3.0, abs=0.1)
    assert -40 < an["loudness"]["integratedLufs"] < -5
    assert an["faces"] == [] and isinstance(an["text"], list)
    # testsrc2 draws a running timecode: OCR reads it on the first scene's keyframe.
    assert any(":" in line["text"] for hit in an["text"] for line in hit["lines"])

    # Subtitles disabled: reported skipped with a reason, every other stage completed.
    assert (
        result["subtitles"]["status"] == "skipped" and "disabled" in result["subtitles"]["reason"]
    )
    stages = result["stages"]
    assert stages["subtitles"]["status"] == "skipped"
    for name in ("fetch", "probe", "transcode", "thumbnail", "analysis", "vision", "publish"):
        assert stages[name]["status"] == "completed", (name, stages[name])
        assert stages[name]["ms"] >= 0
    assert result["processingTimeMs"] > 0
    assert result["outputPrefix"] == f"videos/{VID}/{result['runId']}"

    # Progress: rising percentages, at least 2 s apart; the private temp dir is gone.
    values = [p for _, p in calls]
    assert values and values == sorted(set(values)) and all(0 <= p <= 100 for p in values)
    assert all(b[0] - a[0] >= 1.99 for a, b in itertools.pairwise(calls))
    assert list(work_root.iterdir()) == []


def test_reprocessing_publishes_a_new_run_and_old_runs_can_be_dropped(
    tiny_clip: Path, media_settings: Settings, whisper_dir: str
) -> None:
    settings = replace(media_settings, whisper_model=whisper_dir)
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    url = into_inbox(settings, tiny_clip)
    first = run_processing(VID, url, settings, store, lambda p: None)
    second = run_processing(VID, url, settings, store, lambda p: None)
    assert first["runId"] != second["runId"]
    assert store.list_runs(VID) == sorted([first["runId"], second["runId"]])
    assert store.delete_other_runs(VID, second["runId"]) == [first["runId"]]
    assert media_path(store, second["thumbnail"]["url"]).is_file()
    assert store.resolve(VID, first["runId"], "poster.jpg") is None
    # A sine tone is no speech: empty subtitles, not a failure.
    subs = second["subtitles"]
    assert subs["status"] == "completed" and subs["wordCount"] == 0 and subs["language"] is None
    assert media_path(store, subs["vttUrl"]).read_text().startswith("WEBVTT")


def test_speech_becomes_subtitles_with_language_and_words(
    speech_clip: Path, media_settings: Settings, whisper_dir: str
) -> None:
    settings = replace(media_settings, whisper_model=whisper_dir)
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    result = run_processing(VID, into_inbox(settings, speech_clip), settings, store, lambda p: None)
    subs = result["subtitles"]
    assert subs["status"] == "completed" and subs["language"] == "en"
    vtt = media_path(store, subs["vttUrl"]).read_text()
    srt = media_path(store, subs["srtUrl"]).read_text()
    text = vtt.lower()
    for word in ("quick", "brown", "fox", "lazy", "dog", "tomorrow", "station"):
        assert word in text, (word, vtt)
    assert vtt.startswith("WEBVTT\n\n00:00:0") and " --> " in vtt
    assert srt.startswith("1\n00:00:0") and "," in srt.splitlines()[1]
    assert 14 <= subs["wordCount"] <= 20  # the sentence has 17 words


def test_video_without_audio_completes_with_empty_subtitles_and_no_audio_outputs(
    no_audio_clip: Path, media_settings: Settings, whisper_dir: str
) -> None:
    settings = replace(media_settings, whisper_model=whisper_dir)
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    result = run_processing(
        VID, into_inbox(settings, no_audio_clip), settings, store, lambda p: None
    )
    assert result["media"]["audioCodec"] is None and result["media"]["hasAudio"] is False
    assert result["subtitles"]["status"] == "completed" and result["subtitles"]["wordCount"] == 0
    assert result["analysis"]["silences"] == [] and result["analysis"]["loudness"] is None
    [fmt] = result["transcoding"]["formats"]
    assert (fmt["quality"], fmt["width"], fmt["height"]) == ("240p", 320, 240)
    with av.open(str(media_path(store, fmt["url"]))) as c:
        assert len(c.streams.audio) == 0
    master = media_path(store, result["transcoding"]["hls"]["masterUrl"]).read_text()
    assert 'CODECS="avc1.640028"' in master


# --- ladder shapes -------------------------------------------------------------------------------


def test_360p_source_gets_one_360p_rendition(small_clip: Path, ffmpeg: str, tmp_path: Path) -> None:
    work = work_dir_with(small_clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    out = transcode.transcode(work, info, exe=ffmpeg, timeout=60)
    assert [(r.quality, r.width, r.height) for r in out.renditions] == [("360p", 640, 360)]


def test_portrait_source_keeps_orientation(
    portrait_clip: Path, ffmpeg: str, tmp_path: Path
) -> None:
    work = work_dir_with(portrait_clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert (info.width, info.height, info.has_audio) == (720, 1280, False)
    out = transcode.transcode(work, info, exe=ffmpeg, timeout=120)
    assert [(r.quality, r.width, r.height) for r in out.renditions] == [
        ("720p", 720, 1280), ("480p", 480, 854),
    ]  # fmt: skip
    frame = decode_first_frame(work / "video_480p.mp4")
    assert (frame.width, frame.height) == (480, 854)


def test_rotated_source_is_probed_and_encoded_upright(
    rotated_clip: Path, ffmpeg: str, tmp_path: Path
) -> None:
    work = work_dir_with(rotated_clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert info.rotation in (90, 270)
    assert (info.coded_width, info.coded_height) == (640, 360)
    assert (info.width, info.height) == (360, 640)
    out = transcode.transcode(work, info, exe=ffmpeg, timeout=60)
    [r] = out.renditions
    assert (r.quality, r.width, r.height) == ("360p", 360, 640)
    frame = decode_first_frame(work / r.name)
    assert (frame.width, frame.height) == (360, 640)
    # Vision frames are turned the same way ffmpeg turns the video.
    [(_, img)] = analysis.grab_frames(work / "source", info, [0.5], 640, exe=ffmpeg)
    assert img.shape[:2] == (640, 360)
    upright = cv2.cvtColor(decode_first_frame(work / r.name).to_ndarray(format="bgr24"),
                           cv2.COLOR_BGR2GRAY)  # fmt: skip
    [(_, first)] = analysis.grab_frames(work / "source", info, [0.0], 640, exe=ffmpeg)
    diff = cv2.absdiff(cv2.cvtColor(first, cv2.COLOR_BGR2GRAY), upright)
    assert diff.mean() < 20  # same picture, same orientation (a wrong turn differs wildly)


# --- thumbnails and vision -----------------------------------------------------------------------


def test_poster_skips_black_frames(black_start_clip: Path, ffmpeg: str, tmp_path: Path) -> None:
    work = work_dir_with(black_start_clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    poster = thumbnails.extract_poster(work, info, exe=ffmpeg, timeout=30)
    assert poster.black is False and poster.capture_time >= 1.6  # 10/20/30% are black
    img = cv2.imread(str(work / poster.name))
    assert img is not None
    assert img.shape[:2] == (180, 320) and img.mean() > 40
    assert not (work / ".poster.gray").exists()


def test_analysis_riding_in_the_ladder_equals_the_stand_alone_pass(
    scenes_clip: Path, ffmpeg: str, tmp_path: Path
) -> None:
    work = work_dir_with(scenes_clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    plan = thumbnails.plan_storyboard(info)
    alone = reference.analyse_signals(work, info, exe=ffmpeg, timeout=60, storyboard=plan)
    sprite_alone = cv2.imread(str(work / thumbnails.STORYBOARD_NAME))
    (work / thumbnails.STORYBOARD_NAME).unlink()
    ladder = transcode.transcode(
        work, info, exe=ffmpeg, timeout=120, tap=analysis.SignalTap(info, plan)
    )
    assert ladder.signals is not None and ladder.signals.storyboard_written
    # Scenes, cuts, black, silences and loudness: the same numbers from one decode instead of two.
    assert ladder.signals == alone and len(alone.scenes) == 3 and alone.silences
    sprite = cv2.imread(str(work / thumbnails.STORYBOARD_NAME))
    assert sprite is not None and sprite_alone is not None and sprite.shape == sprite_alone.shape
    assert float(cv2.absdiff(sprite, sprite_alone).mean()) < 1.0
    # Every rendition still carries the (once-encoded) audio.
    for r in ladder.renditions:
        assert r.audio_codec == "aac"


def _packets_md5(ffmpeg: str, path: Path, stream: str) -> str:
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", f"0:{stream}",
           "-c", "copy", "-f", "md5", "-"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def test_one_output_ladder_shares_one_audio_encode_and_matches_separate_encodes(
    scenes_clip: Path, ffmpeg: str, tmp_path: Path
) -> None:
    work = work_dir_with(scenes_clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    ladder = transcode.transcode(work, info, exe=ffmpeg, timeout=120)
    assert [r.quality for r in ladder.renditions] == ["720p", "480p"]
    audio = {_packets_md5(ffmpeg, work / r.name, "a") for r in ladder.renditions}
    assert len(audio) == 1  # one AAC encode, shared by every rendition
    for rung in transcode.plan_ladder(info.width, info.height):
        alone = tmp_path / f"alone-{rung.quality}"
        alone.mkdir()
        (alone / "source").symlink_to(work / "source")
        args = transcode.build_transcode_args(info, [rung])  # this rung by itself
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args], cwd=alone,
                       check=True)  # fmt: skip
        # The audio bit for bit; the video is the same encode (x264's rate control under a
        # maxrate cap is not bit-reproducible between runs, even of one command, so compare
        # pictures): same frames, PSNR far above what a different scale or cap would give.
        assert audio == {_packets_md5(ffmpeg, alone / rung.mp4_name, "a")}
        cmd = [ffmpeg, "-hide_banner", "-i", str(work / rung.mp4_name),
               "-i", str(alone / rung.mp4_name), "-filter_complex", "[0:v][1:v]psnr",
               "-f", "null", "-"]  # fmt: skip
        log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
        average = float(log.rsplit("average:", 1)[1].split()[0])
        assert average > 40, (rung.quality, average)


def test_faces_and_text_are_found_on_scene_keyframes(vision_clip: Path, ffmpeg: str,
                                                     tmp_path: Path) -> None:  # fmt: skip
    work = work_dir_with(vision_clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    ladder = transcode.transcode(work, info, exe=ffmpeg, timeout=120, tap=analysis.SignalTap(info))
    signals = ladder.signals
    assert signals is not None
    assert [s["start"] for s in signals.scenes] == [0.0, pytest.approx(1.5, abs=0.1)]
    # As the pipeline does it: the frames come from the top rendition, read as what it is.
    top = ladder.renditions[0]
    found = analysis.analyse_vision(work / top.name, top.as_source(info), signals.scenes)
    [face_hit] = found["faces"]
    assert face_hit["time"] < 1.5 and len(face_hit["faces"]) == 1
    box = face_hit["faces"][0]
    assert 0.35 < box["x"] + box["width"] / 2 < 0.65 and 0 < box["confidence"] <= 1
    [text_hit] = found["text"]
    assert text_hit["time"] > 1.5
    words = " ".join(line["text"] for line in text_hit["lines"]).upper()
    assert "HELLO" in words and "WORLD" in words
    assert all(0 < line["confidence"] <= 1 for line in text_hit["lines"])


# --- hostile and broken inputs -------------------------------------------------------------------


def _fails_with(settings: Settings, url: str, tmp_path: Path) -> MediaError:
    work_root = tmp_path / "work-root"
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    with pytest.raises(MediaError) as err:
        run_processing(VID, url, settings, store, lambda p: None, work_root=work_root)
    assert list(work_root.iterdir()) == []  # temp files removed on failure too
    assert store.list_runs(VID) == []  # nothing half-published
    assert err.value.message and "/" not in err.value.message  # no host paths leak
    return err.value


def _inbox_file(settings: Settings, name: str, data: bytes) -> str:
    path = settings.source_roots[0] / name
    path.write_bytes(data)
    return path.as_uri()


def test_non_video_file_fails_with_not_a_video(media_settings: Settings, tmp_path: Path) -> None:
    url = _inbox_file(media_settings, "notes.mp4", b"just some text, not a video\n" * 100)
    assert _fails_with(media_settings, url, tmp_path).code == "NotAVideo"


def test_still_image_is_not_a_video(media_settings: Settings, tmp_path: Path) -> None:
    import numpy as np

    _, jpg = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    url = _inbox_file(media_settings, "photo.jpg", jpg.tobytes())
    assert _fails_with(media_settings, url, tmp_path).code == "NotAVideo"


def test_audio_only_file_has_no_video_stream(media_settings: Settings, tmp_path: Path) -> None:
    speech = Path(__file__).parent / "fixtures" / "speech_en.opus"
    url = into_inbox(media_settings, speech)
    assert _fails_with(media_settings, url, tmp_path).code == "NoVideoStream"


def test_truncated_file_fails_its_own_video(
    scenes_clip: Path, media_settings: Settings, tmp_path: Path
) -> None:
    data = scenes_clip.read_bytes()
    url = _inbox_file(media_settings, "cut.mp4", data[: len(data) // 3])  # moov is at the end
    assert _fails_with(media_settings, url, tmp_path).code in ("NotAVideo", "Unreadable")


def test_corrupt_stream_fails_its_own_video(media_settings: Settings, tmp_path: Path,
                                            make_media: Callable[..., Path]) -> None:  # fmt: skip
    # A valid container whose every video packet is garbage: opens, but no picture decodes.
    clip = make_media(
        "garbage.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1",
        "-c:v", "libx264", "-preset", "ultrafast", "-bsf:v", "noise=amount=1",
    )  # fmt: skip
    url = into_inbox(media_settings, clip)
    assert _fails_with(media_settings, url, tmp_path).code in ("Unreadable", "TranscodeFailed")


def test_too_long_and_too_large_sources_are_refused(
    tiny_clip: Path, media_settings: Settings, tmp_path: Path
) -> None:
    url = into_inbox(media_settings, tiny_clip)
    err = _fails_with(replace(media_settings, max_duration_seconds=1.0), url, tmp_path)
    assert err.code == "TooLong"
    err = _fails_with(replace(media_settings, max_source_bytes=1000), url, tmp_path)
    assert err.code == "SourceTooLarge"


def test_path_outside_roots_is_refused_before_any_work(
    tiny_clip: Path, media_settings: Settings, tmp_path: Path
) -> None:
    url = f"file://{media_settings.source_roots[0]}/../{tiny_clip.name}"
    assert _fails_with(media_settings, url, tmp_path).code == "SourceOutsideRoots"


def test_ffmpeg_timeout_kills_the_process(ffmpeg: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(MediaError) as err:
        run_ffmpeg(["-re", "-f", "lavfi", "-i", "testsrc2=d=30", "-f", "null", "-"],
                   exe=ffmpeg, timeout=1.0, cwd=tmp_path)  # fmt: skip
    assert err.value.code == "Timeout" and time.monotonic() - started < 10


def test_subtitle_documents_are_written(tmp_path: Path) -> None:
    t = subtitles.Transcript([subtitles.Cue(0.5, 1.0, "Hi")], "en", 0.99)
    names = ("subtitles.vtt", "subtitles.srt", "transcript.json")
    assert subtitles.write_subtitles(tmp_path, t) == names
    assert (tmp_path / "subtitles.vtt").read_text().startswith("WEBVTT")


@pytest.mark.slow
def test_subtitles_follow_the_default_audio_track(
    make_media: Any, ffmpeg: str, media_settings: Settings, whisper_dir: str, tmp_path: Path
) -> None:
    """Two audio tracks, a tone first and speech second marked default: the subtitles are the
    speech's, as the renditions carry that track."""
    from chalicelib.media import probe, subtitles

    clip = make_media(
        "two-tracks.mkv",
        "-f", "lavfi", "-i", "color=c=darkblue:s=160x90:r=10",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=6.5",
        "-i", str(FIXTURES / "speech_en.opus"),
        "-map", "0:v", "-map", "1:a", "-map", "2:a", "-shortest",
        "-disposition:a:0", "0", "-disposition:a:1", "default",
        "-c:v", "libx264", "-c:a", "aac",
    )  # fmt: skip
    info = probe.probe(clip, max_duration=60, exe=ffmpeg)
    assert info.audio_track is not None and info.audio_track.index == 1
    work = tmp_path / "work"
    work.mkdir()
    source = work / "source"
    source.write_bytes(clip.read_bytes())
    chosen = subtitles.transcribe(source, whisper_dir, audio_index=1, exe=ffmpeg)
    assert "fox" in " ".join(c.text.lower() for c in chosen.cues)
    assert subtitles.transcribe(source, whisper_dir, audio_index=0).cues == []  # the tone
    assert sorted(p.name for p in work.iterdir()) == ["source"]  # the extracted track is gone
